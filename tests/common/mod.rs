//! Shared test fixtures: in-process actix-web WebSocket servers on
//! 127.0.0.1:0 with scriptable behaviour, and a collector actor that turns
//! subscriptions into channels awaited with bounded timeouts.
#![allow(dead_code, unreachable_pub)]

#[path = "../../examples/ami_server/mod.rs"]
pub mod ami_server;
pub mod chaos;
pub mod flood_server;
pub mod line_server;
#[cfg(feature = "web")]
pub mod ops_app;
pub mod pki;
pub mod raw_http;
pub mod raw_ws;
pub mod sse_server;
pub mod tcp_server;
pub mod third_party;
pub mod ws_wire;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, BackoffConfig, BurstReceived, ConnectionState, EndpointBuilder, EndpointConfig,
    MessageReceived, StatusChanged, Subscribe, Subscriber, SupervisorActor, SupervisorConfig,
};
use actix_web::{
    dev::ServerHandle, http::StatusCode, web, App, HttpRequest, HttpResponse, HttpServer,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Generous bound for any single awaited event on a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// How the server treats new connections.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Upgrade, answer pings, run text commands (see `run_session`).
    Normal,
    /// Upgrade, then never read or write: a half-open peer.
    Silent,
    /// Refuse the handshake with this HTTP status and optional `Retry-After` seconds.
    Refuse(u16, Option<u64>),
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Connected {
        id: usize,
        authorization: Option<String>,
    },
    Text {
        id: usize,
        text: String,
    },
    Pong {
        id: usize,
        payload: Vec<u8>,
    },
    ClosedByClient {
        id: usize,
        code: Option<u16>,
    },
    Gone {
        id: usize,
    },
}

struct Shared {
    mode: Mutex<Mode>,
    next_id: AtomicUsize,
    events: UnboundedSender<ServerEvent>,
    /// `m ID` messages whose first arrival drops the connection unacked.
    drop_before_ack: Mutex<std::collections::HashSet<String>>,
}

pub struct TestServer {
    pub port: u16,
    handle: Option<ServerHandle>,
    shared: Arc<Shared>,
    pub events: UnboundedReceiver<ServerEvent>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Arc<Shared>>,
) -> actix_web::Result<HttpResponse> {
    let mode = shared.mode.lock().unwrap().clone();
    if let Mode::Refuse(status, retry_after) = mode {
        let mut refusal = HttpResponse::build(StatusCode::from_u16(status).unwrap());
        if let Some(seconds) = retry_after {
            refusal.insert_header(("Retry-After", seconds.to_string()));
        }
        return Ok(refusal.finish());
    }
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = shared
        .events
        .send(ServerEvent::Connected { id, authorization });
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let shared = Arc::clone(shared.get_ref());
    actix_web::rt::spawn(async move {
        if mode == Mode::Silent {
            let _hold = (session, stream);
            std::future::pending::<()>().await;
        } else {
            run_session(id, session, stream, shared).await;
        }
    });
    Ok(response)
}

/// Text commands: `count N` sends "0".."N-1"; `ping X` sends a ping with
/// payload X; `close CODE` closes with that code; `silent` stops reading and
/// writing; `auth TOKEN` answers `auth-ok` (`auth-denied` for `bad`, nothing
/// for `mute`); `m ID` answers `ack ID` (or drops the connection, once, for
/// ids in `drop_before_ack`); `n ...` is only recorded; anything else is
/// echoed.
async fn run_session(
    id: usize,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    shared: Arc<Shared>,
) {
    let report = |e| {
        let _ = shared.events.send(e);
    };
    while let Some(msg) = stream.recv().await {
        if std::env::var("TEST_DEBUG").is_ok() {
            eprintln!("server {id}: {msg:?}");
        }
        let Ok(msg) = msg else { break };
        match msg {
            actix_ws::Message::Text(text) => {
                let text = text.to_string();
                report(ServerEvent::Text {
                    id,
                    text: text.clone(),
                });
                let mut words = text.splitn(2, ' ');
                match (words.next(), words.next()) {
                    (Some("count"), Some(n)) => {
                        for i in 0..n.parse::<usize>().unwrap() {
                            if session.text(i.to_string()).await.is_err() {
                                return;
                            }
                        }
                    }
                    (Some("fill"), Some(args)) => {
                        // `fill N SIZE`: N messages of SIZE bytes, numbered.
                        let (n, size) = args.split_once(' ').unwrap();
                        let size: usize = size.parse().unwrap();
                        for i in 0..n.parse::<usize>().unwrap() {
                            let text = format!("{i:<size$}");
                            if session.text(text).await.is_err() {
                                return;
                            }
                        }
                    }
                    (Some("ping"), Some(payload)) => {
                        let _ = session.ping(payload.as_bytes()).await;
                    }
                    (Some("close"), Some(code)) => {
                        let code: u16 = code.parse().unwrap();
                        let _ = session
                            .close(Some(actix_ws::CloseReason {
                                code: code.into(),
                                description: None,
                            }))
                            .await;
                        return;
                    }
                    (Some("auth"), Some(token)) => {
                        let verdict = match token {
                            "mute" => continue,
                            "bad" => "auth-denied",
                            _ => "auth-ok",
                        };
                        let _ = session.text(verdict).await;
                    }
                    (Some("m"), Some(id)) => {
                        if shared.drop_before_ack.lock().unwrap().remove(id) {
                            return;
                        }
                        let _ = session.text(format!("ack {id}")).await;
                    }
                    (Some("n"), _) => {}
                    (Some("silent"), None) => {
                        let _hold = (session, stream);
                        std::future::pending::<()>().await;
                        return;
                    }
                    _ => {
                        let _ = session.text(text).await;
                    }
                }
            }
            actix_ws::Message::Binary(bytes) => {
                let _ = session.binary(bytes).await;
            }
            actix_ws::Message::Ping(payload) => {
                let _ = session.pong(&payload).await;
            }
            actix_ws::Message::Pong(payload) => report(ServerEvent::Pong {
                id,
                payload: payload.to_vec(),
            }),
            actix_ws::Message::Close(reason) => {
                report(ServerEvent::ClosedByClient {
                    id,
                    code: reason.as_ref().map(|r| u16::from(r.code)),
                });
                let _ = session.close(reason).await;
                return;
            }
            _ => {}
        }
    }
    report(ServerEvent::Gone { id });
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    pub async fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(Some(config)).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let (tx, rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Normal),
            next_id: AtomicUsize::new(0),
            events: tx,
            drop_before_ack: Mutex::default(),
        });
        let mut server = Self {
            port: 0,
            handle: None,
            shared,
            events: rx,
            tls,
        };
        server.bind().await;
        server
    }

    async fn bind(&mut self) {
        let shared = Arc::clone(&self.shared);
        let http = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&shared)))
                .route("/ws", web::get().to(ws_route))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0);
        let addr = ("127.0.0.1", self.port);
        let http = match &self.tls {
            Some(tls) => http.bind_rustls_0_23(addr, (**tls).clone()),
            None => http.bind(addr),
        }
        .expect("bind test server");
        self.port = http.addrs()[0].port();
        let server = http.run();
        self.handle = Some(server.handle());
        actix_rt::spawn(server);
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}/ws", self.port)
    }

    /// The first `m ID` for each of `ids` drops the connection without an ack.
    pub fn drop_before_ack(&self, ids: impl IntoIterator<Item = String>) {
        self.shared.drop_before_ack.lock().unwrap().extend(ids);
    }

    /// Every text the server received so far, with its connection id.
    pub fn drain_texts(&mut self) -> Vec<(usize, String)> {
        let mut texts = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if let ServerEvent::Text { id, text } = event {
                texts.push((id, text));
            }
        }
        texts
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Stops the server, dropping every connection without a close frame.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop(false).await;
        }
    }

    /// Starts the server again on the same port.
    pub async fn restart(&mut self) {
        self.bind().await;
    }

    /// The next server event, or a panic after `WAIT`.
    pub async fn next_event(&mut self) -> ServerEvent {
        next(&mut self.events, WAIT).await
    }

    /// The next `n` texts the server receives, skipping other events.
    pub async fn next_texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::new();
        while texts.len() < n {
            if let ServerEvent::Text { text, .. } = self.next_event().await {
                texts.push(text);
            }
        }
        texts
    }

    /// Skips events until one matches.
    pub async fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&ServerEvent) -> bool,
    ) -> ServerEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = next_named(&mut self.events, left, what).await;
            if pred(&e) {
                return e;
            }
        }
    }
}

pub async fn next<T>(rx: &mut UnboundedReceiver<T>, within: Duration) -> T {
    next_named(rx, within, "event").await
}

async fn next_named<T>(rx: &mut UnboundedReceiver<T>, within: Duration, what: &str) -> T {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("channel closed while waiting for {what}"),
        Err(_) => panic!("timed out after {within:?} waiting for {what}"),
    }
}

/// Forwards everything it is subscribed to into channels.
pub struct Collector {
    status: UnboundedSender<StatusChanged>,
    messages: UnboundedSender<MessageReceived>,
    batches: UnboundedSender<BurstReceived>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Collector {
    type Result = ();
    fn handle(&mut self, msg: StatusChanged, _: &mut Context<Self>) {
        let _ = self.status.send(msg);
    }
}

impl Handler<MessageReceived> for Collector {
    type Result = ();
    fn handle(&mut self, mut msg: MessageReceived, _: &mut Context<Self>) {
        // The channel is the test's own queue: the message's queue slot is
        // released here, not when the test reads it.
        msg.slot.take().release();
        let _ = self.messages.send(msg);
    }
}

impl Handler<BurstReceived> for Collector {
    type Result = ();
    fn handle(&mut self, mut msg: BurstReceived, _: &mut Context<Self>) {
        msg.slot.take().release();
        let _ = self.batches.send(msg);
    }
}

pub struct Events {
    pub addr: Addr<Collector>,
    pub status: UnboundedReceiver<StatusChanged>,
    pub messages: UnboundedReceiver<MessageReceived>,
    pub batches: UnboundedReceiver<BurstReceived>,
}

impl Events {
    pub fn start() -> Self {
        let (status_tx, status) = unbounded_channel();
        let (messages_tx, messages) = unbounded_channel();
        let (batches_tx, batches) = unbounded_channel();
        let addr = Collector {
            status: status_tx,
            messages: messages_tx,
            batches: batches_tx,
        }
        .start();
        Self {
            addr,
            status,
            messages,
            batches,
        }
    }

    /// Subscribes to status changes and per-message delivery of all endpoints.
    pub async fn subscribe_all(&self, supervisor: &Addr<SupervisorActor>) {
        for subscriber in [
            Subscriber::Status(self.addr.clone().recipient()),
            Subscriber::Messages(self.addr.clone().recipient()),
        ] {
            supervisor
                .send(Subscribe::to(subscriber))
                .await
                .unwrap()
                .unwrap();
        }
    }

    pub async fn next_status(&mut self) -> StatusChanged {
        next_named(&mut self.status, WAIT, "a status change").await
    }

    /// Status changes up to and including the first into `to`.
    pub async fn until_state(&mut self, to: ConnectionState) -> Vec<StatusChanged> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = next_named(&mut self.status, left, &format!("state {to}")).await;
            let done = e.to == to;
            seen.push(e);
            if done {
                return seen;
            }
        }
    }

    /// The next SSE event's type, data and id.
    pub async fn next_event(&mut self) -> (String, String, Option<String>) {
        let m = next_named(&mut self.messages, WAIT, "an sse event").await;
        let e = m.payload.as_event().expect("an sse event");
        (
            e.event().to_string(),
            e.data().to_string(),
            e.id().map(|i| i.to_string()),
        )
    }

    pub async fn next_text(&mut self) -> (u64, String) {
        let m = next_named(&mut self.messages, WAIT, "a message").await;
        (
            m.generation,
            m.payload.as_text().expect("text payload").to_owned(),
        )
    }
}

/// Fast, deterministic settings for tests: short heartbeat, no jitter.
pub fn fast(url: &str) -> EndpointBuilder {
    EndpointConfig::websocket(url)
        .heartbeat_interval(Duration::from_millis(300))
        .connect_timeout(Duration::from_secs(3))
        .close_timeout(Duration::from_secs(2))
        .backoff(BackoffConfig::Exponential {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_millis(800),
            jitter: false,
        })
}

pub fn supervisor() -> Addr<SupervisorActor> {
    SupervisorActor::new(SupervisorConfig::default().arbiters(2)).start()
}

pub async fn add(supervisor: &Addr<SupervisorActor>, id: &str, config: EndpointConfig) {
    supervisor
        .send(AddEndpoint::new(id, config))
        .await
        .unwrap()
        .unwrap();
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Events {
    /// Waits until `n` status changes into `to` arrived (any endpoints).
    pub async fn count_state(&mut self, to: ConnectionState, n: usize) -> Vec<StatusChanged> {
        let mut hits = Vec::new();
        while hits.len() < n {
            let e = self.next_status().await;
            if e.to == to {
                hits.push(e);
            }
        }
        hits
    }
}

/// A server, a supervisor with two arbiters, and a collector subscribed to
/// every endpoint's status changes and messages.
pub struct Harness {
    pub server: TestServer,
    pub supervisor: Addr<SupervisorActor>,
    pub events: Events,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with_config(SupervisorConfig::default().arbiters(2)).await
    }

    /// As [`start`](Self::start), with these supervisor settings.
    pub async fn with_config(config: SupervisorConfig) -> Self {
        let server = TestServer::start().await;
        let supervisor = SupervisorActor::new(config).start();
        let events = Events::start();
        events.subscribe_all(&supervisor).await;
        Self {
            server,
            supervisor,
            events,
        }
    }

    /// Adds an endpoint pointed at the server and waits until it is connected.
    pub async fn connect(&mut self, id: &str, config: EndpointBuilder) -> Vec<StatusChanged> {
        add(&self.supervisor, id, config.build().unwrap()).await;
        self.events.until_state(ConnectionState::Connected).await
    }

    /// Sends a text message to an endpoint and expects it to be written.
    pub async fn send_text(&self, id: &str, text: &str) {
        let payload = actix_tether::Payload::text(text.to_owned());
        let send = actix_tether::SendPayload::new(id, payload);
        self.supervisor.send(send).await.unwrap().unwrap();
    }
}
