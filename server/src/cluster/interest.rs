//! Local interest as the routes see it, and the queue of protocol lines waiting for each route.
//!
//! Every local subscription (clients, the system account's services) is counted here by key
//! `account subject [queue]`, server-wide. A plain key is announced with `RS+` when its count
//! goes 0 → 1 and withdrawn with `RS-` at 1 → 0; a queue key is announced on every change with
//! its count as the weight (spec cluster.md §0.7, §1.10.2; nats-server keeps the same counts in
//! `Account.rm` and `updateRouteSubscriptionMap`).
//!
//! The lines go into each route's [`RouteLink`] queue under the table's lock, so every route
//! sees the changes of all workers in one order. The route's worker writes that queue to the
//! socket before anything else it queues for the route, so an `RS+` always precedes the
//! `RMSG` of a request published after the subscription (the requester's reply interest must
//! reach the peer first, spec §4.4).

use crate::ids::{Slot, WorkerId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes a route's queue may hold before further lines are dropped and the route is closed
/// (a peer that does not read its interest updates is broken).
pub const LINK_QUEUE_MAX: usize = 64 * 1024 * 1024;

/// One route connection as the rest of the server addresses it.
#[derive(Debug)]
pub struct RouteLink {
    /// The worker owning the connection.
    pub worker: WorkerId,
    /// Its slot there.
    pub slot: Slot,
    /// Its connection id.
    pub cid: u64,
    queue: Mutex<Vec<u8>>,
    pending: AtomicBool,
    overflowed: AtomicBool,
    /// Set when another thread wants the route closed (the cluster name changed).
    close: AtomicBool,
}

impl RouteLink {
    /// A link to the route connection `cid` in `slot` of `worker`.
    pub fn new(worker: WorkerId, slot: Slot, cid: u64) -> RouteLink {
        RouteLink {
            worker,
            slot,
            cid,
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            close: AtomicBool::new(false),
        }
    }

    /// Asks the route's worker to close it (it looks when lines are pending).
    pub fn request_close(&self) {
        self.close.store(true, Ordering::Release);
        self.pending.store(true, Ordering::Release);
    }

    /// Whether the route is to be closed.
    pub fn close_requested(&self) -> bool {
        self.close.load(Ordering::Acquire)
    }

    /// Appends protocol lines for the route.
    pub fn push(&self, bytes: &[u8]) {
        let mut queue = self.queue.lock();
        if queue.len() + bytes.len() > LINK_QUEUE_MAX {
            self.overflowed.store(true, Ordering::Release);
        } else {
            queue.extend_from_slice(bytes);
        }
        self.pending.store(true, Ordering::Release);
    }

    /// Whether lines are waiting (one atomic load: the route's worker asks before every
    /// output to the route).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes the waiting lines.
    ///
    /// # Errors
    /// Some had to be dropped: the route must be closed.
    pub fn take(&self) -> Result<Vec<u8>, Overflowed> {
        let mut queue = self.queue.lock();
        self.pending.store(false, Ordering::Release);
        if self.overflowed.load(Ordering::Acquire) {
            return Err(Overflowed);
        }
        Ok(std::mem::take(&mut *queue))
    }
}

/// A route's queue went over [`LINK_QUEUE_MAX`]: lines were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflowed;

/// A key of the interest table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: Box<str>,
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

#[derive(Debug, Default)]
struct Table {
    counts: HashMap<Key, u32>,
    links: Vec<Arc<RouteLink>>,
    /// `cluster.permissions.import`: only subjects it allows are asked for (`RS+`), as
    /// nats-server's `canImport` (its import list is checked like a publish permission).
    import: Option<crate::auth::perms::ClientPerms>,
}

impl Table {
    /// Whether routes are told about interest in `subject`.
    fn importable(&self, subject: &[u8]) -> bool {
        importable(self.import.as_ref(), subject)
    }
}

fn importable(import: Option<&crate::auth::perms::ClientPerms>, subject: &[u8]) -> bool {
    import.is_none_or(|p| p.can_publish(subject))
}

/// The server-wide local interest and the routes it is announced to.
#[derive(Debug, Default)]
pub struct Interest {
    table: Mutex<Table>,
}

/// Workers that have route lines to write: a bit per worker id (see `gate::Waiters`).
pub type WakeMask = u64;

fn bit(worker: WorkerId) -> WakeMask {
    1 << (worker.0 % 64)
}

impl Interest {
    /// An empty table announcing only what `import` allows (everything without it).
    pub fn with_import(import: Option<crate::auth::perms::ClientPerms>) -> Interest {
        Interest {
            table: Mutex::new(Table {
                import,
                ..Table::default()
            }),
        }
    }

    /// New import permissions (a reload): interest that became importable is announced,
    /// interest that no longer is is withdrawn (nats-server `reloadClusterPermissions`).
    /// Returns the workers whose routes got lines.
    pub fn set_import(&self, import: Option<crate::auth::perms::ClientPerms>) -> WakeMask {
        let mut t = self.table.lock();
        let mut lines = Vec::new();
        for (key, &n) in &t.counts {
            let (then, now) = (
                t.importable(&key.subject),
                importable(import.as_ref(), &key.subject),
            );
            let (account, queue) = (key.account.as_bytes(), key.queue.as_deref());
            match (then, now) {
                (false, true) => protocol::route::write_rs_plus(
                    &mut lines,
                    account,
                    &key.subject,
                    queue.map(|q| (q, n)),
                ),
                (true, false) => {
                    protocol::route::write_rs_minus(&mut lines, account, &key.subject, queue)
                }
                _ => {}
            }
        }
        t.import = import;
        if lines.is_empty() {
            return 0;
        }
        broadcast(&t.links, &lines)
    }

    /// One more local subscription on `subject` (in `queue`). Returns the workers whose
    /// routes got a line.
    pub fn add(&self, account: &str, subject: &[u8], queue: Option<&[u8]>) -> WakeMask {
        self.change(account, subject, queue, 1)
    }

    /// One local subscription fewer. Returns the workers whose routes got a line.
    pub fn remove(&self, account: &str, subject: &[u8], queue: Option<&[u8]>) -> WakeMask {
        self.change(account, subject, queue, -1)
    }

    /// `delta` local subscriptions more or fewer (a leaf connection's queue entry counts its
    /// weight). Returns the workers whose routes got a line.
    pub fn change(
        &self,
        account: &str,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
    ) -> WakeMask {
        if delta == 0 {
            return 0;
        }
        let mut t = self.table.lock();
        let key = Key {
            account: account.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
        };
        let old = t.counts.get(&key).copied().unwrap_or(0);
        let new = (i64::from(old) + delta).clamp(0, i64::from(u32::MAX)) as u32;
        if new == old {
            return 0;
        }
        if new == 0 {
            t.counts.remove(&key);
        } else {
            t.counts.insert(key, new);
        }
        if !t.importable(subject) {
            return 0;
        }
        let mut line = Vec::with_capacity(subject.len() + account.len() + 24);
        match (queue, old, new) {
            (_, _, 0) => {
                protocol::route::write_rs_minus(&mut line, account.as_bytes(), subject, queue)
            }
            (None, 0, _) => {
                protocol::route::write_rs_plus(&mut line, account.as_bytes(), subject, None)
            }
            (None, _, _) => return 0,
            (Some(q), _, n) => {
                protocol::route::write_rs_plus(&mut line, account.as_bytes(), subject, Some((q, n)))
            }
        }
        broadcast(&t.links, &line)
    }

    /// A route registered: it gets the whole table (the initial exchange, spec §1.10.3) and
    /// from now on every change.
    pub fn attach(&self, link: Arc<RouteLink>) {
        let mut t = self.table.lock();
        let mut lines = Vec::new();
        for (key, &n) in t.counts.iter().filter(|(k, _)| t.importable(&k.subject)) {
            let queue = key.queue.as_deref().map(|q| (q, n));
            protocol::route::write_rs_plus(&mut lines, key.account.as_bytes(), &key.subject, queue);
        }
        link.push(&lines);
        t.links.push(link);
    }

    /// A route closed: no more lines for it.
    pub fn detach(&self, link: &Arc<RouteLink>) {
        self.table.lock().links.retain(|l| !Arc::ptr_eq(l, link));
    }

    /// Sends `bytes` to every route but `except` (gossip). Returns the workers to wake.
    pub fn broadcast_except(&self, bytes: &[u8], except: &Arc<RouteLink>) -> WakeMask {
        let t = self.table.lock();
        let mut mask = 0;
        for link in t.links.iter().filter(|l| !Arc::ptr_eq(l, except)) {
            link.push(bytes);
            mask |= bit(link.worker);
        }
        mask
    }

    /// Sends `bytes` to every route. Returns the workers to wake.
    pub fn broadcast(&self, bytes: &[u8]) -> WakeMask {
        broadcast(&self.table.lock().links, bytes)
    }
}

fn broadcast(links: &[Arc<RouteLink>], line: &[u8]) -> WakeMask {
    let mut mask = 0;
    for link in links {
        link.push(line);
        mask |= bit(link.worker);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(link: &RouteLink) -> String {
        String::from_utf8(link.take().unwrap()).unwrap()
    }

    #[test]
    fn plain_keys_are_announced_once_and_withdrawn_last() {
        let interest = Interest::default();
        let link = Arc::new(RouteLink::new(WorkerId(1), Slot(3), 9));
        interest.attach(link.clone());
        assert_eq!(drained(&link), "");
        assert_eq!(interest.add("A", b"foo", None), 2);
        assert_eq!(interest.add("A", b"foo", None), 0);
        assert_eq!(drained(&link), "RS+ A foo\r\n");
        interest.remove("A", b"foo", None);
        assert!(!link.has_pending());
        interest.remove("A", b"foo", None);
        assert_eq!(drained(&link), "RS- A foo\r\n");
        // An unknown key is ignored.
        assert_eq!(interest.remove("A", b"foo", None), 0);
    }

    #[test]
    fn queue_weights_follow_every_change() {
        let interest = Interest::default();
        let link = Arc::new(RouteLink::new(WorkerId(0), Slot(0), 1));
        interest.attach(link.clone());
        interest.add("A", b"bar", Some(b"q1"));
        interest.add("A", b"bar", Some(b"q1"));
        interest.remove("A", b"bar", Some(b"q1"));
        interest.remove("A", b"bar", Some(b"q1"));
        assert_eq!(
            drained(&link),
            "RS+ A bar q1 1\r\nRS+ A bar q1 2\r\nRS+ A bar q1 1\r\nRS- A bar q1\r\n"
        );
    }

    #[test]
    fn a_new_route_gets_the_whole_table() {
        let interest = Interest::default();
        interest.add("A", b"foo", None);
        interest.add("SYS", b"$SYS.REQ.SERVER.PING", None);
        interest.add("A", b"bar", Some(b"q"));
        interest.add("A", b"bar", Some(b"q"));
        let link = Arc::new(RouteLink::new(WorkerId(0), Slot(0), 1));
        interest.attach(link.clone());
        let mut lines: Vec<String> = drained(&link).lines().map(str::to_string).collect();
        lines.sort();
        assert_eq!(
            lines,
            ["RS+ A bar q 2", "RS+ A foo", "RS+ SYS $SYS.REQ.SERVER.PING"]
        );
        interest.detach(&link);
        interest.add("A", b"new", None);
        assert!(!link.has_pending());
    }

    #[test]
    fn an_overflowing_queue_says_so() {
        let link = RouteLink::new(WorkerId(0), Slot(0), 1);
        link.push(&vec![b'x'; LINK_QUEUE_MAX]);
        link.push(b"y");
        assert!(link.take().is_err());
    }
}
