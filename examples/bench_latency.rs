//! Delivery latency: a loopback server sends 64 B WebSocket text frames at
//! a steady rate, each stamped with its send time, and closes the
//! connection every 250 ms (the client reconnects); raw awc, an
//! actix-tether burst subscriber and a per-message subscriber each record
//! send-to-handler latency, in the same run. A run is several rounds, each
//! round every client in turn, so that drift of a busy machine reaches all
//! clients alike; a figure is the median of the rounds' figures. The
//! server accepts on the main thread and paces each connection's frames
//! on a thread of its own (a spin wait to each frame's due time: tokio's
//! 1 ms timer would send bursts of 50); raw awc's reading loop runs on an arbiter
//! thread of its own, once handling each frame in the loop and once
//! handing each to an actor on that thread with `do_send` (a context row:
//! the cost of the one actix mailbox hop every `Recipient` subscriber
//! pays);
//! actix-tether runs with an `InlineHandler` (called in the connection's
//! task, as the raw loop handles each frame), and with `Recipient`
//! subscribers twice: with the connection and the subscriber on one
//! arbiter thread (`SupervisorConfig::arbiters(0)`, as the raw loop), and
//! with each on a thread of its own (the supervisor's default arbiters). No
//! thread is pinned. The server sets `TCP_NODELAY`, as streaming servers
//! do (without it, Nagle and delayed acknowledgements hold the last small
//! write before a close for up to 40 ms).
//!
//! ```text
//! cargo run --release --example bench_latency [-- --secs 5] [-- --rounds 3] [-- --quick] [-- --only TEXT]
//! ```
//!
//! Prints a markdown row per client: p50, its distance from raw awc's p50
//! in the same round, p99, p99.9 and the worst, and for the last message
//! before each close (sent in one write with the Close frame) the p50, the
//! worst of all rounds, and in how many rounds the worst was above the
//! client's own p99.9 (an outlier caused by the close).

#[path = "bench_common/mod.rs"]
mod bench_common;
use bench_common::percentile;

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, BurstReceived, EndpointConfig, InlineBurst, InlineHandler, MessageReceived,
    RemoveEndpoint, Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use futures::StreamExt;

const RATE: u64 = 50_000;
const FRAME: usize = 64;
/// How long the server keeps each connection before closing it.
const CLOSE_EVERY: Duration = Duration::from_millis(250);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The latency of a payload stamped by the server; `last` marks the final
/// message before a close.
fn latency(payload: &[u8]) -> Option<(Duration, bool)> {
    let text = std::str::from_utf8(payload).ok()?;
    let sent: u64 = text.get(1..21)?.parse().ok()?;
    Some((
        Duration::from_nanos(now_nanos().saturating_sub(sent)),
        text.starts_with('L'),
    ))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// Serves every connection: stamped frames at `RATE`/s, and after a second
/// a last stamped frame and a Close in one write, then closes.
async fn server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_rt::spawn(async move {
        for _ in 0..10_000 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            actix_rt::spawn(serve(stream));
        }
    });
    port
}

fn stamped(last: bool) -> Vec<u8> {
    let text = format!(
        "{}{:020}{:2$}",
        if last { 'L' } else { 'M' },
        now_nanos(),
        FRAME - 21
    );
    let mut frame = vec![0x81, u8::try_from(FRAME).unwrap()];
    frame.extend_from_slice(text.as_bytes());
    frame
}

async fn serve(mut stream: tokio::net::TcpStream) {
    // A streaming server writes each small message at once (no Nagle).
    let _ = stream.set_nodelay(true);
    if !bench_common::accept_ws_upgrade(&mut stream).await {
        return;
    }
    let Ok(stream) = stream.into_std() else {
        return;
    };
    // Paced on a thread of its own: tokio's timer has a 1 ms resolution,
    // which would send the frames in bursts of 50 and measure how long a
    // frame waits behind the burst's earlier ones rather than delivery.
    std::thread::spawn(move || pace(stream));
}

/// Sends stamped frames at `RATE`/s on a blocking socket, each at its due
/// time (a spin wait: the gaps are 20 µs), for `CLOSE_EVERY`; then a last
/// stamped frame and a Close in one write, and 50 ms later the socket
/// closes.
fn pace(stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let Ok(mut reader) = stream.try_clone() else {
        return;
    };
    // Whatever the client sends (pongs, its close) is read and dropped.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut writer = stream;
    let started = Instant::now();
    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let mut sent: u32 = 0;
    while started.elapsed() < CLOSE_EVERY {
        if writer.write_all(&stamped(false)).is_err() {
            return;
        }
        sent += 1;
        let due = started + period * sent;
        while Instant::now() < due {
            std::thread::yield_now();
        }
    }
    let mut goodbye = stamped(true);
    goodbye.extend_from_slice(&[0x88, 0x02, 0x03, 0xE8]);
    let _ = writer.write_all(&goodbye);
    std::thread::sleep(Duration::from_millis(50));
    // The reading thread's clone would keep the socket open.
    let _ = writer.shutdown(std::net::Shutdown::Both);
}

/// Collected latencies: all, and those of the last message before a close.
#[derive(Default)]
struct Samples {
    all: Vec<Duration>,
    before_close: Vec<Duration>,
}

impl Samples {
    fn record(&mut self, payload: &[u8]) {
        if let Some((latency, last)) = latency(payload) {
            self.all.push(latency);
            if last {
                self.before_close.push(latency);
            }
        }
    }
}

type Shared = Arc<Mutex<Samples>>;

struct Recorder(Shared);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<MessageReceived> for Recorder {
    type Result = ();
    fn handle(&mut self, m: MessageReceived, _: &mut Context<Self>) {
        self.0.lock().unwrap().record(m.payload.as_bytes());
    }
}

impl Handler<BurstReceived> for Recorder {
    type Result = ();
    fn handle(&mut self, b: BurstReceived, _: &mut Context<Self>) {
        let mut samples = self.0.lock().unwrap();
        for p in b.payloads.iter() {
            samples.record(p.as_bytes());
        }
    }
}

/// One frame a raw awc loop hands to an actor.
struct RawFrame(bytes::Bytes);

impl Message for RawFrame {
    type Result = ();
}

impl Handler<RawFrame> for Recorder {
    type Result = ();
    fn handle(&mut self, RawFrame(bytes): RawFrame, _: &mut Context<Self>) {
        self.0.lock().unwrap().record(&bytes);
    }
}

/// Raw awc's reading loop for `secs`, reconnecting after each close:
/// `each` gets every text frame's bytes.
async fn raw_awc_loop(port: u16, secs: u64, mut each: impl FnMut(bytes::Bytes)) {
    let until = Instant::now() + Duration::from_secs(secs);
    let client = awc::Client::builder().disable_timeout().finish();
    while Instant::now() < until {
        let Ok((_, mut framed)) = client.ws(format!("ws://127.0.0.1:{port}/")).connect().await
        else {
            continue;
        };
        while let Some(Ok(frame)) = framed.next().await {
            match frame {
                awc::ws::Frame::Text(bytes) => each(bytes),
                awc::ws::Frame::Close(_) => break,
                _ => {}
            }
        }
    }
}

/// Raw awc's reading loop handing each frame to an actor on its own
/// thread (`do_send`), as hand-written awc code in an actix service does:
/// the cost of one actix mailbox hop, which every `Recipient` subscriber
/// pays.
async fn raw_awc_to_actor(port: u16, secs: u64) -> Samples {
    let shared = Shared::default();
    let recorder = Recorder(shared.clone()).start();
    raw_awc_loop(port, secs, |bytes| recorder.do_send(RawFrame(bytes))).await;
    // Everything sent before this is handled before it.
    let _ = recorder.send(RawFrame(bytes::Bytes::new())).await;
    let samples = std::mem::take(&mut *shared.lock().unwrap());
    samples
}

/// Raw awc's reading loop handling each frame itself.
async fn raw_awc(port: u16, secs: u64) -> Samples {
    let mut samples = Samples::default();
    raw_awc_loop(port, secs, |bytes| samples.record(&bytes)).await;
    samples
}

/// Runs a raw client on an arbiter thread of its own, as the library's
/// connections are, and returns what it recorded.
async fn on_own_arbiter<F, Fut>(run: F) -> Samples
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Samples> + 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    Arbiter::new().spawn_fn(move || {
        actix_rt::spawn(async move {
            let _ = tx.send(run().await);
        });
    });
    rx.await.expect("a raw client's run")
}

/// Where the subscriber runs relative to the connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// The supervisor's default arbiters, the subscriber on an arbiter of
    /// its own: every delivery crosses threads.
    OwnThreads,
    /// `SupervisorConfig::arbiters(0)` started on the subscriber's arbiter:
    /// the connection and the subscriber share one thread, as a raw reading
    /// loop does.
    SameThread,
}

/// How an actix-tether client hears of its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// A `Recipient<BurstReceived>` subscriber.
    Bursts,
    /// A `Recipient<MessageReceived>` subscriber.
    Messages,
    /// An `InlineHandler`, in the connection's task.
    Inline,
}

async fn tether(port: u16, secs: u64, delivery: Delivery, placement: Placement) -> Samples {
    let shared = Shared::default();
    let thread = Arbiter::new();
    let recorder_shared = shared.clone();
    let recorder = Recorder::start_in_arbiter(&thread.handle(), move |_| Recorder(recorder_shared));
    let subscriber = match delivery {
        Delivery::Bursts => Subscriber::Bursts(recorder.recipient()),
        Delivery::Messages => Subscriber::Messages(recorder.recipient()),
        Delivery::Inline => {
            let shared = shared.clone();
            Subscriber::Inline(InlineHandler::new(move |burst: InlineBurst<'_>| {
                let mut samples = shared.lock().unwrap();
                for p in burst.payloads.iter() {
                    samples.record(p.as_bytes());
                }
            }))
        }
    };
    let config = EndpointConfig::websocket(format!("ws://127.0.0.1:{port}/"))
        .backoff(actix_tether::BackoffConfig::Constant {
            delay: Duration::from_millis(1),
        })
        .reset_after(Duration::from_millis(100))
        .build()
        .unwrap();
    let run = async move {
        let supervisor = match placement {
            Placement::OwnThreads => SupervisorActor::default().start(),
            Placement::SameThread => {
                SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start()
            }
        };
        supervisor
            .send(Subscribe::to(subscriber))
            .await
            .unwrap()
            .unwrap();
        supervisor
            .send(AddEndpoint::new("latency", config))
            .await
            .unwrap()
            .unwrap();
        actix_rt::time::sleep(Duration::from_secs(secs)).await;
        let _ = supervisor.send(RemoveEndpoint::new("latency")).await;
    };
    match placement {
        Placement::OwnThreads => run.await,
        Placement::SameThread => {
            let (tx, rx) = futures::channel::oneshot::channel();
            thread.spawn(async move {
                run.await;
                let _ = tx.send(());
            });
            rx.await.expect("same-thread run");
        }
    }
    thread.stop();
    let samples = std::mem::take(&mut *shared.lock().unwrap());
    samples
}

/// One client's figures in one round, in microseconds.
#[derive(Clone, Copy)]
struct Figures {
    messages: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    close_p50: f64,
    close_max: f64,
    closes: usize,
}

impl Figures {
    fn of(mut s: Samples) -> Self {
        s.all.sort_unstable();
        s.before_close.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Self {
            messages: s.all.len(),
            p50: us(percentile(&s.all, 0.5)),
            p99: us(percentile(&s.all, 0.99)),
            p999: us(percentile(&s.all, 0.999)),
            max: us(s.all.last().copied().unwrap_or_default()),
            close_p50: us(percentile(&s.before_close, 0.5)),
            close_max: us(s.before_close.last().copied().unwrap_or_default()),
            closes: s.before_close.len(),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Prints one client's row from its rounds, with its p50's distance from
/// raw awc's measured round by round.
fn row(name: &str, rounds: &[Figures], raw: &[Figures]) {
    let med = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
    let behind = median(rounds.iter().zip(raw).map(|(o, r)| o.p50 - r.p50).collect());
    let close_max = rounds.iter().map(|f| f.close_max).fold(0.0, f64::max);
    // A close is an outlier when the message before it took longer than
    // the client's own p99.9 in that round.
    let outliers = rounds.iter().filter(|f| f.close_max > f.p999).count();
    println!(
        "| {name} | {} | {:.1} µs | {behind:+.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {close_max:.1} µs | {} | {outliers} of {} |",
        rounds.iter().map(|f| f.messages).sum::<usize>(),
        med(|f| f.p50),
        med(|f| f.p99),
        med(|f| f.p999),
        med(|f| f.max),
        med(|f| f.close_p50),
        rounds.iter().map(|f| f.closes).sum::<usize>(),
        rounds.len(),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs: u64 = arg("--secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 2 } else { 5 })
        .clamp(1, 120);
    let rounds: usize = arg("--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 })
        .clamp(1, 20);
    // `--only TEXT[,TEXT]`: just the clients whose name holds a TEXT (for a
    // profiler); the rows against raw awc then read +0.0 unless raw awc
    // runs too.
    let only = arg("--only");
    let runs = move |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|o| name.contains(o)))
    };
    let _ = epoch();
    actix_rt::System::new().block_on(async move {
        let port = server().await;
        println!(
            "Latency, 64 B at {RATE}/s, server closes every {} ms, {secs} s per client and round, {rounds} rounds (medians of the rounds):",
            CLOSE_EVERY.as_millis()
        );
        println!();
        println!("| client | messages | p50 | p50 vs raw awc | p99 | p99.9 | max | last before a close, p50 | last before a close, max | closes | rounds with a close outlier |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        use Delivery::{Bursts, Inline, Messages};
        use Placement::{OwnThreads, SameThread};
        let clients = [
            ("actix-tether, inline handler", Inline, SameThread),
            ("actix-tether, bursts, same thread", Bursts, SameThread),
            ("actix-tether, per message, same thread", Messages, SameThread),
            ("actix-tether, bursts, own threads", Bursts, OwnThreads),
            ("actix-tether, per message, own threads", Messages, OwnThreads),
        ];
        let mut raw = Vec::new();
        let mut raw_to_actor = Vec::new();
        let mut ours = vec![Vec::new(); clients.len()];
        const RAW: &str = "raw awc (reading loop)";
        const RAW_TO_ACTOR: &str = "raw awc, each frame to an actor, same thread (context)";
        for _ in 0..rounds {
            if runs(RAW) {
                raw.push(Figures::of(on_own_arbiter(move || raw_awc(port, secs)).await));
            }
            if runs(RAW_TO_ACTOR) {
                let samples = on_own_arbiter(move || raw_awc_to_actor(port, secs)).await;
                raw_to_actor.push(Figures::of(samples));
            }
            for ((name, delivery, placement), figures) in clients.iter().zip(&mut ours) {
                if runs(name) {
                    figures.push(Figures::of(tether(port, secs, *delivery, *placement).await));
                }
            }
        }
        let rows = [(RAW, &raw), (RAW_TO_ACTOR, &raw_to_actor)].into_iter();
        let rows = rows.chain(clients.iter().map(|(name, _, _)| *name).zip(&ours));
        for (name, figures) in rows.filter(|(_, figures)| !figures.is_empty()) {
            row(name, figures, &raw);
        }
    });
}
