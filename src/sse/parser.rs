//! Pure, push-based SSE parser: bytes in any chunking, events out.

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::{EventMeta, SseEvent, SseItem, DEFAULT_TYPE};
use crate::{retry_after::MAX_RETRY_AFTER, Error};

/// Largest line or event the parser buffers: 1 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// `event`, `retry`: no known field name is longer.
const LONGEST_FIELD: usize = 5;

/// The data buffer, kept as the chunk's own bytes while an event has one line.
#[derive(Debug, Default)]
enum Data {
    #[default]
    None,
    One(ByteString),
    Many(BytesMut),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::None => 0,
            Data::One(b) => b.len(),
            Data::Many(b) => b.len(),
        }
    }
}

/// Incremental SSE parser.
///
/// Feed it chunks as they arrive with [`push`](Self::push); the events it
/// dispatches do not depend on where the chunks split. Lines end with CR, LF
/// or CRLF (also split across chunks); a leading UTF-8 BOM is skipped once;
/// invalid UTF-8 is replaced with U+FFFD; an incomplete event at the end of
/// the stream is never dispatched.
///
/// ```
/// use actix_tether::sse::SseParser;
/// let mut parser = SseParser::new(1024);
/// let mut events = Vec::new();
/// parser.push("event: greet\nid: 7\ndata: hel".into(), &mut events).unwrap();
/// parser.push("lo\r\ndata: world\r\n\r\n".into(), &mut events).unwrap();
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].event(), "greet");
/// assert_eq!(events[0].data(), "hello\nworld");
/// assert_eq!(parser.last_event_id(), "7");
/// ```
#[derive(Debug)]
pub struct SseParser {
    max_size: usize,
    /// Bytes of a line whose end has not arrived yet.
    partial: BytesMut,
    /// The previous chunk ended with CR: a leading LF belongs to that line end.
    skip_lf: bool,
    bom_checked: bool,
    data: Data,
    event_type: Option<Bytes>,
    /// An `id:` value seen since the last dispatch: the spec's last event ID
    /// buffer while it may differ from `last_event_id`, moved there at
    /// dispatch.
    pending_id: Option<ByteString>,
    last_event_id: ByteString,
    retry: Option<Duration>,
    /// The type and id of the last dispatched event, reused while unchanged.
    meta: Option<Arc<EventMeta>>,
    /// `meta` is the default type with `last_event_id`: an event without an
    /// `event:` field and no new id reuses it without a comparison.
    meta_plain: bool,
    /// Comment lines are handed over (as [`SseItem::Comment`]), not ignored.
    comments: bool,
}

impl SseParser {
    /// A parser that refuses lines and events larger than `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Self {
            max_size,
            partial: BytesMut::new(),
            skip_lf: false,
            bom_checked: false,
            data: Data::None,
            event_type: None,
            pending_id: None,
            last_event_id: ByteString::new(),
            retry: None,
            meta: None,
            meta_plain: true,
            comments: false,
        }
    }

    /// Hands comment lines over as [`SseItem::Comment`] through
    /// [`push_items`](Self::push_items) (default: ignored, as the spec's
    /// event stream interpretation does).
    ///
    /// ```
    /// use actix_tether::sse::{SseItem, SseParser};
    /// let mut parser = SseParser::new(1024).keep_comments(true);
    /// let mut items = Vec::new();
    /// parser.push_items(": queue position 3\ndata: hi\n\n".into(), |item| items.push(item)).unwrap();
    /// assert_eq!(items.len(), 2);
    /// assert!(matches!(&items[0], SseItem::Comment(text) if text == "queue position 3"));
    /// assert!(matches!(&items[1], SseItem::Event(event) if event.data() == "hi"));
    /// ```
    pub fn keep_comments(mut self, keep: bool) -> Self {
        self.comments = keep;
        self
    }

    /// A parser for a reconnection that resumes after `last_event_id`.
    pub fn resuming(max_size: usize, last_event_id: ByteString) -> Self {
        Self {
            meta_plain: last_event_id.is_empty(),
            last_event_id,
            ..Self::new(max_size)
        }
    }

    /// The last event id in force (set when an event block ends), `""` if none.
    pub fn last_event_id(&self) -> &ByteString {
        &self.last_event_id
    }

    /// The reconnection time the server asked for with `retry:`, once.
    pub fn take_retry(&mut self) -> Option<Duration> {
        self.retry.take()
    }

    /// Parses one chunk, appending dispatched events to `out`.
    ///
    /// # Errors
    /// A protocol [`Error`] when a line or an event's data exceeds the size
    /// limit; the parser must not be used after an error.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<SseEvent>) -> Result<(), Error> {
        self.push_each(chunk, |event| out.push(event))
    }

    /// Parses one chunk, handing each dispatched event to `each` as it
    /// completes (no intermediate collection).
    ///
    /// # Errors
    /// As [`push`](Self::push): events dispatched before the error have
    /// already been handed over.
    pub fn push_each(&mut self, chunk: Bytes, mut each: impl FnMut(SseEvent)) -> Result<(), Error> {
        self.push_items(chunk, |item| {
            if let SseItem::Event(event) = item {
                each(event);
            }
        })
    }

    /// Parses one chunk, handing each event, and each comment line if the
    /// parser [keeps comments](Self::keep_comments), to `each` in stream
    /// order.
    ///
    /// # Errors
    /// As [`push`](Self::push): items handed over before the error stand.
    pub fn push_items(
        &mut self,
        mut chunk: Bytes,
        mut each: impl FnMut(SseItem),
    ) -> Result<(), Error> {
        if chunk.is_empty() {
            return Ok(());
        }
        if !self.bom_checked {
            chunk = match self.strip_bom(chunk) {
                Some(rest) => rest,
                None => return Ok(()),
            };
        }
        let mut pos = 0;
        if self.skip_lf {
            self.skip_lf = false;
            if chunk.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        let len = chunk.len();
        let mut chunk_text = None;
        while pos < len {
            if self.partial.is_empty() {
                if let Some(next) = self.plain_event(&chunk, pos, &mut chunk_text, &mut each) {
                    pos = next;
                    continue;
                }
            }
            // Every event ends with a blank line: no search for that one.
            let next_end = if chunk[pos] == b'\n' {
                Some(0)
            } else {
                memchr::memchr2(b'\n', b'\r', &chunk[pos..])
            };
            let Some(offset) = next_end else {
                self.keep_partial(&chunk[pos..])?;
                break;
            };
            let end = pos + offset;
            if self.partial.is_empty() {
                if offset > self.max_size {
                    return Err(self.too_large("line"));
                }
                let text = chunk_text.get_or_insert_with(|| ChunkText::new(&chunk, pos));
                self.process_line(&chunk, text, pos, end, &mut each)?;
            } else {
                self.keep_partial(&chunk[pos..end])?;
                let line = self.partial.split().freeze();
                self.process_line(&line, &ChunkText::NONE, 0, line.len(), &mut each)?;
            }
            pos = end + 1;
            if chunk[end] == b'\r' {
                if pos == len {
                    self.skip_lf = true;
                } else if chunk[pos] == b'\n' {
                    pos += 1;
                }
            }
        }
        Ok(())
    }

    /// The event of most busy streams, dispatched without the line-by-line
    /// machinery: a `data:` line and a blank line, both ending in LF and
    /// whole in `chunk` at `pos`, with nothing pending (no other field
    /// since the last dispatch, the default type and the id in force).
    /// Returns where the next line starts, or `None` to leave the input to
    /// the general path (which also reports sizes over the limit).
    #[inline]
    fn plain_event(
        &mut self,
        chunk: &Bytes,
        pos: usize,
        chunk_text: &mut Option<ChunkText>,
        each: &mut impl FnMut(SseItem),
    ) -> Option<usize> {
        let value = chunk[pos..].strip_prefix(b"data:")?;
        let pending = !matches!(self.data, Data::None)
            || self.event_type.is_some()
            || self.pending_id.is_some();
        if pending || !self.meta_plain {
            return None;
        }
        let line = memchr::memchr2(b'\n', b'\r', value)?;
        if value[line] != b'\n' || value.get(line + 1) != Some(&b'\n') || line + 6 > self.max_size {
            return None;
        }
        let end = pos + 5 + line;
        let start = (pos + 5 + usize::from(value[0] == b' ')).min(end);
        let text = chunk_text.get_or_insert_with(|| ChunkText::new(chunk, pos));
        let data = text.slice(chunk, start..end);
        each(SseItem::Event(SseEvent::with_meta(data, self.meta.clone())));
        Some(end + 2)
    }

    /// Holds back the first bytes until they can be told apart from a BOM.
    fn strip_bom(&mut self, chunk: Bytes) -> Option<Bytes> {
        let mut head = std::mem::take(&mut self.partial);
        head.extend_from_slice(&chunk);
        let known = head.len().min(BOM.len());
        if head[..known] == BOM[..known] && head.len() < BOM.len() {
            self.partial = head;
            return None;
        }
        self.bom_checked = true;
        let mut head = head.freeze();
        if head.starts_with(BOM) {
            head = head.slice(BOM.len()..);
        }
        Some(head)
    }

    fn keep_partial(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.partial.len() + bytes.len() > self.max_size {
            return Err(self.too_large("line"));
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    fn too_large(&self, what: &str) -> Error {
        Error::protocol(format!(
            "sse {what} larger than the {} byte limit",
            self.max_size
        ))
    }

    /// Interprets the line `buf[start..end]`; values are sliced from `buf`
    /// only when kept, so a `data:` line costs one reference count.
    fn process_line(
        &mut self,
        buf: &Bytes,
        buf_text: &ChunkText,
        start: usize,
        end: usize,
        each: &mut impl FnMut(SseItem),
    ) -> Result<(), Error> {
        let line = &buf[start..end];
        let Some(&first) = line.first() else {
            self.dispatch(each);
            return Ok(());
        };
        if first == b':' {
            if self.comments {
                let text = start + 1 + usize::from(line.get(1) == Some(&b' '));
                each(SseItem::Comment(buf_text.slice(buf, text..end)));
            }
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"data:") {
            // Nearly every line of a busy stream: no field-name search.
            let value = end - rest.len() + usize::from(rest.first() == Some(&b' '));
            return self.append_data(buf_text.slice(buf, value..end));
        }
        // Known field names have at most 5 bytes: look no further for the colon.
        let (field, value) = match line.iter().take(LONGEST_FIELD + 1).position(|&b| b == b':') {
            Some(colon) => {
                let skip = usize::from(line.get(colon + 1) == Some(&b' '));
                (&line[..colon], start + colon + 1 + skip)
            }
            None if line.len() <= LONGEST_FIELD => (line, end),
            None => return Ok(()),
        };
        match field {
            b"data" => self.append_data(buf_text.slice(buf, value..end))?,
            b"event" => self.event_type = Some(buf.slice(value..end)),
            b"id" if !buf[value..end].contains(&0) => {
                self.pending_id = Some(buf_text.slice(buf, value..end))
            }
            b"retry" => self.set_retry(&buf[value..end]),
            _ => {}
        }
        Ok(())
    }

    fn set_retry(&mut self, value: &[u8]) {
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return;
        }
        // All digits: an overflow means "very long", which the cap handles.
        let ms = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        self.retry = Some(Duration::from_millis(ms).min(MAX_RETRY_AFTER));
    }

    fn append_data(&mut self, value: ByteString) -> Result<(), Error> {
        if self.data.len() + value.len() + 1 > self.max_size {
            return Err(self.too_large("event"));
        }
        self.data = match std::mem::take(&mut self.data) {
            Data::None => Data::One(value),
            Data::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + 1 + value.len());
                joined.extend_from_slice(first.as_bytes());
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(value.as_bytes());
                Data::Many(joined)
            }
            Data::Many(mut joined) => {
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(value.as_bytes());
                Data::Many(joined)
            }
        };
        Ok(())
    }

    fn dispatch(&mut self, each: &mut impl FnMut(SseItem)) {
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
            self.meta_plain = false;
        }
        let event_type = self.event_type.take();
        let data = match std::mem::take(&mut self.data) {
            Data::None => return,
            Data::One(text) => text,
            // Joined from text: valid, but the type only knows after a check.
            Data::Many(joined) => text(joined.freeze()),
        };
        let event_type = match &event_type {
            Some(t) if !t.is_empty() => t.as_ref(),
            _ if self.meta_plain => {
                return each(SseItem::Event(SseEvent::with_meta(data, self.meta.clone())))
            }
            _ => b"message",
        };
        let id = (!self.last_event_id.is_empty()).then_some(&self.last_event_id);
        self.meta_plain = event_type == b"message";
        if !EventMeta::matches(self.meta.as_deref(), event_type, id) {
            let event_type = match event_type {
                b"message" => DEFAULT_TYPE.clone(),
                other => text(Bytes::copy_from_slice(other)),
            };
            self.meta = EventMeta::new(event_type, id.cloned());
        }
        each(SseItem::Event(SseEvent::with_meta(data, self.meta.clone())));
    }
}

/// A chunk's complete lines as text, checked once: values are then sliced
/// without a check of their own. `None` when those lines are not valid UTF-8
/// (each value is then checked and repaired on its own).
struct ChunkText {
    start: usize,
    text: Option<ByteString>,
}

impl ChunkText {
    const NONE: ChunkText = ChunkText {
        start: 0,
        text: None,
    };

    /// The text of `chunk[start..]` up to its last line end.
    fn new(chunk: &Bytes, start: usize) -> Self {
        let text = memchr::memrchr2(b'\n', b'\r', &chunk[start..])
            .and_then(|last| ByteString::try_from(chunk.slice(start..=start + last)).ok());
        Self { start, text }
    }

    /// `chunk[range]` as text, sliced from the checked text when possible.
    fn slice(&self, chunk: &Bytes, range: std::ops::Range<usize>) -> ByteString {
        let checked = self.text.as_ref().and_then(|text| {
            let from = range.start.checked_sub(self.start)?;
            let to = range.end.checked_sub(self.start)?;
            Some(text.slice_ref(text.get(from..to)?))
        });
        checked.unwrap_or_else(|| text(chunk.slice(range)))
    }
}

/// UTF-8 without a copy when valid; with U+FFFD replacements otherwise.
fn text(bytes: Bytes) -> ByteString {
    if std::str::from_utf8(&bytes).is_ok() {
        // Checked just above: the conversion cannot fail.
        ByteString::try_from(bytes).unwrap_or_default()
    } else {
        ByteString::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::{RandomSource, SplitMix64};

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseParser) {
        let mut parser = SseParser::new(1 << 20);
        let mut out = Vec::new();
        for chunk in chunks {
            parser
                .push(Bytes::copy_from_slice(chunk), &mut out)
                .unwrap();
        }
        (out, parser)
    }

    fn parse(stream: &str) -> Vec<SseEvent> {
        parse_chunks(&[stream.as_bytes()]).0
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent::new(event, data, id)
    }

    #[test]
    fn fields_comments_and_dispatch() {
        let events = parse(
            ": a comment\nevent: connected\nid: 1\ndata: {\"ok\":true}\n\n\
             data:no space\ndata:  two spaces\n\n\
             event: tool-request\ndata\n\n",
        );
        assert_eq!(
            events,
            vec![
                ev("connected", "{\"ok\":true}", Some("1")),
                ev("message", "no space\n two spaces", Some("1")),
                ev("tool-request", "", Some("1")),
            ]
        );
    }

    #[test]
    fn empty_data_buffer_is_not_dispatched_and_unknown_fields_are_ignored() {
        assert!(parse("event: x\n\n").is_empty());
        assert!(parse("id: 3\nfoo: bar\n\n").is_empty());
        let (events, parser) = parse_chunks(&[b"id: 3\n\n"]);
        assert!(events.is_empty());
        assert_eq!(
            parser.last_event_id(),
            "3",
            "the id is kept even without an event"
        );
        // The event type resets after a block, dispatched or not.
        assert_eq!(
            parse("event: x\n\ndata: d\n\n"),
            vec![ev("message", "d", None)]
        );
    }

    #[test]
    fn id_rules() {
        let events = parse("id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n");
        assert_eq!(
            events,
            vec![
                ev("message", "a", Some("5")),
                ev("message", "b", Some("5")),
                ev("message", "c", None),
                ev("message", "d", None),
            ]
        );
    }

    #[test]
    fn retry_only_with_ascii_digits() {
        let (_, mut p) = parse_chunks(&[b"retry: 2500\n\n"]);
        assert_eq!(p.take_retry(), Some(Duration::from_millis(2500)));
        assert_eq!(p.take_retry(), None);
        for bad in ["retry: 25s\n", "retry: -1\n", "retry:\n", "retry: 1 0\n"] {
            let (_, mut p) = parse_chunks(&[bad.as_bytes()]);
            assert_eq!(p.take_retry(), None, "{bad:?}");
        }
    }

    #[test]
    fn line_endings_cr_lf_crlf_and_cr_split_from_lf() {
        let expected = vec![ev("message", "a\nb", None), ev("message", "c", None)];
        assert_eq!(parse("data: a\rdata: b\r\rdata: c\r\r"), expected);
        assert_eq!(parse("data: a\r\ndata: b\r\n\r\ndata: c\n\n"), expected);
        let (events, _) = parse_chunks(&[
            b"data: a\r",
            b"\ndata: b\r",
            b"\n\r",
            b"\ndata: c\r\n",
            b"\r\n",
        ]);
        assert_eq!(events, expected);
    }

    #[test]
    fn bom_is_skipped_once_even_when_split() {
        let (events, _) = parse_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]);
        assert_eq!(events, vec![ev("message", "x", None)]);
        // A second BOM is content: it makes the field name unknown.
        assert!(parse("\u{FEFF}\u{FEFF}data: x\n\n").is_empty());
        // Bytes that only start like a BOM are kept.
        let (events, _) = parse_chunks(&[b"\xEF", b"data: x\n\n"]);
        assert!(events.is_empty(), "the line's field name is not 'data'");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (events, _) = parse_chunks(&[b"data: a\xFFb\n\n"]);
        assert_eq!(events[0].data(), "a\u{FFFD}b");
    }

    #[test]
    fn one_bad_value_in_a_chunk_does_not_spoil_the_others() {
        let (events, _) =
            parse_chunks(&[b"data: ok\n\nid: \xFF\ndata: \xC3\xA9\xC3\n\ndata: \xC3\xA9\n\n"]);
        assert_eq!(
            events,
            vec![
                ev("message", "ok", None),
                ev("message", "\u{e9}\u{FFFD}", Some("\u{FFFD}")),
                ev("message", "\u{e9}", Some("\u{FFFD}")),
            ]
        );
    }

    #[test]
    fn field_names_are_matched_exactly() {
        assert!(parse("datadata\ndata_: x\nDATA: y\n\n").is_empty());
        assert_eq!(parse("data\n\n"), vec![ev("message", "", None)]);
        assert_eq!(
            parse("retry\nevent\ndata:x\n\n"),
            vec![ev("message", "x", None)]
        );
    }

    #[test]
    fn type_and_id_changes_reach_the_next_events_only() {
        let events = parse(
            "data: a\n\nevent: t\ndata: b\n\ndata: c\n\nid: 1\ndata: d\n\nevent: t\ndata: e\n\n\
             data: f\n\nid\ndata: g\n\nid: 2\n\ndata: h\n\nevent: message\ndata: i\n\ndata: j\n\n",
        );
        assert_eq!(
            events,
            vec![
                ev("message", "a", None),
                ev("t", "b", None),
                ev("message", "c", None),
                ev("message", "d", Some("1")),
                ev("t", "e", Some("1")),
                ev("message", "f", Some("1")),
                ev("message", "g", None),
                // An id in a block without data still applies to what follows.
                ev("message", "h", Some("2")),
                ev("message", "i", Some("2")),
                ev("message", "j", Some("2")),
            ]
        );
    }

    #[test]
    fn incomplete_event_at_end_of_stream_is_not_dispatched() {
        let (events, parser) = parse_chunks(&[b"data: one\n\nid: 2\ndata: partial"]);
        assert_eq!(events, vec![ev("message", "one", None)]);
        assert_eq!(parser.last_event_id(), "", "id 2 was never dispatched");
    }

    #[test]
    fn oversized_lines_and_events_are_errors_not_memory() {
        let mut p = SseParser::new(16);
        let mut out = Vec::new();
        let err = p.push(Bytes::from(vec![b'x'; 100]), &mut out).unwrap_err();
        assert_eq!(err.category(), crate::ErrorCategory::Protocol);
        assert!(err.message().contains("line"), "{err}");
        let mut p = SseParser::new(16);
        for _ in 0..2 {
            p.push(Bytes::from_static(b"data: 0123456\n"), &mut out)
                .unwrap();
        }
        let err = p
            .push(Bytes::from_static(b"data: 0123456\n"), &mut out)
            .unwrap_err();
        assert!(err.message().contains("event"), "{err}");
    }

    #[test]
    fn resuming_keeps_the_last_event_id() {
        let mut p = SseParser::resuming(1024, "41".into());
        let mut out = Vec::new();
        p.push(Bytes::from_static(b"data: x\n\n"), &mut out)
            .unwrap();
        assert_eq!(out[0].id().map(|id| &**id), Some("41"));
    }

    /// Any split of a stream yields the same events (randomised, seeded).
    #[test]
    fn any_chunking_gives_the_same_events() {
        let stream: &[u8] = b"\xEF\xBB\xBF: hi\r\nevent: a\rdata: 1\r\ndata:2\n\nid: 9\nretry: 10\ndata: \xC3\xA9t\xC3\xA9\r\n\r\
            data: x\n\n\n:c\rdata\n\nevent:\ndata: last\r\n\r\nid: 5\ndata: p\n\ndata: q\n\n\
            event: t\ndata: r\n\ndata: s\n\nid\ndata:\n\ndata:  u\n\ndata: cut";
        let (expected, _) = parse_chunks(&[stream]);
        assert_eq!(expected.len(), 11);
        assert_eq!(expected[6], ev("message", "q", Some("5")));
        assert_eq!(expected[8], ev("message", "s", Some("5")));
        assert_eq!(expected[9], ev("message", "", None));
        assert_eq!(expected[10], ev("message", " u", None));
        let mut rng = SplitMix64::seeded(0x5EE);
        for _ in 0..2000 {
            let mut chunks = Vec::new();
            let mut pos = 0;
            while pos < stream.len() {
                let n = 1 + (rng.next_u64() % 7) as usize;
                let end = (pos + n).min(stream.len());
                chunks.push(&stream[pos..end]);
                pos = end;
            }
            let (events, _) = parse_chunks(&chunks);
            assert_eq!(events, expected, "chunks: {chunks:?}");
        }
        // Every single split point, too.
        for split in 0..=stream.len() {
            let (events, _) = parse_chunks(&[&stream[..split], &stream[split..]]);
            assert_eq!(events, expected, "split at {split}");
        }
    }

    fn items(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new(1 << 20).keep_comments(true);
        let mut out = Vec::new();
        for chunk in chunks {
            parser
                .push_items(Bytes::copy_from_slice(chunk), |item| out.push(item))
                .unwrap();
        }
        out
    }

    #[test]
    fn kept_comments_come_in_stream_order_at_every_split() {
        let stream: &[u8] =
            b"\xEF\xBB\xBF:first\r\ndata: 1\n:  two spaces\n:\n\n: caf\xC3\xA9\rdata: 2\r\n\r\n: bad \xFF\n";
        let comment = |text: &str| SseItem::Comment(text.into());
        let expected = vec![
            comment("first"),
            comment(" two spaces"),
            comment(""),
            SseItem::Event(ev("message", "1", None)),
            comment("caf\u{e9}"),
            SseItem::Event(ev("message", "2", None)),
            comment("bad \u{FFFD}"),
        ];
        assert_eq!(items(&[stream]), expected);
        for split in 0..=stream.len() {
            assert_eq!(
                items(&[&stream[..split], &stream[split..]]),
                expected,
                "split at {split}"
            );
        }
        // Not kept: the same stream gives the events only.
        let (events, _) = parse_chunks(&[stream]);
        assert_eq!(
            events,
            vec![ev("message", "1", None), ev("message", "2", None)]
        );
    }

    #[test]
    fn an_oversized_comment_is_an_error_kept_or_not() {
        for keep in [false, true] {
            let mut p = SseParser::new(8).keep_comments(keep);
            let err = p
                .push_items(Bytes::from_static(b": 0123456789\n"), |_| {})
                .unwrap_err();
            assert!(err.message().contains("line"), "{err}");
        }
    }
}
