//! A [`Session`] over any socket and `actix-codec` codec.

use std::{
    fmt,
    pin::Pin,
    task::{ready, Context, Poll},
};

use actix_codec::{AsyncRead, AsyncWrite, Decoder, Encoder, Framed};
use futures::{Sink, Stream};

use super::{buffered::Buffered, watched::Watched, Capabilities, Inbound, Read, Session};
use crate::{Error, ErrorCategory, Payload};

/// A two-way session over `io`, framed by `codec`: each decoded item is a
/// message, each message sent is encoded once. It has no pings of its own
/// (use an application heartbeat) and no close handshake (closing shuts the
/// write side down).
///
/// A failure of the socket (a reset, a broken pipe, a broken TLS record)
/// is a network failure, whatever error type the codec wraps it in; the
/// server's refusal of our TLS certificate is a TLS failure. Any other
/// decoder error is a protocol fault, except an [`std::io::Error`] of
/// another kind than `InvalidData` or `Other` (such as `UnexpectedEof` for
/// a message cut off by the end of the stream), which is a network
/// failure. The end of the stream ends the connection; so does a TLS peer
/// that ends the stream without a `close_notify` alert, when no part of a
/// message is buffered (with part of one, it is a network failure: the
/// message may be truncated). "Buffered" means in the read buffer: leave
/// a partial message there (as the built-in codecs do), for a codec that
/// takes part of one into its own state cannot be told from one between
/// messages.
///
/// Bound the decoder's buffering (a longest line or frame) so a peer cannot
/// grow memory without limit.
///
/// The read buffer follows the traffic: a connection that streams reads
/// 64 KiB at a time, and one that went quiet for a heartbeat interval
/// returns to a 2 KiB buffer.
pub struct FramedSession<T, C> {
    framed: Framed<Watched<T>, Buffered<C>>,
}

impl<T, C> FramedSession<T, C> {
    /// A session over `framed`.
    pub fn new(framed: Framed<T, C>) -> Self {
        Self {
            framed: framed
                .into_map_codec(Buffered::new)
                .into_map_io(Watched::new),
        }
    }
}

impl<T, C> fmt::Debug for FramedSession<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramedSession").finish_non_exhaustive()
    }
}

impl<T, C> FramedSession<T, C> {
    /// Why a read failed: the socket's failure when it had one (a peer
    /// that ended a TLS stream without `close_notify`, between messages,
    /// ended it), else the decoder's.
    fn read_failed(&self, err: &(dyn std::error::Error + 'static)) -> Result<Read, Error> {
        match self.framed.io_ref().failure() {
            Some(failure)
                if failure.kind == std::io::ErrorKind::UnexpectedEof
                    && self.framed.is_read_buf_empty() =>
            {
                Ok(Read::Ended)
            }
            Some(failure) => Err(failure.error.clone()),
            None => Err(decoder_error(err)),
        }
    }

    /// Why a write (or close) failed: the socket's failure when it had
    /// one, else what `Framed` reported.
    fn write_failed(&self, what: &str, err: impl fmt::Display) -> Error {
        match self.framed.io_ref().failure() {
            Some(failure) => failure.error.clone(),
            None => Error::new(ErrorCategory::Network, format!("{what}: {err}")),
        }
    }
}

/// A decoder's own error (the socket did not fail): a protocol fault,
/// except an I/O error of another kind than `InvalidData` or `Other` (a
/// message cut off by the end of the stream), which is a network failure.
fn decoder_error(err: &(dyn std::error::Error + 'static)) -> Error {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        let data = matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other
        );
        if !data {
            return Error::new(ErrorCategory::Network, format!("read failed: {io}"));
        }
    }
    Error::new(ErrorCategory::Protocol, format!("bad frame: {err}"))
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
                Poll::Ready(Some(Err(err))) => break self.read_failed(&err),
            }
        };
        if self.framed.codec_mut().end_poll(inbound.len() - before) {
            inbound.alive();
        }
        read
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sink::<Payload>::poll_ready(Pin::new(&mut self.framed), cx)
            .map_err(|err| self.write_failed("write failed", err))
    }

    fn start_send(&mut self, payload: Payload) -> Result<(), Error> {
        Pin::new(&mut self.framed)
            .start_send(payload)
            .map_err(|err| Error::endpoint(format!("could not encode message: {err}")))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sink::<Payload>::poll_flush(Pin::new(&mut self.framed), cx)
            .map_err(|err| self.write_failed("write failed", err))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // `Framed::poll_close` flushes the socket only, not `Framed`'s own
        // write buffer: write that out first, or the tail of what was sent
        // is lost.
        ready!(self.poll_flush(cx))?;
        Sink::<Payload>::poll_close(Pin::new(&mut self.framed), cx)
            .map_err(|err| self.write_failed("close failed", err))
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
    fn decoder_errors_are_protocol_faults_except_a_message_cut_off() {
        let bad = io::Error::new(io::ErrorKind::InvalidData, "line longer than 16");
        let err = decoder_error(&bad);
        assert_eq!(err.category(), ErrorCategory::Protocol, "{err}");
        assert_eq!(err.message(), "bad frame: line longer than 16");
        let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "ended inside a block");
        assert_eq!(decoder_error(&cut).category(), ErrorCategory::Network);
        let fmt = std::fmt::Error;
        assert_eq!(decoder_error(&fmt).category(), ErrorCategory::Protocol);
    }
}
