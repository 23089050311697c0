//! Config-mode users, permissions and accounts: the typed form of `authorization { users … }`,
//! `accounts { … }` and `permissions { … }` (spec §2.6–2.8), parsed from the config tree with
//! nats-server's validation messages.

use super::dirstore::DirConfig;
use crate::conf::{Map, Value, ValueKind};
use crate::gofmt::go_quote;
use std::time::Duration;

/// The global account every client joins when its user names no account.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// One `authorization.certificate_clients` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertClientConfig {
    /// `client_name`: the CN, or the CN's suffix after `<id>.`.
    pub client_name: String,
    /// The permissions, with `_CLIENT_ID` tokens still in place.
    pub permissions: Permissions,
}

/// Where account JWTs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverConfig {
    /// `resolver: MEMORY`: only `resolver_preload`.
    Memory,
    /// `resolver: URL(<base>)`: the nats-account-server protocol.
    Url(String),
    /// `resolver: {type: full|cache, dir: …}`: JWTs kept in a directory, missing ones asked
    /// of the other servers over `$SYS`, updates taken over `$SYS` (spec sys.md §5.4).
    Dir(DirConfig),
}

/// One side (publish or subscribe) of a permission: allow and deny lists. `None` means "no
/// list"; `Some(empty)` is an allow list that allows nothing (only made internally, for
/// `allow_responses` without a publish allow list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    /// Allowed subjects (`"subject"` or, for subscribe, `"subject queue"`).
    pub allow: Option<Vec<String>>,
    /// Denied subjects.
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`: a client may publish to reply subjects it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per received reply subject; negative = unlimited.
    pub max_msgs: i64,
    /// How long a reply subject stays usable; `None` = forever.
    pub expires: Option<Duration>,
}

/// nats-server's defaults for `allow_responses: true`.
pub const RESPONSE_MAX_MSGS_DEFAULT: i64 = 1;
/// Default lifetime of a response permission.
pub const RESPONSE_EXPIRES_DEFAULT: Duration = Duration::from_secs(120);

/// A user's permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Publish allow/deny.
    pub publish: Option<SubjectPermission>,
    /// Subscribe allow/deny.
    pub subscribe: Option<SubjectPermission>,
    /// Response permission.
    pub response: Option<ResponsePermission>,
}

/// A configured user (password or nkey).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    /// Username (empty for nkey users).
    pub user: String,
    /// Password, plain or bcrypt.
    pub password: String,
    /// Public user nkey (`U…`), for nkey users.
    pub nkey: String,
    /// Permissions (the block's or account's defaults already applied).
    pub permissions: Option<Permissions>,
    /// Account name; empty means the global account.
    pub account: String,
    /// Allowed connection types, upper-cased; empty means all.
    pub allowed_connection_types: Vec<String>,
}

/// Stream or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// One-way messages.
    Stream,
    /// Request/reply.
    Service,
}

/// How many responses a service request may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response.
    #[default]
    Singleton,
    /// Any number of responses until an empty one or the threshold.
    Stream,
    /// Like stream.
    Chunked,
}

/// An export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Stream or service.
    pub kind: ExportKind,
    /// Exported subject (may have wildcards).
    pub subject: String,
    /// Accounts allowed to import; empty = public.
    pub accounts: Vec<String>,
    /// Services: response type.
    pub response_type: ResponseType,
    /// Services: how long a response mapping lives without responses.
    pub response_threshold: Duration,
}

/// An import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// Local subject (`to`) for services or mapped streams; empty = same as `subject`.
    pub to: String,
    /// Stream prefix (ends with `.`), or empty.
    pub prefix: String,
}

/// Account-level limits from `limits { … }` or an account JWT: `-1` is unlimited
/// (nats-server's `jwt.NoLimit`, the default), any other value a maximum, 0 included — as
/// nats-server applies `mconns`, `msubs` and `mpay` (a v1 account JWT with `"limits": {}` takes
/// no connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Connections.
    pub max_connections: i64,
    /// Subscriptions per connection.
    pub max_subscriptions: i64,
    /// Max payload.
    pub max_payload: i64,
}

impl Default for AccountLimits {
    fn default() -> AccountLimits {
        AccountLimits {
            max_connections: -1,
            max_subscriptions: -1,
            max_payload: -1,
        }
    }
}

impl AccountLimits {
    /// A limit as a maximum, `None` when unlimited.
    pub fn max(limit: i64) -> Option<usize> {
        usize::try_from(limit).ok()
    }
}

/// A configured account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountConfig {
    /// Name.
    pub name: String,
    /// The name events and monitoring show (`name_tag`): the account JWT's `name` in
    /// operator mode; empty = `name`.
    pub name_tag: String,
    /// Public account nkey, if given.
    pub nkey: String,
    /// Exports.
    pub exports: Vec<Export>,
    /// Imports.
    pub imports: Vec<Import>,
    /// Limits.
    pub limits: AccountLimits,
}

/// Default response threshold of service exports.
pub const RESPONSE_THRESHOLD_DEFAULT: Duration = Duration::from_secs(120);

fn err(v: &Value, msg: impl std::fmt::Display) -> String {
    format!("{}: {msg}", v.pos)
}

fn string_of(v: &Value) -> Result<String, String> {
    v.as_str().map(str::to_owned).ok_or_else(|| {
        err(
            v,
            format!(
                "interface conversion: interface {{}} is {}, not string",
                v.go_type_name()
            ),
        )
    })
}

fn map_of(v: &Value) -> Result<&Map, String> {
    v.as_map().ok_or_else(|| {
        err(
            v,
            format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                v.go_type_name()
            ),
        )
    })
}

/// Parses a subject list value: a string, or an array of strings. An empty array is `None`.
fn subject_list(v: &Value) -> Result<Option<Vec<String>>, String> {
    match &v.kind {
        ValueKind::Str(s) => Ok(Some(vec![s.clone()])),
        ValueKind::Array(items) => {
            let list: Vec<String> = items.iter().map(string_of).collect::<Result<_, _>>()?;
            Ok((!list.is_empty()).then_some(list))
        }
        _ => Err(err(
            v,
            format!(
                "Expected subject permissions to be a subject, or array of subjects, got {}",
                v.go_type_name()
            ),
        )),
    }
}

/// `publish`/`subscribe` value: a list (= allow) or `{allow, deny}`.
fn subject_permission(v: &Value, queues_allowed: bool) -> Result<SubjectPermission, String> {
    let perm = match &v.kind {
        ValueKind::Map(m) => {
            let mut p = SubjectPermission::default();
            for e in m.iter() {
                match e.key.to_lowercase().as_str() {
                    "allow" => p.allow = subject_list(&e.value)?,
                    "deny" => p.deny = subject_list(&e.value)?,
                    _ => {
                        return Err(err(
                            &e.value,
                            format!(
                                "Unknown field name {} parsing subject permissions, only 'allow' or 'deny' are permitted",
                                go_quote(&e.key)
                            ),
                        ))
                    }
                }
            }
            p
        }
        _ => SubjectPermission {
            allow: subject_list(v)?,
            deny: None,
        },
    };
    for s in perm.allow.iter().chain(perm.deny.iter()).flatten() {
        check_permission_subject(v, s, queues_allowed)?;
    }
    Ok(perm)
}

fn check_permission_subject(v: &Value, entry: &str, queues_allowed: bool) -> Result<(), String> {
    let mut parts = entry.split_whitespace();
    let subject = parts.next().unwrap_or("");
    let queue = parts.next();
    if parts.next().is_some() || (queue.is_some() && !queues_allowed) {
        return Err(err(
            v,
            format!("subject {} is not a valid subject", go_quote(entry)),
        ));
    }
    if !protocol::subject::is_valid_subject(subject.as_bytes()) {
        return Err(err(
            v,
            format!("subject {} is not a valid subject", go_quote(subject)),
        ));
    }
    if let Some(q) = queue {
        if !protocol::subject::is_valid_queue(q.as_bytes()) {
            return Err(err(
                v,
                format!("queue {} is not a valid queue", go_quote(q)),
            ));
        }
    }
    Ok(())
}

fn duration_value(v: &Value) -> Result<Duration, String> {
    match &v.kind {
        ValueKind::Str(s) => {
            let nanos = crate::gofmt::parse_go_duration(s).map_err(|e| err(v, e))?;
            Ok(Duration::from_nanos(nanos.max(0) as u64))
        }
        ValueKind::Int(secs) => Ok(Duration::from_secs((*secs).max(0) as u64)),
        _ => Err(err(v, "expected a duration")),
    }
}

fn response_permission(v: &Value) -> Result<Option<ResponsePermission>, String> {
    match &v.kind {
        ValueKind::Bool(false) => Ok(None),
        ValueKind::Bool(true) => Ok(Some(ResponsePermission {
            max_msgs: RESPONSE_MAX_MSGS_DEFAULT,
            expires: Some(RESPONSE_EXPIRES_DEFAULT),
        })),
        ValueKind::Map(m) => {
            let mut max = 0i64;
            let mut expires = Duration::ZERO;
            for e in m.iter() {
                match e.key.to_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => {
                        max = e
                            .value
                            .as_int()
                            .ok_or_else(|| err(&e.value, "expected an integer"))?
                    }
                    "expires" | "expiration" | "ttl" => expires = duration_value(&e.value)?,
                    _ => {
                        return Err(err(
                            &e.value,
                            format!("Unknown field {} parsing allow_responses", go_quote(&e.key)),
                        ))
                    }
                }
            }
            // 0 means the default; negative means unlimited.
            let max_msgs = if max == 0 {
                RESPONSE_MAX_MSGS_DEFAULT
            } else {
                max
            };
            let expires = if expires.is_zero() {
                Some(RESPONSE_EXPIRES_DEFAULT)
            } else {
                Some(expires)
            };
            Ok(Some(ResponsePermission { max_msgs, expires }))
        }
        _ => Err(err(v, "expected a boolean or a map for allow_responses")),
    }
}

/// Parses a permissions map (spec §2.7).
///
/// # Errors
/// Bad structure or invalid subjects, with nats-server's texts.
pub fn parse_permissions(v: &Value) -> Result<Permissions, String> {
    let m = map_of(v)?;
    let mut p = Permissions::default();
    for e in m.iter() {
        match e.key.to_lowercase().as_str() {
            "publish" | "pub" | "import" => p.publish = Some(subject_permission(&e.value, false)?),
            "subscribe" | "sub" | "export" => {
                p.subscribe = Some(subject_permission(&e.value, true)?)
            }
            "allow_responses" | "publish_allow_responses" => {
                p.response = response_permission(&e.value)?
            }
            _ if e.used_as_variable => {}
            _ => {
                return Err(err(
                    &e.value,
                    format!("Unknown field {} parsing permissions", go_quote(&e.key)),
                ))
            }
        }
    }
    // With responses allowed and no publish allow list, publishing is limited to responses.
    if p.response.is_some() {
        let publish = p.publish.get_or_insert_with(SubjectPermission::default);
        if publish.allow.is_none() {
            publish.allow = Some(Vec::new());
        }
    }
    Ok(p)
}

/// Parses a `users` array. `account` is the owning account's name (empty for the
/// `authorization` block) and `default_permissions` apply to users without their own.
///
/// # Errors
/// nats-server's user-entry errors.
pub fn parse_users(
    v: &Value,
    account: &str,
    default_permissions: Option<&Permissions>,
) -> Result<Vec<UserConfig>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| err(v, "Expected users field to be an array"))?;
    let mut users = Vec::new();
    for item in items {
        let m = map_of(item)?;
        let mut u = UserConfig {
            account: account.to_string(),
            ..UserConfig::default()
        };
        for e in m.iter() {
            match e.key.to_lowercase().as_str() {
                "user" | "username" => u.user = string_of(&e.value)?,
                "pass" | "password" => u.password = string_of(&e.value)?,
                "nkey" => u.nkey = string_of(&e.value)?,
                "permission" | "permissions" | "authorization" => {
                    u.permissions = Some(parse_permissions(&e.value)?)
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    let list = e
                        .value
                        .as_array()
                        .ok_or_else(|| err(&e.value, "expected an array"))?;
                    for t in list {
                        let t = string_of(t)?.to_uppercase();
                        if !matches!(
                            t.as_str(),
                            "STANDARD"
                                | "WEBSOCKET"
                                | "LEAFNODE"
                                | "LEAFNODE_WS"
                                | "MQTT"
                                | "MQTT_WS"
                                | "IN_PROCESS"
                        ) {
                            return Err(err(
                                &e.value,
                                format!("unknown connection type {}", go_quote(&t)),
                            ));
                        }
                        u.allowed_connection_types.push(t);
                    }
                }
                "proxy_required" => {}
                _ if e.used_as_variable => {}
                _ => {
                    return Err(err(
                        &e.value,
                        format!("Unknown field {} parsing user", go_quote(&e.key)),
                    ))
                }
            }
        }
        if u.user.is_empty() && u.nkey.is_empty() {
            return Err(err(item, "User entry requires a user"));
        }
        if !u.nkey.is_empty() {
            if !u.user.is_empty() || !u.password.is_empty() {
                return Err(err(item, "Nkey users do not take usernames or passwords"));
            }
            if !is_public_nkey(&u.nkey, b'U') {
                return Err(err(item, "Not a valid public nkey for a user"));
            }
        }
        if u.permissions.is_none() {
            u.permissions = default_permissions.cloned();
        }
        users.push(u);
    }
    Ok(users)
}

/// Parses BOSH's `authorization.certificate_clients`: an array of
/// `{client_name: <name>, permissions: {…}}` (see [`super::cert`]).
///
/// # Errors
/// A malformed entry.
pub fn parse_certificate_clients(v: &Value) -> Result<Vec<CertClientConfig>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| err(v, "Expected certificate_clients field to be an array"))?;
    let mut clients = Vec::with_capacity(items.len());
    for item in items {
        let m = map_of(item)?;
        let mut name = String::new();
        let mut permissions = Permissions::default();
        for e in m.iter() {
            match e.key.to_lowercase().as_str() {
                "client_name" | "name" => name = string_of(&e.value)?,
                "permission" | "permissions" => permissions = parse_permissions(&e.value)?,
                _ if e.used_as_variable => {}
                _ => {
                    return Err(err(
                        &e.value,
                        format!(
                            "Unknown field {} parsing certificate client",
                            go_quote(&e.key)
                        ),
                    ))
                }
            }
        }
        if name.is_empty() {
            return Err(err(item, "Certificate client entry requires a client_name"));
        }
        clients.push(CertClientConfig {
            client_name: name,
            permissions,
        });
    }
    Ok(clients)
}

/// Whether `key` is a valid public nkey of the given kind (`U`, `A`, `O`, …).
pub fn is_public_nkey(key: &str, prefix: u8) -> bool {
    key.as_bytes().first() == Some(&prefix) && nkeys::KeyPair::from_public_key(key).is_ok()
}

fn parse_export(v: &Value) -> Result<Export, String> {
    let m = map_of(v)?;
    let mut kind = None;
    let mut export = Export {
        kind: ExportKind::Stream,
        subject: String::new(),
        accounts: Vec::new(),
        response_type: ResponseType::Singleton,
        response_threshold: RESPONSE_THRESHOLD_DEFAULT,
    };
    for e in m.iter() {
        match e.key.to_lowercase().as_str() {
            "stream" | "service" => {
                let this = if e.key.eq_ignore_ascii_case("stream") {
                    ExportKind::Stream
                } else {
                    ExportKind::Service
                };
                if let Some(prev) = kind {
                    if prev != this {
                        let (a, b) = if this == ExportKind::Stream {
                            ("stream", "service")
                        } else {
                            ("service", "stream")
                        };
                        return Err(err(
                            &e.value,
                            format!(
                                "Detected {a} {} but already saw a {b}",
                                go_quote(&string_of(&e.value)?)
                            ),
                        ));
                    }
                }
                kind = Some(this);
                export.subject = string_of(&e.value)?;
            }
            "accounts" => {
                let list = e
                    .value
                    .as_array()
                    .ok_or_else(|| err(&e.value, "expected an array of account names"))?;
                export.accounts = list.iter().map(string_of).collect::<Result<_, _>>()?;
            }
            "response" | "response_type" => {
                export.response_type = match string_of(&e.value)?.to_lowercase().as_str() {
                    "singleton" | "single" => ResponseType::Singleton,
                    "stream" => ResponseType::Stream,
                    "chunk" | "chunked" => ResponseType::Chunked,
                    other => {
                        return Err(err(
                            &e.value,
                            format!("Unknown response type: {}", go_quote(other)),
                        ))
                    }
                }
            }
            "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                export.response_threshold = duration_value(&e.value)?
            }
            "latency" | "account_token_position" | "allow_trace" | "advertise" => {}
            _ if e.used_as_variable => {}
            _ => {
                return Err(err(
                    &e.value,
                    format!("Unknown field {} parsing export", go_quote(&e.key)),
                ))
            }
        }
    }
    let Some(kind) = kind else {
        return Err(err(v, "Expected a stream or service for an export"));
    };
    export.kind = kind;
    if !protocol::subject::is_valid_subject(export.subject.as_bytes()) {
        return Err(err(
            v,
            format!(
                "subject {} is not a valid subject",
                go_quote(&export.subject)
            ),
        ));
    }
    Ok(export)
}

fn parse_import(v: &Value) -> Result<Import, String> {
    let m = map_of(v)?;
    let mut import = Import {
        kind: ExportKind::Stream,
        account: String::new(),
        subject: String::new(),
        to: String::new(),
        prefix: String::new(),
    };
    let mut seen = false;
    for e in m.iter() {
        match e.key.to_lowercase().as_str() {
            "stream" | "service" => {
                seen = true;
                import.kind = if e.key.eq_ignore_ascii_case("stream") {
                    ExportKind::Stream
                } else {
                    ExportKind::Service
                };
                let inner = map_of(&e.value)?;
                for ie in inner.iter() {
                    match ie.key.to_lowercase().as_str() {
                        "account" => import.account = string_of(&ie.value)?,
                        "subject" => import.subject = string_of(&ie.value)?,
                        _ => {}
                    }
                }
                if import.account.is_empty() || import.subject.is_empty() {
                    return Err(err(&e.value, "Expect an account name and a subject"));
                }
            }
            "prefix" => import.prefix = string_of(&e.value)?,
            "to" => import.to = string_of(&e.value)?,
            "share" | "allow_trace" => {}
            _ if e.used_as_variable => {}
            _ => {
                return Err(err(
                    &e.value,
                    format!("Unknown field {} parsing import", go_quote(&e.key)),
                ))
            }
        }
    }
    if !seen {
        return Err(err(v, "Expected a stream or service for an import"));
    }
    if !import.prefix.is_empty() && !import.to.is_empty() {
        return Err(err(
            v,
            "Stream import can not have a 'prefix' and a 'to' property",
        ));
    }
    if !import.prefix.is_empty() {
        if protocol::subject::has_wildcard(import.prefix.as_bytes()) {
            return Err(err(
                v,
                "stream import prefix can not contain wildcard tokens",
            ));
        }
        if !import.prefix.ends_with('.') {
            import.prefix.push('.');
        }
    }
    Ok(import)
}

/// Parses the top-level `accounts` value: `[A, B]` or `{ A { … }, B { … } }`. Returns the
/// accounts and the users defined in them.
///
/// # Errors
/// nats-server's account errors.
pub fn parse_accounts(v: &Value) -> Result<(Vec<AccountConfig>, Vec<UserConfig>), String> {
    let mut accounts: Vec<AccountConfig> = Vec::new();
    let mut users = Vec::new();
    let add = |accounts: &mut Vec<AccountConfig>, acc: AccountConfig, at: &Value| {
        if acc.name == GLOBAL_ACCOUNT {
            return Err(err(at, "\"$G\" is a Reserved Account"));
        }
        if accounts.iter().any(|a| a.name == acc.name) {
            return Err(err(at, format!("Duplicate Account Entry: {}", acc.name)));
        }
        accounts.push(acc);
        Ok(())
    };
    match &v.kind {
        ValueKind::Array(items) => {
            for item in items {
                let name = string_of(item)?;
                add(
                    &mut accounts,
                    AccountConfig {
                        name,
                        ..AccountConfig::default()
                    },
                    item,
                )?;
            }
        }
        ValueKind::Map(m) => {
            for e in m.iter() {
                let mut acc = AccountConfig {
                    name: e.key.clone(),
                    ..AccountConfig::default()
                };
                let body = map_of(&e.value)?;
                // default_permissions first: they apply to users listed before them too.
                let mut defaults = None;
                for be in body.iter() {
                    if be.key.eq_ignore_ascii_case("default_permissions") {
                        defaults = Some(parse_permissions(&be.value)?);
                    }
                }
                for be in body.iter() {
                    match be.key.to_lowercase().as_str() {
                        "users" => {
                            users.extend(parse_users(&be.value, &acc.name, defaults.as_ref())?)
                        }
                        "nkey" => {
                            acc.nkey = string_of(&be.value)?;
                            if !is_public_nkey(&acc.nkey, b'A') {
                                return Err(err(
                                    &be.value,
                                    format!(
                                        "Not a valid public nkey for an account: {}",
                                        go_quote(&acc.nkey)
                                    ),
                                ));
                            }
                        }
                        "default_permissions" => {}
                        "exports" => {
                            let list = be
                                .value
                                .as_array()
                                .ok_or_else(|| err(&be.value, "expected an array of exports"))?;
                            acc.exports =
                                list.iter().map(parse_export).collect::<Result<_, _>>()?;
                        }
                        "imports" => {
                            let list = be
                                .value
                                .as_array()
                                .ok_or_else(|| err(&be.value, "expected an array of imports"))?;
                            acc.imports =
                                list.iter().map(parse_import).collect::<Result<_, _>>()?;
                        }
                        "limits" => acc.limits = parse_limits(&be.value)?,
                        "mappings" | "maps" | "jetstream" | "msg_trace" | "trace_dest" => {}
                        _ if be.used_as_variable => {}
                        _ => {
                            return Err(err(
                                &be.value,
                                format!("Unknown field {} parsing account", go_quote(&be.key)),
                            ))
                        }
                    }
                }
                add(&mut accounts, acc, &e.value)?;
            }
        }
        _ => return Err(err(v, "Expected an array or map of accounts")),
    }
    Ok((accounts, users))
}

fn parse_limits(v: &Value) -> Result<AccountLimits, String> {
    let m = map_of(v)?;
    let mut l = AccountLimits::default();
    for e in m.iter() {
        let n = || {
            e.value
                .as_int()
                .ok_or_else(|| err(&e.value, "expected an integer"))
        };
        match e.key.to_lowercase().as_str() {
            "max_connections" | "max_conn" => l.max_connections = n()?,
            "max_subscriptions" | "max_subs" => l.max_subscriptions = n()?,
            "max_payload" | "max_pay" => l.max_payload = n()?,
            "max_leafnodes" | "max_leafs" => {
                n()?;
            }
            _ => {
                return Err(err(
                    &e.value,
                    format!("Unknown field {} parsing account limits", go_quote(&e.key)),
                ))
            }
        }
    }
    Ok(l)
}

/// Cross-checks users and accounts once everything is parsed: duplicate users/nkeys, imports
/// that name unknown accounts or are not authorized by an export.
///
/// # Errors
/// nats-server's texts.
pub fn validate(users: &[UserConfig], accounts: &[AccountConfig]) -> Result<(), String> {
    for (i, u) in users.iter().enumerate() {
        if !u.user.is_empty() && users[..i].iter().any(|o| o.user == u.user) {
            return Err(format!("Duplicate user {} detected", go_quote(&u.user)));
        }
        if !u.nkey.is_empty() && users[..i].iter().any(|o| o.nkey == u.nkey) {
            return Err(format!("Duplicate nkey {} detected", go_quote(&u.nkey)));
        }
    }
    for acc in accounts {
        for imp in &acc.imports {
            let kind = match imp.kind {
                ExportKind::Stream => "stream",
                ExportKind::Service => "service",
            };
            let Some(exporter) = accounts.iter().find(|a| a.name == imp.account) else {
                return Err(format!(
                    "{} account not defined for {kind} import",
                    go_quote(&imp.account)
                ));
            };
            let authorized = exporter.exports.iter().any(|ex| {
                ex.kind == imp.kind
                    && protocol::subject::subject_matches(
                        ex.subject.as_bytes(),
                        imp.subject.as_bytes(),
                    )
                    && (ex.accounts.is_empty() || ex.accounts.contains(&acc.name))
            });
            if !authorized {
                return Err(format!(
                    "Error adding {kind} import {}: {kind} import not authorized",
                    go_quote(&imp.subject)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
