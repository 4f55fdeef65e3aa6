//! One WebSocket connection: the socket with its codec (read and write
//! buffers together), the control frames waiting to go out, the
//! [`Receiver`] that turns frames into messages, and the read buffer's size
//! policy.

use std::{
    collections::VecDeque,
    task::{self, Poll, Waker},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::ready;

use super::{
    codec::{Frame, OpCode},
    deflate::{compress_shared, Agreed},
    receiver::{Answer, Receiver},
    socket::WsSocket,
};
use crate::{
    close::truncate_close_reason,
    transport::{
        read_buffer::{ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY},
        Capabilities, Inbound, Read, Sent, Session,
    },
    Error, Payload,
};

/// A live WebSocket connection.
pub(super) struct WsSession {
    socket: WsSocket,
    /// Pongs, pings and close frames, written ahead of data.
    control: VecDeque<Frame>,
    receiver: Receiver,
    read_policy: ReadBufferPolicy,
    /// The task's waker from the last read, woken when a control frame
    /// has to wait in the queue.
    waker: Option<Waker>,
    /// Our close frame is queued: nothing more is sent.
    close_sent: bool,
    /// permessage-deflate, when the server agreed to it.
    deflate: Option<Agreed>,
}

/// Messages shorter than this go out uncompressed: deflate saves nothing on
/// them.
const COMPRESS_FROM: usize = 64;

impl WsSession {
    pub(super) fn new(socket: WsSocket, max_message_size: usize, deflate: Option<Agreed>) -> Self {
        Self {
            socket,
            control: VecDeque::new(),
            receiver: Receiver::new(max_message_size, deflate),
            read_policy: ReadBufferPolicy::default(),
            waker: None,
            close_sent: false,
            deflate,
        }
    }

    /// A data message's frame, compressed when permessage-deflate was agreed
    /// and the message is long enough to gain.
    ///
    /// A message the compressor fails on goes out uncompressed (RFC 7692
    /// lets any message be sent so): neither the message nor the
    /// connection is lost to our own compressor's fault.
    fn outgoing(&self, payload: Payload) -> Frame {
        let frame = data_frame(payload);
        let Some(agreed) = &self.deflate else {
            return frame;
        };
        if frame.payload.len() < COMPRESS_FROM {
            return frame;
        }
        let mut out = Vec::with_capacity(frame.payload.len() / 2 + 16);
        match compress_shared(agreed, &frame.payload, &mut out) {
            // Sent as it is when compressing does not make it smaller.
            Ok(true) if out.len() < frame.payload.len() => Frame {
                rsv1: true,
                payload: out.into(),
                ..frame
            },
            // The window is too small to compress at all.
            Ok(_) => frame,
            Err(error) => {
                tracing::warn!(%error, "compressing a message failed; sent uncompressed");
                frame
            }
        }
    }

    /// Whether a message of `len` bytes goes out as it is (compression not
    /// agreed, or the message too short to gain).
    fn sends_plain(&self, len: usize) -> bool {
        self.deflate.is_none() || len < COMPRESS_FROM
    }

    /// Sends a ping or a pong ahead of every data message. With nothing
    /// ahead of it, it is written and flushed at once when the socket takes
    /// it (a heartbeat then costs no extra poll of the task, and its payload
    /// no copy); else it waits in the queue (`owned` gives its payload
    /// then) and the task is woken.
    fn push_small(&mut self, opcode: OpCode, payload: &[u8], owned: impl FnOnce() -> Bytes) {
        if self.control.is_empty() && self.socket.write_ready() {
            self.socket.write_whole(opcode, payload);
            let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
            if !matches!(self.socket.poll_flush(&mut cx), Poll::Ready(Ok(()))) {
                // Not with the kernel yet: the task flushes it or meets the error.
                self.wake();
            }
            return;
        }
        self.push_control(Frame::new(opcode, owned()));
    }

    /// Queues a control frame ahead of every data message; the task is woken.
    fn push_control(&mut self, msg: Frame) {
        self.control.push_back(msg);
        self.wake();
    }

    fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// Sends what the receiver asks for: a pong, or the echo of the peer's
    /// close; nothing once our close is queued.
    fn answer(&mut self, answer: Answer) {
        match answer {
            Answer::Nothing => {}
            _ if self.close_sent => {}
            Answer::Pong(payload) => self.push_small(OpCode::Pong, &payload, || payload.clone()),
            Answer::Close(code) => {
                // Nothing follows it.
                self.close_sent = true;
                self.push_control(close_frame(code, ""));
            }
        }
    }

    /// After a read poll: a streaming connection moves to the large read
    /// buffer (frames the old one held are read next, in order, through
    /// the usual checks).
    fn after_read(&mut self, frames: usize, bytes: usize) {
        if self.read_policy.after_poll(frames, bytes) {
            self.socket.set_read_capacity(BUSY_CAPACITY);
        }
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
            // The whole frames already read, in one burst.
            let mut burst = self.socket.burst(limit - frames);
            let count = self.socket.heads().len();
            inbound.reserve(count);
            for i in 0..count {
                let head = self.socket.heads()[i];
                let frame = if i + 1 == count {
                    head.last_frame(std::mem::take(&mut burst.bytes))
                } else {
                    head.frame(&burst.bytes)
                };
                frames += 1;
                if !frame.opcode.is_control() {
                    bytes += frame.payload.len();
                }
                match self.receiver.frame(frame, inbound)? {
                    Answer::Nothing => {}
                    answer => self.answer(answer),
                }
            }
            if let Some(error) = burst.error {
                // A broken frame after the peer's close ends the reading:
                // nothing after a close is data (RFC 6455 §5.5.1).
                if self.receiver.is_closed() {
                    return Ok(Read::Ended);
                }
                return Err(error);
            }
            if frames >= limit {
                break Read::Full;
            }
            if !inbound.is_empty() && self.socket.drained() {
                // A short read's messages go to the subscribers before the
                // read that would find the socket empty: the connection
                // comes back after them (latency; a busy socket fills its
                // reads and keeps them coming in one burst).
                break Read::Full;
            }
            match self.socket.poll_fill(cx) {
                Poll::Pending => break Read::Pending,
                Poll::Ready(Ok(0)) if self.receiver.is_closed() || self.close_sent => {
                    return Ok(Read::Ended)
                }
                Poll::Ready(Ok(0)) => {
                    return Err(Error::network("connection closed without a close frame")
                        .with_close_code(Some(1006)))
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Err(Error::network(format!("read failed: {e}"))),
            }
        };
        self.after_read(frames, bytes);
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
                let _ = self.socket.poll_flush(cx);
            }
        }
        error
    }
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
        while let Some(msg) = self.control.front() {
            if !self.socket.write_ready() {
                ready!(self.socket.poll_flush(cx)).map_err(write_error)?;
                continue;
            }
            self.socket.write(msg);
            self.control.pop_front();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        if !self.control.is_empty() || self.close_sent {
            // Control frames go first; nothing follows a close.
            return Poll::Pending;
        }
        self.socket.poll_ready(cx).map_err(write_error)
    }

    fn start_send(&mut self, payload: Payload) -> Result<(), Error> {
        let frame = self.outgoing(payload);
        self.socket.write(&frame);
        Ok(())
    }

    fn start_send_all(
        &mut self,
        cx: &mut task::Context<'_>,
        queue: &mut VecDeque<Payload>,
        sent: &mut Sent,
    ) -> Result<(), Error> {
        if !self.control.is_empty() || self.close_sent {
            // As `poll_ready`: control frames first, nothing after a close.
            return Ok(());
        }
        while !queue.is_empty() {
            if self
                .socket
                .poll_ready(cx)
                .map_err(write_error)?
                .is_pending()
            {
                break;
            }
            let payload = queue.pop_front().expect("checked non-empty");
            let len = payload.len();
            match &payload {
                // Uncompressed text and binary: one whole frame straight
                // from the payload's bytes (no `Frame` to build and drop).
                Payload::Text(text) if self.sends_plain(len) => {
                    self.socket.write_whole(OpCode::Text, text.as_bytes());
                }
                Payload::Binary(bytes) if self.sends_plain(len) => {
                    self.socket.write_whole(OpCode::Binary, bytes);
                }
                _ => {
                    let frame = self.outgoing(payload);
                    self.socket.write(&frame);
                }
            }
            sent.written(len);
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        self.socket.poll_flush(cx).map_err(write_error)
    }

    fn has_pending_output(&self) -> bool {
        !self.control.is_empty() || !self.socket.is_flushed()
    }

    fn poll_shutdown(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Error>> {
        self.socket.poll_shutdown(cx).map_err(write_error)
    }

    fn ping(&mut self, payload: &[u8]) {
        if !self.close_sent {
            self.push_small(OpCode::Ping, payload, || Bytes::copy_from_slice(payload));
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
        if self.read_policy.on_tick(self.socket.read_buf_is_empty()) {
            self.socket.set_read_capacity(QUIET_CAPACITY);
        }
    }
}

/// Converts a payload into a data frame.
fn data_frame(payload: Payload) -> Frame {
    match payload {
        Payload::Text(text) => Frame::new(OpCode::Text, text.into_bytes()),
        Payload::Binary(bytes) => Frame::new(OpCode::Binary, bytes),
        // Refused before it gets here: SSE events and comments are inbound only.
        Payload::Event(event) => Frame::new(OpCode::Text, event.data().clone().into_bytes()),
        Payload::Comment(text) => Frame::new(OpCode::Text, text.into_bytes()),
    }
}

/// A close frame with the reason cut to the RFC limit.
fn close_frame(code: u16, reason: &str) -> Frame {
    let reason = truncate_close_reason(reason);
    let mut payload = BytesMut::with_capacity(2 + reason.len());
    payload.put_u16(code);
    payload.put_slice(reason.as_bytes());
    Frame::new(OpCode::Close, payload.freeze())
}

fn write_error(err: std::io::Error) -> Error {
    Error::network(format!("write failed: {err}"))
}
