//! One WebSocket connection: the socket with its codec (read and write
//! buffers together), the control frames waiting to go out, fragment
//! reassembly and the read buffer's size policy.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{self, Poll, Waker},
};

use actix_http::ws::{Item, ProtocolError};
use awc::ws::{CloseReason, Frame, Message};
use bytes::Bytes;
use futures::{Sink, Stream};

use super::{
    fragments::{self, Fragments},
    read_buffer::{self, ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY},
    WsFramed,
};
use crate::{
    close::{truncate_close_reason, NO_STATUS},
    transport::{Capabilities, Inbound, PeerClose, Read, Session},
    Error, Payload,
};

/// A live WebSocket connection.
pub(super) struct WsSession {
    framed: WsFramed,
    /// Pongs, pings and close frames, written ahead of data.
    control: VecDeque<Message>,
    fragments: Fragments,
    read_policy: ReadBufferPolicy,
    /// The task's waker from the last read, woken when a control frame
    /// has to wait in the queue.
    waker: Option<Waker>,
    /// Our close frame is queued: nothing more is sent.
    close_sent: bool,
    /// The peer's close arrived: later frames are not data.
    peer_closed: bool,
}

impl WsSession {
    pub(super) fn new(framed: WsFramed, max_message_size: usize) -> Self {
        Self {
            framed,
            control: VecDeque::new(),
            fragments: Fragments::new(max_message_size),
            read_policy: ReadBufferPolicy::default(),
            waker: None,
            close_sent: false,
            peer_closed: false,
        }
    }

    /// Queues a control frame ahead of every data message.
    ///
    /// A ping or pong with nothing ahead of it is written and flushed at
    /// once when the socket takes it: a heartbeat then costs no extra poll of
    /// the task. Anything else, or a socket that is not ready, waits for the
    /// task, which is woken.
    fn push_control(&mut self, msg: Message) {
        let small = matches!(msg, Message::Ping(_) | Message::Pong(_));
        if small && self.control.is_empty() && self.ready_now() {
            if !self.write_and_flush(msg) {
                // Not with the kernel yet: the task flushes it or meets the error.
                self.wake();
            }
            return;
        }
        self.control.push_back(msg);
        self.wake();
    }

    /// Whether the socket buffer has room now (errors are the task's to meet).
    fn ready_now(&mut self) -> bool {
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        matches!(
            Pin::new(&mut self.framed).poll_ready(&mut cx),
            Poll::Ready(Ok(()))
        )
    }

    /// Encodes `msg` into the socket buffer (which has room) and tries to
    /// flush it; true when the bytes are with the kernel.
    fn write_and_flush(&mut self, msg: Message) -> bool {
        if Pin::new(&mut self.framed).start_send(msg).is_err() {
            return false;
        }
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        matches!(
            Pin::new(&mut self.framed).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        )
    }

    fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// Handles a frame other than a whole data message.
    fn on_frame(
        &mut self,
        frame: Result<Frame, ProtocolError>,
        inbound: &mut Inbound,
    ) -> Result<(), Error> {
        let message = match frame.map_err(frame_error)? {
            Frame::Text(_) | Frame::Binary(_) if self.fragments.in_progress() => {
                return Err(Error::protocol("data frame inside a fragmented message"))
            }
            Frame::Text(bytes) => Some(fragments::text(bytes)?),
            Frame::Binary(bytes) => Some(Payload::Binary(bytes)),
            Frame::Continuation(item) => match item {
                Item::FirstText(b) => self.fragments.first_text(&b)?,
                Item::FirstBinary(b) => self.fragments.first_binary(&b)?,
                Item::Continue(b) => self.fragments.more(&b)?,
                Item::Last(b) => self.fragments.last(&b)?,
            },
            Frame::Ping(payload) => {
                // Answered with the same payload (awc does not do it for
                // us), unless we already said goodbye.
                if !self.close_sent {
                    self.push_control(Message::Pong(payload));
                }
                None
            }
            Frame::Pong(payload) => {
                inbound.pong(payload);
                None
            }
            Frame::Close(reason) => {
                self.peer_closed = true;
                let (code, reason) = close_parts(reason);
                if !self.close_sent {
                    // Echo the close (RFC 6455 §5.5.1); nothing follows it.
                    self.close_sent = true;
                    let echo = code.filter(|c| *c != NO_STATUS).unwrap_or(1000);
                    self.push_control(close_frame(echo, ""));
                }
                inbound.closed(PeerClose { code, reason });
                None
            }
        };
        match message {
            Some(payload) => inbound.message(payload),
            None => inbound.alive(),
        }
        Ok(())
    }

    /// After a read poll: a streaming connection moves to the large read
    /// buffer; complete frames the old buffer held are handled first.
    fn after_read(
        &mut self,
        frames: usize,
        bytes: usize,
        inbound: &mut Inbound,
    ) -> Result<(), Error> {
        if !self.read_policy.after_poll(frames, bytes) {
            return Ok(());
        }
        let mut held = Vec::new();
        self.rebuild_read_buffer(BUSY_CAPACITY, &mut held);
        held.into_iter()
            .try_for_each(|frame| self.on_frame(frame, inbound))
    }

    /// Reads a burst of frames into `inbound`.
    fn read_frames(
        &mut self,
        cx: &mut task::Context<'_>,
        inbound: &mut Inbound,
    ) -> Result<Read, Error> {
        if self
            .waker
            .as_ref()
            .is_none_or(|known| !known.will_wake(cx.waker()))
        {
            self.waker = Some(cx.waker().clone());
        }
        let limit = inbound.limit();
        let (mut frames, mut bytes) = (0, 0);
        let status = loop {
            if frames >= limit {
                break Read::Full;
            }
            let frame = match Pin::new(&mut self.framed).poll_next(cx) {
                Poll::Pending => break Read::Pending,
                Poll::Ready(Some(frame)) => frame,
                Poll::Ready(None) if self.peer_closed || self.close_sent => return Ok(Read::Ended),
                Poll::Ready(None) => {
                    return Err(Error::network("connection closed without a close frame")
                        .with_close_code(Some(1006)))
                }
            };
            frames += 1;
            if self.peer_closed {
                // Nothing after a close is data (RFC 6455 §5.5.1).
                inbound.alive();
                continue;
            }
            // Whole data messages, nearly every frame of a busy stream, take
            // the short way into the burst.
            let whole = !self.fragments.in_progress();
            match frame {
                Ok(Frame::Text(data)) if whole => {
                    bytes += data.len();
                    inbound.message(fragments::text(data)?);
                }
                Ok(Frame::Binary(data)) if whole => {
                    bytes += data.len();
                    inbound.message(Payload::Binary(data));
                }
                other => {
                    bytes += data_len(&other);
                    self.on_frame(other, inbound)?;
                }
            }
        };
        self.after_read(frames, bytes, inbound)?;
        Ok(status)
    }

    /// A failure we know the close code for (1002 bad frame, 1007 invalid
    /// UTF-8, 1009 too big) sends that Close before the socket goes (RFC
    /// 6455 §7.1.7), as far as the socket takes it now.
    fn fail(&mut self, cx: &mut task::Context<'_>, error: Error) -> Error {
        let code = error
            .close_code()
            .filter(|c| matches!(c, 1002 | 1007 | 1009));
        if let (Some(code), false) = (code, self.close_sent) {
            self.close_sent = true;
            self.control.push_back(close_frame(code, ""));
            if let Poll::Ready(Ok(())) = Session::poll_control(self, cx) {
                let _ = Pin::new(&mut self.framed).poll_flush(cx);
            }
        }
        error
    }

    fn rebuild_read_buffer(
        &mut self,
        capacity: usize,
        held: &mut Vec<Result<Frame, ProtocolError>>,
    ) {
        let framed = std::mem::replace(&mut self.framed, placeholder());
        self.framed = read_buffer::rebuild(framed, capacity, held);
    }
}

/// A `Framed` over an empty in-memory buffer, held for the instant the
/// real one is rebuilt.
fn placeholder() -> WsFramed {
    let socket: awc::BoxedSocket = Box::new(std::io::Cursor::new(Vec::new()));
    actix_codec::Framed::new(socket, awc::ws::Codec::new())
}

impl Session for WsSession {
    fn capabilities(&self) -> Capabilities {
        Capabilities::duplex()
            .with_pings(true)
            .with_close_handshake(true)
    }

    fn read(&mut self, cx: &mut task::Context<'_>, inbound: &mut Inbound) -> Result<Read, Error> {
        self.read_frames(cx, inbound)
            .map_err(|error| self.fail(cx, error))
    }

    fn poll_control(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        while !self.control.is_empty() {
            match Pin::new(&mut self.framed).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let msg = self.control.pop_front().expect("checked non-empty");
                    Pin::new(&mut self.framed)
                        .start_send(msg)
                        .map_err(write_error)?;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(write_error(err))),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        if !self.control.is_empty() || self.close_sent {
            // Control frames go first; nothing follows a close.
            return Poll::Pending;
        }
        Pin::new(&mut self.framed)
            .poll_ready(cx)
            .map_err(write_error)
    }

    fn start_send(&mut self, payload: Payload) -> Result<(), Error> {
        Pin::new(&mut self.framed)
            .start_send(data_frame(payload))
            .map_err(|err| Error::protocol(format!("could not encode message: {err}")))
    }

    fn poll_flush(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.framed)
            .poll_flush(cx)
            .map_err(write_error)
    }

    fn poll_shutdown(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.framed)
            .poll_close(cx)
            .map_err(write_error)
    }

    fn ping(&mut self, payload: &[u8]) {
        if !self.close_sent {
            self.push_control(Message::Ping(Bytes::copy_from_slice(payload)));
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            self.push_control(close_frame(code, reason));
        }
    }

    fn tick(&mut self) {
        // A connection that went quiet returns to the small read buffer
        // (only when it holds no bytes, so no frame is held).
        if self.read_policy.on_tick(self.framed.is_read_buf_empty()) {
            let mut held = Vec::new();
            self.rebuild_read_buffer(QUIET_CAPACITY, &mut held);
            debug_assert!(held.is_empty(), "an empty buffer holds no frames");
        }
    }
}

/// Converts a payload into a data frame.
fn data_frame(payload: Payload) -> Message {
    match payload {
        Payload::Text(text) => Message::Text(text),
        Payload::Binary(bytes) => Message::Binary(bytes),
        // Refused before it gets here: SSE events are inbound only.
        Payload::Event(event) => Message::Text(event.data().clone()),
    }
}

/// A close frame with the reason cut to the RFC limit.
fn close_frame(code: u16, reason: &str) -> Message {
    let reason = truncate_close_reason(reason);
    Message::Close(Some(CloseReason {
        code: code.into(),
        description: (!reason.is_empty()).then(|| reason.to_owned()),
    }))
}

fn close_parts(reason: Option<CloseReason>) -> (Option<u16>, String) {
    match reason {
        Some(r) => (Some(u16::from(r.code)), r.description.unwrap_or_default()),
        None => (None, String::new()),
    }
}

/// Bytes of message data a frame carries (zero for control frames).
fn data_len(frame: &Result<Frame, ProtocolError>) -> usize {
    match frame {
        Ok(Frame::Text(data) | Frame::Binary(data)) => data.len(),
        Ok(Frame::Continuation(
            Item::FirstText(data)
            | Item::FirstBinary(data)
            | Item::Continue(data)
            | Item::Last(data),
        )) => data.len(),
        _ => 0,
    }
}

fn frame_error(err: ProtocolError) -> Error {
    match err {
        // The codec reports reserved bits as invalid data; a TLS failure
        // mid-stream also arrives as invalid data, with rustls's error in it.
        ProtocolError::Io(e)
            if e.kind() == std::io::ErrorKind::InvalidData
                && !e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            Error::protocol(format!("bad frame: {e}")).with_close_code(Some(1002))
        }
        ProtocolError::Io(e) => Error::network(format!("read failed: {e}")),
        ProtocolError::Overflow => {
            Error::protocol("frame larger than max_message_size").with_close_code(Some(1009))
        }
        other => Error::protocol(format!("bad frame: {other}")).with_close_code(Some(1002)),
    }
}

fn write_error(err: ProtocolError) -> Error {
    Error::network(format!("write failed: {err}"))
}
