//! Operator (decentralized JWT) mode, spec core.md §4.8 and sys.md §5: trusted operators,
//! account JWTs from a resolver, users authenticating with a user JWT and a signature over
//! the nonce.
//!
//! The trust state outlives reloads (a reload may not change the resolver), so it lives in an
//! `Arc` the runtime snapshots share. Accounts are registered with the server's account
//! registry the first time a client needs them, built from their JWT.

use super::config::{
    AccountConfig, AccountLimits, Permissions, ResponsePermission, SubjectPermission,
};
use super::perms::ClientPerms;
use super::{verify_nonce_signature, AuthStep, Identity};
use crate::connect::ConnectOpts;
use crate::jwt;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, UNIX_EPOCH};

/// Where account JWTs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverConfig {
    /// `resolver: MEMORY`: only `resolver_preload`.
    Memory,
    /// `resolver: URL(<base>)`: the nats-account-server protocol.
    Url(String),
}

/// An account JWT in use, decoded.
#[derive(Debug, Clone)]
pub struct AccountJwt {
    /// The token as received.
    pub token: String,
    /// Its claims.
    pub claims: jwt::Claims<jwt::Account>,
}

/// The trust state of operator mode.
#[derive(Debug)]
pub struct Trust {
    /// Keys that may sign account JWTs: operator keys (unless strict) and signing keys.
    issuers: HashSet<String>,
    /// The system account's public key.
    pub system_account: String,
    resolver: ResolverConfig,
    preload: BTreeMap<String, String>,
    /// Current claims of every account loaded so far.
    accounts: RwLock<HashMap<String, Arc<AccountJwt>>>,
    shared: OnceLock<Weak<crate::server::Shared>>,
}

/// How long a URL resolver fetch may take (nats-server's default).
const FETCH_TIMEOUT: Duration = Duration::from_millis(1900);

impl Trust {
    /// Builds the trust state from the decoded operator JWTs and `trusted_keys`.
    pub fn new(
        operators: &[jwt::Claims<jwt::Operator>],
        trusted_keys: &[String],
        system_account: String,
        resolver: ResolverConfig,
        preload: BTreeMap<String, String>,
    ) -> Trust {
        let mut issuers: HashSet<String> = trusted_keys.iter().cloned().collect();
        for op in operators {
            if !op.nats.strict_signing_key_usage {
                issuers.insert(op.sub.clone());
            }
            issuers.extend(op.nats.signing_keys.iter().cloned());
        }
        Trust {
            issuers,
            system_account,
            resolver,
            preload,
            accounts: RwLock::new(HashMap::new()),
            shared: OnceLock::new(),
        }
    }

    /// nats-server's startup check of a URL resolver: `GET <base>` must answer 200.
    ///
    /// # Errors
    /// `could not fetch <"url">: <status or error>`.
    pub fn probe(&self) -> Result<(), String> {
        match &self.resolver {
            ResolverConfig::Url(base) => fetch(base).map(|_| ()),
            ResolverConfig::Memory => Ok(()),
        }
    }

    /// Links the trust state to the server, so accounts can be registered.
    pub fn attach(&self, shared: &Arc<crate::server::Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
    }

    /// The account JWT for `key`: loaded already, or fetched from the resolver and checked.
    ///
    /// # Errors
    /// Not found, not decodable, or not issued by a trusted key.
    pub fn account(&self, key: &str) -> Result<Arc<AccountJwt>, String> {
        if let Some(acc) = self.accounts.read().get(key) {
            return Ok(acc.clone());
        }
        let token = match &self.resolver {
            ResolverConfig::Memory => self
                .preload
                .get(key)
                .cloned()
                .ok_or_else(|| "account not found".to_string())?,
            ResolverConfig::Url(base) => fetch(&format!("{base}{key}"))?,
        };
        self.apply(key, &token)
    }

    /// Checks an account JWT and makes it the account's current claims; the live account
    /// (limits, exports, imports) follows. Returns the new state.
    ///
    /// # Errors
    /// `account validation failed` for an untrusted issuer, or the decode error.
    pub fn apply(&self, key: &str, token: &str) -> Result<Arc<AccountJwt>, String> {
        let claims: jwt::Claims<jwt::Account> = jwt::decode(token)?;
        if claims.sub != key {
            return Err("subject does not match jwt content".into());
        }
        if !self.issuers.contains(&claims.iss) {
            return Err("account validation failed".into());
        }
        if claims.exp > 0 && claims.exp <= jwt::now_unix() {
            return Err("account expired".into());
        }
        let acc = Arc::new(AccountJwt {
            token: token.to_string(),
            claims,
        });
        self.accounts.write().insert(key.to_string(), acc.clone());
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            shared.accounts.register(account_config(&acc.claims));
        }
        Ok(acc)
    }

    /// Whether `key`'s account is loaded here.
    pub fn is_loaded(&self, key: &str) -> bool {
        self.accounts.read().contains_key(key)
    }

    /// Checks a client's CONNECT: its user JWT, the signature over `nonce`, the account's
    /// trust, revocations and expiry (spec core.md §4.8).
    pub fn check(&self, opts: &ConnectOpts, nonce: &str) -> AuthStep {
        if opts.jwt.is_empty() {
            return AuthStep::Reject("no user JWT");
        }
        let Ok(user) = jwt::decode::<jwt::User>(&opts.jwt) else {
            return AuthStep::Reject("user JWT not valid");
        };
        if user.nats.kind != "user" {
            return AuthStep::Reject("JWT is not a user JWT");
        }
        let now = jwt::now_unix();
        if user.exp > 0 && user.exp <= now {
            return AuthStep::Reject("user JWT expired");
        }
        if user.nbf > now {
            return AuthStep::Reject("user JWT not yet valid");
        }
        let account_key = if user.nats.issuer_account.is_empty() {
            user.iss.clone()
        } else {
            user.nats.issuer_account.clone()
        };
        let Ok(account) = self.account(&account_key) else {
            return AuthStep::Reject("account not found");
        };
        let acc = &account.claims;
        // The issuer is the account itself or one of its signing keys; a scoped key's template
        // replaces the user's own permissions.
        let scope = if user.iss == acc.sub {
            None
        } else {
            match acc.nats.signing_keys.iter().find(|k| k.key() == user.iss) {
                Some(jwt::SigningKey::Scoped { template, .. }) => {
                    if !has_no_permissions(&user.nats.limits) {
                        return AuthStep::Reject(
                            "scoped users require no permissions or limits set",
                        );
                    }
                    Some((**template).clone())
                }
                Some(jwt::SigningKey::Key(_)) => None,
                None => return AuthStep::Reject("user JWT issuer is not trusted by its account"),
            }
        };
        let revoked = |k: &str| {
            acc.nats
                .revocations
                .get(k)
                .is_some_and(|at| *at >= user.iat)
        };
        if revoked(&user.sub) || revoked("*") {
            return AuthStep::Reject("user JWT revoked");
        }
        let limits = scope.unwrap_or_else(|| user.nats.limits.clone());
        if limits.bearer_token {
            if acc.nats.limits.disallow_bearer {
                return AuthStep::Reject("bearer tokens not allowed by the account");
            }
        } else if !verify_nonce_signature(&user.sub, nonce, &opts.sig) {
            return AuthStep::Reject("signature does not verify");
        }
        let perms = permissions(&limits, acc.nats.default_permissions.as_ref());
        AuthStep::Accept(Identity {
            account: account_key,
            user: Some(user.sub.clone()),
            perms: perms.map(|p| Arc::new(ClientPerms::compile(&p))),
            expires: (user.exp > 0).then(|| UNIX_EPOCH + Duration::from_secs(user.exp as u64)),
        })
    }
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
/// answer, else nats-server's `could not fetch <"url">: <status>`.
fn fetch(url: &str) -> Result<String, String> {
    let fail = |why: String| format!("could not fetch <{url:?}>: {why}");
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// URLs are supported".into()))?;
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
    let mut sock = std::net::TcpStream::connect_timeout(&addr, FETCH_TIMEOUT)
        .map_err(|e| fail(e.to_string()))?;
    sock.set_read_timeout(Some(FETCH_TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(FETCH_TIMEOUT)))
        .map_err(|e| fail(e.to_string()))?;
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: gannet\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut resp = Vec::new();
    // Account JWTs are small; anything over 1 MiB is not one.
    sock.take(1 << 20)
        .read_to_end(&mut resp)
        .map_err(|e| fail(e.to_string()))?;
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
pub fn from_opts(opts: &crate::opts::Options) -> Option<Arc<Trust>> {
    if !opts.operator_mode() {
        return None;
    }
    let operators: Vec<jwt::Claims<jwt::Operator>> = opts
        .operators
        .iter()
        .filter_map(|t| jwt::decode(t).ok())
        .collect();
    Some(Arc::new(Trust::new(
        &operators,
        &opts.trusted_keys,
        opts.system_account.clone(),
        opts.resolver.clone().unwrap_or(ResolverConfig::Memory),
        opts.resolver_preload.clone(),
    )))
}
