//! What a server's close code does, by default and when overridden.

mod common;

use std::time::Duration;

use actix::Addr;
use actix_tether::SupervisorActor;
use actix_tether::{
    CloseAction, ClosePolicy, ConnectionState, ErrorCategory, Payload, SendPayload, StatusChanged,
};
use common::*;

/// Connects, asks the server to close with `code`, and returns the status
/// changes up to Failed or Reconnecting (with the supervisor, kept alive).
async fn close_with(
    code: u16,
    policy: ClosePolicy,
) -> (Vec<StatusChanged>, TestServer, Addr<SupervisorActor>) {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = fast(&server.url())
        .close_policy(policy)
        .protocol_fault_delay(Duration::from_millis(700))
        .build()
        .unwrap();
    add(&supervisor, "c", config).await;
    events.until_state(ConnectionState::Connected).await;
    server
        .wait_for("connect", |e| matches!(e, ServerEvent::Connected { .. }))
        .await;
    let close = SendPayload::new("c", Payload::text(format!("close {code}")));
    supervisor.send(close).await.unwrap().unwrap();
    let mut seen = Vec::new();
    loop {
        let e = events.next_status().await;
        let done = matches!(
            e.to,
            ConnectionState::Failed | ConnectionState::Reconnecting
        );
        seen.push(e);
        if done {
            break;
        }
    }
    (seen, server, supervisor)
}

#[actix::test]
async fn close_1000_from_the_server_reconnects_at_once() {
    let (seen, mut server, _supervisor) = close_with(1000, ClosePolicy::default()).await;
    let lost = seen.last().unwrap();
    assert_eq!(lost.to, ConnectionState::Reconnecting);
    assert_eq!(lost.next_delay, Some(Duration::ZERO));
    let reason = lost.reason.as_ref().unwrap();
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer);
    assert_eq!(reason.close_code(), Some(1000));
    server
        .wait_for("reconnect", |e| {
            matches!(e, ServerEvent::Connected { id: 1, .. })
        })
        .await;
}

#[actix::test]
async fn close_1008_is_an_auth_refusal_that_fails_the_endpoint() {
    let (seen, _server, _supervisor) = close_with(1008, ClosePolicy::default()).await;
    let failed = seen.last().unwrap();
    assert_eq!(failed.to, ConnectionState::Failed);
    let reason = failed.reason.as_ref().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Auth);
    assert!(!reason.is_recoverable());
}

#[actix::test]
async fn protocol_fault_codes_wait_at_least_the_fault_delay() {
    let (seen, _server, _supervisor) = close_with(1002, ClosePolicy::default()).await;
    let lost = seen.last().unwrap();
    assert_eq!(lost.to, ConnectionState::Reconnecting);
    assert_eq!(
        lost.reason.as_ref().unwrap().category(),
        ErrorCategory::Protocol
    );
    assert!(lost.next_delay.unwrap() >= Duration::from_millis(700));
}

#[actix::test]
async fn application_codes_follow_the_user_policy() {
    let (seen, _server, _supervisor) =
        close_with(4001, ClosePolicy::default().with(4001, CloseAction::Stop)).await;
    assert_eq!(seen.last().unwrap().to, ConnectionState::Failed);
    let (seen, _server, _supervisor) =
        close_with(4002, ClosePolicy::default().with(4001, CloseAction::Stop)).await;
    let lost = seen.last().unwrap();
    assert_eq!(lost.to, ConnectionState::Reconnecting);
    assert_eq!(lost.next_delay, Some(Duration::from_millis(100)));
}
