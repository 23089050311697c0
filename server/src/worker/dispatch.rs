//! Handling each client op: CONNECT, SUB, UNSUB, PING, PONG and the rest. `PUB`/`HPUB` go to
//! [`super::route`]. Checks follow nats-server `server/client.go` in order and wording.

use super::{ClosedReason, Worker};
use crate::connect::ConnectOpts;
use crate::log;
use crate::sub::{Sub, SubRef};
use protocol::{encode, errors, ClientOp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

impl Worker {
    /// Handles one parsed op from the connection in `slot`.
    pub(super) fn dispatch(&mut self, slot: usize, op: ClientOp<'_>) {
        let Some(conn) = self.conns[slot].as_ref() else {
            return;
        };
        if log::trace_enabled() {
            trace_in(conn, &op);
        }
        // While auth is pending the first op must be CONNECT (spec §1.2 step 6).
        if conn.identity.is_none() && !matches!(op, ClientOp::Connect(_)) {
            self.auth_violation(slot, "expected CONNECT first");
            return;
        }
        match op {
            ClientOp::Connect(json) => self.dispatch_connect(slot, json),
            ClientOp::Pub(msg) => self.route_pub(slot, &msg),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.dispatch_sub(slot, subject, queue, sid),
            ClientOp::Unsub { sid, max_msgs } => self.dispatch_unsub(slot, sid, max_msgs),
            ClientOp::Ping => self.dispatch_ping(slot),
            ClientOp::Pong => self.dispatch_pong(slot),
            ClientOp::Ok => {}
            ClientOp::Err(_) => self.mark_close(slot, ClosedReason::ClientClosed),
            ClientOp::Info(json) => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(json).is_err() {
                    self.mark_close(slot, ClosedReason::ProtocolViolation);
                }
            }
        }
    }

    fn verbose_ok(&mut self, slot: usize) {
        if self.conns[slot].as_ref().is_some_and(|c| c.opts.verbose) {
            self.queue_out(slot, encode::OK);
        }
    }

    pub(super) fn send_err(&mut self, slot: usize, text: &[u8]) {
        if log::trace_enabled() {
            if let Some(conn) = self.conns[slot].as_ref() {
                let text = String::from_utf8_lossy(text);
                log::trace(&format!("{} - ->> [-ERR '{text}']", conn.log_prefix()));
            }
        }
        let mut line = Vec::with_capacity(text.len() + 10);
        encode::write_err(&mut line, text);
        self.queue_out(slot, &line);
    }

    fn auth_violation(&mut self, slot: usize, why: &str) {
        if let Some(conn) = self.conns[slot].as_ref() {
            let user = if conn.opts.user.is_empty() {
                String::new()
            } else {
                format!(" for user \"{}\"", conn.opts.user)
            };
            log::error(&format!(
                "{} - authentication error{user}",
                conn.log_prefix()
            ));
            log::debug(&format!(
                "{} - authentication error: {why}",
                conn.log_prefix()
            ));
        }
        self.send_err_and_close(
            slot,
            errors::AUTHORIZATION_VIOLATION.as_bytes(),
            ClosedReason::AuthenticationViolation,
        );
    }

    /// CONNECT, in nats-server's order (spec §1.4).
    fn dispatch_connect(&mut self, slot: usize, json: &[u8]) {
        let opts = match ConnectOpts::decode(json) {
            Ok(opts) => opts,
            Err(e) => {
                if let Some(conn) = self.conns[slot].as_ref() {
                    log::debug(&format!("{} - bad CONNECT: {}", conn.log_prefix(), e.0));
                }
                self.mark_close(slot, ClosedReason::ProtocolViolation);
                return;
            }
        };
        let server_headers = self.rt.limits.headers;
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.auth_deadline = None;
        if conn.connect_received {
            // v2.12+ drops every subscription on a second CONNECT.
            super::remove_subs(&self.shared.sublist, std::mem::take(&mut conn.subs));
        }
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.connect_received = true;
        conn.opts = opts;
        let identity = match self.rt.auth.check(&conn.opts) {
            Ok(identity) => identity,
            Err(why) => {
                self.auth_violation(slot, why);
                return;
            }
        };
        if !conn.opts.account.is_empty() || conn.opts.new_account {
            self.auth_violation(slot, "account binding in CONNECT is not supported");
            return;
        }
        conn.identity = Some(identity);
        if !(0..=1).contains(&conn.opts.protocol) {
            self.send_err_and_close(
                slot,
                errors::INVALID_CLIENT_PROTOCOL.as_bytes(),
                ClosedReason::ProtocolViolation,
            );
            return;
        }
        if conn.opts.no_responders && !conn.opts.headers {
            self.send_err_and_close(
                slot,
                errors::NO_RESPONDERS_REQUIRES_HEADERS.as_bytes(),
                ClosedReason::ProtocolViolation,
            );
            return;
        }
        let headers = conn.opts.headers && server_headers;
        conn.parser.headers = headers;
        for sub in conn.subs.values() {
            sub.headers.store(headers, Ordering::Relaxed);
        }
        if log::debug_enabled() {
            log::debug(&format!(
                "{} - Client connection created: name={:?} lang={:?} version={:?} protocol={}",
                conn.log_prefix(),
                conn.opts.name,
                conn.opts.lang,
                conn.opts.version,
                conn.opts.protocol
            ));
        }
        self.verbose_ok(slot);
    }

    /// SUB, in nats-server's order (spec §1.6).
    fn dispatch_sub(&mut self, slot: usize, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if queue == Some(b"_sys_") {
            self.send_err(slot, &errors::sub_violation(subject, queue));
            return;
        }
        let limits = &self.rt.limits;
        let (max_tokens, max_subs) = (limits.max_sub_tokens, limits.max_subscriptions);
        if max_tokens > 0 && protocol::subject::tokens(subject).count() > max_tokens {
            self.send_err(slot, &errors::sub_too_many_tokens(subject));
            return;
        }
        let worker = self.id;
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if max_subs > 0 && conn.subs.len() >= max_subs {
            log::error(&format!(
                "{} - maximum subscriptions exceeded",
                conn.log_prefix()
            ));
            self.send_err(slot, errors::MAX_SUBSCRIPTIONS_EXCEEDED.as_bytes());
            return;
        }
        if conn.subs.contains_key(sid) {
            self.verbose_ok(slot);
            return;
        }
        let sub = Arc::new(Sub {
            worker,
            slot,
            cid: conn.cid,
            sid: sid.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            headers: AtomicBool::new(conn.opts.headers && self.rt.limits.headers),
            max_msgs: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        if self
            .shared
            .sublist
            .insert(subject, queue, SubRef(sub.clone()))
            .is_err()
        {
            self.send_err(slot, errors::INVALID_SUBJECT.as_bytes());
            return;
        }
        conn.subs.insert(sid.into(), sub);
        self.verbose_ok(slot);
    }

    /// UNSUB (spec §1.6): a count above what was already delivered arms auto-unsubscribe,
    /// anything else removes the subscription now.
    fn dispatch_unsub(&mut self, slot: usize, sid: &[u8], max_msgs: u64) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if let Some(sub) = conn.subs.get(sid) {
            let delivered = sub.delivered.load(Ordering::Acquire);
            if max_msgs > 0 && max_msgs > delivered {
                sub.max_msgs.store(max_msgs, Ordering::Release);
                // A delivery may have been claimed between the load and the store.
                if sub.delivered.load(Ordering::Acquire) >= max_msgs {
                    self.remove_sub(slot, sid);
                }
            } else {
                self.remove_sub(slot, sid);
            }
        }
        self.verbose_ok(slot);
    }

    /// Removes one subscription of a connection of this worker.
    pub(super) fn remove_sub(&mut self, slot: usize, sid: &[u8]) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Some(sub) = conn.subs.remove(sid) else {
            return;
        };
        sub.closed.store(true, Ordering::Relaxed);
        let _ =
            self.shared
                .sublist
                .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
    }

    fn dispatch_ping(&mut self, slot: usize) {
        self.queue_out(slot, encode::PONG);
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if conn.connect_received && !conn.first_pong_sent {
            conn.first_pong_sent = true;
            if conn.opts.protocol >= 1 {
                let json = self
                    .rt
                    .client_info(conn.cid, &conn.peer, Some(conn.account()));
                let mut line = Vec::with_capacity(json.len() + 8);
                encode::write_info(&mut line, &json);
                self.queue_out(slot, &line);
            }
        }
    }

    fn dispatch_pong(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.ping.outstanding = 0;
        if let Some(start) = conn.ping.rtt_start.take() {
            let now = Instant::now();
            conn.ping.rtt = Some(now.duration_since(start));
            conn.ping.rtt_at = Some(now);
        }
    }
}

/// Logs an inbound op the way nats-server's `-V` does: `<<- [PUB foo 5]`, then the payload.
fn trace_in(conn: &super::conn::Conn, op: &ClientOp<'_>) {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let opt = |b: Option<&[u8]>| b.map(|b| format!(" {}", s(b))).unwrap_or_default();
    let prefix = conn.log_prefix();
    let line = match op {
        ClientOp::Connect(json) => format!("CONNECT {}", s(json)),
        ClientOp::Info(json) => format!("INFO {}", s(json)),
        ClientOp::Pub(p) => match p.header_size_field {
            Some(h) => format!(
                "HPUB {}{} {} {}",
                s(p.subject),
                opt(p.reply),
                s(h),
                s(p.size_field)
            ),
            None => format!("PUB {}{} {}", s(p.subject), opt(p.reply), s(p.size_field)),
        },
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => format!("SUB {}{} {}", s(subject), opt(*queue), s(sid)),
        ClientOp::Unsub { sid, max_msgs } if *max_msgs > 0 => {
            format!("UNSUB {} {max_msgs}", s(sid))
        }
        ClientOp::Unsub { sid, .. } => format!("UNSUB {}", s(sid)),
        ClientOp::Ping => "PING".to_string(),
        ClientOp::Pong => "PONG".to_string(),
        ClientOp::Ok => "OK".to_string(),
        ClientOp::Err(text) => format!("-ERR {}", s(text)),
    };
    log::trace(&format!("{prefix} - <<- [{line}]"));
    if let ClientOp::Pub(p) = op {
        log::trace(&format!(
            "{prefix} - <<- MSG_PAYLOAD: [{:?}]",
            s(p.payload())
        ));
    }
}
