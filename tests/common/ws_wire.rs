//! WebSocket wire pieces the raw TCP test servers share: accepting an
//! upgrade on a plain stream, and reading the client's masked frames.

use actix_rt::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads the upgrade request (at most 16 KiB) and answers 101, with a
/// `Sec-WebSocket-Extensions` header when given. False when the request
/// was cut short or had no key, or the answer could not be written.
pub async fn accept(stream: &mut TcpStream, extensions: Option<&str>) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return false;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(key) = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    }) else {
        return false;
    };
    let accept = actix_http::ws::hash_key(key.as_bytes());
    let extensions = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extensions}\r\n",
        String::from_utf8_lossy(&accept)
    );
    stream.write_all(response.as_bytes()).await.is_ok()
}

/// One client frame, unmasked.
#[derive(Debug)]
pub struct ClientFrame {
    pub fin: bool,
    /// RSV1: a compressed message (permessage-deflate).
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
    /// Bytes of the buffer it took.
    pub used: usize,
}

/// The client frame at the start of `buf`; `None` until it is complete.
pub fn client_frame(buf: &[u8]) -> Option<ClientFrame> {
    let first = *buf.first()?;
    let second = *buf.get(1)?;
    let (len, mut at) = match second & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let mask: [u8; 4] = if second & 0x80 != 0 {
        let mask = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        mask
    } else {
        [0; 4]
    };
    let payload = buf
        .get(at..at + len)?
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Some(ClientFrame {
        fin: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        opcode: first & 0x0F,
        payload,
        used: at + len,
    })
}
