//! The bounded outbox of one endpoint: pure queue logic, no I/O.

use std::{collections::VecDeque, sync::Arc, time::Instant};

use crate::{
    delivery::{Delivered, OutcomeSender, OverflowPolicy, SendOptions},
    push_queue::PushQueue,
    Error, Payload, Result,
};

/// A message on its way out, with whoever waits for its outcome.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) payload: Payload,
    pub(crate) ack_id: Option<Arc<str>>,
    pub(crate) session_scoped: bool,
    pub(crate) report: Report,
    pub(crate) queued_at: Instant,
}

/// Who hears how a message ended.
#[derive(Debug)]
pub(crate) enum Report {
    /// The sender's receipt.
    Receipt(OutcomeSender),
    /// A push (no receipt): a failure is counted on the endpoint's push
    /// queue, where its handles read it.
    Pushed(Arc<PushQueue>),
}

impl Outgoing {
    /// A sent message with its options, queued `now`.
    pub(crate) fn new(
        payload: Payload,
        options: SendOptions,
        report: Report,
        now: Instant,
    ) -> Self {
        let (ack_id, session_scoped) = options.into_parts();
        Self {
            payload,
            ack_id,
            session_scoped,
            report,
            queued_at: now,
        }
    }

    /// A pushed payload, queued `now`.
    pub(crate) fn pushed(payload: Payload, queue: Arc<PushQueue>, now: Instant) -> Self {
        Self {
            payload,
            ack_id: None,
            session_scoped: false,
            report: Report::Pushed(queue),
            queued_at: now,
        }
    }

    /// Tells the sender how the message ended.
    pub(crate) fn finish(self, outcome: Result<Delivered>) {
        self.report.finish(outcome);
    }
}

impl Report {
    /// Tells the sender how its message ended.
    pub(crate) fn finish(self, outcome: Result<Delivered>) {
        match self {
            Report::Receipt(report) => {
                let _ = report.send(outcome);
            }
            Report::Pushed(queue) if outcome.is_err() => queue.note_lost(1),
            Report::Pushed(_) => {}
        }
    }
}

/// What `push` did.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// Queued at `position`.
    Queued { position: usize },
    /// Queued at `position`; the oldest message was dropped to make room.
    DroppedOldest { position: usize, dropped: Outgoing },
    /// Full: the message was refused (and dropped).
    Rejected,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
    capacity: usize,
    policy: OverflowPolicy,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, policy: OverflowPolicy) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity,
            policy,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn front(&self) -> Option<&Outgoing> {
        self.queue.front()
    }

    pub(crate) fn push(&mut self, msg: Outgoing) -> Pushed {
        if self.queue.len() < self.capacity {
            self.queue.push_back(msg);
            return Pushed::Queued {
                position: self.queue.len() - 1,
            };
        }
        match (self.policy, self.queue.pop_front()) {
            (OverflowPolicy::DropOldest, Some(dropped)) => {
                self.queue.push_back(msg);
                Pushed::DroppedOldest {
                    position: self.queue.len() - 1,
                    dropped,
                }
            }
            (_, oldest) => {
                if let Some(oldest) = oldest {
                    self.queue.push_front(oldest);
                }
                drop(msg);
                Pushed::Rejected
            }
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Outgoing> {
        self.queue.pop_front()
    }

    /// Puts messages back at the front, in their order (written but never
    /// acknowledged). They were accepted before, so capacity does not apply.
    pub(crate) fn requeue_front(&mut self, msgs: impl DoubleEndedIterator<Item = Outgoing>) {
        for msg in msgs.rev() {
            self.queue.push_front(msg);
        }
    }

    /// Fails every session-scoped message: they never cross into a new connection.
    pub(crate) fn fail_session_scoped(&mut self, error: &Error) {
        let (session, keep): (Vec<_>, Vec<_>) =
            self.queue.drain(..).partition(|m| m.session_scoped);
        self.queue.extend(keep);
        for msg in session {
            msg.finish(Err(error.clone()));
        }
    }

    /// Fails everything queued.
    pub(crate) fn fail_all(&mut self, error: &Error) {
        for msg in self.queue.drain(..) {
            msg.finish(Err(error.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::oneshot;

    use super::*;
    use crate::ErrorCategory;

    fn msg(
        text: &'static str,
        session_scoped: bool,
    ) -> (Outgoing, oneshot::Receiver<Result<Delivered>>) {
        let (tx, rx) = oneshot::channel();
        let m = Outgoing {
            payload: Payload::from(text),
            ack_id: None,
            session_scoped,
            report: Report::Receipt(tx),
            queued_at: Instant::now(),
        };
        (m, rx)
    }

    fn texts(outbox: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.pop())
            .map(|m| m.payload.as_text().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn reject_policy_refuses_the_new_message() {
        let mut o = Outbox::new(2, OverflowPolicy::Reject);
        assert!(matches!(
            o.push(msg("a", false).0),
            Pushed::Queued { position: 0 }
        ));
        assert!(matches!(
            o.push(msg("b", false).0),
            Pushed::Queued { position: 1 }
        ));
        assert!(matches!(o.push(msg("c", false).0), Pushed::Rejected));
        assert_eq!(texts(&mut o), ["a", "b"]);
    }

    #[test]
    fn drop_oldest_hands_back_the_oldest_and_keeps_order() {
        let mut o = Outbox::new(2, OverflowPolicy::DropOldest);
        o.push(msg("a", false).0);
        o.push(msg("b", false).0);
        let Pushed::DroppedOldest { position, dropped } = o.push(msg("c", false).0) else {
            panic!()
        };
        assert_eq!((position, dropped.payload.as_text()), (1, Some("a")));
        assert_eq!(texts(&mut o), ["b", "c"]);
    }

    #[test]
    fn requeue_goes_to_the_front_in_order_and_session_scoped_fail() {
        let mut o = Outbox::new(10, OverflowPolicy::Reject);
        o.push(msg("later", false).0);
        let (s, mut s_rx) = msg("session", true);
        o.push(s);
        o.requeue_front(vec![msg("x", false).0, msg("y", false).0].into_iter());
        o.fail_session_scoped(&Error::network("connection lost"));
        let err = s_rx.try_recv().unwrap().unwrap().unwrap_err();
        assert_eq!(err.category(), ErrorCategory::Network);
        assert_eq!(texts(&mut o), ["x", "y", "later"]);
    }

    #[test]
    fn fail_all_reports_every_message() {
        let mut o = Outbox::new(10, OverflowPolicy::Reject);
        let (a, mut a_rx) = msg("a", false);
        let (b, mut b_rx) = msg("b", false);
        o.push(a);
        o.push(b);
        o.fail_all(&Error::shutdown());
        assert!(o.is_empty());
        for rx in [&mut a_rx, &mut b_rx] {
            assert_eq!(
                rx.try_recv().unwrap().unwrap().unwrap_err().category(),
                ErrorCategory::Shutdown
            );
        }
    }
}
