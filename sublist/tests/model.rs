//! Model test: random insert/remove/match sequences against a naive reference index.
//!
//! The reference is a plain list of (pattern, queue, id) matched with
//! `protocol::subject::subject_matches`. Every match is checked through `Sublist::matches` and
//! through a small `LocalCache` (so that it also evicts), comparing plain subscriptions and
//! queue groups as sets.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;
use protocol::subject::subject_matches;
use sublist::{LocalCache, Sublist, SublistResult};

/// A (pattern, queue, id) the reference holds.
type Entry = (String, Option<String>, u32);

/// Plain ids, and queue name -> member ids; all sorted.
type Normalized = (Vec<u32>, BTreeMap<Vec<u8>, Vec<u32>>);

#[derive(Clone, Debug)]
enum Op {
    Insert {
        pattern: String,
        queue: Option<String>,
    },
    /// Removes the stored entry at `pick` (modulo the count).
    Remove {
        pick: Index,
    },
    /// Removes something that isn't stored: a wrong id for a stored pattern.
    RemoveMissing {
        pick: Index,
    },
    /// Removes several stored entries at once, plus one that isn't stored.
    RemoveBatch {
        picks: Vec<Index>,
    },
    Match {
        subject: String,
    },
}

/// Patterns over a small alphabet, so that patterns and subjects collide often.
fn pattern() -> impl Strategy<Value = String> {
    let inner = prop::collection::vec(prop::sample::select(&["a", "b", "c", "*"][..]), 0..4);
    // Repeats weight the choice.
    let last = prop::sample::select(&["a", "a", "a", "b", "b", "c", "*", "*", ">", ">"][..]);
    (inner, last).prop_map(|(mut toks, last)| {
        toks.push(last);
        toks.join(".")
    })
}

/// Publish subjects: literal `*` and `>` tokens, and now and then an empty token.
fn subject() -> impl Strategy<Value = String> {
    let token =
        prop::sample::select(&["a", "a", "a", "a", "b", "b", "b", "c", "c", "*", ">", ""][..]);
    prop::collection::vec(token, 1..6).prop_map(|toks| toks.join("."))
}

fn queue() -> impl Strategy<Value = Option<String>> {
    prop_oneof![3 => Just(None), 1 => Just(Some("q1".to_string())), 1 => Just(Some("q2".to_string()))]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pattern(), queue()).prop_map(|(pattern, queue)| Op::Insert { pattern, queue }),
        2 => any::<Index>().prop_map(|pick| Op::Remove { pick }),
        1 => any::<Index>().prop_map(|pick| Op::RemoveMissing { pick }),
        1 => prop::collection::vec(any::<Index>(), 0..6).prop_map(|picks| Op::RemoveBatch { picks }),
        5 => subject().prop_map(|subject| Op::Match { subject }),
    ]
}

fn reference_match(entries: &[Entry], subject: &str) -> Normalized {
    let mut psubs = Vec::new();
    let mut qsubs: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    for (pattern, queue, id) in entries {
        if !subject_matches(pattern.as_bytes(), subject.as_bytes()) {
            continue;
        }
        match queue {
            None => psubs.push(*id),
            Some(q) => qsubs.entry(q.as_bytes().to_vec()).or_default().push(*id),
        }
    }
    psubs.sort_unstable();
    for members in qsubs.values_mut() {
        members.sort_unstable();
    }
    (psubs, qsubs)
}

/// Normalizes a result, checking that queue names are distinct and groups non-empty.
fn normalize(result: &SublistResult<u32>) -> Result<Normalized, TestCaseError> {
    let mut psubs = result.psubs.clone();
    psubs.sort_unstable();
    let mut qsubs = BTreeMap::new();
    for group in &result.qsubs {
        prop_assert!(
            !group.members.is_empty(),
            "empty queue group {:?}",
            group.name
        );
        let mut members = group.members.clone();
        members.sort_unstable();
        let previous = qsubs.insert(group.name.to_vec(), members);
        prop_assert!(
            previous.is_none(),
            "queue group {:?} appears twice",
            group.name
        );
    }
    Ok((psubs, qsubs))
}

/// Runs `ops` against a sublist built with `shards` and `cache_enabled`.
fn check(ops: &[Op], shards: usize, cache_enabled: bool) -> Result<(), TestCaseError> {
    let sl: Sublist<u32> = Sublist::with_options(shards, cache_enabled);
    let mut local = LocalCache::with_capacity(8);
    let mut entries: Vec<Entry> = Vec::new();
    let mut next_id = 0u32;
    for op in ops {
        match op {
            Op::Insert { pattern, queue } => {
                next_id += 1;
                sl.insert(
                    pattern.as_bytes(),
                    queue.as_deref().map(str::as_bytes),
                    next_id,
                )
                .map_err(|e| TestCaseError::fail(format!("insert {pattern}: {e}")))?;
                entries.push((pattern.clone(), queue.clone(), next_id));
            }
            Op::Remove { pick } => {
                if entries.is_empty() {
                    continue;
                }
                let (pattern, queue, id) = entries.swap_remove(pick.index(entries.len()));
                let got = sl.remove(pattern.as_bytes(), queue.as_deref().map(str::as_bytes), &id);
                prop_assert_eq!(got, Ok(()), "remove {} {:?} {}", pattern, queue, id);
            }
            Op::RemoveMissing { pick } => {
                if entries.is_empty() {
                    continue;
                }
                let (pattern, queue, _) = &entries[pick.index(entries.len())];
                let got = sl.remove(pattern.as_bytes(), queue.as_deref().map(str::as_bytes), &0);
                prop_assert_eq!(got, Err(sublist::SublistError::NotFound));
            }
            Op::RemoveBatch { picks } => {
                let mut batch: Vec<Entry> = Vec::new();
                for pick in picks {
                    if !entries.is_empty() {
                        batch.push(entries.swap_remove(pick.index(entries.len())));
                    }
                }
                let expected = batch.len();
                batch.push(("a.b".to_string(), None, 0));
                let removed = sl.remove_batch(
                    batch
                        .iter()
                        .map(|(p, q, id)| (p.as_bytes(), q.as_deref().map(str::as_bytes), *id)),
                );
                prop_assert_eq!(removed, expected);
            }
            Op::Match { subject } => {
                let expected = reference_match(&entries, subject);
                let shared = normalize(&sl.matches(subject.as_bytes()))?;
                prop_assert_eq!(&shared, &expected, "Sublist::matches({:?})", subject);
                let cached = normalize(local.matches(&sl, subject.as_bytes()))?;
                prop_assert_eq!(&cached, &expected, "LocalCache::matches({:?})", subject);
            }
        }
        prop_assert_eq!(sl.count(), entries.len());
    }
    // A final sweep over every subject the ops used, through both paths.
    for op in ops {
        if let Op::Match { subject } = op {
            let expected = reference_match(&entries, subject);
            prop_assert_eq!(&normalize(&sl.matches(subject.as_bytes()))?, &expected);
            prop_assert_eq!(
                &normalize(local.matches(&sl, subject.as_bytes()))?,
                &expected
            );
        }
    }
    Ok(())
}

proptest! {
    // No failure persistence: it would write regression files into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sublist_matches_reference(ops in prop::collection::vec(op(), 1..80)) {
        check(&ops, 16, true)?;
    }

    #[test]
    fn one_shard_matches_reference(ops in prop::collection::vec(op(), 1..80)) {
        check(&ops, 1, true)?;
    }

    #[test]
    fn uncached_sublist_matches_reference(ops in prop::collection::vec(op(), 1..80)) {
        check(&ops, 4, false)?;
    }
}

#[test]
fn reference_agrees_on_spec_examples() {
    // The spec §1.11 examples, through the reference, to keep the model honest.
    let entries: Vec<Entry> = vec![
        ("foo.*".into(), None, 1),
        ("foo.>".into(), None, 2),
        (">".into(), None, 3),
        ("foo.bar".into(), None, 4),
    ];
    assert_eq!(reference_match(&entries, "foo.*").0, vec![1, 2, 3]);
    assert_eq!(reference_match(&entries, "foo.bar").0, vec![1, 2, 3, 4]);
    assert_eq!(reference_match(&entries, "foo").0, vec![3]);
    assert!(reference_match(&entries, "foo..bar").0.is_empty());
}

/// Levels switch from a short list to a map past a handful of children, and back when they
/// empty; every child must stay reachable either way.
#[test]
fn wide_levels_grow_and_shrink() {
    let sl: sublist::Sublist<u32> = sublist::Sublist::new();
    for i in 0..50u32 {
        sl.insert(format!("wide.{i}.v").as_bytes(), None, i)
            .unwrap();
    }
    for i in 0..50u32 {
        assert_eq!(
            sl.matches(format!("wide.{i}.v").as_bytes())
                .psubs
                .as_slice(),
            &[i]
        );
    }
    for i in 0..45u32 {
        sl.remove(format!("wide.{i}.v").as_bytes(), None, &i)
            .unwrap();
    }
    for i in 0..50u32 {
        let want: &[u32] = if i < 45 { &[] } else { &[i] };
        assert_eq!(
            sl.matches(format!("wide.{i}.v").as_bytes())
                .psubs
                .as_slice(),
            want
        );
    }
    assert_eq!(sl.count(), 5);
}
