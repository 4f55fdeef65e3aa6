//! Outbound throughput: 64-byte messages to a counting loopback server, sent
//! by raw awc sink writes and through actix-tether, in the same run.
//!
//! ```text
//! cargo run --release --example bench_outbound [-- --quick] [-- --runs N]
//! cargo run --release --example bench_outbound -- --raw | --ours [--only TEXT]
//! ```
//!
//! Both figures run until the server has counted every message.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_codec::Framed;
use actix_tether::{
    Accepted, AddEndpoint, EndpointConfig, EndpointId, GetEndpoint, Payload, Receipt, SendPayload,
    Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use awc::{error::WsProtocolError, BoxedSocket};
use bench_common::*;
use bytestring::ByteString;
use futures::{
    stream::{FuturesUnordered, SplitSink, SplitStream},
    SinkExt, StreamExt,
};

/// Messages in flight at once.
const WINDOW: usize = 1024;

/// Messages per `send_many`.
const BATCH: usize = 256;

/// Every message of a batch was accepted; returns the last one's receipt
/// when it was queued behind a busy socket.
fn check_batch(receipts: Option<actix_tether::Result<actix_tether::Receipts>>) -> Option<Receipt> {
    let receipts = receipts
        .expect("a batch in flight")
        .expect("endpoint alive");
    assert_eq!(receipts.refused(), 0, "every message accepted");
    let last = receipts.into_iter().last()?.expect("accepted");
    matches!(last.accepted(), Accepted::Queued { .. }).then_some(last)
}

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

/// One run's figures: messages per second (wall clock) and the process's
/// CPU time per message in nanoseconds (client and server threads; NaN
/// where it cannot be read).
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    cpu_ns: f64,
}

/// Wall clock and process CPU time from the start of a run.
struct Clock {
    started: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            cpu: process_cpu(),
        }
    }

    fn finish(self, n: u64) -> Run {
        let took = self.started.elapsed();
        let cpu_ns = match (self.cpu, process_cpu()) {
            (Some(before), Some(after)) => {
                after.saturating_sub(before).as_nanos() as f64 / n as f64
            }
            _ => f64::NAN,
        };
        Run {
            rate: rate(n, took),
            cpu_ns,
        }
    }
}

async fn raw(server: &BlastServer, n: u64) -> Run {
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
    let clock = Clock::start();
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
    clock.finish(n)
}

/// Raw awc behind an actor, as hand-written awc code in an actix service
/// does: the socket's sink in `actix::io::SinkWrite`, one `send` per
/// message, `WINDOW` in flight. Shows what actix's per-message mailbox and
/// reply cost before actix-tether adds anything.
struct RawSender {
    sink: SinkWrite<
        awc::ws::Message,
        SplitSink<Framed<BoxedSocket, awc::ws::Codec>, awc::ws::Message>,
    >,
    /// Kept so the connection stays whole.
    _stream: SplitStream<Framed<BoxedSocket, awc::ws::Codec>>,
}

impl Actor for RawSender {
    type Context = Context<Self>;
}

impl WriteHandler<WsProtocolError> for RawSender {}

struct RawSend(ByteString);
impl Message for RawSend {
    type Result = ();
}
impl Handler<RawSend> for RawSender {
    type Result = ();
    fn handle(&mut self, RawSend(text): RawSend, _: &mut Context<Self>) {
        // SinkWrite buffers without a bound and flushes when the actor idles.
        let _ = self.sink.write(awc::ws::Message::Text(text));
    }
}

async fn raw_actor(server: &BlastServer, n: u64) -> Run {
    let received = Arc::clone(&server.blast.received);
    let start_count = received.load(Ordering::Relaxed);
    let client = awc::Client::builder().disable_timeout().finish();
    let (_, framed) = client
        .ws(server.url("ws", "/sink"))
        .connect()
        .await
        .expect("connect");
    let (sink, stream) = framed.split();
    let sender = RawSender::create(|ctx| RawSender {
        sink: SinkWrite::new(sink, ctx),
        _stream: stream,
    });
    let Payload::Text(text) = payload() else {
        unreachable!()
    };
    let clock = Clock::start();
    let mut in_flight = FuturesUnordered::new();
    for _ in 0..n {
        if in_flight.len() == WINDOW {
            in_flight.next().await;
        }
        in_flight.push(sender.send(RawSend(text.clone())));
    }
    while in_flight.next().await.is_some() {}
    until_received(&received, start_count + n).await;
    let run = clock.finish(n);
    sender.do_send(StopRaw);
    run
}

struct StopRaw;
impl Message for StopRaw {
    type Result = ();
}
impl Handler<StopRaw> for RawSender {
    type Result = ();
    fn handle(&mut self, _: StopRaw, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// How the benchmark sends through actix-tether.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `SendPayload` to the supervisor, `WINDOW` in flight.
    Supervisor,
    /// `EndpointHandle::send`, `WINDOW` in flight.
    Handle,
    /// `EndpointHandle::send_many` of 256.
    Batch,
    /// `EndpointHandle::push_wait`, one at a time.
    Push,
}

impl Path {
    /// One actix message per send: compared with raw awc behind an actor too.
    fn per_message(self) -> bool {
        matches!(self, Path::Supervisor | Path::Handle)
    }
}

async fn tether(server: &BlastServer, n: u64, path: Path) -> Run {
    let received = Arc::clone(&server.blast.received);
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, _) = Counter::new(u64::MAX);
    let counter = counter.start();
    let status = Subscriber::Status(counter.clone().recipient());
    supervisor
        .send(Subscribe::to(status))
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
        .send(GetEndpoint::new("out"))
        .await
        .unwrap()
        .unwrap();
    let start_count = received.load(Ordering::Relaxed);
    let payload = payload();
    let clock = Clock::start();
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
        Path::Push => {
            // No window: push_wait waits only while the queue is full.
            for _ in 0..n {
                handle.push_wait(payload.clone()).await.expect("pushed");
            }
            assert_eq!(handle.pushes_lost(), 0);
        }
        Path::Batch => {
            // WINDOW messages in flight, as on the per-message paths.
            let mut in_flight = FuturesUnordered::new();
            let mut sent = 0;
            while sent < n {
                if in_flight.len() == WINDOW / BATCH {
                    // Flow control as a producer would do it: when the socket is
                    // behind, wait for it before queueing more.
                    if let Some(queued) = check_batch(in_flight.next().await) {
                        queued.outcome().await.expect("written");
                    }
                }
                let k = (n - sent).min(BATCH as u64);
                let batch = (0..k).map(|_| payload.clone()).collect();
                in_flight.push(handle.send_many(batch));
                sent += k;
            }
            while let Some(receipts) = in_flight.next().await {
                check_batch(Some(receipts));
            }
        }
    }
    until_received(&received, start_count + n).await;
    clock.finish(n)
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
            "WebSocket out, 64 B, EndpointHandle::send_many(256), 4 in flight",
            Path::Batch,
        ),
        ("WebSocket out, 64 B, EndpointHandle::push_wait", Path::Push),
        ("WebSocket out, 64 B, EndpointHandle::send", Path::Handle),
        (
            "WebSocket out, 64 B, SendPayload via supervisor",
            Path::Supervisor,
        ),
    ];
    let needs_raw_actor = paths
        .iter()
        .any(|(name, path)| path.per_message() && selected(name));
    // One side alone, for a profiler: `--raw` (raw awc's loop) or `--ours`.
    if std::env::args().any(|a| a == "--raw") {
        let run = raw(&server, n).await;
        println!(
            "| raw awc | {} msg/s | {:.1} ns CPU/msg |",
            human(run.rate),
            run.cpu_ns
        );
        server.stop().await;
        return;
    }
    if std::env::args().any(|a| a == "--ours") {
        for (name, path) in paths.iter().filter(|(name, _)| selected(name)) {
            let run = tether(&server, n, *path).await;
            println!(
                "| {name} | {} msg/s | {:.1} ns CPU/msg |",
                human(run.rate),
                run.cpu_ns
            );
        }
        server.stop().await;
        return;
    }
    let mut raws = Vec::new();
    let mut raw_actors = Vec::new();
    let mut ours = vec![Vec::new(); paths.len()];
    for _ in 0..runs {
        raws.push(raw(&server, n).await);
        if needs_raw_actor {
            raw_actors.push(raw_actor(&server, n).await);
        }
        for (i, (name, path)) in paths.iter().enumerate() {
            if selected(name) {
                ours[i].push(tether(&server, n, *path).await);
            }
        }
    }
    println!("| figure | raw awc | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    let rates = |runs: &[Run]| runs.iter().map(|r| r.rate).collect::<Vec<_>>();
    let cpu = |runs: &[Run]| runs.iter().map(|r| r.cpu_ns).collect::<Vec<_>>();
    for ((name, path), ours) in paths.iter().zip(ours) {
        if ours.is_empty() {
            continue;
        }
        // The paths without a reply per message are held to raw awc's rate.
        let target = if path.per_message() {
            ">= 0.8x"
        } else {
            ">= 1.0x"
        };
        row(name, "msg/s", &rates(&raws), &rates(&ours), target);
        if path.per_message() {
            let name = format!("{name}, vs raw awc behind an actor");
            row(
                &name,
                "msg/s",
                &rates(&raw_actors),
                &rates(&ours),
                "(context)",
            );
        } else if ours.iter().all(|r| r.cpu_ns.is_finite()) {
            // CPU per message (client and server): what the rate shows
            // on an idle machine, and still readable on a busy one.
            let name = format!("{name}, process CPU per message (lower is better)");
            row(&name, "ns", &cpu(&raws), &cpu(&ours), "<= 1.0x");
        }
    }
    server.stop().await;
}
