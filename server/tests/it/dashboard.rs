//! The live dashboard on the monitoring port (issue 17), end to end in headless Chromium
//! (`server/tests/ws/dashboard_check.mjs`, driven step by step from here): clients appear in
//! it, the message rate moves when they publish, and a killed client's DISCONNECT shows up
//! (from the live `$SYS` stream over the WebSocket port). The run saves a screenshot and
//! fails on any console error. Gannet's own page: skipped against another server.

use crate::util::cluster::free_port;
use crate::util::{is_gannet, start_server, Conn, SEC};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// A client of account A named `name`.
fn named_client(addr: &str, name: &str) -> Conn {
    let mut c = Conn::connect_addr(addr);
    let _ = c.read_line(5 * SEC);
    let connect = serde_json::json!({"verbose": false, "user": "a", "pass": "a", "name": name});
    c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
    assert_eq!(c.read_line(5 * SEC), "PONG");
    c
}

#[test]
fn dashboard_in_chromium() {
    if !is_gannet() {
        eprintln!("skipping: the dashboard is gannet's own");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ws");
    let ready = dir.join("node_modules/playwright-core").is_dir()
        && std::path::Path::new("/usr/bin/chromium").exists();
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "the dashboard test needs `npm ci` in server/tests/ws and chromium"
        );
        eprintln!("skipping: no npm harness or chromium");
        return;
    }
    let (ws, http) = (free_port(), free_port());
    let conf = format!(
        "accounts {{\n  SYS {{ users: [ {{user: sys, password: sys}} ] }}\n  A {{ users: [ {{user: a, password: a}} ] }}\n}}\nsystem_account: SYS\nwebsocket {{ host: 127.0.0.1, port: {ws}, no_tls: true }}\n"
    );
    let s = start_server(&conf, &["-m", &http.to_string()]);
    assert!(s.wait_log("Starting http monitor on", 5 * SEC));
    let addr = s.addr();
    let names = ["dash-pub", "dash-sub", "dash-doomed"];
    let mut publisher = named_client(&addr, names[0]);
    let mut subscriber = named_client(&addr, names[1]);
    subscriber.send(b"SUB dash.rate 1\r\n");
    subscriber.sync();
    let doomed = named_client(&addr, names[2]);

    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&out_dir).unwrap();
    let shot = out_dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("http://127.0.0.1:{http}/dashboard?sys_user=sys&sys_pass=sys");
    let mut node = Command::new("node")
        .arg("dashboard_check.mjs")
        .arg(&url)
        .arg(&shot)
        .arg(names.join(","))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let mut stdin = node.stdin.take().expect("stdin");
    let stdout = node.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let step = |want: &str| {
        let v = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no '{want}' step from the page"));
        assert_eq!(v["step"], want, "{v}");
        v
    };

    step("clients");
    // Publish until the page has seen the rate move.
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let pump = std::thread::spawn(move || {
        for _ in 0..3000 {
            if stop2.load(Ordering::Acquire) {
                break;
            }
            publisher.send(b"PUB dash.rate 5\r\nhello\r\n");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    writeln!(stdin, "published").unwrap();
    let rates = step("rates");
    assert!(rates["in"].as_f64().unwrap_or(0.0) > 0.0, "{rates}");
    stop.store(true, Ordering::Release);
    pump.join().unwrap();
    let _ = subscriber.drain_for(Duration::from_millis(50));

    drop(doomed);
    writeln!(stdin, "killed {}", names[2]).unwrap();
    let event = step("disconnect");
    assert!(
        event["event"].as_str().unwrap_or("").contains(names[2]),
        "{event}"
    );

    let verdict = rx.recv_timeout(Duration::from_secs(60)).expect("verdict");
    let _ = node.wait();
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["events_source"], "(live $SYS)", "{verdict}");
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    eprintln!("dashboard: screenshot at {}", shot.display());
}
