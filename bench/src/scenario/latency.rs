//! Request/reply latency. A responder connection answers every request on `bench.req`; a
//! requester connection subscribes to its own inbox and sends requests:
//!
//! - `req` (closed loop): one request at a time, each timed from its send to its reply.
//! - `req-open` (open loop): requests at a fixed rate from a sender thread, each timed from
//!   the moment it was *due*, not the moment it was sent. When the server (or the tool)
//!   stalls, the requests that should have gone out meanwhile are charged the wait, which
//!   corrects for coordinated omission without rewriting the histogram.

use super::probe::await_interest;
use super::{connect, connect_on, msgs_or, Side, REQ_SIZE_DEFAULT};
use crate::args::Config;
use crate::client::{server_err, write_all_until, BenchConn, OpReader};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::{si, Latency};
use anyhow::{anyhow, bail, Context as _};
use protocol::ServerOp;
use std::io::{self, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Requests per run unless `--msgs` or `--duration-secs` is given.
const REQS_DEFAULT: u64 = 10_000;
/// Requests per second of `req-open` unless `--rate` is given.
pub const RATE_DEFAULT: u64 = 5_000;
/// Requests sent before measuring starts (at most a tenth of the run).
const WARMUP_MAX: u64 = 200;
/// Subject the responder listens on.
const REQ_SUBJECT: &str = "bench.req";
/// Requests the open-loop sender writes at once when it has fallen behind.
const CATCH_UP_MAX: u64 = 256;

fn warmup(count: u64) -> u64 {
    WARMUP_MAX.min(count / 10)
}

/// `req`: sequential round trips.
pub fn closed_loop(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let size = cfg.size.unwrap_or(REQ_SIZE_DEFAULT);
    let count = msgs_or(cfg, REQS_DEFAULT);
    report.size = size;
    (report.pubs, report.subs) = (1, 1);
    let responder = Responder::start(cfg, size, deadline)?;
    let inbox = format!("_INBOX.{}.closed", std::process::id());
    let mut req = match requester(cfg, &inbox, deadline) {
        Ok(req) => req,
        Err(e) => return Err(responder.abandon(e)),
    };
    let mut op = format!("PUB {REQ_SUBJECT} {inbox} {size}\r\n").into_bytes();
    op.resize(op.len() + size, b'x');
    op.extend_from_slice(b"\r\n");

    let skip = warmup(count);
    for _ in 0..skip {
        round_trip_once(&mut req, &op, deadline)?;
    }
    let done = Arc::new(AtomicU64::new(0));
    let bar = {
        let done = done.clone();
        let (duration, begun) = (cfg.duration, Instant::now());
        Progress::start("req", cfg.progress, move || {
            let n = done.load(Ordering::Relaxed);
            let frac = match duration {
                Some(d) => begun.elapsed().as_secs_f64() / d.as_secs_f64(),
                None => n as f64 / count as f64,
            };
            (frac, format!("{} requests", si(n as f64)))
        })
    };
    let mut lat = Latency::new();
    let start = Instant::now();
    let stop_at = cfg.duration.map(|d| start + d);
    let mut sent = 0;
    while sent < count && stop_at.is_none_or(|t| Instant::now() < t) {
        lat.record(round_trip_once(&mut req, &op, deadline)?);
        sent += 1;
        done.store(sent, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    bar.finish();
    responder.stop()?;
    report.sent = sent;
    report.received = sent;
    report.elapsed_s = elapsed.as_secs_f64();
    report.latency_us = Some(lat.summary());
    Ok(())
}

/// Connects the requester and subscribes it to `replies`. With `--sub-url` it then waits until
/// requests reach the responder's server and replies the requester's, so that no request of
/// the warm-up or the run is lost to interest still crossing the route.
fn requester(cfg: &Config, replies: &str, deadline: Instant) -> anyhow::Result<BenchConn> {
    let mut req = connect(cfg, "requester")?;
    req.write_all(format!("SUB {replies} 1\r\n").as_bytes(), deadline)
        .and_then(|()| req.round_trip(deadline))
        .context("subscribing to the inbox")?;
    await_interest(cfg, Side::Sub, deadline).context("the responder's subscription")?;
    await_interest(cfg, Side::Pub, deadline).context("the requester's inbox")?;
    Ok(req)
}

/// Sends one request and waits for its reply; returns the round-trip time.
fn round_trip_once(req: &mut BenchConn, op: &[u8], deadline: Instant) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    req.write_all(op, deadline)?;
    let mut got = 0;
    while got == 0 {
        if Instant::now() > deadline {
            bail!("deadline passed waiting for a reply");
        }
        got = req.read_msgs(deadline, |_| {})?;
    }
    // Only one request is ever outstanding, so one message is its reply.
    debug_assert_eq!(got, 1);
    Ok(t0.elapsed())
}

/// `req-open`: requests at `--rate` per second, latency from each request's due time.
pub fn open_loop(cfg: &Config, deadline: Instant, report: &mut Report) -> anyhow::Result<()> {
    let size = cfg.size.unwrap_or(REQ_SIZE_DEFAULT);
    let rate = cfg.rate.unwrap_or(RATE_DEFAULT);
    let count = match (cfg.msgs, cfg.duration) {
        (None, Some(d)) => ((d.as_secs_f64() * rate as f64) as u64).clamp(1, msgs_or(cfg, 0)),
        _ => msgs_or(cfg, REQS_DEFAULT),
    };
    report.size = size;
    report.rate = Some(rate);
    (report.pubs, report.subs) = (1, 1);
    let responder = Responder::start(cfg, size, deadline)?;
    let inbox = format!("_INBOX.{}.open", std::process::id());
    let req = match requester(cfg, &format!("{inbox}.*"), deadline) {
        Ok(req) => req,
        Err(e) => return Err(responder.abandon(e)),
    };
    let (reader, writer) = req.into_split()?;
    let schedule = Schedule {
        // Leave the sender thread a moment to start before the first request is due.
        start: Instant::now() + Duration::from_millis(5),
        interval_ns: 1e9 / rate as f64,
    };
    let shared = Arc::new(OpenShared::default());
    let sender = spawn_sender(
        writer,
        &inbox,
        size,
        count,
        schedule,
        shared.clone(),
        deadline,
    )?;
    let bar = {
        let shared = shared.clone();
        Progress::start("req-open", cfg.progress, move || {
            let n = shared.sent.load(Ordering::Relaxed);
            (
                n as f64 / count as f64,
                format!("{} requests", si(n as f64)),
            )
        })
    };
    let collected = collect_replies(reader, &inbox, count, schedule, &shared, deadline);
    shared.stop.store(true, Ordering::Relaxed);
    let send_result = sender
        .join()
        .map_err(|_| anyhow!("sender thread panicked"))?;
    bar.finish();
    responder.stop()?;
    let (lat, received, last) = collected?;
    let (sent, lag) = send_result.context("sending requests")?;
    report.send_lag_us = Some(lag.summary());
    report.sent = sent;
    report.received = received;
    report.elapsed_s = last.saturating_duration_since(schedule.start).as_secs_f64();
    report.latency_us = Some(lat.summary());
    if received < sent {
        report.errors.push(format!(
            "{} of {sent} replies did not arrive",
            sent - received
        ));
    }
    Ok(())
}

/// When request `seq` is due.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    interval_ns: f64,
}

impl Schedule {
    fn due(&self, seq: u64) -> Instant {
        self.start + Duration::from_nanos((seq as f64 * self.interval_ns) as u64)
    }
}

/// State the open-loop sender and reader share.
#[derive(Default)]
struct OpenShared {
    /// Requests written so far.
    sent: AtomicU64,
    /// PINGs the reader saw; the sender owns the socket's write side and answers them.
    pings: AtomicU64,
    /// Set when the reader is done (or gave up), so that the sender stops.
    stop: AtomicBool,
    /// Set when the sender has stopped, for whatever reason.
    sender_done: AtomicBool,
}

fn spawn_sender(
    sock: TcpStream,
    inbox: &str,
    size: usize,
    count: u64,
    schedule: Schedule,
    shared: Arc<OpenShared>,
    deadline: Instant,
) -> anyhow::Result<JoinHandle<io::Result<(u64, Latency)>>> {
    let prefix = format!("PUB {REQ_SUBJECT} {inbox}.");
    let suffix = {
        let mut s = format!(" {size}\r\n").into_bytes();
        s.resize(s.len() + size, b'x');
        s.extend_from_slice(b"\r\n");
        s
    };
    let spawned = std::thread::Builder::new()
        .name("req-sender".into())
        .spawn(move || {
            let result = send_requests(&sock, &prefix, &suffix, count, schedule, &shared, deadline);
            shared.sender_done.store(true, Ordering::Release);
            result
        })
        .context("spawning the sender thread")?;
    Ok(spawned)
}

/// The open-loop sender: writes each request when it is due (and everything overdue at once).
/// Returns the requests sent and how late each went out (the tool's own share of the
/// measured latency).
fn send_requests(
    sock: &TcpStream,
    prefix: &str,
    suffix: &[u8],
    count: u64,
    schedule: Schedule,
    shared: &OpenShared,
    deadline: Instant,
) -> io::Result<(u64, Latency)> {
    precise_sleeps();
    let mut lag = Latency::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut pongs = 0;
    let mut seq = 0;
    while seq < count && !shared.stop.load(Ordering::Relaxed) {
        let due = schedule.due(seq);
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
            continue;
        }
        buf.clear();
        // Everything already due goes out in one write.
        let first = seq;
        while seq < count && seq - first < CATCH_UP_MAX && schedule.due(seq) <= now {
            buf.extend_from_slice(prefix.as_bytes());
            write!(buf, "{seq}")?;
            buf.extend_from_slice(suffix);
            seq += 1;
        }
        let pings = shared.pings.load(Ordering::Relaxed);
        for _ in pongs..pings {
            buf.extend_from_slice(b"PONG\r\n");
        }
        pongs = pings;
        let at = Instant::now();
        for s in first..seq {
            lag.record(at - schedule.due(s));
        }
        write_all_until(sock, &buf, deadline)?;
        shared.sent.store(seq, Ordering::Relaxed);
    }
    Ok((seq, lag))
}

/// Asks the kernel for precise sleeps on this thread: the default 50 µs timer slack would
/// make every request late by up to that much, and open-loop latency counts lateness.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Reads replies until all `count` arrived, the sender stopped short, or the deadline.
/// Returns the histogram, the replies received and when the last one arrived.
fn collect_replies(
    mut reader: OpReader,
    inbox: &str,
    count: u64,
    schedule: Schedule,
    shared: &OpenShared,
    deadline: Instant,
) -> anyhow::Result<(Latency, u64, Instant)> {
    let prefix = format!("{inbox}.");
    let skip = warmup(count);
    let mut lat = Latency::new();
    let mut received = 0u64;
    let mut last = schedule.start;
    let mut bad = None;
    while received < count && Instant::now() < deadline {
        let sender_done = shared.sender_done.load(Ordering::Acquire);
        if sender_done && received >= shared.sent.load(Ordering::Relaxed) {
            break;
        }
        reader.read_ops(|op| {
            match op {
                ServerOp::Msg(m) => {
                    let now = Instant::now();
                    match parse_seq(m.subject, prefix.as_bytes()) {
                        Some(seq) if seq >= skip => lat.record(now - schedule.due(seq)),
                        Some(_) => {}
                        None => bad = Some(String::from_utf8_lossy(m.subject).into_owned()),
                    }
                    received += 1;
                    last = now;
                }
                ServerOp::Ping => {
                    shared.pings.fetch_add(1, Ordering::Relaxed);
                }
                ServerOp::Err(e) => return Err(server_err(e)),
                _ => {}
            }
            Ok(())
        })?;
        if let Some(subject) = bad.take() {
            bail!("reply on an unexpected subject {subject:?}");
        }
    }
    Ok((lat, received, last))
}

/// The sequence number at the end of a reply subject `<prefix><seq>`.
fn parse_seq(subject: &[u8], prefix: &[u8]) -> Option<u64> {
    let digits = subject.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

/// A thread answering each request on [`REQ_SUBJECT`] with a payload of the same size.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<u64>>,
}

impl Responder {
    fn start(cfg: &Config, size: usize, deadline: Instant) -> anyhow::Result<Responder> {
        let mut conn = connect_on(cfg, Side::Sub, "responder")?;
        conn.write_all(format!("SUB {REQ_SUBJECT} 1\r\n").as_bytes(), deadline)
            .and_then(|()| conn.round_trip(deadline))
            .context("subscribing the responder")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("responder".into())
            .spawn(move || serve(conn, size, &stop2, deadline))
            .context("spawning the responder thread")?;
        Ok(Responder { stop, thread })
    }

    /// Stops the thread when the scenario fails before using it (it would otherwise hold its
    /// connection until the deadline) and returns the scenario's error.
    fn abandon(self, e: anyhow::Error) -> anyhow::Error {
        // The scenario's own error is the one to report; the responder's adds nothing.
        let _ = self.stop();
        e
    }

    /// Stops the thread; returns an error if it had failed.
    fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let served = self
            .thread
            .join()
            .map_err(|_| anyhow!("responder thread panicked"))?
            .context("responder")?;
        Ok(served)
    }
}

fn serve(
    mut conn: BenchConn,
    size: usize,
    stop: &AtomicBool,
    deadline: Instant,
) -> io::Result<u64> {
    let mut tail = format!(" {size}\r\n").into_bytes();
    tail.resize(tail.len() + size, b'y');
    tail.extend_from_slice(b"\r\n");
    let mut out = Vec::with_capacity(64 * 1024);
    let mut served = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        out.clear();
        conn.read_msgs(deadline, |m| {
            if let Some(reply) = m.reply {
                out.extend_from_slice(b"PUB ");
                out.extend_from_slice(reply);
                out.extend_from_slice(&tail);
                served += 1;
            }
        })?;
        if !out.is_empty() {
            conn.write_all(&out, deadline)?;
        }
    }
    Ok(served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_from_reply_subjects() {
        let p = b"_INBOX.7.open.";
        assert_eq!(parse_seq(b"_INBOX.7.open.0", p), Some(0));
        assert_eq!(parse_seq(b"_INBOX.7.open.123456", p), Some(123_456));
        assert_eq!(parse_seq(b"_INBOX.7.open.", p), None);
        assert_eq!(parse_seq(b"_INBOX.7.open.12a", p), None);
        assert_eq!(parse_seq(b"_INBOX.8.open.1", p), None);
        assert_eq!(parse_seq(b"_INBOX.7.open.99999999999999999999", p), None);
    }

    #[test]
    fn schedule_spacing() {
        let s = Schedule {
            start: Instant::now(),
            interval_ns: 1e9 / 4000.0,
        };
        assert_eq!(s.due(0), s.start);
        assert_eq!(s.due(4000) - s.start, Duration::from_secs(1));
        assert_eq!(s.due(1) - s.start, Duration::from_micros(250));
    }

    #[test]
    fn warmup_is_bounded() {
        assert_eq!(warmup(10), 1);
        assert_eq!(warmup(1000), 100);
        assert_eq!(warmup(1_000_000), WARMUP_MAX);
    }
}
