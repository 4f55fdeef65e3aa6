//! No secret reaches any output: all tracing output at TRACE level, the
//! `Debug` of every config, every status event and error (Display and
//! Debug), the statuses and the health report JSON, through connects, a
//! server restart, reconnects, refused connections, bad handshakes and a
//! credentials conflict, with secrets in headers (static and from a
//! provider), URL user names, passwords, queries, fragments and SSE ping
//! URLs.

mod common;

use std::{
    io,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use actix::Actor;
use actix_tether::{
    ConnectionState, EndpointConfig, GetAllStatuses, GetHealthReport, StatusChanged,
    SupervisorActor, SupervisorConfig,
};
use common::{sse_server::*, *};

/// Every secret the scenario hides somewhere. Each is distinctive enough
/// that no log line contains it by chance.
const SECRETS: &[&str] = &[
    "WsUserQ7",
    "WsPassQ7",
    "WsQueryQ7",
    "WsFragQ7",
    "WsTokenQ7",
    "StaticKeyQ7",
    "ProviderKeyQ7",
    "BearerQ7",
    "SseUserQ7",
    "SsePassQ7",
    "SseQueryQ7",
    "SseFragQ7",
    "PingUserQ7",
    "PingPassQ7",
    "PingQueryQ7",
    "PingFragQ7",
    "RefusedPassQ7",
    "RefusedQueryQ7",
    "HandshakePassQ7",
    "BadSsePassQ7",
    "ConflictPassQ7",
    "BadNameQ7",
    "SlashPa",
    // The Basic headers made from user info (base64 of "user:password").
    "Basic ",
];

/// All formatted tracing output of this test binary.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Panics naming the secret and where it leaked.
fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        if let Some(at) = text.find(secret) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!("{secret:?} leaked in {what}: {}", &text[start..end]);
        }
    }
}

fn with_userinfo(url: &str, userinfo: &str) -> String {
    url.replacen("://", &format!("://{userinfo}@"), 1)
}

/// The endpoints of the scenario, each with its secrets.
fn endpoints(
    ws: &TestServer,
    sse: &SseServer,
    refusing: &TestServer,
) -> Vec<(&'static str, EndpointConfig)> {
    let quick_failure = |builder: actix_tether::EndpointBuilder| builder.max_attempts(2);
    vec![
        (
            "ws-password",
            fast(&format!(
                "{}?key=WsQueryQ7#WsFragQ7",
                with_userinfo(&ws.url(), "WsUserQ7:WsPassQ7%2FSlashPa")
            ))
            .header("X-Api-Key", "StaticKeyQ7")
            .header_provider(|| vec![("X-Session".into(), "ProviderKeyQ7".into())])
            .build()
            .unwrap(),
        ),
        (
            "ws-token",
            fast(&with_userinfo(&ws.url(), "WsTokenQ7"))
                .build()
                .unwrap(),
        ),
        (
            "ws-bearer",
            fast(&ws.url())
                .header("Authorization", "Bearer BearerQ7")
                .header_provider(|| vec![("X-Session".into(), "ProviderKeyQ7".into())])
                .build()
                .unwrap(),
        ),
        (
            "sse",
            fast_sse(&format!(
                "{}?q=SseQueryQ7#SseFragQ7",
                with_userinfo(&sse.url("/events"), "SseUserQ7:SsePassQ7")
            ))
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_secs(60))
            .ping_url(format!(
                "{}?q=PingQueryQ7#PingFragQ7",
                with_userinfo(&sse.url("/ping"), "PingUserQ7:PingPassQ7")
            ))
            .header("X-Api-Key", "StaticKeyQ7")
            .header_provider(|| vec![("X-Session".into(), "ProviderKeyQ7".into())])
            .build()
            .unwrap(),
        ),
        (
            "refused",
            quick_failure(fast(&format!(
                "ws://u:RefusedPassQ7@127.0.0.1:{}/ws?q=RefusedQueryQ7",
                closed_port()
            )))
            .header("X-Api-Key", "StaticKeyQ7")
            .build()
            .unwrap(),
        ),
        (
            "refused-401",
            quick_failure(fast(&with_userinfo(&refusing.url(), "u:HandshakePassQ7")))
                .build()
                .unwrap(),
        ),
        (
            // A WebSocket handshake answered by an event stream.
            "bad-handshake",
            quick_failure(fast(&with_userinfo(
                &sse.url("/events").replace("http://", "ws://"),
                "u:HandshakePassQ7",
            )))
            .build()
            .unwrap(),
        ),
        (
            // An event-stream request answered by a WebSocket endpoint.
            "bad-sse",
            quick_failure(fast_sse(&with_userinfo(
                &ws.url().replace("ws://", "http://"),
                "u:BadSsePassQ7",
            )))
            .build()
            .unwrap(),
        ),
        (
            // A provider header whose name holds a whole `Name: value` line.
            "bad-header",
            fast(&ws.url())
                .header_provider(|| vec![("Authorization: Bearer BadNameQ7".into(), "".into())])
                .build()
                .unwrap(),
        ),
        (
            "conflict",
            fast(&with_userinfo(&ws.url(), "u:ConflictPassQ7"))
                .header_provider(|| vec![("Authorization".into(), "Bearer BearerQ7".into())])
                .build()
                .unwrap(),
        ),
    ]
}

#[actix::test]
async fn no_secret_reaches_logs_debug_errors_or_reports() {
    let log = captured();
    let mut ws = TestServer::start().await;
    let mut sse = SseServer::start(SseMode::Log {
        total: 6,
        per_connection: 2,
    })
    .await;
    let refusing = TestServer::start().await;
    refusing.set_mode(Mode::Refuse(401, None));

    let supervisor_config = SupervisorConfig::default().arbiters(2);
    let supervisor = SupervisorActor::new(supervisor_config.clone()).start();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;

    let endpoints = endpoints(&ws, &sse, &refusing);
    assert_clean("supervisor config", &format!("{supervisor_config:?}"));
    for (id, config) in &endpoints {
        assert_clean("endpoint config", &format!("{config:?}"));
        assert_clean("sse config", &format!("{:#?}", config.sse));
        add(&supervisor, id, config.clone()).await;
    }

    // Everything connects or fails; the event stream reconnects twice on
    // its own (the log server ends each stream after two events).
    let mut seen: Vec<StatusChanged> = Vec::new();
    let failing = [
        "refused",
        "refused-401",
        "bad-handshake",
        "bad-sse",
        "bad-header",
        "conflict",
    ];
    let connected = ["ws-password", "ws-token", "ws-bearer"];
    let done = |seen: &[StatusChanged], id: &str, to: ConnectionState, n: usize| {
        seen.iter()
            .filter(|e| e.endpoint.as_str() == id && e.to == to)
            .count()
            >= n
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(failing
        .iter()
        .all(|id| done(&seen, id, ConnectionState::Failed, 1))
        && connected
            .iter()
            .all(|id| done(&seen, id, ConnectionState::Connected, 1))
        && done(&seen, "sse", ConnectionState::Connected, 3))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        seen.push(next(&mut events.status, left).await);
    }

    // The SSE ping URL was used with its credentials.
    let ping = loop {
        let request = sse.next_request().await;
        if request.path == "/ping" {
            break request;
        }
    };
    assert!(ping.authorization.is_some());

    // A server restart: every WebSocket endpoint reconnects.
    ws.stop().await;
    ws.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !connected
        .iter()
        .all(|id| done(&seen, id, ConnectionState::Connected, 2))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        seen.push(next(&mut events.status, left).await);
    }

    let reasons = seen.iter().filter(|e| e.reason.is_some()).count();
    assert!(reasons >= failing.len(), "errors were reported: {reasons}");
    let mut printed = Vec::new();
    for event in &seen {
        printed.push(format!("{event:?}"));
        if let Some(reason) = &event.reason {
            printed.push(reason.to_string());
            printed.push(format!("{reason:?}"));
        }
    }
    let report = supervisor.send(GetHealthReport::default()).await.unwrap();
    printed.push(serde_json::to_string(&report).unwrap());
    printed.push(format!("{report:?}"));
    let statuses = supervisor.send(GetAllStatuses).await.unwrap();
    printed.push(serde_json::to_string(&statuses).unwrap());
    printed.push(format!("{statuses:?}"));

    for text in &printed {
        assert_clean("printed values", text);
    }
    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("state changed") && log.contains("ws://***@127.0.0.1:"),
        "the capture works and shows redacted urls: {log}"
    );
    assert_clean("tracing output", &log);
}
