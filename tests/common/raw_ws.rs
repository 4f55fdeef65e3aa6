//! A scripted WebSocket server on raw TCP (127.0.0.1:0): it answers the
//! handshake, then plays a script of exact byte writes (so a test controls
//! the frames and the TCP write boundaries) while it reads and reports what
//! the client sends: each frame (unmasked), and the end of the client's
//! stream. Every connection plays the script from the start.

use std::{sync::Arc, time::Duration};

use actix_rt::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{
        mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
        Notify,
    },
};

use super::{next, ws_wire::client_frame, WAIT};

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes in one `write_all`.
    Write(Vec<u8>),
    /// Wait this long.
    Sleep(Duration),
    /// Wait (bounded) until the client sent a frame with this opcode.
    AwaitFrame(u8),
    /// Report `Marker(n)`, then go on.
    Mark(u32),
    /// Shut down our write side (FIN), keep reading.
    Finish,
}

/// What the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEvent {
    Connected,
    /// A client frame: FIN, RSV1, opcode and unmasked payload.
    Frame {
        fin: bool,
        rsv1: bool,
        opcode: u8,
        payload: Vec<u8>,
    },
    /// The script reached `Step::Mark(n)`.
    Marker(u32),
    /// The client's stream ended (FIN or reset).
    Eof,
}

impl RawEvent {
    /// A close frame's code, if this is one with a code.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Self::Frame {
                opcode: 8, payload, ..
            } if payload.len() >= 2 => Some(u16::from_be_bytes([payload[0], payload[1]])),
            _ => None,
        }
    }
}

pub struct RawWsServer {
    pub port: u16,
    pub events: UnboundedReceiver<RawEvent>,
    accept: JoinHandle<()>,
}

impl RawWsServer {
    pub async fn start(script: Vec<Step>) -> Self {
        Self::start_agreeing(None, script).await
    }

    /// As [`start`](Self::start), answering the handshake with this
    /// `Sec-WebSocket-Extensions` header.
    pub async fn start_agreeing(extensions: Option<&'static str>, script: Vec<Step>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, events) = unbounded_channel();
        let script = Arc::new(script);
        let accept = actix_rt::spawn(async move {
            for _ in 0..32 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                actix_rt::spawn(serve(stream, extensions, script.clone(), tx.clone()));
            }
        });
        Self {
            port,
            events,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/raw", self.port)
    }

    /// The next event (bounded wait).
    pub async fn next(&mut self) -> RawEvent {
        next(&mut self.events, WAIT).await
    }

    /// Events up to and including the first that matches `pred`, within
    /// `WAIT` in all.
    pub async fn until(&mut self, pred: impl Fn(&RawEvent) -> bool) -> Vec<RawEvent> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = next(&mut self.events, left).await;
            let done = pred(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

impl Drop for RawWsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// An unmasked server frame.
pub fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0x0F)];
    match payload.len() {
        n if n < 126 => out.push(u8::try_from(n).unwrap()),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A whole text frame.
pub fn text(payload: &[u8]) -> Vec<u8> {
    frame(true, 0, 0x1, payload)
}

/// A close frame with `code` and `reason`.
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    frame(true, 0, 0x8, &payload)
}

async fn serve(
    mut stream: TcpStream,
    extensions: Option<&'static str>,
    script: Arc<Vec<Step>>,
    events: UnboundedSender<RawEvent>,
) {
    if !super::ws_wire::accept(&mut stream, extensions).await {
        return;
    }
    let _ = events.send(RawEvent::Connected);
    let (mut reader, mut writer) = stream.into_split();
    let frames = Arc::new(Notify::new());
    let seen: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let (reader_frames, reader_seen, reader_events) =
        (frames.clone(), seen.clone(), events.clone());
    let read = actix_rt::spawn(async move {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let _ = reader_events.send(RawEvent::Eof);
                    return;
                }
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
            while let Some(frame) = client_frame(&pending) {
                pending.drain(..frame.used);
                reader_seen.lock().unwrap().push(frame.opcode);
                let _ = reader_events.send(RawEvent::Frame {
                    fin: frame.fin,
                    rsv1: frame.rsv1,
                    opcode: frame.opcode,
                    payload: frame.payload,
                });
                reader_frames.notify_waiters();
            }
        }
    });
    for step in script.iter() {
        match step {
            Step::Write(bytes) => {
                if writer.write_all(bytes).await.is_err() {
                    break;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(*d).await,
            Step::AwaitFrame(opcode) => {
                let deadline = tokio::time::Instant::now() + WAIT;
                while !seen.lock().unwrap().contains(opcode) {
                    let wait = frames.notified();
                    if seen.lock().unwrap().contains(opcode) {
                        break;
                    }
                    if tokio::time::timeout_at(deadline, wait).await.is_err() {
                        break;
                    }
                }
            }
            Step::Mark(n) => {
                let _ = events.send(RawEvent::Marker(*n));
            }
            Step::Finish => {
                let _ = writer.shutdown().await;
            }
        }
    }
    // Keep the connection until the client ends it.
    let _ = read.await;
    drop(writer);
}
