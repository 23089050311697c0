//! TLS connections on the worker loop: the setup phases (sniffing, handshake first, the
//! handshake itself), reading records into the read buffer and writing the outbound buffer
//! through the session. rustls is sans-IO, so this is the same non-blocking socket I/O as for
//! plaintext, with the session in between; nothing here blocks or spawns.
//!
//! ```text
//! accept ── handshake_first ── fallback? ── FirstWait ──(bytes)──> Handshake
//!    │                                         └──(timer)── INFO ──> Sniff or Handshake
//!    ├── allow_non_tls ── INFO ── Sniff ──(0x16)──> Handshake
//!    │                              └──(other byte or timer)──> plaintext connection
//!    └── otherwise ────── INFO ── Handshake ──(done)──> Established (INFO now if not sent)
//! ```
//! Mirrors nats-server `server.go` `createClientEx` and `client.go` `doTLSHandshake`: the auth
//! and PING timers start only once the TLS step is over.

use super::conn::ClosedReason;
use super::io::Flushed;
use super::outbound::{ChunkPool, Outbound};
use super::timers::{Timer, TimerKind};
use super::{Worker, READ_BUDGET_BYTES, WRITES_PER_FLUSH};
use crate::ids::Slot;
use crate::log;
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::time::Instant;

/// Where a TLS connection's setup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPhase {
    /// `allow_non_tls`: INFO sent; the client's first byte decides TLS or plaintext.
    Sniff,
    /// `handshake_first` with a fallback delay: waiting for a ClientHello, INFO not sent.
    FirstWait,
    /// The TLS handshake is running.
    Handshake,
    /// Handshake done: all traffic goes through the session.
    Established,
}

/// A connection's TLS state.
pub struct TlsState {
    /// The rustls session: server side, or client side for a route this server dialed.
    pub session: rustls::Connection,
    /// The setup phase.
    pub phase: TlsPhase,
    /// When the current phase's timer expires (the heap may hold older entries; they are
    /// ignored when the deadline has moved).
    pub deadline: Instant,
    /// INFO has been queued.
    pub info_sent: bool,
    /// Some bytes came from the client (so a plaintext `-ERR` would now corrupt its TLS).
    pub received_any: bool,
    /// close_notify has been queued.
    pub close_notify_sent: bool,
    /// Close without writing anything more: the client did not speak TLS at all, and
    /// nats-server sends such a client nothing (observed), not even an alert.
    pub silent: bool,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("phase", &self.phase)
            .field("info_sent", &self.info_sent)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Readiness on a TLS connection: dispatches on its setup phase.
    pub(super) fn read_ready_tls(&mut self, slot: Slot) {
        let Some(phase) = self.tls_phase(slot) else {
            return;
        };
        match phase {
            TlsPhase::Sniff | TlsPhase::FirstWait => self.read_ready_tls_peek(slot, phase),
            TlsPhase::Handshake | TlsPhase::Established => self.read_ready_tls_records(slot),
        }
    }

    fn tls_phase(&self, slot: Slot) -> Option<TlsPhase> {
        let conn = self.conns.get(slot)?;
        conn.tls.as_ref().map(|t| t.phase)
    }

    /// Sniff and FirstWait look at the first byte without taking it, so that whichever way
    /// the connection goes, the bytes are still in the socket for it.
    fn read_ready_tls_peek(&mut self, slot: Slot, phase: TlsPhase) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.is_closing() {
            return;
        }
        let mut first = [0u8; 1];
        let byte = match conn.sock.peek(&mut first) {
            Ok(0) => {
                self.mark_close(slot, ClosedReason::ClientClosed);
                return;
            }
            Ok(_) => first[0],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.mark_read_again(slot);
                return;
            }
            Err(_) => {
                self.mark_close(slot, ClosedReason::ReadError);
                return;
            }
        };
        // Mirrors createClientEx: with handshake first any data starts the handshake; when
        // sniffing, only a TLS handshake record does.
        if phase == TlsPhase::FirstWait || byte == crate::tls::TLS_HANDSHAKE_RECORD {
            self.tls_start_handshake(slot, Instant::now());
            self.read_ready_tls_records(slot);
        } else {
            self.tls_go_plaintext(slot);
            self.read_ready(slot);
        }
    }

    /// Enters the handshake phase with a fresh handshake timer.
    fn tls_start_handshake(&mut self, slot: Slot, now: Instant) {
        self.tls_enter_phase(slot, now, TlsPhase::Handshake);
    }

    /// Moves a connection to `phase` and arms the TLS timer for it.
    fn tls_enter_phase(&mut self, slot: Slot, now: Instant, phase: TlsPhase) {
        let timeout = self.tls_timeout();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        tls.phase = phase;
        tls.deadline = now + timeout;
        let cid = conn.cid;
        self.timers.schedule(Timer {
            at: now + timeout,
            slot,
            cid,
            kind: TimerKind::Tls,
        });
    }

    /// `allow_non_tls` and the client did not start TLS: drop the session and serve it in
    /// plaintext from here on.
    fn tls_go_plaintext(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.tls = None;
        }
        self.conn_established(slot, Instant::now());
    }

    /// The handshake timeout, clamped so that deadline arithmetic can't overflow.
    pub(super) fn tls_timeout(&self) -> std::time::Duration {
        self.rt
            .opts
            .tls
            .as_ref()
            .map_or(crate::tls::config::TLS_TIMEOUT_DEFAULT, |t| t.timeout())
            .min(crate::runtime::TIMER_MAX)
    }

    /// Reads TLS records (bounded by the read budget), decrypts them and parses the plaintext.
    /// Edge-triggered readiness means reading until `WouldBlock`; a spent budget puts the
    /// connection on the read-again list instead.
    fn read_ready_tls_records(&mut self, slot: Slot) {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            if !self.read_tls_plaintext(slot) {
                return;
            }
            if budget == 0 {
                self.mark_read_again(slot);
                return;
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let Some(tls) = conn.tls.as_mut() else {
                return;
            };
            let handshaking = tls.phase == TlsPhase::Handshake;
            match tls.session.read_tls(&mut conn.sock) {
                Ok(0) => {
                    if handshaking {
                        crate::debug!("{} - TLS handshake error: EOF", conn.log_prefix());
                    }
                    let reason = if handshaking {
                        ClosedReason::TlsHandshakeError
                    } else {
                        ClosedReason::ClientClosed
                    };
                    self.mark_close(slot, reason);
                    return;
                }
                Ok(n) => {
                    tls.received_any = true;
                    conn.ping.last_in = Instant::now();
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::debug!("{} - TLS read error: {e}", conn.log_prefix());
                    self.mark_close(slot, ClosedReason::ReadError);
                    return;
                }
            }
            if let Err(e) = tls.session.process_new_packets() {
                tls.silent = matches!(e, rustls::Error::InvalidMessage(_)) && handshaking;
                self.read_tls_failed(slot, handshaking, &e);
                return;
            }
            let done = handshaking && !tls.session.is_handshaking();
            if tls.session.wants_write() {
                self.mark_dirty(slot);
            }
            if done {
                self.tls_handshake_done(slot);
            }
        }
    }

    /// A record could not be processed: a failed handshake or a corrupt record. The alert
    /// rustls queued goes out with the last flush.
    fn read_tls_failed(&mut self, slot: Slot, handshaking: bool, e: &rustls::Error) {
        if let Some(conn) = self.conns.get(slot) {
            if handshaking {
                // nats-server logs client handshake errors at debug level: port scanners and
                // load balancer probes make them common.
                crate::debug!("{} - TLS handshake error: {e}", conn.log_prefix());
            } else {
                crate::debug!("{} - TLS error: {e}", conn.log_prefix());
            }
        }
        let reason = if handshaking {
            ClosedReason::TlsHandshakeError
        } else {
            ClosedReason::ReadError
        };
        self.mark_close(slot, reason);
    }

    /// Moves decrypted plaintext from the session into the read buffer and parses it.
    /// Returns false when the caller should stop reading (closing, a bcrypt check pending, or
    /// the client closed its side).
    fn read_tls_plaintext(&mut self, slot: Slot) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return false;
            };
            if conn.reading_paused() || conn.stall.is_some() {
                // While a bcrypt check runs, or the publisher is stalled (`flow.rs`), the
                // plaintext waits in the session; `auth_result` or `release_stalled` resumes
                // reading.
                return false;
            }
            let Some(tls) = conn.tls.as_mut() else {
                return false;
            };
            if tls.phase != TlsPhase::Established {
                return true;
            }
            if conn.ws.is_some() {
                // wss: the plaintext is the upgrade request, then frames.
                let mut chunk = std::mem::take(&mut self.ws_read);
                chunk.resize(super::ws::READ_CHUNK, 0);
                let read = tls.session.reader().read(&mut chunk);
                let go_on = match read {
                    Ok(0) => {
                        self.mark_close(slot, ClosedReason::ClientClosed);
                        false
                    }
                    Ok(n) => {
                        self.ws_feed(slot, &chunk[..n]);
                        true
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.ws_read = chunk;
                        return true;
                    }
                    Err(_) => {
                        self.mark_close(slot, ClosedReason::ClientClosed);
                        false
                    }
                };
                self.ws_read = chunk;
                if !go_on {
                    return false;
                }
                continue;
            }
            super::io::size_read_buf(
                &mut conn.rbuf,
                conn.rlen,
                conn.read_size.room(),
                conn.read_size.settled(conn.ping.last_in),
            );
            let rlen = conn.rlen;
            let room = conn.rbuf.len() - rlen;
            match tls.session.reader().read(&mut conn.rbuf[rlen..]) {
                Ok(0) => {
                    // close_notify: the client closed its side.
                    self.mark_close(slot, ClosedReason::ClientClosed);
                    return false;
                }
                Ok(n) => {
                    conn.rlen += n;
                    conn.read_size.after_read(n, room);
                    self.parse_and_dispatch(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.mark_close(slot, ClosedReason::ClientClosed);
                    return false;
                }
                Err(_) => {
                    self.mark_close(slot, ClosedReason::ReadError);
                    return false;
                }
            }
        }
    }

    /// The handshake finished: check pinned certificates, send INFO if handshake-first held
    /// it back, and start the connection's auth and PING timers.
    fn tls_handshake_done(&mut self, slot: Slot) {
        if self.conns.get(slot).is_some_and(|c| c.route.is_some()) {
            // A route: the peer's certificate was verified in the handshake; the route
            // protocol starts now.
            if let Some(tls) = self.conns.get_mut(slot).and_then(|c| c.tls.as_mut()) {
                tls.phase = TlsPhase::Established;
            }
            self.route_tls_established(slot);
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // A WebSocket client's certificate rules are the websocket block's.
        let tls_opts = if conn.ws.is_some() {
            self.rt.opts.websocket.as_ref().and_then(|w| w.tls.as_ref())
        } else {
            self.rt.opts.tls.as_ref()
        };
        let pins = tls_opts.and_then(|t| t.pinned_certs.as_ref());
        let prefix = conn.log_prefix();
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        tls.phase = TlsPhase::Established;
        if !crate::tls::pinned(pins, tls.session.peer_certificates()) {
            crate::debug!("{prefix} - TLS handshake error: peer certificate not pinned");
            self.mark_close(slot, ClosedReason::TlsHandshakeError);
            return;
        }
        if log::debug_enabled() {
            let version = tls.session.protocol_version();
            let suite = tls.session.negotiated_cipher_suite().map(|s| s.suite());
            crate::debug!("{prefix} - TLS handshake complete ({version:?}, {suite:?})");
        }
        if conn.ws.is_some() {
            // wss: the upgrade request comes next; its answer starts the protocol.
            return;
        }
        if !tls.info_sent {
            tls.info_sent = true;
            let info = self.initial_info(slot, true);
            self.queue_out(slot, &info);
        }
        self.conn_established(slot, Instant::now());
    }

    /// The TLS timer: the handshake-first fallback, the end of sniffing, or the handshake
    /// timeout, depending on the phase (a stale entry whose deadline moved does nothing).
    pub(super) fn tls_timer(&mut self, slot: Slot, now: Instant) {
        let allow_non_tls = self.rt.opts.allow_non_tls;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let (closing, prefix) = (conn.is_closing(), conn.log_prefix());
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        if now < tls.deadline || closing {
            return;
        }
        match tls.phase {
            TlsPhase::FirstWait => {
                // No ClientHello in time: send INFO and continue as without handshake first
                // (its tls_required back to the configured value).
                tls.info_sent = true;
                let info = self.initial_info(slot, false);
                self.queue_out(slot, &info);
                if allow_non_tls {
                    self.tls_start_sniff(slot, now);
                } else {
                    self.tls_start_handshake(slot, now);
                }
            }
            // Nothing arrived while sniffing: nats-server then assumes plaintext.
            TlsPhase::Sniff => self.tls_go_plaintext(slot),
            TlsPhase::Handshake => {
                crate::debug!("{prefix} - TLS handshake timeout");
                // The -ERR can only be read by a client that has not started TLS (it goes
                // out in the clear); for one that has, it would corrupt the handshake.
                if !tls.received_any {
                    self.send_err(
                        slot,
                        protocol::errors::SECURE_CONNECTION_TLS_REQUIRED.as_bytes(),
                    );
                }
                self.mark_close(slot, ClosedReason::TlsHandshakeError);
            }
            TlsPhase::Established => {}
        }
    }

    fn tls_start_sniff(&mut self, slot: Slot, now: Instant) {
        self.tls_enter_phase(slot, now, TlsPhase::Sniff);
        // The client may have sent its first bytes already (edge-triggered: no new event).
        self.read_ready_tls_peek(slot, TlsPhase::Sniff);
    }
}

/// Writes a TLS connection's output. Before the handshake completes, `out` holds what must go
/// out in the clear (INFO, a handshake-timeout `-ERR`) and is written first; then the
/// session's records. Once established, `out` is plaintext to encrypt; rustls takes at most its
/// buffer limit at a time, so each round encrypts a bounded chunk and writes it.
pub(super) fn flush_tls(
    sock: &mut TcpStream,
    out: &mut Outbound,
    pool: &mut ChunkPool,
    tls: &mut TlsState,
    closing: bool,
    progressed: &mut bool,
) -> Flushed {
    if tls.silent {
        // Closing without a word: whatever is queued is dropped.
        return Flushed::Done;
    }
    let established = tls.phase == TlsPhase::Established;
    if !established {
        match super::io::write_plain(sock, out, pool, progressed) {
            Flushed::Done => {}
            other => return other,
        }
    }
    for _ in 0..WRITES_PER_FLUSH {
        if established && out.pending() > 0 {
            match tls.session.writer().write(out.front()) {
                Ok(n) => out.advance(n, pool),
                Err(_) => return Flushed::Failed,
            }
        }
        if closing && established && out.pending() == 0 && !tls.close_notify_sent {
            tls.close_notify_sent = true;
            tls.session.send_close_notify();
        }
        if !tls.session.wants_write() {
            break;
        }
        match tls.session.write_tls(sock) {
            Ok(0) => return Flushed::Failed,
            Ok(_) => *progressed = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Flushed::Failed,
        }
    }
    if out.pending() == 0 && !tls.session.wants_write() {
        Flushed::Done
    } else {
        Flushed::Capped
    }
}
