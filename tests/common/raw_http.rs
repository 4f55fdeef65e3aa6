//! An in-process raw HTTP/1 server on 127.0.0.1:0, plain or TLS, that
//! records each request (method, target, headers, body) and answers with
//! exactly the bytes a script gives, one write (and flush) per piece, so a
//! test controls the framing and where the writes break. A request it
//! cannot read is reported through the same channel, so the test fails
//! with the problem instead of waiting for a request that never comes.

use std::{
    rc::Rc,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use actix_rt::net::{TcpListener, TcpStream};
use actix_service::{Service, ServiceFactory};
use actix_tls::accept::rustls_0_23::{Acceptor, AcceptorService};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
};

use super::{next, WAIT};

/// Largest request head the server reads.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// One request the server read.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    /// Which connection (0, 1, ...).
    pub connection: usize,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does after its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Closes the connection (TLS: with close_notify).
    Close,
    /// Drops the connection (TLS: without close_notify).
    Drop,
    /// Keeps it open until the client closes it.
    Hold,
}

/// The answer to one request: these writes, in order, then `after`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub writes: Vec<Vec<u8>>,
    pub after: After,
}

impl Reply {
    pub fn new(writes: Vec<Vec<u8>>, after: After) -> Self {
        Self { writes, after }
    }

    /// Nothing at all, and the connection held open.
    pub fn silence() -> Self {
        Self::new(Vec::new(), After::Hold)
    }
}

/// Answers each request; called with the request (and its connection
/// number).
pub type Script = Arc<dyn Fn(&RawRequest) -> Reply + Send + Sync>;

/// A request the server read, or why it could not read one.
pub type Seen = Result<RawRequest, String>;

pub struct RawHttpServer {
    pub port: u16,
    tls: bool,
    pub requests: UnboundedReceiver<Seen>,
    task: actix_rt::task::JoinHandle<()>,
}

impl RawHttpServer {
    /// A plain `http://` server.
    pub async fn start(script: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(None, Arc::new(script)).await
    }

    /// An `https://` server with this TLS config.
    pub async fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        script: impl Fn(&RawRequest) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(Some(tls), Arc::new(script)).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>, script: Script) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind raw http server");
        let port = listener.local_addr().unwrap().port();
        let (seen, requests) = unbounded_channel();
        let secure = tls.is_some();
        let acceptor = match tls {
            Some(config) => Some(tls_acceptor(&config).await),
            None => None,
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let task = actix_rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let connection = connections.fetch_add(1, Ordering::SeqCst);
                let (script, seen, acceptor) = (script.clone(), seen.clone(), acceptor.clone());
                actix_rt::spawn(async move {
                    match acceptor {
                        None => serve(stream, connection, &script, &seen).await,
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.call(stream).await {
                                serve(tls, connection, &script, &seen).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            tls: secure,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The next request; a panic after `WAIT`, or when the server could
    /// not read it.
    pub async fn next_request(&mut self) -> RawRequest {
        next(&mut self.requests, WAIT)
            .await
            .unwrap_or_else(|problem| panic!("the raw server could not read a request: {problem}"))
    }
}

/// A TLS acceptor for `config`, shared by a server's connections.
pub async fn tls_acceptor(config: &rustls::ServerConfig) -> Rc<AcceptorService> {
    Rc::new(
        ServiceFactory::<TcpStream>::new_service(&Acceptor::new(config.clone()), ())
            .await
            .expect("tls acceptor"),
    )
}

impl Drop for RawHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request, answers it as the script says.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    connection: usize,
    script: &Script,
    seen: &UnboundedSender<Seen>,
) {
    let request = match read_request(&mut stream, connection).await {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(problem) => {
            let _ = seen.send(Err(problem));
            return;
        }
    };
    let reply = script(&request);
    let _ = seen.send(Ok(request));
    for piece in &reply.writes {
        if stream.write_all(piece).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    match reply.after {
        After::Close => {
            let _ = stream.shutdown().await;
        }
        After::Drop => {}
        After::Hold => {
            // Until the client closes: every read takes bytes or ends.
            let mut sink = [0u8; 1024];
            while let Ok(1..) = stream.read(&mut sink).await {}
        }
    }
}

/// The request head and a `Content-Length` body; `None` if the client
/// went away first.
///
/// # Errors
/// What makes the bytes no request this server reads.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    connection: usize,
) -> Result<Option<RawRequest>, String> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Err(format!("request head over {MAX_REQUEST_HEAD} bytes"));
        }
        match stream.read(&mut piece).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&piece[..n]),
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec())
        .map_err(|_| "request head is not utf-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let start_line = lines.next().unwrap_or_default();
    let mut start = start_line.splitn(3, ' ');
    let (Some(method), Some(target), Some(_version)) = (start.next(), start.next(), start.next())
    else {
        return Err(format!("invalid request line {start_line:?}"));
    };
    let headers = lines
        .map(|line| match line.split_once(':') {
            Some((name, value)) => Ok((name.to_owned(), value.trim().to_owned())),
            None => Err(format!("invalid header line {line:?}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut request = RawRequest {
        connection,
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    let length: usize = match request.header("content-length") {
        None => 0,
        Some(value) => value
            .parse()
            .map_err(|_| format!("invalid content-length {value:?}"))?,
    };
    while request.body.len() < length {
        match stream.read(&mut piece).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => request.body.extend_from_slice(&piece[..n]),
        }
    }
    Ok(Some(request))
}

/// A response head with these header lines (each without its CRLF).
pub fn head(status_line: &str, fields: &[&str]) -> Vec<u8> {
    let mut head = format!("{status_line}\r\n");
    for field in fields {
        head.push_str(field);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// `data` as one chunk of the chunked coding, with an extension.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut chunk = format!("{:x};ext=\"v\"\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(b"\r\n");
    chunk
}
