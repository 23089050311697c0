//! Flow control: a fast publisher slows down instead of turning a healthy subscriber into a
//! slow consumer (nats-server `client.go`: the stall gate `out.stc` and `stalledWait`).
//!
//! Each connection has a **stall gate** (`crate::gate`) shared with its subscriptions. Its
//! worker closes the gate when the connection's pending output goes over [`STALL_MARK`]
//! (three quarters of `max_pending`, as nats-server) and opens it again when a flush brings it
//! back under, or when the connection closes.
//!
//! A publisher that delivers to a subscription whose gate is closed is **stalled**: after the
//! read buffer it is working through, its worker stops reading it, for at most [`STALL_MAX`]
//! or until the gate opens, whichever comes first. A worker never sleeps for this: the
//! publisher's socket simply is not read (TCP pushes back to the client), and the other
//! connections are served as usual. The subscriber's worker may be another one: the
//! publisher's worker registers as a waiter of the gate, and the worker that opens it wakes
//! it (a stall ends when the subscriber has drained, not when it runs out). The publisher's
//! worker also looks at its stalled publishers once per loop iteration, with a poll timeout
//! bounded by the earliest stall deadline. A subscriber that does not read at all is still closed by `max_pending` or
//! `write_deadline` as before; its gate opens when it closes.
//!
//! A gate alone does not bound what is on its way to a subscriber on another worker: the
//! batches handed to that worker and not delivered yet. Each worker therefore counts the
//! bytes in its inbox (`WorkerHandle::inbox_bytes`, added by senders per batch, subtracted
//! once delivered), and a publisher whose deliveries go to a worker with more than
//! [`inbox_mark`] in flight stalls the same way until it is back under half of it (the
//! receiving worker wakes the inbox's waiters when it gets there). The two marks add up to
//! under `max_pending` (3/4 + 1/8, plus one message: a stalled publisher's remaining ops are
//! not parsed until it is released), so a subscriber that reads is not dropped however its
//! publishers are spread over workers.
//!
//! Only client publishers stall: the server's own messages (system events, routed through
//! `route_internal`) never wait, so nothing here can hold up the system account.

use super::Worker;
use crate::gate::{StallGate, Waiters, WakeSet};
use crate::ids::{Slot, WorkerId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a publisher waits for one gate before it is read again (nats-server
/// `stallClientMaxDuration`). It stalls again if its next deliveries meet a closed gate.
pub const STALL_MAX: Duration = Duration::from_millis(5);

/// The pending-output mark above which a connection's gate closes: three quarters of
/// `max_pending` (nats-server closes its stall gate at `mp/4*3`).
pub fn stall_mark(max_pending: usize) -> usize {
    max_pending / 4 * 3
}

/// Bytes in flight towards one worker above which its publishers stall: an eighth of
/// `max_pending`.
pub fn inbox_mark(max_pending: usize) -> usize {
    max_pending / 8
}

/// What a delivery meeting a closed stall gate does, for the publish being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClosedGate {
    /// Deliver, then stall the publisher (a client, by default).
    Stall,
    /// Skip that subscriber: `no_fast_producer_stall` (nats-server `deliverMsg` returns
    /// false, so a queue group tries another member).
    Skip,
    /// Deliver and go on: the server's own messages never wait.
    Deliver,
    /// Deliver whatever the gates say (nats-server does not stall routes), but stall on a
    /// full inbox of another worker, so what a route peer sends cannot pile up in batches
    /// without bound: the route is not read for a moment, which pushes back on the peer.
    InboxOnly,
}

/// What a stalled publisher waits for.
#[derive(Debug)]
pub enum Wait {
    /// A subscriber's gate to open.
    Gate(Arc<StallGate>),
    /// A worker's inbox to fall under this many bytes; its waiters.
    Inbox(Arc<AtomicUsize>, usize, Arc<Waiters>),
}

impl Wait {
    fn over(&self) -> bool {
        match self {
            Wait::Gate(gate) => gate.is_closed(),
            Wait::Inbox(bytes, low, _) => bytes.load(Ordering::Relaxed) > *low,
        }
    }

    /// Asks to be woken when the wait is over; then looks again (see `crate::gate`).
    fn register(&self, worker: WorkerId) -> bool {
        match self {
            Wait::Gate(gate) => gate.wait(worker.0),
            Wait::Inbox(bytes, low, waiters) => {
                waiters.add(worker.0);
                bytes.load(Ordering::SeqCst) > *low
            }
        }
    }
}

/// A publisher waiting for a subscriber or a worker to drain.
#[derive(Debug)]
pub struct Stall {
    wait: Wait,
    /// When to read the publisher again even if it is still waiting.
    until: Instant,
}

/// Closes a connection's gate if its pending output is over the mark; called by the owning
/// worker after queueing output (which only adds, so it never opens the gate).
#[inline]
pub fn close_gate_if_over(gate: &StallGate, pending: usize, max_pending: usize) {
    if pending > stall_mark(max_pending) {
        let _opened_nothing = gate.set(true);
    }
}

/// Closes or opens a connection's gate from its pending output after a flush; returns the
/// workers to wake if it opened.
#[inline]
pub fn update_gate(gate: &StallGate, pending: usize, max_pending: usize) -> WakeSet {
    gate.set(pending > stall_mark(max_pending))
}

impl Worker {
    /// A delivery met a closed gate: the publisher being routed now stalls once its current
    /// read is processed. Called by `deliver` on the publishing worker.
    #[inline]
    pub(super) fn note_closed_gate(&mut self, gate: &Arc<StallGate>) {
        if self.wait_on.is_none() {
            self.wait_on = Some(Wait::Gate(gate.clone()));
        }
    }

    /// A delivery goes to worker `dest`: the publisher stalls if too much is already on its
    /// way there (this iteration's batch included). Called by `deliver` for other workers.
    #[inline]
    pub(super) fn check_inbox(&mut self, dest: WorkerId) {
        if self.wait_on.is_some() {
            return;
        }
        let mark = inbox_mark(self.rt.limits.max_pending);
        let Some(handle) = self.shared.workers().get(dest.0) else {
            return;
        };
        let bytes = handle.inbox_bytes();
        let queued = bytes.load(Ordering::Relaxed) + self.batches[dest.0].msgs.len();
        if queued > mark {
            let waiters = handle.inbox_waiters().clone();
            self.wait_on = Some(Wait::Inbox(bytes.clone(), mark / 2, waiters));
        }
    }

    /// After routing a client's publish: stall the publisher if a delivery met a closed gate
    /// or a full inbox.
    pub(super) fn stall_publisher(&mut self, slot: Slot, now: Instant) {
        let Some(wait) = self.wait_on.take() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.stall.is_none() {
            // Registered before the stall is looked at again (`release_stalled`), so an
            // opening in between is either seen there or wakes this worker.
            wait.register(self.id);
            self.stats.stalled_clients += 1;
            conn.stall = Some(Stall {
                wait,
                until: now + STALL_MAX,
            });
            self.stalled.push(slot);
        }
    }

    /// Wakes the workers with publishers stalled on a gate or an inbox that just drained.
    /// This worker is not woken (its poll timeout already accounts for its own stalls).
    pub(super) fn wake_waiters(&self, set: WakeSet) {
        if set.is_empty() {
            return;
        }
        for (id, handle) in self.shared.workers().iter().enumerate() {
            if id != self.id.0 && set.contains(id) {
                handle.wake();
            }
        }
    }

    /// After delivering a batch of `bytes` from the inbox: wakes the workers waiting for it to
    /// drain once it is under half its mark.
    pub(super) fn inbox_drained(&self, bytes: usize) {
        let Some(me) = self.shared.workers().get(self.id.0) else {
            return;
        };
        let left = me.inbox_bytes().fetch_sub(bytes, Ordering::SeqCst) - bytes;
        if left <= inbox_mark(self.rt.limits.max_pending) / 2 {
            self.wake_waiters(me.inbox_waiters().take());
        }
    }

    /// Reads again the stalled publishers whose gate opened or whose stall ran out; called
    /// once per loop iteration.
    pub(super) fn release_stalled(&mut self, now: Instant) {
        if self.stalled.is_empty() {
            return;
        }
        let stalled = std::mem::take(&mut self.stalled);
        for slot in stalled {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            let Some(stall) = &conn.stall else {
                continue;
            };
            if stall.wait.over() && now < stall.until {
                self.stalled.push(slot);
                continue;
            }
            conn.stall = None;
            // What was read before the stall began is parsed first (it may stall again);
            // then, edge-triggered, the bytes left in the socket bring no new event: read now.
            if conn.rlen > 0 {
                self.parse_and_dispatch(slot);
            }
            self.mark_read_again(slot);
        }
    }

    /// The earliest stall deadline, for the poll timeout; now if a stall is already over (a
    /// gate this worker opened itself while flushing, after `release_stalled` ran).
    pub(super) fn next_stall_deadline(&self, now: Instant) -> Option<Instant> {
        let stalls = || {
            self.stalled
                .iter()
                .filter_map(|&slot| self.conns.get(slot)?.stall.as_ref())
        };
        if stalls().any(|s| !s.wait.over()) {
            return Some(now);
        }
        stalls().map(|s| s.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_closes_over_three_quarters_and_opens_under() {
        let gate = StallGate::default();
        let max = 1000;
        assert_eq!(stall_mark(max), 750);
        close_gate_if_over(&gate, 750, max);
        assert!(!gate.is_closed());
        close_gate_if_over(&gate, 751, max);
        assert!(gate.is_closed());
        assert!(gate.wait(1));
        assert!(update_gate(&gate, 900, max).is_empty());
        assert!(gate.is_closed());
        assert!(update_gate(&gate, 0, max).contains(1));
        assert!(!gate.is_closed());
    }
}
