//! SSE endpoints against an in-process actix-web SSE server: named events,
//! resume with Last-Event-ID, retry:, status codes, limits, silence,
//! redirects.

mod common;

use std::time::Duration;

use actix_tether::{
    ConnectionState, ErrorCategory, GetStatus, Payload, Reconnect, SendPayload, StatusChanged,
};
use common::{sse_server::*, *};

async fn setup(
    mode: SseMode,
) -> (
    SseServer,
    actix::Addr<actix_tether::SupervisorActor>,
    Events,
) {
    let server = SseServer::start(mode).await;
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    (server, supervisor, events)
}

/// Status changes of endpoint `id` until it enters `to`.
async fn until(events: &mut Events, to: ConnectionState) -> StatusChanged {
    events.until_state(to).await.pop().unwrap()
}

#[actix::test]
async fn named_events_arrive_with_type_id_and_data_and_liveness_events_are_not_delivered() {
    let (mut server, supervisor, mut events) = setup(SseMode::Named).await;
    let config = fast_sse(&server.url("/events"))
        .liveness_event("heartbeat")
        .build()
        .unwrap();
    add(&supervisor, "relay", config).await;
    until(&mut events, ConnectionState::Connected).await;
    let request = server.next_request().await;
    assert_eq!(request.accept.as_deref(), Some("text/event-stream"));
    assert_eq!(request.cache_control.as_deref(), Some("no-cache"));
    assert_eq!(request.last_event_id, None);

    assert_eq!(
        events.next_event().await,
        (
            "connected".into(),
            "{\"session\":\"s\"}".into(),
            Some("c1".into())
        )
    );
    assert_eq!(
        events.next_event().await,
        (
            "tool-request".into(),
            "{\"tool\":\"search\",\n\"q\":\"rust\"}".into(),
            Some("t1".into())
        )
    );
    assert_eq!(
        events.next_event().await,
        ("error".into(), "oops".into(), Some("e1".into()))
    );

    let refused = supervisor
        .send(SendPayload::new("relay", Payload::text("hi")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.message().contains("receive-only"), "{refused}");
}

#[actix::test]
async fn resumes_after_20_drops_with_every_event_exactly_once_in_order() {
    let (mut server, supervisor, mut events) = setup(SseMode::Log {
        total: 200,
        per_connection: 10,
    })
    .await;
    add(
        &supervisor,
        "log",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let mut received = Vec::new();
    while received.len() < 200 {
        let (kind, data, id) = events.next_event().await;
        assert_eq!(kind, "tick");
        assert_eq!(id.as_deref(), Some(data.as_str()));
        received.push(data.parse::<u64>().unwrap());
    }
    assert_eq!(received, (1..=200).collect::<Vec<_>>());
    // The server saw 20 connections, each resuming where the last one ended.
    let mut resumed_from = Vec::new();
    for _ in 0..20 {
        resumed_from.push(server.next_request().await.last_event_id);
    }
    let expected: Vec<Option<String>> = std::iter::once(None)
        .chain((1..20).map(|i| Some((i * 10).to_string())))
        .collect();
    assert_eq!(resumed_from, expected);
    let status = supervisor
        .send(GetStatus::new("log"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.generation, 20);
}

#[actix::test]
async fn retry_field_sets_the_reconnect_delay_floor() {
    let (server, supervisor, mut events) = setup(SseMode::Retry(700)).await;
    add(
        &supervisor,
        "r",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let lost = until(&mut events, ConnectionState::Reconnecting).await;
    assert_eq!(lost.reason.unwrap().message(), "event stream ended");
    assert_eq!(lost.next_delay, Some(Duration::from_millis(700)));
}

#[actix::test]
async fn status_204_stops_for_good() {
    let (server, supervisor, mut events) = setup(SseMode::Status(204, None)).await;
    add(
        &supervisor,
        "stop",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let closed = until(&mut events, ConnectionState::Closed).await;
    assert_eq!(closed.from, ConnectionState::Connecting);
    assert_eq!(closed.reason.unwrap().http_status(), Some(204));
    let status = supervisor
        .send(GetStatus::new("stop"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, ConnectionState::Closed);
    let err = supervisor
        .send(Reconnect::endpoint("stop"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
}

#[actix::test]
async fn status_503_with_retry_after_delays_the_retry() {
    let (server, supervisor, mut events) = setup(SseMode::Status(503, Some(2))).await;
    add(
        &supervisor,
        "busy",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let lost = until(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Server);
    assert_eq!(reason.http_status(), Some(503));
    assert_eq!(lost.next_delay, Some(Duration::from_secs(2)));
}

#[actix::test]
async fn status_404_401_and_a_wrong_content_type_fail_with_clear_errors() {
    let (server, supervisor, mut events) = setup(SseMode::Status(404, None)).await;
    add(
        &supervisor,
        "missing",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let failed = until(&mut events, ConnectionState::Failed).await;
    let reason = failed.reason.unwrap();
    assert_eq!(reason.http_status(), Some(404));
    assert!(reason.message().contains("404"), "{reason}");

    server.set_mode(SseMode::Status(401, None));
    add(
        &supervisor,
        "denied",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let failed = until(&mut events, ConnectionState::Failed).await;
    let reason = failed.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Auth);
    assert_eq!(reason.http_status(), Some(401));

    server.set_mode(SseMode::WrongType);
    add(
        &supervisor,
        "plain",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    let failed = until(&mut events, ConnectionState::Failed).await;
    let reason = failed.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Rejected);
    assert!(reason.message().contains("text/plain"), "{reason}");
}

#[actix::test]
async fn an_over_long_line_is_a_protocol_error_and_a_reconnect() {
    let (server, supervisor, mut events) = setup(SseMode::LongLine(64 * 1024)).await;
    let config = fast_sse(&server.url("/events"))
        .max_event_size(1024)
        .build()
        .unwrap();
    add(&supervisor, "long", config).await;
    let lost = until(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Protocol);
    assert!(
        reason.message().contains("larger than the 1024 byte limit"),
        "{reason}"
    );
    // The endpoint keeps trying (and keeps failing the same way).
    until(&mut events, ConnectionState::Connecting).await;
}

#[actix::test]
async fn a_silent_stream_is_detected_by_the_heartbeat_timeout() {
    let (server, supervisor, mut events) = setup(SseMode::Silent).await;
    let config = fast_sse(&server.url("/events"))
        .heartbeat_interval(Duration::from_millis(200))
        .max_missed(3)
        .build()
        .unwrap();
    add(&supervisor, "quiet", config).await;
    until(&mut events, ConnectionState::Connected).await;
    let started = std::time::Instant::now();
    let lost = until(&mut events, ConnectionState::Reconnecting).await;
    assert_eq!(lost.reason.unwrap().category(), ErrorCategory::Heartbeat);
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
}

#[actix::test]
async fn redirects_are_followed_and_later_reconnects_use_the_final_url() {
    let (mut server, supervisor, mut events) = setup(SseMode::Log {
        total: 3,
        per_connection: 2,
    })
    .await;
    add(
        &supervisor,
        "moved",
        fast_sse(&server.url("/old")).build().unwrap(),
    )
    .await;
    let mut data = Vec::new();
    while data.len() < 3 {
        data.push(events.next_event().await.1);
    }
    assert_eq!(data, ["1", "2", "3"]);
    let mut paths = Vec::new();
    for _ in 0..3 {
        paths.push(server.next_request().await.path);
    }
    assert_eq!(
        paths,
        ["/old", "/events", "/events"],
        "the reconnect skips /old"
    );
}

#[actix::test]
async fn the_ping_url_gives_round_trip_samples() {
    let (server, supervisor, mut events) = setup(SseMode::Silent).await;
    let config = fast_sse(&server.url("/events"))
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(60))
        .ping_url(server.url("/ping"))
        .build()
        .unwrap();
    add(&supervisor, "pinged", config).await;
    until(&mut events, ConnectionState::Connected).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let report = supervisor
            .send(actix_tether::GetHealthReport::default())
            .await
            .unwrap();
        let e = report.endpoint("pinged").unwrap();
        if let Some(latency) = e.latency {
            assert!(e.heartbeats.acknowledged >= 1);
            assert!(latency.samples >= 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ping samples: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix::test]
async fn removing_an_sse_endpoint_closes_it_through_closing() {
    let (server, supervisor, mut events) = setup(SseMode::Silent).await;
    add(
        &supervisor,
        "bye",
        fast_sse(&server.url("/events")).build().unwrap(),
    )
    .await;
    until(&mut events, ConnectionState::Connected).await;
    supervisor
        .send(actix_tether::RemoveEndpoint::new("bye"))
        .await
        .unwrap()
        .unwrap();
    let seen = events.until_state(ConnectionState::Closed).await;
    let moves: Vec<_> = seen.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        moves,
        [
            (ConnectionState::Connected, ConnectionState::Closing),
            (ConnectionState::Closing, ConnectionState::Closed)
        ]
    );
}

#[actix::test]
async fn a_one_shot_stream_ends_closed_when_the_server_ends_it() {
    let (server, supervisor, mut events) = setup(SseMode::Retry(50)).await;
    let config = fast_sse(&server.url("/events"))
        .reconnect(actix_tether::ReconnectMode::OnFailure)
        .build()
        .unwrap();
    add(&supervisor, "once", config).await;
    let (_, data, _) = events.next_event().await;
    assert!(!data.is_empty());
    let seen = events.until_state(ConnectionState::Closed).await;
    assert!(!seen.iter().any(|e| e.to == ConnectionState::Reconnecting));
    let closed = seen.last().unwrap();
    assert_eq!(closed.from, ConnectionState::Connected);
    assert_eq!(
        closed.reason.as_ref().unwrap().category(),
        ErrorCategory::ClosedByPeer
    );
}
