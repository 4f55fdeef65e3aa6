//! Groups and lookups through the supervisor: [`AddGroup`], [`AddPool`],
//! [`GetGroup`], [`RemoveGroup`] and [`GetEndpoints`].

use std::collections::BTreeMap;

use actix::{Context, Handler, Message, ResponseFuture};

use super::{AddEndpoint, Added, SupervisorActor};
use crate::{
    monitor::{GroupMembers, GroupRemoved, SubscribeGroups, UnsubscribeGroups},
    ConfigError, ConnectionState, EndpointConfig, EndpointHandle, EndpointId, Error, GroupHandle,
    Members, NoneUp, Payload, Result, Routed, Strategy,
};

/// Adds a named group of endpoints and answers its [`GroupHandle`].
/// Members follow the rule as endpoints are added and removed; adding a
/// group that exists with the same rule and strategy answers its handle.
#[derive(Debug, Message)]
#[rtype(result = "Result<GroupHandle>")]
pub struct AddGroup {
    /// The group's name.
    pub name: String,
    /// Which endpoints it holds.
    pub members: Members,
    /// How a member is chosen for a message. Default: round robin.
    pub strategy: Strategy,
    /// What a send does when no member is up. Default: refuse.
    pub none_up: NoneUp,
}

impl AddGroup {
    /// A group of these endpoints, in this (priority) order.
    pub fn listed<I: Into<EndpointId>>(
        name: impl Into<String>,
        ids: impl IntoIterator<Item = I>,
    ) -> Self {
        Self {
            name: name.into(),
            members: Members::Listed(ids.into_iter().map(Into::into).collect()),
            strategy: Strategy::default(),
            none_up: NoneUp::default(),
        }
    }

    /// A group of every endpoint tagged `key` = `value`.
    pub fn tagged(
        name: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            members: Members::Tagged {
                key: key.into(),
                value: value.into(),
            },
            strategy: Strategy::default(),
            none_up: NoneUp::default(),
        }
    }

    /// How a member is chosen.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// What a send does when no member is up.
    pub fn when_none_up(mut self, policy: NoneUp) -> Self {
        self.none_up = policy;
        self
    }
}

impl Handler<AddGroup> for SupervisorActor {
    type Result = Result<GroupHandle>;

    fn handle(&mut self, msg: AddGroup, _: &mut Context<Self>) -> Self::Result {
        if self.shut_down {
            return Err(Error::shutdown());
        }
        let handle = self.groups.add(
            &msg.name,
            msg.members,
            msg.strategy,
            msg.none_up,
            self.endpoints.handles(),
        )?;
        if let Some(members) = self.groups.connections_of(&msg.name) {
            self.monitor().do_send(GroupMembers {
                group: msg.name,
                members,
            });
        }
        Ok(handle)
    }
}

/// Adds a pool: `size` endpoints with the same config, named `NAME/0` to
/// `NAME/{size-1}` (spread over the supervisor's arbiters like any
/// endpoints), and a group `NAME` of them; answers the group's handle.
///
/// Refused with a [`Config`](crate::ErrorCategory::Config) error when the
/// name is empty, `size` is 0 or above [`MAX_POOL_SIZE`], the config is
/// invalid, a group `NAME` exists with another strategy or policy, or an
/// endpoint named like a member exists with another config (one with the
/// same config becomes a member). Either every member is added or none.
#[derive(Debug, Message)]
#[rtype(result = "Result<GroupHandle>")]
pub struct AddPool {
    /// The pool's (and its group's) name.
    pub name: String,
    /// Every member's config.
    pub config: EndpointConfig,
    /// How many connections.
    pub size: usize,
    /// How a member is chosen. Default: least loaded.
    pub strategy: Strategy,
    /// What a send does when no member is up. Default: refuse.
    pub none_up: NoneUp,
}

impl AddPool {
    /// A pool of `size` connections made with `config`.
    pub fn new(name: impl Into<String>, config: EndpointConfig, size: usize) -> Self {
        Self {
            name: name.into(),
            config,
            size,
            strategy: Strategy::LeastLoaded,
            none_up: NoneUp::default(),
        }
    }

    /// How a member is chosen.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// What a send does when no member is up.
    pub fn when_none_up(mut self, policy: NoneUp) -> Self {
        self.none_up = policy;
        self
    }
}

impl Handler<AddPool> for SupervisorActor {
    type Result = Result<GroupHandle>;

    fn handle(&mut self, msg: AddPool, ctx: &mut Context<Self>) -> Self::Result {
        if self.shut_down {
            return Err(Error::shutdown());
        }
        if msg.name.is_empty() {
            return Err(ConfigError::new("pool.name", "the name is empty").into());
        }
        if !(1..=MAX_POOL_SIZE).contains(&msg.size) {
            return Err(ConfigError::new(
                "pool.size",
                format!("must be 1 to {MAX_POOL_SIZE}, not {}", msg.size),
            )
            .into());
        }
        let ids: Vec<EndpointId> = (0..msg.size)
            .map(|i| EndpointId::from(format!("{}/{i}", msg.name)))
            .collect();
        let group = AddGroup::listed(msg.name, ids.clone())
            .strategy(msg.strategy)
            .when_none_up(msg.none_up);
        if self.groups.get(&group.name).is_some() {
            // The same pool again: its handle (a different one is refused).
            return self.handle(group, ctx);
        }
        msg.config.validate()?;
        // A member name taken by an endpoint of another config would make
        // the pool route to a connection it does not describe.
        if let Some(taken) = ids.iter().find(|id| {
            self.endpoints.config(id).is_some_and(|kept| {
                !kept.same_connection(&msg.config) || kept.tags != msg.config.tags
            })
        }) {
            return Err(ConfigError::new(
                "pool.name",
                format!("endpoint {taken} exists with another config"),
            )
            .into());
        }
        let mut added = Vec::new();
        for id in &ids {
            let add = AddEndpoint::new(id.clone(), msg.config.clone());
            match Handler::<AddEndpoint>::handle(self, add, ctx) {
                Ok(Added::New(id)) => added.push(id),
                Ok(_) => {}
                Err(e) => {
                    // All or nothing: the members added so far go again.
                    for id in added {
                        self.forget(&id);
                    }
                    return Err(e);
                }
            }
        }
        self.handle(group, ctx)
    }
}

/// The most connections [`AddPool`] opens for one pool.
pub const MAX_POOL_SIZE: usize = 1024;

/// The handle of a group added with [`AddGroup`] or [`AddPool`].
#[derive(Debug, Message)]
#[rtype(result = "Result<GroupHandle>")]
pub struct GetGroup {
    /// The group's name.
    pub name: String,
}

impl GetGroup {
    /// Asks for the group `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Handler<GetGroup> for SupervisorActor {
    type Result = Result<GroupHandle>;

    fn handle(&mut self, msg: GetGroup, _: &mut Context<Self>) -> Self::Result {
        self.groups
            .get(&msg.name)
            .ok_or_else(|| Error::endpoint(format!("no group named {}", msg.name)))
    }
}

/// Forgets a group; its endpoints stay (remove a pool's endpoints with
/// [`RemoveEndpoint`](crate::RemoveEndpoint)). Handles already given out
/// keep the members they had, and their leases: a group added again under
/// the same name starts with no lease held, so a lease taken through an
/// old handle does not keep a new handle's `acquire` off that member.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct RemoveGroup {
    /// The group's name.
    pub name: String,
}

impl RemoveGroup {
    /// Removes the group `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Handler<RemoveGroup> for SupervisorActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: RemoveGroup, _: &mut Context<Self>) -> Self::Result {
        if self.groups.remove(&msg.name) {
            self.monitor().do_send(GroupRemoved { group: msg.name });
            Ok(())
        } else {
            Err(Error::endpoint(format!("no group named {}", msg.name)))
        }
    }
}

/// Looks endpoints up: every one, or those with a tag.
#[derive(Debug, Default, Message)]
#[rtype(result = "Vec<EndpointEntry>")]
pub struct GetEndpoints {
    /// Only endpoints with this tag (`key`, `value`); `None`: all.
    pub tag: Option<(String, String)>,
}

impl GetEndpoints {
    /// Every endpoint.
    pub fn all() -> Self {
        Self::default()
    }

    /// The endpoints tagged `key` = `value`.
    pub fn tagged(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            tag: Some((key.into(), value.into())),
        }
    }
}

/// One endpoint found by [`GetEndpoints`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointEntry {
    /// Its id.
    pub id: EndpointId,
    /// Its state when looked up.
    pub state: ConnectionState,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// A handle for sending to it.
    pub handle: EndpointHandle,
}

impl Handler<GetEndpoints> for SupervisorActor {
    type Result = Vec<EndpointEntry>;

    fn handle(&mut self, msg: GetEndpoints, _: &mut Context<Self>) -> Self::Result {
        self.endpoints
            .handles()
            .values()
            .filter(|handle| match &msg.tag {
                Some((key, value)) => handle.tags().get(key) == Some(value),
                None => true,
            })
            .map(|handle| EndpointEntry {
                id: handle.id().clone(),
                state: handle.state(),
                tags: handle.tags().clone(),
                handle: handle.clone(),
            })
            .collect()
    }
}

impl Handler<SubscribeGroups> for SupervisorActor {
    type Result = ();

    /// Forwards the subscription to the monitor, which watches the groups.
    fn handle(&mut self, msg: SubscribeGroups, _: &mut Context<Self>) {
        self.monitor().do_send(msg);
    }
}

impl Handler<UnsubscribeGroups> for SupervisorActor {
    type Result = ();

    /// Forwards to the monitor.
    fn handle(&mut self, msg: UnsubscribeGroups, _: &mut Context<Self>) {
        self.monitor().do_send(msg);
    }
}

/// Sends one payload to a group through the supervisor: to the member its
/// strategy chooses, or, with a [`key`](Self::key), to the key's member
/// (as [`GroupHandle::send`] and [`GroupHandle::send_keyed`], which skip
/// the supervisor's mailbox). Once the supervisor has taken the request,
/// dropping the request's future does not take the message back: it is
/// sent (or waits for a member, by the group's [`NoneUp`]) all the same,
/// only its [`Routed`] answer is lost. To be able to give up on a send,
/// use the [`GroupHandle`].
#[derive(Debug, Message)]
#[rtype(result = "Result<Routed>")]
pub struct SendToGroup {
    /// The group's name.
    pub group: String,
    /// What to send.
    pub payload: Payload,
    /// Routes by this key (rendezvous hashing) instead of the strategy.
    pub key: Option<Vec<u8>>,
}

impl SendToGroup {
    /// Sends `payload` to the group `group`.
    pub fn new(group: impl Into<String>, payload: impl Into<Payload>) -> Self {
        Self {
            group: group.into(),
            payload: payload.into(),
            key: None,
        }
    }

    /// Routes by `key` (a session, an order id).
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(key.as_ref().to_vec());
        self
    }
}

impl Handler<SendToGroup> for SupervisorActor {
    type Result = ResponseFuture<Result<Routed>>;

    fn handle(&mut self, msg: SendToGroup, _: &mut Context<Self>) -> Self::Result {
        let group = self.groups.get(&msg.group);
        Box::pin(async move {
            let group =
                group.ok_or_else(|| Error::endpoint(format!("no group named {}", msg.group)))?;
            match msg.key {
                Some(key) => group.send_keyed(key, msg.payload).await,
                None => group.send(msg.payload).await,
            }
        })
    }
}
