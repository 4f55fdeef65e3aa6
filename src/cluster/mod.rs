//! Running on several instances (feature `cluster`): each endpoint is held
//! by exactly one instance, chosen among the live ones, through etcd.
//!
//! Every instance runs a [`ClusterNode`] beside its supervisor. The node
//! keeps a lease in etcd (TTL [`ClusterConfig::ttl`], renewed every third
//! of it) with a member key bound to it, so the live members are the
//! member keys. The endpoints the cluster holds live under the prefix as
//! [`EndpointSpec`] JSON (no secrets: a header provider by name, resolved
//! by each instance's [`ClusterConfig::build_with`]); [`Publish`] and
//! [`Unpublish`] on any instance change the set. The member an endpoint
//! belongs to is chosen by rendezvous hashing over the live members, so a
//! member joining or leaving moves about 1/N of the endpoints.
//!
//! Each node reads the prefix once and then follows it with an etcd watch,
//! keeping a copy in memory: any change (a member, an endpoint, an owner
//! key) makes it look at once, from the copy. The prefix is read again when
//! a watch starts, every 30 s, and when the lease is granted anew; while no
//! watch runs, every look reads it ([`ClusterConfig::look_every`]).
//!
//! An instance connects an endpoint only after it created the endpoint's
//! owner key in an etcd transaction (create if absent, bound to its lease).
//! The key's creation revision is the ownership **epoch** ([`Ownership`]):
//! it grows with every change of owner, so output tagged with an older
//! epoch comes from a stale owner. A member that should no longer hold an
//! endpoint (another member joined, or the endpoint was unpublished) closes
//! it first and deletes its owner key after, so two instances never hold it
//! at once on a graceful move; [`Leave`] closes everything and revokes the
//! lease, so survivors take over as soon as their watch shows it instead
//! of after the TTL. An instance killed outright loses its keys when its lease expires
//! (the TTL), and survivors claim its endpoints then.
//!
//! Safety over liveness: an instance that cannot renew its lease closes
//! its connections once [`ClusterConfig::ttl`] less the safety margin has
//! passed since its last renewal was *sent* (etcd's expiry is at least a
//! TTL after that), before etcd can let the lease expire and hand the
//! endpoints to another member. The renewal and that deadline run on
//! their own schedule, apart from the looks, and the closes are sent all
//! at once. Under a partition that cuts an instance off from etcd (but not
//! from the servers), its endpoints are held by nobody for up to a TTL,
//! never by two. An etcd outage shorter than that drops nothing.
//!
//! Not guaranteed: the margin must cover the close (a close frame is sent
//! at once, but the peer may take up to the endpoint's `close_timeout` to
//! answer) and any pause of the whole process (a frozen VM or a stopped
//! process cannot close anything until it runs again). That is what the
//! epoch is for: consumers that must never see two owners discard output
//! tagged with an epoch older than the newest they have seen.
//!
//! An endpoint whose stored spec cannot be read or built on an instance
//! (a header provider its builder does not know, say), or whose start its
//! supervisor refuses (the id is one of its own), is not held there, with
//! one warning per change: the instance says so in etcd (a refusal key
//! bound to its lease), rendezvous hashing passes it over for that
//! endpoint, and a claim of it already held is released, so the best
//! member that can hold it takes it.

mod assign;
mod etcd;
mod follow;
mod look;
mod mirror;
mod node;
mod pacing;
mod view;

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

pub use self::node::{
    ClusterNode, ClusterSend, GetOwnership, Leave, Ownership, Publish, Sent, Unpublish,
};
use crate::{ConfigError, EndpointConfig, Result, TransportKind};

/// An endpoint as the cluster stores it: no secret in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EndpointSpec {
    /// Its URL (user info is refused: it would be a secret in etcd).
    pub url: String,
    /// Its transport.
    pub transport: TransportKind,
    /// Its tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The name of a header provider each instance resolves in its
    /// [`ClusterConfig::build_with`] (a token never goes into etcd).
    #[serde(default)]
    pub header_provider: Option<String>,
}

impl EndpointSpec {
    /// A WebSocket endpoint.
    pub fn websocket(url: impl Into<String>) -> Self {
        Self::new(url, TransportKind::WebSocket)
    }

    /// An endpoint of `transport` at `url`.
    pub fn new(url: impl Into<String>, transport: TransportKind) -> Self {
        Self {
            url: url.into(),
            transport,
            tags: BTreeMap::new(),
            header_provider: None,
        }
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Names the header provider instances resolve.
    pub fn header_provider(mut self, name: impl Into<String>) -> Self {
        self.header_provider = Some(name.into());
        self
    }

    /// The config the default builder makes: the transport's defaults,
    /// with the tags; a named header provider is refused (give a builder
    /// that knows it).
    ///
    /// # Errors
    /// A header provider is named, the transport is custom, or the URL is
    /// invalid.
    pub fn default_config(&self) -> Result<EndpointConfig> {
        if let Some(name) = &self.header_provider {
            return Err(ConfigError::new(
                "cluster.header_provider",
                format!("no builder knows the header provider {name:?}"),
            )
            .into());
        }
        let mut builder = match self.transport {
            TransportKind::WebSocket => EndpointConfig::websocket(&self.url),
            TransportKind::Sse => EndpointConfig::sse(&self.url),
            TransportKind::Tcp => EndpointConfig::tcp(&self.url),
            _ => {
                return Err(ConfigError::new(
                    "cluster.transport",
                    "a custom transport cannot be built from a spec",
                )
                .into())
            }
        };
        for (key, value) in &self.tags {
            builder = builder.tag(key, value);
        }
        Ok(builder.build()?)
    }
}

/// Turns a stored spec into the config an instance connects with.
pub type BuildEndpoint = Arc<dyn Fn(&EndpointSpec) -> Result<EndpointConfig> + Send + Sync>;

/// How an instance joins the cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    pub(crate) etcd: String,
    pub(crate) prefix: String,
    pub(crate) member: String,
    pub(crate) ttl: Duration,
    pub(crate) margin: Duration,
    pub(crate) look_every: Duration,
    pub(crate) reconnect_rate: Option<u32>,
    pub(crate) build: BuildEndpoint,
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("etcd", &self.etcd)
            .field("prefix", &self.prefix)
            .field("member", &self.member)
            .field("ttl", &self.ttl)
            .field("margin", &self.margin)
            .field("look_every", &self.look_every)
            .field("reconnect_rate", &self.reconnect_rate)
            .finish_non_exhaustive()
    }
}

/// Default lease TTL: 10 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

impl ClusterConfig {
    /// Joins the cluster under `prefix` in the etcd at `etcd`
    /// (`http://host:port`) as `member` (unique per instance). Defaults:
    /// TTL 10 s, safety margin a fifth of it, a look every 500 ms,
    /// [`EndpointSpec::default_config`] as the builder.
    pub fn new(
        etcd: impl Into<String>,
        prefix: impl Into<String>,
        member: impl Into<String>,
    ) -> Self {
        Self {
            etcd: etcd.into(),
            prefix: prefix.into().trim_end_matches('/').to_owned(),
            member: member.into(),
            ttl: DEFAULT_TTL,
            margin: DEFAULT_TTL / 5,
            look_every: Duration::from_millis(500),
            reconnect_rate: None,
            build: Arc::new(EndpointSpec::default_config),
        }
    }

    /// The lease TTL (whole seconds, at least 2): how long a dead instance
    /// keeps its endpoints. The safety margin becomes a fifth of it.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Duration::from_secs(ttl.as_secs().max(2));
        self.margin = self.ttl / 5;
        self
    }

    /// How often the node looks at the cluster on its own (members,
    /// endpoints, owners): while a watch runs, changes start looks and this
    /// one, every ten intervals, only retries what failed; while none runs,
    /// each look reads the prefix from etcd. Default 500 ms, at least 50 ms.
    pub fn look_every(mut self, every: Duration) -> Self {
        self.look_every = every.max(Duration::from_millis(50));
        self
    }

    /// Paces connection attempts across the whole cluster at `per_second`
    /// (servers that limit new sessions per account, like a gateway's
    /// identify limit): every attempt of every member's endpoints (first
    /// connects, reconnects and forced ones) waits for a token from a
    /// per-second bucket in etcd, taken with a compare-and-put, so the
    /// cluster starts at most `per_second` connections in any second of
    /// the members' clocks, and one member may use the whole rate when the
    /// others need none. An attempt waits while etcd does not answer (the
    /// lease rule stops everything if that lasts). Each supervisor's own
    /// rate still spaces its reconnects. Default: no shared pace.
    pub fn reconnect_rate(mut self, per_second: u32) -> Self {
        self.reconnect_rate = Some(per_second);
        self
    }

    /// How a stored spec becomes a config (resolve header providers here).
    pub fn build_with(
        mut self,
        build: impl Fn(&EndpointSpec) -> Result<EndpointConfig> + Send + Sync + 'static,
    ) -> Self {
        self.build = Arc::new(build);
        self
    }

    pub(crate) fn key(&self, kind: &str, name: &str) -> String {
        format!("{}/{kind}/{name}", self.prefix)
    }
}
