//! Response heads and bodies, every framing.

use super::*;
use crate::http1::testing::{feed, splits};

/// A summary of every part read from `input`, then the end of input.
fn read(input: &[u8], max_head: usize) -> Result<Vec<String>, String> {
    let mut first = None;
    for cuts in splits(input) {
        let mut codec = ResponseCodec::new(max_head);
        let mut rest = BytesMut::new();
        let got = feed(input, &cuts, |buf| {
            let part = codec.decode(buf);
            rest = buf.clone();
            part
        })
        .and_then(|mut parts| {
            for _ in 0..4 {
                match codec.decode_eof(&mut rest).map_err(|e| e.to_string())? {
                    Some(part) => parts.push(part),
                    None => break,
                }
            }
            Ok(parts)
        })
        .map(|parts| {
            parts
                .into_iter()
                .map(|part| match part {
                    Part::Head(head) => format!("head {}", head.status),
                    Part::Data(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Part::End => "end".to_owned(),
                })
                .collect::<Vec<_>>()
        })
        // Data may come in any number of pieces: join neighbours.
        .map(|parts| {
            let mut joined: Vec<String> = Vec::new();
            for part in parts {
                match joined.last_mut() {
                    Some(last) if !is_marker(last) && !is_marker(&part) => {
                        last.push_str(&part);
                    }
                    _ => joined.push(part),
                }
            }
            joined
        });
        match &first {
            None => first = Some(got),
            Some(first) => assert_eq!(*first, got, "cuts {cuts:?}"),
        }
    }
    first.unwrap()
}

fn is_marker(part: &str) -> bool {
    part == "end" || part.starts_with("head ")
}

#[test]
fn interim_heads_are_skipped_and_each_framing_is_read() {
    let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n";
    assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata and more";
    assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
    let input = b"HTTP/1.0 200 OK\r\n\r\ndata";
    assert_eq!(read(input, 1024).unwrap(), ["head 200", "data", "end"]);
    let input = b"HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(read(input, 1024).unwrap(), ["head 200", "end"]);
}

#[test]
fn heads_count_against_one_budget() {
    let interim = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n";
    let input = format!("{interim}{interim}{interim}HTTP/1.1 200 OK\r\n\r\n");
    let err = read(input.as_bytes(), interim.len() * 3).unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    assert!(read(input.as_bytes(), input.len()).is_ok());
    let endless = interim.repeat(usize::from(MAX_INTERIM_RESPONSES) + 1);
    let err = read(endless.as_bytes(), 64 * 1024).unwrap_err();
    assert!(err.contains("interim responses"), "{err}");
}

#[test]
fn untrusted_framing_fails_only_when_the_body_is_read() {
    let mut codec = ResponseCodec::default();
    let mut buf = BytesMut::from(&b"HTTP/1.1 302 Found\r\nContent-Length: x\r\n\r\n"[..]);
    assert!(matches!(codec.decode(&mut buf), Ok(Some(Part::Head(_)))));
    assert!(matches!(codec.decode(&mut buf), Err(ReadError::Framing(_))));
}

#[test]
fn read_ahead_follows_the_last_read_within_bounds() {
    let spare_after = |body: usize| {
        let mut codec = ResponseCodec::default();
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n\r\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(Some(Part::Head(_)))));
        buf.extend_from_slice(&vec![b'x'; body]);
        let Ok(Some(Part::Data(data))) = codec.decode(&mut buf) else {
            panic!("data");
        };
        assert_eq!(data.len(), body);
        buf.capacity() - buf.len()
    };
    assert!((MIN_READ_AHEAD..2 * MIN_READ_AHEAD).contains(&spare_after(100)));
    assert!((MAX_READ_AHEAD..2 * MAX_READ_AHEAD).contains(&spare_after(1 << 20)));
}

/// A deterministic xorshift generator: the same inputs every run.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn mutated_responses_in_random_pieces_never_panic_or_grow_the_buffer() {
    let seeds: [&[u8]; 3] = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5;x=y\r\ndata:\r\n3\r\n a\n\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndata: a\n\n",
        b"HTTP/1.0 200 OK\nContent-Type: text/event-stream\n\ndata: a\n\n",
    ];
    let max_head = 256;
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let (mut heads, mut errors) = (0, 0);
    for round in 0..3000 {
        let mut input = seeds[round % seeds.len()].to_vec();
        for _ in 0..next() % 4 {
            let at = usize::try_from(next()).unwrap_or(0) % (input.len() + 1);
            let byte = next().to_le_bytes()[0];
            match next() % 3 {
                0 if at < input.len() => input[at] = byte,
                1 => input.insert(at, byte),
                _ if at < input.len() => {
                    input.remove(at);
                }
                _ => {}
            }
        }
        let mut codec = ResponseCodec::new(max_head);
        let mut buf = BytesMut::new();
        let mut pos = 0;
        let mut ended = false;
        'feed: while pos < input.len() {
            let end = (pos + 1 + usize::try_from(next() % 16).unwrap_or(0)).min(input.len());
            buf.extend_from_slice(&input[pos..end]);
            pos = end;
            for _ in 0..=input.len() {
                match codec.decode(&mut buf) {
                    Ok(Some(Part::End)) => {
                        ended = true;
                        break 'feed;
                    }
                    Err(_) => {
                        errors += 1;
                        ended = true;
                        break 'feed;
                    }
                    Ok(Some(Part::Head(_))) => heads += 1,
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                }
            }
            assert!(buf.len() <= max_head + 16, "round {round}: {}", buf.len());
        }
        for _ in 0..=input.len() {
            if ended || !matches!(codec.decode_eof(&mut buf), Ok(Some(_))) {
                break;
            }
        }
    }
    // Both paths were taken, often.
    assert!(
        heads > 1000 && errors > 100,
        "{heads} heads, {errors} errors"
    );
}

#[test]
fn a_connection_closed_early_is_truncated() {
    assert_eq!(
        read(b"", 1024).unwrap_err(),
        "connection closed before a response"
    );
    assert_eq!(
        read(b"HTTP/1.1 200 OK\r\n", 1024).unwrap_err(),
        "connection closed inside the response head"
    );
    let err = read(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 1024).unwrap_err();
    assert!(err.contains("101"), "{err}");
}

#[test]
fn a_head_read_a_byte_at_a_time_is_parsed_a_few_times_not_per_byte() {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n".to_vec();
    for i in 0..100 {
        let value = "v".repeat(100);
        head.extend_from_slice(format!("X-Field-{i}: {value}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let (mut parsed, mut parses) = (0, 0);
    for len in 1..=head.len() {
        if worth_parsing(&head[..len], parsed, 64 * 1024) {
            parses += 1;
            parsed = len;
        }
    }
    // The first byte, each doubling, and the blank line.
    assert!(
        parses <= 16,
        "{parses} parses of a {} byte head",
        head.len()
    );
    assert_eq!(parsed, head.len(), "the last byte completes the head");
    // The whole head through the codec, a byte at a time, still reads.
    let mut codec = ResponseCodec::default();
    let mut buf = BytesMut::new();
    let mut got = None;
    for byte in &head {
        buf.extend_from_slice(&[*byte]);
        if let Some(part) = codec.decode(&mut buf).unwrap() {
            got = Some(part);
        }
    }
    assert!(matches!(got, Some(Part::Head(h)) if h.status == 200));
}
