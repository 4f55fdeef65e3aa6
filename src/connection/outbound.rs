//! Outbound messages: accepting sends, the outbox across reconnects, the
//! start of a session (authentication, on-connect messages) and
//! acknowledgement timeouts.

use std::{sync::Arc, time::Instant};

use actix::{AsyncContext, Context};

use super::{
    handlers::Write,
    transport::Writer,
    writer::{count_written, data_frame, encode_error, mark_written},
    ConnectionActor, Link,
};
use crate::{
    delivery::{overflow, Accepted, Receipt},
    outbox::{Outgoing, Pushed, Report},
    ConnectionState, Error, ErrorCategory, Payload, Result, TransportKind,
};

impl ConnectionActor {
    /// Takes a send in: written now if the live socket has room and nothing
    /// waits ahead of it, else queued (or refused).
    pub(super) fn accept(&mut self, msg: Write, ctx: &mut Context<Self>) -> Result<Receipt> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        check_payload(&msg.payload, self.config.max_message_size)?;
        let live = self
            .link
            .as_ref()
            .is_some_and(|l| l.session_ready && l.ending.is_none());
        if msg.session_scoped && !live {
            return Err(Error::endpoint(format!(
                "a session-scoped message needs a live connection (state {})",
                self.state
            )));
        }
        if live && self.outbox.is_empty() && self.config.batch.is_none() {
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
        let (report, outcome) = Receipt::channel();
        let outgoing = Outgoing {
            payload: msg.payload,
            ack_id: msg.ack_id.map(Arc::from),
            session_scoped: msg.session_scoped,
            report: Report::Receipt(report),
            queued_at: Instant::now(),
        };
        let position = match self.outbox.push(outgoing) {
            Pushed::Queued { position } => position,
            Pushed::DroppedOldest { position, dropped } => {
                dropped.finish(Err(overflow(self.outbox.capacity())));
                position
            }
            Pushed::Rejected => return Err(overflow(self.outbox.capacity())),
        };
        self.wake_writer();
        Ok(Receipt::new(Accepted::Queued { position }, Some(outcome)))
    }

    /// Why this endpoint takes no sends or pushes now, if it does not.
    pub(super) fn refusal(&self) -> Option<Error> {
        use ConnectionState::*;
        if self.config.kind == TransportKind::Sse {
            return Some(receive_only());
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
        let accepted = Accepted::Written {
            generation: self.generation,
        };
        let acked = self.config.ack.is_some() && msg.ack_id.is_some();
        let len = msg.payload.len();
        let kept = acked.then(|| msg.payload.clone());
        w.write_ready(data_frame(msg.payload))
            .map_err(|err| encode_error(&err))?;
        let Some(payload) = kept else {
            count_written(&mut self.samples, len);
            return Ok(Receipt::new(accepted, None));
        };
        let (report, outcome) = Receipt::channel();
        let now = Instant::now();
        let outgoing = Outgoing {
            payload,
            ack_id: msg.ack_id.map(Arc::from),
            session_scoped: msg.session_scoped,
            report: Report::Receipt(report),
            queued_at: now,
        };
        mark_written(
            outgoing,
            self.generation,
            true,
            &mut self.in_flight,
            &mut self.samples,
            now,
        );
        self.arm_ack_timer(ctx);
        Ok(Receipt::new(accepted, Some(outcome)))
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
    pub(super) fn session_started(&mut self, _: &mut Context<Self>) {
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
    }

    /// Schedules the next acknowledgement deadline check, if one is due.
    pub(super) fn arm_ack_timer(&mut self, ctx: &mut Context<Self>) {
        let (Some(ack), Some((_, sent))) = (&self.config.ack, self.in_flight.front()) else {
            return;
        };
        if self.ack_timer_armed {
            return;
        }
        self.ack_timer_armed = true;
        let wait = (*sent + ack.timeout).saturating_duration_since(Instant::now());
        ctx.run_later(wait, |act, ctx| {
            act.ack_timer_armed = false;
            act.expire_acks(ctx);
        });
    }

    fn expire_acks(&mut self, ctx: &mut Context<Self>) {
        let Some(ack) = &self.config.ack else { return };
        let now = Instant::now();
        while let Some((_, sent)) = self.in_flight.front() {
            if *sent + ack.timeout > now {
                break;
            }
            let (msg, _) = self.in_flight.pop_front().expect("checked non-empty");
            msg.finish(Err(Error::timeout(format!(
                "not acknowledged within {:?}",
                ack.timeout
            ))
            .with_recoverable(false)));
        }
        self.arm_ack_timer(ctx);
    }

    /// A connection ended: unacknowledged messages go back to the front of
    /// the outbox (at least once), session-scoped ones fail, and when the
    /// endpoint is giving up everything else fails too.
    pub(super) fn messages_on_loss(&mut self, error: &Error, failing: bool) {
        let lost = Error::new(
            error.category(),
            format!("connection lost before delivery: {}", error.message()),
        )
        .with_recoverable(false);
        let (session, resend): (Vec<_>, Vec<_>) = self
            .in_flight
            .drain(..)
            .map(|(msg, _)| msg)
            .partition(|msg| msg.session_scoped);
        for msg in session {
            msg.finish(Err(lost.clone()));
        }
        self.outbox.requeue_front(resend.into_iter());
        self.outbox.fail_session_scoped(&lost);
        if failing {
            let failed = Error::new(
                error.category(),
                format!("endpoint failed: {}", error.message()),
            )
            .with_recoverable(false);
            self.outbox.fail_all(&failed);
        }
    }

    /// Reports every queued and unacknowledged message with `error`.
    pub(super) fn fail_all_messages(&mut self, error: &Error) {
        for (msg, _) in self.in_flight.drain(..) {
            msg.finish(Err(error.clone()));
        }
        self.outbox.fail_all(error);
    }
}

/// What a send or push to an SSE endpoint is told.
pub(crate) fn receive_only() -> Error {
    Error::endpoint("sse endpoints are receive-only")
}

/// Refuses what no WebSocket endpoint can send: SSE events and payloads
/// over `max_message_size`.
pub(crate) fn check_payload(payload: &Payload, max_message_size: usize) -> Result<()> {
    if matches!(payload, Payload::Event(_)) {
        return Err(Error::endpoint(
            "an sse event cannot be sent over a websocket",
        ));
    }
    if payload.len() > max_message_size {
        return Err(Error::endpoint(format!(
            "payload of {} bytes is larger than max_message_size ({max_message_size})",
            payload.len()
        )));
    }
    Ok(())
}
