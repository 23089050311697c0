//! Operator (decentralized JWT) mode, spec core.md §4.8 and sys.md §5: trusted operators,
//! account JWTs from a resolver, users authenticating with a user JWT and a signature over
//! the nonce (nats-server `trust.go` for the trusted keys, `accounts.go` for accounts loaded
//! through the account resolver).
//!
//! The trust state outlives reloads (a reload may not change the resolver), so it lives in an
//! `Arc` the runtime snapshots share. Accounts are registered with the server's account
//! registry the first time a client needs them, built from their JWT.
//!
//! The pieces that don't need the trust state live beside it: the URL resolver's HTTP client
//! in [`super::resolver`], the steps of the user JWT check in [`super::user_jwt`], and the
//! claims → configuration conversions in [`super::claims`].

use super::claims::{account_config, dropped_signers, import_allowed, validate_account};
use super::config::{AccountConfig, ResolverConfig};
use super::dirstore::DirStore;
use super::{resolver, user_jwt};
use super::{AuthStep, RejectReason};
use crate::connect::ConnectOpts;
use crate::jwt;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};

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
            ResolverConfig::Url(base) => resolver::fetch(base, self.url_tls.as_ref()).map(|_| ()),
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
            ResolverConfig::Url(base) => {
                resolver::fetch(&format!("{base}{key}"), self.url_tls.as_ref())?
            }
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
                    crate::debug!(
                        "account {key}: exporter {} not available: {e}",
                        import.account
                    );
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
                    crate::debug!(
                        "account {}: import {:?} from {} refused: {why}",
                        claims.sub,
                        import.subject,
                        import.account
                    );
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
    /// [`AuthStep::Resolve`]. The steps are in [`super::user_jwt`]; finding the account is
    /// the trust state's.
    pub fn check(
        &self,
        opts: &ConnectOpts,
        nonce: &str,
        peer_ip: Option<IpAddr>,
        may_wait: bool,
    ) -> AuthStep {
        let user = match user_jwt::decode_user(&opts.jwt, jwt::now_unix()) {
            Ok(user) => user,
            Err(why) => return AuthStep::deny(why),
        };
        let account_key = user_jwt::account_of(&user);
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
        let strict = self.strict_signers.contains(&acc.iss);
        let scope = match user_jwt::issuer_scope(acc, &user, strict) {
            Ok(scope) => scope,
            Err(why) => return AuthStep::deny(why),
        };
        if user_jwt::is_revoked(acc, &user) {
            return AuthStep::Reject(RejectReason::Revoked);
        }
        let limits = scope.unwrap_or_else(|| user.nats.limits.clone());
        let now = SystemTime::now();
        let window_end = match user_jwt::check_limits(
            &limits,
            acc,
            &user.sub,
            nonce,
            user_jwt::Client {
                sig: &opts.sig,
                conn_type: opts.conn_type,
            },
            peer_ip,
            now,
        ) {
            Ok(end) => end,
            Err(why) => return AuthStep::deny(why),
        };
        AuthStep::Accept(user_jwt::accepted(
            account_key,
            &user,
            acc,
            &limits,
            window_end,
        ))
    }
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
