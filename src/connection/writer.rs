//! The WebSocket write half, driven by one actor future: control frames
//! first (pings, pongs, authentication, on-connect messages, close), then the
//! outbox, with one flush per burst rather than one per message.
//!
//! A message counts as written once the codec has taken it into the
//! socket's write buffer; the buffer and the outbox are both bounded.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{self, Poll, Waker},
    time::Instant,
};

use actix::{ActorFuture, Context};
use actix_http::ws::{Frame, ProtocolError};
use futures::Sink;

use super::{
    read_buffer::{self, ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY},
    transport::Writer,
    ws::WsFramed,
    ConnectionActor, Ending, Link,
};
use crate::{
    monitor::Samples,
    sender::{Due, Sender},
    Error, Payload,
};

impl Writer {
    /// After a read poll of `frames` frames carrying `bytes` of data: a
    /// streaming connection moves to the large read buffer. Complete frames
    /// the old buffer held are appended to `held` for the caller to handle.
    pub(crate) fn after_read(
        &mut self,
        frames: usize,
        bytes: usize,
        held: &mut Vec<Result<Frame, ProtocolError>>,
    ) {
        let Writer::WebSocket(w) = self else { return };
        if w.read_policy.after_poll(frames, bytes) {
            self.rebuild_read_buffer(BUSY_CAPACITY, held);
        }
    }

    /// At a heartbeat tick: a connection that went quiet returns to the
    /// small read buffer (only when it holds no bytes, so nothing is held).
    pub(crate) fn settle_read_buffer(&mut self) {
        let Writer::WebSocket(w) = self else { return };
        if w.read_policy.on_tick(w.sink.is_read_buf_empty()) {
            let mut held = Vec::new();
            self.rebuild_read_buffer(QUIET_CAPACITY, &mut held);
            debug_assert!(held.is_empty(), "an empty buffer holds no frames");
        }
    }

    fn rebuild_read_buffer(
        &mut self,
        capacity: usize,
        held: &mut Vec<Result<Frame, ProtocolError>>,
    ) {
        // `Sse` holds nothing: a placeholder while the socket is rebuilt.
        *self = match std::mem::replace(self, Writer::Sse) {
            Writer::WebSocket(mut w) => {
                w.sink = read_buffer::rebuild(w.sink, capacity, held);
                Writer::WebSocket(w)
            }
            other => other,
        };
    }
}

/// The sink with its queue of control frames.
pub(crate) struct WsWriter {
    sink: WsFramed,
    control: VecDeque<awc::ws::Message>,
    waker: Option<Waker>,
    /// Close the write half once the control frames are out.
    shutdown: bool,
    /// A flush is already requested from the driver (one wake per burst).
    flush_requested: bool,
    /// When the (shared, unsplit) socket's read buffer grows and shrinks.
    read_policy: ReadBufferPolicy,
}

impl WsWriter {
    pub(crate) fn new(sink: WsFramed) -> Self {
        Self {
            sink,
            control: VecDeque::new(),
            waker: None,
            shutdown: false,
            flush_requested: false,
            read_policy: ReadBufferPolicy::default(),
        }
    }

    /// Queues a control frame ahead of every data message.
    ///
    /// A ping or pong with nothing ahead of it is written and flushed at
    /// once when the socket takes it: a heartbeat then costs no extra poll of
    /// the actor. Anything else, or a socket that is not ready, goes through
    /// the driver.
    pub(crate) fn push_control(&mut self, msg: awc::ws::Message) {
        let small = matches!(msg, awc::ws::Message::Ping(_) | awc::ws::Message::Pong(_));
        // A socket error is left to the driver, which meets it too.
        let direct = small && self.control.is_empty() && !self.shutdown && !self.flush_requested;
        if direct && matches!(self.ready_now(), Ok(true)) {
            if !self.write_ready_and_flush(msg) {
                // Not with the kernel yet: the driver flushes it or meets the error.
                self.wake();
            }
            return;
        }
        self.control.push_back(msg);
        self.wake();
    }

    /// Encodes `msg` into the socket buffer (which has room) and tries to
    /// flush it; true when the bytes are with the kernel.
    fn write_ready_and_flush(&mut self, msg: awc::ws::Message) -> bool {
        if Pin::new(&mut self.sink).start_send(msg).is_err() {
            return false;
        }
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        matches!(
            Pin::new(&mut self.sink).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        )
    }

    /// The socket, for the reader (the actor is single-threaded, so reader
    /// and writer share it without a lock).
    pub(crate) fn framed(&mut self) -> &mut WsFramed {
        &mut self.sink
    }

    pub(crate) fn shutdown_after_control(&mut self) {
        self.shutdown = true;
        self.wake();
    }

    pub(crate) fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// The handler's fast path, first step: whether the socket buffer has
    /// room for a data frame now, with nothing queued ahead of it.
    pub(crate) fn ready_now(&mut self) -> Result<bool, ProtocolError> {
        if !self.control.is_empty() {
            return Ok(false);
        }
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        match Pin::new(&mut self.sink).poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Ok(true),
            Poll::Ready(Err(err)) => Err(err),
            Poll::Pending => Ok(false),
        }
    }

    /// The fast path's second step, after [`ready_now`](Self::ready_now)
    /// said yes: encodes the frame into the socket buffer; the driver
    /// flushes it.
    pub(crate) fn write_ready(&mut self, msg: awc::ws::Message) -> Result<(), ProtocolError> {
        Pin::new(&mut self.sink).start_send(msg)?;
        if !self.flush_requested {
            self.flush_requested = true;
            self.wake();
        }
        Ok(())
    }
}

impl std::fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriter")
            .field("control", &self.control.len())
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

/// Converts a payload into a data frame.
pub(crate) fn data_frame(payload: Payload) -> awc::ws::Message {
    match payload {
        Payload::Text(text) => awc::ws::Message::Text(text),
        Payload::Binary(bytes) => awc::ws::Message::Binary(bytes),
        // Refused before it gets here: SSE events are inbound only.
        Payload::Event(event) => awc::ws::Message::Text(event.data().clone()),
    }
}

/// A message the codec refused: it fails, the connection goes on.
pub(crate) fn encode_error(err: &ProtocolError) -> Error {
    Error::protocol(format!("could not encode message: {err}"))
}

/// Times one poll of the driver goes back for pushed payloads.
const MAX_PUSH_PASSES: usize = 8;

impl WsWriter {
    /// Writes queued control frames into the socket buffer; true when all
    /// are in.
    fn write_control(&mut self, cx: &mut task::Context<'_>) -> Result<bool, ProtocolError> {
        while !self.control.is_empty() {
            match Pin::new(&mut self.sink).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let msg = self.control.pop_front().expect("checked non-empty");
                    Pin::new(&mut self.sink).start_send(msg)?;
                }
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Writes queued data frames the sender says are due while the socket
    /// has room; true when it ran out of room.
    fn write_data(
        &mut self,
        sender: &mut Sender,
        samples: &mut Samples,
        generation: u64,
        now: Instant,
        cx: &mut task::Context<'_>,
    ) -> Result<bool, ProtocolError> {
        while sender.due(now) == Due::Now {
            match Pin::new(&mut self.sink).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => return Ok(true),
            }
            let Some(frame) = sender.take() else { break };
            let written = Pin::new(&mut self.sink)
                .start_send(data_frame(frame.payload))
                .map_err(|err| encode_error(&err));
            sender.settle(frame.taken, written, generation, now, samples);
        }
        Ok(false)
    }

    /// Writes pushed payloads straight into the socket while it has room;
    /// the rest of the chunk goes to the outbox, in order. Returns whether
    /// more pushes wait.
    fn write_pushes(
        &mut self,
        sender: &mut Sender,
        samples: &mut Samples,
        now: Instant,
        cx: &mut task::Context<'_>,
    ) -> Result<bool, ProtocolError> {
        let mut taken = Vec::new();
        let more = sender.take_pushes(cx.waker(), &mut taken);
        let mut rest = taken.into_iter().peekable();
        let mut failure = Ok(());
        while rest.peek().is_some() {
            match Pin::new(&mut self.sink).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    failure = Err(err);
                    break;
                }
                Poll::Pending => break,
            }
            let payload = rest.next().expect("peeked");
            let len = payload.len();
            match Pin::new(&mut self.sink).start_send(data_frame(payload)) {
                Ok(()) => sender.push_written(len, samples),
                // Could not be encoded: counted lost, the connection goes on.
                Err(_) => sender.push_refused(),
            }
        }
        sender.requeue_pushes(rest, now);
        failure.map(|()| more)
    }
}

/// The actor future that drives the writer for one connection.
pub(crate) struct Drive;

impl ActorFuture<ConnectionActor> for Drive {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut ConnectionActor,
        ctx: &mut Context<ConnectionActor>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        act.drive_writer(ctx, cx)
    }
}

impl ConnectionActor {
    /// One pass of the writer: control frames, then due data, then
    /// pushes, then our close frame once everything is out; one flush.
    pub(super) fn drive_writer(
        &mut self,
        ctx: &mut Context<Self>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        let now = Instant::now();
        let generation = self.generation;
        let Some(link) = self.link.as_mut() else {
            return Poll::Ready(());
        };
        let data_allowed = link.writes_data();
        let Link {
            writer: Writer::WebSocket(w),
            ending,
            ..
        } = link
        else {
            return Poll::Ready(());
        };
        if w.waker
            .as_ref()
            .is_none_or(|known| !known.will_wake(cx.waker()))
        {
            w.waker = Some(cx.waker().clone());
        }
        w.flush_requested = false;
        let (sender, samples) = (&mut self.sender, &mut self.samples);
        let mut failure = None;
        let mut push_passes = 0;
        'passes: loop {
            let mut pushes_left = false;
            if data_allowed && !sender.writes_pushes_straight() {
                // Batched (or backed-up) endpoints: pushes join the outbox.
                pushes_left = sender.file_pushes(cx.waker(), now);
            }
            match w.write_control(cx) {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
            if data_allowed {
                match w.write_data(sender, samples, generation, now, cx) {
                    Ok(false) => {}
                    Ok(true) => break,
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            if data_allowed && sender.writes_pushes_straight() {
                match w.write_pushes(sender, samples, now, cx) {
                    Ok(more) => pushes_left = more,
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            // A close we started goes out once everything accepted is
            // written (or cannot be, before authentication).
            if let Some(Ending::ByUs { close_sent }) = ending {
                if !*close_sent && (sender.is_drained() || !data_allowed) {
                    *close_sent = true;
                    w.control.push_back(super::transport::close_frame(1000, ""));
                    continue 'passes;
                }
            }
            // The outbox made room while pushes wait: take more, a bounded
            // number of times per poll so reading gets its turn.
            if data_allowed && sender.has_room() && pushes_left {
                push_passes += 1;
                if push_passes < MAX_PUSH_PASSES {
                    continue 'passes;
                }
                cx.waker().wake_by_ref();
            }
            break;
        }
        let mut write_half_closed = false;
        if failure.is_none() {
            if let Poll::Ready(Err(err)) = Pin::new(&mut w.sink).poll_flush(cx) {
                failure = Some(err);
            }
        }
        if failure.is_none() && w.shutdown && w.control.is_empty() {
            if let Poll::Ready(result) = Pin::new(&mut w.sink).poll_close(cx) {
                w.shutdown = false;
                write_half_closed = true;
                failure = result.err();
            }
        }
        if let Some(err) = failure {
            let error = Error::network(format!("write failed: {err}"));
            self.connection_lost(error, ctx);
            return Poll::Ready(());
        }
        if self.sender.has_deadlines() {
            self.arm_deadline(ctx);
        }
        if write_half_closed {
            // Our close echo is out: the peer-started handshake is complete.
            self.socket_finished(ctx);
        }
        Poll::Pending
    }

    pub(super) fn wake_writer(&self) {
        if let Some(Link {
            writer: Writer::WebSocket(w),
            ..
        }) = self.link.as_ref()
        {
            w.wake();
        }
    }
}
