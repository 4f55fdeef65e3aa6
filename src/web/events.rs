//! The event hub behind `/events`: one status subscription and one
//! snapshot per period, fanned out to every client's bounded buffer.

use std::time::Duration;

use actix::{
    fut::wrap_future, Actor, ActorFutureExt, AsyncContext, Context, Handler, Message,
    WrapFuture as _,
};
use bytes::Bytes;
use futures::channel::mpsc::Sender;

use super::json;
use crate::{ops::Snapshot, StatusChanged, Subscribe, SupervisorActor};

/// One SSE frame: `event: NAME` and one `data:` line of JSON.
pub(super) fn frame(event: &str, data: &serde_json::Value) -> Bytes {
    // serde_json writes no raw newline, so the data is one line.
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Adds a client's buffer to the hub.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct Join(pub(super) Sender<Bytes>);

/// Fans status changes and periodic reports out to `/events` clients.
#[derive(Debug)]
pub(super) struct EventHub {
    supervisor: actix::Addr<SupervisorActor>,
    every: Duration,
    clients: Vec<Sender<Bytes>>,
    /// A snapshot is being taken: skip a tick rather than pile them up.
    taking: bool,
}

impl EventHub {
    pub(super) fn new(supervisor: actix::Addr<SupervisorActor>, every: Duration) -> Self {
        Self {
            supervisor,
            every,
            clients: Vec::new(),
            taking: false,
        }
    }

    /// Sends `frame` to every client; drops those whose buffer is full
    /// (too slow) or whose stream ended (gone).
    fn broadcast(&mut self, frame: &Bytes) {
        self.clients
            .retain_mut(|client| match client.try_send(frame.clone()) {
                Ok(()) => true,
                Err(e) => {
                    if e.is_full() {
                        tracing::debug!("dropping an /events client that does not keep up");
                    }
                    false
                }
            });
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.clients.is_empty() || self.taking {
            return;
        }
        self.taking = true;
        let supervisor = self.supervisor.clone();
        let take = wrap_future::<_, Self>(async move { Snapshot::take(&supervisor).await });
        ctx.spawn(take.map(|snapshot, hub, _| {
            hub.taking = false;
            hub.broadcast(&frame("report", &json::report(&snapshot)));
        }));
    }
}

impl Actor for EventHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let subscribe = self
            .supervisor
            .send(Subscribe::status(ctx.address().recipient()));
        ctx.spawn(subscribe.into_actor(self).map(|answer, _, _| {
            if !matches!(answer, Ok(Ok(()))) {
                tracing::warn!("the /events hub could not subscribe to status changes");
            }
        }));
        ctx.run_interval(self.every, Self::tick);
    }
}

impl Handler<Join> for EventHub {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.clients.push(msg.0);
    }
}

impl Handler<StatusChanged> for EventHub {
    type Result = ();

    fn handle(&mut self, event: StatusChanged, _: &mut Context<Self>) {
        if !self.clients.is_empty() {
            self.broadcast(&frame("status", &json::status(&event)));
        }
    }
}
