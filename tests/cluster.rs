//! Endpoint ownership across instances, against a real etcd (Debian's
//! `etcd-server`, installed by `.ci/run`): `examples/cluster_node`
//! processes share 300 endpoints of a WebSocket server that counts live
//! connections per endpoint and which instance holds each.

use std::{
    collections::{BTreeMap, HashMap},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

const ENDPOINTS: usize = 300;
const TTL_SECS: u64 = 3;

/// Live connections per endpoint id, by the instance holding each, and
/// the most connections one id ever had at once.
#[derive(Default)]
struct Live {
    held: Mutex<HashMap<String, Vec<String>>>,
    most_at_once: Mutex<usize>,
}

impl Live {
    fn enter(&self, id: &str, member: &str) {
        let mut held = self.held.lock().unwrap();
        let holders = held.entry(id.to_owned()).or_default();
        holders.push(member.to_owned());
        let mut most = self.most_at_once.lock().unwrap();
        *most = (*most).max(holders.len());
    }

    /// Connections open now.
    fn open(&self) -> usize {
        self.held.lock().unwrap().values().map(Vec::len).sum()
    }

    fn leave(&self, id: &str, member: &str) {
        let mut held = self.held.lock().unwrap();
        if let Some(holders) = held.get_mut(id) {
            if let Some(at) = holders.iter().position(|m| m == member) {
                holders.remove(at);
            }
        }
    }

    /// Each endpoint's single holder, when every one is held exactly once.
    fn owners(&self) -> Option<BTreeMap<String, String>> {
        self.owners_of(ENDPOINTS)
    }

    /// As `owners`, for `n` endpoints.
    fn owners_of(&self, n: usize) -> Option<BTreeMap<String, String>> {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real etcd on loopback with a data dir of its own; killed on drop.
struct Etcd {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Etcd {
    fn start() -> Self {
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

    async fn until_ready(&self) {
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
    fn signal(&self, signal: &str) {
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

/// A `cluster_node` process; killed on drop.
struct Node {
    child: Child,
    name: String,
}

impl Node {
    fn start(etcd: &str, member: &str, publish: Option<&str>) -> Self {
        Self::with_endpoints(etcd, member, publish, ENDPOINTS)
    }

    fn with_endpoints(etcd: &str, member: &str, publish: Option<&str>, n: usize) -> Self {
        // tests/../examples: cargo builds the example beside the tests.
        let exe = std::env::current_exe().unwrap();
        let examples = exe.parent().unwrap().parent().unwrap().join("examples");
        let mut command = Command::new(examples.join("cluster_node"));
        command.args([etcd, "/tether-test", member, &TTL_SECS.to_string()]);
        if let Some(base) = publish {
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
    fn interrupt(mut self) {
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

/// Waits (bounded) until every endpoint is held exactly once; answers the
/// holders and how long it took.
async fn until_held_once(
    live: &Live,
    within: Duration,
    what: &str,
) -> (BTreeMap<String, String>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(owners) = live.owners() {
            return (owners, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "{what}: endpoints not held exactly once within {within:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count_by_member(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for member in owners.values() {
        *counts.entry(member.clone()).or_insert(0) += 1;
    }
    counts
}

/// A counting WebSocket server on loopback; answers its base URL.
fn counting_server(live: &Arc<Live>) -> String {
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

#[actix_rt::test]
async fn an_etcd_outage_shorter_than_the_ttl_drops_nothing_and_a_longer_one_closes_first() {
    const N: usize = 40;
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    let _a = Node::with_endpoints(&etcd.url, "a", Some(&base), N);
    let _b = Node::with_endpoints(&etcd.url, "b", None, N);
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.owners_of(N).is_none() {
        assert!(Instant::now() < deadline, "never held once");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    // Frozen for 1 s (the safety deadline is at least TTL - margin - TTL/3
    // = 1.4 s after the last renewal): every endpoint stays held.
    etcd.signal("STOP");
    let thawed = Instant::now() + Duration::from_secs(1);
    while Instant::now() < thawed {
        assert!(
            live.owners_of(N).is_some(),
            "an endpoint dropped during a short outage"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    etcd.signal("CONT");
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        assert!(
            live.owners_of(N).is_some(),
            "an endpoint dropped after a short outage"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }

    // Frozen past the TTL: the instances close everything before their
    // leases could have expired (they cannot renew), then, etcd back,
    // rejoin and hold every endpoint once again.
    etcd.signal("STOP");
    let stopped = Instant::now();
    while live.open() > 0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(TTL_SECS),
            "connections still open when the leases could expire"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("closed {:?} into the outage", stopped.elapsed());
    actix_rt::time::sleep(Duration::from_secs(TTL_SECS + 1).saturating_sub(stopped.elapsed()))
        .await;
    etcd.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(TTL_SECS + 30);
    while live.owners_of(N).is_none() {
        assert!(
            Instant::now() < deadline,
            "never held once after etcd returned"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*live.most_at_once.lock().unwrap(), 1);
}

#[actix_rt::test]
async fn instances_share_endpoints_exactly_once_and_take_over_from_a_dead_or_leaving_one() {
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);

    // Three instances: every endpoint held once, spread over all three.
    let a = Node::start(&etcd.url, "a", Some(&base));
    let b = Node::start(&etcd.url, "b", None);
    let c = Node::start(&etcd.url, "c", None);
    let (owners, _) = until_held_once(&live, Duration::from_secs(60), "3 instances").await;
    let spread = count_by_member(&owners);
    assert_eq!(spread.len(), 3, "{spread:?}");
    assert!(spread.values().all(|n| *n > ENDPOINTS / 6), "{spread:?}");

    eprintln!("3 instances: {spread:?}");
    // kill -9 one: its endpoints are held again by the survivors within
    // the TTL and a few looks and connects.
    let took_over = Instant::now();
    drop(b);
    let (owners, took) =
        until_held_once(&live, Duration::from_secs(TTL_SECS + 20), "after kill -9").await;
    // Held once immediately after the kill only if nothing dropped yet:
    // wait until b holds nothing.
    let owners = if owners.values().any(|m| m == "b") {
        let deadline = Instant::now() + Duration::from_secs(TTL_SECS + 20);
        loop {
            if let Some(owners) = live.owners().filter(|o| o.values().all(|m| m != "b")) {
                break owners;
            }
            assert!(
                Instant::now() < deadline,
                "b's endpoints were not taken over"
            );
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        owners
    };
    eprintln!(
        "taken over from a killed instance in {:?}",
        took_over.elapsed()
    );
    assert_eq!(count_by_member(&owners).len(), 2, "{took:?}");

    // A new instance takes about a third of them (2 -> 3 members), and
    // only endpoints that move to it move.
    let before = owners;
    let d = Node::start(&etcd.url, "d", None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        if let Some(owners) = live.owners().filter(|o| o.values().any(|m| m == "d")) {
            let settled = owners.values().filter(|m| *m == "d").count();
            actix_rt::time::sleep(Duration::from_millis(1500)).await;
            if let Some(again) = live.owners() {
                if again.values().filter(|m| *m == "d").count() == settled {
                    break again;
                }
            }
        }
        assert!(Instant::now() < deadline, "d never took its share");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    let moved: Vec<&String> = after
        .keys()
        .filter(|id| after[*id] != before[*id])
        .collect();
    assert!(moved.iter().all(|id| after[*id] == "d"), "only moves to d");
    eprintln!(
        "scale-out 2 -> 3 moved {} of {ENDPOINTS} (ideal {})",
        moved.len(),
        ENDPOINTS / 3
    );
    assert!(
        (ENDPOINTS / 5..ENDPOINTS / 2).contains(&moved.len()),
        "moved {}",
        moved.len()
    );

    // A graceful stop hands its endpoints over at once (no TTL wait).
    let started = Instant::now();
    c.interrupt();
    let deadline = Instant::now() + Duration::from_secs(TTL_SECS);
    let last = loop {
        if let Some(owners) = live.owners().filter(|o| o.values().all(|m| m != "c")) {
            break owners;
        }
        assert!(
            Instant::now() < deadline,
            "c's endpoints were not taken over before its lease could expire"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("graceful move took {:?}", started.elapsed());
    assert_eq!(count_by_member(&last).len(), 2);
    // No endpoint was ever held twice at once.
    assert_eq!(*live.most_at_once.lock().unwrap(), 1);
    drop((a, d));
}
