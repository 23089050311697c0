//! Tiny HTTP(S) servers for tests: the nats-account-server protocol a URL resolver talks to.

use std::sync::Arc;

/// A tiny HTTP server answering `GET <path>` with `answer(path)` (200) or 404 for `None`.
pub fn http_server(answer: impl Fn(&str) -> Option<String> + Send + 'static) -> u16 {
    http_server_with(None, answer)
}

/// [`http_server`], over TLS when `tls` is given.
pub fn http_server_with(
    tls: Option<Arc<rustls::ServerConfig>>,
    answer: impl Fn(&str) -> Option<String> + Send + 'static,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    trait Stream: Read + Write {}
    impl<T: Read + Write> Stream for T {}
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let mut stream: Box<dyn Stream> = match &tls {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    Box::new(rustls::StreamOwned::new(conn, tcp))
                }
                None => Box::new(tcp),
            };
            let mut reader = BufReader::new(&mut stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let resp = match answer(&path) {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .into(),
            };
            let _ = stream.write_all(resp.as_bytes());
            let _ = stream.flush();
        }
    });
    port
}

/// A tiny account server (the nats-account-server protocol): `GET <base><key>` → the JWT.
pub fn account_server(jwts: Vec<(String, String)>) -> u16 {
    http_server(move |path| {
        // The server probes the base URL at startup.
        if path == "/jwt/v1/accounts/" {
            return Some(String::new());
        }
        jwts.iter()
            .find(|(k, _)| path == format!("/jwt/v1/accounts/{k}"))
            .map(|(_, jwt)| jwt.clone())
    })
}
