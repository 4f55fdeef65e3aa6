//! A direct handle on one endpoint, for senders that need throughput.

use actix::{Addr, Context, Handler, Message, MessageResult};

use super::{handlers::Write, ConnectionActor};
use crate::{EndpointId, Error, Payload, Receipt, Result};

/// Sends to one endpoint without going through the supervisor: one mailbox
/// hop per [`send`](Self::send), one per [`send_batch`](Self::send_batch).
/// Same receipts and promises as [`SendPayload`](crate::SendPayload).
///
/// Get one with [`GetEndpoint`](crate::GetEndpoint). A handle keeps the
/// connection actor's mailbox open: after the endpoint is removed, sends
/// through it fail with "endpoint is closed".
#[derive(Debug, Clone)]
pub struct EndpointHandle {
    id: EndpointId,
    addr: Addr<ConnectionActor>,
}

impl EndpointHandle {
    pub(crate) fn new(id: EndpointId, addr: Addr<ConnectionActor>) -> Self {
        Self { id, addr }
    }

    /// The endpoint.
    pub fn id(&self) -> &EndpointId {
        &self.id
    }

    /// Sends one payload.
    ///
    /// # Errors
    /// As [`SendPayload`](crate::SendPayload).
    pub async fn send(&self, payload: impl Into<Payload>) -> Result<Receipt> {
        let write = Write {
            payload: payload.into(),
            session_scoped: false,
            ack_id: None,
        };
        self.addr.send(write).await.map_err(Error::from)?
    }

    /// Sends several payloads in order with one mailbox hop; each gets its
    /// own receipt or error.
    ///
    /// # Errors
    /// The endpoint's actor is gone (supervisor stopped).
    pub async fn send_batch(&self, payloads: Vec<Payload>) -> Result<Vec<Result<Receipt>>> {
        self.addr
            .send(WriteBatch(payloads))
            .await
            .map_err(Error::from)
    }
}

#[derive(Debug, Message)]
#[rtype(result = "Vec<Result<Receipt>>")]
pub(crate) struct WriteBatch(pub(crate) Vec<Payload>);

impl Handler<WriteBatch> for ConnectionActor {
    type Result = MessageResult<WriteBatch>;

    fn handle(
        &mut self,
        WriteBatch(payloads): WriteBatch,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let receipts = payloads
            .into_iter()
            .map(|payload| {
                let write = Write {
                    payload,
                    session_scoped: false,
                    ack_id: None,
                };
                self.accept(write, ctx)
            })
            .collect();
        MessageResult(receipts)
    }
}
