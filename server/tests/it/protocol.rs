//! Raw-protocol tests against the real binary: the wire vectors of spec §5 and the edge cases
//! of §1 (each expectation was observed on nats-server 2.15.1).

use crate::util::{start_server, Conn, QUIET, SEC};
use std::time::Duration;

#[test]
fn info_fields() {
    let s = start_server("", &[]);
    let mut c = Conn::connect(&s);
    let line = c.read_line(5 * SEC);
    assert!(
        line.starts_with("INFO {") && line.ends_with("} "),
        "{line:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&line[5..]).unwrap();
    assert_eq!(v["proto"], 1);
    assert_eq!(v["headers"], true);
    assert_eq!(v["max_payload"], 1048576);
    assert_eq!(v["port"], s.port);
    assert_eq!(v["client_ip"], "127.0.0.1");
    assert!(v["client_id"].as_u64().unwrap() > 0);
    assert!(v["server_id"].as_str().unwrap().starts_with('N'));
    assert_eq!(v["server_id"].as_str().unwrap().len(), 56);
    assert!(v["xkey"].as_str().unwrap().starts_with('X'));
    assert!(v.get("auth_required").is_none());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(keys.contains(&"version") && keys.contains(&"api_lvl"));
}

#[test]
fn defaults_verbose_pedantic_without_connect_options() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {}\r\nSUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\n");
    c.expect_bytes(
        b"+OK\r\n+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG foo.* 1 2\r\nhi\r\n",
        5 * SEC,
    );
}

#[test]
fn no_connect_at_all_is_verbose() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    c.expect_bytes(b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n", 5 * SEC);
}

#[test]
fn verbose_transcript() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":true}\r\n");
    c.expect_bytes(b"+OK\r\n", 5 * SEC);
    c.send(b"SUB foo 1\r\n");
    c.expect_bytes(b"+OK\r\n", 5 * SEC);
    c.send(b"PUB foo 2\r\nhi\r\n");
    c.expect_bytes(b"+OK\r\nMSG foo 1 2\r\nhi\r\n", 5 * SEC);
    c.send(b"UNSUB 1\r\nUNSUB 99\r\nPING\r\n");
    c.expect_bytes(b"+OK\r\n+OK\r\nPONG\r\n", 5 * SEC);
}

#[test]
fn case_insensitive_ops_and_whitespace() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"sUb foo 1\r\npub\t foo \t2\r\nhi\r\nSUB bar 2\nPUB   bar    r   1   \r\na\r\n");
    assert_eq!(c.sync(), "MSG foo 1 2\r\nhi\r\nMSG bar 2 r 1\r\na\r\n");
}

#[test]
fn size_field_copied_verbatim() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB foo 1\r\nPUB foo 01\r\na\r\n");
    assert_eq!(c.sync(), "MSG foo 1 01\r\na\r\n");
}

#[test]
fn ping_variants() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"PING foo\r\nPINGX\r\n");
    c.expect_bytes(b"PONG\r\nPONG\r\n", 5 * SEC);
}

#[test]
fn headers_hmsg_and_stripping() {
    let s = start_server("", &[]);
    let mut h = Conn::setup(&s);
    h.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\n");
    let mut plain = Conn::setup(&s);
    plain.send(QUIET);
    plain.send(b"SUB foo 1\r\n");
    plain.sync();
    h.sync();
    h.send(b"HPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n");
    assert_eq!(
        h.sync(),
        "HMSG foo 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n"
    );
    assert_eq!(plain.sync(), "MSG foo 1 2\r\nhi\r\n");
    // Header size 0: a plain MSG for everybody.
    h.send(b"HPUB foo r 0 2\r\nhi\r\n");
    assert_eq!(h.sync(), "MSG foo 1 r 2\r\nhi\r\n");
    // Unvalidated header blocks are relayed verbatim.
    h.send(b"HPUB foo 5 5\r\nHELLO\r\n");
    assert_eq!(h.sync(), "HMSG foo 1 5 5\r\nHELLO\r\n");
}

#[test]
fn hpub_without_headers_closes_silently() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    assert!(c.is_closed(3 * SEC));
    assert!(c.buf.is_empty(), "{:?}", String::from_utf8_lossy(&c.buf));
}

#[test]
fn no_responders_503() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.x 9\r\nPUB req _INBOX.x 0\r\n\r\n");
    c.expect_bytes(
        b"+OK\r\n+OK\r\n+OK\r\nHMSG _INBOX.x 9 35 35\r\nNATS/1.0 503\r\nNats-Subject: req\r\n\r\n\r\n",
        5 * SEC,
    );
}

#[test]
fn no_responders_needs_matching_sub() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nPUB req _INBOX.x 0\r\n\r\n");
    assert_eq!(c.sync(), "");
}

#[test]
fn first_ping_gets_connect_info_with_protocol_1() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.read_line(5 * SEC), "PONG");
    let info = c.read_line(5 * SEC);
    assert!(info.starts_with("INFO "), "{info}");
    let v: serde_json::Value = serde_json::from_str(&info[5..]).unwrap();
    assert_eq!(v["connect_info"], true);
    assert_eq!(v["remote_account"], "$G");
    // Only the first PING.
    assert_eq!(c.sync(), "");
    // Protocol 0: only PONG.
    let mut c0 = Conn::setup(&s);
    c0.send(b"CONNECT {\"protocol\":0,\"verbose\":false}\r\n");
    assert_eq!(c0.sync(), "");
    assert_eq!(c0.sync(), "");
}

/// (input after a quiet CONNECT, bytes expected, closed?)
#[test]
fn error_vectors() {
    let s = start_server("", &[]);
    let long_sub = format!("SUB {} 1\r\n", "a".repeat(4095));
    let ok_sub = format!("SUB {} 1\r\n", "a".repeat(4094));
    let cases: Vec<(&[u8], &str, bool)> = vec![
        (b"FOO\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (
            b"MSG foo 1 2\r\nhi\r\n",
            "-ERR 'Unknown Protocol Operation'\r\n",
            true,
        ),
        (b"\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (b"UNSUB\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (
            b"PUB foo 2\r\nhiXX",
            "-ERR 'Unknown Protocol Operation'\r\n",
            true,
        ),
        (b"PUB foo\r\n", "", true),
        (b"PUB foo bar\r\n", "", true),
        (b"PUB foo -1\r\n", "", true),
        (b"SUB foo\r\n", "", true),
        (b"SUB foo q 1 2\r\n", "", true),
        (b"UNSUB 1 2 3\r\n", "", true),
        (b"SUB foo..bar 1\r\n", "-ERR 'Invalid Subject'\r\n", false),
        (b"SUB foo.>.bar 1\r\n", "-ERR 'Invalid Subject'\r\n", false),
        (
            long_sub.as_bytes(),
            "-ERR 'maximum control line exceeded'\r\n",
            true,
        ),
        (ok_sub.as_bytes(), "", false),
        (
            b"PUB foo 2000000\r\n",
            "-ERR 'Maximum Payload Violation'\r\n",
            true,
        ),
        (
            b"PUB foo _R_.abc 1\r\na\r\n",
            "-ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\n",
            false,
        ),
        (
            b"PUB foo $JS.ACK.x 1\r\na\r\n",
            "-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.x\"'\r\n",
            false,
        ),
        (
            b"PUB $NRG.foo 1\r\na\r\n",
            "-ERR 'Permissions Violation for Publish to \"$NRG.foo\"'\r\n",
            false,
        ),
        (
            b"PUB _GR_.x 1\r\na\r\n",
            "-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n",
            false,
        ),
        (
            b"SUB foo _sys_ 2\r\n",
            "-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"_sys_\"'\r\n",
            false,
        ),
        (b"-ERR 'x'\r\n", "", true),
        (b"INFO {bad\r\n", "", true),
        (b"INFO {}\r\n", "", false),
        (b"+OK\r\n", "", false),
    ];
    for (input, want, closes) in cases {
        let mut c = Conn::setup(&s);
        c.send(QUIET);
        c.send(input);
        if closes {
            assert!(
                c.is_closed(3 * SEC),
                "expected close for {:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(
                String::from_utf8_lossy(&c.buf),
                want,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        } else {
            assert_eq!(c.sync(), want, "input {:?}", String::from_utf8_lossy(input));
        }
    }
}

#[test]
fn connect_errors() {
    let s = start_server("", &[]);
    let cases: Vec<(&[u8], &str)> = vec![
        (
            b"CONNECT {\"protocol\":2}\r\n",
            "-ERR 'invalid client protocol'\r\n",
        ),
        (
            b"CONNECT {\"protocol\":-1}\r\n",
            "-ERR 'invalid client protocol'\r\n",
        ),
        (
            b"CONNECT {\"no_responders\":true}\r\n",
            "-ERR 'no responders requires headers support'\r\n",
        ),
        (
            b"CONNECT {\"account\":\"A\"}\r\n",
            "-ERR 'Authorization Violation'\r\n",
        ),
        (
            b"CONNECT {\"new_account\":true}\r\n",
            "-ERR 'Authorization Violation'\r\n",
        ),
        (b"CONNECT {\"verbose\":\"no\"}\r\n", ""),
        (b"CONNECT {\"protocol\":1.5}\r\n", ""),
        (b"CONNECT {bad\r\n", ""),
        (b"CONNECT\r\n", ""),
        (b"CONNECT {} x\r\n", ""),
    ];
    for (input, want) in cases {
        let mut c = Conn::setup(&s);
        c.send(input);
        assert!(
            c.is_closed(3 * SEC),
            "expected close for {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            String::from_utf8_lossy(&c.buf),
            want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn connect_case_insensitive_keys_and_null() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"Verbose\":false,\"PEDANTIC\":false}\r\nSUB foo 1\r\n");
    assert_eq!(c.sync(), "");
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":null}\r\n");
    c.expect_bytes(b"+OK\r\n", 5 * SEC);
}

#[test]
fn duplicate_sid_keeps_first_subscription() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n");
    assert_eq!(c.sync(), "MSG foo 1 1\r\ny\r\n");
}

#[test]
fn auto_unsubscribe_counts() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n");
    assert_eq!(c.sync(), "MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\n");
    // The sid is free again.
    c.send(b"SUB foo 1\r\nPUB foo 1\r\nd\r\n");
    assert_eq!(c.sync(), "MSG foo 1 1\r\nd\r\n");
    // Deliveries before UNSUB count; UNSUB at or under the count removes at once.
    c.send(b"SUB x 2\r\nPUB x 1\r\na\r\nPUB x 1\r\nb\r\n");
    assert_eq!(c.sync(), "MSG x 2 1\r\na\r\nMSG x 2 1\r\nb\r\n");
    c.send(b"UNSUB 2 2\r\nPUB x 1\r\nc\r\n");
    assert_eq!(c.sync(), "");
    c.send(b"SUB y 3\r\nUNSUB 3 0\r\nPUB y 1\r\na\r\nSUB z 4\r\nUNSUB 4 x\r\nPUB z 1\r\na\r\n");
    assert_eq!(c.sync(), "");
}

#[test]
fn wildcards_and_invalid_publish_subjects() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB foo.bar 4\r\n");
    c.send(b"PUB foo.* 1\r\na\r\n");
    let got = c.sync();
    for want in [
        "MSG foo.* 1 1\r\na\r\n",
        "MSG foo.* 2 1\r\na\r\n",
        "MSG foo.* 3 1\r\na\r\n",
    ] {
        assert!(got.contains(want), "{got:?}");
    }
    assert!(!got.contains(" 4 "), "{got:?}");
    c.send(b"PUB foo..bar 1\r\na\r\nPUB foo 1\r\na\r\n");
    assert_eq!(c.sync(), "MSG foo 3 1\r\na\r\n");
}

#[test]
fn echo_false_suppresses_own_messages() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(
        b"CONNECT {\"verbose\":false,\"echo\":false,\"headers\":true,\"no_responders\":true}\r\n",
    );
    c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\n");
    assert_eq!(c.sync(), "");
    // A request only the requester itself listens to gets the 503.
    c.send(b"SUB req 2\r\nSUB _INBOX.y 3\r\nPUB req _INBOX.y 0\r\n\r\n");
    assert_eq!(
        c.sync(),
        "HMSG _INBOX.y 3 35 35\r\nNATS/1.0 503\r\nNats-Subject: req\r\n\r\n\r\n"
    );
}

#[test]
fn second_connect_drops_subscriptions() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB foo 1\r\n");
    c.send(QUIET);
    c.send(b"PUB foo 1\r\na\r\n");
    assert_eq!(c.sync(), "");
}

#[test]
fn split_writes_byte_by_byte() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    let stream =
        b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo 1\r\nPUB foo 5\r\nhello\r\n";
    for b in stream.iter() {
        c.send(&[*b]);
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.sync(), "MSG foo 1 5\r\nhello\r\n");
}

#[test]
fn large_payload_in_pieces_then_a_bad_terminator() {
    // The payload of a 200 KB message arrives over many reads (gannet waits for it without
    // parsing its control line again); it is delivered whole, and the same wait still finds a
    // payload not followed by CR LF.
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB big 1\r\n");
    let payload: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    c.send(b"PUB big 200000\r\n");
    for piece in payload.chunks(9_973) {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(2));
    }
    c.send(b"\r\n");
    let mut want = b"MSG big 1 200000\r\n".to_vec();
    want.extend_from_slice(&payload);
    want.extend_from_slice(b"\r\n");
    c.expect_bytes(&want, Duration::from_secs(5));
    c.send(b"PUB big 100000\r\n");
    for piece in payload[..100_000].chunks(9_973) {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(2));
    }
    c.send(b"XX");
    c.expect_bytes(
        b"-ERR 'Unknown Protocol Operation'\r\n",
        Duration::from_secs(5),
    );
    assert!(c.is_closed(Duration::from_secs(5)));
}

#[test]
fn partial_control_line_over_limit_is_rejected_early() {
    let s = start_server("", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(format!("PUB {}", "a".repeat(5000)).as_bytes());
    assert!(c.is_closed(3 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&c.buf),
        "-ERR 'maximum control line exceeded'\r\n"
    );
}
