//! The system thread's state and the `$SYS` events it sends (nats-server `server/events.go`).
//!
//! [`SysThread`] holds what the loop in `sys::run` keeps between facts: the
//! [`EventSender`] (ServerInfo sequence, event ids, publishing through a worker), the STATSZ
//! schedule, the account CONNS heartbeats, the account lookups waiting for another server's
//! answer, the full resolver's pack timer and whether LAMEDUCK/SHUTDOWN silenced the server.
//! `run` matches each [`crate::msgs::SysEvent`] to one `on_*` method here and calls
//! [`SysThread::tick_due`] for the timers.
//!
//! The event bodies (CONNECT, DISCONNECT, AUTH.ERR, STATSZ, CONNS, LAMEDUCK, SHUTDOWN, …) are
//! built here too; [`super::requests`] uses [`EventSender`], [`statsz_body`] and
//! [`account_conns_msg`] for its replies, [`super::claims`] the [`EventSender`].

use super::{claims, requests};
use crate::account::Account;
use crate::msgs::{ClientFacts, WorkerMsg};
use crate::shared::Shared;
use crossbeam_channel::Sender;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};
use sysacct::events::{
    account_conns_subjects, auth_error_subject, connect_subject, disconnect_subject,
    statsz_subject, AccountNumConns, ConnectEventMsg, DisconnectEventMsg, ServerStats,
    ServerStatsMsg, ACCOUNT_CONNS_EVENT_TYPE, CONNECT_EVENT_TYPE, DISCONNECT_EVENT_TYPE,
};
use sysacct::time::rfc3339_nano;
use sysacct::types::{ClientInfo, DataStats, MsgBytes, ServerInfo};

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

/// Publishes the system thread's messages and numbers them: the ServerInfo sequence and the
/// event ids.
pub(crate) struct EventSender {
    shared: Weak<Shared>,
    pub(crate) system: &'static Account,
    pub(crate) ids: sysacct::id::IdGen,
    seq: u64,
    /// Other servers whose events reach this one (STATSZ `active_servers` counts them).
    pub(crate) remote_servers: usize,
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
            feature_flags: rt.opts.feature_flags(),
            cluster: match (shared.cluster(), shared.leafs()) {
                (Some(c), _) => c.name(),
                (None, Some(l)) => l.cluster_name(None),
                (None, None) => String::new(),
            },
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

/// The system thread's state between facts (see the module docs).
pub(super) struct SysThread {
    sender: EventSender,
    statsz_interval: Duration,
    statsz_at: Instant,
    /// Accounts with connections get a CONNS heartbeat.
    heartbeats: HashMap<String, Instant>,
    /// After LAMEDUCK or SHUTDOWN the server sends no system message at all.
    silenced: bool,
    /// Lookups waiting for another server's answer, by reply subject.
    lookups: HashMap<String, (Sender<Vec<u8>>, Instant)>,
    /// A full resolver asks the others for their JWTs every `pack_interval`.
    pack_interval: Option<Duration>,
    pack_at: Option<Instant>,
    /// Other servers heard from, by id (nats-server `sys.servers`).
    remotes: HashMap<String, RemoteServer>,
    /// Client counts of each account on the other servers, by account then server id.
    remote_conns: HashMap<String, HashMap<String, i64>>,
    /// When to look for servers not heard from in a while.
    orphans_at: Instant,
}

/// What is kept about another server (spec cluster.md §4.3).
#[derive(Debug)]
struct RemoteServer {
    seq: u64,
    last_seen: Instant,
}

/// How often servers that went quiet are looked for (nats-server `orphanSweeper`).
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(90);
/// A server not heard from for this long is treated as gone.
const ORPHAN_AFTER: Duration = Duration::from_secs(150);

/// The `server` object of another server's event.
#[derive(Debug, serde::Deserialize)]
struct EventServer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    seq: u64,
}

#[derive(Debug, serde::Deserialize)]
struct WithServer {
    server: EventServer,
}

/// Another server's account CONNS event (or answer to an account-tracking request).
#[derive(Debug, serde::Deserialize)]
struct ConnsEvent {
    server: EventServer,
    #[serde(default)]
    acc: String,
    #[serde(default)]
    conns: i64,
}

impl SysThread {
    /// The state of a system thread serving `system` that has not run yet.
    pub(super) fn new(shared: Weak<Shared>, system: &'static Account) -> SysThread {
        let statsz_at = Instant::now() + STATSZ_FIRST;
        let pack_interval = pack_interval(&shared);
        SysThread {
            sender: EventSender {
                shared,
                system,
                ids: sysacct::id::IdGen::new(),
                seq: 1,
                remote_servers: 0,
            },
            remotes: HashMap::new(),
            remote_conns: HashMap::new(),
            orphans_at: Instant::now() + ORPHAN_CHECK_EVERY,
            statsz_interval: STATSZ_FIRST,
            statsz_at,
            heartbeats: HashMap::new(),
            silenced: false,
            lookups: HashMap::new(),
            pack_interval,
            pack_at: pack_interval.map(|i| Instant::now() + i),
        }
    }

    /// The server's shared state, or `None` once the server is gone.
    pub(super) fn shared(&self) -> Option<Arc<Shared>> {
        self.sender.shared.upgrade()
    }

    /// LAMEDUCK or SHUTDOWN was sent: nothing else is.
    pub(super) fn silenced(&self) -> bool {
        self.silenced
    }

    /// When the next timer is due: STATSZ, a pack request or a CONNS heartbeat.
    pub(super) fn next_deadline(&self) -> Instant {
        self.heartbeats
            .values()
            .copied()
            .chain(self.pack_at)
            .chain(Some(self.orphans_at))
            .fold(self.statsz_at, Instant::min)
    }

    /// The timers' work due at `now`: STATSZ, then the pack request, then the heartbeats.
    pub(super) fn tick_due(&mut self, shared: &Shared, now: Instant) {
        if now >= self.statsz_at {
            self.tick_statsz(shared, now);
        }
        if let (Some(at), Some(interval)) = (self.pack_at, self.pack_interval) {
            if now >= at {
                self.pack_at = Some(now + interval);
                self.ask_pack(shared);
            }
        }
        self.tick_heartbeats(shared, now);
        if now >= self.orphans_at {
            self.orphans_at = now + ORPHAN_CHECK_EVERY;
            let gone: Vec<String> = self
                .remotes
                .iter()
                .filter(|(_, r)| now.duration_since(r.last_seen) >= ORPHAN_AFTER)
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                self.remotes.remove(&id);
                self.forget_remote_conns(shared, &id);
            }
            self.sender.remote_servers = self.remotes.len();
        }
    }

    /// Another server's event on `$SYS.SERVER.<rest>`: STATSZ and account CONNS keep it
    /// tracked, SHUTDOWN and LAMEDUCK forget it (nats-server `remoteServerUpdate`,
    /// `remoteServerShutdown`). Returns false if `rest` is no such event.
    fn on_server_event(&mut self, shared: &Shared, rest: &str, payload: &[u8]) -> bool {
        let own = server_id(shared);
        let (id, kind) = match rest.split_once('.') {
            Some(("ACCOUNT", tail)) if tail.ends_with(".CONNS") => {
                self.on_remote_conns(shared, payload);
                return true;
            }
            Some((id, kind)) if matches!(kind, "STATSZ" | "SHUTDOWN" | "LAMEDUCK") => {
                (id.to_string(), kind)
            }
            _ => return false,
        };
        if id == own || id.is_empty() {
            return true;
        }
        match kind {
            "SHUTDOWN" | "LAMEDUCK" => {
                self.remotes.remove(&id);
                self.forget_remote_conns(shared, &id);
            }
            _ => {
                let seq = serde_json::from_slice::<WithServer>(payload).map_or(0, |m| m.server.seq);
                self.remote_seen(shared, id, seq);
            }
        }
        self.sender.remote_servers = self.remotes.len();
        true
    }

    /// Another server's client count for an account (its CONNS event, or its answer to our
    /// tracking request): it counts against the account's limit here, and when the total is
    /// over the limit the newest local clients go until it is not (nats-server
    /// `remoteConnsUpdate`; every server does this on its own, spec cluster.md §4.5).
    fn on_remote_conns(&mut self, shared: &Shared, payload: &[u8]) {
        let Ok(msg) = serde_json::from_slice::<ConnsEvent>(payload) else {
            return;
        };
        let own = server_id(shared);
        if msg.server.id.is_empty() || msg.server.id == own {
            return;
        }
        self.remote_seen(shared, msg.server.id.clone(), msg.server.seq);
        let Some(account) = shared.accounts.get(&msg.acc) else {
            return;
        };
        let counts = self.remote_conns.entry(msg.acc.clone()).or_default();
        if msg.conns > 0 {
            counts.insert(msg.server.id, msg.conns);
        } else {
            counts.remove(&msg.server.id);
        }
        let remote: i64 = counts.values().sum();
        account.remote_conns.store(remote, Ordering::Release);
        enforce_conn_limit(shared, account);
    }

    /// A server went away: its clients no longer count anywhere.
    fn forget_remote_conns(&mut self, shared: &Shared, id: &str) {
        for (name, counts) in &mut self.remote_conns {
            if counts.remove(id).is_some() {
                if let Some(account) = shared.accounts.get(name) {
                    let remote: i64 = counts.values().sum();
                    account.remote_conns.store(remote, Ordering::Release);
                }
            }
        }
    }

    /// A STATSZ or CONNS event from `id`. A server seen for the first time gets our STATSZ
    /// at once, so it learns about us without waiting up to 10 s.
    fn remote_seen(&mut self, shared: &Shared, id: String, seq: u64) {
        let now = Instant::now();
        match self.remotes.get_mut(&id) {
            Some(r) => {
                if seq != 0 && seq <= r.seq {
                    crate::debug!(
                        "Received out of order remote server update from: {}",
                        crate::gofmt::go_quote(&id)
                    );
                    return;
                }
                r.seq = seq;
                r.last_seen = now;
            }
            None => {
                self.remotes.insert(
                    id,
                    RemoteServer {
                        seq,
                        last_seen: now,
                    },
                );
                self.sender.remote_servers = self.remotes.len();
                let own = server_id(shared);
                let body = statsz_body(&mut self.sender, shared);
                let system = self.sender.system;
                self.sender
                    .publish(shared, system, statsz_subject(&own), body);
            }
        }
    }

    /// The STATSZ broadcast and its next time.
    fn tick_statsz(&mut self, shared: &Shared, now: Instant) {
        // Gaps of 1, 2, 4, 8, then 10 s (spec sys.md §2.2.2).
        self.statsz_interval = if self.statsz_interval == STATSZ_FIRST {
            Duration::from_secs(1)
        } else {
            (self.statsz_interval * 2).min(STATSZ_INTERVAL_MAX)
        };
        self.statsz_at = now + self.statsz_interval;
        let subject = statsz_subject(&shared.runtime().0.info.server_id);
        // Standalone servers only broadcast when somebody listens (spec sys.md §2.2.3).
        let system = self.sender.system;
        if !self.silenced && !system.sublist.matches(subject.as_bytes()).is_empty() {
            let body = statsz_body(&mut self.sender, shared);
            self.sender.publish(shared, system, subject, body);
        }
    }

    /// A full resolver asks the other servers for the JWTs it lacks (`CLAIMS.PACK` with its
    /// store's hash).
    fn ask_pack(&self, shared: &Shared) {
        if let crate::auth::AuthConfig::Operator(t) = &shared.runtime().0.auth {
            if let Some(store) = t.store() {
                let id = server_id(shared);
                self.sender.publish_request(
                    shared,
                    "$SYS.REQ.CLAIMS.PACK".into(),
                    format!("{}.pack", reply_inbox(&id)),
                    store.hash().to_vec(),
                );
            }
        }
    }

    /// The CONNS heartbeats due at `now`; an account keeps its heartbeat while it has
    /// connections.
    fn tick_heartbeats(&mut self, shared: &Shared, now: Instant) {
        let due: Vec<String> = self
            .heartbeats
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for name in due {
            self.heartbeats.remove(&name);
            if let Some(account) = shared.accounts.get(&name) {
                if !self.silenced && account_conns(&mut self.sender, shared, account) > 0 {
                    self.heartbeats.insert(name, now + CONNS_HEARTBEAT);
                }
            }
        }
    }

    /// A client authenticated: its account's CONNS event, then CONNECT.
    pub(super) fn on_connect(&mut self, shared: &Shared, client: &ClientFacts) {
        // nats-server registers the client with its account (the CONNS event) before it
        // reports the CONNECT.
        self.conns_changed(shared, &client.account);
        let body = connect_body(&mut self.sender, shared, client);
        let system = self.sender.system;
        self.sender
            .publish(shared, system, connect_subject(&client.account), body);
    }

    /// An account's connection counts changed with no CONNECT to report (nats-server sends
    /// only the CONNS pair for a leaf node connection that authenticated through the leaf
    /// authorization).
    pub(super) fn on_account_conns(&mut self, shared: &Shared, account: &Account) {
        self.conns_changed(shared, &account.name);
    }

    /// A reload authorized a connected client again. nats-server then removes the client from
    /// its account and registers it again (`reloadAuthorization` → `registerWithAccount`), so
    /// a watcher sees the account's count one lower, then back, and a CONNECT: the same here.
    pub(super) fn on_reregistered(&mut self, shared: &Shared, client: &ClientFacts) {
        if client.account != crate::auth::GLOBAL_ACCOUNT {
            if let Some(account) = shared.accounts.get(&client.account) {
                account_conns_as(&mut self.sender, shared, account, -1);
            }
        }
        self.on_connect(shared, client);
    }

    /// A client connection closed: its account's CONNS event, then DISCONNECT.
    pub(super) fn on_disconnect(
        &mut self,
        shared: &Shared,
        client: &ClientFacts,
        sent: (u64, u64),
        received: (u64, u64),
        reason: &str,
    ) {
        // The account's CONNS update first, then the DISCONNECT, as nats-server sends them
        // (its `closeConnection` updates the account before the closed client is saved and
        // reported).
        self.conns_changed(shared, &client.account);
        let body = disconnect_body(&mut self.sender, shared, client, sent, received, reason);
        let system = self.sender.system;
        self.sender
            .publish(shared, system, disconnect_subject(&client.account), body);
    }

    /// A client failed authentication: the server's AUTH.ERR event, and a copy in the
    /// account the client was bound to.
    pub(super) fn on_auth_error(&mut self, shared: &Shared, client: &ClientFacts, reason: &str) {
        let id = server_id(shared);
        let body = disconnect_body(&mut self.sender, shared, client, (0, 0), (0, 0), reason);
        let system = self.sender.system;
        self.sender
            .publish(shared, system, auth_error_subject(&id), body.clone());
        if let Some(account) = shared.accounts.get(&client.account) {
            self.sender
                .publish(shared, account, "$SYS.ACCOUNT.CLIENT.AUTH.ERR".into(), body);
        }
    }

    /// A message on one of the system thread's subscriptions: an answer to one of our own
    /// requests, a pack request, or a service request ([`requests::answer`]).
    pub(super) fn on_request(
        &mut self,
        shared: &Arc<Shared>,
        account: &'static Account,
        subject: &str,
        reply: Option<&[u8]>,
        headers: &[u8],
        payload: &[u8],
    ) {
        if let Some(rest) = subject.strip_prefix("$SYS.SERVER.") {
            if self.on_server_event(shared, rest, payload) {
                return;
            }
        }
        let id = server_id(shared);
        let own = tracking_inbox(&id);
        let inbox = reply_inbox(&id);
        let ours = |r: &[u8]| {
            r == own.as_bytes()
                || (r.starts_with(inbox.as_bytes()) && r.get(inbox.len()) == Some(&b'.'))
        };
        if reply.is_some_and(ours) {
            // Our own request (account tracking, lookup, pack): the system client does not
            // hear its own messages (echo off).
            return;
        }
        if subject == own {
            // Another server's answer to our account-tracking request: counted like its
            // CONNS events.
            self.on_remote_conns(shared, payload);
            return;
        }
        if ours(subject.as_bytes()) {
            self.on_answer(shared, subject, payload);
            return;
        }
        if subject == "$SYS.REQ.CLAIMS.PACK" {
            if let Some(reply) = reply {
                self.answer_pack(shared, account, reply, payload);
            }
            return;
        }
        match reply {
            Some(reply) => self.answer(shared, account, subject, reply, headers, payload),
            // Account servers push updates without expecting an answer.
            None if subject.ends_with(".CLAIMS.UPDATE") => {
                let _ = requests::answer(
                    &mut self.sender,
                    shared,
                    account,
                    subject,
                    &[],
                    headers,
                    payload,
                );
            }
            // A STATSZ request without a reply asks for a broadcast.
            None if subject.ends_with(".PING") || subject.ends_with(".STATSZ") => {
                let body = statsz_body(&mut self.sender, shared);
                let id = server_id(shared);
                let system = self.sender.system;
                self.sender
                    .publish(shared, system, statsz_subject(&id), body);
            }
            None => {}
        }
    }

    /// An answer to one of our requests: a pack message, or the answer to a lookup.
    fn on_answer(&mut self, shared: &Shared, subject: &str, payload: &[u8]) {
        if subject.ends_with(".pack") {
            if !payload.is_empty() {
                claims::merge(shared, payload);
            }
        } else if let Some((done, _)) = self.lookups.get(subject) {
            // The first JWT wins; with no other server known, an empty answer means nobody
            // has it.
            let _ = done.try_send(payload.to_vec());
            self.lookups.remove(subject);
        }
    }

    /// Another full resolver's `CLAIMS.PACK`: our JWTs (if its hash differs), then an empty
    /// message.
    fn answer_pack(
        &self,
        shared: &Shared,
        account: &'static Account,
        reply: &[u8],
        payload: &[u8],
    ) {
        let reply = String::from_utf8_lossy(reply).into_owned();
        for msg in claims::pack(shared, payload) {
            self.sender.publish(shared, account, reply.clone(), msg);
        }
    }

    /// A service request with a reply subject: the answer, if this server gives one.
    fn answer(
        &mut self,
        shared: &Arc<Shared>,
        account: &'static Account,
        subject: &str,
        reply: &[u8],
        headers: &[u8],
        payload: &[u8],
    ) {
        let body = requests::answer(
            &mut self.sender,
            shared,
            account,
            subject,
            reply,
            headers,
            payload,
        );
        if let Some(body) = body {
            let reply = String::from_utf8_lossy(reply).into_owned();
            self.sender.publish(shared, account, reply, body);
        }
    }

    /// An answer worked out elsewhere: the envelope with `data` in `account` on `reply`.
    pub(super) fn on_reply(
        &mut self,
        shared: &Shared,
        account: &'static Account,
        reply: &[u8],
        data: serde_json::Value,
    ) {
        let server = self.sender.server_info(shared);
        let body = serde_json::to_vec(&json!({"server": server, "data": data}))
            .expect("a reply envelope (JSON values) always serializes");
        let reply = String::from_utf8_lossy(reply).into_owned();
        self.sender.publish(shared, account, reply, body);
    }

    /// An account JWT is needed: ask the other servers (`CLAIMS.LOOKUP`); the first answer
    /// goes to `done`.
    pub(super) fn on_lookup(&mut self, shared: &Shared, account: &str, done: Sender<Vec<u8>>) {
        let id = server_id(shared);
        let reply = format!("{}.{}", reply_inbox(&id), self.sender.ids.next_id());
        // Bounded: a lookup nobody answered is forgotten after a while (its waiter gave up
        // long before).
        self.lookups.retain(|_, (_, at)| at.elapsed() < LOOKUP_KEEP);
        if self.lookups.len() < LOOKUPS_MAX {
            self.lookups.insert(reply.clone(), (done, Instant::now()));
            let subject = format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP");
            self.sender
                .publish_request(shared, subject, reply, Vec::new());
        }
    }

    /// A leaf node connection bound to `account`: tell the other servers.
    pub(super) fn on_leafnode_connect(&mut self, shared: &Shared, account: &Account) {
        let msg = sysacct::events::LeafNodeConnectMsg {
            server: self.sender.server_info(shared),
            acc: account.name.clone(),
        };
        let body = serde_json::to_vec(&msg).expect("a LEAFNODE.CONNECT event always serializes");
        let subject = sysacct::events::leafnode_connect_subject(&account.name);
        let system = self.sender.system;
        self.sender.publish(shared, system, subject, body);
    }

    /// A newly registered account asks the other servers for their connection counts.
    pub(super) fn on_track_account(&mut self, shared: &Shared, account: &Account) {
        let id = server_id(shared);
        let server = self.sender.server_info(shared);
        let body = serde_json::to_vec(&json!({"server": server, "acc": account.name}))
            .expect("an account tracking request (JSON values) always serializes");
        self.sender.publish_request(
            shared,
            format!("$SYS.REQ.ACCOUNT.{}.CONNS", account.name),
            tracking_inbox(&id),
            body,
        );
    }

    /// Lame duck mode started: LAMEDUCK, and, like nats-server, no system message after it.
    pub(super) fn on_lame_duck(&mut self, shared: &Shared) {
        self.announce_last(shared, "LAMEDUCK");
    }

    /// Clean shutdown: SHUTDOWN, then the acknowledgement.
    pub(super) fn on_shutdown(&mut self, shared: &Shared, ack: &Sender<()>) {
        self.announce_last(shared, "SHUTDOWN");
        let _ = ack.send(());
    }

    /// `$SYS.SERVER.<id>.<what>` with a bare ServerInfo; the server is silent afterwards.
    fn announce_last(&mut self, shared: &Shared, what: &str) {
        let id = server_id(shared);
        let body = server_info_body(&mut self.sender, shared);
        let system = self.sender.system;
        self.sender
            .publish(shared, system, format!("$SYS.SERVER.{id}.{what}"), body);
        self.silenced = true;
    }

    /// After a connect or disconnect in a non-`$G` account: the CONNS event, and its
    /// heartbeat while the account has connections.
    fn conns_changed(&mut self, shared: &Shared, account: &str) {
        if account == crate::auth::GLOBAL_ACCOUNT {
            return;
        }
        let Some(acc) = shared.accounts.get(account) else {
            return;
        };
        if account_conns(&mut self.sender, shared, acc) > 0 {
            self.heartbeats
                .insert(account.to_string(), Instant::now() + CONNS_HEARTBEAT);
        } else {
            self.heartbeats.remove(account);
        }
    }
}

/// Closes the newest local clients of `account` while its clients across the cluster are
/// more than its limit allows.
fn enforce_conn_limit(shared: &Shared, account: &'static Account) {
    let max = account.limits().max_connections;
    let local = account.num_conns();
    let remote = account.remote_conns.load(Ordering::Acquire);
    if max < 0 || local + remote <= max {
        return;
    }
    let excess = (local + remote - max).min(local).max(0) as usize;
    let req = crate::msgs::snapshot::SnapshotRequest {
        conns: true,
        subs: false,
    };
    // Newest first: by connect time, then by cid.
    let mut clients: Vec<(std::time::SystemTime, u64, usize)> = shared
        .gather(req)
        .iter()
        .flat_map(|s| {
            s.conns
                .iter()
                .filter(|c| c.account == account.name)
                .map(move |c| (c.start, c.cid, s.worker.0))
        })
        .collect();
    clients.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let workers = shared.workers();
    for &(_, cid, worker) in clients.iter().take(excess) {
        if let Some(w) = workers.get(worker) {
            w.send_blocking(WorkerMsg::AccountLimit { cid });
        }
    }
}

/// How often a full resolver asks the others for their JWTs; `None` for any other resolver.
fn pack_interval(shared: &Weak<Shared>) -> Option<Duration> {
    shared
        .upgrade()
        .and_then(|shared| match &shared.runtime().0.auth {
            crate::auth::AuthConfig::Operator(t) => t
                .store()
                .filter(|st| !st.config.cache)
                .map(|st| st.config.interval),
            _ => None,
        })
}

/// This server's id.
fn server_id(shared: &Shared) -> String {
    shared.runtime().0.info.server_id.clone()
}

/// Where other servers answer this server's account-tracking requests.
pub(crate) fn tracking_inbox(server_id: &str) -> String {
    format!("$SYS._INBOX_.{server_id}")
}

/// The prefix of the inboxes the system thread's own requests (lookups, packs) get their
/// answers on.
pub(super) fn reply_inbox(server_id: &str) -> String {
    format!("$SYS._INBOX.{server_id}")
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
        client_type: c.client_type.into(),
        ..ClientInfo::default()
    }
}

/// `$SYS.ACCOUNT.<acc>.CONNECT`.
fn connect_body(s: &mut EventSender, shared: &Shared, client: &ClientFacts) -> Vec<u8> {
    let msg = ConnectEventMsg {
        kind: CONNECT_EVENT_TYPE.into(),
        id: s.ids.next_id(),
        timestamp: rfc3339_nano(SystemTime::now()),
        server: s.server_info(shared),
        client: client_info(client, None),
    };
    serde_json::to_vec(&msg).expect("a CONNECT event always serializes")
}

/// `$SYS.ACCOUNT.<acc>.DISCONNECT`, and the AUTH.ERR events (with no traffic).
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
    serde_json::to_vec(&msg).expect("a DISCONNECT event always serializes")
}

/// A bare ServerInfo body (SHUTDOWN, LAMEDUCK).
pub(crate) fn server_info_body(s: &mut EventSender, shared: &Shared) -> Vec<u8> {
    let info = s.server_info(shared);
    serde_json::to_vec(&info).expect("a ServerInfo always serializes")
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
        cpu: crate::monitor::cpu_percent(),
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
        active_servers: 1 + s.remote_servers as i64,
        routes: route_stats(&snaps),
        gateways: gateway_stats(&snaps),
        gomaxprocs: shared.worker_count() as i64,
    };
    let msg = ServerStatsMsg {
        server: s.server_info(shared),
        statsz: stats,
    };
    serde_json::to_vec(&msg).expect("a STATSZ message always serializes")
}

/// STATSZ `routes`: one entry per route connection.
fn route_stats(snaps: &[crate::msgs::snapshot::WorkerSnapshot]) -> Vec<sysacct::events::RouteStat> {
    let mut routes: Vec<_> = snaps
        .iter()
        .flat_map(|s| s.routes.iter())
        .map(|r| sysacct::events::RouteStat {
            rid: r.conn.cid,
            name: r.remote_name.clone(),
            sent: MsgBytes {
                msgs: r.conn.out_msgs as i64,
                bytes: r.conn.out_bytes as i64,
            },
            received: MsgBytes {
                msgs: r.conn.in_msgs as i64,
                bytes: r.conn.in_bytes as i64,
            },
            pending: r.conn.pending_bytes as i64,
        })
        .collect();
    routes.sort_by_key(|r| r.rid);
    routes
}

/// STATSZ `gateways`: per other gateway, the outbound connection's traffic and the inbound
/// ones' (nats-server `GatewayStat`).
fn gateway_stats(
    snaps: &[crate::msgs::snapshot::WorkerSnapshot],
) -> Vec<sysacct::events::GatewayStat> {
    let mut by_name: std::collections::BTreeMap<String, sysacct::events::GatewayStat> =
        std::collections::BTreeMap::new();
    for g in snaps.iter().flat_map(|s| s.gateways.iter()) {
        let stat = by_name.entry(g.remote_gateway.clone()).or_insert_with(|| {
            sysacct::events::GatewayStat {
                name: g.remote_gateway.clone(),
                ..Default::default()
            }
        });
        if g.outbound {
            stat.gwid = g.conn.cid;
            stat.sent.msgs += g.conn.out_msgs as i64;
            stat.sent.bytes += g.conn.out_bytes as i64;
        } else {
            stat.received.msgs += g.conn.in_msgs as i64;
            stat.received.bytes += g.conn.in_bytes as i64;
            stat.inbound_connections += 1;
        }
    }
    by_name.into_values().collect()
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
    account_conns_as(s, shared, account, 0)
}

/// [`account_conns`] with the connection counts moved by `delta` (a client re-registered on
/// reload is counted out first).
fn account_conns_as(
    s: &mut EventSender,
    shared: &Shared,
    account: &'static Account,
    delta: i64,
) -> i64 {
    let id = s.ids.next_id();
    let [current, legacy] = account_conns_subjects(&account.name);
    // Both copies report the same counts (read once); each gets its own sequence number.
    let mut msg = account_conns_msg(s, shared, account, id);
    msg.stat.conns = (msg.stat.conns + delta).max(0);
    msg.stat.total_conns = (msg.stat.total_conns + delta).max(0);
    for (n, subject) in [legacy, current].into_iter().enumerate() {
        if n > 0 {
            msg.server = s.server_info(shared);
        }
        let body = serde_json::to_vec(&msg).expect("a CONNS event always serializes");
        s.publish(shared, s.system, subject, body);
    }
    msg.stat.conns
}
