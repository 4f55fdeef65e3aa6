//! An open event stream: the response body, read through our HTTP/1.1
//! codec, and the SSE parser.

use std::{
    cell::RefCell,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use bytestring::ByteString;
use futures::Stream;

use super::{read_error, Body, Resume};
use crate::{
    http1::Part,
    payloads::SpanRun,
    sse::{EventMeta, ItemSink, SseEvent, SseParser},
    transport::{Capabilities, Inbound, Read, Session},
    Error, ErrorCategory, Payload,
};

/// An open event stream.
pub(super) struct SseSession {
    body: Body,
    parser: SseParser,
    liveness_events: Arc<[String]>,
    resume: Rc<RefCell<Resume>>,
    /// Body bytes per message in the last piece that held any: how many
    /// messages the next piece likely holds, reserved before it is parsed.
    bytes_per_message: usize,
}

/// The most message slots reserved ahead of one body piece.
const MAX_RESERVE: usize = 4096;

impl SseSession {
    pub(super) fn new(
        body: Body,
        parser: SseParser,
        liveness_events: Arc<[String]>,
        resume: Rc<RefCell<Resume>>,
    ) -> Self {
        Self {
            body,
            parser,
            liveness_events,
            resume,
            bytes_per_message: usize::MAX,
        }
    }

    /// Parses one body piece into `inbound`, with room made for as many
    /// messages as the last piece's size per message suggests.
    fn parse(&mut self, chunk: Bytes, inbound: &mut Inbound) -> Result<(), Error> {
        let (bytes, before) = (chunk.len(), inbound.len());
        // An eighth more: a piece that holds one more message than the
        // estimate would regrow (and copy) the whole burst.
        let likely = bytes / self.bytes_per_message;
        inbound.reserve_spans((likely + likely / 8).min(MAX_RESERVE));
        let mut sink = ToInbound {
            inbound,
            liveness_only: &self.liveness_events,
            run: Run::Payloads,
        };
        self.parser.push_into(chunk, &mut sink)?;
        let inbound = sink.inbound;
        if let Some(per) = bytes.checked_div(inbound.len() - before) {
            self.bytes_per_message = per.max(1);
        }
        Ok(())
    }
}

/// Parsed items as messages for subscribers, less the events whose type
/// only proves the stream alive. Plain events become spans of their text.
struct ToInbound<'a> {
    inbound: &'a mut Inbound,
    liveness_only: &'a [String],
    /// What the current run of plain events becomes, when not spans.
    run: Run,
}

/// What a run of plain events that is not made spans becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Nothing: their type only proves the stream alive.
    Skipped,
    /// Payloads (a text too long for spans).
    Payloads,
}

impl ToInbound<'_> {
    fn keeps(&self, event_type: &str) -> bool {
        self.liveness_only.is_empty() || !self.liveness_only.iter().any(|t| t == event_type)
    }
}

impl ItemSink for ToInbound<'_> {
    #[inline]
    fn event(&mut self, event: SseEvent) {
        if self.keeps(event.event()) {
            self.inbound.message(Payload::Event(event));
        }
    }

    #[inline]
    fn plain_spans<R>(
        &mut self,
        text: &ByteString,
        meta: &Option<Arc<EventMeta>>,
        run: impl FnOnce(&mut SpanRun<'_>) -> R,
    ) -> Option<R> {
        let event_type = meta.as_deref().map_or("message", |meta| meta.event());
        if !self.keeps(event_type) {
            self.run = Run::Skipped;
            return None;
        }
        match self.inbound.span_run(text, meta) {
            Some(mut spans) => Some(run(&mut spans)),
            None => {
                self.run = Run::Payloads;
                None
            }
        }
    }

    /// A plain event of a run that is not made spans.
    #[inline]
    fn plain_event(
        &mut self,
        text: &ByteString,
        (start, end): (usize, usize),
        meta: &Option<Arc<EventMeta>>,
    ) {
        match self.run {
            Run::Skipped => {}
            Run::Payloads => self.inbound.message(Payload::Event(SseEvent::with_meta(
                text.slice_ref(&text[start..end]),
                meta.clone(),
            ))),
        }
    }

    #[inline]
    fn comment(&mut self, text: ByteString) {
        self.inbound.message(Payload::Comment(text));
    }
}

impl Drop for SseSession {
    /// Leaves what the next attempt resumes from with the transport.
    fn drop(&mut self) {
        let mut resume = self.resume.borrow_mut();
        resume.last_event_id = self.parser.last_event_id().clone();
        if let Some(retry) = self.parser.take_retry() {
            resume.retry = Some(retry);
        }
    }
}

impl Session for SseSession {
    fn capabilities(&self) -> Capabilities {
        Capabilities::receive_only()
    }

    /// Parses ready body pieces until the burst is full (or `limit`
    /// pieces are read); any bytes, comments included, prove the stream
    /// alive.
    fn read(&mut self, cx: &mut Context<'_>, inbound: &mut Inbound) -> Result<Read, Error> {
        for _ in 0..inbound.limit() {
            if inbound.is_full() {
                break;
            }
            let chunk = match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Ok(Read::Pending),
                Poll::Ready(Some(Ok(Part::Data(chunk)))) => chunk,
                Poll::Ready(Some(Ok(Part::End)) | None) => {
                    return Err(Error::new(
                        ErrorCategory::ClosedByPeer,
                        "event stream ended",
                    ))
                }
                Poll::Ready(Some(Ok(Part::Head(_)))) => {
                    return Err(Error::protocol("a second response head in the body"))
                }
                Poll::Ready(Some(Err(err))) => return Err(read_error(err)),
            };
            inbound.alive();
            self.parse(chunk, inbound)?;
        }
        Ok(Read::Full)
    }

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Err(Error::receive_only()))
    }

    fn start_send(&mut self, _: Payload) -> Result<(), Error> {
        Err(Error::receive_only())
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{Run, ToInbound};
    use crate::{sse::SseParser, transport::Inbound, Payload, Payloads};

    /// What `chunks` become in a burst, with events of `liveness` types
    /// left out.
    fn burst(chunks: &[&str], liveness: &[&str]) -> Option<Payloads> {
        let liveness: Vec<String> = liveness.iter().map(|t| (*t).to_owned()).collect();
        let mut inbound = Inbound::new(usize::MAX);
        let mut parser = SseParser::new(1024).keep_comments(true);
        for chunk in chunks {
            let mut sink = ToInbound {
                inbound: &mut inbound,
                liveness_only: &liveness,
                run: Run::Payloads,
            };
            let chunk = bytes::Bytes::copy_from_slice(chunk.as_bytes());
            parser.push_into(chunk, &mut sink).unwrap();
        }
        inbound.take_burst()
    }

    fn shown(payloads: &Payloads) -> Vec<String> {
        payloads
            .iter()
            .map(|p| match p.to_payload() {
                Payload::Event(e) => format!("{}={}", e.event(), e.data()),
                Payload::Comment(c) => format!("#{c}"),
                other => panic!("not sse: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn plain_events_become_spans_in_order_with_the_rest() {
        let stream = [
            ": hi\ndata: a\n\ndata: b\n\nevent: beat\ndata: x\n\n",
            "data: c\ndata: d\n\ndata: e\n\n",
        ];
        let payloads = burst(&stream, &[]).unwrap();
        assert_eq!(
            shown(&payloads),
            [
                "#hi",
                "message=a",
                "message=b",
                "beat=x",
                "message=c\nd",
                "message=e"
            ]
        );
        assert_eq!(payloads.byte_len(), 2 + 1 + 1 + 1 + 3 + 1);
    }

    #[test]
    fn liveness_types_are_left_out_of_runs_too() {
        let stream = [": hi\ndata: a\n\ndata: b\n\nevent: beat\ndata: x\n\ndata: c\n\n"];
        let payloads = burst(&stream, &["message"]).unwrap();
        assert_eq!(shown(&payloads), ["#hi", "beat=x"]);
        let payloads = burst(&stream, &["beat"]).unwrap();
        assert_eq!(
            shown(&payloads),
            ["#hi", "message=a", "message=b", "message=c"]
        );
        assert!(burst(&["data: a\n\n"], &["message"]).is_none());
    }
}
