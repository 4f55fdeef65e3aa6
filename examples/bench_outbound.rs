//! Outbound throughput: 64-byte messages to a counting loopback server, sent
//! by raw awc sink writes and through actix-tether, in the same run.
//!
//! ```text
//! cargo run --release --example bench_outbound [-- --quick] [-- --runs N]
//! ```
//!
//! Both figures run until the server has counted every message.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, EndpointConfig, EndpointId, GetEndpoint, Payload, SendPayload, Subscribe,
    Subscriber, SupervisorActor, SupervisorConfig,
};
use bench_common::*;
use futures::{stream::FuturesUnordered, SinkExt, StreamExt};

/// Sends in flight at once through the supervisor.
const WINDOW: usize = 1024;

/// Waits (bounded) until the server has counted `target` messages.
async fn until_received(received: &Arc<std::sync::atomic::AtomicU64>, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "server stopped counting");
        actix_rt::time::sleep(Duration::from_micros(200)).await;
    }
}

fn payload() -> Payload {
    Payload::text("x".repeat(64))
}

async fn raw(server: &BlastServer, n: u64) -> f64 {
    let received = Arc::clone(&server.blast.received);
    let start_count = received.load(Ordering::Relaxed);
    let client = awc::Client::builder().disable_timeout().finish();
    let (_, mut framed) = client
        .ws(server.url("ws", "/sink"))
        .connect()
        .await
        .expect("connect");
    let Payload::Text(text) = payload() else {
        unreachable!()
    };
    let started = Instant::now();
    for i in 0..n {
        framed
            .feed(awc::ws::Message::Text(text.clone()))
            .await
            .expect("feed");
        if i % 256 == 255 {
            framed.flush().await.expect("flush");
        }
    }
    framed.flush().await.expect("flush");
    until_received(&received, start_count + n).await;
    rate(n, started.elapsed())
}

/// How the benchmark sends through actix-tether.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `SendPayload` to the supervisor, `WINDOW` in flight.
    Supervisor,
    /// `EndpointHandle::send`, `WINDOW` in flight.
    Handle,
    /// `EndpointHandle::send_batch` of 256.
    Batch,
}

async fn tether(server: &BlastServer, n: u64, path: Path) -> f64 {
    let received = Arc::clone(&server.blast.received);
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, _) = Counter::new(u64::MAX);
    let counter = counter.start();
    let status = Subscriber::Status(counter.clone().recipient());
    supervisor
        .send(Subscribe {
            endpoint: None,
            subscriber: status,
        })
        .await
        .unwrap()
        .unwrap();
    let config = EndpointConfig::websocket(server.url("ws", "/sink"))
        .heartbeat_interval(Duration::from_secs(60))
        .build()
        .expect("valid config");
    supervisor
        .send(AddEndpoint::new("out", config))
        .await
        .unwrap()
        .unwrap();
    // Wait for the connection: a queued burst would measure the outbox, not the socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !counter.send(IsConnected).await.unwrap() {
        assert!(Instant::now() < deadline, "never connected");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let handle = supervisor
        .send(GetEndpoint { id: "out".into() })
        .await
        .unwrap()
        .unwrap();
    let start_count = received.load(Ordering::Relaxed);
    let payload = payload();
    let started = Instant::now();
    match path {
        Path::Supervisor => {
            // Callers keep their endpoint ids: cloning one copies no string.
            let id = EndpointId::from("out");
            let mut in_flight = FuturesUnordered::new();
            for _ in 0..n {
                if in_flight.len() == WINDOW {
                    in_flight.next().await;
                }
                in_flight.push(supervisor.send(SendPayload::new(id.clone(), payload.clone())));
            }
            while in_flight.next().await.is_some() {}
        }
        Path::Handle => {
            let mut in_flight = FuturesUnordered::new();
            for _ in 0..n {
                if in_flight.len() == WINDOW {
                    in_flight.next().await;
                }
                let handle = handle.clone();
                let payload = payload.clone();
                in_flight.push(async move { handle.send(payload).await.expect("accepted") });
            }
            while in_flight.next().await.is_some() {}
        }
        Path::Batch => {
            let mut sent = 0;
            while sent < n {
                let k = (n - sent).min(256);
                let batch = (0..k).map(|_| payload.clone()).collect();
                for receipt in handle.send_batch(batch).await.expect("endpoint alive") {
                    receipt.expect("accepted");
                }
                sent += k;
            }
        }
    }
    until_received(&received, start_count + n).await;
    rate(n, started.elapsed())
}

/// Asks the counter whether a connection came up.
struct IsConnected;
impl Message for IsConnected {
    type Result = bool;
}
impl Handler<IsConnected> for Counter {
    type Result = bool;
    fn handle(&mut self, _: IsConnected, _: &mut Context<Self>) -> bool {
        self.connected_at.is_some()
    }
}

#[actix::main]
async fn main() {
    let runs = runs();
    let n = if quick() { 200_000 } else { 1_000_000 };
    let server = BlastServer::start();
    let paths = [
        (
            "WebSocket out, 64 B, EndpointHandle::send_batch(256)",
            Path::Batch,
        ),
        ("WebSocket out, 64 B, EndpointHandle::send", Path::Handle),
        (
            "WebSocket out, 64 B, SendPayload via supervisor",
            Path::Supervisor,
        ),
    ];
    let mut raws = Vec::new();
    let mut ours = vec![Vec::new(); paths.len()];
    for _ in 0..runs {
        raws.push(raw(&server, n).await);
        for (i, (name, path)) in paths.iter().enumerate() {
            if selected(name) {
                ours[i].push(tether(&server, n, *path).await);
            }
        }
    }
    println!("| figure | raw awc | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    let raw = median(raws);
    for ((name, _), values) in paths.iter().zip(ours) {
        if !values.is_empty() {
            row(name, "msg/s", raw, median(values), ">= 0.8x");
        }
    }
    server.stop().await;
}
