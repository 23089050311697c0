//! Point-in-time views of the workers' connections, for `/connz`, `/varz` and STATSZ. A
//! worker builds its snapshot between two loop iterations when asked; nothing is shared or
//! locked on the data path to make this possible.

use crate::ids::WorkerId;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// One subscription of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubSnapshot {
    /// Subject.
    pub subject: String,
    /// Queue group.
    pub queue: String,
    /// Sid.
    pub sid: String,
    /// Deliveries.
    pub msgs: u64,
    /// Auto-unsubscribe limit (0 = none).
    pub max: u64,
}

/// What kind of connection a snapshot is of (CONNZ `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnKind {
    /// A client.
    #[default]
    Client,
    /// A leaf node connection.
    Leafnode,
}

/// One connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnSnapshot {
    /// Connection id.
    pub cid: u64,
    /// Client or leaf node.
    pub kind: ConnKind,
    /// A client's type in CONNZ: `nats` or `websocket` (unused for leaf nodes).
    pub client_type: &'static str,
    /// Peer address.
    pub peer: SocketAddr,
    /// Connect time.
    pub start: SystemTime,
    /// Last inbound activity.
    pub last_activity: SystemTime,
    /// Last RTT, if measured.
    pub rtt: Option<Duration>,
    /// Outbound bytes waiting.
    pub pending_bytes: u64,
    /// Messages from the client.
    pub in_msgs: u64,
    /// Messages to the client.
    pub out_msgs: u64,
    /// Bytes from the client.
    pub in_bytes: u64,
    /// Bytes to the client.
    pub out_bytes: u64,
    /// Publishers stalled by this connection's pending output.
    pub stalls: u64,
    /// CONNECT name.
    pub name: String,
    /// CONNECT lang.
    pub lang: String,
    /// CONNECT version.
    pub version: String,
    /// Account name.
    pub account: String,
    /// Authenticated user.
    pub user: String,
    /// Number of subscriptions.
    pub num_subs: u32,
    /// Subscriptions (when asked for).
    pub subs: Vec<SubSnapshot>,
    /// TLS version text, if TLS.
    pub tls_version: String,
    /// TLS cipher suite name, if TLS.
    pub tls_cipher: String,
    /// Close time and reason, for closed connections.
    pub closed: Option<(SystemTime, String)>,
}

/// Counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages from clients.
    pub in_msgs: u64,
    /// Bytes from clients.
    pub in_bytes: u64,
    /// Messages to clients.
    pub out_msgs: u64,
    /// Bytes to clients.
    pub out_bytes: u64,
    /// Slow consumers closed.
    pub slow_consumers: u64,
    /// Stale connections closed.
    pub stale_connections: u64,
    /// Publishers stalled by flow control (VARZ `stalled_clients`).
    pub stalled_clients: u64,
}

/// One route connection, for `/routez` and STATSZ `routes`: the connection's view (its cid is
/// the `rid`) and what only a route has.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSnapshot {
    /// The connection: peer address, times, RTT, pending bytes and traffic.
    pub conn: ConnSnapshot,
    /// The peer's server id.
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// This server dialed it.
    pub did_solicit: bool,
    /// Dialed from a configured route URL.
    pub is_configured: bool,
    /// The subjects of the interest the peer registered here.
    pub subs: Vec<String>,
}

/// A view of a registered leaf node connection (`/leafz`).
#[derive(Debug, Clone)]
pub struct LeafSnapshot {
    /// The connection: peer address, times, RTT and traffic.
    pub conn: ConnSnapshot,
    /// The remote server's name.
    pub name: String,
    /// This server solicited the connection and is not its hub.
    pub is_spoke: bool,
    /// Other leaf connections' interest is not sent to it.
    pub is_isolated: bool,
    /// The local account it is bound to.
    pub account: String,
    /// The subjects of the interest the remote registered here.
    pub subs: Vec<String>,
}

/// A view of a registered gateway connection (`/gatewayz`).
#[derive(Debug, Clone)]
pub struct GatewaySnapshot {
    /// The connection.
    pub conn: ConnSnapshot,
    /// The other cluster's gateway name.
    pub remote_gateway: String,
    /// The remote server's id.
    pub remote_id: String,
    /// We dialed it (messages go out on it); else the other cluster did.
    pub outbound: bool,
    /// Interest the other cluster announced on it (outbound), by account: plain and queue
    /// key counts.
    pub accounts: Vec<(String, usize, usize)>,
}

/// A worker's answer to a snapshot request.
#[derive(Debug, Clone, Default)]
pub struct WorkerSnapshot {
    /// Worker id.
    pub worker: WorkerId,
    /// Its counters.
    pub counters: Counters,
    /// Its open connections (empty unless asked for).
    pub conns: Vec<ConnSnapshot>,
    /// Number of open connections.
    pub num_conns: usize,
    /// Its registered route connections (always included: there are few).
    pub routes: Vec<RouteSnapshot>,
    /// Its registered leaf node connections.
    pub leafs: Vec<LeafSnapshot>,
    /// Its registered gateway connections.
    pub gateways: Vec<GatewaySnapshot>,
}

/// What to include in a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// Per-connection entries.
    pub conns: bool,
    /// Their subscriptions.
    pub subs: bool,
}
