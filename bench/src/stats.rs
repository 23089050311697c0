//! Statistics shared by the scenarios and the comparison: latency histograms and their
//! percentiles, the spread of per-member counts, medians, and the server's RSS from `/proc`.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::io;
use std::time::Duration;

/// Largest latency a histogram records; longer samples are clamped (and show as the max).
pub const LATENCY_MAX: Duration = Duration::from_secs(60);
/// Significant decimal digits kept by the latency histograms (0.1% resolution).
const LATENCY_SIGFIGS: u8 = 3;

/// A latency histogram in nanoseconds.
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

impl Latency {
    /// An empty histogram covering 1 ns to [`LATENCY_MAX`].
    pub fn new() -> Latency {
        let high = LATENCY_MAX.as_nanos() as u64;
        let hist = Histogram::new_with_bounds(1, high, LATENCY_SIGFIGS)
            .expect("static histogram bounds are valid");
        Latency { hist }
    }

    /// Records one sample; values beyond the range are clamped to it.
    pub fn record(&mut self, d: Duration) {
        let ns = (d.as_nanos() as u64).clamp(1, self.hist.high());
        self.hist.saturating_record(ns);
    }

    /// Samples recorded so far.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// Percentiles in microseconds.
    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        LatencySummary {
            count: self.hist.len(),
            p50: us(self.hist.value_at_quantile(0.50)),
            p90: us(self.hist.value_at_quantile(0.90)),
            p99: us(self.hist.value_at_quantile(0.99)),
            p999: us(self.hist.value_at_quantile(0.999)),
            max: us(self.hist.max()),
            mean: self.hist.mean() / 1000.0,
        }
    }
}

/// Latency percentiles in microseconds, as reported in the JSON (`latency_us`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// How evenly messages were shared, e.g. among the members of a queue group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Fewest messages any member got.
    pub min: u64,
    /// Most messages any member got.
    pub max: u64,
    /// Mean per member.
    pub mean: f64,
    /// `(max - min) / mean`: 0 is a perfectly even split.
    pub rel: f64,
}

impl Spread {
    /// The spread of `counts`; `None` when empty.
    pub fn of(counts: &[u64]) -> Option<Spread> {
        let min = *counts.iter().min()?;
        let max = *counts.iter().max()?;
        let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        let rel = if mean > 0.0 {
            (max - min) as f64 / mean
        } else {
            0.0
        };
        Some(Spread {
            min,
            max,
            mean,
            rel,
        })
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
/// NaNs sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The `VmRSS` value in KiB from the text of a `/proc/<pid>/status` file.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => Some(value),
        _ => None,
    }
}

/// The resident set size of process `pid`, in KiB.
///
/// # Errors
/// The process is gone or its status has no `VmRSS` line.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss_kib(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS line in /proc/{pid}/status"),
        )
    })
}

/// `n` with a k/M/G suffix for tables: `1234567` -> `1.23M`.
pub fn si(n: f64) -> String {
    let (v, unit) = match n.abs() {
        x if x >= 1e9 => (n / 1e9, "G"),
        x if x >= 1e6 => (n / 1e6, "M"),
        x if x >= 1e3 => (n / 1e3, "k"),
        _ => (n, ""),
    };
    if unit.is_empty() && v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{unit}")
}

/// A byte count for tables: `1536` -> `1.5 KiB`.
pub fn bytes(n: f64) -> String {
    match n.abs() {
        x if x >= (1u64 << 30) as f64 => format!("{:.2} GiB", n / (1u64 << 30) as f64),
        x if x >= (1 << 20) as f64 => format!("{:.2} MiB", n / (1 << 20) as f64),
        x if x >= 1024.0 => format!("{:.1} KiB", n / 1024.0),
        _ => format!("{n:.0} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_sample() {
        let mut lat = Latency::new();
        for us in 1..=1000u64 {
            lat.record(Duration::from_micros(us));
        }
        let s = lat.summary();
        assert_eq!(s.count, 1000);
        // Three significant figures: each value is within 0.1% of the exact percentile.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(s.p50, 500.0), "p50 {}", s.p50);
        assert!(close(s.p90, 900.0), "p90 {}", s.p90);
        assert!(close(s.p99, 990.0), "p99 {}", s.p99);
        assert!(close(s.p999, 999.0), "p999 {}", s.p999);
        assert!(close(s.max, 1000.0), "max {}", s.max);
        assert!(close(s.mean, 500.5), "mean {}", s.mean);
        assert!(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
    }

    #[test]
    fn outliers_show_in_the_tail_only() {
        let mut lat = Latency::new();
        for _ in 0..999 {
            lat.record(Duration::from_micros(50));
        }
        lat.record(Duration::from_millis(20));
        let s = lat.summary();
        assert!((s.p99 - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 20_000.0).abs() < 20.0, "{s:?}");
    }

    #[test]
    fn out_of_range_samples_are_clamped() {
        let mut lat = Latency::new();
        assert!(lat.is_empty());
        lat.record(Duration::ZERO);
        lat.record(Duration::from_secs(3600));
        assert_eq!(lat.len(), 2);
        let s = lat.summary();
        assert!(s.max >= LATENCY_MAX.as_micros() as f64 * 0.999);
        assert!(s.p50 <= 0.01);
    }

    #[test]
    fn spread_of_counts() {
        assert_eq!(Spread::of(&[]), None);
        let s = Spread::of(&[250, 250, 250, 250]).unwrap();
        assert_eq!((s.min, s.max, s.rel), (250, 250, 0.0));
        let s = Spread::of(&[100, 300]).unwrap();
        assert_eq!((s.min, s.max, s.mean, s.rel), (100, 300, 200.0, 1.0));
        assert_eq!(Spread::of(&[0, 0]).unwrap().rel, 0.0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn vm_rss_lines() {
        let status = "Name:\tgannet\nVmPeak:\t  99999 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(5120));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
        let own = rss_kib(std::process::id()).unwrap();
        assert!(own > 0);
    }

    #[test]
    fn human_numbers() {
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1234.0), "1.23k");
        assert_eq!(si(12_345.0), "12.3k");
        assert_eq!(si(1_234_567.0), "1.23M");
        assert_eq!(si(123_456_789.0), "123M");
        assert_eq!(si(2.5), "2.50");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1048576.0), "3.00 MiB");
    }
}
