//! What the `demo` and `ami` examples print: status changes as they happen
//! and the health table.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use actix_tether::{HealthReport, StatusChanged};

/// One status change, `width` wide in its endpoint column.
pub(crate) fn print_status(started: Instant, e: StatusChanged, width: usize) {
    let why = e.reason.map(|r| format!(" ({r})")).unwrap_or_default();
    let delay = e
        .next_delay
        .map(|d| format!(", retry in {d:.1?}"))
        .unwrap_or_default();
    println!(
        "[{:>5.1}s] {:<width$} {} -> {}{why}{delay}",
        started.elapsed().as_secs_f64(),
        e.endpoint.as_str(),
        e.from,
        e.to
    );
}

/// The health table at `at`, `width` wide in its endpoint column.
pub(crate) fn print_table(report: &HealthReport, at: Duration, width: usize) {
    println!(
        "[{:>5.1}s] health: overall {}",
        at.as_secs_f64(),
        report.overall
    );
    println!(
        "         {:<width$} {:<13} {:>5} {:>9} {:>8} {:>10}",
        "id", "state", "score", "p50 rtt", "msgs in", "reconnects"
    );
    for e in &report.endpoints {
        let p50 = e
            .latency
            .map(|l| format!("{:.1?}", l.p50))
            .unwrap_or_else(|| "-".into());
        println!(
            "         {:<width$} {:<13} {:>5} {:>9} {:>8} {:>10}",
            e.endpoint.as_str(),
            e.state.name(),
            e.score,
            p50,
            e.traffic.messages_in,
            e.connects.reconnects
        );
    }
}
