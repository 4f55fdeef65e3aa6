//! Pure liveness bookkeeping for one connection: pings in flight, missed
//! pings, the silence deadline and round-trip samples. Time is passed in.

use std::time::{Duration, Instant};

/// Tag that starts every protocol ping payload we send, so a pong can be
/// matched to its ping and told apart from unsolicited pongs.
const PING_TAG: &[u8; 2] = b"at";
/// Tag plus a big-endian sequence number; far below the 125-byte limit.
pub(crate) const PING_PAYLOAD_LEN: usize = PING_TAG.len() + 8;

/// Pings whose send times are kept for round trips: the newest
/// `max_missed + 1`, at most this many. Held inline (a heartbeat touches no
/// allocation of its own); a pong answering an older ping still proves the
/// peer alive, it only gives no round trip (its round trip is then over
/// four heartbeat intervals).
const KEPT_PINGS: usize = 4;

/// What a heartbeat tick asks the connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Send a ping with this sequence number.
    Ping(u64),
    /// The peer is dead: too long silent, or too many pings unanswered.
    Dead { silent_for: Duration, missed: u32 },
}

#[derive(Debug)]
pub(crate) struct Liveness {
    timeout: Duration,
    max_missed: u32,
    last_seen: Instant,
    /// Where silence is measured from: the last inbound traffic, or a
    /// later restart (a pause of our own reading).
    heard: Instant,
    /// `heard + timeout`, kept so a heartbeat compares instants rather
    /// than measuring the silence each time.
    silent_at: Instant,
    /// Pings sent since the last inbound traffic.
    unanswered: u32,
    /// Consecutive pings whose interval passed with no inbound traffic.
    missed: u32,
    next_seq: u64,
    /// The oldest ping in flight: pings `oldest..next_seq` are.
    oldest: u64,
    /// How many pings are kept in flight at most.
    keep: u64,
    /// Send times of the pings in flight, ping `seq` at `seq % KEPT_PINGS`.
    sent: [Instant; KEPT_PINGS],
}

impl Liveness {
    pub(crate) fn new(now: Instant, timeout: Duration, max_missed: u32) -> Self {
        Self {
            timeout,
            max_missed: max_missed.max(1),
            last_seen: now,
            heard: now,
            silent_at: crate::duration::deadline_after(now, timeout),
            unanswered: 0,
            missed: 0,
            next_seq: 0,
            oldest: 0,
            keep: (u64::from(max_missed.max(1)) + 1).min(KEPT_PINGS as u64),
            sent: [now; KEPT_PINGS],
        }
    }

    /// Any inbound frame or byte proves the peer alive.
    #[inline]
    pub(crate) fn on_inbound(&mut self, now: Instant) {
        self.last_seen = now;
        self.restart_silence(now);
    }

    /// Forgets the pings in flight (their answers would time a pause, not
    /// the network) and measures silence from `now`, without counting it
    /// as traffic ([`last_seen`](Self::last_seen) stays).
    pub(crate) fn restart(&mut self, now: Instant) {
        self.oldest = self.next_seq;
        self.restart_silence(now);
    }

    #[inline]
    fn restart_silence(&mut self, now: Instant) {
        self.heard = now;
        self.silent_at = crate::duration::deadline_after(now, self.timeout);
        self.unanswered = 0;
        self.missed = 0;
    }

    /// Consecutive missed pings.
    pub(crate) fn missed(&self) -> u32 {
        self.missed
    }

    /// When inbound traffic last arrived.
    pub(crate) fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// The instant at which silence alone declares the peer dead.
    pub(crate) fn deadline(&self) -> Instant {
        self.silent_at
    }

    /// Checks the silence deadline without sending anything.
    pub(crate) fn check(&self, now: Instant) -> Option<Tick> {
        (now >= self.silent_at || self.missed >= self.max_missed).then(|| Tick::Dead {
            silent_for: now.saturating_duration_since(self.heard),
            missed: self.missed,
        })
    }

    /// Called every heartbeat interval.
    pub(crate) fn on_tick(&mut self, now: Instant) -> Tick {
        if self.unanswered > 0 {
            self.missed = self.missed.saturating_add(1);
        }
        if let Some(dead) = self.check(now) {
            return dead;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.unanswered = self.unanswered.saturating_add(1);
        if self.in_flight() > self.keep {
            self.oldest = self.next_seq.wrapping_sub(self.keep);
        }
        self.sent[slot(seq)] = now;
        Tick::Ping(seq)
    }

    /// A pong arrived; returns the round trip if it answers one of our pings.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant) -> Option<Duration> {
        self.on_inbound(now);
        let seq = decode_ping(payload)?;
        self.take_in_flight(seq, now)
    }

    /// An application-level heartbeat reply arrived: it answers the oldest ping.
    pub(crate) fn on_application_reply(&mut self, now: Instant) -> Option<Duration> {
        self.on_inbound(now);
        self.take_in_flight(self.oldest, now)
    }

    /// Pings in flight.
    fn in_flight(&self) -> u64 {
        self.next_seq.wrapping_sub(self.oldest)
    }

    /// Takes ping `seq` if it is in flight: its round trip.
    fn take_in_flight(&mut self, seq: u64, now: Instant) -> Option<Duration> {
        if seq.wrapping_sub(self.oldest) >= self.in_flight() {
            return None;
        }
        // Older pings were overtaken: they will never be answered.
        self.oldest = seq.wrapping_add(1);
        Some(now.saturating_duration_since(self.sent[slot(seq)]))
    }
}

/// Where ping `seq`'s send time is kept.
fn slot(seq: u64) -> usize {
    usize::try_from(seq % KEPT_PINGS as u64).unwrap_or_default()
}

/// The payload of protocol ping number `seq`.
pub(crate) fn encode_ping(seq: u64) -> [u8; PING_PAYLOAD_LEN] {
    let mut out = [0u8; PING_PAYLOAD_LEN];
    out[..2].copy_from_slice(PING_TAG);
    out[2..].copy_from_slice(&seq.to_be_bytes());
    out
}

fn decode_ping(payload: &[u8]) -> Option<u64> {
    if payload.len() != PING_PAYLOAD_LEN || &payload[..2] != PING_TAG {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&payload[2..]);
    Some(u64::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn answered_pings_give_round_trips_and_keep_it_alive() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(3), 3);
        for i in 0..10u64 {
            let now = t + S(i);
            let Tick::Ping(seq) = l.on_tick(now) else {
                panic!("dead at {i}")
            };
            let rtt = l.on_pong(&encode_ping(seq), now + Duration::from_millis(20));
            assert_eq!(rtt, Some(Duration::from_millis(20)));
        }
        assert_eq!(l.missed(), 0);
    }

    #[test]
    fn a_restart_moves_the_silence_deadline_but_is_not_traffic() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(3), 3);
        let Tick::Ping(seq) = l.on_tick(t + S(1)) else {
            panic!("dead")
        };
        l.restart(t + S(2));
        assert_eq!(l.last_seen(), t, "a pause is not traffic");
        assert_eq!(l.deadline(), t + S(5));
        assert_eq!(l.check(t + S(4)), None);
        // The ping sent before the pause no longer times a round trip.
        assert_eq!(l.on_pong(&encode_ping(seq), t + S(4)), None);
    }

    #[test]
    fn silent_peer_is_dead_after_the_timeout() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(3), 3);
        assert!(matches!(l.on_tick(t + S(1)), Tick::Ping(_)));
        assert!(matches!(l.on_tick(t + S(2)), Tick::Ping(_)));
        assert_eq!(l.deadline(), t + S(3));
        assert_eq!(
            l.check(t + S(3)),
            Some(Tick::Dead {
                silent_for: S(3),
                missed: 1
            })
        );
        assert!(matches!(l.on_tick(t + S(3)), Tick::Dead { .. }));
    }

    #[test]
    fn missed_count_kills_before_a_longer_timeout() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(100), 2);
        assert!(matches!(l.on_tick(t + S(1)), Tick::Ping(_)));
        assert!(matches!(l.on_tick(t + S(2)), Tick::Ping(_)));
        assert_eq!(
            l.on_tick(t + S(3)),
            Tick::Dead {
                silent_for: S(3),
                missed: 2
            }
        );
    }

    #[test]
    fn any_inbound_traffic_counts_as_life() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(3), 2);
        for i in 1..20 {
            assert!(matches!(l.on_tick(t + S(i)), Tick::Ping(_)), "dead at {i}");
            l.on_inbound(t + S(i));
        }
    }

    #[test]
    fn foreign_and_late_pongs_give_no_sample() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(10), 3);
        let Tick::Ping(first) = l.on_tick(t) else {
            panic!()
        };
        let Tick::Ping(second) = l.on_tick(t + S(1)) else {
            panic!()
        };
        assert_eq!(l.on_pong(b"hello", t + S(1)), None);
        assert_eq!(l.on_pong(&encode_ping(second), t + S(2)), Some(S(1)));
        // The first ping was overtaken and forgotten.
        assert_eq!(l.on_pong(&encode_ping(first), t + S(2)), None);
    }

    #[test]
    fn the_newest_pings_keep_their_send_times_across_the_ring() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(1000), 1000);
        let mut seqs = Vec::new();
        for i in 0..10 {
            let Tick::Ping(seq) = l.on_tick(t + S(i)) else {
                panic!("dead at {i}")
            };
            seqs.push(seq);
        }
        // Ping 6 (of 0..10) is among the newest four: its own send time.
        assert_eq!(l.on_pong(&encode_ping(seqs[6]), t + S(10)), Some(S(4)));
        // Older pings were overtaken, or no longer kept.
        assert_eq!(l.on_pong(&encode_ping(seqs[5]), t + S(10)), None);
        assert_eq!(l.on_pong(&encode_ping(seqs[1]), t + S(10)), None);
        // An application reply answers the oldest ping still in flight.
        assert_eq!(l.on_application_reply(t + S(11)), Some(S(4)));
        assert_eq!(l.on_pong(&encode_ping(seqs[9]), t + S(11)), Some(S(2)));
        assert_eq!(l.on_application_reply(t + S(11)), None);
    }

    #[test]
    fn in_flight_is_bounded() {
        let t = Instant::now();
        let mut l = Liveness::new(t, S(1000), 1000);
        for i in 0..50 {
            l.on_tick(t + Duration::from_millis(i));
            l.on_inbound(t + Duration::from_millis(i));
        }
        assert!(l.in_flight() <= KEPT_PINGS as u64);
        let mut small = Liveness::new(t, S(1000), 2);
        for i in 0..50 {
            small.on_tick(t + Duration::from_millis(i));
            small.on_inbound(t + Duration::from_millis(i));
        }
        assert!(small.in_flight() <= 3);
    }

    #[test]
    fn ping_payload_round_trips_and_fits_the_rfc_limit() {
        let p = encode_ping(u64::MAX - 1);
        assert!(p.len() <= 125);
        assert_eq!(decode_ping(&p), Some(u64::MAX - 1));
        assert_eq!(decode_ping(b"ab12345678"), None);
    }
}
