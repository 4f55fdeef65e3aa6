//! Inline handlers: inbound subscribers that run inside the connection's
//! own task, with no mailbox hop.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use crate::{EndpointId, Payloads};

/// A burst of inbound messages as an [`InlineHandler`] sees it: borrowed
/// from the connection for the length of the call.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InlineBurst<'a> {
    /// The endpoint that received them.
    pub endpoint: &'a EndpointId,
    /// The connection generation that received them.
    pub generation: u64,
    /// The endpoint's ownership epoch (as
    /// [`BurstReceived::epoch`](crate::BurstReceived::epoch)).
    pub epoch: Option<u64>,
    /// The messages, oldest first; never empty. Cloning it (or a payload
    /// of it) shares the buffers: nothing is copied.
    pub payloads: &'a Payloads,
}

type Handle = dyn Fn(InlineBurst<'_>) + Send + Sync;

/// The function, and whether it ever panicked (on any endpoint).
struct Inner {
    handle: Box<Handle>,
    panicked: AtomicBool,
}

/// An inbound subscriber that is a function, called inside the
/// connection's task as each burst is read, before any other subscriber
/// hears of it: no actix mailbox hop, no queue, no allocation per burst.
/// For latency-critical consumers (a market feed's order book, a relay
/// that forwards into its own channel); subscribe it with
/// [`Subscribe::inline`](crate::Subscribe::inline).
///
/// The function must return quickly and must not block: while it runs,
/// its connection reads nothing, answers no ping and sends nothing, and
/// the other connections on its arbiter thread wait too. Hand heavy work
/// to another task (a channel send, a `do_send`). It may be called from
/// several arbiter threads at once (one per connection it subscribes to),
/// hence `Sync`. A handler that panics is not called again on any
/// endpoint: each endpoint removes it (at once where it panicked, at its
/// next burst elsewhere; an endpoint added later does not take it on) and
/// tells its status subscribers (a [`StatusChanged`] with `from == to`
/// and the panic as its reason); the connections go on.
///
/// Two handlers are the same subscriber when they are clones of one
/// [`InlineHandler`] (so [`Unsubscribe`](crate::Unsubscribe) takes a clone).
/// An unsubscription reaches each connection through its mailbox: a
/// connection may call the handler with a burst it read before the
/// request arrived there, after the supervisor has answered it.
///
/// ```no_run
/// # use actix::prelude::*;
/// # use actix_tether::*;
/// # use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// # async fn run(supervisor: Addr<SupervisorActor>) -> Result<()> {
/// let seen = Arc::new(AtomicU64::new(0));
/// let counter = seen.clone();
/// let handler = InlineHandler::new(move |burst: InlineBurst<'_>| {
///     counter.fetch_add(burst.payloads.len() as u64, Ordering::Relaxed);
/// });
/// supervisor.send(Subscribe::inline(handler).endpoint("ticker")).await??;
/// # Ok(()) }
/// ```
///
/// [`StatusChanged`]: crate::StatusChanged
#[derive(Clone)]
pub struct InlineHandler(Arc<Inner>);

impl InlineHandler {
    /// Wraps `handle`, called once per burst.
    pub fn new(handle: impl Fn(InlineBurst<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(Inner {
            handle: Box::new(handle),
            panicked: AtomicBool::new(false),
        }))
    }

    /// Whether it panicked (on any endpoint).
    pub(crate) fn panicked(&self) -> bool {
        self.0.panicked.load(Ordering::Relaxed)
    }

    /// Calls the function; when it panics (now, or before on any
    /// endpoint: then it is not called), the panic's message.
    pub(crate) fn call(&self, burst: InlineBurst<'_>) -> Result<(), String> {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        if self.panicked() {
            return Err("it panicked before, on another endpoint".to_owned());
        }
        let panic = match catch_unwind(AssertUnwindSafe(|| (self.0.handle)(burst))) {
            Ok(()) => return Ok(()),
            Err(panic) => panic,
        };
        self.0.panicked.store(true, Ordering::Relaxed);
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        // A payload whose own drop panics stays here too.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(panic)));
        Err(message)
    }
}

impl PartialEq for InlineHandler {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for InlineHandler {}

impl fmt::Debug for InlineHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InlineHandler")
            .field(&Arc::as_ptr(&self.0).cast::<()>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Payload;

    #[test]
    fn clones_are_the_same_subscriber_and_new_handlers_are_not() {
        let a = InlineHandler::new(|_| {});
        let b = InlineHandler::new(|_| {});
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
    }

    #[test]
    fn a_panic_is_caught_and_reported() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let handler = InlineHandler::new(move |burst| {
            counted.fetch_add(1, Ordering::Relaxed);
            assert!(burst.payloads.len() < 2, "two is too many");
        });
        let id = EndpointId::new("e");
        let one = Payloads::from(vec![Payload::Text("a".into())]);
        let two = Payloads::from(vec![Payload::Text("a".into()), Payload::Text("b".into())]);
        let burst = |payloads| InlineBurst {
            endpoint: &id,
            generation: 1,
            epoch: None,
            payloads,
        };
        assert_eq!(handler.call(burst(&one)), Ok(()));
        assert!(!handler.panicked());
        assert_eq!(handler.call(burst(&two)), Err("two is too many".to_owned()));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Never called again, through any clone.
        assert!(handler.clone().panicked());
        assert!(handler.clone().call(burst(&one)).is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
