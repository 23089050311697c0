//! The comparison: JSON lines from repeated `gannet-bench --json --label <server>` runs are
//! grouped by case and metric, reduced to a median and a spread (min–max) per server, and
//! set against each other as gannet / reference ratios, with the issue's targets checked
//! against the faster reference. The references are nats-server (2.15.1) and, when the run
//! raced it, a second one labelled `nats-server-2.9` (Debian's 2.9.10). Used by
//! `gannet-chart`, which `scripts/compare.sh` runs at the end.

use crate::report::Report;
use crate::stats::{bytes, median, si};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The label of gannet's runs.
pub const GANNET: &str = "gannet";
/// The label of the reference server's runs (nats-server 2.15.1 in the race).
pub const NATS: &str = "nats-server";
/// The label of the second reference's runs (Debian's nats-server 2.9.10 in the race).
pub const NATS_SECOND: &str = "nats-server-2.9";
/// The servers of a comparison, in the order of [`Row::stats`] and [`Row::failed`].
pub const LABELS: [&str; 3] = [GANNET, NATS, NATS_SECOND];

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput, rates.
    Higher,
    /// Latency, memory.
    Lower,
}

/// One number a report contributes to the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Short name: `msgs/s`, `p99`, `RSS/conn`.
    pub name: &'static str,
    /// Unit for formatting: `msgs/s`, `us`, `bytes`, `/s`.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// The value.
    pub value: f64,
}

fn metric(
    name: &'static str,
    unit: &'static str,
    better: Better,
    value: Option<f64>,
) -> Option<Metric> {
    value.map(|value| Metric {
        name,
        unit,
        better,
        value,
    })
}

/// The metrics compared for a report's scenario.
pub fn metrics(r: &Report) -> Vec<Metric> {
    use Better::{Higher, Lower};
    let out: Vec<Option<Metric>> = match r.scenario.as_str() {
        "pub" | "pubsub" | "fanout" | "queue" => {
            vec![metric("msgs/s", "msgs/s", Higher, r.msgs_per_sec)]
        }
        "req" | "req-open" => match &r.latency_us {
            Some(l) => vec![
                metric("p50", "us", Lower, Some(l.p50)),
                metric("p90", "us", Lower, Some(l.p90)),
                metric("p99", "us", Lower, Some(l.p99)),
                metric("p99.9", "us", Lower, Some(l.p999)),
                metric("max", "us", Lower, Some(l.max)),
            ],
            None => Vec::new(),
        },
        "conns" => vec![
            metric("RSS/conn", "bytes", Lower, r.rss_per_conn_bytes),
            metric("conns/s", "/s", Higher, r.conns_per_sec),
        ],
        "churn" => vec![metric("conns/s", "/s", Higher, r.conns_per_sec)],
        "subs" => vec![
            metric("RSS/sub", "bytes", Lower, r.rss_per_sub_bytes),
            metric("SUB/s", "/s", Higher, r.subs_per_sec),
            metric("msgs/s", "msgs/s", Higher, r.msgs_per_sec),
        ],
        _ => Vec::new(),
    };
    out.into_iter().flatten().collect()
}

/// A target from the issue: gannet's value over the faster reference's must be at least
/// (`ge`) or at most (`le`) `ratio`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// `ge` or `le`.
    pub op: Op,
    /// The ratio bound.
    pub ratio: f64,
}

/// Comparison of a [`Target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// At least.
    Ge,
    /// At most.
    Le,
}

impl Target {
    /// Whether `ratio` meets the target.
    pub fn met(&self, ratio: f64) -> bool {
        match self.op {
            Op::Ge => ratio >= self.ratio,
            Op::Le => ratio <= self.ratio,
        }
    }

    /// `≥ 1.5×`.
    pub fn text(&self) -> String {
        let op = match self.op {
            Op::Ge => "≥",
            Op::Le => "≤",
        };
        format!("{op} {}×", self.ratio)
    }
}

/// One of the issue's targets and the rows it applies to.
struct TargetSpec {
    scenario: &'static str,
    /// Payload size, when the target names one.
    size: Option<usize>,
    /// Subscribers or subscriptions, when the target names a count.
    subs: Option<usize>,
    metric: &'static str,
    target: Target,
    /// For the cross-server runs of the scenario instead of the single-server ones.
    cross_server: bool,
    /// Which cross-server topology: `cluster` or `leaf` (ignored for single-server runs).
    topology: &'static str,
}

const fn spec(
    scenario: &'static str,
    size: Option<usize>,
    subs: Option<usize>,
    metric: &'static str,
    op: Op,
    ratio: f64,
) -> TargetSpec {
    TargetSpec {
        scenario,
        size,
        subs,
        metric,
        target: Target { op, ratio },
        cross_server: false,
        topology: "",
    }
}

/// `s` for the cluster runs of its scenario (publishers on one node, subscribers or the
/// responder on the other).
const fn cluster(s: TargetSpec) -> TargetSpec {
    TargetSpec {
        cross_server: true,
        topology: "cluster",
        ..s
    }
}

/// `s` for the runs across a gateway (publishers in one cluster, subscribers or the
/// responder in the other).
const fn gateway(s: TargetSpec) -> TargetSpec {
    TargetSpec {
        cross_server: true,
        topology: "gateway",
        ..s
    }
}

/// `s` for the runs across a leaf node connection (publishers on the hub, subscribers or the
/// responder on the leaf).
const fn leaf(s: TargetSpec) -> TargetSpec {
    TargetSpec {
        cross_server: true,
        topology: "leaf",
        ..s
    }
}

/// The issue's targets (gannet / the faster of nats-server 2.15.1 and 2.9.10, same machine,
/// same run).
const TARGETS: &[TargetSpec] = &[
    spec("pubsub", Some(16), None, "msgs/s", Op::Ge, 1.5),
    spec("pubsub", Some(128), None, "msgs/s", Op::Ge, 1.5),
    spec("fanout", Some(128), Some(16), "msgs/s", Op::Ge, 1.5),
    spec("pub", Some(16), None, "msgs/s", Op::Ge, 1.3),
    // Issue 12: publish-only and 1 -> 1 at every other size from 16 B to 16 KiB.
    spec("pubsub", None, None, "msgs/s", Op::Ge, 1.3),
    spec("pub", None, None, "msgs/s", Op::Ge, 1.3),
    spec("queue", None, Some(4), "msgs/s", Op::Ge, 1.3),
    spec("req", None, None, "p50", Op::Le, 0.8),
    spec("req", None, None, "p99", Op::Le, 0.8),
    spec("conns", None, None, "RSS/conn", Op::Le, 0.3),
    spec("subs", None, Some(100_000), "RSS/sub", Op::Le, 0.5),
    // Publisher on node A, subscriber (or responder) on node B of a two-node cluster.
    cluster(spec("pubsub", Some(16), None, "msgs/s", Op::Ge, 1.5)),
    cluster(spec("pubsub", Some(128), None, "msgs/s", Op::Ge, 1.5)),
    cluster(spec("req", None, None, "p50", Op::Le, 0.8)),
    cluster(spec("req", None, None, "p99", Op::Le, 0.8)),
    // Issue 15: through one leaf hop, against nats-server in the same topology.
    leaf(spec("pubsub", None, None, "msgs/s", Op::Ge, 1.3)),
    leaf(spec("req", None, None, "p50", Op::Le, 0.8)),
    leaf(spec("req", None, None, "p99", Op::Le, 0.8)),
    // Issue 15: through one gateway hop, against nats-server in the same topology.
    gateway(spec("pubsub", None, None, "msgs/s", Op::Ge, 1.3)),
    gateway(spec("req", None, None, "p50", Op::Le, 0.8)),
    gateway(spec("req", None, None, "p99", Op::Le, 0.8)),
];

/// The target for a case's metric, if the issue sets one.
pub fn target_for(r: &Report, metric: &str) -> Option<Target> {
    TARGETS
        .iter()
        .find(|t| {
            t.scenario == r.scenario
                && t.cross_server == r.cross_server
                && (!r.cross_server || t.topology == r.topology_name())
                && t.metric == metric
                && t.size.is_none_or(|s| s == r.size)
                && t.subs.is_none_or(|n| n == r.subs)
                // The 1 -> 1 targets are for one publisher, and publish-only for one too.
                && (!matches!(r.scenario.as_str(), "pubsub" | "pub") || r.pubs == 1)
        })
        .map(|t| t.target)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Median and spread of one server's runs of one case and metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Median over the clean runs.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Clean runs.
    pub runs: usize,
}

impl Stat {
    fn of(values: &[f64]) -> Option<Stat> {
        Some(Stat {
            median: median(values)?,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            runs: values.len(),
        })
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Case name (see [`Report::case`]).
    pub case: String,
    /// Scenario name.
    pub scenario: String,
    /// Payload size.
    pub size: usize,
    /// The case's runs were cross-server (cluster) runs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cross_server: bool,
    /// Metric name.
    pub metric: String,
    /// Unit of the metric.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// Gannet's runs.
    pub gannet: Option<Stat>,
    /// nats-server's runs.
    #[serde(rename = "nats-server")]
    pub nats: Option<Stat>,
    /// The second reference's runs, when the run raced one. Summaries written before it
    /// existed have no such field.
    #[serde(rename = "nats-server-2.9", default)]
    pub nats_second: Option<Stat>,
    /// Runs that reported errors and were left out, per server, in the order of [`LABELS`].
    #[serde(deserialize_with = "failed_counts")]
    pub failed: [usize; 3],
    /// Gannet's median over nats-server's.
    pub ratio: Option<f64>,
    /// Gannet's median over the second reference's.
    #[serde(default)]
    pub ratio_second: Option<f64>,
    /// Gannet's median over the faster reference's (the better median of the two, or the
    /// only one with clean runs): what the target is checked against.
    #[serde(default)]
    pub ratio_vs_best: Option<f64>,
    /// The issue's target for this row, if any.
    pub target: Option<Target>,
    /// Whether the target is met; never when a gannet run of the case failed.
    pub met: Option<bool>,
}

impl Row {
    /// The statistics per server, in the order of [`LABELS`].
    pub fn stats(&self) -> [Option<Stat>; 3] {
        [self.gannet, self.nats, self.nats_second]
    }

    /// Runs of server `side` (an index into [`LABELS`]), clean and failed.
    pub fn runs(&self, side: usize) -> usize {
        self.stats()[side].map_or(0, |s| s.runs) + self.failed[side]
    }
}

/// Reads [`Row::failed`] as written now, `[gannet, nats-server, nats-server-2.9]`, and as
/// summaries from before the second reference wrote it, `[gannet, nats-server]`.
fn failed_counts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[usize; 3], D::Error> {
    let v = Vec::<usize>::deserialize(d)?;
    match v.as_slice() {
        [g, n] => Ok([*g, *n, 0]),
        [g, n, s] => Ok([*g, *n, *s]),
        _ => Err(serde::de::Error::invalid_length(v.len(), &"2 or 3 counts")),
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Facts about the run (machine, versions, repetitions), as `key: value`, in order.
    #[serde(default)]
    pub meta: Vec<(String, String)>,
    /// Rows in the order the cases were first run.
    pub rows: Vec<Row>,
    /// Errors the runs reported, with their case and server (at most a few per case).
    pub errors: Vec<String>,
}

impl Summary {
    /// Whether the run raced a second reference (clean or failed runs of it).
    pub fn has_second(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.nats_second.is_some() || r.failed[2] > 0)
    }
}

/// The version the meta lines give for a reference `label` (compare.sh passes
/// `--meta nats-server=2.15.1 --meta nats-server-2.9=2.9.10`).
fn version<'a>(s: &'a Summary, label: &str) -> Option<&'a str> {
    s.meta
        .iter()
        .find(|(k, v)| k == label && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// A reference as the three-server table and chart call it: `nats-server 2.9.10` when the
/// meta lines give its version, else its label.
pub fn reference_name(s: &Summary, label: &str) -> String {
    version(s, label).map_or_else(|| label.to_string(), |v| format!("nats-server {v}"))
}

/// Errors quoted per case and server in [`Summary::errors`].
const ERRORS_PER_CASE_MAX: usize = 3;

/// Builds the comparison from reports labelled with one of [`LABELS`]; others are ignored.
pub fn summarize(reports: &[Report]) -> Summary {
    struct Acc {
        row: Row,
        values: [Vec<f64>; 3],
    }
    let mut accs: Vec<Acc> = Vec::new();
    let mut errors = Vec::new();
    let mut quoted: Vec<(String, usize, usize)> = Vec::new();
    for r in reports {
        let Some(side) = LABELS.iter().position(|l| r.label.as_deref() == Some(*l)) else {
            continue;
        };
        let case = r.case();
        let failed = !r.errors.is_empty();
        if failed {
            let n = match quoted.iter_mut().find(|(c, s, _)| *c == case && *s == side) {
                Some(q) => {
                    q.2 += 1;
                    q.2
                }
                None => {
                    quoted.push((case.clone(), side, 1));
                    1
                }
            };
            if n <= ERRORS_PER_CASE_MAX {
                let server = LABELS[side];
                errors.push(format!("{case} on {server}: {}", r.errors.join("; ")));
            }
        }
        let ms = if failed {
            template_metrics(r)
        } else {
            metrics(r)
        };
        for m in ms {
            let idx = match accs
                .iter()
                .position(|a| a.row.case == case && a.row.metric == m.name)
            {
                Some(i) => i,
                None => {
                    accs.push(Acc {
                        row: Row {
                            case: case.clone(),
                            scenario: r.scenario.clone(),
                            size: r.size,
                            cross_server: r.cross_server,
                            metric: m.name.to_string(),
                            unit: m.unit.to_string(),
                            better: m.better,
                            gannet: None,
                            nats: None,
                            nats_second: None,
                            failed: [0; 3],
                            ratio: None,
                            ratio_second: None,
                            ratio_vs_best: None,
                            target: target_for(r, m.name),
                            met: None,
                        },
                        values: [Vec::new(), Vec::new(), Vec::new()],
                    });
                    accs.len() - 1
                }
            };
            let acc = &mut accs[idx];
            if failed {
                acc.row.failed[side] += 1;
            } else {
                acc.values[side].push(m.value);
            }
        }
    }
    let rows = accs.into_iter().map(|a| finish(a.row, &a.values)).collect();
    Summary {
        meta: Vec::new(),
        rows,
        errors,
    }
}

/// Fills in a row's statistics, ratios and verdict from the clean runs' values per server.
fn finish(mut row: Row, values: &[Vec<f64>; 3]) -> Row {
    row.gannet = Stat::of(&values[0]);
    row.nats = Stat::of(&values[1]);
    row.nats_second = Stat::of(&values[2]);
    row.ratio = ratio_of(row.gannet, row.nats);
    row.ratio_second = ratio_of(row.gannet, row.nats_second);
    let best = best_reference(row.better, row.nats, row.nats_second);
    row.ratio_vs_best = ratio_of(row.gannet, best);
    // A failed gannet run (lost messages, an error, a crash) misses the target whatever the
    // surviving runs measured.
    row.met = if row.failed[0] > 0 {
        row.target.map(|_| false)
    } else {
        row.target.zip(row.ratio_vs_best).map(|(t, x)| t.met(x))
    };
    row
}

/// Gannet's median over a reference's, when both have clean runs and the reference's is
/// positive.
fn ratio_of(gannet: Option<Stat>, reference: Option<Stat>) -> Option<f64> {
    let (g, r) = (gannet?, reference?);
    (r.median > 0.0).then_some(g.median / r.median)
}

/// The faster of two references for a metric (the higher median of a rate, the lower of a
/// latency or size); the one with clean runs when the other has none.
fn best_reference(better: Better, a: Option<Stat>, b: Option<Stat>) -> Option<Stat> {
    let usable = |s: &Stat| s.median > 0.0;
    match (a.filter(usable), b.filter(usable)) {
        (Some(a), Some(b)) => {
            let b_wins = match better {
                Better::Higher => b.median > a.median,
                Better::Lower => b.median < a.median,
            };
            Some(if b_wins { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// The metric names a scenario would have had, for counting a failed run against its rows.
fn template_metrics(r: &Report) -> Vec<Metric> {
    let mut full = r.clone();
    full.msgs_per_sec = Some(0.0);
    full.conns_per_sec = Some(0.0);
    full.subs_per_sec = Some(0.0);
    full.rss_per_conn_bytes = Some(0.0);
    full.rss_per_sub_bytes = Some(0.0);
    full.latency_us = Some(crate::stats::LatencySummary {
        count: 0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        p999: 0.0,
        max: 0.0,
        mean: 0.0,
    });
    metrics(&full)
}

/// A value in its unit, for tables: `1.23M`, `45.1 µs`, `12.3 KiB`.
pub fn format_value(unit: &str, v: f64) -> String {
    match unit {
        "us" if v >= 10_000.0 => format!("{:.1} ms", v / 1000.0),
        "us" => format!("{v:.1} µs"),
        "bytes" => bytes(v),
        "msgs/s" => format!("{}/s", si(v)),
        _ => format!("{}/s", si(v)),
    }
}

fn format_stat(unit: &str, s: Option<Stat>, failed: usize) -> String {
    let mut out = match s {
        None => "–".to_string(),
        Some(s) if s.runs == 1 => format_value(unit, s.median),
        Some(s) => format!(
            "{} ({}–{})",
            format_value(unit, s.median),
            format_value(unit, s.min),
            format_value(unit, s.max)
        ),
    };
    if failed > 0 {
        let _ = write!(out, " [{failed} failed]");
    }
    out
}

/// The comparison as a Markdown table, followed by the targets, the failed runs and any
/// errors. The second reference's columns appear only when the run raced one, so a
/// two-server table looks as it always has.
pub fn markdown(s: &Summary) -> String {
    let mut md = String::new();
    for (k, v) in &s.meta {
        let _ = writeln!(md, "- {k}: {v}");
    }
    if !s.meta.is_empty() {
        md.push('\n');
    }
    let second = s.has_second();
    md.push_str(&header(s, second));
    for r in &s.rows {
        md.push_str(&table_row(r, second));
    }
    let targets: Vec<&Row> = s.rows.iter().filter(|r| r.target.is_some()).collect();
    if !targets.is_empty() {
        let met = targets.iter().filter(|r| r.met == Some(true)).count();
        let _ = writeln!(md, "\nTargets met: {met} of {}.", targets.len());
    }
    let failed = failed_cases(s, 0);
    if !failed.is_empty() {
        let _ = writeln!(md, "\n**gannet runs FAILED** in: {}.", failed.join(", "));
    }
    for (side, label) in LABELS.iter().enumerate().skip(1) {
        let failed = failed_cases(s, side);
        if !failed.is_empty() {
            let _ = writeln!(md, "\n{label} runs failed in: {}.", failed.join(", "));
        }
    }
    if !s.errors.is_empty() {
        md.push_str("\nErrors reported by the runs (those runs are left out of the medians):\n\n");
        for e in &s.errors {
            let _ = writeln!(md, "- {e}");
        }
    }
    md
}

/// The table's header and separator lines.
fn header(s: &Summary, second: bool) -> String {
    if !second {
        return "| case | metric | gannet median (min–max) | nats-server median (min–max) | gannet / nats-server | target |\n\
                |---|---|---|---|---|---|\n"
            .to_string();
    }
    format!(
        "| case | metric | gannet median (min–max) | {} median (min–max) | {} median (min–max) | gannet / {} | gannet / {} | target (vs the faster) |\n\
         |---|---|---|---|---|---|---|---|\n",
        reference_name(s, NATS),
        reference_name(s, NATS_SECOND),
        version(s, NATS).unwrap_or(NATS),
        version(s, NATS_SECOND).unwrap_or(NATS_SECOND),
    )
}

/// One line of the table.
fn table_row(r: &Row, second: bool) -> String {
    let better = match r.better {
        Better::Higher => "higher is better",
        Better::Lower => "lower is better",
    };
    let target = match (r.target, r.met) {
        (Some(t), _) if r.failed[0] > 0 => format!("{} missed: gannet runs FAILED", t.text()),
        (Some(t), Some(true)) => format!("{} **met**", t.text()),
        (Some(t), Some(false)) => format!("{} missed", t.text()),
        (Some(t), None) => format!("{} (no data)", t.text()),
        (None, _) => String::new(),
    };
    let mut line = format!(
        "| {} | {} ({better}) | {} | {} |",
        r.case,
        r.metric,
        format_stat(&r.unit, r.gannet, r.failed[0]),
        format_stat(&r.unit, r.nats, r.failed[1]),
    );
    if second {
        let _ = write!(
            line,
            " {} |",
            format_stat(&r.unit, r.nats_second, r.failed[2])
        );
    }
    let _ = write!(line, " {} |", ratio_cell(r, 1));
    if second {
        let _ = write!(line, " {} |", ratio_cell(r, 2));
    }
    let _ = writeln!(line, " {target} |");
    line
}

/// The cell of gannet's ratio to reference `side` (1 or 2): `FAILED (k/n runs)` instead of a
/// number when gannet runs failed, as the survivors' number would hide the failure; failed
/// runs of the reference are noted after it.
fn ratio_cell(r: &Row, side: usize) -> String {
    let ratio = if side == 1 { r.ratio } else { r.ratio_second };
    let mut cell = if r.failed[0] > 0 {
        format!("FAILED ({}/{} runs)", r.failed[0], r.runs(0))
    } else {
        ratio.map_or("–".to_string(), |x| format!("{x:.2}×"))
    };
    if r.failed[side] > 0 {
        let _ = write!(
            cell,
            "; {} failed {}/{}",
            LABELS[side],
            r.failed[side],
            r.runs(side)
        );
    }
    cell
}

/// The cases in which runs of server `side` failed, once each: `pubsub 1->1 128B (1/3 runs)`.
fn failed_cases(s: &Summary, side: usize) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for r in s.rows.iter().filter(|r| r.failed[side] > 0) {
        if !seen.contains(&r.case.as_str()) {
            seen.push(r.case.as_str());
            out.push(format!(
                "{} ({}/{} runs)",
                r.case,
                r.failed[side],
                r.runs(side)
            ));
        }
    }
    out
}

/// Parses JSON lines (blank lines and lines starting with `#` are skipped).
///
/// # Errors
/// The first line that is not a report, with its line number.
pub fn parse_lines(text: &str) -> Result<Vec<Report>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    /// The summary's row for `case` and `metric` (the test fails without one).
    fn row_of(s: &Summary, case: &str, metric: &str) -> Row {
        s.rows
            .iter()
            .find(|r| r.case == case && r.metric == metric)
            .unwrap_or_else(|| panic!("no row {case} {metric}"))
            .clone()
    }

    fn pubsub(label: &str, size: usize, rate: f64) -> Report {
        let mut r = Report::new("pubsub");
        r.label = Some(label.into());
        r.size = size;
        r.pubs = 1;
        r.subs = 1;
        r.msgs_per_sec = Some(rate);
        r
    }

    fn req(label: &str, p50: f64, p99: f64) -> Report {
        let mut r = Report::new("req");
        r.label = Some(label.into());
        r.size = 128;
        r.latency_us = Some(LatencySummary {
            count: 100,
            p50,
            p90: p50,
            p99,
            p999: p99,
            max: p99,
            mean: p50,
        });
        r
    }

    #[test]
    fn medians_spreads_and_ratios() {
        let reports = vec![
            pubsub(GANNET, 16, 3.0e6),
            pubsub(NATS, 16, 1.0e6),
            pubsub(GANNET, 16, 2.0e6),
            pubsub(NATS, 16, 2.0e6),
            pubsub(GANNET, 16, 4.0e6),
            pubsub(NATS, 16, 3.0e6),
            pubsub("other", 16, 99.0),
        ];
        let s = summarize(&reports);
        assert_eq!(s.rows.len(), 1);
        let row = &s.rows[0];
        assert_eq!(row.case, "pubsub 1->1 16B");
        assert_eq!(
            row.gannet,
            Some(Stat {
                median: 3.0e6,
                min: 2.0e6,
                max: 4.0e6,
                runs: 3
            })
        );
        assert_eq!(row.nats.unwrap().median, 2.0e6);
        assert_eq!(row.ratio, Some(1.5));
        assert_eq!(
            row.ratio_vs_best,
            Some(1.5),
            "the only reference is the best"
        );
        assert_eq!((row.nats_second, row.ratio_second), (None, None));
        assert!(!s.has_second());
        assert_eq!(row.target.unwrap().op, Op::Ge);
        assert_eq!(row.met, Some(true), "1.5 meets >= 1.5");
    }

    #[test]
    fn targets_are_checked_against_the_faster_reference() {
        let s = summarize(&[
            pubsub(GANNET, 128, 3.0e6),
            pubsub(NATS, 128, 2.0e6),
            pubsub(NATS_SECOND, 128, 2.5e6),
            // p50: 2.9 is faster (lower); p99: 2.15 is.
            req(GANNET, 40.0, 100.0),
            req(NATS, 60.0, 120.0),
            req(NATS_SECOND, 45.0, 200.0),
        ]);
        assert!(s.has_second());
        let row = |case: &str, metric: &str| row_of(&s, case, metric);
        let tput = row("pubsub 1->1 128B", "msgs/s");
        assert_eq!(tput.nats_second.unwrap().median, 2.5e6);
        assert_eq!(tput.ratio, Some(1.5));
        assert_eq!(tput.ratio_second, Some(3.0e6 / 2.5e6));
        assert_eq!(
            tput.ratio_vs_best,
            Some(3.0e6 / 2.5e6),
            "against the higher rate"
        );
        assert_eq!(tput.met, Some(false), "1.2x the faster misses >= 1.5x");

        let p50 = row("req closed 128B", "p50");
        assert_eq!(p50.ratio, Some(40.0 / 60.0));
        assert_eq!(
            p50.ratio_vs_best,
            Some(40.0 / 45.0),
            "against the lower latency"
        );
        assert_eq!(p50.met, Some(false), "0.89x the faster misses <= 0.8x");
        let p99 = row("req closed 128B", "p99");
        assert_eq!(p99.ratio_second, Some(0.5));
        assert_eq!(p99.ratio_vs_best, Some(100.0 / 120.0));
        assert_eq!(p99.met, Some(false));

        let won = summarize(&[
            req(GANNET, 30.0, 50.0),
            req(NATS, 60.0, 120.0),
            req(NATS_SECOND, 45.0, 200.0),
        ]);
        assert_eq!(won.rows[0].met, Some(true), "30 / 45 meets <= 0.8x");
    }

    #[test]
    fn three_server_markdown_names_the_versions() {
        let mut s = summarize(&[
            pubsub(GANNET, 128, 3.0e6),
            pubsub(NATS, 128, 2.0e6),
            pubsub(NATS_SECOND, 128, 2.5e6),
        ]);
        s.meta.push((NATS.into(), "2.15.1".into()));
        s.meta.push((NATS_SECOND.into(), "2.9.10".into()));
        let md = markdown(&s);
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(
            lines[0],
            "| case | metric | gannet median (min–max) | nats-server 2.15.1 median (min–max) | nats-server 2.9.10 median (min–max) | gannet / 2.15.1 | gannet / 2.9.10 | target (vs the faster) |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| pubsub 1->1 128B | msgs/s (higher is better) | 3.00M/s | 2.00M/s | 2.50M/s | 1.50× | 1.20× | ≥ 1.5× missed |"
        );

        // Without versions in the meta lines the labels stand in.
        s.meta.clear();
        let md = markdown(&s);
        assert!(
            md.contains("| nats-server median (min–max) | nats-server-2.9 median (min–max) | gannet / nats-server | gannet / nats-server-2.9 |"),
            "{md}"
        );
    }

    #[test]
    fn failed_gannet_runs_miss_the_target_and_show() {
        let two_pubs = |mut r: Report| {
            r.pubs = 2;
            r
        };
        let failing = |label: &str, size: usize| {
            let mut r = pubsub(label, size, 9.9e9);
            r.errors
                .push("subscriber 0 received 5 of 10 messages".into());
            r
        };
        let s = summarize(&[
            // Targeted: the clean runs alone would meet it (3.0x).
            pubsub(GANNET, 128, 3.0e6),
            failing(GANNET, 128),
            pubsub(GANNET, 128, 3.0e6),
            pubsub(NATS, 128, 1.0e6),
            failing(NATS, 128),
            pubsub(NATS_SECOND, 128, 1.0e6),
            // No target (two publishers).
            two_pubs(failing(GANNET, 1024)),
            two_pubs(pubsub(GANNET, 1024, 1.0e6)),
            two_pubs(pubsub(NATS, 1024, 1.0e6)),
            two_pubs(pubsub(NATS_SECOND, 1024, 1.0e6)),
        ]);
        let targeted = &s.rows[0];
        assert_eq!(targeted.case, "pubsub 1->1 128B");
        assert_eq!(targeted.failed, [1, 1, 0]);
        assert_eq!(
            targeted.ratio_vs_best,
            Some(3.0),
            "computed from the clean runs"
        );
        assert_eq!(
            targeted.met,
            Some(false),
            "a failed gannet run misses the target"
        );
        let untargeted = &s.rows[1];
        assert_eq!((untargeted.target, untargeted.met), (None, None));

        let md = markdown(&s);
        let row = |case: &str| {
            md.lines()
                .find(|l| l.starts_with(&format!("| {case} |")))
                .unwrap_or_else(|| panic!("no row {case}:\n{md}"))
                .to_string()
        };
        let line = row("pubsub 1->1 128B");
        assert!(
            line.ends_with(
                "| FAILED (1/3 runs); nats-server failed 1/2 | FAILED (1/3 runs) | ≥ 1.5× missed: gannet runs FAILED |"
            ),
            "{line}"
        );
        assert!(!line.contains("3.00×"), "{line}");
        let line = row("pubsub 2->1 1024B");
        assert!(
            line.ends_with("| FAILED (1/2 runs) | FAILED (1/2 runs) |  |"),
            "{line}"
        );
        assert!(md.contains("Targets met: 0 of 1."), "{md}");
        assert!(
            md.contains(
                "**gannet runs FAILED** in: pubsub 1->1 128B (1/3 runs), pubsub 2->1 1024B (1/2 runs)."
            ),
            "{md}"
        );
        assert!(
            md.contains("nats-server runs failed in: pubsub 1->1 128B (1/2 runs)."),
            "{md}"
        );
    }

    #[test]
    fn latency_ratios_are_gannet_over_nats() {
        let s = summarize(&[req(GANNET, 40.0, 100.0), req(NATS, 50.0, 100.0)]);
        let names: Vec<&str> = s.rows.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(names, ["p50", "p90", "p99", "p99.9", "max"]);
        let p50 = &s.rows[0];
        assert_eq!(p50.ratio, Some(0.8));
        assert_eq!(p50.met, Some(true));
        let p99 = &s.rows[2];
        assert_eq!(p99.ratio, Some(1.0));
        assert_eq!(p99.met, Some(false));
        assert_eq!(s.rows[1].target, None, "p90 has no target");
    }

    #[test]
    fn failed_runs_are_counted_not_averaged() {
        let mut bad = pubsub(GANNET, 128, 9.9e9);
        bad.errors
            .push("subscriber 0 received 5 of 10 messages".into());
        let s = summarize(&[bad, pubsub(GANNET, 128, 1.0e6), pubsub(NATS, 128, 1.0e6)]);
        let row = &s.rows[0];
        assert_eq!(row.gannet.unwrap().median, 1.0e6);
        assert_eq!(row.failed, [1, 0, 0]);
        assert_eq!(row.met, Some(false));
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].starts_with("pubsub 1->1 128B on gannet: subscriber 0"));
        let md = markdown(&s);
        assert!(md.contains("[1 failed]"), "{md}");
        assert!(md.contains("Errors reported by the runs"));
    }

    #[test]
    fn targets_match_only_their_cases() {
        let mut r = pubsub(GANNET, 1024, 1.0);
        let ratio = |r: &Report| target_for(r, "msgs/s").map(|t| t.ratio);
        assert_eq!(ratio(&r), Some(1.3), "issue 12: every 1 -> 1 size");
        r.size = 128;
        assert_eq!(ratio(&r), Some(1.5));
        r.pubs = 2;
        assert_eq!(ratio(&r), None, "the 1 -> 1 targets are for one publisher");
        r.pubs = 1;
        r.scenario = "fanout".into();
        r.subs = 4;
        assert_eq!(target_for(&r, "msgs/s"), None);
        r.subs = 16;
        assert!(target_for(&r, "msgs/s").is_some());
        r.scenario = "conns".into();
        assert_eq!(target_for(&r, "RSS/conn").unwrap().op, Op::Le);
        assert_eq!(target_for(&r, "conns/s"), None);
        let t = Target {
            op: Op::Le,
            ratio: 0.3,
        };
        assert!(t.met(0.3) && !t.met(0.31));
        assert_eq!(t.text(), "≤ 0.3×");
    }

    #[test]
    fn cluster_runs_are_their_own_rows_and_targets() {
        let cluster = |mut r: Report| {
            r.cross_server = true;
            r
        };
        let s = summarize(&[
            pubsub(GANNET, 16, 3.0e6),
            pubsub(NATS, 16, 1.0e6),
            cluster(pubsub(GANNET, 16, 1.2e6)),
            cluster(pubsub(NATS, 16, 1.0e6)),
            cluster(pubsub(NATS_SECOND, 16, 0.5e6)),
            cluster(req(GANNET, 70.0, 100.0)),
            cluster(req(NATS, 100.0, 200.0)),
        ]);
        let row = |case: &str, metric: &str| row_of(&s, case, metric);
        let single = row("pubsub 1->1 16B", "msgs/s");
        assert_eq!(
            (single.ratio, single.met, single.cross_server),
            (Some(3.0), Some(true), false)
        );
        let tput = row("cluster pubsub 1->1 16B", "msgs/s");
        assert!(tput.cross_server);
        assert_eq!(
            tput.ratio_vs_best,
            Some(1.2),
            "against the faster of the cluster runs"
        );
        assert_eq!(tput.target.map(|t| t.ratio), Some(1.5));
        assert_eq!(tput.met, Some(false));
        let p50 = row("cluster req closed 128B", "p50");
        assert_eq!((p50.ratio, p50.met), (Some(0.7), Some(true)));
        assert_eq!(row("cluster req closed 128B", "p99").met, Some(true));
        assert_eq!(row("cluster req closed 128B", "p90").target, None);

        // Cluster targets exist only where the issue sets them.
        let mut r = cluster(pubsub(GANNET, 1024, 1.0));
        assert_eq!(
            target_for(&r, "msgs/s"),
            None,
            "no 1.3x target across a cluster"
        );
        r.size = 128;
        assert_eq!(target_for(&r, "msgs/s").map(|t| t.ratio), Some(1.5));
        r.scenario = "fanout".into();
        r.subs = 16;
        assert_eq!(target_for(&r, "msgs/s"), None);

        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(markdown(&s).contains("| cluster pubsub 1->1 16B | msgs/s"));
    }

    #[test]
    fn markdown_table() {
        let s = summarize(&[
            pubsub(GANNET, 16, 2.0e6),
            pubsub(GANNET, 16, 2.2e6),
            pubsub(NATS, 16, 2.0e6),
        ]);
        let md = markdown(&s);
        let lines: Vec<&str> = md.lines().collect();
        assert!(lines[0].starts_with("| case | metric |"));
        assert_eq!(
            lines[2],
            "| pubsub 1->1 16B | msgs/s (higher is better) | 2.10M/s (2.00M/s–2.20M/s) | 2.00M/s | 1.05× | ≥ 1.5× missed |"
        );
        assert!(md.contains("Targets met: 0 of 1."));

        let mut with_meta = s.clone();
        with_meta.meta.push(("reps".into(), "3".into()));
        let md = markdown(&with_meta);
        assert!(md.starts_with("- reps: 3\n\n| case |"), "{md}");
    }

    #[test]
    fn values_by_unit() {
        assert_eq!(format_value("us", 45.14), "45.1 µs");
        assert_eq!(format_value("us", 25_000.0), "25.0 ms");
        assert_eq!(format_value("bytes", 2048.0), "2.0 KiB");
        assert_eq!(format_value("msgs/s", 1.5e6), "1.50M/s");
        assert_eq!(format_value("/s", 950.0), "950/s");
    }

    #[test]
    fn json_lines() {
        let text = format!(
            "# comment\n\n{}\n{}\n",
            pubsub(GANNET, 16, 1.0).json(),
            req(NATS, 1.0, 2.0).json()
        );
        let reports = parse_lines(&text).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[1].latency_us.unwrap().p99, 2.0);
        let err = parse_lines("{\"scenario\":\"pub\"}\nnot json\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let s = summarize(&reports);
        let back: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn summaries_from_before_the_second_reference_load() {
        // A row as docs/perf/compare-20261122-140158.json has it.
        let old = r#"{"case":"pubsub 1->1 16B","scenario":"pubsub","size":16,"metric":"msgs/s",
            "unit":"msgs/s","better":"higher","gannet":{"median":2.0,"min":1.0,"max":3.0,"runs":3},
            "nats-server":{"median":1.0,"min":1.0,"max":1.0,"runs":2},"failed":[0,1],"ratio":2.0,
            "target":{"op":"ge","ratio":1.5},"met":true}"#;
        let row: Row = serde_json::from_str(old).unwrap();
        assert_eq!(row.failed, [0, 1, 0]);
        assert_eq!((row.nats_second, row.ratio_vs_best), (None, None));
        let bad = old.replace("[0,1]", "[0]");
        assert!(serde_json::from_str::<Row>(&bad).is_err());
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["failed"], serde_json::json!([0, 1, 0]));
    }
}
