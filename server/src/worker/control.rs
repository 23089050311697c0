//! The worker's control plane: what other threads ask of it besides deliveries — a reload
//! (new limits, every client re-authorized), an account's changed claims, lame duck mode
//! (the `ldm` INFO, then closing clients spread over the grace period), and the `$SYS`
//! KICK/LDM requests for one client. Nothing here runs per message.

use super::{auth_check, ClosedReason, LameDuckClose, Worker};
use crate::auth::RejectReason;
use crate::ids::Slot;
use std::time::{Duration, Instant};

impl Worker {
    /// `$SYS.REQ.SERVER.<id>.KICK`: closes client `cid` if it is here; returns whether it was.
    pub(super) fn kick(&mut self, cid: u64) -> bool {
        let Some(slot) = self.conns.find_cid(cid) else {
            return false;
        };
        if self.conns.get(slot).is_some_and(|c| c.route.is_some()) {
            return false;
        }
        self.mark_close(slot, ClosedReason::Kicked);
        true
    }

    /// Closes client `cid`: its account has more connections across the cluster than its
    /// limit allows, and it is among the newest (nats-server `Account.updateRemoteServer`).
    pub(super) fn account_limit_close(&mut self, cid: u64) {
        let Some(slot) = self.conns.find_cid(cid) else {
            return;
        };
        if self.conns.get(slot).is_some_and(|c| c.route.is_some()) {
            return;
        }
        self.send_err_and_close(
            slot,
            protocol::errors::MAX_ACCOUNT_CONNECTIONS_EXCEEDED.as_bytes(),
            ClosedReason::MaxAccountConnectionsExceeded,
        );
    }

    /// Lame duck: closes one client at a time, spreading the closes until the deadline with a
    /// pause of between half and all of (time left / clients left), at most one second
    /// (nats-server `lameDuckMode`).
    pub(super) fn lame_duck_tick(&mut self, now: Instant) {
        let Some(ldm) = self.lame_duck.as_mut() else {
            return;
        };
        if now < ldm.next_at {
            return;
        }
        let Some(slot) = self
            .conns
            .iter()
            .find(|(_, c)| !c.is_closing() && c.route.is_none())
            .map(|(slot, _)| slot)
        else {
            return;
        };
        // Routes stay until shutdown (a peer keeps routing to the clients still here).
        let left = self.conns.count().saturating_sub(self.routes.len()).max(1) as u32;
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
    pub(super) fn client_ldm(&mut self, cid: u64) -> u8 {
        let Some(slot) = self.conns.find_cid(cid) else {
            return 0;
        };
        let Some(conn) = self.conns.get(slot) else {
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

    pub(super) fn send_lame_duck_info(&mut self) {
        for slot in self.conns.slots() {
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            if conn.route.is_some() {
                self.route_lame_duck(slot);
                continue;
            }
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
    pub(super) fn apply_reload(&mut self) {
        self.refresh_runtime();
        let (mcl, mpay) = (self.rt.limits.max_control_line, self.rt.limits.max_payload);
        for slot in self.conns.slots() {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            conn.parser.max_control_line = mcl;
            conn.parser.max_payload = conn.max_payload(mpay);
            if !conn.is_connected() || conn.identity.is_none() {
                continue;
            }
            let step = auth_check(&self.rt, conn);
            match step {
                crate::auth::AuthStep::Accept(identity) => {
                    self.reauthorized(slot, identity);
                    self.report_reregistered(slot);
                }
                crate::auth::AuthStep::Reject(why) => {
                    crate::debug!(
                        "{} - reload: no longer authorized: {why}",
                        conn.log_prefix()
                    );
                    // nats-server 2.15.1 closes such a client without sending anything
                    // (observed).
                    self.mark_close(slot, ClosedReason::AuthenticationViolation);
                }
                step => self.submit_auth(slot, step),
            }
        }
    }

    /// Tells the system thread a reload kept a client (see `SysEvent::Reregistered`).
    ///
    /// nats-server re-registers clients when the reload's authorization changed, which for a
    /// config with users or accounts is every reload (its comparison of those lists always
    /// finds a difference); a client that is closing (moved to another account) is not.
    pub(super) fn report_reregistered(&self, slot: Slot) {
        let opts = &self.rt.opts;
        if opts.users.is_empty() && opts.accounts.is_empty() {
            return;
        }
        let conn = self.conns.get(slot).filter(|c| !c.is_closing());
        if let (Some(sys), Some(conn)) = (self.shared.sys(), conn) {
            sys.report(crate::msgs::SysEvent::Reregistered(
                super::snapshot::client_facts(conn),
            ));
        }
    }

    /// An account's claims changed or it was deleted: as nats-server's
    /// `updateAccountClaimsWithRefresh`, users signed by a dropped or re-scoped signing key
    /// are closed, revoked users are told `User Authentication Revoked`, clients over the new
    /// connection limit go (newest first), and the others get the new permissions and limits.
    /// A deleted account's clients get `Account Authentication Expired`.
    pub(super) fn account_changed(&mut self, change: &crate::auth::operator::AccountChange) {
        use crate::auth::AuthStep;
        let slots: Vec<Slot> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.is_connected()
                    && c.identity
                        .as_ref()
                        .is_some_and(|i| i.account == change.account)
            })
            .map(|(slot, _)| slot)
            .collect();
        for slot in slots {
            if self.conns.get(slot).is_none() {
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
            let over = self
                .conns
                .get(slot)
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
            let Some(conn) = self.conns.get(slot) else {
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
                    crate::debug!(
                        "{} - account update: no longer authorized: {why}",
                        conn.log_prefix()
                    );
                    self.mark_close(slot, ClosedReason::AuthenticationViolation);
                }
                step => self.submit_auth(slot, step),
            }
        }
        self.flush_dirty();
    }

    /// Takes a connection an account update closes out of its account's connection count
    /// right away, so a client connecting meanwhile is not refused for it.
    pub(super) fn release_from_account(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.release_account();
    }
}
