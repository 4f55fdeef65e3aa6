//! What a group send does when no member is up: the [`NoneUp`] policy,
//! and the waiting room that lets waiting sends go out in the order they
//! came.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use futures::channel::oneshot;

/// What a send does when no member is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NoneUp {
    /// Refuse it at once with an [`Endpoint`](crate::ErrorCategory::Endpoint)
    /// error (the default).
    #[default]
    Refuse,
    /// Wait up to `timeout` for a member to come up, then send as usual; at
    /// most `max_waiting` sends wait at once (more are refused with an
    /// [`Overflow`](crate::ErrorCategory::Overflow) error), and one still
    /// waiting at the timeout fails with a
    /// [`Timeout`](crate::ErrorCategory::Timeout) error. Waiting sends go
    /// out in the order they came, and a new send waits behind them, so
    /// the messages of one key keep their order. The message is held by
    /// the caller's future: nothing is queued behind its back.
    Wait {
        /// The longest a send waits.
        timeout: Duration,
        /// The most sends waiting at once.
        max_waiting: usize,
    },
}

/// Sends waiting for a member, first come first out.
#[derive(Debug, Default)]
pub(super) struct WaitingRoom {
    queue: Mutex<Queue>,
    /// How many wait (read without the lock by every send).
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Queue {
    next_ticket: u64,
    /// Tickets in arrival order, each with the sender that wakes it.
    waiting: VecDeque<(u64, Option<oneshot::Sender<()>>)>,
}

impl WaitingRoom {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no send waits.
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// Joins the queue, unless `max` wait already.
    pub(super) fn enter(&self, max: usize) -> Option<Ticket<'_>> {
        let mut queue = self.queue();
        if queue.waiting.len() >= max {
            return None;
        }
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push_back((ticket, None));
        self.len.store(queue.waiting.len(), Ordering::Release);
        Some(Ticket { room: self, ticket })
    }
}

/// A place in the [`WaitingRoom`]; leaving it (dropping it) lets the next
/// one go.
#[derive(Debug)]
pub(super) struct Ticket<'a> {
    room: &'a WaitingRoom,
    ticket: u64,
}

impl Ticket<'_> {
    /// Whether this send is the first in line.
    pub(super) fn is_first(&self) -> bool {
        self.room
            .queue()
            .waiting
            .front()
            .is_some_and(|(ticket, _)| *ticket == self.ticket)
    }

    /// Resolves when the send ahead leaves (or the room wakes this one
    /// for another reason); replaces an earlier call's.
    pub(super) fn turn(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut queue = self.room.queue();
        if let Some((_, wake)) = queue.waiting.iter_mut().find(|(t, _)| *t == self.ticket) {
            *wake = Some(tx);
        }
        rx
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut queue = self.room.queue();
        let Some(at) = queue.waiting.iter().position(|(t, _)| *t == self.ticket) else {
            return;
        };
        queue.waiting.remove(at);
        self.room.len.store(queue.waiting.len(), Ordering::Release);
        if at == 0 {
            if let Some((_, Some(wake))) = queue.waiting.front_mut().map(|(t, w)| (t, w.take())) {
                let _ = wake.send(());
            }
        }
    }
}

/// The deadline `timeout` from now; `Duration::MAX` (or anything past what
/// an `Instant` can count) gives about 30 years.
pub(super) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_go_first_in_first_out_and_a_leaving_first_wakes_the_next() {
        let room = WaitingRoom::default();
        assert!(room.is_empty());
        let a = room.enter(3).unwrap();
        let b = room.enter(3).unwrap();
        let c = room.enter(3).unwrap();
        assert!(room.enter(3).is_none(), "at most 3 wait");
        assert!(a.is_first() && !b.is_first() && !c.is_first());
        let mut b_turn = b.turn();
        let mut c_turn = c.turn();
        // The last one leaving (a timeout) wakes no one.
        drop(c);
        assert_eq!(c_turn.try_recv(), Err(oneshot::Canceled));
        assert_eq!(b_turn.try_recv(), Ok(None));
        drop(a);
        assert_eq!(b_turn.try_recv(), Ok(Some(())));
        assert!(b.is_first());
        assert!(!room.is_empty());
        drop(b);
        assert!(room.is_empty());
    }
}
