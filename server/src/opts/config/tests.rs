//! Unit tests of `opts::config`.

use super::*;
use crate::cli::Flags;
use crate::opts::test_support::{config, error, flags, opts, temp_dir, with_flags};
use crate::opts::RANDOM_PORT;

#[test]
fn core_keys() {
    let o = opts(
            "host: 127.0.0.1\nport: 4333\nserver_name: srv-1\nclient_advertise: \"example.com:4333\"\n\
             debug: true\ntrace: yes\nlogtime: false\nlogtime_utc: on\nmax_payload: 2MB\n\
             max_pending: 100MB\nmax_control_line: 2KB\nmax_connections: 100\nmax_subscriptions: 10\n\
             max_sub_tokens: 16\nping_interval: \"30s\"\nping_max: 5\nwrite_deadline: \"2.5s\"\n\
             write_timeout: retry\nlame_duck_duration: \"1m\"\nlame_duck_grace_period: \"5s\"\n\
             no_header_support: true\ndisable_sublist_cache: true\nmax_closed_clients: 5\n\
             pid_file: /tmp/g.pid\nports_file_dir: /tmp\nlog_file: /tmp/g.log\nlog_size_limit: 1GB\n\
             log_max_num: 3\nsyslog: false\nremote_syslog: \"udp://h:514\"\nmax_traced_msg_len: 64\n\
             http_port: 8222\nhttps_port: 8443\nhttp_base_path: /mon\nno_auth_user: bob\nworkers: 3\n",
        );
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    assert_eq!(o.server_name, "srv-1");
    assert_eq!(o.client_advertise, "example.com:4333");
    assert!(o.debug && o.trace && !o.logtime && o.logtime_utc);
    assert_eq!(
        (o.max_payload, o.max_pending, o.max_control_line),
        (2 << 20, 100 << 20, 2048)
    );
    assert_eq!(
        (o.max_connections, o.max_subscriptions, o.max_sub_tokens),
        (100, 10, 16)
    );
    assert_eq!((o.ping_interval, o.ping_max), (Duration::from_secs(30), 5));
    assert_eq!(o.write_deadline, Duration::from_millis(2500));
    assert_eq!(o.write_timeout, WriteTimeout::Retry);
    assert_eq!(o.lame_duck_duration, Duration::from_secs(60));
    assert_eq!(o.lame_duck_grace_period, Duration::from_secs(5));
    assert!(o.no_header_support && o.disable_sublist_cache);
    assert_eq!(o.max_closed_clients, 5);
    assert_eq!(o.pid_file, "/tmp/g.pid");
    assert_eq!(o.ports_file_dir, "/tmp");
    assert_eq!(o.log_file, "/tmp/g.log");
    assert_eq!((o.log_size_limit, o.log_max_num), (1 << 30, 3));
    assert_eq!(o.remote_syslog, "udp://h:514");
    assert_eq!(o.max_traced_msg_len, 64);
    assert_eq!(
        (o.http_host.as_str(), o.http_port, o.https_port),
        ("127.0.0.1", 8222, 8443)
    );
    assert_eq!(o.http_base_path, "/mon");
    assert_eq!(o.no_auth_user, "bob");
    assert_eq!(o.workers, Some(3));
    assert_eq!(opts("workers: 0").workers, None);
}

#[test]
fn keys_are_case_insensitive_with_aliases() {
    let o = opts("NET: 10.0.0.1\nPort: 1\nMax_Conn: 7\nmax_subs: 3\nmonitor_port: 9\nlogfile: x\npidfile: p\n\
                      no_sublist_cache: true\nmax_subscription_tokens: 4\nlogfile_size_limit: 5\nlogfile_max_num: 6");
    assert_eq!(
        (o.host.as_str(), o.port, o.max_connections),
        ("10.0.0.1", 1, 7)
    );
    assert_eq!(
        (o.max_subscriptions, o.http_port, o.max_sub_tokens),
        (3, 9, 4)
    );
    assert_eq!((o.log_file.as_str(), o.pid_file.as_str()), ("x", "p"));
    assert!(o.disable_sublist_cache);
    assert_eq!((o.log_size_limit, o.log_max_num), (5, 6));
}

#[test]
fn trace_verbose_and_headers_imply_trace() {
    let o = opts("trace_verbose: true");
    assert!(o.trace && o.trace_verbose);
    let o = opts("trace_headers: true");
    assert!(o.trace && o.trace_headers);
}

#[test]
fn max_connections_zero_rejects_all() {
    assert_eq!(opts("max_connections: 0").max_connections, -1);
    assert_eq!(opts("max_conn: -5").max_connections, -5);
}

#[test]
fn listen_forms() {
    let o = opts("listen: 127.0.0.1:4333");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    let o = opts("listen: \"[::1]:4333\"");
    assert_eq!((o.host.as_str(), o.port), ("::1", 4333));
    let o = opts("listen: 4333");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4333));
    let o = opts("listen: \":-1\"");
    assert_eq!(o.port, RANDOM_PORT);
    let o = opts("http: \"127.0.0.1:8222\"");
    assert_eq!(
        (o.http_host.as_str(), o.http_port, o.host.as_str()),
        ("127.0.0.1", 8222, "0.0.0.0")
    );
    let o = opts("https: 8443\nhost: 10.1.1.1");
    assert_eq!((o.http_host.as_str(), o.https_port), ("10.1.1.1", 8443));
    assert_eq!(
        error("listen: localhost"),
        ":1:0: could not parse address string \"localhost\""
    );
    assert_eq!(
        error("listen: \"a:b:c\""),
        ":1:0: could not parse address string \"a:b:c\""
    );
    assert_eq!(
        error("listen: \"localhost:x\""),
        ":1:0: could not parse port \"x\""
    );
    assert_eq!(
        error("listen: true"),
        ":1:0: expected port or host:port, got bool"
    );
}

#[test]
fn type_errors_are_go_interface_conversions() {
    assert_eq!(
        error("max_payload: \"1MB\""),
        ":1:0: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("\nport: 2097152.5"),
        ":2:1: interface conversion: interface {} is float64, not int64"
    );
    assert_eq!(
        error("debug: \"true\""),
        ":1:0: interface conversion: interface {} is string, not bool"
    );
    assert_eq!(
        error("server_name: [a]"),
        ":1:0: interface conversion: interface {} is []interface {}, not string"
    );
    assert_eq!(
        error("authorization: 1"),
        ":1:0: interface conversion: interface {} is int64, not map[string]interface {}"
    );
}

#[test]
fn unknown_fields() {
    assert_eq!(error("port: 4222\n  foo: 1"), ":2:3: unknown field \"foo\"");
    assert_eq!(
        error("authorization {\n  user: a\n  bogus: 1\n}"),
        ":3:3: unknown field \"bogus\""
    );
    assert_eq!(error("include: x"), ":1:0: unknown field \"include\"");
    // A defined and used variable is fine; defined and unused is not.
    assert_eq!(opts("X = 4223\nport: $X").port, 4223);
    assert_eq!(error("X = 4223\nport: 1"), ":1:0: unknown field \"X\"");
    let o = opts("authorization {\n  PASS = secret\n  user: a\n  password: $PASS\n}");
    assert_eq!(o.authorization.password, "secret");
}

#[test]
fn all_errors_are_reported_together() {
    match config("a: 1\nb: 2\nport: x\nping_interval: 5") {
        Err(Error::Config { warnings, errors }) => {
            assert_eq!(errors.len(), 3, "{errors:?}");
            assert_eq!(warnings.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn not_implemented_keys_are_recorded() {
    let o = opts(
        "cluster { port: 6222 }\ngateway { name: a }\nleafnodes {}\njetstream: enabled\n\
             accounts { A: {} }\nsystem_account: SYS\nprof_port: 6060\n\
             server_tags: [a, b]\nmappings { a: b }\nauthorization { users = [] }\n",
    );
    assert_eq!(o.not_implemented, ["jetstream", "prof_port", "mappings"]);
    assert_eq!(
        error("prof_port: \"x\""),
        ":1:0: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("system_account: 1"),
        ":1:0: system account name must be a string"
    );
}

#[test]
fn durations() {
    assert_eq!(
        opts("ping_interval: \"1m30s\"").ping_interval,
        Duration::from_secs(90)
    );
    assert_eq!(
        opts("ping_interval: \"250ms\"").ping_interval,
        Duration::from_millis(250)
    );
    assert_eq!(
        opts("ping_interval: \"1h30m\"").ping_interval,
        Duration::from_secs(5400)
    );
    assert_eq!(
        opts("ping_interval: 1m30s").ping_interval,
        Duration::from_secs(90)
    );
    assert_eq!(
        opts("write_deadline: 10s").write_deadline,
        Duration::from_secs(10)
    );
    let (o, warnings) = config("ping_interval: 5\nwrite_deadline: 3").unwrap();
    assert_eq!(
        (o.ping_interval, o.write_deadline),
        (Duration::from_secs(5), Duration::from_secs(3))
    );
    assert_eq!(
            warnings,
            [
                ":1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
                ":2:1: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"
            ]
        );
    assert_eq!(
        error("ping_interval: \"abc\""),
        ":1:0: error parsing ping_interval: time: invalid duration \"abc\""
    );
    assert_eq!(
        error("write_deadline: \"10\""),
        ":1:0: error parsing write_deadline: time: missing unit in duration \"10\""
    );
    assert_eq!(
        error("ping_interval: \"2x\""),
        ":1:0: error parsing ping_interval: time: unknown unit \"x\" in duration \"2x\""
    );
    // Unquoted 2m is the integer 2000000: seconds, with a warning.
    let (o, warnings) = config("ping_interval: 2m").unwrap();
    assert_eq!(
        (o.ping_interval, warnings.len()),
        (Duration::from_secs(2_000_000), 1)
    );
}

#[test]
fn lame_duck_rules() {
    assert_eq!(
        error("lame_duck_duration: \"5s\""),
        ":1:0: invalid lame_duck_duration of 5s, minimum is 30 seconds"
    );
    assert_eq!(
        error("lame_duck_grace_period: \"-1s\""),
        ":1:0: invalid lame_duck_grace_period, needs to be positive"
    );
    assert_eq!(
        error("lame_duck_duration: 60"),
        ":1:0: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("lame_duck_duration: \"x\""),
        ":1:0: error parsing lame_duck_duration: time: invalid duration \"x\""
    );
    let mut o = opts("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"");
    assert_eq!(
        o.apply_flags(&Flags::default()).unwrap_err().to_string(),
        "lame duck grace period (30s) should be strictly lower than lame duck duration (30s)"
    );
}

#[test]
fn authorization_block() {
    let o = opts("authorization { user: derek, password: \"s3cr3t\", timeout: 1 }");
    assert_eq!(o.authorization.user, "derek");
    assert_eq!(o.authorization.password, "s3cr3t");
    assert_eq!(o.auth_timeout, Duration::from_secs(1));
    let o = opts("authorization { username: a, pass: b, timeout: 0.5 }");
    assert_eq!(
        (o.authorization.user.as_str(), o.auth_timeout),
        ("a", Duration::from_millis(500))
    );
    assert_eq!(
        opts("authorization { token: t, timeout: \"3s\" }").auth_timeout,
        Duration::from_secs(3)
    );
    assert_eq!(opts("authorization { token: t }").authorization.token, "t");
    assert_eq!(
        error("authorization {\n  user: a\n  token: t\n}"),
        ":1:0: Cannot have a user/pass and token"
    );
    assert_eq!(
        error("authorization { user: a, users: [] }"),
        ":1:0: Can not have a single user/pass and a users array"
    );
    assert_eq!(
        error("authorization { token: a, users: [] }"),
        ":1:0: Can not have a token and a users array"
    );
    assert_eq!(
        error("authorization {\n timeout: true }"),
        ":2:2: error parsing authorization config, 'timeout' wrong type"
    );
    assert_eq!(
        error("authorization {\n timeout: \"x\" }"),
        ":2:2: error parsing authorization config, 'timeout' time: invalid duration \"x\""
    );
    let (o, warnings) = config("authorization {\n  timeout: 120\n}").unwrap();
    assert_eq!(o.auth_timeout, Duration::from_secs(120));
    assert_eq!(
        warnings,
        [
            ":2:3: invalid use of field \"timeout\": timeout of 120 (120.000000 seconds) is high, \
             consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' \
             instead of 1m, for example"
        ]
    );
    let o =
        opts("authorization { users = [ {user: a} ], default_permissions: {}, auth_callout: {} }");
    assert_eq!(o.not_implemented, ["authorization.auth_callout"]);
}

#[test]
fn size_limits() {
    assert_eq!(
        error("max_payload: 3GB"),
        ":1:0: max_payload value is too big"
    );
    assert_eq!(
        error("Max_Control_Line: 3GB"),
        ":1:0: Max_Control_Line value is too big"
    );
    assert_eq!(
        error("max_sub_tokens: 256"),
        ":1:0: max_sub_tokens value is too big"
    );
    assert_eq!(
        error("max_sub_tokens: 0"),
        ":1:0: max_sub_tokens value can not be negative"
    );
    assert_eq!(
        error("max_subscription_tokens: -1"),
        ":1:0: max_subscription_tokens value can not be negative"
    );
    assert_eq!(opts("max_sub_tokens: 255").max_sub_tokens, 255);
    let mut o = opts("max_payload: 100MB");
    assert_eq!(
        o.apply_flags(&Flags::default()).unwrap_err().to_string(),
        "max_payload (104857600) cannot be higher than max_pending (67108864)"
    );
    assert!(with_flags("max_payload: 100MB\nmax_pending: 200MB", &[]).is_ok());
}

#[test]
fn misc_value_errors() {
    assert_eq!(
        error("server_name: \"a b\""),
        ":1:0: server name cannot contain spaces"
    );
    assert_eq!(
        error("write_timeout: \"sometimes\""),
        ":1:0: write_timeout must be 'default', 'close' or 'retry'"
    );
    assert_eq!(
        error("workers: -1"),
        ":1:0: workers value can not be negative"
    );
    assert_eq!(
        with_flags("", &["-n", "a b"]).unwrap_err().to_string(),
        "server name cannot contain spaces"
    );
}

#[test]
fn empty_config_warns() {
    let (_, warnings) = Options::from_config(&Map::new(), Some(Path::new("x.conf"))).unwrap();
    assert_eq!(warnings, ["x.conf: config has no values or is empty"]);
}

#[test]
fn realistic_nats_server_config() {
    let dir = temp_dir("realistic");
    let certs = crate::tls::config::test_certs::write(&dir);
    let text = r#"
# A production-style nats-server config.
server_name: "nats-1"
listen: 0.0.0.0:4222
http: 8222
max_payload: 2MB
max_connections: 10K
ping_interval: "20s"
write_deadline: "5s"
lame_duck_duration: "2m"
lame_duck_grace_period: "10s"
logtime: true
debug: false

tls {
  cert_file: "CERT"
  key_file:  "KEY"
  ca_file:   "CA"
  verify:    true
  timeout:   2
}

authorization {
  timeout: 2
}

SYS_PASS = "sys-secret"
accounts {
  SYS: { users: [ { user: sys, password: $SYS_PASS } ] }
  APP: {
    jetstream: enabled
    users: [
      { user: app, password: "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS",
        permissions: { publish: { allow: ["app.>"] }, subscribe: ["app.>", "_INBOX.>"] } }
    ]
    exports: [ { service: "svc.>" } ]
  }
}
system_account: SYS

jetstream {
  store_dir: "/data/jetstream"
  max_mem: 1G
  max_file: 100G
}

cluster {
  name: "c1"
  listen: 0.0.0.0:6222
  routes: [
    nats-route://nats-2:6222
    nats-route://nats-3:6222
  ]
  authorization { user: route, password: routepass, timeout: 1 }
}

leafnodes { port: 7422 }
websocket { port: 8080, no_tls: true }
mqtt { port: 1883 }
server_tags: ["az:1", "region:eu"]
"#;
    let text = text
        .replace("CERT", &certs.cert.display().to_string())
        .replace("KEY", &certs.key.display().to_string())
        .replace("CA", &certs.ca.display().to_string());
    let o = opts(&text);
    assert!(o.tls.as_ref().is_some_and(|t| t.verify));
    assert_eq!(o.server_name, "nats-1");
    assert_eq!(
        (o.port, o.http_port, o.max_connections),
        (4222, 8222, 10_000)
    );
    assert_eq!(o.ping_interval, Duration::from_secs(20));
    assert_eq!(o.not_implemented, ["jetstream", "mqtt",]);
    assert_eq!(o.server_tags, ["az:1", "region:eu"]);
    let cluster = o.cluster.as_ref().unwrap();
    assert_eq!(
        (cluster.name.as_str(), cluster.host.as_str(), cluster.port),
        ("c1", "0.0.0.0", 6222)
    );
    assert_eq!(cluster.routes.len(), 2);
    assert_eq!(
        (cluster.user.as_str(), cluster.auth_timeout),
        ("route", Duration::from_secs(1))
    );
    // --routes works since the config has a cluster listener, and replaces its routes.
    let mut o = o;
    o.apply_flags(&flags(&["--routes", "nats://x:6222"]))
        .unwrap();
    let routes = &o.cluster.as_ref().unwrap().routes;
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].host_port(), "x:6222");
}

#[test]
fn feature_flags_merge_over_the_2_15_1_defaults() {
    let o =
        opts("feature_flags { js_ack_fc_v2: true, js_raft_delete_range: false, bogus: true }\n");
    let merged = o.feature_flags();
    let got: Vec<(&str, bool)> = merged.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        got,
        [
            ("js_ack_fc_v2", true),
            ("js_api_reply_v2", false),
            ("js_raft_delete_range", false),
            ("js_snapshot_sources", false),
        ],
        "unknown flags are left out, configured ones win"
    );
    assert!(opts("port: 4222\n").feature_flags()["js_raft_delete_range"]);
    assert!(error("feature_flags { a: 1 }\n")
        .contains("error parsing feature flag \"a\": expected bool, got int64"));
    assert!(
        error("feature_flags: 5\n").contains("error parsing feature flags: unsupported type int64")
    );
}
