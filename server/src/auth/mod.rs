//! Client authentication: deciding at `CONNECT` who a client is and which account it joins.
//!
//! This issue implements nats-server's simple modes (spec §4.1, §4.3, §4.4): no auth, a single
//! user with a password, or a token; passwords and tokens may be bcrypt hashes. The result of a
//! successful check is an [`Identity`], which is where accounts and permissions attach when
//! multi-user, nkey and JWT auth arrive.

pub mod config;

use crate::connect::ConnectOpts;

/// The global account every client joins when no accounts are configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// How clients authenticate, settled from the options at startup and on reload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
}

/// Who a client turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account the client is bound to.
    pub account: String,
    /// The authenticated user name, when there is one (for logs and monitoring).
    pub user: Option<String>,
}

impl Identity {
    fn global(user: Option<String>) -> Identity {
        Identity {
            account: GLOBAL_ACCOUNT.to_string(),
            user,
        }
    }
}

impl AuthConfig {
    /// Whether clients must authenticate (INFO `auth_required`, the auth timer, and the
    /// "first op must be CONNECT" rule).
    pub fn required(&self) -> bool {
        !matches!(self, AuthConfig::None)
    }

    /// Checks a client's CONNECT credentials. The reason for a failure is for the debug log
    /// only; the client just gets `Authorization Violation`.
    ///
    /// # Errors
    /// The credentials don't match.
    pub fn check(&self, opts: &ConnectOpts) -> Result<Identity, &'static str> {
        match self {
            AuthConfig::None => Ok(Identity::global(None)),
            AuthConfig::Token(token) => {
                if password_matches(token, &opts.auth_token) {
                    Ok(Identity::global(None))
                } else {
                    Err("invalid token")
                }
            }
            AuthConfig::User { user, pass } => {
                if opts.user != *user {
                    return Err("unknown user");
                }
                if password_matches(pass, &opts.pass) {
                    Ok(Identity::global(Some(user.clone())))
                } else {
                    Err("invalid password")
                }
            }
        }
    }
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
/// constant-time byte comparison.
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

    #[test]
    fn modes() {
        assert!(AuthConfig::None.check(&opts("x", "y", "z")).is_ok());
        let tok = AuthConfig::Token("s3cr3t".into());
        assert!(tok.check(&opts("", "", "s3cr3t")).is_ok());
        assert!(tok.check(&opts("s3cr3t", "", "")).is_err());
        let user = AuthConfig::User {
            user: "derek".into(),
            pass: "pw".into(),
        };
        assert_eq!(
            user.check(&opts("derek", "pw", ""))
                .unwrap()
                .user
                .as_deref(),
            Some("derek")
        );
        assert!(user.check(&opts("derek", "px", "")).is_err());
        assert!(user.check(&opts("dere", "pw", "")).is_err());
    }

    #[test]
    fn bcrypt_passwords() {
        let hash = bcrypt::hash("s3cr3t", 4).unwrap();
        assert!(is_bcrypt(&hash));
        assert!(password_matches(&hash, "s3cr3t"));
        assert!(!password_matches(&hash, "s3cr3tx"));
        assert!(!is_bcrypt("$2q$10$abc"));
    }
}
