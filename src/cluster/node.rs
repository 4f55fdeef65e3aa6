//! [`ClusterNode`]: one instance's member of the cluster. It keeps its
//! lease, looks at etcd every [`ClusterConfig::look_every`], and claims,
//! starts, releases and stops endpoints on its supervisor as
//! [`assign::plan`](super::assign::plan) says (the look itself is in
//! [`look`](super::look)).

use std::{
    collections::{BTreeMap, BTreeSet},
    rc::Rc,
    time::Instant,
};

use actix::{
    fut::wrap_future, Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler,
    Message, MessageResult, ResponseFuture, SpawnHandle,
};
use futures::{channel::oneshot, future::LocalBoxFuture};

use super::{
    assign::{share, Claim},
    etcd::Etcd,
    look::{keep_lease, stop_all, Look, Shared},
    ClusterConfig, EndpointSpec,
};
use crate::{
    ConfigError, EndpointId, Payload, Receipt, Result, SendPayload, SetReconnectRate,
    SupervisorActor,
};

/// One instance's membership and the endpoints it holds. Start it beside
/// the supervisor whose endpoints it manages (add cluster endpoints only
/// through [`Publish`], not with `AddEndpoint`: an id added outside the
/// cluster is taken for the cluster's own).
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
    /// The reconnect rate last given to the supervisor.
    rate_sent: Option<u32>,
    /// A look is under way (one at a time).
    busy: bool,
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
            rate_sent: None,
            busy: false,
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
        self.renew(ctx);
        if self.busy {
            return;
        }
        self.busy = true;
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
                act.share_rate();
            }
            if act.leaving.is_some() {
                act.leave(ctx);
            }
        }));
    }

    /// Grants or renews the lease when due, apart from the looks (a look
    /// that runs long does not hold the renewal up).
    fn renew(&mut self, ctx: &mut Context<Self>) {
        let due = match self.shared.lease.get() {
            None => true,
            Some(held) => Instant::now() >= held.renew_at,
        };
        if self.renewing || !due {
            return;
        }
        self.renewing = true;
        let (config, etcd, shared) = (self.config.clone(), self.etcd.clone(), self.shared.clone());
        let renewal = async move { keep_lease(&config, &etcd, &shared).await };
        ctx.spawn(wrap_future(renewal).map(|(), act: &mut Self, ctx| {
            act.renewing = false;
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

    /// Gives the supervisor its share of the cluster's reconnect rate.
    fn share_rate(&mut self) {
        let Some(total) = self.config.reconnect_rate else {
            return;
        };
        let rate = share(total, self.members.len());
        if self.rate_sent != Some(rate) {
            self.rate_sent = Some(rate);
            self.supervisor
                .do_send(SetReconnectRate { per_second: rate });
        }
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
        self.tick(ctx);
        ctx.run_interval(self.config.look_every, Self::tick);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Stopped without Leave (the system going down, the actor
        // stopped): the endpoints must not outlive the membership.
        if !self.left {
            actix_rt::spawn(self.give_back());
        }
    }
}

/// Adds (or replaces) an endpoint in the cluster's set; the member it
/// belongs to connects it.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Publish {
    /// Its id (no `/`).
    pub endpoint: EndpointId,
    /// How to connect it.
    pub spec: EndpointSpec,
}

impl Publish {
    /// Publishes `spec` as `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>, spec: EndpointSpec) -> Self {
        Self {
            endpoint: endpoint.into(),
            spec,
        }
    }
}

impl Handler<Publish> for ClusterNode {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let etcd = self.etcd.clone();
        let key = self.config.key("endpoints", msg.endpoint.as_str());
        let checked = check_publish(&msg);
        Box::pin(async move {
            checked?;
            let json = serde_json::to_vec(&msg.spec)
                .map_err(|e| crate::Error::from(ConfigError::new("cluster.spec", e.to_string())))?;
            etcd.put(&key, &json, 0).await
        })
    }
}

fn check_publish(msg: &Publish) -> Result<()> {
    let id = msg.endpoint.as_str();
    if id.is_empty() || id.contains('/') {
        return Err(ConfigError::new(
            "cluster.endpoint",
            "an id must be non-empty and hold no '/'",
        )
        .into());
    }
    let parts = crate::url::split(&msg.spec.url)
        .ok_or_else(|| ConfigError::new("cluster.url", "not a URL with a scheme"))?;
    if parts.userinfo.is_some() || parts.is_ambiguous() {
        return Err(ConfigError::new(
            "cluster.url",
            "user info in a URL would put a secret in etcd; use a header provider",
        )
        .into());
    }
    Ok(())
}

/// Removes an endpoint from the cluster's set; its owner closes it.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Unpublish {
    /// Its id.
    pub endpoint: EndpointId,
}

impl Unpublish {
    /// Unpublishes `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }
}

impl Handler<Unpublish> for ClusterNode {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: Unpublish, _: &mut Context<Self>) -> Self::Result {
        let etcd = self.etcd.clone();
        let key = self.config.key("endpoints", msg.endpoint.as_str());
        Box::pin(async move { etcd.delete(&key).await })
    }
}

/// What this instance holds, as of its last look.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ownership {
    /// This member's id.
    pub member: String,
    /// Whether it holds a lease now.
    pub member_alive: bool,
    /// The endpoints running here, each with its ownership epoch.
    pub holds: BTreeMap<String, i64>,
    /// Every owner key seen: endpoint, owner and epoch (the cluster-wide
    /// status of ownership).
    pub owners: BTreeMap<String, (String, i64)>,
    /// The live members.
    pub members: BTreeSet<String>,
    /// This instance's share of the cluster's reconnect rate
    /// ([`ClusterConfig::reconnect_rate`](super::ClusterConfig::reconnect_rate)),
    /// as last given to its supervisor.
    pub reconnect_share: Option<u32>,
}

/// Asks a node for its [`Ownership`].
#[derive(Debug, Message)]
#[rtype(result = "Ownership")]
pub struct GetOwnership;

impl Handler<GetOwnership> for ClusterNode {
    type Result = MessageResult<GetOwnership>;

    fn handle(&mut self, _: GetOwnership, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Ownership {
            member: self.config.member.clone(),
            member_alive: self.shared.holds(&self.config),
            holds: self.shared.runs.borrow().clone(),
            owners: self
                .claims
                .iter()
                .map(|(e, c)| (e.clone(), (c.owner.clone(), c.epoch)))
                .collect(),
            members: self.members.clone(),
            reconnect_share: self.rate_sent,
        })
    }
}

/// Sends to a cluster endpoint through this instance: sent when it holds
/// the endpoint, [`Sent::NotOwner`] otherwise.
#[derive(Debug, Message)]
#[rtype(result = "Result<Sent>")]
pub struct ClusterSend {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// What to send.
    pub payload: Payload,
}

impl ClusterSend {
    /// Sends `payload` to `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>, payload: impl Into<Payload>) -> Self {
        Self {
            endpoint: endpoint.into(),
            payload: payload.into(),
        }
    }
}

/// The outcome of a [`ClusterSend`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Sent {
    /// Held here and sent, with the epoch of this instance's ownership.
    Sent {
        /// The send's receipt.
        receipt: Receipt,
        /// The ownership epoch.
        epoch: i64,
    },
    /// Held by another member (or by none, as of the last look): route
    /// it there.
    NotOwner {
        /// The member that holds it, if any.
        owner: Option<String>,
    },
}

impl Handler<ClusterSend> for ClusterNode {
    type Result = ResponseFuture<Result<Sent>>;

    fn handle(&mut self, msg: ClusterSend, _: &mut Context<Self>) -> Self::Result {
        let epoch = self
            .shared
            .runs
            .borrow()
            .get(msg.endpoint.as_str())
            .copied();
        let owner = self
            .claims
            .get(msg.endpoint.as_str())
            .map(|claim| claim.owner.clone());
        let supervisor = self.supervisor.clone();
        Box::pin(async move {
            let Some(epoch) = epoch else {
                return Ok(Sent::NotOwner { owner });
            };
            let receipt = supervisor
                .send(SendPayload::new(msg.endpoint, msg.payload))
                .await??;
            Ok(Sent::Sent { receipt, epoch })
        })
    }
}

/// Leaves the cluster gracefully: closes every endpoint held here, revokes
/// the lease (so survivors take them over at once), and stops the node.
/// The reply comes when that is done.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for ClusterNode {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Leave, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        match &mut self.leaving {
            Some(waiting) => waiting.push(tx),
            None => {
                self.leaving = Some(vec![tx]);
                if !self.busy {
                    self.leave(ctx);
                }
            }
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
