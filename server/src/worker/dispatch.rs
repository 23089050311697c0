//! Handling each client op: CONNECT, SUB, UNSUB, PING, PONG and the rest. `PUB`/`HPUB` go to
//! [`super::route`]. Checks follow nats-server `server/client.go` in order and wording.

use super::conn::ConnState;
use super::{ClosedReason, Worker};
use crate::auth::config::AccountLimits;
use crate::auth::pool::{AuthJob, AuthWork};
use crate::auth::{AuthStep, Identity, RejectReason};
use crate::connect::ConnectOpts;
use crate::gofmt::go_quote;
use crate::ids::Slot;
use crate::log;
use crate::msgs::WorkerMsg;
use crate::sub::{Sub, SubRef};
use protocol::{encode, errors, ClientOp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Worker {
    /// Handles one parsed op from the connection in `slot`.
    ///
    /// Called by `parse_and_dispatch` only, with `op` borrowing the read buffer. Enforces
    /// CONNECT first when auth is required; everything an op answers is queued, not written.
    pub(super) fn dispatch(&mut self, slot: Slot, op: ClientOp<'_>) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if log::trace_enabled() {
            trace_in(conn, &op);
        }
        // While auth is pending the first op must be CONNECT (spec §1.2 step 6), unless a
        // no_auth_user lets the client in as that user.
        if conn.identity.is_none() && !matches!(op, ClientOp::Connect(_)) {
            match self.rt.auth_for(conn.is_websocket()).no_auth_identity() {
                Some(identity) => {
                    if let Some(conn) = self.conns.get_mut(slot) {
                        conn.auth_deadline = None;
                    }
                    if !self.bind(slot, identity) {
                        return;
                    }
                }
                None => {
                    self.auth_violation(slot, "expected CONNECT first");
                    return;
                }
            }
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

    fn verbose_ok(&mut self, slot: Slot) {
        if self.conns.get(slot).is_some_and(|c| c.opts.verbose) {
            self.queue_out(slot, encode::OK);
        }
    }

    pub(super) fn send_err(&mut self, slot: Slot, text: &[u8]) {
        if log::trace_enabled() {
            if let Some(conn) = self.conns.get(slot) {
                let text = String::from_utf8_lossy(text);
                crate::trace!("{} - ->> [-ERR '{text}']", conn.log_prefix());
            }
        }
        let mut line = Vec::with_capacity(text.len() + 10);
        encode::write_err(&mut line, text);
        self.queue_out(slot, &line);
    }

    fn auth_violation(&mut self, slot: Slot, why: impl std::fmt::Display) {
        if let (Some(conn), Some(sys)) = (self.conns.get(slot), self.shared.sys()) {
            sys.report(crate::msgs::SysEvent::AuthError {
                client: super::snapshot::client_facts(conn),
                reason: ClosedReason::AuthenticationViolation.as_str().to_string(),
            });
        }
        if let Some(conn) = self.conns.get(slot) {
            let user = if conn.opts.user.is_empty() {
                String::new()
            } else {
                format!(" for user \"{}\"", conn.opts.user)
            };
            log::error(&format!(
                "{} - authentication error{user}",
                conn.log_prefix()
            ));
            crate::debug!("{} - authentication error: {why}", conn.log_prefix());
        }
        self.send_err_and_close(
            slot,
            errors::AUTHORIZATION_VIOLATION.as_bytes(),
            ClosedReason::AuthenticationViolation,
        );
    }

    /// CONNECT, in nats-server's order (spec §1.4).
    fn dispatch_connect(&mut self, slot: Slot, json: &[u8]) {
        let opts = match ConnectOpts::decode(json) {
            Ok(opts) => opts,
            Err(e) => {
                if let Some(conn) = self.conns.get(slot) {
                    crate::debug!("{} - bad CONNECT: {}", conn.log_prefix(), e.0);
                }
                self.mark_close(slot, ClosedReason::ProtocolViolation);
                return;
            }
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.auth_deadline = None;
        if conn.ping.rtt.is_none() {
            // A first estimate, from the INFO sent on accept to this CONNECT (nats-server
            // `processConnect`); the PONGs to the server's PINGs refine it. Events about the
            // client (its DISCONNECT, an AUTH.ERR) carry it from now on.
            conn.ping.rtt = Some(conn.start.elapsed().max(Duration::from_nanos(1)));
        }
        if !matches!(conn.state(), ConnState::AwaitingConnect) {
            // v2.12+ drops every subscription on a second CONNECT.
            if let Some(account) = conn.account() {
                super::remove_subs(&self.shared, account, std::mem::take(&mut conn.subs));
            }
        }
        conn.opts = opts;
        if let Some(ws) = conn.ws.as_ref() {
            conn.opts.conn_type = "WEBSOCKET";
            // Cookies named in the websocket block fill what CONNECT left empty.
            let (c, o) = (&ws.cookies, &mut conn.opts);
            for (cookie, field) in [
                (&c.jwt, &mut o.jwt),
                (&c.user, &mut o.user),
                (&c.pass, &mut o.pass),
                (&c.token, &mut o.auth_token),
            ] {
                if field.is_empty() && !cookie.is_empty() {
                    field.clone_from(cookie);
                }
            }
        }
        let step = super::auth_check(&self.rt, conn);
        let mapped = matches!(self.rt.cert_auth, crate::auth::CertAuth::Map)
            && matches!(self.rt.auth, crate::auth::AuthConfig::Users { .. });
        if mapped && matches!(step, AuthStep::Accept(_)) && !conn.opts.user.is_empty() {
            log::warn(&format!(
                "{} - User {} found in connect proto, but user required from cert",
                conn.log_prefix(),
                go_quote(&conn.opts.user)
            ));
        }
        let info_allowed = conn.info_allowed();
        match step {
            AuthStep::Accept(identity) => {
                conn.advance(ConnState::Connected { info_allowed });
                self.connect_authenticated(slot, identity)
            }
            AuthStep::Reject(why) => self.auth_violation(slot, why),
            step => {
                conn.advance(ConnState::Authenticating { info_allowed });
                self.submit_auth(slot, step);
            }
        }
    }

    /// Hands a check that takes long (bcrypt, or fetching an operator-mode account) to the
    /// auth threads; the answer arrives as `AuthResult`.
    pub(super) fn submit_auth(&mut self, slot: Slot, step: AuthStep) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let work = match step {
            AuthStep::VerifyBcrypt { hash, given, then } => AuthWork::Bcrypt { hash, given, then },
            AuthStep::Resolve => {
                let crate::auth::AuthConfig::Operator(trust) = &self.rt.auth else {
                    return;
                };
                AuthWork::Operator {
                    trust: trust.clone(),
                    opts: Box::new(conn.opts.clone()),
                    nonce: conn.nonce.clone(),
                    peer_ip: Some(conn.peer.ip()),
                }
            }
            AuthStep::Accept(_) | AuthStep::Reject(_) => return,
        };
        let worker = self.shared.workers()[self.id.0].clone();
        let cid = conn.cid;
        let done = move |result| {
            // An auth thread may wait for room in the inbox: workers never wait on it.
            worker.send_blocking(WorkerMsg::AuthResult { slot, cid, result });
        };
        let job = AuthJob {
            work,
            done: Box::new(done),
        };
        if !self.shared.auth_pool.submit(job) {
            self.auth_violation(slot, "auth queue full");
        }
    }

    /// The answer of a check on the auth threads: finishes a CONNECT, or a reload's re-check.
    pub(super) fn auth_result(
        &mut self,
        slot: Slot,
        cid: u64,
        result: Result<Identity, RejectReason>,
    ) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.cid != cid || conn.is_closing() {
            return;
        }
        let connecting = match conn.state() {
            ConnState::Authenticating { info_allowed } => Some(info_allowed),
            _ => None,
        };
        match (result, connecting) {
            (Ok(identity), Some(info_allowed)) => {
                conn.advance(ConnState::Connected { info_allowed });
                self.connect_authenticated(slot, identity)
            }
            (Err(why), Some(_)) => self.auth_violation(slot, why),
            (Ok(identity), None) => {
                // A reload's re-check that needed the auth threads (bcrypt).
                self.reauthorized(slot, identity);
                self.report_reregistered(slot);
            }
            (Err(_), None) => self.mark_close(slot, ClosedReason::AuthenticationViolation),
        }
        // Resume what arrived while the check ran.
        self.parse_and_dispatch(slot);
        self.read_ready(slot);
    }

    /// The rest of CONNECT once the credentials passed (spec §1.4 steps 5-9).
    fn connect_authenticated(&mut self, slot: Slot, identity: Identity) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if !conn.opts.account.is_empty() || conn.opts.new_account {
            self.auth_violation(slot, "account binding in CONNECT is not supported");
            return;
        }
        if !self.bind(slot, identity) {
            return;
        }
        let server_headers = self.rt.limits.headers;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
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
            crate::debug!(
                "{} - Client connection created: name={} lang={} version={} protocol={} account={}",
                conn.log_prefix(),
                go_quote(&conn.opts.name),
                go_quote(&conn.opts.lang),
                go_quote(&conn.opts.version),
                conn.opts.protocol,
                conn.account_name()
            );
        }
        if let Some(sys) = self.shared.sys() {
            sys.report(crate::msgs::SysEvent::Connect(
                super::snapshot::client_facts(conn),
            ));
        }
        self.verbose_ok(slot);
    }

    /// Binds a connection to its identity's account. Returns false (and closes the
    /// connection) if the account is unknown or full.
    pub(super) fn bind(&mut self, slot: Slot, identity: Identity) -> bool {
        let Some(account) = self.shared.accounts.get(&identity.account) else {
            self.auth_violation(slot, "account not found");
            return false;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        if conn.bind_account(account).is_err() {
            self.send_err_and_close(
                slot,
                errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED.as_bytes(),
                ClosedReason::MaxAccountConnectionsExceeded,
            );
            return false;
        }
        conn.identity = Some(identity);
        conn.pub_cache.clear();
        conn.parser.max_payload = conn.max_payload(self.rt.limits.max_payload);
        self.arm_expiry(slot);
        true
    }

    /// After a reload: the client still authenticates; apply its new permissions, drop the
    /// subscriptions they no longer allow, and close it if its account changed.
    pub(super) fn reauthorized(&mut self, slot: Slot, identity: Identity) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.account_name() != identity.account {
            self.mark_close(slot, ClosedReason::AuthenticationViolation);
            return;
        }
        conn.identity = Some(identity);
        conn.pub_cache.clear();
        conn.parser.max_payload = conn.max_payload(self.rt.limits.max_payload);
        self.arm_expiry(slot);
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let Some(perms) = conn.perms() else {
            return;
        };
        let revoked: Vec<(Box<[u8]>, Vec<u8>)> = conn
            .subs
            .values()
            .filter(|sub| !perms.can_subscribe(&sub.subject, sub.queue.as_deref()))
            .map(|sub| {
                let mut text = errors::sub_violation(&sub.subject, sub.queue.as_deref());
                text.extend_from_slice(b" (sid ");
                errors::push_go_quoted(&mut text, &sub.sid);
                text.push(b')');
                (sub.sid.clone(), text)
            })
            .collect();
        for (sid, text) in revoked {
            self.send_err(slot, &text);
            self.remove_sub(slot, &sid);
        }
    }

    /// SUB, in nats-server's order (spec §1.6).
    fn dispatch_sub(&mut self, slot: Slot, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if queue == Some(b"_sys_") {
            self.send_err(slot, &errors::sub_violation(subject, queue));
            return;
        }
        if let Some(perms) = self.conns.get(slot).and_then(|c| c.perms()) {
            if !perms.can_subscribe(subject, queue) {
                self.send_err(slot, &errors::sub_violation(subject, queue));
                return;
            }
        }
        let limits = &self.rt.limits;
        let (max_tokens, max_subs) = (limits.max_sub_tokens, limits.max_subscriptions);
        if max_tokens > 0 && protocol::subject::tokens(subject).count() > max_tokens {
            self.send_err(slot, &errors::sub_too_many_tokens(subject));
            return;
        }
        let worker = self.id;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The server's limit is 0 when unlimited; the account's and the user JWT's are -1 then,
        // and 0 allows none (nats-server's `msubs`).
        let mut max: Option<usize> = (max_subs > 0).then_some(max_subs);
        let account_max = conn
            .account()
            .and_then(|a| AccountLimits::max(a.limits().max_subscriptions));
        let user_max = conn
            .identity
            .as_ref()
            .and_then(|i| i.jwt.as_ref())
            .and_then(|j| AccountLimits::max(j.max_subs));
        for m in [account_max, user_max].into_iter().flatten() {
            max = Some(max.map_or(m, |cur| cur.min(m)));
        }
        if max.is_some_and(|max| conn.subs.len() >= max) {
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
            deny: conn
                .perms()
                .and_then(|p| p.delivery_deny(subject, queue))
                .map(Vec::into_boxed_slice),
            track_replies: conn.perms().is_some_and(|p| p.response.is_some()),
            import: None,
            gate: Some(conn.stall_gate.clone()),
            remote: None,
        });
        let Some(account) = conn.account() else {
            return;
        };
        if account
            .sublist
            .insert(subject, queue, SubRef(sub.clone()))
            .is_err()
        {
            self.send_err(slot, errors::INVALID_SUBJECT.as_bytes());
            return;
        }
        conn.subs.insert(sub);
        self.shared.interest_added(&account.name, subject, queue);
        self.verbose_ok(slot);
    }

    /// UNSUB (spec §1.6): a count above what was already delivered arms auto-unsubscribe,
    /// anything else removes the subscription now.
    fn dispatch_unsub(&mut self, slot: Slot, sid: &[u8], max_msgs: u64) {
        let Some(conn) = self.conns.get_mut(slot) else {
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
    pub(super) fn remove_sub(&mut self, slot: Slot, sid: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(sub) = conn.subs.remove(sid) else {
            return;
        };
        sub.closed.store(true, Ordering::Relaxed);
        if let Some(account) = conn.account() {
            let _ =
                account
                    .sublist
                    .remove(&sub.subject, sub.queue.as_deref(), &SubRef(sub.clone()));
            self.shared
                .interest_removed(&account.name, &sub.subject, sub.queue.as_deref());
        }
    }

    fn dispatch_ping(&mut self, slot: Slot) {
        self.queue_out(slot, encode::PONG);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The first PONG after CONNECT carries the `connect_info` INFO (protocol 1 clients).
        let first = conn.first_pong();
        if first && conn.opts.protocol >= 1 {
            let max_payload = conn.max_payload(self.rt.limits.max_payload);
            let websocket = conn.is_websocket();
            let urls = self.connect_urls_for(websocket);
            let Some(conn) = self.conns.get(slot) else {
                return;
            };
            let json = self.rt.client_info(
                conn.cid,
                &conn.peer,
                Some(conn.account_name()),
                &conn.nonce,
                max_payload,
                &urls,
                websocket,
            );
            let mut line = Vec::with_capacity(json.len() + 8);
            encode::write_info(&mut line, &json);
            self.queue_out(slot, &line);
        }
    }

    fn dispatch_pong(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
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
    crate::trace!("{prefix} - <<- [{line}]");
    if let ClientOp::Pub(p) = op {
        crate::trace!("{prefix} - <<- MSG_PAYLOAD: [{:?}]", s(p.payload()));
    }
}
