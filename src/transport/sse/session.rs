//! An open event stream: the response body, read through our HTTP/1.1
//! codec, and the SSE parser.

use std::{
    cell::RefCell,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
};

use futures::Stream;

use super::{read_error, Body, Resume};
use crate::{
    http1::Part,
    sse::{SseItem, SseParser},
    transport::{Capabilities, Inbound, Read, Session},
    Error, ErrorCategory, Payload,
};

/// An open event stream.
pub(super) struct SseSession {
    body: Body,
    parser: SseParser,
    liveness_events: Arc<[String]>,
    resume: Rc<RefCell<Resume>>,
}

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
        }
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

    /// Parses up to a burst's worth of ready body pieces; any bytes,
    /// comments included, prove the stream alive.
    fn read(&mut self, cx: &mut Context<'_>, inbound: &mut Inbound) -> Result<Read, Error> {
        let liveness_only = &self.liveness_events;
        for _ in 0..inbound.limit() {
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
            self.parser.push_items(chunk, |item| match item {
                SseItem::Event(event) => {
                    if liveness_only.is_empty()
                        || !liveness_only.iter().any(|t| *t == **event.event())
                    {
                        inbound.message(Payload::Event(event));
                    }
                }
                SseItem::Comment(text) => inbound.message(Payload::Comment(text)),
            })?;
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
