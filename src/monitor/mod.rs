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

mod batch;
mod groups;
mod health;
mod stats;

use std::{
    collections::HashMap,
    time::{Instant, SystemTime},
};

use actix::{Actor, Context, Handler, Message, MessageResult, Recipient};

pub(crate) use self::{batch::send_soon, stats::Samples};
use self::{groups::GroupWatch, stats::EndpointStats};
pub use self::{
    groups::{GroupHealth, GroupStatusChanged},
    health::{HealthBand, BAND_MARGIN, ERRORS_PER_MINUTE_BAD, LATENCY_BAD, LATENCY_GOOD},
    stats::{
        Attempts, EndpointHealth, Heartbeats, Inbound, LastError, LatencySummary, RttHistogram,
        Traffic, LATENCY_WINDOW, RECENT_RTTS, RTT_BUCKETS,
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
    groups: GroupWatch,
}

impl MonitorActor {
    /// Re-reads the groups `endpoint` is in after its figures changed.
    fn endpoint_changed(&mut self, endpoint: &EndpointId, now: Instant) {
        // Most endpoints are in no group: no score to compute per flush.
        if !self.groups.watches(endpoint) {
            return;
        }
        if let Some(stats) = self.endpoints.get(endpoint) {
            self.groups.on_endpoint(endpoint, stats.score(now));
        }
    }
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
    /// Every group's figures, by name (empty when the report is for one
    /// endpoint).
    pub groups: Vec<GroupHealth>,
    /// When the report was made.
    pub at: SystemTime,
}

impl HealthReport {
    /// The figures of one endpoint.
    pub fn endpoint(&self, id: &str) -> Option<&EndpointHealth> {
        self.endpoints.iter().find(|e| e.endpoint.as_str() == id)
    }
}

/// Counters flushed by connection actors: one, or a thread's batch.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SamplesObserved {
    pub(crate) batch: Vec<(EndpointId, Samples)>,
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
        let now = Instant::now();
        self.endpoints
            .entry(event.endpoint.clone())
            .or_default()
            .on_status(&event, now);
        self.endpoint_changed(&event.endpoint, now);
    }
}

impl Handler<SamplesObserved> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: SamplesObserved, _: &mut Context<Self>) {
        let now = Instant::now();
        for (endpoint, samples) in msg.batch {
            self.endpoints
                .entry(endpoint.clone())
                .or_default()
                .on_samples(samples, now);
            self.endpoint_changed(&endpoint, now);
        }
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
        let groups = match msg.endpoint {
            Some(_) => Vec::new(),
            None => self.groups.report(),
        };
        MessageResult(HealthReport {
            endpoints,
            overall,
            groups,
            at: SystemTime::now(),
        })
    }
}

/// A group's members, for its health and events.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct GroupMembers {
    pub(crate) group: String,
    pub(crate) members: Vec<EndpointId>,
}

impl Handler<GroupMembers> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: GroupMembers, _: &mut Context<Self>) {
        let now = Instant::now();
        let endpoints = &self.endpoints;
        self.groups.set_members(msg.group, msg.members, |id| {
            endpoints.get(id).map(|stats| stats.score(now))
        });
    }
}

/// A group was removed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct GroupRemoved {
    pub(crate) group: String,
}

impl Handler<GroupRemoved> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: GroupRemoved, _: &mut Context<Self>) {
        self.groups.remove(&msg.group);
    }
}

/// Subscribes to every group's [`GroupStatusChanged`]; send it to the
/// supervisor (or to its monitor).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SubscribeGroups(pub Recipient<GroupStatusChanged>);

impl Handler<SubscribeGroups> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: SubscribeGroups, _: &mut Context<Self>) {
        self.groups.subscribe(msg.0);
    }
}

/// Ends a [`SubscribeGroups`] subscription (a recipient whose actor
/// stopped is dropped without it); send it to the supervisor or its
/// monitor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct UnsubscribeGroups(pub Recipient<GroupStatusChanged>);

impl Handler<UnsubscribeGroups> for MonitorActor {
    type Result = ();

    fn handle(&mut self, msg: UnsubscribeGroups, _: &mut Context<Self>) {
        self.groups.unsubscribe(&msg.0);
    }
}
