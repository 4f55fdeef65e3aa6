//! Supervisor-wide settings.

use std::{fmt, sync::Arc, time::Duration};

use super::{DEFAULT_MAX_CONNECTING, DEFAULT_RECONNECT_RATE};

/// Supervisor-wide settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct SupervisorConfig {
    /// Arbiters (threads) the connection actors are spread over; 0 runs them
    /// on the supervisor's own arbiter (no extra threads, and subscribers on
    /// that arbiter get messages without crossing threads). Default: the
    /// number of available cores (throughput when connections are busy).
    ///
    /// Each thread wakes on its own for its connections' heartbeats, so a
    /// fleet of mostly idle connections costs less CPU on fewer threads:
    /// 10,000 idle endpoints with a 1 s heartbeat on a two-core machine
    /// took about 1.13x raw awc's CPU on two arbiters and 1.03x on one.
    pub arbiters: usize,
    /// TLS for `wss://` and `https://` endpoints without their own
    /// ([`EndpointBuilder::tls`](crate::EndpointBuilder::tls) wins).
    /// Default: the bundled webpki root certificates.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// A forced reconnect of every endpoint is spread over this window. Default 1 s.
    pub reconnect_stagger: Duration,
    /// Most automatic reconnect attempts per second across all endpoints;
    /// 0 for no cap. Default
    /// [`DEFAULT_RECONNECT_RATE`](crate::config::DEFAULT_RECONNECT_RATE).
    ///
    /// An endpoint's retry waits for its backoff delay, then, only when
    /// other endpoints have taken the slots of that moment, for the next
    /// free one (at most a tenth of the rate in any 100 ms, give or take one
    /// window's share). A lone reconnect is never delayed; a fleet that
    /// drops at once (a server restart) comes back at this pace instead of
    /// all within the first backoff delay.
    pub reconnect_rate: u32,
    /// Most connection attempts (connect, TLS and handshake) in flight at
    /// once across all endpoints; 0 for no cap. Default
    /// [`DEFAULT_MAX_CONNECTING`](crate::config::DEFAULT_MAX_CONNECTING).
    ///
    /// An attempt over the cap waits (in the `Connecting` state, its
    /// `connect_timeout` not yet running) until one in flight succeeds or
    /// fails, first come first served. This bounds the memory that starting
    /// a large fleet takes at once, and the handshakes a server sees at
    /// once, for first connects as for reconnects.
    pub max_connecting: usize,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            arbiters: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tls: None,
            reconnect_stagger: Duration::from_secs(1),
            reconnect_rate: DEFAULT_RECONNECT_RATE,
            max_connecting: DEFAULT_MAX_CONNECTING,
        }
    }
}

impl SupervisorConfig {
    /// Sets the number of arbiters; 0 means the supervisor's own arbiter.
    pub fn arbiters(mut self, arbiters: usize) -> Self {
        self.arbiters = arbiters;
        self
    }

    /// Sets the TLS client config for `wss://` and `https://` endpoints
    /// without their own; [`TlsSettings::client_config`](crate::TlsSettings::client_config)
    /// builds one from simple settings.
    pub fn tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the window over which a forced reconnect of all endpoints is spread.
    pub fn reconnect_stagger(mut self, window: Duration) -> Self {
        self.reconnect_stagger = window;
        self
    }

    /// Caps automatic reconnect attempts per second across all endpoints;
    /// 0 removes the cap.
    pub fn reconnect_rate(mut self, per_second: u32) -> Self {
        self.reconnect_rate = per_second;
        self
    }

    /// Caps the connection attempts in flight at once across all
    /// endpoints; 0 removes the cap.
    ///
    /// ```
    /// use actix_tether::SupervisorConfig;
    /// let config = SupervisorConfig::default().max_connecting(64);
    /// assert_eq!(config.max_connecting, 64);
    /// ```
    pub fn max_connecting(mut self, attempts: usize) -> Self {
        self.max_connecting = attempts;
        self
    }
}

impl fmt::Debug for SupervisorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorConfig")
            .field("arbiters", &self.arbiters)
            .field("tls", &self.tls.is_some())
            .field("reconnect_stagger", &self.reconnect_stagger)
            .field("reconnect_rate", &self.reconnect_rate)
            .field("max_connecting", &self.max_connecting)
            .finish()
    }
}
