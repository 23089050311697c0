//! The `$SYS.REQ` services (spec `sys.md` §3): this server's `$SYS.REQ.SERVER.*` endpoints
//! (STATSZ, IDZ, the monitoring endpoints over NATS, RELOAD, KICK, LDM, PROFILEZ) with the
//! request body's options and filters and the reply envelope `{"server":…,"data":…}`; the
//! account-scoped `$SYS.REQ.ACCOUNT.<acc>.*` endpoints; NSUBS and `$SYS.DEBUG.SUBSCRIBERS`.
//! The account JWT services are handed to [`super::claims`].
//!
//! Called by the system thread ([`super::events::SysThread`]) for each request it receives.

use super::events::{account_conns_msg, statsz_body, EventSender};
use super::profilez::{self, Plan};
use crate::account::Account;
use crate::monitor::http::Request;
use crate::shared::Shared;
use serde_json::{json, Value};
use std::sync::Arc;

/// The reply body for a request on `subject`, or `None` when this server stays silent (a
/// filter does not match, or the endpoint is unknown).
pub(super) fn answer(
    s: &mut EventSender,
    shared: &Arc<Shared>,
    account: &'static Account,
    subject: &str,
    reply: &[u8],
    headers: &[u8],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let from_system = std::ptr::eq(account, s.system);
    if subject.ends_with(".CLAIMS.UPDATE") {
        return super::claims::update(s, shared, subject, payload);
    }
    if subject.ends_with(".CLAIMS.LOOKUP") {
        return super::claims::lookup(shared, subject);
    }
    match subject {
        "$SYS.REQ.CLAIMS.LIST" => return super::claims::list(s, shared),
        "$SYS.REQ.CLAIMS.DELETE" => return super::claims::delete(s, shared, payload),
        "$SYS.REQ.ACCOUNT.NSUBS" => return nsubs(shared, payload),
        "$SYS.DEBUG.SUBSCRIBERS" => return debug_subscribers(shared, account, headers, payload),
        _ => {}
    }
    if let Some((acc, ep)) = account_scope(account, subject, from_system) {
        let opts: Value = serde_json::from_slice(payload).unwrap_or_else(|_| json!({}));
        return answer_account(s, shared, &acc, &ep, &opts, from_system);
    }
    answer_server(s, shared, account, subject, reply, payload)
}

/// Account-scoped requests: `$SYS.REQ.ACCOUNT.<acc>.<EP>` in the system account, or an
/// account asking about itself. Returns the account and the endpoint.
fn account_scope(account: &Account, subject: &str, from_system: bool) -> Option<(String, String)> {
    if !from_system {
        let ep = subject.rsplit('.').next().unwrap_or("");
        Some((account.name.clone(), ep.to_string()))
    } else {
        subject
            .strip_prefix("$SYS.REQ.ACCOUNT.")
            .and_then(|rest| rest.split_once('.'))
            .map(|(acc, ep)| (acc.to_string(), ep.to_string()))
    }
}

/// `$SYS.REQ.SERVER.PING[.<EP>]` and `$SYS.REQ.SERVER.<id>.<EP>`: this server's endpoints,
/// if the request's filters match it.
fn answer_server(
    s: &mut EventSender,
    shared: &Arc<Shared>,
    account: &'static Account,
    subject: &str,
    reply: &[u8],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let endpoint = match subject.rsplit_once('.') {
        _ if subject == "$SYS.REQ.SERVER.PING" => "STATSZ",
        Some((_, ep)) => ep,
        None => return None,
    };
    let opts = match server_opts(payload) {
        Ok(opts) => opts,
        Err(e) => return Some(error_reply(s, shared, 400, &e)),
    };
    if endpoint != "IDZ" && !filters_match(shared, &opts) {
        return None;
    }
    let rt = shared.runtime().0;
    let data = match endpoint {
        "STATSZ" => return Some(statsz_body(s, shared)),
        "IDZ" => {
            let id =
                json!({"name": rt.info.server_name, "host": rt.info.host, "id": rt.info.server_id});
            return serde_json::to_vec(&id).ok();
        }
        "RELOAD" if subject.contains(&rt.info.server_id) => return Some(reload(s, shared)),
        "KICK" | "LDM" if subject.contains(&rt.info.server_id) => {
            return kick_or_ldm(s, shared, endpoint, payload)
        }
        "PROFILEZ" => match profilez::plan(&opts) {
            Plan::Answer(data) => data,
            Plan::Cpu(duration) => start_cpu_profile(shared, account, reply, duration)?,
        },
        _ => match monitor_data(shared, endpoint, &opts) {
            Ok(data) => data?,
            Err(e) => return Some(envelope_error(s, shared, 500, &e)),
        },
    };
    let server = s.server_info(shared);
    serde_json::to_vec(&json!({"server": server, "data": data})).ok()
}

/// The options of a server request: an empty body is `{}`; anything but a JSON object is an
/// error (the reply's description).
fn server_opts(payload: &[u8]) -> Result<Value, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("json: cannot unmarshal non-object request".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The `data` of a monitoring endpoint (VARZ, CONNZ, …); `Ok(None)` for no reply (an
/// unknown endpoint, a JSZ for the meta leader only), `Err` for an error reply.
fn monitor_data(
    shared: &Arc<Shared>,
    endpoint: &str,
    opts: &Value,
) -> Result<Option<Value>, String> {
    Ok(match endpoint {
        "VARZ" => serde_json::to_value(crate::monitor::varz(shared)).ok(),
        "CONNZ" => serde_json::to_value(crate::monitor::connz(
            shared,
            &to_request(opts, CONNZ_PARAMS),
        )?)
        .ok(),
        "SUBSZ" => serde_json::to_value(crate::monitor::subsz(
            shared,
            &to_request(opts, SUBSZ_PARAMS),
        ))
        .ok(),
        "ACCOUNTZ" => Some(crate::monitor::accountz(
            shared,
            &to_request(opts, &[("account", "acc")]),
        )?),
        "HEALTHZ" => {
            let req = to_request(opts, HEALTHZ_PARAMS);
            serde_json::to_value(crate::monitor::status::healthz(&req).1).ok()
        }
        // Only the meta leader answers a leader-only request.
        "JSZ" => crate::monitor::status::jsz(shared, &to_request(opts, JSZ_PARAMS)).ok(),
        "ROUTEZ" => Some(crate::monitor::status::routez(shared, false)),
        "GATEWAYZ" => Some(crate::monitor::status::gatewayz(
            shared,
            opts.get("accounts")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        )),
        "LEAFZ" => Some(crate::monitor::status::leafz(
            shared,
            opts.get("subscriptions")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            None,
        )),
        "EXPVARZ" => Some(crate::monitor::status::expvarz()),
        _ => None,
    })
}

/// `$SYS.REQ.SERVER.<id>.RELOAD`: reloads the configuration and answers the bare server
/// envelope, or the error.
fn reload(s: &mut EventSender, shared: &Shared) -> Vec<u8> {
    let result = match shared.control() {
        Some(control) => control.reload(std::time::Duration::from_secs(5)),
        None => Err("server not ready".to_string()),
    };
    match result {
        Ok(()) => server_only(s, shared),
        Err(e) => envelope_error(s, shared, 500, &e),
    }
}

/// `$SYS.REQ.SERVER.<id>.KICK` / `.LDM` with `{"cid": …}`: the workers kick the client, or
/// send it a lame duck INFO.
fn kick_or_ldm(
    s: &mut EventSender,
    shared: &Shared,
    endpoint: &str,
    payload: &[u8],
) -> Option<Vec<u8>> {
    // An empty or non-JSON body gets no reply (nats-server only logs it).
    let cid = serde_json::from_slice::<Value>(payload)
        .ok()?
        .get("cid")?
        .as_u64()?;
    let answers = ask_workers(shared, endpoint == "KICK", cid);
    let error = match (endpoint, answers.iter().max().copied().unwrap_or(0)) {
        ("KICK", 0) => Some("no such client or leafnode id"),
        ("LDM", 0) => Some("no such client id"),
        ("LDM", 2) => Some(
            "client does not support Lame Duck Mode or is not ready to receive the notification",
        ),
        _ => None,
    };
    Some(match error {
        Some(e) => envelope_error(s, shared, 500, e),
        None => server_only(s, shared),
    })
}

/// PROFILEZ for a CPU profile: it takes `duration`, so it is sampled on a thread of its own
/// that answers from there ([`crate::msgs::SysEvent::Reply`]), and the system thread keeps
/// serving. Returns the `data` to answer now only when that thread could not be started.
fn start_cpu_profile(
    shared: &Arc<Shared>,
    account: &'static Account,
    reply: &[u8],
    duration: std::time::Duration,
) -> Option<Value> {
    let shared = Arc::downgrade(shared);
    let reply = reply.to_vec();
    let spawned = std::thread::Builder::new()
        .name("gannet-profilez".into())
        .spawn(move || {
            let data = profilez::cpu_profile(duration);
            if let Some(sys) = shared.upgrade().as_ref().and_then(|s| s.sys()) {
                sys.report(crate::msgs::SysEvent::Reply {
                    account,
                    reply,
                    data,
                });
            }
        });
    if let Err(e) = spawned {
        Some(json!({"profile": null, "error": format!("Failed to start CPU profile: {e}")}))
    } else {
        None
    }
}

/// KICK (`kick`) or LDM for `cid` on every worker; returns each worker's answer (0 not here,
/// 1 done, 2 not possible).
fn ask_workers(shared: &Shared, kick: bool, cid: u64) -> Vec<u8> {
    let workers = shared.workers();
    let (tx, rx) = crossbeam_channel::bounded(workers.len().max(1));
    let (ktx, krx) = crossbeam_channel::bounded(workers.len().max(1));
    for w in workers {
        if kick {
            w.send_blocking(crate::msgs::WorkerMsg::Kick {
                cid,
                done: ktx.clone(),
            });
        } else {
            w.send_blocking(crate::msgs::WorkerMsg::ClientLdm {
                cid,
                done: tx.clone(),
            });
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut out = Vec::new();
    for _ in 0..workers.len() {
        let answer = if kick {
            krx.recv_deadline(deadline).map(u8::from)
        } else {
            rx.recv_deadline(deadline)
        };
        match answer {
            Ok(a) => out.push(a),
            Err(_) => break,
        }
    }
    out
}

/// JSON request options of CONNZ and the HTTP query names they correspond to.
const CONNZ_PARAMS: &[(&str, &str)] = &[
    ("sort", "sort"),
    ("auth", "auth"),
    ("subscriptions", "subs"),
    ("subscriptions_detail", "subs"),
    ("offset", "offset"),
    ("limit", "limit"),
    ("cid", "cid"),
    ("state", "state"),
    ("user", "user"),
    ("acc", "acc"),
    ("account", "acc"),
];

/// JSON request options of HEALTHZ (the same names over HTTP).
const HEALTHZ_PARAMS: &[(&str, &str)] = &[
    ("js-enabled-only", "js-enabled-only"),
    ("js-server-only", "js-server-only"),
    ("js-meta-only", "js-meta-only"),
    ("account", "account"),
    ("stream", "stream"),
    ("consumer", "consumer"),
    ("details", "details"),
];

/// JSON request options of JSZ that change a disabled JetStream's answer.
const JSZ_PARAMS: &[(&str, &str)] = &[("leader_only", "leader-only")];

/// JSON request options of SUBSZ.
const SUBSZ_PARAMS: &[(&str, &str)] = &[
    ("subscriptions", "subs"),
    ("offset", "offset"),
    ("limit", "limit"),
    ("test", "test"),
    ("account", "acc"),
];

/// Turns JSON options into the query parameters the HTTP builders take.
fn to_request(opts: &Value, names: &[(&str, &str)]) -> Request {
    let mut query = Vec::new();
    for (json_name, query_name) in names {
        let Some(v) = opts.get(*json_name) else {
            continue;
        };
        let text = match v {
            Value::Bool(true) if *json_name == "subscriptions_detail" => "detail".to_string(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => continue,
        };
        if *json_name == "state" {
            // Over NATS the state is an integer: 0 open, 1 closed, 2 all.
            let state = match text.as_str() {
                "0" => "open",
                "1" => "closed",
                "2" => "all",
                other => other,
            };
            query.push((query_name.to_string(), state.to_string()));
            continue;
        }
        query.retain(|(k, _): &(String, String)| {
            k != query_name || *json_name != "subscriptions_detail"
        });
        query.push((query_name.to_string(), text));
    }
    Request {
        path: String::new(),
        query,
    }
}

/// The common filters: `server_name`, `host` (substring, or equality with `exact_match`)
/// and `tags` (all must be present).
fn filters_match(shared: &Shared, opts: &Value) -> bool {
    let rt = shared.runtime().0;
    let exact = opts
        .get("exact_match")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let check = |key: &str, have: &str| match opts.get(key).and_then(Value::as_str) {
        None | Some("") => true,
        Some(want) if exact => have == want,
        Some(want) => have.contains(want),
    };
    if !check("server_name", &rt.info.server_name)
        || !check("host", &rt.info.host)
        || !check("cluster", "")
    {
        return false;
    }
    // Every requested tag must be one of this server's (tags are compared lower-cased).
    let tags = opts.get("tags").and_then(Value::as_array);
    tags.into_iter().flatten().all(|t| {
        t.as_str()
            .is_some_and(|t| rt.opts.server_tags.contains(&t.to_lowercase()))
    })
}

/// A request this server refuses (a malformed body): `{"server":…,"error":…}`.
fn error_reply(s: &mut EventSender, shared: &Shared, code: i32, description: &str) -> Vec<u8> {
    let server = s.server_info(shared);
    serde_json::to_vec(
        &json!({"server": server, "error": {"code": code, "description": description}}),
    )
    .expect("an error reply (JSON values) always serializes")
}

/// An endpoint's failure: `{"server":…,"data":null,"error":…}`.
fn envelope_error(s: &mut EventSender, shared: &Shared, code: i32, description: &str) -> Vec<u8> {
    let server = s.server_info(shared);
    serde_json::to_vec(&json!({"server": server, "data": null, "error": {"code": code, "description": description}}))
        .expect("an error envelope (JSON values) always serializes")
}

/// The bare envelope `{"server":…}` of a request that succeeded without data (RELOAD, KICK,
/// LDM).
fn server_only(s: &mut EventSender, shared: &Shared) -> Vec<u8> {
    let server = s.server_info(shared);
    serde_json::to_vec(&json!({"server": server}))
        .expect("a server envelope (JSON values) always serializes")
}

/// `$SYS.REQ.ACCOUNT.<acc>.<EP>` (CONNZ, SUBSZ, INFO, STATZ, CONNS) and `…PING.STATZ`.
fn answer_account(
    s: &mut EventSender,
    shared: &Arc<Shared>,
    acc: &str,
    ep: &str,
    opts: &Value,
    from_system: bool,
) -> Option<Vec<u8>> {
    let data = match ep {
        "STATZ" => account_statz(shared, acc, opts, from_system)?,
        "LEAFZ" => crate::monitor::status::leafz(shared, false, Some(acc)),
        "JSZ" => return Some(envelope_error(s, shared, 500, "jetstream not enabled")),
        "CONNZ" => {
            let req = account_request(opts, CONNZ_PARAMS, acc);
            serde_json::to_value(crate::monitor::connz(shared, &req).ok()?).ok()?
        }
        "SUBSZ" => {
            // Always with the subscriptions listed (nats-server events.go: the account SUBSZ
            // handler sets `Subscriptions`).
            let mut req = account_request(opts, SUBSZ_PARAMS, acc);
            req.query.retain(|(k, _)| k != "subs");
            req.query.push(("subs".into(), "true".into()));
            serde_json::to_value(crate::monitor::subsz(shared, &req)).ok()?
        }
        "INFO" => {
            let req = Request {
                path: String::new(),
                query: vec![("acc".into(), acc.to_string())],
            };
            let doc = crate::monitor::accountz(shared, &req).ok()?;
            doc.get("account_detail").cloned()?
        }
        "CONNS" => return account_conns(s, shared, acc, opts),
        _ => return None,
    };
    let server = s.server_info(shared);
    serde_json::to_vec(&json!({"server": server, "data": data})).ok()
}

/// The HTTP query of an account-scoped CONNZ or SUBSZ: the options, with the account the
/// subject names (not one from the body).
fn account_request(opts: &Value, names: &[(&str, &str)], acc: &str) -> Request {
    let mut req = to_request(opts, names);
    req.query.retain(|(k, _)| k != "acc");
    req.query.push(("acc".into(), acc.to_string()));
    req
}

/// STATZ `data` of one account, or with `…PING.STATZ` from the system account of the
/// `accounts` listed (all when none are); `None` when there is nothing to report.
fn account_statz(shared: &Shared, acc: &str, opts: &Value, from_system: bool) -> Option<Value> {
    let include_unused = opts
        .get("include_unused")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let all_accounts = from_system && acc == "PING";
    let listed: Vec<&str> = opts
        .get("accounts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let accounts = if all_accounts && listed.is_empty() {
        None
    } else if all_accounts {
        Some(
            listed
                .iter()
                .filter_map(|n| shared.accounts.get(n))
                .collect(),
        )
    } else {
        Some(shared.accounts.get(acc).into_iter().collect())
    };
    let doc = crate::monitor::status::accstatz(shared, accounts, include_unused);
    if doc["account_statz"].as_array().is_none_or(Vec::is_empty) {
        // Nothing to report: no reply (nats-server does the same).
        return None;
    }
    Some(doc)
}

/// `$SYS.REQ.ACCOUNT.<acc>.CONNS` (account tracking): the account's CONNS event as the
/// reply, if it has connections here.
fn account_conns(s: &mut EventSender, shared: &Shared, acc: &str, opts: &Value) -> Option<Vec<u8>> {
    // A tracking request names the account in its body too; they must agree.
    if opts.get("acc").is_some_and(|a| a.as_str() != Some(acc)) {
        return None;
    }
    let account = shared.accounts.get(acc)?;
    if account.num_conns.load(std::sync::atomic::Ordering::Relaxed) <= 0 {
        return None;
    }
    let id = s.ids.next_id();
    let msg = account_conns_msg(s, shared, account, id);
    serde_json::to_vec(&msg).ok()
}

/// `$SYS.REQ.ACCOUNT.NSUBS` (spec sys.md §3.10): how many client subscriptions of an account
/// match `subject` (and `queue`, base64) here, as a bare JSON integer. No reply for an
/// account without local connections.
fn nsubs(shared: &Shared, payload: &[u8]) -> Option<Vec<u8>> {
    let req: Value = serde_json::from_slice(payload).ok()?;
    let account = shared.accounts.get(req.get("acc")?.as_str()?)?;
    if account.num_conns.load(std::sync::atomic::Ordering::Relaxed) <= 0 {
        return None;
    }
    let subject = req.get("subject")?.as_str()?;
    let queue = match req.get("queue").and_then(Value::as_str) {
        Some(q) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD.decode(q).ok()?;
            Some(String::from_utf8(bytes).ok()?)
        }
        None => None,
    };
    let n = count_subscribers(shared, &account.name, subject, queue.as_deref());
    Some(n.to_string().into_bytes())
}

/// `$SYS.DEBUG.SUBSCRIBERS`: body `<subject> [<queue>]`, counted in the requester's account
/// (the one named in `Nats-Request-Info` when the request came through an import).
fn debug_subscribers(
    shared: &Shared,
    account: &'static crate::account::Account,
    headers: &[u8],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut words = text.split_whitespace();
    let subject = words.next()?;
    let queue = words.next();
    let info = request_info(headers);
    let name = ["svc", "acc"]
        .iter()
        .find_map(|k| {
            info.get(*k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        })
        .unwrap_or(&account.name);
    let n = count_subscribers(shared, name, subject, queue);
    Some(n.to_string().into_bytes())
}

/// The JSON of a `Nats-Request-Info` header, or `null`.
fn request_info(headers: &[u8]) -> Value {
    let text = String::from_utf8_lossy(headers);
    text.split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("Nats-Request-Info")
                .then(|| serde_json::from_str(value.trim()).ok())?
        })
        .unwrap_or(Value::Null)
}

/// Client subscriptions of `account` that a message on `subject` would reach (a literal
/// subject), or that lie within `subject` (a wildcard); with `queue`, only that group's.
fn count_subscribers(shared: &Shared, account: &str, subject: &str, queue: Option<&str>) -> u64 {
    let wildcard = protocol::subject::has_wildcard(subject.as_bytes());
    let snapshots = shared.gather(crate::msgs::snapshot::SnapshotRequest {
        conns: true,
        subs: true,
    });
    let mut n = 0;
    for conn in snapshots.iter().flat_map(|s| s.conns.iter()) {
        if conn.account != account {
            continue;
        }
        for sub in &conn.subs {
            if queue.is_some_and(|q| q != sub.queue) {
                continue;
            }
            let hit = if wildcard {
                protocol::subject::subject_matches(subject.as_bytes(), sub.subject.as_bytes())
            } else {
                protocol::subject::subject_matches(sub.subject.as_bytes(), subject.as_bytes())
            };
            n += u64::from(hit);
        }
    }
    n
}
