//! Heartbeat settings.

use std::{fmt, sync::Arc, time::Duration};

use super::{DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_MISSED};
use crate::{
    duration::{serde_duration, serde_opt_duration},
    Payload,
};

/// An application-level heartbeat, for servers that do not answer protocol
/// pings: a factory for the ping message and a matcher for the reply.
///
/// Replies the matcher accepts are consumed (not delivered to subscribers) and
/// give round-trip samples.
#[derive(Clone)]
pub struct ApplicationHeartbeat {
    /// Builds ping number `seq`, e.g. `{"type":"ping","timestamp":...}`.
    pub make_ping: Arc<dyn Fn(u64) -> Payload + Send + Sync>,
    /// Recognises the server's reply.
    pub is_reply: Arc<dyn Fn(&Payload) -> bool + Send + Sync>,
}

impl fmt::Debug for ApplicationHeartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApplicationHeartbeat { .. }")
    }
}

/// Heartbeat settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HeartbeatConfig {
    /// Time between pings. Default [`DEFAULT_HEARTBEAT_INTERVAL`] (15 s).
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Silence (no inbound traffic at all) that declares the peer dead.
    /// Default `None`: `interval x max_missed`.
    #[serde(with = "serde_opt_duration")]
    pub timeout: Option<Duration>,
    /// Consecutive unanswered pings that declare the peer dead. Default
    /// [`DEFAULT_MAX_MISSED`] (3).
    pub max_missed: u32,
    /// Optional application-level heartbeat replacing protocol pings.
    #[serde(skip)]
    pub application: Option<ApplicationHeartbeat>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            timeout: None,
            max_missed: DEFAULT_MAX_MISSED,
            application: None,
        }
    }
}

impl HeartbeatConfig {
    /// The silence after which the peer is declared dead.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| self.interval.saturating_mul(self.max_missed.max(1)))
    }
}
