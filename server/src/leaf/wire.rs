//! The JSON of a leaf node connection's `INFO` and `CONNECT` (spec cluster.md §0.3, §2.3,
//! §2.4), in nats-server's key order (`server/server.go: Info`,
//! `server/leafnode.go: leafConnectInfo`).
//!
//! Gannet does not compress leaf connections: its INFO has no `compression` and its CONNECT
//! no `compress_mode`, which a Go peer takes as "not supported" and keeps the link in plain
//! text (spec §0.5, §2.6). Decoding is lenient like Go's `encoding/json`.

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A leaf INFO, sent by the accepting (hub) side and received by the soliciting side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LeafInfo {
    /// The sender's server id.
    pub server_id: String,
    /// The sender's server name.
    pub server_name: String,
    /// nats-server compatible version.
    pub version: String,
    /// Protocol level.
    pub proto: i32,
    /// The sender's build.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// Runtime description.
    pub go: String,
    /// Leaf listener host.
    pub host: String,
    /// Leaf listener port.
    pub port: u16,
    /// Header support.
    pub headers: bool,
    /// Always true from a hub (nats-server sets it on every leaf INFO).
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS required on the leaf port.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Peer certificates verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Server max payload.
    pub max_payload: i64,
    /// `host:port` of the leaf listener.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// The hub's id for this connection; a Go leaf refuses an INFO without it (wrong port).
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// Signed by nkey and JWT leaf credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// The sender's cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Received only: the hub's compression offer (Gannet never negotiates).
    #[serde(skip_serializing)]
    pub compression: String,
    /// This INFO answers the leaf's CONNECT.
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    /// The account the leaf is bound to on the hub.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    /// That account is the hub's system account.
    #[serde(skip_serializing_if = "is_false")]
    pub acc_is_sys: bool,
    /// What the leaf may receive: the hub-side user's subscribe permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<serde_json::Value>,
    /// What the leaf may send: the hub-side user's publish permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<serde_json::Value>,
    /// The hub answers CONNECT with an INFO (`connect_info`).
    #[serde(skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    /// Leaf URLs of the hub's cluster. A Go leaf refuses an INFO without it (wrong port), so
    /// it is always written.
    pub leafnode_urls: Option<Vec<String>>,
    /// WebSocket URLs of the hub's cluster: what a leaf node dialing over WebSocket fails
    /// over to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
}

impl LeafInfo {
    /// The `INFO ...` line: one space before CR LF, like Go's leaf INFO.
    pub fn to_line(&self) -> Vec<u8> {
        crate::cluster::wire::json_line(b"INFO ", self, b" \r\n")
    }

    /// The URLs a leaf node adds to its remote: the WebSocket ones when it dialed over
    /// WebSocket, else the leaf ones (nats-server `updateLeafNodeURLs`).
    pub fn failover_urls(&self, websocket: bool) -> Option<Vec<String>> {
        if websocket {
            Some(self.ws_connect_urls.clone()).filter(|u| !u.is_empty())
        } else {
            self.leafnode_urls.clone()
        }
    }

    /// Whether a soliciting server would take this INFO as a hub's: nats-server refuses one
    /// without a connection id or `leafnode_urls` ("attempted to connect to wrong port").
    pub fn is_from_leaf_port(&self) -> bool {
        self.client_id != 0 && self.leafnode_urls.is_some()
    }
}

/// A leaf CONNECT, sent by the soliciting side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LeafConnect {
    /// The sender's version (checked against `min_version`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Nkey credentials: the user's public key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nkey: String,
    /// Operator mode: the user JWT.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    /// The nonce signed by the nkey or the JWT's key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sig: String,
    /// Password credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Password credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// Token credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
    /// The sender's server id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_id: String,
    /// JetStream domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The sender's server name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The sender is the hub of this connection (remote `hub: true`).
    #[serde(skip_serializing_if = "is_false")]
    pub is_hub: bool,
    /// The sender's cluster: the origin of everything it sends.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Header support.
    #[serde(skip_serializing_if = "is_false")]
    pub headers: bool,
    /// Subjects the sender will not receive (its `deny_imports`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_pub: Vec<String>,
    /// Asks the hub not to send interest from other leaf connections.
    #[serde(skip_serializing_if = "is_false")]
    pub isolate: bool,
    /// Received only: a compression mode (Gannet never negotiates).
    #[serde(skip_serializing)]
    pub compress_mode: String,
    /// Received only: a gateway dialed the leaf port.
    #[serde(skip_serializing)]
    pub gateway: String,
    /// The account the sender bound the connection to on its side (informational).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    /// Protocol level.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub protocol: i32,
    /// Received only: a client's CONNECT carries `lang` (wrong port).
    #[serde(skip_serializing)]
    pub lang: Option<String>,
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

impl LeafConnect {
    /// The `CONNECT ...` line.
    pub fn to_line(&self) -> Vec<u8> {
        crate::cluster::wire::json_line(b"CONNECT ", self, b"\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_hub_info_decodes() {
        // From spec cluster.md §2.3.3.
        let json = br#"{"server_id":"NDGB","server_name":"h1","version":"2.15.1","proto":3,"git_commit":"b2fd3ef","go":"go1.27.2","host":"127.0.0.1","port":14251,"headers":true,"auth_required":true,"max_payload":1048576,"ip":"127.0.0.1:14251","client_id":10,"nonce":"1KYSKrFchGOEclk","cluster":"HUB","compression":"s2_auto","api_lvl":5,"info_on_connect":true,"leafnode_urls":["127.0.0.1:14251","127.0.0.1:14252"]}"#;
        let info: LeafInfo = serde_json::from_slice(json).unwrap();
        assert!(info.is_from_leaf_port() && info.info_on_connect && !info.connect_info);
        assert_eq!(info.client_id, 10);
        assert_eq!(info.cluster, "HUB");
        let client_port: LeafInfo =
            serde_json::from_slice(br#"{"server_id":"N","client_id":3}"#).unwrap();
        assert!(!client_port.is_from_leaf_port());
    }

    #[test]
    fn hub_info_in_go_key_order() {
        let info = LeafInfo {
            server_id: "NA".into(),
            server_name: "g".into(),
            version: "2.15.1".into(),
            proto: 1,
            go: "gannet".into(),
            host: "127.0.0.1".into(),
            port: 7422,
            headers: true,
            auth_required: true,
            max_payload: 1048576,
            ip: "127.0.0.1:7422".into(),
            client_id: 5,
            nonce: "n".into(),
            cluster: "C".into(),
            connect_info: true,
            remote_account: "A".into(),
            info_on_connect: true,
            leafnode_urls: Some(vec!["127.0.0.1:7422".into()]),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(info.to_line()).unwrap(),
            "INFO {\"server_id\":\"NA\",\"server_name\":\"g\",\"version\":\"2.15.1\",\"proto\":1,\
             \"go\":\"gannet\",\"host\":\"127.0.0.1\",\"port\":7422,\"headers\":true,\
             \"auth_required\":true,\"max_payload\":1048576,\"ip\":\"127.0.0.1:7422\",\
             \"client_id\":5,\"nonce\":\"n\",\"cluster\":\"C\",\"connect_info\":true,\
             \"remote_account\":\"A\",\"info_on_connect\":true,\
             \"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n"
        );
    }

    #[test]
    fn go_leaf_connect_decodes_and_ours_is_compact() {
        let json = br#"{"version":"2.15.1","user":"leaf","pass":"leaf","server_id":"NCJC","name":"l1","cluster":"LC","headers":true,"compress_mode":"off","remote_account":"A","protocol":3}"#;
        let c: LeafConnect = serde_json::from_slice(json).unwrap();
        assert_eq!((c.user.as_str(), c.cluster.as_str()), ("leaf", "LC"));
        assert_eq!(c.compress_mode, "off");
        assert!(c.lang.is_none());
        let ours = LeafConnect {
            user: "u".into(),
            pass: "p".into(),
            server_id: "NA".into(),
            name: "g".into(),
            cluster: "GC".into(),
            headers: true,
            protocol: 1,
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(ours.to_line()).unwrap(),
            "CONNECT {\"user\":\"u\",\"pass\":\"p\",\"server_id\":\"NA\",\"name\":\"g\",\
             \"cluster\":\"GC\",\"headers\":true,\"protocol\":1}\r\n"
        );
    }
}
