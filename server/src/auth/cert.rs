//! Authentication by TLS client certificate.
//!
//! - `verify_and_map` (spec §4.6): the verified certificate names a configured user, looked up
//!   by email SAN, DNS SAN, URI SAN, then by subject DN (nats-server `auth.go`
//!   `checkClientTLSCertSubject`).
//! - BOSH certificate clients (`tls.enable_cert_authorization` with
//!   `authorization.certificate_clients`): the subject CN names a client entry, either exactly
//!   or as `<id>.<client_name>`, and the entry's permissions apply with `_CLIENT_ID` replaced
//!   by `<id>`. This is the BOSH fork's feature; nats-server itself has no equivalent.
//!
//! Certificates are parsed here only on the control path (once per CONNECT, and on reload),
//! never per message.

use super::config::{CertClientConfig, Permissions, SubjectPermission};
use super::perms::ClientPerms;
use super::{AuthStep, Identity};
use std::sync::Arc;
use x509_parser::extensions::GeneralName;

/// The subject token BOSH permissions use for the client's id.
pub const CLIENT_ID_TOKEN: &str = "_CLIENT_ID";

/// One attribute of a DN: a type name (`CN`, `O`, …) and its value.
pub type Attr = (String, String);
/// A distinguished name as a list of RDNs, each a set of attributes, in LDAP (RFC 4514)
/// order: the most specific RDN first.
pub type Dn = Vec<Vec<Attr>>;

/// What a client certificate says about its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// Email (rfc822Name) SANs.
    pub emails: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// URI SANs.
    pub uris: Vec<String>,
    /// The subject as a DN, or `None` when it has an attribute type nats-server's LDAP code
    /// does not know (then the DN comparison is skipped, as in nats-server).
    pub dn: Option<Dn>,
    /// The subject in Go's `pkix.Name.ToRDNSequence().String()` form, e.g.
    /// `CN=alice,OU=Dev,O=Acme`.
    pub pkix: String,
    /// The subject's domain components as `DC=a,DC=b`, in certificate order.
    pub dcs: String,
    /// The subject's common name (the last CN, as Go's `Subject.CommonName`).
    pub cn: String,
    /// The subject has at least one attribute.
    pub has_subject: bool,
}

/// Object ids of the attribute types nats-server's LDAP DN code knows.
const LDAP_TYPES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.17", "POSTALCODE"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// The attribute types Go's `pkix.Name` keeps as fields, in the order `ToRDNSequence` emits
/// them (each as one RDN holding all its values).
const PKIX_ORDER: &[(&str, &str)] = &[
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// Go keeps only the last CN and serial number; the other fields collect every value.
const PKIX_SINGLE: &[&str] = &["2.5.4.3", "2.5.4.5"];

impl CertIdentity {
    /// Reads a DER certificate. `None` if it does not parse.
    pub fn from_der(der: &[u8]) -> Option<CertIdentity> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut id = CertIdentity::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(s) => id.emails.push(s.to_string()),
                    GeneralName::DNSName(s) => id.dns.push(s.to_string()),
                    GeneralName::URI(s) => id.uris.push(s.to_string()),
                    _ => {}
                }
            }
        }
        // The subject as (oid, value) per RDN, in certificate order.
        let rdns: Vec<Vec<(String, Option<String>)>> = cert
            .subject()
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|atv| {
                        let value = atv.as_str().ok().map(str::to_string);
                        (atv.attr_type().to_id_string(), value)
                    })
                    .collect()
            })
            .collect();
        id.has_subject = rdns.iter().any(|rdn| !rdn.is_empty());
        id.dn = ldap_dn(&rdns);
        id.pkix = pkix_string(&rdns);
        id.dcs = rdns
            .iter()
            .flatten()
            .filter(|(oid, _)| oid == "0.9.2342.19200300.100.1.25")
            .filter_map(|(_, v)| v.as_ref().map(|v| format!("DC={v}")))
            .collect::<Vec<_>>()
            .join(",");
        id.cn = rdns
            .iter()
            .flatten()
            .filter(|(oid, _)| oid == "2.5.4.3")
            .filter_map(|(_, v)| v.clone())
            .next_back()
            .unwrap_or_default();
        Some(id)
    }

    /// Nothing to map from (nats-server: "User required in cert, none found").
    fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.dns.is_empty() && self.uris.is_empty() && !self.has_subject
    }
}

/// The subject as nats-server's LDAP code builds it from the raw subject
/// (`ldap.FromRawCertSubject`): RDNs and their attributes reversed.
fn ldap_dn(rdns: &[Vec<(String, Option<String>)>]) -> Option<Dn> {
    let mut dn = Vec::with_capacity(rdns.len());
    for rdn in rdns.iter().rev() {
        if rdn.is_empty() {
            continue;
        }
        let mut attrs = Vec::with_capacity(rdn.len());
        for (oid, value) in rdn.iter().rev() {
            let name = LDAP_TYPES.iter().find(|t| t.0 == oid)?.1;
            attrs.push((name.to_string(), value.clone()?));
        }
        dn.push(attrs);
    }
    Some(dn)
}

/// Go's `pkix.Name` round trip: the known attributes gathered into fields, re-emitted in a
/// fixed order (one RDN per type), printed last RDN first with RFC 4514 escaping.
fn pkix_string(rdns: &[Vec<(String, Option<String>)>]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (oid, name) in PKIX_ORDER {
        let values: Vec<&str> = rdns
            .iter()
            .flatten()
            .filter(|(o, _)| o == oid)
            .filter_map(|(_, v)| v.as_deref())
            .collect();
        let values = if PKIX_SINGLE.contains(oid) {
            values.last().map(|v| vec![*v]).unwrap_or_default()
        } else {
            values
        };
        if values.is_empty() {
            continue;
        }
        let rdn: Vec<String> = values
            .iter()
            .map(|v| format!("{name}={}", escape_rfc4514(v)))
            .collect();
        out.push(rdn.join("+"));
    }
    out.reverse();
    out.join(",")
}

/// Go's `RDNSequence.String` escaping of an attribute value.
fn escape_rfc4514(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut s = String::with_capacity(value.len());
    for (k, c) in value.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Parses a username as an LDAP DN (RFC 4514), the way nats-server's `ldap.ParseDN` does.
/// `None` for strings that are not DNs (`alice@example.com`).
pub fn parse_dn(text: &str) -> Option<Dn> {
    let bytes = text.as_bytes();
    let mut dn: Dn = Vec::new();
    let mut rdn: Vec<Attr> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut attr_type: Option<String> = None;
    let mut trailing_spaces = 0usize;
    let take = |buf: &mut Vec<u8>, trailing: &mut usize| -> String {
        let keep = buf.len() - *trailing;
        let s = String::from_utf8_lossy(&buf[..keep]).into_owned();
        buf.clear();
        *trailing = 0;
        s
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' => {
                trailing_spaces = 0;
                let next = *bytes.get(i + 1)?;
                if b" \"#+,;<=>\\".contains(&next) {
                    buf.push(next);
                    i += 2;
                    continue;
                }
                let hex = text.get(i + 1..i + 3)?;
                buf.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
                continue;
            }
            b'=' if attr_type.is_none() => {
                attr_type = Some(take(&mut buf, &mut trailing_spaces));
                if bytes.get(i + 1) == Some(&b'#') {
                    // BER-encoded values are not supported (nor by nats-server).
                    return None;
                }
            }
            b',' | b'+' => {
                let t = attr_type.take().filter(|t| !t.is_empty())?;
                rdn.push((t, take(&mut buf, &mut trailing_spaces)));
                if c == b',' {
                    dn.push(std::mem::take(&mut rdn));
                }
            }
            b' ' if buf.is_empty() => {}
            _ => {
                trailing_spaces = if c == b' ' { trailing_spaces + 1 } else { 0 };
                buf.push(c);
            }
        }
        i += 1;
    }
    // A dangling "CN=" or trailing separator is dropped, as nats-server does.
    if !buf.is_empty() {
        let t = attr_type.take().filter(|t| !t.is_empty())?;
        rdn.push((t, take(&mut buf, &mut trailing_spaces)));
        dn.push(rdn);
    }
    (!dn.is_empty()).then_some(dn)
}

/// RDNs are equal when they hold the same attributes in any order; types compare without
/// case, values exactly (RFC 4517 distinguishedNameMatch as nats-server implements it).
fn rdn_equal(a: &[Attr], b: &[Attr]) -> bool {
    let has = |set: &[Attr], x: &Attr| {
        set.iter()
            .any(|y| y.0.eq_ignore_ascii_case(&x.0) && y.1 == x.1)
    };
    a.len() == b.len() && a.iter().all(|x| has(b, x)) && b.iter().all(|x| has(a, x))
}

/// Same RDNs in the same order.
pub fn dn_equal(a: &Dn, b: &Dn) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rdn_equal(x, y))
}

/// Same RDNs in any order.
pub fn dn_rdns_match(a: &Dn, b: &Dn) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let hit = b
            .iter()
            .enumerate()
            .position(|(j, y)| !used[j] && rdn_equal(x, y));
        if let Some(j) = hit {
            used[j] = true;
        }
        hit.is_some()
    })
}

/// Finds the configured user a certificate maps to, in nats-server's order: email SANs, DNS
/// SANs, URI SANs, the subject DN (exact RDN order first, then any order), the pkix string with
/// domain components, then without. `lookup` answers "is there a usable user with exactly this
/// name"; `dn_users` lists the usable users whose names parse as DNs.
pub fn map_to_user(
    id: &CertIdentity,
    lookup: impl Fn(&str) -> bool,
    dn_users: &[(&str, Dn)],
) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    let sans = id.emails.iter().chain(&id.dns).chain(&id.uris);
    if let Some(name) = sans.into_iter().find(|n| lookup(n)) {
        return Some(name.clone());
    }
    if let Some(cert_dn) = &id.dn {
        let exact = dn_users.iter().find(|(_, dn)| dn_equal(dn, cert_dn));
        let any_order = || dn_users.iter().find(|(_, dn)| dn_rdns_match(dn, cert_dn));
        if let Some((name, _)) = exact.or_else(any_order) {
            return Some(name.to_string());
        }
    }
    if !id.dcs.is_empty() {
        let with_dcs = if id.pkix.is_empty() {
            id.dcs.clone()
        } else {
            format!("{},{}", id.pkix, id.dcs)
        };
        if lookup(&with_dcs) {
            return Some(with_dcs);
        }
    }
    lookup(&id.pkix).then(|| id.pkix.clone())
}

/// BOSH certificate clients, built from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertClients {
    /// The entries in config order; the first that matches wins.
    pub entries: Vec<CertClientConfig>,
    /// Clients without a certificate may use the `authorization` user/password.
    pub allow_legacy: bool,
}

impl CertClients {
    /// Authenticates a verified client certificate: its CN must be a `client_name` or
    /// `<id>.<client_name>`, where `<id>` is one subject token without wildcards (so a
    /// certificate can't widen its permissions with a CN such as `*.agent.bosh-internal`).
    pub fn check(&self, der: &[u8]) -> AuthStep {
        let Some(cert) = CertIdentity::from_der(der) else {
            return AuthStep::deny("client certificate does not parse");
        };
        let cn = cert.cn.as_str();
        for entry in &self.entries {
            let id = if cn == entry.client_name {
                None
            } else {
                match cn
                    .strip_suffix(entry.client_name.as_str())
                    .and_then(|p| p.strip_suffix('.'))
                {
                    Some(id) => Some(id),
                    None => continue,
                }
            };
            if id.is_some_and(|id| !valid_client_id(id)) {
                return AuthStep::deny("certificate client id is not a plain subject token");
            }
            let perms = match id {
                Some(id) => substitute_client_id(&entry.permissions, id),
                None => entry.permissions.clone(),
            };
            return AuthStep::Accept(Identity {
                account: super::GLOBAL_ACCOUNT.to_string(),
                user: Some(cn.to_string()),
                perms: Some(Arc::new(ClientPerms::compile(&perms))),
                expires: None,
                jwt: None,
            });
        }
        AuthStep::deny("certificate matches no certificate client")
    }
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| !matches!(b, b'.' | b'*' | b'>') && !b.is_ascii_whitespace())
}

/// Replaces every `_CLIENT_ID` subject token (not substrings) in the permission lists.
pub fn substitute_client_id(p: &Permissions, id: &str) -> Permissions {
    let fix = |list: &Option<Vec<String>>| {
        list.as_ref()
            .map(|l| l.iter().map(|e| substitute_entry(e, id)).collect())
    };
    let side = |s: &Option<SubjectPermission>| {
        s.as_ref().map(|s| SubjectPermission {
            allow: fix(&s.allow),
            deny: fix(&s.deny),
        })
    };
    Permissions {
        publish: side(&p.publish),
        subscribe: side(&p.subscribe),
        response: p.response,
    }
}

/// `"subject"` or `"subject queue"`: the id goes into the subject's tokens only.
fn substitute_entry(entry: &str, id: &str) -> String {
    let (subject, queue) = match entry.split_once(' ') {
        Some((s, q)) => (s, Some(q)),
        None => (entry, None),
    };
    let subject: Vec<&str> = subject
        .split('.')
        .map(|t| if t == CLIENT_ID_TOKEN { id } else { t })
        .collect();
    let subject = subject.join(".");
    match queue {
        Some(q) => format!("{subject} {q}"),
        None => subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(list: &[&[(&str, &str)]]) -> Dn {
        list.iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|(t, v)| (t.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn parse_dn_like_ldap() {
        assert_eq!(
            parse_dn("OU=Dev,O=Acme,CN=alice"),
            Some(attrs(&[
                &[("OU", "Dev")],
                &[("O", "Acme")],
                &[("CN", "alice")]
            ]))
        );
        assert_eq!(
            parse_dn("CN=a\\,b, O = x+OU=y"),
            Some(attrs(&[&[("CN", "a,b")], &[("O", "x"), ("OU", "y")]]))
        );
        assert_eq!(parse_dn("CN=\\41b"), Some(attrs(&[&[("CN", "Ab")]])));
        assert_eq!(parse_dn("alice@example.com"), None);
        assert_eq!(parse_dn("foo.example.com"), None);
        assert_eq!(parse_dn("CN=#0102"), None);
        assert_eq!(parse_dn("CN=x\\"), None);
    }

    #[test]
    fn dn_comparisons() {
        let a = parse_dn("OU=Dev,O=Acme,CN=alice").unwrap();
        let b = parse_dn("ou=Dev,o=Acme,cn=alice").unwrap();
        let c = parse_dn("CN=alice,OU=Dev,O=Acme").unwrap();
        let d = parse_dn("CN=Alice,OU=Dev,O=Acme").unwrap();
        assert!(dn_equal(&a, &b));
        assert!(!dn_equal(&a, &c));
        assert!(dn_rdns_match(&a, &c));
        assert!(!dn_rdns_match(&a, &d));
    }

    #[test]
    fn pkix_form_follows_go() {
        let rdn = |oid: &str, v: &str| vec![(oid.to_string(), Some(v.to_string()))];
        // -subj /CN=alice/O=Acme/OU=Dev
        let subject = vec![
            rdn("2.5.4.3", "alice"),
            rdn("2.5.4.10", "Acme"),
            rdn("2.5.4.11", "Dev"),
        ];
        assert_eq!(pkix_string(&subject), "CN=alice,OU=Dev,O=Acme");
        assert_eq!(
            ldap_dn(&subject),
            Some(attrs(&[
                &[("OU", "Dev")],
                &[("O", "Acme")],
                &[("CN", "alice")]
            ]))
        );
        let escaped = vec![
            rdn("2.5.4.3", " a,b#"),
            rdn("2.5.4.11", "x"),
            rdn("2.5.4.11", "y"),
        ];
        assert_eq!(pkix_string(&escaped), "CN=\\ a\\,b#,OU=x+OU=y");
        // An attribute type LDAP doesn't know disables the DN comparison.
        let email = vec![rdn("2.5.4.3", "a"), rdn("1.2.840.113549.1.9.1", "a@b")];
        assert_eq!(ldap_dn(&email), None);
        assert_eq!(pkix_string(&email), "CN=a");
    }

    #[test]
    fn client_id_substitution() {
        let p = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec![
                    "hm.agent.heartbeat._CLIENT_ID".into(),
                    "director.*._CLIENT_ID.*".into(),
                    "x._CLIENT_IDx".into(),
                ]),
                deny: None,
            }),
            subscribe: Some(SubjectPermission {
                allow: Some(vec!["agent._CLIENT_ID q".into()]),
                deny: None,
            }),
            response: None,
        };
        let s = substitute_client_id(&p, "abc");
        assert_eq!(
            s.publish.unwrap().allow.unwrap(),
            vec![
                "hm.agent.heartbeat.abc",
                "director.*.abc.*",
                "x._CLIENT_IDx"
            ]
        );
        assert_eq!(s.subscribe.unwrap().allow.unwrap(), vec!["agent.abc q"]);
        assert!(valid_client_id("fe0dd165-1234"));
        assert!(!valid_client_id("a.b"));
        assert!(!valid_client_id("*"));
        assert!(!valid_client_id(">"));
        assert!(!valid_client_id(""));
    }

    fn der(cn: &str, sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_from_certificate() {
        let email = rcgen::SanType::Rfc822Name("a@example.com".try_into().unwrap());
        let dns = rcgen::SanType::DnsName("a.example.com".try_into().unwrap());
        let id = CertIdentity::from_der(&der("alice", vec![dns, email])).unwrap();
        assert_eq!(id.emails, ["a@example.com"]);
        assert_eq!(id.dns, ["a.example.com"]);
        assert_eq!((id.cn.as_str(), id.pkix.as_str()), ("alice", "CN=alice"));
        assert_eq!(id.dn, Some(attrs(&[&[("CN", "alice")]])));
        assert!(CertIdentity::from_der(b"not a certificate").is_none());
        // Lookup order: email before DNS, both before the subject.
        let all = |_: &str| true;
        assert_eq!(map_to_user(&id, all, &[]).as_deref(), Some("a@example.com"));
        let no_email = |n: &str| n != "a@example.com";
        assert_eq!(
            map_to_user(&id, no_email, &[]).as_deref(),
            Some("a.example.com")
        );
        let dn_users = [("CN=alice", parse_dn("cn=alice").unwrap())];
        let none = |_: &str| false;
        assert_eq!(
            map_to_user(&id, none, &dn_users).as_deref(),
            Some("CN=alice")
        );
        assert_eq!(map_to_user(&id, none, &[]), None);
    }

    #[test]
    fn certificate_clients() {
        let perms = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["hm.agent.heartbeat._CLIENT_ID".into()]),
                deny: None,
            }),
            ..Permissions::default()
        };
        let clients = CertClients {
            entries: vec![CertClientConfig {
                client_name: "agent.bosh-internal".into(),
                permissions: perms,
            }],
            allow_legacy: false,
        };
        let AuthStep::Accept(id) = clients.check(&der("abc.agent.bosh-internal", vec![])) else {
            panic!("agent refused");
        };
        let p = id.perms.unwrap();
        assert!(p.can_publish(b"hm.agent.heartbeat.abc"));
        assert!(!p.can_publish(b"hm.agent.heartbeat.xyz"));
        assert_eq!(id.user.as_deref(), Some("abc.agent.bosh-internal"));
        for cn in [
            "other.bosh-internal",
            "x.y.agent.bosh-internal",
            "*.agent.bosh-internal",
            "xagent.bosh-internal",
        ] {
            assert!(
                matches!(clients.check(&der(cn, vec![])), AuthStep::Reject(_)),
                "{cn}"
            );
        }
        assert!(matches!(
            clients.check(&der("agent.bosh-internal", vec![])),
            AuthStep::Accept(_)
        ));
    }
}
