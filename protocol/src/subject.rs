//! Subject and queue-name validation, tokenizing and wildcard matching.
//!
//! Everything here is a pure function over `&[u8]`: subjects are bytes on the wire and may hold
//! UTF-8, so nothing is decoded. The rules are the ones in `spec/core.md` §1.11 and mirror
//! `server/sublist.go` (`IsValidSubject`, `IsValidLiteralSubject`, `matchLiteral`) in
//! nats-server.
//!
//! Callers: the server's SUB handler ([`is_valid_subject`], [`is_valid_queue`]), the pedantic PUB
//! check ([`is_valid_literal_subject`]), permission checks ([`subject_matches`]), and the
//! `sublist` crate, which uses [`subject_matches`] to invalidate its match cache and as the
//! reference matcher in its tests.
//!
//! A *whole token* `*` matches exactly one token and a whole token `>` matches one or more
//! trailing tokens. Inside a longer token (`foo*`, `a.>b`) both are ordinary bytes.

/// The most tokens a subject may have.
///
/// Subjects with more tokens are invalid for subscriptions, and publish subjects with more
/// tokens match nothing. The cap bounds every loop (and the depth of the subscription trie)
/// that walks the tokens of a subject a client sent us, so untrusted input can't make the
/// server do unbounded work per subject. nats-server has no such cap, but its control line
/// limit (4096 bytes) already keeps real subjects far below it.
pub const TOKEN_MAX: usize = 256;

/// The byte that separates tokens.
const TOKEN_SEPARATOR: u8 = b'.';

/// A whole token that matches exactly one token.
const PWC: &[u8] = b"*";

/// A whole token that matches one or more trailing tokens.
const FWC: &[u8] = b">";

/// The whitespace bytes that may not appear in a subject or a queue name.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// Splits `s` into its `.`-separated tokens.
///
/// Empty tokens are kept, so `tokens(b"a..b")` yields `a`, ``, `b` and `tokens(b"")` yields one
/// empty token. Nothing is validated; use [`is_valid_subject`] for that.
///
/// # Examples
/// ```
/// use protocol::subject::tokens;
/// let toks: Vec<&[u8]> = tokens(b"foo.*.>").collect();
/// assert_eq!(toks, [&b"foo"[..], b"*", b">"]);
/// ```
pub fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == TOKEN_SEPARATOR)
}

/// What a successful [`scan_subject`] found.
struct SubjectScan {
    /// Whether some whole token is `*` or `>`.
    has_wildcard: bool,
}

/// Checks the subscription-subject syntax in one pass and reports whether a wildcard was seen.
///
/// Returns `None` if `s` is empty, has an empty token, has whitespace, has a whole-token `>`
/// that isn't last, or has more than [`TOKEN_MAX`] tokens.
fn scan_subject(s: &[u8]) -> Option<SubjectScan> {
    if s.is_empty() {
        return None;
    }
    let mut scan = SubjectScan {
        has_wildcard: false,
    };
    let mut token_count = 0usize;
    let mut after_fwc = false;
    for token in tokens(s) {
        token_count += 1;
        // A token after `>` means `>` was not the last token.
        if token.is_empty() || after_fwc || token_count > TOKEN_MAX {
            return None;
        }
        if token.iter().any(|&b| is_space(b)) {
            return None;
        }
        after_fwc = token == FWC;
        scan.has_wildcard |= token == PWC || token == FWC;
    }
    Some(scan)
}

/// Returns whether `s` is a valid subscription subject.
///
/// Valid means: one or more non-empty tokens separated by `.`, no whitespace (space, TAB, CR, LF,
/// FF), a whole-token `>` only as the last token, and at most [`TOKEN_MAX`] tokens. `*` and `>`
/// inside a longer token are literal bytes, so `foo*` and `a.>b` are valid.
///
/// # Examples
/// ```
/// use protocol::subject::is_valid_subject;
/// assert!(is_valid_subject(b"foo.*.>"));
/// assert!(is_valid_subject(b"a.>b"));
/// assert!(!is_valid_subject(b"foo.>.bar"));
/// assert!(!is_valid_subject(b"foo..bar"));
/// ```
pub fn is_valid_subject(s: &[u8]) -> bool {
    scan_subject(s).is_some()
}

/// Returns whether `s` is a valid subject with no whole-token `*` or `>`.
///
/// This is the pedantic-mode check for PUB and HPUB subjects (`-ERR 'Invalid Publish
/// Subject'`).
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    matches!(
        scan_subject(s),
        Some(SubjectScan {
            has_wildcard: false
        })
    )
}

/// Returns whether `q` is a valid queue group name: non-empty and without whitespace.
pub fn is_valid_queue(q: &[u8]) -> bool {
    !q.is_empty() && !q.iter().any(|&b| is_space(b))
}

/// Returns whether `s` has a whole token that is `*` or `>`.
///
/// `foo*` and `a.>b` have no wildcard. Nothing else is validated.
pub fn has_wildcard(s: &[u8]) -> bool {
    tokens(s).any(|token| token == PWC || token == FWC)
}

/// Returns whether the subscription `pattern` matches the publish `subject`.
///
/// Matching goes token by token: a whole-token `*` in `pattern` matches exactly one token, and a
/// whole-token `>` as the last token of `pattern` matches one or more remaining tokens. Every
/// other pattern token must equal the subject token byte for byte.
///
/// The subject's own `*` and `>` tokens are plain literals here: pattern `foo.*` matches subject
/// `foo.*`, but pattern `foo.bar` does not (spec §1.11, "PUB foo.* reaches subscriptions foo.*,
/// foo.> and > but not foo.bar").
///
/// A subject that is empty, has an empty token, or has more than [`TOKEN_MAX`] tokens matches
/// nothing. `pattern` should pass [`is_valid_subject`]; if it doesn't, an empty pattern token
/// matches nothing and a `>` that is not the last pattern token matches nothing.
///
/// # Examples
/// ```
/// use protocol::subject::subject_matches;
/// assert!(subject_matches(b"foo.>", b"foo.bar.baz"));
/// assert!(!subject_matches(b"foo.>", b"foo"));
/// assert!(subject_matches(b"foo.*", b"foo.*"));
/// assert!(!subject_matches(b"foo.bar", b"foo.*"));
/// ```
pub fn subject_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut pattern_tokens = tokens(pattern);
    let mut subject_tokens = tokens(subject);
    let mut subject_token_count = 0usize;
    // Bounded: each round consumes one subject token, and at most TOKEN_MAX + 1 are looked at.
    // A mismatch returns early; `true` is returned only once every subject token was checked
    // for being non-empty and counted, so unmatchable subjects never match.
    loop {
        let subject_token = subject_tokens.next();
        if let Some(token) = subject_token {
            subject_token_count += 1;
            if token.is_empty() || subject_token_count > TOKEN_MAX {
                return false;
            }
        }
        match (pattern_tokens.next(), subject_token) {
            (None, None) => return true,
            (Some(FWC), Some(_)) => {
                return pattern_tokens.next().is_none()
                    && is_matchable_rest(subject_tokens, subject_token_count);
            }
            (Some(PWC), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// Returns whether the remaining subject tokens are non-empty and, with the `seen` already
/// counted, at most [`TOKEN_MAX`].
fn is_matchable_rest<'a>(rest: impl Iterator<Item = &'a [u8]>, seen: usize) -> bool {
    let mut token_count = seen;
    for token in rest {
        token_count += 1;
        if token.is_empty() || token_count > TOKEN_MAX {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a subject of `n` tokens `t.t.t...`.
    fn subject_of_tokens(n: usize) -> Vec<u8> {
        let mut s = Vec::new();
        for i in 0..n {
            if i > 0 {
                s.push(b'.');
            }
            s.push(b't');
        }
        s
    }

    #[test]
    fn valid_subjects() {
        // (subject, valid, valid literal)
        let cases: &[(&[u8], bool, bool)] = &[
            (b"foo", true, true),
            (b"foo.bar", true, true),
            (b"foo.bar.baz", true, true),
            (b"*", true, false),
            (b">", true, false),
            (b"foo.*", true, false),
            (b"foo.>", true, false),
            (b"*.*.>", true, false),
            (b"foo.*.bar", true, false),
            (b"foo*", true, true),
            (b"*foo", true, true),
            (b"a.>b", true, true),
            (b"a.b>", true, true),
            (b">>", true, true),
            (b"**", true, true),
            ("föö".as_bytes(), true, true),
            ("x.日本.y".as_bytes(), true, true),
            (b"$SYS.REQ.SERVER.PING", true, true),
            (b"_INBOX.abc", true, true),
            (b"a-b_c:d/e", true, true),
            (b"", false, false),
            (b".", false, false),
            (b".foo", false, false),
            (b"foo.", false, false),
            (b"foo..bar", false, false),
            (b"foo.>.bar", false, false),
            (b">.foo", false, false),
            (b">.>", false, false),
            (b"foo.>.", false, false),
            (b"foo bar", false, false),
            (b"foo\tbar", false, false),
            (b"foo\rbar", false, false),
            (b"foo\nbar", false, false),
            (b"foo\x0cbar", false, false),
            (b" foo", false, false),
            (b"foo.* ", false, false),
        ];
        for &(subject, valid, literal) in cases {
            let shown = String::from_utf8_lossy(subject);
            assert_eq!(
                is_valid_subject(subject),
                valid,
                "is_valid_subject({shown:?})"
            );
            assert_eq!(
                is_valid_literal_subject(subject),
                literal,
                "is_valid_literal_subject({shown:?})"
            );
        }
    }

    #[test]
    fn token_cap() {
        let at_cap = subject_of_tokens(TOKEN_MAX);
        let over_cap = subject_of_tokens(TOKEN_MAX + 1);
        assert!(is_valid_subject(&at_cap));
        assert!(is_valid_literal_subject(&at_cap));
        assert!(!is_valid_subject(&over_cap));
        assert!(!is_valid_literal_subject(&over_cap));

        assert!(subject_matches(&at_cap, &at_cap));
        assert!(subject_matches(b">", &at_cap));
        assert!(!subject_matches(&over_cap, &over_cap));
        assert!(!subject_matches(b">", &over_cap));
    }

    #[test]
    fn valid_queues() {
        let cases: &[(&[u8], bool)] = &[
            (b"q", true),
            (b"workers", true),
            (b"a.b", true),
            (b"*", true),
            ("grüppe".as_bytes(), true),
            (b"", false),
            (b"a b", false),
            (b"a\tb", false),
            (b"q\r", false),
            (b"\nq", false),
            (b"q\x0c", false),
        ];
        for &(queue, valid) in cases {
            assert_eq!(
                is_valid_queue(queue),
                valid,
                "{:?}",
                String::from_utf8_lossy(queue)
            );
        }
    }

    #[test]
    fn wildcards() {
        let cases: &[(&[u8], bool)] = &[
            (b"foo", false),
            (b"foo.bar", false),
            (b"foo*", false),
            (b"a.>b", false),
            (b"*", true),
            (b">", true),
            (b"foo.*", true),
            (b"foo.>", true),
            (b"*.foo", true),
            (b"a.*.b", true),
            (b"", false),
        ];
        for &(subject, expected) in cases {
            let shown = String::from_utf8_lossy(subject);
            assert_eq!(has_wildcard(subject), expected, "{shown:?}");
        }
    }

    #[test]
    fn tokenizing() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"foo", &[b"foo"]),
            (b"foo.bar", &[b"foo", b"bar"]),
            (b"a.*.>", &[b"a", b"*", b">"]),
            (b"", &[b""]),
            (b"a..b", &[b"a", b"", b"b"]),
            (b".a.", &[b"", b"a", b""]),
        ];
        for &(subject, expected) in cases {
            let got: Vec<&[u8]> = tokens(subject).collect();
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(subject));
        }
    }

    #[test]
    fn matching() {
        // (pattern, subject, matches)
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"foo", b"foo", true),
            (b"foo", b"bar", false),
            (b"foo", b"foo.bar", false),
            (b"foo.bar", b"foo", false),
            (b"foo.bar", b"foo.bar", true),
            (b"Foo", b"foo", false),
            (b"*", b"foo", true),
            (b"*", b"foo.bar", false),
            (b"foo.*", b"foo.bar", true),
            (b"foo.*", b"foo", false),
            (b"foo.*", b"foo.bar.baz", false),
            (b"*.bar", b"foo.bar", true),
            (b"*.*", b"foo.bar", true),
            (b"foo.*.baz", b"foo.bar.baz", true),
            (b"foo.*.baz", b"foo.bar.bax", false),
            (b">", b"foo", true),
            (b">", b"foo.bar.baz", true),
            (b"foo.>", b"foo.bar", true),
            (b"foo.>", b"foo.bar.baz", true),
            (b"foo.>", b"foo", false),
            (b"foo.>", b"bar.baz", false),
            (b"*.>", b"foo", false),
            (b"*.>", b"foo.bar", true),
            (b"foo.*.>", b"foo.bar.baz", true),
            (b"foo.*.>", b"foo.bar", false),
            // Wildcards inside a longer token are literal.
            (b"foo*", b"foo*", true),
            (b"foo*", b"foobar", false),
            (b"a.>b", b"a.>b", true),
            (b"a.>b", b"a.xb", false),
            // The subject's own wildcards are literals.
            (b"foo.*", b"foo.*", true),
            (b"foo.>", b"foo.*", true),
            (b">", b"foo.*", true),
            (b"foo.bar", b"foo.*", false),
            (b"foo.bar", b"foo.>", false),
            (b"foo.*", b"foo.>", true),
            (b"foo.>", b"foo.>", true),
            (b"*", b"*", true),
            (b"foo", b"*", false),
            // Subjects with empty tokens match nothing.
            (b">", b"", false),
            (b">", b".", false),
            (b">", b"foo.", false),
            (b">", b".foo", false),
            (b"foo.>", b"foo..bar", false),
            (b"foo.>", b"foo.bar.", false),
            (b"*", b"", false),
            (b"", b"", false),
            (b"foo", b"foo.", false),
            (b"foo.*", b"foo.bar.", false),
            (b"x", b"foo..", false),
            (b"*.*", b"..", false),
            // Invalid patterns.
            (b"", b"foo", false),
            (b"foo..bar", b"foo.x.bar", false),
            (b"foo.>.bar", b"foo.x.bar", false),
            (b"foo.>.bar", b"foo.x.y", false),
            (b"foo.", b"foo", false),
            // UTF-8.
            ("föö.*".as_bytes(), "föö.bär".as_bytes(), true),
            ("föö.*".as_bytes(), "foo.bär".as_bytes(), false),
        ];
        for &(pattern, subject, expected) in cases {
            assert_eq!(
                subject_matches(pattern, subject),
                expected,
                "subject_matches({:?}, {:?})",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(subject)
            );
        }
    }

    /// A naive matcher written from the spec, for the property test below.
    fn naive_matches(pattern: &[u8], subject: &[u8]) -> bool {
        let p: Vec<&[u8]> = tokens(pattern).collect();
        let s: Vec<&[u8]> = tokens(subject).collect();
        if s.len() > TOKEN_MAX || s.iter().any(|t| t.is_empty()) {
            return false;
        }
        for (i, pt) in p.iter().enumerate() {
            if *pt == b">" {
                return i + 1 == p.len() && s.len() > i;
            }
            match s.get(i) {
                Some(st) if *pt == b"*" || pt == st => {}
                _ => return false,
            }
        }
        p.len() == s.len()
    }

    proptest::proptest! {
        #[test]
        fn matches_like_naive(
            pattern in proptest::collection::vec(
                proptest::sample::select(&["a", "b", "*", ">", ""][..]), 1..5),
            subject in proptest::collection::vec(
                proptest::sample::select(&["a", "b", "*", ">", ""][..]), 1..5),
        ) {
            let pattern = pattern.join(".");
            let subject = subject.join(".");
            proptest::prop_assert_eq!(
                subject_matches(pattern.as_bytes(), subject.as_bytes()),
                naive_matches(pattern.as_bytes(), subject.as_bytes()),
                "{:?} {:?}", pattern, subject
            );
        }
    }
}
