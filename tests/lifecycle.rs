//! Registration and teardown: duplicate add, remove, shutdown, and the order
//! of status events.

mod common;

use actix_tether::{
    AddEndpoint, Added, ConnectionState, ErrorCategory, GetAllStatuses, GetStatus, RemoveEndpoint,
    Shutdown,
};
use common::*;

#[actix::test]
async fn adding_an_existing_id_answers_with_it_and_opens_no_second_connection() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = fast(&server.url()).build().unwrap();
    let first = supervisor
        .send(AddEndpoint::new("one", config.clone()))
        .await
        .unwrap()
        .unwrap();
    let second = supervisor
        .send(AddEndpoint::new("one", config))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, Added::New("one".into()));
    assert_eq!(second, Added::Existing("one".into()));
    events.until_state(ConnectionState::Connected).await;
    assert!(matches!(
        server.next_event().await,
        ServerEvent::Connected { id: 0, .. }
    ));
    // Ask for statuses (a round trip through the actor), then check the server
    // saw no second connection.
    let all = supervisor.send(GetAllStatuses).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, ConnectionState::Connected);
    assert!(server.events.try_recv().is_err());
}

#[actix::test]
async fn remove_closes_with_1000_and_forgets_the_endpoint() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "gone", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    supervisor
        .send(RemoveEndpoint::new("gone"))
        .await
        .unwrap()
        .unwrap();
    let closed = server
        .wait_for("client close", |e| {
            matches!(e, ServerEvent::ClosedByClient { .. })
        })
        .await;
    assert_eq!(
        closed,
        ServerEvent::ClosedByClient {
            id: 0,
            code: Some(1000)
        }
    );
    let seen = events.until_state(ConnectionState::Closed).await;
    assert_eq!(
        seen.iter().map(|e| e.to).collect::<Vec<_>>(),
        vec![ConnectionState::Closing, ConnectionState::Closed]
    );
    let err = supervisor
        .send(GetStatus::new("gone"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
    let err = supervisor
        .send(RemoveEndpoint::new("gone"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
}

#[actix::test]
async fn shutdown_closes_every_connection_with_1000_before_replying() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    for id in ["a", "b", "c"] {
        add(&supervisor, id, fast(&server.url()).build().unwrap()).await;
    }
    // An endpoint that already gave up is closed too.
    let down = format!("ws://127.0.0.1:{}/ws", closed_port());
    add(
        &supervisor,
        "failed",
        fast(&down).max_attempts(1).build().unwrap(),
    )
    .await;
    let (mut up, mut failed) = (0, 0);
    while up < 3 || failed < 1 {
        match events.next_status().await.to {
            ConnectionState::Connected => up += 1,
            ConnectionState::Failed => failed += 1,
            _ => {}
        }
    }
    supervisor.send(Shutdown).await.unwrap();
    let mut codes = Vec::new();
    while codes.len() < 3 {
        if let ServerEvent::ClosedByClient { code, .. } = server.next_event().await {
            codes.push(code);
        }
    }
    assert_eq!(codes, vec![Some(1000); 3]);
    let closed = events.count_state(ConnectionState::Closed, 4).await;
    assert!(closed
        .iter()
        .any(|e| e.endpoint.as_str() == "failed" && e.from == ConnectionState::Failed));
    let refused = supervisor
        .send(AddEndpoint::new(
            "late",
            fast(&server.url()).build().unwrap(),
        ))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Shutdown);
}

#[actix::test]
async fn subscribers_receive_every_transition_in_order() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "x", fast(&server.url()).build().unwrap()).await;
    let mut seen = events.until_state(ConnectionState::Connected).await;
    server.stop().await;
    seen.extend(events.until_state(ConnectionState::Reconnecting).await);
    server.restart().await;
    seen.extend(events.until_state(ConnectionState::Connected).await);
    supervisor
        .send(RemoveEndpoint::new("x"))
        .await
        .unwrap()
        .unwrap();
    seen.extend(events.until_state(ConnectionState::Closed).await);

    assert_eq!(seen[0].from, ConnectionState::Disconnected);
    for pair in seen.windows(2) {
        assert_eq!(
            pair[0].to, pair[1].from,
            "gap between {:?} and {:?}",
            pair[0], pair[1]
        );
        assert!(pair[0].at <= pair[1].at);
    }
    let generations: Vec<u64> = seen
        .iter()
        .filter(|e| e.to == ConnectionState::Connected)
        .map(|e| e.generation)
        .collect();
    assert_eq!(generations, vec![1, 2]);
}

#[actix::test]
async fn an_endpoint_added_with_an_epoch_tags_its_status_changes_and_messages() {
    let mut server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let config = fast(&server.url()).build().unwrap();
    supervisor
        .send(AddEndpoint::new("owned", config).epoch(42))
        .await
        .unwrap()
        .unwrap();
    let plain = fast(&server.url()).build().unwrap();
    add(&supervisor, "plain", plain).await;
    let mut connected = std::collections::BTreeMap::new();
    while connected.len() < 2 {
        let event = events.next_status().await;
        if event.to == ConnectionState::Connected {
            connected.insert(event.endpoint.to_string(), event.epoch);
        }
    }
    assert_eq!(connected["owned"], Some(42));
    assert_eq!(connected["plain"], None);
    // The server echoes: the reply carries the epoch too.
    let handle = supervisor
        .send(actix_tether::GetEndpoint::new("owned"))
        .await
        .unwrap()
        .unwrap();
    handle
        .send("echo me")
        .await
        .unwrap()
        .outcome()
        .await
        .unwrap();
    server.next_texts(1).await;
    let message = next(&mut events.messages, WAIT).await;
    assert_eq!(message.endpoint.as_str(), "owned");
    assert_eq!(message.epoch, Some(42));
}
