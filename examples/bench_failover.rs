//! Failover time: a failover group of two WebSocket endpoints, a sender
//! routing a message every millisecond; the primary's server goes
//! half-open (stops answering) or resets every connection (RST), and the
//! time until the next message is written to the backup is measured, over
//! many trials of each, against the heartbeat bound. Every receipt must
//! settle.
//!
//! ```text
//! cargo run --release --example bench_failover [-- --quick]
//! ```

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, AddGroup, EndpointConfig, GroupHandle, Payload, Strategy, SupervisorActor,
    SupervisorConfig,
};
use bench_common::*;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Heartbeat of both endpoints.
const INTERVAL: Duration = Duration::from_millis(250);
const MAX_MISSED: u32 = 2;
/// How long the primary must stay up before traffic goes back to it.
const HYSTERESIS: Duration = Duration::from_millis(200);
/// Time between two routed messages.
const PACE: Duration = Duration::from_millis(1);
/// The longest one trial may take.
const TRIAL_BOUND: Duration = Duration::from_secs(30);

/// A TCP proxy that can reset (RST) every connection through it.
struct ResettingProxy {
    port: u16,
    reset: watch::Sender<u64>,
}

impl ResettingProxy {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (reset, resets) = watch::channel(0u64);
        actix_rt::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut resets = resets.clone();
                resets.borrow_and_update();
                actix_rt::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = resets.changed() => {
                            // Linger 0: closing sends RST, not FIN.
                            let _ = client.set_zero_linger();
                        }
                    }
                });
            }
        });
        Self { port, reset }
    }

    fn reset_all(&self) {
        self.reset.send_modify(|n| *n += 1);
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    HalfOpen,
    Reset,
}

/// Receipts of messages routed to the primary, settled in the background.
#[derive(Default)]
struct Settled {
    written: AtomicU64,
    failed: AtomicU64,
    pending: AtomicU64,
}

fn config(url: String) -> EndpointConfig {
    EndpointConfig::websocket(url)
        .heartbeat_interval(INTERVAL)
        .max_missed(MAX_MISSED)
        .connect_timeout(Duration::from_secs(2))
        .backoff(actix_tether::BackoffConfig::Constant {
            delay: Duration::from_millis(50),
        })
        .build()
        .expect("valid config")
}

/// Sends through `group` until a message goes to `member`; messages to
/// other members settle in the background. Returns when that message was
/// written, and `None` past the bound.
async fn until_written_to(
    group: &GroupHandle,
    member: &str,
    settled: &Arc<Settled>,
    payload: &Payload,
) -> Option<Instant> {
    let deadline = Instant::now() + TRIAL_BOUND;
    while Instant::now() < deadline {
        if let Ok(routed) = group.send(payload.clone()).await {
            if routed.member.as_str() == member {
                routed.receipt.outcome().await.ok()?;
                return Some(Instant::now());
            }
            let settled = Arc::clone(settled);
            settled.pending.fetch_add(1, Ordering::Relaxed);
            actix_rt::spawn(async move {
                let counter = match routed.receipt.outcome().await {
                    Ok(_) => &settled.written,
                    Err(_) => &settled.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                settled.pending.fetch_sub(1, Ordering::Relaxed);
            });
        }
        actix_rt::time::sleep(PACE).await;
    }
    None
}

#[actix::main]
async fn main() {
    let trials = if quick() { 5 } else { 50 };
    let primary = BlastServer::start();
    let backup = BlastServer::start();
    let proxy = ResettingProxy::start(primary.port).await;
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(1)).start();
    let primary_url = format!("ws://127.0.0.1:{}/echo", proxy.port);
    for (id, url) in [
        ("primary", primary_url),
        ("backup", backup.url("ws", "/sink")),
    ] {
        supervisor
            .send(AddEndpoint::new(id, config(url)))
            .await
            .unwrap()
            .unwrap();
    }
    let group = supervisor
        .send(
            AddGroup::listed("failover", ["primary", "backup"]).strategy(Strategy::Failover {
                hysteresis: HYSTERESIS,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    let settled = Arc::new(Settled::default());
    let payload = Payload::text("x".repeat(64));
    let mut times: Vec<(Fault, Duration)> = Vec::new();
    let mut undetected = 0;
    for trial in 0..trials * 2 {
        let fault = if trial % 2 == 0 {
            Fault::HalfOpen
        } else {
            Fault::Reset
        };
        primary.blast.half_open.store(false, Ordering::SeqCst);
        // Traffic back on the primary before the fault.
        if until_written_to(&group, "primary", &settled, &payload)
            .await
            .is_none()
        {
            undetected += 1;
            continue;
        }
        let at = Instant::now();
        match fault {
            Fault::HalfOpen => primary.blast.half_open.store(true, Ordering::SeqCst),
            Fault::Reset => proxy.reset_all(),
        }
        match until_written_to(&group, "backup", &settled, &payload).await {
            Some(written) => times.push((fault, written - at)),
            None => undetected += 1,
        }
    }
    primary.blast.half_open.store(false, Ordering::SeqCst);
    // Every receipt settles (bounded wait).
    let deadline = Instant::now() + TRIAL_BOUND;
    while settled.pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let bound = INTERVAL * (MAX_MISSED + 1);
    println!(
        "Heartbeat {INTERVAL:?} x {MAX_MISSED} missed (half-open bound {bound:?}); {trials} trials of each fault."
    );
    println!();
    println!("| fault | p50 | p99 | max | bound | not failed over |");
    println!("|---|---|---|---|---|---|");
    for (fault, bound) in [(Fault::HalfOpen, Some(bound)), (Fault::Reset, None)] {
        let mut mine: Vec<Duration> = times
            .iter()
            .filter(|(f, _)| std::mem::discriminant(f) == std::mem::discriminant(&fault))
            .map(|(_, t)| *t)
            .collect();
        mine.sort();
        println!(
            "| {fault:?} | {:.0?} | {:.0?} | {:.0?} | {} | {} |",
            percentile(&mine, 0.5),
            percentile(&mine, 0.99),
            mine.last().copied().unwrap_or_default(),
            bound.map_or("-".to_owned(), |b| format!("{b:?}")),
            trials - mine.len(),
        );
    }
    println!();
    println!(
        "Receipts of messages to the primary: {} written, {} failed, {} unsettled; {undetected} trials past the {TRIAL_BOUND:?} bound.",
        settled.written.load(Ordering::Relaxed),
        settled.failed.load(Ordering::Relaxed),
        settled.pending.load(Ordering::Relaxed),
    );
    primary.stop().await;
    backup.stop().await;
}
