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
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

/// Attempts are counted in windows of this length.
const WINDOW: Duration = Duration::from_millis(100);

/// Paces automatic reconnect attempts across every endpoint of one
/// supervisor; shared by its connection actors on every arbiter.
#[derive(Debug)]
pub(crate) struct ReconnectBudget {
    /// Attempts allowed in one window (changed by
    /// [`set_rate`](Self::set_rate)).
    per_window: AtomicU32,
    /// Where window 0 starts.
    origin: Instant,
    /// Attempts given in each current or future window, by window index.
    given: Mutex<BTreeMap<u64, u32>>,
}

impl ReconnectBudget {
    /// A budget of `per_second` attempts per second; `None` when 0 (no cap).
    pub(crate) fn new(per_second: u32) -> Option<Arc<Self>> {
        (per_second > 0).then(|| {
            Arc::new(Self {
                per_window: AtomicU32::new(per_window(per_second)),
                origin: Instant::now(),
                given: Mutex::new(BTreeMap::new()),
            })
        })
    }

    /// Paces at `per_second` from now on (0: no cap); reservations already
    /// given stand.
    pub(crate) fn set_rate(&self, per_second: u32) {
        self.per_window
            .store(per_window(per_second), Ordering::Relaxed);
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
        let per_window = self.per_window.load(Ordering::Relaxed);
        let spacing = WINDOW / per_window;
        let mut window = self.window_of(wanted);
        loop {
            let used = given.entry(window).or_insert(0);
            if *used < per_window {
                let slot = self.start_of(window) + spacing * *used;
                *used += 1;
                return slot.max(wanted) - now;
            }
            window += 1;
        }
    }
}

/// Attempts per 100 ms window for a rate (at least one; 0 is no cap).
fn per_window(per_second: u32) -> u32 {
    match per_second {
        0 => u32::MAX,
        n => n.div_ceil(10),
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

    #[test]
    fn a_new_rate_paces_what_comes_after() {
        let budget = ReconnectBudget::new(1000).unwrap();
        let t0 = Instant::now();
        // 100 per window at 1000/s: all fit now.
        assert!((0..100).all(|_| budget.reserve(t0, MS(0)) < MS(100)));
        // At 10/s, one per window: the next two go to later windows.
        budget.set_rate(10);
        let a = budget.reserve(t0 + MS(1000), MS(0));
        let b = budget.reserve(t0 + MS(1000), MS(0));
        assert_eq!(a, MS(0));
        assert!(b >= MS(1) && b <= MS(200), "{b:?}");
    }
}
