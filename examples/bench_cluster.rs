//! Cluster figures (feature `cluster`): a real etcd on loopback,
//! `examples/cluster_node` processes, and a WebSocket server that counts
//! live connections per endpoint and which instance holds each.
//!
//! ```text
//! cargo build --release --features cluster --example cluster_node --example bench_cluster
//! target/release/examples/bench_cluster [--quick]
//! ```
//!
//! Per trial (a fresh prefix, 3 instances, 300 endpoints, TTL 3 s, a look
//! every 200 ms): add a fourth instance and count the endpoints that moved
//! against the ideal (1/4 of them); `kill -9` one instance and time, per
//! endpoint it held, from the kill until a survivor connected it; then
//! stop one gracefully and time the hand-over. Over
//! all trials: the duplicate connection-time (time any endpoint was held by
//! two instances at once; target 0 for graceful moves). Needs Debian's
//! `etcd-server`.

mod bench_common;
#[path = "../tests/cluster_support/mod.rs"]
mod cluster_support;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bench_common::percentile;
use cluster_support::{counting_server, Etcd, Live, Node};

const ENDPOINTS: usize = 300;
const TTL: Duration = Duration::from_secs(3);

/// Waits (bounded) until every endpoint is held once, none by `not`.
async fn settled(live: &Live, not: &str, within: Duration) -> BTreeMap<String, String> {
    let started = Instant::now();
    loop {
        if let Some(owners) = live
            .owners_of(ENDPOINTS)
            .filter(|o| o.values().all(|m| m != not))
        {
            return owners;
        }
        assert!(started.elapsed() < within, "not settled within {within:?}");
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Trial {
    failovers: Vec<Duration>,
    moved: usize,
    graceful: Duration,
}

async fn trial(etcd: &Etcd, live: &Arc<Live>, base: &str, n: usize) -> Trial {
    let prefix = format!("/bench-{n}");
    let start = |member: &str, publish: bool| {
        let member = format!("{member}{n}");
        let publish = publish.then_some((base, ENDPOINTS));
        Node::start(&etcd.url, &prefix, &member, TTL, publish)
    };
    let a = start("a", true);
    let b = start("b", false);
    let c = start("c", false);
    let bounded = Duration::from_secs(60);
    let before = settled(live, "", bounded).await;

    let d = start("d", false);
    let d_name = format!("d{n}");
    // Settled with d holding its share: stable for a second.
    let after = loop {
        let now = settled(live, "", bounded).await;
        if now.values().any(|m| *m == d_name) {
            actix_rt::time::sleep(Duration::from_secs(1)).await;
            if live.owners_of(ENDPOINTS).as_ref() == Some(&now) {
                break now;
            }
        } else {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let moved = after.keys().filter(|id| after[*id] != before[*id]).count();

    let b_name = format!("b{n}");
    let held_by_b: Vec<String> = after
        .iter()
        .filter(|(_, m)| **m == b_name)
        .map(|(id, _)| id.clone())
        .collect();
    let killed = Instant::now();
    drop(b);
    settled(live, &b_name, bounded).await;
    let mut failovers: Vec<Duration> = held_by_b
        .iter()
        .filter_map(|id| live.connected_at(id))
        .map(|at| at.saturating_duration_since(killed))
        .collect();
    failovers.sort();

    let stopped = Instant::now();
    c.interrupt();
    settled(live, &format!("c{n}"), bounded).await;
    let graceful = stopped.elapsed();
    // Leave the server empty for the next trial.
    drop((a, d));
    let deadline = Instant::now() + bounded;
    while live.open() > 0 {
        assert!(Instant::now() < deadline, "connections left open");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    Trial {
        failovers,
        moved,
        graceful,
    }
}

#[actix_rt::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let trials = if quick { 2 } else { 10 };
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    let mut failovers = Vec::new();
    let mut moved = Vec::new();
    let mut graceful = Vec::new();
    for n in 0..trials {
        let t = trial(&etcd, &live, &base, n).await;
        failovers.extend(t.failovers);
        moved.push(t.moved);
        graceful.push(t.graceful);
    }
    failovers.sort();
    graceful.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!("| figure | value | bound or ideal |");
    println!("|---|---|---|");
    println!(
        "| failover after kill -9, per endpoint ({} endpoints over {trials} trials), p50 / p99 | {} / {} | TTL {} s + a look and a connect |",
        failovers.len(),
        ms(percentile(&failovers, 0.5)),
        ms(percentile(&failovers, 0.99)),
        TTL.as_secs()
    );
    println!(
        "| endpoints moved on scale-out 3 -> 4 instances, per trial (min / median / max) | {} / {} / {} of {ENDPOINTS} | {} (1/4) |",
        moved.iter().min().unwrap_or(&0),
        {
            let mut m = moved.clone();
            m.sort_unstable();
            m[m.len() / 2]
        },
        moved.iter().max().unwrap_or(&0),
        ENDPOINTS / 4
    );
    println!(
        "| graceful stop: all its endpoints held elsewhere, p50 / max | {} / {} | no TTL wait |",
        ms(percentile(&graceful, 0.5)),
        ms(*graceful.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| duplicate connection-time, all trials | {} | 0 |",
        ms(live.doubled())
    );
}
