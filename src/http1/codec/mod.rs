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

/// Makes room for the next read when little is left, once what the buffer
/// holds is a partial line at most: bytes still to be handed out would be
/// copied into the new buffer (the old one is shared with the pieces
/// handed out), so the room is made after they are.
fn reserve_read_ahead(buf: &mut BytesMut, last_read: usize) {
    if buf.len() < MIN_READ_AHEAD / 8 && buf.capacity() - buf.len() < MIN_READ_AHEAD / 8 {
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
mod tests;
