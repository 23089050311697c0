//! State shared by the control thread, the workers, the system thread and the monitor: the
//! current [`Runtime`] snapshot, the accounts, the handles through which the threads reach each
//! other, and the few server-wide counters and records that monitoring reads.
//!
//! Why these are locks and atomics rather than per-thread state: each is written rarely (a
//! reload, a connection closing, an HTTP request) and read by threads that do not own it;
//! nothing here is touched per message. See docs/LOCK_ORDER.md for what may be held with what.

use crate::account::Accounts;
use crate::auth::config::AccountConfig;
use crate::auth::operator::AccountHost;
use crate::auth::pool::AuthPool;
use crate::msgs::snapshot::{ConnSnapshot, SnapshotRequest, WorkerSnapshot};
use crate::msgs::{ControlHandle, SysHandle, WorkerHandle, WorkerMsg};
use crate::runtime::Runtime;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// WebSocket clients past `max_connections` upgraded at once only to be refused; beyond this
/// a further one is closed unanswered (a connect storm at the limit stays bounded).
pub const WS_OVER_LIMIT_MAX: usize = 64;

/// State shared by the control thread and all workers.
pub struct Shared {
    runtime: RwLock<Arc<Runtime>>,
    runtime_gen: AtomicU64,
    /// Accounts, each with its sublist.
    pub accounts: Accounts,
    /// Threads for authentication work too slow for a worker (bcrypt, resolver fetches).
    pub auth_pool: AuthPool,
    next_cid: AtomicU64,
    num_clients: AtomicUsize,
    /// WebSocket clients past `max_connections` still being upgraded to be refused.
    ws_over_limit: AtomicUsize,
    workers: OnceLock<Vec<WorkerHandle>>,
    worker_count: usize,
    started: SystemTime,
    config_load_time: Mutex<SystemTime>,
    http_stats: Mutex<BTreeMap<String, u64>>,
    /// The system account's event thread, when there is a system account.
    sys: OnceLock<SysHandle>,
    /// The control thread's request channel.
    control: OnceLock<ControlHandle>,
    /// Closed connections counted by close reason, for `/metrics`.
    closed_by_reason: Mutex<BTreeMap<String, u64>>,
    /// Recently closed connections for `/connz?state=closed`, oldest first.
    closed: Mutex<VecDeque<ConnSnapshot>>,
    /// The cluster, when routes are configured.
    cluster: OnceLock<crate::cluster::Cluster>,
    /// Leaf node state, when `leafnodes` or `gateway` is configured (its interest table
    /// also feeds the inbound gateways).
    leafs: OnceLock<crate::leaf::Leafs>,
    /// Gateway state, when `gateway` is configured.
    gateways: OnceLock<crate::gateway::Gateways>,
    /// Import entries announced to the routes (see
    /// [`Shared::sync_import_interest`]).
    announced_imports: Mutex<std::collections::HashSet<(String, Box<[u8]>)>>,
}

/// How long a snapshot request waits for the workers.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

impl Shared {
    /// The system event thread, if eventing is on.
    pub fn sys(&self) -> Option<&SysHandle> {
        self.sys.get()
    }

    /// The cluster, when this server has a route listener.
    pub fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.cluster.get()
    }

    /// The leaf node state, when this server has a leaf listener or remotes.
    pub fn leafs(&self) -> Option<&crate::leaf::Leafs> {
        self.leafs.get()
    }

    /// The gateway state, when this server has a gateway.
    pub fn gateways(&self) -> Option<&crate::gateway::Gateways> {
        self.gateways.get()
    }

    /// Records the gateway state (once, at start).
    pub fn set_gateways(&self, gateways: crate::gateway::Gateways) {
        let _ = self.gateways.set(gateways);
    }

    /// Records the leaf node state (once, at start, before any thread subscribes).
    pub fn set_leafs(&self, leafs: crate::leaf::Leafs) {
        let _ = self.leafs.set(leafs);
    }

    /// A route peer's interest entry `sub` changed by `delta` (its weight, for a queue
    /// entry): the leaf connections of the account hear of it.
    pub fn leaf_interest_from_route(
        &self,
        account: &crate::account::Account,
        sub: &crate::sub::Sub,
        delta: i64,
    ) {
        if let Some(leafs) = self.leafs() {
            self.wake_workers(leafs.interest.change(
                &account.name,
                &sub.subject,
                sub.queue.as_deref(),
                delta,
                crate::leaf::interest::Source::Route,
            ));
        }
    }

    /// Wakes the workers in `mask` (their routes have protocol lines queued).
    pub fn wake_workers(&self, mask: crate::cluster::interest::WakeMask) {
        if mask == 0 {
            return;
        }
        let workers = self.workers();
        for w in crate::cluster::workers_in(mask, workers.len()) {
            workers[w.0].wake();
        }
    }

    /// Counts one more local subscription on a subject for the routes and the leaf
    /// connections (no-op without either).
    pub fn interest_added(&self, account: &str, subject: &[u8], queue: Option<&[u8]>) {
        if let Some(cluster) = self.cluster() {
            self.wake_workers(cluster.interest.add(account, subject, queue));
        }
        if let Some(leafs) = self.leafs() {
            let local = crate::leaf::interest::Source::Local;
            self.wake_workers(leafs.interest.change(account, subject, queue, 1, local));
        }
    }

    /// Counts one local subscription fewer for the routes and the leaf connections.
    pub fn interest_removed(&self, account: &str, subject: &[u8], queue: Option<&[u8]>) {
        if let Some(cluster) = self.cluster() {
            self.wake_workers(cluster.interest.remove(account, subject, queue));
        }
        if let Some(leafs) = self.leafs() {
            let local = crate::leaf::interest::Source::Local;
            self.wake_workers(leafs.interest.change(account, subject, queue, -1, local));
        }
    }

    /// The control thread, for requests such as reload.
    pub fn control(&self) -> Option<&ControlHandle> {
        self.control.get()
    }

    /// The system account's name, if there is one.
    pub fn system_account_name(&self) -> Option<&str> {
        self.sys.get().map(|h| h.account().name.as_str())
    }

    /// When the server started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// When the configuration was last loaded.
    pub fn config_load_time(&self) -> SystemTime {
        *self.config_load_time.lock()
    }

    /// Counts one monitoring request for `http_req_stats`.
    pub fn count_http_request(&self, path: &str) {
        *self.http_stats.lock().entry(path.to_string()).or_insert(0) += 1;
    }

    /// Monitoring requests per path.
    pub fn http_request_stats(&self) -> BTreeMap<String, u64> {
        self.http_stats.lock().clone()
    }

    /// Client connections accepted since start.
    pub fn total_connections(&self) -> u64 {
        self.next_cid.load(Ordering::Acquire).saturating_sub(1)
    }

    /// Asks every worker for a snapshot and waits (bounded) for the answers. Workers answer
    /// between two loop iterations; the data path never waits for this.
    pub fn gather(&self, req: SnapshotRequest) -> Vec<WorkerSnapshot> {
        let workers = self.workers();
        let (tx, rx) = crossbeam_channel::bounded(workers.len().max(1));
        for w in workers {
            w.send_blocking(WorkerMsg::Snapshot {
                req,
                tx: tx.clone(),
            });
        }
        drop(tx);
        let deadline = Instant::now() + SNAPSHOT_TIMEOUT;
        let mut out = Vec::with_capacity(workers.len());
        while out.len() < workers.len() {
            match rx.recv_deadline(deadline) {
                Ok(snap) => out.push(snap),
                Err(_) => break,
            }
        }
        out.sort_by_key(|s| s.worker);
        out
    }

    /// Remembers a closed connection, keeping at most `max_closed_clients`.
    pub fn push_closed(&self, conn: ConnSnapshot) {
        if let Some((_, reason)) = &conn.closed {
            *self
                .closed_by_reason
                .lock()
                .entry(reason.clone())
                .or_insert(0) += 1;
        }
        let max = self.runtime().0.opts.max_closed_clients.max(0) as usize;
        if max == 0 {
            return;
        }
        let mut ring = self.closed.lock();
        while ring.len() >= max {
            ring.pop_front();
        }
        ring.push_back(conn);
    }

    /// Closed connections so far, by close reason.
    pub fn closed_by_reason(&self) -> BTreeMap<String, u64> {
        self.closed_by_reason.lock().clone()
    }

    /// The remembered closed connections, oldest first.
    pub fn closed_conns(&self) -> Vec<ConnSnapshot> {
        self.closed.lock().iter().cloned().collect()
    }

    /// The current runtime snapshot and its generation.
    pub fn runtime(&self) -> (Arc<Runtime>, u64) {
        let guard = self.runtime.read();
        (guard.clone(), self.runtime_gen.load(Ordering::Acquire))
    }

    /// The generation of the runtime snapshot (bumped by reloads).
    pub fn runtime_gen(&self) -> u64 {
        self.runtime_gen.load(Ordering::Acquire)
    }

    /// Installs a new runtime snapshot (a reload); workers pick it up on their next loop.
    pub fn set_runtime(&self, rt: Runtime) {
        let mut guard = self.runtime.write();
        *guard = Arc::new(rt);
        self.runtime_gen.fetch_add(1, Ordering::AcqRel);
    }

    /// The workers' handles.
    pub fn workers(&self) -> &[WorkerHandle] {
        self.workers.get().map_or(&[], Vec::as_slice)
    }

    /// How many workers there are.
    pub fn worker_count(&self) -> usize {
        self.worker_count
    }

    /// A client connection ended.
    pub fn client_closed(&self) {
        self.num_clients.fetch_sub(1, Ordering::AcqRel);
    }

    /// A WebSocket client past `max_connections` may be upgraded to be refused: false when
    /// [`WS_OVER_LIMIT_MAX`] already are (then it is closed at once).
    pub fn ws_over_limit_begin(&self) -> bool {
        let before = self.ws_over_limit.fetch_add(1, Ordering::AcqRel);
        if before >= WS_OVER_LIMIT_MAX {
            self.ws_over_limit.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// A WebSocket client refused for `max_connections` is gone.
    pub fn ws_over_limit_end(&self) {
        self.ws_over_limit.fetch_sub(1, Ordering::AcqRel);
    }

    /// Current number of client connections.
    pub fn num_clients(&self) -> usize {
        self.num_clients.load(Ordering::Acquire)
    }
}

impl Shared {
    /// The shared state for a server about to start: its first runtime snapshot, its
    /// accounts, the auth threads and the number of workers to come. The workers' handles,
    /// the system thread and the control thread are added by [`Shared::set_workers`],
    /// [`Shared::set_sys`] and [`Shared::set_control`] as the server starts them.
    pub fn new(
        runtime: Runtime,
        accounts: Accounts,
        auth_pool: AuthPool,
        worker_count: usize,
    ) -> Shared {
        let now = SystemTime::now();
        Shared {
            runtime: RwLock::new(Arc::new(runtime)),
            runtime_gen: AtomicU64::new(1),
            accounts,
            auth_pool,
            next_cid: AtomicU64::new(1),
            num_clients: AtomicUsize::new(0),
            ws_over_limit: AtomicUsize::new(0),
            workers: OnceLock::new(),
            worker_count,
            started: now,
            config_load_time: Mutex::new(now),
            http_stats: Mutex::new(BTreeMap::new()),
            closed: Mutex::new(VecDeque::new()),
            sys: OnceLock::new(),
            control: OnceLock::new(),
            closed_by_reason: Mutex::new(BTreeMap::new()),
            cluster: OnceLock::new(),
            leafs: OnceLock::new(),
            gateways: OnceLock::new(),
            announced_imports: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Announces the import entries other servers must reach (stream imports and service
    /// responses, [`crate::account::Accounts::routed_import_entries`]) to the routes, and
    /// withdraws those that are gone. Called after the accounts or their imports change.
    pub fn sync_import_interest(&self) {
        if self.cluster().is_none() {
            return;
        }
        let now: std::collections::HashSet<(String, Box<[u8]>)> =
            self.accounts.routed_import_entries().into_iter().collect();
        let mut announced = self.announced_imports.lock();
        for (account, subject) in now.difference(&announced) {
            self.interest_added(account, subject, None);
        }
        for (account, subject) in announced.difference(&now) {
            self.interest_removed(account, subject, None);
        }
        *announced = now;
    }

    /// Records the cluster state (once, at start, before any thread uses it).
    pub fn set_cluster(&self, cluster: crate::cluster::Cluster) {
        let _ = self.cluster.set(cluster);
    }

    /// Records the workers' handles (once, at start).
    pub fn set_workers(&self, handles: Vec<WorkerHandle>) {
        let _ = self.workers.set(handles);
    }

    /// Records the system thread's handle (once, at start).
    pub fn set_sys(&self, handle: SysHandle) {
        let _ = self.sys.set(handle);
    }

    /// Records the control thread's handle (once, at start).
    pub fn set_control(&self, handle: ControlHandle) {
        let _ = self.control.set(handle);
    }

    /// A new client connection id (the first is 1; ids are never reused).
    pub fn next_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::AcqRel)
    }

    /// A client connection was accepted and handed to a worker.
    pub fn client_opened(&self) {
        self.num_clients.fetch_add(1, Ordering::AcqRel);
    }

    /// The configuration was (re)loaded now.
    pub fn config_loaded(&self) {
        *self.config_load_time.lock() = SystemTime::now();
    }
}

/// The trust state registers accounts it loads from JWTs through this (see
/// [`AccountHost`]: the trust state sits below the shared state and cannot name it).
impl AccountHost for Shared {
    fn register_account(&self, config: AccountConfig) {
        self.accounts.register(config);
        self.sync_import_interest();
        // A new account gets its system services (its own CONNZ/STATZ, account tracking)
        // like configured accounts do at startup.
        if let Some(sys) = self.sys() {
            sys.serve_accounts(&self.accounts);
        }
    }

    fn strip_account(&self, key: &str) {
        if let Some(account) = self.accounts.get(key) {
            let mut config = (**account.config.read()).clone();
            config.imports.clear();
            config.exports.clear();
            self.accounts.register(config);
        }
    }

    fn lookup_jwt(&self, key: &str, timeout: Duration) -> Result<String, String> {
        let sys = self.sys().ok_or_else(|| "eventing shut down".to_string())?;
        sys.lookup_account(key, timeout)
    }
}
