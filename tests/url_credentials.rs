//! User info in a URL is sent as `Authorization: Basic` (never dropped),
//! to the endpoint's own origin only; with an `Authorization` header from
//! the provider it fails the endpoint instead of picking one silently.

mod common;

use std::time::Duration;

use actix_tether::{ConnectionState, ErrorCategory};
use common::{sse_server::*, *};

#[actix::test]
async fn user_info_reaches_the_websocket_server_as_basic_auth() {
    let mut h = Harness::start().await;
    let port = h.server.port;
    // User "u@x", password "p/q", percent-encoded; a query and a fragment.
    let url = format!("ws://u%40x:p%2Fq@127.0.0.1:{port}/ws?t=1#frag");
    h.connect("user", fast(&url)).await;
    let connected = h
        .server
        .wait_for("a connection", |e| {
            matches!(e, ServerEvent::Connected { .. })
        })
        .await;
    assert_eq!(
        connected,
        ServerEvent::Connected {
            id: 0,
            authorization: Some("Basic dUB4OnAvcQ==".into()), // u@x:p/q
        }
    );

    // A token as the user name, no password.
    let url = format!("ws://TOKEN@127.0.0.1:{port}/ws");
    h.connect("token", fast(&url)).await;
    let connected = h
        .server
        .wait_for("a connection", |e| {
            matches!(e, ServerEvent::Connected { .. })
        })
        .await;
    assert!(
        matches!(&connected, ServerEvent::Connected { authorization: Some(a), .. } if a == "Basic VE9LRU46"),
        "{connected:?}"
    );
}

#[actix::test]
async fn user_info_reaches_the_sse_server_and_the_ping_url() {
    let mut server = SseServer::start(SseMode::Silent).await;
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    let url = server
        .url("/events")
        .replace("http://", "http://sseuser:ssepass@");
    let ping = server
        .url("/ping?x=1")
        .replace("http://", "http://pinguser:pingpass@");
    let config = fast_sse(&url)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_timeout(Duration::from_secs(60))
        .ping_url(ping)
        .build()
        .unwrap();
    add(&supervisor, "sse", config).await;
    let stream = server.next_request().await;
    assert_eq!(stream.path, "/events");
    assert_eq!(
        stream.authorization.as_deref(),
        Some("Basic c3NldXNlcjpzc2VwYXNz") // sseuser:ssepass
    );
    let ping = server.next_request().await;
    assert_eq!(ping.path, "/ping");
    assert_eq!(
        ping.authorization.as_deref(),
        Some("Basic cGluZ3VzZXI6cGluZ3Bhc3M=") // pinguser:pingpass
    );
}

#[actix::test]
async fn credentials_stay_with_their_origin_across_redirects() {
    let mut home = SseServer::start(SseMode::Silent).await;
    let mut elsewhere = SseServer::start(SseMode::Silent).await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;

    // Same origin: /old redirects to /events, credentials follow.
    let url = home.url("/old").replace("http://", "http://u:p@");
    let quiet = |url: &str| fast_sse(url).heartbeat_timeout(Duration::from_secs(60));
    add(&supervisor, "same", quiet(&url).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    for path in ["/old", "/events"] {
        let request = home.next_request().await;
        assert_eq!(request.path, path);
        assert_eq!(request.authorization.as_deref(), Some("Basic dTpw")); // u:p
    }

    // Another origin (another port): followed without the credentials.
    let url = home
        .url(&format!("/away?to={}", elsewhere.port))
        .replace("http://", "http://u:p@");
    let config = quiet(&url).header("X-Api-Key", "k").build().unwrap();
    add(&supervisor, "away", config).await;
    events.until_state(ConnectionState::Connected).await;
    let first = home.next_request().await;
    assert_eq!(first.path, "/away");
    assert_eq!(first.authorization.as_deref(), Some("Basic dTpw"));
    let moved = elsewhere.next_request().await;
    assert_eq!(moved.path, "/events");
    assert_eq!(moved.authorization, None);
}

#[actix::test]
async fn user_info_and_a_provider_authorization_fail_the_endpoint() {
    let mut h = Harness::start().await;
    let url = h.server.url().replace("ws://", "ws://u:p@");
    let config = fast(&url)
        .header_provider(|| vec![("Authorization".into(), "Bearer t".into())])
        .build()
        .unwrap();
    add(&h.supervisor, "both", config).await;
    let seen = h.events.until_state(ConnectionState::Failed).await;
    let reason = seen.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Config, "{reason}");
    assert!(reason.message().contains("header_provider"), "{reason}");
    assert!(h.server.events.try_recv().is_err(), "never connected");
}

#[actix::test]
async fn user_info_in_a_redirect_s_location_is_never_sent() {
    use common::raw_http::*;
    let mut server = RawHttpServer::start(|request| {
        if request.target == "/start" {
            let host = request.header("host").unwrap_or_default();
            let location = format!("Location: http://u:p@{host}/events");
            return Reply::new(
                vec![head(
                    "HTTP/1.1 307 Temporary Redirect",
                    &[&location, "Content-Length: 0"],
                )],
                After::Close,
            );
        }
        Reply::new(
            vec![head(
                "HTTP/1.1 200 OK",
                &["Content-Type: text/event-stream"],
            )],
            After::Hold,
        )
    })
    .await;
    let supervisor = supervisor();
    let config = fast_sse(&server.url("/start")).build().unwrap();
    add(&supervisor, "moved", config).await;
    let first = server.next_request().await;
    assert_eq!(first.target, "/start");
    let moved = server.next_request().await;
    assert_eq!(moved.target, "/events");
    let host = moved.header("host").unwrap();
    assert_eq!(host, format!("127.0.0.1:{}", server.port));
    assert!(!host.contains('@') && !host.contains("u:p"), "{host}");
    assert_eq!(moved.header("authorization"), None);
}
