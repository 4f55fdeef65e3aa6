//! A copy of the keys under the cluster's prefix, kept by a watch: read
//! once, then changed by each batch etcd streams, so a look reads memory,
//! not the whole prefix from etcd (about 4 MB at 10,000 endpoints).

use std::collections::BTreeMap;

use super::etcd::{Change, KeyValue};

/// The keys under the prefix (the pacing counters left out: they change
/// every second and no look needs them).
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    keys: BTreeMap<String, KeyValue>,
    /// Keys starting with this are not kept.
    skip: String,
}

impl Mirror {
    /// The keys a range answered, leaving out those under `skip`; the
    /// watch that keeps it starts just after the range's revision.
    pub(crate) fn new(kvs: Vec<KeyValue>, skip: String) -> Self {
        let keys = kvs
            .into_iter()
            .filter(|kv| !kv.key.starts_with(&skip))
            .map(|kv| (kv.key.clone(), kv))
            .collect();
        Self { keys, skip }
    }

    /// Applies a watch's batch, in order; answers whether a kept key
    /// changed. (A batch's header revision is the store's at sending, not
    /// its changes': several batches may carry the same one, so it orders
    /// nothing here.)
    pub(crate) fn apply(&mut self, changes: Vec<Change>) -> bool {
        let mut changed = false;
        for change in changes {
            match change {
                Change::Put(kv) if !kv.key.starts_with(&self.skip) => {
                    self.keys.insert(kv.key.clone(), kv);
                    changed = true;
                }
                Change::Delete(key) if !key.starts_with(&self.skip) => {
                    changed |= self.keys.remove(&key).is_some();
                }
                _ => {}
            }
        }
        changed
    }

    /// The keys, in key order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &KeyValue> {
        self.keys.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, revision: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: revision,
            mod_revision: revision,
            lease: 0,
        }
    }

    fn keys(mirror: &Mirror) -> Vec<(&str, &[u8])> {
        mirror
            .keys()
            .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
            .collect()
    }

    #[test]
    fn follows_puts_and_deletes_and_skips_what_it_does_not_keep() {
        let kvs = vec![
            kv("p/a", "1", 2),
            kv("p/pacing/9", "3", 3),
            kv("p/b", "2", 4),
        ];
        let mut mirror = Mirror::new(kvs, "p/pacing/".into());
        assert_eq!(keys(&mirror), [("p/a", &b"1"[..]), ("p/b", b"2")]);
        // A pacing counter alone changes nothing a look reads.
        assert!(!mirror.apply(vec![Change::Put(kv("p/pacing/10", "1", 5))]));
        let batch = vec![
            Change::Put(kv("p/a", "9", 6)),
            Change::Delete("p/b".into()),
            Change::Put(kv("p/c", "3", 6)),
        ];
        assert!(mirror.apply(batch));
        assert_eq!(keys(&mirror), [("p/a", &b"9"[..]), ("p/c", b"3")]);
        // Deleting what is not there: no change.
        assert!(!mirror.apply(vec![Change::Delete("p/zz".into())]));
        // Two batches sent at one store revision both apply.
        assert!(mirror.apply(vec![Change::Delete("p/a".into())]));
        assert!(mirror.apply(vec![Change::Delete("p/c".into())]));
        assert!(keys(&mirror).is_empty());
    }
}
