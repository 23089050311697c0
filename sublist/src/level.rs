//! The subscription trie: a [`Level`] per token position, a [`Node`] per token.
//!
//! Each level keeps its literal-token children in a hash map and its `*` (`pwc`, partial
//! wildcard) and `>` (`fwc`, full wildcard) children apart, like `level` and `node` in
//! nats-server's `server/sublist.go`. A node holds the plain subscriptions (`psubs`) and the
//! queue subscriptions (`qsubs`, grouped by queue name) whose pattern ends at it.
//!
//! Everything here is single-threaded; [`crate::shard`] wraps a root level in a lock. Every
//! walk is a loop over the pattern's or subject's tokens, whose number callers cap at
//! [`TOKEN_MAX`], so no walk recurses or runs unbounded on client input.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::subject::TOKEN_MAX;
use smallvec::SmallVec;

use crate::{ProcessHasher, QueueGroup, SublistResult};

/// How many tokens a [`Tokens`] list holds before it spills to the heap.
const TOKENS_INLINE: usize = 16;

/// A whole-token partial wildcard.
const PWC: &[u8] = b"*";

/// A whole-token full wildcard.
const FWC: &[u8] = b">";

/// The tokens of one subject, borrowed from it.
pub(crate) type Tokens<'a> = SmallVec<[&'a [u8]; TOKENS_INLINE]>;

/// Splits a publish subject into tokens, or returns `None` if it can match nothing: it is empty,
/// has an empty token, or has more than [`TOKEN_MAX`] tokens.
///
/// Whole-token `*` and `>` are kept as they are; [`Level::match_into`] treats them as literals.
pub(crate) fn publish_tokens(subject: &[u8]) -> Option<Tokens<'_>> {
    let mut toks = Tokens::new();
    for token in protocol::subject::tokens(subject) {
        if token.is_empty() || toks.len() == TOKEN_MAX {
            return None;
        }
        toks.push(token);
    }
    Some(toks)
}

/// A literal token as a map key. Tokens are usually short, so they are stored inline; only
/// longer ones allocate. This roughly halves the trie's memory per distinct token.
pub(crate) type TokenKey = SmallVec<[u8; 16]>;

/// Levels with at most this many literal children keep them in a short list; larger ones
/// switch to a hash map. Most levels deep in a subject tree have a single child (`a.<id>.v`),
/// and a hash map for one entry costs several hundred bytes per subscription.
const SMALL_CHILDREN_MAX: usize = 8;

/// The literal children of a level: a short inline list, or a map once there are many.
pub(crate) enum Children<T> {
    /// Few children, searched linearly.
    Small(SmallVec<[(TokenKey, Node<T>); 1]>),
    /// Many children.
    Map(HashMap<TokenKey, Node<T>, ProcessHasher>),
}

impl<T> Default for Children<T> {
    fn default() -> Self {
        Children::Small(SmallVec::new())
    }
}

impl<T> Children<T> {
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        match self {
            Children::Small(v) => v.len(),
            Children::Map(m) => m.len(),
        }
    }

    fn get(&self, token: &[u8]) -> Option<&Node<T>> {
        match self {
            Children::Small(v) => v
                .iter()
                .find(|(k, _)| k.as_slice() == token)
                .map(|(_, n)| n),
            Children::Map(m) => m.get(token),
        }
    }

    fn get_mut(&mut self, token: &[u8]) -> Option<&mut Node<T>> {
        match self {
            Children::Small(v) => v
                .iter_mut()
                .find(|(k, _)| k.as_slice() == token)
                .map(|(_, n)| n),
            Children::Map(m) => m.get_mut(token),
        }
    }

    fn get_or_insert(&mut self, token: &[u8]) -> &mut Node<T> {
        if let Children::Small(v) = self {
            if v.len() >= SMALL_CHILDREN_MAX && !v.iter().any(|(k, _)| k.as_slice() == token) {
                let mut map = HashMap::with_capacity_and_hasher(v.len() * 2, ProcessHasher);
                map.extend(v.drain(..));
                *self = Children::Map(map);
            }
        }
        match self {
            Children::Small(v) => {
                let index = match v.iter().position(|(k, _)| k.as_slice() == token) {
                    Some(i) => i,
                    None => {
                        v.push((TokenKey::from_slice(token), Node::default()));
                        v.len() - 1
                    }
                };
                &mut v[index].1
            }
            Children::Map(m) => m.entry(TokenKey::from_slice(token)).or_default(),
        }
    }

    fn remove(&mut self, token: &[u8]) {
        match self {
            Children::Small(v) => {
                if let Some(i) = v.iter().position(|(k, _)| k.as_slice() == token) {
                    v.remove(i);
                }
            }
            Children::Map(m) => {
                m.remove(token);
                if m.is_empty() {
                    *self = Children::default();
                }
            }
        }
    }
}

/// One position in a subscription pattern: the nodes for each token that can appear there.
pub(crate) struct Level<T> {
    /// Children for literal tokens. Never holds a whole-token `*` or `>` key.
    nodes: Children<T>,
    /// The child for a whole-token `*`.
    pwc: Option<Box<Node<T>>>,
    /// The child for a whole-token `>`. Patterns end there, so its `next` is always `None`.
    fwc: Option<Box<Node<T>>>,
}

/// The subscriptions whose pattern ends at one token, and the level below it.
pub(crate) struct Node<T> {
    /// The level for the next token, if any pattern continues past this one.
    next: Option<Box<Level<T>>>,
    /// Plain subscriptions. Most patterns have one subscriber, kept inline so that a
    /// subscription costs no allocation here.
    psubs: SmallVec<[T; 1]>,
    /// Queue subscriptions, one entry per queue name, never with an empty `members`.
    qsubs: Vec<QueueGroup<T>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            nodes: Children::default(),
            pwc: None,
            fwc: None,
        }
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            next: None,
            psubs: SmallVec::new(),
            qsubs: Vec::new(),
        }
    }
}

impl<T: Clone + PartialEq> Level<T> {
    /// Adds `value` under the pattern `toks`, creating nodes as needed.
    ///
    /// `toks` must be the tokens of a valid subscription subject (non-empty, at most
    /// [`TOKEN_MAX`], `>` only last).
    pub(crate) fn insert(&mut self, toks: &[&[u8]], queue: Option<&[u8]>, value: T) {
        debug_assert!(!toks.is_empty() && toks.len() <= TOKEN_MAX);
        let Some((last, init)) = toks.split_last() else {
            return;
        };
        let mut level = self;
        for token in init {
            debug_assert!(*token != FWC, "`>` must be the last token");
            level = level
                .child_or_insert(token)
                .next
                .get_or_insert_with(Box::default)
                .as_mut();
        }
        level.child_or_insert(last).add(queue, value);
    }

    /// Removes one `value` stored under the pattern `toks` and `queue`, and prunes the nodes that
    /// are left holding nothing. Returns whether it was there.
    pub(crate) fn remove(&mut self, toks: &[&[u8]], queue: Option<&[u8]>, value: &T) -> bool {
        let Some(node) = self.node_mut(toks) else {
            return false;
        };
        if !node.remove_value(queue, value) {
            return false;
        }
        self.prune(toks);
        true
    }

    /// Adds every subscription that matches the publish subject `toks` to `result`.
    ///
    /// `toks` come from [`publish_tokens`]. Their whole-token `*` and `>` are literals: they are
    /// looked up among the literal children, which never hold such keys, so they reach only
    /// wildcard nodes.
    ///
    /// # Implementation notes
    /// The walk is depth-first over an explicit stack of (level, token index). A pop visits the
    /// level's `>` child (which takes every remaining token) and pushes at most two levels for
    /// the next token (below `*` and below the literal), so the stack never holds more than two
    /// entries per token, and each trie node is visited at most once.
    pub(crate) fn match_into(&self, toks: &[&[u8]], result: &mut SublistResult<T>) {
        debug_assert!(!toks.is_empty() && toks.len() <= TOKEN_MAX);
        let mut stack: SmallVec<[(&Level<T>, usize); TOKENS_INLINE]> = SmallVec::new();
        if !toks.is_empty() {
            stack.push((self, 0));
        }
        while let Some((level, index)) = stack.pop() {
            if let Some(fwc) = level.fwc.as_deref() {
                fwc.collect_into(result);
            }
            let is_last = index + 1 == toks.len();
            let literal = if level.nodes.is_empty() {
                None
            } else {
                level.nodes.get(toks[index])
            };
            for node in [level.pwc.as_deref(), literal].into_iter().flatten() {
                if is_last {
                    node.collect_into(result);
                } else if let Some(next) = node.next.as_deref() {
                    stack.push((next, index + 1));
                }
            }
        }
    }

    /// Returns whether no pattern goes through this level.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }

    /// Number of children, counting `*` and `>`.
    fn child_count(&self) -> usize {
        self.nodes.len() + usize::from(self.pwc.is_some()) + usize::from(self.fwc.is_some())
    }

    /// The child for a pattern token, creating it if absent.
    fn child_or_insert(&mut self, token: &[u8]) -> &mut Node<T> {
        match token {
            PWC => self.pwc.get_or_insert_with(Box::default),
            FWC => self.fwc.get_or_insert_with(Box::default),
            literal => self.nodes.get_or_insert(literal),
        }
    }

    /// The child for a pattern token.
    fn child(&self, token: &[u8]) -> Option<&Node<T>> {
        match token {
            PWC => self.pwc.as_deref(),
            FWC => self.fwc.as_deref(),
            literal => self.nodes.get(literal),
        }
    }

    /// The child for a pattern token, mutably.
    fn child_mut(&mut self, token: &[u8]) -> Option<&mut Node<T>> {
        match token {
            PWC => self.pwc.as_deref_mut(),
            FWC => self.fwc.as_deref_mut(),
            literal => self.nodes.get_mut(literal),
        }
    }

    /// Drops the child for a pattern token.
    fn remove_child(&mut self, token: &[u8]) {
        match token {
            PWC => self.pwc = None,
            FWC => self.fwc = None,
            literal => {
                self.nodes.remove(literal);
            }
        }
    }

    /// The node where the pattern `toks` ends, if it exists.
    fn node_mut(&mut self, toks: &[&[u8]]) -> Option<&mut Node<T>> {
        let (last, init) = toks.split_last()?;
        let mut level = self;
        for token in init {
            level = level.child_mut(token)?.next.as_deref_mut()?;
        }
        level.child_mut(last)
    }

    /// Drops the deepest run of nodes on the path `toks` that hold nothing but the path itself.
    ///
    /// Called after a removal at the end of `toks`. Two passes keep it a loop: the first finds
    /// the shallowest depth from which the path is dead, the second unlinks it there.
    fn prune(&mut self, toks: &[&[u8]]) {
        let Some(depth) = self.prune_start(toks) else {
            return;
        };
        if depth == 0 {
            self.remove_child(toks[0]);
            return;
        }
        let Some(parent) = self.node_mut(&toks[..depth]) else {
            return;
        };
        if let Some(next) = parent.next.as_deref_mut() {
            next.remove_child(toks[depth]);
            if next.is_empty() {
                parent.next = None;
            }
        }
    }

    /// Finds the shallowest depth `d` such that every node on the path `toks` from `d` down
    /// holds no subscription and has no child other than the next node on the path (and the
    /// last has no child at all). Returns `None` if the last node is still in use.
    fn prune_start(&self, toks: &[&[u8]]) -> Option<usize> {
        // Per depth: does the node hold subscriptions, and how many children does it have.
        let mut path: SmallVec<[(bool, usize); TOKENS_INLINE]> = SmallVec::new();
        let mut level = self;
        for (depth, token) in toks.iter().enumerate() {
            let node = level.child(token)?;
            let children = node.next.as_deref().map_or(0, Level::child_count);
            path.push((node.has_subs(), children));
            if depth + 1 < toks.len() {
                level = node.next.as_deref()?;
            }
        }
        let mut start = None;
        for (depth, &(has_subs, children)) in path.iter().enumerate().rev() {
            let children_allowed = usize::from(depth + 1 < path.len());
            if has_subs || children != children_allowed {
                break;
            }
            start = Some(depth);
        }
        start
    }
}

impl<T: Clone + PartialEq> Node<T> {
    /// Adds a subscription to this node, into its queue group if it has one.
    fn add(&mut self, queue: Option<&[u8]>, value: T) {
        let Some(queue) = queue else {
            self.psubs.push(value);
            return;
        };
        match self.qsubs.iter_mut().find(|group| &*group.name == queue) {
            Some(group) => group.members.push(value),
            None => self.qsubs.push(QueueGroup {
                name: Arc::from(queue),
                members: vec![value],
            }),
        }
    }

    /// Removes one copy of `value`, dropping its queue group if it was the last member.
    /// Returns whether it was there.
    ///
    /// # Implementation notes
    /// This is a linear scan with `PartialEq`, so removing from a node with `n` subscriptions
    /// costs `O(n)`; order isn't kept (`swap_remove`).
    fn remove_value(&mut self, queue: Option<&[u8]>, value: &T) -> bool {
        let Some(queue) = queue else {
            return match self.psubs.iter().position(|v| v == value) {
                Some(index) => {
                    self.psubs.swap_remove(index);
                    true
                }
                None => false,
            };
        };
        let Some(index) = self.qsubs.iter().position(|group| &*group.name == queue) else {
            return false;
        };
        let group = &mut self.qsubs[index];
        if !remove_first(&mut group.members, value) {
            return false;
        }
        if group.members.is_empty() {
            self.qsubs.swap_remove(index);
        }
        true
    }

    /// Returns whether any subscription ends at this node.
    fn has_subs(&self) -> bool {
        !self.psubs.is_empty() || !self.qsubs.is_empty()
    }

    /// Appends this node's subscriptions to `result`, merging queue groups by name.
    fn collect_into(&self, result: &mut SublistResult<T>) {
        result.psubs.extend_from_slice(&self.psubs);
        for group in &self.qsubs {
            result.merge_group(group);
        }
    }
}

/// Removes the first element equal to `value`; returns whether there was one.
fn remove_first<T: PartialEq>(values: &mut Vec<T>, value: &T) -> bool {
    match values.iter().position(|v| v == value) {
        Some(index) => {
            values.swap_remove(index);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(subject: &str) -> Tokens<'_> {
        protocol::subject::tokens(subject.as_bytes()).collect()
    }

    /// Sorted psubs and sorted (queue, sorted members).
    type Sorted = (Vec<u32>, Vec<(String, Vec<u32>)>);

    /// Matches `subject` and returns the result sorted.
    fn matched(level: &Level<u32>, subject: &str) -> Sorted {
        let mut result = SublistResult::default();
        if let Some(toks) = publish_tokens(subject.as_bytes()) {
            level.match_into(&toks, &mut result);
        }
        let mut psubs = result.psubs;
        psubs.sort_unstable();
        let mut qsubs: Vec<(String, Vec<u32>)> = result
            .qsubs
            .into_iter()
            .map(|g| {
                let mut members = g.members;
                members.sort_unstable();
                (String::from_utf8_lossy(&g.name).into_owned(), members)
            })
            .collect();
        qsubs.sort();
        (psubs, qsubs)
    }

    #[test]
    fn publish_tokens_rejects_unmatchable() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"foo", Some(1)),
            (b"foo.bar", Some(2)),
            (b"foo.*.>", Some(3)),
            (b"", None),
            (b".", None),
            (b"foo.", None),
            (b".foo", None),
            (b"a..b", None),
        ];
        for &(subject, expected) in cases {
            assert_eq!(
                publish_tokens(subject).map(|t| t.len()),
                expected,
                "{subject:?}"
            );
        }
        let at_cap = vec!["t"; TOKEN_MAX].join(".");
        let over_cap = vec!["t"; TOKEN_MAX + 1].join(".");
        assert_eq!(
            publish_tokens(at_cap.as_bytes()).map(|t| t.len()),
            Some(TOKEN_MAX)
        );
        assert!(publish_tokens(over_cap.as_bytes()).is_none());
    }

    #[test]
    fn match_table() {
        let subs: &[(&str, Option<&str>, u32)] = &[
            ("foo", None, 1),
            ("foo.bar", None, 2),
            ("foo.*", None, 3),
            ("foo.>", None, 4),
            ("*.bar", None, 5),
            (">", None, 6),
            ("foo.*.baz", None, 7),
            ("foo.bar", Some("q1"), 8),
            ("foo.*", Some("q1"), 9),
            ("foo.>", Some("q2"), 10),
        ];
        let mut root = Level::default();
        for &(subject, queue, id) in subs {
            root.insert(&toks(subject), queue.map(str::as_bytes), id);
        }
        let q = |name: &str, members: &[u32]| (name.to_string(), members.to_vec());
        let cases: Vec<(&str, Sorted)> = vec![
            ("foo", (vec![1, 6], vec![])),
            (
                "foo.bar",
                (vec![2, 3, 4, 5, 6], vec![q("q1", &[8, 9]), q("q2", &[10])]),
            ),
            (
                "foo.baz",
                (vec![3, 4, 6], vec![q("q1", &[9]), q("q2", &[10])]),
            ),
            ("foo.bar.baz", (vec![4, 6, 7], vec![q("q2", &[10])])),
            ("foo.bar.qux", (vec![4, 6], vec![q("q2", &[10])])),
            ("x.bar", (vec![5, 6], vec![])),
            ("x", (vec![6], vec![])),
            // Publish wildcards are literals.
            (
                "foo.*",
                (vec![3, 4, 6], vec![q("q1", &[9]), q("q2", &[10])]),
            ),
            (
                "foo.>",
                (vec![3, 4, 6], vec![q("q1", &[9]), q("q2", &[10])]),
            ),
            ("*", (vec![6], vec![])),
            // Unmatchable subjects.
            ("", (vec![], vec![])),
            ("foo.", (vec![], vec![])),
            ("foo..bar", (vec![], vec![])),
        ];
        for (subject, expected) in cases {
            assert_eq!(matched(&root, subject), expected, "{subject:?}");
        }
    }

    #[test]
    fn remove_prunes_empty_nodes() {
        let mut root = Level::default();
        let patterns = ["a.b.c", "a.b", "a.*.c", "a.>", "*.b", ">"];
        for (id, pattern) in patterns.iter().enumerate() {
            root.insert(&toks(pattern), None, id as u32);
        }
        // The wrong value, queue or pattern is not found and changes nothing.
        assert!(!root.remove(&toks("a.b.c"), None, &99));
        assert!(!root.remove(&toks("a.b.c"), Some(b"q"), &0));
        assert!(!root.remove(&toks("a.b.d"), None, &0));
        assert!(!root.remove(&toks("a"), None, &0));
        for (id, pattern) in patterns.iter().enumerate() {
            assert!(root.remove(&toks(pattern), None, &(id as u32)), "{pattern}");
            assert!(
                !root.remove(&toks(pattern), None, &(id as u32)),
                "{pattern} twice"
            );
        }
        assert!(root.is_empty());
    }

    #[test]
    fn remove_keeps_shared_prefixes() {
        let mut root = Level::default();
        root.insert(&toks("a.b.c.d"), None, 1);
        root.insert(&toks("a.b"), None, 2);
        root.insert(&toks("a.x.c.d"), None, 3);
        assert!(root.remove(&toks("a.b.c.d"), None, &1));
        assert_eq!(matched(&root, "a.b").0, vec![2]);
        assert_eq!(matched(&root, "a.x.c.d").0, vec![3]);
        // `a.b` keeps its subscription but lost its subtree.
        let a = root
            .child(b"a")
            .and_then(|n| n.next.as_deref())
            .map(|l| l.child_count());
        assert_eq!(a, Some(2));
        let b_next = root
            .child(b"a")
            .and_then(|n| n.next.as_deref())
            .and_then(|l| l.child(b"b"))
            .map(|n| n.next.is_none());
        assert_eq!(b_next, Some(true));
        assert!(root.remove(&toks("a.b"), None, &2));
        assert!(root.remove(&toks("a.x.c.d"), None, &3));
        assert!(root.is_empty());
    }

    #[test]
    fn queue_groups_drop_when_empty() {
        let mut root = Level::default();
        root.insert(&toks("foo"), Some(b"q"), 1);
        root.insert(&toks("foo"), Some(b"q"), 2);
        root.insert(&toks("foo"), Some(b"r"), 3);
        root.insert(&toks("foo"), None, 4);
        assert!(root.remove(&toks("foo"), Some(b"q"), &1));
        assert!(!root.remove(&toks("foo"), Some(b"r"), &2));
        assert!(root.remove(&toks("foo"), Some(b"q"), &2));
        let (psubs, qsubs) = matched(&root, "foo");
        assert_eq!(psubs, vec![4]);
        assert_eq!(qsubs, vec![("r".to_string(), vec![3])]);
        assert!(root.remove(&toks("foo"), None, &4));
        assert!(root.remove(&toks("foo"), Some(b"r"), &3));
        assert!(root.is_empty());
    }

    #[test]
    fn deep_subjects_are_iterative() {
        let deep = vec!["t"; TOKEN_MAX].join(".");
        let deep_pwc = vec!["*"; TOKEN_MAX].join(".");
        let mut root = Level::default();
        root.insert(&toks(&deep), None, 1);
        root.insert(&toks(&deep_pwc), None, 2);
        assert_eq!(matched(&root, &deep).0, vec![1, 2]);
        assert!(root.remove(&toks(&deep), None, &1));
        assert!(root.remove(&toks(&deep_pwc), None, &2));
        assert!(root.is_empty());
    }
}
