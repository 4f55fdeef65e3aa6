//! The permessage-deflate handshake (RFC 7692 §5, §7.1): the offer we put in
//! `Sec-WebSocket-Extensions`, and the check of the server's answer.
//!
//! The answer is parsed with the RFC 6455 §9.1 grammar (extensions separated
//! by `,`, parameters by `;`, values as tokens or quoted strings, names
//! case-insensitive, optional whitespace around every separator, as the
//! implied `*LWS` of RFC 2616's ABNF allows) and then held to the offer: any
//! fault fails the connection with a protocol error, never a panic.

use std::fmt;

use crate::{ConfigError, Error};

/// The extension's registered name.
const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The largest LZ77 window, 2^15 bytes: what either side uses when nothing
/// smaller is agreed.
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window RFC 7692 lets a peer announce (2^8 bytes).
const MIN_WINDOW_BITS: u8 = 8;

/// The smallest window zlib can compress with. zlib (and so every flate2
/// backend that takes window bits) cannot deflate with a 256-byte window, so
/// we never promise one: `client_max_window_bits` must be at least this.
pub(crate) const MIN_DEFLATE_WINDOW_BITS: u8 = 9;

/// What the client offers (RFC 7692 §7.1).
///
/// Every field is a request or a promise about one direction:
/// `client_*` bind our compressor, `server_*` ask the server to bind its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DeflateConfig {
    /// Promise to compress every message on its own (no LZ77 window carried
    /// from one message to the next). Saves nothing on the wire; lets us
    /// drop the compressor's window between messages.
    pub(crate) client_no_context_takeover: bool,
    /// Ask the server to compress every message on its own, so we can drop
    /// the inflater's window between messages. A server that accepts must
    /// echo it.
    pub(crate) server_no_context_takeover: bool,
    /// `None`: offer `client_max_window_bits` without a value (we can
    /// compress with any window the server picks). `Some(n)`, 9..=15: we
    /// promise a window of at most 2^n bytes. 8 is refused (see
    /// [`MIN_DEFLATE_WINDOW_BITS`]).
    pub(crate) client_max_window_bits: Option<u8>,
    /// `None`: not offered (the server compresses with any window up to
    /// 2^15). `Some(n)`, 8..=15: ask the server for a window of at most 2^n
    /// bytes; a server that accepts must answer with a value no larger.
    pub(crate) server_max_window_bits: Option<u8>,
}

impl DeflateConfig {
    /// Checks the window sizes.
    ///
    /// # Errors
    /// A window size out of range (`client_max_window_bits` outside 9..=15,
    /// `server_max_window_bits` outside 8..=15).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bits) = self.client_max_window_bits {
            if !(MIN_DEFLATE_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) {
                return Err(ConfigError::new(
                    "compression.client_max_window_bits",
                    "must be within 9..=15 (zlib cannot compress with a 256-byte window)",
                ));
            }
        }
        if let Some(bits) = self.server_max_window_bits {
            if !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) {
                return Err(ConfigError::new(
                    "compression.server_max_window_bits",
                    "must be within 8..=15",
                ));
            }
        }
        Ok(())
    }

    /// The `Sec-WebSocket-Extensions` request header value: one
    /// permessage-deflate offer, such as
    /// `permessage-deflate; client_max_window_bits`.
    pub(crate) fn offer(&self) -> String {
        let mut offer = String::from(PERMESSAGE_DEFLATE);
        if self.client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        match self.client_max_window_bits {
            Some(bits) => offer.push_str(&format!("; client_max_window_bits={bits}")),
            None => offer.push_str("; client_max_window_bits"),
        }
        if let Some(bits) = self.server_max_window_bits {
            offer.push_str(&format!("; server_max_window_bits={bits}"));
        }
        offer
    }
}

/// The parameters both sides use once the server accepted (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// Our compressor starts every message with an empty window.
    pub(crate) client_no_context_takeover: bool,
    /// The server's compressor starts every message with an empty window, so
    /// our inflater may too.
    pub(crate) server_no_context_takeover: bool,
    /// Our compressor's window, 2^n bytes (8..=15; 8 means "send
    /// uncompressed", see [`Deflater::new`](super::Deflater::new)).
    pub(crate) client_window_bits: u8,
    /// The server's compressor's window, 2^n bytes (8..=15).
    pub(crate) server_window_bits: u8,
}

/// Checks the server's `Sec-WebSocket-Extensions` answer against what we
/// offered (`None`: compression off, nothing offered). `values` are the
/// header's values, one per header line (possibly none).
///
/// Returns the agreed parameters, or `None` when the server declined (no
/// header, or only empty list elements).
///
/// # Errors
/// A protocol error (RFC 6455 §4.1, RFC 7692 §7.1: the client must fail the
/// connection) when the header is malformed, names an extension we did not
/// offer, accepts permessage-deflate twice, or carries an unknown, duplicate,
/// unoffered or out-of-range parameter, or leaves out one that accepting our
/// offer requires.
pub(crate) fn negotiate<'a>(
    offered: Option<&DeflateConfig>,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Agreed>, Error> {
    check(offered, values).map_err(|fault| {
        Error::protocol(format!(
            "invalid sec-websocket-extensions response: {fault}"
        ))
    })
}

/// [`negotiate`] with the fault as a value, for tests.
fn check<'a>(
    offered: Option<&DeflateConfig>,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Agreed>, Fault> {
    let mut agreed = None;
    for value in values {
        for extension in parse(value)? {
            let Some(offer) = offered.filter(|_| extension.name == PERMESSAGE_DEFLATE) else {
                return Err(Fault::NotOffered(extension.name));
            };
            if agreed.is_some() {
                return Err(Fault::AcceptedTwice);
            }
            agreed = Some(accept(offer, &extension.params)?);
        }
    }
    Ok(agreed)
}

/// Holds one accepted permessage-deflate element's parameters to the offer.
fn accept(offer: &DeflateConfig, params: &[Param]) -> Result<Agreed, Fault> {
    let mut seen: Vec<&str> = Vec::with_capacity(params.len());
    let mut agreed = Agreed {
        client_no_context_takeover: offer.client_no_context_takeover,
        server_no_context_takeover: false,
        client_window_bits: offer.client_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        server_window_bits: MAX_WINDOW_BITS,
    };
    let mut server_bits_answered = false;
    for param in params {
        if seen.contains(&param.name.as_str()) {
            return Err(Fault::DuplicateParam(param.name.clone()));
        }
        seen.push(&param.name);
        match param.name.as_str() {
            // §7.1.1.1: a server may add it even when we did not offer it.
            "server_no_context_takeover" => {
                flag(param)?;
                agreed.server_no_context_takeover = true;
            }
            // §7.1.1.2: a server may ask it of us even when we did not offer it.
            "client_no_context_takeover" => {
                flag(param)?;
                agreed.client_no_context_takeover = true;
            }
            // §7.1.2.1: at most what we asked for, if we asked.
            "server_max_window_bits" => {
                let limit = offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
                agreed.server_window_bits = window_bits(param, limit)?;
                server_bits_answered = true;
            }
            // §7.1.2.2: only if we offered it; at most our promise.
            "client_max_window_bits" => {
                let limit = offer.client_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
                agreed.client_window_bits = window_bits(param, limit)?;
            }
            other => return Err(Fault::UnknownParam(other.to_owned())),
        }
    }
    // `client_max_window_bits` is always in our offer (with or without a
    // value), so the server may always answer it; the other two must be
    // echoed for the offer that carried them to count as accepted.
    if offer.server_no_context_takeover && !agreed.server_no_context_takeover {
        return Err(Fault::MissingParam("server_no_context_takeover"));
    }
    if offer.server_max_window_bits.is_some() && !server_bits_answered {
        return Err(Fault::MissingParam("server_max_window_bits"));
    }
    Ok(agreed)
}

/// A parameter that must not carry a value.
fn flag(param: &Param) -> Result<(), Fault> {
    match &param.value {
        None => Ok(()),
        Some(_) => Err(Fault::BadValue(param.clone())),
    }
}

/// A window-bits value: a decimal integer without leading zeros within
/// 8..=`limit` (RFC 7692 §7.1.2.1).
fn window_bits(param: &Param, limit: u8) -> Result<u8, Fault> {
    let bits = param
        .value
        .as_deref()
        .filter(|v| !v.starts_with('0') && v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|bits| (MIN_WINDOW_BITS..=limit).contains(bits));
    bits.ok_or_else(|| Fault::BadValue(param.clone()))
}

/// Why a server's answer fails the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// The header does not follow the RFC 6455 §9.1 grammar.
    Syntax(&'static str),
    /// An extension we did not offer (any, when we offered none).
    NotOffered(String),
    /// permessage-deflate accepted more than once.
    AcceptedTwice,
    /// A parameter RFC 7692 does not define.
    UnknownParam(String),
    /// The same parameter twice in one element.
    DuplicateParam(String),
    /// A parameter our offer needs echoed is missing.
    MissingParam(&'static str),
    /// A value where none belongs, none where one is needed, or one out of
    /// range.
    BadValue(Param),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(what) => write!(f, "malformed header: {what}"),
            Self::NotOffered(name) => write!(f, "extension `{name}` was not offered"),
            Self::AcceptedTwice => f.write_str("permessage-deflate accepted twice"),
            Self::UnknownParam(name) => write!(f, "unknown permessage-deflate parameter `{name}`"),
            Self::DuplicateParam(name) => write!(f, "duplicate parameter `{name}`"),
            Self::MissingParam(name) => write!(f, "offered `{name}` not accepted"),
            Self::BadValue(Param { name, value: None }) => {
                write!(f, "parameter `{name}` needs a value")
            }
            Self::BadValue(Param {
                name,
                value: Some(value),
            }) => write!(f, "invalid value `{value}` for `{name}`"),
        }
    }
}

/// One element of the extension list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extension {
    /// Lowercased.
    name: String,
    params: Vec<Param>,
}

/// One `name[=value]` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    /// Lowercased.
    name: String,
    /// Unquoted; kept as sent.
    value: Option<String>,
}

/// Parses one header value: `1#extension` (RFC 6455 §9.1), ignoring empty
/// list elements as RFC 7230 §7 asks of recipients.
fn parse(value: &[u8]) -> Result<Vec<Extension>, Fault> {
    let mut cursor = Cursor { rest: value };
    let mut extensions = Vec::new();
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None => return Ok(extensions),
            Some(b',') => {
                cursor.bump();
                continue;
            }
            Some(_) => {}
        }
        let name = cursor
            .token()
            .ok_or(Fault::Syntax("expected an extension name"))?;
        let mut params = Vec::new();
        loop {
            cursor.skip_ows();
            match cursor.peek() {
                None => break,
                Some(b',') => {
                    cursor.bump();
                    break;
                }
                Some(b';') => cursor.bump(),
                Some(_) => return Err(Fault::Syntax("expected `;` or `,`")),
            }
            cursor.skip_ows();
            let name = cursor
                .token()
                .ok_or(Fault::Syntax("expected a parameter name"))?;
            cursor.skip_ows();
            let value = if cursor.peek() == Some(b'=') {
                cursor.bump();
                cursor.skip_ows();
                Some(cursor.value()?)
            } else {
                None
            };
            params.push(Param {
                name: name.to_ascii_lowercase(),
                value,
            });
        }
        extensions.push(Extension {
            name: name.to_ascii_lowercase(),
            params,
        });
    }
}

/// A read position in a header value.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn bump(&mut self) {
        self.rest = self.rest.get(1..).unwrap_or_default();
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// `token = 1*tchar` (RFC 7230 §3.2.6), or `None` when there is none.
    fn token(&mut self) -> Option<String> {
        let len = self.rest.iter().take_while(|&&b| is_tchar(b)).count();
        if len == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(len);
        self.rest = rest;
        // tchar is ASCII, so this is valid UTF-8.
        Some(String::from_utf8_lossy(token).into_owned())
    }

    /// `token | quoted-string`; a quoted value, unescaped, must be a token
    /// (RFC 6455 §9.1).
    fn value(&mut self) -> Result<String, Fault> {
        if self.peek() != Some(b'"') {
            return self
                .token()
                .ok_or(Fault::Syntax("expected a parameter value"));
        }
        self.bump();
        let mut unquoted = Vec::new();
        loop {
            let byte = self
                .peek()
                .ok_or(Fault::Syntax("unterminated quoted string"))?;
            self.bump();
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self
                        .peek()
                        .ok_or(Fault::Syntax("unterminated quoted string"))?;
                    self.bump();
                    unquoted.push(escaped);
                }
                _ => unquoted.push(byte),
            }
        }
        if unquoted.is_empty() || !unquoted.iter().all(|&b| is_tchar(b)) {
            return Err(Fault::Syntax("quoted value is not a token"));
        }
        Ok(String::from_utf8_lossy(&unquoted).into_owned())
    }
}

/// `tchar` (RFC 7230 §3.2.6).
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests;
