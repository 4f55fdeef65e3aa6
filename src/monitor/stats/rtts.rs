//! The round trips a connection measured between two flushes to the
//! monitor.

use std::time::Duration;

/// Round trips held inline: a flush period's worth at a 1 s heartbeat
/// (flushes are 5 s apart), in one cache line.
const INLINE: usize = 8;

/// Round trips in the order measured. The first [`INLINE`] are kept in the
/// value itself (as nanoseconds), so a heartbeat's sample touches no
/// allocation of its own and the flush frees none; more go to a `Vec`.
// `repr(C)`: the count beside the first slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Rtts {
    len: u8,
    inline: [u64; INLINE],
    more: Vec<Duration>,
}

impl Rtts {
    /// Adds a round trip.
    #[inline]
    pub(crate) fn push(&mut self, rtt: Duration) {
        let at = usize::from(self.len);
        if at < INLINE {
            // Exact: a round trip is far below 584 years.
            self.inline[at] = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
            self.len += 1;
        } else {
            self.more.push(rtt);
        }
    }

    /// The round trips, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Duration> + '_ {
        self.inline[..usize::from(self.len)]
            .iter()
            .map(|&nanos| Duration::from_nanos(nanos))
            .chain(self.more.iter().copied())
    }
}

impl FromIterator<Duration> for Rtts {
    fn from_iter<I: IntoIterator<Item = Duration>>(iter: I) -> Self {
        let mut rtts = Self::default();
        for rtt in iter {
            rtts.push(rtt);
        }
        rtts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_round_trip_in_order_inline_and_beyond() {
        let all: Vec<Duration> = (0..20u64)
            .map(|i| Duration::from_nanos(i * 1_000_003 + 7))
            .collect();
        for n in 0..all.len() {
            let rtts: Rtts = all[..n].iter().copied().collect();
            assert_eq!(rtts.iter().collect::<Vec<_>>(), &all[..n]);
            assert_eq!(rtts == Rtts::default(), n == 0);
        }
    }
}
