//! The client's side of one HTTP/1.1 exchange (RFC 9112) whose response
//! body is read as it arrives: the request written out, the response head
//! parsed (with `httparse`), and the body decoded incrementally whatever
//! its framing: chunked (§7.1, extensions and trailers included),
//! `Content-Length`, or delimited by the server closing the connection
//! (HTTP/1.1 without a length, and HTTP/1.0).
//!
//! Everything here is pure: bytes in (split anywhere), parts out. Every
//! buffer is bounded: a response head (with its interim 1xx heads) and a
//! chunked body's trailers by [`MAX_RESPONSE_HEAD_SIZE`], a chunk-size line
//! (with its extensions) by [`MAX_CHUNK_LINE`]; body data is handed out as
//! soon as it is read, never collected.
//!
//! Used by the SSE transport, which does its own exchange over the
//! connector's stream because awc reads an HTTP/1.1 response without a
//! length as having no body (actix-web issue 2287).

mod body;
mod chunked;
mod codec;
mod head;
mod request;
mod summary;

use std::{borrow::Cow, fmt, io};

#[doc(hidden)]
pub use self::summary::{read_response, ResponseSummary};
pub(crate) use self::{
    codec::{Part, ResponseCodec},
    head::{Framing, ResponseHead},
    request::RequestHead,
};

/// Largest response head we read: the status line and header fields, with
/// any interim (1xx) responses before it; also the bound on a chunked
/// body's trailer section. 16 KiB holds any head a streaming server sends
/// (common servers cap theirs at 8 to 16 KiB) while a server that never
/// ends its head cannot grow our memory.
pub const MAX_RESPONSE_HEAD_SIZE: usize = 16 * 1024;

/// Longest chunk-size line (size, extensions and CRLF) of a chunked body.
pub(crate) const MAX_CHUNK_LINE: usize = 4 * 1024;

/// Why reading a response failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The bytes break HTTP/1.1's grammar or framing: not an HTTP response,
    /// a head over the limit, an invalid chunk size, a chunk longer than
    /// announced.
    Framing(Cow<'static, str>),
    /// The connection ended before the response did (inside the head, a
    /// chunk, or short of `Content-Length`).
    Truncated(&'static str),
    /// Reading the socket failed.
    Io(io::Error),
}

impl ReadError {
    pub(crate) fn framing(problem: impl Into<Cow<'static, str>>) -> Self {
        Self::Framing(problem.into())
    }
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Framing(problem) => write!(f, "invalid http response: {problem}"),
            Self::Truncated(where_) => write!(f, "connection closed {where_}"),
            Self::Io(err) => write!(f, "read failed: {err}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Feeding a decoder input split at every position.

    use bytes::BytesMut;

    /// Runs `decode` over `input` handed over in the pieces that cutting at
    /// `cuts` makes, as a socket would: each piece appended to what the
    /// decoder left unread, then `decode` called until it wants more.
    /// Returns what it produced, or the first error's text.
    pub(crate) fn feed<T>(
        input: &[u8],
        cuts: &[usize],
        mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, super::ReadError>,
    ) -> Result<Vec<T>, String> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([input.len()]) {
            buf.extend_from_slice(&input[start..end]);
            start = end;
            // Each call consumes input or returns None: bounded by the input.
            for _ in 0..=input.len() + 1 {
                match decode(&mut buf).map_err(|e| e.to_string())? {
                    Some(item) => out.push(item),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Every way to cut `input` in two, and the cut into single bytes.
    pub(crate) fn splits(input: &[u8]) -> impl Iterator<Item = Vec<usize>> {
        let len = input.len();
        (0..=len)
            .map(|at| vec![at])
            .chain(std::iter::once((1..len).collect()))
    }
}
