//! One lock shard of a [`crate::Sublist`]: a trie root behind a read-write lock, the match cache
//! for the subjects that hash to it, its generation counter and its insert/remove counters.
//!
//! [`crate::Sublist`] owns the shards and holds the control flow; this module only keeps each
//! shard's pieces together and lays them out so that the generation counter (read by every
//! worker's [`crate::LocalCache`] on every publish) doesn't share a cache line with the lock
//! words (written by every [`crate::Sublist::matches`]).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::cache::MatchCache;
use crate::level::Level;

/// Keeps its contents on a cache line of their own.
#[repr(align(128))]
#[derive(Default)]
struct CachePadded<T>(T);

/// A trie root with its cache and counters. See the crate docs for the locking protocol.
#[repr(align(128))]
pub(crate) struct Shard<T> {
    /// The trie root for the patterns stored in this shard.
    pub(crate) tree: RwLock<Level<T>>,
    /// Merged match results for subjects whose first token hashes to this shard. Unused in the
    /// wildcard shard.
    pub(crate) cache: RwLock<MatchCache<T>>,
    /// Subscriptions stored. Written under the tree's write lock.
    subscriptions: AtomicU64,
    /// Successful inserts. Written under the tree's write lock.
    inserts: AtomicU64,
    /// Successful removes. Written under the tree's write lock.
    removes: AtomicU64,
    /// Bumped once per change, under the tree's write lock and after the caches were swept.
    generation: CachePadded<AtomicU64>,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Shard {
            tree: RwLock::new(Level::default()),
            cache: RwLock::new(MatchCache::default()),
            subscriptions: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            removes: AtomicU64::new(0),
            generation: CachePadded::default(),
        }
    }
}

impl<T> Shard<T> {
    /// The generation: how many changes this shard has seen.
    ///
    /// `Acquire` pairs with the `Release` in [`Shard::bump_generation`]: a reader that sees
    /// generation `g` also sees the trie change and cache sweep that produced it.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.0.load(Ordering::Acquire)
    }

    /// Publishes a change. Call with the tree's write lock held, after the change and after
    /// every affected cache was swept, so that a reader of the new generation can't find a
    /// stale cache entry.
    pub(crate) fn bump_generation(&self) {
        self.generation.0.fetch_add(1, Ordering::Release);
    }

    /// Counts `n` inserts. Call with the tree's write lock held.
    pub(crate) fn record_inserts(&self, n: u64) {
        self.subscriptions.fetch_add(n, Ordering::Relaxed);
        self.inserts.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` removes. Call with the tree's write lock held.
    pub(crate) fn record_removes(&self, n: u64) {
        debug_assert!(self.subscriptions.load(Ordering::Relaxed) >= n);
        self.subscriptions.fetch_sub(n, Ordering::Relaxed);
        self.removes.fetch_add(n, Ordering::Relaxed);
    }

    /// Subscriptions stored.
    pub(crate) fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Successful inserts.
    pub(crate) fn inserts(&self) -> u64 {
        self.inserts.load(Ordering::Relaxed)
    }

    /// Successful removes.
    pub(crate) fn removes(&self) -> u64 {
        self.removes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_on_its_own_line() {
        let shard: Shard<u32> = Shard::default();
        let base = &shard as *const Shard<u32> as usize;
        let generation = &shard.generation as *const CachePadded<AtomicU64> as usize;
        let tree = &shard.tree as *const RwLock<Level<u32>> as usize;
        let cache = &shard.cache as *const RwLock<MatchCache<u32>> as usize;
        assert_eq!(base % 128, 0);
        assert_eq!(generation % 128, 0);
        for lock in [tree, cache] {
            assert!(lock / 128 != generation / 128);
        }
    }

    #[test]
    fn counters() {
        let shard: Shard<u32> = Shard::default();
        // (inserts, removes, subscriptions afterwards, generation afterwards)
        let steps: &[(u64, u64, u64, u64)] = &[(3, 0, 3, 1), (0, 2, 1, 2), (5, 1, 5, 4)];
        for &(inserts, removes, subscriptions, generation) in steps {
            if inserts > 0 {
                shard.record_inserts(inserts);
                shard.bump_generation();
            }
            if removes > 0 {
                shard.record_removes(removes);
                shard.bump_generation();
            }
            assert_eq!(shard.subscriptions(), subscriptions);
            assert_eq!(shard.generation(), generation);
        }
        assert_eq!((shard.inserts(), shard.removes()), (8, 3));
    }
}
