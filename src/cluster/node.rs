//! [`ClusterNode`]: one instance's member of the cluster. It keeps its
//! lease, looks at etcd every [`ClusterConfig::look_every`], and claims,
//! starts, releases and stops endpoints on its supervisor as
//! [`assign::plan`](super::assign::plan) says.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use actix::{
    fut::wrap_future, Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message,
    MessageResult, ResponseFuture,
};
use futures::channel::oneshot;

use super::{
    assign::{plan, share, Claim, Step},
    etcd::{Etcd, KeyValue},
    ClusterConfig, EndpointSpec,
};
use crate::{
    AddEndpoint, ConfigError, EndpointId, Payload, Receipt, RemoveEndpoint, Result, SendPayload,
    SetReconnectRate, SupervisorActor,
};

/// One instance's membership and the endpoints it holds. Start it beside
/// the supervisor whose endpoints it manages (add cluster endpoints only
/// through [`Publish`], not with `AddEndpoint`):
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
    lease: Option<Held>,
    /// Endpoints running here, with the epoch they were started at.
    runs: BTreeMap<String, i64>,
    /// Owner keys and members as of the last look.
    claims: BTreeMap<String, Claim>,
    members: BTreeSet<String>,
    /// The reconnect rate last given to the supervisor.
    rate_sent: Option<u32>,
    /// A look is under way (one at a time).
    busy: bool,
    /// [`Leave`] was asked: who waits for it.
    leaving: Option<Vec<oneshot::Sender<()>>>,
}

/// This instance's lease.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: i64,
    /// The last time etcd confirmed it.
    confirmed: Instant,
    /// When to renew it next.
    renew_at: Instant,
}

impl ClusterNode {
    /// A node for `supervisor`; start it with `Actor::start`.
    pub fn new(config: ClusterConfig, supervisor: Addr<SupervisorActor>) -> Self {
        Self {
            etcd: Etcd::new(&config.etcd),
            config,
            supervisor,
            lease: None,
            runs: BTreeMap::new(),
            claims: BTreeMap::new(),
            members: BTreeSet::new(),
            rate_sent: None,
            busy: false,
            leaving: None,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.leaving.is_some() {
            return;
        }
        self.busy = true;
        let look = Look {
            config: self.config.clone(),
            etcd: self.etcd.clone(),
            supervisor: self.supervisor.clone(),
            lease: self.lease,
            runs: std::mem::take(&mut self.runs),
        };
        ctx.spawn(
            wrap_future(look.run()).map(|seen: Seen, act: &mut Self, ctx| {
                act.busy = false;
                act.lease = seen.lease;
                act.runs = seen.runs;
                if let Some((claims, members)) = seen.view {
                    act.claims = claims;
                    act.members = members;
                    act.share_rate();
                }
                if act.leaving.is_some() {
                    act.leave(ctx);
                }
            }),
        );
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

    /// Closes every endpoint held here, gives the lease back, and stops.
    fn leave(&mut self, ctx: &mut Context<Self>) {
        let supervisor = self.supervisor.clone();
        let etcd = self.etcd.clone();
        let lease = self.lease.take().map(|held| held.id);
        let runs: Vec<String> = std::mem::take(&mut self.runs).into_keys().collect();
        let waiting = self.leaving.take().unwrap_or_default();
        self.leaving = Some(Vec::new());
        ctx.spawn(
            wrap_future(async move {
                for endpoint in runs {
                    stop(&supervisor, &endpoint).await;
                }
                if let Some(lease) = lease {
                    if let Err(e) = etcd.revoke(lease).await {
                        tracing::warn!("cluster: could not revoke the lease: {e}");
                    }
                }
            })
            .map(move |(), _: &mut Self, ctx: &mut Context<Self>| {
                for waiter in waiting {
                    let _ = waiter.send(());
                }
                actix::ActorContext::stop(ctx);
            }),
        );
    }
}

impl Actor for ClusterNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
        ctx.run_interval(self.config.look_every, Self::tick);
    }
}

/// What one look works with (moved out of the node while it runs).
struct Look {
    config: ClusterConfig,
    etcd: Etcd,
    supervisor: Addr<SupervisorActor>,
    lease: Option<Held>,
    runs: BTreeMap<String, i64>,
}

/// What one look leaves behind.
struct Seen {
    lease: Option<Held>,
    runs: BTreeMap<String, i64>,
    /// Owner keys and members, when etcd answered.
    view: Option<(BTreeMap<String, Claim>, BTreeSet<String>)>,
}

impl Look {
    /// The instant past which this instance must not hold endpoints: the
    /// last renewal plus the TTL less the safety margin.
    fn safety_deadline(&self) -> Option<Instant> {
        let held = self.lease?;
        Some(held.confirmed + self.config.ttl.saturating_sub(self.config.margin))
    }

    async fn run(mut self) -> Seen {
        self.keep_lease().await;
        let Some(held) = self.lease else {
            // No lease (lost, expired by our own reckoning, or not granted
            // yet): nothing may run here. All close at once.
            let runs = std::mem::take(&mut self.runs);
            let stops = runs.keys().map(|endpoint| stop(&self.supervisor, endpoint));
            futures::future::join_all(stops).await;
            return self.seen(None);
        };
        // No request runs past the safety deadline: the next look then
        // finds it passed and closes everything in time.
        self.etcd = self.etcd.until(self.safety_deadline());
        let prefix = format!("{}/", self.config.prefix);
        let kvs = match self.etcd.range_prefix(&prefix).await {
            Ok((kvs, _)) => kvs,
            Err(e) => {
                tracing::debug!("cluster: etcd look failed: {e}");
                return self.seen(None);
            }
        };
        let view = View::read(&self.config, kvs);
        let wanted: BTreeSet<String> = view.specs.keys().cloned().collect();
        let steps = plan(
            &self.config.member,
            held.id,
            &view.members,
            &wanted,
            &view.claims,
            &self.runs,
        );
        let mut claims = view.claims.clone();
        for step in steps {
            match step {
                Step::Stop(endpoint) => {
                    stop(&self.supervisor, &endpoint).await;
                    self.runs.remove(&endpoint);
                }
                Step::Release(endpoint, epoch) => {
                    stop(&self.supervisor, &endpoint).await;
                    self.runs.remove(&endpoint);
                    let key = self.config.key("owners", &endpoint);
                    if self
                        .etcd
                        .delete_if_created(&key, epoch)
                        .await
                        .unwrap_or(false)
                    {
                        claims.remove(&endpoint);
                    }
                }
                Step::Claim(endpoint) => {
                    let key = self.config.key("owners", &endpoint);
                    let me = self.config.member.as_bytes();
                    if let Ok(Some(epoch)) = self.etcd.create(&key, me, held.id).await {
                        claims.insert(
                            endpoint.clone(),
                            Claim {
                                owner: self.config.member.clone(),
                                epoch,
                                lease: held.id,
                            },
                        );
                        self.start(&endpoint, epoch, &view.specs).await;
                    }
                }
                Step::Start(endpoint, epoch) => self.start(&endpoint, epoch, &view.specs).await,
            }
        }
        self.seen(Some((claims, view.members)))
    }

    fn seen(self, view: Option<(BTreeMap<String, Claim>, BTreeSet<String>)>) -> Seen {
        Seen {
            lease: self.lease,
            runs: self.runs,
            view,
        }
    }

    /// Grants, renews or gives up the lease; past the safety margin
    /// without a renewal, counts it lost.
    async fn keep_lease(&mut self) {
        let now = Instant::now();
        let ttl = self.config.ttl;
        self.etcd = self.etcd.until(self.safety_deadline());
        match self.lease {
            None => {
                let Ok(id) = self.etcd.grant(ttl).await else {
                    return;
                };
                let key = self.config.key("members", &self.config.member);
                match self.etcd.put(&key, self.config.member.as_bytes(), id).await {
                    Ok(()) => {
                        self.lease = Some(Held {
                            id,
                            confirmed: now,
                            renew_at: now + ttl / 3,
                        });
                    }
                    Err(_) => {
                        let _ = self.etcd.revoke(id).await;
                    }
                }
            }
            Some(mut held) if now >= held.renew_at => match self.etcd.keep_alive(held.id).await {
                Ok(true) => {
                    held.confirmed = now;
                    held.renew_at = now + ttl / 3;
                    self.lease = Some(held);
                }
                Ok(false) => {
                    tracing::warn!("cluster: the lease expired; rejoining");
                    self.lease = None;
                }
                Err(e) => {
                    tracing::warn!("cluster: lease renewal failed: {e}");
                    held.renew_at = now + self.config.look_every;
                    self.lease = Some(held);
                }
            },
            Some(_) => {}
        }
        if let Some(deadline) = self.safety_deadline() {
            if Instant::now() >= deadline {
                tracing::warn!("cluster: lease not renewed in time; closing endpoints");
                self.lease = None;
            }
        }
    }

    async fn start(&mut self, endpoint: &str, epoch: i64, specs: &BTreeMap<String, EndpointSpec>) {
        let Some(spec) = specs.get(endpoint) else {
            return;
        };
        let config = match (self.config.build)(spec) {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!("cluster: endpoint {endpoint}: {e}");
                return;
            }
        };
        match self
            .supervisor
            .send(AddEndpoint::new(endpoint, config).epoch(u64::try_from(epoch).unwrap_or(0)))
            .await
        {
            Ok(Ok(_)) => {
                self.runs.insert(endpoint.to_owned(), epoch);
            }
            Ok(Err(e)) => tracing::warn!("cluster: endpoint {endpoint}: {e}"),
            Err(e) => tracing::warn!("cluster: supervisor gone: {e}"),
        }
    }
}

/// Closes and forgets a local endpoint (one already gone is fine).
async fn stop(supervisor: &Addr<SupervisorActor>, endpoint: &str) {
    let _ = supervisor.send(RemoveEndpoint::new(endpoint)).await;
}

/// The cluster as one look at etcd found it.
struct View {
    members: BTreeSet<String>,
    specs: BTreeMap<String, EndpointSpec>,
    claims: BTreeMap<String, Claim>,
}

impl View {
    fn read(config: &ClusterConfig, kvs: Vec<KeyValue>) -> Self {
        let mut view = View {
            members: BTreeSet::new(),
            specs: BTreeMap::new(),
            claims: BTreeMap::new(),
        };
        let prefix = format!("{}/", config.prefix);
        for kv in kvs {
            let Some(rest) = kv.key.strip_prefix(&prefix) else {
                continue;
            };
            let Some((kind, name)) = rest.split_once('/') else {
                continue;
            };
            let name = name.to_owned();
            match kind {
                "members" => {
                    view.members.insert(name);
                }
                "endpoints" => match serde_json::from_slice::<EndpointSpec>(&kv.value) {
                    Ok(spec) => {
                        view.specs.insert(name, spec);
                    }
                    Err(e) => tracing::warn!("cluster: endpoint {name}: unreadable spec: {e}"),
                },
                "owners" => {
                    view.claims.insert(
                        name,
                        Claim {
                            owner: String::from_utf8_lossy(&kv.value).into_owned(),
                            epoch: kv.create_revision,
                            lease: kv.lease,
                        },
                    );
                }
                _ => {}
            }
        }
        view
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
            member_alive: self.lease.is_some(),
            holds: self.runs.clone(),
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
        let epoch = self.runs.get(msg.endpoint.as_str()).copied();
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
