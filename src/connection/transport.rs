//! The transport abstraction: how to connect, what inbound state a live
//! connection keeps, and what the lifecycle can write.
//!
//! A transport adds a variant to [`Connected`], [`Reader`] and [`Writer`],
//! and a reader (an actor future for WebSocket, a stream handler for SSE)
//! that calls the lifecycle methods of [`ConnectionActor`]; the lifecycle
//! itself is not copied.

use std::{future::Future, pin::Pin};

use actix::Context;
use awc::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use bytestring::ByteString;

use super::{
    fragments::Fragments,
    sse,
    writer::{data_frame, WsWriter},
    ws, ConnectionActor,
};
use crate::{
    close::truncate_close_reason, config::EndpointConfig, heartbeat::encode_ping, sse::SseParser,
    Error, ErrorCategory, Payload, TransportKind,
};

/// What a reconnect carries over from the previous connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resume {
    /// SSE: the URL after redirects, used by later attempts.
    pub(crate) url: Option<String>,
    /// SSE: the last event id, sent as `Last-Event-ID`.
    pub(crate) last_event_id: ByteString,
}

/// A completed handshake, before it is wired into the actor.
pub(crate) enum Connected {
    WebSocket(ws::Connected),
    Sse(sse::Connected),
}

/// One connection attempt for the endpoint's transport.
pub(crate) fn connect(
    client: awc::Client,
    config: &EndpointConfig,
    resume: &Resume,
) -> Pin<Box<dyn Future<Output = Result<Connected, Error>>>> {
    match config.kind {
        TransportKind::WebSocket => {
            let attempt = ws::connect(client, config);
            Box::pin(async move { attempt.await.map(Connected::WebSocket) })
        }
        TransportKind::Sse => {
            let attempt = sse::connect(client, config, resume);
            Box::pin(async move { attempt.await.map(Connected::Sse) })
        }
    }
}

/// Collects this attempt's headers: the static ones, then the provider's.
pub(crate) fn handshake_headers(
    config: &EndpointConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let dynamic = config
        .header_provider
        .as_ref()
        .map(|provide| provide())
        .unwrap_or_default();
    config
        .headers
        .iter()
        .cloned()
        .chain(dynamic)
        .map(|(name, value)| {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            // The value is secret: say only which header is wrong.
            let value = HeaderValue::try_from(value)
                .map_err(|_| format!("invalid value for header {name:?}"))?;
            Ok((header, value))
        })
        .collect::<Result<_, String>>()
        .map_err(|problem| Error::new(ErrorCategory::Config, problem))
}

/// Converts awc's `!Send` request error (connect, send, response) into our
/// owned, categorised one; shared by the WebSocket handshake and SSE.
pub(crate) fn request_error(err: awc::error::SendRequestError) -> Error {
    use awc::error::SendRequestError as Send;
    match err {
        Send::Connect(e) => Error::network(format!("connect failed: {e}")),
        Send::Timeout => Error::timeout("response timed out"),
        Send::Url(e) => Error::new(ErrorCategory::Config, format!("invalid url: {e}")),
        other => Error::network(format!("request failed: {other}")),
    }
}

/// Inbound state of a live connection.
#[derive(Debug)]
pub(crate) enum Reader {
    WebSocket(Fragments),
    Sse(SseParser),
}

/// Wires a completed handshake into the actor's context.
pub(crate) fn attach(
    conn: Connected,
    config: &EndpointConfig,
    resume: &mut Resume,
    ctx: &mut Context<ConnectionActor>,
) -> (Reader, Writer) {
    match conn {
        Connected::WebSocket(conn) => {
            let writer = ws::attach(conn, config.max_batch, ctx);
            (
                Reader::WebSocket(Fragments::new(config.max_message_size)),
                writer,
            )
        }
        Connected::Sse(conn) => {
            let parser = sse::attach(conn, config, resume, ctx);
            (Reader::Sse(parser), Writer::Sse)
        }
    }
}

/// Writes to the live connection; one variant per transport.
pub(crate) enum Writer {
    WebSocket(WsWriter),
    /// SSE is receive-only: nothing to write.
    Sse,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WebSocket(w) => w.fmt(f),
            Self::Sse => f.write_str("Writer::Sse"),
        }
    }
}

/// A close frame with the reason cut to the RFC limit.
pub(crate) fn close_frame(code: u16, reason: &str) -> awc::ws::Message {
    let reason = truncate_close_reason(reason);
    awc::ws::Message::Close(Some(awc::ws::CloseReason {
        code: code.into(),
        description: (!reason.is_empty()).then(|| reason.to_owned()),
    }))
}

impl Writer {
    /// Whether heartbeats are written (pings) or only observed (SSE).
    pub(crate) fn can_ping(&self) -> bool {
        matches!(self, Self::WebSocket(_))
    }

    /// Whether a close we start waits for the peer's close frame.
    pub(crate) fn has_close_handshake(&self) -> bool {
        matches!(self, Self::WebSocket(_))
    }

    /// Sends a protocol message ahead of queued data (heartbeats,
    /// authentication, on-connect messages).
    pub(crate) fn send_control(&mut self, payload: Payload) {
        if let Self::WebSocket(w) = self {
            w.push_control(data_frame(payload));
        }
    }

    /// Sends heartbeat ping `seq`.
    pub(crate) fn ping(&mut self, seq: u64) {
        if let Self::WebSocket(w) = self {
            let payload = Bytes::copy_from_slice(&encode_ping(seq));
            w.push_control(awc::ws::Message::Ping(payload));
        }
    }

    /// Answers a ping with the same payload (awc does not do it for us).
    pub(crate) fn pong(&mut self, payload: Bytes) {
        if let Self::WebSocket(w) = self {
            w.push_control(awc::ws::Message::Pong(payload));
        }
    }

    /// Echoes a peer's close frame, then closes the write half.
    pub(crate) fn echo_close(&mut self, code: u16) {
        if let Self::WebSocket(w) = self {
            w.push_control(close_frame(code, ""));
            w.shutdown_after_control();
        }
    }
}
