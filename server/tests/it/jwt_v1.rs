//! v1 (pre-2.0) JWTs, as nats-server 2.15.1 accepts them (issue 13): a v1 operator with a
//! signing key, v1 accounts preloaded into a MEMORY resolver and v1 users in creds files, all
//! minted here with nkeys (`gannet::jwt::v1::encode`, header `{"typ":"jwt","alg":"ed25519"}`,
//! signature over the payload segment), used by real clients.

use crate::util::jwt::{creds, creds_client};
use crate::util::start_server;
use gannet::jwt::v1;
use nkeys::KeyPair;
use serde_json::{json, Value};

/// Unlimited v1 account limits, as the v1 library wrote them.
fn open_limits() -> Value {
    json!({"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
        "data": -1, "payload": -1, "wildcards": true})
}

/// A v1 operator (identity key plus a signing key), a v1 system account and a v1 account
/// `ACC` signed by the operator's signing key, with an account signing key of its own.
struct V1 {
    sys: KeyPair,
    acc: KeyPair,
    acc_signer: KeyPair,
    conf: String,
}

fn v1_setup(acc_limits: Value) -> V1 {
    let op = KeyPair::new_operator();
    let op_signer = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let acc = KeyPair::new_account();
    let acc_signer = KeyPair::new_account();
    let op_jwt = v1::encode(
        &json!({"jti": "OPJTI", "iat": 1_700_000_000, "name": "OP", "sub": op.public_key(),
            "type": "operator", "nats": {"signing_keys": [op_signer.public_key()]}}),
        &op,
    )
    .unwrap();
    let sys_jwt = v1::encode(
        &json!({"jti": "SYSJTI", "iat": 1_700_000_000, "name": "SYS", "sub": sys.public_key(),
            "type": "account", "nats": {"limits": open_limits()}}),
        &op,
    )
    .unwrap();
    let acc_jwt = v1::encode(
        &json!({"jti": "ACCJTI", "iat": 1_700_000_000, "name": "ACC", "sub": acc.public_key(),
            "type": "account",
            "nats": {"limits": acc_limits, "signing_keys": [acc_signer.public_key()]}}),
        &op_signer,
    )
    .unwrap();
    let conf = format!(
        "operator: \"{op_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {sys}: \"{sys_jwt}\"\n  {acc}: \"{acc_jwt}\"\n}}\n",
        sys = sys.public_key(),
        acc = acc.public_key()
    );
    V1 {
        sys,
        acc,
        acc_signer,
        conf,
    }
}

/// A v1 user creds file: the user signed by `by`, with a top-level `issuer_account` when `by`
/// is an account signing key.
fn v1_creds(by: &KeyPair, issuer_account: Option<&KeyPair>, perms: Value) -> String {
    let user = KeyPair::new_user();
    let mut claims = json!({"jti": "UJTI", "iat": 1_700_000_000, "name": "u",
        "sub": user.public_key(), "type": "user", "nats": perms});
    if let Some(account) = issuer_account {
        claims["issuer_account"] = Value::String(account.public_key());
    }
    let token = v1::encode(&claims, by).unwrap();
    creds(&token, &user.seed().unwrap())
}

#[tokio::test]
async fn async_nats_with_v1_operator_accounts_and_users() {
    use futures::StreamExt;
    let v = v1_setup(open_limits());
    let s = start_server(&v.conf, &[]);
    // A user signed by the account's signing key, allowed to publish on `v1.>` only.
    let creds = v1_creds(
        &v.acc_signer,
        Some(&v.acc),
        json!({"pub": {"allow": ["v1.>"]}, "sub": {}}),
    );
    let client = creds_client(&s, "acc.creds", &creds).await;
    let mut sub = client.subscribe("v1.>").await.unwrap();
    client.flush().await.unwrap();
    client.publish("v1.hello", "hi".into()).await.unwrap();
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
        .await
        .expect("message in time")
        .expect("message");
    assert_eq!(&msg.payload[..], b"hi");
    // The system account's v1 user reaches the system services.
    let creds = v1_creds(&v.sys, None, json!({"pub": {}, "sub": {}}));
    let admin = creds_client(&s, "sys.creds", &creds).await;
    let reply = admin
        .request("$SYS.REQ.USER.INFO", "".into())
        .await
        .unwrap();
    let info: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(info["data"]["account"], v.sys.public_key());
}

/// nats-py (with its nkeys extra, installed by `.ci/run`) connects with `creds`, publishes
/// on `subject` to its own subscription and prints `ok`.
const NATS_PY_ROUND_TRIP: &str = r#"
import asyncio, sys
import nats

async def main(url, creds, subject):
    nc = await nats.connect(url, user_credentials=creds, allow_reconnect=False,
                            connect_timeout=5, max_reconnect_attempts=0)
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"from python")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"from python", msg.data
    await nc.close()
    print("ok")

asyncio.run(main(*sys.argv[1:4]))
"#;

#[test]
fn nats_py_with_a_v1_creds_file() {
    let v = v1_setup(open_limits());
    let s = start_server(&v.conf, &[]);
    let path = s.dir.join("py.creds");
    std::fs::write(&path, v1_creds(&v.acc, None, json!({"pub": {}, "sub": {}}))).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", NATS_PY_ROUND_TRIP])
        .arg(format!("nats://{}", s.addr()))
        .arg(&path)
        .arg("py.v1")
        .output()
        .expect("python3 (nats-py is installed by .ci/run)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "nats-py failed (pip install 'nats-py[nkeys]' if it is missing): {stderr}"
    );
}

#[test]
fn a_v1_account_without_limits_takes_no_connections() {
    // v1 account limits have no -1 defaults: `"limits": {}` means 0 connections, as
    // nats-io/jwt migrates them.
    let v = v1_setup(json!({}));
    let s = start_server(&v.conf, &[]);
    let user = KeyPair::new_user();
    let token = v1::encode(
        &json!({"jti": "U", "iat": 1_700_000_000, "sub": user.public_key(), "type": "user",
            "nats": {"pub": {}, "sub": {}}}),
        &v.acc,
    )
    .unwrap();
    let (_c, line) = crate::util::jwt::connect_jwt(&s, &token, &user);
    assert_eq!(line, "-ERR 'maximum account active connections exceeded'");
}

#[test]
fn a_v2_account_without_limit_fields_takes_no_connections() {
    // nats-io/jwt leaves a v2 account's missing limit fields at zero (they are `omitempty`,
    // so a limit of 0 is written by leaving it out), and nats-server applies 0 as "none".
    let op = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let acc = KeyPair::new_account();
    let mint = |key: &KeyPair, nats: Value| {
        let mut c = gannet::jwt::Claims {
            sub: key.public_key(),
            name: "X".into(),
            nats,
            ..Default::default()
        };
        gannet::jwt::encode(&mut c, &op).unwrap()
    };
    let op_jwt = {
        let mut c = gannet::jwt::Claims {
            sub: op.public_key(),
            name: "OP".into(),
            nats: json!({"type": "operator", "version": 2}),
            ..Default::default()
        };
        gannet::jwt::encode(&mut c, &op).unwrap()
    };
    let sys_jwt = mint(
        &sys,
        json!({"type": "account", "version": 2, "limits": open_limits()}),
    );
    let acc_jwt = mint(&acc, json!({"type": "account", "version": 2, "limits": {}}));
    let conf = format!(
        "operator: \"{op_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {sys}: \"{sys_jwt}\"\n  {acc}: \"{acc_jwt}\"\n}}\n",
        sys = sys.public_key(),
        acc = acc.public_key()
    );
    let s = start_server(&conf, &[]);
    let user = KeyPair::new_user();
    let token = crate::util::jwt::user_jwt(&user, &acc, |_| {});
    let (_c, line) = crate::util::jwt::connect_jwt(&s, &token, &user);
    assert_eq!(line, "-ERR 'maximum account active connections exceeded'");
}

#[test]
fn a_v2_user_without_limit_fields_may_not_subscribe_or_publish() {
    // nats-io/jwt reads a v2 user's missing `subs` and `payload` as 0, and nats-server applies
    // 0 as "none": a SUB is refused and any payload is too large (v1 users get -1 instead).
    let v = v1_setup(open_limits());
    let s = start_server(&v.conf, &[]);
    let user = KeyPair::new_user();
    let mut c = gannet::jwt::Claims {
        sub: user.public_key(),
        name: "u".into(),
        nats: json!({"type": "user", "version": 2}),
        ..Default::default()
    };
    let token = gannet::jwt::encode(&mut c, &v.acc).unwrap();
    let (mut conn, mut line) = crate::util::jwt::connect_jwt(&s, &token, &user);
    if line == "-ERR 'maximum subscriptions exceeded'" {
        // nats-server refuses a subscription of its own for the client at connect too
        // (docs/COMPATIBILITY.md); gannet has none to refuse.
        line = conn.read_line(crate::util::SEC * 5);
    }
    assert_eq!(line, "PONG");
    conn.send(b"SUB x 1\r\n");
    assert_eq!(
        conn.read_line(crate::util::SEC * 5),
        "-ERR 'maximum subscriptions exceeded'"
    );
    conn.send(b"PUB x 2\r\nhi\r\n");
    let rest =
        String::from_utf8_lossy(&conn.drain_for(std::time::Duration::from_millis(500))).to_string();
    assert!(rest.contains("-ERR 'Maximum Payload Violation'"), "{rest}");
    assert!(conn.is_closed(crate::util::SEC * 2));
}
