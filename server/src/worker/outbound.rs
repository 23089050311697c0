//! A connection's queued output: a queue of chunks taken from the worker's [`ChunkPool`] and
//! given back to it once written, flushed with one `writev` over several chunks.
//!
//! Why chunks and not one growing `Vec` per connection: a subscriber behind a fast publisher
//! queues megabytes between two flushes. A single buffer grew by reallocation (copying, or
//! `mremap` with fresh zeroed pages for large ones) and was shrunk again when a flush drained
//! it, so every burst paid page faults for every page it used: at 16 KiB messages a quarter of
//! the server's time was spent in the kernel faulting and clearing pages (issue 12). Chunks of
//! a fixed size are reused from the worker's pool instead, are never copied when more is
//! queued, and an idle connection holds none. nats-server does the same with its pooled
//! 512 B / 4 KiB / 64 KiB buffers and `net.Buffers` (client.go `queueOutbound`,
//! `flushOutbound`).

use std::collections::VecDeque;
use std::io::IoSlice;

/// Size of a large chunk: what a busy connection queues into.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Size of the first chunk of a connection that queues little (a reply, a PONG, INFO), so a
/// connection with a few bytes waiting for a blocked socket does not hold 64 KiB.
pub const SMALL_CHUNK_BYTES: usize = 4 * 1024;
/// Free chunks a worker keeps per size (4 MiB of large ones); any more are freed.
pub const POOL_CHUNKS: usize = 64;
/// Chunks written by one `writev` (1 MiB of large chunks; well under the kernel's IOV_MAX).
pub const IOV_PER_WRITE: usize = 16;

/// Free chunks of one worker, by size. Owned by the worker thread: no lock.
#[derive(Debug, Default)]
pub struct ChunkPool {
    large: Vec<Vec<u8>>,
    small: Vec<Vec<u8>>,
}

impl ChunkPool {
    /// An empty chunk with room for `at_least` bytes: a pooled small or large chunk, or a
    /// chunk of its own for a message larger than a large chunk (not pooled afterwards).
    fn take(&mut self, at_least: usize, first: bool) -> Vec<u8> {
        if first && at_least <= SMALL_CHUNK_BYTES {
            return self
                .small
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(SMALL_CHUNK_BYTES));
        }
        if at_least <= CHUNK_BYTES {
            return self
                .large
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK_BYTES));
        }
        Vec::with_capacity(at_least)
    }

    /// Takes a written chunk back, if it has a pooled size and the pool is not full.
    fn give(&mut self, mut chunk: Vec<u8>) {
        let free = match chunk.capacity() {
            CHUNK_BYTES => &mut self.large,
            SMALL_CHUNK_BYTES => &mut self.small,
            _ => return,
        };
        if free.len() < POOL_CHUNKS {
            chunk.clear();
            free.push(chunk);
        }
    }

    /// Chunks kept for reuse (large, small).
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        (self.large.len(), self.small.len())
    }
}

/// Queued output of one connection: `chunks[0][pos..]`, then the other chunks whole.
#[derive(Debug, Default)]
pub struct Outbound {
    chunks: VecDeque<Vec<u8>>,
    /// How much of the front chunk the socket has taken.
    pos: usize,
    /// Bytes queued and not yet written.
    pending: usize,
}

impl Outbound {
    /// Bytes not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Queues a copy of `bytes`, filling the last chunk before taking another.
    pub fn push(&mut self, mut bytes: &[u8], pool: &mut ChunkPool) {
        self.pending += bytes.len();
        while !bytes.is_empty() {
            let tail = self.tail_with_room(1, bytes.len().min(CHUNK_BYTES), pool);
            let n = (tail.capacity() - tail.len()).min(bytes.len());
            tail.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    /// Queues what `encode` writes, in one chunk with room for `size_hint` bytes so the
    /// encoded op is never split (an encoder writing more only makes that chunk grow).
    pub fn encode(
        &mut self,
        size_hint: usize,
        pool: &mut ChunkPool,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let tail = self.tail_with_room(size_hint, size_hint, pool);
        let before = tail.len();
        encode(tail);
        self.pending += tail.len() - before;
    }

    /// The last chunk if it has `room` free bytes, else a new one from the pool sized for
    /// `want` bytes.
    fn tail_with_room(&mut self, room: usize, want: usize, pool: &mut ChunkPool) -> &mut Vec<u8> {
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.capacity() - c.len() >= room);
        if !fits {
            let first = self.chunks.is_empty();
            self.chunks.push_back(pool.take(want, first));
        }
        // Just checked or pushed: there is a last chunk.
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }

    /// The unwritten bytes of the front chunk (empty when nothing is queued).
    pub fn front(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[self.pos..])
    }

    /// Fills `iov` with the unwritten bytes, chunk by chunk, for one `writev`; returns how
    /// many slices it filled.
    pub fn io_slices<'a>(&'a self, iov: &mut [IoSlice<'a>; IOV_PER_WRITE]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().take(IOV_PER_WRITE).enumerate() {
            let from = if i == 0 { self.pos } else { 0 };
            iov[n] = IoSlice::new(&chunk[from..]);
            n += 1;
        }
        n
    }

    /// Marks `n` more bytes written; chunks written out go back to the pool.
    pub fn advance(&mut self, mut n: usize, pool: &mut ChunkPool) {
        debug_assert!(n <= self.pending, "advanced past the queued bytes");
        n = n.min(self.pending);
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.pos = 0;
            if let Some(done) = self.chunks.pop_front() {
                pool.give(done);
            }
        }
        if self.pending == 0 {
            // Chunks left empty by an encoder that wrote nothing.
            while let Some(c) = self.chunks.pop_front() {
                pool.give(c);
            }
            self.pos = 0;
        }
    }

    /// Drops everything queued (a slow consumer's output, a closed connection's), giving the
    /// chunks back to the pool.
    pub fn clear(&mut self, pool: &mut ChunkPool) {
        while let Some(c) = self.chunks.pop_front() {
            pool.give(c);
        }
        self.pos = 0;
        self.pending = 0;
    }

    /// A copy of everything unwritten (tests).
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.pending);
        for (i, chunk) in self.chunks.iter().enumerate() {
            all.extend_from_slice(&chunk[if i == 0 { self.pos } else { 0 }..]);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(out: &Outbound) -> Vec<u8> {
        let mut iov = [IoSlice::new(&[]); IOV_PER_WRITE];
        let n = out.io_slices(&mut iov);
        iov[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn small_output_takes_a_small_chunk_and_gives_it_back() {
        let mut pool = ChunkPool::default();
        let mut out = Outbound::default();
        out.push(b"PONG\r\n", &mut pool);
        assert_eq!(out.pending(), 6);
        assert_eq!(out.front(), b"PONG\r\n");
        out.advance(2, &mut pool);
        assert_eq!(out.front(), b"NG\r\n");
        out.advance(4, &mut pool);
        assert_eq!(out.pending(), 0);
        assert_eq!(pool.kept(), (0, 1));
        assert!(out.front().is_empty());
    }

    #[test]
    fn a_push_spreads_over_chunks_in_order() {
        let mut pool = ChunkPool::default();
        let mut out = Outbound::default();
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        out.push(b"head", &mut pool);
        out.push(&big, &mut pool);
        assert_eq!(out.pending(), 200_004);
        let mut want = b"head".to_vec();
        want.extend_from_slice(&big);
        assert_eq!(out.to_vec(), want);
        // The slices of one writev are the same bytes, in order.
        assert_eq!(written(&out), want);
        // Writing at odd offsets across chunk boundaries keeps the order.
        let mut got = Vec::new();
        while out.pending() > 0 {
            let take = out.front().len().min(7_777);
            got.extend_from_slice(&out.front()[..take]);
            out.advance(take, &mut pool);
        }
        assert_eq!(got, want);
        assert!(pool.kept().0 >= 3, "written chunks are kept for reuse");
    }

    #[test]
    fn an_encoded_op_is_never_split() {
        let mut pool = ChunkPool::default();
        let mut out = Outbound::default();
        out.push(&vec![b'x'; CHUNK_BYTES - 10], &mut pool);
        out.encode(100, &mut pool, |v| v.extend_from_slice(&[b'y'; 100]));
        let mut iov = [IoSlice::new(&[]); IOV_PER_WRITE];
        let n = out.io_slices(&mut iov);
        assert_eq!(n, 2);
        assert_eq!(&*iov[1], &[b'y'; 100][..]);
        // Larger than a chunk: a chunk of its own, not pooled afterwards.
        out.encode(CHUNK_BYTES * 2, &mut pool, |v| {
            v.extend_from_slice(&vec![b'z'; CHUNK_BYTES * 2])
        });
        assert_eq!(out.pending(), CHUNK_BYTES - 10 + 100 + CHUNK_BYTES * 2);
        let total = out.pending();
        out.advance(total, &mut pool);
        assert_eq!(pool.kept(), (2, 0));
    }

    #[test]
    fn clear_and_empty_encodes_leave_nothing_behind() {
        let mut pool = ChunkPool::default();
        let mut out = Outbound::default();
        out.encode(10, &mut pool, |_| {});
        assert_eq!(out.pending(), 0);
        out.push(b"abc", &mut pool);
        out.advance(3, &mut pool);
        assert!(out.front().is_empty());
        out.push(&vec![0; 100_000], &mut pool);
        out.clear(&mut pool);
        assert_eq!(out.pending(), 0);
        assert_eq!(written(&out), b"");
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut pool = ChunkPool::default();
        for _ in 0..POOL_CHUNKS + 10 {
            pool.give(Vec::with_capacity(CHUNK_BYTES));
        }
        assert_eq!(pool.kept(), (POOL_CHUNKS, 0));
    }
}
