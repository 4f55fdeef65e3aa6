//! Queue limits, levels and slots.

use std::sync::atomic::AtomicUsize;

use super::*;

struct CountWakes(AtomicUsize);
impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn slots_count_until_dropped_and_clones_hold_nothing() {
    let gauge = Arc::new(Gauge::default());
    let a = gauge.take(1, 10);
    let b = gauge.take(3, 5);
    assert_eq!(
        gauge.level(),
        Level {
            messages: 4,
            bytes: 15
        }
    );
    let copy = a.clone();
    assert!(!copy.is_held());
    drop(copy);
    assert_eq!(gauge.level().messages, 4);
    a.release();
    assert_eq!(
        gauge.level(),
        Level {
            messages: 3,
            bytes: 5
        }
    );
    drop(b);
    assert_eq!(gauge.level(), Level::default());
}

#[test]
fn wakes_once_when_the_level_falls_to_the_mark() {
    let gauge = Arc::new(Gauge::default());
    let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let slots: Vec<_> = (0..4).map(|_| gauge.take(1, 1)).collect();
    let mark = Level {
        messages: 2,
        bytes: 2,
    };
    assert!(gauge.wake_at(mark, &waker));
    let mut slots = slots.into_iter();
    drop(slots.next());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "3 left: above the mark");
    drop(slots.next());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    drop(slots.next());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "one wake per wait");
    // Already at the mark: nothing to wait for.
    assert!(!gauge.wake_at(mark, &waker));
}

#[test]
fn limits_validate_and_split_for_drop_oldest() {
    assert!(QueueLimits::new(0, 1).validate().is_err());
    assert!(QueueLimits::new(1, 0).validate().is_err());
    assert!(QueueLimits::default().validate().is_ok());
    let drop_oldest = QueueLimits::new(5, 9).overflow(Overflow::DropOldest);
    assert_eq!(
        drop_oldest.mailbox_share(),
        Level {
            messages: 3,
            bytes: 5
        }
    );
    assert_eq!(
        QueueLimits::new(5, 9).mailbox_share(),
        Level {
            messages: 5,
            bytes: 9
        }
    );
    assert!(Level {
        messages: 1,
        bytes: 9
    }
    .reaches(Level {
        messages: 5,
        bytes: 9
    }));
    assert!(!Level {
        messages: 4,
        bytes: 8
    }
    .reaches(Level {
        messages: 5,
        bytes: 9
    }));
}

#[test]
fn overflow_reads_from_config_words() {
    let limits: QueueLimits =
        serde_json::from_str(r#"{"messages": 10, "overflow": "drop_oldest"}"#).unwrap();
    assert_eq!(limits.overflow, Overflow::DropOldest);
    assert_eq!(limits.bytes, DEFAULT_QUEUE_BYTES);
}
