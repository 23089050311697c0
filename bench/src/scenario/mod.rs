//! The scenarios of `gannet-bench`. [`run`] picks one, applies its defaults and always
//! returns a [`Report`]: a failure is recorded in `Report::errors` so that scripts still get
//! a JSON line saying what went wrong.
//!
//! # Layout
//! - [`flow`]: the throughput engine (publisher and subscriber threads, in-flight window).
//! - `throughput`: `pub`, `pubsub`, `fanout`, `queue`.
//! - `latency`: `req` (closed loop) and `req-open` (fixed rate).
//! - `conns`: `conns` (idle connection memory) and `churn`.
//! - `subs`: subscription scale.
//! - `probe`: for `--sub-url`, waits until interest has crossed between the two servers.
//!
//! With `--sub-url`, subscribers, queue members and the responder connect to that server
//! ([`Side::Sub`]) and publishers and the requester to `--url` ([`Side::Pub`]).

pub mod flow;

mod conns;
mod latency;
mod probe;
mod subs;
mod throughput;

use crate::args::{Config, Scenario, DURATION_MSGS_CAP};
use crate::client::{BenchConn, Endpoint};
use crate::report::Report;
use anyhow::Context as _;
use std::time::Instant;

/// Payload size of the throughput scenarios unless `--size` is given.
pub const SIZE_DEFAULT: usize = 16;
/// Payload size of the request/reply scenarios unless `--size` is given.
pub const REQ_SIZE_DEFAULT: usize = 128;

/// Runs one scenario against the server in `cfg`, within `cfg.limit`.
pub fn run(sc: Scenario, cfg: &Config) -> Report {
    let mut report = Report::new(sc.name());
    report.label = cfg.label.clone();
    report.cross_server = sc.takes_sub_url() && cfg.cross_server();
    if report.cross_server {
        report.topology = cfg
            .topology
            .clone()
            .filter(|t| t != "cluster")
            .unwrap_or_default();
    }
    let deadline = Instant::now() + cfg.limit;
    let result = match sc {
        Scenario::Pub => throughput::publish_only(cfg, deadline, &mut report),
        Scenario::PubSub => throughput::pubsub(cfg, deadline, &mut report),
        Scenario::Fanout => throughput::fanout(cfg, deadline, &mut report),
        Scenario::Queue => throughput::queue(cfg, deadline, &mut report),
        Scenario::ReqClosed => latency::closed_loop(cfg, deadline, &mut report),
        Scenario::ReqOpen => latency::open_loop(cfg, deadline, &mut report),
        Scenario::Conns => conns::scale(cfg, deadline, &mut report),
        Scenario::Churn => conns::churn(cfg, deadline, &mut report),
        Scenario::Subs => subs::scale(cfg, deadline, &mut report),
    };
    if let Err(e) = result {
        report.errors.push(format!("{e:#}"));
    }
    report.errors = crate::report::compact_errors(std::mem::take(&mut report.errors));
    report
}

/// The message count: `--msgs`, or the cap of a duration run, or the scenario's default.
fn msgs_or(cfg: &Config, default: u64) -> u64 {
    match (cfg.msgs, cfg.duration) {
        (Some(n), _) => n,
        (None, Some(_)) => DURATION_MSGS_CAP,
        (None, None) => default,
    }
}

/// Which server a connection goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Publishers and the requester: `--url`.
    Pub,
    /// Subscribers, queue members and the responder: `--sub-url`, else `--url`.
    Sub,
}

impl Side {
    /// The server's `host:port`.
    fn addr(self, cfg: &Config) -> &str {
        match self {
            Side::Pub => &cfg.addr,
            Side::Sub => cfg.sub_addr(),
        }
    }

    /// The other side.
    fn other(self) -> Side {
        match self {
            Side::Pub => Side::Sub,
            Side::Sub => Side::Pub,
        }
    }
}

fn endpoint(cfg: &Config) -> Endpoint {
    endpoint_on(cfg, Side::Pub)
}

fn endpoint_on(cfg: &Config, side: Side) -> Endpoint {
    Endpoint {
        addr: side.addr(cfg).to_string(),
        creds: cfg.creds.clone(),
    }
}

/// Connects one client named `gannet-bench-<role>` to the publishers' server.
fn connect(cfg: &Config, role: &str) -> anyhow::Result<BenchConn> {
    connect_on(cfg, Side::Pub, role)
}

/// Connects one client named `gannet-bench-<role>` to `side`'s server.
fn connect_on(cfg: &Config, side: Side, role: &str) -> anyhow::Result<BenchConn> {
    BenchConn::connect(&endpoint_on(cfg, side), &format!("gannet-bench-{role}"))
        .with_context(|| format!("{role}: connecting to {}", side.addr(cfg)))
}

fn connect_n(cfg: &Config, role: &str, n: usize) -> anyhow::Result<Vec<BenchConn>> {
    connect_n_on(cfg, Side::Pub, role, n)
}

fn connect_n_on(cfg: &Config, side: Side, role: &str, n: usize) -> anyhow::Result<Vec<BenchConn>> {
    (0..n)
        .map(|i| connect_on(cfg, side, &format!("{role}-{i}")))
        .collect()
}

/// The server's VmRSS in KiB, when `--server-pid` was given.
fn server_rss(cfg: &Config) -> anyhow::Result<Option<u64>> {
    match cfg.server_pid {
        None => Ok(None),
        Some(pid) => crate::stats::rss_kib(pid)
            .map(Some)
            .with_context(|| format!("reading the RSS of server pid {pid}")),
    }
}
