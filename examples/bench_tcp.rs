//! Inbound TCP throughput: a loopback server blasting 64-byte lines, read by
//! a raw actix-codec `Framed` lines loop and by actix-tether's TCP
//! transport (lines framing, batched subscription), alternating in the
//! same process. The raw loop is a fair one: its decoder hands out each
//! line as a UTF-8-checked slice of the read buffer (no copy), and it
//! reads 64 KiB at a time, as actix-tether does on a busy stream.
//!
//! ```text
//! cargo run --release --example bench_tcp [-- --quick] [-- --runs N]
//! ```
//!
//! Prints markdown rows: the median lines/s of each, and the median of the
//! per-run ratios. A run reads 16 M lines (about 1 s; 1 M with `--quick`).

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_codec::{Decoder, Framed, FramedParts};
use actix_tether::{
    AddEndpoint, EndpointConfig, Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use bench_common::*;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures::StreamExt;

/// Bytes per line, its LF included.
const LINE: usize = 64;

/// The raw loop's read size: actix-tether's on a busy stream.
const READ_BUFFER: usize = 64 * 1024;

/// Serves `chunks` to every connection from its own thread, then holds the
/// connection until the client closes it. Returns the port.
fn start_server(chunks: Vec<Bytes>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("bound").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let arbiter = actix_rt::Arbiter::new();
    arbiter.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        while let Ok((mut stream, _)) = listener.accept().await {
            let chunks = chunks.clone();
            actix_rt::spawn(async move {
                for chunk in &chunks {
                    if stream.write_all(chunk).await.is_err() {
                        return;
                    }
                }
                let mut sink = [0u8; 1024];
                while let Ok(1..) = stream.read(&mut sink).await {}
            });
        }
    });
    // The arbiter's thread serves until the process exits.
    std::mem::forget(arbiter);
    port
}

/// `n` lines of `LINE` bytes as ~64 KiB chunks sharing one buffer.
fn line_chunks(n: usize) -> Vec<Bytes> {
    chunked(n, |out| {
        out.extend(std::iter::repeat_n(b'x', LINE - 1));
        out.extend_from_slice(b"\n");
    })
}

/// LF-ended lines as slices of the read buffer, checked to be UTF-8 (as
/// actix-tether's text lines are), with room for a 64 KiB read before each
/// read (`Framed` alone tops its buffer up to 8 KiB).
struct SliceLines;

impl Decoder for SliceLines {
    type Item = ByteString;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> std::io::Result<Option<ByteString>> {
        let Some(end) = memchr::memchr(b'\n', src) else {
            if src.capacity() - src.len() < READ_BUFFER / 2 {
                src.reserve(READ_BUFFER);
            }
            return Ok(None);
        };
        let line = src.split_to(end + 1).freeze().slice(..end);
        ByteString::try_from(line)
            .map(Some)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not utf-8"))
    }
}

/// The raw loop: a `Framed` TCP stream with `SliceLines` and a 64 KiB read
/// buffer from the start, counting lines.
async fn raw_lines(port: u16, n: u64) -> f64 {
    let stream = actix_rt::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let parts =
        FramedParts::with_read_buf(stream, SliceLines, BytesMut::with_capacity(READ_BUFFER));
    let mut framed = Framed::from_parts(parts);
    let started = Instant::now();
    let mut count = 0;
    while let Some(line) = framed.next().await {
        std::hint::black_box(line.expect("a line"));
        count += 1;
        if count == n {
            break;
        }
    }
    rate(n, started.elapsed())
}

/// actix-tether: one TCP endpoint, one counting burst subscriber.
async fn tether(port: u16, n: u64) -> f64 {
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, done) = Counter::new(n);
    let counter = counter.start();
    for subscriber in [
        Subscriber::Status(counter.clone().recipient()),
        Subscriber::Bursts(counter.recipient()),
    ] {
        supervisor
            .send(Subscribe::to(subscriber))
            .await
            .unwrap()
            .unwrap();
    }
    let config = EndpointConfig::tcp(format!("tcp://127.0.0.1:{port}"))
        .heartbeat_interval(Duration::from_secs(60))
        .build()
        .expect("valid config");
    supervisor
        .send(AddEndpoint::new("bench", config))
        .await
        .unwrap()
        .unwrap();
    let took = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("bounded")
        .unwrap();
    supervisor.send(actix_tether::Shutdown).await.unwrap();
    rate(n, took)
}

#[actix::main]
async fn main() {
    let runs = runs();
    let n: u64 = if quick() { 1_000_000 } else { 16_000_000 };
    let name = "TCP in, 64 B lines, batched";
    println!("| figure | raw actix-codec `Framed` | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    if !selected(name) {
        return;
    }
    let port = start_server(line_chunks(usize::try_from(n).expect("fits")));
    // Alternating runs: each ratio compares runs measured moments apart.
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        raw.push(raw_lines(port, n).await);
        ours.push(tether(port, n).await);
    }
    row(name, "lines/s", &raw, &ours, ">= 0.9x");
}
