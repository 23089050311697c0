//! WebSocket clients (issue 17): the official NATS JavaScript client over WebSocket from Node
//! and from headless Chromium (`server/tests/ws`), and raw WebSocket for the upgrade's
//! refusals, frames, close handshakes and compression. Every test passes against nats-server
//! 2.15.1 with the same config (`GANNET_TEST_BIN=nats-server`).
//!
//! The JavaScript side needs `npm ci` in `server/tests/ws` (and Debian's `chromium` for the
//! browser): `.ci/run` installs both. Without them the tests say so and skip, except in CI.

use crate::util::cluster::{
    connect_urls, free_port, require_reference, wait_for_mesh, Node, NodeConfig,
};
use crate::util::{bin, start_server, Server, SEC};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A server with a plain (`no_tls`) WebSocket listener on a known port, `extra` inside the
/// block and `top` at the top level; its monitoring port too.
fn ws_server(extra: &str, top: &str) -> (Server, u16, u16) {
    let port = free_port();
    let http = free_port();
    let conf =
        format!("{top}\nwebsocket {{ host: 127.0.0.1, port: {port}, no_tls: true\n{extra} }}\n");
    let s = start_server(&conf, &["-m", &http.to_string()]);
    assert!(
        s.wait_log("Starting http monitor on", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    (s, port, http)
}

/// `server/tests/ws` when its `node_modules` is installed; `None` (skip) otherwise, except in
/// CI where it must be.
pub(crate) fn js_harness() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ws");
    if dir.join("node_modules/@nats-io/nats-core").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "server/tests/ws has no node_modules: run `npm ci` there"
    );
    eprintln!("skipping: `npm ci` in server/tests/ws first");
    None
}

/// Runs a harness script against `url`; its JSON verdict.
pub(crate) fn run_js(dir: &PathBuf, script: &str, url: &str, creds: &[&str]) -> serde_json::Value {
    run_js_env(dir, script, url, creds, &[])
}

/// [`run_js`] with extra environment variables (a CA for `wss://`).
pub(crate) fn run_js_env(
    dir: &PathBuf,
    script: &str,
    url: &str,
    creds: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let out = Command::new("node")
        .envs(env.iter().copied())
        .arg(script)
        .arg(url)
        .args(creds)
        .current_dir(dir)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{script}: {e}: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn nats_js_client_from_node() {
    let Some(dir) = js_harness() else { return };
    let (_s, port, _) = ws_server("", "");
    let verdict = run_js(
        &dir,
        "node_client.mjs",
        &format!("ws://127.0.0.1:{port}"),
        &[],
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    // The INFO is the WebSocket listener's.
    assert_eq!(verdict["server_info"]["port"], port, "{verdict}");
}

#[test]
fn nats_js_client_with_websocket_credentials() {
    let Some(dir) = js_harness() else { return };
    let (_s, port, _) = ws_server("authorization { user: wsu, password: wsp }", "");
    let url = format!("ws://127.0.0.1:{port}");
    let verdict = run_js(&dir, "node_client.mjs", &url, &["wsu", "wsp"]);
    assert_eq!(verdict["ok"], true, "{verdict}");
    let refused = run_js(&dir, "node_client.mjs", &url, &["wsu", "bad"]);
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused.to_string().contains("Authorization Violation"),
        "{refused}"
    );
}

#[test]
fn nats_js_client_in_chromium() {
    let Some(dir) = js_harness() else { return };
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var("CI").is_err(),
            "chromium is needed in CI: apt-get install chromium"
        );
        eprintln!("skipping: no /usr/bin/chromium");
        return;
    }
    let (_s, port, _) = ws_server("compression: true", "");
    let verdict = run_js(
        &dir,
        "browser_client.mjs",
        &format!("ws://127.0.0.1:{port}"),
        &[],
    );
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(
        verdict["console_errors"],
        serde_json::json!([]),
        "{verdict}"
    );
}

// ----- A raw WebSocket client -----

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends an upgrade request with `extra` header lines; the response head and the socket.
fn upgrade(port: u16, extra: &str) -> (String, TcpStream) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    sock.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut sock);
    (head, sock)
}

/// A WebSocket client of `port` past its upgrade and INFO that sent `ops` (ending in PING)
/// in one frame and got the PONG; its socket and read buffer.
fn logged_in(port: u16, ops: &[u8]) -> (TcpStream, Vec<u8>) {
    let (head, mut sock) = upgrade(port, "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = Vec::new();
    read_until(&mut sock, &mut buf, "\r\n");
    sock.write_all(&frame(0x82, ops)).unwrap();
    read_until(&mut sock, &mut buf, "PONG\r\n");
    (sock, buf)
}

/// Reads an HTTP response head (up to the blank line) byte by byte.
fn read_head(sock: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let end = Instant::now() + 5 * SEC;
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(Instant::now() < end, "no response head: {head:?}");
        match sock.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The status code of a raw request's response.
fn status_of(port: u16, request: &str) -> u16 {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    sock.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut sock);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

/// A masked client frame.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One server frame: (first byte, payload), or `None` when the connection ended.
fn read_frame(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let end = Instant::now() + 5 * SEC;
    loop {
        if buf.len() >= 2 {
            let (b0, b1) = (buf[0], buf[1]);
            assert_eq!(b1 & 0x80, 0, "server frames are not masked");
            let (len, at) = match b1 & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            if len != usize::MAX && buf.len() >= at + len {
                let payload = buf[at..at + len].to_vec();
                buf.drain(..at + len);
                return Some((b0, payload));
            }
        }
        assert!(Instant::now() < end, "no frame; have {buf:?}");
        let mut chunk = [0u8; 65536];
        match sock.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return None,
        }
    }
}

/// Data frames' payloads (inflated when RSV1 is set) until `want` shows up.
fn read_until(sock: &mut TcpStream, buf: &mut Vec<u8>, want: &str) -> String {
    let mut text = String::new();
    while !text.contains(want) {
        let (b0, payload) =
            read_frame(sock, buf).unwrap_or_else(|| panic!("closed; have {text:?}"));
        let data = if b0 & 0x40 != 0 {
            inflate(&payload)
        } else {
            payload
        };
        if b0 & 0x0f == 0x2 || b0 & 0x0f == 0x0 {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    text
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 128);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

#[test]
fn upgrade_answer_and_refusals() {
    let (_s, port, _) = ws_server("same_origin: true", "");
    let (head, _) = upgrade(port, "");
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    let ok = format!("{host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n");
    let cases = [
        (format!("POST / HTTP/1.1\r\n{ok}\r\n"), 405),
        (format!("GET / HTTP/1.1\r\n{host}\r\n"), 400),
        (format!("GET / HTTP/1.1\r\n{host}Upgrade: websocket\r\n\r\n"), 400),
        (
            format!("GET / HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
        ),
        (
            format!("GET / HTTP/1.1\r\n{}\r\n", ok.replace(KEY, "short")),
            400,
        ),
        (
            format!("GET / HTTP/1.1\r\n{}\r\n", ok.replace("Version: 13", "Version: 8")),
            400,
        ),
        (format!("GET / HTTP/1.1\r\n{ok}Origin: http://evil.com\r\n\r\n"), 403),
        (format!("GET /x/mqtt HTTP/1.1\r\n{ok}\r\n"), 404),
    ];
    for (request, status) in cases {
        assert_eq!(status_of(port, &request), status, "{request}");
    }
    let same = format!("GET / HTTP/1.1\r\n{ok}Origin: http://127.0.0.1:{port}\r\n\r\n");
    assert_eq!(status_of(port, &same), 101);
}

#[test]
fn frames_pings_and_close_handshake() {
    let (_s, port, _) = ws_server("", "");
    let (head, mut sock) = upgrade(port, "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = Vec::new();
    let info = read_until(&mut sock, &mut buf, "\r\n");
    assert!(info.starts_with("INFO {"), "{info}");
    // The protocol in a text frame, split across two frames of one message.
    sock.write_all(&frame(
        0x01,
        b"CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 2\r",
    ))
    .unwrap();
    sock.write_all(&frame(0x80, b"\nhi\r\nPING\r\n")).unwrap();
    let got = read_until(&mut sock, &mut buf, "PONG\r\n");
    assert_eq!(got, "MSG a 1 2\r\nhi\r\nPONG\r\n");
    // A ping control frame gets a pong with its payload.
    sock.write_all(&frame(0x89, b"hey")).unwrap();
    let (b0, payload) = read_frame(&mut sock, &mut buf).expect("pong");
    assert_eq!((b0, payload.as_slice()), (0x8A, b"hey".as_slice()));
    // A close frame is echoed, then the connection ends.
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    sock.write_all(&frame(0x88, &close)).unwrap();
    let (b0, payload) = read_frame(&mut sock, &mut buf).expect("close");
    assert_eq!(b0, 0x88);
    assert_eq!(payload, close);
    assert!(
        read_frame(&mut sock, &mut buf).is_none(),
        "closed after the close frame"
    );
}

#[test]
fn unmasked_frames_end_the_connection() {
    let (_s, port, _) = ws_server("", "");
    let (_, mut sock) = upgrade(port, "");
    let mut buf = Vec::new();
    read_until(&mut sock, &mut buf, "\r\n");
    sock.write_all(&[0x82, 0x06, b'P', b'I', b'N', b'G', b'\r', b'\n'])
        .unwrap();
    // At most a 1002 close frame (best effort in both servers), then the end.
    loop {
        match read_frame(&mut sock, &mut buf) {
            None => break,
            Some((b0, payload)) => {
                assert_eq!(b0, 0x88, "only a close frame may come");
                assert_eq!(payload[..2], 1002u16.to_be_bytes());
            }
        }
    }
}

#[test]
fn compression_both_ways() {
    let (_s, port, _) = ws_server("compression: true", "");
    let (head, mut sock) = upgrade(
        port,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
        "{head}"
    );
    let mut buf = Vec::new();
    read_until(&mut sock, &mut buf, "\r\n");
    let payload = "compressible ".repeat(40);
    let ops = format!(
        "CONNECT {{\"verbose\":false}}\r\nSUB z 9\r\nPUB z {}\r\n{payload}\r\nPING\r\n",
        payload.len()
    );
    let mut compressed = frame(0xC2, &deflate(ops.as_bytes()));
    // A second, uncompressed message in the same write.
    compressed.extend(frame(0x82, b"PING\r\n"));
    sock.write_all(&compressed).unwrap();
    let mut rsv1_seen = false;
    let mut text = String::new();
    while !text.contains("PONG\r\nPONG\r\n") {
        let (b0, data) = read_frame(&mut sock, &mut buf).expect("frames");
        if b0 & 0x40 != 0 {
            rsv1_seen = true;
            text.push_str(&String::from_utf8_lossy(&inflate(&data)));
        } else {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(
        text.contains(&format!("MSG z 9 {}\r\n{payload}\r\n", payload.len())),
        "{text}"
    );
    assert!(rsv1_seen, "output over 64 bytes is compressed");
}

#[test]
fn monitoring_shows_websocket_clients() {
    let (_s, port, http) = ws_server("", "");
    let (_sock, _) = logged_in(
        port,
        b"CONNECT {\"verbose\":false,\"name\":\"wsc\"}\r\nPING\r\n",
    );
    let (_, _, body) = crate::monitor::get(http, "/connz");
    let connz: serde_json::Value = serde_json::from_str(&body).unwrap();
    let conn = &connz["connections"][0];
    assert_eq!(conn["name"], "wsc", "{connz}");
    assert_eq!(conn["kind"], "Client", "{connz}");
    assert_eq!(conn["type"], "websocket", "{connz}");
    let (_, _, body) = crate::monitor::get(http, "/varz");
    let varz: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        varz["websocket"],
        serde_json::json!({"host": "127.0.0.1", "port": port, "no_tls": true}),
        "{}",
        varz["websocket"]
    );
}

/// An upgrade flood (issue 16, item 4): 150 connections send half an upgrade request and
/// stall, 150 send bad requests, while a real client upgrades and is served. The bad ones
/// are answered with 400, the stalled ones closed at the handshake timeout (1 s here).
#[test]
fn upgrade_flood() {
    const STALLED: usize = 150;
    const BAD: usize = 150;
    let (_s, port, _) = ws_server("handshake_timeout: \"1s\"", "");
    let mut stalled: Vec<TcpStream> = (0..STALLED)
        .map(|_| {
            let mut t = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let _ = t.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
            t
        })
        .collect();
    let bad = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: nope\r\n\r\n");
    for _ in 0..BAD {
        assert_eq!(status_of(port, &bad), 400);
    }
    let _served = logged_in(port, b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    for (n, t) in stalled.iter_mut().enumerate() {
        t.set_read_timeout(Some(5 * SEC)).unwrap();
        let mut rest = Vec::new();
        assert!(
            t.read_to_end(&mut rest).is_ok(),
            "stalled upgrade {n} still open after the handshake timeout"
        );
        assert!(rest.is_empty(), "stalled upgrade {n} got {rest:?}");
    }
}

/// `allowed_connection_types`: a user limited to `WEBSOCKET` gets in through the WebSocket
/// port only, one limited to `STANDARD` through the client port only.
#[test]
fn connection_types_of_users() {
    let users = "authorization { users: [\n  {user: w, password: w, allowed_connection_types: [\"WEBSOCKET\"]}\n  {user: t, password: t, allowed_connection_types: [\"STANDARD\"]}\n] }";
    let (s, port, _) = ws_server("", users);
    let ws_login = |user: &str| {
        let (_, mut sock) = upgrade(port, "");
        let mut buf = Vec::new();
        read_until(&mut sock, &mut buf, "\r\n");
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{user}\"}}\r\nPING\r\n"
        );
        sock.write_all(&frame(0x82, connect.as_bytes())).unwrap();
        let mut text = String::new();
        while !text.contains("PONG") && !text.contains("-ERR") {
            match read_frame(&mut sock, &mut buf) {
                Some((0x82, data)) => text.push_str(&String::from_utf8_lossy(&data)),
                Some(_) => {}
                None => break,
            }
        }
        text
    };
    assert_eq!(ws_login("w"), "PONG\r\n");
    assert!(ws_login("t").contains("-ERR 'Authorization Violation'"));
    let tcp_login = |user: &str| {
        let mut c = crate::util::Conn::setup(&s);
        c.send(
            format!(
                "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{user}\"}}\r\nPING\r\n"
            )
            .as_bytes(),
        );
        c.read_line(5 * SEC)
    };
    assert_eq!(tcp_login("t"), "PONG");
    assert_eq!(tcp_login("w"), "-ERR 'Authorization Violation'");
}

/// A node of a two-node cluster with a plain WebSocket listener on 127.0.0.1; its port.
fn ws_node(name: &str, seed: Option<&NodeConfig>, bin: &str) -> (Node, u16) {
    let port = free_port();
    let mut cfg = NodeConfig::new(name).extra(&format!(
        "websocket {{ host: 127.0.0.1, port: {port}, no_tls: true }}"
    ));
    if let Some(seed) = seed {
        cfg = cfg.route_to(seed);
    }
    (Node::start(cfg, bin), port)
}

/// The `connect_urls` of the INFO a fresh WebSocket client of `port` gets.
fn ws_info_urls(port: u16) -> Vec<String> {
    let (head, mut sock) = upgrade(port, "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = Vec::new();
    let info = read_until(&mut sock, &mut buf, "\r\n");
    let json = info.trim_start_matches("INFO ").trim_end();
    let info: serde_json::Value = serde_json::from_str(json).expect("INFO JSON");
    connect_urls(&info)
}

/// WebSocket clients learn the cluster's WebSocket URLs (route INFO `ws_connect_urls`), own
/// first; plain clients never see them; VARZ lists them. Gannet with gannet, then gannet with
/// nats-server 2.15.1 both ways round.
#[test]
fn cluster_ws_connect_urls() {
    let mut pairs = vec![(bin(), bin())];
    if let Some(reference) = require_reference() {
        pairs.push((bin(), reference.clone()));
        pairs.push((reference, bin()));
    }
    for (first, second) in pairs {
        let (n1, p1) = ws_node("w1", None, &first);
        let (n2, p2) = ws_node("w2", Some(&n1.cfg), &second);
        wait_for_mesh(&[&n1, &n2]);
        for (node, own, other) in [(&n1, p1, p2), (&n2, p2, p1)] {
            let want = [format!("127.0.0.1:{own}"), format!("127.0.0.1:{other}")];
            let end = Instant::now() + 10 * SEC;
            let urls = loop {
                let urls = ws_info_urls(own);
                if want.iter().all(|u| urls.contains(u)) || Instant::now() > end {
                    break urls;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            assert_eq!(urls, want, "{} ({first} / {second})", node.name());
            let tcp = connect_urls(&node.client().info);
            assert!(
                !tcp.iter().any(|u| want.contains(u)),
                "{}: plain clients get no WebSocket URLs: {tcp:?}",
                node.name()
            );
            let varz = node.get_json("/varz");
            assert_eq!(
                varz["ws_connect_urls"],
                serde_json::json!(want),
                "{}",
                node.name()
            );
        }
    }
}

/// Past `max_connections` a WebSocket client is upgraded, then gets INFO, `-ERR 'maximum
/// connections exceeded'` and close 1008, as from nats-server. A burst of 100 such clients
/// all end, and the client holding the one slot is served throughout.
#[test]
fn max_connections_refusal_in_frames() {
    let (s, port, http) = ws_server("", "max_connections: 1");
    let mut holder = crate::util::Conn::setup(&s);
    holder.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(holder.read_line(5 * SEC), "PONG");

    let (head, mut sock) = upgrade(port, "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = Vec::new();
    let text = read_until(&mut sock, &mut buf, "exceeded'\r\n");
    assert!(text.starts_with("INFO {"), "{text}");
    assert!(
        text.ends_with("\r\n-ERR 'maximum connections exceeded'\r\n"),
        "{text}"
    );
    let (b0, payload) = read_frame(&mut sock, &mut buf).expect("close frame");
    assert_eq!(b0, 0x88, "a close frame");
    assert_eq!(&payload[..2], &1008u16.to_be_bytes());
    assert_eq!(&payload[2..], b"Maximum Connections Exceeded");
    assert!(read_frame(&mut sock, &mut buf).is_none(), "then closed");

    let burst: Vec<TcpStream> = (0..100).map(|_| upgrade(port, "").1).collect();
    for (n, mut t) in burst.into_iter().enumerate() {
        t.set_read_timeout(Some(5 * SEC)).unwrap();
        let mut rest = Vec::new();
        assert!(
            t.read_to_end(&mut rest).is_ok(),
            "over-limit client {n} still open"
        );
    }
    holder.send(b"PING\r\n");
    assert_eq!(holder.read_line(5 * SEC), "PONG");
    let (_, _, body) = crate::monitor::get(http, "/varz");
    let varz: serde_json::Value = serde_json::from_str(&body).expect("VARZ JSON");
    assert_eq!(varz["connections"], 1, "only the holder counts");
}

/// A proxy's `X-Forwarded-For` address leads the client's log lines (`ip/peer - wid:N`).
#[test]
fn forwarded_for_in_log_lines() {
    let (s, port, _) = ws_server("authorization { token: secret }", "");
    let (head, mut sock) = upgrade(port, "X-Forwarded-For: 10.1.2.3\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = Vec::new();
    read_until(&mut sock, &mut buf, "\r\n");
    sock.write_all(&frame(0x82, b"CONNECT {\"auth_token\":\"wrong\"}\r\n"))
        .unwrap();
    read_until(&mut sock, &mut buf, "-ERR");
    assert!(
        s.wait_log("10.1.2.3/127.0.0.1:", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    let log = s.log.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("10.1.2.3/127.0.0.1:"))
        .unwrap_or_default();
    assert!(line.contains(" - wid:"), "{line}");
}

/// Messages of 16 KiB and more (written straight from the batch to a plain socket) reach a
/// WebSocket client in frames too.
#[test]
fn large_messages_are_framed() {
    let (s, port, _) = ws_server("", "");
    let (mut sock, mut buf) = logged_in(
        port,
        b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n",
    );
    let mut publisher = crate::util::Conn::setup(&s);
    let payload = "y".repeat(100_000);
    publisher.send(
        format!(
            "CONNECT {{\"verbose\":false}}\r\nPUB big {}\r\n{payload}\r\nPING\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    assert_eq!(publisher.read_line(5 * SEC), "PONG");
    let got = read_until(&mut sock, &mut buf, &format!("{payload}\r\n"));
    assert_eq!(got, format!("MSG big 1 {}\r\n{payload}\r\n", payload.len()));
}
