//! Supervisor-wide settings.

use std::{fmt, sync::Arc, time::Duration};

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
