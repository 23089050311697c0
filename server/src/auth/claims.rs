//! Account and user JWT claims turned into the server's configuration forms, and the checks
//! that are plain functions of claims (nats-server `accounts.go`: the account built from its
//! claims in `updateAccountClaimsWithRefresh`, imports checked against the exporter's exports
//! and activation tokens; nats-io/jwt's blocking validation of account limits).
//!
//! Nothing here holds state: the trust state ([`super::operator::Trust`]) decides when to
//! apply these, and the user JWT check ([`super::user_jwt`]) takes a user's permissions from
//! `permissions`.

use super::config::{
    AccountConfig, AccountLimits, Export, ExportKind, Import, Permissions, ResponsePermission,
    ResponseType, SubjectPermission, RESPONSE_EXPIRES_DEFAULT, RESPONSE_THRESHOLD_DEFAULT,
};
use crate::jwt;
use std::time::Duration;

/// nats-io/jwt's blocking validation errors for account limits on imports and exports.
///
/// # Errors
/// The first blocking issue.
pub fn validate_account(claims: &jwt::Claims<jwt::Account>) -> Result<(), String> {
    let limits = &claims.nats.limits;
    let over = |limit: i64, n: usize| limit >= 0 && n as i64 > limit;
    if over(limits.imports, claims.nats.imports.len()) {
        return Err("the account contains more imports than allowed by the operator".into());
    }
    if over(limits.exports, claims.nats.exports.len()) {
        return Err("the account contains more exports than allowed by the operator".into());
    }
    if !limits.wildcards
        && claims
            .nats
            .exports
            .iter()
            .any(|e| e.subject.split('.').any(|t| t == "*" || t == ">"))
    {
        return Err("the account contains wildcard exports that are not allowed".into());
    }
    Ok(())
}

/// Signing keys of `old` that are gone from `new`, or whose scope changed.
pub(super) fn dropped_signers(
    old: &jwt::Claims<jwt::Account>,
    new: &jwt::Claims<jwt::Account>,
) -> Vec<String> {
    old.nats
        .signing_keys
        .iter()
        .filter(|k| !new.nats.signing_keys.contains(k))
        .map(|k| k.key().to_string())
        .collect()
}

/// Whether the exporter lets `importer` have `import`: a matching export of the same kind,
/// and for a private export a valid activation token issued by the exporter.
///
/// # Errors
/// Why the import is refused.
pub(super) fn import_allowed(
    exporter: &jwt::Claims<jwt::Account>,
    importer: &str,
    import: &jwt::Import,
) -> Result<(), &'static str> {
    let export = exporter
        .nats
        .exports
        .iter()
        .find(|e| {
            e.kind.eq_ignore_ascii_case(&import.kind)
                && protocol::subject::subject_matches(
                    e.subject.as_bytes(),
                    import.subject.as_bytes(),
                )
        })
        .ok_or("no matching export")?;
    if !export.token_req {
        return Ok(());
    }
    let token =
        jwt::decode::<jwt::Activation>(&import.token).map_err(|_| "activation token not valid")?;
    let issuer_ok = token.iss == exporter.sub
        || (token.nats.issuer_account == exporter.sub
            && exporter
                .nats
                .signing_keys
                .iter()
                .any(|k| k.key() == token.iss));
    if !issuer_ok {
        return Err("activation token not issued by the exporter");
    }
    if token.sub != importer {
        return Err("activation token is for another account");
    }
    if token.exp > 0 && token.exp <= jwt::now_unix() {
        return Err("activation token expired");
    }
    let revoked = |k: &str| export.revocations.get(k).is_some_and(|at| *at >= token.iat);
    if revoked(importer) || revoked("*") {
        return Err("activation token revoked");
    }
    if !protocol::subject::subject_matches(token.nats.subject.as_bytes(), import.subject.as_bytes())
    {
        return Err("activation token is for another subject");
    }
    Ok(())
}

/// A JWT permission list as the config form; an empty JWT list means "no restriction".
fn subject_permission(p: &jwt::Permission) -> Option<SubjectPermission> {
    if p.allow.is_empty() && p.deny.is_empty() {
        return None;
    }
    Some(SubjectPermission {
        allow: (!p.allow.is_empty()).then(|| p.allow.clone()),
        deny: (!p.deny.is_empty()).then(|| p.deny.clone()),
    })
}

/// The user's effective permissions: its own, else the account's default permissions.
pub(super) fn permissions(
    limits: &jwt::UserPermissionLimits,
    defaults: Option<&jwt::DefaultPermissions>,
) -> Option<Permissions> {
    let mut publish = subject_permission(&limits.publish);
    let mut subscribe = subject_permission(&limits.subscribe);
    if publish.is_none() && subscribe.is_none() {
        if let Some(d) = defaults {
            publish = subject_permission(&d.publish);
            subscribe = subject_permission(&d.subscribe);
        }
    }
    let response = limits.resp.as_ref().map(|r| ResponsePermission {
        max_msgs: if r.max == 0 { 1 } else { r.max },
        expires: Some(if r.ttl > 0 {
            Duration::from_nanos(r.ttl as u64)
        } else {
            RESPONSE_EXPIRES_DEFAULT
        }),
    });
    if publish.is_none() && subscribe.is_none() && response.is_none() {
        return None;
    }
    Some(Permissions {
        publish,
        subscribe,
        response,
    })
}

/// The registry form of an account JWT.
pub fn account_config(claims: &jwt::Claims<jwt::Account>) -> AccountConfig {
    let kind = |t: &str| {
        if t.eq_ignore_ascii_case("service") {
            ExportKind::Service
        } else {
            ExportKind::Stream
        }
    };
    let exports = claims
        .nats
        .exports
        .iter()
        .map(|e| Export {
            kind: kind(&e.kind),
            subject: e.subject.clone(),
            accounts: Vec::new(),
            response_type: match e.response_type.as_str() {
                "Stream" => ResponseType::Stream,
                "Chunked" => ResponseType::Chunked,
                _ => ResponseType::Singleton,
            },
            response_threshold: if e.response_threshold > 0 {
                Duration::from_nanos(e.response_threshold as u64)
            } else {
                RESPONSE_THRESHOLD_DEFAULT
            },
        })
        .collect();
    let imports = claims
        .nats
        .imports
        .iter()
        .map(|i| {
            let local = if i.local_subject.is_empty() {
                i.to.clone()
            } else {
                i.local_subject.clone()
            };
            let stream = kind(&i.kind) == ExportKind::Stream;
            Import {
                kind: kind(&i.kind),
                account: i.account.clone(),
                subject: i.subject.clone(),
                // A stream's `to` is a prefix in JWTs from older tools.
                prefix: if stream && !i.to.is_empty() && i.local_subject.is_empty() {
                    format!("{}.", i.to.trim_end_matches('.'))
                } else {
                    String::new()
                },
                to: if stream && i.local_subject.is_empty() {
                    String::new()
                } else {
                    local
                },
            }
        })
        .collect();
    AccountConfig {
        name: claims.sub.clone(),
        name_tag: claims.name.clone(),
        nkey: claims.sub.clone(),
        exports,
        imports,
        limits: AccountLimits {
            max_connections: claims.nats.limits.conn,
            max_subscriptions: claims.nats.limits.subs,
            max_payload: claims.nats.limits.payload,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_claims::account;
    use std::collections::BTreeMap;

    fn export(kind: &str, subject: &str) -> jwt::Export {
        jwt::Export {
            kind: kind.into(),
            subject: subject.into(),
            ..jwt::Export::default()
        }
    }

    fn import(kind: &str, subject: &str, account: &str) -> jwt::Import {
        jwt::Import {
            kind: kind.into(),
            subject: subject.into(),
            account: account.into(),
            ..jwt::Import::default()
        }
    }

    #[test]
    fn import_allowed_public_exports() {
        let mut exporter = account("AEXPORTER");
        exporter.nats.exports = vec![export("stream", "pub.>"), export("service", "svc.req")];
        let cases: &[(&str, &str, Result<(), &str>)] = &[
            ("stream", "pub.a", Ok(())),
            ("STREAM", "pub.a.b", Ok(())),
            ("stream", "pub", Err("no matching export")),
            ("service", "pub.a", Err("no matching export")),
            ("service", "svc.req", Ok(())),
            ("Service", "svc.req", Ok(())),
            ("service", "svc.*", Err("no matching export")),
            ("stream", "svc.req", Err("no matching export")),
            ("stream", "other", Err("no matching export")),
        ];
        for &(kind, subject, want) in cases {
            let got = import_allowed(&exporter, "AIMPORTER", &import(kind, subject, "AEXPORTER"));
            assert_eq!(got, want, "{kind} {subject}");
        }
        assert_eq!(
            import_allowed(
                &account("AEMPTY"),
                "AIMPORTER",
                &import("stream", "a", "AEMPTY")
            ),
            Err("no matching export")
        );
    }

    #[test]
    fn import_allowed_private_exports() {
        let exporter_key = nkeys::KeyPair::new_account();
        let signer = nkeys::KeyPair::new_account();
        let stranger = nkeys::KeyPair::new_account();
        let importer = nkeys::KeyPair::new_account().public_key();
        let other = nkeys::KeyPair::new_account().public_key();
        let exporter_pub = exporter_key.public_key();
        let later = jwt::now_unix() + 3600;
        let token = |issuer: &nkeys::KeyPair, sub: &str, subject: &str, exp: i64, acc: &str| {
            let mut claims = jwt::Claims {
                sub: sub.to_string(),
                exp,
                nats: jwt::Activation {
                    subject: subject.into(),
                    import_type: "stream".into(),
                    issuer_account: acc.into(),
                    kind: "activation".into(),
                    version: 2,
                },
                ..jwt::Claims::default()
            };
            jwt::encode(&mut claims, issuer).unwrap()
        };
        let good = token(&exporter_key, &importer, "priv.a", 0, "");
        // (name, activation token, revocations, expected)
        type Case<'a> = (&'a str, String, Vec<(&'a str, i64)>, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            ("valid", good.clone(), vec![], Ok(())),
            (
                "wildcard token",
                token(&exporter_key, &importer, "priv.>", 0, ""),
                vec![],
                Ok(()),
            ),
            (
                "by a signing key",
                token(&signer, &importer, "priv.a", 0, &exporter_pub),
                vec![],
                Ok(()),
            ),
            (
                "none",
                String::new(),
                vec![],
                Err("activation token not valid"),
            ),
            (
                "garbage",
                "a.b.c".into(),
                vec![],
                Err("activation token not valid"),
            ),
            (
                "by a stranger",
                token(&stranger, &importer, "priv.a", 0, &exporter_pub),
                vec![],
                Err("activation token not issued by the exporter"),
            ),
            (
                "by a signing key without issuer_account",
                token(&signer, &importer, "priv.a", 0, ""),
                vec![],
                Err("activation token not issued by the exporter"),
            ),
            (
                "for another account",
                token(&exporter_key, &other, "priv.a", 0, ""),
                vec![],
                Err("activation token is for another account"),
            ),
            (
                "expired",
                token(&exporter_key, &importer, "priv.a", 1, ""),
                vec![],
                Err("activation token expired"),
            ),
            (
                "not yet expired",
                token(&exporter_key, &importer, "priv.a", later, ""),
                vec![],
                Ok(()),
            ),
            (
                "importer revoked",
                good.clone(),
                vec![(importer.as_str(), later)],
                Err("activation token revoked"),
            ),
            (
                "everybody revoked",
                good.clone(),
                vec![("*", later)],
                Err("activation token revoked"),
            ),
            (
                "revoked before the token was issued",
                good.clone(),
                vec![(importer.as_str(), 1)],
                Ok(()),
            ),
            (
                "another account revoked",
                good.clone(),
                vec![(other.as_str(), later)],
                Ok(()),
            ),
            (
                "for another subject",
                token(&exporter_key, &importer, "priv.b", 0, ""),
                vec![],
                Err("activation token is for another subject"),
            ),
        ];
        for (name, token, revocations, want) in cases {
            let mut exporter = account(&exporter_pub);
            exporter.nats.signing_keys = vec![jwt::SigningKey::Key(signer.public_key())];
            let mut e = export("stream", "priv.>");
            e.token_req = true;
            e.revocations = revocations
                .into_iter()
                .map(|(k, at)| (k.to_string(), at))
                .collect::<BTreeMap<String, i64>>();
            exporter.nats.exports = vec![e];
            let mut imp = import("stream", "priv.a", &exporter_pub);
            imp.token = token;
            assert_eq!(import_allowed(&exporter, &importer, &imp), want, "{name}");
        }
    }

    #[test]
    fn validate_account_limits() {
        let with =
            |imports: i64, n_imports: usize, exports: i64, subjects: &[&str], wildcards: bool| {
                let mut claims = account("AACC");
                claims.nats.limits.imports = imports;
                claims.nats.limits.exports = exports;
                claims.nats.limits.wildcards = wildcards;
                claims.nats.imports = (0..n_imports)
                    .map(|i| import("stream", &format!("i.{i}"), "AOTHER"))
                    .collect();
                claims.nats.exports = subjects.iter().map(|s| export("stream", s)).collect();
                validate_account(&claims)
            };
        let too_many_imports = "the account contains more imports than allowed by the operator";
        let too_many_exports = "the account contains more exports than allowed by the operator";
        let wildcard = "the account contains wildcard exports that are not allowed";
        assert_eq!(with(-1, 5, -1, &["a", "b"], true), Ok(()));
        assert_eq!(with(0, 0, 0, &[], false), Ok(()));
        assert_eq!(with(2, 2, 1, &["a"], true), Ok(()));
        assert_eq!(with(1, 2, -1, &[], true), Err(too_many_imports.into()));
        assert_eq!(with(0, 1, -1, &[], true), Err(too_many_imports.into()));
        assert_eq!(
            with(-1, 0, 1, &["a", "b"], true),
            Err(too_many_exports.into())
        );
        // Imports are checked first.
        assert_eq!(with(0, 1, 0, &["a"], true), Err(too_many_imports.into()));
        assert_eq!(with(-1, 0, -1, &["a.*"], false), Err(wildcard.into()));
        assert_eq!(with(-1, 0, -1, &["a.>"], false), Err(wildcard.into()));
        assert_eq!(with(-1, 0, -1, &["*"], false), Err(wildcard.into()));
        assert_eq!(with(-1, 0, -1, &["a.b*", "a.>b"], false), Ok(()));
        assert_eq!(with(-1, 0, -1, &["a.*", "a.>"], true), Ok(()));
    }

    #[test]
    fn dropped_signing_keys() {
        let scoped = |key: &str, subs: i64| jwt::SigningKey::Scoped {
            kind: "user_scope".into(),
            key: key.into(),
            role: String::new(),
            template: Box::new(jwt::UserPermissionLimits {
                subs,
                ..jwt::UserPermissionLimits::default()
            }),
        };
        let with = |keys: Vec<jwt::SigningKey>| {
            let mut claims = account("AACC");
            claims.nats.signing_keys = keys;
            claims
        };
        let old = with(vec![jwt::SigningKey::Key("AK1".into()), scoped("AK2", 1)]);
        let cases: Vec<(Vec<jwt::SigningKey>, Vec<&str>)> = vec![
            (
                vec![jwt::SigningKey::Key("AK1".into()), scoped("AK2", 1)],
                vec![],
            ),
            // Order doesn't matter; new keys are not "dropped".
            (
                vec![
                    scoped("AK2", 1),
                    jwt::SigningKey::Key("AK1".into()),
                    jwt::SigningKey::Key("AK3".into()),
                ],
                vec![],
            ),
            (vec![scoped("AK2", 1)], vec!["AK1"]),
            // A changed template drops the key.
            (
                vec![jwt::SigningKey::Key("AK1".into()), scoped("AK2", 2)],
                vec!["AK2"],
            ),
            // So does turning a scoped key into a plain one.
            (
                vec![
                    jwt::SigningKey::Key("AK1".into()),
                    jwt::SigningKey::Key("AK2".into()),
                ],
                vec!["AK2"],
            ),
            (vec![], vec!["AK1", "AK2"]),
        ];
        for (keys, want) in cases {
            assert_eq!(dropped_signers(&old, &with(keys.clone())), want, "{keys:?}");
        }
    }

    #[test]
    fn user_permissions() {
        let list = |allow: &[&str], deny: &[&str]| jwt::Permission {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        };
        let strings = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        let defaults = jwt::DefaultPermissions {
            publish: list(&["d.pub"], &[]),
            subscribe: list(&[], &["d.sub"]),
        };
        let none = jwt::UserPermissionLimits::default();
        assert_eq!(permissions(&none, None), None);
        assert_eq!(
            permissions(&none, Some(&jwt::DefaultPermissions::default())),
            None
        );
        // Without its own publish or subscribe lists a user takes the account's defaults.
        assert_eq!(
            permissions(&none, Some(&defaults)),
            Some(Permissions {
                publish: Some(SubjectPermission {
                    allow: Some(strings(&["d.pub"])),
                    deny: None,
                }),
                subscribe: Some(SubjectPermission {
                    allow: None,
                    deny: Some(strings(&["d.sub"])),
                }),
                response: None,
            })
        );
        // With either list of its own, none of the defaults apply.
        let own = jwt::UserPermissionLimits {
            subscribe: list(&["u.sub"], &["u.sub.x"]),
            ..jwt::UserPermissionLimits::default()
        };
        assert_eq!(
            permissions(&own, Some(&defaults)),
            Some(Permissions {
                publish: None,
                subscribe: Some(SubjectPermission {
                    allow: Some(strings(&["u.sub"])),
                    deny: Some(strings(&["u.sub.x"])),
                }),
                response: None,
            })
        );
        // Response permissions: max 0 is 1, a ttl of 0 or less is the default expiry.
        let resp_cases: &[(i64, i64, i64, Duration)] = &[
            (0, 0, 1, RESPONSE_EXPIRES_DEFAULT),
            (5, 1_000_000_000, 5, Duration::from_secs(1)),
            (-1, -5, -1, RESPONSE_EXPIRES_DEFAULT),
            (1, 1, 1, Duration::from_nanos(1)),
        ];
        for &(max, ttl, max_msgs, expires) in resp_cases {
            let limits = jwt::UserPermissionLimits {
                resp: Some(jwt::ResponsePermission { max, ttl }),
                ..jwt::UserPermissionLimits::default()
            };
            // Responses alone don't block the defaults.
            assert_eq!(
                permissions(&limits, Some(&defaults)),
                Some(Permissions {
                    publish: Some(SubjectPermission {
                        allow: Some(strings(&["d.pub"])),
                        deny: None,
                    }),
                    subscribe: Some(SubjectPermission {
                        allow: None,
                        deny: Some(strings(&["d.sub"])),
                    }),
                    response: Some(ResponsePermission {
                        max_msgs,
                        expires: Some(expires),
                    }),
                }),
                "max {max} ttl {ttl}"
            );
        }
    }

    #[test]
    fn account_configs() {
        let mut claims = account("AACC");
        claims.name = "Team".into();
        claims.nats.limits.conn = -1;
        claims.nats.limits.subs = 0;
        claims.nats.limits.payload = 100;
        let mut svc = export("service", "svc.>");
        svc.response_type = "Stream".into();
        let mut chunked = export("Service", "chunked");
        chunked.response_type = "Chunked".into();
        chunked.response_threshold = 5;
        let mut stream = export("stream", "s.>");
        stream.response_type = "whatever".into();
        claims.nats.exports = vec![svc, chunked, stream];
        let imp = |kind: &str, to: &str, local: &str| jwt::Import {
            to: to.into(),
            local_subject: local.into(),
            ..import(kind, "x", "AEXP")
        };
        claims.nats.imports = vec![
            imp("stream", "pfx", ""),
            imp("stream", "pfx.", ""),
            imp("stream", "", "loc"),
            imp("stream", "pfx", "loc"),
            imp("stream", "", ""),
            imp("service", "t", ""),
            imp("service", "t", "l"),
            imp("SERVICE", "", ""),
        ];
        let config = account_config(&claims);
        assert_eq!(config.name, "AACC");
        assert_eq!(config.nkey, "AACC");
        assert_eq!(config.name_tag, "Team");
        assert_eq!(
            config.limits,
            AccountLimits {
                max_connections: -1,
                max_subscriptions: 0,
                max_payload: 100,
            }
        );
        let exports: Vec<(ExportKind, &str, ResponseType, Duration)> = config
            .exports
            .iter()
            .map(|e| {
                assert!(e.accounts.is_empty());
                (
                    e.kind,
                    e.subject.as_str(),
                    e.response_type,
                    e.response_threshold,
                )
            })
            .collect();
        assert_eq!(
            exports,
            [
                (
                    ExportKind::Service,
                    "svc.>",
                    ResponseType::Stream,
                    RESPONSE_THRESHOLD_DEFAULT
                ),
                (
                    ExportKind::Service,
                    "chunked",
                    ResponseType::Chunked,
                    Duration::from_nanos(5)
                ),
                (
                    ExportKind::Stream,
                    "s.>",
                    ResponseType::Singleton,
                    RESPONSE_THRESHOLD_DEFAULT
                ),
            ]
        );
        let imports: Vec<(ExportKind, &str, &str)> = config
            .imports
            .iter()
            .map(|i| {
                assert_eq!((i.account.as_str(), i.subject.as_str()), ("AEXP", "x"));
                (i.kind, i.prefix.as_str(), i.to.as_str())
            })
            .collect();
        assert_eq!(
            imports,
            [
                // A stream's `to` without a local subject is a prefix.
                (ExportKind::Stream, "pfx.", ""),
                (ExportKind::Stream, "pfx.", ""),
                (ExportKind::Stream, "", "loc"),
                (ExportKind::Stream, "", "loc"),
                (ExportKind::Stream, "", ""),
                (ExportKind::Service, "", "t"),
                (ExportKind::Service, "", "l"),
                (ExportKind::Service, "", ""),
            ]
        );
    }
}
