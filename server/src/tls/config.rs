//! The `tls { … }` block (spec §2.9) and the `--tls*` flags (spec §3.1) as [`TlsOptions`],
//! parsed with nats-server's error texts (`server/opts.go` `parseTLS`). Loading the files the
//! options name is [`super::build`]'s (`TlsOptions::build`); the Go cipher and curve names are
//! [`super::ciphers`]'.

use super::{ciphers, ServerTls, HANDSHAKE_FIRST_FALLBACK_DEFAULT};
use crate::conf::{Entry, Map, Value, ValueKind};
use crate::gofmt::go_quote;
use std::collections::BTreeSet;
use std::time::Duration;

pub use super::build::resolver_client_config;
// The test certificates, at the path the options tests use.
#[cfg(test)]
pub(crate) use super::test_certs;

/// nats-server's `TLS_TIMEOUT`: the handshake timeout when `timeout` is not set.
pub const TLS_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Keys nats-server knows that have no effect in Gannet (Windows certificate store, OCSP peer
/// checks): accepted and reported.
const IGNORED_KEYS: &[&str] = &[
    "cert_store",
    "cert_match_by",
    "cert_match",
    "ca_certs_match",
    "cert_match_skip_invalid",
    "ocsp_peer",
];

/// The `tls` block of the client listener, or the TLS flags.
///
/// Durations of zero mean "not set"; the defaults are applied by [`TlsOptions::timeout`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOptions {
    /// `cert_file`.
    pub cert_file: String,
    /// `key_file`.
    pub key_file: String,
    /// `ca_file`: CAs for client certificates.
    pub ca_file: String,
    /// `certs`/`certificates`: several `(cert_file, key_file)` pairs.
    pub certificates: Vec<(String, String)>,
    /// `verify` (also set by `verify_and_map`): clients must present a certificate.
    pub verify: bool,
    /// `verify_and_map`: map the certificate to a user (spec §4.6).
    pub map: bool,
    /// `insecure`: only for solicited connections; accepted.
    pub insecure: bool,
    /// `timeout`: handshake timeout; zero means the default.
    pub timeout_configured: Duration,
    /// `connection_rate_limit`: new TLS connections per second; 0 = unlimited.
    pub rate_limit: i64,
    /// `pinned_certs`: lower-case hex SHA-256 of accepted client SubjectPublicKeyInfos.
    pub pinned_certs: Option<BTreeSet<String>>,
    /// `cipher_suites` (Go names); empty = defaults.
    pub cipher_suites: Vec<String>,
    /// `curve_preferences` (Go names); empty = defaults.
    pub curve_preferences: Vec<String>,
    /// `allow_insecure_cipher_suites`.
    pub allow_insecure_ciphers: bool,
    /// `min_version`: `true` for "1.3"; the floor is always TLS 1.2.
    pub min_tls13: bool,
    /// `handshake_first`: the TLS handshake comes before INFO.
    pub handshake_first: bool,
    /// With `handshake_first`: wait this long for a ClientHello, then send INFO the usual way
    /// (`"auto"` or a duration). Zero = handshake first only.
    pub handshake_first_fallback: Duration,
    /// BOSH: certificates map to `authorization.certificate_clients` by subject CN.
    pub enable_cert_authorization: bool,
    /// BOSH: with `enable_cert_authorization`, clients without a certificate may still log in
    /// with the `authorization` user and password.
    pub allow_legacy_clients: bool,
    /// The loaded configuration (set by [`TlsOptions::build`]).
    pub server: Option<ServerTls>,
}

impl TlsOptions {
    /// The handshake timeout.
    pub fn timeout(&self) -> Duration {
        if self.timeout_configured.is_zero() {
            TLS_TIMEOUT_DEFAULT
        } else {
            self.timeout_configured
        }
    }

    /// Client certificates are optional rather than required: BOSH certificate authorization
    /// with legacy (password) clients allowed.
    pub fn client_cert_optional(&self) -> bool {
        self.enable_cert_authorization && self.allow_legacy_clients
    }

    /// The TLS settings of the `--tlscert`, `--tlskey`, `--tlscacert` and `--tlsverify` flags
    /// (`overrideTLS`): they replace the certificate settings and keep the rest of `base`
    /// (timeout, mapping, pinned certs, handshake first), as nats-server does.
    pub fn from_flags(
        base: Option<&TlsOptions>,
        cert: &str,
        key: &str,
        ca: &str,
        verify: bool,
    ) -> TlsOptions {
        let base = base.cloned().unwrap_or_default();
        TlsOptions {
            cert_file: cert.to_string(),
            key_file: key.to_string(),
            ca_file: ca.to_string(),
            verify,
            timeout_configured: base.timeout_configured,
            map: base.map,
            pinned_certs: base.pinned_certs,
            rate_limit: base.rate_limit,
            handshake_first: base.handshake_first,
            handshake_first_fallback: base.handshake_first_fallback,
            enable_cert_authorization: base.enable_cert_authorization,
            allow_legacy_clients: base.allow_legacy_clients,
            ..TlsOptions::default()
        }
    }
}

// ----- Parsing -----

/// Parses a `tls` block. Returns the options and the keys that are accepted but have no
/// effect in Gannet (Windows certificate store, OCSP peer checks).
///
/// # Errors
/// The first problem, as `file:line:col: message` with nats-server's message.
pub fn parse_tls(v: &Value) -> Result<(TlsOptions, Vec<String>), String> {
    let block = v
        .as_map()
        .ok_or_else(|| type_error(v, "map[string]interface {}"))?;
    let mut t = TlsOptions::default();
    let mut ignored = Vec::new();
    let mut insecure_found = Vec::new();
    for e in block.iter() {
        let key = e.key.to_lowercase();
        if certificate_field(&mut t, &key, &e.value)?
            || session_field(&mut t, &key, e, &mut insecure_found)?
        {
            continue;
        }
        if IGNORED_KEYS.contains(&key.as_str()) {
            ignored.push(format!("tls.{key}"));
            continue;
        }
        return Err(at(
            &e.value,
            format!(
                "error parsing tls config, unknown field {}",
                go_quote(&e.key)
            ),
        ));
    }
    if !t.certificates.is_empty() && !t.cert_file.is_empty() {
        return Err(at(
            v,
            "error parsing tls config, cannot combine 'cert_file' option with 'certs' option",
        ));
    }
    if !t.allow_insecure_ciphers && !insecure_found.is_empty() {
        return Err(at(
            v,
            format!(
                "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: {}",
                insecure_found.join(", ")
            ),
        ));
    }
    Ok((t, ignored))
}

/// The keys about certificates and who may connect: files, verification, pinning, BOSH
/// certificate authorization. `Ok(false)` for a key that is not one of them.
fn certificate_field(t: &mut TlsOptions, key: &str, mv: &Value) -> Result<bool, String> {
    match key {
        "cert_file" => t.cert_file = filename(mv, "cert_file")?,
        "key_file" => t.key_file = filename(mv, "key_file")?,
        "ca_file" => t.ca_file = filename(mv, "ca_file")?,
        "certs" | "certificates" => t.certificates = cert_pairs(mv)?,
        "insecure" => t.insecure = flag(mv, "insecure")?,
        "verify" => t.verify = flag(mv, "verify")?,
        "verify_and_map" => {
            t.map = flag(mv, "verify_and_map")?;
            t.verify |= t.map;
        }
        "verify_cert_and_check_known_urls" => {
            if flag(mv, "verify_cert_and_check_known_urls")? {
                return Err(at(
                    mv,
                    "verify_cert_and_check_known_urls not supported in this context",
                ));
            }
        }
        "pinned_certs" => t.pinned_certs = pinned_certs(mv)?,
        "enable_cert_authorization" => {
            t.enable_cert_authorization = flag(mv, "enable_cert_authorization")?
        }
        "allow_legacy_clients" => t.allow_legacy_clients = flag(mv, "allow_legacy_clients")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The keys about the handshake and the session: ciphers, curves, versions, timeout, rate
/// limit, handshake first. Insecure cipher names are added to `insecure_found`. `Ok(false)`
/// for a key that is not one of them.
fn session_field(
    t: &mut TlsOptions,
    key: &str,
    e: &Entry,
    insecure_found: &mut Vec<String>,
) -> Result<bool, String> {
    let mv = &e.value;
    match key {
        "allow_insecure_cipher_suites" => {
            t.allow_insecure_ciphers = flag(mv, "allow_insecure_cipher_suites")?
        }
        "cipher_suites" => {
            t.cipher_suites = name_list(mv, "cipher_suites", "unrecognized cipher", |n| {
                if ciphers::is_insecure_cipher(n) {
                    insecure_found.push(n.to_string());
                }
                ciphers::is_cipher(n)
            })?
        }
        "curve_preferences" => {
            t.curve_preferences = name_list(
                mv,
                "curve_preferences",
                "unrecognized curve preference",
                ciphers::is_curve,
            )?
        }
        "min_version" => t.min_tls13 = min_version(mv)?,
        "timeout" => t.timeout_configured = tls_timeout(mv)?,
        "connection_rate_limit" => {
            t.rate_limit = mv.as_int().ok_or_else(|| {
                at(
                    mv,
                    "error parsing tls config, 'connection_rate_limit' wrong type",
                )
            })?
        }
        "handshake_first" | "first" | "immediate" => {
            (t.handshake_first, t.handshake_first_fallback) = handshake_first(&e.key, mv)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn at(v: &Value, msg: impl std::fmt::Display) -> String {
    format!("{}: {msg}", v.pos)
}

/// nats-server turns a failed Go type assertion into the error.
fn type_error(v: &Value, want: &str) -> String {
    at(
        v,
        format!(
            "interface conversion: interface {{}} is {}, not {want}",
            v.go_type_name()
        ),
    )
}

fn filename(v: &Value, key: &str) -> Result<String, String> {
    v.as_str().map(str::to_string).ok_or_else(|| {
        at(
            v,
            format!("error parsing tls config, expected '{key}' to be filename"),
        )
    })
}

fn flag(v: &Value, key: &str) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| {
        at(
            v,
            format!("error parsing tls config, expected '{key}' to be a boolean"),
        )
    })
}

/// A non-empty array of known names; `unknown` starts the error for a name that isn't.
fn name_list(
    v: &Value,
    key: &str,
    unknown: &str,
    mut known: impl FnMut(&str) -> bool,
) -> Result<Vec<String>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| type_error(v, "[]interface {}"))?;
    if items.is_empty() {
        return Err(at(
            v,
            format!("error parsing tls config, '{key}' cannot be empty"),
        ));
    }
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or_else(|| type_error(item, "string"))?;
        if !known(name) {
            return Err(at(item, format!("{unknown} {name}")));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

fn tls_timeout(v: &Value) -> Result<Duration, String> {
    let secs = match &v.kind {
        ValueKind::Int(n) => *n as f64,
        ValueKind::Float(f) => *f,
        ValueKind::Str(s) => {
            let nanos = crate::gofmt::parse_go_duration(s)
                .map_err(|e| at(v, format!("error parsing tls config, 'timeout' {e}")))?;
            nanos as f64 / 1e9
        }
        _ => return Err(at(v, "error parsing tls config, 'timeout' wrong type")),
    };
    // nats-server takes a negative timeout as "expire at once"; zero means the default.
    Ok(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::ZERO))
}

fn pinned_certs(v: &Value) -> Result<Option<BTreeSet<String>>, String> {
    let items = v.as_array().ok_or_else(|| {
        at(
            v,
            "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
        )
    })?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    for item in items {
        let entry = item
            .as_str()
            .ok_or_else(|| type_error(item, "string"))?
            .to_lowercase();
        let hex64 = entry.len() == 64 && entry.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64 {
            return Err(at(
                item,
                format!("error parsing tls config, 'pinned_certs' key {entry} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"),
            ));
        }
        set.insert(entry);
    }
    Ok(Some(set))
}

/// `handshake_first`: a bool, `"on"`/`"off"`, `"auto"` or a fallback duration.
fn handshake_first(key: &str, v: &Value) -> Result<(bool, Duration), String> {
    match &v.kind {
        ValueKind::Bool(b) => Ok((*b, Duration::ZERO)),
        ValueKind::Str(s) => match s.to_lowercase().as_str() {
            "true" | "on" => Ok((true, Duration::ZERO)),
            "false" | "off" => Ok((false, Duration::ZERO)),
            "auto" | "auto_fallback" => Ok((true, HANDSHAKE_FIRST_FALLBACK_DEFAULT)),
            _ => match crate::gofmt::parse_go_duration(s) {
                Ok(nanos) => Ok((true, Duration::from_nanos(nanos.max(0) as u64))),
                Err(_) => Err(at(
                    v,
                    format!("field {}'s value {} is invalid", go_quote(key), go_quote(s)),
                )),
            },
        },
        _ => Err(at(
            v,
            format!(
                "field {} should be a boolean or a string, got {}",
                go_quote(key),
                v.go_type_name()
            ),
        )),
    }
}

fn cert_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    let items = v.as_array().ok_or_else(|| {
        at(
            v,
            "error parsing certificates config: unsupported type map[string]interface {}",
        )
    })?;
    let mut pairs = Vec::with_capacity(items.len());
    for item in items {
        let pair: &Map = item.as_map().ok_or_else(|| {
            at(
                item,
                format!(
                    "error parsing certificates config: unsupported type {}",
                    item.go_type_name()
                ),
            )
        })?;
        let (mut cert, mut key) = (String::new(), String::new());
        for e in pair.iter() {
            let file = e.value.as_str().ok_or_else(|| {
                at(
                    &e.value,
                    format!(
                        "error parsing certificates config: unsupported type {}",
                        e.value.go_type_name()
                    ),
                )
            })?;
            // Case-sensitive, as in nats-server.
            match e.key.as_str() {
                "cert_file" => cert = file.to_string(),
                "key_file" => key = file.to_string(),
                _ => {
                    return Err(at(
                        &e.value,
                        format!(
                            "error parsing tls certs config, unknown field {}",
                            go_quote(&e.key)
                        ),
                    ))
                }
            }
        }
        if cert.is_empty() || key.is_empty() {
            return Err(at(
                item,
                "error parsing certificates config: both 'cert_file' and 'cert_key' options are required",
            ));
        }
        pairs.push((cert, key));
    }
    Ok(pairs)
}

fn min_version(v: &Value) -> Result<bool, String> {
    let prefix = "error parsing tls config";
    let Some(s) = v.as_str() else {
        let shown = match &v.kind {
            ValueKind::Int(n) => n.to_string(),
            ValueKind::Float(f) => f.to_string(),
            ValueKind::Bool(b) => b.to_string(),
            _ => v.go_type_name().to_string(),
        };
        return Err(at(
            v,
            format!("{prefix}: 'min_version' wrong type: {shown}"),
        ));
    };
    match s {
        "1.2" => Ok(false),
        "1.3" => Ok(true),
        "1.0" | "1.1" => Err(at(v, format!("{prefix}: unsupported TLS version: TLS {s}"))),
        _ => Err(at(v, format!("{prefix}: unknown version: {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse_str;

    fn block(text: &str) -> Value {
        let m = parse_str(&format!("tls {text}\n"), None).unwrap();
        m.get("tls").unwrap().clone()
    }

    fn error(text: &str) -> String {
        parse_tls(&block(text)).unwrap_err()
    }

    #[test]
    fn parse_keys() {
        let (t, ignored) = parse_tls(&block(
            "{ cert_file: c, KEY_FILE: k, ca_file: a, verify_and_map: true, timeout: 0.5,
               pinned_certs: [\"AB00000000000000000000000000000000000000000000000000000000000000\"],
               handshake_first: auto, min_version: \"1.3\", connection_rate_limit: 5,
               cipher_suites: [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"],
               curve_preferences: [\"X25519\", \"CurveP256\"], insecure: false,
               enable_cert_authorization: true, allow_legacy_clients: true, ocsp_peer: false }",
        ))
        .unwrap();
        assert_eq!((t.cert_file.as_str(), t.key_file.as_str()), ("c", "k"));
        assert!(t.verify && t.map && t.min_tls13 && t.handshake_first);
        assert_eq!(t.timeout(), Duration::from_millis(500));
        assert_eq!(t.handshake_first_fallback, Duration::from_millis(50));
        assert_eq!(t.rate_limit, 5);
        assert!(t
            .pinned_certs
            .as_ref()
            .unwrap()
            .contains(&format!("ab{}", "0".repeat(62))));
        assert!(t.client_cert_optional());
        assert_eq!(ignored, ["tls.ocsp_peer"]);
        let (t, _) = parse_tls(&block("{ handshake_first: \"300ms\" }")).unwrap();
        assert_eq!(t.handshake_first_fallback, Duration::from_millis(300));
        let (t, _) = parse_tls(&block("{ first: \"off\" }")).unwrap();
        assert!(!t.handshake_first);
        assert_eq!(TlsOptions::default().timeout(), TLS_TIMEOUT_DEFAULT);
    }

    #[test]
    fn parse_errors_match_nats_server() {
        assert_eq!(
            error("{\n  foo: 1\n}"),
            ":2:3: error parsing tls config, unknown field \"foo\""
        );
        assert_eq!(
            error("{\n timeout: true\n}"),
            ":2:2: error parsing tls config, 'timeout' wrong type"
        );
        assert_eq!(
            error("{\n min_version: \"1.1\"\n}"),
            ":2:2: error parsing tls config: unsupported TLS version: TLS 1.1"
        );
        assert_eq!(
            error("{\n min_version: 1.3\n}"),
            ":2:2: error parsing tls config: 'min_version' wrong type: 1.3"
        );
        assert_eq!(
            error("{\n handshake_first: \"maybe\"\n}"),
            ":2:2: field \"handshake_first\"'s value \"maybe\" is invalid"
        );
        assert_eq!(
            error("{\n handshake_first: 5\n}"),
            ":2:2: field \"handshake_first\" should be a boolean or a string, got int64"
        );
        assert_eq!(
            error("{\n cipher_suites: [\"TLS_BOGUS\"]\n}"),
            ":2:19: unrecognized cipher TLS_BOGUS"
        );
        assert_eq!(
            error("{\n cipher_suites: [\"TLS_RSA_WITH_AES_128_GCM_SHA256\"]\n}"),
            ":1:0: insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: TLS_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert!(parse_tls(&block(
            "{ cipher_suites: [\"TLS_RSA_WITH_AES_128_GCM_SHA256\"], allow_insecure_cipher_suites: true }"
        ))
        .is_ok());
        assert_eq!(
            error("{\n curve_preferences: [\"X25519\", \"Bogus\"]\n}"),
            ":2:33: unrecognized curve preference Bogus"
        );
        assert_eq!(
            error("{\n cipher_suites: []\n}"),
            ":2:2: error parsing tls config, 'cipher_suites' cannot be empty"
        );
        assert_eq!(
            error("{\n verify: \"yes\"\n}"),
            ":2:2: error parsing tls config, expected 'verify' to be a boolean"
        );
        assert_eq!(
            error("{\n cert_file: 1\n}"),
            ":2:2: error parsing tls config, expected 'cert_file' to be filename"
        );
        assert_eq!(
            error("{\n verify_cert_and_check_known_urls: true\n}"),
            ":2:2: verify_cert_and_check_known_urls not supported in this context"
        );
        assert!(error("{\n pinned_certs: [\"abc\"]\n}").contains(
            "'pinned_certs' key abc does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
        ));
        assert!(
            error("{ cert_file: a, certs: [{cert_file: b, key_file: c}] }").contains(
                "error parsing tls config, cannot combine 'cert_file' option with 'certs' option"
            )
        );
    }
}
