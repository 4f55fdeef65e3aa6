//! The WebSocket write half, driven by one actor future: control frames
//! first (pings, pongs, authentication, on-connect messages, close), then the
//! outbox, with one flush per burst rather than one per message.
//!
//! A message counts as written once the codec has taken it into the
//! socket's write buffer; the buffer and the outbox are both bounded.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{self, Poll, Waker},
    time::{Duration, Instant},
};

use actix::{ActorFuture, AsyncContext, Context};
use actix_http::ws::{Frame, ProtocolError};
use futures::Sink;

use super::{
    read_buffer::{self, ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY},
    transport::Writer,
    ws::WsFramed,
    ConnectionActor, Ending, Link,
};
use crate::{
    delivery::Delivered,
    monitor::Samples,
    outbox::{Outbox, Outgoing, Pushed},
    push_queue::PushQueue,
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

/// Counts a written message and settles it: acknowledged-mode messages wait
/// for their ack, the others are done.
pub(crate) fn mark_written(
    msg: Outgoing,
    generation: u64,
    acks_on: bool,
    in_flight: &mut VecDeque<(Outgoing, Instant)>,
    samples: &mut Samples,
    now: Instant,
) {
    count_written(samples, msg.payload.len());
    if acks_on && msg.ack_id.is_some() {
        in_flight.push_back((msg, now));
    } else {
        msg.finish(Ok(Delivered::Written { generation }));
    }
}

/// Counts one data message written.
pub(crate) fn count_written(samples: &mut Samples, len: usize) {
    samples.messages_out += 1;
    samples.bytes_out += len as u64;
}

/// A message the codec refused: it fails, the connection goes on.
pub(crate) fn encode_error(err: &ProtocolError) -> Error {
    Error::protocol(format!("could not encode message: {err}"))
}

/// Times one poll of the driver goes back for pushed payloads.
const MAX_PUSH_PASSES: usize = 8;

/// Pushed payloads the driver takes at a time.
const PUSH_CHUNK: usize = 256;

/// Pushed payloads on their way to an endpoint whose outbox is empty.
struct Pushes<'a> {
    queue: &'a Arc<PushQueue>,
    outbox: &'a mut Outbox,
    samples: &'a mut Samples,
    now: Instant,
}

impl Pushes<'_> {
    /// Writes pushed payloads straight into the socket while it has room;
    /// the rest of the chunk goes to the outbox, in order, when it fills.
    /// Returns whether more pushes wait.
    fn write(self, w: &mut WsWriter, cx: &mut task::Context<'_>) -> Result<bool, ProtocolError> {
        let mut taken = Vec::new();
        let chunk = PUSH_CHUNK.min(self.outbox.capacity());
        let more = self.queue.take(chunk, cx.waker(), &mut taken);
        let mut rest = taken.into_iter().peekable();
        let mut failure = Ok(());
        while rest.peek().is_some() {
            match Pin::new(&mut w.sink).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    failure = Err(err);
                    break;
                }
                Poll::Pending => break,
            }
            let payload = rest.next().expect("peeked");
            let len = payload.len();
            match Pin::new(&mut w.sink).start_send(data_frame(payload)) {
                Ok(()) => count_written(self.samples, len),
                // Could not be encoded: counted lost, the connection goes on.
                Err(_) => self.queue.note_lost(1),
            }
        }
        queue_pushed(rest, self.queue, self.outbox, self.now);
        failure.map(|()| more)
    }
}

/// Files pushed payloads in the outbox, which has room for them.
fn queue_pushed(
    payloads: impl Iterator<Item = Payload>,
    queue: &Arc<PushQueue>,
    outbox: &mut Outbox,
    now: Instant,
) {
    for payload in payloads {
        let queued = outbox.push(Outgoing::pushed(payload, queue.clone(), now));
        debug_assert!(matches!(queued, Pushed::Queued { .. }), "room was counted");
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

/// What one drive pass asks the actor to do afterwards.
#[derive(Default)]
struct After {
    failure: Option<ProtocolError>,
    wait_for_batch: Option<Duration>,
    write_half_closed: bool,
    arm_acks: bool,
}

impl ConnectionActor {
    pub(super) fn drive_writer(
        &mut self,
        ctx: &mut Context<Self>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        let now = Instant::now();
        let generation = self.generation;
        let acks_on = self.config.ack.is_some();
        let Some(link) = self.link.as_mut() else {
            return Poll::Ready(());
        };
        let data_allowed = link.session_ready && !matches!(link.ending, Some(Ending::ByPeer(_)));
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
        let mut after = After::default();
        let in_flight_before = self.in_flight.len();
        let mut push_passes = 0;
        'passes: loop {
            let mut pushes_left = false;
            if data_allowed && self.config.batch.is_some() {
                // Batched endpoints: pushes join the outbox, which batches.
                let room = self.outbox.capacity().saturating_sub(self.outbox.len());
                let mut taken = Vec::new();
                pushes_left = self.pushed.take(room, cx.waker(), &mut taken);
                queue_pushed(taken.into_iter(), &self.pushed, &mut self.outbox, now);
            }
            while !w.control.is_empty() {
                match Pin::new(&mut w.sink).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        let msg = w.control.pop_front().expect("checked non-empty");
                        if let Err(err) = Pin::new(&mut w.sink).start_send(msg) {
                            after.failure = Some(err);
                            break 'passes;
                        }
                    }
                    Poll::Ready(Err(err)) => {
                        after.failure = Some(err);
                        break 'passes;
                    }
                    Poll::Pending => break 'passes,
                }
            }
            while data_allowed && !self.outbox.is_empty() {
                if let (Some(batch), Some(oldest)) = (&self.config.batch, self.outbox.front()) {
                    let due = oldest.queued_at + batch.max_delay;
                    if self.outbox.len() < batch.max_batch && now < due {
                        after.wait_for_batch = Some(due - now);
                        break;
                    }
                }
                match Pin::new(&mut w.sink).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => {
                        after.failure = Some(err);
                        break 'passes;
                    }
                    Poll::Pending => break 'passes,
                }
                let Some(batch) = &self.config.batch else {
                    let msg = self.outbox.pop().expect("checked non-empty");
                    if acks_on && msg.ack_id.is_some() {
                        // Kept until acknowledged: the frame gets a copy.
                        match Pin::new(&mut w.sink).start_send(data_frame(msg.payload.clone())) {
                            Ok(()) => mark_written(
                                msg,
                                generation,
                                acks_on,
                                &mut self.in_flight,
                                &mut self.samples,
                                now,
                            ),
                            // Could not be encoded: this message fails, the connection goes on.
                            Err(err) => msg.finish(Err(encode_error(&err))),
                        }
                        continue;
                    }
                    let Outgoing {
                        payload, report, ..
                    } = msg;
                    let len = payload.len();
                    match Pin::new(&mut w.sink).start_send(data_frame(payload)) {
                        Ok(()) => {
                            count_written(&mut self.samples, len);
                            report.finish(Ok(Delivered::Written { generation }));
                        }
                        Err(err) => report.finish(Err(encode_error(&err))),
                    }
                    continue;
                };
                let n = self.outbox.len().min(batch.max_batch);
                let taken: Vec<Outgoing> =
                    std::iter::from_fn(|| self.outbox.pop()).take(n).collect();
                let payloads: Vec<Payload> = taken.iter().map(|m| m.payload.clone()).collect();
                let frame = data_frame((batch.encoder)(&payloads));
                if let Err(err) = Pin::new(&mut w.sink).start_send(frame) {
                    let error = encode_error(&err);
                    for msg in taken {
                        msg.finish(Err(error.clone()));
                    }
                    continue;
                }
                for msg in taken {
                    mark_written(
                        msg,
                        generation,
                        acks_on,
                        &mut self.in_flight,
                        &mut self.samples,
                        now,
                    );
                }
            }
            if data_allowed && self.outbox.is_empty() && self.config.batch.is_none() {
                let pushes = Pushes {
                    queue: &self.pushed,
                    outbox: &mut self.outbox,
                    samples: &mut self.samples,
                    now,
                };
                match pushes.write(w, cx) {
                    Ok(more) => pushes_left = more,
                    Err(err) => {
                        after.failure = Some(err);
                        break 'passes;
                    }
                }
            }
            // A close we started goes out once the outbox is flushed (or
            // cannot be, before authentication).
            if let Some(Ending::ByUs { close_sent }) = ending {
                let flushed = self.outbox.is_empty() && self.pushed.is_empty();
                if !*close_sent && (flushed || !data_allowed) {
                    *close_sent = true;
                    w.control.push_back(super::transport::close_frame(1000, ""));
                    continue 'passes;
                }
            }
            // The outbox made room while pushes wait: take more, a bounded
            // number of times per poll so reading gets its turn.
            let room = self.outbox.len() < self.outbox.capacity();
            if data_allowed && room && pushes_left {
                push_passes += 1;
                if push_passes < MAX_PUSH_PASSES {
                    continue 'passes;
                }
                cx.waker().wake_by_ref();
            }
            break;
        }
        if after.failure.is_none() {
            if let Poll::Ready(Err(err)) = Pin::new(&mut w.sink).poll_flush(cx) {
                after.failure = Some(err);
            }
        }
        if after.failure.is_none() && w.shutdown && w.control.is_empty() {
            if let Poll::Ready(result) = Pin::new(&mut w.sink).poll_close(cx) {
                w.shutdown = false;
                after.write_half_closed = true;
                if let Err(err) = result {
                    after.failure = Some(err);
                }
            }
        }
        after.arm_acks = self.in_flight.len() > in_flight_before;
        self.after_drive(after, ctx)
    }

    fn after_drive(&mut self, after: After, ctx: &mut Context<Self>) -> Poll<()> {
        if after.arm_acks {
            self.arm_ack_timer(ctx);
        }
        if let Some(wait) = after.wait_for_batch {
            if !self.batch_timer_armed {
                self.batch_timer_armed = true;
                ctx.run_later(wait, |act, _| {
                    act.batch_timer_armed = false;
                    act.wake_writer();
                });
            }
        }
        if let Some(err) = after.failure {
            let error = Error::network(format!("write failed: {err}"));
            self.connection_lost(error, ctx);
            return Poll::Ready(());
        }
        if after.write_half_closed {
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
