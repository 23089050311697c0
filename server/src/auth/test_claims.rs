//! Claims fixtures shared by the auth modules' unit tests.

use crate::jwt;

/// Owned strings, for expected permission lists.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A version 2 account claim for `key`, nothing else set.
pub fn account(key: &str) -> jwt::Claims<jwt::Account> {
    jwt::Claims {
        sub: key.to_string(),
        nats: jwt::Account {
            kind: "account".into(),
            version: 2,
            ..jwt::Account::default()
        },
        ..jwt::Claims::default()
    }
}

/// A version 2 user claim for `sub` issued by `iss`, nothing else set.
pub fn user(sub: &str, iss: &str) -> jwt::Claims<jwt::User> {
    jwt::Claims {
        sub: sub.to_string(),
        iss: iss.to_string(),
        nats: jwt::User {
            kind: "user".into(),
            version: 2,
            ..jwt::User::default()
        },
        ..jwt::Claims::default()
    }
}
