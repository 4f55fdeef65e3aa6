//! SSE over every HTTP/1 response framing, against a raw server that
//! writes the exact bytes (and breaks its writes inside lines, chunk-size
//! lines and CRLFs): chunked with extensions and trailers,
//! `Content-Length`, close-delimited HTTP/1.1 and HTTP/1.0, each over
//! `http://` and `https://`, with interim (1xx) responses before some;
//! and framing faults and content codings, each a protocol error that the
//! endpoint backs off from.

mod common;

use std::time::Duration;

use actix_tether::{ConnectionState, ErrorCategory, StatusChanged, TlsSettings};
use common::{pki::Pki, raw_http::*, sse_server::fast_sse, *};

/// Three events (one with two data lines, a comment between them).
const EVENTS: &[u8] =
    b"id: 1\ndata: one\n\nid: 2\nevent: two\ndata: a\r\ndata: b\r\n\r\n: note\nid: 3\ndata: three\n\n";

fn expected() -> Vec<(String, String, Option<String>)> {
    [
        ("message", "one", "1"),
        ("two", "a\nb", "2"),
        ("message", "three", "3"),
    ]
    .iter()
    .map(|(t, d, i)| ((*t).to_owned(), (*d).to_owned(), Some((*i).to_owned())))
    .collect()
}

/// How the first response frames its body.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Chunked,
    Length,
    CloseHttp11,
    CloseHttp10,
}

/// `bytes` cut into writes of `size` bytes.
fn pieces(bytes: &[u8], size: usize) -> Vec<Vec<u8>> {
    bytes.chunks(size).map(<[u8]>::to_vec).collect()
}

/// The first response: `EVENTS` framed as `framing`, written in small
/// pieces that break lines, chunk-size lines and CRLFs.
fn first_reply(framing: Framing) -> Reply {
    let event_stream = "Content-Type: text/event-stream";
    let mut writes = Vec::new();
    let after = match framing {
        Framing::Chunked => {
            // An interim response first, as RFC 9110 §15.2 allows.
            writes.extend(pieces(
                &head("HTTP/1.1 103 Early Hints", &["Link: </style.css>"]),
                11,
            ));
            let head = head(
                "HTTP/1.1 200 OK",
                &[event_stream, "Transfer-Encoding: chunked"],
            );
            writes.extend(pieces(&head, 13));
            let mut body = Vec::new();
            for data in EVENTS.chunks(7) {
                body.extend(chunk(data));
            }
            body.extend_from_slice(b"0;end\r\nX-Trailer: t\r\n\r\n");
            writes.extend(pieces(&body, 5));
            // The last chunk ends the stream: the connection stays open.
            After::Hold
        }
        Framing::Length => {
            writes.push(head("HTTP/1.1 100 Continue", &[]));
            let length = format!("Content-Length: {}", EVENTS.len());
            writes.extend(pieces(
                &head("HTTP/1.1 200 OK", &[event_stream, &length]),
                17,
            ));
            writes.extend(pieces(EVENTS, 6));
            // The length ends the stream: the connection stays open.
            After::Hold
        }
        Framing::CloseHttp11 | Framing::CloseHttp10 => {
            let status = match framing {
                Framing::CloseHttp10 => "HTTP/1.0 200 OK",
                _ => "HTTP/1.1 200 OK",
            };
            writes.extend(pieces(
                &head(status, &[event_stream, "Connection: close"]),
                9,
            ));
            writes.extend(pieces(EVENTS, 4));
            After::Close
        }
    };
    Reply::new(writes, after)
}

/// Later connections: a chunked stream without events, held open.
fn quiet_stream() -> Reply {
    Reply::new(
        vec![head(
            "HTTP/1.1 200 OK",
            &[
                "Content-Type: text/event-stream",
                "Transfer-Encoding: chunked",
            ],
        )],
        After::Hold,
    )
}

/// A server that answers its first request with `first` and later ones
/// with a quiet stream; over TLS with a private CA when `pki` is given.
async fn server(pki: Option<&Pki>, first: Reply) -> RawHttpServer {
    let script = move |request: &RawRequest| {
        if request.connection == 0 {
            first.clone()
        } else {
            quiet_stream()
        }
    };
    match pki {
        Some(pki) => RawHttpServer::start_tls(pki.server(false), script).await,
        None => RawHttpServer::start(script).await,
    }
}

/// A supervisor with an endpoint named `id` on `server` (trusting `pki`).
async fn follow(
    server: &RawHttpServer,
    pki: Option<&Pki>,
    id: &str,
) -> (actix::Addr<actix_tether::SupervisorActor>, Events) {
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    let mut config = fast_sse(&server.url("/events"));
    if let Some(pki) = pki {
        config = config.tls(TlsSettings::private_ca(&pki.ca_pem));
    }
    add(&supervisor, id, config.build().unwrap()).await;
    (supervisor, events)
}

async fn reconnecting(events: &mut Events) -> StatusChanged {
    events
        .until_state(ConnectionState::Reconnecting)
        .await
        .pop()
        .unwrap()
}

/// The events arrive in order, the end of the body ends the stream, and
/// the reconnect resumes after the last id.
async fn streams_over(framing: Framing, tls: bool) {
    let pki = tls.then(Pki::new);
    let mut server = server(pki.as_ref(), first_reply(framing)).await;
    let (_supervisor, mut events) = follow(&server, pki.as_ref(), "framed").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(events.next_event().await);
    }
    assert_eq!(got, expected(), "{framing:?}");
    let lost = reconnecting(&mut events).await;
    assert_eq!(lost.from, ConnectionState::Connected);
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer, "{reason}");
    assert_eq!(reason.message(), "event stream ended");

    let first = server.next_request().await;
    assert_eq!(
        (first.method.as_str(), first.target.as_str()),
        ("GET", "/events")
    );
    assert_eq!(first.header("accept"), Some("text/event-stream"));
    assert_eq!(first.header("accept-encoding"), Some("identity"));
    assert_eq!(
        first.header("host"),
        Some(&*format!("127.0.0.1:{}", server.port))
    );
    assert_eq!(first.header("last-event-id"), None);
    assert_eq!(first.header("content-length"), None);
    assert!(first.body.is_empty());
    let second = server.next_request().await;
    assert_eq!(second.header("last-event-id"), Some("3"));
}

#[actix::test]
async fn chunked_with_an_interim_response_extensions_and_trailers() {
    streams_over(Framing::Chunked, false).await;
}

#[actix::test]
async fn chunked_over_tls() {
    streams_over(Framing::Chunked, true).await;
}

#[actix::test]
async fn content_length_after_100_continue() {
    streams_over(Framing::Length, false).await;
}

#[actix::test]
async fn content_length_over_tls() {
    streams_over(Framing::Length, true).await;
}

#[actix::test]
async fn close_delimited_http_1_1() {
    streams_over(Framing::CloseHttp11, false).await;
}

#[actix::test]
async fn close_delimited_http_1_1_over_tls() {
    streams_over(Framing::CloseHttp11, true).await;
}

#[actix::test]
async fn http_1_0() {
    streams_over(Framing::CloseHttp10, false).await;
}

#[actix::test]
async fn http_1_0_over_tls() {
    streams_over(Framing::CloseHttp10, true).await;
}

/// Answers every request with `writes`, then closes; the endpoint fails
/// each attempt with a protocol error that mentions `want`, waits at least
/// the protocol fault delay, and tries again.
async fn fails_as_protocol(pki: Option<&Pki>, writes: Vec<Vec<u8>>, want: &str) -> Vec<String> {
    let reply = Reply::new(writes, After::Close);
    let script = move |_: &RawRequest| reply.clone();
    let mut server = match pki {
        Some(pki) => RawHttpServer::start_tls(pki.server(false), script).await,
        None => RawHttpServer::start(script).await,
    };
    let (_supervisor, mut events) = follow(&server, pki, "broken").await;
    let lost = reconnecting(&mut events).await;
    let reason = lost.reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Protocol, "{reason}");
    assert!(reason.message().contains(want), "{reason}");
    // fast_sse's protocol fault delay.
    assert!(
        lost.next_delay >= Some(Duration::from_millis(50)),
        "{:?}",
        lost.next_delay
    );
    events.until_state(ConnectionState::Connecting).await;
    server.next_request().await;
    server.next_request().await;
    let mut data = Vec::new();
    while let Ok(m) = events.messages.try_recv() {
        data.push(
            m.payload
                .as_event()
                .expect("an sse event")
                .data()
                .to_string(),
        );
    }
    data
}

fn chunked_head() -> Vec<u8> {
    head(
        "HTTP/1.1 200 OK",
        &[
            "Content-Type: text/event-stream",
            "Transfer-Encoding: chunked",
        ],
    )
}

#[actix::test]
async fn an_invalid_chunk_size_is_a_protocol_error_after_the_events_before_it() {
    let writes = vec![
        chunked_head(),
        chunk(b"data: before\n\n"),
        b"zz\r\n".to_vec(),
    ];
    let delivered = fails_as_protocol(None, writes, "invalid chunk size").await;
    assert_eq!(delivered.first().map(String::as_str), Some("before"));
}

#[actix::test]
async fn an_invalid_chunk_size_over_tls_is_a_protocol_error() {
    let pki = Pki::new();
    let writes = vec![chunked_head(), b"-1\r\n".to_vec()];
    fails_as_protocol(Some(&pki), writes, "invalid chunk size").await;
}

#[actix::test]
async fn a_chunk_longer_than_announced_is_a_protocol_error() {
    let writes = vec![chunked_head(), b"5\r\ndata: x\n\n\r\n".to_vec()];
    fails_as_protocol(None, writes, "longer than its size").await;
}

#[actix::test]
async fn a_response_head_over_16_kib_is_a_protocol_error() {
    let big = format!("X-Big: {}", "a".repeat(20 * 1024));
    let writes = pieces(&head("HTTP/1.1 200 OK", &[&big]), 4096);
    fails_as_protocol(None, writes, "response head larger than 16384 bytes").await;
}

#[actix::test]
async fn a_response_that_is_not_http_is_a_protocol_error() {
    let writes = vec![b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()];
    fails_as_protocol(None, writes, "not an HTTP/1.x response").await;
}

#[actix::test]
async fn conflicting_content_lengths_are_a_protocol_error() {
    let writes = vec![head(
        "HTTP/1.1 200 OK",
        &[
            "Content-Type: text/event-stream",
            "Content-Length: 10",
            "Content-Length: 20",
        ],
    )];
    fails_as_protocol(None, writes, "invalid content-length").await;
}

#[actix::test]
async fn a_transfer_coding_we_did_not_ask_for_is_a_protocol_error() {
    let writes = vec![head(
        "HTTP/1.1 200 OK",
        &[
            "Content-Type: text/event-stream",
            "Transfer-Encoding: gzip, chunked",
        ],
    )];
    fails_as_protocol(None, writes, "transfer coding other than chunked").await;
}

#[actix::test]
async fn the_event_size_limit_holds_on_a_close_delimited_body() {
    let mut server = server(
        None,
        Reply::new(
            vec![
                head("HTTP/1.1 200 OK", &["Content-Type: text/event-stream"]),
                vec![b'x'; 64 * 1024],
            ],
            After::Hold,
        ),
    )
    .await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let config = fast_sse(&server.url("/events"))
        .max_event_size(1024)
        .build()
        .unwrap();
    add(&supervisor, "long", config).await;
    let reason = reconnecting(&mut events).await.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Protocol, "{reason}");
    assert!(
        reason.message().contains("larger than the 1024 byte limit"),
        "{reason}"
    );
    server.next_request().await;
}

#[actix::test]
async fn a_close_delimited_body_over_tls_without_close_notify_is_not_a_clean_end() {
    // RFC 9112 §9.8: without a closure alert the body may have been cut.
    let pki = Pki::new();
    let mut reply = first_reply(Framing::CloseHttp11);
    reply.after = After::Drop;
    let mut server = server(Some(&pki), reply).await;
    let (_supervisor, mut events) = follow(&server, Some(&pki), "unclean").await;
    for want in expected() {
        assert_eq!(events.next_event().await, want);
    }
    let reason = reconnecting(&mut events).await.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Network, "{reason}");
    assert!(reason.message().contains("close_notify"), "{reason}");
    server.next_request().await;
    assert_eq!(
        server.next_request().await.header("last-event-id"),
        Some("3")
    );
}

#[actix::test]
async fn a_content_coding_is_a_protocol_error_and_no_event_is_parsed() {
    // Events in the clear under a coding label: none may reach the parser.
    let writes = vec![
        head(
            "HTTP/1.1 200 OK",
            &[
                "Content-Type: text/event-stream",
                "Content-Encoding: gzip",
                "Content-Length: 14",
            ],
        ),
        b"data: hidden\n\n".to_vec(),
    ];
    let delivered = fails_as_protocol(None, writes, "content coding gzip").await;
    assert!(delivered.is_empty(), "{delivered:?}");
}

#[actix::test]
async fn an_identity_content_coding_streams() {
    let mut server = RawHttpServer::start(|_| {
        Reply::new(
            vec![
                head(
                    "HTTP/1.1 200 OK",
                    &[
                        "Content-Type: text/event-stream",
                        "Content-Encoding: identity",
                    ],
                ),
                b"data: plain\n\n".to_vec(),
            ],
            After::Hold,
        )
    })
    .await;
    let (_supervisor, mut events) = follow(&server, None, "plain").await;
    assert_eq!(events.next_event().await.1, "plain");
    server.next_request().await;
}
