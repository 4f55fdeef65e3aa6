//! A connected stream to an `http://`, `https://`, `tcp://` or `tcps://`
//! address: TCP through actix-tls's connector (the resolver and TCP
//! connector awc uses), and for `https://` and `tcps://` a TLS handshake
//! over it with the rustls config the caller gives, as awc's connector
//! does it (the HTTP transports' config offers ALPN `http/1.1`; a raw
//! `tcps://` stream's offers none unless the user's config has some).

use std::sync::Arc;

use actix_codec::{AsyncRead, AsyncWrite};
use actix_service::Service as _;
use actix_tls::connect::{rustls_0_23::TlsConnector, ConnectInfo, ConnectorService, Host};

use crate::{Error, ErrorCategory};

/// What a socket can do.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Io for T {}

/// A connected TCP stream, or TLS over one.
pub(crate) type Socket = Box<dyn Io>;

/// Where an `http://`, `https://`, `tcp://` or `tcps://` URL points, and
/// how a request to it names it (HTTP only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `https://` or `tcps://`.
    pub(crate) secure: bool,
    /// The host to connect to, an IPv6 address without its brackets.
    hostname: String,
    port: u16,
    /// The `Host` header: the URL's host and port as written, never its
    /// user info.
    pub(crate) authority: String,
    /// The request target: path and query, `/` when the path is empty.
    pub(crate) path: String,
}

impl Target {
    /// Reads `url`; user info in it is not part of the target (the
    /// attempt's URL has none, and a redirect's is dropped). `tcp://` and
    /// `tcps://` URLs are raw streams: their `authority` and `path` go
    /// unused, and they need a port.
    ///
    /// # Errors
    /// A config error when `url` is not an `http://`, `https://`, `tcp://`
    /// or `tcps://` URL with a host (and a port for the last two).
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let invalid =
            |problem: &str| Error::new(ErrorCategory::Config, format!("invalid url: {problem}"));
        let uri: awc::http::Uri = url.parse().map_err(|_| invalid("not a url"))?;
        // The scheme: whether it is TLS, and its default port (raw TCP
        // has none).
        let (secure, default_port) = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => (true, Some(443)),
            Some(s) if s.eq_ignore_ascii_case("http") => (false, Some(80)),
            Some(s) if s.eq_ignore_ascii_case("tcps") => (true, None),
            Some(s) if s.eq_ignore_ascii_case("tcp") => (false, None),
            _ => return Err(invalid("not http, https, tcp or tcps")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let hostname = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority
            .port_u16()
            .or(default_port)
            .ok_or_else(|| invalid("no port"))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let authority = match authority.port() {
            Some(written) => format!("{host}:{}", written.as_str()),
            None => host.to_owned(),
        };
        Ok(Self {
            secure,
            hostname,
            port,
            authority,
            path: if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            },
        })
    }

    /// Connects: TCP, then TLS with `tls` for `https://` and `tcps://`.
    ///
    /// # Errors
    /// A [`Tls`](ErrorCategory::Tls) error for anything rustls reported
    /// during the handshake, a network error otherwise (resolving,
    /// connecting, a handshake cut off).
    pub(crate) async fn connect(
        &self,
        tls: impl FnOnce() -> Arc<rustls::ClientConfig>,
    ) -> Result<Socket, Error> {
        let address = Address {
            hostname: self.hostname.clone(),
            port: self.port,
        };
        let tcp = ConnectorService::default()
            .call(ConnectInfo::new(address))
            .await
            .map_err(|err| match err {
                actix_tls::connect::ConnectError::Io(io) => io_error("connect failed", &io),
                other => Error::network(format!("connect failed: {other}")),
            })?;
        if !self.secure {
            return Ok(Box::new(tcp.into_parts().0));
        }
        let stream = TlsConnector::service(tls())
            .call(tcp)
            .await
            .map_err(|err| handshake_error(&err))?;
        Ok(Box::new(stream.into_parts().0))
    }
}

/// An io error from the TLS handshake: [`Tls`](ErrorCategory::Tls) when
/// rustls reported it (a certificate, a protocol version), else a network
/// error (the connection cut off).
fn handshake_error(err: &std::io::Error) -> Error {
    match super::http::rustls_in(err) {
        Some(tls) => Error::tls(format!("tls handshake failed: {tls}")),
        None => Error::network(format!("tls handshake failed: {err}")),
    }
}

/// An io error on a connected socket, while `what` ("request failed",
/// "read failed"): a network error, also when rustls reported it (a
/// broken record mid-stream is retried on the normal backoff), except the
/// server's verdict on our client certificate, which a TLS 1.3 server
/// sends after our side of the handshake ended: that one is
/// [`Tls`](ErrorCategory::Tls), as it would be during the handshake.
pub(crate) fn io_error(what: &str, err: &std::io::Error) -> Error {
    match super::http::rustls_in(err) {
        Some(tls) if refuses_our_certificate(tls) => Error::tls(format!("{what}: {tls}")),
        Some(tls) => Error::network(format!("{what}: tls error: {tls}")),
        None => Error::network(format!("{what}: {err}")),
    }
}

/// Whether `err` is an alert a server sends when it refuses the client's
/// certificate (or the lack of one).
fn refuses_our_certificate(err: &rustls::Error) -> bool {
    use rustls::AlertDescription as Alert;
    matches!(
        err,
        rustls::Error::AlertReceived(
            Alert::CertificateRequired
                | Alert::BadCertificate
                | Alert::UnsupportedCertificate
                | Alert::CertificateRevoked
                | Alert::CertificateExpired
                | Alert::CertificateUnknown
                | Alert::UnknownCA
                | Alert::AccessDenied
                | Alert::HandshakeFailure
        )
    )
}

/// A host and port for actix-tls's connector.
struct Address {
    hostname: String,
    port: u16,
}

impl Host for Address {
    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn port(&self) -> Option<u16> {
        Some(self.port)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn wrapped(err: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    #[test]
    fn tls_errors_after_the_handshake_keep_their_phase() {
        // A broken record mid-stream: retried on the normal backoff.
        let err = io_error("read failed", &wrapped(rustls::Error::DecryptError));
        assert_eq!(err.category(), ErrorCategory::Network, "{err}");
        assert!(
            err.message().starts_with("read failed: tls error: "),
            "{err}"
        );
        let err = io_error(
            "request failed",
            &wrapped(rustls::Error::AlertReceived(
                rustls::AlertDescription::BadRecordMac,
            )),
        );
        assert_eq!(err.category(), ErrorCategory::Network, "{err}");
        assert!(err.message().starts_with("request failed: "), "{err}");
        // The server's verdict on our certificate comes after our side of a
        // TLS 1.3 handshake: still a TLS failure, on the slow schedule.
        let err = io_error(
            "read failed",
            &wrapped(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired,
            )),
        );
        assert_eq!(err.category(), ErrorCategory::Tls, "{err}");
        assert!(err.message().starts_with("read failed: "), "{err}");
        let err = io_error("read failed", &io::ErrorKind::ConnectionReset.into());
        assert_eq!(err.category(), ErrorCategory::Network, "{err}");
        assert!(err.message().starts_with("read failed: "), "{err}");
    }

    #[test]
    fn handshake_errors_are_tls_when_rustls_reported_them() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = handshake_error(&wrapped(unknown));
        assert_eq!(err.category(), ErrorCategory::Tls, "{err}");
        assert!(err.message().starts_with("tls handshake failed: "), "{err}");
        let err = handshake_error(&io::ErrorKind::UnexpectedEof.into());
        assert_eq!(err.category(), ErrorCategory::Network, "{err}");
        assert!(err.message().starts_with("tls handshake failed: "), "{err}");
    }

    #[test]
    fn targets_name_host_port_and_path() {
        let t = Target::parse("https://h.example/a/b?x=1").unwrap();
        assert!(t.secure);
        assert_eq!((t.hostname.as_str(), t.port), ("h.example", 443));
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("h.example", "/a/b?x=1")
        );
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert!(!t.secure);
        assert_eq!((t.hostname.as_str(), t.port), ("::1", 8080));
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("[::1]:8080", "/"));
        let t = Target::parse("http://h?q").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/?q"));
        // User info never reaches the `Host` header.
        let t = Target::parse("http://u:p@other:8080/e").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("other:8080", "/e")
        );
        let t = Target::parse("https://token@[::1]/").unwrap();
        assert_eq!((t.authority.as_str(), t.port), ("[::1]", 443));
        let t = Target::parse("tcps://h.example:5039").unwrap();
        assert!(t.secure);
        assert_eq!((t.hostname.as_str(), t.port), ("h.example", 5039));
        let t = Target::parse("tcp://[::1]:5038").unwrap();
        assert_eq!(
            (t.secure, t.hostname.as_str(), t.port),
            (false, "::1", 5038)
        );
        for bad in ["ws://h/", "/relative", "http://", "tcp://h", "tcps://h/"] {
            let err = Target::parse(bad).unwrap_err();
            assert_eq!(err.category(), ErrorCategory::Config, "{bad}");
        }
    }
}
