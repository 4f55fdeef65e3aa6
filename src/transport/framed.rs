//! A [`Session`] over any socket and `actix-codec` codec.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use actix_codec::{AsyncRead, AsyncWrite, Decoder, Encoder, Framed};
use futures::{Sink, Stream};

use super::{buffered::Buffered, Capabilities, Inbound, Read, Session};
use crate::{Error, ErrorCategory, Payload};

/// A two-way session over `io`, framed by `codec`: each decoded item is a
/// message, each message sent is encoded once. It has no pings of its own
/// (use an application heartbeat) and no close handshake (closing shuts the
/// write side down).
///
/// A decoder error is a protocol fault, except an [`std::io::Error`] of
/// another kind than `InvalidData` or `Other` (a reset, a broken pipe),
/// which is a network failure; the end of the stream ends the connection.
/// Bound the decoder's buffering (a longest line or frame) so a peer cannot
/// grow memory without limit.
///
/// The read buffer follows the traffic: a connection that streams reads
/// 64 KiB at a time, and one that went quiet for a heartbeat interval
/// returns to a 2 KiB buffer.
pub struct FramedSession<T, C> {
    framed: Framed<T, Buffered<C>>,
}

impl<T, C> FramedSession<T, C> {
    /// A session over `framed`.
    pub fn new(framed: Framed<T, C>) -> Self {
        Self {
            framed: framed.into_map_codec(Buffered::new),
        }
    }
}

impl<T, C> fmt::Debug for FramedSession<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedSession").finish_non_exhaustive()
    }
}

/// A decoder's error: I/O failures of the socket (TLS records included,
/// which rustls reports as `InvalidData`) are network errors, or TLS
/// errors when the server refused our certificate; the rest are protocol
/// faults.
fn read_error(err: &(dyn std::error::Error + 'static)) -> Error {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        let data = matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other
        );
        if !data || super::http::rustls_in(io).is_some() {
            return super::socket::io_error("read failed", io);
        }
    }
    Error::new(ErrorCategory::Protocol, format!("bad frame: {err}"))
}

fn io_error(context: &str, err: impl fmt::Display) -> Error {
    Error::new(ErrorCategory::Network, format!("{context}: {err}"))
}

impl<T, C> Session for FramedSession<T, C>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    C: Decoder<Item = Payload> + Encoder<Payload> + Unpin + 'static,
    <C as Decoder>::Error: std::error::Error + 'static,
    <C as Encoder<Payload>>::Error: fmt::Display,
{
    fn capabilities(&self) -> Capabilities {
        Capabilities::duplex()
    }

    fn read(&mut self, cx: &mut Context<'_>, inbound: &mut Inbound) -> Result<Read, Error> {
        let before = inbound.len();
        let read = loop {
            if inbound.is_full() {
                break Ok(Read::Full);
            }
            match Pin::new(&mut self.framed).poll_next(cx) {
                Poll::Pending => break Ok(Read::Pending),
                Poll::Ready(None) => break Ok(Read::Ended),
                Poll::Ready(Some(Ok(payload))) => inbound.message(payload),
                Poll::Ready(Some(Err(err))) => break Err(read_error(&err)),
            }
        };
        if self.framed.codec_mut().end_poll(inbound.len() - before) {
            inbound.alive();
        }
        read
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sink::<Payload>::poll_ready(Pin::new(&mut self.framed), cx)
            .map_err(|err| io_error("write failed", err))
    }

    fn start_send(&mut self, payload: Payload) -> Result<(), Error> {
        Pin::new(&mut self.framed)
            .start_send(payload)
            .map_err(|err| Error::endpoint(format!("could not encode message: {err}")))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sink::<Payload>::poll_flush(Pin::new(&mut self.framed), cx)
            .map_err(|err| io_error("write failed", err))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sink::<Payload>::poll_close(Pin::new(&mut self.framed), cx)
            .map_err(|err| io_error("close failed", err))
    }

    fn tick(&mut self) {
        let empty = self.framed.is_read_buf_empty();
        self.framed.codec_mut().tick(empty);
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn decoder_errors_are_protocol_faults_and_socket_errors_network_or_tls() {
        let bad = io::Error::new(io::ErrorKind::InvalidData, "line longer than 16");
        let err = read_error(&bad);
        assert_eq!(err.category(), ErrorCategory::Protocol, "{err}");
        assert_eq!(err.message(), "bad frame: line longer than 16");
        let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "ended inside a block");
        assert_eq!(read_error(&cut).category(), ErrorCategory::Network);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(read_error(&reset).category(), ErrorCategory::Network);
        // rustls reports its errors as InvalidData: they are the socket's.
        let record = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(read_error(&record).category(), ErrorCategory::Network);
        let refused = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        assert_eq!(read_error(&refused).category(), ErrorCategory::Tls);
    }
}
