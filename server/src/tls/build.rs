//! Loading what a `tls { … }` block names and building the rustls configurations from it
//! (nats-server's `GenTLSConfig`): the certificate/key pairs, the CAs client certificates must
//! chain to, the server configuration ([`ServerTls`], also the HTTPS monitoring port's) and the
//! client configuration of the URL account resolver. It runs when the options are loaded, so a
//! bad file is a startup (or reload) error.

use super::ciphers::crypto_provider;
use super::config::TlsOptions;
use super::{CertResolver, ServerTls};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::sync::Arc;

/// Where nats-server (Go) finds the system CA bundle when `verify` has no `ca_file`; the first
/// readable one is used.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

impl TlsOptions {
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

/// Both sides of route TLS (`cluster { tls {} }`): nats-server always verifies a route
/// peer's certificate, whatever `verify` says, and presents the same certificate when it
/// dials (`server/opts.go: getTLSConfig` for routes; spec cluster.md §1.14).
#[derive(Clone)]
pub struct RouteTls {
    /// For accepted routes: the peer must present a certificate signed by `ca_file`.
    pub server: Arc<rustls::ServerConfig>,
    /// For dialed routes: the peer's certificate is checked against `ca_file` and the dialed
    /// host, and ours is presented.
    pub client: Arc<rustls::ClientConfig>,
    /// The handshake timeout.
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for RouteTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTls")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds [`RouteTls`] from the cluster's `tls {}` block.
///
/// # Errors
/// A file can't be read or parsed, or there is no certificate to present.
pub fn route_tls(t: &TlsOptions) -> Result<RouteTls, String> {
    let mut verified = t.clone();
    verified.verify = true;
    verified.map = false;
    let server = build_server_tls(&verified)?.config;
    if t.cert_file.is_empty() {
        return Err("route TLS needs a cert_file and key_file".into());
    }
    let client = resolver_client_config(t)?;
    Ok(RouteTls {
        server,
        client,
        timeout: t.timeout(),
    })
}

/// The crypto provider with the configured cipher suites and curves.
fn provider(t: &TlsOptions) -> CryptoProvider {
    crypto_provider(&t.cipher_suites, &t.curve_preferences)
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

#[cfg(test)]
mod tests {
    use crate::conf::parse_str;
    use crate::tls::config::parse_tls;
    use crate::tls::test_certs;

    fn block(text: &str) -> crate::conf::Value {
        let m = parse_str(&format!("tls {text}\n"), None).unwrap();
        m.get("tls").unwrap().clone()
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gannet-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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
