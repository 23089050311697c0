//! A small blocking HTTP/1.1 server for the monitoring port: one thread accepts, each request
//! is answered on a short-lived thread (bounded in number), and every answer closes the
//! connection. Monitoring traffic is light; what matters is that it never touches a worker
//! thread except through the snapshot messages the handlers send.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest request head accepted (nats-server allows 1 MiB).
const REQUEST_HEAD_MAX_BYTES: usize = 1 << 20;
/// Time allowed to send the request head (nats-server: 5 s).
const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered at once; more wait in the listen backlog.
const IN_FLIGHT_MAX: usize = 32;

/// A parsed request: the path (without query) and the query parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Path, percent-decoded.
    pub path: String,
    /// Query parameters, percent-decoded.
    pub query: Vec<(String, String)>,
}

impl Request {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Whether to send `Access-Control-Allow-Origin: *` (JSON endpoints do).
    pub cors: bool,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with a JSON body.
    pub fn json(body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type: "application/json",
            cors: true,
            body,
        }
    }

    /// An error as plain text (nats-server's parameter errors are 400 text/plain).
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            cors: false,
            body: body.into().into_bytes(),
        }
    }

    /// Go's `404 page not found`.
    pub fn not_found() -> Response {
        Response::text(404, "404 page not found\n")
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decoding, with `+` as space in query strings.
fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request target (`/connz?subs=1&acc=A`).
pub fn parse_target(target: &str) -> Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    Request {
        path: decode(path, false),
        query,
    }
}

fn read_request(stream: impl io::Read) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut total = 0;
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let target = line.split_whitespace().nth(1).map(str::to_owned);
    // Skip the headers; the body of a POST is not used.
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h)?;
        total += n;
        if n == 0 || h == "\r\n" || h == "\n" || total > REQUEST_HEAD_MAX_BYTES {
            break;
        }
    }
    Ok(target.map(|t| parse_target(&t)))
}

fn write_response(mut stream: impl Write, resp: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    if resp.cors {
        head.push_str("Access-Control-Allow-Origin: *\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&resp.body)?;
    stream.flush()
}

/// Reads one request from `stream` (over TLS when `tls` is given) and answers it.
fn exchange(
    stream: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
) -> io::Result<()> {
    // The timeout covers the TLS handshake and the request head.
    stream.set_read_timeout(Some(READ_HEADER_TIMEOUT))?;
    match tls {
        None => {
            if let Some(req) = read_request(&stream)? {
                write_response(&stream, &handler(&req))?;
            }
        }
        Some(config) => {
            let session =
                rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(session, stream);
            if let Some(req) = read_request(&mut tls)? {
                write_response(&mut tls, &handler(&req))?;
                tls.conn.send_close_notify();
                tls.flush()?;
            }
        }
    }
    Ok(())
}

/// Serves requests with `handler` until the process exits; over TLS with `tls`.
pub fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        while in_flight.load(Ordering::Acquire) >= IN_FLIGHT_MAX {
            std::thread::sleep(Duration::from_millis(5));
        }
        in_flight.fetch_add(1, Ordering::AcqRel);
        let handler = handler.clone();
        let in_flight2 = in_flight.clone();
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name("gannet-http".into())
            .spawn(move || {
                let _ = exchange(stream, tls.as_ref(), &*handler);
                in_flight2.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let r = parse_target("/connz?subs=detail&acc=A%20B&sort=cid&x");
        assert_eq!(r.path, "/connz");
        assert_eq!(r.param("subs"), Some("detail"));
        assert_eq!(r.param("acc"), Some("A B"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(r.param("nope"), None);
        assert_eq!(parse_target("/varz").query, vec![]);
        assert_eq!(decode("%zz%4", false), "%zz%4");
    }
}
