//! Endpoint configs: building, validating, JSON, and what shares a connection.

use super::*;

#[test]
fn builder_validates() {
    let err = EndpointConfig::websocket("http://x").build().unwrap_err();
    assert_eq!(err.field(), "url");
    let err = EndpointConfig::websocket("ws://h/")
        .heartbeat_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "heartbeat.interval");
    let err = EndpointConfig::websocket("ws://h/")
        .max_attempts(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_attempts");
    let err = EndpointConfig::websocket("ws://h/")
        .backoff(BackoffConfig::Exponential {
            initial: Duration::from_secs(5),
            multiplier: 2.0,
            max: Duration::from_secs(1),
            jitter: false,
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "backoff.max");
    let err = EndpointConfig::websocket("ws://h/")
        .backoff(BackoffConfig::Exponential {
            initial: Duration::ZERO,
            multiplier: 2.0,
            max: Duration::from_secs(1),
            jitter: true,
        })
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "backoff.initial");
    assert!(err.to_string().contains("never grows"), "{err}");
    let err = EndpointConfig::websocket("ws://h/")
        .max_protocol_faults(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_protocol_faults");
    let err = EndpointConfig::websocket("ws://h/")
        .header("bad name", "v")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "headers");
    assert!(EndpointConfig::websocket("wss://h:1/x").build().is_ok());
    assert_eq!(
        EndpointConfig::sse("ws://h/").build().unwrap_err().field(),
        "url"
    );
    assert!(EndpointConfig::sse("https://h/events").build().is_ok());
    let err = EndpointConfig::sse("http://h/")
        .ping_url("nope")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "sse.ping_url");
}

#[test]
fn sse_methods_are_tokens_and_bodies_are_for_sse_only() {
    let method = |m: &str| {
        EndpointConfig::sse("http://h/")
            .method(m)
            .build()
            .map(|c| c.sse.method)
            .map_err(|e| e.field())
    };
    for ok in ["GET", "POST", "REPORT", "PROPFIND", "x-custom!"] {
        assert_eq!(method(ok), Ok(ok.to_owned()));
    }
    for bad in ["", "PO ST", "GET\r\n", "(GET)", "HEAD", "CONNECT"] {
        assert_eq!(method(bad), Err("sse.method"), "{bad:?}");
    }
    let err = EndpointConfig::websocket("ws://h/")
        .method("POST")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "sse.method");
    let err = EndpointConfig::websocket("ws://h/")
        .body("text/plain", || "x".into())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "sse.body");
    let err = EndpointConfig::sse("http://h/")
        .body("text/plain\r\nX-Injected: 1", || "x".into())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "sse.body");
    let config = EndpointConfig::sse("http://h/")
        .method("POST")
        .json_body(|| serde_json::json!({"secret-input": 1}))
        .build()
        .unwrap();
    let debug = format!("{config:?}");
    assert!(debug.contains("application/json"), "{debug}");
    assert!(!debug.contains("secret-input"), "{debug}");
    assert_eq!(config.sse.clone(), config.sse);
    let from_json: EndpointConfig =
        serde_json::from_str(r#"{"url": "http://h/", "kind": "sse", "sse": {"method": "POST"}}"#)
            .unwrap();
    assert_eq!(from_json.sse.method, "POST");
    assert!(from_json.sse.body.is_none());
}

#[test]
fn an_initial_last_event_id_is_a_header_value_for_sse_only() {
    let id = |id: &str| {
        EndpointConfig::sse("http://h/")
            .last_event_id(id)
            .build()
            .map(|c| c.sse.last_event_id)
            .map_err(|e| e.field())
    };
    assert_eq!(id("evt 7"), Ok(Some("evt 7".to_owned())));
    assert_eq!(id(""), Ok(Some(String::new())));
    assert_eq!(id("a\tb"), Ok(Some("a\tb".to_owned())));
    assert_eq!(id("évt-1"), Ok(Some("évt-1".to_owned())));
    // Whatever a header value cannot hold would never be sent.
    for bad in ["a\nb", "a\rb", "a\0b", "a\x01b", "a\x1bb", "a\x7fb"] {
        assert_eq!(id(bad), Err("sse.last_event_id"), "{bad:?}");
    }
    let err = EndpointConfig::websocket("ws://h/")
        .last_event_id("1")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "sse.last_event_id");
    let from_json: EndpointConfig = serde_json::from_str(
        r#"{"url": "http://h/", "kind": "sse", "sse": {"last_event_id": "9"}}"#,
    )
    .unwrap();
    assert_eq!(from_json.sse.last_event_id.as_deref(), Some("9"));
}

#[test]
fn debug_hides_secrets() {
    let config = EndpointConfig::sse("https://user:hunter2@h/feed?token=abc#frag-secret")
        .header("X-Api-Key", "s3cret")
        .ping_url("https://PINGTOKEN@h:8443/ping?pq=ping-secret#pf")
        .build()
        .unwrap();
    for debug in [
        format!("{config:?}"),
        format!("{:?}", config.sse),
        format!("{:?}", EndpointBuilder(config.clone())),
        format!("{:?}", config.attempt().unwrap()),
    ] {
        for secret in [
            "user",
            "hunter2",
            "s3cret",
            "abc",
            "frag-secret",
            "PINGTOKEN",
            "ping-secret",
            "pf",
            "Basic",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
    assert!(format!("{config:?}").contains("X-Api-Key"));
    assert!(format!("{config:?}").contains("https://***@h:8443/ping?***#***"));
}

#[test]
fn urls_are_strict_and_errors_never_echo_them() {
    let cases = [
        (
            EndpointConfig::websocket("ws://127.0.0.1:notaport/x"),
            "url",
        ),
        (EndpointConfig::websocket("ws://h:0/"), "url"),
        (EndpointConfig::websocket("ws://h:65536/"), "url"),
        (EndpointConfig::websocket("ws://u:pa/ss@h/"), "url"),
        (EndpointConfig::websocket("http://h/"), "url"),
        (EndpointConfig::websocket("ws://[::1/"), "url"),
        (EndpointConfig::sse("wss://h/"), "url"),
        (
            EndpointConfig::sse("http://h/").ping_url("ws://h/ping"),
            "sse.ping_url",
        ),
        (
            EndpointConfig::sse("http://h/").ping_url("http://u:pa/ss@h/"),
            "sse.ping_url",
        ),
        (
            EndpointConfig::sse("http://h/").ping_url("http://h:99999/"),
            "sse.ping_url",
        ),
    ];
    for (builder, field) in cases {
        let url = builder.0.url.clone();
        let err = builder.build().unwrap_err();
        assert_eq!(err.field(), field, "{url}: {err}");
        for secret in ["pa/ss", "notaport", "99999", "65536"] {
            assert!(!err.to_string().contains(secret), "{err}");
        }
    }
    let custom = |url: &str| {
        EndpointConfig::custom(url, || unreachable!("never connected"))
            .build()
            .map(|_| ())
            .map_err(|e| e.field())
    };
    assert_eq!(custom("tcp://127.0.0.1:7000"), Ok(()));
    assert_eq!(custom("anything+x://h"), Ok(()));
    assert_eq!(custom("tcp://127.0.0.1:x"), Err("url"));
    // A custom scheme may have no host (a Unix socket path); a port
    // still has to be a port.
    assert_eq!(custom("unix:///tmp/feed.sock"), Ok(()));
    assert_eq!(custom("tcp://h:99999"), Err("url"));
}

#[test]
fn user_info_becomes_a_basic_header_and_leaves_the_url() {
    let config = EndpointConfig::websocket("ws://u:p%2Fq@h:1/x?t=1#f")
        .header("X-Other", "1")
        .header_provider(|| vec![("X-Fresh".to_owned(), "2".to_owned())])
        .build()
        .unwrap();
    let attempt = config.attempt().unwrap();
    assert_eq!(attempt.url(), "ws://h:1/x?t=1");
    // base64("u:p/q")
    assert_eq!(
        attempt.headers(),
        [
            ("X-Other".to_owned(), "1".to_owned()),
            ("X-Fresh".to_owned(), "2".to_owned()),
            ("authorization".to_owned(), "Basic dTpwL3E=".to_owned()),
        ]
    );
    let token = EndpointConfig::websocket("wss://TOKEN@host/")
        .build()
        .unwrap();
    // base64("TOKEN:")
    assert_eq!(
        token.attempt().unwrap().headers(),
        [("authorization".to_owned(), "Basic VE9LRU46".to_owned())]
    );
}

#[test]
fn invalid_header_names_are_not_echoed() {
    let err = EndpointConfig::websocket("ws://h/")
        .header("X-Ok", "1")
        .header("Authorization: Bearer t0ken", "")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "headers");
    assert_eq!(
        err.to_string(),
        "invalid headers: header 2 of 2 has an invalid name"
    );
}

#[test]
fn user_info_and_an_authorization_header_conflict() {
    let err = EndpointConfig::websocket("wss://u:secretpw@h/")
        .header("authorization", "Bearer x")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "headers");
    assert!(!err.to_string().contains("secretpw"), "{err}");
    let provided = EndpointConfig::websocket("wss://u:secretpw@h/")
        .header_provider(|| vec![("Authorization".to_owned(), "Bearer x".to_owned())])
        .build()
        .unwrap();
    let err = provided.attempt().unwrap_err();
    assert_eq!(err.category(), crate::ErrorCategory::Config);
    assert!(err.message().contains("header_provider"), "{err}");
    assert!(!err.to_string().contains("secretpw"), "{err}");
    // Without user info, an Authorization header is just a header.
    assert!(EndpointConfig::websocket("wss://h/")
        .header("Authorization", "Bearer x")
        .build()
        .is_ok());
}

#[test]
fn deserializes_with_defaults_and_human_durations() {
    let config: EndpointConfig = serde_json::from_str(
        r#"{
            "url": "ws://127.0.0.1:1/",
            "connect_timeout": 2500,
            "heartbeat": {"interval": "2s", "max_missed": 2},
            "backoff": {"policy": "decorrelated", "initial": "100ms", "max": "5s"},
            "max_attempts": 4,
            "close_policy": {"4001": "stop"}
        }"#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.connect_timeout, Duration::from_millis(2500));
    assert_eq!(config.heartbeat.effective_timeout(), Duration::from_secs(4));
    assert_eq!(config.max_attempts, Some(4));
    assert_eq!(config.reset_after, DEFAULT_RESET_AFTER);
    assert!(serde_json::from_str::<EndpointConfig>(r#"{"url":"ws://h/","bogus":1}"#).is_err());
    let sse: EndpointConfig = serde_json::from_str(
        r#"{"url": "http://127.0.0.1:1/events", "kind": "sse",
            "sse": {"liveness_events": ["heartbeat"], "max_event_size": 4096}}"#,
    )
    .unwrap();
    sse.validate().unwrap();
    assert_eq!(sse.kind, TransportKind::Sse);
    assert_eq!(sse.sse.liveness_events, vec!["heartbeat".to_owned()]);
}
