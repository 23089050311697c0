//! Match caches: the bounded per-shard [`MatchCache`] inside a [`Sublist`], and the per-worker
//! [`LocalCache`] in front of it.
//!
//! Both map a full publish subject to the `Arc<SublistResult<T>>` that [`Sublist::matches`]
//! computed for it.
//!
//! - [`MatchCache`] lives in each literal shard, behind the shard's cache lock, and holds the
//!   *merged* result (literal shard plus wildcard shard) for subjects whose first token hashes
//!   to that shard. A change to the trie removes exactly the entries whose subject the changed
//!   pattern matches, so unrelated hot subjects stay cached. It is bounded like nats-server's
//!   `slCacheMax` and swept when full.
//! - [`LocalCache`] belongs to one worker thread. It checks an entry with two atomic loads of
//!   the shards' generation counters ([`Sublist::generation`]) and takes no lock and writes no
//!   shared memory on a hit. This is what the server's publish path should call.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use protocol::subject::{has_wildcard, subject_matches};
use smallvec::SmallVec;

use crate::stats::LocalCacheStats;
use crate::{Generation, ProcessHasher, Sublist, SublistResult};

/// Most entries in one shard's shared match cache (nats-server's `slCacheMax`).
pub const CACHE_MAX: usize = 1024;

/// How many entries a full shard match cache keeps after a sweep. Dropping a quarter at a time
/// makes a sweep, which visits every entry, cost about four visits per insert.
pub const CACHE_SWEEP_TARGET: usize = CACHE_MAX * 3 / 4;

/// Above this many wildcard patterns in one batch, invalidation clears a cache instead of
/// testing every entry against every pattern (`CACHE_MAX` times this many matches).
pub const INVALIDATE_PATTERNS_MAX: usize = 16;

/// Default number of entries in a [`LocalCache`].
pub const LOCAL_CACHE_MAX: usize = 4096;

/// A bounded map from publish subject to merged match result, one per literal shard.
///
/// Callers hold the shard's cache lock; see the crate docs for the locking protocol that keeps
/// entries from going stale.
pub(crate) struct MatchCache<T> {
    entries: HashMap<Box<[u8]>, Arc<SublistResult<T>>, ProcessHasher>,
}

impl<T> Default for MatchCache<T> {
    fn default() -> Self {
        MatchCache {
            entries: HashMap::with_hasher(ProcessHasher),
        }
    }
}

impl<T> MatchCache<T> {
    /// The cached result for `subject`.
    #[inline]
    pub(crate) fn get(&self, subject: &[u8]) -> Option<Arc<SublistResult<T>>> {
        self.entries.get(subject).cloned()
    }

    /// Caches `result` for `subject`, sweeping first if the cache is full.
    pub(crate) fn insert(&mut self, subject: &[u8], result: Arc<SublistResult<T>>) {
        if self.entries.len() >= CACHE_MAX && !self.entries.contains_key(subject) {
            self.sweep();
        }
        self.entries.insert(Box::from(subject), result);
        debug_assert!(self.entries.len() <= CACHE_MAX);
    }

    /// Drops entries until at most [`CACHE_SWEEP_TARGET`] are left. Which ones go depends on
    /// the map's (randomly keyed) iteration order, so it is close to random eviction.
    fn sweep(&mut self) {
        let mut excess = self.entries.len().saturating_sub(CACHE_SWEEP_TARGET);
        self.entries.retain(|_, _| {
            if excess == 0 {
                return true;
            }
            excess -= 1;
            false
        });
    }

    /// Drops the entries whose subject any of `patterns` matches.
    ///
    /// A literal pattern matches only the subject equal to it, so it costs one map removal.
    /// Wildcard patterns cost a pass over every entry; with more than
    /// [`INVALIDATE_PATTERNS_MAX`] of them the cache is cleared instead.
    pub(crate) fn invalidate(&mut self, patterns: &[&[u8]]) {
        let mut wildcards: SmallVec<[&[u8]; INVALIDATE_PATTERNS_MAX]> = SmallVec::new();
        for &pattern in patterns {
            if !has_wildcard(pattern) {
                self.entries.remove(pattern);
            } else if wildcards.len() < INVALIDATE_PATTERNS_MAX {
                wildcards.push(pattern);
            } else {
                self.entries.clear();
                return;
            }
        }
        if wildcards.is_empty() {
            return;
        }
        self.entries
            .retain(|subject, _| !wildcards.iter().any(|p| subject_matches(p, subject)));
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The cached results, for statistics.
    pub(crate) fn results(&self) -> impl Iterator<Item = &SublistResult<T>> {
        self.entries.values().map(|result| &**result)
    }
}

/// A per-thread cache of match results in front of a [`Sublist`].
///
/// Call [`LocalCache::matches`] instead of [`Sublist::matches`] on the publish path. A hit costs
/// a hash of the subject, two atomic loads ([`Sublist::generation`]) and no lock, and writes
/// only to this cache's own memory. An entry is used only while both generation counters it
/// was stored with are unchanged, so it is never staler than the sublist itself.
///
/// One `LocalCache` may serve many sublists (one per account): entries are keyed by the
/// sublist's identity as well as the subject. It is bounded (default [`LOCAL_CACHE_MAX`]
/// entries) and evicts with the CLOCK algorithm (an approximation of least-recently-used).
///
/// # Notes
/// An entry keeps its result, and with it the subscription values, alive until the entry is
/// refreshed or evicted, even after they were removed from the sublist. Don't rely on dropping
/// the last handle of a subscription to clean anything up.
///
/// # Examples
/// ```
/// use sublist::{LocalCache, Sublist};
///
/// let sl: Sublist<u64> = Sublist::new();
/// sl.insert(b"foo.*", None, 7).unwrap();
/// let mut cache = LocalCache::new();
/// assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [7]);
/// assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [7]); // a hit
/// sl.insert(b"foo.bar", None, 8).unwrap();
/// assert_eq!(cache.matches(&sl, b"foo.bar").psubs.len(), 2); // the generation moved
/// ```
pub struct LocalCache<T> {
    /// Maps the hash of (sublist id, subject) to an index into `slots`.
    index: HashTable<u32>,
    /// The entries; never longer than `capacity`.
    slots: Vec<LocalSlot<T>>,
    /// The CLOCK hand: the next slot to consider for eviction.
    hand: usize,
    /// The slot the previous lookup used (maybe replaced since: its key is compared). A
    /// publisher repeating one subject, the common stream, then skips hashing and probing.
    last: usize,
    /// Most entries.
    capacity: usize,
    /// Hit and miss counts.
    stats: LocalCacheStats,
}

/// One [`LocalCache`] entry.
struct LocalSlot<T> {
    /// [`Sublist`] identity the result came from.
    sublist_id: u64,
    /// The publish subject. A `Vec` so that eviction can reuse its allocation.
    subject: Vec<u8>,
    /// `hash_key(sublist_id, subject)`, kept for removing the slot from the index.
    hash: u64,
    /// The sublist's generation read before the result was computed.
    generation: Generation,
    /// Set on every use, cleared by the CLOCK hand as it passes.
    referenced: bool,
    result: Arc<SublistResult<T>>,
}

impl<T: Clone + PartialEq> LocalCache<T> {
    /// Creates a cache holding up to [`LOCAL_CACHE_MAX`] entries.
    pub fn new() -> Self {
        LocalCache::with_capacity(LOCAL_CACHE_MAX)
    }

    /// Creates a cache holding up to `capacity` entries (at least 1, at most `u32::MAX`).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        LocalCache {
            index: HashTable::new(),
            slots: Vec::new(),
            hand: 0,
            last: 0,
            capacity,
            stats: LocalCacheStats::default(),
        }
    }

    /// Returns the subscriptions in `sl` that match the publish `subject`, from this cache when
    /// the entry is current, else from [`Sublist::matches`] (and then caches it).
    ///
    /// It returns a reference so that a hit doesn't bump the shared reference count of the
    /// result (which would write to a cache line every worker reads); clone the `Arc` if the
    /// result must outlive the next call.
    pub fn matches<'a>(&'a mut self, sl: &Sublist<T>, subject: &[u8]) -> &'a Arc<SublistResult<T>> {
        // Read the generation before computing a result, so that a change racing with the
        // computation leaves the entry marked with the older generation, to be redone next time.
        let generation = sl.generation(subject);
        let sublist_id = sl.id();
        let repeated = self
            .slots
            .get(self.last)
            .is_some_and(|slot| slot.is_key(sublist_id, subject));
        let found = if repeated {
            Some(self.last)
        } else {
            let hash = hash_key(sublist_id, subject);
            let slots = &self.slots;
            self.index
                .find(hash, |&i| slots[i as usize].is_key(sublist_id, subject))
                .map(|&i| i as usize)
        };
        let index = match found {
            Some(index) => {
                let slot = &mut self.slots[index];
                slot.referenced = true;
                if slot.generation == generation {
                    self.stats.hits += 1;
                } else {
                    self.stats.misses += 1;
                    slot.result = sl.matches(subject);
                    slot.generation = generation;
                }
                index
            }
            None => {
                self.stats.misses += 1;
                let result = sl.matches(subject);
                let hash = hash_key(sublist_id, subject);
                self.store(hash, sublist_id, subject, generation, result)
            }
        };
        self.last = index;
        &self.slots[index].result
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Returns whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops every entry (and the results they keep alive). Counters are kept.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
        self.last = 0;
    }

    /// Hit and miss counts since creation, for [`crate::SublistStats::add_local`].
    pub fn stats(&self) -> LocalCacheStats {
        self.stats
    }

    /// Stores a new entry, evicting one if full, and returns its slot index.
    fn store(
        &mut self,
        hash: u64,
        sublist_id: u64,
        subject: &[u8],
        generation: Generation,
        result: Arc<SublistResult<T>>,
    ) -> usize {
        let index = if self.slots.len() < self.capacity {
            self.slots.push(LocalSlot {
                sublist_id,
                subject: subject.to_vec(),
                hash,
                generation,
                referenced: false,
                result,
            });
            self.slots.len() - 1
        } else {
            let index = self.clock_victim();
            let victim_hash = self.slots[index].hash;
            if let Ok(entry) = self.index.find_entry(victim_hash, |&i| i as usize == index) {
                entry.remove();
            }
            let slot = &mut self.slots[index];
            slot.sublist_id = sublist_id;
            slot.subject.clear();
            slot.subject.extend_from_slice(subject);
            slot.hash = hash;
            slot.generation = generation;
            slot.referenced = false;
            slot.result = result;
            index
        };
        let slots = &self.slots;
        // `index < capacity <= u32::MAX`, so the cast is lossless.
        self.index
            .insert_unique(hash, index as u32, |&i| slots[i as usize].hash);
        debug_assert!(self.slots.len() <= self.capacity && self.index.len() == self.slots.len());
        index
    }

    /// Advances the CLOCK hand to a slot not used since the hand last passed, clearing the
    /// `referenced` bits it passes over. Two turns always suffice.
    fn clock_victim(&mut self) -> usize {
        let len = self.slots.len();
        debug_assert!(len > 0);
        for _ in 0..2 * len {
            let index = self.hand;
            self.hand = (self.hand + 1) % len;
            let slot = &mut self.slots[index];
            if !slot.referenced {
                return index;
            }
            slot.referenced = false;
        }
        self.hand
    }
}

impl<T: Clone + PartialEq> Default for LocalCache<T> {
    fn default() -> Self {
        LocalCache::new()
    }
}

impl<T> std::fmt::Debug for LocalCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("len", &self.slots.len())
            .field("capacity", &self.capacity)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<T> LocalSlot<T> {
    /// Returns whether this slot is the entry for (`sublist_id`, `subject`).
    #[inline]
    fn is_key(&self, sublist_id: u64, subject: &[u8]) -> bool {
        self.sublist_id == sublist_id && self.subject == subject
    }
}

/// The [`LocalCache`] key hash.
#[inline]
fn hash_key(sublist_id: u64, subject: &[u8]) -> u64 {
    ProcessHasher.hash_one((sublist_id, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_of(ids: &[u32]) -> Arc<SublistResult<u32>> {
        Arc::new(SublistResult {
            psubs: ids.to_vec(),
            qsubs: Vec::new(),
        })
    }

    #[test]
    fn match_cache_invalidates_matching_subjects_only() {
        let mut cache = MatchCache::default();
        for subject in [
            "foo.bar",
            "foo.baz",
            "foo.bar.baz",
            "foo",
            "bar.bar",
            "foo.*",
        ] {
            cache.insert(subject.as_bytes(), result_of(&[1]));
        }
        // (pattern, subjects left afterwards, sorted)
        let cases: &[(&str, &[&str])] = &[
            (
                "foo.bar",
                &["bar.bar", "foo", "foo.*", "foo.bar.baz", "foo.baz"],
            ),
            ("foo.*", &["bar.bar", "foo", "foo.bar.baz"]),
            ("*.bar", &["foo", "foo.bar.baz"]),
            (">", &[]),
        ];
        for &(pattern, left) in cases {
            cache.invalidate(&[pattern.as_bytes()]);
            let mut subjects: Vec<String> = cache
                .entries
                .keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            subjects.sort();
            assert_eq!(subjects, left, "after invalidating {pattern}");
        }
    }

    #[test]
    fn match_cache_is_bounded() {
        let mut cache = MatchCache::default();
        for i in 0..(CACHE_MAX * 3) {
            cache.insert(format!("s.{i}").as_bytes(), result_of(&[]));
            assert!(cache.len() <= CACHE_MAX);
        }
        assert!(cache.len() >= CACHE_SWEEP_TARGET);
        // Re-inserting a present key into a full cache doesn't sweep.
        while cache.len() < CACHE_MAX {
            cache.insert(format!("t.{}", cache.len()).as_bytes(), result_of(&[]));
        }
        let key = cache.entries.keys().next().cloned().unwrap_or_default();
        cache.insert(&key, result_of(&[2]));
        assert_eq!(cache.len(), CACHE_MAX);
    }

    #[test]
    fn match_cache_batch_invalidation() {
        let mut cache = MatchCache::default();
        for subject in ["a", "b", "c"] {
            cache.insert(subject.as_bytes(), result_of(&[]));
        }
        cache.invalidate(&[b"a", b"b"]);
        assert_eq!(cache.len(), 1);
        // Literal patterns only remove their own subject, however many there are.
        let literals: Vec<&[u8]> = vec![b"zzz"; INVALIDATE_PATTERNS_MAX + 1];
        cache.invalidate(&literals);
        assert_eq!(cache.len(), 1);
        // Too many wildcards clear the cache, even if none matches.
        let wildcards: Vec<&[u8]> = vec![b"zzz.*"; INVALIDATE_PATTERNS_MAX + 1];
        cache.invalidate(&wildcards);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn local_cache_hits_and_invalidation() {
        let sl: Sublist<u32> = Sublist::new();
        let mut cache = LocalCache::new();
        sl.insert(b"foo.bar", None, 1).unwrap();
        assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [1]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 0, misses: 1 });
        assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [1]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 1, misses: 1 });
        // A wildcard-shard change moves the wildcard generation.
        sl.insert(b">", None, 2).unwrap();
        let mut psubs = cache.matches(&sl, b"foo.bar").psubs.clone();
        psubs.sort_unstable();
        assert_eq!(psubs, [1, 2]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 1, misses: 2 });
        // A literal-shard change moves the literal generation.
        sl.remove(b"foo.bar", None, &1).unwrap();
        assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [2]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 1, misses: 3 });
        assert_eq!(cache.matches(&sl, b"foo.bar").psubs, [2]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 2, misses: 3 });
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn local_cache_keys_by_sublist() {
        let a: Sublist<u32> = Sublist::new();
        let b: Sublist<u32> = Sublist::new();
        a.insert(b"foo", None, 1).unwrap();
        b.insert(b"foo", None, 2).unwrap();
        let mut cache = LocalCache::new();
        for _ in 0..3 {
            assert_eq!(cache.matches(&a, b"foo").psubs, [1]);
            assert_eq!(cache.matches(&b, b"foo").psubs, [2]);
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 4, misses: 2 });
    }

    #[test]
    fn local_cache_repeated_subject_never_answers_for_a_replaced_slot() {
        let sl: Sublist<u32> = Sublist::new();
        sl.insert(b"a", None, 1).unwrap();
        sl.insert(b"b", None, 2).unwrap();
        let mut cache = LocalCache::with_capacity(1);
        for _ in 0..3 {
            assert_eq!(cache.matches(&sl, b"a").psubs, [1]);
        }
        assert_eq!(cache.stats(), LocalCacheStats { hits: 2, misses: 1 });
        // "b" takes the only slot, the one the previous lookup used.
        assert_eq!(cache.matches(&sl, b"b").psubs, [2]);
        assert_eq!(cache.matches(&sl, b"a").psubs, [1]);
        assert_eq!(cache.stats(), LocalCacheStats { hits: 2, misses: 3 });
        // A change to the sublist is seen on the repeated path too.
        sl.insert(b"a", None, 3).unwrap();
        let mut psubs = cache.matches(&sl, b"a").psubs.clone();
        psubs.sort_unstable();
        assert_eq!(psubs, [1, 3]);
        cache.clear();
        assert_eq!(cache.matches(&sl, b"b").psubs, [2]);
    }

    #[test]
    fn local_cache_is_bounded_and_keeps_hot_entries() {
        let sl: Sublist<u32> = Sublist::new();
        sl.insert(b">", None, 1).unwrap();
        let capacity = 8;
        let mut cache = LocalCache::with_capacity(capacity);
        for i in 0..100 {
            // `hot` is used between every insert, so CLOCK never picks it.
            assert_eq!(cache.matches(&sl, b"hot").psubs, [1]);
            assert_eq!(
                cache.matches(&sl, format!("cold.{i}").as_bytes()).psubs,
                [1]
            );
            assert!(cache.len() <= capacity);
        }
        assert_eq!(cache.len(), capacity);
        let misses = cache.stats().misses;
        assert_eq!(cache.matches(&sl, b"hot").psubs, [1]);
        assert_eq!(cache.stats().misses, misses);
        // Every remaining entry is still reachable through the index.
        let stats = cache.stats();
        for i in 93..100 {
            cache.matches(&sl, format!("cold.{i}").as_bytes());
        }
        assert_eq!(cache.stats().misses, stats.misses);
        cache.clear();
        assert!(cache.is_empty());
    }
}
