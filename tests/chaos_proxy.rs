//! The chaos proxy itself (tests/common/chaos.rs), in front of the line
//! server: each fault does what it says, healing restores clean
//! forwarding, and dropping the proxy ends its connections.

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::{chaos::*, line_server::LineServer, WAIT};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::{timeout, Instant},
};

/// A client of the line server, through the proxy.
struct Client {
    lines: BufReader<TcpStream>,
}

impl Client {
    async fn connect(proxy: &ChaosProxy) -> Self {
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut client = Self {
            lines: BufReader::new(stream),
        };
        assert!(client.line().await.starts_with("hello "));
        client
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        timeout(WAIT, self.lines.read_line(&mut line))
            .await
            .expect("a line in time")
            .unwrap();
        line.trim_end().to_owned()
    }

    /// Sends `text` and waits for its echo; returns the round trip.
    async fn echo(&mut self, text: &str) -> Duration {
        let sent = Instant::now();
        let stream = self.lines.get_mut();
        stream
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(self.line().await, text);
        sent.elapsed()
    }
}

/// Whether the proxy cut the client with a reset (RST, not FIN).
async fn is_reset(client: &mut Client) -> bool {
    let mut byte = [0; 1];
    match timeout(WAIT, client.lines.read(&mut byte)).await {
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionReset,
        _ => false,
    }
}

#[actix::test]
async fn latency_throttling_and_slicing_delay_but_deliver_every_byte() {
    let server = LineServer::start().await;
    let proxy = ChaosProxy::start(([127, 0, 0, 1], server.port).into()).await;
    let mut client = Client::connect(&proxy).await;
    assert!(client.echo("clean").await < Duration::from_secs(1));

    proxy.set(Fault::Latency(Duration::from_millis(150)));
    // One delay each way.
    assert!(client.echo("late").await >= Duration::from_millis(300));

    // 400 bytes each way at 1000 bytes/s: at least 0.7 s.
    proxy.set(Fault::Throttle(1000));
    let long = "x".repeat(399);
    assert!(client.echo(&long).await >= Duration::from_millis(700));

    // 201 bytes each way, one write per byte.
    proxy.set(Fault::Slice(1));
    let writes = || proxy.stats().writes.load(Ordering::Relaxed);
    let before = writes();
    let text: String = (b'a'..=b'z').cycle().take(200).map(char::from).collect();
    client.echo(&text).await;
    assert!(writes() - before >= 402, "{} writes", writes() - before);
}

#[actix::test]
async fn a_blackhole_holds_traffic_until_healed() {
    let server = LineServer::start().await;
    let mut proxy = ChaosProxy::start(([127, 0, 0, 1], server.port).into()).await;
    let mut client = Client::connect(&proxy).await;
    proxy.set(Fault::Blackhole);
    client.lines.get_mut().write_all(b"held\n").await.unwrap();
    let mut line = String::new();
    let early = timeout(
        Duration::from_millis(500),
        client.lines.read_line(&mut line),
    )
    .await;
    assert!(early.is_err(), "nothing passes a blackhole: {line:?}");
    proxy.heal();
    assert_eq!(client.line().await, "held");
}

#[actix::test]
async fn reset_cuts_existing_connections_and_refuse_cuts_new_ones() {
    let server = LineServer::start().await;
    let proxy = ChaosProxy::start(([127, 0, 0, 1], server.port).into()).await;
    let mut old = Client::connect(&proxy).await;
    proxy.reset_all();
    assert!(is_reset(&mut old).await, "reset ends the connection");
    // After a reset, new connections forward cleanly.
    let mut fresh = Client::connect(&proxy).await;
    fresh.echo("after reset").await;

    proxy.set(Fault::Refuse);
    let mut refused = Client {
        lines: BufReader::new(TcpStream::connect(proxy.addr()).await.unwrap()),
    };
    assert!(is_reset(&mut refused).await, "refused connections are cut");
    // Existing connections keep working.
    fresh.echo("still here").await;
}

#[actix::test]
async fn the_schedule_is_deterministic_and_dropping_the_proxy_ends_every_connection() {
    let server = LineServer::start().await;
    let upstream = ([127, 0, 0, 1], server.port).into();
    let mut a = XorShift::new(7);
    let mut b = XorShift::new(7);
    let mut c = XorShift::new(8);
    let (xs, ys, zs): (Vec<_>, Vec<_>, Vec<_>) = (0..32)
        .map(|_| (a.next_u64(), b.next_u64(), c.next_u64()))
        .fold(
            (vec![], vec![], vec![]),
            |(mut x, mut y, mut z), (p, q, r)| {
                x.push(p);
                y.push(q);
                z.push(r);
                (x, y, z)
            },
        );
    assert_eq!(xs, ys);
    assert_ne!(xs, zs);

    let mut proxy = ChaosProxy::start(upstream).await;
    let mut client = Client::connect(&proxy).await;
    proxy.run_schedule(3);
    // A few steps get applied and logged.
    let deadline = Instant::now() + WAIT;
    while proxy.log().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(proxy.log().len() >= 3, "{:?}", proxy.log());
    drop(proxy);
    assert!(is_reset(&mut client).await, "dropping the proxy ends it");
}
