//! Unit tests of `auth::config`.

use super::*;
use crate::conf::parse_str;

fn value(text: &str) -> Value {
    let m = parse_str(&format!("x: {text}\n"), None).unwrap();
    m.get("x").unwrap().clone()
}

#[test]
fn permission_forms() {
    let p = parse_permissions(&value("{ publish: \"a.>\", subscribe: [\"b\", \"c q\"] }")).unwrap();
    assert_eq!(p.publish.unwrap().allow.unwrap(), vec!["a.>"]);
    assert_eq!(p.subscribe.unwrap().allow.unwrap(), vec!["b", "c q"]);
    let p = parse_permissions(&value(
        "{ pub: { allow: [\"a\"], deny: \"a.b\" }, sub: [] }",
    ))
    .unwrap();
    assert_eq!(
        p.publish.as_ref().unwrap().deny,
        Some(vec!["a.b".to_string()])
    );
    assert_eq!(p.subscribe.unwrap().allow, None);
    let p = parse_permissions(&value("{ allow_responses: true }")).unwrap();
    assert_eq!(p.publish.unwrap().allow, Some(vec![]));
    assert_eq!(p.response.unwrap().max_msgs, 1);
    let p = parse_permissions(&value("{ allow_responses: { max: 2, expires: \"1s\" } }")).unwrap();
    assert_eq!(p.response.unwrap().expires, Some(Duration::from_secs(1)));
}

#[test]
fn permission_errors() {
    let e = parse_permissions(&value("{ publish: { allow: [\"a\"], bogus: \"b\" } }")).unwrap_err();
    assert!(e.contains("Unknown field name \"bogus\" parsing subject permissions, only 'allow' or 'deny' are permitted"), "{e}");
    let e = parse_permissions(&value("{ publish: \"a..b\" }")).unwrap_err();
    assert!(e.contains("subject \"a..b\" is not a valid subject"), "{e}");
    let e = parse_permissions(&value("{ publish: \"a q\" }")).unwrap_err();
    assert!(e.contains("is not a valid subject"), "{e}");
}

#[test]
fn users_and_accounts() {
    let (accs, users) = parse_accounts(&value(
            "{ A: { users: [{user: a, password: a}], exports: [{stream: \"ev.>\"}, {service: \"svc\", response: stream}] }, B: { users: [{user: b, password: b, permissions: {publish: \"x\"}}], imports: [{stream: {account: A, subject: \"ev.>\"}, prefix: from}, {service: {account: A, subject: svc}, to: echo}] } }",
        ))
        .unwrap();
    assert_eq!(accs.len(), 2);
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].account, "A");
    assert_eq!(accs[1].imports[0].prefix, "from.");
    assert_eq!(accs[0].exports[1].response_type, ResponseType::Stream);
    validate(&users, &accs).unwrap();
}

/// Issue 11: these errors used Rust's `{:?}`, which escapes differently from Go's `%q`.
#[test]
fn regression_11_names_are_quoted_like_go() {
    // Go's %q keeps printable non-ASCII as is and writes control bytes as \xNN, where
    // Rust's {:?} would give "\u{1}".
    let user = UserConfig {
        user: "é\u{1}".to_string(),
        ..UserConfig::default()
    };
    assert_eq!(
        validate(&[user.clone(), user], &[]).unwrap_err(),
        "Duplicate user \"é\\x01\" detected"
    );
    let e = parse_permissions(&value("{ publish: \"a..é\" }")).unwrap_err();
    assert!(e.contains("subject \"a..é\" is not a valid subject"), "{e}");
}

#[test]
fn account_errors() {
    assert!(parse_accounts(&value("{ \"$G\": {} }"))
        .unwrap_err()
        .contains("\"$G\" is a Reserved Account"));
    let (accs, users) = parse_accounts(&value(
            "{ A: { exports: [{stream: \"ev.>\", accounts: [C]}] }, B: { imports: [{stream: {account: A, subject: \"ev.>\"}}] } }",
        ))
        .unwrap();
    assert!(validate(&users, &accs)
        .unwrap_err()
        .contains("stream import not authorized"));
    let (accs, users) = parse_accounts(&value(
        "{ B: { imports: [{stream: {account: Z, subject: \"ev.>\"}}] } }",
    ))
    .unwrap();
    assert_eq!(
        validate(&users, &accs).unwrap_err(),
        "\"Z\" account not defined for stream import"
    );
    let users = parse_users(&value("[{user: a}, {user: a}]"), "", None).unwrap();
    assert_eq!(
        validate(&users, &[]).unwrap_err(),
        "Duplicate user \"a\" detected"
    );
    assert!(parse_users(&value("[{password: a}]"), "", None)
        .unwrap_err()
        .contains("User entry requires a user"));
    assert!(parse_users(&value("[{nkey: UBAD}]"), "", None)
        .unwrap_err()
        .contains("Not a valid public nkey for a user"));
}
