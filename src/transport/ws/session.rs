//! One WebSocket connection: the socket with its codec (read and write
//! buffers together), the control frames waiting to go out, fragment
//! reassembly and the read buffer's size policy.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{self, Poll, Waker},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Sink, Stream};

use super::{
    codec::{CodecError, Frame, FrameCodec, OpCode},
    deflate::{compress_shared, Agreed, Inflater},
    fragments::{self, Fragments},
    read_buffer::{self, ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY},
    WsFramed,
};
use crate::{
    close::{close_code_sendable, truncate_close_reason, NO_STATUS},
    transport::{Capabilities, Inbound, PeerClose, Read, Session},
    Error, Payload,
};

/// A live WebSocket connection.
pub(super) struct WsSession {
    framed: WsFramed,
    /// Pongs, pings and close frames, written ahead of data.
    control: VecDeque<Frame>,
    fragments: Fragments,
    read_policy: ReadBufferPolicy,
    /// The task's waker from the last read, woken when a control frame
    /// has to wait in the queue.
    waker: Option<Waker>,
    /// Our close frame is queued: nothing more is sent.
    close_sent: bool,
    /// The peer's close arrived: later frames are not data.
    peer_closed: bool,
    /// permessage-deflate, when the server agreed to it.
    deflate: Option<Agreed>,
    /// Made on the first compressed message (an idle connection holds none).
    inflater: Option<Inflater>,
    /// The message being received is compressed (its first frame had RSV1).
    inflating: bool,
    max_message_size: usize,
}

/// Messages shorter than this go out uncompressed: deflate saves nothing on
/// them.
const COMPRESS_FROM: usize = 64;

impl WsSession {
    pub(super) fn new(framed: WsFramed, max_message_size: usize, deflate: Option<Agreed>) -> Self {
        Self {
            framed,
            control: VecDeque::new(),
            fragments: Fragments::new(max_message_size),
            read_policy: ReadBufferPolicy::default(),
            waker: None,
            close_sent: false,
            peer_closed: false,
            deflate,
            inflater: None,
            inflating: false,
            max_message_size,
        }
    }

    /// A compressed message's frame payload, inflated (the limit counts
    /// across the message's frames).
    fn inflate(&mut self, payload: &[u8], fin: bool) -> Result<Bytes, Error> {
        let (Some(agreed), max) = (&self.deflate, self.max_message_size) else {
            return Err(protocol_fault(
                "compressed frame without permessage-deflate",
            ));
        };
        let inflater = self
            .inflater
            .get_or_insert_with(|| Inflater::new(agreed, max));
        let mut out = Vec::new();
        inflater.inflate(payload, fin, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// A data message's frame, compressed when permessage-deflate was agreed
    /// and the message is long enough to gain.
    fn outgoing(&self, payload: Payload) -> Result<Frame, Error> {
        let frame = data_frame(payload);
        let Some(agreed) = &self.deflate else {
            return Ok(frame);
        };
        if frame.payload.len() < COMPRESS_FROM {
            return Ok(frame);
        }
        let mut out = Vec::with_capacity(frame.payload.len() / 2 + 16);
        // Sent as it is when the window is too small to compress, or when
        // compressing does not make it smaller.
        if !compress_shared(agreed, &frame.payload, &mut out)? || out.len() >= frame.payload.len() {
            return Ok(frame);
        }
        Ok(Frame {
            rsv1: true,
            payload: out.into(),
            ..frame
        })
    }

    /// Queues a control frame ahead of every data message.
    ///
    /// A ping or pong with nothing ahead of it is written and flushed at
    /// once when the socket takes it: a heartbeat then costs no extra poll of
    /// the task. Anything else, or a socket that is not ready, waits for the
    /// task, which is woken.
    fn push_control(&mut self, msg: Frame) {
        let small = matches!(msg.opcode, OpCode::Ping | OpCode::Pong);
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
    fn write_and_flush(&mut self, msg: Frame) -> bool {
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
    fn on_frame(&mut self, frame: Frame, inbound: &mut Inbound) -> Result<(), Error> {
        let in_progress = self.fragments.in_progress();
        let Frame {
            fin,
            rsv1,
            opcode,
            payload,
        } = frame;
        // RSV1 starts a compressed message (the codec allows it only on a
        // first data frame, once agreed); its continuations follow it.
        let payload = if rsv1 || (self.inflating && opcode == OpCode::Continuation) {
            self.inflating = !fin;
            let inflated = self.inflate(&payload, fin)?;
            inbound.compressed(payload.len(), inflated.len());
            inflated
        } else {
            payload
        };
        let message = match opcode {
            OpCode::Text | OpCode::Binary if in_progress => {
                return Err(protocol_fault("data frame inside a fragmented message"))
            }
            OpCode::Text if fin => Some(fragments::text(payload)?),
            OpCode::Binary if fin => Some(Payload::Binary(payload)),
            OpCode::Text => self.fragments.first_text(&payload)?,
            OpCode::Binary => self.fragments.first_binary(&payload)?,
            OpCode::Continuation if !in_progress => {
                return Err(protocol_fault(
                    "continuation frame without a first fragment",
                ))
            }
            OpCode::Continuation if fin => self.fragments.last(&payload)?,
            OpCode::Continuation => self.fragments.more(&payload)?,
            OpCode::Ping => {
                // Answered with the same payload, unless we already said
                // goodbye.
                if !self.close_sent {
                    self.push_control(Frame::new(OpCode::Pong, payload));
                }
                None
            }
            OpCode::Pong => {
                inbound.pong(payload);
                None
            }
            OpCode::Close => {
                let (code, reason) = close_parts(&payload)?;
                self.peer_closed = true;
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
    /// buffer (frames the old one held are read next, in order, through
    /// the usual checks).
    fn after_read(&mut self, frames: usize, bytes: usize) {
        if self.read_policy.after_poll(frames, bytes) {
            self.rebuild_read_buffer(BUSY_CAPACITY);
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
                // Nothing after a close is data (RFC 6455 §5.5.1); a broken
                // frame after it ends the reading (the codec would repeat
                // the same error on every poll).
                if frame.is_err() {
                    return Ok(Read::Ended);
                }
                inbound.alive();
                continue;
            }
            // Whole data messages, nearly every frame of a busy stream, take
            // the short way into the burst.
            let frame = frame.map_err(codec_error)?;
            if !frame.opcode.is_control() {
                bytes += frame.payload.len();
            }
            let whole = frame.fin && !frame.rsv1 && !self.fragments.in_progress();
            match frame.opcode {
                OpCode::Text if whole => inbound.message(fragments::text(frame.payload)?),
                OpCode::Binary if whole => inbound.message(Payload::Binary(frame.payload)),
                _ => self.on_frame(frame, inbound)?,
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
                let _ = Pin::new(&mut self.framed).poll_flush(cx);
            }
        }
        error
    }

    fn rebuild_read_buffer(&mut self, capacity: usize) {
        let framed = std::mem::replace(&mut self.framed, placeholder());
        self.framed = read_buffer::rebuild(framed, capacity);
    }
}

/// A `Framed` over an empty in-memory buffer, held for the instant the
/// real one is rebuilt.
fn placeholder() -> WsFramed {
    let socket: awc::BoxedSocket = Box::new(std::io::Cursor::new(Vec::new()));
    actix_codec::Framed::new(socket, FrameCodec::new(0))
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
        let frame = self.outgoing(payload)?;
        Pin::new(&mut self.framed)
            .start_send(frame)
            .map_err(write_error)
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
            self.push_control(Frame::new(OpCode::Ping, Bytes::copy_from_slice(payload)));
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
            self.rebuild_read_buffer(QUIET_CAPACITY);
        }
    }
}

/// Converts a payload into a data frame.
fn data_frame(payload: Payload) -> Frame {
    match payload {
        Payload::Text(text) => Frame::new(OpCode::Text, text.into_bytes()),
        Payload::Binary(bytes) => Frame::new(OpCode::Binary, bytes),
        // Refused before it gets here: SSE events are inbound only.
        Payload::Event(event) => Frame::new(OpCode::Text, event.data().clone().into_bytes()),
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

/// The code and reason of a close frame's payload (RFC 6455 §5.5.1, §7.4):
/// empty, or a code a peer may send and a UTF-8 reason.
fn close_parts(payload: &[u8]) -> Result<(Option<u16>, String), Error> {
    let (code, reason) = match payload {
        [] => return Ok((None, String::new())),
        [_] => return Err(protocol_fault("close frame with a one-byte payload")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    if !close_code_sendable(code) {
        return Err(protocol_fault(&format!(
            "close code {code} may not be sent"
        )));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| {
        Error::protocol("close reason is not valid utf-8").with_close_code(Some(1007))
    })?;
    Ok((Some(code), reason.to_owned()))
}

fn protocol_fault(what: &str) -> Error {
    Error::protocol(format!("bad frame: {what}")).with_close_code(Some(1002))
}

fn codec_error(err: CodecError) -> Error {
    match err {
        CodecError::Io(e) => Error::network(format!("read failed: {e}")),
        CodecError::Protocol(error) => error,
    }
}

fn write_error(err: CodecError) -> Error {
    match err {
        CodecError::Io(e) => Error::network(format!("write failed: {e}")),
        CodecError::Protocol(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payloads_follow_rfc_6455() {
        assert_eq!(close_parts(&[]).unwrap(), (None, String::new()));
        assert_eq!(close_parts(&[3, 232]).unwrap(), (Some(1000), String::new()));
        assert_eq!(
            close_parts(b"\x0f\xa0bye").unwrap(),
            (Some(4000), "bye".to_owned())
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let err = close_parts(&code.to_be_bytes()).unwrap_err();
            assert_eq!(err.close_code(), Some(1002), "{code}");
        }
        assert_eq!(close_parts(&[3]).unwrap_err().close_code(), Some(1002));
        assert_eq!(
            close_parts(&[3, 232, 0xFF]).unwrap_err().close_code(),
            Some(1007)
        );
    }
}
