//! What one look at etcd shows: the members, the endpoints wanted (their
//! specs built into configs, once per change) and the owner keys. Pure:
//! keys in, a view out.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    assign::{Claim, Refusals, Step},
    etcd::KeyValue,
    ClusterConfig, EndpointSpec,
};
use crate::EndpointConfig;

/// Endpoint → (mod revision of its spec, its config or why it has none).
pub(crate) type Built = BTreeMap<String, (i64, Result<EndpointConfig, String>)>;

/// The cluster as one look at etcd found it.
pub(crate) struct View {
    pub(crate) members: BTreeSet<String>,
    /// The endpoints wanted whose spec this instance can build.
    pub(crate) configs: BTreeMap<String, EndpointConfig>,
    /// The endpoints whose spec is unreadable or cannot be built here,
    /// with why: not claimed here (a claim held already is released).
    pub(crate) unusable: BTreeMap<String, String>,
    pub(crate) claims: BTreeMap<String, Claim>,
    /// Who told the cluster it cannot hold which endpoint.
    pub(crate) refusals: Refusals,
}

impl View {
    /// Reads the keys under the prefix; specs unchanged since `built` was
    /// made are taken from it, and `built` is left holding just the specs
    /// seen now.
    pub(crate) fn read<'a>(
        config: &ClusterConfig,
        kvs: impl IntoIterator<Item = &'a KeyValue>,
        built: &mut Built,
    ) -> Self {
        let mut before = std::mem::take(built);
        let mut view = View {
            members: BTreeSet::new(),
            configs: BTreeMap::new(),
            unusable: BTreeMap::new(),
            claims: BTreeMap::new(),
            refusals: Refusals::new(),
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
                "refusals" => {
                    if let Some((endpoint, member)) = name.split_once('/') {
                        let refused = view.refusals.entry(endpoint.to_owned()).or_default();
                        refused.insert(member.to_owned());
                    }
                }
                _ => {}
            }
        }
        view
    }

    /// What `me` must change in the refusal keys: refuse the endpoints it
    /// cannot hold, take back refusals of those it now can.
    pub(crate) fn refusal_steps(&self, me: &str) -> Vec<Step> {
        let refused_by_me = |endpoint: &str| {
            self.refusals
                .get(endpoint)
                .is_some_and(|members| members.contains(me))
        };
        let refuse = (self.unusable.keys())
            .filter(|endpoint| !refused_by_me(endpoint))
            .map(|endpoint| Step::Refuse(endpoint.clone()));
        let take_back = (self.refusals.iter())
            .filter(|(endpoint, members)| {
                members.contains(me) && !self.unusable.contains_key(*endpoint)
            })
            .map(|(endpoint, _)| Step::TakeBack(endpoint.clone()));
        refuse.chain(take_back).collect()
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
            &[
                kv("/p/members/a/b", b"a/b"),
                kv("/p/endpoints/good", &good),
                kv("/p/endpoints/json", b"{not json"),
                kv("/p/endpoints/secret", &secret),
                kv("/p/owners/good", b"a/b"),
                kv("/p/refusals/secret/a/b", b""),
                kv("/p/refusals/gone/a/b", b""),
                kv("/p/refusals/json/c", b""),
                kv("/other/endpoints/x", &good),
            ],
            &mut built,
        );
        assert_eq!(view.members, BTreeSet::from(["a/b".to_owned()]));
        assert_eq!(view.configs.keys().collect::<Vec<_>>(), ["good"]);
        assert_eq!(view.unusable.keys().collect::<Vec<_>>(), ["json", "secret"]);
        assert_eq!(view.claims["good"].owner, "a/b");
        assert!(view.refusals["secret"].contains("a/b"));
        // "a/b" refuses what it cannot build and has not refused yet, and
        // takes back its refusal of an endpoint gone since.
        assert_eq!(
            view.refusal_steps("a/b"),
            [Step::Refuse("json".into()), Step::TakeBack("gone".into())]
        );
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
        View::read(&config, &[at(5)], &mut built);
        View::read(&config, &[at(5)], &mut built);
        assert_eq!(count(), 1);
        let view = View::read(&config, &[at(6)], &mut built);
        assert_eq!((count(), view.configs.len()), (2, 1));
        // Gone from etcd: gone from the cache.
        View::read(&config, &[], &mut built);
        assert!(built.is_empty());
    }
}
