//! Connection states, the transition table that checks them, and the event
//! subscribers receive for every transition.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use crate::{EndpointId, Error};

/// Where an endpoint's connection is in its lifecycle.
///
/// ```text
/// Disconnected -> Connecting -> Connected [-> Authenticated]
///                    ^   |         |
///                    |   v         v
///                 Reconnecting <---+---> Closing -> Closed
///                        |         |                  ^
///                        v         +------------------+  (the peer ends it for good)
///                      Failed  (a forced reconnect revives it)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// Registered, no attempt made yet.
    Disconnected,
    /// An attempt (TCP, TLS and handshake) is under way.
    Connecting,
    /// The transport is up.
    Connected,
    /// The transport is up and an authentication handshake succeeded.
    Authenticated,
    /// The connection was lost; the next attempt waits for the backoff delay.
    Reconnecting,
    /// A close we started is under way.
    Closing,
    /// Closed for good: removed, shut down, or told by the server to stop.
    Closed,
    /// The reconnect policy gave up, or the server refused us for good. The
    /// endpoint stays registered; a forced reconnect revives it.
    Failed,
}

impl ConnectionState {
    /// Every state, in lifecycle order.
    pub const ALL: [ConnectionState; 8] = [
        Self::Disconnected,
        Self::Connecting,
        Self::Connected,
        Self::Authenticated,
        Self::Reconnecting,
        Self::Closing,
        Self::Closed,
        Self::Failed,
    ];

    /// A lowercase name for logs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Authenticated => "authenticated",
            Self::Reconnecting => "reconnecting",
            Self::Closing => "closing",
            Self::Closed => "closed",
            Self::Failed => "failed",
        }
    }

    /// Whether the transport is up (Connected or Authenticated).
    pub const fn is_up(self) -> bool {
        matches!(self, Self::Connected | Self::Authenticated)
    }

    /// Whether `self -> to` is a legal transition.
    pub const fn can_move_to(self, to: ConnectionState) -> bool {
        use ConnectionState::*;
        matches!(
            (self, to),
            (Disconnected, Connecting | Closing | Closed | Failed)
                | (
                    Connecting,
                    Connected | Reconnecting | Closing | Closed | Failed
                )
                | (
                    Connected,
                    Authenticated | Reconnecting | Closing | Closed | Failed
                )
                | (Authenticated, Reconnecting | Closing | Closed | Failed)
                | (Reconnecting, Connecting | Closing | Closed | Failed)
                | (Closing, Closed)
                | (Failed, Connecting | Closing | Closed)
        )
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sent to status subscribers on every transition of an endpoint, in order.
#[derive(Debug, Clone, actix::Message)]
#[rtype(result = "()")]
pub struct StatusChanged {
    /// The endpoint that moved.
    pub endpoint: EndpointId,
    /// The state it left.
    pub from: ConnectionState,
    /// The state it entered.
    pub to: ConnectionState,
    /// Why, when the move was caused by a failure.
    pub reason: Option<Error>,
    /// The number of consecutive failed attempts so far (0 once connected).
    pub attempt: u32,
    /// When entering Reconnecting: the wait before the next attempt.
    pub next_delay: Option<Duration>,
    /// How many connections have succeeded so far on this endpoint; messages
    /// carry the generation of the connection that received them.
    pub generation: u64,
    /// The ownership epoch the endpoint was added with
    /// ([`AddEndpoint::epoch`](crate::AddEndpoint::epoch); a cluster node
    /// sets its owner key's revision, feature `cluster`):
    /// larger is newer, so a consumer can discard what a stale owner
    /// produced. `None` when none was given.
    pub epoch: Option<u64>,
    /// Wall-clock time of the transition.
    pub at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::ConnectionState::{self, *};

    const ALL: [ConnectionState; 8] = [
        Disconnected,
        Connecting,
        Connected,
        Authenticated,
        Reconnecting,
        Closing,
        Closed,
        Failed,
    ];

    #[test]
    fn happy_path_and_reconnect_cycle_are_legal() {
        let path = [
            Disconnected,
            Connecting,
            Connected,
            Reconnecting,
            Connecting,
            Connected,
            Authenticated,
            Closing,
            Closed,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_move_to(pair[1]), "{:?}", pair);
        }
    }

    #[test]
    fn closed_is_terminal_and_no_state_loops_to_itself() {
        for to in ALL {
            assert!(!Closed.can_move_to(to), "closed -> {to}");
        }
        for s in ALL {
            assert!(!s.can_move_to(s), "{s} -> {s}");
        }
    }

    #[test]
    fn a_close_we_started_never_reconnects() {
        assert!(!Closing.can_move_to(Reconnecting));
        assert!(!Closing.can_move_to(Connecting));
    }

    #[test]
    fn failed_is_revived_only_by_a_new_attempt() {
        assert!(Failed.can_move_to(Connecting));
        assert!(!Failed.can_move_to(Connected));
        assert!(!Failed.can_move_to(Reconnecting));
    }

    #[test]
    fn up_states() {
        let up: Vec<_> = ALL.into_iter().filter(|s| s.is_up()).collect();
        assert_eq!(up, vec![Connected, Authenticated]);
    }
}
