//! Where the parser hands what it dispatches.

use bytestring::ByteString;

use crate::sse::{SseEvent, SseItem};

/// Where the parser hands what it dispatches, without wrapping each event
/// in an [`SseItem`] (the public methods take closures).
pub(crate) trait ItemSink {
    /// A dispatched event.
    fn event(&mut self, event: SseEvent);
    /// A comment line's text (only from a parser that keeps comments).
    fn comment(&mut self, text: ByteString);
}

impl<F: FnMut(SseItem)> ItemSink for F {
    #[inline]
    fn event(&mut self, event: SseEvent) {
        self(SseItem::Event(event));
    }

    #[inline]
    fn comment(&mut self, text: ByteString) {
        self(SseItem::Comment(text));
    }
}

/// Events to a closure; comments dropped.
pub(super) struct EventsOnly<F>(pub(super) F);

impl<F: FnMut(SseEvent)> ItemSink for EventsOnly<F> {
    #[inline]
    fn event(&mut self, event: SseEvent) {
        (self.0)(event);
    }

    #[inline]
    fn comment(&mut self, _: ByteString) {}
}
