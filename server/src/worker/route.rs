//! Routing a publish: checks, one sublist match, then delivery to every plain subscriber and
//! one member of each queue group, locally or through a batch for another worker.
//!
//! Mirrors nats-server `processInboundClientMsg` -> `processMsgResults` -> `deliverMsg`, with
//! one difference by design: a delivery to another worker's connection is encoded here into
//! that worker's batch, which is handed over once per loop iteration.

use super::conn::Conn;
use super::flow::OnClosedGate;
use super::Worker;
use crate::account::{map_subject, Account, ImportRoute};
use crate::auth::perms::denied_at_delivery;
use crate::ids::Slot;
use crate::msgs::batch::{records, Batch, Record};
use crate::sub::{Claim, Sub, SubRef};
use protocol::{encode, errors, subject, Pub};
use smallvec::SmallVec;
use std::sync::Arc;
use std::time::Instant;

/// A route, leaf or gateway connection a message is written to.
pub(super) struct LinkTarget<'a> {
    /// The worker owning it.
    pub worker: crate::ids::WorkerId,
    /// Its slot there.
    pub slot: Slot,
    /// Its connection id.
    pub cid: u64,
    /// Its stall gate.
    pub gate: Option<&'a Arc<crate::gate::StallGate>>,
    /// It takes `HMSG`.
    pub headers: bool,
}

/// Encodes one delivery of `msg` to `sub`: HMSG for header-capable subscribers, otherwise MSG
/// with the header block stripped and the size recomputed (spec §1.7).
/// At least the bytes [`encode_delivery`] writes: `MSG`/`HMSG`, the subject, sid, reply,
/// sizes, separators and the message, with a margin for the size fields.
fn delivery_size(sub: &Sub, msg: &Pub<'_>) -> usize {
    const OP_AND_SEPARATORS: usize = 64;
    msg.subject.len()
        + sub.sid.len()
        + msg.reply.map_or(0, <[u8]>::len)
        + msg.data.len()
        + OP_AND_SEPARATORS
}

fn encode_delivery(out: &mut Vec<u8>, sub: &Sub, msg: &Pub<'_>) {
    let sid = &sub.sid;
    match msg.header_size_field {
        Some(hdr_field) if msg.header_len > 0 => {
            if sub.headers.load(std::sync::atomic::Ordering::Relaxed) {
                encode::write_hmsg(
                    out,
                    msg.subject,
                    sid,
                    msg.reply,
                    hdr_field,
                    msg.size_field,
                    msg.data,
                );
            } else {
                let payload = msg.payload();
                let mut digits = [0u8; 20];
                let size = encode::fmt_usize(payload.len(), &mut digits);
                encode::write_msg(out, msg.subject, sid, msg.reply, size, payload);
            }
        }
        _ => encode::write_msg(out, msg.subject, sid, msg.reply, msg.size_field, msg.data),
    }
}

/// Batch records for one connection delivered together (one `writev` at most).
const RUN_RECORDS_MAX: usize = 64;
/// Runs smaller than this are copied into the outbound queue: one write at the flush covers
/// them, and the copy costs less than a `writev` of its own.
const DIRECT_WRITE_MIN_BYTES: usize = 16 * 1024;

/// Writes a run of records with one `writev`; returns how many bytes the socket took (0 when
/// it is full or failed: the flush finds out which).
fn write_run(sock: &mut mio::net::TcpStream, run: &[Record<'_>]) -> usize {
    let iov: SmallVec<[std::io::IoSlice<'_>; RUN_RECORDS_MAX]> =
        run.iter().map(|r| std::io::IoSlice::new(r.bytes)).collect();
    // A signal may interrupt the write; a few retries, then the flush takes over.
    for _ in 0..3 {
        match std::io::Write::write_vectored(sock, &iov) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
    0
}

/// Who-am-I requests, answered by the requester's own server in every account.
const USER_INFO_SUBJECT: &[u8] = b"$SYS.REQ.USER.INFO";

/// The `data` of a USER.INFO reply: user, account and the connection's permissions.
fn user_info(conn: &Conn) -> serde_json::Value {
    let identity = conn.identity.as_ref();
    let user = identity.and_then(|i| i.user.clone()).unwrap_or_default();
    let account_name = conn
        .account()
        .map_or_else(|| conn.account_name().to_string(), |a| a.name_tag());
    let mut data = serde_json::json!({
        "user": user,
        "account": conn.account_name(),
        "account_name": account_name,
    });
    if let Some(name) = identity
        .and_then(|i| i.jwt.as_ref())
        .map(|j| j.user_name.as_str())
        .filter(|n| !n.is_empty())
    {
        data["user_name"] = name.into();
    }
    if let Some(perms) = conn.perms() {
        let render = |lists: &Option<crate::auth::perms::Lists>| {
            let mut side = serde_json::Map::new();
            if let Some(lists) = lists {
                let entries = |l: &Vec<crate::auth::perms::Entry>| {
                    l.iter()
                        .map(|e| match &e.queue {
                            Some(q) => format!(
                                "{} {}",
                                String::from_utf8_lossy(&e.subject),
                                String::from_utf8_lossy(q)
                            ),
                            None => String::from_utf8_lossy(&e.subject).into_owned(),
                        })
                        .collect::<Vec<_>>()
                };
                if let Some(allow) = lists.allow.as_ref().filter(|a| !a.is_empty()) {
                    side.insert("allow".into(), entries(allow).into());
                }
                if let Some(deny) = lists.deny.as_ref().filter(|d| !d.is_empty()) {
                    side.insert("deny".into(), entries(deny).into());
                }
            }
            serde_json::Value::Object(side)
        };
        let mut p = serde_json::json!({ "publish": render(&perms.publish), "subscribe": render(&perms.subscribe) });
        if let Some(resp) = perms.response {
            let ttl = resp
                .expires
                .unwrap_or(crate::auth::config::RESPONSE_EXPIRES_DEFAULT);
            p["responses"] =
                serde_json::json!({ "max": resp.max_msgs, "ttl": ttl.as_nanos() as u64 });
        }
        data["permissions"] = p;
    }
    data
}

/// Import hops one message may take (cycles are refused at config time; this bounds the rest).
const IMPORT_DEPTH_MAX: usize = 8;

/// A request forwarded through a service import, with `Nats-Request-Info` added to its
/// header block (creating one if it had none).
struct RequestWithHeader {
    data: Vec<u8>,
    header_len: usize,
    header_size: Vec<u8>,
    total_size: Vec<u8>,
}

impl RequestWithHeader {
    fn build(msg: &Pub<'_>, line: &[u8]) -> RequestWithHeader {
        let mut data = Vec::with_capacity(msg.data.len() + line.len() + 16);
        match msg.headers() {
            // Insert before the blank line that ends the block.
            Some(h) if h.ends_with(b"\r\n\r\n") => {
                data.extend_from_slice(&h[..h.len() - 2]);
                data.extend_from_slice(line);
                data.extend_from_slice(b"\r\n\r\n");
            }
            _ => {
                data.extend_from_slice(b"NATS/1.0\r\n");
                data.extend_from_slice(line);
                data.extend_from_slice(b"\r\n\r\n");
            }
        }
        let header_len = data.len();
        data.extend_from_slice(msg.payload());
        let mut digits = [0u8; 20];
        let header_size = encode::fmt_usize(header_len, &mut digits).to_vec();
        let total_size = encode::fmt_usize(data.len(), &mut digits).to_vec();
        RequestWithHeader {
            data,
            header_len,
            header_size,
            total_size,
        }
    }
}

/// Publish permission results cached per connection (nats-server keeps 128 too).
const PUB_CACHE_MAX: usize = 128;
/// Reply subjects remembered per connection for response permissions.
const REPLIES_MAX: usize = 16 * 1024;

/// Remembers that the subscriber received `reply`, so it may publish a response to it.
fn allow_reply(conn: &mut Conn, reply: &[u8]) {
    if conn.replies.len() >= REPLIES_MAX {
        // Drop the expired ones first; if it is still full, forget the oldest half.
        let ttl = conn
            .perms()
            .and_then(|p| p.response)
            .and_then(|r| r.expires);
        if let Some(ttl) = ttl {
            conn.replies.retain(|_, (at, _)| at.elapsed() <= ttl);
        }
        if conn.replies.len() >= REPLIES_MAX {
            let mut ages: Vec<Instant> = conn.replies.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            conn.replies.retain(|_, (at, _)| *at > cutoff);
        }
    }
    conn.replies.insert(reply.into(), (Instant::now(), 0));
}

/// Reply prefixes a client may not use (spec §1.11).
fn reserved_reply(reply: &[u8]) -> bool {
    reply.starts_with(b"_R_.")
        || (reply.starts_with(b"$JS.ACK.") && reply.len() > 8)
        || (reply.starts_with(b"_GR_.") && reply.len() > 5)
}

/// Where a message being routed comes from, which decides where it may go.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'q> {
    /// A client of this server (`cid`, and whether it gets its own messages) or the server
    /// itself (cid 0): every local subscriber and every route with interest.
    Local {
        /// The publisher's connection id (0 for the server's own messages).
        cid: u64,
        /// Whether the publisher receives its own messages.
        echo: bool,
    },
    /// A route peer (connection `cid`): local subscribers only, and local queue members only
    /// of the groups the peer chose here (spec cluster.md §1.11.3). Never back to a route.
    Route {
        /// The route connection.
        cid: u64,
        /// The queue groups the sender picked a member on this server for.
        queues: protocol::route::Queues<'q>,
    },
    /// A leaf connection (`cid`) of the remote cluster `cluster`: like a client's message
    /// when this server is the connection's hub, kept off the routes when it is the spoke;
    /// never back to that connection nor to another of the same cluster, and local queue
    /// members only of the groups it names (spec cluster.md §2.8).
    Leaf {
        /// The leaf connection.
        cid: u64,
        /// The queue groups the sender picked a member on this side for.
        queues: protocol::route::Queues<'q>,
        /// The remote's cluster, the message's origin.
        cluster: &'q [u8],
        /// Which end of the connection this server is.
        role: crate::sub::LeafRole,
    },
    /// An inbound gateway connection (`cid`) of another cluster: the message enters this
    /// cluster here, so it goes to local subscribers, routes and the leaf connections this
    /// server is the hub of, never to a gateway; local queue members only of the groups it
    /// names (spec cluster.md §3.5).
    Gateway {
        /// The gateway connection.
        cid: u64,
        /// The queue groups the sender picked this cluster for.
        queues: protocol::route::Queues<'q>,
    },
    /// A routed message carried on by an import (a service reply back to its requester's
    /// account): every local subscriber and queue member, no route.
    LocalOnly,
}

impl<'q> Origin<'q> {
    /// The publisher's cid and echo setting, for echo suppression.
    fn publisher(self) -> (u64, bool) {
        match self {
            Origin::Local { cid, echo } => (cid, echo),
            Origin::Route { cid, .. } | Origin::Leaf { cid, .. } | Origin::Gateway { cid, .. } => {
                (cid, false)
            }
            Origin::LocalOnly => (0, true),
        }
    }

    /// The queue groups named by a routed or leaf message: only their local members may
    /// take it. `None` for a message published here.
    fn named_queues(self) -> Option<protocol::route::Queues<'q>> {
        match self {
            Origin::Route { queues, .. }
            | Origin::Leaf { queues, .. }
            | Origin::Gateway { queues, .. } => Some(queues),
            Origin::Local { .. } | Origin::LocalOnly => None,
        }
    }

    /// Whether the message may go to the route or leaf connection whose entry is `sub`
    /// (nats-server `processMsgResults`): never twice across routes (full mesh), a routed
    /// message only to leaf connections this server is the hub of, a leaf message never
    /// back to its connection or its cluster, and to routes only from a hub side.
    fn may_send_to(self, sub: &Sub) -> bool {
        use crate::sub::{LeafRole, RemoteKind};
        let Some(remote) = sub.remote.as_deref() else {
            return false;
        };
        match (self, &remote.kind) {
            (Origin::LocalOnly, _) => false,
            // Only where a message enters the cluster does it go to gateways.
            (Origin::Local { .. }, _) => true,
            (Origin::Leaf { role, .. }, RemoteKind::Route | RemoteKind::Gateway) => {
                role == LeafRole::Hub
            }
            (Origin::Route { .. } | Origin::Gateway { .. }, RemoteKind::Gateway) => false,
            (Origin::Route { .. }, RemoteKind::Route) => false,
            (Origin::Gateway { .. }, RemoteKind::Route) => true,
            (Origin::Route { .. } | Origin::Gateway { .. }, RemoteKind::Leaf(l)) => {
                l.role == LeafRole::Hub
            }
            (Origin::Leaf { cid, cluster, .. }, RemoteKind::Leaf(l)) => {
                sub.cid != cid && (cluster.is_empty() || l.cluster.as_ref() != cluster)
            }
        }
    }

    /// Whether an import entry takes the message into another account. A routed message
    /// only reaches the server's own services and the replies to its own service requests:
    /// other imports are applied where the message was published, and the importing
    /// account's interest crosses the routes itself (following them here too would deliver
    /// twice).
    fn follows(self, route: &ImportRoute) -> bool {
        matches!(self, Origin::Local { .. } | Origin::Leaf { .. })
            || matches!(
                route,
                ImportRoute::SysRequest | ImportRoute::Response { .. } | ImportRoute::Stream { .. }
            )
    }

    /// The origin of the message after an import hop. A routed message stays off the routes;
    /// so does a stream import's copy: like nats-server, every server maps an imported
    /// stream for its own subscribers (its import entry's interest crosses the routes in the
    /// exporting account), so sending the copy on too would deliver twice.
    fn imported(self, route: &ImportRoute) -> Origin<'static> {
        match (self, route) {
            (Origin::Local { .. } | Origin::Leaf { .. }, ImportRoute::Stream { .. }) => {
                Origin::LocalOnly
            }
            (Origin::Local { .. } | Origin::Leaf { .. }, _) => Origin::Local { cid: 0, echo: true },
            (Origin::Route { .. } | Origin::Gateway { .. } | Origin::LocalOnly, _) => {
                Origin::LocalOnly
            }
        }
    }
}

/// The queue member a message went to.
enum Picked<'r> {
    /// A local subscriber took it.
    Local,
    /// A route's entry: the message goes to that route with the group in its queue list.
    Route(&'r SubRef),
    /// No member could take it.
    Nobody,
}

/// A routed message whose queue group has no usable member here: rather than lose it, hand
/// it to a member on another route than the one it came from (nats-server
/// `processInboundRoutedMsg` falls back to a route member; with a full mesh this only
/// happens while interest is stale).
fn second_hop<'r>(members: &'r [SubRef], origin: Origin<'_>) -> Picked<'r> {
    let routed = matches!(
        origin,
        Origin::Route { .. } | Origin::Leaf { .. } | Origin::Gateway { .. }
    );
    let (cid, _) = origin.publisher();
    members
        .iter()
        .find(|s| {
            // Route to route is allowed here, as the fallback nats-server takes; a leaf
            // connection still follows the origin rules.
            routed
                && s.remote
                    .as_ref()
                    .is_some_and(|r| r.is_route() || origin.may_send_to(s))
                && s.cid != cid
                && s.weight() > 0
                && !s.closed.load(std::sync::atomic::Ordering::Relaxed)
        })
        .or_else(|| leaf_fallback(members, origin))
        .map_or(Picked::Nobody, Picked::Route)
}

/// A leaf connection's or another cluster's member of a queue group, taken only when no
/// local or route member could be (nats-server prefers those and keeps leaf connections
/// and gateways as the fallback).
fn leaf_fallback<'r>(members: &'r [SubRef], origin: Origin<'_>) -> Option<&'r SubRef> {
    members.iter().find(|s| {
        s.remote.as_ref().is_some_and(|r| !r.is_route())
            && s.weight() > 0
            && origin.may_send_to(s)
            && !s.closed.load(std::sync::atomic::Ordering::Relaxed)
    })
}

/// Routes a message goes to, each once, with the queue groups whose member it holds
/// (spec cluster.md §1.11.2: at most one RMSG per route connection).
type RouteTargets<'r> = SmallVec<[(&'r SubRef, SmallVec<[&'r [u8]; 4]>); 4]>;

fn add_route_target<'r>(targets: &mut RouteTargets<'r>, sub: &'r SubRef, queue: Option<&'r [u8]>) {
    let same = |t: &&mut (&'r SubRef, SmallVec<[&'r [u8]; 4]>)| {
        t.0.worker == sub.worker && t.0.slot == sub.slot && t.0.cid == sub.cid
    };
    match targets.iter_mut().find(same) {
        Some(target) => target.1.extend(queue),
        None => targets.push((sub, queue.into_iter().collect())),
    }
}

/// The bytes of one `RMSG`/`HMSG` to a route (headers stripped for a peer without them).
fn encode_routed(
    out: &mut Vec<u8>,
    headers: bool,
    account: &[u8],
    msg: &Pub<'_>,
    queues: &[&[u8]],
) {
    let mut digits = [0u8; 20];
    let (hdr, size, data) = match msg.header_size_field {
        Some(hdr) if msg.header_len > 0 && headers => (Some(hdr), msg.size_field, msg.data),
        Some(_) if msg.header_len > 0 => {
            let payload = msg.payload();
            let size = encode::fmt_usize(payload.len(), &mut digits);
            (None, size, payload)
        }
        _ => (None, msg.size_field, msg.data),
    };
    let (subject, reply) = (msg.subject, msg.reply);
    protocol::route::write_rmsg(out, account, subject, reply, queues, hdr, size, data);
}

impl Worker {
    /// PUB/HPUB from the connection in `slot` (spec §1.5 for the order of checks).
    ///
    /// Called by `dispatch` on the publisher's worker, with `msg` borrowing the read buffer.
    /// Touches the publisher's connection (counters, `+OK`, `-ERR`), the sublist (read only,
    /// through the worker's cache) and the destinations' buffers or batches; writes nothing to
    /// a socket. Afterwards every destination on this worker is marked dirty and every other
    /// destination has a record in `batches`.
    pub(super) fn route_pub(&mut self, slot: Slot, msg: &Pub<'_>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.in_msgs += 1;
        conn.in_bytes += msg.data.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.data.len() as u64;
        let (cid, echo, verbose, no_responders) = (
            conn.cid,
            conn.opts.echo,
            conn.opts.verbose,
            conn.opts.no_responders,
        );
        let Some(account) = conn.account() else {
            return;
        };
        if conn.opts.pedantic && !subject::is_valid_literal_subject(msg.subject) {
            self.send_err(slot, errors::INVALID_PUBLISH_SUBJECT.as_bytes());
        }
        if msg.subject.starts_with(b"_GR_.") && msg.subject.len() > 5 {
            self.send_err(slot, &errors::pub_violation(msg.subject));
            return;
        }
        if !self.publish_allowed(slot, msg.subject) {
            self.send_err(slot, &errors::pub_violation(msg.subject));
            return;
        }
        if msg.subject.starts_with(b"$NRG.") {
            self.send_err(slot, &errors::pub_violation(msg.subject));
            return;
        }
        if let Some(reply) = msg.reply {
            if reserved_reply(reply) {
                self.send_err(slot, &errors::reply_violation(reply));
                return;
            }
        }
        if verbose {
            self.queue_out(slot, encode::OK);
        }
        if msg.subject == USER_INFO_SUBJECT {
            if let (Some(sys), Some(reply), Some(conn)) =
                (self.shared.sys(), msg.reply, self.conns.get(slot))
            {
                // Answered here, from the requesting connection's live identity (spec sys.md
                // §3.8), by the system thread so the reply carries its ServerInfo sequence.
                sys.report(crate::msgs::SysEvent::Reply {
                    account,
                    reply: reply.to_vec(),
                    data: user_info(conn),
                });
                return;
            }
        }
        self.on_closed_gate = if self.rt.limits.no_fast_producer_stall {
            OnClosedGate::Skip
        } else {
            OnClosedGate::Stall
        };
        // An answer to a request that came from another cluster goes back mapped.
        let mapped = self
            .shared
            .gateways()
            .and_then(|gw| gw.mapped_reply(&account.name, msg.subject));
        let answer;
        let msg = match mapped.as_deref() {
            Some(full) => {
                answer = Pub {
                    subject: full,
                    ..*msg
                };
                &answer
            }
            None => msg,
        };
        let delivered = self.route_in(account, msg, Origin::Local { cid, echo }, 0);
        self.on_closed_gate = OnClosedGate::Deliver;
        if self.wait_on.is_some() {
            self.stall_publisher(slot, Instant::now());
        }
        if delivered == 0 && no_responders {
            if let Some(reply) = msg.reply {
                self.no_responders(slot, msg.subject, reply);
            }
        }
    }

    /// `msg` as local subscribers get it: a reply mapped by another cluster
    /// (`_GR_.<cluster>.<server>.<reply>`) without its prefix, remembered for the answer.
    fn unmapped_for_local<'m>(&self, account: &Account, msg: &Pub<'m>) -> Pub<'m> {
        let Some(reply) = msg.reply.filter(|r| r.starts_with(b"_GR_.")) else {
            return *msg;
        };
        let (Some(gw), Some((_, _, rest))) = (
            self.shared.gateways(),
            crate::gateway::wire::parse_mapped(reply),
        ) else {
            return *msg;
        };
        gw.track_reply(&account.name, rest, reply);
        Pub {
            reply: Some(rest),
            ..*msg
        }
    }

    /// A message on a mapped reply subject (`_GR_.<cluster>.<server>.<reply>`): for this
    /// server, delivered here without the prefix; for another server of this cluster, sent
    /// as is over the route to it; for another cluster, over the outbound gateway to it,
    /// whatever the interest (nats-server `handleGatewayReply`).
    fn route_mapped(&mut self, account: &'static Account, msg: &Pub<'_>, depth: usize) -> usize {
        let shared = self.shared.clone();
        let Some(gw) = shared.gateways() else {
            return 0;
        };
        let Some((cluster_hash, server_hash, rest)) =
            crate::gateway::wire::parse_mapped(msg.subject)
        else {
            return 0;
        };
        if depth >= IMPORT_DEPTH_MAX {
            return 0;
        }
        let name = account.name.as_bytes();
        if cluster_hash != gw.cluster_hash.as_bytes() {
            let Some(out) = gw.outbound_by_hash(cluster_hash) else {
                return 0;
            };
            let target = LinkTarget {
                worker: out.link.worker,
                slot: out.link.slot,
                cid: out.link.cid,
                gate: Some(&out.gate),
                headers: out.headers,
            };
            self.deliver_to_link(&target, name, msg, &[]);
            return 1;
        }
        if server_hash == gw.server_hash.as_bytes() {
            let local = Pub {
                subject: rest,
                ..*msg
            };
            return self.route_in(account, &local, Origin::LocalOnly, depth + 1);
        }
        let Some(link) = shared.cluster().and_then(|c| c.route_by_hash(server_hash)) else {
            return 0;
        };
        let target = LinkTarget {
            worker: link.worker,
            slot: link.slot,
            cid: link.cid,
            gate: None,
            headers: true,
        };
        self.deliver_to_link(&target, name, msg, &[]);
        1
    }

    /// Publishes a message of the server's own (system events) in `account`.
    pub(super) fn route_internal(
        &mut self,
        account: &'static Account,
        subject: &[u8],
        reply: Option<&[u8]>,
        data: &[u8],
    ) {
        let mut digits = [0u8; 20];
        let size = encode::fmt_usize(data.len(), &mut digits);
        let msg = Pub {
            subject,
            reply,
            header_size_field: None,
            size_field: size,
            header_len: 0,
            data,
        };
        // The server's own messages never stall (`on_closed_gate` is `Deliver` outside
        // `route_pub`, so neither a gate nor a full inbox records a wait).
        self.route_in(account, &msg, Origin::Local { cid: 0, echo: true }, 0);
        debug_assert!(self.wait_on.is_none(), "internal publishes never stall");
    }

    /// Delivers `msg` within `account`: every plain subscription, one member per queue group,
    /// the import entries that carry it into other accounts and, for a local message, one
    /// `RMSG` per route with interest. `origin` decides echo suppression and where it may go.
    /// Returns how many deliveries were made (a route counts once).
    ///
    /// Takes no lock on a cache hit; an import may take `Accounts.map` and the exporter's
    /// `Account.responses` (docs/LOCK_ORDER.md). Recursion through imports is bounded by
    /// the import depth passed down.
    pub(super) fn route_in(
        &mut self,
        account: &'static Account,
        msg: &Pub<'_>,
        origin: Origin<'_>,
        depth: usize,
    ) -> usize {
        let gateways = self.shared.gateways().is_some();
        if gateways && msg.subject.starts_with(b"_GR_.") {
            return self.route_mapped(account, msg, depth);
        }
        // A reply mapped by another cluster reaches local subscribers as its requester
        // wrote it, and is remembered so that their answer goes back the same way; routes,
        // leaf connections and imports keep the mapped form (nats-server `trackGWReply`).
        let local_msg = if gateways {
            self.unmapped_for_local(account, msg)
        } else {
            *msg
        };
        // The cache is taken out while its result is in use, so deliveries can borrow the
        // worker mutably without cloning the result's `Arc` (a shared reference count) per
        // message. A nested route (through an import) works with an empty stand-in cache.
        let mut cache = std::mem::take(&mut self.cache);
        let result = cache.matches(&account.sublist, msg.subject);
        let (cid, echo) = origin.publisher();
        let mut routes: RouteTargets<'_> = SmallVec::new();
        let mut delivered = 0usize;
        for sub in result.psubs.iter() {
            if let Some(route) = &sub.import {
                if origin.follows(route) {
                    let next = origin.imported(route);
                    delivered += self.route_import(account, route, msg, next, depth);
                }
            } else if sub.remote.is_some() {
                if origin.may_send_to(sub) {
                    add_route_target(&mut routes, sub, None);
                }
            } else if (echo || sub.cid != cid) && self.deliver(sub, &local_msg) {
                delivered += 1;
            }
        }
        for group in result.qsubs.iter() {
            let members = &group.members;
            let Some(name) = members.first().and_then(|m| m.queue.as_deref()) else {
                continue;
            };
            if let Some(queues) = origin.named_queues() {
                if !queues.contains(name) {
                    continue;
                }
            }
            let picked = match self.pick_member(account, members, &local_msg, origin, depth) {
                Picked::Nobody => second_hop(members, origin),
                picked => picked,
            };
            match picked {
                Picked::Local => delivered += 1,
                Picked::Route(sub) => add_route_target(&mut routes, sub, Some(name)),
                Picked::Nobody => {}
            }
        }
        for (sub, queues) in &routes {
            self.deliver_remote(sub, msg, queues);
        }
        delivered += routes.len();
        drop(routes);
        self.cache = cache;
        delivered
    }

    /// Picks the member of a queue group that gets `msg` and delivers to it if it is local;
    /// a route's entry is returned (the caller adds the group to that route's RMSG).
    /// Route entries count as many times as the peer has members (spec §1.11.2: nats-server
    /// picks among all members, local ones included); local ones once. The pick starts at a
    /// random weighted position and probes on past members that can't take the message.
    fn pick_member<'r>(
        &mut self,
        account: &'static Account,
        members: &'r [SubRef],
        msg: &Pub<'_>,
        origin: Origin<'_>,
        depth: usize,
    ) -> Picked<'r> {
        let (cid, echo) = origin.publisher();
        // The server's own queue entries (`$SYS.REQ.CLAIMS.PACK`, group `responder`) never
        // take the server's own requests: its system client does not hear itself. Leaf
        // connections' members are the fallback (`second_hop`).
        let eligible = |s: &SubRef| match (&s.remote, &s.import) {
            (Some(r), _) => {
                r.is_route()
                    && matches!(
                        origin,
                        Origin::Local { .. } | Origin::Leaf { .. } | Origin::Gateway { .. }
                    )
                    && origin.may_send_to(s)
            }
            (None, Some(_)) => cid != 0,
            (None, None) => echo || s.cid != cid,
        };
        let start = if self.clustered {
            let total: u64 = members
                .iter()
                .filter(|s| eligible(s))
                .map(|s| s.weight())
                .sum();
            if total == 0 {
                return Picked::Nobody;
            }
            let mut r = self.next_random() % total;
            let mut start = 0;
            for (i, s) in members.iter().enumerate().filter(|(_, s)| eligible(s)) {
                let w = s.weight();
                if r < w {
                    start = i;
                    break;
                }
                r -= w;
            }
            start
        } else {
            (self.next_random() % members.len() as u64) as usize
        };
        for i in 0..members.len() {
            let sub = &members[(start + i) % members.len()];
            if !eligible(sub) {
                continue;
            }
            if sub.remote.is_some() && !sub.closed.load(std::sync::atomic::Ordering::Relaxed) {
                return Picked::Route(sub);
            }
            if let Some(route) = sub.import.as_deref() {
                if self.route_import(account, route, msg, origin.imported(route), depth) > 0 {
                    return Picked::Local;
                }
                continue;
            }
            if sub.remote.is_none() && self.deliver(sub, msg) {
                return Picked::Local;
            }
        }
        Picked::Nobody
    }

    /// Carries a message across accounts through an import entry (spec §4.11).
    fn route_import(
        &mut self,
        account: &'static Account,
        route: &ImportRoute,
        msg: &Pub<'_>,
        origin: Origin<'static>,
        depth: usize,
    ) -> usize {
        if depth >= IMPORT_DEPTH_MAX {
            return 0;
        }
        match route {
            ImportRoute::Stream {
                to,
                from,
                prefix,
                to_subject,
            } => {
                let subject = if !prefix.is_empty() {
                    [prefix.as_bytes(), msg.subject].concat()
                } else if !to_subject.is_empty() {
                    map_subject(from, to_subject, msg.subject)
                } else {
                    msg.subject.to_vec()
                };
                let mapped = Pub {
                    subject: &subject,
                    ..*msg
                };
                self.route_in(to, &mapped, origin, depth + 1)
            }
            ImportRoute::Service {
                exporter,
                importer,
                local,
                remote,
                response_type,
                threshold,
                ..
            } => {
                let subject = map_subject(local, remote, msg.subject);
                let reply = msg.reply.map(|r| {
                    let importer_acc = self.shared.accounts.get(importer);
                    match importer_acc {
                        Some(acc) => exporter.add_response(&acc, r, *response_type, *threshold),
                        None => Vec::new(),
                    }
                });
                // A JSON string, escaped by serde (a `{:?}` would escape as Rust does).
                let acc = serde_json::Value::from(importer.as_str());
                let info = format!("Nats-Request-Info: {{\"acc\":{acc},\"rtt\":0}}");
                let with_header = RequestWithHeader::build(msg, info.as_bytes());
                let forwarded = Pub {
                    subject: &subject,
                    reply: reply.as_deref().filter(|r| !r.is_empty()),
                    header_size_field: Some(&with_header.header_size),
                    size_field: &with_header.total_size,
                    header_len: with_header.header_len,
                    data: &with_header.data,
                };
                self.route_in(exporter, &forwarded, origin, depth + 1)
            }
            ImportRoute::SysRequest => {
                let Some(sys) = self.shared.sys() else {
                    return 0;
                };
                sys.report(crate::msgs::SysEvent::Request {
                    account,
                    subject: String::from_utf8_lossy(msg.subject).into_owned(),
                    reply: msg.reply.map(|r| r.to_vec()),
                    headers: msg.data[..msg.header_len].to_vec(),
                    payload: msg.payload().to_vec(),
                });
                1
            }
            ImportRoute::Response { importer } => {
                let Some((to, reply)) =
                    account.take_response(msg.subject, msg.payload().is_empty())
                else {
                    return 0;
                };
                debug_assert!(std::ptr::eq(to, *importer));
                let back = Pub {
                    subject: &reply,
                    reply: None,
                    ..*msg
                };
                self.route_in(to, &back, origin, depth + 1)
            }
        }
    }

    /// Publish permission (spec §4.9): the allow/deny lists, cached per connection, then the
    /// reply subjects the client received while it has response permissions.
    fn publish_allowed(&mut self, slot: Slot, subject: &[u8]) -> bool {
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        let Some(perms) = conn.identity.as_ref().and_then(|i| i.perms.clone()) else {
            return true;
        };
        let allowed = match conn.pub_cache.get(subject) {
            Some(&allowed) => allowed,
            None => {
                let allowed = perms.can_publish(subject);
                if conn.pub_cache.len() >= PUB_CACHE_MAX {
                    conn.pub_cache.clear();
                }
                conn.pub_cache.insert(subject.into(), allowed);
                allowed
            }
        };
        if allowed {
            return true;
        }
        let Some(resp) = perms.response else {
            return false;
        };
        let Some((at, count)) = conn.replies.get_mut(subject) else {
            return false;
        };
        let expired = resp.expires.is_some_and(|ttl| at.elapsed() > ttl);
        let exhausted = resp.max_msgs > 0 && *count >= resp.max_msgs;
        if expired || exhausted {
            conn.replies.remove(subject);
            return false;
        }
        *count += 1;
        if resp.max_msgs > 0 && *count >= resp.max_msgs {
            conn.replies.remove(subject);
        }
        true
    }

    /// Delivers to one subscription: encoded straight into the connection's outbound buffer
    /// when it is on this worker, else into the batch for its worker. Returns false if it
    /// could not take the message.
    ///
    /// Import subscriptions never get here (`route_in` routes them); they have no worker.
    fn deliver(&mut self, sub: &SubRef, msg: &Pub<'_>) -> bool {
        debug_assert!(
            sub.import.is_none(),
            "import subscriptions are routed, not delivered"
        );
        if let Some(deny) = &sub.deny {
            if denied_at_delivery(deny, msg.subject, sub.queue.as_deref()) {
                return false;
            }
        }
        let closed_gate = sub.gate.as_ref().filter(|g| g.is_closed());
        if closed_gate.is_some() && self.on_closed_gate == OnClosedGate::Skip {
            return false;
        }
        let claim = sub.claim();
        if claim == Claim::Skip {
            return false;
        }
        if let Some(gate) = closed_gate.filter(|_| self.on_closed_gate == OnClosedGate::Stall) {
            self.note_closed_gate(gate);
        }
        let reply = if sub.track_replies { msg.reply } else { None };
        if sub.worker != self.id {
            // Client publishes stall on a full inbox even with `no_fast_producer_stall`: what
            // is in flight between workers has not met the subscriber's gate yet, and without
            // this bound it could pile up past `max_pending` (docs/COMPATIBILITY.md).
            if self.on_closed_gate != OnClosedGate::Deliver {
                self.check_inbox(sub.worker);
            }
            let batch = &mut self.batches[sub.worker.0];
            batch.push_msg(sub.slot, sub.cid, reply, msg.data.len(), |out| {
                encode_delivery(out, sub, msg)
            });
            if claim == Claim::DeliverLast {
                batch.auto_unsubs.push(sub.0.clone());
            }
            return true;
        }
        let max_pending = self.rt.limits.max_pending;
        let Some(conn) = self.conns.get_mut(sub.slot) else {
            return false;
        };
        if conn.cid != sub.cid || conn.is_closing() {
            return false;
        }
        conn.out
            .encode(delivery_size(sub, msg), &mut self.chunks, |out| {
                encode_delivery(out, sub, msg)
            });
        if let Some(reply) = reply {
            allow_reply(conn, reply);
        }
        conn.out_msgs += 1;
        conn.out_bytes += msg.data.len() as u64;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += msg.data.len() as u64;
        if conn.queued_over(max_pending) {
            self.slow_consumer(sub.slot);
            return true;
        }
        self.mark_dirty(sub.slot);
        if claim == Claim::DeliverLast {
            self.auto_unsub_done(&sub.0);
        }
        true
    }

    /// Sends `msg` to the route behind `sub` as one `RMSG`/`HMSG` naming `queues`: into the
    /// route's outbound queue when it is on this worker (after the interest lines waiting for
    /// it), else into the batch for its worker. Flow control as for a client subscriber: a
    /// route whose pending output is high stalls the client publishing to it.
    fn deliver_remote(&mut self, sub: &SubRef, msg: &Pub<'_>, queues: &[&[u8]]) {
        let Some(remote) = sub.remote.as_deref() else {
            return;
        };
        if sub.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let target = LinkTarget {
            worker: sub.worker,
            slot: sub.slot,
            cid: sub.cid,
            gate: sub.gate.as_ref(),
            headers: sub.headers.load(std::sync::atomic::Ordering::Relaxed),
        };
        // A reply crossing to another cluster is mapped, so its answer can find its way
        // back whatever the interest (nats-server `sendMsgToGateways`).
        let mapped = match (remote.is_gateway(), msg.reply, self.shared.gateways()) {
            (true, Some(reply), Some(gw)) if !reply.starts_with(b"_GR_.") => {
                Some([gw.reply_prefix.as_bytes(), reply].concat())
            }
            _ => None,
        };
        match mapped.as_deref() {
            Some(reply) => {
                let with_mapped = Pub {
                    reply: Some(reply),
                    ..*msg
                };
                self.deliver_to_link(&target, &remote.account, &with_mapped, queues)
            }
            None => self.deliver_to_link(&target, &remote.account, msg, queues),
        }
    }

    /// One `RMSG`/`HMSG`/`LMSG` for the connection `target`: into its outbound queue when
    /// it is on this worker (after the interest lines waiting for it), else into the batch
    /// for its worker. Flow control as for a client subscriber.
    pub(super) fn deliver_to_link(
        &mut self,
        target: &LinkTarget<'_>,
        account: &[u8],
        msg: &Pub<'_>,
        queues: &[&[u8]],
    ) {
        if let Some(gate) = target.gate.filter(|g| g.is_closed()) {
            if self.on_closed_gate == OnClosedGate::Stall {
                self.note_closed_gate(gate);
            }
        }
        let headers = target.headers;
        let size =
            protocol::route::rmsg_size(account, msg.subject, msg.reply, queues, msg.data.len());
        if target.worker != self.id {
            if self.on_closed_gate != OnClosedGate::Deliver {
                self.check_inbox(target.worker);
            }
            let batch = &mut self.batches[target.worker.0];
            batch.push_msg(target.slot, target.cid, None, msg.data.len(), |out| {
                encode_routed(out, headers, account, msg, queues)
            });
            return;
        }
        self.flush_route_lines(target.slot);
        let max_pending = self.rt.limits.max_pending;
        let Some(conn) = self.conns.get_mut(target.slot) else {
            return;
        };
        if conn.cid != target.cid || conn.is_closing() {
            return;
        }
        conn.out.encode(size, &mut self.chunks, |out| {
            encode_routed(out, headers, account, msg, queues)
        });
        conn.out_msgs += 1;
        conn.out_bytes += msg.data.len() as u64;
        if conn.queued_over(max_pending) {
            self.slow_consumer(target.slot);
            return;
        }
        self.mark_dirty(target.slot);
    }

    /// The last allowed delivery happened: remove the subscription if it is still this one.
    fn auto_unsub_done(&mut self, sub: &Arc<Sub>) {
        let Some(conn) = self.conns.get(sub.slot) else {
            return;
        };
        let current = conn.subs.get(&sub.sid).is_some_and(|s| Arc::ptr_eq(s, sub));
        if conn.cid == sub.cid && current {
            self.remove_sub(sub.slot, &sub.sid.clone());
        }
    }

    /// Deliveries handed over by another worker, from `drain_inbox`.
    ///
    /// A record whose slot now holds another connection (closed and reused since) or a
    /// closing one is skipped. Records in a row for one connection are delivered together
    /// (`deliver_run`); the buffer goes back to its sender.
    pub(super) fn deliver_batch(&mut self, batch: Batch) {
        let mut run: SmallVec<[Record<'_>; RUN_RECORDS_MAX]> = SmallVec::new();
        for record in records(&batch.msgs) {
            let same_conn = run
                .first()
                .is_some_and(|r| r.slot == record.slot && r.cid == record.cid);
            if !same_conn || run.len() == RUN_RECORDS_MAX {
                self.deliver_run(&run);
                run.clear();
            }
            run.push(record);
        }
        self.deliver_run(&run);
        drop(run);
        for sub in &batch.auto_unsubs {
            self.auto_unsub_done(sub);
        }
        self.inbox_drained(batch.msgs.len());
        // Hand the buffer back to its sender for the next batch.
        let mut msgs = batch.msgs;
        if msgs.capacity() <= super::SPARE_BUFFER_MAX_BYTES {
            msgs.clear();
            if let Some(sender) = self.shared.workers().get(batch.from.0) {
                sender.return_buffer(msgs);
            }
        }
    }

    /// Delivers batch records in a row for one connection of this worker.
    ///
    /// Large runs to a plaintext connection with nothing queued are written with one `writev`
    /// straight from the batch buffer, saving the copy into the outbound queue (at 16 KiB
    /// messages that copy was half of the server's user time); whatever the socket does not
    /// take, and every other run, is queued as usual (slow-consumer check included) and
    /// flushed at the end of the iteration.
    fn deliver_run(&mut self, run: &[Record<'_>]) {
        let Some(&Record { slot, cid, .. }) = run.first() else {
            return;
        };
        // A route gets the interest lines queued for it before these messages (only a server
        // with a cluster has routes: the others skip the lookup).
        if self.clustered {
            self.flush_route_lines(slot);
        }
        let max_pending = self.rt.limits.max_pending;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.cid != cid || conn.is_closing() {
            return;
        }
        for r in run.iter().filter(|r| !r.reply.is_empty()) {
            allow_reply(conn, r.reply);
        }
        let payload_bytes: u64 = run.iter().map(|r| r.payload_len as u64).sum();
        conn.out_msgs += run.len() as u64;
        conn.out_bytes += payload_bytes;
        self.stats.out_msgs += run.len() as u64;
        self.stats.out_bytes += payload_bytes;
        let bytes: usize = run.iter().map(|r| r.bytes.len()).sum();
        let mut written = 0;
        // Only a plain TCP socket takes the bytes as they are: TLS and WebSocket connections
        // wrap them at the flush.
        let plain = conn.tls.is_none() && conn.ws.is_none();
        if bytes >= DIRECT_WRITE_MIN_BYTES && plain && conn.out.pending() == 0 {
            written = write_run(&mut conn.sock, run);
            if written > 0 {
                conn.stalled_since = None;
            }
        }
        let mut skip = written;
        for r in run {
            if skip >= r.bytes.len() {
                skip -= r.bytes.len();
                continue;
            }
            conn.out.push(&r.bytes[skip..], &mut self.chunks);
            skip = 0;
        }
        if conn.out.pending() == 0 {
            return;
        }
        if conn.queued_over(max_pending) {
            self.slow_consumer(slot);
            return;
        }
        self.mark_dirty(slot);
    }

    /// Sends the 503 no-responders status on the requester's own subscription that matches the
    /// reply subject, if it has one (spec §1.12).
    fn no_responders(&mut self, slot: Slot, subject: &[u8], reply: &[u8]) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let sid = conn
            .subs
            .values()
            .find(|s| s.queue.is_none() && subject::subject_matches(&s.subject, reply))
            .map(|s| s.sid.clone());
        if let Some(sid) = sid {
            let mut out = Vec::with_capacity(64 + reply.len() + subject.len());
            encode::write_no_responders(&mut out, reply, &sid, subject);
            self.queue_out(slot, &out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_replies() {
        assert!(reserved_reply(b"_R_.abc"));
        assert!(reserved_reply(b"_R_."));
        assert!(reserved_reply(b"$JS.ACK.x"));
        assert!(!reserved_reply(b"$JS.ACK."));
        assert!(reserved_reply(b"_GR_.x"));
        assert!(!reserved_reply(b"_INBOX.x"));
    }
}
