//! A client subscription as stored in the shared sublist.
//!
//! The owning worker creates it and is the only one that changes its membership (UNSUB, close);
//! publishing workers read it to address deliveries. The counters are atomics only because
//! auto-unsubscribe (`UNSUB <sid> <max>`) must be exact even when publishers on several workers
//! deliver to the same subscription at once.

use crate::ids::{Slot, WorkerId};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// One subscription.
#[derive(Debug)]
pub struct Sub {
    /// The worker that owns the subscriber's connection.
    pub worker: WorkerId,
    /// The connection's slot in that worker.
    pub slot: Slot,
    /// The connection id (slots are reused; the cid tells a stale delivery apart).
    pub cid: u64,
    /// The client's subscription id, echoed in MSG.
    pub sid: Box<[u8]>,
    /// The subject or pattern.
    pub subject: Box<[u8]>,
    /// The queue group, if any.
    pub queue: Option<Box<[u8]>>,
    /// Whether the subscriber takes HMSG; updated by the owner if a CONNECT changes it.
    pub headers: AtomicBool,
    /// Auto-unsubscribe after this many deliveries; 0 means no limit.
    pub max_msgs: AtomicU64,
    /// Deliveries claimed so far.
    pub delivered: AtomicU64,
    /// Set by the owner when the subscription is removed, so publishers holding an older match
    /// result skip it.
    pub closed: AtomicBool,
    /// Subscribe deny entries to check each delivery against (wildcard or queue
    /// subscriptions of clients with a subscribe deny list, spec §4.9).
    pub deny: Option<Box<[crate::auth::perms::Entry]>>,
    /// The subscriber has response permissions: deliveries carry the reply subject to it so
    /// it may answer.
    pub track_replies: bool,
    /// Set for the server's own entries that carry messages across accounts (imports);
    /// `None` for client subscriptions.
    pub import: Option<Box<crate::account::ImportRoute>>,
    /// The subscriber connection's stall gate (`None` for imports): closed while its pending
    /// output is over three quarters of `max_pending`, so that publishers delivering to it
    /// pause reading (see `worker::flow`).
    pub gate: Option<Arc<crate::gate::StallGate>>,
    /// Set for interest a route peer announced (`RS+`): the subscriber is that route
    /// connection, and deliveries become `RMSG`s carrying the account name.
    pub remote: Option<Box<Remote>>,
}

/// Which end of a leaf node connection this server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafRole {
    /// This server is the hub: it accepted the connection (or solicited it with `hub: true`).
    /// The remote's interest and messages are treated like a client's.
    Hub,
    /// This server solicited the connection (the "spoke"): what the hub sends stays here.
    Spoke,
}

/// What a leaf connection's interest entry adds to a route's.
#[derive(Debug)]
pub struct LeafPeer {
    /// The remote's cluster: messages from that cluster never go back to it.
    pub cluster: Box<[u8]>,
    /// Which end we are.
    pub role: LeafRole,
}

/// What a route's (or leaf connection's) interest entry needs beyond a client
/// subscription's fields.
#[derive(Debug)]
pub struct Remote {
    /// The account name, written into every `RMSG`; empty for a leaf connection, whose
    /// `LMSG` has none.
    pub account: Box<[u8]>,
    /// How many members of the queue group the peer has (queue entries only): the entry
    /// counts that many times when a member is picked (spec cluster.md §1.11.2). An `RS+`
    /// for the same key replaces it.
    pub weight: AtomicU32,
    /// Which kind of connection the entry is for.
    pub kind: RemoteKind,
}

/// The connection behind a [`Remote`] entry.
#[derive(Debug, Clone)]
pub enum RemoteKind {
    /// A route.
    Route,
    /// A leaf node connection.
    Leaf(Arc<LeafPeer>),
    /// An outbound gateway connection (its peer's cluster has this interest).
    Gateway,
}

impl Remote {
    /// The leaf connection's facts, for a leaf connection's entry.
    pub fn leaf(&self) -> Option<&LeafPeer> {
        match &self.kind {
            RemoteKind::Leaf(peer) => Some(peer),
            _ => None,
        }
    }

    /// Whether the entry is a route's.
    pub fn is_route(&self) -> bool {
        matches!(self.kind, RemoteKind::Route)
    }

    /// Whether the entry is an outbound gateway's.
    pub fn is_gateway(&self) -> bool {
        matches!(self.kind, RemoteKind::Gateway)
    }
}

/// Where a route's, leaf connection's or gateway's interest entry points: the connection.
#[derive(Debug, Clone)]
pub struct LinkAddr {
    /// The worker owning the connection.
    pub worker: WorkerId,
    /// Its slot there.
    pub slot: Slot,
    /// Its connection id.
    pub cid: u64,
    /// Its stall gate.
    pub gate: Arc<crate::gate::StallGate>,
    /// It takes `HMSG`.
    pub headers: bool,
}

impl Sub {
    /// The entry for interest a route, leaf connection or gateway announced in `subject`
    /// (`queue`): deliveries to it become one message on that connection.
    pub fn remote(at: LinkAddr, subject: &[u8], queue: Option<&[u8]>, remote: Remote) -> Sub {
        Sub {
            worker: at.worker,
            slot: at.slot,
            cid: at.cid,
            sid: Box::default(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            headers: AtomicBool::new(at.headers),
            max_msgs: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            deny: None,
            track_replies: false,
            import: None,
            gate: Some(at.gate),
            remote: Some(Box::new(remote)),
        }
    }

    /// An internal subscription that forwards matching messages across accounts.
    pub fn import(subject: &[u8], route: crate::account::ImportRoute) -> Sub {
        Sub {
            worker: WorkerId::NONE,
            slot: Slot::NONE,
            cid: 0,
            sid: Box::default(),
            subject: subject.into(),
            queue: None,
            headers: AtomicBool::new(true),
            max_msgs: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            deny: None,
            track_replies: false,
            import: Some(Box::new(route)),
            gate: None,
            remote: None,
        }
    }
}

/// What a publisher may do with a subscription right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Deliver; more may follow.
    Deliver,
    /// Deliver; this is the last delivery before the auto-unsubscribe limit.
    DeliverLast,
    /// Don't deliver: closed or over its limit.
    Skip,
}

impl Sub {
    /// The weight of this entry when a queue member is picked: the peer's member count for
    /// a route's entry (0, as a peer may send, is never picked, like nats-server), 1 for a
    /// local subscriber.
    #[inline]
    pub fn weight(&self) -> u64 {
        self.remote
            .as_ref()
            .map_or(1, |r| u64::from(r.weight.load(Ordering::Relaxed)))
    }

    /// Claims one delivery, honouring the auto-unsubscribe limit exactly across workers.
    pub fn claim(&self) -> Claim {
        if self.closed.load(Ordering::Relaxed) {
            return Claim::Skip;
        }
        // Counted for every subscription, because `UNSUB <sid> <max>` counts deliveries made
        // before it. The counter is per subscription, so it is only contended when publishers
        // on several cores feed the same subscriber.
        let n = self.delivered.fetch_add(1, Ordering::AcqRel) + 1;
        let max = self.max_msgs.load(Ordering::Acquire);
        if max == 0 {
            return Claim::Deliver;
        }
        match n.cmp(&max) {
            std::cmp::Ordering::Less => Claim::Deliver,
            std::cmp::Ordering::Equal => Claim::DeliverLast,
            std::cmp::Ordering::Greater => Claim::Skip,
        }
    }
}

/// The value stored in the sublist: equality is identity, so removing one subscription never
/// removes another with the same subject.
#[derive(Debug, Clone)]
pub struct SubRef(pub Arc<Sub>);

impl PartialEq for SubRef {
    fn eq(&self, other: &SubRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for SubRef {
    type Target = Sub;
    fn deref(&self) -> &Sub {
        &self.0
    }
}

/// A connection's subscriptions by sid. The key is the sid inside each `Sub`, so a
/// subscription costs no second copy of its sid (this map has one entry per subscription and
/// connections can hold many thousands).
#[derive(Debug, Default)]
pub struct SidMap {
    set: std::collections::HashSet<BySid>,
}

/// A subscription hashed and compared by its sid.
#[derive(Debug, Clone)]
struct BySid(Arc<Sub>);

impl PartialEq for BySid {
    fn eq(&self, other: &BySid) -> bool {
        self.0.sid == other.0.sid
    }
}

impl Eq for BySid {}

impl std::hash::Hash for BySid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Must hash like the `[u8]` it borrows as.
        self.0.sid.as_ref().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        &self.0.sid
    }
}

impl SidMap {
    /// The subscription with this sid.
    pub fn get(&self, sid: &[u8]) -> Option<&Arc<Sub>> {
        self.set.get(sid).map(|s| &s.0)
    }

    /// Whether a subscription has this sid.
    pub fn contains_key(&self, sid: &[u8]) -> bool {
        self.set.contains(sid)
    }

    /// Adds a subscription (replacing one with the same sid).
    pub fn insert(&mut self, sub: Arc<Sub>) {
        self.set.replace(BySid(sub));
    }

    /// Removes and returns the subscription with this sid.
    pub fn remove(&mut self, sid: &[u8]) -> Option<Arc<Sub>> {
        self.set.take(sid).map(|s| s.0)
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The subscriptions.
    pub fn values(&self) -> impl Iterator<Item = &Arc<Sub>> {
        self.set.iter().map(|s| &s.0)
    }

    /// All subscriptions, consuming the map.
    pub fn into_values(self) -> impl Iterator<Item = Arc<Sub>> {
        self.set.into_iter().map(|s| s.0)
    }
}
