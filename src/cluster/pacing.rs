//! The cluster's shared connect pace: a bucket in etcd per second.
//!
//! Every connection attempt of an instance's endpoints (first connects,
//! reconnects, forced ones) waits at its [`Pacer`]. The node takes tokens
//! for the waiting attempts from the counter of the current second,
//! `<prefix>/pacing/<unix second>`, with a compare-and-put (two members
//! taking at once: one of them reads again), never past the rate; what the
//! second cannot give waits for the next. So the whole cluster starts at
//! most `rate` connections per second, and a member whose endpoints all
//! dropped may use the whole rate while the others need none.
//!
//! Seconds are the members' clocks: they must agree to well under a second
//! (NTP does). Counters older than [`KEEP_SECONDS`] are deleted by the
//! transaction that takes tokens.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, PoisonError,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use actix::{Message, WeakRecipient};
use futures::channel::oneshot;

use super::{etcd::Etcd, ClusterConfig};
use crate::reconnect_budget::Gate;

/// How many seconds of counters stay in etcd.
const KEEP_SECONDS: u64 = 10;

/// The most rounds (reads and takes) one pass makes before it lets the
/// node run again; the node starts another pass while attempts wait.
const ROUNDS: usize = 16;

/// The wait after an etcd request failed.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Attempts are waiting: the node should take tokens.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Pace;

/// The attempts of one instance waiting for a token, first come first
/// admitted.
#[derive(Debug)]
pub(crate) struct Pacer {
    waiting: Mutex<VecDeque<oneshot::Sender<()>>>,
    /// The node that takes tokens for them (weak: the node owns the
    /// pacer, and must not keep itself alive through it).
    node: WeakRecipient<Pace>,
    /// A [`Pace`] is on its way to the node, or a pass runs: a new
    /// attempt need not wake it.
    woken: AtomicBool,
}

impl Pacer {
    pub(crate) fn new(node: WeakRecipient<Pace>) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            node,
            woken: AtomicBool::new(false),
        }
    }

    /// A pass ended: the next attempt wakes the node again. Answers
    /// whether attempts wait already (the node then goes on, and counts
    /// as woken).
    pub(crate) fn rest(&self) -> bool {
        self.woken.store(false, Ordering::SeqCst);
        // Checked after the store: an attempt queued before it was not
        // woken for, and is seen here.
        let waiting = self.waiting() > 0;
        if waiting {
            self.woken.store(true, Ordering::SeqCst);
        }
        waiting
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<oneshot::Sender<()>>> {
        // The queue holds senders only: a panic elsewhere leaves it usable.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many attempts wait (those given up on, an endpoint removed
    /// meanwhile, are dropped first).
    pub(crate) fn waiting(&self) -> usize {
        let mut queue = self.queue();
        queue.retain(|sender| !sender.is_canceled());
        queue.len()
    }

    /// Admits up to `tokens` waiting attempts; answers how many.
    pub(crate) fn admit_some(&self, tokens: u64) -> u64 {
        let mut queue = self.queue();
        let mut admitted = 0;
        while admitted < tokens {
            let Some(sender) = queue.pop_front() else {
                break;
            };
            if sender.send(()).is_ok() {
                admitted += 1;
            }
        }
        admitted
    }
}

impl Gate for Pacer {
    fn admit(&self) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.queue().push_back(sender);
        if !self.woken.swap(true, Ordering::SeqCst) {
            match self.node.upgrade() {
                Some(node) => node.do_send(Pace),
                // The node is gone: nothing paces any more.
                None => drop(self.queue().drain(..)),
            }
        }
        receiver
    }
}

/// The current unix second, and the time to the next one.
fn second_now() -> (u64, Duration) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let left = Duration::from_secs(1)
        .saturating_sub(Duration::from_nanos(u64::from(since.subsec_nanos())));
    (since.as_secs(), left)
}

/// The counter key of a second (zero-padded, so keys sort by time).
fn counter_key(config: &ClusterConfig, second: u64) -> String {
    config.key("pacing", &format!("{second:012}"))
}

/// Takes tokens for the waiting attempts, a bounded number of rounds;
/// answers whether attempts still wait (the node then goes on).
pub(crate) async fn take(config: &ClusterConfig, etcd: &Etcd, pacer: &Pacer, rate: u32) -> bool {
    for _ in 0..ROUNDS {
        let wanted = pacer.waiting() as u64;
        if wanted == 0 {
            return false;
        }
        let (second, left) = second_now();
        let key = counter_key(config, second);
        let (taken, revision) = match etcd.counter(&key).await {
            Ok(counter) => counter,
            Err(e) => {
                tracing::debug!("cluster: pacing: {e}");
                actix_rt::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let room = u64::from(rate).saturating_sub(taken);
        if room == 0 {
            actix_rt::time::sleep(left).await;
            continue;
        }
        let tokens = wanted.min(room);
        let stale = (
            counter_key(config, 0),
            counter_key(config, second.saturating_sub(KEEP_SECONDS)),
        );
        let stale = (stale.0.as_str(), stale.1.as_str());
        match etcd
            .set_counter(&key, revision, taken + tokens, stale)
            .await
        {
            // Taken, but the second is over: the new second's counter does
            // not know of them, so they go unused (over-issuing is the
            // fault to avoid; a wasted token is not).
            Ok(true) if second_now().0 != second => {}
            // Tokens of attempts given up on meanwhile go unused too.
            Ok(true) => drop(pacer.admit_some(tokens)),
            // Another member took some first: read again.
            Ok(false) => {}
            Err(e) => {
                tracing::debug!("cluster: pacing: {e}");
                actix_rt::time::sleep(RETRY_AFTER).await;
            }
        }
    }
    pacer.waiting() > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_keys_sort_by_second() {
        let config = ClusterConfig::new("http://127.0.0.1:1", "/p", "a");
        assert_eq!(counter_key(&config, 42), "/p/pacing/000000000042");
        assert!(counter_key(&config, 999) < counter_key(&config, 1000));
        let (_, left) = second_now();
        assert!(left <= Duration::from_secs(1));
    }
}
