//! Unit tests of `opts::gateway`: every key of the `gateway` block and of its remotes, the
//! aliases and defaults, the errors and warnings (texts and positions observed with
//! nats-server 2.15.1), remote URLs, and the startup checks.

use super::*;
use crate::opts::test_support::{config, error, opts, temp_dir, with_flags};
use crate::opts::Error;

/// The gateway options of config text that loads without warnings.
fn gateway(text: &str) -> GatewayOpts {
    opts(text).gateway.expect("a gateway block")
}

/// The startup error of config text that loads without warnings.
fn refused(text: &str) -> String {
    with_flags(text, &[]).unwrap_err().to_string()
}

/// All the errors of config text.
fn errors(text: &str) -> Vec<String> {
    match config(text) {
        Err(Error::Config { errors, .. }) => errors,
        other => panic!("{text}: {other:?}"),
    }
}

/// The warnings of config text that loads.
fn warnings(text: &str) -> Vec<String> {
    match config(text) {
        Ok((_, warnings)) => warnings,
        Err(e) => panic!("{text}: {e}"),
    }
}

#[test]
fn no_block_no_gateway() {
    assert_eq!(opts("port: 4222").gateway, None);
    let empty = gateway("gateway {}");
    assert_eq!(empty, GatewayOpts::default());
    assert!(!empty.is_configured());
    assert_eq!(empty.validate(), Ok(()));
}

#[test]
fn keys_and_defaults() {
    let g = gateway(
        "gateway {\n name: A\n port: 7222\n advertise: \"h:7\"\n connect_retries: 3\n\
         connect_backoff: true\n reject_unknown_cluster: true\n\
         authorization { user: u, password: p }\n\
         gateways: [ {name: B, url: \"nats://u:p@127.0.0.1:7223\"}, {name: C, urls: [\"nats://h:1\", \"nats://h:2\"]} ]\n}",
    );
    assert_eq!(
        (g.name.as_str(), g.host.as_str(), g.port),
        ("A", "0.0.0.0", 7222)
    );
    assert_eq!(g.advertise, "h:7");
    assert_eq!((g.connect_retries, g.connect_backoff), (3, true));
    assert!(g.reject_unknown_cluster);
    assert_eq!((g.user.as_str(), g.password.as_str()), ("u", "p"));
    assert_eq!(g.auth_timeout, Duration::from_secs(2));
    assert_eq!(g.tls, None);
    assert_eq!((g.write_deadline, g.write_timeout), (None, None));
    assert_eq!(g.gateways.len(), 2);
    assert_eq!(g.gateways[0].name, "B");
    assert_eq!(g.gateways[0].urls[0].host_port(), "127.0.0.1:7223");
    assert_eq!(g.gateways[1].urls.len(), 2);
    assert_eq!(g.validate(), Ok(()));
    assert!(opts("gateway { name: A, port: 7222 }")
        .not_implemented
        .is_empty());
}

#[test]
fn aliases() {
    assert!(gateway("gateway { reject_unknown: true }").reject_unknown_cluster);
    assert_eq!(gateway("gateway { net: \"127.0.0.1\" }").host, "127.0.0.1");
    assert_eq!(gateway("gateway { host: \"127.0.0.1\" }").host, "127.0.0.1");
    let g = gateway("gateway { listen: \"127.0.0.1:7222\" }");
    assert_eq!((g.host.as_str(), g.port), ("127.0.0.1", 7222));
    let g = gateway("gateway { listen: 7222 }");
    assert_eq!((g.host.as_str(), g.port), ("0.0.0.0", 7222));
    let g = gateway("gateway { NAME: A, Port: -1 }");
    assert_eq!((g.name.as_str(), g.port), ("A", -1));
    let g = gateway("gateway { authorization { username: u, pass: p, timeout: 0.5 } }");
    assert_eq!((g.user.as_str(), g.password.as_str()), ("u", "p"));
    assert_eq!(g.auth_timeout, Duration::from_millis(500));
}

#[test]
fn defaults_only_with_a_port() {
    let g = gateway("gateway { name: A }");
    assert_eq!((g.host.as_str(), g.auth_timeout), ("", Duration::ZERO));
    let g = gateway("gateway { name: A, port: 7222, authorization { timeout: \"5s\" } }");
    assert_eq!(g.auth_timeout, Duration::from_secs(5));
}

#[test]
fn not_implemented_keys() {
    let o = opts("gateway { write_timeout: retry }");
    assert_eq!(o.not_implemented, ["gateway.write_timeout"]);
    let g = o.gateway.unwrap();
    assert_eq!(g.write_timeout, Some(WriteTimeout::Retry));
    let (o, warnings) = config("gateway { write_deadline: 5 }").unwrap();
    assert_eq!(o.not_implemented, ["gateway.write_deadline"]);
    assert_eq!(
        o.gateway.unwrap().write_deadline,
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        warnings,
        [":1:10: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"]
    );
    assert_eq!(
        gateway("gateway { write_deadline: \"3s\" }").write_deadline,
        Some(Duration::from_secs(3))
    );
}

#[test]
fn block_errors() {
    assert_eq!(
        error("gateway: 1"),
        ":1:0: Expected gateway to be a map, got int64"
    );
    assert_eq!(
        error("gateway { name: \"a b\", port: 7222 }"),
        ":1:10: gateway name cannot contain spaces"
    );
    assert_eq!(
        error("gateway { name: 1 }"),
        ":1:10: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("gateway { name: a, port: \"x\" }"),
        ":1:19: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("gateway { name: a, listen: \"x\" }"),
        ":1:19: could not parse address string \"x\""
    );
    assert_eq!(
        error("gateway { name: a, foo: 1, port: 7222 }"),
        ":1:19: unknown field \"foo\""
    );
    assert_eq!(
        error("gateway { name: a, reject_unknown: 1 }"),
        ":1:19: interface conversion: interface {} is int64, not bool"
    );
    assert_eq!(
        error("gateway { name: a, write_deadline: \"x\" }"),
        ":1:19: error parsing write_deadline: time: invalid duration \"x\""
    );
    assert_eq!(
        error("gateway { name: a, write_timeout: \"x\" }"),
        ":1:19: write_timeout must be 'default', 'close' or 'retry'"
    );
    // Every bad key is reported.
    assert_eq!(
        errors("gateway { foo: 1, bar: 2 }"),
        [
            ":1:10: unknown field \"foo\"",
            ":1:18: unknown field \"bar\""
        ]
    );
}

#[test]
fn authorization_errors() {
    let auth = |block: &str| error(&format!("gateway {{ name: a, authorization {block} }}"));
    assert_eq!(
        auth("{ users: [{user: a, password: b}] }"),
        ":1:19: Gateway authorization does not allow multiple users"
    );
    assert_eq!(
        auth("{ token: x }"),
        ":1:19: Gateway authorization does not support tokens"
    );
    assert_eq!(
        auth("{ user: a, password: b, timeout: \"x\" }"),
        ":1:57: error parsing authorization config, 'timeout' time: invalid duration \"x\""
    );
    assert_eq!(
        auth("{ user: a, password: b, foo: 1 }"),
        ":1:57: unknown field \"foo\""
    );
    assert_eq!(
        errors("gateway { name: a, authorization: 1 }"),
        [
            ":1:19: interface conversion: interface {} is int64, not map[string]interface {}",
            ":1:19: runtime error: invalid memory address or nil pointer dereference",
        ]
    );
    assert_eq!(
        warnings("gateway { name: a, authorization { user: a, password: b, timeout: 100 } }"),
        [":1:57: invalid use of field \"timeout\": timeout of 100 (100.000000 seconds) is high, \
          consider keeping it under 60 seconds. possibly caused by unquoted duration; \
          use '1m' instead of 1m, for example"]
    );
}

#[test]
fn remote_errors() {
    let remotes = |list: &str| {
        error(&format!(
            "gateway {{ name: a, port: 7222, gateways: {list} }}"
        ))
    };
    // Not a list: reported without position, as nats-server does, and the block ends.
    assert_eq!(
        errors("gateway { gateways: 1, foo: 2 }"),
        ["Expected gateways field to be an array, got int64"]
    );
    assert_eq!(
        errors("gateway { name: a, gateways: [\n\"x\"\n2\n]}"),
        [
            ":2:2: Expected gateway entry to be a map/struct, got x",
            ":3:1: Expected gateway entry to be a map/struct, got 2",
        ]
    );
    assert_eq!(
        remotes("[ {name: b, url: \"nats://h:1\", foo: 2} ]"),
        ":1:72: unknown field \"foo\""
    );
    assert_eq!(
        remotes("[ {name: b, url: \"nats://h:x\"} ]"),
        ":1:53: error parsing gateway url [\"nats://h:x\"]"
    );
    assert_eq!(
        remotes("[ {name: b, urls: [\"nats://h:x\"]} ]"),
        ":1:61: error parsing gateway url [\"nats://h:x\"]"
    );
    assert_eq!(
        remotes("[ {name: b, url: [\"nats://h:1\"]} ]"),
        ":1:53: interface conversion: interface {} is []interface {}, not string"
    );
    assert_eq!(
        remotes("[ {name: b, urls: \"nats://h:1\"} ]"),
        ":1:53: interface conversion: interface {} is string, not []interface {}"
    );
    assert_eq!(
        remotes("[ {name: 1, url: \"nats://h:1\"} ]"),
        ":1:44: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("gateway { gateways: [ {name: b, urls: [\n\"nats://h:1\"\n3\n]} ] }"),
        ":3:1: interface conversion: interface {} is int64, not string"
    );
}

#[test]
fn remote_urls() {
    let (o, warnings) = config(
        "gateway { name: a, port: 7222, gateways: [ {name: b, urls: [\"nats://h:1\", \"nats://h:1\"]} ] }",
    )
    .unwrap();
    assert_eq!(
        warnings,
        [":1:75: invalid use of field \"nats://h:1\": Duplicate gateway entry detected"]
    );
    assert_eq!(o.gateway.unwrap().gateways[0].urls.len(), 1);
    // `url` adds, `urls` replaces.
    let g =
        gateway("gateway { gateways: [ {name: b, urls: [\"nats://h:1\"], url: \"nats://h:2\"} ] }");
    assert_eq!(g.gateways[0].urls.len(), 2);
    let g =
        gateway("gateway { gateways: [ {name: b, url: \"nats://h:2\", urls: [\"nats://h:1\"]} ] }");
    assert_eq!(g.gateways[0].urls.len(), 1);
    assert_eq!(g.gateways[0].urls[0].host, "h");
}

#[test]
fn url_parts_and_display() {
    let u = GatewayUrl::parse(" nats://us%40r:p%3Ass@127.0.0.1:7222 ").unwrap();
    assert_eq!(u.raw, "nats://us%40r:p%3Ass@127.0.0.1:7222");
    assert_eq!(u.scheme, "nats");
    assert!(u.has_user);
    assert_eq!((u.user.as_str(), u.password.as_str()), ("us@r", "p:ss"));
    assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 7222));
    assert_eq!(u.host_port(), "127.0.0.1:7222");
    assert_eq!(u.to_string(), "nats://127.0.0.1:7222");
    let u = GatewayUrl::parse("nats://[::1]:7222/x").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 7222));
    assert_eq!(u.host_port(), "[::1]:7222");
    assert_eq!(u.to_string(), "nats://[::1]:7222/x");
    // No port is added, as in nats-server.
    let u = GatewayUrl::parse("nats://h").unwrap();
    assert_eq!((u.port, u.has_user), (0, false));
    assert_eq!(u.to_string(), "nats://h");
    let u = GatewayUrl::parse("nats://u@h:1").unwrap();
    assert!(u.has_user);
    assert_eq!((u.user.as_str(), u.password.as_str()), ("u", ""));
    assert_eq!(
        GatewayUrl::parse("nats://h:x"),
        Err("error parsing gateway url [\"nats://h:x\"]".to_string())
    );
}

#[test]
fn tls_blocks() {
    let dir = temp_dir("gateway-tls");
    let certs = crate::tls::config::test_certs::write(&dir);
    let (cert, key) = (certs.cert.display(), certs.key.display());
    let files = format!("cert_file: \"{cert}\", key_file: \"{key}\"");
    let g = gateway(&format!(
        "gateway {{ name: a, port: 7222, tls {{ {files}, timeout: 3, verify_cert_and_check_known_urls: true }} }}"
    ));
    assert!(g.tls.is_some());
    assert!(g.tls_check_known_urls);
    // The TLS timeout plus a second.
    assert_eq!(g.auth_timeout, Duration::from_secs(4));
    let g = gateway(&format!(
        "gateway {{ name: a, port: 7222, gateways: [ {{name: b, url: \"tls://h:1\", tls {{ {files} }} }} ] }}"
    ));
    assert!(g.gateways[0].tls.is_some());
    assert!(g.tls.is_none() && !g.tls_check_known_urls);
    assert_eq!(
        error("gateway { name: a, tls { cert_file: \"/nonexist\", key_file: \"/x\" } }"),
        ":1:19: error parsing X509 certificate/key pair: open /nonexist: no such file or directory"
    );
    assert_eq!(
        error(
            "gateway { name: a, gateways: [ {name: b, url: \"nats://h:1\", \
             tls { cert_file: \"/nonexist\", key_file: \"/x\" } } ] }"
        ),
        ":1:60: error parsing X509 certificate/key pair: open /nonexist: no such file or directory"
    );
    // A value of the wrong type is reported by the TLS parser.
    assert_eq!(
        error("gateway { name: a, tls { verify_cert_and_check_known_urls: 1 } }"),
        ":1:25: error parsing tls config, expected 'verify_cert_and_check_known_urls' to be a boolean"
    );
}

#[test]
fn startup_checks() {
    assert_eq!(refused("gateway { port: 7222 }"), "gateway has no name");
    assert_eq!(
        refused("gateway { name: a }"),
        "gateway \"a\" has no port specified (select -1 for random port)"
    );
    assert_eq!(
        refused("gateway { name: a, port: 7222, gateways: [ {url: \"nats://h:1\"} ] }"),
        "gateway in the list 0 has no name"
    );
    assert_eq!(
        refused("gateway { name: a, port: 7222, gateways: [ {name: b} ] }"),
        "gateway \"b\" has no URL"
    );
    let mut g = gateway("gateway { name: a, port: 7222 }");
    g.name = "a b".into();
    assert_eq!(g.validate(), Err(NAME_HAS_SPACES.to_string()));
    assert!(with_flags("gateway { name: a, port: -1 }", &[]).is_ok());
}

#[test]
fn leaf_nodes_and_gateways_need_a_system_account() {
    let text = "gateway { name: a, port: 7222 }\nleafnodes { port: 7422 }";
    assert_eq!(refused(text), LEAF_NEEDS_SYSTEM_ACCOUNT);
    // Before the gateway's own checks, as in nats-server.
    assert_eq!(
        refused("gateway { name: a }\nleafnodes { port: 7422 }"),
        LEAF_NEEDS_SYSTEM_ACCOUNT
    );
    let with_system = format!("{text}\naccounts {{ SYS: {{}} }}\nsystem_account: SYS");
    assert!(with_flags(&with_system, &[]).is_ok());
    // Leaf remotes alone do not need one.
    assert!(with_flags(
        "gateway { name: a, port: 7222 }\nleafnodes { remotes: [ {url: \"nats://h:1\"} ] }",
        &[]
    )
    .is_ok());
}

#[test]
fn cluster_name_follows_gateway_name() {
    assert_eq!(
        refused("gateway { name: a, port: 7222 }\ncluster { name: b, port: 6222 }"),
        "cluster name conflicts between cluster and gateway definitions"
    );
    let o = with_flags(
        "gateway { name: a, port: 7222 }\ncluster { port: 6222 }",
        &[],
    )
    .unwrap();
    assert_eq!(o.cluster.unwrap().name, "a");
    assert!(with_flags(
        "gateway { name: a, port: 7222 }\ncluster { name: a, port: 6222 }",
        &[]
    )
    .is_ok());
}
