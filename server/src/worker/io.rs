//! The data path of one connection: taking over an accepted socket, reading
//! ([`Worker::read_ready`]) and parsing ([`Worker::parse_and_dispatch`]), queueing output
//! ([`Worker::queue_out`], [`Worker::mark_dirty`]), writing it once per loop iteration
//! ([`Worker::flush_dirty`]), closing ([`Worker::close_now`]) and handing batches to other
//! workers ([`Worker::send_batches`]).
//!
//! Everything here runs on the worker that owns the connection. `slot` arguments may be stale
//! (the connection closed meanwhile): every function looks the slot up and does nothing when
//! it is empty.

use super::conn::{Conn, READ_BUF_MAX, READ_BUF_MIN};
use super::conns::Conns;
use super::flow::update_gate;
use super::outbound::{ChunkPool, Outbound, IOV_PER_WRITE};
use super::timers::{Timer, TimerKind};
use super::{remove_subs, snapshot, tls, ClosedReason, Worker};
use super::{READ_BUDGET_BYTES, WRITES_PER_FLUSH};
use crate::ids::Slot;
use crate::log;
use crate::msgs::batch::Batch;
use crate::msgs::{Admission, WorkerMsg};
use crossbeam_channel::TrySendError;
use mio::net::TcpStream;
use mio::Interest;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Worker {
    /// Takes a handed-over socket into the slab's next slot: registered for READABLE, no
    /// Nagle, a fresh [`Conn`] (not filled in yet). `None` if the poll refused it.
    pub(super) fn adopt_socket(
        &mut self,
        mut sock: TcpStream,
        cid: u64,
        peer: SocketAddr,
        now: Instant,
    ) -> Option<(Slot, Conn)> {
        let slot = self.conns.reserve();
        let token = Conns::token(slot);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)
        {
            log::error(&format!("{peer} - cid:{cid} - registration failed: {e}"));
            self.conns.unreserve(slot);
            return None;
        }
        let _ = sock.set_nodelay(true);
        let limits = &self.rt.limits;
        let parser = protocol::Parser::new(limits.max_control_line, limits.max_payload);
        Some((slot, Conn::new(cid, sock, peer, parser, now)))
    }

    pub(super) fn add_conn(
        &mut self,
        sock: TcpStream,
        cid: u64,
        peer: SocketAddr,
        websocket: bool,
        admission: Admission,
    ) {
        let now = Instant::now();
        let Some((slot, mut conn)) = self.adopt_socket(sock, cid, peer, now) else {
            match admission {
                Admission::Counted => self.shared.client_closed(),
                Admission::OverLimit => self.shared.ws_over_limit_end(),
            }
            return;
        };
        if self.rt.auth_for(websocket).wants_nonce() {
            conn.nonce = crate::auth::new_nonce();
        }
        let tag = if websocket { "wid" } else { "cid" };
        crate::debug!("{peer} - {tag}:{cid} - Client connection created");
        self.conns.fill(slot, conn);
        self.mark_dirty(slot);
        if websocket {
            self.add_ws_conn(slot, now, admission);
            return;
        }
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
    pub(super) fn add_conn_tls(&mut self, slot: Slot, now: Instant) {
        let Some(t) = self.rt.opts.tls.as_ref() else {
            return;
        };
        let (first, fallback) = (t.handshake_first, t.handshake_first_fallback);
        let allow_non_tls = self.rt.opts.allow_non_tls;
        let timeout = self.tls_timeout();
        let session = match t.server.as_ref().map(crate::tls::new_session) {
            Some(Ok(session)) => rustls::Connection::Server(session),
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
        let Some(conn) = self.conns.get_mut(slot) else {
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
    pub(super) fn initial_info(&self, slot: Slot, tls_first: bool) -> Vec<u8> {
        let Some(conn) = self.conns.get(slot) else {
            return Vec::new();
        };
        let max_payload = self.rt.limits.max_payload;
        let urls = self.connect_urls_for(conn.is_websocket());
        let json = self.rt.initial_info(
            conn.cid,
            &conn.peer,
            &conn.nonce,
            max_payload,
            tls_first,
            &urls,
            conn.is_websocket(),
        );
        let mut line = Vec::with_capacity(json.len() + 8);
        protocol::encode::write_info(&mut line, &json);
        line
    }

    /// The connection is ready for the protocol (at once for plaintext, after the TLS step
    /// otherwise): start the auth and PING timers, and bind it when no auth is required.
    pub(super) fn conn_established(&mut self, slot: Slot, now: Instant) {
        let jitter_pct = self.next_random() % 21;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let websocket = conn.is_websocket();
        let (ping_interval, auth_timeout) = (
            self.rt.ping_interval_for(websocket),
            self.rt.auth_timeout_for(websocket),
        );
        let auth_required = self.rt.auth_required_for(websocket);
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

    /// A readiness event for connection `slot`: WRITABLE marks it dirty (the end-of-iteration
    /// flush writes), READABLE reads and parses now.
    ///
    /// Called by `run_loop` only. `slot` may have been freed by an earlier event of the same
    /// poll; every step below then does nothing.
    pub(super) fn conn_ready(&mut self, slot: Slot, readable: bool, writable: bool) {
        if writable {
            self.mark_dirty(slot);
        }
        // A connection already queued to be read again is read once, by `read_pending_again`
        // later in this iteration: reading it here too would double its budget.
        let queued = self.conns.get(slot).is_some_and(|c| c.read_again);
        if readable && !queued {
            self.read_ready(slot);
        }
    }

    pub(super) fn read_pending_again(&mut self) {
        let again = std::mem::take(&mut self.read_again);
        debug_assert!(
            {
                let mut sorted = again.clone();
                sorted.sort_unstable();
                sorted.windows(2).all(|w| w[0] != w[1])
            },
            "a connection queued twice to be read again"
        );
        for slot in again {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.read_again = false;
            }
            self.read_ready(slot);
        }
    }

    /// Queues `slot` to be read later in this iteration or the next, at most once: a busy
    /// publisher gets one read budget per iteration. (Queued twice, once by its budget
    /// running out and once by a readiness event, it was read one more budget per iteration
    /// each time, so batches grew to megabytes and their buffers were freed, not reused.)
    pub(super) fn mark_read_again(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            if !conn.read_again {
                conn.read_again = true;
                self.read_again.push(slot);
            }
        }
    }

    /// Reads up to [`READ_BUDGET_BYTES`], parsing after each read so the buffer stays bounded;
    /// a connection whose budget ran out goes on `read_again` for the next iteration.
    ///
    /// May close the connection (EOF, error, a protocol error found while parsing). Writes
    /// nothing itself: replies and deliveries are queued and flushed once per iteration.
    pub(super) fn read_ready(&mut self, slot: Slot) {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if conn.tls.is_some() {
                return self.read_ready_tls(slot);
            }
            if conn.ws.is_some() {
                return self.read_ready_ws(slot);
            }
            if conn.reading_paused() || conn.stall.is_some() {
                // While a bcrypt check runs, or the publisher is stalled (`flow.rs`), the bytes
                // wait in the socket; `auth_result` or `release_stalled` resumes reading.
                return;
            }
            size_read_buf(
                &mut conn.rbuf,
                conn.rlen,
                conn.read_size.room(),
                conn.read_size.settled(conn.ping.last_in),
            );
            let rlen = conn.rlen;
            let room = conn.rbuf.len() - rlen;
            match conn.sock.read(&mut conn.rbuf[rlen..]) {
                Ok(0) => {
                    self.mark_close(slot, ClosedReason::ClientClosed);
                    return;
                }
                Ok(n) => {
                    conn.rlen += n;
                    conn.ping.last_in = Instant::now();
                    conn.read_size.after_read(n, room);
                    let filled = n == room;
                    self.parse_and_dispatch(slot);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.mark_read_again(slot);
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
    ///
    /// Stops early when the connection starts closing, waits for an auth check
    /// ([`super::conn::Conn::reading_paused`]) or is stalled (`flow.rs`); the rest stays
    /// buffered. Afterwards `rbuf`
    /// holds exactly the unparsed bytes, grown to fit a large message the parser waits for.
    pub(super) fn parse_and_dispatch(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The buffer is taken out so ops can borrow it while dispatch mutates the worker.
        let rbuf = std::mem::take(&mut conn.rbuf);
        let rlen = conn.rlen;
        let mut pos = 0;
        // A message whose control line an earlier read brought in waits for the rest of its
        // payload without its control line being parsed again on every read.
        let incomplete = conn.needed() > rlen;
        while let Some(conn) = self.conns.get_mut(slot).filter(|_| !incomplete) {
            if conn.reading_paused() || conn.stall.is_some() {
                // A stalled publisher's remaining ops wait with the unread bytes, so what a
                // stall holds back does not depend on how much one read brought in.
                break;
            }
            let parsed = match conn.route.as_mut() {
                None => conn
                    .parser
                    .parse(&rbuf[pos..rlen])
                    .map(|op| op.map(Op::client)),
                Some(route) => route
                    .parser
                    .parse(&rbuf[pos..rlen])
                    .map(|op| op.map(Op::route)),
            };
            match parsed {
                Ok(Some((op, used))) => {
                    pos += used;
                    match op {
                        Op::Client(op) => self.dispatch(slot, op),
                        Op::Route(op) => self.route_dispatch(slot, op),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.parse_error(slot, e);
                    break;
                }
            }
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut rbuf = rbuf;
        rbuf.copy_within(pos..rlen, 0);
        conn.rlen = rlen - pos;
        let needed = conn.needed();
        if needed > rbuf.len() {
            // A large message: grow once to hold all of it (bounded by max_payload, which the
            // parser has already checked).
            rbuf.resize(needed, 0);
        } else {
            // The buffer a large message needed goes back to the size reads ask for.
            size_read_buf(
                &mut rbuf,
                conn.rlen,
                conn.read_size.room(),
                conn.read_size.settled(conn.ping.last_in),
            );
        }
        conn.rbuf = rbuf;
    }

    pub(super) fn parse_error(&mut self, slot: Slot, e: protocol::ParseError) {
        let reason = match e {
            protocol::ParseError::MaxPayload => ClosedReason::MaxPayloadExceeded,
            protocol::ParseError::MaxControlLine => ClosedReason::MaxControlLineExceeded,
            _ => ClosedReason::ProtocolViolation,
        };
        if let Some(conn) = self.conns.get(slot) {
            crate::debug!("{} - Client parser ERROR: {e}", conn.log_prefix());
        }
        match e.err_text() {
            Some(text) => self.send_err_and_close(slot, text.as_bytes(), reason),
            None => self.mark_close(slot, reason),
        }
    }

    /// Queues bytes to a connection of this worker and marks it dirty, enforcing
    /// `max_pending` (slow consumer). Returns false if the connection can't take output.
    ///
    /// Never writes to the socket: the flush at the end of the iteration does, once for all
    /// that was queued (nats-server `queueOutbound` + `flushClients`).
    pub(super) fn queue_out(&mut self, slot: Slot, bytes: &[u8]) -> bool {
        let max_pending = self.rt.limits.max_pending;
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        if conn.is_closing() {
            return false;
        }
        conn.out.push(bytes, &mut self.chunks);
        if conn.queued_over(max_pending) {
            self.slow_consumer(slot);
            return false;
        }
        self.mark_dirty(slot);
        true
    }

    pub(super) fn slow_consumer(&mut self, slot: Slot) {
        let max_pending = self.rt.limits.max_pending;
        if let Some(conn) = self.conns.get_mut(slot) {
            log::notice(&format!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                conn.log_prefix(),
                max_pending
            ));
            conn.out.clear(&mut self.chunks);
        }
        self.stats.slow_consumers += 1;
        self.mark_close(slot, ClosedReason::SlowConsumerPendingBytes);
    }

    /// Puts a connection on the dirty list (once), so `flush_dirty` writes it this iteration.
    pub(super) fn mark_dirty(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Schedules a close at the end of this iteration, after a last flush unless the reason
    /// drops output.
    pub(super) fn mark_close(&mut self, slot: Slot, reason: ClosedReason) {
        if let Some(conn) = self.conns.get_mut(slot) {
            if !conn.is_closing() {
                conn.close_with(reason);
            }
        }
        self.mark_dirty(slot);
    }

    pub(super) fn send_err_and_close(&mut self, slot: Slot, text: &[u8], reason: ClosedReason) {
        let mut line = Vec::with_capacity(text.len() + 10);
        protocol::encode::write_err(&mut line, text);
        self.queue_out(slot, &line);
        self.mark_close(slot, reason);
    }

    /// Writes every dirty connection once (redis `beforeSleep`, nats-server `flushClients`),
    /// and closes those marked for closing. Called at the end of each loop iteration and
    /// after timers; afterwards the dirty list holds only connections a flush re-marked
    /// (their write budget ran out).
    pub(super) fn flush_dirty(&mut self) {
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
    pub(super) fn flush(&mut self, slot: Slot) {
        let now = Instant::now();
        let write_deadline = self.rt.limits.write_deadline;
        let Some(conn) = self.conns.get_mut(slot) else {
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
        if conn.ws.is_some() {
            self.ws_before_flush(slot);
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut progressed = false;
        let closing = conn.is_closing();
        // A WebSocket client's wire bytes are its frames; its protocol bytes wait in `out`.
        let wire = match conn.ws.as_deref_mut() {
            Some(ws) => &mut ws.framed,
            None => &mut conn.out,
        };
        let flushed = match conn.tls.as_deref_mut() {
            None => write_plain(&mut conn.sock, wire, &mut self.chunks, &mut progressed),
            Some(session) => tls::flush_tls(
                &mut conn.sock,
                wire,
                &mut self.chunks,
                session,
                closing,
                &mut progressed,
            ),
        };
        if progressed {
            conn.stalled_since = None;
        }
        let woken = update_gate(
            &conn.stall_gate,
            conn.out.pending(),
            conn.pending_limit(self.rt.limits.max_pending),
        );
        self.wake_waiters(woken);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if flushed == Flushed::Failed {
            conn.close_with(ClosedReason::ReadError);
        }
        if conn.is_closing() {
            self.close_now(slot);
            return;
        }
        // A WebSocket client's wire queue drained while protocol bytes still wait to be
        // framed (the framed queue is bounded): come back on the next iteration.
        let unframed = conn.ws.is_some() && conn.out.pending() > 0;
        if flushed == Flushed::Capped || (flushed == Flushed::Done && unframed) {
            // The socket still takes data but this flush used its share: come back on the
            // next iteration. The writes made progress, so this is no stall; and WRITABLE
            // would not fire again (edge-triggered, the socket never stopped being writable).
            self.mark_dirty(slot);
            return;
        }
        let pending = conn.out.pending() > 0
            || conn.ws.as_ref().is_some_and(|ws| ws.pending() > 0)
            || conn.tls.as_ref().is_some_and(|t| t.session.wants_write());
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
                .reregister(&mut conn.sock, Conns::token(slot), interest)
                .is_ok()
            {
                conn.write_interest = pending;
            }
        }
    }

    /// Closes and forgets a connection now: its subscriptions leave the sublist first, so no
    /// publisher matches them after this.
    pub(super) fn close_now(&mut self, slot: Slot) {
        let Some(mut conn) = self.conns.take(slot) else {
            return;
        };
        conn.out.clear(&mut self.chunks);
        // Publishers waiting for this connection to drain go on.
        self.wake_waiters(conn.stall_gate.set(false));
        let reason = conn
            .closing_reason()
            .unwrap_or(ClosedReason::ServerShutdown);
        if conn.route.is_some() {
            self.route_closed(slot, &mut conn, reason);
            let _ = self.poll.registry().deregister(&mut conn.sock);
            let _ = conn.sock.shutdown(std::net::Shutdown::Both);
            return;
        }
        if conn
            .ws
            .as_ref()
            .is_some_and(|ws| ws.admission == Admission::OverLimit)
        {
            // Never a client: not counted, nothing to report.
            let _ = self.poll.registry().deregister(&mut conn.sock);
            let _ = conn.sock.shutdown(std::net::Shutdown::Both);
            self.shared.ws_over_limit_end();
            return;
        }
        if reason == ClosedReason::StaleConnection {
            self.stats.stale_connections += 1;
        }
        let facts = snapshot::client_facts(&conn);
        if conn.identity.is_some() || reason != ClosedReason::ServerShutdown {
            let mut closed = snapshot::conn_snapshot(&conn, true);
            closed.closed = Some((std::time::SystemTime::now(), reason.as_str().to_string()));
            self.shared.push_closed(closed);
        }
        if let Some(account) = conn.unbind_account() {
            remove_subs(&self.shared, account, std::mem::take(&mut conn.subs));
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
        self.shared.client_closed();
        crate::debug!(
            "{} - Client connection closed: {} (after {:?})",
            conn.log_prefix(),
            reason.as_str(),
            conn.start.elapsed()
        );
    }

    pub(super) fn close_all(&mut self, reason: ClosedReason) {
        for slot in self.conns.slots() {
            if self.conns.get(slot).is_some() {
                self.mark_close(slot, reason);
                self.flush(slot);
            }
        }
    }

    /// Hands each non-empty batch to its worker. A full inbox keeps the batch here (it grows
    /// and is retried shortly), so order per destination is preserved.
    ///
    /// Never blocks: a worker waiting on another worker's full inbox could deadlock with it.
    pub(super) fn send_batches(&mut self) {
        for dest in 0..self.batches.len() {
            if self.batches[dest].is_empty() {
                continue;
            }
            assert_eq!(
                self.batches[dest].from, self.id,
                "a batch carries its sender"
            );
            debug_assert_ne!(dest, self.id.0, "no batch to oneself");
            // No spare buffer back yet: a new one sized as this batch, rather than one grown
            // (and copied) by doubling from empty.
            let sent_len = self.batches[dest].msgs.len();
            let buffer = self
                .spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(sent_len));
            let fresh = Batch::with_buffer(self.id, buffer);
            let batch = std::mem::replace(&mut self.batches[dest], fresh);
            let handle = &self.shared.workers()[dest];
            // Counted before the send, so the receiver never subtracts what is not added yet.
            let bytes = batch.msgs.len();
            let inbox_bytes = handle.inbox_bytes();
            inbox_bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            match handle.try_send(WorkerMsg::Batch(batch)) {
                Ok(()) => {}
                Err(TrySendError::Full(WorkerMsg::Batch(batch)))
                | Err(TrySendError::Disconnected(WorkerMsg::Batch(batch))) => {
                    inbox_bytes.fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
                    self.batches[dest] = batch;
                }
                Err(_) => {}
            }
        }
    }
}

/// One parsed op of either protocol, so one read loop serves clients and routes.
enum Op<'a> {
    Client(protocol::ClientOp<'a>),
    Route(protocol::route::RouteOp<'a>),
}

impl<'a> Op<'a> {
    fn client((op, used): (protocol::ClientOp<'a>, usize)) -> (Op<'a>, usize) {
        (Op::Client(op), used)
    }

    fn route((op, used): (protocol::route::RouteOp<'a>, usize)) -> (Op<'a>, usize) {
        (Op::Route(op), used)
    }
}

/// How a flush of one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flushed {
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

/// Writes `out` to the socket as is, one `writev` over up to [`IOV_PER_WRITE`] chunks at a
/// time, at most [`WRITES_PER_FLUSH`] times.
#[inline]
pub(super) fn write_plain(
    sock: &mut TcpStream,
    out: &mut Outbound,
    pool: &mut ChunkPool,
    progressed: &mut bool,
) -> Flushed {
    for _ in 0..WRITES_PER_FLUSH {
        if out.pending() == 0 {
            return Flushed::Done;
        }
        let mut iov = [io::IoSlice::new(&[]); IOV_PER_WRITE];
        let n = out.io_slices(&mut iov);
        match sock.write_vectored(&iov[..n]) {
            Ok(0) => return Flushed::Failed,
            Ok(n) => {
                out.advance(n, pool);
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

/// Sizes a read buffer before a read: `room` free bytes after the `rlen` unparsed ones (at
/// least half of [`READ_BUF_MIN`]), as [`super::conn::ReadSize`] chose.
///
/// A buffer twice the size wanted or more is shrunk back when a large message grew it past
/// what reads ask for, or once reads have `settled` ([`super::conn::ReadSize::settled`]):
/// not at every halving of a busy connection's room.
#[inline]
pub(super) fn size_read_buf(rbuf: &mut Vec<u8>, rlen: usize, room: usize, settled: bool) {
    let want = rlen + room.max(READ_BUF_MIN / 2);
    let keep = want.max(READ_BUF_MIN);
    // Only a message larger than a read takes a buffer past this.
    let large_message = rbuf.len() > 2 * READ_BUF_MAX;
    if rbuf.len() < want {
        rbuf.resize(want, 0);
    } else if rbuf.len() >= 2 * keep && (large_message || settled) {
        rbuf.truncate(keep);
        rbuf.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffer_gets_the_room_asked_for() {
        let mut rbuf = Vec::new();
        size_read_buf(&mut rbuf, 0, READ_BUF_MIN, false);
        assert_eq!(rbuf.len(), READ_BUF_MIN);
        // Unparsed bytes are kept and the room comes after them.
        size_read_buf(&mut rbuf, 500, 4096, false);
        assert_eq!(rbuf.len(), 500 + 4096);
        // Enough already: nothing changes.
        size_read_buf(&mut rbuf, 100, 4096, true);
        assert_eq!(rbuf.len(), 500 + 4096);
        // A buffer a large message grew shrinks back at once.
        let mut big = vec![0; 1 << 20];
        size_read_buf(&mut big, 10, READ_BUF_MAX, false);
        assert_eq!(big.len(), 10 + READ_BUF_MAX);
        // Never less than half the minimum of room, even when asked for less.
        let mut tail = vec![0; 600];
        size_read_buf(&mut tail, 600, 0, false);
        assert_eq!(tail.len(), 600 + READ_BUF_MIN / 2);
    }

    #[test]
    fn busy_read_buffer_keeps_its_memory_until_reads_settle() {
        let mut rbuf = Vec::new();
        size_read_buf(&mut rbuf, 100, READ_BUF_MAX, false);
        // The room falling to a quarter, then the minimum, keeps the memory while reads
        // still fill their room now and then.
        for room in [READ_BUF_MAX / 2, READ_BUF_MAX / 4, READ_BUF_MIN] {
            size_read_buf(&mut rbuf, 0, room, false);
            assert_eq!(rbuf.len(), 100 + READ_BUF_MAX, "resized for room {room}");
        }
        // Settled: the memory goes back, down to the room wanted.
        size_read_buf(&mut rbuf, 0, READ_BUF_MAX / 4, true);
        assert_eq!(rbuf.len(), READ_BUF_MAX / 4);
        size_read_buf(&mut rbuf, 0, READ_BUF_MIN, true);
        assert_eq!(rbuf.len(), READ_BUF_MIN);
        // Never below the minimum.
        size_read_buf(&mut rbuf, 0, READ_BUF_MIN / 4, true);
        assert_eq!(rbuf.len(), READ_BUF_MIN);
    }
}
