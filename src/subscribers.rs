//! Subscriber lists with lazy pruning of recipients whose actor has stopped.

use actix::{Message, Recipient};

/// A set of recipients; each appears at most once.
#[derive(Debug)]
pub(crate) struct Subscribers<M: Message + Send>
where
    M::Result: Send,
{
    recipients: Vec<Recipient<M>>,
}

impl<M: Message + Send> Default for Subscribers<M>
where
    M::Result: Send,
{
    fn default() -> Self {
        Self {
            recipients: Vec::new(),
        }
    }
}

impl<M> Subscribers<M>
where
    M: Message + Send + Clone + 'static,
    M::Result: Send,
{
    pub(crate) fn add(&mut self, recipient: Recipient<M>) {
        if !self.recipients.contains(&recipient) {
            self.recipients.push(recipient);
        }
    }

    pub(crate) fn remove(&mut self, recipient: &Recipient<M>) {
        self.recipients.retain(|r| r != recipient);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.recipients.is_empty()
    }

    /// Delivers `msg` to every live recipient (the last one gets it without a
    /// clone) and drops the dead ones.
    pub(crate) fn deliver(&mut self, msg: M) {
        self.recipients.retain(Recipient::connected);
        if let Some((last, rest)) = self.recipients.split_last() {
            for recipient in rest {
                recipient.do_send(msg.clone());
            }
            last.do_send(msg);
        }
    }
}
