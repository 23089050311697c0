//! What the threads share about gateways (nats-server `gateway.go`; spec cluster.md §3): the
//! registered outbound connection to each other cluster, the inbound connections by remote
//! gateway, the mapped replies this server answers through a gateway, our gateway INFO and
//! the dialer's channel. Nothing here is touched per message unless a message carries a
//! mapped reply.
//!
//! Gannet runs every account interest-only from the start (`gateway_iom`), as nats-server has
//! since 2.9: interest goes out on inbound connections (`gateway_cmd` 2, the account's plain
//! `RS+`, `gateway_cmd` 3; queue interest with weight 1), messages go out on outbound ones,
//! only where the other cluster has interest.

pub mod wire;

use crate::cluster::interest::RouteLink;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wire::GatewayInfo;

/// How long a mapped reply is remembered (nats-server `gwReplyMapping` keeps 2 s).
pub const REPLY_TTL: Duration = Duration::from_secs(2);
/// Mapped replies remembered at most; past it the expired ones go, then the oldest half.
const REPLIES_MAX: usize = 64 * 1024;

/// How a dialed gateway connection came about, carried to the worker with the socket.
#[derive(Debug, Clone)]
pub struct GatewaySolicit {
    /// The remote gateway's name.
    pub gateway: String,
    /// `host:port` dialed.
    pub addr: String,
    /// The host dialed, for checking the remote's certificate.
    pub host: String,
    /// Credentials for the CONNECT (the URL's, else `gateway.authorization`).
    pub user: String,
    /// Credentials for the CONNECT.
    pub pass: String,
    /// Client TLS when the gateway has TLS (gateways are TLS first, like routes).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The handshake timeout of that TLS.
    pub tls_timeout: Duration,
}

/// What workers tell the gateway dialer thread.
#[derive(Debug)]
pub enum GatewayDialMsg {
    /// An outbound connection to `gateway` registered.
    Connected {
        /// The remote gateway.
        gateway: String,
    },
    /// An outbound connection to `gateway` closed or failed: dial again.
    Closed {
        /// The remote gateway.
        gateway: String,
    },
    /// Another gateway learnt (its INFO on an inbound connection, or gossip): dial it unless
    /// connected.
    Discovered {
        /// Its name.
        gateway: String,
        /// Its URLs (`host:port`).
        urls: Vec<String>,
    },
    /// Stop.
    Shutdown,
}

/// A registered outbound connection: where messages for that cluster go.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Its line queue and address (no lines are ever queued: only the address is used).
    pub link: Arc<RouteLink>,
    /// The remote server's id.
    pub server_id: String,
    /// The hash of the remote gateway's name (the cluster part of a mapped reply).
    pub cluster_hash: String,
    /// The connection's stall gate.
    pub gate: Arc<crate::gate::StallGate>,
    /// The remote takes `HMSG`.
    pub headers: bool,
}

/// An outbound connection to that gateway is registered already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

/// Mapped replies by account, then by the reply as our clients see it (two levels, so that
/// a lookup needs no allocation), and when the expired ones were last dropped.
#[derive(Debug)]
struct Replies {
    by_account: HashMap<String, HashMap<Box<[u8]>, Mapped>>,
    swept: Instant,
}

impl Replies {
    /// Drops the expired entries when the last sweep is older than [`REPLY_TTL`] (or
    /// `force`); returns how many are left.
    fn sweep(&mut self, force: bool) -> Option<usize> {
        let now = Instant::now();
        if !force && now.duration_since(self.swept) < REPLY_TTL {
            return None;
        }
        self.swept = now;
        for per_account in self.by_account.values_mut() {
            per_account.retain(|_, m| now.duration_since(m.at) < REPLY_TTL);
        }
        self.by_account.retain(|_, p| !p.is_empty());
        Some(self.by_account.values().map(HashMap::len).sum())
    }
}

/// A reply subject mapped by another cluster, remembered while its answer may come.
#[derive(Debug, Clone)]
struct Mapped {
    full: Box<[u8]>,
    at: Instant,
}

/// The gateway state shared by the threads.
#[derive(Debug)]
pub struct Gateways {
    /// Our gateway (cluster) name.
    pub name: String,
    /// `getGWHash(name)`: the cluster part of replies we map.
    pub cluster_hash: String,
    /// `getGWHash(server id)`: the server part of replies we map.
    pub server_hash: String,
    /// `_GR_.<cluster_hash>.<server_hash>.`: the prefix of replies we map.
    pub reply_prefix: String,
    info: GatewayInfo,
    outbound: Mutex<HashMap<String, Outbound>>,
    /// Every other gateway known (configured, or learnt), with its URLs: what a new inbound
    /// connection is told about (gossip).
    known: Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    replies: Mutex<Replies>,
    replies_len: AtomicUsize,
    dialer: OnceLock<Sender<GatewayDialMsg>>,
    stopping: AtomicBool,
}

impl Gateways {
    /// The gateway state of server `server_id` in gateway `name`, whose INFO is `info`.
    pub fn new(name: &str, server_id: &str, info: GatewayInfo) -> Gateways {
        let cluster_hash = wire::gw_hash(name);
        let server_hash = wire::gw_hash(server_id);
        Gateways {
            name: name.to_string(),
            reply_prefix: wire::reply_prefix(&cluster_hash, &server_hash),
            cluster_hash,
            server_hash,
            info,
            outbound: Mutex::new(HashMap::new()),
            known: Mutex::new(std::collections::BTreeMap::new()),
            replies: Mutex::new(Replies {
                by_account: HashMap::new(),
                swept: Instant::now(),
            }),
            replies_len: AtomicUsize::new(0),
            dialer: OnceLock::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Our gateway INFO.
    pub fn info(&self) -> GatewayInfo {
        self.info.clone()
    }

    /// Adds what is known of gateway `name` (our own is never recorded).
    pub fn learn(&self, name: &str, urls: &[String]) {
        if name == self.name || name.is_empty() {
            return;
        }
        let mut known = self.known.lock();
        let entry = known.entry(name.to_string()).or_default();
        for url in urls {
            if !entry.contains(url) {
                entry.push(url.clone());
            }
        }
    }

    /// The gossip INFOs for a new inbound connection from gateway `peer`: one per other
    /// gateway known (`gateway_cmd` 1, nats-server `sendGatewayConfigsToRoutes`'s
    /// counterpart on gateways).
    pub fn gossip_for(&self, peer: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, urls) in self.known.lock().iter().filter(|(n, _)| n.as_str() != peer) {
            let info = GatewayInfo {
                gateway: name.clone(),
                gateway_urls: urls.clone(),
                gateway_cmd: wire::CMD_GOSSIP,
                ..self.info.clone()
            };
            out.extend_from_slice(&info.to_line());
        }
        out
    }

    /// Every other gateway known and its URLs (VARZ), by name.
    pub fn known(&self) -> Vec<(String, Vec<String>)> {
        self.known
            .lock()
            .iter()
            .map(|(n, u)| (n.clone(), u.clone()))
            .collect()
    }

    /// The route INFO telling the members of this cluster that this server reached gateway
    /// `name` (nats-server `sendGatewayConfigsToRoutes`: the server id is prefixed with `GW`
    /// so that old servers do not take it for route gossip).
    pub fn route_gossip(&self, name: &str) -> Option<Vec<u8>> {
        let urls = self.known.lock().get(name).cloned()?;
        let info = serde_json::json!({
            "server_id": format!("GW{}", self.info.server_id),
            "server_name": self.info.server_name,
            "version": self.info.version,
            "proto": self.info.proto,
            "go": "",
            "host": "",
            "port": 0,
            "headers": self.info.headers,
            "max_payload": self.info.max_payload,
            "gateway": name,
            "gateway_urls": urls,
            "gateway_cmd": wire::CMD_GOSSIP,
        });
        Some(crate::cluster::wire::json_line(b"INFO ", &info, b"\r\n"))
    }

    /// Registers the outbound connection to `gateway`.
    ///
    /// # Errors
    /// One is registered already (the caller closes this one).
    pub fn register_outbound(&self, gateway: &str, entry: Outbound) -> Result<(), Duplicate> {
        let mut out = self.outbound.lock();
        if out.contains_key(gateway) {
            return Err(Duplicate);
        }
        out.insert(gateway.to_string(), entry);
        Ok(())
    }

    /// Forgets the outbound connection to `gateway` if it is connection `cid`.
    pub fn unregister_outbound(&self, gateway: &str, cid: u64) -> bool {
        let mut out = self.outbound.lock();
        if out.get(gateway).is_some_and(|e| e.link.cid == cid) {
            out.remove(gateway);
            return true;
        }
        false
    }

    /// Whether an outbound connection to `gateway` is registered.
    pub fn has_outbound(&self, gateway: &str) -> bool {
        self.outbound.lock().contains_key(gateway)
    }

    /// The outbound connection to the cluster whose name hashes to `cluster_hash`.
    pub fn outbound_by_hash(&self, cluster_hash: &[u8]) -> Option<Outbound> {
        self.outbound
            .lock()
            .values()
            .find(|e| e.cluster_hash.as_bytes() == cluster_hash)
            .cloned()
    }

    /// The names of the gateways with a registered outbound connection.
    pub fn outbound_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.outbound.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Remembers that `reply` (as delivered here) stands for the mapped subject `full` in
    /// `account`, so that the answer published to `reply` goes back through the gateway
    /// (nats-server `trackGWReply`).
    pub fn track_reply(&self, account: &str, reply: &[u8], full: &[u8]) {
        let mut replies = self.replies.lock();
        let mut len = self.replies_len.load(Ordering::Acquire);
        if let Some(left) = replies.sweep(len >= REPLIES_MAX) {
            len = left;
        }
        if len >= REPLIES_MAX {
            // All still fresh: forget the older half.
            let mut ages: Vec<Instant> = replies
                .by_account
                .values()
                .flat_map(|p| p.values().map(|m| m.at))
                .collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            for per_account in replies.by_account.values_mut() {
                per_account.retain(|_, m| m.at > cutoff);
            }
            len = replies.by_account.values().map(HashMap::len).sum();
        }
        let map = &mut replies.by_account;
        let per_account = match map.get_mut(account) {
            Some(p) => p,
            None => map.entry(account.to_string()).or_default(),
        };
        let mapped = Mapped {
            full: full.into(),
            at: Instant::now(),
        };
        if per_account.insert(reply.into(), mapped).is_none() {
            len += 1;
        }
        self.replies_len.store(len, Ordering::Release);
    }

    /// The mapped subject a publish to `subject` in `account` answers, if it answers a
    /// request that came through a gateway in the last [`REPLY_TTL`]. One atomic load when
    /// nothing is remembered.
    pub fn mapped_reply(&self, account: &str, subject: &[u8]) -> Option<Box<[u8]>> {
        if self.replies_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut replies = self.replies.lock();
        // Expired entries go every couple of seconds, so that once requests stop crossing,
        // publishing is back to one atomic load.
        if let Some(left) = replies.sweep(false) {
            self.replies_len.store(left, Ordering::Release);
        }
        let found = replies.by_account.get(account)?.get(subject)?;
        (found.at.elapsed() < REPLY_TTL).then(|| found.full.clone())
    }

    /// Records the dialer thread's channel (once, at start).
    pub fn set_dialer(&self, tx: Sender<GatewayDialMsg>) {
        let _ = self.dialer.set(tx);
    }

    /// Tells the dialer something without waiting.
    pub fn tell_dialer(&self, msg: GatewayDialMsg) {
        if let Some(tx) = self.dialer.get() {
            let _ = tx.try_send(msg);
        }
    }

    /// The server is shutting down: the dialer stops.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.tell_dialer(GatewayDialMsg::Shutdown);
    }

    /// Whether the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}
