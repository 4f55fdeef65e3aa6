//! `ConnectionActor`: one endpoint's lifecycle (start, connect, lose,
//! retry, stop) over any [`Transport`](crate::transport::Transport).
//!
//! The actor runs under `actix::Supervisor`. Every lost connection stops the
//! actor's context, which drops the live [`Link`] (and its socket), its
//! drive task and its timer; the supervisor restarts the same actor value
//! at once, so its address, mailbox, subscribers and counters survive, and
//! `started` schedules the next attempt after the backoff delay (actix
//! itself restarts without waiting).
//!
//! What the actor holds is owned by parts: the transport connects, the
//! [`Link`] owns the live connection and its phase, the
//! [`Sender`](crate::sender::Sender) owns outbound messages, the
//! [`Fanout`] owns subscribers, [`RetryState`] the reconnect bookkeeping,
//! and [`failure::verdict`] decides what a failure leads to. `driver`
//! drives the link and keeps one timer at the next deadline; `handlers`
//! answers messages.

mod driver;
mod fanout;
mod handle;
mod handlers;
mod link;
mod outlet;
mod phase;
mod pulse;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Supervised, WrapFuture};
use futures::channel::oneshot;

pub(crate) use self::fanout::Terms;
pub(crate) use self::handlers::{
    Close, ForceReconnect, QueryStatus, Subscribe, Unsubscribe, Write, WriteFor,
};
use self::{fanout::Fanout, link::Link};
pub use self::{fanout::Subscriber, handle::EndpointHandle, handlers::EndpointStatus};
use crate::{
    config::EndpointConfig,
    duration::deadline_after,
    failure,
    monitor::{self, MonitorActor, Samples, SamplesObserved},
    push_queue::PushQueue,
    reconnect_budget::ReconnectBudget,
    retry::{NextAttempt, RetryState},
    sender::Sender,
    transport::{self, Transport},
    verdict::Verdict,
    vitals::Vitals,
    ConnectionState, EndpointId, Error, ErrorCategory, StatusChanged, TransportKind,
};

/// Counters go to the monitor at most this often (and on every state change).
const MONITOR_FLUSH_PERIOD: Duration = Duration::from_secs(5);

/// What `started` does after a (re)start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Attempt a connection after this delay.
    Connect(Duration),
    /// Wait for a forced reconnect (Failed).
    Idle,
    /// Closed for good; the actor ends once its supervisor drops the address.
    Terminated,
}

/// Owns one endpoint: connects, keeps the connection alive with heartbeats,
/// reconnects with backoff and fans events out to subscribers.
///
/// Created and addressed only by the [`SupervisorActor`](crate::SupervisorActor).
// Fields in declaration order (`repr(C)`), the ones every heartbeat and
// every idle pass touch first: the link, the timer's bookkeeping, the
// sender, the fanout and the counters lie together, and what only
// connecting, closing or a state change reads comes after. Under
// callgrind (1,000 endpoints, 1 s ping) it took first-level cache misses
// from 95 to 79 per ping (last-level misses stayed at 47.5).
#[derive(Debug)]
#[repr(C)]
pub struct ConnectionActor {
    link: Option<Link>,
    /// The next deadline of the link or the sender: the drive task's
    /// timer is set to it.
    deadline: Option<Instant>,
    /// When the periodic flush of the counters is next due.
    flush_due: Instant,
    /// Its hot part inline (is reading paused, is there a queue), its
    /// lists boxed.
    fanout: Fanout,
    generation: u64,
    /// The outbox depth last written to the vitals (an idle pass then
    /// leaves their cache line alone).
    reported_queued: usize,
    /// The drive task is polling (it moves its timer itself: no wake).
    driving: bool,
    state: ConnectionState,
    sender: Sender,
    /// Its heartbeat counters first: the traffic counters after them are
    /// left alone by an idle connection, so they come last.
    samples: Samples,
    /// The push queue the sender takes from, shared with each live link
    /// (which reads its depth to leave it alone while nothing waits).
    pushed: Arc<PushQueue>,
    /// State, up time and round trips, for handles and group routing.
    vitals: Arc<Vitals>,
    config: Arc<EndpointConfig>,
    monitor: actix::Addr<MonitorActor>,
    id: EndpointId,
    /// The inbound queue depth last reported to the monitor.
    reported_depth: Option<(u64, u64)>,
    /// The pump task, while there is no drive task (which pumps itself).
    pump: Option<actix::SpawnHandle>,
    next: Next,
    retry: RetryState,
    /// The supervisor's pace for automatic reconnects, shared.
    reconnect_budget: Option<Arc<ReconnectBudget>>,
    /// The ownership epoch it was added with ([`AddEndpoint::epoch`](crate::AddEndpoint::epoch)).
    epoch: Option<u64>,
    tls: Option<Arc<rustls::ClientConfig>>,
    span: tracing::Span,
    transport: Box<dyn Transport>,
    close_waiters: Vec<oneshot::Sender<()>>,
    /// What messages still queued when a close we started ends are told.
    closing_error: Option<Error>,
}

impl ConnectionActor {
    /// A connection actor; made on the arbiter thread it runs on (the
    /// transport may hold thread-bound state).
    pub(crate) fn new(
        id: EndpointId,
        config: Arc<EndpointConfig>,
        tls: Option<Arc<rustls::ClientConfig>>,
        monitor: actix::Addr<MonitorActor>,
        reconnect_budget: Option<Arc<ReconnectBudget>>,
        pushed: Arc<PushQueue>,
        vitals: Arc<Vitals>,
    ) -> Self {
        let span = tracing::info_span!(
            "endpoint",
            id = %id,
            url = %crate::redact::redact_url(&config.url),
        );
        let retry = RetryState::new(config.policy(), config.max_attempts, config.reset_after)
            .with_max_faults(config.max_protocol_faults)
            .with_spread(
                config.reconnect_spread,
                crate::backoff::SplitMix64::from_entropy(),
            );
        Self {
            transport: transport_for(&config, tls.clone()),
            sender: Sender::new(&config, Arc::clone(&pushed)),
            pushed,
            id,
            config,
            tls,
            span,
            state: ConnectionState::Disconnected,
            next: Next::Connect(Duration::ZERO),
            retry,
            reconnect_budget,
            generation: 0,
            epoch: None,
            link: None,
            deadline: None,
            driving: false,
            fanout: Fanout::default(),
            monitor,
            samples: Samples::default(),
            flush_due: deadline_after(Instant::now(), MONITOR_FLUSH_PERIOD),
            close_waiters: Vec::new(),
            reported_depth: None,
            pump: None,
            closing_error: None,
            vitals,
            reported_queued: 0,
        }
    }

    /// Sets the ownership epoch its events carry.
    pub(crate) fn set_epoch(&mut self, epoch: Option<u64>) {
        self.epoch = epoch;
    }

    fn transition(
        &mut self,
        to: ConnectionState,
        reason: Option<Error>,
        next_delay: Option<Duration>,
    ) {
        let from = self.state;
        if !from.can_move_to(to) {
            self.span
                .in_scope(|| tracing::error!(%from, %to, "bug: illegal state transition ignored"));
            debug_assert!(false, "illegal state transition {from} -> {to}");
            return;
        }
        self.flush_samples();
        self.state = to;
        self.vitals.set_state(to, Instant::now());
        self.pushes_follow_state();
        self.span.in_scope(|| match (&reason, to) {
            (Some(err), ConnectionState::Reconnecting) => {
                tracing::warn!(%from, %to, error = %err, attempt = self.retry.failures(), ?next_delay, "connection lost, retrying")
            }
            (Some(err), _) => tracing::warn!(%from, %to, error = %err, "state changed"),
            (None, _) => tracing::info!(%from, %to, generation = self.generation, "state changed"),
        });
        let event = StatusChanged {
            endpoint: self.id.clone(),
            from,
            to,
            reason,
            attempt: self.retry.failures(),
            next_delay,
            generation: self.generation,
            epoch: self.epoch,
            at: SystemTime::now(),
        };
        self.monitor.do_send(event.clone());
        self.fanout.status(event);
    }

    /// An inbound subscriber was removed (it overflowed its queue, or an
    /// inline handler panicked): logged, and status subscribers get a
    /// notice (`from == to`, no transition).
    fn subscriber_dropped(&mut self, dropped: &fanout::Dropped) {
        let reason = match dropped {
            fanout::Dropped::Overflowed(depth) => Error::new(
                ErrorCategory::Overflow,
                format!(
                    "an inbound subscriber was dropped: its queue held {} messages ({} bytes)",
                    depth.messages, depth.bytes
                ),
            ),
            fanout::Dropped::Panicked(message) => Error::new(
                ErrorCategory::Endpoint,
                format!("an inline handler panicked and was removed: {message}"),
            ),
        };
        self.span
            .in_scope(|| tracing::warn!(error = %reason, "subscriber dropped"));
        let event = StatusChanged {
            endpoint: self.id.clone(),
            from: self.state,
            to: self.state,
            reason: Some(reason),
            attempt: self.retry.failures(),
            next_delay: None,
            generation: self.generation,
            epoch: self.epoch,
            at: SystemTime::now(),
        };
        self.monitor.do_send(event.clone());
        self.fanout.status(event);
    }

    /// Writes the outbox depth to the vitals when it changed.
    fn report_queued(&mut self) {
        let queued = self.sender.queued();
        if queued != self.reported_queued {
            self.reported_queued = queued;
            self.vitals.set_queued(queued);
        }
    }

    /// Pushes are refused while the endpoint takes no sends; what a failed
    /// or closed endpoint still held is dropped, counted and logged.
    fn pushes_follow_state(&mut self) {
        let ended = matches!(
            self.state,
            ConnectionState::Failed | ConnectionState::Closed
        );
        if let Some(dropped) = self.sender.pushes_follow(self.refusal(), ended) {
            self.span.in_scope(|| {
                tracing::warn!(dropped, state = %self.state, "pushed messages were not delivered")
            });
        }
    }

    /// Sends the counters to the monitor now (before a state change, so
    /// they arrive ahead of it).
    fn flush_samples(&mut self) {
        if let Some(samples) = self.take_samples() {
            self.monitor.do_send(SamplesObserved {
                batch: vec![(self.id.clone(), samples)],
            });
        }
    }

    /// Sends the counters to the monitor with the others this thread
    /// flushes in the same turn (the periodic flush).
    fn flush_samples_soon(&mut self) {
        if let Some(samples) = self.take_samples() {
            monitor::send_soon(&self.monitor, self.id.clone(), samples);
        }
    }

    /// The counters since the last flush, if any changed.
    fn take_samples(&mut self) -> Option<Samples> {
        let now = Instant::now();
        let figures = self.fanout.take_figures(now);
        self.samples.inbound.paused += figures.paused;
        self.samples.inbound.dropped += figures.dropped;
        self.samples.inbound.subscribers_dropped += figures.subscribers_dropped;
        let depth = self.fanout.depth();
        self.samples.inbound.queued = Some((depth.messages as u64, depth.bytes as u64));
        if self.samples.inbound.queued == self.reported_depth {
            self.samples.inbound.queued = None;
        } else {
            self.reported_depth = self.samples.inbound.queued;
        }
        if self.samples.is_empty() {
            return None;
        }
        for rtt in self.samples.rtts.iter() {
            self.vitals.observe_rtt(rtt);
        }
        self.flush_due = deadline_after(now, MONITOR_FLUSH_PERIOD);
        Some(std::mem::take(&mut self.samples))
    }

    /// Starts one attempt once the supervisor's gate (the cluster's shared
    /// pace), if any, admits it.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        match self.reconnect_budget.as_ref().and_then(|b| b.admit()) {
            Some(admitted) => {
                ctx.spawn(
                    admitted
                        .into_actor(self)
                        .map(|_, act: &mut Self, ctx| act.attempt(ctx)),
                );
            }
            None => self.attempt(ctx),
        }
    }

    /// Starts one attempt, bounded by `connect_timeout`; the outcome
    /// arrives in `on_connected` or `on_attempt_failed`.
    fn attempt(&mut self, ctx: &mut Context<Self>) {
        self.transition(ConnectionState::Connecting, None, None);
        let connecting = match self.config.attempt() {
            Ok(attempt) => self.transport.connect(&attempt),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        };
        let timeout = self.config.connect_timeout;
        let slot = self.reconnect_budget.as_ref().map(|b| b.in_flight_slot());
        let bounded = async move {
            // One of the supervisor's slots for attempts in flight
            // (`max_connecting`), held until this attempt ends.
            let _slot = match slot {
                Some(slot) => slot.await,
                None => None,
            };
            actix_rt::time::timeout(timeout, connecting)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::timeout(format!(
                        "connect timed out after {timeout:?}"
                    )))
                })
        };
        ctx.spawn(
            bounded
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(session) => act.on_connected(session, ctx),
                    Err(err) => act.on_attempt_failed(err, ctx),
                }),
        );
    }

    fn on_connected(&mut self, session: Box<dyn transport::Session>, ctx: &mut Context<Self>) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        let now = Instant::now();
        self.generation += 1;
        self.retry.on_connected(now);
        self.link = Some(Link::new(
            session,
            Arc::clone(&self.pushed),
            &self.config.heartbeat,
            self.config.max_burst,
            self.config.close_timeout,
            now,
        ));
        if let Some(pump) = self.pump.take() {
            ctx.cancel_future(pump);
        }
        ctx.spawn(driver::Drive::new());
        self.transition(ConnectionState::Connected, None, None);
        self.begin_session(now);
        self.rearm();
    }

    /// The transport is up: authenticate first if configured, else start.
    fn begin_session(&mut self, now: Instant) {
        if let (Some(auth), Some(link)) = (&self.config.auth, self.link.as_mut()) {
            return link.authenticate((auth.make_request)(), deadline_after(now, auth.timeout));
        }
        self.session_started();
    }

    /// The server accepted our authentication.
    fn authenticated(&mut self) {
        if self.link.as_mut().is_some_and(Link::authenticated) {
            self.transition(ConnectionState::Authenticated, None, None);
            self.session_started();
        }
    }

    /// Data may flow: on-connect messages, then the outbox.
    fn session_started(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        for payload in &self.config.on_connect {
            link.send_priority(payload.clone());
        }
        link.wake();
        self.rearm();
    }

    fn on_attempt_failed(&mut self, error: Error, ctx: &mut Context<Self>) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        self.conclude(error, ctx);
    }

    /// The live connection ended (transport error, heartbeat, peer close).
    fn connection_lost(&mut self, error: Error, ctx: &mut Context<Self>) {
        if !self.state.is_up() {
            return;
        }
        self.conclude(error, ctx);
    }

    /// Acts on the verdict for `error`, which ended an attempt or a live
    /// connection: Reconnecting after a delay, Failed, or Closed. Settles
    /// the messages the connection carried, then restarts the actor so the
    /// old connection and its timers are dropped.
    fn conclude(&mut self, error: Error, ctx: &mut Context<Self>) {
        // Dropping the session leaves what the next attempt resumes from
        // with the transport.
        self.link = None;
        let verdict = failure::verdict(&error, &self.config);
        let error = error.with_recoverable(verdict.is_retry());
        let next = match verdict {
            Verdict::Stop => return self.finish_close(Some(error), ctx),
            Verdict::Fail => None,
            Verdict::Retry { urgency, min_wait } => {
                let floor = self.transport.min_retry_delay().unwrap_or_default();
                let wait = min_wait.max(floor);
                Some(self.retry.on_failure(Instant::now(), urgency, wait))
            }
        };
        match next {
            Some(NextAttempt::After { delay, .. }) => {
                let delay = match &self.reconnect_budget {
                    Some(budget) => budget.reserve(Instant::now(), delay),
                    None => delay,
                };
                self.sender.on_loss(&error, false);
                self.transition(ConnectionState::Reconnecting, Some(error), Some(delay));
                self.next = Next::Connect(delay);
            }
            Some(NextAttempt::GiveUp { attempts }) => {
                let exhausted = Error::new(
                    ErrorCategory::Exhausted,
                    format!("max attempts reached after {attempts} failures; last error: {error}"),
                )
                .with_recoverable(false);
                self.sender.on_loss(&exhausted, true);
                self.transition(ConnectionState::Failed, Some(exhausted), None);
                self.next = Next::Idle;
            }
            None => {
                self.sender.on_loss(&error, true);
                self.transition(ConnectionState::Failed, Some(error), None);
                self.next = Next::Idle;
            }
        }
        ctx.stop();
    }

    /// Starts a close we own: everything accepted goes out, then our close,
    /// then up to `close_timeout` for the peer's answer. `why` is what
    /// messages still queued at the end are told.
    fn begin_close(&mut self, why: Error, ctx: &mut Context<Self>) {
        self.closing_error.get_or_insert(why);
        match self.state {
            ConnectionState::Closed => self.notify_closed(),
            ConnectionState::Closing => {}
            ConnectionState::Connected | ConnectionState::Authenticated => {
                self.transition(ConnectionState::Closing, None, None);
                let now = Instant::now();
                let waits = self.link.as_mut().is_some_and(|link| link.begin_close(now));
                if waits {
                    self.rearm();
                } else {
                    self.finish_close(None, ctx);
                }
            }
            _ => self.finish_close(None, ctx),
        }
    }

    /// Enters Closed for good (a close we own, or a server's stop request)
    /// and reports every message that did not make it.
    fn finish_close(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        let undelivered = self
            .closing_error
            .clone()
            .or_else(|| reason.clone())
            .unwrap_or_else(|| Error::endpoint("endpoint closed"));
        self.sender.fail_all(&undelivered);
        if self.state != ConnectionState::Closed {
            self.transition(ConnectionState::Closed, reason, None);
        }
        self.next = Next::Terminated;
        self.notify_closed();
        ctx.stop();
    }

    fn notify_closed(&mut self) {
        for waiter in self.close_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Why this endpoint takes no sends or pushes now, if it does not.
    fn refusal(&self) -> Option<Error> {
        use ConnectionState::*;
        if !self.config.kind.can_send() {
            return Some(Error::receive_only());
        }
        match self.state {
            Closing | Closed => Some(Error::endpoint("endpoint is closed")),
            Failed => Some(Error::endpoint(
                "endpoint has failed; a forced reconnect revives it",
            )),
            Disconnected | Connecting | Connected | Authenticated | Reconnecting => None,
        }
    }
}

/// The transport an endpoint's config names, made on the connection
/// actor's thread.
fn transport_for(
    config: &EndpointConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Box<dyn Transport> {
    match (&config.transport, config.kind) {
        (Some(factory), _) => factory(),
        (None, TransportKind::Sse) => {
            let settings = transport::SseSettings {
                max_event_size: config.sse.max_event_size,
                liveness_events: config.sse.liveness_events.clone().into(),
                comments: config.sse.comments,
                max_redirects: config.sse.max_redirects,
                // `build()` checked it.
                method: awc::http::Method::from_bytes(config.sse.method.as_bytes())
                    .unwrap_or(awc::http::Method::GET),
                body: config.sse.body.clone(),
                last_event_id: config.sse.last_event_id.as_deref().map(Into::into),
            };
            Box::new(transport::SseTransport::new(settings, tls))
        }
        (None, TransportKind::Tcp) => Box::new(transport::TcpTransport::new(
            config.framing.clone(),
            config.max_message_size,
            tls,
        )),
        (None, _) => Box::new(transport::WsTransport::new(
            config.max_message_size,
            config.compression,
            tls,
        )),
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.pump = Some(ctx.spawn(driver::Pump));
        match self.next {
            Next::Connect(delay) if delay.is_zero() => self.connect(ctx),
            Next::Connect(delay) => {
                ctx.run_later(delay, Self::connect);
            }
            Next::Idle | Next::Terminated => {}
        }
    }
}

impl Supervised for ConnectionActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The context already dropped the drive task (and its timer);
        // drop the link (and so the socket) too.
        self.link = None;
        self.deadline = None;
        self.driving = false;
        self.pump = None;
    }
}
