//! The leaf dialer thread (`gannet-leafs`): dials each configured leaf remote (the hubs this
//! server is a leaf of) and hands the connected socket to a worker, where the handshake runs
//! (`worker/leaf.rs`).
//!
//! A dial blocks this thread for at most the dial timeout, never a worker. Each remote is
//! dialed again `reconnect` (1 s) after its connection closes or a dial fails, plus up to as
//! much again of jitter, longer when the hub asked for it (a loop, the same cluster name,
//! a permission violation: 30 s); its URLs are tried in turn (nats-server
//! `connectToRemoteLeafNode`, spec cluster.md §2.9). The workers' [`LeafDialMsg`]s drive the
//! states; a socket whose handshake neither registered nor closed within
//! `HANDSHAKE_GRACE` (10 s) is given up and dialed again.

use crate::leaf::{LeafDialMsg, LeafSolicit};
use crate::log;
use crate::msgs::WorkerMsg;
use crate::opts::leaf::RemoteLeafOpts;
use crate::shared::Shared;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages waiting for the dialer, at most.
pub const DIALER_QUEUE_MAX: usize = 1024;
/// Longest sleep between two looks at the remotes.
const TICK: Duration = Duration::from_secs(1);
/// A dialed connection that neither registered nor closed within this is dialed again.
const HANDSHAKE_GRACE: Duration = Duration::from_secs(10);
/// Failed attempts between two error log lines.
const ERROR_REPORTS: u64 = 3600;

/// Where a remote is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Dial at this time.
    Waiting(Instant),
    /// A socket went to a worker; the handshake runs.
    Handshaking(Instant),
    /// Registered.
    Connected,
}

#[derive(Debug)]
struct Remote {
    opts: RemoteLeafOpts,
    state: State,
    /// The next URL to try.
    next_url: usize,
    failures: u64,
}

/// The dialer's state.
struct Dialer {
    shared: Arc<Shared>,
    remotes: Vec<Remote>,
    reconnect: Duration,
    dial_timeout: Duration,
    next_worker: usize,
}

/// Starts the leaf dialer thread for `remotes`.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(
    shared: Arc<Shared>,
    remotes: Vec<RemoteLeafOpts>,
    reconnect: Duration,
    dial_timeout: Duration,
    rx: Receiver<LeafDialMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // nats-server waits a little before the first dial of a server with routes, so that
    // the cluster forms first; a fixed short delay keeps the start-up order without that.
    let first = Instant::now() + Duration::from_millis(50);
    let remotes = remotes
        .into_iter()
        .filter(|r| !r.disabled)
        .map(|opts| Remote {
            opts,
            state: State::Waiting(first),
            next_url: 0,
            failures: 0,
        })
        .collect();
    let mut dialer = Dialer {
        shared,
        remotes,
        reconnect,
        dial_timeout,
        next_worker: 0,
    };
    std::thread::Builder::new()
        .name("gannet-leafs".into())
        .spawn(move || dialer.run(&rx))
}

impl Dialer {
    fn run(&mut self, rx: &Receiver<LeafDialMsg>) {
        loop {
            if self.shared.leafs().is_none_or(|l| l.is_stopping()) {
                return;
            }
            let wait = self.next_due().min(TICK);
            match rx.recv_timeout(wait) {
                Ok(LeafDialMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Take whatever else arrived, bounded by the channel's capacity.
            for _ in 0..DIALER_QUEUE_MAX {
                match rx.try_recv() {
                    Ok(LeafDialMsg::Shutdown) => return,
                    Ok(msg) => self.handle(msg),
                    Err(_) => break,
                }
            }
            self.dial_due();
        }
    }

    fn next_due(&self) -> Duration {
        let now = Instant::now();
        self.remotes
            .iter()
            .filter_map(|r| match r.state {
                State::Waiting(at) => Some(at.saturating_duration_since(now)),
                _ => None,
            })
            .min()
            .unwrap_or(TICK)
    }

    fn handle(&mut self, msg: LeafDialMsg) {
        match msg {
            LeafDialMsg::Connected { remote } => {
                if let Some(r) = self.remotes.get_mut(remote) {
                    r.state = State::Connected;
                    r.failures = 0;
                }
            }
            LeafDialMsg::Closed { remote, delay } => {
                let jitter = self.jitter();
                if let Some(r) = self.remotes.get_mut(remote) {
                    r.state = State::Waiting(Instant::now() + delay + jitter);
                }
            }
            LeafDialMsg::Discovered { remote, urls } => self.discovered(remote, &urls),
            LeafDialMsg::Shutdown => {}
        }
    }

    /// A hub's `leafnode_urls`: tried after the configured ones, with their credentials
    /// (nats-server `updateLeafNodeURLs`).
    fn discovered(&mut self, remote: usize, urls: &[String]) {
        let Some(r) = self.remotes.get_mut(remote) else {
            return;
        };
        let Some(first) = r.opts.urls.first().cloned() else {
            return;
        };
        for url in urls {
            if r.opts.urls.iter().any(|u| u.host_port() == *url) {
                continue;
            }
            let Some((host, port)) = url.rsplit_once(':') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            r.opts.urls.push(crate::opts::leaf::LeafUrl {
                raw: url.clone(),
                host: host.trim_matches(|c| c == '[' || c == ']').to_string(),
                port,
                // nats-server builds discovered URLs from `host:port` alone.
                path: String::new(),
                ..first.clone()
            });
        }
    }

    /// Up to `reconnect` more, so that servers restarted together do not dial in step.
    fn jitter(&self) -> Duration {
        let nanos = self.reconnect.as_nanos().min(u128::from(u64::MAX)) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random::<u64>() % nanos)
    }

    fn dial_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.remotes.len() {
            match self.remotes[i].state {
                State::Waiting(at) if at <= now => {}
                State::Handshaking(since) if now.duration_since(since) > HANDSHAKE_GRACE => {}
                _ => continue,
            }
            let ok = self.dial(i);
            let delay = self.reconnect + self.jitter();
            let r = &mut self.remotes[i];
            r.state = if ok {
                State::Handshaking(Instant::now())
            } else {
                State::Waiting(Instant::now() + delay)
            };
        }
    }

    /// Dials the next URL of remote `i` and hands the socket to a worker; false if the dial
    /// failed.
    fn dial(&mut self, i: usize) -> bool {
        let r = &mut self.remotes[i];
        if r.opts.urls.is_empty() {
            return false;
        }
        let url = r.opts.urls[r.next_url % r.opts.urls.len()].clone();
        r.next_url = r.next_url.wrapping_add(1);
        let addr_text = url.host_port();
        let timeout = r.opts.dial_timeout.unwrap_or(self.dial_timeout);
        let addrs: Vec<SocketAddr> = addr_text
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default();
        let sock = addrs.iter().find_map(|a| {
            std::net::TcpStream::connect_timeout(a, timeout)
                .ok()
                .map(|s| (s, *a))
        });
        let Some((sock, peer)) = sock.filter(|(s, _)| s.set_nonblocking(true).is_ok()) else {
            r.failures += 1;
            if r.failures % ERROR_REPORTS == 1 {
                log::error(&format!(
                    "Error trying to connect as leafnode to remote server {addr_text:?} (attempt {})",
                    r.failures
                ));
            }
            return false;
        };
        // The client side of the remote's TLS: built per dial (files may have changed), here
        // where reading them does not hold up a worker. Without a `tls` block the system
        // roots are used if the hub asks for TLS.
        let tls_opts = r.opts.tls.clone().unwrap_or_default();
        let tls = match crate::tls::build::resolver_client_config(&tls_opts) {
            Ok(config) => Some(config),
            Err(e) if r.opts.tls.is_some() => {
                log::error(&format!(
                    "Leafnode remote {addr_text:?}: TLS setup failed: {e}"
                ));
                return false;
            }
            Err(_) => None,
        };
        let solicit = LeafSolicit {
            remote: i,
            addr: addr_text,
            user: url.user.clone(),
            pass: url.password.clone(),
            account: if r.opts.account.is_empty() {
                crate::auth::GLOBAL_ACCOUNT.to_string()
            } else {
                r.opts.account.clone()
            },
            credentials: r.opts.credentials.clone(),
            seed: r.opts.seed.clone(),
            hub: r.opts.hub,
            deny_imports: r.opts.deny_imports.clone(),
            deny_exports: r.opts.deny_exports.clone(),
            request_isolation: r.opts.request_isolation,
            isolate: r.opts.isolate,
            first_info_timeout: r.opts.first_info_timeout,
            tls,
            tls_configured: r.opts.tls.is_some(),
            tls_timeout: r
                .opts
                .tls
                .as_ref()
                .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout()),
            host: url.host.clone(),
            ignore_discovered: r.opts.ignore_discovered_servers,
            websocket: url.is_websocket().then(|| crate::leaf::WsRemote {
                path: crate::websocket::leaf_path(&url.path),
                tls: url.scheme == "wss" || r.opts.tls.is_some(),
                compress: r.opts.ws_compression,
                no_masking: r.opts.ws_no_masking,
            }),
        };
        let workers = self.shared.workers();
        if workers.is_empty() {
            return false;
        }
        crate::debug!("Trying to connect as leafnode to remote server on {peer}");
        let w = self.next_worker % workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        workers[w].send_blocking(WorkerMsg::NewLeaf {
            sock: mio::net::TcpStream::from_std(sock),
            cid: self.shared.next_cid(),
            peer,
            solicit: Some(Box::new(solicit)),
        });
        true
    }
}
