//! Gannet's performance tooling: the `gannet-bench` load tool (a minimal blocking NATS client
//! built on the `protocol` crate, so that client overhead is small and the same for every
//! server), and the comparison summary and chart that `scripts/compare.sh` produces with
//! `gannet-chart`. The criterion micro-benchmarks live in `benches/`.
//!
//! # Layout
//! - [`args`]: the command line of `gannet-bench`, parsed into a [`args::Config`].
//! - [`client`]: connect (with credentials), write batches of ops, read and count deliveries.
//! - [`scenario`]: the load patterns (`pub`, `pubsub`, `fanout`, `queue`, `req`, `req-open`,
//!   `conns`, `churn`, `subs`) and the throughput engine they share.
//! - [`stats`]: latency histograms and percentiles, spreads, medians, RSS from `/proc`.
//! - [`report`]: one [`report::Report`] per run, as a table row or a JSON line.
//! - [`progress`]: the stderr progress bar for long runs on a terminal.
//! - [`summary`]: medians, spreads and gannet/nats-server ratios over repeated runs, the
//!   issue's targets, and the Markdown table.
#![deny(missing_docs)]

pub mod args;
pub mod client;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod summary;
