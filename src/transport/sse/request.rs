//! What one attempt asks an event-stream server for: the method, the body
//! with its content type, and the request written out with our headers.

use awc::http::{
    header::{
        HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_TYPE,
        HOST, USER_AGENT,
    },
    Method,
};
use bytes::Bytes;

use super::SseSettings;
use crate::{http1::RequestHead, transport::socket::Target, Error, ErrorCategory};

/// The `User-Agent` sent unless the endpoint's headers set one.
const USER_AGENT_VALUE: &str = concat!("actix-tether/", env!("CARGO_PKG_VERSION"));

/// What an attempt asks for: the method and the body with its content
/// type.
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) body: Option<(String, Bytes)>,
}

impl Request {
    /// A GET without a body (after a redirect that asks for one).
    pub(super) fn get() -> Self {
        Self {
            method: Method::GET,
            body: None,
        }
    }

    /// The endpoint's method, with a body made for this attempt.
    ///
    /// # Errors
    /// The body provider failed.
    pub(super) fn configured(settings: &SseSettings) -> Result<Self, Error> {
        let body = match &settings.body {
            Some(body) => Some((body.content_type().to_owned(), body.make()?)),
            None => None,
        };
        Ok(Self {
            method: settings.method.clone(),
            body,
        })
    }

    /// Whether a redirect with `status` repeats this request as it is: 303
    /// asks for a GET, and after 301 and 302 a POST becomes one, as user
    /// agents do (RFC 9110 §15.4).
    pub(super) fn survives(&self, status: u16) -> bool {
        match status {
            303 => false,
            301 | 302 => self.method != Method::POST,
            _ => true,
        }
    }

    /// Whether this is a GET without a body.
    pub(super) fn is_plain_get(&self) -> bool {
        self.method == Method::GET && self.body.is_none()
    }

    /// The request to `target` as bytes: `own` headers (the endpoint's, on
    /// its own origin) win over our defaults.
    ///
    /// # Errors
    /// A config error when the content type is not a valid header value.
    pub(super) fn encode(
        &self,
        target: &Target,
        own: &[(HeaderName, HeaderValue)],
        last_event_id: Option<&HeaderValue>,
    ) -> Result<Bytes, Error> {
        let mut headers = HeaderMap::with_capacity(own.len() + 7);
        let defaults = [
            (HOST, HeaderValue::from_str(&target.authority).ok()),
            (ACCEPT, Some(HeaderValue::from_static("text/event-stream"))),
            // The parser reads the body as it comes: no content coding.
            (ACCEPT_ENCODING, Some(HeaderValue::from_static("identity"))),
            (CACHE_CONTROL, Some(HeaderValue::from_static("no-cache"))),
            (USER_AGENT, Some(HeaderValue::from_static(USER_AGENT_VALUE))),
        ];
        for (name, value) in defaults {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
        if let Some((content_type, _)) = &self.body {
            let value = HeaderValue::from_str(content_type).map_err(|_| {
                Error::new(ErrorCategory::Config, "invalid request body content type")
            })?;
            headers.insert(CONTENT_TYPE, value);
        }
        for (name, value) in own {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(id) = last_event_id {
            headers.insert(HeaderName::from_static("last-event-id"), id.clone());
        }
        let head = RequestHead {
            method: self.method.clone(),
            target: target.path.clone(),
            headers,
        };
        Ok(head.encode(self.body.as_ref().map(|(_, bytes)| &bytes[..])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post() -> Request {
        Request {
            method: Method::POST,
            body: Some(("application/json".to_owned(), Bytes::from_static(b"{}"))),
        }
    }

    #[test]
    fn redirects_keep_or_drop_the_request_as_rfc_9110_says() {
        let report = Request {
            method: Method::from_bytes(b"REPORT").unwrap(),
            body: None,
        };
        for (status, post_survives, report_survives) in [
            (301, false, true),
            (302, false, true),
            (303, false, false),
            (307, true, true),
            (308, true, true),
        ] {
            assert_eq!(post().survives(status), post_survives, "{status}");
            assert_eq!(report.survives(status), report_survives, "{status}");
        }
        assert!(Request::get().is_plain_get());
        assert!(!post().is_plain_get());
    }

    #[test]
    fn the_endpoint_s_headers_win_and_the_body_brings_its_type() {
        let target = Target::parse("http://h:8080/run?x=1").unwrap();
        let own = [(
            HeaderName::from_static("user-agent"),
            HeaderValue::from_static("mine/1"),
        )];
        let id = HeaderValue::from_static("41");
        let bytes = post().encode(&target, &own, Some(&id)).unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines.remove(0), "POST /run?x=1 HTTP/1.1");
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                "accept-encoding: identity",
                "accept: text/event-stream",
                "cache-control: no-cache",
                "content-length: 2",
                "content-type: application/json",
                "host: h:8080",
                "last-event-id: 41",
                "user-agent: mine/1",
            ]
        );
        assert_eq!(body, "{}");
    }
}
