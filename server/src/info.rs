//! The `INFO` JSON the server sends to clients (spec §1.3). Field order follows nats-server's
//! `Info` struct so the JSON diffs cleanly against the reference server.

use serde::Serialize;

/// The protocol version nats-server reports; clients gate features on it, so Gannet reports
/// the nats-server release whose behaviour it implements.
pub const NATS_VERSION: &str = "2.15.1";
/// Gannet's own version, reported in logs and in the `go` field.
pub const GANNET_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit gannet was built from (short hash; empty outside a git checkout), for INFO
/// and VARZ `git_commit`.
pub const GIT_COMMIT: &str = env!("GANNET_GIT_COMMIT");

/// Server INFO, filled once per connection from the server template.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Info {
    /// Server public nkey.
    pub server_id: String,
    /// Server name (the id when not configured).
    pub server_name: String,
    /// nats-server compatible version.
    pub version: String,
    /// Protocol level, always 1.
    pub proto: i32,
    /// The commit the server was built from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// Runtime description; clients don't interpret it.
    pub go: String,
    /// Listen or advertised host.
    pub host: String,
    /// Listen or advertised port.
    pub port: u16,
    /// Whether the server supports headers; always present.
    pub headers: bool,
    /// Auth required.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS required.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Client certificates verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// TLS available next to plaintext.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Effective max payload for this connection.
    pub max_payload: i64,
    /// This connection's id.
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    /// The client's IP without port.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// Nonce to sign for nkey and JWT auth.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Client URLs of the cluster members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Lame duck mode notification.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Set in the INFO that follows the first PONG.
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    /// The account the client is bound to (with `connect_info`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    /// The bound account is the system account.
    #[serde(skip_serializing_if = "is_false")]
    pub acc_is_sys: bool,
    /// JetStream API level.
    pub api_lvl: i32,
    /// Server x25519 public key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub xkey: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Info {
    /// Serializes to JSON bytes. Serializing plain strings and numbers cannot fail.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_and_omissions() {
        let info = Info {
            server_id: "NA".into(),
            server_name: "NA".into(),
            version: NATS_VERSION.into(),
            proto: 1,
            git_commit: String::new(),
            go: "x".into(),
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            max_payload: 1048576,
            client_id: 6,
            client_ip: "127.0.0.1".into(),
            api_lvl: 5,
            xkey: "XA".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(info.to_json()).unwrap(),
            r#"{"server_id":"NA","server_name":"NA","version":"2.15.1","proto":1,"go":"x","host":"127.0.0.1","port":4222,"headers":true,"max_payload":1048576,"client_id":6,"client_ip":"127.0.0.1","api_lvl":5,"xkey":"XA"}"#
        );
    }
}
