//! Clusters (routes) against real binaries: full mesh through gossip, pub/sub, headers,
//! request/reply, queue groups and unsubscribes across routes, no-responders, the system
//! account across servers, client failover (raw, async-nats and nats-py), route
//! authorization and CONNECT checks, `/routez` and `/varz`, and mixed clusters of gannet and
//! nats-server 2.15.1 nodes. Expected values are nats-server 2.15.1's (checked against clusters
//! of real nats-server nodes); with `GANNET_TEST_BIN=nats-server` every "gannet" node is a
//! nats-server node and all of this passes.
//!
//! Interest crosses routes asynchronously: before a publish that must be delivered on
//! another node, `await_interest` proves the publisher's node knows the subscriber's interest.

use crate::util::cluster::{
    await_delivery, await_interest, connect_urls, require_reference, unique, wait_for_mesh, Client,
    Msg, Node, NodeConfig,
};
use crate::util::{info_json, is_gannet, Conn, SEC};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Drain time after the last expected message, to catch duplicates.
const QUIET: Duration = Duration::from_millis(250);

/// n1 without routes, n2 and n3 seeded with n1 only: the n2–n3 route comes from gossip.
fn three_nodes() -> [Node; 3] {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    let n3 = Node::gannet(NodeConfig::new("n3").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2, &n3]);
    [n1, n2, n3]
}

/// A client on `x` publishes, one on `y` subscribes: a plain and a header message arrive once
/// each and in order, a request from `x` is answered from `y`, nothing is duplicated, and after
/// an unsubscribe on `y` a publish on `x` is no longer delivered.
fn check_pair(x: &Node, y: &Node) {
    let tag = format!("{}.{}.{}", x.name(), y.name(), unique());
    let (data, svc, ctl, inbox) = (
        format!("d.{tag}"),
        format!("svc.{tag}"),
        format!("ctl.{tag}"),
        format!("in.{tag}"),
    );
    let pair = format!("{} -> {}", x.name(), y.name());
    let mut p = x.client();
    let mut s = y.client();
    s.sub(&data, 1);
    s.sub(&svc, 2);
    s.sub(&ctl, 3);
    s.sync();
    await_interest(&mut p, &mut s);

    p.publish(&data, "hello");
    p.publish_header(&data, "X-K: v1", "with-headers");
    // The requester's interest in its inbox goes out before the request, on the same route.
    p.sub(&inbox, 7);
    p.publish_reply(&svc, &inbox, "ping");
    p.publish(&ctl, "x");
    let got = s.msgs_until(&ctl);
    assert_eq!(got.len(), 4, "{pair}: {got:?}");
    assert_eq!(
        (
            got[0].subject.as_str(),
            got[0].sid.as_str(),
            got[0].payload.as_str()
        ),
        (data.as_str(), "1", "hello"),
        "{pair}"
    );
    assert_eq!(got[0].headers, None, "{pair}");
    assert_eq!(got[1].subject, data, "{pair}");
    assert_eq!(
        got[1].headers.as_deref(),
        Some("NATS/1.0\r\nX-K: v1\r\n\r\n"),
        "{pair}: headers cross the route unchanged"
    );
    assert_eq!(got[1].payload, "with-headers", "{pair}");
    assert_eq!(got[2].subject, svc, "{pair}");
    assert_eq!(got[2].reply.as_deref(), Some(inbox.as_str()), "{pair}");
    assert_eq!(got[2].payload, "ping", "{pair}");
    s.publish(&inbox, "pong");
    let answer = p
        .next_msg_where(5 * SEC, |m| m.subject == inbox)
        .unwrap_or_else(|| panic!("{pair}: no answer to the request"));
    assert_eq!(answer.payload, "pong", "{pair}");
    assert_eq!(answer.headers, None, "{pair}: an answer, not a 503");
    let extra = s.msgs_for(QUIET);
    assert!(extra.is_empty(), "{pair}: duplicates {extra:?}");
    let extra = p.msgs_for(Duration::ZERO);
    assert!(extra.is_empty(), "{pair}: duplicate answers {extra:?}");

    s.unsub(1);
    await_interest(&mut p, &mut s);
    p.publish(&data, "after-unsub");
    p.publish(&ctl, "y");
    let got = s.msgs_until(&ctl);
    assert_eq!(got.len(), 1, "{pair}: delivered after UNSUB: {got:?}");
    assert_eq!(got[0].payload, "y");
}

/// Every ordered pair of `nodes`.
fn check_all_pairs(nodes: &[&Node]) {
    for x in nodes {
        for y in nodes {
            if x.name() != y.name() {
                check_pair(x, y);
            }
        }
    }
}

/// One member of group `q` on each of `members`; `total` messages published from a client on
/// `publisher`. Checks that each message was delivered exactly once in total and returns how
/// many each member got.
fn queue_shares(publisher: &Node, members: &[&Node], total: usize) -> Vec<usize> {
    let subject = format!("work.{}", unique());
    let mut p = publisher.client();
    let mut clients: Vec<Client> = Vec::new();
    for m in members {
        let mut c = m.client();
        c.qsub(&subject, "q", 1);
        c.sync();
        await_interest(&mut p, &mut c);
        clients.push(c);
    }
    let mut batch = String::new();
    for i in 0..total {
        let _ = write!(batch, "PUB {subject} {}\r\n{i}\r\n", i.to_string().len());
    }
    p.send(&batch);
    p.sync();
    let mut seen = vec![0usize; total];
    let mut counts = vec![0usize; clients.len()];
    let end = Instant::now() + Duration::from_secs(10);
    while counts.iter().sum::<usize>() < total && Instant::now() < end {
        for (k, c) in clients.iter_mut().enumerate() {
            while let Some(m) = c.next_msg(Duration::from_millis(20)) {
                record_id(&m, &mut seen);
                counts[k] += 1;
            }
        }
    }
    for (k, c) in clients.iter_mut().enumerate() {
        for m in c.msgs_for(QUIET) {
            record_id(&m, &mut seen);
            counts[k] += 1;
        }
    }
    let lost: Vec<usize> = (0..total).filter(|i| seen[*i] == 0).collect();
    let doubled: Vec<usize> = (0..total).filter(|i| seen[*i] > 1).collect();
    assert!(
        lost.is_empty() && doubled.is_empty(),
        "queue group: lost {lost:?}, delivered more than once {doubled:?}, shares {counts:?}"
    );
    counts
}

/// Counts a queue message by the id in its payload.
fn record_id(m: &Msg, seen: &mut [usize]) {
    let id: usize = m.payload.parse().expect("message id");
    seen[id] += 1;
}

/// `$SYS.REQ.SERVER.PING` from a system user, in rounds (bounded, 10 s) until `n` servers
/// answer, each once, and every answer says `active_servers: n` (remote servers are counted
/// once their STATSZ arrived). Returns the answers.
fn await_ping(node: &Node, n: usize) -> Vec<Value> {
    let mut sys = node.sys_client();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let replies = request_all(&mut sys, "$SYS.REQ.SERVER.PING", n);
        let names: Vec<&str> = replies
            .iter()
            .map(|r| r["server"]["name"].as_str().unwrap_or("?"))
            .collect();
        let distinct: BTreeSet<&str> = names.iter().copied().collect();
        assert!(
            replies.len() <= n && distinct.len() == names.len(),
            "PING from {}: more than one reply per server: {names:?}",
            node.name()
        );
        let active: Vec<u64> = replies
            .iter()
            .map(|r| r["statsz"]["active_servers"].as_u64().unwrap_or(0))
            .collect();
        if replies.len() == n && active.iter().all(|a| *a == n as u64) {
            return replies;
        }
        assert!(
            Instant::now() < end,
            "PING from {}: replies from {names:?}, active_servers {active:?}; want {n} servers",
            node.name()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Publishes an empty request on `subject` with a fresh inbox and returns the JSON answers:
/// those arriving until `want` are in (at most 3 s), plus any within [`QUIET`] after.
fn request_all(c: &mut Client, subject: &str, want: usize) -> Vec<Value> {
    let n = unique();
    let inbox = format!("_INBOX.cluster.{n}");
    c.sub(&inbox, n);
    c.publish_reply(subject, &inbox, "");
    let mut out = Vec::new();
    let end = Instant::now() + 3 * SEC;
    while out.len() < want {
        let left = end.saturating_duration_since(Instant::now());
        match c.next_msg_where(left, |m| m.subject == inbox) {
            Some(m) => out.push(m),
            None => break,
        }
    }
    for m in c.msgs_for(QUIET) {
        if m.subject == inbox {
            out.push(m);
        }
    }
    c.unsub(n);
    out.iter()
        .map(|m| {
            serde_json::from_str::<Value>(&m.payload)
                .unwrap_or_else(|e| panic!("{subject} answer: {e}: {}", m.payload))
        })
        .collect()
}

fn reply_names(replies: &[Value]) -> BTreeSet<String> {
    replies
        .iter()
        .map(|r| r["server"]["name"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Waits (bounded, 5 s) until `node`'s `/routez` lists exactly `n` route connections.
fn await_num_routes(node: &Node, n: u64) {
    let end = Instant::now() + 5 * SEC;
    loop {
        let rz = node.routez();
        if rz["num_routes"] == n {
            return;
        }
        assert!(
            Instant::now() < end,
            "{}: num_routes {} (want {n}): {rz}",
            node.name(),
            rz["num_routes"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Publishes ids `0..n` on `subject` from `p` and checks `s` gets each exactly once.
fn exactly_once(p: &mut Client, s: &mut Client, subject: &str, n: usize) {
    for i in 0..n {
        p.publish(subject, &i.to_string());
    }
    let mut got = Vec::new();
    let end = Instant::now() + 5 * SEC;
    while got.len() < n && Instant::now() < end {
        if let Some(m) = s.next_msg_where(Duration::from_millis(100), |m| m.subject == subject) {
            got.push(m.payload);
        }
    }
    for m in s.msgs_for(QUIET) {
        if m.subject == subject {
            got.push(m.payload);
        }
    }
    let mut ids: Vec<usize> = got.iter().map(|id| id.parse().expect("id")).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "{subject}: each once");
}

/// A fresh protocol-1 client's INFO on `node`, polled (bounded, 10 s) until its
/// `connect_urls` holds every address in `want`.
fn await_connect_urls(node: &Node, want: &[String]) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let c = node.client();
        let urls = connect_urls(&c.info);
        if want.iter().all(|u| urls.contains(u)) {
            return urls;
        }
        assert!(
            Instant::now() < end,
            "{}: connect_urls {urls:?}, want {want:?}",
            node.name()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_gannet_nodes_full_mesh() {
    let [n1, n2, n3] = three_nodes();
    // The n2–n3 route is implicit (gossip) on both ends; the seeds are explicit on the side
    // that dialed them.
    for (a, b) in [(&n2, &n3), (&n3, &n2)] {
        for r in a.routes_to(b.name()) {
            assert_eq!(
                r["is_configured"],
                false,
                "{} -> {}: {r}",
                a.name(),
                b.name()
            );
        }
    }
    for n in [&n2, &n3] {
        for r in n.routes_to("n1") {
            assert_eq!(r["did_solicit"], true, "{}: {r}", n.name());
            assert_eq!(r["is_configured"], true, "{}: {r}", n.name());
        }
    }
    check_all_pairs(&[&n1, &n2, &n3]);
}

#[test]
fn queue_group_exactly_once_across_three() {
    let [n1, n2, n3] = three_nodes();
    // nats-server 2.15.1 picks among all members, local ones included: about 100 each.
    let shares = queue_shares(&n1, &[&n1, &n2, &n3], 300);
    assert!(
        shares.iter().all(|n| *n > 30),
        "every member gets a share: {shares:?}"
    );
}

#[test]
fn no_responders_across_cluster() {
    let [n1, n2, n3] = three_nodes();
    let mut r = n1.client();
    r.sub("inbox.nr", 1);
    r.publish_reply("nobody.home", "inbox.nr", "x");
    let m = r
        .next_msg(5 * SEC)
        .expect("503 for a subject nobody listens to");
    assert_eq!(m.subject, "inbox.nr");
    assert_eq!(
        m.headers.as_deref(),
        Some("NATS/1.0 503\r\nNats-Subject: nobody.home\r\n\r\n")
    );
    assert_eq!(m.payload, "");

    // The only responder is on n3: the request is answered, no 503.
    let mut responder = n3.client();
    responder.sub("svc.there", 1);
    responder.sync();
    await_interest(&mut r, &mut responder);
    r.publish_reply("svc.there", "inbox.nr", "ping");
    let q = responder.next_msg(5 * SEC).expect("request routed to n3");
    assert_eq!(q.reply.as_deref(), Some("inbox.nr"));
    responder.publish("inbox.nr", "pong");
    let a = r.next_msg(5 * SEC).expect("answer");
    assert_eq!((a.headers, a.payload.as_str()), (None, "pong"));
    assert!(r.msgs_for(QUIET).is_empty(), "no 503 besides the answer");

    // A queue-group responder on n2 only, requester on n3.
    let mut worker = n2.client();
    worker.qsub("svc.q", "workers", 1);
    worker.sync();
    let mut r3 = n3.client();
    r3.sub("inbox.q", 1);
    await_interest(&mut r3, &mut worker);
    r3.publish_reply("svc.q", "inbox.q", "ping");
    let q = worker
        .next_msg(5 * SEC)
        .expect("queue request routed to n2");
    worker.publish(q.reply.as_deref().expect("reply subject"), "pong");
    let a = r3.next_msg(5 * SEC).expect("answer");
    assert_eq!((a.headers, a.payload.as_str()), (None, "pong"));
    assert!(r3.msgs_for(QUIET).is_empty(), "no 503 besides the answer");
}

#[test]
fn sys_ping_one_reply_per_server() {
    let [n1, n2, n3] = three_nodes();
    for n in [&n1, &n2, &n3] {
        let replies = await_ping(n, 3);
        assert_eq!(reply_names(&replies), names(&["n1", "n2", "n3"]));
        for r in &replies {
            assert_eq!(r["server"]["cluster"], "C1", "{r}");
        }
    }

    // Account-scoped requests: clients of A on n1 and n3, the system user on n2.
    let _a1 = n1.client();
    let _a3 = n3.client();
    let mut sys = n2.sys_client();
    // CONNZ is answered by every server (n2 with no connection), each once.
    let connz = request_all(&mut sys, "$SYS.REQ.ACCOUNT.A.CONNZ", 3);
    assert_eq!(reply_names(&connz), names(&["n1", "n2", "n3"]), "{connz:?}");
    assert_eq!(connz.len(), 3, "{connz:?}");
    let counts: BTreeMap<String, u64> = connz
        .iter()
        .map(|r| {
            (
                r["server"]["name"].as_str().unwrap().to_string(),
                r["data"]["num_connections"]
                    .as_u64()
                    .expect("num_connections"),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = [("n1", 1), ("n2", 0), ("n3", 1)]
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    assert_eq!(counts, want);
    // STATZ and CONNS: one reply per server that has connections in A.
    let statz = request_all(&mut sys, "$SYS.REQ.ACCOUNT.A.STATZ", 2);
    assert_eq!(statz.len(), 2, "{statz:?}");
    assert_eq!(reply_names(&statz), names(&["n1", "n3"]));
    for r in &statz {
        assert_eq!(r["data"]["account_statz"][0]["acc"], "A", "{r}");
        assert_eq!(r["data"]["account_statz"][0]["conns"], 1, "{r}");
    }
    let conns = request_all(&mut sys, "$SYS.REQ.ACCOUNT.A.CONNS", 2);
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert_eq!(reply_names(&conns), names(&["n1", "n3"]));
    for r in &conns {
        assert_eq!(r["conns"], 1, "{r}");
    }
    // A client of A on every node: a STATZ answer from each.
    let _a2 = n2.client();
    let mut sys1 = n1.sys_client();
    let statz = request_all(&mut sys1, "$SYS.REQ.ACCOUNT.A.STATZ", 3);
    assert_eq!(statz.len(), 3, "{statz:?}");
    assert_eq!(reply_names(&statz), names(&["n1", "n2", "n3"]));
}

/// A gannet node and a nats-server node, `gannet_dials` saying which one has the explicit
/// route.
fn mixed_pair(gannet_dials: bool) {
    let Some(reference) = require_reference() else {
        return;
    };
    let (g, n) = if gannet_dials {
        let n = Node::start(NodeConfig::new("r1"), &reference);
        let g = Node::gannet(NodeConfig::new("g1").route_to(&n.cfg));
        (g, n)
    } else {
        let g = Node::gannet(NodeConfig::new("g1"));
        let n = Node::start(NodeConfig::new("r1").route_to(&g.cfg), &reference);
        (g, n)
    };
    wait_for_mesh(&[&g, &n]);
    if is_gannet() {
        // One connection for the pair on both sides: gannet does not pool, and nats-server
        // treats it as a no-pool peer (its pinned-account connection is refused).
        await_num_routes(&g, 1);
        await_num_routes(&n, 1);
    }
    for r in g.routes_to("r1") {
        assert_eq!(r["did_solicit"], gannet_dials, "{r}");
        assert_eq!(r["is_configured"], gannet_dials, "{r}");
    }
    check_pair(&g, &n);
    check_pair(&n, &g);
    for publisher in [&g, &n] {
        let shares = queue_shares(publisher, &[&g, &n], 200);
        assert!(
            shares.iter().all(|s| *s > 30),
            "publisher {}: both members get a share: {shares:?}",
            publisher.name()
        );
    }
    for node in [&g, &n] {
        let replies = await_ping(node, 2);
        assert_eq!(reply_names(&replies), names(&["g1", "r1"]));
    }
    if is_gannet() {
        assert_eq!(g.routez()["num_routes"], 1, "still one route on gannet");
        assert_eq!(
            n.routez()["num_routes"],
            1,
            "still one route on nats-server"
        );
    }
}

#[test]
fn mixed_cluster_gannet_dials_reference() {
    mixed_pair(true);
}

#[test]
fn mixed_cluster_reference_dials_gannet() {
    mixed_pair(false);
}

#[test]
fn mixed_three_node_gossip() {
    let Some(reference) = require_reference() else {
        return;
    };
    // G joins first; N1 forwards the later N2 to G, which must dial it.
    let r1 = Node::start(NodeConfig::new("r1"), &reference);
    let g = Node::gannet(NodeConfig::new("g1").route_to(&r1.cfg));
    wait_for_mesh(&[&r1, &g]);
    let r2 = Node::start(NodeConfig::new("r2").route_to(&r1.cfg), &reference);
    wait_for_mesh(&[&r1, &g, &r2]);
    let to_r2 = g.routes_to("r2");
    assert!(!to_r2.is_empty());
    for r in &to_r2 {
        assert_eq!(r["did_solicit"], true, "gannet dialed the gossiped r2: {r}");
        assert_eq!(r["is_configured"], false, "an implicit route: {r}");
    }
    check_all_pairs(&[&r1, &g, &r2]);
    let replies = await_ping(&g, 3);
    assert_eq!(reply_names(&replies), names(&["g1", "r1", "r2"]));
}

#[test]
fn mixed_three_node_gossip_seeded_by_gannet() {
    let Some(reference) = require_reference() else {
        return;
    };
    // N2 knows only G: G must forward N2's INFO to N1, which then dials N2.
    let r1 = Node::start(NodeConfig::new("r1"), &reference);
    let g = Node::gannet(NodeConfig::new("g1").route_to(&r1.cfg));
    wait_for_mesh(&[&r1, &g]);
    let r2 = Node::start(NodeConfig::new("r2").route_to(&g.cfg), &reference);
    wait_for_mesh(&[&r1, &g, &r2]);
    let to_r2 = r1.routes_to("r2");
    assert!(
        to_r2.iter().any(|r| r["did_solicit"] == true),
        "r1 dialed r2 after gannet's gossip: {to_r2:?}"
    );
    for r in &to_r2 {
        assert_eq!(r["is_configured"], false, "an implicit route: {r}");
    }
    check_all_pairs(&[&r1, &g, &r2]);
    let replies = await_ping(&r2, 3);
    assert_eq!(reply_names(&replies), names(&["g1", "r1", "r2"]));
}

#[test]
fn failover_after_kill() {
    let [mut n1, n2, n3] = three_nodes();
    let all = [n1.client_addr(), n2.client_addr(), n3.client_addr()];
    let urls = await_connect_urls(&n1, &all);
    assert_eq!(urls[0], n1.client_addr(), "own URL first: {urls:?}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Only n1's URL is given: the others come from the INFO's connect_urls.
    let client = rt
        .block_on(
            async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
                .connect(n1.url()),
        )
        .expect("async-nats connects to n1");
    let learnt = client.server_info().connect_urls;
    for addr in &all[1..] {
        assert!(learnt.contains(addr), "async-nats learnt {learnt:?}");
    }
    let mut back = rt.block_on(client.subscribe("fo.back")).unwrap();
    rt.block_on(client.flush()).unwrap();
    let mut s3 = n3.client();
    s3.sub("fo.x", 1);
    s3.sync();

    n1.kill();
    // The client reconnects to n2 or n3 on its own; publish until n3's subscriber gets one.
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let _ = rt.block_on(client.publish("fo.x", "after-kill".into()));
        if s3.next_msg(Duration::from_millis(200)).is_some() {
            break;
        }
        assert!(
            Instant::now() < end,
            "async-nats did not fail over from n1 within 15 s"
        );
    }
    let port = client.server_info().port;
    assert!(
        port == n2.cfg.client_port || port == n3.cfg.client_port,
        "reconnected to port {port}"
    );
    // Its subscription was renewed on the new server and gets messages from n3.
    let mut p3 = n3.client();
    loop {
        p3.publish("fo.back", "to-async");
        let got = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(200),
                futures::StreamExt::next(&mut back),
            )
            .await
        });
        if let Ok(Some(m)) = got {
            assert_eq!(m.payload, "to-async");
            break;
        }
        assert!(
            Instant::now() < end,
            "no message from n3 to the failed-over client"
        );
    }

    // n1 comes back on the same ports; the routes are re-established and interest resynced:
    // n3's subscription (made before the restart) gets n1's messages, once each.
    n1.restart();
    wait_for_mesh(&[&n1, &n2, &n3]);
    s3.msgs_for(QUIET);
    let mut p1 = n1.client();
    await_delivery(&mut p1, &mut s3, "fo.x");
    exactly_once(&mut p1, &mut s3, "fo.x", 20);
    // A new subscriber on n1 gets n2's messages, and the async-nats client's, once each.
    let mut s1 = n1.client();
    s1.sub("fo.y", 1);
    s1.sync();
    let mut p2 = n2.client();
    await_interest(&mut p2, &mut s1);
    exactly_once(&mut p2, &mut s1, "fo.y", 20);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        rt.block_on(client.publish("fo.y", "from-async".into()))
            .unwrap();
        rt.block_on(client.flush()).unwrap();
        if s1
            .next_msg_where(Duration::from_millis(200), |m| m.payload == "from-async")
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < end, "async-nats client does not reach n1");
    }
}

/// nats-py connects to one node (only that URL; the rest comes from connect_urls), SIGKILLs
/// it, and must keep working: a request answered on n3 and its own subscription.
const NATS_PY_FAILOVER: &str = r#"
import asyncio, os, signal, sys, time
import nats

async def main(url, pid, dead_port):
    nc = await nats.connect(servers=[url], user="a", password="a", connect_timeout=2,
                            reconnect_time_wait=0.2, max_reconnect_attempts=100)
    pool = [f"{s.hostname}:{s.port}" for s in nc.servers]
    assert len(pool) >= 3, f"nats-py did not learn the cluster: {pool}"
    sub = await nc.subscribe("py.self")
    await nc.publish("py.self", b"before")
    assert (await sub.next_msg(timeout=5)).data == b"before"
    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 15
    while True:
        try:
            reply = await nc.request("py.svc", b"ping", timeout=0.5)
            assert reply.data == b"pong", reply.data
            break
        except Exception:
            # timeouts, no responders, reconnecting: retry until the deadline
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    assert nc.connected_url.port != int(dead_port), nc.connected_url
    await nc.publish("py.self", b"after")
    assert (await sub.next_msg(timeout=5)).data == b"after"
    print(f"ok {nc.connected_url.port}")
    await nc.close()

asyncio.run(asyncio.wait_for(main(*sys.argv[1:4]), 30))
"#;

#[test]
fn failover_nats_py() {
    let [n1, n2, n3] = three_nodes();
    await_connect_urls(&n1, &[n1.client_addr(), n2.client_addr(), n3.client_addr()]);
    let mut responder = n3.client();
    responder.sub("py.svc", 1);
    responder.sync();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let answering = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while !stop2.load(Ordering::Relaxed) && Instant::now() < end {
            let request = responder.next_msg(Duration::from_millis(100));
            if let Some(reply) = request.and_then(|m| m.reply) {
                responder.publish(&reply, "pong");
            }
        }
    });
    let out = std::process::Command::new("python3")
        .args(["-c", NATS_PY_FAILOVER])
        .arg(n1.url())
        .arg(n1.server.pid().to_string())
        .arg(n1.cfg.client_port.to_string())
        .output()
        .expect("python3 (nats-py is installed by .ci/run)");
    stop.store(true, Ordering::Relaxed);
    answering.join().expect("responder thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok "),
        "nats-py failover failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port: u16 = stdout.trim()[3..].parse().unwrap();
    assert!(port == n2.cfg.client_port || port == n3.cfg.client_port);
}

const ROUTE_AUTH: &str = "authorization { user: ru, password: rp }";

/// A route CONNECT as nats-server sends it, with `extra` keys added or replaced.
fn route_connect(extra: Value) -> String {
    let mut c = json!({"echo": true, "verbose": false, "pedantic": false,
        "tls_required": false, "headers": true, "name": "NFAKEROUTEPEER", "cluster": "C1"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    format!("CONNECT {c}\r\n")
}

/// Sends `first` on a fresh connection to `node`'s route port (after its INFO) and returns
/// what the server wrote before closing.
fn refused(node: &Node, first: &str) -> String {
    let mut c = Conn::connect_addr(&node.cluster_addr());
    let info = info_json(&mut c);
    assert_eq!(info["server_name"], node.name());
    c.send(first.as_bytes());
    assert!(
        c.is_closed(3 * SEC),
        "{first:?} not refused; got {:?}",
        String::from_utf8_lossy(&c.buf)
    );
    String::from_utf8_lossy(&c.buf).into_owned()
}

#[test]
fn wrong_cluster_credentials_refused() {
    let n1 = Node::gannet(NodeConfig::new("n1").cluster_extra(ROUTE_AUTH));
    // The route INFO is sent at once and asks for credentials.
    let mut c = Conn::connect_addr(&n1.cluster_addr());
    let info = info_json(&mut c);
    assert_eq!(info["cluster"], "C1", "{info}");
    assert_eq!(info["auth_required"], true, "{info}");
    assert!(info["server_id"].is_string(), "{info}");
    if is_gannet() {
        assert!(
            info.get("route_pool_size").is_none(),
            "gannet does not pool: {info}"
        );
    }
    drop(c);

    let violation = "-ERR 'Authorization Violation'\r\n";
    let bad = route_connect(json!({"user": "ru", "pass": "bad"}));
    assert_eq!(refused(&n1, &bad), violation);
    assert_eq!(refused(&n1, &route_connect(json!({}))), violation);
    assert_eq!(refused(&n1, "INFO {}\r\n"), violation);
    assert_eq!(refused(&n1, "PING\r\n"), violation);
    // Credentials are checked first, then the kind of peer, then the cluster name.
    assert_eq!(
        refused(&n1, &route_connect(json!({"lang": "go"}))),
        violation
    );
    let good = json!({"user": "ru", "pass": "rp"});
    let with = |extra: Value| {
        let mut v = good.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        route_connect(v)
    };
    assert_eq!(
        refused(&n1, &with(json!({"lang": "go"}))),
        "-ERR 'attempted to connect to route port'\r\n"
    );
    assert_eq!(
        refused(&n1, &with(json!({"cluster": "X"}))),
        "-ERR 'Rejecting connection, cluster name \"X\" does not match \"C1\"'\r\n"
    );
    assert_eq!(
        refused(&n1, &with(json!({"gateway": "G"}))),
        "-ERR 'Rejecting connection from gateway \"G\" on the Route port'\r\n"
    );
    // The right credentials: the connection stays open (the server waits for our INFO).
    let mut ok = Conn::connect_addr(&n1.cluster_addr());
    info_json(&mut ok);
    ok.send(with(json!({})).as_bytes());
    assert!(
        !ok.is_closed(Duration::from_millis(500)),
        "valid route CONNECT refused: {:?}",
        String::from_utf8_lossy(&ok.buf)
    );
    drop(ok);

    // n2 dials with a wrong password and never gets a route; n3 has the right one.
    let wrong = format!("nats-route://ru:bad@{}", n1.cluster_addr());
    let right = format!("nats-route://ru:rp@{}", n1.cluster_addr());
    let n2 = Node::gannet(
        NodeConfig::new("n2")
            .cluster_extra(ROUTE_AUTH)
            .route(&wrong),
    );
    let n3 = Node::gannet(
        NodeConfig::new("n3")
            .cluster_extra(ROUTE_AUTH)
            .route(&right),
    );
    wait_for_mesh(&[&n1, &n3]);
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        let (peers, _) = n1.peers();
        assert_eq!(peers, names(&["n3"]), "n1 registered a refused route");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both keep serving clients.
    for node in [&n1, &n2] {
        let mut c = node.client();
        c.sub("self.check", 1);
        c.publish("self.check", "x");
        assert!(
            c.next_msg(5 * SEC).is_some(),
            "{} serves clients",
            node.name()
        );
    }
    check_pair(&n3, &n1);

    // A storm of refused route connections while clients keep working.
    let addr = n1.cluster_addr();
    let storm = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        let (mut done, mut checked, mut errs) = (0, 0, 0);
        while done < 500 && Instant::now() < end {
            let Ok(mut sock) = TcpStream::connect(addr.as_str()) else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = sock.write_all(bad.as_bytes());
            if done % 10 == 0 {
                let _ = sock.set_read_timeout(Some(2 * SEC));
                let mut got = Vec::new();
                let _ = sock.read_to_end(&mut got);
                checked += 1;
                if String::from_utf8_lossy(&got).contains("-ERR 'Authorization Violation'") {
                    errs += 1;
                }
            }
            done += 1;
        }
        (done, checked, errs)
    });
    let mut sub = n1.client();
    sub.sub("storm.check", 1);
    sub.sync();
    let mut publisher = n1.client();
    let mut rounds = 0;
    loop {
        let finished = storm.is_finished();
        publisher.publish("storm.check", &rounds.to_string());
        let m = sub
            .next_msg(3 * SEC)
            .unwrap_or_else(|| panic!("client traffic stalled during the storm (round {rounds})"));
        assert_eq!(m.payload, rounds.to_string());
        rounds += 1;
        if finished {
            break;
        }
    }
    let (done, checked, errs) = storm.join().expect("storm thread");
    assert_eq!(done, 500, "connections made within 20 s");
    assert_eq!(errs, checked, "every checked attempt was refused");
    assert_eq!(n1.peers().0, names(&["n3"]));
    assert_eq!(
        refused(&n1, &route_connect(json!({"user": "ru", "pass": "bad"}))),
        violation
    );
    check_pair(&n1, &n3);
}

/// The `/routez` entry keys (those always present), in nats-server's order.
const ROUTE_KEYS: &[&str] = &[
    "rid",
    "remote_id",
    "remote_name",
    "did_solicit",
    "is_configured",
    "ip",
    "port",
    "start",
    "last_activity",
    "uptime",
    "idle",
    "pending_size",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
];

fn subs_list(route: &Value) -> Vec<String> {
    route["subscriptions_list"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn routez_and_varz_cluster() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let (id1, id2) = (n1.server_id(), n2.server_id());
    let mut c = n2.client();
    c.sub("routez.subject", 1);
    c.qsub("routez.q", "grp", 2);
    c.sync();
    // n1 lists n2's client interest on its route from n2 (bounded wait: it crosses the route).
    let end = Instant::now() + Duration::from_secs(10);
    let rz = loop {
        let rz = n1.get_json("/routez?subs=1");
        let routes = rz["routes"].as_array().cloned().unwrap_or_default();
        if routes
            .iter()
            .any(|r| subs_list(r).iter().any(|s| s.as_str() == "routez.subject"))
        {
            break rz;
        }
        assert!(
            Instant::now() < end,
            "routez.subject not in n1's routez: {rz}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(rz["server_id"], id1.as_str());
    assert_eq!(rz["server_name"], "n1");
    let routes = rz["routes"].as_array().unwrap();
    assert_eq!(rz["num_routes"], routes.len());
    if is_gannet() {
        assert_eq!(routes.len(), 1, "one route connection per peer: {rz}");
    }
    let mut total_subs = 0;
    let mut listed = Vec::new();
    for r in routes {
        let keys: Vec<&str> = r
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .filter(|k| ROUTE_KEYS.contains(k))
            .collect();
        assert_eq!(keys, ROUTE_KEYS, "{r}");
        assert!(r["rid"].as_u64().is_some_and(|n| n > 0), "{r}");
        assert_eq!(r["remote_id"], id2.as_str(), "{r}");
        assert_eq!(r["remote_name"], "n2", "{r}");
        assert_eq!(r["did_solicit"], false, "n1 accepted the route: {r}");
        assert_eq!(r["is_configured"], false, "{r}");
        assert_eq!(r["ip"], "127.0.0.1", "{r}");
        assert!(r["port"].as_u64().is_some_and(|p| p > 0), "{r}");
        assert!(r["start"].is_string() && r["uptime"].is_string(), "{r}");
        assert!(r["pending_size"].is_u64() && r["in_msgs"].is_u64(), "{r}");
        total_subs += r["subscriptions"].as_u64().expect("subscriptions");
        listed.extend(subs_list(r));
    }
    assert!(total_subs >= 2, "n2's interest counted: {rz}");
    for subject in ["routez.q", "routez.subject"] {
        assert!(listed.iter().any(|s| s.as_str() == subject), "{listed:?}");
    }

    // n2 dialed n1's configured route; no subscription list without `subs`.
    let rz2 = n2.routez();
    let routes2 = rz2["routes"].as_array().unwrap();
    assert!(!routes2.is_empty());
    for r in routes2 {
        assert_eq!(r["remote_id"], id1.as_str(), "{r}");
        assert_eq!(r["remote_name"], "n1", "{r}");
        assert_eq!(r["did_solicit"], true, "{r}");
        assert_eq!(r["is_configured"], true, "{r}");
        assert_eq!(r["ip"], "127.0.0.1", "{r}");
        assert_eq!(r["port"], n1.cfg.cluster_port, "the seed's route port: {r}");
        assert!(r.get("subscriptions_list").is_none(), "{r}");
    }

    // /varz: the cluster block, the route count and both client URLs.
    for (node, rz) in [(&n1, &rz), (&n2, &rz2)] {
        let end = Instant::now() + 5 * SEC;
        let varz = loop {
            let varz = node.varz();
            let urls: Vec<String> = connect_urls(&varz);
            if urls.contains(&n1.client_addr()) && urls.contains(&n2.client_addr()) {
                break varz;
            }
            assert!(
                Instant::now() < end,
                "{}: varz connect_urls {urls:?}",
                node.name()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let cluster = &varz["cluster"];
        assert_eq!(cluster["name"], "C1", "{cluster}");
        assert_eq!(cluster["addr"], "127.0.0.1", "{cluster}");
        assert_eq!(cluster["cluster_port"], node.cfg.cluster_port, "{cluster}");
        assert_eq!(varz["routes"], rz["num_routes"], "{}", node.name());
    }
    let varz1 = n1.varz();
    let urls1 = &varz1["cluster"]["urls"];
    assert!(
        urls1.is_null() || urls1.as_array().is_some_and(|a| a.is_empty()),
        "n1 has no configured routes: {urls1}"
    );
    assert_eq!(
        n2.varz()["cluster"]["urls"],
        json!([n1.cluster_addr()]),
        "n2's configured route"
    );
}

#[test]
fn connect_urls_and_async_info() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    // Protocol-1 clients get async INFOs once they had their first PONG (Client::connect
    // waits for it); protocol-0 clients never do.
    let mut c = n1.client();
    let mut old = Client::connect(&n1.client_addr(), "a", "a", 0);
    let mut n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    let n2_addr = n2.client_addr();
    let end = Instant::now() + Duration::from_secs(10);
    let urls = loop {
        let left = end.saturating_duration_since(Instant::now());
        let info = c
            .next_info(left)
            .unwrap_or_else(|| panic!("no async INFO listing n2 ({n2_addr})"));
        let urls = connect_urls(&info);
        if urls.contains(&n2_addr) {
            break urls;
        }
    };
    assert_eq!(urls[0], n1.client_addr(), "own URL first: {urls:?}");
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(
        old.next_info(QUIET).is_none(),
        "a protocol-0 client gets no async INFO"
    );
    let fresh = n1.client();
    let mut greeting = connect_urls(&fresh.info);
    greeting.sort();
    let mut both = vec![n1.client_addr(), n2_addr.clone()];
    both.sort();
    assert_eq!(greeting, both);

    // n2 dies: an async INFO without its URL.
    n2.kill();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let info = c
            .next_info(left)
            .unwrap_or_else(|| panic!("no async INFO dropping n2 ({n2_addr})"));
        let urls = connect_urls(&info);
        if !urls.contains(&n2_addr) {
            assert_eq!(urls, vec![n1.client_addr()], "{info}");
            break;
        }
    }
}

/// A peer entering lame duck mode: the other node's protocol-1 clients get an async INFO
/// without its client URL (spec cluster.md §1.13), while its routes stay up for the clients
/// it still has.
#[test]
fn peer_lame_duck_drops_its_url() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let n1_addr = n1.client_addr();
    let mut watcher = n2.client();
    await_connect_urls(&n2, &[n2.client_addr(), n1_addr.clone()]);
    // A client stays on n1, so it does not shut down at once.
    let _stay = n1.client();
    n1.server.signal(libc_sigusr2());
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let info = watcher
            .next_info(left)
            .unwrap_or_else(|| panic!("no async INFO dropping n1 ({n1_addr})"));
        let urls = connect_urls(&info);
        if !urls.contains(&n1_addr) {
            assert_eq!(urls, vec![n2.client_addr()], "{info}");
            break;
        }
    }
}

/// SIGUSR2 (lame duck mode) on Linux.
fn libc_sigusr2() -> i32 {
    12
}

/// An account JWT with `conn: 2`, in operator mode on two nodes, one client on each: once
/// the nodes exchanged their account CONNS counts (an account's first client makes its server
/// ask the others, and every change is announced), a third client anywhere in the cluster is
/// refused with `maximum account active connections exceeded` (spec cluster.md §4.5).
#[test]
fn account_connection_limit_counts_the_whole_cluster() {
    use crate::util::jwt::{account_jwt, connect_jwt_addr, user_jwt};
    use nkeys::KeyPair;
    let (operator, sys, op_jwt, sys_jwt) = crate::util::jwt::operator_with_sys();
    let acc = KeyPair::new_account();
    let acc_jwt = account_jwt(&acc, "TWO", &operator, |a| {
        a.limits.conn = 2;
        a.limits.subs = -1;
        a.limits.data = -1;
        a.limits.payload = -1;
    });
    let auth = format!(
        "operator: \"{op_jwt}\"\nsystem_account: {s}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {s}: \"{sys_jwt}\"\n  {a}: \"{acc_jwt}\"\n}}\n",
        s = sys.public_key(),
        a = acc.public_key()
    );
    let n1 = Node::gannet(NodeConfig::new("n1").auth_block(&auth));
    let n2 = Node::gannet(NodeConfig::new("n2").auth_block(&auth).route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &acc, |_| {});
    let (_on_n2, line) = connect_jwt_addr(&n2.client_addr(), &token, &user);
    assert_eq!(line, "PONG");
    let (_on_n1, line) = connect_jwt_addr(&n1.client_addr(), &token, &user);
    assert_eq!(line, "PONG");
    // The counts cross the route as events right after each connect; give them a moment.
    std::thread::sleep(Duration::from_secs(2));
    for node in [&n2, &n1] {
        let (mut c, line) = connect_jwt_addr(&node.client_addr(), &token, &user);
        assert_eq!(
            line,
            "-ERR 'maximum account active connections exceeded'",
            "{}",
            node.name()
        );
        assert!(c.is_closed(2 * SEC));
    }
}

/// Route TLS material: a CA, and one certificate for `localhost`/`127.0.0.1` usable both as
/// the server's and as the dialing side's (route TLS is mutual, spec cluster.md §1.14).
pub(crate) struct RouteCerts {
    dir: std::path::PathBuf,
}

impl RouteCerts {
    pub(crate) fn new() -> RouteCerts {
        use rcgen::{
            BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        };
        let dir = std::env::temp_dir().join(format!("gannet-route-tls-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("route.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("route-key.pem"), key.serialize_pem()).unwrap();
        RouteCerts { dir }
    }

    /// The `tls {}` block for `cluster {}` (or a leaf listener or remote).
    pub(crate) fn block(&self) -> String {
        let p = |f: &str| self.dir.join(f).display().to_string();
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", timeout: 2 }}",
            p("route.pem"),
            p("route-key.pem"),
            p("ca.pem")
        )
    }
}

impl Drop for RouteCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Route TLS: two nodes mesh over TLS (mutual, CA-verified) and carry traffic both ways; a
/// plaintext peer on the route port gets nothing in the clear (TLS comes first) and is
/// closed.
#[test]
fn routes_over_tls() {
    let certs = RouteCerts::new();
    let n1 = Node::gannet(NodeConfig::new("n1").cluster_extra(&certs.block()));
    let n2 = Node::gannet(
        NodeConfig::new("n2")
            .cluster_extra(&certs.block())
            .route_to(&n1.cfg),
    );
    wait_for_mesh(&[&n1, &n2]);
    check_pair(&n1, &n2);
    check_pair(&n2, &n1);
    let mut plain = TcpStream::connect(n1.cluster_addr()).unwrap();
    plain
        .write_all(b"CONNECT {\"name\":\"x\",\"cluster\":\"C1\"}\r\nINFO {}\r\n")
        .unwrap();
    plain.set_read_timeout(Some(5 * SEC)).unwrap();
    let mut buf = [0u8; 256];
    // TLS first: no INFO in the clear; the handshake fails and the connection closes.
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"INFO"),
        "INFO in the clear: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// Route TLS between gannet and nats-server 2.15.1, both dialing directions.
#[test]
fn mixed_routes_over_tls() {
    let Some(reference) = require_reference() else {
        return;
    };
    let certs = RouteCerts::new();
    for gannet_dials in [true, false] {
        let (g, n) = if gannet_dials {
            let n = Node::start(
                NodeConfig::new("r1").cluster_extra(&certs.block()),
                &reference,
            );
            let g = Node::gannet(
                NodeConfig::new("g1")
                    .cluster_extra(&certs.block())
                    .route_to(&n.cfg),
            );
            (g, n)
        } else {
            let g = Node::gannet(NodeConfig::new("g1").cluster_extra(&certs.block()));
            let n = Node::start(
                NodeConfig::new("r1")
                    .cluster_extra(&certs.block())
                    .route_to(&g.cfg),
                &reference,
            );
            (g, n)
        };
        wait_for_mesh(&[&g, &n]);
        check_pair(&g, &n);
        check_pair(&n, &g);
    }
}

/// `cluster.permissions` on n1: it asks its peers only for subjects its `import` allows, and
/// ignores their interest in subjects its `export` does not allow (nats-server `canImport`,
/// `canExport`; spec cluster.md §1.12). `$SYS` and inbox traffic stays allowed.
#[test]
fn route_permissions_import_and_export() {
    let perms =
        "permissions { import: { allow: [\"imp.>\", \"$SYS.>\", \"_INBOX.>\", \"_probe.>\"] }, \
                 export: { allow: [\"exp.>\", \"$SYS.>\", \"_INBOX.>\", \"_probe.>\"] } }";
    let n1 = Node::gannet(NodeConfig::new("n1").cluster_extra(perms));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    // Import: n1's subscribers on other.a are never announced, so n2 sends nothing for them.
    let (mut on1, mut on2) = (n1.client(), n2.client());
    on1.sub("imp.a", 1);
    on1.sub("other.a", 2);
    on1.sync();
    await_delivery(&mut on2, &mut on1, "imp.a");
    on2.publish("other.a", "no");
    on2.publish("imp.a", "yes");
    let got = on1.msgs_until("imp.a");
    assert_eq!(
        got.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
        ["imp.a"],
        "{got:?}"
    );
    // Export: n2's interest in noexp.b is ignored by n1, so n1 sends nothing for it.
    on2.sub("exp.b", 3);
    on2.sub("noexp.b", 4);
    on2.sync();
    await_delivery(&mut on1, &mut on2, "exp.b");
    on1.publish("noexp.b", "no");
    on1.publish("exp.b", "yes");
    let got = on2.msgs_until("exp.b");
    assert_eq!(
        got.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
        ["exp.b"],
        "{got:?}"
    );
    // The route INFO advertises them.
    let mut raw = TcpStream::connect(n1.cluster_addr()).unwrap();
    raw.set_read_timeout(Some(5 * SEC)).unwrap();
    let mut buf = vec![0u8; 8192];
    let n = raw.read(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    let info: Value = serde_json::from_str(line.trim_start_matches("INFO ").trim()).unwrap();
    assert_eq!(info["import"]["allow"][0], "imp.>", "{info}");
    assert_eq!(info["export"]["allow"][0], "exp.>", "{info}");
}

/// A reload that adds a route: the server dials it and the two nodes mesh (nats-server
/// `clusterOption` adding routes).
#[test]
fn reload_adds_a_route() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2"));
    assert_eq!(n2.routez()["num_routes"], 0);
    let with_route = n2.cfg.clone().route_to(&n1.cfg);
    std::fs::write(n2.server.dir.join("gannet.conf"), with_route.text()).unwrap();
    n2.server.signal(1); // SIGHUP
    wait_for_mesh(&[&n1, &n2]);
    check_pair(&n1, &n2);
}

/// Both nodes list each other as routes: they dial each other at once and one connection per
/// pair survives (the other is closed as a duplicate, spec cluster.md §1.8); traffic flows.
#[test]
fn mutual_routes_settle_on_one_connection() {
    let c1 = NodeConfig::new("n1");
    let c2 = NodeConfig::new("n2");
    let (c1, c2) = (c1.clone().route_to(&c2), c2.route_to(&c1));
    let n1 = Node::gannet(c1);
    let n2 = Node::gannet(c2);
    wait_for_mesh(&[&n1, &n2]);
    check_pair(&n1, &n2);
    if is_gannet() {
        await_num_routes(&n1, 1);
        await_num_routes(&n2, 1);
    }
}

/// `$SYS.REQ.SERVER.<id>.VARZ` is answered by that server only, wherever the requester is;
/// a server shutting down cleanly is forgotten by the others at once (its SHUTDOWN event):
/// STATSZ `active_servers` drops.
#[test]
fn server_addressed_requests_and_shutdown() {
    let [n1, n2, mut n3] = three_nodes();
    await_ping(&n1, 3);
    let id3 = n3.server_id();
    let mut sys = n1.sys_client();
    let replies = request_all(&mut sys, &format!("$SYS.REQ.SERVER.{id3}.VARZ"), 1);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["server"]["name"], "n3");
    assert_eq!(replies[0]["data"]["server_name"], "n3");
    n3.server.signal(15); // SIGTERM: SHUTDOWN event, then exit
    let _ = n3.server.wait_exit(10 * SEC);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let replies = request_all(&mut sys, "$SYS.REQ.SERVER.PING", 2);
        let active: Vec<u64> = replies
            .iter()
            .map(|r| r["statsz"]["active_servers"].as_u64().unwrap_or(0))
            .collect();
        if replies.len() == 2 && active.iter().all(|a| *a == 2) {
            break;
        }
        assert!(
            Instant::now() < end,
            "active_servers after n3's shutdown: {active:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(n2);
}

/// A route peer that stops reading: the local subscriber of the same subject gets every
/// message at full speed and is never dropped; the stuck route is not closed for its
/// pending bytes (nats-server keeps buffering for a route, far beyond `max_pending`, and
/// drops it only when it stops answering PINGs).
#[test]
fn stuck_route_does_not_cost_local_subscribers() {
    let n1 = Node::gannet(NodeConfig::new("n1").cluster_extra("").auth_block(
        "max_pending: 1MB\naccounts {\n  SYS { users: [ {user: sys, password: sys} ] }\n  \
         A { users: [ {user: a, password: a} ] }\n}\nsystem_account: SYS\n",
    ));
    // The fake peer: handshake, interest in `flood`, then it never reads again.
    let end = Instant::now() + 5 * SEC;
    let mut peer = loop {
        // nats-server opens its route port after the monitoring one.
        match TcpStream::connect(n1.cluster_addr()) {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < end, "route port: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    peer.write_all(
        b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\
          \"headers\":true,\"name\":\"NFAKEPEER\",\"cluster\":\"C1\"}\r\n\
          INFO {\"server_id\":\"NFAKEPEER\",\"server_name\":\"fake\",\"version\":\"2.15.1\",\
          \"proto\":1,\"host\":\"127.0.0.1\",\"port\":1,\"headers\":true,\"max_payload\":1048576,\
          \"cluster\":\"C1\"}\r\nRS+ A flood\r\n",
    )
    .unwrap();
    let mut sub = n1.client();
    sub.sub("flood", 1);
    sub.sync();
    // The route is registered (its RS+ counted) before the flood starts.
    let end = Instant::now() + Duration::from_secs(10);
    while n1.routez()["routes"][0]["subscriptions"] != 1 {
        assert!(Instant::now() < end, "fake route not registered");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Well beyond what the kernel socket buffers of the stuck peer absorb.
    let total = 32_000usize;
    let payload = "x".repeat(1024);
    let addr = n1.client_addr();
    let publisher = std::thread::spawn(move || {
        let mut p = Client::connect(&addr, "a", "a", 1);
        for _ in 0..total {
            p.publish("flood", &payload);
        }
        p.sync();
    });
    let mut got = 0usize;
    let end = Instant::now() + Duration::from_secs(30);
    while got < total {
        let left = end.saturating_duration_since(Instant::now());
        match sub.next_msg(left) {
            Some(m) if m.subject == "flood" => got += 1,
            Some(_) => {}
            None => break,
        }
    }
    publisher.join().unwrap();
    assert_eq!(got, total, "the local subscriber got every message");
    sub.sync();
    let routez = n1.routez();
    assert_eq!(routez["num_routes"], 1, "{routez}");
    let pending = routez["routes"][0]["pending_size"].as_u64().unwrap_or(0);
    assert!(pending > 1024 * 1024, "over max_pending, kept: {routez}");
    drop(peer);
}

/// A service import across servers: the requester (account B, importing `svc` from A) is on
/// n1, the responder (account A) on n2; the request crosses as A's, and the reply comes back
/// through B's response entry, which n1 announced to its routes.
#[test]
fn service_import_across_servers() {
    let auth = "accounts {\n  SYS { users: [ {user: sys, password: sys} ] }\n  \
                A { users: [ {user: a, password: a} ], exports: [ {service: svc} ] }\n  \
                B { users: [ {user: b, password: b} ], imports: [ {service: {account: A, subject: svc}} ] }\n}\n\
                system_account: SYS\n";
    let n1 = Node::gannet(NodeConfig::new("n1").auth_block(auth));
    let n2 = Node::gannet(NodeConfig::new("n2").auth_block(auth).route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let mut responder = n2.client();
    responder.sub("svc", 1);
    responder.sync();
    let mut requester = Client::connect(&n1.client_addr(), "b", "b", 1);
    requester.sub("_INBOX.svc.>", 1);
    requester.sync();
    let end = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let inbox = format!("_INBOX.svc.{n}");
        requester.publish_reply("svc", &inbox, "ping");
        if let Some(req) =
            responder.next_msg_where(Duration::from_millis(200), |m| m.subject == "svc")
        {
            let reply = req.reply.clone().expect("the request has a reply subject");
            responder.publish(&reply, "pong");
            let answer = requester
                .next_msg_where(5 * SEC, |m| m.subject.starts_with("_INBOX.svc."))
                .expect("the reply came back across the route");
            assert_eq!(answer.payload, "pong");
            break;
        }
        assert!(Instant::now() < end, "the request never reached n2");
    }
}

/// A nats-server 2.15.1 node dialing with wrong route credentials redials in a tight loop
/// against a peer that does not pool routes (spec cluster.md §9.6): gannet absorbs the storm
/// and keeps serving its clients. The other way round, gannet dialing with wrong
/// credentials backs off (about one attempt a second, as nats-server does for a configured
/// route), so the Go node logs only a handful of refusals.
#[test]
fn wrong_route_credentials_storm_and_backoff() {
    let Some(reference) = require_reference() else {
        return;
    };
    let n1 = Node::gannet(NodeConfig::new("n1").cluster_extra(ROUTE_AUTH));
    let bad = format!("nats-route://ru:wrong@127.0.0.1:{}", n1.cfg.cluster_port);
    let r1 = Node::start(NodeConfig::new("r1").route(&bad), &reference);
    let mut sub = n1.client();
    sub.sub("alive", 1);
    sub.sync();
    let mut publisher = n1.client();
    let end = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    while Instant::now() < end {
        n += 1;
        publisher.publish("alive", &n.to_string());
        let got = sub.next_msg_where(2 * SEC, |m| m.subject == "alive");
        assert_eq!(
            got.map(|m| m.payload),
            Some(n.to_string()),
            "n1 stopped serving"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(n1.routez()["num_routes"], 0);
    drop(r1);

    // gannet dials a nats-server node that wants other credentials.
    let r2 = Node::start(NodeConfig::new("r2").cluster_extra(ROUTE_AUTH), &reference);
    let bad = format!("nats-route://ru:wrong@127.0.0.1:{}", r2.cfg.cluster_port);
    let g = Node::gannet(NodeConfig::new("g2").route(&bad));
    std::thread::sleep(Duration::from_secs(3));
    let refusals = r2
        .server
        .log
        .lock()
        .unwrap()
        .matches("authentication error")
        .count();
    assert!(
        (1..=10).contains(&refusals),
        "{refusals} refused attempts in 3 s"
    );
    drop(g);
}

/// Without `cluster.name` each server generates one; when they meet, the greater generated
/// name wins and the other server adopts it (nats-server's dynamic cluster names, spec
/// cluster.md §1.5.3): three unnamed nodes, gannet and nats-server mixed when the reference
/// is there, end up as one cluster.
#[test]
fn unnamed_clusters_agree_on_a_name() {
    let n1 = Node::gannet(NodeConfig::new("n1").unnamed());
    let n2 = Node::gannet(NodeConfig::new("n2").unnamed().route_to(&n1.cfg));
    let reference = crate::util::cluster::reference_bin();
    let n3 = match &reference {
        Some(bin) => Node::start(NodeConfig::new("n3").unnamed().route_to(&n1.cfg), bin),
        None => Node::gannet(NodeConfig::new("n3").unnamed().route_to(&n1.cfg)),
    };
    wait_for_mesh(&[&n1, &n2, &n3]);
    check_pair(&n2, &n3);
    let names: BTreeSet<String> = [&n1, &n2, &n3]
        .iter()
        .map(|n| {
            n.varz()["cluster"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    if is_gannet() {
        assert_eq!(names.len(), 1, "one cluster name: {names:?}");
    }
}

/// Operator mode with full resolvers on two nodes: an account JWT pushed with
/// `$SYS.REQ.CLAIMS.UPDATE` on n1 is stored by both (two `jwt updated` answers), and a user of
/// that account can then log in on n2 (spec cluster.md §4.6).
#[test]
fn claims_update_reaches_every_server() {
    use crate::util::jwt::{account_jwt, connect_jwt_addr, user_jwt};
    use nkeys::KeyPair;
    let (operator, sys, op_jwt, sys_jwt) = crate::util::jwt::operator_with_sys();
    let dirs: Vec<std::path::PathBuf> = (0..2)
        .map(|i| std::env::temp_dir().join(format!("gannet-cluster-full-{}-{i}", unique())))
        .collect();
    let auth = |dir: &std::path::Path| {
        format!(
            "operator: \"{op_jwt}\"\nsystem_account: {s}\n\
             resolver: {{ type: full, dir: \"{}\" }}\nresolver_preload: {{\n  {s}: \"{sys_jwt}\"\n}}\n",
            dir.display(),
            s = sys.public_key()
        )
    };
    let n1 = Node::gannet(NodeConfig::new("n1").auth_block(&auth(&dirs[0])));
    let n2 = Node::gannet(
        NodeConfig::new("n2")
            .auth_block(&auth(&dirs[1]))
            .route_to(&n1.cfg),
    );
    wait_for_mesh(&[&n1, &n2]);
    let admin_key = KeyPair::new_user();
    let admin_jwt = user_jwt(&admin_key, &sys, |_| {});
    let (mut admin, line) = connect_jwt_addr(&n1.client_addr(), &admin_jwt, &admin_key);
    assert_eq!(line, "PONG");
    let acc = KeyPair::new_account();
    let acc_jwt = account_jwt(&acc, "NEW", &operator, |a| {
        a.limits.conn = -1;
        a.limits.subs = -1;
        a.limits.data = -1;
        a.limits.payload = -1;
    });
    // The update reaches n2 once n2's interest in CLAIMS.UPDATE is known on n1: retry until
    // both servers answer (bounded).
    let end = Instant::now() + Duration::from_secs(10);
    let mut attempt = 0;
    let answers = loop {
        attempt += 1;
        let inbox = format!("_INBOX.claims.{attempt}");
        admin.send(
            format!(
                "SUB {inbox} {attempt}\r\nPUB $SYS.REQ.CLAIMS.UPDATE {inbox} {}\r\n{acc_jwt}\r\nPING\r\n",
                acc_jwt.len()
            )
            .as_bytes(),
        );
        let text =
            String::from_utf8_lossy(&admin.drain_for(Duration::from_millis(700))).to_string();
        let answers = text.matches("jwt updated").count();
        if answers >= 2 {
            break answers;
        }
        assert!(Instant::now() < end, "answers: {text}");
    };
    assert_eq!(answers, 2);
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &acc, |_| {});
    let (_c, line) = connect_jwt_addr(&n2.client_addr(), &token, &user);
    assert_eq!(line, "PONG", "the account pushed on n1 is known on n2");
    assert!(dirs[1].join(format!("{}.jwt", acc.public_key())).exists());
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A stream import across servers (B imports `news.>` from A): a message published in A on
/// one node reaches B's subscriber on another exactly once, both ways, and in a mixed cluster
/// with nats-server 2.15.1 too (each server maps an imported stream for its own
/// subscribers).
#[test]
fn stream_import_across_servers() {
    let auth = "accounts {\n  SYS { users: [ {user: sys, password: sys} ] }\n  \
                A { users: [ {user: a, password: a} ], exports: [ {stream: \"news.>\"} ] }\n  \
                B { users: [ {user: b, password: b} ], imports: [ {stream: {account: A, subject: \"news.>\"}} ] }\n}\n\
                system_account: SYS\n";
    let reference = crate::util::cluster::reference_bin();
    let mut pairs: Vec<(Node, Node)> = Vec::new();
    let g1 = Node::gannet(NodeConfig::new("g1").auth_block(auth));
    let g2 = Node::gannet(NodeConfig::new("g2").auth_block(auth).route_to(&g1.cfg));
    pairs.push((g1, g2));
    if let Some(bin) = &reference {
        let g = Node::gannet(NodeConfig::new("g3").auth_block(auth));
        let r = Node::start(NodeConfig::new("r3").auth_block(auth).route_to(&g.cfg), bin);
        pairs.push((g, r));
    }
    for (x, y) in &pairs {
        wait_for_mesh(&[x, y]);
        for (publisher, subscriber) in [(x, y), (y, x)] {
            let mut sub = Client::connect(&subscriber.client_addr(), "b", "b", 1);
            sub.sub("news.>", 1);
            sub.sync();
            let mut publ = Client::connect(&publisher.client_addr(), "a", "a", 1);
            await_delivery(&mut publ, &mut sub, "news.probe");
            publ.publish("news.one", "1");
            publ.publish("news.fence", "f");
            let got = sub.msgs_until("news.fence");
            let subjects: Vec<&str> = got.iter().map(|m| m.subject.as_str()).collect();
            assert_eq!(
                subjects,
                ["news.one", "news.fence"],
                "{} -> {}: exactly once",
                publisher.name(),
                subscriber.name()
            );
            assert!(sub.msgs_for(QUIET).is_empty(), "no duplicate");
        }
    }
}

/// Full resolvers synchronise through `$SYS.REQ.CLAIMS.PACK` (a queue request, group
/// `responder`): an account JWT preloaded on n1 only is in n2's store after a pack interval,
/// and a user of it can log in on n2 (spec cluster.md §4.6); n1 is gannet, then nats-server.
#[test]
fn full_resolvers_sync_by_pack() {
    full_resolvers_sync(&crate::util::bin());
    if let Some(reference) = require_reference() {
        full_resolvers_sync(&reference);
    }
}

fn full_resolvers_sync(n1_bin: &str) {
    use crate::util::jwt::{account_jwt, connect_jwt_addr, user_jwt};
    use nkeys::KeyPair;
    let (operator, sys, op_jwt, sys_jwt) = crate::util::jwt::operator_with_sys();
    let acc = KeyPair::new_account();
    let acc_jwt = account_jwt(&acc, "ONLY1", &operator, |a| {
        a.limits.conn = -1;
        a.limits.subs = -1;
        a.limits.data = -1;
        a.limits.payload = -1;
    });
    let dirs: Vec<std::path::PathBuf> = (0..2)
        .map(|i| std::env::temp_dir().join(format!("gannet-cluster-pack-{}-{i}", unique())))
        .collect();
    let auth = |dir: &std::path::Path, extra: &str| {
        format!(
            "operator: \"{op_jwt}\"\nsystem_account: {s}\n\
             resolver: {{ type: full, dir: \"{}\", interval: \"1s\" }}\n\
             resolver_preload: {{\n  {s}: \"{sys_jwt}\"\n{extra}}}\n",
            dir.display(),
            s = sys.public_key()
        )
    };
    let only_n1 = format!("  {}: \"{acc_jwt}\"\n", acc.public_key());
    let n1 = Node::start(
        NodeConfig::new("n1").auth_block(&auth(&dirs[0], &only_n1)),
        n1_bin,
    );
    let n2 = Node::gannet(
        NodeConfig::new("n2")
            .auth_block(&auth(&dirs[1], ""))
            .route_to(&n1.cfg),
    );
    wait_for_mesh(&[&n1, &n2]);
    let stored = dirs[1].join(format!("{}.jwt", acc.public_key()));
    let end = Instant::now() + Duration::from_secs(15);
    while !stored.exists() {
        assert!(Instant::now() < end, "n2 never got the JWT by pack");
        std::thread::sleep(Duration::from_millis(100));
    }
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &acc, |_| {});
    let (_c, line) = connect_jwt_addr(&n2.client_addr(), &token, &user);
    assert_eq!(line, "PONG");
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// An account user's own `$SYS.REQ.ACCOUNT.PING.CONNZ` and `…PING.STATZ` are mapped into the
/// system account (`$SYS.REQ.ACCOUNT.A.CONNZ`) and answered by the servers of the cluster,
/// each answer coming back through the account's response entry.
#[test]
fn account_scoped_ping_across_servers() {
    let [n1, n2, n3] = three_nodes();
    await_ping(&n1, 3);
    let mut clients: Vec<Client> = [&n1, &n2, &n3].iter().map(|n| n.client()).collect();
    let asker = &mut clients[1];
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let replies = request_all(asker, "$SYS.REQ.ACCOUNT.PING.CONNZ", 3);
        let got = reply_names(&replies);
        if got == names(&["n1", "n2", "n3"]) {
            assert_eq!(replies.len(), 3, "one reply per server");
            for r in &replies {
                assert_eq!(r["data"]["num_connections"], 1, "{r}");
            }
            break;
        }
        assert!(Instant::now() < end, "CONNZ replies from {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let statz = request_all(asker, "$SYS.REQ.ACCOUNT.PING.STATZ", 3);
    assert_eq!(reply_names(&statz), names(&["n1", "n2", "n3"]));
}

/// A routed message naming a queue group that has no member on the receiving server (stale
/// interest at its sender) is not lost: the receiver hands it to a member on another route
/// (spec cluster.md §1.11.3 step 4). The sender here is a fake route peer.
#[test]
fn routed_queue_message_takes_a_second_hop() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let mut member = n2.client();
    member.qsub("work", "grp", 1);
    member.sync();
    // n1 knows the member (a plain probe on the same connection crosses after it).
    let mut probe_pub = n1.client();
    await_interest(&mut probe_pub, &mut member);
    let mut peer = TcpStream::connect(n1.cluster_addr()).unwrap();
    peer.write_all(
        b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\
          \"headers\":true,\"name\":\"NFAKEPEER2\",\"cluster\":\"C1\"}\r\n\
          INFO {\"server_id\":\"NFAKEPEER2\",\"server_name\":\"fake\",\"version\":\"2.15.1\",\
          \"proto\":1,\"host\":\"127.0.0.1\",\"port\":1,\"headers\":true,\"max_payload\":1048576,\
          \"cluster\":\"C1\"}\r\n",
    )
    .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !n1.peers().0.contains("fake") {
        assert!(Instant::now() < end, "fake peer not registered");
        std::thread::sleep(Duration::from_millis(50));
    }
    peer.write_all(b"RMSG A work | grp 3\r\nhop\r\n").unwrap();
    let got = member.next_msg_where(5 * SEC, |m| m.subject == "work");
    assert_eq!(got.map(|m| m.payload), Some("hop".to_string()));
    drop(peer);
}

/// A reload that narrows `cluster.permissions.import` withdraws the interest no longer
/// importable (`RS-`), so the peer stops sending it (nats-server `reloadClusterPermissions`).
#[test]
fn reload_applies_route_permissions() {
    let n1 = Node::gannet(NodeConfig::new("n1"));
    let n2 = Node::gannet(NodeConfig::new("n2").route_to(&n1.cfg));
    wait_for_mesh(&[&n1, &n2]);
    let (mut on1, mut on2) = (n1.client(), n2.client());
    on1.sub("imp.a", 1);
    on1.sub("keep.a", 2);
    on1.sync();
    await_delivery(&mut on2, &mut on1, "imp.a");
    await_delivery(&mut on2, &mut on1, "keep.a");
    let narrowed = n1.cfg.clone().cluster_extra(
        "permissions { import: { allow: [\"keep.>\", \"$SYS.>\", \"_INBOX.>\", \"_probe.>\"] } }",
    );
    std::fs::write(n1.server.dir.join("gannet.conf"), narrowed.text()).unwrap();
    n1.server.signal(1); // SIGHUP
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        on2.publish("imp.a", "after");
        on2.publish("keep.a", "fence");
        let got = on1.msgs_until("keep.a");
        if got.iter().all(|m| m.subject != "imp.a") {
            break;
        }
        assert!(
            Instant::now() < end,
            "imp.a still delivered after the reload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
