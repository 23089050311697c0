//! Black-box integration tests of the `gannet` binary, one test binary with one module per
//! area and the helpers in `util`.
//!
//! Run one module: `cargo test -p gannet --test it operator::`
//!
//! Run everything against the reference server instead of gannet (a `nats-server` on `PATH`):
//! `GANNET_TEST_BIN=nats-server cargo test -p gannet --test it`

mod util;

mod auth_accounts;
mod chaos;
mod client_async_nats;
mod cluster;
mod dashboard;
mod fanout_raw;
mod flow;
mod gateway;
mod hostile;
mod jwt_v1;
mod layers;
mod leaf;
mod lifecycle;
mod monitor;
mod operator;
mod protocol;
mod shape;
mod soak;
mod system_events;
mod tls;
mod websocket;
