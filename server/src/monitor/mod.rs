//! The HTTP monitoring port (`-m`, `http_port`, `http: host:port`, `http_base_path`): `/varz`,
//! `/connz`, `/subsz`, `/accountz`, `/healthz` and the empty cluster documents, built from
//! worker snapshots (spec `sys.md` §4). The same builders answer `$SYS.REQ.SERVER.*`
//! (`sys::requests`).

pub mod http;
pub mod status;

use crate::gofmt::go_quote;
use crate::log;
use crate::msgs::snapshot::{ConnSnapshot, SnapshotRequest};
use crate::shared::Shared;
use http::{Request, Response};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use sysacct::monitor::{uptime_text, ConnInfo, Connz, SubDetail, Subsz, Varz};
use sysacct::time::rfc3339_nano;

/// Connections listed per page by default (nats-server: 1024).
const CONNZ_LIMIT_DEFAULT: i64 = 1024;

/// Paths counted in `http_req_stats` (nats-server's list).
const COUNTED_PATHS: &[&str] = &[
    "/",
    "/varz",
    "/connz",
    "/routez",
    "/gatewayz",
    "/leafz",
    "/subsz",
    "/accountz",
    "/accstatz",
    "/jsz",
    "/healthz",
];

/// Binds the monitoring listener and serves it on its own thread. Returns the bound address.
///
/// # Errors
/// The address can't be bound.
pub fn start(
    shared: Arc<Shared>,
    host: &str,
    port: i64,
    base_path: &str,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<SocketAddr> {
    let port = if port < 0 { 0 } else { port as u16 };
    let listener = TcpListener::bind((host, port))?;
    let addr = listener.local_addr()?;
    let base = normalize_base(base_path);
    let scheme = if tls.is_some() { "https" } else { "http" };
    log::notice(&format!("Starting {scheme} monitor on {}", addr));
    let handler = Arc::new(move |req: &Request| route(&shared, &base, req));
    std::thread::Builder::new()
        .name("gannet-monitor".into())
        .spawn(move || http::serve(listener, tls, handler))?;
    Ok(addr)
}

/// `http_base_path` as nats-server cleans it: a leading `/`, no trailing one (`mon/` -> `/mon`).
fn normalize_base(base: &str) -> String {
    let trimmed = base.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}")
    }
}

fn route(shared: &Arc<Shared>, base: &str, req: &Request) -> Response {
    let path = if base == "/" {
        req.path.as_str()
    } else if req.path == base {
        "/"
    } else {
        match req.path.strip_prefix(base) {
            // `<base>/` is not the index page (Go's ServeMux: only the exact base is).
            Some(rest) if rest.starts_with('/') && rest != "/" => rest,
            _ => return Response::not_found(),
        }
    };
    let path = if path == "/subscriptionsz" {
        "/subsz"
    } else {
        path
    };
    if COUNTED_PATHS.contains(&path) {
        shared.count_http_request(path);
    }
    let json = |v: serde_json::Result<Vec<u8>>| Response::json(v.unwrap_or_default());
    match path {
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            cors: false,
            body: index_page(base),
        },
        "/dashboard" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            cors: false,
            body: DASHBOARD.as_bytes().to_vec(),
        },
        "/varz" => json(serde_json::to_vec_pretty(&varz(shared))),
        "/connz" => match connz(shared, req) {
            Ok(doc) => json(serde_json::to_vec_pretty(&doc)),
            Err(e) => Response::text(400, e),
        },
        "/subsz" => json(serde_json::to_vec_pretty(&subsz(shared, req))),
        "/accountz" => match accountz(shared, req) {
            Ok(doc) => json(serde_json::to_vec_pretty(&doc)),
            Err(e) => Response::text(400, e),
        },
        "/healthz" => {
            // Over HTTP the code is the response status, not part of the body.
            let (code, mut status) = status::healthz(req);
            status.status_code = None;
            let mut response = json(serde_json::to_vec(&status));
            response.status = code;
            response
        }
        "/jsz" => match status::jsz(shared, req) {
            Ok(doc) => json(serde_json::to_vec_pretty(&doc)),
            Err(e) => Response::text(400, e),
        },
        "/accstatz" => {
            let unused = parse_bool("unused", req.param("unused")).unwrap_or(false);
            json(serde_json::to_vec_pretty(&status::accstatz(
                shared, None, unused,
            )))
        }
        "/debug/vars" => Response {
            content_type: "application/json; charset=utf-8",
            cors: false,
            ..json(serde_json::to_vec(&status::expvarz()))
        },
        "/routez" => {
            let subs = parse_bool("subs", req.param("subs")).unwrap_or(false);
            json(serde_json::to_vec_pretty(&status::routez(shared, subs)))
        }
        "/gatewayz" => {
            let accs = parse_bool("accs", req.param("accs")).unwrap_or(false);
            json(serde_json::to_vec_pretty(&status::gatewayz(shared, accs)))
        }
        "/leafz" => {
            let subs = parse_bool("subs", req.param("subs")).unwrap_or(false);
            let acc = req.param("acc").filter(|a| !a.is_empty());
            json(serde_json::to_vec_pretty(&status::leafz(shared, subs, acc)))
        }
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            cors: false,
            body: metrics(shared).into_bytes(),
        },
        _ => Response::not_found(),
    }
}

/// The live dashboard (gannet's own): one self-contained page that reads this port's
/// endpoints every two seconds, and the `$SYS` events over the WebSocket port when asked.
const DASHBOARD: &str = include_str!("dashboard.html");

fn index_page(base: &str) -> Vec<u8> {
    let prefix = if base == "/" {
        String::new()
    } else {
        base.to_string()
    };
    let links: String = [
        "dashboard",
        "varz",
        "connz",
        "routez",
        "gatewayz",
        "leafz",
        "subsz",
        "accountz",
        "healthz",
    ]
    .iter()
    .map(|p| format!("    <a href=\"{prefix}/{p}\">{p}</a><br/>\n"))
    .collect();
    format!(
        "<html lang=\"en\">\n  <head><title>gannet</title></head>\n  <body>\n    <h1>Gannet {} (nats-server {} compatible)</h1>\n{links}  </body>\n</html>\n",
        crate::info::GANNET_VERSION,
        crate::info::NATS_VERSION
    )
    .into_bytes()
}

/// Resident set size in bytes, from /proc.
pub fn rss_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time this process used, in clock ticks (utime + stime of /proc/self/stat).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name and state.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process's CPU use in percent of one core over the last second or so, with one decimal
/// (nats-server `pse`: a sample per second, `ticks * 1000 / 100 / seconds / 10`). Sampled when
/// asked rather than by a timer: a call less than a second after the last sample gives that
/// sample's value again.
pub fn cpu_percent() -> f64 {
    /// Clock ticks per second (nats-server assumes the same).
    const TICKS_PER_SEC: f64 = 100.0;
    static LAST: parking_lot::Mutex<Option<(u64, std::time::Instant, f64)>> =
        parking_lot::Mutex::new(None);
    let Some(ticks) = cpu_ticks() else {
        return 0.0;
    };
    let now = std::time::Instant::now();
    let mut last = LAST.lock();
    let percent = match *last {
        Some((_, at, pct)) if now.duration_since(at) < Duration::from_secs(1) => return pct,
        Some((t0, at, _)) => {
            let secs = now.duration_since(at).as_secs_f64();
            let used = ticks.saturating_sub(t0) as f64 / TICKS_PER_SEC;
            (used / secs * 1000.0).round() / 10.0
        }
        None => 0.0,
    };
    *last = Some((ticks, now, percent));
    percent
}

/// `/varz`.
pub fn varz(shared: &Arc<Shared>) -> Varz {
    let (rt, _) = shared.runtime();
    let snaps = shared.gather(SnapshotRequest::default());
    let opts = &rt.opts;
    let now = SystemTime::now();
    let started = shared.started();
    let mut v = Varz {
        server_id: rt.info.server_id.clone(),
        server_name: rt.info.server_name.clone(),
        version: rt.info.version.clone(),
        proto: 1,
        git_commit: rt.info.git_commit.clone(),
        go: rt.info.go.clone(),
        host: rt.info.host.clone(),
        port: rt.info.port as i64,
        auth_required: rt.info.auth_required,
        tls_required: rt.info.tls_required,
        tls_verify: rt.info.tls_verify,
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions,
        ping_interval: opts.ping_interval.as_nanos() as i64,
        ping_max: opts.ping_max,
        http_host: opts.http_host.clone(),
        http_port: opts.http_port,
        http_base_path: opts.http_base_path.clone(),
        https_port: opts.https_port,
        auth_timeout: opts.auth_timeout.as_secs_f64(),
        max_control_line: opts.max_control_line as i64,
        max_payload: opts.max_payload as i64,
        max_pending: opts.max_pending,
        tls_timeout: opts
            .tls
            .as_ref()
            .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout())
            .as_secs_f64(),
        write_deadline: opts.write_deadline.as_nanos() as i64,
        start: rfc3339_nano(started),
        now: rfc3339_nano(now),
        uptime: uptime_text(now.duration_since(started).unwrap_or_default()),
        mem: rss_bytes(),
        cpu: cpu_percent(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as i64,
        gomaxprocs: shared.worker_count() as i64,
        connections: shared.num_clients() as i64,
        total_connections: shared.total_connections(),
        subscriptions: shared
            .accounts
            .all()
            .iter()
            .map(|a| a.sublist.count() as u32)
            .sum(),
        http_req_stats: shared.http_request_stats(),
        config_load_time: rfc3339_nano(shared.config_load_time()),
        system_account: shared.system_account_name().unwrap_or_default().to_string(),
        tags: opts.server_tags.clone(),
        metadata: opts.server_metadata.clone(),
        feature_flags: opts.feature_flags(),
        config_digest: if opts.config_digest.is_empty() {
            String::new()
        } else {
            format!("sha256:{}", opts.config_digest)
        },
        ..Varz::default()
    };
    for s in &snaps {
        v.in_msgs += s.counters.in_msgs as i64;
        v.in_bytes += s.counters.in_bytes as i64;
        v.out_msgs += s.counters.out_msgs as i64;
        v.out_bytes += s.counters.out_bytes as i64;
        v.slow_consumers += s.counters.slow_consumers as i64;
        v.stale_connections += s.counters.stale_connections as i64;
        v.stalled_clients += s.counters.stalled_clients as i64;
    }
    v.routes = snaps.iter().map(|s| s.routes.len() as i64).sum();
    v.leafnodes = snaps.iter().map(|s| s.leafs.len() as i64).sum();
    v.leaf = leaf_varz(&rt);
    v.websocket = websocket_varz(&rt);
    v.gateway = gateway_varz(shared, &rt);
    v.remotes = shared.cluster().map_or(0, |c| c.peer_count() as i64);
    v.cluster = cluster_varz(&rt);
    if let Some(cluster) = shared.cluster() {
        // The name in use: a generated one, or one adopted from a peer.
        v.cluster.name = cluster.name();
    }
    v.ws_connect_urls = shared.cluster().map(|c| c.ws_urls()).unwrap_or_default();
    v.connect_urls = shared
        .cluster()
        .map(|c| c.client_urls())
        .unwrap_or_default();
    v.in_client_msgs = v.in_msgs;
    v.in_client_bytes = v.in_bytes;
    v.out_client_msgs = v.out_msgs;
    v.out_client_bytes = v.out_bytes;
    v.slow_consumer_stats.clients = v.slow_consumers as u64;
    v.stale_connection_stats.clients = v.stale_connections as u64;
    v
}

/// `/varz` `cluster`: the configured cluster, `{}` without one.
fn cluster_varz(rt: &crate::runtime::Runtime) -> sysacct::monitor::ClusterVarz {
    let Some(c) = rt.opts.cluster.as_ref() else {
        return sysacct::monitor::ClusterVarz::default();
    };
    sysacct::monitor::ClusterVarz {
        name: c.name.clone(),
        addr: c.host.clone(),
        cluster_port: c.port,
        auth_timeout: c.auth_timeout.as_secs_f64(),
        urls: c.routes.iter().map(|r| r.host_port()).collect(),
        tls_timeout: 0.0,
        pool_size: c.pool_size,
    }
}

/// `/varz` `gateway`: the gateway listener and every other gateway known, `{}` without one.
fn gateway_varz(shared: &Shared, rt: &crate::runtime::Runtime) -> sysacct::monitor::GatewayVarz {
    let (Some(g), Some(gw)) = (rt.opts.gateway.as_ref(), shared.gateways()) else {
        return sysacct::monitor::GatewayVarz::default();
    };
    let tls_timeout = g
        .tls
        .as_ref()
        .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout());
    sysacct::monitor::GatewayVarz {
        name: g.name.clone(),
        host: g.host.clone(),
        port: i64::from(gw.info().port),
        auth_timeout: g.auth_timeout.as_secs_f64(),
        tls_timeout: tls_timeout.as_secs_f64(),
        tls_required: g.tls.is_some(),
        tls_verify: g.tls.is_some(),
        advertise: g.advertise.clone(),
        connect_retries: g.connect_retries,
        gateways: gw
            .known()
            .into_iter()
            .map(|(name, urls)| sysacct::monitor::RemoteGatewayVarz { name, urls })
            .collect(),
        reject_unknown: g.reject_unknown_cluster,
    }
}

/// `/varz` `leaf`: the leaf listener and the remotes, `{}` without them.
/// `/varz` `websocket`: the block as configured (the bound port for `-1`).
fn websocket_varz(rt: &crate::runtime::Runtime) -> sysacct::monitor::WebsocketVarz {
    let Some(ws) = rt.opts.websocket.as_ref().filter(|w| w.port != 0) else {
        return sysacct::monitor::WebsocketVarz::default();
    };
    sysacct::monitor::WebsocketVarz {
        host: ws.host.clone(),
        port: rt.ws.as_ref().map_or(ws.port, |w| i64::from(w.info.port)),
        advertise: ws.advertise.clone(),
        no_auth_user: ws.no_auth_user.clone(),
        jwt_cookie: ws.jwt_cookie.clone(),
        handshake_timeout: ws.handshake_timeout.as_nanos() as i64,
        auth_timeout: ws.auth_timeout.as_secs_f64(),
        no_tls: ws.no_tls,
        tls_map: ws.tls.as_ref().is_some_and(|t| t.map),
        same_origin: ws.same_origin,
        allowed_origins: ws.allowed_origins.clone(),
        compression: ws.compression,
    }
}

fn leaf_varz(rt: &crate::runtime::Runtime) -> sysacct::monitor::LeafVarz {
    let Some(l) = rt.opts.leafnodes.as_ref() else {
        return sysacct::monitor::LeafVarz::default();
    };
    let listening = l.port != 0;
    let tls_timeout = |tls: Option<&crate::tls::config::TlsOptions>| {
        tls.map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout())
            .as_secs_f64()
    };
    sysacct::monitor::LeafVarz {
        host: if listening {
            l.host.clone()
        } else {
            String::new()
        },
        port: if listening { l.port } else { 0 },
        auth_timeout: if listening {
            l.auth_timeout.as_secs_f64()
        } else {
            0.0
        },
        tls_timeout: if listening {
            tls_timeout(l.tls.as_ref())
        } else {
            0.0
        },
        tls_required: l.tls.is_some(),
        tls_verify: l.tls.as_ref().is_some_and(|t| t.verify),
        remotes: l
            .remotes
            .iter()
            .map(|r| sysacct::monitor::RemoteLeafVarz {
                local_account: r.local_account().to_string(),
                tls_timeout: r.tls.as_ref().map_or(0.0, |t| t.timeout().as_secs_f64()),
                urls: r.urls.iter().map(|u| u.host_port()).collect(),
                deny: (!r.deny_exports.is_empty() || !r.deny_imports.is_empty()).then(|| {
                    sysacct::monitor::DenyRules {
                        exports: r.deny_exports.clone(),
                        imports: r.deny_imports.clone(),
                    }
                }),
            })
            .collect(),
    }
}

/// Prometheus label value escaping.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text being written: metric families one after another.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    /// One family: its HELP and TYPE lines, then a line per sample (labels, value).
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>) {
        self.0.push_str(&format!(
            "# HELP gannet_{name} {help}\n# TYPE gannet_{name} {kind}\n"
        ));
        for (labels, value) in samples {
            self.0.push_str(&format!("gannet_{name}{labels} {value}\n"));
        }
    }
}

/// One unlabelled sample.
fn one(x: f64) -> Vec<(String, f64)> {
    vec![(String::new(), x)]
}

/// `/metrics`: the server's counters in the Prometheus text format, per server, per account
/// and per close reason (nats-server has no such endpoint; its users run an exporter).
pub fn metrics(shared: &Arc<Shared>) -> String {
    let v = varz(shared);
    let uptime = SystemTime::now()
        .duration_since(shared.started())
        .unwrap_or_default();
    let mut out = Exposition::default();
    connection_metrics(&mut out, &v);
    traffic_metrics(&mut out, &v);
    process_metrics(&mut out, &v, uptime);
    account_metrics(&mut out, shared);
    close_reason_metrics(&mut out, shared);
    out.0
}

/// Open and accepted connections, and subscriptions.
fn connection_metrics(out: &mut Exposition, v: &Varz) {
    out.metric(
        "connections",
        "gauge",
        "Client connections open now.",
        one(v.connections as f64),
    );
    out.metric(
        "connections_total",
        "counter",
        "Client connections accepted since start.",
        one(v.total_connections as f64),
    );
    out.metric(
        "subscriptions",
        "gauge",
        "Subscriptions in all accounts.",
        one(v.subscriptions as f64),
    );
}

/// Messages and payload bytes in and out.
fn traffic_metrics(out: &mut Exposition, v: &Varz) {
    out.metric(
        "in_msgs_total",
        "counter",
        "Messages received from clients.",
        one(v.in_msgs as f64),
    );
    out.metric(
        "in_bytes_total",
        "counter",
        "Payload bytes received from clients.",
        one(v.in_bytes as f64),
    );
    out.metric(
        "out_msgs_total",
        "counter",
        "Messages delivered to clients.",
        one(v.out_msgs as f64),
    );
    out.metric(
        "out_bytes_total",
        "counter",
        "Payload bytes delivered to clients.",
        one(v.out_bytes as f64),
    );
}

/// Slow consumer and stale connection closes, memory and uptime.
fn process_metrics(out: &mut Exposition, v: &Varz, uptime: Duration) {
    out.metric(
        "slow_consumers_total",
        "counter",
        "Connections closed as slow consumers.",
        one(v.slow_consumers as f64),
    );
    out.metric(
        "stale_connections_total",
        "counter",
        "Connections closed as stale.",
        one(v.stale_connections as f64),
    );
    out.metric(
        "stalled_clients_total",
        "counter",
        "Times a fast publisher was stalled by flow control.",
        one(v.stalled_clients as f64),
    );
    out.metric(
        "memory_bytes",
        "gauge",
        "Resident memory.",
        one(v.mem as f64),
    );
    out.metric(
        "uptime_seconds",
        "gauge",
        "Seconds since start.",
        one(uptime.as_secs_f64()),
    );
}

/// Connections and subscriptions per account, accounts sorted by name. `$G` is left out when
/// accounts are configured and no client is in it (as nats-server's `/accstatz` leaves out
/// accounts without connections): there it is only the fallback nobody uses.
fn account_metrics(out: &mut Exposition, shared: &Shared) {
    let mut accounts = shared.accounts.all();
    let system = shared.system_account_name();
    let configured = accounts
        .iter()
        .any(|a| a.name != crate::auth::GLOBAL_ACCOUNT && system != Some(a.name.as_str()));
    accounts.retain(|a| {
        let unused_global = a.name == crate::auth::GLOBAL_ACCOUNT
            && a.num_conns.load(std::sync::atomic::Ordering::Relaxed) == 0;
        !(configured && unused_global)
    });
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let per_account = |value: &dyn Fn(&crate::account::Account) -> f64| -> Vec<(String, f64)> {
        accounts
            .iter()
            .map(|a| (format!("{{account=\"{}\"}}", label(&a.name)), value(a)))
            .collect()
    };
    let conns = per_account(&|a| a.num_conns.load(std::sync::atomic::Ordering::Relaxed) as f64);
    let subs = per_account(&|a| a.sublist.count() as f64);
    out.metric(
        "account_connections",
        "gauge",
        "Client connections per account.",
        conns,
    );
    out.metric(
        "account_subscriptions",
        "gauge",
        "Subscriptions per account.",
        subs,
    );
}

/// Closed client connections per close reason.
fn close_reason_metrics(out: &mut Exposition, shared: &Shared) {
    let closed = shared
        .closed_by_reason()
        .into_iter()
        .map(|(r, n)| (format!("{{reason=\"{}\"}}", label(&r)), n as f64))
        .collect();
    out.metric(
        "closed_connections_total",
        "counter",
        "Closed client connections by close reason.",
        closed,
    );
}

/// Go `strconv.ParseBool`.
fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, String> {
    match value.unwrap_or("") {
        "" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!(
            "Error decoding boolean for '{name}': strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(other)
        )),
    }
}

fn parse_int(name: &str, value: Option<&str>) -> Result<i64, String> {
    match value.unwrap_or("") {
        "" => Ok(0),
        v => v.parse().map_err(|_| {
            format!(
                "Error decoding int for '{name}': strconv.Atoi: parsing {}: invalid syntax",
                go_quote(v)
            )
        }),
    }
}

fn conn_info(c: &ConnSnapshot, now: SystemTime, auth: bool, subs: &str) -> ConnInfo {
    let until = c.closed.as_ref().map_or(now, |(stop, _)| *stop);
    let (kind, client_type) = match c.kind {
        crate::msgs::snapshot::ConnKind::Client => ("Client", c.client_type),
        crate::msgs::snapshot::ConnKind::Leafnode => ("Leafnode", ""),
    };
    let mut info = ConnInfo {
        cid: c.cid,
        kind: kind.into(),
        client_type: client_type.into(),
        ip: c.peer.ip().to_string(),
        port: c.peer.port(),
        start: rfc3339_nano(c.start),
        last_activity: rfc3339_nano(c.last_activity),
        rtt: sysacct::monitor::rtt_text(c.rtt.unwrap_or_default()),
        uptime: uptime_text(until.duration_since(c.start).unwrap_or_default()),
        idle: uptime_text(until.duration_since(c.last_activity).unwrap_or_default()),
        pending_bytes: c.pending_bytes as i64,
        in_msgs: c.in_msgs as i64,
        out_msgs: c.out_msgs as i64,
        in_bytes: c.in_bytes as i64,
        out_bytes: c.out_bytes as i64,
        stalls: c.stalls as i64,
        subscriptions: c.num_subs,
        name: c.name.clone(),
        lang: c.lang.clone(),
        version: c.version.clone(),
        tls_version: c.tls_version.clone(),
        tls_cipher_suite: c.tls_cipher.clone(),
        ..ConnInfo::default()
    };
    if let Some((stop, reason)) = &c.closed {
        info.stop = rfc3339_nano(*stop);
        info.reason = reason.clone();
    }
    if auth {
        info.authorized_user = c.user.clone();
        if c.account != crate::auth::GLOBAL_ACCOUNT {
            info.account = c.account.clone();
            info.name_tag = c.account.clone();
        }
    }
    match subs {
        "detail" => {
            info.subscriptions_list_detail = c
                .subs
                .iter()
                .map(|s| SubDetail {
                    subject: s.subject.clone(),
                    qgroup: s.queue.clone(),
                    sid: s.sid.clone(),
                    msgs: s.msgs as i64,
                    max: s.max as i64,
                    cid: c.cid,
                    ..SubDetail::default()
                })
                .collect()
        }
        "1" | "true" | "t" | "T" | "TRUE" | "True" => {
            info.subscriptions_list = c.subs.iter().map(|s| s.subject.clone()).collect()
        }
        _ => {}
    }
    info
}

/// The `/connz` parameters, checked in nats-server's order.
struct ConnzQuery<'a> {
    auth: bool,
    subs: &'a str,
    offset: i64,
    limit: i64,
    cid: i64,
    open: bool,
    closed: bool,
    sort: &'a str,
}

impl<'a> ConnzQuery<'a> {
    /// Reads and checks `req`'s parameters; the error is nats-server's text.
    fn parse(req: &'a Request) -> Result<ConnzQuery<'a>, String> {
        let auth = parse_bool("auth", req.param("auth"))?;
        let subs = req.param("subs").unwrap_or("");
        if subs != "detail" {
            parse_bool("subs", Some(subs))?;
        }
        let offset = parse_int("offset", req.param("offset"))?.max(0);
        let mut limit = parse_int("limit", req.param("limit"))?;
        if limit <= 0 {
            limit = CONNZ_LIMIT_DEFAULT;
        }
        let cid = parse_int("cid", req.param("cid"))?;
        let state = req.param("state").unwrap_or("open").to_lowercase();
        let (open, closed) = match state.as_str() {
            "open" | "" => (true, false),
            "closed" => (false, true),
            "any" | "all" => (true, true),
            other => return Err(format!("Error decoding state for {other}")),
        };
        let sort = req.param("sort").unwrap_or("cid");
        check_sort(sort, &state)?;
        Ok(ConnzQuery {
            auth,
            subs,
            offset,
            limit,
            cid,
            open,
            closed,
            sort,
        })
    }
}

/// `sort` must be a known key; `stop` and `reason` only with `state=closed`.
fn check_sort(sort: &str, state: &str) -> Result<(), String> {
    let valid = [
        "cid",
        "start",
        "subs",
        "pending",
        "msgs_to",
        "msgs_from",
        "bytes_to",
        "bytes_from",
        "last",
        "idle",
        "rtt",
        "uptime",
        "stop",
        "reason",
        "",
    ];
    if !valid.contains(&sort) {
        return Err(format!("invalid sorting option: {sort}"));
    }
    if (sort == "stop" || sort == "reason") && state != "closed" {
        return Err(format!("sort by {sort} only valid on closed connections"));
    }
    Ok(())
}

/// `/connz` (spec `sys.md` §4.4): state, cid, acc and user filters, sorting and paging.
pub fn connz(shared: &Arc<Shared>, req: &Request) -> Result<Connz, String> {
    let mut q = ConnzQuery::parse(req)?;
    let (rt, _) = shared.runtime();
    let now = SystemTime::now();
    if let Some(acc) = req.param("acc") {
        if shared.accounts.get(acc).is_none() {
            return Ok(Connz {
                now: rfc3339_nano(now),
                offset: q.offset,
                limit: q.limit,
                ..Connz::default()
            });
        }
    }
    let mut conns = gather_conns(shared, &q);
    if let Some(acc) = req.param("acc") {
        conns.retain(|c| c.account == acc);
    }
    if q.cid > 0 {
        conns.retain(|c| c.cid == q.cid as u64);
        q.limit = 1;
        q.offset = 0;
    }
    let total = conns.len() as i64;
    if let Some(user) = req.param("user") {
        conns.retain(|c| c.user == user);
    }
    sort_conns(&mut conns, q.sort, now);
    let start = (q.offset as usize).min(conns.len());
    let end = (start + q.limit as usize).min(conns.len());
    let page: Vec<ConnInfo> = conns[start..end]
        .iter()
        .map(|c| conn_info(c, now, q.auth, q.subs))
        .collect();
    Ok(Connz {
        server_id: rt.info.server_id.clone(),
        now: rfc3339_nano(now),
        num_connections: page.len() as i64,
        total,
        offset: q.offset,
        limit: q.limit,
        connections: Some(page),
    })
}

/// The open and/or closed connections `q` asks for, open ones with their subscriptions when
/// `subs` lists them.
fn gather_conns(shared: &Shared, q: &ConnzQuery<'_>) -> Vec<ConnSnapshot> {
    let subs = q.subs;
    let want_subs = !subs.is_empty() && subs != "0" && subs.to_lowercase() != "false";
    let mut conns: Vec<ConnSnapshot> = Vec::new();
    if q.open {
        for s in shared.gather(SnapshotRequest {
            conns: true,
            subs: want_subs,
        }) {
            conns.extend(s.conns);
        }
    }
    if q.closed {
        conns.extend(shared.closed_conns());
    }
    conns
}

fn sort_conns(conns: &mut [ConnSnapshot], sort: &str, now: SystemTime) {
    use std::cmp::Reverse;
    let idle = |c: &ConnSnapshot| now.duration_since(c.last_activity).unwrap_or_default();
    match sort {
        "subs" => conns.sort_by_key(|c| Reverse(c.num_subs)),
        "pending" => conns.sort_by_key(|c| Reverse(c.pending_bytes)),
        "msgs_to" => conns.sort_by_key(|c| Reverse(c.out_msgs)),
        "msgs_from" => conns.sort_by_key(|c| Reverse(c.in_msgs)),
        "bytes_to" => conns.sort_by_key(|c| Reverse(c.out_bytes)),
        "bytes_from" => conns.sort_by_key(|c| Reverse(c.in_bytes)),
        "last" => conns.sort_by_key(|c| Reverse(c.last_activity)),
        "idle" => conns.sort_by_key(|c| Reverse(idle(c))),
        "rtt" => conns.sort_by_key(|c| Reverse(c.rtt)),
        // Longest uptime first means earliest start first.
        "uptime" => conns.sort_by_key(|c| c.start),
        "stop" => conns.sort_by_key(|c| Reverse(c.closed.as_ref().map(|(t, _)| *t))),
        "reason" => conns.sort_by(|a, b| {
            let reason = |c: &ConnSnapshot| c.closed.as_ref().map(|(_, r)| r.clone());
            reason(a).cmp(&reason(b))
        }),
        _ => conns.sort_by_key(|c| c.cid),
    }
}

/// `/subsz`: sublist statistics summed over accounts (or one), with `subs=1` listing.
pub fn subsz(shared: &Arc<Shared>, req: &Request) -> Subsz {
    let (rt, _) = shared.runtime();
    let accounts = match req.param("acc") {
        Some(name) => shared.accounts.get(name).into_iter().collect(),
        None => shared.accounts.all(),
    };
    let mut total = sublist::SublistStats::default();
    for acc in &accounts {
        total.add(&acc.sublist.stats());
    }
    let mut doc = Subsz {
        server_id: rt.info.server_id.clone(),
        now: rfc3339_nano(SystemTime::now()),
        stats: sublist_statz(&total),
        offset: parse_int("offset", req.param("offset")).unwrap_or(0).max(0),
        limit: parse_int("limit", req.param("limit")).unwrap_or(0),
        ..Subsz::default()
    };
    if doc.limit <= 0 {
        doc.limit = CONNZ_LIMIT_DEFAULT;
    }
    if parse_bool("subs", req.param("subs")).unwrap_or(false) {
        let mut list = Vec::new();
        for snap in shared.gather(SnapshotRequest {
            conns: true,
            subs: true,
        }) {
            for c in snap.conns {
                if req.param("acc").is_some_and(|a| a != c.account) {
                    continue;
                }
                for s in c.subs {
                    if let Some(test) = req.param("test") {
                        if !protocol::subject::subject_matches(
                            s.subject.as_bytes(),
                            test.as_bytes(),
                        ) {
                            continue;
                        }
                    }
                    list.push(SubDetail {
                        account: c.account.clone(),
                        account_tag: c.account.clone(),
                        subject: s.subject,
                        qgroup: s.queue,
                        sid: s.sid,
                        msgs: s.msgs as i64,
                        max: s.max as i64,
                        cid: c.cid,
                    });
                }
            }
        }
        doc.total = list.len() as i64;
        let start = (doc.offset as usize).min(list.len());
        let end = (start + doc.limit as usize).min(list.len());
        doc.subscriptions_list = list[start..end].to_vec();
    }
    doc
}

/// One account's detail (nats-server `accountInfo`): its counts, its imports (with the
/// system services nats-server imports into every other account, which gannet serves too),
/// its name tag and sublist statistics.
pub fn account_info(
    shared: &Arc<Shared>,
    acc: &crate::account::Account,
) -> sysacct::monitor::AccountInfo {
    use crate::auth::config::{ExportKind, ResponseType};
    use sysacct::monitor::{AccountInfo, ExtExport, ExtImport};
    let system = shared.system_account_name();
    let is_system = system == Some(acc.name.as_str());
    let config = acc.config.read().clone();
    let exports = config
        .exports
        .iter()
        .map(|e| ExtExport {
            subject: e.subject.clone(),
            kind: kind_name(e.kind).into(),
            // nats-server's names for the response types (`ServiceRespType.String`).
            response_type: match (e.kind, e.response_type) {
                (ExportKind::Stream, _) => String::new(),
                (ExportKind::Service, ResponseType::Singleton) => "Singleton".into(),
                (ExportKind::Service, ResponseType::Stream) => "Streamed".into(),
                (ExportKind::Service, ResponseType::Chunked) => "Chunked".into(),
            },
            approved_accounts: e.accounts.clone(),
        })
        .collect();
    let mut imports: Vec<ExtImport> = config
        .imports
        .iter()
        .map(|i| {
            // A service is answered on its local subject (`to`); a stream arrives under its
            // prefix (nats-server shows the mapped subject as `local_subject`).
            let (to, local_subject) = match i.kind {
                ExportKind::Service if i.to.is_empty() => (String::new(), i.subject.clone()),
                ExportKind::Service => (i.to.clone(), i.to.clone()),
                ExportKind::Stream if !i.prefix.is_empty() => {
                    (String::new(), format!("{}{}", i.prefix, i.subject))
                }
                ExportKind::Stream if !i.to.is_empty() => (String::new(), i.to.clone()),
                ExportKind::Stream => (String::new(), i.subject.clone()),
            };
            ExtImport {
                subject: i.subject.clone(),
                account: i.account.clone(),
                to,
                local_subject,
                kind: kind_name(i.kind).into(),
                ..ExtImport::default()
            }
        })
        .collect();
    if let (Some(sys), false) = (system, is_system) {
        imports.extend(system_imports(&acc.name, sys));
    }
    let stats = acc.sublist.stats();
    AccountInfo {
        account_name: acc.name.clone(),
        update_time: rfc3339_nano(acc.created),
        is_system,
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: 0,
        client_connections: acc.num_conns.load(std::sync::atomic::Ordering::Relaxed),
        subscriptions: acc.sublist.count() as u32,
        exports,
        imports,
        name_tag: acc.name_tag(),
        sublist_stats: Some(sublist_statz(&stats)),
        ..AccountInfo::default()
    }
}

/// Sublist statistics as the monitoring JSON shows them.
fn sublist_statz(stats: &sublist::SublistStats) -> sysacct::monitor::SublistStatz {
    sysacct::monitor::SublistStatz {
        num_subscriptions: stats.num_subscriptions as u32,
        num_cache: stats.num_cache as u32,
        num_inserts: stats.num_inserts,
        num_removes: stats.num_removes,
        num_matches: stats.num_matches,
        cache_hit_rate: stats.cache_hit_rate,
        max_fanout: stats.max_fanout as u32,
        avg_fanout: stats.avg_fanout,
    }
}

/// `service` or `stream`.
fn kind_name(kind: crate::auth::config::ExportKind) -> &'static str {
    match kind {
        crate::auth::config::ExportKind::Service => "service",
        crate::auth::config::ExportKind::Stream => "stream",
    }
}

/// The system services nats-server imports into every account but the system account
/// (`addSystemAccountExports` / `registerSystemImports`), in the order 2.15.1 listed them.
fn system_imports(acc: &str, sys: &str) -> Vec<sysacct::monitor::ExtImport> {
    let import = |subject: String, to: &str, share: bool| sysacct::monitor::ExtImport {
        subject,
        account: sys.to_string(),
        to: to.to_string(),
        local_subject: to.to_string(),
        kind: "service".into(),
        share,
        ..Default::default()
    };
    vec![
        import(
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
            "$SYS.REQ.ACCOUNT.PING.CONNZ",
            false,
        ),
        import(
            format!("$SYS.REQ.ACCOUNT.{acc}.CONNZ"),
            "$SYS.REQ.SERVER.PING.CONNZ",
            false,
        ),
        import(
            format!("$SYS.REQ.ACCOUNT.{acc}.STATZ"),
            "$SYS.REQ.ACCOUNT.PING.STATZ",
            false,
        ),
        import(
            format!("$SYS.REQ.USER.{acc}.INFO"),
            "$SYS.REQ.USER.INFO",
            true,
        ),
    ]
}

/// `/accountz`: the account names, or one account's detail.
pub fn accountz(shared: &Arc<Shared>, req: &Request) -> Result<serde_json::Value, String> {
    let (rt, _) = shared.runtime();
    let now = rfc3339_nano(SystemTime::now());
    if let Some(name) = req.param("acc") {
        let Some(acc) = shared.accounts.get(name) else {
            return Err(format!("Account {name} does not exist"));
        };
        return Ok(serde_json::json!({
            "server_id": rt.info.server_id,
            "now": now,
            "account_detail": account_info(shared, acc),
        }));
    }
    let mut names: Vec<String> = shared
        .accounts
        .all()
        .iter()
        .map(|a| a.name.clone())
        .collect();
    names.sort();
    let mut doc = serde_json::Map::new();
    doc.insert("server_id".into(), rt.info.server_id.clone().into());
    doc.insert("now".into(), now.into());
    if let Some(system) = shared.system_account_name() {
        doc.insert("system_account".into(), system.into());
    }
    doc.insert("accounts".into(), names.into());
    Ok(serde_json::Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_sampled_from_proc() {
        assert!(cpu_ticks().is_some(), "/proc/self/stat readable");
        let _first = cpu_percent();
        // Keep this thread busy for a little over a second: the next sample sees it.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(1100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let busy = cpu_percent();
        assert!(busy > 10.0, "a busy second shows up: {busy}");
        assert_eq!(cpu_percent(), busy, "within a second the sample is reused");
    }

    #[test]
    fn base_paths() {
        assert_eq!(normalize_base(""), "/");
        assert_eq!(normalize_base("mon/"), "/mon");
        assert_eq!(normalize_base("/a/b/"), "/a/b");
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_bool("auth", Some("1")), Ok(true));
        assert_eq!(parse_bool("auth", None), Ok(false));
        assert_eq!(
            parse_bool("auth", Some("zz")),
            Err("Error decoding boolean for 'auth': strconv.ParseBool: parsing \"zz\": invalid syntax".into())
        );
    }
}
