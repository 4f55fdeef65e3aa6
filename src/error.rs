//! Errors: one categorised, cloneable error type shared by every actor.

use std::{fmt, sync::Arc, time::Duration};

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] reports.
///
/// Each variant says what the connection actor does when a connection
/// attempt or a live connection ends with one; the endpoint's
/// [`ReconnectMode`](crate::ReconnectMode) applies on top (see
/// [`Verdict`](crate::Verdict)). An error that carries a close code is
/// judged by the endpoint's [`ClosePolicy`](crate::ClosePolicy) instead.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The network failed: DNS, TCP connect, a reset socket, a connection
    /// dropped without a close frame (close code 1006), a TLS handshake the
    /// server cut off without saying why. Reconnects with backoff.
    Network,
    /// Connecting took longer than `connect_timeout`, or the server answered
    /// HTTP 408. Reconnects with backoff. (A message that waited too long
    /// for its acknowledgement also fails with this category.)
    Timeout,
    /// The peer broke the protocol (bad frame, bad handshake, invalid UTF-8,
    /// an over-long message or event, a protocol close code, an SSE
    /// response that is not HTTP/1.x or breaks its framing). Reconnects
    /// after at least `protocol_fault_delay`; after `max_protocol_faults`
    /// faults in a row the endpoint fails.
    Protocol,
    /// The server refused our credentials (HTTP 401/403, close 1008, an
    /// authentication reply that rejects or never comes). The endpoint
    /// fails, unless `on_auth_failure` is `Retry` (then: backoff).
    Auth,
    /// The server answered with an error status (5xx, 429). Reconnects with
    /// backoff, waiting at least the server's `Retry-After`.
    Server,
    /// The peer stopped answering heartbeats, or went silent for the
    /// heartbeat timeout: the connection is treated as dead and restarted
    /// with backoff.
    Heartbeat,
    /// The peer closed the connection: a close frame (the close policy
    /// decides: by default 1000 and 1001 reconnect at once after a stable
    /// connection, 1013 waits `try_again_later`, others back off), or an
    /// event stream that ended (backoff). An SSE server's 204 stops the
    /// endpoint for good (Closed).
    ClosedByPeer,
    /// The server answered in a way retrying will not change: an HTTP status
    /// other than 401/403/408/429/5xx (404, 400, a 200 without the WebSocket
    /// upgrade), a wrong content type, a redirect without a location, too
    /// many redirects. The endpoint fails; a forced reconnect revives it.
    Rejected,
    /// The reconnect policy gave up (`max_attempts` reached, or
    /// `max_protocol_faults`). The endpoint stays registered in the Failed
    /// state until a forced reconnect.
    Exhausted,
    /// The request named no registered endpoint, or an operation the endpoint's
    /// state or transport cannot do. Nothing is retried.
    Endpoint,
    /// A configuration value is invalid (also a header provider's invalid
    /// header). Nothing is retried: the endpoint fails.
    Config,
    /// The supervisor is shutting down or already stopped.
    Shutdown,
    /// The endpoint's outbox was full: the message was refused, or dropped
    /// as the oldest (see `OverflowPolicy`). Nothing is retried.
    Overflow,
    /// The TLS handshake failed: the server's certificate is unknown or
    /// untrusted, expired, or for another name; the port speaks plaintext
    /// (a `wss://` or `https://` URL on a `ws://`/`http://` server); the
    /// server refused our client certificate, or wanted one we did not
    /// send. Anything rustls reports while connecting lands here; on an
    /// SSE stream after the handshake, only the server's refusal of our
    /// client certificate does (a broken TLS record mid-stream is a
    /// `Network` error).
    ///
    /// A certificate problem rarely fixes itself in seconds, so the default
    /// ([`EndpointConfig::on_tls_failure`](crate::EndpointConfig::on_tls_failure))
    /// is a slow retry with a cap: at least
    /// [`DEFAULT_TLS_FAILURE_DELAY`](crate::config::DEFAULT_TLS_FAILURE_DELAY)
    /// (60 s) between attempts, counted with protocol faults, so the
    /// endpoint fails after `max_protocol_faults` (5) in a row (about four
    /// minutes); a renewed server certificate is picked up by the next attempt, and
    /// a forced reconnect tries at once. Set `on_tls_failure` to
    /// [`Verdict::Fail`](crate::Verdict::Fail) to fail at the first one.
    Tls,
}

impl ErrorCategory {
    /// A short lowercase name for logs and JSON (`"network"`, `"closed-by-peer"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::Auth => "auth",
            Self::Server => "server",
            Self::Heartbeat => "heartbeat",
            Self::ClosedByPeer => "closed-by-peer",
            Self::Rejected => "rejected",
            Self::Exhausted => "exhausted",
            Self::Endpoint => "endpoint",
            Self::Config => "config",
            Self::Shutdown => "shutdown",
            Self::Overflow => "overflow",
            Self::Tls => "tls",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An owned, cheaply cloneable error that can ride in actor messages.
///
/// Transport errors from awc are `!Send`; they are converted into this type at
/// the boundary, so an `Error` is `Send + Sync + Clone + 'static`.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    category: ErrorCategory,
    message: Arc<str>,
    recoverable: bool,
    retry_after: Option<Duration>,
    close_code: Option<u16>,
    http_status: Option<u16>,
}

impl Error {
    /// Creates an error of `category`; recoverability defaults to what the
    /// category implies (see [`ErrorCategory`]). When the error ends a
    /// connection, the endpoint's verdict sets it.
    pub fn new(category: ErrorCategory, message: impl Into<Arc<str>>) -> Self {
        let recoverable = matches!(
            category,
            ErrorCategory::Network
                | ErrorCategory::Timeout
                | ErrorCategory::Protocol
                | ErrorCategory::Server
                | ErrorCategory::Heartbeat
                | ErrorCategory::ClosedByPeer
                | ErrorCategory::Tls
        );
        Self {
            category,
            message: message.into(),
            recoverable,
            retry_after: None,
            close_code: None,
            http_status: None,
        }
    }

    pub(crate) fn network(message: impl Into<Arc<str>>) -> Self {
        Self::new(ErrorCategory::Network, message)
    }

    pub(crate) fn timeout(message: impl Into<Arc<str>>) -> Self {
        Self::new(ErrorCategory::Timeout, message)
    }

    pub(crate) fn protocol(message: impl Into<Arc<str>>) -> Self {
        Self::new(ErrorCategory::Protocol, message)
    }

    pub(crate) fn tls(message: impl Into<Arc<str>>) -> Self {
        Self::new(ErrorCategory::Tls, message)
    }

    pub(crate) fn endpoint(message: impl Into<Arc<str>>) -> Self {
        Self::new(ErrorCategory::Endpoint, message)
    }

    pub(crate) fn shutdown() -> Self {
        Self::new(ErrorCategory::Shutdown, "supervisor is shutting down")
    }

    /// An HTTP refusal of a handshake or an event-stream request,
    /// categorised (the one table of statuses); `retry_after` is the
    /// server's hint, if it sent one.
    pub(crate) fn refused(status: u16, retry_after: Option<Duration>) -> Self {
        let message = match awc::http::StatusCode::from_u16(status) {
            Ok(known) => format!("refused with http {known}"),
            Err(_) => format!("refused with http {status}"),
        };
        let category = match status {
            401 | 403 => ErrorCategory::Auth,
            408 => ErrorCategory::Timeout,
            429 | 500..=599 => ErrorCategory::Server,
            204 => ErrorCategory::ClosedByPeer,
            _ => ErrorCategory::Rejected,
        };
        Self::new(category, message)
            .with_http_status(status)
            .with_retry_after(retry_after)
    }

    /// What a send or push to a receive-only (SSE) endpoint is told.
    pub(crate) fn receive_only() -> Self {
        Self::endpoint("sse endpoints are receive-only")
    }

    /// Sets whether retrying makes sense.
    pub fn with_recoverable(mut self, recoverable: bool) -> Self {
        self.recoverable = recoverable;
        self
    }

    /// Sets the delay the server asked for before the next attempt.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub(crate) fn with_close_code(mut self, code: Option<u16>) -> Self {
        self.close_code = code;
        self
    }

    pub(crate) fn with_http_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// The kind of failure.
    pub fn category(&self) -> ErrorCategory {
        self.category
    }

    /// Human-readable detail, lowercase, without the category.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the connection actor retries after this error (for an error
    /// that ended a connection: what the endpoint's [`Verdict`](crate::Verdict)
    /// was).
    pub fn is_recoverable(&self) -> bool {
        self.recoverable
    }

    /// The delay the server asked for (HTTP `Retry-After`, close 1013), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The WebSocket close code, when the error comes from a close frame.
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }

    /// The HTTP status, when the error comes from a refused handshake.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("category", &self.category)
            .field("message", &self.message)
            .field("recoverable", &self.recoverable);
        if let Some(after) = self.retry_after {
            d.field("retry_after", &after);
        }
        if let Some(code) = self.close_code {
            d.field("close_code", &code);
        }
        if let Some(status) = self.http_status {
            d.field("http_status", &status);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

/// An invalid configuration value, reported by the builders' `build()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    field: &'static str,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }

    /// The configuration field at fault, such as `"heartbeat.interval"`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// An actor's mailbox closed: the supervisor or the endpoint has stopped.
impl From<actix::MailboxError> for Error {
    fn from(_: actix::MailboxError) -> Self {
        Error::shutdown()
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Error::new(ErrorCategory::Config, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bounds<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn error_is_send_sync_clone_static() {
        assert_bounds::<Error>();
        assert_bounds::<ConfigError>();
    }

    #[test]
    fn display_is_lowercase_with_category() {
        let err = Error::new(ErrorCategory::Heartbeat, "heartbeat timed out");
        assert_eq!(err.to_string(), "heartbeat: heartbeat timed out");
        assert!(err.is_recoverable());
        let auth = Error::new(ErrorCategory::Auth, "handshake refused with 401");
        assert!(!auth.is_recoverable());
    }

    #[test]
    fn config_error_names_its_field() {
        let err: Error = ConfigError::new("heartbeat.interval", "must be above zero").into();
        assert_eq!(err.category(), ErrorCategory::Config);
        assert_eq!(
            err.message(),
            "invalid heartbeat.interval: must be above zero"
        );
    }
}
