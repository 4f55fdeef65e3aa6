//! An incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size   = 1*HEXDIG
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! ```
//!
//! Chunk data is handed out as it arrives (a large chunk is never
//! collected); extensions are read and ignored, as are trailer fields
//! (§7.1.2 lets a recipient discard them). Chunk lines must end in CRLF;
//! trailer lines may end in a bare LF (§2.2).

use bytes::{Buf, Bytes, BytesMut};

use super::{ReadError, MAX_CHUNK_LINE, MAX_RESPONSE_HEAD_SIZE};

/// What the decoder hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The last chunk and the trailers have been read: the body is complete.
    End,
}

/// Where in the chunked body the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far, and whether a hex digit
    /// has been read (leading zeros are any number of digits, bounded
    /// only by the line's length).
    Size { size: u64, any: bool },
    /// After the size and whitespace: only `;` or CR may follow.
    SizeSpace { size: u64 },
    /// In the extensions.
    Extension { size: u64 },
    /// After the size line's CR.
    SizeLf { size: u64 },
    /// In a chunk's data.
    Data { left: u64 },
    /// After a chunk's data: its CR.
    DataCr,
    /// After a chunk's data: its LF.
    DataLf,
    /// In the trailer section; `line` bytes of the current field line read.
    Trailers { line: usize },
    /// The body is complete (and `End` handed out).
    Done,
}

impl State {
    /// At the start of a chunk-size line.
    const NEXT_CHUNK: Self = Self::Size {
        size: 0,
        any: false,
    };
}

/// Chunk data pieces smaller than this that are ready together are handed
/// out joined (copied into one buffer): a server that flushes every event
/// as its own chunk costs the reader one piece per read, not one per event.
/// Larger pieces go out as the buffer's own bytes.
const JOIN_BELOW: usize = 4 * 1024;

/// The most bytes one joined piece holds.
const JOINED_MAX: usize = 64 * 1024;

/// Decodes a chunked body from a read buffer.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Bytes of the current chunk-size line, or of the trailer section.
    control: usize,
    /// What came after a joined piece: handed out next.
    after_joined: Option<Result<Chunk, ReadError>>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: State::NEXT_CHUNK,
            control: 0,
            after_joined: None,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the last chunk and the trailer section have been read and
    /// handed out.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done && self.after_joined.is_none()
    }

    /// Takes what it can from `buf`: chunk data, the end of the body once,
    /// or `None` when it needs more input. Small chunks ready together come
    /// out as one piece (see [`JOIN_BELOW`]); an error after them comes at
    /// the next call, so the data before it is read first.
    ///
    /// # Errors
    /// An invalid chunk size, a chunk longer than announced (its data not
    /// followed by CRLF), a line without CRLF, or a size line or trailer
    /// section over its bound.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, ReadError> {
        if let Some(next) = self.after_joined.take() {
            return next.map(Some);
        }
        let first = match self.decode_piece(buf)? {
            Some(Chunk::Data(first)) if first.len() < JOIN_BELOW && !buf.is_empty() => first,
            other => return Ok(other),
        };
        let mut joined = BytesMut::new();
        // Each round takes at least one byte of `buf` and the joined piece
        // stays under its bound.
        while !buf.is_empty() {
            let room = JOINED_MAX - first.len().max(joined.len());
            if let Some(data) = self.whole_chunk(buf).filter(|d| d.len() <= room) {
                if joined.is_empty() {
                    joined.reserve(JOINED_MAX.min(first.len() + buf.len()));
                    joined.extend_from_slice(&first);
                }
                joined.extend_from_slice(&buf[data.clone()]);
                buf.advance(data.end);
                self.state = State::DataCr;
                self.control = 0;
                continue;
            }
            match self.decode_piece(buf) {
                Ok(None) => break,
                Ok(Some(Chunk::Data(piece))) if piece.len() < JOIN_BELOW && piece.len() <= room => {
                    if joined.is_empty() {
                        joined.reserve(JOINED_MAX.min(first.len() + buf.len() + piece.len()));
                        joined.extend_from_slice(&first);
                    }
                    joined.extend_from_slice(&piece);
                }
                Ok(Some(other)) => {
                    self.after_joined = Some(Ok(other));
                    break;
                }
                Err(err) => {
                    self.after_joined = Some(Err(err));
                    break;
                }
            }
        }
        if joined.is_empty() {
            return Ok(Some(Chunk::Data(first)));
        }
        Ok(Some(Chunk::Data(joined.freeze())))
    }

    /// A whole small chunk at the start of `buf`, between chunks (after
    /// the previous chunk's data, its CRLF included): a size line without
    /// extensions and all of the data. Returns the data's range and where
    /// it ends; taking it leaves the decoder after that data (its CRLF
    /// next). `None` for anything else, which the byte-by-byte path then
    /// reads and judges. For servers that write every event as its own
    /// chunk.
    fn whole_chunk(&self, buf: &[u8]) -> Option<std::ops::Range<usize>> {
        let line = match self.state {
            State::NEXT_CHUNK => 0,
            State::DataCr if buf.starts_with(b"\r\n") => 2,
            _ => return None,
        };
        // JOIN_BELOW fits in three hex digits; more go the long way.
        let size_line = &buf[line..];
        let digits = size_line
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if !(1..=3).contains(&digits) || size_line.get(digits..digits + 2) != Some(b"\r\n") {
            return None;
        }
        let size = size_line[..digits].iter().fold(0, |size, &digit| {
            size << 4 | char::from(digit).to_digit(16).unwrap_or(0)
        });
        let size = usize::try_from(size).ok()?;
        let start = line + digits + 2;
        let data = start..start + size;
        (size > 0 && size < JOIN_BELOW && data.end <= buf.len()).then_some(data)
    }

    /// One piece: chunk data as the buffer's own bytes, the end, or `None`.
    fn decode_piece(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, ReadError> {
        let mut used = 0;
        let result = loop {
            if let State::Data { left } = self.state {
                buf.advance(used);
                used = 0;
                if buf.is_empty() {
                    break Ok(None);
                }
                let take = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
                self.state = match left - take as u64 {
                    0 => State::DataCr,
                    left => State::Data { left },
                };
                break Ok(Some(Chunk::Data(buf.split_to(take).freeze())));
            }
            if self.state == State::Done {
                break Ok(None);
            }
            let Some(&byte) = buf.get(used) else {
                break Ok(None);
            };
            used += 1;
            match self.step(byte) {
                Ok(true) => break Ok(Some(Chunk::End)),
                Ok(false) => {}
                Err(err) => break Err(err),
            }
        };
        buf.advance(used);
        result
    }

    /// Reads one control byte (anything but chunk data); `true` when it
    /// ends the body.
    fn step(&mut self, byte: u8) -> Result<bool, ReadError> {
        self.control += 1;
        let limit = match self.state {
            State::Trailers { .. } => MAX_RESPONSE_HEAD_SIZE,
            _ => MAX_CHUNK_LINE,
        };
        if self.control > limit {
            return Err(ReadError::framing(match self.state {
                State::Trailers { .. } => "chunked trailer section too large",
                _ => "chunk-size line too long",
            }));
        }
        self.state = match (self.state, byte) {
            (State::Size { size, .. }, _) if byte.is_ascii_hexdigit() => {
                // Another digit shifts the top four bits out of a u64.
                if size >> 60 != 0 {
                    return Err(ReadError::framing("chunk size too large"));
                }
                let digit = char::from(byte).to_digit(16).unwrap_or(0);
                State::Size {
                    size: size << 4 | u64::from(digit),
                    any: true,
                }
            }
            (State::Size { any: false, .. }, _) => {
                return Err(ReadError::framing("invalid chunk size"))
            }
            (State::Size { size, .. } | State::SizeSpace { size }, b' ' | b'\t') => {
                State::SizeSpace { size }
            }
            (State::Size { size, .. } | State::SizeSpace { size }, b';') => {
                State::Extension { size }
            }
            (
                State::Size { size, .. } | State::SizeSpace { size } | State::Extension { size },
                b'\r',
            ) => State::SizeLf { size },
            (State::Size { .. } | State::SizeSpace { .. } | State::Extension { .. }, b'\n') => {
                return Err(ReadError::framing("chunk-size line without CRLF"))
            }
            (State::Size { .. } | State::SizeSpace { .. }, _) => {
                return Err(ReadError::framing("invalid chunk size"))
            }
            (State::Extension { size }, _) if byte == b'\t' || !byte.is_ascii_control() => {
                State::Extension { size }
            }
            (State::Extension { .. }, _) => {
                return Err(ReadError::framing("invalid chunk extension"))
            }
            (State::SizeLf { size }, b'\n') => {
                self.control = 0;
                if size == 0 {
                    State::Trailers { line: 0 }
                } else {
                    State::Data { left: size }
                }
            }
            (State::SizeLf { .. }, _) => {
                return Err(ReadError::framing("chunk-size line without CRLF"))
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.control = 0;
                State::NEXT_CHUNK
            }
            (State::DataCr | State::DataLf, _) => {
                return Err(ReadError::framing(
                    "chunk data longer than its size, or not followed by CRLF",
                ))
            }
            (State::Trailers { line: 0 }, b'\n') => {
                self.state = State::Done;
                return Ok(true);
            }
            (State::Trailers { .. }, b'\n') => State::Trailers { line: 0 },
            // A CR is part of the line end (or ignored, §2.2).
            (State::Trailers { line }, b'\r') => State::Trailers { line },
            (State::Trailers { line }, _) => State::Trailers { line: line + 1 },
            (State::Data { .. } | State::Done, _) => unreachable!("no control bytes here"),
        };
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
