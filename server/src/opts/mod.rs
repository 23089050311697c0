//! The validated server options: [`Options`], its defaults and the startup checks.
//!
//! [`Options`] is built from a config file ([`Options::from_config`], in `config.rs`), then
//! command-line flags override it ([`Options::apply_flags`], in `flags.rs`; the `cluster`
//! block and flags are in `cluster.rs`, see [`ClusterOpts`]; the `gateway` block is in
//! `gateway.rs`, see [`GatewayOpts`]; the `leafnodes` block is in `leaf.rs`, see
//! [`LeafOpts`]); [`load`] does
//! both the way nats-server's `ConfigureOptions` does. On reload the server
//! loads again and asks [`Options::diff_reloadable`] (in [`crate::reload`]) what changed.
//!
//! This file owns the types, the defaults (`setBaselineOptions`) and the startup checks
//! (`validateOptions`, `validateTrustedOperators`). Key names, aliases, defaults and error
//! texts follow `server/opts.go` and `server/reload.go` in nats-server v2.15.1. Keys
//! nats-server knows but Gannet does not implement yet are accepted and listed in
//! `Options::not_implemented` so the server can say so; unknown keys are
//! errors, as in nats-server.

mod cluster;
mod config;
mod flags;
pub mod gateway;
pub mod leaf;
pub mod websocket;

pub use cluster::{ClusterOpts, RouteUrl};
pub use gateway::{GatewayOpts, GatewayUrl, RemoteGatewayOpts};
pub use leaf::{LeafOpts, LeafProxy, LeafUrl, LeafUser, RemoteLeafOpts};
pub use websocket::WebsocketOpts;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::cli::Flags;
use crate::conf;
use crate::gofmt::{go_duration_string, go_quote};

/// Client port when none is configured (`server/const.go` `DEFAULT_PORT`).
const PORT_DEFAULT: i64 = 4222;
/// The port value meaning "pick a random port".
pub const RANDOM_PORT: i64 = -1;
const HOST_DEFAULT: &str = "0.0.0.0";
const MAX_CONNECTIONS_DEFAULT: i64 = 64 * 1024;
const PING_INTERVAL_DEFAULT: Duration = Duration::from_secs(2 * 60);
const PING_MAX_DEFAULT: i64 = 2;
const AUTH_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);
const MAX_CONTROL_LINE_BYTES_DEFAULT: i32 = 4096;
const MAX_PAYLOAD_BYTES_DEFAULT: i32 = 1024 * 1024;
/// A `max_payload` above this gets a startup warning in nats-server
/// (`MAX_PAYLOAD_MAX_SIZE`).
pub const MAX_PAYLOAD_WARN_BYTES: i32 = 8 * 1024 * 1024;
const MAX_PENDING_BYTES_DEFAULT: i64 = 64 * 1024 * 1024;
const WRITE_DEADLINE_DEFAULT: Duration = Duration::from_secs(10);
const MAX_CLOSED_CLIENTS_DEFAULT: i64 = 10_000;
const LAME_DUCK_DURATION_DEFAULT: Duration = Duration::from_secs(2 * 60);
const LAME_DUCK_GRACE_PERIOD_DEFAULT: Duration = Duration::from_secs(10);
/// The shortest `lame_duck_duration` the config may ask for.
const LAME_DUCK_DURATION_MIN: Duration = Duration::from_secs(30);
/// An auth timeout above this many seconds gets a warning.
const AUTH_TIMEOUT_WARN_SECS: f64 = 60.0;

/// The server options, with nats-server's defaults (spec §1.13).
///
/// Fields keep nats-server's meaning, including its special values: a
/// `port` of [`RANDOM_PORT`], `max_connections <= 0` rejects every client,
/// `max_subscriptions` and `max_sub_tokens` of 0 mean unlimited, and an
/// empty string means "not set".
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The `-c` file, as given; empty if none.
    pub config_file: String,
    /// Hex SHA-256 of the parsed config (see [`conf::config_digest`]);
    /// nats-server prints it as `sha256:<hex>`. Empty without a config file.
    pub config_digest: String,
    /// `server_name`; when empty the server uses its id.
    pub server_name: String,
    /// Client listener host.
    pub host: String,
    /// Client listener port; [`RANDOM_PORT`] (-1) for a random one.
    pub port: i64,
    /// `client_advertise`: `host[:port]` put in INFO.
    pub client_advertise: String,
    /// `trace`.
    pub trace: bool,
    /// `debug`.
    pub debug: bool,
    /// `trace_verbose`: also trace system-account traffic. Implies `trace`.
    pub trace_verbose: bool,
    /// `trace_headers`. Implies `trace`.
    pub trace_headers: bool,
    /// `disable_sublist_cache` / `no_sublist_cache`.
    pub disable_sublist_cache: bool,
    /// `no_header_support`: INFO says `headers: false`.
    pub no_header_support: bool,
    /// `logtime`: timestamps in log lines (default true).
    pub logtime: bool,
    /// `logtime_utc`.
    pub logtime_utc: bool,
    /// `max_connections`; `<= 0` (a configured 0 becomes -1) rejects all.
    pub max_connections: i64,
    /// `max_subscriptions` per connection; 0 = unlimited.
    pub max_subscriptions: i64,
    /// `max_sub_tokens`; 0 = unlimited.
    pub max_sub_tokens: u8,
    /// `no_auth_user`.
    pub no_auth_user: String,
    /// `operator` (and aliases): the trusted operator JWTs, as tokens.
    pub operators: Vec<String>,
    /// `trusted_keys`/`trusted`: trusted operator public keys.
    pub trusted_keys: Vec<String>,
    /// `resolver`.
    pub resolver: Option<crate::auth::config::ResolverConfig>,
    /// `resolver_tls`: TLS settings of the URL resolver's HTTPS client.
    pub resolver_tls: Option<crate::tls::config::TlsOptions>,
    /// `resolver_preload`: account public key → account JWT.
    pub resolver_preload: std::collections::BTreeMap<String, String>,
    /// `server_tags`, lower-cased as nats-server stores them.
    pub server_tags: Vec<String>,
    /// `server_metadata`.
    pub server_metadata: std::collections::BTreeMap<String, String>,
    /// `feature_flags { name: bool }` as configured (see [`Options::feature_flags`]).
    pub feature_flags_configured: std::collections::BTreeMap<String, bool>,
    /// The `$G` user the server made up because only the system account has users (see
    /// [`Options::add_sys_only_no_auth_user`]); empty when there is none.
    pub sys_only_no_auth_user: String,
    /// An `authorization { … }` block was present.
    pub auth_block_defined: bool,
    /// `system_account`/`system`: the system account's name; empty means `$SYS`.
    pub system_account: String,
    /// `no_system_account`: no system account, no events.
    pub no_system_account: bool,
    /// Single-user or token authorization from `authorization { … }` and
    /// `--user`/`--pass`/`--auth`.
    pub authorization: Authorization,
    /// `authorization.timeout` (default 2 s).
    pub auth_timeout: Duration,
    /// `ping_interval`.
    pub ping_interval: Duration,
    /// `ping_max`: pings without answer before the connection is stale.
    pub ping_max: i64,
    /// Monitoring listener host; the client `host` unless `http`/`https`
    /// named one.
    pub http_host: String,
    /// Monitoring port; 0 = disabled, -1 = random.
    pub http_port: i64,
    /// `http_base_path`.
    pub http_base_path: String,
    /// Monitoring TLS port; 0 = disabled, -1 = random.
    pub https_port: i64,
    /// `max_control_line`, bytes.
    pub max_control_line: i32,
    /// `max_payload`, bytes.
    pub max_payload: i32,
    /// `max_pending`, bytes of outbound data per connection.
    pub max_pending: i64,
    /// `pid_file`.
    pub pid_file: String,
    /// `ports_file_dir`.
    pub ports_file_dir: String,
    /// `log_file`.
    pub log_file: String,
    /// `log_size_limit`, bytes; 0 = no rotation.
    pub log_size_limit: i64,
    /// `log_max_num`: rotated files to keep.
    pub log_max_num: i64,
    /// `syslog`.
    pub syslog: bool,
    /// `remote_syslog` URL.
    pub remote_syslog: String,
    /// `write_deadline`.
    pub write_deadline: Duration,
    /// `write_timeout` policy.
    pub write_timeout: WriteTimeout,
    /// `max_closed_clients` kept for `/connz?state=closed`.
    pub max_closed_clients: i64,
    /// `lame_duck_duration`.
    pub lame_duck_duration: Duration,
    /// `lame_duck_grace_period`.
    pub lame_duck_grace_period: Duration,
    /// `max_traced_msg_len`; 0 = no limit.
    pub max_traced_msg_len: i64,
    /// `no_fast_producer_stall`: a message for a subscriber whose stall gate is closed is
    /// dropped for that subscriber instead of stalling its publisher.
    pub no_fast_producer_stall: bool,
    /// Worker threads (Gannet only: `workers` key, `--workers` flag);
    /// `None` = one per core.
    pub workers: Option<usize>,
    /// Users from `authorization { users }` and from every account, with their account name
    /// and permissions (defaults applied).
    pub users: Vec<crate::auth::config::UserConfig>,
    /// Accounts from `accounts { … }`.
    pub accounts: Vec<crate::auth::config::AccountConfig>,
    /// The client listener's `tls { … }` block (or the `--tls*` flags), with its certificates
    /// loaded; `None` = plaintext only.
    pub tls: Option<crate::tls::TlsOptions>,
    /// `allow_non_tls`: with TLS configured, plaintext clients are served too.
    pub allow_non_tls: bool,
    /// `cluster { … }` with the cluster flags applied; `None` when there is neither a
    /// `cluster` block nor a `--cluster` flag (or `--cluster ""` turned clustering off).
    pub cluster: Option<ClusterOpts>,
    /// `gateway { … }`, defaults applied; `None` without such a block.
    pub gateway: Option<GatewayOpts>,
    /// `leafnodes { … }` (or `leaf { … }`), defaults applied; `None` without such a block.
    pub leafnodes: Option<LeafOpts>,
    /// `websocket { … }` (or `ws { … }`), defaults applied; `None` without such a block.
    pub websocket: Option<WebsocketOpts>,
    /// Settings that were accepted but have no effect in Gannet yet, in the
    /// order found: top-level config keys (`"jetstream"`), nested ones
    /// (`"authorization.auth_callout"`, `"authorization.proxy_required"`) and flags (`"prof_port"`).
    pub not_implemented: Vec<String>,
    /// `http`/`https` host as configured; empty means "same as `host`".
    http_host_configured: String,
    /// `authorization.timeout` as configured (zero = not set): the default depends on TLS,
    /// which flags may still change, so [`Options::auth_timeout`] is derived at baseline.
    auth_timeout_configured: Duration,
}

/// The single user or token clients must present (`authorization` block,
/// `--user`, `--pass`, `--auth`). Empty strings mean "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorization {
    /// `user` / `username`.
    pub user: String,
    /// `pass` / `password`: plain text or a bcrypt hash.
    pub password: String,
    /// `token`: plain text or a bcrypt hash.
    pub token: String,
    /// BOSH `certificate_clients` (used with `tls.enable_cert_authorization`).
    pub certificate_clients: Vec<crate::auth::config::CertClientConfig>,
}

/// What to do with a client whose write deadline expires (`write_timeout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteTimeout {
    /// `default`: close, for clients.
    #[default]
    Default,
    /// `close`.
    Close,
    /// `retry`.
    Retry,
}

impl fmt::Display for WriteTimeout {
    /// As nats-server prints it (an empty string for the default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteTimeout::Default => "",
            WriteTimeout::Close => "close",
            WriteTimeout::Retry => "retry",
        })
    }
}

/// Why options could not be loaded.
///
/// `Display` prints what nats-server prints after its `nats-server: `
/// prefix; the caller adds the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The config file could not be read, lexed or parsed.
    Conf(conf::ConfError),
    /// The config file parsed but its keys have problems. `Display` prints
    /// the warnings, then the errors, each followed by a newline, exactly
    /// like nats-server. With `-t`, warnings alone are an error too.
    Config {
        /// `file:line:col: invalid use of field …` and the like.
        warnings: Vec<String>,
        /// `file:line:col: unknown field "x"` and the like.
        errors: Vec<String>,
    },
    /// A startup check or a command-line value failed, for example
    /// `max_payload (X) cannot be higher than max_pending (Y)`.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Conf(e) => e.fmt(f),
            Error::Config { warnings, errors } => {
                for line in warnings.iter().chain(errors) {
                    writeln!(f, "{line}")?;
                }
                Ok(())
            }
            Error::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl Default for Options {
    /// The options of a server started without a config file or flags.
    fn default() -> Options {
        let mut opts = Options::unset();
        opts.set_baseline();
        opts
    }
}

/// Loads the options the way nats-server starts: the config file named by
/// `-c` (if any), then the command-line flags on top, then the defaults and
/// startup checks.
///
/// Returns the warnings to print (to stderr, without prefix) before starting.
/// The caller handles `--signal`, `-v` and `-h` before calling this.
///
/// With `-t` ([`Flags::check_config`]) only the config file is processed, as
/// in nats-server: success means the caller prints
/// `configuration file <path> is valid (<digest>)`.
///
/// # Errors
///
/// Any [`Error`]; with `-t`, also [`Error::Config`] carrying only warnings,
/// and [`Error::Invalid`] if there is no `-c`.
pub fn load(flags: &Flags) -> Result<(Options, Vec<String>), Error> {
    let config_file = flags.config_file.as_deref().filter(|f| !f.is_empty());
    let (mut opts, warnings) = match config_file {
        Some(file) => {
            let path = Path::new(file);
            let map = conf::parse_file(path).map_err(Error::Conf)?;
            let (mut opts, warnings) = Options::from_config(&map, Some(path))?;
            opts.config_digest = conf::config_digest(&map);
            if flags.check_config {
                if !warnings.is_empty() {
                    let errors = Vec::new();
                    return Err(Error::Config { warnings, errors });
                }
                return Ok((opts, warnings));
            }
            (opts, warnings)
        }
        None if flags.check_config => {
            return Err(Error::Invalid(
                "must specify [-c, --config] option to check configuration file syntax".into(),
            ));
        }
        None => (Options::default(), Vec::new()),
    };
    opts.apply_flags(flags)?;
    Ok((opts, warnings))
}

/// nats-server 2.15.1's feature flags and their defaults (`feature_flags.go`), reported in
/// every event's `server` object and in VARZ. They switch JetStream behaviour, which gannet
/// does not have; gannet reports them as a 2.15.1 node would, so that peers and tools see the
/// same set.
pub const FEATURE_FLAGS: &[(&str, bool)] = &[
    ("js_ack_fc_v2", false),
    ("js_api_reply_v2", false),
    ("js_raft_delete_range", true),
    ("js_snapshot_sources", false),
];

impl Options {
    /// The feature flags in effect: the defaults, overridden by configured values for the
    /// flags 2.15.1 knows (unknown names are ignored, as nats-server `getMergedFeatureFlags`).
    pub fn feature_flags(&self) -> std::collections::BTreeMap<String, bool> {
        FEATURE_FLAGS
            .iter()
            .map(|&(name, default)| {
                let value = self
                    .feature_flags_configured
                    .get(name)
                    .copied()
                    .unwrap_or(default);
                (name.to_string(), value)
            })
            .collect()
    }

    /// The Go zero value of nats-server's options, plus the flag default
    /// `logtime = true`. Everything else comes from the baseline.
    fn unset() -> Options {
        Options {
            system_account: String::new(),
            no_system_account: false,
            config_file: String::new(),
            config_digest: String::new(),
            server_name: String::new(),
            host: String::new(),
            port: 0,
            client_advertise: String::new(),
            trace: false,
            debug: false,
            trace_verbose: false,
            trace_headers: false,
            disable_sublist_cache: false,
            no_header_support: false,
            logtime: true,
            logtime_utc: false,
            max_connections: 0,
            max_subscriptions: 0,
            max_sub_tokens: 0,
            no_auth_user: String::new(),
            operators: Vec::new(),
            trusted_keys: Vec::new(),
            resolver: None,
            resolver_tls: None,
            resolver_preload: std::collections::BTreeMap::new(),
            server_tags: Vec::new(),
            server_metadata: std::collections::BTreeMap::new(),
            feature_flags_configured: std::collections::BTreeMap::new(),
            sys_only_no_auth_user: String::new(),
            auth_block_defined: false,
            authorization: Authorization::default(),
            auth_timeout: Duration::ZERO,
            ping_interval: Duration::ZERO,
            ping_max: 0,
            http_host: String::new(),
            http_port: 0,
            http_base_path: String::new(),
            https_port: 0,
            max_control_line: 0,
            max_payload: 0,
            max_pending: 0,
            pid_file: String::new(),
            ports_file_dir: String::new(),
            log_file: String::new(),
            log_size_limit: 0,
            log_max_num: 0,
            syslog: false,
            remote_syslog: String::new(),
            write_deadline: Duration::ZERO,
            write_timeout: WriteTimeout::Default,
            max_closed_clients: 0,
            lame_duck_duration: Duration::ZERO,
            lame_duck_grace_period: Duration::ZERO,
            max_traced_msg_len: 0,
            no_fast_producer_stall: false,
            workers: None,
            users: Vec::new(),
            accounts: Vec::new(),
            tls: None,
            allow_non_tls: false,
            cluster: None,
            gateway: None,
            websocket: None,
            leafnodes: None,
            not_implemented: Vec::new(),
            http_host_configured: String::new(),
            auth_timeout_configured: Duration::ZERO,
        }
    }

    /// The checks nats-server runs before starting (`validateOptions`), for
    /// the options Gannet has.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] with nats-server's message.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.lame_duck_duration.is_zero()
            && self.lame_duck_grace_period >= self.lame_duck_duration
        {
            return Err(Error::Invalid(format!(
                "lame duck grace period ({}) should be strictly lower than lame duck duration ({})",
                go_duration_string(self.lame_duck_grace_period),
                go_duration_string(self.lame_duck_duration)
            )));
        }
        if i64::from(self.max_payload) > self.max_pending {
            return Err(Error::Invalid(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            )));
        }
        if self.server_name.contains(' ') {
            return Err(Error::Invalid("server name cannot contain spaces".into()));
        }
        if let Some(leaf) = &self.leafnodes {
            leaf.validate(self.operator_mode())
                .map_err(Error::Invalid)?;
            // The last check of nats-server's validateLeafNode.
            let has_gateway = self
                .gateway
                .as_ref()
                .is_some_and(GatewayOpts::is_configured);
            if leaf.port != 0 && has_gateway && self.system_account.is_empty() {
                return Err(Error::Invalid(gateway::LEAF_NEEDS_SYSTEM_ACCOUNT.into()));
            }
        }
        crate::auth::config::validate(&self.users, &self.accounts).map_err(Error::Invalid)?;
        let in_accounts = self.users.iter().any(|u| !u.account.is_empty());
        if in_accounts && !self.authorization.user.is_empty() {
            return Err(Error::Invalid(
                "Can not have a single user/pass and accounts".into(),
            ));
        }
        if in_accounts && !self.authorization.token.is_empty() {
            return Err(Error::Invalid("Can not have a token and accounts".into()));
        }
        if !self.no_auth_user.is_empty() {
            if self.users.is_empty() {
                return Err(Error::Invalid(format!(
                    "no_auth_user: {} present, but users/nkeys are not defined",
                    go_quote(&self.no_auth_user)
                )));
            }
            let known = self
                .users
                .iter()
                .any(|u| u.user == self.no_auth_user || u.nkey == self.no_auth_user);
            if !known {
                return Err(Error::Invalid(format!(
                    "no_auth_user: {} not present as user or nkey in authorization block or account configuration",
                    go_quote(&self.no_auth_user)
                )));
            }
        }
        if let Some(gateway) = &self.gateway {
            gateway.validate().map_err(Error::Invalid)?;
        }
        if let Some(ws) = &self.websocket {
            ws.validate(self).map_err(Error::Invalid)?;
        }
        if let Some(cluster) = &self.cluster {
            let gateway_name = self.gateway.as_ref().map_or("", |g| g.name.as_str());
            cluster
                .validate(&self.system_account, self.no_system_account, gateway_name)
                .map_err(Error::Invalid)?;
        }
        Ok(())
    }

    /// Whether operators or trusted keys are configured (decentralized JWT auth).
    pub fn operator_mode(&self) -> bool {
        !self.operators.is_empty() || !self.trusted_keys.is_empty()
    }

    /// Operator-mode rules of nats-server's `validateTrustedOperators`, and the settings the
    /// operator JWT supplies (system account, URL resolver).
    fn validate_operator_mode(&mut self) -> Result<(), Error> {
        if !self.operator_mode() {
            return Ok(());
        }
        let invalid = |s: &str| Err(Error::Invalid(s.to_string()));
        if !self.operators.is_empty() && !self.trusted_keys.is_empty() {
            return invalid("conflicting options for 'TrustedKeys' and 'TrustedOperators'");
        }
        let claims: Vec<crate::jwt::Claims<crate::jwt::Operator>> = self
            .operators
            .iter()
            .filter_map(|t| crate::jwt::decode(t).ok())
            .collect();
        if self.resolver.is_none() {
            match claims.as_slice() {
                [op] if !op.nats.account_server_url.is_empty() => {
                    let base = op.nats.account_server_url.trim_end_matches('/');
                    self.resolver = Some(crate::auth::config::ResolverConfig::Url(format!(
                        "{base}/accounts/"
                    )));
                }
                _ => return invalid("operators require an account resolver to be configured"),
            }
        }
        if !self.accounts.is_empty() {
            return invalid("operators do not allow Accounts to be configured directly");
        }
        if !self.users.is_empty() || !self.authorization.user.is_empty() {
            return invalid("operators do not allow users to be configured directly");
        }
        if let [op] = claims.as_slice() {
            let from_jwt = &op.nats.system_account;
            if self.system_account.is_empty() {
                self.system_account = from_jwt.clone();
            } else if !from_jwt.is_empty() && *from_jwt != self.system_account {
                return invalid("system_account in config and operator JWT must be identical");
            }
        }
        let nats_based = matches!(
            self.resolver,
            Some(crate::auth::config::ResolverConfig::Dir(_))
        );
        if nats_based && self.system_account.is_empty() {
            return invalid("using nats based account resolver - the system account needs to be specified in configuration or the operator jwt");
        }
        Ok(())
    }

    /// When the only configured account is the system account and nothing else asks for
    /// authentication, nats-server makes up a `$G` user `nats-XXXXXXXX` and lets anonymous
    /// clients in as that user, so the system account's users are the only ones who need
    /// credentials (`configureAccounts` in nats-server's server.go). `keep` is the name made
    /// up before (a reload keeps it, so connected clients keep their identity).
    pub fn add_sys_only_no_auth_user(&mut self, keep: &str) {
        let only_system = self.accounts.len() == 1
            && !self.system_account.is_empty()
            && self.accounts[0].name == self.system_account;
        if !only_system || !self.no_auth_user.is_empty() || self.auth_block_defined {
            return;
        }
        let name = if keep.is_empty() {
            const BASE62: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let tail: String = (0..8)
                .map(|_| BASE62[rand::random::<usize>() % BASE62.len()] as char)
                .collect();
            format!("nats-{tail}")
        } else {
            keep.to_string()
        };
        self.users.push(crate::auth::config::UserConfig {
            user: name.clone(),
            // As nats-server: the password is the name's tail.
            password: name[6..].to_string(),
            nkey: String::new(),
            permissions: None,
            account: String::new(),
            allowed_connection_types: Vec::new(),
        });
        self.no_auth_user = name.clone();
        self.sys_only_no_auth_user = name;
    }

    /// Fills in defaults for unset values (`setBaselineOptions`). Safe to
    /// run more than once.
    fn set_baseline(&mut self) {
        if self.host.is_empty() {
            self.host = HOST_DEFAULT.to_string();
        }
        self.http_host = if self.http_host_configured.is_empty() {
            self.host.clone()
        } else {
            self.http_host_configured.clone()
        };
        if self.port == 0 {
            self.port = PORT_DEFAULT;
        }
        if self.max_connections == 0 {
            self.max_connections = MAX_CONNECTIONS_DEFAULT;
        }
        default_duration(&mut self.ping_interval, PING_INTERVAL_DEFAULT);
        if self.ping_max == 0 {
            self.ping_max = PING_MAX_DEFAULT;
        }
        // With TLS and no explicit auth timeout, the TLS handshake timeout plus a second
        // (nats-server `getDefaultAuthTimeout`).
        self.auth_timeout = if !self.auth_timeout_configured.is_zero() {
            self.auth_timeout_configured
        } else {
            match &self.tls {
                Some(tls) => tls.timeout().saturating_add(Duration::from_secs(1)),
                None => AUTH_TIMEOUT_DEFAULT,
            }
        };
        if self.max_control_line == 0 {
            self.max_control_line = MAX_CONTROL_LINE_BYTES_DEFAULT;
        }
        if self.max_payload == 0 {
            self.max_payload = MAX_PAYLOAD_BYTES_DEFAULT;
        }
        if self.max_pending == 0 {
            self.max_pending = MAX_PENDING_BYTES_DEFAULT;
        }
        default_duration(&mut self.write_deadline, WRITE_DEADLINE_DEFAULT);
        if self.max_closed_clients == 0 {
            self.max_closed_clients = MAX_CLOSED_CLIENTS_DEFAULT;
        }
        default_duration(&mut self.lame_duck_duration, LAME_DUCK_DURATION_DEFAULT);
        default_duration(
            &mut self.lame_duck_grace_period,
            LAME_DUCK_GRACE_PERIOD_DEFAULT,
        );
        if let Some(cluster) = &mut self.cluster {
            cluster.set_baseline();
        }
        if let Some(gateway) = &mut self.gateway {
            gateway.set_baseline();
        }
        // nats-server's validateCluster: a cluster without name takes the gateway's, so
        // that it is not a dynamic name.
        if let (Some(cluster), Some(gateway)) = (&mut self.cluster, &self.gateway) {
            if cluster.name.is_empty() && !gateway.name.contains(' ') {
                cluster.name = gateway.name.clone();
            }
        }
        if let Some(leaf) = &mut self.leafnodes {
            leaf.set_baseline();
        }
        if let Some(ws) = &mut self.websocket {
            ws.set_baseline();
        }
    }

    /// Applies every key of a block (`websocket`, `leafnodes`) with `apply`: its errors go
    /// to `report`, the keys it accepts without implementing them to `not_implemented`.
    fn apply_block<T>(
        &mut self,
        target: &mut T,
        entries: &crate::conf::Map,
        report: &mut config::Report,
        apply: impl Fn(
            &mut T,
            &crate::conf::Entry,
            &mut config::Report,
            &mut Vec<String>,
        ) -> Result<(), String>,
    ) {
        let mut unimplemented = Vec::new();
        for entry in entries {
            if let Err(message) = apply(target, entry, report, &mut unimplemented) {
                report.errors.push(message);
            }
        }
        for name in &unimplemented {
            self.not_implemented(name);
        }
    }

    fn not_implemented(&mut self, name: &str) {
        if !self.not_implemented.iter().any(|n| n == name) {
            self.not_implemented.push(name.to_string());
        }
    }

    fn forget_not_implemented(&mut self, name: &str) {
        self.not_implemented.retain(|n| n != name);
    }
}

fn default_duration(value: &mut Duration, default: Duration) {
    if value.is_zero() {
        *value = default;
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{flags, opts, temp_dir};
    use super::*;

    #[test]
    fn defaults() {
        let o = Options::default();
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4222));
        assert_eq!(o.max_payload, 1_048_576);
        assert_eq!(o.max_pending, 64 * 1024 * 1024);
        assert_eq!(o.max_control_line, 4096);
        assert_eq!(o.max_connections, 65536);
        assert_eq!((o.max_subscriptions, o.max_sub_tokens), (0, 0));
        assert_eq!(o.ping_interval, Duration::from_secs(120));
        assert_eq!(o.ping_max, 2);
        assert_eq!(o.write_deadline, Duration::from_secs(10));
        assert_eq!(o.lame_duck_duration, Duration::from_secs(120));
        assert_eq!(o.lame_duck_grace_period, Duration::from_secs(10));
        assert_eq!(o.max_closed_clients, 10_000);
        assert_eq!(o.auth_timeout, Duration::from_secs(2));
        assert!(o.logtime && !o.logtime_utc && !o.debug && !o.trace);
        assert_eq!(o.http_host, "0.0.0.0");
        assert_eq!(o.write_timeout, WriteTimeout::Default);
        assert!(o.not_implemented.is_empty());
        assert_eq!(o, opts("# nothing but this\nport: 0"));
    }

    #[test]
    fn load_from_files() {
        let dir = temp_dir("load");
        let file = dir.join("nats.conf");
        std::fs::write(&file, "port: 4333\nping_interval: 5\n").unwrap();
        let name = file.to_str().unwrap();
        let (o, warnings) = load(&flags(&["-c", name, "-p", "4444"])).unwrap();
        assert_eq!(o.port, 4444);
        assert_eq!(o.config_file, name);
        assert_eq!(o.config_digest.len(), 64);
        assert_eq!(warnings.len(), 1);
        // With -t, warnings fail the check.
        match load(&flags(&["-t", "-c", name])) {
            Err(e @ Error::Config { .. }) => assert_eq!(
                e.to_string(),
                format!("{name}:2:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration\n")
            ),
            other => panic!("{other:?}"),
        }
        std::fs::write(&file, "port: 4333\n").unwrap();
        let (o, _) = load(&flags(&["-t", "-c", name])).unwrap();
        assert_eq!(
            o.config_digest,
            conf::config_digest(&conf::parse_str("port: 4333", None).unwrap())
        );
        assert_eq!(
            load(&flags(&["-t"])).unwrap_err().to_string(),
            "must specify [-c, --config] option to check configuration file syntax"
        );
        std::fs::write(
            &file,
            "port: 4333\nfoo: 1\nauthorization {user: a password: b}\n",
        )
        .unwrap();
        assert_eq!(
            load(&flags(&["-c", name])).unwrap_err().to_string(),
            "Parse error on line 3: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'p' instead.'"
        );
        std::fs::write(&file, "port: 4333\nfoo: 1\n").unwrap();
        assert_eq!(
            load(&flags(&["-c", name])).unwrap_err().to_string(),
            format!("{name}:2:1: unknown field \"foo\"\n")
        );
        let missing = dir.join("missing.conf");
        assert_eq!(
            load(&flags(&["-c", missing.to_str().unwrap()]))
                .unwrap_err()
                .to_string(),
            format!("open {}: no such file or directory", missing.display())
        );
        let (o, warnings) = load(&Flags::default()).unwrap();
        assert_eq!((o, warnings), (Options::default(), Vec::new()));
    }
}

/// Helpers shared by the unit tests of `opts`, its submodules and `reload`.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Error, Options};
    use crate::cli::{self, Flags};
    use crate::conf;

    /// Options and warnings from config text (no file, no flags).
    pub(crate) fn config(text: &str) -> Result<(Options, Vec<String>), Error> {
        let map = conf::parse_str(text, None).expect("config text parses");
        Options::from_config(&map, None)
    }

    /// Options from config text that must load without warnings.
    pub(crate) fn opts(text: &str) -> Options {
        match config(text) {
            Ok((opts, warnings)) => {
                assert!(warnings.is_empty(), "{text}: {warnings:?}");
                opts
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }

    /// The only error for `text`.
    pub(crate) fn error(text: &str) -> String {
        match config(text) {
            Ok(_) => panic!("{text}: no error"),
            Err(Error::Config { errors, .. }) if errors.len() == 1 => errors[0].clone(),
            Err(e) => panic!("{text}: {e:?}"),
        }
    }

    /// Parsed command-line flags.
    pub(crate) fn flags(list: &[&str]) -> Flags {
        let args: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        cli::parse(&args).expect("flags parse")
    }

    /// Options from config text (empty: none) with the flags applied.
    pub(crate) fn with_flags(text: &str, list: &[&str]) -> Result<Options, Error> {
        let mut opts = if text.is_empty() {
            Options::default()
        } else {
            opts(text)
        };
        opts.apply_flags(&flags(list))?;
        Ok(opts)
    }

    /// A fresh, empty directory under the system temp dir.
    pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gannet-opts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
