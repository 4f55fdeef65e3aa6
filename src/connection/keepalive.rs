//! Keeping a live connection honest: heartbeat ticks, the silence
//! deadline, round-trip samples and the SSE ping URL.

use std::time::{Duration, Instant, SystemTime};

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::{client, sse, ConnectionActor, MONITOR_FLUSH_PERIOD};
use crate::{heartbeat::Tick, Error, ErrorCategory};

/// The shortest wait between two silence checks.
const MIN_SILENCE_CHECK: Duration = Duration::from_millis(1);

impl ConnectionActor {
    pub(super) fn on_heartbeat_tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.ending.is_some() {
            return;
        }
        link.writer.settle_read_buffer();
        let tick = if link.writer.can_ping() {
            let missed_before = link.liveness.missed();
            let tick = link.liveness.on_tick(now);
            if link.liveness.missed() > missed_before {
                self.samples.heartbeats_missed += 1;
            }
            tick
        } else {
            // Receive-only transports are alive while bytes arrive.
            link.liveness.check(now).unwrap_or(Tick::Ping(0))
        };
        let seq = match tick {
            Tick::Ping(seq) => seq,
            Tick::Dead { silent_for, missed } => return self.declare_dead(silent_for, missed, ctx),
        };
        if link.writer.can_ping() {
            match &self.config.heartbeat.application {
                Some(app) => link.writer.send_control((app.make_ping)(seq)),
                None => link.writer.ping(seq),
            }
            self.samples.heartbeats_sent += 1;
        }
        if let (false, Some(url)) = (link.writer.can_ping(), self.config.sse.ping_url.clone()) {
            self.spawn_ping(url, ctx);
        }
        if now.saturating_duration_since(self.last_flush) >= MONITOR_FLUSH_PERIOD {
            self.note_last_seen(now);
            self.flush_samples();
        }
    }

    /// SSE: measures one round trip to the ping URL for the monitor.
    fn spawn_ping(&mut self, url: String, ctx: &mut Context<Self>) {
        self.samples.heartbeats_sent += 1;
        let client = client::client_for(self.tls.as_ref());
        let timeout = self.config.heartbeat.interval;
        let ping = sse::measure_ping(client, url, timeout).into_actor(self);
        ctx.spawn(ping.map(|result, act, _| match result {
            Ok(rtt) => {
                act.samples.heartbeats_acked += 1;
                act.samples.rtts.push(rtt);
            }
            Err(err) => {
                act.samples.heartbeats_missed += 1;
                act.span
                    .in_scope(|| tracing::debug!(error = %err, "ping url failed"));
            }
        }));
    }

    /// Watches the silence deadline: the peer is dead once no inbound
    /// traffic arrived for the heartbeat timeout, whatever the interval.
    /// Runs at connect and re-arms itself at the deadline the latest
    /// traffic set.
    pub(super) fn watch_silence(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        if link.ending.is_some() {
            return;
        }
        let now = Instant::now();
        if let Some(Tick::Dead { silent_for, missed }) = link.liveness.check(now) {
            return self.declare_dead(silent_for, missed, ctx);
        }
        let wait = link.liveness.deadline().saturating_duration_since(now);
        ctx.run_later(wait.max(MIN_SILENCE_CHECK), Self::watch_silence);
    }

    fn declare_dead(&mut self, silent_for: Duration, missed: u32, ctx: &mut Context<Self>) {
        let error = Error::new(
            ErrorCategory::Heartbeat,
            format!("heartbeat timed out: silent for {silent_for:.1?}, {missed} pings unanswered"),
        );
        self.connection_lost(error, ctx);
    }

    fn note_last_seen(&mut self, now: Instant) {
        if let Some(link) = &self.link {
            let ago = now.saturating_duration_since(link.liveness.last_seen());
            self.samples.last_seen = SystemTime::now().checked_sub(ago);
        }
    }

    /// Inbound traffic arrived (hot path: once per batch of frames).
    pub(super) fn inbound_alive(&mut self, now: Instant) {
        if let Some(link) = self.link.as_mut() {
            link.liveness.on_inbound(now);
        }
    }

    pub(super) fn pong_received(&mut self, payload: &[u8], now: Instant) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if let Some(rtt) = link.liveness.on_pong(payload, now) {
            self.samples.heartbeats_acked += 1;
            self.samples.rtts.push(rtt);
        }
    }
}
