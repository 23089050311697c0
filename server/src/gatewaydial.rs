//! The gateway dialer thread (`gannet-gateways`): keeps one outbound connection to every
//! other gateway (cluster) this server knows — the configured ones, and those learnt from an
//! inbound connection's INFO or from gossip — and hands each connected socket to a worker,
//! where the handshake runs (`worker/gateway.rs`).
//!
//! Timing follows nats-server `gateway.go` (spec cluster.md §3.2, §3.3): the first dial a
//! second after start (so the local cluster forms first), then again 1 s plus up to 100 ms
//! after a close or a failed dial, through the gateway's URLs in turn. A dial blocks this
//! thread for at most `DIAL_TIMEOUT` (1 s), never a worker.

use crate::gateway::{GatewayDialMsg, GatewaySolicit};
use crate::log;
use crate::msgs::WorkerMsg;
use crate::opts::GatewayOpts;
use crate::shared::Shared;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages waiting for the dialer, at most.
pub const DIALER_QUEUE_MAX: usize = 1024;
/// TCP connect timeout.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// The first dial waits this long after start.
const FIRST_DIAL_DELAY: Duration = Duration::from_secs(1);
/// Between attempts.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between attempts with `connect_backoff`.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest sleep between two looks at the gateways.
const TICK: Duration = Duration::from_secs(1);
/// A dialed connection that neither registered nor closed within this is dialed again.
const HANDSHAKE_GRACE: Duration = Duration::from_secs(10);
/// Failed attempts between two error log lines.
const ERROR_REPORTS: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting(Instant),
    Handshaking(Instant),
    Connected,
}

#[derive(Debug)]
struct Remote {
    /// `host:port` with the credentials of the URL, in dial order.
    urls: Vec<(String, String, String, String)>,
    tls: Option<crate::tls::TlsOptions>,
    state: State,
    next_url: usize,
    failures: u64,
    /// Learnt rather than configured: given up after `connect_retries` failed rounds.
    implicit: bool,
}

struct Dialer {
    shared: Arc<Shared>,
    opts: GatewayOpts,
    remotes: BTreeMap<String, Remote>,
    next_worker: usize,
}

/// Starts the gateway dialer for the gateways of `opts`.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(
    shared: Arc<Shared>,
    opts: GatewayOpts,
    rx: Receiver<GatewayDialMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let first = Instant::now() + FIRST_DIAL_DELAY;
    let mut remotes = BTreeMap::new();
    for g in opts.gateways.iter().filter(|g| g.name != opts.name) {
        let urls = g
            .urls
            .iter()
            .map(|u| {
                (
                    u.host_port(),
                    u.host.clone(),
                    u.user.clone(),
                    u.password.clone(),
                )
            })
            .collect();
        remotes.insert(
            g.name.clone(),
            Remote {
                urls,
                tls: g.tls.clone().or_else(|| opts.tls.clone()),
                state: State::Waiting(first),
                next_url: 0,
                failures: 0,
                implicit: false,
            },
        );
    }
    let mut dialer = Dialer {
        shared,
        opts,
        remotes,
        next_worker: 0,
    };
    std::thread::Builder::new()
        .name("gannet-gateways".into())
        .spawn(move || dialer.run(&rx))
}

impl Dialer {
    fn run(&mut self, rx: &Receiver<GatewayDialMsg>) {
        loop {
            if self.shared.gateways().is_none_or(|g| g.is_stopping()) {
                return;
            }
            let wait = self.next_due().min(TICK);
            match rx.recv_timeout(wait) {
                Ok(GatewayDialMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
            }
            for _ in 0..DIALER_QUEUE_MAX {
                match rx.try_recv() {
                    Ok(GatewayDialMsg::Shutdown) => return,
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
            .values()
            .filter_map(|r| match r.state {
                State::Waiting(at) => Some(at.saturating_duration_since(now)),
                _ => None,
            })
            .min()
            .unwrap_or(TICK)
    }

    fn jitter() -> Duration {
        Duration::from_millis(rand::random::<u64>() % 100)
    }

    fn handle(&mut self, msg: GatewayDialMsg) {
        match msg {
            GatewayDialMsg::Connected { gateway } => {
                if let Some(r) = self.remotes.get_mut(&gateway) {
                    r.state = State::Connected;
                    r.failures = 0;
                }
            }
            GatewayDialMsg::Closed { gateway } => {
                if let Some(r) = self.remotes.get_mut(&gateway) {
                    r.state = State::Waiting(Instant::now() + RETRY_DELAY + Self::jitter());
                }
            }
            GatewayDialMsg::Discovered { gateway, urls } => self.discovered(gateway, urls),
            GatewayDialMsg::Shutdown => {}
        }
    }

    /// A gateway learnt from an INFO: its URLs are added to what we know of it; a new one is
    /// dialed (an implicit gateway), unless `reject_unknown_cluster` keeps us to the
    /// configured ones.
    fn discovered(&mut self, gateway: String, urls: Vec<String>) {
        if gateway == self.opts.name || gateway.is_empty() {
            return;
        }
        let known = self.remotes.contains_key(&gateway);
        if !known && self.opts.reject_unknown_cluster {
            return;
        }
        let tls = self.opts.tls.clone();
        let remote = self.remotes.entry(gateway).or_insert_with(|| Remote {
            urls: Vec::new(),
            tls,
            state: State::Waiting(Instant::now()),
            next_url: 0,
            failures: 0,
            implicit: true,
        });
        for url in urls {
            if !remote.urls.iter().any(|(u, ..)| *u == url) {
                let host = url
                    .rsplit_once(':')
                    .map_or(url.as_str(), |(h, _)| h)
                    .to_string();
                remote.urls.push((url, host, String::new(), String::new()));
            }
        }
    }

    fn dial_due(&mut self) {
        let now = Instant::now();
        let names: Vec<String> = self.remotes.keys().cloned().collect();
        for name in names {
            let due = match self.remotes.get(&name).map(|r| r.state) {
                Some(State::Waiting(at)) => at <= now,
                Some(State::Handshaking(since)) => now.duration_since(since) > HANDSHAKE_GRACE,
                _ => false,
            };
            if !due {
                continue;
            }
            if self
                .shared
                .gateways()
                .is_some_and(|g| g.has_outbound(&name))
            {
                if let Some(r) = self.remotes.get_mut(&name) {
                    r.state = State::Connected;
                }
                continue;
            }
            let ok = self.dial(&name);
            let retries = self.opts.connect_retries.max(0) as u64;
            let Some(r) = self.remotes.get_mut(&name) else {
                continue;
            };
            // An implicit gateway is forgotten after `connect_retries` failed rounds through
            // its URLs (nats-server); an inbound connection from it or gossip brings it back.
            let rounds = r.failures / r.urls.len().max(1) as u64;
            if !ok && r.implicit && rounds > retries {
                crate::debug!("Giving up on implicit gateway {name:?}");
                self.remotes.remove(&name);
                continue;
            }
            // With `connect_backoff` the delay doubles with each failure, up to 30 s.
            let delay = if self.opts.connect_backoff {
                let shift = r.failures.min(5) as u32;
                (RETRY_DELAY * (1u32 << shift)).min(BACKOFF_MAX)
            } else {
                RETRY_DELAY
            };
            r.state = if ok {
                State::Handshaking(Instant::now())
            } else {
                State::Waiting(Instant::now() + delay + Self::jitter())
            };
        }
    }

    /// Dials the next URL of gateway `name` and hands the socket to a worker.
    fn dial(&mut self, name: &str) -> bool {
        let (user_default, pass_default) = (self.opts.user.clone(), self.opts.password.clone());
        let Some(r) = self.remotes.get_mut(name) else {
            return false;
        };
        if r.urls.is_empty() {
            return false;
        }
        let (addr, host, user, pass) = r.urls[r.next_url % r.urls.len()].clone();
        r.next_url = r.next_url.wrapping_add(1);
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default();
        let sock = addrs.iter().find_map(|a| {
            std::net::TcpStream::connect_timeout(a, DIAL_TIMEOUT)
                .ok()
                .map(|s| (s, *a))
        });
        let Some((sock, peer)) = sock.filter(|(s, _)| s.set_nonblocking(true).is_ok()) else {
            r.failures += 1;
            if r.failures % ERROR_REPORTS == 1 {
                log::error(&format!(
                    "Error connecting to explicit gateway {name:?} ({addr}) (attempt {})",
                    r.failures
                ));
            }
            return false;
        };
        let tls = match r.tls.as_ref() {
            Some(t) => match crate::tls::build::resolver_client_config(t) {
                Ok(config) => Some(config),
                Err(e) => {
                    log::error(&format!("Gateway {name:?}: TLS setup failed: {e}"));
                    return false;
                }
            },
            None => None,
        };
        let (user, pass) = if user.is_empty() {
            (user_default, pass_default)
        } else {
            (user, pass)
        };
        let solicit = GatewaySolicit {
            gateway: name.to_string(),
            addr: addr.clone(),
            host,
            user,
            pass,
            tls,
            tls_timeout: r
                .tls
                .as_ref()
                .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout()),
        };
        let workers = self.shared.workers();
        if workers.is_empty() {
            return false;
        }
        crate::debug!("Connecting to explicit gateway {name:?} ({addr}) at {peer}");
        let w = self.next_worker % workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        workers[w].send_blocking(WorkerMsg::NewGateway {
            sock: mio::net::TcpStream::from_std(sock),
            cid: self.shared.next_cid(),
            peer,
            solicit: Some(Box::new(solicit)),
        });
        true
    }
}
