//! [`ClusterNode`]: one instance's member of the cluster. It keeps its
//! lease, follows the prefix, looks at each change, and claims, starts,
//! releases and stops endpoints on its supervisor as
//! [`assign::plan`](super::assign::plan) says (the look itself is in
//! [`look`](super::look), what applications ask of it in [`requests`]).

mod requests;

use std::{
    collections::{BTreeMap, BTreeSet},
    rc::Rc,
    sync::Arc,
    time::Instant,
};

use actix::{
    fut::wrap_future, Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler,
    Message, SpawnHandle,
};
use futures::{channel::oneshot, future::LocalBoxFuture};

pub use self::requests::{ClusterSend, GetOwnership, Leave, Ownership, Publish, Sent, Unpublish};
use super::{
    assign::Claim,
    etcd::Etcd,
    follow::follow,
    look::{keep_lease, stop_all, Look, Shared},
    pacing::{self, Pace, Pacer},
    ClusterConfig,
};
use crate::{reconnect_budget::Gate, supervisor::SetConnectGate, SupervisorActor};

/// While a watch keeps the copy of the prefix, a look runs on each change
/// and, to retry what failed, every this many look intervals.
const RETRY_LOOKS: u32 = 10;

/// One instance's membership and the endpoints it holds. Start it beside
/// the supervisor whose endpoints it manages; add cluster endpoints
/// through [`Publish`]. An id the supervisor already has (added with
/// `AddEndpoint`, outside the cluster) is left alone: this instance
/// refuses the cluster's endpoint of that id, and another member holds it.
///
/// The lease is renewed on its own schedule, whatever a look is doing;
/// once it is not renewed in time (TTL less the safety margin after the
/// last renewal was *sent*), every endpoint here is closed at once, even
/// in the middle of a look. A node stopped without [`Leave`] closes its
/// endpoints and revokes its lease as it stops.
///
/// ```no_run
/// use actix::Actor;
/// use actix_tether::{cluster::*, SupervisorActor};
///
/// # #[actix::main] async fn main() -> actix_tether::Result<()> {
/// let supervisor = SupervisorActor::default().start();
/// let config = ClusterConfig::new("http://127.0.0.1:2379", "/feeds", "instance-a");
/// let node = ClusterNode::new(config, supervisor).start();
/// node.send(Publish::new("btc", EndpointSpec::websocket("wss://feed.example/btc"))).await??;
/// // ... on shutdown, hand the endpoints over at once:
/// node.send(Leave).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClusterNode {
    config: ClusterConfig,
    supervisor: Addr<SupervisorActor>,
    etcd: Etcd,
    /// The lease and the endpoints running here, shared with the look.
    shared: Rc<Shared>,
    /// Owner keys and members as of the last look.
    claims: BTreeMap<String, Claim>,
    members: BTreeSet<String>,
    /// Endpoints whose spec is unusable here, as last warned about.
    unusable: BTreeMap<String, String>,
    /// Where this instance's connection attempts wait for the cluster's
    /// pace, when it is shared ([`ClusterConfig::reconnect_rate`]).
    pacer: Option<Arc<Pacer>>,
    /// Tokens are being taken for them.
    pacing: bool,
    /// A look is under way (one at a time).
    busy: bool,
    /// A change came during a look: look again when it ends.
    again: bool,
    /// When the last look started.
    looked: Instant,
    /// The watch that keeps the mirror, while it runs.
    follow: Option<SpawnHandle>,
    /// A lease grant or renewal is under way.
    renewing: bool,
    /// The timer that checks the lease at its safety deadline.
    timer: Option<SpawnHandle>,
    /// [`Leave`] was asked: who waits for it.
    leaving: Option<Vec<oneshot::Sender<()>>>,
    /// The node has left (the lease is given back).
    left: bool,
}

impl ClusterNode {
    /// A node for `supervisor`; start it with `Actor::start`.
    pub fn new(config: ClusterConfig, supervisor: Addr<SupervisorActor>) -> Self {
        Self {
            etcd: Etcd::new(&config.etcd),
            config,
            supervisor,
            shared: Rc::default(),
            claims: BTreeMap::new(),
            members: BTreeSet::new(),
            unusable: BTreeMap::new(),
            pacer: None,
            pacing: false,
            busy: false,
            again: false,
            looked: Instant::now(),
            follow: None,
            renewing: false,
            timer: None,
            leaving: None,
            left: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.leaving.is_some() {
            return;
        }
        self.watch(ctx);
        // With a watch, changes start looks; the periodic one is only there
        // to retry what failed (a claim lost to a network error, say).
        let watched = self.shared.mirror.borrow().is_some();
        if !watched || self.looked.elapsed() >= self.config.look_every * RETRY_LOOKS {
            self.look(ctx);
        }
    }

    /// Starts following the prefix, once the lease is held and no watch
    /// runs; a watch that ends is started again at the next tick.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        if self.follow.is_some() || !self.shared.holds(&self.config) {
            return;
        }
        let (config, etcd, shared) = (self.config.clone(), self.etcd.clone(), self.shared.clone());
        let me = ctx.address();
        let following =
            async move { follow(&config, &etcd, &shared, || me.do_send(Changed)).await };
        let handle = ctx.spawn(wrap_future(following).map(|ended, act: &mut Self, _| {
            act.follow = None;
            if let Err(e) = ended {
                tracing::debug!("cluster: watch ended: {e}");
            }
        }));
        self.follow = Some(handle);
    }

    /// Stops the watch and forgets its copy.
    fn unfollow(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.follow.take() {
            ctx.cancel_future(handle);
        }
        self.shared.mirror.borrow_mut().take();
    }

    /// Looks at the cluster now, or right after the look under way.
    fn look(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            self.again = true;
            return;
        }
        self.busy = true;
        self.again = false;
        self.looked = Instant::now();
        let (config, etcd, supervisor, shared) = (
            self.config.clone(),
            self.etcd.clone(),
            self.supervisor.clone(),
            self.shared.clone(),
        );
        let look = async move {
            let look = Look {
                config: &config,
                etcd: &etcd,
                supervisor: &supervisor,
                shared: &shared,
            };
            look.run().await
        };
        ctx.spawn(wrap_future(look).map(|found, act: &mut Self, ctx| {
            act.busy = false;
            if let Some((claims, members, unusable)) = found {
                act.claims = claims;
                act.members = members;
                act.warn_unusable(unusable);
            }
            if act.leaving.is_some() {
                act.leave(ctx);
            } else if act.again {
                act.look(ctx);
            }
        }));
    }

    /// Grants or renews the lease, then schedules the next renewal: on a
    /// timer of its own, apart from the looks (a look that runs long does
    /// not hold the renewal up).
    fn renew(&mut self, ctx: &mut Context<Self>) {
        if self.renewing {
            return;
        }
        self.renewing = true;
        let before = self.shared.lease.get().map(|held| held.id);
        let (config, etcd, shared) = (self.config.clone(), self.etcd.clone(), self.shared.clone());
        let renewal = async move { keep_lease(&config, &etcd, &shared).await };
        ctx.spawn(wrap_future(renewal).map(move |(), act: &mut Self, ctx| {
            act.renewing = false;
            if act.shared.lease.get().map(|held| held.id) != before {
                // A new lease (or none): whatever the watch saw before may
                // be stale; read the prefix anew.
                act.unfollow(ctx);
            }
            if act.left {
                // Granted or renewed while leaving: give it back too.
                if let Some(held) = act.shared.lease.take() {
                    let etcd = act.etcd.clone();
                    ctx.spawn(wrap_future(async move {
                        let _ = etcd.revoke(held.id).await;
                    }));
                }
                return;
            }
            act.guard(ctx);
            // Follow the prefix as soon as a lease is held.
            act.watch(ctx);
            // The next renewal (or grant) on its own schedule, whatever
            // the looks do.
            let next = match act.shared.lease.get() {
                Some(held) => held.renew_at.saturating_duration_since(Instant::now()),
                None => act.config.look_every,
            };
            ctx.run_later(next, Self::renew);
        }));
    }

    /// Closes everything once the lease is gone, and checks again at its
    /// safety deadline (not at the next look: that may be too late).
    fn guard(&mut self, ctx: &mut Context<Self>) {
        if self.left {
            return;
        }
        match self.shared.deadline(&self.config) {
            Some(deadline) if Instant::now() < deadline => {
                // One timer at a time: the one of the latest renewal.
                if let Some(timer) = self.timer.take() {
                    ctx.cancel_future(timer);
                }
                let timer = ctx.run_later(deadline - Instant::now(), Self::guard);
                self.timer = Some(timer);
            }
            _ => {
                if self.shared.lease.take().is_some() {
                    tracing::warn!("cluster: lease not renewed in time; closing endpoints");
                }
                if !self.shared.runs.borrow().is_empty() {
                    let (supervisor, shared) = (self.supervisor.clone(), self.shared.clone());
                    let stops = async move { stop_all(&supervisor, &shared).await };
                    ctx.spawn(wrap_future(stops));
                }
            }
        }
    }

    /// Warns once about each endpoint whose spec is unusable here (not at
    /// every look).
    fn warn_unusable(&mut self, unusable: BTreeMap<String, String>) {
        for (endpoint, why) in &unusable {
            if self.unusable.get(endpoint) != Some(why) {
                tracing::warn!("cluster: endpoint {endpoint} is not claimed here: {why}");
            }
        }
        self.unusable = unusable;
    }

    /// Closes every endpoint held here (all at once), gives the lease
    /// back, and stops.
    fn leave(&mut self, ctx: &mut Context<Self>) {
        let waiting = self.leaving.replace(Vec::new()).unwrap_or_default();
        let leaving = self.give_back();
        ctx.spawn(
            wrap_future(leaving).map(move |(), act: &mut Self, ctx: &mut Context<Self>| {
                let later = act.leaving.take().unwrap_or_default();
                for waiter in waiting.into_iter().chain(later) {
                    let _ = waiter.send(());
                }
                ctx.stop();
            }),
        );
    }

    /// Closes the endpoints here, then revokes the lease.
    fn give_back(&mut self) -> LocalBoxFuture<'static, ()> {
        self.left = true;
        let (supervisor, etcd, shared) = (
            self.supervisor.clone(),
            self.etcd.clone(),
            self.shared.clone(),
        );
        let lease = shared.lease.take().map(|held| held.id);
        Box::pin(async move {
            stop_all(&supervisor, &shared).await;
            if let Some(lease) = lease {
                if let Err(e) = etcd.revoke(lease).await {
                    tracing::warn!("cluster: could not revoke the lease: {e}");
                }
            }
        })
    }
}

impl Actor for ClusterNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.config.reconnect_rate.is_some() {
            let pacer = Arc::new(Pacer::new(ctx.address().downgrade().recipient()));
            let gate: Arc<dyn Gate> = pacer.clone();
            self.supervisor.do_send(SetConnectGate(Some(gate)));
            self.pacer = Some(pacer);
        }
        self.renew(ctx);
        self.tick(ctx);
        ctx.run_interval(self.config.look_every, Self::tick);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Stopped without Leave (the system going down, the actor
        // stopped): the endpoints must not outlive the membership.
        if !self.left {
            actix_rt::spawn(self.give_back());
        }
        if self.pacer.is_some() {
            self.supervisor.do_send(SetConnectGate(None));
        }
    }
}

impl Handler<Pace> for ClusterNode {
    type Result = ();

    fn handle(&mut self, _: Pace, ctx: &mut Context<Self>) {
        let (Some(pacer), Some(rate)) = (&self.pacer, self.config.reconnect_rate) else {
            return;
        };
        if self.pacing {
            return;
        }
        self.pacing = true;
        let (config, pacer) = (self.config.clone(), pacer.clone());
        let etcd = self.etcd.until(self.shared.deadline(&self.config));
        let taking = async move { pacing::take(&config, &etcd, &pacer, rate).await };
        ctx.spawn(wrap_future(taking).map(|_, act: &mut Self, ctx| {
            act.pacing = false;
            // Attempts that came while the pass ended wait too.
            if act.pacer.as_ref().is_some_and(|p| p.rest()) {
                ctx.notify(Pace);
            }
        }));
    }
}

/// A key under the prefix changed (from the watch).
#[derive(Message)]
#[rtype(result = "()")]
struct Changed;

impl Handler<Changed> for ClusterNode {
    type Result = ();

    fn handle(&mut self, _: Changed, ctx: &mut Context<Self>) {
        if self.leaving.is_none() {
            self.look(ctx);
        }
    }
}
