//! The operations scope on an actix-web app: `/tether/dashboard`,
//! `/tether/health`, `/tether/endpoints`, `/tether/events` and
//! `/tether/metrics`, over a supervisor whose in-process servers flap.
//!
//! ```text
//! cargo run --example dashboard --features web,prometheus
//! cargo run --example dashboard --features web,prometheus -- --duration 30 --port 8080
//! ```
//!
//! Three servers on 127.0.0.1: `prices` (WebSocket) and `quotes` (SSE) share
//! one that goes down for 4 s every 15 s; `orders` goes down for 6 s every
//! 25 s; `news` stays up. The WebSocket servers answer pings after a few
//! varying milliseconds, so the latency sparklines move. Prints the
//! dashboard's URL; runs until Ctrl-C, or for `--duration` seconds.

use std::time::Duration;

use actix::prelude::*;
use actix_tether::{
    web::{Operations, WebConfig},
    AddEndpoint, EndpointConfig, Payload, SendPayload, Shutdown, SupervisorActor,
};
use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};

/// A WebSocket session: a tick every 250 ms, pongs after 1-19 ms, echoes.
async fn session(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(Duration::from_millis(250));
        let mut n = 0u64;
        loop {
            let next = futures::future::select(Box::pin(ticker.tick()), Box::pin(stream.recv()));
            let alive = match next.await {
                futures::future::Either::Left(_) => {
                    n += 1;
                    session.text(format!("tick {n}")).await.is_ok()
                }
                futures::future::Either::Right((Some(Ok(message)), _)) => {
                    answer(&mut session, message, n).await
                }
                futures::future::Either::Right(_) => false,
            };
            if !alive {
                return;
            }
        }
    });
    Ok(response)
}

/// Answers one inbound frame; false when the session is over.
async fn answer(session: &mut actix_ws::Session, message: actix_ws::Message, n: u64) -> bool {
    match message {
        actix_ws::Message::Ping(p) => {
            actix_web::rt::time::sleep(Duration::from_millis(1 + (n * 7) % 19)).await;
            session.pong(&p).await.is_ok()
        }
        actix_ws::Message::Text(t) => session.text(t.to_string()).await.is_ok(),
        actix_ws::Message::Close(_) => false,
        _ => true,
    }
}

/// An SSE stream: one event every 300 ms.
async fn quotes() -> HttpResponse {
    let body = futures::stream::unfold(0u64, |n| async move {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let event = format!("event: quote\nid: {n}\ndata: {{\"seq\":{n}}}\n\n");
        Some((Ok::<_, actix_web::Error>(bytes::Bytes::from(event)), n + 1))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(body)
}

fn start_server(port: u16) -> std::io::Result<(u16, ServerHandle)> {
    let server = HttpServer::new(|| {
        App::new()
            .route("/ws", web::get().to(session))
            .route("/quotes", web::get().to(quotes))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", port))?;
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((port, handle))
}

/// Starts a server that goes down for `down` every `period`; its port.
/// Coming back, it retries each second while the port is still taken
/// (another program may have grabbed it meanwhile).
fn flapping(period: Duration, down: Duration) -> std::io::Result<u16> {
    let (port, mut handle) = start_server(0)?;
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(period - down).await;
            handle.stop(false).await;
            actix_web::rt::time::sleep(down).await;
            handle = loop {
                match start_server(port) {
                    Ok((_, handle)) => break handle,
                    Err(e) => eprintln!("port {port} not free again yet: {e}"),
                }
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            };
        }
    });
    Ok(port)
}

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    match args.get(at + 1).map(|v| v.parse()) {
        Some(Ok(v)) => Some(v),
        _ => {
            eprintln!("{name} needs a number");
            std::process::exit(2);
        }
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let duration = arg("--duration").map(Duration::from_secs);
    let port = u16::try_from(arg("--port").unwrap_or(0))?;

    let shared = flapping(Duration::from_secs(15), Duration::from_secs(4))?;
    let orders = flapping(Duration::from_secs(25), Duration::from_secs(6))?;
    let (steady, _handle) = start_server(0)?;

    let supervisor = SupervisorActor::default().start();
    let endpoints = [
        (
            "prices",
            EndpointConfig::websocket(format!("ws://127.0.0.1:{shared}/ws")).tag("desk", "fx"),
        ),
        (
            "quotes",
            EndpointConfig::sse(format!("http://127.0.0.1:{shared}/quotes")).tag("desk", "fx"),
        ),
        (
            "orders",
            EndpointConfig::websocket(format!("ws://127.0.0.1:{orders}/ws")).tag("desk", "rates"),
        ),
        (
            "news",
            EndpointConfig::websocket(format!("ws://127.0.0.1:{steady}/ws")),
        ),
    ];
    for (id, builder) in endpoints {
        let config = builder
            .heartbeat_interval(Duration::from_millis(500))
            .build()?;
        supervisor.send(AddEndpoint::new(id, config)).await??;
    }

    // Some outbound traffic, so messages/s moves.
    let sender = supervisor.clone();
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(Duration::from_millis(200));
        loop {
            ticker.tick().await;
            for id in ["prices", "orders", "news"] {
                let _ = sender
                    .send(SendPayload::new(id, Payload::text("hello")))
                    .await;
            }
        }
    });

    let ops = Operations::new(supervisor.clone(), WebConfig::default());
    let server = HttpServer::new(move || App::new().service(ops.scope("/tether")))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", port))?;
    let bound = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    println!("dashboard: http://127.0.0.1:{bound}/tether/dashboard");
    println!("metrics:   http://127.0.0.1:{bound}/tether/metrics");
    println!("health:    http://127.0.0.1:{bound}/tether/health");

    match duration {
        Some(d) => actix_web::rt::time::sleep(d).await,
        None => actix_rt::signal::ctrl_c().await?,
    }
    handle.stop(true).await;
    supervisor.send(Shutdown).await?;
    Ok(())
}
