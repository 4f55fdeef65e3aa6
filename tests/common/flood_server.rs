//! An in-process WebSocket server on raw TCP that writes numbered text
//! frames as fast as the socket takes them (each `write_all` waits for room,
//! so TCP backpressure from the client stalls it), up to a total, then
//! idles with the connection open. It counts what it wrote; client pings
//! are answered, a close is echoed (and ends the flood), other client
//! frames are dropped.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use actix_rt::{net::TcpListener, task::JoinHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ws_wire::{client_frame, ClientFrame};

pub struct FloodServer {
    pub port: u16,
    /// Frames written so far (all connections).
    pub sent: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl FloodServer {
    /// Floods each connection with `total` frames of `size` bytes (at
    /// least 8): the sequence number `0`, `1`, ... in 8 digits, padded.
    pub async fn start(total: u64, size: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let accept = actix_rt::spawn(async move {
            // Bounded: a test makes a handful of connections.
            for _ in 0..64 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                actix_rt::spawn(serve(stream, total, size.max(8), counter.clone()));
            }
        });
        Self { port, sent, accept }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/flood", self.port)
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for FloodServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(
    mut stream: actix_rt::net::TcpStream,
    total: u64,
    size: usize,
    sent: Arc<AtomicU64>,
) {
    if !super::ws_wire::accept(&mut stream, None).await {
        return;
    }
    let (mut reader, writer) = stream.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    // Reads client frames: pings are answered (so the client's heartbeat
    // sees a live peer once the flood ends), everything else is dropped.
    let pong_writer = writer.clone();
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood_closed = closed.clone();
    let drain = actix_rt::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(ClientFrame {
                opcode,
                payload,
                used,
                ..
            }) = client_frame(&buf)
            {
                buf.drain(..used);
                // Pings get a pong; a close gets its echo, then the flood
                // stops.
                let reply = match opcode {
                    0x9 => 0x8A,
                    0x8 => 0x88,
                    _ => continue,
                };
                let mut frame = vec![reply, u8::try_from(payload.len()).unwrap_or(0)];
                frame.extend_from_slice(&payload);
                let mut writer = pong_writer.lock().await;
                let _ = writer.write_all(&frame).await;
                if opcode == 0x8 {
                    closed.store(true, Ordering::SeqCst);
                    let _ = writer.shutdown().await;
                    return;
                }
            }
        }
    });
    for seq in 0..total {
        if flood_closed.load(Ordering::SeqCst) {
            return;
        }
        let text = format!("{seq:08}{:1$}", "", size - 8);
        let mut frame = vec![0x81];
        match u8::try_from(size) {
            Ok(len) if len < 126 => frame.push(len),
            _ => {
                frame.push(126);
                frame.extend_from_slice(&u16::try_from(size).unwrap().to_be_bytes());
            }
        }
        frame.extend_from_slice(text.as_bytes());
        if writer.lock().await.write_all(&frame).await.is_err() {
            drain.abort();
            return;
        }
        sent.fetch_add(1, Ordering::SeqCst);
    }
    let _ = drain.await;
}
