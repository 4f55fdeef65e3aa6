//! Inbound payloads and the events that carry them to subscribers.

use bytes::Bytes;
use bytestring::ByteString;

use crate::{sse::SseEvent, EndpointId, Payloads, QueueSlot};

/// A message's content. Every variant is a reference-counted buffer: cloning
/// one for another subscriber copies no bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// A UTF-8 text message.
    Text(ByteString),
    /// A binary message.
    Binary(Bytes),
    /// A Server-Sent Event (its data and its shared type and id: cloning it
    /// copies no bytes either).
    Event(SseEvent),
    /// An SSE comment line's text (after the colon, less one leading
    /// space), only from endpoints that asked for comments
    /// ([`EndpointBuilder::comments`](crate::EndpointBuilder::comments)).
    Comment(ByteString),
}

impl Payload {
    /// A text payload.
    pub fn text(text: impl Into<ByteString>) -> Self {
        Self::Text(text.into())
    }

    /// A binary payload.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self::Binary(bytes.into())
    }

    /// The raw bytes: the text, the binary content, or an event's data.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(bytes) => bytes,
            Self::Event(event) => event.data().as_bytes(),
            Self::Comment(text) => text.as_bytes(),
        }
    }

    /// The text, when this is a text payload.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Binary(_) | Self::Event(_) | Self::Comment(_) => None,
        }
    }

    /// The comment's text, when this is an SSE comment.
    pub fn as_comment(&self) -> Option<&str> {
        match self {
            Self::Comment(text) => Some(text),
            Self::Text(_) | Self::Binary(_) | Self::Event(_) => None,
        }
    }

    /// The event, when this is a Server-Sent Event.
    pub fn as_event(&self) -> Option<&SseEvent> {
        match self {
            Self::Event(event) => Some(event),
            Self::Text(_) | Self::Binary(_) | Self::Comment(_) => None,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&'static str> for Payload {
    fn from(text: &'static str) -> Self {
        Self::Text(ByteString::from_static(text))
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Binary(bytes.into())
    }
}

/// One inbound message, for subscribers that want them one at a time.
#[derive(Debug, Clone, actix::Message)]
#[rtype(result = "()")]
pub struct MessageReceived {
    /// The endpoint that received it.
    pub endpoint: EndpointId,
    /// The connection generation that received it (see
    /// [`StatusChanged::generation`](crate::StatusChanged::generation)).
    pub generation: u64,
    /// The ownership epoch the endpoint was added with
    /// ([`AddEndpoint::epoch`](crate::AddEndpoint::epoch); a cluster node
    /// sets its owner key's revision, feature `cluster`):
    /// larger is newer, so a consumer can discard what a stale owner
    /// produced. `None` when none was given.
    pub epoch: Option<u64>,
    /// The content.
    pub payload: Payload,
    /// This message's place in the subscriber's bounded queue, released
    /// when dropped (see [`QueueSlot`]).
    pub slot: QueueSlot,
}

/// Every message that was ready at once on one connection, in order: a burst
/// costs one mailbox hop. The burst is shared between subscribers, not copied.
#[derive(Debug, Clone, actix::Message)]
#[rtype(result = "()")]
pub struct BurstReceived {
    /// The endpoint that received them.
    pub endpoint: EndpointId,
    /// The connection generation that received them.
    pub generation: u64,
    /// The ownership epoch the endpoint was added with
    /// ([`AddEndpoint::epoch`](crate::AddEndpoint::epoch); a cluster node
    /// sets its owner key's revision, feature `cluster`):
    /// larger is newer, so a consumer can discard what a stale owner
    /// produced. `None` when none was given.
    pub epoch: Option<u64>,
    /// The messages, oldest first; never empty. Shared between the
    /// burst's subscribers: handing it over copies nothing (see
    /// [`Payloads`]).
    pub payloads: Payloads,
    /// The burst's place in the subscriber's bounded queue (every message
    /// in it counts), released when dropped (see [`QueueSlot`]).
    pub slot: QueueSlot,
}

#[cfg(test)]
mod tests {
    use super::Payload;

    #[test]
    fn payload_stays_small_for_the_hot_path() {
        // An event (Bytes-sized data plus a pointer) plus the tag: moving
        // payloads stays cheap.
        assert!(
            std::mem::size_of::<Payload>() <= 48,
            "{}",
            std::mem::size_of::<Payload>()
        );
    }
}
