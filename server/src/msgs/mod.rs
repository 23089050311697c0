//! Every message and handle through which the server's threads talk to each other, in one
//! place (rumqttd keeps its link types the same way):
//!
//! - [`WorkerMsg`] / [`WorkerHandle`]: to a worker (new connections, [`batch::Batch`]es of
//!   deliveries from other workers, reloads, account changes, snapshots, kicks, shutdown);
//! - [`sys::SysEvent`] / [`sys::SysHandle`]: to the system thread (connection facts,
//!   `$SYS.REQ` requests, lookups);
//! - [`ControlMsg`] / [`ControlHandle`]: to the control thread (reload);
//! - [`snapshot`]: what a worker reports for monitoring.
//!
//! Threads never call into each other; they send one of these and wake the receiver. Every
//! channel is bounded.

pub mod batch;
pub mod snapshot;
pub mod sys;

pub use batch::Batch;
pub use sys::{ClientFacts, SysEvent, SysHandle};

use crate::account::Account;
use crate::auth::operator::AccountChange;
use crate::auth::{Identity, RejectReason};
use crate::ids::Slot;
use crossbeam_channel::{Sender, TrySendError};
use mio::net::TcpStream;
use mio::Waker;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an accepted client connection stands against `max_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted in the server's client count.
    Counted,
    /// A WebSocket client past the limit: not counted; it is upgraded, sent INFO, the
    /// `-ERR` and a close frame, as nats-server does (the limit is checked after the
    /// upgrade there).
    OverLimit,
}

/// What other threads send a worker.
#[derive(Debug)]
pub enum WorkerMsg {
    /// A connection accepted by the control thread.
    NewConn {
        /// The socket.
        sock: TcpStream,
        /// Its connection id.
        cid: u64,
        /// The peer address.
        peer: SocketAddr,
        /// Accepted on the WebSocket port.
        websocket: bool,
        /// Counted against `max_connections`, or only upgraded to be told the limit is hit.
        admission: Admission,
    },
    /// A route connection: accepted on the cluster port (`solicit` is `None`) or dialed by
    /// the route dialer.
    NewRoute {
        /// The socket.
        sock: TcpStream,
        /// Its connection id.
        cid: u64,
        /// The peer address.
        peer: SocketAddr,
        /// How it was dialed, for a solicited route.
        solicit: Option<Box<crate::cluster::Solicit>>,
    },
    /// A leaf node connection: accepted on the leaf port (`solicit` is `None`) or dialed by
    /// the leaf dialer.
    NewLeaf {
        /// The socket.
        sock: TcpStream,
        /// Its connection id.
        cid: u64,
        /// The peer address.
        peer: SocketAddr,
        /// How it was dialed, for a solicited connection.
        solicit: Option<Box<crate::leaf::LeafSolicit>>,
    },
    /// A gateway connection: accepted on the gateway port (`solicit` is `None`) or dialed
    /// by the gateway dialer.
    NewGateway {
        /// The socket.
        sock: TcpStream,
        /// Its connection id.
        cid: u64,
        /// The peer address.
        peer: SocketAddr,
        /// How it was dialed, for an outbound connection.
        solicit: Option<Box<crate::gateway::GatewaySolicit>>,
    },
    /// Deliveries from another worker.
    Batch(Batch),
    /// The runtime configuration changed (reload): re-apply limits and re-check auth.
    Reload,
    /// Lame duck mode: tell protocol-1 clients with an INFO carrying `ldm`.
    LameDuckInfo,
    /// Lame duck mode: close this worker's clients, spread until the deadline.
    LameDuckClose {
        /// All clients should be closed by then.
        deadline: Instant,
    },
    /// The answer of a bcrypt check for a connection of this worker.
    AuthResult {
        /// Connection slot.
        slot: Slot,
        /// Connection id.
        cid: u64,
        /// The identity, or why the check failed (for the debug log).
        result: Result<Identity, RejectReason>,
    },
    /// An account's claims changed (operator mode): re-check its clients.
    AccountChanged(Arc<AccountChange>),
    /// A snapshot for monitoring, answered on `tx` between two loop iterations.
    Snapshot {
        /// What to include.
        req: snapshot::SnapshotRequest,
        /// Where to answer.
        tx: Sender<snapshot::WorkerSnapshot>,
    },
    /// A message from the server itself (system events), routed like a client's publish.
    InternalPublish {
        /// The account to publish in.
        account: &'static Account,
        /// Subject.
        subject: Vec<u8>,
        /// Reply subject, for the server's own requests.
        reply: Option<Vec<u8>>,
        /// Payload.
        data: Vec<u8>,
    },
    /// `$SYS.REQ.SERVER.<id>.KICK`: close client `cid` if it is here; answers whether it was.
    Kick {
        /// The connection id.
        cid: u64,
        /// The answer.
        done: Sender<bool>,
    },
    /// The account's connections across the cluster went over its limit: close client
    /// `cid` (one of the newest) with `maximum account active connections exceeded`.
    AccountLimit {
        /// The connection id.
        cid: u64,
    },
    /// `$SYS.REQ.SERVER.<id>.LDM`: send client `cid` a lame duck INFO. Answers 0 (not here),
    /// 1 (sent) or 2 (the client can't take it: protocol 0 or not ready).
    ClientLdm {
        /// The connection id.
        cid: u64,
        /// The answer.
        done: Sender<u8>,
    },
    /// Close everything and exit.
    Shutdown,
}

/// How other threads reach a worker.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    /// The inbox.
    tx: Sender<WorkerMsg>,
    /// Wakes the worker's poll.
    waker: Arc<Waker>,
    /// Where other workers return this worker's emptied batch buffers, so a busy pair of
    /// workers reuses the same few buffers instead of allocating (and, for large batches,
    /// mapping and unmapping) one per loop iteration.
    spare_tx: Sender<Vec<u8>>,
    /// Bytes of batches handed to this worker and not delivered yet: senders add, the worker
    /// subtracts once it has delivered a batch. Publishers are stalled while it is high
    /// (`worker::flow`), so what is in flight towards one worker stays bounded.
    inbox_bytes: Arc<AtomicUsize>,
    /// Workers with publishers stalled until `inbox_bytes` falls (`worker::flow`).
    inbox_waiters: Arc<crate::gate::Waiters>,
}

thread_local! {
    /// Set on worker threads, so that [`WorkerHandle::send_blocking`] can refuse them.
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as a worker: from now on it may not block on an inbox.
pub fn mark_worker_thread() {
    ON_WORKER.with(|w| w.set(true));
}

impl WorkerHandle {
    /// The handle of a worker reading `tx`'s channel, woken by `waker`, taking its emptied
    /// batch buffers back on `spare_tx`.
    pub fn new(tx: Sender<WorkerMsg>, waker: Arc<Waker>, spare_tx: Sender<Vec<u8>>) -> Self {
        WorkerHandle {
            tx,
            waker,
            spare_tx,
            inbox_bytes: Arc::new(AtomicUsize::new(0)),
            inbox_waiters: Arc::default(),
        }
    }

    /// Bytes of batches handed to this worker and not delivered yet.
    pub fn inbox_bytes(&self) -> &Arc<AtomicUsize> {
        &self.inbox_bytes
    }

    /// Workers waiting for this worker's inbox to drain.
    pub fn inbox_waiters(&self) -> &Arc<crate::gate::Waiters> {
        &self.inbox_waiters
    }

    /// Wakes the worker's poll (a publisher it stalled can go on).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Sends a message and wakes the worker, waiting for room if the inbox is full.
    ///
    /// For the threads no worker ever waits on, and that must not lose what they send: the
    /// control thread (new connections, reload, lame duck, shutdown), the auth threads (a
    /// lost answer would leave a client with its reading paused), the system thread (`$SYS`
    /// output, account changes) and the monitor's snapshot requests. Waiting there is bounded
    /// by the worker draining its inbox, which never waits on them.
    ///
    /// # Panics
    /// In debug builds, when called on a worker thread: a worker must use
    /// [`WorkerHandle::try_send`] (two workers blocking on each other's full inbox would
    /// deadlock).
    pub fn send_blocking(&self, msg: WorkerMsg) {
        debug_assert!(
            !ON_WORKER.with(std::cell::Cell::get),
            "a worker must not block on an inbox"
        );
        if self.tx.send(msg).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Gives an emptied batch buffer back to this worker for reuse; dropped if it has enough.
    pub fn return_buffer(&self, buffer: Vec<u8>) {
        let _ = self.spare_tx.try_send(buffer);
    }

    /// Sends a message without waiting and wakes the worker.
    ///
    /// # Errors
    /// The inbox is full or the worker has exited; the message comes back.
    pub fn try_send(&self, msg: WorkerMsg) -> Result<(), TrySendError<WorkerMsg>> {
        self.tx.try_send(msg)?;
        let _ = self.waker.wake();
        Ok(())
    }
}

/// What other threads ask of the control thread.
#[derive(Debug)]
pub enum ControlMsg {
    /// Reload the configuration and report the outcome.
    Reload {
        /// The result.
        done: Sender<Result<(), String>>,
    },
}

/// How other threads reach the control thread.
#[derive(Debug)]
pub struct ControlHandle {
    tx: Sender<ControlMsg>,
    waker: mio::Waker,
}

impl ControlHandle {
    /// The handle for a control thread reading `tx`'s channel and woken by `waker`.
    pub fn new(tx: Sender<ControlMsg>, waker: mio::Waker) -> ControlHandle {
        ControlHandle { tx, waker }
    }

    /// Asks for a reload and waits (bounded) for its result.
    pub fn reload(&self, wait: Duration) -> Result<(), String> {
        let (done, result) = crossbeam_channel::bounded(1);
        self.tx
            .try_send(ControlMsg::Reload { done })
            .map_err(|_| "server busy".to_string())?;
        let _ = self.waker.wake();
        result
            .recv_timeout(wait)
            .unwrap_or_else(|_| Err("reload timed out".into()))
    }
}
