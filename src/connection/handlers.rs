//! Messages a connection actor answers (from the supervisor and from
//! endpoint handles), and how it takes a send in.

use std::time::{Duration, Instant};

use actix::{
    dev::OneshotSender, ActorContext, Context, Handler, Message, MessageResult, ResponseFuture,
};
use futures::channel::oneshot;

use super::{ConnectionActor, Link, Next, Subscriber, Terms};
use crate::{ConnectionState, EndpointId, Error, Payload, Receipt, Receipts, Result, SendOptions};

/// A snapshot of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Its URL through [`redact_url`](crate::redact_url): user info, query
    /// and fragment hidden.
    pub url: String,
    /// Current state.
    pub state: ConnectionState,
    /// Successful connections so far.
    pub generation: u64,
    /// Consecutive failures counted by the reconnect policy.
    pub attempt: u32,
    /// The transport it speaks.
    pub transport: crate::TransportKind,
    /// Messages waiting in its outbox.
    pub queued: usize,
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
pub(crate) struct Subscribe(pub(crate) Subscriber, pub(crate) Terms);

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
            transport: self.config.kind,
            queued: self.sender.queued(),
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

    fn handle(&mut self, msg: Write, _: &mut Context<Self>) -> Self::Result {
        self.accept(msg)
    }
}

impl Handler<WriteFor> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: WriteFor, _: &mut Context<Self>) {
        let result = self.accept(msg.write);
        if let Some(reply) = msg.reply {
            // A sender that stopped waiting drops the receipt, as with `send`.
            let _ = reply.send(result);
        }
    }
}

impl Handler<Subscribe> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, Subscribe(subscriber, terms): Subscribe, _: &mut Context<Self>) {
        self.subscribe(subscriber, terms);
    }
}

impl ConnectionActor {
    pub(crate) fn subscribe(&mut self, subscriber: Subscriber, terms: Terms) {
        self.fanout.add(subscriber, terms);
    }

    /// Takes a send in: written now if the live socket has room and nothing
    /// waits ahead of it, else queued (or refused).
    pub(super) fn accept(&mut self, msg: Write) -> Result<Receipt> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        if self.link.as_ref().is_some_and(|link| !link.sends()) {
            return Err(Error::endpoint("this connection is receive-only"));
        }
        let live = self.link.as_ref().is_some_and(Link::takes_data);
        self.sender.admit(&msg.payload, &msg.options, live)?;
        if self.sender.writes_straight(live) && self.link.as_mut().is_some_and(Link::ready_now) {
            return self.write_now(msg);
        }
        let receipt = self
            .sender
            .queue(msg.payload, msg.options, Instant::now())?;
        self.report_queued();
        if let Some(link) = &self.link {
            link.wake();
        }
        if self.sender.has_deadlines() {
            self.rearm();
        }
        Ok(receipt)
    }

    /// Takes a batch of plain sends in, in order, each with its own
    /// receipt: while the live socket has room and nothing waits ahead,
    /// each goes straight in, the endpoint's state checked once for the
    /// batch; from the first that does not fit, as [`accept`](Self::accept)
    /// takes them.
    pub(super) fn accept_many(&mut self, payloads: Vec<Payload>) -> Receipts {
        let mut receipts = Receipts::with_capacity(4);
        let mut payloads = payloads.into_iter();
        let plain = SendOptions::new();
        let mut rest = None;
        let straight = self.refusal().is_none() && self.sender.writes_straight(true);
        if let Some(link) = self
            .link
            .as_mut()
            .filter(|link| straight && link.takes_data())
        {
            for payload in payloads.by_ref() {
                if let Err(error) = self.sender.admit(&payload, &plain, true) {
                    receipts.push(Err(error));
                    continue;
                }
                if !link.ready_now() {
                    rest = Some(payload);
                    break;
                }
                let len = payload.len();
                match link.write_ready(payload) {
                    Ok(()) => {
                        self.sender.written_plain(len, &mut self.samples);
                        receipts.written(self.generation);
                    }
                    Err(error) => receipts.push(Err(error)),
                }
            }
        }
        for payload in rest.into_iter().chain(payloads) {
            receipts.push(self.accept(Write {
                payload,
                options: SendOptions::new(),
            }));
        }
        receipts
    }

    /// Writes a send straight into the socket buffer, which has room. The
    /// payload is copied (a reference count) and the clock read only when
    /// the message waits for an acknowledgement.
    fn write_now(&mut self, msg: Write) -> Result<Receipt> {
        let Some(link) = self.link.as_mut() else {
            unreachable!("write_now follows ready_now on a live link");
        };
        let kept = self.sender.keeps(&msg.options).then(|| msg.payload.clone());
        let len = msg.payload.len();
        link.write_ready(msg.payload)?;
        let acked = kept.is_some();
        let receipt = self.sender.written_now(
            len,
            kept,
            msg.options,
            self.generation,
            Instant::now,
            &mut self.samples,
        );
        if acked {
            self.rearm();
        }
        Ok(receipt)
    }
}

impl Handler<Unsubscribe> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, Unsubscribe(subscriber): Unsubscribe, _: &mut Context<Self>) {
        self.fanout.remove(&subscriber);
    }
}

impl Handler<QueryStatus> for ConnectionActor {
    type Result = MessageResult<QueryStatus>;

    fn handle(&mut self, _: QueryStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}
