//! Feeding a codec its input split at every position, for the framings'
//! unit tests.

use std::io;

use actix_codec::Decoder;
use bytes::BytesMut;

use crate::Payload;

/// What decoding a whole input gave: the messages (as lossy text), then
/// the end of the stream or an error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok(Vec<String>),
    Err(Vec<String>, io::ErrorKind),
}

/// The outcome of messages `items` and a clean end.
pub(crate) fn ok(items: &[&str]) -> Outcome {
    Outcome::Ok(items.iter().map(|s| (*s).to_owned()).collect())
}

/// Decodes `input` in two reads split at every position, and once a byte
/// at a time, each with a fresh codec from `make`, then the end of the
/// stream, as `Framed` drives a decoder.
pub(crate) fn decode_split<C>(input: &[u8], make: impl Fn() -> C) -> Vec<Outcome>
where
    C: Decoder<Item = Payload, Error = io::Error>,
{
    let mut splits: Vec<Vec<&[u8]>> = (0..=input.len())
        .map(|at| vec![&input[..at], &input[at..]])
        .collect();
    splits.push(input.chunks(1).collect());
    splits
        .into_iter()
        .map(|reads| run(&mut make(), &reads))
        .collect()
}

fn run<C: Decoder<Item = Payload, Error = io::Error>>(codec: &mut C, reads: &[&[u8]]) -> Outcome {
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let text = |p: Payload| String::from_utf8_lossy(p.as_bytes()).into_owned();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => got.push(text(item)),
                Ok(None) => break,
                Err(err) => return Outcome::Err(got, err.kind()),
            }
        }
    }
    // Bounded: each round takes bytes off the buffer or ends.
    for _ in 0..=reads.iter().map(|r| r.len()).sum::<usize>() {
        match codec.decode_eof(&mut buf) {
            Ok(Some(item)) => got.push(text(item)),
            Ok(None) => return Outcome::Ok(got),
            Err(err) => return Outcome::Err(got, err.kind()),
        }
    }
    panic!("decode_eof never ended");
}

/// Inputs from a small alphabet that hits every branch of the framings
/// (line ends, blank lines, bad UTF-8, short length prefixes), made by a
/// fixed-seed generator: the same on every run.
fn random_inputs(count: usize) -> Vec<Vec<u8>> {
    const ALPHABET: &[u8] = b"ab\r\n\n\x00\x01\x02\xff\xc3\xa9";
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = usize::try_from(next() % 24).expect("small");
            (0..len)
                .map(|_| ALPHABET[usize::try_from(next() % ALPHABET.len() as u64).expect("small")])
                .collect()
        })
        .collect()
}

#[test]
fn every_framing_decodes_random_input_the_same_whatever_the_splits() {
    use super::{BlockCodec, LengthCodec, LineCodec, Width};
    for input in random_inputs(300) {
        for max in [0, 3, 64] {
            let runs = [
                decode_split(&input, || LineCodec::new(max)),
                decode_split(&input, || BlockCodec::new(max, false)),
                decode_split(&input, || BlockCodec::new(max, true)),
                decode_split(&input, || LengthCodec::new(Width::U16, max)),
                decode_split(&input, || LengthCodec::new(Width::U32, max)),
            ];
            for outcomes in runs {
                assert!(
                    outcomes.windows(2).all(|w| w[0] == w[1]),
                    "{input:?} max {max}: {outcomes:?}"
                );
            }
        }
    }
}
