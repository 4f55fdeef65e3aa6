//! Feeds arbitrary server bytes, split at an arbitrary point, to the
//! WebSocket client's frame decoder and message assembly (with and without
//! permessage-deflate) and checks that it never panics, never delivers a
//! message over its limit, and that the split changes neither the messages
//! nor whether the stream failed.
//!
//! ```text
//! cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run ws_receive
//! ```
#![no_main]

use actix_tether::{fuzzing::ws_receive, Payload};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else { return };
    let compression = control & 1 == 1;
    let split = usize::from(control >> 1) % (stream.len() + 1);
    let (whole, whole_error) = ws_receive(&[stream], compression, LIMIT);
    let (halves, halves_error) =
        ws_receive(&[&stream[..split], &stream[split..]], compression, LIMIT);
    assert_eq!(whole, halves);
    assert_eq!(
        whole_error.map(|e| e.close_code()),
        halves_error.map(|e| e.close_code())
    );
    for message in &whole {
        let len = match message {
            Payload::Text(text) => text.len(),
            Payload::Binary(bytes) => bytes.len(),
            _ => 0,
        };
        assert!(len <= LIMIT);
    }
});
