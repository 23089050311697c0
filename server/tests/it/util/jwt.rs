//! Operator mode for tests: mint operator, account and user JWTs with gannet's own JWT code,
//! write creds files, and connect with a user JWT and a signature over the INFO nonce.

use crate::util::{Conn, Server, SEC};
use gannet::jwt::{self, Claims};
use nkeys::KeyPair;

/// An operator with a system account and one account `ACC` (with a plain and a scoped signing
/// key), and a server config trusting them with a MEMORY resolver.
pub struct Setup {
    pub operator: KeyPair,
    pub sys: KeyPair,
    pub acc: KeyPair,
    pub acc_signer: KeyPair,
    pub scoped: KeyPair,
    pub op_jwt: String,
    pub sys_jwt: String,
    pub conf: String,
}

/// An account JWT for `key`, signed by `by` (the operator or one of its signing keys); `edit`
/// fills in the account claims.
pub fn account_jwt(
    key: &KeyPair,
    name: &str,
    by: &KeyPair,
    edit: impl FnOnce(&mut jwt::Account),
) -> String {
    let mut nats = jwt::Account {
        kind: "account".into(),
        version: 2,
        ..Default::default()
    };
    edit(&mut nats);
    let mut c = Claims {
        sub: key.public_key(),
        name: name.into(),
        nats,
        ..Default::default()
    };
    jwt::encode(&mut c, by).unwrap()
}

/// A user JWT for `user` named `u`, signed by `by` (an account or one of its signing keys);
/// `edit` adjusts the claims first.
pub fn user_jwt(user: &KeyPair, by: &KeyPair, edit: impl FnOnce(&mut Claims<jwt::User>)) -> String {
    let mut c = Claims {
        sub: user.public_key(),
        name: "u".into(),
        nats: jwt::User {
            kind: "user".into(),
            version: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    edit(&mut c);
    jwt::encode(&mut c, by).unwrap()
}

/// An operator `OP` with a system account `SYS`: (operator key, system account key, operator
/// JWT, system account JWT).
pub fn operator_with_sys() -> (KeyPair, KeyPair, String, String) {
    let operator = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let mut op = Claims {
        sub: operator.public_key(),
        name: "OP".into(),
        nats: jwt::Operator {
            kind: "operator".into(),
            version: 2,
            system_account: sys.public_key(),
            ..Default::default()
        },
        ..Default::default()
    };
    let op_jwt = jwt::encode(&mut op, &operator).unwrap();
    let sys_jwt = account_jwt(&sys, "SYS", &operator, |_| {});
    (operator, sys, op_jwt, sys_jwt)
}

/// A fresh [`Setup`]. With `revoke`, ACC revokes that user's JWTs issued before that time.
pub fn setup(revoke: Option<(&KeyPair, i64)>) -> Setup {
    let (operator, sys, op_jwt, sys_jwt) = operator_with_sys();
    let acc = KeyPair::new_account();
    let acc_signer = KeyPair::new_account();
    let scoped = KeyPair::new_account();
    let acc_jwt = account_jwt(&acc, "ACC", &operator, |a| {
        a.signing_keys = vec![
            jwt::SigningKey::Key(acc_signer.public_key()),
            jwt::SigningKey::Scoped {
                kind: "user_scope".into(),
                key: scoped.public_key(),
                role: "limited".into(),
                template: Box::new(jwt::UserPermissionLimits {
                    publish: jwt::Permission {
                        allow: vec!["allowed.>".into(), "_INBOX.>".into()],
                        deny: Vec::new(),
                    },
                    ..Default::default()
                }),
            },
        ];
        if let Some((user, at)) = revoke {
            a.revocations.insert(user.public_key(), at);
        }
    });
    let conf = format!(
        "operator: \"{op_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{\n  {sys}: \"{sys_jwt}\"\n  {acc}: \"{acc_jwt}\"\n}}\n",
        sys = sys.public_key(),
        acc = acc.public_key()
    );
    Setup {
        operator,
        sys,
        acc,
        acc_signer,
        scoped,
        op_jwt,
        sys_jwt,
        conf,
    }
}

/// Connects a new user of `account` (signed by the account key) and checks it got in.
pub fn connect_user(s: &Server, account: &KeyPair) -> Conn {
    let user = KeyPair::new_user();
    let (c, line) = connect_jwt(s, &user_jwt(&user, account, |_| {}), &user);
    assert_eq!(line, "PONG");
    c
}

/// Connects with `jwt`, signing the INFO nonce with `signer`; returns the connection and
/// the first line the server answered with after CONNECT + PING.
pub fn connect_jwt(s: &Server, jwt: &str, signer: &KeyPair) -> (Conn, String) {
    connect_jwt_addr(&s.addr(), jwt, signer)
}

/// [`connect_jwt`] by address (from another thread than the server's owner).
pub fn connect_jwt_addr(addr: &str, jwt: &str, signer: &KeyPair) -> (Conn, String) {
    use base64::Engine;
    let mut c = Conn::connect_addr(addr);
    let info = c.read_line(5 * SEC);
    let info: serde_json::Value =
        serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
    assert_eq!(info["auth_required"], true);
    let nonce = info["nonce"].as_str().expect("nonce in INFO");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(signer.sign(nonce.as_bytes()).unwrap());
    c.send(
        format!("CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\",\"sig\":\"{sig}\"}}\r\nPING\r\n")
            .as_bytes(),
    );
    let line = c.read_line(5 * SEC);
    (c, line)
}

/// A creds file's text: the user JWT and the user's nkey seed, as nsc writes it.
pub fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// An async-nats client of `s` logged in with the creds file text `creds`, written as `file`
/// in the server's directory.
pub async fn creds_client(s: &Server, file: &str, creds: &str) -> async_nats::Client {
    let path = s.dir.join(file);
    std::fs::write(&path, creds).unwrap();
    async_nats::ConnectOptions::with_credentials_file(&path)
        .await
        .unwrap()
        .connect(s.addr())
        .await
        .unwrap()
}
