//! A socket that remembers how it last failed, so a session can tell the
//! socket's failures from its codec's whatever error type the codec
//! wraps them in (`Framed` hands a read or write error to the codec's
//! `From<io::Error>`, which may turn a reset into "bad frame").

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use actix_codec::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Error;

/// How the socket last failed: the error as the session reports it, and
/// the I/O error's kind.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    /// A network error, or a TLS error for the server's refusal of our
    /// certificate (see `socket::io_error`).
    pub(super) error: Error,
    pub(super) kind: io::ErrorKind,
}

/// `io`, recording its last read or write error.
#[derive(Debug)]
pub(super) struct Watched<T> {
    io: T,
    failure: Option<Failure>,
}

impl<T> Watched<T> {
    pub(super) fn new(io: T) -> Self {
        Self { io, failure: None }
    }

    /// How the socket last failed, if it did.
    pub(super) fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    fn record<R>(&mut self, what: &str, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if let Poll::Ready(Err(err)) = &poll {
            self.failure = Some(Failure {
                error: super::socket::io_error(what, err),
                kind: err.kind(),
            });
        }
        poll
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        self.record("read failed", poll)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.record("write failed", poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.record("write failed", poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.record("write failed", poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.record("close failed", poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCategory;

    /// A socket whose reads fail with `kind`.
    struct Failing(io::ErrorKind);

    impl AsyncRead for Failing {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(self.0.into()))
        }
    }

    #[test]
    fn a_read_error_is_recorded_as_a_network_failure() {
        let mut socket = Watched::new(Failing(io::ErrorKind::ConnectionReset));
        assert!(socket.failure().is_none());
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut bytes = [0; 4];
        let mut buf = ReadBuf::new(&mut bytes);
        assert!(Pin::new(&mut socket)
            .poll_read(&mut cx, &mut buf)
            .is_ready());
        let failure = socket.failure().unwrap();
        assert_eq!(failure.kind, io::ErrorKind::ConnectionReset);
        assert_eq!(failure.error.category(), ErrorCategory::Network);
        assert!(failure.error.message().starts_with("read failed: "));
    }
}
