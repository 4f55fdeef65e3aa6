//! One response read off a connection, as an `actix-codec` codec: the head
//! (interim 1xx heads skipped), then the body as it arrives, then its end.
//! The request goes out through the same codec, as bytes.

use std::borrow::Cow;

use actix_codec::{Decoder, Encoder};
use bytes::{Bytes, BytesMut};

use super::{body::BodyDecoder, chunked::Chunk, ReadError, ResponseHead, MAX_RESPONSE_HEAD_SIZE};

/// Interim (1xx) responses skipped before the final one.
const MAX_INTERIM_RESPONSES: u8 = 8;

/// The read buffer's room for the next read, after body bytes are handed
/// out: twice what the last read brought, within these bounds, so a busy
/// stream reads up to 64 KiB per call while a quiet one keeps 8 KiB.
const MIN_READ_AHEAD: usize = 8 * 1024;
const MAX_READ_AHEAD: usize = 64 * 1024;

/// What the codec reads.
#[derive(Debug)]
pub(crate) enum Part {
    /// The final response head; the body follows.
    Head(ResponseHead),
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// Where in the response the codec is.
#[derive(Debug)]
enum Phase {
    /// Reading heads: `used` bytes of the head budget spent on interim
    /// ones; the buffer held `parsed` bytes when a head was last found
    /// incomplete (0: not yet tried).
    Head {
        interim: u8,
        used: usize,
        parsed: usize,
    },
    /// Reading the body.
    Body(BodyDecoder),
    /// The head announced framing that cannot be trusted; reading the
    /// body fails with this.
    Unframed(Cow<'static, str>),
}

/// Reads one HTTP/1.x response; writes the request's bytes as they are.
#[derive(Debug)]
pub(crate) struct ResponseCodec {
    phase: Phase,
    max_head: usize,
}

impl Default for ResponseCodec {
    fn default() -> Self {
        Self::new(MAX_RESPONSE_HEAD_SIZE)
    }
}

impl ResponseCodec {
    /// A codec that allows heads of at most `max_head` bytes (interim ones
    /// included).
    pub(crate) fn new(max_head: usize) -> Self {
        Self {
            phase: Phase::Head {
                interim: 0,
                used: 0,
                parsed: 0,
            },
            max_head,
        }
    }

    fn decode_head(
        &mut self,
        buf: &mut BytesMut,
        mut interim: u8,
        mut used: usize,
        parsed: usize,
    ) -> Result<Option<Part>, ReadError> {
        if !worth_parsing(buf, parsed, self.max_head - used) {
            return Ok(None);
        }
        // Each pass takes a head off `buf` or returns.
        for _ in 0..=MAX_INTERIM_RESPONSES {
            let before = buf.len();
            let Some(head) = ResponseHead::parse(buf, self.max_head - used)? else {
                self.phase = Phase::Head {
                    interim,
                    used,
                    parsed: buf.len(),
                };
                return Ok(None);
            };
            used += before - buf.len();
            if head.status == 101 {
                return Err(ReadError::framing("101 switching protocols, unasked"));
            }
            if !head.is_interim() {
                self.phase = match head.framing() {
                    Ok(framing) => Phase::Body(BodyDecoder::new(framing)),
                    Err(ReadError::Framing(problem)) => Phase::Unframed(problem),
                    Err(other) => return Err(other),
                };
                return Ok(Some(Part::Head(head)));
            }
            interim += 1;
            if interim > MAX_INTERIM_RESPONSES {
                break;
            }
        }
        Err(ReadError::framing(format!(
            "more than {MAX_INTERIM_RESPONSES} interim responses"
        )))
    }
}

/// Whether a head that was incomplete at `parsed` bytes is worth parsing
/// again now: the first time, once the buffer holds the blank line that
/// ends a head, past the `limit` (to fail), or after the buffer doubled
/// (so a server that is not speaking HTTP still fails early). A head that
/// trickles in a byte at a time is parsed a logarithmic number of times,
/// not once per byte.
fn worth_parsing(buf: &[u8], parsed: usize, limit: usize) -> bool {
    if parsed == 0 || buf.len() > limit || buf.len() >= parsed.saturating_mul(2) {
        return true;
    }
    // A blank line may have started in the bytes already seen.
    let fresh = &buf[parsed.saturating_sub(3).min(buf.len())..];
    memchr::memchr_iter(b'\n', fresh)
        .any(|at| matches!(&fresh[at + 1..], [b'\n', ..] | [b'\r', b'\n', ..]))
}

/// Makes room for the next read when little is left (`buf` holds at most
/// a partial chunk-size line here).
fn reserve_read_ahead(buf: &mut BytesMut, last_read: usize) {
    if buf.capacity() - buf.len() < MIN_READ_AHEAD / 8 {
        buf.reserve(
            last_read
                .saturating_mul(2)
                .clamp(MIN_READ_AHEAD, MAX_READ_AHEAD),
        );
    }
}

fn part(chunk: Option<Chunk>) -> Option<Part> {
    chunk.map(|chunk| match chunk {
        Chunk::Data(bytes) => Part::Data(bytes),
        Chunk::End => Part::End,
    })
}

impl Decoder for ResponseCodec {
    type Item = Part;
    type Error = ReadError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Part>, ReadError> {
        match &mut self.phase {
            Phase::Head {
                interim,
                used,
                parsed,
            } => {
                let (interim, used, parsed) = (*interim, *used, *parsed);
                self.decode_head(buf, interim, used, parsed)
            }
            Phase::Body(body) => {
                let chunk = body.decode(buf)?;
                if let Some(Chunk::Data(data)) = &chunk {
                    reserve_read_ahead(buf, data.len());
                }
                Ok(part(chunk))
            }
            Phase::Unframed(problem) => Err(ReadError::Framing(problem.clone())),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Part>, ReadError> {
        if let Phase::Body(body) = &mut self.phase {
            return body.decode_eof(buf).map(part);
        }
        match self.decode(buf)? {
            Some(part) => Ok(Some(part)),
            None if buf.is_empty() => Err(ReadError::Truncated("before a response")),
            None => Err(ReadError::Truncated("inside the response head")),
        }
    }
}

impl Encoder<Bytes> for ResponseCodec {
    type Error = ReadError;

    fn encode(&mut self, request: Bytes, dst: &mut BytesMut) -> Result<(), ReadError> {
        dst.extend_from_slice(&request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::testing::{feed, splits};

    /// A summary of every part read from `input`, then the end of input.
    fn read(input: &[u8], max_head: usize) -> Result<Vec<String>, String> {
        let mut first = None;
        for cuts in splits(input) {
            let mut codec = ResponseCodec::new(max_head);
            let mut rest = BytesMut::new();
            let got = feed(input, &cuts, |buf| {
                let part = codec.decode(buf);
                rest = buf.clone();
                part
            })
            .and_then(|mut parts| {
                for _ in 0..4 {
                    match codec.decode_eof(&mut rest).map_err(|e| e.to_string())? {
                        Some(part) => parts.push(part),
                        None => break,
                    }
                }
                Ok(parts)
            })
            .map(|parts| {
                parts
                    .into_iter()
                    .map(|part| match part {
                        Part::Head(head) => format!("head {}", head.status),
                        Part::Data(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                        Part::End => "end".to_owned(),
                    })
                    .collect::<Vec<_>>()
            })
            // Data may come in any number of pieces: join neighbours.
            .map(|parts| {
                let mut joined: Vec<String> = Vec::new();
                for part in parts {
                    match joined.last_mut() {
                        Some(last) if !is_marker(last) && !is_marker(&part) => {
                            last.push_str(&part);
                        }
                        _ => joined.push(part),
                    }
                }
                joined
            });
            match &first {
                None => first = Some(got),
                Some(first) => assert_eq!(*first, got, "cuts {cuts:?}"),
            }
        }
        first.unwrap()
    }

    fn is_marker(part: &str) -> bool {
        part == "end" || part.starts_with("head ")
    }

    #[test]
    fn interim_heads_are_skipped_and_each_framing_is_read() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n";
        assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata and more";
        assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
        let input = b"HTTP/1.0 200 OK\r\n\r\ndata";
        assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
        let input = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(read(input, 1024).unwrap(), ["head 200", "end"]);
    }

    #[test]
    fn heads_count_against_one_budget() {
        let interim = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n";
        let input = format!("{interim}{interim}{interim}HTTP/1.1 200 OK\r\n\r\n");
        let err = read(input.as_bytes(), interim.len() * 3).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        assert!(read(input.as_bytes(), input.len()).is_ok());
        let endless = interim.repeat(usize::from(MAX_INTERIM_RESPONSES) + 1);
        let err = read(endless.as_bytes(), 64 * 1024).unwrap_err();
        assert!(err.contains("interim responses"), "{err}");
    }

    #[test]
    fn untrusted_framing_fails_only_when_the_body_is_read() {
        let mut codec = ResponseCodec::default();
        let mut buf = BytesMut::from(&b"HTTP/1.1 302 Found\r\nContent-Length: x\r\n\r\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(Some(Part::Head(_)))));
        assert!(matches!(codec.decode(&mut buf), Err(ReadError::Framing(_))));
    }

    #[test]
    fn read_ahead_follows_the_last_read_within_bounds() {
        let spare_after = |body: usize| {
            let mut codec = ResponseCodec::default();
            let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n\r\n"[..]);
            assert!(matches!(codec.decode(&mut buf), Ok(Some(Part::Head(_)))));
            buf.extend_from_slice(&vec![b'x'; body]);
            let Ok(Some(Part::Data(data))) = codec.decode(&mut buf) else {
                panic!("data");
            };
            assert_eq!(data.len(), body);
            buf.capacity() - buf.len()
        };
        assert!((MIN_READ_AHEAD..2 * MIN_READ_AHEAD).contains(&spare_after(100)));
        assert!((MAX_READ_AHEAD..2 * MAX_READ_AHEAD).contains(&spare_after(1 << 20)));
    }

    /// A deterministic xorshift generator: the same inputs every run.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn mutated_responses_in_random_pieces_never_panic_or_grow_the_buffer() {
        let seeds: [&[u8]; 3] = [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5;x=y\r\ndata:\r\n3\r\n a\n\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndata: a\n\n",
            b"HTTP/1.0 200 OK\nContent-Type: text/event-stream\n\ndata: a\n\n",
        ];
        let max_head = 256;
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let (mut heads, mut errors) = (0, 0);
        for round in 0..3000 {
            let mut input = seeds[round % seeds.len()].to_vec();
            for _ in 0..next() % 4 {
                let at = usize::try_from(next()).unwrap_or(0) % (input.len() + 1);
                let byte = next().to_le_bytes()[0];
                match next() % 3 {
                    0 if at < input.len() => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ if at < input.len() => {
                        input.remove(at);
                    }
                    _ => {}
                }
            }
            let mut codec = ResponseCodec::new(max_head);
            let mut buf = BytesMut::new();
            let mut pos = 0;
            let mut ended = false;
            'feed: while pos < input.len() {
                let end = (pos + 1 + usize::try_from(next() % 16).unwrap_or(0)).min(input.len());
                buf.extend_from_slice(&input[pos..end]);
                pos = end;
                for _ in 0..=input.len() {
                    match codec.decode(&mut buf) {
                        Ok(Some(Part::End)) => {
                            ended = true;
                            break 'feed;
                        }
                        Err(_) => {
                            errors += 1;
                            ended = true;
                            break 'feed;
                        }
                        Ok(Some(Part::Head(_))) => heads += 1,
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                    }
                }
                assert!(buf.len() <= max_head + 16, "round {round}: {}", buf.len());
            }
            for _ in 0..=input.len() {
                if ended || !matches!(codec.decode_eof(&mut buf), Ok(Some(_))) {
                    break;
                }
            }
        }
        // Both paths were taken, often.
        assert!(
            heads > 1000 && errors > 100,
            "{heads} heads, {errors} errors"
        );
    }

    #[test]
    fn a_connection_closed_early_is_truncated() {
        assert_eq!(
            read(b"", 1024).unwrap_err(),
            "connection closed before a response"
        );
        assert_eq!(
            read(b"HTTP/1.1 200 OK\r\n", 1024).unwrap_err(),
            "connection closed inside the response head"
        );
        let err = read(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 1024).unwrap_err();
        assert!(err.contains("101"), "{err}");
    }

    #[test]
    fn a_head_read_a_byte_at_a_time_is_parsed_a_few_times_not_per_byte() {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n".to_vec();
        for i in 0..100 {
            let value = "v".repeat(100);
            head.extend_from_slice(format!("X-Field-{i}: {value}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let (mut parsed, mut parses) = (0, 0);
        for len in 1..=head.len() {
            if worth_parsing(&head[..len], parsed, 64 * 1024) {
                parses += 1;
                parsed = len;
            }
        }
        // The first byte, each doubling, and the blank line.
        assert!(
            parses <= 16,
            "{parses} parses of a {} byte head",
            head.len()
        );
        assert_eq!(parsed, head.len(), "the last byte completes the head");
        // The whole head through the codec, a byte at a time, still reads.
        let mut codec = ResponseCodec::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for byte in &head {
            buf.extend_from_slice(&[*byte]);
            if let Some(part) = codec.decode(&mut buf).unwrap() {
                got = Some(part);
            }
        }
        assert!(matches!(got, Some(Part::Head(h)) if h.status == 200));
    }
}
