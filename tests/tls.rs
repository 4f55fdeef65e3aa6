//! `wss://` against an in-process TLS server with a generated test certificate.

mod common;

use std::sync::Arc;

use actix::Actor;
use actix_tether::{
    ConnectionState, ErrorCategory, Payload, SendPayload, SupervisorActor, SupervisorConfig,
};
use common::*;

fn certificate() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_der = cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[actix::test]
async fn wss_connects_with_a_trusted_test_certificate_and_refuses_an_untrusted_one() {
    let (server_tls, client_tls) = certificate();
    let mut server = TestServer::start_tls(server_tls).await;
    assert!(server.url().starts_with("wss://"));

    let supervisor =
        SupervisorActor::new(SupervisorConfig::default().arbiters(1).tls(client_tls)).start();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "secure", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    supervisor
        .send(SendPayload::new("secure", Payload::text("over tls")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events.next_text().await.1, "over tls");
    server
        .wait_for(
            "text",
            |e| matches!(e, ServerEvent::Text { text, .. } if text == "over tls"),
        )
        .await;

    // The default roots do not trust the test certificate.
    let default_roots = common::supervisor();
    let mut untrusted = Events::start();
    untrusted.subscribe_all(&default_roots).await;
    add(
        &default_roots,
        "untrusted",
        fast(&server.url()).max_attempts(1).build().unwrap(),
    )
    .await;
    let seen = untrusted.until_state(ConnectionState::Failed).await;
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Exhausted);
    assert!(reason.message().contains("connect failed"), "{reason}");
}
