//! What the threads share about leaf node connections (nats-server `leafnode.go`; spec
//! cluster.md §2): the interest each connection is told about ([`interest`]), our leaf
//! INFO, the remotes this server solicits and the channel to their dialer. Nothing here is
//! touched per message.

pub mod interest;
pub mod wire;

use crossbeam_channel::Sender;
use interest::LeafInterest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use wire::LeafInfo;

/// How a solicited leaf connection came about, carried to the worker with the socket.
#[derive(Debug, Clone)]
pub struct LeafSolicit {
    /// Index of the remote in `leafnodes.remotes` (for the dialer's bookkeeping).
    pub remote: usize,
    /// `host:port` dialed.
    pub addr: String,
    /// Password credentials from the URL.
    pub user: String,
    /// Password credentials from the URL.
    pub pass: String,
    /// The local account bound to the connection.
    pub account: String,
    /// A credentials file (user JWT and seed) to sign the hub's nonce with.
    pub credentials: String,
    /// An nkey seed to sign the hub's nonce with.
    pub seed: String,
    /// This server is the hub of the connection (`hub: true`).
    pub hub: bool,
    /// Subjects not received from the remote (`deny_imports`).
    pub deny_imports: Vec<String>,
    /// Subjects not sent to the remote (`deny_exports`).
    pub deny_exports: Vec<String>,
    /// Ask the hub not to send other leaf nodes' interest.
    pub request_isolation: bool,
    /// Do not send other leaf nodes' interest to the hub.
    pub isolate: bool,
    /// How long to wait for the hub's first INFO.
    pub first_info_timeout: Duration,
    /// Client TLS for the remote (built by the dialer, which may read files): from its
    /// `tls {}` block, else with the system roots for a hub that requires TLS.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The remote has a `tls {}` block: TLS even if the hub does not ask for it.
    pub tls_configured: bool,
    /// The handshake timeout of that TLS.
    pub tls_timeout: Duration,
    /// The host dialed, for checking the hub's certificate.
    pub host: String,
    /// Do not add the hub's `leafnode_urls` to the remote's URLs.
    pub ignore_discovered: bool,
    /// A `ws://` or `wss://` URL: the connection is upgraded first.
    pub websocket: Option<WsRemote>,
}

/// How a leaf node dials a hub's WebSocket port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsRemote {
    /// The request path: `/leafnode` after the URL's own path.
    pub path: String,
    /// `wss://` (or a `tls {}` block): TLS before the upgrade.
    pub tls: bool,
    /// `ws_compression`: ask for permessage-deflate.
    pub compress: bool,
    /// `ws_no_masking`: ask to send unmasked frames.
    pub no_masking: bool,
}

/// What workers tell the leaf dialer thread.
#[derive(Debug)]
pub enum LeafDialMsg {
    /// The connection of a remote registered.
    Connected {
        /// The remote's index.
        remote: usize,
    },
    /// The connection of a remote closed (or failed its handshake): dial again after
    /// `delay` (longer after a loop or a refusal, spec §2.9).
    Closed {
        /// The remote's index.
        remote: usize,
        /// Wait this long before the next attempt.
        delay: Duration,
    },
    /// The hub of a remote told its cluster's leaf URLs (`leafnode_urls`): they join the
    /// URLs the remote is dialed at.
    Discovered {
        /// The remote's index.
        remote: usize,
        /// `host:port` of each.
        urls: Vec<String>,
    },
    /// Stop.
    Shutdown,
}

/// The leaf node state shared by the threads.
#[derive(Debug)]
pub struct Leafs {
    /// Every account's interest as its leaf connections see it.
    pub interest: LeafInterest,
    /// Our hub INFO (per connection fields are filled in by the worker).
    info: LeafInfo,
    /// The cluster name used on leaf connections when the server has no cluster.
    own_cluster: String,
    dialer: OnceLock<Sender<LeafDialMsg>>,
    stopping: AtomicBool,
}

impl Leafs {
    /// The leaf state of a server whose hub INFO is `info` (without a listener, `info` only
    /// names the server). `own_cluster` is the cluster name leaf connections use when the
    /// server has no cluster: nats-server takes the server name when remotes are configured,
    /// and none otherwise.
    pub fn new(info: LeafInfo, own_cluster: &str) -> Leafs {
        Leafs {
            interest: LeafInterest::default(),
            info,
            own_cluster: own_cluster.to_string(),
            dialer: OnceLock::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Our hub INFO template.
    pub fn info(&self) -> LeafInfo {
        self.info.clone()
    }

    /// The cluster name for leaf connections: the cluster's, else `own_cluster` (spec §2.1).
    pub fn cluster_name(&self, cluster: Option<&crate::cluster::Cluster>) -> String {
        cluster.map_or_else(|| self.own_cluster.clone(), |c| c.name())
    }

    /// Records the dialer thread's channel (once, at start).
    pub fn set_dialer(&self, tx: Sender<LeafDialMsg>) {
        let _ = self.dialer.set(tx);
    }

    /// Tells the dialer something without waiting (a full channel drops it: the dialer also
    /// re-checks its remotes every second).
    pub fn tell_dialer(&self, msg: LeafDialMsg) {
        if let Some(tx) = self.dialer.get() {
            let _ = tx.try_send(msg);
        }
    }

    /// The server is shutting down: the dialer stops.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.tell_dialer(LeafDialMsg::Shutdown);
    }

    /// Whether the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}
