//! How a TCP endpoint cuts its byte stream into messages.

use std::{fmt, sync::Arc};

use actix_codec::{Decoder, Encoder, Framed};

use crate::{
    transport::{FramedSession, Session},
    Payload,
};

/// How a TCP endpoint ([`EndpointConfig::tcp`](crate::EndpointConfig::tcp))
/// cuts its byte stream into messages, and how it writes ours.
///
/// Every built-in framing is bounded by the endpoint's `max_message_size`:
/// a longer line, block or frame fails the connection with a
/// [`Protocol`](crate::ErrorCategory::Protocol) error as soon as it is
/// seen, before it is buffered whole. Text framings (lines and blocks)
/// deliver [`Payload::Text`]; bytes that are not UTF-8 are a protocol
/// error too. Length-prefixed framings deliver [`Payload::Binary`].
///
/// The default is [`Lines`](Self::Lines).
///
/// ```
/// use actix_tether::{config::Framing, EndpointConfig};
/// let config = EndpointConfig::tcp("tcp://127.0.0.1:5038")
///     .framing(Framing::BannerThenBlocks)
///     .build()
///     .unwrap();
/// assert_eq!(config.framing, Framing::BannerThenBlocks);
/// assert_eq!("u32".parse::<Framing>().unwrap(), Framing::LengthU32);
/// ```
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Framing {
    /// Text lines ending in LF or CRLF (the line ending is not part of the
    /// message). A last line without an ending, followed by the end of the
    /// stream, is delivered too. Ours are written with CRLF; a message
    /// holding a line break is refused (its send fails, the connection goes
    /// on). Default.
    #[default]
    Lines,
    /// Blocks of text lines ended by a blank line (LF or CRLF), as AMI,
    /// HTTP heads or STOMP-like feeds send them. A message is the block's
    /// lines as sent, without the ending of its last line and without the
    /// blank line; blank lines between blocks are skipped. A block cut off
    /// by the end of the stream is a network error (the message never
    /// completed). Ours are written line by line with CRLF and a blank line
    /// after; a message holding a blank line is refused.
    Blocks,
    /// One line first (a greeting such as AMI's `Asterisk Call Manager/…`),
    /// delivered as its own message, then [`Blocks`](Self::Blocks).
    BannerThenBlocks,
    /// Frames of a big-endian `u16` length, then that many bytes.
    #[serde(rename = "u16")]
    LengthU16,
    /// Frames of a big-endian `u32` length, then that many bytes.
    #[serde(rename = "u32")]
    LengthU32,
    /// A codec of your own (see [`Framing::codec`]). A closure, so serde
    /// neither reads nor writes it: a serialised
    /// [`EndpointConfig`](crate::EndpointConfig) leaves it out, as it does
    /// its other closures.
    #[serde(skip)]
    Codec(CodecFactory),
}

impl Framing {
    /// A framing by any `actix-codec` (or `tokio-util`) codec that decodes
    /// and encodes [`Payload`]s: `make` builds one per connection.
    ///
    /// A decoder error is a [`Protocol`](crate::ErrorCategory::Protocol)
    /// fault, except when the socket failed (a reset, a broken pipe, a
    /// broken TLS record): that is a network failure whatever error type
    /// the codec wraps it in. An encoder error fails that one send, and
    /// nothing it wrote before failing is sent. The codec bounds its own
    /// buffering: `max_message_size` is not applied to it.
    ///
    /// ```
    /// use actix_codec::{Decoder, Encoder};
    /// use actix_tether::{config::Framing, EndpointConfig, Payload};
    /// use bytes::{BufMut, BytesMut};
    ///
    /// /// One byte per message.
    /// struct Bytewise;
    /// impl Decoder for Bytewise {
    ///     type Item = Payload;
    ///     type Error = std::io::Error;
    ///     fn decode(&mut self, src: &mut BytesMut) -> std::io::Result<Option<Payload>> {
    ///         Ok((!src.is_empty()).then(|| Payload::binary(src.split_to(1).freeze())))
    ///     }
    /// }
    /// impl Encoder<Payload> for Bytewise {
    ///     type Error = std::io::Error;
    ///     fn encode(&mut self, item: Payload, dst: &mut BytesMut) -> std::io::Result<()> {
    ///         dst.put_slice(item.as_bytes());
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = EndpointConfig::tcp("tcp://127.0.0.1:7000")
    ///     .framing(Framing::codec(|| Bytewise))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn codec<C, F>(make: F) -> Self
    where
        F: Fn() -> C + Send + Sync + 'static,
        C: Decoder<Item = Payload> + Encoder<Payload> + Unpin + 'static,
        <C as Decoder>::Error: std::error::Error + 'static,
        <C as Encoder<Payload>>::Error: fmt::Display,
    {
        Self::Codec(CodecFactory(Arc::new(move |socket| {
            Box::new(FramedSession::new(Framed::new(socket, make())))
        })))
    }

    /// Whether this is a codec of your own (which serde skips).
    pub(crate) fn is_codec(&self) -> bool {
        matches!(self, Self::Codec(_))
    }

    /// A short lowercase name, as [`FromStr`](std::str::FromStr) reads it
    /// (`codec` for a codec of your own).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Lines => "lines",
            Self::Blocks => "blocks",
            Self::BannerThenBlocks => "banner-then-blocks",
            Self::LengthU16 => "u16",
            Self::LengthU32 => "u32",
            Self::Codec(_) => "codec",
        }
    }
}

impl std::str::FromStr for Framing {
    type Err = crate::ConfigError;

    /// Reads `lines`, `blocks`, `banner-then-blocks`, `u16` or `u32`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [
            Self::Lines,
            Self::Blocks,
            Self::BannerThenBlocks,
            Self::LengthU16,
            Self::LengthU32,
        ]
        .into_iter()
        .find(|framing| framing.name() == name)
        .ok_or_else(|| {
            crate::ConfigError::new(
                "framing",
                "expected lines, blocks, banner-then-blocks, u16 or u32",
            )
        })
    }
}

impl PartialEq for Framing {
    /// Built-in framings by kind; codecs when one is a clone of the other.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Codec(a), Self::Codec(b)) => Arc::ptr_eq(&a.0, &b.0),
            (a, b) => a.name() == b.name(),
        }
    }
}

impl Eq for Framing {}

impl fmt::Debug for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Makes a session over a connected socket with a codec of the user's
/// (see [`Framing::codec`]).
#[derive(Clone)]
pub struct CodecFactory(Arc<dyn Fn(crate::transport::Socket) -> Box<dyn Session> + Send + Sync>);

impl CodecFactory {
    pub(crate) fn session(&self, socket: crate::transport::Socket) -> Box<dyn Session> {
        (self.0)(socket)
    }
}

impl fmt::Debug for CodecFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodecFactory { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_config_errors() {
        for framing in [
            Framing::Lines,
            Framing::Blocks,
            Framing::BannerThenBlocks,
            Framing::LengthU16,
            Framing::LengthU32,
        ] {
            assert_eq!(framing.name().parse::<Framing>().unwrap(), framing);
            let json = serde_json::to_string(&framing).unwrap();
            assert_eq!(json, format!("\"{}\"", framing.name()));
            assert_eq!(serde_json::from_str::<Framing>(&json).unwrap(), framing);
        }
        let err = "length".parse::<Framing>().unwrap_err();
        assert_eq!(err.field(), "framing");
        assert_eq!(Framing::default(), Framing::Lines);
    }

    /// Bytes, one a message.
    struct Bytewise;

    impl Decoder for Bytewise {
        type Item = Payload;
        type Error = std::io::Error;
        fn decode(&mut self, src: &mut bytes::BytesMut) -> std::io::Result<Option<Payload>> {
            Ok((!src.is_empty()).then(|| Payload::binary(src.split_to(1).freeze())))
        }
    }

    impl Encoder<Payload> for Bytewise {
        type Error = std::io::Error;
        fn encode(&mut self, item: Payload, dst: &mut bytes::BytesMut) -> std::io::Result<()> {
            dst.extend_from_slice(item.as_bytes());
            Ok(())
        }
    }

    #[test]
    fn a_config_with_a_codec_serialises_without_it_like_its_other_closures() {
        let config = crate::EndpointConfig::tcp("tcp://127.0.0.1:7000")
            .framing(Framing::codec(|| Bytewise))
            .build()
            .unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert!(json.get("framing").is_none(), "{json}");
        assert!(json.get("url").is_some(), "{json}");
        let back: crate::EndpointConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.framing, Framing::Lines);
        let lines = crate::EndpointConfig::tcp("tcp://127.0.0.1:7000")
            .framing(Framing::Blocks)
            .build()
            .unwrap();
        assert_eq!(serde_json::to_value(&lines).unwrap()["framing"], "blocks");
    }
}
