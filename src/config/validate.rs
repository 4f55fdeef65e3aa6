//! Checking an endpoint config (`build()` and `validate()`), and what one
//! connection attempt takes from it: the URL connected and the headers.

use std::sync::Arc;

use super::EndpointConfig;
use crate::{ConfigError, TransportKind};

/// Header fields an SSE endpoint's headers cannot set: the request's own
/// HTTP/1.1 exchange writes `Host` and the body's `Content-Length`, and
/// the hop-by-hop and framing fields would contradict that framing (a
/// `Transfer-Encoding` beside our `Content-Length` is request smuggling,
/// and on a GET it makes the server wait for chunks). WebSocket endpoints
/// are not checked: awc writes the handshake's framing and connection
/// fields itself.
const SSE_RESERVED_HEADERS: [&str; 9] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The reserved field `name` is, for an SSE endpoint.
fn reserved(kind: TransportKind, name: &str) -> Option<&'static str> {
    if kind != TransportKind::Sse {
        return None;
    }
    SSE_RESERVED_HEADERS
        .into_iter()
        .find(|reserved| name.eq_ignore_ascii_case(reserved))
}

/// Why the endpoint cannot set the reserved field `name`.
fn reserved_problem(name: &str) -> String {
    format!("the sse request sets its own framing: a {name} header cannot be set")
}

impl EndpointConfig {
    /// Checks every field, and builds the TLS settings' rustls config
    /// (reading their PEM files) once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_target()?;
        self.validate_timings()?;
        self.validate_limits()?;
        self.validate_delivery()?;
        if let Some(tls) = &self.tls {
            tls.client_config()?;
        }
        self.backoff.validate()
    }

    /// The URL, the transport and the headers.
    fn validate_target(&self) -> Result<(), ConfigError> {
        let target = crate::url::check(&self.url, self.kind.schemes())
            .map_err(|problem| ConfigError::new("url", problem.to_string()))?;
        if (self.kind == TransportKind::Custom) != self.transport.is_some() {
            return Err(ConfigError::new(
                "transport",
                "a custom endpoint needs a transport factory (EndpointConfig::custom), and only it",
            ));
        }
        self.validate_tcp(&target)?;
        if let Some(ping) = &self.sse.ping_url {
            crate::url::check(ping, TransportKind::Sse.schemes())
                .map_err(|problem| ConfigError::new("sse.ping_url", problem.to_string()))?;
        }
        self.validate_request()?;
        for (i, (name, _)) in self.headers.iter().enumerate() {
            // An invalid name is not echoed: it may be a whole
            // `Name: secret` line passed as the name.
            awc::http::header::HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::new(
                    "headers",
                    format!(
                        "header {} of {} has an invalid name",
                        i + 1,
                        self.headers.len()
                    ),
                )
            })?;
            if let Some(name) = reserved(self.kind, name) {
                return Err(ConfigError::new("headers", reserved_problem(name)));
            }
            if target.authorization.is_some() && name.eq_ignore_ascii_case("authorization") {
                return Err(ConfigError::new(
                    "headers",
                    "an Authorization header and a user name in the url both set credentials: \
                     keep one",
                ));
            }
        }
        Ok(())
    }

    /// A TCP endpoint's port and credentials, and the framing only it takes.
    fn validate_tcp(&self, target: &crate::url::Target) -> Result<(), ConfigError> {
        if self.kind != TransportKind::Tcp {
            if self.framing != super::Framing::Lines {
                return Err(ConfigError::new(
                    "framing",
                    "only tcp endpoints take a framing",
                ));
            }
            return Ok(());
        }
        if target.authorization.is_some() {
            return Err(ConfigError::new(
                "url",
                "a tcp url cannot carry user info: authenticate with EndpointBuilder::authenticate",
            ));
        }
        if !self.headers.is_empty() || self.header_provider.is_some() {
            return Err(ConfigError::new(
                "headers",
                "a tcp stream has no handshake to send headers in",
            ));
        }
        let port = crate::url::split(&target.url)
            .and_then(|parts| crate::url::check_host_port(parts.host_port).ok())
            .flatten();
        if port.is_none() {
            return Err(ConfigError::new("url", "a tcp url needs a port"));
        }
        // A raw stream has no request to carry them: refuse rather than
        // drop them silently (the message never repeats the url, whose
        // query may hold a secret).
        if let Some(parts) = crate::url::split(&self.url) {
            if !matches!(parts.path, "" | "/") || parts.query.is_some() || parts.fragment.is_some()
            {
                return Err(ConfigError::new(
                    "url",
                    "a tcp url cannot carry a path, query or fragment: use tcp://host:port",
                ));
            }
        }
        Ok(())
    }

    /// The SSE request's method, body and first last event id.
    fn validate_request(&self) -> Result<(), ConfigError> {
        let method = &self.sse.method;
        if self.kind != TransportKind::Sse {
            if method != "GET" {
                return Err(ConfigError::new(
                    "sse.method",
                    "only sse endpoints take a request method",
                ));
            }
            if self.sse.body.is_some() {
                return Err(ConfigError::new(
                    "sse.body",
                    "only sse endpoints take a request body",
                ));
            }
            if self.sse.last_event_id.is_some() {
                return Err(ConfigError::new(
                    "sse.last_event_id",
                    "only sse endpoints take a last event id",
                ));
            }
            return Ok(());
        }
        if awc::http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(ConfigError::new(
                "sse.method",
                format!("{method:?} is not an http method token"),
            ));
        }
        if method == "HEAD" || method == "CONNECT" {
            return Err(ConfigError::new(
                "sse.method",
                format!("{method} cannot answer with an event stream"),
            ));
        }
        if let Some(id) = &self.sse.last_event_id {
            // Sent as `Last-Event-ID`: the rule the request applies, so an
            // id accepted here is never dropped there.
            if awc::http::header::HeaderValue::from_str(id).is_err() {
                return Err(ConfigError::new(
                    "sse.last_event_id",
                    "an event id must be a valid header value: no control characters but tab",
                ));
            }
        }
        if let Some(body) = &self.sse.body {
            awc::http::header::HeaderValue::from_str(body.content_type()).map_err(|_| {
                ConfigError::new("sse.body", "the content type is not a valid header value")
            })?;
        }
        Ok(())
    }

    /// What one connection attempt uses: the URL without its user info and
    /// fragment, and the headers (static, then the provider's, then the
    /// `Authorization: Basic` made from the URL's user info).
    ///
    /// # Errors
    /// A config error if the URL does not pass the checks of
    /// [`validate`](Self::validate), if the header provider returned an
    /// `Authorization` header while the URL has user info, or (for SSE) a
    /// header the request's framing owns.
    pub(crate) fn attempt(&self) -> Result<crate::transport::Attempt, crate::Error> {
        let target = crate::url::check(&self.url, self.kind.schemes())
            .map_err(|problem| ConfigError::new("url", problem.to_string()))?;
        let mut headers = self.headers.clone();
        if let Some(provide) = &self.header_provider {
            let provided = provide();
            if let Some(name) = provided
                .iter()
                .find_map(|(name, _)| reserved(self.kind, name))
            {
                return Err(ConfigError::new("header_provider", reserved_problem(name)).into());
            }
            headers.extend(provided);
        }
        if let Some(basic) = target.authorization {
            if headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            {
                return Err(ConfigError::new(
                    "header_provider",
                    "it returned an Authorization header while the url has a user name: keep one",
                )
                .into());
            }
            headers.push(("authorization".to_owned(), basic));
        }
        Ok(crate::transport::Attempt::new(
            Arc::from(target.url),
            headers,
        ))
    }

    /// Timeouts and the heartbeat.
    fn validate_timings(&self) -> Result<(), ConfigError> {
        let nonzero = [
            ("connect_timeout", Some(self.connect_timeout)),
            ("close_timeout", Some(self.close_timeout)),
            ("heartbeat.interval", Some(self.heartbeat.interval)),
            ("heartbeat.timeout", self.heartbeat.timeout),
            ("auth.timeout", self.auth.as_ref().map(|a| a.timeout)),
            ("ack.timeout", self.ack.as_ref().map(|a| a.timeout)),
        ];
        for (field, value) in nonzero {
            if value.is_some_and(|v| v.is_zero()) {
                return Err(ConfigError::new(field, "must be above zero"));
            }
        }
        Ok(())
    }

    /// Counts and sizes that must not be zero.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            (
                "heartbeat.max_missed",
                Some(self.heartbeat.max_missed as usize),
            ),
            ("max_attempts", self.max_attempts.map(|n| n as usize)),
            (
                "max_protocol_faults",
                Some(self.max_protocol_faults as usize),
            ),
            ("max_message_size", Some(self.max_message_size)),
            ("max_burst", Some(self.max_burst)),
            ("sse.max_event_size", Some(self.sse.max_event_size)),
            ("outbox_capacity", Some(self.outbox_capacity)),
            (
                "coalesce.max_messages",
                self.coalesce.as_ref().map(|c| c.max_messages),
            ),
        ];
        for (field, value) in at_least_one {
            if value == Some(0) {
                return Err(ConfigError::new(field, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// What a receive-only endpoint cannot have.
    fn validate_delivery(&self) -> Result<(), ConfigError> {
        let sends = self.auth.is_some()
            || self.ack.is_some()
            || self.coalesce.is_some()
            || !self.on_connect.is_empty();
        if !self.kind.can_send() && sends {
            return Err(ConfigError::new(
                "auth",
                "sse endpoints are receive-only: no auth, ack, coalesce or on-connect messages (use headers)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::EndpointConfig;

    #[test]
    fn sse_endpoints_refuse_framing_and_hop_by_hop_headers() {
        for name in [
            "Transfer-Encoding",
            "connection",
            "Keep-Alive",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Connection",
            "Content-Length",
            "host",
        ] {
            let err = EndpointConfig::sse("http://h/")
                .method("POST")
                .json_body(|| serde_json::json!({}))
                .header(name, "chunked")
                .build()
                .unwrap_err();
            assert_eq!(err.field(), "headers", "{name}");
            let message = err.to_string();
            assert!(
                message.contains(&name.to_ascii_lowercase()),
                "{name}: {message}"
            );
            assert!(!message.contains("chunked"), "the value is not echoed");
        }
        let fine = EndpointConfig::sse("http://h/")
            .header("X-Trace", "1")
            .header("Accept-Language", "en")
            .build();
        assert!(fine.is_ok());
        // awc writes a WebSocket handshake's framing and connection fields.
        let ws = EndpointConfig::websocket("ws://h/")
            .header("Host", "front.example")
            .build();
        assert!(ws.is_ok());
    }

    #[test]
    fn a_provider_s_framing_header_fails_the_sse_attempt() {
        let config = EndpointConfig::sse("http://h/")
            .header_provider(|| vec![("Transfer-Encoding".into(), "chunked".into())])
            .build()
            .unwrap();
        let err = config.attempt().unwrap_err();
        assert_eq!(err.category(), crate::ErrorCategory::Config);
        assert!(err.message().contains("header_provider"), "{err}");
        assert!(err.message().contains("transfer-encoding"), "{err}");
    }
}
