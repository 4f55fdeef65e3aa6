//! The supervisor's endpoints: each id's handle and config, and how many
//! ids each connection carries (more than one when shared).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use crate::{EndpointConfig, EndpointHandle, EndpointId};

/// Every registered id, by id.
#[derive(Debug, Default)]
pub(super) struct Registry {
    endpoints: BTreeMap<EndpointId, EndpointHandle>,
    /// Every id's config, for [`AddEndpoint::share`](super::AddEndpoint::share).
    configs: BTreeMap<EndpointId, Arc<EndpointConfig>>,
    /// How many ids each connection (by [`EndpointHandle::connection`])
    /// carries.
    sharers: HashMap<EndpointId, usize>,
}

impl Registry {
    /// Every id's handle, in id order.
    pub(super) fn handles(&self) -> &BTreeMap<EndpointId, EndpointHandle> {
        &self.endpoints
    }

    pub(super) fn get(&self, id: &EndpointId) -> Option<&EndpointHandle> {
        self.endpoints.get(id)
    }

    pub(super) fn config(&self, id: &EndpointId) -> Option<&EndpointConfig> {
        self.configs.get(id).map(|config| &**config)
    }

    /// Whether `id` names a live connection although it is not registered
    /// any more: removed while other ids share its connection, which
    /// still carries it in its events and figures.
    pub(super) fn lingers(&self, id: &EndpointId) -> bool {
        !self.endpoints.contains_key(id) && self.sharers.contains_key(id)
    }

    /// Registers an endpoint with a connection of its own.
    pub(super) fn insert(&mut self, handle: EndpointHandle, config: Arc<EndpointConfig>) {
        let id = handle.id().clone();
        self.sharers.insert(id.clone(), 1);
        self.configs.insert(id.clone(), config);
        self.endpoints.insert(id, handle);
    }

    /// Registers `id` on the connection of an endpoint whose config is
    /// the same as `config`, if there is one; answers that connection.
    pub(super) fn share(&mut self, id: &EndpointId, config: &EndpointConfig) -> Option<EndpointId> {
        let (with, kept) = self
            .configs
            .iter()
            .find(|(_, kept)| kept.same_connection(config))?;
        let owner = self.endpoints.get(with)?;
        let handle = owner.sharing(id.clone(), Arc::new(config.tags.clone()));
        let connection = owner.connection().clone();
        let kept = Arc::clone(kept);
        *self.sharers.entry(connection.clone()).or_default() += 1;
        self.configs.insert(id.clone(), kept);
        self.endpoints.insert(id.clone(), handle);
        Some(connection)
    }

    /// Forgets `id`; answers its handle and whether it was the last id on
    /// its connection (which the caller then closes).
    pub(super) fn remove(&mut self, id: &EndpointId) -> Option<(EndpointHandle, bool)> {
        let handle = self.endpoints.remove(id)?;
        self.configs.remove(id);
        let connection = handle.connection();
        let last = match self.sharers.get_mut(connection) {
            Some(ids) if *ids > 1 => {
                *ids -= 1;
                false
            }
            _ => {
                self.sharers.remove(connection);
                true
            }
        };
        Some((handle, last))
    }

    /// One handle per connection (the first id, in id order, of those
    /// sharing one): whom a command for every endpoint goes to.
    pub(super) fn connections(&self) -> impl Iterator<Item = &EndpointHandle> {
        let mut seen = HashSet::with_capacity(self.sharers.len());
        self.endpoints
            .values()
            .filter(move |handle| seen.insert(handle.connection().clone()))
    }

    /// How many connections there are.
    pub(super) fn connection_count(&self) -> usize {
        self.sharers.len()
    }

    /// Forgets everything; answers one handle per connection.
    pub(super) fn clear(&mut self) -> Vec<EndpointHandle> {
        let connections = self.connections().cloned().collect();
        *self = Self::default();
        connections
    }
}
