//! The system account's event side: a dedicated thread turns connection facts reported by the
//! workers into nats-server's `$SYS` events (CONNECT, DISCONNECT, AUTH.ERR) and publishes them
//! through a worker, so they are routed like any message (subscriptions, imports).
//!
//! This file owns the thread: [`start`] (called by the server at startup) registers the
//! system account's internal subscriptions and spawns it, and `run` is its loop, which waits
//! for the next fact or timer and hands each to `events::SysThread`. The events themselves
//! and the loop's state are in `events`; the `$SYS.REQ` services in `requests`; the
//! NATS-based account resolvers' side in `claims`; PROFILEZ in `profilez`. What the other
//! threads send it is in [`crate::msgs::sys`].

mod claims;
mod events;
mod profilez;
mod requests;

use crate::account::Account;
use crate::msgs::{SysEvent, SysHandle};
use crate::shared::Shared;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use events::SysThread;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Facts waiting for the system thread, at most.
const EVENTS_QUEUE_MAX: usize = 64 * 1024;

/// Starts the system thread for `system` (the system account) and returns the handle workers
/// report to.
///
/// # Errors
/// The thread could not be spawned.
pub fn start(shared: Weak<Shared>, system: &'static Account) -> std::io::Result<SysHandle> {
    let (tx, rx) = crossbeam_channel::bounded(EVENTS_QUEUE_MAX);
    if let Some(shared) = shared.upgrade() {
        subscribe_services(&shared, system);
    }
    let handle = SysHandle::new(system, tx);
    if let Some(shared) = shared.upgrade() {
        handle.serve_accounts(&shared.accounts);
    }
    std::thread::Builder::new()
        .name("gannet-system".into())
        .spawn(move || run(shared, system, rx))?;
    Ok(handle)
}

/// The services this server answers, as internal subscriptions in the system account.
fn subscribe_services(shared: &Shared, system: &'static Account) {
    let id = shared.runtime().0.info.server_id.clone();
    // Each service is also announced to the routes, so that requests published on other
    // servers reach this one (spec cluster.md §4.1).
    let add = |account: &'static Account, subject: &str| {
        // The full resolvers' pack requests are answered by one server of the cluster: a
        // queue group, as in nats-server.
        let queue: Option<&[u8]> = (subject == "$SYS.REQ.CLAIMS.PACK").then_some(b"responder");
        let route = crate::account::ImportRoute::SysRequest;
        let mut sub = crate::sub::Sub::import(subject.as_bytes(), route);
        sub.queue = queue.map(Into::into);
        let sub = Arc::new(sub);
        let _ = account
            .sublist
            .insert(subject.as_bytes(), queue, crate::sub::SubRef(sub));
        if subject != "$SYS.DEBUG.SUBSCRIBERS" {
            shared.interest_added(&account.name, subject.as_bytes(), queue);
        }
    };
    if shared.cluster().is_some() || shared.leafs().is_some() {
        // The other servers' events: remote server tracking (spec cluster.md §4.3), and the
        // answers to this server's account-tracking requests.
        for subject in [
            "$SYS.SERVER.*.STATSZ",
            "$SYS.SERVER.*.SHUTDOWN",
            "$SYS.SERVER.*.LAMEDUCK",
            "$SYS.SERVER.ACCOUNT.*.CONNS",
            events::tracking_inbox(&id).as_str(),
        ] {
            add(system, subject);
        }
    }
    let server_wide = format!("$SYS.REQ.SERVER.{id}.*");
    let inbox = format!("{}.*", events::reply_inbox(&id));
    let dir_resolver = match &shared.runtime().0.auth {
        crate::auth::AuthConfig::Operator(t) => t.store().map(|st| st.config.cache),
        _ => None,
    };
    // The NATS-based resolvers' services (spec sys.md §5.4); `full` also answers lookups and
    // packs.
    let resolver_subjects: &[&str] = match dir_resolver {
        Some(true) => &[
            "$SYS.REQ.CLAIMS.UPDATE",
            "$SYS.REQ.CLAIMS.LIST",
            "$SYS.REQ.CLAIMS.DELETE",
        ],
        Some(false) => &[
            "$SYS.REQ.CLAIMS.UPDATE",
            "$SYS.REQ.CLAIMS.LIST",
            "$SYS.REQ.CLAIMS.DELETE",
            "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP",
            "$SYS.REQ.CLAIMS.PACK",
        ],
        None => &[],
    };
    for subject in resolver_subjects {
        add(system, subject);
    }
    for subject in [
        inbox.as_str(),
        "$SYS.REQ.SERVER.PING",
        "$SYS.REQ.SERVER.PING.*",
        server_wide.as_str(),
        "$SYS.REQ.ACCOUNT.*.*",
        "$SYS.REQ.ACCOUNT.NSUBS",
        "$SYS.DEBUG.SUBSCRIBERS",
        // Account JWT updates (the resolvers here don't track updates themselves).
        "$SYS.ACCOUNT.*.CLAIMS.UPDATE",
        "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE",
    ] {
        add(system, subject);
    }
}

/// The system thread: waits for the next fact or timer, does the timers' work that is due,
/// then hands the fact to its handler. Ends when every handle is gone or the server is.
fn run(shared: Weak<Shared>, system: &'static Account, rx: Receiver<Box<SysEvent>>) {
    let mut t = SysThread::new(shared, system);
    loop {
        let event = match rx.recv_deadline(t.next_deadline()) {
            Ok(event) => Some(*event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = t.shared() else {
            return;
        };
        t.tick_due(&shared, Instant::now());
        let Some(event) = event else { continue };
        if t.silenced() {
            // After LAMEDUCK or SHUTDOWN nothing is sent; a shutdown is still acknowledged.
            if let SysEvent::Shutdown { ack } = event {
                let _ = ack.send(());
            }
            continue;
        }
        match event {
            SysEvent::Connect(client) => t.on_connect(&shared, &client),
            SysEvent::Reregistered(client) => t.on_reregistered(&shared, &client),
            SysEvent::Disconnect {
                client,
                sent,
                received,
                reason,
            } => t.on_disconnect(&shared, &client, sent, received, &reason),
            SysEvent::AuthError { client, reason } => t.on_auth_error(&shared, &client, &reason),
            SysEvent::AccountConns(account) => t.on_account_conns(&shared, account),
            SysEvent::Request {
                account,
                subject,
                reply,
                headers,
                payload,
            } => t.on_request(
                &shared,
                account,
                &subject,
                reply.as_deref(),
                &headers,
                &payload,
            ),
            SysEvent::Reply {
                account,
                reply,
                data,
            } => t.on_reply(&shared, account, &reply, data),
            SysEvent::Lookup { account, done } => t.on_lookup(&shared, &account, done),
            SysEvent::LeafnodeConnect(account) => t.on_leafnode_connect(&shared, account),
            SysEvent::TrackAccount(account) => t.on_track_account(&shared, account),
            SysEvent::LameDuck => t.on_lame_duck(&shared),
            SysEvent::Shutdown { ack } => t.on_shutdown(&shared, &ack),
        }
    }
}
