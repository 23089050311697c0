//! The JSON of a gateway connection's `INFO` and `CONNECT` (spec cluster.md §0.3, §3.2), in
//! nats-server's key order (`server/server.go: Info`, `server/gateway.go:
//! sendGatewayConnect`), and the hashes that name clusters and servers in mapped reply
//! subjects (§0.6).
//!
//! Gateway INFO lines end `}␍␊` (no space), and the "command" INFOs that open an account
//! (`gateway_cmd` 2 and 3) carry the account name base64-encoded.

use base64::Engine;
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// `gateway_cmd` 1: an INFO about another gateway (gossip).
pub const CMD_GOSSIP: u8 = 1;
/// `gateway_cmd` 2: the sender starts sending all of an account's plain interest.
pub const CMD_ALL_SUBS_START: u8 = 2;
/// `gateway_cmd` 3: that account's interest is complete; it is now interest-only.
pub const CMD_ALL_SUBS_COMPLETE: u8 = 3;

/// A gateway INFO, sent and received.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GatewayInfo {
    /// The sender's server id (empty in command INFOs).
    pub server_id: String,
    /// The sender's server name.
    pub server_name: String,
    /// nats-server compatible version.
    pub version: String,
    /// Protocol level.
    pub proto: i32,
    /// Always empty on gateways.
    pub go: String,
    /// Gateway listener (or advertised) host.
    pub host: String,
    /// Gateway listener (or advertised) port.
    pub port: u16,
    /// Header support.
    pub headers: bool,
    /// Credentials required.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// TLS required.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Peer certificates verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Server max payload.
    pub max_payload: i64,
    /// The sender's gateway (cluster) name, or the gossiped gateway's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Every gateway URL of the sender's cluster.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateway_urls: Vec<String>,
    /// The sender's own gateway URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway_url: String,
    /// A command (`CMD_*`).
    #[serde(skip_serializing_if = "is_zero")]
    pub gateway_cmd: u8,
    /// The command's payload: an account name, base64 in JSON (Go's `[]byte`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        serialize_with = "as_base64",
        deserialize_with = "from_base64"
    )]
    pub gateway_cmd_payload: String,
    /// The sender maps replies with the `_GR_.` prefix.
    #[serde(skip_serializing_if = "is_false")]
    pub gateway_nrp: bool,
    /// The sender switches every account to interest-only at once.
    #[serde(skip_serializing_if = "is_false")]
    pub gateway_iom: bool,
}

fn as_base64<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v.as_bytes()))
}

fn from_base64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl GatewayInfo {
    /// The `INFO ...` line, without the space before CR LF (as Go's gateway INFOs).
    pub fn to_line(&self) -> Vec<u8> {
        crate::cluster::wire::json_line(b"INFO ", self, b"\r\n")
    }

    /// The command INFO `cmd` about `account` from gateway `gateway` (every other field
    /// zero, as nats-server sends them).
    pub fn command(gateway: &str, cmd: u8, account: &str) -> GatewayInfo {
        GatewayInfo {
            gateway: gateway.to_string(),
            gateway_cmd: cmd,
            gateway_cmd_payload: account.to_string(),
            ..GatewayInfo::default()
        }
    }
}

/// A gateway CONNECT, sent by the outbound side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GatewayConnect {
    /// Always false.
    pub echo: bool,
    /// Always false.
    pub verbose: bool,
    /// Always false.
    pub pedantic: bool,
    /// Credentials from the URL or `gateway.authorization`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Credentials.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// TLS in use.
    pub tls_required: bool,
    /// Go sends false here; header support comes from the INFO.
    pub headers: bool,
    /// The sender's server id.
    pub name: String,
    /// Always empty.
    pub cluster: String,
    /// The sender's gateway name.
    pub gateway: String,
    /// Received only: a client's CONNECT carries `lang`.
    #[serde(skip_serializing)]
    pub lang: Option<String>,
}

impl GatewayConnect {
    /// The `CONNECT ...` line.
    pub fn to_line(&self) -> Vec<u8> {
        crate::cluster::wire::json_line(b"CONNECT ", self, b"\r\n")
    }
}

/// nats-server `getGWHash`: the first 6 bytes of SHA-256, each mapped onto `0-9A-Za-z`.
pub fn gw_hash(s: &str) -> String {
    use sha2::Digest;
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let sum = sha2::Sha256::digest(s.as_bytes());
    sum[..6]
        .iter()
        .map(|b| DIGITS[*b as usize % DIGITS.len()] as char)
        .collect()
}

/// The prefix of replies mapped by a server of gateway `cluster_hash` with server hash
/// `server_hash`: `_GR_.<cluster>.<server>.`.
pub fn reply_prefix(cluster_hash: &str, server_hash: &str) -> String {
    format!("_GR_.{cluster_hash}.{server_hash}.")
}

/// The parts of a mapped reply subject `_GR_.<cluster>.<server>.<reply>`.
pub fn parse_mapped(subject: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let rest = subject.strip_prefix(b"_GR_.")?;
    if rest.len() < 6 + 1 + 6 + 2 || rest[6] != b'.' || rest[13] != b'.' {
        return None;
    }
    Some((&rest[..6], &rest[7..13], &rest[14..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_nats_server() {
        // spec cluster.md §0.6: observed and recomputed.
        assert_eq!(gw_hash("GA"), "F2cAWZ");
    }

    #[test]
    fn mapped_replies_split() {
        let (c, s, r) = parse_mapped(b"_GR_.F2cAWZ.y76GjJ.rep.1").unwrap();
        assert_eq!((c, s, r), (&b"F2cAWZ"[..], &b"y76GjJ"[..], &b"rep.1"[..]));
        assert!(parse_mapped(b"_GR_.short").is_none());
        assert!(parse_mapped(b"rep.1").is_none());
    }

    #[test]
    fn command_info_as_go_writes_it() {
        let line = GatewayInfo::command("GB", CMD_ALL_SUBS_START, "A").to_line();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "INFO {\"server_id\":\"\",\"server_name\":\"\",\"version\":\"\",\"proto\":0,\"go\":\"\",\
             \"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0,\"gateway\":\"GB\",\
             \"gateway_cmd\":2,\"gateway_cmd_payload\":\"QQ==\"}\r\n"
        );
        let json =
            br#"{"server_id":"","gateway":"GB","gateway_cmd":2,"gateway_cmd_payload":"JEc="}"#;
        let info: GatewayInfo = serde_json::from_slice(json).unwrap();
        assert_eq!(info.gateway_cmd_payload, "$G");
    }

    #[test]
    fn go_info_decodes() {
        let json = br#"{"server_id":"NCTW","server_name":"b1","version":"2.15.1","proto":3,"go":"","host":"127.0.0.1","port":14272,"headers":true,"max_payload":1048576,"gateway":"GB","gateway_urls":["127.0.0.1:14272"],"gateway_url":"127.0.0.1:14272","gateway_nrp":true,"gateway_iom":true}"#;
        let info: GatewayInfo = serde_json::from_slice(json).unwrap();
        assert!(info.gateway_iom && info.gateway_nrp);
        assert_eq!(info.gateway_urls, ["127.0.0.1:14272"]);
    }
}
