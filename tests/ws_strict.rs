//! RFC 6455 strictness against a scripted raw TCP server that writes exact
//! frames: nothing is data after the peer's Close, nothing is sent after
//! ours, protocol failures send their close code before TCP goes, the peer
//! closes TCP first after a close handshake, fragmented text fails on its
//! first invalid byte, and what was valid before a bad frame is delivered.

mod common;

use std::time::Duration;

use actix::Addr;
use actix_tether::{ConnectionState, EndpointBuilder, ErrorCategory, SupervisorActor};
use common::{raw_ws::*, *};

async fn connect(
    script: Vec<Step>,
    configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
) -> (RawWsServer, Addr<SupervisorActor>, Events) {
    connect_with(None, script, configure).await
}

/// As [`connect`], the server answering with this extensions header.
async fn connect_agreeing(
    extensions: &'static str,
    script: Vec<Step>,
    configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
) -> (RawWsServer, Addr<SupervisorActor>, Events) {
    connect_with(Some(extensions), script, configure).await
}

async fn connect_with(
    extensions: Option<&'static str>,
    script: Vec<Step>,
    configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
) -> (RawWsServer, Addr<SupervisorActor>, Events) {
    let mut server = RawWsServer::start_agreeing(extensions, script).await;
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    let config = configure(fast(&server.url())).build().unwrap();
    add(&supervisor, "raw", config).await;
    assert_eq!(server.next().await, RawEvent::Connected);
    (server, supervisor, events)
}

/// The close code the client sent before its stream ended.
async fn client_close_code(server: &mut RawWsServer) -> Option<u16> {
    let seen = server.until(|e| *e == RawEvent::Eof).await;
    seen.iter().find_map(RawEvent::close_code)
}

/// The reason of the first move away from Connected.
async fn lost_reason(events: &mut Events) -> actix_tether::Error {
    let seen = events.until_state(ConnectionState::Reconnecting).await;
    seen.last().unwrap().reason.clone().expect("a reason")
}

#[actix::test]
async fn reserved_bits_fail_with_close_1002_as_a_protocol_fault() {
    let script = vec![Step::Write(frame(true, 0b100, 0x1, b"x"))];
    let (mut server, _supervisor, mut events) = connect(script, |c| c).await;
    assert_eq!(client_close_code(&mut server).await, Some(1002));
    assert_eq!(
        lost_reason(&mut events).await.category(),
        ErrorCategory::Protocol
    );
}

#[actix::test]
async fn invalid_utf8_fails_with_close_1007() {
    let script = vec![Step::Write(text(&[b'o', 0xFF, 0xFE]))];
    let (mut server, _supervisor, mut events) = connect(script, |c| c).await;
    assert_eq!(client_close_code(&mut server).await, Some(1007));
    assert_eq!(
        lost_reason(&mut events).await.category(),
        ErrorCategory::Protocol
    );
}

#[actix::test]
async fn a_message_over_the_limit_fails_with_close_1009() {
    let script = vec![Step::Write(text(&[b'a'; 100]))];
    let (mut server, _supervisor, mut events) = connect(script, |c| c.max_message_size(16)).await;
    assert_eq!(client_close_code(&mut server).await, Some(1009));
    assert_eq!(
        lost_reason(&mut events).await.category(),
        ErrorCategory::Protocol
    );
}

#[actix::test]
async fn fragmented_text_fails_on_its_first_invalid_byte() {
    // The first fragment is already invalid; the rest never comes.
    let script = vec![Step::Write(frame(false, 0, 0x1, &[b'a', 0xC0, b'b']))];
    let (mut server, _supervisor, _events) =
        connect(script, |c| c.heartbeat_interval(Duration::from_secs(60))).await;
    assert_eq!(client_close_code(&mut server).await, Some(1007));
}

#[actix::test]
async fn nothing_after_the_peers_close_is_data_or_answered() {
    let mut burst = close(1000, "bye");
    burst.extend(text(b"late"));
    burst.extend(frame(true, 0, 0x9, b"ping"));
    let script = vec![Step::Write(burst), Step::AwaitFrame(0x8), Step::Finish];
    let (mut server, _supervisor, mut events) = connect(script, |c| c).await;
    let seen = server.until(|e| *e == RawEvent::Eof).await;
    assert_eq!(seen.iter().find_map(RawEvent::close_code), Some(1000));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, RawEvent::Frame { opcode: 0xA, .. })),
        "a pong after our close: {seen:?}"
    );
    events.until_state(ConnectionState::Reconnecting).await;
    no_late_message(&mut events).await;
}

/// Waits a little for a message that must not come.
async fn no_late_message(events: &mut Events) {
    let late = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            let m = events.messages.recv().await.expect("open");
            if m.payload.as_text() == Some("late") {
                return m;
            }
        }
    })
    .await;
    assert!(late.is_err(), "data after the close was delivered");
}

/// The same across a full burst and the read buffer growing: the frames
/// after the close are still not data.
#[actix::test]
async fn nothing_after_the_peers_close_is_data_across_a_full_burst() {
    let mut burst = Vec::new();
    for _ in 0..7 {
        burst.extend(frame(true, 0, 0x2, &[7; 700]));
    }
    burst.extend(close(1000, "bye"));
    burst.extend(text(b"late"));
    let script = vec![Step::Write(burst), Step::AwaitFrame(0x8), Step::Finish];
    let (_server, _supervisor, mut events) = connect(script, |c| c.max_burst(8)).await;
    events.until_state(ConnectionState::Reconnecting).await;
    no_late_message(&mut events).await;
}

/// A broken frame after the peer's close ends the connection at once, not
/// at the close timeout (and does not spin meanwhile).
#[actix::test]
async fn a_broken_frame_after_the_peers_close_ends_the_connection() {
    let mut burst = close(1000, "bye");
    burst.extend(frame(true, 0b010, 0x1, b"x"));
    let script = vec![Step::Write(burst)];
    let (_server, _supervisor, mut events) =
        connect(script, |c| c.close_timeout(Duration::from_secs(60))).await;
    // Within WAIT (10 s), far below the 60 s close timeout.
    events.until_state(ConnectionState::Reconnecting).await;
}

#[actix::test]
async fn after_echoing_a_close_the_client_lets_the_server_close_tcp_first() {
    let script = vec![
        Step::Write(close(1000, "")),
        Step::AwaitFrame(0x8),
        Step::Sleep(Duration::from_millis(300)),
        Step::Mark(1),
        Step::Finish,
    ];
    let (mut server, _supervisor, _events) = connect(script, |c| c).await;
    let seen = server.until(|e| *e == RawEvent::Eof).await;
    let marker = seen.iter().position(|e| *e == RawEvent::Marker(1));
    assert!(
        marker.is_some(),
        "the client closed TCP before the server did: {seen:?}"
    );
}

#[actix::test]
async fn a_valid_message_before_a_bad_frame_is_delivered() {
    let mut burst = text(b"ok");
    burst.extend(frame(true, 0b100, 0x1, b"x"));
    let (_server, _supervisor, mut events) = connect(vec![Step::Write(burst)], |c| c).await;
    assert_eq!(events.next_text().await.1, "ok");
    assert_eq!(
        lost_reason(&mut events).await.category(),
        ErrorCategory::Protocol
    );
}

/// RFC 7692 §7.2.3.1: "Hello" compressed, RSV1 on its frame; then the same
/// message in two fragments (§7.2.3.3), and one shared-window message.
#[actix::test]
async fn compressed_messages_inflate_whole_and_fragmented() {
    let hello = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00];
    let mut burst = frame(true, 0b100, 0x1, &hello);
    burst.extend(frame(false, 0b100, 0x1, &hello[..3]));
    burst.extend(frame(true, 0, 0x0, &hello[3..]));
    let (_server, supervisor, mut events) =
        connect_agreeing("permessage-deflate", vec![Step::Write(burst)], |c| c).await;
    assert_eq!(events.next_text().await.1, "Hello");
    assert_eq!(events.next_text().await.1, "Hello");
    // The monitor shows the wire and inflated sizes (it hears figures on a
    // state change: force one).
    supervisor
        .send(actix_tether::Reconnect::endpoint("raw"))
        .await
        .unwrap()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let traffic = loop {
        let report = supervisor
            .send(actix_tether::GetHealthReport::default())
            .await
            .unwrap();
        let traffic = report.endpoint("raw").unwrap().traffic;
        if traffic.inflated_bytes_in > 0 || std::time::Instant::now() > deadline {
            break traffic;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(traffic.compressed_bytes_in, 14, "{traffic:?}");
    assert_eq!(traffic.inflated_bytes_in, 10, "{traffic:?}");
}

/// Pushes written in one go on a connection that agreed to
/// permessage-deflate: from 64 bytes compressed (RSV1 set, the payload
/// inflates to the message), below that as they are; in push order.
#[actix::test]
async fn pushes_are_compressed_from_64_bytes_when_deflate_was_agreed() {
    let (mut server, supervisor, _events) =
        connect_agreeing("permessage-deflate", vec![], |c| c).await;
    let handle = supervisor
        .send(actix_tether::GetEndpoint::new("raw"))
        .await
        .unwrap()
        .unwrap();
    let long = "0123456789".repeat(20);
    let pushed = [long.clone(), "short".to_owned(), "y".repeat(63), long];
    for text in &pushed {
        handle.push_wait(text.clone()).await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < pushed.len() {
        if let RawEvent::Frame {
            fin: true,
            rsv1,
            opcode: 0x1,
            payload,
        } = server.next().await
        {
            seen.push((rsv1, payload));
        }
    }
    for ((rsv1, payload), text) in seen.into_iter().zip(&pushed) {
        assert_eq!(rsv1, text.len() >= 64, "RSV1 of a {} B message", text.len());
        let got = if rsv1 {
            // RFC 7692 §7.2.2: append the removed 00 00 FF FF, inflate.
            let mut inflate = flate2::Decompress::new(false);
            let mut out = Vec::with_capacity(1024);
            let input = [payload.as_slice(), &[0, 0, 0xFF, 0xFF]].concat();
            inflate
                .decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
                .unwrap();
            out
        } else {
            payload
        };
        assert_eq!(String::from_utf8(got).unwrap(), *text);
    }
}

#[actix::test]
async fn a_decompression_bomb_stops_at_the_limit_with_close_1009() {
    // 1 MiB of zeros compresses to about a kilobyte.
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut bomb = Vec::with_capacity(8 * 1024);
    deflate
        .compress_vec(&vec![0u8; 1 << 20], &mut bomb, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
    bomb.truncate(bomb.len() - 4);
    let script = vec![Step::Write(frame(true, 0b100, 0x2, &bomb))];
    let (mut server, _supervisor, mut events) =
        connect_agreeing("permessage-deflate", script, |c| {
            c.max_message_size(64 * 1024)
        })
        .await;
    assert_eq!(client_close_code(&mut server).await, Some(1009));
    assert_eq!(
        lost_reason(&mut events).await.category(),
        ErrorCategory::Protocol
    );
}

#[actix::test]
async fn an_extension_we_did_not_offer_fails_the_handshake() {
    let (_server, _supervisor, mut events) = connect_agreeing(
        "x-webkit-deflate-frame",
        vec![Step::Write(text(b"never"))],
        |c| c,
    )
    .await;
    let reason = lost_reason(&mut events).await;
    assert_eq!(reason.category(), ErrorCategory::Protocol, "{reason}");
    assert!(
        reason.to_string().contains("sec-websocket-extensions"),
        "{reason}"
    );
}
