//! `/healthz`, `/jsz`, `/accstatz` and `/debug/vars` (EXPVARZ): the documents both the HTTP
//! port and the `$SYS.REQ` services serve.

use super::http::Request;
use super::parse_bool;
use crate::account::Account;
use crate::shared::Shared;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::SystemTime;
use sysacct::events::AccountStat;
use sysacct::monitor::HealthStatus;
use sysacct::time::rfc3339_nano;
use sysacct::types::{DataStats, MsgBytes};

/// `/healthz` and HEALTHZ. Gannet has no JetStream, so once the client listener is up the
/// only failures are the parameter checks (`healthz` in nats-server's monitor.go). Returns
/// the status code and the body (with `status_code` for the NATS form).
pub fn healthz(req: &Request) -> (u16, HealthStatus) {
    let given = |name: &str| req.param(name).is_some_and(|v| !v.is_empty());
    let problem = if given("stream") && !given("account") {
        Some("\"account\" must not be empty when checking stream health")
    } else if given("consumer") && !given("stream") {
        Some("\"stream\" must not be empty when checking consumer health")
    } else {
        None
    };
    match problem {
        None => (
            200,
            HealthStatus {
                status: "ok".into(),
                status_code: Some(200),
                ..HealthStatus::default()
            },
        ),
        Some(text) => {
            let details = parse_bool("details", req.param("details")).unwrap_or(false);
            let mut status = HealthStatus {
                status: "error".into(),
                status_code: Some(400),
                ..HealthStatus::default()
            };
            if details {
                status.errors = vec![sysacct::monitor::HealthzError {
                    kind: "BAD_REQUEST".into(),
                    error: text.into(),
                    ..Default::default()
                }];
            } else {
                status.error = text.into();
            }
            (400, status)
        }
    }
}

/// `/routez` and ROUTEZ: one entry per route connection, in nats-server's field order
/// (`RouteInfo` in `server/monitor.go`); `subs` adds `subscriptions_list`.
pub fn routez(shared: &Shared, subs: bool) -> Value {
    let rt = shared.runtime().0;
    let now = SystemTime::now();
    let snaps = shared.gather(crate::msgs::snapshot::SnapshotRequest::default());
    let mut routes: Vec<_> = snaps.iter().flat_map(|s| s.routes.iter()).collect();
    routes.sort_by_key(|r| r.conn.cid);
    let entries: Vec<Value> = routes
        .iter()
        .map(|r| {
            let mut e = serde_json::Map::new();
            e.insert("rid".into(), r.conn.cid.into());
            e.insert("remote_id".into(), r.remote_id.clone().into());
            e.insert("remote_name".into(), r.remote_name.clone().into());
            e.insert("did_solicit".into(), r.did_solicit.into());
            e.insert("is_configured".into(), r.is_configured.into());
            e.insert("ip".into(), r.conn.peer.ip().to_string().into());
            e.insert("port".into(), r.conn.peer.port().into());
            e.insert("start".into(), rfc3339_nano(r.conn.start).into());
            e.insert(
                "last_activity".into(),
                rfc3339_nano(r.conn.last_activity).into(),
            );
            if let Some(rtt) = r.conn.rtt {
                e.insert("rtt".into(), sysacct::monitor::rtt_text(rtt).into());
            }
            let up = now.duration_since(r.conn.start).unwrap_or_default();
            e.insert("uptime".into(), sysacct::monitor::uptime_text(up).into());
            let idle = now.duration_since(r.conn.last_activity).unwrap_or_default();
            e.insert("idle".into(), sysacct::monitor::uptime_text(idle).into());
            e.insert("pending_size".into(), r.conn.pending_bytes.into());
            e.insert("in_msgs".into(), r.conn.in_msgs.into());
            e.insert("out_msgs".into(), r.conn.out_msgs.into());
            e.insert("in_bytes".into(), r.conn.in_bytes.into());
            e.insert("out_bytes".into(), r.conn.out_bytes.into());
            e.insert("subscriptions".into(), r.subs.len().into());
            if subs {
                e.insert("subscriptions_list".into(), r.subs.clone().into());
            }
            Value::Object(e)
        })
        .collect();
    json!({"server_id": rt.info.server_id, "server_name": rt.info.server_name,
           "now": rfc3339_nano(now), "num_routes": entries.len(), "routes": entries})
}

/// `/gatewayz` and GATEWAYZ: the outbound connection to each other cluster and the inbound
/// ones from them (nats-server `Gatewayz`); `accs` adds each outbound connection's accounts,
/// all interest-only.
pub fn gatewayz(shared: &Shared, accs: bool) -> Value {
    let rt = shared.runtime().0;
    let now = SystemTime::now();
    let Some(gw) = shared.gateways() else {
        return json!({"server_id": rt.info.server_id, "now": rfc3339_nano(now),
                      "outbound_gateways": {}, "inbound_gateways": {}});
    };
    let opts = rt.opts.gateway.clone().unwrap_or_default();
    let configured = |name: &str| opts.gateways.iter().any(|g| g.name == name);
    let snaps = shared.gather(crate::msgs::snapshot::SnapshotRequest::default());
    let mut all: Vec<_> = snaps.iter().flat_map(|s| s.gateways.iter()).collect();
    all.sort_by_key(|g| g.conn.cid);
    let connection = |g: &crate::msgs::snapshot::GatewaySnapshot| {
        let c = &g.conn;
        let mut e = serde_json::Map::new();
        e.insert("cid".into(), c.cid.into());
        e.insert("kind".into(), "Gateway".into());
        e.insert("ip".into(), c.peer.ip().to_string().into());
        e.insert("port".into(), c.peer.port().into());
        e.insert("start".into(), rfc3339_nano(c.start).into());
        e.insert("last_activity".into(), rfc3339_nano(c.last_activity).into());
        if let Some(rtt) = c.rtt {
            e.insert("rtt".into(), sysacct::monitor::rtt_text(rtt).into());
        }
        let up = now.duration_since(c.start).unwrap_or_default();
        e.insert("uptime".into(), sysacct::monitor::uptime_text(up).into());
        let idle = now.duration_since(c.last_activity).unwrap_or_default();
        e.insert("idle".into(), sysacct::monitor::uptime_text(idle).into());
        e.insert("pending_bytes".into(), c.pending_bytes.into());
        e.insert("in_msgs".into(), c.in_msgs.into());
        e.insert("out_msgs".into(), c.out_msgs.into());
        e.insert("in_bytes".into(), c.in_bytes.into());
        e.insert("out_bytes".into(), c.out_bytes.into());
        e.insert("subscriptions".into(), c.num_subs.into());
        e.insert("name".into(), g.remote_id.clone().into());
        Value::Object(e)
    };
    let mut outbound = serde_json::Map::new();
    let mut inbound: serde_json::Map<String, Value> = serde_json::Map::new();
    for g in all {
        let mut entry = serde_json::Map::new();
        entry.insert("configured".into(), configured(&g.remote_gateway).into());
        entry.insert("connection".into(), connection(g));
        if g.outbound {
            if accs {
                let accounts: Vec<Value> = g
                    .accounts
                    .iter()
                    .map(|(name, plain, queue)| {
                        let mut a = serde_json::Map::new();
                        a.insert("name".into(), name.clone().into());
                        a.insert("interest_mode".into(), "Interest-Only".into());
                        a.insert("interest_only_threshold".into(), 1000.into());
                        if *plain > 0 {
                            a.insert("num_subs".into(), (*plain).into());
                        }
                        if *queue > 0 {
                            a.insert("num_queue_subs".into(), (*queue).into());
                        }
                        Value::Object(a)
                    })
                    .collect();
                entry.insert("accounts".into(), accounts.into());
            }
            outbound.insert(g.remote_gateway.clone(), Value::Object(entry));
        } else if let Some(list) = inbound
            .entry(g.remote_gateway.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
        {
            list.push(Value::Object(entry));
        }
    }
    let info = gw.info();
    json!({"server_id": rt.info.server_id, "now": rfc3339_nano(now), "name": gw.name,
           "host": info.host, "port": info.port,
           "outbound_gateways": outbound, "inbound_gateways": inbound})
}

/// `/leafz` and LEAFZ (also per account: `account` keeps that account's connections): one
/// entry per leaf node connection, in nats-server's field order (`LeafInfo` in
/// `server/monitor.go`); `subs` adds `subscriptions_list`.
pub fn leafz(shared: &Shared, subs: bool, account: Option<&str>) -> Value {
    let rt = shared.runtime().0;
    let now = SystemTime::now();
    let snaps = shared.gather(crate::msgs::snapshot::SnapshotRequest::default());
    let mut leafs: Vec<_> = snaps
        .iter()
        .flat_map(|s| s.leafs.iter())
        .filter(|l| account.is_none_or(|a| l.account == a))
        .collect();
    leafs.sort_by_key(|l| l.conn.cid);
    let entries: Vec<Value> = leafs
        .iter()
        .map(|l| {
            let mut e = serde_json::Map::new();
            e.insert("id".into(), l.conn.cid.into());
            e.insert("name".into(), l.name.clone().into());
            e.insert("is_spoke".into(), l.is_spoke.into());
            if l.is_isolated {
                e.insert("is_isolated".into(), true.into());
            }
            e.insert("account".into(), l.account.clone().into());
            e.insert("ip".into(), l.conn.peer.ip().to_string().into());
            e.insert("port".into(), l.conn.peer.port().into());
            let rtt = l
                .conn
                .rtt
                .map(sysacct::monitor::rtt_text)
                .unwrap_or_default();
            e.insert("rtt".into(), rtt.into());
            e.insert("in_msgs".into(), l.conn.in_msgs.into());
            e.insert("out_msgs".into(), l.conn.out_msgs.into());
            e.insert("in_bytes".into(), l.conn.in_bytes.into());
            e.insert("out_bytes".into(), l.conn.out_bytes.into());
            e.insert("subscriptions".into(), l.subs.len().into());
            if subs {
                e.insert("subscriptions_list".into(), l.subs.clone().into());
            }
            // Gannet never compresses leaf connections.
            e.insert("compression".into(), "off".into());
            Value::Object(e)
        })
        .collect();
    json!({"server_id": rt.info.server_id, "now": rfc3339_nano(now),
           "leafnodes": entries.len(), "leafs": entries})
}

/// `/jsz` and JSZ with JetStream disabled. `Err` when the request only wants the meta
/// leader's answer (nobody is leader without JetStream).
pub fn jsz(shared: &Shared, req: &Request) -> Result<Value, String> {
    if parse_bool("leader-only", req.param("leader-only")).unwrap_or(false) {
        return Err("filtered response: not leader".into());
    }
    let rt = shared.runtime().0;
    Ok(json!({
        "memory": 0, "storage": 0, "reserved_memory": 0, "reserved_storage": 0,
        "accounts": 0, "ha_assets": 0, "api": {"level": 0, "total": 0, "errors": 0},
        "server_id": rt.info.server_id, "now": rfc3339_nano(SystemTime::now()),
        "disabled": true, "config": {"max_memory": 0, "max_storage": 0},
        "streams": 0, "consumers": 0, "messages": 0, "bytes": 0, "total": 0,
    }))
}

/// One account's counts here: an entry of `account_statz`, and the body of its CONNS event.
pub fn account_stat(acc: &Account) -> AccountStat {
    let conns = acc.num_conns.load(Ordering::Relaxed).max(0);
    let leafs = acc.num_leafs.load(Ordering::Relaxed).max(0);
    let zero = MsgBytes::default();
    let stats = DataStats {
        msgs: 0,
        bytes: 0,
        gateways: Some(zero),
        routes: Some(zero),
        leafs: Some(zero),
    };
    AccountStat {
        acc: acc.name.clone(),
        name: acc.name_tag(),
        conns,
        leafnodes: leafs,
        total_conns: conns + leafs,
        num_subscriptions: acc.sublist.count() as u32,
        sent: stats,
        received: stats,
        slow_consumers: 0,
    }
}

/// `/accstatz` and STATZ: `accounts` (every account when `None`), sorted by name; without
/// `include_unused` only those with local connections.
pub fn accstatz(
    shared: &Shared,
    accounts: Option<Vec<&'static Account>>,
    include_unused: bool,
) -> Value {
    let mut accounts = accounts.unwrap_or_else(|| shared.accounts.all());
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let stats: Vec<AccountStat> = accounts
        .into_iter()
        .filter(|a| include_unused || a.num_conns.load(Ordering::Relaxed) > 0)
        .map(account_stat)
        .collect();
    json!({
        "server_id": shared.runtime().0.info.server_id,
        "now": rfc3339_nano(SystemTime::now()),
        "account_statz": stats,
    })
}

/// `/debug/vars` and EXPVARZ: the command line and memory figures under Go's `memstats` names,
/// taken from the C allocator's statistics and /proc (Gannet has no garbage collector, so the
/// GC fields are absent rather than zero).
pub fn expvarz() -> Value {
    let cmdline: Vec<String> = std::env::args().collect();
    let mut memstats = serde_json::Map::new();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` takes no arguments, has no preconditions and returns a plain
        // struct of counters by value: it reads no memory of ours and hands back no pointers.
        // glibc takes its own arena locks while summing, so calling it from this thread while
        // others allocate is sound. Only built against glibc (target_env = "gnu"), which has
        // provided it since 2.33.
        let info = unsafe { libc::mallinfo2() };
        let in_use = (info.uordblks + info.hblkhd) as u64;
        memstats.insert("Alloc".into(), in_use.into());
        memstats.insert("HeapAlloc".into(), in_use.into());
        memstats.insert("HeapSys".into(), ((info.arena + info.hblkhd) as u64).into());
        memstats.insert("HeapIdle".into(), (info.fordblks as u64).into());
        memstats.insert("HeapInuse".into(), in_use.into());
    }
    memstats.insert("Sys".into(), super::rss_bytes().into());
    json!({"cmdline": cmdline, "memstats": memstats})
}
