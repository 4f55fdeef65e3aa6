//! Chaos: WebSocket and SSE endpoints, each behind its own fault-injecting
//! proxy (latency, throttling, 1-byte slicing, resets, blackholes and
//! refusals picked at random), recover once the faults stop: all up and
//! flowing again within a bound, no panic, no descriptor leaked, SSE ids
//! with no gap and no repeat, and every send settled.
//!
//! Scales through environment variables (defaults in brackets):
//! `CHAOS_ENDPOINTS` [50, half WebSocket, half SSE], `CHAOS_SECS` [15 s of
//! faults], `CHAOS_SEED` [1], `CHAOS_RECOVERY_SECS` [20, the bound on
//! recovery after healing]; `CHAOS_REPORT=1` prints the figures
//! (`bench/chaos.sh` runs the long version).
//!
//! Keep this file to this one test: the descriptor count is per process,
//! and a second test running alongside would move it.

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    str::FromStr,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, SystemTime},
};

use actix::Addr;
use actix_tether::{
    BackoffConfig, ConnectionState, Delivered, EndpointBuilder, EndpointConfig, EndpointHandle,
    ErrorCategory, GetEndpoint, GetStatus, MessageReceived, RemoveEndpoint, SendOptions, Shutdown,
    StatusChanged, SupervisorActor,
};
use common::{chaos::*, sse_server::*, *};
use futures::future::join_all;
use tokio::{
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
    time::Instant,
};

/// Ping every 500 ms; three missed (1.5 s of silence) declare a half-open peer.
const HEARTBEAT: Duration = Duration::from_millis(500);
const SILENCE: Duration = Duration::from_millis(1500);
/// The SSE server's event rate per connection.
const TICK: Duration = Duration::from_millis(50);
/// Every WebSocket endpoint sends one acknowledged message this often.
const SEND_EVERY: Duration = Duration::from_millis(250);
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Panics anywhere in the process (actor threads included).
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Params {
    endpoints: usize,
    chaos: Duration,
    seed: u64,
    recovery: Duration,
    report: bool,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

impl Params {
    fn from_env() -> Self {
        Self {
            endpoints: env_or("CHAOS_ENDPOINTS", 50_usize).max(2),
            chaos: Duration::from_secs(env_or("CHAOS_SECS", 15)),
            seed: env_or("CHAOS_SEED", 1),
            recovery: Duration::from_secs(env_or("CHAOS_RECOVERY_SECS", 20)),
            report: std::env::var_os("CHAOS_REPORT").is_some(),
        }
    }
}

/// Open descriptors of this process; `None` where /proc is not available.
fn descriptors() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count())
}

/// Peak resident memory (VmHWM) in kB, where /proc is available.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ws,
    Sse,
}

/// One endpoint, its proxy and what the test saw of it.
struct Endpoint {
    name: String,
    kind: Kind,
    proxy: ChaosProxy,
    handle: Option<EndpointHandle>,
    state: ConnectionState,
    /// When it last came up.
    up_since: Option<SystemTime>,
    /// SSE: the last event id seen.
    last_id: u64,
    /// Traffic arrived after healing (an SSE event, an acknowledgement).
    flowed_after_heal: bool,
}

/// A send's final outcome: refused at once, or its receipt's outcome.
type Settled = (usize, Instant, actix_tether::Result<Delivered>);

struct World {
    params: Params,
    events: Events,
    endpoints: Vec<Endpoint>,
    by_name: HashMap<String, usize>,
    settled_tx: UnboundedSender<Settled>,
    settled: UnboundedReceiver<Settled>,
    sends: u64,
    next_message: u64,
    /// Outcomes by name (`acknowledged`, `written`, or an error category).
    outcomes: BTreeMap<&'static str, u64>,
    sse_events: u64,
    /// SSE endpoint, expected id, id received.
    id_faults: Vec<(String, u64, u64)>,
    /// Heartbeat verdicts after a blackhole that started while the endpoint was up.
    half_open: Vec<Duration>,
    /// Why connections were lost, by error category.
    losses: BTreeMap<&'static str, u64>,
    healed_at: Option<Instant>,
}

/// The WebSocket endpoint's settings: fast heartbeat and backoff, acked sends.
fn ws_config(url: &str) -> EndpointBuilder {
    quick(EndpointConfig::websocket(url)).acknowledged(
        |p| p.as_text()?.strip_prefix("ack ").map(str::to_owned),
        ACK_TIMEOUT,
    )
}

fn quick(builder: EndpointBuilder) -> EndpointBuilder {
    builder
        .heartbeat_interval(HEARTBEAT)
        .heartbeat_timeout(SILENCE)
        .connect_timeout(Duration::from_secs(2))
        .close_timeout(Duration::from_secs(1))
        .protocol_fault_delay(Duration::from_millis(200))
        .backoff(BackoffConfig::Exponential {
            initial: Duration::from_millis(50),
            multiplier: 2.0,
            max: Duration::from_millis(500),
            jitter: true,
        })
}

impl World {
    fn all_up(&self) -> bool {
        self.endpoints.iter().all(|e| e.state.is_up())
    }

    fn all_flowing(&self) -> bool {
        self.all_up() && self.endpoints.iter().all(|e| e.flowed_after_heal)
    }

    fn pending(&self) -> u64 {
        self.sends - self.outcomes.values().sum::<u64>()
    }

    /// Handles events (and sends, if `sending`) until `done` or `deadline`;
    /// returns whether `done` held.
    async fn run(&mut self, deadline: Instant, sending: bool, done: fn(&World) -> bool) -> bool {
        let mut tick = tokio::time::interval(SEND_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            if done(self) {
                return true;
            }
            tokio::select! {
                Some(e) = self.events.status.recv() => self.on_status(e),
                Some(m) = self.events.messages.recv() => self.on_message(m),
                Some(s) = self.settled.recv() => self.on_settled(s),
                _ = tick.tick(), if sending => self.send_round(),
                () = tokio::time::sleep_until(deadline) => return done(self),
            }
        }
    }

    fn on_status(&mut self, e: StatusChanged) {
        let Some(&i) = self.by_name.get(e.endpoint.as_str()) else {
            return;
        };
        let endpoint = &mut self.endpoints[i];
        endpoint.state = e.to;
        if e.to.is_up() && !e.from.is_up() {
            endpoint.up_since = Some(e.at);
        }
        if e.from.is_up() && !e.to.is_up() {
            if let Some(reason) = &e.reason {
                *self.losses.entry(reason.category().name()).or_default() += 1;
                if reason.category() == ErrorCategory::Heartbeat {
                    if let Some(t) = half_open_detection(endpoint, e.at) {
                        self.half_open.push(t);
                    }
                }
            }
            endpoint.up_since = None;
        }
    }

    fn on_message(&mut self, m: MessageReceived) {
        let Some(&i) = self.by_name.get(m.endpoint.as_str()) else {
            return;
        };
        let endpoint = &mut self.endpoints[i];
        let Some(event) = m.payload.as_event() else {
            return;
        };
        let id: u64 = event
            .id()
            .and_then(|id| id.parse().ok())
            .expect("ticker events carry numeric ids");
        self.sse_events += 1;
        if id != endpoint.last_id + 1 {
            self.id_faults
                .push((endpoint.name.clone(), endpoint.last_id + 1, id));
        }
        endpoint.last_id = endpoint.last_id.max(id);
        if self.healed_at.is_some() {
            endpoint.flowed_after_heal = true;
        }
    }

    fn on_settled(&mut self, (i, sent_at, outcome): Settled) {
        let name = match &outcome {
            Ok(Delivered::Acknowledged { .. }) => "acknowledged",
            Ok(Delivered::Written { .. }) => "written",
            Err(e) => e.category().name(),
        };
        *self.outcomes.entry(name).or_default() += 1;
        let after_heal = self.healed_at.is_some_and(|at| sent_at >= at);
        if after_heal && matches!(outcome, Ok(Delivered::Acknowledged { .. })) {
            self.endpoints[i].flowed_after_heal = true;
        }
    }

    /// One acknowledged message to every WebSocket endpoint, each settled
    /// by its own task.
    fn send_round(&mut self) {
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let Some(handle) = endpoint.handle.clone() else {
                continue;
            };
            let id = format!("{}-{}", endpoint.name, self.next_message);
            self.next_message += 1;
            self.sends += 1;
            let settled = self.settled_tx.clone();
            actix_rt::spawn(async move {
                let sent_at = Instant::now();
                let options = SendOptions::new().ack_id(&id);
                let outcome = match handle.send_with(format!("m {id}"), options).await {
                    Ok(receipt) => receipt.outcome().await,
                    Err(refused) => Err(refused),
                };
                let _ = settled.send((i, sent_at, outcome));
            });
        }
    }
}

/// The time from the start of the blackhole the endpoint was in to its
/// heartbeat verdict at `at`, when it was up before the blackhole began.
fn half_open_detection(endpoint: &Endpoint, at: SystemTime) -> Option<Duration> {
    let log = endpoint.proxy.log();
    let before: Vec<_> = log.iter().take_while(|(t, _)| *t <= at).collect();
    // The blackhole began at the first of the trailing run of Blackhole steps.
    let began = before
        .iter()
        .rev()
        .take_while(|(_, step)| *step == Step::Set(Fault::Blackhole))
        .last()
        .map(|(t, _)| *t)?;
    let up_before = endpoint.up_since.is_some_and(|up| up <= began);
    if !up_before {
        return None;
    }
    at.duration_since(began).ok()
}

/// How many runs of Blackhole steps in `log` lasted longer than `least`.
fn blackholes_longer_than(log: &[(SystemTime, Step)], least: Duration) -> usize {
    let mut runs = 0;
    let mut began = None;
    for (at, step) in log {
        match (step, began) {
            (Step::Set(Fault::Blackhole), None) => began = Some(*at),
            (Step::Set(Fault::Blackhole), Some(_)) => {}
            (_, Some(start)) => {
                if at.duration_since(start).unwrap_or_default() > least {
                    runs += 1;
                }
                began = None;
            }
            (_, None) => {}
        }
    }
    runs
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

/// What the run measured, for the report.
#[derive(Debug, Default)]
struct Figures {
    up_after: Duration,
    flowing_after: Duration,
    reconnects: u64,
    descriptors: Option<(usize, usize)>,
    long_blackholes: usize,
}

impl World {
    /// One proxy per endpoint, alternately in front of the WebSocket and
    /// the SSE server; no endpoint added yet.
    async fn new(params: Params, events: Events, ws_port: u16, sse_port: u16) -> Self {
        let mut endpoints = Vec::new();
        for i in 0..params.endpoints {
            let (kind, port, name) = if i % 2 == 0 {
                (Kind::Ws, ws_port, format!("ws-{i:03}"))
            } else {
                (Kind::Sse, sse_port, format!("sse-{i:03}"))
            };
            endpoints.push(Endpoint {
                name,
                kind,
                proxy: ChaosProxy::start(([127, 0, 0, 1], port).into()).await,
                handle: None,
                state: ConnectionState::Disconnected,
                up_since: None,
                last_id: 0,
                flowed_after_heal: false,
            });
        }
        let by_name = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let (settled_tx, settled) = unbounded_channel();
        Self {
            params,
            events,
            endpoints,
            by_name,
            settled_tx,
            settled,
            sends: 0,
            next_message: 0,
            outcomes: BTreeMap::new(),
            sse_events: 0,
            id_faults: Vec::new(),
            half_open: Vec::new(),
            losses: BTreeMap::new(),
            healed_at: None,
        }
    }

    /// Adds every endpoint through its proxy and waits until all are up.
    async fn connect_all(&mut self, supervisor: &Addr<SupervisorActor>) {
        for endpoint in &mut self.endpoints {
            let port = endpoint.proxy.port;
            let config = match endpoint.kind {
                Kind::Ws => ws_config(&format!("ws://127.0.0.1:{port}/ws")),
                Kind::Sse => quick(EndpointConfig::sse(format!(
                    "http://127.0.0.1:{port}/events"
                ))),
            };
            add(supervisor, &endpoint.name, config.build().unwrap()).await;
            if endpoint.kind == Kind::Ws {
                let handle = supervisor.send(GetEndpoint::new(endpoint.name.as_str()));
                endpoint.handle = Some(handle.await.unwrap().unwrap());
            }
        }
        let connected = self
            .run(Instant::now() + 2 * WAIT, false, World::all_up)
            .await;
        assert!(connected, "not every endpoint connected before the chaos");
    }

    /// Random faults on every proxy, each on its own seeded schedule,
    /// while sending.
    async fn chaos(&mut self) {
        let seed = self.params.seed;
        for (i, endpoint) in (0u64..).zip(self.endpoints.iter_mut()) {
            endpoint
                .proxy
                .run_schedule(seed.wrapping_mul(1000).wrapping_add(i));
        }
        let end = Instant::now() + self.params.chaos;
        self.run(end, true, |_| false).await;
    }

    /// Heals every proxy; all must be up, then flowing, within the bound.
    async fn recover(&mut self, figures: &mut Figures) {
        for endpoint in &mut self.endpoints {
            endpoint.proxy.heal();
        }
        let healed_at = Instant::now();
        self.healed_at = Some(healed_at);
        let bound = healed_at + self.params.recovery;
        let all_up = self.run(bound, true, World::all_up).await;
        figures.up_after = healed_at.elapsed();
        let flowing = self.run(bound, true, World::all_flowing).await;
        figures.flowing_after = healed_at.elapsed();
        let stuck: Vec<_> = self
            .endpoints
            .iter()
            .filter(|e| !e.state.is_up() || !e.flowed_after_heal)
            .map(|e| (e.name.as_str(), e.state, e.flowed_after_heal))
            .collect();
        assert!(
            all_up && flowing,
            "not all up and flowing {:?} after healing: {stuck:?}",
            self.params.recovery
        );
    }

    /// No actor died: every endpoint answers, and is up.
    async fn check_alive(&self, supervisor: &Addr<SupervisorActor>, figures: &mut Figures) {
        for endpoint in &self.endpoints {
            let status = supervisor
                .send(GetStatus::new(endpoint.name.as_str()))
                .await
                .expect("supervisor alive")
                .expect("connection actor alive");
            assert!(status.state.is_up(), "{}: {}", endpoint.name, status.state);
            figures.reconnects += status.generation - 1;
        }
    }

    /// Removes every endpoint; then every send must settle.
    async fn remove_all(&mut self, supervisor: &Addr<SupervisorActor>) {
        let removals = self
            .endpoints
            .iter()
            .map(|e| supervisor.send(RemoveEndpoint::new(e.name.as_str())));
        for removed in join_all(removals).await {
            removed.unwrap().unwrap();
        }
        let settle_by = Instant::now() + ACK_TIMEOUT + WAIT;
        let settled = self.run(settle_by, false, |w| w.pending() == 0).await;
        assert!(
            settled,
            "{} of {} sends never settled: {:?}",
            self.pending(),
            self.sends,
            self.outcomes
        );
        for endpoint in &mut self.endpoints {
            endpoint.handle = None;
        }
    }

    /// Waits (bounded) until the proxies hold no connection and the
    /// descriptor count is back to `before`; returns the count.
    async fn descriptors_back_to(&self, before: usize) -> usize {
        let idle = || {
            self.endpoints
                .iter()
                .all(|e| e.proxy.stats().live.load(Ordering::SeqCst) == 0)
        };
        let deadline = Instant::now() + WAIT;
        let mut after = descriptors().unwrap_or(usize::MAX);
        while (after > before || !idle()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            after = descriptors().unwrap_or(usize::MAX);
        }
        assert!(after <= before, "descriptors grew from {before} to {after}");
        after
    }

    /// SSE ids ran without gap or repeat; long blackholes on live
    /// connections were declared dead, in time.
    fn check_streams_and_heartbeats(&mut self, figures: &mut Figures) {
        assert!(
            self.id_faults.is_empty(),
            "{} SSE ids out of sequence (endpoint, expected, got), first: {:?}",
            self.id_faults.len(),
            &self.id_faults[..self.id_faults.len().min(10)]
        );
        self.half_open.sort_unstable();
        figures.long_blackholes = self
            .endpoints
            .iter()
            .map(|e| blackholes_longer_than(&e.proxy.log(), SILENCE + HEARTBEAT))
            .sum();
        // Some of them fell on live connections, which the heartbeat must
        // have declared dead.
        assert!(
            figures.long_blackholes < 3 || !self.half_open.is_empty(),
            "{} long blackholes and not one half-open connection detected",
            figures.long_blackholes
        );
        if let Some(slowest) = self.half_open.last() {
            // Silence for SILENCE, noticed at the next check: allow for load.
            assert!(
                *slowest <= SILENCE * 3,
                "half-open detected only after {slowest:?}"
            );
        }
    }

    fn report(&self, figures: &Figures, wall: Duration) {
        let count = |kind| self.endpoints.iter().filter(|e| e.kind == kind).count();
        let steps: usize = self.endpoints.iter().map(|e| e.proxy.log().len()).sum();
        let proxied: u64 = self
            .endpoints
            .iter()
            .map(|e| e.proxy.stats().accepted.load(Ordering::Relaxed))
            .sum();
        let half_open = &self.half_open;
        println!("## chaos figures");
        println!(
            "endpoints: {} ({} WebSocket, {} SSE)",
            self.endpoints.len(),
            count(Kind::Ws),
            count(Kind::Sse)
        );
        println!(
            "faults: {:?}, seed {}, {steps} fault steps, {proxied} proxied connections",
            self.params.chaos, self.params.seed
        );
        println!(
            "all up after healing: {:.2?}; all flowing: {:.2?}",
            figures.up_after, figures.flowing_after
        );
        println!(
            "half-open detections: {} (min {:.2?}, median {:.2?}, p95 {:.2?}, max {:.2?})",
            half_open.len(),
            half_open.first().copied().unwrap_or_default(),
            percentile(half_open, 50),
            percentile(half_open, 95),
            half_open.last().copied().unwrap_or_default(),
        );
        println!(
            "blackholes over {:?}: {}",
            SILENCE + HEARTBEAT,
            figures.long_blackholes
        );
        println!("connections lost, by reason: {:?}", self.losses);
        println!("reconnects (successful): {}", figures.reconnects);
        println!(
            "SSE events checked: {} (0 gaps or repeats)",
            self.sse_events
        );
        println!("sends: {}, outcomes: {:?}", self.sends, self.outcomes);
        match figures.descriptors {
            Some((before, after)) => println!("descriptors: {before} -> {after}"),
            None => println!("descriptors: not measured (no /proc)"),
        }
        match peak_rss_kb() {
            Some(kb) => println!("peak RSS: {:.1} MB", kb as f64 / 1024.0),
            None => println!("peak RSS: not measured (no /proc)"),
        }
        println!("wall time: {wall:.1?}");
    }
}

#[actix::test]
async fn endpoints_recover_from_random_faults_with_nothing_leaked_lost_or_repeated() {
    count_panics();
    let started = Instant::now();
    let ws_server = TestServer::start().await;
    let sse_server = SseServer::start(SseMode::Ticker { every: TICK }).await;
    let supervisor = supervisor();
    let events = Events::start();
    events.subscribe_all(&supervisor).await;
    let mut world = World::new(Params::from_env(), events, ws_server.port, sse_server.port).await;
    // Everything but the endpoints is running: this is the baseline.
    let fds_before = descriptors();
    let mut figures = Figures::default();

    world.connect_all(&supervisor).await;
    world.chaos().await;
    world.recover(&mut figures).await;
    world.check_alive(&supervisor, &mut figures).await;
    world.remove_all(&supervisor).await;
    if let Some(before) = fds_before {
        let after = world.descriptors_back_to(before).await;
        figures.descriptors = Some((before, after));
    }
    supervisor.send(Shutdown).await.unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a thread panicked");
    world.check_streams_and_heartbeats(&mut figures);

    if world.params.report {
        world.report(&figures, started.elapsed());
    }
    drop((ws_server, sse_server));
}
