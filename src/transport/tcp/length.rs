//! Frames of a big-endian length (two or four bytes), then that many bytes.

use std::io;

use actix_codec::{Decoder, Encoder};
use bytes::{Buf, BytesMut};

use super::text::{cut_off, too_long};
use crate::Payload;

/// The size of a frame's length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    U16,
    U32,
}

impl Width {
    const fn bytes(self) -> usize {
        match self {
            Self::U16 => 2,
            Self::U32 => 4,
        }
    }

    /// The largest length the field holds.
    const fn max(self) -> u64 {
        match self {
            Self::U16 => u16::MAX as u64,
            Self::U32 => u32::MAX as u64,
        }
    }
}

/// Most bytes reserved ahead for a frame still arriving.
const RESERVE_STEP: usize = 64 * 1024;

/// Decodes length-prefixed frames into binary messages, refusing a length
/// over the largest message before reading its bytes.
#[derive(Debug)]
pub(crate) struct LengthCodec {
    width: Width,
    max: usize,
}

impl LengthCodec {
    /// Frames with a `width` length of at most `max` bytes.
    pub(crate) fn new(width: Width, max: usize) -> Self {
        Self { width, max }
    }

    /// The length in the header at the front of `src`, if it is complete.
    fn length(&self, src: &[u8]) -> Option<u64> {
        Some(match self.width {
            Width::U16 => u64::from(u16::from_be_bytes(src.get(..2)?.try_into().ok()?)),
            Width::U32 => u64::from(u32::from_be_bytes(src.get(..4)?.try_into().ok()?)),
        })
    }
}

impl Decoder for LengthCodec {
    type Item = Payload;
    type Error = io::Error;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        let Some(len) = self.length(src) else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.max)
            .ok_or_else(|| too_long("frame", self.max))?;
        let header = self.width.bytes();
        // Saturating: `max` may be as large as `usize::MAX`.
        let whole = header.saturating_add(len);
        if src.len() < whole {
            // Room for the rest, a bounded step at a time: a peer that
            // announces a large frame and stalls holds little memory.
            src.reserve((whole - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(header);
        Ok(Some(Payload::Binary(src.split_to(len).freeze())))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(cut_off("frame")),
        }
    }
}

impl Encoder<Payload> for LengthCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> io::Result<()> {
        let bytes = item.as_bytes();
        if bytes.len() as u64 > self.width.max() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame holds at most {} bytes", self.width.max()),
            ));
        }
        dst.reserve(self.width.bytes() + bytes.len());
        // Checked above.
        #[allow(clippy::cast_possible_truncation)]
        match self.width {
            Width::U16 => dst.extend_from_slice(&(bytes.len() as u16).to_be_bytes()),
            Width::U32 => dst.extend_from_slice(&(bytes.len() as u32).to_be_bytes()),
        }
        dst.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tcp::split_tests::{decode_split, ok, Outcome};

    fn frames(input: &[u8], width: Width, max: usize) -> Vec<Outcome> {
        decode_split(input, || LengthCodec::new(width, max))
    }

    #[test]
    fn frames_at_every_split_for_both_widths() {
        for outcome in frames(b"\x00\x03abc\x00\x00\x00\x02\n\r", Width::U16, 3) {
            assert_eq!(outcome, ok(&["abc", "", "\n\r"]), "{outcome:?}");
        }
        let input = b"\x00\x00\x00\x03abc\x00\x00\x00\x00\x00\x00\x00\x01z";
        for outcome in frames(input, Width::U32, 3) {
            assert_eq!(outcome, ok(&["abc", "", "z"]), "{outcome:?}");
        }
    }

    #[test]
    fn a_length_over_max_fails_before_the_bytes_arrive() {
        let mut codec = LengthCodec::new(Width::U32, 1024);
        let mut buf = BytesMut::from(&b"\x00\x00\x04\x01"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(buf.capacity() < 1024, "nothing reserved for it");
        let mut codec = LengthCodec::new(Width::U32, usize::MAX);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none(), "within max");
        assert!(
            buf.capacity() <= 4 + RESERVE_STEP,
            "reserved a step at a time"
        );
        for outcome in frames(b"\x00\x01a\x00\x02ab", Width::U16, 1) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::InvalidData) if got == &["a"]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_frame_cut_off_by_the_end_is_unexpected_eof() {
        for outcome in frames(b"\x00\x01a\x00\x02a", Width::U16, 8) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::UnexpectedEof) if got == &["a"]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn messages_are_written_with_their_length() {
        let mut out = BytesMut::new();
        LengthCodec::new(Width::U16, 8)
            .encode(Payload::text("hi"), &mut out)
            .unwrap();
        LengthCodec::new(Width::U32, 8)
            .encode(Payload::binary(&b"\x00"[..]), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x00\x02hi\x00\x00\x00\x01\x00");
        let big = Payload::binary(vec![0; 70_000]);
        assert!(LengthCodec::new(Width::U16, 8)
            .encode(big, &mut out)
            .is_err());
    }
}
