//! A request head and its body, written out as HTTP/1.1 (RFC 9112 §3).

use awc::http::{
    header::{HeaderMap, CONTENT_LENGTH},
    Method,
};
use bytes::{BufMut, Bytes, BytesMut};

/// A request: method, origin-form target, header fields.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    /// The method.
    pub(crate) method: Method,
    /// The path and query (`/` when the URL has no path).
    pub(crate) target: String,
    /// The header fields, `Host` among them.
    pub(crate) headers: HeaderMap,
}

impl RequestHead {
    /// The request as bytes, with `body` after the head. `Content-Length`
    /// is the body's length; without a body it is `0` for methods whose
    /// requests carry content (POST, PUT, PATCH) and absent for the others
    /// (RFC 9110 §8.6).
    pub(crate) fn encode(&self, body: Option<&[u8]>) -> Bytes {
        let fields: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        let body_len = body.map_or(0, <[u8]>::len);
        let mut out = BytesMut::with_capacity(
            self.method.as_str().len() + self.target.len() + fields + body_len + 64,
        );
        out.put_slice(self.method.as_str().as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.target.as_bytes());
        out.put_slice(b" HTTP/1.1\r\n");
        for (name, value) in self.headers.iter() {
            if name == CONTENT_LENGTH {
                continue;
            }
            out.put_slice(name.as_str().as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        let carries_content = matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        if body.is_some() || carries_content {
            out.put_slice(format!("content-length: {body_len}\r\n").as_bytes());
        }
        out.put_slice(b"\r\n");
        if let Some(body) = body {
            out.put_slice(body);
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use awc::http::header::{HeaderValue, HOST};

    use super::*;

    fn head(method: Method) -> RequestHead {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("h:8080"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        RequestHead {
            method,
            target: "/events?x=1".to_owned(),
            headers,
        }
    }

    #[test]
    fn requests_carry_their_own_content_length() {
        assert_eq!(
            head(Method::GET).encode(None),
            "GET /events?x=1 HTTP/1.1\r\nhost: h:8080\r\n\r\n"
        );
        assert_eq!(
            head(Method::POST).encode(None),
            "POST /events?x=1 HTTP/1.1\r\nhost: h:8080\r\ncontent-length: 0\r\n\r\n"
        );
        let report = Method::from_bytes(b"REPORT").unwrap();
        assert_eq!(
            head(report).encode(Some(b"{}")),
            "REPORT /events?x=1 HTTP/1.1\r\nhost: h:8080\r\ncontent-length: 2\r\n\r\n{}"
        );
    }
}
