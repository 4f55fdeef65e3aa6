//! The health score: a pure function of an endpoint's figures.
//!
//! ```text
//! score = 100 x state x (0.5 x heartbeat + 0.25 x errors + 0.25 x latency)
//!
//! state     = 1.0 Connected/Authenticated, 0.5 Disconnected/Connecting/
//!             Reconnecting/Closing, 0.0 Failed/Closed
//! heartbeat = answered / sent over the last 32 heartbeats (1.0 before any)
//! errors    = max(0, 1 - errors in the last minute / 10)
//! latency   = 1.0 when p95 RTT <= 100 ms, 0.0 when >= 2 s, linear between
//!             (1.0 before any sample)
//! ```
//! The overall score is the mean of the endpoints' scores (100 with none).

use std::time::Duration;

use crate::ConnectionState;

/// RTT at or below which latency costs nothing.
pub const LATENCY_GOOD: Duration = Duration::from_millis(100);
/// RTT at or above which latency scores zero.
pub const LATENCY_BAD: Duration = Duration::from_secs(2);
/// Errors in one minute that bring the error component to zero.
pub const ERRORS_PER_MINUTE_BAD: u32 = 10;

/// The inputs of the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HealthInputs {
    pub(crate) state: ConnectionState,
    /// Answered heartbeats over the recent window, or `None` before any.
    pub(crate) heartbeat_success: Option<f64>,
    pub(crate) errors_last_minute: u32,
    pub(crate) p95: Option<Duration>,
}

fn state_factor(state: ConnectionState) -> f64 {
    use ConnectionState::*;
    match state {
        Connected | Authenticated => 1.0,
        Disconnected | Connecting | Reconnecting | Closing => 0.5,
        Closed | Failed => 0.0,
    }
}

fn latency_factor(p95: Option<Duration>) -> f64 {
    let Some(p95) = p95 else { return 1.0 };
    if p95 <= LATENCY_GOOD {
        return 1.0;
    }
    if p95 >= LATENCY_BAD {
        return 0.0;
    }
    let span = (LATENCY_BAD - LATENCY_GOOD).as_secs_f64();
    1.0 - (p95 - LATENCY_GOOD).as_secs_f64() / span
}

/// The score, 0 to 100.
pub(crate) fn score(inputs: &HealthInputs) -> u8 {
    let heartbeat = inputs.heartbeat_success.unwrap_or(1.0).clamp(0.0, 1.0);
    let errors =
        (1.0 - f64::from(inputs.errors_last_minute) / f64::from(ERRORS_PER_MINUTE_BAD)).max(0.0);
    let latency = latency_factor(inputs.p95);
    let raw =
        100.0 * state_factor(inputs.state) * (0.5 * heartbeat + 0.25 * errors + 0.25 * latency);
    to_score(raw)
}

/// How far past a band's bounds a score must go before a group's band
/// changes ([`GroupStatusChanged`](crate::GroupStatusChanged)).
pub const BAND_MARGIN: u8 = 3;

/// A score's colour band, as dashboards show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthBand {
    /// Below 50.
    Red,
    /// 50 to 79.
    Orange,
    /// 80 and above.
    Green,
}

impl HealthBand {
    /// The band of `score`.
    ///
    /// ```
    /// use actix_tether::monitor::HealthBand;
    /// assert_eq!(HealthBand::of(80), HealthBand::Green);
    /// assert_eq!(HealthBand::of(79), HealthBand::Orange);
    /// assert_eq!(HealthBand::of(49), HealthBand::Red);
    /// ```
    pub const fn of(score: u8) -> Self {
        match score {
            80.. => Self::Green,
            50..=79 => Self::Orange,
            _ => Self::Red,
        }
    }

    /// The band of `score` for something that was in band `last`: it
    /// stays in `last` until the score is more than [`BAND_MARGIN`] points
    /// past `last`'s bounds, so a score wavering at a boundary does not
    /// flip the band back and forth.
    pub(crate) const fn settled(last: Option<Self>, score: u8) -> Self {
        let Some(last) = last else {
            return Self::of(score);
        };
        let (low, high) = match last {
            Self::Red => (0, 49),
            Self::Orange => (50, 79),
            Self::Green => (80, 100),
        };
        if score.saturating_add(BAND_MARGIN) >= low && score <= high + BAND_MARGIN {
            last
        } else {
            Self::of(score)
        }
    }

    /// A lowercase name for logs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Red => "red",
            Self::Orange => "orange",
            Self::Green => "green",
        }
    }
}

/// Mean of scores; 100 when there are none.
pub(crate) fn overall(scores: impl IntoIterator<Item = u8>) -> u8 {
    let (sum, n) = scores
        .into_iter()
        .fold((0u64, 0u64), |(s, n), x| (s + u64::from(x), n + 1));
    if n == 0 {
        return 100;
    }
    #[allow(clippy::cast_precision_loss)]
    to_score(sum as f64 / n as f64)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn to_score(raw: f64) -> u8 {
    // Clamped to 0..=100 first, so the cast cannot truncate or lose a sign.
    raw.round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionState::*;

    fn inputs(state: ConnectionState) -> HealthInputs {
        HealthInputs {
            state,
            heartbeat_success: None,
            errors_last_minute: 0,
            p95: None,
        }
    }

    #[test]
    fn a_quiet_healthy_connection_scores_100_and_failed_scores_0() {
        assert_eq!(score(&inputs(Connected)), 100);
        assert_eq!(score(&inputs(Authenticated)), 100);
        assert_eq!(score(&inputs(Failed)), 0);
        assert_eq!(score(&inputs(Closed)), 0);
        assert_eq!(score(&inputs(Reconnecting)), 50);
    }

    #[test]
    fn each_component_weighs_as_documented() {
        let mut i = inputs(Connected);
        i.heartbeat_success = Some(0.5);
        assert_eq!(score(&i), 75);
        i.heartbeat_success = Some(1.0);
        i.errors_last_minute = 5;
        assert_eq!(score(&i), 88); // 100 - 25 * 0.5 = 87.5, rounded
        i.errors_last_minute = 50;
        assert_eq!(score(&i), 75);
        i.errors_last_minute = 0;
        i.p95 = Some(Duration::from_millis(1050)); // halfway from 100 ms to 2 s
        assert_eq!(score(&i), 88);
        i.p95 = Some(Duration::from_secs(5));
        assert_eq!(score(&i), 75);
        i.p95 = Some(Duration::from_millis(80));
        assert_eq!(score(&i), 100);
    }

    #[test]
    fn overall_is_the_mean() {
        assert_eq!(overall([]), 100);
        assert_eq!(overall([100, 0]), 50);
        assert_eq!(overall([100, 50, 0, 51]), 50);
    }
}
