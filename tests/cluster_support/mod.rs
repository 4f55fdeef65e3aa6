//! What the cluster tests and `examples/bench_cluster` share: a real etcd
//! on loopback, `examples/cluster_node` processes, and a WebSocket server
//! that counts live connections per endpoint id and which instance holds
//! each (from the `X-Member` header the nodes send).

#![allow(dead_code, unreachable_pub)]

use std::{
    collections::{BTreeMap, HashMap},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// Live connections per endpoint id, by the instance holding each; when
/// each id last connected; the most connections one id ever had at once,
/// and the time ids spent held twice or more (duplicate connection-time).
#[derive(Default)]
pub struct Live {
    held: Mutex<HashMap<String, Vec<String>>>,
    connected_at: Mutex<HashMap<String, Instant>>,
    doubled_since: Mutex<HashMap<String, Instant>>,
    doubled: Mutex<Duration>,
    pub most_at_once: Mutex<usize>,
}

impl Live {
    fn enter(&self, id: &str, member: &str) {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap();
        let holders = held.entry(id.to_owned()).or_default();
        holders.push(member.to_owned());
        if holders.len() == 2 {
            self.doubled_since
                .lock()
                .unwrap()
                .insert(id.to_owned(), now);
        }
        self.connected_at.lock().unwrap().insert(id.to_owned(), now);
        let mut most = self.most_at_once.lock().unwrap();
        *most = (*most).max(holders.len());
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.held.lock().unwrap().values().map(Vec::len).sum()
    }

    fn leave(&self, id: &str, member: &str) {
        let mut held = self.held.lock().unwrap();
        if let Some(holders) = held.get_mut(id) {
            if let Some(at) = holders.iter().position(|m| m == member) {
                holders.remove(at);
            }
            if holders.len() == 1 {
                if let Some(since) = self.doubled_since.lock().unwrap().remove(id) {
                    *self.doubled.lock().unwrap() += since.elapsed();
                }
            }
        }
    }

    /// When `id` last connected.
    pub fn connected_at(&self, id: &str) -> Option<Instant> {
        self.connected_at.lock().unwrap().get(id).copied()
    }

    /// Time ids spent held by two or more instances, so far.
    pub fn doubled(&self) -> Duration {
        let open: Duration = self
            .doubled_since
            .lock()
            .unwrap()
            .values()
            .map(Instant::elapsed)
            .sum();
        *self.doubled.lock().unwrap() + open
    }

    /// Each of `n` endpoints' single holder, when every one is held
    /// exactly once.
    pub fn owners_of(&self, n: usize) -> Option<BTreeMap<String, String>> {
        let held = self.held.lock().unwrap();
        let owners: BTreeMap<String, String> = held
            .iter()
            .filter(|(_, holders)| holders.len() == 1)
            .map(|(id, holders)| (id.clone(), holders[0].clone()))
            .collect();
        let all_once = owners.len() == n && held.values().all(|h| h.len() <= 1);
        all_once.then_some(owners)
    }
}

async fn counted(
    req: HttpRequest,
    body: web::Payload,
    id: web::Path<String>,
    live: web::Data<Arc<Live>>,
) -> actix_web::Result<HttpResponse> {
    let member = req
        .headers()
        .get("x-member")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let (response, mut session, mut stream) = actix_ws::handle(&req, body)?;
    let id = id.into_inner();
    let live = Arc::clone(live.get_ref());
    live.enter(&id, &member);
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            match msg {
                actix_ws::Message::Ping(bytes) if session.pong(&bytes).await.is_err() => break,
                actix_ws::Message::Close(reason) => {
                    live.leave(&id, &member);
                    let _ = session.close(reason).await;
                    return;
                }
                _ => {}
            }
        }
        live.leave(&id, &member);
    });
    Ok(response)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real etcd on loopback with a data dir of its own; killed on drop.
pub struct Etcd {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl Etcd {
    pub fn start() -> Self {
        let (client, peer) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("tether-etcd-{}-{client}", std::process::id()));
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "test", "--data-dir"])
            .arg(&dir)
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("test={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "etcd could not be started ({e}): install Debian's etcd-server \
                     (apt-get install etcd-server); .ci/run does"
                )
            });
        Self { child, dir, url }
    }

    pub async fn until_ready(&self) {
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = client
                .post(format!("{}/v3/kv/range", self.url))
                .send_body(r#"{"key":"AA=="}"#)
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "etcd never answered");
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Etcd {
    /// Sends `signal` (`STOP`, `CONT`) to the etcd process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Panics when `program` is older than a source it is built from: the
/// tests would otherwise pass or fail on code that is no longer there
/// (`cargo test --test cluster` does not build examples).
fn assert_fresh(program: &Path) {
    fn newest(path: &Path) -> SystemTime {
        let Ok(meta) = std::fs::metadata(path) else {
            return SystemTime::UNIX_EPOCH;
        };
        let own = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if !meta.is_dir() {
            return own;
        }
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| newest(&entry.path()))
            .fold(own, SystemTime::max)
    }
    let Ok(built) = std::fs::metadata(program).and_then(|meta| meta.modified()) else {
        return; // Not built: spawning it says so.
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&root.join("src")).max(newest(&root.join("examples/cluster_node.rs")));
    assert!(
        built >= sources,
        "{} is older than its sources: cargo build --features cluster --example cluster_node",
        program.display()
    );
}

/// A `cluster_node` process; killed on drop.
pub struct Node {
    child: Child,
    name: String,
}

impl Node {
    /// Starts `examples/cluster_node` as `member` of the cluster under
    /// `prefix` with lease `ttl`; with `publish`, it first publishes that
    /// many endpoints at that base URL.
    pub fn start(
        etcd: &str,
        prefix: &str,
        member: &str,
        ttl: Duration,
        publish: Option<(&str, usize)>,
    ) -> Self {
        // Beside this program when it is an example; from a test binary
        // (target/PROFILE/deps), in target/PROFILE/examples.
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap();
        let examples = if dir.ends_with("examples") {
            dir.to_path_buf()
        } else {
            dir.parent().unwrap().join("examples")
        };
        let program = examples.join("cluster_node");
        assert_fresh(&program);
        let mut command = Command::new(&program);
        command.args([etcd, prefix, member, &ttl.as_secs().to_string()]);
        if let Some((base, n)) = publish {
            command.args(["--publish", base, &n.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("build it first: cargo build --features cluster --example cluster_node");
        Self {
            child,
            name: member.to_owned(),
        }
    }

    /// Ctrl-C: the node leaves gracefully; waits (bounded) until it exits.
    pub fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{} never left", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A counting WebSocket server on loopback; answers its base URL.
pub fn counting_server(live: &Arc<Live>) -> String {
    let data = web::Data::new(Arc::clone(live));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/ws/{id}", web::get().to(counted))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let base = format!("ws://127.0.0.1:{}/ws", server.addrs()[0].port());
    actix_rt::spawn(server.run());
    base
}
