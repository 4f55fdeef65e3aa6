//! Keeps an actix service's outbound long-lived connections alive.
//!
//! A [`SupervisorActor`] owns one [`ConnectionActor`] per endpoint, over
//! WebSocket (`ws://`, `wss://`), Server-Sent Events (`http://`,
//! `https://`, see [`sse`]), raw TCP (`tcp://`, `tcps://`, framed by
//! [`config::Framing`], see [`EndpointConfig::tcp`]) or a protocol of your
//! own (see [`transport`]). Each
//! connection actor connects with a bounded timeout, runs its own heartbeat
//! (protocol pings, or an application-level ping and reply), detects dead and
//! half-open peers, and reconnects with backoff under a close-code policy. A
//! [`MonitorActor`] folds latency, error, traffic and state samples into
//! per-endpoint statistics and a 0–100 health score. Subscribers register as
//! actix `Recipient`s for [`StatusChanged`] events and inbound messages, one
//! at a time ([`MessageReceived`]) or in bursts ([`BurstReceived`], whose
//! [`Payloads`] an SSE stream fills with no allocation or reference count
//! per event).
//!
//! # Quick start
//! ```no_run
//! use actix::prelude::*;
//! use actix_tether::{
//!     AddEndpoint, EndpointConfig, MessageReceived, StatusChanged, Subscribe, SupervisorActor,
//! };
//!
//! struct Printer;
//! impl Actor for Printer {
//!     type Context = Context<Self>;
//! }
//! impl Handler<StatusChanged> for Printer {
//!     type Result = ();
//!     fn handle(&mut self, e: StatusChanged, _: &mut Context<Self>) {
//!         println!("{}: {} -> {}", e.endpoint, e.from, e.to);
//!     }
//! }
//! impl Handler<MessageReceived> for Printer {
//!     type Result = ();
//!     fn handle(&mut self, m: MessageReceived, _: &mut Context<Self>) {
//!         println!("{}: {:?}", m.endpoint, m.payload);
//!     }
//! }
//!
//! #[actix::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let supervisor = SupervisorActor::default().start();
//!     let printer = Printer.start();
//!     supervisor.send(Subscribe::status(printer.clone().recipient())).await??;
//!     supervisor.send(Subscribe::messages(printer.recipient())).await??;
//!     let config = EndpointConfig::websocket("wss://relay.example/ws").build()?;
//!     supervisor.send(AddEndpoint::new("relay", config)).await??;
//!     actix_rt::signal::ctrl_c().await?;
//!     supervisor.send(actix_tether::Shutdown).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Lifecycle
//! States and legal moves are in [`ConnectionState`]. The first attempt starts
//! at once; every failure after it waits for the endpoint's backoff policy
//! (see [`BackoffConfig`]), raised by server hints (close 1013). The failure
//! count resets only after a connection stayed up for `reset_after`. After
//! `max_attempts` consecutive failures the endpoint goes to Failed and stays
//! registered; [`Reconnect`] revives it. What each failure leads to (retry,
//! fail or stop) is one [`Verdict`], decided by the error's
//! [`ErrorCategory`], the endpoint's [`ClosePolicy`] for close codes, and
//! its [`ReconnectMode`].
//!
//! # Sending
//! [`SendPayload`] answers with a [`Receipt`]: written, or queued in the
//! endpoint's bounded outbox while it (re)connects or authenticates; the
//! receipt's outcome settles exactly once; [`SendOptions`] add an
//! acknowledgement id or session scope. The [`delivery`] module states the
//! promise and its limits, acknowledged mode, authentication and coalescing.
//!
//! # Where things are
//! The crate root holds what ordinary code names. Defaults and protocol
//! limits are in [`config`], backoff policies in [`backoff`], the delivery
//! features' settings in [`delivery`], the transport traits in
//! [`transport`], the SSE parser in [`sse`], health figures in [`monitor`].
//!
//! # Operations
//! With the `prometheus` feature, `ops::metrics` encodes every
//! endpoint's figures as a Prometheus exposition; with the `web` feature,
//! `web::Operations` mounts an actix-web scope with `/health`,
//! `/endpoints`, `/events` (SSE), `/dashboard` and `/metrics`.
//!
//! # What is not guaranteed
//! A message written to a socket whose connection then dies may or may not
//! have reached the server (use acknowledged mode where that matters).
//! Inbound delivery to a subscriber uses its unbounded actix mailbox: a
//! subscriber that cannot keep up grows it.
//!
//! # TLS
//! `wss://` and `https://` endpoints trust the bundled webpki roots unless
//! told otherwise: [`TlsSettings`] per endpoint (the system's roots with the
//! `native-roots` feature, a private CA, a client certificate, or a whole
//! rustls config), or one config for the supervisor
//! ([`SupervisorConfig::tls`]). A failed handshake is an
//! [`ErrorCategory::Tls`] error, retried slowly and with a cap by default.
//!
//! # Secrets
//! Header values (static or from a header provider) are never printed: not
//! in logs, `Debug` output, errors or status reports. Every URL printed goes
//! through [`redact_url`], which hides user info (with or without a
//! password), queries, fragments and malformed hosts or ports, and hides
//! everything after the scheme when the URL is ambiguous. `tests/redaction.rs`
//! captures all tracing output at TRACE level through connects, reconnects
//! and failures, with secrets in every place a URL or header can hold one,
//! and finds none.
//!
//! URLs are taken strictly by `build()` (see [`EndpointConfig::websocket`]);
//! user info in a URL is sent as an `Authorization: Basic` header.

mod backlog;
pub mod backoff;
mod close;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
mod connection;
pub mod delivery;
mod duration;
mod endpoint;
mod error;
mod event_types;
mod failure;
mod group;
mod heartbeat;
mod http1;
mod inline;
mod message;
pub mod monitor;
#[cfg(any(feature = "prometheus", feature = "web"))]
pub mod ops;
mod outbox;
pub mod payloads;
mod push_queue;
pub mod receipts;
mod reconnect_budget;
mod redact;
mod retry;
mod retry_after;
mod sender;
pub mod sse;
mod status;
mod subscribers;
pub mod supervisor;
pub mod transport;
mod url;

mod verdict;
mod vitals;
#[cfg(feature = "web")]
pub mod web;

/// Entry points for the fuzz targets in `fuzz/`: not part of the API, and
/// may change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::{
        http1::{read_response as http1_response, ResponseSummary},
        transport::ws_receive,
    };
}

pub use crate::{
    backlog::{Overflow, QueueLimits, QueueSlot},
    close::ClosePolicy,
    config::{
        BackoffConfig, EndpointBuilder, EndpointConfig, HeartbeatConfig, OnAuthFailure,
        ReconnectMode, SseConfig, SupervisorConfig, TlsSettings,
    },
    connection::{ConnectionActor, EndpointHandle, EndpointStatus, Subscriber},
    delivery::{Accepted, AuthReply, Delivered, OverflowPolicy, Receipt, SendOptions},
    endpoint::{EndpointId, TransportKind},
    error::{ConfigError, Error, ErrorCategory, Result},
    event_types::EventTypes,
    group::{GroupHandle, Lease, Members, NoneUp, PoolStats, Routed, Strategy},
    inline::{InlineBurst, InlineHandler},
    message::{BurstReceived, MessageReceived, Payload},
    monitor::{
        EndpointHealth, GetHealthReport, GroupHealth, GroupStatusChanged, HealthBand, HealthReport,
        MonitorActor, SubscribeGroups, UnsubscribeGroups,
    },
    payloads::{EventRef, PayloadRef, Payloads},
    receipts::Receipts,
    redact::redact_url,
    sse::SseEvent,
    status::{ConnectionState, StatusChanged},
    supervisor::{
        AddEndpoint, AddGroup, AddPool, Added, EndpointEntry, GetAllStatuses, GetEndpoint,
        GetEndpoints, GetGroup, GetMonitor, GetStatus, Reconnect, RemoveEndpoint, RemoveGroup,
        SendPayload, SendToGroup, SetReconnectRate, Shutdown, Subscribe, SupervisorActor,
        Unsubscribe, MAX_POOL_SIZE,
    },
    verdict::{Urgency, Verdict},
};
