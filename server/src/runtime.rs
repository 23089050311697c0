//! The configuration snapshot the workers read: per-connection [`Limits`], the auth state and
//! the INFO template, built from [`Options`] at start and replaced as a whole by a reload
//! (workers notice a bumped generation number with one atomic load per loop iteration; see
//! [`crate::shared::Shared::runtime`]).

use crate::auth::operator::Trust;
use crate::auth::{AuthConfig, CertAuth};
use crate::info::{Info, GANNET_VERSION, NATS_VERSION};
use crate::opts::Options;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest timer the workers schedule: config durations beyond it (say `"99999999h"`) are
/// clamped so that deadline arithmetic can never overflow.
pub const TIMER_MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Limits and switches the workers apply per connection, taken from [`Options`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message.
    pub max_payload: usize,
    /// Largest control-line argument.
    pub max_control_line: usize,
    /// Outbound bytes before a slow-consumer close.
    pub max_pending: usize,
    /// Subscriptions per connection; 0 = unlimited.
    pub max_subscriptions: usize,
    /// Tokens per subscription subject; 0 = unlimited.
    pub max_sub_tokens: usize,
    /// Connections; at or over it new clients are refused.
    pub max_connections: i64,
    /// Keepalive period.
    pub ping_interval: Duration,
    /// Unanswered PINGs before `Stale Connection`.
    pub ping_max: u32,
    /// A write that makes no progress for this long closes the connection.
    pub write_deadline: Duration,
    /// Time allowed for CONNECT when auth is required.
    pub auth_timeout: Duration,
    /// Server supports headers.
    pub headers: bool,
    /// Drop a delivery to a stalled subscriber instead of stalling its publisher.
    pub no_fast_producer_stall: bool,
}

/// The configuration snapshot workers read.
#[derive(Debug)]
pub struct Runtime {
    /// The options it was built from.
    pub opts: Options,
    /// Per-connection limits.
    pub limits: Limits,
    /// Client authentication.
    pub auth: AuthConfig,
    /// How TLS client certificates take part in authentication.
    pub cert_auth: CertAuth,
    /// The INFO template (no per-connection fields).
    pub info: Info,
    /// WebSocket clients' own settings, when the WebSocket port is open.
    pub ws: Option<WsRuntime>,
}

/// What differs for clients on the WebSocket port (nats-server's websocket auth override
/// and `generateClientInfoJSON`).
#[derive(Debug)]
pub struct WsRuntime {
    /// Their authentication: the block's user, token or `no_auth_user` when set, else the
    /// server's.
    pub auth: AuthConfig,
    /// The block's `authorization.timeout`, else the server's.
    pub auth_timeout: Duration,
    /// The block's `ping_interval`, else the server's.
    pub ping_interval: Duration,
    /// Their INFO template: the WebSocket listener's host and port, TLS as that listener
    /// has it, `auth_required` as their auth says.
    pub info: Info,
}

impl Runtime {
    /// Builds the snapshot for `opts`, with the server identity and the bound address.
    pub fn new(
        opts: Options,
        ids: &ServerIds,
        bound: SocketAddr,
        ws_bound: Option<SocketAddr>,
        trust: Option<&Arc<Trust>>,
    ) -> Runtime {
        let limits = Limits {
            max_payload: opts.max_payload.max(0) as usize,
            max_control_line: opts.max_control_line.max(0) as usize,
            max_pending: opts.max_pending.max(0) as usize,
            max_subscriptions: opts.max_subscriptions.max(0) as usize,
            max_sub_tokens: opts.max_sub_tokens as usize,
            max_connections: opts.max_connections,
            ping_interval: opts
                .ping_interval
                .clamp(Duration::from_millis(1), TIMER_MAX),
            ping_max: opts.ping_max.max(0) as u32,
            write_deadline: opts.write_deadline.min(TIMER_MAX),
            auth_timeout: opts.auth_timeout.min(TIMER_MAX),
            headers: !opts.no_header_support,
            no_fast_producer_stall: opts.no_fast_producer_stall,
        };
        let auth = AuthConfig::from_opts(&opts, trust);
        let cert_auth = CertAuth::from_opts(&opts);
        let tls = opts.tls.as_ref();
        let (host, port) = advertised(&opts, bound);
        let server_name = if opts.server_name.is_empty() {
            ids.server_id.clone()
        } else {
            opts.server_name.clone()
        };
        let info = Info {
            server_id: ids.server_id.clone(),
            server_name,
            version: NATS_VERSION.to_string(),
            proto: 1,
            git_commit: crate::info::GIT_COMMIT.to_string(),
            go: format!("gannet{GANNET_VERSION}"),
            host,
            port,
            headers: limits.headers,
            auth_required: auth.info_auth_required() || cert_auth.requires_auth(),
            tls_required: tls.is_some() && !opts.allow_non_tls,
            tls_verify: tls
                .and_then(|t| t.server.as_ref())
                .is_some_and(|s| s.client_cert_required),
            tls_available: tls.is_some() && opts.allow_non_tls,
            max_payload: limits.max_payload as i64,
            // Clients of a cluster member see its name (a generated one is left out).
            cluster: opts
                .cluster
                .as_ref()
                .filter(|c| c.port != 0)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            api_lvl: 5,
            xkey: ids.xkey.clone(),
            ..Info::default()
        };
        let ws = ws_bound.and_then(|b| ws_runtime(&opts, &limits, &info, b, trust));
        Runtime {
            opts,
            limits,
            auth,
            cert_auth,
            info,
            ws,
        }
    }

    /// The authentication of a client (a WebSocket one: `websocket`).
    pub fn auth_for(&self, websocket: bool) -> &AuthConfig {
        match (&self.ws, websocket) {
            (Some(ws), true) => &ws.auth,
            _ => &self.auth,
        }
    }

    /// Whether a client must authenticate.
    pub fn auth_required_for(&self, websocket: bool) -> bool {
        match (&self.ws, websocket) {
            (Some(ws), true) => ws.auth.required() || ws.info.auth_required,
            _ => self.auth_required(),
        }
    }

    /// A client's auth timeout.
    pub fn auth_timeout_for(&self, websocket: bool) -> Duration {
        match (&self.ws, websocket) {
            (Some(ws), true) => ws.auth_timeout,
            _ => self.limits.auth_timeout,
        }
    }

    /// A client's PING interval.
    pub fn ping_interval_for(&self, websocket: bool) -> Duration {
        match (&self.ws, websocket) {
            (Some(ws), true) => ws.ping_interval,
            _ => self.limits.ping_interval,
        }
    }

    /// Whether clients must authenticate (auth timer, CONNECT first).
    pub fn auth_required(&self) -> bool {
        self.auth.required() || self.cert_auth.requires_auth()
    }

    /// The INFO JSON a connection gets first. `tls_first`: it is sent after a handshake-first
    /// TLS handshake, and then says `tls_required` even with `allow_non_tls` (nats-server).
    /// A WebSocket client gets its listener's template.
    #[allow(clippy::too_many_arguments)]
    pub fn initial_info(
        &self,
        cid: u64,
        peer: &SocketAddr,
        nonce: &str,
        max_payload: usize,
        tls_first: bool,
        connect_urls: &[String],
        websocket: bool,
    ) -> Vec<u8> {
        if websocket || !tls_first || self.info.tls_required {
            return self.client_info(cid, peer, None, nonce, max_payload, connect_urls, websocket);
        }
        let mut info = self.info.clone();
        info.connect_urls = connect_urls.to_vec();
        info.tls_required = true;
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.nonce = nonce.to_string();
        info.max_payload = max_payload as i64;
        info.to_json()
    }

    /// INFO JSON for one client: the template plus `client_id`, `client_ip`, the nonce, its
    /// max payload and the cluster's client URLs, and after the first PONG the
    /// `connect_info` fields (`account` set).
    #[allow(clippy::too_many_arguments)]
    pub fn client_info(
        &self,
        cid: u64,
        peer: &SocketAddr,
        account: Option<&str>,
        nonce: &str,
        max_payload: usize,
        connect_urls: &[String],
        websocket: bool,
    ) -> Vec<u8> {
        // WebSocket clients get their listener's template; `connect_urls` are then the
        // cluster's WebSocket URLs.
        let mut info = match (&self.ws, websocket) {
            (Some(ws), true) => ws.info.clone(),
            _ => self.info.clone(),
        };
        info.connect_urls = connect_urls.to_vec();
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.nonce = nonce.to_string();
        info.max_payload = max_payload as i64;
        if let Some(account) = account {
            info.connect_info = true;
            info.remote_account = account.to_string();
        }
        info.to_json()
    }

    /// INFO JSON announcing lame duck mode to one client.
    pub fn lame_duck_info(&self, cid: u64, peer: &SocketAddr) -> Vec<u8> {
        let mut info = self.info.clone();
        info.client_id = cid;
        info.client_ip = peer.ip().to_string();
        info.ldm = true;
        info.to_json()
    }
}

/// The INFO host and port: `client_advertise` if set, else the listen address.
fn advertised(opts: &Options, bound: SocketAddr) -> (String, u16) {
    if !opts.client_advertise.is_empty() {
        let adv = opts.client_advertise.as_str();
        if let Some((host, port)) = adv.rsplit_once(':') {
            if let Ok(p) = port.parse::<i32>() {
                let p = if p <= 0 { bound.port() } else { p as u16 };
                return (host.trim_matches(|c| c == '[' || c == ']').to_string(), p);
            }
        }
        return (adv.to_string(), bound.port());
    }
    (opts.host.clone(), bound.port())
}

/// The server's identity keys, new on every start.
#[derive(Debug, Clone)]
pub struct ServerIds {
    /// Public server nkey (`N…`).
    pub server_id: String,
    /// Public x25519 key (`X…`).
    pub xkey: String,
}

impl ServerIds {
    /// Fresh random keys.
    pub fn generate() -> ServerIds {
        let server_id = nkeys::KeyPair::new_server().public_key();
        let xkey = nkeys::XKey::new().public_key();
        ServerIds { server_id, xkey }
    }
}

/// WebSocket clients' settings (`ws_bound`: where their listener is bound).
fn ws_runtime(
    opts: &Options,
    limits: &Limits,
    info: &Info,
    ws_bound: SocketAddr,
    trust: Option<&Arc<Trust>>,
) -> Option<WsRuntime> {
    let ws = opts.websocket.as_ref()?;
    let auth = if !ws.username.is_empty() {
        AuthConfig::User {
            user: ws.username.clone(),
            pass: ws.password.clone(),
        }
    } else if !ws.token.is_empty() {
        AuthConfig::Token(ws.token.clone())
    } else if !ws.no_auth_user.is_empty() {
        let mut with_default = opts.clone();
        with_default.no_auth_user = ws.no_auth_user.clone();
        AuthConfig::from_opts(&with_default, trust)
    } else {
        AuthConfig::from_opts(opts, trust)
    };
    let mut ws_info = info.clone();
    ws_info.host = ws_bound.ip().to_string();
    ws_info.port = ws_bound.port();
    ws_info.tls_required = ws.tls.is_some();
    ws_info.tls_available = ws.tls.is_some();
    ws_info.tls_verify = false;
    ws_info.connect_urls = Vec::new();
    // With its own credentials the block requires them, whatever the server's say.
    ws_info.auth_required = ws.auth_override() || info.auth_required;
    Some(WsRuntime {
        auth,
        auth_timeout: if ws.auth_timeout.is_zero() {
            limits.auth_timeout
        } else {
            ws.auth_timeout.min(TIMER_MAX)
        },
        ping_interval: if ws.ping_interval.is_zero() {
            limits.ping_interval
        } else {
            ws.ping_interval.clamp(Duration::from_millis(1), TIMER_MAX)
        },
        info: ws_info,
    })
}
