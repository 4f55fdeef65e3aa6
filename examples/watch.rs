//! `watch`: keeps WebSocket, SSE and raw TCP endpoints connected and prints
//! everything that happens as JSON lines.
//!
//! ```text
//! cargo run --example watch -- [OPTIONS] NAME=URL [NAME=URL ...]
//! cargo run --example watch -- --help
//! ```
//!
//! `ws://`/`wss://` URLs are WebSocket endpoints, `http://`/`https://` SSE,
//! `tcp://`/`tcps://` raw TCP framed by `--framing` (lines by default).
//! Each stdin line `NAME TEXT` sends TEXT as one message to endpoint NAME.
//! stdout carries one JSON object per line (`status`, `message`, `event`,
//! `send`, `health`, `error`); logs go to stderr (`RUST_LOG`). SIGINT, SIGTERM
//! or the end of `--duration` close every connection, print a final `health`
//! line and a `stop` line (messages left unprinted) and exit 0, without
//! waiting for a slow stdout to take a backlog; a bad argument exits 2
//! before anything connects. Inbound queues pause reading at 1,024 messages,
//! so a slow stdout pushes back on the servers.

use std::{
    collections::BTreeMap,
    io::{BufRead, Write},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, SystemTime},
};

use actix::prelude::*;
use actix_tether::{
    config::parse_duration, Accepted, AddEndpoint, BackoffConfig, EndpointBuilder, EndpointConfig,
    GetHealthReport, MessageReceived, Payload, SendPayload, Shutdown, StatusChanged, Subscribe,
    Subscriber, SupervisorActor,
};
use serde_json::{json, Value};

const HELP: &str = "\
watch: keep WebSocket, SSE and TCP endpoints connected, print events as JSON lines

USAGE:
    cargo run --example watch -- [OPTIONS] NAME=URL [NAME=URL ...]

    ws:// and wss:// URLs are WebSocket endpoints; http:// and https:// are SSE;
    tcp://HOST:PORT and tcps://HOST:PORT (TLS) are raw TCP, framed by --framing.
    Each stdin line `NAME TEXT` sends TEXT as one message to endpoint NAME.
    Durations accept 500ms, 5s, 1m.

OPTIONS:
    --heartbeat-interval DURATION   time between heartbeats [default: 15s]
    --heartbeat-timeout DURATION    silence that declares the peer dead
                                    [default: interval x max-missed]
    --max-missed N                  unanswered pings that declare it dead [default: 3]
    --backoff POLICY                exponential | decorrelated | constant
                                    [default: exponential]
    --initial-delay DURATION        first reconnect delay [default: 1s]
    --max-delay DURATION            reconnect delay cap [default: 30s]
    --max-attempts N                failures before giving up [default: unlimited]
    --header 'Name: value'          handshake header, repeatable (never echoed)
    --framing FRAMING               tcp endpoints: lines | blocks | banner-then-blocks
                                    | u16 | u32 (big-endian length prefix) [default: lines]
    --health-every DURATION         print a health line this often, 0 = off [default: 0]
    --duration DURATION             exit after this long [default: until SIGINT/SIGTERM]
    --config FILE                   JSON: {\"endpoints\": {NAME: EndpointConfig},
                                    \"health_every\": DURATION, \"duration\": DURATION}
    -h, --help                      print this help
";

/// Parsed command line.
#[derive(Debug, Default)]
struct Options {
    endpoints: Vec<(String, EndpointConfig)>,
    health_every: Option<Duration>,
    duration: Option<Duration>,
}

/// What the command line sets on every NAME=URL endpoint.
#[derive(Debug, Default)]
struct Settings {
    heartbeat_interval: Option<Duration>,
    heartbeat_timeout: Option<Duration>,
    max_missed: Option<u32>,
    backoff: Option<String>,
    initial_delay: Option<Duration>,
    max_delay: Option<Duration>,
    max_attempts: Option<u32>,
    headers: Vec<(String, String)>,
    framing: Option<actix_tether::config::Framing>,
}

impl Settings {
    fn apply(&self, mut builder: EndpointBuilder) -> Result<EndpointBuilder, String> {
        if let Some(d) = self.heartbeat_interval {
            builder = builder.heartbeat_interval(d);
        }
        if let Some(d) = self.heartbeat_timeout {
            builder = builder.heartbeat_timeout(d);
        }
        if let Some(n) = self.max_missed {
            builder = builder.max_missed(n);
        }
        if let Some(n) = self.max_attempts {
            builder = builder.max_attempts(n);
        }
        let initial = self
            .initial_delay
            .unwrap_or(actix_tether::config::DEFAULT_INITIAL_DELAY);
        let max = self
            .max_delay
            .unwrap_or(actix_tether::config::DEFAULT_MAX_DELAY);
        builder = builder.backoff(match self.backoff.as_deref().unwrap_or("exponential") {
            "exponential" => BackoffConfig::Exponential {
                initial,
                multiplier: actix_tether::config::DEFAULT_MULTIPLIER,
                max,
                jitter: true,
            },
            "decorrelated" => BackoffConfig::Decorrelated { initial, max },
            "constant" => BackoffConfig::Constant { delay: initial },
            other => {
                return Err(format!(
                    "--backoff: unknown policy {other:?} (exponential, decorrelated, constant)"
                ))
            }
        });
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        Ok(builder)
    }

    /// The builder for `url`, by its scheme.
    fn builder(&self, name: &str, url: String) -> Result<EndpointBuilder, String> {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        match scheme {
            "ws" | "wss" => Ok(EndpointConfig::websocket(url)),
            "http" | "https" => Ok(EndpointConfig::sse(url)),
            "tcp" | "tcps" => {
                Ok(EndpointConfig::tcp(url).framing(self.framing.clone().unwrap_or_default()))
            }
            _ => Err(format!(
                "{name}: url must start with ws://, wss://, http://, https://, tcp:// or tcps://"
            )),
        }
    }
}

fn duration_arg(flag: &str, value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|e| format!("{flag}: {e}"))
}

fn number_arg(flag: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: expected a whole number, got {value:?}"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    endpoints: BTreeMap<String, EndpointConfig>,
    #[serde(default)]
    health_every: Option<Value>,
    #[serde(default)]
    duration: Option<Value>,
}

fn file_duration(field: &str, value: Option<Value>) -> Result<Option<Duration>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(ms)) => ms
            .as_u64()
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| format!("config {field}: expected milliseconds")),
        Some(Value::String(text)) => duration_arg(field, &text).map(Some),
        Some(_) => Err(format!("config {field}: expected a duration")),
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    let mut settings = Settings::default();
    let mut targets = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            print!("{HELP}");
            std::process::exit(0);
        }
        if !arg.starts_with("--") {
            let (name, url) = arg
                .split_once('=')
                .filter(|(n, u)| !n.is_empty() && !u.is_empty())
                .ok_or_else(|| {
                    // A bare URL may hold a token: never echo it raw.
                    let shown = actix_tether::redact_url(&arg);
                    format!("expected NAME=URL, got {shown:?}")
                })?;
            targets.push((name.to_owned(), url.to_owned()));
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--heartbeat-interval" => {
                settings.heartbeat_interval = Some(duration_arg(&arg, &value)?)
            }
            "--heartbeat-timeout" => settings.heartbeat_timeout = Some(duration_arg(&arg, &value)?),
            "--max-missed" => settings.max_missed = Some(number_arg(&arg, &value)?),
            "--backoff" => settings.backoff = Some(value),
            "--initial-delay" => settings.initial_delay = Some(duration_arg(&arg, &value)?),
            "--max-delay" => settings.max_delay = Some(duration_arg(&arg, &value)?),
            "--max-attempts" => settings.max_attempts = Some(number_arg(&arg, &value)?),
            "--header" => {
                let (name, header_value) = value
                    .split_once(':')
                    .ok_or_else(|| "--header: expected 'Name: value'".to_owned())?;
                settings
                    .headers
                    .push((name.trim().to_owned(), header_value.trim().to_owned()));
            }
            "--framing" => {
                settings.framing = Some(value.parse().map_err(|e| format!("--framing: {e}"))?)
            }
            "--health-every" => options.health_every = Some(duration_arg(&arg, &value)?),
            "--duration" => options.duration = Some(duration_arg(&arg, &value)?),
            "--config" => {
                let text = std::fs::read_to_string(&value)
                    .map_err(|e| format!("--config {value}: {e}"))?;
                let file: ConfigFile =
                    serde_json::from_str(&text).map_err(|e| format!("--config {value}: {e}"))?;
                for (name, config) in file.endpoints {
                    config
                        .validate()
                        .map_err(|e| format!("--config {value}: endpoint {name}: {e}"))?;
                    options.endpoints.push((name, config));
                }
                options.health_every = options
                    .health_every
                    .or(file_duration("health_every", file.health_every)?);
                options.duration = options
                    .duration
                    .or(file_duration("duration", file.duration)?);
            }
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    for (name, url) in targets {
        let config = settings
            .apply(settings.builder(&name, url)?)?
            .build()
            .map_err(|e| format!("{name}: {e}"))?;
        options.endpoints.push((name, config));
    }
    if options.endpoints.is_empty() {
        return Err("no endpoints: give NAME=URL arguments or --config FILE (see --help)".into());
    }
    let mut names: Vec<&str> = options.endpoints.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("endpoint name {:?} given twice", pair[0]));
    }
    Ok(options)
}

fn at_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Writes one JSON object per line, flushed, with `type` and `at_ms`.
fn emit(kind: &str, mut fields: Value) {
    if let Value::Object(map) = &mut fields {
        map.insert("type".into(), kind.into());
        map.insert("at_ms".into(), at_ms().into());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{fields}");
    let _ = out.flush();
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Set once a stop is requested: inbound messages are no longer printed.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Messages that arrived (or were still queued) after the stop request.
static UNPRINTED: AtomicU64 = AtomicU64::new(0);

/// Prints status changes, errors and inbound messages.
struct Printer;

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Printer {
    type Result = ();
    fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
        emit(
            "status",
            json!({
                "endpoint": e.endpoint.as_str(),
                "from": e.from.name(),
                "to": e.to.name(),
                "attempt": e.attempt,
                "reason": e.reason.as_ref().map(ToString::to_string),
            }),
        );
        if let Some(err) = e.reason {
            emit(
                "error",
                json!({"endpoint": e.endpoint.as_str(), "category": err.category().name(), "message": err.message()}),
            );
        }
    }
}

impl Handler<MessageReceived> for Printer {
    type Result = ();
    fn handle(&mut self, m: MessageReceived, _: &mut Context<Self>) {
        if STOPPING.load(Ordering::Relaxed) {
            UNPRINTED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let endpoint = m.endpoint.as_str();
        match &m.payload {
            Payload::Text(text) => emit(
                "message",
                json!({"endpoint": endpoint, "kind": "text", "data": &**text}),
            ),
            Payload::Binary(bytes) => emit(
                "message",
                json!({"endpoint": endpoint, "kind": "binary", "data": base64(bytes)}),
            ),
            Payload::Event(event) => emit(
                "event",
                json!({"endpoint": endpoint, "event": &**event.event(), "id": event.id().map(|id| &**id), "data": &**event.data()}),
            ),
            Payload::Comment(text) => {
                emit("comment", json!({"endpoint": endpoint, "text": &**text}))
            }
            _ => {}
        }
    }
}

async fn print_health(supervisor: &Addr<SupervisorActor>) {
    if let Ok(report) = supervisor.send(GetHealthReport::default()).await {
        emit(
            "health",
            json!({ "overall": report.overall, "endpoints": report.endpoints }),
        );
    }
}

/// Reads `NAME TEXT` lines on a plain thread and hands them to the system.
fn spawn_stdin_reader(supervisor: Addr<SupervisorActor>) {
    let arbiter = actix_rt::Arbiter::current();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let Some((name, text)) = line.split_once(' ') else {
                if !line.trim().is_empty() {
                    emit(
                        "send",
                        json!({"endpoint": line.trim(), "ok": false, "error": "expected NAME TEXT"}),
                    );
                }
                continue;
            };
            let send = SendPayload::new(name, Payload::text(text.to_owned()));
            let name = name.to_owned();
            let supervisor = supervisor.clone();
            // Send from the system's thread; print once the outcome settles
            // (a queued message settles when it is written or fails).
            let _ = arbiter.spawn(async move {
                let (accepted, outcome) = match supervisor.send(send).await {
                    Ok(Ok(receipt)) => {
                        let accepted = match receipt.accepted() {
                            Accepted::Written { .. } => json!("written"),
                            Accepted::Queued { position } => json!({ "queued": position }),
                        };
                        (accepted, receipt.outcome().await.map(|_| ()))
                    }
                    Ok(Err(e)) => (Value::Null, Err(e)),
                    Err(e) => (Value::Null, Err(actix_tether::Error::new(actix_tether::ErrorCategory::Shutdown, e.to_string()))),
                };
                let error = outcome.err().map(|e| e.to_string());
                emit(
                    "send",
                    json!({"endpoint": name, "ok": error.is_none(), "accepted": accepted, "error": error}),
                );
            });
        }
    });
}

async fn wait_for_stop(duration: Option<Duration>) {
    let sleep = async {
        match duration {
            Some(d) => actix_rt::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    futures::pin_mut!(sleep, terminate);
    let interrupt = actix_rt::signal::ctrl_c();
    futures::pin_mut!(interrupt);
    let first = futures::future::select(sleep, terminate);
    futures::future::select(first, interrupt).await;
}

fn main() {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("watch: {problem}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let system = actix_rt::System::new();
    system.block_on(async move {
        let supervisor = SupervisorActor::default().start();
        // Its own thread: a blocked stdout never holds up the signal
        // handler, the supervisor or the connections.
        let printer = Printer::start_in_arbiter(&Arbiter::new().handle(), |_| Printer);
        // Inbound queues pause reading at their default bound: a slow
        // stdout pushes back on the servers instead of growing memory.
        for subscriber in [Subscriber::Status(printer.clone().recipient()), Subscriber::Messages(printer.recipient())] {
            let _ = supervisor.send(Subscribe::to(subscriber)).await;
        }
        for (name, config) in options.endpoints {
            if let Ok(Err(e)) = supervisor.send(AddEndpoint::new(name.as_str(), config)).await {
                emit("error", json!({"endpoint": name, "category": e.category().name(), "message": e.message()}));
            }
        }
        spawn_stdin_reader(supervisor.clone());
        if let Some(every) = options.health_every.filter(|d| !d.is_zero()) {
            let supervisor = supervisor.clone();
            actix_rt::spawn(async move {
                let mut ticks = actix_rt::time::interval_at(actix_rt::time::Instant::now() + every, every);
                loop {
                    ticks.tick().await;
                    print_health(&supervisor).await;
                }
            });
        }
        wait_for_stop(options.duration).await;
        // Whatever is still queued for printing is counted, not printed:
        // exiting never waits for a slow stdout to take a backlog.
        STOPPING.store(true, Ordering::SeqCst);
        let _ = supervisor.send(Shutdown).await;
        print_health(&supervisor).await;
        emit("stop", json!({ "unprinted": UNPRINTED.load(Ordering::SeqCst) }));
    });
    std::process::exit(0);
}
