//! The operations scope over real loopback servers: `/health` follows its
//! threshold, `/endpoints` and every other answer hide secrets, the
//! reconnect action is off unless enabled and guarded, and `/events`
//! streams a report and then status changes; a busy supervisor, no
//! endpoint, an unknown id and odd `Accept` headers get plain answers.

mod common;

use std::time::{Duration, Instant};

use actix_tether::{web::WebConfig, ConnectionState};
use actix_web::guard;
use common::{ops_app::*, *};
use futures::StreamExt as _;
use serde_json::Value;

const SECRETS: [&str; 3] = ["hunter2", "s3cret", "k3y-value"];

/// GETs `path` until its status is `want`; the body.
async fn until_status(app: &OpsApp, path: &str, want: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = app.get(path, &[]).await;
        if status == want {
            return serde_json::from_str(&body).expect("JSON");
        }
        assert!(
            Instant::now() < deadline,
            "{path} stayed {status}, not {want}: {body}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server, a supervisor and a collector, with the endpoint `feed`
/// connected to the server.
async fn connected_feed() -> (
    TestServer,
    actix::Addr<actix_tether::SupervisorActor>,
    Events,
) {
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "feed", fast(&server.url()).build().unwrap()).await;
    events.until_state(ConnectionState::Connected).await;
    (server, supervisor, events)
}

#[actix::test]
async fn health_answers_503_below_the_threshold_and_200_again_after_recovery() {
    let (mut server, supervisor, _events) = connected_feed().await;
    let app = OpsApp::start(
        supervisor.clone(),
        WebConfig::default().health_threshold(80),
    );

    let ok = until_status(&app, "/health", 200).await;
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["threshold"], 80);
    assert_eq!(ok["endpoints"], 1);

    server.stop().await;
    let down = until_status(&app, "/health", 503).await;
    assert_eq!(down["status"], "unhealthy", "{down}");
    assert!(down["score"].as_u64().unwrap() < 80, "{down}");
    assert_eq!(down["up"], 0);

    server.restart().await;
    let back = until_status(&app, "/health", 200).await;
    assert_eq!(back["up"], 1, "{back}");
}

#[actix::test]
async fn no_answer_reveals_a_password_a_query_or_a_header_value() {
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let port = server.url().split(':').nth(2).unwrap().to_owned();
    let url = format!("ws://user:hunter2@127.0.0.1:{port}?token=s3cret");
    let config = fast(&url).header("x-api-key", "k3y-value").build().unwrap();
    add(&supervisor, "secret", config).await;
    events.until_state(ConnectionState::Connected).await;
    let app = OpsApp::start(supervisor.clone(), WebConfig::default());

    let (status, body) = app.get("/endpoints", &[]).await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&body).unwrap();
    let endpoint = &report["endpoints"][0];
    assert_eq!(endpoint["endpoint"], "secret");
    assert_eq!(endpoint["state"], "connected");
    assert_eq!(endpoint["transport"], "websocket");
    let shown = endpoint["url"].as_str().unwrap();
    assert!(shown.contains("127.0.0.1"), "{shown}");
    let mut answers = vec![body];
    for path in ["/health", "/dashboard", "/metrics"] {
        answers.push(app.get(path, &[]).await.1);
    }
    answers.push(first_events(&app, 1).await.concat());
    for answer in &answers {
        for secret in SECRETS {
            assert!(!answer.contains(secret), "{secret} in {answer}");
        }
    }
}

#[actix::test]
async fn reconnect_is_off_by_default_and_behind_its_guard_when_enabled() {
    let (_server, supervisor, mut events) = connected_feed().await;
    let client = awc::Client::new();
    let post = |app: &OpsApp, auth: Option<&str>| {
        let mut request = client.post(app.url("/endpoints/feed/reconnect"));
        if let Some(auth) = auth {
            request = request.insert_header(("authorization", auth.to_owned()));
        }
        async move { request.send().await.expect("POST").status().as_u16() }
    };

    let off = OpsApp::start(supervisor.clone(), WebConfig::default());
    assert_eq!(post(&off, Some("Bearer t0ken")).await, 404);

    let guard = guard::Header("authorization", "Bearer t0ken");
    let on = OpsApp::start(
        supervisor.clone(),
        WebConfig::default().allow_reconnect(guard),
    );
    assert_eq!(post(&on, None).await, 404);
    assert_eq!(post(&on, Some("Bearer wrong")).await, 404);
    // Nothing happened so far.
    assert!(events.status.try_recv().is_err());
    assert_eq!(post(&on, Some("Bearer t0ken")).await, 202);
    let seen = events.until_state(ConnectionState::Connected).await;
    assert_eq!(seen.last().unwrap().generation, 2, "{seen:?}");
}

/// Opens `/events`, checking its status and content type.
async fn open_events(
    app: &OpsApp,
) -> impl futures::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin {
    let response = awc::Client::new()
        .get(app.url("/events"))
        .send()
        .await
        .expect("GET /events");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").unwrap();
    assert_eq!(content_type, "text/event-stream");
    response
}

/// The next SSE frame (raw), reading more of `stream` into `text` as
/// needed.
async fn next_frame(
    stream: &mut (impl futures::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin),
    text: &mut String,
) -> String {
    loop {
        if let Some(end) = text.find("\n\n") {
            return text.drain(..end + 2).collect();
        }
        let chunk = actix_rt::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no event in time; so far: {text}"))
            .expect("the stream goes on")
            .expect("a chunk");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// The first `n` SSE frames of `/events`.
async fn first_events(app: &OpsApp, n: usize) -> Vec<String> {
    let mut stream = open_events(app).await;
    let mut text = String::new();
    let mut frames = Vec::new();
    while frames.len() < n {
        frames.push(next_frame(&mut stream, &mut text).await);
    }
    frames
}

/// An SSE frame's event name and data.
fn parse(frame: &str) -> (String, Value) {
    let event = frame
        .lines()
        .find_map(|l| l.strip_prefix("event: "))
        .unwrap();
    let data = frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    (event.to_owned(), serde_json::from_str(data).unwrap())
}

#[actix::test]
async fn events_stream_a_report_then_each_status_change() {
    let (mut server, supervisor, _events) = connected_feed().await;
    let app = OpsApp::start(supervisor.clone(), WebConfig::default());

    let mut stream = open_events(&app).await;
    let mut text = String::new();
    let (event, report) = parse(&next_frame(&mut stream, &mut text).await);
    assert_eq!(event, "report");
    assert_eq!(report["endpoints"][0]["endpoint"], "feed");
    assert_eq!(report["endpoints"][0]["state"], "connected");

    server.stop().await;
    // Periodic reports may come first.
    let (event, change) = loop {
        let (event, data) = parse(&next_frame(&mut stream, &mut text).await);
        if event != "report" {
            break (event, data);
        }
    };
    assert_eq!(event, "status", "{change}");
    assert_eq!(change["endpoint"], "feed");
    assert_eq!(change["from"], "connected");
    assert_eq!(change["to"], "reconnecting");
    assert!(change["reason"].as_str().is_some(), "{change}");
}

#[actix::test]
async fn health_answers_503_in_time_when_the_supervisor_does_not_answer() {
    // The supervisor lives on an arbiter whose thread is blocked until the
    // test ends: every query to it waits.
    let arbiter = actix::Arbiter::new();
    let supervisor = actix::Actor::start_in_arbiter(&arbiter.handle(), |_| {
        actix_tether::SupervisorActor::default()
    });
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    arbiter.spawn_fn(move || {
        let _ = blocked.recv();
    });
    // The default timeout (2 s) applies.
    let app = OpsApp::start(supervisor.clone(), WebConfig::default());

    let started = Instant::now();
    let (status, body) = app.get("/health", &[]).await;
    assert_eq!(status, 503, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());
    // No figures rather than figures of nothing: a scrape fails.
    for path in ["/endpoints", "/metrics"] {
        let (status, body) = app.get(path, &[]).await;
        assert_eq!(status, 503, "{path}: {body}");
    }
    // Even a threshold of 0 does not make a silent supervisor healthy.
    let lenient = WebConfig::default()
        .health_threshold(0)
        .snapshot_timeout(Duration::from_millis(200));
    let lenient = OpsApp::start(supervisor, lenient);
    let (status, body) = lenient.get("/health", &[]).await;
    assert_eq!(status, 503, "{body}");
    drop(release);
    arbiter.stop();
}

#[actix::test]
async fn odd_requests_get_plain_answers_and_no_endpoint_is_healthy() {
    let supervisor = supervisor();
    let guard = guard::Header("authorization", "Bearer t0ken");
    let app = OpsApp::start(
        supervisor.clone(),
        WebConfig::default().allow_reconnect(guard),
    );

    // With no endpoint at all: healthy (score 100), and an empty list.
    let (status, body) = app.get("/health", &[]).await;
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (health["score"].as_u64(), health["endpoints"].as_u64()),
        (Some(100), Some(0))
    );
    let (status, body) = app.get("/endpoints", &[]).await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["endpoints"], serde_json::json!([]), "{report}");

    // Reconnecting an endpoint that does not exist (with markup in its id).
    let mut response = awc::Client::new()
        .post(app.url("/endpoints/%3Cscript%3Enope/reconnect"))
        .insert_header(("authorization", "Bearer t0ken"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 404);
    let content_type = response.headers().get("content-type").unwrap().clone();
    assert_eq!(content_type, "application/json");
    let body: Value = response.json().await.expect("a JSON error");
    assert!(body["error"].as_str().is_some(), "{body}");

    // Accept headers a scraper should not send still get the text format.
    for accept in [
        "",
        "*/*",
        "application/openmetrics-text;q=0",
        "garbage;;;q==",
    ] {
        let (status, text) = app.get("/metrics", &[("accept", accept)]).await;
        assert_eq!(status, 200, "{accept}: {text}");
        assert!(
            text.contains("actix_tether_endpoints 0"),
            "{accept}: {text}"
        );
        assert!(!text.contains("# EOF"), "{accept}: {text}");
    }
}
