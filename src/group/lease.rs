//! Leases: a group member taken for exclusive use (a request/response
//! protocol that must not interleave), given back when the lease drops,
//! and the pool figures that go with them.

use std::{
    collections::{HashSet, VecDeque},
    ops::Deref,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
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

    /// A waiter, woken when a lease is given back.
    pub(super) fn wait(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.book().waiters.push_back(tx);
        rx
    }

    fn release(&self, id: &EndpointId) {
        let mut book = self.book();
        book.leased.remove(id);
        // The first waiter still waiting is woken; gone ones are skipped.
        while let Some(waiter) = book.waiters.pop_front() {
            if waiter.send(()).is_ok() {
                break;
            }
        }
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
