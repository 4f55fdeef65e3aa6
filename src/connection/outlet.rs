//! One inbound subscriber of an endpoint: its recipient, its bounded
//! queue and overflow policy, and the event types it takes.

use std::{collections::VecDeque, sync::Arc, task::Waker};

use actix::Recipient;

use super::fanout::Terms;
use crate::{
    backlog::{Gauge, Level, Overflow, QueueLimits},
    BurstReceived, EventTypes, MessageReceived, Payloads, QueueSlot,
};

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
            bytes: self.payloads.byte_len(),
        }
    }

    fn hold(&mut self, slot: QueueSlot) {
        self.slot = slot;
    }
}

/// One inbound subscriber and its queue.
#[derive(Debug)]
pub(super) struct Outlet<M: Queued>
where
    M::Result: Send,
{
    pub(super) recipient: Recipient<M>,
    pub(super) limits: QueueLimits,
    /// Takes only these event types (see
    /// [`Fanout::publish`](super::fanout::Fanout::publish)).
    pub(super) types: Option<EventTypes>,
    gauge: Arc<Gauge>,
    /// Drop-oldest only: events waiting for room in the mailbox.
    waiting: VecDeque<M>,
    waiting_level: Level,
}

impl<M: Queued> Outlet<M>
where
    M::Result: Send,
{
    pub(super) fn new(recipient: Recipient<M>, terms: Terms) -> Self {
        Self {
            recipient,
            limits: terms.limits,
            types: terms.types,
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
    pub(super) fn hands_all_over(&self) -> bool {
        self.limits.overflow != Overflow::DropOldest
    }

    /// Hands `event` over, or (drop-oldest, mailbox share full) queues it
    /// here; returns the messages dropped to make room. Outlets that hand
    /// everything over had the burst reserved (see [`offer_all`]): its one
    /// slot rides on its last event (`closing` carries the burst's size),
    /// so the burst counts until its last message is dropped, with no
    /// shared counter touched per message.
    #[inline]
    pub(super) fn offer(&mut self, mut event: M, closing: Option<Level>) -> u64 {
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
    pub(super) fn pump(&mut self, waker: Option<&Waker>) {
        if self.waiting.is_empty() {
            return;
        }
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
    pub(super) fn holds_reading(&self, already_paused: bool, waker: Option<&Waker>) -> bool {
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

    /// A filtering subscriber's share of `payloads` (sharing its
    /// buffers) and its size; `None` when it takes none of them.
    pub(super) fn choose(&self, payloads: &Payloads) -> Option<(Payloads, Level)> {
        let chosen = payloads.select(self.types.as_ref()?)?;
        let total = Level {
            messages: chosen.len(),
            bytes: chosen.byte_len(),
        };
        Some((chosen, total))
    }

    /// Whether a disconnect-on-overflow subscriber went past its bound.
    pub(super) fn overflowed(&self) -> bool {
        self.limits.overflow == Overflow::Disconnect && self.gauge.level().exceeds(self.bound())
    }

    /// Whether settling has work here: events waiting, or a pause to end.
    pub(super) fn unsettled(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// What this subscriber has waiting: in its mailbox or held, and here.
    pub(super) fn depth(&self) -> Level {
        let level = self.gauge.level();
        Level {
            messages: level.messages + self.waiting_level.messages,
            bytes: level.bytes + self.waiting_level.bytes,
        }
    }
}

/// Delivers `events` (`total` in size) to every outlet in order: the last
/// one gets each without a clone. Outlets that hand everything over count
/// the whole burst at once. Returns the messages dropped.
pub(super) fn offer_all<M: Queued>(
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
