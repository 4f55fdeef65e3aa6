//! Sending through the supervisor, and the direct handle that skips it.

use actix::{
    dev::{MessageResponse, OneshotSender},
    Addr, Context, Handler, MailboxError, Message,
};

use super::SupervisorActor;
use crate::{
    connection::{ConnectionActor, Write, WriteFor},
    EndpointHandle, EndpointId, Error, Payload, Receipt, Result, SendOptions,
};

/// Sends a payload to an endpoint.
///
/// The reply is a [`Receipt`]: written to the live socket, or queued in the
/// endpoint's bounded outbox while it (re)connects or authenticates; its
/// [`outcome`](Receipt::outcome) settles once the message is written,
/// acknowledged or reported back as an error. See [`delivery`](crate::delivery)
/// for what the library promises.
///
/// # Errors
/// The endpoint is unknown, closed or Failed; the outbox is full (with the
/// reject policy); the payload is larger than `max_message_size`; a
/// session-scoped message finds no live connection; SSE endpoints are
/// receive-only.
///
/// ```no_run
/// # use actix::Addr;
/// # use actix_tether::{Accepted, Payload, SendPayload, SupervisorActor};
/// # async fn send(supervisor: Addr<SupervisorActor>) -> Result<(), Box<dyn std::error::Error>> {
/// let receipt = supervisor
///     .send(SendPayload::new("orders", Payload::text(r#"{"op":"buy"}"#)).ack_id("42"))
///     .await??;
/// if let Accepted::Queued { position } = receipt.accepted() {
///     println!("queued behind {position} messages");
/// }
/// let delivered = receipt.outcome().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Message)]
#[rtype(result = "Result<Receipt>")]
#[non_exhaustive]
pub struct SendPayload {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// What to send.
    pub payload: Payload,
    /// How: an acknowledgement id, session scope. Default: neither.
    pub options: SendOptions,
}

impl SendPayload {
    /// A send of `payload` to `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>, payload: impl Into<Payload>) -> Self {
        Self {
            endpoint: endpoint.into(),
            payload: payload.into(),
            options: SendOptions::new(),
        }
    }

    /// Marks the message session-scoped (see [`SendOptions::session_scoped`]).
    pub fn session_scoped(mut self) -> Self {
        self.options = self.options.session_scoped();
        self
    }

    /// Tracks the message until the server acknowledges `id` (needs the
    /// endpoint's acknowledged mode).
    pub fn ack_id(mut self, id: impl AsRef<str>) -> Self {
        self.options = self.options.ack_id(id);
        self
    }

    /// Sends with `options`, replacing any set before.
    pub fn options(mut self, options: SendOptions) -> Self {
        self.options = options;
        self
    }
}

impl Handler<SendPayload> for SupervisorActor {
    type Result = Forwarded;

    fn handle(&mut self, msg: SendPayload, _: &mut Context<Self>) -> Self::Result {
        let write = Write {
            payload: msg.payload,
            options: msg.options,
        };
        Forwarded(self.endpoint(&msg.endpoint).map(|addr| (addr, write)))
    }
}

/// The supervisor's answer to [`SendPayload`]: the message goes on to the
/// endpoint's connection actor with the sender's reply channel, so the
/// connection answers the sender itself (no task, no second reply channel).
#[derive(Debug)]
pub struct Forwarded(Result<(Addr<ConnectionActor>, Write)>);

impl MessageResponse<SupervisorActor, SendPayload> for Forwarded {
    fn handle(
        self,
        _: &mut Context<SupervisorActor>,
        reply: Option<OneshotSender<Result<Receipt>>>,
    ) {
        match self.0 {
            Err(error) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error));
                }
            }
            // Not bounded by the mailbox capacity, as the sender's own send
            // already waited for room in the supervisor's.
            Ok((addr, write)) if addr.connected() => addr.do_send(WriteFor { write, reply }),
            Ok(_) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(Error::from(MailboxError::Closed)));
                }
            }
        }
    }
}

/// Returns a direct [`EndpointHandle`] for sending without the supervisor hop.
///
/// # Errors
/// The endpoint is unknown.
#[derive(Debug, Message)]
#[rtype(result = "Result<EndpointHandle>")]
pub struct GetEndpoint {
    /// The endpoint.
    pub endpoint: EndpointId,
}

impl GetEndpoint {
    /// Asks for `endpoint`'s handle.
    pub fn new(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }
}

impl Handler<GetEndpoint> for SupervisorActor {
    type Result = Result<EndpointHandle>;

    fn handle(&mut self, msg: GetEndpoint, _: &mut Context<Self>) -> Self::Result {
        self.handle_of(&msg.endpoint).cloned()
    }
}
