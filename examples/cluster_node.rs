//! One instance of a cluster (feature `cluster`): a supervisor and a
//! `ClusterNode` that holds its share of the cluster's endpoints, until
//! Ctrl-C (SIGINT), when it leaves gracefully.
//!
//! ```text
//! cargo run --features cluster --example cluster_node -- \
//!     ETCD_URL PREFIX MEMBER TTL_SECS [--publish WS_BASE_URL N]
//! ```
//!
//! Every connection it opens carries `X-Member: MEMBER`, so a server can
//! tell which instance holds what. With `--publish`, it first publishes
//! `N` endpoints `e0`..`e{N-1}` at `WS_BASE_URL/e{i}`. It prints `READY`
//! once it has joined and `LEFT` after leaving.

use std::time::Duration;

use actix::Actor;
use actix_tether::{
    cluster::{ClusterConfig, ClusterNode, EndpointSpec, GetOwnership, Leave, Publish},
    EndpointConfig, SupervisorActor, SupervisorConfig,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: cluster_node ETCD_URL PREFIX MEMBER TTL_SECS [--publish WS_BASE_URL N]");
        std::process::exit(2);
    }
    let (etcd, prefix, member) = (args[0].clone(), args[1].clone(), args[2].clone());
    let ttl = Duration::from_secs(args[3].parse().expect("TTL_SECS"));
    let publish = match args.get(4).map(String::as_str) {
        Some("--publish") => Some((args[5].clone(), args[6].parse::<usize>().expect("N"))),
        _ => None,
    };
    actix::System::new().block_on(async move {
        let supervisor = SupervisorActor::new(SupervisorConfig::default().arbiters(1)).start();
        let header = member.clone();
        let config = ClusterConfig::new(etcd, prefix, member)
            .ttl(ttl)
            .look_every(Duration::from_millis(200))
            .build_with(move |spec: &EndpointSpec| {
                Ok(EndpointConfig::websocket(&spec.url)
                    .header("X-Member", &header)
                    .heartbeat_interval(Duration::from_secs(1))
                    .build()?)
            });
        let node = ClusterNode::new(config, supervisor).start();
        if let Some((base, n)) = publish {
            for i in 0..n {
                let spec = EndpointSpec::websocket(format!("{base}/e{i}"));
                node.send(Publish::new(format!("e{i}"), spec))
                    .await
                    .expect("node")
                    .expect("published");
            }
        }
        // Joined once the node counts itself a member (bounded wait).
        for _ in 0..200 {
            if node.send(GetOwnership).await.expect("node").member_alive {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        println!("READY");
        let _ = actix_rt::signal::ctrl_c().await;
        node.send(Leave).await.expect("node");
        println!("LEFT");
    });
}
