//! WebSocket transport over awc: connect, inbound frames, error mapping.

use std::time::Instant;

use actix::{Context, StreamHandler};
use actix_codec::Framed;
use actix_http::ws::{Item, ProtocolError};
use awc::{
    error::WsClientError,
    ws::{Codec, Frame},
    BoxedSocket, Client,
};
use futures::{
    stream::{SplitSink, SplitStream},
    StreamExt,
};

use super::{
    fragments,
    transport::{handshake_headers, refused, Reader, Writer},
    ConnectionActor, Loss,
};
use crate::{config::EndpointConfig, Error, ErrorCategory, Payload};

pub(crate) type WsSink = SplitSink<Framed<BoxedSocket, Codec>, awc::ws::Message>;
type WsStream = SplitStream<Framed<BoxedSocket, Codec>>;
type Frames = Vec<Result<Frame, ProtocolError>>;

/// A completed handshake.
pub(crate) struct Connected {
    sink: WsSink,
    stream: WsStream,
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
                    refused(status, super::hints::take_hint(&url))
                }
                other => handshake_error(other),
            })?,
        };
        let (sink, stream) = framed.split();
        Ok(Connected { sink, stream })
    }
}

/// Converts awc's `!Send` handshake error into our owned, categorised one.
fn handshake_error(err: WsClientError) -> Error {
    use awc::error::SendRequestError as Send;
    match err {
        WsClientError::InvalidResponseStatus(status) => refused(status, None),
        WsClientError::SendRequest(Send::Connect(e)) => {
            Error::network(format!("connect failed: {e}"))
        }
        WsClientError::SendRequest(Send::Timeout) => Error::timeout("handshake response timed out"),
        WsClientError::SendRequest(Send::Url(e)) => {
            Error::new(ErrorCategory::Config, format!("invalid url: {e}"))
        }
        WsClientError::SendRequest(e) => Error::network(format!("handshake failed: {e}")),
        WsClientError::Protocol(e) => Error::protocol(format!("handshake protocol error: {e}")),
        other => Error::protocol(format!("invalid handshake response: {other}")),
    }
}

/// Wires a completed handshake into the actor: the stream is read in
/// ready-chunks (one actor call per burst) and the sink is buffered.
pub(super) fn attach(
    conn: Connected,
    max_batch: usize,
    ctx: &mut Context<ConnectionActor>,
) -> Writer {
    use actix::AsyncContext;
    ctx.add_stream(conn.stream.ready_chunks(max_batch));
    ctx.spawn(super::writer::Drive);
    Writer::WebSocket(super::writer::WsWriter::new(conn.sink))
}

fn close_code(reason: &Option<awc::ws::CloseReason>) -> (Option<u16>, Option<String>) {
    match reason {
        Some(r) => (Some(u16::from(r.code)), r.description.clone()),
        None => (None, None),
    }
}

impl StreamHandler<Frames> for ConnectionActor {
    fn handle(&mut self, frames: Frames, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.inbound_alive(now);
        let mut payloads = Vec::with_capacity(frames.len());
        for frame in frames {
            let interleaved = matches!(frame, Ok(Frame::Text(_) | Frame::Binary(_)))
                && matches!(
                    self.link.as_ref().map(|l| &l.reader),
                    Some(Reader::WebSocket(f)) if f.in_progress()
                );
            let step = match frame {
                _ if interleaved => Err(Error::protocol("data frame inside a fragmented message")),
                Ok(Frame::Text(bytes)) => fragments::text(bytes).map(Some),
                Ok(Frame::Binary(bytes)) => Ok(Some(Payload::Binary(bytes))),
                Ok(Frame::Continuation(item)) => match self.link.as_mut().map(|l| &mut l.reader) {
                    Some(Reader::WebSocket(fragments)) => match item {
                        Item::FirstText(b) => fragments.first_text(&b),
                        Item::FirstBinary(b) => fragments.first_binary(&b),
                        Item::Continue(b) => fragments.more(&b),
                        Item::Last(b) => fragments.last(&b),
                    },
                    _ => Ok(None),
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
                    self.deliver(std::mem::take(&mut payloads), now, ctx);
                    let (code, description) = close_code(&reason);
                    self.peer_closed(code, description, ctx);
                    return;
                }
                Err(err) => Err(frame_error(err)),
            };
            match step {
                Ok(Some(payload)) => payloads.push(payload),
                Ok(None) => {}
                Err(error) => {
                    self.deliver(payloads, now, ctx);
                    let urgency = self.urgency_for(&error);
                    self.connection_lost(Loss { error, urgency }, ctx);
                    return;
                }
            }
        }
        self.deliver(payloads, now, ctx);
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.socket_finished(ctx);
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
