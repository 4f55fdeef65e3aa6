//! Dead-peer detection: endpoints whose server turns half-open (keeps TCP,
//! stops answering); how long until each one is declared dead, against the
//! configured bound `interval x max_missed`. Each figure is the median over
//! `--runs N` runs (default 3).
//!
//! ```text
//! cargo run --release --example bench_dead_peer [-- --quick]
//! ```

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, ConnectionState, EndpointConfig, ErrorCategory, Shutdown, StatusChanged,
    Subscribe, Subscriber, SupervisorActor,
};
use bench_common::*;
use futures::channel::mpsc;
use futures::StreamExt;

/// Forwards up-transitions and heartbeat deaths with their arrival time.
struct Watcher(mpsc::UnboundedSender<(StatusChanged, Instant)>);

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Watcher {
    type Result = ();
    fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
        let _ = self.0.unbounded_send((e, Instant::now()));
    }
}

/// The `pct`th percentile of sorted samples (zero when there are none).
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[(n - 1) * pct / 100],
    }
}

/// One run: connect every endpoint, turn the server half-open, and collect
/// each endpoint's detection latency (sorted; missing ones were not detected
/// within four bounds plus 5 s).
async fn detect_once(endpoints: usize, interval: Duration, max_missed: u32) -> Vec<Duration> {
    let bound = interval * max_missed;
    let server = BlastServer::start();
    let supervisor = SupervisorActor::default().start();
    let (tx, mut rx) = mpsc::unbounded();
    let watcher = Watcher(tx).start();
    let subscriber = Subscriber::Status(watcher.recipient());
    supervisor
        .send(Subscribe::to(subscriber))
        .await
        .unwrap()
        .unwrap();
    for i in 0..endpoints {
        let config = EndpointConfig::websocket(server.url("ws", "/echo"))
            .heartbeat_interval(interval)
            .max_missed(max_missed)
            .build()
            .expect("valid config");
        supervisor
            .send(AddEndpoint::new(format!("e{i}"), config))
            .await
            .unwrap()
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut up = 0;
    while up < endpoints {
        let (e, _) = tokio::time::timeout_at(deadline.into(), rx.next())
            .await
            .expect("all connect")
            .unwrap();
        if e.to == ConnectionState::Connected {
            up += 1;
        }
    }
    // Let a few heartbeats flow, then the server goes half-open at a random
    // point between two heartbeats: right after one, detection takes the
    // whole bound; right before one, an interval less.
    let phase = f64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
    ) / 1e9;
    actix_rt::time::sleep(interval * 2 + interval.mul_f64(phase)).await;
    let silent_at = Instant::now();
    server.blast.half_open.store(true, Ordering::SeqCst);
    let mut latencies = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + bound * 4 + Duration::from_secs(5);
    while latencies.len() < endpoints {
        let Ok(Some((e, at))) = tokio::time::timeout_at(deadline.into(), rx.next()).await else {
            break;
        };
        let heartbeat = e
            .reason
            .as_ref()
            .is_some_and(|r| r.category() == ErrorCategory::Heartbeat);
        if e.to == ConnectionState::Reconnecting && heartbeat && seen.insert(e.endpoint.clone()) {
            latencies.push(at - silent_at);
        }
    }
    let _ = supervisor.send(Shutdown).await;
    server.stop().await;
    latencies.sort();
    latencies
}

#[actix::main]
async fn main() {
    let (endpoints, interval, max_missed) = if quick() {
        (100, Duration::from_millis(300), 3)
    } else {
        (100, Duration::from_secs(1), 3)
    };
    let bound = interval * max_missed;
    let (mut p50s, mut p99s, mut maxes, mut undetected) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..runs() {
        let latencies = detect_once(endpoints, interval, max_missed).await;
        undetected += endpoints - latencies.len();
        p50s.push(percentile(&latencies, 50).as_secs_f64());
        p99s.push(percentile(&latencies, 99).as_secs_f64());
        maxes.push(latencies.last().copied().unwrap_or_default().as_secs_f64());
    }
    println!("| figure | bound | p50 | p99 | max | undetected (all runs) | target |");
    println!("|---|---|---|---|---|---|---|");
    let ms = |secs: f64| format!("{:.0} ms", secs * 1000.0);
    println!(
        "| dead-peer detection, {endpoints} endpoints, {} x {max_missed} | {} | {} | {} | {} | {undetected} | p99 <= {} |",
        ms(interval.as_secs_f64()),
        ms(bound.as_secs_f64()),
        ms(median(p50s)),
        ms(median(p99s)),
        ms(median(maxes)),
        ms(bound.as_secs_f64() * 1.1),
    );
}
