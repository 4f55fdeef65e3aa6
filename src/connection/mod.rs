//! `ConnectionActor`: one endpoint's lifecycle, written once over a small
//! transport abstraction.
//!
//! The actor runs under `actix::Supervisor`. Every lost connection stops the
//! actor's context, which drops the socket, its stream and every timer; the
//! supervisor restarts the same actor value at once, so its address, mailbox,
//! subscribers and counters survive, and `started` schedules the next attempt
//! after the backoff delay (actix itself restarts without waiting).
//!
//! A transport (WebSocket today) contributes three things: a connect future,
//! a stream handler that turns inbound frames into calls to the lifecycle
//! methods here, and a [`Writer`](transport::Writer) variant.

mod client;
mod fragments;
mod handlers;
mod hints;
mod sse;
mod transport;
mod ws;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Supervised, WrapFuture};
use futures::channel::oneshot;

pub(crate) use self::handlers::{
    Close, ForceReconnect, QueryStatus, Subscribe, Unsubscribe, Write,
};
pub use self::handlers::{EndpointStatus, Subscriber};
use self::transport::{Reader, Resume, Writer};
use crate::{
    close::CloseAction,
    config::{EndpointConfig, OnAuthFailure},
    heartbeat::{Liveness, Tick},
    monitor::{MonitorActor, Samples, SamplesObserved},
    retry::{NextAttempt, RetryState, Urgency},
    subscribers::Subscribers,
    ConnectionState, EndpointId, Error, ErrorCategory, MessageReceived, MessagesReceived, Payload,
    StatusChanged,
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

/// Why a live connection is ending.
#[derive(Debug, Clone)]
struct Loss {
    error: Error,
    urgency: Urgency,
}

/// The close handshake in progress on a live connection.
#[derive(Debug)]
enum Ending {
    /// We sent a close frame and wait for the peer's.
    ByUs,
    /// The peer closed; we echoed and wait for the socket to finish.
    ByPeer(Loss),
}

/// One live connection: dropped (with its socket) when the actor restarts.
#[derive(Debug)]
struct Link {
    writer: Writer,
    reader: Reader,
    liveness: Liveness,
    ending: Option<Ending>,
}

/// Owns one endpoint: connects, keeps the connection alive with heartbeats,
/// reconnects with backoff and fans events out to subscribers.
///
/// Created and addressed only by the [`SupervisorActor`](crate::SupervisorActor).
#[derive(Debug)]
pub struct ConnectionActor {
    id: EndpointId,
    config: Arc<EndpointConfig>,
    tls: Option<Arc<rustls::ClientConfig>>,
    span: tracing::Span,
    state: ConnectionState,
    next: Next,
    retry: RetryState,
    generation: u64,
    link: Option<Link>,
    resume: Resume,
    /// SSE: the reconnection time the server set with `retry:`.
    retry_floor: Option<Duration>,
    monitor: actix::Addr<MonitorActor>,
    status_subs: Subscribers<StatusChanged>,
    message_subs: Subscribers<MessageReceived>,
    batch_subs: Subscribers<MessagesReceived>,
    samples: Samples,
    last_flush: Instant,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl ConnectionActor {
    pub(crate) fn new(
        id: EndpointId,
        config: Arc<EndpointConfig>,
        tls: Option<Arc<rustls::ClientConfig>>,
        monitor: actix::Addr<MonitorActor>,
    ) -> Self {
        let span = tracing::info_span!(
            "endpoint",
            id = %id,
            url = %crate::redact::redact_url(&config.url),
        );
        let retry = RetryState::new(config.policy(), config.max_attempts, config.reset_after);
        Self {
            id,
            config,
            tls,
            span,
            state: ConnectionState::Disconnected,
            next: Next::Connect(Duration::ZERO),
            retry,
            generation: 0,
            link: None,
            resume: Resume::default(),
            retry_floor: None,
            monitor,
            status_subs: Subscribers::default(),
            message_subs: Subscribers::default(),
            batch_subs: Subscribers::default(),
            samples: Samples::default(),
            last_flush: Instant::now(),
            close_waiters: Vec::new(),
        }
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
            at: SystemTime::now(),
        };
        self.monitor.do_send(event.clone());
        self.status_subs.deliver(event);
    }

    fn flush_samples(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let samples = std::mem::take(&mut self.samples);
        self.last_flush = Instant::now();
        self.monitor.do_send(SamplesObserved {
            endpoint: self.id.clone(),
            samples,
        });
    }

    /// Starts one attempt; the outcome arrives in `on_connected` or `on_attempt_failed`.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.transition(ConnectionState::Connecting, None, None);
        let client = client::client_for(self.tls.as_ref());
        let attempt = transport::connect(client, &self.config, &self.resume);
        ctx.spawn(
            attempt
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(conn) => act.on_connected(conn, ctx),
                    Err(err) => act.on_attempt_failed(err, ctx),
                }),
        );
    }

    fn on_connected(&mut self, conn: transport::Connected, ctx: &mut Context<Self>) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        let now = Instant::now();
        self.generation += 1;
        self.retry.on_connected(now);
        let (reader, writer) = transport::attach(conn, &self.config, &mut self.resume, ctx);
        let heartbeat = &self.config.heartbeat;
        self.link = Some(Link {
            writer,
            reader,
            liveness: Liveness::new(now, heartbeat.effective_timeout(), heartbeat.max_missed),
            ending: None,
        });
        ctx.run_interval(heartbeat.interval, Self::on_heartbeat_tick);
        self.transition(ConnectionState::Connected, None, None);
    }

    fn on_attempt_failed(&mut self, error: Error, ctx: &mut Context<Self>) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        if error.http_status() == Some(204) {
            // SSE: the server asks us to stop for good.
            return self.finish_close(Some(error), ctx);
        }
        let urgency = match error.category() {
            ErrorCategory::Protocol => self.fault_urgency(),
            _ => Urgency::Backoff,
        };
        self.retry_or_fail(Loss { error, urgency }, ctx);
    }

    fn fault_urgency(&self) -> Urgency {
        Urgency::Fault {
            floor: self.config.protocol_fault_delay,
            cap: self.config.max_protocol_faults,
        }
    }

    /// Decides between Reconnecting (with a delay) and Failed, then restarts
    /// the actor so the old connection and its timers are dropped.
    fn retry_or_fail(&mut self, loss: Loss, ctx: &mut Context<Self>) {
        self.harvest_resume();
        let Loss { error, urgency } = loss;
        let retry = error.is_recoverable()
            || (error.category() == ErrorCategory::Auth
                && self.config.on_auth_failure == OnAuthFailure::Retry);
        if !retry {
            self.transition(ConnectionState::Failed, Some(error), None);
            self.next = Next::Idle;
        } else {
            let hint = error.retry_after().max(self.retry_floor);
            match self.retry.on_failure(Instant::now(), urgency, hint) {
                NextAttempt::After { delay, .. } => {
                    self.transition(ConnectionState::Reconnecting, Some(error), Some(delay));
                    self.next = Next::Connect(delay);
                }
                NextAttempt::GiveUp { attempts } => {
                    let exhausted = Error::new(
                        ErrorCategory::Exhausted,
                        format!(
                            "max attempts reached after {attempts} failures; last error: {error}"
                        ),
                    );
                    self.transition(ConnectionState::Failed, Some(exhausted), None);
                    self.next = Next::Idle;
                }
            }
        }
        ctx.stop();
    }

    /// Keeps what the next connection resumes from (SSE last event id and
    /// `retry:`), before the live connection is dropped.
    fn harvest_resume(&mut self) {
        if let Some(Link {
            reader: Reader::Sse(parser),
            ..
        }) = self.link.as_mut()
        {
            self.resume.last_event_id = parser.last_event_id().clone();
            if let Some(retry) = parser.take_retry() {
                self.retry_floor = Some(retry);
            }
        }
    }

    /// The live connection failed (transport error, heartbeat, peer close).
    fn connection_lost(&mut self, loss: Loss, ctx: &mut Context<Self>) {
        if !self.state.is_up() {
            return;
        }
        self.retry_or_fail(loss, ctx);
    }

    /// The peer sent a close frame.
    fn peer_closed(
        &mut self,
        code: Option<u16>,
        description: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        match self.link.as_ref().map(|link| &link.ending) {
            None | Some(Some(Ending::ByPeer(_))) => return,
            Some(Some(Ending::ByUs)) => return self.finish_close(None, ctx),
            Some(None) => {}
        }
        let action = self.config.close_policy.action(code);
        let detail = match (&code, &description) {
            (Some(c), Some(d)) if !d.is_empty() => format!("peer closed with code {c}: {d}"),
            (Some(c), _) => format!("peer closed with code {c}"),
            (None, _) => "peer closed without a code".to_owned(),
        };
        let (category, urgency, hint) = match action {
            CloseAction::Reconnect => (ErrorCategory::ClosedByPeer, Urgency::Prompt, None),
            CloseAction::Backoff => {
                let hint = (code == Some(1013)).then_some(self.config.try_again_later);
                (ErrorCategory::ClosedByPeer, Urgency::Backoff, hint)
            }
            CloseAction::ProtocolFault => (ErrorCategory::Protocol, self.fault_urgency(), None),
            CloseAction::Stop => {
                let category = if code == Some(1008) {
                    ErrorCategory::Auth
                } else {
                    ErrorCategory::ClosedByPeer
                };
                (category, Urgency::Backoff, None)
            }
        };
        let error = Error::new(category, detail)
            .with_recoverable(action != CloseAction::Stop)
            .with_close_code(code)
            .with_retry_after(hint);
        let Some(link) = self.link.as_mut() else {
            return;
        };
        // Echo the close (RFC 6455 §5.5.1), flush it, then act.
        link.writer.close(code.unwrap_or(1000), "", true);
        link.ending = Some(Ending::ByPeer(Loss { error, urgency }));
        ctx.run_later(self.config.close_timeout, Self::socket_finished);
    }

    /// The socket is done (read side ended, or our close echo was flushed).
    fn socket_finished(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.ending.take() {
            Some(Ending::ByUs) => self.finish_close(None, ctx),
            Some(Ending::ByPeer(loss)) => self.connection_lost(loss, ctx),
            None => {
                let error = if link.writer.has_close_handshake() {
                    Error::network("connection closed without a close frame")
                        .with_close_code(Some(1006))
                } else {
                    Error::network("event stream ended")
                };
                self.connection_lost(
                    Loss {
                        error,
                        urgency: Urgency::Backoff,
                    },
                    ctx,
                );
            }
        }
    }

    /// Starts a close we own: close frame 1000, then wait up to `close_timeout`.
    fn begin_close(&mut self, ctx: &mut Context<Self>) {
        match self.state {
            ConnectionState::Closed => self.notify_closed(),
            ConnectionState::Closing => {}
            ConnectionState::Connected | ConnectionState::Authenticated => {
                self.transition(ConnectionState::Closing, None, None);
                let Some(link) = self
                    .link
                    .as_mut()
                    .filter(|l| l.writer.has_close_handshake())
                else {
                    // Receive-only transports have no close handshake.
                    return self.finish_close(None, ctx);
                };
                link.writer.close(1000, "", false);
                link.ending = Some(Ending::ByUs);
                ctx.run_later(self.config.close_timeout, |act, ctx| {
                    if act.state == ConnectionState::Closing {
                        act.span.in_scope(|| {
                            tracing::warn!("close handshake timed out; dropping the connection")
                        });
                        act.finish_close(None, ctx);
                    }
                });
            }
            _ => self.finish_close(None, ctx),
        }
    }

    /// Enters Closed for good (a close we own, or a server's stop request).
    fn finish_close(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
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

    fn on_heartbeat_tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.ending.is_some() {
            return;
        }
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
                Some(app) => {
                    // A failed write means the link is ending; that path reports it.
                    let _ = link.writer.send((app.make_ping)(seq));
                }
                None => link.writer.ping(seq),
            }
            self.samples.heartbeats_sent += 1;
        }
        let deadline = link.liveness.deadline();
        if deadline < now + self.config.heartbeat.interval {
            ctx.run_later(
                deadline.saturating_duration_since(now),
                Self::check_deadline,
            );
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

    fn check_deadline(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        if link.ending.is_none() {
            if let Some(Tick::Dead { silent_for, missed }) = link.liveness.check(Instant::now()) {
                self.declare_dead(silent_for, missed, ctx);
            }
        }
    }

    fn declare_dead(&mut self, silent_for: Duration, missed: u32, ctx: &mut Context<Self>) {
        let error = Error::new(
            ErrorCategory::Heartbeat,
            format!("heartbeat timed out: silent for {silent_for:.1?}, {missed} pings unanswered"),
        );
        self.connection_lost(
            Loss {
                error,
                urgency: Urgency::Backoff,
            },
            ctx,
        );
    }

    fn note_last_seen(&mut self, now: Instant) {
        if let Some(link) = &self.link {
            let ago = now.saturating_duration_since(link.liveness.last_seen());
            self.samples.last_seen = SystemTime::now().checked_sub(ago);
        }
    }

    /// Inbound traffic arrived (hot path: once per batch of frames).
    fn inbound_alive(&mut self, now: Instant) {
        if let Some(link) = self.link.as_mut() {
            link.liveness.on_inbound(now);
        }
    }

    fn pong_received(&mut self, payload: &[u8], now: Instant) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if let Some(rtt) = link.liveness.on_pong(payload, now) {
            self.samples.heartbeats_acked += 1;
            self.samples.rtts.push(rtt);
        }
    }

    /// Delivers a batch of inbound payloads, in order (hot path).
    fn deliver(&mut self, mut payloads: Vec<Payload>, now: Instant) {
        if let (Some(app), Some(link)) = (&self.config.heartbeat.application, self.link.as_mut()) {
            let before = payloads.len();
            payloads.retain(|p| !(app.is_reply)(p));
            for _ in payloads.len()..before {
                if let Some(rtt) = link.liveness.on_application_reply(now) {
                    self.samples.heartbeats_acked += 1;
                    self.samples.rtts.push(rtt);
                }
            }
        }
        if payloads.is_empty() {
            return;
        }
        self.samples.messages_in += payloads.len() as u64;
        self.samples.bytes_in += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        if !self.message_subs.is_empty() {
            for payload in &payloads {
                self.message_subs.deliver(MessageReceived {
                    endpoint: self.id.clone(),
                    generation: self.generation,
                    payload: payload.clone(),
                });
            }
        }
        if !self.batch_subs.is_empty() {
            self.batch_subs.deliver(MessagesReceived {
                endpoint: self.id.clone(),
                generation: self.generation,
                payloads: payloads.into(),
            });
        }
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
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
        // The context already dropped the stream and timers; drop the writer
        // (and so the socket) too.
        self.harvest_resume();
        self.link = None;
    }
}
