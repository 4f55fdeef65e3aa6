//! Seed 004's connection manager: an AMI (Asterisk Manager Interface)
//! session over raw TCP and a WebSocket feed in one supervisor, with one
//! overall health score. Both servers run in-process on 127.0.0.1.
//!
//! ```text
//! cargo run --example ami
//! ```
//!
//! The AMI endpoint reads the banner line, then `Key: Value` blocks; it logs
//! in with a fresh secret on every attempt (the server takes any
//! `fresh-…` token), keeps the session alive with `Action: Ping` (the
//! `Ping: Pong` replies are the heartbeat's, never delivered) and prints
//! every tenth `Event:` block. Timeline: at 4 s the AMI server dies and
//! comes back at 6 s; at 9 s its live session turns half-open (the TCP
//! connection stays, nothing more is answered), which the unanswered pings
//! reveal within about 1.5 s. A health table prints every 2 s. Exits by
//! itself after 15 s: 0 when both endpoints are up again at the end, 1 if
//! not.

#[path = "ami_server/mod.rs"]
mod ami_server;
#[path = "printing/mod.rs"]
mod printing;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, BackoffConfig, BurstReceived, ConnectionState, EndpointConfig, GetHealthReport,
    Shutdown, StatusChanged, Subscribe, Subscriber, SupervisorActor,
};
use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use ami_server::{ami_client, AmiServer};

/// How long the example runs.
const RUN_FOR: Duration = Duration::from_secs(15);

/// Secrets handed out so far: each login attempt takes a fresh one.
static SECRETS: AtomicU64 = AtomicU64::new(0);

/// A WebSocket feed: a tick every 250 ms, pongs for pings.
async fn feed(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    use futures::{future::select, future::Either, pin_mut};
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(Duration::from_millis(250));
        for n in 0u64.. {
            let tick = ticker.tick();
            let next = stream.recv();
            pin_mut!(tick, next);
            let alive = match select(tick, next).await {
                Either::Left(_) => session.text(format!("price {n}")).await.is_ok(),
                Either::Right((Some(Ok(actix_ws::Message::Ping(p))), _)) => {
                    session.pong(&p).await.is_ok()
                }
                Either::Right((Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)), _)) => {
                    false
                }
                Either::Right(_) => true,
            };
            if !alive {
                return;
            }
        }
    });
    Ok(response)
}

fn start_feed() -> (u16, ServerHandle) {
    let server = HttpServer::new(|| App::new().route("/ws", web::get().to(feed)))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind a loopback port");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (port, handle)
}

/// The AMI endpoint: banner then blocks, a login with a fresh secret per
/// attempt, `Action: Ping` every 500 ms (two unanswered: dead).
fn ami_endpoint(url: &str) -> Result<EndpointConfig, actix_tether::ConfigError> {
    let fresh = || format!("fresh-{}", SECRETS.fetch_add(1, Ordering::SeqCst) + 1);
    ami_client(EndpointConfig::tcp(url), fresh, Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(500))
        .max_missed(2)
        .backoff(BackoffConfig::Exponential {
            initial: Duration::from_millis(250),
            multiplier: 2.0,
            max: Duration::from_secs(2),
            jitter: true,
        })
        .build()
}

/// Prints status changes, the AMI banner and every tenth event.
struct Printer {
    started: Instant,
    events: u64,
}

impl Printer {
    fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Printer {
    type Result = ();
    fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
        printing::print_status(self.started, e, 4);
    }
}

impl Handler<BurstReceived> for Printer {
    type Result = ();
    fn handle(&mut self, burst: BurstReceived, _: &mut Context<Self>) {
        if burst.endpoint.as_str() != "pbx" {
            return;
        }
        for payload in burst.payloads.iter() {
            let text = payload.as_text().unwrap_or("");
            if text.starts_with("Event:") {
                self.events += 1;
                if self.events % 10 == 1 {
                    let fields: Vec<&str> = text.lines().collect();
                    println!("[{:>5.1}s] pbx  {}", self.at(), fields.join(", "));
                }
            } else if !text.starts_with("Response:") {
                println!("[{:>5.1}s] pbx  says {text:?}", self.at());
            }
        }
    }
}

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut pbx = AmiServer::start(Duration::from_millis(100), |user, secret| {
        user == "admin" && secret.starts_with("fresh-")
    })
    .await;
    let (feed_port, feed_server) = start_feed();

    let supervisor = SupervisorActor::default().start();
    let printer = Printer { started, events: 0 }.start();
    for subscriber in [
        Subscriber::Status(printer.clone().recipient()),
        Subscriber::Bursts(printer.recipient()),
    ] {
        supervisor.send(Subscribe::to(subscriber)).await??;
    }
    supervisor
        .send(AddEndpoint::new("pbx", ami_endpoint(&pbx.url())?))
        .await??;
    let feed = EndpointConfig::websocket(format!("ws://127.0.0.1:{feed_port}/ws"))
        .heartbeat_interval(Duration::from_millis(500))
        .build()?;
    supervisor.send(AddEndpoint::new("feed", feed)).await??;

    // Bounded: one step every 100 ms until RUN_FOR.
    let (mut stopped, mut restarted, mut half_open) = (false, false, false);
    let mut next_table = Duration::from_secs(2);
    while started.elapsed() < RUN_FOR {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        let now = started.elapsed();
        let at = now.as_secs_f64();
        if !stopped && now >= Duration::from_secs(4) {
            stopped = true;
            println!("[{at:>5.1}s] -- the AMI server dies");
            pbx.stop();
        }
        if !restarted && now >= Duration::from_secs(6) {
            restarted = true;
            println!("[{at:>5.1}s] -- the AMI server comes back");
            pbx.restart().await;
        }
        if !half_open && now >= Duration::from_secs(9) {
            half_open = true;
            println!("[{at:>5.1}s] -- the AMI session turns half-open");
            pbx.half_open();
        }
        if now >= next_table {
            next_table += Duration::from_secs(2);
            printing::print_table(&supervisor.send(GetHealthReport::default()).await?, now, 4);
        }
    }

    let report = supervisor.send(GetHealthReport::default()).await?;
    printing::print_table(&report, started.elapsed(), 4);
    let up =
        |id: &str, state: ConnectionState| report.endpoint(id).is_some_and(|e| e.state == state);
    let recovered =
        up("pbx", ConnectionState::Authenticated) && up("feed", ConnectionState::Connected);
    println!(
        "AMI logins with a fresh secret each: {}; both endpoints up at the end: {recovered}",
        SECRETS.load(Ordering::SeqCst)
    );
    supervisor.send(Shutdown).await?;
    feed_server.stop(false).await;
    pbx.stop();
    if !recovered {
        std::process::exit(1);
    }
    Ok(())
}
