//! Subscriptions through the supervisor: to one endpoint, or to every
//! endpoint including those added later.

use actix::{Context, Handler, Message, Recipient};

use super::SupervisorActor;
use crate::{
    connection::{Subscribe as SubscribeConnection, Unsubscribe as UnsubscribeConnection},
    BurstReceived, EndpointHandle, EndpointId, MessageReceived, QueueLimits, Result, StatusChanged,
    Subscriber,
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

    /// A subscription of `subscriber` to every endpoint.
    pub fn to(subscriber: Subscriber) -> Self {
        Self {
            endpoint: None,
            subscriber,
            queue: QueueLimits::default(),
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
        msg.queue.validate()?;
        match msg.endpoint {
            Some(id) => self
                .endpoint(&id)?
                .do_send(SubscribeConnection(msg.subscriber, msg.queue)),
            None => {
                for addr in self.endpoints.values().map(EndpointHandle::addr) {
                    addr.do_send(SubscribeConnection(msg.subscriber.clone(), msg.queue));
                }
                self.global_subscribers
                    .retain(|(s, _)| *s != msg.subscriber);
                self.global_subscribers.push((msg.subscriber, msg.queue));
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
                for addr in self.endpoints.values().map(EndpointHandle::addr) {
                    addr.do_send(UnsubscribeConnection(msg.subscriber.clone()));
                }
                self.global_subscribers
                    .retain(|(s, _)| *s != msg.subscriber);
            }
        }
        Ok(())
    }
}
