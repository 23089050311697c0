//! The `websocket {}` block (alias `ws`): nats-server's keys, aliases, error texts and
//! startup checks (`parseWebsocket`, `validateWebsocketOptions` in `opts.go` and
//! `websocket.go`).

use super::config::{boolean, int, listen, owned, type_error, unknown_field, Report};
use super::Options;
use crate::conf::{Entry, Value, ValueKind};
use crate::gofmt::{go_quote, parse_go_duration};
use crate::tls::config::TlsOptions;
use std::time::Duration;

/// The bind address when only a port is given.
const HOST_DEFAULT: &str = "0.0.0.0";
/// Response headers a `headers` entry may not set (compared without case).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "upgrade",
    "nats-no-masking",
];

/// The WebSocket listener's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebsocketOpts {
    /// Bind address (`host`, `net`, `listen`).
    pub host: String,
    /// Port; 0 means no WebSocket listener, -1 a random one.
    pub port: i64,
    /// `advertise`: the URL given to the cluster for this listener.
    pub advertise: String,
    /// `no_tls`: plain `ws://` allowed.
    pub no_tls: bool,
    /// `tls`: the listener is `wss://`.
    pub tls: Option<TlsOptions>,
    /// `same_origin`: the Origin must be the request's own host.
    pub same_origin: bool,
    /// `allowed_origins` and its aliases.
    pub allowed_origins: Vec<String>,
    /// `handshake_timeout`: time for the TLS handshake and the upgrade request; zero: none.
    pub handshake_timeout: Duration,
    /// `compression`: permessage-deflate when a client offers it.
    pub compression: bool,
    /// `authorization.user`: overrides the server's authorization for WebSocket clients.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.token`.
    pub token: String,
    /// `authorization.timeout`; zero: the server's `auth_timeout`.
    pub auth_timeout: Duration,
    /// `no_auth_user`: the identity of a CONNECT without credentials.
    pub no_auth_user: String,
    /// `jwt_cookie`: the cookie that carries a user JWT.
    pub jwt_cookie: String,
    /// `user_cookie`.
    pub user_cookie: String,
    /// `pass_cookie`.
    pub pass_cookie: String,
    /// `token_cookie`.
    pub token_cookie: String,
    /// `headers`: extra headers of the 101 response, in the file's order.
    pub headers: Vec<(String, String)>,
    /// `ping_interval`; zero: the server's.
    pub ping_interval: Duration,
}

impl WebsocketOpts {
    /// A listener is configured.
    pub fn is_configured(&self) -> bool {
        self.port != 0
    }

    /// WebSocket clients have their own authorization (`user`, `token` or `no_auth_user` in
    /// the block: nats-server's auth override; a `timeout` alone is none).
    pub fn auth_override(&self) -> bool {
        !self.username.is_empty() || !self.token.is_empty() || !self.no_auth_user.is_empty()
    }

    /// `ws` or `wss`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }

    /// Fills in the defaults. Safe to run more than once.
    pub(super) fn set_baseline(&mut self) {
        if self.port != 0 && self.host.is_empty() {
            self.host = HOST_DEFAULT.to_string();
        }
    }

    /// nats-server's startup checks, in its order.
    ///
    /// # Errors
    ///
    /// nats-server's text.
    pub(crate) fn validate(&self, opts: &Options) -> Result<(), String> {
        if !self.is_configured() {
            return Ok(());
        }
        if self.tls.is_none() && !self.no_tls {
            return Err("websocket requires TLS configuration".into());
        }
        for origin in &self.allowed_origins {
            check_origin(origin)?;
        }
        let has_users = !opts.users.is_empty();
        if !self.no_auth_user.is_empty() {
            if opts.operator_mode() {
                return Err("no_auth_user not compatible with Trusted Operator".into());
            }
            if !has_users {
                return Err(format!(
                    "no_auth_user: {} present, but users/nkeys are not defined",
                    go_quote(&self.no_auth_user)
                ));
            }
            let known = opts
                .users
                .iter()
                .any(|u| u.user == self.no_auth_user || u.nkey == self.no_auth_user);
            if !known {
                return Err(format!(
                    "no_auth_user: {} not present as user or nkey in authorization block or account configuration",
                    go_quote(&self.no_auth_user)
                ));
            }
        }
        if has_users && !self.username.is_empty() {
            return Err(
                "websocket authentication username not compatible with presence of users/nkeys"
                    .into(),
            );
        }
        if has_users && !self.token.is_empty() {
            return Err(
                "websocket authentication token not compatible with presence of users/nkeys".into(),
            );
        }
        if !self.jwt_cookie.is_empty() && !opts.operator_mode() {
            return Err(format!(
                "trusted operators or trusted keys configuration is required for JWT authentication via cookie {}",
                go_quote(&self.jwt_cookie)
            ));
        }
        for (name, _) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!(
                    "websocket: invalid header {} not allowed",
                    go_quote(name)
                ));
            }
            if lower.starts_with("sec-websocket-") {
                return Err(format!(
                    "websocket: invalid header {}, \"Sec-WebSocket-\" prefix not allowed",
                    go_quote(name)
                ));
            }
        }
        Ok(())
    }
}

/// An allowed origin must be an absolute http(s) URL with a host (`url.ParseRequestURI`).
fn check_origin(origin: &str) -> Result<(), String> {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!(
            "unable to parse allowed origin: parse {}: invalid URI for request",
            go_quote(origin)
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "unable to parse allowed origin {}: allowed origins must be absolute URLs with http or https scheme",
            go_quote(origin)
        ));
    }
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host_port.is_empty() {
        return Err(format!(
            "unable to parse allowed origin {}: host is required",
            go_quote(origin)
        ));
    }
    if let Some((_, port)) = host_port
        .rsplit_once(':')
        .filter(|_| !host_port.ends_with(']'))
    {
        if !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "unable to parse allowed origin: parse {}: invalid port {} after host",
                go_quote(origin),
                go_quote(&format!(":{port}"))
            ));
        }
    }
    Ok(())
}

impl Options {
    /// `websocket { … }` / `ws { … }` (`parseWebsocket`): each bad key is reported and the
    /// others are still read.
    pub(super) fn config_websocket(
        &mut self,
        v: &Value,
        report: &mut Report,
    ) -> Result<(), String> {
        let Some(entries) = v.as_map() else {
            return Err(format!(
                "{}: Expected websocket to be a map, got {}",
                v.pos,
                v.go_type_name()
            ));
        };
        let mut ws = self.websocket.take().unwrap_or_default();
        self.apply_block(&mut ws, entries, report, websocket_entry);
        self.websocket = Some(ws);
        Ok(())
    }
}

/// One key of the block.
fn websocket_entry(
    ws: &mut WebsocketOpts,
    entry: &Entry,
    report: &mut Report,
    unimplemented: &mut Vec<String>,
) -> Result<(), String> {
    let v = &entry.value;
    match entry.key.to_lowercase().as_str() {
        "listen" => (ws.host, ws.port) = listen(v)?,
        "port" => ws.port = int(v)?,
        "host" | "net" => ws.host = owned(v)?,
        "advertise" => ws.advertise = owned(v)?,
        "no_tls" => ws.no_tls = boolean(v)?,
        "tls" => {
            let (mut tls, ignored) = crate::tls::config::parse_tls(v)?;
            tls.build().map_err(|e| format!("{}: {e}", v.pos))?;
            unimplemented.extend(
                ignored
                    .into_iter()
                    .map(|key| format!("websocket.tls.{key}")),
            );
            ws.tls = Some(tls);
        }
        "same_origin" => ws.same_origin = boolean(v)?,
        "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin" | "origins"
        | "origin" => ws.allowed_origins = origins(v)?,
        "handshake_timeout" => ws.handshake_timeout = handshake_timeout(v)?,
        "compression" | "compress" => ws.compression = boolean(v)?,
        "authorization" | "authentication" => authorization(ws, v, report)?,
        "jwt_cookie" => ws.jwt_cookie = owned(v)?,
        "user_cookie" => ws.user_cookie = owned(v)?,
        "pass_cookie" => ws.pass_cookie = owned(v)?,
        "token_cookie" => ws.token_cookie = owned(v)?,
        "no_auth_user" => ws.no_auth_user = owned(v)?,
        "headers" => ws.headers = headers(v)?,
        "ping_interval" => ws.ping_interval = super::config::duration("ping_interval", v, report)?,
        _ if !entry.used_as_variable => return Err(unknown_field(entry)),
        _ => {}
    }
    Ok(())
}

fn origins(v: &Value) -> Result<Vec<String>, String> {
    match &v.kind {
        ValueKind::Str(s) => Ok(vec![s.clone()]),
        ValueKind::Array(items) => items
            .iter()
            .map(|item| match &item.kind {
                ValueKind::Str(s) => Ok(s.clone()),
                _ => Err(format!(
                    "{}: error parsing allowed origins: unsupported type in array {}",
                    item.pos,
                    item.go_type_name()
                )),
            })
            .collect(),
        _ => Err(format!(
            "{}: error parsing allowed origins: unsupported type {}",
            v.pos,
            v.go_type_name()
        )),
    }
}

/// Seconds as an integer, or a Go duration string.
fn handshake_timeout(v: &Value) -> Result<Duration, String> {
    match &v.kind {
        ValueKind::Int(n) => Ok(Duration::from_secs(u64::try_from(*n).unwrap_or(0))),
        ValueKind::Str(text) => {
            let nanos = parse_go_duration(text).map_err(|e| format!("{}: {e}", v.pos))?;
            Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
        }
        _ => Err(format!(
            "{}: error parsing handshake timeout: unsupported type {}",
            v.pos,
            v.go_type_name()
        )),
    }
}

/// `authorization { user, password, token, timeout }`: nothing else (no users, no nkeys).
fn authorization(ws: &mut WebsocketOpts, v: &Value, report: &mut Report) -> Result<(), String> {
    let Some(entries) = v.as_map() else {
        return Err(type_error(v, "map[string]interface {}"));
    };
    for e in entries {
        let value = &e.value;
        match e.key.to_lowercase().as_str() {
            "user" | "username" => ws.username = owned(value)?,
            "pass" | "password" => ws.password = owned(value)?,
            "token" => ws.token = owned(value)?,
            "timeout" => {
                ws.auth_timeout = match &value.kind {
                    ValueKind::Int(_) | ValueKind::Float(_) | ValueKind::Str(_) => {
                        super::config::auth_timeout("timeout", value, report)?
                    }
                    // nats-server reads any other type as one second.
                    _ => Duration::from_secs(1),
                }
            }
            _ if !e.used_as_variable => return Err(unknown_field(e)),
            _ => {}
        }
    }
    Ok(())
}

fn headers(v: &Value) -> Result<Vec<(String, String)>, String> {
    let Some(entries) = v.as_map() else {
        return Err(format!(
            "{}: error parsing headers: unsupported type {}",
            v.pos,
            v.go_type_name()
        ));
    };
    entries
        .iter()
        .map(|e| match &e.value.kind {
            ValueKind::Str(s) => Ok((e.key.clone(), s.clone())),
            _ => Err(format!(
                "{}: error parsing header key {}: unsupported type {}",
                e.value.pos,
                e.key,
                e.value.go_type_name()
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, String> {
        match crate::opts::test_support::config(text) {
            Ok((o, _)) => Ok(o),
            Err(crate::opts::Error::Config { errors, .. }) => Err(errors.join("\n")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn keys_and_aliases() {
        let o = parse(
            "ws { listen: \"127.0.0.1:8080\", no_tls: true, same_origin: true, \
             origins: [\"http://a.com\"], handshake_timeout: \"2s\", compress: true, \
             authentication { user: u, pass: p, timeout: 3 }, jwt_cookie: j, \
             no_auth_user: bob, headers { X-A: b }, advertise: \"h:1\" }",
        )
        .unwrap();
        let ws = o.websocket.unwrap();
        assert_eq!((ws.host.as_str(), ws.port), ("127.0.0.1", 8080));
        assert!(ws.no_tls && ws.same_origin && ws.compression);
        assert_eq!(ws.allowed_origins, ["http://a.com"]);
        assert_eq!(ws.handshake_timeout, Duration::from_secs(2));
        assert_eq!((ws.username.as_str(), ws.password.as_str()), ("u", "p"));
        assert_eq!(ws.auth_timeout, Duration::from_secs(3));
        assert_eq!(ws.headers, [("X-A".to_string(), "b".to_string())]);
        assert_eq!(ws.advertise, "h:1");
        assert!(o.not_implemented.is_empty(), "{:?}", o.not_implemented);
    }

    #[test]
    fn startup_checks() {
        let check = |text: &str| {
            let o = parse(text).unwrap();
            o.websocket.as_ref().unwrap().validate(&o)
        };
        assert_eq!(
            check("websocket { port: 1 }").unwrap_err(),
            "websocket requires TLS configuration"
        );
        assert_eq!(
            check("websocket { port: 1, no_tls: true, allowed_origins: [\"ftp://x.com\"] }")
                .unwrap_err(),
            "unable to parse allowed origin \"ftp://x.com\": allowed origins must be absolute URLs with http or https scheme"
        );
        assert_eq!(
            check("websocket { port: 1, no_tls: true, allowed_origins: [\"foo\"] }").unwrap_err(),
            "unable to parse allowed origin: parse \"foo\": invalid URI for request"
        );
        assert_eq!(
            check("websocket { port: 1, no_tls: true, no_auth_user: bob }").unwrap_err(),
            "no_auth_user: \"bob\" present, but users/nkeys are not defined"
        );
        assert_eq!(
            check(
                "authorization { users: [{user: a, password: b}] }\n\
                 websocket { port: 1, no_tls: true, authorization { user: x, password: y } }"
            )
            .unwrap_err(),
            "websocket authentication username not compatible with presence of users/nkeys"
        );
        assert_eq!(
            check("websocket { port: 1, no_tls: true, headers { Upgrade: x } }").unwrap_err(),
            "websocket: invalid header \"Upgrade\" not allowed"
        );
        assert_eq!(
            check("websocket { port: 1, no_tls: true, jwt_cookie: jwt }").unwrap_err(),
            "trusted operators or trusted keys configuration is required for JWT authentication via cookie \"jwt\""
        );
        assert!(check("websocket { port: 1, no_tls: true }").is_ok());
    }

    #[test]
    fn type_errors() {
        assert!(parse("websocket: 1")
            .unwrap_err()
            .contains("Expected websocket to be a map, got int64"));
        assert!(parse("websocket { port: 1, no_tls: true, bogus: 1 }")
            .unwrap_err()
            .contains("unknown field \"bogus\""));
        assert!(
            parse("websocket { port: 1, no_tls: true, handshake_timeout: true }")
                .unwrap_err()
                .contains("error parsing handshake timeout: unsupported type bool")
        );
    }
}
