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

    /// Delivers `msg` to every live recipient (the last one gets it without a
    /// clone) and drops the dead ones.
    pub(crate) fn deliver(&mut self, msg: M) {
        self.deliver_all(std::iter::once(msg));
    }

    /// Delivers each message in order, as [`deliver`](Self::deliver), with
    /// one check for dead recipients for the whole burst.
    pub(crate) fn deliver_all(&mut self, msgs: impl IntoIterator<Item = M>) {
        self.recipients.retain(Recipient::connected);
        let Some((last, rest)) = self.recipients.split_last() else {
            return;
        };
        for msg in msgs {
            for recipient in rest {
                recipient.do_send(msg.clone());
            }
            last.do_send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use actix::prelude::*;

    use super::Subscribers;

    #[derive(Clone, Message)]
    #[rtype(result = "()")]
    struct Ping;

    struct Sink(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Ping> for Sink {
        type Result = ();
        fn handle(&mut self, _: Ping, ctx: &mut Context<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ctx.stop();
        }
    }

    #[actix::test]
    async fn stopped_recipients_are_pruned_and_duplicates_ignored() {
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let addr = Sink(hits.clone()).start();
        let mut subs = Subscribers::default();
        subs.add(addr.clone().recipient());
        subs.add(addr.clone().recipient());
        assert_eq!(subs.recipients.len(), 1);
        // The first delivery stops the actor.
        subs.deliver(Ping);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while addr.connected() {
            assert!(std::time::Instant::now() < deadline, "actor did not stop");
            actix_rt::task::yield_now().await;
        }
        subs.deliver(Ping);
        assert!(subs.recipients.is_empty());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
