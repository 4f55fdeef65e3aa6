//! Endpoint ownership across instances, against a real etcd (Debian's
//! `etcd-server`, installed by `.ci/run`): `examples/cluster_node`
//! processes share 300 endpoints of a WebSocket server that counts live
//! connections per endpoint and which instance holds each.

mod cluster_support;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use actix::Actor;
use actix_tether::{
    cluster::{ClusterConfig, ClusterNode, EndpointSpec, GetOwnership, Leave, Publish, Unpublish},
    EndpointConfig, SupervisorActor,
};
use cluster_support::{counting_server, Etcd, Live, Node};

const ENDPOINTS: usize = 300;
const TTL: Duration = Duration::from_secs(3);
const TTL_SECS: u64 = 3;
const PREFIX: &str = "/tether-test";

impl Live {
    /// Each endpoint's single holder, when all 300 are held exactly once.
    fn owners(&self) -> Option<BTreeMap<String, String>> {
        self.owners_of(ENDPOINTS)
    }
}

fn node(etcd: &Etcd, member: &str, publish: Option<&str>) -> Node {
    Node::start(
        &etcd.url,
        PREFIX,
        member,
        TTL,
        publish.map(|base| (base, ENDPOINTS)),
    )
}

/// Waits (bounded) until every endpoint is held exactly once; answers the
/// holders and how long it took.
async fn until_held_once(
    live: &Live,
    within: Duration,
    what: &str,
) -> (BTreeMap<String, String>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(owners) = live.owners() {
            return (owners, started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "{what}: endpoints not held exactly once within {within:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until every endpoint is held exactly once, none by
/// `gone`.
async fn until_held_without(live: &Live, gone: &str, within: Duration) -> BTreeMap<String, String> {
    let started = Instant::now();
    loop {
        if let Some(owners) = live.owners().filter(|o| o.values().all(|m| m != gone)) {
            return owners;
        }
        assert!(
            started.elapsed() < within,
            "{gone}'s endpoints not held elsewhere within {within:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count_by_member(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for member in owners.values() {
        *counts.entry(member.clone()).or_insert(0) += 1;
    }
    counts
}

#[actix_rt::test]
async fn an_etcd_outage_shorter_than_the_ttl_drops_nothing_and_a_longer_one_closes_first() {
    const N: usize = 40;
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    let _a = Node::start(&etcd.url, PREFIX, "a", TTL, Some((&base, N)));
    let _b = Node::start(&etcd.url, PREFIX, "b", TTL, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.owners_of(N).is_none() {
        assert!(Instant::now() < deadline, "never held once");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    // Frozen for 1 s (the safety deadline is at least TTL - margin - TTL/3
    // = 1.4 s after the last renewal): every endpoint stays held.
    etcd.signal("STOP");
    let thawed = Instant::now() + Duration::from_secs(1);
    while Instant::now() < thawed {
        assert!(
            live.owners_of(N).is_some(),
            "an endpoint dropped during a short outage"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    etcd.signal("CONT");
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        assert!(
            live.owners_of(N).is_some(),
            "an endpoint dropped after a short outage"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }

    // Frozen past the TTL: the instances close everything before their
    // leases could have expired (they cannot renew), then, etcd back,
    // rejoin and hold every endpoint once again.
    etcd.signal("STOP");
    let stopped = Instant::now();
    while live.open() > 0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(TTL_SECS),
            "connections still open when the leases could expire"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("closed {:?} into the outage", stopped.elapsed());
    actix_rt::time::sleep(Duration::from_secs(TTL_SECS + 1).saturating_sub(stopped.elapsed()))
        .await;
    etcd.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(TTL_SECS + 30);
    while live.owners_of(N).is_none() {
        assert!(
            Instant::now() < deadline,
            "never held once after etcd returned"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*live.most_at_once.lock().unwrap(), 1);
}

#[actix_rt::test]
async fn instances_share_endpoints_exactly_once_and_take_over_from_a_dead_or_leaving_one() {
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);

    // Three instances: every endpoint held once, spread over all three.
    let a = node(&etcd, "a", Some(&base));
    let b = node(&etcd, "b", None);
    let c = node(&etcd, "c", None);
    let (owners, _) = until_held_once(&live, Duration::from_secs(60), "3 instances").await;
    let spread = count_by_member(&owners);
    assert_eq!(spread.len(), 3, "{spread:?}");
    assert!(spread.values().all(|n| *n > ENDPOINTS / 6), "{spread:?}");

    eprintln!("3 instances: {spread:?}");

    // A fourth instance takes about a quarter of them, and only endpoints
    // that move to it move.
    let before = owners;
    let d = node(&etcd, "d", None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        if let Some(owners) = live.owners().filter(|o| o.values().any(|m| m == "d")) {
            let settled = owners.values().filter(|m| *m == "d").count();
            actix_rt::time::sleep(Duration::from_millis(1500)).await;
            if let Some(again) = live.owners() {
                if again.values().filter(|m| *m == "d").count() == settled {
                    break again;
                }
            }
        }
        assert!(Instant::now() < deadline, "d never took its share");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    let moved: Vec<&String> = after
        .keys()
        .filter(|id| after[*id] != before[*id])
        .collect();
    assert!(moved.iter().all(|id| after[*id] == "d"), "only moves to d");
    eprintln!(
        "scale-out 3 -> 4 moved {} of {ENDPOINTS} (ideal {})",
        moved.len(),
        ENDPOINTS / 4
    );
    assert!(
        (ENDPOINTS / 8..ENDPOINTS / 2).contains(&moved.len()),
        "moved {}",
        moved.len()
    );

    // kill -9 one: its endpoints are held again by the survivors within
    // the TTL (of its last renewal) and a few looks and connects.
    let killed = Instant::now();
    drop(b);
    let owners = until_held_without(&live, "b", Duration::from_secs(TTL_SECS + 20)).await;
    eprintln!(
        "taken over from a killed instance in {:?}",
        killed.elapsed()
    );
    assert_eq!(count_by_member(&owners).len(), 3);

    // A graceful stop hands its endpoints over at once (no TTL wait).
    let started = Instant::now();
    c.interrupt();
    let last = until_held_without(&live, "c", TTL).await;
    eprintln!("graceful move took {:?}", started.elapsed());
    assert_eq!(count_by_member(&last).len(), 2);
    // No endpoint was ever held twice at once.
    assert_eq!(*live.most_at_once.lock().unwrap(), 1);
    drop((a, d));
}

#[actix_rt::test]
async fn a_shared_connect_rate_paces_the_whole_cluster() {
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    const RATE: u32 = 5;
    const N: usize = 30;
    let paced = |name: &str| {
        let supervisor = SupervisorActor::default().start();
        member_with(&etcd, "/pace", name, |c| c.reconnect_rate(RATE), supervisor)
    };
    let (a, b) = (paced("a"), paced("b"));
    until_members(&[&a, &b], 2).await;
    publish(&a, &base, "p", N).await;
    // 30 connections at 5 a second take six seconds of the clock.
    until_live(&live, Duration::from_secs(30), "every endpoint held", |l| {
        l.owners_of(N).is_some()
    })
    .await;
    let owners = live.owners_of(N).unwrap();
    assert_eq!(
        count_by_member(&owners).len(),
        2,
        "both members connect: {owners:?}"
    );
    let mut at: Vec<Instant> = (0..N)
        .map(|i| live.connected_at(&format!("p{i}")).unwrap())
        .collect();
    at.sort();
    // At most 5 in any second of the clock: any 11 in a row touch three
    // seconds, so they span more than one (less what the handshakes vary).
    for (i, window) in at.windows(2 * RATE as usize + 1).enumerate() {
        let span = window[window.len() - 1] - window[0];
        assert!(
            span >= Duration::from_millis(900),
            "connections {i}..: {span:?}"
        );
    }
    a.send(Leave).await.unwrap();
    b.send(Leave).await.unwrap();
}

/// An in-process member whose connections tell the counting server who
/// holds them, with the cluster config `tune` makes of the default one.
fn member_with(
    etcd: &Etcd,
    prefix: &str,
    name: &str,
    tune: impl FnOnce(ClusterConfig) -> ClusterConfig,
    supervisor: actix::Addr<SupervisorActor>,
) -> actix::Addr<ClusterNode> {
    let header = name.to_owned();
    let config = ClusterConfig::new(&etcd.url, prefix, name)
        .ttl(TTL)
        .build_with(move |spec: &EndpointSpec| {
            Ok(EndpointConfig::websocket(&spec.url)
                .header("X-Member", &header)
                .build()?)
        });
    ClusterNode::new(tune(config), supervisor).start()
}

/// [`member_with`] looking at etcd on its own only every `look_every`.
fn member(etcd: &Etcd, prefix: &str, name: &str, look_every: Duration) -> actix::Addr<ClusterNode> {
    let supervisor = SupervisorActor::default().start();
    member_with(etcd, prefix, name, |c| c.look_every(look_every), supervisor)
}

/// Waits (bounded) until every node sees `n` members.
async fn until_members(nodes: &[&actix::Addr<ClusterNode>], n: usize) {
    let started = Instant::now();
    for node in nodes {
        while node.send(GetOwnership).await.unwrap().members.len() < n {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "members never saw each other"
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Publishes `{name}0..{name}n` through `node`, at `base/{id}`.
async fn publish(node: &actix::Addr<ClusterNode>, base: &str, name: &str, n: usize) {
    for i in 0..n {
        let spec = EndpointSpec::websocket(format!("{base}/{name}{i}"));
        node.send(Publish::new(format!("{name}{i}"), spec))
            .await
            .unwrap()
            .unwrap();
    }
}

/// Waits (bounded) until `check` holds of the server's connections.
async fn until_live(live: &Live, within: Duration, what: &str, check: impl Fn(&Live) -> bool) {
    let started = Instant::now();
    while !check(live) {
        assert!(started.elapsed() < within, "{what} not within {within:?}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn members_act_on_a_change_at_once_not_at_their_next_look() {
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    // Looks 60 s apart: only the watch can make a member act within the
    // bounds below.
    let slow = Duration::from_secs(60);
    let a = member(&etcd, "/watch", "a", slow);
    let b = member(&etcd, "/watch", "b", slow);
    until_members(&[&a, &b], 2).await;
    let bound = Duration::from_secs(3);
    publish(&a, &base, "w", 10).await;
    until_live(&live, bound, "ten published endpoints held once", |l| {
        l.owners_of(10).is_some()
    })
    .await;
    let owners = live.owners_of(10).unwrap();
    assert_eq!(
        count_by_member(&owners).len(),
        2,
        "both members hold some: {owners:?}"
    );
    b.send(Unpublish::new("w0")).await.unwrap().unwrap();
    until_live(&live, bound, "an unpublished endpoint closed", |l| {
        l.open() == 9
    })
    .await;
    // A member leaving: the other takes its endpoints at once.
    b.send(Leave).await.unwrap();
    until_live(
        &live,
        bound,
        "the leaver's endpoints held by the other",
        |l| {
            let held = l.owners_of(9);
            held.is_some_and(|o| o.values().all(|m| m == "a"))
        },
    )
    .await;
    assert_eq!(*live.most_at_once.lock().unwrap(), 1, "never held twice");
    a.send(Leave).await.unwrap();
}

#[actix_rt::test]
async fn an_endpoint_a_member_cannot_hold_goes_to_another_and_its_own_is_untouched() {
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let live = Arc::new(Live::default());
    let base = counting_server(&live);
    // Member a's supervisor already has endpoints t0..t9 of its own: it
    // must refuse the cluster's endpoints of those ids and leave its own be.
    let supervisor = SupervisorActor::default().start();
    for i in 0..10 {
        let own = EndpointConfig::websocket(format!("{base}/l{i}"))
            .header("X-Member", "local")
            .build()
            .unwrap();
        let add = actix_tether::AddEndpoint::new(format!("t{i}"), own);
        supervisor.send(add).await.unwrap().unwrap();
    }
    let fast = Duration::from_millis(200);
    let a = member_with(&etcd, "/refuse", "a", |c| c.look_every(fast), supervisor);
    let b = member(&etcd, "/refuse", "b", fast);
    publish(&a, &base, "t", 10).await;
    until_live(&live, Duration::from_secs(15), "b holding all ten", |l| {
        l.owners_of(20).is_some_and(|owners| {
            (0..10).all(|i| {
                owners.get(&format!("t{i}")).map(String::as_str) == Some("b")
                    && owners.get(&format!("l{i}")).map(String::as_str) == Some("local")
            })
        })
    })
    .await;
    let ownership = a.send(GetOwnership).await.unwrap();
    assert!(ownership.holds.is_empty(), "{:?}", ownership.holds);
    b.send(Leave).await.unwrap();
    a.send(Leave).await.unwrap();
}
