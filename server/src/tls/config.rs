//! The `tls { … }` block (spec §2.9) and the `--tls*` flags (spec §3.1): parsing with
//! nats-server's error texts (`server/opts.go` `parseTLS`), then loading the certificate, key
//! and CA files into a [`ServerTls`] (`GenTLSConfig`). Both run when the options are loaded, so
//! a bad file is a startup (or reload) error that points at the `tls` block.

use super::{CertResolver, ServerTls, HANDSHAKE_FIRST_FALLBACK_DEFAULT};
use crate::conf::{Map, Value, ValueKind};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{NamedGroup, RootCertStore, SupportedCipherSuite};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// nats-server's `TLS_TIMEOUT`: the handshake timeout when `timeout` is not set.
pub const TLS_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Where nats-server (Go) finds the system CA bundle when `verify` has no `ca_file`; the first
/// readable one is used.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Go's secure cipher suites (`tls.CipherSuites()`), by the names the config uses.
const GO_CIPHERS: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Go's insecure cipher suites (`tls.InsecureCipherSuites()`): accepted only with
/// `allow_insecure_cipher_suites` (observed with nats-server 2.15.1).
const GO_INSECURE_CIPHERS: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Go's curve names and the TLS group each stands for.
const GO_CURVES: &[(&str, NamedGroup)] = &[
    ("CurveP256", NamedGroup::secp256r1),
    ("CurveP384", NamedGroup::secp384r1),
    ("CurveP521", NamedGroup::secp521r1),
    ("X25519", NamedGroup::X25519),
    ("X25519MLKEM768", NamedGroup::X25519MLKEM768),
    ("SecP256r1MLKEM768", NamedGroup::Unknown(0x11eb)),
    ("SecP384r1MLKEM1024", NamedGroup::Unknown(0x11ed)),
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

    /// Loads the files and builds the rustls configuration (`GenTLSConfig`).
    ///
    /// # Errors
    /// nats-server's texts: `missing 'key_file' in TLS configuration`,
    /// `error parsing X509 certificate/key pair: open x: no such file or directory`, …
    pub fn build(&mut self) -> Result<(), String> {
        self.server = Some(build_server_tls(self)?);
        Ok(())
    }

    /// The configuration of the HTTPS monitoring port: the client certificates and
    /// settings, but no client certificate asked for (nats-server's `startMonitoring`).
    ///
    /// # Errors
    /// As [`TlsOptions::build`].
    pub fn monitoring_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut t = self.clone();
        t.verify = false;
        build_server_tls(&t).map(|s| s.config)
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
        let (key, mv) = (e.key.to_lowercase(), &e.value);
        match key.as_str() {
            "cert_file" => t.cert_file = filename(mv, "cert_file")?,
            "key_file" => t.key_file = filename(mv, "key_file")?,
            "ca_file" => t.ca_file = filename(mv, "ca_file")?,
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
            "allow_insecure_cipher_suites" => {
                t.allow_insecure_ciphers = flag(mv, "allow_insecure_cipher_suites")?
            }
            "cipher_suites" => {
                t.cipher_suites = name_list(mv, "cipher_suites", "unrecognized cipher", |n| {
                    if GO_INSECURE_CIPHERS.contains(&n) {
                        insecure_found.push(n.to_string());
                    }
                    GO_CIPHERS.contains(&n) || GO_INSECURE_CIPHERS.contains(&n)
                })?
            }
            "curve_preferences" => {
                t.curve_preferences = name_list(
                    mv,
                    "curve_preferences",
                    "unrecognized curve preference",
                    |n| GO_CURVES.iter().any(|c| c.0 == n),
                )?
            }
            "timeout" => t.timeout_configured = tls_timeout(mv)?,
            "connection_rate_limit" => {
                t.rate_limit = mv.as_int().ok_or_else(|| {
                    at(
                        mv,
                        "error parsing tls config, 'connection_rate_limit' wrong type",
                    )
                })?
            }
            "pinned_certs" => t.pinned_certs = pinned_certs(mv)?,
            "handshake_first" | "first" | "immediate" => {
                (t.handshake_first, t.handshake_first_fallback) = handshake_first(&e.key, mv)?
            }
            "certs" | "certificates" => t.certificates = cert_pairs(mv)?,
            "min_version" => t.min_tls13 = min_version(mv)?,
            "enable_cert_authorization" => {
                t.enable_cert_authorization = flag(mv, "enable_cert_authorization")?
            }
            "allow_legacy_clients" => t.allow_legacy_clients = flag(mv, "allow_legacy_clients")?,
            "cert_store"
            | "cert_match_by"
            | "cert_match"
            | "ca_certs_match"
            | "cert_match_skip_invalid"
            | "ocsp_peer" => ignored.push(format!("tls.{key}")),
            _ => {
                return Err(at(
                    mv,
                    format!(
                        "error parsing tls config, unknown field {}",
                        crate::gofmt::go_quote(&e.key)
                    ),
                ))
            }
        }
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
                    format!(
                        "field {}'s value {} is invalid",
                        crate::gofmt::go_quote(key),
                        crate::gofmt::go_quote(s)
                    ),
                )),
            },
        },
        _ => Err(at(
            v,
            format!(
                "field {} should be a boolean or a string, got {}",
                crate::gofmt::go_quote(key),
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
                            crate::gofmt::go_quote(&e.key)
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

// ----- Building -----

/// Reads a file the way Go's `os.ReadFile` reports failures: `open <path>: <reason>`.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::IsADirectory => return format!("read {path}: is a directory"),
            _ => e.to_string(),
        };
        format!("open {path}: {reason}")
    })
}

/// Loads one certificate chain and key (`tls.LoadX509KeyPair`).
fn load_pair(
    cert_file: &str,
    key_file: &str,
    provider: &CryptoProvider,
    digest: &mut sha2::Sha256,
) -> Result<(Vec<String>, Arc<rustls::sign::CertifiedKey>), String> {
    use sha2::Digest;
    let cert_pem = read_file(cert_file)?;
    let key_pem = read_file(key_file)?;
    digest_part(digest, &cert_pem);
    digest_part(digest, &key_pem);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| "tls: failed to find any PEM data in certificate input".to_string())?;
    if chain.is_empty() {
        if PrivateKeyDer::from_pem_slice(&cert_pem).is_ok() {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err("tls: failed to find any PEM data in certificate input".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        if CertificateDer::pem_slice_iter(&key_pem).next().is_some() {
            "tls: found a certificate rather than a key in the PEM for the private key".to_string()
        } else {
            "tls: failed to find any PEM data in key input".to_string()
        }
    })?;
    let names = cert_names(&chain[0])?;
    let certified =
        rustls::sign::CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "tls: private key does not match public key".to_string()
            }
            _ => "tls: failed to parse private key".to_string(),
        })?;
    digest.update([0u8]);
    Ok((names, Arc::new(certified)))
}

/// The DNS SANs of a server certificate, lower-cased, for SNI selection.
fn cert_names(der: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("error parsing certificate: x509: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

fn digest_part(digest: &mut sha2::Sha256, bytes: &[u8]) {
    use sha2::Digest;
    digest.update((bytes.len() as u64).to_le_bytes());
    digest.update(bytes);
}

/// The CAs client certificates must chain to: `ca_file`, else the system bundle.
fn client_roots(ca_file: &str, digest: &mut sha2::Sha256) -> Result<RootCertStore, String> {
    let pem = if ca_file.is_empty() {
        SYSTEM_CA_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or("failed to load the system root CAs (set 'ca_file')")?
    } else {
        read_file(ca_file)?
    };
    digest_part(digest, &pem);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        // Go's AppendCertsFromPEM skips certificates it can't parse, and so do we.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("failed to parse root ca certificate".into());
    }
    Ok(roots)
}

/// The client side of `resolver_tls` (nats-server's `GenTLSConfig` for the URL resolver's
/// HTTP client): server certificates checked against `ca_file` (else the system bundle), and
/// `cert_file`/`key_file` presented when the account server asks for a client certificate.
///
/// # Errors
/// A file can't be read or parsed.
pub fn resolver_client_config(t: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut digest = <sha2::Sha256 as sha2::Digest>::new();
    let roots = client_roots(&t.ca_file, &mut digest)?;
    let provider = Arc::new(provider(t));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = if t.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let (_, certified) = load_pair(&t.cert_file, &t.key_file, &provider, &mut digest)?;
        let key = PrivateKeyDer::from_pem_slice(&read_file(&t.key_file)?)
            .map_err(|_| "tls: failed to parse private key".to_string())?;
        builder
            .with_client_auth_cert(certified.cert.clone(), key)
            .map_err(|e| e.to_string())?
    };
    Ok(Arc::new(config))
}

/// The crypto provider with the configured cipher suites and curves. In Go the cipher list
/// only chooses TLS 1.2 suites (TLS 1.3 suites are fixed), so the same holds here; suites and
/// curves rustls does not implement (CBC, P-521, …) are left out.
fn provider(t: &TlsOptions) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        provider.cipher_suites.retain(|suite| match suite {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => {
                let name = format!("{:?}", suite.suite());
                t.cipher_suites.contains(&name)
            }
        });
    }
    if !t.curve_preferences.is_empty() {
        let available = std::mem::take(&mut provider.kx_groups);
        for name in &t.curve_preferences {
            let group = GO_CURVES.iter().find(|c| c.0 == name).map(|c| c.1);
            if let Some(kx) = available.iter().find(|kx| Some(kx.name()) == group) {
                provider.kx_groups.push(*kx);
            }
        }
        if provider.kx_groups.is_empty() {
            provider.kx_groups = available;
        }
    }
    provider
}

fn build_server_tls(t: &TlsOptions) -> Result<ServerTls, String> {
    use sha2::Digest;
    let pair_error = |e: String| format!("error parsing X509 certificate/key pair: {e}");
    let provider = Arc::new(provider(t));
    let mut digest = sha2::Sha256::new();
    let mut certs = Vec::new();
    match (t.cert_file.is_empty(), t.key_file.is_empty()) {
        (false, true) => return Err("missing 'key_file' in TLS configuration".into()),
        (true, false) => return Err("missing 'cert_file' in TLS configuration".into()),
        (false, false) => certs.push(
            load_pair(&t.cert_file, &t.key_file, &provider, &mut digest).map_err(pair_error)?,
        ),
        (true, true) => {
            let n = t.certificates.len();
            for (i, (cert, key)) in t.certificates.iter().enumerate() {
                let pair = load_pair(cert, key, &provider, &mut digest).map_err(|e| {
                    format!("error parsing X509 certificate/key pair {}/{n}: {e}", i + 1)
                })?;
                certs.push(pair);
            }
        }
    }
    // The CA file is read even without `verify`, so a bad one fails at startup as in
    // nats-server.
    let roots = if t.verify || !t.ca_file.is_empty() {
        Some(client_roots(&t.ca_file, &mut digest)?)
    } else {
        None
    };
    let verifier = match roots {
        Some(roots) if t.verify => {
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if t.client_cert_optional() {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("failed to set up client verification: {e}"))?
        }
        _ => WebPkiClientVerifier::no_client_auth(),
    };
    let versions: &[&'static rustls::SupportedProtocolVersion] = if t.min_tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("error building TLS configuration: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(CertResolver { certs }));
    digest.update([
        u8::from(t.verify),
        u8::from(t.client_cert_optional()),
        u8::from(t.min_tls13),
    ]);
    for name in t.cipher_suites.iter().chain(&t.curve_preferences) {
        digest_part(&mut digest, name.as_bytes());
    }
    let required = t.verify && !t.client_cert_optional();
    Ok(ServerTls::new(config, required, digest.finalize().into()))
}

/// Test certificates written to a directory: a CA, a server certificate for `localhost` and
/// `127.0.0.1` signed by it, and a client certificate.
#[cfg(test)]
pub(crate) mod test_certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use std::path::{Path, PathBuf};

    /// Paths of the files written by [`write`].
    pub struct Files {
        pub ca: PathBuf,
        pub cert: PathBuf,
        pub key: PathBuf,
        pub client_cert: PathBuf,
        pub client_key: PathBuf,
    }

    pub fn write(dir: &Path) -> Files {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Gannet Test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, eku: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![eku];
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_pem, client_key) =
            leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        let files = Files {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        std::fs::write(&files.ca, ca_cert.pem()).unwrap();
        std::fs::write(&files.cert, server_pem).unwrap();
        std::fs::write(&files.key, server_key).unwrap();
        std::fs::write(&files.client_cert, client_pem).unwrap();
        std::fs::write(&files.client_key, client_key).unwrap();
        files
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

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gannet-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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

    #[test]
    fn build_errors_match_nats_server() {
        let build = |text: &str| {
            let (mut t, _) = parse_tls(&block(text)).unwrap();
            t.build()
        };
        assert_eq!(
            build("{ cert_file: x }").unwrap_err(),
            "missing 'key_file' in TLS configuration"
        );
        assert_eq!(
            build("{ key_file: x }").unwrap_err(),
            "missing 'cert_file' in TLS configuration"
        );
        assert_eq!(
            build("{ cert_file: nope.pem, key_file: nope.key }").unwrap_err(),
            "error parsing X509 certificate/key pair: open nope.pem: no such file or directory"
        );
        let d = dir("build");
        let f = test_certs::write(&d);
        let (cert, key, ca) = (f.cert.display(), f.key.display(), f.ca.display());
        assert_eq!(
            build(&format!("{{ cert_file: \"{key}\", key_file: \"{key}\" }}")).unwrap_err(),
            "error parsing X509 certificate/key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"
        );
        assert_eq!(
            build(&format!(
                "{{ cert_file: \"{cert}\", key_file: \"{}\" }}",
                f.client_key.display()
            ))
            .unwrap_err(),
            "error parsing X509 certificate/key pair: tls: private key does not match public key"
        );
        assert_eq!(
            build(&format!(
                "{{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{key}\" }}"
            ))
            .unwrap_err(),
            "failed to parse root ca certificate"
        );
        assert_eq!(
            build(&format!(
                "{{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: nope.pem }}"
            ))
            .unwrap_err(),
            "open nope.pem: no such file or directory"
        );
        // Same inputs build equal configurations; another file content does not.
        let text = format!(
            "{{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{ca}\", verify: true }}"
        );
        let (mut a, _) = parse_tls(&block(&text)).unwrap();
        let (mut b, _) = parse_tls(&block(&text)).unwrap();
        a.build().unwrap();
        b.build().unwrap();
        assert_eq!(a.server, b.server);
        assert!(a.server.as_ref().unwrap().client_cert_required);
        test_certs::write(&d);
        b.build().unwrap();
        assert_ne!(a.server, b.server);
        // Certificates are optional for BOSH legacy clients.
        let (mut c, _) = parse_tls(&block(&format!(
            "{{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{ca}\", verify: true, enable_cert_authorization: true, allow_legacy_clients: true }}"
        )))
        .unwrap();
        c.build().unwrap();
        assert!(!c.server.unwrap().client_cert_required);
        let _ = std::fs::remove_dir_all(&d);
    }
}
