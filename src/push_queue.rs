//! The queue behind [`EndpointHandle::push`](crate::EndpointHandle::push):
//! senders add payloads without a mailbox hop or a reply; the connection's
//! writer takes them oldest first, straight into the socket when nothing
//! waits ahead of them, into the outbox (while it has room) otherwise.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    task::{Context, Poll, Waker},
};

use crate::{delivery::overflow, Error, Payload};

/// Shared by an endpoint's handles (pushers) and its connection actor (the
/// one taker).
#[derive(Debug)]
pub(crate) struct PushQueue {
    state: Mutex<State>,
    /// How many payloads wait, as of the last change (read without the
    /// lock by routers weighing a member's load).
    depth: AtomicUsize,
    /// Pushed payloads that were accepted and then never written.
    lost: AtomicU64,
}

#[derive(Debug)]
struct State {
    items: VecDeque<Payload>,
    capacity: usize,
    /// Why new pushes are refused (endpoint closing, closed or failed).
    refused: Option<Error>,
    /// The writer, woken when a payload arrives.
    taker: Option<Waker>,
    /// Pushers waiting for room, woken when the writer takes.
    waiting: Vec<Waker>,
}

impl PushQueue {
    /// A queue holding at most `capacity` payloads.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                capacity,
                refused: None,
                taker: None,
                waiting: Vec::new(),
            }),
            depth: AtomicUsize::new(0),
            lost: AtomicU64::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole: a panic elsewhere cannot
        // leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `payload` when there is room; when full, `Err` carries an
    /// overflow error and the payload back.
    pub(crate) fn try_push(&self, payload: Payload) -> Result<(), (Error, Payload)> {
        let state = self.state();
        if let Some(refused) = &state.refused {
            return Err((refused.clone(), payload));
        }
        if state.items.len() >= state.capacity {
            return Err((overflow(state.capacity), payload));
        }
        self.enqueue(state, payload);
        Ok(())
    }

    /// Adds the payload in `slot` as soon as there is room; a refusal
    /// drops it.
    pub(crate) fn poll_push(
        &self,
        slot: &mut Option<Payload>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let mut state = self.state();
        if let Some(refused) = &state.refused {
            slot.take();
            return Poll::Ready(Err(refused.clone()));
        }
        if state.items.len() >= state.capacity {
            if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiting.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        if let Some(payload) = slot.take() {
            self.enqueue(state, payload);
        }
        Poll::Ready(Ok(()))
    }

    /// The writer takes up to `max` payloads into `out`, oldest first, and
    /// is woken by the next push. Returns whether payloads remain.
    ///
    /// When all of them go into an empty `out`, they move as one block (no
    /// move per payload under the lock): a writer that keeps `out` between
    /// takes trades buffers with the queue.
    pub(crate) fn take(&self, max: usize, taker: &Waker, out: &mut VecDeque<Payload>) -> bool {
        let mut state = self.state();
        if !state.taker.as_ref().is_some_and(|t| t.will_wake(taker)) {
            state.taker = Some(taker.clone());
        }
        let n = max.min(state.items.len());
        if n == 0 {
            return !state.items.is_empty();
        }
        if out.is_empty() && n == state.items.len() {
            std::mem::swap(&mut state.items, out);
        } else {
            out.extend(state.items.drain(..n));
        }
        self.depth.store(state.items.len(), Ordering::Relaxed);
        let remain = !state.items.is_empty();
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
        remain
    }

    /// How many payloads wait (read without the lock: it may be a moment
    /// old).
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Whether payloads wait.
    pub(crate) fn is_empty(&self) -> bool {
        self.state().items.is_empty()
    }

    /// Refuses new pushes with `error`; what is queued stays for the writer.
    pub(crate) fn refuse(&self, error: Error) {
        let waiting = {
            let mut state = self.state();
            state.refused = Some(error);
            std::mem::take(&mut state.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Accepts pushes again (a failed endpoint was revived).
    pub(crate) fn reopen(&self) {
        self.state().refused = None;
    }

    /// Drops everything queued, counting it lost; returns how many.
    pub(crate) fn clear(&self) -> u64 {
        let dropped = {
            let mut state = self.state();
            self.depth.store(0, Ordering::Relaxed);
            std::mem::take(&mut state.items).len() as u64
        };
        self.note_lost(dropped);
        dropped
    }

    /// Counts pushed payloads that were accepted and then not written.
    pub(crate) fn note_lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// Pushed payloads accepted and then never written.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Queues `payload` and wakes the writer if it waits for one.
    #[inline]
    fn enqueue(&self, mut state: MutexGuard<'_, State>, payload: Payload) {
        state.items.push_back(payload);
        self.depth.store(state.items.len(), Ordering::Relaxed);
        let taker = state.taker.take();
        drop(state);
        if let Some(taker) = taker {
            taker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::task::{waker, ArcWake};

    use super::*;
    use crate::ErrorCategory;

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl ArcWake for Wakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes::default());
        (wakes.clone(), waker(wakes))
    }

    fn text(s: &str) -> Payload {
        Payload::text(s.to_owned())
    }

    fn take_all(q: &PushQueue, waker: &Waker) -> Vec<Payload> {
        let mut out = VecDeque::new();
        q.take(usize::MAX, waker, &mut out);
        out.into()
    }

    #[test]
    fn pushes_are_taken_in_order_and_a_full_queue_hands_the_payload_back() {
        let q = PushQueue::new(2);
        q.try_push(text("a")).unwrap();
        q.try_push(text("b")).unwrap();
        let (error, back) = q.try_push(text("c")).unwrap_err();
        assert_eq!(error.category(), ErrorCategory::Overflow);
        assert_eq!(back, text("c"));
        let (_, w) = counting();
        assert_eq!(take_all(&q, &w), vec![text("a"), text("b")]);
        assert!(q.is_empty());
    }

    #[test]
    fn the_taker_is_woken_by_the_next_push_only() {
        let q = PushQueue::new(8);
        let (wakes, w) = counting();
        assert!(take_all(&q, &w).is_empty());
        q.try_push(text("a")).unwrap();
        q.try_push(text("b")).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "one wake per take");
        take_all(&q, &w);
        q.try_push(text("c")).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2);
    }

    /// A full queue of one ("a") and a pusher of "b" waiting for room.
    fn full_with_a_waiting_pusher() -> (Arc<PushQueue>, Arc<Wakes>, Waker, Option<Payload>) {
        let q = PushQueue::new(1);
        q.try_push(text("a")).unwrap();
        let (wakes, w) = counting();
        let mut slot = Some(text("b"));
        assert!(q
            .poll_push(&mut slot, &mut Context::from_waker(&w))
            .is_pending());
        assert!(slot.is_some(), "the payload stays with the pusher");
        (q, wakes, w, slot)
    }

    #[test]
    fn a_waiting_pusher_gets_in_when_the_writer_takes() {
        let (q, wakes, w, mut slot) = full_with_a_waiting_pusher();
        let mut cx = Context::from_waker(&w);
        let mut taken = VecDeque::new();
        q.take(1, futures::task::noop_waker_ref(), &mut taken);
        assert_eq!(taken, vec![text("a")]);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert!(matches!(
            q.poll_push(&mut slot, &mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(take_all(&q, &w), vec![text("b")]);
    }

    #[test]
    fn take_respects_its_limit() {
        let q = PushQueue::new(8);
        for s in ["a", "b", "c"] {
            q.try_push(text(s)).unwrap();
        }
        let mut taken = VecDeque::new();
        assert!(
            q.take(2, futures::task::noop_waker_ref(), &mut taken),
            "one remains"
        );
        assert_eq!(taken, vec![text("a"), text("b")]);
        assert!(!q.is_empty());
        assert!(!q.take(2, futures::task::noop_waker_ref(), &mut taken));
        assert!(q.is_empty());
    }

    #[test]
    fn refused_pushes_fail_and_clearing_counts_what_was_lost() {
        let q = PushQueue::new(8);
        q.try_push(text("a")).unwrap();
        q.try_push(text("b")).unwrap();
        let (wakes, w) = counting();
        let mut cx = Context::from_waker(&w);
        q.refuse(Error::endpoint("endpoint is closed"));
        let (error, _) = q.try_push(text("c")).unwrap_err();
        assert_eq!(error.message(), "endpoint is closed");
        let mut slot = Some(text("d"));
        match q.poll_push(&mut slot, &mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.message(), "endpoint is closed"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        assert_eq!(q.clear(), 2);
        assert_eq!(q.lost(), 2);
        q.reopen();
        q.try_push(text("e")).unwrap();
    }

    #[test]
    fn refusing_wakes_waiting_pushers() {
        let (q, wakes, w, mut slot) = full_with_a_waiting_pusher();
        let mut cx = Context::from_waker(&w);
        q.refuse(Error::endpoint("endpoint has failed"));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert!(matches!(
            q.poll_push(&mut slot, &mut cx),
            Poll::Ready(Err(_))
        ));
    }
}
