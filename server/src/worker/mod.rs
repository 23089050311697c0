//! Worker threads: one per core, each with its own mio `Poll` and its own connections.
//!
//! # The loop
//! ```text
//! run_loop      poll (retry EINTR) -> for event: match token
//!   WAKER       -> drain_inbox()        new connections, batches from other workers, commands
//!   conn token  -> conn_ready()         read -> parse -> dispatch -> route -> mark dirty
//!   after batch -> send_batches()       one hand-over per destination worker, then wake it
//!               -> flush_dirty()        one write per dirty connection (redis beforeSleep)
//!               -> fire_timers()        PING, auth timeout, write deadline, lame duck closes
//! ```
//! A publish is matched against the shared sublist once. Deliveries to this worker's
//! connections go straight into their outbound buffers; deliveries to other workers' connections
//! are encoded into one batch per destination worker and handed over once per loop iteration.
//! Nothing here takes a lock per message, and statistics are plain fields of this thread.

mod conn;
mod dispatch;
mod route;
mod snapshot;
mod timers;
mod tls;

pub use conn::ClosedReason;

use crate::auth::RejectReason;
use crate::log;
use crate::msgs::batch::Batch;
use crate::msgs::WorkerMsg;
use crate::runtime::Runtime;
use crate::shared::Shared;
use conn::{Conn, Outbound, READ_BUF_MAX, READ_BUF_MIN};
use crossbeam_channel::{Receiver, TrySendError};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sublist::LocalCache;
use timers::{Timer, TimerKind, Timers};

/// Token of the worker's waker.
const WAKER: Token = Token(0);
/// Events taken from one `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Bytes read from one connection per readiness event before others get their turn; the
/// connection is revisited on the next iteration.
const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Inbox messages handled per loop iteration.
const INBOX_PER_ITERATION: usize = 4096;
/// Capacity of each worker's inbox channel (batches and commands).
pub const INBOX_CAPACITY: usize = 8192;
/// Emptied batch buffers a worker keeps for reuse.
pub const SPARE_BUFFERS: usize = 16;
/// Batch buffers larger than this are freed rather than returned.
pub(crate) const SPARE_BUFFER_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Write attempts per flush of one connection.
const WRITES_PER_FLUSH: usize = 16;
/// How soon to retry handing over a batch when the destination's inbox was full.
const BATCH_RETRY: Duration = Duration::from_millis(1);

/// Lame duck closing progress.
#[derive(Debug)]
struct LameDuckClose {
    deadline: Instant,
    next_at: Instant,
}

/// A worker thread's state.
pub struct Worker {
    id: usize,
    poll: Poll,
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    rt_gen: u64,
    inbox: Receiver<WorkerMsg>,
    /// Batch buffers returned by the workers this one sent them to.
    spare: Receiver<Vec<u8>>,
    conns: Vec<Option<Conn>>,
    free_slots: Vec<usize>,
    cache: LocalCache<crate::sub::SubRef>,
    dirty: Vec<usize>,
    /// Connections whose read budget ran out with data possibly left in the socket.
    read_again: Vec<usize>,
    /// Outgoing batch per destination worker (this worker's own entry stays empty).
    batches: Vec<Batch>,
    timers: Timers,
    rng: u64,
    /// Plain counters: gathered on request (snapshots), never shared per message.
    stats: crate::msgs::snapshot::Counters,
    lame_duck: Option<LameDuckClose>,
    shutting_down: bool,
}

/// Creates a worker's poll and waker; the worker itself is built on its own thread.
///
/// # Errors
/// The OS refused to create the poll or the waker.
pub fn new_poll() -> io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}

impl Worker {
    /// A worker with its poll, inbox and the shared server state.
    pub fn new(
        id: usize,
        poll: Poll,
        inbox: Receiver<WorkerMsg>,
        spare: Receiver<Vec<u8>>,
        shared: Arc<Shared>,
    ) -> Worker {
        let (rt, rt_gen) = shared.runtime();
        let workers = shared.worker_count();
        Worker {
            id,
            poll,
            rt,
            rt_gen,
            inbox,
            spare,
            conns: Vec::new(),
            free_slots: Vec::new(),
            cache: LocalCache::new(),
            dirty: Vec::new(),
            read_again: Vec::new(),
            batches: (0..workers).map(|_| Batch::new(id)).collect(),
            timers: Timers::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) << 32) ^ std::process::id() as u64,
            stats: Default::default(),
            lame_duck: None,
            shutting_down: false,
            shared,
        }
    }

    /// Runs until shutdown.
    pub fn run_loop(&mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !self.shutting_down {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error(&format!("worker {}: poll failed: {e}", self.id));
                break;
            }
            self.refresh_runtime();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.drain_inbox(),
                    token => self.conn_ready(token.0 - 1, event.is_readable(), event.is_writable()),
                }
            }
            // A full inbox is not re-signalled by the waker, so look every iteration.
            if !self.inbox.is_empty() {
                self.drain_inbox();
            }
            self.read_pending_again();
            self.send_batches();
            self.flush_dirty();
            self.fire_timers(Instant::now());
        }
        self.close_all(ClosedReason::ServerShutdown);
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.read_again.is_empty() || !self.inbox.is_empty() || !self.dirty.is_empty() {
            return Some(Duration::ZERO);
        }
        if self.batches.iter().any(|b| !b.is_empty()) {
            return Some(BATCH_RETRY);
        }
        let now = Instant::now();
        let mut next = self.timers.next_deadline();
        if let Some(ldm) = &self.lame_duck {
            next = Some(next.map_or(ldm.next_at, |t| t.min(ldm.next_at)));
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    /// Picks up a reloaded configuration; one atomic load per iteration.
    fn refresh_runtime(&mut self) {
        if self.shared.runtime_gen() != self.rt_gen {
            let (rt, gen) = self.shared.runtime();
            self.rt = rt;
            self.rt_gen = gen;
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: statistically fine for picking queue members and jitter.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn drain_inbox(&mut self) {
        for _ in 0..INBOX_PER_ITERATION {
            let Ok(msg) = self.inbox.try_recv() else {
                break;
            };
            match msg {
                WorkerMsg::NewConn { sock, cid, peer } => self.add_conn(sock, cid, peer),
                WorkerMsg::Batch(batch) => self.deliver_batch(batch),
                WorkerMsg::Reload => self.apply_reload(),
                WorkerMsg::LameDuckInfo => self.send_lame_duck_info(),
                WorkerMsg::LameDuckClose { deadline } => {
                    self.lame_duck = Some(LameDuckClose {
                        deadline,
                        next_at: Instant::now(),
                    });
                }
                WorkerMsg::AuthResult { slot, cid, result } => self.auth_result(slot, cid, result),
                WorkerMsg::AccountChanged(change) => self.account_changed(&change),
                WorkerMsg::Snapshot { req, tx } => {
                    let _ = tx.try_send(self.snapshot(req));
                }
                WorkerMsg::InternalPublish {
                    account,
                    subject,
                    reply,
                    data,
                } => {
                    self.route_internal(account, &subject, reply.as_deref(), &data);
                }
                WorkerMsg::Kick { cid, done } => {
                    let slot = self
                        .conns
                        .iter()
                        .position(|c| c.as_ref().is_some_and(|c| c.cid == cid));
                    if let Some(slot) = slot {
                        self.mark_close(slot, ClosedReason::Kicked);
                    }
                    let _ = done.try_send(slot.is_some());
                }
                WorkerMsg::ClientLdm { cid, done } => {
                    let _ = done.try_send(self.client_ldm(cid));
                }
                WorkerMsg::Shutdown => self.shutting_down = true,
            }
        }
    }

    fn add_conn(&mut self, mut sock: TcpStream, cid: u64, peer: SocketAddr) {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut sock, Token(slot + 1), Interest::READABLE)
        {
            log::error(&format!("{peer} - cid:{cid} - registration failed: {e}"));
            self.free_slots.push(slot);
            self.shared.client_closed();
            return;
        }
        let _ = sock.set_nodelay(true);
        let now = Instant::now();
        let limits = &self.rt.limits;
        let parser = protocol::Parser::new(limits.max_control_line, limits.max_payload);
        let mut conn = Conn::new(cid, sock, peer, parser, now);
        if self.rt.auth.wants_nonce() {
            conn.nonce = crate::auth::new_nonce();
        }
        log::debug(&format!("{peer} - cid:{cid} - Client connection created"));
        self.conns[slot] = Some(conn);
        self.mark_dirty(slot);
        if self.rt.opts.tls.is_some() {
            self.add_conn_tls(slot, now);
            return;
        }
        let info = self.initial_info(slot, false);
        self.queue_out(slot, &info);
        self.conn_established(slot, now);
    }

    /// A connection on a TLS port: INFO now unless the handshake comes first, and the timer of
    /// its first TLS phase (see `tls.rs`).
    fn add_conn_tls(&mut self, slot: usize, now: Instant) {
        let Some(t) = self.rt.opts.tls.as_ref() else {
            return;
        };
        let (first, fallback) = (t.handshake_first, t.handshake_first_fallback);
        let allow_non_tls = self.rt.opts.allow_non_tls;
        let timeout = self.tls_timeout();
        let session = match t.server.as_ref().map(crate::tls::new_session) {
            Some(Ok(session)) => session,
            Some(Err(e)) => {
                log::error(&format!("TLS session setup failed: {e}"));
                self.mark_close(slot, ClosedReason::TlsHandshakeError);
                return;
            }
            None => {
                self.mark_close(slot, ClosedReason::TlsHandshakeError);
                return;
            }
        };
        let (phase, info_now, wait) = match (first, fallback.is_zero(), allow_non_tls) {
            (true, true, _) => (tls::TlsPhase::Handshake, false, timeout),
            (true, false, _) => (tls::TlsPhase::FirstWait, false, fallback),
            (false, _, true) => (tls::TlsPhase::Sniff, true, timeout),
            (false, _, false) => (tls::TlsPhase::Handshake, true, timeout),
        };
        let at = now + wait.min(crate::runtime::TIMER_MAX);
        if info_now {
            let info = self.initial_info(slot, false);
            self.queue_out(slot, &info);
        }
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        conn.tls = Some(Box::new(tls::TlsState {
            session,
            phase,
            deadline: at,
            info_sent: info_now,
            received_any: false,
            close_notify_sent: false,
            silent: false,
        }));
        let cid = conn.cid;
        self.timers.schedule(Timer {
            at,
            slot,
            cid,
            kind: TimerKind::Tls,
        });
    }

    /// The INFO line a new connection gets first. With handshake first it says
    /// `tls_required` whatever `allow_non_tls` says (nats-server forces it).
    fn initial_info(&self, slot: usize, tls_first: bool) -> Vec<u8> {
        let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
            return Vec::new();
        };
        let max_payload = self.rt.limits.max_payload;
        let json = self
            .rt
            .initial_info(conn.cid, &conn.peer, &conn.nonce, max_payload, tls_first);
        let mut line = Vec::with_capacity(json.len() + 8);
        protocol::encode::write_info(&mut line, &json);
        line
    }

    /// The connection is ready for the protocol (at once for plaintext, after the TLS step
    /// otherwise): start the auth and PING timers, and bind it when no auth is required.
    fn conn_established(&mut self, slot: usize, now: Instant) {
        let (ping_interval, auth_timeout) =
            (self.rt.limits.ping_interval, self.rt.limits.auth_timeout);
        let auth_required = self.rt.auth_required();
        let jitter_pct = self.next_random() % 21;
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let cid = conn.cid;
        if auth_required {
            let at = now + auth_timeout;
            conn.auth_deadline = Some(at);
            self.timers.schedule(Timer {
                at,
                slot,
                cid,
                kind: TimerKind::Auth,
            });
        }
        let first_ping = ping_interval.min(Duration::from_secs(2));
        let at = now + first_ping + first_ping * jitter_pct as u32 / 100;
        self.timers.schedule(Timer {
            at,
            slot,
            cid,
            kind: TimerKind::Ping,
        });
        if !auth_required {
            self.bind(slot, crate::auth::Identity::global(None));
        }
    }

    fn conn_ready(&mut self, slot: usize, readable: bool, writable: bool) {
        if writable {
            self.mark_dirty(slot);
        }
        if readable {
            self.read_ready(slot);
        }
    }

    fn read_pending_again(&mut self) {
        let again = std::mem::take(&mut self.read_again);
        for slot in again {
            self.read_ready(slot);
        }
    }

    /// Reads up to the budget, parsing after each read so the buffer stays bounded.
    fn read_ready(&mut self, slot: usize) {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            if conn.tls.is_some() {
                return self.read_ready_tls(slot);
            }
            if conn.reading_paused() {
                // While a bcrypt check runs the bytes wait in the socket; `auth_result`
                // resumes reading.
                return;
            }
            grow_read_buf(&mut conn.rbuf, conn.rlen);
            let rlen = conn.rlen;
            match conn.sock.read(&mut conn.rbuf[rlen..]) {
                Ok(0) => {
                    self.mark_close(slot, ClosedReason::ClientClosed);
                    return;
                }
                Ok(n) => {
                    conn.rlen += n;
                    conn.ping.last_in = Instant::now();
                    let filled = conn.rlen == conn.rbuf.len();
                    self.parse_and_dispatch(slot);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.read_again.push(slot);
                        return;
                    }
                    if !filled {
                        // A short read means the socket is drained (edge-triggered: the next
                        // readiness event comes when more arrives). Reading on would only cost
                        // an extra syscall returning WouldBlock.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.mark_close(slot, ClosedReason::ReadError);
                    return;
                }
            }
        }
    }

    /// Parses every complete op in the read buffer and dispatches it, then keeps the unparsed
    /// tail at the front of the buffer.
    fn parse_and_dispatch(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        // The buffer is taken out so ops can borrow it while dispatch mutates the worker.
        let rbuf = std::mem::take(&mut conn.rbuf);
        let rlen = conn.rlen;
        let mut pos = 0;
        while let Some(conn) = self.conns[slot].as_mut() {
            if conn.reading_paused() {
                break;
            }
            match conn.parser.parse(&rbuf[pos..rlen]) {
                Ok(Some((op, used))) => {
                    pos += used;
                    self.dispatch(slot, op);
                }
                Ok(None) => break,
                Err(e) => {
                    self.parse_error(slot, e);
                    break;
                }
            }
        }
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let mut rbuf = rbuf;
        rbuf.copy_within(pos..rlen, 0);
        conn.rlen = rlen - pos;
        let needed = conn.parser.needed();
        if needed > rbuf.len() {
            // A large message: grow once to hold all of it (bounded by max_payload, which the
            // parser has already checked).
            rbuf.resize(needed, 0);
        } else if conn.rlen == 0 && rbuf.len() > READ_BUF_MAX {
            rbuf = vec![0; READ_BUF_MAX];
        }
        conn.rbuf = rbuf;
    }

    fn parse_error(&mut self, slot: usize, e: protocol::ParseError) {
        let reason = match e {
            protocol::ParseError::MaxPayload => ClosedReason::MaxPayloadExceeded,
            protocol::ParseError::MaxControlLine => ClosedReason::MaxControlLineExceeded,
            _ => ClosedReason::ProtocolViolation,
        };
        if let Some(conn) = self.conns[slot].as_ref() {
            log::debug(&format!("{} - Client parser ERROR: {e}", conn.log_prefix()));
        }
        match e.err_text() {
            Some(text) => self.send_err_and_close(slot, text.as_bytes(), reason),
            None => self.mark_close(slot, reason),
        }
    }

    /// Queues bytes to a connection of this worker and marks it dirty, enforcing
    /// `max_pending` (slow consumer). Returns false if the connection can't take output.
    fn queue_out(&mut self, slot: usize, bytes: &[u8]) -> bool {
        let max_pending = self.rt.limits.max_pending;
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        if conn.is_closing() {
            return false;
        }
        conn.out.buf.extend_from_slice(bytes);
        if conn.out.pending() > max_pending {
            self.slow_consumer(slot);
            return false;
        }
        self.mark_dirty(slot);
        true
    }

    fn slow_consumer(&mut self, slot: usize) {
        let max_pending = self.rt.limits.max_pending;
        if let Some(conn) = self.conns[slot].as_mut() {
            log::notice(&format!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                conn.log_prefix(),
                max_pending
            ));
            conn.out.buf = Vec::new();
            conn.out.pos = 0;
        }
        self.stats.slow_consumers += 1;
        self.mark_close(slot, ClosedReason::SlowConsumerPendingBytes);
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].as_mut() {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Schedules a close at the end of this iteration, after a last flush unless the reason
    /// drops output.
    fn mark_close(&mut self, slot: usize, reason: ClosedReason) {
        if let Some(conn) = self.conns[slot].as_mut() {
            if !conn.is_closing() {
                conn.close_with(reason);
            }
        }
        self.mark_dirty(slot);
    }

    fn send_err_and_close(&mut self, slot: usize, text: &[u8], reason: ClosedReason) {
        let mut line = Vec::with_capacity(text.len() + 10);
        protocol::encode::write_err(&mut line, text);
        self.queue_out(slot, &line);
        self.mark_close(slot, reason);
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            self.flush(slot);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Writes a connection's queued output; asks for WRITABLE only if the kernel buffer fills.
    fn flush(&mut self, slot: usize) {
        let now = Instant::now();
        let write_deadline = self.rt.limits.write_deadline;
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        conn.dirty = false;
        if conn
            .closing_reason()
            .is_some_and(ClosedReason::drops_output)
        {
            self.close_now(slot);
            return;
        }
        let mut progressed = false;
        let closing = conn.is_closing();
        let flushed = match conn.tls.as_deref_mut() {
            None => write_plain(&mut conn.sock, &mut conn.out, &mut progressed),
            Some(session) => tls::flush_tls(
                &mut conn.sock,
                &mut conn.out,
                session,
                closing,
                &mut progressed,
            ),
        };
        if progressed {
            conn.stalled_since = None;
        }
        if flushed == Flushed::Failed {
            conn.close_with(ClosedReason::ReadError);
        }
        if conn.is_closing() {
            self.close_now(slot);
            return;
        }
        if flushed == Flushed::Capped {
            // The socket still takes data but this flush used its share: come back on the
            // next iteration. The writes made progress, so this is no stall; and WRITABLE
            // would not fire again (edge-triggered, the socket never stopped being writable).
            self.mark_dirty(slot);
            return;
        }
        let pending =
            conn.out.pending() > 0 || conn.tls.as_ref().is_some_and(|t| t.session.wants_write());
        if pending && conn.stalled_since.is_none() {
            conn.stalled_since = Some(now);
            let cid = conn.cid;
            self.timers.schedule(Timer {
                at: now + write_deadline,
                slot,
                cid,
                kind: TimerKind::WriteStall,
            });
        }
        if pending != conn.write_interest {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut conn.sock, Token(slot + 1), interest)
                .is_ok()
            {
                conn.write_interest = pending;
            }
        }
    }

    /// Closes and forgets a connection now: its subscriptions leave the sublist first, so no
    /// publisher matches them after this.
    fn close_now(&mut self, slot: usize) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let reason = conn
            .closing_reason()
            .unwrap_or(ClosedReason::ServerShutdown);
        if reason == ClosedReason::StaleConnection {
            self.stats.stale_connections += 1;
        }
        let facts = snapshot::client_facts(&conn);
        if conn.identity.is_some() || reason != ClosedReason::ServerShutdown {
            let mut closed = snapshot::conn_snapshot(&conn, true);
            closed.closed = Some((std::time::SystemTime::now(), reason.as_str().to_string()));
            self.shared.push_closed(closed);
        }
        if let Some(account) = conn.account.take() {
            remove_subs(&account.sublist, std::mem::take(&mut conn.subs));
            if !conn.released {
                account.remove_conn();
            }
        }
        // Reported after the account lost the connection, so the account's connection count
        // in the CONNS event that follows is already the new one.
        if let Some(sys) = self.shared.sys() {
            sys.report(crate::msgs::SysEvent::Disconnect {
                client: facts,
                sent: (conn.in_msgs, conn.in_bytes),
                received: (conn.out_msgs, conn.out_bytes),
                reason: reason.as_str().to_string(),
            });
        }
        let _ = self.poll.registry().deregister(&mut conn.sock);
        let _ = conn.sock.shutdown(std::net::Shutdown::Both);
        self.free_slots.push(slot);
        self.shared.client_closed();
        log::debug(&format!(
            "{} - Client connection closed: {} (after {:?})",
            conn.log_prefix(),
            reason.as_str(),
            conn.start.elapsed()
        ));
    }

    fn close_all(&mut self, reason: ClosedReason) {
        for slot in 0..self.conns.len() {
            if self.conns[slot].is_some() {
                self.mark_close(slot, reason);
                self.flush(slot);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            let live = self
                .conns
                .get(timer.slot)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.cid == timer.cid);
            if !live {
                continue;
            }
            match timer.kind {
                TimerKind::Ping => self.ping_timer(timer.slot, now),
                TimerKind::Auth => self.auth_timer(timer.slot, now),
                TimerKind::Expiry => self.expiry_timer(timer.slot),
                TimerKind::WriteStall => self.write_stall_timer(timer.slot, now),
                TimerKind::Tls => self.tls_timer(timer.slot, now),
            }
        }
        self.lame_duck_tick(now);
        // Timers may have queued output (PING, -ERR); flush it now rather than next iteration.
        self.flush_dirty();
    }

    /// Keepalive (spec §1.8), mirroring nats-server `processPingTimer`.
    fn ping_timer(&mut self, slot: usize, now: Instant) {
        let limits = &self.rt.limits;
        let (interval, ping_max) = (limits.ping_interval, limits.ping_max);
        let Some(conn) = self.conns[slot].as_mut() else {
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
        if conn.ping.outstanding + 1 > ping_max {
            log::debug(&format!(
                "{} - Stale Client Connection - Closing",
                conn.log_prefix()
            ));
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

    fn auth_timer(&mut self, slot: usize, now: Instant) {
        let Some(conn) = self.conns[slot].as_ref() else {
            return;
        };
        let expired = conn.auth_deadline.is_some_and(|at| at <= now);
        if expired && conn.identity.is_none() && !conn.is_closing() {
            log::debug(&format!("{} - Authentication Timeout", conn.log_prefix()));
            self.send_err_and_close(
                slot,
                protocol::errors::AUTHENTICATION_TIMEOUT.as_bytes(),
                ClosedReason::AuthenticationTimeout,
            );
        }
    }

    /// Closes a client whose user JWT expired (nats-server: `User Authentication Expired`).
    fn expiry_timer(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_ref() else {
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
        log::debug(&format!("{} - {text}", conn.log_prefix()));
        self.send_err_and_close(slot, text.as_bytes(), ClosedReason::AuthenticationExpired);
    }

    /// Arms the expiry timer of a client whose credentials expire.
    pub(super) fn arm_expiry(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_ref() else {
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

    fn write_stall_timer(&mut self, slot: usize, now: Instant) {
        let deadline = self.rt.limits.write_deadline;
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Some(since) = conn.stalled_since else {
            return;
        };
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

    /// Lame duck: closes one client at a time, spreading the closes until the deadline with a
    /// pause of between half and all of (time left / clients left), at most one second
    /// (nats-server `lameDuckMode`).
    fn lame_duck_tick(&mut self, now: Instant) {
        let Some(ldm) = self.lame_duck.as_mut() else {
            return;
        };
        if now < ldm.next_at {
            return;
        }
        let Some(slot) = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| !c.is_closing()))
        else {
            return;
        };
        let left = self.conns.iter().filter(|c| c.is_some()).count().max(1) as u32;
        let per = (ldm.deadline.saturating_duration_since(now) / left).min(Duration::from_secs(1));
        let half = per / 2;
        let deadline = ldm.deadline;
        let jitter = if half.is_zero() {
            0
        } else {
            self.next_random() % (half.as_nanos() as u64 + 1)
        };
        let next = now + half + Duration::from_nanos(jitter);
        self.lame_duck = Some(LameDuckClose {
            deadline,
            next_at: next,
        });
        self.mark_close(slot, ClosedReason::ServerShutdown);
    }

    /// Sends one client the lame duck INFO; see [`WorkerMsg::ClientLdm`] for the answer.
    fn client_ldm(&mut self, cid: u64) -> u8 {
        let Some(slot) = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.cid == cid))
        else {
            return 0;
        };
        let Some(conn) = self.conns[slot].as_ref() else {
            return 0;
        };
        if conn.opts.protocol < 1 || !conn.info_allowed() {
            return 2;
        }
        let json = self.rt.lame_duck_info(conn.cid, &conn.peer);
        let mut line = Vec::with_capacity(json.len() + 8);
        protocol::encode::write_info(&mut line, &json);
        self.queue_out(slot, &line);
        1
    }

    fn send_lame_duck_info(&mut self) {
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_ref() else {
                continue;
            };
            if conn.opts.protocol < 1 || !conn.info_allowed() {
                continue;
            }
            let json = self.rt.lame_duck_info(conn.cid, &conn.peer);
            let mut line = Vec::with_capacity(json.len() + 8);
            protocol::encode::write_info(&mut line, &json);
            self.queue_out(slot, &line);
        }
    }

    /// Applies a reload: new limits for every parser, and re-authorizes every client.
    fn apply_reload(&mut self) {
        self.refresh_runtime();
        let (mcl, mpay) = (self.rt.limits.max_control_line, self.rt.limits.max_payload);
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            conn.parser.max_control_line = mcl;
            conn.parser.max_payload = conn.max_payload(mpay);
            if !conn.is_connected() || conn.identity.is_none() {
                continue;
            }
            let step = auth_check(&self.rt, conn);
            match step {
                crate::auth::AuthStep::Accept(identity) => self.reauthorized(slot, identity),
                crate::auth::AuthStep::Reject(why) => {
                    log::debug(&format!(
                        "{} - reload: no longer authorized: {why}",
                        conn.log_prefix()
                    ));
                    // nats-server 2.15.1 closes such a client without sending anything
                    // (observed).
                    self.mark_close(slot, ClosedReason::AuthenticationViolation);
                }
                step => self.submit_auth(slot, step),
            }
        }
    }

    /// An account's claims changed or it was deleted: as nats-server's
    /// `updateAccountClaimsWithRefresh`, users signed by a dropped or re-scoped signing key
    /// are closed, revoked users are told `User Authentication Revoked`, clients over the new
    /// connection limit go (newest first), and the others get the new permissions and limits.
    /// A deleted account's clients get `Account Authentication Expired`.
    fn account_changed(&mut self, change: &crate::auth::operator::AccountChange) {
        use crate::auth::AuthStep;
        let slots: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| c.as_ref().map(|c| (slot, c)))
            .filter(|(_, c)| {
                c.is_connected()
                    && c.identity
                        .as_ref()
                        .is_some_and(|i| i.account == change.account)
            })
            .map(|(slot, _)| slot)
            .collect();
        for slot in slots {
            if self.conns[slot].is_none() {
                continue;
            }
            if change.deleted {
                self.send_err_and_close(
                    slot,
                    protocol::errors::ACCOUNT_AUTHENTICATION_EXPIRED.as_bytes(),
                    ClosedReason::AuthenticationExpired,
                );
                continue;
            }
            // nats-server applies the connection limit first, then the signer check.
            let over = self.conns[slot]
                .as_ref()
                .is_some_and(|c| change.conn_cutoff.is_some_and(|cut| c.cid > cut));
            if over {
                self.release_from_account(slot);
                self.send_err_and_close(
                    slot,
                    protocol::errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED.as_bytes(),
                    ClosedReason::MaxAccountConnectionsExceeded,
                );
                continue;
            }
            let Some(conn) = self.conns[slot].as_ref() else {
                continue;
            };
            let issuer = conn.identity.as_ref().and_then(|i| i.jwt.as_ref());
            if issuer.is_some_and(|j| change.dropped_signers.contains(&j.issuer)) {
                self.release_from_account(slot);
                self.mark_close(slot, ClosedReason::AuthenticationViolation);
                continue;
            }
            let step = auth_check(&self.rt, conn);
            match step {
                AuthStep::Accept(identity) => self.reauthorized(slot, identity),
                AuthStep::Reject(RejectReason::Revoked) => self.send_err_and_close(
                    slot,
                    protocol::errors::USER_AUTHENTICATION_REVOKED.as_bytes(),
                    ClosedReason::Revocation,
                ),
                AuthStep::Reject(why) => {
                    log::debug(&format!(
                        "{} - account update: no longer authorized: {why}",
                        conn.log_prefix()
                    ));
                    self.mark_close(slot, ClosedReason::AuthenticationViolation);
                }
                step => self.submit_auth(slot, step),
            }
        }
        self.flush_dirty();
    }

    /// Takes a connection an account update closes out of its account's connection count
    /// right away, so a client connecting meanwhile is not refused for it.
    fn release_from_account(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if let Some(account) = conn.account {
            if !conn.released {
                account.remove_conn();
                conn.released = true;
            }
        }
    }

    /// Hands each non-empty batch to its worker. A full inbox keeps the batch here (it grows
    /// and is retried shortly), so order per destination is preserved.
    fn send_batches(&mut self) {
        for dest in 0..self.batches.len() {
            if self.batches[dest].is_empty() {
                continue;
            }
            let fresh = Batch::with_buffer(self.id, self.spare.try_recv().unwrap_or_default());
            let batch = std::mem::replace(&mut self.batches[dest], fresh);
            let handle = &self.shared.workers()[dest];
            match handle.tx.try_send(WorkerMsg::Batch(batch)) {
                Ok(()) => {
                    let _ = handle.waker.wake();
                }
                Err(TrySendError::Full(WorkerMsg::Batch(batch)))
                | Err(TrySendError::Disconnected(WorkerMsg::Batch(batch))) => {
                    self.batches[dest] = batch;
                }
                Err(_) => {}
            }
        }
    }
}

/// Checks a connection's CONNECT credentials as they stand (at CONNECT, and again after a
/// reload or an account update).
pub(super) fn auth_check(rt: &Runtime, conn: &Conn) -> crate::auth::AuthStep {
    rt.auth.check_client(
        &rt.cert_auth,
        &conn.opts,
        &conn.nonce,
        conn.peer_cert(),
        Some(conn.peer.ip()),
    )
}

/// How a flush of one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Everything queued was written.
    Done,
    /// The socket is full (WouldBlock): wait for WRITABLE.
    Blocked,
    /// [`WRITES_PER_FLUSH`] writes made progress and more is queued: flush again next
    /// iteration.
    Capped,
    /// The socket failed.
    Failed,
}

/// Writes `out` to the socket as is, at most [`WRITES_PER_FLUSH`] times.
#[inline]
fn write_plain(sock: &mut TcpStream, out: &mut Outbound, progressed: &mut bool) -> Flushed {
    for _ in 0..WRITES_PER_FLUSH {
        if out.pending() == 0 {
            return Flushed::Done;
        }
        match sock.write(&out.buf[out.pos..]) {
            Ok(0) => return Flushed::Failed,
            Ok(n) => {
                out.advance(n);
                *progressed = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Flushed::Failed,
        }
    }
    if out.pending() == 0 {
        Flushed::Done
    } else {
        Flushed::Capped
    }
}

/// Makes room in a read buffer before a read: it doubles while reads keep filling it, up to
/// [`READ_BUF_MAX`] unless one large message needs more.
#[inline]
fn grow_read_buf(rbuf: &mut Vec<u8>, rlen: usize) {
    if rbuf.len() - rlen < READ_BUF_MIN / 2 {
        let want = (rbuf.len() * 2).clamp(READ_BUF_MIN, READ_BUF_MAX.max(rlen * 2));
        rbuf.resize(want.max(rlen + READ_BUF_MIN / 2), 0);
    }
}

/// Takes a connection's subscriptions out of the sublist, marking each closed first so that
/// publishers holding an older match result skip it.
fn remove_subs(sublist: &sublist::Sublist<crate::sub::SubRef>, subs: crate::sub::SidMap) {
    if subs.is_empty() {
        return;
    }
    for sub in subs.values() {
        sub.closed.store(true, Ordering::Relaxed);
    }
    let subs: Vec<Arc<crate::sub::Sub>> = subs.into_values().collect();
    sublist.remove_batch(subs.iter().map(|s| {
        (
            &*s.subject,
            s.queue.as_deref(),
            crate::sub::SubRef(s.clone()),
        )
    }));
}
