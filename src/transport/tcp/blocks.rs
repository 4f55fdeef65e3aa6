//! Blocks of text lines ended by a blank line (AMI's messages), with an
//! optional banner line first; bounded by a largest block.

use std::io;

use actix_codec::{Decoder, Encoder};
use bytes::BytesMut;

use super::text::{cut_off, put_lines, take, text, too_long, without_cr};
use crate::Payload;

/// Decodes blank-line-ended blocks (LF or CRLF) into one text message
/// each: the block's lines as sent, without the last line's ending and the
/// blank line. Blank lines between blocks are skipped.
#[derive(Debug)]
pub(crate) struct BlockCodec {
    max: usize,
    /// A first line is still to come as its own message.
    banner: bool,
    /// Where the current, incomplete line starts in the buffer.
    line_start: usize,
    /// Where the block's content ends so far (0: no content line yet).
    content_end: usize,
    /// Bytes of the buffer already searched for a line feed, so input
    /// that trickles in is searched once, not once per read.
    scanned: usize,
    /// Bytes searched in all (tests check the search is linear).
    #[cfg(test)]
    searched: usize,
}

impl BlockCodec {
    /// Blocks of at most `max` bytes (as delivered); with `banner`, one
    /// line first.
    pub(crate) fn new(max: usize, banner: bool) -> Self {
        Self {
            max,
            banner,
            line_start: 0,
            content_end: 0,
            scanned: 0,
            #[cfg(test)]
            searched: 0,
        }
    }

    fn reset(&mut self) {
        self.line_start = 0;
        self.content_end = 0;
        self.scanned = 0;
    }

    /// The next line feed at or after `from` in `src`, searching only
    /// bytes not searched before; remembers how far it searched.
    fn next_line_feed(&mut self, src: &[u8], from: usize) -> Option<usize> {
        let start = self.scanned.max(from).min(src.len());
        let found = memchr::memchr(b'\n', &src[start..]).map(|at| start + at);
        self.scanned = found.map_or(src.len(), |end| end + 1);
        #[cfg(test)]
        {
            self.searched += self.scanned - start;
        }
        found
    }

    /// The banner line, once it is complete.
    fn banner(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        let Some(end) = self.next_line_feed(src, 0) else {
            if without_cr(src) > self.max {
                return Err(too_long("banner line", self.max));
            }
            return Ok(None);
        };
        let len = without_cr(&src[..end]);
        if len > self.max {
            return Err(too_long("banner line", self.max));
        }
        self.banner = false;
        self.reset();
        text(take(src, len, end + 1 - len), "banner line").map(Some)
    }
}

impl Decoder for BlockCodec {
    type Item = Payload;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        if self.banner {
            return self.banner(src);
        }
        // Bounded by the buffer: each round moves past one line.
        while let Some(end) = self.next_line_feed(src, self.line_start) {
            let line_end = self.line_start + without_cr(&src[self.line_start..end]);
            if line_end > self.line_start {
                if line_end > self.max {
                    return Err(too_long("block", self.max));
                }
                self.content_end = line_end;
                self.line_start = end + 1;
            } else if self.content_end == 0 {
                // A blank line between blocks.
                let _ = src.split_to(end + 1);
                self.reset();
            } else {
                let len = self.content_end;
                self.reset();
                return text(take(src, len, end + 1 - len), "block").map(Some);
            }
        }
        // The block as delivered so far; a line holding nothing yet (or
        // only a CR) may still be the blank line that ends it.
        let partial = match without_cr(&src[self.line_start..]) {
            0 => self.content_end,
            rest => self.line_start + rest,
        };
        if partial > self.max {
            return Err(too_long("block", self.max));
        }
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Payload>> {
        if let Some(block) = self.decode(src)? {
            return Ok(Some(block));
        }
        // Blank lines after the last block end the stream cleanly.
        if src.iter().all(|b| *b == b'\r' || *b == b'\n') {
            src.clear();
            self.reset();
            return Ok(None);
        }
        Err(cut_off(if self.banner { "banner line" } else { "block" }))
    }
}

impl Encoder<Payload> for BlockCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> io::Result<()> {
        let start = dst.len();
        if let Err(err) = put_lines(item.as_bytes(), dst, "block") {
            dst.truncate(start);
            return Err(err);
        }
        dst.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tcp::split_tests::{decode_split, ok, Outcome};

    fn blocks(input: &[u8], max: usize, banner: bool) -> Vec<Outcome> {
        decode_split(input, || BlockCodec::new(max, banner))
    }

    #[test]
    fn blocks_at_every_split_with_lf_crlf_and_extra_blank_lines() {
        let input = b"\r\nEvent: A\r\nX: 1\r\n\r\n\nEvent: B\nY: 2\n\n\r\n\r\nZ: 3\r\n\n";
        for outcome in blocks(input, 64, false) {
            assert_eq!(
                outcome,
                ok(&["Event: A\r\nX: 1", "Event: B\nY: 2", "Z: 3"]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn input_that_trickles_in_is_searched_once() {
        for banner in [false, true] {
            let mut codec = BlockCodec::new(1 << 20, banner);
            let mut buf = BytesMut::new();
            let mut fed = 0;
            if banner {
                buf.extend_from_slice(b"hello\r\n");
                fed += 7;
                let first = codec.decode(&mut buf).unwrap().unwrap();
                assert_eq!(first.as_text(), Some("hello"));
            }
            // A 256 KiB line, 256 bytes a read; then the block's end.
            for _ in 0..1024 {
                buf.extend_from_slice(&[b'x'; 256]);
                fed += 256;
                assert!(codec.decode(&mut buf).unwrap().is_none());
                assert_eq!(codec.scanned, buf.len(), "searched up to the end");
            }
            buf.extend_from_slice(b"\r\n\r\n");
            fed += 4;
            let block = codec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(block.as_bytes().len(), 256 * 1024);
            assert!(codec.searched <= fed, "{} > {fed}", codec.searched);
        }
        // A long banner line trickling in too.
        let mut codec = BlockCodec::new(1 << 20, true);
        let mut buf = BytesMut::new();
        for _ in 0..1024 {
            buf.extend_from_slice(&[b'b'; 256]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        assert_eq!(codec.searched, 256 * 1024);
    }

    #[test]
    fn a_banner_line_comes_first_on_its_own() {
        let input = b"Asterisk Call Manager/5.0\r\nResponse: Success\r\nMessage: ok\r\n\r\n";
        for outcome in blocks(input, 64, true) {
            assert_eq!(
                outcome,
                ok(&[
                    "Asterisk Call Manager/5.0",
                    "Response: Success\r\nMessage: ok"
                ]),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_block_cut_off_by_the_end_is_unexpected_eof() {
        for outcome in blocks(b"A: 1\r\n\r\nB: 2\r\n", 64, false) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::UnexpectedEof) if got == &["A: 1"]),
                "{outcome:?}"
            );
        }
        for outcome in blocks(b"A: 1\n\n\r\n\n", 64, false) {
            assert_eq!(outcome, ok(&["A: 1"]));
        }
    }

    #[test]
    fn a_block_over_max_fails_before_its_end() {
        // "A: 1\nB: 2" is 9 bytes as delivered.
        for outcome in blocks(b"A: 1\nB: 2\n\n", 9, false) {
            assert_eq!(outcome, ok(&["A: 1\nB: 2"]));
        }
        for outcome in blocks(b"ok\n\nA: 1\nB: 23\n\n", 9, false) {
            assert!(
                matches!(&outcome, Outcome::Err(got, io::ErrorKind::InvalidData) if got == &["ok"]),
                "{outcome:?}"
            );
        }
        let mut codec = BlockCodec::new(9, false);
        let mut buf = BytesMut::from(&b"A: 1\nB: 23"[..]);
        assert!(codec.decode(&mut buf).is_err());
        for outcome in blocks(b"banner too long\n", 9, true) {
            assert!(matches!(
                outcome,
                Outcome::Err(_, io::ErrorKind::InvalidData)
            ));
        }
    }

    #[test]
    fn invalid_utf8_is_invalid_data() {
        for outcome in blocks(b"A: \xff\n\n", 64, false) {
            assert!(matches!(
                outcome,
                Outcome::Err(_, io::ErrorKind::InvalidData)
            ));
        }
    }

    #[test]
    fn messages_are_written_as_crlf_blocks() {
        let mut codec = BlockCodec::new(64, true);
        let mut out = BytesMut::new();
        codec
            .encode(Payload::text("Action: Ping\nActionID: 1\n"), &mut out)
            .unwrap();
        codec
            .encode(Payload::text("Action: Logoff\r\n"), &mut out)
            .unwrap();
        assert_eq!(
            &out[..],
            b"Action: Ping\r\nActionID: 1\r\n\r\nAction: Logoff\r\n\r\n"
        );
        for bad in ["A: 1\n\nB: 2", "", "A\rB"] {
            assert!(
                codec.encode(Payload::text(bad), &mut out).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(out.len(), 47, "a refused block writes nothing");
    }
}
