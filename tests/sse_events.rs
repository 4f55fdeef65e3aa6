//! What SSE subscribers receive: comments only when an endpoint asks for
//! them, and only the event types a subscription names.

mod common;

use std::time::Duration;

use actix_tether::{InlineBurst, InlineHandler, Payload, PayloadRef, Subscribe, Subscriber};
use common::{raw_http::*, sse_server::fast_sse, *};

/// A stream with comments and several event types, in four writes, then
/// held open.
fn agent_stream() -> Reply {
    Reply::new(
        vec![
            head("HTTP/1.1 200 OK", &["Content-Type: text/event-stream"]),
            b": welcome\nevent: connected\ndata: {\"session\":1}\n\nevent: heartbeat\ndata:\n\n"
                .to_vec(),
            b":keep-alive\r\ndata: plain\r\n\r\nevent: tool-request\nid: 3\ndata: search\n\n"
                .to_vec(),
            b"event: heartbeat\ndata:\n\nevent: error\ndata: boom\n\n".to_vec(),
            b"event: tool-request\ndata: fetch\n\n:  last words\nevent: done\ndata: end\n\n"
                .to_vec(),
        ],
        After::Hold,
    )
}

/// A payload as a short string: `type=data` for events, `#text` for comments.
fn show(payload: &Payload) -> String {
    match payload {
        Payload::Event(event) => format!("{}={}", event.event(), event.data()),
        Payload::Comment(text) => format!("#{text}"),
        other => panic!("not an sse payload: {other:?}"),
    }
}

fn is_done(payload: &Payload) -> bool {
    payload.as_event().is_some_and(|e| e.event() == "done")
}

/// Per-message payloads from `events` until endpoint `id`'s `done` event.
async fn until_done(events: &mut Events, id: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let m = next(&mut events.messages, WAIT).await;
        if m.endpoint.as_str() != id {
            continue;
        }
        seen.push(show(&m.payload));
        if is_done(&m.payload) {
            return seen;
        }
    }
    panic!("no done event from {id} in 100 messages: {seen:?}");
}

const EVENTS: [&str; 8] = [
    "connected={\"session\":1}",
    "heartbeat=",
    "message=plain",
    "tool-request=search",
    "heartbeat=",
    "error=boom",
    "tool-request=fetch",
    "done=end",
];

#[actix::test]
async fn comments_reach_subscribers_only_from_endpoints_that_ask_for_them() {
    let server = RawHttpServer::start(|_| agent_stream()).await;
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    let slow = Duration::from_secs(10);
    let with_comments = fast_sse(&server.url("/run"))
        .heartbeat_interval(slow)
        .comments(true)
        .build()
        .unwrap();
    add(&supervisor, "commented", with_comments).await;
    let mut events = events;
    let seen = until_done(&mut events, "commented").await;
    let mut expected: Vec<String> = EVENTS.iter().map(|e| (*e).to_owned()).collect();
    expected.insert(0, "#welcome".into());
    expected.insert(3, "#keep-alive".into());
    expected.insert(9, "# last words".into());
    assert_eq!(seen, expected);

    let without = fast_sse(&server.url("/run"))
        .heartbeat_interval(slow)
        .build()
        .unwrap();
    add(&supervisor, "plain", without).await;
    assert_eq!(until_done(&mut events, "plain").await, EVENTS);
}

#[actix::test]
async fn a_subscription_takes_only_the_event_types_it_names() {
    let server = RawHttpServer::start(|_| agent_stream()).await;
    let supervisor = supervisor();
    let mut everything = Events::start();
    everything.subscribe_all(&supervisor).await;
    let mut tools = Events::start();
    let mut bursts = Events::start();
    // Subscribed to every endpoint before the endpoint exists: it starts
    // with these subscribers and the filters.
    let filtered = [
        Subscribe::messages(tools.addr.clone().recipient()).event_types([
            "connected",
            "tool-request",
            "done",
        ]),
        Subscribe::bursts(bursts.addr.clone().recipient())
            .event_types(vec!["tool-request".to_owned(), "done".to_owned()]),
    ];
    for subscription in filtered {
        supervisor.send(subscription).await.unwrap().unwrap();
    }
    // An inline handler takes a filter too, and is never called with none.
    let (tx, mut inline) = tokio::sync::mpsc::unbounded_channel();
    let handler = InlineHandler::new(move |burst: InlineBurst<'_>| {
        assert!(!burst.payloads.is_empty(), "an empty burst");
        for payload in burst.payloads.iter() {
            let _ = tx.send(show(&payload.to_payload()));
        }
    });
    let inline_filtered = Subscribe::inline(handler).event_types(["tool-request", "done"]);
    supervisor.send(inline_filtered).await.unwrap().unwrap();
    let config = fast_sse(&server.url("/run"))
        .heartbeat_interval(Duration::from_secs(10))
        .comments(true)
        .build()
        .unwrap();
    add(&supervisor, "agent", config).await;

    // The unfiltered subscriber sees every event and comment.
    let all = until_done(&mut everything, "agent").await;
    assert_eq!(all.len(), 11, "{all:?}");

    assert_eq!(
        until_done(&mut tools, "agent").await,
        [
            "connected={\"session\":1}",
            "tool-request=search",
            "tool-request=fetch",
            "done=end"
        ]
    );

    // Bursts hold only the chosen types, and a burst without one is not
    // sent at all.
    let mut in_bursts = Vec::new();
    for _ in 0..10 {
        let burst = next(&mut bursts.batches, WAIT).await;
        assert!(!burst.payloads.is_empty(), "an empty burst was sent");
        // The borrowed views and the owned payloads agree.
        let owned = burst.payloads.as_slice();
        assert!(burst.payloads.iter().eq(owned.iter().map(PayloadRef::from)));
        in_bursts.extend(owned.iter().map(show));
        if owned.iter().any(is_done) {
            break;
        }
    }
    assert_eq!(
        in_bursts,
        ["tool-request=search", "tool-request=fetch", "done=end"]
    );
    let mut called = Vec::new();
    for _ in 0..3 {
        called.push(next(&mut inline, WAIT).await);
    }
    assert_eq!(
        called,
        ["tool-request=search", "tool-request=fetch", "done=end"]
    );
}

#[actix::test]
async fn a_type_filter_must_name_a_type_and_is_for_inbound_subscribers() {
    let supervisor = supervisor();
    let events = Events::start();
    let none: [&str; 0] = [];
    let empty = Subscribe::messages(events.addr.clone().recipient()).event_types(none);
    let err = supervisor.send(empty).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("event_types"), "{err}");
    let status = Subscribe::to(Subscriber::Status(events.addr.clone().recipient()))
        .event_types(["connected"]);
    let err = supervisor.send(status).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("status"), "{err}");
}
