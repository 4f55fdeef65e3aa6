//! The raw TCP transport against in-process TCP servers: every framing both
//! ways, an AMI-like login with a fresh secret per attempt and its ping,
//! a server's restart, FIN and reset, half-open and silent peers, oversize
//! and non-UTF-8 messages, and TLS.

mod common;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix::Addr;
use actix_tether::{
    config::Framing, Accepted, BackoffConfig, ConnectionState, EndpointBuilder, EndpointConfig,
    ErrorCategory, GetEndpoint, GetHealthReport, Payload, SendPayload, StatusChanged,
    SupervisorActor, TlsSettings,
};
use common::{ami_server::*, pki::Pki, tcp_server::*, *};

/// A TCP endpoint with quick retries and a heartbeat slow enough not to
/// interfere (tests of liveness set their own).
fn tcp(url: &str) -> EndpointBuilder {
    EndpointConfig::tcp(url)
        .heartbeat_interval(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(3))
        .backoff(BackoffConfig::Constant {
            delay: Duration::from_millis(100),
        })
}

/// A `tcps://` endpoint that trusts `pki`'s private CA.
fn trusting(url: &str, pki: &Pki) -> EndpointBuilder {
    tcp(url).tls(TlsSettings::private_ca(&pki.ca_pem))
}

async fn start() -> (Addr<SupervisorActor>, Events) {
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    (supervisor, events)
}

/// The next message's bytes.
async fn next_bytes(events: &mut Events) -> Vec<u8> {
    next(&mut events.messages, WAIT)
        .await
        .payload
        .as_bytes()
        .to_vec()
}

/// The first change into `to`, and the reason for it.
async fn first_into(events: &mut Events, to: ConnectionState) -> StatusChanged {
    events.until_state(to).await.pop().unwrap()
}

/// Why `endpoint` first left a state with an error.
async fn first_failure_of(events: &mut Events, endpoint: &str) -> actix_tether::Error {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = next(&mut events.status, left).await;
        if e.endpoint.as_str() == endpoint {
            if let Some(reason) = e.reason {
                return reason;
            }
        }
    }
}

#[actix::test]
async fn every_framing_carries_messages_both_ways() {
    let (supervisor, mut events) = start().await;
    // The framing, what the server writes, the messages it makes, and how
    // our "hi" is written.
    type Case = (Framing, &'static [u8], Vec<&'static [u8]>, &'static [u8]);
    let cases: [Case; 4] = [
        (
            Framing::Lines,
            b"one\r\ntwo\n\xc3\xa9t\xc3\xa9\n",
            vec![b"one", b"two", "été".as_bytes()],
            b"hi\r\n",
        ),
        (
            Framing::Blocks,
            b"A: 1\r\nB: 2\r\n\r\n\r\nC: 3\n\n",
            vec![b"A: 1\r\nB: 2", b"C: 3"],
            b"hi\r\n\r\n",
        ),
        (
            Framing::LengthU16,
            b"\x00\x03abc\x00\x00\x00\x01\n",
            vec![b"abc", b"", b"\n"],
            b"\x00\x02hi",
        ),
        (
            Framing::LengthU32,
            b"\x00\x00\x00\x03abc\x00\x00\x00\x01z",
            vec![b"abc", b"z"],
            b"\x00\x00\x00\x02hi",
        ),
    ];
    for (framing, wire, expected, written) in cases {
        let name = framing.name();
        let mut server = ByteServer::start(move |_| (wire.to_vec(), End::Hold)).await;
        add(
            &supervisor,
            name,
            tcp(&server.url()).framing(framing).build().unwrap(),
        )
        .await;
        first_into(&mut events, ConnectionState::Connected).await;
        for want in expected {
            let got = next(&mut events.messages, WAIT).await;
            assert_eq!(got.endpoint.as_str(), name);
            assert_eq!(got.payload.as_bytes(), want, "{name}");
            let text = matches!(got.payload, Payload::Text(_));
            assert_eq!(text, name == "lines" || name == "blocks", "{name}");
        }
        // A send is written (its receipt settles) in the framing's format.
        let receipt = supervisor
            .send(SendPayload::new(name, "hi"))
            .await
            .unwrap()
            .unwrap();
        receipt.outcome().await.unwrap();
        assert_eq!(server.read_until(0, written).await, written, "{name}");
        // So is a push.
        let handle = supervisor
            .send(GetEndpoint::new(name))
            .await
            .unwrap()
            .unwrap();
        handle.push("hi").unwrap();
        assert_eq!(server.read_until(0, written).await, written, "{name}");
    }
}

#[actix::test]
async fn lines_ready_at_once_arrive_in_bursts_of_at_most_max_burst() {
    let (supervisor, mut events) = start().await;
    supervisor
        .send(actix_tether::Subscribe::to(
            actix_tether::Subscriber::Bursts(events.addr.clone().recipient()),
        ))
        .await
        .unwrap()
        .unwrap();
    let wire: Vec<u8> = (0..100)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let server = ByteServer::start(move |_| (wire.clone(), End::Hold)).await;
    let config = tcp(&server.url()).max_burst(16).build().unwrap();
    add(&supervisor, "lines", config).await;
    let (mut lines, mut bursts, mut largest) = (Vec::new(), 0, 0);
    while lines.len() < 100 {
        let burst = next(&mut events.batches, WAIT).await;
        bursts += 1;
        largest = largest.max(burst.payloads.len());
        lines.extend(
            burst
                .payloads
                .iter()
                .map(|p| p.as_text().unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    assert_eq!(lines, expected);
    assert!(largest <= 16, "{largest}");
    assert!(bursts < 100, "one burst per read, not per line: {bursts}");
}

#[actix::test]
async fn a_line_that_cannot_be_written_fails_its_send_and_the_connection_goes_on() {
    let (supervisor, mut events) = start().await;
    let mut server = ByteServer::start(|_| (Vec::new(), End::Hold)).await;
    add(&supervisor, "lines", tcp(&server.url()).build().unwrap()).await;
    first_into(&mut events, ConnectionState::Connected).await;
    let refused = supervisor
        .send(SendPayload::new("lines", "two\nlines"))
        .await
        .unwrap();
    let refused = match refused {
        Ok(receipt) => receipt.outcome().await.unwrap_err(),
        Err(err) => err,
    };
    assert!(refused.message().contains("line break"), "{refused}");
    supervisor
        .send(SendPayload::new("lines", "fine"))
        .await
        .unwrap()
        .unwrap()
        .outcome()
        .await
        .unwrap();
    assert_eq!(server.read_until(0, b"\r\n").await, b"fine\r\n");
}

/// An AMI endpoint: banner then blocks, a login with a fresh secret per
/// attempt (`token-1`, `token-2`, ...), a ping every 200 ms.
fn ami(url: &str, secrets: Arc<AtomicU64>) -> EndpointBuilder {
    let secret = move || format!("token-{}", secrets.fetch_add(1, Ordering::SeqCst) + 1);
    ami_client(tcp(url), secret, Duration::from_secs(5))
        .heartbeat_interval(Duration::from_millis(200))
        .max_missed(2)
}

/// A supervisor with one AMI endpoint, `ami`, on `server`, and its events.
async fn start_ami(server: &AmiServer) -> (Addr<SupervisorActor>, Events) {
    let (supervisor, events) = start().await;
    let secrets = Arc::new(AtomicU64::new(0));
    let config = ami(&server.url(), secrets).build().unwrap();
    add(&supervisor, "ami", config).await;
    (supervisor, events)
}

/// Accepts `admin` with any `token-…` secret.
fn tokens(user: &str, secret: &str) -> bool {
    user == "admin" && secret.starts_with("token-")
}

/// The next login the AMI server saw.
async fn next_login(server: &mut AmiServer) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let AmiEvent::Login {
            secret, accepted, ..
        } = next(&mut server.events, left).await
        {
            return (secret, accepted);
        }
    }
}

#[actix::test]
async fn an_ami_login_pings_and_events_survive_a_server_restart_with_a_fresh_secret() {
    let mut server = AmiServer::start(Duration::from_millis(100), tokens).await;
    let (supervisor, mut events) = start_ami(&server).await;
    first_into(&mut events, ConnectionState::Authenticated).await;
    assert_eq!(next_login(&mut server).await, ("token-1".to_owned(), true));
    assert_eq!(events.next_text().await.1, BANNER);
    // Events flow; ping replies are the heartbeat's, never delivered.
    let mut ticks = 0;
    while ticks < 3 {
        let (_, text) = events.next_text().await;
        assert!(!text.contains("Ping: Pong"), "{text}");
        assert!(!text.contains("ActionID: login"), "{text}");
        ticks += usize::from(text.starts_with("Event: Tick"));
    }
    let pinged =
        async { while !matches!(next(&mut server.events, WAIT).await, AmiEvent::Ping { .. }) {} };
    pinged.await;

    server.stop();
    let lost = first_into(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer, "{reason}");
    // Sent while down: queued, and written after the next login only.
    let receipt = supervisor
        .send(SendPayload::new("ami", "Action: Status\nActionID: s1"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(receipt.accepted(), Accepted::Queued { .. }),
        "{:?}",
        receipt.accepted()
    );
    server.restart().await;
    let back = first_into(&mut events, ConnectionState::Authenticated).await;
    assert_eq!(back.generation, 2);
    assert_eq!(next_login(&mut server).await, ("token-2".to_owned(), true));
    receipt.outcome().await.unwrap();
    let status = async {
        loop {
            if let AmiEvent::Action { name, .. } = next(&mut server.events, WAIT).await {
                return name;
            }
        }
    };
    assert_eq!(status.await, "status");

    // The monitor counts the messages and the answered pings.
    let deadline = Instant::now() + WAIT;
    loop {
        let report = supervisor.send(GetHealthReport::default()).await.unwrap();
        let ami = report.endpoint("ami").unwrap();
        if ami.traffic.messages_in > 0 && ami.heartbeats.acknowledged > 0 {
            assert!(ami.latency.is_some(), "{ami:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no figures: {ami:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix::test]
async fn an_ami_login_rejection_fails_the_endpoint() {
    let mut server = AmiServer::start(Duration::from_millis(100), |_, _| false).await;
    let (_supervisor, mut events) = start_ami(&server).await;
    let failed = first_into(&mut events, ConnectionState::Failed).await;
    let reason = failed.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Auth, "{reason}");
    assert!(
        reason.message().contains("Authentication failed"),
        "{reason}"
    );
    assert_eq!(next_login(&mut server).await, ("token-1".to_owned(), false));
}

#[actix::test]
async fn a_half_open_ami_server_is_detected_by_its_unanswered_pings() {
    let mut server = AmiServer::start(Duration::from_millis(100), tokens).await;
    let (_supervisor, mut events) = start_ami(&server).await;
    first_into(&mut events, ConnectionState::Authenticated).await;
    server.half_open();
    let silent_at = Instant::now();
    let lost = first_into(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Heartbeat, "{reason}");
    // Two unanswered pings at 200 ms.
    let after = silent_at.elapsed();
    assert!(after >= Duration::from_millis(200), "{after:?}");
    // The next connection is served.
    first_into(&mut events, ConnectionState::Authenticated).await;
    next_login(&mut server).await;
}

#[actix::test]
async fn a_silent_peer_without_an_application_heartbeat_is_detected_by_silence() {
    let (supervisor, mut events) = start().await;
    let server = ByteServer::start(|_| (b"hello\n".to_vec(), End::Hold)).await;
    let config = tcp(&server.url())
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_millis(600))
        .build()
        .unwrap();
    add(&supervisor, "quiet", config).await;
    first_into(&mut events, ConnectionState::Connected).await;
    assert_eq!(next_bytes(&mut events).await, b"hello");
    let heard_at = Instant::now();
    let lost = first_into(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::Heartbeat, "{reason}");
    let after = heard_at.elapsed();
    assert!(after >= Duration::from_millis(400), "{after:?}");
}

#[actix::test]
async fn a_server_fin_is_closed_by_peer_and_a_reset_is_a_network_failure() {
    let (supervisor, mut events) = start().await;
    let fin = ByteServer::start(|_| (b"bye\n".to_vec(), End::Fin)).await;
    add(&supervisor, "fin", tcp(&fin.url()).build().unwrap()).await;
    assert_eq!(next_bytes(&mut events).await, b"bye");
    let lost = first_into(&mut events, ConnectionState::Reconnecting).await;
    let reason = lost.reason.unwrap();
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer, "{reason}");
    // And it comes back.
    first_into(&mut events, ConnectionState::Connected).await;
    supervisor
        .send(actix_tether::RemoveEndpoint::new("fin"))
        .await
        .unwrap()
        .unwrap();

    let reset = ByteServer::start(|_| (Vec::new(), End::Reset)).await;
    add(&supervisor, "reset", tcp(&reset.url()).build().unwrap()).await;
    let reason = first_failure_of(&mut events, "reset").await;
    assert_eq!(reason.category(), ErrorCategory::Network, "{reason}");
}

#[actix::test]
async fn oversize_and_non_utf8_messages_are_protocol_errors() {
    let long_line = [b'x'; 64].to_vec();
    let cases: [(Framing, Vec<u8>, &str); 5] = [
        (
            Framing::Lines,
            [&long_line[..], b"\n"].concat(),
            "line longer",
        ),
        // Never ended: refused before the rest arrives.
        (Framing::Lines, long_line.clone(), "line longer"),
        (
            Framing::Blocks,
            b"A: 1234567\r\nB: 1234567\r\nC: 1234567\r\n".to_vec(),
            "block longer",
        ),
        (
            Framing::LengthU32,
            b"\x00\x10\x00\x00".to_vec(),
            "frame longer",
        ),
        (Framing::Lines, b"ok\n\xff\xfe\n".to_vec(), "not utf-8"),
    ];
    for (i, (framing, wire, problem)) in cases.into_iter().enumerate() {
        let (supervisor, mut events) = start().await;
        let server = ByteServer::start(move |_| (wire.clone(), End::Hold)).await;
        let config = tcp(&server.url())
            .framing(framing)
            .max_message_size(16)
            .build()
            .unwrap();
        add(&supervisor, "big", config).await;
        let lost = first_into(&mut events, ConnectionState::Reconnecting).await;
        let reason = lost.reason.unwrap();
        assert_eq!(reason.category(), ErrorCategory::Protocol, "{i}: {reason}");
        assert!(reason.message().contains(problem), "{i}: {reason}");
    }
}

#[actix::test]
async fn tcps_trusts_a_private_ca_and_reports_an_untrusted_certificate() {
    let pki = Pki::new();
    let server =
        ByteServer::start_tls(pki.server(false), |_| (b"secure\r\n".to_vec(), End::Hold)).await;
    let (supervisor, mut events) = start().await;
    let trusted = trusting(&server.url(), &pki).build().unwrap();
    add(&supervisor, "trusted", trusted).await;
    first_into(&mut events, ConnectionState::Connected).await;
    assert_eq!(next_bytes(&mut events).await, b"secure");

    add(
        &supervisor,
        "untrusted",
        tcp(&server.url()).build().unwrap(),
    )
    .await;
    let reason = first_failure_of(&mut events, "untrusted").await;
    assert_eq!(reason.category(), ErrorCategory::Tls, "{reason}");
}

/// A TLS 1.3 server's refusal of a missing client certificate comes after
/// our side of the handshake, on the first read: still a TLS failure.
#[actix::test]
async fn tcps_refused_for_a_missing_client_certificate_is_a_tls_failure() {
    let pki = Pki::new();
    let server =
        ByteServer::start_tls(pki.server(true), |_| (b"never\n".to_vec(), End::Hold)).await;
    let (supervisor, mut events) = start().await;
    let config = trusting(&server.url(), &pki).build().unwrap();
    add(&supervisor, "anonymous", config).await;
    let reason = first_failure_of(&mut events, "anonymous").await;
    assert_eq!(reason.category(), ErrorCategory::Tls, "{reason}");
}

#[actix::test]
async fn tcp_urls_need_a_port_and_no_user_info_and_framing_is_for_tcp_only() {
    let field = |builder: EndpointBuilder| builder.build().map(|_| ()).map_err(|e| e.field());
    assert_eq!(field(EndpointConfig::tcp("tcp://127.0.0.1:1")), Ok(()));
    assert_eq!(field(EndpointConfig::tcp("tcps://h.example:5039")), Ok(()));
    assert_eq!(field(EndpointConfig::tcp("tcp://127.0.0.1")), Err("url"));
    assert_eq!(field(EndpointConfig::tcp("ws://127.0.0.1:1")), Err("url"));
    assert_eq!(field(EndpointConfig::tcp("tcp://u:p@h:1")), Err("url"));
    assert_eq!(field(EndpointConfig::tcp("tcp://h:1/")), Ok(()));
    for extra in ["/path", "?key=secret", "#f", "/p?q#f"] {
        let err = EndpointConfig::tcp(format!("tcp://h:1{extra}"))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "url", "{extra}");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("path, query or fragment"), "{err}");
    }
    assert_eq!(
        field(EndpointConfig::tcp("tcp://h:1").header("X-Key", "v")),
        Err("headers")
    );
    assert_eq!(
        field(EndpointConfig::websocket("ws://h/").framing(Framing::Blocks)),
        Err("framing")
    );
    let json: EndpointConfig = serde_json::from_str(
        r#"{"url": "tcp://127.0.0.1:5038", "kind": "tcp", "framing": "banner-then-blocks"}"#,
    )
    .unwrap();
    json.validate().unwrap();
    assert_eq!(json.framing, Framing::BannerThenBlocks);
}

/// Messages ending in a comma: a codec of the user's.
struct Commas;

impl actix_codec::Decoder for Commas {
    type Item = Payload;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> std::io::Result<Option<Payload>> {
        let Some(end) = src.iter().position(|b| *b == b',') else {
            return Ok(None);
        };
        let item = src.split_to(end + 1);
        Ok(Some(Payload::binary(item.freeze().slice(..end))))
    }
}

impl actix_codec::Encoder<Payload> for Commas {
    type Error = std::io::Error;

    fn encode(&mut self, item: Payload, dst: &mut bytes::BytesMut) -> std::io::Result<()> {
        dst.extend_from_slice(item.as_bytes());
        dst.extend_from_slice(b",");
        Ok(())
    }
}

#[actix::test]
async fn a_user_codec_frames_the_stream() {
    let (supervisor, mut events) = start().await;
    let mut server = ByteServer::start(|_| (b"a,bc,".to_vec(), End::Hold)).await;
    let config = tcp(&server.url())
        .framing(Framing::codec(|| Commas))
        .build()
        .unwrap();
    add(&supervisor, "commas", config).await;
    assert_eq!(next_bytes(&mut events).await, b"a");
    assert_eq!(next_bytes(&mut events).await, b"bc");
    supervisor
        .send(SendPayload::new("commas", "hi"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.read_until(0, b",").await, b"hi,");
}

/// TCP has no close handshake, so a close must write out everything
/// queued before its FIN: a message larger than the socket buffers, to a
/// peer that has not read yet, arrives whole.
#[actix::test]
async fn closing_writes_out_everything_queued_before_the_fin() {
    const LEN: usize = 32 << 20;
    let mut server = DrainServer::start().await;
    let (supervisor, mut events) = start().await;
    let config = tcp(&server.url())
        .max_message_size(LEN)
        .close_timeout(WAIT)
        .build()
        .unwrap();
    add(&supervisor, "big", config).await;
    first_into(&mut events, ConnectionState::Connected).await;
    supervisor
        .send(SendPayload::new("big", "x".repeat(LEN)))
        .await
        .unwrap()
        .unwrap();
    let removed = supervisor.send(actix_tether::RemoveEndpoint::new("big"));
    first_into(&mut events, ConnectionState::Closing).await;
    assert_eq!(server.drain().await, LEN + 2, "the line and its CRLF");
    removed.await.unwrap().unwrap();
}

/// The commas codec behind an error enum of its own, as tokio-util's
/// codecs have (`LinesCodecError::Io`).
struct EnumCommas(Commas);

#[derive(Debug)]
enum CommasError {
    Io(std::io::Error),
}

impl From<std::io::Error> for CommasError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

impl std::fmt::Display for CommasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(err) => write!(f, "commas: {err}"),
        }
    }
}

impl std::error::Error for CommasError {}

impl actix_codec::Decoder for EnumCommas {
    type Item = Payload;
    type Error = CommasError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Payload>, CommasError> {
        Ok(self.0.decode(src)?)
    }
}

impl actix_codec::Encoder<Payload> for EnumCommas {
    type Error = CommasError;

    fn encode(&mut self, item: Payload, dst: &mut bytes::BytesMut) -> Result<(), CommasError> {
        Ok(self.0.encode(item, dst)?)
    }
}

/// A reset is the socket's failure, not a bad frame, whatever error type
/// the user's codec wraps it in.
#[actix::test]
async fn a_reset_under_a_user_codec_with_its_own_error_type_is_a_network_failure() {
    let (supervisor, mut events) = start().await;
    let server = ByteServer::start(|_| (Vec::new(), End::Reset)).await;
    let config = tcp(&server.url())
        .framing(Framing::codec(|| EnumCommas(Commas)))
        .build()
        .unwrap();
    add(&supervisor, "enum", config).await;
    let reason = first_failure_of(&mut events, "enum").await;
    assert_eq!(reason.category(), ErrorCategory::Network, "{reason}");
}

/// A TLS server that ends the stream without `close_notify`, between
/// messages, closed it; one that does so inside a line may have cut it
/// short: that line is never delivered as whole.
#[actix::test]
async fn a_tls_fin_without_close_notify_is_closed_by_peer_between_messages_only() {
    let pki = Pki::new();
    let (supervisor, mut events) = start().await;
    let between = ByteServer::start_tls(pki.server(false), |_| {
        (b"bye\n".to_vec(), End::FinWithoutCloseNotify)
    })
    .await;
    let config = trusting(&between.url(), &pki).build().unwrap();
    add(&supervisor, "between", config).await;
    assert_eq!(next_bytes(&mut events).await, b"bye");
    let reason = first_failure_of(&mut events, "between").await;
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer, "{reason}");
    supervisor
        .send(actix_tether::RemoveEndpoint::new("between"))
        .await
        .unwrap()
        .unwrap();

    let inside = ByteServer::start_tls(pki.server(false), |_| {
        (b"trunc".to_vec(), End::FinWithoutCloseNotify)
    })
    .await;
    let config = trusting(&inside.url(), &pki).build().unwrap();
    add(&supervisor, "inside", config).await;
    let reason = first_failure_of(&mut events, "inside").await;
    assert_eq!(reason.category(), ErrorCategory::Network, "{reason}");
    assert!(events.messages.try_recv().is_err(), "no truncated line");
}
