//! TLS for the client listener, on rustls (no OpenSSL).
//!
//! # Layout
//! - [`config`]: the `tls { … }` block and the `--tls*` flags ([`TlsOptions`]), with
//!   nats-server's error texts, and loading the certificates into a [`ServerTls`].
//! - this module: [`ServerTls`], the built rustls server configuration that a reload swaps as a
//!   whole, and the per-connection helpers the workers use ([`new_session`], [`pinned`]).
//!
//! The handshake and the record layer run on the worker's mio loop: rustls is sans-IO, so a
//! worker feeds it the bytes it reads (`read_tls`, `process_new_packets`) and writes what it
//! produces (`write_tls`), exactly like plaintext I/O, with no extra thread and no blocking.
//! See `worker/tls.rs` for that side.

pub mod build;
pub mod ciphers;
pub mod config;
#[cfg(test)]
pub(crate) mod test_certs;

pub use config::TlsOptions;

use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// Go's `DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK_DELAY`: how long `handshake_first: auto` waits for
/// a ClientHello before it sends INFO the usual way.
pub const HANDSHAKE_FIRST_FALLBACK_DEFAULT: std::time::Duration =
    std::time::Duration::from_millis(50);
/// The first byte of a TLS record carrying a handshake message (a ClientHello).
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A built rustls server configuration.
///
/// Two values compare equal when they were built from the same inputs (file contents and
/// settings, hashed at build time), which is how a reload tells whether the certificates
/// changed, like nats-server comparing its `tls.Config` values.
#[derive(Clone)]
pub struct ServerTls {
    /// The configuration new sessions are created from.
    pub config: Arc<rustls::ServerConfig>,
    /// Client certificates are required (INFO `tls_verify`); false when they are optional or
    /// not asked for.
    pub client_cert_required: bool,
    digest: [u8; 32],
}

impl ServerTls {
    pub(crate) fn new(config: rustls::ServerConfig, required: bool, digest: [u8; 32]) -> Self {
        ServerTls {
            config: Arc::new(config),
            client_cert_required: required,
            digest,
        }
    }
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        write!(f, "ServerTls({hex}…)")
    }
}

/// A new server-side TLS session.
///
/// # Errors
/// rustls refused the configuration (it was validated when built, so this is not expected).
pub fn new_session(tls: &ServerTls) -> Result<rustls::ServerConnection, rustls::Error> {
    rustls::ServerConnection::new(tls.config.clone())
}

/// Whether the client's certificate passes `pinned_certs`: the lower-case hex SHA-256 of its
/// DER SubjectPublicKeyInfo must be in the set (nats-server `matchesPinnedCert`). Without a
/// set everything passes; with one, a client without a certificate fails.
pub fn pinned(pins: Option<&BTreeSet<String>>, peer: Option<&[CertificateDer<'_>]>) -> bool {
    use sha2::Digest;
    let Some(pins) = pins else {
        return true;
    };
    let Some(leaf) = peer.and_then(|chain| chain.first()) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return false;
    };
    let sha = sha2::Sha256::digest(cert.public_key().raw);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    pins.contains(&hex)
}

/// Picks the server certificate for a ClientHello: the first whose DNS names match the SNI
/// name, else the first one (Go's `tls.Config.Certificates` behaves the same way for the
/// `certs` list). With no certificate at all (`tls {}`) every handshake fails, as with
/// nats-server.
#[derive(Debug)]
pub(crate) struct CertResolver {
    /// Each certificate with its lower-cased DNS SANs and subject CN.
    pub certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(sni) = hello.server_name() {
            let sni = sni.to_ascii_lowercase();
            let hit = self
                .certs
                .iter()
                .find(|(names, _)| names.iter().any(|n| dns_name_matches(n, &sni)));
            if let Some((_, key)) = hit {
                return Some(key.clone());
            }
        }
        self.certs.first().map(|(_, key)| key.clone())
    }
}

/// RFC 6125 matching with a wildcard allowed only as the whole left-most label.
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_matching() {
        assert!(dns_name_matches("localhost", "localhost"));
        assert!(dns_name_matches("*.example.com", "a.example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
    }
}
