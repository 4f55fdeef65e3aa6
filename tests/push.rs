//! `EndpointHandle::push`: no mailbox hop, order kept, room waited for
//! while reconnecting, and nothing lost without being counted.

mod common;

use std::time::Duration;

use actix_tether::{
    ConnectionState, EndpointConfig, EndpointHandle, ErrorCategory, GetEndpoint, Payload,
    RemoveEndpoint,
};
use common::*;

async fn handle(
    supervisor: &actix::Addr<actix_tether::SupervisorActor>,
    id: &str,
) -> EndpointHandle {
    supervisor
        .send(GetEndpoint::new(id))
        .await
        .unwrap()
        .unwrap()
}

#[actix::test]
async fn pushes_arrive_in_order_and_wait_for_room_while_reconnecting() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = fast(&server.url()).outbox_capacity(4).build().unwrap();
    add(&supervisor, "p", config).await;
    events.until_state(ConnectionState::Connected).await;
    let pusher = handle(&supervisor, "p").await;

    // Many more than the queue holds: push_wait waits for the writer.
    for i in 0..50 {
        pusher.push_wait(format!("p {i}")).await.unwrap();
    }
    let expected: Vec<String> = (0..50).map(|i| format!("p {i}")).collect();
    assert_eq!(server.next_texts(50).await, expected);

    server.stop().await;
    events.until_state(ConnectionState::Reconnecting).await;
    for i in 0..4 {
        pusher.push(format!("q {i}")).unwrap();
    }
    let full = pusher.push("q 4").unwrap_err();
    assert_eq!(full.category(), ErrorCategory::Overflow);
    let waiting = pusher.push_wait("q 4");
    futures::pin_mut!(waiting);
    assert!(
        futures::poll!(waiting.as_mut()).is_pending(),
        "a full queue makes push_wait wait"
    );

    server.restart().await;
    tokio::time::timeout(WAIT, waiting)
        .await
        .expect("room once the endpoint is back")
        .unwrap();
    let expected: Vec<String> = (0..5).map(|i| format!("q {i}")).collect();
    assert_eq!(server.next_texts(5).await, expected);
    assert_eq!(pusher.pushes_lost(), 0);
}

#[actix::test]
async fn pushes_an_endpoint_cannot_deliver_are_refused_or_counted() {
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;

    // Queued while the endpoint keeps failing to connect, then lost when it gives up.
    let url = format!("ws://127.0.0.1:{}/ws", closed_port());
    let config = fast(&url)
        .max_attempts(2)
        .max_message_size(16)
        .build()
        .unwrap();
    add(&supervisor, "down", config).await;
    let pusher = handle(&supervisor, "down").await;
    for i in 0..3 {
        pusher.push(format!("lost {i}")).unwrap();
    }
    let too_big = pusher.push("x".repeat(17)).unwrap_err();
    assert_eq!(too_big.category(), ErrorCategory::Endpoint);
    assert!(too_big.message().contains("max_message_size"), "{too_big}");
    events.until_state(ConnectionState::Failed).await;
    assert_eq!(pusher.pushes_lost(), 3);
    let failed = pusher.push("after").unwrap_err();
    assert!(failed.message().contains("failed"), "{failed}");

    // Receive-only endpoints refuse pushes from the start.
    let sse = EndpointConfig::sse(format!("http://127.0.0.1:{}/events", closed_port()))
        .build()
        .unwrap();
    add(&supervisor, "sse", sse).await;
    let refused = handle(&supervisor, "sse").await.push("hi").unwrap_err();
    assert!(refused.message().contains("receive-only"), "{refused}");

    // A handle outlives its endpoint: pushes then fail.
    supervisor
        .send(RemoveEndpoint::new("down"))
        .await
        .unwrap()
        .unwrap();
    let closed = pusher.push("gone").unwrap_err();
    assert_eq!(closed.message(), "endpoint is closed");
    assert_eq!(pusher.pushes_lost(), 3, "nothing else was accepted");
}

#[actix::test]
async fn pushes_to_a_batching_endpoint_arrive_in_its_envelopes() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = fast(&server.url())
        .coalesce(
            |msgs| {
                let inner: Vec<&str> = msgs.iter().filter_map(Payload::as_text).collect();
                Payload::text(inner.join("|"))
            },
            8,
            Duration::from_millis(50),
        )
        .build()
        .unwrap();
    add(&supervisor, "b", config).await;
    events.until_state(ConnectionState::Connected).await;
    let pusher = handle(&supervisor, "b").await;
    for i in 0..30 {
        pusher.push_wait(format!("n {i}")).await.unwrap();
    }
    let mut messages = Vec::new();
    let mut frames = 0;
    while messages.len() < 30 {
        let envelope = server.next_texts(1).await.remove(0);
        let inner: Vec<String> = envelope.split('|').map(str::to_owned).collect();
        assert!(inner.len() <= 8, "{envelope}");
        frames += 1;
        messages.extend(inner);
    }
    let expected: Vec<String> = (0..30).map(|i| format!("n {i}")).collect();
    assert_eq!(messages, expected);
    assert!(frames < 30, "pushes were coalesced: {frames} frames");
    assert_eq!(pusher.pushes_lost(), 0);
}

#[actix::test]
async fn pushes_queued_when_an_endpoint_is_removed_go_out_before_its_close() {
    // On the test's own arbiter the connection cannot write until the test
    // yields: every push is still queued when the removal is sent, more than
    // the writer takes in one poll.
    let config = actix_tether::SupervisorConfig::default().arbiters(0);
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::with_config(config).await;
    const N: usize = 5000;
    let endpoint = fast(&server.url()).outbox_capacity(N).build().unwrap();
    add(&supervisor, "r", endpoint).await;
    events.until_state(ConnectionState::Connected).await;
    let pusher = handle(&supervisor, "r").await;
    for i in 0..N {
        pusher.push(format!("r {i}")).unwrap();
    }
    supervisor
        .send(RemoveEndpoint::new("r"))
        .await
        .unwrap()
        .unwrap();
    let expected: Vec<String> = (0..N).map(|i| format!("r {i}")).collect();
    assert_eq!(server.next_texts(N).await, expected);
    server
        .wait_for("the close", |e| {
            matches!(e, ServerEvent::ClosedByClient { .. })
        })
        .await;
    assert_eq!(pusher.pushes_lost(), 0);
}
