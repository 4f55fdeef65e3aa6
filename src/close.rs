//! WebSocket close-code policy (as data the user can override) and the RFC 6455
//! limits awc leaves to the caller.

use std::collections::BTreeMap;

/// Largest close reason, in bytes (RFC 6455 §5.5: 125-byte control payload
/// minus the 2-byte code).
pub const MAX_CLOSE_REASON_LEN: usize = 123;
/// Largest ping or pong payload, in bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD_LEN: usize = 125;

/// What an endpoint does when the server closes the connection with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseAction {
    /// Reconnect at once if the connection had been stable, else back off.
    Reconnect,
    /// Reconnect after the backoff delay.
    Backoff,
    /// A protocol fault: reconnect after a long delay, a bounded number of
    /// times in a row, and report the fault.
    ProtocolFault,
    /// Do not reconnect: the endpoint goes to Failed.
    Stop,
}

/// Maps close codes to [`CloseAction`]s; defaults follow RFC 6455 §7.4.
///
/// | codes | default action |
/// |---|---|
/// | 1000 normal, 1001 going away | `Reconnect` |
/// | 1005/1006 (no code, no close frame), 1011, 1012, 1013, 1014 | `Backoff` (1013 also waits at least `try_again_later`) |
/// | 1002, 1003, 1007, 1009, 1010 | `ProtocolFault` |
/// | 1008 policy violation | `Stop` (an authentication or policy refusal) |
/// | 4000–4999 | the application's: `Backoff` unless overridden |
/// | anything else | `Backoff` |
///
/// ```
/// use actix_tether::{ClosePolicy, CloseAction};
/// let policy = ClosePolicy::default().with(4001, CloseAction::Stop);
/// assert_eq!(policy.action(Some(4001)), CloseAction::Stop);
/// assert_eq!(policy.action(Some(1001)), CloseAction::Reconnect);
/// assert_eq!(policy.action(Some(1008)), CloseAction::Stop);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ClosePolicy {
    overrides: BTreeMap<u16, CloseAction>,
}

impl ClosePolicy {
    /// Overrides the action for one close code.
    pub fn with(mut self, code: u16, action: CloseAction) -> Self {
        self.overrides.insert(code, action);
        self
    }

    /// The action for a close code; `None` means the close frame had no code.
    pub fn action(&self, code: Option<u16>) -> CloseAction {
        let code = code.unwrap_or(1005);
        if let Some(action) = self.overrides.get(&code) {
            return *action;
        }
        match code {
            1000 | 1001 => CloseAction::Reconnect,
            1002 | 1003 | 1007 | 1009 | 1010 => CloseAction::ProtocolFault,
            1008 => CloseAction::Stop,
            _ => CloseAction::Backoff,
        }
    }
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
            assert_eq!(p.action(Some(code)), CloseAction::Reconnect);
        }
        for code in [1006, 1011, 1012, 1013, 1014, 4000, 4999, 1015] {
            assert_eq!(p.action(Some(code)), CloseAction::Backoff, "{code}");
        }
        for code in [1002, 1003, 1007, 1009, 1010] {
            assert_eq!(p.action(Some(code)), CloseAction::ProtocolFault, "{code}");
        }
        assert_eq!(p.action(Some(1008)), CloseAction::Stop);
        assert_eq!(p.action(None), CloseAction::Backoff);
    }

    #[test]
    fn overrides_win_and_deserialize_from_json() {
        let p: ClosePolicy = serde_json::from_str(r#"{"4001":"stop","1000":"backoff"}"#).unwrap();
        assert_eq!(p.action(Some(4001)), CloseAction::Stop);
        assert_eq!(p.action(Some(1000)), CloseAction::Backoff);
        assert_eq!(p.action(Some(4002)), CloseAction::Backoff);
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
