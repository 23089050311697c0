//! Unit tests of `conf::parse`.

use super::*;
use crate::conf::{parse_file, parse_str};
use std::path::PathBuf;

fn parse(text: &str) -> Map {
    match parse_str(text, None) {
        Ok(map) => map,
        Err(e) => panic!("parse of {text:?} failed: {e}"),
    }
}

fn error(text: &str) -> String {
    match parse_str(text, None) {
        Ok(map) => panic!("parse of {text:?} succeeded: {map:?}"),
        Err(e) => e.to_string(),
    }
}

fn kind<'m>(map: &'m Map, key: &str) -> &'m ValueKind {
    &map.get_exact(key)
        .unwrap_or_else(|| panic!("no key {key}"))
        .value
        .kind
}

fn str_(s: &str) -> ValueKind {
    ValueKind::Str(s.to_string())
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gannet-conf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn scalar_types() {
    let map = parse(
        "s = hello\nq = \"a b\"\ni = -42\nf = 0.5\nb = on\nd = 2016-05-04T18:53:41Z\n\
             ip = 127.0.0.1:4222\ndur = 10s\n",
    );
    assert_eq!(kind(&map, "s"), &str_("hello"));
    assert_eq!(kind(&map, "q"), &str_("a b"));
    assert_eq!(kind(&map, "i"), &ValueKind::Int(-42));
    assert_eq!(kind(&map, "f"), &ValueKind::Float(0.5));
    assert_eq!(kind(&map, "b"), &ValueKind::Bool(true));
    assert_eq!(
        kind(&map, "d"),
        &ValueKind::Datetime("2016-05-04T18:53:41Z".into())
    );
    assert_eq!(kind(&map, "ip"), &str_("127.0.0.1:4222"));
    assert_eq!(kind(&map, "dur"), &str_("10s"));
}

#[test]
fn size_suffixes() {
    let cases: &[(&str, i64)] = &[
        ("8k", 8_000),
        ("4kb", 4 * 1024),
        ("3ki", 3 * 1024),
        ("4KiB", 4 * 1024),
        ("1m", 1_000_000),
        ("1M", 1_000_000),
        ("2MB", 2 << 20),
        ("2Mi", 2 << 20),
        ("64MiB", 64 << 20),
        ("2g", 2_000_000_000),
        ("22GB", 22 << 30),
        ("22Gi", 22 << 30),
        ("1t", 1_000_000_000_000),
        ("22TB", 22 << 40),
        ("1p", 1_000_000_000_000_000),
        ("3PiB", 3 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("2EB", 2 << 60),
        ("-1k", -1000),
    ];
    for (text, want) in cases {
        assert_eq!(
            kind(&parse(&format!("n = {text}")), "n"),
            &ValueKind::Int(*want),
            "{text}"
        );
    }
    assert_eq!(kind(&parse("n = 1m30s"), "n"), &str_("1m30s"));
    assert_eq!(kind(&parse("n = 1k5"), "n"), &str_("1k5"));
}

#[test]
fn unknown_suffix_drops_the_value() {
    assert!(parse("max_payload = 1Mbb").is_empty());
}

#[test]
fn integer_range_errors() {
    assert_eq!(
        error("n = 99999999999999999999"),
        "integer '99999999999999999999' is out of the range"
    );
    assert_eq!(error("n = 9EB"), "integer '9EB' is out of the range");
    assert_eq!(
        kind(&parse("n = 9223372036854775807"), "n"),
        &ValueKind::Int(i64::MAX)
    );
}

#[test]
fn bad_datetime() {
    assert_eq!(
        error("d = 2016-13-04T18:53:41Z"),
        "expected Zulu formatted DateTime, but got '2016-13-04T18:53:41Z'"
    );
    assert_eq!(
        error("d = 2015-02-29T00:00:00Z"),
        "expected Zulu formatted DateTime, but got '2015-02-29T00:00:00Z'"
    );
    assert!(parse_str("d = 2016-02-29T23:59:59Z", None).is_ok());
}

#[test]
fn nested_maps_and_arrays() {
    let map = parse(
        "cluster {\n  port: 6222\n  routes = [\n    nats://a:6222\n    nats://b:6222\n  ]\n\
             authorization { user: a, password: b }\n}\n",
    );
    let cluster = map.get("cluster").and_then(Value::as_map).unwrap();
    assert_eq!(cluster.get("port").and_then(Value::as_int), Some(6222));
    let routes = cluster.get("routes").and_then(Value::as_array).unwrap();
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[1].as_str(), Some("nats://b:6222"));
    let auth = cluster
        .get("authorization")
        .and_then(Value::as_map)
        .unwrap();
    assert_eq!(auth.get("password").and_then(Value::as_str), Some("b"));
}

#[test]
fn array_of_maps() {
    let map = parse(
        "authorization {\n  users = [\n    {user: alice, password: foo}\n    \
             {user: bob,   password: bar}\n  ]\n  timeout: 0.5\n}\n",
    );
    let auth = map.get("authorization").and_then(Value::as_map).unwrap();
    let users = auth.get("users").and_then(Value::as_array).unwrap();
    assert_eq!(
        users[1]
            .as_map()
            .unwrap()
            .get("user")
            .and_then(Value::as_str),
        Some("bob")
    );
    assert_eq!(
        auth.get("timeout").map(|v| &v.kind),
        Some(&ValueKind::Float(0.5))
    );
}

#[test]
fn json_style_files() {
    let map = parse(
            "{\n  \"http_port\": 8227,\n  \"port\": 4227,\n  \"write_deadline\": \"1h\",\n  \
             \"cluster\": {\n    \"port\": 6222,\n    \"routes\": [\n      \"nats://127.0.0.1:4222\",\n      \
             \"nats://127.0.0.1:4223\"\n    ]\n  }\n}\n",
        );
    assert_eq!(map.len(), 4);
    assert_eq!(kind(&map, "write_deadline"), &str_("1h"));
    assert!(parse("{}").is_empty());
    assert!(parse("\n{\n}\n").is_empty());
    // A stray trailing `}` is tolerated.
    assert_eq!(parse("accounts { users = [{}]}\n}\n").len(), 1);
}

#[test]
fn positions_point_at_keys() {
    let map = parse("port = 4222\nauthorization {\n    user: derek\n}\n");
    let port = map.get("port").unwrap();
    assert_eq!((port.pos.line, port.pos.col), (1, 0));
    let auth = map.get("authorization").unwrap();
    assert_eq!((auth.pos.line, auth.pos.col), (2, 1));
    let user = auth.as_map().unwrap().get("user").unwrap();
    assert_eq!((user.pos.line, user.pos.col), (3, 5));
}

#[test]
fn parse_errors_have_line_numbers() {
    assert_eq!(
            error("port = 4222\nauthorization {user: c password: d}\n"),
            "Parse error on line 2: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'p' instead.'"
        );
    assert_eq!(
            error("a = \"\\q\""),
            "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"
        );
    let err = parse_str("a = 1\n\nb = [1 2]", None).unwrap_err();
    assert_eq!(err.line(), Some(3));
}

#[test]
fn key_without_value_is_invalid() {
    assert_eq!(
        error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        "config is invalid (:1:41)"
    );
    assert_eq!(
        error("     aaaaaaaaaaaaaaaaaaaaaaaaaaa         "),
        "config is invalid (:1:41)"
    );
    assert_eq!(
        error("\n# comment\n  aaaa\n   "),
        "config is invalid (:4:4)"
    );
    assert!(parse_str("", None).unwrap().is_empty());
    assert!(parse_str("\n  # just comments\n\n", None)
        .unwrap()
        .is_empty());
}

#[test]
fn variables_resolve_in_lexical_scope() {
    let map = parse("index = 22\nfoo = $index\nm { index = 11, foo = $index }\nbar = $index\n");
    assert_eq!(kind(&map, "foo"), &ValueKind::Int(22));
    assert_eq!(kind(&map, "bar"), &ValueKind::Int(22));
    let m = map.get("m").and_then(Value::as_map).unwrap();
    assert_eq!(m.get("foo").and_then(Value::as_int), Some(11));
    assert!(map.get_exact("index").unwrap().used_as_variable);
    assert!(!map.get_exact("foo").unwrap().used_as_variable);
}

#[test]
fn variables_copy_whole_blocks() {
    let map = parse("perms = { publish = foo }\nuser { permissions = $perms }\n");
    let user = map.get("user").and_then(Value::as_map).unwrap();
    let perms = user.get("permissions").and_then(Value::as_map).unwrap();
    assert_eq!(perms.get("publish").and_then(Value::as_str), Some("foo"));
    // The reference takes the position of its own key.
    assert_eq!(user.get("permissions").unwrap().pos.line, 2);
}

#[test]
fn variables_are_case_sensitive_and_not_forward() {
    assert_eq!(
        error("Index = 1\nfoo = $index_gannet_test_missing\n"),
        "variable reference for 'index_gannet_test_missing' on line 2 can not be found"
    );
    assert_eq!(
        error("foo = $later\nlater = 1\n"),
        "variable reference for 'later' on line 1 can not be found"
    );
}

#[test]
fn no_interpolation_inside_strings() {
    let map = parse("P = 4222\nlisten = \"127.0.0.1:$P\"\n");
    assert_eq!(kind(&map, "listen"), &str_("127.0.0.1:$P"));
    assert!(!map.get_exact("P").unwrap().used_as_variable);
}

#[test]
fn bcrypt_hashes_are_not_variables() {
    let map = parse("password: $2a$11$ooo");
    assert_eq!(kind(&map, "password"), &str_("$2a$11$ooo"));
    assert!(error("password: $2b$11$ooo").starts_with("variable reference for '2b$11$ooo'"));
}

#[test]
fn environment_values_are_typed() {
    std::env::set_var("GANNET_CONF_TEST_INT", "4333");
    std::env::set_var("GANNET_CONF_TEST_QUOTED", "'4333'");
    std::env::set_var("GANNET_CONF_TEST_WORD", "xyz");
    std::env::set_var("GANNET_CONF_TEST_SIZE", "3Gyz");
    std::env::set_var("GANNET_CONF_TEST_MAP", "{ user: a, pass: b }");
    let map = parse(
        "a = $GANNET_CONF_TEST_INT\nb = $GANNET_CONF_TEST_QUOTED\nc = $GANNET_CONF_TEST_WORD\n\
             d = $GANNET_CONF_TEST_SIZE\ne = $GANNET_CONF_TEST_MAP\n",
    );
    assert_eq!(kind(&map, "a"), &ValueKind::Int(4333));
    assert_eq!(kind(&map, "b"), &str_("4333"));
    assert_eq!(kind(&map, "c"), &str_("xyz"));
    assert_eq!(kind(&map, "d"), &str_("3Gyz"));
    let user = map
        .get("e")
        .and_then(Value::as_map)
        .and_then(|m| m.get("user"))
        .unwrap();
    assert_eq!(user.as_str(), Some("a"));
    assert_eq!((user.pos.line, user.pos.col), (5, 6));
    // Config keys shadow the environment.
    let map = parse("GANNET_CONF_TEST_INT = 1\nport = $GANNET_CONF_TEST_INT\n");
    assert_eq!(kind(&map, "port"), &ValueKind::Int(1));
}

#[test]
fn environment_value_with_space_is_an_error() {
    std::env::set_var("GANNET_CONF_TEST_SPACE", "a b");
    assert_eq!(
        error("x = $GANNET_CONF_TEST_SPACE"),
        "variable reference for 'GANNET_CONF_TEST_SPACE' on line 1 could not be parsed: \
             Parse error on line 1: 'Expected a top-level value to end with a new line, \
             comment or EOF, but got 'b' instead.'"
    );
}

#[test]
fn environment_chains_and_cycles() {
    std::env::set_var("GANNET_CONF_TEST_CHAIN_A", "$GANNET_CONF_TEST_CHAIN_B");
    std::env::set_var("GANNET_CONF_TEST_CHAIN_B", "42");
    assert_eq!(
        kind(&parse("x = $GANNET_CONF_TEST_CHAIN_A"), "x"),
        &ValueKind::Int(42)
    );

    std::env::set_var("GANNET_CONF_TEST_SELF", "$GANNET_CONF_TEST_SELF");
    assert_eq!(
        error("x = $GANNET_CONF_TEST_SELF"),
        "variable reference for 'GANNET_CONF_TEST_SELF' on line 1 could not be parsed: \
             variable reference for 'GANNET_CONF_TEST_SELF' on line 1 could not be parsed: \
             variable reference cycle for 'GANNET_CONF_TEST_SELF'"
    );
    std::env::set_var("GANNET_CONF_TEST_CYCLE_A", "$GANNET_CONF_TEST_CYCLE_B");
    std::env::set_var("GANNET_CONF_TEST_CYCLE_B", "$GANNET_CONF_TEST_CYCLE_A");
    assert!(error("x = $GANNET_CONF_TEST_CYCLE_A")
        .ends_with("variable reference cycle for 'GANNET_CONF_TEST_CYCLE_A'"));
}

#[test]
fn includes_merge_into_the_current_map() {
    let dir = temp_dir("include");
    std::fs::write(
        dir.join("users.conf"),
        "users = [ {user: a, password: b} ]\nX = 7\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/inner.conf"), "include ../leaf.conf\n").unwrap();
    std::fs::write(dir.join("leaf.conf"), "leaf = yes\n").unwrap();
    std::fs::write(
            dir.join("main.conf"),
            "port: 4222\nauthorization {\n  include ./users.conf\n  timeout: $X\n}\ninclude 'sub/inner.conf'\n",
        )
        .unwrap();
    let map = parse_file(&dir.join("main.conf")).unwrap();
    let auth = map.get("authorization").and_then(Value::as_map).unwrap();
    assert_eq!(
        auth.get("users").and_then(Value::as_array).map(<[_]>::len),
        Some(1)
    );
    assert_eq!(auth.get("timeout").and_then(Value::as_int), Some(7));
    assert!(auth.get_exact("X").unwrap().used_as_variable);
    assert_eq!(map.get("leaf").and_then(Value::as_bool), Some(true));
    // Values from an included file carry its name.
    let users = auth.get("users").unwrap();
    assert_eq!(&*users.pos.file, dir.join("users.conf").to_str().unwrap());
    assert_eq!((users.pos.line, users.pos.col), (1, 0));
}

#[test]
fn include_keyword_needs_whitespace() {
    let map = parse("include: x");
    assert_eq!(kind(&map, "include"), &str_("x"));
}

#[test]
fn include_variables_are_not_visible_to_the_included_file() {
    let dir = temp_dir("include-vars");
    std::fs::write(dir.join("inc.conf"), "b = $A_GANNET_INCLUDE_VAR\n").unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "A_GANNET_INCLUDE_VAR = 1\ninclude inc.conf\n",
    )
    .unwrap();
    let err = parse_file(&dir.join("main.conf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error parsing include file 'inc.conf', variable reference for \
             'A_GANNET_INCLUDE_VAR' on line 1 can not be found"
    );
    assert_eq!(err.file(), dir.join("main.conf").to_str().unwrap());
}

#[test]
fn include_errors() {
    let dir = temp_dir("include-errors");
    std::fs::write(dir.join("bad.conf"), "AAAA").unwrap();
    std::fs::write(dir.join("main.conf"), "include bad.conf\n").unwrap();
    std::fs::write(dir.join("missing.conf"), "include nope.conf\n").unwrap();
    std::fs::write(dir.join("self.conf"), "include self.conf\n").unwrap();
    let main = dir.join("main.conf");
    assert_eq!(
        parse_file(&main).unwrap_err().to_string(),
        format!(
            "error parsing include file 'bad.conf', config is invalid ({}:1:4)",
            dir.join("bad.conf").display()
        )
    );
    assert_eq!(
        parse_file(&dir.join("missing.conf"))
            .unwrap_err()
            .to_string(),
        format!(
            "error parsing include file 'nope.conf', open {}: no such file or directory",
            dir.join("nope.conf").display()
        )
    );
    let err = parse_file(&dir.join("self.conf")).unwrap_err().to_string();
    assert!(
        err.ends_with("includes nest deeper than 16 levels"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let err = parse_file(Path::new("/nonexistent/gannet.conf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "open /nonexistent/gannet.conf: no such file or directory"
    );
    let err = parse_file(Path::new("/")).unwrap_err();
    assert_eq!(err.to_string(), "read /: is a directory");
}

#[test]
fn empty_map_quirk() {
    // `{a:}` stores the empty map under the inner key, like nats-server.
    let map = parse("x {a:}");
    assert!(matches!(kind(&map, "a"), ValueKind::Map(m) if m.is_empty()));
    assert!(map.get_exact("x").is_none());
}

#[test]
fn deep_nesting_is_bounded() {
    let text = format!("a = {}{}", "[".repeat(200), "]".repeat(200));
    assert!(error(&text).contains("nest deeper than 128 levels"));
    let text = format!("a = {}{}", "[".repeat(100), "]".repeat(100));
    assert!(parse_str(&text, None).is_ok());
}

#[test]
fn nesting_counts_through_includes() {
    let dir = temp_dir("include-nesting");
    let deep = format!("a = {}{}", "[".repeat(100), "]".repeat(100));
    std::fs::write(dir.join("deep.conf"), &deep).unwrap();
    let wrapper = format!("{}include deep.conf{}", "m {".repeat(20), "}".repeat(20));
    std::fs::write(dir.join("ok.conf"), &wrapper).unwrap();
    assert!(parse_file(&dir.join("ok.conf")).is_ok());
    let wrapper = format!("{}include deep.conf{}", "m {".repeat(40), "}".repeat(40));
    std::fs::write(dir.join("too-deep.conf"), &wrapper).unwrap();
    let err = parse_file(&dir.join("too-deep.conf"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nest deeper than 128 levels"), "{err}");
}

#[test]
fn go_paths() {
    assert_eq!(go_dir("nats.conf"), ".");
    assert_eq!(go_dir("/etc/nats/nats.conf"), "/etc/nats");
    assert_eq!(go_dir("/nats.conf"), "/");
    assert_eq!(go_join(".", "./users.conf"), "users.conf");
    assert_eq!(go_join("/etc/nats", "../x.conf"), "/etc/x.conf");
    assert_eq!(go_join("/etc/nats", "/abs.conf"), "/etc/nats/abs.conf");
    assert_eq!(go_clean("a//b/./c/.."), "a/b");
    assert_eq!(go_clean("../../a"), "../../a");
    assert_eq!(go_clean("/../a"), "/a");
}
