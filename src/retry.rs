//! Pure reconnect bookkeeping: consecutive failures, the give-up rule, the
//! stable-period reset and server hints. Time is passed in.

use std::time::{Duration, Instant};

use crate::{
    backoff::{BackoffPolicy, RandomSource, SplitMix64},
    verdict::Urgency,
};

/// What to do after a failed attempt or a lost connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextAttempt {
    /// Try again after `delay`; `attempt` counts consecutive failures.
    After { delay: Duration, attempt: u32 },
    /// Stop: the policy or `max_attempts` gave up after `attempts` failures.
    GiveUp { attempts: u32 },
}

#[derive(Debug)]
pub(crate) struct RetryState {
    policy: Box<dyn BackoffPolicy>,
    max_attempts: Option<u32>,
    reset_after: Duration,
    failures: u32,
    faults: u32,
    /// Protocol faults in a row that give up (`max_protocol_faults`).
    max_faults: u32,
    connected_at: Option<Instant>,
    /// Extra random wait (0..spread) before the first retry after a live
    /// connection is lost, so a fleet dropped at once does not return at once.
    spread: Duration,
    rng: SplitMix64,
}

impl RetryState {
    pub(crate) fn new(
        policy: Box<dyn BackoffPolicy>,
        max_attempts: Option<u32>,
        reset_after: Duration,
    ) -> Self {
        Self {
            policy,
            max_attempts,
            reset_after,
            failures: 0,
            faults: 0,
            max_faults: u32::MAX,
            connected_at: None,
            spread: Duration::ZERO,
            rng: SplitMix64::from_entropy(),
        }
    }

    /// Spreads the first retry after a lost connection over `0..spread`.
    pub(crate) fn with_spread(mut self, spread: Duration, rng: SplitMix64) -> Self {
        self.spread = spread;
        self.rng = rng;
        self
    }

    /// Gives up at the `max` protocol fault in a row.
    pub(crate) fn with_max_faults(mut self, max: u32) -> Self {
        self.max_faults = max;
        self
    }

    /// Consecutive failures since the last stable connection.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    pub(crate) fn on_connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// Forgets the failures of a revived endpoint (forced reconnect).
    pub(crate) fn revive(&mut self) {
        self.failures = 0;
        self.faults = 0;
        self.connected_at = None;
        self.policy.reset();
    }

    /// Records a failed attempt or a lost connection that its verdict says
    /// to retry, and decides how long to wait: at least `min_wait`.
    pub(crate) fn on_failure(
        &mut self,
        now: Instant,
        urgency: Urgency,
        min_wait: Duration,
    ) -> NextAttempt {
        let was_connected = self.connected_at.is_some();
        if let Some(since) = self.connected_at.take() {
            if now.saturating_duration_since(since) >= self.reset_after {
                self.failures = 0;
                self.faults = 0;
                self.policy.reset();
            }
        }
        let first_after_stable = self.failures == 0;
        self.failures = self.failures.saturating_add(1);
        if self.max_attempts.is_some_and(|max| self.failures >= max) {
            return NextAttempt::GiveUp {
                attempts: self.failures,
            };
        }
        let delay = match urgency {
            Urgency::Prompt if first_after_stable => Some(Duration::ZERO),
            Urgency::Prompt | Urgency::Backoff | Urgency::Later => self.policy.next_delay(),
            Urgency::Fault => {
                self.faults = self.faults.saturating_add(1);
                if self.faults >= self.max_faults {
                    return NextAttempt::GiveUp {
                        attempts: self.failures,
                    };
                }
                self.policy.next_delay()
            }
        };
        let spread = if was_connected && !self.spread.is_zero() {
            self.spread.mul_f64(self.rng.next_unit())
        } else {
            Duration::ZERO
        };
        match delay {
            Some(delay) => NextAttempt::After {
                delay: delay.max(min_wait) + spread,
                attempt: self.failures,
            },
            None => NextAttempt::GiveUp {
                attempts: self.failures,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::{ConstantBackoff, ExponentialBackoff, SplitMix64};

    const S: fn(u64) -> Duration = Duration::from_secs;
    const Z: Duration = Duration::ZERO;

    fn exp(max_attempts: Option<u32>) -> RetryState {
        let policy = ExponentialBackoff::with_rng(S(1), 2.0, S(30), false, SplitMix64::seeded(1));
        RetryState::new(Box::new(policy), max_attempts, S(60))
    }

    fn delay(next: NextAttempt) -> Duration {
        match next {
            NextAttempt::After { delay, .. } => delay,
            NextAttempt::GiveUp { .. } => panic!("gave up"),
        }
    }

    #[test]
    fn delays_grow_while_failing_and_max_attempts_gives_up() {
        let t = Instant::now();
        let mut r = exp(Some(4));
        assert_eq!(
            r.on_failure(t, Urgency::Backoff, Z),
            NextAttempt::After {
                delay: S(1),
                attempt: 1
            }
        );
        assert_eq!(delay(r.on_failure(t, Urgency::Backoff, Z)), S(2));
        assert_eq!(delay(r.on_failure(t, Urgency::Backoff, Z)), S(4));
        assert_eq!(
            r.on_failure(t, Urgency::Backoff, Z),
            NextAttempt::GiveUp { attempts: 4 }
        );
    }

    #[test]
    fn a_flapping_connection_does_not_reset_the_counter() {
        let t = Instant::now();
        let mut r = exp(None);
        r.on_failure(t, Urgency::Backoff, Z);
        r.on_connected(t);
        // Up for 5 s only: shorter than reset_after, the sequence goes on.
        assert_eq!(delay(r.on_failure(t + S(5), Urgency::Backoff, Z)), S(2));
        r.on_connected(t + S(10));
        // Up for 60 s: stable, so the sequence starts over.
        assert_eq!(
            r.on_failure(t + S(70), Urgency::Backoff, Z),
            NextAttempt::After {
                delay: S(1),
                attempt: 1
            }
        );
    }

    #[test]
    fn prompt_is_immediate_only_after_a_stable_connection() {
        let t = Instant::now();
        let mut r = exp(None);
        assert_eq!(delay(r.on_failure(t, Urgency::Prompt, Z)), Duration::ZERO);
        assert_eq!(delay(r.on_failure(t, Urgency::Prompt, Z)), S(1));
    }

    #[test]
    fn server_hint_raises_the_delay() {
        let t = Instant::now();
        let mut r = exp(None);
        assert_eq!(delay(r.on_failure(t, Urgency::Backoff, S(7))), S(7));
        // A hint below the policy's delay changes nothing.
        assert_eq!(delay(r.on_failure(t, Urgency::Backoff, S(1))), S(2));
    }

    #[test]
    fn the_max_protocol_fault_in_a_row_gives_up() {
        let t = Instant::now();
        let mut r =
            RetryState::new(Box::new(ConstantBackoff(S(1))), None, S(60)).with_max_faults(3);
        let fault = Urgency::Fault;
        assert_eq!(delay(r.on_failure(t, fault, S(30))), S(30));
        // Other failures between faults do not reset the count.
        assert_eq!(delay(r.on_failure(t, Urgency::Backoff, Z)), S(1));
        assert_eq!(delay(r.on_failure(t, fault, S(30))), S(30));
        assert_eq!(
            r.on_failure(t, fault, S(30)),
            NextAttempt::GiveUp { attempts: 4 }
        );
        let mut one =
            RetryState::new(Box::new(ConstantBackoff(S(1))), None, S(60)).with_max_faults(1);
        assert_eq!(
            one.on_failure(t, fault, Z),
            NextAttempt::GiveUp { attempts: 1 }
        );
    }

    #[test]
    fn spread_delays_only_the_first_retry_after_a_live_connection() {
        let t = Instant::now();
        let spread = S(3);
        let mut delays = Vec::new();
        for seed in 0..50 {
            let policy = ConstantBackoff(S(1));
            let mut r = RetryState::new(Box::new(policy), None, S(60))
                .with_spread(spread, SplitMix64::seeded(seed));
            // A failed attempt (never connected): no spread.
            assert_eq!(delay(r.on_failure(t, Urgency::Backoff, Z)), S(1));
            r.on_connected(t);
            // A lost connection: policy delay plus 0..spread; even Prompt is spread.
            let d = delay(r.on_failure(t + S(1), Urgency::Prompt, Z));
            assert!(d >= S(1) && d < S(1) + spread, "{d:?}");
            delays.push(d);
        }
        let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*max - *min > S(2), "spread too narrow: {min:?}..{max:?}");
    }

    #[test]
    fn revive_starts_over() {
        let t = Instant::now();
        let mut r = exp(Some(2));
        r.on_failure(t, Urgency::Backoff, Z);
        assert!(matches!(
            r.on_failure(t, Urgency::Backoff, Z),
            NextAttempt::GiveUp { .. }
        ));
        r.revive();
        assert_eq!(r.failures(), 0);
        assert_eq!(
            r.on_failure(t, Urgency::Backoff, Z),
            NextAttempt::After {
                delay: S(1),
                attempt: 1
            }
        );
    }
}
