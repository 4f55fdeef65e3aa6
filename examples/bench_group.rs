//! Router overhead: 64-byte messages through a `GroupHandle` of 4 endpoints
//! against `EndpointHandle::send` to one endpoint, and against the same 4
//! handles taken in turn by hand, in the same run, to a counting loopback
//! server. The failover row sends everything to one member, so it compares
//! like with like: what the router adds to a send. Round robin spreads the
//! same messages over four sockets, each written in smaller batches.
//!
//! ```text
//! cargo run --release --example bench_group [-- --quick] [-- --runs N]
//! ```

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, AddGroup, EndpointConfig, EndpointHandle, GetEndpoint, GroupHandle, Payload,
    Strategy, SupervisorActor, SupervisorConfig,
};
use bench_common::*;
use futures::{stream::FuturesUnordered, StreamExt};

/// Messages in flight at once.
const WINDOW: usize = 1024;

/// Members of the group.
const MEMBERS: usize = 4;

/// How the messages are sent.
#[derive(Clone, Copy)]
enum Path {
    /// `EndpointHandle::send` to one endpoint.
    One,
    /// The four handles in turn, by hand.
    ByHand,
    /// `GroupHandle::send`, round robin over the four.
    Group,
    /// `GroupHandle::send`, failover: all to the first member.
    Failover,
}

/// Waits (bounded) until the server has counted `target` messages.
async fn until_received(received: &Arc<std::sync::atomic::AtomicU64>, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "server stopped counting");
        actix_rt::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A supervisor with `MEMBERS` endpoints to the sink, all up, their
/// handles and a round-robin group of them.
async fn setup(
    server: &BlastServer,
    strategy: Strategy,
) -> (Addr<SupervisorActor>, Vec<EndpointHandle>, GroupHandle) {
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let mut handles = Vec::new();
    for i in 0..MEMBERS {
        let config = EndpointConfig::websocket(server.url("ws", "/sink"))
            .heartbeat_interval(Duration::from_secs(60))
            .build()
            .expect("valid config");
        let id = format!("m{i}");
        supervisor
            .send(AddEndpoint::new(id.clone(), config))
            .await
            .unwrap()
            .unwrap();
        handles.push(
            supervisor
                .send(GetEndpoint::new(id))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let ids: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    let group = supervisor
        .send(AddGroup::listed("bench", ids).strategy(strategy))
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while group.connected() < MEMBERS {
        assert!(Instant::now() < deadline, "never connected");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    (supervisor, handles, group)
}

async fn run(server: &BlastServer, n: u64, path: Path) -> f64 {
    let received = Arc::clone(&server.blast.received);
    let strategy = match path {
        Path::Failover => Strategy::Failover {
            hysteresis: Duration::from_secs(1),
        },
        _ => Strategy::RoundRobin,
    };
    let (supervisor, handles, group) = setup(server, strategy).await;
    let payload = Payload::text("x".repeat(64));
    let start_count = received.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for i in 0..n {
        if in_flight.len() == WINDOW {
            in_flight.next().await;
        }
        let payload = payload.clone();
        let member = match path {
            Path::One => Some(0),
            Path::ByHand => Some(usize::try_from(i).unwrap_or(0) % MEMBERS),
            Path::Group | Path::Failover => None,
        };
        match member {
            Some(member) => {
                let handle = handles[member].clone();
                in_flight.push(futures::future::Either::Left(async move {
                    handle.send(payload).await.expect("accepted");
                }));
            }
            None => {
                let group = group.clone();
                in_flight.push(futures::future::Either::Right(async move {
                    group.send(payload).await.expect("routed");
                }));
            }
        }
    }
    while in_flight.next().await.is_some() {}
    until_received(&received, start_count + n).await;
    let rate = rate(n, started.elapsed());
    let _ = supervisor.send(actix_tether::Shutdown).await;
    rate
}

#[actix::main]
async fn main() {
    let runs = runs();
    let n = if quick() { 100_000 } else { 500_000 };
    let server = BlastServer::start();
    println!("| figure | baseline | actix-tether group | ratio | target |");
    println!("|---|---|---|---|---|");
    let (mut one, mut by_hand, mut group, mut failover) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        one.push(run(&server, n, Path::One).await);
        failover.push(run(&server, n, Path::Failover).await);
        group.push(run(&server, n, Path::Group).await);
        by_hand.push(run(&server, n, Path::ByHand).await);
    }
    row(
        "WebSocket out, 64 B, GroupHandle::send (failover: all to one of 4) vs EndpointHandle::send to that one",
        "msg/s",
        &one,
        &failover,
        ">= 0.9x",
    );
    row(
        "WebSocket out, 64 B, GroupHandle::send (round robin over 4) vs EndpointHandle::send to one",
        "msg/s",
        &one,
        &group,
        "(context)",
    );
    row(
        "WebSocket out, 64 B, GroupHandle::send vs the 4 handles in turn by hand",
        "msg/s",
        &by_hand,
        &group,
        "(context)",
    );
    server.stop().await;
}
