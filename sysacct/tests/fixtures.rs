//! Our event types against payloads captured from nats-server 2.15.1
//! (`scripts/capture_sys_fixtures.py`): every captured event parses into our type, and
//! serializing it back gives the same keys, in the same order, with the same value types.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sysacct::events::*;

fn fixtures(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// Same shape: same key order at every level, same JSON types, same array lengths.
fn same_shape(path: &str, want: &Value, got: &Value) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let wk: Vec<&String> = w.keys().collect();
            let gk: Vec<&String> = g.keys().collect();
            assert_eq!(wk, gk, "keys at {path}");
            for (k, v) in w {
                same_shape(&format!("{path}.{k}"), v, &g[k]);
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "array length at {path}");
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                same_shape(&format!("{path}[{i}]"), a, b);
            }
        }
        (Value::Number(_), Value::Number(_)) => {}
        (w, g) => assert_eq!(
            std::mem::discriminant(w),
            std::mem::discriminant(g),
            "type at {path}: {w} vs {g}"
        ),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(subject: &str, body: &Value) {
    let parsed: T =
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{subject}: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    same_shape(subject, body, &back);
}

#[test]
fn captured_events_round_trip() {
    let events = fixtures("events.json");
    let mut seen = std::collections::BTreeSet::new();
    for e in events.as_array().unwrap() {
        let subject = e["subject"].as_str().unwrap();
        let body = &e["body"];
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == CONNECT_EVENT_TYPE {
            round_trip::<ConnectEventMsg>(subject, body);
            seen.insert("connect");
        } else if kind == DISCONNECT_EVENT_TYPE {
            round_trip::<DisconnectEventMsg>(subject, body);
            seen.insert(if subject.ends_with("AUTH.ERR") {
                "auth_err"
            } else {
                "disconnect"
            });
        } else if kind == ACCOUNT_CONNS_EVENT_TYPE {
            round_trip::<AccountNumConns>(subject, body);
            seen.insert("conns");
        } else if subject.ends_with(".STATSZ") && subject.starts_with("$SYS.SERVER.") {
            round_trip::<ServerStatsMsg>(subject, body);
            seen.insert("statsz");
        }
    }
    for kind in ["connect", "disconnect", "auth_err", "conns", "statsz"] {
        assert!(seen.contains(kind), "no {kind} event in the fixtures");
    }
}

#[test]
fn subjects() {
    assert_eq!(connect_subject("USERS"), "$SYS.ACCOUNT.USERS.CONNECT");
    assert_eq!(auth_error_subject("NX"), "$SYS.SERVER.NX.CLIENT.AUTH.ERR");
    assert_eq!(
        account_conns_subjects("A")[1],
        "$SYS.SERVER.ACCOUNT.A.CONNS"
    );
}

#[test]
fn captured_monitoring_documents_round_trip() {
    use sysacct::monitor::{Connz, Subsz, Varz};
    let http = fixtures("http.json");
    let mut varz = http["varz"].clone();
    // Fields Gannet has no equivalent for yet (feature flags are Go-build specific).
    // `shift_remove` keeps the order of the other keys (a plain remove swaps the last key
    // into the hole when key order is preserved).
    varz.as_object_mut().unwrap().shift_remove("feature_flags");
    round_trip::<Varz>("varz", &varz);
    round_trip::<Connz>("connz", &http["connz"]);
    round_trip::<Subsz>("subsz", &http["subsz"]);
}

#[test]
fn leafnode_connect_body_is_server_and_account() {
    // Spec sys.md §2.10 (captured): `{"server":{…},"acc":"USERS"}`, no `type`.
    let msg = sysacct::events::LeafNodeConnectMsg {
        server: sysacct::types::ServerInfo {
            name: "hub".into(),
            id: "NABC".into(),
            ver: "2.15.1".into(),
            seq: 23,
            ..Default::default()
        },
        acc: "USERS".into(),
    };
    let v: serde_json::Value = serde_json::to_value(&msg).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["server", "acc"]);
    assert_eq!(
        sysacct::events::leafnode_connect_subject("USERS"),
        "$SYS.ACCOUNT.USERS.LEAFNODE.CONNECT"
    );
}
