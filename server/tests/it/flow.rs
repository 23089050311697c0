//! Flow control (issue 12): a publisher sending as fast as it can is slowed down instead of
//! its subscribers being closed as slow consumers, while a subscriber that does not read is
//! still closed and the others keep going. Small `max_pending` values make a drop certain
//! without the stall (checked against the build before it), and the same tests pass against
//! nats-server, which stalls fast producers the same way.

use crate::util::{is_gannet, start_server, Conn, QUIET};
use std::io::Read;
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bound on every transfer below.
const DEADLINE: Duration = Duration::from_secs(60);

/// Two workers for gannet, so that publisher and subscribers are on different ones (the
/// control thread hands connections out round-robin).
fn server(config: &str) -> crate::util::Server {
    let workers: &[&str] = if is_gannet() { &["-workers", "2"] } else { &[] };
    start_server(config, workers)
}

fn subscriber(s: &crate::util::Server, subject: &str) -> Conn {
    let mut c = Conn::setup(s);
    c.send(QUIET);
    c.send(format!("SUB {subject} 1\r\n").as_bytes());
    c.sync();
    c
}

/// Bytes one delivery of a `size`-byte message on `subject` takes on the wire.
fn delivery_len(subject: &str, size: usize) -> usize {
    format!("MSG {subject} 1 {size}\r\n").len() + size + 2
}

/// Publishes `count` messages of `size` bytes as fast as the socket takes them, on a thread.
fn publish(s: &crate::util::Server, subject: &str, size: usize, count: usize) -> JoinHandle<Conn> {
    let mut publisher = Conn::setup(s);
    publisher.send(QUIET);
    let subject = subject.to_string();
    std::thread::spawn(move || {
        let mut one = format!("PUB {subject} {size}\r\n").into_bytes();
        one.extend(std::iter::repeat_n(b'x', size));
        one.extend_from_slice(b"\r\n");
        let batch: Vec<u8> = one.repeat(64);
        let mut left = count;
        while left > 0 {
            let n = left.min(64);
            publisher.send(&batch[..n * one.len()]);
            left -= n;
        }
        publisher
    })
}

/// Reads until `want` bytes arrived, the connection closed or the deadline passed, pausing
/// once for `pause` after the first `pause_after` bytes. Returns the bytes read (a server
/// PING may be among them).
fn read_stream(mut sock: TcpStream, want: usize, pause_after: usize, pause: Duration) -> usize {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let end = Instant::now() + DEADLINE;
    let mut chunk = vec![0u8; 256 * 1024];
    let (mut got, mut paused) = (0, pause.is_zero());
    while got < want && Instant::now() < end {
        if !paused && got >= pause_after {
            std::thread::sleep(pause);
            paused = true;
        }
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    got
}

fn reader(c: Conn, want: usize, pause_after: usize, pause: Duration) -> JoinHandle<usize> {
    assert!(c.buf.is_empty(), "nothing read ahead");
    std::thread::spawn(move || read_stream(c.sock, want, pause_after, pause))
}

#[test]
fn fast_publisher_does_not_drop_a_reading_subscriber_16k() {
    let s = server("max_pending: 1MB\n");
    let (size, count) = (16 * 1024, 2000);
    let want = count * delivery_len("big", size);
    let sub = reader(subscriber(&s, "big"), want, 0, Duration::ZERO);
    let mut publisher = publish(&s, "big", size, count).join().expect("publisher");
    assert!(
        sub.join().expect("reader") >= want,
        "every message, subscriber not closed"
    );
    publisher.sync();
}

#[test]
fn fast_publisher_does_not_drop_fanout_subscribers_1k() {
    let s = server("max_pending: 2MB\n");
    let (size, count) = (1024, 20_000);
    let want = count * delivery_len("fan", size);
    let subs: Vec<_> = (0..4)
        .map(|_| reader(subscriber(&s, "fan"), want, 0, Duration::ZERO))
        .collect();
    let mut publisher = publish(&s, "fan", size, count).join().expect("publisher");
    for (i, sub) in subs.into_iter().enumerate() {
        assert!(sub.join().expect("reader") >= want, "subscriber {i}");
    }
    publisher.sync();
}

#[test]
fn stalled_publisher_resumes_when_the_subscriber_drains() {
    // The subscriber stops reading for a while: the publisher is held back (its socket is not
    // read) instead of the subscriber's pending output growing past max_pending, and both go
    // on when it reads again.
    let s = server("max_pending: 16MB\n");
    let (size, count) = (16 * 1024, 4096);
    let want = count * delivery_len("pause", size);
    let sub = reader(
        subscriber(&s, "pause"),
        want,
        1 << 20,
        Duration::from_millis(200),
    );
    let mut publisher = publish(&s, "pause", size, count).join().expect("publisher");
    assert!(sub.join().expect("reader") >= want);
    publisher.sync();
}

#[test]
fn stall_holds_back_the_rest_of_a_large_read() {
    // max_pending is about what one read of a busy publisher brings in (gannet reads up to
    // 256 KiB): the publisher's ops after the one that closed the gate must wait unparsed,
    // or the subscriber would go over max_pending and be dropped.
    let s = server("max_pending: 256KB\nmax_payload: 64KB\n");
    let (size, count) = (4 * 1024, 16_384);
    let want = count * delivery_len("small", size);
    let sub = reader(subscriber(&s, "small"), want, 0, Duration::ZERO);
    let mut publisher = publish(&s, "small", size, count).join().expect("publisher");
    assert!(sub.join().expect("reader") >= want, "subscriber not closed");
    publisher.sync();
}

#[test]
fn subscriber_that_never_reads_is_closed_and_the_others_get_everything() {
    let s = server("max_pending: 1MB\n");
    let (size, count) = (16 * 1024, 3000);
    let want = count * delivery_len("mixed", size);
    let mut idle = subscriber(&s, "mixed");
    let busy = reader(subscriber(&s, "mixed"), want, 0, Duration::ZERO);
    let mut publisher = publish(&s, "mixed", size, count).join().expect("publisher");
    assert!(
        busy.join().expect("reader") >= want,
        "the reading subscriber loses nothing"
    );
    publisher.sync();
    // The idle one was closed as a slow consumer: what the kernel buffered, then EOF.
    idle.sock
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    assert!(
        idle.is_closed(Duration::from_secs(10)),
        "idle subscriber closed"
    );
}

#[test]
fn no_fast_producer_stall_drops_for_the_stalled_subscriber_instead() {
    // With `no_fast_producer_stall`, a subscriber that does not read is neither closed nor
    // holding its publisher back: messages for it are dropped while its gate is closed
    // (nats-server `deliverMsg`), the publisher gets through everything, and the subscriber
    // is still there afterwards, with some of the messages.
    let s = server("max_pending: 1MB\nno_fast_producer_stall: true\n");
    let (size, count) = (16 * 1024, 2000);
    let sub = subscriber(&s, "nfps");
    let mut publisher = publish(&s, "nfps", size, count).join().expect("publisher");
    publisher.sync();
    let msgs = count_until_pong(sub.sock, b"MSG nfps 1 16384\r\n");
    assert!(
        msgs > 0,
        "the subscriber got messages before its gate closed"
    );
    assert!(msgs < count, "some messages were dropped, got {msgs}");
}

/// Sends PING and reads until the PONG, counting the deliveries that start with `head`.
/// Panics (without the data) if the connection closes or the deadline passes first.
fn count_until_pong(mut sock: TcpStream, head: &[u8]) -> usize {
    use std::io::Write;
    sock.write_all(b"PING\r\n").expect("ping");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let end = Instant::now() + DEADLINE;
    let mut chunk = vec![0u8; 256 * 1024];
    // Unscanned bytes: at most one partial `head` or PONG is carried over between reads.
    let mut tail: Vec<u8> = Vec::new();
    let mut found = 0;
    while Instant::now() < end {
        let n = match sock.read(&mut chunk) {
            Ok(0) => panic!("the subscriber was closed after {found} messages"),
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => panic!("read failed after {found} messages: {e}"),
        };
        tail.extend_from_slice(&chunk[..n]);
        found += tail.windows(head.len()).filter(|w| *w == head).count();
        if tail.ends_with(b"PONG\r\n") {
            return found;
        }
        let keep = tail.len().min(head.len() - 1);
        tail.drain(..tail.len() - keep);
    }
    panic!("no PONG within {DEADLINE:?}, {found} messages");
}

#[test]
fn stalls_are_counted_in_varz_and_connz() {
    // A subscriber pausing behind a fast publisher stalls it: VARZ `stalled_clients` and the
    // subscriber's CONNZ `stalls` count it, as nats-server does.
    let workers: &[&str] = if is_gannet() { &["-workers", "2"] } else { &[] };
    let (s, port) = crate::monitor::start_monitored("max_pending: 16MB\n", workers);
    let (size, count) = (16 * 1024, 4096);
    let want = count * delivery_len("counted", size);
    let sub = reader(
        subscriber(&s, "counted"),
        want,
        1 << 20,
        Duration::from_millis(200),
    );
    let mut publisher = publish(&s, "counted", size, count)
        .join()
        .expect("publisher");
    assert!(sub.join().expect("reader") >= want);
    publisher.sync();
    let json = |path: &str| -> serde_json::Value {
        let (status, _, body) = crate::monitor::get(port, path);
        assert_eq!(status, 200, "{path}");
        serde_json::from_str(&body).expect("json")
    };
    let stalled = json("/varz")["stalled_clients"].as_i64().unwrap_or(0);
    assert!(stalled > 0, "stalled_clients {stalled}");
    // The subscriber has closed by now (its reader thread owned the socket).
    let connz = json("/connz?state=all");
    let stalls: Vec<i64> = connz["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["stalls"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        stalls.iter().any(|&n| n > 0),
        "stalls per connection {stalls:?}"
    );
    // Deliveries made by the other worker count in the subscriber's bytes too.
    let out_bytes: i64 = connz["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["out_bytes"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(out_bytes, (count * size) as i64);
}
