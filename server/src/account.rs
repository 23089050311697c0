//! Accounts: isolated subject namespaces, each with its own sublist (spec §1.12, §4.11).
//!
//! Account objects live as long as the process: a reload updates their limits in place, so the
//! subscriptions of connected clients stay where they are. That is also why they are handed out
//! as `&'static Account`: connections and publishes refer to their account without touching a
//! shared reference count per message. The registry is read at CONNECT and on reload only.

use crate::auth::config::{AccountConfig, AccountLimits, ExportKind, ResponseType};
use crate::auth::GLOBAL_ACCOUNT;
use crate::sub::Sub;
use crate::sub::SubRef;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sublist::Sublist;

/// Pending service responses kept per exporting account before expired ones are swept.
const RESPONSES_SWEEP_AT: usize = 16 * 1024;

/// Where an import entry (an internal subscription, see [`Sub::import`]) sends what it
/// matches (spec §4.11).
#[derive(Debug)]
pub enum ImportRoute {
    /// Stream import: messages of the exporter, delivered in `to` under a new subject.
    Stream {
        /// The importing account.
        to: &'static Account,
        /// The import subject in the exporter (a pattern).
        from: String,
        /// The subject in the importer: a prefix (ending in `.`) or a mapped pattern.
        prefix: String,
        /// Mapped pattern (`to`), if no prefix.
        to_subject: String,
    },
    /// Service import: requests in the importer, forwarded to the exporter.
    Service {
        /// The exporting account.
        exporter: &'static Account,
        /// The importer's name (for `Nats-Request-Info`).
        importer: String,
        /// The importer's reply prefix (`_R_.xxxxxx.`).
        reply_prefix: String,
        /// The local subject (pattern) in the importer.
        local: String,
        /// The exported subject (pattern) in the exporter.
        remote: String,
        /// How many responses the exporter may send.
        response_type: ResponseType,
        /// How long a response mapping lives.
        threshold: Duration,
    },
    /// A `$SYS.REQ` service of this server: the request goes to the system thread.
    SysRequest,
    /// Responses to `_R_.<importer prefix>.>` in the exporter, mapped back to the requester.
    Response {
        /// The importing account.
        importer: &'static Account,
    },
}

/// A request waiting for its response across accounts.
#[derive(Debug)]
pub struct PendingResponse {
    /// Where the response goes.
    pub importer: &'static Account,
    /// The requester's own reply subject.
    pub reply: Box<[u8]>,
    /// Singleton, stream or chunked.
    pub response_type: ResponseType,
    /// When the mapping lapses.
    pub expires: Instant,
}

/// Maps `subject`, which matches `from`, onto `to`: the tokens caught by `from`'s wildcards
/// fill `to`'s wildcards in order; a `to` without wildcards is used as is.
pub fn map_subject(from: &str, to: &str, subject: &[u8]) -> Vec<u8> {
    if !protocol::subject::has_wildcard(to.as_bytes()) {
        return to.as_bytes().to_vec();
    }
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let subj: Vec<&[u8]> = subject.split(|b| *b == b'.').collect();
    for (i, pat) in from.split('.').enumerate() {
        match pat {
            "*" => captured.push(subj.get(i).map(|t| t.to_vec()).unwrap_or_default()),
            ">" => captured.push(
                subj.get(i..)
                    .map(|rest| rest.join(&b'.'))
                    .unwrap_or_default(),
            ),
            _ => {}
        }
    }
    let mut caught = captured.into_iter();
    let mut out = Vec::with_capacity(subject.len() + to.len());
    for (i, tok) in to.split('.').enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        match tok {
            "*" | ">" => out.extend(caught.next().unwrap_or_else(|| tok.as_bytes().to_vec())),
            _ => out.extend_from_slice(tok.as_bytes()),
        }
    }
    out
}

fn random_token() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| BASE62[rand::random::<usize>() % BASE62.len()] as char)
        .collect()
}

/// Literal-subject shards of each account's sublist.
const SUBLIST_SHARDS: usize = 16;

/// One account.
#[derive(Debug)]
pub struct Account {
    /// The account name (`$G` for the global account).
    pub name: String,
    /// Its subscriptions.
    pub sublist: Sublist<SubRef>,
    /// Connected clients bound to it.
    pub num_conns: AtomicI64,
    /// Leaf node connections bound to it (CONNS `leafnodes`; they do not count against
    /// its connection limit).
    pub num_leafs: AtomicI64,
    /// Clients of the account on the other servers of the cluster, as their CONNS events
    /// last said (spec cluster.md §4.5): they count against its connection limit.
    pub remote_conns: AtomicI64,
    /// Its configuration (limits, imports, exports); replaced on reload.
    pub config: RwLock<Arc<AccountConfig>>,
    /// Reply subjects of service requests it imports are `<reply_prefix><random>`.
    pub reply_prefix: String,
    /// Requests from importers waiting for this (exporting) account's response, by the
    /// generated reply subject.
    pub responses: parking_lot::Mutex<HashMap<Box<[u8]>, PendingResponse>>,
    /// When the account was registered (ACCOUNT INFO `update_time`).
    pub created: std::time::SystemTime,
}

impl Account {
    fn new(config: AccountConfig, cache: bool) -> Account {
        Account {
            name: config.name.clone(),
            sublist: Sublist::with_options(SUBLIST_SHARDS, cache),
            num_conns: AtomicI64::new(0),
            num_leafs: AtomicI64::new(0),
            remote_conns: AtomicI64::new(0),
            config: RwLock::new(Arc::new(config)),
            reply_prefix: format!("_R_.{}.", random_token()),
            responses: parking_lot::Mutex::new(HashMap::new()),
            created: std::time::SystemTime::now(),
        }
    }

    /// Records a request forwarded into this account and returns the reply subject to use.
    pub fn add_response(
        &self,
        importer: &&'static Account,
        reply: &[u8],
        kind: ResponseType,
        threshold: Duration,
    ) -> Vec<u8> {
        let mut subject = importer.reply_prefix.clone().into_bytes();
        subject.extend_from_slice(random_token().as_bytes());
        subject.extend_from_slice(random_token().as_bytes());
        let now = Instant::now();
        let mut map = self.responses.lock();
        if map.len() >= RESPONSES_SWEEP_AT {
            map.retain(|_, r| r.expires > now);
        }
        map.insert(
            subject.clone().into_boxed_slice(),
            PendingResponse {
                importer,
                reply: reply.into(),
                response_type: kind,
                expires: now + threshold,
            },
        );
        subject
    }

    /// Looks up where a response to `subject` goes, retiring the mapping when this response
    /// ends it (singleton, or an empty message ending a stream).
    pub fn take_response(
        &self,
        subject: &[u8],
        payload_empty: bool,
    ) -> Option<(&'static Account, Box<[u8]>)> {
        let mut map = self.responses.lock();
        let entry = map.get(subject)?;
        if entry.expires <= Instant::now() {
            map.remove(subject);
            return None;
        }
        let done = entry.response_type == ResponseType::Singleton || payload_empty;
        let out = (entry.importer, entry.reply.clone());
        if done {
            map.remove(subject);
        }
        Some(out)
    }

    /// The name events and monitoring show for the account (its JWT `name` in operator
    /// mode).
    pub fn name_tag(&self) -> String {
        let config = self.config.read();
        if config.name_tag.is_empty() {
            self.name.clone()
        } else {
            config.name_tag.clone()
        }
    }

    /// The account's limits.
    pub fn limits(&self) -> AccountLimits {
        self.config.read().limits
    }

    /// Binds one more connection unless the account is at its connection limit, counting
    /// its clients on the other servers of the cluster too.
    pub fn try_add_conn(&self) -> bool {
        let max = self.limits().max_connections;
        let n = self.num_conns.fetch_add(1, Ordering::AcqRel) + 1;
        let remote = self.remote_conns.load(Ordering::Acquire).max(0);
        if max >= 0 && n + remote > max {
            self.num_conns.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Connections bound to the account now.
    pub fn num_conns(&self) -> i64 {
        self.num_conns.load(Ordering::Acquire)
    }

    /// A bound connection went away.
    pub fn remove_conn(&self) {
        self.num_conns.fetch_sub(1, Ordering::AcqRel);
    }
}

/// All accounts by name.
#[derive(Debug)]
pub struct Accounts {
    map: RwLock<HashMap<String, &'static Account>>,
    cache: bool,
    /// The import entries in the sublists, so a reload can take them out again.
    import_subs: parking_lot::Mutex<Vec<(&'static Account, Arc<Sub>)>>,
    /// The system account's name, once known: every other account imports its
    /// account-scoped services from it.
    system: RwLock<Option<String>>,
}

/// The services every account imports from the system account (nats-server
/// `registerSystemImports`): an account's own `…PING.CONNZ`/`STATZ` become
/// `$SYS.REQ.ACCOUNT.<account>.<EP>` in the system account, which every server of a cluster
/// answers, each reply coming back through the account's response entry.
const SYSTEM_IMPORTS: [(&str, &str); 3] = [
    ("$SYS.REQ.SERVER.PING.CONNZ", "CONNZ"),
    ("$SYS.REQ.ACCOUNT.PING.CONNZ", "CONNZ"),
    ("$SYS.REQ.ACCOUNT.PING.STATZ", "STATZ"),
];

impl Accounts {
    /// The registry with the global account and the configured ones.
    pub fn new(configs: &[AccountConfig], cache: bool) -> Accounts {
        let accounts = Accounts {
            map: RwLock::new(HashMap::new()),
            cache,
            import_subs: parking_lot::Mutex::new(Vec::new()),
            system: RwLock::new(None),
        };
        accounts.sync(configs);
        accounts
    }

    /// Names the system account: every other account gets its system imports.
    pub fn set_system(&self, name: &str) {
        *self.system.write() = Some(name.to_string());
        self.rebuild_all_imports();
    }

    /// Looks an account up by name.
    pub fn get(&self, name: &str) -> Option<&'static Account> {
        self.map.read().get(name).cloned()
    }

    /// Makes the registry match a (re)loaded configuration: new accounts are created,
    /// existing ones get their new configuration, and none is dropped (clients bound to an
    /// account that left the configuration are closed by the re-authorization).
    pub fn sync(&self, configs: &[AccountConfig]) {
        self.ensure(GLOBAL_ACCOUNT);
        for config in configs {
            self.upsert(config.clone());
        }
        self.rebuild_all_imports();
    }

    /// Adds or updates one account (operator mode: an account JWT was loaded or changed) and
    /// rebuilds the import entries of every account.
    pub fn register(&self, config: AccountConfig) {
        self.upsert(config);
        self.rebuild_all_imports();
    }

    /// Creates the account or replaces its configuration.
    fn upsert(&self, config: AccountConfig) {
        let mut map = self.map.write();
        match map.get(&config.name) {
            Some(acc) => *acc.config.write() = Arc::new(config),
            None => {
                let name = config.name.clone();
                let account: &'static Account =
                    Box::leak(Box::new(Account::new(config, self.cache)));
                map.insert(name, account);
            }
        }
    }

    /// Rebuilds the imports of every registered account, not only the configured ones: in
    /// operator mode the accounts come from JWTs.
    fn rebuild_all_imports(&self) {
        let all: Vec<AccountConfig> = self
            .all()
            .iter()
            .map(|a| (**a.config.read()).clone())
            .collect();
        self.rebuild_imports(&all);
    }

    /// Replaces the import entries in the sublists with those of `configs`. Stream imports
    /// sit in the exporter's sublist; service imports in the importer's, plus one response
    /// entry per importer in the exporter's.
    fn rebuild_imports(&self, configs: &[AccountConfig]) {
        let mut subs = self.import_subs.lock();
        for (account, sub) in subs.drain(..) {
            let _ = account
                .sublist
                .remove(&sub.subject, None, &crate::sub::SubRef(sub.clone()));
        }
        let mut add = |account: &&'static Account, subject: &[u8], route: ImportRoute| {
            let sub = Arc::new(Sub::import(subject, route));
            let value = crate::sub::SubRef(sub.clone());
            if account.sublist.insert(subject, None, value).is_ok() {
                subs.push((*account, sub));
            }
        };
        // One response entry per (exporter, importer) pair.
        let mut responders: Vec<(String, String)> = Vec::new();
        for config in configs {
            let Some(importer) = self.get(&config.name) else {
                continue;
            };
            for imp in &config.imports {
                let Some(exporter) = self.get(&imp.account) else {
                    continue;
                };
                match imp.kind {
                    ExportKind::Stream => {
                        let route = ImportRoute::Stream {
                            to: importer,
                            from: imp.subject.clone(),
                            prefix: imp.prefix.clone(),
                            to_subject: imp.to.clone(),
                        };
                        add(&exporter, imp.subject.as_bytes(), route);
                    }
                    ExportKind::Service => {
                        let export = exporter
                            .config
                            .read()
                            .exports
                            .iter()
                            .find(|e| {
                                e.kind == ExportKind::Service
                                    && protocol::subject::subject_matches(
                                        e.subject.as_bytes(),
                                        imp.subject.as_bytes(),
                                    )
                            })
                            .cloned();
                        let local = if imp.to.is_empty() {
                            imp.subject.clone()
                        } else {
                            imp.to.clone()
                        };
                        let threshold = export
                            .as_ref()
                            .map_or(crate::auth::config::RESPONSE_THRESHOLD_DEFAULT, |e| {
                                e.response_threshold
                            });
                        let route = ImportRoute::Service {
                            exporter,
                            importer: importer.name.clone(),
                            reply_prefix: importer.reply_prefix.clone(),
                            local: local.clone(),
                            remote: imp.subject.clone(),
                            response_type: export
                                .as_ref()
                                .map(|e| e.response_type)
                                .unwrap_or_default(),
                            threshold,
                        };
                        add(&importer, local.as_bytes(), route);
                        let pair = (exporter.name.clone(), importer.name.clone());
                        if !responders.contains(&pair) {
                            responders.push(pair);
                            let pattern = format!("{}>", importer.reply_prefix);
                            let route = ImportRoute::Response { importer };
                            add(&exporter, pattern.as_bytes(), route);
                        }
                    }
                }
            }
        }
        let system = self.system.read().clone();
        let Some(system) = system.and_then(|name| self.get(&name)) else {
            return;
        };
        for importer in self.all() {
            if std::ptr::eq(importer, system) {
                continue;
            }
            for (local, ep) in SYSTEM_IMPORTS {
                let route = ImportRoute::Service {
                    exporter: system,
                    importer: importer.name.clone(),
                    reply_prefix: importer.reply_prefix.clone(),
                    local: local.to_string(),
                    remote: format!("$SYS.REQ.ACCOUNT.{}.{ep}", importer.name),
                    response_type: crate::auth::config::ResponseType::Stream,
                    threshold: crate::auth::config::RESPONSE_THRESHOLD_DEFAULT,
                };
                add(&importer, local.as_bytes(), route);
            }
            let pair = (system.name.clone(), importer.name.clone());
            if !responders.contains(&pair) {
                responders.push(pair);
                let pattern = format!("{}>", importer.reply_prefix);
                add(
                    &system,
                    pattern.as_bytes(),
                    ImportRoute::Response { importer },
                );
            }
        }
    }

    /// The local subjects of `account`'s service imports (its system imports included): a
    /// leaf connection is told about them, so that the other side's requests reach the
    /// services through this account (nats-server adds them to a leaf's interest).
    pub fn service_import_subjects(&self, account: &Account) -> Vec<Box<[u8]>> {
        self.import_subs
            .lock()
            .iter()
            .filter(|(a, sub)| {
                std::ptr::eq(*a, account)
                    && matches!(sub.import.as_deref(), Some(ImportRoute::Service { .. }))
            })
            .map(|(_, sub)| sub.subject.clone())
            .collect()
    }

    /// The import entries other servers must send messages to, by account name: stream
    /// imports (the imported subject in the exporting account: every server maps a stream
    /// for its own importers, as nats-server's shadow subscriptions do) and the response
    /// entries of service imports (`<importer's reply prefix>>` in the exporting account, so
    /// that a responder on another server reaches the importer's pending request). A cluster
    /// announces them to its routes.
    pub fn routed_import_entries(&self) -> Vec<(String, Box<[u8]>)> {
        self.import_subs
            .lock()
            .iter()
            .filter(|(_, sub)| {
                matches!(
                    sub.import.as_deref(),
                    Some(ImportRoute::Response { .. } | ImportRoute::Stream { .. })
                )
            })
            .map(|(account, sub)| (account.name.clone(), sub.subject.clone()))
            .collect()
    }

    /// The account called `name`, created empty if it doesn't exist.
    pub fn ensure(&self, name: &str) -> &'static Account {
        let mut map = self.map.write();
        map.entry(name.to_string()).or_insert_with(|| {
            let config = AccountConfig {
                name: name.to_string(),
                ..AccountConfig::default()
            };
            Box::leak(Box::new(Account::new(config, self.cache)))
        })
    }

    /// Every account.
    pub fn all(&self) -> Vec<&'static Account> {
        self.map.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_mapping() {
        assert_eq!(map_subject("events.>", "ev.>", b"events.x.y"), b"ev.x.y");
        assert_eq!(map_subject("a.*.c", "x.*", b"a.b.c"), b"x.b");
        assert_eq!(map_subject("svc.echo", "echo", b"svc.echo"), b"echo");
        assert_eq!(map_subject("echo", "svc.echo", b"echo"), b"svc.echo");
    }

    #[test]
    fn sync_keeps_accounts_and_limits_connections() {
        let a = AccountConfig {
            name: "A".into(),
            limits: AccountLimits {
                max_connections: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let accs = Accounts::new(std::slice::from_ref(&a), true);
        let before = accs.get("A").unwrap();
        assert!(accs.get(GLOBAL_ACCOUNT).is_some());
        assert!(before.try_add_conn());
        assert!(!before.try_add_conn());
        let mut a2 = a.clone();
        a2.limits.max_connections = 2;
        accs.sync(&[a2]);
        let after = accs.get("A").unwrap();
        assert!(std::ptr::eq(before, after));
        assert!(after.try_add_conn());
    }
}
