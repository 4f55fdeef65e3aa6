//! Everything one endpoint needs, its defaults and its secret-free `Debug`
//! (its validation is in `validate.rs`).

use std::{collections::BTreeMap, fmt, time::Duration};

use super::*;
use crate::{
    close::ClosePolicy,
    delivery::{AckConfig, AuthConfig, CoalesceConfig, OverflowPolicy},
    duration::serde_duration,
    transport::TransportFactory,
    verdict::{Urgency, Verdict},
    Payload, TransportKind,
};

/// What to do when the server refuses our credentials (HTTP 401/403, close 1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnAuthFailure {
    /// Go to Failed and wait for a forced reconnect (default).
    #[default]
    Fail,
    /// Retry with backoff, for servers whose refusals are transient.
    Retry,
}

/// When an endpoint reconnects after its connection ends.
///
/// A *clean close* is a close frame with code 1000 or an event stream that
/// ended without an error; everything else (a dropped socket, a heartbeat
/// timeout, other close codes, a refused handshake) is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReconnectMode {
    /// Reconnect after every end, clean or not, as the verdict says
    /// (default).
    #[default]
    Always,
    /// Reconnect after failures only: a clean close ends the endpoint in
    /// Closed (a one-shot stream that the server finishes).
    OnFailure,
    /// Never reconnect: a clean close ends in Closed, any failure (including
    /// a failed first attempt) in Failed, from where a forced reconnect
    /// revives it.
    Never,
}

/// Everything one endpoint needs: where, how to stay alive, how to retry.
///
/// Build one with [`EndpointConfig::websocket`], or deserialize it (durations
/// as `"30s"`-style strings or integer milliseconds).
///
/// ```
/// use std::time::Duration;
/// use actix_tether::EndpointConfig;
/// let config = EndpointConfig::websocket("wss://feed.example/stream")
///     .heartbeat_interval(Duration::from_secs(5))
///     .max_attempts(10)
///     .build()
///     .unwrap();
/// assert_eq!(config.heartbeat.effective_timeout(), Duration::from_secs(15));
///
/// let from_json: EndpointConfig = serde_json::from_str(
///     r#"{"url": "ws://127.0.0.1:9000/", "heartbeat": {"interval": "5s"}}"#,
/// ).unwrap();
/// assert_eq!(from_json.heartbeat.interval, Duration::from_secs(5));
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// `ws://`/`wss://` URL for WebSocket, `http://`/`https://` for SSE,
    /// `tcp://`/`tcps://` for raw TCP (see [`EndpointConfig::websocket`]
    /// for what is accepted, and how user info is sent). Printed only through [`redact_url`](crate::redact_url).
    pub url: String,
    /// Transport. Default: WebSocket.
    #[serde(default = "default_kind")]
    pub kind: TransportKind,
    /// Bound on one attempt. Default [`DEFAULT_CONNECT_TIMEOUT`] (10 s).
    #[serde(default = "default_connect_timeout", with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Bound on a close we start: WebSocket's close handshake, or writing
    /// out what is queued before a TCP stream's FIN (a peer that stops
    /// reading is dropped after it). Default [`DEFAULT_CLOSE_TIMEOUT`] (5 s).
    #[serde(default = "default_close_timeout", with = "serde_duration")]
    pub close_timeout: Duration,
    /// Heartbeat settings.
    #[serde(default)]
    pub heartbeat: HeartbeatConfig,
    /// Reconnect delays. Default: exponential 1 s x2 up to 30 s with full jitter.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Consecutive failures before the endpoint fails. Default `None`: never.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Uptime after which the failure count resets. Default [`DEFAULT_RESET_AFTER`] (60 s).
    #[serde(default = "default_reset_after", with = "serde_duration")]
    pub reset_after: Duration,
    /// Extra random wait, uniformly 0..`reconnect_spread`, before the first
    /// retry after a live connection is lost (including a server's close
    /// 1000/1001), so thousands of endpoints dropped at once by one server
    /// restart do not all return in the same second. Default 0 (off).
    #[serde(default, with = "serde_duration")]
    pub reconnect_spread: Duration,
    /// When to reconnect at all. Default [`ReconnectMode::Always`].
    #[serde(default)]
    pub reconnect: ReconnectMode,
    /// Close-code policy. Default: see [`ClosePolicy`].
    #[serde(default)]
    pub close_policy: ClosePolicy,
    /// Minimum delay after a protocol fault. Default
    /// [`DEFAULT_PROTOCOL_FAULT_DELAY`] (30 s).
    #[serde(default = "default_protocol_fault_delay", with = "serde_duration")]
    pub protocol_fault_delay: Duration,
    /// Protocol faults in a row at which the endpoint fails (the count
    /// resets after a connection stays up for `reset_after`). Default
    /// [`DEFAULT_MAX_PROTOCOL_FAULTS`] (5).
    #[serde(default = "default_max_protocol_faults")]
    pub max_protocol_faults: u32,
    /// Minimum delay after close 1013 ("try again later"). Default
    /// [`DEFAULT_TRY_AGAIN_LATER`] (10 s).
    #[serde(default = "default_try_again_later", with = "serde_duration")]
    pub try_again_later: Duration,
    /// What an authentication refusal does. Default: fail.
    #[serde(default)]
    pub on_auth_failure: OnAuthFailure,
    /// TLS for `wss://` and `https://`; wins over the supervisor's.
    /// Default `None`: the supervisor's (webpki roots unless set). In config
    /// files, PEM files by path (see [`TlsSettings`]).
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// What a TLS failure ([`ErrorCategory::Tls`](crate::ErrorCategory::Tls))
    /// does. Default: a fault retry after at least
    /// [`DEFAULT_TLS_FAILURE_DELAY`] (60 s), failing after
    /// `max_protocol_faults` in a row.
    #[serde(default = "default_on_tls_failure")]
    pub on_tls_failure: Verdict,
    /// Largest inbound message in bytes. Default 16 MiB.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// WebSocket only: offer permessage-deflate (RFC 7692) in the handshake.
    /// Default on. Inflated sizes count against `max_message_size` while
    /// inflating; our own messages are compressed without context takeover
    /// (one compressor per thread serves every endpoint).
    #[serde(default = "default_compression")]
    pub compression: bool,
    /// Most frames (or SSE chunks) read at once and delivered as one
    /// [`BurstReceived`](crate::BurstReceived). Default
    /// [`DEFAULT_MAX_BURST`] (256; `max_batch` in older config files).
    #[serde(default = "default_max_burst", alias = "max_batch")]
    pub max_burst: usize,
    /// SSE settings (ignored by WebSocket endpoints).
    #[serde(default)]
    pub sse: SseConfig,
    /// TCP only: how the byte stream is cut into messages. Default
    /// [`Framing::Lines`]; `build()` refuses another on other transports.
    /// A [`Framing::codec`] is a closure: serialising leaves it out, as it
    /// does the other closures (read back, the config frames by lines).
    #[serde(default, skip_serializing_if = "Framing::is_codec")]
    pub framing: Framing,
    /// Messages queued while not connected (or not yet authenticated).
    /// Default [`DEFAULT_OUTBOX_CAPACITY`] (1024). Payloads pushed with
    /// [`EndpointHandle::push`](crate::EndpointHandle::push) queue up to the
    /// same number before they reach the outbox.
    #[serde(default = "default_outbox_capacity")]
    pub outbox_capacity: usize,
    /// What a full outbox does. Default: reject the new message.
    #[serde(default)]
    pub overflow: OverflowPolicy,
    /// Sent on every connection, after authentication and before the outbox
    /// (for example re-subscribe requests).
    #[serde(skip)]
    pub on_connect: Vec<Payload>,
    /// Optional authentication handshake after every connect.
    #[serde(skip)]
    pub auth: Option<AuthConfig>,
    /// Optional acknowledged mode.
    #[serde(skip)]
    pub ack: Option<AckConfig>,
    /// Optional coalescing of queued messages into one frame. Default: off.
    #[serde(skip)]
    pub coalesce: Option<CoalesceConfig>,
    /// Handshake headers sent on every attempt (values are secret: never logged).
    /// An SSE endpoint cannot set `Host`, `Content-Length`, `Transfer-Encoding`,
    /// `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Upgrade` or
    /// `Proxy-Connection`: its request writes its own framing.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Called on every attempt for fresh headers (added after `headers`; for
    /// an SSE endpoint, a framing header among them fails the endpoint with
    /// a config error, as `headers` would at `build()`).
    #[serde(skip)]
    pub header_provider: Option<HeaderProvider>,
    /// Replaces the policy built from `backoff`.
    #[serde(skip)]
    pub backoff_policy: Option<PolicyFactory>,
    /// Makes the endpoint's transport, for [`TransportKind::Custom`]
    /// (see [`EndpointConfig::custom`]).
    #[serde(skip)]
    pub transport: Option<TransportFactory>,
    /// Key-value tags, for lookups
    /// ([`GetEndpoints::tagged`](crate::GetEndpoints::tagged)) and groups
    /// ([`Members::Tagged`](crate::Members::Tagged)). Default: none.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_kind() -> TransportKind {
    TransportKind::WebSocket
}
fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}
fn default_close_timeout() -> Duration {
    DEFAULT_CLOSE_TIMEOUT
}
fn default_reset_after() -> Duration {
    DEFAULT_RESET_AFTER
}
fn default_protocol_fault_delay() -> Duration {
    DEFAULT_PROTOCOL_FAULT_DELAY
}
fn default_max_protocol_faults() -> u32 {
    DEFAULT_MAX_PROTOCOL_FAULTS
}
fn default_try_again_later() -> Duration {
    DEFAULT_TRY_AGAIN_LATER
}
fn default_on_tls_failure() -> Verdict {
    Verdict::Retry {
        urgency: Urgency::Fault,
        min_wait: DEFAULT_TLS_FAILURE_DELAY,
    }
}
fn default_compression() -> bool {
    true
}
fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}
fn default_max_burst() -> usize {
    DEFAULT_MAX_BURST
}
fn default_outbox_capacity() -> usize {
    DEFAULT_OUTBOX_CAPACITY
}

impl EndpointConfig {
    /// Starts a WebSocket endpoint config with every default; `url` is
    /// `ws://` or `wss://`.
    ///
    /// # URLs
    /// [`build`](EndpointBuilder::build) takes URLs strictly: the scheme
    /// must match the transport (`ws`/`wss` here, `http`/`https` for
    /// [`sse`](Self::sse) and its `ping_url`), the host must be a host name,
    /// an IPv4 address or an IPv6 address in brackets, and a port must be a
    /// number from 1 to 65535. An `@` after the host (in the path) is refused
    /// as ambiguous: percent-encode `/`, `?`, `#` and `@` inside a user name
    /// or password. A `#fragment` is never sent.
    ///
    /// User info in the URL (`wss://user:password@host/`, or a token as the
    /// user name, `wss://TOKEN@host/`) is sent as an `Authorization: Basic`
    /// header (user and password percent-decoded, a missing password
    /// empty) on every attempt, and removed from the URL actually
    /// connected. It cannot be combined with an `Authorization` header:
    /// a static one is refused by `build()`, and one from the header
    /// provider fails the attempt with a [`Config`](crate::ErrorCategory::Config)
    /// error (the endpoint fails). None of it ever reaches a log line or a
    /// `Debug` output (see [`redact_url`](crate::redact_url)).
    ///
    /// ```
    /// use actix_tether::EndpointConfig;
    /// assert!(EndpointConfig::websocket("wss://TOKEN@feed.example/x").build().is_ok());
    /// let err = EndpointConfig::websocket("ws://127.0.0.1:notaport/x").build().unwrap_err();
    /// assert_eq!(err.field(), "url");
    /// assert!(EndpointConfig::websocket("https://feed.example/x").build().is_err());
    /// ```
    pub fn websocket(url: impl Into<String>) -> EndpointBuilder {
        Self::with_kind(url.into(), TransportKind::WebSocket)
    }

    /// Starts a Server-Sent Events endpoint config with every default;
    /// `url` is `http://` or `https://`.
    ///
    /// The URL rules and the user-info-to-`Authorization: Basic` rule are
    /// those of [`websocket`](Self::websocket); they apply to the
    /// `ping_url` as well (its user info goes to the ping requests only).
    /// The endpoint's headers, and the Basic header from its URL, are sent
    /// only to the origin (scheme, host and port) of `url`: a redirect to
    /// another origin is followed without them.
    pub fn sse(url: impl Into<String>) -> EndpointBuilder {
        Self::with_kind(url.into(), TransportKind::Sse)
    }

    /// Starts a raw TCP endpoint config with every default; `url` is
    /// `tcp://host:port`, or `tcps://host:port` for TLS (with the endpoint's
    /// or the supervisor's [`TlsSettings`], webpki roots by default, no
    /// ALPN). The port is required.
    ///
    /// Messages are cut by the endpoint's [`framing`](EndpointBuilder::framing)
    /// (default: LF- or CRLF-ended text lines), each bounded by
    /// `max_message_size`. TCP has no protocol pings: without an
    /// [`application_heartbeat`](EndpointBuilder::application_heartbeat),
    /// the heartbeat watches for silence (no byte for the heartbeat
    /// timeout restarts the connection). A server's FIN ends the connection
    /// as [`ClosedByPeer`](crate::ErrorCategory::ClosedByPeer) (backoff), a
    /// reset as [`Network`](crate::ErrorCategory::Network). Authentication,
    /// the outbox, acknowledgements and pushes work as on WebSocket. User
    /// info in the URL, headers and a header provider are refused by
    /// `build()`: a raw stream has no handshake to carry them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_tether::{config::Framing, EndpointConfig, Payload};
    /// let config = EndpointConfig::tcp("tcps://pbx.example:5039")
    ///     .framing(Framing::BannerThenBlocks)
    ///     .application_heartbeat(
    ///         |n| Payload::text(format!("Action: Ping\nActionID: hb-{n}")),
    ///         |reply| reply.as_text().is_some_and(|t| t.contains("Ping: Pong")),
    ///     )
    ///     .heartbeat_interval(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.kind, actix_tether::TransportKind::Tcp);
    /// assert!(EndpointConfig::tcp("tcp://pbx.example").build().is_err(), "no port");
    /// ```
    pub fn tcp(url: impl Into<String>) -> EndpointBuilder {
        Self::with_kind(url.into(), TransportKind::Tcp)
    }

    /// Starts the config of an endpoint that speaks your own protocol:
    /// `factory` makes its [`Transport`](crate::transport::Transport) on the
    /// connection actor's thread. The URL may have any scheme but needs a
    /// well-formed host and port (for example `tcp://127.0.0.1:7000`); user
    /// info is taken off the URL the transport sees and given to it as an
    /// `Authorization: Basic` header in [`Attempt::headers`](crate::transport::Attempt::headers),
    /// as for [`websocket`](Self::websocket). Every other setting works as
    /// for WebSocket endpoints.
    pub fn custom(
        url: impl Into<String>,
        factory: impl Fn() -> Box<dyn crate::transport::Transport> + Send + Sync + 'static,
    ) -> EndpointBuilder {
        let mut builder = Self::with_kind(url.into(), TransportKind::Custom);
        builder.0.transport = Some(Arc::new(factory));
        builder
    }

    fn with_kind(url: String, kind: TransportKind) -> EndpointBuilder {
        EndpointBuilder(Self {
            url,
            kind,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            heartbeat: HeartbeatConfig::default(),
            backoff: BackoffConfig::default(),
            max_attempts: None,
            reset_after: DEFAULT_RESET_AFTER,
            reconnect_spread: Duration::ZERO,
            reconnect: ReconnectMode::Always,
            close_policy: ClosePolicy::default(),
            protocol_fault_delay: DEFAULT_PROTOCOL_FAULT_DELAY,
            max_protocol_faults: DEFAULT_MAX_PROTOCOL_FAULTS,
            try_again_later: DEFAULT_TRY_AGAIN_LATER,
            on_auth_failure: OnAuthFailure::Fail,
            tls: None,
            on_tls_failure: default_on_tls_failure(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            compression: true,
            max_burst: DEFAULT_MAX_BURST,
            sse: SseConfig::default(),
            framing: Framing::Lines,
            outbox_capacity: DEFAULT_OUTBOX_CAPACITY,
            overflow: OverflowPolicy::Reject,
            on_connect: Vec::new(),
            auth: None,
            ack: None,
            coalesce: None,
            headers: Vec::new(),
            header_provider: None,
            backoff_policy: None,
            transport: None,
            tags: BTreeMap::new(),
        })
    }

    /// Whether an endpoint made with `other` would open the same
    /// connection as one made with this config: every setting equal but the
    /// tags. A config with a closure (a header provider, authentication,
    /// acknowledgements, coalescing, an application heartbeat, a backoff
    /// policy, a transport, an SSE body or a codec framing) is never the
    /// same as another: closures cannot be compared.
    pub(crate) fn same_connection(&self, other: &EndpointConfig) -> bool {
        fn comparable(config: &EndpointConfig) -> Option<serde_json::Value> {
            let closures = config.header_provider.is_some()
                || config.auth.is_some()
                || config.ack.is_some()
                || config.coalesce.is_some()
                || config.heartbeat.application.is_some()
                || config.backoff_policy.is_some()
                || config.transport.is_some()
                || config.sse.body.is_some()
                || matches!(config.framing, Framing::Codec(_));
            if closures {
                return None;
            }
            let mut value = serde_json::to_value(config).ok()?;
            value.as_object_mut()?.remove("tags");
            Some(value)
        }
        match (comparable(self), comparable(other)) {
            (Some(mine), Some(theirs)) => mine == theirs && self.on_connect == other.on_connect,
            _ => false,
        }
    }

    pub(crate) fn policy(&self) -> Box<dyn BackoffPolicy> {
        match &self.backoff_policy {
            Some(factory) => factory(),
            None => self.backoff.to_policy(),
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("EndpointConfig")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("kind", &self.kind)
            .field("connect_timeout", &self.connect_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("heartbeat", &self.heartbeat)
            .field("backoff", &self.backoff)
            .field("max_attempts", &self.max_attempts)
            .field("reset_after", &self.reset_after)
            .field("reconnect_spread", &self.reconnect_spread)
            .field("reconnect", &self.reconnect)
            .field("close_policy", &self.close_policy)
            .field("protocol_fault_delay", &self.protocol_fault_delay)
            .field("max_protocol_faults", &self.max_protocol_faults)
            .field("try_again_later", &self.try_again_later)
            .field("on_auth_failure", &self.on_auth_failure)
            .field("tls", &self.tls)
            .field("on_tls_failure", &self.on_tls_failure)
            .field("max_message_size", &self.max_message_size)
            .field("compression", &self.compression)
            .field("max_burst", &self.max_burst)
            .field("sse", &self.sse)
            .field("framing", &self.framing)
            .field("outbox_capacity", &self.outbox_capacity)
            .field("overflow", &self.overflow)
            .field("on_connect", &self.on_connect.len())
            .field("auth", &self.auth)
            .field("ack", &self.ack)
            .field("coalesce", &self.coalesce)
            .field("headers (values redacted)", &header_names)
            .field("header_provider", &self.header_provider.is_some())
            .field("backoff_policy", &self.backoff_policy.is_some())
            .field("transport", &self.transport.is_some())
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
