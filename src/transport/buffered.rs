//! A codec wrapper that sizes a `Framed` read buffer by the connection's
//! traffic (see `read_buffer`): `Framed` hands the decoder its read buffer
//! before every read, so the wrapper can make room, or swap in a small
//! buffer, before the socket is read.

use actix_codec::{Decoder, Encoder};
use bytes::BytesMut;

use super::read_buffer::{ReadBufferPolicy, BUSY_CAPACITY, QUIET_CAPACITY};

/// `codec`, with the read buffer's size policy.
#[derive(Debug)]
pub(super) struct Buffered<C> {
    codec: C,
    policy: ReadBufferPolicy,
    /// Bytes decoded into messages since the last poll ended.
    decoded: usize,
    /// A quiet interval passed: swap in a small buffer when next possible.
    shrink: bool,
    /// Bytes left in the buffer after the last decode.
    left: usize,
    /// Bytes arrived since the last poll ended (part of a message, maybe).
    arrived: bool,
}

impl<C> Buffered<C> {
    pub(super) fn new(codec: C) -> Self {
        Self {
            codec,
            policy: ReadBufferPolicy::default(),
            decoded: 0,
            shrink: false,
            left: 0,
            arrived: false,
        }
    }

    /// One read poll decoded `messages`; whether any bytes arrived in it
    /// (a message still incomplete shows the peer alive too).
    pub(super) fn end_poll(&mut self, messages: usize) -> bool {
        self.policy
            .after_poll(messages, std::mem::take(&mut self.decoded));
        std::mem::take(&mut self.arrived)
    }

    /// A heartbeat interval passed.
    pub(super) fn tick(&mut self, buffer_empty: bool) {
        // `Framed` reads into its buffer before the next decode: the swap
        // happens there, with whatever little is buffered by then.
        self.shrink |= self.policy.on_tick(buffer_empty);
    }
}

impl<C: Decoder> Decoder for Buffered<C> {
    type Item = C::Item;
    type Error = C::Error;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, C::Error> {
        if self.shrink && src.len() <= QUIET_CAPACITY / 2 && !self.policy.is_busy() {
            self.shrink = false;
            let mut small = BytesMut::with_capacity(QUIET_CAPACITY);
            small.extend_from_slice(src);
            *src = small;
        }
        let before = src.len();
        self.arrived |= before > self.left;
        let item = self.codec.decode(src);
        self.left = src.len();
        let item = item?;
        match item {
            Some(_) => self.decoded += before - src.len(),
            // About to read: a streaming connection reads 64 KiB at once
            // (a fresh buffer while messages hold on to the last one).
            None if self.policy.is_busy() && src.capacity() - src.len() < BUSY_CAPACITY / 2 => {
                src.reserve(
                    BUSY_CAPACITY
                        .saturating_sub(src.len())
                        .max(BUSY_CAPACITY / 2),
                );
            }
            None => {}
        }
        Ok(item)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, C::Error> {
        let item = self.codec.decode_eof(src);
        self.left = src.len();
        item
    }
}

impl<I, C: Encoder<I>> Encoder<I> for Buffered<C> {
    type Error = C::Error;

    #[inline]
    fn encode(&mut self, item: I, dst: &mut BytesMut) -> Result<(), C::Error> {
        // An encoder that fails partway must not leave half a message
        // queued in front of the next one.
        let before = dst.len();
        let done = self.codec.encode(item, dst);
        if done.is_err() {
            dst.truncate(before);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages of four bytes.
    struct Fours;

    impl Decoder for Fours {
        type Item = BytesMut;
        type Error = std::io::Error;
        fn decode(&mut self, src: &mut BytesMut) -> std::io::Result<Option<BytesMut>> {
            Ok((src.len() >= 4).then(|| src.split_to(4)))
        }
    }

    #[test]
    fn a_streaming_connection_reads_into_a_large_buffer_and_a_quiet_one_a_small_one() {
        let mut codec = Buffered::new(Fours);
        let mut buf = BytesMut::with_capacity(QUIET_CAPACITY);
        buf.extend_from_slice(&[0; 4096]);
        let mut held = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            held.push(item);
        }
        assert!(buf.capacity() < BUSY_CAPACITY / 2, "not streaming yet");
        assert!(codec.end_poll(held.len()), "bytes arrived");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= BUSY_CAPACITY / 2, "{}", buf.capacity());
        // A quiet interval: the next decode with little buffered swaps in
        // a small buffer, keeping what it held.
        codec.tick(true);
        codec.tick(true);
        buf.extend_from_slice(&[1, 2]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], &[1, 2]);
        assert!(buf.capacity() <= QUIET_CAPACITY * 2, "{}", buf.capacity());
    }

    /// Writes its message's first byte, then refuses messages longer
    /// than one byte.
    struct Partial;

    impl Encoder<&'static [u8]> for Partial {
        type Error = std::io::Error;
        fn encode(&mut self, item: &'static [u8], dst: &mut BytesMut) -> std::io::Result<()> {
            dst.extend_from_slice(&item[..1]);
            if item.len() > 1 {
                return Err(std::io::Error::other("too long"));
            }
            Ok(())
        }
    }

    #[test]
    fn a_failed_encode_leaves_nothing_of_its_message_queued() {
        let mut codec = Buffered::new(Partial);
        let mut dst = BytesMut::new();
        codec.encode(b"a", &mut dst).unwrap();
        codec.encode(b"xyz", &mut dst).unwrap_err();
        assert_eq!(&dst[..], b"a");
        codec.encode(b"b", &mut dst).unwrap();
        assert_eq!(&dst[..], b"ab");
    }

    #[test]
    fn part_of_a_message_counts_as_bytes_arrived() {
        let mut codec = Buffered::new(Fours);
        let mut buf = BytesMut::from(&[0, 0][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(codec.end_poll(0), "two bytes of a message");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(!codec.end_poll(0), "nothing new");
        buf.extend_from_slice(&[0]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(codec.end_poll(0));
    }
}
