//! Server-Sent Events: the event type and the spec-conformant incremental
//! parser (WHATWG HTML, "Server-sent events", event stream interpretation).

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
