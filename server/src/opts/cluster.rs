//! The `cluster { … }` block and the cluster flags as typed options: [`ClusterOpts`] and
//! [`RouteUrl`], with nats-server's key names, defaults, warnings and error texts.
//!
//! Mirrors, in nats-server v2.15.1, `parseCluster`, `parseURLs`/`parseURL` and
//! `parseCompression` (config file), `overrideCluster` and `RoutesFromStr` (flags) in
//! `server/opts.go`, and `validateCluster` / `validateAndNormalizeCompressionOption` (startup
//! checks) in `server/server.go`. Route URLs are accepted or refused exactly as Go's
//! `net/url.Parse` does, which is reimplemented at the end of this file for that purpose.
//!
//! `config.rs` hands the block to `Options::config_cluster`, `flags.rs` applies the flags with
//! `listen_url` and `routes_from_flag`, and [`Options::validate`] runs the startup checks.

use std::time::Duration;

use crate::auth::config::{parse_permissions, parse_users, Permissions};
use crate::conf::{Entry, Value, ValueKind};
use crate::gofmt::{go_duration_string, go_quote, go_split_host_port, parse_go_duration};

use super::config::{
    auth_timeout, boolean, duration, int, listen, map, owned, string, type_error, unknown_field,
    write_timeout, Report,
};
use super::{Options, WriteTimeout, AUTH_TIMEOUT_DEFAULT, HOST_DEFAULT, RANDOM_PORT};

/// The longest interval between route PINGs (nats-server `routeMaxPingInterval`).
pub(crate) const ROUTE_MAX_PING_INTERVAL: Duration = Duration::from_secs(30);
/// `ErrClusterNameHasSpaces`.
pub(super) const NAME_HAS_SPACES: &str = "cluster name cannot contain spaces";
/// `ErrClusterNameConfigConflict`.
pub(super) const NAME_CONFLICTS_WITH_GATEWAY: &str =
    "cluster name conflicts between cluster and gateway definitions";
/// The system account nats-server pins when none is configured (`DEFAULT_SYSTEM_ACCOUNT`).
const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";
/// The most RTT thresholds `s2_auto` compression takes.
const MAX_RTT_THRESHOLDS: usize = 4;

/// `cluster { … }` as configured (nats-server `ClusterOpts`), with the `--cluster`,
/// `--routes`, `--cluster_name`, `--cluster_advertise`, `--no_advertise` and
/// `--connect_retries` flags applied.
///
/// Values nats-server fills in only when the server starts are kept as configured:
/// `pool_size` 0 means the default (3) and an empty `compression` means `accept`; see
/// [`ClusterOpts::compression_mode`] and [`ClusterOpts::route_ping_interval`] for the values
/// in effect. Gannet runs routes without pooling; `pool_size` and `pinned_accounts` are only
/// checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOpts {
    /// `name`; empty when not set (the server then makes one up).
    pub name: String,
    /// Route listener host (`listen`, `host`/`net`, `--cluster`); `0.0.0.0` when none is given.
    pub host: String,
    /// Route listener port: [`RANDOM_PORT`](crate::opts::RANDOM_PORT) for a random one, 0 for
    /// no listener (no clustering).
    pub port: i64,
    /// `advertise` / `cluster_advertise` / `--cluster_advertise`: the `host:port` put in the
    /// route INFO; empty when not set.
    pub advertise: String,
    /// `no_advertise` / `--no_advertise`: keep client URLs out of route INFO and client INFO.
    pub no_advertise: bool,
    /// Explicit routes (`routes`, `--routes`), in configured order, duplicates dropped.
    pub routes: Vec<RouteUrl>,
    /// `authorization.user` (or the `--cluster` URL's user): what incoming routes must present.
    pub user: String,
    /// `authorization.password` (or the `--cluster` URL's password).
    pub password: String,
    /// `authorization.timeout`; by default 2 s, or the cluster TLS timeout plus 1 s with TLS.
    pub auth_timeout: Duration,
    /// `connect_retries` / `--connect_retries`: extra attempts for implicit (gossiped) routes.
    pub connect_retries: i64,
    /// `connect_backoff`: back off exponentially between attempts.
    pub connect_backoff: bool,
    /// `pool_size` as configured: 0 = default (3), -1 = no pooling.
    pub pool_size: i64,
    /// `accounts`: the pinned accounts, as configured (nats-server adds the system account
    /// at startup when pooling is on).
    pub pinned_accounts: Vec<String>,
    /// `compression` as configured (`true` is stored as `s2_fast`, `false` as `off`); empty
    /// when not set, which means `accept`. Checked at startup.
    pub compression: String,
    /// `compression.rtt_thresholds` (negative values as zero), for `s2_auto`.
    pub compression_rtt_thresholds: Vec<Duration>,
    /// `ping_interval`, capped at 30 s (with nats-server's warning); `None` = the server's.
    pub ping_interval: Option<Duration>,
    /// `ping_max`; `None` = the server's.
    pub ping_max: Option<i64>,
    /// `write_deadline`; `None` = the server's.
    pub write_deadline: Option<Duration>,
    /// `write_timeout`; `None` = the server's.
    pub write_timeout: Option<WriteTimeout>,
    /// `permissions { import, export }` (or, deprecated, `authorization.permissions`), as
    /// nats-server parses them: `publish` holds `import`, `subscribe` holds `export`.
    pub permissions: Option<Permissions>,
    /// `tls { … }`, parsed and its files loaded: routes handshake TLS first.
    pub tls: Option<crate::tls::TlsOptions>,
    /// The config (`listen`, `host` or a non-zero `port`) or `--cluster` gave a listen
    /// address, which `--routes` requires.
    pub listen_configured: bool,
}

impl Default for ClusterOpts {
    /// A cluster nothing was configured for: no name, no listener, no routes, defaults.
    fn default() -> ClusterOpts {
        ClusterOpts {
            name: String::new(),
            host: HOST_DEFAULT.to_string(),
            port: 0,
            advertise: String::new(),
            no_advertise: false,
            routes: Vec::new(),
            user: String::new(),
            password: String::new(),
            auth_timeout: AUTH_TIMEOUT_DEFAULT,
            connect_retries: 0,
            connect_backoff: false,
            pool_size: 0,
            pinned_accounts: Vec::new(),
            compression: String::new(),
            compression_rtt_thresholds: Vec::new(),
            ping_interval: None,
            ping_max: None,
            write_deadline: None,
            write_timeout: None,
            permissions: None,
            tls: None,
            listen_configured: false,
        }
    }
}

impl ClusterOpts {
    /// The route compression mode, normalized as nats-server does
    /// (`validateAndNormalizeCompressionOption`, `on` meaning `s2_fast`): one of
    /// `not supported`, `off`, `accept`, `s2_auto`, `s2_fast`, `s2_better`, `s2_best`;
    /// `accept` when none is configured.
    ///
    /// # Errors
    ///
    /// nats-server's text for an unknown mode (`unsupported compression mode "x"`) or for
    /// unusable `s2_auto` RTT thresholds.
    pub fn compression_mode(&self) -> Result<&'static str, String> {
        if self.compression.is_empty() {
            return Ok("accept");
        }
        normalize_compression(
            &self.compression,
            &self.compression_rtt_thresholds,
            "s2_fast",
        )
    }

    /// The interval between route PINGs: `ping_interval`, else the server's `global` one, at
    /// most 30 s (nats-server `adjustPingInterval` for routes).
    pub fn route_ping_interval(&self, global: Duration) -> Duration {
        self.ping_interval
            .unwrap_or(global)
            .min(ROUTE_MAX_PING_INTERVAL)
    }

    /// The default host (`setBaselineOptions`), for a `--cluster` URL without one.
    pub(super) fn set_baseline(&mut self) {
        if self.host.is_empty() {
            self.host = HOST_DEFAULT.to_string();
        }
    }

    /// nats-server's startup checks of the cluster options (`validateCluster`).
    /// `system_account` and `no_system_account` decide which account nats-server pins on
    /// its own, which shows in the duplicate-account message. `gateway_name` is the
    /// gateway's `name` (empty without gateway): a cluster name must match it.
    pub(super) fn validate(
        &self,
        system_account: &str,
        no_system_account: bool,
        gateway_name: &str,
    ) -> Result<(), String> {
        if self.name.contains(' ') {
            return Err(NAME_HAS_SPACES.into());
        }
        if !self.compression.is_empty() {
            self.compression_mode()?;
        }
        if !gateway_name.is_empty() && !self.name.is_empty() && self.name != gateway_name {
            return Err(NAME_CONFLICTS_WITH_GATEWAY.into());
        }
        let pinned = self.pinned_with_system_account(system_account, no_system_account);
        if pinned.is_empty() {
            return Ok(());
        }
        if self.pool_size < 0 {
            return Err("pool_size cannot be negative if pinned accounts are specified".into());
        }
        for (i, account) in pinned.iter().enumerate() {
            if pinned[..i].contains(account) {
                let quoted: Vec<String> = pinned.iter().map(|a| go_quote(a)).collect();
                return Err(format!(
                    "found duplicate account name {} in pinned accounts list [{}]",
                    go_quote(account),
                    quoted.join(" ")
                ));
            }
        }
        Ok(())
    }

    /// The pinned accounts nats-server checks: the configured ones plus, when the cluster
    /// listens and pooling is on, the system account (`setBaselineOptions`).
    fn pinned_with_system_account(&self, system_account: &str, no_system: bool) -> Vec<String> {
        let mut pinned = self.pinned_accounts.clone();
        if self.port == 0 || self.pool_size < 0 {
            return pinned;
        }
        let system = match system_account {
            "" if !no_system => DEFAULT_SYSTEM_ACCOUNT,
            name => name,
        };
        if !system.is_empty() && !pinned.iter().any(|a| a == system) {
            pinned.push(system.to_string());
        }
        pinned
    }
}

/// A compression mode normalized as nats-server does (`validateAndNormalizeCompressionOption`):
/// one of `not supported`, `off`, `accept`, `s2_auto`, `s2_fast`, `s2_better`, `s2_best`.
/// `on`, `enabled` and `true` stand for `on_mode` (`s2_fast` for routes, `s2_auto` for leaf
/// nodes); `s2_auto` checks `rtts`.
///
/// # Errors
///
/// nats-server's text for an unknown mode (`unsupported compression mode "x"`) or for
/// unusable `s2_auto` RTT thresholds.
pub(super) fn normalize_compression(
    mode: &str,
    rtts: &[Duration],
    on_mode: &'static str,
) -> Result<&'static str, String> {
    let lower = mode.to_lowercase();
    let lower = match lower.as_str() {
        "on" | "enabled" | "true" => on_mode,
        other => other,
    };
    let normalized = match lower {
        "not supported" | "not_supported" => "not supported",
        "disabled" | "off" | "false" => "off",
        "accept" => "accept",
        "auto" | "s2_auto" => {
            check_rtt_thresholds(mode, rtts)?;
            "s2_auto"
        }
        "fast" | "s2_fast" => "s2_fast",
        "better" | "s2_better" => "s2_better",
        "best" | "s2_best" => "s2_best",
        _ => return Err(format!("unsupported compression mode {}", go_quote(mode))),
    };
    Ok(normalized)
}

/// `s2_auto`'s thresholds: ascending (zeros aside), at most 4 once trailing zeros are
/// dropped, and at least one when some are given. `mode` is the mode as configured, for the
/// messages.
fn check_rtt_thresholds(mode: &str, given: &[Duration]) -> Result<(), String> {
    if given.is_empty() {
        return Ok(());
    }
    let shown = || {
        let list: Vec<String> = given.iter().map(|d| go_duration_string(*d)).collect();
        format!("[{}]", list.join(" "))
    };
    for (i, rtt) in given.iter().enumerate() {
        if i > 0 && !rtt.is_zero() && given[..i].iter().any(|earlier| rtt < earlier) {
            return Err(format!(
                "RTT threshold values {} should be in ascending order",
                shown()
            ));
        }
    }
    let kept = given
        .iter()
        .rposition(|d| !d.is_zero())
        .map_or(0, |i| i + 1);
    let mode = go_quote(mode);
    if kept > MAX_RTT_THRESHOLDS {
        return Err(format!(
            "compression mode {mode} should have no more than 4 RTT thresholds: {}",
            shown()
        ));
    }
    if kept == 0 {
        return Err(format!(
            "compression mode {mode} requires at least one RTT threshold"
        ));
    }
    Ok(())
}

/// An explicit route: `nats-route://[user:pass@]host:port` (the scheme is not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    /// The URL as configured, without surrounding white space.
    pub raw: String,
    /// The user name from the URL (unescaped); empty if none.
    pub user: String,
    /// The password from the URL (unescaped); empty if none.
    pub password: String,
    /// The host, without the brackets of an IPv6 address.
    pub host: String,
    /// The port; 0 when the URL has none (or one above 65535): such a route can't be dialed,
    /// which nats-server too only finds out when it tries.
    pub port: u16,
}

impl RouteUrl {
    /// Parses a route URL as nats-server does (`parseURL`: Go's `url.Parse` of the trimmed
    /// text). Whatever Go accepts is accepted, including URLs without a port.
    ///
    /// # Errors
    ///
    /// nats-server's `error parsing route url ["<url>"]` when Go's `url.Parse` refuses it.
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        let raw = s.trim();
        let url = go_url_parse(raw)
            .map_err(|_| format!("error parsing route url [{}]", go_quote(raw)))?;
        let (host, port) = url_host_port(&url.host);
        Ok(RouteUrl {
            raw: raw.to_string(),
            host: host.to_string(),
            port: port.parse().unwrap_or(0),
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

// ---------------------------------------------------------------------------------------
// The config block (`parseCluster`).

/// A `cluster` block while it is read: the options and what is settled at its end.
struct Block {
    opts: ClusterOpts,
    /// `authorization.timeout`; zero when not set.
    auth_timeout: Duration,
    /// `authorization.permissions` (deprecated); the block's own `permissions` win.
    auth_permissions: Option<Permissions>,
}

/// The keys of `cluster.authorization` and `gateway.authorization` (`parseAuthorization`).
#[derive(Default)]
pub(super) struct RouteAuth {
    /// `user` / `username`.
    pub(super) user: String,
    /// `pass` / `password`.
    pub(super) password: String,
    /// `token`: refused by the caller when set.
    pub(super) token: String,
    /// `timeout`; zero when not set.
    pub(super) timeout: Duration,
    /// `users` was given (and parsed): refused by the caller.
    pub(super) users: bool,
    /// `auth_callout` / `auth_hook` was given: refused by the caller.
    pub(super) callout: bool,
    /// `permissions` and its aliases.
    pub(super) permissions: Option<Permissions>,
}

impl Options {
    /// `cluster { … }` (`parseCluster`). As in nats-server, each bad key is reported (in
    /// `report`) and the others are still read.
    pub(super) fn config_cluster(&mut self, v: &Value, report: &mut Report) -> Result<(), String> {
        let Some(entries) = v.as_map() else {
            return Err(format!(
                "{}: Expected map to define cluster, got {}",
                v.pos,
                v.go_type_name()
            ));
        };
        let mut block = Block {
            opts: ClusterOpts {
                host: String::new(),
                ..ClusterOpts::default()
            },
            auth_timeout: Duration::ZERO,
            auth_permissions: None,
        };
        for entry in entries {
            if let Err(message) = self.cluster_entry(&mut block, entry, report) {
                report.errors.push(message);
            }
        }
        let cluster = self.finish_cluster(block);
        self.cluster = Some(cluster);
        Ok(())
    }

    /// One key of the `cluster` block.
    fn cluster_entry(
        &mut self,
        block: &mut Block,
        entry: &Entry,
        report: &mut Report,
    ) -> Result<(), String> {
        let lower = entry.key.to_lowercase();
        if cluster_listener_key(&mut block.opts, entry, &lower, report)?
            || cluster_link_key(&mut block.opts, entry, &lower, report)?
        {
            return Ok(());
        }
        let v = &entry.value;
        match lower.as_str() {
            "authorization" => cluster_authorization(block, entry, report)?,
            "permissions" => block.opts.permissions = Some(route_permissions(v)?),
            "tls" => {
                let (mut tls, _) = crate::tls::config::parse_tls(v)?;
                tls.build().map_err(|e| format!("{}: {e}", v.pos))?;
                block.opts.tls = Some(tls);
            }
            _ if entry.used_as_variable => {}
            _ => return Err(unknown_field(entry)),
        }
        Ok(())
    }

    /// What is settled once the whole block is read: whether it gave a listen address, the
    /// default host and auth timeout, and which permissions apply.
    fn finish_cluster(&mut self, block: Block) -> ClusterOpts {
        let mut cluster = block.opts;
        cluster.listen_configured = !cluster.host.is_empty() || cluster.port != 0;
        cluster.set_baseline();
        cluster.auth_timeout = match (&cluster.tls, block.auth_timeout.is_zero()) {
            (_, false) => block.auth_timeout,
            (Some(tls), true) => tls.timeout().saturating_add(Duration::from_secs(1)),
            (None, true) => AUTH_TIMEOUT_DEFAULT,
        };
        if cluster.permissions.is_none() {
            cluster.permissions = block.auth_permissions.map(|p| Permissions {
                response: None,
                ..p
            });
        }
        cluster
    }
}

/// Listener, identity and route keys. `Ok(false)` if `lower` is none of them.
fn cluster_listener_key(
    c: &mut ClusterOpts,
    entry: &Entry,
    lower: &str,
    report: &mut Report,
) -> Result<bool, String> {
    let v = &entry.value;
    match lower {
        "name" => {
            let name = owned(v)?;
            if name.contains(' ') {
                return Err(format!("{}: {NAME_HAS_SPACES}", v.pos));
            }
            c.name = name;
        }
        "listen" => (c.host, c.port) = listen(v)?,
        "host" | "net" => c.host = owned(v)?,
        "port" => c.port = int(v)?,
        "advertise" | "cluster_advertise" => c.advertise = owned(v)?,
        "no_advertise" => c.no_advertise = boolean(v)?,
        "routes" => {
            if let Some(routes) = config_routes(v, report)? {
                c.routes = routes;
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Connection behaviour keys: retries, pooling, compression, pings, write deadline.
/// `Ok(false)` if `lower` is none of them.
fn cluster_link_key(
    c: &mut ClusterOpts,
    entry: &Entry,
    lower: &str,
    report: &mut Report,
) -> Result<bool, String> {
    let v = &entry.value;
    match lower {
        "connect_retries" => c.connect_retries = int(v)?,
        "connect_backoff" => c.connect_backoff = boolean(v)?,
        "pool_size" => c.pool_size = int(v)?,
        "accounts" => c.pinned_accounts = pinned_accounts(v)?,
        "compression" => config_compression(
            &mut c.compression,
            &mut c.compression_rtt_thresholds,
            "s2_fast",
            entry,
        )?,
        "ping_interval" => c.ping_interval = Some(config_ping_interval(v, report)?),
        "ping_max" => c.ping_max = Some(int(v)?),
        "write_deadline" => c.write_deadline = Some(duration("write_deadline", v, report)?),
        "write_timeout" => c.write_timeout = Some(write_timeout(v)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// `routes` (`parseURLs`): a list of URLs. A repeated URL is dropped with a warning; a bad
/// one is an error, and then the block's routes are left unset (`Ok(None)`).
fn config_routes(v: &Value, report: &mut Report) -> Result<Option<Vec<RouteUrl>>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| type_error(v, "[]interface {}"))?;
    let mut seen: Vec<&str> = Vec::new();
    let mut routes = Vec::new();
    let mut failed = false;
    for item in items {
        let text = string(item)?;
        if seen.contains(&text) {
            report.warnings.push(format!(
                "{}: invalid use of field {}: Duplicate route entry detected",
                item.pos,
                go_quote(text)
            ));
            continue;
        }
        seen.push(text);
        match RouteUrl::parse(text) {
            Ok(route) => routes.push(route),
            Err(message) => {
                report.errors.push(format!("{}: {message}", item.pos));
                failed = true;
            }
        }
    }
    Ok((!failed).then_some(routes))
}

/// `cluster.authorization`: a single user and password, and a timeout. Several users,
/// tokens and callouts are refused; permissions here are deprecated (a warning).
fn cluster_authorization(
    block: &mut Block,
    entry: &Entry,
    report: &mut Report,
) -> Result<(), String> {
    let v = &entry.value;
    let mut auth = RouteAuth::default();
    for e in map(v)? {
        route_auth_key(&mut auth, e, report)?;
    }
    let refuse = |why: &str| Err(format!("{}: Cluster authorization {why}", v.pos));
    if auth.users {
        return refuse("does not allow multiple users");
    }
    if !auth.token.is_empty() {
        return refuse("does not support tokens");
    }
    if auth.callout {
        return refuse("does not support callouts");
    }
    block.opts.user = auth.user;
    block.opts.password = auth.password;
    block.auth_timeout = auth.timeout;
    if let Some(permissions) = auth.permissions {
        check_route_permissions(&permissions).map_err(|e| format!("{}: {e}", v.pos))?;
        report.warnings.push(format!(
            "{}: invalid use of field {}: setting \"permissions\" within cluster authorization block is deprecated",
            v.pos,
            go_quote(&entry.key)
        ));
        block.auth_permissions = Some(permissions);
    }
    Ok(())
}

/// One key of `cluster.authorization` or `gateway.authorization`; an unknown one is
/// reported and skipped.
pub(super) fn route_auth_key(
    auth: &mut RouteAuth,
    e: &Entry,
    report: &mut Report,
) -> Result<(), String> {
    let v = &e.value;
    match e.key.to_lowercase().as_str() {
        "user" | "username" => auth.user = owned(v)?,
        "pass" | "password" => auth.password = owned(v)?,
        "token" => auth.token = owned(v)?,
        "timeout" => auth.timeout = auth_timeout(&e.key, v, report)?,
        "users" => {
            parse_users(v, "", None)?;
            auth.users = true;
        }
        "default_permission" | "default_permissions" | "permissions" => {
            auth.permissions = Some(parse_permissions(v)?);
        }
        "auth_callout" | "auth_hook" => auth.callout = true,
        "proxy_required" => {
            boolean(v)?;
        }
        _ if e.used_as_variable => {}
        _ => report.errors.push(unknown_field(e)),
    }
    Ok(())
}

/// `cluster.permissions`: `import`/`export` subjects, without `allow_responses`.
fn route_permissions(v: &Value) -> Result<Permissions, String> {
    let permissions = parse_permissions(v)?;
    if permissions.response.is_some() {
        return Err(format!(
            "{}: Cluster permissions do not support dynamic responses",
            v.pos
        ));
    }
    check_route_permissions(&permissions).map_err(|e| format!("{}: {e}", v.pos))?;
    Ok(permissions)
}

/// Route permission subjects are plain subjects, without queue groups
/// (`checkClusterPermissionSubjects`).
fn check_route_permissions(permissions: &Permissions) -> Result<(), String> {
    let sides = [
        ("import", &permissions.publish),
        ("export", &permissions.subscribe),
    ];
    for (side, permission) in sides {
        let Some(permission) = permission else {
            continue;
        };
        for (kind, list) in [("allow", &permission.allow), ("deny", &permission.deny)] {
            for subject in list.iter().flatten() {
                if !protocol::subject::is_valid_subject(subject.as_bytes()) {
                    return Err(format!(
                        "cluster {side} {kind}: subject {} is not a valid subject",
                        go_quote(subject)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `accounts`: a string or a list of strings (`parseStringArray`).
fn pinned_accounts(v: &Value) -> Result<Vec<String>, String> {
    match &v.kind {
        ValueKind::Str(account) => Ok(vec![account.clone()]),
        ValueKind::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "{}: error parsing accounts: unsupported type in array {}",
                        item.pos,
                        item.go_type_name()
                    )
                })
            })
            .collect(),
        _ => Err(format!(
            "{}: error parsing accounts: unsupported type {}",
            v.pos,
            v.go_type_name()
        )),
    }
}

/// `compression` (`parseCompression`): a mode string, a boolean (`true` = `on_mode`) or
/// `{mode, rtt_thresholds}`, into `mode` and `rtts`. The mode is checked at startup.
pub(super) fn config_compression(
    mode: &mut String,
    rtts: &mut Vec<Duration>,
    on_mode: &str,
    entry: &Entry,
) -> Result<(), String> {
    let v = &entry.value;
    match &v.kind {
        ValueKind::Str(configured) => *mode = configured.clone(),
        ValueKind::Bool(on) => *mode = String::from(if *on { on_mode } else { "off" }),
        ValueKind::Map(entries) => {
            for e in entries {
                compression_key(mode, rtts, e)?;
            }
        }
        _ => {
            return Err(format!(
                "{}: field {} should be a boolean or a structure, got {}",
                v.pos,
                go_quote(&entry.key),
                v.go_type_name()
            ))
        }
    }
    Ok(())
}

/// One key of the map form of `compression`.
fn compression_key(mode: &mut String, rtts: &mut Vec<Duration>, e: &Entry) -> Result<(), String> {
    let v = &e.value;
    match e.key.to_lowercase().as_str() {
        "mode" => *mode = owned(v)?,
        "rtt_thresholds" | "thresholds" | "rtts" | "rtt" => {
            let items = v
                .as_array()
                .ok_or_else(|| type_error(v, "[]interface {}"))?;
            for item in items {
                let nanos =
                    parse_go_duration(string(item)?).map_err(|why| format!("{}: {why}", v.pos))?;
                let rtt = Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
                rtts.push(rtt);
            }
        }
        _ if e.used_as_variable => {}
        _ => return Err(unknown_field(e)),
    }
    Ok(())
}

/// `cluster.ping_interval`: a duration, capped at 30 s with nats-server's warning.
fn config_ping_interval(v: &Value, report: &mut Report) -> Result<Duration, String> {
    let interval = duration("ping_interval", v, report)?;
    if interval <= ROUTE_MAX_PING_INTERVAL {
        return Ok(interval);
    }
    report.warnings.push(format!(
        "{}: Cluster 'ping_interval' will reset to {} which is the max for routes",
        v.pos,
        go_duration_string(ROUTE_MAX_PING_INTERVAL)
    ));
    Ok(ROUTE_MAX_PING_INTERVAL)
}

// ---------------------------------------------------------------------------------------
// The flags (`overrideCluster`, `RoutesFromStr`).

/// What `--cluster <url>` sets.
pub(super) struct ListenUrl {
    /// Listener host; empty for the default.
    pub(super) host: String,
    /// Listener port; [`RANDOM_PORT`] for `:-1`.
    pub(super) port: i64,
    /// The URL's user; empty if none.
    pub(super) user: String,
    /// The URL's password; empty if none.
    pub(super) password: String,
}

/// Parses a `--cluster` URL as `overrideCluster` does: `scheme://[user:pass@]host:port`,
/// where port `-1` means random. Errors are nats-server's texts (Go's `url.Parse`,
/// `net.SplitHostPort` and `fmt.Sscan` errors, `expected cluster password to be set`).
pub(super) fn listen_url(url: &str) -> Result<ListenUrl, String> {
    // Go's url.Parse refuses ":-1", so nats-server parses ":0" and puts -1 back.
    let random = url.strip_suffix(":-1");
    let text = random.map_or_else(|| url.to_string(), |base| format!("{base}:0"));
    let parsed = go_url_parse(&text)?;
    let (host, port) = go_split_host_port(&parsed.host)?;
    let port = match random {
        Some(_) => RANDOM_PORT,
        None => scan_port(&port)?,
    };
    if parsed.has_user && parsed.password.is_none() {
        return Err("expected cluster password to be set".into());
    }
    Ok(ListenUrl {
        host,
        port,
        user: parsed.user,
        password: parsed.password.unwrap_or_default(),
    })
}

/// `fmt.Sscan` of a port that `url.Parse` already found to be digits.
fn scan_port(port: &str) -> Result<i64, String> {
    if port.is_empty() {
        return Err("EOF".into());
    }
    port.parse().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(port)
        )
    })
}

/// `--routes a,b` (`RoutesFromStr`): comma-separated route URLs, blank entries skipped.
/// Unlike nats-server, which keeps a URL it can't parse as a nil route, a bad URL is an
/// error.
pub(super) fn routes_from_flag(list: &str) -> Result<Vec<RouteUrl>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|route| !route.is_empty())
        .map(RouteUrl::parse)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Go's `net/url.Parse` (Go 1.25 and later, as in the nats-server 2.15.1 binary), for what
// route, cluster and leaf node URLs need: whether a URL is accepted, with Go's error text, and
// its scheme, user info and host.

/// What Go's `url.Parse` finds in a URL, for the parts route and leaf URLs use.
#[derive(Default)]
pub(super) struct GoUrl {
    /// `u.Scheme`, lower-cased.
    pub(super) scheme: String,
    /// The URL has user info (`u.User != nil`).
    pub(super) has_user: bool,
    /// `u.User.Username()`, unescaped.
    pub(super) user: String,
    /// `u.User.Password()`, unescaped; `None` without a `:` in the user info.
    pub(super) password: Option<String>,
    /// `u.Host`: `host[:port]`, unescaped, an IPv6 address in brackets.
    pub(super) host: String,
    /// The URL has an authority (`scheme://…`); false for an opaque URL such as `nats:h:1`.
    pub(super) authority: bool,
    /// What follows the authority (path, query, fragment) as written; for a URL without
    /// authority, all that follows `scheme:`.
    pub(super) tail: String,
}

/// How `unescape` treats a part of the URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// The host: only host characters, `%XX` only for non-ASCII bytes and `%25`.
    Host,
    /// An IPv6 zone (after `%25`): `%XX` only for host characters and spaces.
    Zone,
    /// Path, fragment, user and password: any `%XX`.
    Other,
}

/// Go's `url.Parse`; the error is the text of Go's `*url.Error`: `parse "<url>": <reason>`.
pub(super) fn go_url_parse(raw: &str) -> Result<GoUrl, String> {
    let (before, fragment) = match raw.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (raw, None),
    };
    let mut url =
        url_without_fragment(before).map_err(|why| format!("parse {}: {why}", go_quote(before)))?;
    if let Some(fragment) = fragment {
        unescape(fragment, Escape::Other)
            .map_err(|why| format!("parse {}: {why}", go_quote(raw)))?;
        url.tail.push('#');
        url.tail.push_str(fragment);
    }
    Ok(url)
}

/// Go's `url.parse(raw, false)`: the scheme, an authority after `//`, then the path.
fn url_without_fragment(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        return Ok(url);
    }
    let (scheme, rest) = url_scheme(raw)?;
    let scheme = scheme.to_ascii_lowercase();
    url.scheme = scheme.clone();
    let written = rest;
    let rest = match rest.strip_suffix('?') {
        Some(without) if !without.contains('?') => without,
        _ => rest.split_once('?').map_or(rest, |(before, _)| before),
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // An opaque URL such as `nats:host:4222`: no host.
            url.tail = written.to_string();
            return Ok(url);
        }
        let segment = rest.split_once('/').map_or(rest, |(first, _)| first);
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    let authority = rest
        .strip_prefix("//")
        .filter(|_| !scheme.is_empty() || !rest.starts_with("///"));
    if let Some(after) = authority {
        let (authority, tail) = match after.find('/') {
            Some(i) => after.split_at(i),
            None => (after, ""),
        };
        parse_authority(&scheme, authority, &mut url)?;
        url.authority = true;
        url.tail = written[2 + authority.len()..].to_string();
        path = tail;
    } else {
        url.tail = written.to_string();
    }
    unescape(path, Escape::Other)?;
    Ok(url)
}

/// Go's `getScheme`: the letters (then also digits, `+`, `-`, `.`) before the first `:`.
fn url_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority`: `[userinfo@]host`, the user info split at its first `:`.
fn parse_authority(scheme: &str, authority: &str, url: &mut GoUrl) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    url.host = parse_host(scheme, host)?;
    let Some(userinfo) = userinfo else {
        return Ok(());
    };
    let valid = userinfo
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    url.has_user = true;
    match userinfo.split_once(':') {
        Some((user, password)) => {
            url.user = unescape(user, Escape::Other)?;
            url.password = Some(unescape(password, Escape::Other)?);
        }
        None => url.user = unescape(userinfo, Escape::Other)?,
    }
    Ok(())
}

/// Go's `parseHost`: an IP literal in brackets, or a name with an optional numeric port.
fn parse_host(scheme: &str, host: &str) -> Result<String, String> {
    match host.rfind('[') {
        Some(0) => return parse_ip_literal(host),
        Some(_) => return Err("invalid IP-literal".into()),
        None => {}
    }
    if let (Some(first), Some(last)) = (host.find(':'), host.rfind(':')) {
        // Go lets other schemes than http(s) have colons in the host (host lists).
        let strict = scheme == "http" || scheme == "https";
        let at = if last != first && !strict {
            last
        } else {
            first
        };
        check_url_port(&host[at..])?;
    }
    unescape(host, Escape::Host)
}

/// `[address[%25zone]][:port]`: the address must be IPv6 (Go 1.25's `netip.ParseAddr` check).
fn parse_ip_literal(host: &str) -> Result<String, String> {
    let Some(close) = host.rfind(']') else {
        return Err("missing ']' in host".into());
    };
    let colon_port = &host[close + 1..];
    check_url_port(colon_port)?;
    let port = unescape(colon_port, Escape::Host)?;
    let name = &host[1..close];
    let address = match name.find("%25") {
        Some(zone) => {
            unescape(&name[..zone], Escape::Host)? + &unescape(&name[zone..], Escape::Zone)?
        }
        None => unescape(name, Escape::Host)?,
    };
    check_ipv6(&address)?;
    Ok(format!("[{address}]{port}"))
}

/// A bracketed host must be an IPv6 address, with an optional non-empty zone.
fn check_ipv6(address: &str) -> Result<(), String> {
    let parse_error = |why: &str| format!("invalid host: ParseAddr({}): {why}", go_quote(address));
    if address.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("invalid IP-literal".into());
    }
    let (ip, zone) = match address.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (address, None),
    };
    if zone == Some("") {
        return Err(parse_error("zone must be a non-empty string"));
    }
    if ip.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(parse_error("unable to parse IP"));
    }
    Ok(())
}

/// Go's `validOptionalPort` as an error: `:` and digits, or nothing.
fn check_url_port(colon_port: &str) -> Result<(), String> {
    if valid_optional_port(colon_port) {
        return Ok(());
    }
    Err(format!("invalid port {} after host", go_quote(colon_port)))
}

/// Go's `validOptionalPort`: empty, or `:` followed by digits only.
fn valid_optional_port(colon_port: &str) -> bool {
    colon_port.is_empty()
        || colon_port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `URL.Hostname` and `URL.Port`: the host without brackets, and the port if numeric.
pub(super) fn url_host_port(host_port: &str) -> (&str, &str) {
    let (mut host, mut port) = (host_port, "");
    if let Some(colon) = host_port.rfind(':') {
        if valid_optional_port(&host_port[colon..]) {
            (host, port) = (&host_port[..colon], &host_port[colon + 1..]);
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        host = inner;
    }
    (host, port)
}

/// Go's `unescape`: `%XX` sequences decoded. In a host, only host characters may appear and
/// only non-ASCII bytes (and `%25`) may be escaped.
fn unescape(s: &str, mode: Escape) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            out.push(percent_escape(bytes, i, mode)?);
            i += 3;
            continue;
        }
        if mode != Escape::Other && c < 0x80 && !is_host_char(c) {
            let shown = go_quote(&char::from(c).to_string());
            return Err(format!("invalid character {shown} in host name"));
        }
        out.push(c);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The `%XX` at `i`, decoded; Go's `EscapeError` for a malformed or forbidden one.
fn percent_escape(bytes: &[u8], i: usize, mode: Escape) -> Result<u8, String> {
    let sequence = &bytes[i..bytes.len().min(i + 3)];
    let error = || {
        let shown = go_quote(&String::from_utf8_lossy(sequence));
        format!("invalid URL escape {shown}")
    };
    let digit = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
    let (Some(high), Some(low)) = (digit(i + 1), digit(i + 2)) else {
        return Err(error());
    };
    let value = u8::try_from((high << 4) | low).map_err(|_| error())?;
    let is_percent = sequence == b"%25";
    let forbidden = match mode {
        Escape::Host => high < 8 && !is_percent,
        Escape::Zone => !is_percent && value != b' ' && !is_host_char(value),
        Escape::Other => false,
    };
    if forbidden {
        return Err(error());
    }
    Ok(value)
}

/// Bytes Go leaves unescaped in a host (`shouldEscape(c, encodeHost)` is false).
fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

#[cfg(test)]
mod tests;
