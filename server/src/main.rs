//! The `gannet` binary: a drop-in replacement for `nats-server`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    gannet::run_cli(&args)
}
