//! The soak (issue 16, item 3): a mixed workload against one server for a long time, with
//! its memory, file descriptors and threads sampled, and the trend checked. Two minutes in
//! the suite; `scripts/soak.sh` runs it for 30 minutes (`GANNET_SOAK_SECS`), against gannet
//! and against nats-server 2.15.1.
//!
//! The workload, in three threads, every round checked:
//! - **traffic:** 500 messages to a subscriber (all arrive), 300 to a queue group of three
//!   (each arrives exactly once), 100 requests to a responder (all answered);
//! - **churn:** 200 subscriptions made and removed, 20 clients connected and dropped;
//! - **system:** `$SYS.REQ.SERVER.PING` and `PING.CONNZ`, `$SYS.REQ.ACCOUNT.A.SUBSZ`
//!   answered; a config reload (SIGHUP) every minute (every quarter of a shorter run).

use crate::util::cluster::{unique, Client, Node, NodeConfig};
use crate::util::SEC;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The suite's run; `GANNET_SOAK_SECS` sets another.
const DEFAULT_SECS: u64 = 120;
/// How often the server's resources are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[test]
fn soak_mixed_workload() {
    let secs = std::env::var("GANNET_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let run = Duration::from_secs(secs);
    let reload_every = Duration::from_secs(60).min(run / 4);
    let node = Node::gannet(NodeConfig::new("soak").no_cluster());
    let pid = node.server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));

    let traffic = {
        let (node_client, stop, rounds) = (node.client_addr(), stop.clone(), rounds.clone());
        std::thread::spawn(move || traffic(&node_client, &stop, &rounds))
    };
    let churn = {
        let (addr, stop) = (node.client_addr(), stop.clone());
        std::thread::spawn(move || churn(&addr, &stop))
    };

    let start = Instant::now();
    let mut sys = node.sys_client();
    let mut samples: Vec<(Duration, Sample)> = vec![(Duration::ZERO, Sample::of(pid))];
    let (mut next_sample, mut next_reload) = (SAMPLE_EVERY, reload_every);
    let mut reloads = 0;
    while start.elapsed() < run {
        system_requests(&mut sys);
        if start.elapsed() >= next_reload {
            node.server.signal(libc::SIGHUP);
            reloads += 1;
            next_reload += reload_every;
        }
        if start.elapsed() >= next_sample {
            samples.push((start.elapsed(), Sample::of(pid)));
            next_sample += SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Release);
    traffic.join().expect("traffic thread");
    let churned = churn.join().expect("churn thread");
    samples.push((start.elapsed(), Sample::of(pid)));

    let end = Instant::now() + 5 * SEC;
    let reloaded = loop {
        let log = node.server.log.lock().expect("log").clone();
        let reloaded = log.matches("Reloaded server configuration").count();
        if reloaded >= reloads || Instant::now() > end {
            break reloaded;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(reloaded, reloads, "reloads logged");
    eprintln!(
        "soak: {secs} s, {} traffic rounds, {churned} churn rounds, {reloads} reloads",
        rounds.load(Ordering::Acquire)
    );
    for (at, s) in &samples {
        eprintln!(
            "soak: t={:>5.0}s rss {:>7} KiB fds {:>4} threads {:>3}",
            at.as_secs_f64(),
            s.rss_kib,
            s.fds,
            s.threads
        );
    }
    check_trend(&samples);
}

/// No upward trend: the last quarter of the run against the second (the first is warm-up).
fn check_trend(samples: &[(Duration, Sample)]) {
    let n = samples.len();
    assert!(n >= 8, "too few samples: {n}");
    let quarter = |q: usize| &samples[q * n / 4..(q + 1) * n / 4];
    let mean = |part: &[(Duration, Sample)], f: fn(&Sample) -> u64| {
        part.iter().map(|(_, s)| f(s)).sum::<u64>() / part.len().max(1) as u64
    };
    let (early, late) = (quarter(1), quarter(3));
    let rss = (mean(early, |s| s.rss_kib), mean(late, |s| s.rss_kib));
    let fds = (mean(early, |s| s.fds), mean(late, |s| s.fds));
    let threads = (mean(early, |s| s.threads), mean(late, |s| s.threads));
    eprintln!(
        "soak: second quarter → last quarter: rss {rss:?} KiB, fds {fds:?}, threads {threads:?}"
    );
    assert!(
        rss.1 <= rss.0 + rss.0 / 4 + 8 * 1024,
        "memory grows: {rss:?} KiB"
    );
    assert!(fds.1 <= fds.0 + 10, "file descriptors grow: {fds:?}");
    assert!(threads.1 <= threads.0 + 4, "threads grow: {threads:?}");
}

/// Pub/sub, a queue group and request/reply, each round checked, until `stop`.
fn traffic(addr: &str, stop: &AtomicBool, rounds: &AtomicU64) {
    let mut c = Client::connect(addr, "a", "a", 1);
    let mut workers: Vec<Client> = (0..3)
        .map(|i| {
            let mut w = Client::connect(addr, "a", "a", 1);
            w.qsub("soak.q", "workers", i + 1);
            w.sync();
            w
        })
        .collect();
    let mut responder = Client::connect(addr, "a", "a", 1);
    responder.sub("soak.svc", 1);
    responder.sync();
    c.sub("soak.ps", 1);
    c.sub("soak.reply.*", 2);
    c.sync();
    while !stop.load(Ordering::Acquire) {
        let round = rounds.fetch_add(1, Ordering::AcqRel);
        let mut batch = String::new();
        for i in 0..500 {
            batch.push_str(&format!("PUB soak.ps 8\r\n{i:08}\r\n"));
        }
        c.send(&batch);
        let got = receive(&mut c, 500, "soak.ps");
        assert_eq!(got, 500, "round {round}: pub/sub");

        let mut batch = String::new();
        for i in 0..300 {
            batch.push_str(&format!("PUB soak.q 8\r\n{i:08}\r\n"));
        }
        c.send(&batch);
        c.sync();
        let mut seen = std::collections::BTreeSet::new();
        let end = Instant::now() + 10 * SEC;
        while seen.len() < 300 && Instant::now() < end {
            for w in workers.iter_mut() {
                for m in w.msgs_for(Duration::from_millis(20)) {
                    assert!(seen.insert(m.payload.clone()), "round {round}: queue dup");
                }
            }
        }
        assert_eq!(seen.len(), 300, "round {round}: queue group");

        for i in 0..100 {
            c.publish_reply("soak.svc", &format!("soak.reply.{i}"), "q");
        }
        c.sync();
        let mut answered = 0;
        let end = Instant::now() + 10 * SEC;
        while answered < 100 && Instant::now() < end {
            for m in responder.msgs_for(Duration::from_millis(20)) {
                if let Some(reply) = m.reply {
                    responder.publish(&reply, "a");
                }
            }
            answered += receive_some(&mut c, "soak.reply.");
        }
        assert_eq!(answered, 100, "round {round}: request/reply");
    }
}

/// Receives `want` messages on `subject` (bounded: 10 s); how many came.
fn receive(c: &mut Client, want: usize, subject: &str) -> usize {
    let end = Instant::now() + 10 * SEC;
    let mut got = 0;
    while got < want && Instant::now() < end {
        got += c
            .msgs_for(Duration::from_millis(20))
            .iter()
            .filter(|m| m.subject == subject)
            .count();
    }
    got
}

/// Messages whose subject starts with `prefix` among those arriving within 20 ms.
fn receive_some(c: &mut Client, prefix: &str) -> usize {
    c.msgs_for(Duration::from_millis(20))
        .iter()
        .filter(|m| m.subject.starts_with(prefix))
        .count()
}

/// Subscriptions made and removed, clients connected and dropped, until `stop`; the number
/// of rounds.
fn churn(addr: &str, stop: &AtomicBool) -> u64 {
    let mut c = Client::connect(addr, "a", "a", 1);
    let mut rounds = 0;
    while !stop.load(Ordering::Acquire) {
        let base = unique() * 1000;
        let mut batch = String::new();
        for i in 0..200 {
            batch.push_str(&format!("SUB churn.{i} {}\r\n", base + i));
        }
        for i in 0..200 {
            batch.push_str(&format!("UNSUB {}\r\n", base + i));
        }
        c.send(&batch);
        c.sync();
        let clients: Vec<Client> = (0..20)
            .map(|_| Client::connect(addr, "a", "a", 1))
            .collect();
        drop(clients);
        rounds += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    rounds
}

/// `$SYS` requests, each answered.
fn system_requests(sys: &mut Client) {
    for subject in [
        "$SYS.REQ.SERVER.PING",
        "$SYS.REQ.SERVER.PING.CONNZ",
        "$SYS.REQ.ACCOUNT.A.SUBSZ",
    ] {
        let inbox = format!("_INBOX.soak.{}", unique());
        sys.sub(&inbox, 7);
        sys.publish_reply(subject, &inbox, "");
        let reply = sys.next_msg_where(5 * SEC, |m| m.subject == inbox);
        assert!(reply.is_some(), "no answer to {subject}");
        sys.unsub(7);
    }
}

/// A process's resident memory, open file descriptors and threads.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

impl Sample {
    fn of(pid: i32) -> Sample {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Sample {
            rss_kib: field("VmRSS:"),
            fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64),
            threads: field("Threads:"),
        }
    }
}
