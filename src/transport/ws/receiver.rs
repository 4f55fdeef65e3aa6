//! The receiving half of a WebSocket connection as pure state: turns the
//! server's frames into messages (reassembling fragments, inflating
//! compressed messages, checking UTF-8 and close payloads) and says what
//! the socket owner must answer. No socket and no actor, so it is tested
//! and fuzzed on bytes alone.

use bytes::Bytes;

use super::{
    codec::{Frame, OpCode},
    deflate::{Agreed, Inflater},
    fragments::{self, Fragments},
};
use crate::{
    close::{close_code_sendable, NO_STATUS},
    transport::{Inbound, PeerClose},
    Error, Payload,
};

/// What a frame asks of the side that writes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// Nothing to send.
    Nothing,
    /// A ping to answer with this payload (RFC 6455 §5.5.2).
    Pong(Bytes),
    /// The peer's close, to echo with this code (RFC 6455 §5.5.1).
    Close(u16),
}

/// Message assembly for one connection.
#[derive(Debug)]
pub(super) struct Receiver {
    fragments: Fragments,
    /// permessage-deflate, when the server agreed to it.
    deflate: Option<Agreed>,
    /// Made on the first compressed message (an idle connection holds none).
    inflater: Option<Box<Inflater>>,
    /// The message being received is compressed (its first frame had RSV1).
    inflating: bool,
    /// The peer's close arrived: later frames are not data.
    closed: bool,
    max_message_size: usize,
}

impl Receiver {
    pub(super) fn new(max_message_size: usize, deflate: Option<Agreed>) -> Self {
        Self {
            fragments: Fragments::new(max_message_size),
            deflate,
            inflater: None,
            inflating: false,
            closed: false,
            max_message_size,
        }
    }

    /// Whether the peer's close arrived (nothing after it is data).
    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Takes one frame: a finished message goes into `inbound` with the
    /// pongs and the peer's close; the answer is for the writer.
    ///
    /// # Errors
    /// A protocol error carrying the close code to send: 1002 for a frame
    /// out of order or a bad close payload, 1007 for invalid UTF-8, 1009
    /// for a message over the limit.
    #[inline]
    pub(super) fn frame(&mut self, frame: Frame, inbound: &mut Inbound) -> Result<Answer, Error> {
        if self.closed {
            // RFC 6455 §5.5.1: nothing after a close is processed.
            inbound.alive();
            return Ok(Answer::Nothing);
        }
        // Whole data messages, nearly every frame of a busy stream, take
        // the short way.
        if frame.fin && !frame.rsv1 && !self.fragments.in_progress() {
            match frame.opcode {
                OpCode::Text => {
                    inbound.message(fragments::text(frame.payload)?);
                    return Ok(Answer::Nothing);
                }
                OpCode::Binary => {
                    inbound.message(Payload::Binary(frame.payload));
                    return Ok(Answer::Nothing);
                }
                _ => {}
            }
        }
        self.other_frame(frame, inbound)
    }

    /// A fragment, a compressed frame or a control frame.
    fn other_frame(&mut self, frame: Frame, inbound: &mut Inbound) -> Result<Answer, Error> {
        let in_progress = self.fragments.in_progress();
        let Frame {
            fin,
            rsv1,
            opcode,
            payload,
        } = frame;
        // RSV1 starts a compressed message (the codec allows it only on a
        // first data frame, once agreed); its continuations follow it.
        let payload = if rsv1 || (self.inflating && opcode == OpCode::Continuation) {
            self.inflating = !fin;
            let inflated = self.inflate(&payload, fin)?;
            inbound.compressed(payload.len(), inflated.len());
            inflated
        } else {
            payload
        };
        let message = match opcode {
            OpCode::Text | OpCode::Binary if in_progress => {
                return Err(protocol_fault("data frame inside a fragmented message"))
            }
            OpCode::Text if fin => Some(fragments::text(payload)?),
            OpCode::Binary if fin => Some(Payload::Binary(payload)),
            OpCode::Text => self.fragments.first_text(&payload)?,
            OpCode::Binary => self.fragments.first_binary(&payload)?,
            OpCode::Continuation if !in_progress => {
                return Err(protocol_fault(
                    "continuation frame without a first fragment",
                ))
            }
            OpCode::Continuation if fin => self.fragments.last(&payload)?,
            OpCode::Continuation => self.fragments.more(&payload)?,
            OpCode::Ping => {
                inbound.alive();
                return Ok(Answer::Pong(payload));
            }
            OpCode::Pong => {
                inbound.pong(payload);
                return Ok(Answer::Nothing);
            }
            OpCode::Close => {
                let (code, reason) = close_parts(&payload)?;
                self.closed = true;
                let echo = code.filter(|c| *c != NO_STATUS).unwrap_or(1000);
                inbound.closed(PeerClose { code, reason });
                return Ok(Answer::Close(echo));
            }
        };
        match message {
            Some(payload) => inbound.message(payload),
            None => inbound.alive(),
        }
        Ok(Answer::Nothing)
    }

    /// A compressed message's frame payload, inflated (the limit counts
    /// across the message's frames).
    fn inflate(&mut self, payload: &[u8], fin: bool) -> Result<Bytes, Error> {
        let (Some(agreed), max) = (&self.deflate, self.max_message_size) else {
            return Err(protocol_fault(
                "compressed frame without permessage-deflate",
            ));
        };
        let inflater = self
            .inflater
            .get_or_insert_with(|| Box::new(Inflater::new(agreed, max)));
        let mut out = Vec::new();
        inflater.inflate(payload, fin, &mut out)?;
        Ok(Bytes::from(out))
    }
}

/// The code and reason of a close frame's payload (RFC 6455 §5.5.1, §7.4):
/// empty, or a code a peer may send and a UTF-8 reason.
fn close_parts(payload: &[u8]) -> Result<(Option<u16>, String), Error> {
    let (code, reason) = match payload {
        [] => return Ok((None, String::new())),
        [_] => return Err(protocol_fault("close frame with a one-byte payload")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    if !close_code_sendable(code) {
        return Err(protocol_fault(&format!(
            "close code {code} may not be sent"
        )));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| {
        Error::protocol("close reason is not valid utf-8").with_close_code(Some(1007))
    })?;
    Ok((Some(code), reason.to_owned()))
}

fn protocol_fault(what: &str) -> Error {
    Error::protocol(format!("bad frame: {what}")).with_close_code(Some(1002))
}

/// Decodes `pieces` (the server's bytes after the handshake, in the reads
/// they arrived in) as a client would, up to the peer's close or the first
/// error: the messages, and the error if one ended the stream. With
/// `compression`, permessage-deflate is taken as agreed with its defaults.
///
/// For the fuzz target (`fuzz/fuzz_targets/ws_receive.rs`): the same codec
/// and receiver the connection uses, without a socket.
#[doc(hidden)]
pub fn receive(
    pieces: &[&[u8]],
    compression: bool,
    max_message_size: usize,
) -> (Vec<Payload>, Option<Error>) {
    use super::codec::FrameCodec;

    let agreed = compression.then_some(Agreed {
        client_no_context_takeover: true,
        server_no_context_takeover: false,
        client_window_bits: 15,
        server_window_bits: 15,
    });
    let codec = FrameCodec::new(max_message_size).with_compression(compression);
    let mut receiver = Receiver::new(max_message_size, agreed);
    let mut inbound = Inbound::new(usize::MAX);
    let (mut buf, mut heads) = (bytes::BytesMut::new(), Vec::new());
    let mut error = None;
    'pieces: for piece in pieces {
        buf.extend_from_slice(piece);
        // Bursts of at most 3 frames, so several run per piece.
        loop {
            let burst = codec.split_burst(&mut buf, 3, &mut heads);
            for head in &heads {
                if let Err(e) = receiver.frame(head.frame(&burst.bytes), &mut inbound) {
                    error = Some(e);
                    break 'pieces;
                }
                if receiver.is_closed() {
                    break 'pieces;
                }
            }
            if let Some(e) = burst.error {
                error = Some(e);
                break 'pieces;
            }
            if heads.is_empty() {
                break;
            }
        }
    }
    (inbound.take_messages(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payloads_follow_rfc_6455() {
        assert_eq!(close_parts(&[]).unwrap(), (None, String::new()));
        assert_eq!(close_parts(&[3, 232]).unwrap(), (Some(1000), String::new()));
        assert_eq!(
            close_parts(b"\x0f\xa0bye").unwrap(),
            (Some(4000), "bye".to_owned())
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let err = close_parts(&code.to_be_bytes()).unwrap_err();
            assert_eq!(err.close_code(), Some(1002), "{code}");
        }
        assert_eq!(close_parts(&[3]).unwrap_err().close_code(), Some(1002));
        assert_eq!(
            close_parts(&[3, 232, 0xFF]).unwrap_err().close_code(),
            Some(1007)
        );
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let len = u8::try_from(payload.len()).expect("a short frame");
        assert!(len < 126);
        let mut out = vec![first, len];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn answers_pings_and_echoes_the_close_once() {
        let mut receiver = Receiver::new(64, None);
        let mut inbound = Inbound::new(16);
        let ping = Frame::new(OpCode::Ping, Bytes::from_static(b"p"));
        assert_eq!(
            receiver.frame(ping, &mut inbound).unwrap(),
            Answer::Pong(Bytes::from_static(b"p"))
        );
        let close = Frame::new(OpCode::Close, Bytes::new());
        assert_eq!(
            receiver.frame(close.clone(), &mut inbound).unwrap(),
            Answer::Close(1000)
        );
        assert!(receiver.is_closed());
        // After the close nothing is data, not even another close.
        let text = Frame::new(OpCode::Text, Bytes::from_static(b"late"));
        assert_eq!(receiver.frame(text, &mut inbound).unwrap(), Answer::Nothing);
        assert_eq!(
            receiver.frame(close, &mut inbound).unwrap(),
            Answer::Nothing
        );
        assert!(inbound.take_messages().is_empty());
    }

    #[test]
    fn the_same_messages_whatever_the_reads() {
        // A whole text, a fragmented one with a ping between, a binary, a
        // close, and a text after the close (not delivered).
        let mut stream = frame(0x81, b"one");
        stream.extend(frame(0x01, "tw".as_bytes()));
        stream.extend(frame(0x89, b""));
        stream.extend(frame(0x80, "o€".as_bytes()));
        stream.extend(frame(0x82, &[1, 2]));
        stream.extend(frame(0x88, &[3, 232]));
        stream.extend(frame(0x81, b"late"));
        let expected = vec![
            Payload::text("one"),
            Payload::text("two€"),
            Payload::binary(vec![1, 2]),
        ];
        for cut in 0..=stream.len() {
            for second in cut..=stream.len() {
                let pieces = [&stream[..cut], &stream[cut..second], &stream[second..]];
                let (messages, error) = receive(&pieces, false, 64);
                assert!(error.is_none(), "{cut} {second}: {error:?}");
                assert_eq!(messages, expected, "{cut} {second}");
            }
        }
    }

    #[test]
    fn delivers_what_came_before_a_fault() {
        let mut stream = frame(0x81, b"ok");
        stream.extend(frame(0x81, &[0xC3]));
        let (messages, error) = receive(&[&stream], false, 64);
        assert_eq!(messages, vec![Payload::text("ok")]);
        assert_eq!(error.unwrap().close_code(), Some(1007));
    }
}
