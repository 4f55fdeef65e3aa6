//! Inbound messages: authentication verdicts, acknowledgements and
//! application heartbeat replies are consumed; everything else is delivered
//! to subscribers in order.

use std::{sync::Arc, time::Instant};

use actix::Context;

use super::ConnectionActor;
use crate::{
    delivery::{AuthReply, Delivered},
    Error, ErrorCategory, MessageReceived, MessagesReceived, Payload,
};

impl ConnectionActor {
    /// Delivers a batch of inbound payloads, in order (hot path: once per
    /// burst of frames).
    pub(super) fn deliver(
        &mut self,
        mut payloads: Vec<Payload>,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        let verdict = self.take_auth_verdict(&mut payloads);
        if self.config.ack.is_some() {
            self.take_acks(&mut payloads);
        }
        if let (Some(app), Some(link)) = (&self.config.heartbeat.application, self.link.as_mut()) {
            let before = payloads.len();
            payloads.retain(|p| !(app.is_reply)(p));
            for _ in payloads.len()..before {
                if let Some(rtt) = link.liveness.on_application_reply(now) {
                    self.samples.heartbeats_acked += 1;
                    self.samples.rtts.push(rtt);
                }
            }
        }
        self.publish(payloads);
        match verdict {
            Some(AuthReply::Accepted) => self.session_started(ctx),
            Some(AuthReply::Rejected(reason)) => {
                let error = Error::new(
                    ErrorCategory::Auth,
                    format!("authentication rejected: {reason}"),
                );
                self.connection_lost(error, ctx);
            }
            Some(AuthReply::NotMine) | None => {}
        }
    }

    fn publish(&mut self, payloads: Vec<Payload>) {
        if payloads.is_empty() {
            return;
        }
        self.samples.messages_in += payloads.len() as u64;
        self.samples.bytes_in += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        if !self.message_subs.is_empty() {
            let (endpoint, generation) = (&self.id, self.generation);
            let message = |payload| MessageReceived {
                endpoint: endpoint.clone(),
                generation,
                payload,
            };
            if self.batch_subs.is_empty() {
                // Nobody else needs the payloads: move them.
                self.message_subs
                    .deliver_all(payloads.into_iter().map(message));
                return;
            }
            self.message_subs
                .deliver_all(payloads.iter().cloned().map(message));
        }
        if !self.batch_subs.is_empty() {
            self.batch_subs.deliver(MessagesReceived {
                endpoint: self.id.clone(),
                generation: self.generation,
                payloads: Arc::new(payloads),
            });
        }
    }

    /// While authenticating: removes and returns the first verdict.
    fn take_auth_verdict(&mut self, payloads: &mut Vec<Payload>) -> Option<AuthReply> {
        let auth = self.config.auth.as_ref()?;
        if self.link.as_ref().is_none_or(|l| l.session_ready) {
            return None;
        }
        payloads
            .iter()
            .enumerate()
            .find_map(|(i, p)| match (auth.check_reply)(p) {
                AuthReply::NotMine => None,
                verdict => Some((i, verdict)),
            })
            .map(|(i, verdict)| {
                payloads.remove(i);
                verdict
            })
    }

    /// Completes acknowledged messages and consumes their acks.
    fn take_acks(&mut self, payloads: &mut Vec<Payload>) {
        let Some(ack) = &self.config.ack else { return };
        let generation = self.generation;
        let in_flight = &mut self.in_flight;
        payloads.retain(|p| {
            let Some(id) = (ack.matcher)(p) else {
                return true;
            };
            if let Some(pos) = in_flight
                .iter()
                .position(|(m, _)| m.ack_id.as_deref() == Some(id.as_str()))
            {
                if let Some((msg, _)) = in_flight.remove(pos) {
                    msg.finish(Ok(Delivered::Acknowledged { generation }));
                }
            }
            false
        });
    }
}
