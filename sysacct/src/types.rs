//! Payload pieces shared by many events and replies (spec `sys.md` §2.0).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// The sending server (`server` in most payloads; the whole body of SHUTDOWN and LAMEDUCK).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Server name (the id when not configured).
    pub name: String,
    /// Client listen host.
    pub host: String,
    /// Server id (`N…`).
    pub id: String,
    /// Cluster (or gateway) name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// JetStream domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Version.
    pub ver: String,
    /// `server_tags`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `server_metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Feature flags (sorted by name, like a Go map).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    /// JetStream enabled.
    pub jetstream: bool,
    /// Capability bits.
    pub flags: u64,
    /// Per-server send sequence.
    pub seq: u64,
    /// Send time.
    pub time: String,
}

/// A client as events describe it (all fields omitted when empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Connection start.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start: String,
    /// Remote IP.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Connection id.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: u64,
    /// Bound account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acc: String,
    /// Service account (chained service imports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub svc: String,
    /// Authenticated user.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// CONNECT `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// CONNECT `lang`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lang: String,
    /// CONNECT `version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ver: String,
    /// Last RTT in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub rtt: i64,
    /// Server name (request-info headers only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Cluster name (request-info headers only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Alternates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alts: Vec<String>,
    /// Disconnect time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop: String,
    /// User JWT.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    /// Issuer key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_key: String,
    /// Account name tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_tag: String,
    /// User JWT tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `Client`, `Leafnode`, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `nats`, `websocket`, `mqtt`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_type: String,
    /// MQTT client id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// Nonce (auth callout).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Original reply subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reply: String,
}

/// Message and byte counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgBytes {
    /// Messages.
    pub msgs: i64,
    /// Bytes.
    pub bytes: i64,
}

/// Message and byte counts, with per-link breakdowns in account statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataStats {
    /// Messages.
    pub msgs: i64,
    /// Bytes.
    pub bytes: i64,
    /// Over gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<MsgBytes>,
    /// Over routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<MsgBytes>,
    /// Over leaf nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leafs: Option<MsgBytes>,
}
