//! Server-Sent Events: the event type and the spec-conformant incremental
//! parser (WHATWG HTML, "Server-sent events", event stream interpretation).
//!
//! An SSE endpoint ([`EndpointConfig::sse`](crate::EndpointConfig::sse))
//! sends `GET` with `Accept: text/event-stream` and `Cache-Control:
//! no-cache`, plus `Last-Event-ID` on reconnects once an id is known.
//! Redirects are followed and later attempts go to the final URL. A `retry:`
//! field sets the endpoint's reconnection delay floor (backoff still applies
//! above it). 204 closes the endpoint for good; 5xx and 429 retry after any
//! `Retry-After`; 401/403 are authentication failures; other 4xx and a
//! content type other than `text/event-stream` fail the endpoint. Any bytes,
//! comments included, prove the stream alive; silence for the heartbeat
//! timeout restarts it.

mod parser;

use bytestring::ByteString;

pub use self::parser::{SseParser, DEFAULT_MAX_EVENT_SIZE};

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type (`event:` field); `"message"` when none was given.
    pub event: ByteString,
    /// The data lines joined with LF.
    pub data: ByteString,
    /// The last event id in force when the event was dispatched, if any.
    pub id: Option<ByteString>,
}
