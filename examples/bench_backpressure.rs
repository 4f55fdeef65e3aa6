//! A slow consumer behind a fast server: resident memory over time and the
//! rate the server manages to send, for each inbound overflow policy, with
//! an unbounded queue (what the library did before bounded queues) as the
//! baseline measured in the same run.
//!
//! ```text
//! cargo run --release --example bench_backpressure [-- --secs 60] [-- --quick]
//! ```
//!
//! The server writes 100-byte WebSocket text frames at up to 100,000/s,
//! as fast as TCP takes them (a loopback raw TCP server; its count is what
//! TCP accepted). The subscriber, on its own arbiter, consumes about 11,000
//! messages/s.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, EndpointConfig, GetHealthReport, MessageReceived, Overflow, QueueLimits,
    RemoveEndpoint, Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONSUMER_RATE: f64 = 11_000.0;
const SERVER_RATE: f64 = 100_000.0;
const FRAME: usize = 100;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Accepts connections and floods each with text frames until it closes.
async fn flood_server(sent: Arc<AtomicU64>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_rt::spawn(async move {
        for _ in 0..16 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            actix_rt::spawn(flood(stream, sent.clone()));
        }
    });
    port
}

async fn flood(mut stream: tokio::net::TcpStream, sent: Arc<AtomicU64>) {
    if !bench_common::accept_ws_upgrade(&mut stream).await {
        return;
    }
    let (mut reader, mut writer) = stream.into_split();
    actix_rt::spawn(async move {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    // 64 frames per write: the server is never the bottleneck.
    let mut chunk = Vec::with_capacity(64 * (FRAME + 2));
    for _ in 0..64 {
        chunk.push(0x81);
        chunk.push(u8::try_from(FRAME).unwrap());
        chunk.extend(std::iter::repeat_n(b'x', FRAME));
    }
    // At most SERVER_RATE messages/s, as the feed in the issue's run.
    let started = Instant::now();
    let mut written: u64 = 0;
    while writer.write_all(&chunk).await.is_ok() {
        written += 64;
        sent.fetch_add(64, Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let due = Duration::from_secs_f64(written as f64 / SERVER_RATE);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            actix_rt::time::sleep(ahead).await;
        }
    }
}

/// Consumes at about `CONSUMER_RATE` messages/s (sleeping when ahead).
struct SlowConsumer {
    started: Option<Instant>,
    consumed: Arc<AtomicU64>,
}

impl Actor for SlowConsumer {
    type Context = Context<Self>;
}

impl Handler<MessageReceived> for SlowConsumer {
    type Result = ();
    fn handle(&mut self, _: MessageReceived, _: &mut Context<Self>) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let done = self.consumed.fetch_add(1, Ordering::Relaxed) + 1;
        #[allow(clippy::cast_precision_loss)]
        let due = Duration::from_secs_f64(done as f64 / CONSUMER_RATE);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

struct Figures {
    rss: Vec<(u64, f64)>,
    server_rate: f64,
    consumer_rate: f64,
    dropped: u64,
}

async fn run(name: &str, limits: QueueLimits, secs: u64) -> Figures {
    let sent = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let port = flood_server(sent.clone()).await;
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(1)).start();
    let consumer_counter = consumed.clone();
    let consumer =
        SlowConsumer::start_in_arbiter(&Arbiter::new().handle(), move |_| SlowConsumer {
            started: None,
            consumed: consumer_counter,
        });
    supervisor
        .send(Subscribe::to(Subscriber::Messages(consumer.recipient())).queue(limits))
        .await
        .unwrap()
        .unwrap();
    // A 1 s heartbeat: the monitor hears figures every 5 s.
    let config = EndpointConfig::websocket(format!("ws://127.0.0.1:{port}/"))
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    supervisor
        .send(AddEndpoint::new(name, config))
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let rss_start = rss_mb();
    let mut rss = vec![(0, 0.0)];
    for second in 1..=secs {
        actix_rt::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        if second % 5 == 0 || second == secs {
            rss.push((second, rss_mb() - rss_start));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let (server_rate, consumer_rate) = (
        sent.load(Ordering::Relaxed) as f64 / elapsed,
        consumed.load(Ordering::Relaxed) as f64 / elapsed,
    );
    let report = supervisor.send(GetHealthReport::default()).await.unwrap();
    let dropped = report.endpoint(name).map_or(0, |e| e.inbound.dropped);
    let _ = supervisor.send(RemoveEndpoint::new(name)).await;
    Figures {
        rss,
        server_rate,
        consumer_rate,
        dropped,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs: u64 = arg("--secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 10 } else { 60 })
        .clamp(5, 600);
    let system = actix_rt::System::new();
    system.block_on(async move {
        println!("Slow consumer ({CONSUMER_RATE} msg/s) behind a server sending up to {SERVER_RATE} msg/s ({FRAME}-byte frames), {secs} s per row; RSS growth from the row's start:");
        println!();
        println!("| inbound queue | RSS +5 s | RSS +{secs} s | server sent/s | consumed/s | server / consumer | dropped |");
        println!("|---|---|---|---|---|---|---|");
        let rows = [
            ("pause (default: 1,024 msgs)", QueueLimits::default()),
            (
                "drop oldest (1,024 msgs)",
                QueueLimits::default().overflow(Overflow::DropOldest),
            ),
            // Last: the allocator keeps what the baseline grew.
            ("unbounded (baseline)", QueueLimits::new(usize::MAX, usize::MAX)),
        ];
        for (i, (name, limits)) in rows.into_iter().enumerate() {
            let f = run(&format!("row{i}"), limits, secs).await;
            let at5 = f.rss.iter().find(|(s, _)| *s == 5).map_or(0.0, |r| r.1);
            let end = f.rss.last().map_or(0.0, |r| r.1);
            println!(
                "| {name} | {at5:.1} MB | {end:.1} MB | {:.0} | {:.0} | {:.2}x | {} |",
                f.server_rate,
                f.consumer_rate,
                f.server_rate / f.consumer_rate.max(1.0),
                f.dropped
            );
            let _ = std::io::stdout().flush();
        }
    });
}
