//! One look at etcd and what it does: read the prefix, plan, and carry
//! the steps out on the supervisor, never past the lease's safety
//! deadline. Also the lease keeping and the "stop everything" path.

use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use actix::Addr;
use futures::{future, StreamExt};

use super::{
    assign::{plan, Claim, Step},
    etcd::{Etcd, KeyValue},
    mirror::Mirror,
    view::{Built, View},
    ClusterConfig,
};
use crate::{
    AddEndpoint, Added, EndpointConfig, ErrorCategory, GetStatus, RemoveEndpoint, SupervisorActor,
};

/// How many steps of one look run at once (claims are etcd round trips,
/// stops wait for a close handshake: one at a time would take minutes).
const STEPS_AT_ONCE: usize = 64;

/// How often the node asks its supervisor whether an id of its own that
/// kept a cluster endpoint off this instance is still there.
pub(crate) const REFUSAL_RETRY: Duration = Duration::from_secs(60);

/// The longest a supervisor request of the node may take.
const SUPERVISOR_TIMEOUT: Duration = Duration::from_secs(10);

/// This instance's lease.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    pub(crate) id: i64,
    /// When the last renewal that etcd confirmed was *sent*: etcd's
    /// expiry is at least a TTL after it.
    pub(crate) confirmed: Instant,
    /// When to renew it next.
    pub(crate) renew_at: Instant,
}

/// What the node and its looks share (all on the node's thread).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) lease: Cell<Option<Held>>,
    /// Endpoints added to the supervisor, with the epoch they were started
    /// at. An entry is made *before* the `AddEndpoint` is sent, so an
    /// endpoint whose start was cut short is still stopped later.
    pub(crate) runs: RefCell<BTreeMap<String, i64>>,
    /// Each endpoint's spec as built at its last change (mod revision):
    /// a look parses and builds only what changed, not 10,000 specs.
    pub(crate) built: RefCell<Built>,
    /// The keys under the prefix as the watch keeps them; `None` while no
    /// watch runs (a look then reads the prefix from etcd itself).
    pub(crate) mirror: RefCell<Option<Mirror>>,
    /// Endpoints whose id the supervisor has already (one of its own), and
    /// when that was last seen: looked at again every [`REFUSAL_RETRY`],
    /// and forgotten once the id is gone.
    pub(crate) taken: RefCell<BTreeMap<String, Instant>>,
}

impl Shared {
    /// The instant past which nothing may run here: the last confirmed
    /// renewal plus the TTL less the safety margin.
    pub(crate) fn deadline(&self, config: &ClusterConfig) -> Option<Instant> {
        let held = self.lease.get()?;
        Some(held.confirmed + config.ttl.saturating_sub(config.margin))
    }

    /// Whether the lease is held and its deadline not passed.
    pub(crate) fn holds(&self, config: &ClusterConfig) -> bool {
        self.deadline(config).is_some_and(|d| Instant::now() < d)
    }
}

/// Closes and forgets a local endpoint; answers whether it is closed (or
/// was not there). A supervisor that does not answer in time counts as
/// not closed.
pub(crate) async fn stop(supervisor: &Addr<SupervisorActor>, endpoint: &str) -> bool {
    let request = supervisor
        .send(RemoveEndpoint::new(endpoint))
        .timeout(SUPERVISOR_TIMEOUT);
    match request.await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("cluster: endpoint {endpoint}: could not stop it: {e}");
            false
        }
    }
}

/// Stops every endpoint running here, all at once (not one close
/// handshake after another).
pub(crate) async fn stop_all(supervisor: &Addr<SupervisorActor>, shared: &Shared) {
    let runs = std::mem::take(&mut *shared.runs.borrow_mut());
    future::join_all(runs.keys().map(|endpoint| stop(supervisor, endpoint))).await;
}

/// Grants or renews the lease as due; past the safety deadline without a
/// renewal, counts it lost (the caller then stops everything).
pub(crate) async fn keep_lease(config: &ClusterConfig, etcd: &Etcd, shared: &Shared) {
    // Taken before any request is sent: etcd's expiry is at least a TTL
    // after the moment it answers, so after this too.
    let now = Instant::now();
    let ttl = config.ttl;
    let etcd = etcd.until(shared.deadline(config));
    match shared.lease.get() {
        None => {
            let Ok(id) = etcd.grant(ttl).await else {
                return;
            };
            let key = config.key("members", &config.member);
            match etcd.put(&key, config.member.as_bytes(), id).await {
                Ok(()) => shared.lease.set(Some(Held {
                    id,
                    confirmed: now,
                    renew_at: now + ttl / 3,
                })),
                Err(_) => {
                    let _ = etcd.revoke(id).await;
                }
            }
        }
        Some(mut held) if now >= held.renew_at => match etcd.keep_alive(held.id).await {
            Ok(true) => {
                held.confirmed = now;
                held.renew_at = now + ttl / 3;
                shared.lease.set(Some(held));
            }
            Ok(false) => {
                tracing::warn!("cluster: the lease expired; rejoining");
                shared.lease.set(None);
            }
            Err(e) => {
                tracing::warn!("cluster: lease renewal failed: {e}");
                held.renew_at = now + config.look_every;
                shared.lease.set(Some(held));
            }
        },
        Some(_) => {}
    }
    if !shared.holds(config) && shared.lease.get().is_some() {
        tracing::warn!("cluster: lease not renewed in time; closing endpoints");
        shared.lease.set(None);
    }
}

/// Waits until the lease is gone or past its deadline (renewals made
/// meanwhile push the deadline on).
async fn lease_lost(config: &ClusterConfig, shared: &Shared) {
    while let Some(deadline) = shared.deadline(config) {
        if Instant::now() >= deadline {
            break;
        }
        actix_rt::time::sleep_until(deadline.into()).await;
    }
}

/// What one look works with.
pub(crate) struct Look<'a> {
    pub(crate) config: &'a ClusterConfig,
    pub(crate) etcd: &'a Etcd,
    pub(crate) supervisor: &'a Addr<SupervisorActor>,
    pub(crate) shared: &'a Shared,
}

/// What one look found: owner keys, members, and the endpoints whose spec
/// is unusable here (with why), when etcd answered.
pub(crate) type Found = (
    BTreeMap<String, Claim>,
    BTreeSet<String>,
    BTreeMap<String, String>,
);

impl Look<'_> {
    pub(crate) async fn run(self) -> Option<Found> {
        let Some(held) = self
            .shared
            .lease
            .get()
            .filter(|_| self.shared.holds(self.config))
        else {
            // No lease (lost, expired by our own reckoning, or not granted
            // yet): nothing may run here. All close at once.
            stop_all(self.supervisor, self.shared).await;
            return None;
        };
        let etcd = self.etcd.until(self.shared.deadline(self.config));
        self.recheck_taken().await;
        let mirrored = (self.shared.mirror.borrow().as_ref()).map(|m| self.view(m.keys()));
        let view = match mirrored {
            Some(view) => view,
            None => {
                // No watch: read the whole prefix.
                let prefix = format!("{}/", self.config.prefix);
                match etcd.range_prefix(&prefix).await {
                    Ok((kvs, _)) => self.view(&kvs),
                    Err(e) => {
                        tracing::debug!("cluster: etcd look failed: {e}");
                        return None;
                    }
                }
            }
        };
        let wanted: BTreeSet<String> = view.configs.keys().cloned().collect();
        let runs = self.shared.runs.borrow().clone();
        let mut steps = view.refusal_steps(&self.config.member);
        steps.extend(plan(
            &self.config.member,
            held.id,
            &view.members,
            &wanted,
            &view.claims,
            &view.refusals,
            &runs,
        ));
        let mut claims = view.claims.clone();
        let steps = futures::stream::iter(steps)
            .map(|step| self.step(step, held.id, &etcd, &view.configs))
            .buffer_unordered(STEPS_AT_ONCE)
            .for_each(|change| {
                match change {
                    Change::None => {}
                    Change::Released(endpoint) => {
                        claims.remove(&endpoint);
                    }
                    Change::Claimed(endpoint, claim) => {
                        claims.insert(endpoint, claim);
                    }
                }
                future::ready(())
            });
        // A look that runs long (slow closes, a slow supervisor) must not
        // keep endpoints up past the deadline: it is cut off there.
        futures::pin_mut!(steps);
        let lost = lease_lost(self.config, self.shared);
        futures::pin_mut!(lost);
        if let future::Either::Right(_) = future::select(steps, lost).await {
            self.shared.lease.set(None);
            stop_all(self.supervisor, self.shared).await;
            return None;
        }
        Some((claims, view.members, view.unusable))
    }

    /// Asks the supervisor, every [`REFUSAL_RETRY`], whether the ids of
    /// its own that kept cluster endpoints off this instance are still
    /// there; one that is gone is built and wanted here again (while it is
    /// there, the refusal in etcd stands, and the member holding the
    /// endpoint keeps it).
    async fn recheck_taken(&self) {
        let now = Instant::now();
        let due: Vec<String> = (self.shared.taken.borrow().iter())
            .filter(|(_, at)| now.saturating_duration_since(**at) >= REFUSAL_RETRY)
            .map(|(endpoint, _)| endpoint.clone())
            .collect();
        let asks = due.into_iter().map(|endpoint| async move {
            let ask = self.supervisor.send(GetStatus::new(endpoint.as_str()));
            let gone = matches!(
                ask.timeout(SUPERVISOR_TIMEOUT).await,
                Ok(Err(e)) if e.category() == ErrorCategory::Endpoint
            );
            (endpoint, gone)
        });
        let answers: Vec<(String, bool)> = futures::stream::iter(asks)
            .buffer_unordered(STEPS_AT_ONCE)
            .collect()
            .await;
        let mut taken = self.shared.taken.borrow_mut();
        for (endpoint, gone) in answers {
            if gone {
                taken.remove(&endpoint);
                self.shared.built.borrow_mut().remove(&endpoint);
            } else {
                taken.insert(endpoint, now);
            }
        }
    }

    fn view<'k>(&self, kvs: impl IntoIterator<Item = &'k KeyValue>) -> View {
        View::read(self.config, kvs, &mut self.shared.built.borrow_mut())
    }

    async fn step(
        &self,
        step: Step,
        lease: i64,
        etcd: &Etcd,
        configs: &BTreeMap<String, EndpointConfig>,
    ) -> Change {
        match step {
            Step::Stop(endpoint) => {
                if stop(self.supervisor, &endpoint).await {
                    self.shared.runs.borrow_mut().remove(&endpoint);
                }
                Change::None
            }
            Step::Release(endpoint, epoch) => {
                // The claim goes only once the connection is closed: a
                // stop that failed keeps it (the next look tries again).
                // One that never ran here (its start was refused) is not
                // touched on the supervisor: the id may be another's there.
                let runs = self.shared.runs.borrow().contains_key(&endpoint);
                if runs && !stop(self.supervisor, &endpoint).await {
                    return Change::None;
                }
                self.shared.runs.borrow_mut().remove(&endpoint);
                let key = self.config.key("owners", &endpoint);
                match etcd.delete_if_created(&key, epoch).await {
                    Ok(true) => Change::Released(endpoint),
                    _ => Change::None,
                }
            }
            Step::Claim(endpoint) => {
                if !self.shared.holds(self.config) {
                    return Change::None;
                }
                let key = self.config.key("owners", &endpoint);
                let me = self.config.member.as_bytes();
                let Ok(Some(epoch)) = etcd.create(&key, me, lease).await else {
                    return Change::None;
                };
                self.start(&endpoint, epoch, configs).await;
                let owner = self.config.member.clone();
                Change::Claimed(
                    endpoint,
                    Claim {
                        owner,
                        epoch,
                        lease,
                    },
                )
            }
            Step::Start(endpoint, epoch) => {
                self.start(&endpoint, epoch, configs).await;
                Change::None
            }
            Step::Refuse(endpoint) => {
                let key = self.refusal_key(&endpoint);
                if let Err(e) = etcd.put(&key, b"", lease).await {
                    tracing::debug!("cluster: endpoint {endpoint}: refusal not stored: {e}");
                }
                Change::None
            }
            Step::TakeBack(endpoint) => {
                let key = self.refusal_key(&endpoint);
                if let Err(e) = etcd.delete(&key).await {
                    tracing::debug!("cluster: endpoint {endpoint}: refusal not deleted: {e}");
                }
                Change::None
            }
        }
    }

    fn refusal_key(&self, endpoint: &str) -> String {
        let name = format!("{endpoint}/{}", self.config.member);
        self.config.key("refusals", &name)
    }

    async fn start(&self, endpoint: &str, epoch: i64, configs: &BTreeMap<String, EndpointConfig>) {
        let Some(config) = configs.get(endpoint) else {
            return;
        };
        if !self.shared.holds(self.config) {
            return;
        }
        // Recorded first: if the request is cut short after the
        // supervisor got it, a later stop still finds it.
        let ours = (self.shared.runs.borrow_mut())
            .insert(endpoint.to_owned(), epoch)
            .is_some();
        let epoch = u64::try_from(epoch).unwrap_or(0);
        let add = AddEndpoint::new(endpoint, config.clone()).epoch(epoch);
        let refused = match self.supervisor.send(add).timeout(SUPERVISOR_TIMEOUT).await {
            // The id is the supervisor's own (added outside the cluster):
            // not ours to hold, nor to stop later.
            Ok(Ok(Added::Existing(_))) if !ours => {
                (self.shared.taken.borrow_mut()).insert(endpoint.to_owned(), Instant::now());
                "its id is taken by an endpoint of its own".into()
            }
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => {
                return tracing::warn!("cluster: endpoint {endpoint}: supervisor: {e}");
            }
        };
        // Refused: unusable here until its spec changes (or, for an id of
        // the supervisor's own, until that is gone), so the next look
        // refuses it in etcd and releases the claim for the next best
        // member, and warns once.
        self.shared.runs.borrow_mut().remove(endpoint);
        if let Some(built) = self.shared.built.borrow_mut().get_mut(endpoint) {
            built.1 = Err(format!("the supervisor refused it: {refused}"));
        }
    }
}

/// What one step changed in the owner keys.
enum Change {
    None,
    Released(String),
    Claimed(String, Claim),
}
