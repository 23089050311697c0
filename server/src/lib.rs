//! Gannet: a NATS-compatible message broker.
//!
//! # Layout
//! Modules in layers, from the bottom; a module uses only its own layer and lower ones (see
//! docs/ARCHITECTURE.md, "Layers"; `tests/it/layers.rs` enforces it).
//!
//! - Leaves, which know nothing of the server: [`gofmt`] (Go's text formats), [`ids`] (the
//!   typed `Slot` and `WorkerId`), [`gate`] (flow control's stall gate and wake-ups), [`cli`] (Go
//!   `flag`-compatible command line: `-p 4222`, `--port=4222`, `-DV`), [`conf`] (the
//!   nats-server configuration file format), [`connect`] and [`info`] (the CONNECT and INFO
//!   JSON), [`jwt`] (NATS JWTs), [`log`] (nats-server-style logging), [`signals`] (`--signal`).
//! - Config: [`opts`] (the validated options from the config file and the flags), [`reload`]
//!   (what a config reload may change), `auth::config` (users, permissions and accounts
//!   blocks), `auth::dirstore` (the resolver's JWT directory), [`tls`] (the `tls` block and
//!   the rustls configurations).
//! - Model: [`account`] (accounts and their sublists), [`sub`] (the subscription stored in
//!   the sublist), [`auth`] (client authentication, permissions, certificates, the operator
//!   trust store and the auth thread pool).
//! - Plumbing: [`runtime`] (the configuration snapshot workers read), [`shared`] (state the
//!   threads share), [`msgs`] (every message and handle through which threads talk).
//! - Threads: [`worker`] (the per-core event loops that own the connections), [`sys`] (the
//!   system account's thread: `$SYS` events and requests), [`monitor`] (the HTTP monitoring
//!   port: `/varz`, `/connz`, `/subsz`, …).
//! - App: [`server`] (startup and the control thread: accept, signals, lame duck, reload,
//!   shutdown); the only module that names every thread.
#![deny(missing_docs)]

pub mod account;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod conf;
pub mod connect;
pub mod dialer;
pub mod fuzzcheck;
pub mod gate;
pub mod gateway;
pub mod gatewaydial;
pub mod gofmt;
pub mod ids;
pub mod info;
pub mod jwt;
pub mod leaf;
pub mod leafdial;
pub mod log;
pub mod monitor;
pub mod msgs;
pub mod opts;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod shared;
pub mod signals;
pub mod sub;
pub mod sys;
pub mod tls;
pub mod websocket;
pub mod worker;

use std::process::ExitCode;

/// Installs the logger configuration from the options.
///
/// # Errors
/// The log file cannot be opened.
pub fn configure_logging(opts: &opts::Options) -> std::io::Result<()> {
    log::configure(log::LogConfig {
        debug: opts.debug,
        trace: opts.trace || opts.trace_verbose,
        logtime: opts.logtime,
        logtime_utc: opts.logtime_utc,
        file: (!opts.log_file.is_empty()).then(|| opts.log_file.clone().into()),
    })
}

fn fatal(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("gannet: {msg}");
    ExitCode::from(1)
}

/// Runs the command line: parse flags, load the config, start the server, serve until shutdown.
pub fn run_cli(args: &[String]) -> ExitCode {
    let flags = match cli::parse(args) {
        Ok(flags) => flags,
        Err(cli::CliError::Usage(msg)) => {
            // nats-server prints the complaint and the usage, then exits 0 (its usage
            // function exits).
            eprintln!("{msg}");
            println!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Err(cli::CliError::Fatal(msg)) => return fatal(msg),
    };
    if flags.show_help {
        println!("{}", cli::usage());
        return ExitCode::SUCCESS;
    }
    if flags.show_tls_help {
        println!("{}", cli::tls_usage());
        return ExitCode::SUCCESS;
    }
    if flags.show_version {
        println!(
            "nats-server: v{} (gannet {})",
            info::NATS_VERSION,
            info::GANNET_VERSION
        );
        return ExitCode::SUCCESS;
    }
    if let Some(sig) = &flags.signal {
        let spec = match &sig.pid {
            Some(pid) => format!("{}={pid}", sig.command),
            None => sig.command.clone(),
        };
        return match signals::send(&spec) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => fatal(msg),
        };
    }
    if flags.check_config && flags.config_file.is_none() {
        return fatal("must specify [-c, --config] option to check configuration file syntax");
    }
    let (opts, warnings) = match opts::load(&flags) {
        Ok(loaded) => loaded,
        Err(e) => return fatal(e),
    };
    for w in &warnings {
        eprintln!("gannet: {w}");
    }
    if flags.check_config {
        if !warnings.is_empty() {
            return ExitCode::from(1);
        }
        eprintln!(
            "gannet: configuration file {} is valid (sha256:{})",
            opts.config_file, opts.config_digest
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = configure_logging(&opts) {
        return fatal(format!("unable to open log file: {e}"));
    }
    match server::Server::start(opts, flags) {
        Ok(server) => {
            server.run();
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::fatal(&e.0);
            fatal(e)
        }
    }
}
