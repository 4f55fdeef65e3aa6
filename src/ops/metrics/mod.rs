//! The Prometheus exposition of a [`Snapshot`] (feature `prometheus`).
//!
//! Encoded by [`prometheus-client`](https://docs.rs/prometheus-client), the
//! Prometheus project's own Rust client: no global registry, and both the
//! OpenMetrics text format and the classic Prometheus text format (0.0.4).
//! Every scrape encodes a fresh snapshot, so the series of a removed
//! endpoint disappear with it and cardinality stays bounded by the
//! endpoints (and groups) that exist.
//!
//! # Metrics
//! Every name starts with `actix_tether_`. Per-endpoint series carry the
//! labels `endpoint`, `transport` (`websocket`, `sse`, `tcp`, `custom`) and
//! `group` (the endpoint's groups, comma-separated; empty when none).
//!
//! | name | type | extra labels | what |
//! |---|---|---|---|
//! | `endpoints` | gauge | | endpoints supervised |
//! | `health_score` | gauge | | the overall score, 0-100 |
//! | `endpoint_health_score` | gauge | | the endpoint's score, 0-100 |
//! | `endpoint_state` | gauge | `state` | 1 for the current state, 0 for the seven others |
//! | `endpoint_up` | gauge | | 1 when connected or authenticated |
//! | `connection_uptime_seconds` | gauge | | how long the current connection has been up |
//! | `rtt_seconds` | histogram | | every round-trip sample |
//! | `messages_received_total`, `messages_sent_total` | counter | | messages in and out |
//! | `received_bytes_total`, `sent_bytes_total` | counter | | payload bytes in and out |
//! | `connect_attempts_total`, `connect_successes_total`, `connect_failures_total` | counter | | connection attempts |
//! | `reconnects_total` | counter | | successful connections after the first |
//! | `errors_total` | counter | `category` | errors by [`ErrorCategory`](crate::ErrorCategory) |
//! | `heartbeats_sent_total`, `heartbeats_acknowledged_total`, `heartbeats_missed_total` | counter | | heartbeats |
//! | `inbound_dropped_messages_total` | counter | | messages dropped by drop-oldest subscribers |
//! | `outbox_messages` | gauge | | messages waiting in the outbox |
//! | `endpoint_tag` | gauge | `tag`, `value` | 1 per tag of the endpoint |
//! | `group_health_score` | gauge | `group` only | a group's score |
//! | `group_members`, `group_members_up` | gauge | `group` only | a group's members, and those up |
//!
//! Counters restart from zero when an endpoint is removed and added again
//! (Prometheus treats that as a counter reset).

mod format;

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::{Registry, Unit},
};

pub use self::format::Format;
use super::{EndpointView, GroupView, Snapshot};
use crate::{monitor::RTT_BUCKETS, ConnectionState, EndpointHealth};

/// Encodes `snapshot` as a Prometheus exposition in `format`.
///
/// ```
/// # async fn run(supervisor: actix::Addr<actix_tether::SupervisorActor>) {
/// use actix_tether::ops::{metrics, Snapshot};
/// let text = metrics::encode(Snapshot::take(&supervisor).await, metrics::Format::OpenMetrics);
/// assert!(text.ends_with("# EOF\n"));
/// # }
/// ```
pub fn encode(snapshot: Snapshot, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    let written = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
    };
    // Writing to a String fails only on a formatting bug; say so in the
    // exposition rather than panicking in a scrape.
    if written.is_err() {
        out.push_str("# encoding failed\n");
    }
    out
}

/// Registers the figures of one snapshot; encoded once.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

/// A per-endpoint counter: name (without `_total`), help, unit, value.
type CounterOf = (
    &'static str,
    &'static str,
    Option<Unit>,
    fn(&EndpointHealth) -> u64,
);

const COUNTERS: &[CounterOf] = &[
    (
        "actix_tether_messages_received",
        "Messages received.",
        None,
        |h| h.traffic.messages_in,
    ),
    ("actix_tether_messages_sent", "Messages sent.", None, |h| {
        h.traffic.messages_out
    }),
    (
        "actix_tether_received",
        "Payload bytes received (after inflation).",
        Some(Unit::Bytes),
        |h| h.traffic.bytes_in,
    ),
    (
        "actix_tether_sent",
        "Payload bytes sent.",
        Some(Unit::Bytes),
        |h| h.traffic.bytes_out,
    ),
    (
        "actix_tether_connect_attempts",
        "Connection attempts started.",
        None,
        |h| h.connects.attempts,
    ),
    (
        "actix_tether_connect_successes",
        "Connection attempts that connected.",
        None,
        |h| h.connects.successes,
    ),
    (
        "actix_tether_connect_failures",
        "Connection attempts that failed.",
        None,
        |h| h.connects.failures,
    ),
    (
        "actix_tether_reconnects",
        "Successful connections after the first.",
        None,
        |h| h.connects.reconnects,
    ),
    (
        "actix_tether_heartbeats_sent",
        "Heartbeat pings sent.",
        None,
        |h| h.heartbeats.sent,
    ),
    (
        "actix_tether_heartbeats_acknowledged",
        "Heartbeat pings answered.",
        None,
        |h| h.heartbeats.acknowledged,
    ),
    (
        "actix_tether_heartbeats_missed",
        "Heartbeat pings whose interval passed unanswered.",
        None,
        |h| h.heartbeats.missed,
    ),
    (
        "actix_tether_inbound_dropped_messages",
        "Messages dropped by drop-oldest subscribers.",
        None,
        |h| h.inbound.dropped,
    ),
];

/// A per-endpoint gauge: name, help, unit, value.
type GaugeOf = (
    &'static str,
    &'static str,
    Option<Unit>,
    fn(&EndpointView) -> f64,
);

const GAUGES: &[GaugeOf] = &[
    (
        "actix_tether_endpoint_health_score",
        "The endpoint's health score, 0-100.",
        None,
        |v| f64::from(v.health.score),
    ),
    (
        "actix_tether_endpoint_up",
        "1 when the endpoint is connected or authenticated.",
        None,
        |v| f64::from(u8::from(v.health.state.is_up())),
    ),
    (
        "actix_tether_connection_uptime",
        "How long the current connection has been up.",
        Some(Unit::Seconds),
        |v| v.health.uptime.map_or(0.0, |d| d.as_secs_f64()),
    ),
    (
        "actix_tether_outbox_messages",
        "Messages waiting in the endpoint's outbox.",
        None,
        |v| usize_to_f64(v.queued),
    ),
];

#[allow(clippy::cast_precision_loss)]
fn usize_to_f64(n: usize) -> f64 {
    n as f64
}

/// The labels every per-endpoint series carries.
fn labels(view: &EndpointView) -> Vec<(&'static str, String)> {
    vec![
        ("endpoint", view.id().as_str().to_owned()),
        (
            "transport",
            view.transport.map_or("unknown", |t| t.name()).to_owned(),
        ),
        ("group", view.groups.join(",")),
    ]
}

/// Endpoints with the labels of their series.
type Labelled<'a> = [(&'a EndpointView, Vec<(&'static str, String)>)];

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let snapshot = &self.0;
        let endpoints: Vec<_> = snapshot.endpoints.iter().map(|v| (v, labels(v))).collect();
        let e = &mut encoder;
        gauge(
            e,
            "actix_tether_endpoints",
            "Endpoints supervised.",
            usize_to_f64(endpoints.len()),
        )?;
        gauge(
            e,
            "actix_tether_health_score",
            "The overall health score, 0-100.",
            f64::from(snapshot.overall),
        )?;
        for (name, help, unit, value) in GAUGES {
            let mut family = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
            for (view, labels) in &endpoints {
                ConstGauge::new(value(view)).encode(family.encode_family(labels)?)?;
            }
        }
        for (name, help, unit, value) in COUNTERS {
            let mut family = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
            for (view, labels) in &endpoints {
                ConstCounter::new(value(&view.health)).encode(family.encode_family(labels)?)?;
            }
        }
        states(e, &endpoints)?;
        errors(e, &endpoints)?;
        rtt(e, &endpoints)?;
        tags(e, &snapshot.endpoints)?;
        groups(e, &snapshot.groups)
    }
}

fn states(encoder: &mut DescriptorEncoder, endpoints: &Labelled) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "actix_tether_endpoint_state",
        "1 for the endpoint's current state, 0 for the others.",
        None,
        MetricType::Gauge,
    )?;
    for (view, labels) in endpoints {
        for state in ConnectionState::ALL {
            let mut with_state = labels.clone();
            with_state.push(("state", state.name().to_owned()));
            let on = i64::from(view.health.state == state);
            ConstGauge::new(on).encode(family.encode_family(&with_state)?)?;
        }
    }
    Ok(())
}

fn errors(encoder: &mut DescriptorEncoder, endpoints: &Labelled) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "actix_tether_errors",
        "Errors by category.",
        None,
        MetricType::Counter,
    )?;
    for (view, labels) in endpoints {
        for (category, count) in &view.health.errors {
            let mut with_category = labels.clone();
            with_category.push(("category", category.name().to_owned()));
            ConstCounter::new(*count).encode(family.encode_family(&with_category)?)?;
        }
    }
    Ok(())
}

fn rtt(encoder: &mut DescriptorEncoder, endpoints: &Labelled) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "actix_tether_rtt",
        "Round-trip times of heartbeats.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (view, labels) in endpoints {
        let h = &view.health.rtt_histogram;
        let buckets: Vec<(f64, u64)> = RTT_BUCKETS
            .iter()
            .map(|d| d.as_secs_f64())
            .chain([f64::INFINITY])
            .zip(h.buckets)
            .collect();
        family
            .encode_family(labels)?
            .encode_histogram::<NoLabelSet>(h.sum.as_secs_f64(), h.count, &buckets, None)?;
    }
    Ok(())
}

fn tags(encoder: &mut DescriptorEncoder, endpoints: &[EndpointView]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "actix_tether_endpoint_tag",
        "1 for each tag of an endpoint.",
        None,
        MetricType::Gauge,
    )?;
    for view in endpoints {
        for (tag, value) in &view.tags {
            let labels = [
                ("endpoint", view.id().as_str()),
                ("tag", tag.as_str()),
                ("value", value.as_str()),
            ];
            ConstGauge::new(1_i64).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// A per-group gauge: name, help, value.
type GroupGaugeOf = (&'static str, &'static str, fn(&GroupView) -> f64);

const GROUP_GAUGES: [GroupGaugeOf; 3] = [
    (
        "actix_tether_group_health_score",
        "A group's score: the mean of its members' scores.",
        |g| f64::from(g.score),
    ),
    ("actix_tether_group_members", "A group's members.", |g| {
        usize_to_f64(g.total)
    }),
    (
        "actix_tether_group_members_up",
        "A group's members that are up.",
        |g| usize_to_f64(g.connected),
    ),
];

fn groups(encoder: &mut DescriptorEncoder, groups: &[GroupView]) -> fmt::Result {
    for (name, help, value) in GROUP_GAUGES {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for group in groups {
            let labels = [("group", group.group.as_str())];
            ConstGauge::new(value(group)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// One unlabelled gauge.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn an_empty_snapshot_still_has_its_totals_in_both_formats() {
        let empty = || Snapshot {
            endpoints: Vec::new(),
            groups: Vec::new(),
            overall: 100,
            at: SystemTime::now(),
            answered: true,
        };
        let open = encode(empty(), Format::OpenMetrics);
        assert!(open.contains("actix_tether_endpoints 0"), "{open}");
        assert!(open.ends_with("# EOF\n"), "{open}");
        let text = encode(empty(), Format::PrometheusText);
        assert!(text.contains("actix_tether_health_score 100"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
