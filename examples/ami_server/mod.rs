//! An in-process AMI-like server (Asterisk Manager Interface) on
//! 127.0.0.1, for the `ami` example and the TCP tests: it greets with a
//! banner line, takes `Action: Login` (the secret is checked by a rule the
//! caller gives), answers `Action: Ping` with `Ping: Pong`, and sends an
//! `Event: Tick` block every `tick` once logged in. Its live connections
//! can go half-open (they stop reading and writing but stay open; new ones
//! are served), and it can stop (every connection dropped) and restart on
//! the same port.
#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use actix_rt::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use actix_tether::{config::Framing, AuthReply, EndpointBuilder, Payload};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
};

/// The greeting line.
pub const BANNER: &str = "Asterisk Call Manager/6.0.0";

/// Longest line the server reads.
const MAX_LINE: usize = 4096;

/// The client side of AMI on `builder` (a `tcp://` endpoint): the banner
/// line then blocks, `Action: Login` as `admin` with a `secret()` made for
/// every attempt (its reply is matched by `ActionID`; a refusal fails the
/// endpoint with the reply's `Message:`), and `Action: Ping` as the
/// application heartbeat (its `Ping: Pong` replies are never delivered).
pub fn ami_client(
    builder: EndpointBuilder,
    secret: impl Fn() -> String + Send + Sync + 'static,
    login_timeout: Duration,
) -> EndpointBuilder {
    builder
        .framing(Framing::BannerThenBlocks)
        .authenticate(
            move || {
                Payload::text(format!(
                    "Action: Login\nActionID: login\nUsername: admin\nSecret: {}",
                    secret()
                ))
            },
            |reply| {
                let text = reply.as_text().unwrap_or("");
                if !text.contains("ActionID: login") {
                    AuthReply::NotMine
                } else if text.starts_with("Response: Success") {
                    AuthReply::Accepted
                } else {
                    let message = text.lines().find(|l| l.starts_with("Message:"));
                    AuthReply::Rejected(message.unwrap_or(text).to_owned())
                }
            },
            login_timeout,
        )
        .application_heartbeat(
            |n| Payload::text(format!("Action: Ping\nActionID: ping-{n}")),
            |reply| reply.as_text().is_some_and(|t| t.contains("Ping: Pong")),
        )
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiEvent {
    Connected {
        id: usize,
    },
    Login {
        id: usize,
        secret: String,
        accepted: bool,
    },
    Ping {
        id: usize,
    },
    Action {
        id: usize,
        name: String,
    },
}

/// Decides whether a login's user name and secret are accepted.
pub type Credentials = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

struct Shared {
    /// Connections with a lower id are half-open.
    frozen_below: AtomicUsize,
    next_id: AtomicUsize,
    credentials: Credentials,
    tick: Duration,
    events: UnboundedSender<AmiEvent>,
}

pub struct AmiServer {
    pub port: u16,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub events: UnboundedReceiver<AmiEvent>,
}

impl AmiServer {
    /// A server sending a tick every `tick` to logged-in sessions.
    pub async fn start(
        tick: Duration,
        credentials: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let (sent, events) = unbounded_channel();
        let mut server = Self {
            port: 0,
            shared: Arc::new(Shared {
                frozen_below: AtomicUsize::new(0),
                next_id: AtomicUsize::new(0),
                credentials: Arc::new(credentials),
                tick,
                events: sent,
            }),
            tasks: Arc::default(),
            events,
        };
        server.bind().await;
        server
    }

    async fn bind(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the ami server");
        self.port = listener.local_addr().expect("bound").port();
        let (shared, tasks) = (self.shared.clone(), self.tasks.clone());
        let accept = actix_rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                let _ = shared.events.send(AmiEvent::Connected { id });
                let session = actix_rt::spawn(serve(id, stream, shared.clone()));
                let mut tasks = tasks.lock().expect("not poisoned");
                tasks.retain(|task| !task.is_finished());
                tasks.push(session);
            }
        });
        self.tasks.lock().expect("not poisoned").push(accept);
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Every live connection stops reading and writing but stays open (a
    /// half-open peer); new connections are served as usual.
    pub fn half_open(&self) {
        let next = self.shared.next_id.load(Ordering::SeqCst);
        self.shared.frozen_below.store(next, Ordering::SeqCst);
    }

    /// Stops listening and drops every connection.
    pub fn stop(&self) {
        for task in self.tasks.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.bind().await;
    }
}

impl Drop for AmiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `Key: Value` block's value for `key`.
fn field<'a>(block: &'a [(String, String)], key: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Serves one connection until it ends, the server stops or it goes half-open.
async fn serve(id: usize, stream: TcpStream, shared: Arc<Shared>) {
    let frozen = || id < shared.frozen_below.load(Ordering::SeqCst);
    let (read, mut write) = stream.into_split();
    if write
        .write_all(format!("{BANNER}\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut lines = BufReader::new(read);
    let mut block: Vec<(String, String)> = Vec::new();
    let mut line = Vec::new();
    let mut ticks = tokio::time::interval(shared.tick);
    let (mut logged_in, mut seq) = (false, 0u64);
    loop {
        if frozen() {
            let _hold = (lines, write);
            return std::future::pending().await;
        }
        // At most one byte past MAX_LINE, so a line without an end cannot
        // grow the buffer without limit.
        let room = u64::try_from((MAX_LINE + 1).saturating_sub(line.len())).unwrap_or(0);
        let mut bounded = (&mut lines).take(room);
        let reply = tokio::select! {
            // `read_until` keeps what it read when the tick wins.
            read = bounded.read_until(b'\n', &mut line) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) if line.len() > MAX_LINE || !line.ends_with(b"\n") => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&std::mem::take(&mut line)).into_owned();
                    let text = text.trim_end();
                    if let Some((key, value)) = text.split_once(':') {
                        block.push((key.trim().to_owned(), value.trim().to_owned()));
                        continue;
                    }
                    if !text.is_empty() || block.is_empty() {
                        continue;
                    }
                    let action = std::mem::take(&mut block);
                    answer(id, &action, &shared, &mut logged_in)
                }
            },
            _ = ticks.tick(), if logged_in => {
                seq += 1;
                format!("Event: Tick\r\nPrivilege: system,all\r\nSeq: {seq}\r\n\r\n")
            }
        };
        if frozen() {
            continue;
        }
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The reply to one action block.
fn answer(id: usize, action: &[(String, String)], shared: &Shared, logged_in: &mut bool) -> String {
    let action_id = field(action, "ActionID").unwrap_or("");
    let name = field(action, "Action").unwrap_or("").to_ascii_lowercase();
    let events = &shared.events;
    match name.as_str() {
        "login" => {
            let user = field(action, "Username").unwrap_or("");
            let secret = field(action, "Secret").unwrap_or("").to_owned();
            *logged_in = (shared.credentials)(user, &secret);
            let accepted = *logged_in;
            let _ = events.send(AmiEvent::Login {
                id,
                secret,
                accepted,
            });
            if accepted {
                format!("Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n")
            } else {
                format!("Response: Error\r\nActionID: {action_id}\r\nMessage: Authentication failed\r\n\r\n")
            }
        }
        _ if !*logged_in => {
            format!(
                "Response: Error\r\nActionID: {action_id}\r\nMessage: Permission denied\r\n\r\n"
            )
        }
        "ping" => {
            let _ = events.send(AmiEvent::Ping { id });
            format!("Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\nTimestamp: 0.0\r\n\r\n")
        }
        _ => {
            let _ = events.send(AmiEvent::Action { id, name });
            format!("Response: Success\r\nActionID: {action_id}\r\nMessage: Done\r\n\r\n")
        }
    }
}
