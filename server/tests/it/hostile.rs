//! Hostile clients (issue 16, item 4): garbage and oversized credentials, and a mass of
//! subscriptions dropped at once. Each passes against nats-server 2.15.1 too
//! (`GANNET_TEST_BIN=nats-server`).

use crate::util::cluster::{Client, Node, NodeConfig};
use crate::util::jwt::setup;
use crate::util::{start_server, Conn, SEC};
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

/// 100,000 subscriptions over 500 connections, then every connection dropped at once: the
/// server lets go of all of them (VARZ back to its own count, no connection left) and goes
/// on serving.
#[test]
fn a_hundred_thousand_subscriptions_then_a_mass_disconnect() {
    const CONNS: usize = 500;
    const SUBS_PER_CONN: usize = 200;
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
