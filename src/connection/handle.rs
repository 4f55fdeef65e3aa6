//! A direct handle on one endpoint, for senders that need throughput.

use std::{collections::BTreeMap, sync::Arc};

use actix::{Addr, Context, Handler, Message, MessageResult};

use super::{handlers::Write, ConnectionActor};
use crate::{
    push_queue::PushQueue, sender::check_payload, vitals::Vitals, ConnectionState, EndpointId,
    Error, Payload, Receipt, Receipts, Result, SendOptions,
};

/// Sends to one endpoint without going through the supervisor: one mailbox
/// hop per [`send`](Self::send), one per [`send_many`](Self::send_many),
/// none per [`push`](Self::push). Sends have the same receipts and promises
/// as [`SendPayload`](crate::SendPayload).
///
/// Get one with [`GetEndpoint`](crate::GetEndpoint). A handle keeps the
/// connection actor's mailbox open: after the endpoint is removed, sends
/// and pushes through it fail with "endpoint is closed".
#[derive(Debug, Clone)]
pub struct EndpointHandle {
    id: EndpointId,
    /// The id of the endpoint that opened the connection: the one its
    /// events and figures carry (`id` too, unless this id shares it).
    connection: EndpointId,
    addr: Addr<ConnectionActor>,
    pushed: Arc<PushQueue>,
    vitals: Arc<Vitals>,
    tags: Arc<BTreeMap<String, String>>,
    max_message_size: usize,
}

impl EndpointHandle {
    pub(crate) fn new(
        id: EndpointId,
        addr: Addr<ConnectionActor>,
        pushed: Arc<PushQueue>,
        vitals: Arc<Vitals>,
        tags: Arc<BTreeMap<String, String>>,
        max_message_size: usize,
    ) -> Self {
        Self {
            connection: id.clone(),
            id,
            addr,
            pushed,
            vitals,
            tags,
            max_message_size,
        }
    }

    /// A handle named `id`, with `tags`, on this endpoint's connection.
    pub(crate) fn sharing(&self, id: EndpointId, tags: Arc<BTreeMap<String, String>>) -> Self {
        Self {
            id,
            tags,
            ..self.clone()
        }
    }

    pub(crate) fn vitals(&self) -> &Vitals {
        &self.vitals
    }

    /// What a router weighs: sends in flight through handles, messages in
    /// the outbox, and pushes not yet taken into it.
    pub(crate) fn load(&self) -> usize {
        self.vitals.load() + self.pushed.depth()
    }

    pub(crate) fn addr(&self) -> &Addr<ConnectionActor> {
        &self.addr
    }

    /// The endpoint.
    pub fn id(&self) -> &EndpointId {
        &self.id
    }

    /// The id its connection's events and monitor figures carry: its own,
    /// or, for an endpoint added with
    /// [`AddEndpoint::share`](crate::AddEndpoint::share), that of the
    /// endpoint whose connection it shares.
    pub fn connection(&self) -> &EndpointId {
        &self.connection
    }

    /// The endpoint's tags ([`EndpointBuilder::tag`](crate::EndpointBuilder::tag)).
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// The endpoint's state now, read without a mailbox hop (it may change
    /// the next moment; [`StatusChanged`](crate::StatusChanged) tells of
    /// every change).
    pub fn state(&self) -> ConnectionState {
        self.vitals.state()
    }

    /// Sends one payload.
    ///
    /// # Errors
    /// As [`SendPayload`](crate::SendPayload).
    pub async fn send(&self, payload: impl Into<Payload>) -> Result<Receipt> {
        self.send_with(payload, SendOptions::new()).await
    }

    /// Sends one payload with `options` (an acknowledgement id, session
    /// scope), as [`SendPayload`](crate::SendPayload) does.
    ///
    /// ```no_run
    /// # use actix_tether::*;
    /// # async fn run(feed: EndpointHandle) -> Result<()> {
    /// let receipt = feed
    ///     .send_with("order 42", SendOptions::new().ack_id("42"))
    ///     .await?;
    /// receipt.outcome().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`SendPayload`](crate::SendPayload).
    pub async fn send_with(
        &self,
        payload: impl Into<Payload>,
        options: SendOptions,
    ) -> Result<Receipt> {
        let write = Write {
            payload: payload.into(),
            options,
        };
        let _in_flight = self.vitals.sending();
        self.addr.send(write).await.map_err(Error::from)?
    }

    /// Queues one payload without a mailbox hop and without a receipt: the
    /// fast way to send many single messages from any thread.
    ///
    /// Pushes wait in a queue of `outbox_capacity` payloads that the
    /// connection moves into its outbox, in push order, whenever the outbox
    /// has room; while the endpoint reconnects they wait there. As with a
    /// send without an ack id, a payload written before a connection drops
    /// is not sent again. One the endpoint can no longer deliver (it failed,
    /// closed or was removed with the payload queued) is counted in
    /// [`pushes_lost`](Self::pushes_lost) and logged. Pushes keep their
    /// order among themselves; a push and a send made at the same moment
    /// may pass each other.
    ///
    /// ```no_run
    /// # use actix::Actor;
    /// # use actix_tether::*;
    /// # async fn run(supervisor: actix::Addr<SupervisorActor>) -> Result<()> {
    /// let feed = supervisor.send(GetEndpoint::new("feed")).await??;
    /// for i in 0..1000 {
    ///     // Waits while the endpoint's queue is full.
    ///     feed.push_wait(format!("tick {i}")).await?;
    /// }
    /// assert_eq!(feed.pushes_lost(), 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An [`Overflow`](crate::ErrorCategory::Overflow) error when the queue
    /// is full (or use [`push_wait`](Self::push_wait)); an
    /// [`Endpoint`](crate::ErrorCategory::Endpoint) error when the endpoint
    /// is closing, closed, failed or receive-only (SSE), or the payload is
    /// an SSE event or larger than `max_message_size`.
    pub fn push(&self, payload: impl Into<Payload>) -> Result<()> {
        let payload = payload.into();
        check_payload(&payload, self.max_message_size)?;
        self.pushed.try_push(payload).map_err(|(error, _)| error)
    }

    /// As [`push`](Self::push), but waits for room instead of failing when
    /// the queue is full.
    ///
    /// # Errors
    /// As [`push`](Self::push), except that a full queue is waited out.
    pub async fn push_wait(&self, payload: impl Into<Payload>) -> Result<()> {
        let payload = payload.into();
        check_payload(&payload, self.max_message_size)?;
        let mut slot = Some(payload);
        futures::future::poll_fn(|cx| self.pushed.poll_push(&mut slot, cx)).await
    }

    /// Pushed payloads that were accepted and then never written (the
    /// endpoint failed, closed or was removed with them queued), over the
    /// endpoint's life.
    pub fn pushes_lost(&self) -> u64 {
        self.pushed.lost()
    }

    /// Sends several payloads in order with one mailbox hop; each gets its
    /// own receipt or error, in [`Receipts`] (a run of messages written
    /// straight into the socket is kept as a count, not a receipt each).
    ///
    /// # Errors
    /// The endpoint's actor is gone (supervisor stopped).
    pub async fn send_many(&self, payloads: Vec<Payload>) -> Result<Receipts> {
        self.addr
            .send(WriteMany(payloads))
            .await
            .map_err(Error::from)
    }
}

#[derive(Debug, Message)]
#[rtype(result = "Receipts")]
pub(crate) struct WriteMany(pub(crate) Vec<Payload>);

impl Handler<WriteMany> for ConnectionActor {
    type Result = MessageResult<WriteMany>;

    fn handle(&mut self, WriteMany(payloads): WriteMany, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.accept_many(payloads))
    }
}
