//! The server: shared state, startup, and the control thread.
//!
//! The control thread (the process's main thread) owns the client listener, the signals and
//! the lame-duck/shutdown sequence. It accepts connections, gives each a cid and hands it to a
//! worker round-robin; the workers do everything else. Configuration that workers read lives in
//! an immutable [`Runtime`] snapshot that a reload replaces as a whole (workers notice a bumped
//! generation number with one atomic load per loop iteration).

use crate::account::Accounts;
use crate::auth::pool::AuthPool;
use crate::auth::{AuthConfig, CertAuth};
use crate::info::{Info, GANNET_VERSION, NATS_VERSION};
use crate::log;
use crate::opts::Options;
use crate::worker::{self, Worker, WorkerHandle, WorkerMsg};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use parking_lot::RwLock;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
/// Requests waiting for the control thread, at most.
const CONTROL_QUEUE_MAX: usize = 16;

/// What other threads ask of the control thread.
#[derive(Debug)]
pub enum ControlMsg {
    /// Reload the configuration and report the outcome.
    Reload {
        /// The result.
        done: crossbeam_channel::Sender<Result<(), String>>,
    },
}

/// How other threads reach the control thread.
#[derive(Debug)]
pub struct ControlHandle {
    tx: crossbeam_channel::Sender<ControlMsg>,
    waker: mio::Waker,
}

impl ControlHandle {
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

/// How often the control loop looks at lame-duck progress.
const CONTROL_TICK: Duration = Duration::from_millis(50);
/// Longest timer the workers schedule: config durations beyond it (say `"99999999h"`) are
/// clamped so that deadline arithmetic can never overflow.
pub(crate) const TIMER_MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Limits and switches the workers apply per connection, taken from [`Options`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message.
    pub max_payload: usize,
    /// Largest control-line argument.
    pub max_control_line: usize,
    /// Outbound bytes before a slow-consumer close.
    pub max_pending: usize,
    /// Subscriptions per connection; 0 = unlimited.
    pub max_subscriptions: usize,
    /// Tokens per subscription subject; 0 = unlimited.
    pub max_sub_tokens: usize,
    /// Connections; at or over it new clients are refused.
    pub max_connections: i64,
    /// Keepalive period.
    pub ping_interval: Duration,
    /// Unanswered PINGs before `Stale Connection`.
    pub ping_max: u32,
    /// A write that makes no progress for this long closes the connection.
    pub write_deadline: Duration,
    /// Time allowed for CONNECT when auth is required.
    pub auth_timeout: Duration,
    /// Server supports headers.
    pub headers: bool,
}

/// The configuration snapshot workers read.
#[derive(Debug)]
pub struct Runtime {
    /// The options it was built from.
    pub opts: Options,
    /// Per-connection limits.
    pub limits: Limits,
    /// Client authentication.
    pub auth: AuthConfig,
    /// How TLS client certificates take part in authentication.
    pub cert_auth: CertAuth,
    /// The INFO template (no per-connection fields).
    pub info: Info,
}

impl Runtime {
    /// Builds the snapshot for `opts`, with the server identity and the bound address.
    pub fn new(
        opts: Options,
        ids: &ServerIds,
        bound: SocketAddr,
        trust: Option<&Arc<crate::auth::operator::Trust>>,
    ) -> Runtime {
        let limits = Limits {
            max_payload: opts.max_payload.max(0) as usize,
            max_control_line: opts.max_control_line.max(0) as usize,
            max_pending: opts.max_pending.max(0) as usize,
            max_subscriptions: opts.max_subscriptions.max(0) as usize,
            max_sub_tokens: opts.max_sub_tokens as usize,
            max_connections: opts.max_connections,
            ping_interval: opts
                .ping_interval
                .clamp(Duration::from_millis(1), TIMER_MAX),
            ping_max: opts.ping_max.max(0) as u32,
            write_deadline: opts.write_deadline.min(TIMER_MAX),
            auth_timeout: opts.auth_timeout.min(TIMER_MAX),
            headers: !opts.no_header_support,
        };
        let auth = AuthConfig::from_opts(&opts, trust);
        let cert_auth = CertAuth::from_opts(&opts);
        let tls = opts.tls.as_ref();
        let (host, port) = advertised(&opts, bound);
        let server_name = if opts.server_name.is_empty() {
            ids.server_id.clone()
        } else {
            opts.server_name.clone()
        };
        let info = Info {
            server_id: ids.server_id.clone(),
            server_name,
            version: NATS_VERSION.to_string(),
            proto: 1,
            go: format!("gannet{GANNET_VERSION}"),
            host,
            port,
            headers: limits.headers,
            auth_required: auth.info_auth_required() || cert_auth.requires_auth(),
            tls_required: tls.is_some() && !opts.allow_non_tls,
            tls_verify: tls
                .and_then(|t| t.server.as_ref())
                .is_some_and(|s| s.client_cert_required),
            tls_available: tls.is_some() && opts.allow_non_tls,
            max_payload: limits.max_payload as i64,
            api_lvl: 5,
            xkey: ids.xkey.clone(),
            ..Info::default()
        };
        Runtime {
            opts,
            limits,
            auth,
            cert_auth,
            info,
        }
    }

    /// Whether clients must authenticate (auth timer, CONNECT first).
    pub fn auth_required(&self) -> bool {
        self.auth.required() || self.cert_auth.requires_auth()
    }

    /// The INFO JSON a connection gets first. `tls_first`: it is sent after a handshake-first
    /// TLS handshake, and then says `tls_required` even with `allow_non_tls` (nats-server).
    pub fn initial_info(
        &self,
        cid: u64,
        peer: &SocketAddr,
        nonce: &str,
        max_payload: usize,
        tls_first: bool,
    ) -> Vec<u8> {
        if !tls_first || self.info.tls_required {
            return self.client_info(cid, peer, None, nonce, max_payload);
        }
        let mut info = self.info.clone();
        info.tls_required = true;
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.nonce = nonce.to_string();
        info.max_payload = max_payload as i64;
        info.to_json()
    }

    /// INFO JSON for one client: the template plus `client_id`, `client_ip`, the nonce and
    /// its max payload, and after the first PONG the `connect_info` fields (`account` set).
    pub fn client_info(
        &self,
        cid: u64,
        peer: &SocketAddr,
        account: Option<&str>,
        nonce: &str,
        max_payload: usize,
    ) -> Vec<u8> {
        let mut info = self.info.clone();
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.nonce = nonce.to_string();
        info.max_payload = max_payload as i64;
        if let Some(account) = account {
            info.connect_info = true;
            info.remote_account = account.to_string();
        }
        info.to_json()
    }

    /// INFO JSON announcing lame duck mode to one client.
    pub fn lame_duck_info(&self, cid: u64, peer: &SocketAddr) -> Vec<u8> {
        let mut info = self.info.clone();
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.ldm = true;
        info.to_json()
    }
}

/// The INFO host and port: `client_advertise` if set, else the listen address.
fn advertised(opts: &Options, bound: SocketAddr) -> (String, u16) {
    if !opts.client_advertise.is_empty() {
        let adv = opts.client_advertise.as_str();
        if let Some((host, port)) = adv.rsplit_once(':') {
            if let Ok(p) = port.parse::<i32>() {
                let p = if p <= 0 { bound.port() } else { p as u16 };
                return (host.trim_matches(|c| c == '[' || c == ']').to_string(), p);
            }
        }
        return (adv.to_string(), bound.port());
    }
    (opts.host.clone(), bound.port())
}

/// The server's identity keys, new on every start.
#[derive(Debug, Clone)]
pub struct ServerIds {
    /// Public server nkey (`N…`).
    pub server_id: String,
    /// Public x25519 key (`X…`).
    pub xkey: String,
}

impl ServerIds {
    /// Fresh random keys.
    pub fn generate() -> ServerIds {
        let server_id = nkeys::KeyPair::new_server().public_key();
        let xkey = nkeys::XKey::new().public_key();
        ServerIds { server_id, xkey }
    }
}

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
    workers: OnceLock<Vec<WorkerHandle>>,
    worker_count: usize,
    lame_duck: AtomicBool,
    started: std::time::SystemTime,
    config_load_time: parking_lot::Mutex<std::time::SystemTime>,
    http_stats: parking_lot::Mutex<std::collections::BTreeMap<String, u64>>,
    /// The system account's event thread, when there is a system account.
    sys: OnceLock<crate::sys::SysHandle>,
    /// The control thread's request channel.
    control: OnceLock<ControlHandle>,
    /// Closed connections counted by close reason, for `/metrics`.
    closed_by_reason: parking_lot::Mutex<std::collections::BTreeMap<String, u64>>,
    /// Recently closed connections for `/connz?state=closed`, oldest first.
    closed: parking_lot::Mutex<std::collections::VecDeque<crate::monitor::snapshot::ConnSnapshot>>,
}

/// Time for the SHUTDOWN event to reach its subscribers before connections close.
const SHUTDOWN_EVENT_GRACE: Duration = Duration::from_millis(200);
/// How long a snapshot request waits for the workers.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

impl Shared {
    /// The system event thread, if eventing is on.
    pub fn sys(&self) -> Option<&crate::sys::SysHandle> {
        self.sys.get()
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
    pub fn started(&self) -> std::time::SystemTime {
        self.started
    }

    /// When the configuration was last loaded.
    pub fn config_load_time(&self) -> std::time::SystemTime {
        *self.config_load_time.lock()
    }

    /// Counts one monitoring request for `http_req_stats`.
    pub fn count_http_request(&self, path: &str) {
        *self.http_stats.lock().entry(path.to_string()).or_insert(0) += 1;
    }

    /// Monitoring requests per path.
    pub fn http_request_stats(&self) -> std::collections::BTreeMap<String, u64> {
        self.http_stats.lock().clone()
    }

    /// Client connections accepted since start.
    pub fn total_connections(&self) -> u64 {
        self.next_cid.load(Ordering::Acquire).saturating_sub(1)
    }

    /// Asks every worker for a snapshot and waits (bounded) for the answers. Workers answer
    /// between two loop iterations; the data path never waits for this.
    pub fn gather(
        &self,
        req: crate::monitor::snapshot::SnapshotRequest,
    ) -> Vec<crate::monitor::snapshot::WorkerSnapshot> {
        let workers = self.workers();
        let (tx, rx) = crossbeam_channel::bounded(workers.len().max(1));
        for w in workers {
            w.send(WorkerMsg::Snapshot {
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
    pub fn push_closed(&self, conn: crate::monitor::snapshot::ConnSnapshot) {
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
    pub fn closed_by_reason(&self) -> std::collections::BTreeMap<String, u64> {
        self.closed_by_reason.lock().clone()
    }

    /// The remembered closed connections, oldest first.
    pub fn closed_conns(&self) -> Vec<crate::monitor::snapshot::ConnSnapshot> {
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

    fn set_runtime(&self, rt: Runtime) {
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

    /// Current number of client connections.
    pub fn num_clients(&self) -> usize {
        self.num_clients.load(Ordering::Acquire)
    }
}

/// A startup failure, printed by `main` and turned into exit code 1.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the lame-duck sequence is.
enum LameDuck {
    Off,
    Grace { until: Instant },
    Closing { deadline: Instant },
}

/// Everything the control thread owns.
pub struct Server {
    shared: Arc<Shared>,
    ids: ServerIds,
    flags: crate::cli::Flags,
    poll: Poll,
    listener: Option<TcpListener>,
    bound: SocketAddr,
    signals: Signals,
    threads: Vec<std::thread::JoinHandle<()>>,
    next_worker: usize,
    lame_duck: LameDuck,
    ports_file: Option<PathBuf>,
    /// The monitoring listener's address, when enabled.
    monitor: Option<(&'static str, SocketAddr)>,
    control_rx: crossbeam_channel::Receiver<ControlMsg>,
    tls_rate: RateCounter,
}

/// `tls.connection_rate_limit`: new connections allowed per one-second window (nats-server
/// `rateCounter`).
#[derive(Debug, Default)]
struct RateCounter {
    window_start: Option<Instant>,
    count: i64,
}

impl RateCounter {
    fn allow(&mut self, limit: i64, now: Instant) -> bool {
        let fresh = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1));
        if fresh {
            self.window_start = Some(now);
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= limit
    }
}

fn bind_listener(opts: &Options) -> Result<std::net::TcpListener, Error> {
    let port = if opts.port < 0 { 0 } else { opts.port as u16 };
    let host = if opts.host.is_empty() {
        "0.0.0.0"
    } else {
        opts.host.as_str()
    };
    let addr: SocketAddr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error(format!(
                    "Error listening on port: {host}:{port}, could not resolve host"
                ))
            })?,
    };
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(|e| Error(format!("Error listening on port: {addr}, \"{e}\"")))?;
    let _ = socket.set_reuse_address(true);
    socket
        .bind(&addr.into())
        .and_then(|_| socket.listen(4096))
        .map_err(|e| {
            Error(format!(
                "Error listening on port: {host}:{}, \"{e}\"",
                opts.port
            ))
        })?;
    socket
        .set_nonblocking(true)
        .map_err(|e| Error(e.to_string()))?;
    Ok(socket.into())
}

impl Server {
    /// Binds the listener, starts the workers and returns the ready server.
    ///
    /// # Errors
    /// The listen address is unusable or a thread/poll could not be created.
    pub fn start(mut opts: Options, flags: crate::cli::Flags) -> Result<Server, Error> {
        let ids = ServerIds::generate();
        log::notice(&format!("Starting nats-server (gannet {GANNET_VERSION})"));
        log::notice(&format!("  Version:  {NATS_VERSION}"));
        log::notice(&format!("  Gannet:   {GANNET_VERSION}"));
        let name = if opts.server_name.is_empty() {
            &ids.server_id
        } else {
            &opts.server_name
        };
        log::notice(&format!("  Name:     {name}"));
        log::notice(&format!("  ID:       {}", ids.server_id));
        if !opts.config_file.is_empty() {
            log::notice(&format!(
                "Using configuration file: {} (sha256:{})",
                opts.config_file, opts.config_digest
            ));
        }
        for key in &opts.not_implemented {
            log::warn(&format!(
                "Option {key:?} is accepted but not implemented yet by gannet; ignoring it"
            ));
        }
        let std_listener = bind_listener(&opts)?;
        let bound = std_listener
            .local_addr()
            .map_err(|e| Error(e.to_string()))?;
        let mut listener = TcpListener::from_std(std_listener);
        let workers = opts
            .workers
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let accounts = Accounts::new(&opts.accounts, !opts.disable_sublist_cache);
        let trust = crate::auth::operator::from_opts(&opts).map_err(Error)?;
        if let Some(trust) = &trust {
            trust.probe().map_err(Error)?;
            if trust.system_account.is_empty() {
                log::warn("Trusted Operators should utilize a System Account");
            } else {
                match trust.account(&trust.system_account) {
                    Ok(sys) => {
                        accounts.register(crate::auth::operator::account_config(&sys.claims))
                    }
                    Err(e) => {
                        // As nats-server with a resolver that can't deliver it yet: start with
                        // a placeholder.
                        log::warn(&format!("Using bootstrapping system account ({e})"));
                        accounts.ensure(&trust.system_account);
                    }
                }
            }
        }
        let system_account = system_account(&accounts, &opts)?;
        let auth_pool = AuthPool::start().map_err(|e| Error(format!("auth threads: {e}")))?;
        opts.add_sys_only_no_auth_user("");
        let runtime = Runtime::new(opts, &ids, bound, trust.as_ref());
        let shared = Arc::new(Shared {
            runtime: RwLock::new(Arc::new(runtime)),
            runtime_gen: AtomicU64::new(1),
            accounts,
            auth_pool,
            next_cid: AtomicU64::new(1),
            num_clients: AtomicUsize::new(0),
            workers: OnceLock::new(),
            worker_count: workers,
            lame_duck: AtomicBool::new(false),
            started: std::time::SystemTime::now(),
            config_load_time: parking_lot::Mutex::new(std::time::SystemTime::now()),
            http_stats: parking_lot::Mutex::new(std::collections::BTreeMap::new()),
            closed: parking_lot::Mutex::new(std::collections::VecDeque::new()),
            sys: OnceLock::new(),
            control: OnceLock::new(),
            closed_by_reason: parking_lot::Mutex::new(std::collections::BTreeMap::new()),
        });
        if let Some(trust) = &trust {
            trust.attach(&shared);
        }
        if let Some(system) = system_account {
            let handle = crate::sys::start(Arc::downgrade(&shared), system)
                .map_err(|e| Error(format!("system thread: {e}")))?;
            let _ = shared.sys.set(handle);
        }
        let threads = spawn_workers(&shared, workers)?;
        let poll = Poll::new().map_err(|e| Error(e.to_string()))?;
        let (control_tx, control_rx) = crossbeam_channel::bounded(CONTROL_QUEUE_MAX);
        let control_waker =
            mio::Waker::new(poll.registry(), CONTROL).map_err(|e| Error(e.to_string()))?;
        let _ = shared.control.set(ControlHandle {
            tx: control_tx,
            waker: control_waker,
        });
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| Error(e.to_string()))?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])
            .map_err(|e| Error(format!("signals: {e}")))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| Error(e.to_string()))?;
        let mut server = Server {
            shared,
            ids,
            flags,
            poll,
            listener: Some(listener),
            bound,
            signals,
            threads,
            next_worker: 0,
            lame_duck: LameDuck::Off,
            ports_file: None,
            monitor: None,
            control_rx,
            tls_rate: RateCounter::default(),
        };
        server.start_monitor()?;
        server.write_pid_and_ports()?;
        let host = bound.ip();
        log::notice(&format!(
            "Listening for client connections on {}",
            SocketAddr::new(host, bound.port())
        ));
        server.log_tls_mode();
        log::notice(&format!("Server is ready (gannet, {workers} workers)"));
        Ok(server)
    }

    /// The startup lines saying how clients get TLS (nats-server `Start`).
    fn log_tls_mode(&self) {
        let rt = self.opts();
        let Some(tls) = &rt.opts.tls else {
            return;
        };
        // Handshake first without a fallback delay always requires the handshake, which
        // overrides allow_non_tls.
        let first_only = tls.handshake_first && tls.handshake_first_fallback.is_zero();
        if rt.opts.allow_non_tls && !first_only {
            log::notice("TLS available for client connections");
        } else {
            log::notice("TLS required for client connections");
        }
        if first_only {
            log::warn(
                "Clients that are not using \"TLS Handshake First\" option will fail to connect",
            );
        }
    }

    /// The address the client listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    fn opts(&self) -> Arc<Runtime> {
        self.shared.runtime().0
    }

    /// Starts the HTTP monitoring port if configured (`-m`, `http_port`, `http`).
    fn start_monitor(&mut self) -> Result<(), Error> {
        let rt = self.opts();
        let opts = &rt.opts;
        if opts.http_port != 0 && opts.https_port != 0 {
            return Err(Error(format!(
                "can't specify both HTTP ({}) and HTTPs ({}) ports",
                opts.http_port, opts.https_port
            )));
        }
        let (port, tls) = if opts.http_port != 0 {
            (opts.http_port, None)
        } else if opts.https_port != 0 {
            let Some(tls) = opts.tls.as_ref() else {
                return Err(Error("TLS cert and key required for HTTPS".into()));
            };
            (
                opts.https_port,
                Some(tls.monitoring_config().map_err(Error)?),
            )
        } else {
            return Ok(());
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if opts.http_host.is_empty() {
            opts.host.as_str()
        } else {
            opts.http_host.as_str()
        };
        let addr =
            crate::monitor::start(self.shared.clone(), host, port, &opts.http_base_path, tls)
                .map_err(|e| Error(format!("Can't listen to the monitor port: {e}")))?;
        self.monitor = Some((scheme, addr));
        Ok(())
    }

    fn write_pid_and_ports(&mut self) -> Result<(), Error> {
        let rt = self.opts();
        let opts = &rt.opts;
        if !opts.pid_file.is_empty() {
            std::fs::write(&opts.pid_file, std::process::id().to_string())
                .map_err(|e| Error(format!("Could not write pidfile: {e}")))?;
        }
        if !opts.ports_file_dir.is_empty() {
            let exe = std::env::current_exe().ok();
            let base = exe.as_ref().and_then(|p| p.file_stem()).map_or_else(
                || "gannet".to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            let path = PathBuf::from(&opts.ports_file_dir)
                .join(format!("{base}_{}.ports", std::process::id()));
            let host = if self.bound.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                self.bound.ip().to_string()
            };
            let mut json =
                serde_json::json!({ "nats": [format!("nats://{host}:{}", self.bound.port())] });
            if let Some((scheme, http)) = self.monitor {
                let mhost = if http.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    http.ip().to_string()
                };
                json["monitoring"] =
                    serde_json::json!([format!("{scheme}://{mhost}:{}", http.port())]);
            }
            std::fs::write(&path, json.to_string())
                .map_err(|e| Error(format!("Error writing ports file: {e}")))?;
            self.ports_file = Some(path);
        }
        Ok(())
    }

    /// Runs the control loop until shutdown.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            let timeout = match self.lame_duck {
                LameDuck::Off => None,
                _ => Some(CONTROL_TICK),
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error(&format!("control poll failed: {e}"));
                break;
            }
            let mut shutdown = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_until_would_block(),
                    SIGNALS => shutdown |= self.handle_signals(),
                    CONTROL => self.handle_control(),
                    _ => {}
                }
            }
            if shutdown || self.lame_duck_step() {
                break;
            }
        }
        self.shutdown();
    }

    fn accept_until_would_block(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((sock, peer)) => self.hand_off(sock, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log and try again on the next readiness event
                    // rather than spinning.
                    log::error(&format!("Error accepting client connection: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    fn hand_off(&mut self, mut sock: mio::net::TcpStream, peer: SocketAddr) {
        let cid = self.shared.next_cid.fetch_add(1, Ordering::AcqRel);
        let rt = self.opts();
        let max = rt.limits.max_connections;
        let full = max <= 0 || self.shared.num_clients() as i64 >= max;
        let rate_limit = rt.opts.tls.as_ref().map_or(0, |t| t.rate_limit);
        let throttled = !full && rate_limit > 0 && !self.tls_rate.allow(rate_limit, Instant::now());
        if full || throttled {
            // nats-server still sends INFO (in the clear; not at all with handshake first),
            // then the error, then closes.
            let mut out = Vec::new();
            if !rt.opts.tls.as_ref().is_some_and(|t| t.handshake_first) {
                let info = rt.client_info(cid, &peer, None, "", rt.limits.max_payload);
                protocol::encode::write_info(&mut out, &info);
            }
            let text = if full {
                protocol::errors::MAX_CONNECTIONS_EXCEEDED
            } else {
                protocol::errors::CONNECTION_THROTTLING
            };
            protocol::encode::write_err(&mut out, text.as_bytes());
            let _ = sock.write_all(&out);
            let _ = sock.flush();
            let why = if full {
                "maximum connections exceeded"
            } else {
                "connection throttling is active"
            };
            log::error(&format!("{peer} - cid:{cid} - {why}"));
            return;
        }
        self.shared.num_clients.fetch_add(1, Ordering::AcqRel);
        let workers = self.shared.workers();
        let w = self.next_worker % workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        workers[w].send(WorkerMsg::NewConn { sock, cid, peer });
    }

    /// Returns true if the server should shut down now.
    fn handle_signals(&mut self) -> bool {
        let pending: Vec<i32> = self.signals.pending().collect();
        let mut shutdown = false;
        for sig in pending {
            match sig {
                SIGINT => {
                    log::notice("Trapped \"interrupt\" signal");
                    shutdown = true;
                }
                SIGTERM => {
                    if matches!(self.lame_duck, LameDuck::Off) {
                        log::notice("Trapped \"terminated\" signal");
                        shutdown = true;
                    }
                }
                SIGHUP => self.reload(),
                SIGUSR1 => log::reopen(),
                SIGUSR2 => shutdown |= self.enter_lame_duck(),
                _ => {}
            }
        }
        shutdown
    }

    /// Re-reads the configuration and applies what may change (spec §2.13).
    /// Reloads and logs the outcome (SIGHUP).
    fn reload(&mut self) {
        if let Err(e) = self.try_reload() {
            log::error(&format!("Failed to reload server configuration: {e}"));
        }
    }

    /// Re-reads the configuration and applies what may change (spec §2.13); the error is the
    /// text nats-server reports.
    fn try_reload(&mut self) -> Result<(), String> {
        if self.flags.config_file.as_deref().unwrap_or("").is_empty() {
            return Err(
                "can only reload config when a file is provided using -c or --config".into(),
            );
        }
        let (mut new_opts, _warnings) =
            crate::opts::load(&self.flags).map_err(|e| e.to_string().trim_end().to_string())?;
        let rt = self.opts();
        new_opts.add_sys_only_no_auth_user(&rt.opts.sys_only_no_auth_user);
        // The trust state (and the accounts loaded through it) carries over; moving to or
        // from operator mode is refused below.
        let trust = match &rt.auth {
            AuthConfig::Operator(trust) => Some(trust.clone()),
            _ => None,
        };
        if trust.is_some() != new_opts.operator_mode() || rt.opts.resolver != new_opts.resolver {
            return Err(
                "config reload does not support moving to or from an account resolver".into(),
            );
        }
        let changes = rt.opts.diff_reloadable(&new_opts)?;
        crate::configure_logging(&new_opts).map_err(|e| e.to_string())?;
        for (name, value) in &changes {
            if value.is_empty() {
                log::notice(&format!("Reloaded: {name}"));
            } else {
                log::notice(&format!("Reloaded: {name} = {value}"));
            }
        }
        let digest = new_opts.config_digest.clone();
        self.shared.accounts.sync(&new_opts.accounts);
        if let Some(sys) = self.shared.sys() {
            sys.serve_accounts(&self.shared);
        }
        *self.shared.config_load_time.lock() = std::time::SystemTime::now();
        self.shared.set_runtime(Runtime::new(
            new_opts,
            &self.ids,
            self.bound,
            trust.as_ref(),
        ));
        for w in self.shared.workers() {
            w.send(WorkerMsg::Reload);
        }
        log::notice(&format!("Reloaded server configuration (sha256:{digest})"));
        Ok(())
    }

    /// Requests from other threads (the system thread's `$SYS.REQ.SERVER.<id>.RELOAD`).
    fn handle_control(&mut self) {
        while let Ok(msg) = self.control_rx.try_recv() {
            match msg {
                ControlMsg::Reload { done } => {
                    let _ = done.send(self.try_reload());
                }
            }
        }
    }

    /// Returns true if there is nobody to wait for and the server should stop now.
    fn enter_lame_duck(&mut self) -> bool {
        if !matches!(self.lame_duck, LameDuck::Off) {
            return false;
        }
        log::notice("Entering lame duck mode, stop accepting new clients");
        if let Some(sys) = self.shared.sys() {
            sys.report(crate::sys::SysEvent::LameDuck);
        }
        self.shared.lame_duck.store(true, Ordering::Release);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if self.shared.num_clients() == 0 {
            return true;
        }
        for w in self.shared.workers() {
            w.send(WorkerMsg::LameDuckInfo);
        }
        let grace = self.opts().opts.lame_duck_grace_period.min(TIMER_MAX);
        self.lame_duck = LameDuck::Grace {
            until: Instant::now() + grace,
        };
        false
    }

    /// Advances lame duck mode; true when it is time to shut down.
    fn lame_duck_step(&mut self) -> bool {
        let now = Instant::now();
        match self.lame_duck {
            LameDuck::Off => false,
            LameDuck::Grace { until } => {
                if now >= until {
                    log::notice("Closing existing clients");
                    let rt = self.opts();
                    let span = rt
                        .opts
                        .lame_duck_duration
                        .saturating_sub(rt.opts.lame_duck_grace_period);
                    let deadline = now + span;
                    for w in self.shared.workers() {
                        w.send(WorkerMsg::LameDuckClose { deadline });
                    }
                    self.lame_duck = LameDuck::Closing { deadline };
                }
                false
            }
            LameDuck::Closing { deadline } => {
                self.shared.num_clients() == 0 || now > deadline + Duration::from_secs(1)
            }
        }
    }

    fn shutdown(mut self) {
        log::notice("Initiating Shutdown...");
        if let Some(sys) = self.shared.sys() {
            // SHUTDOWN is the last system message; give the workers a moment to deliver it
            // before they close their connections.
            sys.shutdown(Duration::from_secs(1));
            std::thread::sleep(SHUTDOWN_EVENT_GRACE);
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for w in self.shared.workers() {
            w.send(WorkerMsg::Shutdown);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The ports file goes; the pid file stays, as with nats-server 2.15.1 (observed).
        if let Some(path) = self.ports_file.take() {
            let _ = std::fs::remove_file(path);
        }
        log::notice("Server Exiting..");
    }
}

/// Picks the system account (spec sys.md §1.2): the configured one, else an account named
/// `$SYS`, else a new empty `$SYS`; none with `no_system_account`.
fn system_account(
    accounts: &Accounts,
    opts: &Options,
) -> Result<Option<&'static crate::account::Account>, Error> {
    if opts.no_system_account {
        return Ok(None);
    }
    if opts.system_account.is_empty() {
        return Ok(Some(accounts.ensure(DEFAULT_SYSTEM_ACCOUNT)));
    }
    match accounts.get(&opts.system_account) {
        Some(account) => Ok(Some(account)),
        None => Err(Error(format!(
            "Can't set system account: account {:?} not found",
            opts.system_account
        ))),
    }
}

/// The system account nats-server creates when none is configured.
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";

fn spawn_workers(
    shared: &Arc<Shared>,
    count: usize,
) -> Result<Vec<std::thread::JoinHandle<()>>, Error> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut handles = Vec::with_capacity(count);
    let mut polls = Vec::with_capacity(count);
    let mut inboxes = Vec::with_capacity(count);
    for _ in 0..count {
        let (poll, waker) = worker::new_poll().map_err(|e| Error(format!("worker poll: {e}")))?;
        let (tx, rx) = crossbeam_channel::bounded(worker::INBOX_CAPACITY);
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(worker::SPARE_BUFFERS);
        handles.push(WorkerHandle {
            tx,
            waker,
            spare_tx,
        });
        polls.push(poll);
        inboxes.push((rx, spare_rx));
    }
    let _ = shared.workers.set(handles);
    let mut threads = Vec::with_capacity(count);
    for (id, (poll, (inbox, spare))) in polls.into_iter().zip(inboxes).enumerate() {
        let shared = shared.clone();
        let core = (!cores.is_empty()).then(|| cores[id % cores.len()]);
        let thread = std::thread::Builder::new()
            .name(format!("gannet-worker-{id}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                // A bug that panics a worker would leave its connections hanging while the
                // control thread keeps handing it new ones; stop the whole server instead, as
                // a Go panic stops nats-server.
                let run = std::panic::AssertUnwindSafe(|| {
                    Worker::new(id, poll, inbox, spare, shared).run_loop()
                });
                if std::panic::catch_unwind(run).is_err() {
                    log::fatal(&format!("worker {id} panicked; exiting"));
                    std::process::exit(2);
                }
            })
            .map_err(|e| Error(format!("worker thread: {e}")))?;
        threads.push(thread);
    }
    Ok(threads)
}
