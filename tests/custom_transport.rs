//! A transport of the user's own, a line protocol over raw TCP, on the same
//! lifecycle: it connects, carries messages both ways, comes back after a
//! server restart and is restarted when its peer goes half-open.

mod common;

use std::time::{Duration, Instant};

use actix_codec::{Decoder, Encoder, Framed};
use actix_tether::{
    transport::{Attempt, FramedSession, Session, Transport},
    BackoffConfig, ConnectionState, EndpointConfig, Error, ErrorCategory, GetStatus, Payload,
    SendPayload,
};
use bytes::{BufMut, BytesMut};
use common::{line_server::*, *};
use futures::future::LocalBoxFuture;

/// Text lines ending in LF, at most 4 KiB each.
struct Lines;

impl Decoder for Lines {
    type Item = Payload;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Payload>, Self::Error> {
        let Some(end) = src.iter().position(|b| *b == b'\n') else {
            if src.len() > 4096 {
                return Err(std::io::Error::other("line longer than 4 KiB"));
            }
            return Ok(None);
        };
        let line = src.split_to(end + 1);
        let text = std::str::from_utf8(&line[..end]).map_err(std::io::Error::other)?;
        Ok(Some(Payload::text(text.to_owned())))
    }
}

impl Encoder<Payload> for Lines {
    type Error = std::io::Error;

    fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.put_slice(item.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

/// Connects to the `host:port` after `tcp://`.
struct LineTransport;

impl Transport for LineTransport {
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
        let address = attempt.url().trim_start_matches("tcp://").to_owned();
        Box::pin(async move {
            let stream = actix_rt::net::TcpStream::connect(address)
                .await
                .map_err(|e| Error::new(ErrorCategory::Network, format!("connect failed: {e}")))?;
            Ok(Box::new(FramedSession::new(Framed::new(stream, Lines))) as Box<dyn Session>)
        })
    }
}

fn lines_config(url: &str) -> EndpointConfig {
    EndpointConfig::custom(url, || Box::new(LineTransport))
        .heartbeat_interval(Duration::from_millis(200))
        .max_missed(2)
        .application_heartbeat(|_| Payload::text("PING"), |p| p.as_text() == Some("PONG"))
        .backoff(BackoffConfig::Constant {
            delay: Duration::from_millis(100),
        })
        .build()
        .unwrap()
}

#[actix::test]
async fn a_user_transport_carries_messages_and_survives_a_server_restart() {
    let mut server = LineServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "lines", lines_config(&server.url())).await;
    events.until_state(ConnectionState::Connected).await;
    assert_eq!(events.next_text().await, (1, "hello 0".to_owned()));
    supervisor
        .send(SendPayload::new("lines", "echo me"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events.next_text().await, (1, "echo me".to_owned()));
    // Heartbeat replies are consumed, not delivered; pings reach the server.
    server
        .wait_for(|e| matches!(e, LineEvent::Line { text, .. } if text == "PING"))
        .await;

    server.stop();
    let lost = events.until_state(ConnectionState::Reconnecting).await;
    let reason = lost.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::ClosedByPeer, "{reason}");
    server.restart().await;
    let back = events.until_state(ConnectionState::Connected).await;
    assert_eq!(back.last().unwrap().generation, 2);
    let (generation, greeting) = events.next_text().await;
    assert_eq!(generation, 2);
    assert!(greeting.starts_with("hello "), "{greeting}");
    let status = supervisor
        .send(GetStatus::new("lines"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
}

#[actix::test]
async fn a_half_open_peer_of_a_user_transport_is_detected_by_the_heartbeat() {
    let mut server = LineServer::start().await;
    server.set_silent(true);
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    add(&supervisor, "lines", lines_config(&server.url())).await;
    events.until_state(ConnectionState::Connected).await;
    let connected_at = Instant::now();
    let lost = events.until_state(ConnectionState::Reconnecting).await;
    let detected_after = connected_at.elapsed();
    let reason = lost.last().unwrap().reason.clone().unwrap();
    assert_eq!(reason.category(), ErrorCategory::Heartbeat, "{reason}");
    // Two unanswered pings at 200 ms: dead at about 400 ms, never before.
    assert!(
        detected_after >= Duration::from_millis(350),
        "{detected_after:?}"
    );
    assert!(
        detected_after <= Duration::from_secs(4),
        "{detected_after:?}"
    );

    // Once the server answers again, the endpoint reconnects and stays up.
    server.set_silent(false);
    events.until_state(ConnectionState::Connected).await;
    server
        .wait_for(|e| matches!(e, LineEvent::Line { text, .. } if text == "PING"))
        .await;
}
