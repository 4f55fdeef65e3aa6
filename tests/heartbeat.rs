//! Heartbeats: half-open peers are detected, round trips reach the monitor,
//! and an application-level heartbeat works with servers that need one.

mod common;

use std::time::{Duration, Instant};

use actix_tether::{
    ConnectionState, EndpointBuilder, ErrorCategory, GetHealthReport, Payload, SendPayload,
};
use common::*;

/// Connects an endpoint built by `configure` to a server that upgrades and
/// then never answers; returns how long after Connected the endpoint gave
/// the peer up, and why.
async fn time_to_detect_silence(
    configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
) -> (Duration, actix_tether::Error) {
    let server = TestServer::start().await;
    server.set_mode(Mode::Silent);
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(
        &supervisor,
        "quiet",
        configure(fast(&server.url())).build().unwrap(),
    )
    .await;
    events.until_state(ConnectionState::Connected).await;
    let connected_at = Instant::now();
    let seen = events.until_state(ConnectionState::Reconnecting).await;
    let detected_after = connected_at.elapsed();
    let reason = seen.last().unwrap().reason.clone().unwrap();
    (detected_after, reason)
}

#[actix::test]
async fn half_open_peer_is_detected_within_interval_times_max_missed() {
    let interval = Duration::from_millis(200);
    let (detected_after, reason) =
        time_to_detect_silence(|config| config.heartbeat_interval(interval).max_missed(3)).await;
    assert_eq!(reason.category(), ErrorCategory::Heartbeat);
    assert!(reason.message().contains("heartbeat timed out"), "{reason}");
    let bound = interval * 3;
    // Never early; late only by scheduling slack on a loaded machine.
    assert!(
        detected_after >= bound - Duration::from_millis(50),
        "{detected_after:?}"
    );
    assert!(
        detected_after <= bound + Duration::from_secs(2),
        "{detected_after:?}"
    );
}

#[actix::test]
async fn a_silence_timeout_shorter_than_the_interval_fires_on_time() {
    let timeout = Duration::from_millis(500);
    let (detected_after, reason) = time_to_detect_silence(|config| {
        config
            .heartbeat_interval(Duration::from_secs(30))
            .heartbeat_timeout(timeout)
    })
    .await;
    assert_eq!(reason.category(), ErrorCategory::Heartbeat);
    assert!(
        detected_after >= timeout - Duration::from_millis(50),
        "{detected_after:?}"
    );
    // Far below the 30 s interval: the deadline does not wait for a tick.
    assert!(
        detected_after <= timeout + Duration::from_secs(3),
        "{detected_after:?}"
    );
}

#[actix::test]
async fn a_peer_that_goes_silent_mid_connection_is_restarted() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "s", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    supervisor
        .send(SendPayload::new("s", Payload::text("silent")))
        .await
        .unwrap()
        .unwrap();
    let seen = events.until_state(ConnectionState::Connected).await;
    let lost = seen
        .iter()
        .find(|e| e.to == ConnectionState::Reconnecting)
        .unwrap();
    assert_eq!(
        lost.reason.as_ref().unwrap().category(),
        ErrorCategory::Heartbeat
    );
    assert_eq!(seen.last().unwrap().generation, 2);
    server
        .wait_for("second connection", |e| {
            matches!(e, ServerEvent::Connected { id: 1, .. })
        })
        .await;
}

#[actix::test]
async fn round_trips_reach_the_monitor_and_the_report_reflects_the_scenario() {
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let config = fast(&server.url())
        .heartbeat_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    add(&supervisor, "live", config).await;
    let down = format!("ws://127.0.0.1:{}/ws", closed_port());
    add(
        &supervisor,
        "dead",
        fast(&down).max_attempts(1).build().unwrap(),
    )
    .await;
    let mut states = std::collections::HashMap::new();
    while states.get("live") != Some(&ConnectionState::Connected)
        || states.get("dead") != Some(&ConnectionState::Failed)
    {
        let e = events.next_status().await;
        states.insert(e.endpoint.to_string(), e.to);
    }
    // Heartbeats flow; samples are flushed on the first tick 5 s after the last flush.
    let deadline = Instant::now() + WAIT;
    let report = loop {
        let report = supervisor.send(GetHealthReport::default()).await.unwrap();
        if report.endpoint("live").is_some_and(|e| e.latency.is_some()) {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "no RTT sample reached the monitor: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let live = report.endpoint("live").unwrap();
    let latency = live.latency.unwrap();
    assert!(latency.samples >= 1);
    assert!(latency.min <= latency.p50 && latency.p50 <= latency.p99);
    assert!(live.heartbeats.sent >= 1 && live.heartbeats.acknowledged >= 1);
    assert_eq!(live.state, ConnectionState::Connected);
    assert_eq!(live.connects.successes, 1);
    assert_eq!(live.score, 100);
    assert!(live.uptime.is_some());

    let dead = report.endpoint("dead").unwrap();
    assert_eq!(dead.state, ConnectionState::Failed);
    assert_eq!(dead.score, 0);
    assert_eq!(dead.connects.attempts, 1);
    assert_eq!(dead.connects.failures, 1);
    assert_eq!(dead.errors.get(&ErrorCategory::Exhausted), Some(&1));
    assert_eq!(report.overall, 50);
}

#[actix::test]
async fn application_heartbeat_replies_are_consumed_and_keep_the_connection() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    // The test server echoes text, so each ping comes back as its own reply.
    let config = fast(&server.url())
        .heartbeat_interval(Duration::from_millis(100))
        .application_heartbeat(
            |seq| Payload::text(format!(r#"{{"type":"ping","seq":{seq}}}"#)),
            |p| {
                p.as_text()
                    .is_some_and(|t| t.starts_with(r#"{"type":"ping""#))
            },
        )
        .build()
        .unwrap();
    add(&supervisor, "app", config).await;
    events.until_state(ConnectionState::Connected).await;
    for _ in 0..3 {
        server
            .wait_for(
                "app ping",
                |e| matches!(e, ServerEvent::Text { text, .. } if text.contains("ping")),
            )
            .await;
    }
    supervisor
        .send(SendPayload::new("app", Payload::text("user data")))
        .await
        .unwrap()
        .unwrap();
    // Heartbeat replies were not delivered; the first message is the user's.
    assert_eq!(events.next_text().await.1, "user data");
    assert!(events.status.try_recv().is_err(), "connection stayed up");
}
