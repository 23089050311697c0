//! Hostile clients (issue 16, item 4): garbage and oversized credentials, a mass of
//! subscriptions dropped at once, slowloris on the client and monitoring ports, and a connect
//! storm against `max_connections` (the TLS floods are in `tls`). Each passes against nats-server 2.15.1 too
//! (`GANNET_TEST_BIN=nats-server`).

use crate::util::cluster::{Client, Node, NodeConfig};
use crate::util::jwt::setup;
use crate::util::{start_server, Conn, SEC};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Garbage, empty and oversized JWTs and signatures in CONNECT are refused
/// (`Authorization Violation`, or `maximum control line exceeded` for a CONNECT over the
/// limit) and the server goes on serving a good user.
#[test]
fn garbage_and_oversized_jwts_are_refused() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let big = "A".repeat(8 * 1024);
    let cases: Vec<(String, String)> = vec![
        (String::new(), String::new()),
        ("a.b.c".into(), "sig".into()),
        ("!!!.###.$$$".into(), "@@@".into()),
        ("eyJ0eXAiOiJKV1QifQ.e30.".into(), String::new()),
        (format!("{big}.{big}.{big}"), "x".into()),
        (
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.bm90IGpzb24.c2ln".into(),
            "c2ln".into(),
        ),
    ];
    for (jwt, sig) in &cases {
        let mut c = Conn::connect(&s);
        let _ = c.read_line(5 * SEC);
        let connect = serde_json::json!({"verbose": false, "jwt": jwt, "sig": sig});
        c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
        let line = c.read_line(5 * SEC);
        assert!(
            line == "-ERR 'Authorization Violation'"
                || line == "-ERR 'maximum control line exceeded'",
            "jwt of {} bytes: {line}",
            jwt.len()
        );
        assert!(c.is_closed(5 * SEC), "closed after {line}");
    }
    let _ = crate::util::jwt::connect_user(&s, &st.acc);
}

/// 100,000 subscriptions over 1,000 connections, then every connection dropped at once: the
/// server lets go of all of them (VARZ back to its own count, no connection left) and goes
/// on serving.
#[test]
fn a_hundred_thousand_subscriptions_then_a_mass_disconnect() {
    const CONNS: usize = 1_000;
    const SUBS_PER_CONN: usize = 100;
    let node = Node::gannet(NodeConfig::new("mass").no_cluster());
    let baseline = node.varz()["subscriptions"].as_u64().unwrap_or(0);
    let mut clients: Vec<Client> = Vec::with_capacity(CONNS);
    for i in 0..CONNS {
        let mut c = node.client();
        let mut batch = String::new();
        for j in 0..SUBS_PER_CONN {
            batch.push_str(&format!("SUB mass.{i}.{j} {j}\r\n"));
        }
        c.send(&batch);
        clients.push(c);
    }
    for c in clients.iter_mut() {
        c.sync();
    }
    let varz = node.varz();
    let subs = varz["subscriptions"].as_u64().unwrap_or(0);
    assert!(
        subs >= baseline + (CONNS * SUBS_PER_CONN) as u64,
        "{subs} subscriptions, baseline {baseline}"
    );
    drop(clients);
    let end = Instant::now() + 20 * SEC;
    loop {
        let varz = node.varz();
        let (conns, subs) = (
            varz["connections"].as_u64().unwrap_or(u64::MAX),
            varz["subscriptions"].as_u64().unwrap_or(u64::MAX),
        );
        if conns == 0 && subs <= baseline {
            break;
        }
        assert!(
            Instant::now() < end,
            "after the mass disconnect: {conns} connections, {subs} subscriptions (baseline {baseline})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut c = node.client();
    c.sub("after", 1);
    c.sync();
    c.publish("after", "ok");
    assert_eq!(c.next_msg(5 * SEC).map(|m| m.payload), Some("ok".into()));
}

/// Opens `n` raw connections to `addr` (a short read timeout each).
fn open_raw(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let t = TcpStream::connect(addr).expect("connect");
            t.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            t
        })
        .collect()
}

/// Reads what `t` still gets until the server closes it, waiting at most `wait`; whether it
/// was closed, and the bytes.
fn read_until_closed(t: &mut TcpStream, wait: Duration) -> (bool, String) {
    let _ = t.set_read_timeout(Some(wait));
    let mut got = Vec::new();
    let closed = t.read_to_end(&mut got).is_ok();
    (closed, String::from_utf8_lossy(&got).into_owned())
}

/// Slowloris on the client port: 200 connections each send their CONNECT a byte at a time
/// and never finish it. The auth timeout (1 s here) closes every one of them with
/// `-ERR 'Authentication Timeout'`, and a client that does log in meanwhile is served.
#[test]
fn slowloris_on_the_client_port_ends_at_the_auth_timeout() {
    const SLOW: usize = 200;
    let s = start_server("authorization { user: a, password: a, timeout: 1 }\n", &[]);
    let mut slow = open_raw(&s.addr(), SLOW);
    let connect = b"CONNECT {\"user\":\"a\",\"pass\":\"a\",\"verbose\":false}";
    let start = Instant::now();
    let mut served = false;
    let mut i = 0;
    // A byte per connection every 100 ms for 3 s: three times the timeout, never a CRLF.
    while start.elapsed() < 3 * SEC {
        for t in slow.iter_mut() {
            let _ = t.write_all(&connect[i % connect.len()..][..1]);
        }
        i += 1;
        if !served && start.elapsed() > Duration::from_millis(300) {
            let mut good = Conn::setup(&s);
            good.send(b"CONNECT {\"user\":\"a\",\"pass\":\"a\",\"verbose\":false}\r\n");
            good.send(b"SUB served 1\r\nPUB served 2\r\nok\r\n");
            assert_eq!(good.sync(), "MSG served 1 2\r\nok\r\n");
            served = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served);
    for (n, t) in slow.iter_mut().enumerate() {
        let (closed, got) = read_until_closed(t, 3 * SEC);
        assert!(closed, "slow connection {n} still open: {got:?}");
        assert!(
            got.contains("-ERR 'Authentication Timeout'"),
            "slow connection {n}: {got:?}"
        );
    }
}

/// Slowloris on the monitoring port: 100 connections send a request head a byte at a time
/// and never end it. A real request made meanwhile is answered before the slow heads'
/// deadline (5 s, as nats-server's) even passes, and every slow connection is closed by that
/// deadline at the latest (gannet sheds the slowest heads sooner when its 32 request threads
/// are taken).
#[test]
fn slowloris_on_the_monitoring_port() {
    const SLOW: usize = 100;
    let (_s, port) = crate::monitor::start_monitored("", &[]);
    let addr = format!("127.0.0.1:{port}");
    let mut slow = open_raw(&addr, SLOW);
    let opened = Instant::now();
    for t in slow.iter_mut() {
        let _ = t.write_all(b"GET /varz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    }
    let writers: Vec<TcpStream> = slow.iter().filter_map(|t| t.try_clone().ok()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let dribbler = std::thread::spawn(move || {
        let mut writers = writers;
        while !stop2.load(Ordering::Acquire) {
            for w in writers.iter_mut() {
                let _ = w.write_all(b"a");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let asked = Instant::now();
    let (status, _, body) = crate::monitor::get(port, "/varz");
    let answered = asked.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        answered < 4 * SEC,
        "/varz took {answered:?} behind {SLOW} slow request heads"
    );
    for (n, t) in slow.iter_mut().enumerate() {
        let left = (opened + 9 * SEC).saturating_duration_since(Instant::now());
        let (closed, got) = read_until_closed(t, left.max(Duration::from_millis(1)));
        assert!(closed, "slow request {n} still open after 9 s: {got:?}");
    }
    stop.store(true, Ordering::Release);
    let _ = dribbler.join();
    eprintln!("hostile: /varz answered in {answered:?} behind {SLOW} slow request heads");
}

/// A connect storm against `max_connections`: 400 connections at once from 8 threads, 50
/// allowed. Exactly 50 get in, every other one is told `maximum connections exceeded` and
/// closed; once they are gone, a second storm gets exactly 50 in again.
#[test]
fn connect_storm_against_max_connections() {
    const MAX: usize = 50;
    const STORM: usize = 400;
    const THREADS: usize = 8;
    let (s, http) = crate::monitor::start_monitored(&format!("max_connections: {MAX}\n"), &[]);
    for round in 0..2 {
        let addr = s.addr();
        let results: Vec<(Vec<Conn>, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let addr = addr.clone();
                    scope.spawn(move || {
                        let mut kept = Vec::new();
                        let mut refused = 0;
                        for _ in 0..STORM / THREADS {
                            let mut c = Conn::connect_addr(&addr);
                            assert!(c.read_line(5 * SEC).starts_with("INFO "));
                            c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
                            match c.read_line(5 * SEC).as_str() {
                                "PONG" => kept.push(c),
                                "-ERR 'maximum connections exceeded'" => refused += 1,
                                other => panic!("storm: {other:?}"),
                            }
                        }
                        (kept, refused)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("storm thread"))
                .collect()
        });
        let kept: usize = results.iter().map(|(k, _)| k.len()).sum();
        let refused: usize = results.iter().map(|(_, r)| r).sum();
        assert_eq!(
            (kept, refused),
            (MAX, STORM - MAX),
            "round {round}: kept, refused"
        );
        drop(results);
        let end = Instant::now() + 10 * SEC;
        loop {
            let (_, _, body) = crate::monitor::get(http, "/varz");
            let varz: serde_json::Value = serde_json::from_str(&body).expect("varz");
            if varz["connections"] == 0 {
                break;
            }
            assert!(
                Instant::now() < end,
                "connections left: {}",
                varz["connections"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
