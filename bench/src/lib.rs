//! Support code for Gannet's benchmarks: a minimal blocking NATS client built on the
//! `protocol` crate, used by the `gannet-bench` load tool.
//!
//! # Layout
//! - [`client`]: connect, subscribe, publish in large batches, count deliveries.
#![deny(missing_docs)]

pub mod client;
