//! Group health: each group's score (the mean of its members' scores), its
//! band, how many members are up, and the [`GroupStatusChanged`] event a
//! change of band, of "all connected" or of "none connected" raises.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::SystemTime,
};

use actix::{Message, Recipient};

use super::health::{overall, HealthBand};
use crate::{subscribers::Subscribers, EndpointId};

/// A group's health changed band, or all of its members came up, or the
/// last one went down (also sent once when a group is added, with its
/// state then). Subscribe with [`SubscribeGroups`](crate::SubscribeGroups).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct GroupStatusChanged {
    /// The group's name.
    pub group: String,
    /// Its score now: the mean of its members' scores (100 with none).
    pub score: u8,
    /// The score's band. It changes only once the score is more than
    /// [`BAND_MARGIN`](crate::monitor::BAND_MARGIN) points past the old
    /// band's bounds, so a score wavering at 80 or 50 raises no stream of
    /// events; until then it may differ from [`HealthBand::of`] the score.
    pub band: HealthBand,
    /// Members up (Connected or Authenticated).
    pub connected: usize,
    /// Members.
    pub total: usize,
    /// When it was noticed.
    pub at: SystemTime,
}

impl GroupStatusChanged {
    /// Every member is up (and there is at least one).
    pub fn all_connected(&self) -> bool {
        self.total > 0 && self.connected == self.total
    }

    /// No member is up.
    pub fn none_connected(&self) -> bool {
        self.connected == 0
    }
}

/// One group's figures in a [`HealthReport`](crate::HealthReport).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GroupHealth {
    /// The group's name.
    pub group: String,
    /// The mean of its members' scores (100 with none).
    pub score: u8,
    /// The score's band, with [`GroupStatusChanged::band`]'s margin.
    pub band: HealthBand,
    /// Members up.
    pub connected: usize,
    /// Members.
    pub total: usize,
}

/// What a group's events are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    score: u8,
    connected: usize,
    total: usize,
}

impl Summary {
    fn of(members: impl IntoIterator<Item = (u8, bool)>) -> Self {
        let members: Vec<(u8, bool)> = members.into_iter().collect();
        Self {
            score: overall(members.iter().map(|(score, _)| *score)),
            connected: members.iter().filter(|(_, up)| *up).count(),
            total: members.len(),
        }
    }

    /// "All up" and "none up": with the band, what a change of is news.
    fn extremes(&self) -> (bool, bool) {
        (
            self.total > 0 && self.connected == self.total,
            self.connected == 0,
        )
    }
}

#[derive(Debug)]
struct Watched {
    /// The members' connections (the ids their figures are under).
    members: HashSet<EndpointId>,
    /// What was last told, with the band then.
    last: Option<(Summary, HealthBand)>,
}

impl Watched {
    /// The band now, for `score`, with [`HealthBand::settled`]'s margin.
    fn band(&self, score: u8) -> HealthBand {
        HealthBand::settled(self.last.map(|(_, band)| band), score)
    }
}

/// Every group the monitor watches, the last score seen of each member,
/// and who hears of changes.
#[derive(Debug, Default)]
pub(crate) struct GroupWatch {
    groups: BTreeMap<String, Watched>,
    /// Score and whether up, of every endpoint in a group.
    members: HashMap<EndpointId, (u8, bool)>,
    subscribers: Subscribers<GroupStatusChanged>,
}

/// An endpoint the monitor has no figures of yet: not up, and the score
/// of a connecting endpoint.
const UNKNOWN: (u8, bool) = (50, false);

impl GroupWatch {
    pub(crate) fn subscribe(&mut self, recipient: Recipient<GroupStatusChanged>) {
        self.subscribers.add(recipient);
    }

    pub(crate) fn unsubscribe(&mut self, recipient: &Recipient<GroupStatusChanged>) {
        self.subscribers.remove(recipient);
    }

    /// Sets a group's members (adding the group), with `current` giving
    /// each member's score; tells subscribers when that is news.
    pub(crate) fn set_members(
        &mut self,
        group: String,
        members: Vec<EndpointId>,
        current: impl Fn(&EndpointId) -> Option<(u8, bool)>,
    ) {
        for id in &members {
            let now = current(id).unwrap_or(UNKNOWN);
            self.members.insert(id.clone(), now);
        }
        let last = self.groups.remove(&group).and_then(|g| g.last);
        let members = members.into_iter().collect();
        self.groups.insert(group.clone(), Watched { members, last });
        self.forget_strays();
        self.evaluate(&group);
    }

    /// Stops watching a group.
    pub(crate) fn remove(&mut self, group: &str) {
        self.groups.remove(group);
        self.forget_strays();
    }

    /// Whether `endpoint` is in a group.
    pub(crate) fn watches(&self, endpoint: &EndpointId) -> bool {
        self.members.contains_key(endpoint)
    }

    /// An endpoint's score or state changed: re-reads its groups.
    pub(crate) fn on_endpoint(&mut self, endpoint: &EndpointId, now: (u8, bool)) {
        let Some(known) = self.members.get_mut(endpoint) else {
            return;
        };
        if *known == now {
            return;
        }
        *known = now;
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.contains(endpoint))
            .map(|(name, _)| name.clone())
            .collect();
        for group in groups {
            self.evaluate(&group);
        }
    }

    /// Every group's figures now.
    pub(crate) fn report(&self) -> Vec<GroupHealth> {
        self.groups
            .iter()
            .map(|(name, group)| {
                let s = self.summary(group);
                GroupHealth {
                    group: name.clone(),
                    score: s.score,
                    band: group.band(s.score),
                    connected: s.connected,
                    total: s.total,
                }
            })
            .collect()
    }

    fn summary(&self, group: &Watched) -> Summary {
        Summary::of(
            group
                .members
                .iter()
                .map(|id| self.members.get(id).copied().unwrap_or(UNKNOWN)),
        )
    }

    fn evaluate(&mut self, name: &str) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        let now = self.summary(group);
        let band = group.band(now.score);
        let news = group
            .last
            .is_none_or(|(last, was)| was != band || last.extremes() != now.extremes());
        if let Some(group) = self.groups.get_mut(name) {
            group.last = Some((now, band));
        }
        if news {
            self.subscribers.deliver(GroupStatusChanged {
                group: name.to_owned(),
                score: now.score,
                band,
                connected: now.connected,
                total: now.total,
                at: SystemTime::now(),
            });
        }
    }

    /// Forgets the scores of endpoints no group holds any more.
    fn forget_strays(&mut self) {
        let held: HashSet<&EndpointId> = self.groups.values().flat_map(|g| &g.members).collect();
        self.members.retain(|id, _| held.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_is_a_change_of_band_or_of_all_or_none_connected() {
        let s = |members: &[(u8, bool)]| {
            let s = Summary::of(members.iter().copied());
            (HealthBand::of(s.score), s.extremes())
        };
        let up = s(&[(100, true), (100, true)]);
        assert_eq!(up, (HealthBand::Green, (true, false)));
        // One member slips from 100 to 90: same band, still all up.
        assert_eq!(s(&[(90, true), (100, true)]), up);
        // One member reconnecting: 75 is orange and not all up.
        assert_eq!(
            s(&[(50, false), (100, true)]),
            (HealthBand::Orange, (false, false))
        );
        assert_eq!(
            s(&[(0, false), (50, false)]),
            (HealthBand::Red, (false, true))
        );
        assert_eq!(s(&[]), (HealthBand::Green, (false, true)));
    }

    #[test]
    fn a_score_wavering_at_a_boundary_keeps_its_band() {
        let mut watch = GroupWatch::default();
        let members = vec![EndpointId::from("a")];
        watch.set_members("g".into(), members, |_| Some((80, true)));
        assert_eq!(watch.report()[0].band, HealthBand::Green);
        // 78 and 77 are within the margin below green: still green.
        for score in [78, 77, 79, 78] {
            watch.on_endpoint(&"a".into(), (score, true));
            assert_eq!(watch.report()[0].band, HealthBand::Green, "{score}");
        }
        // 76 is past it: orange, and it stays orange up to 82.
        watch.on_endpoint(&"a".into(), (76, true));
        assert_eq!(watch.report()[0].band, HealthBand::Orange);
        watch.on_endpoint(&"a".into(), (82, true));
        assert_eq!(watch.report()[0].band, HealthBand::Orange);
        watch.on_endpoint(&"a".into(), (83, true));
        assert_eq!(watch.report()[0].band, HealthBand::Green);
    }
}
