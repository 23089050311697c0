//! The URL account resolver's HTTP client (nats-server `accounts.go`, `URLAccResolver`):
//! `GET <base><account key>` over HTTP/1.1, plain or TLS (`resolver_tls`), with a short
//! timeout; the body of a 200 answer is the account JWT.
//!
//! The answer is handled as bytes end to end: the head is split off, a chunked body is put
//! back together with every chunk size checked against what was received, and the body is
//! decoded to text once at the end, so a multi-byte character split by a chunk boundary comes
//! out whole and a bad chunk size is an error, never a panic.

use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

/// How long a URL resolver fetch may take (nats-server's default).
const FETCH_TIMEOUT: Duration = Duration::from_millis(1900);

/// The most of an answer that is read: account JWTs are small; anything over 1 MiB is not one.
const RESPONSE_MAX_BYTES: u64 = 1 << 20;

/// `GET <url>` with a short timeout (the nats-account-server protocol): the body of a 200
/// answer, else nats-server's `could not fetch <"url">: <status>`. `https://` URLs use the
/// `resolver_tls` settings (the system CAs without them).
///
/// # Errors
/// `could not fetch <"url">: …` with the connection error, the answer's status text, or what
/// is wrong with the answer.
pub(super) fn fetch(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<String, String> {
    let fail = |why: String| format!("could not fetch <{}>: {why}", crate::gofmt::go_quote(url));
    let (secure, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(fail("unsupported protocol scheme".into())),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let sock = std::net::TcpStream::connect_timeout(&addr, FETCH_TIMEOUT)
        .map_err(|e| fail(e.to_string()))?;
    sock.set_read_timeout(Some(FETCH_TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(FETCH_TIMEOUT)))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: gannet\r\nConnection: close\r\n\r\n"
    );
    let mut stream: Box<dyn ReadWrite> = if secure {
        let config = match tls {
            Some(config) => config.clone(),
            None => {
                crate::tls::config::resolver_client_config(&Default::default()).map_err(fail)?
            }
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| fail(e.to_string()))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| fail(e.to_string()))?;
        Box::new(rustls::StreamOwned::new(conn, sock))
    } else {
        Box::new(sock)
    };
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut resp = Vec::new();
    // A TLS peer that closes without close_notify still delivered a complete
    // `Connection: close` answer.
    let read = stream.take(RESPONSE_MAX_BYTES).read_to_end(&mut resp);
    if let Err(e) = read {
        if resp.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(fail(e.to_string()));
        }
    }
    response_body(&resp).map_err(fail)
}

/// A plain or TLS socket.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The body of a whole HTTP/1.1 answer, as trimmed text. The head is split off as bytes; the
/// body, reassembled first when it is chunked, is decoded to UTF-8 once (lossily, as before).
///
/// # Errors
/// The status text (`404 Not Found`) of an answer other than 200, `malformed response`
/// without an end of head, or what is wrong with a chunked body.
fn response_body(resp: &[u8]) -> Result<String, String> {
    let split = find(resp, b"\r\n\r\n").ok_or_else(|| "malformed response".to_string())?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let body = &resp[split + 4..];
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let line = head.lines().next().unwrap_or("");
        return Err(line.split_once(' ').map_or(line, |(_, s)| s).to_string());
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The body of a chunked HTTP/1.1 answer (RFC 9112 §7.1): each chunk is a hex size, maybe
/// with `;extensions`, CRLF, that many bytes, CRLF; a chunk of size 0 ends the body (trailers
/// after it are ignored). A body that stops right after a chunk, without the last chunk, is
/// taken as it is.
///
/// # Errors
/// A size line without CRLF or not hex, a chunk larger than what is left, or chunk data not
/// followed by CRLF.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let line_end =
            find(rest, b"\r\n").ok_or_else(|| "chunk size line not terminated".to_string())?;
        let size = chunk_size(&rest[..line_end])?;
        if size == 0 {
            break;
        }
        let data = &rest[line_end + 2..];
        if size > data.len() {
            return Err(format!(
                "chunk of {size} bytes but {} left in the body",
                data.len()
            ));
        }
        let (chunk, after) = data.split_at(size);
        out.extend_from_slice(chunk);
        rest = match after.strip_prefix(b"\r\n") {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return Err("chunk not followed by CRLF".into()),
        };
    }
    Ok(out)
}

/// The size on a chunk's size line: hex digits, maybe followed by `;extensions`.
///
/// # Errors
/// `malformed chunk size` for anything else, or a size too large for `usize`.
fn chunk_size(line: &[u8]) -> Result<usize, String> {
    let bad = || "malformed chunk size".to_string();
    let digits = line.split(|&b| b == b';').next().unwrap_or(line);
    let digits = std::str::from_utf8(digits).map_err(|_| bad())?.trim();
    // `from_str_radix` alone would take a leading `+`.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    usize::from_str_radix(digits, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: `dechunk` sliced a `str` at the chunk header's byte count, so a character split
    /// by a chunk boundary panicked the fetching thread.
    #[test]
    fn regression_11_dechunk_splits_bytes_not_chars() {
        // "é" is C3 A9: the first chunk ends after C3, the second starts with A9.
        let body = b"3\r\nab\xC3\r\n3\r\n\xA9cd\r\n0\r\n\r\n";
        let out = dechunk(body).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ab\u{e9}cd");
        // A replacement character (EF BF BD) split three ways.
        let body = b"1\r\n\xEF\r\n1\r\n\xBF\r\n1\r\n\xBD\r\n0\r\n\r\n";
        assert_eq!(
            String::from_utf8(dechunk(body).unwrap()).unwrap(),
            "\u{fffd}"
        );
    }

    #[test]
    fn dechunk_cases() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("", Ok("")),
            ("0\r\n\r\n", Ok("")),
            // A zero chunk ends the body; what follows (trailers) is ignored.
            ("2\r\nab\r\n0\r\nX-Trailer: 1\r\n\r\n", Ok("ab")),
            ("2\r\nab\r\n0\r\n\r\n5\r\nnever\r\n", Ok("ab")),
            ("3\r\nab\n\r\n2\r\ncd\r\n0\r\n\r\n", Ok("ab\ncd")),
            // Hex sizes, either case, with extensions and blanks.
            ("A\r\n0123456789\r\n0\r\n\r\n", Ok("0123456789")),
            ("a;name=value\r\n0123456789\r\n0\r\n\r\n", Ok("0123456789")),
            (" 1 ;x\r\nz\r\n0\r\n\r\n", Ok("z")),
            // No last chunk, but the body stops right after a chunk.
            ("2\r\nab\r\n", Ok("ab")),
            ("2\r\nab", Ok("ab")),
            // A chunk larger than what is left.
            (
                "10\r\nabc\r\n0\r\n\r\n",
                Err("chunk of 16 bytes but 10 left in the body"),
            ),
            ("3\r\nab", Err("chunk of 3 bytes but 2 left in the body")),
            (
                "ffffffff\r\nab",
                Err("chunk of 4294967295 bytes but 2 left in the body"),
            ),
            // Garbage sizes.
            ("zz\r\nab\r\n", Err("malformed chunk size")),
            ("+2\r\nab\r\n", Err("malformed chunk size")),
            ("-2\r\nab\r\n", Err("malformed chunk size")),
            ("\r\nab\r\n", Err("malformed chunk size")),
            (";ext\r\nab\r\n", Err("malformed chunk size")),
            ("\u{e9}\r\nab\r\n", Err("malformed chunk size")),
            // More than any usize.
            (
                "1000000000000000000000000000000000\r\nab\r\n",
                Err("malformed chunk size"),
            ),
            // Framing.
            ("2", Err("chunk size line not terminated")),
            ("2\r\nabX\r\n0\r\n\r\n", Err("chunk not followed by CRLF")),
        ];
        for &(body, want) in cases {
            let want = want.map(|s| s.as_bytes().to_vec()).map_err(str::to_string);
            assert_eq!(dechunk(body.as_bytes()), want, "{body:?}");
        }
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"0"), Ok(0));
        assert_eq!(chunk_size(b"1f"), Ok(31));
        assert_eq!(chunk_size(b"1F;a=b;c"), Ok(31));
        assert_eq!(chunk_size(b"x1"), Err("malformed chunk size".to_string()));
    }

    #[test]
    fn response_bodies() {
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n tok \r\n"),
            Ok("tok".to_string())
        );
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\xC3\r\n2\r\n\xA9\n\r\n0\r\n\r\n"),
            Ok("ab\u{e9}".to_string())
        );
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nab\r\n"),
            Err("chunk of 9 bytes but 4 left in the body".to_string())
        );
        // Not UTF-8: decoded lossily, as before.
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\n\r\na\xFFb"),
            Ok("a\u{fffd}b".to_string())
        );
        assert_eq!(
            response_body(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            Err("404 Not Found".to_string())
        );
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\n"),
            Err("malformed response".to_string())
        );
    }
}
