//! Unit tests of `opts::cluster`: every key of the block, its errors and warnings (texts and
//! positions observed with nats-server 2.15.1), route URLs as Go's `url.Parse` takes them, the
//! startup checks and the cluster flags.

use super::*;
use crate::auth::config::SubjectPermission;
use crate::opts::test_support::{config, error, opts, temp_dir, with_flags};
use crate::opts::Error;

/// The cluster options of config text that loads without warnings.
fn cluster(text: &str) -> ClusterOpts {
    opts(text).cluster.expect("a cluster block")
}

/// The startup error for config text plus flags.
fn refused(text: &str, flags: &[&str]) -> String {
    with_flags(text, flags).unwrap_err().to_string()
}

/// The warnings of config text that loads.
fn warnings(text: &str) -> Vec<String> {
    match config(text) {
        Ok((_, warnings)) => warnings,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn allow(subjects: &[&str]) -> Option<Vec<String>> {
    Some(subjects.iter().map(|s| s.to_string()).collect())
}

fn route(raw: &str, user: &str, password: &str, host: &str, port: u16) -> RouteUrl {
    RouteUrl {
        raw: raw.into(),
        user: user.into(),
        password: password.into(),
        host: host.into(),
        port,
    }
}

#[test]
fn full_block_as_in_the_spec() {
    let text = r#"
cluster {
  name: "C1"
  listen: "127.0.0.1:6222"
  routes: [
    "nats-route://ruser:rpass@10.0.0.2:6222"
    "nats://10.0.0.3:6222"
    "nats-route://[::1]:6223"
  ]
  authorization { user: ruser, password: rpass, timeout: 0.5 }
  advertise: "nats1.example.com:6222"
  no_advertise: true
  connect_retries: 5
  connect_backoff: true
  permissions {
    import: ["foo.>"]
    export: { allow: ["bar.>"], deny: ["bar.secret"] }
  }
  pool_size: -1
  compression: { mode: s2_auto, rtt_thresholds: ["10ms", "50ms", "100ms"] }
  ping_interval: "20s"
  ping_max: 3
  write_deadline: "5s"
  write_timeout: close
}
"#;
    let o = with_flags(text, &[]).unwrap();
    let expected = ClusterOpts {
        name: "C1".into(),
        host: "127.0.0.1".into(),
        port: 6222,
        advertise: "nats1.example.com:6222".into(),
        no_advertise: true,
        routes: vec![
            route(
                "nats-route://ruser:rpass@10.0.0.2:6222",
                "ruser",
                "rpass",
                "10.0.0.2",
                6222,
            ),
            route("nats://10.0.0.3:6222", "", "", "10.0.0.3", 6222),
            route("nats-route://[::1]:6223", "", "", "::1", 6223),
        ],
        user: "ruser".into(),
        password: "rpass".into(),
        auth_timeout: Duration::from_millis(500),
        connect_retries: 5,
        connect_backoff: true,
        pool_size: -1,
        pinned_accounts: Vec::new(),
        compression: "s2_auto".into(),
        compression_rtt_thresholds: vec![
            Duration::from_millis(10),
            Duration::from_millis(50),
            Duration::from_millis(100),
        ],
        ping_interval: Some(Duration::from_secs(20)),
        ping_max: Some(3),
        write_deadline: Some(Duration::from_secs(5)),
        write_timeout: Some(WriteTimeout::Close),
        permissions: Some(Permissions {
            publish: Some(SubjectPermission {
                allow: allow(&["foo.>"]),
                deny: None,
            }),
            subscribe: Some(SubjectPermission {
                allow: allow(&["bar.>"]),
                deny: allow(&["bar.secret"]),
            }),
            response: None,
        }),
        tls: None,
        listen_configured: true,
    };
    assert_eq!(o.cluster.as_ref(), Some(&expected));
    assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
    assert_eq!(expected.compression_mode(), Ok("s2_auto"));
    assert_eq!(expected.routes[2].host_port(), "[::1]:6223");
    assert_eq!(
        expected.route_ping_interval(Duration::from_secs(120)),
        Duration::from_secs(20)
    );
}

#[test]
fn no_block_and_empty_block() {
    assert_eq!(opts("port: 4222").cluster, None);
    let empty = cluster("cluster {}");
    assert_eq!(empty, ClusterOpts::default());
    assert_eq!((empty.host.as_str(), empty.port), ("0.0.0.0", 0));
    assert!(!empty.listen_configured);
    assert_eq!(empty.auth_timeout, Duration::from_secs(2));
    assert_eq!(empty.compression_mode(), Ok("accept"));
    // Routes ping at most every 30 s, whatever the server's interval.
    assert_eq!(
        empty.route_ping_interval(Duration::from_secs(120)),
        Duration::from_secs(30)
    );
    assert_eq!(
        empty.route_ping_interval(Duration::from_secs(5)),
        Duration::from_secs(5)
    );
    assert!(opts("cluster {}").not_implemented.is_empty());
}

#[test]
fn listener_keys() {
    let c = cluster("cluster { listen: \"127.0.0.1:6222\" }");
    assert_eq!(
        (c.host.as_str(), c.port, c.listen_configured),
        ("127.0.0.1", 6222, true)
    );
    let c = cluster("cluster { listen: 6222 }");
    assert_eq!(
        (c.host.as_str(), c.port, c.listen_configured),
        ("0.0.0.0", 6222, true)
    );
    let c = cluster("cluster { host: \"10.0.0.1\", port: -1 }");
    assert_eq!((c.host.as_str(), c.port), ("10.0.0.1", RANDOM_PORT));
    let c = cluster("cluster { NET: \"10.0.0.2\" }");
    assert_eq!(
        (c.host.as_str(), c.port, c.listen_configured),
        ("10.0.0.2", 0, true)
    );
    let c = cluster("cluster { name: c }");
    assert_eq!(
        (c.host.as_str(), c.port, c.listen_configured),
        ("0.0.0.0", 0, false)
    );
    let c = cluster("cluster { advertise: \"h:1\" }");
    assert_eq!(c.advertise, "h:1");
    let c = cluster("cluster { cluster_advertise: \"h:2\", no_advertise: true }");
    assert_eq!((c.advertise.as_str(), c.no_advertise), ("h:2", true));
    assert_eq!(
        error("cluster { listen: \"127.0.0.1:abc\" }"),
        ":1:10: could not parse port \"abc\""
    );
    assert_eq!(
        error("cluster { port: \"x\" }"),
        ":1:10: interface conversion: interface {} is string, not int64"
    );
}

#[test]
fn value_errors() {
    assert_eq!(
        error("cluster { name: \"a b\" }"),
        ":1:10: cluster name cannot contain spaces"
    );
    assert_eq!(
        error("cluster { name: 1 }"),
        ":1:10: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("cluster { no_advertise: \"yes\" }"),
        ":1:10: interface conversion: interface {} is string, not bool"
    );
    assert_eq!(
        error("cluster { connect_retries: \"x\" }"),
        ":1:10: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("cluster { ping_max: \"x\" }"),
        ":1:10: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("cluster { write_timeout: \"x\" }"),
        ":1:10: write_timeout must be 'default', 'close' or 'retry'"
    );
    assert_eq!(
        error("cluster { bogus: 1 }"),
        ":1:10: unknown field \"bogus\""
    );
    assert_eq!(
        error("cluster: 1"),
        ":1:0: Expected map to define cluster, got int64"
    );
    // Every bad key is reported, as nats-server does.
    match config("cluster { name: \"a b\", port: \"x\", bogus: 1 }") {
        Err(Error::Config { errors, .. }) => assert_eq!(
            errors,
            [
                ":1:10: cluster name cannot contain spaces",
                ":1:23: interface conversion: interface {} is string, not int64",
                ":1:34: unknown field \"bogus\"",
            ]
        ),
        other => panic!("{other:?}"),
    }
    // A variable defined in the block and used there is no unknown field.
    assert_eq!(cluster("cluster {\n  P = 6222\n  port: $P\n}").port, 6222);
}

#[test]
fn connection_keys() {
    let c = cluster(
        "cluster { ping_interval: \"10s\", ping_max: 4, write_deadline: \"3s\", \
         write_timeout: retry, connect_retries: 2, connect_backoff: true, pool_size: 5 }",
    );
    assert_eq!(
        (c.ping_interval, c.ping_max),
        (Some(Duration::from_secs(10)), Some(4))
    );
    assert_eq!(
        (c.write_deadline, c.write_timeout),
        (Some(Duration::from_secs(3)), Some(WriteTimeout::Retry))
    );
    assert_eq!(
        (c.connect_retries, c.connect_backoff, c.pool_size),
        (2, true, 5)
    );
    assert_eq!(
        warnings("cluster { ping_interval: \"1m\" }"),
        [":1:10: Cluster 'ping_interval' will reset to 30s which is the max for routes"]
    );
    let capped = config("cluster { ping_interval: \"1m\" }")
        .unwrap()
        .0
        .cluster;
    assert_eq!(
        capped.and_then(|c| c.ping_interval),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        warnings("cluster { ping_interval: 45 }"),
        [
            ":1:10: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
            ":1:10: Cluster 'ping_interval' will reset to 30s which is the max for routes",
        ]
    );
    assert_eq!(
        warnings("cluster { write_deadline: 5 }"),
        [":1:10: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"]
    );
}

#[test]
fn routes_key() {
    let c = cluster("cluster { routes: [\"nats://a:1\", \" nats://u:p@b:2 \"] }");
    assert_eq!(
        c.routes,
        [
            route("nats://a:1", "", "", "a", 1),
            route("nats://u:p@b:2", "u", "p", "b", 2)
        ]
    );
    let text = "cluster { routes: [\"nats://a:1\", \"nats://a:1\"] }";
    assert_eq!(
        warnings(text),
        [":1:34: invalid use of field \"nats://a:1\": Duplicate route entry detected"]
    );
    assert_eq!(config(text).unwrap().0.cluster.unwrap().routes.len(), 1);
    match config("cluster { routes: [\"nats://a:1\", \"nats://a:1\", \":::x\", \"nats://a:1\"] }") {
        Err(Error::Config { warnings, errors }) => {
            assert_eq!(
                warnings,
                [
                    ":1:34: invalid use of field \"nats://a:1\": Duplicate route entry detected",
                    ":1:56: invalid use of field \"nats://a:1\": Duplicate route entry detected",
                ]
            );
            assert_eq!(errors, [":1:48: error parsing route url [\":::x\"]"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error("cluster { routes: [\":::bad url\"] }"),
        ":1:20: error parsing route url [\":::bad url\"]"
    );
    // nats-server wants a list, even of one URL.
    assert_eq!(
        error("cluster { routes: \"nats://a:1\" }"),
        ":1:10: interface conversion: interface {} is string, not []interface {}"
    );
}

#[test]
fn route_urls_go_accepts() {
    let ok = |s: &str| RouteUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        ok("nats-route://u:p@h:6222"),
        route("nats-route://u:p@h:6222", "u", "p", "h", 6222)
    );
    assert_eq!(ok(" nats://a:1 ").raw, "nats://a:1");
    assert_eq!(
        ok("nats://u%40x:p%3Aw@a:1"),
        route("nats://u%40x:p%3Aw@a:1", "u@x", "p:w", "a", 1)
    );
    assert_eq!(ok("nats://u@a:1"), route("nats://u@a:1", "u", "", "a", 1));
    assert_eq!(ok("nats://@a:1").host_port(), "a:1");
    assert_eq!(ok("nats://[::1]:1").host_port(), "[::1]:1");
    let zoned = ok("nats://[fe80::1%25eth0]:1");
    assert_eq!((zoned.host.as_str(), zoned.port), ("fe80::1%eth0", 1));
    // Go keeps extra colons in the host for schemes other than http(s).
    let listed = ok("nats://a:1:2");
    assert_eq!((listed.host.as_str(), listed.port), ("a:1", 2));
    // No port, or one out of range: accepted, port 0 (nats-server fails when dialing).
    for (s, host) in [
        ("nats://a:", "a"),
        ("nats://a:99999", "a"),
        ("a:1", ""),
        ("foo", ""),
    ] {
        let url = ok(s);
        assert_eq!((url.host.as_str(), url.port), (host, 0), "{s}");
    }
    assert_eq!(ok("nats://é:1").host, "é");
    assert_eq!(ok("http://a:1?x=%zz").host_port(), "a:1");
    assert_eq!(ok("//a:1").host_port(), "a:1");
    assert_eq!(ok("nats://a:1/b c").host_port(), "a:1");
}

#[test]
fn route_urls_go_refuses() {
    for s in [
        ":::bad url",
        "nats://a b:1",
        "nats://a:x",
        "nats://[::1",
        "nats://[zz]:1",
        "nats://[1.2.3.4]:1",
        "nats://a[b]:1",
        "nats://[::1]x:1",
        "nats://u p:x@a:1",
        "nats://u:p%zz@a:1",
        "nats://a:1/%zz",
        "nats://a:1#%zz",
        "1nats://a:1",
        "nats://a%20b:1",
        "nats://a%41:1",
        "nats://a{:1",
        "http://a:1:2",
        "nats://a\u{7f}:1",
    ] {
        assert_eq!(
            RouteUrl::parse(s),
            Err(format!("error parsing route url [{}]", go_quote(s))),
            "{s}"
        );
    }
}

#[test]
fn authorization_block() {
    let c = cluster("cluster { authorization { user: ruser, password: rpass, timeout: 3 } }");
    assert_eq!(
        (c.user.as_str(), c.password.as_str(), c.auth_timeout),
        ("ruser", "rpass", Duration::from_secs(3))
    );
    let c = cluster("cluster { authorization { username: u, pass: p } }");
    assert_eq!(
        (c.user.as_str(), c.password.as_str(), c.auth_timeout),
        ("u", "p", Duration::from_secs(2))
    );
    let c = cluster("cluster { authorization { timeout: \"500ms\" } }");
    assert_eq!(c.auth_timeout, Duration::from_millis(500));
    assert_eq!(
        error("cluster { authorization { users: [] } }"),
        ":1:10: Cluster authorization does not allow multiple users"
    );
    assert_eq!(
        error("cluster { authorization { token: abc } }"),
        ":1:10: Cluster authorization does not support tokens"
    );
    // nats-server first checks the callout block itself; any callout is refused here.
    assert_eq!(
        error("cluster { authorization { auth_callout: {} } }"),
        ":1:10: Cluster authorization does not support callouts"
    );
    assert_eq!(
        error("cluster { authorization { user: a, bogus: 1 } }"),
        ":1:35: unknown field \"bogus\""
    );
    assert_eq!(
        error("cluster { authorization: 1 }"),
        ":1:10: interface conversion: interface {} is int64, not map[string]interface {}"
    );
    assert_eq!(
        warnings("cluster { authorization { timeout: 120 } }"),
        [":1:26: invalid use of field \"timeout\": timeout of 120 (120.000000 seconds) is high, \
          consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' \
          instead of 1m, for example"]
    );
}

#[test]
fn permissions() {
    assert_eq!(
        error("cluster { permissions: { import: \"a\", allow_responses: true } }"),
        ":1:10: Cluster permissions do not support dynamic responses"
    );
    assert_eq!(
        error("cluster { permissions: { export: { deny: [\"a b\"] } } }"),
        ":1:10: cluster export deny: subject \"a b\" is not a valid subject"
    );
    // Deprecated inside `authorization`, and the block's own permissions win.
    let text = "cluster { authorization { user: a, permissions: { import: \"a\" } } }";
    assert_eq!(
        warnings(text),
        [":1:10: invalid use of field \"authorization\": setting \"permissions\" within cluster authorization block is deprecated"]
    );
    let (o, _) = config(text).unwrap();
    let import = |o: &Options| {
        o.cluster
            .as_ref()
            .and_then(|c| c.permissions.as_ref())
            .and_then(|p| p.publish.as_ref())
            .and_then(|p| p.allow.clone())
    };
    assert_eq!(import(&o), allow(&["a"]));
    assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
    let text = "cluster {\n  permissions: { import: \"x\" }\n  authorization { permissions: { import: \"y\" } }\n}";
    let (o, _) = config(text).unwrap();
    assert_eq!(import(&o), allow(&["x"]));
}

#[test]
fn compression_forms() {
    let mode = |text: &str| cluster(text).compression;
    assert_eq!(mode("cluster { compression: \"s2_fast\" }"), "s2_fast");
    assert_eq!(mode("cluster { compression: true }"), "s2_fast");
    assert_eq!(mode("cluster { compression: on }"), "s2_fast");
    assert_eq!(mode("cluster { compression: false }"), "off");
    let c =
        cluster("cluster { compression: { mode: \"auto\", rtts: [\"10ms\", \"0s\", \"20ms\"] } }");
    assert_eq!(c.compression, "auto");
    assert_eq!(c.compression_rtt_thresholds.len(), 3);
    assert_eq!(c.compression_mode(), Ok("s2_auto"));
    let normalized = |text: &str| cluster(text).compression_mode();
    assert_eq!(normalized("cluster { compression: \"On\" }"), Ok("s2_fast"));
    assert_eq!(
        normalized("cluster { compression: not_supported }"),
        Ok("not supported")
    );
    assert_eq!(normalized("cluster { compression: disabled }"), Ok("off"));
    assert_eq!(normalized("cluster { compression: best }"), Ok("s2_best"));
    assert_eq!(
        error("cluster { compression: 1 }"),
        ":1:10: field \"compression\" should be a boolean or a structure, got int64"
    );
    assert_eq!(
        error("cluster { compression: {mode: x, foo: 1} }"),
        ":1:33: unknown field \"foo\""
    );
    assert_eq!(
        error("cluster { compression: {rtt_thresholds: [\"x\"]} }"),
        ":1:24: time: invalid duration \"x\""
    );
    assert_eq!(
        error("cluster { compression: {rtt_thresholds: \"x\"} }"),
        ":1:24: interface conversion: interface {} is string, not []interface {}"
    );
}

#[test]
fn compression_is_checked_at_startup() {
    // The config check (-t) accepts what the startup refuses.
    assert_eq!(
        cluster("cluster { compression: bogus }").compression,
        "bogus"
    );
    assert_eq!(
        refused("cluster { port: 6222, compression: bogus }", &[]),
        "unsupported compression mode \"bogus\""
    );
    let auto = |rtts: &str| {
        refused(
            &format!("cluster {{ compression: {{ mode: s2_auto, rtt_thresholds: [{rtts}] }} }}"),
            &[],
        )
    };
    assert_eq!(
        auto("\"50ms\", \"10ms\""),
        "RTT threshold values [50ms 10ms] should be in ascending order"
    );
    assert_eq!(
        auto("\"1ms\", \"2ms\", \"3ms\", \"4ms\", \"5ms\""),
        "compression mode \"s2_auto\" should have no more than 4 RTT thresholds: [1ms 2ms 3ms 4ms 5ms]"
    );
    assert_eq!(
        auto("\"0ms\""),
        "compression mode \"s2_auto\" requires at least one RTT threshold"
    );
    assert!(with_flags(
        "cluster { compression: { mode: s2_auto, rtt_thresholds: [\"1ms\", \"2ms\", \"3ms\", \"4ms\", \"0s\"] } }",
        &[]
    )
    .is_ok());
}

#[test]
fn pinned_accounts_and_pool_size() {
    assert_eq!(
        cluster("cluster { accounts: \"A\" }").pinned_accounts,
        ["A"]
    );
    assert_eq!(
        cluster("cluster { accounts: [A, B] }").pinned_accounts,
        ["A", "B"]
    );
    assert_eq!(
        error("cluster { accounts: 1 }"),
        ":1:10: error parsing accounts: unsupported type int64"
    );
    assert_eq!(
        refused("cluster { pool_size: -1, accounts: [A] }", &[]),
        "pool_size cannot be negative if pinned accounts are specified"
    );
    assert!(with_flags("cluster { pool_size: -1, accounts: [] }", &[]).is_ok());
    assert!(with_flags("cluster { pool_size: -1, port: 6222 }", &[]).is_ok());
    // With a listener and pooling, nats-server pins the system account too, which shows.
    assert_eq!(
        refused("cluster { accounts: [A, A] }", &[]),
        "found duplicate account name \"A\" in pinned accounts list [\"A\" \"A\"]"
    );
    assert_eq!(
        refused("cluster { accounts: [A, A], port: 6222 }", &[]),
        "found duplicate account name \"A\" in pinned accounts list [\"A\" \"A\" \"$SYS\"]"
    );
    assert_eq!(
        refused(
            "system_account: S\naccounts { S {} }\ncluster { accounts: [A, A], port: 6222 }",
            &[]
        ),
        "found duplicate account name \"A\" in pinned accounts list [\"A\" \"A\" \"S\"]"
    );
    assert_eq!(
        refused(
            "no_system_account: true\ncluster { accounts: [A, A], port: 6222 }",
            &[]
        ),
        "found duplicate account name \"A\" in pinned accounts list [\"A\" \"A\"]"
    );
    assert!(with_flags("cluster { accounts: [A, \"$SYS\"], port: 6222 }", &[]).is_ok());
}

#[test]
fn tls_block() {
    let dir = temp_dir("cluster-tls");
    let certs = crate::tls::config::test_certs::write(&dir);
    let files = format!(
        "cert_file: \"{}\", key_file: \"{}\"",
        certs.cert.display(),
        certs.key.display()
    );
    let o = opts(&format!("cluster {{ port: 6222, tls {{ {files} }} }}"));
    let c = o.cluster.as_ref().unwrap();
    assert!(c.tls.is_some());
    // Without an authorization timeout: the TLS timeout (2 s) plus a second.
    assert_eq!(c.auth_timeout, Duration::from_secs(3));
    assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
    let c = cluster(&format!("cluster {{ tls {{ {files}, timeout: 5 }} }}"));
    assert_eq!(c.auth_timeout, Duration::from_secs(6));
    let c = cluster(&format!(
        "cluster {{ authorization {{ timeout: 1 }}, tls {{ {files} }} }}"
    ));
    assert_eq!(c.auth_timeout, Duration::from_secs(1));
    assert_eq!(
        error("cluster { tls { cert_file: \"/nonexist\", key_file: \"/x\" } }"),
        ":1:10: error parsing X509 certificate/key pair: open /nonexist: no such file or directory"
    );
}

#[test]
fn cluster_flag() {
    let o = with_flags("", &["--cluster", "nats://ruser:rpass@127.0.0.1:6222"]).unwrap();
    let expected = ClusterOpts {
        host: "127.0.0.1".into(),
        port: 6222,
        user: "ruser".into(),
        password: "rpass".into(),
        listen_configured: true,
        ..ClusterOpts::default()
    };
    assert_eq!(o.cluster, Some(expected));
    // The URL's credentials replace the configured ones, or clear them.
    let text = "cluster { port: 6222, name: c, authorization { user: a, password: b } }";
    let o = with_flags(text, &["--cluster_listen", "nats://127.0.0.1:7222"]).unwrap();
    let c = o.cluster.as_ref().unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.name.as_str()),
        ("127.0.0.1", 7222, "c")
    );
    assert_eq!((c.user.as_str(), c.password.as_str()), ("", ""));
    let o = with_flags("", &["--cluster", "nats://:6222"]).unwrap();
    assert_eq!(o.cluster.map(|c| c.host), Some("0.0.0.0".to_string()));
    let o = with_flags("", &["--cluster", "nats://127.0.0.1:-1"]).unwrap();
    assert_eq!(o.cluster.map(|c| c.port), Some(RANDOM_PORT));
    assert_eq!(with_flags(text, &["--cluster", ""]).unwrap().cluster, None);
}

#[test]
fn cluster_flag_errors() {
    for (url, text) in [
        (
            "nats://127.0.0.1:abc",
            "parse \"nats://127.0.0.1:abc\": invalid port \":abc\" after host",
        ),
        (
            "127.0.0.1:14500",
            "parse \"127.0.0.1:14500\": first path segment in URL cannot contain colon",
        ),
        ("localhost:6222", "missing port in address"),
        ("nats://0.0.0.0", "address 0.0.0.0: missing port in address"),
        ("nats://h:", "EOF"),
        (
            "nats://h:99999999999999999999",
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
        ),
        (
            "nats://a b:1",
            "parse \"nats://a b:1\": invalid character \" \" in host name",
        ),
        (":::x", "parse \":::x\": missing protocol scheme"),
        (
            "nats://[zz]:1",
            "parse \"nats://[zz]:1\": invalid host: ParseAddr(\"zz\"): unable to parse IP",
        ),
        (
            "nats://u:p%zz@a:1",
            "parse \"nats://u:p%zz@a:1\": invalid URL escape \"%zz\"",
        ),
        (
            "nats://a%41:1",
            "parse \"nats://a%41:1\": invalid URL escape \"%41\"",
        ),
        (
            "nats://a{:1",
            "parse \"nats://a{:1\": invalid character \"{\" in host name",
        ),
        ("nats://a:1:2", "address a:1:2: too many colons in address"),
        (
            "http://a:1:2",
            "parse \"http://a:1:2\": invalid port \":1:2\" after host",
        ),
        (
            "nats://[1.2.3.4]:1",
            "parse \"nats://[1.2.3.4]:1\": invalid IP-literal",
        ),
        (
            "nats://h:1#%zz",
            "parse \"nats://h:1#%zz\": invalid URL escape \"%zz\"",
        ),
        ("nats://u@h:1", "expected cluster password to be set"),
    ] {
        assert_eq!(refused("", &["--cluster", url]), text, "{url}");
    }
}

#[test]
fn routes_flag() {
    let text = "cluster { port: 6222, routes: [\"nats://a:1\"] }";
    let o = with_flags(text, &["--routes", "nats://b:2, nats://c:3"]).unwrap();
    let raws: Vec<String> = o
        .cluster
        .unwrap()
        .routes
        .into_iter()
        .map(|r| r.raw)
        .collect();
    assert_eq!(raws, ["nats://b:2", "nats://c:3"]);
    let o = with_flags(text, &["--routes", ""]).unwrap();
    assert!(o.cluster.unwrap().routes.is_empty());
    assert_eq!(
        refused("cluster { name: x }", &["--routes", "nats://a:1"]),
        "solicited routes require cluster capabilities, e.g. --cluster"
    );
    assert_eq!(
        refused("", &["--routes", "nats://a:1"]),
        "solicited routes require cluster capabilities, e.g. --cluster"
    );
    // A configured host is a listen address for nats-server's check.
    assert!(with_flags(
        "cluster { host: \"127.0.0.1\" }",
        &["--routes", "nats://a:1"]
    )
    .is_ok());
    let o = with_flags(
        "",
        &[
            "--cluster",
            "nats://127.0.0.1:6222",
            "--routes",
            "nats://a:1",
        ],
    )
    .unwrap();
    assert_eq!(o.cluster.unwrap().routes[0].host_port(), "a:1");
    // nats-server would keep a nil route; Gannet refuses the URL.
    assert_eq!(
        refused(
            "",
            &[
                "--cluster",
                "nats://127.0.0.1:6222",
                "--routes",
                "nats://a:1,:::x"
            ]
        ),
        "error parsing route url [\":::x\"]"
    );
}

#[test]
fn other_cluster_flags() {
    let text = "cluster { port: 6222, name: c1, no_advertise: true }";
    let o = with_flags(
        text,
        &[
            "--cluster_name",
            "c2",
            "--cluster_advertise",
            "h:7222",
            "--connect_retries",
            "3",
        ],
    )
    .unwrap();
    let c = o.cluster.unwrap();
    assert_eq!((c.name.as_str(), c.advertise.as_str()), ("c2", "h:7222"));
    assert_eq!((c.connect_retries, c.no_advertise), (3, true));
    // As nats-server's second flag parse: --no_advertise=false turns it off again.
    let c = with_flags(text, &["--no_advertise=false"])
        .unwrap()
        .cluster
        .unwrap();
    assert!(!c.no_advertise);
    let c = with_flags("cluster { port: 6222 }", &["--no_advertise"])
        .unwrap()
        .cluster
        .unwrap();
    assert!(c.no_advertise);
    // Without a cluster the flags change nothing, but a bad name is still refused.
    assert_eq!(
        with_flags("", &["--cluster_name", "x"]).unwrap().cluster,
        None
    );
    assert_eq!(
        refused("", &["--cluster_name", "a b"]),
        "cluster name cannot contain spaces"
    );
    assert_eq!(
        refused(text, &["--cluster_name", "a b"]),
        "cluster name cannot contain spaces"
    );
}
