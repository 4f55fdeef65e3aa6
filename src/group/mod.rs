//! Endpoint groups: a named set of endpoints (listed, chosen by tag, or a
//! pool of connections to one URL) that messages are routed to as one.
//!
//! A [`GroupHandle`] sends each message to one member chosen by the
//! group's [`Strategy`], among the members that are up (Connected or
//! Authenticated), or by a key ([`GroupHandle::send_keyed`]), or to every
//! member that is up ([`GroupHandle::broadcast`]). The router sends a
//! message once: a member that fails it returns its error, and the message
//! is not tried on another member (that could send it twice). When no
//! member is up, a send is refused with an
//! [`Endpoint`](crate::ErrorCategory::Endpoint) error.

mod lease;
mod registry;
mod route;
mod waiting;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant},
};

pub(crate) use self::registry::Groups;
#[cfg(feature = "cluster")]
pub(crate) use self::route::rendezvous;
use self::{
    lease::LeaseBook,
    route::with_candidates,
    waiting::{deadline_after, WaitingRoom},
};
pub use self::{
    lease::{Lease, PoolStats},
    registry::Members,
    route::Strategy,
    waiting::NoneUp,
};
use crate::{
    EndpointHandle, EndpointId, Error, ErrorCategory, Payload, Receipt, Result, SendOptions,
};

/// How often a waiting [`GroupHandle::acquire`] (or a send waiting for a
/// member) looks again for a member that came up (a lease given back wakes
/// an acquire at once).
const RECHECK: Duration = Duration::from_millis(50);

/// A group's members now, shared by the supervisor (which updates them as
/// endpoints come and go) and every handle.
type Shared = Arc<RwLock<Arc<[EndpointHandle]>>>;

/// Sends to a group of endpoints; get one with
/// [`AddGroup`](crate::AddGroup), [`AddPool`](crate::AddPool) or
/// [`GetGroup`](crate::GetGroup). Clones share the group's members and its
/// routing state (whose turn it is, failover's current member).
///
/// ```no_run
/// # use actix_tether::*;
/// # async fn run(supervisor: actix::Addr<SupervisorActor>) -> Result<()> {
/// let group = supervisor
///     .send(AddGroup::listed("orders", ["primary", "backup"]).strategy(Strategy::Failover {
///         hysteresis: std::time::Duration::from_secs(5),
///     }))
///     .await??;
/// let routed = group.send("order 42").await?;
/// println!("went to {}", routed.member);
/// routed.receipt.outcome().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GroupHandle {
    name: Arc<str>,
    strategy: Strategy,
    members: Shared,
    /// Turns taken: round robin's next start, least-loaded's draws.
    turn: Arc<AtomicU64>,
    /// Failover's last choice, by its connection's serial (members come
    /// and go, so not by position; 0: none yet).
    current: Arc<AtomicU64>,
    /// Members leased, and the waiters for one.
    leases: Arc<LeaseBook>,
    /// What a send does when no member is up.
    none_up: NoneUp,
    /// Sends waiting for a member to come up.
    waiting: Arc<WaitingRoom>,
}

/// Where a routed message went.
#[derive(Debug)]
#[non_exhaustive]
pub struct Routed {
    /// The member it was sent to.
    pub member: EndpointId,
    /// The member's receipt (see [`Receipt`]).
    pub receipt: Receipt,
    /// A keyed send went to another member than the key's own, which was
    /// not up (see [`GroupHandle::send_keyed`]).
    pub moved: bool,
}

impl GroupHandle {
    fn new(name: &str, strategy: Strategy, none_up: NoneUp, members: Shared) -> Self {
        Self {
            name: name.into(),
            strategy,
            members,
            turn: Arc::default(),
            current: Arc::default(),
            leases: Arc::default(),
            none_up,
            waiting: Arc::default(),
        }
    }

    /// What a send does when no member is up.
    pub fn none_up(&self) -> NoneUp {
        self.none_up
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it chooses members.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The members now, in priority order.
    pub fn members(&self) -> Vec<EndpointHandle> {
        self.snapshot().to_vec()
    }

    /// How many members are up now.
    pub fn connected(&self) -> usize {
        self.snapshot().iter().filter(|m| m.state().is_up()).count()
    }

    pub(crate) fn snapshot(&self) -> Arc<[EndpointHandle]> {
        match self.members.read() {
            Ok(members) => members.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sends one payload to the member the strategy chooses.
    ///
    /// # Errors
    /// An [`Endpoint`](crate::ErrorCategory::Endpoint) error when no member
    /// is up; otherwise as the member's
    /// [`EndpointHandle::send`].
    pub async fn send(&self, payload: impl Into<Payload>) -> Result<Routed> {
        self.send_with(payload, SendOptions::new()).await
    }

    /// As [`send`](Self::send), with send options (an acknowledgement id).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_with(
        &self,
        payload: impl Into<Payload>,
        options: SendOptions,
    ) -> Result<Routed> {
        let (members, chosen) = self.route(|| self.choose()).await?;
        let member = &members[chosen];
        self.remember(member);
        let receipt = member.send_with(payload, options).await?;
        Ok(Routed {
            member: member.id().clone(),
            receipt,
            moved: false,
        })
    }

    /// Queues one payload on the member the strategy chooses, without a
    /// mailbox hop and without a receipt (as [`EndpointHandle::push`]);
    /// answers the member.
    ///
    /// # Errors
    /// An [`Endpoint`](crate::ErrorCategory::Endpoint) error when no member
    /// is up (a push does not wait); otherwise as the member's
    /// [`EndpointHandle::push`].
    pub fn push(&self, payload: impl Into<Payload>) -> Result<EndpointId> {
        let (members, chosen) = self.choose().ok_or_else(|| self.none_up_error())?;
        let member = &members[chosen];
        self.remember(member);
        member.push(payload)?;
        Ok(member.id().clone())
    }

    /// Sends one payload to the member `key` belongs to (rendezvous
    /// hashing over member names), so the messages of one key (a session,
    /// an order) keep their order on one connection while it is up. When
    /// that member is not up, the message goes to the next member in the
    /// key's ranking that is, and [`Routed::moved`] says so; when it is up
    /// again, the key goes back to it. Adding or removing a member moves
    /// only the keys it ranks first.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_keyed(
        &self,
        key: impl AsRef<[u8]>,
        payload: impl Into<Payload>,
    ) -> Result<Routed> {
        let key = key.as_ref();
        let (members, preferred, chosen) = self.route(|| self.choose_keyed(key)).await?;
        let member = &members[chosen];
        let receipt = member.send(payload).await?;
        Ok(Routed {
            member: member.id().clone(),
            receipt,
            moved: preferred != Some(chosen),
        })
    }

    /// The members now, `key`'s own member and the one chosen, if any is up.
    fn choose_keyed(&self, key: &[u8]) -> Option<(Arc<[EndpointHandle]>, Option<usize>, usize)> {
        let members = self.snapshot();
        let ranked = members.iter().map(|m| (m.id().as_str(), m.state().is_up()));
        let (preferred, chosen) = route::rendezvous(key, ranked);
        let chosen = chosen?;
        Some((members, preferred, chosen))
    }

    /// Sends one payload to every member that is up, each with its own
    /// receipt or error, in member order.
    ///
    /// # Errors
    /// An [`Endpoint`](crate::ErrorCategory::Endpoint) error when no member
    /// is up.
    pub async fn broadcast(
        &self,
        payload: impl Into<Payload>,
    ) -> Result<Vec<(EndpointId, Result<Receipt>)>> {
        let payload = payload.into();
        let up: Vec<EndpointHandle> = self
            .snapshot()
            .iter()
            .filter(|m| m.state().is_up())
            .cloned()
            .collect();
        if up.is_empty() {
            return Err(self.none_up_error());
        }
        let sends = up.iter().map(|m| m.send(payload.clone()));
        let receipts = futures::future::join_all(sends).await;
        Ok(up
            .into_iter()
            .map(|m| m.id().clone())
            .zip(receipts)
            .collect())
    }

    /// Takes a member that is up and not leased, chosen by the strategy,
    /// for exclusive use until the [`Lease`] drops; waits up to `timeout`
    /// for one to be given back (or to come up).
    ///
    /// ```no_run
    /// # use actix_tether::*;
    /// # async fn run(pool: GroupHandle) -> Result<()> {
    /// let lease = pool.acquire(std::time::Duration::from_secs(2)).await?;
    /// lease.send("request").await?.outcome().await?;
    /// // ... read the reply from this member's messages, then:
    /// drop(lease);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A [`Timeout`](crate::ErrorCategory::Timeout) error when no member
    /// was free within `timeout`.
    pub async fn acquire(&self, timeout: Duration) -> Result<Lease> {
        self.leases.count_request();
        let deadline = deadline_after(timeout);
        // Each round takes a free member or waits until a lease is given
        // back or a recheck is due, within the deadline.
        loop {
            let members = self.snapshot();
            let now = Instant::now();
            let leased = |m: &EndpointHandle| self.leases.is_leased(m.id());
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            // Waits for a lease given back from before this look, so one
            // given back in between is not missed.
            let given_back = self.leases.wait();
            let free = with_candidates(&members, Some(now), leased, |candidates| {
                route::choose(self.strategy, candidates, turn, None)
            });
            if let Some(i) = free {
                if self.leases.take(members[i].id()) {
                    self.leases.count_granted();
                    return Ok(Lease::new(members[i].clone(), self.leases.clone()));
                }
            }
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                self.leases.count_timeout();
                return Err(Error::new(
                    ErrorCategory::Timeout,
                    format!(
                        "no member of group {} was free within {timeout:?}",
                        self.name
                    ),
                ));
            }
            let recheck = Box::pin(actix_rt::time::sleep(left.min(RECHECK)));
            futures::future::select(given_back, recheck).await;
        }
    }

    /// The group's pool figures now: members, members up, leased and idle,
    /// and the acquire counters.
    pub fn stats(&self) -> PoolStats {
        let members = self.snapshot();
        let up: Vec<&EndpointHandle> = members.iter().filter(|m| m.state().is_up()).collect();
        let idle = up.iter().filter(|m| !self.leases.is_leased(m.id())).count();
        PoolStats::new(
            members.len(),
            up.len(),
            self.leases.leased(),
            idle,
            self.leases.counts(),
        )
    }

    /// The members now and the one the strategy chooses, if any is up.
    fn choose(&self) -> Option<(Arc<[EndpointHandle]>, usize)> {
        let members = self.snapshot();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let current = self.current(&members);
        let chosen = with_candidates(
            &members,
            self.clock(&members, current),
            |_| false,
            |candidates| route::choose(self.strategy, candidates, turn, current),
        )?;
        Some((members, chosen))
    }

    /// Failover's last choice among `members`, if it is still one.
    fn current(&self, members: &[EndpointHandle]) -> Option<usize> {
        if !matches!(self.strategy, Strategy::Failover { .. }) {
            return None;
        }
        let serial = self.current.load(Ordering::Relaxed);
        members.iter().position(|m| m.vitals().serial() == serial)
    }

    /// Notes failover's choice.
    fn remember(&self, member: &EndpointHandle) {
        if !matches!(self.strategy, Strategy::Failover { .. }) {
            return;
        }
        let serial = member.vitals().serial();
        if self.current.load(Ordering::Relaxed) != serial {
            self.current.store(serial, Ordering::Relaxed);
        }
    }

    /// What `choose` finds, when no send waits ahead; otherwise (or when
    /// it finds no member up) as [`NoneUp`] says.
    async fn route<T>(&self, choose: impl Fn() -> Option<T>) -> Result<T> {
        if self.waiting.is_empty() {
            if let Some(chosen) = choose() {
                return Ok(chosen);
            }
        }
        let NoneUp::Wait {
            timeout,
            max_waiting,
        } = self.none_up
        else {
            return Err(self.none_up_error());
        };
        let ticket = self.waiting.enter(max_waiting).ok_or_else(|| {
            Error::new(
                ErrorCategory::Overflow,
                format!(
                    "no member of group {} is connected and {max_waiting} sends wait already",
                    self.name
                ),
            )
        })?;
        let deadline = deadline_after(timeout);
        // Each round the first in line looks again (or sleeps until its
        // next look); the others sleep until the one ahead leaves; all
        // within the deadline. Leaving (dropping the ticket) lets the next
        // one look at once.
        loop {
            let turn = ticket.turn();
            if ticket.is_first() {
                if let Some(chosen) = choose() {
                    return Ok(chosen);
                }
            }
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(Error::new(
                    ErrorCategory::Timeout,
                    format!(
                        "no member of group {} came up within {timeout:?}",
                        self.name
                    ),
                ));
            }
            let nap = if ticket.is_first() {
                left.min(RECHECK)
            } else {
                left
            };
            let nap = Box::pin(actix_rt::time::sleep(nap));
            futures::future::select(turn, nap).await;
        }
    }

    /// The time up times are read at, when the choice depends on them:
    /// only failover's does, and only while its last choice is down or a
    /// member ahead of it is up (that member's up time decides whether
    /// traffic goes back).
    fn clock(&self, members: &[EndpointHandle], current: Option<usize>) -> Option<Instant> {
        if !matches!(self.strategy, Strategy::Failover { .. }) {
            return None;
        }
        let settled = current.is_some_and(|c| {
            members.get(c).is_some_and(|m| m.state().is_up())
                && members[..c].iter().all(|m| !m.state().is_up())
        });
        (!settled).then(Instant::now)
    }

    fn none_up_error(&self) -> Error {
        Error::new(
            ErrorCategory::Endpoint,
            format!("no member of group {} is connected", self.name),
        )
    }
}
