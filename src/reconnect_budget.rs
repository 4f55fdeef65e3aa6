//! A supervisor-wide cap on the rate of automatic reconnect attempts.
//!
//! Backoff jitter spreads one endpoint's retries, but a fleet that loses its
//! connections at once (a server restart, a network blip) still retries
//! within the first backoff delay: 10,000 endpoints with a 1 s initial delay
//! arrive at about 1,500 attempts per 100 ms even with full jitter. The
//! budget hands out attempt slots at most `per_second` apart: a lone
//! endpoint's retry keeps its backoff delay, a mass drop is paced.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Attempts are counted in windows of this length.
const WINDOW: Duration = Duration::from_millis(100);

/// Paces automatic reconnect attempts across every endpoint of one
/// supervisor; shared by its connection actors on every arbiter.
#[derive(Debug)]
pub(crate) struct ReconnectBudget {
    /// Attempts allowed in one window.
    per_window: u32,
    /// Time between two slots of one window.
    spacing: Duration,
    /// Where window 0 starts.
    origin: Instant,
    /// Attempts given in each current or future window, by window index.
    given: Mutex<BTreeMap<u64, u32>>,
}

impl ReconnectBudget {
    /// A budget of `per_second` attempts per second; `None` when 0 (no cap).
    pub(crate) fn new(per_second: u32) -> Option<Arc<Self>> {
        (per_second > 0).then(|| {
            let per_window = per_second.div_ceil(10);
            Arc::new(Self {
                per_window,
                spacing: WINDOW / per_window,
                origin: Instant::now(),
                given: Mutex::new(BTreeMap::new()),
            })
        })
    }

    fn window_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin).as_millis() / WINDOW.as_millis();
        u64::try_from(since).unwrap_or(u64::MAX)
    }

    fn start_of(&self, window: u64) -> Instant {
        let window = u32::try_from(window).unwrap_or(u32::MAX);
        self.origin + WINDOW * window
    }

    /// The wait from `now` for an attempt that backoff would make after
    /// `delay`: `delay` itself when its window has room, else a slot in the
    /// first later window that has. Never sooner than `delay`.
    pub(crate) fn reserve(&self, now: Instant, delay: Duration) -> Duration {
        let wanted = now + delay;
        // The map only counts: a panic elsewhere cannot leave it inconsistent.
        let mut given = self.given.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.window_of(now);
        given.retain(|&window, _| window >= current);
        // Bounded: every full window holds `per_window` earlier reservations.
        let mut window = self.window_of(wanted);
        loop {
            let used = given.entry(window).or_insert(0);
            if *used < self.per_window {
                let slot = self.start_of(window) + self.spacing * *used;
                *used += 1;
                return slot.max(wanted) - now;
            }
            window += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn zero_means_no_budget() {
        assert!(ReconnectBudget::new(0).is_none());
    }

    #[test]
    fn a_lone_retry_keeps_its_backoff_delay() {
        let budget = ReconnectBudget::new(1000).unwrap();
        let t0 = Instant::now();
        assert_eq!(budget.reserve(t0, MS(1500)), MS(1500));
        assert_eq!(budget.reserve(t0 + MS(10_000), MS(800)), MS(800));
    }

    #[test]
    fn a_mass_drop_is_paced_at_the_rate() {
        let budget = ReconnectBudget::new(100).unwrap();
        let t0 = Instant::now();
        let mut attempts: Vec<Instant> = (0..1000)
            .map(|_| t0 + budget.reserve(t0, MS(1000)))
            .collect();
        attempts.sort();
        assert!(attempts[0] >= t0 + MS(1000), "never sooner than backoff");
        // 1000 attempts at 100/s take about ten seconds...
        let span = *attempts.last().unwrap() - attempts[0];
        assert!(span >= MS(9800) && span <= MS(10_200), "{span:?}");
        // ...and no 100 ms stretch holds more than twice the per-window share.
        for (i, at) in attempts.iter().enumerate().skip(20) {
            assert!(*at - attempts[i - 20] >= MS(100), "{i}");
        }
    }

    #[test]
    fn a_long_delay_does_not_hold_back_shorter_ones() {
        let budget = ReconnectBudget::new(10).unwrap();
        let t0 = Instant::now();
        assert_eq!(budget.reserve(t0, MS(30_000)), MS(30_000));
        // One attempt per 100 ms window: the next window is still free.
        assert_eq!(budget.reserve(t0, MS(0)), MS(0));
        let next = budget.reserve(t0, MS(0));
        assert!(next > MS(0) && next <= MS(200), "{next:?}");
    }
}
