//! Pure, push-based SSE parser: bytes in any chunking, events out.

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

mod plain;
mod sink;
mod text;

pub(crate) use self::sink::ItemSink;
use self::{
    plain::{plain_run, Stop},
    sink::EventsOnly,
    text::{text, ChunkText, Data, Scan},
};
use super::{EventMeta, SseEvent, SseItem, DEFAULT_TYPE};
use crate::{retry_after::MAX_RETRY_AFTER, Error};

/// Largest line or event the parser buffers: 1 MiB.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// `event`, `retry`: no known field name is longer.
const LONGEST_FIELD: usize = 5;

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
    pub fn push_each(&mut self, chunk: Bytes, each: impl FnMut(SseEvent)) -> Result<(), Error> {
        self.push_into(chunk, &mut EventsOnly(each))
    }

    /// Parses one chunk, handing each event, and each comment line if the
    /// parser [keeps comments](Self::keep_comments), to `each` in stream
    /// order.
    ///
    /// # Errors
    /// As [`push`](Self::push): items handed over before the error stand.
    pub fn push_items(&mut self, chunk: Bytes, mut each: impl FnMut(SseItem)) -> Result<(), Error> {
        self.push_into(chunk, &mut each)
    }

    /// Parses one chunk, handing what it dispatches to `out` in stream
    /// order (comment lines only if the parser keeps them).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub(crate) fn push_into(
        &mut self,
        mut chunk: Bytes,
        out: &mut impl ItemSink,
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
        let mut scan = Scan::default();
        while pos < len {
            if self.partial.is_empty() {
                pos = self.plain_events(&chunk, pos, &mut scan, out);
                if pos == len {
                    break;
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
                let text = scan.text(&chunk, pos);
                self.process_line(&chunk, text, pos, end, out)?;
            } else {
                self.keep_partial(&chunk[pos..end])?;
                let line = self.partial.split().freeze();
                self.process_line(&line, &ChunkText::NONE, 0, line.len(), out)?;
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

    /// The events of most busy streams, dispatched without the
    /// line-by-line machinery: from `pos`, each a `data:` line and a blank
    /// line, both ending in LF and whole in `chunk`, with nothing pending
    /// (no other field since the last dispatch, the default type and the
    /// id in force). One search for LF per event; the data is a slice of
    /// the chunk's checked text. Returns where the first line that is not
    /// such an event starts (`pos` itself if none), for the general path
    /// (which also reports sizes over the limit).
    #[inline]
    fn plain_events(
        &mut self,
        chunk: &Bytes,
        mut pos: usize,
        scan: &mut Scan,
        out: &mut impl ItemSink,
    ) -> usize {
        let pending = !matches!(self.data, Data::None)
            || self.event_type.is_some()
            || self.pending_id.is_some();
        if pending || !self.meta_plain {
            return pos;
        }
        let lf = scan.lf();
        let longest = self.max_size.saturating_sub(6);
        let mut anew = false;
        loop {
            if !chunk[pos..].starts_with(b"data:") {
                return pos;
            }
            if anew {
                scan.text_from(chunk, pos);
            } else {
                scan.text(chunk, pos);
            }
            let Some(end) = scan.current().and_then(ChunkText::checked).map(|t| t.end()) else {
                return pos;
            };
            // Events are taken whole from before the first CR in the lines.
            let Some(cr) = scan.next_cr(chunk, pos, end) else {
                return pos;
            };
            let Some(checked) = scan.current().and_then(ChunkText::checked) else {
                return pos;
            };
            // Positions in the checked text from here; it holds `pos`.
            let (base, text) = (checked.start(), checked.text());
            let Some(at) = pos.checked_sub(base) else {
                return pos;
            };
            let Some(window) = text.get(..cr.saturating_sub(base)) else {
                return pos;
            };
            let meta = &self.meta;
            let spans = out.plain_spans(text, meta, |run| {
                plain_run(window, at, lf, longest, |start, end| run.push(start, end))
            });
            let (at, stop) = match spans {
                Some(done) => done,
                None => {
                    let mut started = false;
                    plain_run(window, at, lf, longest, |start, end| {
                        if !started {
                            out.plain_run(text, meta);
                            started = true;
                        }
                        out.plain_event(text, (start, end), meta);
                    })
                }
            };
            let next = base + at;
            // An event that runs past the checked lines (not to a CR, not
            // past the chunk) goes on with the next lines, checked once.
            let past_lines = cr == end && end < chunk.len();
            if stop != Stop::Window || !past_lines || (anew && next == pos) {
                return next;
            }
            anew = true;
            pos = next;
        }
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
        out: &mut impl ItemSink,
    ) -> Result<(), Error> {
        let line = &buf[start..end];
        let Some(&first) = line.first() else {
            self.dispatch(out);
            return Ok(());
        };
        if first == b':' {
            if self.comments {
                let text = start + 1 + usize::from(line.get(1) == Some(&b' '));
                out.comment(buf_text.slice(buf, text..end));
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

    fn dispatch(&mut self, out: &mut impl ItemSink) {
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
            _ if self.meta_plain => return out.event(SseEvent::with_meta(data, self.meta.clone())),
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
        out.event(SseEvent::with_meta(data, self.meta.clone()));
    }
}

#[cfg(test)]
mod tests;
