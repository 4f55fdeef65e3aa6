//! Subscriptions through the supervisor: to one endpoint, or to every
//! endpoint including those added later.

use actix::{Context, Handler, Message, Recipient};

use super::SupervisorActor;
use crate::{
    connection::{Subscribe as SubscribeConnection, Terms, Unsubscribe as UnsubscribeConnection},
    BurstReceived, ConfigError, EndpointHandle, EndpointId, EventTypes, InlineHandler,
    MessageReceived, QueueLimits, Result, StatusChanged, Subscriber,
};

/// Subscribes to one endpoint's events, or to every endpoint's (including
/// endpoints added later).
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Subscribe {
    /// The endpoint; `None` for all.
    pub endpoint: Option<EndpointId>,
    /// Who receives what.
    pub subscriber: Subscriber,
    /// The bound of each endpoint's queue to an inbound subscriber, and what
    /// happens past it (status subscribers are not queued: state changes
    /// come at the pace of connection attempts).
    pub queue: QueueLimits,
    /// Inbound subscribers only: the SSE event types taken; `None` takes
    /// every payload.
    pub event_types: Option<EventTypes>,
}

impl Subscribe {
    /// Subscribes `recipient` to every [`StatusChanged`]
    /// of every endpoint (narrow it with [`endpoint`](Self::endpoint)).
    ///
    /// ```no_run
    /// # use actix::prelude::*;
    /// # use actix_tether::*;
    /// # async fn run(supervisor: Addr<SupervisorActor>, me: Recipient<StatusChanged>) -> Result<()> {
    /// supervisor.send(Subscribe::status(me).endpoint("feed")).await??;
    /// # Ok(()) }
    /// ```
    pub fn status(recipient: Recipient<StatusChanged>) -> Self {
        Self::to(Subscriber::Status(recipient))
    }

    /// Subscribes `recipient` to every inbound message, one
    /// [`MessageReceived`] each.
    pub fn messages(recipient: Recipient<MessageReceived>) -> Self {
        Self::to(Subscriber::Messages(recipient))
    }

    /// Subscribes `recipient` to inbound messages in bursts, one
    /// [`BurstReceived`] per burst (the fast path).
    pub fn bursts(recipient: Recipient<BurstReceived>) -> Self {
        Self::to(Subscriber::Bursts(recipient))
    }

    /// Subscribes an [`InlineHandler`] to inbound messages: called with each
    /// burst inside the connection's task, before the other subscribers
    /// (the lowest latency; it must not block). Not queued:
    /// [`queue`](Self::queue) does not apply to it.
    ///
    /// ```no_run
    /// # use actix::prelude::*;
    /// # use actix_tether::*;
    /// # async fn run(supervisor: Addr<SupervisorActor>, book: std::sync::mpsc::Sender<Payload>) -> Result<()> {
    /// let handler = InlineHandler::new(move |burst: InlineBurst<'_>| {
    ///     for payload in burst.payloads.iter() {
    ///         let _ = book.send(payload.to_payload());
    ///     }
    /// });
    /// supervisor.send(Subscribe::inline(handler).endpoint("ticker")).await??;
    /// # Ok(()) }
    /// ```
    pub fn inline(handler: InlineHandler) -> Self {
        Self::to(Subscriber::Inline(handler))
    }

    /// A subscription of `subscriber` to every endpoint.
    pub fn to(subscriber: Subscriber) -> Self {
        Self {
            endpoint: None,
            subscriber,
            queue: QueueLimits::default(),
            event_types: None,
        }
    }

    /// Narrows the subscription to one endpoint.
    pub fn endpoint(mut self, endpoint: impl Into<EndpointId>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Bounds the inbound queue (per endpoint) and sets what happens when
    /// it is full; [`QueueLimits::default`] pauses reading at 1,024
    /// messages or 8 MiB.
    ///
    /// ```no_run
    /// # use actix::prelude::*;
    /// # use actix_tether::*;
    /// # async fn run(supervisor: Addr<SupervisorActor>, me: Recipient<MessageReceived>) -> Result<()> {
    /// let latest_only = QueueLimits::new(100, 1 << 20).overflow(Overflow::DropOldest);
    /// supervisor.send(Subscribe::messages(me).endpoint("ticker").queue(latest_only)).await??;
    /// # Ok(()) }
    /// ```
    pub fn queue(mut self, limits: QueueLimits) -> Self {
        self.queue = limits;
        self
    }

    /// Takes only SSE events of these types (seed 000's `connected`,
    /// `tool-request`, `heartbeat`, ...): other events, and payloads that
    /// are not events, are left out on the connection's thread, before the
    /// mailbox hop, and do not count against [`queue`](Self::queue). For
    /// message and burst subscribers; a burst holds the burst's events of
    /// these types, and a burst with none is not sent.
    ///
    /// ```no_run
    /// # use actix::prelude::*;
    /// # use actix_tether::*;
    /// # async fn run(supervisor: Addr<SupervisorActor>, me: Recipient<MessageReceived>) -> Result<()> {
    /// let tools = Subscribe::messages(me).endpoint("agent").event_types(["tool-request", "error"]);
    /// supervisor.send(tools).await??;
    /// # Ok(()) }
    /// ```
    pub fn event_types<T: Into<bytestring::ByteString>>(
        mut self,
        types: impl IntoIterator<Item = T>,
    ) -> Self {
        self.event_types = Some(EventTypes::new(types));
        self
    }

    /// Checks the queue bounds and the event type filter.
    fn validate(&self) -> std::result::Result<(), ConfigError> {
        self.queue.validate()?;
        if let Some(types) = &self.event_types {
            if matches!(self.subscriber, Subscriber::Status(_)) {
                return Err(ConfigError::new(
                    "event_types",
                    "filters inbound messages: not for a status subscriber",
                ));
            }
            types.validate()?;
        }
        Ok(())
    }
}

/// Removes a subscription made with [`Subscribe`] (same endpoint scope).
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Unsubscribe {
    /// The endpoint; `None` for all.
    pub endpoint: Option<EndpointId>,
    /// The subscription to remove.
    pub subscriber: Subscriber,
}

impl Unsubscribe {
    /// Removes `subscriber`'s subscription to every endpoint (narrow it
    /// with [`endpoint`](Self::endpoint)).
    pub fn to(subscriber: Subscriber) -> Self {
        Self {
            endpoint: None,
            subscriber,
        }
    }

    /// Narrows the removal to one endpoint's subscription.
    pub fn endpoint(mut self, endpoint: impl Into<EndpointId>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
}

impl Handler<Subscribe> for SupervisorActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        msg.validate()?;
        let terms = Terms {
            limits: msg.queue,
            types: msg.event_types,
        };
        match msg.endpoint {
            Some(id) => self
                .endpoint(&id)?
                .do_send(SubscribeConnection(msg.subscriber, terms)),
            None => {
                for addr in self.endpoints.connections().map(EndpointHandle::addr) {
                    addr.do_send(SubscribeConnection(msg.subscriber.clone(), terms.clone()));
                }
                self.global_subscribers
                    .retain(|(s, _)| *s != msg.subscriber);
                self.global_subscribers.push((msg.subscriber, terms));
            }
        }
        Ok(())
    }
}

impl Handler<Unsubscribe> for SupervisorActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) -> Self::Result {
        match msg.endpoint {
            Some(id) => self
                .endpoint(&id)?
                .do_send(UnsubscribeConnection(msg.subscriber)),
            None => {
                for addr in self.endpoints.connections().map(EndpointHandle::addr) {
                    addr.do_send(UnsubscribeConnection(msg.subscriber.clone()));
                }
                self.global_subscribers
                    .retain(|(s, _)| *s != msg.subscriber);
            }
        }
        Ok(())
    }
}
