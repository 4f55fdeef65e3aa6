//! Shared pieces of the `bench_*` examples: loopback servers that are not the
//! bottleneck (frames are encoded once and streamed as raw bytes), a counting
//! subscriber, medians and table rows.
#![allow(dead_code)]

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{BurstReceived, MessageReceived, StatusChanged};
use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::{BufMut, Bytes, BytesMut};
use futures::{channel::oneshot, StreamExt};

/// Reads a WebSocket upgrade request on a raw TCP stream (at most 16 KiB)
/// and answers 101: for servers that then write frames themselves. False
/// when the request was cut short or had no key.
pub(crate) async fn accept_ws_upgrade(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(key) = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    }) else {
        return false;
    };
    let accept = actix_http::ws::hash_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        String::from_utf8_lossy(&accept)
    );
    stream.write_all(response.as_bytes()).await.is_ok()
}

/// `--quick` on the command line.
pub(crate) fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// Runs per figure (the median is reported): `--runs N`, default 3 (1
/// with `--quick`, which is a smoke run).
pub(crate) fn runs() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick() { 1 } else { 3 })
        .max(1)
}

/// `--only TEXT` keeps only the figures whose name contains TEXT.
pub(crate) fn selected(name: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--only") {
        Some(i) => args
            .get(i + 1)
            .is_some_and(|only| name.contains(only.as_str())),
        None => true,
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `p` quantile (0.0 to 1.0) of `sorted` durations, by the nearest
/// rank; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let at = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted
        .get(at.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// One unmasked server text frame carrying `size` bytes.
fn ws_frame(size: usize, out: &mut BytesMut) {
    out.put_u8(0x81);
    if size < 126 {
        out.put_u8(u8::try_from(size).expect("below 126"));
    } else {
        out.put_u8(126);
        out.put_u16(u16::try_from(size).expect("below 64 KiB"));
    }
    out.extend(std::iter::repeat_n(b'x', size));
}

/// `n` frames of `size` bytes as ~64 KiB chunks sharing one buffer.
pub(crate) fn ws_stream_chunks(n: usize, size: usize) -> Vec<Bytes> {
    chunked(n, |out| ws_frame(size, out))
}

/// `n` copies of what `item` writes, as ~64 KiB chunks sharing one buffer.
pub(crate) fn chunked(n: usize, item: impl Fn(&mut BytesMut)) -> Vec<Bytes> {
    let mut one = BytesMut::new();
    item(&mut one);
    let per_chunk = (64 * 1024 / one.len()).max(1);
    let mut chunk = BytesMut::with_capacity(per_chunk * one.len());
    for _ in 0..per_chunk {
        item(&mut chunk);
    }
    let chunk = chunk.freeze();
    let mut out = vec![chunk.clone(); n / per_chunk];
    let rest = n % per_chunk;
    if rest > 0 {
        out.push(chunk.slice(..rest * one.len()));
    }
    out
}

/// What a blasting server sends on each new connection.
#[derive(Clone, Default)]
pub(crate) struct Blast {
    pub(crate) ws: Arc<Mutex<Vec<Bytes>>>,
    /// Compressed frames for `/ws-deflate` (which agrees permessage-deflate).
    pub(crate) ws_deflate: Arc<Mutex<Vec<Bytes>>>,
    /// Messages received by `/sink` (outbound benchmark).
    pub(crate) received: Arc<AtomicU64>,
    /// `/echo` sessions stop answering (half-open) while this is set.
    pub(crate) half_open: Arc<std::sync::atomic::AtomicBool>,
}

async fn ws_blast(req: HttpRequest, blast: web::Data<Blast>) -> actix_web::Result<HttpResponse> {
    let chunks = blast.ws.lock().unwrap().clone();
    let mut response = actix_http::ws::handshake(req.head())?;
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, actix_web::Error>))
        .chain(futures::stream::pending());
    let response = response.message_body(actix_web::body::BodyStream::new(body))?;
    Ok(HttpResponse::from(response.map_into_boxed_body()))
}

/// As `/ws`, agreeing permessage-deflate (each message compressed on its
/// own) and sending the compressed frames.
async fn ws_deflate_blast(
    req: HttpRequest,
    blast: web::Data<Blast>,
) -> actix_web::Result<HttpResponse> {
    let chunks = blast.ws_deflate.lock().unwrap().clone();
    let mut response = actix_http::ws::handshake(req.head())?;
    response.insert_header((
        "sec-websocket-extensions",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ));
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, actix_web::Error>))
        .chain(futures::stream::pending());
    let response = response.message_body(actix_web::body::BodyStream::new(body))?;
    Ok(HttpResponse::from(response.map_into_boxed_body()))
}

/// `n` copies of `message` as ~64 KiB chunks: compressed text frames (RSV1,
/// each message deflated on its own) when `compressed`, else plain ones.
/// Returns the chunks and the wire bytes per message.
pub(crate) fn json_stream_chunks(
    n: usize,
    message: &[u8],
    compressed: bool,
) -> (Vec<Bytes>, usize) {
    let payload = if compressed {
        let mut deflate = flate2::Compress::new(flate2::Compression::default(), false);
        let mut out = Vec::with_capacity(message.len() + 64);
        deflate
            .compress_vec(message, &mut out, flate2::FlushCompress::Sync)
            .expect("compress");
        out.truncate(out.len() - 4);
        out
    } else {
        message.to_vec()
    };
    let first = if compressed { 0xC1 } else { 0x81 };
    let mut one = BytesMut::new();
    one.put_u8(first);
    if payload.len() < 126 {
        one.put_u8(u8::try_from(payload.len()).expect("below 126"));
    } else {
        one.put_u8(126);
        one.put_u16(u16::try_from(payload.len()).expect("below 64 KiB"));
    }
    one.extend_from_slice(&payload);
    let wire = one.len();
    (chunked(n, |out| out.extend_from_slice(&one)), wire)
}

/// Counts every message a client sends (and answers pings).
async fn ws_sink(
    req: HttpRequest,
    body: web::Payload,
    blast: web::Data<Blast>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let received = Arc::clone(&blast.received);
    let mut stream = stream.max_frame_size(1 << 20);
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            match msg {
                actix_ws::Message::Text(_) | actix_ws::Message::Binary(_) => {
                    received.fetch_add(1, Ordering::Relaxed);
                }
                actix_ws::Message::Ping(p) => {
                    let _ = session.pong(&p).await;
                }
                actix_ws::Message::Close(_) => break,
                _ => {}
            }
        }
    });
    Ok(response)
}

/// Answers pings until `half_open` is set, then keeps the socket and goes silent.
async fn ws_echo(
    req: HttpRequest,
    body: web::Payload,
    blast: web::Data<Blast>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let half_open = Arc::clone(&blast.half_open);
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            if half_open.load(Ordering::SeqCst) {
                let _hold = (session, stream);
                std::future::pending::<()>().await;
                return;
            }
            if let actix_ws::Message::Ping(p) = msg {
                let _ = session.pong(&p).await;
            }
        }
    });
    Ok(response)
}

pub(crate) struct BlastServer {
    pub(crate) port: u16,
    pub(crate) blast: Blast,
    handle: ServerHandle,
}

impl BlastServer {
    pub(crate) fn start() -> Self {
        let blast = Blast::default();
        let data = blast.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .route("/ws", web::get().to(ws_blast))
                .route("/ws-deflate", web::get().to(ws_deflate_blast))
                .route("/sink", web::get().to(ws_sink))
                .route("/echo", web::get().to(ws_echo))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind a loopback port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            port,
            blast,
            handle,
        }
    }

    pub(crate) fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Counts delivered messages; reports the time from Connected to the `n`th.
pub(crate) struct Counter {
    pub(crate) target: u64,
    pub(crate) count: u64,
    pub(crate) connected_at: Option<Instant>,
    pub(crate) done: Option<oneshot::Sender<Duration>>,
    /// Payload bytes of the bursts read.
    pub(crate) bytes: u64,
}

impl Counter {
    pub(crate) fn new(target: u64) -> (Self, oneshot::Receiver<Duration>) {
        let (tx, rx) = oneshot::channel();
        let counter = Self {
            target,
            count: 0,
            connected_at: None,
            done: Some(tx),
            bytes: 0,
        };
        (counter, rx)
    }

    fn add(&mut self, n: u64) {
        self.count += n;
        if self.count >= self.target {
            if let (Some(done), Some(at)) = (self.done.take(), self.connected_at) {
                let _ = done.send(at.elapsed());
            }
        }
    }
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<StatusChanged> for Counter {
    type Result = ();
    fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
        if e.to.is_up() && self.connected_at.is_none() {
            self.connected_at = Some(Instant::now());
        }
    }
}

impl Handler<MessageReceived> for Counter {
    type Result = ();
    fn handle(&mut self, _: MessageReceived, _: &mut Context<Self>) {
        self.add(1);
    }
}

impl Handler<BurstReceived> for Counter {
    type Result = ();
    /// Reads every message of the burst (counts it and its size, as a
    /// consumer that looks at each would), not just the burst's length.
    fn handle(&mut self, batch: BurstReceived, _: &mut Context<Self>) {
        let (mut messages, mut bytes) = (0u64, 0usize);
        for payload in &batch.payloads {
            messages += 1;
            bytes += payload.len();
        }
        self.bytes += std::hint::black_box(bytes) as u64;
        self.add(messages);
    }
}

/// A shared counter readable from any thread.
pub(crate) fn rate(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// CPU time every thread of this process has run so far (Linux: the sum
/// of `/proc/self/task/*/schedstat`, in nanoseconds; threads that already
/// ended are not counted). `None` where it cannot be read.
///
/// A rate on a shared machine also measures what else ran; CPU time per
/// message, client and in-process server together, does not.
pub(crate) fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        let Ok(stat) = std::fs::read_to_string(path) else {
            continue; // the thread ended meanwhile
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Prints one markdown row (figure, raw awc, actix-tether, ratio, target)
/// from runs measured side by side: the median of each, and the median of
/// the per-run ratios, which drift on a busy machine cannot skew.
pub(crate) fn row(name: &str, unit: &str, raw: &[f64], ours: &[f64], target: &str) {
    let ratio = median(raw.iter().zip(ours).map(|(r, o)| o / r).collect());
    println!(
        "| {name} | {} {unit} | {} {unit} | {ratio:.2}x | {target} |",
        human(median(raw.to_vec())),
        human(median(ours.to_vec()))
    );
}

pub(crate) fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}
