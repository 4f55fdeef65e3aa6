//! An actix-web scope for operators (feature `web`): health checks,
//! endpoint status, a live event stream, a dashboard, and Prometheus
//! metrics (with the `prometheus` feature too).
//!
//! ```no_run
//! use actix::prelude::*;
//! use actix_tether::{web::{Operations, WebConfig}, SupervisorActor};
//! use actix_web::{App, HttpServer};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let supervisor = SupervisorActor::default().start();
//!     // Once, outside the server factory: one event hub for every worker.
//!     let ops = Operations::new(supervisor, WebConfig::default().health_threshold(60));
//!     HttpServer::new(move || App::new().service(ops.scope("/tether")))
//!         .bind(("127.0.0.1", 8080))?
//!         .run()
//!         .await
//! }
//! ```
//!
//! # Routes (under the scope's path)
//! | route | answer |
//! |---|---|
//! | `GET /health` | JSON; 200 when the supervisor answered and the overall score is at least the threshold, else 503 |
//! | `GET /endpoints` | JSON: every endpoint's state, score, band, RTT, traffic, attempts, last error; 503 when the supervisor does not answer within [`WebConfig::snapshot_timeout`] |
//! | `GET /events` | `text/event-stream`: a `report` event (as `/endpoints`) at once and then every [`WebConfig::report_interval`], a `status` event on every state change |
//! | `GET /dashboard` | one self-contained HTML page fed by `/events` |
//! | `GET /metrics` | the Prometheus exposition (feature `prometheus`; see [`ops::metrics`](crate::ops::metrics)); 503 as for `/endpoints` |
//! | `POST /endpoints/{id}/reconnect` | only when enabled with [`WebConfig::allow_reconnect`], behind its guard |
//!
//! # What is not revealed
//! URLs go through [`redact_url`](crate::redact_url) (no user info,
//! password, query or fragment); header values appear nowhere; error
//! messages (`last_error`, a `status` event's `reason`) have every URL they
//! quote redacted the same way, since a custom transport's error or a
//! peer's close reason may quote one.
//!
//! # Slow event clients
//! Each `/events` client has a buffer of [`WebConfig::events_buffer`]
//! frames. A client whose buffer is full when a frame is due is dropped (its
//! stream ends; a browser's `EventSource` reconnects): a stalled reader
//! never grows memory.

mod events;
mod json;

use std::{fmt, sync::Arc, time::Duration};

use actix::{Actor, Addr};
use actix_web::{
    guard::{Guard, GuardContext},
    http::{header, StatusCode},
    web::{self, Data},
    HttpResponse, Scope,
};
use futures::StreamExt;

use self::events::{EventHub, Join};
pub use crate::ops::DEFAULT_SNAPSHOT_TIMEOUT;
use crate::{ops::Snapshot, Reconnect, SupervisorActor};

/// The default health threshold: the lowest score of the orange band, so a
/// service whose connections are mostly down answers 503.
pub const DEFAULT_HEALTH_THRESHOLD: u8 = 50;
/// The default buffer of one `/events` client: a few seconds of reports and
/// a burst of state changes.
pub const DEFAULT_EVENTS_BUFFER: usize = 64;
/// The default period of `report` events: once a second, about as often as
/// connections flush their figures.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The longest period of `report` events: the dashboard takes a stream
/// silent for 10 seconds as dead and opens a new one, so reports come at
/// least twice in that time.
pub const MAX_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The dashboard page: HTML, CSS and script in one file, no external asset.
const DASHBOARD: &str = include_str!("dashboard.html");

/// Settings of the operations scope.
#[derive(Clone)]
pub struct WebConfig {
    health_threshold: u8,
    events_buffer: usize,
    report_interval: Duration,
    snapshot_timeout: Duration,
    reconnect_guard: Option<Arc<dyn Guard + Send + Sync>>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            health_threshold: DEFAULT_HEALTH_THRESHOLD,
            events_buffer: DEFAULT_EVENTS_BUFFER,
            report_interval: DEFAULT_REPORT_INTERVAL,
            snapshot_timeout: DEFAULT_SNAPSHOT_TIMEOUT,
            reconnect_guard: None,
        }
    }
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("health_threshold", &self.health_threshold)
            .field("events_buffer", &self.events_buffer)
            .field("report_interval", &self.report_interval)
            .field("snapshot_timeout", &self.snapshot_timeout)
            .field("reconnect_enabled", &self.reconnect_guard.is_some())
            .finish()
    }
}

impl WebConfig {
    /// The overall score (0-100) at or above which `/health` answers 200;
    /// below it, 503. The overall score is the mean of the endpoints'
    /// scores, 100 with no endpoint. Default value is 50
    /// ([`DEFAULT_HEALTH_THRESHOLD`]).
    pub fn health_threshold(mut self, score: u8) -> Self {
        self.health_threshold = score.min(100);
        self
    }

    /// Frames buffered per `/events` client before it is dropped as too
    /// slow (at least 1). Default value is 64 ([`DEFAULT_EVENTS_BUFFER`]).
    pub fn events_buffer(mut self, frames: usize) -> Self {
        self.events_buffer = frames.max(1);
        self
    }

    /// How often `/events` clients get a `report` event: between 100 ms
    /// and [`MAX_REPORT_INTERVAL`] (5 s; a longer one is shortened to it,
    /// as the dashboard takes a stream silent for 10 s as dead). Default
    /// value is 1 second ([`DEFAULT_REPORT_INTERVAL`]).
    pub fn report_interval(mut self, every: Duration) -> Self {
        self.report_interval = every.clamp(Duration::from_millis(100), MAX_REPORT_INTERVAL);
        self
    }

    /// How long a request waits for each answer of the supervisor (and the
    /// monitor and connections behind it) before it answers with what it
    /// has: with no report in time, `/health` answers 503 and the others
    /// show no endpoint, rather than hang while the supervisor is busy. At
    /// least 10 ms. Default value is 2 seconds
    /// ([`DEFAULT_SNAPSHOT_TIMEOUT`]).
    pub fn snapshot_timeout(mut self, timeout: Duration) -> Self {
        self.snapshot_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Enables `POST /endpoints/{id}/reconnect` for requests that pass
    /// `guard` (for example `actix_web::guard::Header("authorization",
    /// "Bearer …")`); a request that does not pass gets 404. Off by default:
    /// a status page should not be able to change anything.
    pub fn allow_reconnect(mut self, guard: impl Guard + Send + Sync + 'static) -> Self {
        self.reconnect_guard = Some(Arc::new(guard));
        self
    }
}

/// The operations scope's shared state: clone it into the server factory.
#[derive(Clone)]
pub struct Operations {
    supervisor: Addr<SupervisorActor>,
    hub: Addr<EventHub>,
    config: WebConfig,
}

impl fmt::Debug for Operations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operations")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Operations {
    /// Starts the event hub that feeds `/events` (subscribed to every
    /// endpoint's [`StatusChanged`](crate::StatusChanged)). Call it inside
    /// a running actix system, once, before `HttpServer::new`; the value is
    /// cheap to clone into each worker.
    pub fn new(supervisor: Addr<SupervisorActor>, config: WebConfig) -> Self {
        let hub = EventHub::new(
            supervisor.clone(),
            config.report_interval,
            config.snapshot_timeout,
        )
        .start();
        Self {
            supervisor,
            hub,
            config,
        }
    }

    /// A snapshot, waiting for each answer at most the configured timeout.
    async fn snapshot(&self) -> Snapshot {
        Snapshot::take_within(&self.supervisor, self.config.snapshot_timeout).await
    }

    /// The scope to mount on an `App`, at `path` (for example `"/tether"`).
    pub fn scope(&self, path: &str) -> Scope {
        let mut scope = web::scope(path)
            .app_data(Data::new(self.clone()))
            .route("/health", web::get().to(health))
            .route("/endpoints", web::get().to(endpoints))
            .route("/events", web::get().to(events))
            .route("/dashboard", web::get().to(dashboard));
        #[cfg(feature = "prometheus")]
        {
            scope = scope.route("/metrics", web::get().to(metrics));
        }
        if let Some(guard) = &self.config.reconnect_guard {
            scope = scope.service(
                web::resource("/endpoints/{id}/reconnect")
                    .guard(SharedGuard(Arc::clone(guard)))
                    .route(web::post().to(reconnect)),
            );
        }
        scope
    }
}

/// Starts an [`Operations`] and returns its scope at `path`: the one-call
/// form. Called inside `HttpServer::new`'s factory it starts one event hub
/// per worker; prefer [`Operations::new`] outside the factory.
pub fn scope(path: &str, supervisor: Addr<SupervisorActor>, config: WebConfig) -> Scope {
    Operations::new(supervisor, config).scope(path)
}

struct SharedGuard(Arc<dyn Guard + Send + Sync>);

impl Guard for SharedGuard {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        self.0.check(ctx)
    }
}

fn no_store() -> (header::HeaderName, &'static str) {
    (header::CACHE_CONTROL, "no-store")
}

async fn health(ops: Data<Operations>) -> HttpResponse {
    let snapshot = ops.snapshot().await;
    let threshold = ops.config.health_threshold;
    let status = if json::is_healthy(&snapshot, threshold) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .insert_header(no_store())
        .json(json::health(&snapshot, threshold))
}

async fn endpoints(ops: Data<Operations>) -> HttpResponse {
    let snapshot = ops.snapshot().await;
    if !snapshot.answered {
        return unanswered();
    }
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(json::report(&snapshot))
}

/// What `/endpoints` and `/metrics` answer when the supervisor did not
/// answer in time: 503 rather than figures that describe nothing (a
/// scraper records a failed scrape, not zero endpoints).
fn unanswered() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(no_store())
        .json(serde_json::json!({ "error": "the supervisor did not answer in time" }))
}

async fn events(ops: Data<Operations>) -> HttpResponse {
    let (mut tx, rx) = futures::channel::mpsc::channel(ops.config.events_buffer);
    let first = ops.snapshot().await;
    // A browser that loses the stream retries after a second. The channel
    // is empty: the first frame always fits. A snapshot the supervisor did
    // not answer is not sent (the next period's report follows).
    let first = if first.answered {
        events::frame("report", &json::report(&first))
    } else {
        bytes::Bytes::new()
    };
    let _ = tx.try_send([&b"retry: 1000\n"[..], &first].concat().into());
    ops.hub.do_send(Join(tx));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(no_store())
        .insert_header(("x-accel-buffering", "no"))
        .streaming(rx.map(Ok::<_, std::convert::Infallible>))
}

async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(no_store())
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:",
        ))
        .body(DASHBOARD)
}

#[cfg(feature = "prometheus")]
async fn metrics(ops: Data<Operations>, request: actix_web::HttpRequest) -> HttpResponse {
    use crate::ops::metrics::{encode, Format};
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let snapshot = ops.snapshot().await;
    if !snapshot.answered {
        return unanswered();
    }
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(no_store())
        .body(encode(snapshot, format))
}

async fn reconnect(ops: Data<Operations>, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    match ops.supervisor.send(Reconnect::endpoint(id.as_str())).await {
        Ok(Ok(())) => HttpResponse::Accepted().json(serde_json::json!({ "reconnecting": id })),
        Ok(Err(e)) => HttpResponse::NotFound().json(serde_json::json!({ "error": e.to_string() })),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_come_often_enough_for_the_dashboard_to_stay_live() {
        let every = |d| WebConfig::default().report_interval(d).report_interval;
        assert_eq!(every(Duration::from_secs(3600)), MAX_REPORT_INTERVAL);
        assert_eq!(every(Duration::ZERO), Duration::from_millis(100));
        assert_eq!(every(Duration::from_secs(2)), Duration::from_secs(2));
        // The page's staleness bound (STALE_MS) is at least two periods.
        let stale_ms = DASHBOARD
            .lines()
            .find_map(|l| l.strip_prefix("const STALE_MS = "))
            .and_then(|v| v.split(';').next()?.parse::<u64>().ok())
            .expect("STALE_MS in the dashboard");
        assert!(Duration::from_millis(stale_ms) >= 2 * MAX_REPORT_INTERVAL);
    }
}
