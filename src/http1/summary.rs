//! One whole response read the way the SSE transport reads it, summed up:
//! the entry point of the `http1_response` fuzz target.

use actix_codec::Decoder;
use bytes::BytesMut;

use super::codec::{Part, ResponseCodec};

/// What reading one response came to, for the fuzz target.
#[doc(hidden)]
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The final head's status, once read.
    pub status: Option<u16>,
    /// The body's bytes, joined.
    pub body: Vec<u8>,
    /// The body ended as its framing says.
    pub complete: bool,
    /// Reading failed (framing, or the input ended early).
    pub failed: bool,
}

/// Reads `pieces` (a server's bytes, in the reads they arrived in, then
/// the end of the stream) as the SSE transport reads a response, with heads
/// of at most `max_head` bytes; the body is kept only up to `max_body`
/// bytes. For the fuzz target (`fuzz/fuzz_targets/http1_response.rs`).
#[doc(hidden)]
pub fn read_response(pieces: &[&[u8]], max_head: usize, max_body: usize) -> ResponseSummary {
    let mut codec = ResponseCodec::new(max_head);
    let mut buf = BytesMut::new();
    let mut summary = ResponseSummary::default();
    let take = |part: Part, summary: &mut ResponseSummary| match part {
        Part::Head(head) => summary.status = Some(head.status),
        Part::Data(data) => {
            let room = max_body.saturating_sub(summary.body.len());
            summary
                .body
                .extend_from_slice(&data[..data.len().min(room)]);
        }
        Part::End => summary.complete = true,
    };
    for piece in pieces {
        buf.extend_from_slice(piece);
        // Each decode takes bytes off the buffer or returns None.
        for _ in 0..=buf.len() + 2 {
            match codec.decode(&mut buf) {
                Ok(Some(part)) => take(part, &mut summary),
                Ok(None) => break,
                Err(_) => {
                    summary.failed = true;
                    return summary;
                }
            }
            if summary.complete {
                return summary;
            }
        }
    }
    for _ in 0..=buf.len() + 2 {
        match codec.decode_eof(&mut buf) {
            Ok(Some(part)) => take(part, &mut summary),
            Ok(None) => break,
            Err(_) => {
                summary.failed = true;
                break;
            }
        }
        if summary.complete {
            break;
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_entry_reads_the_same_response_at_every_split() {
        let summary = |body: &[u8], complete: bool| ResponseSummary {
            status: Some(200),
            body: body.to_vec(),
            complete,
            failed: !complete,
        };
        let cases: [(&[u8], ResponseSummary); 3] = [
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: v\r\n\r\n",
                summary(b"abc", true),
            ),
            (
                b"HTTP/1.0 200 OK\r\n\r\nuntil close",
                summary(b"until close", true),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                summary(b"short", false),
            ),
        ];
        for (input, expected) in cases {
            for cut in 0..=input.len() {
                let got = read_response(&[&input[..cut], &input[cut..]], 1024, 1024);
                assert_eq!(got, expected, "cut at {cut}");
            }
        }
    }
}
