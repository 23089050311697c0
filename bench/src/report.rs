//! What a scenario measured: one [`Report`] per scenario run, printed as a row of the human
//! table or as one JSON line (`--json`), and read back by `gannet-chart` for the comparison.

use crate::stats::{bytes, si, LatencySummary, Spread};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The result of one scenario run. Fields a scenario does not measure are left out of the
/// JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name (`pub`, `pubsub`, ...).
    pub scenario: String,
    /// `--label`, e.g. the server's name in a comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Payload bytes per message.
    #[serde(default)]
    pub size: usize,
    /// Publisher connections.
    #[serde(default)]
    pub pubs: usize,
    /// Subscribers (`pubsub`, `fanout`, `queue`) or subscriptions (`subs`).
    #[serde(default)]
    pub subs: usize,
    /// Connections held open or churned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conns: Option<usize>,
    /// The subscribing side was on another server than the publishers (`--sub-url`): every
    /// message crossed a route. Such runs are their own cases (`cluster pubsub 1->1 16B`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cross_server: bool,
    /// What joined the two servers of a cross-server run: empty for a route (`cluster`), or
    /// `leaf` for a leaf node connection (`leaf pubsub 1->1 16B`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topology: String,
    /// Target request rate of `req-open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// Messages, requests or connections sent.
    #[serde(default)]
    pub sent: u64,
    /// Messages or replies received.
    #[serde(default)]
    pub received: u64,
    /// Wall-clock seconds of the measured phase.
    #[serde(default)]
    pub elapsed_s: f64,
    /// Messages published per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs_per_sec: Option<f64>,
    /// Messages delivered per second, all subscribers together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_per_sec: Option<f64>,
    /// Payload megabytes (10^6) published per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mb_per_sec: Option<f64>,
    /// Round-trip latency percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<LatencySummary>,
    /// How late the open-loop sender wrote each request: the load tool's own share of
    /// `latency_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<LatencySummary>,
    /// Messages each queue member received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<u64>>,
    /// Spread of `members`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// Server VmRSS before the measured phase, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_before_kib: Option<u64>,
    /// Server VmRSS after it, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_after_kib: Option<u64>,
    /// RSS growth per idle connection, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_per_conn_bytes: Option<f64>,
    /// RSS growth per subscription, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_per_sub_bytes: Option<f64>,
    /// Connections set up (and, for churn, closed) per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conns_per_sec: Option<f64>,
    /// Subscriptions registered per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subs_per_sec: Option<f64>,
    /// What went wrong; empty for a clean run.
    #[serde(default)]
    pub errors: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Report {
    /// A report for `scenario` with nothing measured yet.
    pub fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.to_string(),
            ..Report::default()
        }
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a Report always serializes")
    }

    /// Sets the throughput fields from `sent`, `received`, `size` and `elapsed_s`.
    pub fn set_throughput(&mut self) {
        let secs = self.elapsed_s.max(1e-9);
        let rate = self.sent as f64 / secs;
        self.msgs_per_sec = Some(rate);
        self.mb_per_sec = Some(rate * self.size as f64 / 1e6);
        if self.received > 0 {
            self.delivered_per_sec = Some(self.received as f64 / secs);
        }
    }

    /// Sets `rss_before_kib`/`rss_after_kib` and returns the growth in bytes.
    pub fn set_rss(&mut self, before_kib: u64, after_kib: u64) -> f64 {
        self.rss_before_kib = Some(before_kib);
        self.rss_after_kib = Some(after_kib);
        (after_kib as f64 - before_kib as f64) * 1024.0
    }

    /// A short name of the measured shape, the same for every repetition and server:
    /// `pubsub 1->1 128B`, `req-open 5000/s 128B`, and `cluster pubsub 1->1 128B` for a
    /// cross-server run. The comparison groups runs by it.
    pub fn case(&self) -> String {
        let size = format!("{}B", self.size);
        let case = match self.scenario.as_str() {
            "pub" if self.pubs > 1 => format!("pub x{} {size}", self.pubs),
            "pub" => format!("pub {size}"),
            "pubsub" => format!("pubsub {}->1 {size}", self.pubs),
            "fanout" => format!("fanout 1->{} {size}", self.subs),
            "queue" => format!("queue 1->{} {size}", self.subs),
            "req" => format!("req closed {size}"),
            "req-open" => format!("req open {}/s {size}", self.rate.unwrap_or(0)),
            "conns" => format!("conns {}", self.conns.unwrap_or(0)),
            "churn" => "churn".to_string(),
            "subs" => format!("subs {}", self.subs),
            other => format!("{other} {size}"),
        };
        if self.cross_server {
            format!("{} {case}", self.topology_name())
        } else {
            case
        }
    }

    /// `cluster` or `leaf`: what joined the two servers of a cross-server run.
    pub fn topology_name(&self) -> &str {
        if self.topology.is_empty() {
            "cluster"
        } else {
            &self.topology
        }
    }

    fn shape(&self) -> String {
        let shape = match self.scenario.as_str() {
            "pub" => format!("{} B, {} pub", self.size, self.pubs),
            "pubsub" => format!("{} B, {}->1", self.size, self.pubs),
            "fanout" | "queue" => format!("{} B, 1->{}", self.size, self.subs),
            "req" => format!("{} B", self.size),
            "req-open" => format!("{} B @{}/s", self.size, si(self.rate.unwrap_or(0) as f64)),
            "conns" | "churn" => format!("{} conns", self.conns.unwrap_or(0)),
            "subs" => format!("{} subs, {} B", si(self.subs as f64), self.size),
            _ => String::new(),
        };
        match (self.cross_server, self.topology.as_str()) {
            (true, "leaf") => format!("{shape}, across a leaf connection"),
            (true, "gateway") => format!("{shape}, across a gateway"),
            (true, _) => format!("{shape}, cross-server"),
            (false, _) => shape,
        }
    }

    fn rate_text(&self) -> String {
        match self.scenario.as_str() {
            "conns" | "churn" => self
                .conns_per_sec
                .map(|r| format!("{} conns/s", si(r)))
                .unwrap_or_default(),
            "req" | "req-open" => {
                format!("{} req/s", si(self.sent as f64 / self.elapsed_s.max(1e-9)))
            }
            _ => self
                .msgs_per_sec
                .map(|r| format!("{} msgs/s", si(r)))
                .unwrap_or_default(),
        }
    }

    fn details(&self) -> String {
        let mut d = String::new();
        if let Some(mb) = self.mb_per_sec.filter(|_| self.size > 0) {
            let _ = write!(d, "{mb:.1} MB/s  ");
        }
        if self.received > 0 && self.latency_us.is_none() {
            let _ = write!(d, "received {}  ", self.received);
        }
        if let Some(l) = &self.latency_us {
            let _ = write!(
                d,
                "p50 {:.1}us  p90 {:.1}us  p99 {:.1}us  p99.9 {:.1}us  max {:.1}us  ",
                l.p50, l.p90, l.p99, l.p999, l.max
            );
        }
        if let Some(l) = &self.send_lag_us {
            let _ = write!(d, "(send lag p50 {:.1}us p99 {:.1}us)  ", l.p50, l.p99);
        }
        if let Some(s) = &self.spread {
            let _ = write!(
                d,
                "per member {}..{} ({:.1}% spread)  ",
                s.min,
                s.max,
                s.rel * 100.0
            );
        }
        if let Some(r) = self.subs_per_sec {
            let _ = write!(d, "{} SUB/s  ", si(r));
        }
        if let (Some(b), Some(a)) = (self.rss_before_kib, self.rss_after_kib) {
            let growth = (a as f64 - b as f64) * 1024.0;
            let _ = write!(
                d,
                "RSS {} -> {} (+{})  ",
                bytes(b as f64 * 1024.0),
                bytes(a as f64 * 1024.0),
                bytes(growth)
            );
        }
        if let Some(r) = self.rss_per_conn_bytes {
            let _ = write!(d, "{}/conn  ", bytes(r));
        }
        if let Some(r) = self.rss_per_sub_bytes {
            let _ = write!(d, "{}/sub  ", bytes(r));
        }
        for e in &self.errors {
            let _ = write!(d, "ERROR: {e}  ");
        }
        d.trim_end().to_string()
    }
}

/// Distinct errors a report keeps; a run with many failing threads would otherwise repeat
/// the same text thousands of times.
pub const ERRORS_MAX: usize = 8;

/// Counts repeated errors instead of repeating them, and keeps the first [`ERRORS_MAX`]
/// distinct ones, in order.
pub fn compact_errors(errors: Vec<String>) -> Vec<String> {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in &errors {
        let n = counts.entry(e.as_str()).or_insert(0);
        if *n == 0 {
            order.push(e);
        }
        *n += 1;
    }
    let mut out: Vec<String> = order
        .iter()
        .take(ERRORS_MAX)
        .map(|e| match counts[e] {
            1 => e.to_string(),
            n => format!("{e} (x{n})"),
        })
        .collect();
    if order.len() > ERRORS_MAX {
        out.push(format!(
            "and {} more distinct errors",
            order.len() - ERRORS_MAX
        ));
    }
    out
}

/// The human table: one row per report.
pub fn table(reports: &[Report]) -> String {
    let header = ["scenario", "shape", "count", "secs", "rate", "details"];
    let rows: Vec<[String; 6]> = reports
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.shape(),
                si(r.sent as f64),
                format!("{:.3}", r.elapsed_s),
                r.rate_text(),
                r.details(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6]| {
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                let _ = write!(out, "{cell}");
            } else if (2..=4).contains(&i) {
                let _ = write!(out, "{cell:>w$}  ", w = widths[i]);
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push('\n');
    };
    line(&mut out, header);
    for row in &rows {
        line(
            &mut out,
            [&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("pubsub");
        r.label = Some("gannet".into());
        r.size = 128;
        r.pubs = 1;
        r.subs = 1;
        r.sent = 1_000_000;
        r.received = 1_000_000;
        r.elapsed_s = 0.5;
        r.set_throughput();
        r
    }

    #[test]
    fn throughput_fields() {
        let r = sample();
        assert_eq!(r.msgs_per_sec, Some(2_000_000.0));
        assert_eq!(r.delivered_per_sec, Some(2_000_000.0));
        assert_eq!(r.mb_per_sec, Some(256.0));
    }

    #[test]
    fn json_round_trip_and_omitted_fields() {
        let r = sample();
        let line = r.json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["scenario"], "pubsub");
        assert_eq!(v["label"], "gannet");
        assert_eq!(v["msgs_per_sec"], 2_000_000.0);
        assert!(
            v.get("latency_us").is_none(),
            "unmeasured fields are left out: {line}"
        );
        assert_eq!(v["errors"], serde_json::json!([]));
        let back: Report = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn json_with_latency_and_rss() {
        let mut r = Report::new("req");
        r.latency_us = Some(LatencySummary {
            count: 10,
            p50: 1.5,
            p90: 2.0,
            p99: 3.0,
            p999: 4.0,
            max: 5.0,
            mean: 1.8,
        });
        let growth = r.set_rss(1000, 3000);
        assert_eq!(growth, 2000.0 * 1024.0);
        r.errors.push("lost 3 replies".into());
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["latency_us"]["p999"], 4.0);
        assert_eq!(v["rss_after_kib"], 3000);
        assert_eq!(v["errors"][0], "lost 3 replies");
        // Old or hand-written lines with missing fields still parse.
        let minimal: Report = serde_json::from_str(r#"{"scenario":"churn"}"#).unwrap();
        assert_eq!(minimal.scenario, "churn");
    }

    #[test]
    fn errors_are_compacted() {
        let errs = vec!["a".to_string(), "b".into(), "a".into(), "a".into()];
        assert_eq!(compact_errors(errs), vec!["a (x3)".to_string(), "b".into()]);
        let many: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
        let out = compact_errors(many);
        assert_eq!(out.len(), ERRORS_MAX + 1);
        assert_eq!(out.last().unwrap(), "and 12 more distinct errors");
        assert!(compact_errors(Vec::new()).is_empty());
    }

    #[test]
    fn case_names() {
        let mut r = sample();
        assert_eq!(r.case(), "pubsub 1->1 128B");
        r.scenario = "fanout".into();
        r.subs = 16;
        assert_eq!(r.case(), "fanout 1->16 128B");
        r.scenario = "req-open".into();
        r.rate = Some(5000);
        assert_eq!(r.case(), "req open 5000/s 128B");
        r.scenario = "subs".into();
        r.subs = 100_000;
        assert_eq!(r.case(), "subs 100000");
        r.scenario = "pub".into();
        r.pubs = 2;
        assert_eq!(r.case(), "pub x2 128B");
    }

    #[test]
    fn cross_server_runs_are_their_own_cases() {
        let mut r = sample();
        r.cross_server = true;
        assert_eq!(r.case(), "cluster pubsub 1->1 128B");
        assert_eq!(r.shape(), "128 B, 1->1, cross-server");
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["cross_server"], true);
        assert_eq!(serde_json::from_str::<Report>(&r.json()).unwrap(), r);
        r.scenario = "req".into();
        assert_eq!(r.case(), "cluster req closed 128B");
        // A single-server line leaves the field out, and lines without it are single-server.
        let single = sample();
        assert!(!single.json().contains("cross_server"), "{}", single.json());
        assert!(
            !serde_json::from_str::<Report>(&single.json())
                .unwrap()
                .cross_server
        );
    }

    #[test]
    fn table_aligns_rows() {
        let mut lat = Report::new("req");
        lat.size = 128;
        lat.sent = 20_000;
        lat.elapsed_s = 1.0;
        lat.latency_us = Some(LatencySummary {
            count: 20_000,
            p50: 40.0,
            p90: 45.0,
            p99: 80.0,
            p999: 120.0,
            max: 900.0,
            mean: 42.0,
        });
        let t = table(&[sample(), lat]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("scenario"));
        assert!(lines[1].contains("2.00M msgs/s") && lines[1].contains("256.0 MB/s"));
        assert!(lines[2].contains("20.0k req/s") && lines[2].contains("p99 80.0us"));
        // "scenario" is the widest first cell, so the shape column starts after it.
        assert!(lines[1]["scenario  ".len()..].starts_with("128 B, 1->1"));
        assert!(lines[2]["scenario  ".len()..].starts_with("128 B "));
    }
}
