//! Feeds arbitrary bytes, split at an arbitrary point, to the HTTP/1.1
//! response reader the SSE transport uses (head, then a chunked,
//! Content-Length or close-delimited body) and checks that it never panics
//! and that the split changes neither the status, nor the body, nor whether
//! the response completed or failed.
//!
//! ```text
//! cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run http1_response
//! ```
#![no_main]

use actix_tether::fuzzing::http1_response;
use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 1024;
const MAX_BODY: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let split = usize::from(split) * stream.len() / 256;
    let whole = http1_response(&[stream], MAX_HEAD, MAX_BODY);
    let halves = http1_response(&[&stream[..split], &stream[split..]], MAX_HEAD, MAX_BODY);
    assert_eq!(whole, halves);
});
