//! Answering monitoring snapshots: counters and per-connection views, built on the worker
//! thread between two loop iterations (see `crate::msgs::snapshot`).

use super::conn::Conn;
use super::Worker;
use crate::msgs::snapshot::{
    ConnSnapshot, RouteSnapshot, SnapshotRequest, SubSnapshot, WorkerSnapshot,
};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

/// Wall-clock time of an `Instant` in the past.
fn wall(at: Instant, now: Instant, now_wall: SystemTime) -> SystemTime {
    now_wall
        .checked_sub(now.saturating_duration_since(at))
        .unwrap_or(now_wall)
}

/// A view of one connection.
pub(super) fn conn_snapshot(conn: &Conn, with_subs: bool) -> ConnSnapshot {
    let (now, now_wall) = (Instant::now(), SystemTime::now());
    let subs = if with_subs {
        conn.subs
            .values()
            .map(|s| SubSnapshot {
                subject: String::from_utf8_lossy(&s.subject).into_owned(),
                queue: s
                    .queue
                    .as_deref()
                    .map(|q| String::from_utf8_lossy(q).into_owned())
                    .unwrap_or_default(),
                sid: String::from_utf8_lossy(&s.sid).into_owned(),
                msgs: s.delivered.load(Ordering::Relaxed),
                max: s.max_msgs.load(Ordering::Relaxed),
            })
            .collect()
    } else {
        Vec::new()
    };
    let identity = conn.identity.as_ref();
    ConnSnapshot {
        cid: conn.cid,
        kind: crate::msgs::snapshot::ConnKind::Client,
        client_type: conn.client_type(),
        peer: conn.peer,
        start: conn.start_wall,
        last_activity: wall(conn.ping.last_in, now, now_wall),
        rtt: conn.ping.reported_rtt(),
        pending_bytes: conn.out.pending() as u64,
        in_msgs: conn.in_msgs,
        out_msgs: conn.out_msgs,
        in_bytes: conn.in_bytes,
        out_bytes: conn.out_bytes,
        stalls: conn.stall_gate.stalls(),
        name: conn.opts.name.clone(),
        lang: conn.opts.lang.clone(),
        version: conn.opts.version.clone(),
        account: conn.account_name().to_string(),
        user: identity.and_then(|i| i.user.clone()).unwrap_or_default(),
        num_subs: conn.subs.len() as u32,
        subs,
        tls_version: String::new(),
        tls_cipher: String::new(),
        closed: None,
    }
}

impl Worker {
    /// Counters, and the connections when asked.
    pub(super) fn snapshot(&self, req: SnapshotRequest) -> WorkerSnapshot {
        let conns: Vec<ConnSnapshot> = if req.conns {
            self.conns
                .iter()
                .filter(|(_, c)| c.identity.is_some())
                .map(|(_, c)| conn_snapshot(c, req.subs))
                .chain(
                    self.routes
                        .iter()
                        .filter_map(|&slot| self.conns.get(slot))
                        .filter_map(leaf_conn_snapshot),
                )
                .collect()
        } else {
            Vec::new()
        };
        let routes = self
            .routes
            .iter()
            .filter_map(|&slot| self.conns.get(slot))
            .filter_map(route_snapshot)
            .collect();
        let leafs = self
            .routes
            .iter()
            .filter_map(|&slot| self.conns.get(slot))
            .filter_map(leaf_snapshot)
            .collect();
        let gateways = self
            .routes
            .iter()
            .filter_map(|&slot| self.conns.get(slot))
            .filter_map(gateway_snapshot)
            .collect();
        WorkerSnapshot {
            worker: self.id,
            counters: self.stats,
            num_conns: self.conns.count() - self.routes.len(),
            conns,
            routes,
            leafs,
            gateways,
        }
    }
}

/// A view of a registered route connection.
fn route_snapshot(conn: &Conn) -> Option<RouteSnapshot> {
    let route = conn.route.as_deref()?;
    if route.phase != super::peer::RoutePhase::Registered || !route.is_route() {
        return None;
    }
    // Subjects only, as nats-server lists them (`newSubsList`).
    let subs = route
        .remote_subs
        .keys()
        .map(|(_, subject, _)| String::from_utf8_lossy(subject).into_owned())
        .collect();
    Some(RouteSnapshot {
        conn: conn_snapshot(conn, false),
        remote_id: route.remote_id.clone(),
        remote_name: route.remote_name.clone(),
        did_solicit: route.did_solicit(),
        is_configured: route.is_configured(),
        subs,
    })
}

/// A registered leaf node connection as CONNZ lists it (nats-server lists leaf connections
/// beside clients, with the remote's CONNECT name and version on the hub side).
fn leaf_conn_snapshot(conn: &Conn) -> Option<ConnSnapshot> {
    let route = conn.route.as_deref()?;
    let leaf = route.leaf.as_deref()?;
    if route.phase != super::peer::RoutePhase::Registered {
        return None;
    }
    let mut snap = conn_snapshot(conn, false);
    snap.kind = crate::msgs::snapshot::ConnKind::Leafnode;
    if !leaf.is_spoke() {
        snap.name = route.remote_name.clone();
        snap.version = leaf.remote_version.clone();
        snap.user = leaf.user.clone();
    }
    snap.account = leaf.account.map(|a| a.name.clone()).unwrap_or_default();
    snap.num_subs = route.remote_subs.len() as u32;
    Some(snap)
}

/// A view of a registered gateway connection.
fn gateway_snapshot(conn: &Conn) -> Option<crate::msgs::snapshot::GatewaySnapshot> {
    let route = conn.route.as_deref()?;
    let side = route.gateway.as_deref()?;
    if route.phase != super::peer::RoutePhase::Registered {
        return None;
    }
    let mut by_account: std::collections::BTreeMap<String, (usize, usize)> =
        std::collections::BTreeMap::new();
    for (account, _, queue) in route.remote_subs.keys() {
        let entry = by_account
            .entry(String::from_utf8_lossy(account).into_owned())
            .or_default();
        if queue.is_some() {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }
    let mut snap = conn_snapshot(conn, false);
    snap.num_subs = route.remote_subs.len() as u32;
    if let Some(since) = side.since {
        snap.start = since;
    }
    Some(crate::msgs::snapshot::GatewaySnapshot {
        conn: snap,
        remote_gateway: side.remote_gateway.clone(),
        remote_id: route.remote_id.clone(),
        outbound: side.direction == super::gateway::Direction::Outbound,
        accounts: by_account
            .into_iter()
            .map(|(name, (plain, queue))| (name, plain, queue))
            .collect(),
    })
}

/// A view of a registered leaf node connection.
fn leaf_snapshot(conn: &Conn) -> Option<crate::msgs::snapshot::LeafSnapshot> {
    let route = conn.route.as_deref()?;
    let leaf = route.leaf.as_deref()?;
    if route.phase != super::peer::RoutePhase::Registered {
        return None;
    }
    let subs = route
        .remote_subs
        .keys()
        .map(|(_, subject, _)| String::from_utf8_lossy(subject).into_owned())
        .collect();
    let mut snap = conn_snapshot(conn, false);
    if let Some(since) = leaf.since {
        snap.start = since;
    }
    Some(crate::msgs::snapshot::LeafSnapshot {
        conn: snap,
        name: route.remote_name.clone(),
        is_spoke: leaf.is_spoke(),
        is_isolated: leaf.isolated,
        account: leaf.account.map(|a| a.name.clone()).unwrap_or_default(),
        subs,
    })
}

/// What the system account's events say about a client.
pub(super) fn client_facts(conn: &Conn) -> crate::msgs::ClientFacts {
    let user = match conn.identity.as_ref().and_then(|i| i.user.clone()) {
        Some(user) => user,
        // Not authenticated: the name it presented.
        None if !conn.opts.user.is_empty() => conn.opts.user.clone(),
        None => conn.opts.nkey.clone(),
    };
    let jwt = conn.identity.as_ref().and_then(|i| i.jwt.as_deref());
    crate::msgs::ClientFacts {
        cid: conn.cid,
        start: conn.start_wall,
        host: conn.peer.ip().to_string(),
        account: conn.account_name().to_string(),
        user,
        name: conn.opts.name.clone(),
        lang: conn.opts.lang.clone(),
        version: conn.opts.version.clone(),
        rtt_ns: conn.ping.reported_rtt().map_or(0, |d| d.as_nanos() as i64),
        kind: "Client",
        client_type: conn.client_type(),
        name_tag: conn
            .account()
            .map_or_else(|| conn.account_name().to_string(), |a| a.name_tag()),
        // nats-server shows the JWT a client presented even when it was refused.
        jwt: if jwt.is_some() || conn.identity.is_none() {
            conn.opts.jwt.clone()
        } else {
            String::new()
        },
        issuer_key: jwt.map(|j| j.issuer.clone()).unwrap_or_default(),
        tags: jwt.map(|j| j.tags.clone()).unwrap_or_default(),
    }
}
