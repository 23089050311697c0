//! The throughput engine shared by `pub`, `pubsub`, `fanout`, `queue` and the publish phase of
//! `subs`: publisher threads write pre-encoded PUB ops from a [`Tape`], subscriber threads
//! count deliveries, and a [`Flow`] keeps the publishers at most a window ahead of the
//! subscribers so that neither server is pushed into slow-consumer handling.

use crate::client::{BenchConn, WRITE_BATCH_BYTES};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::si;
use anyhow::{anyhow, Context as _};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes in flight per subscriber that the default window allows.
const WINDOW_BYTES_DEFAULT: u64 = 8 << 20;
/// The default window never drops below this many messages.
const WINDOW_MSGS_MIN: u64 = 1024;
/// Protocol bytes a delivered MSG adds to its payload, roughly (`MSG subject sid size\r\n..\r\n`).
const MSG_OVERHEAD_BYTES: u64 = 40;
/// How long a publisher sleeps when its window is full.
const WINDOW_WAIT: Duration = Duration::from_micros(50);

/// The default in-flight window for payloads of `size` bytes.
pub fn window_default(size: usize) -> u64 {
    (WINDOW_BYTES_DEFAULT / (size as u64 + MSG_OVERHEAD_BYTES)).max(WINDOW_MSGS_MIN)
}

/// Ready-made PUB ops, written in batches and cycled through.
pub struct Tape {
    bytes: Vec<u8>,
    /// `ends[i]` is the end offset of op `i` in `bytes`.
    ends: Vec<usize>,
}

impl Tape {
    /// Ops to one subject, enough copies to fill a write batch.
    pub fn single(subject: &str, size: usize) -> Tape {
        let op_len = pub_op(subject, size).len();
        let copies = (WRITE_BATCH_BYTES / op_len).max(1);
        Tape::from_subjects(std::iter::repeat_n(subject.to_string(), copies), size)
    }

    /// One op per subject, in order.
    pub fn from_subjects<I: IntoIterator<Item = String>>(subjects: I, size: usize) -> Tape {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for s in subjects {
            bytes.extend_from_slice(&pub_op(&s, size));
            ends.push(bytes.len());
        }
        assert!(!ends.is_empty(), "a tape needs at least one op");
        Tape { bytes, ends }
    }

    /// Number of ops on the tape.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the tape is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of up to `max_ops` ops starting at op `pos`, within one write batch (but at
    /// least one op) and without wrapping around the end. Returns the bytes and the op count.
    pub fn batch(&self, pos: usize, max_ops: u64) -> (&[u8], usize) {
        assert!(pos < self.ends.len() && max_ops > 0);
        let start = if pos == 0 { 0 } else { self.ends[pos - 1] };
        let avail = &self.ends[pos..];
        let avail = &avail[..avail
            .len()
            .min(usize::try_from(max_ops).unwrap_or(usize::MAX))];
        let fit = avail.partition_point(|&end| end - start <= WRITE_BATCH_BYTES);
        let n = fit.max(1);
        (&self.bytes[start..avail[n - 1]], n)
    }
}

/// `PUB subject size\r\n<payload>\r\n` with a payload of `x`s.
pub fn pub_op(subject: &str, size: usize) -> Vec<u8> {
    let mut op = format!("PUB {subject} {size}\r\n").into_bytes();
    op.resize(op.len() + size, b'x');
    op.extend_from_slice(b"\r\n");
    op
}

/// How published messages are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// No subscribers.
    None,
    /// Every subscriber gets every message (plain subscriptions on one subject).
    Each,
    /// Each message goes to exactly one subscriber (a queue group, or disjoint subjects).
    One,
}

/// Counters shared by the publishers, the subscribers and the progress bar.
pub struct Flow {
    sent: AtomicU64,
    pubs_left: AtomicUsize,
    received: Vec<AtomicU64>,
    delivery: Delivery,
}

impl Flow {
    fn new(pubs: usize, subs: usize, delivery: Delivery) -> Flow {
        Flow {
            sent: AtomicU64::new(0),
            pubs_left: AtomicUsize::new(pubs),
            received: (0..subs).map(|_| AtomicU64::new(0)).collect(),
            delivery,
        }
    }

    fn delivered(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum()
    }

    /// Deliveries owed for the messages sent so far.
    fn expected(&self) -> u64 {
        let sent = self.sent.load(Ordering::Relaxed);
        match self.delivery {
            Delivery::None => 0,
            Delivery::Each => sent * self.received.len() as u64,
            Delivery::One => sent,
        }
    }

    /// Messages published but not yet received (by the slowest subscriber, for `Each`).
    fn backlog(&self) -> u64 {
        let sent = self.sent.load(Ordering::Relaxed);
        let done = match self.delivery {
            Delivery::None => return 0,
            Delivery::Each => self
                .received
                .iter()
                .map(|r| r.load(Ordering::Relaxed))
                .min()
                .unwrap_or(sent),
            Delivery::One => self.delivered(),
        };
        sent.saturating_sub(done)
    }

    /// All publishers have finished and everything they sent has arrived.
    fn complete(&self) -> bool {
        self.pubs_left.load(Ordering::Acquire) == 0 && self.delivered() >= self.expected()
    }
}

/// A throughput run, ready to go: subscribers are connected and subscribed.
pub struct Plan {
    /// Scenario name, for the progress bar.
    pub label: &'static str,
    /// What the publishers send.
    pub tape: Tape,
    /// Publishers, already connected.
    pub pubs: Vec<BenchConn>,
    /// Subscribers, already subscribed (and round-tripped).
    pub subs: Vec<BenchConn>,
    /// How messages reach the subscribers.
    pub delivery: Delivery,
    /// Messages to publish in all.
    pub msgs: u64,
    /// Stop publishing after this long, if set.
    pub duration: Option<Duration>,
    /// Messages allowed in flight.
    pub window: u64,
    /// The run's hard deadline.
    pub deadline: Instant,
    /// Whether a progress bar may be drawn.
    pub progress: bool,
}

/// What a throughput run measured.
pub struct Outcome {
    /// Messages published.
    pub sent: u64,
    /// Messages each subscriber received.
    pub per_sub: Vec<u64>,
    /// From the first publish to the last delivery (or the publishers' final PONG).
    pub elapsed: Duration,
    /// Problems: lost messages, failed threads.
    pub errors: Vec<String>,
}

impl Outcome {
    /// Copies the counts and rates into `report`.
    pub fn fill(&self, report: &mut Report) {
        report.sent = self.sent;
        report.received = self.per_sub.iter().sum();
        report.elapsed_s = self.elapsed.as_secs_f64();
        report.set_throughput();
        report.errors.extend(self.errors.iter().cloned());
    }
}

/// Runs the plan to completion or to its deadline.
///
/// # Errors
/// Only for failures to start threads; problems during the run end up in
/// [`Outcome::errors`].
pub fn run(plan: Plan) -> anyhow::Result<Outcome> {
    let Plan {
        label,
        tape,
        pubs,
        subs,
        delivery,
        msgs,
        duration,
        window,
        deadline,
        progress,
    } = plan;
    assert!(!pubs.is_empty());
    assert_eq!(subs.is_empty(), delivery == Delivery::None);
    let flow = Arc::new(Flow::new(pubs.len(), subs.len(), delivery));
    let tape = Arc::new(tape);
    let readers: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let flow = flow.clone();
            std::thread::Builder::new()
                .name(format!("sub-{i}"))
                .spawn(move || run_sub(conn, i, &flow, deadline))
        })
        .collect::<Result<_, _>>()
        .context("spawning subscriber threads")?;
    let start = Instant::now();
    let stop_at = duration.map(|d| start + d);
    let pubs_count = pubs.len() as u64;
    let writers: Vec<_> = pubs
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let flow = flow.clone();
            let tape = tape.clone();
            let quota = quota_of(msgs, pubs_count, i as u64);
            let job = PubJob {
                tape,
                quota,
                stop_at,
                deadline,
                window,
            };
            std::thread::Builder::new()
                .name(format!("pub-{i}"))
                .spawn(move || {
                    let r = run_pub(conn, &job, &flow);
                    flow.pubs_left.fetch_sub(1, Ordering::Release);
                    r
                })
        })
        .collect::<Result<_, _>>()
        .context("spawning publisher threads")?;
    let bar = progress_bar(label, progress, &flow, msgs, duration, start);
    let mut errors = Vec::new();
    let mut end = start;
    for w in writers {
        match w.join().map_err(|_| anyhow!("publisher thread panicked"))? {
            Ok(at) => end = end.max(at),
            Err(e) => errors.push(format!("publisher: {e}")),
        }
    }
    let mut per_sub = Vec::new();
    if delivery != Delivery::None {
        end = start;
    }
    for r in readers {
        let (got, last, err) = r
            .join()
            .map_err(|_| anyhow!("subscriber thread panicked"))?;
        per_sub.push(got);
        if let Some(at) = last {
            end = end.max(at);
        }
        if let Some(e) = err {
            errors.push(format!("subscriber: {e}"));
        }
    }
    bar.finish();
    let sent = flow.sent.load(Ordering::Relaxed);
    errors.extend(check_counts(delivery, sent, &per_sub));
    Ok(Outcome {
        sent,
        per_sub,
        elapsed: end.duration_since(start),
        errors,
    })
}

/// Publisher `i`'s share of `msgs`: the remainder goes to the first ones, so the shares add up.
pub fn quota_of(msgs: u64, pubs: u64, i: u64) -> u64 {
    msgs / pubs + u64::from(i < msgs % pubs)
}

/// Lost or duplicated deliveries, as error texts.
pub fn check_counts(delivery: Delivery, sent: u64, per_sub: &[u64]) -> Vec<String> {
    let mut errors = Vec::new();
    match delivery {
        Delivery::None => {}
        Delivery::Each => {
            let mut wrong = per_sub.iter().enumerate().filter(|(_, &got)| got != sent);
            if let Some((i, got)) = wrong.next() {
                errors.push(format!(
                    "{} of {} subscribers did not receive exactly the {sent} messages sent \
                     (subscriber {i}: {got})",
                    wrong.count() + 1,
                    per_sub.len()
                ));
            }
        }
        Delivery::One => {
            let got: u64 = per_sub.iter().sum();
            if got != sent {
                errors.push(format!(
                    "subscribers received {got} messages in all, {sent} were sent"
                ));
            }
        }
    }
    errors
}

fn progress_bar(
    label: &str,
    enabled: bool,
    flow: &Arc<Flow>,
    msgs: u64,
    duration: Option<Duration>,
    start: Instant,
) -> Progress {
    let flow = flow.clone();
    Progress::start(label, enabled, move || {
        let sent = flow.sent.load(Ordering::Relaxed);
        let frac = match duration {
            Some(d) => start.elapsed().as_secs_f64() / d.as_secs_f64(),
            None => sent as f64 / msgs as f64,
        };
        (frac, format!("{} msgs", si(sent as f64)))
    })
}

struct PubJob {
    tape: Arc<Tape>,
    quota: u64,
    stop_at: Option<Instant>,
    deadline: Instant,
    window: u64,
}

/// Publishes the job's quota; returns when the server has processed it (PING/PONG).
fn run_pub(mut conn: BenchConn, job: &PubJob, flow: &Flow) -> io::Result<Instant> {
    let mut pos = 0;
    let mut sent = 0u64;
    while sent < job.quota {
        let now = Instant::now();
        if job.stop_at.is_some_and(|t| now >= t) {
            break;
        }
        if now > job.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "deadline while publishing",
            ));
        }
        let backlog = flow.backlog();
        if backlog >= job.window {
            std::thread::sleep(WINDOW_WAIT);
            continue;
        }
        let max_ops = (job.quota - sent).min(job.window - backlog);
        let (bytes, n) = job.tape.batch(pos, max_ops);
        conn.write_all(bytes, job.deadline)?;
        pos = (pos + n) % job.tape.len();
        sent += n as u64;
        flow.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    conn.round_trip(job.deadline)?;
    Ok(Instant::now())
}

/// Counts deliveries until the flow completes or the deadline passes. Returns the count, the
/// time of the last delivery, and the error that stopped it early, if any.
fn run_sub(
    mut conn: BenchConn,
    idx: usize,
    flow: &Flow,
    deadline: Instant,
) -> (u64, Option<Instant>, Option<String>) {
    let mut got = 0u64;
    let mut last = None;
    while !flow.complete() {
        if Instant::now() > deadline {
            return (
                got,
                last,
                Some("deadline passed before all messages arrived".into()),
            );
        }
        match conn.read_msgs(deadline, |_| {}) {
            Ok(0) => {}
            Ok(n) => {
                got += n;
                last = Some(Instant::now());
                flow.received[idx].fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => return (got, last, Some(e.to_string())),
        }
    }
    (got, last, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tape_batches_stay_within_a_write() {
        let tape = Tape::single("bench.x", 16);
        let op = pub_op("bench.x", 16);
        assert_eq!(op, b"PUB bench.x 16\r\nxxxxxxxxxxxxxxxx\r\n");
        assert_eq!(tape.len(), WRITE_BATCH_BYTES / op.len());
        let (bytes, n) = tape.batch(0, u64::MAX);
        assert_eq!(n, tape.len());
        assert_eq!(bytes.len(), n * op.len());
        let (bytes, n) = tape.batch(3, 5);
        assert_eq!((bytes.len(), n), (5 * op.len(), 5));
        let (_, n) = tape.batch(tape.len() - 2, 100);
        assert_eq!(n, 2, "a batch does not wrap around the tape");
    }

    #[test]
    fn tape_with_ops_larger_than_a_batch() {
        let tape = Tape::single("big", 100_000);
        assert_eq!(tape.len(), 1);
        let (bytes, n) = tape.batch(0, 10);
        assert_eq!(n, 1);
        assert_eq!(bytes.len(), pub_op("big", 100_000).len());
    }

    #[test]
    fn tape_of_distinct_subjects() {
        let tape = Tape::from_subjects(["a".to_string(), "bb".into(), "ccc".into()], 0);
        assert_eq!(
            tape.batch(0, 3),
            (&b"PUB a 0\r\n\r\nPUB bb 0\r\n\r\nPUB ccc 0\r\n\r\n"[..], 3)
        );
        assert_eq!(tape.batch(1, 1), (&b"PUB bb 0\r\n\r\n"[..], 1));
    }

    #[test]
    fn windows() {
        assert_eq!(window_default(16), (8 << 20) / 56);
        assert_eq!(window_default(1 << 20), WINDOW_MSGS_MIN);
    }

    #[test]
    fn backlog_and_completion() {
        let each = Flow::new(1, 2, Delivery::Each);
        each.sent.store(100, Ordering::Relaxed);
        each.received[0].store(100, Ordering::Relaxed);
        each.received[1].store(40, Ordering::Relaxed);
        assert_eq!(
            each.backlog(),
            60,
            "the slowest subscriber sets the backlog"
        );
        assert!(!each.complete(), "a publisher is still running");
        each.pubs_left.store(0, Ordering::Relaxed);
        assert!(!each.complete());
        each.received[1].store(100, Ordering::Relaxed);
        assert!(each.complete());

        let one = Flow::new(1, 3, Delivery::One);
        one.sent.store(90, Ordering::Relaxed);
        for r in &one.received {
            r.store(20, Ordering::Relaxed);
        }
        assert_eq!(one.backlog(), 30);
        one.pubs_left.store(0, Ordering::Relaxed);
        assert!(!one.complete());
        one.received[0].store(50, Ordering::Relaxed);
        assert!(one.complete());

        let none = Flow::new(1, 0, Delivery::None);
        none.sent.store(5, Ordering::Relaxed);
        assert_eq!(none.backlog(), 0);
    }

    #[test]
    fn quotas_add_up() {
        for (msgs, pubs) in [(10, 3), (2, 5), (1_000_000, 1), (7, 7)] {
            let total: u64 = (0..pubs).map(|i| quota_of(msgs, pubs, i)).sum();
            assert_eq!(total, msgs, "{msgs} over {pubs}");
        }
        assert_eq!(quota_of(10, 3, 0), 4);
        assert_eq!(quota_of(10, 3, 2), 3);
    }

    #[test]
    fn count_checks() {
        assert!(check_counts(Delivery::Each, 10, &[10, 10]).is_empty());
        assert_eq!(
            check_counts(Delivery::Each, 10, &[10, 9, 11]),
            vec![
                "2 of 3 subscribers did not receive exactly the 10 messages sent (subscriber 1: 9)"
                    .to_string()
            ]
        );
        assert!(check_counts(Delivery::One, 10, &[3, 7]).is_empty());
        assert_eq!(
            check_counts(Delivery::One, 10, &[3, 6]),
            vec!["subscribers received 9 messages in all, 10 were sent".to_string()]
        );
        assert!(check_counts(Delivery::None, 10, &[]).is_empty());
    }
}
