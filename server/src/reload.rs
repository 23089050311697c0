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
use crate::opts::{
    ClusterOpts, GatewayOpts, LeafOpts, LeafUser, Options, RemoteGatewayOpts, RemoteLeafOpts,
    RouteUrl, RANDOM_PORT,
};

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
        diff_gateway(old, new)?;
        diff_leafnode(old, new, &mut diff)?;
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

/// The gateway (nats-server `diffOptions`, case `gateway`): nothing may change but the TLS
/// certificates and settings and the pinned certificates. No `gateway` block compares as an
/// empty one, and a `port` of [`RANDOM_PORT`] in `new` keeps the current port. The refusal
/// prints both sides as Go's `%v` of `GatewayOpts`.
fn diff_gateway(old: &Options, new: &Options) -> Result<(), String> {
    let none = GatewayOpts::default();
    let old_gateway = old.gateway.as_ref().unwrap_or(&none);
    let new_gateway = new.gateway.as_ref().unwrap_or(&none);
    let new_port = match new_gateway.port {
        RANDOM_PORT => old_gateway.port,
        port => port,
    };
    let old_fields = gateway_fields(old_gateway, old_gateway.port);
    if old_fields == gateway_fields(new_gateway, new_port) {
        return Ok(());
    }
    Err(format!(
        "config reload not supported for Gateway: old={}, new={}",
        gateway_text(old_gateway, old_gateway.port),
        gateway_text(new_gateway, new_port)
    ))
}

/// The gateway settings a reload compares, in `GatewayOpts` order: all but the TLS
/// configuration and the pinned certificates. Remotes are compared in name order, with
/// their URLs as configured (credentials included) and their TLS timeout.
fn gateway_fields(g: &GatewayOpts, port: i64) -> Vec<String> {
    let mut remotes: Vec<&RemoteGatewayOpts> = g.gateways.iter().collect();
    remotes.sort_by(|a, b| a.name.cmp(&b.name));
    let remotes: Vec<String> = remotes
        .iter()
        .map(|r| {
            let urls: Vec<&str> = r.urls.iter().map(|u| u.raw.as_str()).collect();
            format!("{:?}", (&r.name, remote_gateway_tls_timeout(r), urls))
        })
        .collect();
    vec![
        g.name.clone(),
        g.host.clone(),
        port.to_string(),
        g.user.clone(),
        g.password.clone(),
        go_float(g.auth_timeout.as_secs_f64()),
        gateway_tls_timeout(g),
        g.tls.as_ref().is_some_and(|t| t.map).to_string(),
        g.tls_check_known_urls.to_string(),
        g.advertise.clone(),
        g.connect_retries.to_string(),
        g.connect_backoff.to_string(),
        format!("[{}]", remotes.join(" ")),
        g.reject_unknown_cluster.to_string(),
        go_duration_string(g.write_deadline.unwrap_or_default()),
        g.write_timeout.unwrap_or_default().to_string(),
    ]
}

/// Go's `%v` of `GatewayOpts` (`{Name Host Port Username Password AuthTimeout TLSConfig
/// TLSTimeout TLSMap TLSCheckKnownURLs TLSPinnedCerts Advertise ConnectRetries
/// ConnectBackoff Gateways RejectUnknown WriteDeadline WriteTimeout resolver
/// sendQSubsBufSize tlsConfigOpts}`). nats-server prints the addresses of the TLS
/// configuration and of each remote; we print `<set>` for a TLS configuration and each
/// remote as `{name [urls]}`, the URLs without user info.
fn gateway_text(g: &GatewayOpts, port: i64) -> String {
    let tls = g.tls.as_ref();
    let pointer = if tls.is_some() { "<set>" } else { "<nil>" };
    let pinned: Vec<String> = tls
        .and_then(|t| t.pinned_certs.as_ref())
        .into_iter()
        .flatten()
        .map(|p| format!("{p}:{{}}"))
        .collect();
    let mut remotes: Vec<&RemoteGatewayOpts> = g.gateways.iter().collect();
    remotes.sort_by(|a, b| a.name.cmp(&b.name));
    let remotes: Vec<String> = remotes
        .iter()
        .map(|r| {
            let urls: Vec<String> = r.urls.iter().map(|u| u.to_string()).collect();
            format!("{{{} [{}]}}", r.name, urls.join(" "))
        })
        .collect();
    let fields = [
        g.name.clone(),
        g.host.clone(),
        port.to_string(),
        g.user.clone(),
        g.password.clone(),
        go_float(g.auth_timeout.as_secs_f64()),
        pointer.to_string(),
        gateway_tls_timeout(g),
        tls.is_some_and(|t| t.map).to_string(),
        g.tls_check_known_urls.to_string(),
        format!("map[{}]", pinned.join(" ")),
        g.advertise.clone(),
        g.connect_retries.to_string(),
        g.connect_backoff.to_string(),
        format!("[{}]", remotes.join(" ")),
        g.reject_unknown_cluster.to_string(),
        go_duration_string(g.write_deadline.unwrap_or_default()),
        g.write_timeout.unwrap_or_default().to_string(),
        "<nil>".to_string(),
        "0".to_string(),
        pointer.to_string(),
    ];
    format!("{{{}}}", fields.join(" "))
}

/// The listener's TLS timeout in seconds as nats-server holds it: as configured, else 2 s
/// when there is a port (`setBaselineOptions`), else 0.
fn gateway_tls_timeout(g: &GatewayOpts) -> String {
    let timeout = match g
        .tls
        .as_ref()
        .map_or(Duration::ZERO, |t| t.timeout_configured)
    {
        d if d.is_zero() && g.port != 0 => crate::tls::config::TLS_TIMEOUT_DEFAULT,
        d => d,
    };
    go_float(timeout.as_secs_f64())
}

/// A remote gateway's TLS timeout in seconds as configured (0 = the listener's).
fn remote_gateway_tls_timeout(r: &RemoteGatewayOpts) -> String {
    let timeout = r
        .tls
        .as_ref()
        .map_or(Duration::ZERO, |t| t.timeout_configured);
    go_float(timeout.as_secs_f64())
}

/// Leaf nodes (nats-server `getLeafNodeOptionsChanges` and `leafNodeOption.Apply`): the
/// users, the listener and most settings are fixed (`config reload not supported for
/// LeafNode: field "<Field>": old=<old>, new=<new>`); the listener's TLS settings, its TLS
/// handshake-first and compression may change. Remotes are matched by name (URLs, account,
/// credentials): a remote may be added or removed, and a kept one may change only its TLS
/// settings, compression and `disabled`. Changes are logged as nats-server does
/// (`Reloaded: LeafNode Compression value is: {off []}`); an added remote is not. No
/// `leafnodes` block compares as an empty one, and a `port` of [`RANDOM_PORT`] in `new`
/// keeps the current port.
fn diff_leafnode(old: &Options, new: &Options, diff: &mut Diff) -> Result<(), String> {
    let none = LeafOpts::default();
    let old_leaf = old.leafnodes.as_ref().unwrap_or(&none);
    let new_leaf = new.leafnodes.as_ref().unwrap_or(&none);
    let refuse = |why: String| format!("config reload not supported for LeafNode: {why}");
    if leaf_users_changed(&old_leaf.users, &new_leaf.users) {
        return Err(refuse(format!(
            "field \"Users\": old={}, new={}",
            leaf_users_text(&old_leaf.users),
            leaf_users_text(&new_leaf.users)
        )));
    }
    let port = (new_leaf.port == RANDOM_PORT).then_some(old_leaf.port);
    fixed_fields(&leaf_fields(old_leaf, None), &leaf_fields(new_leaf, port)).map_err(refuse)?;
    let first = |l: &LeafOpts| {
        l.tls.as_ref().map_or((false, Duration::ZERO), |t| {
            (t.handshake_first, t.handshake_first_fallback)
        })
    };
    let (new_first, new_fallback) = first(new_leaf);
    if first(old_leaf) != first(new_leaf) {
        let fallback = go_duration_string(new_fallback);
        diff.note(format!("LeafNode TLS HandshakeFirst value is: {new_first}"));
        diff.note(format!(
            "LeafNode TLS HandshakeFirstFallback value is: {fallback}"
        ));
    }
    let compression = new_leaf.compression_text();
    if old_leaf.compression_text() != compression {
        diff.note(format!("LeafNode Compression value is: {compression}"));
    }
    diff_leaf_remotes(old_leaf, new_leaf, diff).map_err(refuse)
}

/// The remotes of a leaf node reload: removed ones are logged, kept ones may change only
/// TLS, compression and `disabled`; the error names the remote.
fn diff_leaf_remotes(old: &LeafOpts, new: &LeafOpts, diff: &mut Diff) -> Result<(), String> {
    for old_remote in &old.remotes {
        let name = old_remote.name();
        let safe = old_remote.safe_name();
        let Some(new_remote) = new.remotes.iter().find(|r| r.name() == name) else {
            diff.note(format!("LeafNode Remote {safe} removed"));
            continue;
        };
        fixed_fields(&remote_fields(old_remote), &remote_fields(new_remote))
            .map_err(|e| format!("remote {safe}: {e}"))?;
        let first = |r: &RemoteLeafOpts| r.tls.as_ref().is_some_and(|t| t.handshake_first);
        if first(old_remote) != first(new_remote) {
            let value = first(new_remote);
            diff.note(format!(
                "LeafNode Remote {safe} TLS HandshakeFirst value is: {value}"
            ));
        }
        let compression = new_remote.compression_text();
        if old_remote.compression_text() != compression {
            diff.note(format!(
                "LeafNode Remote {safe} Compression value is: {compression}"
            ));
        }
        if old_remote.disabled != new_remote.disabled {
            let value = new_remote.disabled;
            diff.note(format!("LeafNode Remote {safe} Disabled value is: {value}"));
        }
    }
    Ok(())
}

/// nats-server's `usersHaveChanged`: another count, or a user whose password or account
/// differs (order does not matter).
fn leaf_users_changed(old: &[LeafUser], new: &[LeafUser]) -> bool {
    old.len() != new.len()
        || old.iter().any(|o| {
            !new.iter()
                .any(|n| n.user == o.user && n.password == o.password && n.account == o.account)
        })
}

/// The users in a refusal. nats-server prints the addresses of its user structs; we print
/// the names.
fn leaf_users_text(users: &[LeafUser]) -> String {
    let names: Vec<&str> = users.iter().map(|u| u.user.as_str()).collect();
    format!("[{}]", names.join(" "))
}

/// The leaf options a reload may not change, as nats-server names and prints them, in
/// `LeafNodeOpts` order. `port` replaces the port (a random port keeps the current one).
fn leaf_fields(l: &LeafOpts, port: Option<i64>) -> Vec<(&'static str, String)> {
    let tls = l.tls.as_ref();
    // nats-server sets the listener's TLS timeout to 2 s when it has a port.
    let tls_timeout = match tls.map_or(Duration::ZERO, |t| t.timeout_configured) {
        d if d.is_zero() && l.port != 0 => crate::tls::config::TLS_TIMEOUT_DEFAULT,
        d => d,
    };
    let pinned = tls.and_then(|t| t.pinned_certs.as_ref());
    let pinned: Vec<String> = pinned
        .into_iter()
        .flatten()
        .map(|p| format!("{p}:{{}}"))
        .collect();
    vec![
        ("Host", l.host.clone()),
        ("Port", port.unwrap_or(l.port).to_string()),
        ("Username", l.user.clone()),
        ("Password", l.password.clone()),
        ("ProxyRequired", l.proxy_required.to_string()),
        ("Nkey", l.nkey.clone()),
        ("Account", l.account.clone()),
        ("AuthTimeout", go_float(l.auth_timeout.as_secs_f64())),
        ("TLSTimeout", go_float(tls_timeout.as_secs_f64())),
        ("TLSMap", tls.is_some_and(|t| t.map).to_string()),
        ("TLSPinnedCerts", format!("map[{}]", pinned.join(" "))),
        ("Advertise", l.advertise.clone()),
        ("NoAdvertise", l.no_advertise.to_string()),
        ("ReconnectInterval", go_duration_string(l.reconnect)),
        (
            "WriteDeadline",
            go_duration_string(l.write_deadline.unwrap_or_default()),
        ),
        (
            "WriteTimeout",
            l.write_timeout.unwrap_or_default().to_string(),
        ),
        ("MinVersion", l.min_version.clone()),
        ("IsolateLeafnodeInterest", l.isolate.to_string()),
        ("DialTimeout", go_duration_string(l.dial_timeout)),
    ]
}

/// The remote options a reload may not change, in `RemoteLeafOpts` order (those in the
/// remote's name can't differ between matched remotes).
fn remote_fields(r: &RemoteLeafOpts) -> Vec<(&'static str, String)> {
    let tls_timeout = r.tls.as_ref().map_or(Duration::ZERO, |t| t.timeout());
    let p = &r.proxy;
    vec![
        ("LocalAccount", r.local_account().to_string()),
        ("NoRandomize", r.no_randomize.to_string()),
        ("TLSTimeout", go_float(tls_timeout.as_secs_f64())),
        ("Hub", r.hub.to_string()),
        ("DenyImports", format!("[{}]", r.deny_imports.join(" "))),
        ("DenyExports", format!("[{}]", r.deny_exports.join(" "))),
        ("FirstInfoTimeout", go_duration_string(r.first_info_timeout)),
        (
            "DialTimeout",
            go_duration_string(r.dial_timeout.unwrap_or_default()),
        ),
        (
            "Websocket",
            format!("{{{} {}}}", r.ws_compression, r.ws_no_masking),
        ),
        (
            "Proxy",
            format!("{:?}", (&p.url, &p.username, &p.password, p.timeout)),
        ),
        (
            "JetStreamClusterMigrate",
            r.jetstream_cluster_migrate.to_string(),
        ),
        (
            "JetStreamClusterMigrateDelay",
            go_duration_string(r.jetstream_cluster_migrate_delay),
        ),
        ("LocalIsolation", r.isolate.to_string()),
        ("RequestIsolation", r.request_isolation.to_string()),
        (
            "IgnoreDiscoveredServers",
            r.ignore_discovered_servers.to_string(),
        ),
    ]
}

/// The first of `fields` that differs, as nats-server's `checkConfigsEqual` reports it:
/// `field "<Field>": old=<old>, new=<new>`. The 2.15.1 binary reports a changed proxy
/// without values.
fn fixed_fields(old: &[(&str, String)], new: &[(&str, String)]) -> Result<(), String> {
    for ((field, old_value), (_, new_value)) in old.iter().zip(new) {
        if old_value == new_value {
            continue;
        }
        if *field == "Proxy" {
            return Err("field \"Proxy\": only the proxy TLS configuration can be changed".into());
        }
        return Err(format!(
            "field \"{field}\": old={old_value}, new={new_value}"
        ));
    }
    Ok(())
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
    /// Records a change logged as `Reloaded: <line>`, without value.
    fn note(&mut self, line: String) {
        self.changes.push((line, String::new()));
    }

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
    fn reload_leafnodes() {
        let load = |text: &str| with_flags(text, &[]).unwrap();
        let remote = "{url: \"nats://u:p@127.0.0.1:7999\"";
        let conf = |listener: &str, remote_keys: &str| {
            format!("leafnodes {{ {listener} remotes: [ {remote}{remote_keys} }} ] }}")
        };
        let old = load(&conf("port: 7422,", ""));
        assert!(old
            .diff_reloadable(&load(&conf("port: 7422,", "")))
            .unwrap()
            .is_empty());
        let changes = |listener: &str, remote_keys: &str| {
            old.diff_reloadable(&load(&conf(listener, remote_keys)))
        };
        let refused = |listener: &str, what: &str| {
            let why = changes(listener, "").unwrap_err();
            assert_eq!(
                why,
                format!("config reload not supported for LeafNode: {what}")
            );
        };
        refused("port: 7423,", "field \"Port\": old=7422, new=7423");
        refused(
            "port: 7422, host: \"127.0.0.1\",",
            "field \"Host\": old=0.0.0.0, new=127.0.0.1",
        );
        refused("", "field \"Host\": old=0.0.0.0, new=");
        refused(
            "port: 7422, reconnect: \"2s\",",
            "field \"ReconnectInterval\": old=1s, new=2s",
        );
        refused(
            "port: 7422, authorization { user: a, password: b },",
            "field \"Username\": old=, new=a",
        );
        refused(
            "port: 7422, authorization { timeout: 3 },",
            "field \"AuthTimeout\": old=2, new=3",
        );
        refused(
            "port: 7422, authorization { users: [{user: a, password: b}] },",
            "field \"Users\": old=[], new=[a]",
        );
        refused(
            "port: 7422, advertise: \"h:1\",",
            "field \"Advertise\": old=, new=h:1",
        );
        refused(
            "port: 7422, no_advertise: true,",
            "field \"NoAdvertise\": old=false, new=true",
        );
        refused(
            "port: 7422, min_version: \"2.9.0\",",
            "field \"MinVersion\": old=, new=2.9.0",
        );
        refused(
            "port: 7422, isolate: true,",
            "field \"IsolateLeafnodeInterest\": old=false, new=true",
        );
        // nats-server shows an unset dial timeout as 0s; we keep the default (1s).
        refused(
            "port: 7422, dial_timeout: \"3s\",",
            "field \"DialTimeout\": old=1s, new=3s",
        );
        // A random port in the new config keeps the current one.
        assert!(changes("port: -1,", "").unwrap().is_empty());
        let noted = |line: &str| -> Result<Vec<(String, String)>, String> {
            Ok(vec![(line.to_string(), String::new())])
        };
        assert_eq!(
            changes("port: 7422, compression: off,", ""),
            noted("LeafNode Compression value is: {off []}")
        );
        // `on` is the default, `s2_auto`.
        assert!(changes("port: 7422, compression: on,", "")
            .unwrap()
            .is_empty());
        let name = "remote urls=[\"nats://u:xxxxx@127.0.0.1:7999\"], account=\"$G\"";
        let remote_refused = |keys: &str, what: &str| {
            assert_eq!(
                changes("port: 7422,", keys).unwrap_err(),
                format!("config reload not supported for LeafNode: {name}: {what}")
            );
        };
        remote_refused(", hub: true", "field \"Hub\": old=false, new=true");
        remote_refused(
            ", deny_imports: [\"a\"]",
            "field \"DenyImports\": old=[], new=[a]",
        );
        remote_refused(
            ", first_info_timeout: \"2s\"",
            "field \"FirstInfoTimeout\": old=1s, new=2s",
        );
        remote_refused(
            ", dial_timeout: \"2s\"",
            "field \"DialTimeout\": old=0s, new=2s",
        );
        remote_refused(
            ", dont_randomize: true",
            "field \"NoRandomize\": old=false, new=true",
        );
        remote_refused(", tls: {timeout: 3}", "field \"TLSTimeout\": old=0, new=3");
        remote_refused(
            ", proxy: {url: \"http://p:1\"}",
            "field \"Proxy\": only the proxy TLS configuration can be changed",
        );
        let name = &name["remote ".len()..];
        assert_eq!(
            changes("port: 7422,", ", compression: off"),
            noted(&format!(
                "LeafNode Remote {name} Compression value is: {{off []}}"
            ))
        );
        assert_eq!(
            changes("port: 7422,", ", disabled: true"),
            noted(&format!("LeafNode Remote {name} Disabled value is: true"))
        );
        // Remotes are matched by name: another URL is a removed remote and an added one.
        let moved = "leafnodes { port: 7422, remotes: [ {url: \"nats://127.0.0.1:7998\"} ] }";
        assert_eq!(
            old.diff_reloadable(&load(moved)),
            noted(&format!("LeafNode Remote {name} removed"))
        );
        let added = format!(
            "leafnodes {{ port: 7422, remotes: [ {remote} }}, {{url: \"nats://127.0.0.1:7998\"}} ] }}"
        );
        assert!(old.diff_reloadable(&load(&added)).unwrap().is_empty());
        // Leaf nodes can't be turned on by a reload; a block without listener is no change.
        let none = load("port: 4222");
        assert_eq!(
            none.diff_reloadable(&load("leafnodes { port: 7422 }"))
                .unwrap_err(),
            "config reload not supported for LeafNode: field \"Host\": old=, new=0.0.0.0"
        );
        assert!(none
            .diff_reloadable(&load("leafnodes {}"))
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

    #[test]
    fn reload_gateway_refuses_changes() {
        let load = |text: &str| with_flags(text, &[]).unwrap();
        let base = "gateway { name: a, port: 7222 }";
        let old = load(base);
        let changes = |text: &str| old.diff_reloadable(&load(text));
        assert_eq!(changes(base), Ok(Vec::new()));
        // A random port keeps the current one.
        assert_eq!(changes("gateway { name: a, port: -1 }"), Ok(Vec::new()));
        assert_eq!(
            changes("gateway { name: a, port: 7222, connect_retries: 3 }").unwrap_err(),
            "config reload not supported for Gateway: \
             old={a 0.0.0.0 7222   2 <nil> 2 false false map[]  0 false [] false 0s  <nil> 0 <nil>}, \
             new={a 0.0.0.0 7222   2 <nil> 2 false false map[]  3 false [] false 0s  <nil> 0 <nil>}"
        );
        assert_eq!(
            changes("port: 4222").unwrap_err(),
            "config reload not supported for Gateway: \
             old={a 0.0.0.0 7222   2 <nil> 2 false false map[]  0 false [] false 0s  <nil> 0 <nil>}, \
             new={  0   0 <nil> 0 false false map[]  0 false [] false 0s  <nil> 0 <nil>}"
        );
        let full = "gateway { name: a, port: 7222, advertise: \"h:1\", connect_retries: 2, \
                    connect_backoff: true, reject_unknown: true, write_deadline: \"3s\", \
                    write_timeout: retry, authorization { user: u, password: p, timeout: 0.5 } }";
        let old = load(full);
        let retried = full.replace("connect_retries: 2", "connect_retries: 3");
        assert_eq!(
            old.diff_reloadable(&load(&retried)).unwrap_err(),
            "config reload not supported for Gateway: \
             old={a 0.0.0.0 7222 u p 0.5 <nil> 2 false false map[] h:1 2 true [] true 3s retry <nil> 0 <nil>}, \
             new={a 0.0.0.0 7222 u p 0.5 <nil> 2 false false map[] h:1 3 true [] true 3s retry <nil> 0 <nil>}"
        );
        // Remotes compare in name order, with their URLs (credentials included).
        let remotes = |list: &str| {
            load(&format!(
                "gateway {{ name: a, port: 7222, gateways: [{list}] }}"
            ))
        };
        let old = remotes("{name: b, url: \"nats://h:1\"}, {name: c, url: \"nats://h:2\"}");
        let swapped = remotes("{name: c, url: \"nats://h:2\"}, {name: b, url: \"nats://h:1\"}");
        assert_eq!(old.diff_reloadable(&swapped), Ok(Vec::new()));
        let moved = remotes("{name: b, url: \"nats://u:p@h:3\"}, {name: c, url: \"nats://h:2\"}");
        assert_eq!(
            old.diff_reloadable(&moved).unwrap_err(),
            "config reload not supported for Gateway: \
             old={a 0.0.0.0 7222   2 <nil> 2 false false map[]  0 false [{b [nats://h:1]} {c [nats://h:2]}] false 0s  <nil> 0 <nil>}, \
             new={a 0.0.0.0 7222   2 <nil> 2 false false map[]  0 false [{b [nats://h:3]} {c [nats://h:2]}] false 0s  <nil> 0 <nil>}"
        );
    }
}
