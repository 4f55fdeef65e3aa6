//! Leases: a group member taken for exclusive use (a request/response
//! protocol that must not interleave), given back when the lease drops,
//! and the pool figures that go with them.

use std::{
    collections::{HashSet, VecDeque},
    future::Future,
    ops::Deref,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll},
};

use futures::channel::oneshot;

use crate::{EndpointHandle, EndpointId};

/// Who holds which member, and who waits for one.
#[derive(Debug, Default)]
pub(super) struct LeaseBook {
    state: Mutex<Book>,
    requests: AtomicU64,
    granted: AtomicU64,
    timeouts: AtomicU64,
}

#[derive(Debug, Default)]
struct Book {
    leased: HashSet<EndpointId>,
    waiters: VecDeque<oneshot::Sender<()>>,
}

impl LeaseBook {
    fn book(&self) -> MutexGuard<'_, Book> {
        match self.state.lock() {
            Ok(book) => book,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether `id` is leased now.
    pub(super) fn is_leased(&self, id: &EndpointId) -> bool {
        self.book().leased.contains(id)
    }

    /// Members leased now.
    pub(super) fn leased(&self) -> usize {
        self.book().leased.len()
    }

    /// Takes `id` unless someone holds it already.
    pub(super) fn take(&self, id: &EndpointId) -> bool {
        self.book().leased.insert(id.clone())
    }

    /// A waiter, woken when a lease is given back. Waiters that gave up
    /// are dropped here, so the list holds only those still waiting.
    pub(super) fn wait(&self) -> GivenBack<'_> {
        let (tx, rx) = oneshot::channel();
        let mut book = self.book();
        book.waiters.retain(|waiter| !waiter.is_canceled());
        book.waiters.push_back(tx);
        GivenBack { rx, book: self }
    }

    fn release(&self, id: &EndpointId) {
        let mut book = self.book();
        book.leased.remove(id);
        wake_one(&mut book);
    }

    pub(super) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_granted(&self) {
        self.granted.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Acquire requests, grants and timeouts so far.
    pub(super) fn counts(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.granted.load(Ordering::Relaxed),
            self.timeouts.load(Ordering::Relaxed),
        )
    }
}

/// Wakes the first waiter still waiting; gone ones are skipped.
fn wake_one(book: &mut Book) {
    while let Some(waiter) = book.waiters.pop_front() {
        if waiter.send(()).is_ok() {
            break;
        }
    }
}

/// Resolves when a lease is given back. Dropped after being woken without
/// having been polled to that wake-up, it passes the wake-up on to the
/// next waiter, so a given-back lease never waits for a recheck.
pub(super) struct GivenBack<'a> {
    rx: oneshot::Receiver<()>,
    book: &'a LeaseBook,
}

impl Future for GivenBack<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.rx).poll(cx).map(|_| ())
    }
}

impl Drop for GivenBack<'_> {
    fn drop(&mut self) {
        if let Ok(Some(())) = self.rx.try_recv() {
            wake_one(&mut self.book.book());
        }
    }
}

/// A group member held for exclusive use by
/// [`GroupHandle::acquire`](crate::GroupHandle::acquire): no other lease
/// gets it until this one drops. Derefs to the member's
/// [`EndpointHandle`]. Routed sends ([`send`](crate::GroupHandle::send))
/// do not look at leases.
#[derive(Debug)]
pub struct Lease {
    member: EndpointHandle,
    book: Arc<LeaseBook>,
}

impl Lease {
    pub(super) fn new(member: EndpointHandle, book: Arc<LeaseBook>) -> Self {
        Self { member, book }
    }
}

impl Deref for Lease {
    type Target = EndpointHandle;

    fn deref(&self) -> &EndpointHandle {
        &self.member
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.book.release(self.member.id());
    }
}

/// A group's pool figures (seed 003's pool statistics).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// Members.
    pub total: usize,
    /// Members up (the healthy ones).
    pub connected: usize,
    /// Members leased now.
    pub active: usize,
    /// Members up and not leased.
    pub idle: usize,
    /// Leased share of the members up (0 with none up).
    pub utilisation: f64,
    /// Acquire calls.
    pub acquire_requests: u64,
    /// Acquire calls that got a lease.
    pub acquired: u64,
    /// Acquire calls that timed out.
    pub timeouts: u64,
}

impl PoolStats {
    pub(super) fn new(
        total: usize,
        connected: usize,
        active: usize,
        idle: usize,
        counts: (u64, u64, u64),
    ) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let utilisation = if connected == 0 {
            0.0
        } else {
            (connected - idle.min(connected)) as f64 / connected as f64
        };
        Self {
            total,
            connected,
            active,
            idle,
            utilisation,
            acquire_requests: counts.0,
            acquired: counts.1,
            timeouts: counts.2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_that_gave_up_do_not_pile_up() {
        let book = LeaseBook::default();
        // An acquire that looks again every recheck registers a waiter
        // each time and drops the last one.
        for _ in 0..1000 {
            drop(book.wait());
        }
        let _waiting = book.wait();
        assert_eq!(book.book().waiters.len(), 1);
    }

    #[test]
    fn a_wake_up_not_taken_passes_to_the_next_waiter() {
        let book = LeaseBook::default();
        let id = EndpointId::from("a");
        assert!(book.take(&id));
        let first = book.wait();
        let mut second = book.wait();
        book.release(&id);
        // The first was woken but dropped before it looked: the second
        // gets the wake-up.
        drop(first);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut second).poll(&mut cx).is_ready());
    }
}
