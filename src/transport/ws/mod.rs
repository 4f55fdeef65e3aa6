//! The WebSocket transport: the handshake over awc, then a [`WsSession`]
//! on the upgraded socket.

mod codec;
mod deflate;
mod fragments;
mod read_buffer;
mod session;

use std::sync::Arc;

use actix_codec::Framed;
use awc::{error::WsClientError, BoxedSocket};
use futures::future::LocalBoxFuture;

use self::{codec::FrameCodec, session::WsSession};
use super::{
    http::{client_for, header_pairs, request_error},
    Attempt, Session, Transport,
};
use crate::Error;

/// The socket with our WebSocket codec, never split: the session reads and
/// writes it.
type WsFramed = Framed<BoxedSocket, FrameCodec>;

/// Connects `ws://` and `wss://` endpoints.
#[derive(Debug)]
pub(crate) struct WsTransport {
    /// Largest inbound message, after reassembling fragments.
    max_message_size: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl WsTransport {
    pub(crate) fn new(max_message_size: usize, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Self {
            max_message_size,
            tls,
        }
    }
}

impl Transport for WsTransport {
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
        let client = client_for(self.tls.as_ref());
        let headers = header_pairs(attempt.headers());
        let url = attempt.url().to_owned();
        let max_size = self.max_message_size;
        Box::pin(async move {
            let mut request = client.ws(url.as_str()).max_frame_size(max_size);
            for (name, value) in headers? {
                request = request.header(name, value);
            }
            let (_, framed) = request.connect().await.map_err(|err| match err {
                WsClientError::InvalidResponseStatus(status) => {
                    Error::refused(status.as_u16(), super::hints::take_hint(&url))
                }
                other => handshake_error(other),
            })?;
            // awc did the handshake; the frames are ours (bytes it already
            // read stay in the buffer).
            let framed = framed.replace_codec(FrameCodec::new(max_size));
            Ok(Box::new(WsSession::new(framed, max_size)) as Box<dyn Session>)
        })
    }
}

/// Converts awc's `!Send` handshake error into our owned, categorised one.
fn handshake_error(err: WsClientError) -> Error {
    match err {
        WsClientError::InvalidResponseStatus(status) => Error::refused(status.as_u16(), None),
        WsClientError::SendRequest(e) => request_error(e),
        WsClientError::Protocol(e) => Error::protocol(format!("handshake protocol error: {e}")),
        other => Error::protocol(format!("invalid handshake response: {other}")),
    }
}
