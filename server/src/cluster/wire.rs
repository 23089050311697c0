//! The JSON of a route's `INFO` and `CONNECT` (spec cluster.md §0.3, §1.3, §1.4), in
//! nats-server's key order (`server/server.go: Info`, `server/route.go: connectInfo`).
//!
//! Gannet never pools routes nor compresses them, so it leaves out `route_pool_size`,
//! `route_pool_idx`, `route_account` and `compression`, and does not announce `lnoc`: a Go
//! peer then treats it as one connection carrying every account with the account token, in
//! plain text (spec §1.6.2, §1.6.3). Decoding is lenient like Go's `encoding/json`: unknown
//! keys are ignored and missing ones take their defaults.

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// `<op><json><end>`: a server-to-server protocol line (`INFO`, `CONNECT`) around a JSON
/// object. Serializing these structs cannot fail; `{}` stands in if it ever did.
pub fn json_line(op: &[u8], value: &impl Serialize, end: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut line = Vec::with_capacity(op.len() + json.len() + end.len());
    line.extend_from_slice(op);
    line.extend_from_slice(&json);
    line.extend_from_slice(end);
    line
}

/// A route INFO, sent and received.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RouteInfo {
    /// The sender's server id.
    pub server_id: String,
    /// The sender's server name.
    pub server_name: String,
    /// nats-server compatible version.
    pub version: String,
    /// Protocol level (Gannet sends 1: no message tracing, spec §1.4).
    pub proto: i32,
    /// Runtime description.
    pub go: String,
    /// Route listener (or advertised) host.
    pub host: String,
    /// Route listener (or advertised) port.
    pub port: u16,
    /// Header support.
    pub headers: bool,
    /// Route credentials required.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS required on the route port.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Peer certificates verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Server max payload.
    pub max_payload: i64,
    /// `nats-route://host:port/`: where to dial the sender (advertise, or gossip).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Sent on the initial INFO, never checked for routes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The cluster name was generated.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// The sender's client URLs (`host:port`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// The sender's WebSocket URLs (`host:port`), for WebSocket clients' `connect_urls`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// The sender entered lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// The sender's import permissions (`{"allow":[…],"deny":[…]}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<serde_json::Value>,
    /// The sender's export permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<serde_json::Value>,
    /// Gossip: 1 = connect without re-gossiping, 2 = connect and gossip (spec §1.9.2).
    #[serde(skip_serializing_if = "is_zero")]
    pub gossip_mode: u8,
    /// The sender's own leaf node URL (at most one), which its cluster's hubs give their
    /// leaf connections in `leafnode_urls`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leafnode_urls: Vec<String>,
    /// Received only: a gateway name marks gateway gossip forwarded over a route.
    #[serde(skip_serializing)]
    pub gateway: String,
    /// Received only: with `gateway`, that gateway's URLs.
    #[serde(skip_serializing)]
    pub gateway_urls: Vec<String>,
    /// Received only: the peer pools routes (Gannet does not; absent = no pool).
    #[serde(skip_serializing)]
    pub route_pool_size: i64,
    /// Received only: a pinned-account connection (never registered by Gannet).
    #[serde(skip_serializing)]
    pub route_account: String,
}

impl RouteInfo {
    /// The `INFO ...` line: one space before CR LF, like Go's initial INFO.
    pub fn to_line(&self) -> Vec<u8> {
        json_line(b"INFO ", self, b" \r\n")
    }

    /// The address to dial the sender at: `ip` when given (advertise, gossip), else
    /// `host:port`, with an unspecified host replaced by `seen_ip` (the TCP peer's address).
    pub fn dial_addr(&self, seen_ip: Option<std::net::IpAddr>) -> String {
        if let Some(rest) = self.ip.split_once("://").map(|(_, r)| r) {
            return rest.trim_end_matches('/').to_string();
        }
        let host = match (self.host.as_str(), seen_ip) {
            ("" | "0.0.0.0" | "::", Some(ip)) => ip.to_string(),
            (host, _) => host.to_string(),
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A route CONNECT, sent by the soliciting side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RouteConnect {
    /// Always true; ignored on routes.
    pub echo: bool,
    /// Must be false (Go would `+OK` every line).
    pub verbose: bool,
    /// Pedantic checking.
    pub pedantic: bool,
    /// Route user, from the route URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Route password, from the route URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// Informational.
    pub tls_required: bool,
    /// Header support.
    pub headers: bool,
    /// The sender's server id.
    pub name: String,
    /// The sender's cluster name.
    pub cluster: String,
    /// The sender's cluster name was generated.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Received only: a client's CONNECT carries `lang` (wrong port).
    #[serde(skip_serializing)]
    pub lang: Option<String>,
    /// Received only: a gateway's CONNECT carries `gateway` (wrong port).
    #[serde(skip_serializing)]
    pub gateway: Option<String>,
}

impl RouteConnect {
    /// The `CONNECT ...` line.
    pub fn to_line(&self) -> Vec<u8> {
        json_line(b"CONNECT ", self, b"\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_leaves_out_pool_and_compression_keys() {
        let info = RouteInfo {
            server_id: "NA".into(),
            server_name: "g1".into(),
            version: "2.15.1".into(),
            proto: 1,
            go: "gannet".into(),
            host: "127.0.0.1".into(),
            port: 6222,
            headers: true,
            max_payload: 1048576,
            cluster: "C1".into(),
            connect_urls: vec!["127.0.0.1:4222".into()],
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(info.to_line()).unwrap(),
            "INFO {\"server_id\":\"NA\",\"server_name\":\"g1\",\"version\":\"2.15.1\",\"proto\":1,\
             \"go\":\"gannet\",\"host\":\"127.0.0.1\",\"port\":6222,\"headers\":true,\
             \"max_payload\":1048576,\"cluster\":\"C1\",\"connect_urls\":[\"127.0.0.1:4222\"]} \r\n"
        );
    }

    #[test]
    fn go_info_decodes_with_unknown_keys() {
        let json = br#"{"server_id":"NB","server_name":"n1","version":"2.15.1","proto":3,"go":"go1.27.2","host":"0.0.0.0","port":14241,"headers":true,"max_payload":1048576,"nonce":"x","cluster":"C1","connect_urls":["127.0.0.1:14221"],"compression":"accept","lnoc":true,"lnocu":true,"ln":true,"route_pool_size":3}"#;
        let info: RouteInfo = serde_json::from_slice(json).unwrap();
        assert_eq!(info.route_pool_size, 3);
        assert_eq!(info.connect_urls, ["127.0.0.1:14221"]);
        let seen = "10.1.2.3".parse().ok();
        assert_eq!(info.dial_addr(seen), "10.1.2.3:14241");
        let gossip = RouteInfo {
            ip: "nats-route://127.0.0.1:14243/".into(),
            ..info
        };
        assert_eq!(gossip.dial_addr(seen), "127.0.0.1:14243");
    }

    #[test]
    fn connect_in_go_key_order() {
        let c = RouteConnect {
            echo: true,
            headers: true,
            name: "NA".into(),
            cluster: "C1".into(),
            user: "u".into(),
            pass: "p".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(c.to_line()).unwrap(),
            "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"u\",\
             \"pass\":\"p\",\"tls_required\":false,\"headers\":true,\"name\":\"NA\",\
             \"cluster\":\"C1\"}\r\n"
        );
    }
}
