//! The `gateway { … }` block as typed options: [`GatewayOpts`] for this server's gateway
//! listener and identity, [`RemoteGatewayOpts`] for each configured remote gateway,
//! [`GatewayUrl`] for their URLs, with nats-server's key names, aliases, defaults, warnings
//! and error texts.
//!
//! Mirrors, in nats-server v2.15.1, `parseGateway` and `parseGateways` (config file) and the
//! gateway part of `setBaselineOptions` in `server/opts.go`, and `validateGatewayOptions`
//! (startup checks) in `server/gateway.go`. Texts were checked against the 2.15.1 binary.
//!
//! `config.rs` hands the block to `Options::config_gateway`; the parent module applies the
//! defaults (`GatewayOpts::set_baseline`), runs `GatewayOpts::validate` where nats-server's
//! `validateOptions` does, and `crate::reload` refuses any change of these options, as
//! nats-server does. `write_deadline`, `write_timeout` and the TLS keys Gannet ignores are
//! accepted and listed in `Options::not_implemented`.

use std::fmt;
use std::time::Duration;

use crate::conf::{Entry, Map, Value, ValueKind};
use crate::gofmt::go_quote;
use crate::tls::TlsOptions;

use super::cluster::{go_url_parse, route_auth_key, url_host_port, RouteAuth};
use super::config::{boolean, duration, int, listen, owned, string, type_error, unknown_field};
use super::config::{write_timeout, Report};
use super::leaf::go_value_text;
use super::{Options, WriteTimeout, AUTH_TIMEOUT_DEFAULT, HOST_DEFAULT};

/// `ErrGatewayNameHasSpaces`.
pub(super) const NAME_HAS_SPACES: &str = "gateway name cannot contain spaces";
/// `validateLeafNode` when leaf nodes listen and a gateway is configured without
/// `system_account`.
pub(super) const LEAF_NEEDS_SYSTEM_ACCOUNT: &str =
    "leaf nodes and gateways (both being defined) require a system account to also be configured";
/// The TLS key nats-server accepts in a gateway's `tls` block (a server context) that the
/// shared TLS parser refuses (it reads the client listener's block, a client context).
const CHECK_KNOWN_URLS_KEY: &str = "verify_cert_and_check_known_urls";

/// `gateway { … }` as configured (nats-server `GatewayOpts`), defaults applied.
///
/// Defaults follow `setBaselineOptions`: with a listener (`port` not 0) the host defaults to
/// `0.0.0.0` and the auth timeout to 2 s (the TLS timeout plus 1 s with TLS); without one
/// they stay empty and zero, as in nats-server. `Default` is Go's zero value: no gateway.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatewayOpts {
    /// `name`: this cluster's gateway name; required with a port, without spaces.
    pub name: String,
    /// Gateway listener host (`listen`, `host`/`net`); `0.0.0.0` by default when there is a
    /// port.
    pub host: String,
    /// Gateway listener port: 0 for none, [`RANDOM_PORT`](crate::opts::RANDOM_PORT) for a
    /// random one.
    pub port: i64,
    /// `advertise`: the `host:port` other gateways are told to dial; empty when not set.
    pub advertise: String,
    /// `authorization.user` / `username`: what inbound gateways must present.
    pub user: String,
    /// `authorization.password` / `pass`.
    pub password: String,
    /// `authorization.timeout`; with a listener by default 2 s, or the TLS timeout plus 1 s
    /// with TLS. Zero without a listener and without `timeout`.
    pub auth_timeout: Duration,
    /// `tls { … }`, parsed and its files loaded. nats-server uses it for both directions and
    /// always requires and verifies the peer's certificate (`getTLSConfig`), whatever
    /// `verify` says.
    pub tls: Option<TlsOptions>,
    /// `tls.verify_cert_and_check_known_urls`: the peer certificate must match one of the
    /// known gateway URLs (`TLSCheckKnownURLs`).
    pub tls_check_known_urls: bool,
    /// `connect_retries`: how many times an implicit (discovered) gateway is dialed before
    /// it is forgotten.
    pub connect_retries: i64,
    /// `connect_backoff`: the delay between dials doubles, up to 30 s.
    pub connect_backoff: bool,
    /// `reject_unknown_cluster` / `reject_unknown`: refuse inbound gateways not listed in
    /// `gateways`.
    pub reject_unknown_cluster: bool,
    /// `write_deadline` (not implemented); `None` = the server's.
    pub write_deadline: Option<Duration>,
    /// `write_timeout` (not implemented); `None` = the server's.
    pub write_timeout: Option<WriteTimeout>,
    /// `gateways`: the remote gateways this server dials, in configured order.
    pub gateways: Vec<RemoteGatewayOpts>,
}

/// One entry of `gateway.gateways` (nats-server `RemoteGatewayOpts`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteGatewayOpts {
    /// `name`: the remote cluster's gateway name; required at startup.
    pub name: String,
    /// `url` (one URL, added) / `urls` (a list, replacing), in configured order, repeated
    /// URLs of a list dropped. At least one is required at startup.
    pub urls: Vec<GatewayUrl>,
    /// `tls { … }`: this remote's TLS settings; `None` = the listener's.
    pub tls: Option<TlsOptions>,
}

/// A remote gateway URL: `scheme://[user[:password]@]host:port`. The scheme is not checked
/// and no port is added, as in nats-server.
///
/// `Display` shows it as nats-server prints a URL, without the user info.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayUrl {
    /// The URL as configured, without surrounding white space.
    pub raw: String,
    /// The scheme, lower-cased; empty if none.
    pub scheme: String,
    /// The URL has user info: its user and password replace the `authorization` ones in
    /// the gateway CONNECT (`sendGatewayConnect`).
    pub has_user: bool,
    /// The user name from the URL (unescaped); empty if none.
    pub user: String,
    /// The password from the URL (unescaped); empty if none.
    pub password: String,
    /// The host, without the brackets of an IPv6 address.
    pub host: String,
    /// The port; 0 when the URL has none (or one above 65535): nats-server dials the URL's
    /// host as written, so such a gateway can't be dialed.
    pub port: u16,
}

impl GatewayUrl {
    /// Parses a gateway URL as nats-server does (`parseURL`: Go's `url.Parse` of the trimmed
    /// text). Whatever Go accepts is accepted.
    ///
    /// # Errors
    ///
    /// nats-server's `error parsing gateway url ["<url>"]` when Go's `url.Parse` refuses it.
    pub fn parse(s: &str) -> Result<GatewayUrl, String> {
        let raw = s.trim();
        let url = go_url_parse(raw)
            .map_err(|_| format!("error parsing gateway url [{}]", go_quote(raw)))?;
        let (host, port) = url_host_port(&url.host);
        Ok(GatewayUrl {
            raw: raw.to_string(),
            host: host.to_string(),
            port: port.parse().unwrap_or(0),
            scheme: url.scheme,
            has_user: url.has_user,
            user: url.user,
            password: url.password.unwrap_or_default(),
        })
    }

    /// `host:port` for dialing, an IPv6 host in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for GatewayUrl {
    /// The URL as Go's `URL.String` prints it, without the user info.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(url) = go_url_parse(&self.raw) else {
            return f.write_str(&self.raw);
        };
        if !url.authority {
            // No authority, so no user info: Go prints it as written.
            return f.write_str(&self.raw);
        }
        if !url.scheme.is_empty() {
            write!(f, "{}:", url.scheme)?;
        }
        write!(f, "//{}{}", url.host.replace('%', "%25"), url.tail)
    }
}

impl GatewayOpts {
    /// A gateway is configured: it has a name or a port (nats-server checks nothing, and
    /// starts no gateway, otherwise).
    pub fn is_configured(&self) -> bool {
        !self.name.is_empty() || self.port != 0
    }

    /// Fills in the defaults (`setBaselineOptions`). Safe to run more than once.
    pub(super) fn set_baseline(&mut self) {
        if self.port == 0 {
            return;
        }
        if self.host.is_empty() {
            self.host = HOST_DEFAULT.to_string();
        }
        if self.auth_timeout.is_zero() {
            self.auth_timeout = match &self.tls {
                Some(tls) => tls.timeout().saturating_add(Duration::from_secs(1)),
                None => AUTH_TIMEOUT_DEFAULT,
            };
        }
    }

    /// nats-server's startup checks of the gateway options (`validateGatewayOptions`): none
    /// without name and port; then a name, without spaces, a port, and a name and a URL for
    /// every remote. Pinned certificates are checked when the `tls` block is read.
    ///
    /// # Errors
    ///
    /// nats-server's text, without position.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.is_configured() {
            return Ok(());
        }
        if self.name.is_empty() {
            return Err("gateway has no name".into());
        }
        if self.name.contains(' ') {
            return Err(NAME_HAS_SPACES.into());
        }
        if self.port == 0 {
            return Err(format!(
                "gateway {} has no port specified (select -1 for random port)",
                go_quote(&self.name)
            ));
        }
        for (i, remote) in self.gateways.iter().enumerate() {
            if remote.name.is_empty() {
                return Err(format!("gateway in the list {i} has no name"));
            }
            if remote.urls.is_empty() {
                return Err(format!("gateway {} has no URL", go_quote(&remote.name)));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The config block (`parseGateway`).

impl Options {
    /// `gateway { … }` (`parseGateway`). As in nats-server, each bad key is reported (in
    /// `report`) and the others are still read, except after a `gateways` value that is not
    /// a list, which ends the block. A second block adds to the first.
    pub(super) fn config_gateway(&mut self, v: &Value, report: &mut Report) -> Result<(), String> {
        let Some(entries) = v.as_map() else {
            return Err(format!(
                "{}: Expected gateway to be a map, got {}",
                v.pos,
                v.go_type_name()
            ));
        };
        let mut gateway = self.gateway.take().unwrap_or_default();
        let mut unimplemented = Vec::new();
        for entry in entries {
            if entry.key.eq_ignore_ascii_case("gateways") {
                match gateway_remotes(&entry.value, report, &mut unimplemented) {
                    Ok(remotes) => gateway.gateways = remotes,
                    Err(message) => {
                        report.errors.push(message);
                        break;
                    }
                }
                continue;
            }
            if let Err(message) = gateway_entry(&mut gateway, entry, report, &mut unimplemented) {
                report.errors.push(message);
            }
        }
        for name in &unimplemented {
            self.not_implemented(name);
        }
        self.gateway = Some(gateway);
        Ok(())
    }
}

/// One key of the `gateway` block, `gateways` aside.
fn gateway_entry(
    gateway: &mut GatewayOpts,
    entry: &Entry,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let v = &entry.value;
    match entry.key.to_lowercase().as_str() {
        "name" => {
            let name = owned(v)?;
            if name.contains(' ') {
                return Err(format!("{}: {NAME_HAS_SPACES}", v.pos));
            }
            gateway.name = name;
        }
        "listen" => (gateway.host, gateway.port) = listen(v)?,
        "port" => gateway.port = int(v)?,
        "host" | "net" => gateway.host = owned(v)?,
        "authorization" => gateway_authorization(gateway, v, report)?,
        "tls" => {
            let (tls, check_known_urls) = gateway_tls(v, "gateway.", unimplemented)?;
            gateway.tls = Some(tls);
            gateway.tls_check_known_urls = check_known_urls;
        }
        "advertise" => gateway.advertise = owned(v)?,
        "connect_retries" => gateway.connect_retries = int(v)?,
        "connect_backoff" => gateway.connect_backoff = boolean(v)?,
        "reject_unknown" | "reject_unknown_cluster" => {
            gateway.reject_unknown_cluster = boolean(v)?;
        }
        "write_deadline" => {
            gateway.write_deadline = Some(duration("write_deadline", v, report)?);
            unimplemented.push("gateway.write_deadline".into());
        }
        "write_timeout" => {
            gateway.write_timeout = Some(write_timeout(v)?);
            unimplemented.push("gateway.write_timeout".into());
        }
        _ if entry.used_as_variable => {}
        _ => return Err(unknown_field(entry)),
    }
    Ok(())
}

/// `gateway.authorization` (nats-server's `parseAuthorization`, as for the cluster): a
/// single user and password, and a timeout. Several users, tokens and callouts are refused;
/// permissions are read and then ignored, as in nats-server.
fn gateway_authorization(
    gateway: &mut GatewayOpts,
    v: &Value,
    report: &mut Report,
) -> Result<(), String> {
    let Some(entries) = v.as_map() else {
        // nats-server's type assertion fails, then it reads the block it did not get.
        report.errors.push(type_error(v, "map[string]interface {}"));
        return Err(format!(
            "{}: runtime error: invalid memory address or nil pointer dereference",
            v.pos
        ));
    };
    let mut auth = RouteAuth::default();
    for e in entries {
        route_auth_key(&mut auth, e, report)?;
    }
    let refuse = |why: &str| Err(format!("{}: Gateway authorization {why}", v.pos));
    if auth.users {
        return refuse("does not allow multiple users");
    }
    if !auth.token.is_empty() {
        return refuse("does not support tokens");
    }
    if auth.callout {
        return refuse("does not support callouts");
    }
    gateway.user = auth.user;
    gateway.password = auth.password;
    gateway.auth_timeout = auth.timeout;
    Ok(())
}

/// A `tls` block of the gateway options (`getTLSConfig`): parsed, its files loaded, and
/// whether `verify_cert_and_check_known_urls` is on. Keys Gannet ignores are recorded under
/// `prefix`.
fn gateway_tls(
    v: &Value,
    prefix: &str,
    unimplemented: &mut Vec<String>,
) -> Result<(TlsOptions, bool), String> {
    let Some(entries) = v.as_map() else {
        return Err(type_error(v, "map[string]interface {}"));
    };
    // The shared parser reads blocks where nats-server refuses this key; a gateway is a
    // server context, where it is allowed. A value of the wrong type is left for the parser
    // to report.
    let mut check_known_urls = false;
    let mut kept = Map::new();
    for e in entries {
        match e.value.as_bool() {
            Some(on) if e.key.eq_ignore_ascii_case(CHECK_KNOWN_URLS_KEY) => check_known_urls = on,
            _ => kept.set(e.key.clone(), e.value.clone(), e.used_as_variable),
        }
    }
    let filtered = Value {
        kind: ValueKind::Map(kept),
        pos: v.pos.clone(),
    };
    let (mut tls, ignored) = crate::tls::config::parse_tls(&filtered)?;
    tls.build().map_err(|e| format!("{}: {e}", v.pos))?;
    unimplemented.extend(ignored.into_iter().map(|key| format!("{prefix}{key}")));
    Ok((tls, check_known_urls))
}

// ---------------------------------------------------------------------------------------
// `gateway.gateways` (`parseGateways`).

/// `gateways`: a list of remote gateway maps. An entry that is not a map is reported and
/// skipped.
///
/// # Errors
///
/// nats-server's text, without position, when `gateways` is not a list: it ends the block.
fn gateway_remotes(
    v: &Value,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<Vec<RemoteGatewayOpts>, String> {
    let Some(items) = v.as_array() else {
        return Err(format!(
            "Expected gateways field to be an array, got {}",
            v.go_type_name()
        ));
    };
    let mut remotes = Vec::with_capacity(items.len());
    for item in items {
        let Some(fields) = item.as_map() else {
            report.errors.push(format!(
                "{}: Expected gateway entry to be a map/struct, got {}",
                item.pos,
                go_value_text(item)
            ));
            continue;
        };
        let mut remote = RemoteGatewayOpts::default();
        for e in fields {
            if let Err(message) = remote_entry(&mut remote, e, report, unimplemented) {
                report.errors.push(message);
            }
        }
        remotes.push(remote);
    }
    Ok(remotes)
}

/// One key of a remote gateway.
fn remote_entry(
    remote: &mut RemoteGatewayOpts,
    e: &Entry,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let v = &e.value;
    match e.key.to_lowercase().as_str() {
        "name" => remote.name = owned(v)?,
        "tls" => {
            // nats-server keeps only the TLS settings of a remote, not the known URLs check.
            let (tls, _) = gateway_tls(v, "gateway.gateways.", unimplemented)?;
            remote.tls = Some(tls);
        }
        "url" => {
            let url = GatewayUrl::parse(string(v)?).map_err(|e| format!("{}: {e}", v.pos))?;
            remote.urls.push(url);
        }
        "urls" => {
            let items = v
                .as_array()
                .ok_or_else(|| type_error(v, "[]interface {}"))?;
            if let Some(urls) = gateway_url_list(items, report)? {
                remote.urls = urls;
            }
        }
        _ if e.used_as_variable => {}
        _ => return Err(unknown_field(e)),
    }
    Ok(())
}

/// A list of URLs (`parseURLs`): a repeated URL is dropped with a warning; a bad one is an
/// error, and then the remote's URLs are left unset (`Ok(None)`).
fn gateway_url_list(
    items: &[Value],
    report: &mut Report,
) -> Result<Option<Vec<GatewayUrl>>, String> {
    let mut seen: Vec<&str> = Vec::with_capacity(items.len());
    let mut urls = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let text = string(item)?;
        if seen.contains(&text) {
            report.warnings.push(format!(
                "{}: invalid use of field {}: Duplicate gateway entry detected",
                item.pos,
                go_quote(text)
            ));
            continue;
        }
        seen.push(text);
        match GatewayUrl::parse(text) {
            Ok(url) => urls.push(url),
            Err(message) => {
                report.errors.push(format!("{}: {message}", item.pos));
                failed = true;
            }
        }
    }
    Ok((!failed).then_some(urls))
}

#[cfg(test)]
mod tests;
