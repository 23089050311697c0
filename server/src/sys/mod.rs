//! The system account's event side: a dedicated thread turns connection facts reported by the
//! workers into nats-server's `$SYS` events (CONNECT, DISCONNECT, AUTH.ERR) and publishes them
//! through a worker, so they are routed like any message (subscriptions, imports).
//!
//! Workers never wait for this thread: they `try_send` facts on a bounded channel and an event
//! is dropped (and counted) if the thread falls behind.

use crate::account::Account;
use crate::server::Shared;
use crate::worker::WorkerMsg;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;
use sysacct::events::{
    auth_error_subject, connect_subject, disconnect_subject, ConnectEventMsg, DisconnectEventMsg,
    CONNECT_EVENT_TYPE, DISCONNECT_EVENT_TYPE,
};
use sysacct::time::rfc3339_nano;
use sysacct::types::{ClientInfo, DataStats, ServerInfo};

/// Facts waiting for the system thread, at most.
const EVENTS_QUEUE_MAX: usize = 64 * 1024;

/// What a worker knows about a client when something happens to it.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    /// Connection id.
    pub cid: u64,
    /// When it connected.
    pub start: SystemTime,
    /// Remote IP.
    pub host: String,
    /// Bound account (`$G` before authentication).
    pub account: String,
    /// User name it authenticated or tried to authenticate as.
    pub user: String,
    /// CONNECT name.
    pub name: String,
    /// CONNECT lang.
    pub lang: String,
    /// CONNECT version.
    pub version: String,
    /// Last RTT in nanoseconds, 0 if none.
    pub rtt_ns: i64,
}

/// Something the system thread reports.
#[derive(Debug, Clone)]
pub enum SysEvent {
    /// A client authenticated.
    Connect(ClientFacts),
    /// A client connection closed.
    Disconnect {
        /// The client.
        client: ClientFacts,
        /// Messages and bytes the client sent.
        sent: (u64, u64),
        /// Messages and bytes the server sent it.
        received: (u64, u64),
        /// Close reason text.
        reason: String,
    },
    /// A client failed authentication.
    AuthError {
        /// The client.
        client: ClientFacts,
        /// Reason text (`Authentication Failure`).
        reason: String,
    },
}

/// How workers reach the system thread.
#[derive(Debug, Clone)]
pub struct SysHandle {
    tx: Sender<SysEvent>,
    dropped: Arc<AtomicU64>,
}

impl SysHandle {
    /// Reports an event without waiting.
    pub fn report(&self, event: SysEvent) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(event) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the system thread for `system` (the system account) and returns the handle workers
/// report to.
///
/// # Errors
/// The thread could not be spawned.
pub fn start(shared: Weak<Shared>, system: &'static Account) -> std::io::Result<SysHandle> {
    let (tx, rx) = crossbeam_channel::bounded(EVENTS_QUEUE_MAX);
    let dropped = Arc::new(AtomicU64::new(0));
    std::thread::Builder::new()
        .name("gannet-system".into())
        .spawn(move || run(shared, system, rx))?;
    Ok(SysHandle { tx, dropped })
}

struct EventSender {
    shared: Weak<Shared>,
    system: &'static Account,
    ids: sysacct::id::IdGen,
    seq: u64,
}

impl EventSender {
    fn server_info(&mut self, shared: &Shared) -> ServerInfo {
        let (rt, _) = shared.runtime();
        // The sequence is shared by every message that carries a ServerInfo (spec sys.md §1.8).
        self.seq += 1;
        ServerInfo {
            name: rt.info.server_name.clone(),
            host: rt.info.host.clone(),
            id: rt.info.server_id.clone(),
            ver: rt.info.version.clone(),
            seq: self.seq,
            time: rfc3339_nano(SystemTime::now()),
            ..ServerInfo::default()
        }
    }

    fn publish(&self, shared: &Shared, account: &'static Account, subject: String, body: Vec<u8>) {
        if let Some(worker) = shared.workers().first() {
            worker.send(WorkerMsg::InternalPublish {
                account,
                subject: subject.into_bytes(),
                data: body,
            });
        }
    }
}

fn client_info(c: &ClientFacts, stop: Option<&str>) -> ClientInfo {
    ClientInfo {
        start: rfc3339_nano(c.start),
        host: c.host.clone(),
        id: c.cid,
        acc: c.account.clone(),
        user: c.user.clone(),
        name: c.name.clone(),
        lang: c.lang.clone(),
        ver: c.version.clone(),
        rtt: if stop.is_some() { c.rtt_ns } else { 0 },
        stop: stop.unwrap_or_default().to_string(),
        name_tag: c.account.clone(),
        kind: "Client".into(),
        client_type: "nats".into(),
        ..ClientInfo::default()
    }
}

fn disconnect_body(
    s: &mut EventSender,
    shared: &Shared,
    client: &ClientFacts,
    sent: (u64, u64),
    received: (u64, u64),
    reason: &str,
) -> Vec<u8> {
    let now = rfc3339_nano(SystemTime::now());
    let msg = DisconnectEventMsg {
        kind: DISCONNECT_EVENT_TYPE.into(),
        id: s.ids.next_id(),
        timestamp: now.clone(),
        server: s.server_info(shared),
        client: client_info(client, Some(&now)),
        sent: DataStats {
            msgs: sent.0 as i64,
            bytes: sent.1 as i64,
            ..DataStats::default()
        },
        received: DataStats {
            msgs: received.0 as i64,
            bytes: received.1 as i64,
            ..DataStats::default()
        },
        reason: reason.to_string(),
    };
    serde_json::to_vec(&msg).unwrap_or_default()
}

fn run(shared: Weak<Shared>, system: &'static Account, rx: Receiver<SysEvent>) {
    let mut s = EventSender {
        shared,
        system,
        ids: sysacct::id::IdGen::new(),
        seq: 1,
    };
    for event in rx {
        let Some(shared) = s.shared.upgrade() else {
            return;
        };
        match event {
            SysEvent::Connect(c) => {
                let msg = ConnectEventMsg {
                    kind: CONNECT_EVENT_TYPE.into(),
                    id: s.ids.next_id(),
                    timestamp: rfc3339_nano(SystemTime::now()),
                    server: s.server_info(&shared),
                    client: client_info(&c, None),
                };
                let body = serde_json::to_vec(&msg).unwrap_or_default();
                s.publish(&shared, s.system, connect_subject(&c.account), body);
            }
            SysEvent::Disconnect {
                client,
                sent,
                received,
                reason,
            } => {
                let body = disconnect_body(&mut s, &shared, &client, sent, received, &reason);
                s.publish(&shared, s.system, disconnect_subject(&client.account), body);
            }
            SysEvent::AuthError { client, reason } => {
                let id = shared.runtime().0.info.server_id.clone();
                let body = disconnect_body(&mut s, &shared, &client, (0, 0), (0, 0), &reason);
                s.publish(&shared, s.system, auth_error_subject(&id), body.clone());
                // The account-level copy goes into the account the client was bound to.
                if let Some(account) = shared.accounts.get(&client.account) {
                    s.publish(
                        &shared,
                        account,
                        "$SYS.ACCOUNT.CLIENT.AUTH.ERR".into(),
                        body,
                    );
                }
            }
        }
    }
}
