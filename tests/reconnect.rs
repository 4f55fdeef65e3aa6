//! Reconnection: server restarts, growing delays, max attempts, forced
//! reconnects, handshake refusals.

mod common;

use std::{sync::Arc, time::Duration};

use actix_tether::{
    ConnectionState, ErrorCategory, GetStatus, OnAuthFailure, Reconnect, SupervisorConfig,
};
use common::{sse_server::fast_sse, *};

#[actix::test]
async fn reconnects_with_growing_delays_after_the_server_dies_and_returns() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "svc", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;

    server.stop().await;
    // Collect four failed attempts while the server is down.
    let mut delays = Vec::new();
    while delays.len() < 4 {
        let e = events.next_status().await;
        if e.to == ConnectionState::Reconnecting {
            assert!(e.reason.is_some(), "a reconnect says why");
            delays.push(e.next_delay.expect("reconnecting carries the delay"));
        }
    }
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "delays must grow: {delays:?}"
    );
    assert_eq!(delays[0], Duration::from_millis(100));

    server.restart().await;
    let seen = events.until_state(ConnectionState::Connected).await;
    assert_eq!(
        seen.last().unwrap().generation,
        2,
        "second successful connection"
    );
    server
        .wait_for("reconnect", |e| matches!(e, ServerEvent::Connected { .. }))
        .await;
}

#[actix::test]
async fn gives_up_after_max_attempts_and_a_forced_reconnect_revives_it() {
    let port = closed_port();
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let url = format!("ws://127.0.0.1:{port}/ws");
    add(
        &supervisor,
        "down",
        fast(&url).max_attempts(3).build().unwrap(),
    )
    .await;

    let seen = events.until_state(ConnectionState::Failed).await;
    let failed = seen.last().unwrap();
    let reason = failed.reason.as_ref().expect("failed says why");
    assert_eq!(reason.category(), ErrorCategory::Exhausted);
    assert!(reason.message().contains("max attempts"), "{reason}");
    assert_eq!(failed.attempt, 3);
    let attempts = seen
        .iter()
        .filter(|e| e.to == ConnectionState::Connecting)
        .count();
    assert_eq!(attempts, 3);

    // Still registered; a server appears and a forced reconnect revives it.
    let status = supervisor
        .send(GetStatus::new("down"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, ConnectionState::Failed);
    let mut server = TestServer::start().await;
    let url = server.url();
    supervisor
        .send(actix_tether::RemoveEndpoint::new("down"))
        .await
        .unwrap()
        .unwrap();
    add(
        &supervisor,
        "revived",
        fast(&url).max_attempts(1).build().unwrap(),
    )
    .await;
    events.until_state(ConnectionState::Connected).await;
    server.stop().await;
    events.until_state(ConnectionState::Failed).await;
    server.restart().await;
    supervisor
        .send(Reconnect::endpoint("revived"))
        .await
        .unwrap()
        .unwrap();
    let seen = events.until_state(ConnectionState::Connected).await;
    assert_eq!(seen.first().unwrap().from, ConnectionState::Failed);
    assert_eq!(seen.last().unwrap().generation, 2);
}

#[actix::test]
async fn forced_reconnect_of_a_live_connection_opens_a_new_one() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "a", fast(&server.url()).build().unwrap()).await;
    add(&supervisor, "b", fast(&server.url()).build().unwrap()).await;
    events.count_state(ConnectionState::Connected, 2).await;
    supervisor.send(Reconnect::all()).await.unwrap().unwrap();
    let mut generations = Vec::new();
    while generations.len() < 2 {
        let e = events.next_status().await;
        if e.to == ConnectionState::Connected {
            generations.push(e.generation);
        }
    }
    assert_eq!(generations, vec![2, 2]);
    let mut connects = 0;
    while connects < 4 {
        if matches!(server.next_event().await, ServerEvent::Connected { .. }) {
            connects += 1;
        }
    }
}

#[actix::test]
async fn handshake_401_fails_without_retry_and_503_retries_after_the_server_hint() {
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;

    server.set_mode(Mode::Refuse(401, None));
    add(&supervisor, "auth", fast(&server.url()).build().unwrap()).await;
    let seen = events.until_state(ConnectionState::Failed).await;
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Auth);
    assert_eq!(reason.http_status(), Some(401));
    assert!(!seen.iter().any(|e| e.to == ConnectionState::Reconnecting));

    server.set_mode(Mode::Refuse(503, Some(1)));
    add(
        &supervisor,
        "busy",
        fast(&server.url())
            .on_auth_failure(OnAuthFailure::Fail)
            .build()
            .unwrap(),
    )
    .await;
    let e = loop {
        let e = events.next_status().await;
        if e.endpoint.as_str() == "busy" && e.to == ConnectionState::Reconnecting {
            break e;
        }
    };
    let reason = e.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Server);
    assert_eq!(reason.http_status(), Some(503));
    // The server's Retry-After (1 s) outweighs the 100 ms backoff step.
    assert_eq!(reason.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(e.next_delay, Some(Duration::from_secs(1)));
    server.set_mode(Mode::Normal);
    loop {
        let e = events.next_status().await;
        if e.endpoint.as_str() == "busy" && e.to == ConnectionState::Connected {
            break;
        }
    }
}

#[actix::test]
async fn header_provider_is_called_on_every_attempt() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let minted = counter.clone();
    let config = fast(&server.url())
        .header_provider(move || {
            let n = minted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            vec![("Authorization".to_owned(), format!("Bearer token-{n}"))]
        })
        .build()
        .unwrap();
    add(&supervisor, "tok", config).await;
    let first = server
        .wait_for("connect", |e| matches!(e, ServerEvent::Connected { .. }))
        .await;
    events.until_state(ConnectionState::Connected).await;
    supervisor
        .send(Reconnect::endpoint("tok"))
        .await
        .unwrap()
        .unwrap();
    let second = server
        .wait_for("reconnect", |e| matches!(e, ServerEvent::Connected { .. }))
        .await;
    let token = |e: ServerEvent| match e {
        ServerEvent::Connected { authorization, .. } => authorization.unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(token(first), "Bearer token-0");
    assert_eq!(token(second), "Bearer token-1");
}

#[actix::test]
async fn reconnect_spread_scatters_a_fleet_dropped_at_once() {
    let mut server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let spread = Duration::from_secs(2);
    for i in 0..6 {
        let config = fast(&server.url())
            .reconnect_spread(spread)
            .build()
            .unwrap();
        add(&supervisor, &format!("f{i}"), config).await;
    }
    events.count_state(ConnectionState::Connected, 6).await;
    server.stop().await;
    let lost = events.count_state(ConnectionState::Reconnecting, 6).await;
    let delays: Vec<Duration> = lost.iter().map(|e| e.next_delay.unwrap()).collect();
    let base = Duration::from_millis(100);
    assert!(
        delays.iter().all(|d| *d >= base && *d < base + spread),
        "{delays:?}"
    );
    let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
    assert!(
        *max - *min > Duration::from_millis(100),
        "not spread: {delays:?}"
    );
}

/// A fleet that drops at once comes back at the supervisor's
/// `reconnect_rate`, not all within the first backoff delay.
#[actix::test]
async fn a_fleet_that_drops_at_once_reconnects_at_the_supervisor_rate() {
    const FLEET: usize = 12;
    let config = SupervisorConfig::default().arbiters(2).reconnect_rate(10);
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::with_config(config).await;
    for i in 0..FLEET {
        add(
            &supervisor,
            &format!("e{i}"),
            fast(&server.url()).build().unwrap(),
        )
        .await;
    }
    events.count_state(ConnectionState::Connected, FLEET).await;

    server.stop().await;
    let dropped = std::time::Instant::now();
    server.restart().await;
    // Every endpoint retries after 100 ms of backoff; at 10 attempts per
    // second (one per 100 ms window) the twelfth retry cannot come before
    // about 1.2 s. Without the cap all would be back within the backoff.
    let back = events.count_state(ConnectionState::Connected, FLEET).await;
    let took = dropped.elapsed();
    let endpoints: std::collections::BTreeSet<_> =
        back.iter().map(|e| e.endpoint.clone()).collect();
    assert_eq!(endpoints.len(), FLEET, "every endpoint reconnected once");
    assert!(
        took >= Duration::from_millis(1000),
        "reconnects were not paced: all back after {took:?}"
    );
}

#[actix::test]
async fn a_200_answer_to_the_upgrade_is_rejected_and_fails_at_once() {
    let server = TestServer::start().await;
    server.set_mode(Mode::Refuse(200, None));
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "page", fast(&server.url()).build().unwrap()).await;
    let seen = events.until_state(ConnectionState::Failed).await;
    assert!(!seen.iter().any(|e| e.to == ConnectionState::Reconnecting));
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Rejected);
    assert_eq!(reason.http_status(), Some(200));
    assert!(!reason.is_recoverable());
}

/// A server that reads each request and then drops the connection after a
/// short while, answering nothing: every attempt stays in flight until the
/// drop. It records the request paths and the most connections it held
/// open at once (a connection counts as closed before it is dropped, so
/// the client sees the end only after that).
async fn stalling_server() -> (u16, Arc<std::sync::Mutex<(usize, usize, Vec<String>)>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // (open now, most open at once, paths seen)
    let seen = Arc::new(std::sync::Mutex::new((0, 0, Vec::new())));
    let shared = seen.clone();
    actix_rt::spawn(async move {
        for _ in 0..10_000 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            {
                let mut s = shared.lock().unwrap();
                s.0 += 1;
                s.1 = s.1.max(s.0);
            }
            let shared = shared.clone();
            actix_rt::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                let read = async {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                };
                let _ = actix_rt::time::timeout(Duration::from_secs(5), read).await;
                let path = String::from_utf8_lossy(&head)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                actix_rt::time::sleep(Duration::from_millis(30)).await;
                let mut s = shared.lock().unwrap();
                s.0 -= 1;
                s.2.push(path);
                drop(s);
                drop(stream);
            });
        }
    });
    (port, seen)
}

/// Runs six SSE endpoints against the stalling server until every one has
/// been seen twice; returns the most connections open at once.
async fn most_attempts_in_flight(config: SupervisorConfig) -> usize {
    let (port, seen) = stalling_server().await;
    let supervisor = actix::Actor::start(actix_tether::SupervisorActor::new(config.arbiters(2)));
    for i in 0..6 {
        let url = format!("http://127.0.0.1:{port}/e{i}");
        add(
            &supervisor,
            &format!("e{i}"),
            fast_sse(&url).build().unwrap(),
        )
        .await;
    }
    let all_twice = async {
        loop {
            {
                let s = seen.lock().unwrap();
                if (0..6).all(|i| s.2.iter().filter(|p| **p == format!("/e{i}")).count() >= 2) {
                    return s.1;
                }
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let most = actix_rt::time::timeout(WAIT, all_twice)
        .await
        .expect("every endpoint attempts twice within the wait");
    let _ = supervisor.send(actix_tether::Shutdown).await;
    most
}

#[actix::test]
async fn attempts_in_flight_stay_within_max_connecting_and_every_endpoint_gets_its_turn() {
    let capped = most_attempts_in_flight(SupervisorConfig::default().max_connecting(2)).await;
    assert!(capped <= 2, "{capped} attempts in flight at once, cap 2");
    assert_eq!(capped, 2, "the cap's slots are used");
    // Without the cap, all six go at once: the server can tell.
    let uncapped = most_attempts_in_flight(SupervisorConfig::default().max_connecting(0)).await;
    assert!(uncapped > 2, "uncapped: {uncapped} at once");
}
