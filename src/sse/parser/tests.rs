//! The parser against the event-stream rules, split at every byte.

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

/// Items (or the error's text) from `stream` cut into `chunks`, by a parser
/// with this limit that keeps comments or not.
fn items_or_error(max: usize, keep: bool, chunks: &[&[u8]]) -> Result<Vec<SseItem>, String> {
    let mut parser = SseParser::new(max).keep_comments(keep);
    let mut out = Vec::new();
    for chunk in chunks {
        parser
            .push_items(Bytes::copy_from_slice(chunk), |item| out.push(item))
            .map_err(|err| err.to_string())?;
    }
    Ok(out)
}

/// Runs of plain `data:` events take a fast path through a chunk; whatever
/// ends a run (a CR in or after it, another field, a second data line,
/// a comment, invalid UTF-8, the chunk's end) leaves the rest to the
/// general path. Cut anywhere, the stream gives what it gives read a byte
/// at a time (where no run is ever whole in a chunk).
#[test]
fn plain_event_runs_give_the_general_paths_items_at_every_split() {
    let stream: &[u8] = b"data: a\n\ndata: b\n\ndata:c\n\ndata:\n\ndata:  d\n\ndata: e\r\n\r\n\
        data: f\n\ndata: g\rdata: h\n\ndata: i\n\ndata: j\ndata: k\n\ndata: l\n\n\
        event: t\ndata: m\n\ndata: n\n\nid: 1\ndata: o\n\ndata: p\n\nid\ndata: q\n\n\
        : c\ndata: r\n\ndata: caf\xC3\xA9\n\ndata: \xFF\n\ndata: s\n\n\
        data: t\r\ndata: u\n\ndata: v\n\ndata: w";
    for keep in [false, true] {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let expected = items_or_error(1 << 20, keep, &bytes).unwrap();
        assert_eq!(expected.len(), 22 + usize::from(keep));
        assert_eq!(items_or_error(1 << 20, keep, &[stream]).unwrap(), expected);
        for first in 0..=stream.len() {
            for second in (first..=stream.len()).step_by(7) {
                let chunks = [&stream[..first], &stream[first..second], &stream[second..]];
                assert_eq!(
                    items_or_error(1 << 20, keep, &chunks).unwrap(),
                    expected,
                    "cuts at {first} and {second}"
                );
            }
        }
    }
}

/// A plain event at or over the size limit leaves the fast path, so the
/// general path refuses it as it would have anyway.
#[test]
fn plain_event_runs_keep_the_size_limit() {
    let stream: &[u8] = b"data: 0\n\ndata: 0123456\n\ndata:0123456\n\ndata: 1\n\n";
    for max in 6..18 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let expected = items_or_error(max, false, &bytes);
        for split in 0..=stream.len() {
            let chunks = [&stream[..split], &stream[split..]];
            assert_eq!(
                items_or_error(max, false, &chunks),
                expected,
                "limit {max}, split at {split}"
            );
        }
    }
    assert!(items_or_error(12, false, &[stream]).is_err());
    assert_eq!(items_or_error(13, false, &[stream]).unwrap().len(), 4);
}

/// A chunk's lines are checked as text some 32 KiB at a time: events that
/// straddle those stretches, and lines longer than one, come out whole.
#[test]
fn events_across_the_checked_stretches_of_a_long_chunk() {
    let mut stream = Vec::new();
    let mut rng = SplitMix64::seeded(0x51CE);
    for i in 0..600 {
        let len = (rng.next_u64() % 160) as usize;
        let value: String = (0..len)
            .map(|k| char::from(b"abcdefghijklmnopqrstuvwxyz"[k % 26]))
            .collect();
        match i % 50 {
            7 => stream.extend_from_slice(format!("event: e{i}\ndata: {value}\n\n").as_bytes()),
            19 => stream.extend_from_slice(format!("data: {value}\r\n\r\n").as_bytes()),
            31 => stream.extend_from_slice(format!("data: {}\n\n", "z".repeat(40_000)).as_bytes()),
            43 => stream.extend_from_slice(format!("data: caf\u{e9} {value}\n\n").as_bytes()),
            _ => stream.extend_from_slice(format!("data: {value}\n\n").as_bytes()),
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let expected = items_or_error(1 << 20, false, &bytes).unwrap();
    assert_eq!(expected.len(), 600);
    assert_eq!(
        items_or_error(1 << 20, false, &[&stream]).unwrap(),
        expected
    );
    for cut in (0..stream.len()).step_by(997) {
        let chunks = [&stream[..cut], &stream[cut..]];
        assert_eq!(
            items_or_error(1 << 20, false, &chunks).unwrap(),
            expected,
            "cut at {cut}"
        );
    }
}
