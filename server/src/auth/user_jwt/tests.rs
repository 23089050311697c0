//! Unit tests of `auth::user_jwt`.

use super::*;
use crate::auth::test_claims::{account, strings, user};
use std::collections::BTreeMap;

#[test]
fn decode_user_cases() {
    let acc = nkeys::KeyPair::new_account();
    let key = nkeys::KeyPair::new_user().public_key();
    let now = 1_000_000;
    let token = |kind: &str, exp: i64, nbf: i64| {
        let mut claims = user(&key, "");
        claims.nats.kind = kind.into();
        claims.exp = exp;
        claims.nbf = nbf;
        jwt::encode(&mut claims, &acc).unwrap()
    };
    let cases: Vec<(String, Result<(), &str>)> = vec![
        (String::new(), Err("no user JWT")),
        ("garbage".into(), Err("user JWT not valid")),
        ("a.b.c".into(), Err("user JWT not valid")),
        (token("user", 0, 0), Ok(())),
        (token("user", now + 1, now), Ok(())),
        (token("account", 0, 0), Err("JWT is not a user JWT")),
        (token("", 0, 0), Err("JWT is not a user JWT")),
        (token("user", now, 0), Err("user JWT expired")),
        (token("user", now - 1, 0), Err("user JWT expired")),
        (token("user", 0, now + 1), Err("user JWT not yet valid")),
    ];
    for (token, want) in cases {
        let got = decode_user(&token, now);
        assert_eq!(got.clone().map(|_| ()), want, "{token}");
        if let Ok(got) = got {
            assert_eq!((got.sub, got.iss), (key.clone(), acc.public_key()));
        }
    }
    // A token whose claims were changed no longer verifies.
    let good = token("user", 0, 0);
    let other = token("user", now + 5, 0);
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = other.split('.').nth(1).unwrap();
    assert_eq!(
        decode_user(&parts.join("."), now).map(|_| ()),
        Err("user JWT not valid")
    );
}

#[test]
fn account_of_user() {
    let mut u = user("UUSER", "AACC");
    assert_eq!(account_of(&u), "AACC");
    u.iss = "ASIGNER".into();
    u.nats.issuer_account = "AACC".into();
    assert_eq!(account_of(&u), "AACC");
}

#[test]
fn issuer_scopes() {
    let template = jwt::UserPermissionLimits {
        subs: 7,
        ..jwt::UserPermissionLimits::default()
    };
    let mut acc = account("AACC");
    acc.nats.signing_keys = vec![
        jwt::SigningKey::Key("ASK1".into()),
        jwt::SigningKey::Scoped {
            kind: "user_scope".into(),
            key: "ASK2".into(),
            role: "r".into(),
            template: Box::new(template.clone()),
        },
    ];
    let scoped_denied = "scoped users require no permissions or limits set";
    // (issuer, the user's subs limit, strict signing, expected)
    type Case<'a> = (
        &'a str,
        i64,
        bool,
        Result<Option<jwt::UserPermissionLimits>, &'a str>,
    );
    let cases: Vec<Case> = vec![
        ("AACC", -1, false, Ok(None)),
        (
            "AACC",
            -1,
            true,
            Err("strict signing: users must be signed by a signing key"),
        ),
        ("ASK1", -1, false, Ok(None)),
        ("ASK1", 5, true, Ok(None)),
        ("ASK2", -1, false, Ok(Some(template.clone()))),
        ("ASK2", 0, true, Ok(Some(template.clone()))),
        ("ASK2", 5, false, Err(scoped_denied)),
        (
            "AOTHER",
            -1,
            false,
            Err("user JWT issuer is not trusted by its account"),
        ),
    ];
    for (iss, subs, strict, want) in cases {
        let mut u = user("UUSER", iss);
        u.nats.limits.subs = subs;
        assert_eq!(
            issuer_scope(&acc, &u, strict),
            want,
            "{iss} subs {subs} strict {strict}"
        );
    }
}

#[test]
fn no_permissions() {
    fn with(f: impl FnOnce(&mut jwt::UserPermissionLimits)) -> bool {
        let mut l = jwt::UserPermissionLimits::default();
        f(&mut l);
        has_no_permissions(&l)
    }
    assert!(with(|_| {}));
    assert!(with(|l| l.subs = 0));
    assert!(with(|l| {
        l.data = 0;
        l.payload = -1;
    }));
    assert!(with(|l| l.src = jwt::StringList::Joined(" , ".into())));
    assert!(with(|l| l.times_location = "UTC".into()));
    assert!(!with(|l| l.subs = 5));
    assert!(!with(|l| l.data = 1));
    assert!(!with(|l| l.payload = 1));
    assert!(!with(|l| l.publish.allow = vec!["a".into()]));
    assert!(!with(|l| l.subscribe.deny = vec!["a".into()]));
    assert!(!with(|l| l.resp = Some(jwt::ResponsePermission::default())));
    assert!(!with(
        |l| l.src = jwt::StringList::List(vec!["10.0.0.0/8".into()])
    ));
    assert!(!with(|l| l.times = vec![jwt::TimeRange::default()]));
    assert!(!with(|l| l.bearer_token = true));
    assert!(!with(
        |l| l.allowed_connection_types = vec!["STANDARD".into()]
    ));
}

#[test]
fn revocations() {
    let mut u = user("UUSER", "AACC");
    u.iat = 100;
    let cases: &[(&[(&str, i64)], bool)] = &[
        (&[], false),
        (&[("UUSER", 100)], true),
        (&[("UUSER", 101)], true),
        (&[("UUSER", 99)], false),
        (&[("*", 100)], true),
        (&[("*", 99)], false),
        (&[("UOTHER", 200)], false),
        (&[("UUSER", 99), ("*", 150)], true),
    ];
    for &(revoked, want) in cases {
        let mut acc = account("AACC");
        acc.nats.revocations = revoked
            .iter()
            .map(|&(k, at)| (k.to_string(), at))
            .collect::<BTreeMap<String, i64>>();
        assert_eq!(is_revoked(&acc, &u), want, "{revoked:?}");
    }
}

#[test]
fn connection_types() {
    let cases: &[(&[&str], bool)] = &[
        (&[], true),
        (&["STANDARD"], true),
        (&["standard"], true),
        (&["WEBSOCKET", "Standard"], true),
        (&["WEBSOCKET"], false),
        (&["MQTT", "LEAFNODE"], false),
    ];
    for &(types, want) in cases {
        assert_eq!(
            connection_type_allowed(&strings(types), "STANDARD"),
            want,
            "{types:?}"
        );
    }
    assert!(connection_type_allowed(
        &strings(&["websocket"]),
        "WEBSOCKET"
    ));
    assert!(!connection_type_allowed(
        &strings(&["STANDARD"]),
        "WEBSOCKET"
    ));
    {}
}

#[test]
fn cidrs() {
    let cases: &[(&str, &str, bool)] = &[
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("10.1.2.3/32", "10.1.2.3", true),
        ("10.1.2.3/32", "10.1.2.4", false),
        ("192.168.1.0/24", "192.168.1.255", true),
        ("192.168.1.0/24", "192.168.2.0", false),
        ("0.0.0.0/0", "192.168.1.1", true),
        // Host bits in the network are ignored.
        ("10.9.9.9/8", "10.0.0.1", true),
        // An IPv4-mapped IPv6 peer is its IPv4 address for an IPv4 network.
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:11.1.2.3", false),
        ("10.0.0.0/8", "2001:db8::1", false),
        ("0.0.0.0/0", "2001:db8::1", false),
        // IPv6.
        ("2001:db8::/32", "2001:db8:1::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("2001:db8::1/128", "2001:db8::1", true),
        ("2001:db8::1/128", "2001:db8::2", false),
        ("::1/128", "::1", true),
        ("::/0", "2001:db8::1", true),
        ("::/0", "10.0.0.1", false),
        // An IPv4 peer is not an IPv4-mapped IPv6 address.
        ("::ffff:0:0/96", "10.0.0.1", false),
        ("::ffff:0:0/96", "::ffff:10.0.0.1", true),
        // Not CIDRs: they contain nothing.
        ("10.0.0.1", "10.0.0.1", false),
        ("10.0.0.0/33", "10.0.0.1", false),
        ("2001:db8::/129", "2001:db8::1", false),
        ("10.0.0.0/-1", "10.0.0.1", false),
        ("10.0.0.0/x", "10.0.0.1", false),
        ("10.0.0.0/", "10.0.0.1", false),
        ("10.0.0.0/ 8", "10.0.0.1", false),
        ("10.0.0.0/8/8", "10.0.0.1", false),
        ("10.0.0/8", "10.0.0.1", false),
        ("/8", "10.0.0.1", false),
        ("", "10.0.0.1", false),
        ("fe80::1%eth0/64", "fe80::1", false),
        ("localhost/8", "127.0.0.1", false),
    ];
    for &(cidr, ip, want) in cases {
        let addr: IpAddr = ip.parse().unwrap();
        assert_eq!(cidr_contains(cidr, addr), want, "{cidr} contains {ip}");
    }
}

#[test]
fn sources() {
    let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
    let cases: &[(&[&str], Option<IpAddr>, bool)] = &[
        (&[], None, true),
        (&[], ip("10.0.0.1"), true),
        (&["10.0.0.0/8"], None, false),
        (&["10.0.0.0/8"], ip("10.0.0.1"), true),
        (&["10.0.0.0/8"], ip("127.0.0.1"), false),
        (&["bad", "10.0.0.0/8"], ip("10.0.0.1"), true),
        (&["bad"], ip("10.0.0.1"), false),
        (
            &["192.168.0.0/16", "2001:db8::/32"],
            ip("2001:db8::5"),
            true,
        ),
        (
            &["192.168.0.0/16", "2001:db8::/32"],
            ip("::ffff:192.168.3.4"),
            true,
        ),
        (&["192.168.0.0/16", "2001:db8::/32"], ip("::1"), false),
    ];
    for &(networks, peer, want) in cases {
        assert_eq!(
            source_allowed(&strings(networks), peer),
            want,
            "{networks:?} {peer:?}"
        );
    }
}

/// Seconds into day 20 000 since the epoch (a UTC day).
fn at(h: u64, m: u64, s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + h * 3600 + m * 60 + s)
}

fn windows(times: &[(&str, &str)], location: &str) -> jwt::UserPermissionLimits {
    jwt::UserPermissionLimits {
        times: times
            .iter()
            .map(|&(start, end)| jwt::TimeRange {
                start: start.into(),
                end: end.into(),
            })
            .collect(),
        times_location: location.into(),
        ..jwt::UserPermissionLimits::default()
    }
}

#[test]
fn time_windows() {
    let nine_to_eleven: &[(&str, &str)] = &[("09:00:00", "11:00:00")];
    // (windows, location, now, expected end of the window)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a str,
        SystemTime,
        Result<Option<SystemTime>, &'a str>,
    );
    let cases: Vec<Case> = vec![
        // Without windows the location is not looked at.
        (&[], "America/New_York", at(10, 0, 0), Ok(None)),
        (nine_to_eleven, "", at(10, 0, 0), Ok(Some(at(11, 0, 0)))),
        (nine_to_eleven, "UTC", at(9, 0, 1), Ok(Some(at(11, 0, 0)))),
        (
            nine_to_eleven,
            "Local",
            at(10, 59, 59),
            Ok(Some(at(11, 0, 0))),
        ),
        (
            nine_to_eleven,
            "Europe/Berlin",
            at(10, 0, 0),
            Err("times_location not supported"),
        ),
        (
            nine_to_eleven,
            "",
            at(8, 0, 0),
            Err("outside the allowed times"),
        ),
        (
            nine_to_eleven,
            "",
            at(12, 0, 0),
            Err("outside the allowed times"),
        ),
        // Both ends are outside the window.
        (
            nine_to_eleven,
            "",
            at(9, 0, 0),
            Err("outside the allowed times"),
        ),
        (
            nine_to_eleven,
            "",
            at(11, 0, 0),
            Err("outside the allowed times"),
        ),
        (
            &[("10:00:00", "10:00:00")],
            "",
            at(10, 0, 0),
            Err("outside the allowed times"),
        ),
        // The first window that holds `now` decides.
        (
            &[("11:00:00", "12:00:00"), ("09:00:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Ok(Some(at(11, 0, 0))),
        ),
        (
            &[("09:00:00", "11:00:00"), ("bad", "x")],
            "",
            at(10, 0, 0),
            Ok(Some(at(11, 0, 0))),
        ),
        (
            &[("bad", "x"), ("09:00:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        // Over midnight: from today's start to tomorrow's end.
        (
            &[("22:00:00", "02:00:00")],
            "",
            at(23, 0, 0),
            Ok(Some(at(26, 0, 0))),
        ),
        (
            &[("22:00:00", "02:00:00")],
            "",
            at(1, 0, 0),
            Err("outside the allowed times"),
        ),
        // Not `HH:MM:SS`.
        (
            &[("9:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("24:00:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("09:60:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("09:00:60", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("09:00:00:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("aa:00:00", "11:00:00")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
        (
            &[("09:00:00", "")],
            "",
            at(10, 0, 0),
            Err("times window not valid"),
        ),
    ];
    for (times, location, now, want) in cases {
        assert_eq!(
            time_window(&windows(times, location), now),
            want,
            "{times:?} {location:?}"
        );
    }
}

#[test]
fn limits_in_order() {
    use base64::Engine;
    let kp = nkeys::KeyPair::new_user();
    let key = kp.public_key();
    let nonce = "abcdefghijklmno";
    let sig =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce.as_bytes()).unwrap());
    let acc = account("AACC");
    let mut strict_acc = account("AACC");
    strict_acc.nats.limits.disallow_bearer = true;
    let local = "127.0.0.1".parse::<IpAddr>().ok();
    let now = at(10, 0, 0);
    let none = jwt::UserPermissionLimits::default();
    let check = |limits: &jwt::UserPermissionLimits, acc: &jwt::Claims<jwt::Account>, sig: &str| {
        let client = Client {
            sig,
            conn_type: "STANDARD",
        };
        check_limits(limits, acc, &key, nonce, client, local, now)
    };
    assert_eq!(check(&none, &acc, &sig), Ok(None));
    assert_eq!(check(&none, &acc, "bad"), Err("signature does not verify"));
    assert_eq!(check(&none, &acc, ""), Err("signature does not verify"));
    let bearer = jwt::UserPermissionLimits {
        bearer_token: true,
        ..jwt::UserPermissionLimits::default()
    };
    assert_eq!(check(&bearer, &acc, ""), Ok(None));
    assert_eq!(
        check(&bearer, &strict_acc, &sig),
        Err("bearer tokens not allowed by the account")
    );
    let websocket = jwt::UserPermissionLimits {
        allowed_connection_types: strings(&["WEBSOCKET"]),
        ..jwt::UserPermissionLimits::default()
    };
    assert_eq!(
        check(&websocket, &acc, &sig),
        Err("connection type not allowed")
    );
    // The signature is checked first.
    assert_eq!(
        check(&websocket, &acc, "bad"),
        Err("signature does not verify")
    );
    let remote_only = jwt::UserPermissionLimits {
        src: jwt::StringList::List(strings(&["10.0.0.0/8"])),
        ..jwt::UserPermissionLimits::default()
    };
    assert_eq!(
        check(&remote_only, &acc, &sig),
        Err("source network not allowed")
    );
    let mut nights = windows(&[("22:00:00", "23:00:00")], "");
    assert_eq!(check(&nights, &acc, &sig), Err("outside the allowed times"));
    nights.src = jwt::StringList::Joined("10.0.0.0/8".into());
    assert_eq!(
        check(&nights, &acc, &sig),
        Err("source network not allowed")
    );
    let days = windows(&[("09:00:00", "17:00:00")], "");
    assert_eq!(check(&days, &acc, &sig), Ok(Some(at(17, 0, 0))));
}

#[test]
fn accepted_identity() {
    let mut u = user("UUSER", "ASIGNER");
    u.name = "alice".into();
    u.nats.tags = strings(&["a", "b"]);
    let mut acc = account("AACC");
    let mut limits = jwt::UserPermissionLimits {
        subs: -1,
        payload: 10,
        ..jwt::UserPermissionLimits::default()
    };
    let id = accepted("AACC".into(), &u, &acc, &limits, None);
    assert_eq!(id.account, "AACC");
    assert_eq!(id.user.as_deref(), Some("UUSER"));
    assert!(id.perms.is_none());
    assert_eq!(id.expires, None);
    assert_eq!(
        id.jwt.as_deref(),
        Some(&JwtFacts {
            max_subs: -1,
            max_payload: 10,
            account_expires: None,
            issuer: "ASIGNER".into(),
            tags: strings(&["a", "b"]),
            user_name: "alice".into(),
        })
    );
    // The earlier of the user JWT's expiry and the window's end closes the client.
    let secs = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    u.exp = 2_000;
    acc.exp = 3_000;
    let cases: &[(Option<SystemTime>, SystemTime)] = &[
        (None, secs(2_000)),
        (Some(secs(1_500)), secs(1_500)),
        (Some(secs(2_500)), secs(2_000)),
    ];
    for &(window_end, want) in cases {
        let id = accepted("AACC".into(), &u, &acc, &limits, window_end);
        assert_eq!(id.expires, Some(want));
        assert_eq!(id.jwt.unwrap().account_expires, Some(secs(3_000)));
    }
    u.exp = 0;
    let id = accepted("AACC".into(), &u, &acc, &limits, Some(secs(1_500)));
    assert_eq!(id.expires, Some(secs(1_500)));
    // Permissions: the user's own, else the account's defaults.
    limits.publish.allow = strings(&["p"]);
    assert!(accepted("AACC".into(), &u, &acc, &limits, None)
        .perms
        .is_some());
    limits.publish.allow.clear();
    acc.nats.default_permissions = Some(jwt::DefaultPermissions {
        publish: jwt::Permission {
            allow: strings(&["d"]),
            deny: Vec::new(),
        },
        subscribe: jwt::Permission::default(),
    });
    assert!(accepted("AACC".into(), &u, &acc, &limits, None)
        .perms
        .is_some());
}
