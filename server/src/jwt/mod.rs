//! NATS JWTs (nats-io/jwt v2, spec core.md §4.8): `base64url(header).base64url(claims).sig`,
//! signed with the issuer's ed25519 nkey. Decoding verifies the signature against the `iss`
//! key; the caller checks that the issuer is one it trusts. v1 (pre-2.0) tokens are read too,
//! migrated to the v2 layout first ([`v1`]).

pub mod v1;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Tokens longer than this are refused (nats-io/jwt's limit).
const TOKEN_MAX_BYTES: usize = 1024 * 1024;

/// The fields every NATS JWT has, with the type-specific part in `nats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Claims<N> {
    /// Token id.
    #[serde(default)]
    pub jti: String,
    /// Issued at (unix seconds).
    #[serde(default)]
    pub iat: i64,
    /// Issuer public key.
    #[serde(default)]
    pub iss: String,
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Subject public key.
    #[serde(default)]
    pub sub: String,
    /// Expiry (unix seconds), 0 = none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
    /// Not before (unix seconds), 0 = none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nbf: i64,
    /// Type-specific claims.
    pub nats: N,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Allow and deny lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Allowed subjects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Denied subjects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Response permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsePermission {
    /// Responses allowed per request.
    #[serde(default)]
    pub max: i64,
    /// How long, in nanoseconds.
    #[serde(default)]
    pub ttl: i64,
}

/// `src`: a list, or a comma-separated string in older tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringList {
    /// `["a", "b"]`.
    List(Vec<String>),
    /// `"a,b"`.
    Joined(String),
}

impl Default for StringList {
    fn default() -> StringList {
        StringList::List(Vec::new())
    }
}

impl StringList {
    /// The entries, trimmed, without empty ones.
    pub fn items(&self) -> Vec<String> {
        let all: Vec<&str> = match self {
            StringList::List(v) => v.iter().map(String::as_str).collect(),
            StringList::Joined(s) => s.split(',').collect(),
        };
        all.into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A daily time window (`HH:MM:SS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
}

/// A user's permissions and limits (also the template of a scoped signing key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPermissionLimits {
    /// Publish permission.
    #[serde(rename = "pub", default)]
    pub publish: Permission,
    /// Subscribe permission.
    #[serde(rename = "sub", default)]
    pub subscribe: Permission,
    /// Response permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
    /// Allowed source networks (CIDR).
    #[serde(default, skip_serializing_if = "is_empty_list")]
    pub src: StringList,
    /// Allowed daily time windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRange>,
    /// Time zone of `times`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub times_location: String,
    /// Subscriptions, -1 = unlimited (0 when the token leaves it out, as nats-io/jwt reads a
    /// v2 user).
    #[serde(default)]
    pub subs: i64,
    /// Bytes, -1 = unlimited (0 when left out).
    #[serde(default)]
    pub data: i64,
    /// Largest payload, -1 = unlimited (0 when left out).
    #[serde(default)]
    pub payload: i64,
    /// Connects without proving key possession.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bearer_token: bool,
    /// Allowed connection types (`STANDARD`, `WEBSOCKET`, …); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_connection_types: Vec<String>,
}

fn is_empty_list(l: &StringList) -> bool {
    l.items().is_empty()
}

impl Default for UserPermissionLimits {
    fn default() -> UserPermissionLimits {
        UserPermissionLimits {
            publish: Permission::default(),
            subscribe: Permission::default(),
            resp: None,
            src: StringList::default(),
            times: Vec::new(),
            times_location: String::new(),
            subs: -1,
            data: -1,
            payload: -1,
            bearer_token: false,
            allowed_connection_types: Vec::new(),
        }
    }
}

/// `nats` of a user JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Permissions and limits.
    #[serde(flatten)]
    pub limits: UserPermissionLimits,
    /// The account, when `iss` is one of its signing keys.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `user`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// 2.
    #[serde(default)]
    pub version: i64,
}

/// An account signing key: a bare key, or a scoped key whose template replaces the user's
/// own permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    /// `"A…"`.
    Key(String),
    /// `{"kind":"user_scope","key":"A…","role":"…","template":{…}}`.
    Scoped {
        /// `user_scope`.
        kind: String,
        /// The key.
        key: String,
        /// Role name.
        #[serde(default)]
        role: String,
        /// The permissions users signed with this key get.
        #[serde(default)]
        template: Box<UserPermissionLimits>,
    },
}

impl SigningKey {
    /// The public key.
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Key(k) => k,
            SigningKey::Scoped { key, .. } => key,
        }
    }
}

/// Account limits; -1 = unlimited. A field missing from a token is 0 (none allowed) and
/// `wildcards` false, as nats-io/jwt decodes them (its fields are `omitempty`, so a limit of 0
/// is written by leaving it out); [`AccountLimits::default`] is the unlimited set new claims
/// start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLimits {
    /// Subscriptions.
    #[serde(default)]
    pub subs: i64,
    /// Bytes.
    #[serde(default)]
    pub data: i64,
    /// Largest payload.
    #[serde(default)]
    pub payload: i64,
    /// Imports.
    #[serde(default)]
    pub imports: i64,
    /// Exports.
    #[serde(default)]
    pub exports: i64,
    /// Wildcard exports allowed.
    #[serde(default)]
    pub wildcards: bool,
    /// Client connections.
    #[serde(default)]
    pub conn: i64,
    /// Leaf node connections.
    #[serde(default)]
    pub leaf: i64,
    /// Bearer tokens refused.
    #[serde(default)]
    pub disallow_bearer: bool,
}

impl AccountLimits {
    /// What a token without limits has: nothing allowed.
    pub fn none() -> AccountLimits {
        AccountLimits {
            subs: 0,
            data: 0,
            payload: 0,
            imports: 0,
            exports: 0,
            wildcards: false,
            conn: 0,
            leaf: 0,
            disallow_bearer: false,
        }
    }
}

impl Default for AccountLimits {
    fn default() -> AccountLimits {
        AccountLimits {
            subs: -1,
            data: -1,
            payload: -1,
            imports: -1,
            exports: -1,
            wildcards: true,
            conn: -1,
            leaf: -1,
            disallow_bearer: false,
        }
    }
}

/// An account export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Subject.
    pub subject: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Importers need an activation token.
    #[serde(default)]
    pub token_req: bool,
    /// Revoked activations: importing account (or `*`) → tokens issued at or before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// `Singleton`, `Stream` or `Chunked`.
    #[serde(default)]
    pub response_type: String,
    /// Response threshold in nanoseconds.
    #[serde(default)]
    pub response_threshold: i64,
}

/// An account import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Subject in the exporting account.
    pub subject: String,
    /// Exporting account.
    pub account: String,
    /// Activation token for a private export.
    #[serde(default)]
    pub token: String,
    /// Local subject.
    #[serde(default)]
    pub local_subject: String,
    /// Older form of the local subject / prefix.
    #[serde(default)]
    pub to: String,
    /// `stream` or `service`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `nats` of an account JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Limits (all zero when the token has none, as nats-io/jwt reads it).
    #[serde(default = "AccountLimits::none")]
    pub limits: AccountLimits,
    /// Signing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<SigningKey>,
    /// Revoked users: key (or `*`) → revoked at or before this time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// Permissions of users without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_permissions: Option<DefaultPermissions>,
    /// Imports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
    /// Exports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Export>,
    /// `account`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// 2.
    #[serde(default)]
    pub version: i64,
}

/// `default_permissions` of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultPermissions {
    /// Publish.
    #[serde(rename = "pub", default)]
    pub publish: Permission,
    /// Subscribe.
    #[serde(rename = "sub", default)]
    pub subscribe: Permission,
}

/// `nats` of an activation token: the exporter lets one account import a private export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// The subject the importer may import.
    #[serde(default)]
    pub subject: String,
    /// `stream` or `service`.
    #[serde(rename = "kind", default)]
    pub import_type: String,
    /// The exporting account, when `iss` is one of its signing keys.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    /// `activation`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// 2.
    #[serde(default)]
    pub version: i64,
}

/// `nats` of an operator JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Operator signing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// The system account's public key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    /// Account server URL (nsc's convention for a URL resolver).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_server_url: String,
    /// Only the signing keys may sign accounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_signing_key_usage: bool,
    /// `operator`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// 2.
    #[serde(default)]
    pub version: i64,
}

/// The header every token carries.
#[derive(Debug, Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// Decodes `token` and verifies its signature against its `iss` key. Error texts follow
/// nats-io/jwt (`expected 3 chunks`, …).
///
/// # Errors
/// Malformed token, unsupported header, bad claims JSON or a signature that doesn't verify.
pub fn decode<N: DeserializeOwned>(token: &str) -> Result<Claims<N>, String> {
    let parts = Parts::split(token)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&parts.claims_json).map_err(|e| e.to_string())?;
    let version = v1::version(&value)?;
    if version == v1::Version::V1 {
        v1::migrate(&mut value)?;
    }
    let decoded: Claims<N> = serde_json::from_value(value).map_err(|e| e.to_string())?;
    // v1 signed the payload segment alone, v2 the header and payload.
    parts.verify(&decoded.iss, version)?;
    Ok(decoded)
}

/// Decodes a generic token (a `$SYS.REQ.CLAIMS.DELETE` request) as nats-io/jwt's
/// `DecodeGeneric` does: no version or kind check, and the signature rule chosen by the header
/// (an `alg` of exactly `ed25519` signs the payload segment, v1 style; anything else the header
/// and payload).
///
/// # Errors
/// Malformed token, unsupported header, bad claims JSON or a signature that doesn't verify.
pub fn decode_generic(token: &str) -> Result<Claims<serde_json::Value>, String> {
    let parts = Parts::split(token)?;
    let decoded: Claims<serde_json::Value> =
        serde_json::from_slice(&parts.claims_json).map_err(|e| e.to_string())?;
    let version = if parts.header.alg == "ed25519" {
        v1::Version::V1
    } else {
        v1::Version::V2
    };
    parts.verify(&decoded.iss, version)?;
    Ok(decoded)
}

/// A token split into its three parts, the header checked and the claims and signature
/// base64-decoded (nats-io/jwt `Decode`, before the claims are read).
struct Parts<'a> {
    header: Header,
    /// `header.claims` as in the token: what a v2 signature covers.
    signed_v2: &'a str,
    /// The claims segment as in the token: what a v1 signature covers.
    signed_v1: &'a str,
    claims_json: Vec<u8>,
    /// Decoded only after the claims were read, as nats-io/jwt orders its errors.
    sig: &'a str,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Parts<'a>, String> {
        let token = token.trim();
        if token.len() > TOKEN_MAX_BYTES {
            return Err("token too large".into());
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, sig] = parts[..] else {
            return Err("expected 3 chunks".into());
        };
        let header_checked = decode_header(header)?;
        let claims_json = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|e| format!("illegal base64 data in claims: {e}"))?;
        Ok(Parts {
            header: header_checked,
            signed_v2: &token[..header.len() + 1 + claims.len()],
            signed_v1: claims,
            claims_json,
            sig,
        })
    }

    /// Checks the signature against the issuer's key, by the rule of `version`.
    fn verify(&self, iss: &str, version: v1::Version) -> Result<(), String> {
        let sig = URL_SAFE_NO_PAD
            .decode(self.sig)
            .map_err(|e| format!("illegal base64 data in signature: {e}"))?;
        let (signed, failed) = match version {
            v1::Version::V1 => (self.signed_v1, "claim failed V1 signature verification"),
            v1::Version::V2 => (self.signed_v2, "claim failed V2 signature verification"),
        };
        let issuer = nkeys::KeyPair::from_public_key(iss).map_err(|_| failed.to_string())?;
        issuer
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| failed.to_string())
    }
}

/// Decodes and checks a token's header (nats-io/jwt `Header.Valid`).
fn decode_header(header: &str) -> Result<Header, String> {
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| format!("illegal base64 data in header: {e}"))?;
    let h: Header = serde_json::from_slice(&header_json).map_err(|e| e.to_string())?;
    if !h.typ.eq_ignore_ascii_case("JWT") {
        return Err(format!(
            "not supported type {}",
            crate::gofmt::go_quote(&h.typ)
        ));
    }
    // Both v1's and v2's algorithm names; in `decode` the payload, not the header, decides
    // the version.
    if !h.alg.eq_ignore_ascii_case("ed25519-nkey") && !h.alg.eq_ignore_ascii_case("ed25519") {
        return Err(format!(
            "unexpected {} algorithm",
            crate::gofmt::go_quote(&h.alg)
        ));
    }
    Ok(h)
}

/// Reads `iss`, `sub` and the claims without checking the signature (for error texts that
/// name the account before verification).
pub fn peek(token: &str) -> Option<serde_json::Value> {
    let claims = token.trim().split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// Signs `claims` with `issuer` (its public key becomes `iss`), filling in `jti` and `iat`
/// when unset. Used by the tests and by tools.
///
/// # Errors
/// The key can't sign (a public-only key).
pub fn encode<N: Serialize>(
    claims: &mut Claims<N>,
    issuer: &nkeys::KeyPair,
) -> Result<String, String> {
    use sha2::Digest;
    claims.iss = issuer.public_key();
    if claims.iat == 0 {
        claims.iat = now_unix();
    }
    claims.jti = String::new();
    let body = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    claims.jti = base32_no_pad(&sha2::Sha512_256::digest(&body));
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|e| e.to_string())?);
    let signed = format!("{header}.{payload}");
    let sig = issuer.sign(signed.as_bytes()).map_err(|e| e.to_string())?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 4648 base32 without padding (Go's `base32.StdEncoding.WithPadding(NoPadding)`).
fn base32_no_pad(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The JWT inside a decorated file (creds, operator files): the first block between
/// `-----BEGIN …-----` and `-----END …-----`, or the whole text when it has no armor.
pub fn undecorate(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    for line in lines.by_ref() {
        if line.starts_with("-----BEGIN") {
            let body: String = lines
                .by_ref()
                .take_while(|l| !l.starts_with("-----END") && !l.starts_with("------END"))
                .collect();
            return body;
        }
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_tokens_decode_without_a_version() {
        // A delete request as nats-io/jwt writes it: generic claims, no type, no version.
        let op = nkeys::KeyPair::new_operator();
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"jti": "J", "iat": 1,
                "iss": op.public_key(), "sub": op.public_key(),
                "nats": {"accounts": ["AX"]}}))
            .unwrap(),
        );
        let signed = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(op.sign(signed.as_bytes()).unwrap());
        let token = format!("{signed}.{sig}");
        let c = decode_generic(&token).unwrap();
        assert_eq!(c.nats["accounts"][0], "AX");
        // The typed decoder wants a version, as nats-io/jwt's `Decode` does for known kinds.
        assert!(decode::<Account>(&token).is_err());
        // A v1-style signature (payload only) with a v2 header does not verify.
        let sig = URL_SAFE_NO_PAD.encode(op.sign(body.as_bytes()).unwrap());
        assert_eq!(
            decode_generic(&format!("{header}.{body}.{sig}")).unwrap_err(),
            "claim failed V2 signature verification"
        );
    }

    #[test]
    fn round_trip_and_tamper() {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let mut claims = Claims {
            sub: account.public_key(),
            name: "ACC".into(),
            nats: Account {
                kind: "account".into(),
                version: 2,
                ..Account::default()
            },
            ..Claims::default()
        };
        let token = encode(&mut claims, &operator).unwrap();
        let back: Claims<Account> = decode(&token).unwrap();
        assert_eq!(back.iss, operator.public_key());
        assert_eq!(back.sub, account.public_key());
        assert_eq!(back.nats.limits.conn, -1);
        assert_eq!(back.jti.len(), 52);
        // A changed claim no longer matches the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut v = peek(&token).unwrap();
        v["name"] = "EVIL".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        assert_eq!(
            decode::<Account>(&parts.join(".")).unwrap_err(),
            "claim failed V2 signature verification"
        );
        assert_eq!(decode::<Account>("a.b").unwrap_err(), "expected 3 chunks");
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32_no_pad(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_no_pad(b"f"), "MY");
    }

    #[test]
    fn creds_files() {
        let creds = "-----BEGIN NATS USER JWT-----\neyJhbGc.x.y\n------END NATS USER JWT------\n\n\
                     ************************* IMPORTANT *************************\n\n\
                     -----BEGIN USER NKEY SEED-----\nSUAXX\n------END USER NKEY SEED------\n";
        assert_eq!(undecorate(creds), "eyJhbGc.x.y");
        assert_eq!(undecorate(" eyJ.a.b \n"), "eyJ.a.b");
    }

    #[test]
    fn user_claims_defaults_and_src() {
        let v: User = serde_json::from_str(
            r#"{"type":"user","version":2,"pub":{"allow":["a"]},"src":"10.0.0.0/8, 127.0.0.1/32"}"#,
        )
        .unwrap();
        // Left out of a v2 user: 0, as nats-io/jwt reads it (nothing allowed).
        assert_eq!((v.limits.subs, v.limits.payload), (0, 0));
        assert_eq!(v.limits.publish.allow, ["a"]);
        assert_eq!(v.limits.src.items(), ["10.0.0.0/8", "127.0.0.1/32"]);
    }
}
