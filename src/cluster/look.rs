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
    ClusterConfig, EndpointSpec,
};
use crate::{AddEndpoint, EndpointConfig, RemoveEndpoint, SupervisorActor};

/// How many steps of one look run at once (claims are etcd round trips,
/// stops wait for a close handshake: one at a time would take minutes).
const STEPS_AT_ONCE: usize = 64;

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
}

/// Endpoint → (mod revision of its spec, its config or why it has none).
pub(crate) type Built = BTreeMap<String, (i64, Result<EndpointConfig, String>)>;

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
        let prefix = format!("{}/", self.config.prefix);
        let kvs = match etcd.range_prefix(&prefix).await {
            Ok((kvs, _)) => kvs,
            Err(e) => {
                tracing::debug!("cluster: etcd look failed: {e}");
                return None;
            }
        };
        let view = View::read(self.config, kvs, &mut self.shared.built.borrow_mut());
        let wanted: BTreeSet<String> = view.configs.keys().cloned().collect();
        let runs = self.shared.runs.borrow().clone();
        let steps = plan(
            &self.config.member,
            held.id,
            &view.members,
            &wanted,
            &view.claims,
            &runs,
        );
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
                if !stop(self.supervisor, &endpoint).await {
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
        }
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
        self.shared
            .runs
            .borrow_mut()
            .insert(endpoint.to_owned(), epoch);
        let epoch = u64::try_from(epoch).unwrap_or(0);
        let add = AddEndpoint::new(endpoint, config.clone()).epoch(epoch);
        match self.supervisor.send(add).timeout(SUPERVISOR_TIMEOUT).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!("cluster: endpoint {endpoint}: {e}");
                self.shared.runs.borrow_mut().remove(endpoint);
            }
            Err(e) => tracing::warn!("cluster: endpoint {endpoint}: supervisor: {e}"),
        }
    }
}

/// What one step changed in the owner keys.
enum Change {
    None,
    Released(String),
    Claimed(String, Claim),
}

/// The cluster as one look at etcd found it.
pub(crate) struct View {
    pub(crate) members: BTreeSet<String>,
    /// The endpoints wanted whose spec this instance can build.
    pub(crate) configs: BTreeMap<String, EndpointConfig>,
    /// The endpoints whose spec is unreadable or cannot be built here,
    /// with why: not claimed here (a claim held already is released).
    pub(crate) unusable: BTreeMap<String, String>,
    pub(crate) claims: BTreeMap<String, Claim>,
}

impl View {
    /// Reads the keys under the prefix; specs unchanged since `built` was
    /// made are taken from it, and `built` is left holding just the specs
    /// seen now.
    pub(crate) fn read(config: &ClusterConfig, kvs: Vec<KeyValue>, built: &mut Built) -> Self {
        let mut before = std::mem::take(built);
        let mut view = View {
            members: BTreeSet::new(),
            configs: BTreeMap::new(),
            unusable: BTreeMap::new(),
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
                "endpoints" => {
                    let entry = match before.remove(&name) {
                        Some(entry) if entry.0 == kv.mod_revision => entry,
                        _ => (kv.mod_revision, build(config, &kv.value)),
                    };
                    match &entry.1 {
                        Ok(ready) => {
                            view.configs.insert(name.clone(), ready.clone());
                        }
                        Err(e) => {
                            view.unusable.insert(name.clone(), e.clone());
                        }
                    }
                    built.insert(name, entry);
                }
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

/// A stored spec made into a config by the instance's builder.
fn build(config: &ClusterConfig, json: &[u8]) -> Result<EndpointConfig, String> {
    let spec = serde_json::from_slice::<EndpointSpec>(json)
        .map_err(|e| format!("unreadable spec: {e}"))?;
    (config.build)(&spec).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &[u8]) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.to_vec(),
            create_revision: 3,
            mod_revision: 5,
            lease: 4,
        }
    }

    #[test]
    fn unusable_specs_are_not_wanted() {
        let config = ClusterConfig::new("http://127.0.0.1:1", "/p", "a");
        let good = serde_json::to_vec(&EndpointSpec::websocket("ws://127.0.0.1:1/x")).unwrap();
        let secret =
            serde_json::to_vec(&EndpointSpec::websocket("ws://h/x").header_provider("vault"))
                .unwrap();
        let mut built = Built::new();
        let view = View::read(
            &config,
            vec![
                kv("/p/members/a/b", b"a/b"),
                kv("/p/endpoints/good", &good),
                kv("/p/endpoints/json", b"{not json"),
                kv("/p/endpoints/secret", &secret),
                kv("/p/owners/good", b"a/b"),
                kv("/other/endpoints/x", &good),
            ],
            &mut built,
        );
        assert_eq!(view.members, BTreeSet::from(["a/b".to_owned()]));
        assert_eq!(view.configs.keys().collect::<Vec<_>>(), ["good"]);
        assert_eq!(view.unusable.keys().collect::<Vec<_>>(), ["json", "secret"]);
        assert_eq!(view.claims["good"].owner, "a/b");
    }

    #[test]
    fn specs_are_built_once_per_change() {
        let builds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = builds.clone();
        let config = ClusterConfig::new("http://127.0.0.1:1", "/p", "a").build_with(move |spec| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            spec.default_config()
        });
        let spec = serde_json::to_vec(&EndpointSpec::websocket("ws://127.0.0.1:1/x")).unwrap();
        let at = |revision| KeyValue {
            mod_revision: revision,
            ..kv("/p/endpoints/x", &spec)
        };
        let mut built = Built::new();
        let count = || builds.load(std::sync::atomic::Ordering::Relaxed);
        View::read(&config, vec![at(5)], &mut built);
        View::read(&config, vec![at(5)], &mut built);
        assert_eq!(count(), 1);
        let view = View::read(&config, vec![at(6)], &mut built);
        assert_eq!((count(), view.configs.len()), (2, 1));
        // Gone from etcd: gone from the cache.
        View::read(&config, vec![], &mut built);
        assert!(built.is_empty());
    }
}
