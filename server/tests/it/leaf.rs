//! Leaf node connections (spec cluster.md §2) between real server processes: gannet as the
//! hub of a nats-server 2.15.1 leaf, gannet as the leaf of a nats-server hub, and gannet on
//! both ends. Messages, request/reply, headers and queue groups cross both ways; deny rules
//! hold; a cycle of two leaf connections is detected.
//!
//! Every test also passes with `GANNET_TEST_BIN=nats-server` (then both ends are the
//! reference), which is how we know the assertions describe nats-server's behaviour.

use crate::util::bin;
use crate::util::cluster::{
    await_delivery, await_interest, require_reference, unique, Node, NodeConfig,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const SEC: Duration = Duration::from_secs(1);

/// A hub with a leaf listener whose user `leaf` (password `leaf`) binds to account `A`.
fn hub_config(name: &str) -> NodeConfig {
    let cfg = NodeConfig::new(name).no_cluster();
    let port = cfg.leaf_port;
    cfg.extra(&format!(
        "leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  authorization {{\n    users: [ {{user: leaf, password: leaf, account: A}}, {{user: lsys, password: lsys, account: SYS}} ]\n  }}\n}}"
    ))
}

/// A server soliciting `hub` for its account `A`, with `remote_extra` added to the remote.
fn leaf_config(name: &str, hub: &NodeConfig, remote_extra: &str) -> NodeConfig {
    let url = hub.leaf_url("leaf", "leaf");
    NodeConfig::new(name).no_cluster().extra(&format!(
        "leafnodes {{\n  reconnect: \"200ms\"\n  remotes: [ {{ url: \"{url}\", account: A {remote_extra} }} ]\n}}"
    ))
}

/// Waits (bounded) until `node`'s `/leafz` lists `n` connections, and returns it.
fn wait_leafz(node: &Node, n: u64) -> Value {
    let end = Instant::now() + 10 * SEC;
    loop {
        let leafz = node.get_json("/leafz");
        if leafz["leafnodes"] == n {
            return leafz;
        }
        assert!(
            Instant::now() < end,
            "{}: /leafz never showed {n} leaf connections: {leafz}\nlog:\n{}",
            node.name(),
            node.server.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `hub` with `hub_bin` and `leaf` with `leaf_bin`, and waits for the link.
fn link(hub: NodeConfig, hub_bin: &str, leaf: NodeConfig, leaf_bin: &str) -> (Node, Node) {
    let hub = Node::start(hub, hub_bin);
    let leaf = Node::start(leaf, leaf_bin);
    wait_leafz(&hub, 1);
    wait_leafz(&leaf, 1);
    (hub, leaf)
}

/// Messages, headers, request/reply and a queue group across the link, both ways.
fn traffic_crosses(hub: &Node, leaf: &Node) {
    let (mut h, mut l) = (hub.client(), leaf.client());
    let n = unique();
    // Leaf to hub, and hub to leaf.
    let (to_hub, to_leaf) = (format!("to.hub.{n}"), format!("to.leaf.{n}"));
    h.sub(&to_hub, unique());
    h.sync();
    await_delivery(&mut l, &mut h, &to_hub);
    l.publish(&to_hub, "hello hub");
    let m = h.next_msg(5 * SEC).expect("leaf -> hub");
    assert_eq!(
        (m.subject.as_str(), m.payload.as_str()),
        (to_hub.as_str(), "hello hub")
    );
    l.sub(&to_leaf, unique());
    l.sync();
    await_delivery(&mut h, &mut l, &to_leaf);
    h.publish_header(&to_leaf, "X-Gannet: leaf", "with headers");
    let m = l.next_msg(5 * SEC).expect("hub -> leaf");
    assert_eq!(m.payload, "with headers");
    assert!(
        m.headers
            .as_deref()
            .is_some_and(|h| h.contains("X-Gannet: leaf")),
        "headers lost: {m:?}"
    );
    // Request/reply both ways: a responder on the leaf for a requester on the hub, then the
    // other way round.
    request_across(&mut h, &mut l);
    request_across(&mut l, &mut h);
    // A queue group whose only member is on the hub gets every message from the leaf.
    let q = format!("q.{n}");
    h.qsub(&q, "workers", unique());
    h.sync();
    await_delivery(&mut l, &mut h, &q);
    for i in 0..5 {
        l.publish(&q, &format!("job {i}"));
    }
    let got: Vec<String> = (0..5)
        .map(|_| {
            h.next_msg(5 * SEC)
                .expect("queue member got the job")
                .payload
        })
        .collect();
    assert_eq!(got, ["job 0", "job 1", "job 2", "job 3", "job 4"]);
}

/// A request from `asker` answered by a responder on `responder`'s server.
fn request_across(
    asker: &mut crate::util::cluster::Client,
    responder: &mut crate::util::cluster::Client,
) {
    let n = unique();
    let (svc, inbox) = (format!("svc.{n}"), format!("_INBOX.leaf.{n}"));
    responder.sub(&svc, unique());
    responder.sync();
    asker.sub(&inbox, unique());
    asker.sync();
    await_interest(responder, asker);
    await_delivery(asker, responder, &svc);
    asker.publish_reply(&svc, &inbox, "ping");
    let req = responder.next_msg(5 * SEC).expect("request crossed");
    let reply = req.reply.clone().expect("request kept its reply subject");
    responder.publish(&reply, "pong");
    let answer = asker.next_msg(5 * SEC).expect("reply crossed back");
    assert_eq!(
        (answer.subject.as_str(), answer.payload.as_str()),
        (inbox.as_str(), "pong")
    );
}

/// The `/leafz` entries of both ends describe the link.
fn leafz_describes(hub: &Node, leaf: &Node) {
    let hub_side = wait_leafz(hub, 1);
    let entry = &hub_side["leafs"][0];
    assert_eq!(entry["name"], leaf.name());
    assert_eq!(entry["is_spoke"], false);
    assert_eq!(entry["account"], "A");
    let keys: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[..12],
        [
            "id",
            "name",
            "is_spoke",
            "account",
            "ip",
            "port",
            "rtt",
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "subscriptions"
        ]
    );
    let leaf_side = wait_leafz(leaf, 1);
    assert_eq!(leaf_side["leafs"][0]["name"], hub.name());
    assert_eq!(leaf_side["leafs"][0]["is_spoke"], true);
}

#[test]
fn nats_server_leaf_on_gannet_hub() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = hub_config("ghub");
    let leaf = leaf_config("goleaf", &hub, "");
    let (hub, leaf) = link(hub, &bin(), leaf, &reference);
    traffic_crosses(&hub, &leaf);
    leafz_describes(&hub, &leaf);
}

#[test]
fn gannet_leaf_on_nats_server_hub() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = hub_config("gohub");
    let leaf = leaf_config("gleaf", &hub, "");
    let (hub, leaf) = link(hub, &reference, leaf, &bin());
    traffic_crosses(&hub, &leaf);
    leafz_describes(&hub, &leaf);
}

#[test]
fn gannet_leaf_on_gannet_hub() {
    let hub = hub_config("hub");
    let leaf = leaf_config("leaf", &hub, "");
    let (hub, leaf) = link(hub, &bin(), leaf, &bin());
    traffic_crosses(&hub, &leaf);
    leafz_describes(&hub, &leaf);
}

/// `deny_exports` keeps a subject from leaving the leaf, `deny_imports` from entering it;
/// other subjects cross (against a nats-server hub, so the rules are ours to keep).
#[test]
fn deny_rules_hold_on_a_gannet_leaf() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = hub_config("denyhub");
    let leaf = leaf_config(
        "denyleaf",
        &hub,
        ", deny_exports: [\"secret.out\"], deny_imports: [\"secret.in\"]",
    );
    let (hub, leaf) = link(hub, &reference, leaf, &bin());
    let (mut h, mut l) = (hub.client(), leaf.client());
    h.sub("secret.out", 1);
    h.sub("open.out", 2);
    h.sync();
    l.sub("secret.in", 3);
    l.sub("open.in", 4);
    l.sync();
    await_delivery(&mut l, &mut h, "open.out");
    await_delivery(&mut h, &mut l, "open.in");
    l.publish("secret.out", "must not leave");
    h.publish("secret.in", "must not enter");
    l.publish("open.out", "fence-out");
    h.publish("open.in", "fence-in");
    let at_hub = h.next_msg(5 * SEC).expect("fence reached the hub");
    assert_eq!(at_hub.payload, "fence-out", "a denied export crossed");
    let at_leaf = l.next_msg(5 * SEC).expect("fence reached the leaf");
    assert_eq!(at_leaf.payload, "fence-in", "a denied import crossed");
}

/// Three servers each soliciting the next for account `A` form a cycle: a server's loop
/// detection subject comes back to it and the connection is refused (spec §2.9). Two
/// servers soliciting each other are no cycle: both links have the same remote cluster, and
/// interest never goes back to its cluster.
#[test]
fn a_ring_of_leaf_connections_is_detected() {
    let Some(reference) = require_reference() else {
        return;
    };
    let names = ["ringx", "ringy", "ringz"];
    let cfgs: Vec<NodeConfig> = names
        .iter()
        .map(|n| NodeConfig::new(n).no_cluster())
        .collect();
    let ring: Vec<NodeConfig> = (0..3)
        .map(|i| {
            let (me, next) = (&cfgs[i], &cfgs[(i + 1) % 3]);
            let text = format!(
                "leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }}\n  remotes: [ {{ url: \"{url}\", account: A }} ]\n}}",
                port = me.leaf_port,
                url = next.leaf_url("leaf", "leaf"),
            );
            me.clone().extra(&text)
        })
        .collect();
    let bins = [bin(), reference, bin()];
    let nodes: Vec<Node> = ring
        .into_iter()
        .zip(bins.iter())
        .map(|(cfg, b)| Node::start(cfg, b))
        .collect();
    let needle = "Loop detected for leafnode account=\"A\"";
    let end = Instant::now() + 15 * SEC;
    while Instant::now() < end {
        if nodes
            .iter()
            .any(|n| n.server.log.lock().unwrap().contains(needle))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}:\n{}", n.name(), n.server.log.lock().unwrap()))
        .collect();
    panic!("no loop detected\n{}", logs.join("\n"));
}

/// Wrong credentials get `Authorization Violation`, a client on the leaf port is told so,
/// and a leaf with the hub's own cluster name is refused (nats-server's texts).
#[test]
fn hub_refusals_as_nats_server() {
    let hub = hub_config("refuser").extra("cluster { name: HUBC, listen: \"127.0.0.1:-1\" }");
    let port = hub.leaf_port;
    let hub = Node::gannet(hub);
    let ask = |connect: &str| -> String {
        let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{port}"));
        let info = crate::util::info_json(&mut c);
        assert!(info["client_id"].as_u64().unwrap_or(0) > 0, "{info}");
        assert!(info["leafnode_urls"].is_array(), "{info}");
        c.send(format!("CONNECT {connect}\r\n").as_bytes());
        String::from_utf8_lossy(&c.drain_for(5 * SEC)).into_owned()
    };
    let got = ask(r#"{"user":"leaf","pass":"nope","name":"x","cluster":"L"}"#);
    assert!(got.contains("-ERR 'Authorization Violation'"), "{got:?}");
    let got = ask(r#"{"user":"leaf","pass":"leaf","lang":"go","name":"x"}"#);
    assert!(
        got.contains("-ERR 'attempted to connect to leaf node port'"),
        "{got:?}"
    );
    let got = ask(r#"{"user":"leaf","pass":"leaf","name":"x","cluster":"HUBC"}"#);
    assert!(
        got.contains("-ERR 'remote leafnode has same cluster name'"),
        "{got:?}"
    );
    drop(hub);
}

/// Silence is not a leaf: the hub gives up after the authorization timeout.
#[test]
fn hub_closes_a_silent_leaf_connection() {
    let hub = hub_config("silent");
    let port = hub.leaf_port;
    let _hub = Node::gannet(hub);
    let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{port}"));
    let _ = crate::util::info_json(&mut c);
    let got = String::from_utf8_lossy(&c.drain_for(5 * SEC)).into_owned();
    assert!(got.contains("-ERR 'Authentication Timeout'"), "{got:?}");
}

/// The hub reports a leaf connection as nats-server does: CONNZ lists it (`kind`
/// `Leafnode`), VARZ counts it, the account's CONNS events carry `leafnodes`, no CONNECT for a
/// leaf authenticated by the leaf authorization, and a DISCONNECT when it goes.
#[test]
fn hub_monitoring_and_events_for_a_leaf() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = Node::gannet(hub_config("evhub"));
    let mut sys = hub.sys_client();
    sys.sub("$SYS.ACCOUNT.A.>", 1);
    sys.sub("$SYS.SERVER.ACCOUNT.A.CONNS", 2);
    sys.sync();
    let mut leaf = Node::start(leaf_config("evleaf", &hub.cfg, ""), &reference);
    wait_leafz(&hub, 1);
    let conns = sys
        .next_msg_where(5 * SEC, |m| m.subject == "$SYS.SERVER.ACCOUNT.A.CONNS")
        .expect("CONNS on connect");
    let body: Value = serde_json::from_str(&conns.payload).unwrap();
    assert_eq!(
        (body["leafnodes"].as_i64(), body["total_conns"].as_i64()),
        (Some(1), Some(1))
    );
    let connz = hub.get_json("/connz");
    let entry = connz["connections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == "Leafnode"))
        .unwrap_or_else(|| panic!("no leaf in /connz: {connz}"));
    assert_eq!(entry["name"], "evleaf");
    assert!(
        entry.get("type").is_none() && entry.get("lang").is_none(),
        "{entry}"
    );
    let varz = hub.varz();
    assert_eq!(varz["leafnodes"], 1);
    assert_eq!(varz["connections"], 1, "the sys client only: {varz}");
    assert_eq!(varz["leaf"]["port"], hub.cfg.leaf_port);
    leaf.kill();
    let gone = sys
        .next_msg_where(5 * SEC, |m| m.subject == "$SYS.ACCOUNT.A.DISCONNECT")
        .expect("DISCONNECT of the leaf");
    let body: Value = serde_json::from_str(&gone.payload).unwrap();
    assert_eq!(body["client"]["kind"], "Leafnode");
    assert_eq!(body["client"]["name"], "evleaf");
    assert_eq!(body["client"]["user"], "leaf");
    assert_eq!(body["reason"], "Client Closed");
    let rest = sys.msgs_for(Duration::from_millis(300));
    assert!(
        rest.iter().all(|m| m.subject != "$SYS.ACCOUNT.A.CONNECT"),
        "no CONNECT for a leaf-authorization leaf: {rest:?}"
    );
}

/// The soliciting side reports its leaf connection with a CONNECT event of kind
/// `Leafnode`, and its `/varz` lists the remote.
#[test]
fn leaf_side_events_and_varz() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = Node::start(hub_config("evhub2"), &reference);
    let leaf_cfg = leaf_config("evleaf2", &hub.cfg, "");
    // Start the leaf with a long first wait so the test's subscriber is there first: the
    // dialer tries at once, so subscribe right after start and accept either order by
    // asking for the CONNECT that follows a reconnect when needed.
    let leaf = Node::gannet(leaf_cfg);
    let mut sys = leaf.sys_client();
    sys.sub("$SYS.ACCOUNT.A.CONNECT", 1);
    sys.sync();
    wait_leafz(&leaf, 1);
    // Kick the hub side's connection: the leaf redials and reports the new one.
    let hub_leafz = wait_leafz(&hub, 1);
    let cid = hub_leafz["leafs"][0]["id"].as_u64().unwrap();
    let mut hub_sys = hub.sys_client();
    let hub_id = hub.server_id();
    hub_sys.publish_reply(
        &format!("$SYS.REQ.SERVER.{hub_id}.KICK"),
        "_INBOX.kick",
        &format!("{{\"cid\":{cid}}}"),
    );
    let connect = sys
        .next_msg_where(10 * SEC, |m| m.subject == "$SYS.ACCOUNT.A.CONNECT")
        .expect("CONNECT of the redialed leaf connection");
    let body: Value = serde_json::from_str(&connect.payload).unwrap();
    assert_eq!(body["client"]["kind"], "Leafnode");
    assert_eq!(body["client"]["acc"], "A");
    assert!(body["client"].get("user").is_none(), "{body}");
    let varz = leaf.varz();
    assert_eq!(varz["leaf"]["remotes"][0]["local_account"], "A");
    assert_eq!(
        varz["leaf"]["remotes"][0]["urls"][0],
        format!("127.0.0.1:{}", hub.cfg.leaf_port)
    );
}

/// A remote bound to the system account on both sides joins the two systems: a PING from
/// either side is answered by both servers (spec cluster.md §2.10).
#[test]
fn system_account_across_a_leaf() {
    let Some(reference) = require_reference() else {
        return;
    };
    for (hub_bin, leaf_bin) in [(bin(), reference.clone()), (reference.clone(), bin())] {
        let hub = Node::start(hub_config("syshub"), &hub_bin);
        let url = hub.cfg.leaf_url("lsys", "lsys");
        let leaf_cfg = NodeConfig::new("sysleaf").no_cluster().extra(&format!(
            "leafnodes {{ reconnect: \"200ms\", remotes: [ {{ url: \"{url}\", account: SYS }} ] }}"
        ));
        let leaf = Node::start(leaf_cfg, &leaf_bin);
        wait_leafz(&hub, 1);
        for (asker, other) in [(&hub, &leaf), (&leaf, &hub)] {
            let mut sys = asker.sys_client();
            let inbox = format!("_INBOX.ping.{}", unique());
            sys.sub(&inbox, 1);
            sys.sync();
            // The reply interest must have crossed before the answers come back.
            let end = Instant::now() + 10 * SEC;
            let names = loop {
                sys.publish_reply("$SYS.REQ.SERVER.PING", &inbox, "");
                let got = sys.msgs_for(Duration::from_millis(500));
                let names: std::collections::BTreeSet<String> = got
                    .iter()
                    .filter_map(|m| serde_json::from_str::<Value>(&m.payload).ok())
                    .filter_map(|v| v["server"]["name"].as_str().map(String::from))
                    .collect();
                if names.len() == 2 || Instant::now() > end {
                    break names;
                }
            };
            let want: std::collections::BTreeSet<String> =
                [asker.name().to_string(), other.name().to_string()].into();
            assert_eq!(names, want, "PING from {} ({hub_bin} hub)", asker.name());
        }
    }
}

/// Operator mode: the leaf logs in to the hub with a credentials file (user JWT and seed
/// signing the hub's nonce) and is bound to the JWT's account, both roles against
/// nats-server (spec cluster.md §2.4.2, §2.5).
#[test]
fn credentials_leaf_in_operator_mode() {
    use crate::util::jwt::{connect_jwt_addr, creds, setup, user_jwt};
    let Some(reference) = require_reference() else {
        return;
    };
    for (hub_bin, leaf_bin) in [(bin(), reference.clone()), (reference.clone(), bin())] {
        let s = setup(None);
        let hub_cfg = NodeConfig::new("jwthub").no_cluster().auth_block(&s.conf);
        let port = hub_cfg.leaf_port;
        let hub = Node::start(
            hub_cfg.extra(&format!("leafnodes {{ listen: \"127.0.0.1:{port}\" }}")),
            &hub_bin,
        );
        let leaf_user = nkeys::KeyPair::new_user();
        let token = user_jwt(&leaf_user, &s.acc, |_| {});
        let file = hub.server.dir.join("leaf.creds");
        std::fs::write(&file, creds(&token, &leaf_user.seed().unwrap())).unwrap();
        let leaf_cfg = NodeConfig::new("jwtleaf").no_cluster().extra(&format!(
            "leafnodes {{ reconnect: \"200ms\", remotes: [ {{ url: \"nats-leaf://127.0.0.1:{port}\", account: A, credentials: \"{}\" }} ] }}",
            file.display()
        ));
        let leaf = Node::start(leaf_cfg, &leaf_bin);
        let leafz = wait_leafz(&hub, 1);
        assert_eq!(
            leafz["leafs"][0]["account"],
            s.acc.public_key(),
            "{hub_bin} hub"
        );
        // A JWT user on the hub and a plain user on the leaf talk across.
        let user = nkeys::KeyPair::new_user();
        let (mut on_hub, line) =
            connect_jwt_addr(&hub.client_addr(), &user_jwt(&user, &s.acc, |_| {}), &user);
        assert_eq!(line, "PONG");
        on_hub.send(b"SUB to.hub 1\r\nPING\r\n");
        assert_eq!(on_hub.read_line(5 * SEC), "PONG");
        let mut on_leaf = leaf.client();
        let end = Instant::now() + 10 * SEC;
        loop {
            on_leaf.publish("to.hub", "over the leaf");
            on_leaf.sync();
            let got =
                String::from_utf8_lossy(&on_hub.drain_for(Duration::from_millis(100))).into_owned();
            if got.contains("over the leaf") {
                break;
            }
            assert!(Instant::now() < end, "nothing crossed ({hub_bin} hub)");
        }
    }
}

/// TLS on leaf connections: the hub sends its INFO in the clear with `tls_required`, then
/// the leaf starts TLS and checks the hub's certificate against its CA; traffic crosses,
/// both roles against nats-server.
#[test]
fn leaf_connections_over_tls() {
    let Some(reference) = require_reference() else {
        return;
    };
    let certs = crate::cluster::RouteCerts::new();
    for (hub_bin, leaf_bin) in [(bin(), reference.clone()), (reference.clone(), bin())] {
        let hub_cfg = NodeConfig::new("tlshub").no_cluster();
        let port = hub_cfg.leaf_port;
        let hub_cfg = hub_cfg.extra(&format!(
            "leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n  {}\n  authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }}\n}}",
            certs.block()
        ));
        let url = hub_cfg
            .leaf_url("leaf", "leaf")
            .replace("nats-leaf://", "tls://");
        let leaf_cfg = NodeConfig::new("tlsleaf").no_cluster().extra(&format!(
            "leafnodes {{ reconnect: \"200ms\", remotes: [ {{ url: \"{url}\", account: A, {} }} ] }}",
            certs.block()
        ));
        let (hub, leaf) = link(hub_cfg, &hub_bin, leaf_cfg, &leaf_bin);
        let (mut h, mut l) = (hub.client(), leaf.client());
        h.sub("over.tls", 1);
        h.sync();
        await_delivery(&mut l, &mut h, "over.tls");
        l.sub("back.tls", 2);
        l.sync();
        await_delivery(&mut h, &mut l, "back.tls");
    }
}

/// A leaf on one member of a mixed hub cluster reaches the other member: its interest goes
/// on over the route (the hub treats it as its own), routed messages come back down to it,
/// and the hub's INFO lists every member's leaf URL.
#[test]
fn leaf_on_a_mixed_hub_cluster() {
    use crate::util::cluster::wait_for_mesh;
    let Some(reference) = require_reference() else {
        return;
    };
    let with_leaf_port = |cfg: NodeConfig| {
        let port = cfg.leaf_port;
        cfg.extra(&format!(
            "leafnodes {{ listen: \"127.0.0.1:{port}\", authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }} }}"
        ))
    };
    let n1 = with_leaf_port(NodeConfig::new("n1"));
    let n2 = with_leaf_port(NodeConfig::new("n2").route_to(&n1));
    let leaf_cfg = leaf_config("edge", &n1, "");
    let n1 = Node::gannet(n1);
    let n2 = Node::start(n2, &reference);
    wait_for_mesh(&[&n1, &n2]);
    let leaf = Node::start(leaf_cfg, &reference);
    wait_leafz(&n1, 1);
    let (mut far, mut l) = (n2.client(), leaf.client());
    far.sub("edge.up", 1);
    far.sync();
    await_delivery(&mut l, &mut far, "edge.up");
    l.sub("edge.down", 2);
    l.sync();
    await_delivery(&mut far, &mut l, "edge.down");
    // n1's leaf INFO names n2's leaf URL too.
    let mut c = crate::util::Conn::connect_addr(&format!("127.0.0.1:{}", n1.cfg.leaf_port));
    let info = crate::util::info_json(&mut c);
    let urls: Vec<&str> = info["leafnode_urls"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let n2_url = format!("127.0.0.1:{}", n2.cfg.leaf_port);
    assert!(urls.contains(&n2_url.as_str()), "{info}");
}

/// `min_version` on the hub refuses an older leaf with nats-server's text, and a hub's
/// `leafnode_urls` become more URLs for the leaf to try.
#[test]
fn min_version_refuses_an_older_leaf() {
    let Some(reference) = require_reference() else {
        return;
    };
    let hub = NodeConfig::new("strict").no_cluster();
    let port = hub.leaf_port;
    let hub = hub.extra(&format!(
        "leafnodes {{ listen: \"127.0.0.1:{port}\", min_version: \"2.99.0\", authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }} }}"
    ));
    let leaf = leaf_config("old", &hub, "");
    let hub = Node::gannet(hub);
    let leaf = Node::start(leaf, &reference);
    let needle = "connection rejected since minimum version required is \"2.99.0\"";
    let end = Instant::now() + 10 * SEC;
    while !leaf.server.log.lock().unwrap().contains(needle) {
        assert!(
            Instant::now() < end,
            "no refusal; leaf log:\n{}",
            leaf.server.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(hub.get_json("/leafz")["leafnodes"], 0);
}

/// A leaf configured with one hub URL learns the other members' leaf URLs from the hub's
/// INFO and fails over to them when its hub goes.
#[test]
fn leaf_fails_over_to_a_discovered_hub_url() {
    use crate::util::cluster::wait_for_mesh;
    let Some(reference) = require_reference() else {
        return;
    };
    let with_leaf_port = |cfg: NodeConfig| {
        let port = cfg.leaf_port;
        cfg.extra(&format!(
            "leafnodes {{ listen: \"127.0.0.1:{port}\", authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }} }}"
        ))
    };
    let n1 = with_leaf_port(NodeConfig::new("h1"));
    let n2 = with_leaf_port(NodeConfig::new("h2").route_to(&n1));
    let leaf_cfg = leaf_config("roamer", &n1, "");
    let mut n1 = Node::start(n1, &reference);
    let n2 = Node::start(n2, &reference);
    wait_for_mesh(&[&n1, &n2]);
    let leaf = Node::gannet(leaf_cfg);
    wait_leafz(&n1, 1);
    n1.kill();
    wait_leafz(&n2, 1);
    wait_leafz(&leaf, 1);
}

/// A hub member that joins after the leaf connected is announced to the leaf (an INFO with
/// the new `leafnode_urls`), so the leaf fails over to it when its hub goes.
#[test]
fn leaf_learns_a_hub_member_that_joins_later() {
    use crate::util::cluster::wait_for_mesh;
    let Some(reference) = require_reference() else {
        return;
    };
    let with_leaf_port = |cfg: NodeConfig| {
        let port = cfg.leaf_port;
        cfg.extra(&format!(
            "leafnodes {{ listen: \"127.0.0.1:{port}\", authorization {{ users: [ {{user: leaf, password: leaf, account: A}} ] }} }}"
        ))
    };
    let n1 = with_leaf_port(NodeConfig::new("j1"));
    let n2 = with_leaf_port(NodeConfig::new("j2").route_to(&n1));
    let leaf_cfg = leaf_config("wanderer", &n1, "");
    let mut n1 = Node::gannet(n1);
    let leaf = Node::start(leaf_cfg, &reference);
    wait_leafz(&n1, 1);
    let n2 = Node::start(n2, &reference);
    wait_for_mesh(&[&n1, &n2]);
    // The announcement crosses before the hub goes.
    std::thread::sleep(Duration::from_millis(500));
    n1.kill();
    wait_leafz(&n2, 1);
    wait_leafz(&leaf, 1);
}

/// An account's own `$SYS.REQ.ACCOUNT.PING.CONNZ` crosses a leaf connection of that account:
/// each side announces its service imports to the other (as nats-server does), so both
/// servers answer, in both roles.
#[test]
fn account_ping_crosses_a_leaf() {
    let Some(reference) = require_reference() else {
        return;
    };
    for (hub_bin, leaf_bin) in [(bin(), reference.clone()), (reference.clone(), bin())] {
        let hub = hub_config("pinghub");
        let leaf = leaf_config("pingleaf", &hub, "");
        let (hub, leaf) = link(hub, &hub_bin, leaf, &leaf_bin);
        for asker in [&hub, &leaf] {
            let mut c = asker.client();
            let inbox = format!("_INBOX.accping.{}", unique());
            c.sub(&inbox, unique());
            c.sync();
            let end = Instant::now() + 10 * SEC;
            let names = loop {
                c.publish_reply("$SYS.REQ.ACCOUNT.PING.CONNZ", &inbox, "");
                let names: std::collections::BTreeSet<String> = c
                    .msgs_for(Duration::from_millis(500))
                    .iter()
                    .filter_map(|m| serde_json::from_str::<Value>(&m.payload).ok())
                    .filter_map(|v| v["server"]["name"].as_str().map(String::from))
                    .collect();
                if names.len() >= 2 || Instant::now() > end {
                    break names;
                }
            };
            assert_eq!(
                names,
                ["pinghub", "pingleaf"].map(String::from).into(),
                "asked on {} ({hub_bin} hub)",
                asker.name()
            );
        }
    }
}

/// A hub whose WebSocket port (`ws://`, or `wss://` with `tls_block`) takes leaf nodes on
/// `/leafnode`, and a leaf dialing it there (after `path`) with `remote_extra`.
fn ws_pair(tls_block: &str, path: &str, remote_extra: &str) -> (NodeConfig, NodeConfig) {
    let ws_port = crate::util::cluster::free_port();
    let (scheme, tls) = if tls_block.is_empty() {
        ("ws", "no_tls: true".to_string())
    } else {
        ("wss", tls_block.to_string())
    };
    let hub = hub_config("wshub").extra(&format!(
        "websocket {{ host: 127.0.0.1, port: {ws_port}, {tls} }}"
    ));
    let leaf = NodeConfig::new("wsleaf").no_cluster().extra(&format!(
        "leafnodes {{\n  reconnect: \"200ms\"\n  remotes: [ {{ url: \"{scheme}://leaf:leaf@127.0.0.1:{ws_port}{path}\", account: A {remote_extra} {} }} ]\n}}",
        if tls_block.is_empty() {
            String::new()
        } else {
            format!(", {tls_block}")
        }
    ));
    (hub, leaf)
}

/// Leaf connections over the hub's WebSocket port: plain, with compression and unmasked
/// frames asked for, and over `wss://`; gannet on both ends, and with nats-server 2.15.1 on
/// either end.
#[test]
fn leaf_connections_over_websocket() {
    let mut pairs = vec![(bin(), bin())];
    if let Some(reference) = require_reference() {
        pairs.push((bin(), reference.clone()));
        pairs.push((reference, bin()));
    }
    let certs = crate::cluster::RouteCerts::new();
    for (hub_bin, leaf_bin) in &pairs {
        for (tls, path, extra) in [
            (String::new(), "", ""),
            // A path in the URL goes before `/leafnode` (`/nats/leafnode`).
            (
                String::new(),
                "/nats",
                ", ws_compression: true, ws_no_masking: true",
            ),
            (certs.block(), "", ""),
        ] {
            let (hub_cfg, leaf_cfg) = ws_pair(&tls, path, extra);
            let (hub, leaf) = link(hub_cfg, hub_bin, leaf_cfg, leaf_bin);
            traffic_crosses(&hub, &leaf);
            let big = "x".repeat(100_000);
            let (mut h, mut l) = (hub.client(), leaf.client());
            h.sub("big.ws", 1);
            h.sync();
            await_delivery(&mut l, &mut h, "big.ws");
            l.publish("big.ws", &big);
            let m = h.next_msg(5 * SEC).unwrap_or_else(|| {
                panic!(
                    "a 100 KB message crossed ({hub_bin} <- {leaf_bin} {extra});\nhub log:\n{}\nleaf log:\n{}",
                    hub.server.log.lock().unwrap(),
                    leaf.server.log.lock().unwrap()
                )
            });
            assert_eq!(
                m.payload.len(),
                big.len(),
                "{hub_bin} <- {leaf_bin} {extra}"
            );
            leafz_describes(&hub, &leaf);
        }
    }
}

/// `/leafnode` on a server without a leaf listener: upgraded, then closed; clients on the
/// same port are unaffected.
#[test]
fn websocket_leaf_without_a_leaf_listener() {
    let ws_port = crate::util::cluster::free_port();
    let hub_cfg = NodeConfig::new("nolisten").no_cluster().extra(&format!(
        "websocket {{ host: 127.0.0.1, port: {ws_port}, no_tls: true }}"
    ));
    let hub = Node::gannet(hub_cfg);
    let leaf_cfg = NodeConfig::new("wsleaf").no_cluster().extra(&format!(
        "leafnodes {{ reconnect: \"200ms\", remotes: [ {{ url: \"ws://127.0.0.1:{ws_port}\" }} ] }}"
    ));
    let leaf = Node::gannet(leaf_cfg);
    assert!(
        hub.server
            .wait_log("Not configured to accept leaf node connections", 5 * SEC),
        "{}",
        hub.server.log.lock().unwrap()
    );
    assert_eq!(hub.get_json("/leafz")["leafnodes"], 0);
    assert_eq!(leaf.get_json("/leafz")["leafnodes"], 0);
}
