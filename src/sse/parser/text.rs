//! An event's text: its data buffer, and a chunk's lines checked as UTF-8
//! once so that values are sliced without copies.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

/// The data buffer, kept as the chunk's own bytes while an event has one line.
#[derive(Debug, Default)]
pub(super) enum Data {
    #[default]
    None,
    One(ByteString),
    Many(BytesMut),
}

impl Data {
    pub(super) fn len(&self) -> usize {
        match self {
            Data::None => 0,
            Data::One(b) => b.len(),
            Data::Many(b) => b.len(),
        }
    }
}

/// A chunk's complete lines as text, checked once: values are then sliced
/// without a check of their own. `None` when those lines are not valid UTF-8
/// (each value is then checked and repaired on its own).
pub(super) struct ChunkText {
    start: usize,
    text: Option<ByteString>,
}

impl ChunkText {
    pub(super) const NONE: ChunkText = ChunkText {
        start: 0,
        text: None,
    };

    /// The text of `chunk[start..]` up to its last line end.
    pub(super) fn new(chunk: &Bytes, start: usize) -> Self {
        let text = memchr::memrchr2(b'\n', b'\r', &chunk[start..])
            .and_then(|last| ByteString::try_from(chunk.slice(start..=start + last)).ok());
        Self { start, text }
    }

    /// `chunk[range]` as text, sliced from the checked text when possible.
    pub(super) fn slice(&self, chunk: &Bytes, range: std::ops::Range<usize>) -> ByteString {
        let checked = self.text.as_ref().and_then(|text| {
            let from = range.start.checked_sub(self.start)?;
            let to = range.end.checked_sub(self.start)?;
            Some(text.slice_ref(text.get(from..to)?))
        });
        checked.unwrap_or_else(|| text(chunk.slice(range)))
    }
}

/// UTF-8 without a copy when valid; with U+FFFD replacements otherwise.
pub(super) fn text(bytes: Bytes) -> ByteString {
    if std::str::from_utf8(&bytes).is_ok() {
        // Checked just above: the conversion cannot fail.
        ByteString::try_from(bytes).unwrap_or_default()
    } else {
        ByteString::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}
