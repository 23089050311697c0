//! Helpers for black-box tests: start the real `gannet` binary on a random port and talk to it
//! over raw TCP, in the spirit of nats-server's `test/test.go`. `jwt` mints operator-mode
//! JWTs and creds files and connects with them; `http` serves tiny HTTP(S) account servers.

pub mod cluster;
pub mod http;
pub mod jwt;
pub mod netns;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server process, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
    pub dir: PathBuf,
}

impl Server {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log.lock().unwrap().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits for the process to exit and returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server binary under test: gannet, or another NATS server named by `GANNET_TEST_BIN`
/// (e.g. `nats-server`), so the same tests can be run against the reference implementation.
pub fn bin() -> String {
    std::env::var("GANNET_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_gannet").to_string())
}

/// Whether the tests run against gannet itself (gannet-only flags such as `-workers` apply).
pub fn is_gannet() -> bool {
    std::env::var("GANNET_TEST_BIN").is_err()
}

/// A fresh directory for one test (unique within the process: a process-wide counter).
pub fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("gannet-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the server binary with `args` until it exits (startup errors, `-t`, `--signal`,
/// `--version` …) and returns its exit status, stdout and stderr.
pub fn run_to_exit(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// Starts gannet with a config file body (may be empty) and extra flags, on a random port.
pub fn start_server(config: &str, args: &[&str]) -> Server {
    start_server_bin(&bin(), config, args)
}

/// [`start_server`] with the server binary `bin` (the cluster tests mix gannet and
/// nats-server nodes). Gannet-only flags are dropped for any binary but gannet's own.
pub fn start_server_bin(bin: &str, config: &str, args: &[&str]) -> Server {
    start_server_in(None, bin, config, args)
}

/// [`start_server_bin`] inside network namespace `netns` (`ip netns exec`, which execs the
/// server: the child's pid is the server's).
pub fn start_server_in(netns: Option<&str>, bin: &str, config: &str, args: &[&str]) -> Server {
    let own = bin == env!("CARGO_BIN_EXE_gannet");
    let dir = temp_dir();
    let mut cmd = match netns {
        None => Command::new(bin),
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, bin]);
            cmd
        }
    };
    if !config.is_empty() {
        let path = dir.join("gannet.conf");
        std::fs::write(&path, config).unwrap();
        cmd.arg("-c").arg(&path);
    }
    cmd.args(["-a", "127.0.0.1", "-p", "-1"]);
    let mut skip_value = false;
    for arg in args {
        // `-workers N` is gannet's own flag; drop it when testing another server.
        if skip_value {
            skip_value = false;
            continue;
        }
        if !own && *arg == "-workers" {
            skip_value = true;
            continue;
        }
        cmd.arg(arg);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        let mut tx = Some(tx);
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                if let Some(port) = rest
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port);
                    }
                }
            }
            if std::env::var("GANNET_TEST_ECHO_LOG").is_ok() {
                eprint!("{line}");
            }
            log2.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    let port = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(p) => p,
        Err(_) => {
            let _ = child.kill();
            panic!("{bin} did not start; log:\n{}", log.lock().unwrap());
        }
    };
    Server {
        child,
        port,
        log,
        dir,
    }
}

/// CONNECT without verbose (no +OK) and without pedantic.
pub const QUIET: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

/// Reads the INFO line and returns its JSON.
pub fn info_json(c: &mut Conn) -> serde_json::Value {
    let line = c.read_line(5 * SEC);
    serde_json::from_str(line.strip_prefix("INFO ").expect("INFO")).unwrap()
}

/// A raw protocol connection.
pub struct Conn {
    pub sock: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    pub fn connect(server: &Server) -> Conn {
        Conn::connect_addr(&server.addr())
    }

    /// Connects to `host:port` (from another thread than the server's owner).
    pub fn connect_addr(addr: &str) -> Conn {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let _ = sock.set_nodelay(true);
        Conn {
            sock,
            buf: Vec::new(),
        }
    }

    /// Connects and consumes INFO.
    pub fn setup(server: &Server) -> Conn {
        let mut c = Conn::connect(server);
        let info = c.read_line(Duration::from_secs(5));
        assert!(info.starts_with("INFO "), "expected INFO, got {info:?}");
        c
    }

    pub fn send(&mut self, data: &[u8]) {
        self.sock.write_all(data).expect("send");
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 65536];
        match self.sock.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads one line (with CRLF stripped).
    pub fn read_line(&mut self, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
            }
            if Instant::now() > end {
                panic!(
                    "timeout waiting for a line; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            if let Ok(0) = self.fill() {
                panic!(
                    "connection closed; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// Reads until exactly `want` bytes are buffered, then returns them.
    pub fn expect_bytes(&mut self, want: &[u8], timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.buf.len() < want.len() && Instant::now() < end {
            if let Ok(0) = self.fill() {
                break;
            }
        }
        let got: Vec<u8> = self.buf.drain(..want.len().min(self.buf.len())).collect();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    /// Collects whatever arrives within `wait`.
    pub fn drain_for(&mut self, wait: Duration) -> Vec<u8> {
        let end = Instant::now() + wait;
        while Instant::now() < end {
            if let Ok(0) = self.fill() {
                break;
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// What arrives within `wait` apart from the server's PINGs (its first one comes about
    /// 2 s after CONNECT, within a slow test on a loaded machine), as text.
    pub fn drain_except_pings(&mut self, wait: Duration) -> String {
        String::from_utf8_lossy(&self.drain_for(wait)).replace("PING\r\n", "")
    }

    /// True if the server closed the connection within `timeout` (bytes before EOF are kept).
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            match self.fill() {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Sends PING and waits for PONG, returning everything received before it.
    pub fn sync(&mut self) -> String {
        self.send(b"PING\r\n");
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pos) = find(&self.buf, b"PONG\r\n") {
                let before: Vec<u8> = self.buf.drain(..pos + 6).collect();
                return String::from_utf8_lossy(&before[..pos]).to_string();
            }
            assert!(
                Instant::now() < end,
                "no PONG; have {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            if let Ok(0) = self.fill() {
                panic!("closed; have {:?}", String::from_utf8_lossy(&self.buf));
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub const SEC: Duration = Duration::from_secs(1);
