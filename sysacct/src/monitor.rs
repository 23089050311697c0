//! Monitoring documents shared by the HTTP port and `$SYS.REQ.SERVER.*` (spec `sys.md` §4):
//! `Varz`, `Connz`/`ConnInfo`, `Subsz`, `HealthStatus`, and the text formats they use.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// An always-present empty object (`"cluster": {}` and friends in `/varz`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Per-kind counters (`slow_consumer_stats`, `stale_connection_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindStats {
    /// Clients.
    pub clients: u64,
    /// Routes.
    pub routes: u64,
    /// Gateways.
    pub gateways: u64,
    /// Leaf nodes.
    pub leafs: u64,
}

/// `disk_io_wait_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskIoWaitStats {
    /// Waiters.
    pub waiters: i64,
    /// Waits.
    pub waits: i64,
    /// Total wait (ns).
    pub wait_time: i64,
    /// Longest wait (ns).
    pub max_wait_time: i64,
}

/// `/varz` `cluster` (nats-server `ClusterOptsVarz`): every field left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterVarz {
    /// Cluster name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Route listener host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Route listener port.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cluster_port: i64,
    /// Route auth timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    /// Configured route URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Route TLS timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub tls_timeout: f64,
    /// Configured pool size.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub pool_size: i64,
}

/// `/varz` `gateway` (nats-server `GatewayOptsVarz`): every field left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayVarz {
    /// Gateway name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Gateway listener host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Gateway listener port.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub port: i64,
    /// Authorization timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    /// TLS timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub tls_timeout: f64,
    /// TLS required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Certificates verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// `advertise`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub advertise: String,
    /// `connect_retries`.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub connect_retries: i64,
    /// The other gateways and their URLs, configured and discovered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<RemoteGatewayVarz>,
    /// `reject_unknown_cluster`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reject_unknown: bool,
}

/// One gateway in `/varz` `gateway.gateways`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteGatewayVarz {
    /// Its name.
    pub name: String,
    /// Its URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// `/varz` `leaf` (nats-server `LeafNodeOptsVarz`): every field left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeafVarz {
    /// Leaf listener host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Leaf listener port.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub port: i64,
    /// Leaf authorization timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    /// Leaf TLS timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub tls_timeout: f64,
    /// TLS required on the leaf port.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Leaf certificates verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// The configured remotes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<RemoteLeafVarz>,
}

/// `/varz` `websocket` (nats-server `WebsocketOptsVarz`): every field left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebsocketVarz {
    /// Listener host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Listener port.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub port: i64,
    /// `advertise`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub advertise: String,
    /// `no_auth_user`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub no_auth_user: String,
    /// `jwt_cookie`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwt_cookie: String,
    /// `handshake_timeout` in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub handshake_timeout: i64,
    /// `authorization.timeout` in seconds.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub auth_timeout: f64,
    /// `no_tls`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_tls: bool,
    /// `tls.verify_and_map`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_map: bool,
    /// `same_origin`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub same_origin: bool,
    /// `allowed_origins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// `compression`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub compression: bool,
}

/// One remote in `/varz` `leaf.remotes` (nats-server `RemoteLeafOptsVarz`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteLeafVarz {
    /// The local account bound to the remote.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_account: String,
    /// Remote TLS timeout (seconds).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub tls_timeout: f64,
    /// The remote's URLs, without credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The remote's deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<DenyRules>,
}

/// `deny_exports`/`deny_imports` of a remote (nats-server `DenyRules`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DenyRules {
    /// Subjects not sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
    /// Subjects not received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

/// `/varz` (the fields a server without clustering, JetStream or TLS listeners has).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Varz {
    /// Server id.
    pub server_id: String,
    /// Server name.
    pub server_name: String,
    /// Version.
    pub version: String,
    /// Protocol.
    pub proto: i32,
    /// Git commit.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// Runtime.
    pub go: String,
    /// Client host.
    pub host: String,
    /// Client port.
    pub port: i64,
    /// Auth required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS required.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// TLS verify.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Advertised IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Client URLs of the cluster's servers (this one first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// WebSocket URLs of the cluster's servers (this one first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// Max connections.
    pub max_connections: i64,
    /// Max subscriptions.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub max_subscriptions: i64,
    /// Ping interval (ns).
    pub ping_interval: i64,
    /// Ping max.
    pub ping_max: i64,
    /// HTTP host.
    pub http_host: String,
    /// HTTP port.
    pub http_port: i64,
    /// HTTP base path as configured.
    pub http_base_path: String,
    /// HTTPS port.
    pub https_port: i64,
    /// Auth timeout (seconds).
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub auth_timeout: f64,
    /// Max control line.
    pub max_control_line: i64,
    /// Max payload.
    pub max_payload: i64,
    /// Max pending.
    pub max_pending: i64,
    /// Cluster (`{}` without one).
    pub cluster: ClusterVarz,
    /// Gateway.
    pub gateway: GatewayVarz,
    /// Leaf node listener and remotes (`{}` without them).
    pub leaf: LeafVarz,
    /// MQTT.
    pub mqtt: Empty,
    /// The WebSocket listener (`{}` without one).
    pub websocket: WebsocketVarz,
    /// JetStream.
    pub jetstream: Empty,
    /// TLS timeout (seconds).
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub tls_timeout: f64,
    /// Write deadline (ns).
    pub write_deadline: i64,
    /// Write timeout policy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub write_timeout: String,
    /// Start time.
    pub start: String,
    /// Now.
    pub now: String,
    /// Uptime text.
    pub uptime: String,
    /// RSS bytes.
    pub mem: i64,
    /// Cores.
    pub cores: i64,
    /// Worker threads (Go's GOMAXPROCS).
    pub gomaxprocs: i64,
    /// CPU percent.
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub cpu: f64,
    /// Client connections.
    pub connections: i64,
    /// Connections since start.
    pub total_connections: u64,
    /// Routes.
    pub routes: i64,
    /// Remote servers.
    pub remotes: i64,
    /// Leaf nodes.
    pub leafnodes: i64,
    /// Messages in.
    pub in_msgs: i64,
    /// Bytes in.
    pub in_bytes: i64,
    /// Messages in from clients.
    pub in_client_msgs: i64,
    /// Bytes in from clients.
    pub in_client_bytes: i64,
    /// Messages out.
    pub out_msgs: i64,
    /// Bytes out.
    pub out_bytes: i64,
    /// Messages out to clients.
    pub out_client_msgs: i64,
    /// Bytes out to clients.
    pub out_client_bytes: i64,
    /// Slow consumers.
    pub slow_consumers: i64,
    /// Stale connections.
    pub stale_connections: i64,
    /// Stalled clients.
    pub stalled_clients: i64,
    /// Subscriptions.
    pub subscriptions: u32,
    /// HTTP hits per path.
    pub http_req_stats: BTreeMap<String, u64>,
    /// Config load time.
    pub config_load_time: String,
    /// Config digest (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_digest: String,
    /// `server_tags`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `server_metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Feature flags in effect (sorted by name, like a Go map).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    /// System account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    /// Slow consumers by kind.
    pub slow_consumer_stats: KindStats,
    /// Stale connections by kind.
    pub stale_connection_stats: KindStats,
    /// Disk I/O waits.
    pub disk_io_wait_stats: DiskIoWaitStats,
}

/// One subscription in `subs=detail` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubDetail {
    /// Account (subsz and closed connections only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// Account tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_tag: String,
    /// Subject.
    pub subject: String,
    /// Queue group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qgroup: String,
    /// Sid.
    pub sid: String,
    /// Messages delivered.
    pub msgs: i64,
    /// Auto-unsubscribe max.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub max: i64,
    /// Connection id.
    pub cid: u64,
}

/// One connection in `/connz`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// Connection id.
    pub cid: u64,
    /// `Client` or `Leafnode`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `nats`, `websocket`, `mqtt`.
    #[serde(default, skip_serializing_if = "String::is_empty", rename = "type")]
    pub client_type: String,
    /// Remote IP.
    pub ip: String,
    /// Remote port.
    pub port: u16,
    /// Start time.
    pub start: String,
    /// Last activity.
    pub last_activity: String,
    /// Close time (closed only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop: String,
    /// Close reason (closed only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// RTT text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rtt: String,
    /// Uptime text.
    pub uptime: String,
    /// Idle text.
    pub idle: String,
    /// Outbound bytes pending.
    pub pending_bytes: i64,
    /// Messages from the client.
    pub in_msgs: i64,
    /// Messages to the client.
    pub out_msgs: i64,
    /// Bytes from the client.
    pub in_bytes: i64,
    /// Bytes to the client.
    pub out_bytes: i64,
    /// Times publishers were stalled by this connection's pending output.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub stalls: i64,
    /// Subscriptions.
    pub subscriptions: u32,
    /// CONNECT name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// CONNECT lang.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lang: String,
    /// CONNECT version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// TLS version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_version: String,
    /// TLS cipher suite.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_cipher_suite: String,
    /// Authorized user (`auth=1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub authorized_user: String,
    /// Account (`auth=1`, not `$G`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// Subjects (`subs=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<String>,
    /// Subscriptions (`subs=detail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list_detail: Vec<SubDetail>,
    /// Account name tag (`auth=1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
}

/// `/connz`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connz {
    /// Server id.
    pub server_id: String,
    /// Now.
    pub now: String,
    /// Entries returned.
    pub num_connections: i64,
    /// Matching entries before pagination.
    pub total: i64,
    /// Offset.
    pub offset: i64,
    /// Limit.
    pub limit: i64,
    /// Connections (`null` for an unknown account, as nats-server does).
    pub connections: Option<Vec<ConnInfo>>,
}

/// `/subsz`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subsz {
    /// Server id.
    pub server_id: String,
    /// Now.
    pub now: String,
    /// The sublist statistics (inlined, as nats-server embeds `SublistStats`).
    #[serde(flatten)]
    pub stats: SublistStatz,
    /// Listed before pagination.
    pub total: i64,
    /// Offset.
    pub offset: i64,
    /// Limit.
    pub limit: i64,
    /// Subscriptions (`subs=1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

/// `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// `ok`, `error` or `unavailable`.
    pub status: String,
    /// Status code (NATS replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// Error text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The problems, with `details=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<HealthzError>,
}

/// One problem in `/healthz?details=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthzError {
    /// `CONNECTION`, `BAD_REQUEST`, `JETSTREAM`, `ACCOUNT`, `STREAM` or `CONSUMER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Account concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// Stream concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// Consumer concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consumer: String,
    /// What is wrong.
    pub error: String,
}

/// Uptime and idle text: whole seconds, largest non-zero unit first and every lower unit after
/// it (`0s`, `1h0m5s`, `2d3h0m0s`, `1y0d0h0m0s`).
pub fn uptime_text(d: Duration) -> String {
    let total = d.as_secs();
    let (years, rest) = (total / (365 * 86_400), total % (365 * 86_400));
    let (days, rest) = (rest / 86_400, rest % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    if years > 0 {
        format!("{years}y{days}d{hours}h{minutes}m{seconds}s")
    } else if days > 0 {
        format!("{days}d{hours}h{minutes}m{seconds}s")
    } else if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// Go's `time.Duration.String()`, with ConnInfo's truncation of sub-millisecond values to
/// whole microseconds (`"674µs"`, `"15.473191ms"`, `"0s"`).
pub fn rtt_text(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", nanos / 1_000);
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos as f64 / 1e6));
    }
    format!("{}s", trim_fraction(nanos as f64 / 1e9))
}

fn trim_fraction(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_format() {
        assert_eq!(uptime_text(Duration::from_secs(0)), "0s");
        assert_eq!(uptime_text(Duration::from_secs(46)), "46s");
        assert_eq!(uptime_text(Duration::from_secs(3605)), "1h0m5s");
        assert_eq!(
            uptime_text(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d3h0m0s"
        );
        assert_eq!(uptime_text(Duration::from_secs(365 * 86_400)), "1y0d0h0m0s");
    }

    #[test]
    fn rtt_format() {
        assert_eq!(rtt_text(Duration::ZERO), "0s");
        assert_eq!(rtt_text(Duration::from_nanos(674_123)), "674µs");
        assert_eq!(rtt_text(Duration::from_nanos(15_473_191)), "15.473191ms");
        assert_eq!(rtt_text(Duration::from_millis(1500)), "1.5s");
    }
}

/// One account's detail: `$SYS.REQ.ACCOUNT.<acc>.INFO` data and `/accountz?acc=`
/// `account_detail` (nats-server `AccountInfo`, fields in its order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Account name (its public key in operator mode).
    pub account_name: String,
    /// When the account was last created or updated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_time: String,
    /// The system account.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_system: bool,
    /// Its JWT has expired.
    pub expired: bool,
    /// Fully loaded.
    pub complete: bool,
    /// JetStream enabled.
    pub jetstream_enabled: bool,
    /// Leaf node connections.
    pub leafnode_connections: i64,
    /// Client connections.
    pub client_connections: i64,
    /// Subscriptions.
    pub subscriptions: u32,
    /// Exports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<ExtExport>,
    /// Imports, the system services every account imports included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<ExtImport>,
    /// The account JWT (operator mode).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    /// The key that signed the account JWT.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_key: String,
    /// Account name tag (the JWT `name`, else the account name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
    /// The account's sublist statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sublist_stats: Option<SublistStatz>,
}

/// One export in [`AccountInfo`] (nats-io/jwt `Export` plus the accounts it is limited to).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtExport {
    /// Exported subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// `service` or `stream`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Services: `Singleton`, `Streamed` or `Chunked`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_type: String,
    /// The accounts allowed to import it (empty: public).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_accounts: Vec<String>,
}

/// One import in [`AccountInfo`] (nats-io/jwt `Import` plus nats-server's state flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtImport {
    /// Subject in the exporting account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Exporting account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// Local subject (older form).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// Local subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    /// `service` or `stream`.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The import failed validation.
    pub invalid: bool,
    /// Requester information shared with the exporter.
    pub share: bool,
    /// Latency tracked.
    pub tracking: bool,
}

/// Sublist statistics as nats-server's `SublistStats` JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SublistStatz {
    /// Subscriptions.
    pub num_subscriptions: u32,
    /// Cached results.
    pub num_cache: u32,
    /// Inserts.
    pub num_inserts: u64,
    /// Removes.
    pub num_removes: u64,
    /// Matches.
    pub num_matches: u64,
    /// Cache hit rate.
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub cache_hit_rate: f64,
    /// Largest fan-out.
    pub max_fanout: u32,
    /// Average fan-out.
    #[serde(serialize_with = "crate::gofloat::serialize")]
    pub avg_fanout: f64,
}
