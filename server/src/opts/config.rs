//! The config-file keys: what each top-level key (and the `authorization` block) sets, with
//! nats-server's aliases, value types, warnings and error texts. The `cluster`, `gateway` and
//! `leafnodes` blocks are read in `cluster.rs`, `gateway.rs` and `leaf.rs`, with the value
//! helpers of this file.
//!
//! Mirrors `ProcessConfigFile` / `processConfigFileLine` and their value parsers
//! (`parseListen`, `parseAuthorization`, the resolver forms, …) in nats-server's
//! `server/opts.go`. [`Options::from_config`] applies every key of a parsed file and reports
//! all the problems together; defaults and flags come after (see the parent module and
//! `flags.rs`).

use std::path::Path;
use std::time::Duration;

use crate::conf::{Entry, Map, Value, ValueKind};
use crate::gofmt::{
    go_float, go_nanos_string, go_quote, go_split_host_port, parse_go_duration, positive_duration,
    NANOS_PER_SEC,
};

use super::{
    Authorization, Error, Options, WriteTimeout, AUTH_TIMEOUT_WARN_SECS, LAME_DUCK_DURATION_MIN,
};

/// Top-level keys that nats-server accepts and Gannet does not implement
/// yet. Their values are not checked.
const NOT_IMPLEMENTED_KEYS: &[&str] = &[
    "mappings",
    "maps",
    "jetstream",
    "ocsp",
    "ocsp_cache",
    "resolver_pinned_accounts",
    "mqtt",
    "default_js_domain",
    "proxies",
];

/// Warnings and errors collected while reading the config file.
#[derive(Default)]
pub(super) struct Report {
    /// `file:line:col: …` warnings, in the order found.
    pub(super) warnings: Vec<String>,
    /// `file:line:col: …` errors, in the order found.
    pub(super) errors: Vec<String>,
}

impl Options {
    /// Builds options from a parsed config file, with defaults for what it
    /// doesn't set. `path` is the file, used for the empty-config warning.
    ///
    /// Returns the options and the warnings (for instance an integer
    /// `ping_interval`). Startup checks that involve several keys run in
    /// [`Options::apply_flags`] / [`Options::validate`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with every problem found, each as
    /// `file:line:col: reason`.
    pub fn from_config(map: &Map, path: Option<&Path>) -> Result<(Options, Vec<String>), Error> {
        let mut opts = Options::unset();
        opts.config_file = path.map(|p| p.display().to_string()).unwrap_or_default();
        let mut report = Report::default();
        if map.is_empty() {
            let file = path.map(|p| p.display().to_string()).unwrap_or_default();
            report
                .warnings
                .push(format!("{file}: config has no values or is empty"));
        }
        for entry in map {
            if let Err(message) = opts.config_entry(entry, &mut report) {
                report.errors.push(message);
            }
        }
        if !report.errors.is_empty() {
            return Err(Error::Config {
                warnings: report.warnings,
                errors: report.errors,
            });
        }
        opts.set_baseline();
        Ok((opts, report.warnings))
    }

    /// Applies one top-level key (`processConfigFileLine`). Each group below handles its own
    /// keys and says whether the key was one of them; what is left is accepted without being
    /// implemented, or unknown.
    fn config_entry(&mut self, entry: &Entry, report: &mut Report) -> Result<(), String> {
        let lower = entry.key.to_lowercase();
        let handled = self.config_network(entry, &lower)?
            || self.config_identity(entry, &lower)?
            || self.config_logging(entry, &lower)?
            || self.config_limits(entry, &lower, report)?
            || self.config_auth(entry, &lower, report)?
            || self.config_links(entry, &lower, report)?;
        if !handled {
            self.config_other(entry, &lower)?;
        }
        Ok(())
    }

    /// Listeners and TLS: `listen`, `host`, `port`, `client_advertise`, the monitoring port
    /// keys, `tls` and `allow_non_tls`. `Ok(false)` if `lower` is none of them.
    fn config_network(&mut self, entry: &Entry, lower: &str) -> Result<bool, String> {
        let v = &entry.value;
        match lower {
            "listen" => (self.host, self.port) = listen(v)?,
            "host" | "net" => self.host = owned(v)?,
            "port" => self.port = int(v)?,
            "client_advertise" => self.client_advertise = owned(v)?,
            "http" => (self.http_host_configured, self.http_port) = listen(v)?,
            "https" => (self.http_host_configured, self.https_port) = listen(v)?,
            "http_port" | "monitor_port" => self.http_port = int(v)?,
            "https_port" => self.https_port = int(v)?,
            "http_base_path" => self.http_base_path = owned(v)?,
            "tls" => self.config_tls(v)?,
            "allow_non_tls" => self.allow_non_tls = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Server-to-server links: `cluster` (in `cluster.rs`), `gateway` (in `gateway.rs`) and
    /// `leafnodes`/`leaf` (in `leaf.rs`). `Ok(false)` for any other key.
    fn config_links(
        &mut self,
        entry: &Entry,
        lower: &str,
        report: &mut Report,
    ) -> Result<bool, String> {
        match lower {
            "cluster" => self.config_cluster(&entry.value, report)?,
            "gateway" => self.config_gateway(&entry.value, report)?,
            "leafnodes" | "leaf" => self.config_leafnodes(&entry.value, report)?,
            "websocket" | "ws" => self.config_websocket(&entry.value, report)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `feature_flags { name: bool }` (nats-server `opts.go`): every value a bool.
    fn config_feature_flags(&mut self, v: &Value) -> Result<(), String> {
        let ValueKind::Map(entries) = &v.kind else {
            return Err(format!(
                "{}: error parsing feature flags: unsupported type {}",
                v.pos,
                v.go_type_name()
            ));
        };
        for e in entries.iter() {
            let Some(b) = e.value.as_bool() else {
                return Err(format!(
                    "{}: error parsing feature flag {}: expected bool, got {}",
                    e.value.pos,
                    crate::gofmt::go_quote(&e.key),
                    e.value.go_type_name()
                ));
            };
            self.feature_flags_configured.insert(e.key.clone(), b);
        }
        Ok(())
    }

    /// What the server says about itself: `server_name`, `server_tags`, `server_metadata`.
    /// `Ok(false)` if `lower` is none of them.
    fn config_identity(&mut self, entry: &Entry, lower: &str) -> Result<bool, String> {
        let v = &entry.value;
        match lower {
            "server_name" => self.server_name = server_name(v)?,
            "server_tags" => self.config_server_tags(v)?,
            "feature_flags" => self.config_feature_flags(v)?,
            "server_metadata" => {
                let ValueKind::Map(entries) = &v.kind else {
                    return Err(format!(
                        "{}: error parsing metadata: unsupported type",
                        v.pos
                    ));
                };
                for e in entries.iter() {
                    self.server_metadata.insert(e.key.clone(), owned(&e.value)?);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Logging and the files the server writes: `debug`, `trace*`, `logtime*`, `log_file`
    /// and its rotation, `syslog`, `pid_file`, `ports_file_dir`, `max_traced_msg_len`.
    /// `Ok(false)` if `lower` is none of them.
    fn config_logging(&mut self, entry: &Entry, lower: &str) -> Result<bool, String> {
        let v = &entry.value;
        match lower {
            "debug" => self.debug = boolean(v)?,
            "trace" => self.trace = boolean(v)?,
            "trace_verbose" => {
                self.trace_verbose = boolean(v)?;
                self.trace = self.trace_verbose;
            }
            "trace_headers" => {
                self.trace_headers = boolean(v)?;
                self.trace = self.trace_headers;
            }
            "logtime" => self.logtime = boolean(v)?,
            "logtime_utc" => self.logtime_utc = boolean(v)?,
            "logfile" | "log_file" => self.log_file = owned(v)?,
            "logfile_size_limit" | "log_size_limit" => self.log_size_limit = int(v)?,
            "logfile_max_num" | "log_max_num" => self.log_max_num = int(v)?,
            "syslog" => self.syslog = boolean(v)?,
            "remote_syslog" => self.remote_syslog = owned(v)?,
            "pidfile" | "pid_file" => self.pid_file = owned(v)?,
            "ports_file_dir" => self.ports_file_dir = owned(v)?,
            "max_traced_msg_len" => self.max_traced_msg_len = int(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Protocol limits, timers and switches: `max_*`, `ping_*`, `write_*`, `lame_duck_*`,
    /// `workers`, `no_header_support`, `disable_sublist_cache`. `Ok(false)` if `lower` is
    /// none of them.
    fn config_limits(
        &mut self,
        entry: &Entry,
        lower: &str,
        report: &mut Report,
    ) -> Result<bool, String> {
        let (key, v) = (entry.key.as_str(), &entry.value);
        match lower {
            "disable_sublist_cache" | "no_sublist_cache" => {
                self.disable_sublist_cache = boolean(v)?;
            }
            "no_header_support" => self.no_header_support = boolean(v)?,
            "max_control_line" => self.max_control_line = int32_size(key, v)?,
            "max_payload" => self.max_payload = int32_size(key, v)?,
            "max_pending" => self.max_pending = int(v)?,
            "max_connections" | "max_conn" => self.max_connections = max_connections(v)?,
            "max_subscriptions" | "max_subs" => self.max_subscriptions = int(v)?,
            "max_sub_tokens" | "max_subscription_tokens" => {
                self.max_sub_tokens = max_sub_tokens(key, v)?;
            }
            "max_closed_clients" => self.max_closed_clients = int(v)?,
            "ping_interval" => self.ping_interval = duration("ping_interval", v, report)?,
            "ping_max" => self.ping_max = int(v)?,
            "write_deadline" => self.write_deadline = duration("write_deadline", v, report)?,
            "write_timeout" => self.write_timeout = write_timeout(v)?,
            "lame_duck_duration" => self.lame_duck_duration = lame_duck_duration(v)?,
            "lame_duck_grace_period" => self.lame_duck_grace_period = lame_duck_grace(v)?,
            "workers" => self.workers = workers(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Authentication: `authorization`, `no_auth_user`, `accounts`, and operator mode
    /// (`operator`, `trusted`, `resolver*`). `Ok(false)` if `lower` is none of them.
    fn config_auth(
        &mut self,
        entry: &Entry,
        lower: &str,
        report: &mut Report,
    ) -> Result<bool, String> {
        let v = &entry.value;
        match lower {
            "authorization" => self.config_authorization(v, report)?,
            "no_auth_user" => self.no_auth_user = owned(v)?,
            "accounts" => {
                let (accounts, users) = crate::auth::config::parse_accounts(v)?;
                self.accounts = accounts;
                self.users.extend(users);
            }
            "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
                self.config_operators(v)?;
            }
            "trusted" | "trusted_keys" => self.config_trusted_keys(v)?,
            "resolver" | "account_resolver" | "accounts_resolver" => {
                self.resolver = Some(resolver(v)?);
            }
            "resolver_tls" => {
                let (tls, _) = crate::tls::config::parse_tls(v)?;
                crate::tls::config::resolver_client_config(&tls)
                    .map_err(|e| format!("{}: {e}", v.pos))?;
                self.resolver_tls = Some(tls);
            }
            "resolver_preload" => self.config_resolver_preload(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `server_tags`: a string or a list, lower-cased, trimmed, without empty or repeated
    /// tags.
    fn config_server_tags(&mut self, v: &Value) -> Result<(), String> {
        let items = match &v.kind {
            ValueKind::Array(items) => items.iter().collect(),
            _ => vec![v],
        };
        for item in items {
            let ValueKind::Str(tag) = &item.kind else {
                return Err(format!(
                    "{}: error parsing tags: unsupported type where string is expected",
                    item.pos
                ));
            };
            let tag = tag.trim().to_lowercase();
            if !tag.is_empty() && !self.server_tags.contains(&tag) {
                self.server_tags.push(tag);
            }
        }
        Ok(())
    }

    /// `operator` and its aliases: operator JWTs, or files holding them.
    fn config_operators(&mut self, v: &Value) -> Result<(), String> {
        for item in string_items(v)? {
            self.operators.push(
                operator_token(&item)
                    .map_err(|e| format!("{}: error parsing operator JWT: {e}", v.pos))?,
            );
        }
        Ok(())
    }

    /// `trusted` / `trusted_keys`: operator public nkeys.
    fn config_trusted_keys(&mut self, v: &Value) -> Result<(), String> {
        for key in string_items(v)? {
            if !crate::auth::config::is_public_nkey(&key, b'O') {
                return Err(format!(
                    "{}: trusted Keys {} are required to be a valid public operator nkey",
                    v.pos,
                    go_quote(&key)
                ));
            }
            self.trusted_keys.push(key);
        }
        Ok(())
    }

    /// `resolver_preload`: a map of account public key to account JWT.
    fn config_resolver_preload(&mut self, v: &Value) -> Result<(), String> {
        let ValueKind::Map(entries) = &v.kind else {
            return Err(format!(
                "{}: preload should be a map of account_public_key:account_jwt",
                v.pos
            ));
        };
        for e in entries.iter() {
            let ValueKind::Str(token) = &e.value.kind else {
                return Err(format!(
                    "{}: preload map value should be a string JWT",
                    e.value.pos
                ));
            };
            if crate::jwt::decode::<crate::jwt::Account>(token).is_err() {
                return Err(format!("{}: invalid account JWT", e.value.pos));
            }
            self.resolver_preload.insert(e.key.clone(), token.clone());
        }
        Ok(())
    }

    /// Keys Gannet accepts without implementing them, and unknown keys.
    fn config_other(&mut self, entry: &Entry, lower: &str) -> Result<(), String> {
        let v = &entry.value;
        match lower {
            "no_system_account" | "no_system" | "no_sys_acc" => {
                self.no_system_account = boolean(v)?;
                return Ok(());
            }
            "no_fast_producer_stall" => {
                self.no_fast_producer_stall = boolean(v)?;
                return Ok(());
            }
            "proxy_protocol" => {
                boolean(v)?;
            }
            "prof_port"
            | "prof_block_rate"
            | "connect_error_reports"
            | "reconnect_error_reports" => {
                int(v)?;
            }
            "default_sentinel" | "store_dir" | "storedir" => {
                string(v)?;
            }
            "system_account" | "system" => {
                // nats-server checks these two exact spellings only.
                if matches!(entry.key.as_str(), "system_account" | "system") && v.as_str().is_none()
                {
                    return Err(format!("{}: system account name must be a string", v.pos));
                }
                self.system_account = v.as_str().unwrap_or_default().to_string();
                return Ok(());
            }
            _ if NOT_IMPLEMENTED_KEYS.contains(&lower) => {}
            _ if entry.used_as_variable => return Ok(()),
            _ => return Err(unknown_field(entry)),
        }
        self.not_implemented(lower);
        Ok(())
    }

    /// `authorization { … }` (`parseAuthorization` plus the checks done by
    /// its caller).
    fn config_authorization(&mut self, v: &Value, report: &mut Report) -> Result<(), String> {
        let map = map(v)?;
        let mut auth = Authorization::default();
        let mut timeout = Duration::ZERO;
        let mut has_users = false;
        for entry in map {
            let mv = &entry.value;
            match entry.key.to_lowercase().as_str() {
                "user" | "username" => auth.user = owned(mv)?,
                "pass" | "password" => auth.password = owned(mv)?,
                "token" => auth.token = owned(mv)?,
                "timeout" => timeout = auth_timeout(&entry.key, mv, report)?,
                "certificate_clients" => {
                    auth.certificate_clients = crate::auth::config::parse_certificate_clients(mv)?
                }
                "users" => {
                    has_users = true;
                    let defaults = block_default_permissions(map)?;
                    let users = crate::auth::config::parse_users(mv, "", defaults.as_ref())?;
                    self.users.splice(0..0, users);
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    crate::auth::config::parse_permissions(mv)?;
                }
                "auth_callout" | "auth_hook" => self.not_implemented("authorization.auth_callout"),
                "proxy_required" => {
                    boolean(mv)?;
                    self.not_implemented("authorization.proxy_required");
                }
                _ if entry.used_as_variable => {}
                _ => report.errors.push(unknown_field(entry)),
            }
        }
        let has_token = !auth.token.is_empty();
        if (!auth.user.is_empty() || !auth.password.is_empty()) && has_token {
            return Err(format!("{}: Cannot have a user/pass and token", v.pos));
        }
        if has_users && !auth.user.is_empty() {
            return Err(format!(
                "{}: Can not have a single user/pass and a users array",
                v.pos
            ));
        }
        if has_users && has_token {
            return Err(format!("{}: Can not have a token and a users array", v.pos));
        }
        self.authorization = auth;
        self.auth_block_defined = true;
        self.auth_timeout_configured = timeout;
        Ok(())
    }

    /// `tls { … }`: parsed (`parseTLS`) and its files loaded (`GenTLSConfig`), so a bad
    /// certificate is a config error at the block's position.
    fn config_tls(&mut self, v: &Value) -> Result<(), String> {
        let (mut tls, ignored) = crate::tls::config::parse_tls(v)?;
        tls.build().map_err(|e| format!("{}: {e}", v.pos))?;
        for key in ignored {
            self.not_implemented(&key);
        }
        self.tls = Some(tls);
        Ok(())
    }
}

/// The `default_permissions` of an `authorization` block, wherever it appears in the block.
fn block_default_permissions(
    block: &Map,
) -> Result<Option<crate::auth::config::Permissions>, String> {
    for e in block.iter() {
        if matches!(
            e.key.to_lowercase().as_str(),
            "default_permission" | "default_permissions" | "permissions"
        ) {
            return crate::auth::config::parse_permissions(&e.value).map(Some);
        }
    }
    Ok(None)
}

/// `file:line:col: unknown field "x"`.
pub(super) fn unknown_field(entry: &Entry) -> String {
    format!(
        "{}: unknown field {}",
        entry.value.pos,
        go_quote(&entry.key)
    )
}

/// The error nats-server reports when a value has the wrong type: its Go
/// type assertion panics, and the panic becomes the error.
pub(super) fn type_error(v: &Value, want: &str) -> String {
    format!(
        "{}: interface conversion: interface {{}} is {}, not {want}",
        v.pos,
        v.go_type_name()
    )
}

pub(super) fn int(v: &Value) -> Result<i64, String> {
    v.as_int().ok_or_else(|| type_error(v, "int64"))
}

pub(super) fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| type_error(v, "bool"))
}

pub(super) fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| type_error(v, "string"))
}

pub(super) fn owned(v: &Value) -> Result<String, String> {
    string(v).map(str::to_string)
}

pub(super) fn map(v: &Value) -> Result<&Map, String> {
    v.as_map()
        .ok_or_else(|| type_error(v, "map[string]interface {}"))
}

fn server_name(v: &Value) -> Result<String, String> {
    let name = owned(v)?;
    if name.contains(' ') {
        return Err(format!("{}: server name cannot contain spaces", v.pos));
    }
    Ok(name)
}

/// A string or a list of strings.
fn string_items(v: &Value) -> Result<Vec<String>, String> {
    match &v.kind {
        ValueKind::Str(s) => Ok(vec![s.clone()]),
        ValueKind::Array(items) => items.iter().map(owned).collect(),
        _ => Err(format!(
            "{}: interface conversion: interface {{}} is {}, not string",
            v.pos,
            v.go_type_name()
        )),
    }
}

/// An `operator` entry: a file holding the (possibly decorated) JWT, or the JWT itself.
fn operator_token(item: &str) -> Result<String, String> {
    let token = match std::fs::read_to_string(item) {
        Ok(text) => crate::jwt::undecorate(&text),
        Err(_) if item.starts_with("eyJ") => item.to_string(),
        Err(e) => return Err(format!("open {item}: {e}")),
    };
    let claims: crate::jwt::Claims<crate::jwt::Operator> = crate::jwt::decode(&token)?;
    if claims.nats.kind != "operator" {
        return Err(format!(
            "not an operator JWT (type {})",
            go_quote(&claims.nats.kind)
        ));
    }
    Ok(token)
}

/// `resolver`: `MEMORY`/`MEM`, `URL(<base>)`, or a map (`{type: mem}`, or the NATS-based
/// `{type: full|cache, dir, …}`).
fn resolver(v: &Value) -> Result<crate::auth::config::ResolverConfig, String> {
    use crate::auth::config::ResolverConfig;
    let bad = || {
        format!(
            "{}: error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])",
            v.pos
        )
    };
    match &v.kind {
        ValueKind::Str(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("mem") || t.eq_ignore_ascii_case("memory") {
                return Ok(ResolverConfig::Memory);
            }
            let upper = t.to_uppercase();
            if upper.starts_with("URL(") && t.ends_with(')') {
                let url = t[4..t.len() - 1].trim().trim_matches('"').to_string();
                let url = if url.ends_with('/') {
                    url
                } else {
                    format!("{url}/")
                };
                return Ok(ResolverConfig::Url(url));
            }
            Err(bad())
        }
        ValueKind::Map(entries) => {
            let kind = entries
                .iter()
                .find(|e| e.key.eq_ignore_ascii_case("type"))
                .and_then(|e| e.value.as_str().map(str::to_lowercase));
            match kind.as_deref() {
                Some("mem" | "memory") => Ok(ResolverConfig::Memory),
                Some(t @ ("full" | "cache")) => dir_resolver(t == "cache", entries)
                    .map(ResolverConfig::Dir)
                    .map_err(|e| format!("{}: {e}", v.pos)),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// The map form of a NATS-based resolver, with nats-server's checks (`resolver` in
/// opts.go): `dir` is created if missing; `cache` takes `ttl`, `full` takes `interval`,
/// `allow_delete` and `hard_delete`.
fn dir_resolver(cache: bool, entries: &Map) -> Result<crate::auth::dirstore::DirConfig, String> {
    use crate::auth::dirstore as store;
    let get = |key: &str| entries.iter().find(|e| e.key.eq_ignore_ascii_case(key));
    let text = |key: &str| get(key).and_then(|e| e.value.as_str().map(str::to_owned));
    let flag = |key: &str| get(key).and_then(|e| e.value.as_bool());
    let span = |key: &str| -> Result<Option<Duration>, String> {
        match text(key) {
            Some(t) => {
                let ns = parse_go_duration(&t)?;
                Ok(Some(Duration::from_nanos(ns.max(0) as u64)))
            }
            None => Ok(None),
        }
    };
    let ttl = span("ttl")?;
    let interval = span("interval")?;
    let timeout = span("timeout")?;
    let dir = text("dir").unwrap_or_default();
    if dir.is_empty() {
        return Err("dir has no value and needs to point to a directory".into());
    }
    if let Ok(meta) = std::fs::metadata(&dir) {
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_dir() || meta.permissions().mode() & 0o200 == 0 {
            return Err("dir needs to point to an accessible directory".into());
        }
    }
    let allow_delete = flag("allow_delete").unwrap_or(false);
    let hard_delete = flag("hard_delete");
    let limit = get("limit").and_then(|e| e.value.as_int()).unwrap_or(0);
    if cache {
        if interval.is_some_and(|d| !d.is_zero()) {
            return Err("CACHE does not accept sync".into());
        }
        if allow_delete {
            return Err("CACHE does not accept allow_delete".into());
        }
        if hard_delete.is_some() {
            return Err("CACHE does not accept hard_delete".into());
        }
    } else {
        if ttl.is_some_and(|d| !d.is_zero()) {
            return Err("FULL does not accept ttl".into());
        }
        if hard_delete.is_some() && !allow_delete {
            return Err("hard_delete has no effect without delete".into());
        }
    }
    let limit = match usize::try_from(limit) {
        Ok(0) | Err(_) if cache => store::CACHE_LIMIT_DEFAULT,
        Ok(n) => n,
        Err(_) => 0,
    };
    Ok(store::DirConfig {
        cache,
        dir: dir.into(),
        allow_delete,
        hard_delete: hard_delete.unwrap_or(false),
        interval: interval
            .filter(|d| !d.is_zero())
            .unwrap_or(store::SYNC_INTERVAL_DEFAULT),
        limit,
        ttl: ttl.unwrap_or(Duration::ZERO),
        timeout: timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(store::FETCH_TIMEOUT_DEFAULT),
    })
}

/// `listen`, `http` and `https`: a port, or `host:port` (`parseListen`).
/// A bare port clears the host.
pub(super) fn listen(v: &Value) -> Result<(String, i64), String> {
    let parsed = match &v.kind {
        ValueKind::Int(port) => Ok((String::new(), *port)),
        ValueKind::Str(text) => match go_split_host_port(text) {
            Err(_) => Err(format!("could not parse address string {}", go_quote(text))),
            Ok((host, port)) => match port.parse::<i64>() {
                Ok(port) => Ok((host, port)),
                Err(_) => Err(format!("could not parse port {}", go_quote(&port))),
            },
        },
        _ => Err(format!(
            "expected port or host:port, got {}",
            v.go_type_name()
        )),
    };
    parsed.map_err(|reason| format!("{}: {reason}", v.pos))
}

/// `max_payload` and `max_control_line`, stored as Go's `int32`.
fn int32_size(key: &str, v: &Value) -> Result<i32, String> {
    let n = int(v)?;
    if n > i64::from(i32::MAX) {
        return Err(format!("{}: {key} value is too big", v.pos));
    }
    // Like Go's int32() conversion, very negative values wrap.
    Ok(n as i32)
}

fn max_connections(v: &Value) -> Result<i64, String> {
    // A configured 0 means "reject all", unlike the unset 0.
    Ok(match int(v)? {
        0 => -1,
        n => n,
    })
}

fn max_sub_tokens(key: &str, v: &Value) -> Result<u8, String> {
    let n = int(v)?;
    if n > i64::from(u8::MAX) {
        return Err(format!("{}: {key} value is too big", v.pos));
    }
    u8::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{}: {key} value can not be negative", v.pos))
}

fn workers(v: &Value) -> Result<Option<usize>, String> {
    let n = int(v)?;
    let count =
        usize::try_from(n).map_err(|_| format!("{}: workers value can not be negative", v.pos))?;
    Ok(Some(count).filter(|&c| c > 0))
}

pub(super) fn write_timeout(v: &Value) -> Result<WriteTimeout, String> {
    match string(v)? {
        "default" => Ok(WriteTimeout::Default),
        "close" => Ok(WriteTimeout::Close),
        "retry" => Ok(WriteTimeout::Retry),
        _ => Err(format!(
            "{}: write_timeout must be 'default', 'close' or 'retry'",
            v.pos
        )),
    }
}

/// `ping_interval` and `write_deadline`: a Go duration string, or (with a
/// warning) an integer number of seconds.
pub(super) fn duration(field: &str, v: &Value, report: &mut Report) -> Result<Duration, String> {
    let nanos = match &v.kind {
        ValueKind::Str(text) => {
            parse_go_duration(text).map_err(|e| format!("{}: error parsing {field}: {e}", v.pos))?
        }
        _ => {
            report.warnings.push(format!(
                "{}: invalid use of field {}: {field} should be converted to a duration",
                v.pos,
                go_quote(field)
            ));
            int(v)?
                .checked_mul(NANOS_PER_SEC)
                .ok_or_else(|| format!("{}: error parsing {field}: value out of range", v.pos))?
        }
    };
    // nats-server accepts a negative value and misbehaves; we refuse it.
    positive_duration(nanos)
        .ok_or_else(|| format!("{}: invalid {field}, needs to be positive", v.pos))
}

fn lame_duck_duration(v: &Value) -> Result<Duration, String> {
    let nanos = parse_go_duration(string(v)?)
        .map_err(|e| format!("{}: error parsing lame_duck_duration: {e}", v.pos))?;
    match positive_duration(nanos) {
        Some(d) if d >= LAME_DUCK_DURATION_MIN => Ok(d),
        _ => Err(format!(
            "{}: invalid lame_duck_duration of {}, minimum is 30 seconds",
            v.pos,
            go_nanos_string(nanos)
        )),
    }
}

fn lame_duck_grace(v: &Value) -> Result<Duration, String> {
    let nanos = parse_go_duration(string(v)?)
        .map_err(|e| format!("{}: error parsing lame_duck_grace_period: {e}", v.pos))?;
    positive_duration(nanos).ok_or_else(|| {
        format!(
            "{}: invalid lame_duck_grace_period, needs to be positive",
            v.pos
        )
    })
}

/// `authorization.timeout`: seconds as an integer or float, or a duration
/// string. Over a minute gets a warning.
pub(super) fn auth_timeout(key: &str, v: &Value, report: &mut Report) -> Result<Duration, String> {
    auth_timeout_of("authorization", key, v, report)
}

/// [`auth_timeout`] of the `authorization` block named `block` in the error texts
/// (`leafnode authorization` for `leafnodes.authorization`).
pub(super) fn auth_timeout_of(
    block: &str,
    key: &str,
    v: &Value,
    report: &mut Report,
) -> Result<Duration, String> {
    let (secs, shown) = match &v.kind {
        ValueKind::Int(n) => (*n as f64, n.to_string()),
        ValueKind::Float(f) => (*f, go_float(*f)),
        ValueKind::Str(text) => {
            let nanos = parse_go_duration(text)
                .map_err(|e| format!("{}: error parsing {block} config, 'timeout' {e}", v.pos))?;
            (nanos as f64 / 1e9, text.clone())
        }
        _ => {
            return Err(format!(
                "{}: error parsing {block} config, 'timeout' wrong type",
                v.pos
            ))
        }
    };
    if secs > AUTH_TIMEOUT_WARN_SECS {
        report.warnings.push(format!(
            "{}: invalid use of field {}: timeout of {shown} ({secs:.6} seconds) is high, \
             consider keeping it under 60 seconds. possibly caused by unquoted duration; \
             use '1m' instead of 1m, for example",
            v.pos,
            go_quote(key)
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        format!(
            "{}: error parsing {block} config, 'timeout' needs to be positive",
            v.pos
        )
    })
}

#[cfg(test)]
mod tests;
