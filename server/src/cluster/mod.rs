//! What the threads share about the cluster: the registered routes by remote server id, the
//! local interest announced to them ([`interest`]), the route INFO template, and the client
//! URLs of every member that clients get in `connect_urls`.
//!
//! Registration happens on a route's first INFO (never on CONNECT: a Go peer opens parallel
//! connections with the same CONNECT name and rejects some of them, spec cluster.md §1.6.4),
//! under one lock, so two connections to the same server cannot both register (the second is
//! closed as a duplicate, §1.8). Nothing here is touched per message.

pub mod interest;
pub mod wire;

use crate::ids::WorkerId;
use crossbeam_channel::Sender;
use interest::{Interest, RouteLink};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use wire::RouteInfo;

/// A registered route.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// Where its protocol lines go.
    pub link: Arc<RouteLink>,
    /// The peer's server name.
    pub name: String,
    /// The peer's client URLs (dropped from ours while it is in lame duck mode).
    pub connect_urls: Vec<String>,
    /// The peer's WebSocket URLs, likewise.
    pub ws_connect_urls: Vec<String>,
    /// The peer's leaf node URL, if it has a leaf listener it advertises.
    pub leafnode_urls: Vec<String>,
    /// The peer entered lame duck mode.
    pub ldm: bool,
    /// Where to dial the peer (`host:port`).
    pub dial_addr: String,
    /// This server dialed it.
    pub solicited: bool,
    /// The configured route URL it was dialed from, if any.
    pub explicit_url: Option<String>,
    /// Dial the peer again when this route drops, although it was accepted: a connection of
    /// ours to the same peer was closed as its duplicate (nats-server `handleDuplicateRoute`).
    pub retry: bool,
}

impl RouteEntry {
    /// Whether this server redials the peer when the route drops without a configured URL:
    /// it dialed the route itself (from gossip), or it gave up its own dial for this one.
    pub fn redial_implicitly(&self) -> bool {
        self.explicit_url.is_none() && (self.solicited || self.retry)
    }
}

/// How a dialed connection came about, carried to the worker with the socket.
#[derive(Debug, Clone)]
pub struct Solicit {
    /// `host:port` dialed.
    pub addr: String,
    /// The configured URL (explicit routes), as written.
    pub url: Option<String>,
    /// Credentials for the CONNECT.
    pub user: String,
    /// Credentials for the CONNECT.
    pub pass: String,
    /// The gossip mode to put in our INFO on this connection (implicit routes, §1.9.2).
    pub gossip_mode: u8,
    /// For a route dialed because of gossip: the server announced.
    pub server_id: Option<String>,
}

/// What workers tell the route dialer thread.
#[derive(Debug)]
pub enum DialerMsg {
    /// A peer announced a server (gossip): dial it unless connected.
    Gossip {
        /// Its server id.
        server_id: String,
        /// Where to dial it.
        addr: String,
        /// Its gossip mode, copied into our INFO to it.
        gossip_mode: u8,
        /// Credentials to add (the gossip said `auth_required`).
        auth: bool,
    },
    /// A solicited connection registered (or lost as a duplicate of `server_id`).
    Connected {
        /// The configured URL it was dialed from, if any.
        url: Option<String>,
        /// The server behind it.
        server_id: String,
    },
    /// A route connection closed.
    Closed {
        /// The peer's id, if it had sent an INFO.
        server_id: Option<String>,
        /// The configured URL it was dialed from.
        url: Option<String>,
        /// The peer turned out to be this server: never dial that URL again.
        to_self: bool,
        /// Dial the peer again at this address (a registered route this server dialed
        /// because of gossip, or one marked for retry), or go on with the attempts of a
        /// gossip dial whose handshake failed (`server_id` set, not registered).
        redial: Option<String>,
    },
    /// A reload changed the configured routes: dial the new ones, stop redialing the
    /// removed ones.
    Routes(Vec<crate::opts::RouteUrl>),
    /// Stop.
    Shutdown,
}

/// What to do with a peer's cluster name (nats-server `processRouteConnect`,
/// `processRouteInfo`; spec cluster.md §1.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCheck {
    /// The same name.
    Same,
    /// Ours was generated and theirs wins: take it.
    Adopt,
    /// Different, and ours stays: refuse the peer.
    Reject,
}

/// The cluster's name: configured, or generated ("dynamic") until a peer's wins.
#[derive(Debug, Clone)]
struct Name {
    name: String,
    dynamic: bool,
}

/// The cluster state shared by the threads.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster name, and whether it was generated.
    name: parking_lot::RwLock<Name>,
    /// Local interest and the routes it goes to.
    pub interest: Interest,
    /// Our route INFO (no nonce; per connection fields are filled in by the worker).
    info: parking_lot::RwLock<RouteInfo>,
    /// `cluster.permissions` compiled: `publish` holds the import lists (what we ask peers
    /// for), `subscribe` the export lists (what peers may ask us for), as nats-server maps
    /// them (`setRoutePermissions`). A reload may replace them.
    perms: parking_lot::RwLock<Option<crate::auth::perms::ClientPerms>>,
    /// Bumped when a reload changed the permissions: workers drop the peers' interest that
    /// is no longer exportable.
    perms_gen: AtomicU64,
    /// Route TLS, when `cluster { tls {} }` is configured: every route handshakes first.
    pub tls: Option<crate::tls::build::RouteTls>,
    /// Our own client URLs, first in every `connect_urls`.
    own_urls: Vec<String>,
    /// Our own WebSocket URLs, first in every WebSocket client's `connect_urls`.
    own_ws_urls: Vec<String>,
    /// Do not put other members' URLs in client INFO (`cluster.no_advertise`).
    no_advertise: bool,
    routes: Mutex<HashMap<String, RouteEntry>>,
    /// Bumped whenever the cluster's client URLs change; workers compare it once per loop
    /// iteration and send protocol-1 clients an async INFO.
    urls_gen: AtomicU64,
    dialer: OnceLock<Sender<DialerMsg>>,
    /// Set at shutdown: the dialer stops (it looks at least once a second, so a full channel
    /// cannot keep it running).
    stopping: std::sync::atomic::AtomicBool,
}

/// Registering found a route to the same server already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

impl Cluster {
    /// The cluster of a server whose route INFO is `info`, with client URLs `own_urls`.
    pub fn new(
        info: RouteInfo,
        own_urls: Vec<String>,
        no_advertise: bool,
        tls: Option<crate::tls::build::RouteTls>,
        perms: Option<crate::auth::perms::ClientPerms>,
    ) -> Cluster {
        Cluster {
            name: parking_lot::RwLock::new(Name {
                name: info.cluster.clone(),
                dynamic: info.cluster_dynamic,
            }),
            interest: Interest::with_import(perms.clone()),
            perms: parking_lot::RwLock::new(perms),
            perms_gen: AtomicU64::new(0),
            own_ws_urls: info.ws_connect_urls.clone(),
            info: parking_lot::RwLock::new(info),
            tls,
            own_urls,
            no_advertise,
            routes: Mutex::new(HashMap::new()),
            urls_gen: AtomicU64::new(0),
            dialer: OnceLock::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The cluster name now.
    pub fn name(&self) -> String {
        self.name.read().name.clone()
    }

    /// Whether the name was generated (no peer's name adopted, none configured).
    pub fn name_is_dynamic(&self) -> bool {
        self.name.read().dynamic
    }

    /// Compares a peer's cluster name with ours and takes it when it wins (a generated name
    /// gives way to a configured one, and of two generated names the greater wins), in one
    /// step so that two peers' names cannot both win. On `Adopt` the caller closes the other
    /// routes ([`Cluster::other_links`]): they reconnect under the new name, as nats-server
    /// does.
    pub fn check_name(&self, theirs: &str, theirs_dynamic: bool) -> NameCheck {
        let mut ours = self.name.write();
        if theirs.is_empty() || theirs == ours.name {
            return NameCheck::Same;
        }
        if !(ours.dynamic && (!theirs_dynamic || ours.name.as_str() < theirs)) {
            return NameCheck::Reject;
        }
        ours.name = theirs.to_string();
        ours.dynamic = theirs_dynamic;
        drop(ours);
        crate::log::notice(&format!("Cluster name updated to {theirs}"));
        self.urls_gen.fetch_add(1, Ordering::AcqRel);
        NameCheck::Adopt
    }

    /// The links of every route but connection `keep`.
    pub fn other_links(&self, keep: u64) -> Vec<Arc<RouteLink>> {
        self.routes
            .lock()
            .values()
            .filter(|e| e.link.cid != keep)
            .map(|e| e.link.clone())
            .collect()
    }

    /// Our route INFO with the current cluster name.
    pub fn route_info(&self) -> RouteInfo {
        let name = self.name.read();
        RouteInfo {
            cluster: name.name.clone(),
            cluster_dynamic: name.dynamic,
            ..self.info.read().clone()
        }
    }

    /// Whether a peer may have `subject` from us (`cluster.permissions.export`; nats-server
    /// `canExport`).
    pub fn exports(&self, subject: &[u8]) -> bool {
        self.perms
            .read()
            .as_ref()
            .is_none_or(|p| p.can_subscribe(subject, None))
    }

    /// Changes when a reload changed the route permissions.
    pub fn perms_gen(&self) -> u64 {
        self.perms_gen.load(Ordering::Acquire)
    }

    /// A reload changed `cluster.permissions` (nats-server `reloadClusterPermissions`): every
    /// route gets our INFO with the new `import`/`export`, then `RS+`/`RS-` for the interest
    /// that became (un)importable; each worker drops the peers' interest that is no longer
    /// exportable. Returns the workers to wake.
    pub fn set_permissions(
        &self,
        config: Option<&crate::auth::config::Permissions>,
    ) -> interest::WakeMask {
        let perms = config.map(crate::auth::perms::ClientPerms::compile);
        let line = {
            let mut info = self.info.write();
            info.import = config.and_then(|p| p.publish.as_ref()).map(permission_json);
            info.export = config
                .and_then(|p| p.subscribe.as_ref())
                .map(permission_json);
            drop(info);
            self.route_info().to_line()
        };
        let mut mask = self.interest.broadcast(&line);
        *self.perms.write() = perms.clone();
        self.perms_gen.fetch_add(1, Ordering::AcqRel);
        mask |= self.interest.set_import(perms);
        mask
    }

    /// The server is shutting down: the dialer stops.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.tell_dialer(DialerMsg::Shutdown);
    }

    /// Whether the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A connection of ours to `server_id` was closed as a duplicate of the registered one:
    /// redial the peer if that one drops.
    pub fn mark_retry(&self, server_id: &str) {
        if let Some(entry) = self.routes.lock().get_mut(server_id) {
            entry.retry = true;
        }
    }

    /// Records the dialer thread's channel (once, at start).
    pub fn set_dialer(&self, tx: Sender<DialerMsg>) {
        let _ = self.dialer.set(tx);
    }

    /// Tells the dialer thread something, without waiting (a full channel drops it: the
    /// dialer also re-checks its routes every second).
    pub fn tell_dialer(&self, msg: DialerMsg) {
        if let Some(tx) = self.dialer.get() {
            let _ = tx.try_send(msg);
        }
    }

    /// Registers a route to `server_id`; its interest exchange starts (the link gets the
    /// whole local interest table).
    ///
    /// # Errors
    /// A route to that server is registered already.
    pub fn register(&self, server_id: &str, entry: RouteEntry) -> Result<(), Duplicate> {
        let mut routes = self.routes.lock();
        if routes.contains_key(server_id) {
            return Err(Duplicate);
        }
        self.interest.attach(entry.link.clone());
        let urls_change = !entry.connect_urls.is_empty() || !entry.ws_connect_urls.is_empty();
        routes.insert(server_id.to_string(), entry);
        drop(routes);
        if urls_change {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Forgets the route to `server_id` if it is connection `cid`.
    pub fn unregister(&self, server_id: &str, cid: u64) -> Option<RouteEntry> {
        let mut routes = self.routes.lock();
        if routes.get(server_id).is_none_or(|e| e.link.cid != cid) {
            return None;
        }
        let entry = routes.remove(server_id)?;
        drop(routes);
        self.interest.detach(&entry.link);
        if !entry.connect_urls.is_empty() || !entry.ws_connect_urls.is_empty() {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        Some(entry)
    }

    /// The peer `server_id` entered lame duck mode: its client URLs leave ours.
    pub fn peer_lame_duck(&self, server_id: &str) {
        let mut routes = self.routes.lock();
        if let Some(entry) = routes.get_mut(server_id).filter(|e| !e.ldm) {
            entry.ldm = true;
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether a route to `server_id` is registered.
    pub fn is_registered(&self, server_id: &str) -> bool {
        self.routes.lock().contains_key(server_id)
    }

    /// How many servers this one has a route to.
    pub fn peer_count(&self) -> usize {
        self.routes.lock().len()
    }

    /// Changes whenever [`Cluster::client_urls`] does.
    pub fn urls_gen(&self) -> u64 {
        self.urls_gen.load(Ordering::Acquire)
    }

    /// The link of the route to the server whose id hashes to `server_hash` (`getGWHash`):
    /// where a mapped reply for another server of this cluster goes (spec cluster.md §3.5).
    pub fn route_by_hash(&self, server_hash: &[u8]) -> Option<Arc<RouteLink>> {
        self.routes
            .lock()
            .iter()
            .find(|(id, _)| crate::gateway::wire::gw_hash(id).as_bytes() == server_hash)
            .map(|(_, e)| e.link.clone())
    }

    /// The members' leaf node URLs (for a hub's `leafnode_urls`), sorted by member name.
    pub fn peer_leaf_urls(&self) -> Vec<String> {
        let routes = self.routes.lock();
        let mut peers: Vec<&RouteEntry> = routes.values().filter(|e| !e.ldm).collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        peers
            .into_iter()
            .flat_map(|e| e.leafnode_urls.iter().cloned())
            .collect()
    }

    /// The `connect_urls` for client INFO: ours first, then the members' (nats-server
    /// `getClientConnectURLs` plus the route-learnt ones), without repeats.
    pub fn client_urls(&self) -> Vec<String> {
        self.urls_of(&self.own_urls, |e| &e.connect_urls)
    }

    /// The same for WebSocket clients (and VARZ `ws_connect_urls`): the members' WebSocket
    /// listeners.
    pub fn ws_urls(&self) -> Vec<String> {
        self.urls_of(&self.own_ws_urls, |e| &e.ws_connect_urls)
    }

    fn urls_of(&self, own: &[String], of: impl Fn(&RouteEntry) -> &Vec<String>) -> Vec<String> {
        let mut urls = own.to_vec();
        if self.no_advertise {
            return urls;
        }
        let routes = self.routes.lock();
        let mut peers: Vec<&RouteEntry> = routes.values().filter(|e| !e.ldm).collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        for url in peers.into_iter().flat_map(|e| of(e).iter()) {
            if !urls.contains(url) {
                urls.push(url.clone());
            }
        }
        urls
    }
}

/// A permission side as route INFO carries it: `{"allow":[…],"deny":[…]}`, empty lists left
/// out.
pub fn permission_json(p: &crate::auth::config::SubjectPermission) -> serde_json::Value {
    let mut side = serde_json::Map::new();
    if let Some(allow) = p.allow.as_ref().filter(|a| !a.is_empty()) {
        side.insert("allow".into(), allow.clone().into());
    }
    if let Some(deny) = p.deny.as_ref().filter(|d| !d.is_empty()) {
        side.insert("deny".into(), deny.clone().into());
    }
    serde_json::Value::Object(side)
}

/// Workers to wake after interest or gossip lines were queued for their routes.
pub fn workers_in(mask: interest::WakeMask, count: usize) -> impl Iterator<Item = WorkerId> {
    (0..count)
        .filter(move |w| mask & (1 << (w % 64)) != 0)
        .map(WorkerId)
}
