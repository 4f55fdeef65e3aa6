//! The outbound side of one endpoint, as pure state: the outbox across
//! reconnects, messages written and waiting for their acknowledgement, the
//! batching due time, session-scoped refusal and the push queue's
//! accounting. Time is passed in and nothing here touches a socket: the
//! connection's writer asks what to write next, writes it, and says how it
//! went.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::Waker,
    time::{Duration, Instant},
};

mod acks;

use self::acks::Acks;
use crate::{
    config::EndpointConfig,
    delivery::{overflow, Accepted, CoalesceConfig, Delivered, Receipt, SendOptions},
    duration::deadline_after,
    monitor::Samples,
    outbox::{Outbox, Outgoing, Pushed, Report},
    push_queue::PushQueue,
    transport::Sent,
    Error, Payload, Result,
};

/// A data frame to write and the messages it carries.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) payload: Payload,
    pub(crate) taken: Taken,
}

/// The messages a written (or refused) frame settles.
#[derive(Debug)]
pub(crate) enum Taken {
    /// One message that waits for nothing after the write.
    Single { report: Report, len: usize },
    /// One message that waits for its acknowledgement (the frame has a
    /// copy of its payload).
    Acked(Outgoing),
    /// A batch frame's messages, oldest first.
    Batch(Vec<Outgoing>),
}

/// Whether queued data can be written now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing queued.
    Empty,
    /// A batch is filling: write it at this instant, or when full.
    At(Instant),
    /// Write now.
    Now,
}

/// One endpoint's outbound messages, across its connections.
#[derive(Debug)]
pub(crate) struct Sender {
    outbox: Outbox,
    /// Acknowledged mode: written messages waiting for their ack.
    acks: Option<Acks>,
    coalesce: Option<CoalesceConfig>,
    max_message_size: usize,
    receive_only: bool,
    pushed: Arc<PushQueue>,
    /// `pushed.lost()` when it was last reported.
    pushes_lost_reported: u64,
}

impl Sender {
    pub(crate) fn new(config: &EndpointConfig, pushed: Arc<PushQueue>) -> Self {
        Self {
            outbox: Outbox::new(config.outbox_capacity, config.overflow),
            acks: config.ack.clone().map(Acks::new),
            coalesce: config.coalesce.clone(),
            max_message_size: config.max_message_size,
            receive_only: !config.kind.can_send(),
            pushed,
            pushes_lost_reported: 0,
        }
    }

    /// Refuses what this endpoint can never send, and a session-scoped
    /// message when no connection is `live`.
    ///
    /// # Errors
    /// An [`Endpoint`](crate::ErrorCategory::Endpoint) error saying why.
    #[inline]
    pub(crate) fn admit(&self, payload: &Payload, options: &SendOptions, live: bool) -> Result<()> {
        if self.receive_only {
            return Err(Error::receive_only());
        }
        check_payload(payload, self.max_message_size)?;
        if options.is_session_scoped() && !live {
            return Err(Error::endpoint(
                "a session-scoped message needs a live connection",
            ));
        }
        Ok(())
    }

    /// Whether a send may go straight into a `live` socket: nothing waits
    /// ahead of it and no batch is filling.
    #[inline]
    pub(crate) fn writes_straight(&self, live: bool) -> bool {
        live && self.outbox.is_empty() && self.coalesce.is_none()
    }

    /// Whether a message sent with `options` is kept after its write (it
    /// waits for an acknowledgement): the frame then needs a copy.
    #[inline]
    pub(crate) fn keeps(&self, options: &SendOptions) -> bool {
        self.acks.is_some() && options.acknowledged_as().is_some()
    }

    /// A send written straight into the socket of connection `generation`;
    /// `kept` is its payload when [`keeps`](Self::keeps) said so.
    #[inline]
    pub(crate) fn written_now(
        &mut self,
        len: usize,
        kept: Option<Payload>,
        options: SendOptions,
        generation: u64,
        now: impl FnOnce() -> Instant,
        samples: &mut Samples,
    ) -> Receipt {
        count_written(samples, len);
        let accepted = Accepted::Written { generation };
        match (kept, &mut self.acks) {
            (Some(payload), Some(acks)) => {
                // Kept until its acknowledgement.
                let now = now();
                let (report, outcome) = Receipt::channel();
                acks.track(
                    Outgoing::new(payload, options, Report::Receipt(report), now),
                    now,
                );
                Receipt::new(accepted, Some(outcome))
            }
            _ => Receipt::new(accepted, None),
        }
    }

    /// A plain send (no acknowledgement) written straight into the socket.
    #[inline]
    pub(crate) fn written_plain(&self, len: usize, samples: &mut Samples) {
        count_written(samples, len);
    }

    /// Queues a send in the outbox.
    ///
    /// # Errors
    /// An [`Overflow`](crate::ErrorCategory::Overflow) error when the outbox
    /// is full and refuses new messages.
    pub(crate) fn queue(
        &mut self,
        payload: Payload,
        options: SendOptions,
        now: Instant,
    ) -> Result<Receipt> {
        let (report, outcome) = Receipt::channel();
        let msg = Outgoing::new(payload, options, Report::Receipt(report), now);
        let position = match self.outbox.push(msg) {
            Pushed::Queued { position } => position,
            Pushed::DroppedOldest { position, dropped } => {
                dropped.finish(Err(overflow(self.outbox.capacity())));
                position
            }
            Pushed::Rejected => return Err(overflow(self.outbox.capacity())),
        };
        Ok(Receipt::new(Accepted::Queued { position }, Some(outcome)))
    }

    /// When the next queued frame is due.
    pub(crate) fn due(&self, now: Instant) -> Due {
        let Some(oldest) = self.outbox.front() else {
            return Due::Empty;
        };
        match &self.coalesce {
            Some(co) if self.outbox.len() < co.max_messages => {
                let at = deadline_after(oldest.queued_at, co.max_delay);
                if now < at {
                    Due::At(at)
                } else {
                    Due::Now
                }
            }
            _ => Due::Now,
        }
    }

    /// Takes the next frame to write (after [`due`](Self::due) said `Now`).
    pub(crate) fn take(&mut self) -> Option<Frame> {
        let Some(co) = &self.coalesce else {
            let msg = self.outbox.pop()?;
            if self.acks.is_some() && msg.ack_id.is_some() {
                return Some(Frame {
                    payload: msg.payload.clone(),
                    taken: Taken::Acked(msg),
                });
            }
            let Outgoing {
                payload, report, ..
            } = msg;
            let len = payload.len();
            return Some(Frame {
                payload,
                taken: Taken::Single { report, len },
            });
        };
        let n = self.outbox.len().min(co.max_messages);
        if n == 0 {
            return None;
        }
        let taken: Vec<Outgoing> = std::iter::from_fn(|| self.outbox.pop()).take(n).collect();
        let payloads: Vec<Payload> = taken.iter().map(|m| m.payload.clone()).collect();
        Some(Frame {
            payload: (co.encoder)(&payloads),
            taken: Taken::Batch(taken),
        })
    }

    /// Settles the messages of a frame: written into the socket of
    /// connection `generation` at `now`, or refused by the encoder with
    /// `Err` (they fail; the connection goes on).
    pub(crate) fn settle(
        &mut self,
        taken: Taken,
        written: Result<()>,
        generation: u64,
        now: Instant,
        samples: &mut Samples,
    ) {
        let error = written.err();
        let mut one = |msg: Outgoing| match &error {
            Some(error) => msg.finish(Err(error.clone())),
            None => self.mark_written(msg, generation, now, samples),
        };
        match taken {
            Taken::Single { report, len } => match &error {
                Some(error) => report.finish(Err(error.clone())),
                None => {
                    count_written(samples, len);
                    report.finish(Ok(Delivered::Written { generation }));
                }
            },
            Taken::Acked(msg) => one(msg),
            Taken::Batch(msgs) => msgs.into_iter().for_each(one),
        }
    }

    fn mark_written(
        &mut self,
        msg: Outgoing,
        generation: u64,
        now: Instant,
        samples: &mut Samples,
    ) {
        count_written(samples, msg.payload.len());
        match &mut self.acks {
            Some(acks) if msg.ack_id.is_some() => acks.track(msg, now),
            _ => msg.finish(Ok(Delivered::Written { generation })),
        }
    }

    /// Messages waiting in the outbox.
    pub(crate) fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// Whether anything here has a deadline (acknowledgements, batches).
    pub(crate) fn has_deadlines(&self) -> bool {
        self.acks.is_some() || self.coalesce.is_some()
    }

    /// Whether every accepted message and push has been written.
    pub(crate) fn is_drained(&self) -> bool {
        self.outbox.is_empty() && self.pushed.is_empty()
    }

    /// Batching endpoints: moves pushed payloads into the outbox while it
    /// has room (they join its frames). `taker` is woken by the next push.
    /// Returns whether pushes remain.
    pub(crate) fn file_pushes(&mut self, taker: &Waker, now: Instant) -> bool {
        let room = self.outbox.capacity().saturating_sub(self.outbox.len());
        let mut taken = VecDeque::new();
        let more = self.pushed.take(room, taker, &mut taken);
        self.requeue_pushes(taken.into_iter(), now);
        more
    }

    /// Endpoints without batching, with an empty outbox: takes a chunk of
    /// pushed payloads into `out` for the writer to write straight into the
    /// socket. Returns whether pushes remain.
    pub(crate) fn take_pushes(&mut self, taker: &Waker, out: &mut VecDeque<Payload>) -> bool {
        // Sized to the outbox, which is empty: what the socket has no room
        // for fits there.
        self.pushed.take(self.outbox.capacity(), taker, out)
    }

    /// Whether the writer uses [`take_pushes`](Self::take_pushes) now.
    pub(crate) fn writes_pushes_straight(&self) -> bool {
        self.coalesce.is_none() && self.outbox.is_empty()
    }

    /// Whether the outbox has room for more pushes.
    pub(crate) fn has_room(&self) -> bool {
        self.outbox.len() < self.outbox.capacity()
    }

    /// Counts pushed payloads the session wrote (and those it refused).
    pub(crate) fn pushes_sent(&self, sent: &Sent, samples: &mut Samples) {
        samples.messages_out += sent.messages as u64;
        samples.bytes_out += sent.bytes;
        if sent.refused > 0 {
            // The encoder refused them: counted lost.
            self.pushed.note_lost(sent.refused as u64);
        }
    }

    /// Files taken pushes the socket had no room for in the outbox, in
    /// order (the take was sized to the outbox's room).
    pub(crate) fn requeue_pushes(&mut self, payloads: impl Iterator<Item = Payload>, now: Instant) {
        for payload in payloads {
            let queued = self
                .outbox
                .push(Outgoing::pushed(payload, self.pushed.clone(), now));
            debug_assert!(matches!(queued, Pushed::Queued { .. }), "room was counted");
        }
    }

    /// Whether inbound payloads may acknowledge messages (an
    /// acknowledgement matcher is configured).
    #[inline]
    pub(crate) fn takes_acks(&self) -> bool {
        self.acks.is_some()
    }

    /// Consumes the acknowledgements among inbound `payloads`, completing
    /// their messages on connection `generation`.
    pub(crate) fn take_acks(&mut self, payloads: &mut Vec<Payload>, generation: u64) {
        if let Some(acks) = &mut self.acks {
            acks.take(payloads, generation);
        }
    }

    /// The next instant something is due: the oldest unacknowledged
    /// message's timeout, and (when `writing`, data may flow) a filling
    /// batch's deadline if it is still ahead of `now` (a due batch waits
    /// for room in the socket, not for a timer).
    pub(crate) fn next_deadline(&self, writing: bool, acks: bool, now: Instant) -> Option<Instant> {
        let ack = self.acks.as_ref().filter(|_| acks).and_then(Acks::deadline);
        let batch = match (&self.coalesce, self.outbox.front()) {
            (Some(co), Some(oldest)) if writing && self.outbox.len() < co.max_messages => {
                Some(deadline_after(oldest.queued_at, co.max_delay)).filter(|at| *at > now)
            }
            _ => None,
        };
        match (ack, batch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves every acknowledgement deadline `by` later: the time reading
    /// was paused, when acknowledgements could not be read.
    pub(crate) fn postpone_acks(&mut self, by: Duration) {
        if let Some(acks) = &mut self.acks {
            acks.postpone(by);
        }
    }

    /// Fails the messages whose acknowledgement is overdue at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        if let Some(acks) = &mut self.acks {
            acks.expire(now);
        }
    }

    /// A connection ended: unacknowledged messages go back to the front of
    /// the outbox (at least once), session-scoped ones fail, and when the
    /// endpoint is `failing` everything else fails too.
    pub(crate) fn on_loss(&mut self, error: &Error, failing: bool) {
        let lost = Error::new(
            error.category(),
            format!("connection lost before delivery: {}", error.message()),
        )
        .with_recoverable(false);
        let (session, resend): (Vec<_>, Vec<_>) = self
            .acks
            .iter_mut()
            .flat_map(Acks::drain)
            .partition(|msg| msg.session_scoped);
        for msg in session {
            msg.finish(Err(lost.clone()));
        }
        self.outbox.requeue_front(resend.into_iter());
        self.outbox.fail_session_scoped(&lost);
        if failing {
            let failed = Error::new(
                error.category(),
                format!("endpoint failed: {}", error.message()),
            )
            .with_recoverable(false);
            self.outbox.fail_all(&failed);
        }
    }

    /// Reports every queued and unacknowledged message with `error`.
    pub(crate) fn fail_all(&mut self, error: &Error) {
        for msg in self.acks.iter_mut().flat_map(Acks::drain) {
            msg.finish(Err(error.clone()));
        }
        self.outbox.fail_all(error);
    }

    /// Pushes follow the endpoint: refused with `refusal` while it takes
    /// no sends, accepted otherwise; when it has `ended` (failed or closed)
    /// what is still queued is dropped. Returns how many pushes were lost
    /// since the last report, if any.
    pub(crate) fn pushes_follow(&mut self, refusal: Option<Error>, ended: bool) -> Option<u64> {
        let Some(refusal) = refusal else {
            self.pushed.reopen();
            return None;
        };
        self.pushed.refuse(refusal);
        if !ended {
            return None;
        }
        self.pushed.clear();
        let lost = self.pushed.lost();
        let dropped = lost - self.pushes_lost_reported;
        self.pushes_lost_reported = lost;
        (dropped > 0).then_some(dropped)
    }
}

/// Counts one data message written.
fn count_written(samples: &mut Samples, len: usize) {
    samples.messages_out += 1;
    samples.bytes_out += len as u64;
}

/// Refuses what no endpoint can send: SSE events and comments,
/// and payloads over `max_message_size`.
///
/// # Errors
/// An [`Endpoint`](crate::ErrorCategory::Endpoint) error saying which.
#[inline]
pub(crate) fn check_payload(payload: &Payload, max_message_size: usize) -> Result<()> {
    if matches!(payload, Payload::Event(_) | Payload::Comment(_)) {
        return Err(Error::endpoint(
            "an sse event or comment cannot be sent: they are inbound only",
        ));
    }
    if payload.len() > max_message_size {
        return Err(Error::endpoint(format!(
            "payload of {} bytes is larger than max_message_size ({max_message_size})",
            payload.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
