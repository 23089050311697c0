//! The route dialer thread (`gannet-routes`): dials the configured routes and the servers
//! other members announce (gossip), and hands each connected socket to a worker, where the
//! handshake runs (`worker/peer.rs`).
//!
//! A dial blocks this thread for at most [`DIAL_TIMEOUT`], never a worker. The registry in
//! [`crate::cluster::Cluster`] is the truth about which servers are connected; the workers'
//! [`DialerMsg`]s are hints that make the dialer act at once, and once per
//! [`RECHECK_EVERY`] it compares its routes with the registry, so a lost hint only delays a
//! redial. Timing follows nats-server `server/route.go` (spec cluster.md §1.8): a configured
//! route is dialed forever, every second (or backing off to 30 s with `connect_backoff`); a
//! gossiped one `1 + connect_retries` times.

use crate::cluster::{DialerMsg, Solicit};
use crate::log;
use crate::msgs::WorkerMsg;
use crate::opts::RouteUrl;
use crate::shared::Shared;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// TCP connect timeout (nats-server `DEFAULT_ROUTE_DIAL`).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Between attempts on a configured route.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest delay with `connect_backoff`.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the dialer compares its routes with the registry.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// A dialed connection that neither registered nor closed within this is dialed again.
const HANDSHAKE_GRACE: Duration = Duration::from_secs(10);
/// Messages waiting for the dialer, at most.
pub const DIALER_QUEUE_MAX: usize = 4096;
/// Failed attempts between two error log lines (nats-server `connect_error_reports`).
const ERROR_REPORTS: u64 = 3600;

/// Where a configured route is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Dial at this time.
    Waiting { at: Instant, delay: Duration },
    /// A socket went to a worker; the handshake runs.
    Handshaking { since: Instant },
    /// The URL leads to this server, connected.
    Connected { server_id: String },
    /// The URL leads to this very server: never dialed again.
    ToSelf,
}

#[derive(Debug)]
struct Explicit {
    url: RouteUrl,
    state: State,
    failures: u64,
}

/// A server dialed because of gossip (or to redial a route it dialed that way): a bounded
/// number of attempts, each counted until its handshake registers the route.
#[derive(Debug)]
struct Implicit {
    addr: String,
    gossip_mode: u8,
    auth: bool,
    attempts_left: i64,
    state: ImplicitState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImplicitState {
    /// Dial at this time.
    Waiting(Instant),
    /// A socket went to a worker at this time; the handshake runs.
    Handshaking(Instant),
}

struct Dialer {
    shared: Arc<Shared>,
    explicit: Vec<Explicit>,
    implicit: HashMap<String, Implicit>,
    connect_retries: i64,
    backoff: bool,
    next_worker: usize,
    rng: u64,
}

/// Starts the dialer for the configured `routes`.
///
/// # Errors
/// The thread could not be spawned.
pub fn start(
    shared: Arc<Shared>,
    routes: Vec<RouteUrl>,
    connect_retries: i64,
    backoff: bool,
    rx: Receiver<DialerMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let now = Instant::now();
    let explicit = routes
        .into_iter()
        .map(|url| Explicit {
            url,
            state: State::Waiting {
                at: now,
                delay: RETRY_DELAY,
            },
            failures: 0,
        })
        .collect();
    let mut dialer = Dialer {
        shared,
        explicit,
        implicit: HashMap::new(),
        connect_retries,
        backoff,
        next_worker: 0,
        rng: u64::from(std::process::id()) | 1,
    };
    std::thread::Builder::new()
        .name("gannet-routes".into())
        .spawn(move || dialer.run(&rx))
}

impl Dialer {
    fn run(&mut self, rx: &Receiver<DialerMsg>) {
        let mut recheck_at = Instant::now();
        loop {
            let now = Instant::now();
            let wait = self.next_due().map_or(RECHECK_EVERY, |at| {
                at.saturating_duration_since(now).min(RECHECK_EVERY)
            });
            if self.shared.cluster().is_none_or(|c| c.is_stopping()) {
                return;
            }
            match rx.recv_timeout(wait) {
                Ok(DialerMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= recheck_at {
                self.recheck(now);
                recheck_at = now + RECHECK_EVERY;
            }
            self.dial_due(now);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let explicit = self.explicit.iter().filter_map(|e| match e.state {
            State::Waiting { at, .. } => Some(at),
            _ => None,
        });
        let implicit = self.implicit.values().filter_map(|i| match i.state {
            ImplicitState::Waiting(at) => Some(at),
            ImplicitState::Handshaking(_) => None,
        });
        explicit.chain(implicit).min()
    }

    fn jitter(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_millis(self.rng % 100)
    }

    fn handle(&mut self, msg: DialerMsg) {
        let now = Instant::now();
        match msg {
            DialerMsg::Gossip {
                server_id,
                addr,
                gossip_mode,
                auth,
            } => self.gossip(server_id, addr, gossip_mode, auth, now),
            DialerMsg::Connected { url, server_id } => {
                let by_url = |e: &&mut Explicit| url.as_deref() == Some(e.url.raw.as_str());
                for e in self.explicit.iter_mut().filter(by_url) {
                    e.state = State::Connected {
                        server_id: server_id.clone(),
                    };
                    e.failures = 0;
                }
                self.implicit.remove(&server_id);
            }
            DialerMsg::Closed {
                server_id,
                url,
                to_self,
                redial,
            } => {
                self.closed(server_id.clone(), url, to_self, now);
                if let (Some(id), Some(addr)) = (server_id, redial) {
                    self.redial_implicit(id, addr, now);
                }
            }
            DialerMsg::Routes(routes) => self.reconfigure(routes, now),
            DialerMsg::Shutdown => {}
        }
    }

    /// A reload's route list: new URLs are dialed at once; removed ones are forgotten (a
    /// route already up through one stays until it drops, and is not dialed again).
    fn reconfigure(&mut self, routes: Vec<RouteUrl>, now: Instant) {
        self.explicit.retain(|e| routes.contains(&e.url));
        for url in routes {
            if self.explicit.iter().any(|e| e.url == url) {
                continue;
            }
            self.explicit.push(Explicit {
                url,
                state: State::Waiting {
                    at: now,
                    delay: RETRY_DELAY,
                },
                failures: 0,
            });
        }
    }

    /// A member announced `server_id`: dial it unless connected or already planned.
    fn gossip(&mut self, server_id: String, addr: String, mode: u8, auth: bool, now: Instant) {
        let Some(cluster) = self.shared.cluster() else {
            return;
        };
        let own = self.shared.runtime().0.info.server_id.clone();
        if server_id == own || cluster.is_registered(&server_id) {
            return;
        }
        let known = self.explicit.iter().any(|e| e.url.host_port() == addr);
        if known || self.implicit.contains_key(&server_id) {
            return;
        }
        let at = now + self.jitter();
        self.implicit.insert(
            server_id,
            Implicit {
                addr,
                gossip_mode: mode,
                auth,
                attempts_left: 1 + self.connect_retries.max(0),
                state: ImplicitState::Waiting(at),
            },
        );
    }

    /// An implicit route closed: one this server dialed dropped after registering (dial it
    /// again, `1 + connect_retries` times, nats-server `reconnect` with `retryImplicit`), or
    /// the handshake of a gossip dial failed (go on with its remaining attempts).
    fn redial_implicit(&mut self, server_id: String, addr: String, now: Instant) {
        let delay = self.jitter();
        match self.implicit.get_mut(&server_id) {
            Some(imp) if imp.attempts_left > 0 => {
                imp.state = ImplicitState::Waiting(now + RETRY_DELAY + delay);
            }
            Some(_) => {
                self.implicit.remove(&server_id);
            }
            None => {
                let auth = self
                    .shared
                    .runtime()
                    .0
                    .opts
                    .cluster
                    .as_ref()
                    .is_some_and(|c| !c.user.is_empty());
                self.implicit.insert(
                    server_id,
                    Implicit {
                        addr,
                        gossip_mode: 0,
                        auth,
                        attempts_left: 1 + self.connect_retries.max(0),
                        state: ImplicitState::Waiting(now + delay),
                    },
                );
            }
        }
    }

    /// A route closed: configured URLs that led to it are dialed again after a second.
    fn closed(
        &mut self,
        server_id: Option<String>,
        url: Option<String>,
        to_self: bool,
        now: Instant,
    ) {
        let delay = RETRY_DELAY + self.jitter();
        for e in &mut self.explicit {
            let by_url = url.as_deref() == Some(e.url.raw.as_str());
            let by_id = matches!(&e.state, State::Connected { server_id: id } if Some(id) == server_id.as_ref());
            if to_self && by_url {
                e.state = State::ToSelf;
            } else if by_url || by_id {
                e.state = State::Waiting {
                    at: now + delay,
                    delay: RETRY_DELAY,
                };
            }
        }
    }

    /// The registry is the truth: a URL whose server is no longer registered, or whose
    /// handshake never ended, is dialed again.
    fn recheck(&mut self, now: Instant) {
        let Some(cluster) = self.shared.cluster() else {
            return;
        };
        for e in &mut self.explicit {
            let lost = match &e.state {
                State::Connected { server_id } => !cluster.is_registered(server_id),
                State::Handshaking { since } => now.duration_since(*since) > HANDSHAKE_GRACE,
                _ => false,
            };
            if lost {
                e.state = State::Waiting {
                    at: now,
                    delay: RETRY_DELAY,
                };
            }
        }
        self.implicit.retain(|id, _| !cluster.is_registered(id));
        for imp in self.implicit.values_mut() {
            if let ImplicitState::Handshaking(since) = imp.state {
                if now.duration_since(since) > HANDSHAKE_GRACE {
                    imp.state = ImplicitState::Waiting(now);
                }
            }
        }
        self.implicit.retain(|_, imp| {
            imp.attempts_left > 0 || matches!(imp.state, ImplicitState::Handshaking(_))
        });
    }

    fn dial_due(&mut self, now: Instant) {
        for i in 0..self.explicit.len() {
            let State::Waiting { at, delay } = self.explicit[i].state else {
                continue;
            };
            if at > now {
                continue;
            }
            let url = self.explicit[i].url.clone();
            let solicit = Solicit {
                addr: url.host_port(),
                url: Some(url.raw.clone()),
                user: url.user.clone(),
                pass: url.password.clone(),
                gossip_mode: 0,
                server_id: None,
            };
            if self.dial(&solicit) {
                self.explicit[i].state = State::Handshaking { since: now };
                self.explicit[i].failures = 0;
                continue;
            }
            let e = &mut self.explicit[i];
            e.failures += 1;
            if e.failures % ERROR_REPORTS == 1 {
                log::error(&format!(
                    "Error trying to connect to route (attempt {}): dial tcp {}: connection refused",
                    e.failures,
                    url.host_port()
                ));
            }
            let next = if self.backoff {
                (delay * 2).min(BACKOFF_MAX)
            } else {
                RETRY_DELAY
            };
            e.state = State::Waiting {
                at: Instant::now() + delay,
                delay: next,
            };
        }
        self.dial_implicit(now);
    }

    fn dial_implicit(&mut self, now: Instant) {
        let due: Vec<String> = self
            .implicit
            .iter()
            .filter(|(_, i)| matches!(i.state, ImplicitState::Waiting(at) if at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        let (user, pass) = self
            .shared
            .runtime()
            .0
            .opts
            .cluster
            .as_ref()
            .map(|c| (c.user.clone(), c.password.clone()))
            .unwrap_or_default();
        for id in due {
            if self.shared.cluster().is_some_and(|c| c.is_registered(&id)) {
                self.implicit.remove(&id);
                continue;
            }
            let Some(imp) = self.implicit.get(&id) else {
                continue;
            };
            let solicit = Solicit {
                addr: imp.addr.clone(),
                url: None,
                user: if imp.auth {
                    user.clone()
                } else {
                    String::new()
                },
                pass: if imp.auth {
                    pass.clone()
                } else {
                    String::new()
                },
                gossip_mode: imp.gossip_mode,
                server_id: Some(id.clone()),
            };
            let ok = self.dial(&solicit);
            let delay = RETRY_DELAY + self.jitter();
            let Some(imp) = self.implicit.get_mut(&id) else {
                continue;
            };
            // An attempt counts until its handshake registers the route (`Connected`).
            imp.attempts_left -= 1;
            if ok {
                imp.state = ImplicitState::Handshaking(Instant::now());
            } else if imp.attempts_left <= 0 {
                self.implicit.remove(&id);
            } else {
                imp.state = ImplicitState::Waiting(Instant::now() + delay);
            }
        }
    }

    /// Dials `solicit.addr` and hands the socket to a worker; false if the dial failed.
    fn dial(&mut self, solicit: &Solicit) -> bool {
        let addrs: Vec<SocketAddr> = match solicit.addr.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(_) => return false,
        };
        for addr in addrs {
            let Ok(sock) = std::net::TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) else {
                continue;
            };
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            let workers = self.shared.workers();
            if workers.is_empty() {
                return false;
            }
            crate::debug!("Trying to connect to route on {}", solicit.addr);
            let w = self.next_worker % workers.len();
            self.next_worker = self.next_worker.wrapping_add(1);
            workers[w].send_blocking(WorkerMsg::NewRoute {
                sock: mio::net::TcpStream::from_std(sock),
                cid: self.shared.next_cid(),
                peer: addr,
                solicit: Some(Box::new(solicit.clone())),
            });
            return true;
        }
        false
    }
}
