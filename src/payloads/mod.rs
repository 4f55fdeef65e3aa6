//! A burst's payloads ([`Payloads`]), shared between its subscribers, and
//! their borrowed views ([`PayloadRef`], [`EventRef`]). The types are also
//! at the crate root; [`Iter`] is here.
//!
//! A burst holds owned [`Payload`]s, or (for an SSE stream's plain events)
//! places in the stream's own checked text, which cost no allocation or
//! reference count per event to make, hand over or drop.

mod builder;
mod view;

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use bytestring::ByteString;

pub(crate) use self::builder::{BurstBuilder, SpanRun};
pub use self::view::{EventRef, Iter, PayloadRef};
use crate::{sse::EventMeta, EventTypes, Payload};

/// The messages of one burst, oldest first (see
/// [`BurstReceived`](crate::BurstReceived)).
///
/// Cloning one copies no bytes (it is one reference count: the burst's, or
/// for a burst of one, held inline with no allocation, its payload's), so
/// every subscriber of a burst shares it. A WebSocket or TCP burst holds its
/// [`Payload`]s; an SSE burst holds the read buffers its events came from
/// and each event as a place in them, so a stream of small events costs no
/// allocation or reference count per event, and dropping the burst does no
/// work per event.
///
/// Read it with [`iter`](Self::iter), which borrows each message as a
/// [`PayloadRef`] (no copy, no reference count); take owned payloads with
/// [`to_vec`](Self::to_vec), or [`as_slice`](Self::as_slice), which builds
/// them once and shares them with every subscriber of the burst.
///
/// ```
/// use actix_tether::{sse::SseEvent, Payload, Payloads};
/// let payloads = Payloads::from(vec![
///     Payload::Event(SseEvent::new("price", "42", Some("7"))),
///     Payload::text("hello"),
/// ]);
/// assert_eq!(payloads.len(), 2);
/// assert_eq!(payloads.byte_len(), 7);
/// let event = payloads.iter().next().and_then(|p| p.as_event()).unwrap();
/// assert_eq!((event.event(), event.data(), event.id()), ("price", "42", Some("7")));
/// assert_eq!(payloads.as_slice()[1], Payload::text("hello"));
/// ```
#[derive(Clone)]
pub struct Payloads(Repr);

#[derive(Clone)]
enum Repr {
    /// A burst of one (the usual burst of a connection that is not busy):
    /// held inline, so making, handing over and dropping it allocates
    /// nothing (cloning it is its payload's reference count).
    One(Payload),
    /// Two or more, shared by every holder.
    Shared(Arc<Inner>),
}

struct Inner {
    form: Form,
    /// The payloads' sizes ([`Payload::len`]) summed.
    bytes: usize,
    /// The owned payloads of a [`Form::Spans`], built on first ask.
    owned: OnceLock<Vec<Payload>>,
}

enum Form {
    Owned(Vec<Payload>),
    Spans(Spans),
}

/// Messages as spans: plain events as places in checked text, the rest
/// (events with joined lines, comments) as payloads on the side, each in
/// its place in stream order.
#[derive(Debug, Clone, Default)]
struct Spans {
    /// The checked text events are taken from (usually one or two per
    /// read buffer).
    pieces: Vec<ByteString>,
    /// The types and ids events share (`None`: the default type without
    /// an id).
    metas: Vec<Option<Arc<EventMeta>>>,
    /// Every message, in order.
    spans: Vec<Span>,
    side: Vec<Payload>,
}

/// One message: an event's data at `pieces[piece][start..start + len]`
/// with the type and id `metas[meta]`, or (`piece` is [`SIDE`]) the
/// payload `side[start]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    piece: u32,
    meta: u32,
    start: u32,
    len: u32,
}

/// [`Span::piece`] of a payload on the side.
const SIDE: u32 = u32::MAX;

impl Span {
    /// Where the event's data is in its piece.
    #[inline]
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }

    /// The payload `side[index]`.
    fn side(index: usize) -> Self {
        Self {
            piece: SIDE,
            meta: 0,
            start: u32::try_from(index).unwrap_or(u32::MAX),
            len: 0,
        }
    }
}

impl Spans {
    /// The message of `span`.
    #[inline]
    fn view(&self, span: Span) -> PayloadRef<'_> {
        if span.piece == SIDE {
            return PayloadRef::from(&self.side[span.start as usize]);
        }
        PayloadRef::Event(EventRef::span(self, span))
    }
}

impl Payloads {
    fn new(form: Form, bytes: usize) -> Self {
        Self(Repr::Shared(Arc::new(Inner {
            form,
            bytes,
            owned: OnceLock::new(),
        })))
    }

    /// A burst of one, held inline.
    #[inline]
    fn one(payload: Payload) -> Self {
        Self(Repr::One(payload))
    }

    /// The payloads of an owned form.
    #[inline]
    fn owned(&self) -> Option<&[Payload]> {
        match &self.0 {
            Repr::One(payload) => Some(std::slice::from_ref(payload)),
            Repr::Shared(inner) => match &inner.form {
                Form::Owned(payloads) => Some(payloads),
                Form::Spans(_) => None,
            },
        }
    }

    /// The spans of a compact burst.
    #[inline]
    fn spans(&self) -> Option<&Spans> {
        match &self.0 {
            Repr::Shared(inner) => match &inner.form {
                Form::Spans(spans) => Some(spans),
                Form::Owned(_) => None,
            },
            Repr::One(_) => None,
        }
    }

    /// How many messages the burst holds.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::One(_) => 1,
            Repr::Shared(inner) => match &inner.form {
                Form::Owned(payloads) => payloads.len(),
                Form::Spans(spans) => spans.spans.len(),
            },
        }
    }

    /// Whether the burst holds no message (a burst delivered to a
    /// subscriber never is).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages' sizes in bytes ([`Payload::len`]) summed, counted
    /// when the burst was made.
    #[inline]
    pub fn byte_len(&self) -> usize {
        match &self.0 {
            Repr::One(payload) => payload.len(),
            Repr::Shared(inner) => inner.bytes,
        }
    }

    /// The messages in order, each borrowed as a [`PayloadRef`]: no copy,
    /// no reference count.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        match (self.owned(), self.spans()) {
            (Some(payloads), _) => Iter::owned(payloads),
            (None, Some(spans)) => Iter::spans(spans),
            (None, None) => unreachable!("only spans are not owned"),
        }
    }

    /// The message at `index`, borrowed.
    pub fn get(&self, index: usize) -> Option<PayloadRef<'_>> {
        match (self.owned(), self.spans()) {
            (Some(payloads), _) => payloads.get(index).map(PayloadRef::from),
            (None, Some(spans)) => spans.spans.get(index).map(|span| spans.view(*span)),
            (None, None) => unreachable!("only spans are not owned"),
        }
    }

    /// The messages as owned [`Payload`]s. An SSE burst builds them on the
    /// first call (one allocation and a reference count per event) and
    /// shares them with every other holder of this burst; prefer
    /// [`iter`](Self::iter) on a hot path.
    pub fn as_slice(&self) -> &[Payload] {
        match (&self.0, self.owned()) {
            (_, Some(payloads)) => payloads,
            (Repr::Shared(inner), None) => inner.owned.get_or_init(|| self.to_vec()),
            (Repr::One(_), None) => unreachable!("one payload is owned"),
        }
    }

    /// The messages as a new vector of owned [`Payload`]s.
    pub fn to_vec(&self) -> Vec<Payload> {
        let built = match &self.0 {
            Repr::Shared(inner) => inner.owned.get().map(Vec::as_slice),
            Repr::One(_) => None,
        };
        match self.owned().or(built) {
            Some(payloads) => payloads.to_vec(),
            None => self.iter().map(|p| p.to_payload()).collect(),
        }
    }

    /// The messages as owned payloads, moved out when this is their only
    /// holder.
    pub(crate) fn into_vec(self) -> Vec<Payload> {
        match self.0 {
            Repr::One(payload) => vec![payload],
            Repr::Shared(inner) => match Arc::try_unwrap(inner) {
                Ok(Inner {
                    form: Form::Owned(payloads),
                    ..
                }) => payloads,
                Ok(inner) => Self(Repr::Shared(Arc::new(inner))).to_vec(),
                Err(shared) => Self(Repr::Shared(shared)).to_vec(),
            },
        }
    }

    /// The events of `types` among these, in order, sharing this burst's
    /// buffers; `None` when there are none.
    pub(crate) fn select(&self, types: &EventTypes) -> Option<Self> {
        match (&self.0, self.owned(), self.spans()) {
            // One that matches is shared as it is.
            (Repr::One(payload), _, _) => types.matches(payload).then(|| self.clone()),
            (_, Some(payloads), _) => {
                let chosen: Vec<Payload> = payloads
                    .iter()
                    .filter(|p| types.matches(p))
                    .cloned()
                    .collect();
                (!chosen.is_empty()).then(|| Self::from(chosen))
            }
            (_, None, Some(spans)) => {
                let (chosen, bytes) = spans.select(types);
                (!chosen.spans.is_empty()).then(|| Self::new(Form::Spans(chosen), bytes))
            }
            (_, None, None) => unreachable!("only spans are not owned"),
        }
    }
}

impl Spans {
    /// The spans of events of `types`, and their size.
    fn select(&self, types: &EventTypes) -> (Self, usize) {
        let taken: Vec<bool> = self
            .metas
            .iter()
            .map(|meta| {
                let event = meta
                    .as_ref()
                    .map_or(&crate::sse::DEFAULT_TYPE, |m| m.event());
                types.matches_type(event)
            })
            .collect();
        let mut chosen = Self {
            pieces: self.pieces.clone(),
            metas: self.metas.clone(),
            spans: Vec::new(),
            side: Vec::new(),
        };
        let mut bytes = 0;
        for span in &self.spans {
            if span.piece != SIDE {
                if taken[span.meta as usize] {
                    bytes += span.len as usize;
                    chosen.spans.push(*span);
                }
                continue;
            }
            let payload = &self.side[span.start as usize];
            if types.matches(payload) {
                bytes += payload.len();
                chosen.spans.push(Span::side(chosen.side.len()));
                chosen.side.push(payload.clone());
            }
        }
        (chosen, bytes)
    }
}

impl From<Vec<Payload>> for Payloads {
    fn from(mut payloads: Vec<Payload>) -> Self {
        if payloads.len() == 1 {
            if let Some(one) = payloads.pop() {
                return Self::one(one);
            }
        }
        let bytes = payloads.iter().map(Payload::len).sum();
        Self::new(Form::Owned(payloads), bytes)
    }
}

impl FromIterator<Payload> for Payloads {
    fn from_iter<I: IntoIterator<Item = Payload>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Payloads {
    type Item = PayloadRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl PartialEq for Payloads {
    /// The same messages in the same order, whatever their form.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Payloads {}

impl fmt::Debug for Payloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests;
