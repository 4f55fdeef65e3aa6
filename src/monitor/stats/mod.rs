//! Pure per-endpoint statistics: what the monitor folds samples into.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant, SystemTime},
};

use super::health::{self, HealthInputs};
use crate::{ConnectionState, ErrorCategory, StatusChanged};

mod rtts;

pub(crate) use self::rtts::Rtts;

/// RTT samples kept per endpoint for percentiles.
pub const LATENCY_WINDOW: usize = 256;
/// The newest RTT samples a report lists, for sparklines.
pub const RECENT_RTTS: usize = 60;
/// Heartbeat outcomes kept per endpoint for the success ratio.
const HEARTBEAT_WINDOW: u32 = 32;
/// Recent error instants kept per endpoint for the per-minute rate.
const RECENT_ERRORS: usize = 64;

/// Upper bounds of the RTT histogram's buckets (a last, unbounded bucket
/// follows): 1 ms to 10 s, roughly 1-2.5-5 per decade, which brackets both
/// a loopback peer and a peer about to miss its heartbeat.
pub const RTT_BUCKETS: [Duration; 13] = [
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_micros(2_500_000),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Every RTT sample since the endpoint was added, in the buckets of
/// [`RTT_BUCKETS`]: the cumulative counts a Prometheus histogram needs (the
/// rolling window of [`LatencySummary`] forgets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RttHistogram {
    /// Samples per bucket (not cumulative): `buckets[i]` counts samples
    /// above `RTT_BUCKETS[i - 1]` and at most `RTT_BUCKETS[i]`; the last
    /// counts samples above 10 s.
    pub buckets: [u64; RTT_BUCKETS.len() + 1],
    /// The sum of all samples.
    pub sum: Duration,
    /// The number of samples.
    pub count: u64,
}

impl RttHistogram {
    fn observe(&mut self, rtt: Duration) {
        let bucket = RTT_BUCKETS.partition_point(|bound| *bound < rtt);
        self.buckets[bucket] += 1;
        self.sum = self.sum.saturating_add(rtt);
        self.count += 1;
    }
}

/// The newest error an endpoint met.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LastError {
    /// Its category.
    pub category: ErrorCategory,
    /// Its message (as [`Error`](crate::Error) displays it: URLs redacted,
    /// no header values).
    pub message: String,
    /// When it happened.
    pub at: SystemTime,
}

/// Counters a connection actor accumulates between two flushes to the monitor.
// Fields in declaration order (`repr(C)`): what every heartbeat writes
// first, the traffic counters an idle connection leaves alone after.
#[derive(Debug, Clone, Default, PartialEq)]
#[repr(C)]
pub(crate) struct Samples {
    pub(crate) heartbeats_sent: u64,
    pub(crate) heartbeats_acked: u64,
    pub(crate) heartbeats_missed: u64,
    pub(crate) rtts: Rtts,
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    /// Compressed payload bytes read, and what they inflated to.
    pub(crate) compressed_in: u64,
    pub(crate) inflated_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
    pub(crate) last_seen: Option<SystemTime>,
    pub(crate) inbound: InboundSamples,
}

/// Inbound queue figures since the last flush.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InboundSamples {
    /// Time reading was paused by a subscriber's full queue.
    pub(crate) paused: Duration,
    /// Messages dropped by drop-oldest subscribers.
    pub(crate) dropped: u64,
    /// Subscribers removed for overflowing.
    pub(crate) subscribers_dropped: u64,
    /// The deepest queue (messages, bytes), when it changed.
    pub(crate) queued: Option<(u64, u64)>,
}

impl Samples {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Samples::default()
    }
}

/// Latency figures over the rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LatencySummary {
    /// The newest sample.
    pub last: Duration,
    /// The smallest sample in the window.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Samples in the window.
    pub samples: usize,
}

/// Traffic counters and per-second rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received (after inflation, for compressed messages).
    pub bytes_in: u64,
    /// Of those, compressed messages (permessage-deflate): the bytes read
    /// from the wire ...
    pub compressed_bytes_in: u64,
    /// ... and the bytes they inflated to.
    pub inflated_bytes_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Messages received per second, over the last flush period.
    pub messages_in_per_sec: f64,
    /// Bytes received per second, over the last flush period.
    pub bytes_in_per_sec: f64,
    /// Messages sent per second, over the last flush period.
    pub messages_out_per_sec: f64,
    /// Bytes sent per second, over the last flush period.
    pub bytes_out_per_sec: f64,
}

/// Connection attempt counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attempts {
    /// Attempts started.
    pub attempts: u64,
    /// Attempts that connected.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
}

/// Heartbeat counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Heartbeats {
    /// Pings sent.
    pub sent: u64,
    /// Pings answered.
    pub acknowledged: u64,
    /// Pings whose interval passed unanswered.
    pub missed: u64,
}

/// Inbound queue figures: how subscribers keep up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Inbound {
    /// Total time reading was paused because a subscriber's queue was full
    /// ([`Overflow::Pause`](crate::Overflow::Pause)).
    pub paused_for: Duration,
    /// Messages in the deepest subscriber queue at the last report.
    pub queued_messages: u64,
    /// Payload bytes in that queue.
    pub queued_bytes: u64,
    /// Messages dropped by [`Overflow::DropOldest`](crate::Overflow::DropOldest)
    /// subscribers.
    pub dropped: u64,
    /// Subscribers removed by [`Overflow::Disconnect`](crate::Overflow::Disconnect),
    /// and [`InlineHandler`](crate::InlineHandler)s removed for panicking.
    pub subscribers_dropped: u64,
}

/// Everything the monitor knows about one endpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct EndpointHealth {
    /// The endpoint.
    pub endpoint: crate::EndpointId,
    /// Current state.
    pub state: ConnectionState,
    /// 0 (down) to 100 (healthy); see the [`monitor`](crate::monitor) docs.
    pub score: u8,
    /// RTT figures, when any sample arrived.
    pub latency: Option<LatencySummary>,
    /// Errors by category since the endpoint was added.
    pub errors: BTreeMap<ErrorCategory, u64>,
    /// Retries (reconnects scheduled after an error) by category.
    pub retries: BTreeMap<ErrorCategory, u64>,
    /// Errors in the last minute.
    pub errors_last_minute: u32,
    /// Traffic counters and rates.
    pub traffic: Traffic,
    /// Connection attempt counters.
    pub connects: Attempts,
    /// Heartbeat counters.
    pub heartbeats: Heartbeats,
    /// How long the current connection has been up.
    pub uptime: Option<Duration>,
    /// When the last inbound traffic arrived.
    pub last_seen: Option<SystemTime>,
    /// How inbound subscribers keep up.
    pub inbound: Inbound,
    /// Every RTT sample so far, bucketed.
    pub rtt_histogram: RttHistogram,
    /// The newest error, if any.
    pub last_error: Option<LastError>,
    /// The newest RTT samples, oldest first, at most [`RECENT_RTTS`].
    pub recent_rtts: Vec<Duration>,
}

#[derive(Debug)]
pub(crate) struct EndpointStats {
    state: ConnectionState,
    latency: VecDeque<Duration>,
    errors: BTreeMap<ErrorCategory, u64>,
    retries: BTreeMap<ErrorCategory, u64>,
    recent_errors: VecDeque<Instant>,
    traffic: Traffic,
    last_traffic_flush: Option<Instant>,
    connects: Attempts,
    heartbeats: Heartbeats,
    /// Last heartbeat outcomes, newest in bit 0 (1 = answered).
    heartbeat_bits: u32,
    heartbeat_len: u32,
    connected_since: Option<Instant>,
    last_seen: Option<SystemTime>,
    inbound: Inbound,
    rtt_histogram: RttHistogram,
    last_error: Option<LastError>,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self {
            state: ConnectionState::Disconnected,
            latency: VecDeque::with_capacity(16),
            errors: BTreeMap::new(),
            retries: BTreeMap::new(),
            recent_errors: VecDeque::new(),
            traffic: Traffic::default(),
            last_traffic_flush: None,
            connects: Attempts::default(),
            heartbeats: Heartbeats::default(),
            heartbeat_bits: 0,
            heartbeat_len: 0,
            connected_since: None,
            last_seen: None,
            inbound: Inbound::default(),
            rtt_histogram: RttHistogram::default(),
            last_error: None,
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn per_sec(count: u64, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

impl EndpointStats {
    pub(crate) fn on_status(&mut self, event: &StatusChanged, now: Instant) {
        use ConnectionState::*;
        if event.to == Connecting {
            self.connects.attempts += 1;
        }
        if event.from == Connecting && event.to.is_up() {
            self.connects.successes += 1;
            if event.generation > 1 {
                self.connects.reconnects += 1;
            }
            self.connected_since = Some(now);
        }
        if event.from == Connecting && matches!(event.to, Reconnecting | Failed | Closed) {
            self.connects.failures += 1;
        }
        if !event.to.is_up() {
            self.connected_since = None;
        }
        if let Some(err) = &event.reason {
            *self.errors.entry(err.category()).or_default() += 1;
            if event.to == Reconnecting {
                *self.retries.entry(err.category()).or_default() += 1;
            }
            if self.recent_errors.len() == RECENT_ERRORS {
                self.recent_errors.pop_front();
            }
            self.recent_errors.push_back(now);
            self.last_error = Some(LastError {
                category: err.category(),
                message: err.to_string(),
                at: event.at,
            });
        }
        self.state = event.to;
    }

    pub(crate) fn on_samples(&mut self, samples: Samples, now: Instant) {
        for rtt in samples.rtts.iter() {
            self.rtt_histogram.observe(rtt);
            if self.latency.len() == LATENCY_WINDOW {
                self.latency.pop_front();
            }
            self.latency.push_back(rtt);
        }
        self.heartbeats.sent += samples.heartbeats_sent;
        self.heartbeats.acknowledged += samples.heartbeats_acked;
        self.heartbeats.missed += samples.heartbeats_missed;
        let outcomes = samples.heartbeats_acked + samples.heartbeats_missed;
        for i in 0..outcomes.min(u64::from(HEARTBEAT_WINDOW)) {
            let answered = i < samples.heartbeats_acked;
            self.heartbeat_bits = (self.heartbeat_bits << 1) | u32::from(answered);
            self.heartbeat_len = (self.heartbeat_len + 1).min(HEARTBEAT_WINDOW);
        }
        let t = &mut self.traffic;
        t.messages_in += samples.messages_in;
        t.bytes_in += samples.bytes_in;
        t.compressed_bytes_in += samples.compressed_in;
        t.inflated_bytes_in += samples.inflated_in;
        t.messages_out += samples.messages_out;
        t.bytes_out += samples.bytes_out;
        if let Some(prev) = self.last_traffic_flush {
            let over = now.saturating_duration_since(prev);
            t.messages_in_per_sec = per_sec(samples.messages_in, over);
            t.bytes_in_per_sec = per_sec(samples.bytes_in, over);
            t.messages_out_per_sec = per_sec(samples.messages_out, over);
            t.bytes_out_per_sec = per_sec(samples.bytes_out, over);
        }
        self.last_traffic_flush = Some(now);
        if samples.last_seen.is_some() {
            self.last_seen = samples.last_seen;
        }
        let inbound = &mut self.inbound;
        inbound.paused_for += samples.inbound.paused;
        inbound.dropped += samples.inbound.dropped;
        inbound.subscribers_dropped += samples.inbound.subscribers_dropped;
        if let Some((messages, bytes)) = samples.inbound.queued {
            inbound.queued_messages = messages;
            inbound.queued_bytes = bytes;
        }
    }

    fn latency_summary(&self) -> Option<LatencySummary> {
        let last = *self.latency.back()?;
        let mut sorted: Vec<Duration> = self.latency.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
            sorted[idx.min(sorted.len() - 1)]
        };
        Some(LatencySummary {
            last,
            min: sorted[0],
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            samples: sorted.len(),
        })
    }

    fn heartbeat_success(&self) -> Option<f64> {
        (self.heartbeat_len > 0).then(|| {
            let mask = if self.heartbeat_len >= 32 {
                u32::MAX
            } else {
                (1 << self.heartbeat_len) - 1
            };
            f64::from((self.heartbeat_bits & mask).count_ones()) / f64::from(self.heartbeat_len)
        })
    }

    fn errors_last_minute(&self, now: Instant) -> u32 {
        let recent = self
            .recent_errors
            .iter()
            .filter(|at| now.saturating_duration_since(**at) < Duration::from_secs(60))
            .count();
        u32::try_from(recent).unwrap_or(u32::MAX)
    }

    /// The health score now, and whether the endpoint is up.
    pub(crate) fn score(&self, now: Instant) -> (u8, bool) {
        let score = self.score_with(self.latency_summary(), self.errors_last_minute(now));
        (score, self.state.is_up())
    }

    fn score_with(&self, latency: Option<LatencySummary>, errors_last_minute: u32) -> u8 {
        health::score(&HealthInputs {
            state: self.state,
            heartbeat_success: self.heartbeat_success(),
            errors_last_minute,
            p95: latency.map(|l| l.p95),
        })
    }

    pub(crate) fn report(&self, endpoint: crate::EndpointId, now: Instant) -> EndpointHealth {
        let latency = self.latency_summary();
        let errors_last_minute = self.errors_last_minute(now);
        let score = self.score_with(latency, errors_last_minute);
        EndpointHealth {
            endpoint,
            state: self.state,
            score,
            latency,
            errors: self.errors.clone(),
            retries: self.retries.clone(),
            errors_last_minute,
            traffic: self.traffic,
            connects: self.connects,
            heartbeats: self.heartbeats,
            uptime: self
                .connected_since
                .map(|at| now.saturating_duration_since(at)),
            last_seen: self.last_seen,
            inbound: self.inbound,
            rtt_histogram: self.rtt_histogram,
            last_error: self.last_error.clone(),
            recent_rtts: self
                .latency
                .iter()
                .skip(self.latency.len().saturating_sub(RECENT_RTTS))
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
