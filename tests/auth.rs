//! The authentication handshake: accepted, rejected, timed out; a fresh
//! token on every reconnect; on-connect messages and the outbox held until
//! Authenticated.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use actix_tether::{AuthReply, ConnectionState, ErrorCategory, Payload, Reconnect, SendPayload};
use common::*;

/// `auth TOKEN` messages with TOKEN from `tokens`, in turn; the server's
/// `auth-ok` / `auth-denied` are the verdicts.
fn authenticating(url: &str, tokens: Vec<&'static str>) -> actix_tether::EndpointBuilder {
    let next = Arc::new(AtomicUsize::new(0));
    fast(url).authenticate(
        move || {
            let i = next.fetch_add(1, Ordering::SeqCst);
            Payload::text(format!("auth {}", tokens[i.min(tokens.len() - 1)]))
        },
        |reply| match reply.as_text() {
            Some("auth-ok") => AuthReply::Accepted,
            Some("auth-denied") => AuthReply::Rejected("denied".into()),
            _ => AuthReply::NotMine,
        },
        Duration::from_millis(500),
    )
}

#[actix::test]
async fn accepted_auth_comes_before_on_connect_messages_and_the_outbox() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config =
        authenticating(&server.url(), vec!["tok-0", "tok-1"]).on_connect("n subscribe prices");
    add(&supervisor, "a", config.build().unwrap()).await;
    // Queued before the connection is authenticated.
    let mut receipts = Vec::new();
    for i in 0..3 {
        receipts.push(
            supervisor
                .send(SendPayload::new("a", format!("n {i}")))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let seen = events.until_state(ConnectionState::Authenticated).await;
    assert_eq!(seen.last().unwrap().from, ConnectionState::Connected);
    for receipt in receipts {
        assert!(receipt.outcome().await.is_ok());
    }
    let texts = server.next_texts(5).await;
    assert_eq!(
        texts,
        ["auth tok-0", "n subscribe prices", "n 0", "n 1", "n 2"]
    );

    // A reconnect authenticates again with a fresh token.
    supervisor
        .send(Reconnect::endpoint("a"))
        .await
        .unwrap()
        .unwrap();
    let again = server
        .wait_for(
            "re-auth",
            |e| matches!(e, ServerEvent::Text { text, .. } if text.starts_with("auth")),
        )
        .await;
    assert!(matches!(again, ServerEvent::Text { text, .. } if text == "auth tok-1"));
    events.until_state(ConnectionState::Authenticated).await;
    // The verdict was consumed, not delivered.
    assert!(events.messages.try_recv().is_err());
}

#[actix::test]
async fn rejected_and_timed_out_auth_fail_without_retry() {
    let Harness {
        server,
        supervisor,
        mut events,
    } = Harness::start().await;
    for (token, expected) in [("bad", "rejected: denied"), ("mute", "timed out")] {
        let config = authenticating(&server.url(), vec![token]).build().unwrap();
        add(&supervisor, token, config).await;
        let seen = events.until_state(ConnectionState::Failed).await;
        let reason = seen.last().unwrap().reason.clone().unwrap();
        assert_eq!(reason.category(), ErrorCategory::Auth);
        assert!(reason.message().contains(expected), "{token}: {reason}");
        assert!(!seen.iter().any(|e| e.to == ConnectionState::Reconnecting));
    }
}

#[actix::test]
async fn queued_messages_fail_when_authentication_fails() {
    let Harness {
        server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(
        &supervisor,
        "bad",
        authenticating(&server.url(), vec!["bad"]).build().unwrap(),
    )
    .await;
    let receipt = supervisor
        .send(SendPayload::new("bad", "n held"))
        .await
        .unwrap()
        .unwrap();
    events.until_state(ConnectionState::Failed).await;
    let err = receipt.outcome().await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Auth);
    assert!(err.message().contains("endpoint failed"), "{err}");
}
