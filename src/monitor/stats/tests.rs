//! An endpoint's figures from scripted lifecycles.

use super::*;
use crate::{EndpointId, Error};

fn change(
    from: ConnectionState,
    to: ConnectionState,
    generation: u64,
    reason: Option<Error>,
) -> StatusChanged {
    StatusChanged {
        endpoint: EndpointId::new("e"),
        from,
        to,
        reason,
        attempt: 0,
        next_delay: None,
        generation,
        epoch: None,
        at: SystemTime::now(),
    }
}

#[test]
fn scripted_lifecycle_gives_the_right_counters() {
    use ConnectionState::*;
    let t = Instant::now();
    let mut s = EndpointStats::default();
    let lost = Error::network("connection reset");
    s.on_status(&change(Disconnected, Connecting, 0, None), t);
    s.on_status(
        &change(Connecting, Reconnecting, 0, Some(Error::network("refused"))),
        t,
    );
    s.on_status(&change(Reconnecting, Connecting, 0, None), t);
    s.on_status(&change(Connecting, Connected, 1, None), t);
    s.on_status(&change(Connected, Reconnecting, 1, Some(lost)), t);
    s.on_status(&change(Reconnecting, Connecting, 1, None), t);
    s.on_status(
        &change(Connecting, Connected, 2, None),
        t + Duration::from_secs(1),
    );
    let r = s.report(EndpointId::new("e"), t + Duration::from_secs(4));
    assert_eq!(
        r.connects,
        Attempts {
            attempts: 3,
            successes: 2,
            failures: 1,
            reconnects: 1
        }
    );
    assert_eq!(r.errors.get(&ErrorCategory::Network), Some(&2));
    assert_eq!(r.retries.get(&ErrorCategory::Network), Some(&2));
    assert_eq!(r.errors_last_minute, 2);
    let last = r.last_error.as_ref().unwrap();
    assert_eq!(last.category, ErrorCategory::Network);
    assert!(last.message.contains("connection reset"), "{last:?}");
    assert_eq!(r.uptime, Some(Duration::from_secs(3)));
    assert_eq!(r.state, Connected);
    // Two errors in the last minute: 100 - 25 * 0.2 = 95.
    assert_eq!(r.score, 95);
    let later = s.report(EndpointId::new("e"), t + Duration::from_secs(120));
    assert_eq!(later.errors_last_minute, 0);
    assert_eq!(later.score, 100);
}

#[test]
fn latency_percentiles_over_the_window() {
    let t = Instant::now();
    let mut s = EndpointStats::default();
    let rtts = (1..=100).map(Duration::from_millis).collect();
    s.on_samples(
        Samples {
            rtts,
            heartbeats_sent: 100,
            heartbeats_acked: 100,
            ..Samples::default()
        },
        t,
    );
    let l = s.report(EndpointId::new("e"), t).latency.unwrap();
    assert_eq!(l.last, Duration::from_millis(100));
    assert_eq!(l.min, Duration::from_millis(1));
    assert_eq!(l.p50, Duration::from_millis(51));
    assert_eq!(l.p95, Duration::from_millis(95));
    assert_eq!(l.p99, Duration::from_millis(99));
    let h = s.report(EndpointId::new("e"), t).rtt_histogram;
    assert_eq!(h.count, 100);
    assert_eq!(h.sum, Duration::from_millis(5050));
    // Buckets up to 1, 2.5, 5, 10, 25, 50, 100 ms.
    assert_eq!(&h.buckets[..8], &[1, 1, 3, 5, 15, 25, 50, 0]);
    // The window is bounded.
    let more = (0..1000).map(|_| Duration::from_millis(7)).collect();
    s.on_samples(
        Samples {
            rtts: more,
            ..Samples::default()
        },
        t,
    );
    let l = s.report(EndpointId::new("e"), t).latency.unwrap();
    assert_eq!(l.samples, LATENCY_WINDOW);
    let r = s.report(EndpointId::new("e"), t);
    assert_eq!(r.recent_rtts.len(), RECENT_RTTS);
    assert_eq!(l.p99, Duration::from_millis(7));
}

#[test]
fn heartbeat_window_and_traffic_rates() {
    let t = Instant::now();
    let mut s = EndpointStats::default();
    s.on_status(
        &change(
            ConnectionState::Connecting,
            ConnectionState::Connected,
            1,
            None,
        ),
        t,
    );
    s.on_samples(
        Samples {
            heartbeats_sent: 4,
            heartbeats_acked: 2,
            heartbeats_missed: 2,
            ..Samples::default()
        },
        t,
    );
    s.on_samples(
        Samples {
            messages_in: 500,
            bytes_in: 5000,
            ..Samples::default()
        },
        t + Duration::from_secs(5),
    );
    let r = s.report(EndpointId::new("e"), t + Duration::from_secs(5));
    assert_eq!(
        r.heartbeats,
        Heartbeats {
            sent: 4,
            acknowledged: 2,
            missed: 2
        }
    );
    assert_eq!(r.score, 75);
    assert_eq!(r.traffic.messages_in, 500);
    assert!((r.traffic.messages_in_per_sec - 100.0).abs() < 1e-9);
    assert!((r.traffic.bytes_in_per_sec - 1000.0).abs() < 1e-9);
}
