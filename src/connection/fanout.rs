//! An endpoint's subscribers: who hears its status changes and its inbound
//! messages (one at a time or in bursts), each inbound subscriber with its
//! own bounded queue and overflow policy.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::Waker,
    time::{Duration, Instant},
};

use actix::Recipient;

use crate::{
    backlog::{Gauge, Level, Overflow, QueueLimits},
    subscribers::Subscribers,
    BurstReceived, EndpointId, MessageReceived, Payload, QueueSlot, StatusChanged,
};

/// A subscriber of one kind of event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscriber {
    /// Receives every [`StatusChanged`].
    Status(Recipient<StatusChanged>),
    /// Receives every inbound message as its own [`MessageReceived`].
    Messages(Recipient<MessageReceived>),
    /// Receives inbound messages in [`BurstReceived`] bursts: everything
    /// that was ready at once, in one mailbox hop (the fast path).
    Bursts(Recipient<BurstReceived>),
}

/// An inbound event that holds a place in its subscriber's queue.
pub(super) trait Queued: actix::Message<Result = ()> + Send + Clone + 'static {
    /// Its size in messages and payload bytes.
    fn size(&self) -> Level;
    /// Gives it its place in the queue.
    fn hold(&mut self, slot: QueueSlot);
}

impl Queued for MessageReceived {
    #[inline]
    fn size(&self) -> Level {
        Level {
            messages: 1,
            bytes: self.payload.len(),
        }
    }

    #[inline]
    fn hold(&mut self, slot: QueueSlot) {
        self.slot = slot;
    }
}

impl Queued for BurstReceived {
    fn size(&self) -> Level {
        Level {
            messages: self.payloads.len(),
            bytes: self.payloads.iter().map(Payload::len).sum(),
        }
    }

    fn hold(&mut self, slot: QueueSlot) {
        self.slot = slot;
    }
}

/// One inbound subscriber and its queue.
#[derive(Debug)]
struct Outlet<M: Queued>
where
    M::Result: Send,
{
    recipient: Recipient<M>,
    limits: QueueLimits,
    gauge: Arc<Gauge>,
    /// Drop-oldest only: events waiting for room in the mailbox.
    waiting: VecDeque<M>,
    waiting_level: Level,
}

impl<M: Queued> Outlet<M>
where
    M::Result: Send,
{
    fn new(recipient: Recipient<M>, limits: QueueLimits) -> Self {
        Self {
            recipient,
            limits,
            gauge: Arc::default(),
            waiting: VecDeque::new(),
            waiting_level: Level::default(),
        }
    }

    fn bound(&self) -> Level {
        Level {
            messages: self.limits.messages,
            bytes: self.limits.bytes,
        }
    }

    /// Whether every event is handed over as it comes (the whole burst is
    /// counted up front), rather than some waiting here.
    #[inline]
    fn hands_all_over(&self) -> bool {
        self.limits.overflow != Overflow::DropOldest
    }

    /// Hands `event` over, or (drop-oldest, mailbox share full) queues it
    /// here; returns the messages dropped to make room. Outlets that hand
    /// everything over had the burst reserved (see [`offer_all`]): its one
    /// slot rides on its last event (`closing` carries the burst's size),
    /// so the burst counts until its last message is dropped, with no
    /// shared counter touched per message.
    #[inline]
    fn offer(&mut self, mut event: M, closing: Option<Level>) -> u64 {
        if self.hands_all_over() {
            if let Some(total) = closing {
                event.hold(self.gauge.reserved(total));
            }
            self.recipient.do_send(event);
            return 0;
        }
        if !self.waiting.is_empty() || self.gauge.level().reaches(self.limits.mailbox_share()) {
            return self.queue(event);
        }
        self.hand_over(event);
        0
    }

    fn hand_over(&self, mut event: M) {
        let size = event.size();
        event.hold(self.gauge.take(size.messages, size.bytes));
        self.recipient.do_send(event);
    }

    /// Queues `event` here, dropping the oldest waiting ones while the
    /// waiting share is over its bound (the newest always stays).
    fn queue(&mut self, event: M) -> u64 {
        let size = event.size();
        self.waiting_level.messages += size.messages;
        self.waiting_level.bytes += size.bytes;
        self.waiting.push_back(event);
        let share = self.limits.mailbox_share();
        let cap = Level {
            messages: self.limits.messages - share.messages,
            bytes: self.limits.bytes - share.bytes,
        };
        let mut dropped = 0;
        while self.waiting.len() > 1
            && (self.waiting_level.messages > cap.messages || self.waiting_level.bytes > cap.bytes)
        {
            let Some(oldest) = self.waiting.pop_front() else {
                break;
            };
            let size = oldest.size();
            self.waiting_level.messages -= size.messages;
            self.waiting_level.bytes -= size.bytes;
            dropped += size.messages as u64;
        }
        dropped
    }

    /// Moves waiting events into the mailbox while its share has room;
    /// with events still waiting, asks `waker` to be woken when the
    /// mailbox drains (bounded: each round hands one event over or arms).
    fn pump(&mut self, waker: Option<&Waker>) {
        let share = self.limits.mailbox_share();
        let resume = share.below_half();
        for _ in 0..=self.waiting.len() {
            while !self.waiting.is_empty() && !self.gauge.level().reaches(share) {
                let event = self.waiting.pop_front().expect("checked non-empty");
                let size = event.size();
                self.waiting_level.messages -= size.messages;
                self.waiting_level.bytes -= size.bytes;
                self.hand_over(event);
            }
            match waker {
                Some(waker) if !self.waiting.is_empty() => {
                    if self.gauge.wake_at(resume, waker) {
                        return;
                    }
                    // Drained meanwhile: hand more over.
                }
                _ => return,
            }
        }
    }

    /// Pausing subscriber: whether reading must wait for it. Waits (with
    /// the pump's waker) from the full bound down to below half of it.
    fn holds_reading(&self, already_paused: bool, waker: Option<&Waker>) -> bool {
        if self.limits.overflow != Overflow::Pause {
            return false;
        }
        let level = self.gauge.level();
        let bound = self.bound();
        let resume = bound.below_half();
        let over = if already_paused {
            !level.at_or_below(resume)
        } else {
            level.reaches(bound)
        };
        match (over, waker) {
            (true, Some(waker)) => self.gauge.wake_at(resume, waker),
            // No pump yet to wake us: keep reading (the bound is soft).
            (true, None) | (false, _) => false,
        }
    }

    /// Whether a disconnect-on-overflow subscriber went past its bound.
    fn overflowed(&self) -> bool {
        self.limits.overflow == Overflow::Disconnect && self.gauge.level().exceeds(self.bound())
    }

    /// Whether settling has work here: events waiting, or a pause to end.
    fn unsettled(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// What this subscriber has waiting: in its mailbox or held, and here.
    fn depth(&self) -> Level {
        let level = self.gauge.level();
        Level {
            messages: level.messages + self.waiting_level.messages,
            bytes: level.bytes + self.waiting_level.bytes,
        }
    }
}

/// A subscriber removed for overflowing its queue.
#[derive(Debug)]
pub(super) struct Overflowed {
    /// What it had waiting.
    pub(super) depth: Level,
}

/// Delivers `events` (`total` in size) to every outlet in order: the last
/// one gets each without a clone. Outlets that hand everything over count
/// the whole burst at once. Returns the messages dropped.
fn offer_all<M: Queued>(
    outlets: &mut [Outlet<M>],
    total: Level,
    events: impl IntoIterator<Item = M>,
) -> u64
where
    M::Result: Send,
{
    for outlet in outlets.iter().filter(|o| o.hands_all_over()) {
        outlet.gauge.reserve(total);
    }
    let Some((last, rest)) = outlets.split_last_mut() else {
        return 0;
    };
    let mut dropped = 0;
    let mut events = events.into_iter().peekable();
    while let Some(event) = events.next() {
        let closing = events.peek().is_none().then_some(total);
        for outlet in rest.iter_mut() {
            dropped += outlet.offer(event.clone(), closing);
        }
        dropped += last.offer(event, closing);
    }
    dropped
}

/// Inbound figures the fanout accumulates for the monitor.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboundFigures {
    /// Reading was paused for this long (since the last take).
    pub(crate) paused: Duration,
    /// Messages dropped by drop-oldest subscribers.
    pub(crate) dropped: u64,
    /// Subscribers removed for overflowing.
    pub(crate) subscribers_dropped: u64,
}

/// The subscriber lists of one endpoint.
#[derive(Debug, Default)]
pub(super) struct Fanout {
    status: Subscribers<StatusChanged>,
    messages: Vec<Outlet<MessageReceived>>,
    bursts: Vec<Outlet<BurstReceived>>,
    /// The pump task's waker: woken when a queue drains enough to resume
    /// reading or to move waiting events on.
    pump: Option<Waker>,
    /// Since when reading waits for a pausing subscriber.
    paused_since: Option<Instant>,
    /// A pause that ended while publishing, not yet taken by the driver.
    resumed: Option<Duration>,
    figures: InboundFigures,
}

impl Fanout {
    /// Adds a subscriber; one already here keeps its queue (and what
    /// waits in it) and takes the new limits.
    pub(super) fn add(&mut self, subscriber: Subscriber, limits: QueueLimits) {
        fn upsert<M: Queued>(outlets: &mut Vec<Outlet<M>>, r: Recipient<M>, limits: QueueLimits)
        where
            M::Result: Send,
        {
            match outlets.iter_mut().find(|o| o.recipient == r) {
                Some(outlet) => outlet.limits = limits,
                None => outlets.push(Outlet::new(r, limits)),
            }
        }
        match subscriber {
            Subscriber::Status(r) => self.status.add(r),
            Subscriber::Messages(r) => upsert(&mut self.messages, r, limits),
            Subscriber::Bursts(r) => upsert(&mut self.bursts, r, limits),
        }
    }

    pub(super) fn remove(&mut self, subscriber: &Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status.remove(r),
            Subscriber::Messages(r) => self.messages.retain(|o| o.recipient != *r),
            Subscriber::Bursts(r) => self.bursts.retain(|o| o.recipient != *r),
        }
    }

    /// Tells every status subscriber.
    pub(super) fn status(&mut self, event: StatusChanged) {
        self.status.deliver(event);
    }

    /// Delivers a burst of inbound payloads, in order (hot path: once per
    /// burst): moved to per-message subscribers when no burst subscriber
    /// shares them; `bytes` is their payload size. Returns the subscribers
    /// removed for overflowing.
    pub(super) fn publish(
        &mut self,
        endpoint: &EndpointId,
        generation: u64,
        payloads: Vec<Payload>,
        bytes: usize,
        now: Instant,
    ) -> Vec<Overflowed> {
        self.messages.retain(|o| o.recipient.connected());
        self.bursts.retain(|o| o.recipient.connected());
        let mut dropped = 0;
        let total = Level {
            messages: payloads.len(),
            bytes,
        };
        if !self.messages.is_empty() {
            let message = |payload| MessageReceived {
                endpoint: endpoint.clone(),
                generation,
                payload,
                slot: QueueSlot::detached(),
            };
            if self.bursts.is_empty() {
                dropped += offer_all(&mut self.messages, total, payloads.into_iter().map(message));
                return self.after_publish(dropped, now);
            }
            dropped += offer_all(
                &mut self.messages,
                total,
                payloads.iter().cloned().map(message),
            );
        }
        if !self.bursts.is_empty() {
            let burst = BurstReceived {
                endpoint: endpoint.clone(),
                generation,
                payloads: Arc::new(payloads),
                slot: QueueSlot::detached(),
            };
            dropped += offer_all(&mut self.bursts, total, std::iter::once(burst));
        }
        self.after_publish(dropped, now)
    }

    fn after_publish(&mut self, dropped: u64, now: Instant) -> Vec<Overflowed> {
        self.figures.dropped += dropped;
        let mut overflowed = Vec::new();
        if self.messages.iter().any(Outlet::overflowed)
            || self.bursts.iter().any(Outlet::overflowed)
        {
            overflowed.extend(
                self.messages
                    .extract_if(.., |o| o.overflowed())
                    .map(|o| Overflowed { depth: o.depth() }),
            );
            overflowed.extend(
                self.bursts
                    .extract_if(.., |o| o.overflowed())
                    .map(|o| Overflowed { depth: o.depth() }),
            );
            self.figures.subscribers_dropped += overflowed.len() as u64;
        }
        if let Some(paused) = self.settle(now) {
            // Resumed while publishing (an authentication reply is read
            // even while paused): the driver hears of it.
            *self.resumed.get_or_insert_default() += paused;
        }
        overflowed
    }

    /// Re-reads every queue: moves waiting events on, decides whether
    /// reading waits, and asks to be woken when that may change. When a
    /// pause ends, how long it lasted.
    pub(super) fn settle(&mut self, now: Instant) -> Option<Duration> {
        let waker = self.pump.as_ref();
        for outlet in &mut self.messages {
            outlet.pump(waker);
        }
        for outlet in &mut self.bursts {
            outlet.pump(waker);
        }
        let was_paused = self.paused_since.is_some();
        let paused = self
            .messages
            .iter()
            .any(|o| o.holds_reading(was_paused, waker))
            | self
                .bursts
                .iter()
                .any(|o| o.holds_reading(was_paused, waker));
        match (was_paused, paused) {
            (false, true) => self.paused_since = Some(now),
            (true, false) => {
                let since = self.paused_since.take()?;
                let paused = now.saturating_duration_since(since);
                self.figures.paused += paused;
                return Some(paused);
            }
            _ => {}
        }
        None
    }

    /// Whether [`settle`](Self::settle) has anything to do when the pump
    /// wakes: a pause to end, or drop-oldest events waiting.
    pub(super) fn unsettled(&self) -> bool {
        self.paused_since.is_some()
            || self.messages.iter().any(Outlet::unsettled)
            || self.bursts.iter().any(Outlet::unsettled)
    }

    /// A pause that ended while publishing: its length.
    pub(super) fn take_resumed(&mut self) -> Option<Duration> {
        self.resumed.take()
    }

    /// Records the pump task's waker.
    pub(super) fn set_pump(&mut self, waker: &Waker) {
        if self
            .pump
            .as_ref()
            .is_none_or(|known| !known.will_wake(waker))
        {
            self.pump = Some(waker.clone());
        }
    }

    /// Whether reading waits for a subscriber to catch up.
    #[inline]
    pub(super) fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// The deepest subscriber queue now.
    pub(super) fn depth(&self) -> Level {
        let depths = self.messages.iter().map(Outlet::depth);
        depths
            .chain(self.bursts.iter().map(Outlet::depth))
            .fold(Level::default(), |deepest, d| {
                if d.messages > deepest.messages {
                    d
                } else {
                    deepest
                }
            })
    }

    /// The figures since the last take (a pause under way counts up to
    /// `now`).
    pub(super) fn take_figures(&mut self, now: Instant) -> InboundFigures {
        if let Some(since) = self.paused_since.as_mut() {
            self.figures.paused += now.saturating_duration_since(*since);
            *since = now;
        }
        std::mem::take(&mut self.figures)
    }
}
