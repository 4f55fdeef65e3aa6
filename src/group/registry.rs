//! The supervisor's groups: each one's membership rule and its handle,
//! whose members follow the endpoints as they are added and removed.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, RwLock},
};

use super::{GroupHandle, NoneUp, Strategy};
use crate::{ConfigError, EndpointHandle, EndpointId};

/// Which endpoints a group holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Members {
    /// These endpoints, in this order (failover's priority order); an id
    /// not registered yet joins when an endpoint with it is added.
    Listed(Vec<EndpointId>),
    /// Every endpoint whose config has the tag `key` = `value`
    /// ([`EndpointBuilder::tag`](crate::EndpointBuilder::tag)), in id
    /// order, including endpoints added later.
    Tagged {
        /// The tag's key.
        key: String,
        /// Its value.
        value: String,
    },
}

impl Members {
    /// Whether the endpoint `id` (registered in `endpoints` or not) is one
    /// this rule names or, registered, picks.
    fn names(&self, id: &EndpointId, endpoints: &BTreeMap<EndpointId, EndpointHandle>) -> bool {
        match self {
            Self::Listed(ids) => ids.contains(id),
            Self::Tagged { key, value } => endpoints
                .get(id)
                .is_some_and(|handle| handle.tags().get(key) == Some(value)),
        }
    }

    /// The registered endpoints this rule picks, in group order.
    fn pick(&self, endpoints: &BTreeMap<EndpointId, EndpointHandle>) -> Arc<[EndpointHandle]> {
        let picked: Vec<EndpointHandle> = match self {
            Self::Listed(ids) => ids
                .iter()
                .filter_map(|id| endpoints.get(id).cloned())
                .collect(),
            Self::Tagged { key, value } => endpoints
                .values()
                .filter(|handle| handle.tags().get(key) == Some(value))
                .cloned()
                .collect(),
        };
        // One member per connection: an id listed twice, or two ids
        // sharing one connection, would get a message twice.
        let mut seen = HashSet::with_capacity(picked.len());
        picked
            .into_iter()
            .filter(|handle| seen.insert(handle.connection().clone()))
            .collect()
    }
}

/// One group: its rule and the handle every caller gets a clone of.
#[derive(Debug)]
struct Group {
    members: Members,
    handle: GroupHandle,
}

/// Every group of one supervisor, by name.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: BTreeMap<String, Group>,
}

impl Groups {
    /// Adds a group; adding one that exists with the same rule and
    /// strategy answers its handle.
    ///
    /// # Errors
    /// A group of that name exists with another rule, strategy or policy,
    /// the name is empty, or the policy lets no send wait.
    pub(crate) fn add(
        &mut self,
        name: &str,
        members: Members,
        strategy: Strategy,
        none_up: NoneUp,
        endpoints: &BTreeMap<EndpointId, EndpointHandle>,
    ) -> Result<GroupHandle, ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::new("group", "the name is empty"));
        }
        if let Some(group) = self.groups.get(name) {
            let handle = &group.handle;
            if group.members == members
                && handle.strategy() == strategy
                && handle.none_up() == none_up
            {
                return Ok(group.handle.clone());
            }
            return Err(ConfigError::new(
                "group",
                format!("a group named {name} exists with other members or strategy"),
            ));
        }
        let shared = Arc::new(RwLock::new(members.pick(endpoints)));
        if let NoneUp::Wait { max_waiting: 0, .. } = none_up {
            return Err(ConfigError::new(
                "group.none_up",
                "max_waiting must be at least 1",
            ));
        }
        let handle = GroupHandle::new(name, strategy, none_up, shared);
        self.groups.insert(
            name.to_owned(),
            Group {
                members,
                handle: handle.clone(),
            },
        );
        Ok(handle)
    }

    /// The handle of the group `name`.
    pub(crate) fn get(&self, name: &str) -> Option<GroupHandle> {
        self.groups.get(name).map(|group| group.handle.clone())
    }

    /// Forgets the group `name` (its endpoints stay); whether it existed.
    /// Handles already given out keep the members they had.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.groups.remove(name).is_some()
    }

    /// The connections of group `name`'s members now (the ids the
    /// monitor keeps their figures under).
    pub(crate) fn connections_of(&self, name: &str) -> Option<Vec<EndpointId>> {
        let group = self.groups.get(name)?;
        Some(connections(&group.handle.snapshot()))
    }

    /// Re-reads the members of the groups the endpoint `changed` (just
    /// added or removed) is or was in; answers the name and member
    /// connections of each group whose members changed.
    pub(crate) fn refresh(
        &self,
        endpoints: &BTreeMap<EndpointId, EndpointHandle>,
        changed: &EndpointId,
    ) -> Vec<(String, Vec<EndpointId>)> {
        let mut news = Vec::new();
        for (name, group) in &self.groups {
            let old = group.handle.snapshot();
            let held = old.iter().any(|m| m.id() == changed);
            if !held && !group.members.names(changed, endpoints) {
                continue;
            }
            let members = group.members.pick(endpoints);
            let same = old.len() == members.len()
                && old
                    .iter()
                    .zip(members.iter())
                    .all(|(a, b)| a.id() == b.id() && a.addr() == b.addr());
            if same {
                continue;
            }
            news.push((name.clone(), connections(&members)));
            match group.handle.members.write() {
                Ok(mut shared) => *shared = members,
                Err(poisoned) => *poisoned.into_inner() = members,
            }
        }
        news
    }
}

/// The connection ids of `members`.
fn connections(members: &[EndpointHandle]) -> Vec<EndpointId> {
    members.iter().map(|m| m.connection().clone()).collect()
}
