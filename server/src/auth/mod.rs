//! Client authentication: deciding at `CONNECT` who a client is, which account it joins and
//! what it may do (spec §4.1–4.7).
//!
//! Modes, settled from the options at startup and on reload: no auth; a single user or a
//! token; or multi-user (users with passwords and nkey users, in `authorization` or in
//! accounts). A check returns an [`AuthStep`]: accept, reject, or "verify this bcrypt hash",
//! which the worker hands to the bcrypt threads because a bcrypt check costs milliseconds.
//!
//! TLS client certificates add two paths ([`CertAuth`], see [`cert`]): `verify_and_map`, where
//! the certificate names the user, and BOSH certificate clients, where the certificate's CN
//! selects a permission template.

pub mod cert;
pub mod claims;
pub mod config;
pub mod dirstore;
pub mod operator;
pub mod perms;
pub mod pool;
pub mod resolver;
pub mod user_jwt;

#[cfg(test)]
mod test_claims;

use crate::connect::ConnectOpts;
use config::UserConfig;
use perms::ClientPerms;
use std::collections::HashMap;
use std::sync::Arc;

pub use config::GLOBAL_ACCOUNT;

/// A user as the auth check sees it.
#[derive(Debug)]
pub struct User {
    /// The configured entry.
    pub config: UserConfig,
    /// Compiled permissions.
    pub perms: Option<Arc<ClientPerms>>,
}

/// How clients authenticate.
#[derive(Debug, Default)]
pub enum AuthConfig {
    /// No authentication: CONNECT is optional and credentials are ignored.
    #[default]
    None,
    /// `authorization { token }` or `--auth`.
    Token(String),
    /// `authorization { user, password }` or `--user`/`--pass`.
    User {
        /// The username, compared exactly.
        user: String,
        /// The password, plain or bcrypt.
        pass: String,
    },
    /// Users and nkey users (`authorization { users }` and accounts).
    Users {
        /// Password users by name.
        users: HashMap<String, Arc<User>>,
        /// Nkey users by public key.
        nkeys: HashMap<String, Arc<User>>,
        /// The user (name or nkey) a client without credentials becomes.
        no_auth_user: Option<String>,
        /// INFO still says `auth_required` although `no_auth_user` is set (the user made up
        /// for a system-account-only config).
        advertise_auth: bool,
    },
    /// Operator mode: user JWTs checked against the trusted operators' accounts.
    Operator(Arc<operator::Trust>),
}

/// How a verified TLS client certificate takes part in authentication.
#[derive(Debug, Default)]
pub enum CertAuth {
    /// Certificates don't identify anybody (plain `verify`, or no TLS).
    #[default]
    None,
    /// `tls.verify_and_map`: the certificate names a configured user (spec §4.6).
    Map,
    /// BOSH `tls.enable_cert_authorization` with `authorization.certificate_clients`.
    Clients(cert::CertClients),
}

impl CertAuth {
    /// Builds it from the options: BOSH certificate clients win over `verify_and_map`.
    pub fn from_opts(opts: &crate::opts::Options) -> CertAuth {
        let Some(tls) = &opts.tls else {
            return CertAuth::None;
        };
        if tls.enable_cert_authorization {
            return CertAuth::Clients(cert::CertClients {
                entries: opts.authorization.certificate_clients.clone(),
                allow_legacy: tls.allow_legacy_clients,
            });
        }
        if tls.map {
            return CertAuth::Map;
        }
        CertAuth::None
    }

    /// Certificate clients must authenticate even when no other auth is configured.
    pub fn requires_auth(&self) -> bool {
        matches!(self, CertAuth::Clients(_))
    }
}

/// Who a client turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account the client is bound to.
    pub account: String,
    /// The authenticated user name or nkey, when there is one (for logs and monitoring).
    pub user: Option<String>,
    /// The user's permissions; `None` allows everything.
    pub perms: Option<Arc<ClientPerms>>,
    /// When the credential expires (user JWT `exp`, or the end of its `times` window); the
    /// client is closed then.
    pub expires: Option<std::time::SystemTime>,
    /// What a user JWT and its account add (operator mode).
    pub jwt: Option<Arc<JwtFacts>>,
}

/// Limits and deadlines of a client that authenticated with a user JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtFacts {
    /// Most subscriptions (the user's `subs`): -1 = no limit of its own, 0 = none allowed.
    pub max_subs: i64,
    /// Largest payload (the user's `payload`): -1 = no limit of its own, 0 = nothing.
    pub max_payload: i64,
    /// When the account JWT expires (`Account Authentication Expired`).
    pub account_expires: Option<std::time::SystemTime>,
    /// The key that signed the user JWT (the account or one of its signing keys).
    pub issuer: String,
    /// The user JWT's tags.
    pub tags: Vec<String>,
    /// The user JWT's `name`.
    pub user_name: String,
}

impl Identity {
    /// An unrestricted client of the global account.
    pub fn global(user: Option<String>) -> Identity {
        Identity {
            account: GLOBAL_ACCOUNT.to_string(),
            user,
            perms: None,
            expires: None,
            jwt: None,
        }
    }

    fn of(user: &User, name: &str) -> Identity {
        let account = if user.config.account.is_empty() {
            GLOBAL_ACCOUNT
        } else {
            &user.config.account
        };
        Identity {
            account: account.to_string(),
            user: Some(name.to_string()),
            perms: user.perms.clone(),
            expires: None,
            jwt: None,
        }
    }
}

/// The outcome of a credential check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Authenticated.
    Accept(Identity),
    /// Refused.
    Reject(RejectReason),
    /// The account is not loaded yet and must be fetched (URL or NATS resolver): check again
    /// off the worker thread, where waiting is allowed.
    Resolve,
    /// Accept as `then` if `given` verifies against the bcrypt `hash` (off the worker thread).
    VerifyBcrypt {
        /// The configured hash.
        hash: String,
        /// The client's secret.
        given: String,
        /// The identity on success.
        then: Identity,
    },
}

impl AuthStep {
    /// A refusal whose text is for the debug log only.
    pub const fn deny(why: &'static str) -> AuthStep {
        AuthStep::Reject(RejectReason::Denied(why))
    }
}

/// Why a credential check refused a client. Callers branch on the variant, never on the
/// text: only a revoked user is told something other than `Authorization Violation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The user JWT was revoked by its account (a claims update tells the connected client
    /// `User Authentication Revoked`).
    Revoked,
    /// Any other refusal (unknown user, bad signature, expired JWT, …); the text says which,
    /// for the debug log.
    Denied(&'static str),
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::Revoked => f.write_str("user JWT revoked"),
            RejectReason::Denied(why) => f.write_str(why),
        }
    }
}

impl AuthConfig {
    /// Builds the auth mode from the options (spec §4.1: the first matching mode wins).
    pub fn from_opts(
        opts: &crate::opts::Options,
        trust: Option<&Arc<operator::Trust>>,
    ) -> AuthConfig {
        if let Some(trust) = trust {
            return AuthConfig::Operator(trust.clone());
        }
        if !opts.users.is_empty() {
            let mut users = HashMap::new();
            let mut nkeys = HashMap::new();
            for u in &opts.users {
                let perms = u
                    .permissions
                    .as_ref()
                    .map(|p| Arc::new(ClientPerms::compile(p)));
                let user = Arc::new(User {
                    config: u.clone(),
                    perms,
                });
                if u.nkey.is_empty() {
                    users.insert(u.user.clone(), user);
                } else {
                    nkeys.insert(u.nkey.clone(), user);
                }
            }
            let no_auth_user = (!opts.no_auth_user.is_empty()).then(|| opts.no_auth_user.clone());
            let advertise_auth = !opts.sys_only_no_auth_user.is_empty()
                && opts.no_auth_user == opts.sys_only_no_auth_user;
            return AuthConfig::Users {
                users,
                nkeys,
                no_auth_user,
                advertise_auth,
            };
        }
        if !opts.authorization.token.is_empty() {
            return AuthConfig::Token(opts.authorization.token.clone());
        }
        if !opts.authorization.user.is_empty() {
            return AuthConfig::User {
                user: opts.authorization.user.clone(),
                pass: opts.authorization.password.clone(),
            };
        }
        AuthConfig::None
    }

    /// Whether clients must authenticate (the auth timer and the "first op must be CONNECT"
    /// rule apply).
    pub fn required(&self) -> bool {
        !matches!(self, AuthConfig::None)
    }

    /// Whether INFO says `auth_required`: not when a `no_auth_user` lets anyone in.
    pub fn info_auth_required(&self) -> bool {
        match self {
            AuthConfig::None => false,
            AuthConfig::Operator(_) => true,
            AuthConfig::Users {
                no_auth_user,
                advertise_auth,
                ..
            } => no_auth_user.is_none() || *advertise_auth,
            _ => true,
        }
    }

    /// Whether INFO carries a nonce (nkey users are configured).
    pub fn wants_nonce(&self) -> bool {
        matches!(self, AuthConfig::Users { nkeys, .. } if !nkeys.is_empty())
            || matches!(self, AuthConfig::Operator(_))
    }

    /// The identity a client gets without CONNECT credentials, if a `no_auth_user` exists.
    pub fn no_auth_identity(&self) -> Option<Identity> {
        let AuthConfig::Users {
            users,
            nkeys,
            no_auth_user: Some(name),
            ..
        } = self
        else {
            return None;
        };
        let user = users.get(name).or_else(|| nkeys.get(name))?;
        Some(Identity::of(user, name))
    }

    /// Checks a client's CONNECT, with the client's verified TLS certificate (DER) if it
    /// presented one: certificate clients and `verify_and_map` first, as `cert_auth` says,
    /// then the credential check of [`AuthConfig::check`].
    pub fn check_client(
        &self,
        cert_auth: &CertAuth,
        opts: &ConnectOpts,
        nonce: &str,
        peer_cert: Option<&[u8]>,
        peer_ip: Option<std::net::IpAddr>,
    ) -> AuthStep {
        if let AuthConfig::Operator(trust) = self {
            return trust.check(opts, nonce, peer_ip, false);
        }
        match (cert_auth, peer_cert) {
            (CertAuth::Clients(clients), Some(der)) => clients.check(der),
            (CertAuth::Clients(clients), None) if !clients.allow_legacy => {
                AuthStep::deny("client certificate required")
            }
            (CertAuth::Map, _) => self.check_mapped(opts, nonce, peer_cert),
            _ => self.check(opts, nonce),
        }
    }

    /// `verify_and_map` (spec §4.2 step 4): with users configured and no nkey user selected,
    /// the certificate picks the user and a `user` in CONNECT is ignored.
    fn check_mapped(&self, opts: &ConnectOpts, nonce: &str, peer_cert: Option<&[u8]>) -> AuthStep {
        let AuthConfig::Users {
            users,
            nkeys,
            no_auth_user,
            ..
        } = self
        else {
            return self.check(opts, nonce);
        };
        let no_credentials = opts.user.is_empty()
            && opts.pass.is_empty()
            && opts.auth_token.is_empty()
            && opts.nkey.is_empty();
        let nkey_selected = !opts.nkey.is_empty()
            || (no_credentials && no_auth_user.as_ref().is_some_and(|n| nkeys.contains_key(n)));
        if users.is_empty() || (!nkeys.is_empty() && nkey_selected) {
            return self.check(opts, nonce);
        }
        let Some(cert) = peer_cert.and_then(cert::CertIdentity::from_der) else {
            return AuthStep::deny("user required in cert, no peer certificate");
        };
        let usable = |u: &User| allowed_type(&u.config, opts.conn_type);
        let dn_users: Vec<(&str, cert::Dn)> = users
            .iter()
            .filter(|(_, u)| usable(u))
            .filter_map(|(name, _)| cert::parse_dn(name).map(|dn| (name.as_str(), dn)))
            .collect();
        let lookup = |name: &str| users.get(name).is_some_and(|u| usable(u));
        let Some(name) = cert::map_to_user(&cert, lookup, &dn_users) else {
            return AuthStep::deny("user in cert not found");
        };
        let Some(user) = users.get(&name) else {
            return AuthStep::deny("user in cert not found");
        };
        // Mapped users normally have no password; one that has must still be given.
        secret_step(
            &user.config.password,
            &opts.pass,
            Identity::of(user, &name),
            "invalid password",
        )
    }

    /// Checks a client's CONNECT credentials against the nonce it was sent (spec §4.2).
    pub fn check(&self, opts: &ConnectOpts, nonce: &str) -> AuthStep {
        match self {
            AuthConfig::None => AuthStep::Accept(Identity::global(None)),
            AuthConfig::Operator(trust) => trust.check(opts, nonce, None, false),
            AuthConfig::Token(token) => secret_step(
                token,
                &opts.auth_token,
                Identity::global(None),
                "invalid token",
            ),
            AuthConfig::User { user, pass } => {
                if opts.user != *user {
                    return AuthStep::deny("unknown user");
                }
                secret_step(
                    pass,
                    &opts.pass,
                    Identity::global(Some(user.clone())),
                    "invalid password",
                )
            }
            AuthConfig::Users { users, nkeys, .. } => {
                let no_credentials = opts.user.is_empty()
                    && opts.pass.is_empty()
                    && opts.auth_token.is_empty()
                    && opts.nkey.is_empty();
                if no_credentials {
                    return match self.no_auth_identity() {
                        Some(identity) => AuthStep::Accept(identity),
                        None => AuthStep::deny("no credentials"),
                    };
                }
                if !opts.nkey.is_empty() {
                    let Some(user) = nkeys.get(&opts.nkey) else {
                        return AuthStep::deny("unknown nkey");
                    };
                    if !allowed_type(&user.config, opts.conn_type) {
                        return AuthStep::deny("connection type not allowed");
                    }
                    return if verify_nonce_signature(&opts.nkey, nonce, &opts.sig) {
                        AuthStep::Accept(Identity::of(user, &opts.nkey))
                    } else {
                        AuthStep::deny("invalid nkey signature")
                    };
                }
                let Some(user) = users.get(&opts.user) else {
                    return AuthStep::deny("unknown user");
                };
                if !allowed_type(&user.config, opts.conn_type) {
                    return AuthStep::deny("connection type not allowed");
                }
                secret_step(
                    &user.config.password,
                    &opts.pass,
                    Identity::of(user, &opts.user),
                    "invalid password",
                )
            }
        }
    }
}

/// Whether the user may connect as `conn_type` (`STANDARD` or `WEBSOCKET`).
fn allowed_type(user: &UserConfig, conn_type: &str) -> bool {
    user.allowed_connection_types.is_empty()
        || user.allowed_connection_types.iter().any(|t| t == conn_type)
}

fn secret_step(configured: &str, given: &str, then: Identity, why: &'static str) -> AuthStep {
    if is_bcrypt(configured) {
        return AuthStep::VerifyBcrypt {
            hash: configured.to_string(),
            given: given.to_string(),
            then,
        };
    }
    if constant_time_eq(configured.as_bytes(), given.as_bytes()) {
        AuthStep::Accept(then)
    } else {
        AuthStep::deny(why)
    }
}

/// Verifies an nkey signature of the nonce: base64url without padding first, then standard
/// base64 (spec §4.5).
pub fn verify_nonce_signature(public_key: &str, nonce: &str, sig: &str) -> bool {
    use base64::Engine;
    let Ok(kp) = nkeys::KeyPair::from_public_key(public_key) else {
        return false;
    };
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(sig));
    match decoded {
        Ok(sig) => kp.verify(nonce.as_bytes(), &sig).is_ok(),
        Err(_) => false,
    }
}

/// A fresh nonce for INFO: 11 random bytes, base64url without padding (15 characters).
pub fn new_nonce() -> String {
    use base64::Engine;
    let bytes: [u8; 11] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a configured secret is a bcrypt hash: `$2a$`, `$2b$`, `$2x$` or `$2y$` followed by
/// a two-digit cost (nats-server `isBcrypt`).
pub fn is_bcrypt(secret: &str) -> bool {
    let b = secret.as_bytes();
    b.len() > 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// Compares a client secret with a configured one: bcrypt verification for hashes, otherwise a
/// constant-time byte comparison. Slow for bcrypt: never call it on a worker thread.
pub fn password_matches(configured: &str, given: &str) -> bool {
    if is_bcrypt(configured) {
        return bcrypt::verify(given, configured).unwrap_or(false);
    }
    constant_time_eq(configured.as_bytes(), given.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(user: &str, pass: &str, token: &str) -> ConnectOpts {
        ConnectOpts {
            user: user.into(),
            pass: pass.into(),
            auth_token: token.into(),
            ..Default::default()
        }
    }

    fn accepted(step: AuthStep) -> Option<Identity> {
        match step {
            AuthStep::Accept(i) => Some(i),
            AuthStep::VerifyBcrypt { hash, given, then } => {
                password_matches(&hash, &given).then_some(then)
            }
            AuthStep::Reject(_) | AuthStep::Resolve => None,
        }
    }

    #[test]
    fn simple_modes() {
        assert!(accepted(AuthConfig::None.check(&opts("x", "y", "z"), "")).is_some());
        let tok = AuthConfig::Token("s3cr3t".into());
        assert!(accepted(tok.check(&opts("", "", "s3cr3t"), "")).is_some());
        assert!(accepted(tok.check(&opts("s3cr3t", "", ""), "")).is_none());
        let user = AuthConfig::User {
            user: "derek".into(),
            pass: "pw".into(),
        };
        assert_eq!(
            accepted(user.check(&opts("derek", "pw", ""), ""))
                .unwrap()
                .user
                .as_deref(),
            Some("derek")
        );
        assert!(accepted(user.check(&opts("derek", "px", ""), "")).is_none());
        assert!(accepted(user.check(&opts("dere", "pw", ""), "")).is_none());
    }

    #[test]
    fn bcrypt_goes_off_thread() {
        let hash = bcrypt::hash("s3cr3t", 4).unwrap();
        assert!(is_bcrypt(&hash));
        let user = AuthConfig::User {
            user: "a".into(),
            pass: hash.clone(),
        };
        assert!(matches!(
            user.check(&opts("a", "s3cr3t", ""), ""),
            AuthStep::VerifyBcrypt { .. }
        ));
        assert!(password_matches(&hash, "s3cr3t"));
        assert!(!password_matches(&hash, "s3cr3tx"));
        assert!(!is_bcrypt("$2q$10$abc"));
    }

    #[test]
    fn nkey_signatures() {
        use base64::Engine;
        let kp = nkeys::KeyPair::new_user();
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 15);
        let sig = kp.sign(nonce.as_bytes()).unwrap();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig);
        let std = base64::engine::general_purpose::STANDARD.encode(&sig);
        assert!(verify_nonce_signature(&kp.public_key(), &nonce, &url));
        assert!(verify_nonce_signature(&kp.public_key(), &nonce, &std));
        assert!(!verify_nonce_signature(&kp.public_key(), "other", &url));
    }
}
