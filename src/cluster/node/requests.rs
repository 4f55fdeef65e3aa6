//! What an application asks of its [`ClusterNode`]: publishing and
//! unpublishing endpoints, what it holds, sends, and leaving.

use std::collections::{BTreeMap, BTreeSet};

use actix::{Context, Handler, Message, MessageResult, ResponseFuture};
use futures::channel::oneshot;

use super::ClusterNode;
use crate::{
    cluster::EndpointSpec, ConfigError, EndpointId, Payload, Receipt, Result, SendPayload,
};

/// Adds (or replaces) an endpoint in the cluster's set; the member it
/// belongs to connects it.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Publish {
    /// Its id (no `/`).
    pub endpoint: EndpointId,
    /// How to connect it.
    pub spec: EndpointSpec,
}

impl Publish {
    /// Publishes `spec` as `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>, spec: EndpointSpec) -> Self {
        Self {
            endpoint: endpoint.into(),
            spec,
        }
    }
}

impl Handler<Publish> for ClusterNode {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let etcd = self.etcd.clone();
        let key = self.config.key("endpoints", msg.endpoint.as_str());
        let checked = check_publish(&msg);
        Box::pin(async move {
            checked?;
            let json = serde_json::to_vec(&msg.spec)
                .map_err(|e| crate::Error::from(ConfigError::new("cluster.spec", e.to_string())))?;
            etcd.put(&key, &json, 0).await
        })
    }
}

fn check_publish(msg: &Publish) -> Result<()> {
    let id = msg.endpoint.as_str();
    if id.is_empty() || id.contains('/') {
        return Err(ConfigError::new(
            "cluster.endpoint",
            "an id must be non-empty and hold no '/'",
        )
        .into());
    }
    let parts = crate::url::split(&msg.spec.url)
        .ok_or_else(|| ConfigError::new("cluster.url", "not a URL with a scheme"))?;
    if parts.userinfo.is_some() || parts.is_ambiguous() {
        return Err(ConfigError::new(
            "cluster.url",
            "user info in a URL would put a secret in etcd; use a header provider",
        )
        .into());
    }
    Ok(())
}

/// Removes an endpoint from the cluster's set; its owner closes it.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct Unpublish {
    /// Its id.
    pub endpoint: EndpointId,
}

impl Unpublish {
    /// Unpublishes `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }
}

impl Handler<Unpublish> for ClusterNode {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, msg: Unpublish, _: &mut Context<Self>) -> Self::Result {
        let etcd = self.etcd.clone();
        let key = self.config.key("endpoints", msg.endpoint.as_str());
        Box::pin(async move { etcd.delete(&key).await })
    }
}

/// What this instance holds, as of its last look.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ownership {
    /// This member's id.
    pub member: String,
    /// Whether it holds a lease now.
    pub member_alive: bool,
    /// The endpoints running here, each with its ownership epoch.
    pub holds: BTreeMap<String, i64>,
    /// Every owner key seen: endpoint, owner and epoch (the cluster-wide
    /// status of ownership).
    pub owners: BTreeMap<String, (String, i64)>,
    /// The live members.
    pub members: BTreeSet<String>,
}

/// Asks a node for its [`Ownership`].
#[derive(Debug, Message)]
#[rtype(result = "Ownership")]
pub struct GetOwnership;

impl Handler<GetOwnership> for ClusterNode {
    type Result = MessageResult<GetOwnership>;

    fn handle(&mut self, _: GetOwnership, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Ownership {
            member: self.config.member.clone(),
            member_alive: self.shared.holds(&self.config),
            holds: self.shared.runs.borrow().clone(),
            owners: self
                .claims
                .iter()
                .map(|(e, c)| (e.clone(), (c.owner.clone(), c.epoch)))
                .collect(),
            members: self.members.clone(),
        })
    }
}

/// Sends to a cluster endpoint through this instance: sent when it holds
/// the endpoint, [`Sent::NotOwner`] otherwise.
#[derive(Debug, Message)]
#[rtype(result = "Result<Sent>")]
pub struct ClusterSend {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// What to send.
    pub payload: Payload,
}

impl ClusterSend {
    /// Sends `payload` to `endpoint`.
    pub fn new(endpoint: impl Into<EndpointId>, payload: impl Into<Payload>) -> Self {
        Self {
            endpoint: endpoint.into(),
            payload: payload.into(),
        }
    }
}

/// The outcome of a [`ClusterSend`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Sent {
    /// Held here and sent, with the epoch of this instance's ownership.
    Sent {
        /// The send's receipt.
        receipt: Receipt,
        /// The ownership epoch.
        epoch: i64,
    },
    /// Held by another member (or by none, as of the last look): route
    /// it there.
    NotOwner {
        /// The member that holds it, if any.
        owner: Option<String>,
    },
}

impl Handler<ClusterSend> for ClusterNode {
    type Result = ResponseFuture<Result<Sent>>;

    fn handle(&mut self, msg: ClusterSend, _: &mut Context<Self>) -> Self::Result {
        let epoch = self
            .shared
            .runs
            .borrow()
            .get(msg.endpoint.as_str())
            .copied();
        let owner = self
            .claims
            .get(msg.endpoint.as_str())
            .map(|claim| claim.owner.clone());
        let supervisor = self.supervisor.clone();
        Box::pin(async move {
            let Some(epoch) = epoch else {
                return Ok(Sent::NotOwner { owner });
            };
            let receipt = supervisor
                .send(SendPayload::new(msg.endpoint, msg.payload))
                .await??;
            Ok(Sent::Sent { receipt, epoch })
        })
    }
}

/// Leaves the cluster gracefully: closes every endpoint held here, revokes
/// the lease (so survivors take them over at once), and stops the node.
/// The reply comes when that is done.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for ClusterNode {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Leave, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        match &mut self.leaving {
            Some(waiting) => waiting.push(tx),
            None => {
                self.leaving = Some(vec![tx]);
                if !self.busy {
                    self.leave(ctx);
                }
            }
        }
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
