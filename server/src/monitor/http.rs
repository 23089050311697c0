//! A small blocking HTTP/1.1 server for the monitoring port: one thread accepts, each request
//! is answered on a short-lived thread (bounded in number), and every answer closes the
//! connection. Monitoring traffic is light; what matters is that it never touches a worker
//! thread except through the snapshot messages the handlers send.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest request head accepted (nats-server allows 1 MiB).
const REQUEST_HEAD_MAX_BYTES: usize = 1 << 20;
/// Time allowed for the TLS handshake and the request head together (nats-server: 5 s).
const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered at once. When all are taken, the one that has waited longest for its
/// request head is shed (see [`InFlight`]); otherwise newcomers wait in the listen backlog.
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
        431 => "Request Header Fields Too Large",
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

/// Why a request head was not read.
#[derive(Debug)]
enum HeadError {
    /// The head is longer than the limit: Go's net/http answers
    /// `431 Request Header Fields Too Large` and closes.
    TooLarge,
    /// The connection failed or timed out, or the deadline passed: Go just closes.
    Io(io::Error),
}

/// A byte source whose blocking reads can be bounded in time (a socket's read timeout).
trait ReadWait: Read {
    /// Makes the next reads give up after `wait`.
    fn set_read_wait(&mut self, wait: Duration) -> io::Result<()>;
}

impl ReadWait for &TcpStream {
    fn set_read_wait(&mut self, wait: Duration) -> io::Result<()> {
        (**self).set_read_timeout(Some(wait))
    }
}

/// A connection with a deadline on reading: before each read it checks the deadline and sets
/// the read timeout to the time left, so the reads together (the TLS handshake and the request
/// head) cannot outlast it, however slowly the client sends (Go's `ReadHeaderTimeout` is such
/// a deadline). Writes pass through.
struct Deadline<S> {
    inner: S,
    deadline: Instant,
}

impl<S: ReadWait> Read for Deadline<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head deadline passed",
            ));
        }
        self.inner.set_read_wait(left)?;
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Deadline<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Appends `bytes` to `out` without letting its capacity pass `cap` (when `out.len()` plus
/// `bytes.len()` does not): the usual doubling, cut at `cap`.
fn extend_capped(out: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    let need = out.len() + bytes.len();
    if need > out.capacity() {
        let want = out.capacity().saturating_mul(2).min(cap).max(need);
        out.reserve_exact(want - out.len());
    }
    out.extend_from_slice(bytes);
}

/// Reads one line, through its `\n`, into `line` (cleared first), spending `budget` bytes;
/// `limit` is the whole head's limit, which also caps `line`'s capacity. At the end of input
/// the line is what was read (empty when nothing was). Never reads a line past the budget:
/// a line that does not end within it is [`HeadError::TooLarge`].
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    budget: &mut usize,
    limit: usize,
) -> Result<(), HeadError> {
    line.clear();
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HeadError::Io(e)),
        };
        if chunk.is_empty() {
            return Ok(());
        }
        let (used, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if used > *budget {
            return Err(HeadError::TooLarge);
        }
        extend_capped(line, &chunk[..used], limit);
        *budget -= used;
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
}

/// Reads a request head of at most `limit` bytes (request line and headers together, like
/// Go's `MaxHeaderBytes`) and parses its target. `None` when the connection closed before a
/// request line, or the line has no target. The headers are skipped (the body of a POST is not
/// used); a head cut short by the end of input is answered all the same. Time limits are the
/// reader's (see [`Deadline`]).
fn read_head(stream: impl Read, limit: usize) -> Result<Option<Request>, HeadError> {
    let mut reader = BufReader::new(stream);
    let mut budget = limit;
    let mut line = Vec::new();
    read_line_bounded(&mut reader, &mut line, &mut budget, limit)?;
    if line.is_empty() {
        return Ok(None);
    }
    let target = String::from_utf8_lossy(&line)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned);
    loop {
        read_line_bounded(&mut reader, &mut line, &mut budget, limit)?;
        if line.is_empty() || line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    Ok(target.map(|t| parse_target(&t)))
}

/// Fuzz check: a request head of any bytes is read and its target parsed without a panic,
/// within the byte limit.
#[doc(hidden)]
pub fn fuzz_check_head(data: &[u8]) {
    let limit = data.first().map_or(64, |&b| 16 + usize::from(b) * 8);
    if let Ok(Some(req)) = read_head(data, limit) {
        let _ = req.param("subs");
    }
}

/// Reads one request head from `conn` and answers it; whether anything was written.
fn answer(
    conn: &mut (impl Read + Write),
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
    head_read: &dyn Fn(),
) -> io::Result<bool> {
    let head = read_head(&mut *conn, REQUEST_HEAD_MAX_BYTES);
    head_read();
    match head {
        Ok(Some(req)) => write_response(conn, &handler(&req)).map(|()| true),
        Ok(None) => Ok(false),
        Err(HeadError::TooLarge) => {
            let resp = Response::text(431, "431 Request Header Fields Too Large");
            write_response(conn, &resp).map(|()| true)
        }
        Err(HeadError::Io(e)) => Err(e),
    }
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
    head_read: &dyn Fn(),
) -> io::Result<()> {
    // The deadline covers the TLS handshake and the request head.
    let mut conn = Deadline {
        inner: &stream,
        deadline: Instant::now() + READ_HEADER_TIMEOUT,
    };
    match tls {
        None => {
            answer(&mut conn, handler, head_read)?;
        }
        Some(config) => {
            let session =
                rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(session, conn);
            if answer(&mut tls, handler, head_read)? {
                tls.conn.send_close_notify();
                tls.flush()?;
            }
        }
    }
    Ok(())
}

/// The connections being served, so that the accept loop can shed one when all
/// [`IN_FLIGHT_MAX`] slots are taken: the one that has waited longest for its request head.
/// A slowloris holds slots by sending its head a byte at a time; Go's net/http gives every
/// connection a goroutine and so is never full, while gannet keeps the bound and takes the
/// slot back from the slowest head instead. A request being answered is never shed; a shed
/// connection's thread only has to return from its read, so threads stay within the bound
/// plus the few leaving.
#[derive(Default)]
struct InFlight {
    conns: parking_lot::Mutex<Vec<InFlightConn>>,
    next_id: AtomicU64,
}

struct InFlightConn {
    id: u64,
    accepted: Instant,
    state: ConnState,
}

/// Where a served connection is.
enum ConnState {
    /// Reading its request head (TLS handshake included); the handle lets it be shed.
    ReadingHead(TcpStream),
    /// Its head is read: being answered, never shed.
    Answering,
    /// Shut down by the accept loop; its thread is on its way out and no longer counts.
    Shed,
}

impl InFlight {
    /// Connections that hold a slot (shed ones do not).
    fn len(&self) -> usize {
        let conns = self.conns.lock();
        conns
            .iter()
            .filter(|c| !matches!(c.state, ConnState::Shed))
            .count()
    }

    fn enter(&self, stream: &TcpStream) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = match stream.try_clone() {
            Ok(handle) => ConnState::ReadingHead(handle),
            Err(_) => ConnState::Answering,
        };
        self.conns.lock().push(InFlightConn {
            id,
            accepted: Instant::now(),
            state,
        });
        id
    }

    fn head_read(&self, id: u64) {
        if let Some(c) = self.conns.lock().iter_mut().find(|c| c.id == id) {
            if matches!(c.state, ConnState::ReadingHead(_)) {
                c.state = ConnState::Answering;
            }
        }
    }

    fn leave(&self, id: u64) {
        self.conns.lock().retain(|c| c.id != id);
    }

    /// Shuts down the connection that has waited longest for its head (its blocked read
    /// returns and its thread ends).
    fn shed_slowest_head(&self) {
        let mut conns = self.conns.lock();
        let oldest = conns
            .iter_mut()
            .filter(|c| matches!(c.state, ConnState::ReadingHead(_)))
            .min_by_key(|c| c.accepted);
        if let Some(c) = oldest {
            if let ConnState::ReadingHead(sock) = std::mem::replace(&mut c.state, ConnState::Shed) {
                let _ = sock.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Serves requests with `handler` until the process exits; over TLS with `tls`.
pub fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>,
) {
    let in_flight = Arc::new(InFlight::default());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if in_flight.len() >= IN_FLIGHT_MAX {
            in_flight.shed_slowest_head();
        }
        while in_flight.len() >= IN_FLIGHT_MAX {
            std::thread::sleep(Duration::from_millis(5));
        }
        let id = in_flight.enter(&stream);
        let handler = handler.clone();
        let in_flight2 = in_flight.clone();
        let tls = tls.clone();
        let spawned = std::thread::Builder::new()
            .name("gannet-http".into())
            .spawn(move || {
                let head_read = || in_flight2.head_read(id);
                let _ = exchange(stream, tls.as_ref(), &*handler, &head_read);
                in_flight2.leave(id);
            });
        if spawned.is_err() {
            in_flight.leave(id);
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

    #[test]
    fn head_parses() {
        let head = b"GET /connz?subs=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nbody";
        let req = read_head(&head[..], 1024).unwrap().unwrap();
        assert_eq!(req.path, "/connz");
        assert_eq!(req.param("subs"), Some("1"));
        // Bare newlines, and a head cut short by the end of input, are answered too.
        let req = read_head(&b"GET /varz HTTP/1.0\nHost: x"[..], 1024).unwrap();
        assert_eq!(req.unwrap().path, "/varz");
        assert!(read_head(&b""[..], 1024).unwrap().is_none());
        // Exactly at the limit is fine; one byte less is not.
        let head = b"GET / HTTP/1.1\r\n\r\n";
        assert!(read_head(&head[..], head.len()).unwrap().is_some());
        let short = read_head(&head[..], head.len() - 1);
        assert!(matches!(short, Err(HeadError::TooLarge)));
    }

    /// Issue 11: the request line was read without a size limit (memory grew with one endless
    /// line).
    #[test]
    fn regression_11_head_line_without_end_stops_at_limit() {
        let limit = REQUEST_HEAD_MAX_BYTES;
        let total = 2 * limit as u64;
        // Request line of 1 MiB and more, never ending.
        let mut endless = io::repeat(b'a').take(total);
        let got = read_head(&mut endless, limit);
        assert!(matches!(got, Err(HeadError::TooLarge)), "{got:?}");
        // Read no further than the limit and one buffer.
        let read = total - endless.limit();
        assert!(read <= (limit + 8 * 1024) as u64, "read {read}");

        // The line buffer never grows past the limit.
        let mut reader = BufReader::new(io::repeat(b'a').take(total));
        let (mut line, mut budget) = (Vec::new(), limit);
        let got = read_line_bounded(&mut reader, &mut line, &mut budget, limit);
        assert!(matches!(got, Err(HeadError::TooLarge)));
        assert!(line.capacity() <= limit, "capacity {}", line.capacity());

        // Headers count against the same limit.
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend(std::iter::repeat_n(b"X-A: b\r\n", 100).flatten());
        head.extend_from_slice(b"\r\n");
        assert!(matches!(
            read_head(&head[..], 200),
            Err(HeadError::TooLarge)
        ));
        assert!(read_head(&head[..], head.len()).unwrap().is_some());
    }

    /// A client that sends one byte, then stalls or drips: each read waits for `pace` (cut
    /// at the read timeout, like a socket) and then yields a byte, or fails with
    /// `WouldBlock` when the timeout came first.
    struct Slow {
        pace: Duration,
        wait: Option<Duration>,
        waits: Vec<Duration>,
        reads: usize,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.reads > 1 {
                let wait = self.wait.expect("a read timeout is set");
                std::thread::sleep(self.pace.min(wait));
                if wait < self.pace {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
            }
            buf[0] = b'G';
            Ok(1)
        }
    }

    impl ReadWait for Slow {
        fn set_read_wait(&mut self, wait: Duration) -> io::Result<()> {
            self.wait = Some(wait);
            self.waits.push(wait);
            Ok(())
        }
    }

    fn slow(pace: Duration) -> Slow {
        Slow {
            pace,
            wait: None,
            waits: Vec::new(),
            reads: 0,
        }
    }

    /// Issue 11: the head had a per-read timeout, not a deadline.
    #[test]
    fn regression_11_head_stall_ends_by_deadline() {
        let budget = Duration::from_millis(80);
        let start = Instant::now();
        let mut conn = Deadline {
            inner: slow(Duration::from_secs(10)),
            deadline: start + budget,
        };
        let got = read_head(&mut conn, REQUEST_HEAD_MAX_BYTES);
        let took = start.elapsed();
        assert!(
            matches!(&got, Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock),
            "{got:?}"
        );
        assert!(took >= budget / 2 && took < budget + Duration::from_millis(300));
        assert_eq!(conn.inner.reads, 2);
        assert!(conn.inner.waits.iter().all(|w| *w <= budget));
    }

    /// Issue 11: a byte every few seconds held a connection slot forever.
    #[test]
    fn regression_11_head_drip_ends_by_deadline() {
        // A byte every 10 ms: each read is well within any per-read timeout, but the
        // deadline still ends the head.
        let budget = Duration::from_millis(80);
        let start = Instant::now();
        let mut conn = Deadline {
            inner: slow(Duration::from_millis(10)),
            deadline: start + budget,
        };
        let got = read_head(&mut conn, REQUEST_HEAD_MAX_BYTES);
        let took = start.elapsed();
        // Ended by the deadline check, or by a read timeout cut to the time left.
        assert!(
            matches!(&got, Err(HeadError::Io(e))
                if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)),
            "{got:?}"
        );
        assert!(took >= budget && took < budget + Duration::from_millis(300));
        // The read timeouts shrink with the time left.
        let waits = &conn.inner.waits;
        assert!(waits.len() >= 2 && waits.windows(2).all(|w| w[1] < w[0]));
        assert!(waits.iter().all(|w| *w <= budget));
    }
}
