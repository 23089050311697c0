//! The subscription index: a lock-sharded trie of NATS subject patterns with `*` and `>`
//! wildcards, queue groups, a shared match cache, and a per-thread cache in front of it.
//!
//! The server keeps one [`Sublist`] per account, shared by every worker thread. SUB and UNSUB
//! call [`Sublist::insert`] and [`Sublist::remove`], closing a connection calls
//! [`Sublist::remove_batch`], and every published message is routed by
//! [`LocalCache::matches`] (or [`Sublist::matches`]), which returns the plain subscriptions and
//! the queue groups, grouped by queue name, whose pattern matches the subject. Subject syntax
//! and matching are those of `spec/core.md` §1.11 and `protocol::subject`.
//!
//! # Layout
//! - `lib.rs`: [`Sublist`] (sharding, locking, cache invalidation), [`SublistResult`],
//!   [`QueueGroup`], [`Generation`], [`SublistError`].
//! - `level.rs`: the trie itself, a level per token position with literal children in a hash
//!   map and separate `pwc` (`*`) and `fwc` (`>`) children, like nats-server's
//!   `server/sublist.go`; iterative insert, remove (with pruning) and match.
//! - `shard.rs`: one shard: a trie root behind a `parking_lot::RwLock`, its match cache, its
//!   generation counter and its insert/remove counters.
//! - `cache.rs`: the bounded per-shard match cache and [`LocalCache`], the per-worker cache.
//! - `stats.rs`: [`SublistStats`] (nats-server's `SublistStats`), [`LocalCacheStats`] and the
//!   striped match counters.
//!
//! # Example
//! ```
//! use sublist::Sublist;
//!
//! let sl: Sublist<u32> = Sublist::new();
//! sl.insert(b"foo.*", None, 1).unwrap();
//! sl.insert(b"foo.>", Some(b"workers"), 2).unwrap();
//! sl.insert(b"foo.>", Some(b"workers"), 3).unwrap();
//! let result = sl.matches(b"foo.bar");
//! assert_eq!(result.psubs, [1]);
//! assert_eq!(&*result.qsubs[0].name, b"workers");
//! assert_eq!(result.qsubs[0].members.len(), 2);
//! ```
//!
//! # Implementation notes
//! **Sharding.** There are `N` literal shards (a power of two, default
//! [`SHARD_COUNT_DEFAULT`]) and one wildcard shard. A pattern whose first token is a literal is
//! stored in the literal shard its first token hashes to; a pattern whose first token is `*` or
//! `>` is stored in the wildcard shard. A publish subject can only match patterns in the shard
//! of its own first token and in the wildcard shard, so a match reads exactly two shards and
//! merges them (queue groups by name). Writers to different literal shards don't contend.
//!
//! **Shared match cache.** Each literal shard caches the *merged* result for subjects whose
//! first token hashes to it ([`CACHE_MAX`] entries, swept when full). A change to a
//! literal shard removes the entries of that shard's cache whose subject the changed pattern
//! matches; a change to the wildcard shard does the same in every literal shard's cache. Other
//! entries stay valid, so subscribing to an unrelated subject doesn't empty the cache. A literal
//! pattern can only match the identical subject, so it costs one map removal; a wildcard pattern
//! costs a pass over the cache (over every literal shard's cache for the wildcard shard), as in
//! nats-server.
//!
//! **Locking protocol.** Locks are taken in this order, and never the other way:
//! literal shard tree, then wildcard shard tree, then a literal shard cache. Writers take one
//! tree's write lock and keep it while they change the trie, sweep the affected caches and bump
//! the shard's generation, in that order. A cache miss computes the result and stores it while
//! holding the read locks of both trees it read. So a result computed before a change is either
//! stored before that change's sweep (which then removes it) or not at all, and a cache entry is
//! never older than the last completed change.
//!
//! **Generations.** Each shard counts its changes in an `AtomicU64`, bumped with `Release` as
//! the last step under the write lock. [`Sublist::generation`] reads the two that a subject
//! depends on with `Acquire`. A reader that sees a generation also sees the change and the cache
//! sweep behind it, which is what lets [`LocalCache`] check an entry with two loads. A wildcard
//! change bumps only the wildcard shard's generation; that is still part of every subject's
//! [`Generation`].
//!
//! **Costs on the publish path.** A [`Sublist::matches`] cache hit takes the shard cache's read
//! lock and clones an `Arc`, both of which write to memory shared with other workers publishing
//! to the same shard. [`LocalCache::matches`] doesn't: use it on the hot path. Match counts go
//! into per-thread stripes (see `stats.rs`), not into one shared counter.
//!
//! **Limits.** Subjects with more than [`TOKEN_MAX`] tokens are rejected by `insert` and match
//! nothing, so every walk is bounded; none of them recurses. Removing a value from a node with
//! `n` subscriptions on the same pattern scans them (`O(n)`), since values only have
//! `PartialEq`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod level;
mod shard;
mod stats;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use protocol::subject::{is_valid_queue, is_valid_subject};

pub use crate::cache::{
    LocalCache, CACHE_MAX, CACHE_SWEEP_TARGET, INVALIDATE_PATTERNS_MAX, LOCAL_CACHE_MAX,
};
pub use crate::stats::{LocalCacheStats, SublistStats, MATCH_COUNTER_STRIPES};
pub use protocol::subject::TOKEN_MAX;

use crate::level::{publish_tokens, Tokens};
use crate::shard::Shard;
use crate::stats::MatchCounters;

/// Literal shards in a [`Sublist::new`] sublist.
pub const SHARD_COUNT_DEFAULT: usize = 16;

/// Most literal shards a sublist may have; [`Sublist::with_options`] clamps to it.
pub const SHARD_COUNT_MAX: usize = 1024;

/// Why an insert or remove failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SublistError {
    /// The subject fails [`protocol::subject::is_valid_subject`] (empty or whitespace tokens,
    /// `>` not last, more than [`TOKEN_MAX`] tokens). The server answers `-ERR 'Invalid
    /// Subject'`.
    InvalidSubject,
    /// The queue name is empty or has whitespace.
    InvalidQueue,
    /// No such (subject, queue, value) is stored.
    NotFound,
}

impl fmt::Display for SublistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The texts of nats-server's `ErrInvalidSubject` and `ErrNotFound`.
        f.write_str(match self {
            SublistError::InvalidSubject => "sublist: invalid subject",
            SublistError::InvalidQueue => "sublist: invalid queue",
            SublistError::NotFound => "sublist: no matches found",
        })
    }
}

impl std::error::Error for SublistError {}

/// The subscriptions that match one publish subject.
///
/// Deliver to every element of `psubs`, then to exactly one member of each `qsubs` group
/// (spec §1.12). The order within `psubs` is unspecified.
#[derive(Clone, Debug, PartialEq)]
pub struct SublistResult<T> {
    /// Plain (non-queue) subscriptions.
    pub psubs: Vec<T>,
    /// Queue subscriptions: one entry per distinct queue name, with the members from every
    /// matching pattern and shard merged into it.
    pub qsubs: Vec<QueueGroup<T>>,
}

/// The members of one queue group that match a subject.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueGroup<T> {
    /// The queue name.
    pub name: Arc<[u8]>,
    /// The matching subscriptions in the group; never empty.
    pub members: Vec<T>,
}

impl<T> SublistResult<T> {
    /// An empty result.
    pub const fn new() -> Self {
        SublistResult {
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }

    /// Returns whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }

    /// How many deliveries a message gets: one per plain subscription and one per queue group.
    pub fn fanout(&self) -> usize {
        self.psubs.len() + self.qsubs.len()
    }
}

impl<T: Clone> SublistResult<T> {
    /// Adds a node's queue group, into the group of the same name if there is one.
    ///
    /// A linear search: a subject rarely matches more than a handful of distinct queue names.
    pub(crate) fn merge_group(&mut self, group: &QueueGroup<T>) {
        match self.qsubs.iter_mut().find(|g| g.name == group.name) {
            Some(existing) => existing.members.extend_from_slice(&group.members),
            None => self.qsubs.push(group.clone()),
        }
    }
}

impl<T> Default for SublistResult<T> {
    fn default() -> Self {
        SublistResult::new()
    }
}

/// The change counters of the two shards a subject's matches depend on.
///
/// If [`Sublist::generation`] returns the same value at two moments, no subscription that could
/// match the subject was inserted or removed in between. [`LocalCache`] relies on this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Generation {
    /// Changes to the literal shard of the subject's first token.
    pub literal: u64,
    /// Changes to the wildcard shard.
    pub wildcard: u64,
}

/// A thread-safe subscription index for one account. See the crate docs.
///
/// `T` is the stored subscription handle. The server stores a newtype around
/// `Arc<Subscription>` whose `PartialEq` is `Arc::ptr_eq`; `remove` finds values with it.
/// `Sublist<T>` is `Sync` when `T` is `Send + Sync`.
pub struct Sublist<T> {
    /// Distinguishes this sublist's entries in a shared [`LocalCache`]; never reused.
    id: u64,
    /// The literal shards `0..=shard_mask`, then the wildcard shard last.
    shards: Box<[Shard<T>]>,
    /// Literal shard count minus one; the count is a power of two.
    shard_mask: usize,
    /// False for nats-server's `disable_sublist_cache`.
    cache_enabled: bool,
    /// Match and cache-hit counts.
    counters: MatchCounters,
    /// Shared by every empty result, so unmatched subjects allocate nothing.
    empty: Arc<SublistResult<T>>,
}

impl<T: Clone + PartialEq> Sublist<T> {
    /// Creates an empty sublist with [`SHARD_COUNT_DEFAULT`] literal shards and the match cache
    /// enabled.
    pub fn new() -> Self {
        Sublist::with_options(SHARD_COUNT_DEFAULT, true)
    }

    /// Creates an empty sublist with `shards` literal shards (rounded up to a power of two and
    /// clamped to `1..=`[`SHARD_COUNT_MAX`]), plus the wildcard shard.
    ///
    /// `cache_enabled: false` turns the shared match cache off, for nats-server's
    /// `disable_sublist_cache` / `no_sublist_cache`. It doesn't affect a [`LocalCache`].
    pub fn with_options(shards: usize, cache_enabled: bool) -> Self {
        static NEXT_SUBLIST_ID: AtomicU64 = AtomicU64::new(1);
        let literal_shards = shards.clamp(1, SHARD_COUNT_MAX).next_power_of_two();
        let shards: Box<[Shard<T>]> = (0..=literal_shards).map(|_| Shard::default()).collect();
        Sublist {
            id: NEXT_SUBLIST_ID.fetch_add(1, Ordering::Relaxed),
            shards,
            shard_mask: literal_shards - 1,
            cache_enabled,
            counters: MatchCounters::default(),
            empty: Arc::new(SublistResult::new()),
        }
    }

    /// Stores `value` under the subscription `subject`, in queue group `queue` if given.
    ///
    /// The same value may be stored more than once; each copy is a separate entry, returned by
    /// every match and removed one at a time.
    ///
    /// # Errors
    /// [`SublistError::InvalidSubject`] if `subject` fails
    /// [`protocol::subject::is_valid_subject`], [`SublistError::InvalidQueue`] if `queue` is
    /// empty or has whitespace. Nothing is stored then.
    pub fn insert(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), SublistError> {
        let toks = pattern_tokens(subject, queue)?;
        let index = self.pattern_shard_index(subject);
        let shard = &self.shards[index];
        let mut tree = shard.tree.write();
        tree.insert(&toks, queue, value);
        shard.record_inserts(1);
        self.invalidate_caches(index, &[subject]);
        shard.bump_generation();
        drop(tree);
        Ok(())
    }

    /// Removes one `value` stored under `subject` and `queue` (compared with `PartialEq`).
    ///
    /// # Errors
    /// [`SublistError::NotFound`] if no such entry is stored, and the validation errors of
    /// [`Sublist::insert`].
    pub fn remove(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: &T,
    ) -> Result<(), SublistError> {
        let toks = pattern_tokens(subject, queue)?;
        let index = self.pattern_shard_index(subject);
        let shard = &self.shards[index];
        let mut tree = shard.tree.write();
        if !tree.remove(&toks, queue, value) {
            return Err(SublistError::NotFound);
        }
        shard.record_removes(1);
        self.invalidate_caches(index, &[subject]);
        shard.bump_generation();
        drop(tree);
        Ok(())
    }

    /// Removes many entries at once, e.g. every subscription of a closing connection, and
    /// returns how many were found and removed. Invalid or absent entries are skipped.
    ///
    /// Each shard's write lock is taken once for all its entries, and caches are swept once per
    /// shard (cleared if more than [`INVALIDATE_PATTERNS_MAX`] wildcard patterns left it).
    pub fn remove_batch<'a, I>(&self, items: I) -> usize
    where
        I: IntoIterator<Item = (&'a [u8], Option<&'a [u8]>, T)>,
    {
        let mut items: Vec<BatchItem<'a, T>> = items
            .into_iter()
            .map(|(subject, queue, value)| BatchItem {
                shard_index: self.pattern_shard_index(subject),
                subject,
                queue,
                value,
            })
            .collect();
        items.sort_by_key(|item| item.shard_index);
        items
            .chunk_by(|a, b| a.shard_index == b.shard_index)
            .map(|group| self.remove_batch_shard(group))
            .sum()
    }

    /// Removes one shard's part of a [`Sublist::remove_batch`]; all of `group` has the same
    /// `shard_index`.
    fn remove_batch_shard(&self, group: &[BatchItem<'_, T>]) -> usize {
        let Some(first) = group.first() else {
            return 0;
        };
        let index = first.shard_index;
        let shard = &self.shards[index];
        let mut tree = shard.tree.write();
        let mut removed: Vec<&[u8]> = Vec::new();
        for item in group {
            debug_assert_eq!(item.shard_index, index);
            let Ok(toks) = pattern_tokens(item.subject, item.queue) else {
                continue;
            };
            if tree.remove(&toks, item.queue, &item.value) {
                removed.push(item.subject);
            }
        }
        if !removed.is_empty() {
            shard.record_removes(removed.len() as u64);
            self.invalidate_caches(index, &removed);
            shard.bump_generation();
        }
        drop(tree);
        removed.len()
    }

    /// Returns the subscriptions that match the publish `subject`.
    ///
    /// The subject's own `*` and `>` tokens are literals (spec §1.11): `foo.*` reaches `foo.*`,
    /// `foo.>` and `>` but not `foo.bar`. A subject with an empty token or more than
    /// [`TOKEN_MAX`] tokens matches nothing. Results come from, and go into, the shared cache
    /// when it is enabled. On the publish path prefer [`LocalCache::matches`].
    pub fn matches(&self, subject: &[u8]) -> Arc<SublistResult<T>> {
        let shard = &self.shards[self.literal_shard_index(first_token(subject))];
        if self.cache_enabled {
            let cached = shard.cache.read().get(subject);
            if let Some(result) = cached {
                self.counters.record(true);
                return result;
            }
        }
        self.counters.record(false);
        self.matches_uncached(shard, subject)
    }

    /// Computes a match from the trees of `shard` and the wildcard shard, and caches it.
    fn matches_uncached(&self, shard: &Shard<T>, subject: &[u8]) -> Arc<SublistResult<T>> {
        let Some(toks) = publish_tokens(subject) else {
            return Arc::clone(&self.empty);
        };
        // Lock order: literal tree, wildcard tree, literal cache (see the crate docs). Both
        // read locks stay held until the result is cached, so no change can slip in between.
        let literal = shard.tree.read();
        let wildcard = self.wildcard_shard().tree.read();
        let mut result = SublistResult::new();
        literal.match_into(&toks, &mut result);
        wildcard.match_into(&toks, &mut result);
        let result = if result.is_empty() {
            Arc::clone(&self.empty)
        } else {
            Arc::new(result)
        };
        if self.cache_enabled {
            shard.cache.write().insert(subject, Arc::clone(&result));
        }
        drop(wildcard);
        drop(literal);
        result
    }

    /// Returns the change counters that the matches of the publish `subject` depend on: two
    /// atomic loads, no lock, no write.
    #[inline]
    pub fn generation(&self, subject: &[u8]) -> Generation {
        let shard = &self.shards[self.literal_shard_index(first_token(subject))];
        Generation {
            literal: shard.generation(),
            wildcard: self.wildcard_shard().generation(),
        }
    }

    /// Number of subscriptions stored.
    pub fn count(&self) -> usize {
        let total: u64 = self.shards.iter().map(Shard::subscriptions).sum();
        usize::try_from(total).unwrap_or(usize::MAX)
    }

    /// A snapshot of the statistics. Takes each shard cache's read lock in turn, so don't call
    /// it per message.
    pub fn stats(&self) -> SublistStats {
        let mut stats = SublistStats::default();
        for shard in self.shards.iter() {
            stats.num_subscriptions += shard.subscriptions();
            stats.num_inserts += shard.inserts();
            stats.num_removes += shard.removes();
            for result in shard.cache.read().results() {
                stats.add_cached_fanout(result.fanout());
            }
        }
        let (matches, hits) = self.counters.totals();
        stats.set_matches(matches, hits);
        stats
    }

    /// Returns whether the shared match cache is enabled.
    pub fn cache_enabled(&self) -> bool {
        self.cache_enabled
    }

    /// Number of literal shards (the wildcard shard is extra).
    pub fn shard_count(&self) -> usize {
        self.shard_mask + 1
    }

    /// This sublist's identity, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The shard that matches of subjects starting with `first_token` read (besides the
    /// wildcard shard).
    #[inline]
    fn literal_shard_index(&self, first_token: &[u8]) -> usize {
        // Truncating the hash is fine: only the low bits are used.
        (ProcessHasher.hash_one(first_token) as usize) & self.shard_mask
    }

    /// The shard a subscription pattern is stored in.
    fn pattern_shard_index(&self, pattern: &[u8]) -> usize {
        match first_token(pattern) {
            b"*" | b">" => self.wildcard_index(),
            first => self.literal_shard_index(first),
        }
    }

    /// Index of the wildcard shard.
    fn wildcard_index(&self) -> usize {
        self.shards.len() - 1
    }

    /// The wildcard shard.
    #[inline]
    fn wildcard_shard(&self) -> &Shard<T> {
        &self.shards[self.shards.len() - 1]
    }

    /// Drops the cached results that `patterns`, just inserted into or removed from shard
    /// `index`, may have changed. Call with that shard's tree write lock held.
    fn invalidate_caches(&self, index: usize, patterns: &[&[u8]]) {
        if !self.cache_enabled {
            return;
        }
        let affected = if index == self.wildcard_index() {
            // Every literal shard caches merged results that include the wildcard shard.
            &self.shards[..index]
        } else {
            std::slice::from_ref(&self.shards[index])
        };
        for shard in affected {
            shard.cache.write().invalidate(patterns);
        }
    }
}

impl<T: Clone + PartialEq> Default for Sublist<T> {
    fn default() -> Self {
        Sublist::new()
    }
}

impl<T> fmt::Debug for Sublist<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subscriptions: u64 = self.shards.iter().map(Shard::subscriptions).sum();
        f.debug_struct("Sublist")
            .field("id", &self.id)
            .field("shards", &(self.shard_mask + 1))
            .field("cache_enabled", &self.cache_enabled)
            .field("subscriptions", &subscriptions)
            .finish()
    }
}

/// One entry of a [`Sublist::remove_batch`], tagged with its shard.
struct BatchItem<'a, T> {
    shard_index: usize,
    subject: &'a [u8],
    queue: Option<&'a [u8]>,
    value: T,
}

/// Validates a subscription subject and queue and splits the subject into tokens.
fn pattern_tokens<'a>(subject: &'a [u8], queue: Option<&[u8]>) -> Result<Tokens<'a>, SublistError> {
    if !is_valid_subject(subject) {
        return Err(SublistError::InvalidSubject);
    }
    if queue.is_some_and(|q| !is_valid_queue(q)) {
        return Err(SublistError::InvalidQueue);
    }
    let toks: Tokens<'a> = protocol::subject::tokens(subject).collect();
    debug_assert!(!toks.is_empty() && toks.len() <= TOKEN_MAX);
    Ok(toks)
}

/// The bytes before the first `.` (all of `subject` if there is none).
#[inline]
fn first_token(subject: &[u8]) -> &[u8] {
    match subject.iter().position(|&b| b == b'.') {
        Some(end) => &subject[..end],
        None => subject,
    }
}

/// A `BuildHasher` over one process-wide, randomly keyed `ahash` state.
///
/// Keys are random per process, so clients can't pick tokens that collide in the trie's maps;
/// and since the type is zero-sized, a trie level pays nothing to carry it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcessHasher;

impl BuildHasher for ProcessHasher {
    type Hasher = ahash::AHasher;

    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
        STATE.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sorted view of a result: (psubs, [(queue, members)]).
    type Sorted = (Vec<u32>, Vec<(String, Vec<u32>)>);

    /// A subject, a queue and what to expect of inserting or removing them.
    type Step<'a, R> = (&'a [u8], Option<&'a [u8]>, R);

    /// A subscription in a batch: owned subject, queue, value.
    type Owned<'a> = (Vec<u8>, Option<&'a [u8]>, u32);

    fn sorted(result: &SublistResult<u32>) -> Sorted {
        let mut psubs = result.psubs.clone();
        psubs.sort_unstable();
        let mut qsubs: Vec<(String, Vec<u32>)> = result
            .qsubs
            .iter()
            .map(|g| {
                let mut members = g.members.clone();
                members.sort_unstable();
                (String::from_utf8_lossy(&g.name).into_owned(), members)
            })
            .collect();
        qsubs.sort();
        (psubs, qsubs)
    }

    fn q(name: &str, members: &[u32]) -> (String, Vec<u32>) {
        (name.to_string(), members.to_vec())
    }

    /// Every shape of sublist the tests run against.
    fn sublists() -> Vec<Sublist<u32>> {
        vec![
            Sublist::new(),
            Sublist::with_options(1, true),
            Sublist::with_options(4, false),
            Sublist::with_options(SHARD_COUNT_MAX, true),
        ]
    }

    const SUBS: &[(&str, Option<&str>, u32)] = &[
        ("foo", None, 1),
        ("foo.bar", None, 2),
        ("foo.*", None, 3),
        ("foo.>", None, 4),
        ("*.bar", None, 5),
        (">", None, 6),
        ("*", None, 7),
        ("foo.bar", Some("q1"), 10),
        ("foo.*", Some("q1"), 11),
        ("*.bar", Some("q1"), 12),
        ("foo.>", Some("q2"), 13),
        ("föö.*", None, 20),
        ("a.>b", None, 21),
    ];

    #[test]
    fn match_table() {
        let cases: Vec<(&str, Sorted)> = vec![
            ("foo", (vec![1, 6, 7], vec![])),
            (
                "foo.bar",
                (
                    vec![2, 3, 4, 5, 6],
                    vec![q("q1", &[10, 11, 12]), q("q2", &[13])],
                ),
            ),
            (
                "foo.baz",
                (vec![3, 4, 6], vec![q("q1", &[11]), q("q2", &[13])]),
            ),
            ("foo.bar.baz", (vec![4, 6], vec![q("q2", &[13])])),
            ("x.bar", (vec![5, 6], vec![q("q1", &[12])])),
            ("x.y.bar", (vec![6], vec![])),
            ("föö.bär", (vec![6, 20], vec![])),
            ("a.>b", (vec![6, 21], vec![])),
            ("a.b", (vec![6], vec![])),
            // Publish wildcards are literal tokens.
            (
                "foo.*",
                (vec![3, 4, 6], vec![q("q1", &[11]), q("q2", &[13])]),
            ),
            (
                "foo.>",
                (vec![3, 4, 6], vec![q("q1", &[11]), q("q2", &[13])]),
            ),
            ("*.bar", (vec![5, 6], vec![q("q1", &[12])])),
            ("*", (vec![6, 7], vec![])),
            (">", (vec![6, 7], vec![])),
            // Unmatchable subjects.
            ("", (vec![], vec![])),
            ("foo.", (vec![], vec![])),
            (".foo", (vec![], vec![])),
            ("foo..bar", (vec![], vec![])),
        ];
        for sl in sublists() {
            for &(subject, queue, id) in SUBS {
                sl.insert(subject.as_bytes(), queue.map(str::as_bytes), id)
                    .unwrap();
            }
            assert_eq!(sl.count(), SUBS.len());
            // Twice: the second round is served from the cache where it is enabled.
            for _ in 0..2 {
                for (subject, expected) in &cases {
                    let got = sorted(&sl.matches(subject.as_bytes()));
                    assert_eq!(&got, expected, "{subject:?} in {sl:?}");
                }
            }
        }
    }

    #[test]
    fn too_many_tokens() {
        let at_cap = vec!["t"; TOKEN_MAX].join(".");
        let over_cap = vec!["t"; TOKEN_MAX + 1].join(".");
        let sl = Sublist::new();
        sl.insert(at_cap.as_bytes(), None, 1).unwrap();
        sl.insert(b">", None, 2).unwrap();
        assert_eq!(
            sl.insert(over_cap.as_bytes(), None, 3),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(sorted(&sl.matches(at_cap.as_bytes())).0, vec![1, 2]);
        assert!(sl.matches(over_cap.as_bytes()).is_empty());
    }

    #[test]
    fn invalid_inserts_and_removes() {
        let cases: &[Step<'_, SublistError>] = &[
            (b"", None, SublistError::InvalidSubject),
            (b"foo.", None, SublistError::InvalidSubject),
            (b".foo", None, SublistError::InvalidSubject),
            (b"foo..bar", None, SublistError::InvalidSubject),
            (b"foo.>.bar", None, SublistError::InvalidSubject),
            (b"foo bar", None, SublistError::InvalidSubject),
            (b"foo\tbar", None, SublistError::InvalidSubject),
            (b"foo", Some(b""), SublistError::InvalidQueue),
            (b"foo", Some(b"a b"), SublistError::InvalidQueue),
        ];
        let sl = Sublist::new();
        for &(subject, queue, error) in cases {
            assert_eq!(
                sl.insert(subject, queue, 1),
                Err(error),
                "{subject:?} {queue:?}"
            );
            assert_eq!(
                sl.remove(subject, queue, &1),
                Err(error),
                "{subject:?} {queue:?}"
            );
        }
        assert_eq!(sl.count(), 0);
        assert_eq!(sl.stats().num_inserts, 0);
    }

    #[test]
    fn remove_table() {
        for sl in sublists() {
            for &(subject, queue, id) in SUBS {
                sl.insert(subject.as_bytes(), queue.map(str::as_bytes), id)
                    .unwrap();
            }
            // Cache some results first, so that removal has to invalidate them.
            sl.matches(b"foo.bar");
            sl.matches(b"x.bar");
            // (subject, queue, value, outcome)
            type RemoveStep<'a> = (&'a str, Option<&'a str>, u32, Result<(), SublistError>);
            let steps: &[RemoveStep<'_>] = &[
                ("foo.bar", None, 99, Err(SublistError::NotFound)),
                ("foo.bar", Some("q2"), 10, Err(SublistError::NotFound)),
                ("foo.baz", None, 2, Err(SublistError::NotFound)),
                ("foo.bar", Some("q1"), 10, Ok(())),
                ("foo.bar", Some("q1"), 10, Err(SublistError::NotFound)),
                ("*.bar", None, 5, Ok(())),
                ("*.bar", Some("q1"), 12, Ok(())),
                (">", None, 6, Ok(())),
            ];
            for &(subject, queue, id, outcome) in steps {
                let got = sl.remove(subject.as_bytes(), queue.map(str::as_bytes), &id);
                assert_eq!(got, outcome, "remove {subject} {queue:?} {id}");
            }
            assert_eq!(sl.count(), SUBS.len() - 4);
            assert_eq!(
                sorted(&sl.matches(b"foo.bar")),
                (vec![2, 3, 4], vec![q("q1", &[11]), q("q2", &[13])])
            );
            assert!(sl.matches(b"x.bar").is_empty());
            for &(subject, queue, id) in SUBS {
                let _ = sl.remove(subject.as_bytes(), queue.map(str::as_bytes), &id);
            }
            assert_eq!(sl.count(), 0);
            assert!(sl.shards.iter().all(|shard| shard.tree.read().is_empty()));
        }
    }

    #[test]
    fn duplicate_values_are_separate_entries() {
        let sl = Sublist::new();
        sl.insert(b"foo", None, 1).unwrap();
        sl.insert(b"foo", None, 1).unwrap();
        assert_eq!(sl.matches(b"foo").psubs, [1, 1]);
        sl.remove(b"foo", None, &1).unwrap();
        assert_eq!(sl.matches(b"foo").psubs, [1]);
        sl.remove(b"foo", None, &1).unwrap();
        assert!(sl.matches(b"foo").is_empty());
    }

    #[test]
    fn queue_groups_merge_across_shards() {
        // `foo.bar` is in a literal shard, `*.bar` and `>` in the wildcard shard.
        let sl = Sublist::new();
        sl.insert(b"foo.bar", Some(b"q"), 1).unwrap();
        sl.insert(b"*.bar", Some(b"q"), 2).unwrap();
        sl.insert(b">", Some(b"q"), 3).unwrap();
        sl.insert(b">", Some(b"r"), 4).unwrap();
        let result = sl.matches(b"foo.bar");
        assert_eq!(
            sorted(&result),
            (vec![], vec![q("q", &[1, 2, 3]), q("r", &[4])])
        );
        assert_eq!(result.fanout(), 2);
    }

    #[test]
    fn cache_invalidation_on_insert() {
        let sl = Sublist::new();
        sl.insert(b"foo.bar", None, 1).unwrap();
        assert_eq!(sorted(&sl.matches(b"foo.bar")).0, vec![1]);
        assert_eq!(sl.matches(b"baz").psubs, [] as [u32; 0]);
        assert_eq!(sl.stats().num_cache, 2);
        // (pattern inserted, expected psubs of foo.bar, expected cache entries afterwards)
        let steps: &[(&str, &[u32], u64)] = &[
            // A literal insert elsewhere leaves the cached foo.bar alone.
            ("foo.baz", &[1], 2),
            // A matching wildcard in the literal shard invalidates it.
            ("foo.*", &[1, 3], 1),
            // A wildcard-shard insert invalidates it in every shard; `baz` matches `>` too.
            ("*.bar", &[1, 3, 4], 1),
            (">", &[1, 3, 4, 5], 0),
            // Matching neither: both cached entries survive.
            ("*.qux", &[1, 3, 4, 5], 2),
        ];
        for (id, &(pattern, expected, num_cache)) in steps.iter().enumerate() {
            sl.matches(b"foo.bar");
            sl.matches(b"baz");
            sl.insert(pattern.as_bytes(), None, id as u32 + 2).unwrap();
            assert_eq!(sl.stats().num_cache, num_cache, "after inserting {pattern}");
            assert_eq!(
                sorted(&sl.matches(b"foo.bar")).0,
                expected,
                "after inserting {pattern}"
            );
        }
    }

    #[test]
    fn generations() {
        let sl = Sublist::new();
        let g0 = sl.generation(b"foo.bar");
        sl.insert(b"foo.baz", None, 1).unwrap();
        let g1 = sl.generation(b"foo.bar");
        assert_eq!(g1.literal, g0.literal + 1);
        assert_eq!(g1.wildcard, g0.wildcard);
        sl.insert(b"*.x", None, 2).unwrap();
        let g2 = sl.generation(b"foo.bar");
        assert_eq!((g2.literal, g2.wildcard), (g1.literal, g1.wildcard + 1));
        // A failed remove changes nothing.
        assert_eq!(sl.remove(b"foo.baz", None, &7), Err(SublistError::NotFound));
        assert_eq!(sl.generation(b"foo.bar"), g2);
        // The generation only depends on the first token.
        assert_eq!(sl.generation(b"foo"), g2);
    }

    #[test]
    fn remove_batch_counts_and_invalidates() {
        for sl in sublists() {
            let mut items: Vec<Owned<'_>> = Vec::new();
            for i in 0..100u32 {
                let subject = format!("s{}.{}", i % 7, i).into_bytes();
                let queue: Option<&[u8]> = if i % 3 == 0 { Some(b"q") } else { None };
                sl.insert(&subject, queue, i).unwrap();
                items.push((subject, queue, i));
            }
            sl.insert(b"*.5", None, 1000).unwrap();
            sl.insert(b"keep", None, 1001).unwrap();
            assert_eq!(sorted(&sl.matches(b"s5.5")), (vec![5, 1000], vec![]));
            let mut batch: Vec<Step<'_, u32>> = items
                .iter()
                .map(|(s, q, v)| (s.as_slice(), *q, *v))
                .collect();
            batch.push((b"*.5", None, 1000));
            batch.push((b"nope", None, 1));
            batch.push((b"bad..subject", None, 1));
            assert_eq!(sl.remove_batch(batch), 101);
            assert_eq!(sl.count(), 1);
            assert!(sl.matches(b"s5.5").is_empty());
            assert_eq!(sl.matches(b"keep").psubs, [1001]);
            assert_eq!(sl.stats().num_removes, 101);
        }
    }

    #[test]
    fn stats_snapshot() {
        let sl = Sublist::new();
        sl.insert(b"foo", None, 1).unwrap();
        sl.insert(b"foo", Some(b"q"), 2).unwrap();
        sl.insert(b"foo", Some(b"q"), 3).unwrap();
        sl.insert(b">", None, 4).unwrap();
        sl.remove(b">", None, &4).unwrap();
        sl.matches(b"foo");
        sl.matches(b"foo");
        sl.matches(b"bar");
        sl.matches(b"foo");
        let stats = sl.stats();
        assert_eq!(stats.num_subscriptions, 3);
        assert_eq!(stats.num_inserts, 4);
        assert_eq!(stats.num_removes, 1);
        assert_eq!(stats.num_matches, 4);
        assert_eq!(stats.num_cache, 2);
        assert!((stats.cache_hit_rate - 0.5).abs() < 1e-9);
        assert_eq!(stats.max_fanout, 2);
        assert!((stats.avg_fanout - 1.0).abs() < 1e-9);

        let uncached = Sublist::with_options(2, false);
        uncached.insert(b"foo", None, 1).unwrap();
        uncached.matches(b"foo");
        uncached.matches(b"foo");
        let stats = uncached.stats();
        assert_eq!((stats.num_matches, stats.num_cache), (2, 0));
        assert_eq!(stats.cache_hit_rate, 0.0);
    }

    #[test]
    fn shard_counts_round_up() {
        let cases = [
            (0, 1),
            (1, 1),
            (3, 4),
            (16, 16),
            (17, 32),
            (usize::MAX, SHARD_COUNT_MAX),
        ];
        for (requested, expected) in cases {
            let sl: Sublist<u32> = Sublist::with_options(requested, true);
            assert_eq!(sl.shard_count(), expected, "{requested}");
        }
    }

    #[test]
    fn sublist_is_sync() {
        fn assert_sync<S: Send + Sync>() {}
        assert_sync::<Sublist<Arc<String>>>();
        assert_sync::<LocalCache<Arc<String>>>();
    }

    #[test]
    fn concurrent_changes_are_seen_by_caches() {
        // Writers insert and remove their own subscriptions and check, after each change, that
        // both the shared cache and their LocalCache see it, while readers keep the caches hot.
        let sl: Sublist<u32> = Sublist::with_options(4, true);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for reader in 0..2u32 {
                let (sl, stop) = (&sl, &stop);
                scope.spawn(move || {
                    let mut cache = LocalCache::with_capacity(64);
                    let mut i = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let subject = format!("w{}.x{}", (i + reader) % 3, i % 5);
                        cache.matches(sl, subject.as_bytes());
                        sl.matches(subject.as_bytes());
                        i = i.wrapping_add(1);
                    }
                });
            }
            let writers: Vec<_> = (0..3u32)
                .map(|w| {
                    let sl = &sl;
                    scope.spawn(move || {
                        let mut cache = LocalCache::with_capacity(64);
                        for round in 0..300u32 {
                            let id = w * 100_000 + round;
                            let pattern = match round % 3 {
                                0 => format!("w{w}.x{}", round % 5),
                                1 => format!("w{w}.*"),
                                _ => format!("*.x{}", round % 5),
                            };
                            let subject = format!("w{w}.x{}", round % 5);
                            sl.insert(pattern.as_bytes(), None, id).unwrap();
                            assert!(sl.matches(subject.as_bytes()).psubs.contains(&id));
                            assert!(cache.matches(sl, subject.as_bytes()).psubs.contains(&id));
                            sl.remove(pattern.as_bytes(), None, &id).unwrap();
                            assert!(!sl.matches(subject.as_bytes()).psubs.contains(&id));
                            assert!(!cache.matches(sl, subject.as_bytes()).psubs.contains(&id));
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(sl.count(), 0);
    }
}
