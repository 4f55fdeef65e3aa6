use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use bytes::Bytes;
use bytestring::ByteString;

use super::{BurstBuilder, Form, PayloadRef, Payloads, Repr, SpanRun};
use crate::{
    sse::{EventMeta, ItemSink, SseEvent, SseItem, SseParser},
    EventTypes, Payload,
};

fn event(event: &str, data: &str, id: Option<&str>) -> Payload {
    Payload::Event(SseEvent::new(event, data, id))
}

fn is_compact(payloads: &Payloads) -> bool {
    payloads.spans().is_some()
}

/// The shared form of a burst of more than one.
fn form(payloads: &Payloads) -> &Form {
    match &payloads.0 {
        Repr::Shared(inner) => &inner.form,
        Repr::One(_) => panic!("a burst of one"),
    }
}

/// The burst's pieces, metas and side payloads (a compact burst).
fn tables(payloads: &Payloads) -> (usize, usize, usize) {
    match payloads.spans() {
        Some(spans) => (spans.pieces.len(), spans.metas.len(), spans.side.len()),
        None => panic!("not compact"),
    }
}

/// Checks every way of reading `payloads` against `expected`.
fn assert_reads_as(payloads: &Payloads, expected: &[Payload]) {
    assert_eq!(payloads.len(), expected.len());
    assert_eq!(payloads.is_empty(), expected.is_empty());
    let views: Vec<PayloadRef<'_>> = payloads.iter().collect();
    assert_eq!(views.len(), expected.len());
    for (i, (view, owned)) in views.iter().zip(expected).enumerate() {
        assert_eq!(view, owned, "message {i}");
        assert_eq!(view.to_payload(), *owned, "message {i}");
        assert_eq!(payloads.get(i).as_ref(), Some(view));
        assert_eq!(view.len(), owned.len());
    }
    assert_eq!(payloads.get(expected.len()), None);
    assert_eq!(payloads.to_vec(), expected);
    assert_eq!(payloads.as_slice(), expected);
    assert_eq!(
        payloads.byte_len(),
        expected.iter().map(Payload::len).sum::<usize>()
    );
    assert_eq!(*payloads, Payloads::from(expected.to_vec()));
}

/// The checked text of a whole stream, as the parser's fast path has it.
fn text(stream: &str) -> ByteString {
    ByteString::from(stream.to_owned())
}

/// Where `needle` starts in `haystack`, and ends.
fn place(haystack: &str, needle: &str) -> (usize, usize) {
    let start = haystack.find(needle).expect("in the text");
    (start, start + needle.len())
}

#[test]
fn a_burst_of_spans_reads_as_its_events() {
    let stream = "data: one\n\ndata: two\n\ndata: three\n\n";
    let piece = text(stream);
    let mut burst = BurstBuilder::default();
    let mut run = burst.span_run(&piece, &None).unwrap();
    for data in ["one", "two", "three"] {
        let (start, end) = place(stream, data);
        run.push(start, end);
    }
    drop(run);
    assert_eq!(burst.len(), 3);
    let payloads = burst.finish();
    assert!(is_compact(&payloads));
    // One piece, one meta for three events: nothing held per event.
    assert_eq!(tables(&payloads), (1, 1, 0));
    let expected = [
        event("message", "one", None),
        event("message", "two", None),
        event("message", "three", None),
    ];
    assert_reads_as(&payloads, &expected);
    let view = payloads.get(1).and_then(|p| p.as_event()).unwrap();
    assert_eq!(
        (view.event(), view.data(), view.id()),
        ("message", "two", None)
    );
    // The owned event shares the piece.
    let owned = view.to_event();
    assert_eq!(owned.data().as_ptr(), piece.as_ptr().wrapping_add(17));
}

#[test]
fn mixed_bursts_keep_stream_order() {
    let first = "data: a\n\ndata: b\n\n";
    let second = "event: price\nid: 7\ndata: 42\n\ndata: 43\n\n";
    let (first_piece, second_piece) = (text(first), text(second));
    let price = EventMeta::new("price".into(), Some("7".into()));
    let mut burst = BurstBuilder::default();
    // Payloads before the first run get their spans when it starts.
    burst.push(Payload::Comment("hello".into()));
    burst.push(event("message", "joined\nlines", None));
    // A run without events changes nothing.
    drop(burst.span_run(&first_piece, &None).unwrap());
    assert_eq!(burst.len(), 2);
    let mut run = burst.span_run(&first_piece, &None).unwrap();
    run.push(6, 7);
    run.push(15, 16);
    drop(run);
    burst.push(Payload::Comment("between".into()));
    // The same piece again (after the comment): not held twice.
    drop(burst.span_run(&first_piece, &None).unwrap());
    let mut run = burst.span_run(&second_piece, &price).unwrap();
    let (start, end) = place(second, "42");
    run.push(start, end);
    let (start, end) = place(second, "43");
    run.push(start, end);
    drop(run);
    burst.push(event("done", "end", Some("8")));
    burst.push(Payload::text("not sse"));
    let payloads = burst.finish();
    assert!(is_compact(&payloads));
    assert_eq!(tables(&payloads), (2, 2, 5));
    let expected = [
        Payload::Comment("hello".into()),
        event("message", "joined\nlines", None),
        event("message", "a", None),
        event("message", "b", None),
        Payload::Comment("between".into()),
        event("price", "42", Some("7")),
        event("price", "43", Some("7")),
        event("done", "end", Some("8")),
        Payload::text("not sse"),
    ];
    assert_reads_as(&payloads, &expected);
    let price = payloads.get(6).and_then(|p| p.as_event()).unwrap();
    assert_eq!((price.event(), price.id()), ("price", Some("7")));
    assert_eq!(payloads.get(0).and_then(|p| p.as_comment()), Some("hello"));
    assert_eq!(payloads.get(8).and_then(|p| p.as_text()), Some("not sse"));
}

#[test]
fn a_burst_without_spans_is_its_payloads() {
    let mut burst = BurstBuilder::default();
    burst.push(Payload::text("one"));
    burst.push(Payload::binary(&b"\x00\x01"[..]));
    assert_eq!(burst.len(), 2);
    let payloads = burst.finish();
    assert!(!is_compact(&payloads));
    assert_reads_as(
        &payloads,
        &[Payload::text("one"), Payload::binary(&b"\x00\x01"[..])],
    );
    // The only holder's payloads are moved out, not rebuilt.
    let at = payloads.as_slice().as_ptr();
    let moved = payloads.into_vec();
    assert_eq!(moved.as_ptr(), at);
}

#[test]
fn a_burst_of_one_needs_no_vector_and_becomes_one_when_a_second_comes() {
    let mut one = BurstBuilder::default();
    one.reserve(1);
    one.push(Payload::text("only"));
    assert_eq!(one.len(), 1);
    let payloads = one.finish();
    assert!(matches!(payloads.0, Repr::One(_)));
    assert_eq!(payloads.byte_len(), 4);
    assert_reads_as(&payloads, &[Payload::text("only")]);
    let types = EventTypes::new(["message"]);
    assert!(payloads.select(&types).is_none(), "text is no event");
    assert_eq!(payloads.clone().into_vec(), vec![Payload::text("only")]);

    let hello = event("message", "hello", None);
    let mut one_event = BurstBuilder::default();
    one_event.push(hello.clone());
    let payloads = one_event.finish();
    let chosen = payloads.select(&types).expect("the event is chosen");
    assert_reads_as(&chosen, std::slice::from_ref(&hello));

    // A second payload, or a reservation for more, and it is a vector
    // again, in order.
    let mut two = BurstBuilder::default();
    two.push(Payload::text("a"));
    two.push(Payload::text("b"));
    assert_eq!(two.len(), 2);
    let payloads = two.finish();
    assert!(matches!(form(&payloads), Form::Owned(_)));
    assert_reads_as(&payloads, &[Payload::text("a"), Payload::text("b")]);
    let mut reserved = BurstBuilder::default();
    reserved.push(Payload::text("a"));
    reserved.reserve(3);
    reserved.push(Payload::text("b"));
    assert_eq!(
        reserved.into_vec(),
        vec![Payload::text("a"), Payload::text("b")]
    );

    // A payload before a run of spans keeps its place.
    let stream = text("data: x\n\n");
    let mut mixed = BurstBuilder::default();
    mixed.push(Payload::text("first"));
    let (start, end) = place(&stream, "x");
    mixed.span_run(&stream, &None).unwrap().push(start, end);
    let payloads = mixed.finish();
    assert_reads_as(
        &payloads,
        &[Payload::text("first"), event("message", "x", None)],
    );
}

/// A compact burst of `stream`'s events, and its owned messages, through
/// the parser (the burst as the SSE session builds it).
fn parsed(chunks: &[&str], comments: bool) -> (Payloads, Vec<Payload>) {
    struct ToBurst(BurstBuilder);
    impl ItemSink for ToBurst {
        fn event(&mut self, event: SseEvent) {
            self.0.push(Payload::Event(event));
        }
        fn comment(&mut self, text: ByteString) {
            self.0.push(Payload::Comment(text));
        }
        fn plain_spans<R>(
            &mut self,
            text: &ByteString,
            meta: &Option<Arc<EventMeta>>,
            run: impl FnOnce(&mut SpanRun<'_>) -> R,
        ) -> Option<R> {
            Some(run(&mut self.0.span_run(text, meta).expect("a short text")))
        }
        fn plain_event(&mut self, _: &ByteString, _: (usize, usize), _: &Option<Arc<EventMeta>>) {
            unreachable!("every run is made spans")
        }
    }
    let (mut spans, mut owned) = (ToBurst(BurstBuilder::default()), Vec::new());
    let mut by_spans = SseParser::new(1024).keep_comments(comments);
    let mut by_events = SseParser::new(1024).keep_comments(comments);
    for chunk in chunks {
        let chunk = Bytes::copy_from_slice(chunk.as_bytes());
        by_spans.push_into(chunk.clone(), &mut spans).unwrap();
        by_events
            .push_items(chunk, |item| {
                owned.push(match item {
                    SseItem::Event(event) => Payload::Event(event),
                    SseItem::Comment(text) => Payload::Comment(text),
                })
            })
            .unwrap();
    }
    (spans.0.finish(), owned)
}

#[test]
fn parsed_spans_read_as_the_parsers_events() {
    let plain = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    let (payloads, owned) = parsed(&[plain, plain], false);
    assert!(is_compact(&payloads));
    assert_eq!(owned.len(), 6);
    assert_reads_as(&payloads, &owned);
    // Two read pieces, one (absent) type and id for six events.
    assert_eq!(tables(&payloads), (2, 1, 0));

    let mixed = [
        ": hi\ndata: a\n\ndata: first\ndata: second\n\ndata: b\n\n",
        "event: price\ndata: 1\n\nid: 9\ndata: c\n\ndata: d\n\ndata: e\r\n\r\n",
        "data: split",
        " here\n\n: bye\ndata: f\n\n",
    ];
    for comments in [false, true] {
        let (payloads, owned) = parsed(&mixed, comments);
        assert_eq!(owned.len(), 9 + 2 * usize::from(comments));
        assert_reads_as(&payloads, &owned);
    }
}

#[test]
fn selecting_types_keeps_the_burst_compact() {
    let stream = "data: a\n\nevent: price\ndata: 1\n\ndata: 2\n\n: note\ndata: b\n\n";
    let (payloads, owned) = parsed(&[stream], true);
    assert!(is_compact(&payloads));
    let price = EventTypes::new(["price"]);
    let chosen = payloads.select(&price).expect("price events");
    assert!(is_compact(&chosen));
    let expected: Vec<Payload> = owned.iter().filter(|p| price.matches(p)).cloned().collect();
    assert_eq!(expected.len(), 1);
    assert_reads_as(&chosen, &expected);

    let message = EventTypes::new(["message"]);
    let chosen = payloads.select(&message).expect("message events");
    assert!(is_compact(&chosen));
    let expected: Vec<Payload> = owned
        .iter()
        .filter(|p| message.matches(p))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 3);
    assert_reads_as(&chosen, &expected);
    // The selection shares the burst's buffers.
    let (Form::Spans(all), Form::Spans(some)) = (form(&payloads), form(&chosen)) else {
        unreachable!()
    };
    assert_eq!(all.pieces[0].as_ptr(), some.pieces[0].as_ptr());

    assert!(payloads.select(&EventTypes::new(["other"])).is_none());
    // A selection of owned payloads.
    let owned_burst = Payloads::from(owned.clone());
    assert_eq!(owned_burst.select(&message), Some(chosen));
    let side_only = payloads
        .select(&EventTypes::new(["price"]))
        .expect("one event");
    assert_eq!(side_only.len(), 1);
}

#[test]
fn owned_payloads_are_built_once_and_shared() {
    let (payloads, owned) = parsed(&["data: a\n\ndata: b\n\n"], false);
    let other = payloads.clone();
    let first = payloads.as_slice();
    assert_eq!(first, owned);
    // Every holder of the burst gets the same payloads.
    assert_eq!(other.as_slice().as_ptr(), first.as_ptr());
    assert_eq!(payloads.as_slice().as_ptr(), first.as_ptr());
    assert_eq!(other.to_vec(), owned);
    assert_eq!(other.into_vec(), owned);
}

#[test]
fn dropping_a_compact_burst_releases_its_buffer() {
    struct Flag(Arc<AtomicBool>, Vec<u8>);
    impl AsRef<[u8]> for Flag {
        fn as_ref(&self) -> &[u8] {
            &self.1
        }
    }
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let freed = Arc::new(AtomicBool::new(false));
    let events = "data: 0123456789\n\n".repeat(1000);
    let buffer = Bytes::from_owner(Flag(freed.clone(), events.clone().into_bytes()));
    let piece = ByteString::try_from(buffer).unwrap();
    let mut burst = BurstBuilder::default();
    let mut run = burst.span_run(&piece, &None).unwrap();
    for i in 0..1000 {
        run.push(i * 18 + 6, i * 18 + 16);
    }
    drop(run);
    drop(piece);
    let payloads = burst.finish();
    // A thousand events, one reference to the buffer.
    assert_eq!(tables(&payloads), (1, 1, 0));
    assert_eq!(payloads.len(), 1000);
    assert_eq!(payloads.byte_len(), 10_000);
    assert!(payloads.iter().all(|p| p.as_bytes() == b"0123456789"));
    let other = payloads.clone();
    drop(payloads);
    assert!(!freed.load(Ordering::SeqCst), "still held by the clone");
    drop(other);
    assert!(freed.load(Ordering::SeqCst), "freed with the burst");
}

#[test]
fn empty_and_debug() {
    let burst = BurstBuilder::default();
    assert!(burst.is_empty());
    let payloads = burst.finish();
    assert!(payloads.is_empty());
    assert_eq!(payloads.byte_len(), 0);
    assert_eq!(payloads.iter().count(), 0);
    let one: Payloads = [event("greet", "hi", Some("1"))].into_iter().collect();
    assert_eq!(
        format!("{one:?}"),
        r#"[Event(EventRef { event: "greet", data: "hi", id: Some("1") })]"#
    );
}
