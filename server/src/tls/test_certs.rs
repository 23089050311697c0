//! Test certificates written to a directory: a CA, a server certificate for `localhost` and
//! `127.0.0.1` signed by it, and a client certificate (for the TLS, options and worker tests).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use std::path::{Path, PathBuf};

/// Paths of the files written by [`write`].
pub struct Files {
    /// The CA certificate (`ca.pem`).
    pub ca: PathBuf,
    /// The server certificate (`server.pem`).
    pub cert: PathBuf,
    /// The server key (`server-key.pem`).
    pub key: PathBuf,
    /// The client certificate (`client.pem`).
    pub client_cert: PathBuf,
    /// The client key (`client-key.pem`).
    pub client_key: PathBuf,
}

/// Writes fresh certificates and keys into `dir` (which must exist), replacing older ones.
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
    let (client_pem, client_key) = leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
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
