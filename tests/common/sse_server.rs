//! An in-process actix-web SSE server with scriptable behaviour.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{
    dev::ServerHandle, http::StatusCode, web, App, HttpRequest, HttpResponse, HttpServer,
};
use bytes::Bytes;
use futures::{stream, StreamExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{next, WAIT};

/// What `/events` does.
#[derive(Debug, Clone, PartialEq)]
pub enum SseMode {
    /// `connected`, `tool-request`, `heartbeat` and `error` events, then stays open.
    Named,
    /// An event log with ids 1..=total: each connection resumes after
    /// Last-Event-ID, sends `per_connection` events, then half an event, and
    /// ends the stream. Stays open once the log is exhausted.
    Log { total: u64, per_connection: u64 },
    /// `retry: ms`, one event, then the stream ends.
    Retry(u64),
    /// Answers with this status and optional Retry-After seconds.
    Status(u16, Option<u64>),
    /// 200 with `text/plain`.
    WrongType,
    /// `bytes` bytes without a line break.
    LongLine(usize),
    /// Headers, then nothing.
    Silent,
    /// An endless event log: each connection resumes after Last-Event-ID
    /// (or at 1) and sends the next id, one event every `every`.
    Ticker { every: Duration },
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct SseRequest {
    pub path: String,
    pub last_event_id: Option<String>,
    pub accept: Option<String>,
    pub cache_control: Option<String>,
    pub authorization: Option<String>,
}

struct Shared {
    mode: Mutex<SseMode>,
    requests: UnboundedSender<SseRequest>,
}

pub struct SseServer {
    pub port: u16,
    scheme: &'static str,
    handle: ServerHandle,
    shared: Arc<Shared>,
    pub requests: UnboundedReceiver<SseRequest>,
}

fn chunk(text: impl Into<String>) -> Result<Bytes, actix_web::Error> {
    Ok(Bytes::from(text.into()))
}

fn event_stream(chunks: Vec<String>, stay_open: bool) -> HttpResponse {
    let body = stream::iter(chunks.into_iter().map(chunk));
    let response = HttpResponse::Ok().content_type("text/event-stream").take();
    let mut response = response;
    if stay_open {
        response.streaming(body.chain(stream::pending()))
    } else {
        response.streaming(body)
    }
}

fn record(req: &HttpRequest, shared: &Shared) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let last_event_id = header("last-event-id");
    let _ = shared.requests.send(SseRequest {
        path: req.path().to_owned(),
        last_event_id: last_event_id.clone(),
        accept: header("accept"),
        cache_control: header("cache-control"),
        authorization: header("authorization"),
    });
    last_event_id
}

async fn events(req: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let last_event_id = record(&req, &shared);
    let mode = shared.mode.lock().unwrap().clone();
    match mode {
        SseMode::Named => event_stream(
            vec![
                ": welcome\n\n".into(),
                "event: connected\nid: c1\ndata: {\"session\":\"s\"}\n\n".into(),
                "event: heartbeat\ndata: beat\n\n".into(),
                "event: tool-request\nid: t1\ndata: {\"tool\":\"search\",\r\ndata: \"q\":\"rust\"}\r\n\r\n".into(),
                "event: error\nid: e1\ndata: oops\n\n".into(),
            ],
            true,
        ),
        SseMode::Log { total, per_connection } => {
            let after: u64 = last_event_id.and_then(|id| id.parse().ok()).unwrap_or(0);
            let end = (after + per_connection).min(total);
            let mut chunks: Vec<String> =
                (after + 1..=end).map(|n| format!("id: {n}\nevent: tick\ndata: {n}\n\n")).collect();
            if end < total {
                // Cut mid-event: the client must discard it and resume at `end`.
                chunks.push(format!("id: {}\ndata: partial", end + 1));
            }
            event_stream(chunks, end >= total)
        }
        SseMode::Retry(ms) => event_stream(vec![format!("retry: {ms}\n\n"), "data: once\n\n".into()], false),
        SseMode::Status(code, retry_after) => {
            let mut response = HttpResponse::build(StatusCode::from_u16(code).unwrap());
            if let Some(seconds) = retry_after {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            response.finish()
        }
        SseMode::WrongType => HttpResponse::Ok().content_type("text/plain").body("hello"),
        SseMode::LongLine(bytes) => event_stream(vec!["x".repeat(bytes)], true),
        SseMode::Silent => event_stream(Vec::new(), true),
        SseMode::Ticker { every } => {
            let after: u64 = last_event_id.and_then(|id| id.parse().ok()).unwrap_or(0);
            let ticks = stream::unfold(after, move |n| async move {
                tokio::time::sleep(every).await;
                let n = n + 1;
                Some((chunk(format!("id: {n}\nevent: tick\ndata: {n}\n\n")), n))
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(ticks)
        }
    }
}

async fn moved(req: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    record(&req, &shared);
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/events"))
        .finish()
}

async fn ping(req: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    record(&req, &shared);
    HttpResponse::Ok().finish()
}

/// Redirects to `/events` on another server: `/away?to=PORT`.
async fn away(req: HttpRequest, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    record(&req, &shared);
    let port = req.query_string().strip_prefix("to=").unwrap_or("1");
    HttpResponse::TemporaryRedirect()
        .insert_header(("Location", format!("http://127.0.0.1:{port}/events")))
        .finish()
}

impl SseServer {
    pub async fn start(mode: SseMode) -> Self {
        Self::start_with(mode, None).await
    }

    /// Serves `https://` with this TLS config.
    pub async fn start_tls(mode: SseMode, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(mode, Some(tls)).await
    }

    async fn start_with(mode: SseMode, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let (tx, requests) = unbounded_channel();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            requests: tx,
        });
        let data = Arc::clone(&shared);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&data)))
                .route("/events", web::get().to(events))
                .route("/old", web::get().to(moved))
                .route("/ping", web::get().to(ping))
                .route("/away", web::get().to(away))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0);
        let addr = ("127.0.0.1", 0);
        let server = match &tls {
            Some(tls) => server.bind_rustls_0_23(addr, (**tls).clone()),
            None => server.bind(addr),
        }
        .expect("bind test server");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            handle,
            shared,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn set_mode(&self, mode: SseMode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub async fn next_request(&mut self) -> SseRequest {
        next(&mut self.requests, WAIT).await
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Fast SSE settings for tests: short heartbeat, 20 ms constant backoff.
pub fn fast_sse(url: &str) -> actix_tether::EndpointBuilder {
    actix_tether::EndpointConfig::sse(url)
        .heartbeat_interval(Duration::from_millis(300))
        .connect_timeout(Duration::from_secs(3))
        .protocol_fault_delay(Duration::from_millis(50))
        .backoff(actix_tether::BackoffConfig::Constant {
            delay: Duration::from_millis(20),
        })
}
