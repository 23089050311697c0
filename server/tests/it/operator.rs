//! Operator (JWT) mode against the real binary, and with `GANNET_TEST_BIN=nats-server` against
//! the reference with the same JWTs: users connect with a user JWT and a signature over the
//! nonce; tampered, untrusted, expired and revoked credentials are refused with an AUTH.ERR
//! event; an expiring user is disconnected; scoped signing keys impose their template.

use crate::util::http::{account_server, http_server, http_server_with};
use crate::util::jwt::{
    account_jwt, connect_jwt, connect_jwt_addr, connect_user, creds, creds_client, setup, user_jwt,
    Setup,
};
use crate::util::{self, start_server, Conn, SEC};
use gannet::jwt::{self, Claims};
use nkeys::KeyPair;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn users_connect_with_jwt_and_nonce_signature() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let alice = KeyPair::new_user();
    let token = user_jwt(&alice, &st.acc, |_| {});
    let (mut a, line) = connect_jwt(&s, &token, &alice);
    assert_eq!(line, "PONG");
    a.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    a.expect_bytes(b"MSG foo 1 2\r\nhi\r\nPONG\r\n", 2 * SEC);
    // USER.INFO names the user and account keys.
    a.send(b"SUB _INBOX.me 2\r\nPUB $SYS.REQ.USER.INFO _INBOX.me 0\r\n\r\n");
    let head = a.read_line(2 * SEC);
    assert!(head.starts_with("MSG _INBOX.me 2"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&a.read_line(2 * SEC)).unwrap();
    assert_eq!(body["data"]["user"], alice.public_key());
    assert_eq!(body["data"]["account"], st.acc.public_key());

    // A user signed by one of the account's signing keys names its account.
    let bob = KeyPair::new_user();
    let token = user_jwt(&bob, &st.acc_signer, |c| {
        c.nats.issuer_account = st.acc.public_key();
    });
    let (_b, line) = connect_jwt(&s, &token, &bob);
    assert_eq!(line, "PONG");

    // A scoped signing key's template replaces the user's permissions.
    let carol = KeyPair::new_user();
    // (A scoped user carries no permissions or limits of its own, as nsc writes it.)
    let token = user_jwt(&carol, &st.scoped, |c| {
        c.nats.issuer_account = st.acc.public_key();
        (
            c.nats.limits.subs,
            c.nats.limits.data,
            c.nats.limits.payload,
        ) = (0, 0, 0);
    });
    let (mut c, line) = connect_jwt(&s, &token, &carol);
    assert_eq!(line, "PONG");
    c.send(b"PUB allowed.x 1\r\nx\r\nPUB other 1\r\nx\r\nPING\r\n");
    assert_eq!(
        c.read_line(2 * SEC),
        "-ERR 'Permissions Violation for Publish to \"other\"'"
    );
}

#[test]
fn bad_credentials_are_refused_with_an_auth_error_event() {
    let alice = KeyPair::new_user();
    let now = jwt::now_unix();
    // Alice's JWTs issued before the revocation time are revoked.
    let st = setup(Some((&alice, now + 60)));
    let s = start_server(&st.conf, &[]);
    let admin_key = KeyPair::new_user();
    let admin_jwt = user_jwt(&admin_key, &st.sys, |_| {});
    let (mut admin, line) = connect_jwt(&s, &admin_jwt, &admin_key);
    assert_eq!(line, "PONG");
    admin.send(b"SUB $SYS.SERVER.*.CLIENT.AUTH.ERR 1\r\nPING\r\n");
    assert_eq!(admin.read_line(2 * SEC), "PONG");

    let bob = KeyPair::new_user();
    let good = user_jwt(&bob, &st.acc, |_| {});
    let other_operator = KeyPair::new_operator();
    let rogue_acc = KeyPair::new_account();
    let mut rogue = Claims {
        sub: rogue_acc.public_key(),
        nats: jwt::Account {
            kind: "account".into(),
            version: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let _ = jwt::encode(&mut rogue, &other_operator).unwrap();
    let cases: Vec<(&str, String, &KeyPair)> = vec![
        ("wrong signer of the nonce", good.clone(), &alice),
        (
            "tampered claims",
            {
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                let mut v = jwt::peek(&good).unwrap();
                v["name"] = "evil".into();
                use base64::Engine;
                parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(serde_json::to_vec(&v).unwrap());
                parts.join(".")
            },
            &bob,
        ),
        (
            "expired",
            user_jwt(&bob, &st.acc, |c| c.exp = now - 10),
            &bob,
        ),
        ("revoked", user_jwt(&alice, &st.acc, |_| {}), &alice),
        (
            "issuer unknown to the account",
            user_jwt(&bob, &st.operator, |c| {
                c.nats.issuer_account = st.acc.public_key()
            }),
            &bob,
        ),
        (
            "account of an untrusted operator",
            user_jwt(&bob, &rogue_acc, |_| {}),
            &bob,
        ),
    ];
    for (what, token, signer) in &cases {
        let (mut c, line) = connect_jwt(&s, token, signer);
        assert_eq!(line, "-ERR 'Authorization Violation'", "{what}");
        assert!(c.is_closed(3 * SEC), "{what}");
    }
    let got = admin.drain_for(Duration::from_millis(500));
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        text.matches(".CLIENT.AUTH.ERR 1 ").count(),
        cases.len(),
        "{text}"
    );
    assert!(text.contains("\"reason\":\"Authentication Failure\""));
}

#[test]
fn a_user_is_disconnected_when_its_jwt_expires() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let alice = KeyPair::new_user();
    let token = user_jwt(&alice, &st.acc, |c| c.exp = jwt::now_unix() + 2);
    let (mut a, line) = connect_jwt(&s, &token, &alice);
    assert_eq!(line, "PONG");
    let seen = read_until(&mut a, "Expired", 5 * SEC);
    assert!(
        seen.contains("-ERR 'User Authentication Expired'"),
        "{seen:?}"
    );
    assert!(a.is_closed(2 * SEC));
}

#[tokio::test]
async fn async_nats_connects_with_a_creds_file() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &st.sys, |_| {});
    let creds = creds(&token, &user.seed().unwrap());
    let client = creds_client(&s, "sys.creds", &creds).await;
    let reply = client
        .request("$SYS.REQ.SERVER.PING.IDZ", "".into())
        .await
        .unwrap();
    let idz: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert!(idz["id"].as_str().unwrap().starts_with('N'));
    let info = client
        .request("$SYS.REQ.USER.INFO", "".into())
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(info["data"]["account"], st.sys.public_key());
    assert_eq!(info["data"]["user"], user.public_key());
}

#[test]
fn a_claims_update_revokes_a_connected_user() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let mut admin = connect_user(&s, &st.sys);
    let alice = KeyPair::new_user();
    let (mut a, line) = connect_jwt(&s, &user_jwt(&alice, &st.acc, |_| {}), &alice);
    assert_eq!(line, "PONG");

    let update = |admin: &mut Conn, token: &str, n: usize| -> serde_json::Value {
        let subject = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", st.acc.public_key());
        admin.send(
            format!(
                "SUB _INBOX.cu{n} {n}\r\nPUB {subject} _INBOX.cu{n} {}\r\n{token}\r\n",
                token.len()
            )
            .as_bytes(),
        );
        let head = admin.read_line(3 * SEC);
        assert!(head.starts_with(&format!("MSG _INBOX.cu{n} {n}")), "{head}");
        serde_json::from_str(&admin.read_line(2 * SEC)).unwrap()
    };
    // Garbage and a JWT for another account are refused.
    let reply = update(&mut admin, "garbage", 1);
    assert_eq!(
        reply["error"]["description"],
        "jwt update resulted in error - expected 3 chunks"
    );
    let other = account_jwt(&st.sys, "SYS", &st.operator, |_| {});
    let reply = update(&mut admin, &other, 2);
    assert_eq!(
        reply["error"]["description"],
        "jwt update resulted in error - subject does not match jwt content"
    );
    // The new account JWT revokes alice: she is disconnected.
    let revoking = account_jwt(&st.acc, "ACC", &st.operator, |acc| {
        acc.revocations
            .insert(alice.public_key(), jwt::now_unix() + 60);
    });
    let reply = update(&mut admin, &revoking, 3);
    assert_eq!(
        reply["data"],
        serde_json::json!({"account": st.acc.public_key(), "code": 200, "message": "jwt updated"})
    );
    assert_eq!(a.read_line(3 * SEC), "-ERR 'User Authentication Revoked'");
    assert!(a.is_closed(3 * SEC), "revoked user still connected");
    let (_, line) = connect_jwt(&s, &user_jwt(&alice, &st.acc, |_| {}), &alice);
    assert_eq!(line, "-ERR 'Authorization Violation'");
}

/// Collects what `c` receives until it contains `needle` (or `timeout` passes).
fn read_until(c: &mut Conn, needle: &str, timeout: Duration) -> String {
    let end = std::time::Instant::now() + timeout;
    let mut seen = String::new();
    while !seen.contains(needle) && std::time::Instant::now() < end {
        seen.push_str(&String::from_utf8_lossy(
            &c.drain_for(Duration::from_millis(50)),
        ));
    }
    seen
}

#[test]
fn url_resolver_fetches_account_jwts() {
    let st = setup(None);
    let sys_jwt = account_jwt(&st.sys, "SYS", &st.operator, |_| {});
    let acc_jwt = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let port = account_server(vec![
        (st.sys.public_key(), sys_jwt),
        (st.acc.public_key(), acc_jwt),
    ]);
    let conf = st
        .conf
        .split("resolver: MEMORY")
        .next()
        .unwrap()
        .to_string()
        + &format!("resolver: URL(\"http://127.0.0.1:{port}/jwt/v1/accounts/\")\n");
    let s = start_server(&conf, &[]);
    let mut a = connect_user(&s, &st.acc);
    a.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    a.expect_bytes(b"MSG foo 1 2\r\nhi\r\nPONG\r\n", 2 * SEC);
    // An account the server doesn't vend is refused.
    let stranger = KeyPair::new_account();
    let bob = KeyPair::new_user();
    let (_, line) = connect_jwt(&s, &user_jwt(&bob, &stranger, |_| {}), &bob);
    assert_eq!(line, "-ERR 'Authorization Violation'");
}

/// Sends a request on `conn` (subscribing its inbox first) and returns the answers' payloads,
/// `n` of them.
fn request_n(conn: &mut Conn, subject: &str, payload: &[u8], tag: &str, n: usize) -> Vec<String> {
    let inbox = format!("_INBOX.{tag}");
    let mut out = format!(
        "SUB {inbox} {tag}\r\nPUB {subject} {inbox} {}\r\n",
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    conn.send(&out);
    (0..n)
        .map(|_| {
            let head = conn.read_line(4 * SEC);
            assert!(head.starts_with(&format!("MSG {inbox} ")), "{head}");
            conn.read_line(2 * SEC)
        })
        .collect()
}

fn request_json(conn: &mut Conn, subject: &str, payload: &[u8], tag: &str) -> serde_json::Value {
    let body = request_n(conn, subject, payload, tag, 1).remove(0);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The conf of `setup` with a `full` resolver in `dir` instead of MEMORY.
fn full_resolver_conf(st: &Setup, dir: &std::path::Path, extra: &str) -> String {
    st.conf.replace(
        "resolver: MEMORY",
        &format!(
            "resolver: {{ type: full, dir: \"{}\", allow_delete: true {extra} }}",
            dir.display()
        ),
    )
}

/// A generic JWT asking a full resolver to delete `accounts`.
fn delete_request(subject: &KeyPair, by: &KeyPair, accounts: &[String]) -> String {
    let mut c = Claims {
        sub: subject.public_key(),
        nats: serde_json::json!({"accounts": accounts, "type": "generic", "version": 2}),
        ..Default::default()
    };
    jwt::encode(&mut c, by).unwrap()
}

#[test]
fn full_resolver_serves_claims_requests_and_applies_updates() {
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-full-{}", rand::random::<u64>()));
    let s = start_server(&full_resolver_conf(&st, &dir, ""), &[]);
    let mut admin = connect_user(&s, &st.sys);
    let mut a = connect_user(&s, &st.acc);
    a.send(b"SUB secret.> 1\r\nPUB secret.x 2\r\nhi\r\nPING\r\n");
    a.expect_bytes(b"MSG secret.x 1 2\r\nhi\r\nPONG\r\n", 2 * SEC);
    let (sys_key, acc_key) = (st.sys.public_key(), st.acc.public_key());

    // LIST: the preloaded JWTs are stored.
    let list = request_json(&mut admin, "$SYS.REQ.CLAIMS.LIST", b"", "l1");
    let mut keys: Vec<String> = serde_json::from_value(list["data"].clone()).unwrap();
    keys.sort();
    let mut want = vec![sys_key.clone(), acc_key.clone()];
    want.sort();
    assert_eq!(keys, want);
    // LOOKUP: the stored JWT, or an empty message.
    let stored = std::fs::read_to_string(dir.join(format!("{acc_key}.jwt"))).unwrap();
    let found = request_n(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{acc_key}.CLAIMS.LOOKUP"),
        b"",
        "k1",
        1,
    );
    assert_eq!(found[0], stored);
    let stranger = KeyPair::new_account().public_key();
    let missing = request_n(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{stranger}.CLAIMS.LOOKUP"),
        b"",
        "k2",
        1,
    );
    assert_eq!(missing[0], "");

    // An update through `$SYS.REQ.CLAIMS.UPDATE` tightens alice's default permissions.
    let tighter = account_jwt(&st.acc, "ACC", &st.operator, |acc| {
        acc.default_permissions = Some(jwt::DefaultPermissions {
            publish: jwt::Permission {
                allow: Vec::new(),
                deny: vec!["secret.>".into()],
            },
            subscribe: jwt::Permission {
                allow: Vec::new(),
                deny: vec!["secret.>".into()],
            },
        });
    });
    let reply = request_json(
        &mut admin,
        "$SYS.REQ.CLAIMS.UPDATE",
        tighter.as_bytes(),
        "u1",
    );
    assert_eq!(
        reply["data"],
        serde_json::json!({"account": acc_key, "code": 200, "message": "jwt updated"})
    );
    assert_eq!(reply["server"]["id"].as_str().map(|id| id.len()), Some(56));
    assert_eq!(
        a.read_line(3 * SEC),
        "-ERR 'Permissions Violation for Subscription to \"secret.>\" (sid \"1\")'"
    );
    a.send(b"PUB secret.x 2\r\nhi\r\nPING\r\n");
    assert_eq!(
        a.read_line(2 * SEC),
        "-ERR 'Permissions Violation for Publish to \"secret.x\"'"
    );
    assert_eq!(a.read_line(2 * SEC), "PONG");
    let stored = std::fs::read_to_string(dir.join(format!("{acc_key}.jwt"))).unwrap();
    assert_eq!(stored, tighter);
    // Errors keep nats-server's texts.
    let reply = request_json(&mut admin, "$SYS.REQ.CLAIMS.UPDATE", b"garbage", "u2");
    assert_eq!(
        reply["error"],
        serde_json::json!({"account": "n/a", "code": 500,
            "description": "jwt update resulted in error - expected 3 chunks"})
    );
    let reply = request_json(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{sys_key}.CLAIMS.UPDATE"),
        tighter.as_bytes(),
        "u3",
    );
    assert_eq!(
        reply["error"]["description"],
        "jwt update resulted in error - subject does not match jwt content"
    );

    // PACK: our own hash gets one empty message; another hash gets every JWT, then an empty
    // message.
    let mut hash = [0u8; 32];
    for token in [
        &tighter,
        &std::fs::read_to_string(dir.join(format!("{sys_key}.jwt"))).unwrap(),
    ] {
        use sha2::Digest;
        for (h, b) in hash.iter_mut().zip(sha2::Sha256::digest(token.as_bytes())) {
            *h ^= b;
        }
    }
    let same = request_n(&mut admin, "$SYS.REQ.CLAIMS.PACK", &hash, "p1", 1);
    assert_eq!(same, [""]);
    let mut pack = request_n(&mut admin, "$SYS.REQ.CLAIMS.PACK", &[0u8; 32], "p2", 3);
    assert_eq!(pack.pop().as_deref(), Some(""));
    assert!(pack.contains(&format!("{acc_key}|{tighter}")), "{pack:?}");

    // DELETE: only operator-signed, never the system account; the deleted account's
    // clients are told their account expired.
    let reply = request_json(
        &mut admin,
        "$SYS.REQ.CLAIMS.DELETE",
        delete_request(&st.operator, &st.operator, std::slice::from_ref(&sys_key)).as_bytes(),
        "d1",
    );
    assert_eq!(
        reply["error"],
        serde_json::json!({"code": 500, "description": format!(
            "delete accounts request by {} failed - not allowed to delete system account",
            st.operator.public_key())})
    );
    let reply = request_json(
        &mut admin,
        "$SYS.REQ.CLAIMS.DELETE",
        delete_request(&st.acc, &st.operator, std::slice::from_ref(&acc_key)).as_bytes(),
        "d2",
    );
    assert_eq!(
        reply["error"]["description"],
        format!("delete accounts request by {acc_key} failed - not self signed")
    );
    let reply = request_json(
        &mut admin,
        "$SYS.REQ.CLAIMS.DELETE",
        delete_request(&st.operator, &st.operator, std::slice::from_ref(&acc_key)).as_bytes(),
        "d3",
    );
    assert_eq!(
        reply["data"],
        serde_json::json!({"code": 200, "message": "deleted 1 accounts"})
    );
    assert_eq!(
        a.read_line(3 * SEC),
        "-ERR 'Account Authentication Expired'"
    );
    assert!(a.is_closed(2 * SEC));
    assert!(dir.join(format!("{acc_key}.jwt.deleted")).exists());
    let list = request_json(&mut admin, "$SYS.REQ.CLAIMS.LIST", b"", "l2");
    assert_eq!(list["data"], serde_json::json!([sys_key]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_resolver_looks_missing_accounts_up_over_sys() {
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-lookup-{}", rand::random::<u64>()));
    // Only the system account is preloaded; ACC comes from another "server" (a system user
    // answering the lookup request).
    let conf = format!(
        "operator: \"{}\"\nsystem_account: {sys}\nresolver: {{ type: full, dir: \"{}\" }}\nresolver_preload: {{\n  {sys}: \"{}\"\n}}\n",
        st.op_jwt,
        dir.display(),
        st.sys_jwt,
        sys = st.sys.public_key(),
    );
    let s = start_server(&conf, &[]);
    let mut admin = connect_user(&s, &st.sys);
    admin.send(b"SUB $SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP 9\r\nPING\r\n");
    assert_eq!(admin.read_line(2 * SEC), "PONG");
    let acc_jwt = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let alice = KeyPair::new_user();
    let alice_jwt = user_jwt(&alice, &st.acc, |_| {});
    let addr = s.addr();
    let connecting = std::thread::spawn({
        let addr = addr.clone();
        move || connect_jwt_addr(&addr, &alice_jwt, &alice).1
    });
    let head = admin.read_line(3 * SEC);
    let lookup = format!(
        "MSG $SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP 9 ",
        st.acc.public_key()
    );
    assert!(head.starts_with(&lookup), "{head}");
    assert_eq!(head.split(' ').nth(4), Some("0"), "{head}");
    let reply = head.split(' ').nth(3).unwrap().to_string();
    admin.read_line(SEC);
    admin.send(format!("PUB {reply} {}\r\n{acc_jwt}\r\n", acc_jwt.len()).as_bytes());
    assert_eq!(connecting.join().unwrap(), "PONG");
    let stored = std::fs::read_to_string(dir.join(format!("{}.jwt", st.acc.public_key())));
    assert_eq!(stored.unwrap(), acc_jwt);
    // An account nobody has: the empty answer ends the lookup, the client is refused.
    let stranger = KeyPair::new_account();
    let bob = KeyPair::new_user();
    let bob_jwt = user_jwt(&bob, &stranger, |_| {});
    let connecting = std::thread::spawn(move || connect_jwt_addr(&addr, &bob_jwt, &bob).1);
    let head = admin.read_line(3 * SEC);
    let reply = head.split(' ').nth(3).unwrap().to_string();
    admin.read_line(SEC);
    admin.send(format!("PUB {reply} 0\r\n\r\n").as_bytes());
    assert_eq!(connecting.join().unwrap(), "-ERR 'Authorization Violation'");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_jwt_limits_source_networks_times_and_connection_types() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let connect = |edit: &dyn Fn(&mut jwt::User)| {
        let user = KeyPair::new_user();
        let token = user_jwt(&user, &st.acc, |c| edit(&mut c.nats));
        connect_jwt(&s, &token, &user)
    };
    // `subs` and `payload`.
    let (mut a, line) = connect(&|u| {
        u.limits.subs = 1;
        u.limits.payload = 4;
    });
    assert_eq!(line, "PONG");
    a.send(b"SUB a 1\r\nSUB b 2\r\nPING\r\n");
    assert_eq!(
        a.read_line(2 * SEC),
        "-ERR 'maximum subscriptions exceeded'"
    );
    assert_eq!(a.read_line(2 * SEC), "PONG");
    a.send(b"PUB a 5\r\nhello\r\n");
    assert_eq!(a.read_line(2 * SEC), "-ERR 'Maximum Payload Violation'");
    assert!(a.is_closed(2 * SEC));
    // `src`: the client's address must be in one of the networks.
    let (_, line) = connect(&|u| u.limits.src = jwt::StringList::List(vec!["10.0.0.0/8".into()]));
    assert_eq!(line, "-ERR 'Authorization Violation'");
    let (_, line) = connect(&|u| {
        u.limits.src = jwt::StringList::Joined("10.0.0.0/8, 127.0.0.0/8".into());
    });
    assert_eq!(line, "PONG");
    // `allowed_connection_types`: a plain TCP client is STANDARD.
    let (_, line) = connect(&|u| u.limits.allowed_connection_types = vec!["WEBSOCKET".into()]);
    assert_eq!(line, "-ERR 'Authorization Violation'");
    let (_, line) = connect(&|u| u.limits.allowed_connection_types = vec!["STANDARD".into()]);
    assert_eq!(line, "PONG");
    // `times`: only inside a window (UTC here), and closed when it ends.
    let now = jwt::now_unix() % 86_400;
    let hms = |s: i64| {
        let s = s.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    if now > 120 && now < 86_400 - 120 {
        let window = |from: i64, to: i64| {
            vec![jwt::TimeRange {
                start: hms(now + from),
                end: hms(now + to),
            }]
        };
        let (_, line) = connect(&|u| {
            u.limits.times = window(60, 90);
            u.limits.times_location = "UTC".into();
        });
        assert_eq!(line, "-ERR 'Authorization Violation'");
        let (mut a, line) = connect(&|u| {
            u.limits.times = window(-60, 2);
            u.limits.times_location = "UTC".into();
        });
        assert_eq!(line, "PONG");
        let seen = read_until(&mut a, "Expired", 5 * SEC);
        assert!(
            seen.contains("-ERR 'User Authentication Expired'"),
            "{seen:?}"
        );
    }
}

#[test]
fn an_expiring_account_disconnects_its_users() {
    let st = setup(None);
    let short = KeyPair::new_account();
    let mut claims: Claims<jwt::Account> = Claims {
        sub: short.public_key(),
        name: "SHORT".into(),
        exp: jwt::now_unix() + 3,
        nats: jwt::Account {
            kind: "account".into(),
            version: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let short_jwt = jwt::encode(&mut claims, &st.operator).unwrap();
    let conf = st.conf.replace(
        "resolver_preload: {\n",
        &format!(
            "resolver_preload: {{\n  {}: \"{short_jwt}\"\n",
            short.public_key()
        ),
    );
    let s = start_server(&conf, &[]);
    let alice = KeyPair::new_user();
    let (mut a, line) = connect_jwt(&s, &user_jwt(&alice, &short, |_| {}), &alice);
    assert_eq!(line, "PONG");
    let seen = read_until(&mut a, "Expired", 5 * SEC);
    assert!(
        seen.contains("-ERR 'Account Authentication Expired'"),
        "{seen:?}"
    );
    assert!(a.is_closed(2 * SEC));
}

#[test]
fn private_exports_need_an_activation_token() {
    let st = setup(None);
    let exporter = KeyPair::new_account();
    let (with, without) = (KeyPair::new_account(), KeyPair::new_account());
    let exporter_jwt = account_jwt(&exporter, "EXP", &st.operator, |a| {
        a.exports = vec![jwt::Export {
            subject: "events.>".into(),
            kind: "stream".into(),
            token_req: true,
            ..Default::default()
        }];
    });
    let activation = {
        let mut c = Claims {
            sub: with.public_key(),
            nats: jwt::Activation {
                subject: "events.>".into(),
                import_type: "stream".into(),
                kind: "activation".into(),
                version: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        jwt::encode(&mut c, &exporter).unwrap()
    };
    let importer = |key: &KeyPair, name: &str, token: &str| {
        account_jwt(key, name, &st.operator, |a| {
            a.imports = vec![jwt::Import {
                subject: "events.>".into(),
                account: exporter.public_key(),
                token: token.into(),
                kind: "stream".into(),
                ..Default::default()
            }];
        })
    };
    let conf = st.conf.replace(
        "resolver_preload: {\n",
        &format!(
            "resolver_preload: {{\n  {}: \"{exporter_jwt}\"\n  {}: \"{}\"\n  {}: \"{}\"\n",
            exporter.public_key(),
            with.public_key(),
            importer(&with, "WITH", &activation),
            without.public_key(),
            importer(&without, "WITHOUT", ""),
        ),
    );
    let s = start_server(&conf, &[]);
    let subscriber = |acc: &KeyPair| {
        let user = KeyPair::new_user();
        let (mut c, line) = connect_jwt(&s, &user_jwt(&user, acc, |_| {}), &user);
        assert_eq!(line, "PONG");
        c.send(b"SUB events.> 1\r\nPING\r\n");
        assert_eq!(c.read_line(2 * SEC), "PONG");
        c
    };
    let (mut w, mut wo) = (subscriber(&with), subscriber(&without));
    let publisher = KeyPair::new_user();
    let (mut p, line) = connect_jwt(&s, &user_jwt(&publisher, &exporter, |_| {}), &publisher);
    assert_eq!(line, "PONG");
    p.send(b"PUB events.a 2\r\nhi\r\nPING\r\n");
    assert_eq!(p.read_line(2 * SEC), "PONG");
    w.expect_bytes(b"MSG events.a 1 2\r\nhi\r\n", 2 * SEC);
    let got = wo.drain_except_pings(Duration::from_millis(300));
    assert!(got.is_empty(), "{got}");

    // The exporter revokes the activation: the stream stops.
    let mut admin = connect_user(&s, &st.sys);
    let revoking = account_jwt(&exporter, "EXP", &st.operator, |a| {
        a.exports = vec![jwt::Export {
            subject: "events.>".into(),
            kind: "stream".into(),
            token_req: true,
            revocations: [(with.public_key(), jwt::now_unix() + 60)].into(),
            ..Default::default()
        }];
    });
    let reply = request_json(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", exporter.public_key()),
        revoking.as_bytes(),
        "r1",
    );
    assert_eq!(reply["data"]["message"], "jwt updated");
    p.send(b"PUB events.b 2\r\nhi\r\nPING\r\n");
    assert_eq!(p.read_line(2 * SEC), "PONG");
    let got = w.drain_except_pings(Duration::from_millis(300));
    assert!(got.is_empty(), "{got}");
}

/// The operator-mode tutorial of the product docs, step by step: operator JWT in a file, the
/// system account's key, a URL resolver (a tiny account server here); the system user's
/// creds file sees every event and calls the six services. The transcript is printed (run
/// with `--nocapture` to see it).
#[tokio::test]
async fn operator_tutorial_end_to_end() {
    use futures::StreamExt;
    let st = setup(None);
    let sys_jwt = account_jwt(&st.sys, "SYS", &st.operator, |_| {});
    let acc_jwt = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let port = account_server(vec![
        (st.sys.public_key(), sys_jwt),
        (st.acc.public_key(), acc_jwt),
    ]);
    let files = std::env::temp_dir().join(format!("gannet-tutorial-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&files).unwrap();
    let op_file = files.join("OP.jwt");
    std::fs::write(
        &op_file,
        format!(
            "-----BEGIN NATS OPERATOR JWT-----\n{}\n------END NATS OPERATOR JWT------\n",
            st.op_jwt
        ),
    )
    .unwrap();
    let conf = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver: URL(http://127.0.0.1:{port}/jwt/v1/accounts/)\n",
        op_file.display(),
        st.sys.public_key()
    );
    let s = start_server(&conf, &[]);
    let sys_user = KeyPair::new_user();
    let sys_creds = files.join("sys.creds");
    std::fs::write(
        &sys_creds,
        creds(
            &user_jwt(&sys_user, &st.sys, |_| {}),
            &sys_user.seed().unwrap(),
        ),
    )
    .unwrap();
    let sys = async_nats::ConnectOptions::with_credentials_file(&sys_creds)
        .await
        .unwrap()
        .connect(s.addr())
        .await
        .unwrap();
    let mut events = sys.subscribe("$SYS.>").await.unwrap();
    sys.flush().await.unwrap();

    // A user of ACC comes and goes; a user with a forged JWT is refused.
    let alice = KeyPair::new_user();
    let alice_creds = files.join("alice.creds");
    std::fs::write(
        &alice_creds,
        creds(&user_jwt(&alice, &st.acc, |_| {}), &alice.seed().unwrap()),
    )
    .unwrap();
    let a = async_nats::ConnectOptions::with_credentials_file(&alice_creds)
        .await
        .unwrap()
        .name("alice")
        .connect(s.addr())
        .await
        .unwrap();
    a.publish("greet", "hello".into()).await.unwrap();
    a.flush().await.unwrap();
    // An account loaded from its JWT can ask about itself like a configured one.
    let connz = a
        .request("$SYS.REQ.ACCOUNT.PING.CONNZ", "".into())
        .await
        .unwrap();
    let connz: serde_json::Value = serde_json::from_slice(&connz.payload).unwrap();
    assert_eq!(connz["data"]["connections"][0]["name"], "alice", "{connz}");
    drop(a);
    let mallory = KeyPair::new_user();
    let (_, line) = connect_jwt(&s, &user_jwt(&mallory, &st.acc, |_| {}), &alice);
    assert_eq!(line, "-ERR 'Authorization Violation'");

    let acc = st.acc.public_key();
    let mut seen: Vec<(String, serde_json::Value)> = Vec::new();
    let wanted = |seen: &[(String, serde_json::Value)]| {
        let has = |suffix: &str| seen.iter().any(|(s, _)| s.ends_with(suffix));
        has(&format!("{acc}.CONNECT"))
            && has(&format!("{acc}.DISCONNECT"))
            && has("CLIENT.AUTH.ERR")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !wanted(&seen) {
        let msg = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events")
            .unwrap();
        let body = serde_json::from_slice(&msg.payload).unwrap_or_default();
        seen.push((msg.subject.to_string(), body));
    }
    for (subject, body) in &seen {
        eprintln!("event {subject} {body}");
    }
    let connect = &seen
        .iter()
        .find(|(s, _)| *s == format!("$SYS.ACCOUNT.{acc}.CONNECT"))
        .unwrap()
        .1;
    assert_eq!(connect["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(connect["client"]["acc"], acc);
    assert_eq!(connect["client"]["user"], alice.public_key());
    assert_eq!(connect["client"]["name_tag"], "ACC");
    assert_eq!(connect["client"]["name"], "alice");
    assert_eq!(connect["client"]["issuer_key"], acc);
    assert!(connect["client"]["jwt"]
        .as_str()
        .unwrap()
        .starts_with("eyJ"));
    let disconnect = &seen
        .iter()
        .find(|(s, _)| *s == format!("$SYS.ACCOUNT.{acc}.DISCONNECT"))
        .unwrap()
        .1;
    assert_eq!(disconnect["sent"]["msgs"], 2);
    assert_eq!(disconnect["reason"], "Client Closed");
    let auth_err = &seen
        .iter()
        .find(|(s, _)| s.ends_with(".CLIENT.AUTH.ERR"))
        .unwrap()
        .1;
    assert_eq!(auth_err["reason"], "Authentication Failure");
    assert!(auth_err["client"]["jwt"].as_str().is_some(), "{auth_err}");
    let conns = &seen
        .iter()
        .find(|(s, _)| *s == format!("$SYS.ACCOUNT.{acc}.SERVER.CONNS"))
        .unwrap()
        .1;
    assert_eq!(conns["name"], "ACC");

    // The six requests.
    let ask = |subject: String, body: &'static str| {
        let sys = sys.clone();
        async move {
            let reply = sys.request(subject.clone(), body.into()).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
            let shown = v.to_string();
            eprintln!("{subject} -> {}", &shown[..shown.len().min(400)]);
            v
        }
    };
    let info = ask("$SYS.REQ.USER.INFO".into(), "").await;
    assert_eq!(info["data"]["user"], sys_user.public_key());
    assert_eq!(info["data"]["account"], st.sys.public_key());
    assert_eq!(info["data"]["account_name"], "SYS");
    assert_eq!(info["data"]["user_name"], "u");
    let idz = ask("$SYS.REQ.SERVER.PING.IDZ".into(), "").await;
    let id = idz["id"].as_str().unwrap().to_string();
    let ping = ask("$SYS.REQ.SERVER.PING".into(), "").await;
    assert_eq!(ping["server"]["id"], id);
    assert!(ping["statsz"]["connections"].as_u64().is_some(), "{ping}");
    let statsz = ask(format!("$SYS.REQ.SERVER.{id}.STATSZ"), "").await;
    assert_eq!(statsz["server"]["id"], id);
    assert!(statsz["statsz"]["mem"].as_u64().unwrap() > 0);
    let profilez = ask(
        format!("$SYS.REQ.SERVER.{id}.PROFILEZ"),
        r#"{"name":"cpu","duration":200000000}"#,
    )
    .await;
    assert_eq!(profilez["data"]["error"], "", "{profilez}");
    assert!(profilez["data"]["profile"].as_str().unwrap().len() > 20);
    let reload = ask(format!("$SYS.REQ.SERVER.{id}.RELOAD"), "").await;
    assert!(reload.get("error").is_none(), "{reload}");
    assert_eq!(reload["server"]["id"], id);
    let _ = std::fs::remove_dir_all(&files);
}

#[test]
fn cache_resolver_takes_updates_only_for_loaded_accounts() {
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-cache-{}", rand::random::<u64>()));
    let conf = st.conf.replace(
        "resolver: MEMORY",
        &format!(
            "resolver: {{ type: cache, dir: \"{}\", ttl: \"1h\" }}",
            dir.display()
        ),
    );
    let s = start_server(&conf, &[]);
    let mut admin = connect_user(&s, &st.sys);
    // ACC is preloaded into the directory but not loaded until a client needs it.
    let acc_key = st.acc.public_key();
    let update = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let reply = request_json(
        &mut admin,
        "$SYS.REQ.CLAIMS.UPDATE",
        update.as_bytes(),
        "c1",
    );
    assert_eq!(
        reply["data"],
        serde_json::json!({"account": acc_key, "code": 200, "message": "jwt update cache skipped"})
    );
    let alice = KeyPair::new_user();
    let (_a, line) = connect_jwt(&s, &user_jwt(&alice, &st.acc, |_| {}), &alice);
    assert_eq!(line, "PONG");
    let reply = request_json(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{acc_key}.CLAIMS.UPDATE"),
        update.as_bytes(),
        "c2",
    );
    assert_eq!(
        reply["data"],
        serde_json::json!({"account": acc_key, "code": 200, "message": "jwt updated cache"})
    );
    let reply = request_json(&mut admin, "$SYS.REQ.CLAIMS.UPDATE", b"garbage", "c3");
    assert_eq!(
        reply["error"]["description"],
        "jwt update cache resulted in error - expected 3 chunks"
    );
    let list = request_json(&mut admin, "$SYS.REQ.CLAIMS.LIST", b"", "c4");
    assert!(list["data"]
        .as_array()
        .unwrap()
        .contains(&acc_key.clone().into()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_resolver_merges_packs_from_other_servers() {
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-pack-{}", rand::random::<u64>()));
    let s = start_server(&full_resolver_conf(&st, &dir, ", interval: \"500ms\""), &[]);
    let mut admin = connect_user(&s, &st.sys);
    // Play another full resolver: answer the periodic pack request with a JWT it lacks.
    admin.send(b"SUB $SYS.REQ.CLAIMS.PACK 7\r\nPING\r\n");
    assert_eq!(admin.read_line(2 * SEC), "PONG");
    let head = admin.read_line(3 * SEC);
    assert!(
        head.starts_with("MSG $SYS.REQ.CLAIMS.PACK 7 $SYS._INBOX."),
        "{head}"
    );
    assert!(head.ends_with(" 32"), "{head}");
    let reply = head.split(' ').nth(3).unwrap().to_string();
    let mut hash = Vec::new();
    while hash.len() < 34 {
        hash.extend_from_slice(&admin.drain_for(Duration::from_millis(50)));
        hash.extend(std::mem::take(&mut admin.buf));
    }
    let extra = KeyPair::new_account();
    let extra_jwt = account_jwt(&extra, "EXTRA", &st.operator, |_| {});
    let line = format!("{}|{extra_jwt}", extra.public_key());
    admin.send(
        format!(
            "PUB {reply} {}\r\n{line}\r\nPUB {reply} 0\r\n\r\n",
            line.len()
        )
        .as_bytes(),
    );
    let mut found = false;
    for n in 0..40 {
        let list = request_json(&mut admin, "$SYS.REQ.CLAIMS.LIST", b"", &format!("m{n}"));
        if list["data"]
            .as_array()
            .unwrap()
            .contains(&extra.public_key().into())
        {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        // Further pack requests may be queued: drop them.
        admin.buf.clear();
    }
    assert!(found, "merged JWT not listed");
    let stored = std::fs::read_to_string(dir.join(format!("{}.jwt", extra.public_key())));
    assert_eq!(stored.unwrap(), extra_jwt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn account_updates_close_users_of_dropped_signers_and_over_the_limit() {
    let st = setup(None);
    let s = start_server(&st.conf, &[]);
    let mut admin = connect_user(&s, &st.sys);
    let connect = |by: &KeyPair, edit: &dyn Fn(&mut Claims<jwt::User>)| {
        let user = KeyPair::new_user();
        let token = user_jwt(&user, by, |c| {
            if by.public_key() != st.acc.public_key() {
                c.nats.issuer_account = st.acc.public_key();
            }
            edit(c);
        });
        let (c, line) = connect_jwt(&s, &token, &user);
        assert_eq!(line, "PONG");
        c
    };
    let mut oldest = connect(&st.acc, &|_| {});
    let mut by_signer = connect(&st.acc_signer, &|_| {});
    let mut newest = connect(&st.acc, &|_| {});
    // The new JWT drops the plain signing key and allows two connections: the signer's user
    // goes without a word, then the newest client is over the limit.
    let update = account_jwt(&st.acc, "ACC", &st.operator, |a| {
        a.limits.conn = 1;
    });
    let reply = request_json(
        &mut admin,
        &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", st.acc.public_key()),
        update.as_bytes(),
        "x1",
    );
    assert_eq!(reply["data"]["message"], "jwt updated");
    assert!(by_signer.is_closed(3 * SEC));
    assert_eq!(
        newest.read_line(3 * SEC),
        "-ERR 'maximum account active connections exceeded'"
    );
    assert!(newest.is_closed(2 * SEC));
    oldest.send(b"PING\r\n");
    assert_eq!(oldest.read_line(2 * SEC), "PONG");
}

#[test]
fn resolver_config_errors_match_nats_server() {
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-rcfg-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let cases = [
        (
            "{ type: full }",
            "dir has no value and needs to point to a directory",
        ),
        (
            &format!("{{ type: full, dir: \"{}\" }}", file.display()) as &str,
            "dir needs to point to an accessible directory",
        ),
        (
            &format!(
                "{{ type: cache, dir: \"{}\", allow_delete: true }}",
                dir.display()
            ),
            "CACHE does not accept allow_delete",
        ),
        (
            &format!("{{ type: full, dir: \"{}\", ttl: \"1m\" }}", dir.display()),
            "FULL does not accept ttl",
        ),
        (
            &format!(
                "{{ type: full, dir: \"{}\", hard_delete: true }}",
                dir.display()
            ),
            "hard_delete has no effect without delete",
        ),
        (
            "{ type: bogus }",
            "error parsing account resolver, should be MEM or",
        ),
    ];
    for (resolver, want) in cases {
        let conf = dir.join("r.conf");
        std::fs::write(
            &conf,
            st.conf
                .replace("resolver: MEMORY", &format!("resolver: {resolver}")),
        )
        .unwrap();
        let out = util::run_to_exit(&["-c", conf.to_str().unwrap(), "-p", "-1"]);
        assert_eq!(out.status.code(), Some(1), "{resolver}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{resolver}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_resolver_fetch_does_not_stall_other_clients() {
    let st = setup(None);
    let sys_jwt = account_jwt(&st.sys, "SYS", &st.operator, |_| {});
    let acc_jwt = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let sys_key = st.sys.public_key();
    let (release_tx, release) = std::sync::mpsc::channel::<()>();
    let release = std::sync::Mutex::new(release);
    // An account server that holds the answer for ACC until the test releases it.
    let port = http_server(move |path| {
        if path.ends_with(&sys_key) {
            Some(sys_jwt.clone())
        } else if path.ends_with("/accounts/") {
            Some(String::new())
        } else {
            let _ = release.lock().unwrap().recv_timeout(Duration::from_secs(5));
            Some(acc_jwt.clone())
        }
    });
    let conf = st
        .conf
        .split("resolver: MEMORY")
        .next()
        .unwrap()
        .to_string()
        + &format!("resolver: URL(\"http://127.0.0.1:{port}/jwt/v1/accounts/\")\n");
    let s = start_server(&conf, &["-workers", "1"]);
    let mut admin = connect_user(&s, &st.sys);
    let alice = KeyPair::new_user();
    let alice_jwt = user_jwt(&alice, &st.acc, |_| {});
    let addr = s.addr();
    let connecting = std::thread::spawn(move || connect_jwt_addr(&addr, &alice_jwt, &alice).1);
    std::thread::sleep(Duration::from_millis(200));
    // While ACC is being fetched, the same worker keeps serving others.
    admin.send(b"PING\r\n");
    assert_eq!(admin.read_line(SEC), "PONG");
    release_tx.send(()).unwrap();
    assert_eq!(connecting.join().unwrap(), "PONG");
}

#[test]
fn operator_signing_keys_strict_usage_and_account_limits() {
    let operator = KeyPair::new_operator();
    let op_signer = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let user_signer = KeyPair::new_account();
    let (by_signer, by_operator, too_many) = (
        KeyPair::new_account(),
        KeyPair::new_account(),
        KeyPair::new_account(),
    );
    let mut op = Claims {
        sub: operator.public_key(),
        name: "OP".into(),
        nats: jwt::Operator {
            kind: "operator".into(),
            version: 2,
            system_account: sys.public_key(),
            signing_keys: vec![op_signer.public_key()],
            strict_signing_key_usage: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let op_jwt = jwt::encode(&mut op, &operator).unwrap();
    let preload = [
        (&sys, account_jwt(&sys, "SYS", &op_signer, |_| {})),
        (
            &by_signer,
            account_jwt(&by_signer, "A", &op_signer, |a| {
                a.signing_keys = vec![jwt::SigningKey::Key(user_signer.public_key())];
            }),
        ),
        // Strict: the operator's own key may no longer sign accounts.
        (
            &by_operator,
            account_jwt(&by_operator, "B", &operator, |_| {}),
        ),
        // More imports than its limits allow: not a valid account.
        (
            &too_many,
            account_jwt(&too_many, "C", &op_signer, |a| {
                a.limits.imports = 0;
                a.imports = vec![jwt::Import {
                    subject: "x".into(),
                    account: by_signer.public_key(),
                    kind: "stream".into(),
                    ..Default::default()
                }];
            }),
        ),
    ];
    let mut conf = format!("operator: \"{op_jwt}\"\nresolver: MEMORY\nresolver_preload: {{\n");
    for (k, token) in &preload {
        conf.push_str(&format!("  {}: \"{token}\"\n", k.public_key()));
    }
    conf.push_str("}\n");
    let s = start_server(&conf, &[]);
    let try_user = |acc: &KeyPair| {
        let user = KeyPair::new_user();
        connect_jwt(&s, &user_jwt(&user, acc, |_| {}), &user).1
    };
    // With strict signing, users are signed by an account signing key, not the account key.
    let user = KeyPair::new_user();
    let token = user_jwt(&user, &user_signer, |c| {
        c.nats.issuer_account = by_signer.public_key()
    });
    assert_eq!(connect_jwt(&s, &token, &user).1, "PONG");
    assert_eq!(try_user(&by_signer), "-ERR 'Authorization Violation'");
    assert_eq!(try_user(&by_operator), "-ERR 'Authorization Violation'");
    assert_eq!(try_user(&too_many), "-ERR 'Authorization Violation'");
}

#[test]
fn url_resolver_over_https_with_resolver_tls() {
    use rustls::pki_types::pem::PemObject;
    let st = setup(None);
    let dir = std::env::temp_dir().join(format!("gannet-rtls-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    // A CA and a certificate for 127.0.0.1, the account server's.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server_config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())
                .unwrap(),
        )
        .unwrap(),
    );
    let sys_jwt = account_jwt(&st.sys, "SYS", &st.operator, |_| {});
    let acc_jwt = account_jwt(&st.acc, "ACC", &st.operator, |_| {});
    let (sys_key, acc_key) = (st.sys.public_key(), st.acc.public_key());
    let port = http_server_with(Some(server_config), move |path| {
        if path == "/jwt/v1/accounts/" {
            Some(String::new())
        } else if path.ends_with(&sys_key) {
            Some(sys_jwt.clone())
        } else if path.ends_with(&acc_key) {
            Some(acc_jwt.clone())
        } else {
            None
        }
    });
    let conf = st.conf.split("resolver: MEMORY").next().unwrap().to_string()
        + &format!(
            "resolver: URL(\"https://127.0.0.1:{port}/jwt/v1/accounts/\")\nresolver_tls {{ ca_file: \"{}\" }}\n",
            dir.join("ca.pem").display()
        );
    let s = start_server(&conf, &[]);
    let mut a = connect_user(&s, &st.acc);
    a.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    a.expect_bytes(b"MSG foo 1 2\r\nhi\r\nPONG\r\n", 2 * SEC);
    // Without the CA the account server's certificate is not trusted: startup fails.
    let untrusting = dir.join("untrusting.conf");
    std::fs::write(&untrusting, conf.split("resolver_tls").next().unwrap()).unwrap();
    let out = util::run_to_exit(&["-c", untrusting.to_str().unwrap(), "-p", "-1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not fetch"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
