//! SSE inbound throughput per HTTP response framing, with the server in its
//! own process: raw awc with a bare line splitter against actix-tether's
//! batched subscription, alternating runs in the same client process.
//!
//! ```text
//! cargo run --release --example bench_sse [-- --quick] [-- --runs N] [-- --only TEXT]
//! ```
//!
//! Where `taskset` exists and the machine has two cores or more, the server
//! process runs on core 1 and the client on core 0. The server writes a
//! stream encoded once per request kind, 64 KiB per write: chunked coding
//! with 64 KiB chunks, chunked coding with one chunk per event (what a
//! server that flushes each event sends), `Content-Length`, a body delimited
//! by the server closing the connection (HTTP/1.1 without a length) and
//! HTTP/1.0. awc reads no body from an HTTP/1.1 response without a length,
//! so that row's baseline is raw awc on 64 KiB chunks in the same run.
//!
//! The `--serve` argument runs the server alone (it prints its port, and
//! exits when its standard input closes); `--ours` measures actix-tether
//! alone and `--raw` the bare splitter alone (for a profiler).

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::{
    collections::HashMap,
    io::{BufRead, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix::prelude::*;
use actix_tether::{EndpointConfig, Subscribe, Subscriber, SupervisorActor, SupervisorConfig};
use bench_common::*;
use futures::StreamExt;

/// The response framings measured, by the path segment that asks for each.
const FRAMINGS: [(&str, &str); 5] = [
    ("chunked", "chunked, 64 KiB chunks"),
    ("chunk-per-event", "chunked, one chunk per event"),
    ("length", "Content-Length"),
    ("close", "HTTP/1.1, delimited by close"),
    ("http10", "HTTP/1.0, delimited by close"),
];

/// The server process stops by itself after this long.
const SERVER_LIFETIME: Duration = Duration::from_secs(30 * 60);

// ---------- the server process ----------

/// Responses encoded once per (framing, event size, count).
type Cache = Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>;

fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().expect("address").port());
    std::io::stdout().flush().expect("stdout");
    // Exit when the client process goes away (stdin closes), or after the
    // lifetime bound.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_until(b'\0', &mut sink);
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(SERVER_LIFETIME);
        std::process::exit(0);
    });
    let cache = Cache::default();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let cache = cache.clone();
        std::thread::spawn(move || answer(stream, &cache));
    }
}

/// Reads one request head and writes the response it asks for:
/// `GET /FRAMING/SIZE/COUNT`.
fn answer(mut stream: TcpStream, cache: &Cache) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) if head.len() + n > 16 * 1024 => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let target = String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let response = {
        let mut cache = cache.lock().expect("cache");
        match cache.get(&target) {
            Some(response) => response.clone(),
            None => {
                let Some(response) = encode(&target) else {
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let response = Arc::new(response);
                cache.insert(target.clone(), response.clone());
                response
            }
        }
    };
    for piece in response.chunks(64 * 1024) {
        if stream.write_all(piece).is_err() {
            return;
        }
    }
    if target.starts_with("/chunked/") || target.starts_with("/chunk-per-event/") {
        // The stream goes on (the client stops when it has its count).
        let _ = stream.read(&mut buf);
    }
    // Close-delimited bodies end here; a Content-Length body's client
    // closes first.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read(&mut buf);
}

/// The whole response for `/FRAMING/SIZE/COUNT`: head and body.
fn encode(target: &str) -> Option<Vec<u8>> {
    let mut parts = target.trim_start_matches('/').split('/');
    let framing = parts.next()?;
    let size: usize = parts.next()?.parse().ok()?;
    let count: usize = parts.next()?.parse().ok()?;
    if !(9..=1 << 20).contains(&size) || count > 10_000_000 {
        return None;
    }
    let mut event = b"data: ".to_vec();
    event.resize(size - 2, b'x');
    event.extend_from_slice(b"\n\n");
    let events: Vec<u8> = event.repeat(count);
    let status = if framing == "http10" {
        "HTTP/1.0 200 OK"
    } else {
        "HTTP/1.1 200 OK"
    };
    let mut out =
        format!("{status}\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n")
            .into_bytes();
    match framing {
        "chunked" | "chunk-per-event" => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let per_chunk = if framing == "chunked" {
                (64 * 1024 / size).max(1) * size
            } else {
                size
            };
            for chunk in events.chunks(per_chunk) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        "length" => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", events.len()).as_bytes());
            out.extend_from_slice(&events);
        }
        "close" | "http10" => {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            out.extend_from_slice(&events);
        }
        _ => return None,
    }
    Some(out)
}

// ---------- the client ----------

/// Starts the server process (on core 1 when it can be pinned) and pins
/// this process to core 0. Returns the child and its port.
fn start_server() -> (Child, u16, bool) {
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
        && Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().expect("own path");
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let mut child = command
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server's port");
    let port = line.trim().parse().expect("a port number");
    if pin {
        let pinned = Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(pinned, "taskset could not pin the client");
    }
    (child, port, pin)
}

/// Raw awc streaming with a bare line splitter counting blank lines; the
/// events it counted (fewer than `n` when the body ended first) and the
/// rate.
async fn raw_splitter(url: &str, n: u64) -> (u64, f64) {
    let client = awc::Client::builder().disable_timeout().finish();
    let mut body = client.get(url).send().await.expect("connect");
    let started = Instant::now();
    let (mut events, mut partial) = (0, 0usize);
    let deadline = started + Duration::from_secs(60);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        let mut rest = &chunk[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if i == 0 && partial == 0 {
                events += 1;
            }
            partial = 0;
            rest = &rest[i + 1..];
        }
        partial += rest.len();
        if events >= n || Instant::now() > deadline {
            break;
        }
    }
    (events, rate(events.min(n), started.elapsed()))
}

/// Raw awc with a minimal SSE reader that keeps what it reads, as a
/// hand-written consumer does: each event's `data:` lines joined into a
/// `String` (UTF-8 checked), a chunk's events collected and handed on
/// together. Lines split across chunks are joined in a buffer.
async fn raw_sse_keeping(url: &str, n: u64) -> f64 {
    fn take_line(line: &[u8], data: &mut String, batch: &mut Vec<String>) {
        if line.is_empty() {
            if !data.is_empty() {
                batch.push(std::mem::take(data));
            }
        } else if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(std::str::from_utf8(value).expect("utf-8"));
        }
    }
    let client = awc::Client::builder().disable_timeout().finish();
    let mut body = client.get(url).send().await.expect("connect");
    let started = Instant::now();
    let (mut events, mut partial, mut data) = (0, Vec::new(), String::new());
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        let mut batch = Vec::new();
        let mut rest = &chunk[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if partial.is_empty() {
                take_line(&rest[..i], &mut data, &mut batch);
            } else {
                partial.extend_from_slice(&rest[..i]);
                take_line(&partial, &mut data, &mut batch);
                partial.clear();
            }
            rest = &rest[i + 1..];
        }
        partial.extend_from_slice(rest);
        events += batch.len() as u64;
        drop(std::hint::black_box(batch));
        if events >= n {
            break;
        }
    }
    rate(n, started.elapsed())
}

/// actix-tether: the batched subscription reading every event (counting
/// it and its data's length), from Connected to the `n`th.
async fn tether(url: &str, n: u64) -> f64 {
    let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(0)).start();
    let (counter, done) = Counter::new(n);
    let counter = counter.start();
    for subscriber in [
        Subscriber::Status(counter.clone().recipient()),
        Subscriber::Bursts(counter.recipient()),
    ] {
        supervisor
            .send(Subscribe::to(subscriber))
            .await
            .unwrap()
            .unwrap();
    }
    let config = EndpointConfig::sse(url)
        .heartbeat_interval(Duration::from_secs(60))
        .build()
        .expect("valid config");
    supervisor
        .send(actix_tether::AddEndpoint::new("bench", config))
        .await
        .unwrap()
        .unwrap();
    let took = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("bounded")
        .unwrap();
    let _ = supervisor.send(actix_tether::Shutdown).await;
    rate(n, took)
}

#[actix::main]
async fn main() {
    if std::env::args().any(|a| a == "--serve") {
        return serve();
    }
    let runs = runs();
    let (n_small, n_large) = if quick() {
        (300_000, 60_000)
    } else {
        (2_000_000, 400_000)
    };
    let (mut server, port, pinned) = start_server();
    let url = |framing: &str, size: usize, n: u64| {
        format!("http://127.0.0.1:{port}/{framing}/{size}/{n}")
    };
    println!(
        "Server in its own process{}.",
        if pinned {
            " (server on core 1, client on core 0)"
        } else {
            " (not pinned: no taskset or one core)"
        }
    );
    println!();
    println!("| figure | raw awc, bare splitter | actix-tether | ratio | target |");
    println!("|---|---|---|---|---|");
    for (n, size) in [(n_small, 64), (n_large, 1024)] {
        for (framing, name) in FRAMINGS {
            let figure = format!("SSE in, {size} B events, batched, {name}");
            if !selected(&figure) {
                continue;
            }
            let (mut raw, mut ours, mut keeping) = (Vec::new(), Vec::new(), Vec::new());
            let mut baseline_note = "";
            if std::env::args().any(|a| a == "--ours") {
                let rate = tether(&url(framing, size, n), n).await;
                println!("| {figure} | - | {} events/s | - | - |", human(rate));
                continue;
            }
            if std::env::args().any(|a| a == "--raw") {
                let (events, rate) = raw_splitter(&url(framing, size, n), n).await;
                println!(
                    "| {figure} | {} events/s ({events} read) | - | - | - |",
                    human(rate)
                );
                continue;
            }
            for _ in 0..runs {
                let (events, rate) = raw_splitter(&url(framing, size, n), n).await;
                let rate = if events < n {
                    // awc read no (or not all the) body: chunked is the
                    // baseline of the same events.
                    baseline_note = " (raw awc reads no body here: baseline on 64 KiB chunks)";
                    raw_splitter(&url("chunked", size, n), n).await.1
                } else {
                    rate
                };
                raw.push(rate);
                ours.push(tether(&url(framing, size, n), n).await);
                if framing == "chunked" {
                    keeping.push(raw_sse_keeping(&url(framing, size, n), n).await);
                }
            }
            row(
                &format!("{figure}{baseline_note}"),
                "events/s",
                &raw,
                &ours,
                ">= 1.0x",
            );
            if framing == "chunked" {
                // What a hand-written consumer that keeps the data costs.
                let name = format!("{figure}, vs raw awc keeping each event's data");
                row(&name, "events/s", &keeping, &ours, "(context)");
            }
        }
    }
    drop(server.stdin.take());
    let _ = server.wait();
}
