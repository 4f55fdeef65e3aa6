//! An in-process raw TCP server speaking a line protocol on 127.0.0.1:0:
//! it greets each connection with `hello ID`, answers `PING` with `PONG`
//! and echoes every other line. Silent mode accepts and then never reads
//! or writes (a half-open peer); stopping drops every connection.

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex,
};

use actix_rt::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
};

use super::{next, WAIT};

/// What the line server saw.
#[derive(Debug, Clone, PartialEq)]
pub enum LineEvent {
    Connected { id: usize },
    Line { id: usize, text: String },
}

pub struct LineServer {
    pub port: u16,
    silent: Arc<AtomicBool>,
    next_id: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    sent: UnboundedSender<LineEvent>,
    pub events: UnboundedReceiver<LineEvent>,
}

impl LineServer {
    pub async fn start() -> Self {
        let (sent, events) = unbounded_channel();
        let mut server = Self {
            port: 0,
            silent: Arc::default(),
            next_id: Arc::default(),
            tasks: Arc::default(),
            sent,
            events,
        };
        server.bind().await;
        server
    }

    async fn bind(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind line server");
        self.port = listener.local_addr().unwrap().port();
        let (silent, next_id, tasks, sent) = (
            self.silent.clone(),
            self.next_id.clone(),
            self.tasks.clone(),
            self.sent.clone(),
        );
        let accept = actix_rt::spawn({
            let tasks = tasks.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let _ = sent.send(LineEvent::Connected { id });
                    let silent = silent.load(Ordering::SeqCst);
                    let session = actix_rt::spawn(serve(id, stream, silent, sent.clone()));
                    tasks.lock().unwrap().push(session);
                }
            }
        });
        tasks.lock().unwrap().push(accept);
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// New connections get no answers at all.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Stops listening and drops every connection.
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.bind().await;
    }

    /// Skips events until one matches.
    pub async fn wait_for(&mut self, pred: impl Fn(&LineEvent) -> bool) -> LineEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = next(&mut self.events, left).await;
            if pred(&event) {
                return event;
            }
        }
    }
}

async fn serve(id: usize, stream: TcpStream, silent: bool, sent: UnboundedSender<LineEvent>) {
    if silent {
        let _hold = stream;
        std::future::pending::<()>().await;
        return;
    }
    let (read, mut write) = stream.into_split();
    if write
        .write_all(format!("hello {id}\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = sent.send(LineEvent::Line {
            id,
            text: line.clone(),
        });
        let answer = if line == "PING" {
            "PONG".to_owned()
        } else {
            line
        };
        if write
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
