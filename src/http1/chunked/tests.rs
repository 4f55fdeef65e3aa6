//! Chunked decoding, split at every byte.

use super::*;
use crate::http1::testing::{feed, splits};

/// The data and whether the end was seen, the same at every split.
fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut first = None;
    for cuts in splits(input) {
        let mut decoder = ChunkedDecoder::default();
        let got = feed(input, &cuts, |buf| decoder.decode(buf)).map(|chunks| {
            let mut data = Vec::new();
            let mut ended = false;
            for chunk in chunks {
                assert!(!ended, "data after the end at cuts {cuts:?}");
                match chunk {
                    Chunk::Data(bytes) => {
                        assert!(!bytes.is_empty(), "empty data at cuts {cuts:?}");
                        data.extend_from_slice(&bytes);
                    }
                    Chunk::End => ended = true,
                }
            }
            (data, ended)
        });
        match &first {
            None => first = Some(got),
            Some(first) => assert_eq!(*first, got, "cuts {cuts:?}"),
        }
    }
    first.unwrap()
}

#[test]
fn chunks_with_extensions_and_trailers_decode_at_every_split() {
    let input = b"5\r\nhello\r\n6;name=\"va;l\" ; other\r\n world\r\nA \t;x\r\n0123456789\r\n0;last\r\nExpires: never\r\nX-Sum: 1\n\r\n";
    assert_eq!(
        decode_all(input),
        Ok((b"hello world0123456789".to_vec(), true))
    );
    assert_eq!(decode_all(b"00\r\n\r\n"), Ok((Vec::new(), true)));
    assert_eq!(decode_all(b"1\r\nx\r\n0\r\n\n"), Ok((b"x".to_vec(), true)));
    assert_eq!(
        decode_all(b"f\r\n0123456789abcde\r\n"),
        Ok((b"0123456789abcde".to_vec(), false))
    );
}

#[test]
fn leading_zeros_do_not_count_toward_the_size_limit() {
    let zeros = "0".repeat(40);
    let input = format!("{zeros}10\r\n0123456789abcdef\r\n{zeros}\r\n\r\n");
    assert_eq!(
        decode_whole(input.as_bytes()),
        Ok(b"0123456789abcdef".to_vec())
    );
    assert_eq!(
        decode_all(b"0000000000000010\r\n0123456789abcdef\r\n0000000000000000\r\n\r\n"),
        Ok((b"0123456789abcdef".to_vec(), true))
    );
    // The largest size a u64 holds is a size; one digit more is not.
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::from(&b"00ffffffffffffffff\r\nab"[..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Chunk::Data("ab".into()))
    );
    let err = decode_whole(b"0ffffffffffffffff0\r\n").unwrap_err();
    assert!(err.contains("chunk size too large"), "{err}");
}

#[test]
fn bytes_after_the_last_chunk_stay_in_the_buffer() {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::from(&b"2\r\nab\r\n0\r\n\r\nHTTP/1.1"[..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Chunk::Data("ab".into()))
    );
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Chunk::End));
    assert!(decoder.is_done());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"HTTP/1.1");
}

#[test]
fn bad_framing_fails_wherever_the_input_is_split() {
    let cases: [(&[u8], &str); 9] = [
        (b"zz\r\n", "invalid chunk size"),
        (b"\r\n", "invalid chunk size"),
        (b";ext\r\n", "invalid chunk size"),
        (b"5 x\r\nhello\r\n", "invalid chunk size"),
        (b"5\nhello\r\n", "without CRLF"),
        (b"5\r\nhello world\r\n", "longer than its size"),
        (b"3\r\nabc\n0\r\n\r\n", "longer than its size"),
        (b"1234567890abcdef0\r\n", "chunk size too large"),
        (b"5;a\x01b\r\nhello\r\n", "invalid chunk extension"),
    ];
    for (input, want) in cases {
        let err = decode_all(input).unwrap_err();
        assert!(
            err.contains(want),
            "{:?}: {err}",
            String::from_utf8_lossy(input)
        );
    }
}

/// The data, or the error, of `input` in one piece.
fn decode_whole(input: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoder = ChunkedDecoder::default();
    let chunks = feed(input, &[], |buf| decoder.decode(buf))?;
    Ok(chunks
        .into_iter()
        .flat_map(|chunk| match chunk {
            Chunk::Data(bytes) => bytes.to_vec(),
            Chunk::End => Vec::new(),
        })
        .collect())
}

#[test]
fn size_lines_and_trailers_are_bounded() {
    let long_ext = format!("1;{}\r\nx\r\n", "e".repeat(MAX_CHUNK_LINE));
    let err = decode_whole(long_ext.as_bytes()).unwrap_err();
    assert!(err.contains("chunk-size line too long"), "{err}");
    // Each chunk's size line has its own bound.
    let ext = "e".repeat(MAX_CHUNK_LINE / 2);
    let many: String = (0..4).map(|_| format!("1;{ext}\r\nx\r\n")).collect();
    assert_eq!(decode_whole(many.as_bytes()), Ok(b"xxxx".to_vec()));
    let trailers = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_RESPONSE_HEAD_SIZE));
    let err = decode_whole(trailers.as_bytes()).unwrap_err();
    assert!(err.contains("trailer section too large"), "{err}");
}

#[test]
fn a_large_chunk_is_handed_out_as_it_arrives() {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::from(&b"100000\r\nabc"[..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Chunk::Data("abc".into()))
    );
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
}

#[test]
fn small_chunks_ready_together_come_out_as_one_piece_before_an_error() {
    let mut input = Vec::new();
    for i in 0..100u8 {
        input.extend_from_slice(b"3\r\nab");
        input.push(b'0' + i % 10);
        input.extend_from_slice(b"\r\n");
    }
    // A large chunk goes out on its own, then a bad size line.
    let large = vec![b'L'; JOIN_BELOW];
    input.extend_from_slice(format!("{:x}\r\n", large.len()).as_bytes());
    input.extend_from_slice(&large);
    input.extend_from_slice(b"\r\n1\r\nz\r\nxyz\r\n");
    let mut buf = BytesMut::from(&input[..]);
    let mut decoder = ChunkedDecoder::default();
    let Ok(Some(Chunk::Data(joined))) = decoder.decode(&mut buf) else {
        panic!("no joined piece");
    };
    assert_eq!(joined.len(), 300);
    assert_eq!(&joined[..6], b"ab0ab1");
    assert_eq!(
        decoder.decode(&mut buf).ok(),
        Some(Some(Chunk::Data(large.into())))
    );
    assert_eq!(
        decoder.decode(&mut buf).ok(),
        Some(Some(Chunk::Data(Bytes::from_static(b"z"))))
    );
    assert!(matches!(
        decoder.decode(&mut buf),
        Err(ReadError::Framing(_))
    ));
}
