//! Following the prefix: read it once, then keep the node's [`Mirror`]
//! current from a watch, telling the node of each change so it looks at
//! once (a graceful handover takes a round trip, not a poll interval).

use std::time::Duration;

use futures::StreamExt;

use super::{
    etcd::{Batch, Etcd},
    look::Shared,
    mirror::Mirror,
    ClusterConfig,
};
use crate::{Error, ErrorCategory, Result};

/// How long one watch is trusted before the prefix is read again: a watch
/// whose connection died without a word (a half-open socket) goes stale
/// silently, so no copy is older than this.
pub(crate) const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// Keeps `shared.mirror` current until the watch breaks or
/// [`RESYNC_EVERY`] passes; `changed` is called whenever a kept key
/// changes. On return the mirror is cleared (looks read etcd themselves
/// until the next follow has read the prefix).
pub(crate) async fn follow(
    config: &ClusterConfig,
    etcd: &Etcd,
    shared: &Shared,
    changed: impl Fn(),
) -> Result<()> {
    let outcome = watch(config, etcd, shared, &changed).await;
    shared.mirror.borrow_mut().take();
    outcome
}

async fn watch(
    config: &ClusterConfig,
    etcd: &Etcd,
    shared: &Shared,
    changed: &impl Fn(),
) -> Result<()> {
    let prefix = format!("{}/", config.prefix);
    let (kvs, revision) = etcd.range_prefix(&prefix).await?;
    let skip = config.key("pacing", "");
    *shared.mirror.borrow_mut() = Some(Mirror::new(kvs, skip));
    changed();
    let batches = etcd.watch(&prefix, revision + 1).await?;
    let until = actix_rt::time::sleep(RESYNC_EVERY);
    futures::pin_mut!(until);
    // Ends on the first error, a cancel, or the resync time.
    let mut batches = batches.take_until(until);
    while let Some(batch) = batches.next().await {
        match batch? {
            Batch::Created => {}
            Batch::Changes(changes) => {
                let applied = (shared.mirror.borrow_mut().as_mut())
                    .is_some_and(|mirror| mirror.apply(changes));
                if applied {
                    changed();
                }
            }
            Batch::Canceled(why) => {
                return Err(Error::new(
                    ErrorCategory::Protocol,
                    format!("etcd ended the watch: {why}"),
                ))
            }
        }
    }
    Ok(())
}
