//! A response head (RFC 9112 §4 and §5), parsed with `httparse`, and the
//! body framing it announces (§6.3).

use awc::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use bytes::BytesMut;

use super::ReadError;

/// Header fields one head may have.
const MAX_FIELDS: usize = 128;

/// A parsed response head.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    /// The minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub(crate) minor_version: u8,
    /// The status code.
    pub(crate) status: u16,
    /// The header fields (obsolete line folding replaced by spaces).
    pub(crate) headers: HeaderMap,
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the server closes the connection (neither a length nor a
    /// transfer coding).
    UntilClose,
}

impl ResponseHead {
    /// Parses a head off the front of `buf`, taking its bytes; `None` while
    /// it is incomplete.
    ///
    /// # Errors
    /// `buf` does not start with an HTTP/1.x response head, or holds more
    /// than `max` bytes without ending one.
    pub(crate) fn parse(buf: &mut BytesMut, max: usize) -> Result<Option<Self>, ReadError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut response = httparse::Response::new(&mut fields);
        let parsed = httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .parse_response(&mut response, buf);
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) if len <= max => len,
            Ok(httparse::Status::Partial) if buf.len() <= max => return Ok(None),
            Ok(_) => {
                return Err(ReadError::framing(format!(
                    "response head larger than {max} bytes"
                )))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ReadError::framing(format!(
                    "more than {MAX_FIELDS} header fields"
                )))
            }
            Err(httparse::Error::Version) => {
                return Err(ReadError::framing("not an HTTP/1.x response"))
            }
            Err(err) => return Err(ReadError::framing(format!("response head: {err}"))),
        };
        let mut headers = HeaderMap::with_capacity(response.headers.len());
        for field in response.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| ReadError::framing("response head: invalid header name"))?;
            headers.append(name, unfold(field.value)?);
        }
        let head = Self {
            minor_version: response.version.unwrap_or(1),
            status: response.code.unwrap_or(0),
            headers,
        };
        let _ = buf.split_to(len);
        Ok(Some(head))
    }

    /// An interim response (1xx other than 101): another head follows.
    pub(crate) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// A header field's value as text, if it has one that is.
    pub(crate) fn header(&self, name: impl awc::http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// How the body is delimited, for a response to a request other than
    /// HEAD or CONNECT (RFC 9112 §6.3).
    ///
    /// # Errors
    /// Framing the response cannot be trusted with: `Transfer-Encoding` in
    /// an HTTP/1.0 response (§6.1), a transfer coding other than one
    /// chunked (we send no `TE`), an invalid `Content-Length` (§6.3, 5).
    pub(crate) fn framing(&self) -> Result<Framing, ReadError> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(Framing::Empty);
        }
        if self.headers.contains_key(TRANSFER_ENCODING) {
            if self.minor_version == 0 {
                return Err(ReadError::framing(
                    "transfer-encoding in an HTTP/1.0 response",
                ));
            }
            // We send no TE header, so chunked is the only transfer coding
            // a server may apply (RFC 9112 §6.1, §7.4), and only once.
            let mut codings = self
                .headers
                .get_all(TRANSFER_ENCODING)
                .flat_map(|value| value.as_bytes().split(|b| *b == b','))
                .map(<[u8]>::trim_ascii)
                .filter(|coding| !coding.is_empty());
            return match (codings.next(), codings.next()) {
                (Some(coding), None) if coding.eq_ignore_ascii_case(b"chunked") => {
                    Ok(Framing::Chunked)
                }
                _ => Err(ReadError::framing(
                    "a transfer coding other than chunked, or chunked twice",
                )),
            };
        }
        let mut length = None;
        for value in self.headers.get_all(CONTENT_LENGTH) {
            for item in value
                .as_bytes()
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
            {
                let parsed = parse_length(item)
                    .filter(|n| length.is_none_or(|known| known == *n))
                    .ok_or_else(|| ReadError::framing("invalid content-length"))?;
                length = Some(parsed);
            }
        }
        Ok(length.map_or(Framing::UntilClose, Framing::Length))
    }
}

/// Decimal digits, at most `u64::MAX`.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A field value with obsolete line folding (RFC 9112 §5.2) replaced by
/// spaces.
fn unfold(value: &[u8]) -> Result<HeaderValue, ReadError> {
    let value = if value.iter().any(|b| matches!(b, b'\r' | b'\n')) {
        HeaderValue::from_bytes(
            &value
                .iter()
                .map(|b| if matches!(b, b'\r' | b'\n') { b' ' } else { *b })
                .collect::<Vec<u8>>(),
        )
    } else {
        HeaderValue::from_bytes(value)
    };
    value.map_err(|_| ReadError::framing("response head: invalid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::testing::{feed, splits};

    fn parse_all(input: &[u8]) -> Result<ResponseHead, String> {
        let mut heads = None;
        for cuts in splits(input) {
            let mut rest = None;
            let got = feed(input, &cuts, |buf| {
                if rest.is_some() {
                    rest = Some(buf.clone());
                    return Ok(None);
                }
                let head = ResponseHead::parse(buf, 1024)?;
                if head.is_some() {
                    rest = Some(buf.clone());
                }
                Ok(head)
            });
            let got = got.map(|mut heads| {
                assert_eq!(heads.len(), 1, "one head at cuts {cuts:?}");
                assert_eq!(rest.as_deref(), Some(&b"body"[..]), "cuts {cuts:?}");
                heads.pop().unwrap()
            });
            let summary = got
                .as_ref()
                .map(|h| {
                    let mut fields: Vec<String> =
                        h.headers.iter().map(|f| format!("{f:?}")).collect();
                    fields.sort();
                    (h.status, h.minor_version, fields)
                })
                .map_err(Clone::clone);
            match &heads {
                None => heads = Some((summary, got)),
                Some((first, _)) => assert_eq!(*first, summary, "cuts {cuts:?}"),
            }
        }
        heads.unwrap().1
    }

    #[test]
    fn heads_parse_the_same_wherever_the_input_is_split() {
        let head = parse_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Folded: a\r\n b\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        assert_eq!(head.header("x-folded"), Some("a   b"));
        assert_eq!(head.framing().unwrap(), Framing::UntilClose);

        let old = parse_all(b"HTTP/1.0 200\nContent-Length: 4\n\nbody").unwrap();
        assert_eq!((old.status, old.minor_version), (200, 0));
        assert_eq!(old.framing().unwrap(), Framing::Length(4));
    }

    #[test]
    fn what_is_not_http_fails_at_once() {
        let not_http = "not an HTTP/1.x response";
        for (input, want) in [
            (&b"SSH-2.0-OpenSSH_9.6\r\n"[..], not_http),
            (b"HTTP/2 200\r\n\r\n", not_http),
            // A TLS ClientHello's first bytes: a TLS server on http://.
            (b"\x16\x03\x01\x02\x00", not_http),
            (
                b"HTTP/1.1 2x0 OK\r\n",
                "response head: invalid response status",
            ),
            (
                b"HTTP/1.1 200 OK\r\nBad Name: x\r\n",
                "response head: invalid header name",
            ),
        ] {
            let err = ResponseHead::parse(&mut BytesMut::from(input), 1024).unwrap_err();
            assert!(matches!(err, ReadError::Framing(_)), "{err}");
            assert_eq!(
                err.to_string(),
                format!("invalid http response: {want}"),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn heads_over_the_limit_fail_complete_or_not() {
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(2000));
        let err = ResponseHead::parse(&mut BytesMut::from(long.as_str()), 1024).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid http response: response head larger than 1024 bytes"
        );
        let complete = format!("{long}\r\n");
        let err = ResponseHead::parse(&mut BytesMut::from(complete.as_str()), 1024).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid http response: response head larger than 1024 bytes"
        );
        let many: String = (0..200).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        let err = ResponseHead::parse(&mut BytesMut::from(many.as_str()), 8192).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid http response: more than 128 header fields"
        );
    }

    fn framing(head: &str) -> Result<Framing, String> {
        let mut buf = BytesMut::from(format!("{head}\r\n\r\n").as_str());
        ResponseHead::parse(&mut buf, 4096)
            .and_then(|head| head.unwrap().framing())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn framing_follows_rfc_9112_section_6_3() {
        let cases = [
            ("HTTP/1.1 200 OK", Ok(Framing::UntilClose)),
            ("HTTP/1.0 200 OK", Ok(Framing::UntilClose)),
            ("HTTP/1.1 204 No Content", Ok(Framing::Empty)),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9",
                Ok(Framing::Empty),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 12",
                Ok(Framing::Length(12)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7",
                Ok(Framing::Length(7)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
                Ok(Framing::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,Chunked ,",
                Ok(Framing::Chunked),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
                Ok(Framing::Chunked),
            ),
        ];
        for (head, want) in cases {
            assert_eq!(
                framing(head),
                want.map_err(|e: &str| e.to_owned()),
                "{head}"
            );
        }
        let length = "invalid content-length";
        let coding = "a transfer coding other than chunked, or chunked twice";
        for (bad, want) in [
            ("HTTP/1.1 200 OK\r\nContent-Length: 7, 8", length),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8",
                length,
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1", length),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0x10", length),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999",
                length,
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked",
                "transfer-encoding in an HTTP/1.0 response",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
                coding,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip",
                coding,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked",
                coding,
            ),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity", coding),
        ] {
            assert_eq!(
                framing(bad),
                Err(format!("invalid http response: {want}")),
                "{bad}"
            );
        }
    }
}
