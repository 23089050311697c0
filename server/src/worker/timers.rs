//! Per-worker timers: a min-heap of deadlines with lazy cancellation. A fired entry is checked
//! against the connection's current state (same cid, timer still wanted) before it acts, so
//! nothing has to be removed from the heap when a connection closes or a timer is reset.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a timer entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Keepalive: maybe send a PING, or close a stale connection.
    Ping,
    /// Auth timeout: close if still not authenticated.
    Auth,
    /// The client's credentials expire (user JWT `exp`).
    Expiry,
    /// Write deadline: close a connection whose output has not moved.
    WriteStall,
    /// TLS setup: handshake timeout, the handshake-first fallback, or the plaintext/TLS
    /// sniffing of `allow_non_tls`.
    Tls,
}

/// One scheduled timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    /// When it fires.
    pub at: Instant,
    /// The connection slot.
    pub slot: usize,
    /// The connection id the timer was set for.
    pub cid: u64,
    /// What it does.
    pub kind: TimerKind,
}

/// The heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    /// Schedules a timer.
    pub fn schedule(&mut self, timer: Timer) {
        self.heap.push(Reverse(timer));
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|t| t.0.at)
    }

    /// Pops the next timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.heap.peek()?.0.at <= now {
            self.heap.pop().map(|t| t.0)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        for (i, ms) in [30u64, 10, 20].iter().enumerate() {
            t.schedule(Timer {
                at: now + Duration::from_millis(*ms),
                slot: i,
                cid: 1,
                kind: TimerKind::Ping,
            });
        }
        assert!(t.pop_due(now).is_none());
        let later = now + Duration::from_millis(25);
        assert_eq!(t.pop_due(later).map(|x| x.slot), Some(1));
        assert_eq!(t.pop_due(later).map(|x| x.slot), Some(2));
        assert!(t.pop_due(later).is_none());
        assert!(t.next_deadline().is_some());
    }
}
