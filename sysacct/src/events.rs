//! Event bodies and subjects (spec `sys.md` §2).

use crate::types::{ClientInfo, DataStats, MsgBytes, ServerInfo};
use serde::{Deserialize, Serialize};

/// `type` of CONNECT events.
pub const CONNECT_EVENT_TYPE: &str = "io.nats.server.advisory.v1.client_connect";
/// `type` of DISCONNECT and AUTH.ERR events.
pub const DISCONNECT_EVENT_TYPE: &str = "io.nats.server.advisory.v1.client_disconnect";
/// `type` of account connection-count events.
pub const ACCOUNT_CONNS_EVENT_TYPE: &str = "io.nats.server.advisory.v1.account_connections";

/// `$SYS.ACCOUNT.<acc>.CONNECT`.
pub fn connect_subject(account: &str) -> String {
    format!("$SYS.ACCOUNT.{account}.CONNECT")
}

/// `$SYS.ACCOUNT.<acc>.DISCONNECT`.
pub fn disconnect_subject(account: &str) -> String {
    format!("$SYS.ACCOUNT.{account}.DISCONNECT")
}

/// `$SYS.SERVER.<sid>.CLIENT.AUTH.ERR`.
pub fn auth_error_subject(server_id: &str) -> String {
    format!("$SYS.SERVER.{server_id}.CLIENT.AUTH.ERR")
}

/// `$SYS.ACCOUNT.<acc>.SERVER.CONNS` (current) and `$SYS.SERVER.ACCOUNT.<acc>.CONNS` (legacy).
pub fn account_conns_subjects(account: &str) -> [String; 2] {
    [
        format!("$SYS.ACCOUNT.{account}.SERVER.CONNS"),
        format!("$SYS.SERVER.ACCOUNT.{account}.CONNS"),
    ]
}

/// `$SYS.ACCOUNT.<acc>.LEAFNODE.CONNECT` (sent by servers with gateways when a leaf node
/// binds to `<acc>`).
pub fn leafnode_connect_subject(account: &str) -> String {
    format!("$SYS.ACCOUNT.{account}.LEAFNODE.CONNECT")
}

/// The body of `$SYS.ACCOUNT.<acc>.LEAFNODE.CONNECT` (no `type`, spec sys.md §2.10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeafNodeConnectMsg {
    /// The sending server.
    pub server: ServerInfo,
    /// The account the leaf node bound to.
    pub acc: String,
}

/// `$SYS.SERVER.<sid>.STATSZ`.
pub fn statsz_subject(server_id: &str) -> String {
    format!("$SYS.SERVER.{server_id}.STATSZ")
}

/// `$SYS.ACCOUNT.<acc>.CONNECT`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectEventMsg {
    /// Schema id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event id.
    pub id: String,
    /// Creation time.
    pub timestamp: String,
    /// Sending server.
    pub server: ServerInfo,
    /// The client.
    pub client: ClientInfo,
}

/// `$SYS.ACCOUNT.<acc>.DISCONNECT` and the AUTH.ERR events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisconnectEventMsg {
    /// Schema id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event id.
    pub id: String,
    /// Creation time.
    pub timestamp: String,
    /// Sending server.
    pub server: ServerInfo,
    /// The client.
    pub client: ClientInfo,
    /// What the server sent the client.
    pub sent: DataStats,
    /// What the server received from the client.
    pub received: DataStats,
    /// Close reason text (`Client Closed`, `Authentication Failure`, …).
    pub reason: String,
}

/// `$SYS.ACCOUNT.<acc>.SERVER.CONNS`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountNumConns {
    /// Schema id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event id.
    pub id: String,
    /// Creation time.
    pub timestamp: String,
    /// Sending server.
    pub server: ServerInfo,
    /// The counts (also the entries of STATZ's `account_statz`).
    #[serde(flatten)]
    pub stat: AccountStat,
}

/// One account's connection and message counts on one server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountStat {
    /// Account name.
    pub acc: String,
    /// Account name tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Client connections.
    pub conns: i64,
    /// Leaf node connections.
    pub leafnodes: i64,
    /// Both.
    pub total_conns: i64,
    /// Subscriptions.
    pub num_subscriptions: u32,
    /// Sent to the account's clients.
    pub sent: DataStats,
    /// Received from them.
    pub received: DataStats,
    /// Slow consumers.
    pub slow_consumers: i64,
}

/// `$SYS.SERVER.<sid>.STATSZ` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStatsMsg {
    /// Sending server.
    pub server: ServerInfo,
    /// Statistics.
    pub statsz: ServerStats,
}

/// Server statistics (no gateways or JetStream).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Start time.
    pub start: String,
    /// Resident memory in bytes.
    pub mem: i64,
    /// Cores.
    pub cores: i64,
    /// CPU percent.
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub cpu: f64,
    /// Client connections.
    pub connections: i64,
    /// Connections since start.
    pub total_connections: u64,
    /// Accounts with connections.
    pub active_accounts: i64,
    /// Subscriptions.
    pub subscriptions: u32,
    /// Sent.
    pub sent: MsgBytes,
    /// Sent to clients.
    #[serde(default)]
    pub sent_to_clients: MsgBytes,
    /// Received.
    pub received: MsgBytes,
    /// Received from clients.
    #[serde(default)]
    pub received_from_clients: MsgBytes,
    /// Slow consumers.
    pub slow_consumers: i64,
    /// One entry per route connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteStat>,
    /// One entry per other gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayStat>,
    /// Servers known.
    pub active_servers: i64,
    /// Go's GOMAXPROCS; Gannet reports its worker count.
    #[serde(default)]
    pub gomaxprocs: i64,
}

/// STATSZ `routes` entry: one route connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteStat {
    /// The route connection id.
    pub rid: u64,
    /// The peer's server name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Sent to the peer.
    pub sent: MsgBytes,
    /// Received from the peer.
    pub received: MsgBytes,
    /// Bytes waiting to be written.
    pub pending: i64,
}

/// STATSZ `gateways` entry: the connections with one other gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayStat {
    /// The outbound connection's id.
    pub gwid: u64,
    /// The other gateway's name.
    pub name: String,
    /// Sent on the outbound connection.
    pub sent: MsgBytes,
    /// Received on the inbound connections.
    pub received: MsgBytes,
    /// Inbound connections from that gateway.
    pub inbound_connections: i64,
}

/// The envelope of `$SYS.REQ` replies: `{"server":…,"data":…,"error":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerApiResponse<T> {
    /// The answering server.
    pub server: ServerInfo,
    /// The payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// An error, if the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

/// An error inside a reply envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// HTTP-like status code.
    pub code: i32,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}
