//! Adding and removing endpoints: [`AddEndpoint`] (a connection of its
//! own, or a share of one with the same config) and [`RemoveEndpoint`].

use std::sync::Arc;

use actix::{Context, Handler, Message, ResponseFuture, Supervisor};

use super::{unknown, SupervisorActor};
use crate::{
    connection::{Close, ConnectionActor},
    monitor::EndpointRemoved,
    push_queue::PushQueue,
    vitals::Vitals,
    ConfigError, EndpointConfig, EndpointHandle, EndpointId, Error, Result, TransportKind,
};

impl SupervisorActor {
    /// Registers `id` on the connection of an endpoint with the same
    /// config, if there is one.
    pub(super) fn share_connection(
        &mut self,
        id: &EndpointId,
        config: &EndpointConfig,
    ) -> Option<Added> {
        let connection = self.endpoints.share(id, config)?;
        self.refresh_groups(id);
        Some(Added::Shared {
            endpoint: id.clone(),
            with: connection,
        })
    }

    /// Forgets `id`; answers its handle and whether it was the last id on
    /// its connection (which the caller then closes).
    pub(super) fn unregister(&mut self, id: &EndpointId) -> Option<(EndpointHandle, bool)> {
        let removed = self.endpoints.remove(id)?;
        self.refresh_groups(id);
        Some(removed)
    }

    /// Forgets `id` and closes its connection, unless another id shares
    /// it, without waiting for the close (undoing an add).
    pub(super) fn forget(&mut self, id: &EndpointId) {
        if let Some((handle, true)) = self.unregister(id) {
            handle.addr().do_send(Close {
                why: Error::endpoint("endpoint removed"),
            });
            self.monitor().do_send(EndpointRemoved {
                endpoint: handle.connection().clone(),
            });
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
    /// The ownership epoch its events and messages carry (see
    /// [`epoch`](Self::epoch)). Default `None`.
    pub epoch: Option<u64>,
}

impl AddEndpoint {
    /// An add request.
    pub fn new(endpoint: impl Into<EndpointId>, config: EndpointConfig) -> Self {
        Self {
            endpoint: endpoint.into(),
            config,
            share: false,
            epoch: None,
        }
    }

    /// Tags every [`StatusChanged`](crate::StatusChanged),
    /// [`MessageReceived`](crate::MessageReceived) and
    /// [`BurstReceived`](crate::BurstReceived) of this endpoint with
    /// `epoch`: an ownership epoch that grows each time another instance
    /// takes the endpoint over (a cluster node passes its owner key's
    /// revision), so consumers merging several instances' output can drop
    /// what a stale owner sent. Not used when the id shares a connection.
    pub fn epoch(mut self, epoch: u64) -> Self {
        self.epoch = Some(epoch);
        self
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
        if self.endpoints.get(&msg.endpoint).is_some() {
            return Ok(Added::Existing(msg.endpoint));
        }
        if self.endpoints.lingers(&msg.endpoint) {
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
            if let Some(added) = self.share_connection(&msg.endpoint, &msg.config) {
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
        let budget = Some(self.reconnect_budget.clone());
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
        let epoch = msg.epoch;
        let addr = Supervisor::start_in_arbiter(&arbiter, move |_| {
            // Subscribers go in before the first attempt, so none misses
            // the first transition.
            let mut actor =
                ConnectionActor::new(id, config, tls, monitor, budget, actor_pushed, actor_vitals);
            actor.set_epoch(epoch);
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
        self.endpoints.insert(handle, config_kept);
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
