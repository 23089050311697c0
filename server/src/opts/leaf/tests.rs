//! Unit tests of `opts::leaf`: every key of the `leafnodes` block and of its remotes, the
//! aliases and defaults, the errors and warnings (texts and positions observed with
//! nats-server 2.15.1), remote URLs and names, and the startup checks.

use super::*;
use crate::opts::test_support::{config, error, flags, opts, temp_dir, with_flags};
use crate::opts::Error;

/// A user seed and public keys nats-server 2.15.1 accepts.
const SEED: &str = "SUAKYRHVIOREXV7EUZTBHUHL7NUMHPMAS7QMDU3GTIUWEI5LDNOXD43IZY";
const USER_KEY: &str = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

/// The leaf options of config text that loads without warnings.
fn leaf(text: &str) -> LeafOpts {
    opts(text).leafnodes.expect("a leafnodes block")
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

fn url(raw: &str) -> LeafUrl {
    LeafUrl::parse(raw).unwrap()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn full_block() {
    let text = format!(
        r#"
leafnodes {{
  listen: "127.0.0.1:7422"
  advertise: "leaf.example.com:7422"
  no_advertise: true
  authorization {{ user: leaf, password: secret, account: A, timeout: 0.5 }}
  reconnect_interval: "3s"
  dial_timeout: "4s"
  compression: {{ mode: s2_auto, rtt_thresholds: ["10ms", "20ms"] }}
  isolate: true
  min_version: "2.10.0"
  remotes: [
    {{ url: "nats-leaf://u:p@hub1:7000", account: A, hub: true, deny_imports: "a.>",
      deny_export: ["b", "c.*"], compression: off, first_info_timeout: "2s",
      dial_timeout: "5s", disabled: true, dont_randomize: true,
      ignore_discovered_servers: true, isolate_leafnode_interest: true,
      request_isolation: true }}
    {{ urls: ["nats://hub2", "tls://[::1]:7001"], local: B, seed: {SEED} }}
  ]
}}
"#
    );
    let l = leaf(&text);
    let first = RemoteLeafOpts {
        urls: vec![url("nats-leaf://u:p@hub1:7000")],
        account: "A".into(),
        hub: true,
        deny_imports: strings(&["a.>"]),
        deny_exports: strings(&["b", "c.*"]),
        compression: "off".into(),
        first_info_timeout: Duration::from_secs(2),
        dial_timeout: Some(Duration::from_secs(5)),
        disabled: true,
        no_randomize: true,
        ignore_discovered_servers: true,
        isolate: true,
        request_isolation: true,
        ..RemoteLeafOpts::default()
    };
    let second = RemoteLeafOpts {
        urls: vec![url("nats://hub2"), url("tls://[::1]:7001")],
        account: "B".into(),
        seed: SEED.into(),
        ..RemoteLeafOpts::default()
    };
    let expected = LeafOpts {
        host: "127.0.0.1".into(),
        port: 7422,
        advertise: "leaf.example.com:7422".into(),
        no_advertise: true,
        user: "leaf".into(),
        password: "secret".into(),
        account: "A".into(),
        auth_timeout: Duration::from_millis(500),
        reconnect: Duration::from_secs(3),
        dial_timeout: Duration::from_secs(4),
        compression: "s2_auto".into(),
        compression_rtt_thresholds: vec![Duration::from_millis(10), Duration::from_millis(20)],
        isolate: true,
        min_version: "2.10.0".into(),
        remotes: vec![first, second],
        ..LeafOpts::default()
    };
    assert_eq!(l, expected);
    assert_eq!(l.compression_mode(), Ok("s2_auto"));
    assert_eq!(l.remotes[0].compression_mode(), Ok("off"));
    assert_eq!(l.remotes[1].compression_mode(), Ok("s2_auto"));
    assert_eq!(l.remotes[1].local_account(), "B");
    assert!(opts(&text).not_implemented.is_empty());
    assert!(with_flags(&text, &[]).is_ok());
}

#[test]
fn no_block_empty_block_and_alias() {
    assert_eq!(opts("port: 4222").leafnodes, None);
    let empty = leaf("leafnodes {}");
    assert_eq!(empty, LeafOpts::default());
    // Without a listener, nats-server leaves the host and auth timeout unset.
    assert_eq!((empty.host.as_str(), empty.port), ("", 0));
    assert_eq!(empty.auth_timeout, Duration::ZERO);
    assert_eq!(empty.reconnect, Duration::from_secs(1));
    assert_eq!(empty.dial_timeout, Duration::from_secs(1));
    assert_eq!(empty.compression_mode(), Ok("s2_auto"));
    let listener = leaf("leaf { port: 7422 }");
    assert_eq!((listener.host.as_str(), listener.port), ("0.0.0.0", 7422));
    assert_eq!(listener.auth_timeout, Duration::from_secs(2));
    assert_eq!(leaf("leaf { listen: 7423 }").port, 7423);
    assert_eq!(leaf("leafnodes { port: -1 }").port, -1);
    assert_eq!(leaf("leafnodes { host: h, net: n }").host, "n");
    // A second block adds to the first, as in nats-server.
    let both = leaf("leaf { port: 7422 }\nleafnodes { host: \"127.0.0.1\" }");
    assert_eq!((both.host.as_str(), both.port), ("127.0.0.1", 7422));
}

#[test]
fn listener_keys_and_aliases() {
    let l = leaf(
        "leafnodes { leafnode_advertise: \"h:1\", reconnect: \"2s\", isolate_leafnode_interest: true, minimum_version: \"2.8.0\" }",
    );
    assert_eq!(l.advertise, "h:1");
    assert_eq!(l.reconnect, Duration::from_secs(2));
    assert!(l.isolate);
    assert_eq!(l.min_version, "2.8.0");
    assert_eq!(
        leaf("leafnodes { reconnect_delay: \"5s\" }").reconnect,
        Duration::from_secs(5)
    );
    // A configured zero means the default.
    assert_eq!(
        leaf("leafnodes { reconnect: \"0s\" }").reconnect,
        Duration::from_secs(1)
    );
    assert_eq!(
        warnings("leafnodes { reconnect_delay: 2 }"),
        [":1:12: invalid use of field \"reconnect\": reconnect should be converted to a duration"]
    );
    let o = opts("leafnodes { write_deadline: \"3s\", write_timeout: close }");
    let l = o.leafnodes.as_ref().unwrap();
    assert_eq!(l.write_deadline, Some(Duration::from_secs(3)));
    assert_eq!(l.write_timeout, Some(WriteTimeout::Close));
    assert_eq!(
        o.not_implemented,
        ["leafnodes.write_deadline", "leafnodes.write_timeout"]
    );
}

#[test]
fn listener_errors() {
    assert_eq!(
        error("leafnodes: 1"),
        ":1:0: Expected map to define a leafnode, got int64"
    );
    assert_eq!(error("leaf { foo: 1 }"), ":1:7: unknown field \"foo\"");
    assert_eq!(
        error("leafnodes { port: \"x\" }"),
        ":1:12: interface conversion: interface {} is string, not int64"
    );
    assert_eq!(
        error("leafnodes { listen: \"x\" }"),
        ":1:12: could not parse address string \"x\""
    );
    assert_eq!(
        error("leafnodes { reconnect: \"x\" }"),
        ":1:12: error parsing reconnect: time: invalid duration \"x\""
    );
    assert_eq!(
        error("leafnodes { write_timeout: \"x\" }"),
        ":1:12: write_timeout must be 'default', 'close' or 'retry'"
    );
    assert_eq!(
        error("leafnodes { write_deadline: \"x\" }"),
        ":1:12: error parsing write_deadline: time: invalid duration \"x\""
    );
    assert_eq!(
        error("leafnodes { no_advertise: 1 }"),
        ":1:12: interface conversion: interface {} is int64, not bool"
    );
    // Variables defined in the block are not unknown fields.
    assert_eq!(leaf("leafnodes { p: 7422, port: $p }").port, 7422);
}

#[test]
fn authorization_single_user_nkey_and_users() {
    let l = leaf("leafnodes { port: 7422, authorization { username: u, pass: p, account: A, timeout: \"3s\" } }");
    assert_eq!(
        (l.user.as_str(), l.password.as_str(), l.account.as_str()),
        ("u", "p", "A")
    );
    assert_eq!(l.auth_timeout, Duration::from_secs(3));
    let l = leaf(&format!(
        "leafnodes {{ authorization {{ nkey: {USER_KEY} }} }}"
    ));
    assert_eq!(l.nkey, USER_KEY);
    let l = leaf(
        "leafnodes { authorization { users: [{user: a, password: b, account: A}, {username: c, pass: d}] } }",
    );
    assert_eq!(
        l.users,
        [
            LeafUser {
                user: "a".into(),
                password: "b".into(),
                account: "A".into(),
                proxy_required: false,
            },
            LeafUser {
                user: "c".into(),
                password: "d".into(),
                ..LeafUser::default()
            },
        ]
    );
    let o = opts("leafnodes { authorization { proxy_required: true, users: [{user: a, proxy_required: true}] } }");
    let l = o.leafnodes.as_ref().unwrap();
    assert!(l.proxy_required && l.users[0].proxy_required);
    assert_eq!(
        o.not_implemented,
        [
            "leafnodes.authorization.proxy_required",
            "leafnodes.authorization.users.proxy_required"
        ]
    );
    assert_eq!(
        warnings("leafnodes { authorization { timeout: 61 } }"),
        [
            ":1:28: invalid use of field \"timeout\": timeout of 61 (61.000000 seconds) is high, \
          consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' \
          instead of 1m, for example"
        ]
    );
}

#[test]
fn authorization_errors() {
    assert_eq!(
        error("leafnodes { authorization { user: a, users: [{user: c}] } }"),
        ":1:12: can not have a single user/pass and a users array"
    );
    assert_eq!(
        error(&format!(
            "leafnodes {{ authorization {{ nkey: {USER_KEY}, users: [{{user: c, password: d}}] }} }}"
        )),
        ":1:12: can not have a single nkey and a users array"
    );
    assert_eq!(
        error("leafnodes { authorization { users: [{user: c, password: d}, {user: c, password: e}] } }"),
        ":1:12: duplicate user \"c\" detected in leafnode authorization"
    );
    assert_eq!(
        error("leafnodes { authorization { nkey: bad } }"),
        ":1:28: Not a valid public nkey for leafnode authorization"
    );
    assert_eq!(
        error("leafnodes { authorization { foo: 1 } }"),
        ":1:28: unknown field \"foo\""
    );
    assert_eq!(
        error("leafnodes { authorization { users: [{user: c, foo: d}] } }"),
        ":1:46: unknown field \"foo\""
    );
    assert_eq!(
        error("leafnodes { authorization { users: 1 } }"),
        ":1:28: Expected users field to be an array, got 1"
    );
    assert_eq!(
        error("leafnodes { authorization { users: [{user: 1}] } }"),
        ":1:37: interface conversion: interface {} is int64, not string"
    );
    assert_eq!(
        error("leafnodes { authorization { timeout: \"x\" } }"),
        ":1:28: error parsing leafnode authorization config, 'timeout' time: invalid duration \"x\""
    );
    assert_eq!(
        error("leafnodes { authorization { timeout: true } }"),
        ":1:28: error parsing leafnode authorization config, 'timeout' wrong type"
    );
    // A value of the wrong type: nats-server's panic recovery, then a second failure.
    let nil = ":1:12: runtime error: invalid memory address or nil pointer dereference";
    assert_eq!(
        errors("leafnodes { authorization: 1 }"),
        [
            ":1:12: interface conversion: interface {} is int64, not map[string]interface {}",
            nil
        ]
    );
    assert_eq!(
        errors("leafnodes { authorization { user: 1 } }"),
        [
            ":1:28: interface conversion: interface {} is int64, not string",
            nil
        ]
    );
    assert_eq!(
        errors(
            "leafnodes { authorization { user: a, users: [{user: c, password: d}], users2: 1 } }"
        ),
        [
            ":1:70: unknown field \"users2\"",
            ":1:12: can not have a single user/pass and a users array"
        ]
    );
}

#[test]
fn auth_timeout_defaults_with_tls() {
    let dir = temp_dir("leaf-tls");
    let certs = crate::tls::config::test_certs::write(&dir);
    let files = format!(
        "cert_file: \"{}\", key_file: \"{}\"",
        certs.cert.display(),
        certs.key.display()
    );
    let l = leaf(&format!("leafnodes {{ port: 7422, tls {{ {files} }} }}"));
    assert!(l.tls.is_some());
    assert_eq!(l.auth_timeout, Duration::from_secs(3));
    let l = leaf(&format!(
        "leafnodes {{ port: 7422, tls {{ {files}, timeout: 5 }} }}"
    ));
    assert_eq!(l.auth_timeout, Duration::from_secs(6));
    let l = leaf(&format!(
        "leafnodes {{ port: 7422, authorization {{ timeout: 1 }}, tls {{ {files} }} }}"
    ));
    assert_eq!(l.auth_timeout, Duration::from_secs(1));
    // A remote's TLS block is the client side; its files are loaded too.
    let l = leaf(&format!(
        "leafnodes {{ remotes: [{{ url: \"tls://h:1\", tls {{ {files}, handshake_first: true }} }}] }}"
    ));
    assert!(l.remotes[0].tls.as_ref().is_some_and(|t| t.handshake_first));
    assert_eq!(
        error("leafnodes { tls { cert_file: \"/nonexist\", key_file: \"/x\" } }"),
        ":1:12: error parsing X509 certificate/key pair: open /nonexist: no such file or directory"
    );
}

#[test]
fn remote_keys_and_aliases() {
    let text = format!(
        "leafnodes {{ remotes: [ {{ url: \"nats://h:1\", url: \"nats://h:2\", nkey: {SEED}, \
         deny_import: [\"a\", \"b.>\"], deny_exports: \"c\", isolate: true, \
         no_randomize: true, compression: true }} ] }}"
    );
    let r = &leaf(&text).remotes[0];
    // `url` adds to the URLs and `urls` replaces them; the last spelling of a key wins.
    assert_eq!(r.urls, [url("nats://h:2")]);
    assert_eq!(r.seed, SEED);
    assert_eq!(r.deny_imports, ["a", "b.>"]);
    assert_eq!(r.deny_exports, ["c"]);
    assert!(r.isolate && r.no_randomize);
    assert_eq!(r.compression, "s2_auto");
    let r = &leaf("leafnodes { remotes: [ { urls: [\"nats://a:1\"], url: \"nats://b:1\" } ] }")
        .remotes[0];
    assert_eq!(r.urls, [url("nats://a:1"), url("nats://b:1")]);
    let r = &leaf("leafnodes { remotes: [ { url: \"nats://a:1\", dial_timeout: \"0s\", first_info_timeout: \"0s\" } ] }")
        .remotes[0];
    assert_eq!(
        (r.dial_timeout, r.first_info_timeout),
        (None, Duration::from_secs(1))
    );
    assert_eq!(r.local_account(), "$G");
    assert_eq!(
        warnings("leafnodes { remotes: [ {url: \"nats://127.0.0.1:27999\", First_Info_Timeout: 2} ] }"),
        [":1:55: invalid use of field \"First_Info_Timeout\": First_Info_Timeout should be converted to a duration"]
    );
}

#[test]
fn remote_credentials_paths() {
    let home = std::env::var("HOME").unwrap_or_default();
    let creds = |path: &str| {
        let text =
            format!("leafnodes {{ remotes: [ {{ url: \"nats://h:1\", creds: \"{path}\" }} ] }}");
        leaf(&text).remotes[0].credentials.clone()
    };
    assert_eq!(creds("/etc/x.creds"), "/etc/x.creds");
    if !home.is_empty() {
        assert_eq!(
            creds("~/x/../y.creds"),
            clean_path(&format!("{home}/y.creds"))
        );
        assert_eq!(creds("$HOME/a${HOME}b$"), format!("{home}/a{home}b$"));
    }
    let r =
        &leaf("leafnodes { remotes: [ { url: \"nats://h:1\", credentials: \"/c\", local: L } ] }")
            .remotes[0];
    assert_eq!((r.credentials.as_str(), r.account.as_str()), ("/c", "L"));
}

#[test]
fn remote_errors() {
    assert_eq!(
        error("leafnodes { remotes: 1 }"),
        ":1:12: Expected remotes field to be an array, got int64"
    );
    assert_eq!(
        error("leafnodes { remotes: [ \"x\" ] }"),
        ":1:24: Expected remote leafnode entry to be a map/struct, got x"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: 1} ] }"),
        ":1:24: Expected remote leafnode url to be an array or string, got 1"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:x\"} ] }"),
        ":1:24: error parsing leafnode url [\"nats://h:x\"]"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {urls: [\"nats://h:1\", \":bad\"]} ] }"),
        ":1:46: error parsing leafnode url [\":bad\"]"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", foo: 1} ] }"),
        ":1:43: unknown field \"foo\""
    );
    assert_eq!(
        error(&format!(
            "leafnodes {{ remotes: [ {{url: \"nats://h:1\", nkey: {USER_KEY}}} ] }}"
        )),
        format!(":1:43: Remote leafnode nkey is not a valid seed: \"{USER_KEY}\"")
    );
    let both = "Remote leafnode can not have both creds and nkey defined";
    assert_eq!(
        error(&format!(
            "leafnodes {{ remotes: [ {{url: \"nats://h:1\", nkey: {SEED}, creds: \"/tmp/x\"}} ] }}"
        )),
        format!(":1:109: {both}")
    );
    assert_eq!(
        error(&format!(
            "leafnodes {{ remotes: [ {{url: \"nats://h:1\", creds: \"/tmp/x\", nkey: {SEED}}} ] }}"
        )),
        format!(":1:60: {both}")
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", deny_imports: 1} ] }"),
        ":1:43: Expected subject permissions to be a subject, or array of subjects, got int64"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", deny_exports: \"a b\"} ] }"),
        ":1:43: subject \"a b\" is not a valid subject"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", deny_exports: \"a..b\"} ] }"),
        ":1:43: subject \"a..b\" is not a valid subject"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"ws://h:1\", jetstream_cluster_migrate: 1} ] }"),
        "Expected boolean or map for jetstream_cluster_migrate, got int64"
    );
}

#[test]
fn duplicate_remotes() {
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\"}, {urls: [\"nats://h:1\"]} ] }"),
        ":1:45: duplicate remote urls=[\"nats://h:1\"], account=\"$G\""
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://u:p@h:1\", account: A}, {urls: [\"nats://u:p@h:1\"], account: A} ] }"),
        ":1:87: duplicate remote urls=[\"nats://u:xxxxx@h:1\"], account=\"A\""
    );
    // No account and `$G` are one account.
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\"}, {urls: [\"nats://h:1\"], account: \"$G\"} ] }"),
        ":1:67: duplicate remote urls=[\"nats://h:1\"], account=\"$G\""
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", credentials: \"/tmp/x.creds\"}, {urls: [\"nats://h:1\"], creds: \"/tmp/x.creds\"} ] }"),
        ":1:96: duplicate remote urls=[\"nats://h:1\"], account=\"$G\", credentials=\"/tmp/x.creds\""
    );
    assert_eq!(
        error(&format!(
            "leafnodes {{ remotes: [ {{url: \"nats://h:1\", seed: {SEED}}}, {{urls: [\"nats://h:1\"], nkey: {SEED}}} ] }}"
        )),
        ":1:133: duplicate remote urls=[\"nats://h:1\"], account=\"$G\", nkey=\"[REDACTED]\""
    );
    assert_eq!(
        error(
            "leafnodes { remotes: [ {url: \"NATS://u:p@[::1]\"}, {url: \"NATS://u:p@[::1]\"} ] }"
        ),
        ":1:51: duplicate remote urls=[\"nats://u:xxxxx@[::1]\"], account=\"$G\""
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://u@h\", account: A}, {url: \"nats://u@h\", account: A} ] }"),
        ":1:76: duplicate remote urls=[\"nats://u@h\"], account=\"A\""
    );
    assert_eq!(
        error("leafnodes { remotes: [ {urls: []}, {} ] }"),
        ":1:37: duplicate remote urls=[], account=\"$G\""
    );
    // With the default port, at startup.
    assert_eq!(
        refused("leafnodes { remotes: [ {url: \"nats://h\"}, {urls: [\"nats://h:7422\"]} ] }"),
        "duplicate remote urls=[\"nats://h:7422\"], account=\"$G\""
    );
    // Go joins the default port to a bracketed host: these are two remotes.
    assert!(with_flags(
        "leafnodes { remotes: [ {url: \"nats://u:p@[::1]\"}, {url: \"nats://u:p@[::1]:7422\"} ] }",
        &[]
    )
    .is_ok());
}

#[test]
fn remote_urls() {
    let u = url(" nats-leaf://us%40er:p%3Ass@host.example.com:7000 ");
    assert_eq!(
        u,
        LeafUrl {
            raw: "nats-leaf://us%40er:p%3Ass@host.example.com:7000".into(),
            scheme: "nats-leaf".into(),
            user: "us@er".into(),
            password: "p:ss".into(),
            has_password: true,
            host: "host.example.com".into(),
            port: 7000,
            path: String::new(),
        }
    );
    assert_eq!(u.host_port(), "host.example.com:7000");
    assert_eq!(u.to_string(), "nats-leaf://host.example.com:7000");
    let token = url("nats://tok@h");
    assert_eq!((token.user.as_str(), token.has_password), ("tok", false));
    assert_eq!(
        (token.port, token.to_string().as_str()),
        (7422, "nats://h:7422")
    );
    let v6 = url("TLS://[::1]");
    assert_eq!(
        (v6.scheme.as_str(), v6.host.as_str(), v6.port),
        ("tls", "::1", 7422)
    );
    assert_eq!(v6.host_port(), "[::1]:7422");
    assert_eq!(url("nats://h:99999").port, 0);
    assert!(url("wss://h:1").is_websocket() && url("ws://h").is_websocket());
    assert!(!url("nats://h").is_websocket());
    // Any scheme, as nats-server: it does not check.
    assert_eq!(url("foo://h:1").scheme, "foo");
    assert_eq!(
        LeafUrl::parse("nats://h:x"),
        Err("error parsing leafnode url [\"nats://h:x\"]".to_string())
    );
    // Names: passwords and seeds hidden in the safe one, the default port added.
    let r = RemoteLeafOpts {
        urls: vec![url("nats://u:p@h"), url("nats://h2:1/path?q")],
        seed: SEED.into(),
        ..RemoteLeafOpts::default()
    };
    assert_eq!(
        r.safe_name(),
        "urls=[\"nats://u:xxxxx@h:7422\" \"nats://h2:1/path?q\"], account=\"$G\", nkey=\"[REDACTED]\""
    );
    assert_eq!(
        r.name(),
        format!(
            "urls=[\"nats://u:p@h:7422\" \"nats://h2:1/path?q\"], account=\"$G\", nkey=\"{SEED}\""
        )
    );
}

#[test]
fn url_lists_and_websocket() {
    let text = "leafnodes { remotes: [ {urls: [\"nats://h:1\", \"nats://h:1\", \"foo://h:2\", \"ws://h:3\"]} ] }";
    let (mut o, warnings) = config(text).unwrap();
    assert_eq!(
        warnings,
        [":1:46: invalid use of field \"nats://h:1\": Duplicate leafnode entry detected"]
    );
    assert_eq!(o.leafnodes.as_ref().unwrap().remotes[0].urls.len(), 3);
    assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
    assert_eq!(
        o.apply_flags(&flags(&[])).unwrap_err().to_string(),
        "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: [\"nats://h:1\" \"foo://h:2\" \"ws://h:3\"]"
    );
    assert_eq!(
        refused("leafnodes { remotes: [ {urls: [\"ws://u:p@h\", \"nats://h:2\"]} ] }"),
        "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: [\"ws://u:xxxxx@h:7422\" \"nats://h:2\"]"
    );
    let o = with_flags(
        "leafnodes { remotes: [ {urls: [\"ws://h:1\", \"wss://h:2\"], ws_compression: true, websocket_no_masking: true} ] }",
        &[],
    )
    .unwrap();
    let r = &o.leafnodes.as_ref().unwrap().remotes[0];
    assert!(r.ws_compression && r.ws_no_masking && r.is_websocket());
    assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
}

#[test]
fn jetstream_cluster_migrate_and_proxy_are_not_implemented() {
    let o = opts(
        "leafnodes { remotes: [ {url: \"ws://h:1\", js_cluster_migrate: {leader_migrate_delay: \"5s\", other: 1}, \
         proxy: {url: \"http://p:3128\", username: a, password: b, timeout: \"2s\"}} ] }",
    );
    let r = &o.leafnodes.as_ref().unwrap().remotes[0];
    assert!(r.jetstream_cluster_migrate);
    assert_eq!(r.jetstream_cluster_migrate_delay, Duration::from_secs(5));
    assert_eq!(
        r.proxy,
        LeafProxy {
            url: "http://p:3128".into(),
            username: "a".into(),
            password: "b".into(),
            timeout: Duration::from_secs(2),
            tls: None,
        }
    );
    assert_eq!(
        o.not_implemented,
        [
            "leafnodes.remotes.jetstream_cluster_migrate",
            "leafnodes.remotes.proxy",
        ]
    );
    let r =
        &leaf("leafnodes { remotes: [ {url: \"ws://h:1\", jetstream_cluster_migrate: true} ] }")
            .remotes[0];
    assert!(r.jetstream_cluster_migrate);
}

#[test]
fn proxy_errors() {
    let proxy = |settings: &str| {
        error(&format!(
            "leafnodes {{ remotes: [ {{url: \"ws://h:1\", proxy: {settings}}} ] }}"
        ))
    };
    assert_eq!(
        proxy("{url: \"ftp://p:1\"}"),
        ":1:41: proxy URL scheme must be http or https, got: ftp"
    );
    assert_eq!(
        proxy("{url: \"http://p:1\", username: a}"),
        ":1:41: proxy username and password must both be specified or both be empty"
    );
    assert_eq!(
        proxy("{url: \"http://p:1\", foo: a}"),
        ":1:68: unknown field \"foo\""
    );
    assert_eq!(proxy("1"), ":1:41: Expected proxy to be a map, got int64");
    assert_eq!(
        proxy("{url: \"http://p:1\", timeout: \"-1s\"}"),
        ":1:41: proxy timeout must be >= 0"
    );
    assert_eq!(
        proxy("{url: \"http://p:1\", timeout: \"x\"}"),
        ":1:68: error parsing proxy timeout: time: invalid duration \"x\""
    );
    assert_eq!(
        proxy("{url: \"http://\"}"),
        ":1:41: proxy URL must specify a host"
    );
    assert_eq!(
        proxy("{url: \":x\"}"),
        ":1:41: invalid proxy URL: parse \":x\": missing protocol scheme"
    );
    assert_eq!(
        proxy("{url: \"http://p:1\", tls: {}}"),
        ":1:41: proxy TLS configuration requires an https proxy URL, got: http"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"nats://h:1\", proxy: {username: a}} ] }"),
        ":1:43: proxy URL must be specified when other proxy options are set"
    );
    assert_eq!(
        error("leafnodes { remotes: [ {url: \"wss://h:1\", proxy: {url: \"https://p:1\"}} ] }"),
        ":1:42: proxy is configured but remote URL wss://h:1 requires TLS and no TLS configuration \
         is provided. When using proxy with TLS endpoints, ensure TLS is properly configured for \
         the leafnode remote"
    );
    assert_eq!(
        warnings("leafnodes { remotes: [ {url: \"ws://h:1\", proxy: {url: \"http://p:1\", timeout: 5}} ] }"),
        [":1:68: invalid use of field \"proxy timeout\": proxy timeout should be converted to a duration"]
    );
}

#[test]
fn compression() {
    let mode = |text: &str| leaf(text).compression;
    assert_eq!(mode("leafnodes { compression: true }"), "s2_auto");
    assert_eq!(mode("leafnodes { compression: false }"), "off");
    assert_eq!(mode("leafnodes { compression: s2_best }"), "s2_best");
    let normalized = |text: &str| leaf(text).compression_mode();
    assert_eq!(
        normalized("leafnodes { compression: \"On\" }"),
        Ok("s2_auto")
    );
    assert_eq!(
        normalized("leafnodes { compression: enabled }"),
        Ok("s2_auto")
    );
    assert_eq!(normalized("leafnodes { compression: fast }"), Ok("s2_fast"));
    assert_eq!(normalized("leafnodes { compression: disabled }"), Ok("off"));
    assert_eq!(
        normalized("leafnodes { compression: accept }"),
        Ok("accept")
    );
    assert_eq!(
        normalized("leafnodes { compression: not_supported }"),
        Ok("not supported")
    );
    assert_eq!(
        error("leafnodes { compression: 1 }"),
        ":1:12: field \"compression\" should be a boolean or a structure, got int64"
    );
    assert_eq!(
        error("leafnodes { compression: {mode: s2_fast, foo: 1} }"),
        ":1:41: unknown field \"foo\""
    );
    // An unquoted `on` is a boolean.
    assert_eq!(
        error("leafnodes { compression: {mode: on} }"),
        ":1:26: interface conversion: interface {} is bool, not string"
    );
    // The mode is checked at startup, with or without listener, and for remotes too.
    assert_eq!(leaf("leafnodes { compression: bad }").compression, "bad");
    let unsupported = "unsupported compression mode \"bad\"";
    assert_eq!(refused("leafnodes { compression: \"bad\" }"), unsupported);
    assert_eq!(
        refused("leafnodes { port: 7422, compression: \"bad\" }"),
        unsupported
    );
    assert_eq!(
        refused("leafnodes { remotes: [ {url: \"nats://h:1\", compression: \"bad\"} ] }"),
        unsupported
    );
    assert_eq!(
        refused("leafnodes { compression: {mode: s2_auto, rtt: [\"10ms\", \"5ms\"]} }"),
        "RTT threshold values [10ms 5ms] should be in ascending order"
    );
    // `on` is `s2_auto` for leaf nodes, so its thresholds are checked.
    assert_eq!(
        refused("leafnodes { compression: {mode: \"on\", rtt: [\"0s\"]} }"),
        "compression mode \"on\" requires at least one RTT threshold"
    );
    // How nats-server's reload logs it.
    assert_eq!(
        leaf("leafnodes { port: 7422 }").compression_text(),
        "{s2_auto [10ms 50ms 100ms]}"
    );
    assert_eq!(leaf("leafnodes {}").compression_text(), "{ []}");
    assert_eq!(
        leaf("leafnodes { compression: {mode: auto, rtt: [\"5ms\", \"0s\", \"20ms\", \"0s\"]} }")
            .compression_text(),
        "{s2_auto [5ms 0s 20ms]}"
    );
    assert_eq!(
        leaf("leafnodes { remotes: [ {url: \"nats://h:1\", compression: off} ] }").remotes[0]
            .compression_text(),
        "{off []}"
    );
}

#[test]
fn min_version() {
    let invalid = |v: &str| format!(":1:12: invalid leafnode's minimum version: {v}");
    assert_eq!(
        error("leafnodes { min_version: \"2.7.9\" }"),
        ":1:12: the minimum version should be at least 2.8.0"
    );
    assert_eq!(
        error("leafnodes { min_version: \"bad\" }"),
        invalid("invalid semver")
    );
    assert_eq!(
        error("leafnodes { min_version: \"99999999999999999999.0.0\" }"),
        invalid("strconv.Atoi: parsing \"99999999999999999999\": value out of range")
    );
    assert_eq!(
        error("leafnodes { minimum_version: 1 }"),
        ":1:12: interface conversion: interface {} is int64, not string"
    );
    for ok in ["2.8.0", "2.10.3-beta.1+build.5", "3.0.0-rc-1", "2.8.0+x"] {
        assert_eq!(check_min_version(ok), Ok(()), "{ok}");
    }
    for bad in [
        "2.8",
        "02.8.0",
        "2.8.0-",
        "2.8.0+",
        "2.8.0-01",
        "2.8.0-a..b",
        "v2.8.0",
        "2.8.0 ",
    ] {
        assert_eq!(
            semver_components(bad),
            Err("invalid semver".to_string()),
            "{bad}"
        );
    }
    assert_eq!(semver_components("1.2.3-0a.0"), Ok((1, 2, 3)));
}

#[test]
fn startup_checks() {
    // `validate` sees what the config parse already refuses, for options built in code.
    let mut l = LeafOpts {
        users: vec![LeafUser {
            user: "a".into(),
            ..LeafUser::default()
        }],
        user: "b".into(),
        ..LeafOpts::default()
    };
    assert_eq!(
        l.validate(false),
        Err("can not have a single user/pass and a users array".into())
    );
    l.user.clear();
    assert_eq!(l.validate(false), Ok(()));
    assert_eq!(
        l.validate(true),
        Err("operator mode does not allow specifying users in leafnode config".into())
    );
    let remote = RemoteLeafOpts {
        urls: vec![url("nats://h:1")],
        deny_imports: strings(&["a b"]),
        ..RemoteLeafOpts::default()
    };
    let l = LeafOpts {
        remotes: vec![remote],
        ..LeafOpts::default()
    };
    assert_eq!(
        l.validate(false),
        Err("invalid deny_imports for remote urls=[\"nats://h:1\"], account=\"$G\": subject \"a b\" is not a valid subject".into())
    );
    let account = nkeys::KeyPair::new_account().public_key();
    let remote = |account: &str| RemoteLeafOpts {
        urls: vec![url("nats://h:1")],
        account: account.into(),
        ..RemoteLeafOpts::default()
    };
    let l = LeafOpts {
        remotes: vec![remote("A")],
        ..LeafOpts::default()
    };
    assert!(l.validate(true).unwrap_err().starts_with(
        "operator mode requires account nkeys in remotes. Please add an `account` key"
    ));
    let l = LeafOpts {
        remotes: vec![remote(&account)],
        port: 7422,
        account: "A".into(),
        ..LeafOpts::default()
    };
    assert_eq!(
        l.validate(true),
        Err("operator mode and non account nkeys are incompatible".into())
    );
    let l = LeafOpts {
        account: account.clone(),
        ..l
    };
    assert_eq!(l.validate(true), Ok(()));
}

#[test]
fn local_accounts() {
    let l = leaf(
        "leafnodes { authorization { users: [{user: a, account: UA}, {user: b}] }, \
         remotes: [ {url: \"nats://h:1\", account: R}, {url: \"nats://h:2\"} ] }",
    );
    assert_eq!(
        l.local_accounts(),
        [
            ("", "authorization"),
            ("UA", "authorization"),
            ("R", "remote"),
            ("$G", "remote")
        ]
    );
    let known = ["", "$G", "UA"];
    assert_eq!(
        l.check_local_accounts(|a| known.contains(&a)),
        Err("cannot find local account \"R\" specified in leafnode remote".into())
    );
    assert_eq!(l.check_local_accounts(|_| true), Ok(()));
}

#[test]
fn go_helpers() {
    std::env::set_var("GANNET_LEAF_TEST_VAR", "v");
    assert_eq!(expand_env("a$GANNET_LEAF_TEST_VAR/b"), "av/b");
    assert_eq!(expand_env("${GANNET_LEAF_TEST_VAR}x"), "vx");
    assert_eq!(expand_env("$"), "$");
    assert_eq!(expand_env("a$/b"), "a$/b");
    assert_eq!(expand_env("a${}b"), "ab");
    assert_eq!(expand_env("a${b"), "ab");
    assert_eq!(expand_env("$GANNET_LEAF_TEST_UNSET_VAR."), ".");
    assert_eq!(clean_path("/a/./b/../c//d/"), "/a/c/d");
    assert_eq!(clean_path("/../a"), "/a");
    assert_eq!(clean_path("../a/.."), "..");
    assert_eq!(clean_path(""), ".");
    assert_eq!(escape_userinfo("a b@c:d$"), "a%20b%40c%3Ad$");
}
