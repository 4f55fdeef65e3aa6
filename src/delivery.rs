//! What happens to a message you send: the receipt, the final outcome, and
//! the optional delivery features (acknowledgements, authentication,
//! batching).
//!
//! # Promise
//! Every message the library accepts ends in exactly one outcome, reported to
//! its sender through the [`Receipt`]: written to a live socket
//! ([`Delivered::Written`]), acknowledged by the server
//! ([`Delivered::Acknowledged`], acknowledged mode only), or an [`Error`].
//! Payloads pushed with [`EndpointHandle::push`](crate::EndpointHandle::push)
//! have no receipt: they are written, or counted in
//! [`EndpointHandle::pushes_lost`](crate::EndpointHandle::pushes_lost) and
//! logged.
//!
//! # What "written" does not promise
//! A message written to a socket whose connection then dies may or may not
//! have reached the server: TCP gives no end-to-end confirmation. The
//! outcome carries the connection `generation`, so an application can tell
//! which messages went out on a connection that later dropped. Where that
//! matters, use acknowledged mode: the server's ack (recognised by your
//! matcher) completes the message, and messages written but not acknowledged
//! when a connection drops are written again on the next one (at least once).

use std::{fmt, sync::Arc, time::Duration};

use futures::channel::oneshot;

use crate::{Error, ErrorCategory, Payload, Result};

/// How one message is sent: shared by every way of sending
/// ([`SendPayload`](crate::SendPayload),
/// [`EndpointHandle::send_with`](crate::EndpointHandle::send_with)).
///
/// ```
/// use actix_tether::SendOptions;
/// let options = SendOptions::new().ack_id("42").session_scoped();
/// assert_eq!(options.acknowledged_as(), Some("42"));
/// assert!(options.is_session_scoped());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    ack_id: Option<Arc<str>>,
    session_scoped: bool,
}

impl SendOptions {
    /// A plain send: kept across reconnects, settled once written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks the message until the server acknowledges `id` (needs the
    /// endpoint's acknowledged mode; without it the id is ignored).
    pub fn ack_id(mut self, id: impl AsRef<str>) -> Self {
        self.ack_id = Some(Arc::from(id.as_ref()));
        self
    }

    /// Never carries the message into a new connection: it fails unless
    /// written (and, in acknowledged mode, acknowledged) on the current one,
    /// and is refused when no connection is up.
    pub fn session_scoped(mut self) -> Self {
        self.session_scoped = true;
        self
    }

    /// The id the server's acknowledgement will carry, if any.
    pub fn acknowledged_as(&self) -> Option<&str> {
        self.ack_id.as_deref()
    }

    /// Whether the message is session-scoped.
    pub fn is_session_scoped(&self) -> bool {
        self.session_scoped
    }

    pub(crate) fn into_parts(self) -> (Option<Arc<str>>, bool) {
        (self.ack_id, self.session_scoped)
    }
}

/// How a send was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Handed to the live socket of connection `generation`.
    Written {
        /// The connection that took it.
        generation: u64,
    },
    /// Waiting in the endpoint's outbox at `position` (0 = next).
    Queued {
        /// Messages ahead of it.
        position: usize,
    },
}

/// A message's final, successful outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Handed to the live socket of connection `generation` (see the module
    /// docs for what that does not promise).
    Written {
        /// The connection that took it.
        generation: u64,
    },
    /// The server acknowledged it on connection `generation`.
    Acknowledged {
        /// The connection that carried the acknowledgement.
        generation: u64,
    },
}

pub(crate) type OutcomeSender = oneshot::Sender<Result<Delivered>>;
pub(crate) type OutcomeReceiver = oneshot::Receiver<Result<Delivered>>;

/// The reply to [`SendPayload`](crate::SendPayload): how the message was
/// taken in, and a handle on its final outcome.
#[derive(Debug)]
pub struct Receipt {
    accepted: Accepted,
    outcome: Option<OutcomeReceiver>,
}

impl Receipt {
    pub(crate) fn channel() -> (OutcomeSender, OutcomeReceiver) {
        oneshot::channel()
    }

    /// A written message without a channel is already complete.
    pub(crate) fn new(accepted: Accepted, outcome: Option<OutcomeReceiver>) -> Self {
        Self { accepted, outcome }
    }

    /// The connection it was written into, when that is all there is to
    /// it (no channel to wait on).
    pub(crate) fn complete_write(&self) -> Option<u64> {
        match (&self.outcome, self.accepted) {
            (None, Accepted::Written { generation }) => Some(generation),
            _ => None,
        }
    }

    /// How the message was taken in.
    pub fn accepted(&self) -> Accepted {
        self.accepted
    }

    /// Waits for the final outcome.
    ///
    /// # Errors
    /// The error that ended the message: outbox overflow (drop-oldest), the
    /// endpoint failing, removal or shutdown, a lost connection for a
    /// session-scoped message, or an acknowledgement timeout.
    pub async fn outcome(self) -> Result<Delivered> {
        match (self.outcome, self.accepted) {
            (None, Accepted::Written { generation }) => Ok(Delivered::Written { generation }),
            (None, Accepted::Queued { .. }) => unreachable!("queued receipts carry a channel"),
            (Some(rx), _) => rx
                .await
                .unwrap_or_else(|_| Err(Error::shutdown().with_recoverable(false))),
        }
    }
}

/// What a full outbox does with one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowPolicy {
    /// Refuse the new message with an overflow error (default).
    #[default]
    Reject,
    /// Queue the new message and drop the oldest, reporting an overflow error
    /// to the oldest's sender.
    DropOldest,
}

/// Reads the acknowledged id out of a server message (`None`: not an ack).
pub type AckMatcher = Arc<dyn Fn(&Payload) -> Option<String> + Send + Sync>;

/// Builds one frame from several queued messages, oldest first.
pub type CoalesceEncoder = Arc<dyn Fn(&[Payload]) -> Payload + Send + Sync>;

/// Acknowledged mode: `matcher` reads the id out of a server's ack (`None`
/// for other messages); a message sent with an ack id completes when its ack
/// arrives, or fails after `timeout`. Acks are consumed, not delivered.
#[derive(Clone)]
pub struct AckConfig {
    /// Returns the acknowledged id when `payload` is an ack.
    pub matcher: AckMatcher,
    /// How long a written message may wait for its ack.
    pub timeout: Duration,
}

impl fmt::Debug for AckConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckConfig")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A server's answer to the authentication message, as judged by your checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    /// Authenticated: the endpoint moves to Authenticated and the outbox flushes.
    Accepted,
    /// Refused, with the server's reason.
    Rejected(String),
    /// Not a reply to the authentication message: delivered as usual.
    NotMine,
}

/// An authentication handshake run after every (re)connect.
#[derive(Clone)]
pub struct AuthConfig {
    /// Builds the authentication message; called on every attempt, so it can
    /// carry a fresh token.
    pub make_request: Arc<dyn Fn() -> Payload + Send + Sync>,
    /// Judges inbound messages until one is `Accepted` or `Rejected`.
    pub check_reply: Arc<dyn Fn(&Payload) -> AuthReply + Send + Sync>,
    /// How long to wait for the verdict.
    pub timeout: Duration,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Coalesces queued messages into one frame: at most `max_messages` messages,
/// waiting at most `max_delay` for more, encoded by `encoder` (for example a
/// JSON envelope `{"type":"batch","messages":[...]}`).
#[derive(Clone)]
pub struct CoalesceConfig {
    /// Builds one frame from several messages, oldest first.
    pub encoder: CoalesceEncoder,
    /// Most messages in one frame.
    pub max_messages: usize,
    /// Longest a message waits for others to join its frame.
    pub max_delay: Duration,
}

impl fmt::Debug for CoalesceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoalesceConfig")
            .field("max_messages", &self.max_messages)
            .field("max_delay", &self.max_delay)
            .finish_non_exhaustive()
    }
}

pub(crate) fn overflow(capacity: usize) -> Error {
    Error::new(
        ErrorCategory::Overflow,
        format!("outbox full ({capacity} messages)"),
    )
}
