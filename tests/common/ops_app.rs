//! The operations scope on an in-process actix-web server (127.0.0.1:0),
//! an HTTP client for it, and helpers for the tests that drive real
//! third-party programs (Prometheus, Chromium) against it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use actix::Addr;
use actix_tether::{
    ops::Snapshot,
    web::{Operations, WebConfig},
    SupervisorActor,
};
use actix_web::{dev::ServerHandle, App, HttpServer};

/// The scope's path in these tests.
pub const SCOPE: &str = "/tether";

pub struct OpsApp {
    pub port: u16,
    handle: ServerHandle,
}

impl OpsApp {
    pub fn start(supervisor: Addr<SupervisorActor>, config: WebConfig) -> Self {
        Self::start_on(0, supervisor, config)
    }

    /// As [`start`](Self::start), on `port` (0: any free one).
    pub fn start_on(port: u16, supervisor: Addr<SupervisorActor>, config: WebConfig) -> Self {
        let ops = Operations::new(supervisor, config);
        let http = HttpServer::new(move || App::new().service(ops.scope(SCOPE)))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .bind(("127.0.0.1", port))
            .expect("bind the operations server");
        let port = http.addrs()[0].port();
        let server = http.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self { port, handle }
    }

    /// Stops the server, dropping every connection (an `/events` stream
    /// ends without a goodbye).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// `http://127.0.0.1:PORT/tether` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{SCOPE}{path}", self.port)
    }

    /// GETs `path` with optional extra headers; the status and body.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        http_get(&self.url(path), headers).await
    }
}

impl Drop for OpsApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

/// GETs `url` within 10 seconds; the status and body.
pub async fn http_get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response
        .body()
        .limit(16 << 20)
        .await
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Polls `check` on fresh snapshots until it holds, or panics after `within`.
pub async fn wait_for_snapshot(
    supervisor: &Addr<SupervisorActor>,
    within: Duration,
    what: &str,
    check: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let deadline = Instant::now() + within;
    loop {
        let snapshot = Snapshot::take(supervisor).await;
        if check(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last snapshot: {snapshot:#?}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The path of `program`, or a panic that says it is not installed (no
/// silent skip: CI installs it).
pub fn require(program: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed: this test needs the Debian package `{package}` \
             (`apt-get install -y {package}`; .ci/run installs it)"
        )
    })
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// A port free when asked (bound, then released).
pub fn free_port() -> u16 {
    super::closed_port()
}

/// A child process killed (by its PID) and reaped on drop, with its temp
/// dir removed.
pub struct KillOnDrop {
    pub child: Child,
    pub dir: PathBuf,
}

impl KillOnDrop {
    /// Starts `command` with its output in `dir`/process.log; `dir` is
    /// removed with the process, or at once if it cannot start.
    pub fn spawn(command: &mut Command, dir: &Path) -> Self {
        let log = std::fs::File::create(dir.join("process.log")).expect("create a log file");
        let child = command
            .stdout(log.try_clone().expect("clone the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_dir_all(dir);
                panic!("start {command:?}: {e}")
            });
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    /// The process's output so far, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("process.log")).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_owned()
    }

    /// Panics (with the process's log) if it has exited.
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{what} exited early ({status}); its output:\n{}",
                self.log()
            );
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The program's helpers (Chromium's GPU, network and crashpad
        // processes) exit just after it and may still write to the
        // directory meanwhile: retry the removal for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
            if Instant::now() > deadline {
                eprintln!("could not remove {}", self.dir.display());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
