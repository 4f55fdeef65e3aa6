//! Interop with real third-party WebSocket servers: Python `websockets` and
//! node `ws` echo servers (`tests/interop/`, installed by `.ci/run`), each
//! uncompressed, offering permessage-deflate, and offering it without context
//! takeover. Every message size that changes the frame header (0, 125, 126,
//! 65535, 65536 bytes) and a 1 MiB message echo intact and in order, the
//! handshake agrees the extensions we expect, and the endpoint reconnects
//! after the server is killed and started again on the same port.
//!
//! A server that is not installed makes its tests print `SKIPPED: ...` on
//! stderr and return (they fail instead when `.ci/run` installed it).

mod common;

use std::{io::Write, time::Duration};

use actix_tether::{ConnectionState, GetEndpoint, Payload, SendPayload};
use common::{
    third_party::{skip, ServerCompression, ServerKind, Start, ThirdPartyServer},
    *,
};

/// Whether the client offers permessage-deflate in its handshake (it does,
/// by default, always with `client_no_context_takeover`): the extension
/// checks below expect what each server agrees to.
const CLIENT_OFFERS_DEFLATE: bool = true;

const MIB: usize = 1024 * 1024;

/// Sizes where the frame header changes (7-bit, 16-bit, 64-bit lengths),
/// either side of each boundary, and a 1 MiB message.
const SIZES: [usize; 9] = [0, 1, 125, 126, 127, 65_535, 65_536, 65_537, MIB];

#[actix::test]
async fn websockets_server_uncompressed() {
    interoperate(ServerKind::Websockets, ServerCompression::None).await;
}

#[actix::test]
async fn websockets_server_offering_deflate() {
    interoperate(ServerKind::Websockets, ServerCompression::Deflate).await;
}

#[actix::test]
async fn websockets_server_offering_deflate_without_context_takeover() {
    interoperate(
        ServerKind::Websockets,
        ServerCompression::DeflateNoContextTakeover,
    )
    .await;
}

#[actix::test]
async fn ws_server_uncompressed() {
    interoperate(ServerKind::Ws, ServerCompression::None).await;
}

#[actix::test]
async fn ws_server_offering_deflate() {
    interoperate(ServerKind::Ws, ServerCompression::Deflate).await;
}

#[actix::test]
async fn ws_server_offering_deflate_without_context_takeover() {
    interoperate(ServerKind::Ws, ServerCompression::DeflateNoContextTakeover).await;
}

/// Connects to a fresh `kind` server, checks the agreed extensions, echoes
/// every size as text and binary, then kills the server and checks the
/// endpoint reconnects to its replacement.
async fn interoperate(kind: ServerKind, compression: ServerCompression) {
    let test = format!("{}/{compression:?}", kind.name());
    let server = match ThirdPartyServer::start(kind, compression, 0).await {
        Start::Started(server) => server,
        Start::Unavailable(why) => return skip(&test, kind, &why),
        Start::BindFailed(why) => panic!("{test}: binding port 0 failed: {why}"),
    };
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let config = fast(&server.url())
        // The test is about the data path: a loaded machine may hold a pong
        // behind a megabyte, which must not read as a dead peer.
        .heartbeat_timeout(Duration::from_secs(5))
        .max_message_size(4 * MIB)
        .build()
        .unwrap();
    add(&supervisor, "peer", config).await;
    events.until_state(ConnectionState::Connected).await;

    check_extensions(&test, &supervisor, &mut events, compression).await;
    echo_every_size(&test, &supervisor, &mut events).await;
    push_every_size(&test, &supervisor, &mut events).await;
    reconnect_after_restart(&test, server, compression, &supervisor, &mut events).await;
}

/// Asks the server what its handshake agreed (`__extensions__`).
async fn check_extensions(
    test: &str,
    supervisor: &actix::Addr<actix_tether::SupervisorActor>,
    events: &mut Events,
    compression: ServerCompression,
) {
    send(supervisor, Payload::text("__extensions__")).await;
    let (_, reply) = events.next_text().await;
    let field = |name: &str| {
        reply
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("{test}: no {name:?} in {reply:?}"))
            .trim()
            .to_owned()
    };
    let (agreed, offered) = (field("agreed:"), field("offered:"));
    assert_eq!(
        offered.contains("permessage-deflate"),
        CLIENT_OFFERS_DEFLATE,
        "{test}: the client offered {offered:?}"
    );
    let deflate = CLIENT_OFFERS_DEFLATE && compression != ServerCompression::None;
    if !deflate {
        assert_eq!(agreed, "", "{test}: nothing to agree, yet {agreed:?}");
        return;
    }
    assert!(
        agreed.starts_with("permessage-deflate"),
        "{test}: agreed {agreed:?}"
    );
    // We always compress without context takeover and say so; the server
    // drops its own context only when told to.
    assert!(
        agreed.contains("client_no_context_takeover"),
        "{test}: client_no_context_takeover missing from {agreed:?}"
    );
    let no_takeover = compression == ServerCompression::DeflateNoContextTakeover;
    assert_eq!(
        agreed.contains("server_no_context_takeover"),
        no_takeover,
        "{test}: server_no_context_takeover in {agreed:?}"
    );
}

/// Sends every size as text and as binary, all at once, and checks the
/// echoes arrive intact, in order, on the first connection.
async fn echo_every_size(
    test: &str,
    supervisor: &actix::Addr<actix_tether::SupervisorActor>,
    events: &mut Events,
) {
    let mut sent = Vec::new();
    for size in SIZES {
        sent.push(Payload::text(text_of(size)));
        sent.push(Payload::binary(binary_of(size)));
    }
    // Multi-byte UTF-8 straddling frame and buffer boundaries.
    sent.push(Payload::text("é€😀".repeat(20_000)));
    for payload in &sent {
        send(supervisor, payload.clone()).await;
    }
    expect_echoes(test, &sent, events).await;
}

/// Every size again, and both sides of the size from which messages are
/// compressed, pushed through an `EndpointHandle` (the writer takes pushes
/// in batches and encodes them in one go): echoed intact, in order.
async fn push_every_size(
    test: &str,
    supervisor: &actix::Addr<actix_tether::SupervisorActor>,
    events: &mut Events,
) {
    let handle = supervisor
        .send(GetEndpoint::new("peer"))
        .await
        .unwrap()
        .unwrap();
    let mut sent = Vec::new();
    for size in SIZES.into_iter().chain([63, 64]) {
        sent.push(Payload::text(text_of(size)));
        sent.push(Payload::binary(binary_of(size)));
    }
    for payload in &sent {
        handle.push_wait(payload.clone()).await.unwrap();
    }
    expect_echoes(test, &sent, events).await;
    assert_eq!(handle.pushes_lost(), 0, "{test}: pushes lost");
}

/// The next messages are the echoes of `sent`, in order, on the first
/// connection.
async fn expect_echoes(test: &str, sent: &[Payload], events: &mut Events) {
    for (i, expected) in sent.iter().enumerate() {
        let got = next(&mut events.messages, WAIT).await;
        assert_eq!(got.generation, 1, "{test}: echo {i} on a new connection");
        assert!(
            got.payload == *expected,
            "{test}: echo {i} differs: sent {}, got {}",
            describe(expected),
            describe(&got.payload)
        );
    }
}

/// Kills the server, expects the endpoint to notice, starts the server again
/// on the same port and expects the endpoint back (one echo proves it).
async fn reconnect_after_restart(
    test: &str,
    server: ThirdPartyServer,
    compression: ServerCompression,
    supervisor: &actix::Addr<actix_tether::SupervisorActor>,
    events: &mut Events,
) {
    let (kind, port) = (server.kind, server.port);
    drop(server);
    let lost = events.until_state(ConnectionState::Reconnecting).await;
    let lost = lost.last().unwrap();
    assert!(lost.reason.is_some(), "{test}: the loss says why");

    let _server = match ThirdPartyServer::start(kind, compression, port).await {
        Start::Started(server) => server,
        Start::BindFailed(why) => {
            // Something took the port between kill and restart: the loss was
            // reported, which is what can still be checked.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: port {port} was taken on restart ({why}); checked the loss only"
            );
            return;
        }
        Start::Unavailable(why) => panic!("{test}: the server vanished on restart: {why}"),
    };
    let back = events.until_state(ConnectionState::Connected).await;
    assert_eq!(back.last().unwrap().generation, 2, "{test}: reconnected");
    send(supervisor, Payload::text("after the restart")).await;
    let (generation, text) = events.next_text().await;
    assert_eq!((generation, text.as_str()), (2, "after the restart"));
}

async fn send(supervisor: &actix::Addr<actix_tether::SupervisorActor>, payload: Payload) {
    supervisor
        .send(SendPayload::new("peer", payload))
        .await
        .unwrap()
        .unwrap();
}

/// Compressible JSON-like ASCII text of exactly `size` bytes.
fn text_of(size: usize) -> String {
    let pattern = r#"{"symbol":"BTC-USD","price":"64123.50","size":"0.015"},"#;
    pattern.chars().cycle().take(size).collect()
}

/// Incompressible bytes (xorshift), exactly `size` of them.
fn binary_of(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size as u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A payload's kind and size, for failure messages (never the megabyte).
fn describe(payload: &Payload) -> String {
    let kind = match payload {
        Payload::Text(_) => "text",
        Payload::Binary(_) => "binary",
        _ => "other",
    };
    format!("{kind} of {} bytes", payload.as_bytes().len())
}
