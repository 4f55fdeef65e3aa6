//! One `awc::Client` per arbiter thread and TLS config.
//!
//! awc's client is `!Send` and holds a connector pool, so each arbiter builds
//! its own once and every connection actor on that thread shares it.

use std::{cell::RefCell, sync::Arc, time::Duration};

use awc::{Client, Connector};

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
