//! Delivery guarantees: the outbox across reconnects, overflow, removal and
//! shutdown, session-scoped messages, acknowledged mode and batching.

mod common;

use std::{collections::BTreeMap, time::Duration};

use actix::Addr;
use actix_tether::{
    backoff::{RandomSource, SplitMix64},
    Accepted, ConnectionState, Delivered, ErrorCategory, GetEndpoint, OverflowPolicy, Payload,
    Receipt, RemoveEndpoint, SendOptions, SendPayload, Shutdown, SupervisorActor,
};
use common::*;

async fn send(supervisor: &Addr<SupervisorActor>, msg: SendPayload) -> Receipt {
    supervisor.send(msg).await.unwrap().unwrap()
}

async fn outcome(receipt: Receipt) -> actix_tether::Result<Delivered> {
    tokio::time::timeout(WAIT, receipt.outcome())
        .await
        .expect("outcome settles")
}

fn unreachable_url() -> String {
    format!("ws://127.0.0.1:{}/ws", closed_port())
}

#[actix::test]
async fn overflow_and_oversize_are_refused_or_dropped_and_reported() {
    let supervisor = supervisor();
    let config = fast(&unreachable_url()).outbox_capacity(3).build().unwrap();
    add(&supervisor, "reject", config).await;
    let mut receipts = Vec::new();
    for i in 0..3 {
        let receipt = send(&supervisor, SendPayload::new("reject", format!("n {i}"))).await;
        assert_eq!(receipt.accepted(), Accepted::Queued { position: i });
        receipts.push(receipt);
    }
    let refused = supervisor
        .send(SendPayload::new("reject", "n 3"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Overflow);

    let config = fast(&unreachable_url())
        .outbox_capacity(3)
        .overflow(OverflowPolicy::DropOldest)
        .build()
        .unwrap();
    add(&supervisor, "drop", config).await;
    let oldest = send(&supervisor, SendPayload::new("drop", "n 0")).await;
    for i in 1..3 {
        let _ = send(&supervisor, SendPayload::new("drop", format!("n {i}"))).await;
    }
    let newest = send(&supervisor, SendPayload::new("drop", "n 3")).await;
    assert_eq!(newest.accepted(), Accepted::Queued { position: 2 });
    let dropped = outcome(oldest).await.unwrap_err();
    assert_eq!(dropped.category(), ErrorCategory::Overflow);
}

#[actix::test]
async fn removal_and_shutdown_report_every_queued_message() {
    let supervisor = supervisor();
    add(
        &supervisor,
        "gone",
        fast(&unreachable_url()).build().unwrap(),
    )
    .await;
    add(
        &supervisor,
        "down",
        fast(&unreachable_url()).build().unwrap(),
    )
    .await;
    let queued_gone = send(&supervisor, SendPayload::new("gone", "n 1")).await;
    let queued_down = send(&supervisor, SendPayload::new("down", "n 2")).await;

    supervisor
        .send(RemoveEndpoint::new("gone"))
        .await
        .unwrap()
        .unwrap();
    let err = outcome(queued_gone).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
    assert!(err.message().contains("removed"), "{err}");
    let late = supervisor
        .send(SendPayload::new("gone", "n 3"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(late.message().contains("unknown endpoint"), "{late}");

    supervisor.send(Shutdown).await.unwrap();
    assert_eq!(
        outcome(queued_down).await.unwrap_err().category(),
        ErrorCategory::Shutdown
    );
}

#[actix::test]
async fn shutdown_flushes_the_outbox_before_the_close_frame() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    add(&supervisor, "busy", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    let mut receipts = Vec::new();
    for i in 0..200 {
        receipts.push(send(&supervisor, SendPayload::new("busy", format!("n {i}"))).await);
    }
    supervisor.send(Shutdown).await.unwrap();
    for receipt in receipts {
        assert!(matches!(
            outcome(receipt).await,
            Ok(Delivered::Written { generation: 1 })
        ));
    }
    let mut texts = Vec::new();
    loop {
        match server.next_event().await {
            ServerEvent::Text { text, .. } => texts.push(text),
            ServerEvent::ClosedByClient { code, .. } => {
                assert_eq!(code, Some(1000));
                break;
            }
            _ => {}
        }
    }
    let expected: Vec<String> = (0..200).map(|i| format!("n {i}")).collect();
    assert_eq!(
        texts, expected,
        "everything arrives, in order, before the close"
    );
}

#[actix::test]
async fn session_scoped_messages_need_a_live_connection() {
    let Harness {
        server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let refused = {
        add(
            &supervisor,
            "offline",
            fast(&unreachable_url()).build().unwrap(),
        )
        .await;
        supervisor
            .send(SendPayload::new("offline", "n 1").session_scoped())
            .await
            .unwrap()
            .unwrap_err()
    };
    assert!(refused.message().contains("session-scoped"), "{refused}");
    add(&supervisor, "live", fast(&server.url()).build().unwrap()).await;
    loop {
        let e = events.next_status().await;
        if e.endpoint.as_str() == "live" && e.to == ConnectionState::Connected {
            break;
        }
    }
    let receipt = send(
        &supervisor,
        SendPayload::new("live", "n 2").session_scoped(),
    )
    .await;
    assert!(matches!(
        receipt.accepted(),
        Accepted::Written { generation: 1 }
    ));
}

#[actix::test]
async fn a_handle_sends_with_an_ack_id_and_session_scope_like_send_payload() {
    let Harness {
        server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let acked = fast(&server.url()).acknowledged(
        |p| p.as_text()?.strip_prefix("ack ").map(str::to_owned),
        Duration::from_secs(5),
    );
    add(&supervisor, "acks", acked.build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    let handle = supervisor
        .send(GetEndpoint::new("acks"))
        .await
        .unwrap()
        .unwrap();
    let receipt = handle
        .send_with("m 7", SendOptions::new().ack_id("7").session_scoped())
        .await
        .unwrap();
    assert_eq!(
        receipt.outcome().await.unwrap(),
        Delivered::Acknowledged { generation: 1 }
    );

    add(
        &supervisor,
        "offline",
        fast(&unreachable_url()).build().unwrap(),
    )
    .await;
    let offline = supervisor
        .send(GetEndpoint::new("offline"))
        .await
        .unwrap()
        .unwrap();
    let refused = offline
        .send_with("n 1", SendOptions::new().session_scoped())
        .await
        .unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Endpoint);
    assert!(refused.message().contains("session-scoped"), "{refused}");
}

/// Sends `n` numbered messages while the server restarts `restarts` times at
/// random points; returns each message's outcome and what the server got.
async fn send_through_restarts(
    ack: bool,
    restarts: usize,
    n: usize,
) -> (
    Vec<actix_tether::Result<Delivered>>,
    Vec<(usize, String)>,
    TestServer,
) {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let mut config = fast(&server.url()).backoff(actix_tether::BackoffConfig::Constant {
        delay: Duration::from_millis(30),
    });
    if ack {
        config = config.acknowledged(
            |p| p.as_text()?.strip_prefix("ack ").map(str::to_owned),
            Duration::from_secs(20),
        );
    }
    add(&supervisor, "e", config.build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    let mut rng = SplitMix64::seeded(0xD1CE);
    let mut restart_at: Vec<usize> = (0..restarts)
        .map(|_| usize::try_from(rng.next_u64() % n as u64).unwrap())
        .collect();
    restart_at.sort_unstable();
    let mut receipts = Vec::new();
    let mut receipts_down = Vec::new();
    for i in 0..n {
        if restart_at.first() == Some(&i) {
            restart_at.remove(0);
            server.stop().await;
            // Sent while the server is away: queued, or written into the
            // dying connection before its loss is noticed.
            for j in 0..3 {
                let msg = format!("n down-{i}-{j}");
                receipts_down.push(send(&supervisor, SendPayload::new("e", msg)).await);
            }
            server.restart().await;
            events.until_state(ConnectionState::Connected).await;
        }
        let msg = if ack {
            SendPayload::new("e", format!("m {i}")).ack_id(i.to_string())
        } else {
            SendPayload::new("e", format!("n {i}"))
        };
        receipts.push(send(&supervisor, msg).await);
        if i % 50 == 0 {
            // Let the actor system breathe so restarts land mid-stream.
            tokio::task::yield_now().await;
        }
    }
    let mut outcomes = Vec::new();
    for receipt in receipts {
        outcomes.push(outcome(receipt).await);
    }
    for receipt in receipts_down {
        // Their outcome must be known too (written or reported).
        let _ = outcome(receipt).await;
    }
    // A marker written after everything, on the current connection, arrives
    // after every earlier message of that connection.
    let marker = send(&supervisor, SendPayload::new("e", "n marker")).await;
    assert!(outcome(marker).await.is_ok());
    let mut texts = server.drain_texts();
    while !texts.iter().any(|(_, t)| t == "n marker") {
        if let ServerEvent::Text { id, text } = server.next_event().await {
            texts.push((id, text));
        }
    }
    (outcomes, texts, server)
}

#[actix::test]
async fn every_message_outcome_is_known_through_ten_restarts() {
    let (outcomes, texts, _server) = send_through_restarts(false, 10, 1000).await;
    // Which connection (server-side id) received each message, in order.
    let mut received: BTreeMap<usize, usize> = BTreeMap::new();
    let mut per_connection: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (conn, text) in &texts {
        if let Some(n) = text
            .strip_prefix("n ")
            .and_then(|n| n.parse::<usize>().ok())
        {
            received.insert(n, *conn);
            per_connection.entry(*conn).or_default().push(n);
        }
    }
    for numbers in per_connection.values() {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "order broken on a connection: {numbers:?}"
        );
    }
    let last_generation = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(Delivered::Written { generation }) => Some(*generation),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(
        last_generation >= 11,
        "every restart caused a reconnect: {last_generation}"
    );
    let (mut arrived, mut unconfirmed, mut failed) = (0, 0, 0);
    for (i, o) in outcomes.iter().enumerate() {
        match (o, received.contains_key(&i)) {
            (Ok(Delivered::Written { .. }), true) => arrived += 1,
            // Written just before a drop: the connection that took it died.
            (Ok(Delivered::Written { generation }), false) => {
                assert!(
                    *generation < last_generation,
                    "message {i} lost on the live connection"
                );
                unconfirmed += 1;
            }
            (Err(_), false) => failed += 1,
            (o, got) => panic!("message {i}: outcome {o:?}, server got it: {got}"),
        }
    }
    assert_eq!(arrived + unconfirmed + failed, 1000);
    assert!(
        arrived > 0,
        "arrived {arrived}, unconfirmed {unconfirmed}, failed {failed}"
    );
}

#[actix::test]
async fn acknowledged_mode_loses_nothing_through_restarts_and_drops() {
    let (outcomes, texts, _server) = send_through_restarts(true, 10, 1000).await;
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, Ok(Delivered::Acknowledged { .. })),
            "message {i}: {o:?}"
        );
    }
    let got: std::collections::BTreeSet<usize> = texts
        .iter()
        .filter_map(|(_, t)| t.strip_prefix("m ")?.parse().ok())
        .collect();
    assert_eq!(
        got.len(),
        1000,
        "every message reached the server at least once"
    );
}

#[actix::test]
async fn acknowledged_messages_dropped_before_their_ack_are_sent_again() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    server.drop_before_ack(["3", "40", "41", "77"].map(String::from));
    let config = fast(&server.url())
        .acknowledged(
            |p| p.as_text()?.strip_prefix("ack ").map(str::to_owned),
            Duration::from_secs(20),
        )
        .build()
        .unwrap();
    add(&supervisor, "acks", config).await;
    events.until_state(ConnectionState::Connected).await;
    let mut receipts = Vec::new();
    for i in 0..100 {
        receipts.push(
            send(
                &supervisor,
                SendPayload::new("acks", format!("m {i}")).ack_id(i.to_string()),
            )
            .await,
        );
    }
    for (i, receipt) in receipts.into_iter().enumerate() {
        let o = outcome(receipt).await;
        assert!(
            matches!(o, Ok(Delivered::Acknowledged { .. })),
            "message {i}: {o:?}"
        );
    }
    let texts = server.drain_texts();
    let count = |id: &str| {
        texts
            .iter()
            .filter(|(_, t)| t == &format!("m {id}"))
            .count()
    };
    assert!(count("3") >= 2, "a dropped message was sent again");
    assert_eq!(count("0"), 1);
    // Acks are consumed, not delivered.
    assert!(events.messages.try_recv().is_err());
}

#[actix::test]
async fn batching_coalesces_queued_messages_into_envelopes_in_order() {
    let Harness {
        mut server,
        supervisor,
        mut events,
    } = Harness::start().await;
    let config = fast(&server.url())
        .coalesce(
            |msgs| {
                let inner: Vec<&str> = msgs.iter().filter_map(Payload::as_text).collect();
                Payload::text(serde_json::json!({"type": "batch", "messages": inner}).to_string())
            },
            8,
            Duration::from_millis(50),
        )
        .build()
        .unwrap();
    add(&supervisor, "b", config).await;
    // Queued before the connection exists, then more while it is live.
    let mut receipts = Vec::new();
    for i in 0..20 {
        receipts.push(send(&supervisor, SendPayload::new("b", format!("n {i}"))).await);
    }
    events.until_state(ConnectionState::Connected).await;
    for i in 20..30 {
        receipts.push(send(&supervisor, SendPayload::new("b", format!("n {i}"))).await);
    }
    for receipt in receipts {
        assert!(outcome(receipt).await.is_ok());
    }
    let mut frames = 0;
    let mut messages = Vec::new();
    while messages.len() < 30 {
        let ServerEvent::Text { text, .. } = server.next_event().await else {
            continue;
        };
        let envelope: serde_json::Value = serde_json::from_str(&text).expect("a json envelope");
        assert_eq!(envelope["type"], "batch");
        let inner = envelope["messages"].as_array().unwrap();
        assert!(!inner.is_empty() && inner.len() <= 8, "{envelope}");
        frames += 1;
        messages.extend(inner.iter().map(|m| m.as_str().unwrap().to_owned()));
    }
    let expected: Vec<String> = (0..30).map(|i| format!("n {i}")).collect();
    assert_eq!(messages, expected);
    assert!((4..30).contains(&frames), "frames: {frames}");
}
