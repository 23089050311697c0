//! Per-worker timers: a min-heap of deadlines with lazy cancellation. A fired entry is checked
//! against the connection's current state (same cid, timer still wanted) before it acts, so
//! nothing has to be removed from the heap when a connection closes or a timer is reset.

use super::{ClosedReason, Worker};
use crate::ids::Slot;
use crate::log;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

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
    /// A WebSocket connection's upgrade deadline.
    WsUpgrade,
}

/// One scheduled timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    /// When it fires.
    pub at: Instant,
    /// The connection slot.
    pub slot: Slot,
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

impl Worker {
    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            let live = self.conns.get_live(timer.slot, timer.cid).is_some();
            if !live {
                continue;
            }
            let route = self
                .conns
                .get(timer.slot)
                .is_some_and(|c| c.route.is_some());
            match timer.kind {
                TimerKind::Ping if route => self.route_ping_timer(timer.slot, now),
                TimerKind::Auth if route => self.route_auth_timer(timer.slot, now),
                TimerKind::Ping => self.ping_timer(timer.slot, now),
                TimerKind::Auth => self.auth_timer(timer.slot, now),
                TimerKind::Expiry => self.expiry_timer(timer.slot),
                TimerKind::WriteStall => self.write_stall_timer(timer.slot, now),
                TimerKind::Tls => self.tls_timer(timer.slot, now),
                TimerKind::WsUpgrade => self.ws_upgrade_timer(timer.slot),
            }
        }
        self.lame_duck_tick(now);
        // Timers may have queued output (PING, -ERR); flush it now rather than next iteration.
        self.flush_dirty();
    }

    /// Keepalive (spec §1.8), mirroring nats-server `processPingTimer`.
    pub(super) fn ping_timer(&mut self, slot: Slot, now: Instant) {
        let limits = &self.rt.limits;
        let (interval, ping_max) = (limits.ping_interval, limits.ping_max);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.is_closing() {
            return;
        }
        let cid = conn.cid;
        self.timers.schedule(Timer {
            at: now + interval,
            slot,
            cid,
            kind: TimerKind::Ping,
        });
        // An RTT is wanted until the client has answered a PING, and again every hour.
        let need_rtt = conn
            .ping
            .rtt_at
            .is_none_or(|at| now.duration_since(at) > Duration::from_secs(3600));
        if !need_rtt && now.duration_since(conn.ping.last_in) < interval {
            return;
        }
        self.ping_or_stale(slot, now, ping_max);
    }

    /// Sends a keepalive PING, or closes the connection as stale when `ping_max` PINGs went
    /// unanswered (nats-server `processPingTimer`); clients and routes alike.
    pub(super) fn ping_or_stale(&mut self, slot: Slot, now: Instant, ping_max: u32) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.ping.outstanding + 1 > ping_max {
            let kind = if conn.route.is_some() { "" } else { "Client " };
            crate::debug!("{} - Stale {kind}Connection - Closing", conn.log_prefix());
            self.send_err_and_close(
                slot,
                protocol::errors::STALE_CONNECTION.as_bytes(),
                ClosedReason::StaleConnection,
            );
            return;
        }
        conn.ping.outstanding += 1;
        conn.ping.rtt_start = Some(now);
        self.queue_out(slot, protocol::encode::PING);
    }

    pub(super) fn auth_timer(&mut self, slot: Slot, now: Instant) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let expired = conn.auth_deadline.is_some_and(|at| at <= now);
        if expired && conn.identity.is_none() && !conn.is_closing() {
            crate::debug!("{} - Authentication Timeout", conn.log_prefix());
            self.send_err_and_close(
                slot,
                protocol::errors::AUTHENTICATION_TIMEOUT.as_bytes(),
                ClosedReason::AuthenticationTimeout,
            );
        }
    }

    /// Closes a client whose user JWT expired (nats-server: `User Authentication Expired`).
    pub(super) fn expiry_timer(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if conn.is_closing() {
            return;
        }
        let now = std::time::SystemTime::now();
        let identity = conn.identity.as_ref();
        let due = |at: Option<std::time::SystemTime>| at.is_some_and(|at| at <= now);
        let account_expires = identity.and_then(|i| i.jwt.as_ref()?.account_expires);
        let text = if due(identity.and_then(|i| i.expires)) {
            protocol::errors::USER_AUTHENTICATION_EXPIRED
        } else if due(account_expires) {
            protocol::errors::ACCOUNT_AUTHENTICATION_EXPIRED
        } else {
            return;
        };
        crate::debug!("{} - {text}", conn.log_prefix());
        self.send_err_and_close(slot, text.as_bytes(), ClosedReason::AuthenticationExpired);
    }

    /// Arms the expiry timer of a client whose credentials expire.
    pub(super) fn arm_expiry(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let identity = conn.identity.as_ref();
        let account_expires = identity.and_then(|i| i.jwt.as_ref()?.account_expires);
        let Some(expires) = [identity.and_then(|i| i.expires), account_expires]
            .into_iter()
            .flatten()
            .min()
        else {
            return;
        };
        let left = expires
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        self.timers.schedule(Timer {
            at: Instant::now() + left.min(crate::runtime::TIMER_MAX),
            slot,
            cid: conn.cid,
            kind: TimerKind::Expiry,
        });
    }

    pub(super) fn write_stall_timer(&mut self, slot: Slot, now: Instant) {
        let deadline = self.rt.limits.write_deadline;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(since) = conn.stalled_since else {
            return;
        };
        if conn.route.is_some() {
            // Routes retry (nats-server's write_timeout policy for routes): a peer that
            // stopped reading goes when it stops answering PINGs.
            return;
        }
        if now.duration_since(since) < deadline {
            let cid = conn.cid;
            self.timers.schedule(Timer {
                at: since + deadline,
                slot,
                cid,
                kind: TimerKind::WriteStall,
            });
            return;
        }
        log::notice(&format!(
            "{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded with {} total bytes.",
            conn.log_prefix(),
            deadline,
            conn.out.pending()
        ));
        self.stats.slow_consumers += 1;
        self.mark_close(slot, ClosedReason::SlowConsumerWriteDeadline);
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
                slot: Slot(i),
                cid: 1,
                kind: TimerKind::Ping,
            });
        }
        assert!(t.pop_due(now).is_none());
        let later = now + Duration::from_millis(25);
        assert_eq!(t.pop_due(later).map(|x| x.slot), Some(Slot(1)));
        assert_eq!(t.pop_due(later).map(|x| x.slot), Some(Slot(2)));
        assert!(t.pop_due(later).is_none());
        assert!(t.next_deadline().is_some());
    }
}
