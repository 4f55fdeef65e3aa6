//! A burst's messages borrowed one at a time, and the iterator that
//! yields them.

use std::{fmt, slice, sync::Arc};

use bytes::Bytes;
use bytestring::ByteString;

use super::{Span, Spans};
use crate::{
    sse::{EventMeta, SseEvent, DEFAULT_TYPE},
    Payload,
};

/// One message of a [`Payloads`](super::Payloads) burst, borrowed: the
/// borrowed form of [`Payload`], with the same variants.
/// [`to_payload`](Self::to_payload) makes the owned one (no bytes copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadRef<'a> {
    /// A UTF-8 text message.
    Text(&'a ByteString),
    /// A binary message.
    Binary(&'a Bytes),
    /// A Server-Sent Event.
    Event(EventRef<'a>),
    /// An SSE comment line's text (see [`Payload::Comment`]).
    Comment(&'a ByteString),
}

impl<'a> PayloadRef<'a> {
    /// The raw bytes: the text, the binary content, or an event's data.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Self::Text(text) | Self::Comment(text) => text.as_bytes(),
            Self::Binary(bytes) => bytes,
            Self::Event(event) => event.data_bytes(),
        }
    }

    /// The text, when this is a text payload.
    pub fn as_text(&self) -> Option<&'a str> {
        match *self {
            Self::Text(text) => Some(text),
            Self::Binary(_) | Self::Event(_) | Self::Comment(_) => None,
        }
    }

    /// The comment's text, when this is an SSE comment.
    pub fn as_comment(&self) -> Option<&'a str> {
        match *self {
            Self::Comment(text) => Some(text),
            Self::Text(_) | Self::Binary(_) | Self::Event(_) => None,
        }
    }

    /// The event, when this is a Server-Sent Event.
    pub fn as_event(&self) -> Option<EventRef<'a>> {
        match *self {
            Self::Event(event) => Some(event),
            Self::Text(_) | Self::Binary(_) | Self::Comment(_) => None,
        }
    }

    /// Size in bytes (as [`Payload::len`]).
    #[inline]
    pub fn len(&self) -> usize {
        match *self {
            Self::Text(text) | Self::Comment(text) => text.len(),
            Self::Binary(bytes) => bytes.len(),
            Self::Event(event) => event.len(),
        }
    }

    /// Whether the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owned payload: reference counts, no bytes copied.
    pub fn to_payload(&self) -> Payload {
        match *self {
            Self::Text(text) => Payload::Text(text.clone()),
            Self::Binary(bytes) => Payload::Binary(bytes.clone()),
            Self::Event(event) => Payload::Event(event.to_event()),
            Self::Comment(text) => Payload::Comment(text.clone()),
        }
    }
}

impl<'a> From<&'a Payload> for PayloadRef<'a> {
    #[inline]
    fn from(payload: &'a Payload) -> Self {
        match payload {
            Payload::Text(text) => Self::Text(text),
            Payload::Binary(bytes) => Self::Binary(bytes),
            Payload::Event(event) => Self::Event(EventRef::from(event)),
            Payload::Comment(text) => Self::Comment(text),
        }
    }
}

impl PartialEq<Payload> for PayloadRef<'_> {
    fn eq(&self, other: &Payload) -> bool {
        *self == PayloadRef::from(other)
    }
}

/// A Server-Sent Event of a burst, borrowed: its type, data and id as
/// [`SseEvent`] has them. [`to_event`](Self::to_event) makes the owned
/// event (no bytes copied).
#[derive(Clone, Copy)]
pub struct EventRef<'a>(Repr<'a>);

/// Where the event is: looked up only for what is asked.
#[derive(Clone, Copy)]
enum Repr<'a> {
    /// A plain event of a burst's spans.
    Span(&'a Spans, Span),
    Owned(&'a SseEvent),
}

impl<'a> EventRef<'a> {
    /// The plain event `span` of `spans`.
    #[inline]
    pub(super) fn span(spans: &'a Spans, span: Span) -> Self {
        Self(Repr::Span(spans, span))
    }

    /// The event type (`event:` field); `"message"` when none was given.
    #[inline]
    pub fn event(&self) -> &'a str {
        self.meta().map_or(&DEFAULT_TYPE, |meta| meta.event())
    }

    /// The data lines joined with LF.
    #[inline]
    pub fn data(&self) -> &'a str {
        match self.0 {
            Repr::Span(spans, span) => &spans.pieces[span.piece as usize][span.range()],
            Repr::Owned(event) => event.data(),
        }
    }

    /// The last event id in force when the event was dispatched, if any.
    #[inline]
    pub fn id(&self) -> Option<&'a str> {
        self.meta().and_then(|meta| meta.id()).map(|id| &**id)
    }

    /// The data's size in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::Span(_, span) => span.len as usize,
            Repr::Owned(event) => event.data().len(),
        }
    }

    /// Whether the data is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owned event: its data shares the burst's buffer (a reference
    /// count, no copy).
    pub fn to_event(&self) -> SseEvent {
        match self.0 {
            Repr::Span(spans, span) => {
                let piece = &spans.pieces[span.piece as usize];
                let data = piece.slice_ref(&piece[span.range()]);
                SseEvent::with_meta(data, spans.metas[span.meta as usize].clone())
            }
            Repr::Owned(event) => event.clone(),
        }
    }

    #[inline]
    fn data_bytes(&self) -> &'a [u8] {
        match self.0 {
            Repr::Span(spans, span) => &spans.pieces[span.piece as usize].as_bytes()[span.range()],
            Repr::Owned(event) => event.data().as_bytes(),
        }
    }

    #[inline]
    fn meta(&self) -> Option<&'a Arc<EventMeta>> {
        match self.0 {
            Repr::Span(spans, span) => spans.metas[span.meta as usize].as_ref(),
            Repr::Owned(event) => event.parts().1,
        }
    }
}

impl<'a> From<&'a SseEvent> for EventRef<'a> {
    #[inline]
    fn from(event: &'a SseEvent) -> Self {
        Self(Repr::Owned(event))
    }
}

impl PartialEq for EventRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.data_bytes() == other.data_bytes()
            && self.event() == other.event()
            && self.id() == other.id()
    }
}

impl Eq for EventRef<'_> {}

impl PartialEq<SseEvent> for EventRef<'_> {
    fn eq(&self, other: &SseEvent) -> bool {
        *self == EventRef::from(other)
    }
}

impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRef")
            .field("event", &self.event())
            .field("data", &self.data())
            .field("id", &self.id())
            .finish()
    }
}

/// The messages of a [`Payloads`](super::Payloads) burst in order, each
/// borrowed (see [`Payloads::iter`](super::Payloads::iter)).
#[derive(Debug, Clone)]
pub struct Iter<'a>(Walk<'a>);

#[derive(Debug, Clone)]
enum Walk<'a> {
    Owned(slice::Iter<'a, Payload>),
    Spans(slice::Iter<'a, Span>, &'a Spans),
}

impl<'a> Iter<'a> {
    pub(super) fn owned(payloads: &'a [Payload]) -> Self {
        Self(Walk::Owned(payloads.iter()))
    }

    pub(super) fn spans(spans: &'a Spans) -> Self {
        Self(Walk::Spans(spans.spans.iter(), spans))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = PayloadRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<PayloadRef<'a>> {
        match &mut self.0 {
            Walk::Owned(payloads) => payloads.next().map(PayloadRef::from),
            Walk::Spans(spans, all) => spans.next().map(|span| all.view(*span)),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            Walk::Owned(payloads) => payloads.len(),
            Walk::Spans(spans, _) => spans.len(),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}
