//! Inbound throughput: a blasting loopback server, read by raw awc and by
//! actix-tether (batched and per-message subscriptions), in the same run.
//!
//! ```text
//! cargo run --release --example bench_inbound [-- --quick] [-- --runs N]
//! ```
//!
//! Prints markdown rows: median messages/s of each, and the ratio.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, EndpointConfig, Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use awc::ws::Frame;
use bench_common::*;
use futures::StreamExt;

/// Raw awc: the `Framed` stream loop counting data frames; with `validate`,
/// it also checks text frames are UTF-8 as RFC 6455 requires (and as
/// actix-tether does).
async fn raw_ws(url: &str, n: u64, validate: bool) -> f64 {
    let client = awc::Client::builder().disable_timeout().finish();
    let (_, mut framed) = client
        .ws(url)
        .max_frame_size(1 << 20)
        .connect()
        .await
        .expect("connect");
    let started = Instant::now();
    let mut count = 0;
    while let Some(frame) = framed.next().await {
        if let Frame::Text(bytes) | Frame::Binary(bytes) = frame.expect("frame") {
            if validate {
                assert!(std::str::from_utf8(&bytes).is_ok());
            }
            count += 1;
            if count == n {
                break;
            }
        }
    }
    rate(n, started.elapsed())
}

/// Raw awc streaming with a minimal line splitter counting blank lines.
async fn raw_sse(url: &str, n: u64) -> f64 {
    let client = awc::Client::builder().disable_timeout().finish();
    let mut body = client.get(url).send().await.expect("connect");
    let started = Instant::now();
    let (mut events, mut partial) = (0, 0usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        let mut rest = &chunk[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if i == 0 && partial == 0 {
                events += 1;
            }
            partial = 0;
            rest = &rest[i + 1..];
        }
        partial += rest.len();
        if events >= n {
            break;
        }
    }
    rate(n, started.elapsed())
}

/// actix-tether: one endpoint, one counting subscriber.
async fn tether(config: EndpointConfig, n: u64, batched: bool) -> f64 {
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, done) = Counter::new(n);
    let counter = counter.start();
    let data = if batched {
        Subscriber::Batches(counter.clone().recipient())
    } else {
        Subscriber::Messages(counter.clone().recipient())
    };
    for subscriber in [Subscriber::Status(counter.recipient()), data] {
        supervisor
            .send(Subscribe {
                endpoint: None,
                subscriber,
            })
            .await
            .unwrap()
            .unwrap();
    }
    supervisor
        .send(AddEndpoint::new("bench", config))
        .await
        .unwrap()
        .unwrap();
    let took = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("bounded")
        .unwrap();
    rate(n, took)
}

async fn median_of<F, Fut>(runs: usize, f: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut values = Vec::new();
    for _ in 0..runs {
        values.push(f().await);
    }
    median(values)
}

fn ws_config(url: &str) -> EndpointConfig {
    EndpointConfig::websocket(url)
        .heartbeat_interval(Duration::from_secs(60))
        .build()
        .expect("valid config")
}

#[actix::main]
async fn main() {
    let runs = runs();
    let (n_small, n_large) = if quick() {
        (200_000, 40_000)
    } else {
        (1_000_000, 200_000)
    };
    let server = BlastServer::start();
    let ws_url = server.url("ws", "/ws");
    let sse_url = server.url("http", "/sse");
    println!("| figure | raw awc | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    for (n, size) in [(n_small, 64), (n_large, 1024)] {
        let (name_batched, name_single) = (
            format!("WebSocket in, {size} B, batched"),
            format!("WebSocket in, {size} B, per message"),
        );
        if !selected(&name_batched) && !selected(&name_single) {
            continue;
        }
        *server.blast.ws.lock().unwrap() =
            ws_stream_chunks(usize::try_from(n).expect("fits"), size);
        let raw = median_of(runs, || raw_ws(&ws_url, n, false)).await;
        if selected(&name_batched) {
            let batched = median_of(runs, || tether(ws_config(&ws_url), n, true)).await;
            row(&name_batched, "msg/s", raw, batched, ">= 0.95x");
            let checked = median_of(runs, || raw_ws(&ws_url, n, true)).await;
            let name = format!("{name_batched}, vs raw awc checking UTF-8");
            row(&name, "msg/s", checked, batched, "(context)");
        }
        if selected(&name_single) {
            let single = median_of(runs, || tether(ws_config(&ws_url), n, false)).await;
            row(&name_single, "msg/s", raw, single, ">= 0.6x");
        }
    }
    if !selected("SSE in, 64 B events, batched") {
        return server.stop().await;
    }
    *server.blast.sse.lock().unwrap() =
        sse_stream_chunks(usize::try_from(n_small).expect("fits"), 64);
    let raw = median_of(runs, || raw_sse(&sse_url, n_small)).await;
    let sse_config = || {
        EndpointConfig::sse(&sse_url)
            .heartbeat_interval(Duration::from_secs(60))
            .build()
            .expect("valid config")
    };
    let ours = median_of(runs, || tether(sse_config(), n_small, true)).await;
    row(
        "SSE in, 64 B events, batched",
        "events/s",
        raw,
        ours,
        ">= 0.8x",
    );
    server.stop().await;
}
