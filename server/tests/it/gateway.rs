//! Gateways between clusters of real server processes (spec cluster.md §3): a gannet cluster
//! and a nats-server 2.15.1 cluster joined into a super-cluster, and mixed clusters on both
//! sides. Messages, request/reply (mapped `_GR_.` replies), queue groups and the system
//! account's `PING` cross; the nats-server side sees every account interest-only.
//!
//! Every test also passes with `GANNET_TEST_BIN=nats-server`.

use crate::util::bin;
use crate::util::cluster::{
    await_delivery, await_interest, require_reference, unique, wait_for_mesh, Client, Node,
    NodeConfig,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

/// A node `name` of gateway `gw`, in a cluster named like the gateway unless `alone`. Its
/// ports are chosen now, so that the other side's configuration can name them.
fn gw_node(name: &str, gw: &str, alone: bool) -> NodeConfig {
    let mut cfg = NodeConfig::new(name);
    cfg.cluster_name = gw.to_string();
    if alone {
        cfg = cfg.no_cluster();
    }
    cfg
}

/// Adds the `gateway` block: listening on the node's gateway port, with explicit gateways to
/// `to` (name, gateway port of one of its nodes) and `more` inside the block.
fn with_gateway(cfg: NodeConfig, gw: &str, to: &[(&str, u16)], more: &str) -> NodeConfig {
    let remotes: Vec<String> = to
        .iter()
        .map(|(n, port)| format!("{{name: {n}, url: \"nats://127.0.0.1:{port}\"}}"))
        .collect();
    let port = cfg.gateway_port;
    cfg.extra(&format!(
        "gateway {{ name: {gw}, listen: \"127.0.0.1:{port}\", {more} gateways: [ {} ] }}",
        remotes.join(", ")
    ))
}

/// Waits (bounded) until `node`'s `/gatewayz` shows an outbound connection to each of
/// `gateways`.
fn wait_outbound(node: &Node, gateways: &[&str]) {
    let end = Instant::now() + 15 * SEC;
    loop {
        let gz = node.get_json("/gatewayz");
        let have = gz["outbound_gateways"]
            .as_object()
            .map(|o| o.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default();
        if gateways.iter().all(|g| have.contains(*g)) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{}: outbound gateways {have:?}, want {gateways:?}\nlog:\n{}",
            node.name(),
            node.server.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Request/reply from `asker` to a responder on `responder`'s connection: the request goes
/// through the gateway with a mapped reply, the answer comes back.
fn request_reply(asker: &mut Client, responder: &mut Client) {
    let n = unique();
    let (svc, inbox) = (format!("svc.{n}"), format!("_INBOX.gw.{n}"));
    responder.sub(&svc, unique());
    responder.sync();
    asker.sub(&inbox, unique());
    asker.sync();
    await_delivery(asker, responder, &svc);
    asker.publish_reply(&svc, &inbox, "ping");
    let req = responder.next_msg(5 * SEC).expect("request crossed");
    let reply = req.reply.clone().expect("a reply subject");
    assert!(
        !reply.starts_with("_GR_."),
        "the responder sees the reply as the requester wrote it: {reply}"
    );
    responder.publish(&reply, "pong");
    let answer = asker.next_msg(5 * SEC).expect("reply crossed back");
    assert_eq!(
        (answer.subject.as_str(), answer.payload.as_str()),
        (inbox.as_str(), "pong")
    );
}

/// A message with a header crosses from `from` to a subscriber on `to`.
fn cross_with_headers(from: &mut Client, to: &mut Client) {
    let subject = format!("cross.{}", unique());
    to.sub(&subject, unique());
    to.sync();
    await_delivery(from, to, &subject);
    from.publish_header(&subject, "X-Gw: 1", "hello");
    let m = to.next_msg(5 * SEC).expect("message crossed");
    assert_eq!(m.payload, "hello");
    assert!(
        m.headers.as_deref().is_some_and(|h| h.contains("X-Gw: 1")),
        "{m:?}"
    );
}

/// The names of the servers answering `$SYS.REQ.SERVER.PING` from `node` (bounded).
fn ping_names(node: &Node, want: usize) -> BTreeSet<String> {
    let mut sys = node.sys_client();
    let inbox = format!("_INBOX.ping.{}", unique());
    sys.sub(&inbox, 1);
    sys.sync();
    let end = Instant::now() + 10 * SEC;
    loop {
        sys.publish_reply("$SYS.REQ.SERVER.PING", &inbox, "");
        let names: BTreeSet<String> = sys
            .msgs_for(Duration::from_millis(700))
            .iter()
            .filter_map(|m| serde_json::from_str::<Value>(&m.payload).ok())
            .filter_map(|v| v["server"]["name"].as_str().map(String::from))
            .collect();
        if names.len() >= want || Instant::now() > end {
            return names;
        }
    }
}

/// GA (gannet) and GB (nats-server), one server each: messages, request/reply and a queue
/// group cross both ways, PING is answered by both, and nats-server sees every account of
/// GA interest-only.
#[test]
fn super_cluster_of_gannet_and_nats_server() {
    let Some(reference) = require_reference() else {
        return;
    };
    let (ga, gb) = (gw_node("ga1", "GA", true), gw_node("gb1", "GB", true));
    let (ga_port, gb_port) = (ga.gateway_port, gb.gateway_port);
    let ga = with_gateway(ga, "GA", &[("GB", gb_port)], "");
    let gb = with_gateway(gb, "GB", &[("GA", ga_port)], "");
    let (ga, gb) = (Node::gannet(ga), Node::start(gb, &reference));
    wait_outbound(&ga, &["GB"]);
    wait_outbound(&gb, &["GA"]);
    let (mut a, mut b) = (ga.client(), gb.client());
    cross_with_headers(&mut a, &mut b);
    cross_with_headers(&mut b, &mut a);
    request_reply(&mut a, &mut b);
    request_reply(&mut b, &mut a);
    // A queue group whose members are all on the other side gets every message once.
    let q = format!("q.{}", unique());
    b.qsub(&q, "workers", unique());
    b.sync();
    await_delivery(&mut a, &mut b, &q);
    for i in 0..5 {
        a.publish(&q, &format!("job {i}"));
    }
    let jobs: Vec<String> = (0..5)
        .map(|_| b.next_msg(5 * SEC).expect("queued job").payload)
        .collect();
    assert_eq!(jobs, ["job 0", "job 1", "job 2", "job 3", "job 4"]);
    for node in [&ga, &gb] {
        assert_eq!(ping_names(node, 2), ["ga1", "gb1"].map(String::from).into());
    }
    for node in [&ga, &gb] {
        let mut sys = node.sys_client();
        let inbox = format!("_INBOX.statsz.{}", unique());
        sys.sub(&inbox, unique());
        sys.sync();
        let id = node.server_id();
        sys.publish_reply(&format!("$SYS.REQ.SERVER.{id}.STATSZ"), &inbox, "");
        let m = sys.next_msg(5 * SEC).expect("STATSZ reply");
        let body: Value = serde_json::from_str(&m.payload).unwrap();
        let gws = &body["statsz"]["gateways"];
        let other = if node.name() == "ga1" { "GB" } else { "GA" };
        assert_eq!(gws[0]["name"], other, "{}: {body}", node.name());
        assert_eq!(gws[0]["inbound_connections"], 1, "{}: {body}", node.name());
    }
    let varz = ga.varz();
    assert_eq!(varz["gateway"]["name"], "GA", "{varz}");
    assert_eq!(varz["gateway"]["gateways"][0]["name"], "GB", "{varz}");
    let gz = gb.get_json("/gatewayz?accs=1");
    let accounts = gz["outbound_gateways"]["GA"]["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        accounts
            .iter()
            .any(|a| a["name"] == "A" && a["interest_mode"] == "Interest-Only"),
        "{gz}"
    );
}

/// Mixed clusters on both sides (GA: gannet + nats-server, GB: nats-server + gannet): a
/// client anywhere reaches a subscriber or responder anywhere in the other cluster, and PING
/// is answered by all four servers.
#[test]
fn mixed_super_cluster() {
    let Some(reference) = require_reference() else {
        return;
    };
    let (a1, b1) = (gw_node("a1", "GA", false), gw_node("b1", "GB", false));
    let (a1_gw, b1_gw) = (a1.gateway_port, b1.gateway_port);
    let a2 = with_gateway(gw_node("a2", "GA", false), "GA", &[("GB", b1_gw)], "").route_to(&a1);
    let b2 = with_gateway(gw_node("b2", "GB", false), "GB", &[("GA", a1_gw)], "").route_to(&b1);
    let a1 = with_gateway(a1, "GA", &[("GB", b1_gw)], "");
    let b1 = with_gateway(b1, "GB", &[("GA", a1_gw)], "");
    let a1 = Node::gannet(a1);
    let a2 = Node::start(a2, &reference);
    let b1 = Node::start(b1, &reference);
    let b2 = Node::gannet(b2);
    wait_for_mesh(&[&a1, &a2]);
    wait_for_mesh(&[&b1, &b2]);
    for node in [&a1, &a2] {
        wait_outbound(node, &["GB"]);
    }
    for node in [&b1, &b2] {
        wait_outbound(node, &["GA"]);
    }
    let pairs = [(&a1, &b2), (&a2, &b2), (&b2, &a1), (&b1, &a1), (&a1, &b1)];
    for (x, y) in pairs {
        let (mut cx, mut cy) = (x.client(), y.client());
        await_interest(&mut cx, &mut cy);
        request_reply(&mut cx, &mut cy);
    }
    let all: BTreeSet<String> = ["a1", "a2", "b1", "b2"].map(String::from).into();
    for node in [&a1, &b2] {
        assert_eq!(ping_names(node, 4), all, "PING from {}", node.name());
    }
    let _ = bin();
}

/// The inbound side's refusals, with nats-server's texts: a CONNECT without a gateway name
/// (a client on the gateway port), and `reject_unknown_cluster`.
#[test]
fn gateway_port_refusals() {
    let cfg = gw_node("solo", "GS", true);
    let port = cfg.gateway_port;
    let node = Node::gannet(with_gateway(
        cfg,
        "GS",
        &[],
        "reject_unknown_cluster: true,",
    ));
    let ask = |connect: &str| -> String {
        let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{port}"));
        let info = crate::util::info_json(&mut c);
        assert_eq!(info["gateway"], "GS", "{info}");
        c.send(format!("CONNECT {connect}\r\n").as_bytes());
        String::from_utf8_lossy(&c.drain_for(3 * SEC)).into_owned()
    };
    let got = ask(r#"{"verbose":false,"lang":"go","name":"x"}"#);
    assert!(
        got.contains("-ERR 'attempted to connect to gateway port'"),
        "{got:?}"
    );
    let got = ask(r#"{"echo":false,"name":"NX","cluster":"","gateway":"STRANGER"}"#);
    assert!(
        got.contains("-ERR 'Connection to gateway \"GS\" rejected'"),
        "{got:?}"
    );
    drop(node);
}

/// Implicit gateways: GB and GC (gannet) are each configured with GA (nats-server) only; GA
/// tells each about the other when they connect (gossip), so they dial each other and a
/// message from GB reaches a subscriber on GC. GC's gossip to GB is gannet's.
#[test]
fn gateways_learnt_by_gossip() {
    let Some(reference) = require_reference() else {
        return;
    };
    let (ga, gb, gc) = (
        gw_node("ga1", "GA", true),
        gw_node("gb1", "GB", true),
        gw_node("gc1", "GC", true),
    );
    let (pa, pb, pc) = (ga.gateway_port, gb.gateway_port, gc.gateway_port);
    let ga = with_gateway(ga, "GA", &[("GB", pb), ("GC", pc)], "");
    let gb = with_gateway(gb, "GB", &[("GA", pa)], "");
    let gc = with_gateway(gc, "GC", &[("GA", pa)], "");
    let ga = Node::start(ga, &reference);
    let gb = Node::gannet(gb);
    let gc = Node::gannet(gc);
    wait_outbound(&ga, &["GB", "GC"]);
    wait_outbound(&gb, &["GA", "GC"]);
    wait_outbound(&gc, &["GA", "GB"]);
    let (mut b, mut c) = (gb.client(), gc.client());
    cross_with_headers(&mut b, &mut c);
}

/// A queue group with members in both clusters: the publisher's cluster takes every
/// message (nats-server prefers local members; the other cluster is the fallback), and the
/// other cluster takes them once the local member is gone.
#[test]
fn queue_groups_prefer_the_local_cluster() {
    let Some(reference) = require_reference() else {
        return;
    };
    let (ga, gb) = (gw_node("ga1", "GA", true), gw_node("gb1", "GB", true));
    let (pa, pb) = (ga.gateway_port, gb.gateway_port);
    let ga = Node::gannet(with_gateway(ga, "GA", &[("GB", pb)], ""));
    let gb = Node::start(with_gateway(gb, "GB", &[("GA", pa)], ""), &reference);
    wait_outbound(&ga, &["GB"]);
    wait_outbound(&gb, &["GA"]);
    let (mut publisher, mut local, mut remote) = (ga.client(), ga.client(), gb.client());
    let q = format!("work.{}", unique());
    let (local_sid, remote_sid) = (unique(), unique());
    remote.qsub(&q, "grp", remote_sid);
    remote.sync();
    await_delivery(&mut publisher, &mut remote, &q);
    local.qsub(&q, "grp", local_sid);
    local.sync();
    for i in 0..20 {
        publisher.publish(&q, &format!("m{i}"));
    }
    publisher.sync();
    let at_local = local.msgs_for(Duration::from_millis(500)).len();
    let at_remote = remote.msgs_for(Duration::from_millis(200)).len();
    assert_eq!(
        (at_local, at_remote),
        (20, 0),
        "the local member takes them all"
    );
    local.unsub(local_sid);
    local.sync();
    publisher.publish(&q, "after");
    let m = remote
        .next_msg(5 * SEC)
        .expect("the other cluster's member is the fallback");
    assert_eq!(m.payload, "after");
}

/// With gateways, a hub publishes `$SYS.ACCOUNT.<acc>.LEAFNODE.CONNECT` when a leaf
/// connects (spec cluster.md §4.8).
#[test]
fn leafnode_connect_event_with_gateways() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = gw_node("hub", "GH", true);
    let leaf_port = hub.leaf_port;
    let hub = with_gateway(hub, "GH", &[], "").extra(&format!(
        "leafnodes {{ listen: \"127.0.0.1:{leaf_port}\", authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }} }}"
    ));
    let url = hub.leaf_url("leaf", "leaf");
    let hub = Node::gannet(hub);
    let mut sys = hub.sys_client();
    sys.sub("$SYS.ACCOUNT.A.LEAFNODE.CONNECT", 1);
    sys.sync();
    let leaf = NodeConfig::new("lf").no_cluster().extra(&format!(
        "leafnodes {{ remotes: [ {{ url: \"{url}\", account: A }} ] }}"
    ));
    let _leaf = Node::start(leaf, &reference);
    let m = sys
        .next_msg(10 * SEC)
        .expect("LEAFNODE.CONNECT from the hub");
    let body: Value = serde_json::from_str(&m.payload).unwrap();
    assert_eq!(body["acc"], "A");
    assert_eq!(body["server"]["name"], "hub");
}

/// Gateways over TLS (mutual and CA-verified, TLS first as on routes), gannet and
/// nats-server both ways.
#[test]
fn gateways_over_tls() {
    let Some(reference) = require_reference() else {
        return;
    };
    let certs = crate::cluster::RouteCerts::new();
    let block = certs.block();
    let (ga, gb) = (gw_node("ga1", "GA", true), gw_node("gb1", "GB", true));
    let (pa, pb) = (ga.gateway_port, gb.gateway_port);
    let ga = Node::gannet(with_gateway(ga, "GA", &[("GB", pb)], &format!("{block},")));
    let gb = Node::start(
        with_gateway(gb, "GB", &[("GA", pa)], &format!("{block},")),
        &reference,
    );
    wait_outbound(&ga, &["GB"]);
    wait_outbound(&gb, &["GA"]);
    let (mut a, mut b) = (ga.client(), gb.client());
    cross_with_headers(&mut a, &mut b);
    cross_with_headers(&mut b, &mut a);
}

/// Only one member of each cluster is configured with the other gateway; the others learn
/// it from their routes (the member that reached it tells them) and connect too, so every
/// server has its outbound connection.
#[test]
fn gateways_learnt_over_routes() {
    let Some(reference) = require_reference() else {
        return;
    };
    let (a1, b1) = (gw_node("a1", "GA", false), gw_node("b1", "GB", false));
    let (a1_gw, b1_gw) = (a1.gateway_port, b1.gateway_port);
    let a2 = with_gateway(gw_node("a2", "GA", false), "GA", &[], "").route_to(&a1);
    let b2 = with_gateway(gw_node("b2", "GB", false), "GB", &[], "").route_to(&b1);
    let a1 = with_gateway(a1, "GA", &[("GB", b1_gw)], "");
    let b1 = with_gateway(b1, "GB", &[("GA", a1_gw)], "");
    let a1 = Node::start(a1, &reference);
    let a2 = Node::gannet(a2);
    let b1 = Node::gannet(b1);
    let b2 = Node::start(b2, &reference);
    wait_for_mesh(&[&a1, &a2]);
    wait_for_mesh(&[&b1, &b2]);
    for node in [&a1, &a2] {
        wait_outbound(node, &["GB"]);
    }
    for node in [&b1, &b2] {
        wait_outbound(node, &["GA"]);
    }
    let (mut x, mut y) = (a2.client(), b2.client());
    request_reply(&mut x, &mut y);
}

/// Hostile bytes on the server-to-server ports (route, leaf, gateway): garbage, a client
/// CONNECT, ops before CONNECT, oversized control lines, a bad INFO after a good CONNECT.
/// Each connection is refused or closed, the server stays up, and a client's traffic goes
/// on.
#[test]
fn hostile_bytes_on_link_ports() {
    let cfg = gw_node("tough", "GT", false);
    let (route_port, leaf_port, gw_port) = (cfg.cluster_port, cfg.leaf_port, cfg.gateway_port);
    let cfg = with_gateway(cfg, "GT", &[], "").extra(&format!(
        "leafnodes {{ listen: \"127.0.0.1:{leaf_port}\" }}"
    ));
    let node = Node::gannet(cfg);
    let mut client = node.client();
    client.sub("still.here", unique());
    client.sync();
    let long_line = format!("LS+ {}\r\n", "x".repeat(200_000));
    let inputs: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe garbage\r\n".to_vec(),
        b"PING\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\n".to_vec(),
        b"CONNECT {\"verbose\":false,\"lang\":\"go\",\"name\":\"c\"}\r\nPING\r\n".to_vec(),
        b"CONNECT {not json\r\n".to_vec(),
        b"CONNECT {\"name\":\"N\",\"cluster\":\"GT\",\"gateway\":\"GX\"}\r\nINFO {\"gateway_cmd_payload\":\"!!\"}\r\n"
            .to_vec(),
        b"CONNECT {\"name\":\"N\",\"cluster\":\"L\"}\r\nLS+ a b\r\nLMSG foo 99999999999\r\n".to_vec(),
        b"CONNECT {}\r\nRMSG A foo 5\r\nhelloXX".to_vec(),
        long_line.into_bytes(),
    ];
    for port in [route_port, leaf_port, gw_port] {
        for input in &inputs {
            let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{port}"));
            c.send(input);
            // Whatever the answer, the server closes or keeps waiting; either way it lives.
            let _ = c.drain_for(Duration::from_millis(200));
        }
    }
    client.publish("still.here", "alive");
    let m = client
        .next_msg(5 * SEC)
        .expect("the server still serves clients");
    assert_eq!(m.payload, "alive");
    assert_eq!(node.varz()["server_name"], "tough");
}

/// A two-node gannet cluster and a two-node nats-server cluster joined by gateways with
/// `authorization` on both sides (credentials in the gateway URLs): request/reply between
/// every pair of servers across the gateways, and PING answered by all four.
#[test]
fn gannet_cluster_and_nats_server_cluster_with_credentials() {
    let Some(reference) = require_reference() else {
        return;
    };
    let auth = "authorization { user: gw, password: secret },";
    let with_creds = |cfg: NodeConfig, gw: &str, to: &[(&str, u16)]| {
        let remotes: Vec<String> = to
            .iter()
            .map(|(n, port)| format!("{{name: {n}, url: \"nats://gw:secret@127.0.0.1:{port}\"}}"))
            .collect();
        let port = cfg.gateway_port;
        cfg.extra(&format!(
            "gateway {{ name: {gw}, listen: \"127.0.0.1:{port}\", {auth} gateways: [ {} ] }}",
            remotes.join(", ")
        ))
    };
    let (a1, b1) = (gw_node("ga1", "GA", false), gw_node("gb1", "GB", false));
    let (a1_gw, b1_gw) = (a1.gateway_port, b1.gateway_port);
    let a2 = with_creds(gw_node("ga2", "GA", false), "GA", &[("GB", b1_gw)]).route_to(&a1);
    let b2 = with_creds(gw_node("gb2", "GB", false), "GB", &[("GA", a1_gw)]).route_to(&b1);
    let a1 = with_creds(a1, "GA", &[("GB", b1_gw)]);
    let b1 = with_creds(b1, "GB", &[("GA", a1_gw)]);
    let (a1, a2) = (Node::gannet(a1), Node::gannet(a2));
    let (b1, b2) = (Node::start(b1, &reference), Node::start(b2, &reference));
    wait_for_mesh(&[&a1, &a2]);
    wait_for_mesh(&[&b1, &b2]);
    for node in [&a1, &a2] {
        wait_outbound(node, &["GB"]);
    }
    for node in [&b1, &b2] {
        wait_outbound(node, &["GA"]);
    }
    for (x, y) in [(&a1, &b1), (&a2, &b2), (&b1, &a2), (&b2, &a1)] {
        let (mut cx, mut cy) = (x.client(), y.client());
        request_reply(&mut cx, &mut cy);
    }
    let all: BTreeSet<String> = ["ga1", "ga2", "gb1", "gb2"].map(String::from).into();
    assert_eq!(ping_names(&a2, 4), all);
}

/// Wrong gateway credentials are refused with `Authorization Violation`.
#[test]
fn gateway_credentials_are_checked() {
    let cfg = gw_node("guard", "GG", true);
    let port = cfg.gateway_port;
    let node = Node::gannet(with_gateway(
        cfg,
        "GG",
        &[],
        "authorization { user: gw, password: secret },",
    ));
    let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{port}"));
    let info = crate::util::info_json(&mut c);
    assert_eq!(info["auth_required"], true, "{info}");
    c.send(b"CONNECT {\"echo\":false,\"user\":\"gw\",\"pass\":\"wrong\",\"name\":\"NX\",\"cluster\":\"\",\"gateway\":\"GX\"}\r\n");
    let got = String::from_utf8_lossy(&c.drain_for(3 * SEC)).into_owned();
    assert!(got.contains("-ERR 'Authorization Violation'"), "{got:?}");
    drop(node);
}
