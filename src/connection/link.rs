//! The live connection: its session, its phase (one value instead of
//! flags), its heartbeat, the messages that go ahead of the outbox, and the
//! one bounded poll loop that drives it: read a burst, then write control
//! frames, priority messages, due data and pushes, our close once
//! everything is out, and flush.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{self, Poll, Waker},
    time::{Duration, Instant},
};

use super::{
    phase::{AfterPeerClose, Expired, Phase},
    pulse::{self, Pulse},
};
use crate::{
    config::{ApplicationHeartbeat, HeartbeatConfig},
    heartbeat::encode_ping,
    monitor::Samples,
    push_queue::PushQueue,
    sender::{Due, Sender},
    transport::{Capabilities, Inbound, Read, Sent, Session},
    Error, Payload,
};

/// Times one poll goes back for pushed payloads.
const MAX_PUSH_PASSES: usize = 8;

/// What a drive pass writes from: the endpoint's sender, its monitor
/// counters, the connection's generation and the pass's clock reading.
#[derive(Debug)]
pub(super) struct Outgoing<'a> {
    pub(super) sender: &'a mut Sender,
    pub(super) samples: &'a mut Samples,
    pub(super) generation: u64,
    pub(super) now: Instant,
}

/// What one drive pass found. It lives in the driver's frame for one
/// pass: the burst's room is on the stack, which every pass reuses, rather
/// than in each connection's state (at 10,000 idle connections that
/// room, kept per link, cost about 5 last-level cache misses per ping).
#[derive(Debug)]
pub(super) struct Pass {
    /// What the read found.
    pub(super) inbound: Inbound,
    /// Whether the link was waiting for an authentication verdict when the
    /// burst was read (a verdict in it counts even if the peer closed after).
    pub(super) authenticating: bool,
    /// How the connection ended, if it did.
    pub(super) end: Option<End>,
    /// A priority message the session refused to encode (dropped).
    pub(super) refused: Option<Error>,
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

/// What a heartbeat found.
#[derive(Debug)]
pub(super) enum Beat {
    /// Nothing to do (a ping went out, or silence watches the peer).
    Alive,
    /// The peer is dead.
    Dead(Error),
}

/// One live connection: dropped (with its socket) when the actor restarts.
// Fields in declaration order (`repr(C)`): what every pass and heartbeat
// reads first, what only sends, closes and failures read last (see
// `ConnectionActor`).
#[derive(Debug)]
#[repr(C)]
pub(super) struct Link {
    session: Box<dyn Session>,
    /// The drive task's waker, woken when output is queued from outside.
    waker: Option<Waker>,
    /// The endpoint's push queue: its depth, read without its lock, says
    /// whether a pass takes from it (an idle pass leaves it alone).
    pushed: Arc<PushQueue>,
    caps: Capabilities,
    /// A flush is already requested from the drive task (one wake per burst).
    flush_requested: bool,
    /// The write side is shut down.
    shut_down: bool,
    /// The last pass left its writes to the next (see [`poll`](Self::poll)).
    wrote_later: bool,
    /// The socket is read (false while a subscriber's full queue pauses
    /// reading: the heartbeat then does not blame the peer).
    reading: bool,
    max_burst: usize,
    /// The endpoint has an application heartbeat.
    application_heartbeat: bool,
    /// The push queue knows the drive task's waker (taking registers it;
    /// the next push wakes the task and raises the depth).
    push_taker: bool,
    phase: Phase,
    pulse: Pulse,
    /// Authentication, on-connect messages and application pings: written
    /// after control frames and before the outbox.
    priority: VecDeque<Payload>,
    /// The last priority message the session refused to encode (boxed:
    /// read by every pass, rarely set).
    refused: Option<Box<Error>>,
    close_timeout: Duration,
    /// Pushed payloads taken for the socket (empty between writes; kept
    /// for its allocation, which trades places with the push queue's).
    pushes: VecDeque<Payload>,
}

impl Link {
    pub(super) fn new(
        session: Box<dyn Session>,
        pushed: Arc<PushQueue>,
        heartbeat: &HeartbeatConfig,
        max_burst: usize,
        close_timeout: Duration,
        now: Instant,
    ) -> Self {
        Self {
            caps: session.capabilities(),
            session,
            pulse: Pulse::new(heartbeat, now),
            phase: Phase::Ready,
            priority: VecDeque::new(),
            waker: None,
            flush_requested: false,
            shut_down: false,
            wrote_later: false,
            refused: None,
            reading: true,
            max_burst,
            close_timeout,
            application_heartbeat: heartbeat.application.is_some(),
            pushes: VecDeque::new(),
            pushed,
            push_taker: false,
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
    #[inline]
    pub(super) fn takes_data(&self) -> bool {
        self.caps.sends && self.phase.takes_data()
    }

    /// Whether this connection carries messages out at all.
    pub(super) fn sends(&self) -> bool {
        self.caps.sends
    }

    /// Whether queued data is written (also while our close flushes it).
    pub(super) fn writes_data(&self) -> bool {
        self.caps.sends && self.phase.writes_data()
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
    #[inline]
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
    #[inline]
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
        if matches!(self.phase, Phase::ClosedByPeer { .. }) {
            // The peer's close is already being answered: the end of the
            // socket completes ours too.
            return true;
        }
        self.phase.begin_close(now, self.close_timeout);
        self.wake();
        true
    }

    /// A fresh pass's findings, to give to [`poll`](Self::poll).
    pub(super) fn pass(&self) -> Pass {
        Pass {
            inbound: Inbound::new(self.max_burst),
            authenticating: matches!(self.phase, Phase::Authenticating { .. }),
            end: None,
            refused: None,
        }
    }

    /// One bounded pass: reads a burst (unless `read` is false: a
    /// subscriber's queue is full), then writes; what it found goes into
    /// `pass` (fresh from [`pass`](Self::pass), in the caller's frame).
    /// The driver takes the burst from `pass.inbound`, and then the pongs
    /// ([`pongs`](Self::pongs)). `pass.end`
    /// says whether the connection ended; what the burst holds is
    /// delivered first either way.
    pub(super) fn poll(
        &mut self,
        cx: &mut task::Context<'_>,
        out: &mut Outgoing<'_>,
        read: bool,
        pass: &mut Pass,
    ) {
        if self
            .waker
            .as_ref()
            .is_none_or(|known| !known.will_wake(cx.waker()))
        {
            self.waker = Some(cx.waker().clone());
        }
        self.flush_requested = false;
        if read != self.reading {
            self.reading = read;
            // Paused or resumed: the silence deadline starts again from
            // now, and pings sent before would time the pause.
            self.pulse.hold(out.now);
        }
        let read = if read {
            self.session.read(cx, &mut pass.inbound)
        } else {
            Ok(Read::Pending)
        };
        if pass.inbound.saw_traffic() {
            self.pulse.alive(out.now);
        }
        let (wire, inflated) = pass.inbound.take_compressed();
        if wire | inflated != 0 {
            // The traffic counters' line is left alone by a pass that
            // inflated nothing (every pass of an idle connection).
            out.samples.compressed_in += wire;
            out.samples.inflated_in += inflated;
        }
        // The peer's close counts even when the stream ended (or failed)
        // right after it in the same read.
        if let Some(close) = pass.inbound.take_close() {
            let after = self.phase.peer_closed(&close, out.now, self.close_timeout);
            if after == AfterPeerClose::Done {
                pass.end = Some(End::Finished);
                return;
            }
        }
        let later = matches!(read, Ok(Read::Full)) && !pass.inbound.is_empty();
        match read {
            Ok(Read::Pending) => {}
            // More may be ready: deliver this burst, then come back.
            Ok(Read::Full) => cx.waker().wake_by_ref(),
            Ok(Read::Ended) => pass.end = Some(End::Finished),
            Err(error) => pass.end = Some(End::Failed(error)),
        }
        // A burst read while the task comes straight back goes to the
        // subscribers before this pass's writes (a close's echo or a
        // pong costs a send), never two passes in a row: a stream whose
        // every read comes back still writes.
        if later && !self.wrote_later {
            self.wrote_later = true;
        } else if pass.end.is_none() {
            self.wrote_later = false;
            if self.has_writes(out.sender) {
                pass.end = self.write(cx, out);
            }
        }
        pass.refused = self.refused.take().map(|error| *error);
    }

    /// Whether a pass has anything to write or flush (else an idle pass,
    /// a pong's read or a timer's wake-up, leaves the sender and the
    /// session's write side alone): control frames or unflushed bytes in
    /// the session, priority messages, the outbox, pushes (or the push
    /// queue does not know the task yet), a close under way.
    fn has_writes(&self, sender: &Sender) -> bool {
        !self.priority.is_empty()
            || self.phase.is_ending()
            || sender.queued() > 0
            || self.takes_pushes()
            || self.session.has_pending_output()
    }

    /// Control frames, priority messages, due data, pushes, our close;
    /// then one flush, and the shutdown once the connection is ending.
    fn write(&mut self, cx: &mut task::Context<'_>, out: &mut Outgoing<'_>) -> Option<End> {
        let control_done = match self.write_queued(cx, out) {
            Ok(done) => done,
            Err(error) => return Some(End::Failed(error)),
        };
        if let Poll::Ready(Err(error)) = self.session.poll_flush(cx) {
            return Some(End::Failed(error));
        }
        if self.phase.shuts_down(self.caps.close_handshake) && control_done && !self.shut_down {
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
        out: &mut Outgoing<'_>,
    ) -> Result<bool, Error> {
        let mut push_passes = 0;
        loop {
            let data = self.writes_data();
            let pushes = data && self.takes_pushes();
            let mut pushes_left = false;
            if pushes && !out.sender.writes_pushes_straight() {
                // Batched (or backed-up) endpoints: pushes join the outbox.
                pushes_left = out.sender.file_pushes(cx.waker(), out.now);
                self.push_taker = true;
            }
            if self.session.poll_control(cx)?.is_pending() || !self.write_priority(cx)? {
                return Ok(false);
            }
            if data {
                if self.write_data(cx, out)? {
                    return Ok(true);
                }
                if pushes && out.sender.writes_pushes_straight() {
                    pushes_left = self.write_pushes(cx, out)?;
                }
            }
            if self.close_when_drained(out.sender) {
                continue;
            }
            // The outbox made room while pushes wait: take more, a bounded
            // number of times per poll so reading gets its turn.
            if data && out.sender.has_room() && pushes_left {
                push_passes += 1;
                if push_passes < MAX_PUSH_PASSES {
                    continue;
                }
                cx.waker().wake_by_ref();
            }
            return Ok(true);
        }
    }

    /// Whether a pass takes from the push queue: payloads wait there, or
    /// it does not know the drive task's waker yet.
    fn takes_pushes(&self) -> bool {
        !self.push_taker || self.pushes_waiting()
    }

    /// Whether pushed payloads wait in the push queue (as of its last
    /// change: a push after this wakes the drive task).
    pub(super) fn pushes_waiting(&self) -> bool {
        self.pushed.depth() > 0
    }

    /// Writes priority messages; true when none remain.
    fn write_priority(&mut self, cx: &mut task::Context<'_>) -> Result<bool, Error> {
        while !self.priority.is_empty() && self.phase.writes_priority() {
            if self.session.poll_ready(cx)?.is_pending() {
                return Ok(false);
            }
            let payload = self.priority.pop_front().expect("checked non-empty");
            // Refused by the encoder: this message is dropped (and
            // reported), the connection goes on.
            if let Err(error) = self.session.start_send(payload) {
                self.refused = Some(Box::new(error));
            }
        }
        Ok(true)
    }

    /// Writes the data the sender says is due while the socket has room;
    /// true when it ran out of room.
    fn write_data(
        &mut self,
        cx: &mut task::Context<'_>,
        out: &mut Outgoing<'_>,
    ) -> Result<bool, Error> {
        while out.sender.due(out.now) == Due::Now {
            if self.session.poll_ready(cx)?.is_pending() {
                return Ok(true);
            }
            let Some(frame) = out.sender.take() else {
                break;
            };
            let written = self.session.start_send(frame.payload);
            out.sender
                .settle(frame.taken, written, out.generation, out.now, out.samples);
        }
        Ok(false)
    }

    /// Writes pushed payloads straight into the socket while it has room;
    /// the rest of the chunk goes to the outbox, in order. Returns whether
    /// more pushes wait.
    fn write_pushes(
        &mut self,
        cx: &mut task::Context<'_>,
        out: &mut Outgoing<'_>,
    ) -> Result<bool, Error> {
        let mut taken = std::mem::take(&mut self.pushes);
        let more = out.sender.take_pushes(cx.waker(), &mut taken);
        self.push_taker = true;
        let mut sent = Sent::default();
        let failure = self.session.start_send_all(cx, &mut taken, &mut sent);
        // What could not be encoded is counted lost; the connection goes on.
        out.sender.pushes_sent(&sent, out.samples);
        out.sender.requeue_pushes(taken.drain(..), out.now);
        self.pushes = taken;
        failure.map(|()| more)
    }

    /// A close we started goes out once everything accepted is written (or
    /// cannot be, before authentication). True when the close was queued
    /// now (another pass writes it).
    fn close_when_drained(&mut self, sender: &Sender) -> bool {
        let priority_empty = self.priority.is_empty();
        if !self
            .phase
            .send_close_when(|| priority_empty && sender.is_drained())
        {
            return false;
        }
        if self.caps.close_handshake {
            self.session.close(1000, "");
        }
        true
    }

    /// The earliest instant something here is due: the next heartbeat, the
    /// silence deadline, the authentication or close deadline.
    pub(super) fn next_deadline(&self) -> Instant {
        let pulse = if self.reading {
            self.pulse.deadline()
        } else {
            self.pulse.next_tick()
        };
        match (self.phase.is_ending(), self.phase.deadline()) {
            (true, Some(deadline)) => deadline,
            (_, Some(deadline)) => pulse.min(deadline),
            (_, None) => pulse,
        }
    }

    /// Whether something of the link's own waits for a pass: priority
    /// messages, or a close under way.
    pub(super) fn has_output(&self) -> bool {
        !self.priority.is_empty() || self.phase.is_ending() || self.flush_requested
    }

    /// Whether the endpoint has an application heartbeat.
    pub(super) fn has_application_heartbeat(&self) -> bool {
        self.application_heartbeat
    }

    /// Whether the heartbeat is due at `now`.
    pub(super) fn tick_due(&self, now: Instant) -> bool {
        self.pulse.due(now) && !self.phase.is_ending()
    }

    /// A heartbeat: a protocol or application ping where the connection
    /// has one, else nothing (silence alone watches the peer).
    pub(super) fn beat(
        &mut self,
        now: Instant,
        application: Option<&ApplicationHeartbeat>,
        samples: &mut Samples,
    ) -> Beat {
        self.session.tick();
        if !self.reading {
            self.pulse.hold(now);
            return Beat::Alive;
        }
        let application = application.filter(|_| self.caps.sends);
        let pings = application.is_some() || self.caps.pings;
        match self.pulse.beat(now, pings, samples) {
            pulse::Beat::Dead(error) => return Beat::Dead(error),
            pulse::Beat::Silent => {}
            pulse::Beat::Ping(seq) => match application {
                Some(app) => self.send_priority((app.make_ping)(seq)),
                None => self.session.ping(&encode_ping(seq)),
            },
        }
        Beat::Alive
    }

    /// The silence deadline: the peer is dead once nothing arrived for the
    /// heartbeat timeout (or too many pings went unanswered).
    pub(super) fn silence(&self, now: Instant) -> Option<Error> {
        if self.phase.is_ending() || !self.reading {
            return None;
        }
        self.pulse.silence(now)
    }

    /// What expired at `now` among the authentication and close deadlines.
    pub(super) fn expired(&self, now: Instant) -> Option<Expired> {
        self.phase.expired(now)
    }

    /// The pongs a pass read answered pings: round trips for the monitor.
    pub(super) fn pongs(&mut self, inbound: &mut Inbound, now: Instant, samples: &mut Samples) {
        let pulse = &mut self.pulse;
        inbound.drain_pongs(|pong| pulse.pong(pong, now, samples));
    }

    /// An application heartbeat reply arrived.
    pub(super) fn application_reply(&mut self, now: Instant, samples: &mut Samples) {
        self.pulse.application_reply(now, samples);
    }

    /// When inbound traffic last arrived.
    pub(super) fn last_seen(&self) -> Instant {
        self.pulse.last_seen()
    }

    /// Whether heartbeats are answered by the protocol or an application
    /// heartbeat (else a ping URL may measure round trips).
    pub(super) fn measures_rtt(&self, application: bool) -> bool {
        self.caps.pings || (application && self.caps.sends)
    }

    /// Takes the peer's close error (the connection ends with it).
    pub(super) fn peer_close_error(&self) -> Option<Error> {
        match &self.phase {
            Phase::ClosedByPeer { error, .. } => Some(Error::clone(error)),
            _ => None,
        }
    }
}
