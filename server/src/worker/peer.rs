//! Route connections (another server of the cluster) on the worker loop: the handshake, the
//! interest a peer announces (`RS+`/`RS-`) and the messages it forwards (`RMSG`/`HMSG`).
//!
//! A route is a [`Conn`] with a [`RouteConn`] beside the client fields it does not use: the
//! socket, buffers, flush, PING and write-stall handling are the client's. What differs
//! (spec cluster.md §1):
//!
//! ```text
//!  accepted:  INFO sent at once -> AwaitingConnect --CONNECT ok--> AwaitingInfo
//!  dialed:    CONNECT + INFO sent at once ----------------------> AwaitingInfo
//!  AwaitingInfo --first INFO, checks, registered--> Registered (interest exchanged)
//! ```
//!
//! A route registers on the peer's first INFO, never on its CONNECT (nats-server
//! `processRouteInfo`/`addRoute`): a Go peer opens a second connection with the same CONNECT
//! name for its pinned system account and rejects it after our INFO, so only the INFO says
//! which connection is the route. A peer's interest becomes a [`Sub`] with a [`Remote`] part
//! in the account's sublist, pointing at this connection, so routing delivers to it like to
//! a client; `route.rs` turns such deliveries into one `RMSG` per route.

use super::conn::Conn;
use super::timers::{Timer, TimerKind};
use super::{ClosedReason, Worker};
use crate::cluster::interest::RouteLink;
use crate::cluster::wire::{RouteConnect, RouteInfo};
use crate::cluster::{DialerMsg, RouteEntry, Solicit};
use crate::gofmt::go_quote;
use crate::ids::Slot;
use crate::log;
use crate::sub::{Remote, Sub, SubRef};
use mio::net::TcpStream;
use protocol::route::{RemoteSub, RemoteUnsub, RouteOp, RouteParser, RoutedMsg};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Route control lines may be 16 times a client's (nats-server `overMaxControlLineLimit`).
const ROUTE_CONTROL_LINE_FACTOR: usize = 16;
/// Largest routed message accepted: the peer checked its client's `max_payload`; this only
/// bounds what a broken peer can make us buffer.
const ROUTED_PAYLOAD_MAX: usize = 64 * 1024 * 1024;
/// Routes PING at least this often (nats-server caps `cluster.ping_interval` here).
const ROUTE_PING_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// The first PING of a route goes out after this (plus up to 20 %).
const ROUTE_FIRST_PING: Duration = Duration::from_secs(1);
/// Route handshake without `cluster.authorization`: a peer that neither sends CONNECT nor
/// INFO within this is dropped.
const ROUTE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a route connection is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePhase {
    /// Accepted: the peer's CONNECT must come first.
    AwaitingConnect,
    /// CONNECT done (or we dialed): waiting for the peer's first INFO.
    AwaitingInfo,
    /// A leaf connection we dialed sent its CONNECT: waiting for the hub's INFO answering it.
    AwaitingConnectInfo,
    /// Registered under the peer's server id; interest and messages flow.
    Registered,
}

/// A peer's interest key: account, subject, queue.
type RemoteKey = (Box<[u8]>, Box<[u8]>, Option<Box<[u8]>>);

/// The route side of a [`Conn`].
#[derive(Debug)]
pub struct RouteConn {
    /// The server-protocol parser.
    pub parser: RouteParser,
    /// Handshake progress.
    pub phase: RoutePhase,
    /// How we dialed it; `None` when accepted.
    pub solicit: Option<Solicit>,
    /// The peer's server id (its CONNECT `name` until its INFO arrives).
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// Where interest lines for the peer are queued, once registered.
    pub link: Option<Arc<RouteLink>>,
    /// What the peer subscribed to, by key.
    pub remote_subs: HashMap<RemoteKey, Arc<Sub>>,
    /// The peer takes `HMSG`.
    pub peer_headers: bool,
    /// Our first lines (CONNECT and INFO, or INFO), held back until route TLS is up.
    pub hello: Vec<u8>,
    /// The account of the last routed message (accounts live as long as the process).
    pub last_account: Option<&'static crate::account::Account>,
    /// Set when the connection is a leaf node connection rather than a route.
    pub leaf: Option<Box<super::leaf::LeafSide>>,
    /// Set when the connection is a gateway connection rather than a route.
    pub gateway: Option<Box<super::gateway::GatewaySide>>,
}

impl RouteConn {
    pub(super) fn new(max_control_line: usize, solicit: Option<Solicit>) -> RouteConn {
        let phase = if solicit.is_some() {
            RoutePhase::AwaitingInfo
        } else {
            RoutePhase::AwaitingConnect
        };
        RouteConn {
            parser: RouteParser::new(
                max_control_line.saturating_mul(ROUTE_CONTROL_LINE_FACTOR),
                ROUTED_PAYLOAD_MAX,
            ),
            phase,
            solicit,
            remote_id: String::new(),
            remote_name: String::new(),
            link: None,
            remote_subs: HashMap::new(),
            peer_headers: false,
            hello: Vec::new(),
            last_account: None,
            leaf: None,
            gateway: None,
        }
    }

    /// Whether this is a leaf node connection.
    pub fn is_leaf(&self) -> bool {
        self.leaf.is_some()
    }

    /// Whether this is a gateway connection.
    pub fn is_gateway(&self) -> bool {
        self.gateway.is_some()
    }

    /// Whether this is a route (neither a leaf node nor a gateway connection).
    pub fn is_route(&self) -> bool {
        self.leaf.is_none() && self.gateway.is_none()
    }

    /// Whether this server dialed the connection.
    pub fn did_solicit(&self) -> bool {
        self.solicit.is_some()
    }

    /// Whether it was dialed from a configured route URL.
    pub fn is_configured(&self) -> bool {
        self.solicit.as_ref().is_some_and(|s| s.url.is_some())
    }
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl Worker {
    /// Takes over a route connection: accepted ones get our INFO at once, dialed ones our
    /// CONNECT and INFO (spec §1.2).
    pub(super) fn add_route(
        &mut self,
        sock: TcpStream,
        cid: u64,
        peer: SocketAddr,
        solicit: Option<Box<Solicit>>,
    ) {
        let solicit = solicit.map(|s| *s);
        let now = Instant::now();
        let Some((slot, mut conn)) = self.adopt_socket(sock, cid, peer, now) else {
            return;
        };
        let max_control_line = self.rt.limits.max_control_line;
        let gossip_mode = solicit.as_ref().map_or(0, |s| s.gossip_mode);
        let mut out = Vec::new();
        if let Some(s) = solicit.as_ref() {
            out.extend_from_slice(&self.route_connect(s).to_line());
        } else {
            conn.nonce = crate::auth::new_nonce();
        }
        out.extend_from_slice(&self.route_info_line(&conn.nonce, gossip_mode));
        let tls = self.route_tls_session(solicit.as_ref(), now);
        let mut route = RouteConn::new(max_control_line, solicit);
        let kind = if route.did_solicit() {
            "solicited"
        } else {
            "accepted"
        };
        crate::debug!("{peer} - rid:{cid} - Route connection created ({kind})");
        let tls_deadline = match tls {
            Some(Ok(state)) => {
                // TLS comes first on routes: our lines wait for the handshake.
                route.hello = out;
                out = Vec::new();
                let at = state.deadline;
                conn.tls = Some(Box::new(state));
                Some(at)
            }
            Some(Err(e)) => {
                log::error(&format!("{peer} - rid:{cid} - TLS route setup failed: {e}"));
                conn.close_with(ClosedReason::TlsHandshakeError);
                None
            }
            None => None,
        };
        conn.route = Some(Box::new(route));
        self.conns.fill(slot, conn);
        self.routes.push(slot);
        self.queue_out(slot, &out);
        self.mark_dirty(slot);
        if let Some(at) = tls_deadline {
            self.timers.schedule(Timer {
                at,
                slot,
                cid,
                kind: TimerKind::Tls,
            });
        }
        self.arm_route_timers(slot, cid, now);
    }

    /// A TLS session for a new route when cluster TLS is configured: server side when
    /// accepted, client side (checking the dialed host) when dialed.
    fn route_tls_session(
        &self,
        solicit: Option<&Solicit>,
        now: Instant,
    ) -> Option<Result<super::tls::TlsState, String>> {
        let tls = self.shared.cluster()?.tls.as_ref()?;
        let session = match solicit {
            None => rustls::ServerConnection::new(tls.server.clone())
                .map(rustls::Connection::Server)
                .map_err(|e| e.to_string()),
            Some(s) => {
                let host = s
                    .addr
                    .rsplit_once(':')
                    .map_or(s.addr.as_str(), |(h, _)| h)
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_string();
                rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| e.to_string())
                    .and_then(|name| {
                        rustls::ClientConnection::new(tls.client.clone(), name)
                            .map(rustls::Connection::Client)
                            .map_err(|e| e.to_string())
                    })
            }
        };
        Some(session.map(|session| super::tls::TlsState {
            session,
            phase: super::tls::TlsPhase::Handshake,
            deadline: now + tls.timeout.min(crate::runtime::TIMER_MAX),
            info_sent: true,
            received_any: false,
            close_notify_sent: false,
            silent: false,
        }))
    }

    /// Route TLS is up: our CONNECT and INFO go out now.
    pub(super) fn route_tls_established(&mut self, slot: Slot) {
        let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if route.is_leaf() {
            self.leaf_tls_established(slot);
            return;
        }
        let hello = std::mem::take(&mut route.hello);
        self.queue_out(slot, &hello);
    }

    /// The first PING (1 s plus up to 20 %) and the handshake deadline.
    fn arm_route_timers(&mut self, slot: Slot, cid: u64, now: Instant) {
        let jitter_pct = self.next_random() % 21;
        let first = ROUTE_FIRST_PING + ROUTE_FIRST_PING * jitter_pct as u32 / 100;
        self.timers.schedule(Timer {
            at: now + first,
            slot,
            cid,
            kind: TimerKind::Ping,
        });
        let timeout = self
            .rt
            .opts
            .cluster
            .as_ref()
            .filter(|c| !c.user.is_empty())
            .map_or(ROUTE_HANDSHAKE_TIMEOUT, |c| c.auth_timeout);
        let at = now + timeout.min(crate::runtime::TIMER_MAX);
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.auth_deadline = Some(at);
        }
        self.timers.schedule(Timer {
            at,
            slot,
            cid,
            kind: TimerKind::Auth,
        });
    }

    /// Our route CONNECT for a dialed connection.
    fn route_connect(&self, s: &Solicit) -> RouteConnect {
        let cluster = self.shared.cluster();
        RouteConnect {
            echo: true,
            user: s.user.clone(),
            pass: s.pass.clone(),
            headers: self.rt.limits.headers,
            name: self.rt.info.server_id.clone(),
            cluster: cluster.map(|c| c.name()).unwrap_or_default(),
            cluster_dynamic: cluster.is_some_and(|c| c.name_is_dynamic()),
            ..RouteConnect::default()
        }
    }

    /// Our route INFO line, with this connection's nonce and gossip mode.
    fn route_info_line(&self, nonce: &str, gossip_mode: u8) -> Vec<u8> {
        let Some(cluster) = self.shared.cluster() else {
            return Vec::new();
        };
        let mut info = cluster.route_info();
        info.nonce = nonce.to_string();
        info.gossip_mode = gossip_mode;
        info.to_line()
    }

    /// One op from a route connection.
    pub(super) fn route_dispatch(&mut self, slot: Slot, op: RouteOp<'_>) {
        match self.conns.get(slot).and_then(|c| c.route.as_deref()) {
            Some(r) if r.is_leaf() => return self.leaf_dispatch(slot, op),
            Some(r) if r.is_gateway() => return self.gateway_dispatch(slot, op),
            _ => {}
        }
        let Some(phase) = self
            .conns
            .get(slot)
            .and_then(|c| c.route.as_deref())
            .map(|r| r.phase)
        else {
            return;
        };
        if phase == RoutePhase::AwaitingConnect && !matches!(op, RouteOp::Connect(_)) {
            // The first op on an accepted route must be CONNECT (spec §0.2).
            self.link_refused(slot, "expected CONNECT first");
            return;
        }
        match op {
            RouteOp::Connect(json) => self.route_connect_received(slot, json),
            RouteOp::Info(json) => self.route_info_received(slot, json),
            RouteOp::Sub(s) => self.remote_sub(slot, &s),
            RouteOp::Unsub(u) => self.remote_unsub(slot, &u),
            RouteOp::Msg(m) => self.routed_msg(slot, &m),
            RouteOp::Ping => {
                self.flush_route_lines(slot);
                self.queue_out(slot, protocol::encode::PONG);
            }
            RouteOp::Pong => self.link_pong(slot),
            RouteOp::Ok | RouteOp::Ignored => {}
            RouteOp::Err(e) => {
                if let Some(conn) = self.conns.get(slot) {
                    let line = format!("{} - Router Error '{}'", route_prefix(conn), text(e));
                    if phase == RoutePhase::Registered {
                        log::error(&line);
                    } else {
                        // A Go peer refuses the pinned-account connection it opened beside
                        // the route (spec §1.6.4): expected, not worth an error line.
                        crate::debug!("{line}");
                    }
                }
                self.mark_close(slot, ClosedReason::ProtocolViolation);
            }
        }
    }

    /// A PONG on a route, leaf or gateway connection: the PING is answered, the RTT known.
    pub(super) fn link_pong(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.ping.outstanding = 0;
            if let Some(start) = conn.ping.rtt_start.take() {
                conn.ping.rtt = Some(start.elapsed());
                conn.ping.rtt_at = Some(Instant::now());
            }
        }
    }

    /// `-ERR 'Authorization Violation'` and close, on a route, leaf or gateway connection.
    pub(super) fn link_refused(&mut self, slot: Slot, why: &str) {
        if let Some(conn) = self.conns.get(slot) {
            log::error(&format!(
                "{} - authentication error: {why}",
                link_prefix(conn)
            ));
        }
        self.send_err_and_close(
            slot,
            protocol::errors::AUTHORIZATION_VIOLATION.as_bytes(),
            ClosedReason::AuthenticationViolation,
        );
    }

    /// The peer's CONNECT on an accepted route, checked in nats-server's order (spec §1.5.1).
    fn route_connect_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(connect) = serde_json::from_slice::<RouteConnect>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let phase = self
            .conns
            .get(slot)
            .and_then(|c| c.route.as_ref())
            .map(|r| r.phase);
        if phase != Some(RoutePhase::AwaitingConnect) {
            // A second CONNECT, or one on a route we dialed: nothing to do.
            return;
        }
        let (user, pass) = self
            .rt
            .opts
            .cluster
            .as_ref()
            .map(|c| (c.user.clone(), c.password.clone()))
            .unwrap_or_default();
        if !user.is_empty() && (connect.user != user || connect.pass != pass) {
            self.link_refused(slot, "wrong route credentials");
            return;
        }
        if connect.lang.is_some() {
            self.send_err_and_close(
                slot,
                b"attempted to connect to route port",
                ClosedReason::WrongPort,
            );
            return;
        }
        if let Some(gateway) = connect.gateway.filter(|g| !g.is_empty()) {
            let msg = format!(
                "Rejecting connection from gateway {} on the Route port",
                go_quote(&gateway)
            );
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::WrongGateway);
            return;
        }
        if !self.cluster_name_agreed(slot, &connect.cluster, connect.cluster_dynamic) {
            let ours = self.shared.cluster().map(|c| c.name()).unwrap_or_default();
            let msg = format!(
                "Rejecting connection, cluster name {} does not match {}",
                go_quote(&connect.cluster),
                go_quote(&ours)
            );
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::ClusterNameConflict);
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The handshake deadline stays until the peer's INFO registers the route.
        conn.opts.verbose = connect.verbose;
        if let Some(route) = conn.route.as_mut() {
            route.phase = RoutePhase::AwaitingInfo;
            route.remote_id = connect.name;
            route.peer_headers = connect.headers;
        }
    }

    /// A route INFO: the first one registers the route; later ones are gossip about other
    /// servers, lame duck mode, or updates (spec §1.4).
    fn route_info_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(info) = serde_json::from_slice::<RouteInfo>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let Some(route) = self.conns.get(slot).and_then(|c| c.route.as_deref()) else {
            return;
        };
        if route.phase != RoutePhase::Registered {
            self.register_route(slot, info);
            return;
        }
        if !info.gateway.is_empty() {
            // A member reached another gateway (nats-server sends this when its outbound
            // connection is established): this server connects to it too.
            if let Some(gw) = self.shared.gateways() {
                gw.learn(&info.gateway, &info.gateway_urls);
                gw.tell_dialer(crate::gateway::GatewayDialMsg::Discovered {
                    gateway: info.gateway,
                    urls: info.gateway_urls,
                });
            }
            return;
        }
        let remote_id = route.remote_id.clone();
        let Some(cluster) = self.shared.cluster() else {
            return;
        };
        if info.server_id != remote_id {
            self.gossip_received(slot, info);
        } else if info.ldm {
            log::notice(&format!(
                "Peer {} entered lame duck mode",
                go_quote(&info.server_name)
            ));
            cluster.peer_lame_duck(&remote_id);
        }
    }

    /// Whether a peer's cluster name (from its CONNECT or INFO) is acceptable: the same as
    /// ours, or one our generated name gives way to, which we then adopt, closing our other
    /// routes so they reconnect under it (spec §1.5.3).
    fn cluster_name_agreed(&mut self, slot: Slot, theirs: &str, theirs_dynamic: bool) -> bool {
        let shared = self.shared.clone();
        let Some(cluster) = shared.cluster() else {
            return false;
        };
        match cluster.check_name(theirs, theirs_dynamic) {
            crate::cluster::NameCheck::Same => true,
            crate::cluster::NameCheck::Reject => false,
            crate::cluster::NameCheck::Adopt => {
                let keep = self.conns.get(slot).map_or(0, |c| c.cid);
                let mut wake = 0;
                for link in cluster.other_links(keep) {
                    link.request_close();
                    wake |= 1 << (link.worker.0 % 64);
                }
                self.shared.wake_workers(wake);
                true
            }
        }
    }

    /// Another server announced over a route: dial it unless connected (spec §1.9.1).
    fn gossip_received(&mut self, slot: Slot, info: RouteInfo) {
        let Some(cluster) = self.shared.cluster() else {
            return;
        };
        if info.server_id == self.rt.info.server_id || cluster.is_registered(&info.server_id) {
            return;
        }
        if !info.route_account.is_empty() {
            // A pinned-account connection request: Gannet does not pool routes.
            return;
        }
        let seen = self.conns.get(slot).map(|c| c.peer.ip());
        cluster.tell_dialer(DialerMsg::Gossip {
            server_id: info.server_id.clone(),
            addr: info.dial_addr(seen),
            gossip_mode: info.gossip_mode,
            auth: info.auth_required,
        });
    }

    /// The peer's first INFO: the checks of spec §1.5.2, then registration, the interest
    /// exchange and gossip.
    fn register_route(&mut self, slot: Slot, info: RouteInfo) {
        let shared = self.shared.clone();
        let Some(cluster) = shared.cluster() else {
            return;
        };
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let (cid, peer, prefix) = (conn.cid, conn.peer, route_prefix(conn));
        let Some(route) = conn.route.as_deref() else {
            return;
        };
        let solicited = route.did_solicit();
        let url = route.solicit.as_ref().and_then(|s| s.url.clone());
        if info.server_id == self.rt.info.server_id {
            crate::debug!("{prefix} - Detected route to self, ignoring");
            cluster.tell_dialer(DialerMsg::Closed {
                server_id: None,
                url,
                to_self: true,
                redial: None,
            });
            self.mark_close(slot, ClosedReason::DuplicateRoute);
            return;
        }
        if !self.cluster_name_agreed(slot, &info.cluster, info.cluster_dynamic) {
            log::error(&format!(
                "{prefix} - Rejecting connection, cluster name {} does not match {}",
                go_quote(&info.cluster),
                go_quote(&cluster.name())
            ));
            self.mark_close(slot, ClosedReason::ClusterNameConflict);
            return;
        }
        if !solicited && info.server_name == self.rt.info.server_name {
            log::error(&format!(
                "{prefix} - Remote server has a duplicate name: {}",
                go_quote(&info.server_name)
            ));
            self.mark_close(slot, ClosedReason::DuplicateServerName);
            return;
        }
        let link = Arc::new(RouteLink::new(self.id, slot, cid));
        let entry = RouteEntry {
            link: link.clone(),
            name: info.server_name.clone(),
            connect_urls: info.connect_urls.clone(),
            ws_connect_urls: info.ws_connect_urls.clone(),
            leafnode_urls: info.leafnode_urls.clone(),
            ldm: info.ldm,
            dial_addr: info.dial_addr(Some(peer.ip())),
            solicited,
            explicit_url: url.clone(),
            retry: false,
        };
        let registered = cluster.register(&info.server_id, entry);
        if solicited {
            // Registered or not, the dial led to that server (a duplicate means we are
            // connected to it already).
            cluster.tell_dialer(DialerMsg::Connected {
                url: url.clone(),
                server_id: info.server_id.clone(),
            });
        }
        if registered.is_err() {
            crate::debug!(
                "{prefix} - Detected duplicate remote route {}",
                info.server_id
            );
            if solicited {
                // Ours gives way: if the registered one drops, we dial again, whoever
                // dialed it (nats-server `handleDuplicateRoute`).
                cluster.mark_retry(&info.server_id);
            }
            self.mark_close(slot, ClosedReason::DuplicateRoute);
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.auth_deadline = None;
        if let Some(route) = conn.route.as_mut() {
            route.phase = RoutePhase::Registered;
            route.remote_id = info.server_id.clone();
            route.remote_name = info.server_name.clone();
            route.link = Some(link.clone());
            route.peer_headers = info.headers;
        }
        log::notice(&format!(
            "{} - Route connection created",
            route_prefix(conn)
        ));
        // The new member hears of every gateway we reach, and connects to it too.
        if let Some(gw) = shared.gateways() {
            for name in gw.outbound_names() {
                if let Some(line) = gw.route_gossip(&name) {
                    link.push(&line);
                }
            }
        }
        self.flush_route_lines(slot);
        // Forward the newcomer to the other routes (spec §1.9.2): routes we accepted (unless
        // the peer says the others know it), and routes dialed from our configuration.
        let mode = match (solicited, url.is_some()) {
            (false, _) if info.gossip_mode != 1 => Some(1),
            (true, true) => Some(2),
            _ => None,
        };
        if let Some(mode) = mode {
            let mut gossip = info.clone();
            gossip.nonce.clear();
            gossip.ip = format!("nats-route://{}/", info.dial_addr(Some(peer.ip())));
            gossip.gossip_mode = mode;
            let line = gossip.to_line();
            self.shared
                .wake_workers(cluster.interest.broadcast_except(&line, &link));
        }
    }

    /// Lame duck mode: tells a registered route, whose server then drops our client URLs
    /// from its clients' `connect_urls` (spec §1.13).
    pub(super) fn route_lame_duck(&mut self, slot: Slot) {
        let registered = self
            .conns
            .get(slot)
            .and_then(|c| c.route.as_ref())
            .is_some_and(|r| r.phase == RoutePhase::Registered && r.is_route());
        let Some(cluster) = self.shared.cluster().filter(|_| registered) else {
            return;
        };
        let mut info = cluster.route_info();
        info.ldm = true;
        let line = info.to_line();
        self.flush_route_lines(slot);
        self.queue_out(slot, &line);
    }

    /// Writes the interest and gossip lines queued for a route before anything else goes to
    /// it, so an `RS+` always precedes the messages published after it.
    pub(super) fn flush_route_lines(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(link) = conn.route.as_ref().and_then(|r| r.link.as_ref()) else {
            return;
        };
        if !link.has_pending() {
            return;
        }
        if link.close_requested() {
            // Our cluster name changed: reconnect under the new one.
            self.mark_close(slot, ClosedReason::ClusterNameConflict);
            return;
        }
        match link.take() {
            Ok(lines) if lines.is_empty() => {}
            Ok(lines) => {
                conn.out.push(&lines, &mut self.chunks);
                let max_pending = self.rt.limits.max_pending;
                if conn.queued_over(max_pending) {
                    self.slow_consumer(slot);
                    return;
                }
                self.mark_dirty(slot);
            }
            Err(_) => self.slow_consumer(slot),
        }
    }

    /// Once per loop iteration: every route of this worker writes its queued lines.
    pub(super) fn flush_all_route_lines(&mut self) {
        for i in 0..self.routes.len() {
            let slot = self.routes[i];
            self.flush_route_lines(slot);
        }
    }

    /// `RS+`/`LS+`: the peer's interest becomes an entry in the account's sublist (an `RS+`
    /// for a known queue key replaces its weight, spec §1.10.1).
    fn remote_sub(&mut self, slot: Slot, s: &RemoteSub<'_>) {
        let Ok(name) = std::str::from_utf8(s.account) else {
            return;
        };
        let Some(account) = self.remote_account(name) else {
            crate::debug!(
                "Unknown account {} for remote subject {}",
                go_quote(name),
                go_quote(&text(s.subject))
            );
            return;
        };
        let exportable = self.shared.cluster().is_none_or(|c| c.exports(s.subject));
        if !exportable {
            crate::debug!(
                "Can not export {}, ignoring remote subscription request",
                go_quote(&text(s.subject))
            );
            return;
        }
        let worker = self.id;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let gate = conn.stall_gate.clone();
        let cid = conn.cid;
        let Some(route) = conn.route.as_mut() else {
            return;
        };
        let key: RemoteKey = (s.account.into(), s.subject.into(), s.queue.map(Into::into));
        if let Some(existing) = route.remote_subs.get(&key) {
            if let Some(remote) = &existing.remote {
                let old = remote.weight.swap(s.weight, Ordering::Relaxed);
                let delta = i64::from(s.weight) - i64::from(old);
                let existing = existing.clone();
                self.shared
                    .leaf_interest_from_route(account, &existing, delta);
            }
            return;
        }
        let at = crate::sub::LinkAddr {
            worker,
            slot,
            cid,
            gate,
            headers: route.peer_headers,
        };
        let remote = Remote {
            account: s.account.into(),
            weight: AtomicU32::new(s.weight),
            kind: crate::sub::RemoteKind::Route,
        };
        let sub = Arc::new(Sub::remote(at, s.subject, s.queue, remote));
        if account
            .sublist
            .insert(s.subject, s.queue, SubRef(sub.clone()))
            .is_ok()
        {
            route.remote_subs.insert(key, sub.clone());
            self.shared
                .leaf_interest_from_route(account, &sub, i64::from(s.weight));
        }
    }

    /// The account a peer's interest is in. In operator mode an account not loaded here yet
    /// is registered empty, so the interest is kept for when a client of it connects and its
    /// JWT is loaded (nats-server registers a placeholder, spec cluster.md §1.10.1); with
    /// configured accounts an unknown one is ignored.
    pub(super) fn remote_account(&self, name: &str) -> Option<&'static crate::account::Account> {
        if let Some(account) = self.shared.accounts.get(name) {
            return Some(account);
        }
        let operator = matches!(self.rt.auth, crate::auth::AuthConfig::Operator(_));
        (operator && crate::auth::config::is_public_nkey(name, b'A'))
            .then(|| self.shared.accounts.ensure(name))
    }

    /// After a reload changed the route permissions: the peers' interest this server may no
    /// longer export leaves the sublists (nats-server `reloadClusterPermissions`).
    pub(super) fn apply_route_permissions(&mut self) {
        let Some(gen) = self.shared.cluster().map(|c| c.perms_gen()) else {
            return;
        };
        if gen == self.perms_gen {
            return;
        }
        self.perms_gen = gen;
        let shared = self.shared.clone();
        let Some(cluster) = shared.cluster() else {
            return;
        };
        for i in 0..self.routes.len() {
            let slot = self.routes[i];
            let Some(route) = self
                .conns
                .get_mut(slot)
                .and_then(|c| c.route.as_mut())
                .filter(|r| r.is_route())
            else {
                continue;
            };
            let gone: Vec<RemoteKey> = route
                .remote_subs
                .keys()
                .filter(|(_, subject, _)| !cluster.exports(subject))
                .cloned()
                .collect();
            for key in gone {
                let Some(sub) = route.remote_subs.remove(&key) else {
                    continue;
                };
                sub.closed.store(true, Ordering::Relaxed);
                let account = std::str::from_utf8(&key.0)
                    .ok()
                    .and_then(|name| shared.accounts.get(name));
                if let Some(account) = account {
                    let _ = account.sublist.remove(
                        &sub.subject,
                        sub.queue.as_deref(),
                        &SubRef(sub.clone()),
                    );
                    shared.leaf_interest_from_route(account, &sub, -(sub.weight() as i64));
                }
            }
        }
    }

    /// `RS-`/`LS-`: the peer's interest goes; an unknown key is ignored.
    fn remote_unsub(&mut self, slot: Slot, u: &RemoteUnsub<'_>) {
        let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) else {
            return;
        };
        let key: RemoteKey = (u.account.into(), u.subject.into(), u.queue.map(Into::into));
        let Some(sub) = route.remote_subs.remove(&key) else {
            return;
        };
        let Some(account) = std::str::from_utf8(u.account)
            .ok()
            .and_then(|name| self.shared.accounts.get(name))
        else {
            return;
        };
        sub.closed.store(true, Ordering::Relaxed);
        let _ = account
            .sublist
            .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        self.shared
            .leaf_interest_from_route(account, &sub, -(sub.weight() as i64));
    }

    /// `RMSG`/`HMSG`/`LMSG`: delivered to this server's subscribers only, and to local queue
    /// members only of the groups it names (spec §1.11.3).
    fn routed_msg(&mut self, slot: Slot, m: &RoutedMsg<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.in_msgs += 1;
        conn.in_bytes += m.data.len() as u64;
        let cid = conn.cid;
        // A route mostly carries one or a few accounts: the last one is remembered, which
        // saves a lookup under the accounts' lock per message.
        let cached = conn
            .route
            .as_ref()
            .and_then(|r| r.last_account)
            .filter(|a| a.name.as_bytes() == m.account);
        let account = match cached {
            Some(account) => account,
            None => {
                let Some(account) = std::str::from_utf8(m.account)
                    .ok()
                    .and_then(|name| self.shared.accounts.get(name))
                else {
                    return;
                };
                if let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) {
                    route.last_account = Some(account);
                }
                account
            }
        };
        let origin = super::route::Origin::Route {
            cid,
            queues: m.queues,
        };
        self.link_msg_in(slot, account, m, origin);
    }

    /// A message from a route, leaf or gateway connection, routed with `origin`: it stalls
    /// the connection's reading only on a full inbox of another worker (bounded batches),
    /// never on a subscriber's gate.
    pub(super) fn link_msg_in(
        &mut self,
        slot: Slot,
        account: &'static crate::account::Account,
        m: &RoutedMsg<'_>,
        origin: super::route::Origin<'_>,
    ) {
        let msg = protocol::Pub {
            subject: m.subject,
            reply: m.reply,
            header_size_field: m.header_size_field.filter(|_| m.header_len > 0),
            size_field: m.size_field,
            header_len: m.header_len,
            data: m.data,
        };
        self.on_closed_gate = super::flow::OnClosedGate::InboxOnly;
        self.route_in(account, &msg, origin, 0);
        self.on_closed_gate = super::flow::OnClosedGate::Deliver;
        if self.wait_on.is_some() {
            self.stall_publisher(slot, Instant::now());
        }
    }

    /// A route connection closed: it leaves the registry, the interest it announced leaves
    /// the sublists, and the dialer decides whether to dial again.
    pub(super) fn route_closed(&mut self, slot: Slot, conn: &mut Conn, reason: ClosedReason) {
        self.routes.retain(|&s| s != slot);
        let Some(route) = conn.route.take() else {
            return;
        };
        if route.is_leaf() {
            self.leaf_closed(conn, *route, reason);
            return;
        }
        if route.is_gateway() {
            self.gateway_closed(conn, *route, reason);
            return;
        }
        for ((account, _, _), sub) in route.remote_subs {
            sub.closed.store(true, Ordering::Relaxed);
            if let Some(account) = std::str::from_utf8(&account)
                .ok()
                .and_then(|name| self.shared.accounts.get(name))
            {
                let _ = account.sublist.remove(
                    &sub.subject,
                    sub.queue.as_deref(),
                    &SubRef(sub.clone()),
                );
                self.shared
                    .leaf_interest_from_route(account, &sub, -(sub.weight() as i64));
            }
        }
        let Some(cluster) = self.shared.cluster() else {
            return;
        };
        let entry = (route.phase == RoutePhase::Registered)
            .then(|| cluster.unregister(&route.remote_id, conn.cid))
            .flatten();
        let registered = entry.is_some();
        if registered {
            log::notice(&format!(
                "{} - Router connection closed: {}",
                route_prefix(conn),
                reason.as_str()
            ));
        } else {
            crate::debug!(
                "{} - Router connection closed: {}",
                route_prefix(conn),
                reason.as_str()
            );
        }
        if reason == ClosedReason::DuplicateRoute || cluster.is_stopping() {
            // Connected through another connection (or to ourselves): nothing to redial.
            return;
        }
        let solicit = route.solicit;
        // A gossip dial whose handshake failed goes on with its attempts; a registered route
        // this server dialed from gossip (or gave its own dial up for) is dialed again.
        let redial = match (&entry, &solicit) {
            (Some(e), _) if e.redial_implicitly() => Some(e.dial_addr.clone()),
            (None, Some(s)) if s.url.is_none() => Some(s.addr.clone()),
            _ => None,
        };
        let server_id = match (&entry, &solicit) {
            (Some(_), _) => Some(route.remote_id.clone()),
            (None, Some(s)) => s.server_id.clone(),
            (None, None) => None,
        };
        if entry.is_none() && solicit.is_none() {
            // An accepted connection that never registered: nothing for the dialer (a storm
            // of refused peers must not fill its channel).
            return;
        }
        cluster.tell_dialer(DialerMsg::Closed {
            server_id,
            url: solicit.and_then(|s| s.url),
            to_self: false,
            redial,
        });
    }

    /// The route PING timer: routes PING on schedule whatever the traffic, at most every
    /// 30 s, and close after `ping_max` unanswered (spec §0.4).
    pub(super) fn route_ping_timer(&mut self, slot: Slot, now: Instant) {
        match self.conns.get(slot).and_then(|c| c.route.as_deref()) {
            Some(r) if r.is_leaf() => return self.leaf_ping_timer(slot, now),
            Some(r) if r.is_gateway() => return self.gateway_ping_timer(slot, now),
            _ => {}
        }
        let cluster_opts = self.rt.opts.cluster.as_ref();
        let interval = cluster_opts
            .and_then(|c| c.ping_interval)
            .unwrap_or(self.rt.limits.ping_interval)
            .min(ROUTE_PING_INTERVAL_MAX)
            .max(Duration::from_millis(1));
        let ping_max = cluster_opts
            .and_then(|c| c.ping_max)
            .map_or(self.rt.limits.ping_max, |m| m.max(0) as u32);
        self.link_ping_tick(slot, now, interval, ping_max);
    }

    /// One PING period of a route, leaf or gateway connection: the next tick is scheduled
    /// (in a second while a TLS handshake runs, when nothing but TLS records may go out),
    /// the waiting interest lines are written, then a PING, or the close of a connection
    /// that left `ping_max` unanswered.
    pub(super) fn link_ping_tick(
        &mut self,
        slot: Slot,
        now: Instant,
        interval: Duration,
        ping_max: u32,
    ) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if conn.is_closing() {
            return;
        }
        let cid = conn.cid;
        let handshaking = conn
            .tls
            .as_ref()
            .is_some_and(|t| t.phase != super::tls::TlsPhase::Established);
        let next = if handshaking {
            ROUTE_FIRST_PING
        } else {
            interval
        };
        self.timers.schedule(Timer {
            at: now + next,
            slot,
            cid,
            kind: TimerKind::Ping,
        });
        if handshaking {
            return;
        }
        self.flush_route_lines(slot);
        self.ping_or_stale(slot, now, ping_max);
    }

    /// The handshake deadline: a route that did not finish CONNECT (and INFO) in time.
    pub(super) fn route_auth_timer(&mut self, slot: Slot, now: Instant) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let expired = conn.auth_deadline.is_some_and(|at| at <= now);
        let phase = conn.route.as_ref().map(|r| r.phase);
        if !expired || conn.is_closing() || phase == Some(RoutePhase::Registered) {
            return;
        }
        crate::debug!("{} - Authentication Timeout", route_prefix(conn));
        self.send_err_and_close(
            slot,
            protocol::errors::AUTHENTICATION_TIMEOUT.as_bytes(),
            ClosedReason::AuthenticationTimeout,
        );
    }
}

/// The log prefix of a route (`rid`), leaf (`lid`) or gateway (`gid`) connection.
pub(super) fn link_prefix(conn: &Conn) -> String {
    let kind = match conn.route.as_deref() {
        Some(r) if r.is_leaf() => "lid",
        Some(r) if r.is_gateway() => "gid",
        _ => "rid",
    };
    format!("{} - {kind}:{}", conn.peer, conn.cid)
}

/// `127.0.0.1:6222 - rid:5`, as nats-server prefixes route log lines.
pub(super) fn route_prefix(conn: &Conn) -> String {
    format!("{} - rid:{}", conn.peer, conn.cid)
}
