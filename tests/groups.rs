//! Groups and pools against in-process WebSocket servers: routing
//! strategies, failover and return, keyed sends, broadcast, tag lookups.

mod common;

use std::time::Duration;

use actix::{Actor, Addr, Context, Handler};
use actix_tether::{
    AddEndpoint, AddGroup, AddPool, Added, ConnectionState, ErrorCategory, GetAllStatuses,
    GetEndpoints, GetGroup, GetHealthReport, GroupHandle, GroupStatusChanged, HealthBand, NoneUp,
    Strategy, SubscribeGroups, SupervisorActor, MAX_POOL_SIZE,
};
use common::*;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Waits until endpoint `id` moves into `to`.
async fn until_endpoint(events: &mut Events, id: &str, to: ConnectionState) {
    for _ in 0..1000 {
        let e = events.next_status().await;
        if e.endpoint.as_str() == id && e.to == to {
            return;
        }
    }
    panic!("{id} never reached {to}");
}

/// `n` servers, a supervisor and its event collector, with endpoint `e{i}`
/// on server `i`, tagged `kind=feed`, all connected.
async fn servers(n: usize) -> (Vec<TestServer>, Addr<SupervisorActor>, Events) {
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let mut servers = Vec::new();
    for i in 0..n {
        let server = TestServer::start().await;
        let config = fast(&server.url()).tag("kind", "feed").build().unwrap();
        add(&supervisor, &format!("e{i}"), config).await;
        servers.push(server);
    }
    events.count_state(ConnectionState::Connected, n).await;
    (servers, supervisor, events)
}

/// Waits (bounded) until `n` members of `group` are up.
async fn until_up(group: &GroupHandle, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while group.connected() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the group never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `text` through `group`, waits until it is written, and answers
/// the member it went to and whether it moved.
async fn send(group: &GroupHandle, text: &str) -> (String, bool) {
    let routed = group.send(text.to_owned()).await.expect("routed");
    routed.receipt.outcome().await.expect("written");
    (routed.member.to_string(), routed.moved)
}

async fn send_keyed(group: &GroupHandle, key: &str, text: &str) -> (String, bool) {
    let routed = group
        .send_keyed(key, text.to_owned())
        .await
        .expect("routed");
    routed.receipt.outcome().await.expect("written");
    (routed.member.to_string(), routed.moved)
}

#[actix::test]
async fn round_robin_spreads_sends_over_the_members_that_are_up() {
    let (mut servers, supervisor, mut events) = servers(3).await;
    let group = supervisor
        .send(AddGroup::tagged("feeds", "kind", "feed"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.members().len(), 3);
    let mut per_member = std::collections::BTreeMap::new();
    for i in 0..9 {
        let (member, _) = send(&group, &format!("turn {i}")).await;
        *per_member.entry(member).or_insert(0) += 1;
    }
    assert_eq!(per_member.values().copied().collect::<Vec<_>>(), [3, 3, 3]);
    for server in &mut servers {
        assert_eq!(server.next_texts(3).await.len(), 3);
    }

    servers[2].stop().await;
    until_endpoint(&mut events, "e2", ConnectionState::Reconnecting).await;
    assert_eq!(group.connected(), 2);
    let mut to_first = 0;
    for i in 0..6 {
        let (member, _) = send(&group, &format!("down {i}")).await;
        assert_ne!(member, "e2", "a member that is down is never chosen");
        to_first += usize::from(member == "e0");
    }
    // Its turns fall to the next member up.
    assert_eq!(to_first, 4);
    assert_eq!(servers[0].next_texts(4).await.len(), 4);
    assert_eq!(servers[1].next_texts(2).await.len(), 2);
}

#[actix::test]
async fn failover_moves_to_the_backup_and_back_once_the_primary_stayed_up() {
    let (mut servers, supervisor, mut events) = servers(2).await;
    let failover = Strategy::Failover {
        hysteresis: Duration::from_secs(2),
    };
    let group = supervisor
        .send(AddGroup::listed("orders", ["e0", "e1"]).strategy(failover))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(send(&group, "a").await.0, "e0");
    assert_eq!(send(&group, "b").await.0, "e0");

    servers[0].stop().await;
    until_endpoint(&mut events, "e0", ConnectionState::Reconnecting).await;
    assert_eq!(send(&group, "c").await.0, "e1");
    assert_eq!(servers[1].next_texts(1).await, ["c"]);

    servers[0].restart().await;
    until_endpoint(&mut events, "e0", ConnectionState::Connected).await;
    // Back for less than the hysteresis: traffic stays on the backup.
    assert_eq!(send(&group, "d").await.0, "e1");
    // Once it stayed up long enough, the primary again (bounded wait).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (member, _) = send(&group, "probe").await;
        if member == "e0" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never went back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix::test]
async fn keyed_sends_stay_on_one_member_and_move_only_while_it_is_down() {
    let (mut servers, supervisor, mut events) = servers(3).await;
    let group = supervisor
        .send(AddGroup::listed("sessions", ["e0", "e1", "e2"]))
        .await
        .unwrap()
        .unwrap();
    let (owner, moved) = send_keyed(&group, "order-7", "first").await;
    assert!(!moved);
    // Through the supervisor, the same routing.
    let via_supervisor = supervisor
        .send(actix_tether::SendToGroup::new("sessions", "again").key("order-7"))
        .await
        .unwrap()
        .unwrap();
    via_supervisor.receipt.outcome().await.unwrap();
    assert_eq!(via_supervisor.member.to_string(), owner);
    for i in 0..5 {
        assert_eq!(
            send_keyed(&group, "order-7", &format!("k{i}")).await,
            (owner.clone(), false)
        );
    }
    let index: usize = owner.trim_start_matches('e').parse().unwrap();
    servers[index].stop().await;
    until_endpoint(&mut events, &owner, ConnectionState::Reconnecting).await;
    let (stand_in, moved) = send_keyed(&group, "order-7", "while down").await;
    assert!(moved, "the outcome says the key moved");
    assert_ne!(stand_in, owner);

    servers[index].restart().await;
    until_endpoint(&mut events, &owner, ConnectionState::Connected).await;
    assert_eq!(send_keyed(&group, "order-7", "back").await, (owner, false));
}

#[actix::test]
async fn broadcast_reaches_every_member_that_is_up_and_lookups_filter_by_tag() {
    let (mut servers, supervisor, _events) = servers(2).await;
    let unrelated = TestServer::start().await;
    add(
        &supervisor,
        "other",
        fast(&unrelated.url()).tag("kind", "chat").build().unwrap(),
    )
    .await;
    let feeds = supervisor
        .send(GetEndpoints::tagged("kind", "feed"))
        .await
        .unwrap();
    let ids: Vec<String> = feeds.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, ["e0", "e1"]);
    assert!(feeds
        .iter()
        .all(|e| e.state.is_up() && e.tags["kind"] == "feed"));
    assert_eq!(supervisor.send(GetEndpoints::all()).await.unwrap().len(), 3);

    let group = supervisor
        .send(AddGroup::tagged("feeds", "kind", "feed"))
        .await
        .unwrap()
        .unwrap();
    // An id listed twice is one member: nothing is sent twice.
    let doubled = supervisor
        .send(AddGroup::listed("doubled", ["e0", "e0"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doubled.members().len(), 1);
    let sent = group.broadcast("to all").await.unwrap();
    assert_eq!(sent.len(), 2);
    for (_, receipt) in sent {
        receipt.unwrap().outcome().await.unwrap();
    }
    for server in &mut servers {
        assert_eq!(server.next_texts(1).await, ["to all"]);
    }
    // The same group again is the same group; another rule is refused.
    let again = supervisor
        .send(GetGroup::new("feeds"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.members().len(), 2);
    let clash = supervisor
        .send(AddGroup::listed("feeds", ["other"]))
        .await
        .unwrap();
    assert_eq!(clash.unwrap_err().category(), ErrorCategory::Config);
}

#[actix::test]
async fn a_group_with_no_member_up_refuses_and_a_pool_opens_its_connections() {
    let supervisor = supervisor();
    let dead = fast(&format!("ws://127.0.0.1:{}/ws", closed_port()))
        .build()
        .unwrap();
    add(&supervisor, "dead", dead).await;
    let group = supervisor
        .send(AddGroup::listed("none", ["dead"]))
        .await
        .unwrap()
        .unwrap();
    let err = group.send("x").await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Endpoint);
    assert!(err.message().contains("no member of group none"), "{err}");

    let mut server = TestServer::start().await;
    let config = fast(&server.url()).build().unwrap();
    let pool = supervisor
        .send(AddPool::new("pool", config, 3))
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<String> = pool.members().iter().map(|m| m.id().to_string()).collect();
    assert_eq!(ids, ["pool/0", "pool/1", "pool/2"]);
    let mut connections = std::collections::BTreeSet::new();
    while connections.len() < 3 {
        if let ServerEvent::Connected { id, .. } = server.next_event().await {
            connections.insert(id);
        }
    }
    // Every member up, then 30 sends, all written.
    until_up(&pool, 3).await;
    for i in 0..30 {
        send(&pool, &format!("p{i}")).await;
    }
    // Pushes: no receipt, routed the same way.
    for i in 0..10 {
        let member = pool.push(format!("push {i}")).unwrap();
        assert!(member.as_str().starts_with("pool/"));
    }
    assert_eq!(server.next_texts(40).await.len(), 40);
}

/// Forwards group events into a channel.
struct GroupEvents(UnboundedSender<GroupStatusChanged>);

impl Actor for GroupEvents {
    type Context = Context<Self>;
}

impl Handler<GroupStatusChanged> for GroupEvents {
    type Result = ();
    fn handle(&mut self, event: GroupStatusChanged, _: &mut Context<Self>) {
        let _ = self.0.send(event);
    }
}

/// Group events until one with `connected` members up.
async fn until_connected(
    rx: &mut UnboundedReceiver<GroupStatusChanged>,
    connected: usize,
) -> GroupStatusChanged {
    for _ in 0..100 {
        let event = next(rx, WAIT).await;
        assert_eq!(event.group, "pair");
        if event.connected == connected {
            return event;
        }
    }
    panic!("no event with {connected} connected");
}

#[actix::test]
async fn group_events_tell_of_a_member_down_and_of_all_connected_again() {
    let (mut servers, supervisor, mut events) = servers(2).await;
    let (tx, mut rx) = unbounded_channel();
    supervisor
        .send(SubscribeGroups(GroupEvents(tx).start().recipient()))
        .await
        .unwrap();
    supervisor
        .send(AddGroup::listed("pair", ["e0", "e1"]))
        .await
        .unwrap()
        .unwrap();
    // The group's state when added: both members up.
    let first = until_connected(&mut rx, 2).await;
    assert!(
        first.all_connected() && first.band == HealthBand::Green,
        "{first:?}"
    );

    servers[1].stop().await;
    until_endpoint(&mut events, "e1", ConnectionState::Reconnecting).await;
    let down = until_connected(&mut rx, 1).await;
    assert!(!down.all_connected() && !down.none_connected());
    assert_eq!((down.total, down.band), (2, HealthBand::Orange), "{down:?}");
    let report = supervisor.send(GetHealthReport::default()).await.unwrap();
    let pair = report.groups.iter().find(|g| g.group == "pair").unwrap();
    assert_eq!((pair.connected, pair.total), (1, 2));

    servers[1].restart().await;
    let back = until_connected(&mut rx, 2).await;
    assert!(back.all_connected(), "{back:?}");
}

#[actix::test]
async fn leases_are_exclusive_wait_for_a_member_given_back_and_time_out() {
    let mut server = TestServer::start().await;
    let supervisor = supervisor();
    let config = fast(&server.url()).build().unwrap();
    let pool = supervisor
        .send(AddPool::new("rpc", config, 2))
        .await
        .unwrap()
        .unwrap();
    until_up(&pool, 2).await;
    let first = pool.acquire(WAIT).await.unwrap();
    let second = pool.acquire(WAIT).await.unwrap();
    assert_ne!(
        first.id(),
        second.id(),
        "a leased member is not leased twice"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.total, stats.connected, stats.active, stats.idle),
        (2, 2, 2, 0)
    );
    assert!((stats.utilisation - 1.0).abs() < f64::EPSILON);

    // Nothing free: a short acquire times out.
    let err = pool.acquire(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Timeout);

    // A waiting acquire gets the member given back.
    let given_back = first.id().clone();
    let waiting = pool.acquire(WAIT);
    let release = async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
    };
    let (third, ()) = futures::join!(waiting, release);
    let third = third.unwrap();
    assert_eq!(third.id(), &given_back);
    third
        .send("over the lease")
        .await
        .unwrap()
        .outcome()
        .await
        .unwrap();
    assert_eq!(server.next_texts(1).await, ["over the lease"]);
    drop((second, third));
    let stats = pool.stats();
    assert_eq!((stats.active, stats.idle), (0, 2));
    assert_eq!(
        (stats.acquire_requests, stats.acquired, stats.timeouts),
        (4, 3, 1)
    );
}

#[actix::test]
async fn a_send_can_wait_for_a_member_to_come_up_within_bounds() {
    let (mut servers, supervisor, mut events) = servers(1).await;
    let waiting = NoneUp::Wait {
        timeout: WAIT,
        max_waiting: 1,
    };
    let group = supervisor
        .send(AddGroup::listed("patient", ["e0"]).when_none_up(waiting))
        .await
        .unwrap()
        .unwrap();
    let brief = supervisor
        .send(
            AddGroup::listed("brief", ["e0"]).when_none_up(NoneUp::Wait {
                timeout: Duration::from_millis(100),
                max_waiting: 4,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    servers[0].stop().await;
    until_endpoint(&mut events, "e0", ConnectionState::Reconnecting).await;

    // Past its timeout, a waiting send fails; past max_waiting, one is
    // refused at once.
    let err = brief.send("late").await.unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Timeout, "{err}");
    let patient = group.send("held by the caller");
    let crowd = async {
        // join! polled the first send already: it registered as waiting
        // before its first sleep, so this one finds no room.
        let refused = group.send("one too many").await.unwrap_err();
        assert_eq!(refused.category(), ErrorCategory::Overflow, "{refused}");
        servers[0].restart().await;
    };
    let (routed, ()) = futures::join!(patient, crowd);
    let routed = routed.unwrap();
    assert_eq!(routed.member.as_str(), "e0");
    routed.receipt.outcome().await.unwrap();
    assert_eq!(servers[0].next_texts(1).await, ["held by the caller"]);
}

#[actix::test]
async fn an_endpoint_can_share_the_connection_of_one_with_the_same_config() {
    let mut server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let url = server.url();
    let config = || fast(&url).tag("who", "first").build().unwrap();
    add(&supervisor, "chat", config()).await;
    events.until_state(ConnectionState::Connected).await;
    let ui = fast(&server.url()).tag("who", "ui").build().unwrap();
    let added = supervisor
        .send(AddEndpoint::new("chat-ui", ui).share())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        added,
        Added::Shared {
            endpoint: "chat-ui".into(),
            with: "chat".into()
        }
    );
    // Not told to share, or another header: connections of their own.
    let alone = supervisor
        .send(AddEndpoint::new("alone", config()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alone, Added::New("alone".into()));
    let other = fast(&server.url()).header("X-Room", "2").build().unwrap();
    let other = supervisor
        .send(AddEndpoint::new("other", other).share())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other, Added::New("other".into()));
    events.count_state(ConnectionState::Connected, 2).await;
    let mut opened = 0;
    while let Ok(event) = server.events.try_recv() {
        opened += usize::from(matches!(event, ServerEvent::Connected { .. }));
    }
    assert_eq!(opened, 3, "chat and chat-ui share one socket");

    // Either id reaches the shared socket; each id keeps its own tags.
    let ui = supervisor
        .send(actix_tether::GetEndpoint::new("chat-ui"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ui.tags()["who"], "ui");
    // Two ids of one connection are one group member.
    let both = supervisor
        .send(AddGroup::listed("both", ["chat", "chat-ui"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(both.members().len(), 1);
    let err = both
        .acquire(Duration::MAX)
        .await
        .map(|lease| lease.id().clone());
    assert_eq!(err.unwrap().as_str(), "chat");
    ui.send("through the ui id")
        .await
        .unwrap()
        .outcome()
        .await
        .unwrap();
    assert_eq!(server.next_texts(1).await, ["through the ui id"]);

    // Each id answers the shared connection's status under its own id,
    // and the group's health reads the connection's figures.
    let statuses = supervisor.send(GetAllStatuses).await.unwrap();
    let ids: Vec<&str> = statuses.iter().map(|s| s.endpoint.as_str()).collect();
    assert_eq!(ids, ["alone", "chat", "chat-ui", "other"]);
    let report = supervisor.send(GetHealthReport::default()).await.unwrap();
    let both_health = report.groups.iter().find(|g| g.group == "both").unwrap();
    assert_eq!((both_health.connected, both_health.total), (1, 1));

    // Removing the first id keeps the connection for the second.
    supervisor
        .send(actix_tether::RemoveEndpoint::new("chat"))
        .await
        .unwrap()
        .unwrap();
    // The connection still carries "chat" in its events: the id cannot
    // be taken by a new connection meanwhile.
    let taken = supervisor
        .send(AddEndpoint::new("chat", config()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(taken.category(), ErrorCategory::Config, "{taken}");
    ui.send("still here")
        .await
        .unwrap()
        .outcome()
        .await
        .unwrap();
    assert_eq!(server.next_texts(1).await, ["still here"]);
    supervisor
        .send(actix_tether::RemoveEndpoint::new("chat-ui"))
        .await
        .unwrap()
        .unwrap();
    server
        .wait_for("the shared connection closed", |e| {
            matches!(e, ServerEvent::ClosedByClient { .. })
        })
        .await;
    // Gone from the monitor's figures with its last id.
    let report = supervisor.send(GetHealthReport::default()).await.unwrap();
    let left: Vec<&str> = report
        .endpoints
        .iter()
        .map(|e| e.endpoint.as_str())
        .collect();
    assert_eq!(left, ["alone", "other"]);
}

#[actix::test]
async fn least_loaded_prefers_the_member_with_the_shorter_round_trip() {
    use common::chaos::{ChaosProxy, Fault};
    let mut near = TestServer::start().await;
    let far = TestServer::start().await;
    let proxy = ChaosProxy::start(([127, 0, 0, 1], far.port).into()).await;
    proxy.set(Fault::Latency(Duration::from_millis(80)));
    let supervisor = supervisor();
    let quick = |url: String| {
        fast(&url)
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    add(&supervisor, "near", quick(near.url())).await;
    add(
        &supervisor,
        "far",
        quick(format!("ws://127.0.0.1:{}/ws", proxy.port)),
    )
    .await;
    let group = supervisor
        .send(AddGroup::listed("balanced", ["near", "far"]).strategy(Strategy::LeastLoaded))
        .await
        .unwrap()
        .unwrap();
    // Both up, with round trips measured (bounded wait).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let report = supervisor.send(GetHealthReport::default()).await.unwrap();
        let measured = ["near", "far"].iter().all(|id| {
            report
                .endpoint(id)
                .is_some_and(|e| e.state.is_up() && e.latency.is_some_and(|l| l.samples >= 2))
        });
        if measured {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no round trips measured"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..50 {
        let (member, _) = send(&group, &format!("balanced {i}")).await;
        assert_eq!(member, "near", "message {i}");
    }
    assert_eq!(near.next_texts(50).await.len(), 50);
}

#[actix::test]
async fn failover_keeps_its_member_when_one_ahead_of_it_joins_the_group() {
    let (servers, supervisor, mut events) = servers(2).await;
    let group = supervisor
        .send(
            AddGroup::listed("orders", ["late", "e0", "e1"]).strategy(Strategy::Failover {
                hysteresis: Duration::from_secs(60),
            }),
        )
        .await
        .unwrap()
        .unwrap();
    until_up(&group, 2).await;
    assert_eq!(send(&group, "first").await.0, "e0");
    // "late" joins ahead of e0 in priority order; just up, it waits out
    // the hysteresis like a returning primary.
    add(
        &supervisor,
        "late",
        fast(&servers[1].url()).build().unwrap(),
    )
    .await;
    until_endpoint(&mut events, "late", ConnectionState::Connected).await;
    until_up(&group, 3).await;
    for i in 0..5 {
        assert_eq!(send(&group, &format!("m{i}")).await.0, "e0");
    }
}

#[actix::test]
async fn a_pool_is_refused_whole_when_a_member_name_is_taken_by_another_config() {
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let other = fast(&server.url())
        .tag("owner", "someone else")
        .build()
        .unwrap();
    add(&supervisor, "jobs/1", other).await;
    let config = || fast(&server.url()).build().unwrap();
    let err = supervisor
        .send(AddPool::new("jobs", config(), 3))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Config, "{err}");
    assert!(err.message().contains("jobs/1"), "{err}");
    let ids: Vec<String> = supervisor
        .send(GetEndpoints::all())
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["jobs/1"], "nothing of the pool was added");
    for (name, size) in [("", 2), ("p", 0), ("p", MAX_POOL_SIZE + 1)] {
        let err = supervisor
            .send(AddPool::new(name, config(), size))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err.category(),
            ErrorCategory::Config,
            "{name:?} {size}: {err}"
        );
    }
}

#[actix::test]
async fn keyed_sends_that_wait_for_a_member_go_out_in_the_order_they_came() {
    let (mut servers, supervisor, mut events) = servers(1).await;
    let group = supervisor
        .send(
            AddGroup::listed("patient", ["e0"]).when_none_up(NoneUp::Wait {
                timeout: WAIT,
                max_waiting: 64,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    servers[0].stop().await;
    until_endpoint(&mut events, "e0", ConnectionState::Reconnecting).await;
    let texts: Vec<String> = (0..41).map(|i| format!("k{i}")).collect();
    let sends = texts[..40]
        .iter()
        .map(|text| group.send_keyed("order-7", text.clone()));
    let late = async {
        // Every send is waiting before the member comes back; one sent
        // the moment it is up goes behind them, not ahead.
        tokio::time::sleep(Duration::from_millis(200)).await;
        servers[0].restart().await;
        until_endpoint(&mut events, "e0", ConnectionState::Connected).await;
        group.send_keyed("order-7", texts[40].clone()).await
    };
    let (routed, late) = futures::join!(futures::future::join_all(sends), late);
    for routed in routed.into_iter().chain([late]) {
        routed.unwrap().receipt.outcome().await.unwrap();
    }
    assert_eq!(servers[0].next_texts(41).await, texts);
}
