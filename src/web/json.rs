//! The JSON shapes the scope answers with: flat, in milliseconds and Unix
//! milliseconds, for scripts and the dashboard.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::{
    ops::{EndpointView, Snapshot},
    StatusChanged,
};

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `/health`'s answer.
pub(super) fn health(snapshot: &Snapshot, threshold: u8) -> Value {
    let up = snapshot
        .endpoints
        .iter()
        .filter(|e| e.health.state.is_up())
        .count();
    json!({
        "status": if snapshot.overall >= threshold { "ok" } else { "unhealthy" },
        "score": snapshot.overall,
        "band": snapshot.band().name(),
        "threshold": threshold,
        "endpoints": snapshot.endpoints.len(),
        "up": up,
        "at": unix_millis(snapshot.at),
    })
}

/// `/endpoints`'s answer, and the data of a `report` event.
pub(super) fn report(snapshot: &Snapshot) -> Value {
    json!({
        "score": snapshot.overall,
        "band": snapshot.band().name(),
        "at": unix_millis(snapshot.at),
        "endpoints": snapshot.endpoints.iter().map(endpoint).collect::<Vec<_>>(),
        "groups": snapshot.groups.iter().map(|g| json!({
            "group": g.group,
            "score": g.score,
            "band": crate::monitor::HealthBand::of(g.score).name(),
            "connected": g.connected,
            "total": g.total,
        })).collect::<Vec<_>>(),
    })
}

fn endpoint(view: &EndpointView) -> Value {
    let h = &view.health;
    let rtt = h.latency.map(|l| {
        json!({
            "last": millis(l.last),
            "p50": millis(l.p50),
            "p95": millis(l.p95),
            "p99": millis(l.p99),
            "samples": l.samples,
        })
    });
    let errors: Map<String, Value> = h
        .errors
        .iter()
        .map(|(category, n)| (category.name().to_owned(), json!(n)))
        .collect();
    let last_error = h.last_error.as_ref().map(|e| {
        json!({
            "category": e.category.name(),
            "message": e.message,
            "at": unix_millis(e.at),
        })
    });
    json!({
        "endpoint": view.id().as_str(),
        "url": view.url,
        "transport": view.transport.map(|t| t.name()),
        "state": h.state.name(),
        "score": h.score,
        "band": view.band().name(),
        "rtt_ms": rtt,
        "recent_rtt_ms": h.recent_rtts.iter().map(|d| millis(*d)).collect::<Vec<_>>(),
        "messages_in": h.traffic.messages_in,
        "messages_out": h.traffic.messages_out,
        "bytes_in": h.traffic.bytes_in,
        "bytes_out": h.traffic.bytes_out,
        "messages_in_per_sec": h.traffic.messages_in_per_sec,
        "messages_out_per_sec": h.traffic.messages_out_per_sec,
        "attempts": h.connects.attempts,
        "failures": h.connects.failures,
        "reconnects": h.connects.reconnects,
        "heartbeats": {
            "sent": h.heartbeats.sent,
            "acknowledged": h.heartbeats.acknowledged,
            "missed": h.heartbeats.missed,
        },
        "errors": errors,
        "errors_last_minute": h.errors_last_minute,
        "last_error": last_error,
        "uptime_secs": h.uptime.map(|d| d.as_secs_f64()),
        "queued": view.queued,
        "groups": view.groups,
        "tags": view.tags,
    })
}

/// The data of a `status` event.
pub(super) fn status(event: &StatusChanged) -> Value {
    json!({
        "endpoint": event.endpoint.as_str(),
        "from": event.from.name(),
        "to": event.to.name(),
        "reason": event.reason.as_ref().map(ToString::to_string),
        "attempt": event.attempt,
        "next_delay_ms": event.next_delay.map(millis),
        "generation": event.generation,
        "at": unix_millis(event.at),
    })
}
