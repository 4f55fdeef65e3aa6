//! The consuming builder for `EndpointConfig`.

use std::{sync::Arc, time::Duration};

use super::*;
use crate::{
    backoff::BackoffPolicy,
    close::ClosePolicy,
    delivery::{AckConfig, AuthConfig, AuthReply, CoalesceConfig, OverflowPolicy},
    ConfigError, Payload,
};

/// Consuming builder for [`EndpointConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
#[must_use = "call build() to get the config"]
pub struct EndpointBuilder(pub(super) EndpointConfig);

impl EndpointBuilder {
    /// Bound on one attempt. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.0.connect_timeout = timeout;
        self
    }

    /// Bound on a close we start: WebSocket's close handshake, or writing
    /// out what is queued before a TCP stream's FIN (a peer that stops
    /// reading is dropped after it). Default 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.0.close_timeout = timeout;
        self
    }

    /// Time between heartbeat pings. Default 15 s.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.0.heartbeat.interval = interval;
        self
    }

    /// Silence that declares the peer dead. Default `interval x max_missed`.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.0.heartbeat.timeout = Some(timeout);
        self
    }

    /// Consecutive unanswered pings that declare the peer dead. Default 3.
    pub fn max_missed(mut self, max_missed: u32) -> Self {
        self.0.heartbeat.max_missed = max_missed;
        self
    }

    /// Replaces protocol pings with an application-level heartbeat.
    pub fn application_heartbeat(
        mut self,
        make_ping: impl Fn(u64) -> Payload + Send + Sync + 'static,
        is_reply: impl Fn(&Payload) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.heartbeat.application = Some(ApplicationHeartbeat {
            make_ping: Arc::new(make_ping),
            is_reply: Arc::new(is_reply),
        });
        self
    }

    /// Reconnect delay policy. Default exponential 1 s x2 to 30 s, full jitter.
    pub fn backoff(mut self, backoff: BackoffConfig) -> Self {
        self.0.backoff = backoff;
        self
    }

    /// A custom policy (for example a `backoff` crate policy wrapped in
    /// `backoff::FromBackoff`, with the `backoff` feature); the factory is
    /// called once per endpoint.
    pub fn backoff_policy(
        mut self,
        factory: impl Fn() -> Box<dyn BackoffPolicy> + Send + Sync + 'static,
    ) -> Self {
        self.0.backoff_policy = Some(Arc::new(factory));
        self
    }

    /// Consecutive failures before the endpoint fails. Default: unlimited.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.0.max_attempts = Some(attempts);
        self
    }

    /// Spreads the first retry after a lost connection over `0..spread`
    /// (for fleets of endpoints on one server). Default 0 (off).
    pub fn reconnect_spread(mut self, spread: Duration) -> Self {
        self.0.reconnect_spread = spread;
        self
    }

    /// Uptime after which the failure count resets. Default 60 s.
    pub fn reset_after(mut self, period: Duration) -> Self {
        self.0.reset_after = period;
        self
    }

    /// When to reconnect at all. Default [`ReconnectMode::Always`];
    /// [`ReconnectMode::OnFailure`] ends a one-shot stream in Closed when the
    /// server closes it cleanly.
    pub fn reconnect(mut self, mode: ReconnectMode) -> Self {
        self.0.reconnect = mode;
        self
    }

    /// Protocol faults in a row at which the endpoint fails. Default 5.
    pub fn max_protocol_faults(mut self, faults: u32) -> Self {
        self.0.max_protocol_faults = faults;
        self
    }

    /// Minimum delay after close 1013 ("try again later"). Default 10 s.
    pub fn try_again_later(mut self, delay: Duration) -> Self {
        self.0.try_again_later = delay;
        self
    }

    /// SSE: redirects followed per attempt. Default 10.
    pub fn max_redirects(mut self, redirects: u8) -> Self {
        self.0.sse.max_redirects = redirects;
        self
    }

    /// Close-code policy. Default: see [`ClosePolicy`].
    pub fn close_policy(mut self, policy: ClosePolicy) -> Self {
        self.0.close_policy = policy;
        self
    }

    /// Minimum delay after a protocol fault. Default 30 s.
    pub fn protocol_fault_delay(mut self, delay: Duration) -> Self {
        self.0.protocol_fault_delay = delay;
        self
    }

    /// What an authentication refusal does. Default: fail.
    pub fn on_auth_failure(mut self, action: OnAuthFailure) -> Self {
        self.0.on_auth_failure = action;
        self
    }

    /// TLS settings for this endpoint's `wss://` or `https://`
    /// connections, winning over the supervisor's. Default: the
    /// supervisor's (webpki roots unless set). [`build`](Self::build)
    /// builds the rustls config once.
    ///
    /// ```no_run
    /// use actix_tether::{EndpointConfig, TlsSettings};
    /// let ca = std::fs::read("private-ca.pem")?;
    /// let config = EndpointConfig::websocket("wss://feed.internal/stream")
    ///     .tls(TlsSettings::private_ca(ca))
    ///     .build()?;
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls(mut self, settings: TlsSettings) -> Self {
        self.0.tls = Some(settings);
        self
    }

    /// What a TLS failure does. Default: retry as a fault after at least
    /// 60 s, failing after `max_protocol_faults` in a row;
    /// [`Verdict::Fail`](crate::Verdict::Fail) fails at the first one,
    /// `Verdict::Retry { urgency: Urgency::Backoff, min_wait }` retries
    /// without a cap.
    pub fn on_tls_failure(mut self, verdict: crate::Verdict) -> Self {
        self.0.on_tls_failure = verdict;
        self
    }

    /// Largest inbound message in bytes. Default 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.0.max_message_size = bytes;
        self
    }

    /// WebSocket only: whether to offer permessage-deflate (RFC 7692).
    /// Default on; a server that declines gets uncompressed frames.
    pub fn compression(mut self, on: bool) -> Self {
        self.0.compression = on;
        self
    }

    /// Most frames (or SSE chunks) read at once and delivered as one
    /// [`BurstReceived`](crate::BurstReceived). Default 256.
    pub fn max_burst(mut self, frames: usize) -> Self {
        self.0.max_burst = frames;
        self
    }

    /// Messages the outbox holds while not connected. Default 1024.
    pub fn outbox_capacity(mut self, messages: usize) -> Self {
        self.0.outbox_capacity = messages;
        self
    }

    /// What a full outbox does. Default: reject the new message.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.0.overflow = policy;
        self
    }

    /// A message sent on every connection before the outbox flushes.
    pub fn on_connect(mut self, payload: impl Into<Payload>) -> Self {
        self.0.on_connect.push(payload.into());
        self
    }

    /// Runs an authentication handshake after every connect: `make_request`
    /// builds the message (per attempt, so tokens can be fresh), `check_reply`
    /// judges replies, `timeout` bounds the wait. The outbox is held until the
    /// endpoint is Authenticated.
    pub fn authenticate(
        mut self,
        make_request: impl Fn() -> Payload + Send + Sync + 'static,
        check_reply: impl Fn(&Payload) -> AuthReply + Send + Sync + 'static,
        timeout: Duration,
    ) -> Self {
        self.0.auth = Some(AuthConfig {
            make_request: Arc::new(make_request),
            check_reply: Arc::new(check_reply),
            timeout,
        });
        self
    }

    /// Turns on acknowledged mode: `matcher` reads the acknowledged id out of
    /// a server message; messages sent with an ack id wait up to `timeout`.
    pub fn acknowledged(
        mut self,
        matcher: impl Fn(&Payload) -> Option<String> + Send + Sync + 'static,
        timeout: Duration,
    ) -> Self {
        self.0.ack = Some(AckConfig {
            matcher: Arc::new(matcher),
            timeout,
        });
        self
    }

    /// Coalesces queued messages into one frame built by `encoder`, at most
    /// `max_messages` per frame, waiting at most `max_delay` for more.
    pub fn coalesce(
        mut self,
        encoder: impl Fn(&[Payload]) -> Payload + Send + Sync + 'static,
        max_messages: usize,
        max_delay: Duration,
    ) -> Self {
        self.0.coalesce = Some(CoalesceConfig {
            encoder: Arc::new(encoder),
            max_messages,
            max_delay,
        });
        self
    }

    /// SSE: largest line or event in bytes. Default 1 MiB.
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.0.sse.max_event_size = bytes;
        self
    }

    /// SSE: an event type that only proves the stream alive and is not delivered.
    pub fn liveness_event(mut self, event_type: impl Into<String>) -> Self {
        self.0.sse.liveness_events.push(event_type.into());
        self
    }

    /// A tag (`key` = `value`) for lookups and groups; a second tag with
    /// the same key replaces the first.
    ///
    /// ```
    /// use actix_tether::EndpointConfig;
    /// let config = EndpointConfig::websocket("wss://chat.example/ws")
    ///     .tag("kind", "chat")
    ///     .tag("region", "eu")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.tags["kind"], "chat");
    /// ```
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.tags.insert(key.into(), value.into());
        self
    }

    /// SSE: delivers comment lines (`: text`) to subscribers as
    /// [`Payload::Comment`](crate::Payload::Comment), in stream order with
    /// the events (type filters on a subscription leave them out). Default
    /// off: comments only prove the stream alive.
    pub fn comments(mut self, deliver: bool) -> Self {
        self.0.sse.comments = deliver;
        self
    }

    /// SSE: a URL fetched every heartbeat interval for round-trip samples.
    pub fn ping_url(mut self, url: impl Into<String>) -> Self {
        self.0.sse.ping_url = Some(url.into());
        self
    }

    /// SSE: the request method, any HTTP token but `HEAD` and `CONNECT`
    /// (`POST` for APIs that take the run's input in the body, `REPORT`,
    /// ...). Default `GET`. [`build`](Self::build) refuses an invalid
    /// token, and any method but `GET` on a WebSocket or custom endpoint.
    ///
    /// ```
    /// use actix_tether::EndpointConfig;
    /// let config = EndpointConfig::sse("https://agent.example/run").method("POST").build().unwrap();
    /// assert_eq!(config.sse.method, "POST");
    /// let err = EndpointConfig::sse("https://agent.example/run").method("PO ST").build().unwrap_err();
    /// assert_eq!(err.field(), "sse.method");
    /// ```
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.0.sse.method = method.into();
        self
    }

    /// SSE: a request body of `content_type`, made by `provider` on every
    /// attempt (a reconnect sends a fresh one, for example with the cursor
    /// the application reached). Sent with `Content-Length`. A 307 or 308
    /// redirect sends it again (to any origin: the body is not treated as
    /// a secret, unlike headers); a 303, and a 301 or 302 answering a
    /// `POST`, turn the request into a `GET` without it (RFC 9110 §15.4),
    /// for this attempt and the later ones. Default: none. Usually with
    /// [`method`](Self::method)`("POST")`.
    pub fn body(
        mut self,
        content_type: impl Into<String>,
        provider: impl Fn() -> bytes::Bytes + Send + Sync + 'static,
    ) -> Self {
        self.0.sse.body = Some(RequestBody::new(content_type, provider));
        self
    }

    /// SSE: an `application/json` request body, what `provider` returns
    /// serialized on every attempt (see [`body`](Self::body)).
    ///
    /// ```
    /// use actix_tether::EndpointConfig;
    /// let config = EndpointConfig::sse("https://agent.example/run")
    ///     .method("POST")
    ///     .json_body(|| serde_json::json!({"threadId": "t1", "runId": "r1", "messages": []}))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.sse.body.unwrap().content_type(), "application/json");
    /// ```
    pub fn json_body<T: serde::Serialize>(
        mut self,
        provider: impl Fn() -> T + Send + Sync + 'static,
    ) -> Self {
        self.0.sse.body = Some(RequestBody::json(provider));
        self
    }

    /// SSE: the `Last-Event-ID` sent with the first request, so a service
    /// that stored the last id it processed resumes from it after its own
    /// restart. Later requests send the stream's last id instead, as
    /// always (an empty `id:` field clears it). An empty `id` sends none.
    /// Default: none. [`build`](Self::build) refuses an id a header value
    /// cannot hold (a control character other than tab).
    ///
    /// ```
    /// use actix_tether::EndpointConfig;
    /// let config = EndpointConfig::sse("https://relay.example/events")
    ///     .last_event_id("evt-1041")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.sse.last_event_id.as_deref(), Some("evt-1041"));
    /// ```
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.0.sse.last_event_id = Some(id.into());
        self
    }

    /// TCP: how the byte stream is cut into messages. Default
    /// [`Framing::Lines`]. [`build`](Self::build) refuses another framing
    /// on a WebSocket, SSE or custom endpoint.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.0.framing = framing;
        self
    }

    /// Adds a static handshake header (its value is never logged).
    ///
    /// An SSE request writes its own framing: for SSE endpoints `build()`
    /// refuses `Host`, `Content-Length`, `Transfer-Encoding`, `Connection`,
    /// `Keep-Alive`, `TE`, `Trailer`, `Upgrade` and `Proxy-Connection`
    /// (field `headers`) rather than send them or drop them silently.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.headers.push((name.into(), value.into()));
        self
    }

    /// Headers computed on every attempt, e.g. a freshly minted token.
    ///
    /// For SSE endpoints, a header [`header`](Self::header) refuses fails
    /// the endpoint with a `Config` error when the provider returns it.
    pub fn header_provider(
        mut self,
        provider: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.0.header_provider = Some(Arc::new(provider));
        self
    }

    /// Validates and returns the config; builds the TLS settings' rustls
    /// config once (reading their PEM files).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field.
    pub fn build(self) -> Result<EndpointConfig, ConfigError> {
        self.0.validate()?;
        Ok(self.0)
    }
}
