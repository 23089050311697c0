//! The HTTP monitoring port against the real binary: `/varz` has nats-server's keys (checked
//! against the fixture captured from nats-server 2.15.1), `/connz` lists live and closed
//! connections with its filters, `/subsz`, `/accountz`, `/healthz`, base paths and errors.

use crate::util::{self, start_server, Conn, SEC};
use std::io::{Read, Write};
use std::time::Duration;

/// Starts a server with the monitoring port on a random port and returns it and the port.
pub(crate) fn start_monitored(config: &str, extra: &[&str]) -> (util::Server, u16) {
    let mut args = vec!["-m", "-1"];
    args.extend_from_slice(extra);
    let s = start_server(config, &args);
    assert!(
        s.wait_log("Starting http monitor on", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    let log = s.log.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("Starting http monitor on"))
        .unwrap()
        .to_string();
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (s, port)
}

/// GET `path`; returns (status, content type, body).
pub(crate) fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    sock.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Go answers big bodies chunked.
    let body = if head.contains("Transfer-Encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    (status, ctype, body)
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, ctype, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(ctype, "application/json");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn varz_has_the_reference_keys_in_order() {
    let (s, port) = start_monitored("", &[]);
    let _c = Conn::setup(&s);
    let varz = get_json(port, "/varz");
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sysacct/tests/fixtures/http.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // nats-server's /varz keys, less what only auth or a config file adds.
    let skip = ["auth_required", "config_digest"];
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .unwrap()
            .keys()
            .filter(|k| !skip.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let want = keys(&fixture["varz"]);
    let got = keys(&varz);
    assert_eq!(got, want);
    assert_eq!(varz["port"], s.port);
    assert_eq!(varz["max_payload"], 1048576);
    assert_eq!(varz["ping_interval"], 120_000_000_000u64);
    assert_eq!(varz["connections"], 1);
    assert_eq!(varz["http_req_stats"]["/varz"], 1);
    assert_eq!(varz["system_account"], "$SYS");
    // The same feature flags as 2.15.1 (gannet has no JetStream for them to switch), and a
    // commit hash (the reference's own differs).
    assert_eq!(varz["feature_flags"], fixture["varz"]["feature_flags"]);
    assert!(varz["git_commit"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn connz_open_and_closed_with_filters() {
    let conf = "accounts { A: { users: [ {user: a, password: a} ] }, B: { users: [ {user: b, password: b} ] } }\n";
    let (s, port) = start_monitored(conf, &[]);
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"alpha\",\"lang\":\"raw\",\"version\":\"1\"}\r\nSUB foo 1\r\nSUB bar q 2\r\nPUB foo 2\r\nhi\r\n");
    a.sync();
    let mut b = Conn::setup(&s);
    b.send(b"CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"b\",\"name\":\"beta\"}\r\n");
    b.sync();
    let connz = get_json(port, "/connz?subs=1&auth=1");
    assert_eq!(connz["num_connections"], 2);
    assert_eq!(connz["total"], 2);
    let first = &connz["connections"][0];
    assert_eq!(first["name"], "alpha");
    assert_eq!(first["lang"], "raw");
    assert_eq!(first["kind"], "Client");
    assert_eq!(first["type"], "nats");
    assert_eq!(first["in_msgs"], 1);
    assert_eq!(first["out_msgs"], 1);
    assert_eq!(first["subscriptions"], 2);
    assert_eq!(first["authorized_user"], "a");
    assert_eq!(first["account"], "A");
    let mut subs: Vec<&str> = first["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    subs.sort();
    assert_eq!(subs, ["bar", "foo"]);
    let only_b = get_json(port, "/connz?acc=B");
    assert_eq!(only_b["num_connections"], 1);
    assert_eq!(only_b["connections"][0]["name"], "beta");
    let unknown = get_json(port, "/connz?acc=NOPE");
    assert_eq!(unknown["connections"], serde_json::Value::Null);
    let detail = get_json(port, "/connz?subs=detail");
    assert!(detail["connections"][0]["subscriptions_list_detail"].is_array());
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    let closed = get_json(port, "/connz?state=closed");
    assert_eq!(closed["num_connections"], 1);
    assert_eq!(closed["connections"][0]["name"], "alpha");
    assert_eq!(closed["connections"][0]["reason"], "Client Closed");
    assert!(closed["connections"][0]["stop"].is_string());
    let all = get_json(port, "/connz?state=all");
    assert_eq!(all["total"], 2);
    let paged = get_json(port, "/connz?state=all&limit=1&offset=1");
    assert_eq!(paged["num_connections"], 1);
    assert_eq!(paged["limit"], 1);
    assert_eq!(paged["offset"], 1);
    for (path, want) in [
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        ("/connz?state=bogus", "Error decoding state for bogus"),
        (
            "/connz?sort=stop",
            "sort by stop only valid on closed connections",
        ),
        (
            "/connz?auth=zz",
            "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"zz\": invalid syntax",
        ),
    ] {
        let (status, ctype, body) = get(port, path);
        assert_eq!((status, body.as_str()), (400, want), "{path}");
        assert_eq!(ctype, "text/plain; charset=utf-8");
    }
}

#[test]
fn subsz_accountz_healthz_and_paths() {
    let (s, port) = start_monitored(
        "accounts { A: { users: [ {user: a, password: a} ] } }\n",
        &[],
    );
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB foo.* 1\r\nSUB bar 2\r\n");
    a.sync();
    let subsz = get_json(port, "/subsz");
    // nats-server also counts its system account's internal subscriptions.
    assert!(subsz["num_subscriptions"].as_u64().unwrap() >= 2);
    assert_eq!(subsz["total"], 0);
    let listed = get_json(port, "/subsz?subs=1&test=foo.x");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["subscriptions_list"][0]["subject"], "foo.*");
    assert_eq!(listed["subscriptions_list"][0]["account"], "A");
    let accountz = get_json(port, "/accountz");
    // nats-server also lists its system account, in map order.
    let names: Vec<&str> = accountz["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(names.contains(&"$G") && names.contains(&"A"), "{names:?}");
    let (status, _, body) = get(port, "/accountz?acc=NOPE");
    assert_eq!(
        (status, body.as_str()),
        (400, "Account NOPE does not exist")
    );
    let (status, _, body) = get(port, "/healthz");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    assert_eq!(get(port, "/nope").0, 404);
    let (status, ctype, _) = get(port, "/");
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
}

#[test]
fn base_path_and_ports_file() {
    let dir = std::env::temp_dir().join(format!("gannet-mon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (s, port) = start_monitored(
        "http_base_path: \"mon/\"\n",
        &["--ports_file_dir", dir.to_str().unwrap()],
    );
    assert_eq!(get(port, "/mon/varz").0, 200);
    assert_eq!(get(port, "/mon").0, 200);
    assert_eq!(get(port, "/varz").0, 404);
    assert_eq!(get(port, "/mon/").0, 404);
    let ports = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(
        ports.contains(&format!("\"monitoring\":[\"http://127.0.0.1:{port}\"]")),
        "{ports}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prometheus_metrics() {
    if !util::is_gannet() {
        return; // nats-server has no /metrics; this is Gannet's own.
    }
    let (s, port) = start_monitored(
        "accounts { A: { users: [ {user: a, password: a} ] } }\n",
        &[],
    );
    let mut a = Conn::setup(&s);
    a.send(
        b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB x 1\r\nPUB x 1\r\nz\r\n",
    );
    a.sync();
    let mut bad = Conn::setup(&s);
    bad.send(b"CONNECT {\"user\":\"a\",\"pass\":\"no\"}\r\n");
    assert!(bad.is_closed(3 * SEC));
    std::thread::sleep(Duration::from_millis(200));
    let (status, ctype, body) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    for want in [
        "# TYPE gannet_connections gauge",
        "gannet_connections 1\n",
        "gannet_in_msgs_total 1\n",
        "gannet_out_msgs_total 1\n",
        "gannet_account_connections{account=\"A\"} 1\n",
        // One client subscription plus the three system-request entries every account has.
        "gannet_account_subscriptions{account=\"A\"} 4\n",
        "gannet_closed_connections_total{reason=\"Authentication Failure\"} 1\n",
    ] {
        assert!(body.contains(want), "missing {want:?} in:\n{body}");
    }
    // Accounts are configured and nobody is in $G: no series for it.
    assert!(!body.contains("account=\"$G\""), "{body}");
    // Without accounts, $G is where the clients are.
    let (_s, port) = start_monitored("", &[]);
    let (_, _, body) = get(port, "/metrics");
    assert!(
        body.contains("gannet_account_connections{account=\"$G\"} 0\n"),
        "{body}"
    );
}

#[test]
fn jsz_accstatz_healthz_parameters_and_expvars() {
    let (s, port) = start_monitored(
        "accounts { A: { users: [ {user: a, password: a} ] }, B: { users: [ {user: b, password: b} ] } }\n",
        &[],
    );
    let mut a = Conn::setup(&s);
    a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB foo 1\r\n");
    a.sync();

    // JetStream is not enabled: the disabled document, same keys as nats-server's.
    let jsz = get_json(port, "/jsz");
    assert_eq!(jsz["disabled"], true);
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sysacct/tests/fixtures/http.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&jsz), keys(&fixture["jsz"]));
    assert_eq!(
        get(port, "/jsz?leader-only=1"),
        (
            400,
            "text/plain; charset=utf-8".into(),
            "filtered response: not leader".into()
        )
    );

    // Only accounts with connections, unless unused=1.
    let statz = get_json(port, "/accstatz");
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc["account_statz"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["acc"].as_str().unwrap().to_string())
            .collect()
    };
    let accs = names(&statz);
    assert_eq!(accs, ["A"]);
    assert_eq!(statz["account_statz"][0]["conns"], 1);
    assert_eq!(
        keys(&statz["account_statz"][0]),
        keys(&fixture["accstatz"]["account_statz"][0])
    );
    let all = get_json(port, "/accstatz?unused=1");
    let accs = names(&all);
    assert!(
        accs.iter().any(|a| a == "B") && accs.iter().any(|a| a == "$G"),
        "{accs:?}"
    );

    // The JetStream parameters Kubernetes probes send, and their validation.
    for path in [
        "/healthz?js-enabled-only=1",
        "/healthz?js-server-only=1",
        "/healthz?account=A&stream=X",
    ] {
        assert_eq!(get(port, path).2, "{\"status\":\"ok\"}", "{path}");
    }
    let (status, ctype, body) = get(port, "/healthz?stream=X");
    assert_eq!((status, ctype.as_str()), (400, "application/json"));
    assert_eq!(
        body,
        r#"{"status":"error","error":"\"account\" must not be empty when checking stream health"}"#
    );

    let (status, ctype, body) = get(port, "/debug/vars");
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/json; charset=utf-8")
    );
    assert!(
        body.contains("\"cmdline\"") && body.contains("\"memstats\""),
        "{body}"
    );
    assert_eq!(get(port, "/expvarz").0, 404);
}
