//! The server: startup and the control thread. The top of the layers: the only module that
//! names every thread.
//!
//! The control thread (the process's main thread) owns the client listener, the signals and
//! the lame-duck/shutdown sequence. It accepts connections, gives each a cid and hands it to a
//! worker round-robin; the workers do everything else. Configuration that workers read lives in
//! an immutable [`Runtime`] snapshot that a reload replaces as a whole (see
//! [`crate::shared::Shared`]).

use crate::account::{Account, Accounts};
use crate::auth::operator::{AccountHost, Trust};
use crate::auth::pool::AuthPool;
use crate::auth::AuthConfig;
use crate::ids::WorkerId;
use crate::info::{GANNET_VERSION, NATS_VERSION};
use crate::log;
use crate::msgs::{Admission, ControlHandle, ControlMsg, WorkerHandle, WorkerMsg};
use crate::opts::Options;
use crate::runtime::TIMER_MAX;
use crate::runtime::{Runtime, ServerIds};
use crate::shared::Shared;
use crate::worker::{self, Worker};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
const ROUTE_LISTENER: Token = Token(3);
const LEAF_LISTENER: Token = Token(4);
const GATEWAY_LISTENER: Token = Token(5);
const WS_LISTENER: Token = Token(6);
/// Requests waiting for the control thread, at most.
const CONTROL_QUEUE_MAX: usize = 16;

/// Time for the SHUTDOWN event to reach its subscribers before connections close.
const SHUTDOWN_EVENT_GRACE: Duration = Duration::from_millis(200);
/// How often the control loop looks at lame-duck progress.
const CONTROL_TICK: Duration = Duration::from_millis(50);
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
    /// The route listener, when clustering is on.
    route_listener: Option<TcpListener>,
    /// The leaf node listener, when `leafnodes` has a port.
    leaf_listener: Option<TcpListener>,
    /// The gateway listener, when `gateway` has a port.
    gateway_listener: Option<TcpListener>,
    /// The WebSocket listener and where it is bound, when `websocket` has a port.
    ws_listener: Option<TcpListener>,
    ws_bound: Option<SocketAddr>,
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
    bind_tcp(&opts.host, opts.port)
}

/// Binds a listening socket on `host:port` (port -1 or 0: a random one).
fn bind_tcp(host: &str, port_opt: i64) -> Result<std::net::TcpListener, Error> {
    let port = if port_opt < 0 { 0 } else { port_opt as u16 };
    let host = if host.is_empty() { "0.0.0.0" } else { host };
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
                "Error listening on port: {host}:{port_opt}, \"{e}\""
            ))
        })?;
    socket
        .set_nonblocking(true)
        .map_err(|e| Error(e.to_string()))?;
    Ok(socket.into())
}

/// The first startup lines: versions, name and id, the configuration file and the options
/// accepted but not implemented.
fn log_banner(opts: &Options, ids: &ServerIds) {
    log::notice(&format!("Starting nats-server (gannet {GANNET_VERSION})"));
    log::notice(&format!("  Version:  {NATS_VERSION}"));
    log::notice(&format!("  Gannet:   {GANNET_VERSION}"));
    if !crate::info::GIT_COMMIT.is_empty() {
        log::notice(&format!("  Git:      [{}]", crate::info::GIT_COMMIT));
    }
    let name = if opts.server_name.is_empty() {
        &ids.server_id
    } else {
        &opts.server_name
    };
    log::notice(&format!("  Name:     {name}"));
    log::notice(&format!("  ID:       {}", ids.server_id));
    log_feature_flags(opts);
    if !opts.config_file.is_empty() {
        log::notice(&format!(
            "Using configuration file: {} (sha256:{})",
            opts.config_file, opts.config_digest
        ));
    }
    for key in &opts.not_implemented {
        log::warn(&format!(
            "Option {} is accepted but not implemented yet by gannet; ignoring it",
            crate::gofmt::go_quote(key)
        ));
    }
}

/// The configured feature flags, as nats-server `printFeatureFlags` words them.
fn log_feature_flags(opts: &Options) {
    if opts.feature_flags_configured.is_empty() {
        return;
    }
    let mut configured = Vec::new();
    let mut unsupported = Vec::new();
    for (name, &value) in &opts.feature_flags_configured {
        let Some(&(_, default)) = crate::opts::FEATURE_FLAGS.iter().find(|(n, _)| n == name) else {
            unsupported.push(name.as_str());
            continue;
        };
        let state = match (default, value) {
            (true, true) => "enabled",
            (true, false) => "opt-out",
            (false, true) => "opt-in",
            (false, false) => "disabled",
        };
        configured.push(format!("{name} ({state})"));
    }
    let configured = if configured.is_empty() {
        "none".to_string()
    } else {
        configured.join(", ")
    };
    log::notice("  Feature flags:");
    log::notice(&format!("    Configured:    {configured}"));
    if !unsupported.is_empty() {
        log::notice(&format!("    Unsupported:   {}", unsupported.join(", ")));
    }
}

/// Worker threads: `workers` when positive, else one per available core.
fn worker_count(opts: &Options) -> usize {
    opts.workers
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Operator mode's trust state, checked, with the system account's claims registered in
/// `accounts` (a placeholder while the resolver can't deliver them); `None` without operators.
fn load_trust(opts: &Options, accounts: &Accounts) -> Result<Option<Arc<Trust>>, Error> {
    let Some(trust) = crate::auth::operator::from_opts(opts).map_err(Error)? else {
        return Ok(None);
    };
    trust.probe().map_err(Error)?;
    if trust.system_account.is_empty() {
        log::warn("Trusted Operators should utilize a System Account");
    } else {
        match trust.account(&trust.system_account) {
            Ok(sys) => accounts.register(crate::auth::claims::account_config(&sys.claims)),
            Err(e) => {
                // As nats-server with a resolver that can't deliver it yet: start with
                // a placeholder.
                log::warn(&format!("Using bootstrapping system account ({e})"));
                accounts.ensure(&trust.system_account);
            }
        }
    }
    Ok(Some(trust))
}

/// Links the trust state to `shared`, which registers the accounts it loads later and asks
/// other servers for JWTs.
fn attach_trust(shared: &Arc<Shared>, trust: Option<&Arc<Trust>>) {
    if let Some(trust) = trust {
        let host: Arc<dyn AccountHost> = shared.clone();
        trust.attach(Arc::downgrade(&host));
    }
}

/// Starts the system thread for the system account, if there is one.
fn start_system(shared: &Arc<Shared>, system: Option<&'static Account>) -> Result<(), Error> {
    if let Some(system) = system {
        let handle = crate::sys::start(Arc::downgrade(shared), system)
            .map_err(|e| Error(format!("system thread: {e}")))?;
        shared.set_sys(handle);
    }
    Ok(())
}

/// The channel other threads use to ask the control thread for things, woken through `poll`;
/// its sending half goes into `shared`.
fn register_control(
    poll: &Poll,
    shared: &Shared,
) -> Result<crossbeam_channel::Receiver<ControlMsg>, Error> {
    let (control_tx, control_rx) = crossbeam_channel::bounded(CONTROL_QUEUE_MAX);
    let control_waker =
        mio::Waker::new(poll.registry(), CONTROL).map_err(|e| Error(e.to_string()))?;
    shared.set_control(ControlHandle::new(control_tx, control_waker));
    Ok(control_rx)
}

/// Registers the client listener with `poll` and sets up the signals it also watches.
fn register_listener_and_signals(
    poll: &Poll,
    listener: &mut TcpListener,
) -> Result<Signals, Error> {
    poll.registry()
        .register(listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])
        .map_err(|e| Error(format!("signals: {e}")))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    Ok(signals)
}

impl Server {
    /// Binds the listener, starts the workers and returns the ready server.
    ///
    /// # Errors
    /// The listen address is unusable or a thread/poll could not be created.
    pub fn start(mut opts: Options, flags: crate::cli::Flags) -> Result<Server, Error> {
        let ids = ServerIds::generate();
        log_banner(&opts, &ids);
        let std_listener = bind_listener(&opts)?;
        let bound = std_listener
            .local_addr()
            .map_err(|e| Error(e.to_string()))?;
        let mut listener = TcpListener::from_std(std_listener);
        let workers = worker_count(&opts);
        let accounts = Accounts::new(&opts.accounts, !opts.disable_sublist_cache);
        let trust = load_trust(&opts, &accounts)?;
        let system_account = system_account(&accounts, &opts)?;
        if let Some(leaf) = opts.leafnodes.as_ref().filter(|_| trust.is_none()) {
            leaf.check_local_accounts(|name| {
                name.is_empty()
                    || name == crate::auth::GLOBAL_ACCOUNT
                    || accounts.get(name).is_some()
            })
            .map_err(Error)?;
        }
        if let Some(system) = system_account {
            accounts.set_system(&system.name);
        }
        let auth_pool = AuthPool::start().map_err(|e| Error(format!("auth threads: {e}")))?;
        opts.add_sys_only_no_auth_user("");
        let route_listener = bind_route_listener(&opts)?;
        let leaf_listener = bind_leaf_listener(&opts)?;
        let gateway_listener = bind_gateway_listener(&opts)?;
        let ws_listener = bind_ws_listener(&opts)?;
        let ws_bound = ws_listener.as_ref().map(|(_, b)| *b);
        let runtime = Runtime::new(opts, &ids, bound, ws_bound, trust.as_ref());
        let shared = Arc::new(Shared::new(runtime, accounts, auth_pool, workers));
        attach_trust(&shared, trust.as_ref());
        let dialer_rx = set_cluster(&shared, route_listener.as_ref(), leaf_listener.as_ref())?;
        let leaf_rx = set_leafs(&shared, leaf_listener.as_ref());
        let gateway_rx = set_gateways(&shared, gateway_listener.as_ref());
        shared.sync_import_interest();
        start_system(&shared, system_account)?;
        let mut threads = spawn_workers(&shared, workers)?;
        let poll = Poll::new().map_err(|e| Error(e.to_string()))?;
        let control_rx = register_control(&poll, &shared)?;
        let signals = register_listener_and_signals(&poll, &mut listener)?;
        let route_listener = start_routes(&shared, &poll, route_listener, dialer_rx, &mut threads)?;
        let leaf_listener = start_leafs(&shared, &poll, leaf_listener, leaf_rx, &mut threads)?;
        let gateway_listener =
            start_gateways(&shared, &poll, gateway_listener, gateway_rx, &mut threads)?;
        let ws_listener = start_websocket(&shared, &poll, ws_listener)?;
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
            route_listener,
            leaf_listener,
            gateway_listener,
            ws_listener,
            ws_bound,
        };
        server.start_monitor()?;
        server.write_pid_and_ports()?;
        server.log_ready(workers);
        Ok(server)
    }

    /// The last startup lines: the client address, the TLS mode and readiness.
    fn log_ready(&self, workers: usize) {
        let host = self.bound.ip();
        log::notice(&format!(
            "Listening for client connections on {}",
            SocketAddr::new(host, self.bound.port())
        ));
        self.log_tls_mode();
        log::notice(&format!("Server is ready (gannet, {workers} workers)"));
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
            if let Some(ws) = self.ws_bound {
                let scheme = opts.websocket.as_ref().map_or("ws", |w| w.scheme());
                let whost = if ws.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    ws.ip().to_string()
                };
                json["websocket"] =
                    serde_json::json!([format!("{scheme}://{whost}:{}", ws.port())]);
            }
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
                    ROUTE_LISTENER => self.accept_routes(),
                    LEAF_LISTENER => self.accept_leafs(),
                    GATEWAY_LISTENER => self.accept_gateways(),
                    WS_LISTENER => self.accept_websockets(),
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

    /// Accepts WebSocket clients and hands each to a worker, like the client port's. Past the
    /// connection limit a client is still upgraded, then told so in a frame, as nats-server
    /// does; only [`crate::shared::WS_OVER_LIMIT_MAX`] at a time, the rest closed at once.
    fn accept_websockets(&mut self) {
        loop {
            let Some(listener) = self.ws_listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((sock, peer)) => {
                    let cid = self.shared.next_cid();
                    let max = self.opts().limits.max_connections;
                    let admission = if max <= 0 || self.shared.num_clients() as i64 >= max {
                        if !self.shared.ws_over_limit_begin() {
                            log::error(&format!(
                                "{peer} - wid:{cid} - maximum connections exceeded"
                            ));
                            continue;
                        }
                        Admission::OverLimit
                    } else {
                        self.shared.client_opened();
                        Admission::Counted
                    };
                    self.send_to_next_worker(WorkerMsg::NewConn {
                        sock,
                        cid,
                        peer,
                        websocket: true,
                        admission,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error(&format!("Error accepting websocket connection: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    /// Accepts route connections and hands each to a worker (round-robin, like clients).
    fn accept_routes(&mut self) {
        self.accept_links(LinkListener::Route);
    }

    /// Accepts leaf node connections and hands each to a worker.
    fn accept_leafs(&mut self) {
        self.accept_links(LinkListener::Leaf);
    }

    /// Accepts gateway connections and hands each to a worker.
    fn accept_gateways(&mut self) {
        self.accept_links(LinkListener::Gateway);
    }

    /// Accepts what waits on a server-to-server listener, each connection going to a worker
    /// round-robin, like clients.
    fn accept_links(&mut self, kind: LinkListener) {
        loop {
            let listener = match kind {
                LinkListener::Route => self.route_listener.as_ref(),
                LinkListener::Leaf => self.leaf_listener.as_ref(),
                LinkListener::Gateway => self.gateway_listener.as_ref(),
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, peer)) => {
                    let cid = self.shared.next_cid();
                    let msg = match kind {
                        LinkListener::Route => WorkerMsg::NewRoute {
                            sock,
                            cid,
                            peer,
                            solicit: None,
                        },
                        LinkListener::Leaf => WorkerMsg::NewLeaf {
                            sock,
                            cid,
                            peer,
                            solicit: None,
                        },
                        LinkListener::Gateway => WorkerMsg::NewGateway {
                            sock,
                            cid,
                            peer,
                            solicit: None,
                        },
                    };
                    self.send_to_next_worker(msg);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error(&format!("Error accepting {} connection: {e}", kind.name()));
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    fn hand_off(&mut self, mut sock: mio::net::TcpStream, peer: SocketAddr) {
        let cid = self.shared.next_cid();
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
                let info = rt.client_info(cid, &peer, None, "", rt.limits.max_payload, &[], false);
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
        self.shared.client_opened();
        self.send_to_next_worker(WorkerMsg::NewConn {
            sock,
            cid,
            peer,
            websocket: false,
            admission: Admission::Counted,
        });
    }

    /// Hands an accepted connection to the workers in turn (round-robin).
    fn send_to_next_worker(&mut self, msg: WorkerMsg) {
        let workers = self.shared.workers();
        if workers.is_empty() {
            return;
        }
        let w = self.next_worker % workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        workers[w].send_blocking(msg);
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
        let new_routes = new_opts.cluster.as_ref().map(|c| c.routes.clone());
        let new_perms = new_opts
            .cluster
            .as_ref()
            .and_then(|c| c.permissions.clone());
        let old_perms = rt
            .opts
            .cluster
            .as_ref()
            .and_then(|c| c.permissions.as_ref());
        if let Some(cluster) = self
            .shared
            .cluster()
            .filter(|_| old_perms != new_perms.as_ref())
        {
            let _lines_for = cluster.set_permissions(new_perms.as_ref());
            // Every worker looks at the new export permissions, whether or not it got lines.
            self.shared.wake_workers(u64::MAX);
        }
        if let (Some(cluster), Some(routes)) = (self.shared.cluster(), new_routes) {
            let old = rt.opts.cluster.as_ref().map(|c| c.routes.as_slice());
            if old != Some(routes.as_slice()) {
                cluster.tell_dialer(crate::cluster::DialerMsg::Routes(routes));
            }
        }
        self.shared.accounts.sync(&new_opts.accounts);
        self.shared.sync_import_interest();
        if let Some(sys) = self.shared.sys() {
            sys.serve_accounts(&self.shared.accounts);
        }
        self.shared.config_loaded();
        self.shared.set_runtime(Runtime::new(
            new_opts,
            &self.ids,
            self.bound,
            self.ws_bound,
            trust.as_ref(),
        ));
        for w in self.shared.workers() {
            w.send_blocking(WorkerMsg::Reload);
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
            sys.report(crate::msgs::SysEvent::LameDuck);
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if self.shared.num_clients() == 0 {
            return true;
        }
        for w in self.shared.workers() {
            w.send_blocking(WorkerMsg::LameDuckInfo);
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
                        w.send_blocking(WorkerMsg::LameDuckClose { deadline });
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
        if let Some(mut listener) = self.route_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut listener) = self.leaf_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(cluster) = self.shared.cluster() {
            // Before the workers close the routes, so that nothing is dialed again.
            cluster.stop();
        }
        if let Some(leafs) = self.shared.leafs() {
            leafs.stop();
        }
        if let Some(mut listener) = self.gateway_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(gateways) = self.shared.gateways() {
            gateways.stop();
        }
        for w in self.shared.workers() {
            w.send_blocking(WorkerMsg::Shutdown);
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

/// The server-to-server listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkListener {
    Route,
    Leaf,
    Gateway,
}

impl LinkListener {
    /// The word nats-server's accept errors use.
    fn name(self) -> &'static str {
        match self {
            LinkListener::Route => "route",
            LinkListener::Leaf => "leafnode",
            LinkListener::Gateway => "gateway",
        }
    }
}

/// Picks the system account (spec sys.md §1.2): the configured one, else an account named
/// `$SYS`, else a new empty `$SYS`; none with `no_system_account`.
fn system_account(accounts: &Accounts, opts: &Options) -> Result<Option<&'static Account>, Error> {
    if opts.no_system_account {
        return Ok(None);
    }
    if opts.system_account.is_empty() {
        return Ok(Some(accounts.ensure(SYSTEM_ACCOUNT_DEFAULT)));
    }
    match accounts.get(&opts.system_account) {
        Some(account) => Ok(Some(account)),
        None => Err(Error(format!(
            "Can't set system account: account {} not found",
            crate::gofmt::go_quote(&opts.system_account)
        ))),
    }
}

/// The system account nats-server creates when none is configured.
pub const SYSTEM_ACCOUNT_DEFAULT: &str = "$SYS";

/// Binds the route listener when the configuration has a cluster with a port.
fn bind_route_listener(opts: &Options) -> Result<Option<(TcpListener, SocketAddr)>, Error> {
    match opts.cluster.as_ref().filter(|c| c.port != 0) {
        Some(cluster) => bind_link_listener(&cluster.host, cluster.port).map(Some),
        None => Ok(None),
    }
}

/// Binds a server-to-server listener and says where it ended up (a random port's number).
fn bind_link_listener(host: &str, port: i64) -> Result<(TcpListener, SocketAddr), Error> {
    let std_listener = bind_tcp(host, port)?;
    let bound = std_listener
        .local_addr()
        .map_err(|e| Error(e.to_string()))?;
    Ok((TcpListener::from_std(std_listener), bound))
}

/// A generated cluster name (nats-server uses a NUID when none is configured).
fn dynamic_cluster_name() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let seed = nkeys::KeyPair::new_server().public_key();
    seed.bytes()
        .skip(1)
        .take(22)
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect()
}

/// This server's WebSocket URL for `ws_connect_urls`: the block's `advertise`, else the
/// listener (an unspecified host replaced as for client URLs); none without a listener.
fn own_ws_urls(rt: &Runtime) -> Vec<String> {
    let (Some(ws), Some(ws_rt)) = (rt.opts.websocket.as_ref(), rt.ws.as_ref()) else {
        return Vec::new();
    };
    if !ws.advertise.is_empty() {
        return vec![ws.advertise.clone()];
    }
    let host = match ws_rt.info.host.as_str() {
        "" | "0.0.0.0" | "::" => outward_ip().unwrap_or_else(|| "127.0.0.1".to_string()),
        h => h.to_string(),
    };
    let port = ws_rt.info.port;
    if host.contains(':') {
        vec![format!("[{host}]:{port}")]
    } else {
        vec![format!("{host}:{port}")]
    }
}

/// This server's client URLs for `connect_urls`: `client_advertise`, else the listener, an
/// unspecified host replaced by this machine's outward address (nats-server lists every
/// non-loopback address; one is enough for failover).
fn own_client_urls(rt: &Runtime) -> Vec<String> {
    let (host, port) = (rt.info.host.as_str(), rt.info.port);
    let host = match host {
        "" | "0.0.0.0" | "::" => outward_ip().unwrap_or_else(|| "127.0.0.1".to_string()),
        h => h.to_string(),
    };
    if host.contains(':') {
        vec![format!("[{host}]:{port}")]
    } else {
        vec![format!("{host}:{port}")]
    }
}

/// The address this machine uses towards the outside (no packet is sent).
fn outward_ip() -> Option<String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then(|| ip.to_string())
}

/// Builds the cluster state (before the system thread, whose services are announced to the
/// routes, and the workers) and returns the dialer's channel.
fn set_cluster(
    shared: &Arc<Shared>,
    listener: Option<&(TcpListener, SocketAddr)>,
    leaf_listener: Option<&(TcpListener, SocketAddr)>,
) -> Result<Option<crossbeam_channel::Receiver<crate::cluster::DialerMsg>>, Error> {
    let Some((_, bound)) = listener else {
        return Ok(None);
    };
    let rt = shared.runtime().0;
    let Some(opts) = rt.opts.cluster.as_ref() else {
        return Ok(None);
    };
    let tls = match &opts.tls {
        Some(t) => Some(crate::tls::build::route_tls(t).map_err(Error)?),
        None => None,
    };
    let (name, dynamic) = if opts.name.is_empty() {
        (dynamic_cluster_name(), true)
    } else {
        (opts.name.clone(), false)
    };
    let (host, port, ip) = match opts.advertise.rsplit_once(':') {
        Some((h, p)) if !opts.advertise.is_empty() => {
            let port = p.parse().unwrap_or(bound.port());
            let ip = format!("nats-route://{}/", opts.advertise);
            (
                h.trim_matches(|c| c == '[' || c == ']').to_string(),
                port,
                ip,
            )
        }
        _ => (bound.ip().to_string(), bound.port(), String::new()),
    };
    let info = crate::cluster::wire::RouteInfo {
        server_id: rt.info.server_id.clone(),
        server_name: rt.info.server_name.clone(),
        version: rt.info.version.clone(),
        proto: 1,
        go: rt.info.go.clone(),
        host,
        port,
        headers: rt.limits.headers,
        auth_required: !opts.user.is_empty(),
        tls_required: tls.is_some(),
        tls_verify: tls.is_some(),
        max_payload: rt.info.max_payload,
        ip,
        import: opts
            .permissions
            .as_ref()
            .and_then(|p| p.publish.as_ref())
            .map(crate::cluster::permission_json),
        export: opts
            .permissions
            .as_ref()
            .and_then(|p| p.subscribe.as_ref())
            .map(crate::cluster::permission_json),
        cluster: name.clone(),
        cluster_dynamic: dynamic,
        connect_urls: if opts.no_advertise {
            Vec::new()
        } else {
            own_client_urls(&rt)
        },
        ws_connect_urls: if opts.no_advertise {
            Vec::new()
        } else {
            own_ws_urls(&rt)
        },
        leafnode_urls: leaf_listener
            .and_then(|(_, bound)| {
                let leaf = rt.opts.leafnodes.as_ref().filter(|l| !l.no_advertise)?;
                Some(vec![own_leaf_url(leaf, *bound).0])
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    let perms = opts
        .permissions
        .as_ref()
        .map(crate::auth::perms::ClientPerms::compile);
    let cluster =
        crate::cluster::Cluster::new(info, own_client_urls(&rt), opts.no_advertise, tls, perms);
    let (tx, rx) = crossbeam_channel::bounded(crate::dialer::DIALER_QUEUE_MAX);
    cluster.set_dialer(tx);
    shared.set_cluster(cluster);
    log::notice(&format!("Cluster name is {name}"));
    if dynamic {
        log::warn("Cluster name was dynamically generated, consider setting one");
    }
    Ok(Some(rx))
}

/// Registers the route listener and starts the dialer; returns the listener.
fn start_routes(
    shared: &Arc<Shared>,
    poll: &Poll,
    listener: Option<(TcpListener, SocketAddr)>,
    dialer_rx: Option<crossbeam_channel::Receiver<crate::cluster::DialerMsg>>,
    threads: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<Option<TcpListener>, Error> {
    let (Some((mut listener, bound)), Some(rx)) = (listener, dialer_rx) else {
        return Ok(None);
    };
    poll.registry()
        .register(&mut listener, ROUTE_LISTENER, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    log::notice(&format!("Listening for route connections on {bound}"));
    let rt = shared.runtime().0;
    let (routes, retries, backoff) = rt.opts.cluster.as_ref().map_or_else(
        || (Vec::new(), 0, false),
        |c| (c.routes.clone(), c.connect_retries, c.connect_backoff),
    );
    let dialer = crate::dialer::start(shared.clone(), routes, retries, backoff, rx)
        .map_err(|e| Error(format!("route dialer: {e}")))?;
    threads.push(dialer);
    Ok(Some(listener))
}

/// Binds the WebSocket listener when `websocket` has a port.
fn bind_ws_listener(opts: &Options) -> Result<Option<(TcpListener, SocketAddr)>, Error> {
    match opts.websocket.as_ref().filter(|w| w.port != 0) {
        Some(ws) => bind_link_listener(&ws.host, ws.port)
            .map(Some)
            .map_err(|e| {
                Error(format!(
                    "Unable to listen for websocket connections: {}",
                    e.0
                ))
            }),
        None => Ok(None),
    }
}

/// Registers the WebSocket listener and says where it listens (nats-server's lines, and its
/// warning without TLS).
fn start_websocket(
    shared: &Arc<Shared>,
    poll: &Poll,
    listener: Option<(TcpListener, SocketAddr)>,
) -> Result<Option<TcpListener>, Error> {
    let Some((mut listener, bound)) = listener else {
        return Ok(None);
    };
    poll.registry()
        .register(&mut listener, WS_LISTENER, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    let rt = shared.runtime().0;
    let tls = rt.opts.websocket.as_ref().is_some_and(|w| w.tls.is_some());
    let scheme = if tls { "wss" } else { "ws" };
    log::notice(&format!(
        "Listening for websocket clients on {scheme}://{bound}"
    ));
    if !tls {
        log::warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
    }
    Ok(Some(listener))
}

/// Binds the leaf node listener when `leafnodes` has a port.
fn bind_leaf_listener(opts: &Options) -> Result<Option<(TcpListener, SocketAddr)>, Error> {
    match opts.leafnodes.as_ref().filter(|l| l.port != 0) {
        Some(leaf) => bind_link_listener(&leaf.host, leaf.port).map(Some),
        None => Ok(None),
    }
}

/// Builds the leaf node state when `leafnodes` is configured (before the system thread and
/// the workers, whose subscriptions it counts) and returns the dialer's channel.
fn set_leafs(
    shared: &Arc<Shared>,
    listener: Option<&(TcpListener, SocketAddr)>,
) -> Option<crossbeam_channel::Receiver<crate::leaf::LeafDialMsg>> {
    let rt = shared.runtime().0;
    // The interest table also feeds inbound gateways: kept with gateways alone too.
    let default_opts = crate::opts::LeafOpts::default();
    let opts = match (rt.opts.leafnodes.as_ref(), rt.opts.gateway.as_ref()) {
        (Some(l), _) => l,
        (None, Some(_)) => &default_opts,
        (None, None) => return None,
    };
    let mut info = crate::leaf::wire::LeafInfo {
        server_id: rt.info.server_id.clone(),
        server_name: rt.info.server_name.clone(),
        version: rt.info.version.clone(),
        proto: 1,
        git_commit: rt.info.git_commit.clone(),
        go: rt.info.go.clone(),
        headers: rt.limits.headers,
        // nats-server says so on every leaf INFO, credentials configured or not.
        auth_required: true,
        max_payload: rt.info.max_payload,
        info_on_connect: true,
        ..Default::default()
    };
    if let Some((_, bound)) = listener {
        let (url, host, port) = own_leaf_url(opts, *bound);
        info.ip = url.clone();
        info.host = host;
        info.port = port;
        info.leafnode_urls = Some(vec![url]);
    }
    // The cluster name without a cluster: the gateway's (nats-server requires them equal),
    // else the server name when there are remotes.
    let own_cluster = match rt.opts.gateway.as_ref() {
        Some(g) if !g.name.is_empty() => g.name.clone(),
        _ if opts.remotes.is_empty() => String::new(),
        _ => rt.info.server_name.clone(),
    };
    let leafs = crate::leaf::Leafs::new(info, &own_cluster);
    let (tx, rx) = crossbeam_channel::bounded(crate::leafdial::DIALER_QUEUE_MAX);
    leafs.set_dialer(tx);
    shared.set_leafs(leafs);
    Some(rx)
}

/// This server's leaf URL (`host:port`: `advertise`, else the listener with an unspecified
/// host replaced by this machine's outward address), and the host and port for the INFO.
fn own_leaf_url(opts: &crate::opts::LeafOpts, bound: SocketAddr) -> (String, String, u16) {
    let (host, port) = match opts.advertise.rsplit_once(':') {
        Some((h, p)) if !opts.advertise.is_empty() => (
            h.trim_matches(|c| c == '[' || c == ']').to_string(),
            p.parse().unwrap_or(bound.port()),
        ),
        _ => (opts.host.clone(), bound.port()),
    };
    let url_host = match host.as_str() {
        "" | "0.0.0.0" | "::" => outward_ip().unwrap_or_else(|| "127.0.0.1".to_string()),
        h => h.to_string(),
    };
    let url = if url_host.contains(':') {
        format!("[{url_host}]:{port}")
    } else {
        format!("{url_host}:{port}")
    };
    (url, host, port)
}

/// Binds the gateway listener when `gateway` has a port.
fn bind_gateway_listener(opts: &Options) -> Result<Option<(TcpListener, SocketAddr)>, Error> {
    match opts.gateway.as_ref().filter(|g| g.port != 0) {
        Some(gw) => bind_link_listener(&gw.host, gw.port).map(Some),
        None => Ok(None),
    }
}

/// Builds the gateway state (before the workers) and returns the dialer's channel.
fn set_gateways(
    shared: &Arc<Shared>,
    listener: Option<&(TcpListener, SocketAddr)>,
) -> Option<crossbeam_channel::Receiver<crate::gateway::GatewayDialMsg>> {
    let rt = shared.runtime().0;
    let opts = rt.opts.gateway.as_ref()?;
    let (_, bound) = listener?;
    let (host, port) = match opts.advertise.rsplit_once(':') {
        Some((h, p)) if !opts.advertise.is_empty() => (
            h.trim_matches(|c| c == '[' || c == ']').to_string(),
            p.parse().unwrap_or(bound.port()),
        ),
        _ => (opts.host.clone(), bound.port()),
    };
    let url_host = match host.as_str() {
        "" | "0.0.0.0" | "::" => outward_ip().unwrap_or_else(|| "127.0.0.1".to_string()),
        h => h.to_string(),
    };
    let url = if url_host.contains(':') {
        format!("[{url_host}]:{port}")
    } else {
        format!("{url_host}:{port}")
    };
    let info = crate::gateway::wire::GatewayInfo {
        server_id: rt.info.server_id.clone(),
        server_name: rt.info.server_name.clone(),
        version: rt.info.version.clone(),
        proto: 1,
        go: String::new(),
        host,
        port,
        headers: rt.limits.headers,
        auth_required: !opts.user.is_empty(),
        tls_required: opts.tls.is_some(),
        tls_verify: opts.tls.is_some(),
        max_payload: rt.info.max_payload,
        gateway: opts.name.clone(),
        gateway_urls: vec![url.clone()],
        gateway_url: url,
        gateway_nrp: true,
        gateway_iom: true,
        ..Default::default()
    };
    let gateways = crate::gateway::Gateways::new(&opts.name, &rt.info.server_id, info);
    for remote in &opts.gateways {
        let urls: Vec<String> = remote.urls.iter().map(|u| u.host_port()).collect();
        gateways.learn(&remote.name, &urls);
    }
    let (tx, rx) = crossbeam_channel::bounded(crate::gatewaydial::DIALER_QUEUE_MAX);
    gateways.set_dialer(tx);
    shared.set_gateways(gateways);
    Some(rx)
}

/// Registers the gateway listener and starts the dialer; returns the listener.
fn start_gateways(
    shared: &Arc<Shared>,
    poll: &Poll,
    listener: Option<(TcpListener, SocketAddr)>,
    dialer_rx: Option<crossbeam_channel::Receiver<crate::gateway::GatewayDialMsg>>,
    threads: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<Option<TcpListener>, Error> {
    let rt = shared.runtime().0;
    let (Some(opts), Some((mut listener, bound)), Some(rx)) =
        (rt.opts.gateway.as_ref(), listener, dialer_rx)
    else {
        return Ok(None);
    };
    log::notice(&format!("Gateway name is {}", opts.name));
    poll.registry()
        .register(&mut listener, GATEWAY_LISTENER, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    // nats-server's wording, plural included.
    log::notice(&format!("Listening for gateways connections on {bound}"));
    if let Some(gw) = shared.gateways() {
        log::notice(&format!(
            "Address for gateway {} is {}",
            crate::gofmt::go_quote(&gw.name),
            gw.info().gateway_url
        ));
    }
    let dialer = crate::gatewaydial::spawn(shared.clone(), opts.clone(), rx)
        .map_err(|e| Error(format!("gateway dialer: {e}")))?;
    threads.push(dialer);
    Ok(Some(listener))
}

/// Registers the leaf listener and starts the dialer of the remotes; returns the listener.
fn start_leafs(
    shared: &Arc<Shared>,
    poll: &Poll,
    listener: Option<(TcpListener, SocketAddr)>,
    dialer_rx: Option<crossbeam_channel::Receiver<crate::leaf::LeafDialMsg>>,
    threads: &mut Vec<std::thread::JoinHandle<()>>,
) -> Result<Option<TcpListener>, Error> {
    let rt = shared.runtime().0;
    let Some(opts) = rt.opts.leafnodes.as_ref() else {
        return Ok(None);
    };
    if let Some(rx) = dialer_rx.filter(|_| !opts.remotes.is_empty()) {
        let dialer = crate::leafdial::spawn(
            shared.clone(),
            opts.remotes.clone(),
            opts.reconnect,
            opts.dial_timeout,
            rx,
        )
        .map_err(|e| Error(format!("leaf dialer: {e}")))?;
        threads.push(dialer);
    }
    let Some((mut listener, bound)) = listener else {
        return Ok(None);
    };
    poll.registry()
        .register(&mut listener, LEAF_LISTENER, Interest::READABLE)
        .map_err(|e| Error(e.to_string()))?;
    log::notice(&format!("Listening for leafnode connections on {bound}"));
    Ok(Some(listener))
}

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
        handles.push(WorkerHandle::new(tx, waker, spare_tx));
        polls.push(poll);
        inboxes.push((rx, spare_rx));
    }
    shared.set_workers(handles);
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
                    Worker::new(WorkerId(id), poll, inbox, spare, shared).run_loop()
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
