//! The validated server options.
//!
//! [`Options`] is built from a config file ([`Options::from_config`]), then
//! command-line flags override it ([`Options::apply_flags`]); [`load`] does
//! both the way nats-server's `ConfigureOptions` does. On reload the server
//! loads again and asks [`Options::diff_reloadable`] what changed.
//!
//! Key names, aliases, defaults and error texts follow `server/opts.go` and
//! `server/reload.go` in nats-server v2.15.1. Keys nats-server knows but
//! Gannet does not implement yet are accepted and listed in
//! [`Options::not_implemented`] so the server can say so; unknown keys are
//! errors, as in nats-server.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::cli::Flags;
use crate::conf::{self, Entry, Map, Value, ValueKind};
use crate::gofmt::{
    go_duration_string, go_float, go_nanos_string, go_quote, go_split_host_port, parse_go_duration,
    positive_duration, NANOS_PER_SEC,
};

/// Client port when none is configured (`server/const.go` `DEFAULT_PORT`).
const DEFAULT_PORT: i64 = 4222;
/// The port value meaning "pick a random port".
pub const RANDOM_PORT: i64 = -1;
const DEFAULT_HOST: &str = "0.0.0.0";
const DEFAULT_MAX_CONNECTIONS: i64 = 64 * 1024;
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(2 * 60);
const DEFAULT_PING_MAX: i64 = 2;
const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_CONTROL_LINE_BYTES: i32 = 4096;
const DEFAULT_MAX_PAYLOAD_BYTES: i32 = 1024 * 1024;
/// A `max_payload` above this gets a startup warning in nats-server
/// (`MAX_PAYLOAD_MAX_SIZE`).
pub const MAX_PAYLOAD_WARN_BYTES: i32 = 8 * 1024 * 1024;
const DEFAULT_MAX_PENDING_BYTES: i64 = 64 * 1024 * 1024;
const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CLOSED_CLIENTS: i64 = 10_000;
const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(2 * 60);
const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// The shortest `lame_duck_duration` the config may ask for.
const LAME_DUCK_DURATION_MIN: Duration = Duration::from_secs(30);
/// An auth timeout above this many seconds gets a warning.
const AUTH_TIMEOUT_WARN_SECS: f64 = 60.0;

/// Top-level keys that nats-server accepts and Gannet does not implement
/// yet. Their values are not checked.
const NOT_IMPLEMENTED_KEYS: &[&str] = &[
    "mappings",
    "maps",
    "cluster",
    "gateway",
    "leaf",
    "leafnodes",
    "jetstream",
    "ocsp",
    "ocsp_cache",
    "resolver_pinned_accounts",
    "websocket",
    "ws",
    "mqtt",
    "feature_flags",
    "default_js_domain",
    "proxies",
];

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
    /// Settings that were accepted but have no effect in Gannet yet, in the
    /// order found: top-level config keys (`"cluster"`), nested ones
    /// (`"authorization.users"`) and flag groups (`"tls"`, `"routes"`).
    pub not_implemented: Vec<String>,
    /// `http`/`https` host as configured; empty means "same as `host`".
    http_host_configured: String,
    /// True if the config or `--cluster` gives the cluster a listen address,
    /// which `--routes` needs.
    cluster_listen_configured: bool,
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

impl Options {
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
            workers: None,
            users: Vec::new(),
            accounts: Vec::new(),
            tls: None,
            allow_non_tls: false,
            not_implemented: Vec::new(),
            http_host_configured: String::new(),
            cluster_listen_configured: false,
            auth_timeout_configured: Duration::ZERO,
        }
    }

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

    /// Applies the command-line flags over the current options (flags win),
    /// then the defaults and the startup checks.
    ///
    /// `-DV`, `-DVV` and `-VV` are applied after `-D`/`-V`, as nats-server
    /// does. Cluster, route, TLS and JetStream flags are checked as in
    /// nats-server and recorded in [`Options::not_implemented`].
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a bad flag combination (`--tls` without
    /// `--tlscert`, `--routes` without a cluster, …) or a failed startup
    /// check (see [`Options::validate`]).
    pub fn apply_flags(&mut self, flags: &Flags) -> Result<(), Error> {
        self.apply_flag_values(flags);
        self.apply_flag_combinations(flags);
        self.apply_flag_cluster(flags)?;
        self.apply_flag_tls(flags)?;
        self.set_baseline();
        self.validate_operator_mode()?;
        self.validate()
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
                    "no_auth_user: {:?} present, but users/nkeys are not defined",
                    self.no_auth_user
                )));
            }
            let known = self
                .users
                .iter()
                .any(|u| u.user == self.no_auth_user || u.nkey == self.no_auth_user);
            if !known {
                return Err(Error::Invalid(format!(
                    "no_auth_user: {:?} not present as user or nkey in authorization block or account configuration",
                    self.no_auth_user
                )));
            }
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
            self.host = DEFAULT_HOST.to_string();
        }
        self.http_host = if self.http_host_configured.is_empty() {
            self.host.clone()
        } else {
            self.http_host_configured.clone()
        };
        if self.port == 0 {
            self.port = DEFAULT_PORT;
        }
        if self.max_connections == 0 {
            self.max_connections = DEFAULT_MAX_CONNECTIONS;
        }
        default_duration(&mut self.ping_interval, DEFAULT_PING_INTERVAL);
        if self.ping_max == 0 {
            self.ping_max = DEFAULT_PING_MAX;
        }
        // With TLS and no explicit auth timeout, the TLS handshake timeout plus a second
        // (nats-server `getDefaultAuthTimeout`).
        self.auth_timeout = if !self.auth_timeout_configured.is_zero() {
            self.auth_timeout_configured
        } else {
            match &self.tls {
                Some(tls) => tls.timeout().saturating_add(Duration::from_secs(1)),
                None => DEFAULT_AUTH_TIMEOUT,
            }
        };
        if self.max_control_line == 0 {
            self.max_control_line = DEFAULT_MAX_CONTROL_LINE_BYTES;
        }
        if self.max_payload == 0 {
            self.max_payload = DEFAULT_MAX_PAYLOAD_BYTES;
        }
        if self.max_pending == 0 {
            self.max_pending = DEFAULT_MAX_PENDING_BYTES;
        }
        default_duration(&mut self.write_deadline, DEFAULT_WRITE_DEADLINE);
        if self.max_closed_clients == 0 {
            self.max_closed_clients = DEFAULT_MAX_CLOSED_CLIENTS;
        }
        default_duration(&mut self.lame_duck_duration, DEFAULT_LAME_DUCK_DURATION);
        default_duration(
            &mut self.lame_duck_grace_period,
            DEFAULT_LAME_DUCK_GRACE_PERIOD,
        );
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

/// Warnings collected while reading the config file.
#[derive(Default)]
struct Report {
    warnings: Vec<String>,
    errors: Vec<String>,
}

// ----- Config file keys -----

impl Options {
    /// Applies one top-level key (`processConfigFileLine`).
    fn config_entry(&mut self, entry: &Entry, report: &mut Report) -> Result<(), String> {
        let key = entry.key.as_str();
        let v = &entry.value;
        match key.to_lowercase().as_str() {
            "listen" => (self.host, self.port) = listen(v)?,
            "host" | "net" => self.host = owned(v)?,
            "port" => self.port = int(v)?,
            "client_advertise" => self.client_advertise = owned(v)?,
            "server_name" => self.server_name = server_name(v)?,
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
            "disable_sublist_cache" | "no_sublist_cache" => {
                self.disable_sublist_cache = boolean(v)?;
            }
            "no_header_support" => self.no_header_support = boolean(v)?,
            "authorization" => self.config_authorization(v, report)?,
            "no_auth_user" => self.no_auth_user = owned(v)?,
            "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
                for item in string_items(v)? {
                    self.operators.push(
                        operator_token(&item)
                            .map_err(|e| format!("{}: error parsing operator JWT: {e}", v.pos))?,
                    );
                }
            }
            "trusted" | "trusted_keys" => {
                for key in string_items(v)? {
                    if !crate::auth::config::is_public_nkey(&key, b'O') {
                        return Err(format!(
                            "{}: trusted Keys {key:?} are required to be a valid public operator nkey",
                            v.pos
                        ));
                    }
                    self.trusted_keys.push(key);
                }
            }
            "resolver" | "account_resolver" | "accounts_resolver" => {
                self.resolver = Some(resolver(v)?);
            }
            "resolver_tls" => {
                let (tls, _) = crate::tls::config::parse_tls(v)?;
                crate::tls::config::resolver_client_config(&tls)
                    .map_err(|e| format!("{}: {e}", v.pos))?;
                self.resolver_tls = Some(tls);
            }
            "resolver_preload" => {
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
            }
            "server_tags" => {
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
            }
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
            "accounts" => {
                let (accounts, users) = crate::auth::config::parse_accounts(v)?;
                self.accounts = accounts;
                self.users.extend(users);
            }
            "http" => (self.http_host_configured, self.http_port) = listen(v)?,
            "https" => (self.http_host_configured, self.https_port) = listen(v)?,
            "http_port" | "monitor_port" => self.http_port = int(v)?,
            "https_port" => self.https_port = int(v)?,
            "http_base_path" => self.http_base_path = owned(v)?,
            "logfile" | "log_file" => self.log_file = owned(v)?,
            "logfile_size_limit" | "log_size_limit" => self.log_size_limit = int(v)?,
            "logfile_max_num" | "log_max_num" => self.log_max_num = int(v)?,
            "syslog" => self.syslog = boolean(v)?,
            "remote_syslog" => self.remote_syslog = owned(v)?,
            "pidfile" | "pid_file" => self.pid_file = owned(v)?,
            "ports_file_dir" => self.ports_file_dir = owned(v)?,
            "max_control_line" => self.max_control_line = int32_size(key, v)?,
            "max_payload" => self.max_payload = int32_size(key, v)?,
            "max_pending" => self.max_pending = int(v)?,
            "max_connections" | "max_conn" => self.max_connections = max_connections(v)?,
            "max_subscriptions" | "max_subs" => self.max_subscriptions = int(v)?,
            "max_sub_tokens" | "max_subscription_tokens" => {
                self.max_sub_tokens = max_sub_tokens(key, v)?;
            }
            "max_traced_msg_len" => self.max_traced_msg_len = int(v)?,
            "max_closed_clients" => self.max_closed_clients = int(v)?,
            "ping_interval" => self.ping_interval = duration("ping_interval", v, report)?,
            "ping_max" => self.ping_max = int(v)?,
            "write_deadline" => self.write_deadline = duration("write_deadline", v, report)?,
            "write_timeout" => self.write_timeout = write_timeout(v)?,
            "lame_duck_duration" => self.lame_duck_duration = lame_duck_duration(v)?,
            "lame_duck_grace_period" => self.lame_duck_grace_period = lame_duck_grace(v)?,
            "workers" => self.workers = workers(v)?,
            "tls" => self.config_tls(v)?,
            "allow_non_tls" => self.allow_non_tls = boolean(v)?,
            lower => self.config_other(entry, lower)?,
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
            "proxy_protocol" | "no_fast_producer_stall" => {
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
            "cluster" => self.cluster_listen_configured = cluster_has_listen(v),
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
fn unknown_field(entry: &Entry) -> String {
    format!(
        "{}: unknown field {}",
        entry.value.pos,
        go_quote(&entry.key)
    )
}

/// The error nats-server reports when a value has the wrong type: its Go
/// type assertion panics, and the panic becomes the error.
fn type_error(v: &Value, want: &str) -> String {
    format!(
        "{}: interface conversion: interface {{}} is {}, not {want}",
        v.pos,
        v.go_type_name()
    )
}

fn int(v: &Value) -> Result<i64, String> {
    v.as_int().ok_or_else(|| type_error(v, "int64"))
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| type_error(v, "bool"))
}

fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| type_error(v, "string"))
}

fn owned(v: &Value) -> Result<String, String> {
    string(v).map(str::to_string)
}

fn map(v: &Value) -> Result<&Map, String> {
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
        return Err(format!("not an operator JWT (type {:?})", claims.nats.kind));
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
fn listen(v: &Value) -> Result<(String, i64), String> {
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

fn write_timeout(v: &Value) -> Result<WriteTimeout, String> {
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
fn duration(field: &str, v: &Value, report: &mut Report) -> Result<Duration, String> {
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
fn auth_timeout(key: &str, v: &Value, report: &mut Report) -> Result<Duration, String> {
    let (secs, shown) = match &v.kind {
        ValueKind::Int(n) => (*n as f64, n.to_string()),
        ValueKind::Float(f) => (*f, go_float(*f)),
        ValueKind::Str(text) => {
            let nanos = parse_go_duration(text).map_err(|e| {
                format!(
                    "{}: error parsing authorization config, 'timeout' {e}",
                    v.pos
                )
            })?;
            (nanos as f64 / 1e9, text.clone())
        }
        _ => {
            return Err(format!(
                "{}: error parsing authorization config, 'timeout' wrong type",
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
            "{}: error parsing authorization config, 'timeout' needs to be positive",
            v.pos
        )
    })
}

/// Whether a `cluster` block gives a listen address (`listen`, `port` or
/// `host`), which `--routes` requires.
fn cluster_has_listen(v: &Value) -> bool {
    let Some(block) = v.as_map() else {
        return false;
    };
    block.iter().any(|e| match e.key.to_lowercase().as_str() {
        "listen" => true,
        "port" => e.value.as_int().is_some_and(|p| p != 0),
        "host" | "net" => e.value.as_str().is_some_and(|h| !h.is_empty()),
        _ => false,
    })
}

fn default_duration(value: &mut Duration, default: Duration) {
    if value.is_zero() {
        *value = default;
    }
}

// ----- Command-line flags -----

impl Options {
    /// Flags that simply replace a value (Go's second `fs.Parse`).
    fn apply_flag_values(&mut self, flags: &Flags) {
        set(&mut self.port, flags.port);
        set(&mut self.host, flags.host.clone());
        set(&mut self.server_name, flags.server_name.clone());
        set(&mut self.client_advertise, flags.client_advertise.clone());
        set(&mut self.debug, flags.debug);
        set(&mut self.trace, flags.trace);
        set(&mut self.logtime, flags.logtime);
        set(&mut self.logtime_utc, flags.logtime_utc);
        set(&mut self.authorization.user, flags.user.clone());
        set(&mut self.authorization.password, flags.pass.clone());
        set(&mut self.authorization.token, flags.auth.clone());
        set(&mut self.http_port, flags.http_port);
        set(&mut self.https_port, flags.https_port);
        set(&mut self.pid_file, flags.pid_file.clone());
        set(&mut self.ports_file_dir, flags.ports_file_dir.clone());
        set(&mut self.log_file, flags.log_file.clone());
        set(&mut self.log_size_limit, flags.log_size_limit);
        set(&mut self.syslog, flags.syslog);
        set(&mut self.remote_syslog, flags.remote_syslog.clone());
        set(&mut self.max_traced_msg_len, flags.max_traced_msg_len);
        if let Some(workers) = flags.workers {
            self.workers = Some(workers).filter(|&w| w > 0);
        }
        if flags.profile.is_some() {
            self.not_implemented("prof_port");
        }
        match flags.jetstream {
            Some(true) => self.not_implemented("jetstream"),
            Some(false) => self.forget_not_implemented("jetstream"),
            None => {}
        }
        if flags.store_dir.is_some() {
            self.not_implemented("store_dir");
        }
    }

    /// `-DV`, `-DVV` and `-VV`, which nats-server applies after the single
    /// flags, in this order.
    fn apply_flag_combinations(&mut self, flags: &Flags) {
        if let Some(on) = flags.debug_and_trace {
            (self.debug, self.trace) = (on, on);
        }
        if let Some(on) = flags.debug_and_trace_verbose {
            (self.debug, self.trace, self.trace_verbose) = (on, on, on);
        }
        if let Some(on) = flags.trace_and_verbose {
            (self.trace, self.trace_verbose) = (on, on);
        }
    }

    /// `--cluster`, `--routes` and the other cluster flags
    /// (`overrideCluster`).
    fn apply_flag_cluster(&mut self, flags: &Flags) -> Result<(), Error> {
        let others = flags.cluster_name.is_some()
            || flags.cluster_advertise.is_some()
            || flags.no_advertise.is_some()
            || flags.connect_retries.is_some();
        if others {
            self.not_implemented("cluster");
        }
        match flags.cluster_listen.as_deref() {
            // An empty value turns clustering off.
            Some("") => {
                self.cluster_listen_configured = false;
                self.forget_not_implemented("cluster");
            }
            Some(url) => {
                check_cluster_url(url).map_err(Error::Invalid)?;
                self.cluster_listen_configured = true;
                self.not_implemented("cluster");
            }
            None => {}
        }
        let routes = flags.routes.as_deref().unwrap_or_default();
        if !routes.is_empty() {
            if !self.cluster_listen_configured {
                return Err(Error::Invalid(
                    "solicited routes require cluster capabilities, e.g. --cluster".into(),
                ));
            }
            self.not_implemented("routes");
        }
        Ok(())
    }

    /// `--tls*` (`overrideTLS`): `--tls=false` turns TLS off; any other TLS
    /// flag rebuilds the certificate settings from the flags alone (the config's timeout,
    /// mapping and handshake settings stay, as in nats-server).
    fn apply_flag_tls(&mut self, flags: &Flags) -> Result<(), Error> {
        if flags.tls == Some(false) {
            self.tls = None;
            return Ok(());
        }
        let any = flags.tls.is_some()
            || flags.tls_verify.is_some()
            || flags.tls_cert.is_some()
            || flags.tls_key.is_some()
            || flags.tls_ca_cert.is_some();
        if !any {
            return Ok(());
        }
        if flags.tls_cert.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::Invalid(
                "TLS Server certificate must be present and valid".into(),
            ));
        }
        if flags.tls_key.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::Invalid(
                "TLS Server private key must be present and valid".into(),
            ));
        }
        let mut tls = crate::tls::TlsOptions::from_flags(
            self.tls.as_ref(),
            flags.tls_cert.as_deref().unwrap_or_default(),
            flags.tls_key.as_deref().unwrap_or_default(),
            flags.tls_ca_cert.as_deref().unwrap_or_default(),
            flags.tls_verify.unwrap_or(false),
        );
        tls.build().map_err(Error::Invalid)?;
        self.tls = Some(tls);
        Ok(())
    }
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

/// Checks a `--cluster` URL the way `overrideCluster` parses it:
/// `scheme://[user:pass@]host:port`, where port `-1` means random.
fn check_cluster_url(url: &str) -> Result<(), String> {
    let url = match url.strip_suffix(":-1") {
        Some(base) => format!("{base}:0"),
        None => url.to_string(),
    };
    // Without "://" Go's url.Parse finds no host at all.
    let authority = match url.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
        None => "",
    };
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (_, port) = go_split_host_port(host_port)?;
    if port.parse::<i64>().is_err() {
        return Err("expected integer".into());
    }
    if user_info.is_some_and(|u| !u.contains(':')) {
        return Err("expected cluster password to be set".into());
    }
    Ok(())
}

// ----- Reload -----

impl Options {
    /// Compares the running options with newly loaded ones (`diffOptions`).
    ///
    /// Returns what changed as `(option, new value)` pairs in nats-server's
    /// order, for `Reloaded: <option> = <value>` log lines. An empty value
    /// means the line has no ` = value` part (`Reloaded: authorization
    /// password`). A `port` of [`RANDOM_PORT`] in `new` means "keep the
    /// current port".
    ///
    /// # Errors
    ///
    /// The first change that can't be applied without a restart, as
    /// `config reload not supported for <Field>: old=<old>, new=<new>` with
    /// nats-server's field name. The whole reload must then be refused.
    pub fn diff_reloadable(&self, new: &Options) -> Result<Vec<(String, String)>, String> {
        let old = self;
        let mut diff = Diff::default();
        fixed("ConfigFile", &old.config_file, &new.config_file)?;
        fixed("ServerName", &old.server_name, &new.server_name)?;
        fixed("SystemAccount", &old.system_account, &new.system_account)?;
        fixed("Host", &old.host, &new.host)?;
        if new.port != RANDOM_PORT {
            fixed("Port", &old.port, &new.port)?;
        }
        let advertise = &new.client_advertise;
        diff.value(
            "client_advertise",
            &old.client_advertise,
            advertise,
            advertise,
        );
        diff.value("trace", &old.trace, &new.trace, new.trace);
        diff.value(
            "server_tags",
            &old.server_tags,
            &new.server_tags,
            format!("{:?}", new.server_tags),
        );
        diff.value(
            "server_metadata",
            &old.server_metadata,
            &new.server_metadata,
            format!("{:?}", new.server_metadata),
        );
        diff.value("debug", &old.debug, &new.debug, new.debug);
        diff.value(
            "trace_verbose",
            &old.trace_verbose,
            &new.trace_verbose,
            new.trace_verbose,
        );
        diff.value(
            "trace_headers",
            &old.trace_headers,
            &new.trace_headers,
            new.trace_headers,
        );
        let sublist = (&old.disable_sublist_cache, &new.disable_sublist_cache);
        fixed("NoSublistCache", sublist.0, sublist.1)?;
        fixed(
            "NoHeaderSupport",
            &old.no_header_support,
            &new.no_header_support,
        )?;
        diff.value("logtime", &old.logtime, &new.logtime, new.logtime);
        diff.value(
            "logtime_utc",
            &old.logtime_utc,
            &new.logtime_utc,
            new.logtime_utc,
        );
        let max_conn = new.max_connections;
        diff.value("max_connections", &old.max_connections, &max_conn, max_conn);
        fixed("MaxSubs", &old.max_subscriptions, &new.max_subscriptions)?;
        fixed("MaxSubTokens", &old.max_sub_tokens, &new.max_sub_tokens)?;
        // Dropping no_auth_user is allowed, any other change is not.
        if !new.no_auth_user.is_empty() || old.no_auth_user.is_empty() {
            fixed("NoAuthUser", &old.no_auth_user, &new.no_auth_user)?;
        }
        let (old_auth, new_auth) = (&old.authorization, &new.authorization);
        diff.value("authorization username", &old_auth.user, &new_auth.user, "");
        diff.value(
            "authorization password",
            &old_auth.password,
            &new_auth.password,
            "",
        );
        diff.value("authorization token", &old_auth.token, &new_auth.token, "");
        diff.value("authorization users", &old.users, &new.users, "");
        diff.value("accounts", &old.accounts, &new.accounts, "");
        let ping = go_duration_string(new.ping_interval);
        diff.value(
            "ping_interval",
            &old.ping_interval,
            &new.ping_interval,
            ping,
        );
        diff.value("ping_max", &old.ping_max, &new.ping_max, new.ping_max);
        fixed("HTTPHost", &old.http_host, &new.http_host)?;
        fixed("HTTPPort", &old.http_port, &new.http_port)?;
        fixed("HTTPBasePath", &old.http_base_path, &new.http_base_path)?;
        fixed("HTTPSPort", &old.https_port, &new.https_port)?;
        let auth = go_float(new.auth_timeout.as_secs_f64());
        diff.value(
            "authorization timeout",
            &old.auth_timeout,
            &new.auth_timeout,
            auth,
        );
        let mcl = new.max_control_line;
        diff.value("max_control_line", &old.max_control_line, &mcl, mcl);
        diff.value(
            "max_payload",
            &old.max_payload,
            &new.max_payload,
            new.max_payload,
        );
        fixed("MaxPending", &old.max_pending, &new.max_pending)?;
        old.diff_tls(new, &mut diff)?;
        diff.value("pid_file", &old.pid_file, &new.pid_file, &new.pid_file);
        let ports = &new.ports_file_dir;
        diff.value("ports_file_dir", &old.ports_file_dir, ports, ports);
        diff.value("log_file", &old.log_file, &new.log_file, &new.log_file);
        fixed("LogSizeLimit", &old.log_size_limit, &new.log_size_limit)?;
        fixed("LogMaxFiles", &old.log_max_num, &new.log_max_num)?;
        diff.value("syslog", &old.syslog, &new.syslog, new.syslog);
        let remote = &new.remote_syslog;
        diff.value("remote_syslog", &old.remote_syslog, remote, remote);
        let wd = go_duration_string(new.write_deadline);
        diff.value(
            "write_deadline",
            &old.write_deadline,
            &new.write_deadline,
            wd,
        );
        fixed("WriteTimeout", &old.write_timeout, &new.write_timeout)?;
        fixed(
            "MaxClosedClients",
            &old.max_closed_clients,
            &new.max_closed_clients,
        )?;
        let (old_ldm, new_ldm) = (old.lame_duck_duration, new.lame_duck_duration);
        fixed(
            "LameDuckDuration",
            &go_duration_string(old_ldm),
            &go_duration_string(new_ldm),
        )?;
        let (old_grace, new_grace) = (old.lame_duck_grace_period, new.lame_duck_grace_period);
        fixed(
            "LameDuckGracePeriod",
            &go_duration_string(old_grace),
            &go_duration_string(new_grace),
        )?;
        let traced = new.max_traced_msg_len;
        diff.value(
            "max_traced_msg_len",
            &old.max_traced_msg_len,
            &traced,
            traced,
        );
        fixed(
            "Workers",
            &workers_text(old.workers),
            &workers_text(new.workers),
        )?;
        Ok(diff.changes)
    }
}

impl Options {
    /// The TLS part of a reload (nats-server `reload.go`): certificates and settings, the
    /// timeout, pinned certs and handshake-first may change; mapping, `allow_non_tls` and the
    /// rate limit may not.
    fn diff_tls(&self, new: &Options, diff: &mut Diff) -> Result<(), String> {
        let (old_tls, new_tls) = (self.tls.as_ref(), new.tls.as_ref());
        let flag = |t: Option<&crate::tls::TlsOptions>, f: fn(&crate::tls::TlsOptions) -> bool| {
            t.is_some_and(f)
        };
        let timeout = |t: Option<&crate::tls::TlsOptions>| {
            t.map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout())
        };
        let server = |t: Option<&crate::tls::TlsOptions>| t.and_then(|t| t.server.clone());
        let state = if new_tls.is_some() {
            "enabled"
        } else {
            "disabled"
        };
        diff.value("tls", &server(old_tls), &server(new_tls), state);
        let shown = go_float(timeout(new_tls).as_secs_f64());
        diff.value("tls timeout", &timeout(old_tls), &timeout(new_tls), shown);
        let pins = |t: Option<&crate::tls::TlsOptions>| t.and_then(|t| t.pinned_certs.clone());
        let count = pins(new_tls).map_or(0, |p| p.len());
        diff.value(
            &format!("{count} pinned_certs"),
            &pins(old_tls),
            &pins(new_tls),
            "",
        );
        let first = |t: &crate::tls::TlsOptions| t.handshake_first;
        let (old_first, new_first) = (flag(old_tls, first), flag(new_tls, first));
        let name = format!("Client TLS handshake first: {new_first}");
        diff.value(&name, &old_first, &new_first, "");
        let fallback = |t: Option<&crate::tls::TlsOptions>| {
            t.map_or(Duration::ZERO, |t| t.handshake_first_fallback)
        };
        let name = format!(
            "Client TLS handshake first fallback delay: {}",
            go_duration_string(fallback(new_tls))
        );
        diff.value(&name, &fallback(old_tls), &fallback(new_tls), "");
        let map = |t: &crate::tls::TlsOptions| t.map;
        fixed("TLSMap", &flag(old_tls, map), &flag(new_tls, map))?;
        fixed("AllowNonTLS", &self.allow_non_tls, &new.allow_non_tls)?;
        let rate = |t: Option<&crate::tls::TlsOptions>| t.map_or(0, |t| t.rate_limit);
        fixed("TLSRateLimit", &rate(old_tls), &rate(new_tls))
    }
}

#[derive(Default)]
struct Diff {
    changes: Vec<(String, String)>,
}

impl Diff {
    /// Records a reloadable option if it changed.
    fn value<T: PartialEq + ?Sized>(
        &mut self,
        name: &str,
        old: &T,
        new: &T,
        shown: impl fmt::Display,
    ) {
        if old != new {
            self.changes.push((name.to_string(), shown.to_string()));
        }
    }
}

/// Fails if an option that needs a restart changed.
fn fixed<T: PartialEq + fmt::Display + ?Sized>(
    field: &str,
    old: &T,
    new: &T,
) -> Result<(), String> {
    if old == new {
        return Ok(());
    }
    Err(format!(
        "config reload not supported for {field}: old={old}, new={new}"
    ))
}

fn workers_text(workers: Option<usize>) -> String {
    workers.map(|w| w.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;

    fn config(text: &str) -> Result<(Options, Vec<String>), Error> {
        let map = conf::parse_str(text, None).expect("config text parses");
        Options::from_config(&map, None)
    }

    fn opts(text: &str) -> Options {
        match config(text) {
            Ok((opts, warnings)) => {
                assert!(warnings.is_empty(), "{text}: {warnings:?}");
                opts
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }

    /// The only error for `text`.
    fn error(text: &str) -> String {
        match config(text) {
            Ok(_) => panic!("{text}: no error"),
            Err(Error::Config { errors, .. }) if errors.len() == 1 => errors[0].clone(),
            Err(e) => panic!("{text}: {e:?}"),
        }
    }

    fn flags(list: &[&str]) -> Flags {
        let args: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        cli::parse(&args).expect("flags parse")
    }

    fn with_flags(text: &str, list: &[&str]) -> Result<Options, Error> {
        let mut opts = if text.is_empty() {
            Options::default()
        } else {
            opts(text)
        };
        opts.apply_flags(&flags(list))?;
        Ok(opts)
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gannet-opts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

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
    fn core_keys() {
        let o = opts(
            "host: 127.0.0.1\nport: 4333\nserver_name: srv-1\nclient_advertise: \"example.com:4333\"\n\
             debug: true\ntrace: yes\nlogtime: false\nlogtime_utc: on\nmax_payload: 2MB\n\
             max_pending: 100MB\nmax_control_line: 2KB\nmax_connections: 100\nmax_subscriptions: 10\n\
             max_sub_tokens: 16\nping_interval: \"30s\"\nping_max: 5\nwrite_deadline: \"2.5s\"\n\
             write_timeout: retry\nlame_duck_duration: \"1m\"\nlame_duck_grace_period: \"5s\"\n\
             no_header_support: true\ndisable_sublist_cache: true\nmax_closed_clients: 5\n\
             pid_file: /tmp/g.pid\nports_file_dir: /tmp\nlog_file: /tmp/g.log\nlog_size_limit: 1GB\n\
             log_max_num: 3\nsyslog: false\nremote_syslog: \"udp://h:514\"\nmax_traced_msg_len: 64\n\
             http_port: 8222\nhttps_port: 8443\nhttp_base_path: /mon\nno_auth_user: bob\nworkers: 3\n",
        );
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
        assert_eq!(o.server_name, "srv-1");
        assert_eq!(o.client_advertise, "example.com:4333");
        assert!(o.debug && o.trace && !o.logtime && o.logtime_utc);
        assert_eq!(
            (o.max_payload, o.max_pending, o.max_control_line),
            (2 << 20, 100 << 20, 2048)
        );
        assert_eq!(
            (o.max_connections, o.max_subscriptions, o.max_sub_tokens),
            (100, 10, 16)
        );
        assert_eq!((o.ping_interval, o.ping_max), (Duration::from_secs(30), 5));
        assert_eq!(o.write_deadline, Duration::from_millis(2500));
        assert_eq!(o.write_timeout, WriteTimeout::Retry);
        assert_eq!(o.lame_duck_duration, Duration::from_secs(60));
        assert_eq!(o.lame_duck_grace_period, Duration::from_secs(5));
        assert!(o.no_header_support && o.disable_sublist_cache);
        assert_eq!(o.max_closed_clients, 5);
        assert_eq!(o.pid_file, "/tmp/g.pid");
        assert_eq!(o.ports_file_dir, "/tmp");
        assert_eq!(o.log_file, "/tmp/g.log");
        assert_eq!((o.log_size_limit, o.log_max_num), (1 << 30, 3));
        assert_eq!(o.remote_syslog, "udp://h:514");
        assert_eq!(o.max_traced_msg_len, 64);
        assert_eq!(
            (o.http_host.as_str(), o.http_port, o.https_port),
            ("127.0.0.1", 8222, 8443)
        );
        assert_eq!(o.http_base_path, "/mon");
        assert_eq!(o.no_auth_user, "bob");
        assert_eq!(o.workers, Some(3));
        assert_eq!(opts("workers: 0").workers, None);
    }

    #[test]
    fn keys_are_case_insensitive_with_aliases() {
        let o = opts("NET: 10.0.0.1\nPort: 1\nMax_Conn: 7\nmax_subs: 3\nmonitor_port: 9\nlogfile: x\npidfile: p\n\
                      no_sublist_cache: true\nmax_subscription_tokens: 4\nlogfile_size_limit: 5\nlogfile_max_num: 6");
        assert_eq!(
            (o.host.as_str(), o.port, o.max_connections),
            ("10.0.0.1", 1, 7)
        );
        assert_eq!(
            (o.max_subscriptions, o.http_port, o.max_sub_tokens),
            (3, 9, 4)
        );
        assert_eq!((o.log_file.as_str(), o.pid_file.as_str()), ("x", "p"));
        assert!(o.disable_sublist_cache);
        assert_eq!((o.log_size_limit, o.log_max_num), (5, 6));
    }

    #[test]
    fn trace_verbose_and_headers_imply_trace() {
        let o = opts("trace_verbose: true");
        assert!(o.trace && o.trace_verbose);
        let o = opts("trace_headers: true");
        assert!(o.trace && o.trace_headers);
    }

    #[test]
    fn max_connections_zero_rejects_all() {
        assert_eq!(opts("max_connections: 0").max_connections, -1);
        assert_eq!(opts("max_conn: -5").max_connections, -5);
    }

    #[test]
    fn listen_forms() {
        let o = opts("listen: 127.0.0.1:4333");
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
        let o = opts("listen: \"[::1]:4333\"");
        assert_eq!((o.host.as_str(), o.port), ("::1", 4333));
        let o = opts("listen: 4333");
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4333));
        let o = opts("listen: \":-1\"");
        assert_eq!(o.port, RANDOM_PORT);
        let o = opts("http: \"127.0.0.1:8222\"");
        assert_eq!(
            (o.http_host.as_str(), o.http_port, o.host.as_str()),
            ("127.0.0.1", 8222, "0.0.0.0")
        );
        let o = opts("https: 8443\nhost: 10.1.1.1");
        assert_eq!((o.http_host.as_str(), o.https_port), ("10.1.1.1", 8443));
        assert_eq!(
            error("listen: localhost"),
            ":1:0: could not parse address string \"localhost\""
        );
        assert_eq!(
            error("listen: \"a:b:c\""),
            ":1:0: could not parse address string \"a:b:c\""
        );
        assert_eq!(
            error("listen: \"localhost:x\""),
            ":1:0: could not parse port \"x\""
        );
        assert_eq!(
            error("listen: true"),
            ":1:0: expected port or host:port, got bool"
        );
    }

    #[test]
    fn type_errors_are_go_interface_conversions() {
        assert_eq!(
            error("max_payload: \"1MB\""),
            ":1:0: interface conversion: interface {} is string, not int64"
        );
        assert_eq!(
            error("\nport: 2097152.5"),
            ":2:1: interface conversion: interface {} is float64, not int64"
        );
        assert_eq!(
            error("debug: \"true\""),
            ":1:0: interface conversion: interface {} is string, not bool"
        );
        assert_eq!(
            error("server_name: [a]"),
            ":1:0: interface conversion: interface {} is []interface {}, not string"
        );
        assert_eq!(
            error("authorization: 1"),
            ":1:0: interface conversion: interface {} is int64, not map[string]interface {}"
        );
    }

    #[test]
    fn unknown_fields() {
        assert_eq!(error("port: 4222\n  foo: 1"), ":2:3: unknown field \"foo\"");
        assert_eq!(
            error("authorization {\n  user: a\n  bogus: 1\n}"),
            ":3:3: unknown field \"bogus\""
        );
        assert_eq!(error("include: x"), ":1:0: unknown field \"include\"");
        // A defined and used variable is fine; defined and unused is not.
        assert_eq!(opts("X = 4223\nport: $X").port, 4223);
        assert_eq!(error("X = 4223\nport: 1"), ":1:0: unknown field \"X\"");
        let o = opts("authorization {\n  PASS = secret\n  user: a\n  password: $PASS\n}");
        assert_eq!(o.authorization.password, "secret");
    }

    #[test]
    fn all_errors_are_reported_together() {
        match config("a: 1\nb: 2\nport: x\nping_interval: 5") {
            Err(Error::Config { warnings, errors }) => {
                assert_eq!(errors.len(), 3, "{errors:?}");
                assert_eq!(warnings.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_implemented_keys_are_recorded() {
        let o = opts(
            "cluster { port: 6222 }\ngateway { name: a }\nleafnodes {}\njetstream: enabled\n\
             accounts { A: {} }\nsystem_account: SYS\nprof_port: 6060\n\
             server_tags: [a, b]\nmappings { a: b }\nauthorization { users = [] }\n",
        );
        assert_eq!(
            o.not_implemented,
            [
                "cluster",
                "gateway",
                "leafnodes",
                "jetstream",
                "prof_port",
                "mappings"
            ]
        );
        assert_eq!(
            error("prof_port: \"x\""),
            ":1:0: interface conversion: interface {} is string, not int64"
        );
        assert_eq!(
            error("system_account: 1"),
            ":1:0: system account name must be a string"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            opts("ping_interval: \"1m30s\"").ping_interval,
            Duration::from_secs(90)
        );
        assert_eq!(
            opts("ping_interval: \"250ms\"").ping_interval,
            Duration::from_millis(250)
        );
        assert_eq!(
            opts("ping_interval: \"1h30m\"").ping_interval,
            Duration::from_secs(5400)
        );
        assert_eq!(
            opts("ping_interval: 1m30s").ping_interval,
            Duration::from_secs(90)
        );
        assert_eq!(
            opts("write_deadline: 10s").write_deadline,
            Duration::from_secs(10)
        );
        let (o, warnings) = config("ping_interval: 5\nwrite_deadline: 3").unwrap();
        assert_eq!(
            (o.ping_interval, o.write_deadline),
            (Duration::from_secs(5), Duration::from_secs(3))
        );
        assert_eq!(
            warnings,
            [
                ":1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration",
                ":2:1: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"
            ]
        );
        assert_eq!(
            error("ping_interval: \"abc\""),
            ":1:0: error parsing ping_interval: time: invalid duration \"abc\""
        );
        assert_eq!(
            error("write_deadline: \"10\""),
            ":1:0: error parsing write_deadline: time: missing unit in duration \"10\""
        );
        assert_eq!(
            error("ping_interval: \"2x\""),
            ":1:0: error parsing ping_interval: time: unknown unit \"x\" in duration \"2x\""
        );
        // Unquoted 2m is the integer 2000000: seconds, with a warning.
        let (o, warnings) = config("ping_interval: 2m").unwrap();
        assert_eq!(
            (o.ping_interval, warnings.len()),
            (Duration::from_secs(2_000_000), 1)
        );
    }

    #[test]
    fn lame_duck_rules() {
        assert_eq!(
            error("lame_duck_duration: \"5s\""),
            ":1:0: invalid lame_duck_duration of 5s, minimum is 30 seconds"
        );
        assert_eq!(
            error("lame_duck_grace_period: \"-1s\""),
            ":1:0: invalid lame_duck_grace_period, needs to be positive"
        );
        assert_eq!(
            error("lame_duck_duration: 60"),
            ":1:0: interface conversion: interface {} is int64, not string"
        );
        assert_eq!(
            error("lame_duck_duration: \"x\""),
            ":1:0: error parsing lame_duck_duration: time: invalid duration \"x\""
        );
        let mut o = opts("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"");
        assert_eq!(
            o.apply_flags(&Flags::default()).unwrap_err().to_string(),
            "lame duck grace period (30s) should be strictly lower than lame duck duration (30s)"
        );
    }

    #[test]
    fn authorization_block() {
        let o = opts("authorization { user: derek, password: \"s3cr3t\", timeout: 1 }");
        assert_eq!(o.authorization.user, "derek");
        assert_eq!(o.authorization.password, "s3cr3t");
        assert_eq!(o.auth_timeout, Duration::from_secs(1));
        let o = opts("authorization { username: a, pass: b, timeout: 0.5 }");
        assert_eq!(
            (o.authorization.user.as_str(), o.auth_timeout),
            ("a", Duration::from_millis(500))
        );
        assert_eq!(
            opts("authorization { token: t, timeout: \"3s\" }").auth_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(opts("authorization { token: t }").authorization.token, "t");
        assert_eq!(
            error("authorization {\n  user: a\n  token: t\n}"),
            ":1:0: Cannot have a user/pass and token"
        );
        assert_eq!(
            error("authorization { user: a, users: [] }"),
            ":1:0: Can not have a single user/pass and a users array"
        );
        assert_eq!(
            error("authorization { token: a, users: [] }"),
            ":1:0: Can not have a token and a users array"
        );
        assert_eq!(
            error("authorization {\n timeout: true }"),
            ":2:2: error parsing authorization config, 'timeout' wrong type"
        );
        assert_eq!(
            error("authorization {\n timeout: \"x\" }"),
            ":2:2: error parsing authorization config, 'timeout' time: invalid duration \"x\""
        );
        let (o, warnings) = config("authorization {\n  timeout: 120\n}").unwrap();
        assert_eq!(o.auth_timeout, Duration::from_secs(120));
        assert_eq!(
            warnings,
            [":2:3: invalid use of field \"timeout\": timeout of 120 (120.000000 seconds) is high, \
             consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' \
             instead of 1m, for example"]
        );
        let o = opts(
            "authorization { users = [ {user: a} ], default_permissions: {}, auth_callout: {} }",
        );
        assert_eq!(o.not_implemented, ["authorization.auth_callout"]);
    }

    #[test]
    fn size_limits() {
        assert_eq!(
            error("max_payload: 3GB"),
            ":1:0: max_payload value is too big"
        );
        assert_eq!(
            error("Max_Control_Line: 3GB"),
            ":1:0: Max_Control_Line value is too big"
        );
        assert_eq!(
            error("max_sub_tokens: 256"),
            ":1:0: max_sub_tokens value is too big"
        );
        assert_eq!(
            error("max_sub_tokens: 0"),
            ":1:0: max_sub_tokens value can not be negative"
        );
        assert_eq!(
            error("max_subscription_tokens: -1"),
            ":1:0: max_subscription_tokens value can not be negative"
        );
        assert_eq!(opts("max_sub_tokens: 255").max_sub_tokens, 255);
        let mut o = opts("max_payload: 100MB");
        assert_eq!(
            o.apply_flags(&Flags::default()).unwrap_err().to_string(),
            "max_payload (104857600) cannot be higher than max_pending (67108864)"
        );
        assert!(with_flags("max_payload: 100MB\nmax_pending: 200MB", &[]).is_ok());
    }

    #[test]
    fn misc_value_errors() {
        assert_eq!(
            error("server_name: \"a b\""),
            ":1:0: server name cannot contain spaces"
        );
        assert_eq!(
            error("write_timeout: \"sometimes\""),
            ":1:0: write_timeout must be 'default', 'close' or 'retry'"
        );
        assert_eq!(
            error("workers: -1"),
            ":1:0: workers value can not be negative"
        );
        assert_eq!(
            with_flags("", &["-n", "a b"]).unwrap_err().to_string(),
            "server name cannot contain spaces"
        );
    }

    #[test]
    fn empty_config_warns() {
        let (_, warnings) = Options::from_config(&Map::new(), Some(Path::new("x.conf"))).unwrap();
        assert_eq!(warnings, ["x.conf: config has no values or is empty"]);
    }

    #[test]
    fn realistic_nats_server_config() {
        let dir = temp_dir("realistic");
        let certs = crate::tls::config::test_certs::write(&dir);
        let text = r#"
# A production-style nats-server config.
server_name: "nats-1"
listen: 0.0.0.0:4222
http: 8222
max_payload: 2MB
max_connections: 10K
ping_interval: "20s"
write_deadline: "5s"
lame_duck_duration: "2m"
lame_duck_grace_period: "10s"
logtime: true
debug: false

tls {
  cert_file: "CERT"
  key_file:  "KEY"
  ca_file:   "CA"
  verify:    true
  timeout:   2
}

authorization {
  timeout: 2
}

SYS_PASS = "sys-secret"
accounts {
  SYS: { users: [ { user: sys, password: $SYS_PASS } ] }
  APP: {
    jetstream: enabled
    users: [
      { user: app, password: "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS",
        permissions: { publish: { allow: ["app.>"] }, subscribe: ["app.>", "_INBOX.>"] } }
    ]
    exports: [ { service: "svc.>" } ]
  }
}
system_account: SYS

jetstream {
  store_dir: "/data/jetstream"
  max_mem: 1G
  max_file: 100G
}

cluster {
  name: "c1"
  listen: 0.0.0.0:6222
  routes: [
    nats-route://nats-2:6222
    nats-route://nats-3:6222
  ]
  authorization { user: route, password: routepass, timeout: 1 }
}

leafnodes { port: 7422 }
websocket { port: 8080, no_tls: true }
mqtt { port: 1883 }
server_tags: ["az:1", "region:eu"]
"#;
        let text = text
            .replace("CERT", &certs.cert.display().to_string())
            .replace("KEY", &certs.key.display().to_string())
            .replace("CA", &certs.ca.display().to_string());
        let o = opts(&text);
        assert!(o.tls.as_ref().is_some_and(|t| t.verify));
        assert_eq!(o.server_name, "nats-1");
        assert_eq!(
            (o.port, o.http_port, o.max_connections),
            (4222, 8222, 10_000)
        );
        assert_eq!(o.ping_interval, Duration::from_secs(20));
        assert_eq!(
            o.not_implemented,
            ["jetstream", "cluster", "leafnodes", "websocket", "mqtt",]
        );
        assert_eq!(o.server_tags, ["az:1", "region:eu"]);
        // --routes works since the config has a cluster listener.
        let mut o = o;
        o.apply_flags(&flags(&["--routes", "nats://x:6222"]))
            .unwrap();
        assert!(o.not_implemented.contains(&"routes".to_string()));
    }

    #[test]
    fn flags_override_config() {
        let text = "port: 1\nhost: 10.0.0.1\ndebug: true\nlogtime: false\n\
                    authorization { user: a, password: b }\nserver_name: s1\npid_file: p";
        let o = with_flags(
            text,
            &[
                "-p",
                "2",
                "-a",
                "127.0.0.1",
                "-D=false",
                "--user",
                "u",
                "--pass",
                "p2",
                "-n",
                "s2",
                "-P",
                "",
            ],
        )
        .unwrap();
        assert_eq!((o.port, o.host.as_str(), o.debug), (2, "127.0.0.1", false));
        assert_eq!(
            (
                o.authorization.user.as_str(),
                o.authorization.password.as_str()
            ),
            ("u", "p2")
        );
        assert_eq!(o.server_name, "s2");
        assert_eq!(o.pid_file, "");
        // Flags not given leave the config alone, including logtime=false.
        let o = with_flags(text, &["-V"]).unwrap();
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.port, 1);
        // The monitoring host follows the client host unless configured.
        assert_eq!(
            with_flags("", &["-a", "127.0.0.2"]).unwrap().http_host,
            "127.0.0.2"
        );
        assert_eq!(
            with_flags("", &["--auth", "tok"])
                .unwrap()
                .authorization
                .token,
            "tok"
        );
        assert_eq!(
            with_flags("", &["--workers", "2"]).unwrap().workers,
            Some(2)
        );
    }

    #[test]
    fn combined_log_flags() {
        let o = with_flags("", &["-DV"]).unwrap();
        assert!(o.debug && o.trace && !o.trace_verbose);
        let o = with_flags("", &["-DVV"]).unwrap();
        assert!(o.debug && o.trace && o.trace_verbose);
        let o = with_flags("", &["-VV"]).unwrap();
        assert!(!o.debug && o.trace && o.trace_verbose);
        // -DV=false wins over -D, as in nats-server.
        let o = with_flags("", &["-D", "-DV=false"]).unwrap();
        assert!(!o.debug && !o.trace);
        let o = with_flags("debug: true\ntrace: true", &["-DV=false"]).unwrap();
        assert!(!o.debug && !o.trace);
    }

    #[test]
    fn random_port_flag() {
        let o = with_flags("port: 5000", &["-p", "-1"]).unwrap();
        assert_eq!(o.port, RANDOM_PORT);
        // Applying again keeps it random, and -p 0 means the default.
        let mut again = o.clone();
        again.apply_flags(&Flags::default()).unwrap();
        assert_eq!(again.port, RANDOM_PORT);
        assert_eq!(with_flags("port: 5000", &["-p", "0"]).unwrap().port, 4222);
    }

    #[test]
    fn cluster_route_tls_and_jetstream_flags() {
        let o = with_flags(
            "",
            &[
                "--cluster",
                "nats://0.0.0.0:6222",
                "--routes",
                "nats://a:6222, nats://b:6222",
            ],
        )
        .unwrap();
        assert_eq!(o.not_implemented, ["cluster", "routes"]);
        assert!(with_flags("", &["--cluster", "nats://u:p@0.0.0.0:-1"]).is_ok());
        assert_eq!(
            with_flags("", &["--cluster", "nats://u@0.0.0.0:6222"])
                .unwrap_err()
                .to_string(),
            "expected cluster password to be set"
        );
        assert_eq!(
            with_flags("", &["--cluster", "nats://0.0.0.0"])
                .unwrap_err()
                .to_string(),
            "address 0.0.0.0: missing port in address"
        );
        assert_eq!(
            with_flags("", &["--routes", "nats://a:6222"])
                .unwrap_err()
                .to_string(),
            "solicited routes require cluster capabilities, e.g. --cluster"
        );
        assert!(with_flags("", &["--routes", ""]).is_ok());
        let o = with_flags("cluster { port: 6222 }", &["--cluster", ""]).unwrap();
        assert!(o.not_implemented.is_empty());

        assert_eq!(
            with_flags("", &["--tls"]).unwrap_err().to_string(),
            "TLS Server certificate must be present and valid"
        );
        assert_eq!(
            with_flags("", &["--tlscert", "c"]).unwrap_err().to_string(),
            "TLS Server private key must be present and valid"
        );
        assert_eq!(
            with_flags("", &["--tlscert", "c", "--tlskey", "k", "--tlsverify"])
                .unwrap_err()
                .to_string(),
            "error parsing X509 certificate/key pair: open c: no such file or directory"
        );
        let dir = temp_dir("tls-flags");
        let certs = crate::tls::config::test_certs::write(&dir);
        let (cert, key) = (certs.cert.display(), certs.key.display());
        let (cert, key, ca) = (
            cert.to_string(),
            key.to_string(),
            certs.ca.display().to_string(),
        );
        let conf = format!("tls {{ cert_file: \"{cert}\", key_file: \"{key}\", timeout: 5 }}");
        let o = with_flags(
            &conf,
            &[
                "--tlscert",
                &cert,
                "--tlskey",
                &key,
                "--tlsverify",
                "--tlscacert",
                &ca,
            ],
        )
        .unwrap();
        let tls = o.tls.as_ref().unwrap();
        assert!(tls.verify && tls.server.as_ref().unwrap().client_cert_required);
        // The config's timeout stays, and the auth timeout follows it.
        assert_eq!(
            (tls.timeout(), o.auth_timeout),
            (Duration::from_secs(5), Duration::from_secs(6))
        );
        let o = with_flags(&conf, &["--tls=false", "--tlscert", &cert]).unwrap();
        assert!(o.tls.is_none());
        assert_eq!(o.auth_timeout, Duration::from_secs(2));
        assert!(o.not_implemented.is_empty());

        let o = with_flags("", &["-js", "-sd", "/data", "--profile", "6060"]).unwrap();
        assert_eq!(o.not_implemented, ["prof_port", "jetstream", "store_dir"]);
        let o = with_flags("jetstream: true", &["-js=false"]).unwrap();
        assert!(o.not_implemented.is_empty());
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
            "Parse error on line 3: 'Expected a map value terminator ',' or a map terminator '}', but got 'p' instead.'"
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

    #[test]
    fn reload_diff() {
        let old = with_flags("port: 4222\nmax_payload: 1MB", &[]).unwrap();
        let new = with_flags(
            "port: 4222\nmax_payload: 2MB\ntrace: true\nping_interval: \"30s\"\n\
             authorization { user: a, password: b, timeout: 3 }\nlog_file: /tmp/x.log",
            &[],
        )
        .unwrap();
        let changes = old.diff_reloadable(&new).unwrap();
        let pairs: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("trace", "true"),
                ("authorization username", ""),
                ("authorization password", ""),
                ("ping_interval", "30s"),
                ("authorization timeout", "3"),
                ("max_payload", "2097152"),
                ("log_file", "/tmp/x.log"),
            ]
        );
        assert!(old.diff_reloadable(&old.clone()).unwrap().is_empty());
    }

    #[test]
    fn reload_diff_tls() {
        let dir = temp_dir("reload-tls");
        let certs = crate::tls::config::test_certs::write(&dir);
        let (cert, key) = (certs.cert.display(), certs.key.display());
        let conf =
            |extra: &str| format!("tls {{ cert_file: \"{cert}\", key_file: \"{key}\" {extra} }}\n");
        let old = with_flags(&conf(""), &[]).unwrap();
        assert_eq!(old.auth_timeout, Duration::from_secs(3));
        assert!(old
            .diff_reloadable(&with_flags(&conf(""), &[]).unwrap())
            .unwrap()
            .is_empty());
        let new = with_flags(
            &conf(", timeout: 4, handshake_first: true, pinned_certs: [\"00000000000000000000000000000000000000000000000000000000000000ff\"]"),
            &[],
        )
        .unwrap();
        let changes = old.diff_reloadable(&new).unwrap();
        let pairs: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("authorization timeout", "5"),
                ("tls timeout", "4"),
                ("1 pinned_certs", ""),
                ("Client TLS handshake first: true", ""),
            ]
        );
        // New certificate files' contents, same paths: the TLS config changed.
        crate::tls::config::test_certs::write(&dir);
        let renewed = with_flags(&conf(""), &[]).unwrap();
        let changes = old.diff_reloadable(&renewed).unwrap();
        assert_eq!(changes, [("tls".to_string(), "enabled".to_string())]);
        let none = with_flags("", &[]).unwrap();
        let changes = old.diff_reloadable(&none).unwrap();
        assert_eq!(changes[1], ("tls".to_string(), "disabled".to_string()));
        assert_eq!(
            old.diff_reloadable(&with_flags(&conf(", verify_and_map: true"), &[]).unwrap())
                .unwrap_err(),
            "config reload not supported for TLSMap: old=false, new=true"
        );
        let mixed = with_flags(&format!("{}allow_non_tls: true\n", conf("")), &[]).unwrap();
        assert_eq!(
            old.diff_reloadable(&mixed).unwrap_err(),
            "config reload not supported for AllowNonTLS: old=false, new=true"
        );
    }

    #[test]
    fn reload_refuses_fixed_options() {
        let old = with_flags("", &[]).unwrap();
        let refuse = |text: &str| {
            let new = with_flags(text, &[]).unwrap();
            old.diff_reloadable(&new).unwrap_err()
        };
        assert_eq!(
            refuse("max_pending: 100MB"),
            "config reload not supported for MaxPending: old=67108864, new=104857600"
        );
        assert_eq!(
            refuse("max_subs: 10"),
            "config reload not supported for MaxSubs: old=0, new=10"
        );
        assert_eq!(
            refuse("host: 127.0.0.1"),
            "config reload not supported for Host: old=0.0.0.0, new=127.0.0.1"
        );
        assert_eq!(
            refuse("port: 5000"),
            "config reload not supported for Port: old=4222, new=5000"
        );
        assert_eq!(
            refuse("server_name: x"),
            "config reload not supported for ServerName: old=, new=x"
        );
        assert_eq!(
            refuse("lame_duck_duration: \"1m\""),
            "config reload not supported for LameDuckDuration: old=2m0s, new=1m0s"
        );
        // A random port in the new config keeps the current one.
        let new = with_flags("port: -1", &[]).unwrap();
        assert!(old.diff_reloadable(&new).unwrap().is_empty());
        // no_auth_user may be removed but not added.
        let with_user = with_flags(
            "no_auth_user: bob\nauthorization { users = [{user: bob, password: x}] }",
            &[],
        )
        .unwrap();
        assert_eq!(
            with_user.diff_reloadable(&old).unwrap(),
            [("authorization users".to_string(), String::new())]
        );
        assert_eq!(
            old.diff_reloadable(&with_user).unwrap_err(),
            "config reload not supported for NoAuthUser: old=, new=bob"
        );
    }
}
