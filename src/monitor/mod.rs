//! `MonitorActor`: folds latency, error, traffic and state samples from the
//! connection actors into per-endpoint statistics and health scores.
//!
//! Connection actors report state changes and errors as they happen, and
//! accumulate RTT, heartbeat and traffic counters locally, flushing them at
//! most once per heartbeat tick (and on every state change), so the monitor
//! costs nothing per message. Per-second rates therefore cover the period
//! between two flushes.
//!
//! # Health score
//! ```text
//! score = 100 x state x (0.5 x heartbeat + 0.25 x errors + 0.25 x latency)
//! ```
//! `state` is 1 when connected, 0.5 while (re)connecting or closing, 0 when
//! failed or closed; `heartbeat` is the share of the last 32 heartbeats that
//! were answered; `errors` falls linearly from 1 to 0 as errors in the last
//! minute go from 0 to 10; `latency` falls linearly from 1 to 0 as the p95 RTT
//! goes from 100 ms to 2 s. The overall score is the mean over endpoints.

mod health;
mod stats;

use std::{
    collections::HashMap,
    time::{Instant, SystemTime},
};

use actix::{Actor, Context, Handler, Message, MessageResult};

use self::stats::EndpointStats;
pub(crate) use self::stats::Samples;
pub use self::{
    health::{ERRORS_PER_MINUTE_BAD, LATENCY_BAD, LATENCY_GOOD},
    stats::{
        Attempts, EndpointHealth, Heartbeats, Inbound, LatencySummary, Traffic, LATENCY_WINDOW,
    },
};
use crate::{EndpointId, StatusChanged};

/// Collects samples and answers [`GetHealthReport`].
///
/// The [`SupervisorActor`](crate::SupervisorActor) starts one and feeds it; get
/// its address with [`GetMonitor`](crate::GetMonitor) to query it directly.
#[derive(Debug, Default)]
pub struct MonitorActor {
    endpoints: HashMap<EndpointId, EndpointStats>,
}

impl Actor for MonitorActor {
    type Context = Context<Self>;
}

/// Asks for the health of every endpoint, or of one.
#[derive(Debug, Clone, Default, Message)]
#[rtype(result = "HealthReport")]
pub struct GetHealthReport {
    /// Only this endpoint; `None` for all.
    pub endpoint: Option<EndpointId>,
}

/// The monitor's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// Per-endpoint figures, sorted by endpoint id.
    pub endpoints: Vec<EndpointHealth>,
    /// Mean score over the endpoints in the report (100 with none).
    pub overall: u8,
    /// When the report was made.
    pub at: SystemTime,
}

impl HealthReport {
    /// The figures of one endpoint.
    pub fn endpoint(&self, id: &str) -> Option<&EndpointHealth> {
        self.endpoints.iter().find(|e| e.endpoint.as_str() == id)
    }
}

/// Counters flushed by a connection actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SamplesObserved {
    pub(crate) endpoint: EndpointId,
    pub(crate) samples: Samples,
}

/// An endpoint was removed: forget its figures.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct EndpointRemoved {
    pub(crate) endpoint: EndpointId,
}

impl Handler<StatusChanged> for MonitorActor {
    type Result = ();

    fn handle(&mut self, event: StatusChanged, _: &mut Context<Self>) {
        self.endpoints
            .entry(event.endpoint.clone())
            .or_default()
            .on_status(&event, Instant::now());
    }
}

impl Handler<SamplesObserved> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: SamplesObserved, _: &mut Context<Self>) {
        self.endpoints
            .entry(msg.endpoint)
            .or_default()
            .on_samples(msg.samples, Instant::now());
    }
}

impl Handler<EndpointRemoved> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: EndpointRemoved, _: &mut Context<Self>) {
        self.endpoints.remove(&msg.endpoint);
    }
}

impl Handler<GetHealthReport> for MonitorActor {
    type Result = MessageResult<GetHealthReport>;

    fn handle(&mut self, msg: GetHealthReport, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let mut endpoints: Vec<EndpointHealth> = self
            .endpoints
            .iter()
            .filter(|(id, _)| msg.endpoint.as_ref().is_none_or(|want| want == *id))
            .map(|(id, stats)| stats.report(id.clone(), now))
            .collect();
        endpoints.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        let overall = health::overall(endpoints.iter().map(|e| e.score));
        MessageResult(HealthReport {
            endpoints,
            overall,
            at: SystemTime::now(),
        })
    }
}
