//! What the HTTP-based transports share: one `awc::Client` per arbiter
//! thread and TLS config, the HTTP/1.1 TLS config, handshake headers,
//! awc's request errors (and the rustls error inside an io error), and the
//! round trip to a ping URL.
//!
//! awc's client is `!Send` and holds a connector pool, so each arbiter builds
//! its own once and every connection on that thread shares it.

use std::{
    cell::RefCell,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use awc::{
    http::header::{HeaderName, HeaderValue},
    Client, Connector,
};

use crate::{Error, ErrorCategory};

/// Our own per-attempt timeout bounds every connect; the connector's bounds
/// sit above it so they never fire first.
const CONNECTOR_TIMEOUT: Duration = Duration::from_secs(600);

/// This thread's clients: one for the default roots, one per TLS config
/// still in use.
#[derive(Default)]
struct Clients {
    default: Option<Client>,
    /// Keyed by the config's address; the weak reference keeps the address
    /// from being reused, and an entry whose config every endpoint dropped
    /// goes at the next lookup.
    by_config: Vec<(Weak<rustls::ClientConfig>, Client)>,
}

thread_local! {
    static CLIENTS: RefCell<Clients> = RefCell::new(Clients::default());
    /// The config for the default roots, built once per thread.
    static DEFAULT_TLS: RefCell<Option<Arc<rustls::ClientConfig>>> = const { RefCell::new(None) };
}

/// The TLS config of our connections (awc's, and the SSE transport's own
/// HTTP/1.1 exchange): HTTP/1.1 only in ALPN, because a WebSocket upgrade
/// cannot run over an HTTP/2 connection in awc and SSE speaks HTTP/1.1. The
/// default roots' config is built once per thread.
pub(crate) fn http1_tls(tls: Option<&Arc<rustls::ClientConfig>>) -> Arc<rustls::ClientConfig> {
    if tls.is_none() {
        if let Some(default) = DEFAULT_TLS.with(|default| default.borrow().clone()) {
            return default;
        }
    }
    let mut config = match tls {
        Some(user) => (**user).clone(),
        None => crate::config::client_builder()
            .with_root_certificates(actix_tls::connect::rustls_0_23::webpki_roots_cert_store())
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    if tls.is_none() {
        DEFAULT_TLS.with(|default| *default.borrow_mut() = Some(config.clone()));
    }
    config
}

/// The shared client for this thread and TLS config.
pub(crate) fn client_for(tls: Option<&Arc<rustls::ClientConfig>>) -> Client {
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        let Some(tls) = tls else {
            return clients
                .default
                .get_or_insert_with(|| new_client(None))
                .clone();
        };
        clients.by_config.retain(|(key, _)| key.strong_count() > 0);
        let key = Arc::as_ptr(tls);
        if let Some((_, client)) = clients.by_config.iter().find(|(k, _)| k.as_ptr() == key) {
            return client.clone();
        }
        let client = new_client(Some(tls));
        clients
            .by_config
            .push((Arc::downgrade(tls), client.clone()));
        client
    })
}

fn new_client(tls: Option<&Arc<rustls::ClientConfig>>) -> Client {
    let connector = Connector::new()
        // Each upgraded socket keeps its permit for life: no cap.
        .limit(0)
        .timeout(CONNECTOR_TIMEOUT)
        .handshake_timeout(CONNECTOR_TIMEOUT)
        .rustls_0_23(http1_tls(tls));
    Client::builder()
        .connector(connector)
        .wrap(super::hints::RetryAfterProbe)
        // A ping URL that redirects is not a round trip (the SSE transport
        // has its own HTTP/1.1 exchange and follows redirects itself).
        .disable_redirects()
        .disable_timeout()
        .finish()
}

/// Converts an attempt's headers for awc; an invalid one is a config error
/// that names the header (or, for an invalid name, which may hold a whole
/// `Name: secret` line, its position), never its (secret) value.
pub(crate) fn header_pairs(
    headers: &[(String, String)],
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    headers
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("header {} of the attempt has an invalid name", i + 1))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("invalid value for header {name:?}"))?;
            Ok((header, value))
        })
        .collect::<Result<_, String>>()
        .map_err(|problem| Error::new(ErrorCategory::Config, problem))
}

/// Converts awc's `!Send` request error (connect, send, response) into our
/// owned, categorised one; shared by the WebSocket handshake and SSE.
///
/// Anything rustls reported is a TLS failure: it travels as the inner error
/// of an `io::Error` (kind `InvalidData`), inside awc's connect error while
/// the handshake runs, or inside the send or response error when the server
/// judges our client certificate after the handshake (TLS 1.3).
pub(crate) fn request_error(err: awc::error::SendRequestError) -> Error {
    use awc::error::SendRequestError as Send;
    if let Some(tls) = tls_cause(&err) {
        return Error::tls(format!("tls handshake failed: {tls}"));
    }
    match err {
        Send::Connect(e) => Error::network(format!("connect failed: {e}")),
        Send::Timeout => Error::timeout("response timed out"),
        Send::Url(e) => Error::new(ErrorCategory::Config, format!("invalid url: {e}")),
        other => Error::network(format!("request failed: {other}")),
    }
}

/// The rustls error under an awc request error, if there is one. awc's
/// errors do not expose their sources, so the io errors are taken out of
/// the variants that hold them, then the chain is walked from there.
fn tls_cause(err: &awc::error::SendRequestError) -> Option<&rustls::Error> {
    use awc::error::{ConnectError, SendRequestError as Send};
    let io = match err {
        Send::Connect(ConnectError::Io(io)) | Send::Send(io) => io,
        Send::Response(actix_http::error::ParseError::Io(io)) => io,
        _ => return None,
    };
    rustls_in(io)
}

/// Walks an error chain for a `rustls::Error`, looking inside io errors
/// (whose `source` skips the error they wrap). Bounded: chains are short,
/// and a cyclic one stops after 16 links.
pub(crate) fn rustls_in<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    for _ in 0..16 {
        let err = next?;
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => err.source(),
        };
    }
    None
}

/// One round trip to a ping URL (a GET answered with a success status),
/// with the `Authorization` made from the ping URL's user info, if any.
pub(crate) async fn measure_ping(
    client: Client,
    target: crate::url::Target,
    timeout: Duration,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let mut request = client.get(target.url.as_str());
    if let Some(authorization) = target.authorization {
        request = request.insert_header((awc::http::header::AUTHORIZATION, authorization));
    }
    let response = actix_rt::time::timeout(timeout, request.send())
        .await
        .map_err(|_| Error::timeout("ping timed out"))?
        .map_err(request_error)?;
    if !response.status().is_success() {
        return Err(Error::new(
            ErrorCategory::Server,
            format!("ping answered {}", response.status()),
        ));
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use std::io;

    use awc::error::{ConnectError, SendRequestError};

    use super::*;

    fn wrapped(err: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    #[test]
    fn rustls_errors_anywhere_in_a_request_error_are_tls() {
        let unknown = || rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let required =
            || rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let cases = [
            SendRequestError::Connect(ConnectError::Io(wrapped(unknown()))),
            SendRequestError::Send(wrapped(required())),
            SendRequestError::Response(actix_http::error::ParseError::Io(wrapped(required()))),
            // Wrapped twice, as a layered stream might.
            SendRequestError::Connect(ConnectError::Io(io::Error::other(wrapped(unknown())))),
        ];
        for err in cases {
            let error = request_error(err);
            assert_eq!(error.category(), ErrorCategory::Tls, "{error}");
            assert!(
                error.message().starts_with("tls handshake failed: "),
                "{error}"
            );
        }
        let plain = request_error(SendRequestError::Connect(ConnectError::Io(
            io::ErrorKind::ConnectionRefused.into(),
        )));
        assert_eq!(plain.category(), ErrorCategory::Network);
        let eof = request_error(SendRequestError::Connect(ConnectError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tls handshake eof",
        ))));
        assert_eq!(eof.category(), ErrorCategory::Network);
    }
}
