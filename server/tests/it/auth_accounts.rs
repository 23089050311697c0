//! Accounts, multi-user auth, nkeys, no_auth_user and permissions, against the real binary
//! (and, with `GANNET_TEST_BIN=nats-server`, against the reference server).

use crate::util::{self, info_json, start_server, Conn, SEC};
use base64::Engine;
use std::time::Duration;

fn login(s: &util::Server, user: &str, pass: &str) -> Conn {
    let mut c = Conn::setup(s);
    c.send(format!("CONNECT {{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n").as_bytes());
    assert_eq!(c.sync(), "", "login as {user}");
    c
}

fn rejected(c: &mut Conn) {
    assert!(c.is_closed(3 * SEC), "expected close");
    assert_eq!(
        String::from_utf8_lossy(&c.buf),
        "-ERR 'Authorization Violation'\r\n"
    );
}

const ACCOUNTS: &str = r#"
accounts {
  A: { users: [ {user: a, password: a} ] }
  B: { users: [ {user: b, password: b}, {user: b2, password: b2} ] }
}
"#;

#[test]
fn accounts_are_isolated() {
    let s = start_server(ACCOUNTS, &[]);
    let mut a = login(&s, "a", "a");
    let mut b = login(&s, "b", "b");
    let mut b2 = login(&s, "b2", "b2");
    b.send(b"SUB > 1\r\n");
    b.sync();
    a.send(b"SUB > 1\r\n");
    a.sync();
    a.send(b"PUB foo 2\r\nhi\r\n");
    assert_eq!(a.sync(), "MSG foo 1 2\r\nhi\r\n");
    assert_eq!(b.sync(), "", "account B must not see account A's messages");
    b2.send(b"PUB bar 1\r\nx\r\n");
    b2.sync();
    assert_eq!(b.sync(), "MSG bar 1 1\r\nx\r\n");
    assert_eq!(a.sync(), "");
}

#[test]
fn users_array_passwords_and_bcrypt() {
    let hash = bcrypt::hash("s3cr3t", 4).unwrap();
    let conf = format!("authorization {{ users = [ {{user: plain, password: pw}}, {{user: hashed, password: \"{hash}\"}} ] }}\n");
    let s = start_server(&conf, &[]);
    let mut c = Conn::connect(&s);
    assert_eq!(info_json(&mut c)["auth_required"], true);
    login(&s, "plain", "pw");
    login(&s, "hashed", "s3cr3t");
    for (user, pass) in [("plain", "nope"), ("hashed", "s3cr3tx"), ("ghost", "pw")] {
        let mut c = Conn::setup(&s);
        c.send(format!("CONNECT {{\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n").as_bytes());
        rejected(&mut c);
    }
}

#[test]
fn bcrypt_check_does_not_stall_the_worker() {
    // Cost 12 takes a few hundred milliseconds; the other client on the only worker must be
    // served meanwhile, so its PONG arrives before the bcrypt client's.
    let hash = bcrypt::hash("s3cr3t", 12).unwrap();
    // A long auth timeout: on a loaded machine the check itself may take seconds.
    let conf = format!("authorization {{ timeout: 30, users = [ {{user: slow, password: \"{hash}\"}}, {{user: fast, password: f}} ] }}\n");
    let s = start_server(&conf, &["-workers", "1"]);
    let mut fast = login(&s, "fast", "f");
    let mut slow = Conn::setup(&s);
    slow.send(b"CONNECT {\"verbose\":false,\"user\":\"slow\",\"pass\":\"s3cr3t\"}\r\nPING\r\n");
    fast.send(b"PING\r\n");
    assert_eq!(fast.read_line(5 * SEC), "PONG");
    assert!(slow.buf.is_empty());
    let early = slow.drain_for(Duration::from_millis(1));
    assert!(
        early.is_empty(),
        "bcrypt client answered before the fast one: {:?}",
        String::from_utf8_lossy(&early)
    );
    // The server's first PING (about 2 s after CONNECT, nats-server too) may come first when
    // the check is slow on a loaded machine.
    let mut line = slow.read_line(30 * SEC);
    for _ in 0..3 {
        if line != "PING" {
            break;
        }
        line = slow.read_line(30 * SEC);
    }
    assert_eq!(line, "PONG");
}

#[test]
fn nkey_users_sign_the_nonce() {
    let kp = nkeys::KeyPair::new_user();
    let conf = format!(
        "authorization {{ users = [ {{nkey: {}}} ] }}\n",
        kp.public_key()
    );
    let s = start_server(&conf, &[]);
    let mut c = Conn::connect(&s);
    let info = info_json(&mut c);
    let nonce = info["nonce"].as_str().expect("nonce in INFO").to_string();
    assert_eq!(nonce.len(), 15);
    let sig =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce.as_bytes()).unwrap());
    c.send(
        format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\n",
            kp.public_key()
        )
        .as_bytes(),
    );
    assert_eq!(c.sync(), "");
    // A signature over something else is refused.
    let mut bad = Conn::connect(&s);
    info_json(&mut bad);
    bad.send(
        format!(
            "CONNECT {{\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\n",
            kp.public_key()
        )
        .as_bytes(),
    );
    rejected(&mut bad);
    let mut unknown = Conn::setup(&s);
    let other = nkeys::KeyPair::new_user();
    unknown.send(
        format!(
            "CONNECT {{\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\n",
            other.public_key()
        )
        .as_bytes(),
    );
    rejected(&mut unknown);
}

#[test]
fn no_auth_user_binds_anonymous_clients() {
    let conf = format!("{ACCOUNTS}\nno_auth_user: b\n");
    let s = start_server(&conf, &[]);
    let mut anon = Conn::connect(&s);
    assert!(info_json(&mut anon).get("auth_required").is_none());
    // No CONNECT at all: the first op authenticates as b (account B).
    anon.send(b"SUB x 1\r\n");
    anon.sync();
    let mut b2 = login(&s, "b2", "b2");
    b2.send(b"PUB x 1\r\nz\r\n");
    b2.sync();
    assert!(anon.sync().contains("MSG x 1 1\r\nz\r\n"));
    // Wrong credentials are not rescued by no_auth_user.
    let mut wrong = Conn::setup(&s);
    wrong.send(b"CONNECT {\"user\":\"a\",\"pass\":\"bad\"}\r\n");
    rejected(&mut wrong);
}

const PERMS: &str = r#"
authorization {
  default_permissions: { publish: "default.>" }
  users = [
    { user: p, password: p, permissions: { publish: { allow: ["foo.>", "req"], deny: ["foo.secret"] }, subscribe: { allow: [">"], deny: ["foo.bar"] } } }
    { user: q, password: q, permissions: { subscribe: ["work v1", "plain"] } }
    { user: r, password: r, permissions: { publish: { deny: ">" }, allow_responses: true } }
    { user: d, password: d }
  ]
}
"#;

#[test]
fn publish_permissions() {
    let s = start_server(PERMS, &[]);
    let mut p = login(&s, "p", "p");
    p.send(b"SUB foo.> 1\r\n");
    p.send(
        b"PUB foo.ok 1\r\na\r\nPUB foo.secret 1\r\nb\r\nPUB bar 1\r\nc\r\nPUB foo.ok 1\r\nd\r\n",
    );
    assert_eq!(
        p.sync(),
        "MSG foo.ok 1 1\r\na\r\n-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n-ERR 'Permissions Violation for Publish to \"bar\"'\r\nMSG foo.ok 1 1\r\nd\r\n"
    );
    // default_permissions apply to users without their own.
    let mut d = login(&s, "d", "d");
    d.send(b"PUB default.x 0\r\n\r\nPUB other 0\r\n\r\n");
    assert_eq!(
        d.sync(),
        "-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
    );
}

#[test]
fn subscribe_permissions_and_deny_at_delivery() {
    let s = start_server(PERMS, &[]);
    let mut p = login(&s, "p", "p");
    p.send(b"SUB foo.bar 1\r\nSUB foo.* 2\r\n");
    assert_eq!(
        p.sync(),
        "-ERR 'Permissions Violation for Subscription to \"foo.bar\"'\r\n"
    );
    p.send(b"PUB foo.bar 1\r\nx\r\nPUB foo.baz 1\r\ny\r\n");
    assert_eq!(
        p.sync(),
        "MSG foo.baz 2 1\r\ny\r\n",
        "foo.bar is denied at delivery"
    );
    let mut q = login(&s, "q", "q");
    q.send(b"SUB work 1\r\nSUB work v2 2\r\nSUB work v1 3\r\nSUB plain 4\r\nSUB plain any 5\r\n");
    assert_eq!(
        q.sync(),
        "-ERR 'Permissions Violation for Subscription to \"work\"'\r\n-ERR 'Permissions Violation for Subscription to \"work\" using queue \"v2\"'\r\n"
    );
}

#[test]
fn allow_responses_lets_one_reply_through() {
    let s = start_server(PERMS, &[]);
    let mut responder = login(&s, "r", "r");
    responder.send(b"SUB req 1\r\n");
    responder.sync();
    let mut requester = login(&s, "p", "p");
    requester.send(b"SUB _INBOX.1 9\r\nPUB req _INBOX.1 1\r\nq\r\n");
    requester.sync();
    assert_eq!(responder.sync(), "MSG req 1 _INBOX.1 1\r\nq\r\n");
    responder.send(b"PUB _INBOX.1 1\r\na\r\nPUB _INBOX.1 1\r\nb\r\nPUB elsewhere 1\r\nc\r\n");
    assert_eq!(
        responder.sync(),
        "-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n-ERR 'Permissions Violation for Publish to \"elsewhere\"'\r\n"
    );
    assert_eq!(requester.sync(), "MSG _INBOX.1 9 1\r\na\r\n");
}

#[test]
fn account_connection_limit() {
    let conf =
        "accounts { A: { users: [ {user: a, password: a} ], limits: { max_connections: 1 } } }\n";
    let s = start_server(conf, &[]);
    let _first = login(&s, "a", "a");
    let mut second = Conn::setup(&s);
    second.send(b"CONNECT {\"user\":\"a\",\"pass\":\"a\"}\r\n");
    assert!(second.is_closed(3 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&second.buf),
        "-ERR 'maximum account active connections exceeded'\r\n"
    );
}

#[test]
fn reload_tightens_permissions_of_connected_clients() {
    let before = "authorization { users = [ {user: u, password: u, permissions: { subscribe: [\"a.>\"] }} ] }\n";
    let after = "authorization { users = [ {user: u, password: u, permissions: { subscribe: [\"a.b\"] }} ] }\n";
    let s = start_server(before, &[]);
    let mut c = login(&s, "u", "u");
    c.send(b"SUB a.> 1\r\nSUB a.b 2\r\n");
    c.sync();
    std::fs::write(s.dir.join("gannet.conf"), after).unwrap();
    s.signal(libc::SIGHUP);
    assert!(s.wait_log("Reloaded server configuration", 5 * SEC));
    let got = c.drain_for(Duration::from_millis(300));
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR 'Permissions Violation for Subscription to \"a.>\" (sid \"1\")'\r\n"
    );
    c.send(b"PUB a.b 1\r\nx\r\nPUB a.c 1\r\ny\r\n");
    assert_eq!(c.sync(), "MSG a.b 2 1\r\nx\r\n");
}

#[test]
fn config_errors_for_users_and_accounts() {
    let cases = [
        ("accounts { \"$G\": {} }\n", "\"$G\" is a Reserved Account"),
        ("authorization { users = [ {user: a}, {user: a} ] }\n", "Duplicate user \"a\" detected"),
        ("authorization { users = [ {password: a} ] }\n", "User entry requires a user"),
        ("no_auth_user: x\n", "no_auth_user: \"x\" present, but users/nkeys are not defined"),
        (
            "authorization { users = [ {user: a} ] }\nno_auth_user: x\n",
            "no_auth_user: \"x\" not present as user or nkey in authorization block or account configuration",
        ),
        (
            "authorization { users = [ {user: a, permissions: { publish: { allow: a, bogus: b } }} ] }\n",
            "Unknown field name \"bogus\" parsing subject permissions, only 'allow' or 'deny' are permitted",
        ),
    ];
    for (conf, want) in cases {
        let dir = std::env::temp_dir().join(format!("gannet-authconf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.conf");
        std::fs::write(&path, conf).unwrap();
        let out = util::run_to_exit(&["-c", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{conf}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{conf}: {err}");
    }
}

#[tokio::test]
async fn async_nats_with_user_token_and_nkey() {
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().unwrap();
    let conf = format!(
        "authorization {{ users = [ {{user: alice, password: wonderland}}, {{nkey: {}}} ] }}\n",
        kp.public_key()
    );
    let s = start_server(&conf, &[]);
    let alice =
        async_nats::ConnectOptions::with_user_and_password("alice".into(), "wonderland".into())
            .connect(s.url())
            .await
            .unwrap();
    let nk = async_nats::ConnectOptions::with_nkey(seed)
        .connect(s.url())
        .await
        .unwrap();
    let mut sub = nk.subscribe("greet").await.unwrap();
    nk.flush().await.unwrap();
    // Make sure the SUB is processed (flush only flushes the socket).
    let mut probe = nk.subscribe("probe").await.unwrap();
    nk.publish("probe", "".into()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut probe))
        .await
        .unwrap();
    alice.publish("greet", "hi".into()).await.unwrap();
    alice.flush().await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut sub))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, "hi");
    let bad = async_nats::ConnectOptions::with_user_and_password("alice".into(), "wrong".into())
        .connect(s.url())
        .await;
    assert!(bad.is_err());

    let t = start_server("authorization { token: s3cr3t }\n", &[]);
    let c = async_nats::ConnectOptions::with_token("s3cr3t".into())
        .connect(t.url())
        .await
        .unwrap();
    c.flush().await.unwrap();
}

const IMPORTS: &str = r#"
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "events.>"}, {service: "svc.echo"}, {stream: "private.>", accounts: [C]} ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "events.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
    ]
  }
  C: {
    users: [ {user: c, password: c} ]
    imports: [ {stream: {account: A, subject: "events.>"}, to: "ev.>"} ]
  }
}
"#;

#[test]
fn stream_imports_with_prefix_and_mapping() {
    let s = start_server(IMPORTS, &[]);
    let mut b = login(&s, "b", "b");
    b.send(b"SUB fromA.> 1\r\nSUB events.> 2\r\n");
    b.sync();
    let mut c = login(&s, "c", "c");
    c.send(b"SUB ev.> 1\r\n");
    c.sync();
    let mut a = login(&s, "a", "a");
    a.send(b"PUB events.x.y 2\r\nhi\r\nPUB other 1\r\nz\r\n");
    a.sync();
    assert_eq!(b.sync(), "MSG fromA.events.x.y 1 2\r\nhi\r\n");
    assert_eq!(c.sync(), "MSG ev.x.y 1 2\r\nhi\r\n");
}

#[test]
fn service_import_request_reply_across_accounts() {
    let s = start_server(IMPORTS, &[]);
    let mut responder = Conn::setup(&s);
    responder.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB svc.echo 1\r\n");
    responder.sync();
    let mut requester = login(&s, "b", "b");
    requester.send(b"SUB inbox.1 5\r\nPUB echo inbox.1 4\r\nping\r\n");
    requester.sync();
    let line = responder.read_line(5 * SEC);
    // HMSG svc.echo 1 _R_.xxxxxx.yyyyyyyyyyyy <hdr> <total>
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts[0], "HMSG", "{line}");
    assert_eq!(parts[1], "svc.echo");
    let reply = parts[3].to_string();
    assert!(reply.starts_with("_R_."), "{line}");
    let hdr_len: usize = parts[4].parse().unwrap();
    let total: usize = parts[5].parse().unwrap();
    responder.expect_bytes(b"", SEC);
    let mut body = Vec::new();
    while body.len() < total + 2 {
        body.extend(responder.drain_for(Duration::from_millis(20)));
    }
    let headers = String::from_utf8_lossy(&body[..hdr_len]).to_string();
    assert!(headers.starts_with("NATS/1.0\r\n"), "{headers}");
    assert!(
        headers.contains("Nats-Request-Info: {\"acc\":\"B\""),
        "{headers}"
    );
    assert_eq!(&body[hdr_len..total], b"ping");
    responder.send(format!("PUB {reply} 4\r\npong\r\n").as_bytes());
    responder.sync();
    assert_eq!(requester.sync(), "MSG inbox.1 5 4\r\npong\r\n");
    // A singleton mapping is gone after one response.
    responder.send(format!("PUB {reply} 4\r\nmore\r\n").as_bytes());
    responder.sync();
    assert_eq!(requester.sync(), "");
}

#[tokio::test]
async fn async_nats_request_through_service_import() {
    let s = start_server(IMPORTS, &[]);
    let a = async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(s.url())
        .await
        .unwrap();
    let mut service = a.subscribe("svc.echo").await.unwrap();
    let a2 = a.clone();
    tokio::spawn(async move {
        while let Some(m) = futures::StreamExt::next(&mut service).await {
            if let Some(reply) = m.reply {
                a2.publish(reply, m.payload).await.unwrap();
            }
        }
    });
    // Make sure the subscription is in place before requesting.
    let mut probe = a.subscribe("probe").await.unwrap();
    a.publish("probe", "".into()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut probe))
        .await
        .unwrap();
    let b = async_nats::ConnectOptions::with_user_and_password("b".into(), "b".into())
        .connect(s.url())
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), b.request("echo", "hello".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, "hello");
}

#[test]
fn unauthorized_private_import_is_a_config_error() {
    let conf = "accounts { A: { exports: [ {stream: \"p.>\", accounts: [C]} ] }, B: { imports: [ {stream: {account: A, subject: \"p.>\"}} ] }, C: {} }\n";
    let dir = std::env::temp_dir().join(format!("gannet-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.conf");
    std::fs::write(&path, conf).unwrap();
    let out = util::run_to_exit(&["-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stream import not authorized"),
        "{out:?}"
    );
}
