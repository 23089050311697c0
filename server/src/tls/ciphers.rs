//! Go's names for TLS cipher suites and curves (nats-server `server/ciphersuites.go`, which maps
//! them onto Go's `crypto/tls`): which names a `tls { … }` block may give, which of them are
//! insecure, and the rustls crypto provider a choice of them stands for.

use rustls::crypto::CryptoProvider;
use rustls::{NamedGroup, SupportedCipherSuite};

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

/// Whether `name` is one of Go's cipher suites, secure or insecure (nats-server `parseCipher`).
pub fn is_cipher(name: &str) -> bool {
    GO_CIPHERS.contains(&name) || is_insecure_cipher(name)
}

/// Whether `name` is one of Go's insecure cipher suites.
pub fn is_insecure_cipher(name: &str) -> bool {
    GO_INSECURE_CIPHERS.contains(&name)
}

/// Whether `name` is one of Go's curve names (nats-server `parseCurvePreferences`).
pub fn is_curve(name: &str) -> bool {
    curve_group(name).is_some()
}

/// The TLS group a Go curve name stands for.
fn curve_group(name: &str) -> Option<NamedGroup> {
    GO_CURVES.iter().find(|c| c.0 == name).map(|c| c.1)
}

/// The crypto provider with the configured cipher suites and curves (Go names; empty lists
/// keep the defaults). In Go the cipher list only chooses TLS 1.2 suites (TLS 1.3 suites are
/// fixed), so the same holds here; suites and curves rustls does not implement (CBC, P-521, …)
/// are left out.
pub fn crypto_provider(cipher_suites: &[String], curve_preferences: &[String]) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        provider.cipher_suites.retain(|suite| match suite {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => {
                let name = format!("{:?}", suite.suite());
                cipher_suites.contains(&name)
            }
        });
    }
    if !curve_preferences.is_empty() {
        let available = std::mem::take(&mut provider.kx_groups);
        for name in curve_preferences {
            let group = curve_group(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_cipher("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(is_cipher("TLS_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(!is_insecure_cipher("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(is_insecure_cipher("TLS_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(!is_cipher("TLS_BOGUS"));
        assert!(is_curve("X25519") && !is_curve("x25519"));
    }

    #[test]
    fn provider_keeps_the_chosen_curves_in_order() {
        let names = ["CurveP256".to_string(), "X25519".to_string()];
        let p = crypto_provider(&[], &names);
        let groups: Vec<NamedGroup> = p.kx_groups.iter().map(|kx| kx.name()).collect();
        assert_eq!(groups, [NamedGroup::secp256r1, NamedGroup::X25519]);
        // Only unimplemented curves: the defaults stay.
        let p = crypto_provider(&[], &["CurveP521".to_string()]);
        assert!(!p.kx_groups.is_empty());
        let ciphers = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()];
        let p = crypto_provider(&ciphers, &[]);
        let tls12 = p
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .count();
        assert_eq!(tls12, 1);
    }
}
