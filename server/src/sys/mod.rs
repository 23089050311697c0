//! The system account's event side: a dedicated thread turns connection facts reported by the
//! workers into nats-server's `$SYS` events (CONNECT, DISCONNECT, AUTH.ERR) and publishes them
//! through a worker, so they are routed like any message (subscriptions, imports).
//!
//! It also answers the `$SYS.REQ` services ([`requests`]) and runs the NATS-based account
//! resolvers' side ([`claims`]). What the other threads send it is in [`crate::msgs::sys`].

mod claims;
mod profilez;
mod requests;

use crate::account::Account;
use crate::msgs::{ClientFacts, SysEvent, SysHandle, WorkerMsg};
use crate::shared::Shared;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::SystemTime;
use std::time::{Duration, Instant};
use sysacct::events::{
    account_conns_subjects, auth_error_subject, connect_subject, disconnect_subject,
    statsz_subject, AccountNumConns, ConnectEventMsg, DisconnectEventMsg, ServerStats,
    ServerStatsMsg, ACCOUNT_CONNS_EVENT_TYPE, CONNECT_EVENT_TYPE, DISCONNECT_EVENT_TYPE,
};
use sysacct::time::rfc3339_nano;
use sysacct::types::MsgBytes;
use sysacct::types::{ClientInfo, DataStats, ServerInfo};

/// Facts waiting for the system thread, at most.
const EVENTS_QUEUE_MAX: usize = 64 * 1024;
/// First STATSZ broadcast after start; the interval then doubles up to `STATSZ_INTERVAL_MAX`.
const STATSZ_FIRST: Duration = Duration::from_millis(250);
/// Longest STATSZ interval.
const STATSZ_INTERVAL_MAX: Duration = Duration::from_secs(10);
/// Account CONNS heartbeat while the account has connections.
const CONNS_HEARTBEAT: Duration = Duration::from_secs(30);
/// Account lookups waiting for an answer at most.
const LOOKUPS_MAX: usize = 1024;
/// How long an unanswered lookup is remembered.
const LOOKUP_KEEP: Duration = Duration::from_secs(30);

/// Starts the system thread for `system` (the system account) and returns the handle workers
/// report to.
///
/// # Errors
/// The thread could not be spawned.
pub fn start(shared: Weak<Shared>, system: &'static Account) -> std::io::Result<SysHandle> {
    let (tx, rx) = crossbeam_channel::bounded(EVENTS_QUEUE_MAX);
    if let Some(shared) = shared.upgrade() {
        let id = shared.runtime().0.info.server_id.clone();
        // The services this server answers, as internal subscriptions in the system account.
        let add = |account: &'static Account, subject: &str| {
            let route = crate::account::ImportRoute::SysRequest;
            let sub = Arc::new(crate::sub::Sub::import(subject.as_bytes(), route));
            let _ = account
                .sublist
                .insert(subject.as_bytes(), None, crate::sub::SubRef(sub));
        };
        let server_wide = format!("$SYS.REQ.SERVER.{id}.*");
        let inbox = format!("{}.*", reply_inbox(&id));
        let dir_resolver = match &shared.runtime().0.auth {
            crate::auth::AuthConfig::Operator(t) => t.store().map(|st| st.config.cache),
            _ => None,
        };
        // The NATS-based resolvers' services (spec sys.md §5.4); `full` also answers
        // lookups and packs.
        let resolver_subjects: &[&str] = match dir_resolver {
            Some(true) => &[
                "$SYS.REQ.CLAIMS.UPDATE",
                "$SYS.REQ.CLAIMS.LIST",
                "$SYS.REQ.CLAIMS.DELETE",
            ],
            Some(false) => &[
                "$SYS.REQ.CLAIMS.UPDATE",
                "$SYS.REQ.CLAIMS.LIST",
                "$SYS.REQ.CLAIMS.DELETE",
                "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP",
                "$SYS.REQ.CLAIMS.PACK",
            ],
            None => &[],
        };
        for subject in resolver_subjects {
            add(system, subject);
        }
        for subject in [
            inbox.as_str(),
            "$SYS.REQ.SERVER.PING",
            "$SYS.REQ.SERVER.PING.*",
            server_wide.as_str(),
            "$SYS.REQ.ACCOUNT.*.*",
            "$SYS.REQ.ACCOUNT.NSUBS",
            "$SYS.DEBUG.SUBSCRIBERS",
            // Account JWT updates (the resolvers here don't track updates themselves).
            "$SYS.ACCOUNT.*.CLAIMS.UPDATE",
            "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE",
        ] {
            add(system, subject);
        }
    }
    let handle = SysHandle::new(system, tx);
    if let Some(shared) = shared.upgrade() {
        handle.serve_accounts(&shared.accounts);
    }
    std::thread::Builder::new()
        .name("gannet-system".into())
        .spawn(move || run(shared, system, rx))?;
    Ok(handle)
}

pub(crate) struct EventSender {
    shared: Weak<Shared>,
    pub(crate) system: &'static Account,
    pub(crate) ids: sysacct::id::IdGen,
    seq: u64,
}

impl EventSender {
    pub(crate) fn server_info(&mut self, shared: &Shared) -> ServerInfo {
        let (rt, _) = shared.runtime();
        // The sequence is shared by every message that carries a ServerInfo (spec sys.md §1.8).
        self.seq += 1;
        ServerInfo {
            name: rt.info.server_name.clone(),
            host: rt.info.host.clone(),
            id: rt.info.server_id.clone(),
            ver: rt.info.version.clone(),
            tags: rt.opts.server_tags.clone(),
            metadata: rt.opts.server_metadata.clone(),
            seq: self.seq,
            time: rfc3339_nano(SystemTime::now()),
            ..ServerInfo::default()
        }
    }

    /// Publishes a request of this server's in the system account.
    fn publish_request(&self, shared: &Shared, subject: String, reply: String, body: Vec<u8>) {
        self.send(shared, self.system, subject, Some(reply), body);
    }

    fn publish(&self, shared: &Shared, account: &'static Account, subject: String, body: Vec<u8>) {
        self.send(shared, account, subject, None, body);
    }

    /// Hands a message to a worker, which routes it like a client's publish.
    fn send(
        &self,
        shared: &Shared,
        account: &'static Account,
        subject: String,
        reply: Option<String>,
        body: Vec<u8>,
    ) {
        if let Some(worker) = shared.workers().first() {
            worker.send_blocking(WorkerMsg::InternalPublish {
                account,
                subject: subject.into_bytes(),
                reply: reply.map(String::into_bytes),
                data: body,
            });
        }
    }
}

fn client_info(c: &ClientFacts, stop: Option<&str>) -> ClientInfo {
    ClientInfo {
        start: rfc3339_nano(c.start),
        host: c.host.clone(),
        id: c.cid,
        acc: c.account.clone(),
        user: c.user.clone(),
        name: c.name.clone(),
        lang: c.lang.clone(),
        ver: c.version.clone(),
        rtt: if stop.is_some() { c.rtt_ns } else { 0 },
        stop: stop.unwrap_or_default().to_string(),
        name_tag: c.name_tag.clone(),
        jwt: c.jwt.clone(),
        issuer_key: c.issuer_key.clone(),
        tags: c.tags.clone(),
        kind: c.kind.into(),
        // Only client connections have a client type.
        client_type: if c.kind == "Client" {
            "nats".into()
        } else {
            String::new()
        },
        ..ClientInfo::default()
    }
}

fn disconnect_body(
    s: &mut EventSender,
    shared: &Shared,
    client: &ClientFacts,
    sent: (u64, u64),
    received: (u64, u64),
    reason: &str,
) -> Vec<u8> {
    let now = rfc3339_nano(SystemTime::now());
    let msg = DisconnectEventMsg {
        kind: DISCONNECT_EVENT_TYPE.into(),
        id: s.ids.next_id(),
        timestamp: now.clone(),
        server: s.server_info(shared),
        client: client_info(client, Some(&now)),
        sent: DataStats {
            msgs: sent.0 as i64,
            bytes: sent.1 as i64,
            ..DataStats::default()
        },
        received: DataStats {
            msgs: received.0 as i64,
            bytes: received.1 as i64,
            ..DataStats::default()
        },
        reason: reason.to_string(),
    };
    serde_json::to_vec(&msg).unwrap_or_default()
}

/// A bare ServerInfo body (SHUTDOWN, LAMEDUCK).
pub(crate) fn server_info_body(s: &mut EventSender, shared: &Shared) -> Vec<u8> {
    let info = s.server_info(shared);
    serde_json::to_vec(&info).unwrap_or_default()
}

/// `$SYS.SERVER.<sid>.STATSZ`, built from the workers' counters.
pub(crate) fn statsz_body(s: &mut EventSender, shared: &Shared) -> Vec<u8> {
    let snaps = shared.gather(crate::msgs::snapshot::SnapshotRequest::default());
    let (mut in_msgs, mut in_bytes, mut out_msgs, mut out_bytes, mut slow) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    for snap in &snaps {
        in_msgs += snap.counters.in_msgs as i64;
        in_bytes += snap.counters.in_bytes as i64;
        out_msgs += snap.counters.out_msgs as i64;
        out_bytes += snap.counters.out_bytes as i64;
        slow += snap.counters.slow_consumers as i64;
    }
    let accounts = shared.accounts.all();
    let active = accounts
        .iter()
        .filter(|a| a.num_conns.load(Ordering::Relaxed) > 0)
        .count();
    let stats = ServerStats {
        start: rfc3339_nano(shared.started()),
        mem: crate::monitor::rss_bytes(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as i64,
        cpu: 0.0,
        connections: shared.num_clients() as i64,
        total_connections: shared.total_connections(),
        active_accounts: active as i64,
        subscriptions: accounts.iter().map(|a| a.sublist.count() as u32).sum(),
        sent: MsgBytes {
            msgs: out_msgs,
            bytes: out_bytes,
        },
        sent_to_clients: MsgBytes {
            msgs: out_msgs,
            bytes: out_bytes,
        },
        received: MsgBytes {
            msgs: in_msgs,
            bytes: in_bytes,
        },
        received_from_clients: MsgBytes {
            msgs: in_msgs,
            bytes: in_bytes,
        },
        slow_consumers: slow,
        active_servers: 1,
        gomaxprocs: shared.worker_count() as i64,
    };
    let msg = ServerStatsMsg {
        server: s.server_info(shared),
        statsz: stats,
    };
    serde_json::to_vec(&msg).unwrap_or_default()
}

/// An account's connection-count event body.
pub(crate) fn account_conns_msg(
    s: &mut EventSender,
    shared: &Shared,
    account: &'static Account,
    id: String,
) -> AccountNumConns {
    AccountNumConns {
        kind: ACCOUNT_CONNS_EVENT_TYPE.into(),
        id,
        timestamp: rfc3339_nano(SystemTime::now()),
        server: s.server_info(shared),
        stat: crate::monitor::status::account_stat(account),
    }
}

/// Publishes an account's connection count on both CONNS subjects (legacy first, same id).
fn account_conns(s: &mut EventSender, shared: &Shared, account: &'static Account) -> i64 {
    let id = s.ids.next_id();
    let [current, legacy] = account_conns_subjects(&account.name);
    // Both copies report the same counts (read once); each gets its own sequence number.
    let mut msg = account_conns_msg(s, shared, account, id);
    for (n, subject) in [legacy, current].into_iter().enumerate() {
        if n > 0 {
            msg.server = s.server_info(shared);
        }
        let body = serde_json::to_vec(&msg).unwrap_or_default();
        s.publish(shared, s.system, subject, body);
    }
    msg.stat.conns
}

fn run(shared: Weak<Shared>, system: &'static Account, rx: Receiver<SysEvent>) {
    let mut s = EventSender {
        shared,
        system,
        ids: sysacct::id::IdGen::new(),
        seq: 1,
    };
    let mut statsz_interval = STATSZ_FIRST;
    let mut statsz_at = Instant::now() + STATSZ_FIRST;
    // Accounts with connections get a CONNS heartbeat.
    let mut heartbeats: HashMap<String, Instant> = HashMap::new();
    let mut silenced = false;
    // Lookups waiting for another server's answer, by reply subject.
    let mut lookups: HashMap<String, (Sender<Vec<u8>>, Instant)> = HashMap::new();
    // A full resolver asks the others for their JWTs every `interval`.
    let pack_interval = s
        .shared
        .upgrade()
        .and_then(|shared| match &shared.runtime().0.auth {
            crate::auth::AuthConfig::Operator(t) => t
                .store()
                .filter(|st| !st.config.cache)
                .map(|st| st.config.interval),
            _ => None,
        });
    let mut pack_at = pack_interval.map(|i| Instant::now() + i);
    loop {
        let next = heartbeats
            .values()
            .copied()
            .chain(pack_at)
            .fold(statsz_at, Instant::min);
        let event = match rx.recv_deadline(next) {
            Ok(event) => Some(event),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = s.shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        if now >= statsz_at {
            // Gaps of 1, 2, 4, 8, then 10 s (spec sys.md §2.2.2).
            statsz_interval = if statsz_interval == STATSZ_FIRST {
                Duration::from_secs(1)
            } else {
                (statsz_interval * 2).min(STATSZ_INTERVAL_MAX)
            };
            statsz_at = now + statsz_interval;
            let subject = statsz_subject(&shared.runtime().0.info.server_id);
            // Standalone servers only broadcast when somebody listens (spec sys.md §2.2.3).
            if !silenced && !s.system.sublist.matches(subject.as_bytes()).is_empty() {
                let body = statsz_body(&mut s, &shared);
                s.publish(&shared, s.system, subject, body);
            }
        }
        if let (Some(at), Some(interval)) = (pack_at, pack_interval) {
            if now >= at {
                pack_at = Some(now + interval);
                if let crate::auth::AuthConfig::Operator(t) = &shared.runtime().0.auth {
                    if let Some(store) = t.store() {
                        let id = shared.runtime().0.info.server_id.clone();
                        s.publish_request(
                            &shared,
                            "$SYS.REQ.CLAIMS.PACK".into(),
                            format!("{}.pack", reply_inbox(&id)),
                            store.hash().to_vec(),
                        );
                    }
                }
            }
        }
        let due: Vec<String> = heartbeats
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for name in due {
            heartbeats.remove(&name);
            if let Some(account) = shared.accounts.get(&name) {
                if !silenced && account_conns(&mut s, &shared, account) > 0 {
                    heartbeats.insert(name, now + CONNS_HEARTBEAT);
                }
            }
        }
        let Some(event) = event else { continue };
        if silenced {
            if let SysEvent::Shutdown { ack } = event {
                let _ = ack.send(());
            }
            continue;
        }
        match event {
            SysEvent::Connect(c) => {
                // nats-server registers the client with its account (the CONNS event) before
                // it reports the CONNECT.
                conns_changed(&mut s, &shared, &c.account, &mut heartbeats);
                let msg = ConnectEventMsg {
                    kind: CONNECT_EVENT_TYPE.into(),
                    id: s.ids.next_id(),
                    timestamp: rfc3339_nano(SystemTime::now()),
                    server: s.server_info(&shared),
                    client: client_info(&c, None),
                };
                let body = serde_json::to_vec(&msg).unwrap_or_default();
                s.publish(&shared, s.system, connect_subject(&c.account), body);
            }
            SysEvent::Disconnect {
                client,
                sent,
                received,
                reason,
            } => {
                let body = disconnect_body(&mut s, &shared, &client, sent, received, &reason);
                s.publish(&shared, s.system, disconnect_subject(&client.account), body);
                conns_changed(&mut s, &shared, &client.account, &mut heartbeats);
            }
            SysEvent::AuthError { client, reason } => {
                let id = shared.runtime().0.info.server_id.clone();
                let body = disconnect_body(&mut s, &shared, &client, (0, 0), (0, 0), &reason);
                s.publish(&shared, s.system, auth_error_subject(&id), body.clone());
                // The account-level copy goes into the account the client was bound to.
                if let Some(account) = shared.accounts.get(&client.account) {
                    s.publish(
                        &shared,
                        account,
                        "$SYS.ACCOUNT.CLIENT.AUTH.ERR".into(),
                        body,
                    );
                }
            }
            SysEvent::Request {
                account,
                subject,
                reply,
                headers,
                payload,
            } => {
                let id = shared.runtime().0.info.server_id.clone();
                let own = tracking_inbox(&id);
                let inbox = reply_inbox(&id);
                let ours = |r: &[u8]| {
                    r == own.as_bytes()
                        || (r.starts_with(inbox.as_bytes()) && r.get(inbox.len()) == Some(&b'.'))
                };
                if reply.as_deref().is_some_and(ours) {
                    // Our own request (account tracking, lookup, pack): the system client
                    // does not hear its own messages (echo off).
                    continue;
                }
                if ours(subject.as_bytes()) {
                    // An answer to one of our requests.
                    if subject.ends_with(".pack") {
                        if !payload.is_empty() {
                            claims::merge(&shared, &payload);
                        }
                    } else if let Some((done, _)) = lookups.get(&subject) {
                        // The first JWT wins; with no other server known, an empty answer
                        // means nobody has it.
                        let _ = done.try_send(payload.clone());
                        lookups.remove(&subject);
                    }
                    continue;
                }
                if subject == "$SYS.REQ.CLAIMS.PACK" {
                    if let Some(reply) = reply {
                        let reply = String::from_utf8_lossy(&reply).into_owned();
                        for msg in claims::pack(&shared, &payload) {
                            s.publish(&shared, account, reply.clone(), msg);
                        }
                    }
                    continue;
                }
                if let Some(reply) = reply {
                    if let Some(body) = requests::answer(
                        &mut s, &shared, account, &subject, &reply, &headers, &payload,
                    ) {
                        s.publish(
                            &shared,
                            account,
                            String::from_utf8_lossy(&reply).into_owned(),
                            body,
                        );
                    }
                } else if subject.ends_with(".CLAIMS.UPDATE") {
                    // Account servers push updates without expecting an answer.
                    let _ = requests::answer(
                        &mut s,
                        &shared,
                        account,
                        &subject,
                        &[],
                        &headers,
                        &payload,
                    );
                } else if subject.ends_with(".PING") || subject.ends_with(".STATSZ") {
                    // A STATSZ request without a reply asks for a broadcast.
                    let body = statsz_body(&mut s, &shared);
                    let id = shared.runtime().0.info.server_id.clone();
                    s.publish(&shared, s.system, statsz_subject(&id), body);
                }
            }
            SysEvent::Reply {
                account,
                reply,
                data,
            } => {
                let server = s.server_info(&shared);
                let body = serde_json::to_vec(&serde_json::json!({"server": server, "data": data}))
                    .unwrap_or_default();
                s.publish(
                    &shared,
                    account,
                    String::from_utf8_lossy(&reply).into_owned(),
                    body,
                );
            }
            SysEvent::Lookup { account, done } => {
                let id = shared.runtime().0.info.server_id.clone();
                let reply = format!("{}.{}", reply_inbox(&id), s.ids.next_id());
                // Bounded: a lookup nobody answered is forgotten after a while (its waiter
                // gave up long before).
                lookups.retain(|_, (_, at)| at.elapsed() < LOOKUP_KEEP);
                if lookups.len() < LOOKUPS_MAX {
                    lookups.insert(reply.clone(), (done, Instant::now()));
                    let subject = format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP");
                    s.publish_request(&shared, subject, reply, Vec::new());
                }
            }
            SysEvent::LeafnodeConnect(account) => {
                let msg = sysacct::events::LeafNodeConnectMsg {
                    server: s.server_info(&shared),
                    acc: account.name.clone(),
                };
                let body = serde_json::to_vec(&msg).unwrap_or_default();
                let subject = sysacct::events::leafnode_connect_subject(&account.name);
                s.publish(&shared, s.system, subject, body);
            }
            SysEvent::TrackAccount(account) => {
                let id = shared.runtime().0.info.server_id.clone();
                let server = s.server_info(&shared);
                let body =
                    serde_json::to_vec(&serde_json::json!({"server": server, "acc": account.name}))
                        .unwrap_or_default();
                s.publish_request(
                    &shared,
                    format!("$SYS.REQ.ACCOUNT.{}.CONNS", account.name),
                    tracking_inbox(&id),
                    body,
                );
            }
            SysEvent::LameDuck => {
                let id = shared.runtime().0.info.server_id.clone();
                let body = server_info_body(&mut s, &shared);
                s.publish(
                    &shared,
                    s.system,
                    format!("$SYS.SERVER.{id}.LAMEDUCK"),
                    body,
                );
                // Like nats-server: after LAMEDUCK the server sends no system message at all.
                silenced = true;
            }
            SysEvent::Shutdown { ack } => {
                let id = shared.runtime().0.info.server_id.clone();
                let body = server_info_body(&mut s, &shared);
                s.publish(
                    &shared,
                    s.system,
                    format!("$SYS.SERVER.{id}.SHUTDOWN"),
                    body,
                );
                silenced = true;
                let _ = ack.send(());
            }
        }
    }
}

/// Where other servers answer this server's account-tracking requests.
pub(crate) fn tracking_inbox(server_id: &str) -> String {
    format!("$SYS._INBOX_.{server_id}")
}

/// The prefix of the inboxes the system thread's own requests (lookups, packs) get their
/// answers on.
fn reply_inbox(server_id: &str) -> String {
    format!("$SYS._INBOX.{server_id}")
}

/// After a connect or disconnect in a non-`$G` account: the CONNS event, and its heartbeat
/// while the account has connections.
fn conns_changed(
    s: &mut EventSender,
    shared: &Shared,
    account: &str,
    heartbeats: &mut HashMap<String, Instant>,
) {
    if account == crate::auth::GLOBAL_ACCOUNT {
        return;
    }
    let Some(acc) = shared.accounts.get(account) else {
        return;
    };
    if account_conns(s, shared, acc) > 0 {
        heartbeats.insert(account.to_string(), Instant::now() + CONNS_HEARTBEAT);
    } else {
        heartbeats.remove(account);
    }
}
