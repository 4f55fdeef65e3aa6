//! Operations: what an operator sees of the supervised connections.
//!
//! A [`Snapshot`] gathers, in one pass, the monitor's [`HealthReport`]
//! (scores, latency, traffic, attempts, errors, heartbeats) and what the
//! supervisor knows of each endpoint (redacted URL, transport, tags, groups,
//! outbox depth). Nothing here hooks into a connection's hot path: every
//! figure is one the monitor already folds from the samples a connection
//! flushes at most once per heartbeat tick, so a snapshot is as fresh as the
//! last flush.
//!
//! With the `prometheus` feature, [`metrics`] encodes a snapshot as a
//! Prometheus exposition; with the `web` feature,
//! [`web`](crate::web) serves snapshots over HTTP.
//!
//! [`HealthReport`]: crate::HealthReport

#[cfg(feature = "prometheus")]
pub mod metrics;
mod snapshot;

pub use self::snapshot::{EndpointView, GroupView, Snapshot, DEFAULT_SNAPSHOT_TIMEOUT};
