//! The raw TCP transport: `tcp://host:port`, or TLS over it with
//! `tcps://host:port`, framed by the endpoint's [`Framing`] into a
//! [`FramedSession`]. It has no protocol pings (use an application
//! heartbeat, or silence detection) and no close handshake: closing shuts
//! the write side down, once everything queued is written; a server's FIN
//! ends the connection ([`ClosedByPeer`](crate::ErrorCategory::ClosedByPeer)),
//! a reset fails it ([`Network`](crate::ErrorCategory::Network)). Over
//! TLS, a FIN without a `close_notify` alert ends the connection as a FIN
//! does when no part of a message is buffered, and fails it as a network
//! error when one is (the message may have been cut short).

mod blocks;
mod length;
mod lines;
#[cfg(test)]
mod split_tests;
mod text;

use std::{cell::RefCell, sync::Arc};

use actix_codec::{AsyncRead, AsyncWrite, Decoder, Encoder, Framed};
use futures::future::LocalBoxFuture;

use self::{
    blocks::BlockCodec,
    length::{LengthCodec, Width},
    lines::LineCodec,
};
use super::{
    socket::{Socket, Target},
    Attempt, FramedSession, Session, Transport,
};
use crate::{config::Framing, Error, Payload};

/// Connects `tcp://` and `tcps://` endpoints.
#[derive(Debug)]
pub(crate) struct TcpTransport {
    framing: Framing,
    /// The endpoint's `max_message_size`: the longest line, block or frame.
    max_message_size: usize,
    /// The endpoint's (or supervisor's) TLS config, used as it is: no ALPN
    /// is added for a raw stream.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl TcpTransport {
    pub(crate) fn new(
        framing: Framing,
        max_message_size: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Self {
            framing,
            max_message_size,
            tls,
        }
    }
}

impl Transport for TcpTransport {
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
        let target = Target::parse(attempt.url());
        let (framing, max, tls) = (
            self.framing.clone(),
            self.max_message_size,
            self.tls.clone(),
        );
        Box::pin(async move {
            let socket = target?.connect(|| tls.unwrap_or_else(default_tls)).await?;
            Ok(session(socket, &framing, max))
        })
    }
}

/// A session over `socket`, framed by `framing`.
fn session(socket: Socket, framing: &Framing, max: usize) -> Box<dyn Session> {
    match framing {
        Framing::Lines => framed(socket, LineCodec::new(max)),
        Framing::Blocks => framed(socket, BlockCodec::new(max, false)),
        Framing::BannerThenBlocks => framed(socket, BlockCodec::new(max, true)),
        Framing::LengthU16 => framed(socket, LengthCodec::new(Width::U16, max)),
        Framing::LengthU32 => framed(socket, LengthCodec::new(Width::U32, max)),
        Framing::Codec(factory) => factory.session(socket),
    }
}

fn framed<T, C>(io: T, codec: C) -> Box<dyn Session>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    C: Decoder<Item = Payload, Error = std::io::Error>
        + Encoder<Payload, Error = std::io::Error>
        + Unpin
        + 'static,
{
    Box::new(FramedSession::new(Framed::new(io, codec)))
}

thread_local! {
    /// The default roots' config, built once per thread.
    static DEFAULT_TLS: RefCell<Option<Arc<rustls::ClientConfig>>> = const { RefCell::new(None) };
}

/// The config of a `tcps://` endpoint without TLS settings: the bundled
/// webpki roots, no ALPN.
fn default_tls() -> Arc<rustls::ClientConfig> {
    DEFAULT_TLS.with(|default| {
        default
            .borrow_mut()
            .get_or_insert_with(|| {
                Arc::new(
                    crate::config::client_builder()
                        .with_root_certificates(
                            actix_tls::connect::rustls_0_23::webpki_roots_cert_store(),
                        )
                        .with_no_client_auth(),
                )
            })
            .clone()
    })
}
