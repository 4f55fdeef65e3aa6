//! Settings only SSE endpoints use.

use std::fmt;

/// Settings only SSE endpoints use.
///
/// `Debug` prints the `ping_url` through [`redact_url`](crate::redact_url).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SseConfig {
    /// Largest line or event in bytes; more is a protocol error and a
    /// reconnect, never unbounded memory. Default 1 MiB.
    pub max_event_size: usize,
    /// Event types that only prove the stream alive (for example
    /// `heartbeat`): not delivered to subscribers. Default: none.
    pub liveness_events: Vec<String>,
    /// A URL fetched with GET every heartbeat interval to measure round trips
    /// for the monitor (`http://` or `https://`; user info in it becomes the
    /// ping requests' `Authorization: Basic` header). Default: none.
    pub ping_url: Option<String>,
    /// Redirects followed per attempt. Default 10.
    pub max_redirects: u8,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self {
            max_event_size: crate::sse::DEFAULT_MAX_EVENT_SIZE,
            liveness_events: Vec::new(),
            ping_url: None,
            max_redirects: 10,
        }
    }
}

impl fmt::Debug for SseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseConfig")
            .field("max_event_size", &self.max_event_size)
            .field("liveness_events", &self.liveness_events)
            .field(
                "ping_url",
                &self.ping_url.as_deref().map(crate::redact::redact_url),
            )
            .field("max_redirects", &self.max_redirects)
            .finish()
    }
}
