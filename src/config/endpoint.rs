//! Everything one endpoint needs, its validation and its secret-free `Debug`.

use std::{fmt, time::Duration};

use super::*;
use crate::{
    close::ClosePolicy,
    delivery::{AckConfig, AuthConfig, CoalesceConfig, OverflowPolicy},
    duration::serde_duration,
    transport::TransportFactory,
    verdict::{Urgency, Verdict},
    ConfigError, Payload, TransportKind,
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
    /// `ws://`/`wss://` URL for WebSocket, `http://`/`https://` for SSE.
    pub url: String,
    /// Transport. Default: WebSocket.
    #[serde(default = "default_kind")]
    pub kind: TransportKind,
    /// Bound on one attempt. Default [`DEFAULT_CONNECT_TIMEOUT`] (10 s).
    #[serde(default = "default_connect_timeout", with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Bound on a close handshake we start. Default [`DEFAULT_CLOSE_TIMEOUT`] (5 s).
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
    /// Most frames (or SSE chunks) read at once and delivered as one
    /// [`BurstReceived`](crate::BurstReceived). Default
    /// [`DEFAULT_MAX_BURST`] (256; `max_batch` in older config files).
    #[serde(default = "default_max_burst", alias = "max_batch")]
    pub max_burst: usize,
    /// SSE settings (ignored by WebSocket endpoints).
    #[serde(default)]
    pub sse: SseConfig,
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
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Called on every attempt for fresh headers (added after `headers`).
    #[serde(skip)]
    pub header_provider: Option<HeaderProvider>,
    /// Replaces the policy built from `backoff`.
    #[serde(skip)]
    pub backoff_policy: Option<PolicyFactory>,
    /// Makes the endpoint's transport, for [`TransportKind::Custom`]
    /// (see [`EndpointConfig::custom`]).
    #[serde(skip)]
    pub transport: Option<TransportFactory>,
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
    /// Starts a WebSocket endpoint config with every default.
    pub fn websocket(url: impl Into<String>) -> EndpointBuilder {
        Self::with_kind(url.into(), TransportKind::WebSocket)
    }

    /// Starts a Server-Sent Events endpoint config with every default.
    pub fn sse(url: impl Into<String>) -> EndpointBuilder {
        Self::with_kind(url.into(), TransportKind::Sse)
    }

    /// Starts the config of an endpoint that speaks your own protocol:
    /// `factory` makes its [`Transport`](crate::transport::Transport) on the
    /// connection actor's thread. The URL needs a scheme and a host (for
    /// example `tcp://127.0.0.1:7000`); every other setting works as for
    /// WebSocket endpoints.
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
            max_burst: DEFAULT_MAX_BURST,
            sse: SseConfig::default(),
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
        })
    }

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
        let schemes: &[&str] = match self.kind {
            TransportKind::WebSocket => &["ws://", "wss://"],
            TransportKind::Sse => &["http://", "https://"],
            TransportKind::Custom => &[],
        };
        let valid = match self.kind {
            TransportKind::Custom => has_scheme_and_rest(&self.url),
            _ => is_absolute_url(&self.url, schemes),
        };
        if !valid {
            let wanted = match schemes {
                [first, second] => format!("an absolute {first} or {second} url with a host"),
                _ => "an absolute url with a scheme and a host".to_owned(),
            };
            return Err(ConfigError::new(
                "url",
                format!(
                    "{} endpoints need {wanted}, got {:?}",
                    self.kind.name(),
                    crate::redact::redact_url(&self.url)
                ),
            ));
        }
        if (self.kind == TransportKind::Custom) != self.transport.is_some() {
            return Err(ConfigError::new(
                "transport",
                "a custom endpoint needs a transport factory (EndpointConfig::custom), and only it",
            ));
        }
        if let Some(ping) = &self.sse.ping_url {
            if !is_absolute_url(ping, &["http://", "https://"]) {
                return Err(ConfigError::new(
                    "sse.ping_url",
                    "is not an absolute http:// or https:// url with a host",
                ));
            }
        }
        for (name, _) in &self.headers {
            awc::http::header::HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::new("headers", format!("{name:?} is not a valid header name"))
            })?;
        }
        Ok(())
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

    pub(crate) fn policy(&self) -> Box<dyn BackoffPolicy> {
        match &self.backoff_policy {
            Some(factory) => factory(),
            None => self.backoff.to_policy(),
        }
    }
}

/// Whether `url` is `scheme://something` (a custom transport's URL).
fn has_scheme_and_rest(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    })
}

/// Whether `url` starts with one of `schemes` and names a host.
fn is_absolute_url(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| url.starts_with(s))
        && url
            .parse::<awc::http::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()))
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
            .field("max_burst", &self.max_burst)
            .field("sse", &self.sse)
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
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_validates() {
        let err = EndpointConfig::websocket("http://x").build().unwrap_err();
        assert_eq!(err.field(), "url");
        let err = EndpointConfig::websocket("ws://h/")
            .heartbeat_interval(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "heartbeat.interval");
        let err = EndpointConfig::websocket("ws://h/")
            .max_attempts(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_attempts");
        let err = EndpointConfig::websocket("ws://h/")
            .backoff(BackoffConfig::Exponential {
                initial: Duration::from_secs(5),
                multiplier: 2.0,
                max: Duration::from_secs(1),
                jitter: false,
            })
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "backoff.max");
        let err = EndpointConfig::websocket("ws://h/")
            .backoff(BackoffConfig::Exponential {
                initial: Duration::ZERO,
                multiplier: 2.0,
                max: Duration::from_secs(1),
                jitter: true,
            })
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "backoff.initial");
        assert!(err.to_string().contains("never grows"), "{err}");
        let err = EndpointConfig::websocket("ws://h/")
            .max_protocol_faults(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_protocol_faults");
        let err = EndpointConfig::websocket("ws://h/")
            .header("bad name", "v")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "headers");
        assert!(EndpointConfig::websocket("wss://h:1/x").build().is_ok());
        assert_eq!(
            EndpointConfig::sse("ws://h/").build().unwrap_err().field(),
            "url"
        );
        assert!(EndpointConfig::sse("https://h/events").build().is_ok());
        let err = EndpointConfig::sse("http://h/")
            .ping_url("nope")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "sse.ping_url");
    }

    #[test]
    fn debug_hides_secrets() {
        let config = EndpointConfig::websocket("wss://user:hunter2@h/feed?token=abc")
            .header("Authorization", "Bearer s3cret")
            .build()
            .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(!debug.contains("abc"), "{debug}");
        assert!(debug.contains("Authorization"));
    }

    #[test]
    fn deserializes_with_defaults_and_human_durations() {
        let config: EndpointConfig = serde_json::from_str(
            r#"{
                "url": "ws://127.0.0.1:1/",
                "connect_timeout": 2500,
                "heartbeat": {"interval": "2s", "max_missed": 2},
                "backoff": {"policy": "decorrelated", "initial": "100ms", "max": "5s"},
                "max_attempts": 4,
                "close_policy": {"4001": "stop"}
            }"#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.connect_timeout, Duration::from_millis(2500));
        assert_eq!(config.heartbeat.effective_timeout(), Duration::from_secs(4));
        assert_eq!(config.max_attempts, Some(4));
        assert_eq!(config.reset_after, DEFAULT_RESET_AFTER);
        assert!(serde_json::from_str::<EndpointConfig>(r#"{"url":"ws://h/","bogus":1}"#).is_err());
        let sse: EndpointConfig = serde_json::from_str(
            r#"{"url": "http://127.0.0.1:1/events", "kind": "sse",
                "sse": {"liveness_events": ["heartbeat"], "max_event_size": 4096}}"#,
        )
        .unwrap();
        sse.validate().unwrap();
        assert_eq!(sse.kind, TransportKind::Sse);
        assert_eq!(sse.sse.liveness_events, vec!["heartbeat".to_owned()]);
    }
}
