//! The verdict type: what an endpoint does after a failure (retry, how
//! soon; fail; stop). [`failure`](crate::failure) decides it;
//! [`ClosePolicy`](crate::ClosePolicy) maps close codes to it.

use std::{fmt, time::Duration};

use crate::duration::serde_duration;

/// How soon a retry comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// At once when the connection had been up for `reset_after`
    /// (a server that closed cleanly and wants us back), else as `Backoff`.
    Prompt,
    /// After the backoff policy's next delay.
    Backoff,
    /// After the backoff delay, and at least the endpoint's
    /// `try_again_later` (close 1013).
    Later,
    /// A protocol fault (or, by default, a TLS failure): at least the
    /// endpoint's `protocol_fault_delay`, and after `max_protocol_faults`
    /// faults in a row (protocol and TLS together) the endpoint fails.
    Fault,
}

/// What an endpoint does after a failure.
///
/// [`ClosePolicy`](crate::ClosePolicy) maps close codes to verdicts; the
/// same type decides every other failure. Without a close code, the
/// error's [`ErrorCategory`](crate::ErrorCategory) decides:
///
/// | category | default verdict | configured by |
/// |---|---|---|
/// | `Network`, `Timeout`, `Heartbeat`, `Server`, `ClosedByPeer` | retry, [`Urgency::Backoff`] (at least a server's `Retry-After`) | the backoff policy |
/// | `Protocol` | retry, [`Urgency::Fault`] (at least `protocol_fault_delay`, fails after `max_protocol_faults` in a row) | `protocol_fault_delay`, `max_protocol_faults` |
/// | `Tls` | retry, [`Urgency::Fault`], at least 60 s (counted with protocol faults) | `on_tls_failure` (any verdict) |
/// | `Auth` | [`Verdict::Fail`] | `on_auth_failure` |
/// | `Rejected`, `Exhausted`, `Endpoint`, `Config`, `Shutdown`, `Overflow` | [`Verdict::Fail`] | |
/// | `ClosedByPeer` after SSE's 204 | [`Verdict::Stop`] | |
///
/// The endpoint's [`ReconnectMode`](crate::ReconnectMode) applies last.
///
/// ```
/// use std::time::Duration;
/// use actix_tether::{Urgency, Verdict};
/// let wait = Verdict::Retry { urgency: Urgency::Backoff, min_wait: Duration::from_secs(60) };
/// assert!(wait.is_retry());
/// assert!(!Verdict::Fail.is_retry());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Reconnect with this urgency, waiting at least `min_wait` (a server's
    /// `Retry-After`, `try_again_later`, `protocol_fault_delay`).
    Retry {
        /// How soon.
        urgency: Urgency,
        /// The shortest wait before the next attempt.
        min_wait: Duration,
    },
    /// Give up: the endpoint goes to Failed and stays registered until a
    /// forced reconnect revives it.
    Fail,
    /// Done: the endpoint goes to Closed for good (SSE's 204, or a clean
    /// close under [`ReconnectMode::OnFailure`](crate::ReconnectMode::OnFailure) or [`ReconnectMode::Never`](crate::ReconnectMode::Never)).
    Stop,
}

impl Verdict {
    /// A retry with `urgency` and no minimum wait.
    pub const fn retry(urgency: Urgency) -> Self {
        Self::Retry {
            urgency,
            min_wait: Duration::ZERO,
        }
    }

    /// Whether the endpoint reconnects.
    pub const fn is_retry(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// Raises the minimum wait of a retry to at least `wait`.
    pub(crate) fn at_least(self, wait: Option<Duration>) -> Self {
        match (self, wait) {
            (Self::Retry { urgency, min_wait }, Some(wait)) => Self::Retry {
                urgency,
                min_wait: min_wait.max(wait),
            },
            (other, _) => other,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry { urgency, min_wait } if min_wait.is_zero() => {
                write!(f, "retry ({urgency:?})")
            }
            Self::Retry { urgency, min_wait } => {
                write!(f, "retry ({urgency:?}, at least {min_wait:?})")
            }
            Self::Fail => f.write_str("fail"),
            Self::Stop => f.write_str("stop"),
        }
    }
}

/// Serde form of a verdict, for close policies in config files:
/// `"fail"`, `"stop"`, an urgency (`"backoff"`: a retry without a minimum
/// wait), or `{"retry": "backoff", "min_wait": "10s"}`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum VerdictForm {
    Word(Word),
    Retry {
        retry: Urgency,
        #[serde(default, with = "serde_duration")]
        min_wait: Duration,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Word {
    Fail,
    Stop,
    Prompt,
    Backoff,
    Later,
    Fault,
}

impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let form = match *self {
            Self::Fail => VerdictForm::Word(Word::Fail),
            Self::Stop => VerdictForm::Word(Word::Stop),
            Self::Retry { urgency, min_wait } => VerdictForm::Retry {
                retry: urgency,
                min_wait,
            },
        };
        form.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match VerdictForm::deserialize(deserializer)? {
            VerdictForm::Word(Word::Fail) => Self::Fail,
            VerdictForm::Word(Word::Stop) => Self::Stop,
            VerdictForm::Word(Word::Prompt) => Self::retry(Urgency::Prompt),
            VerdictForm::Word(Word::Backoff) => Self::retry(Urgency::Backoff),
            VerdictForm::Word(Word::Later) => Self::retry(Urgency::Later),
            VerdictForm::Word(Word::Fault) => Self::retry(Urgency::Fault),
            VerdictForm::Retry { retry, min_wait } => Self::Retry {
                urgency: retry,
                min_wait,
            },
        })
    }
}
