//! The client side of the RFC 6455 framing: a decoder for the server's
//! frames (unmasked) that checks every header rule and takes a burst of
//! whole frames out of the read buffer in one split, without copying a
//! payload, and an encoder that masks every frame it writes with a fresh
//! key.
//!
//! Pure: no socket, no actor. Message-level rules (fragment order, UTF-8,
//! close payloads) live with the [`Receiver`](super::receiver::Receiver);
//! frame-level ones live here.

mod encode;

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

pub(crate) use self::encode::{encode_masked, encode_masked_whole, MaskKeys};
use crate::Error;

/// The largest control-frame payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// The most read-buffer room asked for ahead of a frame's payload.
const RESERVE_AHEAD: usize = 64 * 1024;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub(crate) fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// One frame.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    /// RSV1: the message is compressed (permessage-deflate), on its first
    /// frame only.
    pub(crate) rsv1: bool,
    pub(crate) opcode: OpCode,
    pub(crate) payload: Bytes,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("fin", &self.fin)
            .field("rsv1", &self.rsv1)
            .field("opcode", &self.opcode)
            .field("len", &self.payload.len())
            .finish()
    }
}

impl Frame {
    /// A whole (unfragmented) frame.
    pub(crate) fn new(opcode: OpCode, payload: impl Into<Bytes>) -> Self {
        Self {
            fin: true,
            rsv1: false,
            opcode,
            payload: payload.into(),
        }
    }
}

/// A broken header: the connection fails with close code 1002.
fn bad_frame(what: &str) -> Error {
    Error::protocol(format!("bad frame: {what}")).with_close_code(Some(1002))
}

/// Decodes server frames and encodes (masked) client frames.
#[derive(Debug)]
pub(crate) struct FrameCodec {
    /// The largest data-frame payload taken.
    max_payload: usize,
    /// RSV1 is allowed on a message's first data frame (permessage-deflate
    /// was agreed).
    compression: bool,
}

impl FrameCodec {
    pub(crate) fn new(max_payload: usize) -> Self {
        Self {
            max_payload,
            compression: false,
        }
    }

    /// Allows RSV1 on the first frame of a data message (permessage-deflate
    /// was agreed).
    pub(crate) fn with_compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// Parses a header at the start of `src`: the frame's first bits and
    /// where its payload lies (from the start of `src`); `None` until the
    /// header is complete.
    #[inline]
    fn header(&self, src: &[u8]) -> Result<Option<Head>, Error> {
        let [first, second, ..] = *src else {
            return Ok(None);
        };
        // Nearly every frame of a stream: a whole text or binary frame,
        // unmasked, with no reserved bit, shorter than 64 KiB. Its first
        // byte and the length forms say all the rules below would.
        if first == 0x81 || first == 0x82 {
            let opcode = if first == 0x81 {
                OpCode::Text
            } else {
                OpCode::Binary
            };
            let short = |start: usize, len: usize| {
                (len <= self.max_payload).then_some(Head {
                    fin: true,
                    rsv1: false,
                    opcode,
                    start,
                    end: start + len,
                })
            };
            let fast = match second {
                0..=125 => short(2, usize::from(second)),
                126 => match src.get(2..4) {
                    Some(&[high, low]) => short(4, usize::from(u16::from_be_bytes([high, low]))),
                    _ => return Ok(None),
                },
                _ => None,
            };
            if fast.is_some() {
                return Ok(fast);
            }
        }
        let fin = first & 0x80 != 0;
        let rsv1 = first & 0x40 != 0;
        if first & 0x30 != 0 {
            return Err(bad_frame("reserved bits RSV2/RSV3 set"));
        }
        let opcode = OpCode::from_bits(first & 0x0F).ok_or_else(|| bad_frame("reserved opcode"))?;
        if second & 0x80 != 0 {
            return Err(bad_frame("masked frame from the server"));
        }
        let (len, header) = match second & 0x7F {
            126 => match src.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match src.get(2..10) {
                Some(b) => {
                    let len = u64::from_be_bytes(b.try_into().expect("eight bytes"));
                    if len >> 63 != 0 {
                        return Err(bad_frame("payload length with its top bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(bad_frame("fragmented control frame"));
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(bad_frame("control frame over 125 bytes"));
            }
        }
        if rsv1 && (!self.compression || opcode.is_control() || opcode == OpCode::Continuation) {
            return Err(bad_frame(
                "reserved bit RSV1 set without a compressed message start",
            ));
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_payload {
            return Err(Error::protocol(format!(
                "frame larger than max_message_size ({} bytes)",
                self.max_payload
            ))
            .with_close_code(Some(1009)));
        }
        Ok(Some(Head {
            fin,
            rsv1,
            opcode,
            start: header,
            // At most max_payload + 10: no overflow.
            end: header + len,
        }))
    }

    /// Takes the whole frames at the front of `src`, at most `max_frames`,
    /// off it in one split: their heads go into `heads` (cleared first) and
    /// their payloads are slices of the returned bytes, so no frame is
    /// copied or allocated for. A bad header ends the walk: the frames
    /// before it come back with the error. The burst says how many bytes
    /// the incomplete frame after them still lacks, for the reader to make
    /// room (at most 64 KiB at a time: a header alone must not make us
    /// allocate a whole message).
    pub(crate) fn split_burst(
        &self,
        src: &mut BytesMut,
        max_frames: usize,
        heads: &mut impl HeadList,
    ) -> Burst {
        heads.clear();
        let (mut at, mut missing, mut error) = (0, 0, None);
        while heads.len() < max_frames {
            match self.header(&src[at..]) {
                Ok(Some(head)) => {
                    let (start, end) = (at + head.start, at + head.end);
                    if end > src.len() {
                        missing = end - src.len();
                        break;
                    }
                    heads.push(Head { start, end, ..head });
                    at = end;
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let bytes = if at == 0 {
            Bytes::new()
        } else if at == src.capacity() {
            // The frames fill the buffer to its end (a quiet connection's
            // read holds just what arrived): no room is left to keep, so
            // the buffer goes whole, without a split.
            std::mem::take(src).freeze()
        } else {
            src.split_to(at).freeze()
        };
        Burst {
            bytes,
            missing: missing.min(RESERVE_AHEAD),
            error,
        }
    }
}

/// One frame of a burst: its first bits and where its payload lies in the
/// burst's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    start: usize,
    end: usize,
}

impl Head {
    /// The frame, its payload a slice of `bytes` (the burst's).
    #[inline]
    pub(crate) fn frame(&self, bytes: &Bytes) -> Frame {
        Frame {
            fin: self.fin,
            rsv1: self.rsv1,
            opcode: self.opcode,
            payload: bytes.slice(self.start..self.end),
        }
    }

    /// The burst's last frame, taking the burst's `bytes` (its payload
    /// runs to their end): no reference count to raise and drop, as a
    /// slice would.
    #[inline]
    pub(crate) fn last_frame(&self, mut bytes: Bytes) -> Frame {
        debug_assert_eq!(self.end, bytes.len(), "not the burst's last frame");
        bytes.advance(self.start);
        Frame {
            fin: self.fin,
            rsv1: self.rsv1,
            opcode: self.opcode,
            payload: bytes,
        }
    }
}

/// Where [`FrameCodec::split_burst`] puts a burst's heads.
pub(crate) trait HeadList {
    /// Forgets the heads held.
    fn clear(&mut self);
    /// Adds one.
    fn push(&mut self, head: Head);
    /// How many are held.
    fn len(&self) -> usize;
}

impl HeadList for Vec<Head> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn push(&mut self, head: Head) {
        Vec::push(self, head);
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// A burst's heads: a burst of one frame (a quiet connection's pong) is
/// held inline, touching no allocation; longer bursts use a `Vec` kept for
/// its allocation.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    len: usize,
    first: Option<Head>,
    /// Every head, the first included, once there are two or more.
    all: Vec<Head>,
}

impl Heads {
    /// The heads, in order.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Head] {
        match (self.len, &self.first) {
            (1, Some(first)) => std::slice::from_ref(first),
            (0, _) => &[],
            _ => &self.all,
        }
    }
}

impl HeadList for Heads {
    #[inline]
    fn clear(&mut self) {
        self.len = 0;
    }
    #[inline]
    fn push(&mut self, head: Head) {
        match self.len {
            0 => self.first = Some(head),
            1 => {
                self.all.clear();
                self.all.extend(self.first);
                self.all.push(head);
            }
            _ => self.all.push(head),
        }
        self.len += 1;
    }
    #[inline]
    fn len(&self) -> usize {
        self.len
    }
}

/// What [`FrameCodec::split_burst`] took off the read buffer.
#[derive(Debug)]
pub(crate) struct Burst {
    /// The burst's frames, headers and payloads.
    pub(crate) bytes: Bytes,
    /// Bytes the incomplete frame left in the buffer still lacks (at most
    /// 64 KiB).
    pub(crate) missing: usize,
    /// The bad header that ended the walk, after the frames before it.
    pub(crate) error: Option<Error>,
}

#[cfg(test)]
mod tests;
