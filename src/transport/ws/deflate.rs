//! permessage-deflate (RFC 7692): the handshake ([`negotiation`]) and the
//! per-message transforms, [`Deflater`] for what we send and [`Inflater`]
//! for what we receive.
//!
//! This module is pure: the frame codec owns the frames and calls in. What
//! the codec does with it:
//! - Offer [`DeflateConfig::offer`] in `Sec-WebSocket-Extensions`, and pass
//!   the response's values to [`negotiate`]; `None` means no compression.
//! - Outbound: a data message goes through [`Deflater::compress`] whole,
//!   and its first frame carries RSV1; continuation frames never do. Control
//!   frames are never compressed. A message may also go out uncompressed
//!   (RSV1 clear), and must when [`Deflater::new`] gave `None`.
//! - Inbound: RSV1 on the first frame of a data message means compressed;
//!   RSV1 on a continuation or control frame, or any RSV1 without an agreed
//!   extension, is a protocol error (1002). Each frame's payload of a
//!   compressed message goes to [`Inflater::inflate`], `fin` on the last;
//!   UTF-8 is checked on the inflated text.
//! - Any error fails the connection with the error's close code; the
//!   transforms are not usable after an error.
//!
//! Memory (flate2 on zlib-rs, measured with a counting allocator): a
//! [`Deflater`] allocates 245 KiB at 9 window bits and 371 KiB at 15 (a
//! fixed 128 KiB hash table and 112 KiB of block buffers, plus the window);
//! an [`Inflater`] allocates 46 KiB whatever the window bits (zlib-rs keeps
//! a full 32 KiB window). So create each one on the first compressed
//! message in its direction, not at the handshake; with
//! `client_no_context_takeover` a [`Deflater`] holds nothing between
//! messages and one per thread can serve every connection.

// Parts of the negotiation (config validation, a per-endpoint offer) are
// used by tests only until the offer becomes configurable.
#![cfg_attr(not(test), allow(dead_code))]

mod negotiation;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use self::negotiation::MIN_DEFLATE_WINDOW_BITS;
pub(crate) use self::negotiation::{negotiate, Agreed, DeflateConfig};
use crate::Error;

/// The empty stored block a sync flush ends with. The sender strips it
/// (RFC 7692 §7.2.1); the receiver appends it back (§7.2.2).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Close code for a message that inflates past `max_message_size` (RFC 6455
/// §7.4.1, "message too big").
const CLOSE_TOO_BIG: u16 = 1009;

/// Close code for compressed data that does not inflate. RFC 7692 §7.2.2
/// only says to fail the connection; the payload breaks the framing the
/// extension agreed on, which is a protocol error (1002). (node's `ws` sends
/// 1007, whose definition, data inconsistent with the message type, fits
/// invalid UTF-8 better than a broken DEFLATE stream.)
const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// Close code for a compressor failure on our side (1011, internal error).
const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// Output room for the first inflate step, per compressed input byte.
const INFLATE_ROOM_PER_BYTE: usize = 4;

/// Smallest and largest output room for one inflate step: small enough that
/// a bomb overshoots the limit by little, large enough that big messages
/// take few steps.
const MIN_INFLATE_STEP: usize = 1024;
const MAX_INFLATE_STEP: usize = 256 * 1024;

thread_local! {
    /// One compressor per thread and window size, shared by every endpoint
    /// on the thread: we always compress without context takeover, so a
    /// compressor keeps nothing between messages (and zlib-rs's 250-370 KiB
    /// of state is paid once per thread, not per connection).
    static SHARED: std::cell::RefCell<Vec<(u8, Deflater)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends `message` compressed with this thread's compressor for the
/// agreed client window (a fresh window for every message, whatever the
/// server answered: a client may always compress without context
/// takeover). False when the agreed window is too small to compress at
/// all: send the message uncompressed.
///
/// # Errors
/// As [`Deflater::compress`]; the failed compressor is dropped.
pub(crate) fn compress_shared(
    agreed: &Agreed,
    message: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, Error> {
    let agreed = Agreed {
        client_no_context_takeover: true,
        ..*agreed
    };
    let bits = agreed.client_window_bits;
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        let at = match shared.iter().position(|(b, _)| *b == bits) {
            Some(at) => at,
            None => {
                let Some(deflater) = Deflater::new(&agreed) else {
                    return Ok(false);
                };
                shared.push((bits, deflater));
                shared.len() - 1
            }
        };
        let result = shared[at].1.compress(message, out);
        if result.is_err() {
            shared.swap_remove(at);
        }
        result.map(|()| true)
    })
}

/// Compresses outgoing messages (RFC 7692 §7.2.1): raw DEFLATE, a sync
/// flush at the end of each message, the trailing `00 00 ff ff` removed.
#[derive(Debug)]
pub(crate) struct Deflater {
    compress: Compress,
    /// `client_no_context_takeover`: a fresh window for every message.
    reset_each_message: bool,
}

impl Deflater {
    /// A compressor for the agreed client window.
    ///
    /// Returns `None` when the server limited our window to 2^8 bytes: no
    /// zlib backend can compress within 256 bytes, so every message must go
    /// out uncompressed (RSV1 clear), which RFC 7692 allows for any message.
    pub(crate) fn new(agreed: &Agreed) -> Option<Self> {
        if agreed.client_window_bits < MIN_DEFLATE_WINDOW_BITS {
            return None;
        }
        let compress = Compress::new_with_window_bits(
            Compression::default(),
            false,
            agreed.client_window_bits,
        );
        Some(Self {
            compress,
            reset_each_message: agreed.client_no_context_takeover,
        })
    }

    /// Appends `message`, compressed, to `out`: the payload of a message
    /// sent with RSV1 on its first frame.
    ///
    /// # Errors
    /// A protocol error with close code 1011 if the compressor fails (it
    /// does not on valid input; the connection should end).
    pub(crate) fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if message.is_empty() {
            // Every message ends with a sync flush, so the stream sits on a
            // byte boundary: an empty stored block, less its stripped tail,
            // is one zero byte (RFC 7692 §7.2.3.6). zlib would refuse a
            // second flush with no input in between.
            out.push(0x00);
            return Ok(());
        }
        let start = out.len();
        // Text compresses well; if not, the loop grows the buffer.
        out.reserve(message.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            let before = self.compress.total_in();
            let status = self
                .compress
                .compress_vec(&message[consumed..], out, FlushCompress::Sync)
                .map_err(|err| compress_error(&err))?;
            consumed += delta(before, self.compress.total_in());
            // Done when all input is in and the flush did not fill the room.
            if consumed == message.len() && out.len() < out.capacity() {
                break;
            }
            if status == Status::BufError && out.len() < out.capacity() {
                return Err(compress_error(&"no progress"));
            }
            out.reserve(out.capacity().max(64));
        }
        if !out[start..].ends_with(&SYNC_TAIL) {
            return Err(compress_error(&"sync flush missing"));
        }
        out.truncate(out.len() - SYNC_TAIL.len());
        if self.reset_each_message {
            self.compress.reset();
        }
        Ok(())
    }
}

/// Decompresses incoming messages (RFC 7692 §7.2.2), frame by frame, with
/// the message size limit applied while inflating.
#[derive(Debug)]
pub(crate) struct Inflater {
    decompress: Decompress,
    /// `server_no_context_takeover`: a fresh window for every message.
    reset_each_message: bool,
    max_message_size: usize,
    /// Bytes inflated so far in the current message.
    produced: usize,
    /// The DEFLATE stream ended (a block with BFINAL set): the rest of the
    /// message is ignored, and the next starts a fresh stream.
    stream_ended: bool,
}

impl Inflater {
    /// An inflater for the agreed server window; messages may inflate to at
    /// most `max_message_size` bytes.
    pub(crate) fn new(agreed: &Agreed, max_message_size: usize) -> Self {
        // zlib takes 9..=15; a window larger than the sender's is always
        // safe, so 8 inflates with 9.
        let bits = agreed.server_window_bits.max(MIN_DEFLATE_WINDOW_BITS);
        Self {
            decompress: Decompress::new_with_window_bits(false, bits),
            reset_each_message: agreed.server_no_context_takeover,
            max_message_size,
            produced: 0,
            stream_ended: false,
        }
    }

    /// Inflates one frame's payload of a compressed message, appending the
    /// output to `out`; `fin` marks the message's last frame.
    ///
    /// Output counts against `max_message_size` across the message's
    /// frames while it is produced, so a small frame that would expand past
    /// the limit stops after inflating about the limit.
    ///
    /// # Errors
    /// A protocol error with close code 1009 when the message inflates past
    /// `max_message_size`, or 1002 when the payload is not valid DEFLATE
    /// data.
    pub(crate) fn inflate(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.feed(payload, FlushDecompress::None, out)?;
        if fin {
            self.feed(&SYNC_TAIL, FlushDecompress::Sync, out)?;
            self.produced = 0;
            if self.reset_each_message || self.stream_ended {
                self.decompress.reset(false);
                self.stream_ended = false;
            }
        }
        Ok(())
    }

    /// Inflates all of `input`, in steps of bounded output room.
    fn feed(
        &mut self,
        input: &[u8],
        flush: FlushDecompress,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut consumed = 0;
        let mut step =
            (input.len() * INFLATE_ROOM_PER_BYTE).clamp(MIN_INFLATE_STEP, MAX_INFLATE_STEP);
        // Each pass consumes input or writes output (else it errors out),
        // and output is bounded by the limit, so this ends.
        while !self.stream_ended {
            // One byte past the limit tells "exactly at" from "over".
            let room = step.min((self.max_message_size - self.produced).saturating_add(1));
            let start = out.len();
            out.resize(start + room, 0);
            let (in_before, out_before) = (self.decompress.total_in(), self.decompress.total_out());
            let result = self
                .decompress
                .decompress(&input[consumed..], &mut out[start..], flush);
            let wrote = delta(out_before, self.decompress.total_out());
            let took = delta(in_before, self.decompress.total_in());
            consumed += took;
            out.truncate(start + wrote);
            self.produced += wrote;
            let status = result.map_err(|err| {
                Error::protocol(format!("invalid compressed message: {err}"))
                    .with_close_code(Some(CLOSE_PROTOCOL_ERROR))
            })?;
            if self.produced > self.max_message_size {
                return Err(Error::protocol(format!(
                    "message inflates past the {} byte limit",
                    self.max_message_size
                ))
                .with_close_code(Some(CLOSE_TOO_BIG)));
            }
            match status {
                Status::StreamEnd => self.stream_ended = true,
                _ if consumed == input.len() && wrote < room => break,
                _ if wrote == 0 && took == 0 => {
                    return Err(Error::protocol("invalid compressed message: no progress")
                        .with_close_code(Some(CLOSE_PROTOCOL_ERROR)));
                }
                _ => step = (step * 2).min(MAX_INFLATE_STEP),
            }
        }
        Ok(())
    }
}

/// How far a flate2 byte counter moved during one call (bounded by the
/// slice lengths passed in, so it fits a `usize`).
fn delta(before: u64, after: u64) -> usize {
    usize::try_from(after - before).unwrap_or(usize::MAX)
}

fn compress_error(err: &dyn std::fmt::Display) -> Error {
    Error::protocol(format!("compressing a message failed: {err}"))
        .with_close_code(Some(CLOSE_INTERNAL_ERROR))
}

#[cfg(test)]
mod tests;
