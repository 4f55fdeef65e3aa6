//! The JSON shapes the scope answers with: flat, in milliseconds and Unix
//! milliseconds, for scripts and the dashboard. Free text (error messages)
//! goes through [`redact_urls_in`]: an error may quote a URL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::{
    ops::{EndpointView, Snapshot},
    redact::redact_urls_in,
    StatusChanged,
};

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether `/health` says healthy: the supervisor answered, and the
/// overall score is at least `threshold`.
pub(super) fn is_healthy(snapshot: &Snapshot, threshold: u8) -> bool {
    snapshot.answered && snapshot.overall >= threshold
}

/// `/health`'s answer.
pub(super) fn health(snapshot: &Snapshot, threshold: u8) -> Value {
    let up = snapshot
        .endpoints
        .iter()
        .filter(|e| e.health.state.is_up())
        .count();
    json!({
        "status": if is_healthy(snapshot, threshold) { "ok" } else { "unhealthy" },
        "answered": snapshot.answered,
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
            "message": redact_urls_in(&e.message),
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
        "reason": event.reason.as_ref().map(|e| redact_urls_in(&e.to_string())),
        "attempt": event.attempt,
        "next_delay_ms": event.next_delay.map(millis),
        "generation": event.generation,
        "at": unix_millis(event.at),
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::{
        monitor::LastError, ConnectionState, EndpointHealth, EndpointId, Error, ErrorCategory,
    };

    const SAYS_URL: &str = "dial wss://bob:hunter2@h/feed?token=s3cret failed";

    fn assert_hidden(json: &Value) {
        let text = json.to_string();
        for secret in ["hunter2", "s3cret", "bob"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("wss://***@h/feed?***"), "{text}");
    }

    #[test]
    fn a_status_reason_that_quotes_a_url_is_redacted() {
        let event = StatusChanged {
            endpoint: EndpointId::new("e"),
            from: ConnectionState::Connecting,
            to: ConnectionState::Reconnecting,
            reason: Some(Error::new(ErrorCategory::Network, SAYS_URL)),
            attempt: 1,
            next_delay: None,
            generation: 0,
            epoch: None,
            at: SystemTime::now(),
        };
        assert_hidden(&status(&event));
    }

    #[test]
    fn a_last_error_that_quotes_a_url_is_redacted() {
        let health = EndpointHealth {
            endpoint: EndpointId::new("e"),
            state: ConnectionState::Reconnecting,
            score: 0,
            latency: None,
            errors: [(ErrorCategory::Network, 1)].into(),
            retries: Default::default(),
            errors_last_minute: 1,
            traffic: Default::default(),
            connects: Default::default(),
            heartbeats: Default::default(),
            uptime: None,
            last_seen: None,
            inbound: Default::default(),
            rtt_histogram: Default::default(),
            last_error: Some(LastError {
                category: ErrorCategory::Network,
                message: format!("network: {SAYS_URL}"),
                at: SystemTime::now(),
            }),
            recent_rtts: Vec::new(),
        };
        let snapshot = Snapshot {
            endpoints: vec![EndpointView {
                health,
                url: None,
                transport: None,
                queued: 0,
                tags: Default::default(),
                groups: Vec::new(),
            }],
            groups: Vec::new(),
            overall: 0,
            at: SystemTime::now(),
            answered: true,
        };
        assert_hidden(&report(&snapshot));
    }
}
