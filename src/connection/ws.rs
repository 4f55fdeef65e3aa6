//! WebSocket transport over awc: connect, inbound frames, error mapping.

use std::time::Instant;

use std::{
    pin::Pin,
    task::{self, Poll},
};

use actix::{ActorFuture, AsyncContext, Context};
use actix_codec::Framed;
use actix_http::ws::{Item, ProtocolError};
use awc::{
    error::WsClientError,
    ws::{Codec, Frame},
    BoxedSocket, Client,
};
use futures::Stream;

use super::{
    fragments,
    transport::{handshake_headers, request_error, Reader, Writer},
    ConnectionActor, Link,
};
use crate::{config::EndpointConfig, failure::refused, Error, Payload};

/// The socket with the WebSocket codec: read by `ReadFrames`, written by
/// the writer's driver, never split.
pub(crate) type WsFramed = Framed<BoxedSocket, Codec>;

/// A completed handshake.
pub(crate) struct Connected {
    framed: WsFramed,
}

/// One connection attempt, bounded by `connect_timeout`.
pub(crate) fn connect(
    client: Client,
    config: &EndpointConfig,
) -> impl std::future::Future<Output = Result<Connected, Error>> + 'static {
    let headers = handshake_headers(config);
    let url = config.url.clone();
    let max_size = config.max_message_size;
    let timeout = config.connect_timeout;
    async move {
        let mut request = client.ws(url.as_str()).max_frame_size(max_size);
        for (name, value) in headers? {
            request = request.header(name, value);
        }
        let (_, framed) = match actix_rt::time::timeout(timeout, request.connect()).await {
            Err(_) => {
                return Err(Error::timeout(format!(
                    "connect timed out after {timeout:?}"
                )))
            }
            Ok(result) => result.map_err(|err| match err {
                WsClientError::InvalidResponseStatus(status) => {
                    refused(status.as_u16(), super::hints::take_hint(&url))
                }
                other => handshake_error(other),
            })?,
        };
        Ok(Connected { framed })
    }
}

/// Converts awc's `!Send` handshake error into our owned, categorised one.
fn handshake_error(err: WsClientError) -> Error {
    match err {
        WsClientError::InvalidResponseStatus(status) => refused(status.as_u16(), None),
        WsClientError::SendRequest(e) => request_error(e),
        WsClientError::Protocol(e) => Error::protocol(format!("handshake protocol error: {e}")),
        other => Error::protocol(format!("invalid handshake response: {other}")),
    }
}

/// Wires a completed handshake into the actor: `ReadFrames` reads bursts of
/// frames and the writer's driver writes, both on the one unsplit socket.
pub(super) fn attach(
    conn: Connected,
    max_batch: usize,
    ctx: &mut Context<ConnectionActor>,
) -> Writer {
    ctx.spawn(ReadFrames { max_batch });
    ctx.spawn(super::writer::Drive);
    Writer::WebSocket(super::writer::WsWriter::new(conn.framed))
}

fn close_code(reason: &Option<awc::ws::CloseReason>) -> (Option<u16>, Option<String>) {
    match reason {
        Some(r) => (Some(u16::from(r.code)), r.description.clone()),
        None => (None, None),
    }
}

/// What reading one frame leaves to do.
enum Flow {
    Continue,
    /// The connection is ending (the actor is stopping): stop reading.
    Stop,
}

/// Reads every ready frame (up to `max_batch`) straight from the socket's
/// codec and hands the payloads over at once: one delivery per burst, no
/// intermediate buffers or locks.
pub(crate) struct ReadFrames {
    max_batch: usize,
}

impl ActorFuture<ConnectionActor> for ReadFrames {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut ConnectionActor,
        ctx: &mut Context<ConnectionActor>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        act.read_frames(self.max_batch, ctx, cx)
    }
}

impl ConnectionActor {
    fn read_frames(
        &mut self,
        max_batch: usize,
        ctx: &mut Context<Self>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        let now = Instant::now();
        let mut payloads = Vec::new();
        let (mut read, mut bytes) = (0, 0);
        while read < max_batch {
            let Some(Link {
                writer: Writer::WebSocket(w),
                reader: Reader::WebSocket(fragments),
                ..
            }) = self.link.as_mut()
            else {
                return Poll::Ready(());
            };
            let frame = match Pin::new(w.framed()).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(frame)) => frame,
                Poll::Ready(None) => {
                    self.deliver(payloads, now, ctx);
                    self.socket_finished(ctx);
                    return Poll::Ready(());
                }
            };
            let whole = !fragments.in_progress();
            if read == 0 {
                self.inbound_alive(now);
            }
            read += 1;
            // Whole data messages, nearly every frame of a busy stream, take
            // the short way into the burst.
            let step = match frame {
                Ok(Frame::Text(data)) if whole => {
                    bytes += data.len();
                    fragments::text(data)
                }
                Ok(Frame::Binary(data)) if whole => {
                    bytes += data.len();
                    Ok(Payload::Binary(data))
                }
                other => {
                    bytes += data_len(&other);
                    match self.on_frame(other, &mut payloads, now, ctx) {
                        Flow::Continue => continue,
                        Flow::Stop => return Poll::Ready(()),
                    }
                }
            };
            match step {
                Ok(payload) => payloads.push(payload),
                Err(error) => {
                    self.fail_read(error, &mut payloads, now, ctx);
                    return Poll::Ready(());
                }
            }
        }
        if read == max_batch {
            // More may be ready: deliver this burst, then come back.
            cx.waker().wake_by_ref();
        }
        let mut held = Vec::new();
        if let Some(link) = self.link.as_mut() {
            link.writer.after_read(read, bytes, &mut held);
        }
        for frame in held {
            if let Flow::Stop = self.on_frame(frame, &mut payloads, now, ctx) {
                return Poll::Ready(());
            }
        }
        if !payloads.is_empty() {
            self.deliver(payloads, now, ctx);
        }
        Poll::Pending
    }

    fn on_frame(
        &mut self,
        frame: Result<Frame, ProtocolError>,
        payloads: &mut Vec<Payload>,
        now: Instant,
        ctx: &mut Context<Self>,
    ) -> Flow {
        let fragments = match self.link.as_mut().map(|l| &mut l.reader) {
            Some(Reader::WebSocket(fragments)) => fragments,
            _ => return Flow::Stop,
        };
        let step = match frame {
            Ok(Frame::Text(_) | Frame::Binary(_)) if fragments.in_progress() => {
                Err(Error::protocol("data frame inside a fragmented message"))
            }
            Ok(Frame::Text(bytes)) => fragments::text(bytes).map(Some),
            Ok(Frame::Binary(bytes)) => Ok(Some(Payload::Binary(bytes))),
            Ok(Frame::Continuation(item)) => match item {
                Item::FirstText(b) => fragments.first_text(&b),
                Item::FirstBinary(b) => fragments.first_binary(&b),
                Item::Continue(b) => fragments.more(&b),
                Item::Last(b) => fragments.last(&b),
            },
            Ok(Frame::Ping(payload)) => {
                if let Some(link) = self.link.as_mut() {
                    link.writer.pong(payload);
                }
                Ok(None)
            }
            Ok(Frame::Pong(payload)) => {
                self.pong_received(&payload, now);
                Ok(None)
            }
            Ok(Frame::Close(reason)) => {
                self.deliver(std::mem::take(payloads), now, ctx);
                let (code, description) = close_code(&reason);
                self.peer_closed(code, description, ctx);
                Ok(None)
            }
            Err(err) => Err(frame_error(err)),
        };
        match step {
            Ok(Some(payload)) => payloads.push(payload),
            Ok(None) => {}
            Err(error) => {
                self.fail_read(error, payloads, now, ctx);
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// A frame broke the connection: what arrived before it is delivered,
    /// then the connection is lost.
    fn fail_read(
        &mut self,
        error: Error,
        payloads: &mut Vec<Payload>,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        self.deliver(std::mem::take(payloads), now, ctx);
        self.connection_lost(error, ctx);
    }
}

/// Bytes of message data a frame carries (zero for control frames).
fn data_len(frame: &Result<Frame, ProtocolError>) -> usize {
    match frame {
        Ok(Frame::Text(data) | Frame::Binary(data)) => data.len(),
        Ok(Frame::Continuation(
            Item::FirstText(data)
            | Item::FirstBinary(data)
            | Item::Continue(data)
            | Item::Last(data),
        )) => data.len(),
        _ => 0,
    }
}

fn frame_error(err: ProtocolError) -> Error {
    match err {
        ProtocolError::Io(e) => Error::network(format!("read failed: {e}")),
        ProtocolError::Overflow => {
            Error::protocol("frame larger than max_message_size").with_close_code(Some(1009))
        }
        other => Error::protocol(format!("bad frame: {other}")).with_close_code(Some(1002)),
    }
}
