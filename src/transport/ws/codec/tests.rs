//! The frame codec, split at every byte position.

use super::*;

/// An unmasked server frame.
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(u8::try_from(n).unwrap()),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// One frame off the front of `buf`.
fn decode(codec: &FrameCodec, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
    let mut heads = Vec::new();
    let burst = codec.split_burst(buf, 1, &mut heads);
    match (burst.error, heads.first()) {
        (Some(e), _) => Err(e),
        (None, head) => Ok(head.map(|h| h.frame(&burst.bytes))),
    }
}

/// Every frame of `chunks`, fed one after the other, taken in bursts of
/// at most `per_burst` frames.
fn decode_all_by(
    codec: &FrameCodec,
    chunks: &[&[u8]],
    per_burst: usize,
) -> Result<Vec<Frame>, String> {
    let mut buf = BytesMut::new();
    // The socket's list: one head inline, more in its `Vec`.
    let mut heads = Heads::default();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let burst = codec.split_burst(&mut buf, per_burst, &mut heads);
            out.extend(heads.as_slice().iter().map(|h| h.frame(&burst.bytes)));
            match burst.error {
                Some(e) => return Err(e.to_string()),
                None if heads.as_slice().is_empty() => break,
                None => {}
            }
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    Ok(out)
}

fn decode_all(codec: &mut FrameCodec, chunks: &[&[u8]]) -> Result<Vec<Frame>, String> {
    let one = decode_all_by(codec, chunks, 1);
    assert_eq!(one, decode_all_by(codec, chunks, 3), "bursts of 3");
    assert_eq!(one, decode_all_by(codec, chunks, usize::MAX), "one burst");
    one
}

fn stream() -> (Vec<u8>, Vec<Frame>) {
    let big = vec![b'x'; 70_000];
    let mid = vec![b'y'; 300];
    let parts: Vec<(u8, &[u8], Frame)> = vec![
        (0x81, b"hello", Frame::new(OpCode::Text, &b"hello"[..])),
        (0x82, &[], Frame::new(OpCode::Binary, Bytes::new())),
        (0x89, b"p", Frame::new(OpCode::Ping, &b"p"[..])),
        (
            0x01,
            b"fi",
            Frame {
                fin: false,
                ..Frame::new(OpCode::Text, &b"fi"[..])
            },
        ),
        (0x80, b"n", Frame::new(OpCode::Continuation, &b"n"[..])),
        (0x82, &mid, Frame::new(OpCode::Binary, mid.clone())),
        (0x82, &big, Frame::new(OpCode::Binary, big.clone())),
        (0x88, &[3, 232], Frame::new(OpCode::Close, &[3u8, 232][..])),
    ];
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    for (first, payload, frame) in parts {
        bytes.extend(server_frame(first, payload));
        frames.push(frame);
    }
    (bytes, frames)
}

#[test]
fn decodes_the_same_frames_whatever_the_read_boundaries() {
    let (bytes, frames) = stream();
    let whole = decode_all(&mut FrameCodec::new(1 << 20), &[&bytes]).unwrap();
    assert_eq!(whole, frames);
    // Every single cut, and every pair of cuts in the headers' region.
    for cut in 0..=bytes.len() {
        let got = decode_all(
            &mut FrameCodec::new(1 << 20),
            &[&bytes[..cut], &bytes[cut..]],
        );
        assert_eq!(got.as_ref(), Ok(&frames), "cut at {cut}");
    }
    for a in 0..40 {
        for b in a..40 {
            let chunks = [&bytes[..a], &bytes[a..b], &bytes[b..]];
            assert_eq!(
                decode_all(&mut FrameCodec::new(1 << 20), &chunks).as_ref(),
                Ok(&frames),
                "cuts at {a}, {b}"
            );
        }
    }
}

#[test]
fn a_whole_frame_is_taken_out_of_the_read_buffer_without_a_copy() {
    let mut buf = BytesMut::from(&server_frame(0x82, &[7; 1000])[..]);
    let base = buf.as_ptr() as usize;
    let frame = decode(&FrameCodec::new(4096), &mut buf).unwrap().unwrap();
    assert_eq!(frame.payload.as_ptr() as usize, base + 4);
}

#[test]
fn header_rules_fail_with_their_close_code() {
    let cases: &[(&[u8], u16, &str)] = &[
        (&[0xC1, 0x00], 1002, "RSV1"),
        (&[0xA1, 0x00], 1002, "RSV2"),
        (&[0x91, 0x00], 1002, "RSV2/RSV3"),
        (&[0x83, 0x00], 1002, "reserved opcode"),
        (&[0x8B, 0x00], 1002, "reserved opcode"),
        (&[0x81, 0x81, 1, 2, 3, 4, 0], 1002, "masked"),
        (&[0x09, 0x00], 1002, "fragmented control"),
        (&[0x89, 126, 0, 126], 1002, "over 125"),
        (&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], 1002, "top bit"),
        (&[0x82, 126, 0x10, 0x00], 1009, "max_message_size"),
    ];
    for (bytes, code, words) in cases {
        let codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(*bytes);
        match decode(&codec, &mut buf) {
            Err(e) => {
                assert_eq!(e.close_code(), Some(*code), "{bytes:?}: {e}");
                assert!(e.to_string().contains(words), "{bytes:?}: {e}");
            }
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

#[test]
fn rsv1_only_on_a_compressed_message_start() {
    let mut codec = FrameCodec::new(64).with_compression(true);
    let frame = decode_all(&mut codec, &[&server_frame(0xC1, b"z")]).unwrap();
    assert!(frame[0].rsv1);
    for first in [0xC0, 0xC9] {
        let mut codec = FrameCodec::new(64).with_compression(true);
        assert!(decode_all(&mut codec, &[&server_frame(first, b"z")]).is_err());
    }
}

#[test]
fn an_over_limit_frame_fails_before_its_payload_arrives() {
    let codec = FrameCodec::new(100);
    let mut buf = BytesMut::from(&[0x82u8, 126, 0x01, 0x00][..]);
    assert_eq!(
        decode(&codec, &mut buf).unwrap_err().close_code(),
        Some(1009)
    );
}

#[test]
fn encoded_frames_are_masked_and_unmask_to_the_payload() {
    for len in [
        0usize, 1, 3, 7, 8, 9, 15, 31, 32, 33, 64, 70, 95, 124, 125, 126, 127, 65_535, 65_536,
    ] {
        let payload: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        let frame = Frame::new(OpCode::Binary, payload.clone());
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut out = BytesMut::new();
        encode_masked(&frame, key, &mut out);
        assert_eq!(out[0], 0x82);
        assert_eq!(out[1] & 0x80, 0x80, "mask bit");
        let header = match len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        assert_eq!(out.len(), header + 4 + len, "len {len}");
        assert_eq!(&out[header..header + 4], &key);
        let masked = &out[header + 4..];
        // Byte by byte, as RFC 6455 §5.3 states it.
        assert!(
            masked
                .iter()
                .zip(&payload)
                .enumerate()
                .all(|(i, (m, p))| *m == p ^ key[i % 4]),
            "len {len}"
        );
    }
    // Fresh keys per frame.
    let mut keys = MaskKeys::new();
    let drawn: Vec<[u8; 4]> = (0..24).map(|_| keys.next()).collect();
    for (i, key) in drawn.iter().enumerate() {
        assert!(!drawn[..i].contains(key), "key {i} repeats: {drawn:?}");
    }
}
