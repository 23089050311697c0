//! Leaf node connections on the worker loop (nats-server `leafnode.go`; spec cluster.md §2):
//! the handshake in both roles, the interest the remote announces (`LS+`/`LS-`), the
//! messages it sends (`LMSG`/`HMSG`) and loop detection.
//!
//! A leaf connection is a route-like [`Conn`]: a [`RouteConn`] whose `leaf` part is set, so
//! the socket, buffers, flush, PING and stall handling are the route's. What differs:
//!
//! ```text
//!  accepted (hub):   INFO sent at once -> AwaitingConnect --CONNECT, auth ok--> Registered
//!                    (connect_info INFO, then LS+ for the account's interest)
//!  solicited:        AwaitingInfo --hub INFO--> CONNECT sent -> AwaitingConnectInfo
//!                    --INFO with connect_info--> Registered (LS+ for local interest)
//! ```
//!
//! Gannet neither compresses leaf connections nor offers to (spec §0.5, §2.6), so a Go
//! peer keeps the link in plain text.

use super::conn::Conn;
use super::timers::{Timer, TimerKind};
use super::{ClosedReason, Worker};
use crate::account::Account;
use crate::auth::perms::{ClientPerms, Entry, Lists};
use crate::auth::AuthStep;
use crate::cluster::interest::RouteLink;
use crate::gofmt::go_quote;
use crate::ids::Slot;
use crate::leaf::interest::{Filter, LinkSpec, Source};
use crate::leaf::wire::{LeafConnect, LeafInfo};
use crate::leaf::{LeafDialMsg, LeafSolicit};
use crate::log;
use crate::sub::{LeafPeer, LeafRole, Remote, Sub, SubRef};
use mio::net::TcpStream;
use protocol::route::{Dialect, RemoteSub, RemoteUnsub, RouteOp, RoutedMsg};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::peer::{link_prefix, RouteConn, RoutePhase};

/// A soliciting server redials after a loop, a same-cluster refusal or a permission
/// violation only after this (nats-server `leafNodeReconnectDelayAfterLoopDetected` and its
/// siblings).
const LONG_REDIAL_DELAY: Duration = Duration::from_secs(30);
/// After a hub refused our version, redial only after this.
const MIN_VERSION_REDIAL_DELAY: Duration = Duration::from_secs(5);
/// How long a solicited connection waits for the hub's answer to its CONNECT.
const CONNECT_INFO_TIMEOUT: Duration = Duration::from_secs(2);
/// Subjects that never cross a leaf connection of a non-system account: the JetStream API
/// stays on each side (nats-server `addLeafNodeConnection` denies them in both directions
/// unless JetStream domains extend across the link; Gannet has no JetStream).
const JS_DENY: &[&str] = &["$JS.API.>", "$KV.>", "$OBJ.>"];
/// The system account also keeps these to itself.
const JS_DENY_SYS: &[&str] = &["$JSC.>", "$NRG.>"];

/// The leaf part of a [`RouteConn`].
#[derive(Debug)]
pub struct LeafSide {
    /// Which end we are.
    pub role: LeafRole,
    /// How we dialed it; `None` when accepted.
    pub solicit: Option<LeafSolicit>,
    /// The local account the connection is bound to, once known.
    pub account: Option<&'static Account>,
    /// The remote's cluster and our role, shared with its interest entries.
    pub peer: Arc<LeafPeer>,
    /// What may cross: `publish` lists what we may send the remote (checked when it announces
    /// interest), `subscribe` what we may receive from it (checked on its messages and before
    /// we announce interest). On a hub these are the leaf user's permissions reversed, as in
    /// nats-server.
    pub perms: Option<Arc<ClientPerms>>,
    /// The account the remote bound the connection to on its side.
    pub remote_account: String,
    /// Other leaf connections' interest is not sent (`isolate_leafnode_interest`).
    pub isolated: bool,
    /// Wait this long before redialing after the connection closes, when the hub refused us
    /// in a way that asks for it.
    pub redial_delay: Option<Duration>,
    /// When the handshake finished.
    pub since: Option<std::time::SystemTime>,
    /// The remote's version (its CONNECT, on a hub).
    pub remote_version: String,
    /// The user the remote authenticated as (on a hub).
    pub user: String,
    /// TLS is being set up on a connection we dialed whose hub does not answer CONNECT with
    /// an INFO: the handshake finishes once TLS is up.
    pub register_after_tls: bool,
    /// Receive decisions by subject (see [`LeafSide::may_receive`]).
    pub recv_cache: std::collections::HashMap<Box<[u8]>, bool>,
    /// The last subject received and its decision.
    pub recv_last: Option<(Box<[u8]>, bool)>,
    /// The remote authenticated through the client authorization rather than the leaf one:
    /// nats-server then reports a CONNECT event for it on the hub too.
    pub via_client_auth: bool,
}

/// Who a leaf's credentials say it is.
struct LeafAuth {
    account: String,
    perms: Option<Arc<ClientPerms>>,
    user: String,
    via_client_auth: bool,
}

impl LeafAuth {
    fn leaf(account: String, user: String) -> LeafAuth {
        LeafAuth {
            account,
            perms: None,
            user,
            via_client_auth: false,
        }
    }

    fn client(identity: crate::auth::Identity) -> LeafAuth {
        LeafAuth {
            account: identity.account,
            perms: identity.perms,
            user: identity.user.unwrap_or_default(),
            via_client_auth: true,
        }
    }
}

impl LeafSide {
    /// The `/leafz` `is_spoke`: this server solicited the connection and is not its hub.
    pub fn is_spoke(&self) -> bool {
        self.role == LeafRole::Spoke
    }

    /// Whether a message on `subject` may come in over this connection, the answer cached
    /// per subject (every connection has at least the JetStream deny rules to match, and a
    /// leaf connection usually carries few subjects).
    fn may_receive(&mut self, subject: &[u8]) -> bool {
        let Some(perms) = self.perms.as_ref() else {
            return true;
        };
        // A stream of messages mostly repeats its subject: one comparison, no hashing.
        if let Some((last, allowed)) = self.recv_last.as_ref() {
            if last.as_ref() == subject {
                return *allowed;
            }
        }
        let allowed = match self.recv_cache.get(subject) {
            Some(&allowed) => allowed,
            None => {
                let allowed = perms.can_subscribe(subject, None);
                if self.recv_cache.len() >= RECV_CACHE_MAX {
                    self.recv_cache.clear();
                }
                self.recv_cache.insert(subject.into(), allowed);
                allowed
            }
        };
        self.recv_last = Some((subject.into(), allowed));
        allowed
    }
}

/// Subjects whose receive permission a leaf connection remembers (as a client's publish
/// permission cache).
const RECV_CACHE_MAX: usize = 128;

/// Whether `version` (`major.minor.patch`, anything after a `-` ignored) is at least `min`
/// (nats-server `versionAtLeast`; an unparsable version is not).
fn version_at_least(version: &str, min: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64, u64)> {
        let core = v.trim_start_matches('v').split('-').next()?;
        let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    match (parts(version), parts(min)) {
        (Some(v), Some(m)) => v >= m,
        _ => false,
    }
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// What the system account's events say about a leaf node connection (`kind` `Leafnode`; on
/// a hub, the remote's user, name and version, as nats-server reports them).
fn leaf_facts(conn: &Conn, route: Option<&RouteConn>) -> crate::msgs::ClientFacts {
    let leaf = route.and_then(|r| r.leaf.as_deref());
    let hub = leaf.is_some_and(|l| !l.is_spoke() && l.solicit.is_none());
    let account = leaf.and_then(|l| l.account);
    crate::msgs::ClientFacts {
        cid: conn.cid,
        start: conn.start_wall,
        host: conn.peer.ip().to_string(),
        account: account.map(|a| a.name.clone()).unwrap_or_default(),
        user: leaf
            .filter(|_| hub)
            .map(|l| l.user.clone())
            .unwrap_or_default(),
        name: route
            .filter(|_| hub)
            .map(|r| r.remote_name.clone())
            .unwrap_or_default(),
        lang: String::new(),
        version: leaf
            .filter(|_| hub)
            .map(|l| l.remote_version.clone())
            .unwrap_or_default(),
        rtt_ns: conn.ping.reported_rtt().map_or(0, |d| d.as_nanos() as i64),
        kind: "Leafnode",
        client_type: "",
        name_tag: account.map(|a| a.name_tag()).unwrap_or_default(),
        jwt: String::new(),
        issuer_key: String::new(),
        tags: Vec::new(),
    }
}

/// Permission lists as the `connect_info` INFO carries them (`{"allow":[…],"deny":[…]}`).
fn lists_json(lists: &Lists) -> serde_json::Value {
    let names = |l: &Vec<Entry>| -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(&e.subject).into_owned())
            .collect()
    };
    let mut side = serde_json::Map::new();
    if let Some(allow) = lists.allow.as_ref().filter(|a| !a.is_empty()) {
        side.insert("allow".into(), names(allow).into());
    }
    if let Some(deny) = lists.deny.as_ref().filter(|d| !d.is_empty()) {
        side.insert("deny".into(), names(deny).into());
    }
    serde_json::Value::Object(side)
}

/// Lists from a permission side received in an INFO.
fn lists_from_json(v: &serde_json::Value) -> Lists {
    let entries = |key: &str| {
        v.get(key).and_then(|l| l.as_array()).map(|l| {
            l.iter()
                .filter_map(|s| s.as_str())
                .map(|s| Entry {
                    subject: s.as_bytes().into(),
                    queue: None,
                })
                .collect()
        })
    };
    Lists {
        allow: entries("allow"),
        deny: entries("deny"),
    }
}

/// Appends `subjects` to the deny list of `lists`.
fn add_deny<'a>(lists: &mut Option<Lists>, subjects: impl IntoIterator<Item = &'a str>) {
    let entries: Vec<Entry> = subjects
        .into_iter()
        .map(|s| Entry {
            subject: s.as_bytes().into(),
            queue: None,
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    lists
        .get_or_insert_with(Lists::default)
        .deny
        .get_or_insert_with(Vec::new)
        .extend(entries);
}

/// The JetStream isolation rules for a connection bound to `account`.
fn js_denies(account: &Account, is_system: bool) -> Vec<&'static str> {
    let _ = account;
    let mut deny: Vec<&'static str> = JS_DENY.to_vec();
    if is_system {
        deny.extend_from_slice(JS_DENY_SYS);
    }
    deny
}

/// A user JWT and seed from a credentials file (the `-----BEGIN …-----` blocks).
fn read_credentials(path: &str) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let block = |begin: &str| -> Option<String> {
        let start = text.find(begin)? + begin.len();
        let rest = &text[start..];
        let rest = &rest[rest.find('\n')? + 1..];
        let end = rest.find("------")?;
        Some(rest[..end].trim().to_string())
    };
    let jwt = block("BEGIN NATS USER JWT").ok_or("no user JWT in credentials")?;
    let seed = block("BEGIN USER NKEY SEED").ok_or("no seed in credentials")?;
    Ok((jwt, seed))
}

/// Signs the hub's nonce with an nkey seed: base64url without padding, as nats-server wants.
fn sign_nonce(seed: &str, nonce: &str) -> Result<(String, String), String> {
    use base64::Engine;
    let kp = nkeys::KeyPair::from_seed(seed.trim()).map_err(|e| e.to_string())?;
    let sig = kp.sign(nonce.as_bytes()).map_err(|e| e.to_string())?;
    Ok((
        kp.public_key(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig),
    ))
}

impl Worker {
    /// Takes over a leaf connection: accepted ones get our INFO at once; dialed ones wait for
    /// the hub's.
    pub(super) fn add_leaf(
        &mut self,
        sock: TcpStream,
        cid: u64,
        peer: SocketAddr,
        solicit: Option<Box<LeafSolicit>>,
    ) {
        let solicit = solicit.map(|s| *s);
        let now = Instant::now();
        let Some((slot, mut conn)) = self.adopt_socket(sock, cid, peer, now) else {
            if let (Some(leafs), Some(s)) = (self.shared.leafs(), solicit.as_ref()) {
                leafs.tell_dialer(LeafDialMsg::Closed {
                    remote: s.remote,
                    delay: self.leaf_reconnect_delay(),
                });
            }
            return;
        };
        let ws_dial = solicit
            .as_ref()
            .and_then(|s| Some((s.websocket.clone()?, s.clone())));
        if let Some((ws, s)) = &ws_dial {
            conn.ws = Some(Box::new(super::ws::WsState::dialing(
                &s.addr,
                &ws.path,
                ws.compress,
                ws.no_masking,
            )));
        }
        self.conns.fill(slot, conn);
        self.start_leaf(slot, solicit, now);
        match ws_dial {
            // wss: TLS first; `leaf_tls_established` sends the upgrade request.
            Some((ws, s)) if ws.tls => {
                self.leaf_tls_session(slot, now, Some(&s));
            }
            Some(_) => self.ws_send_request(slot),
            None => {}
        }
    }

    /// A leaf node dialed the `/leafnode` path of our WebSocket port (the upgrade answered):
    /// the connection becomes an accepted leaf connection, with the leaf port's INFO and
    /// authorization and no TLS of its own (nats-server `createLeafNode` with a websocket).
    pub(super) fn leaf_from_websocket(&mut self, slot: Slot) {
        self.start_leaf(slot, None, Instant::now());
    }

    /// Makes the connection in `slot` a leaf connection: accepted (`solicit` is `None`, our
    /// INFO goes out now) or dialed (waits for the hub's INFO).
    fn start_leaf(&mut self, slot: Slot, solicit: Option<LeafSolicit>, now: Instant) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let (cid, peer, via_ws) = (conn.cid, conn.peer, conn.ws.is_some());
        let max_control_line = self.rt.limits.max_control_line;
        let mut route = RouteConn::new(max_control_line, None);
        route.parser.dialect = Dialect::Leaf;
        let accepted_tls = solicit.is_none()
            && !via_ws
            && self
                .rt
                .opts
                .leafnodes
                .as_ref()
                .is_some_and(|l| l.tls.is_some());
        let (role, deadline, out) = match &solicit {
            None => {
                let nonce = crate::auth::new_nonce();
                route.phase = RoutePhase::AwaitingConnect;
                let timeout = self
                    .rt
                    .opts
                    .leafnodes
                    .as_ref()
                    .map_or(Duration::from_secs(2), |l| l.auth_timeout);
                let mut info = self.leaf_info(cid, &nonce);
                info.ws_connect_urls = self.connect_urls_for(true);
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.nonce = nonce;
                }
                if accepted_tls {
                    let verify = self
                        .rt
                        .opts
                        .leafnodes
                        .as_ref()
                        .and_then(|l| l.tls.as_ref())
                        .is_some_and(|t| t.verify);
                    info.tls_required = true;
                    info.tls_verify = verify;
                }
                (LeafRole::Hub, timeout, info.to_line())
            }
            Some(s) => {
                route.phase = RoutePhase::AwaitingInfo;
                let role = if s.hub {
                    LeafRole::Hub
                } else {
                    LeafRole::Spoke
                };
                (role, s.first_info_timeout, Vec::new())
            }
        };
        // As nats-server `createLeafNode` words it (the trailing space is where it puts the
        // remote's name, not known yet).
        let suffix = solicit
            .as_ref()
            .map(|s| format!(" for account: {}", s.account))
            .unwrap_or_default();
        log::notice(&format!(
            "{peer} - lid:{cid} - Leafnode connection created{suffix} "
        ));
        let isolated = match &solicit {
            None => self.rt.opts.leafnodes.as_ref().is_some_and(|l| l.isolate),
            Some(s) => s.isolate,
        };
        route.leaf = Some(Box::new(LeafSide {
            role,
            solicit,
            account: None,
            peer: Arc::new(LeafPeer {
                cluster: Box::default(),
                role,
            }),
            perms: None,
            remote_account: String::new(),
            isolated,
            redial_delay: None,
            since: None,
            remote_version: String::new(),
            user: String::new(),
            via_client_auth: false,
            register_after_tls: false,
            recv_cache: std::collections::HashMap::new(),
            recv_last: None,
        }));
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.route = Some(Box::new(route));
        let at = now + deadline.min(crate::runtime::TIMER_MAX);
        conn.auth_deadline = Some(at);
        self.routes.push(slot);
        if !out.is_empty() {
            self.queue_out(slot, &out);
        }
        if accepted_tls {
            // The INFO goes out in the clear, then the leaf starts TLS (nats-server: unlike
            // routes, leaf connections are not TLS first).
            self.leaf_tls_session(slot, now, None);
        }
        self.mark_dirty(slot);
        self.timers.schedule(Timer {
            at,
            slot,
            cid,
            kind: TimerKind::Auth,
        });
        let jitter_pct = self.next_random() % 21;
        let first = Duration::from_secs(1) + Duration::from_secs(1) * jitter_pct as u32 / 100;
        self.timers.schedule(Timer {
            at: now + first,
            slot,
            cid,
            kind: TimerKind::Ping,
        });
    }

    /// Our hub INFO for connection `cid` (spec §2.3.1).
    fn leaf_info(&self, cid: u64, nonce: &str) -> LeafInfo {
        let Some(leafs) = self.shared.leafs() else {
            return LeafInfo::default();
        };
        let mut info = leafs.info();
        info.client_id = cid;
        info.nonce = nonce.to_string();
        info.cluster = leafs.cluster_name(self.shared.cluster());
        // Every leaf URL of the cluster, ours first (nats-server `leafnode_urls`), so a leaf
        // can fail over to another member.
        if let (Some(urls), Some(cluster)) = (info.leafnode_urls.as_mut(), self.shared.cluster()) {
            for url in cluster.peer_leaf_urls() {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
        info
    }

    /// The cluster's members changed: each leaf connection this server is the hub of gets
    /// an INFO with the cluster's leaf URLs now (nats-server sends such async INFOs when its
    /// `leafnode_urls` change), so a leaf can fail over to a new member.
    pub(super) fn announce_leaf_urls(&mut self) {
        for i in 0..self.routes.len() {
            let slot = self.routes[i];
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            let hub_side = conn.route.as_deref().is_some_and(|r| {
                r.phase == RoutePhase::Registered
                    && r.leaf.as_ref().is_some_and(|l| l.solicit.is_none())
            });
            if !hub_side {
                continue;
            }
            let (cid, nonce) = (conn.cid, conn.nonce.clone());
            let info = self.leaf_info(cid, &nonce);
            self.flush_route_lines(slot);
            self.queue_out(slot, &info.to_line());
        }
    }

    /// How long to wait before redialing a remote whose connection failed.
    fn leaf_reconnect_delay(&self) -> Duration {
        self.rt
            .opts
            .leafnodes
            .as_ref()
            .map_or(Duration::from_secs(1), |l| l.reconnect)
    }

    /// One op from a leaf connection.
    pub(super) fn leaf_dispatch(&mut self, slot: Slot, op: RouteOp<'_>) {
        let Some(phase) = self
            .conns
            .get(slot)
            .and_then(|c| c.route.as_deref())
            .map(|r| r.phase)
        else {
            return;
        };
        if phase == RoutePhase::AwaitingConnect && !matches!(op, RouteOp::Connect(_)) {
            // The first op on an accepted leaf connection must be CONNECT (spec §0.2).
            self.link_refused(slot, "expected CONNECT first");
            return;
        }
        let registered = phase == RoutePhase::Registered;
        match op {
            RouteOp::Connect(json) => self.leaf_connect_received(slot, json),
            RouteOp::Info(json) => self.leaf_info_received(slot, json),
            RouteOp::Sub(s) if registered => self.leaf_sub(slot, &s),
            RouteOp::Unsub(u) if registered => self.leaf_unsub(slot, &u),
            RouteOp::Msg(m) if registered => self.leaf_msg(slot, &m),
            RouteOp::Sub(_) | RouteOp::Unsub(_) | RouteOp::Msg(_) => {
                // Interest or messages before the connection is bound to an account.
                self.link_refused(slot, "not bound to an account yet");
            }
            RouteOp::Ping => {
                self.flush_route_lines(slot);
                self.queue_out(slot, protocol::encode::PONG);
            }
            RouteOp::Pong => self.link_pong(slot),
            RouteOp::Ok | RouteOp::Ignored => {}
            RouteOp::Err(e) => self.leaf_err_received(slot, e),
        }
    }

    /// `-ERR` from the remote: logged; some texts make a soliciting server wait longer
    /// before redialing (nats-server `leafProcessErr`, spec §2.9). The remote closes.
    fn leaf_err_received(&mut self, slot: Slot, e: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let msg = text(e).into_owned();
        log::error(&format!("{} - Leafnode Error '{msg}'", link_prefix(conn)));
        let long = msg.contains("Loop detected")
            || msg.contains("same cluster name")
            || msg.contains("Permissions Violation");
        let version = msg.contains("minimum version required");
        if let Some(leaf) = conn.route.as_mut().and_then(|r| r.leaf.as_mut()) {
            if long && leaf.solicit.is_some() {
                leaf.redial_delay = Some(LONG_REDIAL_DELAY);
            } else if version && leaf.solicit.is_some() {
                leaf.redial_delay = Some(MIN_VERSION_REDIAL_DELAY);
            }
        }
        if long {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
        }
    }

    /// The remote's CONNECT on an accepted connection: credentials, then the checks of
    /// nats-server `processLeafNodeConnect` in its order (spec §2.5).
    fn leaf_connect_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(connect) = serde_json::from_slice::<LeafConnect>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if conn.route.as_ref().map(|r| r.phase) != Some(RoutePhase::AwaitingConnect) {
            return;
        }
        let nonce = conn.nonce.clone();
        let auth = match self.leaf_authenticate(&connect, &nonce) {
            Ok(found) => found,
            Err(why) => {
                self.link_refused(slot, why);
                return;
            }
        };
        if connect.lang.is_some() {
            self.send_err_and_close(
                slot,
                b"attempted to connect to leaf node port",
                ClosedReason::WrongPort,
            );
            return;
        }
        if connect.cluster.contains(' ') {
            self.send_err_and_close(
                slot,
                b"cluster name cannot contain spaces",
                ClosedReason::ProtocolViolation,
            );
            return;
        }
        let ours = self
            .shared
            .leafs()
            .map(|l| l.cluster_name(self.shared.cluster()))
            .unwrap_or_default();
        if !ours.is_empty() && connect.cluster == ours {
            self.send_err_and_close(
                slot,
                b"remote leafnode has same cluster name",
                ClosedReason::ClusterNameConflict,
            );
            return;
        }
        if !connect.gateway.is_empty() {
            let msg = format!(
                "Rejecting connection from gateway {} on the leafnode port",
                go_quote(&connect.gateway)
            );
            if let Some(conn) = self.conns.get(slot) {
                log::error(&format!("{} - {msg}", link_prefix(conn)));
            }
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::WrongGateway);
            return;
        }
        let min_version = self
            .rt
            .opts
            .leafnodes
            .as_ref()
            .map(|l| l.min_version.clone())
            .unwrap_or_default();
        if !min_version.is_empty() && !version_at_least(&connect.version, &min_version) {
            // The leaf waits 5 s before it dials again (nats-server also sends its
            // connect_info INFO before the error; the error alone is what the leaf acts on).
            let msg = format!(
                "connection rejected since minimum version required is {}",
                go_quote(&min_version)
            );
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::ProtocolViolation);
            return;
        }
        let Some(account) = self.shared.accounts.get(&auth.account) else {
            self.link_refused(slot, "account not found");
            return;
        };
        let perms = auth.perms.clone();
        let is_system = self.shared.system_account_name() == Some(account.name.as_str());
        // The user's permissions, reversed: what the user may subscribe to is what we may
        // send the leaf, what it may publish is what we take from it (nats-server
        // `processLeafNodeConnect`); the remote's `deny_pub` is never sent to it.
        let mut reversed = ClientPerms {
            publish: perms.as_ref().and_then(|p| p.subscribe.clone()),
            subscribe: perms.as_ref().and_then(|p| p.publish.clone()),
            response: None,
        };
        add_deny(
            &mut reversed.publish,
            connect.deny_pub.iter().map(String::as_str),
        );
        let js = js_denies(account, is_system);
        add_deny(&mut reversed.publish, js.iter().copied());
        add_deny(&mut reversed.subscribe, js.iter().copied());
        let connect_info = self.leaf_connect_info(slot, account, is_system, perms.as_deref());
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        route.remote_id = connect.server_id.clone();
        route.remote_name = connect.name.clone();
        route.peer_headers = connect.headers && self.rt.limits.headers;
        let Some(leaf) = route.leaf.as_mut() else {
            return;
        };
        if connect.is_hub {
            leaf.role = LeafRole::Spoke;
        }
        leaf.isolated |= connect.isolate;
        leaf.account = Some(account);
        leaf.remote_version = connect.version.clone();
        leaf.user = auth.user;
        leaf.via_client_auth = auth.via_client_auth;
        leaf.remote_account = connect.remote_account.clone();
        leaf.perms = Some(Arc::new(reversed));
        leaf.recv_cache.clear();
        leaf.recv_last = None;
        leaf.peer = Arc::new(LeafPeer {
            cluster: connect.cluster.as_bytes().into(),
            role: leaf.role,
        });
        self.queue_out(slot, &connect_info);
        self.leaf_register(slot);
    }

    /// The `connect_info` INFO answering a leaf's CONNECT: the bound account and the leaf
    /// user's permissions, which the leaf enforces on its side.
    fn leaf_connect_info(
        &self,
        slot: Slot,
        account: &Account,
        is_system: bool,
        perms: Option<&ClientPerms>,
    ) -> Vec<u8> {
        let cid = self.conns.get(slot).map_or(0, |c| c.cid);
        // nats-server's answer to CONNECT carries no nonce (only the first INFO does).
        let mut info = self.leaf_info(cid, "");
        info.connect_info = true;
        info.remote_account = account.name.clone();
        info.acc_is_sys = is_system;
        if let Some(p) = perms {
            info.import = p.subscribe.as_ref().map(lists_json);
            info.export = p.publish.as_ref().map(lists_json);
        }
        info.to_line()
    }

    /// Who a leaf's credentials are (nats-server `isLeafNodeAuthorized`): the leaf
    /// authorization's single user or nkey, then its users, else the client authentication.
    /// Returns the account and the user's permissions.
    fn leaf_authenticate(
        &self,
        connect: &LeafConnect,
        nonce: &str,
    ) -> Result<LeafAuth, &'static str> {
        let global = || crate::auth::GLOBAL_ACCOUNT.to_string();
        let or_global = |a: &str| {
            if a.is_empty() {
                global()
            } else {
                a.to_string()
            }
        };
        if let Some(lo) = self.rt.opts.leafnodes.as_ref() {
            if !lo.user.is_empty() {
                let ok = connect.user == lo.user
                    && crate::auth::password_matches(&lo.password, &connect.pass);
                return if ok {
                    Ok(LeafAuth::leaf(or_global(&lo.account), lo.user.clone()))
                } else {
                    Err("wrong leafnode credentials")
                };
            }
            if !lo.nkey.is_empty() {
                let ok = connect.nkey == lo.nkey
                    && crate::auth::verify_nonce_signature(&connect.nkey, nonce, &connect.sig);
                return if ok {
                    Ok(LeafAuth::leaf(or_global(&lo.account), lo.nkey.clone()))
                } else {
                    Err("wrong leafnode nkey")
                };
            }
            if !lo.users.is_empty() {
                let user = lo.users.iter().find(|u| u.user == connect.user);
                return match user {
                    Some(u) if crate::auth::password_matches(&u.password, &connect.pass) => {
                        Ok(LeafAuth::leaf(or_global(&u.account), u.user.clone()))
                    }
                    _ => Err("wrong leafnode credentials"),
                };
            }
        }
        let opts = crate::connect::ConnectOpts {
            user: connect.user.clone(),
            pass: connect.pass.clone(),
            auth_token: connect.auth_token.clone(),
            nkey: connect.nkey.clone(),
            sig: connect.sig.clone(),
            jwt: connect.jwt.clone(),
            ..Default::default()
        };
        match self.rt.auth.check(&opts, nonce) {
            AuthStep::Accept(identity) => Ok(LeafAuth::client(identity)),
            AuthStep::VerifyBcrypt { hash, given, then } => {
                // Rare (a leaf connecting): verified here rather than through the auth
                // threads.
                if crate::auth::password_matches(&hash, &given) {
                    Ok(LeafAuth::client(then))
                } else {
                    Err("invalid password")
                }
            }
            AuthStep::Resolve => Err("account not loaded (leaf connections need it preloaded)"),
            AuthStep::Reject(_) => Err("client authentication refused"),
        }
    }

    /// A hub's INFO on a connection we dialed: the first one gets our CONNECT (spec §2.3.2),
    /// the `connect_info` one finishes the handshake; later ones are updates.
    fn leaf_info_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(info) = serde_json::from_slice::<LeafInfo>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let Some(phase) = self
            .conns
            .get(slot)
            .and_then(|c| c.route.as_deref())
            .filter(|r| r.leaf.as_ref().is_some_and(|l| l.solicit.is_some()))
            .map(|r| r.phase)
        else {
            // An INFO on an accepted connection: we never asked for compression.
            return;
        };
        match phase {
            RoutePhase::AwaitingInfo => self.leaf_hub_info(slot, info),
            RoutePhase::Registered => {
                // An update of the hub cluster's leaf URLs.
                let solicit = self
                    .conns
                    .get(slot)
                    .and_then(|c| c.route.as_deref())
                    .and_then(|r| r.leaf.as_deref())
                    .and_then(|l| l.solicit.as_ref())
                    .filter(|s| !s.ignore_discovered)
                    .map(|s| (s.remote, s.websocket.is_some()));
                if let (Some((remote, ws)), Some(leafs)) = (solicit, self.shared.leafs()) {
                    let urls = info.failover_urls(ws);
                    if let Some(urls) = urls {
                        leafs.tell_dialer(LeafDialMsg::Discovered { remote, urls });
                    }
                }
            }
            RoutePhase::AwaitingConnectInfo if info.connect_info => {
                self.leaf_apply_hub_perms(slot, &info);
                if let Some(leaf) = self
                    .conns
                    .get_mut(slot)
                    .and_then(|c| c.route.as_mut())
                    .and_then(|r| r.leaf.as_mut())
                {
                    leaf.remote_account = info.remote_account.clone();
                }
                self.leaf_register(slot);
            }
            _ => {}
        }
    }

    /// The hub's first INFO: checks, then our CONNECT.
    fn leaf_hub_info(&mut self, slot: Slot, info: LeafInfo) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let prefix = link_prefix(conn);
        if !info.is_from_leaf_port() {
            log::error(&format!(
                "{prefix} - Leafnode Error: attempted to connect to wrong port"
            ));
            self.mark_close(slot, ClosedReason::WrongPort);
            return;
        }
        if info.cluster.contains(' ') {
            self.send_err_and_close(
                slot,
                b"cluster name cannot contain spaces",
                ClosedReason::ProtocolViolation,
            );
            return;
        }
        let Some(solicit) = conn
            .route
            .as_ref()
            .and_then(|r| r.leaf.as_ref())
            .and_then(|l| l.solicit.clone())
        else {
            return;
        };
        let Some(account) = self.shared.accounts.get(&solicit.account) else {
            log::error(&format!(
                "{prefix} - Unable to lookup account {} for solicited leafnode connection",
                solicit.account
            ));
            self.mark_close(slot, ClosedReason::AuthenticationViolation);
            return;
        };
        if !solicit.ignore_discovered {
            let urls = info.failover_urls(solicit.websocket.is_some());
            if let (Some(leafs), Some(urls)) = (self.shared.leafs(), urls) {
                leafs.tell_dialer(LeafDialMsg::Discovered {
                    remote: solicit.remote,
                    urls,
                });
            }
        }
        let connect = match self.leaf_connect(&solicit, &info.nonce) {
            Ok(c) => c,
            Err(e) => {
                log::error(&format!("{prefix} - Leafnode credentials: {e}"));
                self.mark_close(slot, ClosedReason::AuthenticationViolation);
                return;
            }
        };
        let is_system = self.shared.system_account_name() == Some(account.name.as_str());
        let mut perms = ClientPerms::default();
        add_deny(
            &mut perms.publish,
            solicit.deny_exports.iter().map(String::as_str),
        );
        add_deny(
            &mut perms.subscribe,
            solicit.deny_imports.iter().map(String::as_str),
        );
        let js = js_denies(account, is_system);
        add_deny(&mut perms.publish, js.iter().copied());
        add_deny(&mut perms.subscribe, js.iter().copied());
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        route.remote_id = info.server_id.clone();
        route.remote_name = info.server_name.clone();
        route.peer_headers = info.headers && self.rt.limits.headers;
        route.phase = if info.info_on_connect {
            RoutePhase::AwaitingConnectInfo
        } else {
            RoutePhase::AwaitingInfo
        };
        let Some(leaf) = route.leaf.as_mut() else {
            return;
        };
        leaf.account = Some(account);
        leaf.perms = Some(Arc::new(perms));
        leaf.recv_cache.clear();
        leaf.recv_last = None;
        leaf.peer = Arc::new(LeafPeer {
            cluster: info.cluster.as_bytes().into(),
            role: leaf.role,
        });
        let cid = conn.cid;
        let at = Instant::now() + CONNECT_INFO_TIMEOUT;
        conn.auth_deadline = Some(at);
        // Over WebSocket, TLS (`wss`) came before the upgrade (nats-server skips it here).
        let with_tls = solicit.websocket.is_none() && (info.tls_required || solicit.tls_configured);
        self.leaf_apply_hub_perms(slot, &info);
        if with_tls {
            // CONNECT waits for the handshake (`route_tls_established` sends it).
            if let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) {
                route.hello = connect.to_line();
                if let Some(leaf) = route.leaf.as_mut() {
                    leaf.register_after_tls = !info.info_on_connect;
                }
            }
            if !self.leaf_tls_session(slot, Instant::now(), Some(&solicit)) {
                return;
            }
            self.mark_dirty(slot);
        } else {
            self.queue_out(slot, &connect.to_line());
        }
        if info.info_on_connect {
            self.timers.schedule(Timer {
                at,
                slot,
                cid,
                kind: TimerKind::Auth,
            });
        } else if !with_tls {
            self.leaf_register(slot);
        }
    }

    /// Starts TLS on a leaf connection: the server side on an accepted one (the listener's
    /// `tls {}`), the client side, checking the dialed host, on one we dialed. Returns false
    /// (and closes the connection) if the session could not be made.
    fn leaf_tls_session(
        &mut self,
        slot: Slot,
        now: Instant,
        solicit: Option<&LeafSolicit>,
    ) -> bool {
        let lo = self.rt.opts.leafnodes.as_ref();
        let session = match solicit {
            None => match lo
                .and_then(|l| l.tls.as_ref())
                .and_then(|t| t.server.as_ref())
            {
                Some(server) => crate::tls::new_session(server)
                    .map(rustls::Connection::Server)
                    .map_err(|e| e.to_string()),
                None => Err("no TLS configuration".to_string()),
            },
            Some(s) => match s.tls.clone() {
                Some(config) => rustls::pki_types::ServerName::try_from(
                    s.host.trim_matches(|c| c == '[' || c == ']').to_string(),
                )
                .map_err(|e| e.to_string())
                .and_then(|name| {
                    rustls::ClientConnection::new(config, name)
                        .map(rustls::Connection::Client)
                        .map_err(|e| e.to_string())
                }),
                None => Err("the hub requires TLS and no TLS configuration could be made".into()),
            },
        };
        let timeout = match solicit {
            Some(s) => s.tls_timeout,
            None => lo
                .and_then(|l| l.tls.as_ref())
                .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout()),
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        let session = match session {
            Ok(session) => session,
            Err(e) => {
                log::error(&format!(
                    "{} - TLS leafnode setup failed: {e}",
                    link_prefix(conn)
                ));
                self.mark_close(slot, ClosedReason::TlsHandshakeError);
                return false;
            }
        };
        let deadline = now + timeout.min(crate::runtime::TIMER_MAX);
        let cid = conn.cid;
        conn.tls = Some(Box::new(super::tls::TlsState {
            session,
            phase: super::tls::TlsPhase::Handshake,
            deadline,
            info_sent: true,
            received_any: false,
            close_notify_sent: false,
            silent: false,
        }));
        self.timers.schedule(Timer {
            at: deadline,
            slot,
            cid,
            kind: TimerKind::Tls,
        });
        true
    }

    /// TLS is up on a leaf connection we dialed: our CONNECT goes out, and the handshake
    /// finishes now if the hub does not answer it with an INFO.
    pub(super) fn leaf_tls_established(&mut self, slot: Slot) {
        if self
            .conns
            .get(slot)
            .and_then(|c| c.ws.as_ref())
            .is_some_and(|ws| ws.is_requesting())
        {
            // wss: TLS is up; now the WebSocket upgrade, then the hub's INFO in frames.
            self.ws_send_request(slot);
            return;
        }
        let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) else {
            return;
        };
        let hello = std::mem::take(&mut route.hello);
        let register = route
            .leaf
            .as_mut()
            .map(|l| std::mem::take(&mut l.register_after_tls))
            .unwrap_or(false);
        if !hello.is_empty() {
            self.queue_out(slot, &hello);
        }
        if register {
            self.leaf_register(slot);
        }
    }

    /// Our CONNECT to a hub, with the credentials of the remote (spec §2.4.2).
    fn leaf_connect(&self, s: &LeafSolicit, nonce: &str) -> Result<LeafConnect, String> {
        let mut c = LeafConnect {
            version: self.rt.info.version.clone(),
            server_id: self.rt.info.server_id.clone(),
            name: self.rt.info.server_name.clone(),
            is_hub: s.hub,
            cluster: self
                .shared
                .leafs()
                .map(|l| l.cluster_name(self.shared.cluster()))
                .unwrap_or_default(),
            headers: self.rt.limits.headers,
            deny_pub: s.deny_imports.clone(),
            isolate: s.request_isolation,
            remote_account: s.account.clone(),
            protocol: 1,
            ..LeafConnect::default()
        };
        if !s.credentials.is_empty() {
            let (jwt, seed) = read_credentials(&s.credentials)?;
            c.jwt = jwt;
            c.sig = sign_nonce(&seed, nonce)?.1;
        } else if !s.seed.is_empty() {
            let (nkey, sig) = sign_nonce(&s.seed, nonce)?;
            c.nkey = nkey;
            c.sig = sig;
        } else if !s.user.is_empty() {
            c.user = s.user.clone();
            if s.pass.is_empty() {
                // A user without password goes as a token too (nats-server `sendLeafConnect`).
                c.auth_token = s.user.clone();
            } else {
                c.pass = s.pass.clone();
            }
        }
        Ok(c)
    }

    /// The hub's `import`/`export` (the permissions of our user there) become ours on this
    /// connection, beside the local deny lists.
    fn leaf_apply_hub_perms(&mut self, slot: Slot, info: &LeafInfo) {
        if info.import.is_none() && info.export.is_none() {
            return;
        }
        let Some(leaf) = self
            .conns
            .get_mut(slot)
            .and_then(|c| c.route.as_mut())
            .and_then(|r| r.leaf.as_mut())
        else {
            return;
        };
        let mut perms = leaf.perms.as_deref().cloned().unwrap_or_default();
        let merge = |lists: &mut Option<Lists>, from: &Option<serde_json::Value>| {
            let Some(v) = from else {
                return;
            };
            let theirs = lists_from_json(v);
            let ours = lists.get_or_insert_with(Lists::default);
            if theirs.allow.is_some() {
                ours.allow = theirs.allow;
            }
            if let Some(deny) = theirs.deny {
                ours.deny.get_or_insert_with(Vec::new).extend(deny);
            }
        };
        merge(&mut perms.publish, &info.export);
        merge(&mut perms.subscribe, &info.import);
        leaf.perms = Some(Arc::new(perms));
        leaf.recv_cache.clear();
        leaf.recv_last = None;
    }

    /// The handshake is done: the connection is told about the interest it may see and
    /// becomes a source of interest itself.
    fn leaf_register(&mut self, slot: Slot) {
        let shared = self.shared.clone();
        let Some(leafs) = shared.leafs() else {
            return;
        };
        let worker = self.id;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let cid = conn.cid;
        conn.auth_deadline = None;
        let prefix = link_prefix(conn);
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        route.phase = RoutePhase::Registered;
        let link = Arc::new(RouteLink::new(worker, slot, cid));
        route.link = Some(link.clone());
        let remote_name = route.remote_name.clone();
        let Some(leaf) = route.leaf.as_mut() else {
            return;
        };
        let Some(account) = leaf.account else {
            return;
        };
        leaf.since = Some(std::time::SystemTime::now());
        let cluster = text(&leaf.peer.cluster).into_owned();
        leafs.interest.add_source(cid, &cluster, leaf.role);
        let spec = LinkSpec {
            link,
            remote_cluster: cluster,
            role: leaf.role,
            isolated: leaf.isolated,
            filter: Filter {
                perms: leaf.perms.clone(),
                deny: Vec::new(),
            },
        };
        let services = shared.accounts.service_import_subjects(account);
        let solicited = leaf.solicit.as_ref().map(|s| s.remote);
        let is_system = shared.system_account_name() == Some(account.name.as_str());
        // Events as nats-server sends them: the account's CONNS pair always, and a CONNECT
        // for a leaf it solicited or one that used the client authorization.
        let connect_event = leaf.solicit.is_some() || leaf.via_client_auth;
        let hub = leaf.role == crate::sub::LeafRole::Hub;
        account.num_leafs.fetch_add(1, Ordering::AcqRel);
        if let (Some(sys), Some(conn)) = (shared.sys(), self.conns.get(slot)) {
            let event = if connect_event {
                crate::msgs::SysEvent::Connect(leaf_facts(conn, conn.route.as_deref()))
            } else {
                crate::msgs::SysEvent::AccountConns(account)
            };
            sys.report(event);
            // With gateways, a hub tells the other clusters, which then treat the account as
            // interest-only (nats-server `sendLeafNodeConnect`; spec cluster.md §4.8).
            if hub && shared.gateways().is_some() {
                sys.report(crate::msgs::SysEvent::LeafnodeConnect(account));
            }
        }
        self.shared
            .wake_workers(leafs.interest.attach(&account.name, spec, &services));
        if let Some(remote) = solicited {
            leafs.tell_dialer(LeafDialMsg::Connected { remote });
        }
        if is_system {
            log::notice(&format!(
                "{prefix} - System account connected from {remote_name}"
            ));
        }
        crate::debug!(
            "{prefix} - Leafnode registered for account: {} {remote_name}",
            account.name
        );
        self.flush_route_lines(slot);
    }

    /// `LS+`: loop detection, then the remote's interest becomes an entry in the account's
    /// sublist, passed on to the other leaf connections and, on a hub, to the routes
    /// (nats-server `processLeafSub`).
    fn leaf_sub(&mut self, slot: Slot, s: &RemoteSub<'_>) {
        let shared = self.shared.clone();
        let Some(leafs) = shared.leafs() else {
            return;
        };
        let worker = self.id;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let (cid, gate) = (conn.cid, conn.stall_gate.clone());
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        let peer_headers = route.peer_headers;
        let Some(leaf) = route.leaf.as_ref() else {
            return;
        };
        let Some(account) = leaf.account else {
            return;
        };
        let (role, peer) = (leaf.role, leaf.peer.clone());
        if s.subject.starts_with(b"$LDS.")
            && s.subject == leafs.interest.lds(&account.name).as_bytes()
        {
            self.leaf_loop(slot, &account.name);
            return;
        }
        let checked = !(s.subject.starts_with(b"$LDS.")
            || s.subject.starts_with(b"_GR_.")
            || s.subject.starts_with(b"$GR."));
        let allowed = leaf.perms.as_ref().is_none_or(|p| {
            !checked || protocol::subject::has_wildcard(s.subject) || p.can_publish(s.subject)
        });
        if !allowed {
            if role == LeafRole::Hub {
                let msg = format!(
                    "Permissions Violation for Subscription to {}",
                    go_quote(&text(s.subject))
                );
                self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::ProtocolViolation);
            }
            return;
        }
        let key = (
            Box::<[u8]>::default(),
            s.subject.into(),
            s.queue.map(Into::into),
        );
        let weight = if s.queue.is_some() {
            s.weight.max(1)
        } else {
            1
        };
        let delta = match route.remote_subs.get(&key) {
            Some(existing) => {
                let Some(remote) = &existing.remote else {
                    return;
                };
                let old = remote.weight.swap(weight, Ordering::Relaxed);
                i64::from(weight) - i64::from(old)
            }
            None => {
                let at = crate::sub::LinkAddr {
                    worker,
                    slot,
                    cid,
                    gate,
                    headers: peer_headers,
                };
                let remote = Remote {
                    account: Box::default(),
                    weight: AtomicU32::new(weight),
                    kind: crate::sub::RemoteKind::Leaf(peer),
                };
                let sub = Arc::new(Sub::remote(at, s.subject, s.queue, remote));
                if account
                    .sublist
                    .insert(s.subject, s.queue, SubRef(sub.clone()))
                    .is_err()
                {
                    return;
                }
                route.remote_subs.insert(key, sub);
                i64::from(weight)
            }
        };
        self.leaf_interest_changed(&account.name, s.subject, s.queue, delta, cid, role);
    }

    /// Passes a leaf connection's interest change on: to the other leaf connections, and on
    /// a hub to the routes, which see it as this server's own.
    fn leaf_interest_changed(
        &self,
        account: &str,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
        cid: u64,
        role: LeafRole,
    ) {
        if let Some(leafs) = self.shared.leafs() {
            self.shared.wake_workers(leafs.interest.change(
                account,
                subject,
                queue,
                delta,
                Source::Leaf(cid),
            ));
        }
        if role == LeafRole::Hub {
            if let Some(cluster) = self.shared.cluster() {
                self.shared
                    .wake_workers(cluster.interest.change(account, subject, queue, delta));
            }
        }
    }

    /// Our own loop detection subject came back: the interest went around a cycle (spec
    /// §2.9).
    fn leaf_loop(&mut self, slot: Slot, account: &str) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let msg = format!(
            "Loop detected for leafnode account={}. Delaying attempt to reconnect for 30s",
            go_quote(account)
        );
        log::error(&format!("{} - {msg}", link_prefix(conn)));
        if let Some(leaf) = conn.route.as_mut().and_then(|r| r.leaf.as_mut()) {
            if leaf.solicit.is_some() {
                leaf.redial_delay = Some(LONG_REDIAL_DELAY);
            }
        }
        self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::ProtocolViolation);
    }

    /// `LS-`: the remote's interest goes; an unknown key is ignored.
    fn leaf_unsub(&mut self, slot: Slot, u: &RemoteUnsub<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let cid = conn.cid;
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        let key = (
            Box::<[u8]>::default(),
            u.subject.into(),
            u.queue.map(Into::into),
        );
        let Some(sub) = route.remote_subs.remove(&key) else {
            return;
        };
        let Some(leaf) = route.leaf.as_ref() else {
            return;
        };
        let (Some(account), role) = (leaf.account, leaf.role) else {
            return;
        };
        sub.closed.store(true, Ordering::Relaxed);
        let _ = account
            .sublist
            .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        let weight = sub.weight();
        self.leaf_interest_changed(
            &account.name,
            &sub.subject,
            sub.queue.as_deref(),
            -(weight as i64),
            cid,
            role,
        );
    }

    /// `LMSG`/`HMSG`: checked against what we may receive, then routed like a client's
    /// message on a hub, or kept off the routes on a spoke (spec §2.8).
    fn leaf_msg(&mut self, slot: Slot, m: &RoutedMsg<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.in_msgs += 1;
        conn.in_bytes += m.data.len() as u64;
        let cid = conn.cid;
        let Some(leaf) = conn.route.as_mut().and_then(|r| r.leaf.as_mut()) else {
            return;
        };
        let Some(account) = leaf.account else {
            return;
        };
        let (role, peer) = (leaf.role, leaf.peer.clone());
        let allowed = leaf.may_receive(m.subject);
        if !allowed {
            if role == LeafRole::Hub {
                self.send_err_and_close(
                    slot,
                    &protocol::errors::pub_violation(m.subject),
                    ClosedReason::ProtocolViolation,
                );
            }
            return;
        }
        let origin = super::route::Origin::Leaf {
            cid,
            queues: m.queues,
            cluster: &peer.cluster,
            role,
        };
        self.link_msg_in(slot, account, m, origin);
    }

    /// A leaf connection closed: its interest leaves the sublist and the other links, and a
    /// solicited one is dialed again.
    pub(super) fn leaf_closed(&mut self, conn: &mut Conn, route: RouteConn, reason: ClosedReason) {
        let facts = (route.phase == RoutePhase::Registered).then(|| leaf_facts(conn, Some(&route)));
        let Some(leaf) = route.leaf else {
            return;
        };
        let cid = conn.cid;
        if let (Some(account), Some(facts)) = (leaf.account, facts) {
            account.num_leafs.fetch_sub(1, Ordering::AcqRel);
            if let Some(sys) = self.shared.sys() {
                sys.report(crate::msgs::SysEvent::Disconnect {
                    client: facts,
                    sent: (conn.in_msgs, conn.in_bytes),
                    received: (conn.out_msgs, conn.out_bytes),
                    reason: reason.as_str().to_string(),
                });
            }
        }
        if let Some(account) = leaf.account {
            for (_, sub) in route.remote_subs {
                sub.closed.store(true, Ordering::Relaxed);
                let _ = account.sublist.remove(
                    &sub.subject,
                    sub.queue.as_deref(),
                    &SubRef(sub.clone()),
                );
                self.leaf_interest_changed(
                    &account.name,
                    &sub.subject,
                    sub.queue.as_deref(),
                    -(sub.weight() as i64),
                    cid,
                    leaf.role,
                );
            }
            if let Some(leafs) = self.shared.leafs() {
                leafs.interest.detach(&account.name, cid);
            }
        }
        log::notice(&format!(
            "{} - Leafnode connection closed: {} - Remote: {}",
            link_prefix(conn),
            reason.as_str(),
            route.remote_name
        ));
        let Some(solicit) = leaf.solicit else {
            return;
        };
        let Some(leafs) = self.shared.leafs().filter(|l| !l.is_stopping()) else {
            return;
        };
        leafs.tell_dialer(LeafDialMsg::Closed {
            remote: solicit.remote,
            delay: leaf
                .redial_delay
                .unwrap_or_else(|| self.leaf_reconnect_delay()),
        });
    }

    /// The leaf PING timer: every `ping_interval`, closing after `ping_max` unanswered
    /// (spec §0.4).
    pub(super) fn leaf_ping_timer(&mut self, slot: Slot, now: Instant) {
        let interval = self.rt.limits.ping_interval.max(Duration::from_millis(1));
        let ping_max = self.rt.limits.ping_max;
        self.link_ping_tick(slot, now, interval, ping_max);
    }
}

#[cfg(test)]
mod tests {
    use super::version_at_least;

    #[test]
    fn versions_compare_as_nats_server() {
        assert!(version_at_least("2.15.1", "2.8.0"));
        assert!(version_at_least("2.8.0", "2.8.0"));
        assert!(!version_at_least("2.7.9", "2.8.0"));
        assert!(version_at_least("2.11.0-beta.1", "2.10.9"));
        assert!(!version_at_least("", "2.8.0"));
        assert!(!version_at_least("junk", "2.8.0"));
    }
}
