//! Transports: how an endpoint connects, and what a live connection can
//! read, write, ping and close. WebSocket and Server-Sent Events are two
//! implementations of these traits; yours can be a third.
//!
//! A [`Transport`] lives as long as its endpoint, on the connection actor's
//! thread, and makes one [`Session`] per successful attempt. The connection
//! actor drives the session in one bounded loop: read a burst
//! ([`Session::read`]), deliver it, write control frames
//! ([`Session::poll_control`]), write due data ([`Session::poll_ready`],
//! [`Session::start_send`]), flush. Everything else (heartbeats, backoff,
//! the outbox, acknowledgements, subscribers, the close timeout) is the
//! lifecycle's and works for every transport.
//!
//! A session reports failures as [`Error`]s; the error's category (and
//! close code, if any) decides what the endpoint does next (see
//! [`Verdict`](crate::Verdict)). A session that ends cleanly returns
//! [`Read::Ended`].
//!
//! # A line-based TCP protocol
//! For plain TCP, [`EndpointConfig::tcp`](crate::EndpointConfig::tcp) with a
//! [`Framing`](crate::config::Framing) (or `Framing::codec` for a codec of
//! your own) is all it takes. A transport of your own is for other
//! sockets or connect logic: [`FramedSession`] turns any `actix-codec`
//! codec over any socket into a session, so a transport for a line
//! protocol is a connect function and a codec:
//!
//! ```no_run
//! use actix_codec::{Decoder, Encoder, Framed};
//! use actix_tether::{
//!     transport::{Attempt, FramedSession, Session, Transport},
//!     AddEndpoint, EndpointConfig, Error, Payload,
//! };
//! use bytes::{BufMut, BytesMut};
//! use futures::future::LocalBoxFuture;
//!
//! /// Text lines ending in LF, at most 64 KiB each.
//! struct Lines;
//!
//! impl Decoder for Lines {
//!     type Item = Payload;
//!     type Error = std::io::Error;
//!     fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Payload>, Self::Error> {
//!         let Some(end) = src.iter().position(|b| *b == b'\n') else {
//!             if src.len() > 64 * 1024 {
//!                 return Err(std::io::Error::other("line longer than 64 KiB"));
//!             }
//!             return Ok(None);
//!         };
//!         let line = src.split_to(end + 1);
//!         let text = std::str::from_utf8(&line[..end]).map_err(std::io::Error::other)?;
//!         Ok(Some(Payload::text(text.trim_end_matches('\r').to_owned())))
//!     }
//! }
//!
//! impl Encoder<Payload> for Lines {
//!     type Error = std::io::Error;
//!     fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> Result<(), Self::Error> {
//!         dst.put_slice(item.as_bytes());
//!         dst.put_u8(b'\n');
//!         Ok(())
//!     }
//! }
//!
//! /// Connects to the `host:port` after `tcp://`.
//! struct LineTransport;
//!
//! impl Transport for LineTransport {
//!     fn connect(&mut self, attempt: &Attempt) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
//!         let address = attempt.url().trim_start_matches("tcp://").to_owned();
//!         Box::pin(async move {
//!             let stream = actix_rt::net::TcpStream::connect(address)
//!                 .await
//!                 .map_err(|e| Error::new(actix_tether::ErrorCategory::Network, e.to_string()))?;
//!             Ok(Box::new(FramedSession::new(Framed::new(stream, Lines))) as Box<dyn Session>)
//!         })
//!     }
//! }
//!
//! # fn config() -> Result<(), Box<dyn std::error::Error>> {
//! let config = EndpointConfig::custom("tcp://127.0.0.1:7000", || Box::new(LineTransport))
//!     .application_heartbeat(|_| Payload::text("PING"), |p| p.as_text() == Some("PONG"))
//!     .build()?;
//! let add = AddEndpoint::new("lines", config);
//! # Ok(()) }
//! ```

mod buffered;
mod framed;
mod hints;
pub(crate) mod http;
mod inbound;
mod read_buffer;
mod socket;
mod sse;
mod tcp;
mod watched;
mod ws;

use std::{
    collections::VecDeque,
    fmt,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::LocalBoxFuture;

#[doc(hidden)]
pub use self::ws::receive as ws_receive;
pub use self::{
    framed::FramedSession,
    inbound::{Inbound, PeerClose},
};
pub(crate) use self::{
    socket::Socket, sse::SseSettings, sse::SseTransport, tcp::TcpTransport, ws::WsTransport,
};
use crate::{Error, Payload};

/// Makes an endpoint's [`Transport`]; called once per endpoint, on the
/// thread of its connection actor.
pub type TransportFactory = Arc<dyn Fn() -> Box<dyn Transport> + Send + Sync>;

/// How an endpoint connects: one per endpoint, kept across its connections.
pub trait Transport: 'static {
    /// Starts one connection attempt. The lifecycle bounds it with the
    /// endpoint's `connect_timeout`.
    ///
    /// # Errors
    /// Why the attempt failed, categorised (a refused HTTP status, a
    /// network error, a protocol error in the handshake).
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>>;

    /// The least wait before the next attempt that the server asked for
    /// (SSE's `retry:` field). Default: none.
    fn min_retry_delay(&self) -> Option<Duration> {
        None
    }
}

/// What one attempt needs besides the transport's own state.
///
/// `Debug` shows the URL redacted and the header names only.
pub struct Attempt {
    url: Arc<str>,
    headers: Vec<(String, String)>,
}

impl Attempt {
    pub(crate) fn new(url: Arc<str>, headers: Vec<(String, String)>) -> Self {
        Self { url, headers }
    }

    /// The URL to connect: the endpoint's URL without its user info and
    /// fragment (it may still hold a secret in its query: log it only
    /// through [`redact_url`](crate::redact_url)).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The endpoint's headers for this attempt: the static ones, then the
    /// header provider's, then an `authorization` header made from the
    /// URL's user info, if it had one (values are secret: never log them).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Attempt")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("headers (values redacted)", &names)
            .finish()
    }
}

/// What a live connection's protocol offers the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// It carries messages out (SSE does not).
    pub sends: bool,
    /// It has protocol pings ([`Session::ping`]); without them the
    /// heartbeat is an application heartbeat, or silence alone.
    pub pings: bool,
    /// A close we start waits for the peer's answer (WebSocket's close
    /// handshake); without one the connection is dropped at once.
    pub close_handshake: bool,
}

impl Capabilities {
    /// A two-way connection without a close handshake.
    pub const fn duplex() -> Self {
        Self {
            sends: true,
            pings: false,
            close_handshake: false,
        }
    }

    /// A receive-only connection.
    pub const fn receive_only() -> Self {
        Self {
            sends: false,
            pings: false,
            close_handshake: false,
        }
    }

    /// With (or without) protocol pings.
    pub const fn with_pings(mut self, yes: bool) -> Self {
        self.pings = yes;
        self
    }

    /// With (or without) a close handshake.
    pub const fn with_close_handshake(mut self, yes: bool) -> Self {
        self.close_handshake = yes;
        self
    }
}

/// What [`Session::start_send_all`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// Messages encoded into the write buffer.
    pub messages: usize,
    /// Their payload bytes.
    pub bytes: u64,
    /// Messages the session refused to encode (dropped).
    pub refused: usize,
}

impl Sent {
    /// Counts one message of `len` payload bytes encoded.
    pub fn written(&mut self, len: usize) {
        self.messages += 1;
        self.bytes += len as u64;
    }
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Read {
    /// Nothing more is ready; the session will wake the task.
    Pending,
    /// Deliver this burst, then read again (the task is woken): the burst
    /// is full, or the session lets the subscribers have what it read
    /// before it reads on.
    Full,
    /// The peer ended the stream.
    Ended,
}

/// One live connection.
///
/// The lifecycle calls these from one task; a method that returns
/// `Pending` must arrange for the task's waker (from `cx`) to be woken.
/// Writes follow the `Sink` shape: [`poll_ready`](Self::poll_ready), then
/// [`start_send`](Self::start_send), then [`poll_flush`](Self::poll_flush).
pub trait Session: 'static {
    /// What this connection can do.
    fn capabilities(&self) -> Capabilities;

    /// Reads what is ready into `inbound`, until it
    /// [`is_full`](Inbound::is_full) or nothing more is ready.
    ///
    /// # Errors
    /// The connection failed (I/O, a protocol fault, an over-long message);
    /// messages already in `inbound` are delivered before the failure is
    /// acted on.
    fn read(&mut self, cx: &mut Context<'_>, inbound: &mut Inbound) -> Result<Read, Error>;

    /// Writes queued control frames (pongs, pings, close frames) into the
    /// write buffer; `Ready(Ok)` once none remain. Default: none.
    ///
    /// # Errors
    /// The connection failed.
    fn poll_control(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Whether the write buffer takes one more message.
    ///
    /// # Errors
    /// The connection failed.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// Encodes one message into the write buffer (after `poll_ready`).
    ///
    /// # Errors
    /// This message cannot be sent (the codec refused it); it fails and the
    /// connection goes on.
    fn start_send(&mut self, payload: Payload) -> Result<(), Error>;

    /// Encodes payloads from the front of `queue` while the write buffer
    /// takes them: [`poll_ready`](Self::poll_ready), then
    /// [`start_send`](Self::start_send), for each, counted in `sent` (a
    /// payload `start_send` refuses is dropped and counted in
    /// [`Sent::refused`]). Stops when the buffer is full (`poll_ready`
    /// pending) or the queue is empty. The default does exactly that; a
    /// session may do the same work in one go.
    ///
    /// # Errors
    /// The connection failed (as `poll_ready`); what was sent before
    /// stays counted.
    fn start_send_all(
        &mut self,
        cx: &mut Context<'_>,
        queue: &mut VecDeque<Payload>,
        sent: &mut Sent,
    ) -> Result<(), Error> {
        while !queue.is_empty() {
            if self.poll_ready(cx)?.is_pending() {
                break;
            }
            let Some(payload) = queue.pop_front() else {
                break;
            };
            let len = payload.len();
            match self.start_send(payload) {
                Ok(()) => sent.written(len),
                Err(_) => sent.refused += 1,
            }
        }
        Ok(())
    }

    /// Writes the buffer out.
    ///
    /// # Errors
    /// The connection failed.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// Whether anything written or queued here (control frames, bytes
    /// not yet flushed through the socket's layers) still waits for
    /// [`poll_control`](Self::poll_control) or
    /// [`poll_flush`](Self::poll_flush). A pass with nothing else to write
    /// skips its writes when this is false. Default: `true` (every pass
    /// writes and flushes).
    fn has_pending_output(&self) -> bool {
        true
    }

    /// Closes the write side once everything is flushed (after the answer
    /// to a peer's close, or to end a connection without a handshake).
    ///
    /// # Errors
    /// The connection failed.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;

    /// Sends a protocol ping carrying `payload` ahead of data (only called
    /// when [`Capabilities::pings`] says so); its pong comes back through
    /// [`Inbound::pong`]. A ping that has to wait in a queue must wake the
    /// task (the waker of the last [`read`](Self::read)). Default: nothing.
    fn ping(&mut self, payload: &[u8]) {
        let _ = payload;
    }

    /// Queues our close with `code` and `reason` after what is already
    /// written. Default: nothing to send (the lifecycle shuts the write side
    /// down).
    fn close(&mut self, code: u16, reason: &str) {
        let _ = (code, reason);
    }

    /// Called every heartbeat interval, for housekeeping such as shrinking
    /// buffers of a connection that went quiet. Default: nothing.
    fn tick(&mut self) {}
}

impl fmt::Debug for dyn Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("capabilities", &self.capabilities())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transport { .. }")
    }
}
