//! Where a live connection is, as one value, and the pure rules that
//! follow from it: what may be written, what is due when, and how a close
//! (ours or the peer's) moves it on. Time is passed in.

use std::time::{Duration, Instant};

use crate::{
    close::{close_category, NO_STATUS},
    duration::deadline_after,
    transport::PeerClose,
    Error,
};

/// Where a live connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the authentication verdict until `deadline`: only
    /// priority messages go out.
    Authenticating { deadline: Instant },
    /// Data flows.
    Ready,
    /// We close: everything accepted goes out first (when data was
    /// flowing), then our close; we wait for the peer's answer until
    /// `deadline`.
    ClosingByUs {
        close_sent: bool,
        was_ready: bool,
        deadline: Instant,
    },
    /// The peer closed with this; our answer goes out and the socket
    /// finishes, or `deadline` passes. The error is boxed: inline it would
    /// make up most of the phase, which lies among the fields every pass
    /// of a live connection reads.
    ClosedByPeer {
        error: Box<Error>,
        deadline: Instant,
    },
}

/// A deadline of the phase that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// No authentication verdict in time.
    Auth,
    /// The peer did not answer our close in time.
    OurClose,
    /// The socket did not finish after the peer's close.
    PeerClose,
}

/// What the peer's close means in the current phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterPeerClose {
    /// It answers our close: the connection is done.
    Done,
    /// Already closing by the peer: nothing new.
    Ignored,
    /// The connection now ends with the peer's reason.
    Closing,
}

impl Phase {
    /// Whether new sends may go to this connection.
    pub(super) fn takes_data(&self) -> bool {
        matches!(self, Self::Ready)
    }

    /// Whether queued data is written: while ready, and while a close we
    /// started flushes what was accepted.
    pub(super) fn writes_data(&self) -> bool {
        match *self {
            Self::Ready => true,
            Self::ClosingByUs {
                close_sent,
                was_ready,
                ..
            } => was_ready && !close_sent,
            Self::Authenticating { .. } | Self::ClosedByPeer { .. } => false,
        }
    }

    /// Whether priority messages (authentication, on-connect, application
    /// pings) are written: until a close is under way.
    pub(super) fn writes_priority(&self) -> bool {
        match *self {
            Self::Authenticating { .. } | Self::Ready => true,
            Self::ClosingByUs { close_sent, .. } => !close_sent,
            Self::ClosedByPeer { .. } => false,
        }
    }

    /// Whether the connection is ending (our close or the peer's).
    pub(super) fn is_ending(&self) -> bool {
        matches!(self, Self::ClosingByUs { .. } | Self::ClosedByPeer { .. })
    }

    /// Whether the write side shuts down once control frames are out: after
    /// the peer's close or after our close, on a protocol without a close
    /// handshake.
    pub(super) fn shuts_down(&self, close_handshake: bool) -> bool {
        match *self {
            // With a close handshake the peer closes the socket first once
            // it has our answer (RFC 6455 §7.1.1); the phase's deadline
            // bounds the wait.
            Self::ClosedByPeer { .. } => !close_handshake,
            Self::ClosingByUs { close_sent, .. } => close_sent && !close_handshake,
            Self::Authenticating { .. } | Self::Ready => false,
        }
    }

    /// The phase's own deadline (authentication or close), if any.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Ready => None,
            Self::Authenticating { deadline }
            | Self::ClosingByUs { deadline, .. }
            | Self::ClosedByPeer { deadline, .. } => Some(*deadline),
        }
    }

    /// Which deadline passed at `now`, if any.
    pub(super) fn expired(&self, now: Instant) -> Option<Expired> {
        match self {
            Self::Authenticating { deadline } if now >= *deadline => Some(Expired::Auth),
            Self::ClosingByUs { deadline, .. } if now >= *deadline => Some(Expired::OurClose),
            Self::ClosedByPeer { deadline, .. } if now >= *deadline => Some(Expired::PeerClose),
            _ => None,
        }
    }

    /// Starts our close at `now`, bounded by `close_timeout`.
    pub(super) fn begin_close(&mut self, now: Instant, close_timeout: Duration) {
        *self = Self::ClosingByUs {
            close_sent: false,
            was_ready: self.takes_data(),
            deadline: deadline_after(now, close_timeout),
        };
    }

    /// Marks our close as sent once `drained` says everything accepted is
    /// written (or nothing could be, before authentication). True when it
    /// happens now. `drained` is asked only while closing.
    pub(super) fn send_close_when(&mut self, drained: impl FnOnce() -> bool) -> bool {
        let Self::ClosingByUs {
            close_sent,
            was_ready,
            ..
        } = self
        else {
            return false;
        };
        if *close_sent || (*was_ready && !drained()) {
            return false;
        }
        *close_sent = true;
        true
    }

    /// The peer's close arrived at `now`.
    pub(super) fn peer_closed(
        &mut self,
        close: &PeerClose,
        now: Instant,
        close_timeout: Duration,
    ) -> AfterPeerClose {
        match self {
            Self::ClosingByUs { .. } => return AfterPeerClose::Done,
            Self::ClosedByPeer { .. } => return AfterPeerClose::Ignored,
            Self::Authenticating { .. } | Self::Ready => {}
        }
        let code = close.code.unwrap_or(NO_STATUS);
        let detail = match (code, close.reason.as_str()) {
            (NO_STATUS, _) => "peer closed without a code".to_owned(),
            (_, "") => format!("peer closed with code {code}"),
            (_, reason) => format!("peer closed with code {code}: {reason}"),
        };
        *self = Self::ClosedByPeer {
            error: Box::new(Error::new(close_category(code), detail).with_close_code(Some(code))),
            deadline: deadline_after(now, close_timeout),
        };
        AfterPeerClose::Closing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCategory;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn close(code: Option<u16>, reason: &str) -> PeerClose {
        PeerClose {
            code,
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn authentication_holds_data_until_ready_and_expires() {
        let t = Instant::now();
        let phase = Phase::Authenticating {
            deadline: t + MS(100),
        };
        assert!(!phase.takes_data() && !phase.writes_data());
        assert!(phase.writes_priority());
        assert_eq!(phase.expired(t + MS(99)), None);
        assert_eq!(phase.expired(t + MS(100)), Some(Expired::Auth));
        assert!(Phase::Ready.takes_data() && Phase::Ready.writes_data());
        assert_eq!(Phase::Ready.deadline(), None);
    }

    #[test]
    fn our_close_flushes_accepted_data_first_then_sends_once() {
        let t = Instant::now();
        let mut phase = Phase::Ready;
        phase.begin_close(t, MS(500));
        assert!(!phase.takes_data(), "no new sends while closing");
        assert!(phase.writes_data(), "what was accepted still goes out");
        assert!(!phase.send_close_when(|| false), "data still queued");
        assert!(phase.send_close_when(|| true));
        assert!(!phase.send_close_when(|| true), "sent once");
        assert!(!phase.writes_data() && !phase.writes_priority());
        assert!(phase.shuts_down(false) && !phase.shuts_down(true));
        assert_eq!(phase.expired(t + MS(500)), Some(Expired::OurClose));
        assert_eq!(
            phase.peer_closed(&close(Some(1000), ""), t, MS(500)),
            AfterPeerClose::Done
        );
    }

    #[test]
    fn closing_before_authentication_sends_the_close_at_once() {
        let t = Instant::now();
        let mut phase = Phase::Authenticating { deadline: t };
        phase.begin_close(t, MS(500));
        assert!(!phase.writes_data());
        assert!(phase.send_close_when(|| false), "nothing could be written");
    }

    #[test]
    fn the_peers_close_carries_its_code_category_and_reason() {
        let t = Instant::now();
        let cases = [
            (
                Some(1000),
                "bye",
                ErrorCategory::ClosedByPeer,
                1000,
                "peer closed with code 1000: bye",
            ),
            (
                Some(1008),
                "",
                ErrorCategory::Auth,
                1008,
                "peer closed with code 1008",
            ),
            (
                Some(1002),
                "",
                ErrorCategory::Protocol,
                1002,
                "peer closed with code 1002",
            ),
            (
                None,
                "",
                ErrorCategory::ClosedByPeer,
                1005,
                "peer closed without a code",
            ),
        ];
        for (code, reason, category, reported, message) in cases {
            let mut phase = Phase::Ready;
            let after = phase.peer_closed(&close(code, reason), t, MS(200));
            assert_eq!(after, AfterPeerClose::Closing);
            let Phase::ClosedByPeer { error, deadline } = &phase else {
                panic!("{phase:?}")
            };
            assert_eq!(error.category(), category);
            assert_eq!(error.close_code(), Some(reported));
            assert_eq!(error.message(), message);
            assert_eq!(*deadline, t + MS(200));
            assert!(!phase.writes_data() && !phase.writes_priority());
            // The peer closes the socket first after a close handshake.
            assert!(!phase.shuts_down(true));
            assert!(phase.shuts_down(false));
            assert_eq!(
                phase.peer_closed(&close(Some(1000), ""), t, MS(200)),
                AfterPeerClose::Ignored
            );
        }
    }
}
