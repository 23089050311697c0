//! WebSocket client connections on the worker loop: the upgrade request is read and answered
//! here, then every read is unframed into the connection's read buffer (so the client
//! protocol parser sees a byte stream, as for TCP), and every flush frames the queued output.
//! The framing itself is `protocol::ws`; the upgrade rules and deflate are
//! `crate::websocket`.
//!
//! Output goes through a second queue, `WsState::framed`: the HTTP response, then frames.
//! `Conn::out` keeps holding protocol bytes, so flow control and slow-consumer checks count
//! what they always counted; at most [`FRAMED_MAX`] bytes wait framed on top of it.

use super::outbound::{ChunkPool, Outbound};
use super::timers::{Timer, TimerKind};
use super::{ClosedReason, Worker};
use crate::ids::Slot;
use crate::log;
use crate::msgs::Admission;
use crate::websocket::{self, Cookies};
use protocol::ws::{self as frames, Control, Decoder};
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Framed bytes queued before more output is framed (bounds the second queue).
const FRAMED_MAX: usize = 256 * 1024;
/// Largest frame payload sent to a non-browser client: one flush's worth.
const FRAME_MAX: usize = 64 * 1024;
/// Bytes read from the socket (or the TLS session) per read.
pub(super) const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before the connection waits for the next loop iteration.
const READS_PER_EVENT: usize = 16;
/// The upgrade must come within this when `handshake_timeout` is not set. nats-server waits
/// forever; a worker does not keep a half-open request around unbounded.
const UPGRADE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Where a WebSocket connection is.
#[derive(Debug)]
enum Phase {
    /// Reading the HTTP upgrade request.
    Upgrading { head: Vec<u8> },
    /// A leaf node dialing a hub: the upgrade request waits for the TLS handshake (`wss`).
    Requesting { dial: WsDial, request: Vec<u8> },
    /// A leaf node dialing a hub: the request went out; reading the hub's answer.
    AwaitingAnswer { dial: WsDial, head: Vec<u8> },
    /// Frames both ways.
    Open { decoder: Decoder },
    /// A close frame went out (an answer, or a refused upgrade): nothing more is read.
    Closed,
}

/// One frame onto `framed`, masked with a fresh key when `mask`.
fn push_frame(
    framed: &mut Outbound,
    mask: bool,
    opcode: u8,
    compressed: bool,
    payload: &[u8],
    pool: &mut ChunkPool,
) {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    if mask {
        frames::write_masked_frame(&mut frame, opcode, compressed, payload, rand::random());
    } else {
        frames::write_header(&mut frame, opcode, compressed, payload.len());
        frame.extend_from_slice(payload);
    }
    framed.push(&frame, pool);
}

/// What a leaf node dialing a hub's WebSocket port asked for.
#[derive(Debug, Clone)]
pub struct WsDial {
    /// The `Sec-WebSocket-Key` sent.
    key: String,
    /// `ws_compression`.
    compress: bool,
    /// `ws_no_masking`.
    no_masking: bool,
}

/// A WebSocket connection's state beside its [`super::conn::Conn`].
#[derive(Debug)]
pub struct WsState {
    phase: Phase,
    /// Bytes for the wire: the HTTP response, then frames.
    pub framed: Outbound,
    deflate: bool,
    browser: bool,
    safari: bool,
    /// A close frame is queued: no more output is framed.
    close_sent: bool,
    /// Credentials from cookies, filled into CONNECT.
    pub cookies: Cookies,
    /// Past `max_connections`: refused right after the upgrade.
    pub admission: Admission,
    /// A proxy's `X-Forwarded-For` client address, for log lines.
    pub forwarded_ip: Option<std::net::IpAddr>,
    /// Our frames are masked: we dialed (a leaf node), unless the hub granted no masking.
    mask_write: bool,
}

impl WsState {
    fn new(admission: Admission) -> WsState {
        WsState {
            admission,
            forwarded_ip: None,
            mask_write: false,
            phase: Phase::Upgrading { head: Vec::new() },
            framed: Outbound::default(),
            deflate: false,
            browser: false,
            safari: false,
            close_sent: false,
            cookies: Cookies::default(),
        }
    }

    /// A leaf node's side of a connection to a hub's WebSocket port: the upgrade request,
    /// sent at once or, for `wss`, after the TLS handshake ([`Worker::ws_send_request`]).
    pub fn dialing(host_port: &str, path: &str, compress: bool, no_masking: bool) -> WsState {
        let key = websocket::new_key();
        let request = websocket::leaf_request(host_port, path, &key, compress, no_masking);
        let mut ws = WsState::new(Admission::Counted);
        ws.mask_write = true;
        ws.phase = Phase::Requesting {
            dial: WsDial {
                key,
                compress,
                no_masking,
            },
            request,
        };
        ws
    }

    /// A dialing leaf node's upgrade request has not gone out yet.
    pub fn is_requesting(&self) -> bool {
        matches!(self.phase, Phase::Requesting { .. })
    }

    /// One frame on the wire queue, masked when we are the dialing side.
    fn push_frame(&mut self, opcode: u8, compressed: bool, payload: &[u8], pool: &mut ChunkPool) {
        push_frame(
            &mut self.framed,
            self.mask_write,
            opcode,
            compressed,
            payload,
            pool,
        );
    }

    /// Output waits on the wire queue.
    pub fn pending(&self) -> usize {
        self.framed.pending()
    }

    /// Frames queued protocol bytes from `out` while the wire queue has room: one binary
    /// frame per chunk (4 KiB pieces for browsers), compressed above 64 bytes when deflate
    /// was negotiated (each flush's data a message of its own, as nats-server does).
    pub fn frame_output(&mut self, out: &mut Outbound, pool: &mut ChunkPool) {
        if !matches!(self.phase, Phase::Open { .. }) || self.close_sent {
            return;
        }
        let max = if self.browser && !self.deflate {
            websocket::BROWSER_FRAME_MAX
        } else {
            FRAME_MAX
        };
        let mut header = Vec::with_capacity(16);
        while out.pending() > 0 && self.framed.pending() < FRAMED_MAX {
            let mut data = Vec::with_capacity(max.min(out.pending()));
            while data.len() < max && out.pending() > 0 {
                let front = out.front();
                let take = front.len().min(max - data.len());
                data.extend_from_slice(&front[..take]);
                out.advance(take, pool);
            }
            if self.deflate && data.len() > websocket::COMPRESS_THRESHOLD {
                let packed = websocket::deflate(&data);
                self.push_compressed(&packed, &mut header, pool);
            } else if self.mask_write {
                self.push_frame(frames::OP_BINARY, false, &data, pool);
            } else {
                header.clear();
                frames::write_header(&mut header, frames::OP_BINARY, false, data.len());
                self.framed.push(&header, pool);
                self.framed.push(&data, pool);
            }
        }
    }

    /// One compressed message: a single frame, or for browsers other than Safari a first
    /// frame and continuations of at most 4 KiB (nats-server's browser workaround).
    fn push_compressed(&mut self, packed: &[u8], header: &mut Vec<u8>, pool: &mut ChunkPool) {
        if self.mask_write {
            // A leaf node's message: one masked frame.
            self.push_frame(frames::OP_BINARY, true, packed, pool);
            return;
        }
        let piece = if self.browser && !self.safari {
            websocket::BROWSER_FRAME_MAX
        } else {
            packed.len().max(1)
        };
        let count = packed.chunks(piece).count();
        for (i, chunk) in packed.chunks(piece).enumerate() {
            let (first, last) = (i == 0, i + 1 == count);
            let opcode = if first {
                frames::OP_BINARY
            } else {
                frames::OP_CONTINUATION
            };
            header.clear();
            frames::write_header(header, opcode, first, chunk.len());
            if !last {
                header[0] &= 0x7f;
            }
            self.framed.push(header, pool);
            self.framed.push(chunk, pool);
        }
    }

    /// Queues a close frame once (after everything framed so far).
    fn push_close(&mut self, code: u16, reason: &str, pool: &mut ChunkPool) {
        if self.close_sent || !matches!(self.phase, Phase::Open { .. } | Phase::Closed) {
            return;
        }
        self.close_sent = true;
        let payload = frames::close_payload(code, reason);
        self.push_frame(frames::OP_CLOSE, false, &payload, pool);
    }
}

impl Worker {
    /// A connection accepted on the WebSocket port: nothing is sent until its upgrade
    /// request is read; the handshake timeout starts now.
    pub(super) fn add_ws_conn(&mut self, slot: Slot, now: Instant, admission: Admission) {
        let timeout = self
            .rt
            .opts
            .websocket
            .as_ref()
            .map(|w| w.handshake_timeout)
            .filter(|t| !t.is_zero())
            .unwrap_or(UPGRADE_TIMEOUT_DEFAULT);
        let tls = self.rt.opts.websocket.as_ref().and_then(|w| w.tls.as_ref());
        let session =
            match tls.map(|t| (t.server.as_ref().map(crate::tls::new_session), t.timeout())) {
                None => None,
                Some((Some(Ok(session)), timeout)) => Some((session, timeout)),
                Some((Some(Err(e)), _)) => {
                    log::error(&format!("TLS session setup failed: {e}"));
                    self.mark_close(slot, ClosedReason::TlsHandshakeError);
                    return;
                }
                Some((None, _)) => {
                    self.mark_close(slot, ClosedReason::TlsHandshakeError);
                    return;
                }
            };
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.ws = Some(Box::new(WsState::new(admission)));
        let cid = conn.cid;
        if let Some((session, tls_timeout)) = session {
            // wss: the TLS handshake comes first; INFO waits for the upgrade.
            let at = now + tls_timeout.min(crate::runtime::TIMER_MAX);
            conn.tls = Some(Box::new(super::tls::TlsState {
                session: rustls::Connection::Server(session),
                phase: super::tls::TlsPhase::Handshake,
                deadline: at,
                info_sent: true,
                received_any: false,
                close_notify_sent: false,
                silent: false,
            }));
            self.timers.schedule(Timer {
                at,
                slot,
                cid,
                kind: TimerKind::Tls,
            });
        }
        self.timers.schedule(Timer {
            at: now + timeout,
            slot,
            cid,
            kind: TimerKind::WsUpgrade,
        });
    }

    /// The upgrade deadline passed: a connection still upgrading is closed without a word
    /// (Go's read timeout).
    pub(super) fn ws_upgrade_timer(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let upgrading = conn
            .ws
            .as_ref()
            .is_some_and(|ws| matches!(ws.phase, Phase::Upgrading { .. }));
        if upgrading {
            self.mark_close(slot, ClosedReason::ReadError);
        }
    }

    /// Reads what the socket has and feeds it to the connection's WebSocket state.
    pub(super) fn read_ready_ws(&mut self, slot: Slot) {
        let mut chunk = std::mem::take(&mut self.ws_read);
        chunk.resize(READ_CHUNK, 0);
        for _ in 0..READS_PER_EVENT {
            let Some(conn) = self.conns.get_mut(slot) else {
                break;
            };
            let open = conn
                .ws
                .as_ref()
                .is_some_and(|ws| matches!(ws.phase, Phase::Open { .. }));
            let closed = conn
                .ws
                .as_ref()
                .is_some_and(|ws| matches!(ws.phase, Phase::Closed));
            if closed || conn.is_closing() {
                break;
            }
            if open && (conn.reading_paused() || conn.stall.is_some()) {
                // As for TCP: the bytes wait in the socket until reading resumes.
                break;
            }
            match conn.sock.read(&mut chunk) {
                Ok(0) => {
                    self.mark_close(slot, ClosedReason::ClientClosed);
                    break;
                }
                Ok(n) => {
                    conn.ping.last_in = Instant::now();
                    self.ws_feed(slot, &chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.mark_close(slot, ClosedReason::ReadError);
                    break;
                }
            }
        }
        self.ws_read = chunk;
        self.mark_dirty(slot);
    }

    /// Bytes from the client: the upgrade request, or frames.
    pub(super) fn ws_feed(&mut self, slot: Slot, bytes: &[u8]) {
        let Some(ws) = self.conns.get_mut(slot).and_then(|c| c.ws.as_mut()) else {
            return;
        };
        match &mut ws.phase {
            Phase::Upgrading { head } => {
                head.extend_from_slice(bytes);
                self.ws_try_upgrade(slot);
            }
            Phase::AwaitingAnswer { head, .. } => {
                head.extend_from_slice(bytes);
                self.ws_take_answer(slot);
            }
            Phase::Open { .. } => self.ws_frames(slot, bytes),
            Phase::Requesting { .. } | Phase::Closed => {}
        }
    }

    /// Sends a dialing leaf node's upgrade request (at once, or after the TLS handshake).
    pub(super) fn ws_send_request(&mut self, slot: Slot) {
        let Some(ws) = self.conns.get_mut(slot).and_then(|c| c.ws.as_mut()) else {
            return;
        };
        let phase = std::mem::replace(&mut ws.phase, Phase::Closed);
        ws.phase = match phase {
            Phase::Requesting { dial, request } => {
                ws.framed.push(&request, &mut self.chunks);
                Phase::AwaitingAnswer {
                    dial,
                    head: Vec::new(),
                }
            }
            other => other,
        };
        self.mark_dirty(slot);
    }

    /// The hub's answer to a leaf node's upgrade request, once its head is complete: frames
    /// from then on (nats-server `leafNodeSolicitWSConnection`).
    fn ws_take_answer(&mut self, slot: Slot) {
        let max_payload = self.rt.limits.max_payload;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(ws) = conn.ws.as_mut() else {
            return;
        };
        let Phase::AwaitingAnswer { dial, head } = &mut ws.phase else {
            return;
        };
        let Some(end) = websocket::head_end(head) else {
            if head.len() > websocket::HEAD_MAX_BYTES {
                ws.phase = Phase::Closed;
                self.mark_close(slot, ClosedReason::ReadError);
            }
            return;
        };
        let head = std::mem::take(head);
        match websocket::check_answer(&head[..end], &dial.key, dial.compress, dial.no_masking) {
            Ok(answer) => {
                ws.deflate = answer.deflate;
                ws.mask_write = !answer.no_masking;
                let compressed_max = (8 * max_payload).min(64 << 20);
                ws.phase = Phase::Open {
                    decoder: Decoder::new(answer.deflate, false, compressed_max),
                };
                crate::debug!(
                    "{} - Leafnode compression={} masking={}",
                    conn.peer,
                    answer.deflate,
                    ws.mask_write
                );
                if end < head.len() {
                    self.ws_frames(slot, &head[end..]);
                }
            }
            Err(why) => {
                log::error(&format!(
                    "{} - Error soliciting websocket connection: {why}",
                    conn.peer
                ));
                ws.phase = Phase::Closed;
                self.mark_close(slot, ClosedReason::ReadError);
            }
        }
    }

    /// Answers the upgrade request once its head is complete.
    fn ws_try_upgrade(&mut self, slot: Slot) {
        let rt = self.rt.clone();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(ws) = conn.ws.as_mut() else {
            return;
        };
        let Phase::Upgrading { head } = &mut ws.phase else {
            return;
        };
        let Some(end) = websocket::head_end(head) else {
            if head.len() > websocket::HEAD_MAX_BYTES {
                let response = websocket::refusal_response(431);
                ws.framed.push(&response, &mut self.chunks);
                ws.phase = Phase::Closed;
                log::error(&format!(
                    "{} - websocket handshake error: request head too large",
                    conn.peer
                ));
                self.mark_close(slot, ClosedReason::ProtocolViolation);
            }
            return;
        };
        let early_data = end < head.len();
        let head = std::mem::take(head);
        let Some(opts) = rt.opts.websocket.as_ref() else {
            return;
        };
        let result = if early_data {
            // nats-server closes without a response (`wsUpgrade`).
            Err(websocket::Refusal {
                status: None,
                reason: "client sent data before handshake is complete".into(),
            })
        } else {
            websocket::upgrade(&head[..end], opts, opts.tls.is_some())
        };
        match result {
            Ok(up) => {
                ws.framed.push(&up.response, &mut self.chunks);
                let masked = !up.no_masking;
                let compressed_max = (8 * rt.limits.max_payload).min(64 << 20);
                ws.phase = Phase::Open {
                    decoder: Decoder::new(up.deflate, masked, compressed_max),
                };
                ws.deflate = up.deflate;
                ws.browser = up.browser;
                ws.safari = up.safari;
                ws.cookies = up.cookies;
                ws.forwarded_ip = up.forwarded_ip;
                if up.leaf {
                    self.ws_leaf_upgraded(slot);
                    return;
                }
                let over_limit = ws.admission == Admission::OverLimit;
                let info = self.initial_info(slot, false);
                self.queue_out(slot, &info);
                if over_limit {
                    self.ws_refuse_over_limit(slot);
                    return;
                }
                self.conn_established(slot, Instant::now());
            }
            Err(refusal) => {
                log::error(&format!(
                    "{} - websocket handshake error: {}",
                    conn.peer, refusal.reason
                ));
                if let Some(status) = refusal.status {
                    let response = websocket::refusal_response(status);
                    ws.framed.push(&response, &mut self.chunks);
                }
                ws.phase = Phase::Closed;
                self.mark_close(slot, ClosedReason::ProtocolViolation);
            }
        }
    }

    /// The upgrade was for `/leafnode`: a leaf connection if this server has a leaf
    /// listener, else closed after the 101 without a word (nats-server does the same).
    fn ws_leaf_upgraded(&mut self, slot: Slot) {
        let has_leaf = self.rt.opts.leafnodes.as_ref().is_some_and(|l| l.port != 0);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(ws) = conn.ws.as_mut() else {
            return;
        };
        if !has_leaf {
            log::error("Not configured to accept leaf node connections");
            ws.phase = Phase::Closed;
            self.mark_close(slot, ClosedReason::ReadError);
            return;
        }
        // No longer a client: give back what the accept took (a leaf connection is not
        // counted, and closes as one).
        match std::mem::replace(&mut ws.admission, Admission::Counted) {
            Admission::Counted => self.shared.client_closed(),
            Admission::OverLimit => self.shared.ws_over_limit_end(),
        }
        self.leaf_from_websocket(slot);
    }

    /// After INFO, a client past `max_connections` gets the `-ERR` and a close frame (1008),
    /// as nats-server sends them (`client.go` `maxConnExceeded`).
    fn ws_refuse_over_limit(&mut self, slot: Slot) {
        let mut line = Vec::new();
        protocol::encode::write_err(
            &mut line,
            protocol::errors::MAX_CONNECTIONS_EXCEEDED.as_bytes(),
        );
        self.queue_out(slot, &line);
        if let Some(conn) = self.conns.get(slot) {
            log::error(&format!(
                "{} - maximum connections exceeded",
                conn.log_prefix()
            ));
        }
        self.mark_close(slot, ClosedReason::MaxConnectionsExceeded);
    }

    /// Unframes client bytes into the read buffer, answers control frames, then parses.
    fn ws_frames(&mut self, slot: Slot, bytes: &[u8]) {
        let max_payload = self.rt.limits.max_payload;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let (peer, cid) = (conn.peer, conn.cid);
        let Some(ws) = conn.ws.as_mut() else {
            return;
        };
        let Phase::Open { decoder } = &mut ws.phase else {
            return;
        };
        let mut controls = Vec::new();
        let mut failure = None;
        let mut client_close = None;
        let mut at = 0;
        // Bounded: every round takes input, or stops at a close or an error.
        while at < bytes.len() && failure.is_none() && client_close.is_none() {
            conn.rbuf.truncate(conn.rlen);
            let decoded = decoder.decode(&bytes[at..], &mut conn.rbuf, &mut controls);
            conn.rlen = conn.rbuf.len();
            match decoded {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(e) => failure = Some((e.code, e.reason)),
            }
            for control in controls.drain(..) {
                match control {
                    Control::Ping(payload) => {
                        let mask = ws.mask_write;
                        push_frame(
                            &mut ws.framed,
                            mask,
                            frames::OP_PONG,
                            false,
                            &payload,
                            &mut self.chunks,
                        );
                    }
                    Control::Pong => {}
                    Control::Close { code, reason } => client_close = Some((code, reason)),
                    Control::Compressed(data) => {
                        // In place, before whatever followed it.
                        if let Err(why) = websocket::inflate(data, max_payload, &mut conn.rbuf) {
                            failure = Some((frames::CLOSE_MESSAGE_TOO_BIG, why));
                        }
                        conn.rlen = conn.rbuf.len();
                    }
                }
            }
        }
        if let Some((code, reason)) = client_close {
            // Echo the client's status and reason (an empty close for none), flush what is
            // queued, then close (nats-server: Client Closed).
            ws.frame_output(&mut conn.out, &mut self.chunks);
            if code == frames::CLOSE_NO_STATUS {
                ws.close_sent = true;
                ws.push_frame(frames::OP_CLOSE, false, &[], &mut self.chunks);
            } else {
                ws.push_close(code, &reason, &mut self.chunks);
            }
            ws.phase = Phase::Closed;
            self.mark_close(slot, ClosedReason::ClientClosed);
            return;
        }
        if let Some((code, reason)) = failure {
            log::error(&format!("{peer} - wid:{cid} - read error: {reason}"));
            // Best effort, as nats-server: the close frame goes out if the socket takes it.
            ws.push_close(code, &reason, &mut self.chunks);
            ws.phase = Phase::Closed;
            self.mark_close(slot, ClosedReason::ReadError);
            return;
        }
        self.parse_and_dispatch(slot);
    }

    /// Before a WebSocket connection's flush: frames its output and, when it is closing,
    /// adds the close frame nats-server sends for the reason.
    pub(super) fn ws_before_flush(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let reason = conn.closing_reason();
        let Some(ws) = conn.ws.as_mut() else {
            return;
        };
        ws.frame_output(&mut conn.out, &mut self.chunks);
        if let Some(reason) = reason {
            if conn.out.pending() == 0 {
                if let Some(code) = websocket::close_status(reason.as_str()) {
                    ws.push_close(code, reason.as_str(), &mut self.chunks);
                }
            }
        }
    }
}
