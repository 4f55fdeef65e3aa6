//! Pure reassembly of fragmented WebSocket messages, bounded in size.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::{Error, Payload};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// Collects continuation frames into one message of at most `max` bytes;
/// text is checked as UTF-8 fragment by fragment, so an invalid byte fails
/// the message when it arrives, not when the message ends.
#[derive(Debug)]
pub(crate) struct Fragments {
    max: usize,
    kind: Option<Kind>,
    buf: BytesMut,
    /// Text: how many leading bytes of `buf` are known-valid UTF-8 (an
    /// incomplete character at the end waits for the next fragment).
    checked: usize,
}

impl Fragments {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            kind: None,
            buf: BytesMut::new(),
            checked: 0,
        }
    }

    fn reset(&mut self) {
        self.kind = None;
        self.buf = BytesMut::new();
        self.checked = 0;
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.buf.len() + chunk.len() > self.max {
            self.reset();
            return Err(Error::protocol(format!(
                "message larger than max_message_size ({} bytes)",
                self.max
            ))
            .with_close_code(Some(1009)));
        }
        self.buf.extend_from_slice(chunk);
        if self.kind == Some(Kind::Text) {
            match std::str::from_utf8(&self.buf[self.checked..]) {
                Ok(_) => self.checked = self.buf.len(),
                // Only a character cut at the end: the next fragment may
                // complete it.
                Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
                Err(_) => {
                    self.reset();
                    return Err(invalid_utf8());
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, kind: Kind, chunk: &[u8]) -> Result<Option<Payload>, Error> {
        if self.kind.is_some() {
            return Err(Error::protocol(
                "new fragmented message before the last one ended",
            ));
        }
        self.kind = Some(kind);
        self.push(chunk)?;
        Ok(None)
    }

    /// The first fragment of a text message.
    pub(crate) fn first_text(&mut self, chunk: &[u8]) -> Result<Option<Payload>, Error> {
        self.start(Kind::Text, chunk)
    }

    /// The first fragment of a binary message.
    pub(crate) fn first_binary(&mut self, chunk: &[u8]) -> Result<Option<Payload>, Error> {
        self.start(Kind::Binary, chunk)
    }

    /// A middle fragment.
    pub(crate) fn more(&mut self, chunk: &[u8]) -> Result<Option<Payload>, Error> {
        if self.kind.is_none() {
            return Err(Error::protocol(
                "continuation frame without a first fragment",
            ));
        }
        self.push(chunk)?;
        Ok(None)
    }

    /// The last fragment: returns the whole message.
    pub(crate) fn last(&mut self, chunk: &[u8]) -> Result<Option<Payload>, Error> {
        self.more(chunk)?;
        self.checked = 0;
        let bytes = std::mem::take(&mut self.buf).freeze();
        match self.kind.take() {
            Some(Kind::Binary) => Ok(Some(Payload::Binary(bytes))),
            Some(Kind::Text) => text(bytes).map(Some),
            None => unreachable!("more() checked that a message is open"),
        }
    }

    /// Whether a message is being assembled (a data frame now is an error).
    pub(crate) fn in_progress(&self) -> bool {
        self.kind.is_some()
    }
}

/// Validates UTF-8 without copying.
pub(crate) fn text(bytes: Bytes) -> Result<Payload, Error> {
    ByteString::try_from(bytes)
        .map(Payload::Text)
        .map_err(|_| invalid_utf8())
}

fn invalid_utf8() -> Error {
    Error::protocol("text message is not valid utf-8").with_close_code(Some(1007))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_text_and_binary() {
        let mut f = Fragments::new(100);
        assert_eq!(f.first_text(b"hel").unwrap(), None);
        assert!(f.in_progress());
        assert_eq!(f.more(b"lo ").unwrap(), None);
        assert_eq!(
            f.last(b"world").unwrap(),
            Some(Payload::text("hello world"))
        );
        assert!(!f.in_progress());
        f.first_binary(&[1, 2]).unwrap();
        assert_eq!(f.last(&[3]).unwrap(), Some(Payload::binary(vec![1, 2, 3])));
    }

    #[test]
    fn rejects_oversize_bad_order_and_bad_utf8() {
        let mut f = Fragments::new(4);
        f.first_binary(b"abc").unwrap();
        assert!(f.more(b"de").is_err());
        assert!(!f.in_progress(), "state is reset after an error");
        assert!(f.more(b"x").is_err());
        assert!(f.last(b"x").is_err());
        f.first_text(b"a").unwrap();
        assert!(f.first_text(b"b").is_err());
        let mut g = Fragments::new(10);
        let err = g.first_text(&[b'a', 0xff]).unwrap_err();
        assert_eq!(err.close_code(), Some(1007), "fails on the first fragment");
        assert!(!g.in_progress());
        let mut big = Fragments::new(2);
        assert_eq!(
            big.first_binary(b"abc").unwrap_err().close_code(),
            Some(1009)
        );
    }

    #[test]
    fn a_character_split_across_fragments_is_valid_at_every_cut() {
        let text = "añ€😀z".as_bytes();
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let mut f = Fragments::new(64);
                f.first_text(&text[..cut]).unwrap();
                f.more(&text[cut..second]).unwrap();
                let whole = f.last(&text[second..]).unwrap();
                assert_eq!(whole, Some(Payload::text("añ€😀z")), "{cut} {second}");
            }
        }
        // A cut character that never completes is invalid at the end.
        let mut f = Fragments::new(64);
        f.first_text(&text[..2]).unwrap();
        assert_eq!(f.last(b"").unwrap_err().close_code(), Some(1007));
    }
}
