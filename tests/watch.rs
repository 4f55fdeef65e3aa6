//! The `watch` example as a child process against in-process WebSocket,
//! SSE and TCP servers: JSON lines out, stdin sends in, reconnects,
//! SIGTERM, bad args.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{sse_server::*, tcp_server::*, *};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// The example binary, built by `cargo test` next to the test binaries.
fn watch_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join("watch");
    assert!(
        path.exists(),
        "{} is missing: run the tests with cargo test",
        path.display()
    );
    path
}

struct Watch {
    child: Child,
    lines: UnboundedReceiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(args: &[String]) -> Self {
        Self::spawn(args, Duration::ZERO)
    }

    /// As [`start`](Self::start), with a reader that pauses `per_line`
    /// after each line (a slow stdout).
    fn start_slow(args: &[String]) -> Self {
        Self::spawn(args, Duration::from_micros(500))
    }

    fn spawn(args: &[String], per_line: Duration) -> Self {
        let mut child = Command::new(watch_binary())
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not json: {line}: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
                if !per_line.is_zero() {
                    std::thread::sleep(per_line);
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line matching `pred`, within `WAIT`.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!(
                    "watch exited while waiting for {what}; saw {:#?}",
                    self.seen
                ),
                Err(_) => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            };
            assert!(line["type"].is_string() && line["at_ms"].is_u64(), "{line}");
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    async fn expect_status(&mut self, endpoint: &str, to: &str) -> Value {
        self.expect(&format!("{endpoint} -> {to}"), |l| {
            l["type"] == "status" && l["endpoint"] == endpoint && l["to"] == to
        })
        .await
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    async fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited with a code");
            }
            assert!(Instant::now() < deadline, "watch did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[actix::test]
async fn watch_prints_json_lines_sends_stdin_reconnects_and_exits_on_sigterm() {
    let mut ws = TestServer::start().await;
    let sse = SseServer::start(SseMode::Named).await;
    let args: Vec<String> = [
        "--heartbeat-interval",
        "300ms",
        "--initial-delay",
        "100ms",
        "--max-delay",
        "400ms",
        "--backoff",
        "constant",
        "--header",
        "X-Token: SECRET-VALUE",
    ]
    .iter()
    .map(ToString::to_string)
    .chain([
        format!("ws={}", ws.url()),
        format!("feed={}", sse.url("/events")),
    ])
    .collect();
    let mut watch = Watch::start(&args);

    watch.expect_status("ws", "connected").await;
    let event = watch
        .expect("a connected event", |l| {
            l["type"] == "event" && l["event"] == "connected"
        })
        .await;
    assert_eq!(event["endpoint"], "feed");
    assert_eq!(event["id"], "c1");
    assert_eq!(event["data"], "{\"session\":\"s\"}");

    watch.send_line("ws count 3");
    let sent = watch.expect("send result", |l| l["type"] == "send").await;
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(sent["error"], Value::Null);
    ws.wait_for(
        "stdin text",
        |e| matches!(e, ServerEvent::Text { text, .. } if text == "count 3"),
    )
    .await;
    for i in 0..3 {
        let m = watch.expect("a message", |l| l["type"] == "message").await;
        assert_eq!(
            (
                m["endpoint"].as_str(),
                m["kind"].as_str(),
                m["data"].as_str()
            ),
            (Some("ws"), Some("text"), Some(&*i.to_string()))
        );
    }
    watch.send_line("nobody hi");
    let refused = watch
        .expect("refused send", |l| {
            l["type"] == "send" && l["endpoint"] == "nobody"
        })
        .await;
    assert_eq!(refused["ok"], false);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("unknown endpoint"),
        "{refused}"
    );

    ws.stop().await;
    let lost = watch.expect_status("ws", "reconnecting").await;
    assert!(lost["reason"].is_string());
    watch
        .expect("an error line", |l| {
            l["type"] == "error" && l["endpoint"] == "ws"
        })
        .await;
    ws.restart().await;
    watch.expect_status("ws", "connected").await;

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(watch.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let health = watch
        .expect("final health", |l| l["type"] == "health")
        .await;
    assert!(health["overall"].is_u64());
    let endpoints = health["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2);
    assert_eq!(watch.wait_exit().await, 0);
    let all = watch
        .seen
        .iter()
        .map(ToString::to_string)
        .collect::<String>();
    assert!(!all.contains("SECRET-VALUE"), "a header value was echoed");
}

#[actix::test]
async fn config_file_endpoints_run_for_the_given_duration() {
    let ws = TestServer::start().await;
    let config = serde_json::json!({
        "endpoints": {
            "from-file": {"url": ws.url(), "heartbeat": {"interval": "200ms"}, "backoff": {"policy": "constant", "delay": 100}}
        },
        "duration": "1500ms"
    });
    let path = std::env::temp_dir().join(format!("watch-config-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).unwrap();
    let mut watch = Watch::start(&["--config".to_owned(), path.display().to_string()]);
    watch.expect_status("from-file", "connected").await;
    let health = watch
        .expect("final health", |l| l["type"] == "health")
        .await;
    assert_eq!(health["endpoints"][0]["endpoint"], "from-file");
    assert_eq!(watch.wait_exit().await, 0);
    let _ = std::fs::remove_file(path);
}

#[actix::test]
async fn tcp_endpoints_take_a_framing_and_print_messages_like_the_others() {
    let mut blocks = ByteServer::start(|_| (b"A: 1\r\nB: 2\r\n\r\n".to_vec(), End::Hold)).await;
    let args = [
        "--framing".to_owned(),
        "blocks".to_owned(),
        "--duration".to_owned(),
        "3s".to_owned(),
        format!("pbx={}", blocks.url()),
    ];
    let mut watch = Watch::start(&args);
    watch.expect_status("pbx", "connected").await;
    let message = watch.expect("a block", |l| l["type"] == "message").await;
    assert_eq!(message["endpoint"], "pbx");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["data"], "A: 1\r\nB: 2");
    watch.send_line("pbx Action: Ping");
    let sent = watch.expect("send result", |l| l["type"] == "send").await;
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        blocks.read_until(0, b"\r\n\r\n").await,
        b"Action: Ping\r\n\r\n"
    );
    assert_eq!(watch.wait_exit().await, 0);

    let frames = ByteServer::start(|_| (b"\x00\x00\x00\x02\xff\x00".to_vec(), End::Hold)).await;
    let args = [
        "--framing".to_owned(),
        "u32".to_owned(),
        "--duration".to_owned(),
        "3s".to_owned(),
        format!("feed={}", frames.url()),
    ];
    let mut watch = Watch::start(&args);
    let message = watch.expect("a frame", |l| l["type"] == "message").await;
    assert_eq!(message["kind"], "binary");
    assert_eq!(message["data"], "/wA=");
    assert_eq!(watch.wait_exit().await, 0);
}

#[test]
fn bad_arguments_exit_2_with_a_message_before_connecting() {
    for (args, expected) in [
        (
            vec!["--max-missed", "abc", "x=ws://127.0.0.1:1/"],
            "--max-missed",
        ),
        (vec!["x=ftp://127.0.0.1:1/"], "url must start with"),
        (
            vec!["--duration", "soon", "x=ws://127.0.0.1:1/"],
            "--duration",
        ),
        (
            vec!["--bogus", "1", "x=ws://127.0.0.1:1/"],
            "unknown option",
        ),
        (vec![], "no endpoints"),
        (vec!["--config", "/nonexistent/watch.json"], "--config"),
        (
            vec!["--framing", "bytes", "x=tcp://127.0.0.1:1"],
            "--framing",
        ),
        (vec!["x=tcp://127.0.0.1"], "needs a port"),
    ] {
        let output = Command::new(watch_binary())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: printed before exiting");
    }
}

/// A slow stdout behind a flooding server: the inbound queue pauses reading
/// (the server cannot run ahead) and SIGTERM ends the process within the
/// close timeout (5 s) plus 1 s, without printing the backlog.
#[actix::test]
async fn sigterm_exits_promptly_whatever_the_backlog_behind_a_slow_stdout() {
    let server = common::flood_server::FloodServer::start(50_000_000, 64).await;
    let mut watch = Watch::start_slow(&[format!("flood={}", server.url())]);
    let deadline = Instant::now() + WAIT;
    let mut messages = 0;
    while messages < 100 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = next(&mut watch.lines, left).await;
        messages += usize::from(line["type"] == "message");
    }
    // Let a backlog build behind the slow reader.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent_before = server.sent();
    let status = Command::new("kill")
        .args(["-TERM", &watch.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let exit = loop {
        if let Some(status) = watch.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "watch still running 30 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    assert_eq!(exit.code(), Some(0));
    assert!(took <= Duration::from_secs(6), "exit took {took:?}");
    // Paused, the server got no further than the queue and the socket
    // buffers while the reader took a few thousand lines.
    assert!(
        sent_before < 1_000_000,
        "the server sent {sent_before}: no backpressure"
    );
    let stop = watch.expect("the stop line", |l| l["type"] == "stop").await;
    assert!(stop["unprinted"].is_u64(), "{stop}");
}
