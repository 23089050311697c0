//! What the workers and the other threads tell the system thread, and how they reach it.
//!
//! Workers never wait for the system thread: they `try_send` facts on a bounded channel and an
//! event is dropped (and counted) if the thread falls behind.

use crate::account::{Account, Accounts};
use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    /// Connection kind as events name it: `Client`, or `Leafnode` for leaf node connections
    /// (which get the same CONNECT/DISCONNECT events; there is no LEAFNODE.DISCONNECT).
    pub kind: &'static str,
    /// The client type events show for a client: `nats`, or `websocket`; empty for leaf
    /// node connections.
    pub client_type: &'static str,
    /// The account's name tag: its JWT `name` in operator mode, else the account name.
    pub name_tag: String,
    /// The user JWT (operator mode).
    pub jwt: String,
    /// The key that signed the user JWT.
    pub issuer_key: String,
    /// The user JWT's tags.
    pub tags: Vec<String>,
}

/// Something the system thread reports.
#[derive(Debug, Clone)]
pub enum SysEvent {
    /// A client authenticated.
    Connect(ClientFacts),
    /// A reload authorized a connected client again (nats-server re-registers it with its
    /// account, which a `$SYS` watcher sees as two CONNS updates and a CONNECT).
    Reregistered(ClientFacts),
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
    /// An account's connection counts changed without a CONNECT event (a leaf node
    /// connection authenticated by the leaf authorization): its CONNS event.
    AccountConns(&'static Account),
    /// A client failed authentication.
    AuthError {
        /// The client.
        client: ClientFacts,
        /// Reason text (`Authentication Failure`).
        reason: String,
    },
    /// A request to one of this server's `$SYS.REQ` services.
    Request {
        /// The account the request was published in (replies go back there).
        account: &'static Account,
        /// The request subject.
        subject: String,
        /// Where to answer.
        reply: Option<Vec<u8>>,
        /// The request's header block (`Nats-Request-Info`), empty if none.
        headers: Vec<u8>,
        /// The request body (options and filters).
        payload: Vec<u8>,
    },
    /// An answer worked out elsewhere (USER.INFO by the requester's worker, PROFILEZ by its
    /// sampling thread): send the envelope with `data` in `account` on `reply`.
    Reply {
        /// The requester's account.
        account: &'static Account,
        /// Where to answer.
        reply: Vec<u8>,
        /// The reply's `data`.
        data: serde_json::Value,
    },
    /// A leaf node connection bound to an account on a server with gateways: tell the other
    /// servers, which then switch that account to interest-only mode on their gateways.
    LeafnodeConnect(&'static Account),
    /// An account was registered: send its account-tracking CONNS request.
    TrackAccount(&'static Account),
    /// An account JWT is needed: ask the other servers (`CLAIMS.LOOKUP`) and answer the
    /// first JWT, or an empty message when they have none, on `done`.
    Lookup {
        /// The account public key.
        account: String,
        /// Where the answer goes.
        done: Sender<Vec<u8>>,
    },
    /// Lame duck mode started: announce it; no system message follows.
    LameDuck,
    /// Clean shutdown: send SHUTDOWN (unless in lame duck mode), then answer on `ack`.
    Shutdown {
        /// Answered once the SHUTDOWN message has been handed to a worker.
        ack: Sender<()>,
    },
}

/// How workers reach the system thread.
#[derive(Debug, Clone)]
pub struct SysHandle {
    account: &'static Account,
    /// Boxed: the channel's slots are allocated (and touched) up front, so a slot the size
    /// of the largest event would cost tens of MB of RSS for a queue that is nearly always
    /// empty.
    tx: Sender<Box<SysEvent>>,
    dropped: Arc<AtomicU64>,
    /// Accounts that already have their system-request entries.
    served: Arc<Mutex<HashSet<String>>>,
}

impl SysHandle {
    /// The handle of a system thread serving `account` and reading `tx`'s channel.
    pub fn new(account: &'static Account, tx: Sender<Box<SysEvent>>) -> SysHandle {
        SysHandle {
            account,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            served: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Gives every account that lacks them the entries through which it may ask about
    /// itself (spec sys.md §1.7: its own CONNZ and STATZ). Called at start and after a reload
    /// that may have added accounts.
    pub fn serve_accounts(&self, accounts: &Accounts) {
        let mut served = self.served.lock();
        for account in accounts.all() {
            if !served.insert(account.name.clone()) {
                continue;
            }
            // A newly registered account asks the other servers for their connection counts
            // (spec sys.md §2.9). Its own CONNZ/STATZ requests reach the system account
            // through the imports `Accounts` gives every account.
            self.report(SysEvent::TrackAccount(account));
        }
    }

    /// Asks the other servers for an account JWT and waits up to `timeout` (nats-server's
    /// `fetch`).
    ///
    /// # Errors
    /// `account jwt not found`, `fetching jwt timed out`, or `eventing shut down`.
    pub fn lookup_account(&self, account: &str, timeout: Duration) -> Result<String, String> {
        let (done, answer) = crossbeam_channel::bounded(1);
        let event = SysEvent::Lookup {
            account: account.to_string(),
            done,
        };
        if self.tx.try_send(Box::new(event)).is_err() {
            return Err("eventing shut down".into());
        }
        match answer.recv_timeout(timeout) {
            Ok(jwt) if jwt.is_empty() => Err("account jwt not found".into()),
            Ok(jwt) => Ok(String::from_utf8_lossy(&jwt).into_owned()),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                Err("fetching jwt timed out".into())
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                Err("fetching jwt failed due to shutdown".into())
            }
        }
    }

    /// The system account.
    pub fn account(&self) -> &'static Account {
        self.account
    }

    /// Sends SHUTDOWN and waits (bounded) until it has been handed to a worker.
    pub fn shutdown(&self, wait: Duration) {
        let (ack, done) = crossbeam_channel::bounded(1);
        if self
            .tx
            .send_timeout(Box::new(SysEvent::Shutdown { ack }), wait)
            .is_ok()
        {
            let _ = done.recv_timeout(wait);
        }
    }

    /// Reports an event without waiting.
    pub fn report(&self, event: SysEvent) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Box::new(event)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
