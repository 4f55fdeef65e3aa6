//! Bounded inbound queues: how much a subscriber may have waiting, what
//! happens beyond that, and the slot each delivered message holds until the
//! subscriber is done with it.
//!
//! A message counts against its subscriber's queue from the moment it is
//! handed to the subscriber's mailbox until its [`QueueSlot`] is dropped,
//! which happens when the handler drops the message (or moves the slot out
//! and drops it later). So the queue bounds what is buffered in the mailbox
//! and what the subscriber still holds, and its depth is exact across
//! threads.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    task::Waker,
};

use futures::task::AtomicWaker;

/// Messages a subscriber may have waiting by default.
pub const DEFAULT_QUEUE_MESSAGES: usize = 1024;
/// Payload bytes a subscriber may have waiting by default (8 MiB).
pub const DEFAULT_QUEUE_BYTES: usize = 8 << 20;

/// What happens when a subscriber's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Overflow {
    /// Stop reading the socket until the subscriber catches up (to below
    /// half the limit), so TCP pushes back on the server. Nothing is lost.
    /// The heartbeat does not blame the peer while the endpoint waits for
    /// its own consumer. The default.
    ///
    /// The pause holds the whole endpoint: its other subscribers wait too,
    /// and while paused the peer's pings and close frames are not read (a
    /// server with its own keepalive may drop a connection paused for
    /// long), nor are acknowledgements (`acknowledged` send timeouts keep
    /// running).
    #[default]
    Pause,
    /// Keep reading; drop the oldest messages not yet handed to the
    /// subscriber. Half the limit may sit in the subscriber's mailbox, the
    /// other half waits here and is where drops happen (the newest message
    /// always stays, even when it alone is over the bound). Every drop is
    /// counted (monitor `inbound.dropped`).
    DropOldest,
    /// Keep reading; once the queue goes past its bound, remove the
    /// subscriber from this endpoint and tell the endpoint's status
    /// subscribers with a [`StatusChanged`](crate::StatusChanged) notice
    /// (`from == to`, reason category
    /// [`Overflow`](crate::ErrorCategory::Overflow); the monitor counts it
    /// as an error). A subscription made for every endpoint still reaches
    /// endpoints added later.
    Disconnect,
}

/// A subscriber's inbound queue bound, in messages and payload bytes, and
/// what happens past it.
///
/// ```
/// use actix_tether::{Overflow, QueueLimits};
/// let limits = QueueLimits::new(10_000, 64 << 20).overflow(Overflow::DropOldest);
/// assert_eq!(limits.messages, 10_000);
/// assert_eq!(QueueLimits::default().overflow, Overflow::Pause);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct QueueLimits {
    /// Messages waiting (a burst counts each message in it); at least 1.
    pub messages: usize,
    /// Payload bytes waiting; at least 1.
    pub bytes: usize,
    /// What happens when either bound is reached.
    pub overflow: Overflow,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            messages: DEFAULT_QUEUE_MESSAGES,
            bytes: DEFAULT_QUEUE_BYTES,
            overflow: Overflow::Pause,
        }
    }
}

impl QueueLimits {
    /// Bounds of `messages` and `bytes` (each at least 1), pausing when
    /// reached.
    pub fn new(messages: usize, bytes: usize) -> Self {
        Self {
            messages,
            bytes,
            overflow: Overflow::Pause,
        }
    }

    /// Sets what happens when the queue is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Checks the bounds.
    ///
    /// # Errors
    /// A zero bound, as a config error naming it.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        if self.messages == 0 {
            return Err(crate::ConfigError::new(
                "queue.messages",
                "must be at least 1",
            ));
        }
        if self.bytes == 0 {
            return Err(crate::ConfigError::new("queue.bytes", "must be at least 1"));
        }
        Ok(())
    }

    /// The share that may sit in the subscriber's mailbox: all of it when
    /// pausing or disconnecting, half when drops happen on our side.
    pub(crate) fn mailbox_share(&self) -> Level {
        match self.overflow {
            Overflow::DropOldest => Level {
                messages: self.messages.div_ceil(2),
                bytes: self.bytes.div_ceil(2),
            },
            Overflow::Pause | Overflow::Disconnect => Level {
                messages: self.messages,
                bytes: self.bytes,
            },
        }
    }
}

/// A queue level: messages and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Level {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
}

impl Level {
    /// Whether either figure reached `bound`'s.
    pub(crate) fn reaches(self, bound: Level) -> bool {
        self.messages >= bound.messages || self.bytes >= bound.bytes
    }

    /// Whether either figure went past `bound`'s.
    pub(crate) fn exceeds(self, bound: Level) -> bool {
        self.messages > bound.messages || self.bytes > bound.bytes
    }

    /// Whether both figures are at or below `mark`'s.
    pub(crate) fn at_or_below(self, mark: Level) -> bool {
        self.messages <= mark.messages && self.bytes <= mark.bytes
    }

    /// Strictly below half of each figure (half rounded down, less one
    /// where that would not be below): where a paused queue resumes.
    pub(crate) fn below_half(self) -> Level {
        let below = |n: usize| if n <= 1 { 0 } else { (n / 2).min(n - 1) };
        Level {
            messages: below(self.messages),
            bytes: below(self.bytes),
        }
    }
}

/// The shared count of one subscriber's queue: raised when a message is
/// handed over, lowered when its slot drops (on any thread).
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    /// Someone waits for the level to fall to `resume_at`.
    waiting: AtomicBool,
    resume_messages: AtomicUsize,
    resume_bytes: AtomicUsize,
    waker: AtomicWaker,
}

impl Gauge {
    /// Takes a slot of `messages` messages and `bytes` bytes.
    pub(crate) fn take(self: &Arc<Self>, messages: usize, bytes: usize) -> QueueSlot {
        let size = Level { messages, bytes };
        self.reserve(size);
        self.reserved(size)
    }

    /// Raises the level by a whole burst at once; the burst's messages
    /// then get their slots from [`reserved`](Self::reserved) (one shared
    /// counter update per burst instead of one per message).
    pub(crate) fn reserve(&self, total: Level) {
        self.messages.fetch_add(total.messages, Ordering::Relaxed);
        self.bytes.fetch_add(total.bytes, Ordering::Relaxed);
    }

    /// A slot for a share of what [`reserve`](Self::reserve) counted.
    #[inline]
    pub(crate) fn reserved(self: &Arc<Self>, size: Level) -> QueueSlot {
        QueueSlot {
            held: Some(Held {
                gauge: Arc::clone(self),
                messages: size.messages,
                bytes: size.bytes,
            }),
        }
    }

    /// The current level.
    pub(crate) fn level(&self) -> Level {
        Level {
            messages: self.messages.load(Ordering::Acquire),
            bytes: self.bytes.load(Ordering::Acquire),
        }
    }

    /// Asks to be woken (through `waker`) once the level falls to `at` or
    /// below. False when it already has: nothing to wait for.
    pub(crate) fn wake_at(&self, at: Level, waker: &Waker) -> bool {
        self.waker.register(waker);
        self.resume_messages.store(at.messages, Ordering::Relaxed);
        self.resume_bytes.store(at.bytes, Ordering::Relaxed);
        // All SeqCst, with `release`'s decrements and flag load: either it
        // sees the flag or this load sees its lowered level.
        self.waiting.store(true, Ordering::SeqCst);
        let level = Level {
            messages: self.messages.load(Ordering::SeqCst),
            bytes: self.bytes.load(Ordering::SeqCst),
        };
        if level.at_or_below(at) {
            self.waiting.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn release(&self, messages: usize, bytes: usize) {
        let left_messages = self.messages.fetch_sub(messages, Ordering::SeqCst) - messages;
        let left_bytes = self.bytes.fetch_sub(bytes, Ordering::SeqCst) - bytes;
        if !self.waiting.load(Ordering::SeqCst) {
            return;
        }
        let at = Level {
            messages: self.resume_messages.load(Ordering::Relaxed),
            bytes: self.resume_bytes.load(Ordering::Relaxed),
        };
        let left = Level {
            messages: left_messages,
            bytes: left_bytes,
        };
        if left.at_or_below(at) && self.waiting.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

/// A delivered message's place in its subscriber's queue, released when
/// dropped.
///
/// Every [`MessageReceived`](crate::MessageReceived) and
/// [`BurstReceived`](crate::BurstReceived) carries one. Dropping the
/// message (the usual end of a handler) releases it; so does moving the
/// payload out and dropping the rest. With [`Overflow::Pause`] and
/// [`Overflow::Disconnect`] the messages of one burst (read from the socket
/// at once, consecutive in the mailbox) share one slot, carried by the last
/// of them: the burst counts until that message is dropped, which for a
/// handler taking messages in order is when it has caught up with the
/// burst, at no per-message cost. With [`Overflow::DropOldest`] each
/// message has its own. A handler that keeps whole messages
/// (in a `Vec`, or by forwarding them into a channel) keeps their places
/// too, and once the queue is full the endpoint pauses (or drops, by its
/// [`Overflow`]): release with [`take`](Self::take) where that queue is
/// bounded elsewhere. A handler that keeps working on a message after it
/// returns (a spawned future) can move the slot into that work so the
/// queue, and with it the backpressure on the server, covers the work
/// too. A clone of a message carries a detached slot that holds nothing.
#[derive(Default)]
pub struct QueueSlot {
    held: Option<Held>,
}

struct Held {
    gauge: Arc<Gauge>,
    messages: usize,
    bytes: usize,
}

impl QueueSlot {
    /// A slot that holds nothing (for messages made outside the library).
    pub fn detached() -> Self {
        Self::default()
    }

    /// Whether this slot still counts against a queue.
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Releases the slot now (the same as dropping it).
    pub fn release(self) {}

    /// Takes the slot out, leaving a detached one: for a handler that
    /// forwards the message into its own queue (a channel) and wants the
    /// place released now, or kept until separate work is done.
    ///
    /// ```
    /// # use actix_tether::{MessageReceived, QueueSlot};
    /// fn forward(mut msg: MessageReceived, to: &std::sync::mpsc::Sender<MessageReceived>) {
    ///     msg.slot.take().release(); // the channel is unbounded: count it there
    ///     let _ = to.send(msg);
    /// }
    /// ```
    pub fn take(&mut self) -> QueueSlot {
        std::mem::take(self)
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            held.gauge.release(held.messages, held.bytes);
        }
    }
}

impl Clone for QueueSlot {
    /// A detached slot: only the original releases its place.
    fn clone(&self) -> Self {
        Self::detached()
    }
}

impl fmt::Debug for QueueSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.held {
            Some(held) => write!(
                f,
                "QueueSlot({} messages, {} bytes)",
                held.messages, held.bytes
            ),
            None => f.write_str("QueueSlot(detached)"),
        }
    }
}

impl PartialEq for QueueSlot {
    /// Slots never make two messages differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for QueueSlot {}

#[cfg(test)]
mod tests;
