//! Outbound messages: accepting sends into the endpoint's [`Sender`], the
//! start of a session (authentication, on-connect messages) and the
//! sender's deadline (acknowledgement timeouts, a filling batch).
//!
//! [`Sender`]: crate::sender::Sender

use std::time::Instant;

use actix::{AsyncContext, Context};

use super::{
    handlers::Write,
    transport::Writer,
    writer::{data_frame, encode_error},
    ConnectionActor, Link,
};
use crate::{delivery::Receipt, ConnectionState, Error, ErrorCategory, Result};

impl ConnectionActor {
    /// Takes a send in: written now if the live socket has room and nothing
    /// waits ahead of it, else queued (or refused).
    pub(super) fn accept(&mut self, msg: Write, ctx: &mut Context<Self>) -> Result<Receipt> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        let live = self.link.as_ref().is_some_and(Link::takes_data);
        self.sender.admit(&msg.payload, &msg.options, live)?;
        if self.sender.writes_straight(live) {
            if let Some(Link {
                writer: Writer::WebSocket(w),
                ..
            }) = self.link.as_mut()
            {
                // A socket error is the driver's to meet (it ends the
                // connection); the message waits in the outbox meanwhile.
                if let Ok(true) = w.ready_now() {
                    return self.write_now(msg, ctx);
                }
            }
        }
        let receipt = self
            .sender
            .queue(msg.payload, msg.options, Instant::now())?;
        self.wake_writer();
        self.arm_deadline(ctx);
        Ok(receipt)
    }

    /// Why this endpoint takes no sends or pushes now, if it does not.
    pub(super) fn refusal(&self) -> Option<Error> {
        use ConnectionState::*;
        if !self.config.kind.can_send() {
            return Some(crate::sender::receive_only());
        }
        match self.state {
            Closing | Closed => Some(Error::endpoint("endpoint is closed")),
            Failed => Some(Error::endpoint(
                "endpoint has failed; a forced reconnect revives it",
            )),
            Disconnected | Connecting | Connected | Authenticated | Reconnecting => None,
        }
    }

    /// Writes a send straight into the socket buffer, which has room. The
    /// payload is copied (a reference count) and the clock read only when
    /// the message waits for an acknowledgement.
    fn write_now(&mut self, msg: Write, ctx: &mut Context<Self>) -> Result<Receipt> {
        let Some(Link {
            writer: Writer::WebSocket(w),
            ..
        }) = self.link.as_mut()
        else {
            unreachable!("write_now follows ready_now on a websocket writer");
        };
        let kept = self.sender.keeps(&msg.options).then(|| msg.payload.clone());
        let len = msg.payload.len();
        w.write_ready(data_frame(msg.payload))
            .map_err(|err| encode_error(&err))?;
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
            self.arm_deadline(ctx);
        }
        Ok(receipt)
    }

    /// The transport is up: authenticate first if configured, else start.
    pub(super) fn begin_session(&mut self, ctx: &mut Context<Self>) {
        let Some(auth) = self.config.auth.clone() else {
            return self.session_started(ctx);
        };
        if let Some(link) = self.link.as_mut() {
            link.writer.send_control((auth.make_request)());
        }
        ctx.run_later(auth.timeout, move |act, ctx| {
            if act
                .link
                .as_ref()
                .is_some_and(|l| !l.session_ready && l.ending.is_none())
            {
                let error = Error::new(
                    ErrorCategory::Auth,
                    format!("authentication timed out after {:?}", auth.timeout),
                );
                act.connection_lost(error, ctx);
            }
        });
    }

    /// Authenticated (or no authentication): on-connect messages, then the outbox.
    pub(super) fn session_started(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_mut().filter(|l| !l.session_ready) else {
            return;
        };
        link.session_ready = true;
        for payload in &self.config.on_connect {
            link.writer.send_control(payload.clone());
        }
        if self.config.auth.is_some() {
            self.transition(ConnectionState::Authenticated, None, None);
        }
        self.wake_writer();
        self.arm_deadline(ctx);
    }

    /// Keeps one timer at the sender's next deadline (an acknowledgement
    /// timeout, a filling batch), replacing a later one.
    pub(super) fn arm_deadline(&mut self, ctx: &mut Context<Self>) {
        let writing = self.link.as_ref().is_some_and(Link::writes_data);
        let Some(due) = self.sender.next_deadline(writing) else {
            return;
        };
        if let Some((at, handle)) = self.deadline {
            if at <= due {
                return;
            }
            ctx.cancel_future(handle);
        }
        let wait = due.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.deadline = None;
            act.sender.expire(Instant::now());
            act.wake_writer();
            act.arm_deadline(ctx);
        });
        self.deadline = Some((due, handle));
    }
}
