//! SSE parser throughput, against a minimal line splitter measured in the
//! same run as the baseline.
//!
//! ```text
//! cargo run --release --example bench_sse_parser
//! ```
//!
//! Prints MB/s and events/s for 64-byte events fed in 16 KiB chunks, the
//! median of 5 runs each, and the ratio parser / splitter.

use std::time::{Duration, Instant};

use actix_tether::sse::SseParser;
use bytes::Bytes;

const EVENTS: usize = 1_000_000;
const CHUNK: usize = 16 * 1024;
const RUNS: usize = 5;

/// `data: ` + payload + `\n\n`, 64 bytes per event.
fn stream() -> Vec<Bytes> {
    let mut all = Vec::with_capacity(EVENTS * 64);
    for i in 0..EVENTS {
        let line = format!("data: {i:0>54}\n\n");
        debug_assert_eq!(line.len(), 64);
        all.extend_from_slice(line.as_bytes());
    }
    let all = Bytes::from(all);
    (0..all.len())
        .step_by(CHUNK)
        .map(|at| all.slice(at..(at + CHUNK).min(all.len())))
        .collect()
}

/// The baseline: split lines, count blank lines as events, keep partial lines.
fn split_lines(chunks: &[Bytes]) -> usize {
    let mut events = 0;
    let mut partial: Vec<u8> = Vec::new();
    for chunk in chunks {
        let mut rest = &chunk[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line_empty = i == 0 && partial.is_empty();
            if line_empty {
                events += 1;
            }
            partial.clear();
            rest = &rest[i + 1..];
        }
        partial.extend_from_slice(rest);
    }
    events
}

fn parse(chunks: &[Bytes]) -> usize {
    let mut parser = SseParser::new(1 << 20);
    let mut out = Vec::with_capacity(1024);
    let mut events = 0;
    for chunk in chunks {
        parser.push(chunk.clone(), &mut out).expect("valid stream");
        events += out.len();
        out.clear();
    }
    events
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time(chunks: &[Bytes], f: fn(&[Bytes]) -> usize) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let n = f(chunks);
                let took = started.elapsed();
                assert_eq!(n, EVENTS);
                took
            })
            .collect(),
    )
}

fn main() {
    let chunks = stream();
    let bytes = (EVENTS * 64) as f64;
    let baseline = time(&chunks, split_lines);
    let parser = time(&chunks, parse);
    let report = |name: &str, t: Duration| {
        println!(
            "| {name:<14} | {:>8.0} MB/s | {:>6.2} M events/s |",
            bytes / t.as_secs_f64() / 1e6,
            EVENTS as f64 / t.as_secs_f64() / 1e6
        );
    };
    println!("| {:<14} | {:>13} | {:>17} |", "", "throughput", "events");
    println!("|----------------|---------------|-------------------|");
    report("line splitter", baseline);
    report("SseParser", parser);
    println!(
        "ratio parser / splitter: {:.2}x",
        baseline.as_secs_f64() / parser.as_secs_f64()
    );
}
