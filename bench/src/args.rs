//! Command-line options of `gannet-bench`: a hand-written flag table (ripgrep style, without
//! a parser crate) turned into a [`Config`]. Called by `main` only; kept apart from the
//! scenarios so that the parsing is unit-tested without a server.

use crate::client::Credentials;
use std::fmt;
use std::time::Duration;

/// Wall-clock limit of one scenario unless `--limit-secs` says otherwise.
pub const LIMIT_DEFAULT: Duration = Duration::from_secs(60);
/// Upper bound of `--limit-secs`: a run always ends within the hour.
pub const LIMIT_MAX: Duration = Duration::from_secs(3600);
/// Message cap of a run given only a duration, so that every run is bounded in count too.
pub const DURATION_MSGS_CAP: u64 = 1_000_000_000;
/// Largest payload the tool sends (nats-server's default `max_payload` is 1 MiB).
pub const SIZE_MAX: usize = 1 << 20;
/// Bound on publishers and subscription connections: one thread each.
pub const THREADS_MAX: usize = 256;
/// Bound on fan-out and queue subscribers: one thread each, and every message is delivered
/// to each of them.
pub const SUBSCRIBERS_MAX: usize = 1024;
/// Bound on `--conns` (connection scale and churn).
pub const CONNS_MAX: usize = 1_000_000;
/// Bound on `--subscriptions` for the subscription-scale scenario.
pub const SUBS_MAX: usize = 10_000_000;

/// One load pattern. See `docs/PERFORMANCE.md` for what each one measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Publishers only, no subscribers.
    Pub,
    /// One publisher, one subscriber.
    PubSub,
    /// One publisher, N subscribers on one subject.
    Fanout,
    /// One publisher, N members of one queue group.
    Queue,
    /// Sequential request/reply round trips.
    ReqClosed,
    /// Requests at a fixed rate, latency measured from the intended send time.
    ReqOpen,
    /// N idle connections held open: server RSS per connection.
    Conns,
    /// Connect, CONNECT, PING/PONG, close, repeated.
    Churn,
    /// Many subscriptions with wildcards: RSS per sub, SUB rate, then publish throughput.
    Subs,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 9] = [
        Scenario::Pub,
        Scenario::PubSub,
        Scenario::Fanout,
        Scenario::Queue,
        Scenario::ReqClosed,
        Scenario::ReqOpen,
        Scenario::Conns,
        Scenario::Churn,
        Scenario::Subs,
    ];

    /// The name used on the command line and in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::PubSub => "pubsub",
            Scenario::Fanout => "fanout",
            Scenario::Queue => "queue",
            Scenario::ReqClosed => "req",
            Scenario::ReqOpen => "req-open",
            Scenario::Conns => "conns",
            Scenario::Churn => "churn",
            Scenario::Subs => "subs",
        }
    }

    /// Whether the scenario has a subscribing side (subscribers, queue members or a responder)
    /// that `--sub-url` can put on another server.
    pub fn takes_sub_url(self) -> bool {
        matches!(
            self,
            Scenario::PubSub
                | Scenario::Fanout
                | Scenario::Queue
                | Scenario::ReqClosed
                | Scenario::ReqOpen
        )
    }

    /// Parses a scenario name (`req-closed` is accepted for `req`).
    pub fn from_name(s: &str) -> Option<Scenario> {
        if s == "req-closed" {
            return Some(Scenario::ReqClosed);
        }
        Scenario::ALL.into_iter().find(|sc| sc.name() == s)
    }
}

/// Everything a run needs, validated. Options a scenario does not use are ignored by it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Scenarios to run, in order.
    pub scenarios: Vec<Scenario>,
    /// `host:port` of the server (a `nats://` prefix is stripped).
    pub addr: String,
    /// `host:port` the subscribing side (subscribers, queue members, the responder) connects
    /// to instead of `addr` (`--sub-url`): another node of a cluster.
    pub sub_addr: Option<String>,
    /// What joins the two servers of a cross-server run, for the report's case names
    /// (`--topology`): `cluster` (a route, the default) or `leaf` (a leaf node connection).
    pub topology: Option<String>,
    /// Message (or request, or connection) count; each scenario has its default.
    pub msgs: Option<u64>,
    /// Publish for this long instead of a fixed count (capped at [`DURATION_MSGS_CAP`]).
    pub duration: Option<Duration>,
    /// Payload size in bytes; each scenario has its default.
    pub size: Option<usize>,
    /// Publisher connections (`pub`, `pubsub`).
    pub pubs: usize,
    /// Subscribers of `fanout` and `queue`.
    pub subs: Option<usize>,
    /// Subscriptions of `subs`.
    pub subscriptions: Option<usize>,
    /// Connections carrying the subscriptions of `subs`.
    pub sub_conns: usize,
    /// Connections to hold open (`conns`) or to open and close (`churn`).
    pub conns: Option<usize>,
    /// Requests per second of `req-open`.
    pub rate: Option<u64>,
    /// Messages a publisher may have in flight ahead of the slowest subscriber.
    pub window: Option<u64>,
    /// Credentials sent in CONNECT.
    pub creds: Credentials,
    /// Server process whose VmRSS is read from `/proc/<pid>/status`.
    pub server_pid: Option<u32>,
    /// Wall-clock limit of each scenario.
    pub limit: Duration,
    /// Print one JSON line per scenario instead of the table.
    pub json: bool,
    /// Free-form label copied into the JSON (`compare.sh` puts the server name there).
    pub label: Option<String>,
    /// Allow the progress bar (it also needs stderr to be a terminal).
    pub progress: bool,
}

impl Config {
    /// Where the subscribing side connects: `--sub-url`, else the server of `--url`.
    pub fn sub_addr(&self) -> &str {
        self.sub_addr.as_deref().unwrap_or(&self.addr)
    }

    /// Whether the subscribing side is on another server than the publishers, so that every
    /// message crosses a route. Addresses are compared as written.
    pub fn cross_server(&self) -> bool {
        self.sub_addr() != self.addr
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            scenarios: Vec::new(),
            addr: "127.0.0.1:4222".to_string(),
            sub_addr: None,
            topology: None,
            msgs: None,
            duration: None,
            size: None,
            pubs: 1,
            subs: None,
            subscriptions: None,
            sub_conns: 4,
            conns: None,
            rate: None,
            window: None,
            creds: Credentials::default(),
            server_pid: None,
            limit: LIMIT_DEFAULT,
            json: false,
            label: None,
            progress: true,
        }
    }
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `-h`/`--help`, or no scenario: print the usage and exit 2.
    Help,
    /// A bad option or value, with the reason.
    Bad(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str("help requested"),
            ArgsError::Bad(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ArgsError {}

/// The usage text printed for `--help` and after a bad option.
pub const USAGE: &str = "\
usage: gannet-bench <scenario>... [options]

scenarios: pub pubsub fanout queue req req-open conns churn subs all

options:
  --url HOST:PORT       server address (nats://HOST:PORT accepted) [127.0.0.1:4222]
  --sub-url HOST:PORT   subscribers, queue members and the responder connect here, the
                        publishers and the requester to --url: two nodes of a cluster
                        (pubsub fanout queue req req-open) [--url]
  --topology NAME       what joins the --url and --sub-url servers, named in the report:
                        cluster, leaf or gateway [cluster]
  --msgs N              messages, requests or connections (k/M/G suffixes: 10k, 1M)
  --duration-secs S     publish for S seconds instead of a fixed count
  --size BYTES          payload size (suffixes: 16, 1K, 16KiB) [16; req*: 128]
  --pubs N              publisher connections for pub and pubsub [1]
  --subs N              subscribers of fanout [16] and queue [4]
  --subscriptions N     subscriptions of the subs scenario [100k]
  --sub-conns N         connections carrying those subscriptions [4]
  --conns N             conns: connections held open [1000]; churn: connections [2000]
  --rate N              req-open: requests per second [5000]
  --window N            messages in flight ahead of the slowest subscriber [8 MiB worth]
  --user U --pass P     credentials sent in CONNECT
  --token T             token sent in CONNECT (auth_token)
  --server-pid PID      server process for RSS readings (/proc/PID/status VmRSS)
  --limit-secs S        wall-clock limit of each scenario [60]
  --label TEXT          copied into the JSON report
  --json                one JSON line per scenario instead of the table
  --no-progress         never draw the progress bar";

/// Parses the arguments that follow the program name.
///
/// # Errors
/// [`ArgsError::Help`] for `--help` or a missing scenario, [`ArgsError::Bad`] otherwise.
pub fn parse<I, S>(args: I) -> Result<Config, ArgsError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut cfg = Config::default();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        // `--name=value` is accepted as well as `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if !name.starts_with('-') {
            parse_scenario(&mut cfg, &name)?;
            continue;
        }
        if let Some(done) = parse_switch(&mut cfg, &name) {
            if inline.is_some() {
                return Err(bad(format!("{name} takes no value")));
            }
            done?;
            continue;
        }
        if !VALUE_OPTIONS.contains(&name.as_str()) {
            return Err(bad(format!("unknown option {name:?}")));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| bad(format!("{name} needs a value")))?,
        };
        parse_option(&mut cfg, &name, &value)?;
    }
    validate(&cfg)?;
    Ok(cfg)
}

/// Options that take a value (the flag table that [`parse_option`] implements).
const VALUE_OPTIONS: &[&str] = &[
    "--url",
    "-s",
    "--server",
    "--sub-url",
    "--topology",
    "--msgs",
    "-n",
    "--duration-secs",
    "--size",
    "--pubs",
    "--subs",
    "--subscriptions",
    "--sub-conns",
    "--conns",
    "--rate",
    "--window",
    "--user",
    "--pass",
    "--password",
    "--token",
    "--server-pid",
    "--limit-secs",
    "--label",
];

fn bad(msg: String) -> ArgsError {
    ArgsError::Bad(msg)
}

fn parse_scenario(cfg: &mut Config, name: &str) -> Result<(), ArgsError> {
    if name == "all" {
        cfg.scenarios.extend(Scenario::ALL);
        return Ok(());
    }
    let sc = Scenario::from_name(name).ok_or_else(|| bad(format!("unknown scenario {name:?}")))?;
    cfg.scenarios.push(sc);
    Ok(())
}

/// Options without a value; `None` when `name` is not one of them.
fn parse_switch(cfg: &mut Config, name: &str) -> Option<Result<(), ArgsError>> {
    match name {
        "--json" => cfg.json = true,
        "--no-progress" => cfg.progress = false,
        "-h" | "--help" => return Some(Err(ArgsError::Help)),
        _ => return None,
    }
    Some(Ok(()))
}

fn parse_option(cfg: &mut Config, name: &str, value: &str) -> Result<(), ArgsError> {
    let ctx = |e: String| bad(format!("{name}: {e}"));
    match name {
        "--url" | "-s" | "--server" => cfg.addr = parse_url(value).map_err(ctx)?,
        "--sub-url" => cfg.sub_addr = Some(parse_url(value).map_err(ctx)?),
        "--topology" => match value {
            "cluster" | "leaf" | "gateway" => cfg.topology = Some(value.to_string()),
            other => {
                return Err(ctx(format!(
                    "unknown topology {other:?} (cluster, leaf, gateway)"
                )))
            }
        },
        "--msgs" | "-n" => cfg.msgs = Some(parse_count(value).map_err(ctx)?),
        "--duration-secs" => cfg.duration = Some(parse_secs(value).map_err(ctx)?),
        "--size" => cfg.size = Some(parse_size(value).map_err(ctx)? as usize),
        "--pubs" => cfg.pubs = parse_count(value).map_err(ctx)? as usize,
        "--subs" => cfg.subs = Some(parse_count(value).map_err(ctx)? as usize),
        "--subscriptions" => {
            cfg.subscriptions = Some(parse_count(value).map_err(ctx)? as usize);
        }
        "--sub-conns" => cfg.sub_conns = parse_count(value).map_err(ctx)? as usize,
        "--conns" => cfg.conns = Some(parse_count(value).map_err(ctx)? as usize),
        "--rate" => cfg.rate = Some(parse_count(value).map_err(ctx)?),
        "--window" => cfg.window = Some(parse_count(value).map_err(ctx)?),
        "--user" => cfg.creds.user = Some(value.to_string()),
        "--pass" | "--password" => cfg.creds.pass = Some(value.to_string()),
        "--token" => cfg.creds.token = Some(value.to_string()),
        "--server-pid" => {
            let pid = value.parse::<u32>().map_err(|e| ctx(e.to_string()))?;
            cfg.server_pid = Some(pid);
        }
        "--limit-secs" => cfg.limit = parse_secs(value).map_err(ctx)?,
        "--label" => cfg.label = Some(value.to_string()),
        _ => unreachable!("{name} is in VALUE_OPTIONS but has no arm"),
    }
    Ok(())
}

fn validate(cfg: &Config) -> Result<(), ArgsError> {
    if cfg.scenarios.is_empty() {
        return Err(ArgsError::Help);
    }
    let in_range = |what: &str, v: usize, lo: usize, hi: usize| {
        if v < lo || v > hi {
            Err(bad(format!("{what} must be within {lo}..={hi}, got {v}")))
        } else {
            Ok(())
        }
    };
    in_range("--pubs", cfg.pubs, 1, THREADS_MAX)?;
    in_range("--sub-conns", cfg.sub_conns, 1, THREADS_MAX)?;
    if let Some(size) = cfg.size {
        in_range("--size", size, 0, SIZE_MAX)?;
    }
    if let Some(subs) = cfg.subs {
        in_range("--subs", subs, 1, SUBSCRIBERS_MAX)?;
    }
    if let Some(n) = cfg.subscriptions {
        in_range("--subscriptions", n, 1, SUBS_MAX)?;
    }
    if let Some(conns) = cfg.conns {
        in_range("--conns", conns, 1, CONNS_MAX)?;
    }
    if cfg.msgs == Some(0) {
        return Err(bad("--msgs must be at least 1".into()));
    }
    if matches!(cfg.rate, Some(0)) || matches!(cfg.window, Some(0)) {
        return Err(bad("--rate and --window must be at least 1".into()));
    }
    if cfg.limit.is_zero() || cfg.limit > LIMIT_MAX {
        return Err(bad(format!(
            "--limit-secs must be within 0..={}",
            LIMIT_MAX.as_secs()
        )));
    }
    if let Some(d) = cfg.duration {
        if d.is_zero() || d >= cfg.limit {
            return Err(bad(
                "--duration-secs must be above 0 and below --limit-secs".into(),
            ));
        }
    }
    if cfg.creds.pass.is_some() && cfg.creds.user.is_none() {
        return Err(bad("--pass needs --user".into()));
    }
    // Quietly measuring one server when two were meant would pass for a cluster result.
    if cfg.sub_addr.is_some() && !cfg.scenarios.iter().any(|sc| sc.takes_sub_url()) {
        return Err(bad(
            "--sub-url applies only to pubsub, fanout, queue, req and req-open".into(),
        ));
    }
    Ok(())
}

/// Strips an optional `nats://` scheme and checks that a port is present.
///
/// # Errors
/// A message when the address has no `:port`.
pub fn parse_url(s: &str) -> Result<String, String> {
    let rest = s.strip_prefix("nats://").unwrap_or(s);
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(rest.to_string())
        }
        _ => Err(format!("expected HOST:PORT, got {s:?}")),
    }
}

/// A count with an optional decimal suffix: `k` (10^3), `M` (10^6), `G` (10^9); `_` separators
/// are allowed (`100_000`).
///
/// # Errors
/// A message for an empty, malformed or overflowing count.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let (digits, mult) = split_suffix(
        s,
        &[
            ("k", 1_000),
            ("K", 1_000),
            ("M", 1_000_000),
            ("G", 1_000_000_000),
        ],
    );
    scale(digits, mult).ok_or_else(|| format!("expected a count like 500, 10k or 1M, got {s:?}"))
}

/// A byte size with an optional binary suffix: `K`/`KiB`/`k` (1024), `M`/`MiB` (1024^2), or a
/// plain `B`.
///
/// # Errors
/// A message for an empty, malformed or overflowing size.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, mult) = split_suffix(
        s,
        &[
            ("KiB", 1 << 10),
            ("MiB", 1 << 20),
            ("KB", 1 << 10),
            ("MB", 1 << 20),
            ("K", 1 << 10),
            ("k", 1 << 10),
            ("M", 1 << 20),
            ("B", 1),
        ],
    );
    scale(digits, mult).ok_or_else(|| format!("expected a size like 16, 1K or 16KiB, got {s:?}"))
}

/// Seconds, possibly fractional (`0.5`).
///
/// # Errors
/// A message for anything that is not a finite, non-negative number below a day.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..86_400.0).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("expected seconds like 5 or 0.5, got {s:?}")),
    }
}

fn split_suffix<'a>(s: &'a str, table: &[(&str, u64)]) -> (&'a str, u64) {
    for (suffix, mult) in table {
        if let Some(digits) = s.strip_suffix(suffix) {
            return (digits, *mult);
        }
    }
    (s, 1)
}

fn scale(digits: &str, mult: u64) -> Option<u64> {
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(args: &[&str]) -> Config {
        parse(args.iter().copied()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(ArgsError::Bad(s)) => s,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn counts() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("500", Some(500)),
            ("10k", Some(10_000)),
            ("10K", Some(10_000)),
            ("2M", Some(2_000_000)),
            ("1G", Some(1_000_000_000)),
            ("100_000", Some(100_000)),
            ("", None),
            ("k", None),
            ("1.5M", None),
            ("-1", None),
            ("12x", None),
            ("99999999999999999999", None),
            ("18446744073709551615k", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_count(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("16", Some(16)),
            ("16B", Some(16)),
            ("1K", Some(1024)),
            ("1k", Some(1024)),
            ("16KiB", Some(16384)),
            ("4KB", Some(4096)),
            ("1MiB", Some(1 << 20)),
            ("1M", Some(1 << 20)),
            ("KiB", None),
            ("1.5K", None),
            ("one", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn urls_and_seconds() {
        assert_eq!(
            parse_url("nats://127.0.0.1:4222").unwrap(),
            "127.0.0.1:4222"
        );
        assert_eq!(parse_url("localhost:1/").unwrap(), "localhost:1");
        assert!(parse_url("127.0.0.1").is_err());
        assert!(parse_url(":4222").is_err());
        assert!(parse_url("host:99999").is_err());
        assert_eq!(parse_secs("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("inf").is_err());
    }

    #[test]
    fn defaults() {
        let cfg = ok(&["pubsub"]);
        assert_eq!(cfg.scenarios, vec![Scenario::PubSub]);
        assert_eq!(cfg.addr, "127.0.0.1:4222");
        assert_eq!(cfg.limit, LIMIT_DEFAULT);
        assert_eq!((cfg.msgs, cfg.size, cfg.pubs), (None, None, 1));
        assert!(!cfg.json && cfg.progress);
        assert_eq!(
            (cfg.sub_addr.as_deref(), cfg.sub_addr()),
            (None, "127.0.0.1:4222")
        );
        assert!(!cfg.cross_server());
    }

    #[test]
    fn sub_url_splits_the_sides() {
        let cfg = ok(&[
            "pubsub",
            "--url",
            "127.0.0.1:4222",
            "--sub-url",
            "nats://127.0.0.1:5222/",
        ]);
        assert_eq!(cfg.addr, "127.0.0.1:4222");
        assert_eq!(cfg.sub_addr.as_deref(), Some("127.0.0.1:5222"));
        assert_eq!(cfg.sub_addr(), "127.0.0.1:5222");
        assert!(cfg.cross_server());

        // Given before --url, and the same server: not a cross-server run.
        let same = ok(&["req", "--sub-url=h:1", "-s", "nats://h:1"]);
        assert_eq!((same.sub_addr(), same.addr.as_str()), ("h:1", "h:1"));
        assert!(!same.cross_server());

        // Scenarios without a subscribing side ignore it when another has one.
        assert!(ok(&["all", "--sub-url", "h:2"]).cross_server());
        for sc in Scenario::ALL {
            let takes = matches!(
                sc.name(),
                "pubsub" | "fanout" | "queue" | "req" | "req-open"
            );
            assert_eq!(sc.takes_sub_url(), takes, "{}", sc.name());
        }
    }

    #[test]
    fn every_option() {
        let cfg = ok(&[
            "fanout",
            "req-closed",
            "--url",
            "nats://10.0.0.1:4333",
            "--sub-url",
            "10.0.0.2:4333",
            "--msgs=2M",
            "--duration-secs",
            "2.5",
            "--size",
            "16KiB",
            "--pubs",
            "2",
            "--subs",
            "16",
            "--subscriptions",
            "200k",
            "--sub-conns",
            "3",
            "--conns",
            "10k",
            "--rate",
            "5k",
            "--window",
            "1000",
            "--user",
            "u",
            "--pass",
            "p",
            "--token",
            "t",
            "--server-pid",
            "1234",
            "--limit-secs",
            "30",
            "--label",
            "gannet",
            "--json",
            "--no-progress",
        ]);
        assert_eq!(cfg.scenarios, vec![Scenario::Fanout, Scenario::ReqClosed]);
        assert_eq!(cfg.addr, "10.0.0.1:4333");
        assert_eq!(cfg.sub_addr.as_deref(), Some("10.0.0.2:4333"));
        assert_eq!(cfg.msgs, Some(2_000_000));
        assert_eq!(cfg.duration, Some(Duration::from_millis(2500)));
        assert_eq!(cfg.size, Some(16384));
        assert_eq!((cfg.pubs, cfg.subs, cfg.sub_conns), (2, Some(16), 3));
        assert_eq!(cfg.subscriptions, Some(200_000));
        assert_eq!(
            (cfg.conns, cfg.rate, cfg.window),
            (Some(10_000), Some(5000), Some(1000))
        );
        assert_eq!(cfg.creds.user.as_deref(), Some("u"));
        assert_eq!(cfg.creds.pass.as_deref(), Some("p"));
        assert_eq!(cfg.creds.token.as_deref(), Some("t"));
        assert_eq!(cfg.server_pid, Some(1234));
        assert_eq!(cfg.limit, Duration::from_secs(30));
        assert_eq!(cfg.label.as_deref(), Some("gannet"));
        assert!(cfg.json && !cfg.progress);
    }

    #[test]
    fn every_value_option_has_an_arm() {
        for name in VALUE_OPTIONS {
            let mut cfg = Config::default();
            // The value may be refused; what matters is that no listed option is unhandled.
            let _ = parse_option(&mut cfg, name, "1");
        }
    }

    #[test]
    fn all_expands_in_order() {
        assert_eq!(ok(&["all"]).scenarios, Scenario::ALL.to_vec());
        for sc in Scenario::ALL {
            assert_eq!(Scenario::from_name(sc.name()), Some(sc));
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(Vec::<String>::new()), Err(ArgsError::Help));
        assert_eq!(parse(["pub", "--help"]), Err(ArgsError::Help));
        let cases: &[(&[&str], &str)] = &[
            (&["bogus"], "unknown scenario"),
            (&["pub", "--frobnicate"], "unknown option"),
            (&["pub", "--msgs"], "needs a value"),
            (&["pub", "--msgs", "0"], "at least 1"),
            (&["pub", "--json=1"], "takes no value"),
            (&["pub", "--pubs", "0"], "--pubs must be within"),
            (&["fanout", "--subs", "10k"], "--subs must be within"),
            (
                &["subs", "--subscriptions", "20M"],
                "--subscriptions must be within",
            ),
            (&["pub", "--size", "2MiB"], "--size must be within"),
            (&["pub", "--limit-secs", "0"], "--limit-secs"),
            (&["pub", "--limit-secs", "7200"], "--limit-secs"),
            (&["pub", "--duration-secs", "90"], "below --limit-secs"),
            (&["pub", "--pass", "p"], "--pass needs --user"),
            (&["pub", "--server-pid", "x"], "--server-pid"),
            (&["pub", "--url", "nohost"], "HOST:PORT"),
            (
                &["pubsub", "--sub-url", "nohost"],
                "--sub-url: expected HOST:PORT",
            ),
            (&["pubsub", "--sub-url"], "--sub-url needs a value"),
            (
                &["pub", "conns", "--sub-url", "h:1"],
                "--sub-url applies only to",
            ),
        ];
        for (args, want) in cases {
            let got = err(args);
            assert!(
                got.contains(want),
                "{args:?}: {got:?} should contain {want:?}"
            );
        }
    }
}
