//! The SSE request: a method other than GET, a body made afresh for every
//! attempt with its content type, and what redirects do to them, recorded
//! by a raw server.

mod common;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use actix_tether::{ConnectionState, ErrorCategory};
use common::{raw_http::*, sse_server::fast_sse, *};

/// One event, then the server closes: the endpoint reconnects.
fn one_event_then_close() -> Reply {
    Reply::new(
        vec![
            head("HTTP/1.1 200 OK", &["Content-Type: text/event-stream"]),
            b"id: 7\ndata: hi\n\n".to_vec(),
        ],
        After::Close,
    )
}

/// A supervisor and a collector subscribed to every endpoint.
async fn start() -> (actix::Addr<actix_tether::SupervisorActor>, Events) {
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    (supervisor, events)
}

#[actix::test]
async fn a_post_sends_a_fresh_json_body_on_every_attempt() {
    let mut server = RawHttpServer::start(|_| one_event_then_close()).await;
    let (supervisor, mut events) = start().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let config = fast_sse(&server.url("/agent"))
        .method("POST")
        .json_body(move || {
            let cursor = counted.fetch_add(1, Ordering::SeqCst);
            serde_json::json!({"threadId": "t1", "cursor": cursor})
        })
        .build()
        .unwrap();
    add(&supervisor, "agent", config).await;
    assert_eq!(events.next_event().await.1, "hi");
    for cursor in 0..3 {
        let request = server.next_request().await;
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/agent");
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"threadId": "t1", "cursor": cursor})
        );
        assert_eq!(
            request.header("content-length"),
            Some(request.body.len().to_string().as_str())
        );
        assert_eq!(request.header("accept"), Some("text/event-stream"));
        // Resuming after the first stream: the body and the id both go.
        let resumed = (cursor > 0).then_some("7");
        assert_eq!(request.header("last-event-id"), resumed);
    }
}

#[actix::test]
async fn any_method_token_goes_out_with_the_body_and_its_content_type() {
    let mut server = RawHttpServer::start(|_| Reply::silence()).await;
    let (supervisor, _events) = start().await;
    let config = fast_sse(&server.url("/calendar"))
        .method("REPORT")
        .body("application/xml; charset=utf-8", || "<sync-token/>".into())
        .build()
        .unwrap();
    add(&supervisor, "report", config).await;
    let request = server.next_request().await;
    assert_eq!(request.method, "REPORT");
    assert_eq!(
        request.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    assert_eq!(request.body, b"<sync-token/>");
    assert_eq!(request.header("content-length"), Some("13"));

    let bare = fast_sse(&server.url("/bare"))
        .method("POST")
        .build()
        .unwrap();
    add(&supervisor, "bare", bare).await;
    let request = server.next_request().await;
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("POST", "/bare")
    );
    assert_eq!(request.header("content-length"), Some("0"));
    assert_eq!(request.header("content-type"), None);
}

/// Redirects `/301`, `/303`, `/307` and `/308` to `/events`, which sends
/// one event and closes.
async fn redirecting_server() -> RawHttpServer {
    RawHttpServer::start(|request| {
        let status = match request.target.as_str() {
            "/301" => "301 Moved Permanently",
            "/303" => "303 See Other",
            "/307" => "307 Temporary Redirect",
            "/308" => "308 Permanent Redirect",
            _ => return one_event_then_close(),
        };
        Reply::new(
            vec![head(
                &format!("HTTP/1.1 {status}"),
                &["Location: /events", "Content-Length: 0"],
            )],
            After::Close,
        )
    })
    .await
}

/// Method, target and body of the next `n` requests.
async fn next_requests(server: &mut RawHttpServer, n: usize) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let r = server.next_request().await;
        seen.push((
            r.method,
            r.target,
            String::from_utf8_lossy(&r.body).into_owned(),
        ));
    }
    seen
}

#[actix::test]
async fn redirects_keep_or_drop_the_post_and_only_permanent_ones_are_remembered() {
    let (supervisor, _events) = start().await;
    let posted = |s: &str| {
        fast_sse(s)
            .method("POST")
            .body("text/plain", || "input".into())
            .build()
            .unwrap()
    };
    let post = |target: &str| ("POST".to_owned(), target.to_owned(), "input".to_owned());
    let get = |target: &str| ("GET".to_owned(), target.to_owned(), String::new());
    // Each endpoint connects, gets one event, and reconnects when the
    // stream closes: the third request shows what the first attempt left.
    let cases = [
        // 307 repeats the POST; being temporary, the reconnect starts over.
        ("/307", [post("/307"), post("/events"), post("/307")]),
        // 303 turns it into a GET, for this attempt only.
        ("/303", [post("/303"), get("/events"), post("/303")]),
        // 308 repeats the POST, and is remembered.
        ("/308", [post("/308"), post("/events"), post("/events")]),
        // 301 after a POST turns it into a GET, and is remembered as one.
        ("/301", [post("/301"), get("/events"), get("/events")]),
    ];
    for (i, (start, want)) in cases.into_iter().enumerate() {
        let mut server = redirecting_server().await;
        add(&supervisor, &format!("e{i}"), posted(&server.url(start))).await;
        assert_eq!(next_requests(&mut server, 3).await, want, "{start}");
    }
}

#[actix::test]
async fn the_initial_last_event_id_goes_first_then_the_stream_s_ids_replace_it() {
    let mut server = RawHttpServer::start(|request| {
        let body: &[u8] = match request.connection {
            // An event before any id: carries the initial one.
            0 => b"data: first\n\nid: 42\ndata: a\n\n",
            // `id` without a value clears the last event id.
            1 => b"data: b\n\nid\ndata: c\n\n",
            _ => return Reply::silence(),
        };
        Reply::new(
            vec![
                head("HTTP/1.1 200 OK", &["Content-Type: text/event-stream"]),
                body.to_vec(),
            ],
            After::Close,
        )
    })
    .await;
    let (supervisor, mut events) = start().await;
    let config = fast_sse(&server.url("/events"))
        .last_event_id("41")
        .build()
        .unwrap();
    add(&supervisor, "resumed", config).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, data, id) = events.next_event().await;
        seen.push((data, id));
    }
    let some = |id: &str| Some(id.to_owned());
    assert_eq!(
        seen,
        [
            ("first".to_owned(), some("41")),
            ("a".to_owned(), some("42")),
            ("b".to_owned(), some("42")),
            ("c".to_owned(), None),
        ]
    );
    let mut sent = Vec::new();
    for _ in 0..3 {
        sent.push(
            server
                .next_request()
                .await
                .header("last-event-id")
                .map(str::to_owned),
        );
    }
    assert_eq!(sent, [some("41"), some("42"), None]);
}

#[actix::test]
async fn framing_headers_of_the_endpoint_never_reach_the_server() {
    // A static one is refused by `build()`: a POST with its own
    // `Transfer-Encoding` would go out with both framings.
    let server = RawHttpServer::start(|_| one_event_then_close()).await;
    let err = fast_sse(&server.url("/agent"))
        .method("POST")
        .json_body(|| serde_json::json!({"threadId": "t1"}))
        .header("Transfer-Encoding", "chunked")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "headers", "{err}");
    assert!(err.to_string().contains("transfer-encoding"), "{err}");

    // One from the provider fails the endpoint before it connects.
    let mut server = server;
    let (supervisor, mut events) = start().await;
    let config = fast_sse(&server.url("/agent"))
        .header_provider(|| vec![("Transfer-Encoding".into(), "chunked".into())])
        .build()
        .unwrap();
    add(&supervisor, "framed", config).await;
    let seen = events.until_state(ConnectionState::Failed).await;
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Config, "{reason}");
    assert!(reason.message().contains("transfer-encoding"), "{reason}");
    assert!(server.requests.try_recv().is_err(), "nothing was sent");
}
