//! Third-party WebSocket echo servers run as child processes: Python's
//! `websockets` (`tests/interop/ws_echo.py`) and node's `ws`
//! (`tests/interop/ws_echo.js`), pinned in `tests/interop/` and installed by
//! `.ci/run`. Each binds 127.0.0.1, prints its port on the first line of
//! stdout, echoes every message, answers `__extensions__` with what its
//! handshake agreed, and exits when its stdin closes.
//!
//! A server that is not installed is [`Start::Unavailable`]; tests then call
//! [`skip`], which prints `SKIPPED: ...` (or fails, when `.ci/run` installed
//! that server and listed it in `TETHER_INTEROP_REQUIRE`).

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use super::WAIT;

/// Which third-party server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Python `websockets`, from the virtual environment `.ci/run` makes.
    Websockets,
    /// node `ws`, from `tests/interop/node_modules`.
    Ws,
}

impl ServerKind {
    /// The package name, as listed in `TETHER_INTEROP_REQUIRE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Websockets => "websockets",
            Self::Ws => "ws",
        }
    }

    fn interpreter(self) -> PathBuf {
        match self {
            Self::Websockets => std::env::var_os("TETHER_INTEROP_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_path("target/interop/venv/bin/python")),
            Self::Ws => PathBuf::from("node"),
        }
    }

    fn script(self) -> PathBuf {
        repo_path(match self {
            Self::Websockets => "tests/interop/ws_echo.py",
            Self::Ws => "tests/interop/ws_echo.js",
        })
    }
}

/// What the server offers in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCompression {
    /// No permessage-deflate.
    None,
    /// permessage-deflate with the library's default settings.
    Deflate,
    /// permessage-deflate with `server_no_context_takeover` and
    /// `client_no_context_takeover`.
    DeflateNoContextTakeover,
}

impl ServerCompression {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::None => &["--compression", "none"],
            Self::Deflate => &["--compression", "deflate"],
            Self::DeflateNoContextTakeover => {
                &["--compression", "deflate", "--no-context-takeover"]
            }
        }
    }
}

/// A running echo server; killed (and reaped) on drop.
#[derive(Debug)]
pub struct ThirdPartyServer {
    pub kind: ServerKind,
    pub port: u16,
    child: Child,
}

/// The outcome of starting a server.
#[derive(Debug)]
pub enum Start {
    Started(ThirdPartyServer),
    /// Not installed here (interpreter or package missing): skip.
    Unavailable(String),
    /// The requested port was taken.
    BindFailed(String),
}

impl ThirdPartyServer {
    /// Starts `kind` on `port` (0: any free port) and waits, bounded by
    /// `WAIT`, for the line that says which port it bound.
    pub async fn start(kind: ServerKind, compression: ServerCompression, port: u16) -> Start {
        let interpreter = kind.interpreter();
        let spawned = Command::new(&interpreter)
            .arg(kind.script())
            .args(compression.args())
            .args(["--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Start::Unavailable(format!(
                    "{} not found ({e}); .ci/run installs the interop servers",
                    interpreter.display()
                ))
            }
            Err(e) => panic!("spawning {}: {e}", interpreter.display()),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(read);
        });
        let mut server = Self {
            kind,
            port: 0,
            child,
        };
        let line = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(Ok(line))) => line,
            Ok(Ok(Err(e))) => panic!("reading the {} server's stdout: {e}", kind.name()),
            Ok(Err(_)) => panic!("the {} server's stdout reader died", kind.name()),
            Err(_) => panic!("the {} server printed no port within {WAIT:?}", kind.name()),
        };
        let line = line.trim();
        if let Some(why) = line.strip_prefix("unavailable: ") {
            return Start::Unavailable(format!("{why}; .ci/run installs the interop servers"));
        }
        if let Some(why) = line.strip_prefix("bind failed: ") {
            return Start::BindFailed(why.to_owned());
        }
        match line.parse() {
            Ok(port) => {
                server.port = port;
                Start::Started(server)
            }
            Err(_) => {
                let status = server.child.wait();
                panic!(
                    "the {} server's first line is not a port: {line:?} (exit: {status:?})",
                    kind.name()
                )
            }
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/echo", self.port)
    }
}

impl Drop for ThirdPartyServer {
    fn drop(&mut self) {
        // SIGKILL: every connection drops without a close frame.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reports a skipped test on stderr as `SKIPPED: ...`, or panics if `.ci/run`
/// installed this server (listed it in `TETHER_INTEROP_REQUIRE`), where a
/// skip would hide a broken set-up.
pub fn skip(test: &str, kind: ServerKind, why: &str) {
    let required = std::env::var("TETHER_INTEROP_REQUIRE").unwrap_or_default();
    if required.split_whitespace().any(|name| name == kind.name()) {
        panic!(
            "{test}: {} is required (TETHER_INTEROP_REQUIRE) but {why}",
            kind.name()
        );
    }
    // Straight to the stderr handle: libtest captures `eprintln!` of a
    // passing test, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: {} server unavailable: {why}",
        kind.name()
    );
}

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}
