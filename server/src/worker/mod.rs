//! Worker threads: one per core, each with its own mio `Poll` and its own connections.
//!
//! # The loop
//! ```text
//! run_loop      poll (retry EINTR) -> for event: match token
//!   WAKER       -> drain_inbox()        new connections, batches from other workers, commands
//!   conn token  -> conn_ready()         read -> parse -> dispatch -> route -> mark dirty
//!   after batch -> read_pending_again() connections whose read budget ran out
//!               -> send_batches()       one hand-over per destination worker, then wake it
//!               -> flush_dirty()        one write per dirty connection (redis beforeSleep)
//!               -> fire_timers()        PING, auth timeout, write deadline, lame duck closes
//! ```
//! (`refresh_runtime` runs after each poll: one atomic load notices a reload.)
//!
//! A publish is matched against the shared sublist once. Deliveries to this worker's
//! connections go straight into their outbound buffers; deliveries to other workers' connections
//! are encoded into one batch per destination worker and handed over once per loop iteration.
//! Statistics are plain fields of this thread. No lock is taken per message on a match-cache
//! hit; a cache miss reads the sublist's shards, and a service import with a reply takes
//! `Accounts.map` and the exporter's `Account.responses` (docs/LOCK_ORDER.md).
//!
//! # Files
//! `io.rs` (the data path of a connection), `dispatch.rs` (one op), `route.rs` (matching and
//! delivery), `flow.rs` (stalling fast publishers), `control.rs` (reload, account changes,
//! lame duck, kick), `timers.rs`, `conns.rs` (the slab), `conn.rs` (`Conn`, its `ConnState`
//! and account `Binding`), `outbound.rs` (queued output in pooled chunks), `tls.rs`,
//! `snapshot.rs`.

mod conn;
mod conns;
mod control;
mod dispatch;
mod flow;
mod gateway;
mod io;
mod leaf;
mod outbound;
mod peer;
mod route;
mod snapshot;
mod timers;
mod tls;
mod ws;

pub use conn::ClosedReason;

use crate::ids::{Slot, WorkerId};
use crate::log;
use crate::msgs::batch::Batch;
use crate::msgs::WorkerMsg;
use crate::runtime::Runtime;
use crate::shared::Shared;
use conn::Conn;
use conns::Conns;
use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token, Waker};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sublist::LocalCache;
use timers::Timers;

/// Token of the worker's waker.
const WAKER: Token = Token(0);
/// Events taken from one `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Bytes read from one connection per readiness event before others get their turn; the
/// connection is revisited on the next iteration.
const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Inbox messages handled per loop iteration.
const INBOX_PER_ITERATION: usize = 4096;
/// Capacity of each worker's inbox channel (batches and commands).
pub const INBOX_CAPACITY: usize = 8192;
/// Emptied batch buffers a worker keeps for reuse.
pub const SPARE_BUFFERS: usize = 16;
/// Batch buffers larger than this are freed rather than returned.
pub(crate) const SPARE_BUFFER_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Write attempts per flush of one connection.
const WRITES_PER_FLUSH: usize = 16;
/// How soon to retry handing over a batch when the destination's inbox was full.
const BATCH_RETRY: Duration = Duration::from_millis(1);

/// Lame duck closing progress.
#[derive(Debug)]
struct LameDuckClose {
    deadline: Instant,
    next_at: Instant,
}

/// A worker thread's state.
pub struct Worker {
    id: WorkerId,
    poll: Poll,
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    rt_gen: u64,
    inbox: Receiver<WorkerMsg>,
    /// Batch buffers returned by the workers this one sent them to.
    spare: Receiver<Vec<u8>>,
    conns: Conns,
    cache: LocalCache<crate::sub::SubRef>,
    dirty: Vec<Slot>,
    /// Free output chunks, shared by this worker's connections (`outbound.rs`).
    chunks: outbound::ChunkPool,
    /// The read buffer WebSocket connections read frames into (shared: frames are unmasked
    /// from it into each connection's own read buffer).
    ws_read: Vec<u8>,
    /// Connections whose read budget ran out with data possibly left in the socket.
    read_again: Vec<Slot>,
    /// Publishers not read until a subscriber's stall gate opens (`flow.rs`).
    stalled: Vec<Slot>,
    /// What the publisher being routed now must wait for, if a delivery met a closed gate or a
    /// full inbox (`flow.rs`).
    wait_on: Option<flow::Wait>,
    /// What deliveries of the publish being routed do at a closed gate.
    on_closed_gate: flow::OnClosedGate,
    /// Outgoing batch per destination worker (this worker's own entry stays empty).
    batches: Vec<Batch>,
    timers: Timers,
    rng: u64,
    /// Plain counters: gathered on request (snapshots), never shared per message.
    stats: crate::msgs::snapshot::Counters,
    lame_duck: Option<LameDuckClose>,
    shutting_down: bool,
    /// This worker's route and leaf node connections (`peer.rs`, `leaf.rs`).
    routes: Vec<Slot>,
    /// The server has a cluster or leaf nodes: queue members are picked by weight (routes
    /// count their peer's member count), interest lines are written before deliveries, and
    /// the cluster's client URLs are watched.
    clustered: bool,
    /// The cluster URLs generation last announced to this worker's clients.
    urls_gen: u64,
    /// The route permissions generation this worker's routes were last checked against.
    perms_gen: u64,
}

/// Creates a worker's poll and waker; the worker itself is built on its own thread.
///
/// # Errors
/// The OS refused to create the poll or the waker.
pub fn new_poll() -> std::io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}

impl Worker {
    /// A worker with its poll, inbox and the shared server state.
    pub fn new(
        id: WorkerId,
        poll: Poll,
        inbox: Receiver<WorkerMsg>,
        spare: Receiver<Vec<u8>>,
        shared: Arc<Shared>,
    ) -> Worker {
        let (rt, rt_gen) = shared.runtime();
        let workers = shared.worker_count();
        Worker {
            id,
            poll,
            rt,
            rt_gen,
            inbox,
            spare,
            conns: Conns::default(),
            cache: LocalCache::new(),
            dirty: Vec::new(),
            chunks: outbound::ChunkPool::default(),
            ws_read: Vec::new(),
            read_again: Vec::new(),
            stalled: Vec::new(),
            wait_on: None,
            on_closed_gate: flow::OnClosedGate::Deliver,
            batches: (0..workers).map(|_| Batch::new(id)).collect(),
            timers: Timers::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((id.0 as u64 + 1) << 32) ^ std::process::id() as u64,
            stats: Default::default(),
            lame_duck: None,
            shutting_down: false,
            routes: Vec::new(),
            clustered: shared.cluster().is_some()
                || shared.leafs().is_some()
                || shared.gateways().is_some(),
            urls_gen: shared.cluster().map_or(0, |c| c.urls_gen()),
            perms_gen: shared.cluster().map_or(0, |c| c.perms_gen()),
            shared,
        }
    }

    /// Runs until shutdown.
    pub fn run_loop(&mut self) {
        crate::msgs::mark_worker_thread();
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !self.shutting_down {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                log::error(&format!("worker {}: poll failed: {e}", self.id));
                break;
            }
            self.refresh_runtime();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.drain_inbox(),
                    token => self.conn_ready(
                        Conns::slot_of(token),
                        event.is_readable(),
                        event.is_writable(),
                    ),
                }
            }
            // A full inbox is not re-signalled by the waker, so look every iteration.
            if !self.inbox.is_empty() {
                self.drain_inbox();
            }
            self.release_stalled(Instant::now());
            self.read_pending_again();
            self.send_batches();
            if self.clustered {
                self.flush_all_route_lines();
                self.announce_cluster_urls();
                self.apply_route_permissions();
            }
            self.flush_dirty();
            self.fire_timers(Instant::now());
        }
        self.close_all(ClosedReason::ServerShutdown);
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.read_again.is_empty() || !self.inbox.is_empty() || !self.dirty.is_empty() {
            return Some(Duration::ZERO);
        }
        if self.batches.iter().any(|b| !b.is_empty()) {
            return Some(BATCH_RETRY);
        }
        let now = Instant::now();
        let mut next = self.timers.next_deadline();
        if let Some(stall) = self.next_stall_deadline(now) {
            next = Some(next.map_or(stall, |t| t.min(stall)));
        }
        if let Some(ldm) = &self.lame_duck {
            next = Some(next.map_or(ldm.next_at, |t| t.min(ldm.next_at)));
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    /// Picks up a reloaded configuration; one atomic load per iteration.
    fn refresh_runtime(&mut self) {
        if self.shared.runtime_gen() != self.rt_gen {
            let (rt, gen) = self.shared.runtime();
            self.rt = rt;
            self.rt_gen = gen;
        }
    }

    /// The `connect_urls` for a client's INFO: the cluster's WebSocket URLs for a WebSocket
    /// client, its client URLs otherwise (nats-server keeps the two lists apart).
    fn connect_urls_for(&self, websocket: bool) -> Vec<String> {
        match (self.shared.cluster(), websocket) {
            (Some(c), true) => c.ws_urls(),
            (Some(c), false) => c.client_urls(),
            (None, _) => Vec::new(),
        }
    }

    /// When the cluster's client URLs changed: an async INFO with the new `connect_urls` to
    /// every client that may get one (protocol 1, first PONG sent; spec cluster.md §1.9.4).
    fn announce_cluster_urls(&mut self) {
        let Some(gen) = self.shared.cluster().map(|c| c.urls_gen()) else {
            return;
        };
        if gen == self.urls_gen {
            return;
        }
        self.urls_gen = gen;
        let urls = self.connect_urls_for(false);
        let ws_urls = self.connect_urls_for(true);
        for slot in self.conns.slots() {
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            if conn.route.is_some() || conn.opts.protocol < 1 || !conn.info_allowed() {
                continue;
            }
            let max_payload = conn.max_payload(self.rt.limits.max_payload);
            let json = self.rt.client_info(
                conn.cid,
                &conn.peer,
                None,
                "",
                max_payload,
                if conn.is_websocket() { &ws_urls } else { &urls },
                conn.is_websocket(),
            );
            let mut line = Vec::with_capacity(json.len() + 8);
            protocol::encode::write_info(&mut line, &json);
            self.queue_out(slot, &line);
        }
        self.announce_leaf_urls();
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: statistically fine for picking queue members and jitter.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Handles what other threads sent this worker, at most [`INBOX_PER_ITERATION`]
    /// messages (the loop looks again next iteration if more are waiting).
    ///
    /// Called by `run_loop` on the waker's event and whenever the inbox is not empty. Runs
    /// between two reads, so a message may touch any of this worker's connections; output it
    /// queues is written by the `flush_dirty` at the end of the iteration.
    fn drain_inbox(&mut self) {
        for _ in 0..INBOX_PER_ITERATION {
            let Ok(msg) = self.inbox.try_recv() else {
                break;
            };
            match msg {
                WorkerMsg::NewConn {
                    sock,
                    cid,
                    peer,
                    websocket,
                    admission,
                } => self.add_conn(sock, cid, peer, websocket, admission),
                WorkerMsg::NewRoute {
                    sock,
                    cid,
                    peer,
                    solicit,
                } => self.add_route(sock, cid, peer, solicit),
                WorkerMsg::NewLeaf {
                    sock,
                    cid,
                    peer,
                    solicit,
                } => self.add_leaf(sock, cid, peer, solicit),
                WorkerMsg::NewGateway {
                    sock,
                    cid,
                    peer,
                    solicit,
                } => self.add_gateway(sock, cid, peer, solicit),
                WorkerMsg::Batch(batch) => self.deliver_batch(batch),
                WorkerMsg::Reload => self.apply_reload(),
                WorkerMsg::LameDuckInfo => self.send_lame_duck_info(),
                WorkerMsg::LameDuckClose { deadline } => {
                    self.lame_duck = Some(LameDuckClose {
                        deadline,
                        next_at: Instant::now(),
                    });
                }
                WorkerMsg::AuthResult { slot, cid, result } => self.auth_result(slot, cid, result),
                WorkerMsg::AccountChanged(change) => self.account_changed(&change),
                WorkerMsg::Snapshot { req, tx } => {
                    let _ = tx.try_send(self.snapshot(req));
                }
                WorkerMsg::InternalPublish {
                    account,
                    subject,
                    reply,
                    data,
                } => {
                    self.route_internal(account, &subject, reply.as_deref(), &data);
                }
                WorkerMsg::Kick { cid, done } => {
                    let _ = done.try_send(self.kick(cid));
                }
                WorkerMsg::AccountLimit { cid } => self.account_limit_close(cid),
                WorkerMsg::ClientLdm { cid, done } => {
                    let _ = done.try_send(self.client_ldm(cid));
                }
                WorkerMsg::Shutdown => self.shutting_down = true,
            }
        }
    }
}

/// Checks a connection's CONNECT credentials as they stand (at CONNECT, and again after a
/// reload or an account update).
pub(super) fn auth_check(rt: &Runtime, conn: &Conn) -> crate::auth::AuthStep {
    rt.auth_for(conn.is_websocket()).check_client(
        &rt.cert_auth,
        &conn.opts,
        &conn.nonce,
        conn.peer_cert(),
        Some(conn.peer.ip()),
    )
}

/// Takes a connection's subscriptions out of its account's sublist, marking each closed first
/// so that publishers holding an older match result skip it, and out of the interest the
/// routes were told about.
fn remove_subs(shared: &Shared, account: &crate::account::Account, subs: crate::sub::SidMap) {
    if subs.is_empty() {
        return;
    }
    for sub in subs.values() {
        sub.closed.store(true, Ordering::Relaxed);
        shared.interest_removed(&account.name, &sub.subject, sub.queue.as_deref());
    }
    let subs: Vec<Arc<crate::sub::Sub>> = subs.into_values().collect();
    account.sublist.remove_batch(subs.iter().map(|s| {
        (
            &*s.subject,
            s.queue.as_deref(),
            crate::sub::SubRef(s.clone()),
        )
    }));
}
