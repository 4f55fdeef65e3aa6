//! The upgraded WebSocket socket with its two buffers: reads land in the
//! read buffer, whole frames leave it a burst at a time (see
//! [`FrameCodec::split_burst`]); frames to send are masked into the write
//! buffer and flushed from it.
//!
//! It owns the buffers rather than going through a generic `Framed`, so a
//! burst of frames costs one split of the read buffer, and the buffers'
//! sizes follow the connection's traffic ([`ReadBufferPolicy`]).

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};

use actix_codec::AsyncWrite;
use awc::BoxedSocket;
use bytes::{Buf, Bytes, BytesMut};

use super::codec::{self, Burst, Frame, FrameCodec, Head, HeadList, Heads, MaskKeys, OpCode};
use crate::transport::read_buffer::QUIET_CAPACITY;

/// A read with less room than this first makes room for the read
/// buffer's full capacity.
const READ_ROOM_LOW: usize = 1024;
/// Writes wait for a flush while this much is buffered: 16 KiB takes about
/// 230 frames of 64 B per write call (8 KiB, as awc's, left the outbound
/// benchmark a few percent behind raw awc on one core).
const WRITE_HIGH: usize = 16 * 1024;
/// An empty write buffer larger than this (after a large message) is
/// released.
const WRITE_KEEP: usize = 64 * 1024;

thread_local! {
    /// Room the quiet connections of this thread read into, taken a read
    /// at a time (each keeps what it read, sharing the allocation); a fresh
    /// one is made once less than [`READ_ROOM_LOW`] is left. A frame kept
    /// by a subscriber holds at most this much, as a connection's own quiet
    /// buffer did.
    static QUIET_ROOM: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// The socket and its buffers.
pub(super) struct WsSocket {
    io: BoxedSocket,
    read_buf: BytesMut,
    /// How much the read buffer holds room for when it is refilled.
    read_capacity: usize,
    write_buf: BytesMut,
    /// Masking keys, each used for one frame (a pool per socket: a
    /// thread-wide pool saved 72 bytes per connection but cost a
    /// thread-local lookup per frame, about 35 instructions).
    keys: MaskKeys,
    codec: FrameCodec,
    /// The heads of the last burst (kept for their allocation).
    heads: Heads,
    /// What the incomplete frame in the read buffer still lacks.
    missing: usize,
    /// The peer closed its side of TCP.
    eof: bool,
    /// The last read took less than it had room for: the socket has most
    /// likely nothing more right now.
    drained: bool,
    /// Everything written to the socket since has been flushed through it
    /// (a TLS stream may hold written bytes until flushed): a flush with
    /// nothing buffered then costs no call into the socket's layers.
    flushed: bool,
}

impl WsSocket {
    /// Wraps the upgraded socket; `read_buf` holds what the handshake read
    /// past the response (an empty one is dropped: the first read makes a
    /// quiet connection's smaller buffer).
    pub(super) fn new(io: BoxedSocket, read_buf: BytesMut, codec: FrameCodec) -> Self {
        let read_buf = if read_buf.is_empty() {
            BytesMut::new()
        } else {
            read_buf
        };
        Self {
            io,
            read_buf,
            read_capacity: QUIET_CAPACITY,
            write_buf: BytesMut::new(),
            keys: MaskKeys::new(),
            codec,
            heads: Heads::default(),
            missing: 0,
            eof: false,
            drained: false,
            flushed: true,
        }
    }

    /// Takes the whole frames the read buffer holds, at most `max_frames`;
    /// the heads are in [`heads`](Self::heads) until the next burst.
    pub(super) fn burst(&mut self, max_frames: usize) -> Burst {
        if self.read_buf.is_empty() {
            // Nothing read yet (every poll of an idle connection starts so).
            self.heads.clear();
            self.missing = 0;
            return Burst {
                bytes: Bytes::new(),
                missing: 0,
                error: None,
            };
        }
        let burst = self
            .codec
            .split_burst(&mut self.read_buf, max_frames, &mut self.heads);
        self.missing = burst.missing;
        if self.read_buf.is_empty() && self.read_capacity <= QUIET_CAPACITY {
            // The frames keep their bytes; the buffer's room is let go.
            self.read_buf = BytesMut::new();
        }
        burst
    }

    /// The heads of the last burst.
    pub(super) fn heads(&self) -> &[Head] {
        self.heads.as_slice()
    }

    /// Reads more from the socket: `Ready(Ok(0))` at the end of the
    /// stream (and every time after it).
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.eof {
            return Poll::Ready(Ok(0));
        }
        if self.read_buf.is_empty() && self.read_capacity <= QUIET_CAPACITY {
            return self.poll_fill_quiet(cx);
        }
        // Room for the rest of an incomplete frame, and at least a little;
        // when there is less, a buffer of the full read capacity (a fresh
        // one while frames still hold the old).
        let len = self.read_buf.len();
        let need = self.missing.max(READ_ROOM_LOW);
        if self.read_buf.capacity() - len < need {
            self.read_buf
                .reserve(self.read_capacity.max(len + need) - len);
        }
        let room = self.read_buf.capacity() - self.read_buf.len();
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf);
        match read {
            Poll::Ready(Ok(0)) => self.eof = true,
            Poll::Ready(Ok(n)) => self.drained = n < room,
            _ => {}
        }
        read
    }

    /// Whether the last read took less than it had room for (the socket
    /// most likely has nothing more right now).
    pub(super) fn drained(&self) -> bool {
        self.drained
    }

    /// A quiet connection with nothing buffered reads into its thread's
    /// [`QUIET_ROOM`] and keeps just what arrived: an idle connection holds
    /// no read buffer between reads (it would be most of its memory), and a
    /// read costs no allocation of its own.
    fn poll_fill_quiet(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        QUIET_ROOM.with_borrow_mut(|room| {
            if room.capacity() < READ_ROOM_LOW {
                // The old room stays with the frames read into it.
                *room = BytesMut::with_capacity(QUIET_CAPACITY);
            }
            let space = room.capacity() - room.len();
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                room
            ))?;
            if read == 0 {
                self.eof = true;
            } else {
                self.drained = read < space;
                self.read_buf = room.split();
            }
            Poll::Ready(Ok(read))
        })
    }

    /// Whether the read buffer holds nothing (no part of a frame).
    pub(super) fn read_buf_is_empty(&self) -> bool {
        self.read_buf.is_empty()
    }

    /// Sets the read buffer's capacity for the next refill. Growing takes
    /// effect at once; shrinking only swaps an empty buffer (part of a frame
    /// stays where it is).
    pub(super) fn set_read_capacity(&mut self, capacity: usize) {
        self.read_capacity = capacity;
        if capacity > self.read_buf.capacity() {
            self.read_buf.reserve(capacity - self.read_buf.len());
        } else if self.read_buf.is_empty() {
            self.read_buf = BytesMut::new();
        }
    }

    /// Whether the write buffer has room for another frame.
    pub(super) fn write_ready(&self) -> bool {
        self.write_buf.len() < WRITE_HIGH
    }

    /// Ready once the write buffer has room (flushing it if not).
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_ready() {
            Poll::Ready(Ok(()))
        } else {
            self.poll_flush(cx)
        }
    }

    /// Masks `frame` into the write buffer.
    pub(super) fn write(&mut self, frame: &Frame) {
        codec::encode_masked(frame, self.keys.next(), &mut self.write_buf);
    }

    /// Masks a whole, uncompressed frame into the write buffer.
    pub(super) fn write_whole(&mut self, opcode: OpCode, payload: &[u8]) {
        codec::encode_masked_whole(opcode, payload, self.keys.next(), &mut self.write_buf);
    }

    /// Whether everything written has gone through the socket (nothing
    /// buffered, nothing held by its layers).
    pub(super) fn is_flushed(&self) -> bool {
        self.flushed && self.write_buf.is_empty()
    }

    /// Writes the buffer to the socket and flushes it.
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_flushed() {
            return Poll::Ready(Ok(()));
        }
        while !self.write_buf.is_empty() {
            let n = match Pin::new(&mut self.io).poll_write(cx, &self.write_buf) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.flushed = false;
            self.write_buf.advance(n);
        }
        if self.write_buf.capacity() > WRITE_KEEP {
            self.write_buf = BytesMut::new();
        } else {
            // Written out: the next frames go to the front of the buffer
            // again, which is still in the CPU's cache, rather than past
            // what was just written (callgrind, 64 B frames: cache misses
            // writing the buffer fell from 1.25 to 0.44 per frame).
            let _ = self.write_buf.try_reclaim(self.write_buf.capacity() + 1);
        }
        let flushed = ready!(Pin::new(&mut self.io).poll_flush(cx));
        self.flushed = flushed.is_ok();
        Poll::Ready(flushed)
    }

    /// Flushes what is buffered, then shuts down our side of TCP.
    pub(super) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_shutdown(cx),
            other => other,
        }
    }
}
