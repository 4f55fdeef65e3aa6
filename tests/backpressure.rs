//! Bounded inbound queues against a server that floods as fast as TCP lets
//! it: pausing pushes back on the server without a false dead-peer verdict
//! and loses nothing; drop-oldest keeps reading and counts its drops;
//! disconnect removes the slow subscriber with a notice.

mod common;

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_tether::{
    config::DEFAULT_MAX_BURST, ConnectionState, EndpointBuilder, ErrorCategory, GetHealthReport,
    MessageReceived, Overflow, QueueLimits, Subscribe, Subscriber, SupervisorActor,
};
use common::{flood_server::FloodServer, *};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Holds every message (and so its queue slot) until released, then
/// forwards the sequence numbers of everything it held and gets after.
struct Holder {
    held: Vec<MessageReceived>,
    holding: bool,
    seqs: UnboundedSender<u64>,
    count: UnboundedSender<usize>,
}

impl Actor for Holder {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Release;

fn seq(m: &MessageReceived) -> u64 {
    m.payload.as_text().unwrap()[..8].parse().unwrap()
}

impl Handler<MessageReceived> for Holder {
    type Result = ();
    fn handle(&mut self, m: MessageReceived, _: &mut Context<Self>) {
        if self.holding {
            self.held.push(m);
            let _ = self.count.send(self.held.len());
        } else {
            let _ = self.seqs.send(seq(&m));
        }
    }
}

impl Handler<Release> for Holder {
    type Result = ();
    fn handle(&mut self, _: Release, _: &mut Context<Self>) {
        self.holding = false;
        for m in self.held.drain(..) {
            let _ = self.seqs.send(seq(&m));
        }
    }
}

struct Held {
    addr: Addr<Holder>,
    seqs: UnboundedReceiver<u64>,
    count: UnboundedReceiver<usize>,
}

fn holder() -> Held {
    let (seqs_tx, seqs) = unbounded_channel();
    let (count_tx, count) = unbounded_channel();
    let addr = Holder {
        held: Vec::new(),
        holding: true,
        seqs: seqs_tx,
        count: count_tx,
    }
    .start();
    Held { addr, seqs, count }
}

impl Held {
    /// Waits until it holds at least `n` messages; returns how many.
    async fn holds_at_least(&mut self, n: usize) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let held = next(&mut self.count, left).await;
            if held >= n {
                return held;
            }
        }
    }

    /// Every sequence number that arrives until `n` did (bounded).
    async fn take_seqs(&mut self, n: usize) -> Vec<u64> {
        let mut seqs = Vec::with_capacity(n);
        while seqs.len() < n {
            seqs.push(next(&mut self.seqs, WAIT).await);
        }
        seqs
    }
}

/// Waits until the server's count stops moving for `quiet`; returns it.
async fn stalls(server: &FloodServer, quiet: Duration) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut last = server.sent();
    let mut since = Instant::now();
    loop {
        assert!(
            Instant::now() < deadline,
            "the server never stalled: it wrote {} frames",
            server.sent()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = server.sent();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return now;
        }
    }
}

/// Subscribes to every endpoint (before any is added: nothing missed).
async fn subscribe(supervisor: &Addr<SupervisorActor>, subscriber: Subscriber, queue: QueueLimits) {
    supervisor
        .send(Subscribe::to(subscriber).queue(queue))
        .await
        .unwrap()
        .unwrap();
}

async fn health_until(
    supervisor: &Addr<SupervisorActor>,
    what: &str,
    ok: impl Fn(&actix_tether::monitor::Inbound) -> bool,
) -> actix_tether::monitor::Inbound {
    // The monitor hears figures every 5 s (and on state changes).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = supervisor.send(GetHealthReport::default()).await.unwrap();
        if let Some(e) = report.endpoint("flood") {
            if ok(&e.inbound) {
                return e.inbound;
            }
            assert!(Instant::now() < deadline, "{what}: {:?}", e.inbound);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One flooding endpoint under test: the server, the supervisor, a
/// collector of status changes (and of every message, when asked: a
/// subscriber that keeps up) and a holder subscribed with the limits under
/// test.
struct Flood {
    server: FloodServer,
    supervisor: Addr<SupervisorActor>,
    events: Events,
    held: Held,
}

impl Flood {
    /// Floods `total` frames of `size` bytes at an endpoint built by
    /// `configure` from the fast test settings; returns once connected.
    async fn start(
        total: u64,
        size: usize,
        limits: QueueLimits,
        collect_messages: bool,
        configure: impl FnOnce(EndpointBuilder) -> EndpointBuilder,
    ) -> Self {
        let server = FloodServer::start(total, size).await;
        let supervisor = supervisor();
        let mut events = Events::start();
        let held = holder();
        let mut subscribers = vec![Subscriber::Status(events.addr.clone().recipient())];
        if collect_messages {
            subscribers.push(Subscriber::Messages(events.addr.clone().recipient()));
        }
        for subscriber in subscribers {
            subscribe(&supervisor, subscriber, QueueLimits::default()).await;
        }
        subscribe(
            &supervisor,
            Subscriber::Messages(held.addr.clone().recipient()),
            limits,
        )
        .await;
        let config = configure(fast(&server.url())).build().unwrap();
        add(&supervisor, "flood", config).await;
        events.until_state(ConnectionState::Connected).await;
        Self {
            server,
            supervisor,
            events,
            held,
        }
    }
}

#[actix::test]
async fn a_full_queue_pauses_reading_pushes_back_on_the_server_and_loses_nothing() {
    // 20 MB: more than the loopback socket buffers hold.
    const TOTAL: u64 = 20_000;
    const TOTAL_USIZE: usize = 20_000;
    const LIMIT: usize = 100;
    let Flood {
        server,
        supervisor,
        mut events,
        mut held,
    } = Flood::start(TOTAL, 1024, QueueLimits::new(LIMIT, 1 << 20), false, |c| {
        c.heartbeat_interval(Duration::from_millis(200))
            .max_missed(2)
    })
    .await;

    held.holds_at_least(LIMIT).await;
    let stalled_at = stalls(&server, Duration::from_millis(500)).await;
    assert!(
        stalled_at < TOTAL,
        "the server wrote all {TOTAL} frames: no backpressure"
    );
    // Paused well past the heartbeat timeout (400 ms): the monitor sees
    // the pause and the queue, and the peer is not declared dead.
    let inbound = health_until(&supervisor, "paused and queued", |i| {
        i.paused_for >= Duration::from_secs(1) && i.queued_messages >= LIMIT as u64
    })
    .await;
    assert!(
        inbound.queued_messages <= (LIMIT + DEFAULT_MAX_BURST) as u64,
        "{inbound:?}"
    );
    let mut holding = 0;
    while let Ok(n) = held.count.try_recv() {
        holding = n;
    }
    assert!(
        holding <= LIMIT + DEFAULT_MAX_BURST,
        "queue bound broken: {holding}"
    );
    assert_eq!(server.sent(), stalled_at, "the server moved while paused");
    if let Ok(e) = events.status.try_recv() {
        panic!(
            "the paused endpoint changed state: {} -> {} {:?}",
            e.from, e.to, e.reason
        );
    }

    // Caught up: everything arrives, in order, once.
    held.addr.send(Release).await.unwrap();
    let seqs = held.take_seqs(TOTAL_USIZE).await;
    assert!(
        seqs.iter().copied().eq(0..TOTAL),
        "gap, repeat or reorder in {} messages",
        seqs.len()
    );
    assert_eq!(server.sent(), TOTAL);
}

#[actix::test]
async fn drop_oldest_keeps_reading_and_counts_what_it_dropped() {
    const TOTAL: u64 = 5_000;
    let limits = QueueLimits::new(10, 1 << 20).overflow(Overflow::DropOldest);
    // Every part is bound: a part left to `..` would be dropped here.
    let Flood {
        server,
        supervisor,
        events: _events,
        mut held,
    } = Flood::start(TOTAL, 8, limits, false, |c| c).await;

    // The server is never held back.
    let deadline = Instant::now() + WAIT;
    while server.sent() < TOTAL {
        assert!(Instant::now() < deadline, "stalled at {}", server.sent());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let inbound = health_until(&supervisor, "drops counted", |i| i.dropped == TOTAL - 10).await;
    assert_eq!(inbound.paused_for, Duration::ZERO);

    // The first half of the bound reached the mailbox; the newest half
    // waited here and follows once the subscriber catches up.
    held.addr.send(Release).await.unwrap();
    let seqs = held.take_seqs(10).await;
    assert_eq!(seqs, [0, 1, 2, 3, 4, 4995, 4996, 4997, 4998, 4999]);
    let extra = tokio::time::timeout(Duration::from_millis(300), held.seqs.recv()).await;
    assert!(extra.is_err(), "more than the bound arrived: {extra:?}");
}

#[actix::test]
async fn drop_oldest_with_the_smallest_bound_delivers_the_newest_on_a_quiet_stream() {
    // A heartbeat far away: nothing but the queue draining may move the
    // waiting message on.
    let limits = QueueLimits::new(2, 1 << 20).overflow(Overflow::DropOldest);
    let Flood {
        server: _server,
        supervisor: _supervisor,
        mut events,
        mut held,
    } = Flood::start(50, 8, limits, true, |c| {
        c.heartbeat_interval(Duration::from_secs(60))
    })
    .await;
    held.holds_at_least(1).await;
    // A second, keeping-up subscriber shows when all 50 were read.
    for _ in 0..50 {
        events.next_text().await;
    }
    held.addr.send(Release).await.unwrap();
    assert_eq!(held.take_seqs(2).await, [0, 49]);
}

#[actix::test]
async fn disconnect_drops_the_slow_subscriber_with_a_notice_and_others_go_on() {
    const TOTAL: u64 = 2_000;
    let limits = QueueLimits::new(10, 1 << 20).overflow(Overflow::Disconnect);
    let Flood {
        server: _server,
        supervisor,
        mut events,
        mut held,
    } = Flood::start(TOTAL, 8, limits, true, |c| c).await;

    let notice = loop {
        let e = events.next_status().await;
        if e.from == e.to {
            break e;
        }
    };
    assert_eq!(notice.to, ConnectionState::Connected);
    let reason = notice.reason.expect("a reason");
    assert_eq!(reason.category(), ErrorCategory::Overflow);
    // The fast subscriber still gets every message, in order.
    for expected in 0..TOTAL {
        let (_, text) = events.next_text().await;
        assert_eq!(text.parse::<u64>().unwrap(), expected);
    }
    let mut holding = held.holds_at_least(10).await;
    while let Ok(n) = held.count.try_recv() {
        holding = n;
    }
    assert!(holding < 10 + DEFAULT_MAX_BURST, "{holding}");
    health_until(&supervisor, "subscriber drop counted", |i| {
        i.subscribers_dropped == 1
    })
    .await;
}
