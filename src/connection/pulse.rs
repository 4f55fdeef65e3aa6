//! The heartbeat of one live connection: when the next ping is due, the
//! peer's liveness (pings in flight, missed pings, the silence deadline),
//! and the round trips its answers give.

use std::time::{Duration, Instant};

use crate::{
    config::HeartbeatConfig,
    duration::deadline_after,
    heartbeat::{Liveness, Tick},
    monitor::Samples,
    Error, ErrorCategory,
};

/// What a heartbeat asks the connection to do.
#[derive(Debug)]
pub(super) enum Beat {
    /// Send ping number `seq`.
    Ping(u64),
    /// No pings on this connection: the silence deadline watches the peer.
    Silent,
    /// The peer is dead.
    Dead(Error),
}

/// Heartbeat schedule and liveness.
#[derive(Debug)]
pub(super) struct Pulse {
    liveness: Liveness,
    interval: Duration,
    next_tick: Instant,
}

impl Pulse {
    pub(super) fn new(heartbeat: &HeartbeatConfig, now: Instant) -> Self {
        Self {
            liveness: Liveness::new(now, heartbeat.effective_timeout(), heartbeat.max_missed),
            interval: heartbeat.interval,
            next_tick: deadline_after(now, heartbeat.interval),
        }
    }

    /// Traffic arrived: the peer is alive.
    pub(super) fn alive(&mut self, now: Instant) {
        self.liveness.on_inbound(now);
    }

    /// A heartbeat while reading waits for our own consumer: the peer
    /// cannot be heard, so it is not blamed (no ping, no missed count, the
    /// silence deadline moves on).
    pub(super) fn hold(&mut self, now: Instant) {
        self.next_tick = deadline_after(now, self.interval);
        self.liveness.restart(now);
    }

    /// The next heartbeat or the silence deadline, whichever comes first.
    pub(super) fn deadline(&self) -> Instant {
        self.next_tick.min(self.liveness.deadline())
    }

    /// The next heartbeat alone (while reading is paused, silence is not
    /// watched).
    pub(super) fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// Whether the heartbeat is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        now >= self.next_tick
    }

    /// A heartbeat at `now`; `pings` says whether the connection sends any
    /// (a protocol or application ping). Missed pings are counted.
    pub(super) fn beat(&mut self, now: Instant, pings: bool, samples: &mut Samples) -> Beat {
        self.next_tick = deadline_after(now, self.interval);
        if !pings {
            return Beat::Silent;
        }
        let missed_before = self.liveness.missed();
        let tick = self.liveness.on_tick(now);
        if self.liveness.missed() > missed_before {
            samples.heartbeats_missed += 1;
        }
        match tick {
            Tick::Dead { silent_for, missed } => Beat::Dead(dead(silent_for, missed)),
            Tick::Ping(seq) => {
                samples.heartbeats_sent += 1;
                Beat::Ping(seq)
            }
        }
    }

    /// The silence deadline: the peer is dead once nothing arrived for the
    /// heartbeat timeout (or too many pings went unanswered).
    pub(super) fn silence(&self, now: Instant) -> Option<Error> {
        match self.liveness.check(now) {
            Some(Tick::Dead { silent_for, missed }) => Some(dead(silent_for, missed)),
            _ => None,
        }
    }

    /// A pong arrived: a round trip when it answers one of our pings.
    pub(super) fn pong(&mut self, payload: &[u8], now: Instant, samples: &mut Samples) {
        if let Some(rtt) = self.liveness.on_pong(payload, now) {
            samples.heartbeats_acked += 1;
            samples.rtts.push(rtt);
        }
    }

    /// An application heartbeat reply arrived: it answers the oldest ping.
    pub(super) fn application_reply(&mut self, now: Instant, samples: &mut Samples) {
        if let Some(rtt) = self.liveness.on_application_reply(now) {
            samples.heartbeats_acked += 1;
            samples.rtts.push(rtt);
        }
    }

    /// When inbound traffic last arrived.
    pub(super) fn last_seen(&self) -> Instant {
        self.liveness.last_seen()
    }
}

fn dead(silent_for: Duration, missed: u32) -> Error {
    Error::new(
        ErrorCategory::Heartbeat,
        format!("heartbeat timed out: silent for {silent_for:.1?}, {missed} pings unanswered"),
    )
}
