//! The read buffer of a WebSocket or framed (TCP) connection: small while
//! the connection is quiet, large while it streams.
//!
//! Frames reach subscribers without a copy, so each keeps its part of the
//! read buffer alive until the subscriber is done with it. With a small
//! buffer a busy connection then allocates, and reads into, a fresh one
//! every few frames (1 KiB frames arrived at less than half the rate of a
//! loop that drops each frame at once). A connection that reads 4 KiB of
//! data or more in one poll switches to a 64 KiB buffer: one allocation and
//! one read per 64 KiB. After a heartbeat interval with few frames it
//! returns to 2 KiB, so thousands of quiet endpoints keep a small footprint
//! (pongs, heartbeat replies and small messages fit in it; a larger frame
//! gets room for itself as it arrives). A quiet WebSocket connection with
//! nothing buffered reads into the stack and keeps only what arrived, so
//! between reads it holds no read buffer at all.

/// Read buffer of a quiet connection.
pub(crate) const QUIET_CAPACITY: usize = 2 * 1024;
/// Read buffer of a streaming connection.
pub(crate) const BUSY_CAPACITY: usize = 64 * 1024;
/// Data bytes in one poll from which a connection counts as streaming.
const BUSY_FROM: usize = 4 * 1024;
/// Frames per heartbeat interval below which a busy connection is quiet.
const QUIET_BELOW: u32 = 256;

/// When to grow and shrink the read buffer (pure bookkeeping).
#[derive(Debug, Default)]
pub(crate) struct ReadBufferPolicy {
    busy: bool,
    /// Frames read since the last heartbeat tick.
    frames: u32,
}

impl ReadBufferPolicy {
    /// Counts one poll's frames and data bytes; `true` when the buffer
    /// should grow now.
    pub(crate) fn after_poll(&mut self, frames: usize, bytes: usize) -> bool {
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        self.frames = self.frames.saturating_add(frames);
        let grow = bytes >= BUSY_FROM && !self.busy;
        self.busy |= grow;
        grow
    }

    /// Whether the connection streams (its buffer should be large).
    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// At a heartbeat tick; `true` when the buffer should shrink now. Only
    /// an empty buffer is swapped, so a quiet connection holding part of a
    /// frame tries again at the next tick.
    pub(crate) fn on_tick(&mut self, buffer_empty: bool) -> bool {
        let quiet = self.frames < QUIET_BELOW;
        self.frames = 0;
        let shrink = self.busy && quiet && buffer_empty;
        self.busy &= !shrink;
        shrink
    }
}

#[cfg(test)]
mod tests {
    use super::{ReadBufferPolicy, BUSY_FROM};

    #[test]
    fn grows_once_when_a_poll_reads_a_small_buffer_worth() {
        let mut policy = ReadBufferPolicy::default();
        assert!(!policy.after_poll(10, 640));
        assert!(!policy.after_poll(60, BUSY_FROM - 1));
        assert!(policy.after_poll(4, BUSY_FROM));
        assert!(!policy.after_poll(256, 4 * BUSY_FROM), "already large");
    }

    #[test]
    fn shrinks_after_a_quiet_interval_with_an_empty_buffer() {
        let mut policy = ReadBufferPolicy::default();
        assert!(!policy.on_tick(true), "small buffers never shrink");
        policy.after_poll(256, BUSY_FROM);
        assert!(
            !policy.on_tick(true),
            "256 frames this interval: still busy"
        );
        policy.after_poll(3, 100);
        assert!(!policy.on_tick(false), "part of a frame is buffered");
        assert!(policy.on_tick(true));
        assert!(!policy.on_tick(true), "already small");
        assert!(
            policy.after_poll(256, BUSY_FROM),
            "grows again on the next burst"
        );
    }
}
