//! Text lines ending in LF or CRLF, bounded by a longest line.

use std::io;

use actix_codec::{Decoder, Encoder};
use bytes::{BufMut, BytesMut};

use super::text::{cut_off, take, text, too_long, without_cr};
use crate::Payload;

/// Decodes LF- or CRLF-ended text lines (without their ending) and writes
/// each message as one CRLF-ended line.
#[derive(Debug)]
pub(crate) struct LineCodec {
    max: usize,
    /// Bytes already searched for a line feed.
    scanned: usize,
}

impl LineCodec {
    /// Lines of at most `max` bytes, not counting their ending.
    pub(crate) fn new(max: usize) -> Self {
        Self { max, scanned: 0 }
    }
}

impl Decoder for LineCodec {
    type Item = Payload;
    type Error = io::Error;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        let from = self.scanned.min(src.len());
        let Some(at) = memchr::memchr(b'\n', &src[from..]) else {
            self.scanned = src.len();
            // A CR may still turn out to be the line's ending.
            if without_cr(src) > self.max {
                return Err(too_long("line", self.max));
            }
            return Ok(None);
        };
        let end = from + at;
        self.scanned = 0;
        let len = without_cr(&src[..end]);
        if len > self.max {
            return Err(too_long("line", self.max));
        }
        text(take(src, len, end + 1 - len), "line").map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        if let Some(line) = self.decode(src)? {
            return Ok(Some(line));
        }
        if src.is_empty() {
            return Ok(None);
        }
        // A last line without its ending: delivered, as `nc` or a
        // `printf` leaves it. A lone CR is not a line.
        let len = without_cr(src);
        if len == 0 {
            return Err(cut_off("line"));
        }
        self.scanned = 0;
        let rest = src.len() - len;
        text(take(src, len, rest), "line").map(Some)
    }
}

impl Encoder<Payload> for LineCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> io::Result<()> {
        let line = item.as_bytes();
        if line.iter().any(|b| *b == b'\n' || *b == b'\r') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a line cannot hold a line break",
            ));
        }
        dst.reserve(line.len() + 2);
        dst.put_slice(line);
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tcp::split_tests::{decode_split, ok, Outcome};

    fn lines(input: &[u8], max: usize) -> Vec<Outcome> {
        decode_split(input, || LineCodec::new(max))
    }

    #[test]
    fn lf_and_crlf_lines_at_every_split() {
        for outcome in lines(b"one\r\ntwo\nthree\r\n\n\xc3\xa9t\xc3\xa9\r\n", 16) {
            assert_eq!(
                outcome,
                ok(&["one", "two", "three", "", "été"]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_last_line_without_ending_is_delivered_at_the_end() {
        for outcome in lines(b"a\nlast", 16) {
            assert_eq!(outcome, ok(&["a", "last"]));
        }
        for outcome in lines(b"a\n\r", 16) {
            assert!(matches!(
                outcome,
                Outcome::Err(_, io::ErrorKind::UnexpectedEof)
            ));
        }
    }

    #[test]
    fn the_longest_line_is_max_and_longer_ones_fail_before_their_end() {
        for outcome in lines(b"12345\r\n1234\n", 5) {
            assert_eq!(outcome, ok(&["12345", "1234"]));
        }
        for outcome in lines(b"ok\n123456\n", 5) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::InvalidData) if got == &["ok"]),
                "{outcome:?}"
            );
        }
        // Never buffered whole: six bytes without an ending already fail.
        let mut codec = LineCodec::new(5);
        let mut buf = BytesMut::from(&b"123456"[..]);
        assert!(codec.decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"12345\r"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn invalid_utf8_is_invalid_data() {
        for outcome in lines(b"ok\n\xff\xfe\n", 16) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::InvalidData) if got == &["ok"]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn messages_are_written_as_crlf_lines_and_line_breaks_refused() {
        let mut codec = LineCodec::new(16);
        let mut out = BytesMut::new();
        codec.encode(Payload::text("PING"), &mut out).unwrap();
        codec.encode(Payload::binary(&b"x"[..]), &mut out).unwrap();
        assert_eq!(&out[..], b"PING\r\nx\r\n");
        assert!(codec.encode(Payload::text("a\nb"), &mut out).is_err());
        assert!(codec.encode(Payload::text("a\r"), &mut out).is_err());
    }
}
