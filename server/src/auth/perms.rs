//! Compiled client permissions (spec §4.9): the checks run at SUB, per publish (cached per
//! connection by the caller) and per delivery for wildcard or queue subscriptions that overlap
//! a subscribe deny entry.

use super::config::{Permissions, ResponsePermission, SubjectPermission};
use protocol::subject::subject_matches;

/// One permission entry: a subject pattern and, for subscribe entries, an optional queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The subject pattern.
    pub subject: Box<[u8]>,
    /// The queue name pattern, for `"subject queue"` entries.
    pub queue: Option<Box<[u8]>>,
}

impl Entry {
    fn parse(text: &str) -> Entry {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().into();
        let queue = parts.next().map(|q| q.as_bytes().into());
        Entry { subject, queue }
    }
}

/// Allow and deny lists of one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    /// `None` = no allow list.
    pub allow: Option<Vec<Entry>>,
    /// `None` = no deny list.
    pub deny: Option<Vec<Entry>>,
}

impl Lists {
    fn compile(p: &SubjectPermission) -> Lists {
        let conv = |l: &Vec<String>| l.iter().map(|s| Entry::parse(s)).collect::<Vec<_>>();
        Lists {
            allow: p.allow.as_ref().map(conv),
            deny: p.deny.as_ref().map(conv),
        }
    }
}

/// A user's permissions, ready to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPerms {
    /// Publish lists, if any.
    pub publish: Option<Lists>,
    /// Subscribe lists, if any.
    pub subscribe: Option<Lists>,
    /// Response permission, if any.
    pub response: Option<ResponsePermission>,
}

/// Queue-name matching: equality, or subject-style matching when the permission's queue has
/// wildcard tokens (`v.*` matches `v.1`; `v*` is literal).
fn queue_matches(pattern: &[u8], queue: &[u8]) -> bool {
    if protocol::subject::has_wildcard(pattern) {
        subject_matches(pattern, queue)
    } else {
        pattern == queue
    }
}

impl ClientPerms {
    /// Compiles config permissions.
    pub fn compile(p: &Permissions) -> ClientPerms {
        ClientPerms {
            publish: p.publish.as_ref().map(Lists::compile),
            subscribe: p.subscribe.as_ref().map(Lists::compile),
            response: p.response,
        }
    }

    /// Whether publishing to `subject` is allowed by the lists (responses aside).
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        let Some(lists) = &self.publish else {
            return true;
        };
        if let Some(allow) = &lists.allow {
            if !allow.iter().any(|e| subject_matches(&e.subject, subject)) {
                return false;
            }
        }
        match &lists.deny {
            Some(deny) => !deny.iter().any(|e| subject_matches(&e.subject, subject)),
            None => true,
        }
    }

    /// Whether `SUB subject [queue]` is allowed (spec §4.9 "Subscribe").
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(lists) = &self.subscribe else {
            return true;
        };
        let mut allowed = true;
        if let Some(allow) = lists.allow.as_ref().filter(|a| !a.is_empty()) {
            // An allow entry matches when its pattern covers the subject (a wildcard SUB needs
            // an allow pattern at least as broad).
            let covers =
                |e: &&Entry| subject_matches(&e.subject, subject) || e.subject.as_ref() == subject;
            allowed = allow
                .iter()
                .filter(|e| e.queue.is_none())
                .any(|e| covers(&e));
            if let Some(q) = queue {
                let queue_entries: Vec<&Entry> = allow
                    .iter()
                    .filter(|e| e.queue.is_some())
                    .filter(covers)
                    .collect();
                if !queue_entries.is_empty() {
                    allowed = queue_entries
                        .iter()
                        .any(|e| e.queue.as_deref().is_some_and(|p| queue_matches(p, q)));
                }
            }
        }
        if !allowed {
            return false;
        }
        if let Some(deny) = &lists.deny {
            let plain_denied = deny
                .iter()
                .filter(|e| e.queue.is_none())
                .any(|e| subject_matches(&e.subject, subject) || e.subject.as_ref() == subject);
            if plain_denied {
                return false;
            }
            if let Some(q) = queue {
                let queue_denied = deny.iter().filter(|e| e.queue.is_some()).any(|e| {
                    (subject_matches(&e.subject, subject) || e.subject.as_ref() == subject)
                        && e.queue.as_deref().is_some_and(|p| queue_matches(p, q))
                });
                if queue_denied {
                    return false;
                }
            }
        }
        true
    }

    /// The subscribe deny list a subscription must be checked against at delivery time: only
    /// for wildcard or queue subscriptions, and only when there is a deny list.
    pub fn delivery_deny(&self, subject: &[u8], queue: Option<&[u8]>) -> Option<Vec<Entry>> {
        let deny = self.subscribe.as_ref()?.deny.as_ref()?;
        if deny.is_empty() || (!protocol::subject::has_wildcard(subject) && queue.is_none()) {
            return None;
        }
        Some(deny.clone())
    }
}

/// Whether a delivery of `msg_subject` to a subscription in queue `queue` is blocked by its
/// delivery-time deny list.
pub fn denied_at_delivery(deny: &[Entry], msg_subject: &[u8], queue: Option<&[u8]>) -> bool {
    deny.iter().any(|e| {
        subject_matches(&e.subject, msg_subject)
            && match (&e.queue, queue) {
                (None, _) => true,
                (Some(p), Some(q)) => queue_matches(p, q),
                (Some(_), None) => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(
        publish: Option<(&[&str], &[&str])>,
        subscribe: Option<(&[&str], &[&str])>,
    ) -> ClientPerms {
        let lists = |(a, d): (&[&str], &[&str])| SubjectPermission {
            allow: (!a.is_empty()).then(|| a.iter().map(|s| s.to_string()).collect()),
            deny: (!d.is_empty()).then(|| d.iter().map(|s| s.to_string()).collect()),
        };
        ClientPerms::compile(&Permissions {
            publish: publish.map(lists),
            subscribe: subscribe.map(lists),
            response: None,
        })
    }

    #[test]
    fn publish_rules() {
        let p = perms(Some((&["foo.>"], &["foo.secret"])), None);
        assert!(p.can_publish(b"foo.bar"));
        assert!(!p.can_publish(b"foo.secret"));
        assert!(!p.can_publish(b"bar"));
        assert!(perms(None, None).can_publish(b"anything"));
        let p = ClientPerms {
            publish: Some(Lists {
                allow: Some(vec![]),
                deny: None,
            }),
            ..Default::default()
        };
        assert!(!p.can_publish(b"x"), "an empty allow list allows nothing");
    }

    #[test]
    fn subscribe_rules_with_queues() {
        let p = perms(None, Some((&["foo"], &[])));
        assert!(p.can_subscribe(b"foo", None) && p.can_subscribe(b"foo", Some(b"any")));
        let p = perms(None, Some((&["foo v1"], &[])));
        assert!(!p.can_subscribe(b"foo", None));
        assert!(p.can_subscribe(b"foo", Some(b"v1")));
        assert!(!p.can_subscribe(b"foo", Some(b"v2")));
        let p = perms(None, Some((&["foo", "foo v1"], &[])));
        assert!(p.can_subscribe(b"foo", None));
        assert!(!p.can_subscribe(b"foo", Some(b"v2")));
        let p = perms(None, Some((&["work v*"], &[])));
        assert!(!p.can_subscribe(b"work", Some(b"v1")));
        assert!(p.can_subscribe(b"work", Some(b"v*")));
        let p = perms(None, Some((&["work v.*"], &[])));
        assert!(p.can_subscribe(b"work", Some(b"v.1")));
    }

    #[test]
    fn deny_at_delivery() {
        let p = perms(None, Some((&[">"], &["foo.bar"])));
        assert!(
            p.can_subscribe(b"foo.*", None),
            "a broader wildcard is allowed"
        );
        assert!(!p.can_subscribe(b"foo.bar", None));
        let deny = p.delivery_deny(b"foo.*", None).unwrap();
        assert!(denied_at_delivery(&deny, b"foo.bar", None));
        assert!(!denied_at_delivery(&deny, b"foo.baz", None));
        assert!(p.delivery_deny(b"foo.baz", None).is_none());
    }
}
