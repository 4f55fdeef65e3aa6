//! Reconnect delay policies: pure, with injectable randomness.
//!
//! Every policy implements [`BackoffPolicy`], whose shape matches the `backoff`
//! crate's `Backoff` trait. With the opt-in `backoff` cargo feature, our
//! policies also implement `backoff::backoff::Backoff`, and `FromBackoff` lets
//! any `backoff::backoff::Backoff` drive an endpoint. The feature is off by
//! default because `backoff` 0.4 is unmaintained (RUSTSEC-2025-0012) and pulls
//! `instant` (RUSTSEC-2024-0384): the default dependency tree carries no crate
//! with a known advisory.

use std::{
    collections::hash_map::RandomState,
    fmt,
    hash::{BuildHasher, Hasher},
    time::Duration,
};

/// A reconnect delay policy.
///
/// `next_delay` is called once per failed attempt; `None` means give up (the
/// endpoint goes to Failed). `reset` is called when a connection stayed up for
/// the endpoint's `reset_after` period.
pub trait BackoffPolicy: Send + fmt::Debug + 'static {
    /// The wait before the next attempt, or `None` to stop retrying.
    fn next_delay(&mut self) -> Option<Duration>;
    /// Starts the sequence over.
    fn reset(&mut self);
}

impl BackoffPolicy for Box<dyn BackoffPolicy> {
    fn next_delay(&mut self) -> Option<Duration> {
        (**self).next_delay()
    }

    fn reset(&mut self) {
        (**self).reset()
    }
}

/// A source of uniform random numbers, injectable so tests are deterministic.
pub trait RandomSource: Send + fmt::Debug + 'static {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A uniform value in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        // 53 high bits give every representable f64 in [0, 1) a fair chance.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A small, fast SplitMix64 generator; not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed (for tests).
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator seeded from the process's random hash keys, so every
    /// endpoint in a fleet draws a different sequence.
    pub fn from_entropy() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x7e7e_7e7e);
        Self(hasher.finish())
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn uniform_between(rng: &mut dyn RandomSource, low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    low + (high - low).mul_f64(rng.next_unit())
}

/// Exponential backoff: `initial * multiplier^n`, capped at `max`, then (with
/// jitter on) a uniformly random delay between zero and that value ("full
/// jitter"). Jitter comes after the cap, so a fleet stays spread at the maximum.
#[derive(Debug, Clone)]
pub struct ExponentialBackoff<R: RandomSource = SplitMix64> {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: bool,
    current: Duration,
    rng: R,
}

impl ExponentialBackoff<SplitMix64> {
    /// A policy seeded from entropy.
    pub fn new(initial: Duration, multiplier: f64, max: Duration, jitter: bool) -> Self {
        Self::with_rng(initial, multiplier, max, jitter, SplitMix64::from_entropy())
    }
}

impl<R: RandomSource> ExponentialBackoff<R> {
    /// A policy drawing jitter from `rng`.
    pub fn with_rng(
        initial: Duration,
        multiplier: f64,
        max: Duration,
        jitter: bool,
        rng: R,
    ) -> Self {
        Self {
            initial,
            multiplier,
            max,
            jitter,
            current: initial.min(max),
            rng,
        }
    }
}

impl<R: RandomSource> BackoffPolicy for ExponentialBackoff<R> {
    fn next_delay(&mut self) -> Option<Duration> {
        let capped = self.current.min(self.max);
        // Saturates at the cap; `mul_f64` would panic past Duration::MAX.
        self.current = if capped.as_secs_f64() * self.multiplier >= self.max.as_secs_f64() {
            self.max
        } else {
            capped.mul_f64(self.multiplier)
        };
        Some(if self.jitter {
            uniform_between(&mut self.rng, Duration::ZERO, capped)
        } else {
            capped
        })
    }

    fn reset(&mut self) {
        self.current = self.initial.min(self.max);
    }
}

/// Decorrelated jitter: `min(max, random between initial and 3 x previous)`.
#[derive(Debug, Clone)]
pub struct DecorrelatedJitter<R: RandomSource = SplitMix64> {
    initial: Duration,
    max: Duration,
    previous: Duration,
    rng: R,
}

impl DecorrelatedJitter<SplitMix64> {
    /// A policy seeded from entropy.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, SplitMix64::from_entropy())
    }
}

impl<R: RandomSource> DecorrelatedJitter<R> {
    /// A policy drawing from `rng`.
    pub fn with_rng(initial: Duration, max: Duration, rng: R) -> Self {
        Self {
            initial,
            max,
            previous: initial,
            rng,
        }
    }
}

impl<R: RandomSource> BackoffPolicy for DecorrelatedJitter<R> {
    fn next_delay(&mut self) -> Option<Duration> {
        let high = self
            .previous
            .saturating_mul(3)
            .min(self.max.max(self.initial));
        let delay = uniform_between(&mut self.rng, self.initial, high).min(self.max);
        self.previous = delay.max(self.initial);
        Some(delay)
    }

    fn reset(&mut self) {
        self.previous = self.initial;
    }
}

/// The same delay every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstantBackoff(pub Duration);

impl BackoffPolicy for ConstantBackoff {
    fn next_delay(&mut self) -> Option<Duration> {
        Some(self.0)
    }

    fn reset(&mut self) {}
}

/// Drives an endpoint with any policy from the `backoff` crate.
///
/// Beware `backoff::ExponentialBackoff`'s default `max_elapsed_time` of 15
/// minutes: once it passes, the policy returns `None` and the endpoint fails.
/// Set it to `None` for a connection that must stay up.
#[cfg(feature = "backoff")]
#[derive(Debug)]
pub struct FromBackoff<B>(pub B);

#[cfg(feature = "backoff")]
impl<B: backoff::backoff::Backoff + Send + fmt::Debug + 'static> BackoffPolicy for FromBackoff<B> {
    fn next_delay(&mut self) -> Option<Duration> {
        self.0.next_backoff()
    }

    fn reset(&mut self) {
        self.0.reset()
    }
}

#[cfg(feature = "backoff")]
mod backoff_compat {
    use super::*;

    impl<R: RandomSource> backoff::backoff::Backoff for ExponentialBackoff<R> {
        fn next_backoff(&mut self) -> Option<Duration> {
            self.next_delay()
        }
        fn reset(&mut self) {
            BackoffPolicy::reset(self)
        }
    }

    impl<R: RandomSource> backoff::backoff::Backoff for DecorrelatedJitter<R> {
        fn next_backoff(&mut self) -> Option<Duration> {
            self.next_delay()
        }
        fn reset(&mut self) {
            BackoffPolicy::reset(self)
        }
    }

    impl backoff::backoff::Backoff for ConstantBackoff {
        fn next_backoff(&mut self) -> Option<Duration> {
            self.next_delay()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn exponential_without_jitter_doubles_to_the_cap() {
        let mut p = ExponentialBackoff::with_rng(S(1), 2.0, S(30), false, SplitMix64::seeded(1));
        let got: Vec<_> = (0..7).map(|_| p.next_delay().unwrap()).collect();
        assert_eq!(got, [S(1), S(2), S(4), S(8), S(16), S(30), S(30)]);
        p.reset();
        assert_eq!(p.next_delay(), Some(S(1)));
    }

    #[test]
    fn exponential_full_jitter_stays_under_the_capped_value_and_spreads() {
        let mut p = ExponentialBackoff::with_rng(S(1), 2.0, S(30), true, SplitMix64::seeded(7));
        for _ in 0..5 {
            p.next_delay();
        }
        // At the cap now: draws must lie in [0, 30 s] and not all be equal.
        let draws: Vec<_> = (0..200).map(|_| p.next_delay().unwrap()).collect();
        assert!(draws.iter().all(|d| *d <= S(30)));
        let (min, max) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(
            *max - *min > S(20),
            "jitter spread too narrow: {min:?}..{max:?}"
        );
    }

    #[test]
    fn exponential_saturates_without_overflow() {
        let mut p =
            ExponentialBackoff::with_rng(S(1), 1e300, Duration::MAX, false, SplitMix64::seeded(1));
        p.next_delay();
        assert_eq!(p.next_delay(), Some(Duration::MAX));
    }

    #[test]
    fn decorrelated_stays_between_initial_and_cap_and_grows() {
        let mut p = DecorrelatedJitter::with_rng(S(1), S(60), SplitMix64::seeded(3));
        let draws: Vec<_> = (0..100).map(|_| p.next_delay().unwrap()).collect();
        assert!(draws.iter().all(|d| *d >= S(1) && *d <= S(60)));
        assert!(draws.iter().any(|d| *d > S(10)), "never grew: {draws:?}");
        p.reset();
        assert!(p.next_delay().unwrap() <= S(3));
    }

    #[test]
    fn seeded_sources_are_reproducible_and_unit_is_in_range() {
        let mut a = SplitMix64::seeded(42);
        let mut b = SplitMix64::seeded(42);
        for _ in 0..1000 {
            let x = a.next_unit();
            assert_eq!(x, b.next_unit());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(
            SplitMix64::from_entropy().next_u64(),
            SplitMix64::from_entropy().next_u64()
        );
    }

    #[cfg(feature = "backoff")]
    #[test]
    fn interoperates_with_the_backoff_crate() {
        use backoff::backoff::Backoff;
        let mut ours = ConstantBackoff(S(2));
        assert_eq!(ours.next_backoff(), Some(S(2)));

        let mut policy = FromBackoff(backoff::backoff::Constant::new(S(5)));
        assert_eq!(policy.next_delay(), Some(S(5)));
        let mut stop = FromBackoff(backoff::backoff::Stop {});
        assert_eq!(stop.next_delay(), None);
    }
}
