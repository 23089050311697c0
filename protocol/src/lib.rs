//! The NATS client protocol, as bytes: a zero-copy incremental parser and the encoders the
//! server needs. Nothing here does I/O; callers feed byte slices in and get borrowed ops out.
//!
//! # Layout
//! - [`parser`]: the client-side op parser (`PUB`, `SUB`, ...) used by the server, and the
//!   server-side op parser (`MSG`, `INFO`, ...) used by tests and the bench tool.
//! - [`op`]: the borrowed op types the parsers hand out.
//! - [`encode`]: writers for `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK` and `-ERR`.
//! - [`route`]: the server-to-server route protocol (`RS+`, `RS-`, `RMSG`, `HMSG`, `LMSG`, ...):
//!   its parser and the writers for what a route sends.
//! - [`errors`]: the exact `-ERR` texts nats-server sends.
//! - [`subject`]: subject and token validation, tokenizing and wildcard matching.
//! - [`ws`]: WebSocket framing for clients that connect over WebSocket: the streaming
//!   decoder of client frames and the server frame headers.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod encode;
pub mod errors;
pub mod op;
pub mod parser;
pub mod route;
pub mod subject;
pub mod ws;

pub use op::{ClientOp, Msg, Pub, ServerOp};
pub use parser::{ParseError, Parser, ServerParser};
pub use route::{Queues, RemoteSub, RemoteUnsub, RouteOp, RouteParser, RoutedMsg};
