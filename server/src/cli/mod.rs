//! Command-line parsing compatible with nats-server's flags.
//!
//! nats-server uses Go's `flag` package, whose rules no Rust crate follows:
//! one or two dashes (`-port` = `--port`), multi-letter single-dash flags
//! (`-DV`, `-ms 8222`), booleans that only take a value after `=`
//! (`-D=false`), and parsing that stops at the first positional argument.
//! [`parse`] implements those rules for the flag table of nats-server
//! (`main.go`, `server/opts.go` `ConfigureOptions`) plus Gannet's `-workers`.
//!
//! `main` calls [`parse`], handles the actions (`show_version`, `show_help`,
//! `signal`, …) and hands the [`Flags`] to [`crate::opts::load`], where flags
//! override the config file.
//!
//! # The flag table
//!
//! Every flag is one `FlagDef` entry of the `FLAGS` table: the names it is
//! spelled with (all the names that share one variable in nats-server, such
//! as `p` and `port`) and a `Setter`, whose variant is the kind of value the
//! flag takes (`Bool`, `Int` or `Str`) and whose function stores that value
//! in its [`Flags`] field. [`parse`] looks a name up in the table, reads the
//! value the way Go's `flag` package reads that kind, and calls the setter.
//! Adding a flag is adding one entry (and a line in `usage.txt`; a unit test
//! checks that every name is listed there and that no name is in the table
//! twice). Most entries are written with the `flag!` macro, which makes the
//! setter that puts the value, wrapped in `Some`, into the named field.
//!
//! ```
//! let args: Vec<String> = ["-p", "4333", "-DV", "--config=nats.conf"].map(String::from).to_vec();
//! let flags = gannet::cli::parse(&args).unwrap();
//! assert_eq!(flags.port, Some(4333));
//! assert_eq!(flags.debug_and_trace, Some(true));
//! assert_eq!(flags.config_file.as_deref(), Some("nats.conf"));
//! ```

use crate::gofmt::{go_quote, parse_go_bool, parse_go_int};
use std::fmt;

/// The command-line flags. `None` (or `false` for the actions) means the flag
/// was not given, so the config file value or the default stays in force.
///
/// Several flags share a field, as they share a variable in nats-server
/// (`-p`/`--port`); the last one on the command line wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-h`, `--help`, or the command `help`: print [`usage`] and exit 0.
    pub show_help: bool,
    /// `-v`, `--version`, or the command `version`: print the version and
    /// exit 0.
    pub show_version: bool,
    /// `--help_tls`: print TLS help and exit 0.
    pub show_tls_help: bool,
    /// `-t`: check the config file and exit.
    pub check_config: bool,
    /// `-sl`, `--signal`: signal a running server and exit.
    pub signal: Option<SignalArg>,
    /// `-c`, `--config`.
    pub config_file: Option<String>,

    /// `-a`, `--addr`, `--net`: client bind host.
    pub host: Option<String>,
    /// `-p`, `--port`: client port (`-1` for a random port).
    pub port: Option<i64>,
    /// `-n`, `--name`, `--server_name`.
    pub server_name: Option<String>,
    /// `-P`, `--pid`: PID file.
    pub pid_file: Option<String>,
    /// `-m`, `--http_port`: monitoring port.
    pub http_port: Option<i64>,
    /// `-ms`, `--https_port`: monitoring TLS port.
    pub https_port: Option<i64>,
    /// `--client_advertise`.
    pub client_advertise: Option<String>,
    /// `--ports_file_dir`.
    pub ports_file_dir: Option<String>,
    /// `-workers`, `--workers`: number of worker threads (Gannet only).
    pub workers: Option<usize>,

    /// `-l`, `--log`: log file.
    pub log_file: Option<String>,
    /// `-T`, `--logtime`: timestamps in log lines.
    pub logtime: Option<bool>,
    /// `--logtime_utc`.
    pub logtime_utc: Option<bool>,
    /// `-s`, `--syslog`.
    pub syslog: Option<bool>,
    /// `-r`, `--remote_syslog`.
    pub remote_syslog: Option<String>,
    /// `-D`, `--debug`.
    pub debug: Option<bool>,
    /// `-V`, `--trace`.
    pub trace: Option<bool>,
    /// `-VV`: trace and verbose trace.
    pub trace_and_verbose: Option<bool>,
    /// `-DV`: debug and trace.
    pub debug_and_trace: Option<bool>,
    /// `-DVV`: debug, trace and verbose trace.
    pub debug_and_trace_verbose: Option<bool>,
    /// `--log_size_limit`.
    pub log_size_limit: Option<i64>,
    /// `--max_traced_msg_len`.
    pub max_traced_msg_len: Option<i64>,

    /// `-js`, `--jetstream`.
    pub jetstream: Option<bool>,
    /// `-sd`, `--store_dir`.
    pub store_dir: Option<String>,

    /// `--user`.
    pub user: Option<String>,
    /// `--pass`.
    pub pass: Option<String>,
    /// `--auth`: token.
    pub auth: Option<String>,

    /// `--tls`.
    pub tls: Option<bool>,
    /// `--tlscert`.
    pub tls_cert: Option<String>,
    /// `--tlskey`.
    pub tls_key: Option<String>,
    /// `--tlsverify`.
    pub tls_verify: Option<bool>,
    /// `--tlscacert`.
    pub tls_ca_cert: Option<String>,

    /// `--routes`: comma-separated route URLs.
    pub routes: Option<String>,
    /// `--cluster`, `--cluster_listen`.
    pub cluster_listen: Option<String>,
    /// `--cluster_name`.
    pub cluster_name: Option<String>,
    /// `--cluster_advertise`.
    pub cluster_advertise: Option<String>,
    /// `--no_advertise`.
    pub no_advertise: Option<bool>,
    /// `--connect_retries`.
    pub connect_retries: Option<i64>,

    /// `--profile`: profiling port.
    pub profile: Option<i64>,

    /// Arguments left after the flags.
    pub args: Vec<String>,
}

/// The argument of `--signal cmd[=pid]`.
///
/// The command is not checked here: nats-server resolves the PID first and
/// only then complains about an unknown command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalArg {
    /// `ldm`, `stop`, `quit`, `term`, `reopen` or `reload` (unchecked).
    pub command: String,
    /// What followed `=`: a PID, a PID file path, or a `prefix*` pattern.
    pub pid: Option<String>,
}

impl SignalArg {
    /// Splits `cmd[=pid]`.
    ///
    /// # Errors
    ///
    /// More than one `=` gives nats-server's
    /// `invalid signal parameters: [a b]`.
    pub fn parse(text: &str) -> Result<SignalArg, String> {
        let parts: Vec<&str> = text.split('=').collect();
        match parts.as_slice() {
            [command] => Ok(SignalArg {
                command: command.to_string(),
                pid: None,
            }),
            [command, pid] => Ok(SignalArg {
                command: command.to_string(),
                pid: Some(pid.to_string()),
            }),
            [_, _, rest @ ..] => Err(format!("invalid signal parameters: [{}]", rest.join(" "))),
            [] => Err("invalid signal parameters: []".to_string()),
        }
    }
}

/// Why the command line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// A bad flag, such as `flag provided but not defined: -bogus`.
    /// nats-server prints this line to stderr, then the usage to stdout, and
    /// exits with status **0**.
    Usage(String),
    /// A bad argument after the flags (`unrecognized command: "true"`) or a
    /// bad `--signal` value. nats-server prints `nats-server: <message>` and
    /// exits with status 1.
    Fatal(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Fatal(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

/// Where a flag's value goes, by the kind of value the flag takes.
#[derive(Clone, Copy)]
enum Setter {
    /// No separate value: the flag alone is `true`, and `-name=value` is
    /// read with Go's `strconv.ParseBool`.
    Bool(fn(&mut Flags, bool)),
    /// An integer, after `=` or as the next argument, read with Go's
    /// `strconv.ParseInt(s, 0, 64)`. The setter may still reject it; its
    /// error is the reason printed after `invalid value "…" for flag -name: `.
    Int(fn(&mut Flags, i64) -> Result<(), &'static str>),
    /// A string, after `=` or as the next argument.
    Str(fn(&mut Flags, &str) -> Result<(), CliError>),
}

/// One flag: every name it is spelled with, and where its value goes.
struct FlagDef {
    /// The names without dashes; each takes one or two dashes.
    names: &'static [&'static str],
    /// The kind of value and the function that stores it.
    set: Setter,
}

/// A [`FlagDef`] entry: `flag!(["p", "port"] => Int port)` stores
/// `Some(value)` into `Flags::port`; `flag!([names] => setter)` uses the
/// given [`Setter`].
macro_rules! flag {
    ([$($name:literal),+] => Bool $field:ident) => {
        FlagDef {
            names: &[$($name),+],
            set: Setter::Bool(|flags, on| flags.$field = Some(on)),
        }
    };
    ([$($name:literal),+] => Int $field:ident) => {
        FlagDef {
            names: &[$($name),+],
            set: Setter::Int(|flags, number| {
                flags.$field = Some(number);
                Ok(())
            }),
        }
    };
    ([$($name:literal),+] => Str $field:ident) => {
        FlagDef {
            names: &[$($name),+],
            set: Setter::Str(|flags, text| {
                flags.$field = Some(text.to_string());
                Ok(())
            }),
        }
    };
    ([$($name:literal),+] => $set:expr) => {
        FlagDef {
            names: &[$($name),+],
            set: $set,
        }
    };
}

/// Every flag of nats-server (and Gannet's `-workers`), in the order of the
/// usage text. A name may appear only once in the whole table.
const FLAGS: &[FlagDef] = &[
    // Server options.
    flag!(["a", "addr", "net"] => Str host),
    flag!(["p", "port"] => Int port),
    flag!(["n", "name", "server_name"] => Str server_name),
    flag!(["P", "pid"] => Str pid_file),
    flag!(["m", "http_port"] => Int http_port),
    flag!(["ms", "https_port"] => Int https_port),
    flag!(["c", "config"] => Str config_file),
    flag!(["t"] => Setter::Bool(|flags, on| flags.check_config = on)),
    flag!(["sl", "signal"] => Setter::Str(set_signal)),
    flag!(["client_advertise"] => Str client_advertise),
    flag!(["ports_file_dir"] => Str ports_file_dir),
    flag!(["workers"] => Setter::Int(set_workers)),
    // Logging options.
    flag!(["l", "log"] => Str log_file),
    flag!(["T", "logtime"] => Bool logtime),
    flag!(["logtime_utc"] => Bool logtime_utc),
    flag!(["s", "syslog"] => Bool syslog),
    flag!(["r", "remote_syslog"] => Str remote_syslog),
    flag!(["D", "debug"] => Bool debug),
    flag!(["V", "trace"] => Bool trace),
    flag!(["VV"] => Bool trace_and_verbose),
    flag!(["DV"] => Bool debug_and_trace),
    flag!(["DVV"] => Bool debug_and_trace_verbose),
    flag!(["log_size_limit"] => Int log_size_limit),
    flag!(["max_traced_msg_len"] => Int max_traced_msg_len),
    // JetStream options.
    flag!(["js", "jetstream"] => Bool jetstream),
    flag!(["sd", "store_dir"] => Str store_dir),
    // Authorization options.
    flag!(["user"] => Str user),
    flag!(["pass"] => Str pass),
    flag!(["auth"] => Str auth),
    // TLS options.
    flag!(["tls"] => Bool tls),
    flag!(["tlscert"] => Str tls_cert),
    flag!(["tlskey"] => Str tls_key),
    flag!(["tlsverify"] => Bool tls_verify),
    flag!(["tlscacert"] => Str tls_ca_cert),
    // Cluster options.
    flag!(["routes"] => Str routes),
    flag!(["cluster", "cluster_listen"] => Str cluster_listen),
    flag!(["cluster_name"] => Str cluster_name),
    flag!(["cluster_advertise"] => Str cluster_advertise),
    flag!(["no_advertise"] => Bool no_advertise),
    flag!(["connect_retries"] => Int connect_retries),
    // Profiling options.
    flag!(["profile"] => Int profile),
    // Common options: the actions.
    flag!(["h", "help"] => Setter::Bool(|flags, on| flags.show_help = on)),
    flag!(["v", "version"] => Setter::Bool(|flags, on| flags.show_version = on)),
    flag!(["help_tls"] => Setter::Bool(|flags, on| flags.show_tls_help = on)),
];

/// `-sl`, `--signal`: an empty value means no signal, as in nats-server.
fn set_signal(flags: &mut Flags, value: &str) -> Result<(), CliError> {
    flags.signal = match value {
        "" => None,
        text => Some(SignalArg::parse(text).map_err(CliError::Fatal)?),
    };
    Ok(())
}

/// `-workers`: a negative count is rejected as a parse error.
fn set_workers(flags: &mut Flags, value: i64) -> Result<(), &'static str> {
    if value < 0 {
        return Err("parse error");
    }
    flags.workers = usize::try_from(value).ok();
    Ok(())
}

/// Parses the arguments after the program name.
///
/// Flag parsing stops at the first argument that is not a flag (or after
/// `--`). The first remaining argument may be `version` or `help` (any
/// case), which set [`Flags::show_version`] / [`Flags::show_help`].
///
/// # Errors
///
/// [`CliError::Usage`] for an unknown flag or a bad flag value;
/// [`CliError::Fatal`] for any other leftover argument or a malformed
/// `--signal`. The messages are nats-server's.
pub fn parse(args: &[String]) -> Result<Flags, CliError> {
    let mut flags = Flags::default();
    let mut rest = args;
    while let Some((arg, tail)) = rest.split_first() {
        rest = tail;
        if arg.len() < 2 || !arg.starts_with('-') {
            // First non-flag argument: it and everything after it stay.
            flags.args = args[args.len() - rest.len() - 1..].to_vec();
            break;
        }
        if arg == "--" {
            flags.args = rest.to_vec();
            break;
        }
        rest = parse_one(&mut flags, arg, rest)?;
    }
    // As in nats-server, -v/-h/--help_tls win over a bad leftover argument.
    if flags.show_version || flags.show_help || flags.show_tls_help {
        return Ok(flags);
    }
    if let Some(first) = flags.args.first() {
        match first.to_lowercase().as_str() {
            "version" => flags.show_version = true,
            "help" => flags.show_help = true,
            _ => {
                let message = format!("unrecognized command: {}", go_quote(first));
                return Err(CliError::Fatal(message));
            }
        }
    }
    Ok(flags)
}

/// Parses one flag argument, taking its value from `rest` if needed.
/// Returns the arguments still to parse.
fn parse_one<'a>(
    flags: &mut Flags,
    arg: &'a str,
    rest: &'a [String],
) -> Result<&'a [String], CliError> {
    let name = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
        return Err(CliError::Usage(format!("bad flag syntax: {arg}")));
    }
    let (name, inline_value) = match name.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (name, None),
    };
    let Some(flag) = FLAGS.iter().find(|flag| flag.names.contains(&name)) else {
        return Err(CliError::Usage(format!(
            "flag provided but not defined: -{name}"
        )));
    };
    match flag.set {
        Setter::Bool(set) => {
            set(flags, bool_value(name, inline_value)?);
            Ok(rest)
        }
        Setter::Int(set) => {
            let (value, rest) = take_value(name, inline_value, rest)?;
            let invalid = |reason: &str| {
                CliError::Usage(format!(
                    "invalid value {} for flag -{name}: {reason}",
                    go_quote(value)
                ))
            };
            let number = parse_go_int(value).map_err(invalid)?;
            set(flags, number).map_err(invalid)?;
            Ok(rest)
        }
        Setter::Str(set) => {
            let (value, rest) = take_value(name, inline_value, rest)?;
            set(flags, value)?;
            Ok(rest)
        }
    }
}

/// A boolean flag's value: `true`, or Go's `strconv.ParseBool` of what
/// followed `=`.
fn bool_value(name: &str, inline_value: Option<&str>) -> Result<bool, CliError> {
    let Some(text) = inline_value else {
        return Ok(true);
    };
    parse_go_bool(text).ok_or_else(|| {
        CliError::Usage(format!(
            "invalid boolean value {} for -{name}: parse error",
            go_quote(text)
        ))
    })
}

/// The value of a flag that takes one: what followed `=`, or else the next
/// argument. Returns it and the arguments still to parse.
fn take_value<'a>(
    name: &str,
    inline_value: Option<&'a str>,
    rest: &'a [String],
) -> Result<(&'a str, &'a [String]), CliError> {
    match (inline_value, rest.split_first()) {
        (Some(value), _) => Ok((value, rest)),
        (None, Some((next, tail))) => Ok((next.as_str(), tail)),
        (None, None) => Err(CliError::Usage(format!("flag needs an argument: -{name}"))),
    }
}

/// The text printed for `-h`, `--help` and after a flag error.
pub fn usage() -> &'static str {
    USAGE
}

/// The text printed for `--help_tls`.
pub fn tls_usage() -> &'static str {
    TLS_USAGE
}

/// The usage text, `usage.txt`.
const USAGE: &str = include_str!("usage.txt");

/// The TLS help text, `tls_usage.txt`.
const TLS_USAGE: &str = include_str!("tls_usage.txt");

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn ok(list: &[&str]) -> Flags {
        match parse(&args(list)) {
            Ok(flags) => flags,
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    fn usage_err(list: &[&str]) -> String {
        match parse(&args(list)) {
            Err(CliError::Usage(message)) => message,
            other => panic!("{list:?}: expected a usage error, got {other:?}"),
        }
    }

    fn fatal_err(list: &[&str]) -> String {
        match parse(&args(list)) {
            Err(CliError::Fatal(message)) => message,
            other => panic!("{list:?}: expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn values_separate_or_inline_with_one_or_two_dashes() {
        for list in [
            &["-p", "4333"][..],
            &["--p", "4333"],
            &["-port", "4333"],
            &["--port", "4333"],
            &["-p=4333"],
            &["--port=4333"],
        ] {
            assert_eq!(ok(list).port, Some(4333), "{list:?}");
        }
        assert_eq!(ok(&["-p", "-1"]).port, Some(-1));
        assert_eq!(ok(&["-a", "127.0.0.1"]).host.as_deref(), Some("127.0.0.1"));
        assert_eq!(ok(&["--net=::1"]).host.as_deref(), Some("::1"));
        assert_eq!(ok(&["--addr", "h"]).host.as_deref(), Some("h"));
        assert_eq!(
            ok(&["-c", "a.conf", "--config", "b.conf"])
                .config_file
                .as_deref(),
            Some("b.conf")
        );
    }

    #[test]
    fn bools_take_no_separate_value() {
        assert_eq!(ok(&["-D"]).debug, Some(true));
        assert_eq!(ok(&["--debug"]).debug, Some(true));
        assert_eq!(ok(&["-D=false"]).debug, Some(false));
        assert_eq!(ok(&["-T=0"]).logtime, Some(false));
        assert_eq!(ok(&["-T=T"]).logtime, Some(true));
        assert_eq!(fatal_err(&["-D", "true"]), "unrecognized command: \"true\"");
        assert_eq!(
            usage_err(&["-D=maybe"]),
            "invalid boolean value \"maybe\" for -D: parse error"
        );
    }

    #[test]
    fn multi_letter_short_flags_are_single_flags() {
        let flags = ok(&["-DV"]);
        assert_eq!(
            (flags.debug_and_trace, flags.debug, flags.trace),
            (Some(true), None, None)
        );
        assert_eq!(ok(&["-VV"]).trace_and_verbose, Some(true));
        assert_eq!(ok(&["-DVV"]).debug_and_trace_verbose, Some(true));
        assert_eq!(ok(&["-DV=false"]).debug_and_trace, Some(false));
        assert_eq!(ok(&["-ms", "8443"]).https_port, Some(8443));
        assert_eq!(ok(&["-m", "8222"]).http_port, Some(8222));
        assert_eq!(ok(&["-js"]).jetstream, Some(true));
        assert_eq!(ok(&["-sd", "/data"]).store_dir.as_deref(), Some("/data"));
        assert_eq!(usage_err(&["-VD"]), "flag provided but not defined: -VD");
        assert_eq!(usage_err(&["-d"]), "flag provided but not defined: -d");
    }

    #[test]
    fn every_nats_server_flag_is_accepted() {
        let flags = ok(&[
            "-a",
            "h",
            "-p",
            "1",
            "-n",
            "n",
            "-P",
            "pid",
            "-m",
            "2",
            "-ms",
            "3",
            "-c",
            "c",
            "-t",
            "-sl",
            "reload=12",
            "--client_advertise",
            "ca",
            "--ports_file_dir",
            "pd",
            "-l",
            "log",
            "-T",
            "--logtime_utc",
            "-s",
            "-r",
            "udp://x:514",
            "-D",
            "-V",
            "-VV",
            "-DV",
            "-DVV",
            "--log_size_limit",
            "1000",
            "--max_traced_msg_len",
            "10",
            "-js",
            "-sd",
            "sd",
            "--user",
            "u",
            "--pass",
            "p",
            "--auth",
            "tok",
            "--tls",
            "--tlscert",
            "cert",
            "--tlskey",
            "key",
            "--tlsverify",
            "--tlscacert",
            "ca",
            "--routes",
            "r1,r2",
            "--cluster",
            "nats://0.0.0.0:6222",
            "--cluster_name",
            "cn",
            "--cluster_advertise",
            "cadv",
            "--no_advertise",
            "--connect_retries",
            "5",
            "--profile",
            "6060",
            "--workers",
            "4",
        ]);
        assert_eq!(
            flags.signal,
            Some(SignalArg {
                command: "reload".into(),
                pid: Some("12".into())
            })
        );
        assert!(flags.check_config);
        assert_eq!(flags.tls_ca_cert.as_deref(), Some("ca"));
        assert_eq!(flags.cluster_listen.as_deref(), Some("nats://0.0.0.0:6222"));
        assert_eq!(flags.workers, Some(4));
        assert_eq!(flags.profile, Some(6060));
        assert_eq!(flags.log_size_limit, Some(1000));
        assert!(flags.args.is_empty());
        for list in [
            &["-h"][..],
            &["--help"],
            &["-v"],
            &["--version"],
            &["--help_tls"],
        ] {
            let flags = ok(list);
            assert!(
                flags.show_help || flags.show_version || flags.show_tls_help,
                "{list:?}"
            );
        }
        assert_eq!(
            ok(&["--cluster_listen", "x"]).cluster_listen.as_deref(),
            Some("x")
        );
        assert_eq!(
            ok(&["-signal", "stop"]).signal.map(|s| s.command),
            Some("stop".into())
        );
    }

    #[test]
    fn unknown_and_malformed_flags() {
        assert_eq!(
            usage_err(&["-bogus"]),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            usage_err(&["--bogus=1"]),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(usage_err(&["---p"]), "bad flag syntax: ---p");
        assert_eq!(usage_err(&["-=x"]), "bad flag syntax: -=x");
        assert_eq!(usage_err(&["-p"]), "flag needs an argument: -p");
        assert_eq!(
            usage_err(&["-p", "abc"]),
            "invalid value \"abc\" for flag -p: parse error"
        );
        assert_eq!(
            usage_err(&["-p", "99999999999999999999"]),
            "invalid value \"99999999999999999999\" for flag -p: value out of range"
        );
        assert_eq!(
            usage_err(&["--workers", "-2"]),
            "invalid value \"-2\" for flag -workers: parse error"
        );
    }

    #[test]
    fn positional_commands() {
        assert!(ok(&["version"]).show_version);
        assert!(ok(&["VERSION"]).show_version);
        assert!(ok(&["-p", "1", "Help"]).show_help);
        assert_eq!(fatal_err(&["foo"]), "unrecognized command: \"foo\"");
        // Flags after the first positional argument are not parsed.
        let flags = ok(&["version", "-p", "1"]);
        assert_eq!((flags.port, flags.args.len()), (None, 3));
        // -v wins over a bad positional.
        assert!(ok(&["-v", "foo"]).show_version);
        // `--` ends the flags; `-` alone is positional.
        assert_eq!(fatal_err(&["--", "-p"]), "unrecognized command: \"-p\"");
        assert_eq!(fatal_err(&["-"]), "unrecognized command: \"-\"");
        assert!(ok(&["--"]).args.is_empty());
    }

    #[test]
    fn signal_argument() {
        assert_eq!(
            SignalArg::parse("ldm").unwrap(),
            SignalArg {
                command: "ldm".into(),
                pid: None
            }
        );
        assert_eq!(
            SignalArg::parse("stop=/var/run/nats.pid")
                .unwrap()
                .pid
                .as_deref(),
            Some("/var/run/nats.pid")
        );
        assert_eq!(
            SignalArg::parse("a=b=c=d").unwrap_err(),
            "invalid signal parameters: [c d]"
        );
        assert_eq!(
            fatal_err(&["--signal", "a=b=c"]),
            "invalid signal parameters: [c]"
        );
        assert_eq!(ok(&["--signal", ""]).signal, None);
    }

    #[test]
    fn usage_lists_every_flag() {
        for name in FLAGS.iter().flat_map(|flag| flag.names) {
            let dashed = [
                format!("-{name},"),
                format!("-{name} "),
                format!("--{name}"),
            ];
            assert!(dashed.iter().any(|d| USAGE.contains(d.as_str())), "{name}");
        }
    }

    #[test]
    fn flag_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for name in FLAGS.iter().flat_map(|flag| flag.names) {
            assert!(seen.insert(*name), "-{name} is in FLAGS twice");
        }
    }
}
