//! An endpoint's subscribers: who hears its status changes and its inbound
//! messages, one at a time or in bursts.

use std::sync::Arc;

use actix::Recipient;

use crate::{
    subscribers::Subscribers, BurstReceived, EndpointId, MessageReceived, Payload, StatusChanged,
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

/// The subscriber lists of one endpoint.
#[derive(Debug, Default)]
pub(super) struct Fanout {
    status: Subscribers<StatusChanged>,
    messages: Subscribers<MessageReceived>,
    bursts: Subscribers<BurstReceived>,
}

impl Fanout {
    pub(super) fn add(&mut self, subscriber: Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status.add(r),
            Subscriber::Messages(r) => self.messages.add(r),
            Subscriber::Bursts(r) => self.bursts.add(r),
        }
    }

    pub(super) fn remove(&mut self, subscriber: &Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status.remove(r),
            Subscriber::Messages(r) => self.messages.remove(r),
            Subscriber::Bursts(r) => self.bursts.remove(r),
        }
    }

    /// Tells every status subscriber.
    pub(super) fn status(&mut self, event: StatusChanged) {
        self.status.deliver(event);
    }

    /// Delivers a burst of inbound payloads, in order (hot path: once per
    /// burst): moved to per-message subscribers when no batch subscriber
    /// shares them.
    pub(super) fn publish(
        &mut self,
        endpoint: &EndpointId,
        generation: u64,
        payloads: Vec<Payload>,
    ) {
        if !self.messages.is_empty() {
            let message = |payload| MessageReceived {
                endpoint: endpoint.clone(),
                generation,
                payload,
            };
            if self.bursts.is_empty() {
                self.messages.deliver_all(payloads.into_iter().map(message));
                return;
            }
            self.messages
                .deliver_all(payloads.iter().cloned().map(message));
        }
        if !self.bursts.is_empty() {
            self.bursts.deliver(BurstReceived {
                endpoint: endpoint.clone(),
                generation,
                payloads: Arc::new(payloads),
            });
        }
    }
}
