//! Server-Sent Events: the event type and the spec-conformant incremental
//! parser (WHATWG HTML, "Server-sent events", event stream interpretation).
//!
//! An SSE endpoint ([`EndpointConfig::sse`](crate::EndpointConfig::sse))
//! sends `GET` (or the method and body it was given) with `Accept:
//! text/event-stream` and `Cache-Control: no-cache`, plus `Last-Event-ID`
//! on reconnects once an id is known (and on the first request, if the
//! endpoint was given one with
//! [`last_event_id`](crate::EndpointBuilder::last_event_id)).
//! Redirects are followed (a relative `Location` resolved as RFC 3986
//! says; other schemes than `http` and `https` refused); later attempts
//! start where the permanent ones (301, 308) at the start of the chain
//! led, and a temporary one (302, 303, 307) counts for its attempt only,
//! as RFC 9110 says. A `retry:` field sets the endpoint's reconnection delay floor (backoff still applies
//! above it). 204 closes the endpoint for good; 5xx and 429 retry after any
//! `Retry-After`; 401/403 are authentication failures; other 4xx and a
//! content type other than `text/event-stream` fail the endpoint. Any bytes,
//! comments included, prove the stream alive; silence for the heartbeat
//! timeout restarts it.
//!
//! Every HTTP/1 response framing is read, over `http://` and `https://`:
//! chunked, `Content-Length`, and a body delimited by the server closing
//! the connection (HTTP/1.1 without a length, HTTP/1.0); interim 1xx
//! responses are skipped. A response that is not HTTP/1.x, a head over
//! [`MAX_RESPONSE_HEAD_SIZE`](crate::config::MAX_RESPONSE_HEAD_SIZE), an
//! invalid `Content-Length` or broken chunked coding fails the attempt
//! with a [`Protocol`](crate::ErrorCategory::Protocol) error.

mod parser;

use std::{fmt, sync::Arc};

use bytestring::ByteString;

pub(crate) use self::parser::ItemSink;
pub use self::parser::{SseParser, DEFAULT_MAX_EVENT_SIZE};

/// What the parser hands over: an event, or a comment line when asked for
/// one ([`SseParser::keep_comments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// A comment line's text: what follows the colon, less one leading
    /// space (`: keep-alive` gives `keep-alive`).
    Comment(ByteString),
}

/// One dispatched SSE event.
///
/// The data is the stream's own bytes (no copy for a one-line event); the
/// type and id are shared with neighbouring events that carry the same ones,
/// and an event of the default type without an id carries neither, so a
/// stream of plain `data:` events allocates nothing per event.
///
/// ```
/// use actix_tether::sse::SseEvent;
/// let event = SseEvent::new("price", "42", Some("7"));
/// assert_eq!(event.event(), "price");
/// assert_eq!(event.data(), "42");
/// assert_eq!(event.id().map(|id| &**id), Some("7"));
/// ```
#[derive(Clone)]
pub struct SseEvent {
    data: ByteString,
    /// `None` for the default type without an id.
    meta: Option<Arc<EventMeta>>,
}

/// The type of an event without an `event:` field.
pub(crate) static DEFAULT_TYPE: ByteString = ByteString::from_static("message");

/// What consecutive events usually share.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventMeta {
    event: ByteString,
    id: Option<ByteString>,
}

impl EventMeta {
    /// Shared type and id; `None` for the default type without an id.
    pub(crate) fn new(event: ByteString, id: Option<ByteString>) -> Option<Arc<Self>> {
        (event != DEFAULT_TYPE || id.is_some()).then(|| Arc::new(Self { event, id }))
    }

    /// The event type.
    pub(crate) fn event(&self) -> &ByteString {
        &self.event
    }

    /// The last event id in force, if any.
    pub(crate) fn id(&self) -> Option<&ByteString> {
        self.id.as_ref()
    }

    /// Whether `meta` (as made by [`new`](Self::new)) stands for this type and id.
    pub(crate) fn matches(meta: Option<&Self>, event: &[u8], id: Option<&ByteString>) -> bool {
        match meta {
            None => event == DEFAULT_TYPE.as_bytes() && id.is_none(),
            Some(meta) => meta.event.as_bytes() == event && meta.id.as_ref() == id,
        }
    }
}

impl SseEvent {
    /// An event of type `event` (`"message"` is the spec's default) with its
    /// data and the last event id in force.
    pub fn new(
        event: impl Into<ByteString>,
        data: impl Into<ByteString>,
        id: Option<&str>,
    ) -> Self {
        Self::with_meta(
            data.into(),
            EventMeta::new(event.into(), id.map(Into::into)),
        )
    }

    pub(crate) fn with_meta(data: ByteString, meta: Option<Arc<EventMeta>>) -> Self {
        Self { data, meta }
    }

    /// The data and the shared type and id (`None`: the default type
    /// without an id).
    pub(crate) fn parts(&self) -> (&ByteString, Option<&Arc<EventMeta>>) {
        (&self.data, self.meta.as_ref())
    }

    /// The event type (`event:` field); `"message"` when none was given.
    pub fn event(&self) -> &ByteString {
        self.meta.as_ref().map_or(&DEFAULT_TYPE, |meta| &meta.event)
    }

    /// The data lines joined with LF.
    pub fn data(&self) -> &ByteString {
        &self.data
    }

    /// The last event id in force when the event was dispatched, if any.
    pub fn id(&self) -> Option<&ByteString> {
        self.meta.as_ref().and_then(|meta| meta.id.as_ref())
    }
}

impl PartialEq for SseEvent {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data && self.event() == other.event() && self.id() == other.id()
    }
}

impl Eq for SseEvent {}

impl fmt::Debug for SseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseEvent")
            .field("event", self.event())
            .field("data", self.data())
            .field("id", &self.id())
            .finish()
    }
}
