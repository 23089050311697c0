//! System-account events against the real binary (and, with `GANNET_TEST_BIN=nats-server`,
//! the reference): the product walkthrough's CONNECT, DISCONNECT and authentication-error
//! events, with the key sets of the payloads captured from nats-server 2.15.1.

use crate::util::{start_server, Conn, SEC};
use std::time::{Duration, Instant};

const CONF: &str = r#"
accounts: { USERS: { users: [ {user: a, password: a} ] }, SYS: { users: [ {user: admin, password: changeit} ] } }
system_account: SYS
"#;

/// Reads MSG frames for `wait` and returns (subject, parsed JSON body) pairs.
fn events(c: &mut Conn, wait: Duration) -> Vec<(String, serde_json::Value)> {
    events_until(c, wait, "")
}

/// [`events`], returning early once a message on `subject` came (never for "").
fn events_until(c: &mut Conn, wait: Duration, subject: &str) -> Vec<(String, serde_json::Value)> {
    let end = Instant::now() + wait;
    let mut out: Vec<(String, serde_json::Value)> = Vec::new();
    let mut buf = Vec::new();
    while Instant::now() < end && !out.iter().any(|(s, _)| !subject.is_empty() && s == subject) {
        buf.extend(c.drain_for(Duration::from_millis(50)));
        while let Some(nl) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..nl]).to_string();
            if line == "PING" {
                c.send(b"PONG\r\n");
                buf.drain(..nl + 2);
                continue;
            }
            let parts: Vec<&str> = line.split(' ').collect();
            if parts[0] != "MSG" {
                buf.drain(..nl + 2);
                continue;
            }
            let size: usize = parts.last().unwrap().parse().unwrap();
            if buf.len() < nl + 2 + size + 2 {
                break;
            }
            let body = buf[nl + 2..nl + 2 + size].to_vec();
            buf.drain(..nl + 2 + size + 2);
            out.push((
                parts[1].to_string(),
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            ));
        }
    }
    out
}

fn fixture_event(ends_with: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sysacct/tests/fixtures/events.json"
    ))
    .unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"].as_str().unwrap().ends_with(ends_with))
        .map(|e| e["body"].clone())
        .unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The same keys at the top level and in `client` and `server`, and the same feature flags.
fn same_keys(what: &str, got: &serde_json::Value, want: &serde_json::Value) {
    assert_eq!(keys(got), keys(want), "{what}: top-level keys");
    assert_eq!(
        keys(&got["server"]),
        keys(&want["server"]),
        "{what}: server keys"
    );
    assert_eq!(
        got["server"]["feature_flags"], want["server"]["feature_flags"],
        "{what}: feature flags"
    );
    assert_eq!(
        keys(&got["client"]),
        keys(&want["client"]),
        "{what}: client keys"
    );
}

#[test]
fn walkthrough_connect_disconnect_and_auth_errors() {
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\nSUB $SYS.ACCOUNT.> 1\r\nSUB $SYS.SERVER.*.CLIENT.AUTH.ERR 2\r\n");
    admin.sync();

    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"walker\",\"lang\":\"raw\",\"version\":\"1\"}\r\nPUB foo 3\r\nbar\r\n");
    a.sync();
    drop(a);
    let mut bad = Conn::setup(&s);
    bad.send(b"CONNECT {\"user\":\"a\",\"pass\":\"wrong\"}\r\n");
    assert!(bad.is_closed(3 * SEC));

    let got = events(&mut admin, Duration::from_millis(1500));
    let find = |subject: &str| {
        got.iter()
            .find(|(s, _)| s == subject)
            .map(|(_, b)| b.clone())
    };
    let connect = find("$SYS.ACCOUNT.USERS.CONNECT").expect("CONNECT event");
    assert_eq!(connect["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(connect["client"]["acc"], "USERS");
    assert_eq!(connect["client"]["user"], "a");
    assert_eq!(connect["client"]["name"], "walker");
    assert_eq!(connect["client"]["kind"], "Client");
    same_keys("CONNECT", &connect, &fixture_event("USERS.CONNECT"));

    let disconnect = find("$SYS.ACCOUNT.USERS.DISCONNECT").expect("DISCONNECT event");
    assert_eq!(
        disconnect["type"],
        "io.nats.server.advisory.v1.client_disconnect"
    );
    assert_eq!(disconnect["reason"], "Client Closed");
    assert_eq!(disconnect["sent"]["msgs"], 1, "the client sent one message");
    assert_eq!(disconnect["sent"]["bytes"], 3);
    assert!(disconnect["client"]["stop"].is_string());
    // The first RTT estimate is taken at CONNECT (nats-server `processConnect`).
    assert!(disconnect["client"]["rtt"].as_u64().is_some_and(|n| n > 0));
    same_keys(
        "DISCONNECT",
        &disconnect,
        &fixture_event("USERS.DISCONNECT"),
    );
    // The account's connection count goes down before the DISCONNECT is sent.
    let at = |subject: &str| got.iter().rposition(|(s, _)| s == subject);
    let conns = at("$SYS.ACCOUNT.USERS.SERVER.CONNS").expect("CONNS update");
    let gone = at("$SYS.ACCOUNT.USERS.DISCONNECT").expect("DISCONNECT");
    assert!(
        conns < gone,
        "CONNS before DISCONNECT: {:?}",
        got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>()
    );

    let auth_err = got
        .iter()
        .find(|(s, _)| s.starts_with("$SYS.SERVER.") && s.ends_with(".CLIENT.AUTH.ERR"))
        .map(|(_, b)| b.clone())
        .expect("AUTH.ERR event");
    assert_eq!(auth_err["reason"], "Authentication Failure");
    assert_eq!(auth_err["client"]["acc"], "$G");
    assert_eq!(auth_err["client"]["user"], "a");
    let g_disconnect =
        find("$SYS.ACCOUNT.$G.DISCONNECT").expect("$G DISCONNECT after the auth failure");
    assert_eq!(g_disconnect["reason"], "Authentication Failure");
    // Event ids are unique and the server sequence grows.
    let seqs: Vec<u64> = got
        .iter()
        .filter_map(|(_, b)| b["server"]["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn no_system_account_means_no_events() {
    let s = start_server("no_system_account: true\n", &[]);
    let mut watcher = Conn::setup(&s);
    watcher.send(b"CONNECT {\"verbose\":false}\r\nSUB $SYS.> 1\r\n");
    watcher.sync();
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false}\r\n");
    c.sync();
    drop(c);
    assert!(events(&mut watcher, Duration::from_millis(500)).is_empty());
}

#[test]
fn account_conns_and_statsz() {
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\nSUB $SYS.ACCOUNT.USERS.SERVER.CONNS 1\r\nSUB $SYS.SERVER.ACCOUNT.USERS.CONNS 2\r\nSUB $SYS.SERVER.*.STATSZ 3\r\n");
    admin.sync();
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\n");
    a.sync();
    // STATSZ goes out 0.25 s, 1.25 s, 3.25 s … after start; wait for at least one.
    let got = events(&mut admin, Duration::from_millis(2000));
    let conns: Vec<&serde_json::Value> = got
        .iter()
        .filter(|(s, _)| s == "$SYS.ACCOUNT.USERS.SERVER.CONNS")
        .map(|(_, b)| b)
        .collect();
    assert!(!conns.is_empty(), "CONNS event: {got:?}");
    assert_eq!(conns[0]["conns"], 1);
    assert_eq!(conns[0]["acc"], "USERS");
    let legacy = got
        .iter()
        .find(|(s, _)| s == "$SYS.SERVER.ACCOUNT.USERS.CONNS")
        .map(|(_, b)| b)
        .expect("legacy CONNS");
    assert_eq!(
        legacy["id"], conns[0]["id"],
        "both copies share the event id"
    );
    let want = fixture_event("USERS.SERVER.CONNS");
    let mut k = keys(conns[0]);
    let mut w = keys(&want);
    k.sort();
    w.sort();
    assert_eq!(k, w);
    let statsz = got
        .iter()
        .find(|(s, _)| s.ends_with(".STATSZ"))
        .map(|(_, b)| b)
        .expect("STATSZ event");
    let want = fixture_event(".STATSZ");
    assert_eq!(keys(&statsz["statsz"]), keys(&want["statsz"]));
    assert!(statsz["statsz"]["connections"].as_u64().unwrap() >= 2);
    drop(a);
    let got = events(&mut admin, Duration::from_millis(500));
    let last = got
        .iter()
        .rev()
        .find(|(s, _)| s == "$SYS.ACCOUNT.USERS.SERVER.CONNS")
        .map(|(_, b)| b)
        .expect("CONNS after close");
    assert_eq!(last["conns"], 0);
}

#[test]
fn shutdown_and_lame_duck_events() {
    let mut s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\nSUB $SYS.SERVER.*.SHUTDOWN 1\r\n");
    admin.sync();
    s.signal(libc::SIGTERM);
    let got = events(&mut admin, Duration::from_millis(1000));
    let shutdown = got
        .iter()
        .find(|(s, _)| s.ends_with(".SHUTDOWN"))
        .map(|(_, b)| b)
        .expect("SHUTDOWN event");
    assert!(shutdown["id"].as_str().unwrap().starts_with('N'));
    assert!(shutdown.get("seq").is_some() && shutdown.get("time").is_some());
    assert_eq!(s.wait_exit(10 * SEC), Some(0));

    let conf = format!("{CONF}\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n");
    let s = start_server(&conf, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\nSUB $SYS.SERVER.*.LAMEDUCK 1\r\n");
    admin.sync();
    s.signal(libc::SIGUSR2);
    let got = events(&mut admin, Duration::from_millis(800));
    assert!(got.iter().any(|(s, _)| s.ends_with(".LAMEDUCK")), "{got:?}");
}

/// Sends a request as the admin and returns the reply's JSON.
fn request(admin: &mut Conn, subject: &str, body: &str, inbox_sid: usize) -> serde_json::Value {
    let inbox = format!("_INBOX.req{inbox_sid}");
    admin.send(
        format!(
            "SUB {inbox} {}\r\nPUB {subject} {inbox} {}\r\n{body}\r\n",
            100 + inbox_sid,
            body.len()
        )
        .as_bytes(),
    );
    let got = events(admin, Duration::from_millis(400));
    got.into_iter()
        .find(|(s, _)| *s == inbox)
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no reply to {subject}"))
}

fn fixture_reply(subject: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sysacct/tests/fixtures/requests.json"
    ))
    .unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[subject].clone()
}

#[test]
fn server_ping_services() {
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let statsz = request(&mut admin, "$SYS.REQ.SERVER.PING", "", 1);
    assert_eq!(keys(&statsz), keys(&fixture_reply("$SYS.REQ.SERVER.PING")));
    assert_eq!(
        keys(&statsz["statsz"]),
        keys(&fixture_reply("$SYS.REQ.SERVER.PING")["statsz"])
    );
    let idz = request(&mut admin, "$SYS.REQ.SERVER.PING.IDZ", "", 2);
    assert_eq!(keys(&idz), keys(&fixture_reply("$SYS.REQ.SERVER.PING.IDZ")));
    let id = idz["id"].as_str().unwrap().to_string();
    for (n, ep) in ["VARZ", "CONNZ", "SUBSZ", "HEALTHZ", "ACCOUNTZ"]
        .iter()
        .enumerate()
    {
        let reply = request(
            &mut admin,
            &format!("$SYS.REQ.SERVER.PING.{ep}"),
            "{}",
            10 + n,
        );
        assert_eq!(keys(&reply), ["data", "server"], "{ep}: {reply}");
        assert!(reply["data"].is_object(), "{ep}");
    }
    let connz = request(
        &mut admin,
        &format!("$SYS.REQ.SERVER.{id}.CONNZ"),
        "{\"auth\":true}",
        20,
    );
    let conn = &connz["data"]["connections"][0];
    assert_eq!(conn["authorized_user"], "admin");
    let healthz = request(&mut admin, "$SYS.REQ.SERVER.PING.HEALTHZ", "", 21);
    assert_eq!(healthz["data"]["status"], "ok");
    let bad = request(&mut admin, "$SYS.REQ.SERVER.PING.VARZ", "{bad", 22);
    assert_eq!(bad["error"]["code"], 400);
    assert!(bad.get("data").is_none());
    // A filter that doesn't match: no reply at all.
    admin.send(b"SUB _INBOX.none 99\r\nPUB $SYS.REQ.SERVER.PING.VARZ _INBOX.none 31\r\n{\"server_name\":\"no-such-server\"}\r\n");
    assert!(events(&mut admin, Duration::from_millis(400))
        .iter()
        .all(|(s, _)| s != "_INBOX.none"));
}

#[test]
fn user_info_from_any_account() {
    let conf = r#"
accounts: {
  USERS: { users: [ {user: a, password: a}, {user: p, password: p, permissions: { publish: { allow: ["foo.>", "$SYS.REQ.>", "_INBOX.>"], deny: ["foo.bar"] }, subscribe: [">"] }} ] }
  SYS: { users: [ {user: admin, password: changeit} ] }
}
system_account: SYS
"#;
    let s = start_server(conf, &[]);
    for (user, pass, account) in [("a", "a", "USERS"), ("admin", "changeit", "SYS")] {
        let mut c = Conn::setup(&s);
        c.send(
            format!("CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n")
                .as_bytes(),
        );
        c.sync();
        let reply = request(&mut c, "$SYS.REQ.USER.INFO", "", 1);
        assert_eq!(reply["data"]["user"], user);
        assert_eq!(reply["data"]["account"], account);
        assert_eq!(reply["data"]["account_name"], account);
        assert!(reply["data"].get("permissions").is_none());
        assert_eq!(
            keys(&reply),
            keys(&fixture_reply("$SYS.REQ.USER.INFO (from USERS)"))
        );
    }
    let mut p = Conn::setup(&s);
    p.send(b"CONNECT {\"verbose\":false,\"user\":\"p\",\"pass\":\"p\"}\r\n");
    p.sync();
    let reply = request(&mut p, "$SYS.REQ.USER.INFO", "", 2);
    assert_eq!(
        reply["data"]["permissions"],
        serde_json::json!({"publish": {"allow": ["foo.>", "$SYS.REQ.>", "_INBOX.>"], "deny": ["foo.bar"]}, "subscribe": {"allow": [">"]}})
    );
}

#[test]
fn account_scoped_requests() {
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"acct-user\"}\r\nSUB foo 1\r\n");
    a.sync();
    let connz = request(&mut admin, "$SYS.REQ.ACCOUNT.USERS.CONNZ", "", 1);
    assert_eq!(connz["data"]["num_connections"], 1);
    assert_eq!(connz["data"]["connections"][0]["name"], "acct-user");
    let info = request(&mut admin, "$SYS.REQ.ACCOUNT.USERS.INFO", "", 2);
    assert_eq!(info["data"]["account_name"], "USERS");
    let subsz = request(
        &mut admin,
        "$SYS.REQ.ACCOUNT.USERS.SUBSZ",
        "{\"subscriptions\":true}",
        3,
    );
    assert!(subsz["data"]["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["subject"] == "foo"));
    let statz = request(&mut admin, "$SYS.REQ.ACCOUNT.PING.STATZ", "", 4);
    let stats = statz["data"]["account_statz"].as_array().unwrap();
    assert!(
        stats.iter().any(|s| s["acc"] == "USERS" && s["conns"] == 1),
        "{statz}"
    );
    // A non-system user sees its own account only.
    let own = request(&mut a, "$SYS.REQ.SERVER.PING.CONNZ", "", 5);
    let names: Vec<&str> = own["data"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["acct-user"]);
    let own_statz = request(&mut a, "$SYS.REQ.ACCOUNT.PING.STATZ", "", 6);
    assert_eq!(own_statz["data"]["account_statz"][0]["acc"], "USERS");
    // Server-wide services are not reachable from a non-system account.
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.np 9\r\nPUB $SYS.REQ.SERVER.PING _INBOX.np 0\r\n\r\n");
    let got = String::from_utf8_lossy(&a.drain_for(Duration::from_millis(400))).to_string();
    assert!(got.contains("NATS/1.0 503"), "{got}");
}

/// A client of the system account (CONF's `admin`) and the server's id, from IDZ.
fn admin_and_server_id(s: &crate::util::Server) -> (Conn, String) {
    let mut admin = Conn::setup(s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let id = request(&mut admin, "$SYS.REQ.SERVER.PING.IDZ", "", 1)["id"]
        .as_str()
        .unwrap()
        .to_string();
    (admin, id)
}

#[test]
fn reload_kick_and_ldm_requests() {
    let s = start_server(CONF, &[]);
    let (mut admin, id) = admin_and_server_id(&s);

    // RELOAD applies the config file; a broken one is reported in `error`.
    let ok = request(&mut admin, &format!("$SYS.REQ.SERVER.{id}.RELOAD"), "", 2);
    assert!(ok.get("error").is_none(), "{ok}");
    assert!(ok.get("server").is_some());
    std::fs::write(s.dir.join("gannet.conf"), "accounts: {\n").unwrap();
    let bad = request(&mut admin, &format!("$SYS.REQ.SERVER.{id}.RELOAD"), "", 3);
    assert_eq!(bad["error"]["code"], 500, "{bad}");
    assert!(
        bad["error"]["description"]
            .as_str()
            .unwrap()
            .contains("Parse error"),
        "{bad}"
    );
    std::fs::write(s.dir.join("gannet.conf"), CONF).unwrap();

    // LDM to a protocol-1 client that got its first PONG; KICK closes it.
    let mut victim = Conn::setup(&s);
    victim.send(
        b"CONNECT {\"verbose\":false,\"protocol\":1,\"user\":\"a\",\"pass\":\"a\"}\r\nPING\r\n",
    );
    assert_eq!(victim.read_line(5 * SEC), "PONG");
    assert!(victim.read_line(5 * SEC).starts_with("INFO "));
    let connz = request(&mut admin, "$SYS.REQ.ACCOUNT.USERS.CONNZ", "", 4);
    let cid = connz["data"]["connections"][0]["cid"].as_u64().unwrap();
    let ldm = request(
        &mut admin,
        &format!("$SYS.REQ.SERVER.{id}.LDM"),
        &format!("{{\"cid\":{cid}}}"),
        5,
    );
    assert!(ldm.get("error").is_none(), "{ldm}");
    let info = victim.read_line(5 * SEC);
    assert!(info.contains("\"ldm\":true"), "{info}");
    let kick = request(
        &mut admin,
        &format!("$SYS.REQ.SERVER.{id}.KICK"),
        &format!("{{\"cid\":{cid}}}"),
        6,
    );
    assert!(kick.get("error").is_none(), "{kick}");
    assert!(victim.is_closed(3 * SEC));
    let missing = request(
        &mut admin,
        &format!("$SYS.REQ.SERVER.{id}.KICK"),
        "{\"cid\":999999}",
        7,
    );
    assert_eq!(
        missing["error"]["description"],
        "no such client or leafnode id"
    );
}

#[test]
fn accounts_added_by_reload_can_ask_about_themselves() {
    let s = start_server(CONF, &[]);
    let more = format!(
        "{}\n",
        CONF.replace(
            "USERS: {",
            "B: { users: [ {user: b, password: b} ] }, USERS: {"
        )
    );
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\nSUB $SYS.REQ.ACCOUNT.*.CONNS 1\r\n");
    admin.sync();
    std::fs::write(s.dir.join("gannet.conf"), more).unwrap();
    s.signal(libc::SIGHUP);
    assert!(
        s.wait_log("Reloaded server configuration", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    // The new account asks the other servers for their connection counts (spec sys.md §2.9).
    let tracking = events(&mut admin, Duration::from_millis(500));
    let (_, body) = tracking
        .iter()
        .find(|(subject, _)| subject == "$SYS.REQ.ACCOUNT.B.CONNS")
        .expect("account-tracking request for B");
    assert_eq!(body["acc"], "B");
    assert!(body["server"]["id"].is_string());
    let mut b = Conn::setup(&s);
    b.send(b"CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"b\"}\r\n");
    b.sync();
    let statz = request(&mut b, "$SYS.REQ.ACCOUNT.PING.STATZ", "", 1);
    assert_eq!(statz["data"]["account_statz"][0]["acc"], "B");
}

#[test]
fn system_account_only_config_lets_anonymous_clients_into_global() {
    // Only the system account has users: nats-server makes up a `$G` user and lets anonymous
    // clients in as that user (INFO still says auth_required); the SYS users still need
    // their password.
    let conf = "accounts { SYS { users: [{user: admin, password: x}] } }\nsystem_account: SYS\n";
    let s = start_server(conf, &[]);
    let mut anon = Conn::connect(&s);
    let info = anon.read_line(5 * SEC);
    assert!(info.contains("\"auth_required\":true"), "{info}");
    anon.send(b"CONNECT {\"verbose\":false}\r\n");
    anon.sync();
    let reply = request(&mut anon, "$SYS.REQ.USER.INFO", "", 1);
    let user = reply["data"]["user"].as_str().unwrap().to_string();
    assert!(
        user.starts_with("nats-") && user.len() == 13,
        "made-up user {user:?}"
    );
    assert_eq!(reply["data"]["account"], "$G");
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"x\"}\r\n");
    admin.sync();
    let reply = request(&mut admin, "$SYS.REQ.USER.INFO", "", 2);
    assert_eq!(reply["data"]["account"], "SYS");
    let mut bad = Conn::setup(&s);
    bad.send(b"CONNECT {\"user\":\"admin\",\"pass\":\"wrong\"}\r\n");
    assert!(bad.read_line(3 * SEC).contains("Authorization Violation"));

    // With a second account nothing is made up: anonymous clients are refused.
    let conf = "accounts { SYS { users: [{user: admin, password: x}] }, A { users: [{user: a, password: a}] } }\nsystem_account: SYS\n";
    let s = start_server(conf, &[]);
    let mut anon = Conn::setup(&s);
    anon.send(b"CONNECT {\"verbose\":false}\r\n");
    assert!(anon.read_line(3 * SEC).contains("Authorization Violation"));
}

#[test]
fn jsz_leafz_healthz_and_subscriber_counts() {
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB foo 1\r\nSUB foo q1 2\r\nSUB bar.* 3\r\n");
    a.sync();

    let jsz = request(&mut admin, "$SYS.REQ.SERVER.PING.JSZ", "", 1);
    assert_eq!(jsz["data"]["disabled"], true);
    assert_eq!(
        keys(&jsz["data"]),
        keys(&fixture_reply("$SYS.REQ.SERVER.PING.JSZ")["data"])
    );
    let acc_jsz = request(&mut admin, "$SYS.REQ.ACCOUNT.USERS.JSZ", "", 2);
    assert_eq!(acc_jsz["data"], serde_json::Value::Null);
    assert_eq!(
        acc_jsz["error"],
        serde_json::json!({"code": 500, "description": "jetstream not enabled"})
    );
    let leafz = request(&mut admin, "$SYS.REQ.ACCOUNT.USERS.LEAFZ", "", 3);
    assert_eq!(leafz["data"]["leafnodes"], 0);
    assert_eq!(leafz["data"]["leafs"], serde_json::json!([]));
    let health = request(
        &mut admin,
        "$SYS.REQ.SERVER.PING.HEALTHZ",
        "{\"stream\":\"x\"}",
        4,
    );
    assert_eq!(
        health["data"],
        serde_json::json!({"status": "error", "status_code": 400, "error": "\"account\" must not be empty when checking stream health"})
    );
    let health = request(
        &mut admin,
        "$SYS.REQ.SERVER.PING.HEALTHZ",
        "{\"js-enabled-only\":true}",
        5,
    );
    assert_eq!(health["data"]["status"], "ok");

    // Subscriber counts answer with a bare integer.
    let count = |admin: &mut Conn, subject: &str, body: &str, n: usize| -> String {
        let inbox = format!("_INBOX.count{n}");
        admin.send(
            format!(
                "SUB {inbox} {}\r\nPUB {subject} {inbox} {}\r\n{body}\r\n",
                200 + n,
                body.len()
            )
            .as_bytes(),
        );
        let head = format!("MSG {inbox} {} ", 200 + n);
        loop {
            let line = admin.read_line(2 * SEC);
            assert!(!line.is_empty(), "no answer on {subject} {body}");
            if let Some(size) = line.strip_prefix(&head) {
                let body = admin.read_line(2 * SEC);
                // (nats-server writes this MSG line with two spaces before the size.)
                assert_eq!(size.trim(), body.len().to_string(), "{line:?}");
                return body;
            }
        }
    };
    let nsubs = "$SYS.REQ.ACCOUNT.NSUBS";
    assert_eq!(
        count(&mut admin, nsubs, r#"{"acc":"USERS","subject":"foo"}"#, 1),
        "2"
    );
    // The queue travels base64-encoded ("q1").
    assert_eq!(
        count(
            &mut admin,
            nsubs,
            r#"{"acc":"USERS","subject":"foo","queue":"cTE="}"#,
            2
        ),
        "1"
    );
    assert_eq!(
        count(&mut admin, nsubs, r#"{"acc":"USERS","subject":"bar.x"}"#, 3),
        "1"
    );
    assert_eq!(
        count(&mut admin, nsubs, r#"{"acc":"USERS","subject":"*"}"#, 4),
        "2"
    );
    // `$SYS.DEBUG.SUBSCRIBERS` counts in the requester's own account.
    assert_eq!(count(&mut admin, "$SYS.DEBUG.SUBSCRIBERS", "foo", 5), "0");
    admin.send(b"SUB foo 9\r\n");
    assert_eq!(count(&mut admin, "$SYS.DEBUG.SUBSCRIBERS", "foo", 6), "1");
    // Not imported into other accounts: no responders there.
    let mut b = Conn::setup(&s);
    b.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.nr 77\r\nPUB $SYS.DEBUG.SUBSCRIBERS _INBOX.nr 3\r\nfoo\r\n");
    let line = b.read_line(2 * SEC);
    assert!(line.starts_with("HMSG _INBOX.nr 77"), "{line}");
}

#[test]
fn profilez_returns_a_cpu_profile() {
    use base64::Engine;
    let s = start_server(CONF, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let idz = request(&mut admin, "$SYS.REQ.SERVER.PING.IDZ", "", 1);
    let id = idz["id"].as_str().unwrap().to_string();
    let body = r#"{"name":"cpu","duration":300000000}"#;
    admin.send(
        format!(
            "SUB _INBOX.prof 50\r\nPUB $SYS.REQ.SERVER.{id}.PROFILEZ _INBOX.prof {}\r\n{body}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    // 300 ms of sampling, then the profile is built: seconds on a loaded machine.
    let got = events_until(&mut admin, Duration::from_secs(15), "_INBOX.prof");
    let reply = got
        .iter()
        .find(|(s, _)| s == "_INBOX.prof")
        .map(|(_, b)| b.clone())
        .expect("PROFILEZ reply");
    assert_eq!(reply["data"]["error"], "", "{reply}");
    let profile = base64::engine::general_purpose::STANDARD
        .decode(reply["data"]["profile"].as_str().unwrap())
        .unwrap();
    // pprof's format: a gzipped protobuf, as Go writes it.
    assert!(
        profile.len() > 20 && profile[..2] == [0x1f, 0x8b],
        "{profile:?}"
    );

    // Other profiles and bad durations answer with an error inside `data`.
    let reply = request(
        &mut admin,
        "$SYS.REQ.SERVER.PING.PROFILEZ",
        r#"{"name":"cpu","duration":0}"#,
        2,
    );
    assert_eq!(
        reply["data"],
        serde_json::json!({"profile": null, "error": "Duration 0s should be between 0s and 15s"})
    );
    let reply = request(&mut admin, "$SYS.REQ.SERVER.PING.PROFILEZ", "{}", 3);
    assert_eq!(reply["data"]["error"], "Profile name not specified");
    assert!(reply.get("error").is_none());
}

#[test]
fn server_tags_and_metadata_filter_and_show() {
    let conf =
        format!("{CONF}server_tags: [\"Az:1\", \"region:eu\"]\nserver_metadata: {{ env: prod }}\n");
    let s = start_server(&conf, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"changeit\"}\r\n");
    admin.sync();
    let statsz = request(&mut admin, "$SYS.REQ.SERVER.PING", "", 1);
    assert_eq!(
        statsz["server"]["tags"],
        serde_json::json!(["az:1", "region:eu"])
    );
    assert_eq!(
        statsz["server"]["metadata"],
        serde_json::json!({"env": "prod"})
    );
    let varz = request(
        &mut admin,
        "$SYS.REQ.SERVER.PING.VARZ",
        r#"{"tags":["AZ:1","region:eu"]}"#,
        2,
    );
    assert_eq!(
        varz["data"]["tags"],
        serde_json::json!(["az:1", "region:eu"])
    );
    // A tag this server lacks: silence.
    admin.send(b"SUB _INBOX.none 99\r\nPUB $SYS.REQ.SERVER.PING.VARZ _INBOX.none 26\r\n{\"tags\":[\"az:1\",\"other\"]}\r\n");
    assert!(events(&mut admin, Duration::from_millis(400))
        .iter()
        .all(|(s, _)| s != "_INBOX.none"));
}

#[test]
fn reload_reregisters_clients_as_nats_server_does() {
    // nats-server re-authorizes every client on a reload and registers it with its account
    // again: a `$SYS` watcher sees the account's count one lower, back up, and a CONNECT.
    let s = start_server(CONF, &[]);
    let (mut admin, id) = admin_and_server_id(&s);
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\n");
    a.sync();
    admin.send(b"SUB $SYS.ACCOUNT.USERS.> 7\r\n");
    admin.sync();
    // The events of `a` connecting may still be on their way (on either server): let them pass.
    events(&mut admin, Duration::from_millis(500));
    admin.send(format!("PUB $SYS.REQ.SERVER.{id}.RELOAD _INBOX.reload 0\r\n\r\n").as_bytes());
    let got = events(&mut admin, Duration::from_millis(1500));
    let users: Vec<(String, i64)> = got
        .iter()
        .filter(|(s, _)| s.starts_with("$SYS.ACCOUNT.USERS."))
        .map(|(s, b)| (s.clone(), b["conns"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(
        users,
        [
            ("$SYS.ACCOUNT.USERS.SERVER.CONNS".to_string(), 0),
            ("$SYS.ACCOUNT.USERS.SERVER.CONNS".to_string(), 1),
            ("$SYS.ACCOUNT.USERS.CONNECT".to_string(), -1),
        ]
    );
    drop(a);
}

#[test]
fn account_info_lists_exports_and_imports_as_nats_server() {
    let conf = r#"
accounts: {
  SYS: { users: [ {user: admin, password: a} ] }
  A: { users: [ {user: a, password: a} ], exports: [ {service: "svc.>"}, {stream: "str.>", accounts: [B]}, {service: "lat", response_type: stream} ] }
  B: { users: [ {user: b, password: b} ], imports: [ {service: {account: A, subject: "svc.x"}, to: "local.x"}, {stream: {account: A, subject: "str.>"}, prefix: "pre"} ] }
}
system_account: SYS
"#;
    let s = start_server(conf, &[]);
    let mut admin = Conn::setup(&s);
    admin.send(b"CONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"a\"}\r\n");
    admin.sync();
    // nats-server keeps them in maps: compare without order.
    let sorted = |v: &serde_json::Value| -> Vec<String> {
        let mut items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default();
        items.sort();
        items
    };
    let a = request(&mut admin, "$SYS.REQ.ACCOUNT.A.INFO", "", 1);
    assert_eq!(
        sorted(&a["data"]["exports"]),
        sorted(&serde_json::json!([
            {"subject": "svc.>", "type": "service", "response_type": "Singleton"},
            {"subject": "lat", "type": "service", "response_type": "Streamed"},
            {"subject": "str.>", "type": "stream", "approved_accounts": ["B"]}
        ]))
    );
    assert_eq!(a["data"]["name_tag"], "A");
    assert!(a["data"]["sublist_stats"]["num_subscriptions"].is_u64());
    let b = request(&mut admin, "$SYS.REQ.ACCOUNT.B.INFO", "", 2);
    let import =
        |subject: &str, to: Option<&str>, local: &str, kind: &str, account: &str, share: bool| {
            let mut i = serde_json::json!({"subject": subject, "account": account});
            if let Some(to) = to {
                i["to"] = to.into();
            }
            i["local_subject"] = local.into();
            i["type"] = kind.into();
            i["invalid"] = false.into();
            i["share"] = share.into();
            i["tracking"] = false.into();
            i
        };
    let system = |subject: &str, to: &str, share: bool| {
        import(subject, Some(to), to, "service", "SYS", share)
    };
    assert_eq!(
        sorted(&b["data"]["imports"]),
        sorted(&serde_json::json!([
            import("svc.x", Some("local.x"), "local.x", "service", "A", false),
            import("str.>", None, "pre.str.>", "stream", "A", false),
            system(
                "$SYS.REQ.ACCOUNT.B.CONNZ",
                "$SYS.REQ.ACCOUNT.PING.CONNZ",
                false
            ),
            system(
                "$SYS.REQ.ACCOUNT.B.CONNZ",
                "$SYS.REQ.SERVER.PING.CONNZ",
                false
            ),
            system(
                "$SYS.REQ.ACCOUNT.B.STATZ",
                "$SYS.REQ.ACCOUNT.PING.STATZ",
                false
            ),
            system("$SYS.REQ.USER.B.INFO", "$SYS.REQ.USER.INFO", true),
        ]))
    );
}
