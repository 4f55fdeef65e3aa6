//! The live connection: its session, its phase (one value instead of
//! flags), its liveness, the messages that go ahead of the outbox, and the
//! one bounded poll loop that drives it: read a burst, then write control
//! frames, priority messages, due data and pushes, our close once
//! everything is out, and flush.

use std::{
    collections::VecDeque,
    task::{self, Poll, Waker},
    time::{Duration, Instant},
};

use crate::{
    close::{close_category, NO_STATUS},
    config::{ApplicationHeartbeat, HeartbeatConfig},
    heartbeat::{encode_ping, Liveness, Tick},
    monitor::Samples,
    sender::{Due, Sender},
    transport::{Capabilities, Inbound, PeerClose, Read, Session},
    Error, Payload,
};

/// Times one poll goes back for pushed payloads.
const MAX_PUSH_PASSES: usize = 8;

/// Where a live connection is.
#[derive(Debug)]
pub(super) enum Phase {
    /// Waiting for the authentication verdict: only priority messages go out.
    Authenticating { deadline: Instant },
    /// Data flows.
    Ready,
    /// We close: everything accepted goes out first (when data was
    /// flowing), then our close; we wait for the peer's answer until
    /// `deadline`.
    ClosingByUs {
        close_sent: bool,
        was_ready: bool,
        deadline: Instant,
    },
    /// The peer closed with this; its answer goes out and the socket
    /// finishes, or `deadline` passes.
    ClosedByPeer { error: Error, deadline: Instant },
}

/// How a drive pass ended the connection.
#[derive(Debug)]
pub(super) enum End {
    /// It failed with this.
    Failed(Error),
    /// The socket is done: the stream ended, the peer answered our close,
    /// or our answer to the peer's close is out.
    Finished,
}

/// What a heartbeat tick found.
#[derive(Debug)]
pub(super) enum Beat {
    /// A ping went out.
    Pinged,
    /// The protocol has no pings: the silence deadline watches the peer.
    Silent,
    /// Closing: no heartbeat.
    Closing,
    /// The peer is dead.
    Dead(Error),
}

/// One live connection: dropped (with its socket) when the actor restarts.
#[derive(Debug)]
pub(super) struct Link {
    session: Box<dyn Session>,
    caps: Capabilities,
    liveness: Liveness,
    phase: Phase,
    /// Authentication, on-connect messages and application pings: written
    /// after control frames and before the outbox.
    priority: VecDeque<Payload>,
    /// The drive task's waker, woken when output is queued from outside.
    waker: Option<Waker>,
    /// A flush is already requested from the drive task (one wake per burst).
    flush_requested: bool,
    /// The write side is shut down.
    shut_down: bool,
    max_burst: usize,
    close_timeout: Duration,
    interval: Duration,
    next_tick: Instant,
}

impl Link {
    pub(super) fn new(
        session: Box<dyn Session>,
        heartbeat: &HeartbeatConfig,
        max_burst: usize,
        close_timeout: Duration,
        now: Instant,
    ) -> Self {
        Self {
            caps: session.capabilities(),
            session,
            liveness: Liveness::new(now, heartbeat.effective_timeout(), heartbeat.max_missed),
            phase: Phase::Ready,
            priority: VecDeque::new(),
            waker: None,
            flush_requested: false,
            shut_down: false,
            max_burst,
            close_timeout,
            interval: heartbeat.interval,
            next_tick: now + heartbeat.interval,
        }
    }

    pub(super) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Waits for an authentication verdict until `deadline`, sending
    /// `request` first.
    pub(super) fn authenticate(&mut self, request: Payload, deadline: Instant) {
        self.phase = Phase::Authenticating { deadline };
        self.send_priority(request);
    }

    /// Authenticated: data may flow. False when the link was not waiting.
    pub(super) fn authenticated(&mut self) -> bool {
        if !matches!(self.phase, Phase::Authenticating { .. }) {
            return false;
        }
        self.phase = Phase::Ready;
        self.wake();
        true
    }

    /// Whether new sends may go to this connection.
    pub(super) fn takes_data(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Whether queued data is written: while ready, and while a close we
    /// started flushes what was accepted.
    pub(super) fn writes_data(&self) -> bool {
        match self.phase {
            Phase::Ready => true,
            Phase::ClosingByUs {
                close_sent,
                was_ready,
                ..
            } => was_ready && !close_sent,
            Phase::Authenticating { .. } | Phase::ClosedByPeer { .. } => false,
        }
    }

    fn writes_priority(&self) -> bool {
        match self.phase {
            Phase::Authenticating { .. } | Phase::Ready => true,
            Phase::ClosingByUs { close_sent, .. } => !close_sent,
            Phase::ClosedByPeer { .. } => false,
        }
    }

    /// Whether the connection is ending (our close or the peer's).
    pub(super) fn is_ending(&self) -> bool {
        matches!(
            self.phase,
            Phase::ClosingByUs { .. } | Phase::ClosedByPeer { .. }
        )
    }

    /// Queues a message ahead of the outbox.
    pub(super) fn send_priority(&mut self, payload: Payload) {
        if self.caps.sends {
            self.priority.push_back(payload);
            self.wake();
        }
    }

    pub(super) fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// The send fast path, first step: whether the socket takes a data
    /// message now, with nothing queued ahead of it.
    pub(super) fn ready_now(&mut self) -> bool {
        if !self.priority.is_empty() || !self.takes_data() {
            return false;
        }
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        // A socket error is the drive task's to meet (it ends the connection).
        matches!(self.session.poll_ready(&mut cx), Poll::Ready(Ok(())))
    }

    /// The fast path's second step, after [`ready_now`](Self::ready_now):
    /// encodes the message; the drive task flushes it.
    ///
    /// # Errors
    /// The session refused to encode it: the message fails.
    pub(super) fn write_ready(&mut self, payload: Payload) -> Result<(), Error> {
        self.session.start_send(payload)?;
        if !self.flush_requested {
            self.flush_requested = true;
            self.wake();
        }
        Ok(())
    }

    /// Starts a close we own. Returns false when there is nothing to wait
    /// for (a receive-only connection): the caller finishes at once.
    pub(super) fn begin_close(&mut self, now: Instant) -> bool {
        if !self.caps.sends {
            return false;
        }
        let was_ready = matches!(self.phase, Phase::Ready);
        self.phase = Phase::ClosingByUs {
            close_sent: false,
            was_ready,
            deadline: now + self.close_timeout,
        };
        self.wake();
        true
    }

    /// The peer's close arrived. `Finished` when it answers ours.
    fn peer_closed(&mut self, close: PeerClose, now: Instant) -> Option<End> {
        match self.phase {
            Phase::ClosingByUs { .. } => return Some(End::Finished),
            Phase::ClosedByPeer { .. } => return None,
            Phase::Authenticating { .. } | Phase::Ready => {}
        }
        let code = close.code.unwrap_or(NO_STATUS);
        let detail = match (code, close.reason.as_str()) {
            (NO_STATUS, _) => "peer closed without a code".to_owned(),
            (_, "") => format!("peer closed with code {code}"),
            (_, reason) => format!("peer closed with code {code}: {reason}"),
        };
        let error = Error::new(close_category(code), detail).with_close_code(Some(code));
        self.phase = Phase::ClosedByPeer {
            error,
            deadline: now + self.close_timeout,
        };
        None
    }

    /// One bounded pass: reads a burst into the returned `Inbound`, then
    /// writes. `Some(End)` when the connection ended; what the burst holds
    /// is delivered first either way.
    pub(super) fn poll(
        &mut self,
        cx: &mut task::Context<'_>,
        sender: &mut Sender,
        samples: &mut Samples,
        generation: u64,
        now: Instant,
    ) -> (Inbound, Option<End>) {
        if self
            .waker
            .as_ref()
            .is_none_or(|known| !known.will_wake(cx.waker()))
        {
            self.waker = Some(cx.waker().clone());
        }
        self.flush_requested = false;
        let mut inbound = Inbound::new(self.max_burst);
        match self.session.read(cx, &mut inbound) {
            Ok(Read::Pending) => {}
            // More may be ready: deliver this burst, then come back.
            Ok(Read::Full) => cx.waker().wake_by_ref(),
            Ok(Read::Ended) => return (inbound, Some(End::Finished)),
            Err(error) => return (inbound, Some(End::Failed(error))),
        }
        if inbound.saw_traffic() {
            self.liveness.on_inbound(now);
        }
        if let Some(close) = inbound.take_close() {
            if let Some(end) = self.peer_closed(close, now) {
                return (inbound, Some(end));
            }
        }
        let end = self.write(cx, sender, samples, generation, now);
        (inbound, end)
    }

    /// Control frames, priority messages, due data, pushes, our close;
    /// then one flush, and the shutdown once the connection is ending.
    fn write(
        &mut self,
        cx: &mut task::Context<'_>,
        sender: &mut Sender,
        samples: &mut Samples,
        generation: u64,
        now: Instant,
    ) -> Option<End> {
        let control_done = match self.write_queued(cx, sender, samples, generation, now) {
            Ok(done) => done,
            Err(error) => return Some(End::Failed(error)),
        };
        if let Poll::Ready(Err(error)) = self.session.poll_flush(cx) {
            return Some(End::Failed(error));
        }
        let shut_down_now = match self.phase {
            Phase::ClosedByPeer { .. } => true,
            Phase::ClosingByUs { close_sent, .. } => close_sent && !self.caps.close_handshake,
            _ => false,
        };
        if shut_down_now && control_done && !self.shut_down {
            match self.session.poll_shutdown(cx) {
                Poll::Ready(Ok(())) => {
                    self.shut_down = true;
                    return Some(End::Finished);
                }
                Poll::Ready(Err(error)) => return Some(End::Failed(error)),
                Poll::Pending => {}
            }
        }
        None
    }

    /// The passes of one write; true when every control frame and priority
    /// message went into the write buffer.
    fn write_queued(
        &mut self,
        cx: &mut task::Context<'_>,
        sender: &mut Sender,
        samples: &mut Samples,
        generation: u64,
        now: Instant,
    ) -> Result<bool, Error> {
        let mut push_passes = 0;
        loop {
            let data = self.writes_data();
            let mut pushes_left = false;
            if data && !sender.writes_pushes_straight() {
                // Batched (or backed-up) endpoints: pushes join the outbox.
                pushes_left = sender.file_pushes(cx.waker(), now);
            }
            if self.session.poll_control(cx)?.is_pending() || !self.write_priority(cx)? {
                return Ok(false);
            }
            if data {
                if self.write_data(cx, sender, samples, generation, now)? {
                    return Ok(true);
                }
                if sender.writes_pushes_straight() {
                    pushes_left = self.write_pushes(cx, sender, samples, now)?;
                }
            }
            if self.close_when_drained(sender) {
                continue;
            }
            // The outbox made room while pushes wait: take more, a bounded
            // number of times per poll so reading gets its turn.
            if data && sender.has_room() && pushes_left {
                push_passes += 1;
                if push_passes < MAX_PUSH_PASSES {
                    continue;
                }
                cx.waker().wake_by_ref();
            }
            return Ok(true);
        }
    }

    /// Writes priority messages; true when none remain.
    fn write_priority(&mut self, cx: &mut task::Context<'_>) -> Result<bool, Error> {
        while !self.priority.is_empty() && self.writes_priority() {
            if self.session.poll_ready(cx)?.is_pending() {
                return Ok(false);
            }
            let payload = self.priority.pop_front().expect("checked non-empty");
            self.session.start_send(payload)?;
        }
        Ok(true)
    }

    /// Writes the data the sender says is due while the socket has room;
    /// true when it ran out of room.
    fn write_data(
        &mut self,
        cx: &mut task::Context<'_>,
        sender: &mut Sender,
        samples: &mut Samples,
        generation: u64,
        now: Instant,
    ) -> Result<bool, Error> {
        while sender.due(now) == Due::Now {
            if self.session.poll_ready(cx)?.is_pending() {
                return Ok(true);
            }
            let Some(frame) = sender.take() else { break };
            let written = self.session.start_send(frame.payload);
            sender.settle(frame.taken, written, generation, now, samples);
        }
        Ok(false)
    }

    /// Writes pushed payloads straight into the socket while it has room;
    /// the rest of the chunk goes to the outbox, in order. Returns whether
    /// more pushes wait.
    fn write_pushes(
        &mut self,
        cx: &mut task::Context<'_>,
        sender: &mut Sender,
        samples: &mut Samples,
        now: Instant,
    ) -> Result<bool, Error> {
        let mut taken = Vec::new();
        let more = sender.take_pushes(cx.waker(), &mut taken);
        let mut rest = taken.into_iter().peekable();
        let mut failure = Ok(());
        while rest.peek().is_some() {
            match self.session.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => {
                    failure = Err(error);
                    break;
                }
                Poll::Pending => break,
            }
            let payload = rest.next().expect("peeked");
            let len = payload.len();
            match self.session.start_send(payload) {
                Ok(()) => sender.push_written(len, samples),
                // Could not be encoded: counted lost, the connection goes on.
                Err(_) => sender.push_refused(),
            }
        }
        sender.requeue_pushes(rest, now);
        failure.map(|()| more)
    }

    /// A close we started goes out once everything accepted is written (or
    /// cannot be, before authentication). True when the close was queued
    /// now (another pass writes it).
    fn close_when_drained(&mut self, sender: &Sender) -> bool {
        let Phase::ClosingByUs {
            close_sent,
            was_ready,
            ..
        } = &mut self.phase
        else {
            return false;
        };
        if *close_sent || !self.priority.is_empty() || (*was_ready && !sender.is_drained()) {
            return false;
        }
        *close_sent = true;
        if self.caps.close_handshake {
            self.session.close(1000, "");
        }
        true
    }

    /// The earliest instant something here is due: the next heartbeat, the
    /// silence deadline, the authentication or close deadline.
    pub(super) fn next_deadline(&self) -> Instant {
        match &self.phase {
            Phase::Ready => self.next_tick.min(self.liveness.deadline()),
            Phase::Authenticating { deadline } => {
                self.next_tick.min(self.liveness.deadline()).min(*deadline)
            }
            Phase::ClosingByUs { deadline, .. } | Phase::ClosedByPeer { deadline, .. } => *deadline,
        }
    }

    /// Whether the heartbeat is due at `now`.
    pub(super) fn tick_due(&self, now: Instant) -> bool {
        now >= self.next_tick && !self.is_ending()
    }

    /// A heartbeat: a protocol or application ping where the connection
    /// has one, else nothing (silence alone watches the peer).
    pub(super) fn beat(
        &mut self,
        now: Instant,
        application: Option<&ApplicationHeartbeat>,
        samples: &mut Samples,
    ) -> Beat {
        self.next_tick = now + self.interval;
        if self.is_ending() {
            return Beat::Closing;
        }
        self.session.tick();
        let application = application.filter(|_| self.caps.sends);
        if application.is_none() && !self.caps.pings {
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
                match application {
                    Some(app) => self.send_priority((app.make_ping)(seq)),
                    None => self.session.ping(&encode_ping(seq)),
                }
                samples.heartbeats_sent += 1;
                Beat::Pinged
            }
        }
    }

    /// The silence deadline: the peer is dead once nothing arrived for the
    /// heartbeat timeout (or too many pings went unanswered).
    pub(super) fn silence(&self, now: Instant) -> Option<Error> {
        if self.is_ending() {
            return None;
        }
        match self.liveness.check(now) {
            Some(Tick::Dead { silent_for, missed }) => Some(dead(silent_for, missed)),
            _ => None,
        }
    }

    /// What expired at `now` among the authentication and close deadlines.
    pub(super) fn expired(&self, now: Instant) -> Option<Expired> {
        match &self.phase {
            Phase::Authenticating { deadline } if now >= *deadline => Some(Expired::Auth),
            Phase::ClosingByUs { deadline, .. } if now >= *deadline => Some(Expired::OurClose),
            Phase::ClosedByPeer { deadline, .. } if now >= *deadline => Some(Expired::PeerClose),
            _ => None,
        }
    }

    /// Pongs answered pings: round trips for the monitor.
    pub(super) fn pongs(&mut self, pongs: Vec<bytes::Bytes>, now: Instant, samples: &mut Samples) {
        for pong in pongs {
            if let Some(rtt) = self.liveness.on_pong(&pong, now) {
                samples.heartbeats_acked += 1;
                samples.rtts.push(rtt);
            }
        }
    }

    /// An application heartbeat reply arrived.
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

    /// Whether heartbeats are answered by the protocol or an application
    /// heartbeat (else a ping URL may measure round trips).
    pub(super) fn measures_rtt(&self, application: bool) -> bool {
        self.caps.pings || (application && self.caps.sends)
    }

    /// Takes the peer's close error (the connection ends with it).
    pub(super) fn peer_close_error(&self) -> Option<Error> {
        match &self.phase {
            Phase::ClosedByPeer { error, .. } => Some(error.clone()),
            _ => None,
        }
    }
}

/// What [`Link::expired`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// No authentication verdict in time.
    Auth,
    /// The peer did not answer our close in time.
    OurClose,
    /// The socket did not finish after the peer's close.
    PeerClose,
}

fn dead(silent_for: Duration, missed: u32) -> Error {
    Error::new(
        crate::ErrorCategory::Heartbeat,
        format!("heartbeat timed out: silent for {silent_for:.1?}, {missed} pings unanswered"),
    )
}
