//! Endpoint and supervisor configuration: plain structs with documented
//! defaults, consuming builders, serde support and validation.

use std::{fmt, sync::Arc, time::Duration};

use crate::{
    backoff::{BackoffPolicy, ConstantBackoff, DecorrelatedJitter, ExponentialBackoff},
    close::ClosePolicy,
    delivery::{AckConfig, AuthConfig, AuthReply, BatchConfig, OverflowPolicy},
    duration::{serde_duration, serde_opt_duration},
    ConfigError, Payload, TransportKind,
};

/// How long one attempt (DNS, TCP, TLS and handshake) may take. 10 s covers a
/// slow TLS handshake across continents without stalling a dead endpoint long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close we start waits for the peer's close frame before dropping
/// the TCP connection.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Heartbeat interval: well under the 60 s idle timeout of common proxies and
/// load balancers, so a quiet connection is never cut for idleness.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Consecutive unanswered pings that declare the peer dead.
pub const DEFAULT_MAX_MISSED: u32 = 3;
/// First reconnect delay of the default exponential policy.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// Cap of the default policies: long enough to spare a struggling server,
/// short enough that recovery is noticed within half a minute.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// Growth factor of the default exponential policy.
pub const DEFAULT_MULTIPLIER: f64 = 2.0;
/// A connection must stay up this long before the failure count resets, so a
/// flapping server does not earn fast retries.
pub const DEFAULT_RESET_AFTER: Duration = Duration::from_secs(60);
/// Minimum wait after a protocol fault (close 1002/1003/1007/1009/1010, bad
/// frames): a peer that speaks the protocol wrongly rarely fixes itself fast.
pub const DEFAULT_PROTOCOL_FAULT_DELAY: Duration = Duration::from_secs(30);
/// Consecutive protocol faults after which the endpoint fails.
pub const DEFAULT_MAX_PROTOCOL_FAULTS: u32 = 5;
/// Minimum wait after close 1013 ("try again later") without a better hint.
pub const DEFAULT_TRY_AGAIN_LATER: Duration = Duration::from_secs(10);
/// Largest inbound message (after reassembling fragments). 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// Most frames read at once and delivered in one batch to batch subscribers.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Messages an endpoint's outbox holds while it is not connected: enough to
/// ride out a reconnect of a busy sender, small enough to stay bounded.
pub const DEFAULT_OUTBOX_CAPACITY: usize = 1024;

/// Supplies handshake headers; called on every attempt, so a token can be
/// refreshed per reconnect. Values never reach logs or `Debug` output.
pub type HeaderProvider = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Builds a fresh reconnect policy for an endpoint.
pub type PolicyFactory = Arc<dyn Fn() -> Box<dyn BackoffPolicy> + Send + Sync>;

/// An application-level heartbeat, for servers that do not answer protocol
/// pings: a factory for the ping message and a matcher for the reply.
///
/// Replies the matcher accepts are consumed (not delivered to subscribers) and
/// give round-trip samples.
#[derive(Clone)]
pub struct ApplicationHeartbeat {
    /// Builds ping number `seq`, e.g. `{"type":"ping","timestamp":...}`.
    pub make_ping: Arc<dyn Fn(u64) -> Payload + Send + Sync>,
    /// Recognises the server's reply.
    pub is_reply: Arc<dyn Fn(&Payload) -> bool + Send + Sync>,
}

impl fmt::Debug for ApplicationHeartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApplicationHeartbeat { .. }")
    }
}

/// Heartbeat settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HeartbeatConfig {
    /// Time between pings. Default [`DEFAULT_HEARTBEAT_INTERVAL`] (15 s).
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Silence (no inbound traffic at all) that declares the peer dead.
    /// Default `None`: `interval x max_missed`.
    #[serde(with = "serde_opt_duration")]
    pub timeout: Option<Duration>,
    /// Consecutive unanswered pings that declare the peer dead. Default
    /// [`DEFAULT_MAX_MISSED`] (3).
    pub max_missed: u32,
    /// Optional application-level heartbeat replacing protocol pings.
    #[serde(skip)]
    pub application: Option<ApplicationHeartbeat>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            timeout: None,
            max_missed: DEFAULT_MAX_MISSED,
            application: None,
        }
    }
}

impl HeartbeatConfig {
    /// The silence after which the peer is declared dead.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| self.interval.saturating_mul(self.max_missed.max(1)))
    }
}

/// Settings only SSE endpoints use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SseConfig {
    /// Largest line or event in bytes; more is a protocol error and a
    /// reconnect, never unbounded memory. Default 1 MiB.
    pub max_event_size: usize,
    /// Event types that only prove the stream alive (for example
    /// `heartbeat`): not delivered to subscribers. Default: none.
    pub liveness_events: Vec<String>,
    /// A URL fetched with GET every heartbeat interval to measure round trips
    /// for the monitor. Default: none.
    pub ping_url: Option<String>,
    /// Redirects followed per attempt. Default 10.
    pub max_redirects: u8,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self {
            max_event_size: crate::sse::DEFAULT_MAX_EVENT_SIZE,
            liveness_events: Vec::new(),
            ping_url: None,
            max_redirects: 10,
        }
    }
}

/// Reconnect delay policy, as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackoffConfig {
    /// `initial * multiplier^n` capped at `max`, with optional full jitter.
    Exponential {
        /// First delay. Default 1 s.
        #[serde(with = "serde_duration")]
        initial: Duration,
        /// Growth factor. Default 2.
        multiplier: f64,
        /// Cap, applied before jitter. Default 30 s.
        #[serde(with = "serde_duration")]
        max: Duration,
        /// Full jitter on (default) or off.
        jitter: bool,
    },
    /// `min(max, random between initial and 3 x previous)`.
    Decorrelated {
        /// Lower bound. Default 1 s.
        #[serde(with = "serde_duration")]
        initial: Duration,
        /// Cap. Default 30 s.
        #[serde(with = "serde_duration")]
        max: Duration,
    },
    /// The same delay every time.
    Constant {
        /// The delay.
        #[serde(with = "serde_duration")]
        delay: Duration,
    },
}

impl Default for BackoffConfig {
    /// Exponential, 1 s initial, multiplier 2, 30 s cap, full jitter.
    fn default() -> Self {
        Self::Exponential {
            initial: DEFAULT_INITIAL_DELAY,
            multiplier: DEFAULT_MULTIPLIER,
            max: DEFAULT_MAX_DELAY,
            jitter: true,
        }
    }
}

impl BackoffConfig {
    /// Builds the policy this config describes.
    pub fn to_policy(&self) -> Box<dyn BackoffPolicy> {
        match *self {
            Self::Exponential {
                initial,
                multiplier,
                max,
                jitter,
            } => Box::new(ExponentialBackoff::new(initial, multiplier, max, jitter)),
            Self::Decorrelated { initial, max } => Box::new(DecorrelatedJitter::new(initial, max)),
            Self::Constant { delay } => Box::new(ConstantBackoff(delay)),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Self::Exponential {
                initial,
                multiplier,
                max,
                ..
            } => {
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(ConfigError::new(
                        "backoff.multiplier",
                        "must be a finite number >= 1",
                    ));
                }
                if max < initial {
                    return Err(ConfigError::new(
                        "backoff.max",
                        "must not be below backoff.initial",
                    ));
                }
            }
            Self::Decorrelated { initial, max } => {
                if initial.is_zero() {
                    return Err(ConfigError::new("backoff.initial", "must be above zero"));
                }
                if max < initial {
                    return Err(ConfigError::new(
                        "backoff.max",
                        "must not be below backoff.initial",
                    ));
                }
            }
            Self::Constant { .. } => {}
        }
        Ok(())
    }
}

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
    /// Close-code policy. Default: see [`ClosePolicy`].
    #[serde(default)]
    pub close_policy: ClosePolicy,
    /// Minimum delay after a protocol fault. Default 30 s.
    #[serde(default = "default_protocol_fault_delay", with = "serde_duration")]
    pub protocol_fault_delay: Duration,
    /// Consecutive protocol faults before the endpoint fails. Default 5.
    #[serde(default = "default_max_protocol_faults")]
    pub max_protocol_faults: u32,
    /// Minimum delay after close 1013. Default 10 s.
    #[serde(default = "default_try_again_later", with = "serde_duration")]
    pub try_again_later: Duration,
    /// What an authentication refusal does. Default: fail.
    #[serde(default)]
    pub on_auth_failure: OnAuthFailure,
    /// Largest inbound message in bytes. Default 16 MiB.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Most frames (or SSE chunks) read and delivered at once to batch
    /// subscribers. Default 256.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// SSE settings (ignored by WebSocket endpoints).
    #[serde(default)]
    pub sse: SseConfig,
    /// Messages queued while not connected (or not yet authenticated).
    /// Default [`DEFAULT_OUTBOX_CAPACITY`] (1024).
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
    pub batch: Option<BatchConfig>,
    /// Handshake headers sent on every attempt (values are secret: never logged).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Called on every attempt for fresh headers (added after `headers`).
    #[serde(skip)]
    pub header_provider: Option<HeaderProvider>,
    /// Replaces the policy built from `backoff`.
    #[serde(skip)]
    pub backoff_policy: Option<PolicyFactory>,
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
fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}
fn default_max_batch() -> usize {
    DEFAULT_MAX_BATCH
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
            close_policy: ClosePolicy::default(),
            protocol_fault_delay: DEFAULT_PROTOCOL_FAULT_DELAY,
            max_protocol_faults: DEFAULT_MAX_PROTOCOL_FAULTS,
            try_again_later: DEFAULT_TRY_AGAIN_LATER,
            on_auth_failure: OnAuthFailure::Fail,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_batch: DEFAULT_MAX_BATCH,
            sse: SseConfig::default(),
            outbox_capacity: DEFAULT_OUTBOX_CAPACITY,
            overflow: OverflowPolicy::Reject,
            on_connect: Vec::new(),
            auth: None,
            ack: None,
            batch: None,
            headers: Vec::new(),
            header_provider: None,
            backoff_policy: None,
        })
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let schemes = match self.kind {
            TransportKind::WebSocket => ["ws://", "wss://"],
            TransportKind::Sse => ["http://", "https://"],
        };
        if !is_absolute_url(&self.url, &schemes) {
            return Err(ConfigError::new(
                "url",
                format!(
                    "{} endpoints need an absolute {} or {} url with a host, got {:?}",
                    self.kind.name(),
                    schemes[0],
                    schemes[1],
                    crate::redact::redact_url(&self.url)
                ),
            ));
        }
        if self.sse.max_event_size == 0 {
            return Err(ConfigError::new("sse.max_event_size", "must be above zero"));
        }
        if let Some(ping) = &self.sse.ping_url {
            if !is_absolute_url(ping, &["http://", "https://"]) {
                return Err(ConfigError::new(
                    "sse.ping_url",
                    "is not an absolute http:// or https:// url with a host",
                ));
            }
        }
        let nonzero = [
            ("connect_timeout", self.connect_timeout),
            ("close_timeout", self.close_timeout),
            ("heartbeat.interval", self.heartbeat.interval),
        ];
        for (field, value) in nonzero {
            if value.is_zero() {
                return Err(ConfigError::new(field, "must be above zero"));
            }
        }
        if self.heartbeat.max_missed == 0 {
            return Err(ConfigError::new(
                "heartbeat.max_missed",
                "must be at least 1",
            ));
        }
        if self.heartbeat.timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new("heartbeat.timeout", "must be above zero"));
        }
        if self.max_attempts == Some(0) {
            return Err(ConfigError::new(
                "max_attempts",
                "must be at least 1 (use None for unlimited)",
            ));
        }
        if self.max_message_size == 0 {
            return Err(ConfigError::new("max_message_size", "must be above zero"));
        }
        if self.outbox_capacity == 0 {
            return Err(ConfigError::new("outbox_capacity", "must be at least 1"));
        }
        if self.batch.as_ref().is_some_and(|b| b.max_batch == 0) {
            return Err(ConfigError::new("batch.max_batch", "must be at least 1"));
        }
        if self.auth.as_ref().is_some_and(|a| a.timeout.is_zero()) {
            return Err(ConfigError::new("auth.timeout", "must be above zero"));
        }
        if self.ack.as_ref().is_some_and(|a| a.timeout.is_zero()) {
            return Err(ConfigError::new("ack.timeout", "must be above zero"));
        }
        let sends = self.auth.is_some()
            || self.ack.is_some()
            || self.batch.is_some()
            || !self.on_connect.is_empty();
        if self.kind == TransportKind::Sse && sends {
            return Err(ConfigError::new(
                "auth",
                "sse endpoints are receive-only: no auth, ack, batch or on-connect messages (use headers)",
            ));
        }
        if self.max_batch == 0 {
            return Err(ConfigError::new("max_batch", "must be at least 1"));
        }
        for (name, _) in &self.headers {
            awc::http::header::HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::new("headers", format!("{name:?} is not a valid header name"))
            })?;
        }
        self.backoff.validate()
    }

    pub(crate) fn policy(&self) -> Box<dyn BackoffPolicy> {
        match &self.backoff_policy {
            Some(factory) => factory(),
            None => self.backoff.to_policy(),
        }
    }
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
            .field("close_policy", &self.close_policy)
            .field("on_auth_failure", &self.on_auth_failure)
            .field("max_message_size", &self.max_message_size)
            .field("max_batch", &self.max_batch)
            .field("sse", &self.sse)
            .field("outbox_capacity", &self.outbox_capacity)
            .field("overflow", &self.overflow)
            .field("on_connect", &self.on_connect.len())
            .field("auth", &self.auth)
            .field("ack", &self.ack)
            .field("batch", &self.batch)
            .field("headers (values redacted)", &header_names)
            .field("header_provider", &self.header_provider.is_some())
            .field("backoff_policy", &self.backoff_policy.is_some())
            .finish_non_exhaustive()
    }
}

/// Consuming builder for [`EndpointConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
#[must_use = "call build() to get the config"]
pub struct EndpointBuilder(EndpointConfig);

impl EndpointBuilder {
    /// Bound on one attempt. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.0.connect_timeout = timeout;
        self
    }

    /// Bound on a close handshake we start. Default 5 s.
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
    /// [`FromBackoff`](crate::FromBackoff)); the factory is called once per endpoint.
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

    /// Uptime after which the failure count resets. Default 60 s.
    pub fn reset_after(mut self, period: Duration) -> Self {
        self.0.reset_after = period;
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

    /// Largest inbound message in bytes. Default 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.0.max_message_size = bytes;
        self
    }

    /// Most frames delivered in one batch. Default 256.
    pub fn max_batch(mut self, frames: usize) -> Self {
        self.0.max_batch = frames;
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
    /// `max_batch` per frame, waiting at most `max_delay` for more.
    pub fn batch(
        mut self,
        encoder: impl Fn(&[Payload]) -> Payload + Send + Sync + 'static,
        max_batch: usize,
        max_delay: Duration,
    ) -> Self {
        self.0.batch = Some(BatchConfig {
            encoder: Arc::new(encoder),
            max_batch,
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

    /// SSE: a URL fetched every heartbeat interval for round-trip samples.
    pub fn ping_url(mut self, url: impl Into<String>) -> Self {
        self.0.sse.ping_url = Some(url.into());
        self
    }

    /// Adds a static handshake header (its value is never logged).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.headers.push((name.into(), value.into()));
        self
    }

    /// Headers computed on every attempt, e.g. a freshly minted token.
    pub fn header_provider(
        mut self,
        provider: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.0.header_provider = Some(Arc::new(provider));
        self
    }

    /// Validates and returns the config.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid field.
    pub fn build(self) -> Result<EndpointConfig, ConfigError> {
        self.0.validate()?;
        Ok(self.0)
    }
}

/// Supervisor-wide settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct SupervisorConfig {
    /// Arbiters (threads) the connection actors are spread over; 0 runs them
    /// on the supervisor's own arbiter (no extra threads, and subscribers on
    /// that arbiter get messages without crossing threads). Default: the
    /// number of available cores.
    pub arbiters: usize,
    /// TLS settings for `wss://`. Default: webpki root certificates.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// A forced reconnect of every endpoint is spread over this window. Default 1 s.
    pub reconnect_stagger: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            arbiters: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tls: None,
            reconnect_stagger: Duration::from_secs(1),
        }
    }
}

impl SupervisorConfig {
    /// Sets the number of arbiters; 0 means the supervisor's own arbiter.
    pub fn arbiters(mut self, arbiters: usize) -> Self {
        self.arbiters = arbiters;
        self
    }

    /// Sets the TLS client config used for `wss://` endpoints.
    pub fn tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the window over which a forced reconnect of all endpoints is spread.
    pub fn reconnect_stagger(mut self, window: Duration) -> Self {
        self.reconnect_stagger = window;
        self
    }
}

impl fmt::Debug for SupervisorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorConfig")
            .field("arbiters", &self.arbiters)
            .field("tls", &self.tls.is_some())
            .field("reconnect_stagger", &self.reconnect_stagger)
            .finish()
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
