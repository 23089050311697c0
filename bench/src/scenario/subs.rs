//! `subs`: subscription scale. `--subscriptions` subscriptions (a mix of literals and wildcards) are
//! spread over `--sub-conns` connections; the report has the server's RSS growth per
//! subscription, the rate at which SUBs were registered, and then the publish throughput to
//! subjects that each match exactly one of those subscriptions (so a subject-match cache
//! cannot hide the lookups: consecutive messages go to different subjects).

use super::flow::{self, window_default, Delivery, Plan, Tape};
use super::{connect, connect_n, msgs_or, server_rss, SIZE_DEFAULT};
use crate::args::Config;
use crate::client::WRITE_BATCH_BYTES;
use crate::report::Report;
use anyhow::{bail, Context as _};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Subscriptions unless `--subscriptions` is given.
pub const SUBS_DEFAULT: usize = 100_000;
/// Messages of the publish phase unless `--msgs` or `--duration-secs` is given.
const MSGS_DEFAULT: u64 = 500_000;
/// Pause before the second RSS reading, so that the server's allocator has settled.
const SETTLE: Duration = Duration::from_millis(500);

/// Subscription `i`'s subject and a subject that matches it and no other subscription of
/// the set. Seven in ten are literals; the rest put a `*` last, a `>` last, or a `*` in the
/// middle. The `i` token makes every subscription distinct.
pub fn pattern(i: usize) -> (String, String) {
    match i % 10 {
        7 => (format!("bench.subs.{i}.*"), format!("bench.subs.{i}.v")),
        8 => (format!("bench.subs.{i}.>"), format!("bench.subs.{i}.v.w")),
        9 => (format!("bench.*.{i}.v"), format!("bench.subs.{i}.v")),
        _ => {
            let s = format!("bench.subs.{i}.v");
            (s.clone(), s)
        }
    }
}

/// `subs`: see the module documentation.
pub fn scale(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let n = cfg.subscriptions.unwrap_or(SUBS_DEFAULT);
    let conns_n = cfg.sub_conns.min(n);
    let size = cfg.size.unwrap_or(SIZE_DEFAULT);
    report.subs = n;
    report.size = size;
    report.pubs = 1;
    report.conns = Some(conns_n);
    let mut conns = connect_n(cfg, "subs", conns_n)?;
    let before = server_rss(cfg)?;

    // Subscription i goes to connection i % conns_n with sid i; each connection's SUBs are
    // written in large batches, then one PING/PONG per connection confirms them all.
    let start = Instant::now();
    for (c, conn) in conns.iter_mut().enumerate() {
        let mut batch = String::with_capacity(WRITE_BATCH_BYTES + 256);
        for i in (c..n).step_by(conns_n) {
            let (sub, _) = pattern(i);
            let _ = write!(batch, "SUB {sub} {i}\r\n");
            if batch.len() >= WRITE_BATCH_BYTES {
                conn.write_all(batch.as_bytes(), deadline)
                    .context("sending SUBs")?;
                batch.clear();
            }
        }
        conn.write_all(batch.as_bytes(), deadline)
            .context("sending SUBs")?;
    }
    for conn in &mut conns {
        conn.round_trip(deadline).context("confirming SUBs")?;
    }
    let sub_elapsed = start.elapsed();
    report.subs_per_sec = Some(n as f64 / sub_elapsed.as_secs_f64().max(1e-9));
    if before.is_some() {
        std::thread::sleep(SETTLE);
    }
    if let (Some(b), Some(a)) = (before, server_rss(cfg)?) {
        let growth = report.set_rss(b, a);
        report.rss_per_sub_bytes = Some(growth / n as f64);
    }
    if Instant::now() > deadline {
        bail!("deadline passed while subscribing");
    }

    let publisher = connect(cfg, "pub-0")?;
    let tape = Tape::from_subjects((0..n).map(|i| pattern(i).1), size);
    let outcome = flow::run(Plan {
        label: "subs",
        tape,
        pubs: vec![publisher],
        subs: conns,
        delivery: Delivery::One,
        msgs: msgs_or(cfg, MSGS_DEFAULT),
        duration: cfg.duration,
        window: cfg.window.unwrap_or_else(|| window_default(size)),
        deadline,
        progress: cfg.progress,
    })?;
    outcome.fill(report);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::subject::{is_valid_literal_subject, is_valid_subject, subject_matches};

    #[test]
    fn each_publish_subject_matches_exactly_its_own_subscription() {
        let n = 200;
        let set: Vec<(String, String)> = (0..n).map(pattern).collect();
        for (i, (_, subject)) in set.iter().enumerate() {
            assert!(is_valid_literal_subject(subject.as_bytes()), "{subject}");
            let matching: Vec<usize> = set
                .iter()
                .enumerate()
                .filter(|(_, (sub, _))| subject_matches(sub.as_bytes(), subject.as_bytes()))
                .map(|(j, _)| j)
                .collect();
            assert_eq!(matching, vec![i], "{subject} matches {matching:?}");
        }
    }

    #[test]
    fn the_mix_has_every_kind() {
        let subs: Vec<String> = (0..10).map(|i| pattern(i).0).collect();
        assert!(subs.iter().all(|s| is_valid_subject(s.as_bytes())));
        assert_eq!(subs.iter().filter(|s| !s.contains(['*', '>'])).count(), 7);
        assert!(subs.iter().any(|s| s.ends_with(".*")));
        assert!(subs.iter().any(|s| s.ends_with(".>")));
        assert!(subs.iter().any(|s| s.starts_with("bench.*.")));
    }
}
