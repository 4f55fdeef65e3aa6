//! `SupervisorActor`: owns one connection actor per endpoint, spread over a
//! pool of arbiters, and routes commands, queries and subscriptions to them;
//! its messages, with their constructors. Adding and removing endpoints is
//! in `endpoints` (their bookkeeping in `registry`), groups in `groups`,
//! subscriptions in `subscription`, sending in `send_payload`.

use std::{collections::HashMap, sync::Arc, time::Duration};

mod endpoints;
mod groups;
mod registry;
mod send_payload;
mod subscription;

use actix::{
    Actor, Addr, Arbiter, ArbiterHandle, Context, Handler, Message, MessageResult, ResponseFuture,
};
use futures::future::join_all;

use self::registry::Registry;
pub use self::{
    endpoints::{AddEndpoint, Added, RemoveEndpoint},
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
    monitor::{GetHealthReport, GroupMembers, HealthReport, MonitorActor},
    reconnect_budget::{Gate, ReconnectBudget},
    EndpointHandle, EndpointId, EndpointStatus, Error, Result, Subscriber, SupervisorConfig,
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
    endpoints: Registry,
    groups: Groups,
    global_subscribers: Vec<(Subscriber, Terms)>,
    monitor: Option<Addr<MonitorActor>>,
    /// Paces automatic reconnects across all endpoints (`reconnect_rate`).
    reconnect_budget: Arc<ReconnectBudget>,
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
            reconnect_budget: ReconnectBudget::with_max_connecting(
                config.reconnect_rate,
                config.max_connecting,
            ),
            config,
            arbiters: Vec::new(),
            owned_arbiters: Vec::new(),
            next_arbiter: 0,
            endpoints: Registry::default(),
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

    /// Re-reads the members of the groups `changed` (an endpoint added or
    /// removed) may be in, and tells the monitor of those that changed.
    fn refresh_groups(&mut self, changed: &EndpointId) {
        let monitor = self.monitor();
        for (group, members) in self.groups.refresh(self.endpoints.handles(), changed) {
            monitor.do_send(GroupMembers { group, members });
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
            .endpoints
            .connections()
            .map(|h| {
                let connection = h.connection().clone();
                let query = h.addr().send(QueryStatus);
                async move { (connection, query.await) }
            })
            .collect();
        let ids: Vec<(EndpointId, EndpointId)> = self
            .endpoints
            .handles()
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
                let n = u32::try_from(self.endpoints.connection_count())
                    .unwrap_or(u32::MAX)
                    .max(1);
                let window = self.config.reconnect_stagger;
                Ok(self
                    .endpoints
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

/// Changes the supervisor's pace for automatic reconnects
/// ([`SupervisorConfig::reconnect_rate`]) from now on: `per_second`
/// attempts across its endpoints (0: no cap). Endpoints added before, when
/// the supervisor was started with no cap, stay unpaced. A cluster node
/// sends it to share a cluster-wide rate among the live instances.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetReconnectRate {
    /// Attempts per second.
    pub per_second: u32,
}

impl Handler<SetReconnectRate> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: SetReconnectRate, _: &mut Context<Self>) {
        self.config.reconnect_rate = msg.per_second;
        self.reconnect_budget.set_rate(msg.per_second);
    }
}

/// Makes every connection attempt of this supervisor's endpoints wait at a
/// gate (the cluster's shared pace), or at none.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SetConnectGate(pub(crate) Option<Arc<dyn Gate>>);

impl Handler<SetConnectGate> for SupervisorActor {
    type Result = ();

    fn handle(&mut self, msg: SetConnectGate, _: &mut Context<Self>) {
        self.reconnect_budget.set_gate(msg.0);
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
        // Each future owns its address until the reply, so an idle actor
        // cannot end before it has handled the close.
        let closing: Vec<_> = self
            .endpoints
            .clear()
            .into_iter()
            .map(|handle| async move {
                handle
                    .addr()
                    .send(Close {
                        why: Error::shutdown(),
                    })
                    .await
            })
            .collect();
        Box::pin(async move {
            join_all(closing).await;
        })
    }
}
