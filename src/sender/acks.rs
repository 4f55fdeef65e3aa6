//! Acknowledged mode's waiting room: messages written with an ack id,
//! oldest first, each with when it was written, until the server's ack
//! completes it or its timeout fails it.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use crate::{
    delivery::{AckConfig, Delivered},
    duration::deadline_after,
    outbox::Outgoing,
    Error, Payload,
};

/// Written messages waiting for their acknowledgement.
#[derive(Debug)]
pub(super) struct Acks {
    config: AckConfig,
    /// Oldest first, with when each was written.
    waiting: VecDeque<(Outgoing, Instant)>,
}

impl Acks {
    pub(super) fn new(config: AckConfig) -> Self {
        Self {
            config,
            waiting: VecDeque::new(),
        }
    }

    /// Waits for `msg`'s ack from `written` on.
    pub(super) fn track(&mut self, msg: Outgoing, written: Instant) {
        self.waiting.push_back((msg, written));
    }

    /// Consumes the acknowledgements among inbound `payloads`, completing
    /// their messages on connection `generation`.
    pub(super) fn take(&mut self, payloads: &mut Vec<Payload>, generation: u64) {
        let waiting = &mut self.waiting;
        let matcher = &self.config.matcher;
        payloads.retain(|p| {
            let Some(id) = matcher(p) else {
                return true;
            };
            if let Some(pos) = waiting
                .iter()
                .position(|(m, _)| m.ack_id.as_deref() == Some(id.as_str()))
            {
                if let Some((msg, _)) = waiting.remove(pos) {
                    msg.finish(Ok(Delivered::Acknowledged { generation }));
                }
            }
            false
        });
    }

    /// When the oldest waiting message times out.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let (_, written) = self.waiting.front()?;
        Some(deadline_after(*written, self.config.timeout))
    }

    /// Moves every deadline `by` later: the time reading was paused, when
    /// acknowledgements could not be read.
    pub(super) fn postpone(&mut self, by: Duration) {
        for (_, written) in &mut self.waiting {
            *written = deadline_after(*written, by);
        }
    }

    /// Fails the messages whose acknowledgement is overdue at `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        while let Some((_, written)) = self.waiting.front() {
            if deadline_after(*written, timeout) > now {
                break;
            }
            let (msg, _) = self.waiting.pop_front().expect("checked non-empty");
            msg.finish(Err(not_acknowledged(timeout)));
        }
    }

    /// Takes every waiting message, oldest first.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Outgoing> + '_ {
        self.waiting.drain(..).map(|(msg, _)| msg)
    }

    /// How many wait.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }
}

fn not_acknowledged(timeout: Duration) -> Error {
    Error::timeout(format!("not acknowledged within {timeout:?}")).with_recoverable(false)
}
