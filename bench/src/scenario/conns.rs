//! Connections: `conns` holds N idle connections open and reads what they cost the server in
//! resident memory; `churn` opens, greets and closes connections one after another.
//!
//! A connection counts once it has finished INFO, CONNECT and a PING/PONG round trip, so the
//! server has fully set it up (and authenticated it) before any memory is read.

use super::{endpoint, msgs_or, server_rss};
use crate::args::Config;
use crate::client::{BenchConn, SMALL_READ_BUF_BYTES};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::si;
use anyhow::{bail, Context as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle connections of `conns` unless `--conns` is given.
pub const CONNS_DEFAULT: usize = 1_000;
/// Connections `churn` cycles through unless `--conns` (or `--msgs`) is given.
pub const CHURN_DEFAULT: usize = 2_000;
/// Pause before the second RSS reading, so that the server's allocator has settled.
const SETTLE: Duration = Duration::from_millis(500);
/// File descriptors kept free for everything else the tool opens.
const SPARE_FDS: u64 = 64;

/// `conns`: open `--conns` idle connections and report the server's RSS growth per
/// connection.
pub fn scale(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let n = cfg.conns.unwrap_or(CONNS_DEFAULT);
    report.conns = Some(n);
    raise_nofile_limit(n as u64 + SPARE_FDS)?;
    let before = server_rss(cfg)?;
    let done = Arc::new(AtomicU64::new(0));
    let bar = counter_bar("conns", cfg.progress, &done, n as u64);
    let ep = endpoint(cfg);
    let mut conns = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        if Instant::now() > deadline {
            bail!("deadline passed after {i} of {n} connections");
        }
        let c = BenchConn::connect_with_buf(&ep, "gannet-bench-idle", SMALL_READ_BUF_BYTES)
            .with_context(|| format!("connection {i} of {n} to {}", cfg.addr))?;
        conns.push(c);
        done.store(i as u64 + 1, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    bar.finish();
    std::thread::sleep(SETTLE);
    let after = server_rss(cfg)?;
    report.sent = n as u64;
    report.elapsed_s = elapsed.as_secs_f64();
    report.conns_per_sec = Some(n as f64 / elapsed.as_secs_f64().max(1e-9));
    if let (Some(b), Some(a)) = (before, after) {
        let growth = report.set_rss(b, a);
        report.rss_per_conn_bytes = Some(growth / n as f64);
    }
    drop(conns);
    Ok(())
}

/// `churn`: connect, CONNECT, PING/PONG, close; as fast as one client can.
pub fn churn(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let n = match cfg.conns {
        Some(n) => n as u64,
        None => msgs_or(cfg, CHURN_DEFAULT as u64),
    };
    let before = server_rss(cfg)?;
    let done = Arc::new(AtomicU64::new(0));
    let bar = counter_bar("churn", cfg.progress, &done, n);
    let ep = endpoint(cfg);
    let start = Instant::now();
    let stop_at = cfg.duration.map(|d| start + d);
    let mut count = 0;
    while count < n && stop_at.is_none_or(|t| Instant::now() < t) {
        if Instant::now() > deadline {
            bail!("deadline passed after {count} connections");
        }
        let c = BenchConn::connect_with_buf(&ep, "gannet-bench-churn", SMALL_READ_BUF_BYTES)
            .with_context(|| format!("connection {count} to {}", cfg.addr))?;
        drop(c);
        count += 1;
        done.store(count, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    bar.finish();
    report.conns = Some(count as usize);
    report.sent = count;
    report.elapsed_s = elapsed.as_secs_f64();
    report.conns_per_sec = Some(count as f64 / elapsed.as_secs_f64().max(1e-9));
    if before.is_some() {
        // The server cleans up closed connections asynchronously; give it a moment.
        std::thread::sleep(SETTLE);
        if let (Some(b), Some(a)) = (before, server_rss(cfg)?) {
            report.set_rss(b, a);
        }
    }
    Ok(())
}

fn counter_bar(label: &str, enabled: bool, done: &Arc<AtomicU64>, total: u64) -> Progress {
    let done = done.clone();
    Progress::start(label, enabled, move || {
        let n = done.load(Ordering::Relaxed);
        (n as f64 / total as f64, format!("{} conns", si(n as f64)))
    })
}

/// Raises this process's soft `RLIMIT_NOFILE` to `want` if the hard limit allows it.
///
/// # Errors
/// The hard limit is below `want`.
pub fn raise_nofile_limit(want: u64) -> anyhow::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if lim.rlim_cur >= want {
        return Ok(());
    }
    if lim.rlim_max < want {
        bail!(
            "need {want} file descriptors but the hard limit is {} (ulimit -Hn)",
            lim.rlim_max
        );
    }
    lim.rlim_cur = want;
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
    // is always permitted.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
    }
    Ok(())
}
