//! Endpoint and supervisor configuration: plain structs with documented
//! defaults (the constants below), consuming builders, serde support and
//! validation; the protocol limits the library enforces; and the duration
//! format config files use.

mod backoff;
mod builder;
mod endpoint;
mod framing;
mod heartbeat;
mod sse;
mod supervisor;
mod tls;
mod validate;

use std::{sync::Arc, time::Duration};

pub(crate) use self::tls::client_builder;
pub use self::{
    backoff::BackoffConfig,
    builder::EndpointBuilder,
    endpoint::{EndpointConfig, OnAuthFailure, ReconnectMode},
    framing::{CodecFactory, Framing},
    heartbeat::{ApplicationHeartbeat, HeartbeatConfig},
    sse::{RequestBody, SseConfig},
    supervisor::SupervisorConfig,
    tls::TlsSettings,
};
use crate::backoff::BackoffPolicy;
pub use crate::{
    backlog::{DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_MESSAGES},
    close::{MAX_CLOSE_REASON_LEN, MAX_CONTROL_PAYLOAD_LEN},
    duration::parse_duration,
    http1::MAX_RESPONSE_HEAD_SIZE,
    retry_after::MAX_RETRY_AFTER,
};

/// Default [`SupervisorConfig::reconnect_rate`]: 1000 attempts per second,
/// so 10,000 endpoints dropped at once are all retried within about 10 s.
pub const DEFAULT_RECONNECT_RATE: u32 = 1000;
/// Default [`SupervisorConfig::max_connecting`]: 512 attempts in flight at
/// once. A WebSocket handshake holds about 23 KiB of buffers until it
/// completes, so 10,000 endpoints starting at once would hold some 230 MB
/// at the peak (kept by the allocator long after); 512 hold about 12 MB,
/// and over a link with a 100 ms round trip still start some 1,500
/// endpoints a second.
pub const DEFAULT_MAX_CONNECTING: usize = 512;
/// How long one attempt (DNS, TCP, TLS and handshake) may take. 10 s covers a
/// slow TLS handshake across continents without stalling a dead endpoint long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close we start waits for the peer's close frame (WebSocket),
/// or for what is queued to be written out before the FIN (raw TCP), before
/// dropping the TCP connection.
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
/// Minimum wait after a TLS failure under the default `on_tls_failure`: a
/// certificate that is untrusted, expired or for another name is fixed by a
/// person, in minutes, not by the network in seconds.
pub const DEFAULT_TLS_FAILURE_DELAY: Duration = Duration::from_secs(60);
/// Minimum wait after close 1013 ("try again later") without a better hint.
pub const DEFAULT_TRY_AGAIN_LATER: Duration = Duration::from_secs(10);
/// Largest inbound message (after reassembling fragments). 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// Most frames read at once and delivered as one burst to burst subscribers.
pub const DEFAULT_MAX_BURST: usize = 256;
/// Messages an endpoint's outbox holds while it is not connected: enough to
/// ride out a reconnect of a busy sender, small enough to stay bounded.
pub const DEFAULT_OUTBOX_CAPACITY: usize = 1024;

/// Supplies handshake headers; called on every attempt, so a token can be
/// refreshed per reconnect. Values never reach logs or `Debug` output.
pub type HeaderProvider = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Builds a fresh reconnect policy for an endpoint.
pub type PolicyFactory = Arc<dyn Fn() -> Box<dyn BackoffPolicy> + Send + Sync>;
