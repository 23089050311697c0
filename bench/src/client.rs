//! A minimal blocking NATS connection for load generation: no allocation per message, writes
//! batched into large buffers, deliveries counted by parsing with [`protocol::ServerParser`].

use protocol::{ServerOp, ServerParser};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes of PUB ops gathered before one socket write.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Read buffer size.
const READ_BUF_BYTES: usize = 256 * 1024;
/// Socket read timeout, so every loop can check its deadline.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// What one call to [`BenchConn::read_msgs`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many MSG/HMSG arrived (possibly 0 on a read timeout).
    Msgs(u64),
    /// The deadline passed.
    Deadline,
}

/// One connection to a NATS server.
pub struct BenchConn {
    sock: TcpStream,
    parser: ServerParser,
    buf: Vec<u8>,
    len: usize,
    pongs: u64,
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

impl BenchConn {
    /// Connects, reads INFO and sends a quiet CONNECT.
    ///
    /// # Errors
    /// Connection or protocol failure.
    pub fn connect(addr: &str) -> io::Result<BenchConn> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut c = BenchConn {
            sock,
            parser: ServerParser::new(),
            buf: vec![0; READ_BUF_BYTES],
            len: 0,
            pongs: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(ServerOp::Info(_)) = c.next_op(deadline)? {
                break;
            }
        }
        c.sock.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1,\"name\":\"gannet-bench\"}\r\n")?;
        Ok(c)
    }

    /// Sends `SUB subject sid`.
    ///
    /// # Errors
    /// Write failure.
    pub fn subscribe(&mut self, subject: &str, sid: &str) -> io::Result<()> {
        self.sock
            .write_all(format!("SUB {subject} {sid}\r\n").as_bytes())
    }

    /// PING, then waits for the PONG: everything sent before has been processed.
    ///
    /// # Errors
    /// Deadline or connection failure.
    pub fn round_trip(&mut self, deadline: Instant) -> io::Result<()> {
        self.sock.write_all(b"PING\r\n")?;
        let want = self.pongs + 1;
        while self.pongs < want {
            if Instant::now() > deadline {
                return Err(err("deadline waiting for PONG"));
            }
            self.next_op(deadline)?;
        }
        Ok(())
    }

    /// Publishes `count` messages of `size` bytes to `subject`, batching the writes.
    ///
    /// # Errors
    /// Deadline or write failure.
    pub fn publish_many(
        &mut self,
        subject: &str,
        size: usize,
        count: u64,
        deadline: Instant,
    ) -> io::Result<()> {
        let mut op = format!("PUB {subject} {size}\r\n").into_bytes();
        op.extend(std::iter::repeat_n(b'x', size));
        op.extend_from_slice(b"\r\n");
        let per_batch = (WRITE_BATCH_BYTES / op.len()).max(1) as u64;
        let batch = op.repeat(per_batch as usize);
        let mut sent = 0u64;
        while sent < count {
            if Instant::now() > deadline {
                return Err(err("deadline while publishing"));
            }
            let n = per_batch.min(count - sent);
            self.sock.write_all(&batch[..n as usize * op.len()])?;
            sent += n;
        }
        Ok(())
    }

    /// Reads once and counts the MSG/HMSG ops that completed.
    ///
    /// # Errors
    /// Connection failure or a protocol error from the server.
    pub fn read_msgs(&mut self, deadline: Instant) -> io::Result<ReadOutcome> {
        if Instant::now() > deadline {
            return Ok(ReadOutcome::Deadline);
        }
        if !self.fill()? {
            return Ok(ReadOutcome::Msgs(0));
        }
        let mut n = 0;
        let mut pos = 0;
        loop {
            match self.parser.parse(&self.buf[pos..self.len]) {
                Ok(Some((op, used))) => {
                    pos += used;
                    match op {
                        ServerOp::Msg(_) => n += 1,
                        ServerOp::Ping => self.sock.write_all(b"PONG\r\n")?,
                        ServerOp::Pong => self.pongs += 1,
                        ServerOp::Err(e) => {
                            return Err(err(format!("-ERR {}", String::from_utf8_lossy(e))))
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(err(format!("parse: {e}"))),
            }
        }
        self.consume(pos);
        Ok(ReadOutcome::Msgs(n))
    }

    /// Reads until one op is available and returns it (owned data is not needed by callers).
    fn next_op(&mut self, deadline: Instant) -> io::Result<Option<ServerOp<'static>>> {
        loop {
            match self.parser.parse(&self.buf[..self.len]) {
                Ok(Some((op, used))) => {
                    let simple = match op {
                        ServerOp::Info(_) => Some(ServerOp::Info(b"")),
                        ServerOp::Ping => {
                            self.sock.write_all(b"PONG\r\n")?;
                            None
                        }
                        ServerOp::Pong => {
                            self.pongs += 1;
                            Some(ServerOp::Pong)
                        }
                        ServerOp::Err(e) => {
                            return Err(err(format!("-ERR {}", String::from_utf8_lossy(e))))
                        }
                        _ => None,
                    };
                    self.consume(used);
                    return Ok(simple);
                }
                Ok(None) => {
                    if Instant::now() > deadline {
                        return Err(err("deadline"));
                    }
                    self.fill()?;
                }
                Err(e) => return Err(err(format!("parse: {e}"))),
            }
        }
    }

    /// Reads more bytes; false on a read timeout.
    fn fill(&mut self) -> io::Result<bool> {
        if self.len == self.buf.len() {
            let need = self.parser.needed().max(self.buf.len() * 2);
            self.buf.resize(need, 0);
        }
        match self.sock.read(&mut self.buf[self.len..]) {
            Ok(0) => Err(err("connection closed by server")),
            Ok(n) => {
                self.len += n;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}
