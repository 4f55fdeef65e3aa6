//! The sender's bookkeeping, step by step, with time passed in.

use std::time::Duration;

use futures::FutureExt;

use super::*;
use crate::{ErrorCategory, OverflowPolicy};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn acked_config() -> EndpointConfig {
    EndpointConfig::websocket("ws://h/")
        .acknowledged(
            |p| p.as_text()?.strip_prefix("ack ").map(str::to_owned),
            MS(100),
        )
        .build()
        .unwrap()
}

fn sender(config: &EndpointConfig) -> Sender {
    Sender::new(config, PushQueue::new(config.outbox_capacity))
}

/// The outcome a receipt already has, if any.
fn outcome(receipt: Receipt) -> Option<Result<Delivered>> {
    receipt.outcome().now_or_never()
}

fn write_all(s: &mut Sender, now: Instant, samples: &mut Samples) -> Vec<Payload> {
    let mut written = Vec::new();
    while s.due(now) == Due::Now {
        let frame = s.take().unwrap();
        written.push(frame.payload);
        s.settle(frame.taken, Ok(()), 1, now, samples);
    }
    written
}

#[test]
fn acks_complete_messages_and_overdue_ones_fail() {
    let config = acked_config();
    let mut s = sender(&config);
    let t = Instant::now();
    let mut samples = Samples::default();
    let opts = |id: &str| SendOptions::new().ack_id(id);
    let a = s.queue("a".into(), opts("1"), t).unwrap();
    let b = s.queue("b".into(), opts("2"), t).unwrap();
    let plain = s.queue("c".into(), SendOptions::new(), t).unwrap();
    assert_eq!(write_all(&mut s, t, &mut samples).len(), 3);
    assert_eq!(samples.messages_out, 3);
    assert_eq!(s.next_deadline(true, true, t), Some(t + MS(100)));
    let mut inbound = vec![Payload::text("ack 2"), Payload::text("hello")];
    s.take_acks(&mut inbound, 1);
    assert_eq!(inbound, vec![Payload::text("hello")], "acks are consumed");
    s.expire(t + MS(99));
    assert_eq!(s.acks.as_ref().map_or(0, |a| a.len()), 1, "not yet due");
    // Reading paused for 50 ms: the ack could not be read meanwhile.
    assert!(s.next_deadline(true, false, t).is_none());
    s.postpone_acks(MS(50));
    s.expire(t + MS(149));
    assert_eq!(
        s.acks.as_ref().map_or(0, |a| a.len()),
        1,
        "postponed by the pause"
    );
    s.expire(t + MS(150));
    assert!(s.next_deadline(true, true, t).is_none());
    let err = outcome(a).unwrap().unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Timeout);
    assert_eq!(
        outcome(b).unwrap().unwrap(),
        Delivered::Acknowledged { generation: 1 }
    );
    assert_eq!(
        outcome(plain).unwrap().unwrap(),
        Delivered::Written { generation: 1 }
    );
}

#[test]
fn a_lost_connection_resends_unacknowledged_first_and_fails_session_scoped() {
    let config = acked_config();
    let mut s = sender(&config);
    let t = Instant::now();
    let mut samples = Samples::default();
    let unacked = s
        .queue("m1".into(), SendOptions::new().ack_id("1"), t)
        .unwrap();
    write_all(&mut s, t, &mut samples);
    let session = s
        .queue("m2".into(), SendOptions::new().session_scoped(), t)
        .unwrap();
    let later = s.queue("m3".into(), SendOptions::new(), t).unwrap();
    s.on_loss(&Error::network("reset"), false);
    let err = outcome(session).unwrap().unwrap_err();
    assert!(err.message().contains("connection lost"), "{err}");
    let resent = write_all(&mut s, t, &mut samples);
    assert_eq!(resent, vec![Payload::text("m1"), Payload::text("m3")]);
    s.take_acks(&mut vec![Payload::text("ack 1")], 2);
    assert_eq!(
        outcome(unacked).unwrap().unwrap(),
        Delivered::Acknowledged { generation: 2 }
    );
    assert!(outcome(later).unwrap().is_ok());
}

#[test]
fn session_scoped_sends_need_a_live_connection_and_limits_hold() {
    let config = EndpointConfig::websocket("ws://h/")
        .max_message_size(4)
        .build()
        .unwrap();
    let s = sender(&config);
    let scoped = SendOptions::new().session_scoped();
    let small = Payload::text("ok");
    assert!(s.admit(&small, &scoped, true).is_ok());
    let err = s.admit(&small, &scoped, false).unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
    let err = s
        .admit(&Payload::text("too long"), &SendOptions::new(), true)
        .unwrap_err();
    assert!(err.message().contains("max_message_size"), "{err}");
    let sse = EndpointConfig::sse("http://h/").build().unwrap();
    let err = sender(&sse)
        .admit(&small, &SendOptions::new(), true)
        .unwrap_err();
    assert_eq!(err.message(), "sse endpoints are receive-only");
}

#[test]
fn a_batch_is_due_when_full_or_when_its_oldest_waited_max_delay() {
    let config = EndpointConfig::websocket("ws://h/")
        .coalesce(
            |ps| Payload::text(format!("{} messages", ps.len())),
            3,
            MS(50),
        )
        .build()
        .unwrap();
    let mut s = sender(&config);
    let t = Instant::now();
    assert_eq!(s.due(t), Due::Empty);
    assert!(!s.writes_straight(true), "batching endpoints always queue");
    s.queue("a".into(), SendOptions::new(), t).unwrap();
    s.queue("b".into(), SendOptions::new(), t + MS(10)).unwrap();
    assert_eq!(s.due(t + MS(20)), Due::At(t + MS(50)));
    assert!(
        s.next_deadline(false, true, t).is_none(),
        "no batch timer offline"
    );
    assert_eq!(s.due(t + MS(50)), Due::Now);
    s.queue("c".into(), SendOptions::new(), t + MS(20)).unwrap();
    assert_eq!(s.due(t + MS(20)), Due::Now, "full");
    let frame = s.take().unwrap();
    assert_eq!(frame.payload, Payload::text("3 messages"));
    let mut samples = Samples::default();
    s.settle(frame.taken, Ok(()), 1, t, &mut samples);
    assert_eq!(samples.messages_out, 3);
    assert_eq!(s.due(t), Due::Empty);
}

#[test]
fn a_refused_frame_fails_its_messages_only() {
    let config = EndpointConfig::websocket("ws://h/").build().unwrap();
    let mut s = sender(&config);
    let t = Instant::now();
    let bad = s.queue("x".into(), SendOptions::new(), t).unwrap();
    let good = s.queue("y".into(), SendOptions::new(), t).unwrap();
    let frame = s.take().unwrap();
    let mut samples = Samples::default();
    s.settle(
        frame.taken,
        Err(Error::protocol("could not encode")),
        1,
        t,
        &mut samples,
    );
    write_all(&mut s, t, &mut samples);
    assert!(outcome(bad).unwrap().is_err());
    assert!(outcome(good).unwrap().is_ok());
    assert_eq!(samples.messages_out, 1);
}

#[test]
fn overflow_follows_the_policy() {
    let config = EndpointConfig::websocket("ws://h/")
        .outbox_capacity(1)
        .overflow(OverflowPolicy::DropOldest)
        .build()
        .unwrap();
    let mut s = sender(&config);
    let t = Instant::now();
    let first = s.queue("1".into(), SendOptions::new(), t).unwrap();
    let second = s.queue("2".into(), SendOptions::new(), t).unwrap();
    assert_eq!(second.accepted(), Accepted::Queued { position: 0 });
    let err = outcome(first).unwrap().unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Overflow);
}

#[test]
fn pushes_are_counted_lost_only_when_the_endpoint_ends() {
    let config = EndpointConfig::websocket("ws://h/")
        .outbox_capacity(4)
        .build()
        .unwrap();
    let queue = PushQueue::new(4);
    let mut s = Sender::new(&config, queue.clone());
    queue.try_push("a".into()).unwrap();
    queue.try_push("b".into()).unwrap();
    assert!(!s.is_drained());
    let closing = Error::endpoint("endpoint is closed");
    assert_eq!(s.pushes_follow(Some(closing.clone()), false), None);
    assert!(queue.try_push("c".into()).is_err(), "refused while closing");
    assert_eq!(s.pushes_follow(Some(closing), true), Some(2));
    assert_eq!(queue.lost(), 2);
    assert!(s.is_drained());
    assert_eq!(s.pushes_follow(None, false), None);
    queue.try_push("d".into()).unwrap();
    let waker = futures::task::noop_waker();
    let mut out = std::collections::VecDeque::new();
    assert!(!s.take_pushes(&waker, &mut out));
    assert_eq!(out, vec![Payload::text("d")]);
}
