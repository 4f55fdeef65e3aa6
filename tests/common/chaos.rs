//! A fault-injecting TCP proxy on 127.0.0.1:0 in front of one upstream
//! address, for chaos tests.
//!
//! Each accepted connection gets its own upstream connection and one task
//! that forwards both directions through one bounded buffer each
//! ([`CHUNK`] bytes). The current [`Fault`] applies to new and existing
//! connections alike and can be switched at any time from the test
//! ([`ChaosProxy::set`], [`ChaosProxy::heal`], [`ChaosProxy::reset_all`]) or
//! by a seeded random [`ChaosProxy::run_schedule`]. Dropping the proxy ends
//! every task it started: the accept loop and the schedule are aborted, and
//! connection tasks see the fault channel close and drop their sockets.

use std::{
    io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, Weak,
    },
    time::{Duration, SystemTime},
};

use actix_rt::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::watch,
};

/// The most bytes a connection holds per direction.
pub const CHUNK: usize = 4096;

/// The most schedule steps the proxy remembers.
const LOG_LIMIT: usize = 100_000;

/// What the proxy does to traffic, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward as fast as the sockets allow.
    Clean,
    /// Hold every chunk this long before writing it on.
    Latency(Duration),
    /// At most this many bytes per second per direction.
    Throttle(u32),
    /// Write at most this many bytes at a time (1: byte by byte).
    Slice(usize),
    /// Keep every socket open, forward nothing in either direction.
    Blackhole,
    /// Accept new connections and reset them at once; existing ones forward
    /// as under `Clean`.
    Refuse,
}

/// One step of a schedule, as the proxy's log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The fault in force from now on.
    Set(Fault),
    /// Every existing connection was reset (then `Clean` forwarding).
    Reset,
}

/// Hand-written xorshift64: deterministic, seedable, no dependencies.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // Scramble so neighbouring seeds diverge at once; never zero.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        if x == 0 {
            x = 1;
        }
        let mut rng = Self(x);
        for _ in 0..4 {
            rng.next_u64();
        }
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The state every connection task watches.
#[derive(Debug, Clone, Copy)]
struct State {
    fault: Fault,
    /// Bumped by `reset_all`: connections opened before the bump reset.
    resets: u64,
}

/// Counters, readable while the proxy runs.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections the proxy ended with a reset (fault, refusal, failed
    /// upstream connect).
    pub reset: AtomicU64,
    /// Bytes forwarded, both directions.
    pub bytes: AtomicU64,
    /// Writes made to forward them.
    pub writes: AtomicU64,
    /// Connection tasks still running.
    pub live: AtomicUsize,
}

/// A fault-injecting TCP proxy; see the module docs.
#[derive(Debug)]
pub struct ChaosProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    state: Arc<watch::Sender<State>>,
    stats: Arc<ProxyStats>,
    log: Arc<Mutex<Vec<(SystemTime, Step)>>>,
    accept: JoinHandle<()>,
    schedule: Option<JoinHandle<()>>,
}

impl ChaosProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`, cleanly at first.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind chaos proxy");
        let port = listener.local_addr().unwrap().port();
        let (state, watch) = watch::channel(State {
            fault: Fault::Clean,
            resets: 0,
        });
        let stats = Arc::new(ProxyStats::default());
        let accept = actix_rt::spawn({
            let stats = Arc::clone(&stats);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                    let conn = serve(client, upstream, watch.clone(), Arc::clone(&stats));
                    actix_rt::spawn(conn);
                }
            }
        });
        Self {
            port,
            state: Arc::new(state),
            stats,
            log: Arc::default(),
            accept,
            schedule: None,
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Applies `fault` to new and existing connections.
    pub fn set(&self, fault: Fault) {
        apply(&self.state, &self.log, Step::Set(fault));
    }

    /// Resets every existing connection (RST, not FIN), then forwards
    /// cleanly.
    pub fn reset_all(&self) {
        apply(&self.state, &self.log, Step::Reset);
    }

    /// Stops the schedule, if any, and forwards cleanly again.
    pub fn heal(&mut self) {
        if let Some(schedule) = self.schedule.take() {
            schedule.abort();
        }
        self.set(Fault::Clean);
    }

    /// Picks a random step every 0.2 to 3 seconds, forever (until
    /// [`heal`](Self::heal) or drop), deterministically from `seed`.
    pub fn run_schedule(&mut self, seed: u64) {
        if let Some(schedule) = self.schedule.take() {
            schedule.abort();
        }
        let state = Arc::downgrade(&self.state);
        let log = Arc::clone(&self.log);
        self.schedule = Some(actix_rt::spawn(schedule(state, log, XorShift::new(seed))));
    }

    /// The counters.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// Every step applied so far, with its wall-clock time.
    pub fn log(&self) -> Vec<(SystemTime, Step)> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(schedule) = self.schedule.take() {
            schedule.abort();
        }
        // Dropping `state` closes the channel: connection tasks end.
    }
}

fn apply(state: &watch::Sender<State>, log: &Mutex<Vec<(SystemTime, Step)>>, step: Step) {
    state.send_modify(|s| match step {
        Step::Set(fault) => s.fault = fault,
        Step::Reset => {
            s.resets += 1;
            s.fault = Fault::Clean;
        }
    });
    let mut log = log.lock().unwrap();
    if log.len() < LOG_LIMIT {
        log.push((SystemTime::now(), step));
    }
}

/// One random step and how long it holds.
fn pick(rng: &mut XorShift) -> (Step, Duration) {
    let ms = |rng: &mut XorShift, lo, hi| Duration::from_millis(rng.between(lo, hi));
    match rng.next_u64() % 7 {
        0 => (Step::Set(Fault::Clean), ms(rng, 200, 1500)),
        1 => {
            let delay = ms(rng, 20, 400);
            (Step::Set(Fault::Latency(delay)), ms(rng, 300, 2000))
        }
        2 => {
            let rate = u32::try_from(rng.between(256, 8192)).unwrap();
            (Step::Set(Fault::Throttle(rate)), ms(rng, 300, 2000))
        }
        3 => {
            let bytes = if rng.next_u64().is_multiple_of(2) {
                1
            } else {
                usize::try_from(rng.between(2, 16)).unwrap()
            };
            (Step::Set(Fault::Slice(bytes)), ms(rng, 300, 2000))
        }
        4 => (Step::Reset, ms(rng, 200, 1000)),
        5 => (Step::Set(Fault::Blackhole), ms(rng, 500, 3000)),
        _ => (Step::Set(Fault::Refuse), ms(rng, 200, 1500)),
    }
}

async fn schedule(
    state: Weak<watch::Sender<State>>,
    log: Arc<Mutex<Vec<(SystemTime, Step)>>>,
    mut rng: XorShift,
) {
    loop {
        let (step, hold) = pick(&mut rng);
        match state.upgrade() {
            Some(state) => apply(&state, &log, step),
            None => return,
        }
        tokio::time::sleep(hold).await;
    }
}

/// How a connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Both directions reached end of stream.
    Finished,
    /// A socket failed, a fault reset it, or the proxy was dropped.
    Reset,
}

/// Marks a connection task live for as long as it exists.
struct Live(Arc<ProxyStats>);

impl Live {
    fn new(stats: &Arc<ProxyStats>) -> Self {
        stats.live.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(stats))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sets SO_LINGER to zero, so dropping the socket sends RST.
fn abort_on_drop(stream: &TcpStream) {
    // Deprecated because a non-zero linger blocks the thread on drop; a zero
    // linger never does. (`set_zero_linger` needs tokio 1.50; this works
    // with any tokio 1.x.)
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mut watch: watch::Receiver<State>,
    stats: Arc<ProxyStats>,
) {
    let _live = Live::new(&stats);
    let State { fault, resets } = *watch.borrow_and_update();
    let connect = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream));
    let server = match (fault, connect.await) {
        (Fault::Refuse, _) | (_, Err(_) | Ok(Err(_))) => {
            stats.reset.fetch_add(1, Ordering::Relaxed);
            abort_on_drop(&client);
            return;
        }
        (_, Ok(Ok(server))) => server,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client, mut server) = (client, server);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let up = pump(&mut client_read, &mut server_write, watch.clone(), &stats);
        let down = pump(&mut server_read, &mut client_write, watch.clone(), &stats);
        tokio::select! {
            both = async { tokio::try_join!(up, down) } => match both {
                Ok(_) => End::Finished,
                Err(_) => End::Reset,
            },
            () = reset_after(&mut watch, resets) => End::Reset,
        }
    };
    if end == End::Reset {
        stats.reset.fetch_add(1, Ordering::Relaxed);
        abort_on_drop(&client);
        abort_on_drop(&server);
    }
}

/// Returns once a reset newer than `seen` is asked for, or the proxy is gone.
async fn reset_after(watch: &mut watch::Receiver<State>, seen: u64) {
    loop {
        if watch.borrow_and_update().resets > seen {
            return;
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// The current fault, once it is not `Blackhole`.
async fn unblocked(watch: &mut watch::Receiver<State>) -> io::Result<Fault> {
    loop {
        let fault = watch.borrow_and_update().fault;
        if fault != Fault::Blackhole {
            return Ok(fault);
        }
        if watch.changed().await.is_err() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "proxy dropped",
            ));
        }
    }
}

/// Forwards one direction until end of stream (then half-closes the other
/// side) or an error.
async fn pump(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    mut watch: watch::Receiver<State>,
    stats: &ProxyStats,
) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    loop {
        unblocked(&mut watch).await?;
        let n = from.read(&mut buf).await?;
        if n == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let piece = match unblocked(&mut watch).await? {
                Fault::Clean | Fault::Refuse | Fault::Blackhole => rest.len(),
                Fault::Latency(delay) => {
                    tokio::time::sleep(delay).await;
                    unblocked(&mut watch).await?;
                    rest.len()
                }
                Fault::Throttle(rate) => {
                    // Twenty pieces a second at most, each paid for in time.
                    let piece = rest.len().min((rate as usize / 20).max(1));
                    let secs = piece as f64 / f64::from(rate.max(1));
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                    unblocked(&mut watch).await?;
                    piece
                }
                Fault::Slice(bytes) => rest.len().min(bytes.max(1)),
            };
            to.write_all(&rest[..piece]).await?;
            stats.bytes.fetch_add(piece as u64, Ordering::Relaxed);
            stats.writes.fetch_add(1, Ordering::Relaxed);
            rest = &rest[piece..];
        }
    }
}
