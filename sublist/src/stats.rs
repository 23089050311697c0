//! Sublist statistics: the [`SublistStats`] snapshot and the counters behind it.
//!
//! [`crate::Sublist::stats`] builds a [`SublistStats`]; the server's `/subsz` handler and `$SYS`
//! statsz requests read it. The fields mirror nats-server's `SublistStats` (`server/sublist.go`),
//! whose JSON names are the field names here.
//!
//! # Implementation notes
//! Inserts and removes are counted per shard while its write lock is held, so they cost nothing
//! extra. Matches run on every published message, from every worker, so they are counted in
//! [`MatchCounters`]: a few cache-line-sized stripes of relaxed atomics, and each thread bumps
//! the stripe picked for it on its first match. With no more threads than
//! [`MATCH_COUNTER_STRIPES`], no two threads write the same cache line; with more, some share a
//! stripe, which costs contention but loses no count. The price is a thread-local lookup and
//! an uncontended atomic add per match, and a sum over the stripes in `stats`.
//!
//! [`crate::LocalCache`] hits don't touch the sublist at all (that is their point), so they are
//! counted in the worker's own [`LocalCacheStats`] and added in with
//! [`SublistStats::add_local`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many counter stripes a sublist has for matches and cache hits. Set for a worker per core
/// on the machines we target; threads beyond it share stripes.
pub const MATCH_COUNTER_STRIPES: usize = 8;

/// A snapshot of a sublist's statistics, like nats-server's `SublistStats`.
///
/// `max_fanout` and `avg_fanout` are taken over the match cache's current entries, as in
/// nats-server: the fanout of a result is its plain subscriptions plus its queue groups (one
/// delivery each).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SublistStats {
    /// Subscriptions stored.
    pub num_subscriptions: u64,
    /// Match results in the shared cache.
    pub num_cache: u64,
    /// Successful inserts since the sublist was created.
    pub num_inserts: u64,
    /// Successful removes since the sublist was created.
    pub num_removes: u64,
    /// Matches since the sublist was created.
    pub num_matches: u64,
    /// Fraction of matches answered from a cache, `0.0..=1.0`.
    pub cache_hit_rate: f64,
    /// Largest fanout among cached results.
    pub max_fanout: u64,
    /// Mean fanout of cached results.
    pub avg_fanout: f64,
    /// Matches answered from a cache.
    cache_hits: u64,
    /// Sum of the fanouts of cached results.
    fanout_total: u64,
    /// Number of cached results `fanout_total` was summed over.
    fanout_count: u64,
}

impl SublistStats {
    /// Adds another sublist's statistics to these, for totals across accounts.
    ///
    /// Counts add up, `max_fanout` is the larger one, and the rates are recomputed from the
    /// summed counts, not averaged (mirrors nats-server's `SublistStats.add`).
    pub fn add(&mut self, other: &SublistStats) {
        self.num_subscriptions += other.num_subscriptions;
        self.num_cache += other.num_cache;
        self.num_inserts += other.num_inserts;
        self.num_removes += other.num_removes;
        self.num_matches += other.num_matches;
        self.cache_hits += other.cache_hits;
        self.max_fanout = self.max_fanout.max(other.max_fanout);
        self.fanout_total += other.fanout_total;
        self.fanout_count += other.fanout_count;
        self.update_rates();
    }

    /// Adds the hits of a worker's [`crate::LocalCache`], which the sublist never sees.
    ///
    /// A local cache miss goes through [`crate::Sublist::matches`] and is already counted there,
    /// so only the hits are added, both as matches and as cache hits.
    pub fn add_local(&mut self, local: &LocalCacheStats) {
        self.num_matches += local.hits;
        self.cache_hits += local.hits;
        self.update_rates();
    }

    /// Records the fanout of one cached result.
    pub(crate) fn add_cached_fanout(&mut self, fanout: usize) {
        let fanout = fanout as u64;
        self.num_cache += 1;
        self.fanout_total += fanout;
        self.fanout_count += 1;
        self.max_fanout = self.max_fanout.max(fanout);
    }

    /// Sets the match and hit counts, then the rates.
    pub(crate) fn set_matches(&mut self, matches: u64, hits: u64) {
        self.num_matches = matches;
        self.cache_hits = hits;
        self.update_rates();
    }

    /// Recomputes `cache_hit_rate` and `avg_fanout` from the counts.
    fn update_rates(&mut self) {
        self.cache_hit_rate = ratio(self.cache_hits, self.num_matches);
        self.avg_fanout = ratio(self.fanout_total, self.fanout_count);
    }
}

/// `numerator / denominator`, or 0 when there is nothing to divide by.
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Counters of one [`crate::LocalCache`]. Plain integers: the cache belongs to one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalCacheStats {
    /// Lookups answered from the local cache.
    pub hits: u64,
    /// Lookups that went to [`crate::Sublist::matches`] (absent, or a generation changed).
    pub misses: u64,
}

/// One stripe of match counters, alone on its cache line (128 bytes covers the adjacent-line
/// prefetcher on x86 as well).
#[derive(Default)]
#[repr(align(128))]
struct MatchStripe {
    matches: AtomicU64,
    hits: AtomicU64,
}

/// Match and cache-hit counters, striped by thread.
pub(crate) struct MatchCounters {
    stripes: [MatchStripe; MATCH_COUNTER_STRIPES],
}

impl Default for MatchCounters {
    fn default() -> Self {
        MatchCounters {
            stripes: std::array::from_fn(|_| MatchStripe::default()),
        }
    }
}

impl MatchCounters {
    /// Counts one match, and one cache hit if `hit`.
    #[inline]
    pub(crate) fn record(&self, hit: bool) {
        let stripe = &self.stripes[stripe_index()];
        stripe.matches.fetch_add(1, Ordering::Relaxed);
        if hit {
            stripe.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns (matches, hits) summed over the stripes.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.stripes.iter().fold((0, 0), |(matches, hits), stripe| {
            (
                matches + stripe.matches.load(Ordering::Relaxed),
                hits + stripe.hits.load(Ordering::Relaxed),
            )
        })
    }
}

/// The stripe this thread counts into, handed out round-robin on first use.
#[inline]
fn stripe_index() -> usize {
    static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % MATCH_COUNTER_STRIPES;
    }
    STRIPE.with(|stripe| *stripe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_across_threads() {
        let counters = MatchCounters::default();
        std::thread::scope(|scope| {
            for _ in 0..(MATCH_COUNTER_STRIPES + 3) {
                scope.spawn(|| {
                    for i in 0..1000 {
                        counters.record(i % 4 == 0);
                    }
                });
            }
        });
        let threads = (MATCH_COUNTER_STRIPES + 3) as u64;
        assert_eq!(counters.totals(), (threads * 1000, threads * 250));
    }

    #[test]
    fn add_recomputes_rates() {
        let mut a = SublistStats {
            num_subscriptions: 3,
            ..SublistStats::default()
        };
        a.set_matches(10, 5);
        a.add_cached_fanout(2);
        a.add_cached_fanout(4);
        a.update_rates();
        let mut b = SublistStats {
            num_subscriptions: 1,
            ..SublistStats::default()
        };
        b.set_matches(30, 0);
        b.add_cached_fanout(9);
        b.update_rates();

        let mut total = SublistStats::default();
        total.add(&a);
        total.add(&b);
        assert_eq!(total.num_subscriptions, 4);
        assert_eq!(total.num_matches, 40);
        assert_eq!(total.num_cache, 3);
        assert_eq!(total.max_fanout, 9);
        assert!((total.cache_hit_rate - 5.0 / 40.0).abs() < 1e-9);
        assert!((total.avg_fanout - 15.0 / 3.0).abs() < 1e-9);

        total.add_local(&LocalCacheStats {
            hits: 60,
            misses: 7,
        });
        assert_eq!(total.num_matches, 100);
        assert!((total.cache_hit_rate - 65.0 / 100.0).abs() < 1e-9);
    }

    #[test]
    fn empty_stats_have_zero_rates() {
        let mut stats = SublistStats::default();
        stats.add(&SublistStats::default());
        assert_eq!(stats.cache_hit_rate, 0.0);
        assert_eq!(stats.avg_fanout, 0.0);
    }
}
