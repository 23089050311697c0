//! What a config reload may change: [`Options::diff_reloadable`] compares the running options
//! with newly loaded ones, lists what changed for the `Reloaded: …` log lines, and refuses the
//! reload when an option that needs a restart changed.
//!
//! Mirrors `diffOptions` and the per-option reload rules of nats-server's `server/reload.go`:
//! options are compared in nats-server's field order, one group per helper below, and the
//! first change that needs a restart ends the diff.

use std::fmt;
use std::time::Duration;

use crate::gofmt::{go_duration_string, go_float, go_quote, go_split_host_port};
use crate::opts::{ClusterOpts, Options, RouteUrl, RANDOM_PORT};

impl Options {
    /// Compares the running options with newly loaded ones (`diffOptions`).
    ///
    /// Returns what changed as `(option, new value)` pairs in nats-server's
    /// order, for `Reloaded: <option> = <value>` log lines. An empty value
    /// means the line has no ` = value` part (`Reloaded: authorization
    /// password`). A `port` of [`RANDOM_PORT`] in `new` means "keep the
    /// current port".
    ///
    /// # Errors
    ///
    /// The first change that can't be applied without a restart, as
    /// `config reload not supported for <Field>: old=<old>, new=<new>` with
    /// nats-server's field name. The whole reload must then be refused.
    pub fn diff_reloadable(&self, new: &Options) -> Result<Vec<(String, String)>, String> {
        let old = self;
        let mut diff = Diff::default();
        diff_server(old, new, &mut diff)?;
        diff_clients(old, new, &mut diff)?;
        diff_http_and_sizes(old, new, &mut diff)?;
        diff_cluster(old, new, &mut diff)?;
        diff_tls(old, new, &mut diff)?;
        diff_files(old, new, &mut diff)?;
        diff_routes(old, new, &mut diff);
        diff_timeouts(old, new, &mut diff)?;
        Ok(diff.changes)
    }
}

/// The server itself: config file, name, listener, advertise address, tags and metadata,
/// and the logging switches.
fn diff_server(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    fixed("ConfigFile", &old.config_file, &new.config_file)?;
    fixed("ServerName", &old.server_name, &new.server_name)?;
    fixed("SystemAccount", &old.system_account, &new.system_account)?;
    fixed("Host", &old.host, &new.host)?;
    if new.port != RANDOM_PORT {
        fixed("Port", &old.port, &new.port)?;
    }
    let advertise = &new.client_advertise;
    diff.value(
        "client_advertise",
        &old.client_advertise,
        advertise,
        advertise,
    );
    diff.value("trace", &old.trace, &new.trace, new.trace);
    diff.value(
        "server_tags",
        &old.server_tags,
        &new.server_tags,
        format!("{:?}", new.server_tags),
    );
    diff.value(
        "server_metadata",
        &old.server_metadata,
        &new.server_metadata,
        format!("{:?}", new.server_metadata),
    );
    diff.value("debug", &old.debug, &new.debug, new.debug);
    diff.value(
        "trace_verbose",
        &old.trace_verbose,
        &new.trace_verbose,
        new.trace_verbose,
    );
    diff.value(
        "trace_headers",
        &old.trace_headers,
        &new.trace_headers,
        new.trace_headers,
    );
    let sublist = (&old.disable_sublist_cache, &new.disable_sublist_cache);
    fixed("NoSublistCache", sublist.0, sublist.1)?;
    fixed(
        "NoHeaderSupport",
        &old.no_header_support,
        &new.no_header_support,
    )?;
    diff.value("logtime", &old.logtime, &new.logtime, new.logtime);
    diff.value(
        "logtime_utc",
        &old.logtime_utc,
        &new.logtime_utc,
        new.logtime_utc,
    );
    Ok(())
}

/// Client limits and authentication: `max_connections`, subscription limits,
/// `no_auth_user`, single user/token, users and accounts, pings.
fn diff_clients(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    let max_conn = new.max_connections;
    diff.value("max_connections", &old.max_connections, &max_conn, max_conn);
    fixed("MaxSubs", &old.max_subscriptions, &new.max_subscriptions)?;
    fixed("MaxSubTokens", &old.max_sub_tokens, &new.max_sub_tokens)?;
    // Dropping no_auth_user is allowed, any other change is not.
    if !new.no_auth_user.is_empty() || old.no_auth_user.is_empty() {
        fixed("NoAuthUser", &old.no_auth_user, &new.no_auth_user)?;
    }
    let (old_auth, new_auth) = (&old.authorization, &new.authorization);
    diff.value("authorization username", &old_auth.user, &new_auth.user, "");
    diff.value(
        "authorization password",
        &old_auth.password,
        &new_auth.password,
        "",
    );
    diff.value("authorization token", &old_auth.token, &new_auth.token, "");
    diff.value("authorization users", &old.users, &new.users, "");
    diff.value("accounts", &old.accounts, &new.accounts, "");
    let ping = go_duration_string(new.ping_interval);
    diff.value(
        "ping_interval",
        &old.ping_interval,
        &new.ping_interval,
        ping,
    );
    diff.value("ping_max", &old.ping_max, &new.ping_max, new.ping_max);
    Ok(())
}

/// The monitoring listener (fixed), the auth timeout and the message size limits.
fn diff_http_and_sizes(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    fixed("HTTPHost", &old.http_host, &new.http_host)?;
    fixed("HTTPPort", &old.http_port, &new.http_port)?;
    fixed("HTTPBasePath", &old.http_base_path, &new.http_base_path)?;
    fixed("HTTPSPort", &old.https_port, &new.https_port)?;
    let auth = go_float(new.auth_timeout.as_secs_f64());
    diff.value(
        "authorization timeout",
        &old.auth_timeout,
        &new.auth_timeout,
        auth,
    );
    let mcl = new.max_control_line;
    diff.value("max_control_line", &old.max_control_line, &mcl, mcl);
    diff.value(
        "max_payload",
        &old.max_payload,
        &new.max_payload,
        new.max_payload,
    );
    fixed("MaxPending", &old.max_pending, &new.max_pending)?;
    Ok(())
}

/// The cluster (nats-server `validateClusterOpts` and `clusterOption`): the route listener
/// may not move and a new `advertise` must be a usable `host[:port]`; any other change
/// (routes aside, see [`diff_routes`]) reloads as `Reloaded: cluster`. Turning clustering on
/// or off is a port change, refused like nats-server does. A `port` of [`RANDOM_PORT`] in
/// `new` means "keep the current port".
fn diff_cluster(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    let (old_cluster, new_cluster) = (old.cluster.as_ref(), new.cluster.as_ref());
    fixed(
        "cluster host",
        cluster_host(old_cluster),
        cluster_host(new_cluster),
    )?;
    let port = |c: Option<&ClusterOpts>| c.map_or(0, |c| c.port);
    if port(new_cluster) != RANDOM_PORT {
        fixed("cluster port", &port(old_cluster), &port(new_cluster))?;
    }
    if let Some(advertise) = new_cluster.map(|c| c.advertise.as_str()) {
        check_cluster_advertise(advertise)?;
    }
    diff.value(
        "cluster",
        &cluster_reloadable(old_cluster),
        &cluster_reloadable(new_cluster),
        "",
    );
    Ok(())
}

/// The route listener host as nats-server holds it: empty unless a listen address was
/// configured.
fn cluster_host(cluster: Option<&ClusterOpts>) -> &str {
    cluster
        .filter(|c| c.listen_configured)
        .map_or("", |c| c.host.as_str())
}

/// What a reload may change in the cluster options: all but the listener and the routes.
/// No cluster compares as an empty `cluster {}` block, as in nats-server.
fn cluster_reloadable(cluster: Option<&ClusterOpts>) -> ClusterOpts {
    ClusterOpts {
        host: String::new(),
        port: 0,
        listen_configured: false,
        routes: Vec::new(),
        ..cluster.cloned().unwrap_or_default()
    }
}

/// A new `cluster.advertise` must parse as nats-server's `parseHostPort(advertise, 0)` does.
fn check_cluster_advertise(advertise: &str) -> Result<(), String> {
    if advertise.is_empty() {
        return Ok(());
    }
    let invalid =
        |err: String| format!("invalid Cluster.Advertise value of {advertise}, err={err}");
    let (_, port) = match go_split_host_port(advertise) {
        Err(e) if e.contains("missing port") => go_split_host_port(&format!("{advertise}:0")),
        parsed => parsed,
    }
    .map_err(invalid)?;
    let port = port.trim();
    match port.parse::<i64>() {
        Ok(_) => Ok(()),
        Err(e) => {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            Err(invalid(format!(
                "strconv.Atoi: parsing {}: {why}",
                go_quote(port)
            )))
        }
    }
}

/// The explicit routes (`Reloaded: cluster routes`): the server dials added routes and drops
/// removed ones.
fn diff_routes(old: &Options, new: &Options, diff: &mut Diff) {
    diff.value("cluster routes", routes_of(old), routes_of(new), "");
}

fn routes_of(opts: &Options) -> &[RouteUrl] {
    match &opts.cluster {
        Some(cluster) => cluster.routes.as_slice(),
        None => &[],
    }
}

/// The TLS part of a reload (nats-server `reload.go`): certificates and settings, the
/// timeout, pinned certs and handshake-first may change; mapping, `allow_non_tls` and the
/// rate limit may not.
fn diff_tls(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    let (old_tls, new_tls) = (old.tls.as_ref(), new.tls.as_ref());
    let flag = |t: Option<&crate::tls::TlsOptions>, f: fn(&crate::tls::TlsOptions) -> bool| {
        t.is_some_and(f)
    };
    let timeout = |t: Option<&crate::tls::TlsOptions>| {
        t.map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout())
    };
    let server = |t: Option<&crate::tls::TlsOptions>| t.and_then(|t| t.server.clone());
    let state = if new_tls.is_some() {
        "enabled"
    } else {
        "disabled"
    };
    diff.value("tls", &server(old_tls), &server(new_tls), state);
    let shown = go_float(timeout(new_tls).as_secs_f64());
    diff.value("tls timeout", &timeout(old_tls), &timeout(new_tls), shown);
    let pins = |t: Option<&crate::tls::TlsOptions>| t.and_then(|t| t.pinned_certs.clone());
    let count = pins(new_tls).map_or(0, |p| p.len());
    diff.value(
        &format!("{count} pinned_certs"),
        &pins(old_tls),
        &pins(new_tls),
        "",
    );
    let first = |t: &crate::tls::TlsOptions| t.handshake_first;
    let (old_first, new_first) = (flag(old_tls, first), flag(new_tls, first));
    let name = format!("Client TLS handshake first: {new_first}");
    diff.value(&name, &old_first, &new_first, "");
    let fallback = |t: Option<&crate::tls::TlsOptions>| {
        t.map_or(Duration::ZERO, |t| t.handshake_first_fallback)
    };
    let name = format!(
        "Client TLS handshake first fallback delay: {}",
        go_duration_string(fallback(new_tls))
    );
    diff.value(&name, &fallback(old_tls), &fallback(new_tls), "");
    let map = |t: &crate::tls::TlsOptions| t.map;
    fixed("TLSMap", &flag(old_tls, map), &flag(new_tls, map))?;
    fixed("AllowNonTLS", &old.allow_non_tls, &new.allow_non_tls)?;
    let rate = |t: Option<&crate::tls::TlsOptions>| t.map_or(0, |t| t.rate_limit);
    fixed("TLSRateLimit", &rate(old_tls), &rate(new_tls))
}

/// The files the server writes and where it logs: pid and ports files, log file, rotation,
/// syslog.
fn diff_files(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    diff.value("pid_file", &old.pid_file, &new.pid_file, &new.pid_file);
    let ports = &new.ports_file_dir;
    diff.value("ports_file_dir", &old.ports_file_dir, ports, ports);
    diff.value("log_file", &old.log_file, &new.log_file, &new.log_file);
    fixed("LogSizeLimit", &old.log_size_limit, &new.log_size_limit)?;
    fixed("LogMaxFiles", &old.log_max_num, &new.log_max_num)?;
    diff.value("syslog", &old.syslog, &new.syslog, new.syslog);
    let remote = &new.remote_syslog;
    diff.value("remote_syslog", &old.remote_syslog, remote, remote);
    Ok(())
}

/// Write deadline and policy, closed-connection history, lame duck, traced message length
/// and workers.
fn diff_timeouts(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    let wd = go_duration_string(new.write_deadline);
    diff.value(
        "write_deadline",
        &old.write_deadline,
        &new.write_deadline,
        wd,
    );
    fixed("WriteTimeout", &old.write_timeout, &new.write_timeout)?;
    // nats-server logs `Reloaded: fast producers will [not ]be stalled` (reload.go).
    let not = if new.no_fast_producer_stall {
        "not "
    } else {
        ""
    };
    diff.value(
        &format!("fast producers will {not}be stalled"),
        &old.no_fast_producer_stall,
        &new.no_fast_producer_stall,
        "",
    );
    fixed(
        "MaxClosedClients",
        &old.max_closed_clients,
        &new.max_closed_clients,
    )?;
    let (old_ldm, new_ldm) = (old.lame_duck_duration, new.lame_duck_duration);
    fixed(
        "LameDuckDuration",
        &go_duration_string(old_ldm),
        &go_duration_string(new_ldm),
    )?;
    let (old_grace, new_grace) = (old.lame_duck_grace_period, new.lame_duck_grace_period);
    fixed(
        "LameDuckGracePeriod",
        &go_duration_string(old_grace),
        &go_duration_string(new_grace),
    )?;
    let traced = new.max_traced_msg_len;
    diff.value(
        "max_traced_msg_len",
        &old.max_traced_msg_len,
        &traced,
        traced,
    );
    fixed(
        "Workers",
        &workers_text(old.workers),
        &workers_text(new.workers),
    )?;
    Ok(())
}

#[derive(Default)]
struct Diff {
    changes: Vec<(String, String)>,
}

impl Diff {
    /// Records a reloadable option if it changed.
    fn value<T: PartialEq + ?Sized>(
        &mut self,
        name: &str,
        old: &T,
        new: &T,
        shown: impl fmt::Display,
    ) {
        if old != new {
            self.changes.push((name.to_string(), shown.to_string()));
        }
    }
}

/// Fails if an option that needs a restart changed.
fn fixed<T: PartialEq + fmt::Display + ?Sized>(
    field: &str,
    old: &T,
    new: &T,
) -> Result<(), String> {
    if old == new {
        return Ok(());
    }
    Err(format!(
        "config reload not supported for {field}: old={old}, new={new}"
    ))
}

fn workers_text(workers: Option<usize>) -> String {
    workers.map(|w| w.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::opts::test_support::{temp_dir, with_flags};

    #[test]
    fn no_fast_producer_stall_reloads_with_nats_server_text() {
        let old = with_flags("port: 4222", &[]).unwrap();
        let new = with_flags("port: 4222\nno_fast_producer_stall: true", &[]).unwrap();
        assert!(new.no_fast_producer_stall);
        let on = old.diff_reloadable(&new).unwrap();
        assert_eq!(
            on,
            [(
                "fast producers will not be stalled".to_string(),
                String::new()
            )]
        );
        let off = new.diff_reloadable(&old).unwrap();
        assert_eq!(
            off,
            [("fast producers will be stalled".to_string(), String::new())]
        );
    }

    #[test]
    fn reload_diff() {
        let old = with_flags("port: 4222\nmax_payload: 1MB", &[]).unwrap();
        let new = with_flags(
            "port: 4222\nmax_payload: 2MB\ntrace: true\nping_interval: \"30s\"\n\
             authorization { user: a, password: b, timeout: 3 }\nlog_file: /tmp/x.log",
            &[],
        )
        .unwrap();
        let changes = old.diff_reloadable(&new).unwrap();
        let pairs: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("trace", "true"),
                ("authorization username", ""),
                ("authorization password", ""),
                ("ping_interval", "30s"),
                ("authorization timeout", "3"),
                ("max_payload", "2097152"),
                ("log_file", "/tmp/x.log"),
            ]
        );
        assert!(old.diff_reloadable(&old.clone()).unwrap().is_empty());
    }

    #[test]
    fn reload_diff_tls() {
        let dir = temp_dir("reload-tls");
        let certs = crate::tls::config::test_certs::write(&dir);
        let (cert, key) = (certs.cert.display(), certs.key.display());
        let conf =
            |extra: &str| format!("tls {{ cert_file: \"{cert}\", key_file: \"{key}\" {extra} }}\n");
        let old = with_flags(&conf(""), &[]).unwrap();
        assert_eq!(old.auth_timeout, Duration::from_secs(3));
        assert!(old
            .diff_reloadable(&with_flags(&conf(""), &[]).unwrap())
            .unwrap()
            .is_empty());
        let new = with_flags(
            &conf(", timeout: 4, handshake_first: true, pinned_certs: [\"00000000000000000000000000000000000000000000000000000000000000ff\"]"),
            &[],
        )
        .unwrap();
        let changes = old.diff_reloadable(&new).unwrap();
        let pairs: Vec<(&str, &str)> = changes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("authorization timeout", "5"),
                ("tls timeout", "4"),
                ("1 pinned_certs", ""),
                ("Client TLS handshake first: true", ""),
            ]
        );
        // New certificate files' contents, same paths: the TLS config changed.
        crate::tls::config::test_certs::write(&dir);
        let renewed = with_flags(&conf(""), &[]).unwrap();
        let changes = old.diff_reloadable(&renewed).unwrap();
        assert_eq!(changes, [("tls".to_string(), "enabled".to_string())]);
        let none = with_flags("", &[]).unwrap();
        let changes = old.diff_reloadable(&none).unwrap();
        assert_eq!(changes[1], ("tls".to_string(), "disabled".to_string()));
        assert_eq!(
            old.diff_reloadable(&with_flags(&conf(", verify_and_map: true"), &[]).unwrap())
                .unwrap_err(),
            "config reload not supported for TLSMap: old=false, new=true"
        );
        let mixed = with_flags(&format!("{}allow_non_tls: true\n", conf("")), &[]).unwrap();
        assert_eq!(
            old.diff_reloadable(&mixed).unwrap_err(),
            "config reload not supported for AllowNonTLS: old=false, new=true"
        );
    }

    #[test]
    fn reload_cluster() {
        let load = |text: &str| with_flags(text, &[]).unwrap();
        let base = "cluster { port: 6222, name: a, routes: [\"nats://h:1\"] }";
        let old = load(base);
        assert!(old.diff_reloadable(&load(base)).unwrap().is_empty());
        let changes = |text: &str| old.diff_reloadable(&load(text));
        let reloaded = |name: &str| -> Result<Vec<(String, String)>, String> {
            Ok(vec![(name.to_string(), String::new())])
        };
        assert_eq!(
            changes("cluster { port: 6222, name: b, routes: [\"nats://h:1\"] }"),
            reloaded("cluster")
        );
        assert_eq!(
            changes("cluster { port: 6222, name: a, routes: [\"nats://h:1\", \"nats://h:2\"] }"),
            reloaded("cluster routes")
        );
        // A random port in the new config keeps the current one.
        assert!(
            changes("cluster { port: -1, name: a, routes: [\"nats://h:1\"] }")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            changes("cluster { host: \"127.0.0.1\", port: 6222, name: a }").unwrap_err(),
            "config reload not supported for cluster host: old=0.0.0.0, new=127.0.0.1"
        );
        assert_eq!(
            changes("cluster { port: 7222, name: a }").unwrap_err(),
            "config reload not supported for cluster port: old=6222, new=7222"
        );
        assert_eq!(
            changes("port: 4222").unwrap_err(),
            "config reload not supported for cluster host: old=0.0.0.0, new="
        );
        assert_eq!(
            changes("cluster { port: 6222, name: a, advertise: \"h:x\" }").unwrap_err(),
            "invalid Cluster.Advertise value of h:x, err=strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            changes("cluster { port: 6222, name: a, advertise: \"a:b:c\" }").unwrap_err(),
            "invalid Cluster.Advertise value of a:b:c, err=address a:b:c: too many colons in address"
        );
        assert_eq!(
            changes("cluster { port: 6222, name: a, advertise: \"h\", routes: [\"nats://h:1\"] }"),
            reloaded("cluster")
        );
        // Clustering can't be turned on by a reload; a block without a listener is no change
        // of the listener.
        let none = load("port: 4222");
        assert_eq!(
            none.diff_reloadable(&load("cluster { port: 6222 }"))
                .unwrap_err(),
            "config reload not supported for cluster host: old=, new=0.0.0.0"
        );
        assert_eq!(
            none.diff_reloadable(&load("cluster { name: a }")),
            reloaded("cluster")
        );
        assert!(none
            .diff_reloadable(&load("cluster {}"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn reload_refuses_fixed_options() {
        let old = with_flags("", &[]).unwrap();
        let refuse = |text: &str| {
            let new = with_flags(text, &[]).unwrap();
            old.diff_reloadable(&new).unwrap_err()
        };
        assert_eq!(
            refuse("max_pending: 100MB"),
            "config reload not supported for MaxPending: old=67108864, new=104857600"
        );
        assert_eq!(
            refuse("max_subs: 10"),
            "config reload not supported for MaxSubs: old=0, new=10"
        );
        assert_eq!(
            refuse("host: 127.0.0.1"),
            "config reload not supported for Host: old=0.0.0.0, new=127.0.0.1"
        );
        assert_eq!(
            refuse("port: 5000"),
            "config reload not supported for Port: old=4222, new=5000"
        );
        assert_eq!(
            refuse("server_name: x"),
            "config reload not supported for ServerName: old=, new=x"
        );
        assert_eq!(
            refuse("lame_duck_duration: \"1m\""),
            "config reload not supported for LameDuckDuration: old=2m0s, new=1m0s"
        );
        // A random port in the new config keeps the current one.
        let new = with_flags("port: -1", &[]).unwrap();
        assert!(old.diff_reloadable(&new).unwrap().is_empty());
        // no_auth_user may be removed but not added.
        let with_user = with_flags(
            "no_auth_user: bob\nauthorization { users = [{user: bob, password: x}] }",
            &[],
        )
        .unwrap();
        assert_eq!(
            with_user.diff_reloadable(&old).unwrap(),
            [("authorization users".to_string(), String::new())]
        );
        assert_eq!(
            old.diff_reloadable(&with_user).unwrap_err(),
            "config reload not supported for NoAuthUser: old=, new=bob"
        );
    }
}
