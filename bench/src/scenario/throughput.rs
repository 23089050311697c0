//! Message throughput: `pub` (publish only), `pubsub` (P -> 1), `fanout` (1 -> N on one
//! subject) and `queue` (1 -> N members of one queue group).

use super::flow::{self, window_default, Delivery, Plan, Tape};
use super::probe::await_interest;
use super::{connect_n, connect_n_on, msgs_or, Side, SIZE_DEFAULT};
use crate::args::Config;
use crate::report::Report;
use crate::stats::Spread;
use anyhow::Context as _;
use std::time::Instant;

/// Messages per run unless `--msgs` or `--duration-secs` is given.
const MSGS_DEFAULT: u64 = 1_000_000;
/// Fan-out messages per run: each is delivered N times.
const FANOUT_MSGS_DEFAULT: u64 = 200_000;
/// Subscribers of `fanout` unless `--subs` is given.
const FANOUT_SUBS_DEFAULT: usize = 16;
/// Members of the queue group unless `--subs` is given.
const QUEUE_SUBS_DEFAULT: usize = 4;
/// Name of the queue group.
const QUEUE_GROUP: &str = "bench-q";

/// `pub`: publishers with no subscribers; ends when each publisher's final PONG arrives.
pub fn publish_only(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let size = cfg.size.unwrap_or(SIZE_DEFAULT);
    report.size = size;
    report.pubs = cfg.pubs;
    let pubs = connect_n(cfg, "pub", cfg.pubs)?;
    let outcome = flow::run(Plan {
        label: "pub",
        tape: Tape::single("bench.pub", size),
        pubs,
        subs: Vec::new(),
        delivery: Delivery::None,
        msgs: msgs_or(cfg, MSGS_DEFAULT),
        duration: cfg.duration,
        window: u64::MAX,
        deadline,
        progress: cfg.progress,
    })?;
    outcome.fill(report);
    Ok(())
}

/// `pubsub`: `--pubs` publishers, one subscriber.
pub fn pubsub(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let per_sub = fan(cfg, deadline, report, "pubsub", 1, None, cfg.pubs)?;
    debug_assert_eq!(per_sub.len(), 1);
    Ok(())
}

/// `fanout`: one publisher, `--subs` subscribers on the same subject.
pub fn fanout(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let subs = cfg.subs.unwrap_or(FANOUT_SUBS_DEFAULT);
    fan(cfg, deadline, report, "fanout", subs, None, 1)?;
    Ok(())
}

/// `queue`: one publisher, `--subs` members of one queue group; reports the split.
pub fn queue(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let subs = cfg.subs.unwrap_or(QUEUE_SUBS_DEFAULT);
    let per_sub = fan(cfg, deadline, report, "queue", subs, Some(QUEUE_GROUP), 1)?;
    report.spread = Spread::of(&per_sub);
    report.members = Some(per_sub);
    Ok(())
}

/// Connects `subs` subscribers on one subject (in a queue group if `queue` is set) and `pubs`
/// publishers, runs the flow and returns what each subscriber received. With `--sub-url` the
/// subscribers are on that server, and the flow starts once their interest has crossed.
fn fan(
    cfg: &Config,
    deadline: Instant,
    report: &mut Report,
    label: &'static str,
    subs: usize,
    queue: Option<&str>,
    pubs: usize,
) -> anyhow::Result<Vec<u64>> {
    let size = cfg.size.unwrap_or(SIZE_DEFAULT);
    let subject = format!("bench.{label}");
    report.size = size;
    report.pubs = pubs;
    report.subs = subs;
    let mut sub_conns = connect_n_on(cfg, Side::Sub, "sub", subs)?;
    let sub_line = match queue {
        Some(q) => format!("SUB {subject} {q} 1\r\n"),
        None => format!("SUB {subject} 1\r\n"),
    };
    for c in &mut sub_conns {
        c.write_all(sub_line.as_bytes(), deadline)
            .and_then(|()| c.round_trip(deadline))
            .context("subscribing")?;
    }
    await_interest(cfg, Side::Sub, deadline)?;
    let pub_conns = connect_n(cfg, "pub", pubs)?;
    let delivery = if queue.is_some() {
        Delivery::One
    } else {
        Delivery::Each
    };
    let default = if label == "fanout" {
        FANOUT_MSGS_DEFAULT
    } else {
        MSGS_DEFAULT
    };
    let outcome = flow::run(Plan {
        label,
        tape: Tape::single(&subject, size),
        pubs: pub_conns,
        subs: sub_conns,
        delivery,
        msgs: msgs_or(cfg, default),
        duration: cfg.duration,
        window: cfg.window.unwrap_or_else(|| window_default(size)),
        deadline,
        progress: cfg.progress,
    })?;
    outcome.fill(report);
    Ok(outcome.per_sub)
}
