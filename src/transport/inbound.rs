//! What one read of a session found: a burst of messages (built as it is
//! read), pong payloads, the peer's close, and whether anything arrived.

use std::sync::Arc;

use bytes::Bytes;

use crate::{payloads::BurstBuilder, Payload};

/// A close frame the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClose {
    /// Its code; `None` when the frame had none.
    pub code: Option<u16>,
    /// Its reason, possibly empty.
    pub reason: String,
}

/// What one read found: messages in order, pong payloads, a peer's close.
#[derive(Debug)]
pub struct Inbound {
    messages: BurstBuilder,
    /// The first pong of the burst (nearly always the only one: held
    /// inline, so a heartbeat's answer costs no allocation).
    pong: Option<Bytes>,
    /// Any further pongs.
    more_pongs: Vec<Bytes>,
    close: Option<PeerClose>,
    alive: bool,
    limit: usize,
    /// Compressed payload bytes read, and the bytes they inflated to.
    compressed: (u64, u64),
}

impl Inbound {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            messages: BurstBuilder::default(),
            pong: None,
            more_pongs: Vec::new(),
            close: None,
            alive: false,
            limit: limit.max(1),
            compressed: (0, 0),
        }
    }

    /// Reports a compressed payload: `wire` bytes read that inflated to
    /// `inflated` bytes (the monitor shows both; message sizes elsewhere are
    /// after inflation).
    pub fn compressed(&mut self, wire: usize, inflated: usize) {
        self.compressed.0 += wire as u64;
        self.compressed.1 += inflated as u64;
    }

    /// Takes the compressed figures reported so far.
    pub(crate) fn take_compressed(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.compressed)
    }

    /// A message for subscribers (and the lifecycle's matchers: an
    /// authentication reply, an acknowledgement, a heartbeat reply).
    #[inline]
    pub fn message(&mut self, payload: Payload) {
        self.alive = true;
        self.messages.push(payload);
    }

    /// A run of plain SSE events whose data lie in `text` (see
    /// [`BurstBuilder::span_run`]).
    #[inline]
    pub(crate) fn span_run(
        &mut self,
        text: &bytestring::ByteString,
        meta: &Option<Arc<crate::sse::EventMeta>>,
    ) -> Option<crate::payloads::SpanRun<'_>> {
        self.alive = true;
        self.messages.span_run(text, meta)
    }

    /// Makes room for `additional` more plain SSE events.
    #[inline]
    pub(crate) fn reserve_spans(&mut self, additional: usize) {
        self.messages.reserve_spans(additional);
    }

    /// Makes room for `additional` more messages at once (a transport that
    /// knows how many a read holds saves the burst's regrowth).
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.messages.reserve(additional);
    }

    /// A pong answering one of the lifecycle's pings (its payload as sent).
    pub fn pong(&mut self, payload: Bytes) {
        self.alive = true;
        if self.pong.is_none() {
            self.pong = Some(payload);
        } else {
            self.more_pongs.push(payload);
        }
    }

    /// The peer closed; the session has queued its answer, if its protocol
    /// has one.
    pub fn closed(&mut self, close: PeerClose) {
        self.alive = true;
        self.close = Some(close);
    }

    /// Bytes arrived that carry no message (a comment, a partial frame, a
    /// ping): the peer is alive.
    #[inline]
    pub fn alive(&mut self) {
        self.alive = true;
    }

    /// Most messages (or frames, or chunks) one read takes.
    #[inline]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the burst holds as many messages as one delivery takes.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.messages.len() >= self.limit
    }

    /// Messages in this burst.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the burst holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn saw_traffic(&self) -> bool {
        self.alive
    }

    pub(crate) fn take_messages(&mut self) -> Vec<Payload> {
        std::mem::take(&mut self.messages).into_vec()
    }

    /// The burst read, `None` if it holds no message.
    pub(crate) fn take_burst(&mut self) -> Option<crate::Payloads> {
        (!self.messages.is_empty()).then(|| self.messages.take())
    }

    /// Hands each pong's payload to `each`, in the order they arrived.
    #[inline]
    pub(crate) fn drain_pongs(&mut self, mut each: impl FnMut(&[u8])) {
        let Some(first) = self.pong.take() else {
            return;
        };
        each(&first);
        for pong in self.more_pongs.drain(..) {
            each(&pong);
        }
    }

    pub(crate) fn take_close(&mut self) -> Option<PeerClose> {
        self.close.take()
    }
}
