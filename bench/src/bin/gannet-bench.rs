//! `gannet-bench`: a load tool that speaks the NATS protocol itself (through the `protocol`
//! crate), so client overhead is small and the same for every server.
//!
//! ```text
//! gannet-bench pubsub --url 127.0.0.1:4222 --msgs 1M --size 128
//! gannet-bench req req-open conns --server-pid $(pidof gannet) --json
//! ```
//!
//! Every scenario is bounded by its count and by `--limit-secs`, and ends by itself; a
//! watchdog ends the process if a scenario overruns its limit anyway. Exit status: 0 when
//! every scenario ran clean, 1 when any reported an error, 2 for a bad command line.

use gannet_bench::args::{self, ArgsError};
use gannet_bench::report::{self, Report};
use gannet_bench::scenario;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// Grace beyond the scenarios' own limits before the watchdog ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    let cfg = match args::parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(ArgsError::Help) => {
            eprintln!("{}", args::USAGE);
            return ExitCode::from(2);
        }
        Err(ArgsError::Bad(e)) => {
            eprintln!("gannet-bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let total_limit = cfg.limit * cfg.scenarios.len() as u32 + WATCHDOG_GRACE;
    std::thread::spawn(move || {
        std::thread::sleep(total_limit);
        eprintln!("gannet-bench: watchdog: still running after {total_limit:?}, giving up");
        std::process::exit(3);
    });
    let mut reports: Vec<Report> = Vec::new();
    for &sc in &cfg.scenarios {
        let r = scenario::run(sc, &cfg);
        if cfg.json {
            // One line per scenario as soon as it is done, so a script sees partial results.
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{}", r.json())
                .and_then(|()| out.flush())
                .is_err()
            {
                // A closed stdout (e.g. `| head`) is not our failure, ripgrep style.
                return ExitCode::SUCCESS;
            }
        }
        reports.push(r);
    }
    if !cfg.json {
        print!("{}", report::table(&reports));
    }
    let failed = reports.iter().filter(|r| !r.errors.is_empty()).count();
    for r in reports.iter().filter(|r| !r.errors.is_empty()) {
        eprintln!("gannet-bench: {}: {}", r.scenario, r.errors.join("; "));
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
