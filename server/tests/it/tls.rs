//! TLS on the client port, against the real binary: INFO fields, the handshake after INFO and
//! handshake first, plaintext clients and handshake timeouts, client certificates (`verify`,
//! `verify_and_map`, pinned certs), reload of certificates, startup errors, and BOSH-style
//! certificate clients. Certificates are generated per test with rcgen.
//!
//! Everything but the BOSH tests also runs against the reference server with
//! `GANNET_TEST_BIN=nats-server`.

use crate::util::{self, start_server, Server, SEC};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ----- Certificates -----

/// A test CA that issues server and client certificates into a directory.
struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca: PathBuf,
}

/// A certificate and key written to files.
#[derive(Clone)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("gannet-tls-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki {
            dir,
            issuer: Issuer::new(params, key),
            ca,
        }
    }

    fn issue(&self, file: &str, params: CertificateParams) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = CertFiles {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}-key.pem")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    fn server(&self) -> CertFiles {
        let mut p = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue("server", p)
    }

    /// A client certificate with the given subject (type, value) list and SANs.
    fn client(&self, file: &str, subject: &[(DnType, &str)], sans: Vec<SanType>) -> CertFiles {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        for (t, v) in subject {
            p.distinguished_name.push(t.clone(), *v);
        }
        p.subject_alt_names = sans;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file, p)
    }

    fn client_cn(&self, file: &str, cn: &str) -> CertFiles {
        self.client(file, &[(DnType::CommonName, cn)], Vec::new())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A `tls { … }` block for the server certificate, plus `extra` keys.
fn tls_block(pki: &Pki, server: &CertFiles, extra: &str) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  {extra}\n}}\n",
        p(&server.cert),
        p(&server.key),
        p(&pki.ca)
    )
}

// ----- A raw TLS client -----

fn client_config(ca: &Path, cert: Option<&CertFiles>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match cert {
        Some(c) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(&c.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A protocol connection over TLS, with the helpers of `util::Conn`.
struct TlsConn {
    s: TlsStream,
    buf: Vec<u8>,
    /// The INFO line received (in the clear, or after the handshake with handshake first).
    info: serde_json::Value,
}

/// Reads the plaintext INFO line byte by byte, so nothing after it is consumed.
fn read_plain_info(tcp: &mut TcpStream) -> std::io::Result<serde_json::Value> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if tcp.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&line);
    let json = text
        .strip_prefix("INFO ")
        .ok_or_else(|| std::io::Error::other(format!("not INFO: {text:?}")))?;
    serde_json::from_str(json.trim_end()).map_err(std::io::Error::other)
}

impl TlsConn {
    /// Connects: INFO in the clear (unless `first`), then the handshake. An error means the
    /// handshake failed.
    fn connect(
        server: &Server,
        pki_ca: &Path,
        cert: Option<&CertFiles>,
        first: bool,
    ) -> std::io::Result<TlsConn> {
        let mut tcp = TcpStream::connect(server.addr())?;
        tcp.set_read_timeout(Some(5 * SEC))?;
        let info = if first {
            serde_json::Value::Null
        } else {
            read_plain_info(&mut tcp)?
        };
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(client_config(pki_ca, cert), name)
            .map_err(std::io::Error::other)?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        s.sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut c = TlsConn {
            s,
            buf: Vec::new(),
            info,
        };
        if first {
            let line = c.read_line(5 * SEC);
            c.info = serde_json::from_str(line.strip_prefix("INFO ").expect("INFO")).unwrap();
        }
        Ok(c)
    }

    fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).expect("send");
        self.s.flush().expect("flush");
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 65536];
        let n = self.s.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn read_line(&mut self, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
            }
            assert!(Instant::now() < end, "timeout; have {:?}", self.text());
            if let Ok(0) = self.fill() {
                panic!("closed; have {:?}", self.text());
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).to_string()
    }

    /// PING, wait for PONG; returns what came before it.
    fn sync(&mut self) -> String {
        self.send(b"PING\r\n");
        let end = Instant::now() + 10 * SEC;
        // Only the new bytes are searched: payloads here run to megabytes.
        let mut from = 0;
        loop {
            if let Some(pos) = util::find(&self.buf[from..], b"PONG\r\n").map(|p| p + from) {
                let before: Vec<u8> = self.buf.drain(..pos + 6).collect();
                return String::from_utf8_lossy(&before[..pos]).to_string();
            }
            from = self.buf.len().saturating_sub(5);
            assert!(Instant::now() < end, "no PONG; have {:?}", self.text());
            match self.fill() {
                Ok(0) => panic!("closed; have {:?}", self.text()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!("read error {e}; have {:?}", self.text()),
            }
        }
    }

    /// True if the server closed within `timeout` (bytes received before are kept).
    fn is_closed(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            match self.fill() {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return true,
            }
        }
        false
    }

    fn login(&mut self, extra: &str) -> String {
        self.send(
            format!("CONNECT {{\"verbose\":false,\"pedantic\":false{extra}}}\r\n").as_bytes(),
        );
        self.sync()
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A client whose certificate is refused: either the handshake fails, or (TLS 1.3, where the
/// client finishes first) the connection is closed right after, with nothing but an alert.
fn refused(server: &Server, ca: &Path, cert: Option<&CertFiles>) -> bool {
    match TlsConn::connect(server, ca, cert, false) {
        Err(_) => true,
        Ok(mut c) => {
            c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
            c.is_closed(3 * SEC) && !c.text().contains("PONG")
        }
    }
}

const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

// ----- Tests -----

#[test]
fn info_announces_tls() {
    let pki = Pki::new("info");
    let server = pki.server();
    let s = start_server(&tls_block(&pki, &server, ""), &[]);
    let c = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(c.info["tls_required"], true);
    assert!(c.info.get("tls_verify").is_none());
    assert!(c.info.get("tls_available").is_none());
    drop(s);

    let s = start_server(&tls_block(&pki, &server, "verify: true"), &[]);
    let client = pki.client_cn("c", "client");
    let c = TlsConn::connect(&s, &pki.ca, Some(&client), false).unwrap();
    assert_eq!(c.info["tls_required"], true);
    assert_eq!(c.info["tls_verify"], true);
    drop(s);

    let conf = format!("{}allow_non_tls: true\n", tls_block(&pki, &server, ""));
    let s = start_server(&conf, &[]);
    let c = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(c.info["tls_available"], true);
    assert!(c.info.get("tls_required").is_none());
}

#[test]
fn pub_sub_over_tls_raw() {
    let pki = Pki::new("raw");
    let s = start_server(&tls_block(&pki, &pki.server(), ""), &["-workers", "2"]);
    let mut sub = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(sub.login(""), "");
    sub.send(b"SUB foo 1\r\n");
    assert_eq!(sub.sync(), "");
    let mut publ = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(publ.login(""), "");
    publ.send(b"PUB foo 5\r\nhello\r\n");
    assert_eq!(publ.sync(), "");
    assert_eq!(sub.sync(), "MSG foo 1 5\r\nhello\r\n");
    // Payloads much larger than a TLS record, more in total than one flush writes (a
    // regression: the rest must not wait for a WRITABLE event that never comes), and a burst
    // of small messages.
    let big = vec![b'x'; 300 * 1024];
    let mut frame = format!("PUB foo {}\r\n", big.len()).into_bytes();
    frame.extend_from_slice(&big);
    frame.extend_from_slice(b"\r\n");
    for _ in 0..8 {
        publ.send(&frame);
    }
    let mut burst = Vec::new();
    for i in 0..1000 {
        burst.extend_from_slice(format!("PUB foo 4\r\n{i:04}\r\n").as_bytes());
    }
    publ.send(&burst);
    assert_eq!(publ.sync(), "");
    let got = sub.sync();
    let header = format!("MSG foo 1 {}\r\n", big.len());
    assert_eq!(got.matches(&header).count(), 8);
    assert_eq!(got.matches("MSG foo 1 4\r\n").count(), 1000);
    assert!(got.ends_with("MSG foo 1 4\r\n0999\r\n"));
}

#[test]
fn async_nats_over_tls() {
    let pki = Pki::new("async");
    let client = pki.client_cn("c", "client");
    let s = start_server(&tls_block(&pki, &pki.server(), "verify: true"), &[]);
    let url = format!("tls://localhost:{}", s.port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use futures::StreamExt;
        let nc = async_nats::ConnectOptions::new()
            .add_root_certificates(pki.ca.clone())
            .add_client_certificate(client.cert.clone(), client.key.clone())
            .require_tls(true)
            .connect(&url)
            .await
            .expect("connect over TLS");
        let mut sub = nc.subscribe("svc").await.unwrap();
        let responder = nc.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(reply) = msg.reply {
                    let _ = responder.publish(reply, msg.payload).await;
                }
            }
        });
        nc.flush().await.unwrap();
        let answer = nc.request("svc", "ping".into()).await.unwrap();
        assert_eq!(&answer.payload[..], b"ping");
        // Without a client certificate the connection is refused.
        let refused = async_nats::ConnectOptions::new()
            .add_root_certificates(pki.ca.clone())
            .require_tls(true)
            .connect(&url)
            .await;
        if let Ok(nc) = refused {
            // TLS 1.3: the client may think it connected before the server's alert arrives.
            assert!(
                tokio::time::timeout(Duration::from_secs(3), nc.flush())
                    .await
                    .map_or(true, |r| r.is_err()),
                "a client without a certificate must not be served"
            );
        }
    });
}

#[test]
fn plaintext_client_on_tls_port_is_closed_without_err() {
    let pki = Pki::new("plain");
    let s = start_server(&tls_block(&pki, &pki.server(), ""), &[]);
    let mut c = util::Conn::setup(&s);
    c.send(b"CONNECT {}\r\nPING\r\n");
    assert!(c.is_closed(3 * SEC), "a plaintext client must be closed");
    assert_eq!(String::from_utf8_lossy(&c.buf), "");
}

#[test]
fn handshake_timeout_closes() {
    let pki = Pki::new("timeout");
    let s = start_server(&tls_block(&pki, &pki.server(), "timeout: 0.5"), &[]);
    let mut c = util::Conn::setup(&s);
    let start = Instant::now();
    assert!(c.is_closed(3 * SEC), "an idle client must be closed");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );
    let got = String::from_utf8_lossy(&c.buf).to_string();
    if util::is_gannet() {
        // Gannet sends the -ERR in the clear to a client that has not started TLS.
        assert_eq!(got, "-ERR 'Secure Connection - TLS Required'\r\n");
    } else {
        // nats-server 2.15.1 closes without it (its read deadline fires first; observed).
        assert!(got.is_empty() || got.contains("Secure Connection - TLS Required"));
    }
    // A client that stalls halfway through the handshake gets no plaintext -ERR.
    let mut tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(3 * SEC)).unwrap();
    read_plain_info(&mut tcp).unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x01])
        .unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("-ERR"));
}

#[test]
fn auth_timeout_defaults_to_tls_timeout_plus_one() {
    let pki = Pki::new("authtimeout");
    let conf = format!(
        "{}authorization {{ user: a, password: b }}\n",
        tls_block(&pki, &pki.server(), "timeout: 0.5")
    );
    let s = start_server(&conf, &[]);
    let mut c = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(c.info["auth_required"], true);
    let start = Instant::now();
    assert!(c.is_closed(5 * SEC));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_millis(2500),
        "auth timeout should be 1.5s, took {took:?}"
    );
    assert_eq!(c.text(), "-ERR 'Authentication Timeout'\r\n");
}

#[test]
fn verify_requires_a_certificate_from_the_ca() {
    let pki = Pki::new("verify");
    let other = Pki::new("other");
    let s = start_server(&tls_block(&pki, &pki.server(), "verify: true"), &[]);
    assert!(refused(&s, &pki.ca, None), "no certificate");
    let stranger = other.client_cn("stranger", "stranger");
    assert!(
        refused(&s, &pki.ca, Some(&stranger)),
        "certificate of another CA"
    );
    let good = pki.client_cn("good", "good");
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&good), false).unwrap();
    assert_eq!(c.login(""), "");
}

#[test]
fn handshake_first() {
    let pki = Pki::new("first");
    let conf = format!(
        "{}allow_non_tls: true\n",
        tls_block(&pki, &pki.server(), "handshake_first: true")
    );
    let s = start_server(&conf, &[]);
    let mut c = TlsConn::connect(&s, &pki.ca, None, true).unwrap();
    // INFO comes after the handshake and says tls_required even with allow_non_tls.
    assert_eq!(c.info["tls_required"], true);
    assert_eq!(c.login(""), "");
    // A client waiting for INFO in the clear gets nothing.
    let mut tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(tcp.read(&mut buf), Err(e) if is_timeout(&e)));
    drop(s);

    // "auto": a client that waits gets INFO after the fallback delay and continues as usual.
    let s = start_server(
        &tls_block(&pki, &pki.server(), "handshake_first: auto"),
        &[],
    );
    let mut c = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(c.info["tls_required"], true);
    assert_eq!(c.login(""), "");
    let mut c = TlsConn::connect(&s, &pki.ca, None, true).unwrap();
    assert_eq!(c.login(""), "");
    // async-nats with tls_first.
    let url = format!("tls://localhost:{}", s.port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let nc = async_nats::ConnectOptions::new()
            .add_root_certificates(pki.ca.clone())
            .tls_first()
            .connect(&url)
            .await
            .expect("connect with TLS first");
        nc.flush().await.unwrap();
    });
}

#[test]
fn allow_non_tls_serves_both() {
    let pki = Pki::new("mixed");
    let conf = format!(
        "{}allow_non_tls: true\n",
        tls_block(&pki, &pki.server(), "")
    );
    let s = start_server(&conf, &[]);
    let mut plain = util::Conn::setup(&s);
    plain.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\n");
    assert_eq!(plain.sync(), "");
    let mut secure = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(secure.login(""), "");
    secure.send(b"PUB foo 2\r\nhi\r\n");
    assert_eq!(secure.sync(), "");
    assert_eq!(plain.sync(), "MSG foo 1 2\r\nhi\r\n");
}

const MAP_USERS: &str = r#"
authorization {
  users = [
    { user: "alice@example.com", permissions: { publish: "alice.>", subscribe: "_INBOX.>" } }
    { user: "bob.example.com", permissions: { publish: "bob.>" } }
    { user: "OU=Dev,O=Acme,CN=carol", permissions: { publish: "carol.>" } }
    { user: "CN=dave,O=Acme,OU=Dev", permissions: { publish: "dave.>" } }
    { user: "spiffe://example.org/erin", permissions: { publish: "erin.>" } }
    { user: "CN=frank,OU=Dev,O=Acme", permissions: { publish: "frank.>" } }
    { user: "CN=grace,DC=example", permissions: { publish: "grace.>" } }
    { user: "CN=heidi,DC=example", permissions: { publish: "heidi.>" } }
    { user: "OU=Dev,O=Acme,CN=ivan" }
    { user: "pw", password: "secret" }
  ]
}
"#;

#[test]
fn verify_and_map_users_by_certificate() {
    let pki = Pki::new("map");
    let conf = format!(
        "{}{MAP_USERS}",
        tls_block(&pki, &pki.server(), "verify_and_map: true")
    );
    let s = start_server(&conf, &[]);
    let email = |e: &str| SanType::Rfc822Name(e.try_into().unwrap());
    let dns = |d: &str| SanType::DnsName(d.try_into().unwrap());
    let uri = |u: &str| SanType::URI(u.try_into().unwrap());
    let cn = |c: &'static str| (DnType::CommonName, c);
    let dc = |v: &'static str| {
        (
            DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            v,
        )
    };
    // emailAddress in the subject: a type nats-server's DN code doesn't know, so only the
    // pkix string form (fixed order C, ST, L, STREET, POSTALCODE, O, OU, CN, printed reversed)
    // can match.
    let email_attr = |v: &'static str| (DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), v);
    let cases = [
        // Email SAN first, even with a DNS SAN that names another user.
        (
            pki.client(
                "alice",
                &[cn("ignored")],
                vec![email("alice@example.com"), dns("bob.example.com")],
            ),
            "alice",
        ),
        (
            pki.client("bob", &[cn("x")], vec![dns("bob.example.com")]),
            "bob",
        ),
        (
            pki.client("erin", &[cn("x")], vec![uri("spiffe://example.org/erin")]),
            "erin",
        ),
        // Subject DN, exact RDN order (OU=Dev,O=Acme,CN=carol is -subj /CN=carol/O=Acme/OU=Dev).
        (
            pki.client(
                "carol",
                &[
                    cn("carol"),
                    (DnType::OrganizationName, "Acme"),
                    (DnType::OrganizationalUnitName, "Dev"),
                ],
                vec![],
            ),
            "carol",
        ),
        // Subject DN in another RDN order.
        (
            pki.client(
                "dave",
                &[
                    cn("dave"),
                    (DnType::OrganizationName, "Acme"),
                    (DnType::OrganizationalUnitName, "Dev"),
                ],
                vec![],
            ),
            "dave",
        ),
        (
            pki.client(
                "frank",
                &[
                    cn("frank"),
                    (DnType::OrganizationName, "Acme"),
                    (DnType::OrganizationalUnitName, "Dev"),
                    email_attr("frank@example.com"),
                ],
                vec![],
            ),
            "frank",
        ),
        // A domain component (rcgen writes one per type): the DN comparison.
        (
            pki.client("grace", &[dc("example"), cn("grace")], vec![]),
            "grace",
        ),
        // A domain component without a usable DN: the pkix form plus the DCs.
        (
            pki.client(
                "heidi",
                &[dc("example"), cn("heidi"), email_attr("heidi@example.com")],
                vec![],
            ),
            "heidi",
        ),
    ];
    for (cert, who) in &cases {
        let mut c = TlsConn::connect(&s, &pki.ca, Some(cert), false).unwrap();
        assert_eq!(c.info["auth_required"], true);
        // A user in CONNECT is ignored; the certificate decides.
        assert_eq!(c.login(",\"user\":\"pw\""), "", "{who} logs in");
        c.send(format!("PUB {who}.x 1\r\nx\r\n").as_bytes());
        assert_eq!(c.sync(), "", "{who} may publish to {who}.x");
        c.send(b"PUB other.x 1\r\nx\r\n");
        assert_eq!(
            c.sync(),
            "-ERR 'Permissions Violation for Publish to \"other.x\"'\r\n",
            "{who}'s permissions apply"
        );
    }
    // No user for this certificate: Authorization Violation.
    let nobody = pki.client("nobody", &[cn("nobody")], vec![dns("nobody.example.com")]);
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&nobody), false).unwrap();
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"pw\",\"pass\":\"secret\"}\r\nPING\r\n");
    assert!(c.is_closed(3 * SEC));
    assert_eq!(c.text(), AUTH_VIOLATION);
    // Without a usable DN only the pkix form (CN=ivan,OU=Dev,O=Acme) matches, not the
    // certificate order reversed (observed with nats-server 2.15.1).
    let ivan = pki.client(
        "ivan",
        &[
            cn("ivan"),
            (DnType::OrganizationName, "Acme"),
            (DnType::OrganizationalUnitName, "Dev"),
            email_attr("ivan@example.com"),
        ],
        vec![],
    );
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&ivan), false).unwrap();
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert!(c.is_closed(3 * SEC));
    assert_eq!(c.text(), AUTH_VIOLATION);
    // Values compare exactly: another case is another user.
    let upper = pki.client(
        "upper",
        &[
            cn("CAROL"),
            (DnType::OrganizationName, "Acme"),
            (DnType::OrganizationalUnitName, "Dev"),
        ],
        vec![],
    );
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&upper), false).unwrap();
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert!(c.is_closed(3 * SEC));
    assert_eq!(c.text(), AUTH_VIOLATION);
}

#[test]
fn pinned_certs() {
    use sha2::Digest;
    let pki = Pki::new("pinned");
    let allowed = pki.client_cn("allowed", "allowed");
    let other = pki.client_cn("other", "other");
    let der = CertificateDer::from_pem_file(&allowed.cert).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let pin: String = sha2::Sha256::digest(parsed.public_key().raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let extra = format!("verify: true\n  pinned_certs: [\"{pin}\"]");
    let s = start_server(&tls_block(&pki, &pki.server(), &extra), &[]);
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&allowed), false).unwrap();
    assert_eq!(c.login(""), "");
    assert!(refused(&s, &pki.ca, Some(&other)));
}

#[test]
fn reload_applies_a_new_certificate_to_new_connections() {
    let old_pki = Pki::new("reload-old");
    let new_pki = Pki::new("reload-new");
    let old_server = old_pki.server();
    let s = start_server(&tls_block(&old_pki, &old_server, ""), &[]);
    let mut before = TlsConn::connect(&s, &old_pki.ca, None, false).unwrap();
    assert_eq!(before.login(""), "");
    assert!(TlsConn::connect(&s, &new_pki.ca, None, false).is_err());
    // Replace the files in place, then reload.
    let new_server = new_pki.server();
    std::fs::copy(&new_server.cert, &old_server.cert).unwrap();
    std::fs::copy(&new_server.key, &old_server.key).unwrap();
    s.signal(libc::SIGHUP);
    assert!(s.wait_log("Reloaded server configuration", 5 * SEC));
    assert!(s.wait_log("Reloaded: tls = enabled", SEC));
    let mut after = TlsConn::connect(&s, &new_pki.ca, None, false).unwrap();
    assert_eq!(after.login(""), "");
    assert!(TlsConn::connect(&s, &old_pki.ca, None, false).is_err());
    // The connection made before the reload keeps working.
    assert_eq!(before.sync(), "");
}

/// Runs the server binary expecting a startup failure; returns (exit code, stderr). The
/// config file goes to a directory of its own (tests run in parallel), removed afterwards.
fn start_fails(config: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = util::temp_dir();
    let path = dir.join("tls.conf");
    let mut all: Vec<&str> = Vec::new();
    if !config.is_empty() {
        std::fs::write(&path, config).unwrap();
        all.extend(["-c", path.to_str().unwrap()]);
    }
    all.extend(["-a", "127.0.0.1", "-p", "-1"]);
    all.extend_from_slice(args);
    let out = util::run_to_exit(&all);
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn startup_errors() {
    let (code, err) = start_fails("tls {\n  cert_file: \"x.pem\"\n}\n", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(":1:0: missing 'key_file' in TLS configuration"),
        "{err}"
    );
    let (code, err) = start_fails(
        "tls {\n  cert_file: \"nope.pem\"\n  key_file: \"nope.key\"\n}\n",
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "error parsing X509 certificate/key pair: open nope.pem: no such file or directory"
        ),
        "{err}"
    );
    let (code, err) = start_fails("tls {\n  bogus: 1\n}\n", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error parsing tls config, unknown field \"bogus\""),
        "{err}"
    );
    let (code, err) = start_fails("", &["--tls"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("TLS Server certificate must be present and valid"),
        "{err}"
    );
    let (code, err) = start_fails("", &["--tlscert", "x.pem"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("TLS Server private key must be present and valid"),
        "{err}"
    );
}

#[test]
fn tls_flags() {
    let pki = Pki::new("flags");
    let server = pki.server();
    let client = pki.client_cn("c", "client");
    let (cert, key, ca) = (p(&server.cert), p(&server.key), p(&pki.ca));
    let s = start_server(
        "",
        &[
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "--tlscacert",
            &ca,
            "--tlsverify",
        ],
    );
    let mut c = TlsConn::connect(&s, &pki.ca, Some(&client), false).unwrap();
    assert_eq!(c.info["tls_verify"], true);
    assert_eq!(c.login(""), "");
    assert!(refused(&s, &pki.ca, None));
}

// ----- BOSH certificate clients (gannet only: nats-server has no certificate_clients) -----

fn bosh_config(pki: &Pki, server: &CertFiles, legacy: bool) -> String {
    format!(
        r#"
net: 0.0.0.0
port: 4222
authorization {{
  username: "my-user"
  password: "my-password"
  AGENT_PERMISSIONS: {{ publish: ["hm.agent.heartbeat._CLIENT_ID", "director.*._CLIENT_ID.*"], subscribe: ["agent._CLIENT_ID"] }}
  DIRECTOR_PERMISSIONS: {{ publish: ["agent.*", "hm.director.alert"], subscribe: ["director.>"] }}
  certificate_clients: [
    {{client_name: director.bosh-internal, permissions: $DIRECTOR_PERMISSIONS}},
    {{client_name: agent.bosh-internal, permissions: $AGENT_PERMISSIONS}},
  ]
  timeout: 10
}}
tls {{ cert_file: "{}", key_file: "{}", ca_file: "{}", verify: true, timeout: 10,
      enable_cert_authorization: true, allow_legacy_clients: {legacy} }}
"#,
        p(&server.cert),
        p(&server.key),
        p(&pki.ca)
    )
}

const AGENT: &str = "fe0dd165-8b5b-4b9e-a3b8-4a8d7b0d0c11";
const OTHER_AGENT: &str = "0a1b2c3d-0000-4000-8000-000000000000";

#[test]
fn bosh_certificate_clients() {
    if !util::is_gannet() {
        return;
    }
    let pki = Pki::new("bosh");
    let s = start_server(&bosh_config(&pki, &pki.server(), true), &[]);
    // An agent: its own subjects only.
    let agent = pki.client_cn("agent", &format!("{AGENT}.agent.bosh-internal"));
    let mut a = TlsConn::connect(&s, &pki.ca, Some(&agent), false).unwrap();
    assert_eq!(a.info["auth_required"], true);
    assert_eq!(a.login(""), "");
    a.send(format!("SUB agent.{AGENT} 1\r\nPUB hm.agent.heartbeat.{AGENT} 2\r\nhi\r\n").as_bytes());
    assert_eq!(a.sync(), "");
    a.send(format!("PUB director.x.{AGENT}.y 1\r\nx\r\n").as_bytes());
    assert_eq!(a.sync(), "");
    a.send(format!("PUB hm.agent.heartbeat.{OTHER_AGENT} 2\r\nhi\r\n").as_bytes());
    assert_eq!(
        a.sync(),
        format!(
            "-ERR 'Permissions Violation for Publish to \"hm.agent.heartbeat.{OTHER_AGENT}\"'\r\n"
        )
    );
    a.send(format!("SUB agent.{OTHER_AGENT} 2\r\n").as_bytes());
    assert_eq!(
        a.sync(),
        format!("-ERR 'Permissions Violation for Subscription to \"agent.{OTHER_AGENT}\"'\r\n")
    );
    // The director: may message agents and receives what agents send it.
    let director = pki.client_cn("director", "director.bosh-internal");
    let mut d = TlsConn::connect(&s, &pki.ca, Some(&director), false).unwrap();
    assert_eq!(d.login(""), "");
    d.send(b"SUB director.> 1\r\n");
    assert_eq!(d.sync(), "");
    d.send(format!("PUB agent.{AGENT} 4\r\nping\r\n").as_bytes());
    assert_eq!(d.sync(), "");
    assert_eq!(a.sync(), format!("MSG agent.{AGENT} 1 4\r\nping\r\n"));
    a.send(format!("PUB director.x.{AGENT}.y 4\r\npong\r\n").as_bytes());
    assert_eq!(a.sync(), "");
    assert_eq!(
        d.sync(),
        format!("MSG director.x.{AGENT}.y 1 4\r\npong\r\n")
    );
    d.send(b"PUB hm.agent.heartbeat.x 1\r\nx\r\n");
    assert_eq!(
        d.sync(),
        "-ERR 'Permissions Violation for Publish to \"hm.agent.heartbeat.x\"'\r\n"
    );
    // A certificate that matches no entry, and a wildcard "id", are refused.
    for cn in [
        "health-monitor.bosh-internal",
        "*.agent.bosh-internal",
        "a.b.agent.bosh-internal",
    ] {
        let cert = pki.client_cn(&format!("x{}", cn.len()), cn);
        let mut c = TlsConn::connect(&s, &pki.ca, Some(&cert), false).unwrap();
        c.send(b"CONNECT {\"verbose\":false,\"user\":\"my-user\",\"pass\":\"my-password\"}\r\nPING\r\n");
        assert!(c.is_closed(3 * SEC), "{cn}");
        assert_eq!(c.text(), AUTH_VIOLATION, "{cn}");
    }
    // A legacy client: no certificate, the block's user and password, full permissions.
    let mut legacy = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(
        legacy.login(",\"user\":\"my-user\",\"pass\":\"my-password\""),
        ""
    );
    legacy.send(b"PUB anything.at.all 1\r\nx\r\n");
    assert_eq!(legacy.sync(), "");
    let mut wrong = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    wrong.send(b"CONNECT {\"verbose\":false,\"user\":\"my-user\",\"pass\":\"nope\"}\r\nPING\r\n");
    assert!(wrong.is_closed(3 * SEC));
    assert_eq!(wrong.text(), AUTH_VIOLATION);
}

#[test]
fn bosh_without_legacy_clients_requires_a_certificate() {
    if !util::is_gannet() {
        return;
    }
    let pki = Pki::new("bosh-strict");
    let s = start_server(&bosh_config(&pki, &pki.server(), false), &[]);
    // The TLS layer already requires a certificate.
    assert!(refused(&s, &pki.ca, None));
    let agent = pki.client_cn("agent", &format!("{AGENT}.agent.bosh-internal"));
    let mut a = TlsConn::connect(&s, &pki.ca, Some(&agent), false).unwrap();
    assert_eq!(a.info["tls_verify"], true);
    assert_eq!(
        a.login(",\"user\":\"my-user\",\"pass\":\"my-password\""),
        ""
    );
    a.send(format!("PUB hm.agent.heartbeat.{AGENT} 2\r\nhi\r\n").as_bytes());
    assert_eq!(a.sync(), "");
}

#[test]
fn connection_rate_limit() {
    let pki = Pki::new("rate");
    let s = start_server(
        &tls_block(&pki, &pki.server(), "connection_rate_limit: 1"),
        &[],
    );
    let mut first = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(first.login(""), "");
    // The second connection in the same second: INFO, then the error, in the clear.
    let mut second = util::Conn::setup(&s);
    assert!(second.is_closed(3 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&second.buf),
        "-ERR 'Connection throttling is active. Please try again later.'\r\n"
    );
}

#[test]
fn https_monitoring_port() {
    let pki = Pki::new("https");
    let server = pki.server();
    // `verify` applies to NATS clients only: the monitoring port asks for no certificate.
    let s = start_server(
        &tls_block(&pki, &server, "verify: true"),
        &["--https_port", "-1"],
    );
    assert!(
        s.wait_log("Starting https monitor on", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    let log = s.log.lock().unwrap().clone();
    let port: u16 = log
        .lines()
        .find(|l| l.contains("Starting https monitor on"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(5 * SEC)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&pki.ca, None), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /varz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    // A peer that closes without close_notify is an error here; what was read still counts.
    let _ = tls.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    let varz: serde_json::Value = serde_json::from_str(body).unwrap();
    // Like nats-server, /varz shows the port as configured (-1: ephemeral).
    assert_eq!(varz["https_port"], -1);
    drop(s);

    // Without a TLS block, or with both ports, the server refuses to start.
    let (code, out) = start_fails("", &["--https_port", "-1"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("TLS cert and key required for HTTPS"), "{out}");
    let (code, out) = start_fails(
        &tls_block(&pki, &server, ""),
        &["--https_port", "8443", "-m", "8222"],
    );
    assert_ne!(code, Some(0));
    assert!(
        out.contains("can't specify both HTTP (8222) and HTTPs (8443) ports"),
        "{out}"
    );
}

#[test]
fn varz_shows_the_configured_tls_timeout() {
    let pki = Pki::new("varztimeout");
    let (_s, port) =
        crate::monitor::start_monitored(&tls_block(&pki, &pki.server(), "timeout: 0.5"), &[]);
    let (status, _, body) = crate::monitor::get(port, "/varz");
    assert_eq!(status, 200);
    let varz: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(varz["tls_timeout"], 0.5);
}

/// Reads until the server closes `t`, waiting at most `wait`; whether it did, and the bytes.
fn read_to_close(t: &mut TcpStream, wait: Duration) -> (bool, String) {
    let _ = t.set_read_timeout(Some(wait));
    let mut got = Vec::new();
    let closed = t.read_to_end(&mut got).is_ok();
    (closed, String::from_utf8_lossy(&got).into_owned())
}

/// A flood of TLS handshakes (issue 16, item 4): 150 connections stall halfway through their
/// ClientHello, 150 send garbage TLS records, and 40 complete real handshakes at once, while a
/// client keeps publishing to itself. The real handshakes all log in, the garbage is closed
/// at once, the stalled ones by the handshake timeout (1 s here), and the client is served.
#[test]
fn tls_handshake_flood_and_garbage_records() {
    const STALLED: usize = 150;
    const GARBAGE: usize = 150;
    const REAL: usize = 40;
    let pki = Pki::new("flood");
    let s = start_server(&tls_block(&pki, &pki.server(), "timeout: 1"), &[]);
    let mut good = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(good.login(""), "");
    good.send(b"SUB flood 1\r\n");
    let open = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let mut t = TcpStream::connect(s.addr()).unwrap();
                t.set_read_timeout(Some(5 * SEC)).unwrap();
                read_plain_info(&mut t).unwrap();
                t
            })
            .collect()
    };
    let mut stalled = open(STALLED);
    for t in stalled.iter_mut() {
        // A handshake record announcing 16 bytes, then only the first of them.
        let _ = t.write_all(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x01]);
    }
    let mut garbage = open(GARBAGE);
    for (i, t) in garbage.iter_mut().enumerate() {
        let junk: &[u8] = match i % 3 {
            // Application data before any handshake.
            0 => &[0x17, 0x03, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef],
            // A record longer than TLS allows.
            1 => &[0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0x02, 0x03],
            // Not TLS at all.
            _ => b"GET / HTTP/1.1\r\n\r\n\x00\x01\x02\x03",
        };
        let _ = t.write_all(junk);
    }
    let ca = pki.ca.clone();
    let real: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..REAL)
            .map(|_| {
                let (s, ca) = (&s, &ca);
                scope.spawn(move || match TlsConn::connect(s, ca, None, false) {
                    Ok(mut c) => c.login(""),
                    Err(e) => format!("handshake failed: {e}"),
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        real.iter().all(|r| r.is_empty()),
        "real handshakes: {real:?}"
    );
    good.send(b"PUB flood 2\r\nok\r\n");
    assert_eq!(good.sync(), "MSG flood 1 2\r\nok\r\n");
    for (n, t) in garbage.iter_mut().enumerate() {
        let (closed, got) = read_to_close(t, 3 * SEC);
        assert!(closed, "garbage connection {n} still open");
        assert!(!got.contains("PONG"), "garbage connection {n}: {got:?}");
    }
    for (n, t) in stalled.iter_mut().enumerate() {
        let (closed, _) = read_to_close(t, 5 * SEC);
        assert!(closed, "stalled handshake {n} still open");
    }
    good.send(b"PUB flood 5\r\nafter\r\n");
    assert_eq!(good.sync(), "MSG flood 1 5\r\nafter\r\n");
}

/// `connection_rate_limit` under a connect storm: 200 connections at once with a limit of
/// 20 a second. Those over the limit get nats-server's throttling error in the clear and are
/// closed; about one second's worth get through to the handshake; a client a second later
/// connects and is served.
#[test]
fn connection_rate_limit_under_a_connect_storm() {
    const STORM: usize = 200;
    const RATE: usize = 20;
    let pki = Pki::new("storm");
    let s = start_server(
        &tls_block(
            &pki,
            &pki.server(),
            &format!("connection_rate_limit: {RATE}\ntimeout: 10"),
        ),
        &[],
    );
    let start = Instant::now();
    let mut storm: Vec<TcpStream> = (0..STORM)
        .map(|_| {
            let mut t = TcpStream::connect(s.addr()).unwrap();
            t.set_read_timeout(Some(5 * SEC)).unwrap();
            read_plain_info(&mut t).unwrap();
            t
        })
        .collect();
    let took = start.elapsed();
    let mut throttled = 0;
    let mut admitted = 0;
    for t in storm.iter_mut() {
        let (closed, got) = read_to_close(t, Duration::from_millis(300));
        if got.contains("-ERR 'Connection throttling is active. Please try again later.'") {
            assert!(
                closed || read_to_close(t, 3 * SEC).0,
                "throttled but left open"
            );
            throttled += 1;
        } else {
            // Admitted: waiting for its handshake (or told TLS is required once the
            // handshake timeout passed).
            assert!(
                got.is_empty() || got == "-ERR 'Secure Connection - TLS Required'\r\n",
                "admitted connection got {got:?}"
            );
            admitted += 1;
        }
    }
    let seconds = took.as_secs() as usize + 1;
    eprintln!("hostile: {STORM} connects in {took:?}: {admitted} admitted, {throttled} throttled");
    assert!(
        admitted >= 1 && admitted <= RATE * (seconds + 1),
        "{admitted} admitted in {took:?} at {RATE}/s"
    );
    assert_eq!(admitted + throttled, STORM);
    drop(storm);
    std::thread::sleep(Duration::from_millis(1100));
    let mut c = TlsConn::connect(&s, &pki.ca, None, false).unwrap();
    assert_eq!(c.login(""), "");
}

/// `wss://`: the WebSocket port with its own `tls` block. The NATS JavaScript client from
/// Node (trusting the test CA) connects and passes every check; the INFO it gets says
/// `tls_required` (the WebSocket listener's TLS, not the client port's).
#[test]
fn wss_with_the_nats_js_client() {
    let Some(dir) = crate::websocket::js_harness() else {
        return;
    };
    let pki = Pki::new("wss");
    let server = pki.server();
    let port = crate::util::cluster::free_port();
    let conf = format!(
        "websocket {{ host: 127.0.0.1, port: {port}, tls {{ cert_file: \"{}\", key_file: \"{}\" }} }}\n",
        p(&server.cert),
        p(&server.key)
    );
    let s = start_server(&conf, &[]);
    assert!(
        s.wait_log(
            &format!("Listening for websocket clients on wss://127.0.0.1:{port}"),
            5 * SEC
        ),
        "{}",
        s.log.lock().unwrap()
    );
    let ca = p(&pki.ca);
    let verdict = crate::websocket::run_js_env(
        &dir,
        "node_client.mjs",
        &format!("wss://localhost:{port}"),
        &[],
        &[("NODE_EXTRA_CA_CERTS", &ca)],
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
}
