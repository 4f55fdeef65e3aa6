//! `ConnectionActor`: one endpoint's lifecycle, written once over a small
//! transport abstraction.
//!
//! The actor runs under `actix::Supervisor`. Every lost connection stops the
//! actor's context, which drops the socket, its stream and every timer; the
//! supervisor restarts the same actor value at once, so its address, mailbox,
//! subscribers and counters survive, and `started` schedules the next attempt
//! after the backoff delay (actix itself restarts without waiting).
//!
//! A transport (WebSocket, SSE) contributes a connect future, a reader that
//! turns inbound frames into calls to the lifecycle methods, and a
//! [`Writer`](transport::Writer) variant; see `transport`. The lifecycle is
//! split by concern: this file (connect, lose, retry), `closing`,
//! `keepalive` (heartbeats), `inbound` (delivery), `outbound` (sends, outbox,
//! session start) and `writer` (the WebSocket write half).

mod client;
mod closing;
mod fragments;
mod handle;
mod handlers;
mod hints;
mod inbound;
mod keepalive;
mod outbound;
mod read_buffer;
mod sse;
mod transport;
mod writer;
mod ws;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, SpawnHandle, Supervised, WrapFuture,
};
use futures::channel::oneshot;

pub(crate) use self::handlers::{
    Close, ForceReconnect, QueryStatus, Subscribe, Unsubscribe, Write, WriteFor,
};
use self::transport::{Reader, Resume, Writer};
pub use self::{
    handle::EndpointHandle,
    handlers::{EndpointStatus, Subscriber},
};
use crate::{
    config::EndpointConfig,
    failure::{self, Verdict},
    heartbeat::Liveness,
    monitor::{MonitorActor, Samples, SamplesObserved},
    push_queue::PushQueue,
    reconnect_budget::ReconnectBudget,
    retry::{NextAttempt, RetryState},
    sender::Sender,
    subscribers::Subscribers,
    ConnectionState, EndpointId, Error, ErrorCategory, MessageReceived, MessagesReceived,
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

/// The close handshake in progress on a live connection.
#[derive(Debug)]
enum Ending {
    /// We close: the writer flushes the outbox, sends our close frame, and we
    /// wait for the peer's.
    ByUs { close_sent: bool },
    /// The peer closed; we echoed and wait for the socket to finish.
    ByPeer(Error),
}

/// One live connection: dropped (with its socket) when the actor restarts.
#[derive(Debug)]
struct Link {
    writer: Writer,
    reader: Reader,
    liveness: Liveness,
    ending: Option<Ending>,
    /// Authenticated (or no authentication configured): data may flow.
    session_ready: bool,
}

impl Link {
    /// Whether new sends may go to this connection.
    fn takes_data(&self) -> bool {
        self.session_ready && self.ending.is_none()
    }

    /// Whether queued data is written: also while a close we started
    /// flushes the outbox, not after the peer closed.
    fn writes_data(&self) -> bool {
        self.session_ready && !matches!(self.ending, Some(Ending::ByPeer(_)))
    }
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
    /// The supervisor's pace for automatic reconnects, shared.
    reconnect_budget: Option<Arc<ReconnectBudget>>,
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
    /// The outbox, unacknowledged messages and pushes.
    sender: Sender,
    /// The timer at the sender's next deadline, and that deadline.
    deadline: Option<(Instant, SpawnHandle)>,
    /// What messages still queued when a close we started ends are told.
    closing_error: Option<Error>,
}

impl ConnectionActor {
    pub(crate) fn new(
        id: EndpointId,
        config: Arc<EndpointConfig>,
        tls: Option<Arc<rustls::ClientConfig>>,
        monitor: actix::Addr<MonitorActor>,
        reconnect_budget: Option<Arc<ReconnectBudget>>,
        pushed: Arc<PushQueue>,
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
        let sender = Sender::new(&config, pushed);
        Self {
            id,
            config,
            tls,
            span,
            state: ConnectionState::Disconnected,
            next: Next::Connect(Duration::ZERO),
            retry,
            reconnect_budget,
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
            sender,
            deadline: None,
            closing_error: None,
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
            at: SystemTime::now(),
        };
        self.monitor.do_send(event.clone());
        self.status_subs.deliver(event);
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
            session_ready: false,
        });
        ctx.run_interval(heartbeat.interval, Self::on_heartbeat_tick);
        self.watch_silence(ctx);
        self.transition(ConnectionState::Connected, None, None);
        self.begin_session(ctx);
    }

    fn on_attempt_failed(&mut self, error: Error, ctx: &mut Context<Self>) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        self.conclude(error, ctx);
    }

    /// Acts on the verdict for `error`, which ended an attempt or a live
    /// connection: Reconnecting after a delay, Failed, or Closed. Settles
    /// the messages the connection carried, then restarts the actor so the
    /// old connection and its timers are dropped.
    fn conclude(&mut self, error: Error, ctx: &mut Context<Self>) {
        self.harvest_resume();
        let verdict = failure::verdict(&error, &self.config);
        let error = error.with_recoverable(verdict.is_retry());
        let next = match verdict {
            Verdict::Stop => return self.finish_close(Some(error), ctx),
            Verdict::Fail => None,
            Verdict::Retry { urgency, min_wait } => {
                let min_wait = min_wait.max(self.retry_floor.unwrap_or_default());
                Some(self.retry.on_failure(Instant::now(), urgency, min_wait))
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

    /// The live connection ended (transport error, heartbeat, peer close).
    fn connection_lost(&mut self, error: Error, ctx: &mut Context<Self>) {
        if !self.state.is_up() {
            return;
        }
        self.conclude(error, ctx);
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
        self.deadline = None;
    }
}
