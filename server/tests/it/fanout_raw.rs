//! Cross-worker fan-out over raw TCP: every plain subscriber gets every message and each
//! queue group gets each message exactly once, with connections spread over workers.

use crate::util::{start_server, Conn, QUIET};
use std::time::{Duration, Instant};

fn count(buf: &[u8], needle: &[u8]) -> usize {
    buf.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn plain_and_queue_fanout_across_workers() {
    let s = start_server("", &["-workers", "2"]);
    for round in 0..5 {
        let mut members: Vec<Conn> = (0..4).map(|_| Conn::setup(&s)).collect();
        for m in members.iter_mut() {
            m.send(QUIET);
            m.send(b"SUB work q 1\r\n");
            m.sync();
        }
        let mut plain = Conn::setup(&s);
        plain.send(QUIET);
        plain.send(b"SUB work 7\r\n");
        plain.sync();
        let mut publisher = Conn::setup(&s);
        publisher.send(QUIET);
        let total = 400;
        let mut out = Vec::new();
        for i in 0..total {
            let body = format!("{i:04}");
            out.extend_from_slice(format!("PUB work {}\r\n{body}\r\n", body.len()).as_bytes());
        }
        publisher.send(&out);
        publisher.sync();
        let end = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while count(&got, b"MSG work 7 4\r\n") < total && Instant::now() < end {
            got.extend(plain.drain_for(Duration::from_millis(20)));
        }
        assert_eq!(
            count(&got, b"MSG work 7 4\r\n"),
            total,
            "round {round}: plain subscriber"
        );
        let mut q = 0;
        for m in members.iter_mut() {
            q += count(
                &m.drain_for(Duration::from_millis(100)),
                b"MSG work 1 4\r\n",
            );
        }
        assert_eq!(q, total, "round {round}: queue group");
    }
}
