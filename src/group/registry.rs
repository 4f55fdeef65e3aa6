//! The supervisor's groups: each one's membership rule and its handle,
//! whose members follow the endpoints as they are added and removed.

use std::{
    collections::BTreeMap,
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
        let mut members: Vec<EndpointHandle> = Vec::with_capacity(picked.len());
        for handle in picked {
            if !members.iter().any(|m| m.addr() == handle.addr()) {
                members.push(handle);
            }
        }
        members.into()
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

    /// Every group's name and members now.
    pub(crate) fn memberships(&self) -> impl Iterator<Item = (String, Vec<EndpointId>)> + '_ {
        self.groups.iter().map(|(name, group)| {
            let members = group.handle.snapshot();
            (
                name.clone(),
                members.iter().map(|m| m.id().clone()).collect(),
            )
        })
    }

    /// The members of group `name` now.
    pub(crate) fn members_of(&self, name: &str) -> Option<Vec<EndpointId>> {
        let group = self.groups.get(name)?;
        Some(
            group
                .handle
                .snapshot()
                .iter()
                .map(|m| m.id().clone())
                .collect(),
        )
    }

    /// Re-reads every group's members after endpoints were added or
    /// removed.
    pub(crate) fn refresh(&self, endpoints: &BTreeMap<EndpointId, EndpointHandle>) {
        for group in self.groups.values() {
            let members = group.members.pick(endpoints);
            match group.handle.members.write() {
                Ok(mut shared) => *shared = members,
                Err(poisoned) => *poisoned.into_inner() = members,
            }
        }
    }
}
