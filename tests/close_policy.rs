//! What a server's close code does, by default and when overridden.

mod common;

use std::time::Duration;

use actix::Addr;
use actix_tether::SupervisorActor;
use actix_tether::{
    ClosePolicy, ConnectionState, EndpointBuilder, ErrorCategory, GetStatus, Payload,
    ReconnectMode, SendPayload, StatusChanged, Verdict,
};
use common::*;

/// Connects, asks the server to close with `code`, and returns the status
/// changes up to Failed, Reconnecting or Closed (with the supervisor, kept
/// alive).
async fn close_with(
    code: u16,
    policy: ClosePolicy,
) -> (Vec<StatusChanged>, TestServer, Addr<SupervisorActor>) {
    let closed = close_configured(code, |config| config.close_policy(policy)).await;
    (closed.seen, closed.server, closed.supervisor)
}

/// What [`close_configured`] leaves: the status changes up to the close's
/// outcome, and the harness, still running.
struct Closed {
    seen: Vec<StatusChanged>,
    server: TestServer,
    supervisor: Addr<SupervisorActor>,
    events: Events,
}

/// As [`close_with`], with the endpoint's settings changed by `configure`.
async fn close_configured(
    code: u16,
    configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
) -> Closed {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = configure(fast(&server.url()).protocol_fault_delay(Duration::from_millis(700)))
        .build()
        .unwrap();
    add(&supervisor, "c", config).await;
    events.until_state(ConnectionState::Connected).await;
    server
        .wait_for("connect", |e| matches!(e, ServerEvent::Connected { .. }))
        .await;
    let seen = ask_to_close(&supervisor, &mut events, code).await;
    Closed {
        seen,
        server,
        supervisor,
        events,
    }
}

/// Asks the server to close endpoint `c` with `code`; returns the status
/// changes up to Failed, Reconnecting or Closed.
async fn ask_to_close(
    supervisor: &Addr<SupervisorActor>,
    events: &mut Events,
    code: u16,
) -> Vec<StatusChanged> {
    let close = SendPayload::new("c", Payload::text(format!("close {code}")));
    supervisor.send(close).await.unwrap().unwrap();
    let mut seen = Vec::new();
    loop {
        let e = events.next_status().await;
        let done = matches!(
            e.to,
            ConnectionState::Failed | ConnectionState::Reconnecting | ConnectionState::Closed
        );
        seen.push(e);
        if done {
            return seen;
        }
    }
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
        close_with(4001, ClosePolicy::default().with(4001, Verdict::Fail)).await;
    assert_eq!(seen.last().unwrap().to, ConnectionState::Failed);
    let (seen, _server, _supervisor) =
        close_with(4002, ClosePolicy::default().with(4001, Verdict::Fail)).await;
    let lost = seen.last().unwrap();
    assert_eq!(lost.to, ConnectionState::Reconnecting);
    assert_eq!(lost.next_delay, Some(Duration::from_millis(100)));
}

#[actix::test]
async fn max_protocol_faults_fails_the_endpoint_at_that_many_faults() {
    let Closed {
        seen,
        supervisor,
        mut events,
        ..
    } = close_configured(1002, |config| {
        config
            .max_protocol_faults(2)
            .protocol_fault_delay(Duration::from_millis(100))
    })
    .await;
    assert_eq!(seen.last().unwrap().to, ConnectionState::Reconnecting);
    events.until_state(ConnectionState::Connected).await;
    let seen = ask_to_close(&supervisor, &mut events, 1002).await;
    let failed = seen.last().unwrap();
    assert_eq!(failed.to, ConnectionState::Failed, "{seen:?}");
    let reason = failed.reason.as_ref().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Exhausted);
    assert!(!reason.is_recoverable());
}

#[actix::test]
async fn a_one_shot_endpoint_ends_closed_after_a_clean_close() {
    let Closed {
        seen, supervisor, ..
    } = close_configured(1000, |config| config.reconnect(ReconnectMode::OnFailure)).await;
    let closed = seen.last().unwrap();
    assert_eq!(closed.from, ConnectionState::Connected);
    assert_eq!(closed.to, ConnectionState::Closed);
    let reason = closed.reason.as_ref().unwrap();
    assert_eq!(reason.close_code(), Some(1000));
    assert!(!reason.is_recoverable());
    let status = supervisor.send(GetStatus::new("c")).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Closed);
}

#[actix::test]
async fn reconnect_on_failure_still_retries_other_codes_and_never_fails_them() {
    let closed = close_configured(1011, |config| config.reconnect(ReconnectMode::OnFailure)).await;
    assert_eq!(
        closed.seen.last().unwrap().to,
        ConnectionState::Reconnecting
    );
    let closed = close_configured(1011, |config| config.reconnect(ReconnectMode::Never)).await;
    let failed = closed.seen.last().unwrap();
    assert_eq!(failed.to, ConnectionState::Failed);
    assert_eq!(failed.reason.as_ref().unwrap().close_code(), Some(1011));
    let closed = close_configured(1000, |config| config.reconnect(ReconnectMode::Never)).await;
    assert_eq!(closed.seen.last().unwrap().to, ConnectionState::Closed);
}

/// A raw TCP server that upgrades one WebSocket handshake and, in the same
/// write, sends a close frame with `code` and drops the connection.
async fn close_and_drop_server(code: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = actix_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_rt::spawn(async move {
        // One connection is enough: the endpoint must fail on it.
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            let Ok(n) = stream.read(&mut buf).await else {
                return;
            };
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&request);
        let key = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("a websocket key");
        let accept = actix_http::ws::hash_key(key.as_bytes());
        let mut answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        )
        .into_bytes();
        let [hi, lo] = code.to_be_bytes();
        answer.extend_from_slice(&[0x88, 0x02, hi, lo]);
        let _ = stream.write_all(&answer).await;
        // Dropped here: FIN right behind the close frame.
    });
    format!("ws://127.0.0.1:{port}/ws")
}

#[actix::test]
async fn a_close_code_counts_when_the_peer_drops_tcp_right_after_it() {
    let url = close_and_drop_server(1008).await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "c", fast(&url).build().unwrap()).await;
    let seen = events.until_state(ConnectionState::Failed).await;
    assert!(
        !seen.iter().any(|e| e.to == ConnectionState::Reconnecting),
        "{seen:?}"
    );
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Auth, "{reason}");
    assert_eq!(reason.close_code(), Some(1008));
}
