//! Samples on their way to the monitor. The periodic flushes of one
//! thread's connections travel together: one message per monitor for all
//! that fall due in one turn of the thread, rather than a message, and
//! often a wake-up of the monitor's thread (a write to its eventfd), per
//! connection.

use std::cell::RefCell;

use actix::Addr;

use super::{MonitorActor, Samples, SamplesObserved};
use crate::EndpointId;

/// One monitor's share of what this thread flushes in the current turn.
type Pending = (Addr<MonitorActor>, Vec<(EndpointId, Samples)>);

thread_local! {
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// Sends `samples` to `monitor` once this thread's ready tasks have run,
/// with the others flushed meanwhile. Must be called on an actix thread.
pub(crate) fn send_soon(monitor: &Addr<MonitorActor>, endpoint: EndpointId, samples: Samples) {
    let first = PENDING.with_borrow_mut(|pending| {
        let first = pending.is_empty();
        match pending.iter_mut().find(|(to, _)| to == monitor) {
            Some((_, batch)) => batch.push((endpoint, samples)),
            None => pending.push((monitor.clone(), vec![(endpoint, samples)])),
        }
        first
    });
    if first {
        actix_rt::spawn(async {
            // Back after the tasks already woken (the rest of the burst).
            actix_rt::task::yield_now().await;
            for (monitor, batch) in PENDING.with_borrow_mut(std::mem::take) {
                monitor.do_send(SamplesObserved { batch });
            }
        });
    }
}
