//! Fuzz checks for the server's parsers, shared by the cargo-fuzz targets (`fuzz/`) and the
//! corpus replay test (`server/tests/fuzz_corpus.rs`): each takes any bytes and must neither
//! panic nor hang. Nothing here runs in the server.

use std::path::Path;

/// A client's CONNECT JSON, and every server-to-server INFO and CONNECT JSON (routes, leaf
/// nodes, gateways), as the parsers hand them over.
pub fn connect_json(data: &[u8]) {
    let _ = crate::connect::ConnectOpts::decode(data);
    let _ = serde_json::from_slice::<crate::cluster::wire::RouteInfo>(data);
    let _ = serde_json::from_slice::<crate::cluster::wire::RouteConnect>(data);
    let _ = serde_json::from_slice::<crate::leaf::wire::LeafInfo>(data);
    let _ = serde_json::from_slice::<crate::leaf::wire::LeafConnect>(data);
    if let Ok(info) = serde_json::from_slice::<crate::gateway::wire::GatewayInfo>(data) {
        let _ = info.to_line();
    }
    let _ = serde_json::from_slice::<crate::gateway::wire::GatewayConnect>(data);
}

/// A configuration file: lexed and parsed (includes resolved against `dir`, which the
/// caller makes a scratch directory), then turned into options and validated.
pub fn config(data: &[u8], dir: &Path) {
    let text = String::from_utf8_lossy(data);
    let Ok(map) = crate::conf::parse_str(&text, Some(dir)) else {
        return;
    };
    let _ = crate::conf::config_digest(&map);
    if let Ok((opts, _)) = crate::opts::Options::from_config(&map, None) {
        let _ = opts.validate();
    }
}

/// JWTs (decoded and verified as every kind the server reads) and creds files.
pub fn jwt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let token = crate::jwt::undecorate(&text);
    let _ = crate::jwt::decode_generic(&token);
    let _ = crate::jwt::peek(&token);
    let _ = crate::jwt::decode::<crate::jwt::User>(&token);
    let _ = crate::jwt::decode::<crate::jwt::Account>(&token);
    let _ = crate::jwt::decode::<crate::jwt::Operator>(&token);
}

/// A monitoring-port request head.
pub fn http_head(data: &[u8]) {
    crate::monitor::http::fuzz_check_head(data);
}

/// Go's duration syntax, `host:port` splitting and the URL forms of routes, leaf remotes
/// and gateways.
pub fn go_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::gofmt::parse_go_duration(&text);
    let _ = crate::gofmt::go_split_host_port(&text);
    let _ = crate::gofmt::go_quote(&text);
    let _ = crate::opts::leaf::LeafUrl::parse(&text).map(|u| (u.to_string(), u.host_port()));
    let _ = crate::opts::gateway::GatewayUrl::parse(&text).map(|u| u.host_port());
}
