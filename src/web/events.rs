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

/// The `/events` clients' bounded buffers.
#[derive(Debug, Default)]
struct Clients(Vec<Sender<Bytes>>);

impl Clients {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn join(&mut self, client: Sender<Bytes>) {
        self.0.push(client);
    }

    /// Sends `frame` to every client; drops those whose buffer is full
    /// (too slow: their stream ends after what is buffered) or whose
    /// stream ended (gone). Returns how many were dropped.
    fn broadcast(&mut self, frame: &Bytes) -> usize {
        let before = self.0.len();
        self.0
            .retain_mut(|client| match client.try_send(frame.clone()) {
                Ok(()) => true,
                Err(e) => {
                    if e.is_full() {
                        tracing::debug!("dropping an /events client that does not keep up");
                    }
                    false
                }
            });
        before - self.0.len()
    }
}

/// Fans status changes and periodic reports out to `/events` clients.
#[derive(Debug)]
pub(super) struct EventHub {
    supervisor: actix::Addr<SupervisorActor>,
    every: Duration,
    /// How long a snapshot waits for each answer.
    timeout: Duration,
    clients: Clients,
    /// A snapshot is being taken: skip a tick rather than pile them up.
    taking: bool,
}

impl EventHub {
    pub(super) fn new(
        supervisor: actix::Addr<SupervisorActor>,
        every: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            supervisor,
            every,
            timeout,
            clients: Clients::default(),
            taking: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.clients.is_empty() || self.taking {
            return;
        }
        self.taking = true;
        let supervisor = self.supervisor.clone();
        let timeout = self.timeout;
        let take =
            wrap_future::<_, Self>(
                async move { Snapshot::take_within(&supervisor, timeout).await },
            );
        ctx.spawn(take.map(|snapshot, hub, _| {
            hub.taking = false;
            // A snapshot the supervisor did not answer describes nothing:
            // the pages keep their last report rather than show no endpoint.
            if snapshot.answered {
                hub.clients
                    .broadcast(&frame("report", &json::report(&snapshot)));
            }
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
        self.clients.join(msg.0);
    }
}

impl Handler<StatusChanged> for EventHub {
    type Result = ();

    fn handle(&mut self, event: StatusChanged, _: &mut Context<Self>) {
        if !self.clients.is_empty() {
            self.clients
                .broadcast(&frame("status", &json::status(&event)));
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{channel::mpsc, FutureExt as _, StreamExt as _};

    use super::*;

    #[test]
    fn a_client_that_does_not_read_is_dropped_and_its_stream_ends() {
        let mut clients = Clients::default();
        let (slow, mut slow_rx) = mpsc::channel(2);
        let (fast, mut fast_rx) = mpsc::channel(2);
        clients.join(slow);
        clients.join(fast);
        let frame = frame("status", &serde_json::json!({ "n": 1 }));
        let mut dropped = 0;
        for _ in 0..10 {
            dropped += clients.broadcast(&frame);
            // The fast client reads everything as it comes.
            while let Some(Some(got)) = fast_rx.next().now_or_never() {
                assert_eq!(got, frame);
            }
        }
        assert_eq!(dropped, 1);
        assert!(!clients.is_empty());
        // The slow one gets what was buffered (capacity 2, plus one slot
        // per sender), then the end of its stream: no unbounded growth.
        let mut buffered = 0;
        while let Some(Some(_)) = slow_rx.next().now_or_never() {
            buffered += 1;
        }
        assert_eq!(buffered, 3);
        assert_eq!(
            slow_rx.next().now_or_never(),
            Some(None),
            "the stream ended"
        );
        // A client that went away is dropped on the next frame.
        drop(fast_rx);
        assert_eq!(clients.broadcast(&frame), 1);
        assert!(clients.is_empty());
    }

    #[test]
    fn a_frame_is_one_event_with_one_data_line() {
        let data = serde_json::json!({ "text": "two\nlines" });
        let f = frame("report", &data);
        let text = std::str::from_utf8(&f).unwrap();
        assert!(text.starts_with("event: report\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"), "{text}");
        assert_eq!(text.matches('\n').count(), 3, "{text}");
    }
}
