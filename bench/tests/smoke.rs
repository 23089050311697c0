//! Smoke test of `gannet-bench` and `gannet-chart`: every scenario runs with small counts
//! against a real `gannet` started on a random loopback port, and must come back clean.
//!
//! The `gannet` binary belongs to another package, so Cargo gives us no `CARGO_BIN_EXE_` for
//! it. It is looked up next to this test's own profile directory (`target/<profile>/`), which
//! `cargo test --workspace` fills, and built with `cargo build --bin gannet` when missing.

use gannet_bench::report::Report;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long gannet may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// `--limit-secs` for each scenario: far above what the small counts need.
const LIMIT_SECS: &str = "20";

/// The profile directory this test runs from (`target/debug`, or `target/release`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/smoke-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in <profile>/deps")
        .to_path_buf()
}

fn gannet_bin() -> PathBuf {
    let dir = profile_dir();
    let bin = dir.join("gannet");
    if bin.exists() {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bin", "gannet"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("running cargo build --bin gannet");
    assert!(status.success(), "cargo build --bin gannet failed");
    assert!(
        bin.exists(),
        "{} still missing after cargo build",
        bin.display()
    );
    bin
}

/// A gannet process, killed on drop.
struct Gannet {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Gannet {
    fn start(extra: &[&str]) -> Gannet {
        let mut child = Command::new(gannet_bin())
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gannet");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        // Keep draining stderr for the server's whole life, so it can never block on it.
        std::thread::spawn(move || {
            let needle = "Listening for client connections on 127.0.0.1:";
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find(needle) {
                    let _ = tx.send(line[i + needle.len()..].trim().parse::<u16>().ok());
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                panic!(
                    "gannet did not report its port ({other:?}); log:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Gannet { child, port, log }
    }

    fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Gannet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `gannet-bench` with `args` plus the server's address and `--json`; returns the
/// exit status, the reports and stderr.
fn bench(server: &Gannet, args: &[&str]) -> (i32, Vec<Report>, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gannet-bench"))
        .args(args)
        .args(["--url", &server.url(), "--server-pid", &server.pid()])
        .args([
            "--json",
            "--no-progress",
            "--limit-secs",
            LIMIT_SECS,
            "--label",
            "gannet",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run gannet-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let reports = gannet_bench::summary::parse_lines(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
    eprintln!("{args:?}: {:?}", started.elapsed());
    (out.status.code().unwrap_or(-1), reports, stderr)
}

/// Runs one scenario and checks it came back clean.
fn clean(server: &Gannet, args: &[&str]) -> Report {
    let (code, mut reports, stderr) = bench(server, args);
    assert_eq!(
        (code, reports.len()),
        (0, 1),
        "{args:?}: reports {reports:?}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log.lock().unwrap()
    );
    let r = reports.pop().unwrap();
    assert!(r.errors.is_empty(), "{args:?}: {:?}", r.errors);
    assert_eq!(r.label.as_deref(), Some("gannet"));
    r
}

#[test]
fn every_scenario_against_gannet() {
    let server = Gannet::start(&[]);
    let mut lines = Vec::new();

    let r = clean(&server, &["pub", "--msgs", "20k", "--size", "16"]);
    assert_eq!(r.sent, 20_000);
    assert!(r.msgs_per_sec.unwrap() > 0.0);
    lines.push(r);

    let r = clean(&server, &["pub", "--duration-secs", "0.3", "--pubs", "2"]);
    assert!(r.sent > 0 && r.elapsed_s >= 0.25, "{r:?}");

    for size in ["16", "1K"] {
        let r = clean(&server, &["pubsub", "--msgs", "20k", "--size", size]);
        assert_eq!((r.sent, r.received), (20_000, 20_000));
        lines.push(r);
    }

    let r = clean(
        &server,
        &["fanout", "--msgs", "2k", "--subs", "4", "--size", "128"],
    );
    assert_eq!((r.sent, r.received, r.subs), (2_000, 8_000, 4));
    lines.push(r);

    let r = clean(
        &server,
        &["queue", "--msgs", "20k", "--subs", "3", "--size", "128"],
    );
    let members = r.members.clone().expect("queue reports its members");
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().sum::<u64>(), 20_000);
    assert!(r.spread.is_some());
    lines.push(r);

    let r = clean(&server, &["req", "--msgs", "300"]);
    let lat = r.latency_us.expect("req reports latency");
    assert!(lat.count > 0 && lat.p50 > 0.0 && lat.p50 <= lat.p99 && lat.p99 <= lat.max);
    lines.push(r);

    let r = clean(&server, &["req-open", "--msgs", "300", "--rate", "3000"]);
    assert_eq!((r.sent, r.received, r.rate), (300, 300, Some(3000)));
    assert!(r.latency_us.is_some());
    lines.push(r);

    let r = clean(&server, &["conns", "--conns", "100"]);
    assert_eq!(r.sent, 100);
    assert!(r.rss_per_conn_bytes.is_some() && r.rss_after_kib.is_some());
    lines.push(r);

    let r = clean(&server, &["churn", "--conns", "100"]);
    assert_eq!(r.sent, 100);
    assert!(r.conns_per_sec.unwrap() > 0.0);
    lines.push(r);

    let r = clean(
        &server,
        &[
            "subs",
            "--subscriptions",
            "2000",
            "--sub-conns",
            "3",
            "--msgs",
            "10k",
        ],
    );
    assert_eq!((r.subs, r.sent, r.received), (2_000, 10_000, 10_000));
    assert!(r.rss_per_sub_bytes.is_some() && r.subs_per_sec.is_some());
    lines.push(r);

    chart_from(&lines);
}

/// Feeds the smoke results to `gannet-chart`, as gannet and relabelled as both references,
/// and checks the table and the SVG come out.
fn chart_from(reports: &[Report]) {
    let dir = std::env::temp_dir().join(format!("gannet-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut raw = String::new();
    for r in reports {
        raw.push_str(&r.json());
        raw.push('\n');
        for label in ["nats-server", "nats-server-2.9"] {
            let mut other = r.clone();
            other.label = Some(label.into());
            raw.push_str(&other.json());
            raw.push('\n');
        }
    }
    let raw_path = dir.join("run.jsonl");
    std::fs::write(&raw_path, raw).unwrap();
    let (json, md, svg) = (
        dir.join("run.json"),
        dir.join("run.md"),
        dir.join("run.svg"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gannet-chart"))
        .arg("--raw")
        .arg(&raw_path)
        .arg("--json")
        .arg(&json)
        .arg("--md")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("run gannet-chart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.contains("| pubsub 1->1 16B | msgs/s"), "{table}");
    assert!(
        table.contains("| 1.00× |"),
        "same numbers on both sides: {table}"
    );
    assert!(table.contains("| gannet / nats-server-2.9 |"), "{table}");
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("nats-server-2.9"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(summary["rows"].as_array().is_some_and(|r| !r.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--sub-url` naming the same server by another address: the scenarios take the
/// cross-server path (probes for interest, `cross_server` in the report, `cluster` case names)
/// without needing a cluster, and still count every message.
#[test]
fn sub_url_takes_the_cross_server_path() {
    let server = Gannet::start(&[]);
    let sub_url = format!("localhost:{}", server.port);
    let cases: [&[&str]; 5] = [
        &["pubsub", "--msgs", "20k", "--size", "16"],
        &["fanout", "--msgs", "2k", "--subs", "4"],
        &["queue", "--msgs", "20k", "--subs", "3"],
        &["req", "--msgs", "300"],
        &["req-open", "--msgs", "300", "--rate", "3000"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend(["--sub-url", sub_url.as_str()]);
        let r = clean(&server, &args);
        assert!(r.cross_server, "{args:?}: {r:?}");
        assert!(r.case().starts_with("cluster "), "{}", r.case());
        assert!(r.sent > 0, "{args:?}: {r:?}");
        let expected = if r.scenario == "fanout" {
            r.sent * 4
        } else {
            r.sent
        };
        assert_eq!(r.received, expected, "{args:?}");
    }
}

#[test]
fn credentials_are_sent_in_connect() {
    let server = Gannet::start(&["--user", "bench", "--pass", "s3cret"]);
    let r = clean(
        &server,
        &[
            "pubsub", "--msgs", "1000", "--user", "bench", "--pass", "s3cret",
        ],
    );
    assert_eq!(r.received, 1000);

    let (code, reports, _) = bench(
        &server,
        &["pub", "--msgs", "10", "--user", "bench", "--pass", "nope"],
    );
    assert_eq!(code, 1);
    let err = reports[0].errors.join("; ");
    assert!(err.contains("Authorization Violation"), "{err}");
}
