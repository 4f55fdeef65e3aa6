//! A connected stream to an `http://` or `https://` origin: TCP through
//! actix-tls's connector (the resolver and TCP connector awc uses), and
//! for `https://` a TLS handshake over it with the endpoint's rustls
//! config (ALPN `http/1.1`), as awc's connector does it.

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

/// Where an `http://` or `https://` URL points, and how a request to it
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `https://`.
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
    /// attempt's URL has none, and a redirect's is dropped).
    ///
    /// # Errors
    /// A config error when `url` is not an `http://` or `https://` URL
    /// with a host.
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let invalid =
            |problem: &str| Error::new(ErrorCategory::Config, format!("invalid url: {problem}"));
        let uri: awc::http::Uri = url.parse().map_err(|_| invalid("not a url"))?;
        let secure = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(invalid("not http or https")),
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
            .unwrap_or(if secure { 443 } else { 80 });
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

    /// Connects: TCP, then TLS with `tls` for `https://`.
    ///
    /// # Errors
    /// A [`Tls`](ErrorCategory::Tls) error for anything rustls reported, a
    /// network error otherwise (resolving, connecting, a handshake cut off).
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
            .map_err(|err| io_error("tls handshake failed", &err))?;
        Ok(Box::new(stream.into_parts().0))
    }
}

/// An io error from connecting: [`Tls`](ErrorCategory::Tls) when rustls
/// reported it, else a network error.
pub(crate) fn io_error(what: &str, err: &std::io::Error) -> Error {
    match super::http::rustls_in(err) {
        Some(tls) => Error::tls(format!("tls handshake failed: {tls}")),
        None => Error::network(format!("{what}: {err}")),
    }
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
    use super::*;

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
        for bad in ["ws://h/", "/relative", "http://"] {
            let err = Target::parse(bad).unwrap_err();
            assert_eq!(err.category(), ErrorCategory::Config, "{bad}");
        }
    }
}
