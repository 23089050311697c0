//! WebSocket clients, the parts that are not framing (`protocol::ws`): the HTTP upgrade with
//! nats-server's checks, statuses and 101 response (`websocket.go`: `wsUpgrade`,
//! `wsCheckOrigin`), permessage-deflate for outgoing and incoming data, and the close status
//! of each close reason. No I/O: the worker feeds bytes in (`worker::ws`).

use crate::opts::WebsocketOpts;
use base64::Engine;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// RFC 6455's key suffix.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Longest upgrade request head. Go's net/http allows 1 MiB; a WebSocket upgrade carries a
/// few headers and cookies, and this buffer lives on a worker.
pub const HEAD_MAX_BYTES: usize = 64 * 1024;
/// Outgoing data at or below this size is sent uncompressed even when deflate was
/// negotiated (nats-server's `wsCompressThreshold`).
pub const COMPRESS_THRESHOLD: usize = 64;
/// Largest frame payload sent to a browser (nats-server splits browser frames at 4 KiB).
pub const BROWSER_FRAME_MAX: usize = 4096;

/// What a successful upgrade negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The 101 response, ready to write.
    pub response: Vec<u8>,
    /// permessage-deflate both ways.
    pub deflate: bool,
    /// The client sends unmasked frames (`Nats-No-Masking: true`).
    pub no_masking: bool,
    /// A browser (`User-Agent: Mozilla/…`): frames of at most [`BROWSER_FRAME_MAX`].
    pub browser: bool,
    /// Safari: compressed data is never fragmented.
    pub safari: bool,
    /// Credentials from the cookies named in the options: jwt, user, pass, token.
    pub cookies: Cookies,
    /// The path ends in `/leafnode`: a leaf node connection, not a client (nats-server
    /// `wsUpgrade`).
    pub leaf: bool,
    /// The first `X-Forwarded-For` value when it is one IP address (a proxy's client):
    /// log lines name it before the socket's peer, as nats-server's do.
    pub forwarded_ip: Option<IpAddr>,
}

/// Credentials taken from cookies at the upgrade; each fills the CONNECT field it names
/// when CONNECT leaves it empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    /// `jwt_cookie`'s value.
    pub jwt: String,
    /// `user_cookie`'s value.
    pub user: String,
    /// `pass_cookie`'s value.
    pub pass: String,
    /// `token_cookie`'s value.
    pub token: String,
}

/// A refused upgrade: the HTTP status to answer with (none: close without a word) and the
/// reason nats-server logs (`websocket handshake error: <reason>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status code, or `None` to close without a response.
    pub status: Option<u16>,
    /// The log reason.
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status: Some(status),
        reason: reason.into(),
    }
}

/// The end of the request head in `buf` (the index after its blank line), if complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// A parsed request head.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    http10: bool,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    fn parse(head: &'a str) -> Option<Request<'a>> {
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, path, version) = (first.next()?, first.next()?, first.next()?);
        if first.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        let mut headers = Vec::new();
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim(), value.trim_matches([' ', '\t'])));
        }
        Some(Request {
            method,
            path,
            http10: version == "HTTP/1.0",
            headers,
        })
    }

    /// Every value of header `name` (case-insensitive).
    fn values(&self, name: &str) -> impl Iterator<Item = &'a str> + '_ {
        let name = name.to_string();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| *v)
    }

    fn first(&self, name: &str) -> &'a str {
        self.values(name).next().unwrap_or("")
    }

    /// Whether a comma-separated token list in any `name` header holds `token`.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    }
}

/// Checks an upgrade request head (without its blank line's trailing bytes) against the
/// options, in nats-server's order, and builds the 101 response. `tls`: the listener is
/// `wss`, which decides the default port of a same-origin check.
pub fn upgrade(head: &[u8], ws: &WebsocketOpts, tls: bool) -> Result<Upgrade, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| refuse(400, "malformed request"))?;
    let req = Request::parse(text).ok_or_else(|| refuse(400, "malformed request"))?;
    let host = req.first("Host");
    if !req.http10 && host.is_empty() {
        return Err(refuse(400, "missing required Host header"));
    }
    if req.path.ends_with("/mqtt") {
        return Err(refuse(404, "mqtt websocket endpoint not enabled"));
    }
    if req.method != "GET" {
        return Err(refuse(405, "request method must be GET"));
    }
    if host.is_empty() {
        return Err(refuse(400, "'Host' missing in request"));
    }
    if !req.has_token("Upgrade", "websocket") {
        return Err(refuse(400, "invalid value for header 'Upgrade'"));
    }
    if !req.has_token("Connection", "Upgrade") {
        return Err(refuse(400, "invalid value for header 'Connection'"));
    }
    let key = req.first("Sec-WebSocket-Key");
    if key.is_empty() {
        return Err(refuse(400, "key missing"));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if decoded.map_or(true, |k| k.len() != 16) {
        return Err(refuse(400, "invalid websocket key"));
    }
    if !req.has_token("Sec-WebSocket-Version", "13") {
        return Err(refuse(400, "invalid version"));
    }
    check_origin(&req, ws, host, tls)
        .map_err(|why| refuse(403, format!("origin not allowed: {why}")))?;
    let deflate = ws.compression
        && req.values("Sec-WebSocket-Extensions").any(|v| {
            v.split([',', ';'])
                .any(|p| p.trim().eq_ignore_ascii_case("permessage-deflate"))
        });
    let no_masking = req.first("Nats-No-Masking") == "true";
    let agent = req.first("User-Agent");
    let browser = agent.starts_with("Mozilla/");
    let safari = browser && agent.contains("Version/") && agent.contains("Safari/");
    let response = response_101(key, deflate, no_masking, &ws.headers);
    Ok(Upgrade {
        response,
        deflate,
        no_masking,
        browser,
        safari,
        cookies: cookies(&req, ws),
        leaf: req.path.ends_with(LEAF_PATH),
        forwarded_ip: req.first("X-Forwarded-For").trim().parse().ok(),
    })
}

/// The path a leaf node dials on a hub's WebSocket port.
pub const LEAF_PATH: &str = "/leafnode";

/// The request path for a remote URL whose path is `url_path`: `/leafnode` after it, joined
/// and cleaned as Go's `path.Join` does (nats-server `leafNodeSolicitWSConnection`).
pub fn leaf_path(url_path: &str) -> String {
    let current = url_path.strip_prefix('/').unwrap_or(url_path);
    if current.is_empty() {
        return LEAF_PATH.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in current.split('/').chain(std::iter::once("leafnode")) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A leaf node's upgrade request to a hub's WebSocket port (nats-server
/// `leafNodeSolicitWSConnection`) for `path` ([`leaf_path`]): `key` is a fresh [`new_key`].
pub fn leaf_request(
    host_port: &str,
    path: &str,
    key: &str,
    compress: bool,
    no_masking: bool,
) -> Vec<u8> {
    let mut out = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    push_options(&mut out, compress, no_masking);
    out.push_str("\r\n");
    out.into_bytes()
}

/// The header lines of the two options both sides state the same way: permessage-deflate
/// without context takeover, and NATS's unmasked frames.
fn push_options(out: &mut String, deflate: bool, no_masking: bool) {
    if deflate {
        out.push_str("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n");
    }
    if no_masking {
        out.push_str("Nats-No-Masking: true\r\n");
    }
}

/// A random `Sec-WebSocket-Key`: 16 bytes, base64.
pub fn new_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

/// What a hub's answer to [`leaf_request`] settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// permessage-deflate (asked for, and granted with no context takeover both ways).
    pub deflate: bool,
    /// Our frames go unmasked (asked for, and granted).
    pub no_masking: bool,
}

/// Checks a hub's response head to [`leaf_request`] as nats-server does: 101, `Upgrade:
/// websocket`, `Connection: Upgrade`, the accept key of `key`; compression only when granted
/// without context takeover (granted otherwise: an error).
pub fn check_answer(
    head: &[u8],
    key: &str,
    compress: bool,
    no_masking: bool,
) -> Result<Answer, String> {
    const INVALID: &str = "invalid websocket connection";
    let text = std::str::from_utf8(head).map_err(|_| INVALID.to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split(' ');
    let version_ok = parts.next().is_some_and(|v| v.starts_with("HTTP/1."));
    if !version_ok || parts.next() != Some("101") {
        return Err(INVALID.into());
    }
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let first = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| *v)
    };
    if !first("Upgrade").eq_ignore_ascii_case("websocket")
        || !first("Connection").eq_ignore_ascii_case("upgrade")
        || first("Sec-WebSocket-Accept") != accept_key(key)
    {
        return Err(INVALID.into());
    }
    let mut deflate = false;
    if compress {
        let params: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .flat_map(|(_, v)| v.split([',', ';']))
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        if params.iter().any(|p| p == "permessage-deflate") {
            let no_ctx = params.iter().any(|p| p == "server_no_context_takeover")
                && params.iter().any(|p| p == "client_no_context_takeover");
            if !no_ctx {
                return Err("compression negotiation error".into());
            }
            deflate = true;
        }
    }
    Ok(Answer {
        deflate,
        no_masking: no_masking && first("Nats-No-Masking") == "true",
    })
}

fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn response_101(key: &str, deflate: bool, no_masking: bool, extra: &[(String, String)]) -> Vec<u8> {
    let accept = accept_key(key);
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    push_options(&mut out, deflate, no_masking);
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The response to a refused upgrade (Go's `http.Error` with the version header); the
/// connection is closed after it.
pub fn refusal_response(status: u16) -> Vec<u8> {
    let text = match status {
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{text}\n",
        text.len() + 1
    )
    .into_bytes()
}

/// `scheme://host[:port]` split into (scheme, lower-case host, port with the scheme's
/// default).
fn origin_parts(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let (host, port) = split_host_port(authority, default)?;
    Some((scheme.to_string(), host.to_ascii_lowercase(), port))
}

fn split_host_port(authority: &str, default: u16) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, p.parse().ok()?)),
            None => Some((host, default)),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Some((host, p.parse().ok()?)),
        None => Some((authority, default)),
    }
}

/// nats-server's `wsCheckOrigin`: skipped without `same_origin` and `allowed_origins`; no
/// Origin header passes.
fn check_origin(
    req: &Request<'_>,
    ws: &WebsocketOpts,
    host: &str,
    tls: bool,
) -> Result<(), String> {
    if !ws.same_origin && ws.allowed_origins.is_empty() {
        return Ok(());
    }
    let mut origin = req.first("Origin");
    if origin.is_empty() {
        origin = req.first("Sec-WebSocket-Origin");
    }
    if origin.is_empty() {
        return Ok(());
    }
    let Some((scheme, o_host, o_port)) = origin_parts(origin) else {
        return Err(format!(
            "parse {}: invalid URI for request",
            crate::gofmt::go_quote(origin)
        ));
    };
    if ws.same_origin {
        let (r_scheme, r_default) = if tls { ("https", 443) } else { ("http", 80) };
        let same = split_host_port(host, r_default).is_some_and(|(h, p)| {
            h.eq_ignore_ascii_case(&o_host) && p == o_port && scheme.eq_ignore_ascii_case(r_scheme)
        });
        if !same {
            return Err("not same origin".into());
        }
    }
    if !ws.allowed_origins.is_empty() {
        let allowed = ws
            .allowed_origins
            .iter()
            .filter_map(|a| origin_parts(a))
            .any(|(s, h, p)| h == o_host && s == scheme && p == o_port);
        if !allowed {
            return Err("not in the allowed list".into());
        }
    }
    Ok(())
}

fn cookies(req: &Request<'_>, ws: &WebsocketOpts) -> Cookies {
    let mut out = Cookies::default();
    let named = [
        (&ws.jwt_cookie, &mut out.jwt),
        (&ws.user_cookie, &mut out.user),
        (&ws.pass_cookie, &mut out.pass),
        (&ws.token_cookie, &mut out.token),
    ];
    for (name, slot) in named {
        if name.is_empty() {
            continue;
        }
        let found = req
            .values("Cookie")
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| n == name);
        if let Some((_, value)) = found {
            *slot = value.trim_matches('"').to_string();
        }
    }
    out
}

/// Deflates `data` as one permessage-deflate message (a fresh compressor: no context
/// takeover), without the sync flush's trailing `00 00 ff ff`.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    // Bounded: a round that leaves spare room after taking all input has flushed; otherwise
    // the room doubles, and deflate never needs more than the input and a little.
    for _ in 0..16 {
        let taken = c.total_in() as usize;
        if c.compress_vec(&data[taken..], &mut out, FlushCompress::Sync)
            .is_err()
        {
            break;
        }
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    if out.ends_with(&protocol::ws::DEFLATE_TAIL) {
        out.truncate(out.len() - 4);
    }
    out
}

/// Inflates one compressed message (its tail restored) onto `out`, refusing to produce more
/// than `max` bytes.
///
/// # Errors
///
/// nats-server's read error text.
pub fn inflate(mut compressed: Vec<u8>, max: usize, out: &mut Vec<u8>) -> Result<(), String> {
    compressed.extend_from_slice(&protocol::ws::DEFLATE_TAIL);
    let mut d = Decompress::new(false);
    let start = out.len();
    // Bounded: every round takes input or adds output (else it stops), and output stops at
    // `max`.
    loop {
        let (taken, made) = (d.total_in(), d.total_out());
        out.reserve(32 * 1024);
        let status = d
            .decompress_vec(&compressed[taken as usize..], out, FlushDecompress::Sync)
            .map_err(|e| format!("flate: {e}"))?;
        if out.len() - start > max {
            return Err("maximum payload exceeded".into());
        }
        let all_taken = d.total_in() as usize == compressed.len();
        let stuck = d.total_in() == taken && d.total_out() == made;
        if matches!(status, Status::StreamEnd) || stuck || (all_taken && out.len() < out.capacity())
        {
            return Ok(());
        }
    }
}

/// The close status nats-server sends for a close reason (`wsEnqueueCloseMessage`), and
/// whether it sends one at all (not after read and write errors, slow consumers and TLS
/// failures, which skip the flush).
pub fn close_status(reason: &str) -> Option<u16> {
    use protocol::ws::*;
    match reason {
        "Read Error"
        | "Write Error"
        | "Slow Consumer (Pending Bytes)"
        | "Slow Consumer (Write Deadline)"
        | "TLS Handshake Failure" => None,
        "Client Closed" => Some(CLOSE_NORMAL),
        "Authentication Timeout"
        | "Authentication Failure"
        | "Maximum Account Connections Exceeded"
        | "Maximum Connections Exceeded"
        | "Maximum Control Line Exceeded"
        | "Maximum Subscriptions Exceeded"
        | "Missing Account"
        | "Authentication Expired"
        | "Credentials Revoked" => Some(CLOSE_POLICY_VIOLATION),
        "Parse Error" | "Protocol Violation" | "Bad Client Protocol Version" => {
            Some(CLOSE_PROTOCOL_ERROR)
        }
        "Maximum Message Payload Exceeded" => Some(CLOSE_MESSAGE_TOO_BIG),
        "Stale Connection" | "Server Shutdown" => Some(CLOSE_GOING_AWAY),
        _ => Some(CLOSE_INTERNAL_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> WebsocketOpts {
        WebsocketOpts {
            port: 1,
            no_tls: true,
            ..WebsocketOpts::default()
        }
    }

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn accept_key_and_response() {
        let up = upgrade(GOOD.as_bytes(), &opts(), false).unwrap();
        let text = String::from_utf8(up.response).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        assert!(!up.deflate && !up.no_masking && !up.browser);
    }

    #[test]
    fn refusals_in_order() {
        let cases = [
            ("POST / HTTP/1.1\r\nHost: h\r\n\r\n", 405, "request method must be GET"),
            ("GET /x/mqtt HTTP/1.1\r\nHost: h\r\n\r\n", 404, "mqtt websocket endpoint not enabled"),
            ("GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"),
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid value for header 'Upgrade'"),
            ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", 400, "invalid value for header 'Connection'"),
            ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400, "key missing"),
            ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: abc\r\n\r\n", 400, "invalid websocket key"),
            ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 400, "invalid version"),
        ];
        for (head, status, reason) in cases {
            let err = upgrade(head.as_bytes(), &opts(), false).unwrap_err();
            assert_eq!(
                (err.status, err.reason.as_str()),
                (Some(status), reason),
                "{head}"
            );
        }
    }

    #[test]
    fn origins() {
        let with_origin =
            |origin: &str| GOOD.replace("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"));
        let mut o = opts();
        o.same_origin = true;
        assert!(upgrade(with_origin("http://127.0.0.1:8080").as_bytes(), &o, false).is_ok());
        let err = upgrade(with_origin("http://evil.com").as_bytes(), &o, false).unwrap_err();
        assert_eq!(err.reason, "origin not allowed: not same origin");
        let mut o = opts();
        o.allowed_origins = vec!["https://example.com".into()];
        assert!(upgrade(with_origin("https://example.com").as_bytes(), &o, false).is_ok());
        let err = upgrade(with_origin("http://example.com").as_bytes(), &o, false).unwrap_err();
        assert_eq!(err.reason, "origin not allowed: not in the allowed list");
        assert!(
            upgrade(GOOD.as_bytes(), &o, false).is_ok(),
            "no Origin passes"
        );
    }

    #[test]
    fn deflate_negotiation_masking_cookies() {
        let head = GOOD.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nNats-No-Masking: true\r\nUser-Agent: Mozilla/5.0\r\nCookie: a=1; jwt=abc\r\n\r\n",
        );
        let mut o = opts();
        o.compression = true;
        o.jwt_cookie = "jwt".into();
        let up = upgrade(head.as_bytes(), &o, false).unwrap();
        assert!(up.deflate && up.no_masking && up.browser && !up.safari);
        assert_eq!(up.cookies.jwt, "abc");
        let text = String::from_utf8(up.response).unwrap();
        assert!(text.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"));
        assert!(text.contains("Nats-No-Masking: true\r\n"));
        o.compression = false;
        assert!(!upgrade(head.as_bytes(), &o, false).unwrap().deflate);
    }

    #[test]
    fn leaf_request_and_answer() {
        let key = new_key();
        assert_eq!(leaf_path(""), "/leafnode");
        assert_eq!(leaf_path("/"), "/leafnode");
        assert_eq!(leaf_path("/nats"), "/nats/leafnode");
        assert_eq!(leaf_path("/a//b/./c/../"), "/a/b/leafnode");
        assert_eq!(leaf_path("/../x"), "/../x/leafnode");
        let req = leaf_request("hub:8080", "/leafnode", &key, true, true);
        let text = String::from_utf8(req.clone()).unwrap();
        assert!(text.starts_with("GET /leafnode HTTP/1.1\r\nHost: hub:8080\r\n"));
        // Our own upgrade check takes it, as a leaf.
        let mut o = opts();
        o.compression = true;
        let end = head_end(&req).unwrap();
        let up = upgrade(&req[..end], &o, false).unwrap();
        assert!(up.leaf && up.deflate && up.no_masking);
        let answer = check_answer(&up.response, &key, true, true).unwrap();
        assert_eq!(
            answer,
            Answer {
                deflate: true,
                no_masking: true
            }
        );
        // Not asked for: not used, whatever the answer says.
        let answer = check_answer(&up.response, &key, false, false).unwrap();
        assert_eq!(
            answer,
            Answer {
                deflate: false,
                no_masking: false
            }
        );
        assert!(check_answer(&up.response, "AAAAAAAAAAAAAAAAAAAAAA==", false, false).is_err());
        assert!(check_answer(b"HTTP/1.1 400 Bad Request\r\n\r\n", &key, false, false).is_err());
        let with_ctx = String::from_utf8(up.response.clone()).unwrap().replace(
            "; server_no_context_takeover; client_no_context_takeover",
            "",
        );
        assert_eq!(
            check_answer(with_ctx.as_bytes(), &key, true, false).unwrap_err(),
            "compression negotiation error"
        );
    }

    #[test]
    fn forwarded_for_is_one_address_or_nothing() {
        let with = |value: &str| {
            let head = GOOD.replace("\r\n\r\n", &format!("\r\nX-Forwarded-For: {value}\r\n\r\n"));
            upgrade(head.as_bytes(), &opts(), false)
                .unwrap()
                .forwarded_ip
        };
        assert_eq!(with("10.1.2.3"), Some("10.1.2.3".parse().unwrap()));
        assert_eq!(with("fd00::9"), Some("fd00::9".parse().unwrap()));
        // A list, a name or junk is not an address (Go's `net.ParseIP`).
        assert_eq!(with("10.1.2.3, 10.0.0.1"), None);
        assert_eq!(with("proxy.local"), None);
        assert_eq!(
            upgrade(GOOD.as_bytes(), &opts(), false)
                .unwrap()
                .forwarded_ip,
            None
        );
    }

    #[test]
    fn deflate_round_trip_and_limit() {
        let data = b"MSG foo 1 5\r\nhello\r\n".repeat(1000);
        let packed = deflate(&data);
        assert!(packed.len() < data.len() / 10);
        let mut out = Vec::new();
        inflate(packed.clone(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);
        let mut out = Vec::new();
        assert_eq!(
            inflate(packed, 1000, &mut out).unwrap_err(),
            "maximum payload exceeded"
        );
    }
}
