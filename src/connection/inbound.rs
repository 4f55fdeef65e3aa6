//! Inbound messages: authentication verdicts, acknowledgements and
//! application heartbeat replies are consumed; everything else is delivered
//! to subscribers in order.

use std::{sync::Arc, time::Instant};

use actix::Context;

use super::ConnectionActor;
use crate::{
    delivery::AuthReply, Error, ErrorCategory, MessageReceived, MessagesReceived, Payload,
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
        self.sender.take_acks(&mut payloads, self.generation);
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
}
