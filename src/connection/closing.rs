//! Ending connections: a close the peer starts, a close we start, and the
//! end of the socket.

use actix::{ActorContext, AsyncContext, Context};

use super::{ConnectionActor, Ending, Next};
use crate::{
    close::{close_category, NO_STATUS},
    ConnectionState, Error, ErrorCategory,
};

impl ConnectionActor {
    /// The peer sent a close frame.
    pub(super) fn peer_closed(
        &mut self,
        code: Option<u16>,
        description: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        match self.link.as_ref().map(|link| &link.ending) {
            None | Some(Some(Ending::ByPeer(_))) => return,
            Some(Some(Ending::ByUs { .. })) => return self.finish_close(None, ctx),
            Some(None) => {}
        }
        let code = code.unwrap_or(NO_STATUS);
        let detail = match description.filter(|d| !d.is_empty()) {
            Some(d) if code != NO_STATUS => format!("peer closed with code {code}: {d}"),
            _ if code != NO_STATUS => format!("peer closed with code {code}"),
            _ => "peer closed without a code".to_owned(),
        };
        let error = Error::new(close_category(code), detail).with_close_code(Some(code));
        let Some(link) = self.link.as_mut() else {
            return;
        };
        // Echo the close (RFC 6455 §5.5.1), flush it, then act.
        link.writer
            .echo_close(if code == NO_STATUS { 1000 } else { code });
        link.ending = Some(Ending::ByPeer(error));
        ctx.run_later(self.config.close_timeout, Self::socket_finished);
    }

    /// The socket is done (read side ended, or our close echo was flushed).
    pub(super) fn socket_finished(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.ending.take() {
            Some(Ending::ByUs { .. }) => self.finish_close(None, ctx),
            Some(Ending::ByPeer(loss)) => self.connection_lost(loss, ctx),
            None => {
                let error = if link.writer.has_close_handshake() {
                    Error::network("connection closed without a close frame")
                        .with_close_code(Some(1006))
                } else {
                    Error::new(ErrorCategory::ClosedByPeer, "event stream ended")
                };
                self.connection_lost(error, ctx);
            }
        }
    }

    /// Starts a close we own: flush the outbox, send close 1000, then wait up
    /// to `close_timeout` for the peer's close. `why` is what messages still
    /// queued at the end are told.
    pub(super) fn begin_close(&mut self, why: Error, ctx: &mut Context<Self>) {
        self.closing_error.get_or_insert(why);
        match self.state {
            ConnectionState::Closed => self.notify_closed(),
            ConnectionState::Closing => {}
            ConnectionState::Connected | ConnectionState::Authenticated => {
                self.transition(ConnectionState::Closing, None, None);
                let Some(link) = self
                    .link
                    .as_mut()
                    .filter(|l| l.writer.has_close_handshake())
                else {
                    // Receive-only transports have no close handshake.
                    return self.finish_close(None, ctx);
                };
                // The writer sends the close frame once the outbox is out.
                link.ending = Some(Ending::ByUs { close_sent: false });
                self.wake_writer();
                ctx.run_later(self.config.close_timeout, |act, ctx| {
                    if act.state == ConnectionState::Closing {
                        act.span.in_scope(|| {
                            tracing::warn!("close handshake timed out; dropping the connection")
                        });
                        act.finish_close(None, ctx);
                    }
                });
            }
            _ => self.finish_close(None, ctx),
        }
    }

    /// Enters Closed for good (a close we own, or a server's stop request)
    /// and reports every message that did not make it.
    pub(super) fn finish_close(&mut self, reason: Option<Error>, ctx: &mut Context<Self>) {
        let undelivered = self
            .closing_error
            .clone()
            .or_else(|| reason.clone())
            .unwrap_or_else(|| Error::endpoint("endpoint closed"));
        self.sender.fail_all(&undelivered);
        if self.state != ConnectionState::Closed {
            self.transition(ConnectionState::Closed, reason, None);
        }
        self.next = Next::Terminated;
        self.notify_closed();
        ctx.stop();
    }

    pub(super) fn notify_closed(&mut self) {
        for waiter in self.close_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }
}
