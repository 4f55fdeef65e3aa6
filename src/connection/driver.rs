//! What the actor does with its live link: the one task that polls it,
//! each burst it reads (authentication verdicts, acknowledgements and
//! heartbeat replies are consumed, the rest goes to subscribers), how it
//! ends, and the one timer at the next deadline (heartbeat, silence,
//! authentication, close, acknowledgements, a filling batch).

use std::{
    pin::Pin,
    task::{self, Poll},
    time::{Duration, Instant, SystemTime},
};

use actix::{ActorFuture, ActorFutureExt, AsyncContext, Context, WrapFuture};
use actix_rt::time::{sleep_until, Sleep};
use futures::Future;
use pin_project_lite::pin_project;

use super::{
    link::{Beat, End, Outgoing},
    phase::{Expired, Phase},
    ConnectionActor,
};
use crate::{
    delivery::AuthReply, transport::http, ConnectionState, Error, ErrorCategory, Payload, Payloads,
    TransportKind,
};

/// Deadlines one poll of the drive task acts on before it yields (a
/// deadline already past when re-armed must not hold the thread).
const MAX_DEADLINES_PER_POLL: usize = 4;

pin_project! {
    /// The task that drives the live link and owns its one timer; one per
    /// connection, dropped with it when the actor restarts.
    ///
    /// The timer is one `Sleep`, held in the task itself (no allocation of
    /// its own: a heartbeat touches one allocation for the task and its
    /// timer) and reset to each next deadline, never re-made: a heartbeat
    /// costs one wake-up of the task and no allocation, and whatever a
    /// deadline queued is written in the same poll.
    pub(super) struct Drive {
        // How the link ended, held for one turn after its last burst was
        // delivered, with the connection's generation. Boxed: this cold
        // field would otherwise be most of the task, and widen the span of
        // cache lines every poll touches (an error is about 50 bytes).
        ended: Option<Box<(u64, End)>>,
        // The instant the timer is set to (`None`: not set yet).
        at: Option<Instant>,
        // The timer was polled at `at` and is pending: its wake-up is
        // registered, so whether it fired is read without polling it again.
        waiting: bool,
        #[pin]
        sleep: Sleep,
    }
}

/// Where an unset timer sleeps until (it is reset before it is polled).
const UNSET: Duration = Duration::from_secs(86_400 * 365);

impl Drive {
    /// A drive task whose timer is not set yet; made on the actor's thread
    /// (the timer belongs to its runtime).
    pub(super) fn new() -> Self {
        Self {
            ended: None,
            at: None,
            waiting: false,
            sleep: sleep_until((Instant::now() + UNSET).into()),
        }
    }

    /// Whether the timer, moved to `deadline` first, has fired.
    fn deadline_passed(
        self: Pin<&mut Self>,
        deadline: Option<Instant>,
        cx: &mut task::Context<'_>,
    ) -> bool {
        let Some(at) = deadline else {
            return false;
        };
        let mut this = self.project();
        if *this.at != Some(at) {
            *this.at = Some(at);
            *this.waiting = false;
            this.sleep.as_mut().reset(at.into());
        } else if *this.waiting {
            *this.waiting = !this.sleep.is_elapsed();
            return !*this.waiting;
        }
        *this.waiting = this.sleep.poll(cx).is_pending();
        !*this.waiting
    }
}

impl ActorFuture<ConnectionActor> for Drive {
    type Output = ();

    fn poll(
        mut self: Pin<&mut Self>,
        act: &mut ConnectionActor,
        ctx: &mut Context<ConnectionActor>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        // The pump's part first (this task stands in for it).
        act.pump(cx);
        if let Some(ended) = self.as_mut().project().ended.take() {
            let (generation, end) = *ended;
            // The subscribers have had their turn: now the close, the
            // status change and the reconnect (unless the connection was
            // replaced meanwhile).
            if generation == act.generation && act.link.is_some() {
                act.ended(end, ctx);
            }
            return act.drive_done(ctx);
        }
        act.driving = true;
        let mut deadlines = 0;
        let polled = 'pass: loop {
            // One clock reading serves the pass and the deadlines met
            // after it: a timer that fired was due before this poll began.
            let now = Instant::now();
            match act.drive(ctx, cx, now) {
                Driven::Pending => {}
                Driven::Done => break Poll::Ready(()),
                Driven::EndedAfterDelivery(end) => {
                    // Messages read with the end went to subscribers, whose
                    // tasks were woken by the delivery: they run before this
                    // task's next turn, so they get the messages before the
                    // cold path of a close and a reconnect runs.
                    *self.as_mut().project().ended = Some(Box::new((act.generation, end)));
                    cx.waker().wake_by_ref();
                    break Poll::Pending;
                }
            }
            // Deadlines are met after the pass read what arrived.
            while self.as_mut().deadline_passed(act.deadline, cx) {
                if deadlines == MAX_DEADLINES_PER_POLL {
                    cx.waker().wake_by_ref();
                    break 'pass Poll::Pending;
                }
                deadlines += 1;
                act.deadline = None;
                act.on_deadline(now, ctx);
                if act.wants_pass() {
                    continue 'pass;
                }
            }
            break Poll::Pending;
        };
        act.driving = false;
        match polled {
            Poll::Ready(()) => act.drive_done(ctx),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What one pass of the link came to.
pub(super) enum Driven {
    /// The link lives on.
    Pending,
    /// The link is gone (or its end was handled).
    Done,
    /// The link ended right after a burst was delivered: the end is
    /// handled on the next turn.
    EndedAfterDelivery(End),
}

/// The task that moves inbound events on as subscribers' queues drain, and
/// resumes reading after a pause, while the actor has no drive task (which
/// does the same on each of its polls: a live connection's wake-up then
/// polls one task of the actor, not two); cancelled when a drive task
/// starts, made again on restart.
pub(super) struct Pump;

impl ActorFuture<ConnectionActor> for Pump {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut ConnectionActor,
        _: &mut Context<ConnectionActor>,
        cx: &mut task::Context<'_>,
    ) -> Poll<()> {
        act.pump(cx);
        Poll::Pending
    }
}

impl ConnectionActor {
    /// The drive task ends (the link is gone, and the actor restarts in
    /// the same turn, which drops every task): a pump takes its place
    /// until then.
    fn drive_done(&mut self, ctx: &mut Context<Self>) -> Poll<()> {
        self.pump = Some(ctx.spawn(Pump));
        Poll::Ready(())
    }

    /// Moves inbound events on as subscribers' queues drain, and resumes
    /// reading after a pause (subscribers wake the actor's task).
    #[inline]
    fn pump(&mut self, cx: &mut task::Context<'_>) {
        self.fanout.set_pump(cx.waker());
        if !self.fanout.unsettled() {
            return;
        }
        if let Some(paused) = self.fanout.settle(Instant::now()) {
            self.span
                .in_scope(|| tracing::debug!(?paused, "reading resumed: subscribers caught up"));
            self.sender.postpone_acks(paused);
            if let Some(link) = &self.link {
                link.wake();
            }
        }
    }

    /// One pass of the link; what it read is handled, then how it ended.
    fn drive(
        &mut self,
        ctx: &mut Context<Self>,
        cx: &mut task::Context<'_>,
        now: Instant,
    ) -> Driven {
        let Some(link) = self.link.as_mut() else {
            return Driven::Done;
        };
        let mut out = Outgoing {
            sender: &mut self.sender,
            samples: &mut self.samples,
            generation: self.generation,
            now,
        };
        // An authentication verdict is always read: a pause must not turn
        // into a false authentication timeout.
        let read = !self.fanout.is_paused() || matches!(link.phase(), Phase::Authenticating { .. });
        let mut pass = link.pass();
        link.poll(cx, &mut out, read, &mut pass);
        let ending = link.phase().is_ending();
        // The burst goes out first: the subscribers' tasks are woken
        // before the pass's bookkeeping (on a shared thread they run
        // right after this task).
        let burst = pass.inbound.take_burst();
        let delivered = burst.is_some();
        if let Some(burst) = burst {
            self.receive(burst, pass.authenticating, now, ctx);
        }
        if let Some(error) = pass.refused.take() {
            self.span.in_scope(|| {
                tracing::warn!(error = %error, "a message sent ahead of the outbox was refused and dropped")
            });
        }
        let Some(link) = self.link.as_mut() else {
            return Driven::Done;
        };
        link.pongs(&mut pass.inbound, now, &mut self.samples);
        self.report_queued();
        match pass.end {
            Some(end) if delivered => Driven::EndedAfterDelivery(end),
            Some(end) => {
                self.ended(end, ctx);
                Driven::Done
            }
            None => {
                // A close under way has its own deadline.
                if ending || self.sender.has_deadlines() {
                    self.rearm();
                }
                Driven::Pending
            }
        }
    }

    /// The link ended: a close we started completes, a peer's close
    /// concludes with the peer's reason, anything else is a lost connection.
    fn ended(&mut self, end: End, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        if self.state == ConnectionState::Closing {
            // Our close (perhaps started after the peer's) is complete.
            return self.finish_close(None, ctx);
        }
        match (link.phase(), end) {
            (Phase::ClosingByUs { .. }, _) => self.finish_close(None, ctx),
            (Phase::ClosedByPeer { error, .. }, _) => {
                let error = Error::clone(error);
                self.connection_lost(error, ctx);
            }
            (_, End::Failed(error)) => self.connection_lost(error, ctx),
            (_, End::Finished) => {
                let error = Error::new(ErrorCategory::ClosedByPeer, "the peer ended the stream");
                self.connection_lost(error, ctx);
            }
        }
    }

    /// Handles a burst of inbound payloads, in order (hot path: once per
    /// burst). The payloads are taken out of the burst only when something
    /// may consume some of them (an authentication reply, an
    /// acknowledgement, an application heartbeat reply); otherwise the
    /// burst goes to subscribers as it was read.
    fn receive(
        &mut self,
        burst: Payloads,
        authenticating: bool,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        let authenticating = authenticating && self.config.auth.is_some();
        let app_replies = self.config.heartbeat.application.is_some();
        let mut verdict = None;
        let burst = if authenticating || app_replies || self.sender.takes_acks() {
            let mut payloads = burst.into_vec();
            verdict = authenticating
                .then(|| self.take_auth_verdict(&mut payloads))
                .flatten();
            self.sender.take_acks(&mut payloads, self.generation);
            if let (Some(app), Some(link)) =
                (&self.config.heartbeat.application, self.link.as_mut())
            {
                let before = payloads.len();
                payloads.retain(|p| !(app.is_reply)(p));
                for _ in payloads.len()..before {
                    link.application_reply(now, &mut self.samples);
                }
            }
            Payloads::from(payloads)
        } else {
            burst
        };
        if !burst.is_empty() {
            self.samples.messages_in += burst.len() as u64;
            self.samples.bytes_in += burst.byte_len() as u64;
            let was_paused = self.fanout.is_paused();
            let overflowed =
                self.fanout
                    .publish(&self.id, (self.generation, self.epoch), burst, now);
            if !was_paused && self.fanout.is_paused() {
                self.span.in_scope(|| {
                    tracing::debug!("reading paused: a subscriber's inbound queue is full")
                });
            }
            for dropped in overflowed {
                self.subscriber_dropped(&dropped);
            }
            if let Some(paused) = self.fanout.take_resumed() {
                self.sender.postpone_acks(paused);
            }
        }
        match verdict {
            Some(AuthReply::Accepted) => self.authenticated(),
            Some(AuthReply::Rejected(reason)) => {
                let error = Error::new(
                    ErrorCategory::Auth,
                    format!("authentication rejected: {reason}"),
                );
                self.connection_lost(error, ctx);
            }
            Some(AuthReply::NotMine) | None => {}
        }
    }

    /// While authenticating: removes and returns the first verdict.
    fn take_auth_verdict(&mut self, payloads: &mut Vec<Payload>) -> Option<AuthReply> {
        let auth = self.config.auth.as_ref()?;
        let (i, verdict) =
            payloads
                .iter()
                .enumerate()
                .find_map(|(i, p)| match (auth.check_reply)(p) {
                    AuthReply::NotMine => None,
                    verdict => Some((i, verdict)),
                })?;
        payloads.remove(i);
        Some(verdict)
    }

    /// Keeps the drive task's timer at the earliest deadline of the link
    /// and the sender, moving a later one earlier (the drive task moves its
    /// timer when it next polls; it is woken for that unless it is the
    /// caller).
    pub(super) fn rearm(&mut self) {
        self.rearm_at(Instant::now());
    }

    /// [`rearm`](Self::rearm) with the clock read at `now`.
    fn rearm_at(&mut self, now: Instant) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let mut due = link.next_deadline();
        // Acknowledgements cannot arrive while reading is paused: their
        // deadlines wait (and move by the pause when it ends).
        let acks = !self.fanout.is_paused();
        if let Some(sender_due) = self.sender.next_deadline(link.writes_data(), acks, now) {
            due = due.min(sender_due);
        }
        if self.deadline.is_some_and(|at| at <= due) {
            return;
        }
        self.deadline = Some(due);
        if !self.driving {
            link.wake();
        }
    }

    /// Whether the link needs a pass after a deadline: something waits to
    /// be written (a heartbeat ping is written at once when the socket has
    /// room, and queued with a wake-up when not), or the link is gone.
    fn wants_pass(&self) -> bool {
        self.link.as_ref().is_none_or(|link| {
            link.has_output() || self.sender.queued() > 0 || link.pushes_waiting()
        })
    }

    /// The timer fired (in the drive task, which makes another pass when
    /// [`wants_pass`](Self::wants_pass)): acts on whatever is due, then
    /// re-arms.
    fn on_deadline(&mut self, now: Instant, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        match link.expired(now) {
            Some(Expired::Auth) => {
                let timeout = self.config.auth.as_ref().map(|a| a.timeout);
                let error = Error::new(
                    ErrorCategory::Auth,
                    format!("authentication timed out after {timeout:?}"),
                );
                return self.connection_lost(error, ctx);
            }
            Some(Expired::OurClose) => {
                self.span.in_scope(|| {
                    tracing::warn!("close handshake timed out; dropping the connection")
                });
                return self.finish_close(None, ctx);
            }
            Some(Expired::PeerClose) if self.state == ConnectionState::Closing => {
                return self.finish_close(None, ctx);
            }
            Some(Expired::PeerClose) => {
                if let Some(error) = link.peer_close_error() {
                    self.connection_lost(error, ctx);
                }
                return;
            }
            None => {}
        }
        if let Some(error) = link.silence(now) {
            return self.connection_lost(error, ctx);
        }
        if link.tick_due(now) {
            self.heartbeat(now, ctx);
        }
        if !self.fanout.is_paused() {
            self.sender.expire(now);
        }
        self.rearm_at(now);
    }

    /// A heartbeat: a ping where the connection has one (or an application
    /// ping), a round trip to the ping URL where it has neither, and the
    /// monitor's figures every few seconds.
    fn heartbeat(&mut self, now: Instant, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        // The endpoint's config is read only when it has an application
        // heartbeat: an idle connection's beat stays off its cache lines.
        let app = if link.has_application_heartbeat() {
            self.config.heartbeat.application.as_ref()
        } else {
            None
        };
        if let Beat::Dead(error) = link.beat(now, app, &mut self.samples) {
            return self.connection_lost(error, ctx);
        }
        if !link.measures_rtt(app.is_some()) {
            if let Some(url) = &self.config.sse.ping_url {
                let target = crate::url::check(url, TransportKind::Sse.schemes());
                self.spawn_ping(target, ctx);
            }
        }
        if now >= self.flush_due {
            if let Some(link) = &self.link {
                let ago = now.saturating_duration_since(link.last_seen());
                self.samples.last_seen = SystemTime::now().checked_sub(ago);
            }
            self.flush_samples_soon();
        }
    }

    /// Measures one round trip to the ping URL for the monitor.
    fn spawn_ping(
        &mut self,
        target: Result<crate::url::Target, crate::url::UrlProblem>,
        ctx: &mut Context<Self>,
    ) {
        self.samples.heartbeats_sent += 1;
        let client = http::client_for(self.tls.as_ref());
        let timeout = self.config.heartbeat.interval;
        let ping = async move {
            let target = target.map_err(|problem| {
                Error::from(crate::ConfigError::new("sse.ping_url", problem.to_string()))
            })?;
            http::measure_ping(client, target, timeout).await
        }
        .into_actor(self);
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
}
