//! The `leafnodes { … }` block (also spelled `leaf`) as typed options: [`LeafOpts`] for the
//! leaf node listener and its authorization, [`RemoteLeafOpts`] for each remote this server
//! solicits, [`LeafUrl`] for their URLs, with nats-server's key names, aliases, defaults,
//! warnings and error texts.
//!
//! Mirrors, in nats-server v2.15.1, `parseLeafNodes`, `parseLeafAuthorization`,
//! `parseLeafUsers` and `parseRemoteLeafNodes` (config file) and the leaf node part of
//! `setBaselineOptions` in `server/opts.go`, and `validateLeafNode`,
//! `validateLeafNodeAuthOptions`, `validateLeafNodeProxyOptions` and
//! `checkLeafMinVersionConfig` (startup checks) in `server/leafnode.go`. Texts were checked
//! against the 2.15.1 binary, which differs from the source in the proxy checks.
//!
//! `config.rs` hands the block to `Options::config_leafnodes`; the parent module applies the
//! defaults (`LeafOpts::set_baseline`) and runs `LeafOpts::validate`; `crate::reload`
//! compares the leaf options of two configs. The remote `proxy`,
//! `jetstream_cluster_migrate`, `proxy_required` and the leaf write deadline are accepted
//! and listed in `Options::not_implemented`.

use std::fmt;
use std::time::Duration;

use crate::auth::config::{is_public_nkey, GLOBAL_ACCOUNT};
use crate::conf::{Entry, Pos, Value, ValueKind};
use crate::gofmt::{go_duration_string, go_float, go_quote, parse_go_duration, NANOS_PER_SEC};
use crate::tls::TlsOptions;

use super::cluster::{config_compression, go_url_parse, normalize_compression, url_host_port};
use super::config::{
    auth_timeout_of, boolean, duration, int, listen, owned, string, unknown_field, write_timeout,
    Report,
};
use super::{Options, WriteTimeout, AUTH_TIMEOUT_DEFAULT, HOST_DEFAULT};

/// The port of a remote URL that names none (`DEFAULT_LEAFNODE_PORT`).
pub const REMOTE_PORT_DEFAULT: u16 = 7422;
/// The delay before a remote is dialed again (`DEFAULT_LEAF_NODE_RECONNECT`).
pub const RECONNECT_DEFAULT: Duration = Duration::from_secs(1);
/// The TCP dial timeout of remotes (`DEFAULT_ROUTE_DIAL`).
pub const DIAL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(1);
/// How long a remote waits for the hub's first INFO (`DEFAULT_LEAFNODE_INFO_WAIT`).
pub const FIRST_INFO_TIMEOUT_DEFAULT: Duration = Duration::from_secs(1);
/// The compression mode when none is configured, and what `on`/`true` mean for leaf nodes.
pub const COMPRESSION_DEFAULT: &str = "s2_auto";
/// `s2_auto`'s RTT thresholds when none are configured
/// (`defaultCompressionS2AutoRTTThresholds`).
const S2_AUTO_RTTS_DEFAULT: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
];
/// The oldest version `min_version` may name: CONNECT carries the version since 2.8.0.
const MIN_VERSION_FLOOR: (i64, i64, i64) = (2, 8, 0);
/// How deep [`go_value_text`] prints nested arrays and maps.
const VALUE_TEXT_DEPTH_MAX: usize = 4;

/// `leafnodes { … }` as configured (nats-server `LeafNodeOpts`), defaults applied.
///
/// Defaults follow `setBaselineOptions`: with a listener (`port` not 0) the host defaults to
/// `0.0.0.0` and the auth timeout to 2 s (the TLS timeout plus 1 s with TLS); without one
/// they stay empty and zero, as in nats-server. `compression` is kept as configured; see
/// [`LeafOpts::compression_mode`] for the mode in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafOpts {
    /// Leaf listener host (`listen`, `host`/`net`); `0.0.0.0` by default when there is a port.
    pub host: String,
    /// Leaf listener port: 0 for no listener, [`RANDOM_PORT`](crate::opts::RANDOM_PORT) for a
    /// random one.
    pub port: i64,
    /// `advertise` / `leafnode_advertise`: the `host:port` put in `leafnode_urls`; empty when
    /// not set.
    pub advertise: String,
    /// `no_advertise`: keep this server's leaf URL out of what it gossips.
    pub no_advertise: bool,
    /// `authorization.user` / `username`: the single user soliciting servers must present.
    pub user: String,
    /// `authorization.password` / `pass`: plain text or a bcrypt hash.
    pub password: String,
    /// `authorization.nkey`: the single user public nkey soliciting servers must sign with.
    pub nkey: String,
    /// `authorization.account`: the account the single user or nkey binds; empty means `$G`.
    pub account: String,
    /// `authorization.users`: users with their own account. Not together with `user` or
    /// `nkey`.
    pub users: Vec<LeafUser>,
    /// `authorization.proxy_required` (not implemented).
    pub proxy_required: bool,
    /// `authorization.timeout`; with a listener by default 2 s, or the TLS timeout plus 1 s
    /// with TLS. Zero without a listener and without `timeout`.
    pub auth_timeout: Duration,
    /// `tls { … }` of the listener, parsed and its files loaded.
    pub tls: Option<TlsOptions>,
    /// `reconnect` / `reconnect_delay` / `reconnect_interval`: the delay before a remote is
    /// dialed again; 1 s by default.
    pub reconnect: Duration,
    /// `dial_timeout`: the TCP dial timeout of remotes without their own; 1 s by default.
    pub dial_timeout: Duration,
    /// `compression` as configured (`true` is stored as `s2_auto`, `false` as `off`); empty
    /// when not set, which means `s2_auto`. Checked at startup.
    pub compression: String,
    /// `compression.rtt_thresholds` (negative values as zero), for `s2_auto`.
    pub compression_rtt_thresholds: Vec<Duration>,
    /// `isolate_leafnode_interest` / `isolate`: accepted connections are not sent the
    /// interest of other leaf connections.
    pub isolate: bool,
    /// `min_version` / `minimum_version`: the oldest version a soliciting server may have;
    /// empty for any. At least 2.8.0.
    pub min_version: String,
    /// `write_deadline` (not implemented); `None` = the server's.
    pub write_deadline: Option<Duration>,
    /// `write_timeout` (not implemented); `None` = the server's.
    pub write_timeout: Option<WriteTimeout>,
    /// `remotes`: the connections this server solicits, in configured order.
    pub remotes: Vec<RemoteLeafOpts>,
}

/// One entry of `leafnodes.authorization.users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafUser {
    /// `user` / `username`.
    pub user: String,
    /// `password` / `pass`: plain text or a bcrypt hash.
    pub password: String,
    /// `account`: the account the connection binds; empty means `$G`.
    pub account: String,
    /// `proxy_required` (not implemented).
    pub proxy_required: bool,
}

/// One entry of `leafnodes.remotes` (nats-server `RemoteLeafOpts`), defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteLeafOpts {
    /// `url` / `urls`, in configured order, repeated URLs dropped. Any scheme is accepted as
    /// nats-server does; `ws`/`wss` mean the hub's WebSocket port (path `/leafnode`).
    pub urls: Vec<LeafUrl>,
    /// `account` / `local`: the local account bound to the connection, as configured; empty
    /// means `$G` (see [`RemoteLeafOpts::local_account`]).
    pub account: String,
    /// `credentials` / `creds`: the user JWT and seed file, `$VAR`s and `~` expanded.
    pub credentials: String,
    /// `nkey` / `seed`: a user seed. Not together with `credentials`.
    pub seed: String,
    /// `tls { … }`: the client side TLS settings, parsed and their files loaded.
    pub tls: Option<TlsOptions>,
    /// `hub`: this server is the hub of the connection.
    pub hub: bool,
    /// `deny_imports` / `deny_import`: subjects not received from the remote.
    pub deny_imports: Vec<String>,
    /// `deny_exports` / `deny_export`: subjects not sent to the remote.
    pub deny_exports: Vec<String>,
    /// `compression` as configured (`true` is stored as `s2_auto`); empty means `s2_auto`.
    pub compression: String,
    /// `compression.rtt_thresholds` (negative values as zero), for `s2_auto`.
    pub compression_rtt_thresholds: Vec<Duration>,
    /// `first_info_timeout`: how long to wait for the hub's INFO; 1 s by default.
    pub first_info_timeout: Duration,
    /// `dial_timeout`; `None` (also for a configured 0) = `leafnodes.dial_timeout`.
    pub dial_timeout: Option<Duration>,
    /// `disabled`: the remote is not dialed.
    pub disabled: bool,
    /// `no_randomize` / `dont_randomize`: try the URLs in configured order.
    pub no_randomize: bool,
    /// `ignore_discovered_servers`: only dial the configured URLs, not the hub's
    /// `leafnode_urls`.
    pub ignore_discovered_servers: bool,
    /// `isolate_leafnode_interest` / `isolate`: do not send the interest of other leaf
    /// connections to this remote.
    pub isolate: bool,
    /// `request_isolation`: ask the hub to isolate this connection (CONNECT `isolate`).
    pub request_isolation: bool,
    /// `ws_compression` and its aliases: ask a WebSocket hub for permessage-deflate.
    pub ws_compression: bool,
    /// `ws_no_masking` and its alias: ask a WebSocket hub to take unmasked frames.
    pub ws_no_masking: bool,
    /// `jetstream_cluster_migrate` / `js_cluster_migrate` (not implemented).
    pub jetstream_cluster_migrate: bool,
    /// `jetstream_cluster_migrate.leader_migrate_delay` (not implemented).
    pub jetstream_cluster_migrate_delay: Duration,
    /// `proxy { … }` (not implemented); empty when not set.
    pub proxy: LeafProxy,
}

impl Default for RemoteLeafOpts {
    /// A remote with nothing configured: no URL, `$G`, defaults.
    fn default() -> RemoteLeafOpts {
        RemoteLeafOpts {
            urls: Vec::new(),
            account: String::new(),
            credentials: String::new(),
            seed: String::new(),
            tls: None,
            hub: false,
            deny_imports: Vec::new(),
            deny_exports: Vec::new(),
            compression: String::new(),
            compression_rtt_thresholds: Vec::new(),
            first_info_timeout: FIRST_INFO_TIMEOUT_DEFAULT,
            dial_timeout: None,
            disabled: false,
            no_randomize: false,
            ignore_discovered_servers: false,
            isolate: false,
            request_isolation: false,
            ws_compression: false,
            ws_no_masking: false,
            jetstream_cluster_migrate: false,
            jetstream_cluster_migrate_delay: Duration::ZERO,
            proxy: LeafProxy::default(),
        }
    }
}

/// A remote's `proxy { … }`: the HTTP proxy of websocket remotes (not implemented).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeafProxy {
    /// `url`: `http://` or `https://` and a host; empty when there is no proxy.
    pub url: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `timeout`.
    pub timeout: Duration,
    /// `tls { … }`, for an `https://` proxy.
    pub tls: Option<TlsOptions>,
}

/// A remote URL: `scheme://[user[:password]@]host[:port]`, the port 7422 when not given.
///
/// `Display` shows it as nats-server prints a URL, without the user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafUrl {
    /// The URL as configured, without surrounding white space.
    pub raw: String,
    /// The scheme, lower-cased: `nats-leaf`, `nats`, `tls`, `ws`, `wss`, or any other (not
    /// checked, as in nats-server).
    pub scheme: String,
    /// The user name from the URL (unescaped); empty if none.
    pub user: String,
    /// The password from the URL (unescaped); empty if none.
    pub password: String,
    /// The user info had a password part (`user:password@`). Without one nats-server sends
    /// the user as `auth_token` too.
    pub has_password: bool,
    /// The host, without the brackets of an IPv6 address.
    pub host: String,
    /// The port; [`REMOTE_PORT_DEFAULT`] when the URL has none, 0 when it is above 65535.
    pub port: u16,
    /// The path as written (no query or fragment); a WebSocket remote puts `/leafnode`
    /// after it.
    pub path: String,
}

/// How [`LeafUrl::go_text`] shows the user info.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UserInfo {
    /// Not at all.
    Omit,
    /// With the password as `xxxxx` (nats-server `redactURLList`).
    Redacted,
    /// As configured.
    Plain,
}

impl LeafUrl {
    /// Parses a remote URL as nats-server does (`parseURL`: Go's `url.Parse` of the trimmed
    /// text). Whatever Go accepts is accepted.
    ///
    /// # Errors
    ///
    /// nats-server's `error parsing leafnode url ["<url>"]` when Go's `url.Parse` refuses it.
    pub fn parse(s: &str) -> Result<LeafUrl, String> {
        let raw = s.trim();
        let url = go_url_parse(raw)
            .map_err(|_| format!("error parsing leafnode url [{}]", go_quote(raw)))?;
        let (host, port) = url_host_port(&url.host);
        let (host, port) = (host.to_string(), port.to_string());
        let port = if port.is_empty() {
            REMOTE_PORT_DEFAULT
        } else {
            port.parse().unwrap_or(0)
        };
        let path = if url.authority {
            url.tail
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            String::new()
        };
        Ok(LeafUrl {
            path,
            raw: raw.to_string(),
            scheme: url.scheme,
            user: url.user,
            has_password: url.password.is_some(),
            password: url.password.unwrap_or_default(),
            host,
            port,
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

    /// A websocket URL: the scheme starts with `ws` (nats-server `isWSURL`).
    pub fn is_websocket(&self) -> bool {
        self.scheme.starts_with("ws")
    }

    /// The URL as Go's `URL.String` prints it, `defaulted` with the port nats-server adds at
    /// startup (before that, the duplicate check of the config file sees the URL as
    /// written).
    fn go_text(&self, userinfo: UserInfo, defaulted: bool) -> String {
        let Ok(url) = go_url_parse(&self.raw) else {
            return self.raw.clone();
        };
        let mut out = String::new();
        if !url.scheme.is_empty() {
            out.push_str(&url.scheme);
            out.push(':');
        }
        if !url.authority && !url.scheme.is_empty() && !url.tail.starts_with('/') {
            // Opaque (`nats:host:1`): Go prints what follows the scheme as it came.
            out.push_str(&url.tail);
            return out;
        }
        let mut host = url.host.clone();
        if defaulted && url_host_port(&url.host).1.is_empty() {
            host = join_host_port(&url.host, REMOTE_PORT_DEFAULT);
        }
        let user = match userinfo {
            _ if !url.has_user => None,
            UserInfo::Omit => None,
            UserInfo::Redacted => Some(userinfo_text(
                &url.user,
                url.password.as_ref().map(|_| "xxxxx"),
            )),
            UserInfo::Plain => Some(userinfo_text(&url.user, url.password.as_deref())),
        };
        let path = url.tail.split(['?', '#']).next().unwrap_or("");
        if !url.scheme.is_empty() || !host.is_empty() || user.is_some() {
            if !host.is_empty() || !path.is_empty() || user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &user {
                out.push_str(user);
                out.push('@');
            }
            out.push_str(&host.replace('%', "%25"));
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&url.tail);
        out
    }
}

impl fmt::Display for LeafUrl {
    /// The URL without user info, the default port added.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.go_text(UserInfo::Omit, true))
    }
}

impl Default for LeafOpts {
    /// The leaf options of a server without a `leafnodes` block (nats-server's zero value
    /// with its baseline): no listener, no remotes, defaults.
    fn default() -> LeafOpts {
        let mut leaf = LeafOpts::unset();
        leaf.set_baseline();
        leaf
    }
}

impl LeafOpts {
    /// Go's zero value, before any default.
    fn unset() -> LeafOpts {
        LeafOpts {
            host: String::new(),
            port: 0,
            advertise: String::new(),
            no_advertise: false,
            user: String::new(),
            password: String::new(),
            nkey: String::new(),
            account: String::new(),
            users: Vec::new(),
            proxy_required: false,
            auth_timeout: Duration::ZERO,
            tls: None,
            reconnect: Duration::ZERO,
            dial_timeout: Duration::ZERO,
            compression: String::new(),
            compression_rtt_thresholds: Vec::new(),
            isolate: false,
            min_version: String::new(),
            write_deadline: None,
            write_timeout: None,
            remotes: Vec::new(),
        }
    }

    /// The listener compression mode, normalized as nats-server does
    /// (`validateAndNormalizeCompressionOption`, `on` meaning `s2_auto`): one of
    /// `not supported`, `off`, `accept`, `s2_auto`, `s2_fast`, `s2_better`, `s2_best`;
    /// `s2_auto` when none is configured.
    ///
    /// # Errors
    ///
    /// nats-server's text for an unknown mode (`unsupported compression mode "x"`) or for
    /// unusable `s2_auto` RTT thresholds.
    pub fn compression_mode(&self) -> Result<&'static str, String> {
        leaf_compression_mode(&self.compression, &self.compression_rtt_thresholds)
    }

    /// The local accounts these options bind connections to, each with where it is named
    /// (`"authorization"` or `"remote"`), in the order nats-server checks them: the single
    /// user's `account` (empty for `$G`), the users' accounts (those set), then each remote's
    /// [`RemoteLeafOpts::local_account`].
    pub fn local_accounts(&self) -> Vec<(&str, &'static str)> {
        let mut accounts = vec![(self.account.as_str(), "authorization")];
        let users = self.users.iter().filter(|u| !u.account.is_empty());
        accounts.extend(users.map(|u| (u.account.as_str(), "authorization")));
        accounts.extend(self.remotes.iter().map(|r| (r.local_account(), "remote")));
        accounts
    }

    /// nats-server's check that the local accounts exist, without operators
    /// (`validateLeafNode`): `exists` says whether an account is known. nats-server counts
    /// the configured accounts, `$G`, the empty name and, when `system_account` is not set
    /// and the system account is not disabled, `$SYS`. It runs after the duplicate-remote
    /// check and before the compression checks of `LeafOpts::validate`.
    ///
    /// # Errors
    ///
    /// `cannot find local account "<a>" specified in leafnode <authorization|remote>`.
    pub fn check_local_accounts(&self, exists: impl Fn(&str) -> bool) -> Result<(), String> {
        for (account, named_in) in self.local_accounts() {
            if !exists(account) {
                return Err(format!(
                    "cannot find local account {} specified in leafnode {named_in}",
                    go_quote(account)
                ));
            }
        }
        Ok(())
    }

    /// nats-server's listener compression as its reload logs it (`{mode [rtts]}`): the
    /// normalized mode (the default only with a listener) and the RTT thresholds in effect.
    pub(crate) fn compression_text(&self) -> String {
        let unset = (self.port != 0).then_some(COMPRESSION_DEFAULT);
        compression_text(&self.compression, &self.compression_rtt_thresholds, unset)
    }

    /// Fills in the defaults (`setBaselineOptions`). Safe to run more than once.
    pub(super) fn set_baseline(&mut self) {
        if self.port != 0 {
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
        for remote in &mut self.remotes {
            if remote.first_info_timeout.is_zero() {
                remote.first_info_timeout = FIRST_INFO_TIMEOUT_DEFAULT;
            }
        }
        if self.reconnect.is_zero() {
            self.reconnect = RECONNECT_DEFAULT;
        }
        if self.dial_timeout.is_zero() {
            self.dial_timeout = DIAL_TIMEOUT_DEFAULT;
        }
    }

    /// nats-server's startup checks of the leaf node options (`validateLeafNode`), except
    /// the existence of local accounts ([`LeafOpts::check_local_accounts`]), FIPS and the
    /// checks that need gateways. `operator_mode`: trusted operators are configured.
    ///
    /// # Errors
    ///
    /// nats-server's text, without position.
    pub(crate) fn validate(&self, operator_mode: bool) -> Result<(), String> {
        check_leaf_users(self)?;
        let mut names: Vec<String> = Vec::new();
        for remote in &self.remotes {
            let safe = || remote.safe_name();
            check_subjects(&remote.deny_imports)
                .map_err(|e| format!("invalid deny_imports for remote {}: {e}", safe()))?;
            check_subjects(&remote.deny_exports)
                .map_err(|e| format!("invalid deny_exports for remote {}: {e}", safe()))?;
            let name = remote.name();
            if names.contains(&name) {
                return Err(format!("duplicate remote {}", safe()));
            }
            names.push(name);
        }
        if operator_mode {
            self.validate_operator_mode()?;
        }
        if !self.compression.is_empty() {
            self.compression_mode()?;
        }
        for remote in &self.remotes {
            check_proxy(remote, false, true)?;
            check_websocket_mix(remote)?;
            if !remote.compression.is_empty() {
                remote.compression_mode()?;
            }
        }
        if self.port != 0 && !self.min_version.is_empty() {
            check_min_version(&self.min_version)?;
        }
        Ok(())
    }

    /// The operator-mode rules of `validateLeafNode`: no users, remotes bound to account
    /// public keys, and the listener's account too.
    fn validate_operator_mode(&self) -> Result<(), String> {
        if !self.users.is_empty() {
            return Err("operator mode does not allow specifying users in leafnode config".into());
        }
        if self
            .remotes
            .iter()
            .any(|r| !is_public_nkey(r.local_account(), b'A'))
        {
            return Err("operator mode requires account nkeys in remotes. \
                 Please add an `account` key to each remote in your `leafnodes` section, to assign it to an account. \
                 Each account value should be a 56 character public key, starting with the letter 'A'"
                .into());
        }
        if self.port != 0 && !self.account.is_empty() && !is_public_nkey(&self.account, b'A') {
            return Err("operator mode and non account nkeys are incompatible".into());
        }
        Ok(())
    }
}

impl RemoteLeafOpts {
    /// The local account: `account`, or `$G` when it is empty.
    pub fn local_account(&self) -> &str {
        if self.account.is_empty() {
            GLOBAL_ACCOUNT
        } else {
            &self.account
        }
    }

    /// The compression mode of this remote, normalized like [`LeafOpts::compression_mode`];
    /// `s2_auto` when none is configured.
    ///
    /// # Errors
    ///
    /// As [`LeafOpts::compression_mode`].
    pub fn compression_mode(&self) -> Result<&'static str, String> {
        leaf_compression_mode(&self.compression, &self.compression_rtt_thresholds)
    }

    /// Any URL is a websocket URL.
    pub fn is_websocket(&self) -> bool {
        self.urls.iter().any(LeafUrl::is_websocket)
    }

    /// nats-server's name of the remote (`RemoteLeafOpts.name`): its URLs with the default
    /// port, its account and its credentials file or seed. Two remotes with the same name
    /// are one remote twice; a reload matches remotes by name.
    pub(crate) fn name(&self) -> String {
        self.name_text(UserInfo::Plain, true)
    }

    /// [`RemoteLeafOpts::name`] with passwords and the seed hidden, for messages
    /// (`safeName`).
    pub(crate) fn safe_name(&self) -> String {
        self.name_text(UserInfo::Redacted, true)
    }

    /// The remote's compression as nats-server's reload logs it (`{mode [rtts]}`).
    pub(crate) fn compression_text(&self) -> String {
        let (mode, rtts) = (&self.compression, &self.compression_rtt_thresholds);
        compression_text(mode, rtts, Some(COMPRESSION_DEFAULT))
    }

    /// `urls=["…"], account="…"[, credentials="…" | , nkey="…"]`.
    fn name_text(&self, userinfo: UserInfo, defaulted: bool) -> String {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| go_quote(&u.go_text(userinfo, defaulted)))
            .collect();
        let mut name = format!(
            "urls=[{}], account={}",
            urls.join(" "),
            go_quote(self.local_account())
        );
        if !self.credentials.is_empty() {
            name.push_str(&format!(", credentials={}", go_quote(&self.credentials)));
        } else if !self.seed.is_empty() {
            match userinfo {
                UserInfo::Plain => name.push_str(&format!(", nkey={}", go_quote(&self.seed))),
                _ => name.push_str(", nkey=\"[REDACTED]\""),
            }
        }
        name
    }
}

/// A leaf compression mode (listener or remote), `s2_auto` when not configured.
fn leaf_compression_mode(mode: &str, rtts: &[Duration]) -> Result<&'static str, String> {
    if mode.is_empty() {
        return Ok(COMPRESSION_DEFAULT);
    }
    normalize_compression(mode, rtts, COMPRESSION_DEFAULT)
}

/// Go's `%v` of a validated `CompressionOpts`: `{s2_auto [10ms 50ms 100ms]}`, `{off []}`.
/// `unset` is the mode nats-server gives an empty one (none for a leaf block without
/// listener: `{ []}`).
fn compression_text(mode: &str, rtts: &[Duration], unset: Option<&'static str>) -> String {
    let configured = if mode.is_empty() {
        unset.unwrap_or("")
    } else {
        mode
    };
    let normalized = match configured {
        "" => String::new(),
        _ => normalize_compression(configured, rtts, COMPRESSION_DEFAULT)
            .map_or_else(|_| configured.to_string(), str::to_string),
    };
    let rtts: Vec<Duration> = match (normalized.as_str(), rtts.is_empty()) {
        ("s2_auto", true) => S2_AUTO_RTTS_DEFAULT.to_vec(),
        ("s2_auto", false) => {
            let kept = rtts.iter().rposition(|d| !d.is_zero()).map_or(0, |i| i + 1);
            rtts[..kept].to_vec()
        }
        _ => rtts.to_vec(),
    };
    let shown: Vec<String> = rtts.iter().map(|d| go_duration_string(*d)).collect();
    format!("{{{normalized} [{}]}}", shown.join(" "))
}

// ---------------------------------------------------------------------------------------
// The config block (`parseLeafNodes`).

impl Options {
    /// `leafnodes { … }` / `leaf { … }` (`parseLeafNodes`). As in nats-server, each bad key is
    /// reported (in `report`) and the others are still read, and a second block adds to the
    /// first.
    pub(super) fn config_leafnodes(
        &mut self,
        v: &Value,
        report: &mut Report,
    ) -> Result<(), String> {
        let Some(entries) = v.as_map() else {
            return Err(format!(
                "{}: Expected map to define a leafnode, got {}",
                v.pos,
                v.go_type_name()
            ));
        };
        let mut leaf = self.leafnodes.take().unwrap_or_else(LeafOpts::unset);
        self.apply_block(&mut leaf, entries, report, leaf_entry);
        self.leafnodes = Some(leaf);
        Ok(())
    }
}

/// One key of the `leafnodes` block.
fn leaf_entry(
    leaf: &mut LeafOpts,
    entry: &Entry,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let lower = entry.key.to_lowercase();
    if leaf_listener_key(leaf, entry, &lower, report, unimplemented)?
        || leaf_link_key(leaf, entry, &lower, report, unimplemented)?
    {
        return Ok(());
    }
    if entry.used_as_variable {
        return Ok(());
    }
    Err(unknown_field(entry))
}

/// The listener keys: address, authorization, TLS, advertising, minimum version.
/// `Ok(false)` if `lower` is none of them.
fn leaf_listener_key(
    leaf: &mut LeafOpts,
    entry: &Entry,
    lower: &str,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<bool, String> {
    let v = &entry.value;
    match lower {
        "listen" => (leaf.host, leaf.port) = listen(v)?,
        "port" => leaf.port = int(v)?,
        "host" | "net" => leaf.host = owned(v)?,
        "authorization" => leaf_authorization(leaf, v, report, unimplemented)?,
        "tls" => leaf.tls = Some(leaf_tls(v, "leafnodes.", unimplemented)?),
        "leafnode_advertise" | "advertise" => leaf.advertise = owned(v)?,
        "no_advertise" => leaf.no_advertise = boolean(v)?,
        "min_version" | "minimum_version" => {
            let version = owned(v)?;
            check_min_version(&version).map_err(|e| format!("{}: {e}", v.pos))?;
            leaf.min_version = version;
        }
        "isolate_leafnode_interest" | "isolate" => leaf.isolate = boolean(v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The keys about links: remotes, redial and dial timeouts, compression, write deadline.
/// `Ok(false)` if `lower` is none of them.
fn leaf_link_key(
    leaf: &mut LeafOpts,
    entry: &Entry,
    lower: &str,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<bool, String> {
    let v = &entry.value;
    match lower {
        "remotes" => leaf.remotes = leaf_remotes(v, report, unimplemented)?,
        "reconnect" | "reconnect_delay" | "reconnect_interval" => {
            leaf.reconnect = duration("reconnect", v, report)?;
        }
        "dial_timeout" => leaf.dial_timeout = duration("dial_timeout", v, report)?,
        "compression" => config_compression(
            &mut leaf.compression,
            &mut leaf.compression_rtt_thresholds,
            COMPRESSION_DEFAULT,
            entry,
        )?,
        "write_deadline" => {
            leaf.write_deadline = Some(duration("write_deadline", v, report)?);
            unimplemented.push("leafnodes.write_deadline".into());
        }
        "write_timeout" => {
            leaf.write_timeout = Some(write_timeout(v)?);
            unimplemented.push("leafnodes.write_timeout".into());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A `tls` block of the leaf options: parsed and its files loaded (`parseTLS`,
/// `GenTLSConfig`); keys Gannet ignores are recorded under `prefix`.
fn leaf_tls(
    v: &Value,
    prefix: &str,
    unimplemented: &mut Vec<String>,
) -> Result<TlsOptions, String> {
    let (mut tls, ignored) = crate::tls::config::parse_tls(v)?;
    tls.build().map_err(|e| format!("{}: {e}", v.pos))?;
    unimplemented.extend(ignored.into_iter().map(|key| format!("{prefix}{key}")));
    Ok(tls)
}

/// `min_version` (`checkLeafMinVersionConfig`): a semantic version, at least 2.8.0.
fn check_min_version(version: &str) -> Result<(), String> {
    let found = semver_components(version)
        .map_err(|e| format!("invalid leafnode's minimum version: {e}"))?;
    if found < MIN_VERSION_FLOOR {
        return Err("the minimum version should be at least 2.8.0".into());
    }
    Ok(())
}

/// Major, minor and patch of a semantic version (nats-server's `semVerRe` and
/// `versionComponents`): `X.Y.Z`, an optional `-prerelease` and `+build`.
fn semver_components(version: &str) -> Result<(i64, i64, i64), String> {
    let invalid = || String::from("invalid semver");
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let identifier =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if build.is_some_and(|b| !b.split('.').all(identifier)) {
        return Err(invalid());
    }
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let pre_identifier = |id: &str| {
        identifier(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric_identifier(id))
    };
    if pre.is_some_and(|p| !p.split('.').all(pre_identifier)) {
        return Err(invalid());
    }
    let parts: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = parts.as_slice() else {
        return Err(invalid());
    };
    if ![major, minor, patch].iter().all(|p| numeric_identifier(p)) {
        return Err(invalid());
    }
    Ok((atoi(major)?, atoi(minor)?, atoi(patch)?))
}

/// `0`, or digits without a leading zero.
fn numeric_identifier(id: &str) -> bool {
    id == "0" || (!id.is_empty() && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `strconv.Atoi` of digits.
fn atoi(digits: &str) -> Result<i64, String> {
    digits.parse().map_err(|_| {
        format!(
            "strconv.Atoi: parsing {}: value out of range",
            go_quote(digits)
        )
    })
}

// ---------------------------------------------------------------------------------------
// `leafnodes.authorization` (`parseLeafAuthorization`, `parseLeafUsers`).

/// The keys of `leafnodes.authorization`.
#[derive(Default)]
struct LeafAuth {
    user: String,
    password: String,
    nkey: String,
    account: String,
    proxy_required: bool,
    timeout: Duration,
    users: Vec<LeafUser>,
}

/// Why `leafnodes.authorization` could not be read.
enum AuthFailure {
    /// An error nats-server returns (the `timeout` value): the block is skipped.
    Returned(String),
    /// A value of the wrong type: nats-server recovers from the failed type assertion, and
    /// then fails again using the block it did not get.
    Panicked(String),
}

/// `leafnodes.authorization`: a single user or nkey bound to `account`, or `users`, and a
/// timeout. The single user (or nkey) and `users` exclude each other.
fn leaf_authorization(
    leaf: &mut LeafOpts,
    v: &Value,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let auth = match leaf_auth_block(v, report, unimplemented) {
        Ok(auth) => auth,
        Err(AuthFailure::Returned(message)) => return Err(message),
        Err(AuthFailure::Panicked(message)) => {
            report.errors.push(message);
            return Err(format!(
                "{}: runtime error: invalid memory address or nil pointer dereference",
                v.pos
            ));
        }
    };
    leaf.user = auth.user;
    leaf.password = auth.password;
    leaf.proxy_required = auth.proxy_required;
    leaf.auth_timeout = auth.timeout;
    leaf.account = auth.account;
    leaf.users = auth.users;
    leaf.nkey = auth.nkey;
    check_leaf_users(leaf).map_err(|e| format!("{}: {e}", v.pos))
}

/// The keys of `leafnodes.authorization`. Unknown keys and a bad `nkey` are reported and
/// the others still read.
fn leaf_auth_block(
    v: &Value,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<LeafAuth, AuthFailure> {
    let entries = super::config::map(v).map_err(AuthFailure::Panicked)?;
    let mut auth = LeafAuth::default();
    for e in entries {
        let mv = &e.value;
        let text = |mv: &Value| owned(mv).map_err(AuthFailure::Panicked);
        match e.key.to_lowercase().as_str() {
            "user" | "username" => auth.user = text(mv)?,
            "pass" | "password" => auth.password = text(mv)?,
            "nkey" => {
                auth.nkey = text(mv)?;
                if !is_public_nkey(&auth.nkey, b'U') {
                    report.errors.push(format!(
                        "{}: Not a valid public nkey for leafnode authorization",
                        mv.pos
                    ));
                }
            }
            "timeout" => {
                auth.timeout = auth_timeout_of("leafnode authorization", &e.key, mv, report)
                    .map_err(AuthFailure::Returned)?;
            }
            "users" => auth.users = leaf_users(mv, report, unimplemented),
            "account" => auth.account = text(mv)?,
            "proxy_required" => {
                auth.proxy_required = boolean(mv).map_err(AuthFailure::Panicked)?;
                unimplemented.push("leafnodes.authorization.proxy_required".into());
            }
            _ if e.used_as_variable => {}
            _ => report.errors.push(unknown_field(e)),
        }
    }
    Ok(auth)
}

/// `authorization.users` (`parseLeafUsers`): `user`, `password`, `account`,
/// `proxy_required` per entry. Problems are reported; a value of the wrong type leaves no
/// users, as in nats-server.
fn leaf_users(v: &Value, report: &mut Report, unimplemented: &mut Vec<String>) -> Vec<LeafUser> {
    let Some(items) = v.as_array() else {
        report.errors.push(format!(
            "{}: Expected users field to be an array, got {}",
            v.pos,
            go_value_text(v)
        ));
        return Vec::new();
    };
    let mut users = Vec::with_capacity(items.len());
    for item in items {
        let Some(fields) = item.as_map() else {
            report.errors.push(format!(
                "{}: Expected user entry to be a map/struct, got {}",
                item.pos,
                go_value_text(item)
            ));
            continue;
        };
        let mut user = LeafUser::default();
        for e in fields {
            match leaf_user_key(&mut user, e, unimplemented) {
                Ok(true) => {}
                Ok(false) if e.used_as_variable => {}
                Ok(false) => report.errors.push(unknown_field(e)),
                Err(message) => {
                    report.errors.push(message);
                    return Vec::new();
                }
            }
        }
        users.push(user);
    }
    users
}

/// One key of a leaf user. `Ok(false)` for an unknown key.
fn leaf_user_key(
    user: &mut LeafUser,
    e: &Entry,
    unimplemented: &mut Vec<String>,
) -> Result<bool, String> {
    let v = &e.value;
    match e.key.to_lowercase().as_str() {
        "user" | "username" => user.user = owned(v)?,
        "pass" | "password" => user.password = owned(v)?,
        "account" => user.account = owned(v)?,
        "proxy_required" => {
            user.proxy_required = boolean(v)?;
            unimplemented.push("leafnodes.authorization.users.proxy_required".into());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A single user or nkey and `users` exclude each other, and user names are unique
/// (`validateLeafNodeAuthOptions`).
fn check_leaf_users(leaf: &LeafOpts) -> Result<(), String> {
    if leaf.users.is_empty() {
        return Ok(());
    }
    if !leaf.user.is_empty() {
        return Err("can not have a single user/pass and a users array".into());
    }
    if !leaf.nkey.is_empty() {
        return Err("can not have a single nkey and a users array".into());
    }
    for (i, user) in leaf.users.iter().enumerate() {
        if leaf.users[..i].iter().any(|u| u.user == user.user) {
            return Err(format!(
                "duplicate user {} detected in leafnode authorization",
                go_quote(&user.user)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// `leafnodes.remotes` (`parseRemoteLeafNodes`).

/// Where a remote's `proxy` block was and what could not be kept of it, for the proxy
/// checks at the end of the remote.
#[derive(Default)]
struct ProxySeen {
    /// The position of the `proxy` key; `None` without one.
    pos: Option<Pos>,
    /// `timeout` was negative (kept as zero).
    timeout_negative: bool,
}

/// `remotes`: a list of remote maps. A remote named like an earlier one (same URLs,
/// account and credentials) is an error.
fn leaf_remotes(
    v: &Value,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<Vec<RemoteLeafOpts>, String> {
    let Some(items) = v.as_array() else {
        return Err(format!(
            "{}: Expected remotes field to be an array, got {}",
            v.pos,
            v.go_type_name()
        ));
    };
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    let mut remotes = Vec::with_capacity(items.len());
    for item in items {
        let Some(fields) = item.as_map() else {
            report.errors.push(format!(
                "{}: Expected remote leafnode entry to be a map/struct, got {}",
                item.pos,
                go_value_text(item)
            ));
            continue;
        };
        let mut remote = RemoteLeafOpts::default();
        let mut proxy = ProxySeen::default();
        for e in fields {
            if let Err(message) = remote_entry(&mut remote, &mut proxy, e, report, unimplemented) {
                report.errors.push(message);
            }
        }
        if let Some(pos) = &proxy.pos {
            if let Err(why) = check_proxy(&remote, proxy.timeout_negative, false) {
                report.errors.push(format!("{pos}: {why}"));
                continue;
            }
        }
        // nats-server reports at the last key it read.
        let last = fields.iter().last().map_or(&item.pos, |e| &e.value.pos);
        let name = remote.name_text(UserInfo::Plain, false);
        if names.contains(&name) {
            let safe = remote.name_text(UserInfo::Redacted, false);
            report
                .errors
                .push(format!("{last}: duplicate remote {safe}"));
            continue;
        }
        names.push(name);
        remotes.push(remote);
    }
    Ok(remotes)
}

/// One key of a remote.
fn remote_entry(
    remote: &mut RemoteLeafOpts,
    proxy: &mut ProxySeen,
    e: &Entry,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let lower = e.key.to_lowercase();
    if remote_target_key(remote, e, &lower, report, unimplemented)?
        || remote_link_key(remote, proxy, e, &lower, report, unimplemented)?
    {
        return Ok(());
    }
    if e.used_as_variable {
        return Ok(());
    }
    Err(unknown_field(e))
}

/// Where and as whom the remote connects: URLs, account, credentials, TLS, role,
/// permissions. `Ok(false)` if `lower` is none of them.
fn remote_target_key(
    remote: &mut RemoteLeafOpts,
    e: &Entry,
    lower: &str,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<bool, String> {
    let v = &e.value;
    let both = || {
        format!(
            "{}: Remote leafnode can not have both creds and nkey defined",
            v.pos
        )
    };
    match lower {
        "url" | "urls" => remote_urls(remote, v, report)?,
        "account" | "local" => remote.account = owned(v)?,
        "creds" | "credentials" => {
            let path = expand_path(string(v)?).map_err(|e| format!("{}: {e}", v.pos))?;
            if !remote.seed.is_empty() {
                return Err(both());
            }
            remote.credentials = path;
        }
        "nkey" | "seed" => {
            let seed = owned(v)?;
            if !is_user_seed(&seed) {
                return Err(format!(
                    "{}: Remote leafnode nkey is not a valid seed: {}",
                    v.pos,
                    go_quote(&seed)
                ));
            }
            if !remote.credentials.is_empty() {
                return Err(both());
            }
            remote.seed = seed;
        }
        "tls" => remote.tls = Some(leaf_tls(v, "leafnodes.remotes.", unimplemented)?),
        "hub" => remote.hub = boolean(v)?,
        "deny_imports" | "deny_import" => remote.deny_imports = perm_subjects(v)?,
        "deny_exports" | "deny_export" => remote.deny_exports = perm_subjects(v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// How the remote connects: compression, timeouts, dialing behaviour, isolation, and the
/// websocket, proxy and JetStream keys Gannet does not implement. `Ok(false)` if `lower` is
/// none of them.
fn remote_link_key(
    remote: &mut RemoteLeafOpts,
    proxy: &mut ProxySeen,
    e: &Entry,
    lower: &str,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<bool, String> {
    let v = &e.value;
    match lower {
        "compression" => config_compression(
            &mut remote.compression,
            &mut remote.compression_rtt_thresholds,
            COMPRESSION_DEFAULT,
            e,
        )?,
        "first_info_timeout" => remote.first_info_timeout = duration(&e.key, v, report)?,
        "dial_timeout" => {
            remote.dial_timeout = Some(duration(&e.key, v, report)?).filter(|d| !d.is_zero());
        }
        "disabled" => remote.disabled = boolean(v)?,
        "no_randomize" | "dont_randomize" => remote.no_randomize = boolean(v)?,
        "ignore_discovered_servers" => remote.ignore_discovered_servers = boolean(v)?,
        "isolate_leafnode_interest" | "isolate" => remote.isolate = boolean(v)?,
        "request_isolation" => remote.request_isolation = boolean(v)?,
        "ws_compress" | "ws_compression" | "websocket_compress" | "websocket_compression" => {
            remote.ws_compression = boolean(v)?;
        }
        "ws_no_masking" | "websocket_no_masking" => {
            remote.ws_no_masking = boolean(v)?;
        }
        "jetstream_cluster_migrate" | "js_cluster_migrate" => {
            jetstream_cluster_migrate(remote, v, report)?;
            unimplemented.push("leafnodes.remotes.jetstream_cluster_migrate".into());
        }
        "proxy" => {
            remote_proxy(remote, proxy, v, report, unimplemented)?;
            unimplemented.push("leafnodes.remotes.proxy".into());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `url` (one URL, added) or `urls` (a list, replacing): either key takes either form.
fn remote_urls(remote: &mut RemoteLeafOpts, v: &Value, report: &mut Report) -> Result<(), String> {
    match &v.kind {
        ValueKind::Str(text) => {
            let url = LeafUrl::parse(text).map_err(|e| format!("{}: {e}", v.pos))?;
            remote.urls.push(url);
        }
        ValueKind::Array(items) => {
            if let Some(urls) = leaf_url_list(items, report)? {
                remote.urls = urls;
            }
        }
        _ => {
            return Err(format!(
                "{}: Expected remote leafnode url to be an array or string, got {}",
                v.pos,
                go_value_text(v)
            ))
        }
    }
    Ok(())
}

/// A list of URLs (`parseURLs`): a repeated URL is dropped with a warning; a bad one is an
/// error, and then the remote's URLs are left unset (`Ok(None)`).
fn leaf_url_list(items: &[Value], report: &mut Report) -> Result<Option<Vec<LeafUrl>>, String> {
    let mut seen: Vec<&str> = Vec::with_capacity(items.len());
    let mut urls = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let text = string(item)?;
        if seen.contains(&text) {
            report.warnings.push(format!(
                "{}: invalid use of field {}: Duplicate leafnode entry detected",
                item.pos,
                go_quote(text)
            ));
            continue;
        }
        seen.push(text);
        match LeafUrl::parse(text) {
            Ok(url) => urls.push(url),
            Err(message) => {
                report.errors.push(format!("{}: {message}", item.pos));
                failed = true;
            }
        }
    }
    Ok((!failed).then_some(urls))
}

/// `jetstream_cluster_migrate`: a boolean, or a map (meaning true) whose
/// `leader_migrate_delay` is read.
fn jetstream_cluster_migrate(
    remote: &mut RemoteLeafOpts,
    v: &Value,
    report: &mut Report,
) -> Result<(), String> {
    match &v.kind {
        ValueKind::Bool(on) => remote.jetstream_cluster_migrate = *on,
        ValueKind::Map(m) => {
            remote.jetstream_cluster_migrate = true;
            // nats-server looks the key up exactly as spelled, and ignores the others.
            if let Some(delay) = m.get_exact("leader_migrate_delay") {
                remote.jetstream_cluster_migrate_delay =
                    duration("leader_migrate_delay", &delay.value, report)?;
            }
        }
        // nats-server reports this one without position.
        _ => {
            return Err(format!(
                "Expected boolean or map for jetstream_cluster_migrate, got {}",
                v.go_type_name()
            ))
        }
    }
    Ok(())
}

/// `proxy { url, username, password, timeout, tls }`, checked when the remote is complete.
fn remote_proxy(
    remote: &mut RemoteLeafOpts,
    proxy: &mut ProxySeen,
    v: &Value,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let Some(fields) = v.as_map() else {
        return Err(format!(
            "{}: Expected proxy to be a map, got {}",
            v.pos,
            v.go_type_name()
        ));
    };
    proxy.pos = Some(v.pos.clone());
    for e in fields {
        let pv = &e.value;
        let read = match e.key.to_lowercase().as_str() {
            "url" => owned(pv).map(|url| remote.proxy.url = url),
            "username" => owned(pv).map(|user| remote.proxy.username = user),
            "password" => owned(pv).map(|password| remote.proxy.password = password),
            "timeout" => signed_duration("proxy timeout", pv, report).map(|nanos| {
                proxy.timeout_negative = nanos < 0;
                remote.proxy.timeout = Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
            }),
            "tls" => leaf_tls(pv, "leafnodes.remotes.proxy.", unimplemented)
                .map(|tls| remote.proxy.tls = Some(tls)),
            _ if e.used_as_variable => Ok(()),
            _ => Err(unknown_field(e)),
        };
        if let Err(message) = read {
            report.errors.push(message);
        }
    }
    Ok(())
}

/// A duration as nats-server's `parseDuration` reads it, sign kept: a Go duration string,
/// or (with a warning) an integer number of seconds. Returns nanoseconds.
fn signed_duration(field: &str, v: &Value, report: &mut Report) -> Result<i64, String> {
    if let ValueKind::Str(text) = &v.kind {
        return parse_go_duration(text)
            .map_err(|e| format!("{}: error parsing {field}: {e}", v.pos));
    }
    report.warnings.push(format!(
        "{}: invalid use of field {}: {field} should be converted to a duration",
        v.pos,
        go_quote(field)
    ));
    int(v)?
        .checked_mul(NANOS_PER_SEC)
        .ok_or_else(|| format!("{}: error parsing {field}: value out of range", v.pos))
}

/// The checks of a remote's proxy settings (`validateLeafNodeProxyOptions`, as the 2.15.1
/// binary has them). Nothing to check without `proxy`. `defaulted`: URLs are shown with the
/// default port (at startup; the config file check shows them as written).
fn check_proxy(
    remote: &RemoteLeafOpts,
    timeout_negative: bool,
    defaulted: bool,
) -> Result<(), String> {
    let p = &remote.proxy;
    if p.url.is_empty() {
        let others = !p.username.is_empty()
            || !p.password.is_empty()
            || !p.timeout.is_zero()
            || timeout_negative
            || p.tls.is_some();
        if others {
            return Err("proxy URL must be specified when other proxy options are set".into());
        }
        return Ok(());
    }
    let url = go_url_parse(&p.url).map_err(|e| format!("invalid proxy URL: {e}"))?;
    if url.scheme != "http" && url.scheme != "https" {
        return Err(format!(
            "proxy URL scheme must be http or https, got: {}",
            url.scheme
        ));
    }
    if url.host.is_empty() {
        return Err("proxy URL must specify a host".into());
    }
    if p.tls.is_some() && url.scheme != "https" {
        return Err(format!(
            "proxy TLS configuration requires an https proxy URL, got: {}",
            url.scheme
        ));
    }
    if timeout_negative {
        return Err("proxy timeout must be >= 0".into());
    }
    if p.username.is_empty() != p.password.is_empty() {
        return Err("proxy username and password must both be specified or both be empty".into());
    }
    let secure = remote.urls.iter().find(|u| u.scheme == "wss");
    if let (Some(url), None) = (secure, &remote.tls) {
        return Err(format!(
            "proxy is configured but remote URL {} requires TLS and no TLS configuration is provided. \
             When using proxy with TLS endpoints, ensure TLS is properly configured for the leafnode remote",
            url.go_text(UserInfo::Plain, defaulted)
        ));
    }
    Ok(())
}

/// A remote's URLs are all websocket URLs or none is.
fn check_websocket_mix(remote: &RemoteLeafOpts) -> Result<(), String> {
    let Some(first) = remote.urls.first() else {
        return Ok(());
    };
    if remote
        .urls
        .iter()
        .all(|u| u.is_websocket() == first.is_websocket())
    {
        return Ok(());
    }
    let urls: Vec<String> = remote
        .urls
        .iter()
        .map(|u| go_quote(&u.go_text(UserInfo::Redacted, true)))
        .collect();
    Err(format!(
        "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: [{}]",
        urls.join(" ")
    ))
}

/// `deny_imports` / `deny_exports` (`parsePermSubjects`): a subject or a list of subjects,
/// each a valid subject without queue group.
fn perm_subjects(v: &Value) -> Result<Vec<String>, String> {
    let subjects: Vec<String> = match &v.kind {
        ValueKind::Str(subject) => vec![subject.clone()],
        ValueKind::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "{}: Subject in permissions array cannot be cast to string",
                        item.pos
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(format!(
                "{}: Expected subject permissions to be a subject, or array of subjects, got {}",
                v.pos,
                v.go_type_name()
            ))
        }
    };
    check_subjects(&subjects).map_err(|e| format!("{}: {e}", v.pos))?;
    Ok(subjects)
}

/// Every entry is a valid subject (`checkPermSubjectArray` without queues).
fn check_subjects(subjects: &[String]) -> Result<(), String> {
    match subjects
        .iter()
        .find(|s| !protocol::subject::is_valid_subject(s.as_bytes()))
    {
        Some(bad) => Err(format!("subject {} is not a valid subject", go_quote(bad))),
        None => Ok(()),
    }
}

/// A user nkey seed (`nkeys.DecodeSeed` with the user prefix).
fn is_user_seed(seed: &str) -> bool {
    nkeys::KeyPair::from_seed(seed).is_ok_and(|kp| kp.key_pair_type() == nkeys::KeyPairType::User)
}

// ---------------------------------------------------------------------------------------
// Go's formatting and path helpers.

/// Go's `%v` of a config value, for the messages that print one.
pub(super) fn go_value_text(v: &Value) -> String {
    go_value_text_at(v, 0)
}

fn go_value_text_at(v: &Value, depth: usize) -> String {
    if depth >= VALUE_TEXT_DEPTH_MAX {
        return "...".into();
    }
    match &v.kind {
        ValueKind::Str(s) | ValueKind::Datetime(s) => s.clone(),
        ValueKind::Int(n) => n.to_string(),
        ValueKind::Float(f) => go_float(*f),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| go_value_text_at(i, depth + 1))
                .collect();
            format!("[{}]", parts.join(" "))
        }
        ValueKind::Map(m) => {
            // Go prints map keys sorted.
            let mut parts: Vec<String> = m
                .iter()
                .map(|e| format!("{}:{}", e.key, go_value_text_at(&e.value, depth + 1)))
                .collect();
            parts.sort();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `url.Userinfo.String`: the user and the password escaped as Go escapes user info.
fn userinfo_text(user: &str, password: Option<&str>) -> String {
    let mut out = escape_userinfo(user);
    if let Some(password) = password {
        out.push(':');
        out.push_str(&escape_userinfo(password));
    }
    out
}

/// Go's `escape(s, encodeUserPassword)`.
fn escape_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// nats-server's `expandPath`: `$VAR`s expanded (`os.ExpandEnv`), then a leading `~` for
/// `$HOME`.
fn expand_path(path: &str) -> Result<String, String> {
    let expanded = expand_env(path);
    let Some(rest) = expanded.strip_prefix('~').map(str::to_string) else {
        return Ok(expanded);
    };
    let home = std::env::var("HOME").unwrap_or_default();
    if home.is_empty() {
        return Err("failed to get home dir, require $HOME".into());
    }
    Ok(clean_path(&format!("{home}/{rest}")))
}

/// Go's `os.ExpandEnv`: `$NAME`, `${NAME}` and the special `$1`, `$*`, … replaced by the
/// environment (empty when unset); a lone `$` kept, bad `${` syntax dropped.
fn expand_env(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let (name, width) = shell_name(&s[i + 1..]);
        match (name.is_empty(), width) {
            (true, 0) => out.push('$'),
            (true, _) => {}
            (false, _) => out.push_str(&std::env::var(name).unwrap_or_default()),
        }
        i += 1 + width;
        start = i;
    }
    out.push_str(&s[start..]);
    out
}

/// Go's `getShellName`: the variable name after a `$`, and how many bytes it took.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    let special = |c: u8| b"*#$@!?-".contains(&c) || c.is_ascii_digit();
    if b[0] == b'{' {
        if b.len() > 2 && special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match b.iter().skip(1).position(|&c| c == b'}') {
            Some(0) => ("", 2),
            Some(i) => (&s[1..=i], i + 2),
            None => ("", 1),
        };
    }
    if special(b[0]) {
        return (&s[..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

/// Go's `filepath.Clean` of a Unix path.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests;
