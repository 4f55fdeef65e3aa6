//! What the HTTP-based transports share: one `awc::Client` per arbiter
//! thread and TLS config, handshake headers, awc's request errors, and the
//! round trip to a ping URL.
//!
//! awc's client is `!Send` and holds a connector pool, so each arbiter builds
//! its own once and every connection on that thread shares it.

use std::{
    cell::RefCell,
    sync::Arc,
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

thread_local! {
    /// Keyed by the user's TLS config (held, so its address stays unique).
    static CLIENTS: RefCell<Vec<(Option<Arc<rustls::ClientConfig>>, Client)>> =
        const { RefCell::new(Vec::new()) };
}

fn same(a: Option<&Arc<rustls::ClientConfig>>, b: Option<&Arc<rustls::ClientConfig>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// The TLS config awc will use: HTTP/1.1 only in ALPN, because a WebSocket
/// upgrade cannot run over an HTTP/2 connection in awc.
fn http1_tls(tls: Option<&Arc<rustls::ClientConfig>>) -> Arc<rustls::ClientConfig> {
    let mut config = match tls {
        Some(user) => (**user).clone(),
        None => rustls::ClientConfig::builder()
            .with_root_certificates(actix_tls::connect::rustls_0_23::webpki_roots_cert_store())
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The shared client for this thread and TLS config.
pub(crate) fn client_for(tls: Option<&Arc<rustls::ClientConfig>>) -> Client {
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        if let Some((_, client)) = clients.iter().find(|(k, _)| same(k.as_ref(), tls)) {
            return client.clone();
        }
        let connector = Connector::new()
            // Each upgraded socket keeps its permit for life: no cap.
            .limit(0)
            .timeout(CONNECTOR_TIMEOUT)
            .handshake_timeout(CONNECTOR_TIMEOUT)
            .rustls_0_23(http1_tls(tls));
        let client = Client::builder()
            .connector(connector)
            .wrap(super::hints::RetryAfterProbe)
            // SSE follows redirects itself, to reconnect to the final URL.
            .disable_redirects()
            .disable_timeout()
            .finish();
        clients.push((tls.cloned(), client.clone()));
        client
    })
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
pub(crate) fn request_error(err: awc::error::SendRequestError) -> Error {
    use awc::error::SendRequestError as Send;
    match err {
        Send::Connect(e) => Error::network(format!("connect failed: {e}")),
        Send::Timeout => Error::timeout("response timed out"),
        Send::Url(e) => Error::new(ErrorCategory::Config, format!("invalid url: {e}")),
        other => Error::network(format!("request failed: {other}")),
    }
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
