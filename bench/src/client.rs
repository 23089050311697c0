//! A minimal blocking NATS connection for load generation. It parses what the server sends
//! with [`protocol::ServerParser`] (no allocation per message) and leaves batching of writes
//! to its callers, who hand it large buffers of ready-made ops.
//!
//! Every call that can wait takes a deadline: sockets have short read and write timeouts, and
//! the loops here check the deadline on each timeout, so nothing blocks past a run's limit.

use protocol::{Msg, ServerOp, ServerParser};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes of ready-made ops a publisher hands to one `write`.
pub const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Initial read buffer; it grows only for a message larger than the buffer.
const READ_BUF_BYTES: usize = 256 * 1024;
/// Read buffer of an idle connection (connection scale and churn).
pub const SMALL_READ_BUF_BYTES: usize = 4 * 1024;
/// Socket read timeout, so that readers notice deadlines and completion promptly.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// Socket write timeout, so that a stalled server cannot block a writer past its deadline.
const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
/// Time allowed for INFO, CONNECT and the first PING/PONG.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials sent in CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user`.
    pub user: Option<String>,
    /// `pass`.
    pub pass: Option<String>,
    /// `auth_token`.
    pub token: Option<String>,
}

impl Credentials {
    /// The CONNECT line (with `\r\n`) for a client called `name`.
    pub fn connect_line(&self, name: &str) -> String {
        let mut obj = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "headers": true,
            "no_responders": true,
            "protocol": 1,
            "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"),
            "name": name,
        });
        let map = obj.as_object_mut().expect("a JSON object literal");
        if let Some(u) = &self.user {
            map.insert("user".into(), u.as_str().into());
        }
        if let Some(p) = &self.pass {
            map.insert("pass".into(), p.as_str().into());
        }
        if let Some(t) = &self.token {
            map.insert("auth_token".into(), t.as_str().into());
        }
        format!("CONNECT {obj}\r\n")
    }
}

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub addr: String,
    /// Sent in CONNECT.
    pub creds: Credentials,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("deadline passed {what}"))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Writes all of `buf`, retrying on write timeouts until `deadline`.
///
/// # Errors
/// The deadline passed, or the socket failed.
pub fn write_all_until(mut sock: &TcpStream, buf: &[u8], deadline: Instant) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match sock.write(&buf[off..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => off += n,
            Err(e) if is_timeout(&e) => {
                if Instant::now() > deadline {
                    return Err(timed_out("while writing"));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The read half of a connection: a buffer and a [`ServerParser`].
pub struct OpReader {
    sock: TcpStream,
    parser: ServerParser,
    buf: Vec<u8>,
    len: usize,
}

impl OpReader {
    fn new(sock: TcpStream, buf_bytes: usize) -> OpReader {
        OpReader {
            sock,
            parser: ServerParser::new(),
            buf: vec![0; buf_bytes.max(SMALL_READ_BUF_BYTES)],
            len: 0,
        }
    }

    /// Reads once (waiting at most the socket's read timeout) and hands every complete op to
    /// `f`. Returns `false` when the read timed out with nothing new.
    ///
    /// # Errors
    /// The server closed the connection, sent something unparsable, or `f` failed.
    pub fn read_ops<F>(&mut self, mut f: F) -> io::Result<bool>
    where
        F: FnMut(ServerOp<'_>) -> io::Result<()>,
    {
        if !self.fill()? {
            return Ok(false);
        }
        let mut pos = 0;
        loop {
            match self.parser.parse(&self.buf[pos..self.len]) {
                Ok(Some((op, used))) => {
                    pos += used;
                    f(op)?;
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("cannot parse the server's bytes: {e:?}"),
                    ))
                }
            }
        }
        self.buf.copy_within(pos..self.len, 0);
        self.len -= pos;
        Ok(true)
    }

    /// Reads more bytes into the buffer, growing it when a single op does not fit.
    fn fill(&mut self) -> io::Result<bool> {
        if self.len == self.buf.len() {
            let need = self.parser.needed().max(self.buf.len() * 2);
            self.buf.resize(need, 0);
        }
        match self.sock.read(&mut self.buf[self.len..]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            )),
            Ok(n) => {
                self.len += n;
                Ok(true)
            }
            Err(e) if is_timeout(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The error for a `-ERR` from the server.
pub fn server_err(text: &[u8]) -> io::Error {
    io::Error::other(format!(
        "server sent -ERR '{}'",
        String::from_utf8_lossy(text)
    ))
}

/// One connection to a NATS server, past the CONNECT handshake.
pub struct BenchConn {
    /// Owns the socket; writes go through `&TcpStream`, so one connection is one descriptor.
    reader: OpReader,
    pongs: u64,
}

impl BenchConn {
    /// Connects, reads INFO, sends CONNECT and PING, and waits for the PONG, so that a
    /// connection returned here has been accepted (and authenticated) by the server.
    ///
    /// # Errors
    /// Connection failure, timeout, or a `-ERR` (for example an authorization violation).
    pub fn connect(ep: &Endpoint, name: &str) -> io::Result<BenchConn> {
        BenchConn::connect_with_buf(ep, name, READ_BUF_BYTES)
    }

    /// Like [`BenchConn::connect`] with an initial read buffer of `buf_bytes` (it grows when
    /// a message does not fit), for the many idle connections of the scale scenarios.
    ///
    /// # Errors
    /// As for [`BenchConn::connect`].
    pub fn connect_with_buf(ep: &Endpoint, name: &str, buf_bytes: usize) -> io::Result<BenchConn> {
        let sock = TcpStream::connect(&ep.addr)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(READ_TIMEOUT))?;
        sock.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let mut c = BenchConn {
            reader: OpReader::new(sock, buf_bytes),
            pongs: 0,
        };
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let mut info = false;
        while !info {
            if Instant::now() > deadline {
                return Err(timed_out("waiting for INFO"));
            }
            c.reader.read_ops(|op| match op {
                ServerOp::Info(_) => {
                    info = true;
                    Ok(())
                }
                ServerOp::Err(e) => Err(server_err(e)),
                _ => Ok(()),
            })?;
        }
        let mut hello = ep.creds.connect_line(name).into_bytes();
        hello.extend_from_slice(b"PING\r\n");
        write_all_until(&c.reader.sock, &hello, deadline)?;
        c.wait_pongs(c.pongs + 1, deadline)?;
        Ok(c)
    }

    /// Sets how long one read waits for data ([`BenchConn::read_msgs`] returns 0 after it),
    /// for a reader that has to act more often than the default allows.
    ///
    /// # Errors
    /// The socket refused the timeout (a zero one, for instance).
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.reader.sock.set_read_timeout(Some(timeout))
    }

    /// Writes raw protocol bytes.
    ///
    /// # Errors
    /// Deadline or socket failure.
    pub fn write_all(&mut self, buf: &[u8], deadline: Instant) -> io::Result<()> {
        write_all_until(&self.reader.sock, buf, deadline)
    }

    /// PING, then waits for its PONG: the server has processed everything sent before.
    ///
    /// # Errors
    /// Deadline, connection failure or a `-ERR`.
    pub fn round_trip(&mut self, deadline: Instant) -> io::Result<()> {
        self.write_all(b"PING\r\n", deadline)?;
        self.wait_pongs(self.pongs + 1, deadline)
    }

    fn wait_pongs(&mut self, want: u64, deadline: Instant) -> io::Result<()> {
        while self.pongs < want {
            if Instant::now() > deadline {
                return Err(timed_out("waiting for PONG"));
            }
            self.read_msgs(deadline, |_| {})?;
        }
        Ok(())
    }

    /// Reads once and hands each delivered message to `on_msg`; answers PINGs and counts
    /// PONGs. Returns the number of messages (0 on a read timeout).
    ///
    /// # Errors
    /// Connection failure, a protocol error, or a `-ERR` from the server.
    pub fn read_msgs<F>(&mut self, deadline: Instant, mut on_msg: F) -> io::Result<u64>
    where
        F: FnMut(&Msg<'_>),
    {
        let mut n = 0;
        let mut pings = 0;
        let mut pongs = 0;
        self.reader.read_ops(|op| {
            match op {
                ServerOp::Msg(m) => {
                    n += 1;
                    on_msg(&m);
                }
                ServerOp::Ping => pings += 1,
                ServerOp::Pong => pongs += 1,
                ServerOp::Err(e) => return Err(server_err(e)),
                ServerOp::Info(_) | ServerOp::Ok => {}
            }
            Ok(())
        })?;
        self.pongs += pongs;
        for _ in 0..pings {
            self.write_all(b"PONG\r\n", deadline)?;
        }
        Ok(n)
    }

    /// Splits into a reader and a writer for two threads. The reader must not write: a caller
    /// that sees a PING on the reader passes it to the writer's thread to answer.
    ///
    /// # Errors
    /// The socket could not be duplicated.
    pub fn into_split(self) -> io::Result<(OpReader, TcpStream)> {
        let writer = self.reader.sock.try_clone()?;
        Ok((self.reader, writer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_line_carries_credentials() {
        let plain = Credentials::default().connect_line("b");
        assert!(plain.starts_with("CONNECT {") && plain.ends_with("}\r\n"));
        let v: serde_json::Value =
            serde_json::from_str(plain.trim_start_matches("CONNECT ").trim_end()).unwrap();
        assert_eq!(v["verbose"], false);
        assert_eq!(v["name"], "b");
        assert!(v.get("user").is_none() && v.get("auth_token").is_none());

        let creds = Credentials {
            user: Some("al\"ice".into()),
            pass: Some("s3cr\\et".into()),
            token: Some("tok".into()),
        };
        let line = creds.connect_line("b");
        let v: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("CONNECT ").trim_end()).unwrap();
        assert_eq!(v["user"], "al\"ice");
        assert_eq!(v["pass"], "s3cr\\et");
        assert_eq!(v["auth_token"], "tok");
    }
}
