//! WebSocket close codes: what each one leads to (as data the user can
//! override), the category it reports, and the RFC 6455 limits awc leaves
//! to the caller.

use std::collections::BTreeMap;

use crate::{
    verdict::{Urgency, Verdict},
    ErrorCategory,
};

/// Largest close reason, in bytes (RFC 6455 §5.5: 125-byte control payload
/// minus the 2-byte code).
pub const MAX_CLOSE_REASON_LEN: usize = 123;
/// Largest ping or pong payload, in bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD_LEN: usize = 125;

/// The code a close frame without one stands for (RFC 6455 §7.4.1).
pub(crate) const NO_STATUS: u16 = 1005;

/// Maps close codes to [`Verdict`]s; defaults follow RFC 6455 §7.4.
///
/// The same table judges a close the peer sends and a failure we detect
/// that has a close code (1002 bad frame, 1006 dropped without a close
/// frame, 1007 invalid UTF-8, 1009 too big).
///
/// | codes | default verdict |
/// |---|---|
/// | 1000 normal, 1001 going away | retry, [`Urgency::Prompt`] |
/// | 1005/1006 (no code, no close frame), 1011, 1012, 1014 | retry, [`Urgency::Backoff`] |
/// | 1013 try again later | retry, [`Urgency::Later`] (at least `try_again_later`) |
/// | 1002, 1003, 1007, 1009, 1010 | retry, [`Urgency::Fault`] (a protocol fault) |
/// | 1008 policy violation | [`Verdict::Fail`] (an authentication or policy refusal) |
/// | 4000–4999 | the application's: backoff unless overridden |
/// | anything else | retry, [`Urgency::Backoff`] |
///
/// The endpoint's reconnect mode applies after this table (see
/// [`ReconnectMode`](crate::ReconnectMode)).
///
/// ```
/// use actix_tether::{ClosePolicy, Urgency, Verdict};
/// let policy = ClosePolicy::default().with(4001, Verdict::Fail);
/// assert_eq!(policy.verdict(4001), Verdict::Fail);
/// assert_eq!(policy.verdict(1001), Verdict::retry(Urgency::Prompt));
/// assert_eq!(policy.verdict(1008), Verdict::Fail);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ClosePolicy {
    overrides: BTreeMap<u16, Verdict>,
}

impl ClosePolicy {
    /// Overrides the verdict for one close code.
    pub fn with(mut self, code: u16, verdict: Verdict) -> Self {
        self.overrides.insert(code, verdict);
        self
    }

    /// The verdict for a close code (1005 for a close frame without one).
    pub fn verdict(&self, code: u16) -> Verdict {
        if let Some(verdict) = self.overrides.get(&code) {
            return *verdict;
        }
        match code {
            1000 | 1001 => Verdict::retry(Urgency::Prompt),
            1002 | 1003 | 1007 | 1009 | 1010 => Verdict::retry(Urgency::Fault),
            1008 => Verdict::Fail,
            1013 => Verdict::retry(Urgency::Later),
            _ => Verdict::retry(Urgency::Backoff),
        }
    }
}

/// The category a close with `code` reports: 1008 is an authentication or
/// policy refusal, the protocol codes are protocol faults, the rest are
/// closes by the peer.
pub(crate) fn close_category(code: u16) -> ErrorCategory {
    match code {
        1008 => ErrorCategory::Auth,
        1002 | 1003 | 1007 | 1009 | 1010 => ErrorCategory::Protocol,
        _ => ErrorCategory::ClosedByPeer,
    }
}

/// Whether a peer may send `code` in a close frame (RFC 6455 §7.4): the
/// defined codes that are not reserved for reports (1005, 1006, 1015), the
/// IANA-registered 1012-1014, and 3000-4999 for libraries and applications.
pub(crate) fn close_code_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Cuts `reason` to at most [`MAX_CLOSE_REASON_LEN`] bytes on a UTF-8 boundary.
pub(crate) fn truncate_close_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON_LEN {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_rfc_table() {
        let p = ClosePolicy::default();
        for code in [1000, 1001] {
            assert_eq!(p.verdict(code), Verdict::retry(Urgency::Prompt));
        }
        for code in [1005, 1006, 1011, 1012, 1014, 4000, 4999, 1015] {
            assert_eq!(p.verdict(code), Verdict::retry(Urgency::Backoff), "{code}");
        }
        assert_eq!(p.verdict(1013), Verdict::retry(Urgency::Later));
        for code in [1002, 1003, 1007, 1009, 1010] {
            assert_eq!(p.verdict(code), Verdict::retry(Urgency::Fault), "{code}");
            assert_eq!(close_category(code), ErrorCategory::Protocol, "{code}");
        }
        assert_eq!(p.verdict(1008), Verdict::Fail);
        assert_eq!(close_category(1008), ErrorCategory::Auth);
        assert_eq!(close_category(1000), ErrorCategory::ClosedByPeer);
    }

    #[test]
    fn overrides_win_and_deserialize_from_json() {
        let p: ClosePolicy =
            serde_json::from_str(r#"{"4001":"fail","1000":"backoff","4002":"stop"}"#).unwrap();
        assert_eq!(p.verdict(4001), Verdict::Fail);
        assert_eq!(p.verdict(1000), Verdict::retry(Urgency::Backoff));
        assert_eq!(p.verdict(4002), Verdict::Stop);
        assert_eq!(p.verdict(4003), Verdict::retry(Urgency::Backoff));
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let short = "bye";
        assert_eq!(truncate_close_reason(short), "bye");
        let long = "é".repeat(100); // 200 bytes, 2 per char
        let cut = truncate_close_reason(&long);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
