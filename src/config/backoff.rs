//! The reconnect delay policy, as data.

use std::time::Duration;

use super::{DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, DEFAULT_MULTIPLIER};
use crate::{
    backoff::{BackoffPolicy, ConstantBackoff, DecorrelatedJitter, ExponentialBackoff},
    duration::serde_duration,
    ConfigError,
};

/// Reconnect delay policy, as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackoffConfig {
    /// `initial * multiplier^n` capped at `max`, with optional full jitter.
    Exponential {
        /// First delay. Default 1 s.
        #[serde(with = "serde_duration")]
        initial: Duration,
        /// Growth factor. Default 2.
        multiplier: f64,
        /// Cap, applied before jitter. Default 30 s.
        #[serde(with = "serde_duration")]
        max: Duration,
        /// Full jitter on (default) or off.
        jitter: bool,
    },
    /// `min(max, random between initial and 3 x previous)`.
    Decorrelated {
        /// Lower bound. Default 1 s.
        #[serde(with = "serde_duration")]
        initial: Duration,
        /// Cap. Default 30 s.
        #[serde(with = "serde_duration")]
        max: Duration,
    },
    /// The same delay every time.
    Constant {
        /// The delay.
        #[serde(with = "serde_duration")]
        delay: Duration,
    },
}

impl Default for BackoffConfig {
    /// Exponential, 1 s initial, multiplier 2, 30 s cap, full jitter.
    fn default() -> Self {
        Self::Exponential {
            initial: DEFAULT_INITIAL_DELAY,
            multiplier: DEFAULT_MULTIPLIER,
            max: DEFAULT_MAX_DELAY,
            jitter: true,
        }
    }
}

impl BackoffConfig {
    /// Builds the policy this config describes.
    pub fn to_policy(&self) -> Box<dyn BackoffPolicy> {
        match *self {
            Self::Exponential {
                initial,
                multiplier,
                max,
                jitter,
            } => Box::new(ExponentialBackoff::new(initial, multiplier, max, jitter)),
            Self::Decorrelated { initial, max } => Box::new(DecorrelatedJitter::new(initial, max)),
            Self::Constant { delay } => Box::new(ConstantBackoff(delay)),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Self::Exponential {
                initial,
                multiplier,
                max,
                ..
            } => {
                if initial.is_zero() {
                    return Err(ConfigError::new(
                        "backoff.initial",
                        "must be above zero: an exponential backoff from zero never grows",
                    ));
                }
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(ConfigError::new(
                        "backoff.multiplier",
                        "must be a finite number >= 1",
                    ));
                }
                if max < initial {
                    return Err(ConfigError::new(
                        "backoff.max",
                        "must not be below backoff.initial",
                    ));
                }
            }
            Self::Decorrelated { initial, max } => {
                if initial.is_zero() {
                    return Err(ConfigError::new("backoff.initial", "must be above zero"));
                }
                if max < initial {
                    return Err(ConfigError::new(
                        "backoff.max",
                        "must not be below backoff.initial",
                    ));
                }
            }
            Self::Constant { .. } => {}
        }
        Ok(())
    }
}
