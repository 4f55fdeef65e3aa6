//! An endpoint's subscribers: who hears its status changes and its inbound
//! messages, one at a time or in bursts.

use std::sync::Arc;

use actix::Recipient;

use crate::{
    subscribers::Subscribers, EndpointId, MessageReceived, MessagesReceived, Payload, StatusChanged,
};

/// A subscriber of one kind of event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscriber {
    /// Receives every [`StatusChanged`].
    Status(Recipient<StatusChanged>),
    /// Receives every inbound message as its own [`MessageReceived`].
    Messages(Recipient<MessageReceived>),
    /// Receives inbound messages in [`MessagesReceived`] batches: one mailbox
    /// hop per burst, the fast path.
    Batches(Recipient<MessagesReceived>),
}

/// The subscriber lists of one endpoint.
#[derive(Debug, Default)]
pub(super) struct Fanout {
    status: Subscribers<StatusChanged>,
    messages: Subscribers<MessageReceived>,
    batches: Subscribers<MessagesReceived>,
}

impl Fanout {
    pub(super) fn add(&mut self, subscriber: Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status.add(r),
            Subscriber::Messages(r) => self.messages.add(r),
            Subscriber::Batches(r) => self.batches.add(r),
        }
    }

    pub(super) fn remove(&mut self, subscriber: &Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status.remove(r),
            Subscriber::Messages(r) => self.messages.remove(r),
            Subscriber::Batches(r) => self.batches.remove(r),
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
            if self.batches.is_empty() {
                self.messages.deliver_all(payloads.into_iter().map(message));
                return;
            }
            self.messages
                .deliver_all(payloads.iter().cloned().map(message));
        }
        if !self.batches.is_empty() {
            self.batches.deliver(MessagesReceived {
                endpoint: endpoint.clone(),
                generation,
                payloads: Arc::new(payloads),
            });
        }
    }
}
