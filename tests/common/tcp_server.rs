//! An in-process raw TCP server on 127.0.0.1:0, plain or TLS: it writes
//! what a script gives each connection, then holds it (reporting every
//! byte it reads), closes it with a FIN (under TLS with or without
//! `close_notify`), or resets it.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use actix_rt::net::TcpListener;
use actix_service::Service;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
};

use super::{next, raw_http::tls_acceptor, WAIT};

/// What the server does after its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Keeps the connection open, reporting what it reads.
    Hold,
    /// Closes it: a FIN.
    Fin,
    /// Resets it (plain TCP only): an RST.
    Reset,
    /// Ends the TCP stream under TLS (a FIN) without TLS's `close_notify`
    /// alert (TLS only).
    FinWithoutCloseNotify,
}

/// What a connection saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected(usize),
    Read(usize, Vec<u8>),
}

pub struct ByteServer {
    pub port: u16,
    tls: bool,
    pub seen: UnboundedReceiver<Seen>,
    task: actix_rt::task::JoinHandle<()>,
}

impl ByteServer {
    /// A plain server; `script` gives connection N its writes and its end.
    pub async fn start(script: impl Fn(usize) -> (Vec<u8>, End) + Send + Sync + 'static) -> Self {
        Self::start_with(None, Arc::new(script)).await
    }

    /// A TLS server with this config.
    pub async fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        script: impl Fn(usize) -> (Vec<u8>, End) + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(Some(tls), Arc::new(script)).await
    }

    async fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        script: Arc<dyn Fn(usize) -> (Vec<u8>, End) + Send + Sync>,
    ) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let (sent, seen) = unbounded_channel();
        let secure = tls.is_some();
        let acceptor = match tls {
            Some(config) => Some(tls_acceptor(&config).await),
            None => None,
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let task = actix_rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = connections.fetch_add(1, Ordering::SeqCst);
                let _ = sent.send(Seen::Connected(id));
                let (writes, end) = script(id);
                let (sent, acceptor) = (sent.clone(), acceptor.clone());
                actix_rt::spawn(async move {
                    match acceptor {
                        None if end == End::Reset => {
                            let mut stream = stream;
                            let _ = stream.write_all(&writes).await;
                            // A zero linger makes the drop a reset, without blocking.
                            #[allow(deprecated)]
                            let _ = stream.set_linger(Some(std::time::Duration::ZERO));
                        }
                        None => serve(stream, id, &writes, end, &sent).await,
                        Some(acceptor) if end == End::FinWithoutCloseNotify => {
                            if let Ok(mut tls) = acceptor.call(stream).await {
                                if tls.write_all(&writes).await.is_ok() && tls.flush().await.is_ok()
                                {
                                    let tcp = tls.get_mut().0;
                                    let _ = tcp.shutdown().await;
                                    // Until the client closes: no reset.
                                    let mut buf = [0u8; 4096];
                                    while let Ok(1..) = tcp.read(&mut buf).await {}
                                }
                            }
                        }
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.call(stream).await {
                                serve(tls, id, &writes, end, &sent).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            tls: secure,
            seen,
            task,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "tcps" } else { "tcp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Bytes connection `id` read, until they end with `suffix`.
    pub async fn read_until(&mut self, id: usize, suffix: &[u8]) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut got = Vec::new();
        while !got.ends_with(suffix) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Seen::Read(from, bytes) = next(&mut self.seen, left).await {
                if from == id {
                    got.extend(bytes);
                }
            }
        }
        got
    }
}

impl Drop for ByteServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    id: usize,
    writes: &[u8],
    end: End,
    sent: &UnboundedSender<Seen>,
) {
    if stream.write_all(writes).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    if end != End::Hold {
        let _ = stream.shutdown().await;
        return;
    }
    // Until the client closes: every read takes bytes or ends.
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        let _ = sent.send(Seen::Read(id, buf[..n].to_vec()));
    }
}

/// A server for one connection that reads nothing until told to, then
/// reads to the end of the stream and reports how many bytes came: a peer
/// slow enough that a large message waits in the client's buffers.
pub struct DrainServer {
    pub port: u16,
    go: Option<tokio::sync::oneshot::Sender<()>>,
    total: tokio::sync::oneshot::Receiver<usize>,
    task: actix_rt::task::JoinHandle<()>,
}

impl DrainServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let (go, wait) = tokio::sync::oneshot::channel();
        let (report, total) = tokio::sync::oneshot::channel();
        let task = actix_rt::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let _ = wait.await;
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                total += n;
            }
            let _ = report.send(total);
        });
        Self {
            port,
            go: Some(go),
            total,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Starts reading; the bytes read by the end of the stream.
    pub async fn drain(&mut self) -> usize {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
        tokio::time::timeout(WAIT, &mut self.total)
            .await
            .expect("the stream did not end in time")
            .expect("the server stopped")
    }
}

impl Drop for DrainServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
