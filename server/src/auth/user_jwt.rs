//! The user JWT check of operator mode, step by step (nats-server `auth.go`: the user JWT part
//! of `processClientOrLeafAuthentication`, with `validateSrc` and `validateTimes`; the
//! revocation test is `Account.checkUserRevoked` in `accounts.go`).
//!
//! [`Trust::check`](super::operator::Trust::check) runs the steps in order and turns each
//! refusal into an [`AuthStep`](super::AuthStep): `decode_user` (the token itself), finding
//! the account (the trust state's own job), `issuer_scope` (who signed the user),
//! `is_revoked`, `check_limits` (signature or bearer token, connection type, source network,
//! time window) and finally `accepted`, the identity the client gets. Everything here is a
//! plain function of the claims, the client and the clock.

use super::claims::permissions;
use super::perms::ClientPerms;
use super::{verify_nonce_signature, Identity, JwtFacts};
use crate::jwt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Decodes a client's user JWT and checks that it is a user JWT valid at `now` (unix seconds).
///
/// # Errors
/// Why the token is refused: missing, not decodable or not signed by its `iss`, another kind
/// of JWT, expired or not yet valid.
pub(super) fn decode_user(token: &str, now: i64) -> Result<jwt::Claims<jwt::User>, &'static str> {
    if token.is_empty() {
        return Err("no user JWT");
    }
    let Ok(user) = jwt::decode::<jwt::User>(token) else {
        return Err("user JWT not valid");
    };
    if user.nats.kind != "user" {
        return Err("JWT is not a user JWT");
    }
    if user.exp > 0 && user.exp <= now {
        return Err("user JWT expired");
    }
    if user.nbf > now {
        return Err("user JWT not yet valid");
    }
    Ok(user)
}

/// The account a user belongs to: `issuer_account` when one of the account's signing keys
/// issued the JWT, else the issuer itself.
pub(super) fn account_of(user: &jwt::Claims<jwt::User>) -> String {
    if user.nats.issuer_account.is_empty() {
        user.iss.clone()
    } else {
        user.nats.issuer_account.clone()
    }
}

/// Checks who signed the user JWT: the account itself (not allowed when the account's
/// operator is strict, `strict_operator`) or one of the account's signing keys. A scoped
/// signing key's template replaces the user's own permissions and limits: it is returned,
/// and the user JWT must then set none of its own.
///
/// # Errors
/// Why the issuer is refused.
pub(super) fn issuer_scope(
    acc: &jwt::Claims<jwt::Account>,
    user: &jwt::Claims<jwt::User>,
    strict_operator: bool,
) -> Result<Option<jwt::UserPermissionLimits>, &'static str> {
    if user.iss == acc.sub {
        if strict_operator {
            return Err("strict signing: users must be signed by a signing key");
        }
        return Ok(None);
    }
    match acc.nats.signing_keys.iter().find(|k| k.key() == user.iss) {
        Some(jwt::SigningKey::Scoped { template, .. }) => {
            if !has_no_permissions(&user.nats.limits) {
                return Err("scoped users require no permissions or limits set");
            }
            Ok(Some((**template).clone()))
        }
        Some(jwt::SigningKey::Key(_)) => Ok(None),
        None => Err("user JWT issuer is not trusted by its account"),
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

/// A user is revoked when the account revoked its key, or everybody, at or after the user
/// JWT's issue time.
pub(super) fn is_revoked(acc: &jwt::Claims<jwt::Account>, user: &jwt::Claims<jwt::User>) -> bool {
    let revoked = |k: &str| {
        acc.nats
            .revocations
            .get(k)
            .is_some_and(|at| *at >= user.iat)
    };
    revoked(&user.sub) || revoked("*")
}

/// The conditions the user's effective `limits` put on this connection, in nats-server's
/// order: the signature over `nonce` by `user_key` (or a bearer token the account allows),
/// the connection type, the source network and the time window. Returns the end of the
/// current time window, if the user has windows.
///
/// # Errors
/// The first condition not met.
pub(super) fn check_limits(
    limits: &jwt::UserPermissionLimits,
    acc: &jwt::Claims<jwt::Account>,
    user_key: &str,
    nonce: &str,
    client: Client<'_>,
    peer: Option<IpAddr>,
    now: SystemTime,
) -> Result<Option<SystemTime>, &'static str> {
    let sig = client.sig;
    if limits.bearer_token {
        if acc.nats.limits.disallow_bearer {
            return Err("bearer tokens not allowed by the account");
        }
    } else if !verify_nonce_signature(user_key, nonce, sig) {
        return Err("signature does not verify");
    }
    if !connection_type_allowed(&limits.allowed_connection_types, client.conn_type) {
        return Err("connection type not allowed");
    }
    if !source_allowed(&limits.src.items(), peer) {
        return Err("source network not allowed");
    }
    time_window(limits, now)
}

/// The identity of an accepted user of account `account`: its permissions (or the account's
/// defaults), its own limits, and when it must be closed (the user JWT's expiry or the end
/// of its time window, whichever comes first).
pub(super) fn accepted(
    account: String,
    user: &jwt::Claims<jwt::User>,
    acc: &jwt::Claims<jwt::Account>,
    limits: &jwt::UserPermissionLimits,
    window_end: Option<SystemTime>,
) -> Identity {
    let perms = permissions(limits, acc.nats.default_permissions.as_ref());
    let user_exp = (user.exp > 0).then(|| UNIX_EPOCH + Duration::from_secs(user.exp as u64));
    let expires = match (user_exp, window_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Identity {
        account,
        user: Some(user.sub.clone()),
        perms: perms.map(|p| Arc::new(ClientPerms::compile(&p))),
        expires,
        jwt: Some(Arc::new(JwtFacts {
            max_subs: limits.subs,
            max_payload: limits.payload,
            account_expires: (acc.exp > 0)
                .then(|| UNIX_EPOCH + Duration::from_secs(acc.exp as u64)),
            issuer: user.iss.clone(),
            tags: user.nats.tags.clone(),
            user_name: user.name.clone(),
        })),
    }
}

/// What the client brought besides its JWT: the nonce signature and its connection type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Client<'a> {
    /// The nonce signature from CONNECT.
    pub sig: &'a str,
    /// `STANDARD` for the client port, `WEBSOCKET` for the WebSocket port.
    pub conn_type: &'a str,
}

/// Whether a user limited to `types` may connect as `conn_type` (none listed: any).
pub(super) fn connection_type_allowed(types: &[String], conn_type: &str) -> bool {
    types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(conn_type))
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

/// Whether `ip` is in the network `cidr` (`addr/bits`). An IPv4-mapped IPv6 address counts
/// as its IPv4 address for an IPv4 network; anything that doesn't parse contains nothing.
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
///
/// # Errors
/// An unsupported `times_location`, a window that isn't `HH:MM:SS`–`HH:MM:SS`, or `now`
/// outside every window.
fn time_window(
    limits: &jwt::UserPermissionLimits,
    now: SystemTime,
) -> Result<Option<SystemTime>, &'static str> {
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

#[cfg(test)]
mod tests;
