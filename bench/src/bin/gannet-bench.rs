//! `gannet-bench`: a small load tool that speaks the NATS protocol itself (through the
//! `protocol` crate), so client overhead is small and the same for every server.
//!
//! Scenarios so far: `pub` (publish only) and `pubsub` (1 publisher -> N subscribers).
//! Every run is bounded by its message count and a wall-clock limit, and ends by itself.
//!
//! ```text
//! gannet-bench pubsub --url 127.0.0.1:4222 --msgs 1000000 --size 16 --subs 1
//! ```

use gannet_bench::client::{BenchConn, ReadOutcome};
use std::time::{Duration, Instant};

struct Args {
    scenario: String,
    url: String,
    msgs: u64,
    size: usize,
    subs: usize,
    limit: Duration,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        scenario: String::new(),
        url: "127.0.0.1:4222".to_string(),
        msgs: 1_000_000,
        size: 16,
        subs: 1,
        limit: Duration::from_secs(60),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--url" => args.url = value("--url")?.trim_start_matches("nats://").to_string(),
            "--msgs" => {
                args.msgs = value("--msgs")?
                    .parse()
                    .map_err(|e| format!("--msgs: {e}"))?
            }
            "--size" => {
                args.size = value("--size")?
                    .parse()
                    .map_err(|e| format!("--size: {e}"))?
            }
            "--subs" => {
                args.subs = value("--subs")?
                    .parse()
                    .map_err(|e| format!("--subs: {e}"))?
            }
            "--limit-secs" => {
                args.limit = Duration::from_secs(
                    value("--limit-secs")?
                        .parse()
                        .map_err(|e| format!("--limit-secs: {e}"))?,
                )
            }
            "--json" => args.json = true,
            "-h" | "--help" => return Err(String::new()),
            s if args.scenario.is_empty() && !s.starts_with('-') => args.scenario = s.to_string(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.scenario.is_empty() {
        return Err(String::new());
    }
    Ok(args)
}

const USAGE: &str = "usage: gannet-bench <pub|pubsub> [--url HOST:PORT] [--msgs N] [--size BYTES] [--subs N] [--limit-secs S] [--json]";

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gannet-bench: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let result = match args.scenario.as_str() {
        "pub" => run_pub(&args),
        "pubsub" => run_pubsub(&args),
        other => Err(format!("unknown scenario {other:?}")),
    };
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                println!("{}", report.human());
            }
        }
        Err(e) => {
            eprintln!("gannet-bench: {e}");
            std::process::exit(1);
        }
    }
}

struct Report {
    scenario: String,
    size: usize,
    subs: usize,
    sent: u64,
    received: u64,
    elapsed: Duration,
}

impl Report {
    fn msgs_per_sec(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn human(&self) -> String {
        format!(
            "{:<8} size={:>6}B subs={:>3} sent={:>10} received={:>10} in {:>8.3}s: {:>12.0} msgs/s published, {:>8.1} MB/s",
            self.scenario,
            self.size,
            self.subs,
            self.sent,
            self.received,
            self.elapsed.as_secs_f64(),
            self.msgs_per_sec(),
            self.msgs_per_sec() * self.size as f64 / 1e6
        )
    }

    fn json(&self) -> String {
        format!(
            "{{\"scenario\":\"{}\",\"size\":{},\"subs\":{},\"sent\":{},\"received\":{},\"elapsed_s\":{:.6},\"msgs_per_sec\":{:.1}}}",
            self.scenario,
            self.size,
            self.subs,
            self.sent,
            self.received,
            self.elapsed.as_secs_f64(),
            self.msgs_per_sec()
        )
    }
}

fn run_pub(args: &Args) -> Result<Report, String> {
    let mut publisher = BenchConn::connect(&args.url).map_err(|e| e.to_string())?;
    let start = Instant::now();
    publisher
        .publish_many("bench.pub", args.size, args.msgs, start + args.limit)
        .map_err(|e| e.to_string())?;
    publisher
        .round_trip(start + args.limit)
        .map_err(|e| e.to_string())?;
    Ok(Report {
        scenario: "pub".into(),
        size: args.size,
        subs: 0,
        sent: args.msgs,
        received: 0,
        elapsed: start.elapsed(),
    })
}

fn run_pubsub(args: &Args) -> Result<Report, String> {
    let subject = "bench.pubsub";
    let deadline = Instant::now() + args.limit;
    let mut subscribers = Vec::new();
    for _ in 0..args.subs.max(1) {
        let mut c = BenchConn::connect(&args.url).map_err(|e| e.to_string())?;
        c.subscribe(subject, "1").map_err(|e| e.to_string())?;
        c.round_trip(deadline).map_err(|e| e.to_string())?;
        subscribers.push(c);
    }
    let want = args.msgs;
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || -> Result<(u64, Instant), String> {
                let mut got = 0u64;
                while got < want {
                    match c.read_msgs(deadline).map_err(|e| e.to_string())? {
                        ReadOutcome::Msgs(n) => got += n,
                        ReadOutcome::Deadline => break,
                    }
                }
                Ok((got, Instant::now()))
            })
        })
        .collect();
    let mut publisher = BenchConn::connect(&args.url).map_err(|e| e.to_string())?;
    let start = Instant::now();
    publisher
        .publish_many(subject, args.size, want, deadline)
        .map_err(|e| e.to_string())?;
    let mut received = 0;
    let mut end = start;
    for r in readers {
        let (got, at) = r
            .join()
            .map_err(|_| "subscriber thread panicked".to_string())??;
        received += got;
        end = end.max(at);
    }
    Ok(Report {
        scenario: "pubsub".into(),
        size: args.size,
        subs: args.subs.max(1),
        sent: want,
        received,
        elapsed: end.duration_since(start),
    })
}
