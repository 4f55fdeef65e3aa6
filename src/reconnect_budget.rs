//! A supervisor-wide cap on the rate of automatic reconnect attempts, the
//! gate every attempt passes when the pace is kept elsewhere, and the cap
//! on attempts in flight at once (`max_connecting`).
//!
//! Backoff jitter spreads one endpoint's retries, but a fleet that loses its
//! connections at once (a server restart, a network blip) still retries
//! within the first backoff delay: 10,000 endpoints with a 1 s initial delay
//! arrive at about 1,500 attempts per 100 ms even with full jitter. The
//! budget hands out attempt slots at most `per_second` apart: a lone
//! endpoint's retry keeps its backoff delay, a mass drop is paced.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use futures::channel::oneshot;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Attempts are counted in windows of this length.
const WINDOW: Duration = Duration::from_millis(100);

/// Windows in a second.
const WINDOWS_PER_SECOND: u64 = 10;

/// Admits connection attempts at a pace kept outside the supervisor (the
/// cluster's bucket in etcd): every attempt, first or not, waits for it.
pub(crate) trait Gate: Send + Sync + fmt::Debug {
    /// Resolves when one attempt may start. A gate that goes away before
    /// admitting drops the sender: the attempt then starts.
    fn admit(&self) -> oneshot::Receiver<()>;
}

/// Paces automatic reconnect attempts across every endpoint of one
/// supervisor; shared by its connection actors on every arbiter.
#[derive(Debug)]
pub(crate) struct ReconnectBudget {
    /// Attempts allowed per second, 0 for no cap (changed by
    /// [`set_rate`](Self::set_rate)).
    per_second: AtomicU32,
    /// Where window 0 starts.
    origin: Instant,
    /// Attempts given in each current or future window, by window index.
    given: Mutex<BTreeMap<u64, u32>>,
    /// The gate attempts wait at, if any.
    gate: Mutex<Option<Arc<dyn Gate>>>,
    /// Slots for attempts in flight; `None`: no cap.
    in_flight: Option<Arc<Semaphore>>,
}

impl ReconnectBudget {
    /// A budget of `per_second` attempts per second (0: no cap).
    #[cfg(test)]
    pub(crate) fn new(per_second: u32) -> Arc<Self> {
        Self::with_max_connecting(per_second, 0)
    }

    /// A budget of `per_second` attempts per second (0: no cap) with at
    /// most `max_connecting` attempts in flight at once (0: no cap).
    pub(crate) fn with_max_connecting(per_second: u32, max_connecting: usize) -> Arc<Self> {
        Arc::new(Self {
            per_second: AtomicU32::new(per_second),
            origin: Instant::now(),
            given: Mutex::new(BTreeMap::new()),
            gate: Mutex::new(None),
            in_flight: (max_connecting > 0)
                .then(|| Arc::new(Semaphore::new(max_connecting.min(Semaphore::MAX_PERMITS)))),
        })
    }

    /// Waits for a slot for one attempt in flight, first come first
    /// served; the attempt holds the returned permit until it succeeds or
    /// fails. `None` at once when there is no cap.
    pub(crate) fn in_flight_slot(
        &self,
    ) -> impl std::future::Future<Output = Option<OwnedSemaphorePermit>> + 'static {
        let slots = self.in_flight.clone();
        async move {
            match slots {
                // Never closed: an error cannot happen.
                Some(slots) => slots.acquire_owned().await.ok(),
                None => None,
            }
        }
    }

    /// Paces at `per_second` from now on (0: no cap); reservations already
    /// given stand.
    pub(crate) fn set_rate(&self, per_second: u32) {
        self.per_second.store(per_second, Ordering::Relaxed);
    }

    /// Makes every attempt from now on wait at `gate` (`None`: at none).
    pub(crate) fn set_gate(&self, gate: Option<Arc<dyn Gate>>) {
        *self.gate.lock().unwrap_or_else(PoisonError::into_inner) = gate;
    }

    /// What an attempt waits for before it starts, if there is a gate.
    pub(crate) fn admit(&self) -> Option<oneshot::Receiver<()>> {
        let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        gate.as_ref().map(|gate| gate.admit())
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
        let per_second = self.per_second.load(Ordering::Relaxed);
        if per_second == 0 {
            return delay;
        }
        let wanted = now + delay;
        // The map only counts: a panic elsewhere cannot leave it inconsistent.
        let mut given = self.given.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.window_of(now);
        given.retain(|&window, _| window >= current);
        // Bounded: one window in every ten at least has room, and every
        // full window holds earlier reservations.
        let mut window = self.window_of(wanted);
        loop {
            let room = room(per_second, window);
            let used = given.entry(window).or_insert(0);
            if *used < room {
                let slot = self.start_of(window) + WINDOW / room * *used;
                *used += 1;
                return slot.max(wanted) - now;
            }
            window += 1;
        }
    }
}

/// The attempts window `window` holds at `per_second`: the rate spread
/// over the second's ten windows, so any ten in a row hold exactly
/// `per_second` (3/s is one in three of four windows, 15/s one or two).
fn room(per_second: u32, window: u64) -> u32 {
    let upto = |w: u64| u64::from(per_second) * w / WINDOWS_PER_SECOND;
    let room = upto(window % WINDOWS_PER_SECOND + 1) - upto(window % WINDOWS_PER_SECOND);
    u32::try_from(room).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn zero_means_no_cap() {
        let budget = ReconnectBudget::new(0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| budget.reserve(t0, MS(5)) == MS(5)));
    }

    #[test]
    fn rates_below_ten_a_second_hold() {
        for rate in [1, 3, 7, 15] {
            let budget = ReconnectBudget::new(rate);
            let t0 = Instant::now();
            let within_a_second = (0..100)
                .map(|_| budget.reserve(t0, MS(0)))
                .filter(|wait| *wait < MS(990))
                .count();
            assert_eq!(within_a_second, rate as usize, "at {rate}/s");
        }
        // Ten windows in a row hold exactly the rate, wherever they start.
        for start in 0..10 {
            let sum: u32 = (start..start + 10).map(|w| room(3, w)).sum();
            assert_eq!(sum, 3);
        }
    }

    #[test]
    fn a_lone_retry_keeps_its_backoff_delay() {
        let budget = ReconnectBudget::new(1000);
        let t0 = Instant::now();
        assert_eq!(budget.reserve(t0, MS(1500)), MS(1500));
        assert_eq!(budget.reserve(t0 + MS(10_000), MS(800)), MS(800));
    }

    #[test]
    fn a_mass_drop_is_paced_at_the_rate() {
        let budget = ReconnectBudget::new(100);
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
        let budget = ReconnectBudget::new(10);
        let t0 = Instant::now();
        assert_eq!(budget.reserve(t0, MS(30_000)), MS(30_000));
        // One attempt per 100 ms window: the next window is still free.
        assert_eq!(budget.reserve(t0, MS(0)), MS(0));
        let next = budget.reserve(t0, MS(0));
        assert!(next > MS(0) && next <= MS(200), "{next:?}");
    }

    #[test]
    fn a_new_rate_paces_what_comes_after() {
        let budget = ReconnectBudget::new(1000);
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
