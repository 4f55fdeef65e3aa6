//! One consistent view of every endpoint: the monitor's figures joined with
//! what the supervisor knows of each endpoint.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, SystemTime},
};

use actix::Addr;
use futures::future::join_all;

use crate::{
    monitor::HealthBand, EndpointHealth, EndpointId, GetAllStatuses, GetEndpoints, GetGroup,
    GetHealthReport, HealthReport, SupervisorActor, TransportKind,
};

/// How long [`Snapshot::take`] waits for each answer (the supervisor's,
/// the monitor's, the connections'): a busy supervisor makes a health probe
/// answer "unhealthy" in time rather than hang. Two seconds: far above what
/// an idle supervisor needs, below a typical probe period.
pub const DEFAULT_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Every endpoint's figures at one moment, for metrics, JSON and dashboards.
///
/// Endpoints are those the monitor has figures for, sorted by id; a removed
/// endpoint is gone from the next snapshot (so are its metric series).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// Per-endpoint views, sorted by endpoint id.
    pub endpoints: Vec<EndpointView>,
    /// Every group's figures, by name.
    pub groups: Vec<GroupView>,
    /// The mean score over the endpoints (100 with none).
    pub overall: u8,
    /// When the monitor made the report.
    pub at: SystemTime,
    /// Whether the monitor's report came (in time): when `false`, the
    /// supervisor is gone or too busy, `endpoints` and `groups` are empty
    /// and `overall` is 0, figures that describe nothing.
    pub answered: bool,
}

/// One endpoint in a [`Snapshot`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointView {
    /// The monitor's figures.
    pub health: EndpointHealth,
    /// Its URL through [`redact_url`](crate::redact_url); `None` when the
    /// endpoint was removed between the two queries of a snapshot.
    pub url: Option<String>,
    /// Its transport; `None` as for `url`.
    pub transport: Option<TransportKind>,
    /// Messages waiting in its outbox.
    pub queued: usize,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The groups it is a member of, sorted.
    pub groups: Vec<String>,
}

impl EndpointView {
    /// The endpoint's id.
    pub fn id(&self) -> &EndpointId {
        &self.health.endpoint
    }

    /// The band of its score.
    pub fn band(&self) -> HealthBand {
        HealthBand::of(self.health.score)
    }
}

/// One group in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupView {
    /// The group's name.
    pub group: String,
    /// The mean of its members' scores (100 with none).
    pub score: u8,
    /// Members up.
    pub connected: usize,
    /// Members.
    pub total: usize,
}

impl Snapshot {
    /// Asks `supervisor` (and through it the monitor and each connection)
    /// for a snapshot, waiting at most [`DEFAULT_SNAPSHOT_TIMEOUT`] for each
    /// answer; see [`take_within`](Self::take_within).
    pub async fn take(supervisor: &Addr<SupervisorActor>) -> Self {
        Self::take_within(supervisor, DEFAULT_SNAPSHOT_TIMEOUT).await
    }

    /// Asks `supervisor` for a snapshot, waiting at most `timeout` for each
    /// answer. Endpoints that do not answer (stopping) appear with the
    /// monitor's figures alone; when the monitor's report does not come in
    /// time (or the supervisor is gone), the snapshot has no endpoint and an
    /// overall score of 0: nothing is known to be healthy.
    pub async fn take_within(supervisor: &Addr<SupervisorActor>, timeout: Duration) -> Self {
        let report = supervisor.send(GetHealthReport::default()).timeout(timeout);
        let statuses = supervisor.send(GetAllStatuses).timeout(timeout);
        let entries = supervisor.send(GetEndpoints::all()).timeout(timeout);
        let (report, statuses, entries) = futures::join!(report, statuses, entries);
        let answered = report.is_ok();
        let report = report.unwrap_or_else(|_| empty_report());
        let mut statuses: HashMap<EndpointId, _> = statuses
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.endpoint.clone(), s))
            .collect();
        let mut tags: HashMap<EndpointId, _> = entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.id, e.tags))
            .collect();
        let members = group_members(supervisor, &report, timeout).await;
        let endpoints = report
            .endpoints
            .into_iter()
            .map(|health| {
                let status = statuses.remove(&health.endpoint);
                EndpointView {
                    url: status.as_ref().map(|s| s.url.clone()),
                    transport: status.as_ref().map(|s| s.transport),
                    queued: status.as_ref().map_or(0, |s| s.queued),
                    tags: tags.remove(&health.endpoint).unwrap_or_default(),
                    groups: members.get(&health.endpoint).cloned().unwrap_or_default(),
                    health,
                }
            })
            .collect();
        let groups = report
            .groups
            .into_iter()
            .map(|g| GroupView {
                group: g.group,
                score: g.score,
                connected: g.connected,
                total: g.total,
            })
            .collect();
        Self {
            endpoints,
            groups,
            overall: report.overall,
            at: report.at,
            answered,
        }
    }

    /// The band of the overall score.
    pub fn band(&self) -> HealthBand {
        HealthBand::of(self.overall)
    }
}

/// Each endpoint's groups, sorted, from the groups in `report`.
async fn group_members(
    supervisor: &Addr<SupervisorActor>,
    report: &HealthReport,
    timeout: Duration,
) -> HashMap<EndpointId, Vec<String>> {
    let lookups = report.groups.iter().map(|g| {
        supervisor
            .send(GetGroup::new(g.group.clone()))
            .timeout(timeout)
    });
    let mut members: HashMap<EndpointId, Vec<String>> = HashMap::new();
    for handle in join_all(lookups).await.into_iter().flatten().flatten() {
        for member in handle.members() {
            members
                .entry(member.id().clone())
                .or_default()
                .push(handle.name().to_owned());
        }
    }
    for groups in members.values_mut() {
        groups.sort();
        groups.dedup();
    }
    members
}

/// What a snapshot says when the supervisor is gone or too busy to answer:
/// nothing is healthy.
fn empty_report() -> HealthReport {
    HealthReport {
        endpoints: Vec::new(),
        overall: 0,
        groups: Vec::new(),
        at: SystemTime::now(),
    }
}
