//! Wake-ups between workers for flow control (`worker/flow.rs`): a [`StallGate`] closed while
//! a subscriber has too much output pending, and the [`Waiters`] to wake when it opens.
//!
//! A publisher stalled on another worker's subscriber is not read until the gate opens. Its
//! worker adds itself to the gate's waiters, and the worker that opens the gate wakes them,
//! so the publisher resumes as soon as the subscriber has drained instead of when its stall
//! runs out (nats-server closes the stall channel the producer waits on, `client.go`
//! `flushOutbound`). Both sides use sequentially consistent operations in opposite order
//! (waiter: add itself, then look at the gate; opener: open, then take the waiters), so a
//! waiter is either woken or sees the gate open; it never sleeps past an opening.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Workers to wake, as a bit per worker id (ids above 63 share bits: a spare wake-up costs a
/// loop iteration, a lost one a stall timeout).
#[derive(Debug, Default)]
pub struct Waiters(AtomicU64);

impl Waiters {
    /// The bit of worker `id`.
    fn bit(id: usize) -> u64 {
        1 << (id % 64)
    }

    /// Worker `id` waits to be woken.
    pub fn add(&self, id: usize) {
        self.0.fetch_or(Self::bit(id), Ordering::SeqCst);
    }

    /// Takes every waiter (to wake them), leaving none. Cheap when there are none.
    pub fn take(&self) -> WakeSet {
        if self.0.load(Ordering::SeqCst) == 0 {
            return WakeSet(0);
        }
        WakeSet(self.0.swap(0, Ordering::SeqCst))
    }
}

/// Workers taken from [`Waiters`], to wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the waiters are gone from the gate: wake them"]
pub struct WakeSet(u64);

impl WakeSet {
    /// Nobody to wake.
    pub const NONE: WakeSet = WakeSet(0);

    /// Whether worker `id` is to be woken.
    pub fn contains(self, id: usize) -> bool {
        self.0 & Waiters::bit(id) != 0
    }

    /// Whether there is nobody to wake.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A subscriber connection's stall gate, shared with its subscriptions.
#[derive(Debug, Default)]
pub struct StallGate {
    closed: AtomicBool,
    waiters: Waiters,
    /// Publishers stalled on this gate so far (CONNZ `stalls`; nats-server counts them on the
    /// subscriber, `client.stalls`).
    stalls: AtomicU64,
}

impl StallGate {
    /// Whether publishers delivering to this subscriber should stall.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Closes or opens the gate; on opening, returns the workers to wake. Written only when it
    /// changes: the gate is read by publishers on every worker.
    #[inline]
    pub fn set(&self, closed: bool) -> WakeSet {
        if self.closed.load(Ordering::Relaxed) == closed {
            return WakeSet::NONE;
        }
        self.closed.store(closed, Ordering::SeqCst);
        if closed {
            WakeSet::NONE
        } else {
            self.waiters.take()
        }
    }

    /// Worker `id` waits for the gate to open (a publisher stalls on it); returns whether it
    /// is still closed (if not, there is nothing to wait for).
    pub fn wait(&self, id: usize) -> bool {
        self.stalls.fetch_add(1, Ordering::Relaxed);
        self.waiters.add(id);
        self.closed.load(Ordering::SeqCst)
    }

    /// Publishers stalled on this gate so far.
    pub fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_returns_the_waiters_once() {
        let gate = StallGate::default();
        assert!(gate.set(true).is_empty());
        assert!(gate.is_closed());
        assert!(gate.wait(1));
        assert!(gate.wait(3));
        assert!(gate.set(true).is_empty(), "no change, nobody woken");
        assert_eq!(gate.stalls(), 2);
        let woken = gate.set(false);
        assert!(woken.contains(1) && woken.contains(3) && !woken.contains(0));
        assert!(!gate.is_closed());
        assert!(gate.set(false).is_empty(), "taken once");
        assert!(!gate.wait(2), "an open gate is not waited for");
    }

    #[test]
    fn waiters_take_leaves_none() {
        let w = Waiters::default();
        assert!(w.take().is_empty());
        w.add(0);
        w.add(64);
        let set = w.take();
        assert!(set.contains(0));
        assert!(w.take().is_empty());
    }
}
