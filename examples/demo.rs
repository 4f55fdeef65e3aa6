//! A self-contained tour: four in-process servers, three WebSocket endpoints,
//! one Server-Sent Events endpoint and one AMI session over raw TCP kept
//! alive through a server restart and a half-open peer.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Timeline: all five connect (the `pbx` AMI session logs in and pings;
//! `cargo run --example ami` puts it through failures of its own); at 6 s the `prices` server (which also serves
//! the `quotes` event stream) dies and comes back at 10 s, and `quotes`
//! resumes after the last event it saw (Last-Event-ID); at 8 s the `orders`
//! server turns half-open (keeps TCP, stops answering), which the heartbeat
//! detects within 3 s. Status changes print as they happen and a health table
//! every 2 s. Exits by itself after 22 s.

#[path = "ami_server/mod.rs"]
mod ami_server;
#[path = "printing/mod.rs"]
mod printing;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, BackoffConfig, BurstReceived, EndpointConfig, GetHealthReport, Shutdown,
    StatusChanged, Subscribe, Subscriber, SupervisorActor,
};
use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};

/// A server that sends a tick every 100 ms and answers pings; when `half_open`
/// is raised, its live sessions fall silent (new ones are healthy).
async fn session(
    req: HttpRequest,
    body: web::Payload,
    half_open: web::Data<Arc<AtomicBool>>,
) -> actix_web::Result<HttpResponse> {
    half_open.store(false, Ordering::SeqCst);
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let half_open = Arc::clone(half_open.get_ref());
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(Duration::from_millis(100));
        let mut n = 0u64;
        loop {
            if half_open.load(Ordering::SeqCst) {
                let _hold = (session, stream);
                std::future::pending::<()>().await;
                return;
            }
            step(&mut ticker, &mut stream, &mut session, &mut n).await;
            if n == u64::MAX {
                return;
            }
        }
    });
    Ok(response)
}

/// One step of the session loop: a tick to send, or an inbound frame.
async fn step(
    ticker: &mut actix_web::rt::time::Interval,
    stream: &mut actix_ws::MessageStream,
    session: &mut actix_ws::Session,
    n: &mut u64,
) {
    use futures::{future::select, future::Either, pin_mut};
    let tick = ticker.tick();
    let next = stream.recv();
    pin_mut!(tick, next);
    match select(tick, next).await {
        Either::Left(_) => {
            *n += 1;
            if session.text(format!("tick {n}")).await.is_err() {
                *n = u64::MAX;
            }
        }
        Either::Right((Some(Ok(actix_ws::Message::Ping(p))), _)) => {
            let _ = session.pong(&p).await;
        }
        Either::Right((Some(Ok(actix_ws::Message::Close(reason))), _)) => {
            let _ = session.clone().close(reason).await;
            *n = u64::MAX;
        }
        Either::Right((None | Some(Err(_)), _)) => *n = u64::MAX,
        Either::Right(_) => {}
    }
}

/// An SSE stream of quotes every 200 ms that continues after Last-Event-ID.
async fn quotes(req: HttpRequest) -> HttpResponse {
    let after: u64 = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let body = futures::stream::unfold(after, |n| async move {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let n = n + 1;
        let event = format!("event: quote\nid: {n}\ndata: {{\"seq\":{n}}}\n\n");
        Some((Ok::<_, actix_web::Error>(bytes::Bytes::from(event)), n))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(body)
}

fn start_server(port: u16, half_open: Arc<AtomicBool>) -> (u16, ServerHandle) {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&half_open)))
            .route("/ws", web::get().to(session))
            .route("/quotes", web::get().to(quotes))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", port))
    .expect("bind a loopback port");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (port, handle)
}

/// Prints status changes and where each event-stream connection resumes.
struct Printer {
    started: Instant,
    generations: BTreeMap<String, u64>,
}

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Printer {
    type Result = ();
    fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
        printing::print_status(self.started, e, 7);
    }
}

impl Handler<BurstReceived> for Printer {
    type Result = ();
    fn handle(&mut self, batch: BurstReceived, _: &mut Context<Self>) {
        let seen = self
            .generations
            .entry(batch.endpoint.to_string())
            .or_default();
        if *seen == batch.generation {
            return;
        }
        *seen = batch.generation;
        if let Some(event) = batch.payloads.get(0).and_then(|p| p.as_event()) {
            println!(
                "[{:>5.1}s] {:<7} connection {} starts at event id {}",
                self.started.elapsed().as_secs_f64(),
                batch.endpoint,
                batch.generation,
                event.id().unwrap_or("-")
            );
        }
    }
}

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let flags: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut servers: Vec<(u16, ServerHandle)> = flags
        .iter()
        .map(|f| start_server(0, Arc::clone(f)))
        .collect();

    let supervisor = SupervisorActor::default().start();
    let printer = Printer {
        started,
        generations: BTreeMap::new(),
    }
    .start();
    for subscriber in [
        Subscriber::Status(printer.clone().recipient()),
        Subscriber::Bursts(printer.recipient()),
    ] {
        supervisor.send(Subscribe::to(subscriber)).await??;
    }
    for (name, (port, _)) in ["prices", "orders", "chat"].into_iter().zip(&servers) {
        let config = EndpointConfig::websocket(format!("ws://127.0.0.1:{port}/ws"))
            .heartbeat_interval(Duration::from_secs(1))
            .max_missed(3)
            .backoff(BackoffConfig::Exponential {
                initial: Duration::from_millis(250),
                multiplier: 2.0,
                max: Duration::from_secs(2),
                jitter: true,
            })
            .build()?;
        supervisor.send(AddEndpoint::new(name, config)).await??;
    }
    let quotes = EndpointConfig::sse(format!("http://127.0.0.1:{}/quotes", servers[0].0))
        .heartbeat_interval(Duration::from_secs(1))
        .max_missed(3)
        .backoff(BackoffConfig::Constant {
            delay: Duration::from_millis(500),
        })
        .build()?;
    supervisor
        .send(AddEndpoint::new("quotes", quotes))
        .await??;
    let pbx = ami_server::AmiServer::start(Duration::from_millis(100), |_, _| true).await;
    let login = || "demo-secret".to_owned();
    let ami = EndpointConfig::tcp(pbx.url()).heartbeat_interval(Duration::from_secs(1));
    let ami = ami_server::ami_client(ami, login, Duration::from_secs(2)).build()?;
    supervisor.send(AddEndpoint::new("pbx", ami)).await??;

    let mut killed = false;
    let mut restarted = false;
    let mut half_open = false;
    let mut next_table = Duration::from_secs(2);
    while started.elapsed() < Duration::from_secs(22) {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        let now = started.elapsed();
        if !killed && now >= Duration::from_secs(6) {
            killed = true;
            println!("[{:>5.1}s] -- killing the prices server", now.as_secs_f64());
            servers[0].1.stop(false).await;
        }
        if !half_open && now >= Duration::from_secs(8) {
            half_open = true;
            println!(
                "[{:>5.1}s] -- the orders server turns half-open",
                now.as_secs_f64()
            );
            flags[1].store(true, Ordering::SeqCst);
        }
        if !restarted && now >= Duration::from_secs(10) {
            restarted = true;
            println!(
                "[{:>5.1}s] -- restarting the prices server",
                now.as_secs_f64()
            );
            servers[0] = start_server(servers[0].0, Arc::clone(&flags[0]));
        }
        if now >= next_table {
            next_table += Duration::from_secs(2);
            printing::print_table(&supervisor.send(GetHealthReport::default()).await?, now, 7);
        }
    }

    supervisor.send(Shutdown).await?;
    printing::print_table(
        &supervisor.send(GetHealthReport::default()).await?,
        started.elapsed(),
        7,
    );
    for (_, handle) in servers {
        handle.stop(false).await;
    }
    Ok(())
}
