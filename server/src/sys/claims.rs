//! Account JWT services over `$SYS` (spec sys.md §5.4–5.6): claims updates, and for the
//! NATS-based resolvers lookups, lists, deletes and the pack exchange that keeps full
//! resolvers in step.
//!
//! Called by [`super::requests::answer`] (update, lookup, list, delete) and by the system
//! thread's state in [`super::events`] (pack, merge).

use super::events::EventSender;
use crate::auth::dirstore::Stored;
use crate::auth::operator::{AccountChange, Trust};
use crate::auth::AuthConfig;
use crate::shared::Shared;
use serde_json::json;
use std::sync::Arc;

/// The ClaimUpdate envelope: `data` with code 200, or `error` with code 500 and the
/// description `<message> - <err>`. `account` is left out when empty.
fn envelope(
    s: &mut EventSender,
    shared: &Shared,
    account: &str,
    message: &str,
    err: Option<&str>,
) -> Option<Vec<u8>> {
    let server = s.server_info(shared);
    let mut body = match err {
        None => {
            json!({"server": server, "data": {"account": account, "code": 200, "message": message}})
        }
        Some(e) => json!({"server": server, "error": {
            "account": account, "code": 500, "description": format!("{message} - {e}")
        }}),
    };
    if account.is_empty() {
        for part in ["data", "error"] {
            if let Some(obj) = body.get_mut(part).and_then(|v| v.as_object_mut()) {
                obj.remove("account");
            }
        }
    }
    serde_json::to_vec(&body).ok()
}

/// Tells every worker that an account's claims changed, so its clients are re-checked. If
/// the account now has more connections than its limit allows, the oldest are kept, as
/// nats-server does: the connection ids of the whole server decide which ones.
pub(crate) fn notify(shared: &Shared, mut change: AccountChange) {
    if let Some(account) = shared.accounts.get(&change.account) {
        let max = account.limits().max_connections;
        if !change.deleted && max >= 0 && account.num_conns() > max {
            let request = crate::msgs::snapshot::SnapshotRequest {
                conns: true,
                subs: false,
            };
            let mut cids: Vec<u64> = shared
                .gather(request)
                .iter()
                .flat_map(|w| w.conns.iter())
                .filter(|c| c.account == change.account)
                .map(|c| c.cid)
                .collect();
            cids.sort_unstable();
            change.conn_cutoff = cids.get(max as usize - 1).copied();
        }
    }
    let change = Arc::new(change);
    for w in shared.workers() {
        w.send_blocking(crate::msgs::WorkerMsg::AccountChanged(change.clone()));
    }
}

fn trust(shared: &Shared) -> Option<Arc<Trust>> {
    match &shared.runtime().0.auth {
        AuthConfig::Operator(trust) => Some(trust.clone()),
        _ => None,
    }
}

/// `$SYS.ACCOUNT.<acc>.CLAIMS.UPDATE`, `$SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE` and
/// `$SYS.REQ.CLAIMS.UPDATE` (the account taken from the JWT).
pub(super) fn update(
    s: &mut EventSender,
    shared: &Arc<Shared>,
    subject: &str,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let from_subject = match tokens.len() {
        _ if subject == "$SYS.REQ.CLAIMS.UPDATE" => None,
        5 => Some(tokens[2]),
        6 => Some(tokens[3]),
        _ => return None,
    };
    let trust = trust(shared);
    match trust
        .as_ref()
        .and_then(|t| t.store().map(|st| st.config.cache))
    {
        Some(cache) => dir_update(s, shared, trust.as_deref()?, cache, from_subject, payload),
        None => plain_update(s, shared, trust.as_deref(), from_subject?, payload),
    }
}

/// With a resolver that does not track updates (MEMORY, URL) or without operator mode (spec
/// sys.md §5.5): the update goes to the live account only, and only if it is loaded here.
fn plain_update(
    s: &mut EventSender,
    shared: &Shared,
    trust: Option<&Trust>,
    acc: &str,
    payload: &[u8],
) -> Option<Vec<u8>> {
    if payload.is_empty() {
        return envelope(
            s,
            shared,
            acc,
            "jwt update error",
            Some("request body is empty"),
        );
    }
    const FAILED: &str = "jwt update resulted in error";
    let token = String::from_utf8_lossy(payload).trim().to_string();
    let claims = match crate::jwt::decode::<crate::jwt::Account>(&token) {
        Ok(claims) => claims,
        Err(e) => return envelope(s, shared, acc, FAILED, Some(&e)),
    };
    if claims.sub != acc {
        return envelope(
            s,
            shared,
            acc,
            FAILED,
            Some("subject does not match jwt content"),
        );
    }
    // Config accounts are not JWT based: nothing here takes the update.
    let Some(trust) = trust.filter(|t| t.is_loaded(acc)) else {
        return envelope(s, shared, acc, "jwt update skipped", None);
    };
    match trust.apply(acc, &token) {
        Ok((_, change)) => {
            notify(shared, change);
            envelope(s, shared, acc, "jwt updated", None)
        }
        Err(_) => envelope(s, shared, acc, FAILED, Some("account validation failed")),
    }
}

/// The replies of a directory resolver's update, as nats-server words them.
struct UpdateTexts {
    failed: &'static str,
    validation: &'static str,
    skipped: &'static str,
    updated: &'static str,
}

/// A `cache` resolver's replies.
const CACHE_TEXTS: UpdateTexts = UpdateTexts {
    failed: "jwt update cache resulted in error",
    validation: "jwt update cache validation failed",
    skipped: "jwt update cache skipped",
    updated: "jwt updated cache",
};

/// A `full` resolver's replies (it never skips).
const FULL_TEXTS: UpdateTexts = UpdateTexts {
    failed: "jwt update resulted in error",
    validation: "jwt validation failed",
    skipped: "",
    updated: "jwt updated",
};

/// With a `full` or `cache` resolver: the JWT is checked and stored; if the account is
/// loaded here, the live account follows. A cache only takes JWTs of loaded accounts.
fn dir_update(
    s: &mut EventSender,
    shared: &Shared,
    trust: &Trust,
    cache: bool,
    from_subject: Option<&str>,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let UpdateTexts {
        failed,
        validation,
        skipped,
        updated,
    } = if cache { CACHE_TEXTS } else { FULL_TEXTS };
    let token = String::from_utf8_lossy(payload).trim().to_string();
    let claims = match crate::jwt::decode::<crate::jwt::Account>(&token) {
        Ok(claims) => claims,
        Err(e) => {
            let acc = match (cache, from_subject) {
                (true, Some(acc)) => acc,
                _ => "n/a",
            };
            return envelope(s, shared, acc, failed, Some(&e));
        }
    };
    let acc = from_subject.unwrap_or(&claims.sub).to_string();
    if claims.sub != acc {
        return envelope(
            s,
            shared,
            &acc,
            failed,
            Some("subject does not match jwt content"),
        );
    }
    if trust.is_strict_operator(&claims.iss) {
        return envelope(
            s,
            shared,
            &acc,
            failed,
            Some("operator requires issuer to be a signing key"),
        );
    }
    if cache && !trust.is_loaded(&acc) {
        return envelope(s, shared, &acc, skipped, None);
    }
    if let Err(e) = crate::auth::claims::validate_account(&claims) {
        let errors = format!("validation errors: [{e}]");
        return envelope(s, shared, &acc, validation, Some(&errors));
    }
    // nats-server stores a JWT of an untrusted operator and only fails to apply it later
    // (spec sys.md §5.4); it is refused here, before it reaches the directory.
    if !trust.is_trusted_issuer(&claims.iss) {
        return envelope(s, shared, &acc, failed, Some("account validation failed"));
    }
    let store = trust.store()?;
    match store.save(&acc, &token) {
        Err(e) => envelope(s, shared, &acc, failed, Some(&e)),
        Ok(stored) => {
            if stored == Stored::Changed {
                apply_stored(shared, trust, &acc, &token);
            }
            envelope(s, shared, &acc, updated, None)
        }
    }
}

/// A stored JWT changed: a loaded account takes it and its clients are re-checked.
pub(super) fn apply_stored(shared: &Shared, trust: &Trust, acc: &str, token: &str) {
    if !trust.is_loaded(acc) {
        return;
    }
    match trust.apply(acc, token) {
        Ok((_, change)) => notify(shared, change),
        Err(e) => crate::log::error(&format!(
            "DirResolver - Update for account {} resulted in error {e}",
            crate::gofmt::go_quote(acc)
        )),
    }
}

/// `$SYS.REQ.ACCOUNT.<acc>.CLAIMS.LOOKUP` (full resolver): the stored JWT, or an empty
/// message when there is none.
pub(super) fn lookup(shared: &Shared, subject: &str) -> Option<Vec<u8>> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let [_, _, _, acc, _, _] = tokens[..] else {
        return None;
    };
    let trust = trust(shared)?;
    let store = trust.store().filter(|st| !st.config.cache)?;
    Some(store.get(acc).map(String::into_bytes).unwrap_or_default())
}

/// `$SYS.REQ.CLAIMS.LIST`: every stored account key.
pub(super) fn list(s: &mut EventSender, shared: &Shared) -> Option<Vec<u8>> {
    let trust = trust(shared)?;
    let keys = trust.store()?.keys();
    let server = s.server_info(shared);
    serde_json::to_vec(&json!({"server": server, "data": keys})).ok()
}

/// `$SYS.REQ.CLAIMS.DELETE`: a generic JWT self-signed by an operator key, listing the
/// accounts to delete in `nats.accounts`.
pub(super) fn delete(s: &mut EventSender, shared: &Shared, payload: &[u8]) -> Option<Vec<u8>> {
    let trust = trust(shared)?;
    let store = trust.store()?;
    let token = String::from_utf8_lossy(payload).trim().to_string();
    let request = crate::jwt::decode_generic(&token);
    let subject = request.as_ref().map(|c| c.sub.clone()).unwrap_or_default();
    let checked: Result<Vec<String>, String> = request.and_then(|c| {
        if !store.config.allow_delete {
            return Err("delete must be enabled in server config".into());
        }
        if c.sub != c.iss {
            return Err("not self signed".into());
        }
        if !trust.is_operator_key(&c.iss) {
            return Err("not trusted".into());
        }
        let list = c.nats["accounts"]
            .as_array()
            .ok_or_else(|| "malformed request".to_string())?;
        let mut keys = Vec::with_capacity(list.len());
        for entry in list {
            let key = entry.as_str().unwrap_or("");
            if nkeys::KeyPair::from_public_key(key).is_err() || !key.starts_with('A') {
                return Err("malformed request".into());
            }
            if key == trust.system_account {
                return Err("not allowed to delete system account".into());
            }
            keys.push(key.to_string());
        }
        Ok(keys)
    });
    let keys = match checked {
        Ok(keys) => keys,
        Err(e) => {
            let message = format!("delete accounts request by {subject} failed");
            return envelope(s, shared, "", &message, Some(&e));
        }
    };
    let mut errors = Vec::new();
    let mut deleted = 0;
    for key in &keys {
        match store.delete(key) {
            Ok(()) => {
                deleted += 1;
                if trust.is_loaded(key) {
                    notify(shared, trust.remove(key));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        envelope(s, shared, "", &format!("deleted {deleted} accounts"), None)
    } else {
        let message = format!("deleted {deleted} accounts, failed for {}", errors.len());
        envelope(s, shared, "", &message, Some(&errors.join("\n")))
    }
}

/// `$SYS.REQ.CLAIMS.PACK` (full resolver): nothing new if the asker's hash is ours; else
/// one `<key>|<jwt>` message per stored JWT. An empty message ends the answer either way.
pub(super) fn pack(shared: &Shared, their_hash: &[u8]) -> Vec<Vec<u8>> {
    let Some(trust) = trust(shared) else {
        return Vec::new();
    };
    let Some(store) = trust.store().filter(|st| !st.config.cache) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if their_hash != store.hash() {
        out.extend(store.pack().into_iter().map(String::into_bytes));
    }
    out.push(Vec::new());
    out
}

/// One message of another server's pack: `<key>|<jwt>` lines, stored if newer.
pub(super) fn merge(shared: &Shared, msg: &[u8]) {
    let Some(trust) = trust(shared) else {
        return;
    };
    let Some(store) = trust.store() else {
        return;
    };
    for line in String::from_utf8_lossy(msg).lines() {
        let Some((key, token)) = line.split_once('|') else {
            crate::log::error(&format!(
                "DirResolver - Merging resulted in error: line in package didn't contain 2 entries: {}",
                crate::gofmt::go_quote(line)
            ));
            return;
        };
        match store.save_if_newer(key, token) {
            Ok(Stored::Changed) => apply_stored(shared, &trust, key, token),
            Ok(Stored::Unchanged) => {}
            Err(e) => crate::log::error(&format!("DirResolver - Merging resulted in error: {e}")),
        }
    }
}
