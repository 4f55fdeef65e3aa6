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
async fn a_cluster_reconnect_rate_is_divided_among_the_live_members() {
    use actix::Actor;
    use actix_tether::{
        cluster::{ClusterConfig, ClusterNode, GetOwnership, Leave},
        SupervisorActor,
    };
    let etcd = Etcd::start();
    etcd.until_ready().await;
    let node = |member: &str| {
        let config = ClusterConfig::new(&etcd.url, "/rate", member)
            .ttl(TTL)
            .look_every(Duration::from_millis(100))
            .reconnect_rate(900);
        ClusterNode::new(config, SupervisorActor::default().start()).start()
    };
    let until_share = |node: actix::Addr<ClusterNode>, share: u32| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if node.send(GetOwnership).await.unwrap().reconnect_share == Some(share) {
                return;
            }
            assert!(Instant::now() < deadline, "the share never became {share}");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let a = node("a");
    until_share(a.clone(), 900).await;
    let b = node("b");
    let c = node("c");
    until_share(a.clone(), 300).await;
    until_share(b.clone(), 300).await;
    // One leaves: the two left pace at half the rate each.
    c.send(Leave).await.unwrap();
    until_share(a.clone(), 450).await;
    until_share(b, 450).await;
}
