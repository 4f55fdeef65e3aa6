//! An event's text: its data buffer, and a chunk's lines checked as UTF-8
//! once so that values are sliced without copies.

use std::ops::Range;

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

/// Lines checked at once: those that start in about this many bytes, so
/// that the parse that follows the check finds them still in the CPU's
/// first-level cache (a 64 KiB piece checked whole is read from the next
/// level twice).
const SEGMENT: usize = 32 * 1024;

/// A segment of a chunk's complete lines as text, checked once: values are
/// then sliced without a check of their own. `None` when those lines are
/// not valid UTF-8 (each value is then checked and repaired on its own).
pub(super) struct ChunkText {
    start: usize,
    /// Where the lines end (after the last line end), `start` if none.
    end: usize,
    text: Option<ByteString>,
}

impl ChunkText {
    pub(super) const NONE: ChunkText = ChunkText {
        start: 0,
        end: 0,
        text: None,
    };

    /// The text of the lines of `chunk` from `start`: those that start in
    /// the next [`SEGMENT`] bytes, or the first one if it is longer.
    pub(super) fn new(chunk: &Bytes, start: usize) -> Self {
        let rest = &chunk[start..];
        let head = &rest[..rest.len().min(SEGMENT)];
        let last = memchr::memrchr2(b'\n', b'\r', head).or_else(|| {
            memchr::memchr2(b'\n', b'\r', &rest[head.len()..]).map(|at| head.len() + at)
        });
        let end = last.map_or(start, |last| start + last + 1);
        let text = ByteString::try_from(chunk.slice(start..end)).ok();
        Self { start, end, text }
    }

    /// Whether these lines hold the line that starts at `pos`.
    fn holds(&self, pos: usize) -> bool {
        self.start <= pos && pos < self.end
    }

    /// `chunk[range]` as text, sliced from the checked text when possible.
    pub(super) fn slice(&self, chunk: &Bytes, range: Range<usize>) -> ByteString {
        self.checked()
            .and_then(|checked| checked.slice(range.clone()))
            .unwrap_or_else(|| text(chunk.slice(range)))
    }

    /// The checked text, if those lines are valid UTF-8.
    #[inline]
    pub(super) fn checked(&self) -> Option<Checked<'_>> {
        self.text.as_ref().map(|text| Checked {
            start: self.start,
            text,
        })
    }
}

/// A chunk's checked text, positioned in the chunk.
pub(super) struct Checked<'a> {
    start: usize,
    text: &'a ByteString,
}

impl<'a> Checked<'a> {
    /// Where the checked text starts in the chunk.
    #[inline]
    pub(super) fn start(&self) -> usize {
        self.start
    }

    /// The checked text.
    #[inline]
    pub(super) fn text(&self) -> &'a ByteString {
        self.text
    }

    /// Where the checked text ends in the chunk.
    #[inline]
    pub(super) fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// `chunk[range]`, if the checked text holds it: one reference count.
    #[inline]
    pub(super) fn slice(&self, range: Range<usize>) -> Option<ByteString> {
        let from = range.start.checked_sub(self.start)?;
        let to = range.end.checked_sub(self.start)?;
        Some(self.text.slice_ref(self.text.get(from..to)?))
    }
}

/// What one pass over a chunk learns once and reuses: its text, where its
/// next CR is, and the CPU's search for LF.
#[derive(Default)]
pub(super) struct Scan {
    lf: LfFinder,
    text: Option<ChunkText>,
    /// `chunk[clear]` holds no CR; with `at_cr`, `chunk[clear.end]` is one.
    clear: Range<usize>,
    at_cr: bool,
    /// Searches for a CR that found one: a stream with CR line ends stops
    /// looking after a few, leaving its lines to the general path.
    crs_found: u8,
}

/// Searches for CR per chunk before the fast path gives up on it.
const MAX_CR_SEARCHES: u8 = 4;

impl Scan {
    /// The text of the lines from `pos`, checked the first time they are
    /// asked for.
    #[inline]
    pub(super) fn text(&mut self, chunk: &Bytes, pos: usize) -> &ChunkText {
        if !self.text.as_ref().is_some_and(|text| text.holds(pos)) {
            self.text = Some(ChunkText::new(chunk, pos));
        }
        self.text.get_or_insert(ChunkText::NONE)
    }

    /// The text of the lines from `pos`, checked anew: for an event that
    /// runs past the end of the lines checked so far.
    pub(super) fn text_from(&mut self, chunk: &Bytes, pos: usize) -> &ChunkText {
        self.text.insert(ChunkText::new(chunk, pos))
    }

    /// The search for LF.
    #[inline]
    pub(super) fn lf(&self) -> LfFinder {
        self.lf
    }

    /// The text of the lines asked for last, if any.
    #[inline]
    pub(super) fn current(&self) -> Option<&ChunkText> {
        self.text.as_ref()
    }

    /// Where the first CR in `chunk[pos..limit]` is (`limit` if none), the
    /// bytes searched once however often it is asked; `None` once the
    /// chunk has shown several.
    #[inline]
    pub(super) fn next_cr(&mut self, chunk: &[u8], pos: usize, limit: usize) -> Option<usize> {
        if !self.clear.contains(&pos) && self.clear.end != pos {
            (self.clear, self.at_cr) = (pos..pos, false);
        }
        if self.at_cr || self.clear.end >= limit {
            return Some(self.clear.end.min(limit));
        }
        if self.crs_found >= MAX_CR_SEARCHES {
            return None;
        }
        match memchr::memchr(b'\r', chunk.get(self.clear.end..limit)?) {
            Some(at) => {
                self.crs_found += 1;
                self.clear.end += at;
                self.at_cr = true;
            }
            None => self.clear.end = limit,
        }
        Some(self.clear.end)
    }
}

/// Finds LF: with AVX2 directly where the CPU has it (`memchr::memchr`
/// picks its implementation on every call, a cost as large as the search
/// of a short line), with `memchr::memchr` elsewhere.
#[derive(Clone, Copy)]
pub(super) struct LfFinder {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl Default for LfFinder {
    fn default() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }
}

impl LfFinder {
    /// Where the first LF in `haystack` is.
    #[inline]
    pub(super) fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = &self.avx2 {
            return avx2.find(haystack);
        }
        memchr::memchr(b'\n', haystack)
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
