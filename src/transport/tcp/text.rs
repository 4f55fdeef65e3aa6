//! What the text framings share: their errors, and a line's bytes as text.

use std::io;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::Payload;

/// A message over the endpoint's `max_message_size`: a protocol fault
/// (`InvalidData`), found before the message is buffered whole.
pub(super) fn too_long(what: &str, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} longer than max_message_size ({max} bytes)"),
    )
}

/// The stream ended inside a message: the peer went away mid-write, a
/// network failure rather than a protocol fault.
pub(super) fn cut_off(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("connection ended inside a {what}"),
    )
}

/// `bytes` as a text message, or a protocol fault naming `what`.
pub(super) fn text(bytes: Bytes, what: &str) -> io::Result<Payload> {
    ByteString::try_from(bytes)
        .map(Payload::Text)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{what} is not utf-8")))
}

/// The length of `line` without a trailing CR.
pub(super) fn without_cr(line: &[u8]) -> usize {
    line.len() - usize::from(line.last() == Some(&b'\r'))
}

/// Takes `len` bytes off `buf` plus the `skip` bytes after them.
pub(super) fn take(buf: &mut BytesMut, len: usize, skip: usize) -> Bytes {
    let mut taken = buf.split_to(len + skip);
    taken.truncate(len);
    taken.freeze()
}

/// Writes `payload` as CRLF-ended lines (a bare LF becomes CRLF, a last
/// line without an ending gets one). `what` names the framing in errors.
///
/// # Errors
/// `InvalidInput` when the payload holds an empty line (which would end a
/// block early, or be a message of its own).
pub(super) fn put_lines(payload: &[u8], dst: &mut BytesMut, what: &str) -> io::Result<()> {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    let payload = payload.strip_suffix(b"\r").unwrap_or(payload);
    dst.reserve(payload.len() + 4);
    for line in payload.split(|b| *b == b'\n') {
        let line = &line[..without_cr(line)];
        if line.is_empty() || line.contains(&b'\r') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {what} cannot hold an empty line or a bare carriage return"),
            ));
        }
        dst.extend_from_slice(line);
        dst.extend_from_slice(b"\r\n");
    }
    Ok(())
}
