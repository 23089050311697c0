//! Connection lifecycle against the real binary: auth, keepalive, limits, slow consumers, lame
//! duck mode, reload and signals.

use crate::util::{self, info_json, start_server, Conn, QUIET, SEC};
use std::time::{Duration, Instant};

#[test]
fn user_password_auth() {
    let s = start_server(
        "authorization { user: derek, password: \"s3cr3t\", timeout: 1 }\n",
        &[],
    );
    let mut c = Conn::connect(&s);
    assert_eq!(info_json(&mut c)["auth_required"], true);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"derek\",\"pass\":\"s3cr3t\"}\r\n");
    assert_eq!(c.sync(), "");

    let mut bad = Conn::setup(&s);
    bad.send(b"CONNECT {\"user\":\"derek\",\"pass\":\"nope\"}\r\n");
    assert!(bad.is_closed(3 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&bad.buf),
        "-ERR 'Authorization Violation'\r\n"
    );

    let mut ping_first = Conn::setup(&s);
    ping_first.send(b"PING\r\n");
    assert!(ping_first.is_closed(3 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&ping_first.buf),
        "-ERR 'Authorization Violation'\r\n"
    );

    let mut silent = Conn::setup(&s);
    let start = Instant::now();
    assert!(silent.is_closed(5 * SEC));
    assert_eq!(
        String::from_utf8_lossy(&silent.buf),
        "-ERR 'Authentication Timeout'\r\n"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "timeout fired too early"
    );
}

#[test]
fn token_auth_from_flags_and_bcrypt() {
    let s = start_server("", &["--auth", "tok123"]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false,\"auth_token\":\"tok123\"}\r\n");
    assert_eq!(c.sync(), "");
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"user\":\"tok123\"}\r\n");
    assert!(c.is_closed(3 * SEC));

    let hash = bcrypt::hash("s3cr3t", 4).unwrap();
    let conf = format!("authorization {{ user: alice, password: \"{hash}\" }}\n");
    let s = start_server(&conf, &[]);
    let mut ok = Conn::setup(&s);
    ok.send(b"CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"s3cr3t\"}\r\n");
    assert_eq!(ok.sync(), "");
    let mut bad = Conn::setup(&s);
    bad.send(b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cr3tx\"}\r\n");
    assert!(bad.is_closed(3 * SEC));
}

#[test]
fn user_pass_flags() {
    let s = start_server("", &["--user", "u", "--pass", "p"]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n");
    assert_eq!(c.sync(), "");
}

#[test]
fn stale_connection_after_ping_max() {
    let s = start_server("ping_interval: \"1s\"\nping_max: 2\n", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    let start = Instant::now();
    assert_eq!(c.read_line(5 * SEC), "PING");
    assert_eq!(c.read_line(5 * SEC), "PING");
    assert_eq!(c.read_line(5 * SEC), "-ERR 'Stale Connection'");
    assert!(c.is_closed(3 * SEC));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2500),
        "stale too early: {elapsed:?}"
    );
}

#[test]
fn active_client_gets_one_rtt_ping_then_none() {
    let s = start_server("ping_interval: \"1s\"\n", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    assert_eq!(c.read_line(5 * SEC), "PING");
    c.send(b"PONG\r\n");
    // Keep publishing: no more PINGs.
    let end = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < end {
        c.send(b"PUB x 0\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = c.drain_for(Duration::from_millis(100));
    assert!(
        !String::from_utf8_lossy(&got).contains("PING"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn max_connections() {
    let s = start_server("max_connections: 2\n", &[]);
    let _a = Conn::setup(&s);
    let _b = Conn::setup(&s);
    let mut c = Conn::connect(&s);
    assert!(c.read_line(5 * SEC).starts_with("INFO "));
    assert_eq!(c.read_line(5 * SEC), "-ERR 'maximum connections exceeded'");
    assert!(c.is_closed(3 * SEC));
    drop(_a);
    std::thread::sleep(Duration::from_millis(300));
    let mut d = Conn::setup(&s);
    d.send(QUIET);
    assert_eq!(d.sync(), "");
}

#[test]
fn max_subscriptions_keeps_connection() {
    let s = start_server("max_subscriptions: 2\n", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
    assert_eq!(c.sync(), "-ERR 'maximum subscriptions exceeded'\r\n");
    c.send(b"PUB b 1\r\nx\r\n");
    assert_eq!(c.sync(), "MSG b 2 1\r\nx\r\n");
}

#[test]
fn max_sub_tokens() {
    let s = start_server("max_sub_tokens: 3\n", &[]);
    let mut c = Conn::setup(&s);
    c.send(QUIET);
    c.send(b"SUB a.b.c.d 1\r\nSUB a.b.c 2\r\n");
    assert_eq!(
        c.sync(),
        "-ERR 'Permissions Violation for Subscription to \"a.b.c.d\", too many tokens'\r\n"
    );
}

#[test]
fn slow_consumer_is_closed_others_keep_receiving() {
    let s = start_server(
        "max_pending: 1048576\nmax_payload: 4096\n",
        &["-workers", "2"],
    );
    let mut slow = Conn::setup(&s);
    slow.send(QUIET);
    slow.send(b"SUB data 1\r\n");
    slow.sync();
    let mut fast = Conn::setup(&s);
    fast.send(QUIET);
    fast.send(b"SUB data 1\r\n");
    fast.sync();
    let mut publisher = Conn::setup(&s);
    publisher.send(QUIET);
    let payload = vec![b'x'; 1024];
    let mut batch = Vec::new();
    for _ in 0..64 {
        batch.extend_from_slice(b"PUB data 1024\r\n");
        batch.extend_from_slice(&payload);
        batch.extend_from_slice(b"\r\n");
    }
    // `slow` never reads; `fast` drains everything. 8 MB in total.
    let total = 128 * 64;
    let mut received = 0usize;
    let mut pending = Vec::new();
    for _ in 0..128 {
        publisher.send(&batch);
        pending.extend(fast.drain_for(Duration::from_millis(5)));
        received += count_msgs(&mut pending);
    }
    let publisher_got = publisher.sync().replace("PING\r\n", "");
    assert_eq!(publisher_got, "", "publisher unaffected");
    let end = Instant::now() + 10 * SEC;
    while received < total && Instant::now() < end {
        pending.extend(fast.drain_for(Duration::from_millis(50)));
        received += count_msgs(&mut pending);
    }
    assert_eq!(received, total, "fast subscriber lost messages");
    assert!(slow.is_closed(5 * SEC), "slow consumer should be closed");
    assert!(
        s.wait_log("Slow Consumer Detected", 5 * SEC),
        "log: {}",
        s.log.lock().unwrap()
    );
}

/// Counts complete `MSG data 1 1024\r\n<1024>\r\n` frames at the front of `buf` and removes
/// them, skipping the server's keepalive PINGs between frames.
fn count_msgs(buf: &mut Vec<u8>) -> usize {
    const FRAME: usize = "MSG data 1 1024\r\n".len() + 1024 + 2;
    let mut n = 0;
    loop {
        if buf.starts_with(b"PING\r\n") {
            buf.drain(..6);
        } else if buf.len() >= FRAME {
            assert!(
                buf.starts_with(b"MSG data 1 1024\r\n"),
                "unexpected {:?}",
                String::from_utf8_lossy(&buf[..32])
            );
            buf.drain(..FRAME);
            n += 1;
        } else {
            return n;
        }
    }
}

#[test]
fn lame_duck_mode() {
    let conf = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n";
    let mut s = start_server(conf, &[]);
    let mut c1 = Conn::setup(&s);
    c1.send(b"CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c1.read_line(5 * SEC), "PONG");
    assert!(c1.read_line(5 * SEC).starts_with("INFO "));
    let mut c0 = Conn::setup(&s);
    c0.send(b"CONNECT {\"protocol\":0,\"verbose\":false}\r\n");
    c0.sync();
    s.signal(libc::SIGUSR2);
    let info = c1.read_line(5 * SEC);
    let v: serde_json::Value = serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
    assert_eq!(v["ldm"], true);
    assert!(s.wait_log(
        "Entering lame duck mode, stop accepting new clients",
        5 * SEC
    ));
    // New connections are refused.
    std::thread::sleep(Duration::from_millis(200));
    assert!(std::net::TcpStream::connect(s.addr()).is_err());
    // Protocol-0 clients get nothing, then everybody is closed.
    assert!(c0.is_closed(15 * SEC));
    assert!(!String::from_utf8_lossy(&c0.buf).contains("INFO"));
    assert!(c1.is_closed(15 * SEC));
    assert!(s.wait_log("Closing existing clients", SEC));
    assert_eq!(s.wait_exit(10 * SEC), Some(0));
    assert!(s.log.lock().unwrap().contains("Server Exiting.."));
}

#[test]
fn sigterm_shuts_down_cleanly_and_removes_ports_file() {
    let dir = std::env::temp_dir().join(format!("gannet-pid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("gannet.pid");
    let mut s = start_server(
        "",
        &[
            "-P",
            pid_file.to_str().unwrap(),
            "--ports_file_dir",
            dir.to_str().unwrap(),
        ],
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(pid, s.pid().to_string(), "pid file has no trailing newline");
    let find_ports = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))
    };
    let end = Instant::now() + 5 * SEC;
    while find_ports().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ports = std::fs::read_to_string(find_ports().expect("ports file").path()).unwrap();
    assert!(
        ports.contains(&format!("nats://127.0.0.1:{}", s.port)),
        "{ports}"
    );
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10 * SEC), Some(0));
    assert!(find_ports().is_none(), "ports file removed on shutdown");
    assert!(
        pid_file.exists(),
        "nats-server 2.15.1 leaves the pid file in place"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_changes_auth_and_limits() {
    let s = start_server(
        "authorization { user: a, password: b }\nmax_payload: 1000\n",
        &[],
    );
    let mut keep = Conn::setup(&s);
    keep.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\n");
    assert_eq!(keep.sync(), "");
    let conf = s.dir.join("gannet.conf");
    std::fs::write(
        &conf,
        "authorization { user: a, password: c }\nmax_payload: 2000\n",
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    assert!(
        s.wait_log("Reloaded server configuration", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    // The old password no longer passes: the client is closed, silently (as nats-server 2.15.1
    // does).
    assert!(keep.is_closed(5 * SEC));
    assert_eq!(String::from_utf8_lossy(&keep.buf), "");
    let mut c = Conn::connect(&s);
    assert_eq!(info_json(&mut c)["max_payload"], 2000);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"c\"}\r\n");
    assert_eq!(c.sync(), "");
    // A change that can't be reloaded is refused as a whole.
    std::fs::write(
        &conf,
        "authorization { user: a, password: d }\nmax_pending: 2000000\n",
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    assert!(
        s.wait_log("config reload not supported for", 5 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"c\"}\r\n");
    assert_eq!(c.sync(), "");
}

#[test]
fn signal_command_reaches_server() {
    let dir = std::env::temp_dir().join(format!("gannet-sig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("gannet.pid");
    let mut s = start_server("", &["-P", pid_file.to_str().unwrap()]);
    let out = util::run_to_exit(&["--signal", &format!("quit={}", pid_file.display())]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(s.wait_exit(10 * SEC), Some(0));
    let out = util::run_to_exit(&["--signal", "reload=999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such process"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn startup_errors_exit_non_zero() {
    let s = start_server("", &[]);
    let port = s.port.to_string();
    let out = util::run_to_exit(&["-a", "127.0.0.1", "-p", &port]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Error listening on port"),
        "{out:?}"
    );

    let dir = std::env::temp_dir().join(format!("gannet-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port: 4222\nbogus_key: 1\n").unwrap();
    let out = util::run_to_exit(&["-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field \"bogus_key\"") && err.contains("bad.conf:2"),
        "{err}"
    );

    std::fs::write(&conf, "port: 4222\n").unwrap();
    let out = util::run_to_exit(&["-t", "-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is valid (sha256:"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_version_help_and_unknown_flag() {
    let out = util::run_to_exit(&["--version"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("v2.15.1"),
        "{out:?}"
    );
    let out = util::run_to_exit(&["-h"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
    let out = util::run_to_exit(&["-bogus"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"),
        "{out:?}"
    );
    let out = util::run_to_exit(&["-D", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unrecognized command: \"true\""),
        "{out:?}"
    );
}

#[test]
fn log_file_and_line_format() {
    let dir = std::env::temp_dir().join(format!("gannet-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("gannet.log");
    let mut child = std::process::Command::new(util::bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "-l", log.to_str().unwrap()])
        .spawn()
        .unwrap();
    let end = Instant::now() + 10 * SEC;
    while Instant::now() < end {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Server is ready")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().unwrap();
    let prefix = format!("[{}] ", child.id());
    assert!(first.starts_with(&prefix), "{first}");
    assert!(first.contains(" [INF] "), "{first}");
    assert!(
        text.contains("Listening for client connections on 127.0.0.1:"),
        "{text}"
    );
    // SIGUSR1 reopens the log after rotation.
    std::fs::rename(&log, dir.join("gannet.log.1")).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    let end = Instant::now() + 5 * SEC;
    while Instant::now() < end && !log.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(log.exists(), "log file re-opened");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_deadline_closes_a_stalled_reader() {
    let s = start_server(
        "write_deadline: \"500ms\"\nmax_payload: 65536\n",
        &["-workers", "1"],
    );
    let mut slow = Conn::setup(&s);
    slow.send(QUIET);
    slow.send(b"SUB data 1\r\n");
    slow.sync();
    let mut publisher = Conn::setup(&s);
    publisher.send(QUIET);
    let mut batch = Vec::new();
    for _ in 0..16 {
        batch.extend_from_slice(b"PUB data 65536\r\n");
        batch.extend_from_slice(&vec![b'x'; 65536]);
        batch.extend_from_slice(b"\r\n");
    }
    // 32 MB: more than the socket buffers hold, well under max_pending (64 MB).
    for _ in 0..32 {
        publisher.send(&batch);
    }
    publisher.sync();
    assert!(
        s.wait_log("Slow Consumer Detected: WriteDeadline", 10 * SEC),
        "{}",
        s.log.lock().unwrap()
    );
    assert!(slow.is_closed(5 * SEC));
}

#[test]
fn absurd_durations_do_not_break_timers() {
    let conf = "ping_interval: \"2000000h\"\nwrite_deadline: \"2000000h\"\nauthorization { token: t, timeout: \"2000000h\" }\n";
    let s = start_server(conf, &[]);
    let mut c = Conn::setup(&s);
    c.send(b"CONNECT {\"verbose\":false,\"auth_token\":\"t\"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(c.sync(), "MSG a 1 1\r\nx\r\n");
}

/// The config lexer's errors word the terminators as nats-server does (Go's `%q`: double
/// quotes), byte for byte after `Parse error on line 1: `.
#[test]
fn config_syntax_errors_as_nats_server() {
    let dir = util::temp_dir();
    let conf = dir.join("syntax.conf");
    let cases = [
        (
            "a { b: 1 c: 2 }",
            "'Expected a map value terminator \",\" or a map terminator \"}\", but got 'c' instead.'",
        ),
        (
            "a: [1 2]",
            "'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'",
        ),
        ("a { b: , }", "'Unexpected map value terminator \",\".'"),
        ("a: [1,,2]", "'Unexpected array value terminator ','.'"),
        (
            "max_payload: 100 max_connections: 5",
            "'Expected a top-level value to end with a new line, comment or EOF, but got 'm' instead.'",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&conf, format!("{text}\n")).unwrap();
        let out = util::run_to_exit(&["-t", "-c", conf.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{text}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("Parse error on line 1: {want}")),
            "{text}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
