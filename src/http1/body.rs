//! A response body decoder for each framing (RFC 9112 §6.3).

use bytes::BytesMut;

use super::{
    chunked::{Chunk, ChunkedDecoder},
    Framing, ReadError,
};

/// Decodes one response body from a read buffer.
#[derive(Debug)]
pub(crate) enum BodyDecoder {
    /// This many bytes left.
    Length(u64),
    /// The chunked transfer coding.
    Chunked(ChunkedDecoder),
    /// Everything until the server closes the connection.
    UntilClose,
    /// The body is complete and its end handed out.
    Ended,
}

impl BodyDecoder {
    pub(crate) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Length(0),
            Framing::Length(length) => Self::Length(length),
            Framing::Chunked => Self::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => Self::UntilClose,
        }
    }

    /// Takes body bytes off `buf` (the buffer's own bytes, no copy), the
    /// body's end once, or `None` when it needs more input. Bytes after the
    /// end stay in `buf`.
    ///
    /// # Errors
    /// The chunked coding is broken.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, ReadError> {
        match self {
            Self::Length(0) => {
                *self = Self::Ended;
                Ok(Some(Chunk::End))
            }
            Self::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(*left).map_or(buf.len(), |left| left.min(buf.len()));
                *left -= take as u64;
                Ok(Some(Chunk::Data(buf.split_to(take).freeze())))
            }
            Self::Chunked(chunked) => {
                let chunk = chunked.decode(buf)?;
                if chunked.is_done() {
                    *self = Self::Ended;
                }
                Ok(chunk)
            }
            Self::UntilClose if buf.is_empty() => Ok(None),
            Self::UntilClose => Ok(Some(Chunk::Data(buf.split().freeze()))),
            Self::Ended => Ok(None),
        }
    }

    /// As [`decode`](Self::decode), once the server has closed the
    /// connection: what is left, then the end of a close-delimited body.
    ///
    /// # Errors
    /// The connection closed before a length-delimited or chunked body was
    /// complete, or the chunked coding is broken.
    pub(crate) fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, ReadError> {
        if let Some(chunk) = self.decode(buf)? {
            return Ok(Some(chunk));
        }
        match self {
            Self::UntilClose => {
                *self = Self::Ended;
                Ok(Some(Chunk::End))
            }
            Self::Ended => Ok(None),
            Self::Length(_) => Err(ReadError::Truncated("before the end of the body")),
            Self::Chunked(_) => Err(ReadError::Truncated("inside a chunked body")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::testing::{feed, splits};

    /// The body as read in pieces, then the end of input; the same at every
    /// split.
    fn read(framing: Framing, input: &[u8]) -> Result<(Vec<u8>, bool), String> {
        let mut first = None;
        for cuts in splits(input) {
            let mut decoder = BodyDecoder::new(framing);
            let mut chunks = feed(input, &cuts, |buf| decoder.decode(buf));
            let mut rest = BytesMut::new();
            if let Ok(chunks) = &mut chunks {
                for _ in 0..3 {
                    match decoder.decode_eof(&mut rest) {
                        Ok(Some(chunk)) => chunks.push(chunk),
                        Ok(None) => break,
                        Err(err) => return Err(err.to_string()),
                    }
                }
            }
            let got = chunks.map(|chunks| {
                let mut data = Vec::new();
                let mut ends = 0;
                for chunk in chunks {
                    match chunk {
                        Chunk::Data(bytes) => data.extend_from_slice(&bytes),
                        Chunk::End => ends += 1,
                    }
                }
                assert!(ends <= 1, "one end at most, cuts {cuts:?}");
                (data, ends == 1)
            });
            match &first {
                None => first = Some(got),
                Some(first) => assert_eq!(*first, got, "cuts {cuts:?}"),
            }
        }
        first.unwrap()
    }

    #[test]
    fn each_framing_reads_its_body_and_ends() {
        let body = b"data: a\n\ndata: b\n\n";
        assert_eq!(read(Framing::UntilClose, body), Ok((body.to_vec(), true)));
        assert_eq!(
            read(Framing::Length(9), body),
            Ok((b"data: a\n\n".to_vec(), true))
        );
        assert_eq!(read(Framing::Empty, body), Ok((Vec::new(), true)));
        assert_eq!(
            read(Framing::Chunked, b"2\r\nab\r\n0\r\n\r\n"),
            Ok((b"ab".to_vec(), true))
        );
    }

    #[test]
    fn a_body_cut_short_is_truncated_not_ended() {
        let err = read(Framing::Length(100), b"data: a\n\n").unwrap_err();
        assert_eq!(err, "connection closed before the end of the body");
        let err = read(Framing::Chunked, b"5\r\nab").unwrap_err();
        assert_eq!(err, "connection closed inside a chunked body");
    }
}
