//! Interest as each leaf node connection sees it (nats-server keeps the same per connection in
//! `leaf.smap`, fed by `updateSmap` and `initLeafNodeSmapAndSendSubs`; spec cluster.md §2.7).
//!
//! Unlike a route, every leaf connection gets its own view: a hub sends the account's whole
//! interest (local, from routes, from other leaf connections) but never what came from the
//! connection itself or from another connection of the same remote cluster; a spoke sends
//! only its local interest and that of the leaf nodes it is the hub of. So the table keeps,
//! per account and key, the count of each source, and per connection the count it announced.
//! A key is announced (`LS+`) when that count goes 0 → 1 and withdrawn (`LS-`) at 1 → 0; a
//! queue key on every change, with the count as the weight.
//!
//! Every change is counted from the server's start (only servers with leaf nodes configured
//! keep the table), so a new connection gets the whole interest at once. The lines go into
//! each connection's [`RouteLink`] queue under the table's lock, as for routes, and its
//! worker writes them before any message to it.

use crate::cluster::interest::{RouteLink, WakeMask};
use crate::ids::WorkerId;
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::sub::LeafRole;

/// Where a change of interest comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client or the server itself.
    Local,
    /// A route peer.
    Route,
    /// The leaf connection with this connection id.
    Leaf(u64),
}

/// Subjects exempt from a connection's permission filter (loop detection, gateway replies).
fn exempt(subject: &[u8]) -> bool {
    subject.starts_with(b"$LDS.") || subject.starts_with(b"$GR.") || subject.starts_with(b"_GR_.")
}

/// What a leaf connection may be told about, beside the source rules.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Subjects the remote may receive (the hub-side user's subscribe permissions, or the
    /// spoke's view of the hub's `import`), checked like a subscription.
    pub perms: Option<Arc<crate::auth::perms::ClientPerms>>,
    /// Subjects never sent across (`deny_exports`, the remote's `deny_pub`, the JetStream
    /// isolation rules).
    pub deny: Vec<Box<[u8]>>,
}

impl Filter {
    /// Whether interest in `subject` may be announced to the remote.
    pub fn allows(&self, subject: &[u8]) -> bool {
        if exempt(subject) {
            return true;
        }
        if self
            .deny
            .iter()
            .any(|d| protocol::subject::subject_matches(d, subject) || d.as_ref() == subject)
        {
            return false;
        }
        self.perms
            .as_ref()
            .is_none_or(|p| p.can_subscribe(subject, None))
    }
}

/// A leaf connection as the table addresses it.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// Where its lines go.
    pub link: Arc<RouteLink>,
    /// The remote's cluster name (its CONNECT `cluster`, or the hub's INFO `cluster`).
    pub remote_cluster: String,
    /// Which end we are.
    pub role: LeafRole,
    /// Interest from other leaf connections is not sent (`isolate_leafnode_interest`).
    pub isolated: bool,
    /// What may be announced.
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

/// A key's count per source.
#[derive(Debug, Default)]
struct Counts {
    local: u32,
    route: u32,
    leafs: SmallVec<[(u64, u32); 2]>,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.local == 0 && self.route == 0 && self.leafs.is_empty()
    }

    fn apply(&mut self, source: Source, delta: i64) {
        let add = |n: &mut u32| *n = (i64::from(*n) + delta).clamp(0, i64::from(u32::MAX)) as u32;
        match source {
            Source::Local => add(&mut self.local),
            Source::Route => add(&mut self.route),
            Source::Leaf(cid) => {
                match self.leafs.iter_mut().find(|(c, _)| *c == cid) {
                    Some((_, n)) => add(n),
                    None if delta > 0 => self
                        .leafs
                        .push((cid, delta.min(i64::from(u32::MAX)) as u32)),
                    None => {}
                }
                self.leafs.retain(|(_, n)| *n > 0);
            }
        }
    }

    fn by_source(&self) -> impl Iterator<Item = (Source, u32)> + '_ {
        [(Source::Local, self.local), (Source::Route, self.route)]
            .into_iter()
            .chain(self.leafs.iter().map(|&(cid, n)| (Source::Leaf(cid), n)))
            .filter(|(_, n)| *n > 0)
    }
}

#[derive(Debug)]
struct LinkState {
    spec: LinkSpec,
    smap: HashMap<Key, u32>,
}

#[derive(Debug, Default)]
struct AccountTable {
    counts: HashMap<Key, Counts>,
    links: Vec<LinkState>,
}

/// A leaf connection's role and cluster, for the source rules.
#[derive(Debug, Clone)]
struct LeafSource {
    cluster: String,
    role: LeafRole,
}

/// An inbound gateway connection: told the cluster-wide interest of every account it was
/// opened for (spec cluster.md §3.4).
#[derive(Debug)]
struct GatewayLinkState {
    link: Arc<RouteLink>,
    /// Our gateway name, for the command INFOs.
    gateway: String,
    /// Accounts announced as interest-only (`gateway_cmd` 2 and 3 sent).
    opened: std::collections::HashSet<String>,
    /// Announced count per account and key.
    smap: HashMap<(String, Key), u32>,
}

#[derive(Debug, Default)]
struct Tables {
    accounts: HashMap<String, AccountTable>,
    gateways: Vec<GatewayLinkState>,
    sources: HashMap<u64, LeafSource>,
    /// Each account's loop detection subject (`$LDS.<nuid>`), made on first use.
    lds: HashMap<String, String>,
}

/// Whether `link` is told about interest in `subject` from `source` (nats-server
/// `updateLeafNodesEx` and `updateSmap`).
fn accepts(
    sources: &HashMap<u64, LeafSource>,
    link: &LinkSpec,
    source: Source,
    subject: &[u8],
) -> bool {
    let is_lds = subject.starts_with(b"$LDS.");
    let by_source = match source {
        Source::Local => true,
        Source::Route => link.role == LeafRole::Hub,
        Source::Leaf(cid) if cid == link.link.cid => false,
        Source::Leaf(cid) => match sources.get(&cid) {
            None => false,
            Some(s) if !s.cluster.is_empty() && s.cluster == link.remote_cluster => false,
            Some(_) if link.isolated => false,
            // Loop detection subjects cross wherever the cluster differs.
            Some(_) if is_lds => true,
            Some(s) => link.role == LeafRole::Hub || s.role == LeafRole::Hub,
        },
    };
    by_source && link.filter.allows(subject)
}

/// Whether an inbound gateway is told about interest from `source`: a cluster's interest is
/// its clients', its routes' and that of the leaf connections it is the hub of (nats-server
/// `gatewayUpdateSubInterest` is not called for a spoke's subscriptions).
fn gateway_accepts(sources: &HashMap<u64, LeafSource>, source: Source) -> bool {
    match source {
        Source::Local | Source::Route => true,
        Source::Leaf(cid) => sources.get(&cid).is_some_and(|s| s.role == LeafRole::Hub),
    }
}

/// Appends `gateway_cmd` 2 and 3 for `account` (an empty "all subscriptions" exchange: the
/// account becomes interest-only at the peer), as nats-server's command INFOs.
fn write_open(out: &mut Vec<u8>, gateway: &str, account: &str) {
    use crate::gateway::wire::{GatewayInfo, CMD_ALL_SUBS_COMPLETE, CMD_ALL_SUBS_START};
    out.extend_from_slice(&GatewayInfo::command(gateway, CMD_ALL_SUBS_START, account).to_line());
    out.extend_from_slice(&GatewayInfo::command(gateway, CMD_ALL_SUBS_COMPLETE, account).to_line());
}

/// The `RS+`/`RS-` line for a gateway when a key's cluster-wide count goes `old` -> `new`:
/// keys are announced on their first member and withdrawn with their last, queue keys with
/// weight 1 (as nats-server).
fn write_gateway_change(out: &mut Vec<u8>, account: &str, key: &Key, old: u32, new: u32) {
    let queue = key.queue.as_deref();
    match (old, new) {
        (0, n) if n > 0 => protocol::route::write_rs_plus(
            out,
            account.as_bytes(),
            &key.subject,
            queue.map(|q| (q, 1)),
        ),
        (o, 0) if o > 0 => {
            protocol::route::write_rs_minus(out, account.as_bytes(), &key.subject, queue)
        }
        _ => {}
    }
}

/// Every account's interest as its leaf connections see it.
#[derive(Debug, Default)]
pub struct LeafInterest {
    tables: Mutex<Tables>,
}

fn bit(worker: WorkerId) -> WakeMask {
    1 << (worker.0 % 64)
}

/// The line announcing a count change of `key` from `old` to `new`, if any.
fn write_change(out: &mut Vec<u8>, key: &Key, old: u32, new: u32) {
    match (&key.queue, old, new) {
        (_, o, n) if o == n => {}
        (None, 0, _) => protocol::route::write_ls_plus(out, &key.subject, None),
        (None, _, 0) => protocol::route::write_ls_minus(out, &key.subject, None),
        (None, _, _) => {}
        (Some(q), _, 0) => protocol::route::write_ls_minus(out, &key.subject, Some(q)),
        (Some(q), _, n) => protocol::route::write_ls_plus(out, &key.subject, Some((q, n))),
    }
}

/// A fresh loop detection subject: `$LDS.` and 22 random base-62 characters, like a NUID.
fn new_lds() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let token: String = (0..22)
        .map(|_| BASE62[rand::random::<usize>() % BASE62.len()] as char)
        .collect();
    format!("$LDS.{token}")
}

impl LeafInterest {
    /// The loop detection subject of `account` (nats-server `Account.lds`).
    pub fn lds(&self, account: &str) -> String {
        self.tables
            .lock()
            .lds
            .entry(account.to_string())
            .or_insert_with(new_lds)
            .clone()
    }

    /// `delta` subscriptions more (or fewer) on `subject` (in `queue`) in `account`, from
    /// `source`. Returns the workers whose leaf connections got a line.
    pub fn change(
        &self,
        account: &str,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
        source: Source,
    ) -> WakeMask {
        if delta == 0 {
            return 0;
        }
        let mut guard = self.tables.lock();
        let Tables {
            accounts,
            sources,
            gateways,
            ..
        } = &mut *guard;
        if !accounts.contains_key(account) {
            accounts.insert(account.to_string(), AccountTable::default());
        }
        let Some(acc) = accounts.get_mut(account) else {
            return 0;
        };
        let key = Key {
            subject: subject.into(),
            queue: queue.map(Into::into),
        };
        let counts = acc.counts.entry(key.clone()).or_default();
        counts.apply(source, delta);
        if counts.is_empty() {
            acc.counts.remove(&key);
        }
        let mut mask = 0;
        let mut line = Vec::new();
        if gateway_accepts(sources, source) {
            for gw in gateways.iter_mut() {
                let smap_key = (account.to_string(), key.clone());
                let old = gw.smap.get(&smap_key).copied().unwrap_or(0);
                let new = (i64::from(old) + delta).clamp(0, i64::from(u32::MAX)) as u32;
                if new == 0 {
                    gw.smap.remove(&smap_key);
                } else {
                    gw.smap.insert(smap_key, new);
                }
                line.clear();
                write_gateway_change(&mut line, account, &key, old, new);
                if line.is_empty() {
                    continue;
                }
                if key.queue.is_none() && !gw.opened.contains(account) {
                    // A plain RS+ for an account the peer was not told about is ignored by
                    // nats-server: open it first.
                    let mut open = Vec::new();
                    write_open(&mut open, &gw.gateway, account);
                    gw.opened.insert(account.to_string());
                    gw.link.push(&open);
                }
                gw.link.push(&line);
                mask |= bit(gw.link.worker);
            }
        }
        for state in acc.links.iter_mut() {
            if !accepts(sources, &state.spec, source, subject) {
                continue;
            }
            let old = state.smap.get(&key).copied().unwrap_or(0);
            let new = (i64::from(old) + delta).clamp(0, i64::from(u32::MAX)) as u32;
            if new == 0 {
                state.smap.remove(&key);
            } else {
                state.smap.insert(key.clone(), new);
            }
            line.clear();
            write_change(&mut line, &key, old, new);
            if !line.is_empty() {
                state.spec.link.push(&line);
                mask |= bit(state.spec.link.worker);
            }
        }
        mask
    }

    /// Registers the remote of leaf connection `cid` as a source of interest.
    pub fn add_source(&self, cid: u64, cluster: &str, role: LeafRole) {
        self.tables.lock().sources.insert(
            cid,
            LeafSource {
                cluster: cluster.to_string(),
                role,
            },
        );
    }

    /// A leaf connection in `account` is ready: it gets the loop detection subject and the
    /// whole interest it may see (nats-server `initLeafNodeSmapAndSendSubs`), then every
    /// change. Returns the worker to wake.
    pub fn attach(&self, account: &str, spec: LinkSpec, services: &[Box<[u8]>]) -> WakeMask {
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        let lds = t
            .lds
            .entry(account.to_string())
            .or_insert_with(new_lds)
            .clone();
        let mut lines = Vec::new();
        protocol::route::write_ls_plus(&mut lines, lds.as_bytes(), None);
        let mut smap: HashMap<Key, u32> = HashMap::new();
        // The account's service imports: the remote's requests for them come here.
        for subject in services.iter().filter(|s| spec.filter.allows(s)) {
            let key = Key {
                subject: subject.clone(),
                queue: None,
            };
            if smap.insert(key.clone(), 1).is_none() {
                write_change(&mut lines, &key, 0, 1);
            }
        }
        if let Some(acc) = t.accounts.get(account) {
            for (key, counts) in &acc.counts {
                let n: u32 = counts
                    .by_source()
                    .filter(|(source, _)| accepts(&t.sources, &spec, *source, &key.subject))
                    .map(|(_, n)| n)
                    .sum();
                if n > 0 {
                    let pinned = smap.get(key).copied().unwrap_or(0);
                    write_change(&mut lines, key, pinned, pinned + n);
                    smap.insert(key.clone(), pinned + n);
                }
            }
        }
        spec.link.push(&lines);
        let mask = bit(spec.link.worker);
        t.accounts
            .entry(account.to_string())
            .or_default()
            .links
            .push(LinkState { spec, smap });
        mask
    }

    /// Leaf connection `cid` closed: no more lines for it, and it is no longer a source (the
    /// caller withdraws the interest it announced first).
    pub fn detach(&self, account: &str, cid: u64) {
        let mut t = self.tables.lock();
        t.sources.remove(&cid);
        if let Some(acc) = t.accounts.get_mut(account) {
            acc.links.retain(|l| l.spec.link.cid != cid);
        }
    }

    /// An inbound gateway connection is ready: it gets every queue key of the cluster (weight
    /// 1), then each account's plain keys between `gateway_cmd` 2 and 3 (nats-server
    /// `sendQueueSubsToGateway`, `gatewaySwitchAccountToSendAllSubs`), then every change.
    /// Returns the worker to wake.
    pub fn attach_gateway(&self, gateway: &str, link: Arc<RouteLink>) -> WakeMask {
        use crate::gateway::wire::{GatewayInfo, CMD_ALL_SUBS_COMPLETE, CMD_ALL_SUBS_START};
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        let mut smap: HashMap<(String, Key), u32> = HashMap::new();
        for (account, acc) in &t.accounts {
            for (key, counts) in &acc.counts {
                let n: u32 = counts
                    .by_source()
                    .filter(|(source, _)| gateway_accepts(&t.sources, *source))
                    .map(|(_, n)| n)
                    .sum();
                if n > 0 {
                    smap.insert((account.clone(), key.clone()), n);
                }
            }
        }
        let mut lines = Vec::new();
        for (account, key) in smap.keys().filter(|(_, k)| k.queue.is_some()) {
            write_gateway_change(&mut lines, account, key, 0, 1);
        }
        let mut accounts: Vec<&String> = smap.keys().map(|(a, _)| a).collect();
        accounts.sort();
        accounts.dedup();
        let mut opened = std::collections::HashSet::new();
        for account in accounts {
            lines.extend_from_slice(
                &GatewayInfo::command(gateway, CMD_ALL_SUBS_START, account).to_line(),
            );
            for (_, key) in smap
                .keys()
                .filter(|(a, k)| a == account && k.queue.is_none())
            {
                write_gateway_change(&mut lines, account, key, 0, 1);
            }
            lines.extend_from_slice(
                &GatewayInfo::command(gateway, CMD_ALL_SUBS_COMPLETE, account).to_line(),
            );
            opened.insert(account.clone());
        }
        link.push(&lines);
        let mask = bit(link.worker);
        t.gateways.push(GatewayLinkState {
            link,
            gateway: gateway.to_string(),
            opened,
            smap,
        });
        mask
    }

    /// An inbound gateway connection closed.
    pub fn detach_gateway(&self, cid: u64) {
        self.tables.lock().gateways.retain(|g| g.link.cid != cid);
    }

    /// How many keys connection `cid` was told about (for `/leafz`).
    pub fn announced(&self, account: &str, cid: u64) -> usize {
        let t = self.tables.lock();
        t.accounts
            .get(account)
            .and_then(|a| a.links.iter().find(|l| l.spec.link.cid == cid))
            .map_or(0, |l| l.smap.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Slot;

    fn link(cid: u64) -> Arc<RouteLink> {
        Arc::new(RouteLink::new(WorkerId(0), Slot(cid as usize), cid))
    }

    fn spec(link: &Arc<RouteLink>, cluster: &str, role: LeafRole) -> LinkSpec {
        LinkSpec {
            link: link.clone(),
            remote_cluster: cluster.into(),
            role,
            isolated: false,
            filter: Filter::default(),
        }
    }

    fn drained(link: &RouteLink) -> Vec<String> {
        let text = String::from_utf8(link.take().unwrap()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_hub_link_gets_everything_but_its_own_and_a_spoke_only_local() {
        let t = LeafInterest::default();
        t.change("A", b"local", None, 1, Source::Local);
        t.change("A", b"routed", None, 1, Source::Route);
        let (hub, spoke) = (link(1), link(2));
        t.add_source(1, "LC", LeafRole::Hub);
        t.add_source(2, "HUB", LeafRole::Spoke);
        t.attach("A", spec(&hub, "LC", LeafRole::Hub), &[]);
        t.attach("A", spec(&spoke, "HUB", LeafRole::Spoke), &[]);
        let lds = t.lds("A");
        assert_eq!(drained(&hub)[0], format!("LS+ {lds}"));
        let mut hub_lines = drained(&hub);
        hub_lines.sort();
        assert!(hub_lines.is_empty());
        // Attach wrote everything at once; check the sets.
        let (hub2, spoke2) = (link(3), link(4));
        t.add_source(3, "LC2", LeafRole::Hub);
        t.add_source(4, "HUB2", LeafRole::Spoke);
        t.attach("A", spec(&hub2, "LC2", LeafRole::Hub), &[]);
        t.attach("A", spec(&spoke2, "HUB2", LeafRole::Spoke), &[]);
        let mut h = drained(&hub2);
        h.sort();
        assert_eq!(
            h,
            [
                format!("LS+ {lds}"),
                "LS+ local".into(),
                "LS+ routed".into()
            ]
        );
        let mut s = drained(&spoke2);
        s.sort();
        assert_eq!(s, [format!("LS+ {lds}"), "LS+ local".into()]);
        let _ = drained(&spoke);
        // Interest from the hub-side connection 1 reaches the other hub link and the spokes,
        // not connection 1 itself; interest from spoke 2 reaches hub links only.
        t.change("A", b"from1", None, 1, Source::Leaf(1));
        assert!(!hub.has_pending());
        assert_eq!(drained(&hub2), ["LS+ from1"]);
        assert_eq!(drained(&spoke), ["LS+ from1"]);
        assert_eq!(drained(&spoke2), ["LS+ from1"]);
        t.change("A", b"from2", None, 1, Source::Leaf(2));
        assert_eq!(drained(&hub), ["LS+ from2"]);
        assert!(!spoke2.has_pending());
    }

    #[test]
    fn same_cluster_is_never_echoed_and_isolation_holds_back_every_leaf() {
        let t = LeafInterest::default();
        let (a, b) = (link(1), link(2));
        t.add_source(1, "LC", LeafRole::Hub);
        t.add_source(2, "LC", LeafRole::Hub);
        t.attach("A", spec(&a, "LC", LeafRole::Hub), &[]);
        let mut iso = spec(&b, "LC", LeafRole::Hub);
        iso.isolated = true;
        t.attach("A", iso, &[]);
        let (_, _) = (drained(&a), drained(&b));
        t.change("A", b"x", None, 1, Source::Leaf(1));
        assert!(!b.has_pending(), "same remote cluster");
        let c = link(3);
        t.add_source(3, "OTHER", LeafRole::Hub);
        t.change("A", b"$LDS.abc", None, 1, Source::Leaf(3));
        t.change("A", b"y", None, 1, Source::Leaf(3));
        assert!(
            !b.has_pending(),
            "isolated: nothing from other leaf connections"
        );
        assert_eq!(drained(&a), ["LS+ $LDS.abc", "LS+ y"]);
        drop(c);
    }

    #[test]
    fn queue_weights_and_withdrawal() {
        let t = LeafInterest::default();
        let l = link(1);
        t.add_source(1, "LC", LeafRole::Hub);
        t.attach("A", spec(&l, "LC", LeafRole::Hub), &[]);
        let _ = drained(&l);
        t.change("A", b"q", Some(b"g"), 1, Source::Local);
        t.change("A", b"q", Some(b"g"), 2, Source::Route);
        t.change("A", b"q", Some(b"g"), -1, Source::Local);
        t.change("A", b"q", Some(b"g"), -2, Source::Route);
        t.change("A", b"p", None, 1, Source::Local);
        t.change("A", b"p", None, 1, Source::Route);
        t.change("A", b"p", None, -1, Source::Local);
        t.change("A", b"p", None, -1, Source::Route);
        assert_eq!(
            drained(&l),
            [
                "LS+ q g 1",
                "LS+ q g 3",
                "LS+ q g 2",
                "LS- q g",
                "LS+ p",
                "LS- p"
            ]
        );
        t.detach("A", 1);
        t.change("A", b"z", None, 1, Source::Local);
        assert!(!l.has_pending());
    }

    #[test]
    fn filters_keep_denied_subjects_back() {
        let t = LeafInterest::default();
        t.change("A", b"$JS.API.INFO", None, 1, Source::Local);
        let l = link(1);
        let mut s = spec(&l, "LC", LeafRole::Hub);
        s.filter.deny = vec![b"$JS.API.>".as_slice().into(), b"secret".as_slice().into()];
        t.attach("A", s, &[]);
        let lines = drained(&l);
        assert_eq!(lines.len(), 1, "only the loop detection subject: {lines:?}");
        t.change("A", b"secret", None, 1, Source::Local);
        t.change("A", b"open", None, 1, Source::Local);
        assert_eq!(drained(&l), ["LS+ open"]);
    }
}
