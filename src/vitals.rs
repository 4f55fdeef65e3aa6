//! What a connection shows the senders that choose between endpoints: its
//! state, since when it is up, its round trip (a moving average) and the
//! sends in flight through its handles. The connection actor writes them;
//! handles read them without a mailbox hop.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

use crate::ConnectionState;

/// The states in the order their codes follow.
const STATES: [ConnectionState; 8] = [
    ConnectionState::Disconnected,
    ConnectionState::Connecting,
    ConnectionState::Connected,
    ConnectionState::Authenticated,
    ConnectionState::Reconnecting,
    ConnectionState::Closing,
    ConnectionState::Closed,
    ConnectionState::Failed,
];

/// Weight of a new round-trip sample in the moving average (1/4: a few
/// samples move it, one outlier does not own it).
const RTT_WEIGHT: u64 = 4;

/// One endpoint's vitals, shared by its connection actor and its handles.
#[derive(Debug)]
pub(crate) struct Vitals {
    /// Names this connection among all of the process's, never reused.
    serial: u64,
    state: AtomicU8,
    /// Milliseconds since [`epoch`] when the connection last came up, plus
    /// one (0: not up).
    up_since: AtomicU64,
    /// Moving average of round trips in microseconds (0: no sample yet).
    rtt_micros: AtomicU64,
    /// Sends through handles that have not been answered yet.
    in_flight: AtomicUsize,
    /// Messages waiting in the outbox, as of the connection's last look.
    queued: AtomicUsize,
}

impl Default for Vitals {
    fn default() -> Self {
        static SERIALS: AtomicU64 = AtomicU64::new(1);
        Self {
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
            state: AtomicU8::default(),
            up_since: AtomicU64::default(),
            rtt_micros: AtomicU64::default(),
            in_flight: AtomicUsize::default(),
            queued: AtomicUsize::default(),
        }
    }
}

/// The process-wide instant `up_since` counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_since_epoch(now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch()).as_millis()).unwrap_or(u64::MAX - 1)
}

impl Vitals {
    /// This connection's number, unique in the process (never 0).
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// The state now.
    pub(crate) fn state(&self) -> ConnectionState {
        STATES[usize::from(self.state.load(Ordering::Relaxed)) % STATES.len()]
    }

    /// Records a transition, at `now`.
    pub(crate) fn set_state(&self, to: ConnectionState, now: Instant) {
        let code = STATES.iter().position(|s| *s == to).unwrap_or(0);
        let was_up = self.state().is_up();
        self.state
            .store(u8::try_from(code).unwrap_or(0), Ordering::Relaxed);
        if to.is_up() && !was_up {
            self.up_since
                .store(millis_since_epoch(now) + 1, Ordering::Relaxed);
        } else if !to.is_up() {
            self.up_since.store(0, Ordering::Relaxed);
        }
    }

    /// How long the connection has been up at `now`; `None` when it is not.
    pub(crate) fn up_for(&self, now: Instant) -> Option<Duration> {
        let since = self.up_since.load(Ordering::Relaxed).checked_sub(1)?;
        Some(Duration::from_millis(
            millis_since_epoch(now).saturating_sub(since),
        ))
    }

    /// Folds a round-trip sample into the moving average.
    pub(crate) fn observe_rtt(&self, rtt: Duration) {
        let sample = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.rtt_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / RTT_WEIGHT + sample / RTT_WEIGHT
        };
        self.rtt_micros.store(new.max(1), Ordering::Relaxed);
    }

    /// The moving average of round trips; `None` before the first sample.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// Sends in flight through handles, and messages waiting in the
    /// outbox: the load a router weighs.
    pub(crate) fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed) + self.queued.load(Ordering::Relaxed)
    }

    /// Records the outbox's depth.
    pub(crate) fn set_queued(&self, queued: usize) {
        // Most passes leave it unchanged: no write, no cache line moved.
        if self.queued.load(Ordering::Relaxed) != queued {
            self.queued.store(queued, Ordering::Relaxed);
        }
    }

    /// Counts a send in flight until the guard drops.
    pub(crate) fn sending(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

/// A send in flight; counted until dropped.
pub(crate) struct InFlight<'a>(&'a Vitals);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_up_time_follow_transitions() {
        let vitals = Vitals::default();
        let _ = epoch();
        let start = Instant::now();
        assert_eq!(vitals.state(), ConnectionState::Disconnected);
        assert_eq!(vitals.up_for(start), None);
        for state in STATES {
            vitals.set_state(state, start);
            assert_eq!(vitals.state(), state);
        }
        vitals.set_state(ConnectionState::Connected, start);
        let later = start + Duration::from_millis(250);
        assert_eq!(vitals.up_for(later), Some(Duration::from_millis(250)));
        // Authenticated is still the same stretch of being up.
        vitals.set_state(ConnectionState::Authenticated, later);
        assert_eq!(
            vitals.up_for(later + Duration::from_millis(50)),
            Some(Duration::from_millis(300))
        );
        vitals.set_state(ConnectionState::Reconnecting, later);
        assert_eq!(vitals.up_for(later), None);
    }

    #[test]
    fn round_trips_average_and_sends_are_counted_while_in_flight() {
        let vitals = Vitals::default();
        assert_eq!(vitals.rtt(), None);
        vitals.observe_rtt(Duration::from_millis(8));
        assert_eq!(vitals.rtt(), Some(Duration::from_millis(8)));
        vitals.observe_rtt(Duration::from_millis(4));
        assert_eq!(vitals.rtt(), Some(Duration::from_millis(7)));
        let (one, two) = (vitals.sending(), vitals.sending());
        assert_eq!(vitals.load(), 2);
        vitals.set_queued(5);
        assert_eq!(vitals.load(), 7);
        drop(one);
        drop(two);
        vitals.set_queued(0);
        assert_eq!(vitals.load(), 0);
    }
}
