//! Sublist micro-benchmarks: match cost with 10k and 1M subscriptions, literal and wildcard
//! subjects, shared-cache hits and misses, `LocalCache` hits, and insert/remove rate.
//!
//! Run with `cargo bench -p gannet-bench --bench sublist`. Subscriptions come from a
//! deterministic generator: literal `a.b<i>.c<j>` plus, for every hundredth `i`, the wildcards
//! `a.b<i>.*` and `a.b<i>.>` (in a literal shard) and `*.b<i>.c0` (in the wildcard shard), and a
//! queue subscription on `a.b<i>.c1`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sublist::{LocalCache, Sublist};

/// Subscriptions per `b<i>` token in the generator.
const SUBS_PER_PREFIX: usize = 100;

/// Distinct subjects each match benchmark cycles through; a power of two.
const SUBJECTS_HOT: usize = 256;

/// Distinct subjects for the cache-miss benchmark: far more than the shared cache holds.
const SUBJECTS_COLD: usize = 1 << 16;

/// The subscription counts benchmarked.
const SIZES: [usize; 2] = [10_000, 1_000_000];

/// Builds a sublist holding about `n` subscriptions from the generator.
fn build(n: usize, cache_enabled: bool) -> Sublist<u32> {
    let sl = Sublist::with_options(sublist::SHARD_COUNT_DEFAULT, cache_enabled);
    let mut id = 0u32;
    let mut add = |subject: String, queue: Option<&[u8]>| {
        id += 1;
        if let Err(e) = sl.insert(subject.as_bytes(), queue, id) {
            panic!("generator made a bad subject {subject:?}: {e}");
        }
    };
    for i in 0..n / SUBS_PER_PREFIX {
        for j in 0..SUBS_PER_PREFIX {
            add(format!("a.b{i}.c{j}"), None);
        }
        if i.is_multiple_of(100) {
            add(format!("a.b{i}.*"), None);
            add(format!("a.b{i}.>"), None);
            add(format!("*.b{i}.c0"), None);
            add(format!("a.b{i}.c1"), Some(b"workers"));
        }
    }
    sl
}

/// `count` literal subjects that each match one literal subscription and no wildcard.
fn literal_subjects(n: usize, count: usize) -> Vec<Vec<u8>> {
    let prefixes = (n / SUBS_PER_PREFIX).max(1);
    (0..count)
        .map(|k| {
            // Skip every hundredth prefix, which has wildcards; and c0/c1, which have more.
            let i = (k * 7919) % prefixes;
            let i = if i.is_multiple_of(100) { i + 1 } else { i };
            format!("a.b{}.c{}", i % prefixes, 2 + k % (SUBS_PER_PREFIX - 2)).into_bytes()
        })
        .collect()
}

/// `count` subjects under prefixes that have wildcard and queue subscriptions: each matches a
/// literal, `a.b<i>.*`, `a.b<i>.>`, and for `c0`/`c1` also `*.b<i>.c0` or the queue group.
fn wildcard_subjects(n: usize, count: usize) -> Vec<Vec<u8>> {
    let wildcard_prefixes = (n / SUBS_PER_PREFIX).div_ceil(100).max(1);
    (0..count)
        .map(|k| {
            let i = (k % wildcard_prefixes) * 100;
            format!("a.b{i}.c{}", k % 3).into_bytes()
        })
        .collect()
}

/// Runs `matches` over `subjects` in a cycle.
fn bench_cycle<F>(
    c: &mut Criterion,
    group_name: &str,
    id: BenchmarkId,
    subjects: &[Vec<u8>],
    mut f: F,
) where
    F: FnMut(&[u8]) -> usize,
{
    assert!(subjects.len().is_power_of_two());
    let mask = subjects.len() - 1;
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    group.bench_function(id, |b| {
        b.iter(|| {
            k = (k + 1) & mask;
            black_box(f(black_box(&subjects[k])))
        })
    });
    group.finish();
}

fn bench_matches(c: &mut Criterion) {
    for n in SIZES {
        let cached = build(n, true);
        let uncached = build(n, false);
        let literal = literal_subjects(n, SUBJECTS_HOT);
        let wildcard = wildcard_subjects(n, SUBJECTS_HOT);
        let cold = literal_subjects(n, SUBJECTS_COLD);
        let label = if n >= 1_000_000 {
            "1M".to_string()
        } else {
            format!("{}k", n / 1000)
        };

        for (kind, subjects) in [("literal", &literal), ("wildcard", &wildcard)] {
            bench_cycle(
                c,
                "sublist_match_cache_hit",
                BenchmarkId::new(kind, &label),
                subjects,
                |s| cached.matches(s).psubs.len(),
            );
            bench_cycle(
                c,
                "sublist_match_no_cache",
                BenchmarkId::new(kind, &label),
                subjects,
                |s| uncached.matches(s).psubs.len(),
            );
            let mut local = LocalCache::new();
            bench_cycle(
                c,
                "sublist_match_local_cache",
                BenchmarkId::new(kind, &label),
                subjects,
                |s| local.matches(&cached, s).psubs.len(),
            );
        }
        // Distinct subjects: almost every match misses and then fills (and sweeps) the cache.
        bench_cycle(
            c,
            "sublist_match_cache_miss",
            BenchmarkId::new("literal", &label),
            &cold,
            |s| cached.matches(s).psubs.len(),
        );
    }
}

fn bench_insert_remove(c: &mut Criterion) {
    for n in SIZES {
        let sl = build(n, true);
        // Warm the cache, so that invalidation has entries to look at.
        for subject in literal_subjects(n, 4096) {
            sl.matches(&subject);
        }
        let label = if n >= 1_000_000 {
            "1M".to_string()
        } else {
            format!("{}k", n / 1000)
        };
        let literal: Vec<Vec<u8>> = (0..SUBJECTS_HOT)
            .map(|k| format!("a.b{k}.new{k}").into_bytes())
            .collect();
        let wildcard: Vec<Vec<u8>> = (0..SUBJECTS_HOT)
            .map(|k| format!("*.b{k}.new{k}").into_bytes())
            .collect();
        let mut group = c.benchmark_group("sublist_insert_remove");
        group.throughput(Throughput::Elements(1));
        for (kind, patterns) in [("literal", &literal), ("wildcard", &wildcard)] {
            let mut k = 0usize;
            group.bench_function(BenchmarkId::new(kind, &label), |b| {
                b.iter(|| {
                    k = (k + 1) % patterns.len();
                    let pattern = &patterns[k];
                    let inserted = sl.insert(pattern, None, u32::MAX);
                    let removed = sl.remove(pattern, None, &u32::MAX);
                    black_box((inserted, removed))
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // The 1M setup takes a few seconds; keep the sampling short so the whole run stays quick.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_matches, bench_insert_remove
}
criterion_main!(benches);
