//! The receipts of a batch sent with
//! [`EndpointHandle::send_many`](crate::EndpointHandle::send_many), one per
//! message, in order.
//!
//! Messages written straight into the live socket all get the same receipt
//! (written on connection `generation`, complete, no channel), so a run of
//! them is kept as a count: a batch that went out whole costs no memory
//! per message, and reading its receipts builds each on the way.

use std::{fmt, vec};

use crate::{Accepted, Receipt, Result};

/// One receipt per message of a batch, in the batch's order: iterate it
/// (by value) to get each message's `Result<Receipt>`.
///
/// ```
/// # async fn demo(handle: actix_tether::EndpointHandle) -> actix_tether::Result<()> {
/// use actix_tether::Payload;
/// let batch = vec![Payload::text("a"), Payload::text("b")];
/// let receipts = handle.send_many(batch).await?;
/// assert_eq!(receipts.len(), 2);
/// for receipt in receipts {
///     receipt?.outcome().await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Receipts {
    entries: Vec<Entry>,
    len: usize,
}

enum Entry {
    /// `count` messages in a row written straight into connection
    /// `generation`.
    Written { generation: u64, count: usize },
    /// Any other receipt (queued, with a channel) or an error.
    One(Result<Receipt>),
}

impl Receipts {
    /// Room for `entries` runs or single receipts.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        Self {
            entries: Vec::with_capacity(entries),
            len: 0,
        }
    }

    /// The next message was written straight into connection `generation`.
    pub(crate) fn written(&mut self, generation: u64) {
        self.len += 1;
        if let Some(Entry::Written {
            generation: last,
            count,
        }) = self.entries.last_mut()
        {
            if *last == generation {
                *count += 1;
                return;
            }
        }
        self.entries.push(Entry::Written {
            generation,
            count: 1,
        });
    }

    /// The next message's receipt or error.
    pub(crate) fn push(&mut self, receipt: Result<Receipt>) {
        match receipt.as_ref().ok().and_then(Receipt::complete_write) {
            Some(generation) => self.written(generation),
            None => {
                self.len += 1;
                self.entries.push(Entry::One(receipt));
            }
        }
    }

    /// How many messages the batch had.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many messages were refused (an `Err` receipt).
    pub fn refused(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::One(Err(_))))
            .count()
    }

    /// The receipts as a vector (one allocation per batch).
    pub fn into_vec(self) -> Vec<Result<Receipt>> {
        self.into_iter().collect()
    }
}

impl fmt::Debug for Receipts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipts")
            .field("len", &self.len)
            .field("refused", &self.refused())
            .finish_non_exhaustive()
    }
}

impl IntoIterator for Receipts {
    type Item = Result<Receipt>;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter {
            entries: self.entries.into_iter(),
            run: None,
            left: self.len,
        }
    }
}

/// The receipts of a batch, in order (see [`Receipts`]).
pub struct IntoIter {
    entries: vec::IntoIter<Entry>,
    /// What is left of the current run of straight writes.
    run: Option<(u64, usize)>,
    left: usize,
}

impl Iterator for IntoIter {
    type Item = Result<Receipt>;

    fn next(&mut self) -> Option<Result<Receipt>> {
        loop {
            if let Some((generation, count)) = &mut self.run {
                if *count > 0 {
                    *count -= 1;
                    self.left -= 1;
                    let accepted = Accepted::Written {
                        generation: *generation,
                    };
                    return Some(Ok(Receipt::new(accepted, None)));
                }
                self.run = None;
            }
            match self.entries.next()? {
                Entry::Written { generation, count } => self.run = Some((generation, count)),
                Entry::One(receipt) => {
                    self.left -= 1;
                    return Some(receipt);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for IntoIter {}

impl fmt::Debug for IntoIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

/// Keeps the order of receipts collected from several sources.
impl FromIterator<Result<Receipt>> for Receipts {
    fn from_iter<I: IntoIterator<Item = Result<Receipt>>>(iter: I) -> Self {
        let mut receipts = Self::default();
        iter.into_iter().for_each(|r| receipts.push(r));
        receipts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorCategory};

    fn generations(receipts: Receipts) -> Vec<Option<u64>> {
        receipts
            .into_iter()
            .map(|r| match r.map(|r| r.accepted()) {
                Ok(Accepted::Written { generation }) => Some(generation),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn runs_of_straight_writes_come_back_one_receipt_each_in_order() {
        let mut receipts = Receipts::with_capacity(4);
        receipts.written(1);
        receipts.written(1);
        receipts.push(Err(Error::endpoint("refused")));
        receipts.written(1);
        receipts.written(2);
        receipts.push(Ok(Receipt::new(Accepted::Written { generation: 2 }, None)));
        assert_eq!(receipts.len(), 6);
        assert_eq!(receipts.refused(), 1);
        assert_eq!(receipts.entries.len(), 4, "runs are kept as counts");
        let iter = receipts.into_iter();
        assert_eq!(iter.len(), 6);
        let got: Vec<_> = iter.collect();
        assert_eq!(got.len(), 6);
        assert_eq!(
            got[2].as_ref().unwrap_err().category(),
            ErrorCategory::Endpoint
        );
        let mut again = Receipts::default();
        again.written(1);
        again.written(1);
        again.push(Err(Error::endpoint("refused")));
        again.written(1);
        again.written(2);
        again.written(2);
        assert_eq!(
            generations(again),
            vec![Some(1), Some(1), None, Some(1), Some(2), Some(2)]
        );
    }

    #[test]
    fn an_empty_batch_has_no_receipts() {
        let receipts = Receipts::default();
        assert!(receipts.is_empty());
        assert_eq!(receipts.into_iter().next().map(|_| ()), None);
    }
}
