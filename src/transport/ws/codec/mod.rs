//! The client side of the RFC 6455 framing: a decoder for the server's
//! frames (unmasked) that checks every header rule and takes a burst of
//! whole frames out of the read buffer in one split, without copying a
//! payload, and an encoder that masks every frame it writes with a fresh
//! key.
//!
//! Pure: no socket, no actor. Message-level rules (fragment order, UTF-8,
//! close payloads) live with the [`Receiver`](super::receiver::Receiver);
//! frame-level ones live here.

use std::fmt;

use bytes::{Bytes, BytesMut};

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
        heads: &mut Vec<Head>,
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

/// Writes `frame` masked with `key` (RFC 6455 §5.3).
pub(crate) fn encode_masked(frame: &Frame, key: [u8; 4], dst: &mut BytesMut) {
    let first = (u8::from(frame.fin) << 7) | (u8::from(frame.rsv1) << 6) | frame.opcode.bits();
    encode_masked_parts(first, &frame.payload, key, dst);
}

/// Masks a whole, uncompressed frame with `opcode` and `payload` into
/// `dst` (a control frame written at once needs no `Frame`, so no copy of
/// its payload).
pub(crate) fn encode_masked_whole(
    opcode: OpCode,
    payload: &[u8],
    key: [u8; 4],
    dst: &mut BytesMut,
) {
    encode_masked_parts(0x80 | opcode.bits(), payload, key, dst);
}

/// Masks a frame with the first header byte `first` and `payload` into `dst`.
fn encode_masked_parts(first: u8, payload: &[u8], key: [u8; 4], dst: &mut BytesMut) {
    let len = payload.len();
    if let Ok(short) = u8::try_from(len) {
        if short <= 125 {
            // A short frame is masked on the stack as it is copied and goes
            // into `dst` whole: one copy, no mask pass over `dst`.
            let mut frame = [0u8; 6 + 125];
            frame[0] = first;
            frame[1] = 0x80 | short;
            frame[2..6].copy_from_slice(&key);
            mask_into(&mut frame[6..6 + len], payload, key);
            dst.extend_from_slice(&frame[..6 + len]);
            return;
        }
    }
    // The header and key go in with one copy, the payload with another.
    let mut head = [0u8; 14];
    head[0] = first;
    let at = match len {
        0..=125 => {
            head[1] = 0x80 | u8::try_from(len).expect("below 126");
            2
        }
        126..=0xFFFF => {
            head[1] = 0x80 | 126;
            head[2..4].copy_from_slice(&u16::try_from(len).expect("below 64 KiB").to_be_bytes());
            4
        }
        _ => {
            head[1] = 0x80 | 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    head[at..at + 4].copy_from_slice(&key);
    dst.reserve(at + 4 + len);
    dst.extend_from_slice(&head[..at + 4]);
    let start = dst.len();
    dst.extend_from_slice(payload);
    apply_mask(&mut dst[start..], key);
}

/// Masking keys drawn from the thread's CSPRNG sixteen at a time (RFC 6455
/// §5.3, §10.3: unpredictable), so a busy writer does not reach for the
/// generator on every frame. Each key is used once.
#[derive(Debug)]
pub(crate) struct MaskKeys {
    keys: [[u8; 4]; KEYS_PER_DRAW],
    /// Keys already used (`KEYS_PER_DRAW`: draw again).
    used: usize,
}

/// Keys drawn at once: 64 bytes per connection, one generator call per 16
/// frames.
const KEYS_PER_DRAW: usize = 16;

impl Default for MaskKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl MaskKeys {
    /// A pool that draws on first use.
    pub(crate) fn new() -> Self {
        Self {
            keys: [[0; 4]; KEYS_PER_DRAW],
            used: KEYS_PER_DRAW,
        }
    }

    /// The next unused key.
    #[inline]
    pub(crate) fn next(&mut self) -> [u8; 4] {
        if self.used >= KEYS_PER_DRAW {
            self.draw();
        }
        let key = self.keys[self.used];
        self.used += 1;
        key
    }

    #[cold]
    fn draw(&mut self) {
        rand::fill(self.keys.as_flattened_mut());
        self.used = 0;
    }
}

/// Writes `src` XORed with the repeating `key` into `dst` (of the same
/// length), a word at a time.
fn mask_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut to = dst.chunks_exact_mut(8);
    let mut from = src.chunks_exact(8);
    for (to, from) in (&mut to).zip(&mut from) {
        let masked = u64::from_ne_bytes(from.try_into().expect("eight bytes")) ^ word;
        to.copy_from_slice(&masked.to_ne_bytes());
    }
    let to = to.into_remainder();
    for (i, (to, from)) in to.iter_mut().zip(from.remainder()).enumerate() {
        *to = from ^ key[i % 4];
    }
}

/// XORs `data` with the repeating `key`, a word at a time.
pub(crate) fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let masked = u64::from_ne_bytes(chunk.try_into().expect("eight bytes")) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    for (i, byte) in rest.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests;
