//! Where the parser hands what it dispatches.

use std::sync::Arc;

use bytestring::ByteString;

use crate::{
    payloads::SpanRun,
    sse::{EventMeta, SseEvent, SseItem},
};

/// Where the parser hands what it dispatches, without wrapping each event
/// in an [`SseItem`] (the public methods take closures).
pub(crate) trait ItemSink {
    /// A dispatched event.
    fn event(&mut self, event: SseEvent);
    /// A comment line's text (only from a parser that keeps comments).
    fn comment(&mut self, text: ByteString);

    /// A run of plain events may start (each one's data a range of
    /// `text`, each of the type and id `meta`): if this sink takes spans,
    /// `run` takes the events into a [`SpanRun`] and its result is
    /// returned. Default: `None`, `run` unused (the events are then handed
    /// to [`plain_run`](Self::plain_run) and
    /// [`plain_event`](Self::plain_event)).
    #[inline]
    fn plain_spans<R>(
        &mut self,
        text: &ByteString,
        meta: &Option<Arc<EventMeta>>,
        run: impl FnOnce(&mut SpanRun<'_>) -> R,
    ) -> Option<R> {
        let _ = (text, meta, run);
        None
    }

    /// A run of plain events starts, when [`plain_spans`](Self::plain_spans)
    /// gave no spans: each one's data is a range of `text`, and each has
    /// the type and id `meta`. Default: nothing (each event is handed to
    /// [`event`](Self::event)).
    #[inline]
    fn plain_run(&mut self, text: &ByteString, meta: &Option<Arc<EventMeta>>) {
        let _ = (text, meta);
    }

    /// A plain event of the current run: its data is `text[start..end]`
    /// (both at ASCII bytes, so on character boundaries). Default: the
    /// event, its data a slice of `text`, to [`event`](Self::event).
    #[inline(always)]
    fn plain_event(
        &mut self,
        text: &ByteString,
        (start, end): (usize, usize),
        meta: &Option<Arc<EventMeta>>,
    ) {
        self.event(SseEvent::with_meta(
            text.slice_ref(&text[start..end]),
            meta.clone(),
        ));
    }
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
