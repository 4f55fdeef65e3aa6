//! Messages the supervisor sends to a connection actor.

use std::time::Duration;

use actix::{
    dev::OneshotSender, ActorContext, Context, Handler, Message, MessageResult, Recipient,
    ResponseFuture,
};
use futures::channel::oneshot;

use super::{ConnectionActor, Next};
use crate::{
    ConnectionState, EndpointId, Error, MessageReceived, MessagesReceived, Payload, Receipt,
    SendOptions, StatusChanged,
};

/// A subscriber of one kind of event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscriber {
    /// Receives every [`StatusChanged`].
    Status(Recipient<StatusChanged>),
    /// Receives every inbound message as its own [`MessageReceived`].
    Messages(Recipient<MessageReceived>),
    /// Receives inbound messages in [`MessagesReceived`] batches: one mailbox
    /// hop per burst, the fast path.
    Batches(Recipient<MessagesReceived>),
}

/// A snapshot of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Its URL with any password and query redacted.
    pub url: String,
    /// Current state.
    pub state: ConnectionState,
    /// Successful connections so far.
    pub generation: u64,
    /// Consecutive failures counted by the reconnect policy.
    pub attempt: u32,
}

/// Closes the endpoint; `why` is what undelivered messages are told.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Close {
    pub(crate) why: Error,
}

#[derive(Debug, Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct ForceReconnect {
    pub(crate) delay: Duration,
}

#[derive(Debug, Message)]
#[rtype(result = "Result<Receipt, Error>")]
pub(crate) struct Write {
    pub(crate) payload: Payload,
    pub(crate) options: SendOptions,
}

/// A [`Write`] whose answer goes straight to whoever sent the supervisor's
/// `SendPayload`: no task and no second reply channel per message.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct WriteFor {
    pub(crate) write: Write,
    pub(crate) reply: Option<OneshotSender<Result<Receipt, Error>>>,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Subscribe(pub(crate) Subscriber);

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Unsubscribe(pub(crate) Subscriber);

#[derive(Debug, Message)]
#[rtype(result = "EndpointStatus")]
pub(crate) struct QueryStatus;

impl ConnectionActor {
    pub(crate) fn status(&self) -> EndpointStatus {
        EndpointStatus {
            endpoint: self.id.clone(),
            url: crate::redact::redact_url(&self.config.url),
            state: self.state,
            generation: self.generation,
            attempt: self.retry.failures(),
        }
    }
}

impl Handler<Close> for ConnectionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.close_waiters.push(tx);
        self.begin_close(msg.why, ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<ForceReconnect> for ConnectionActor {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: ForceReconnect, ctx: &mut Context<Self>) -> Self::Result {
        use ConnectionState::*;
        match self.state {
            Closing | Closed => return Err(Error::endpoint("endpoint is closed")),
            Connecting => return Ok(()),
            Failed => self.retry.revive(),
            Connected | Authenticated => {
                self.sender
                    .on_loss(&Error::endpoint("forced reconnect"), false);
                self.transition(Reconnecting, None, Some(msg.delay));
            }
            Disconnected | Reconnecting => {}
        }
        self.next = Next::Connect(msg.delay);
        ctx.stop();
        Ok(())
    }
}

impl Handler<Write> for ConnectionActor {
    type Result = Result<Receipt, Error>;

    fn handle(&mut self, msg: Write, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(msg, ctx)
    }
}

impl Handler<WriteFor> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: WriteFor, ctx: &mut Context<Self>) {
        let result = self.accept(msg.write, ctx);
        if let Some(reply) = msg.reply {
            // A sender that stopped waiting drops the receipt, as with `send`.
            let _ = reply.send(result);
        }
    }
}

impl Handler<Subscribe> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, Subscribe(subscriber): Subscribe, _: &mut Context<Self>) {
        self.subscribe(subscriber);
    }
}

impl ConnectionActor {
    pub(crate) fn subscribe(&mut self, subscriber: Subscriber) {
        match subscriber {
            Subscriber::Status(r) => self.status_subs.add(r),
            Subscriber::Messages(r) => self.message_subs.add(r),
            Subscriber::Batches(r) => self.batch_subs.add(r),
        }
    }
}

impl Handler<Unsubscribe> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, Unsubscribe(subscriber): Unsubscribe, _: &mut Context<Self>) {
        match subscriber {
            Subscriber::Status(r) => self.status_subs.remove(&r),
            Subscriber::Messages(r) => self.message_subs.remove(&r),
            Subscriber::Batches(r) => self.batch_subs.remove(&r),
        }
    }
}

impl Handler<QueryStatus> for ConnectionActor {
    type Result = MessageResult<QueryStatus>;

    fn handle(&mut self, _: QueryStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}
