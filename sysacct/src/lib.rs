//! The system account's wire types: the JSON bodies of `$SYS` events and `$SYS.REQ` replies,
//! shaped exactly like nats-server's (field names, order and omission rules of its Go structs,
//! spec `sys.md` §0), plus the helpers every event needs (Go time format, event ids).
//!
//! Nothing here does I/O or knows about connections; the server fills these types from its own
//! state and publishes them.
//!
//! # Layout
//! - [`types`]: shared payload pieces: [`types::ServerInfo`], [`types::ClientInfo`],
//!   [`types::DataStats`].
//! - [`events`]: event bodies and subjects: CONNECT, DISCONNECT, AUTH.ERR, account CONNS,
//!   STATSZ, and the request/response envelope.
//! - [`monitor`]: `/varz`, `/connz`, `/subsz`, `/healthz` documents and their text formats.
//! - [`time`]: RFC 3339 timestamps the way Go prints them.
//! - [`id`]: NUID-style unique event ids.
//! - [`gofloat`]: floats written as Go writes them (`0`, not `0.0`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod events;
pub mod gofloat;
pub mod id;
pub mod monitor;
pub mod time;
pub mod types;
