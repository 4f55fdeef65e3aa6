//! The outbound half of a transport: what the lifecycle can write.

use actix::io::SinkWrite;
use bytes::Bytes;

use super::ws::WsSink;
use crate::{close::truncate_close_reason, heartbeat::encode_ping, Error, Payload};

/// Writes to the live connection; one variant per transport.
pub(crate) enum Writer {
    WebSocket(SinkWrite<awc::ws::Message, WsSink>),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WebSocket(_) => f.write_str("Writer::WebSocket"),
        }
    }
}

fn closing() -> Error {
    Error::endpoint("connection is closing")
}

impl Writer {
    /// Queues a data message.
    pub(crate) fn send(&mut self, payload: Payload) -> Result<(), Error> {
        match self {
            Self::WebSocket(sink) => {
                let msg = match payload {
                    Payload::Text(text) => awc::ws::Message::Text(text),
                    Payload::Binary(bytes) => awc::ws::Message::Binary(bytes),
                };
                sink.write(msg).map_err(|_| closing())
            }
        }
    }

    /// Sends heartbeat ping `seq`.
    pub(crate) fn ping(&mut self, seq: u64) {
        match self {
            Self::WebSocket(sink) => {
                let payload = Bytes::copy_from_slice(&encode_ping(seq));
                let _ = sink.write(awc::ws::Message::Ping(payload));
            }
        }
    }

    /// Answers a ping with the same payload (awc does not do it for us).
    pub(crate) fn pong(&mut self, payload: Bytes) {
        match self {
            Self::WebSocket(sink) => {
                let _ = sink.write(awc::ws::Message::Pong(payload));
            }
        }
    }

    /// Sends a close frame; with `then_shutdown`, also closes the write half
    /// once it is flushed (only after the peer's close: a peer that has not
    /// closed yet may treat the half-close as a broken stream).
    pub(crate) fn close(&mut self, code: u16, reason: &str, then_shutdown: bool) {
        match self {
            Self::WebSocket(sink) => {
                let reason = truncate_close_reason(reason);
                let close = awc::ws::CloseReason {
                    code: code.into(),
                    description: (!reason.is_empty()).then(|| reason.to_owned()),
                };
                let _ = sink.write(awc::ws::Message::Close(Some(close)));
                if then_shutdown {
                    sink.close();
                }
            }
        }
    }
}
