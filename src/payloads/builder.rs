//! A burst while it is read: payloads pushed one at a time, and runs of
//! plain SSE events noted as spans of their text.

use std::sync::Arc;

use bytestring::ByteString;

use super::{Form, Payloads, Span, Spans};
use crate::{sse::EventMeta, Payload};

/// A burst being read. Payloads stay a plain vector until the first run of
/// spans; from then on every message has a span, the payloads pushed
/// before included.
#[derive(Debug, Default)]
pub(crate) struct BurstBuilder {
    /// The first payload while it is the only message: a burst of one
    /// allocates no vector.
    first: Option<Payload>,
    spans: Spans,
    /// The messages' sizes summed.
    bytes: usize,
}

impl BurstBuilder {
    /// Messages so far.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self.spans.spans.len() {
            0 => self.spans.side.len() + usize::from(self.first.is_some()),
            spans => spans,
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for `additional` more payloads.
    #[inline]
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.len() + additional > 1 {
            self.settle_first();
            self.spans.side.reserve(additional);
        }
    }

    /// The first payload joins the vector: a second message arrives.
    #[inline]
    fn settle_first(&mut self) {
        if let Some(first) = self.first.take() {
            self.spans.side.push(first);
        }
    }

    /// Room for `additional` more spans.
    #[inline]
    pub(crate) fn reserve_spans(&mut self, additional: usize) {
        self.spans.spans.reserve(additional);
    }

    /// One owned payload.
    #[inline]
    pub(crate) fn push(&mut self, payload: Payload) {
        self.bytes += payload.len();
        if self.spans.spans.is_empty() && self.spans.side.is_empty() && self.first.is_none() {
            self.first = Some(payload);
            return;
        }
        self.settle_first();
        if !self.spans.spans.is_empty() {
            self.spans.spans.push(Span::side(self.spans.side.len()));
        }
        self.spans.side.push(payload);
    }

    /// A run of plain events whose data lie in `text`, all of the type and
    /// id `meta`: their spans go through the returned run. `None` when
    /// `text` is too long for a span to place them in (over 4 GiB): push
    /// them as payloads then.
    pub(crate) fn span_run(
        &mut self,
        text: &ByteString,
        meta: &Option<Arc<EventMeta>>,
    ) -> Option<SpanRun<'_>> {
        self.settle_first();
        let pieces = &mut self.spans.pieces;
        let known = pieces
            .last()
            .is_some_and(|last| last.as_ptr() == text.as_ptr() && last.len() == text.len());
        if !known {
            if u32::try_from(text.len()).is_err() || pieces.len() >= SIDE_INDEX {
                return None;
            }
            pieces.push(text.clone());
        }
        let metas = &mut self.spans.metas;
        let same = match (metas.last(), meta) {
            (Some(None), None) => true,
            (Some(Some(last)), Some(meta)) => Arc::ptr_eq(last, meta),
            _ => false,
        };
        if !same {
            if metas.len() >= SIDE_INDEX {
                return None;
            }
            metas.push(meta.clone());
        }
        let spans = &mut self.spans.spans;
        Some(SpanRun {
            unplaced: if spans.is_empty() {
                self.spans.side.len()
            } else {
                0
            },
            // Both below `SIDE_INDEX`, checked above.
            piece: u32::try_from(self.spans.pieces.len() - 1).unwrap_or_default(),
            meta: u32::try_from(self.spans.metas.len() - 1).unwrap_or_default(),
            spans,
            bytes: &mut self.bytes,
            added: 0,
        })
    }

    /// The burst read so far, leaving this builder empty (and, after a
    /// burst of one, untouched but for that payload: nothing else moves).
    #[inline]
    pub(crate) fn take(&mut self) -> Payloads {
        if self.spans.side.is_empty() && self.spans.spans.is_empty() {
            if let Some(first) = self.first.take() {
                self.bytes = 0;
                return Payloads::one(first);
            }
        }
        std::mem::take(self).finish()
    }

    /// The burst, shared from here on.
    pub(crate) fn finish(mut self) -> Payloads {
        let form = match self.first.take() {
            Some(first) if self.spans.side.is_empty() && self.spans.spans.is_empty() => {
                return Payloads::one(first);
            }
            first => {
                self.spans.side.extend(first);
                if self.spans.spans.is_empty() {
                    Form::Owned(self.spans.side)
                } else {
                    Form::Spans(self.spans)
                }
            }
        };
        Payloads::new(form, self.bytes)
    }

    /// The payloads, owned.
    pub(crate) fn into_vec(mut self) -> Vec<Payload> {
        self.settle_first();
        if self.spans.spans.is_empty() {
            return self.spans.side;
        }
        self.finish().into_vec()
    }
}

/// A run of plain events of one piece and one type and id, being added
/// to a burst: one span each. Its bytes are counted, and payloads pushed
/// before the burst's first span placed ahead of the spans, when the run
/// ends (is dropped).
#[derive(Debug)]
pub(crate) struct SpanRun<'a> {
    spans: &'a mut Vec<Span>,
    bytes: &'a mut usize,
    /// Payloads pushed before the burst's first span (0 if it has one).
    unplaced: usize,
    piece: u32,
    meta: u32,
    /// The run's data bytes so far.
    added: usize,
}

impl SpanRun<'_> {
    /// An event whose data is `text[start..end]` of the run's text (so
    /// both fit in a `u32`, checked when the run started).
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    pub(crate) fn push(&mut self, start: usize, end: usize) {
        debug_assert!(start <= end && u32::try_from(end).is_ok());
        self.added += end - start;
        self.spans.push(Span {
            piece: self.piece,
            meta: self.meta,
            start: start as u32,
            len: (end - start) as u32,
        });
    }
}

impl Drop for SpanRun<'_> {
    fn drop(&mut self) {
        *self.bytes += self.added;
        if self.unplaced > 0 && !self.spans.is_empty() {
            let side = (0..self.unplaced).map(Span::side);
            self.spans.splice(0..0, side);
        }
    }
}

/// Pieces and metas a burst holds at most: their indices stay below
/// [`SIDE`](super::SIDE).
const SIDE_INDEX: usize = u32::MAX as usize;
