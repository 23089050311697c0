//! Gateway connections on the worker loop (nats-server `gateway.go`; spec cluster.md §3):
//! the handshake in both directions, the other cluster's interest received on an outbound
//! connection, and the messages received on an inbound one.
//!
//! A gateway connection is a route-like [`Conn`]: a [`RouteConn`] whose `gateway` part is
//! set, so the socket, parser (the route dialect: `RS±`, `RMSG`/`HMSG` with the account),
//! flush, PING and stall handling are the route's.
//!
//! ```text
//!  inbound (accepted):  INFO sent at once -> AwaitingConnect --CONNECT ok--> AwaitingInfo
//!                       --outbound's INFO--> Registered (cluster interest sent: queue RS+,
//!                       then per account gateway_cmd 2, RS+…, gateway_cmd 3)
//!  outbound (dialed):   AwaitingInfo --inbound's INFO, checks--> CONNECT + INFO sent,
//!                       Registered (messages for that cluster go here)
//! ```
//! Interest travels only on inbound connections, messages only on outbound ones.

use super::conn::Conn;
use super::timers::{Timer, TimerKind};
use super::{ClosedReason, Worker};
use crate::cluster::interest::RouteLink;
use crate::gateway::wire::{GatewayConnect, GatewayInfo, CMD_GOSSIP};
use crate::gateway::{GatewayDialMsg, GatewaySolicit, Outbound};
use crate::gofmt::go_quote;
use crate::ids::Slot;
use crate::log;
use crate::sub::{Remote, RemoteKind, Sub, SubRef};
use mio::net::TcpStream;
use protocol::route::{RemoteSub, RemoteUnsub, RouteOp, RoutedMsg};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::peer::{link_prefix, RouteConn, RoutePhase};

/// Gateways PING at least this often (nats-server caps the interval at 15 s).
const GATEWAY_PING_INTERVAL_MAX: Duration = Duration::from_secs(15);

/// Which way a gateway connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We dialed it: messages for the other cluster go out here, its interest comes in.
    Outbound,
    /// The other cluster dialed it: our interest goes out here, its messages come in.
    Inbound,
}

/// The gateway part of a [`RouteConn`].
#[derive(Debug)]
pub struct GatewaySide {
    /// Which way it goes.
    pub direction: Direction,
    /// How we dialed it (outbound connections).
    pub solicit: Option<GatewaySolicit>,
    /// The other cluster's gateway name.
    pub remote_gateway: String,
    /// When the handshake finished.
    pub since: Option<std::time::SystemTime>,
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl Worker {
    /// Takes over a gateway connection: an accepted one gets our INFO at once (after TLS
    /// when the gateway has TLS, which comes first as on routes); a dialed one waits for the
    /// other side's INFO.
    pub(super) fn add_gateway(
        &mut self,
        sock: TcpStream,
        cid: u64,
        peer: SocketAddr,
        solicit: Option<Box<GatewaySolicit>>,
    ) {
        let solicit = solicit.map(|s| *s);
        let now = Instant::now();
        let Some((slot, mut conn)) = self.adopt_socket(sock, cid, peer, now) else {
            if let (Some(gw), Some(s)) = (self.shared.gateways(), solicit.as_ref()) {
                gw.tell_dialer(GatewayDialMsg::Closed {
                    gateway: s.gateway.clone(),
                });
            }
            return;
        };
        let mut route = RouteConn::new(self.rt.limits.max_control_line, None);
        let direction = if solicit.is_some() {
            route.phase = RoutePhase::AwaitingInfo;
            Direction::Outbound
        } else {
            route.phase = RoutePhase::AwaitingConnect;
            Direction::Inbound
        };
        let mut out = Vec::new();
        if direction == Direction::Inbound {
            if let Some(gw) = self.shared.gateways() {
                out = gw.info().to_line();
            }
        }
        let tls = self.gateway_tls_session(solicit.as_ref(), now);
        let tls_deadline = match tls {
            Some(Ok(state)) => {
                route.hello = std::mem::take(&mut out);
                let at = state.deadline;
                conn.tls = Some(Box::new(state));
                Some(at)
            }
            Some(Err(e)) => {
                log::error(&format!(
                    "{peer} - gid:{cid} - TLS gateway setup failed: {e}"
                ));
                conn.close_with(ClosedReason::TlsHandshakeError);
                None
            }
            None => None,
        };
        route.gateway = Some(Box::new(GatewaySide {
            direction,
            solicit,
            remote_gateway: String::new(),
            since: None,
        }));
        conn.route = Some(Box::new(route));
        let timeout = self
            .rt
            .opts
            .gateway
            .as_ref()
            .map_or(Duration::from_secs(2), |g| g.auth_timeout)
            .max(Duration::from_secs(1));
        let at = now + timeout.min(crate::runtime::TIMER_MAX);
        conn.auth_deadline = Some(at);
        self.conns.fill(slot, conn);
        self.routes.push(slot);
        if !out.is_empty() {
            self.queue_out(slot, &out);
        }
        self.mark_dirty(slot);
        if let Some(at) = tls_deadline {
            self.timers.schedule(Timer {
                at,
                slot,
                cid,
                kind: TimerKind::Tls,
            });
        }
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

    /// TLS for a new gateway connection when the gateway has TLS: server side (the peer's
    /// certificate required and verified, as nats-server does for gateways) when accepted,
    /// client side when dialed.
    fn gateway_tls_session(
        &self,
        solicit: Option<&GatewaySolicit>,
        now: Instant,
    ) -> Option<Result<super::tls::TlsState, String>> {
        let (session, timeout) = match solicit {
            None => {
                let t = self.rt.opts.gateway.as_ref()?.tls.as_ref()?;
                let session = crate::tls::build::route_tls(t).and_then(|tls| {
                    rustls::ServerConnection::new(tls.server)
                        .map(rustls::Connection::Server)
                        .map_err(|e| e.to_string())
                });
                (session, t.timeout())
            }
            Some(s) => {
                let config = s.tls.clone()?;
                let host = s.host.trim_matches(|c| c == '[' || c == ']').to_string();
                let session = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| e.to_string())
                    .and_then(|name| {
                        rustls::ClientConnection::new(config, name)
                            .map(rustls::Connection::Client)
                            .map_err(|e| e.to_string())
                    });
                (session, s.tls_timeout)
            }
        };
        Some(session.map(|session| super::tls::TlsState {
            session,
            phase: super::tls::TlsPhase::Handshake,
            deadline: now + timeout.min(crate::runtime::TIMER_MAX),
            info_sent: true,
            received_any: false,
            close_notify_sent: false,
            silent: false,
        }))
    }

    /// One op from a gateway connection.
    pub(super) fn gateway_dispatch(&mut self, slot: Slot, op: RouteOp<'_>) {
        let Some((phase, direction)) = self.conns.get(slot).and_then(|c| {
            let r = c.route.as_deref()?;
            Some((r.phase, r.gateway.as_ref()?.direction))
        }) else {
            return;
        };
        if phase == RoutePhase::AwaitingConnect && !matches!(op, RouteOp::Connect(_)) {
            self.link_refused(slot, "expected CONNECT first");
            return;
        }
        let registered = phase == RoutePhase::Registered;
        match op {
            RouteOp::Connect(json) => self.gateway_connect_received(slot, json),
            RouteOp::Info(json) => self.gateway_info_received(slot, json),
            RouteOp::Sub(s) if registered && direction == Direction::Outbound => {
                self.gateway_sub(slot, &s)
            }
            RouteOp::Unsub(u) if registered && direction == Direction::Outbound => {
                self.gateway_unsub(slot, &u)
            }
            RouteOp::Sub(_) | RouteOp::Unsub(_) => {
                if let Some(conn) = self.conns.get(slot) {
                    log::error(&format!(
                        "{} - Received RS+ from gateway on inbound connection",
                        link_prefix(conn)
                    ));
                }
                self.mark_close(slot, ClosedReason::ProtocolViolation);
            }
            RouteOp::Msg(m) if registered && direction == Direction::Inbound => {
                self.gateway_msg(slot, &m)
            }
            RouteOp::Msg(_) => {}
            RouteOp::Ping => {
                self.flush_route_lines(slot);
                self.queue_out(slot, protocol::encode::PONG);
            }
            RouteOp::Pong => self.link_pong(slot),
            RouteOp::Ok | RouteOp::Ignored => {}
            RouteOp::Err(e) => {
                if let Some(conn) = self.conns.get(slot) {
                    log::error(&format!(
                        "{} - Gateway Error '{}'",
                        link_prefix(conn),
                        text(e)
                    ));
                }
                self.mark_close(slot, ClosedReason::ProtocolViolation);
            }
        }
    }

    /// The CONNECT of the other cluster's outbound connection (nats-server
    /// `processGatewayConnect`).
    fn gateway_connect_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(connect) = serde_json::from_slice::<GatewayConnect>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if conn.route.as_ref().map(|r| r.phase) != Some(RoutePhase::AwaitingConnect) {
            return;
        }
        let Some(opts) = self.rt.opts.gateway.clone() else {
            return;
        };
        if connect.gateway.is_empty() || connect.lang.is_some() {
            self.send_err_and_close(
                slot,
                b"attempted to connect to gateway port",
                ClosedReason::WrongPort,
            );
            return;
        }
        let configured = opts.gateways.iter().any(|g| g.name == connect.gateway);
        if opts.reject_unknown_cluster && !configured {
            let msg = format!("Connection to gateway {} rejected", go_quote(&opts.name));
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::WrongGateway);
            return;
        }
        if !opts.user.is_empty()
            && (connect.user != opts.user
                || !crate::auth::password_matches(&opts.password, &connect.pass))
        {
            self.link_refused(slot, "wrong gateway credentials");
            return;
        }
        let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) else {
            return;
        };
        route.phase = RoutePhase::AwaitingInfo;
        route.remote_id = connect.name;
        if let Some(gw) = route.gateway.as_mut() {
            gw.remote_gateway = connect.gateway;
        }
    }

    /// A gateway INFO: the first one finishes the handshake (both directions); later ones on
    /// an outbound connection may tell about other gateways (gossip).
    fn gateway_info_received(&mut self, slot: Slot, json: &[u8]) {
        let Ok(info) = serde_json::from_slice::<GatewayInfo>(json) else {
            self.mark_close(slot, ClosedReason::ProtocolViolation);
            return;
        };
        let Some((phase, direction)) = self.conns.get(slot).and_then(|c| {
            let r = c.route.as_deref()?;
            Some((r.phase, r.gateway.as_ref()?.direction))
        }) else {
            return;
        };
        match (phase, direction) {
            (RoutePhase::AwaitingInfo, Direction::Inbound) => self.register_inbound(slot, info),
            (RoutePhase::AwaitingInfo, Direction::Outbound) => self.register_outbound(slot, info),
            (RoutePhase::Registered, Direction::Outbound) if info.gateway_cmd == CMD_GOSSIP => {
                if let Some(gw) = self.shared.gateways() {
                    gw.learn(&info.gateway, &info.gateway_urls);
                    gw.tell_dialer(GatewayDialMsg::Discovered {
                        gateway: info.gateway,
                        urls: info.gateway_urls,
                    });
                }
            }
            // Account commands (gateway_cmd 2 and 3): every account is interest-only from
            // the start here, so the RS+ lines between them are all that matters.
            _ => {}
        }
    }

    /// The outbound side's INFO on an inbound connection: the connection registers and
    /// gets this cluster's interest; its cluster is dialed back if we have no outbound
    /// connection to it yet.
    fn register_inbound(&mut self, slot: Slot, info: GatewayInfo) {
        let shared = self.shared.clone();
        let (Some(gw), Some(leafs)) = (shared.gateways(), shared.leafs()) else {
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
        let link = Arc::new(RouteLink::new(worker, slot, cid));
        route.phase = RoutePhase::Registered;
        route.link = Some(link.clone());
        route.remote_name = info.server_name.clone();
        route.peer_headers = info.headers;
        let remote_id = route.remote_id.clone();
        let Some(side) = route.gateway.as_mut() else {
            return;
        };
        side.since = Some(std::time::SystemTime::now());
        if side.remote_gateway.is_empty() {
            side.remote_gateway = info.gateway.clone();
        }
        let remote_gateway = side.remote_gateway.clone();
        // Tell the newcomer about the other gateways we know, so it can reach them too.
        let gossip = gw.gossip_for(&remote_gateway);
        if !gossip.is_empty() {
            link.push(&gossip);
        }
        gw.learn(&remote_gateway, &info.gateway_urls);
        self.shared
            .wake_workers(leafs.interest.attach_gateway(&gw.name, link));
        gw.tell_dialer(GatewayDialMsg::Discovered {
            gateway: remote_gateway.clone(),
            urls: info.gateway_urls.clone(),
        });
        log::notice(&format!(
            "{prefix} - Inbound gateway connection from {} ({remote_id}) registered",
            go_quote(&remote_gateway)
        ));
        self.flush_route_lines(slot);
    }

    /// The inbound side's INFO on a connection we dialed: the checks of nats-server
    /// `processGatewayInfo`, then our CONNECT and INFO, and registration.
    fn register_outbound(&mut self, slot: Slot, info: GatewayInfo) {
        let shared = self.shared.clone();
        let Some(gw) = shared.gateways() else {
            return;
        };
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let prefix = link_prefix(conn);
        let Some(solicit) = conn
            .route
            .as_ref()
            .and_then(|r| r.gateway.as_ref())
            .and_then(|g| g.solicit.clone())
        else {
            return;
        };
        let expected = solicit.gateway.clone();
        if info.gateway.is_empty() {
            let msg = format!(
                "Attempt to connect to gateway {} using wrong port",
                go_quote(&expected)
            );
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::WrongPort);
            return;
        }
        if info.gateway != expected {
            let msg = format!(
                "Connection from {} rejected, wanted to connect to {}, this is {}",
                go_quote(&gw.name),
                go_quote(&expected),
                go_quote(&info.gateway)
            );
            log::error(&format!("{prefix} - {msg}"));
            self.send_err_and_close(slot, msg.as_bytes(), ClosedReason::WrongGateway);
            return;
        }
        let connect = GatewayConnect {
            user: solicit.user.clone(),
            pass: solicit.pass.clone(),
            tls_required: solicit.tls.is_some(),
            name: self.rt.info.server_id.clone(),
            gateway: gw.name.clone(),
            ..GatewayConnect::default()
        };
        let mut hello = connect.to_line();
        hello.extend_from_slice(&gw.info().to_line());
        self.queue_out(slot, &hello);
        let worker = self.id;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let cid = conn.cid;
        let entry = Outbound {
            link: Arc::new(RouteLink::new(worker, slot, cid)),
            server_id: info.server_id.clone(),
            cluster_hash: crate::gateway::wire::gw_hash(&expected),
            gate: conn.stall_gate.clone(),
            headers: info.headers && self.rt.limits.headers,
        };
        if gw.register_outbound(&expected, entry).is_err() {
            crate::debug!("{prefix} - Outbound gateway connection to {expected:?} is a duplicate");
            self.mark_close(slot, ClosedReason::DuplicateRoute);
            return;
        }
        conn.auth_deadline = None;
        if let Some(route) = conn.route.as_mut() {
            route.phase = RoutePhase::Registered;
            route.remote_id = info.server_id.clone();
            route.remote_name = info.server_name.clone();
            route.peer_headers = info.headers && self.rt.limits.headers;
            if let Some(side) = route.gateway.as_mut() {
                side.remote_gateway = expected.clone();
                side.since = Some(std::time::SystemTime::now());
            }
        }
        gw.learn(&expected, &info.gateway_urls);
        gw.tell_dialer(GatewayDialMsg::Connected {
            gateway: expected.clone(),
        });
        // The members of our cluster connect to that gateway too.
        if let (Some(cluster), Some(line)) = (shared.cluster(), gw.route_gossip(&expected)) {
            self.shared.wake_workers(cluster.interest.broadcast(&line));
        }
        gw.tell_dialer(GatewayDialMsg::Discovered {
            gateway: expected.clone(),
            urls: info.gateway_urls.clone(),
        });
        log::notice(&format!(
            "{prefix} - Outbound gateway connection to {} ({}) registered",
            go_quote(&expected),
            info.server_id
        ));
    }

    /// `RS+` on an outbound connection: the other cluster has this interest; it becomes an
    /// entry in the account's sublist, so messages published here go there.
    fn gateway_sub(&mut self, slot: Slot, s: &RemoteSub<'_>) {
        let Ok(name) = std::str::from_utf8(s.account) else {
            return;
        };
        let Some(account) = self.remote_account(name) else {
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
        let key = (s.account.into(), s.subject.into(), s.queue.map(Into::into));
        if route.remote_subs.contains_key(&key) {
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
            weight: AtomicU32::new(s.weight.max(1)),
            kind: RemoteKind::Gateway,
        };
        let sub = Arc::new(Sub::remote(at, s.subject, s.queue, remote));
        if account
            .sublist
            .insert(s.subject, s.queue, SubRef(sub.clone()))
            .is_ok()
        {
            route.remote_subs.insert(key, sub);
        }
    }

    /// `RS-` on an outbound connection.
    fn gateway_unsub(&mut self, slot: Slot, u: &RemoteUnsub<'_>) {
        let Some(route) = self.conns.get_mut(slot).and_then(|c| c.route.as_mut()) else {
            return;
        };
        let key = (u.account.into(), u.subject.into(), u.queue.map(Into::into));
        let Some(sub) = route.remote_subs.remove(&key) else {
            return;
        };
        sub.closed.store(true, Ordering::Relaxed);
        if let Some(account) = std::str::from_utf8(u.account)
            .ok()
            .and_then(|name| self.shared.accounts.get(name))
        {
            let _ =
                account
                    .sublist
                    .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
        }
    }

    /// `RMSG`/`HMSG` on an inbound connection: the message enters this cluster here.
    fn gateway_msg(&mut self, slot: Slot, m: &RoutedMsg<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.in_msgs += 1;
        conn.in_bytes += m.data.len() as u64;
        let cid = conn.cid;
        let Some(account) = std::str::from_utf8(m.account)
            .ok()
            .and_then(|name| self.shared.accounts.get(name))
        else {
            return;
        };
        let origin = super::route::Origin::Gateway {
            cid,
            queues: m.queues,
        };
        self.link_msg_in(slot, account, m, origin);
    }

    /// A gateway connection closed: the other cluster's interest leaves the sublists, the
    /// registrations go, and an outbound one is dialed again.
    pub(super) fn gateway_closed(
        &mut self,
        conn: &mut Conn,
        route: RouteConn,
        reason: ClosedReason,
    ) {
        let Some(side) = route.gateway else {
            return;
        };
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
            }
        }
        let registered = route.phase == RoutePhase::Registered;
        let shared = self.shared.clone();
        let Some(gw) = shared.gateways() else {
            return;
        };
        match side.direction {
            Direction::Inbound => {
                if let Some(leafs) = shared.leafs() {
                    leafs.interest.detach_gateway(conn.cid);
                }
            }
            Direction::Outbound => {
                if registered {
                    gw.unregister_outbound(&side.remote_gateway, conn.cid);
                }
                if reason != ClosedReason::DuplicateRoute && !gw.is_stopping() {
                    if let Some(s) = side.solicit.as_ref() {
                        gw.tell_dialer(GatewayDialMsg::Closed {
                            gateway: s.gateway.clone(),
                        });
                    }
                }
            }
        }
        let line = format!(
            "{} - Gateway connection closed: {}",
            link_prefix(conn),
            reason.as_str()
        );
        if registered {
            log::notice(&line);
        } else {
            crate::debug!("{line}");
        }
    }

    /// The gateway PING timer: every `ping_interval`, at most 15 s, whatever the traffic.
    pub(super) fn gateway_ping_timer(&mut self, slot: Slot, now: Instant) {
        let interval = self
            .rt
            .limits
            .ping_interval
            .min(GATEWAY_PING_INTERVAL_MAX)
            .max(Duration::from_millis(1));
        let ping_max = self.rt.limits.ping_max;
        self.link_ping_tick(slot, now, interval, ping_max);
    }
}
