//! `SupervisorActor`: owns one connection actor per endpoint, spread over a
//! pool of arbiters, and routes commands, queries and subscriptions to them;
//! its messages, with their constructors. Subscriptions are in
//! `subscription`, sending in `send_payload`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

mod groups;
mod send_payload;
mod subscription;

use actix::{
    Actor, Addr, Arbiter, ArbiterHandle, Context, Handler, Message, MessageResult, ResponseFuture,
    Supervisor,
};
use futures::future::join_all;

pub use self::{
    groups::{
        AddGroup, AddPool, EndpointEntry, GetEndpoints, GetGroup, RemoveGroup, SendToGroup,
        MAX_POOL_SIZE,
    },
    send_payload::{Forwarded, GetEndpoint, SendPayload},
    subscription::{Subscribe, Unsubscribe},
};
use crate::{
    connection::{Close, ConnectionActor, ForceReconnect, QueryStatus, Terms},
    group::Groups,
    monitor::{EndpointRemoved, GetHealthReport, GroupMembers, HealthReport, MonitorActor},
    push_queue::PushQueue,
    reconnect_budget::ReconnectBudget,
    vitals::Vitals,
    ConfigError, EndpointConfig, EndpointHandle, EndpointId, EndpointStatus, Error, Result,
    Subscriber, SupervisorConfig, TransportKind,
};

/// Owns every endpoint's [`ConnectionActor`] and the [`MonitorActor`].
///
/// Connection actors run on `SupervisorConfig::arbiters` arbiter threads
/// (awc's client is per thread), assigned round-robin. All interaction goes
/// through messages: [`AddEndpoint`], [`RemoveEndpoint`], [`GetStatus`],
/// [`GetAllStatuses`], [`Reconnect`], [`Subscribe`], [`Unsubscribe`],
/// [`SendPayload`], [`GetHealthReport`], [`GetMonitor`] and [`Shutdown`].
///
/// ```no_run
/// use actix::Actor;
/// use actix_tether::{AddEndpoint, EndpointConfig, SupervisorActor};
///
/// # #[actix::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let supervisor = SupervisorActor::default().start();
/// let config = EndpointConfig::websocket("wss://feed.example/stream").build()?;
/// supervisor.send(AddEndpoint::new("feed", config)).await??;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SupervisorActor {
    config: SupervisorConfig,
    /// Where connection actors run, round-robin.
    arbiters: Vec<ArbiterHandle>,
    /// The arbiters this supervisor started (and stops).
    owned_arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    endpoints: BTreeMap<EndpointId, EndpointHandle>,
    /// Every endpoint's config, for [`AddEndpoint::share`].
    configs: BTreeMap<EndpointId, Arc<EndpointConfig>>,
    /// How many ids each connection (by [`EndpointHandle::connection`])
    /// carries: one, or more when shared.
    sharers: HashMap<EndpointId, usize>,
    groups: Groups,
    global_subscribers: Vec<(Subscriber, Terms)>,
    monitor: Option<Addr<MonitorActor>>,
    /// Paces automatic reconnects across all endpoints (`reconnect_rate`).
    reconnect_budget: Option<Arc<ReconnectBudget>>,
    shut_down: bool,
}

impl Default for SupervisorActor {
    fn default() -> Self {
        Self::new(SupervisorConfig::default())
    }
}

impl SupervisorActor {
    /// A supervisor with the given settings; start it with `Actor::start`.
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            reconnect_budget: ReconnectBudget::new(config.reconnect_rate),
            config,
            arbiters: Vec::new(),
            owned_arbiters: Vec::new(),
            next_arbiter: 0,
            endpoints: BTreeMap::new(),
            configs: BTreeMap::new(),
            sharers: HashMap::new(),
            groups: Groups::default(),
            global_subscribers: Vec::new(),
            monitor: None,
            shut_down: false,
        }
    }

    fn monitor(&mut self) -> Addr<MonitorActor> {
        self.monitor
            .get_or_insert_with(|| MonitorActor::default().start())
            .clone()
    }

    /// Registers `id` on the connection of an endpoint with the same
    /// config, if there is one.
    fn share(&mut self, id: &EndpointId, config: &EndpointConfig) -> Option<Added> {
        let (with, config_kept) = self
            .configs
            .iter()
            .find(|(_, kept)| kept.same_connection(config))
            .map(|(with, kept)| (with.clone(), Arc::clone(kept)))?;
        let owner = self.endpoints.get(&with)?;
        let handle = owner.sharing(id.clone(), Arc::new(config.tags.clone()));
        let connection = owner.connection().clone();
        *self.sharers.entry(connection.clone()).or_default() += 1;
        self.endpoints.insert(id.clone(), handle);
        self.configs.insert(id.clone(), config_kept);
        self.refresh_groups(id);
        Some(Added::Shared {
            endpoint: id.clone(),
            with: connection,
        })
    }

    /// Re-reads the members of the groups `changed` (an endpoint added or
    /// removed) may be in, and tells the monitor of those that changed.
    fn refresh_groups(&mut self, changed: &EndpointId) {
        let monitor = self.monitor();
        for (group, members) in self.groups.refresh(&self.endpoints, changed) {
            monitor.do_send(GroupMembers { group, members });
        }
    }

    /// One handle per connection (the first id, by id order, of those
    /// sharing one): whom a command for every endpoint goes to.
    fn connections(&self) -> impl Iterator<Item = &EndpointHandle> {
        let mut seen = std::collections::HashSet::new();
        self.endpoints
            .values()
            .filter(move |handle| seen.insert(handle.connection().clone()))
    }

    /// Forgets `id`; answers its handle and whether it was the last id on
    /// its connection (which the caller then closes).
    fn unregister(&mut self, id: &EndpointId) -> Option<(EndpointHandle, bool)> {
        let handle = self.endpoints.remove(id)?;
        self.configs.remove(id);
        self.refresh_groups(id);
        let connection = handle.connection();
        let last = match self.sharers.get_mut(connection) {
            Some(ids) if *ids > 1 => {
                *ids -= 1;
                false
            }
            _ => {
                self.sharers.remove(connection);
                true
            }
        };
        Some((handle, last))
    }

    /// Forgets `id` and closes its connection, unless another id shares
    /// it, without waiting for the close (undoing an add).
    fn forget(&mut self, id: &EndpointId) {
        if let Some((handle, true)) = self.unregister(id) {
            handle.addr().do_send(Close {
                why: Error::endpoint("endpoint removed"),
            });
            self.monitor().do_send(EndpointRemoved {
                endpoint: handle.connection().clone(),
            });
        }
    }

    fn handle_of(&self, id: &EndpointId) -> Result<&EndpointHandle> {
        self.endpoints.get(id).ok_or_else(|| unknown(id))
    }

    fn endpoint(&self, id: &EndpointId) -> Result<Addr<ConnectionActor>> {
        self.handle_of(id).map(|handle| handle.addr().clone())
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.monitor();
        self.owned_arbiters = (0..self.config.arbiters).map(|_| Arbiter::new()).collect();
        self.arbiters = if self.owned_arbiters.is_empty() {
            vec![Arbiter::current()]
        } else {
            self.owned_arbiters.iter().map(Arbiter::handle).collect()
        };
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        for arbiter in &self.owned_arbiters {
            arbiter.stop();
        }
    }
}

/// Registers an endpoint and starts connecting it.
///
/// Adding an id that already exists opens no second connection: the reply
/// is [`Added::Existing`] with the current status.
#[derive(Debug, Message)]
#[rtype(result = "Result<Added>")]
pub struct AddEndpoint {
    /// The endpoint's name.
    pub endpoint: EndpointId,
    /// How to connect.
    pub config: EndpointConfig,
    /// Share the connection of an endpoint whose config is the same (see
    /// [`share`](Self::share)). Default false.
    pub share: bool,
}

impl AddEndpoint {
    /// An add request.
    pub fn new(endpoint: impl Into<EndpointId>, config: EndpointConfig) -> Self {
        Self {
            endpoint: endpoint.into(),
            config,
            share: false,
        }
    }

    /// When an endpoint with the same config (URL, headers, every setting
    /// but the tags; no closures, see below) exists, this id shares its
    /// connection instead of opening a second one: one socket, and
    /// subscribing or sending through either id reaches it. Events keep
    /// the first endpoint's id in their `endpoint` field. The connection
    /// closes when the last id sharing it is removed. A config with a
    /// closure (a header provider, authentication, acknowledgements,
    /// coalescing, an application heartbeat, a backoff policy, a custom
    /// transport, an SSE body, a codec framing) never shares. Without
    /// this, distinct ids are distinct connections.
    ///
    /// ```no_run
    /// # use actix_tether::*;
    /// # async fn run(supervisor: actix::Addr<SupervisorActor>) -> Result<()> {
    /// let config = || EndpointConfig::websocket("wss://chat.example/ws").build();
    /// supervisor.send(AddEndpoint::new("chat", config()?)).await??;
    /// let added = supervisor.send(AddEndpoint::new("chat-ui", config()?).share()).await??;
    /// assert_eq!(added, Added::Shared { endpoint: "chat-ui".into(), with: "chat".into() });
    /// # Ok(()) }
    /// ```
    pub fn share(mut self) -> Self {
        self.share = true;
        self
    }
}

/// The answer to [`AddEndpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Added {
    /// A new endpoint was registered.
    New(EndpointId),
    /// The id already existed; nothing changed.
    Existing(EndpointId),
    /// The id was registered on the connection of `with`
    /// ([`AddEndpoint::share`]).
    Shared {
        /// The id added.
        endpoint: EndpointId,
        /// The endpoint whose connection it shares.
        with: EndpointId,
    },
}

impl Handler<AddEndpoint> for SupervisorActor {
    type Result = Result<Added>;

    fn handle(&mut self, msg: AddEndpoint, _: &mut Context<Self>) -> Self::Result {
        if self.shut_down {
            return Err(Error::shutdown());
        }
        if self.endpoints.contains_key(&msg.endpoint) {
            return Ok(Added::Existing(msg.endpoint));
        }
        if self.sharers.contains_key(&msg.endpoint) {
            // Removed, but its connection lives on for the ids sharing it,
            // and carries this id in its events and figures.
            return Err(ConfigError::new(
                "endpoint",
                format!(
                    "{} was removed but its connection is still shared by other ids; \
                     use another id, or remove those first",
                    msg.endpoint
                ),
            )
            .into());
        }
        msg.config.validate()?;
        if msg.share {
            if let Some(added) = self.share(&msg.endpoint, &msg.config) {
                return Ok(added);
            }
        }
        let arbiter = self.arbiters[self.next_arbiter % self.arbiters.len()].clone();
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        let (id, config) = (msg.endpoint.clone(), Arc::new(msg.config));
        let config_kept = Arc::clone(&config);
        // The endpoint's TLS wins over the supervisor's (validate, above,
        // built it; this takes the cached config).
        let tls = match &config.tls {
            Some(settings) => Some(settings.client_config()?),
            None => self.config.tls.clone(),
        };
        let monitor = self.monitor();
        let budget = self.reconnect_budget.clone();
        let pushed = PushQueue::new(config.outbox_capacity);
        if config.kind == TransportKind::Sse {
            pushed.refuse(Error::receive_only());
        }
        let max_message_size = config.max_message_size;
        let tags = Arc::new(config.tags.clone());
        let actor_pushed = pushed.clone();
        let vitals = Arc::new(Vitals::default());
        let actor_vitals = vitals.clone();
        let subscribers = self.global_subscribers.clone();
        let addr = Supervisor::start_in_arbiter(&arbiter, move |_| {
            // Subscribers go in before the first attempt, so none misses
            // the first transition.
            let mut actor =
                ConnectionActor::new(id, config, tls, monitor, budget, actor_pushed, actor_vitals);
            for (subscriber, terms) in subscribers {
                actor.subscribe(subscriber, terms);
            }
            actor
        });
        let handle = EndpointHandle::new(
            msg.endpoint.clone(),
            addr,
            pushed,
            vitals,
            tags,
            max_message_size,
        );
        self.endpoints.insert(msg.endpoint.clone(), handle);
        self.configs.insert(msg.endpoint.clone(), config_kept);
        self.sharers.insert(msg.endpoint.clone(), 1);
        self.refresh_groups(&msg.endpoint);
        Ok(Added::New(msg.endpoint))
    }
}

/// Closes an endpoint cleanly (close frame 1000) and forgets it. The reply
/// comes once the connection is closed.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct RemoveEndpoint {
    /// The endpoint.
    pub endpoint: EndpointId,
}

impl RemoveEndpoint {
    /// Removes `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }
}

impl Handler<RemoveEndpoint> for SupervisorActor {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: RemoveEndpoint, _: &mut Context<Self>) -> Self::Result {
        let removed = self.unregister(&msg.endpoint);
        let monitor = self.monitor();
        Box::pin(async move {
            let (handle, last) = removed.ok_or_else(|| unknown(&msg.endpoint))?;
            if !last {
                // Another id still shares the connection: it stays.
                return Ok(());
            }
            handle
                .addr()
                .send(Close {
                    why: Error::endpoint("endpoint removed"),
                })
                .await
                .map_err(Error::from)?;
            monitor.do_send(EndpointRemoved {
                endpoint: handle.connection().clone(),
            });
            Ok(())
        })
    }
}

/// Asks for one endpoint's status.
#[derive(Debug, Message)]
#[rtype(result = "Result<EndpointStatus>")]
pub struct GetStatus {
    /// The endpoint.
    pub endpoint: EndpointId,
}

impl GetStatus {
    /// Asks for `endpoint`'s status.
    pub fn new(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }
}

impl Handler<GetStatus> for SupervisorActor {
    type Result = ResponseFuture<Result<EndpointStatus>>;

    fn handle(&mut self, msg: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let addr = self.endpoint(&msg.endpoint);
        Box::pin(async move {
            let status = addr?.send(QueryStatus).await.map_err(Error::from)?;
            Ok(EndpointStatus {
                endpoint: msg.endpoint,
                ..status
            })
        })
    }
}

/// Asks for every endpoint's status, sorted by id (ids sharing a
/// connection each get its status under their own id).
#[derive(Debug, Message)]
#[rtype(result = "Vec<EndpointStatus>")]
pub struct GetAllStatuses;

impl Handler<GetAllStatuses> for SupervisorActor {
    type Result = ResponseFuture<Vec<EndpointStatus>>;

    fn handle(&mut self, _: GetAllStatuses, _: &mut Context<Self>) -> Self::Result {
        let queries: Vec<_> = self
            .connections()
            .map(|h| {
                let connection = h.connection().clone();
                let query = h.addr().send(QueryStatus);
                async move { (connection, query.await) }
            })
            .collect();
        let ids: Vec<(EndpointId, EndpointId)> = self
            .endpoints
            .values()
            .map(|h| (h.id().clone(), h.connection().clone()))
            .collect();
        Box::pin(async move {
            let statuses: HashMap<EndpointId, EndpointStatus> = join_all(queries)
                .await
                .into_iter()
                .filter_map(|(connection, status)| Some((connection, status.ok()?)))
                .collect();
            ids.into_iter()
                .filter_map(|(id, connection)| {
                    let status = statuses.get(&connection)?;
                    Some(EndpointStatus {
                        endpoint: id,
                        ..status.clone()
                    })
                })
                .collect()
        })
    }
}

/// Forces a reconnect of one endpoint, or of all (spread over the
/// supervisor's `reconnect_stagger` window). Revives a Failed endpoint. A
/// live connection is dropped without a close handshake.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Reconnect {
    /// The endpoint; `None` for all.
    pub endpoint: Option<EndpointId>,
}

impl Reconnect {
    /// Forces a reconnect of `endpoint`.
    pub fn endpoint(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
        }
    }

    /// Forces a reconnect of every endpoint.
    pub fn all() -> Self {
        Self { endpoint: None }
    }
}

impl Handler<Reconnect> for SupervisorActor {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: Reconnect, _: &mut Context<Self>) -> Self::Result {
        let targets: Result<Vec<(Addr<ConnectionActor>, Duration)>> = match msg.endpoint {
            Some(id) => self.endpoint(&id).map(|a| vec![(a, Duration::ZERO)]),
            None => {
                let n = u32::try_from(self.sharers.len()).unwrap_or(u32::MAX).max(1);
                let window = self.config.reconnect_stagger;
                Ok(self
                    .connections()
                    .zip(0u32..)
                    .map(|(h, i)| (h.addr().clone(), window * i / n))
                    .collect())
            }
        };
        Box::pin(async move {
            let sends = targets?.into_iter().map(|(a, delay)| async move {
                a.send(ForceReconnect { delay })
                    .await
                    .map_err(Error::from)?
            });
            join_all(sends).await.into_iter().collect()
        })
    }
}

/// Returns the monitor's address.
#[derive(Debug, Message)]
#[rtype(result = "Addr<MonitorActor>")]
pub struct GetMonitor;

impl Handler<GetMonitor> for SupervisorActor {
    type Result = MessageResult<GetMonitor>;

    fn handle(&mut self, _: GetMonitor, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.monitor())
    }
}

impl Handler<GetHealthReport> for SupervisorActor {
    type Result = ResponseFuture<HealthReport>;

    fn handle(&mut self, msg: GetHealthReport, _: &mut Context<Self>) -> Self::Result {
        let monitor = self.monitor();
        Box::pin(async move {
            monitor.send(msg).await.unwrap_or_else(|_| HealthReport {
                endpoints: Vec::new(),
                overall: 0,
                groups: Vec::new(),
                at: std::time::SystemTime::now(),
            })
        })
    }
}

fn unknown(endpoint: &EndpointId) -> Error {
    Error::endpoint(format!("unknown endpoint {endpoint:?}"))
}

/// Closes every connection (close frame 1000, then up to each endpoint's
/// `close_timeout` for the peer's close) and replies once all are closed.
/// Afterwards the supervisor refuses new endpoints; the monitor keeps the
/// final figures.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for SupervisorActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shut_down = true;
        self.global_subscribers.clear();
        self.configs.clear();
        self.sharers.clear();
        // Each future owns its address until the reply, so an idle actor
        // cannot end before it has handled the close.
        let closing: Vec<_> = self
            .connections()
            .cloned()
            .map(|handle| async move {
                handle
                    .addr()
                    .send(Close {
                        why: Error::shutdown(),
                    })
                    .await
            })
            .collect();
        self.endpoints.clear();
        Box::pin(async move {
            join_all(closing).await;
        })
    }
}
