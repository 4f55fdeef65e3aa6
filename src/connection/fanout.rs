//! An endpoint's subscribers: who hears its status changes and its inbound
//! messages (one at a time or in bursts), each inbound subscriber with its
//! own bounded queue and overflow policy.

use std::{
    task::Waker,
    time::{Duration, Instant},
};

use actix::Recipient;

use super::outlet::{offer_all, Outlet, Queued};
use crate::{
    backlog::{Level, QueueLimits},
    subscribers::Subscribers,
    BurstReceived, EndpointId, EventTypes, InlineBurst, InlineHandler, MessageReceived, Payloads,
    QueueSlot, StatusChanged,
};

/// A subscriber of one kind of event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subscriber {
    /// Receives every [`StatusChanged`].
    Status(Recipient<StatusChanged>),
    /// Receives every inbound message as its own [`MessageReceived`].
    Messages(Recipient<MessageReceived>),
    /// Receives inbound messages in [`BurstReceived`] bursts: everything
    /// that was ready at once, in one mailbox hop (the fast path).
    Bursts(Recipient<BurstReceived>),
    /// Runs on every burst inside the connection's task, before the other
    /// subscribers hear of it (no mailbox hop, no queue; see
    /// [`InlineHandler`]).
    Inline(InlineHandler),
}

/// What an inbound subscriber asked for besides being told.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    /// Its queue's bounds and overflow policy.
    pub(crate) limits: QueueLimits,
    /// The SSE event types it takes; `None`: every payload.
    pub(crate) types: Option<EventTypes>,
}

/// An inbound subscriber the fanout removed.
#[derive(Debug)]
pub(super) enum Dropped {
    /// It overflowed its queue, which held this much.
    Overflowed(Level),
    /// An inline handler panicked, with this message.
    Panicked(String),
}

/// Inbound figures the fanout accumulates for the monitor.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboundFigures {
    /// Reading was paused for this long (since the last take).
    pub(crate) paused: Duration,
    /// Messages dropped by drop-oldest subscribers.
    pub(crate) dropped: u64,
    /// Subscribers removed for overflowing, and inline handlers for
    /// panicking.
    pub(crate) subscribers_dropped: u64,
}

/// The subscriber lists of one endpoint.
// What every pass reads (is reading paused, is there a queue to settle)
// lies inline, beside the actor's other hot fields; the lists are boxed:
// an idle pass of a connection without queued subscribers leaves them
// alone.
#[derive(Debug, Default)]
#[repr(C)]
pub(super) struct Fanout {
    /// Since when reading waits for a pausing subscriber.
    paused_since: Option<Instant>,
    /// Some message or burst subscriber (one with a queue) is here: the
    /// pump has work only then.
    queues: bool,
    lists: Box<Lists>,
}

#[derive(Debug, Default)]
struct Lists {
    status: Subscribers<StatusChanged>,
    messages: Vec<Outlet<MessageReceived>>,
    bursts: Vec<Outlet<BurstReceived>>,
    /// Inline handlers and the event types each takes (`None`: all).
    inline: Vec<(InlineHandler, Option<EventTypes>)>,
    /// The pump task's waker: woken when a queue drains enough to resume
    /// reading or to move waiting events on.
    pump: Option<Waker>,
    /// A pause that ended while publishing, not yet taken by the driver.
    resumed: Option<Duration>,
    figures: InboundFigures,
}

impl Fanout {
    /// Adds a subscriber; one already here keeps its queue (and what
    /// waits in it) and takes the new terms. Subscribers without a type
    /// filter stay ahead of those with one.
    pub(super) fn add(&mut self, subscriber: Subscriber, terms: Terms) {
        fn upsert<M: Queued>(outlets: &mut Vec<Outlet<M>>, r: Recipient<M>, terms: Terms)
        where
            M::Result: Send,
        {
            match outlets.iter_mut().find(|o| o.recipient == r) {
                Some(outlet) => {
                    outlet.limits = terms.limits;
                    outlet.types = terms.types;
                }
                None => outlets.push(Outlet::new(r, terms)),
            }
            outlets.sort_by_key(|o| o.types.is_some());
        }
        match subscriber {
            Subscriber::Status(r) => self.lists.status.add(r),
            Subscriber::Messages(r) => upsert(&mut self.lists.messages, r, terms),
            Subscriber::Bursts(r) => upsert(&mut self.lists.bursts, r, terms),
            // One that panicked elsewhere is not taken on (a later
            // endpoint of a subscription to all).
            Subscriber::Inline(handler) if handler.panicked() => {}
            Subscriber::Inline(handler) => {
                match self.lists.inline.iter_mut().find(|(h, _)| *h == handler) {
                    Some((_, types)) => *types = terms.types,
                    None => self.lists.inline.push((handler, terms.types)),
                }
            }
        }
        self.recount();
    }

    pub(super) fn remove(&mut self, subscriber: &Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.lists.status.remove(r),
            Subscriber::Messages(r) => self.lists.messages.retain(|o| o.recipient != *r),
            Subscriber::Bursts(r) => self.lists.bursts.retain(|o| o.recipient != *r),
            Subscriber::Inline(handler) => self.lists.inline.retain(|(h, _)| h != handler),
        }
        self.recount();
    }

    /// Notes whether a subscriber with a queue is here.
    fn recount(&mut self) {
        self.queues = !(self.lists.messages.is_empty() && self.lists.bursts.is_empty());
    }

    /// Tells every status subscriber.
    pub(super) fn status(&mut self, event: StatusChanged) {
        self.lists.status.deliver(event);
    }

    /// Delivers a burst of inbound payloads, in order (hot path: once per
    /// burst): inline handlers first, in this task; burst subscribers share it as it is; per-message
    /// subscribers get owned payloads (moved out when no burst subscriber
    /// shares them). Subscribers with a type filter get their own
    /// selection first; a selection that is empty costs them nothing.
    /// Returns the subscribers removed (overflowed, or panicked).
    pub(super) fn publish(
        &mut self,
        endpoint: &EndpointId,
        (generation, epoch): (u64, Option<u64>),
        payloads: Payloads,
        now: Instant,
    ) -> Vec<Dropped> {
        let mut panicked = Vec::new();
        if !self.lists.inline.is_empty() {
            panicked = self.call_inline(endpoint, (generation, epoch), &payloads);
        }
        self.lists.messages.retain(|o| o.recipient.connected());
        self.lists.bursts.retain(|o| o.recipient.connected());
        let message = |payload| MessageReceived {
            endpoint: endpoint.clone(),
            generation,
            epoch,
            payload,
            slot: QueueSlot::detached(),
        };
        let burst = |payloads| BurstReceived {
            endpoint: endpoint.clone(),
            generation,
            epoch,
            payloads,
            slot: QueueSlot::detached(),
        };
        let plain_messages = self.lists.messages.partition_point(|o| o.types.is_none());
        let plain_bursts = self.lists.bursts.partition_point(|o| o.types.is_none());
        let mut dropped = 0;
        for outlet in &mut self.lists.messages[plain_messages..] {
            if let Some((chosen, total)) = outlet.choose(&payloads) {
                let outlet = std::slice::from_mut(outlet);
                dropped += offer_all(outlet, total, chosen.into_vec().into_iter().map(message));
            }
        }
        for outlet in &mut self.lists.bursts[plain_bursts..] {
            if let Some((chosen, total)) = outlet.choose(&payloads) {
                let outlet = std::slice::from_mut(outlet);
                dropped += offer_all(outlet, total, std::iter::once(burst(chosen)));
            }
        }
        let total = Level {
            messages: payloads.len(),
            bytes: payloads.byte_len(),
        };
        let (messages, bursts) = (
            &mut self.lists.messages[..plain_messages],
            &mut self.lists.bursts[..plain_bursts],
        );
        if !messages.is_empty() {
            if bursts.is_empty() {
                let owned = payloads.into_vec().into_iter().map(message);
                dropped += offer_all(messages, total, owned);
                return self.after_publish(dropped, panicked, now);
            }
            let owned = payloads.iter().map(|p| message(p.to_payload()));
            dropped += offer_all(messages, total, owned);
        }
        if !bursts.is_empty() {
            dropped += offer_all(bursts, total, std::iter::once(burst(payloads)));
        }
        self.after_publish(dropped, panicked, now)
    }

    /// Calls every inline handler with its share of `payloads`; removes
    /// those that panic.
    fn call_inline(
        &mut self,
        endpoint: &EndpointId,
        (generation, epoch): (u64, Option<u64>),
        payloads: &Payloads,
    ) -> Vec<Dropped> {
        let mut panicked = Vec::new();
        self.lists.inline.retain(|(handler, types)| {
            let chosen;
            let payloads = match types {
                None => payloads,
                Some(types) => match payloads.select(types) {
                    Some(selection) => {
                        chosen = selection;
                        &chosen
                    }
                    None => return true,
                },
            };
            let burst = InlineBurst {
                endpoint,
                generation,
                epoch,
                payloads,
            };
            handler
                .call(burst)
                .map_err(|message| panicked.push(Dropped::Panicked(message)))
                .is_ok()
        });
        panicked
    }

    /// Counts the dropped messages, removes the subscribers that
    /// overflowed (added to `removed`, the panicked inline handlers) and
    /// settles the queues.
    fn after_publish(
        &mut self,
        dropped: u64,
        mut removed: Vec<Dropped>,
        now: Instant,
    ) -> Vec<Dropped> {
        self.lists.figures.dropped += dropped;
        if self.lists.messages.iter().any(Outlet::overflowed)
            || self.lists.bursts.iter().any(Outlet::overflowed)
        {
            removed.extend(
                self.lists
                    .messages
                    .extract_if(.., |o| o.overflowed())
                    .map(|o| Dropped::Overflowed(o.depth())),
            );
            removed.extend(
                self.lists
                    .bursts
                    .extract_if(.., |o| o.overflowed())
                    .map(|o| Dropped::Overflowed(o.depth())),
            );
        }
        self.lists.figures.subscribers_dropped += removed.len() as u64;
        self.recount();
        if let Some(paused) = self.settle(now) {
            // Resumed while publishing (an authentication reply is read
            // even while paused): the driver hears of it.
            *self.lists.resumed.get_or_insert_default() += paused;
        }
        removed
    }

    /// Re-reads every queue: moves waiting events on, decides whether
    /// reading waits, and asks to be woken when that may change. When a
    /// pause ends, how long it lasted.
    pub(super) fn settle(&mut self, now: Instant) -> Option<Duration> {
        let lists = &mut *self.lists;
        let waker = lists.pump.as_ref();
        for outlet in &mut lists.messages {
            outlet.pump(waker);
        }
        for outlet in &mut lists.bursts {
            outlet.pump(waker);
        }
        let was_paused = self.paused_since.is_some();
        let paused = lists
            .messages
            .iter()
            .any(|o| o.holds_reading(was_paused, waker))
            | lists
                .bursts
                .iter()
                .any(|o| o.holds_reading(was_paused, waker));
        match (was_paused, paused) {
            (false, true) => self.paused_since = Some(now),
            (true, false) => {
                let since = self.paused_since.take()?;
                let paused = now.saturating_duration_since(since);
                self.lists.figures.paused += paused;
                return Some(paused);
            }
            _ => {}
        }
        None
    }

    /// Whether [`settle`](Self::settle) has anything to do when the pump
    /// wakes: a pause to end, or drop-oldest events waiting.
    #[inline]
    pub(super) fn unsettled(&self) -> bool {
        self.paused_since.is_some()
            || (self.queues
                && (self.lists.messages.iter().any(Outlet::unsettled)
                    || self.lists.bursts.iter().any(Outlet::unsettled)))
    }

    /// A pause that ended while publishing: its length.
    pub(super) fn take_resumed(&mut self) -> Option<Duration> {
        self.lists.resumed.take()
    }

    /// Records the pump task's waker (only subscriber queues wake it).
    #[inline]
    pub(super) fn set_pump(&mut self, waker: &Waker) {
        let lists = &mut *self.lists;
        if self.queues
            && lists
                .pump
                .as_ref()
                .is_none_or(|known| !known.will_wake(waker))
        {
            lists.pump = Some(waker.clone());
        }
    }

    /// Whether reading waits for a subscriber to catch up.
    #[inline]
    pub(super) fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// The deepest subscriber queue now.
    pub(super) fn depth(&self) -> Level {
        if !self.queues {
            return Level::default();
        }
        let depths = self.lists.messages.iter().map(Outlet::depth);
        depths
            .chain(self.lists.bursts.iter().map(Outlet::depth))
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
            self.lists.figures.paused += now.saturating_duration_since(*since);
            *since = now;
        }
        std::mem::take(&mut self.lists.figures)
    }
}
