//! Operator (decentralized JWT) mode, spec core.md §4.8 and sys.md §5: trusted operators,
//! account JWTs from a resolver, users authenticating with a user JWT and a signature over
//! the nonce.
//!
//! The trust state outlives reloads (a reload may not change the resolver), so it lives in an
//! `Arc` the runtime snapshots share. Accounts are registered with the server's account
//! registry the first time a client needs them, built from their JWT.

use super::config::{
    AccountConfig, AccountLimits, Permissions, ResolverConfig, ResponsePermission,
    SubjectPermission,
};
use super::dirstore::DirStore;
use super::perms::ClientPerms;
use super::{verify_nonce_signature, AuthStep, Identity, JwtFacts, RejectReason};
use crate::connect::ConnectOpts;
use crate::jwt;
use crate::log;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, UNIX_EPOCH};

/// An account JWT in use, decoded.
#[derive(Debug, Clone)]
pub struct AccountJwt {
    /// The token as received.
    pub token: String,
    /// Its claims.
    pub claims: jwt::Claims<jwt::Account>,
}

/// What changed for connected clients when an account's claims were replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// The account.
    pub account: String,
    /// Signing keys removed or whose scope template changed: their users are closed.
    pub dropped_signers: Vec<String>,
    /// The account is gone (deleted from the resolver): its clients are closed.
    pub deleted: bool,
    /// With a lowered connection limit: clients with a larger connection id (the newer
    /// ones) are over it and closed.
    pub conn_cutoff: Option<u64>,
}

/// The trust state of operator mode.
#[derive(Debug)]
pub struct Trust {
    /// Keys that may sign account JWTs: operator keys (unless strict) and signing keys.
    issuers: HashSet<String>,
    /// Every operator key and operator signing key (who may ask to delete accounts).
    operator_keys: HashSet<String>,
    /// Operators with `strict_signing_key_usage` (their own key may not sign accounts).
    strict_operators: HashSet<String>,
    /// Those operators' signing keys: accounts they sign must sign users with a signing key
    /// of their own, not with the account key (nats-server's `strictSigningKeyUsage`).
    strict_signers: HashSet<String>,
    /// The system account's public key.
    pub system_account: String,
    resolver: ResolverConfig,
    preload: BTreeMap<String, String>,
    /// The JWT directory of a `full` or `cache` resolver.
    store: Option<DirStore>,
    /// `resolver_tls`: the URL resolver's TLS client settings for `https://` URLs.
    url_tls: Option<Arc<rustls::ClientConfig>>,
    /// Current claims of every account loaded so far.
    accounts: RwLock<HashMap<String, Arc<AccountJwt>>>,
    /// The server whose accounts this trust state feeds (set once at startup).
    host: OnceLock<Weak<dyn AccountHost>>,
}

/// What the trust state needs of the server it serves: a way to register the accounts it
/// loads and to ask other servers for JWTs. The server's shared state implements it; the
/// trust state sits below it in the layers and so holds only this interface (a `Weak`, since
/// the shared state owns the trust state through its runtime snapshot).
pub trait AccountHost: Send + Sync {
    /// Registers or replaces an account built from a JWT, with its system services.
    fn register_account(&self, config: AccountConfig);
    /// Takes the imports and exports away from account `key` (deleted from the resolver).
    fn strip_account(&self, key: &str);
    /// Asks the other servers for `key`'s JWT, waiting up to `timeout`.
    ///
    /// # Errors
    /// Not found, timed out, or eventing is off.
    fn lookup_jwt(&self, key: &str, timeout: Duration) -> Result<String, String>;
}

/// How long a URL resolver fetch may take (nats-server's default).
const FETCH_TIMEOUT: Duration = Duration::from_millis(1900);
/// How deep loading an account may follow its imports' exporters.
const IMPORT_DEPTH_MAX: usize = 8;

impl Trust {
    /// Builds the trust state from the decoded operator JWTs and `trusted_keys`; a `full` or
    /// `cache` resolver opens its directory and takes `resolver_preload` if newer.
    ///
    /// # Errors
    /// The resolver directory can't be used.
    pub fn new(
        operators: &[jwt::Claims<jwt::Operator>],
        trusted_keys: &[String],
        system_account: String,
        resolver: ResolverConfig,
        preload: BTreeMap<String, String>,
    ) -> Result<Trust, String> {
        let mut issuers: HashSet<String> = trusted_keys.iter().cloned().collect();
        let mut operator_keys = issuers.clone();
        let mut strict_operators = HashSet::new();
        let mut strict_signers = HashSet::new();
        for op in operators {
            if op.nats.strict_signing_key_usage {
                strict_operators.insert(op.sub.clone());
                strict_signers.extend(op.nats.signing_keys.iter().cloned());
            } else {
                issuers.insert(op.sub.clone());
            }
            operator_keys.insert(op.sub.clone());
            issuers.extend(op.nats.signing_keys.iter().cloned());
            operator_keys.extend(op.nats.signing_keys.iter().cloned());
        }
        let store = match &resolver {
            ResolverConfig::Dir(config) => {
                let store = DirStore::open(config.clone())?;
                for (key, token) in &preload {
                    store.save_if_newer(key, token)?;
                }
                Some(store)
            }
            _ => None,
        };
        Ok(Trust {
            issuers,
            operator_keys,
            strict_operators,
            strict_signers,
            system_account,
            resolver,
            preload,
            store,
            url_tls: None,
            accounts: RwLock::new(HashMap::new()),
            host: OnceLock::new(),
        })
    }

    /// nats-server's startup check of a URL resolver: `GET <base>` must answer 200.
    ///
    /// # Errors
    /// `could not fetch <"url">: <status or error>`.
    pub fn probe(&self) -> Result<(), String> {
        match &self.resolver {
            ResolverConfig::Url(base) => fetch(base, self.url_tls.as_ref()).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Links the trust state to the server, so accounts can be registered.
    pub fn attach(&self, host: Weak<dyn AccountHost>) {
        let _ = self.host.set(host);
    }

    fn host(&self) -> Option<Arc<dyn AccountHost>> {
        self.host.get().and_then(Weak::upgrade)
    }

    /// The JWT directory, with a `full` or `cache` resolver.
    pub fn store(&self) -> Option<&DirStore> {
        self.store.as_ref()
    }

    /// The account JWT for `key` if it can be had without waiting: loaded already, preloaded
    /// (MEMORY) or in the resolver's directory. `Ok(None)`: it must be fetched.
    ///
    /// # Errors
    /// Not found (MEMORY), not decodable, or not issued by a trusted key.
    pub fn local_account(&self, key: &str) -> Result<Option<Arc<AccountJwt>>, String> {
        if let Some(acc) = self.accounts.read().get(key) {
            return Ok(Some(acc.clone()));
        }
        let token = match &self.resolver {
            ResolverConfig::Memory => Some(
                self.preload
                    .get(key)
                    .cloned()
                    .ok_or_else(|| "account not found".to_string())?,
            ),
            ResolverConfig::Url(_) => None,
            ResolverConfig::Dir(_) => self.store.as_ref().and_then(|s| s.get(key)),
        };
        match token {
            Some(token) => self.load(key, &token, false, 0).map(Some),
            None => Ok(None),
        }
    }

    /// The account JWT for `key`, fetched from the resolver if needed. May wait up to the
    /// resolver's timeout: never call it on a worker thread.
    ///
    /// # Errors
    /// Not found, timed out, not decodable, or not issued by a trusted key.
    pub fn account(&self, key: &str) -> Result<Arc<AccountJwt>, String> {
        self.account_at_depth(key, 0)
    }

    fn account_at_depth(&self, key: &str, depth: usize) -> Result<Arc<AccountJwt>, String> {
        if let Some(acc) = self.local_account(key)? {
            return Ok(acc);
        }
        let token = match &self.resolver {
            ResolverConfig::Url(base) => fetch(&format!("{base}{key}"), self.url_tls.as_ref())?,
            ResolverConfig::Dir(config) => {
                let token = self.lookup(key, config.timeout)?;
                if let Some(store) = &self.store {
                    store.save_if_newer(key, &token)?;
                }
                token
            }
            ResolverConfig::Memory => return Err("account not found".into()),
        };
        self.load(key, &token, true, depth)
    }

    /// Asks the other servers for `key`'s JWT (`$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP`).
    fn lookup(&self, key: &str, timeout: Duration) -> Result<String, String> {
        let host = self
            .host()
            .ok_or_else(|| "eventing shut down".to_string())?;
        host.lookup_jwt(key, timeout)
    }

    /// Applies a JWT just loaded, then loads the exporters its imports name (waiting for
    /// them only when `fetch` allows it), so the imports can be checked.
    fn load(
        &self,
        key: &str,
        token: &str,
        fetch: bool,
        depth: usize,
    ) -> Result<Arc<AccountJwt>, String> {
        let (acc, _) = self.apply(key, token)?;
        if depth < IMPORT_DEPTH_MAX {
            for import in &acc.claims.nats.imports {
                if self.is_loaded(&import.account) {
                    continue;
                }
                let loaded = if fetch {
                    self.account_at_depth(&import.account, depth + 1)
                        .map(|_| ())
                } else {
                    self.local_account(&import.account).map(|_| ())
                };
                if let Err(e) = loaded {
                    log::debug(&format!(
                        "account {key}: exporter {} not available: {e}",
                        import.account
                    ));
                }
            }
        }
        Ok(acc)
    }

    /// Checks an account JWT and makes it the account's current claims; the live account
    /// (limits, exports, imports) follows. Returns the new state and what changed for the
    /// connected clients.
    ///
    /// # Errors
    /// `account validation failed` for an untrusted issuer, validation errors, or the decode
    /// error.
    pub fn apply(
        &self,
        key: &str,
        token: &str,
    ) -> Result<(Arc<AccountJwt>, AccountChange), String> {
        let claims: jwt::Claims<jwt::Account> = jwt::decode(token)?;
        if claims.sub != key {
            return Err("subject does not match jwt content".into());
        }
        if !self.issuers.contains(&claims.iss) {
            return Err("account validation failed".into());
        }
        validate_account(&claims)?;
        if claims.exp > 0 && claims.exp <= jwt::now_unix() {
            return Err("account expired".into());
        }
        let acc = Arc::new(AccountJwt {
            token: token.to_string(),
            claims,
        });
        let old = self.accounts.write().insert(key.to_string(), acc.clone());
        let change = AccountChange {
            account: key.to_string(),
            dropped_signers: old
                .map(|old| dropped_signers(&old.claims, &acc.claims))
                .unwrap_or_default(),
            deleted: false,
            conn_cutoff: None,
        };
        self.register(&acc.claims);
        // Accounts importing from this one have their imports checked again.
        let importers: Vec<Arc<AccountJwt>> = self
            .accounts
            .read()
            .values()
            .filter(|a| a.claims.sub != key)
            .filter(|a| a.claims.nats.imports.iter().any(|i| i.account == key))
            .cloned()
            .collect();
        for importer in importers {
            self.register(&importer.claims);
        }
        Ok((acc, change))
    }

    /// Registers `claims` with the server's accounts, keeping only the imports their
    /// exporters allow.
    fn register(&self, claims: &jwt::Claims<jwt::Account>) {
        let Some(host) = self.host() else {
            return;
        };
        let mut allowed = claims.clone();
        {
            let loaded = self.accounts.read();
            allowed.nats.imports.retain(|import| {
                let Some(exporter) = loaded.get(&import.account) else {
                    return false;
                };
                let checked = import_allowed(&exporter.claims, &claims.sub, import);
                if let Err(why) = &checked {
                    log::debug(&format!(
                        "account {}: import {:?} from {} refused: {why}",
                        claims.sub, import.subject, import.account
                    ));
                }
                checked.is_ok()
            });
        }
        host.register_account(account_config(&allowed));
    }

    /// Forgets `key`'s account (deleted from the resolver): new clients can't join it, and
    /// the returned change closes the connected ones.
    pub fn remove(&self, key: &str) -> AccountChange {
        self.accounts.write().remove(key);
        if let Some(host) = self.host() {
            host.strip_account(key);
        }
        AccountChange {
            account: key.to_string(),
            dropped_signers: Vec::new(),
            deleted: true,
            conn_cutoff: None,
        }
    }

    /// Whether `key`'s account is loaded here.
    pub fn is_loaded(&self, key: &str) -> bool {
        self.accounts.read().contains_key(key)
    }

    /// Whether `key` may sign account JWTs.
    pub fn is_trusted_issuer(&self, key: &str) -> bool {
        self.issuers.contains(key)
    }

    /// Whether `key` is an operator key or operator signing key (may delete accounts).
    pub fn is_operator_key(&self, key: &str) -> bool {
        self.operator_keys.contains(key)
    }

    /// Whether `key` is an operator that requires its signing keys to sign accounts.
    pub fn is_strict_operator(&self, key: &str) -> bool {
        self.strict_operators.contains(key)
    }

    /// Checks a client's CONNECT: its user JWT, the signature over `nonce`, the account's
    /// trust, revocations, expiry, source network, time windows and connection type (spec
    /// core.md §4.8). Without `may_wait`, an account that must be fetched first gives
    /// [`AuthStep::Resolve`].
    pub fn check(
        &self,
        opts: &ConnectOpts,
        nonce: &str,
        peer_ip: Option<IpAddr>,
        may_wait: bool,
    ) -> AuthStep {
        if opts.jwt.is_empty() {
            return AuthStep::deny("no user JWT");
        }
        let Ok(user) = jwt::decode::<jwt::User>(&opts.jwt) else {
            return AuthStep::deny("user JWT not valid");
        };
        if user.nats.kind != "user" {
            return AuthStep::deny("JWT is not a user JWT");
        }
        let now = jwt::now_unix();
        if user.exp > 0 && user.exp <= now {
            return AuthStep::deny("user JWT expired");
        }
        if user.nbf > now {
            return AuthStep::deny("user JWT not yet valid");
        }
        let account_key = if user.nats.issuer_account.is_empty() {
            user.iss.clone()
        } else {
            user.nats.issuer_account.clone()
        };
        let found = if may_wait {
            self.account(&account_key).map(Some)
        } else {
            self.local_account(&account_key)
        };
        let account = match found {
            Ok(Some(account)) => account,
            Ok(None) => return AuthStep::Resolve,
            Err(_) => return AuthStep::deny("account not found"),
        };
        let acc = &account.claims;
        // The issuer is the account itself or one of its signing keys; a scoped key's template
        // replaces the user's own permissions.
        let scope = if user.iss == acc.sub {
            if self.strict_signers.contains(&acc.iss) {
                return AuthStep::deny("strict signing: users must be signed by a signing key");
            }
            None
        } else {
            match acc.nats.signing_keys.iter().find(|k| k.key() == user.iss) {
                Some(jwt::SigningKey::Scoped { template, .. }) => {
                    if !has_no_permissions(&user.nats.limits) {
                        return AuthStep::deny("scoped users require no permissions or limits set");
                    }
                    Some((**template).clone())
                }
                Some(jwt::SigningKey::Key(_)) => None,
                None => return AuthStep::deny("user JWT issuer is not trusted by its account"),
            }
        };
        if is_revoked(acc, &user) {
            return AuthStep::Reject(RejectReason::Revoked);
        }
        let limits = scope.unwrap_or_else(|| user.nats.limits.clone());
        if limits.bearer_token {
            if acc.nats.limits.disallow_bearer {
                return AuthStep::deny("bearer tokens not allowed by the account");
            }
        } else if !verify_nonce_signature(&user.sub, nonce, &opts.sig) {
            return AuthStep::deny("signature does not verify");
        }
        if !connection_type_allowed(&limits.allowed_connection_types) {
            return AuthStep::deny("connection type not allowed");
        }
        if !source_allowed(&limits.src.items(), peer_ip) {
            return AuthStep::deny("source network not allowed");
        }
        let window_end = match time_window(&limits, std::time::SystemTime::now()) {
            Ok(end) => end,
            Err(why) => return AuthStep::deny(why),
        };
        let perms = permissions(&limits, acc.nats.default_permissions.as_ref());
        let user_exp = (user.exp > 0).then(|| UNIX_EPOCH + Duration::from_secs(user.exp as u64));
        let expires = match (user_exp, window_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let own = |v: i64| if v > 0 { v } else { 0 };
        AuthStep::Accept(Identity {
            account: account_key,
            user: Some(user.sub.clone()),
            perms: perms.map(|p| Arc::new(ClientPerms::compile(&p))),
            expires,
            jwt: Some(Arc::new(JwtFacts {
                max_subs: own(limits.subs),
                max_payload: own(limits.payload),
                account_expires: (acc.exp > 0)
                    .then(|| UNIX_EPOCH + Duration::from_secs(acc.exp as u64)),
                issuer: user.iss.clone(),
                tags: user.nats.tags.clone(),
                user_name: user.name.clone(),
            })),
        })
    }
}

/// A user is revoked when the account revoked its key, or everybody, at or after the user
/// JWT's issue time.
fn is_revoked(acc: &jwt::Claims<jwt::Account>, user: &jwt::Claims<jwt::User>) -> bool {
    let revoked = |k: &str| {
        acc.nats
            .revocations
            .get(k)
            .is_some_and(|at| *at >= user.iat)
    };
    revoked(&user.sub) || revoked("*")
}

/// nats-io/jwt's blocking validation errors for account limits on imports and exports.
///
/// # Errors
/// The first blocking issue.
pub fn validate_account(claims: &jwt::Claims<jwt::Account>) -> Result<(), String> {
    let limits = &claims.nats.limits;
    let over = |limit: i64, n: usize| limit >= 0 && n as i64 > limit;
    if over(limits.imports, claims.nats.imports.len()) {
        return Err("the account contains more imports than allowed by the operator".into());
    }
    if over(limits.exports, claims.nats.exports.len()) {
        return Err("the account contains more exports than allowed by the operator".into());
    }
    if !limits.wildcards
        && claims
            .nats
            .exports
            .iter()
            .any(|e| e.subject.split('.').any(|t| t == "*" || t == ">"))
    {
        return Err("the account contains wildcard exports that are not allowed".into());
    }
    Ok(())
}

/// Signing keys of `old` that are gone from `new`, or whose scope changed.
fn dropped_signers(
    old: &jwt::Claims<jwt::Account>,
    new: &jwt::Claims<jwt::Account>,
) -> Vec<String> {
    old.nats
        .signing_keys
        .iter()
        .filter(|k| !new.nats.signing_keys.contains(k))
        .map(|k| k.key().to_string())
        .collect()
}

/// Whether the exporter lets `importer` have `import`: a matching export of the same kind,
/// and for a private export a valid activation token issued by the exporter.
fn import_allowed(
    exporter: &jwt::Claims<jwt::Account>,
    importer: &str,
    import: &jwt::Import,
) -> Result<(), &'static str> {
    let export = exporter
        .nats
        .exports
        .iter()
        .find(|e| {
            e.kind.eq_ignore_ascii_case(&import.kind)
                && protocol::subject::subject_matches(
                    e.subject.as_bytes(),
                    import.subject.as_bytes(),
                )
        })
        .ok_or("no matching export")?;
    if !export.token_req {
        return Ok(());
    }
    let token =
        jwt::decode::<jwt::Activation>(&import.token).map_err(|_| "activation token not valid")?;
    let issuer_ok = token.iss == exporter.sub
        || (token.nats.issuer_account == exporter.sub
            && exporter
                .nats
                .signing_keys
                .iter()
                .any(|k| k.key() == token.iss));
    if !issuer_ok {
        return Err("activation token not issued by the exporter");
    }
    if token.sub != importer {
        return Err("activation token is for another account");
    }
    if token.exp > 0 && token.exp <= jwt::now_unix() {
        return Err("activation token expired");
    }
    let revoked = |k: &str| export.revocations.get(k).is_some_and(|at| *at >= token.iat);
    if revoked(importer) || revoked("*") {
        return Err("activation token revoked");
    }
    if !protocol::subject::subject_matches(token.nats.subject.as_bytes(), import.subject.as_bytes())
    {
        return Err("activation token is for another subject");
    }
    Ok(())
}

/// Plain TCP clients are `STANDARD` (gannet has no websocket, MQTT or in-process clients).
fn connection_type_allowed(types: &[String]) -> bool {
    types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case("STANDARD"))
}

/// `src`: the client's address must be in one of the networks; an entry that is not a CIDR
/// matches nothing (as nats-server's `validateSrc`).
fn source_allowed(networks: &[String], peer: Option<IpAddr>) -> bool {
    if networks.is_empty() {
        return true;
    }
    let Some(peer) = peer else {
        return false;
    };
    networks.iter().any(|cidr| cidr_contains(cidr, peer))
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// `times`: the client may connect only inside one of the daily windows; it is closed when
/// the window ends. Returns that end, or `None` without windows. As nats-server's
/// `validateTimes`, a window whose start is after its end runs from today's start to
/// tomorrow's end. `times_location` may be empty, `UTC` or `Local` (gannet has no time zone
/// database; other names are refused, as nats-server refuses names it can't load).
fn time_window(
    limits: &jwt::UserPermissionLimits,
    now: std::time::SystemTime,
) -> Result<Option<std::time::SystemTime>, &'static str> {
    if limits.times.is_empty() {
        return Ok(None);
    }
    match limits.times_location.as_str() {
        "" | "UTC" | "Local" => {}
        _ => return Err("times_location not supported"),
    }
    let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let midnight = now_s - now_s % 86_400;
    let secs = |t: &str| -> Option<u64> {
        let mut parts = t.split(':').map(|p| p.parse::<u64>().ok());
        let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
        (h < 24 && m < 60 && s < 60 && parts.next().is_none()).then_some(h * 3600 + m * 60 + s)
    };
    for range in &limits.times {
        let (Some(start), Some(end)) = (secs(&range.start), secs(&range.end)) else {
            return Err("times window not valid");
        };
        let start_at = midnight + start;
        let end_at = midnight + end + if start > end { 86_400 } else { 0 };
        if start_at < now_s && now_s < end_at {
            return Ok(Some(UNIX_EPOCH + Duration::from_secs(end_at)));
        }
    }
    Err("outside the allowed times")
}

/// Whether a user JWT leaves permissions and limits to its scoped signing key.
fn has_no_permissions(l: &jwt::UserPermissionLimits) -> bool {
    let unset = |v: i64| v == 0 || v == -1;
    l.publish == jwt::Permission::default()
        && l.subscribe == jwt::Permission::default()
        && l.resp.is_none()
        && l.src.items().is_empty()
        && l.times.is_empty()
        && unset(l.subs)
        && unset(l.data)
        && unset(l.payload)
        && !l.bearer_token
        && l.allowed_connection_types.is_empty()
}

/// A JWT permission list as the config form; an empty JWT list means "no restriction".
fn subject_permission(p: &jwt::Permission) -> Option<SubjectPermission> {
    if p.allow.is_empty() && p.deny.is_empty() {
        return None;
    }
    Some(SubjectPermission {
        allow: (!p.allow.is_empty()).then(|| p.allow.clone()),
        deny: (!p.deny.is_empty()).then(|| p.deny.clone()),
    })
}

/// The user's effective permissions: its own, else the account's default permissions.
fn permissions(
    limits: &jwt::UserPermissionLimits,
    defaults: Option<&jwt::DefaultPermissions>,
) -> Option<Permissions> {
    let mut publish = subject_permission(&limits.publish);
    let mut subscribe = subject_permission(&limits.subscribe);
    if publish.is_none() && subscribe.is_none() {
        if let Some(d) = defaults {
            publish = subject_permission(&d.publish);
            subscribe = subject_permission(&d.subscribe);
        }
    }
    let response = limits.resp.as_ref().map(|r| ResponsePermission {
        max_msgs: if r.max == 0 { 1 } else { r.max },
        expires: Some(if r.ttl > 0 {
            Duration::from_nanos(r.ttl as u64)
        } else {
            super::config::RESPONSE_EXPIRES_DEFAULT
        }),
    });
    if publish.is_none() && subscribe.is_none() && response.is_none() {
        return None;
    }
    Some(Permissions {
        publish,
        subscribe,
        response,
    })
}

/// The registry form of an account JWT.
pub fn account_config(claims: &jwt::Claims<jwt::Account>) -> AccountConfig {
    use super::config::{Export, ExportKind, Import, ResponseType};
    let kind = |t: &str| {
        if t.eq_ignore_ascii_case("service") {
            ExportKind::Service
        } else {
            ExportKind::Stream
        }
    };
    let limit = |v: i64| if v < 0 { 0 } else { v.max(1) };
    let exports = claims
        .nats
        .exports
        .iter()
        .map(|e| Export {
            kind: kind(&e.kind),
            subject: e.subject.clone(),
            accounts: Vec::new(),
            response_type: match e.response_type.as_str() {
                "Stream" => ResponseType::Stream,
                "Chunked" => ResponseType::Chunked,
                _ => ResponseType::Singleton,
            },
            response_threshold: if e.response_threshold > 0 {
                Duration::from_nanos(e.response_threshold as u64)
            } else {
                super::config::RESPONSE_THRESHOLD_DEFAULT
            },
        })
        .collect();
    let imports = claims
        .nats
        .imports
        .iter()
        .map(|i| {
            let local = if i.local_subject.is_empty() {
                i.to.clone()
            } else {
                i.local_subject.clone()
            };
            let stream = kind(&i.kind) == ExportKind::Stream;
            Import {
                kind: kind(&i.kind),
                account: i.account.clone(),
                subject: i.subject.clone(),
                // A stream's `to` is a prefix in JWTs from older tools.
                prefix: if stream && !i.to.is_empty() && i.local_subject.is_empty() {
                    format!("{}.", i.to.trim_end_matches('.'))
                } else {
                    String::new()
                },
                to: if stream && i.local_subject.is_empty() {
                    String::new()
                } else {
                    local
                },
            }
        })
        .collect();
    AccountConfig {
        name: claims.sub.clone(),
        name_tag: claims.name.clone(),
        nkey: claims.sub.clone(),
        exports,
        imports,
        limits: AccountLimits {
            max_connections: limit(claims.nats.limits.conn),
            max_subscriptions: limit(claims.nats.limits.subs),
            max_payload: limit(claims.nats.limits.payload),
        },
    }
}

/// `GET <url>` with a short timeout (the nats-account-server protocol): the body of a 200
/// answer, else nats-server's `could not fetch <"url">: <status>`. `https://` URLs use the
/// `resolver_tls` settings (the system CAs without them).
fn fetch(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<String, String> {
    let fail = |why: String| format!("could not fetch <{url:?}>: {why}");
    let (secure, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(fail("unsupported protocol scheme".into())),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let sock = std::net::TcpStream::connect_timeout(&addr, FETCH_TIMEOUT)
        .map_err(|e| fail(e.to_string()))?;
    sock.set_read_timeout(Some(FETCH_TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(FETCH_TIMEOUT)))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: gannet\r\nConnection: close\r\n\r\n"
    );
    let mut stream: Box<dyn ReadWrite> = if secure {
        let config = match tls {
            Some(config) => config.clone(),
            None => {
                crate::tls::config::resolver_client_config(&Default::default()).map_err(fail)?
            }
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| fail(e.to_string()))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| fail(e.to_string()))?;
        Box::new(rustls::StreamOwned::new(conn, sock))
    } else {
        Box::new(sock)
    };
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut resp = Vec::new();
    // Account JWTs are small; anything over 1 MiB is not one. A TLS peer that closes without
    // close_notify still delivered a complete `Connection: close` answer.
    let read = stream.take(1 << 20).read_to_end(&mut resp);
    if let Err(e) = read {
        if resp.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(fail(e.to_string()));
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("malformed response".into()))?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let line = head.lines().next().unwrap_or("");
        return Err(fail(
            line.split_once(' ').map_or(line, |(_, s)| s).to_string(),
        ));
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok(if chunked {
        dechunk(body)
    } else {
        body.trim().to_string()
    })
}

/// A plain or TLS socket.
trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

/// The body of a chunked HTTP answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out.trim().to_string()
}

/// The trust state for `opts`, or `None` outside operator mode.
///
/// # Errors
/// The resolver's directory can't be used.
pub fn from_opts(opts: &crate::opts::Options) -> Result<Option<Arc<Trust>>, String> {
    if !opts.operator_mode() {
        return Ok(None);
    }
    let operators: Vec<jwt::Claims<jwt::Operator>> = opts
        .operators
        .iter()
        .filter_map(|t| jwt::decode(t).ok())
        .collect();
    let mut trust = Trust::new(
        &operators,
        &opts.trusted_keys,
        opts.system_account.clone(),
        opts.resolver.clone().unwrap_or(ResolverConfig::Memory),
        opts.resolver_preload.clone(),
    )?;
    if let Some(tls) = &opts.resolver_tls {
        trust.url_tls = Some(crate::tls::config::resolver_client_config(tls)?);
    }
    Ok(Some(Arc::new(trust)))
}
