//! WebSocket inbound throughput: a blasting loopback server, read by raw awc
//! and by actix-tether (batched and per-message subscriptions), in the same
//! run. SSE has its own benchmark, `bench_sse`.
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
    AddEndpoint, EndpointConfig, EndpointId, MessageReceived, Payload, QueueSlot, Subscribe,
    Subscriber, SupervisorActor, SupervisorConfig,
};
use awc::ws::Frame;
use bench_common::*;
use bytestring::ByteString;
use futures::StreamExt;

/// A raw awc WebSocket connection that takes 1 MiB frames.
async fn raw_connect(url: &str) -> actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec> {
    let client = awc::Client::builder().disable_timeout().finish();
    let (_, framed) = client
        .ws(url)
        .max_frame_size(1 << 20)
        .connect()
        .await
        .expect("connect");
    framed
}

/// Raw awc: the `Framed` stream loop counting data frames; with `validate`,
/// it also checks text frames are UTF-8 as RFC 6455 requires (and as
/// actix-tether does).
async fn raw_ws(url: &str, n: u64, validate: bool) -> f64 {
    let mut framed = raw_connect(url).await;
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

/// Raw awc feeding an actor, as hand-written awc code in an actix service
/// does: each text frame checked as UTF-8 and sent to the same counting
/// actor as its own `MessageReceived`. Shows what actix's per-message
/// mailbox costs before actix-tether adds anything.
async fn raw_ws_to_actor(url: &str, n: u64) -> f64 {
    let mut framed = raw_connect(url).await;
    let (mut counter, done) = Counter::new(n);
    counter.connected_at = Some(Instant::now());
    let counter = counter.start();
    let endpoint = EndpointId::from("raw");
    let mut count = 0;
    while let Some(frame) = framed.next().await {
        if let Frame::Text(bytes) = frame.expect("frame") {
            let text = ByteString::try_from(bytes).expect("utf-8");
            counter.do_send(MessageReceived {
                endpoint: endpoint.clone(),
                generation: 1,
                epoch: None,
                payload: Payload::Text(text),
                slot: QueueSlot::detached(),
            });
            count += 1;
            if count == n {
                break;
            }
        }
    }
    let took = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("bounded")
        .unwrap();
    rate(n, took)
}

/// actix-tether: one endpoint, one counting subscriber.
async fn tether(config: EndpointConfig, n: u64, batched: bool) -> f64 {
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, done) = Counter::new(n);
    let counter = counter.start();
    let data = if batched {
        Subscriber::Bursts(counter.clone().recipient())
    } else {
        Subscriber::Messages(counter.clone().recipient())
    };
    for subscriber in [Subscriber::Status(counter.recipient()), data] {
        supervisor
            .send(Subscribe::to(subscriber))
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
    println!("| figure | raw awc | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    // Raw and actix-tether runs alternate, so each ratio compares runs
    // measured moments apart.
    for (n, size) in [(n_small, 64), (n_large, 1024)] {
        let (name_batched, name_single) = (
            format!("WebSocket in, {size} B, batched"),
            format!("WebSocket in, {size} B, per message"),
        );
        let (batched_on, single_on) = (selected(&name_batched), selected(&name_single));
        if !batched_on && !single_on {
            continue;
        }
        *server.blast.ws.lock().unwrap() =
            ws_stream_chunks(usize::try_from(n).expect("fits"), size);
        let [mut raw, mut checked, mut batched, mut single, mut actor] =
            std::array::from_fn(|_| Vec::new());
        for _ in 0..runs {
            raw.push(raw_ws(&ws_url, n, false).await);
            if batched_on {
                batched.push(tether(ws_config(&ws_url), n, true).await);
                checked.push(raw_ws(&ws_url, n, true).await);
            }
            if single_on {
                single.push(tether(ws_config(&ws_url), n, false).await);
                actor.push(raw_ws_to_actor(&ws_url, n).await);
            }
        }
        if batched_on {
            // Issue 13's targets: the own codec reads whole bursts.
            let target = if size == 64 { ">= 1.5x" } else { ">= 1.2x" };
            row(&name_batched, "msg/s", &raw, &batched, target);
            let name = format!("{name_batched}, vs raw awc checking UTF-8");
            row(&name, "msg/s", &checked, &batched, "(context)");
        }
        if single_on {
            row(&name_single, "msg/s", &raw, &single, ">= 0.6x");
            let name = format!("{name_single}, vs raw awc sending each to an actor");
            row(&name, "msg/s", &actor, &single, "(context)");
        }
    }
    compressed_rows(&server, n_large, runs).await;
    server.stop().await;
}

/// A 1 KiB JSON message like a market-data feed's.
fn json_message() -> Vec<u8> {
    let mut json = String::from("[");
    let mut i = 0;
    while json.len() < 1000 {
        json.push_str(&format!(
            r#"{{"type":"trade","symbol":"BTC-USD","price":"{}.{:02}","size":"0.{:04}"}},"#,
            64_000 + i * 7,
            i % 100,
            i * 13 % 10_000
        ));
        i += 1;
    }
    json.pop();
    json.push(']');
    json.into_bytes()
}

/// permessage-deflate: the same 1 KiB JSON messages compressed and not,
/// both through actix-tether (burst subscriber), with the wire bytes.
async fn compressed_rows(server: &BlastServer, n: u64, runs: usize) {
    let name = "WebSocket in, 1 KiB JSON, batched, permessage-deflate vs uncompressed";
    if !selected(name) {
        return;
    }
    let message = json_message();
    let count = usize::try_from(n).expect("fits");
    let (plain, plain_wire) = json_stream_chunks(count, &message, false);
    let (deflated, deflated_wire) = json_stream_chunks(count, &message, true);
    *server.blast.ws.lock().unwrap() = plain;
    *server.blast.ws_deflate.lock().unwrap() = deflated;
    let (plain_url, deflate_url) = (server.url("ws", "/ws"), server.url("ws", "/ws-deflate"));
    let (mut uncompressed, mut compressed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        uncompressed.push(tether(ws_config(&plain_url), n, true).await);
        compressed.push(tether(ws_config(&deflate_url), n, true).await);
    }
    row(name, "msg/s", &uncompressed, &compressed, "(context)");
    println!(
        "| WebSocket in, 1 KiB JSON, wire bytes per message | {plain_wire} B | {deflated_wire} B | {:.2}x | (context) |",
        deflated_wire as f64 / plain_wire as f64
    );
}
