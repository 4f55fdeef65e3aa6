//! The WebSocket transport: the handshake over awc, then a [`WsSession`]
//! on the upgraded socket.

mod codec;
mod deflate;
mod fragments;
mod receiver;
mod session;
mod socket;

use std::sync::Arc;

use awc::error::WsClientError;
use futures::future::LocalBoxFuture;

use self::{
    codec::FrameCodec,
    deflate::{negotiate, DeflateConfig},
    session::WsSession,
    socket::WsSocket,
};
use super::{
    http::{client_for, header_pairs, request_error},
    Attempt, Session, Transport,
};
use crate::Error;

pub use self::receiver::receive;

/// Connects `ws://` and `wss://` endpoints.
#[derive(Debug)]
pub(crate) struct WsTransport {
    /// Largest inbound message, after reassembling fragments.
    max_message_size: usize,
    /// Offer permessage-deflate.
    compression: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl WsTransport {
    pub(crate) fn new(
        max_message_size: usize,
        compression: bool,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Self {
            max_message_size,
            compression,
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
        // Our messages are compressed without context takeover: the
        // compressor keeps nothing between messages, so one per thread
        // serves every endpoint.
        let offer = self.compression.then_some(DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        });
        Box::pin(async move {
            let mut request = client.ws(url.as_str()).max_frame_size(max_size);
            for (name, value) in headers? {
                request = request.header(name, value);
            }
            if let Some(offer) = &offer {
                request = request.header("sec-websocket-extensions", offer.offer());
            }
            let (response, framed) = request.connect().await.map_err(|err| match err {
                WsClientError::InvalidResponseStatus(status) => {
                    Error::refused(status.as_u16(), super::hints::take_hint(&url))
                }
                other => handshake_error(other),
            })?;
            let answers = response
                .headers()
                .get_all("sec-websocket-extensions")
                .map(|value| value.as_bytes());
            let agreed = negotiate(offer.as_ref(), answers)?;
            // awc did the handshake; the frames are ours (bytes it already
            // read stay in the buffer).
            let codec = FrameCodec::new(max_size).with_compression(agreed.is_some());
            let parts = framed.into_parts();
            let socket = WsSocket::new(parts.io, parts.read_buf, codec);
            Ok(Box::new(WsSession::new(socket, max_size, agreed)) as Box<dyn Session>)
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
