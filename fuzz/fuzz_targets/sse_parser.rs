//! Feeds arbitrary bytes, split at arbitrary points, to the SSE parser and
//! checks that it never panics, never exceeds its limit, and that the split
//! does not change the events.
//!
//! ```text
//! cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run sse_parser
//! ```
#![no_main]

use actix_tether::sse::SseParser;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn parse(chunks: &[&[u8]]) -> Result<Vec<actix_tether::sse::SseEvent>, ()> {
    let mut parser = SseParser::new(LIMIT);
    let mut out = Vec::new();
    for chunk in chunks {
        parser.push(Bytes::copy_from_slice(chunk), &mut out).map_err(|_| ())?;
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let split = usize::from(split) % (stream.len() + 1);
    let whole = parse(&[stream]);
    let halves = parse(&[&stream[..split], &stream[split..]]);
    if let (Ok(whole), Ok(halves)) = (&whole, &halves) {
        assert_eq!(whole, halves);
        for event in whole {
            assert!(event.data().len() <= LIMIT);
        }
    }
});
