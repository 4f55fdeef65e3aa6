//! The transforms against RFC 7692's vectors, each other, split input,
//! bombs and garbage.

use super::*;

/// RFC 7692 §7.2.3.1: "Hello" in one compressed block.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// §7.2.3.2: the second "Hello" with the window shared.
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

const MIB: usize = 1024 * 1024;

fn agreed(no_context_takeover: bool, bits: u8) -> Agreed {
    Agreed {
        client_no_context_takeover: no_context_takeover,
        server_no_context_takeover: no_context_takeover,
        client_window_bits: bits,
        server_window_bits: bits,
    }
}

fn new_deflater(no_context_takeover: bool, bits: u8) -> Deflater {
    Deflater::new(&agreed(no_context_takeover, bits)).expect("window of 9 or more")
}

fn new_inflater(no_context_takeover: bool, bits: u8, limit: usize) -> Inflater {
    Inflater::new(&agreed(no_context_takeover, bits), limit)
}

fn compress(deflater: &mut Deflater, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    deflater.compress(message, &mut out).unwrap();
    out
}

fn inflate(inflater: &mut Inflater, fragments: &[&[u8]]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for (i, fragment) in fragments.iter().enumerate() {
        inflater.inflate(fragment, i + 1 == fragments.len(), &mut out)?;
    }
    Ok(out)
}

/// Deterministic bytes: xorshift, so tests need no `rand`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// JSON-like text of about `len` bytes, repetitive as market data is.
fn json(len: usize, seed: u64) -> Vec<u8> {
    let mut text = Vec::with_capacity(len + 64);
    let mut i = seed;
    while text.len() < len {
        text.extend_from_slice(
            format!(
                "{{\"sym\":\"X{}\",\"px\":{}.{},\"qty\":{}}},",
                i % 17,
                i * 31 % 997,
                i % 100,
                i * 7 % 50
            )
            .as_bytes(),
        );
        i += 1;
    }
    text.truncate(len);
    text
}

#[test]
fn round_trips_every_size_and_content_in_both_takeover_modes() {
    let sizes = [
        0,
        1,
        2,
        5,
        100,
        1000,
        32 * 1024 - 1,
        32 * 1024 + 1,
        70_000,
        300_000,
    ];
    for no_context_takeover in [false, true] {
        for bits in [9, 12, 15] {
            let mut deflater = new_deflater(no_context_takeover, bits);
            let mut inflater = new_inflater(no_context_takeover, bits, MIB);
            for (n, size) in sizes.iter().enumerate() {
                let seed = n as u64;
                for message in [vec![0; *size], json(*size, seed), noise(*size, seed)] {
                    let compressed = compress(&mut deflater, &message);
                    assert!(!compressed.ends_with(&SYNC_TAIL) || compressed.len() < 4);
                    let inflated = inflate(&mut inflater, &[&compressed]).unwrap();
                    assert!(inflated == message, "{no_context_takeover} {bits} {size}");
                }
            }
        }
    }
}

#[test]
fn context_takeover_shrinks_repeats_and_no_takeover_does_not() {
    let message = json(2000, 3);
    let mut shared = new_deflater(false, 15);
    let first = compress(&mut shared, &message);
    let second = compress(&mut shared, &message);
    assert!(
        second.len() * 4 < first.len(),
        "{} vs {}",
        second.len(),
        first.len()
    );

    let mut fresh = new_deflater(true, 15);
    assert_eq!(compress(&mut fresh, &message), first);
    assert_eq!(compress(&mut fresh, &message), first);

    // Without takeover, each message inflates on its own: out of order too.
    let mut inflater = new_inflater(true, 15, MIB);
    assert_eq!(inflate(&mut inflater, &[&first]).unwrap(), message);
    // With takeover, the second needs the first's window.
    let mut cold = new_inflater(false, 15, MIB);
    assert!(inflate(&mut cold, &[&second]).is_err());
}

#[test]
fn compresses_hello_as_rfc_7692_shows() {
    let mut shared = new_deflater(false, 15);
    assert_eq!(compress(&mut shared, b"Hello"), HELLO);
    assert_eq!(compress(&mut shared, b"Hello"), HELLO_AGAIN);

    let mut fresh = new_deflater(true, 15);
    assert_eq!(compress(&mut fresh, b"Hello"), HELLO);
    assert_eq!(compress(&mut fresh, b"Hello"), HELLO);

    // §7.2.3.6: an empty message is one byte, 0x00.
    // Also between messages and twice in a row, on a shared window.
    let mut deflater = new_deflater(false, 15);
    let mut inflater = new_inflater(false, 15, MIB);
    for message in [&b""[..], b"", b"Hello", b"", b"", b"Hello"] {
        let compressed = compress(&mut deflater, message);
        if message.is_empty() {
            assert_eq!(compressed, [0x00]);
        }
        assert_eq!(inflate(&mut inflater, &[&compressed]).unwrap(), message);
    }
}

#[test]
fn inflates_rfc_7692_vectors() {
    // §7.2.3.1 and §7.2.3.2: one block, then the shared window.
    let mut shared = new_inflater(false, 15, MIB);
    assert_eq!(inflate(&mut shared, &[&HELLO]).unwrap(), b"Hello");
    assert_eq!(inflate(&mut shared, &[&HELLO_AGAIN]).unwrap(), b"Hello");
    // §7.2.3.1: the same message in two frames.
    let mut fragmented = new_inflater(false, 15, MIB);
    let frames: [&[u8]; 2] = [&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]];
    assert_eq!(inflate(&mut fragmented, &frames).unwrap(), b"Hello");
    // §7.2.3.3: a stored (uncompressed) block with BFINAL set.
    let stored = [0x01, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    // §7.2.3.4: a compressed block with BFINAL set.
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    // §7.2.3.5: two blocks in one message.
    let two_blocks = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    // §7.2.3.6: the empty message.
    let empty = [0x00];
    let mut inflater = new_inflater(false, 15, MIB);
    for (payload, expected) in [
        (&stored[..], &b"Hello"[..]),
        (&bfinal, b"Hello"),
        (&two_blocks, b"Hello"),
        (&empty, b""),
        // A stream that ended with BFINAL does not carry its window over.
        (&stored, b"Hello"),
        (&HELLO, b"Hello"),
        (&HELLO_AGAIN, b"Hello"),
    ] {
        assert_eq!(
            inflate(&mut inflater, &[payload]).unwrap(),
            expected,
            "{payload:02x?}"
        );
    }
}

#[test]
fn a_message_split_at_every_byte_inflates_the_same() {
    let messages = [
        json(3000, 1),
        json(3000, 2),
        noise(500, 3),
        b"Hello".to_vec(),
    ];
    for no_context_takeover in [false, true] {
        let mut deflater = new_deflater(no_context_takeover, 15);
        let compressed: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| compress(&mut deflater, m))
            .collect();
        for (k, payload) in compressed.iter().enumerate() {
            // Two fragments, split at every position (empty ones included),
            // after the messages before it (their window is shared).
            for at in 0..=payload.len() {
                let mut inflater = new_inflater(no_context_takeover, 15, MIB);
                for earlier in &compressed[..k] {
                    inflate(&mut inflater, &[earlier]).unwrap();
                }
                let (head, tail) = payload.split_at(at);
                let inflated = inflate(&mut inflater, &[head, tail]).unwrap();
                assert!(inflated == messages[k], "message {k} split at {at}");
            }
        }
        // One byte per fragment, all messages on one inflater.
        let mut bytewise = new_inflater(no_context_takeover, 15, MIB);
        for (message, payload) in messages.iter().zip(&compressed) {
            let fragments: Vec<&[u8]> = payload.chunks(1).collect();
            assert!(&inflate(&mut bytewise, &fragments).unwrap() == message);
        }
    }
}

#[test]
fn a_decompression_bomb_stops_at_the_limit_with_1009() {
    let bomb = compress(&mut new_deflater(true, 15), &vec![0; 10 * 1000 * 1000]);
    assert!(bomb.len() < 11_000, "bomb is {} bytes", bomb.len());
    for limit in [64 * 1024, MIB] {
        // One frame.
        let mut inflater = new_inflater(false, 15, limit);
        let mut out = Vec::new();
        let err = inflater.inflate(&bomb, true, &mut out).unwrap_err();
        assert_eq!(err.close_code(), Some(1009));
        assert_eq!(err.category(), crate::ErrorCategory::Protocol);
        // What was inflated before stopping: one byte past the limit.
        assert_eq!(out.len(), limit + 1);
        assert!(
            out.capacity() <= limit + MAX_INFLATE_STEP,
            "{}",
            out.capacity()
        );

        // Many small frames: the limit holds across the message.
        let mut inflater = new_inflater(false, 15, limit);
        let mut out = Vec::new();
        let mut result = Ok(());
        for (i, chunk) in bomb.chunks(16).enumerate() {
            result = inflater.inflate(chunk, (i + 1) * 16 >= bomb.len(), &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().close_code(), Some(1009));
        assert_eq!(out.len(), limit + 1);
    }
}

#[test]
fn the_limit_is_exact_and_per_message() {
    let limit = 10_000;
    let mut deflater = new_deflater(false, 15);
    let mut inflater = new_inflater(false, 15, limit);
    for _ in 0..3 {
        let fits = compress(&mut deflater, &json(limit, 5));
        let (head, tail) = fits.split_at(fits.len() / 2);
        assert_eq!(inflate(&mut inflater, &[head, tail]).unwrap().len(), limit);
    }
    let over = compress(&mut deflater, &json(limit + 1, 5));
    let err = inflate(&mut inflater, &[&over]).unwrap_err();
    assert_eq!(err.close_code(), Some(1009));
    assert_eq!(err.message(), "message inflates past the 10000 byte limit");
}

#[test]
fn garbage_is_a_protocol_error_not_a_panic() {
    // BTYPE 11 is reserved.
    let err = inflate(&mut new_inflater(false, 15, MIB), &[&[0xff; 16]]).unwrap_err();
    assert_eq!(err.category(), crate::ErrorCategory::Protocol);
    assert_eq!(err.close_code(), Some(1002));
    assert!(
        err.message().starts_with("invalid compressed message"),
        "{}",
        err.message()
    );
    // A stored block whose length check fails.
    let err = inflate(
        &mut new_inflater(false, 15, MIB),
        &[&[0x00, 0x05, 0x00, 0x00, 0x00]],
    )
    .unwrap_err();
    assert_eq!(err.close_code(), Some(1002));
    // A back reference before the start of the window.
    let err = inflate(&mut new_inflater(true, 15, MIB), &[&HELLO_AGAIN]).unwrap_err();
    assert_eq!(err.close_code(), Some(1002));

    let mut failures = 0;
    for seed in 0..2000 {
        let garbage = noise(1 + seed % 200, seed as u64 + 7);
        let mut inflater = new_inflater(false, 15, 4096);
        let fragments: Vec<&[u8]> = garbage.chunks(1 + seed % 13).collect();
        if let Err(err) = inflate(&mut inflater, &fragments) {
            assert!(matches!(err.close_code(), Some(1002 | 1009)), "{err:?}");
            failures += 1;
        }
    }
    assert!(failures > 1000, "only {failures} of 2000 failed");
}

#[test]
fn windows_of_eight_bits_are_handled() {
    let mut eight = agreed(false, 8);
    // We cannot compress within 256 bytes: send uncompressed.
    assert!(Deflater::new(&eight).is_none());
    // The server's 256-byte window inflates with 512 bytes.
    eight.server_window_bits = 8;
    let mut inflater = Inflater::new(&eight, MIB);
    assert_eq!(inflate(&mut inflater, &[&HELLO]).unwrap(), b"Hello");
    assert_eq!(inflate(&mut inflater, &[&HELLO_AGAIN]).unwrap(), b"Hello");
}

#[test]
fn small_windows_keep_to_their_size() {
    let repeated = |n| {
        let block = noise(n, 11);
        let message: Vec<u8> = block.iter().chain(&block).chain(&block).copied().collect();
        message
    };
    // zlib reaches back at most the window less 262 bytes: 250 for a
    // 512-byte window. Repeats 240 bytes apart are found...
    let near = repeated(240);
    let compressed = compress(&mut new_deflater(false, 9), &near);
    assert!(
        compressed.len() < near.len() * 3 / 4,
        "{}",
        compressed.len()
    );
    let mut inflater = new_inflater(false, 9, MIB);
    assert_eq!(inflate(&mut inflater, &[&compressed]).unwrap(), near);
    // ...and 500 bytes apart are not, though a 1 KiB window finds them.
    let far = repeated(500);
    let compressed = compress(&mut new_deflater(false, 9), &far);
    assert!(compressed.len() >= far.len(), "{}", compressed.len());
    assert_eq!(inflate(&mut inflater, &[&compressed]).unwrap(), far);
    let compressed = compress(&mut new_deflater(false, 10), &far);
    assert!(compressed.len() < far.len() * 3 / 4, "{}", compressed.len());
}

#[test]
fn negotiated_parameters_drive_both_transforms() {
    let offer = DeflateConfig {
        client_max_window_bits: Some(10),
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let response = b"permessage-deflate; server_no_context_takeover; client_max_window_bits=9";
    let agreed = negotiate(Some(&offer), [response.as_slice()])
        .unwrap()
        .unwrap();
    let mut deflater = Deflater::new(&agreed).unwrap();
    let mut inflater = Inflater::new(&agreed, MIB);
    // The server compresses each message on its own: "Hello" is HELLO.
    for _ in 0..3 {
        assert_eq!(inflate(&mut inflater, &[&HELLO]).unwrap(), b"Hello");
    }
    // We keep our window (only the server dropped its own).
    assert_eq!(compress(&mut deflater, b"Hello"), HELLO);
    assert_eq!(compress(&mut deflater, b"Hello"), HELLO_AGAIN);
}
