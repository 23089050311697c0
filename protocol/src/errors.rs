//! The exact `-ERR` texts nats-server sends to clients (without the quotes), and the Go `%q`
//! quoting used by the ones that embed a subject.
//!
//! Clients match on these strings (for example `nats.go` turns `'Authorization Violation'` into
//! `ErrAuthorization`), so they must stay byte for byte identical to nats-server's.

/// Parser error: unknown or misspelled op, bad payload terminator, ... Closes.
pub const UNKNOWN_PROTOCOL_OPERATION: &str = "Unknown Protocol Operation";
/// Authentication failed, or a non-CONNECT first op while auth is pending. Closes.
pub const AUTHORIZATION_VIOLATION: &str = "Authorization Violation";
/// No CONNECT within the auth timeout. Closes.
pub const AUTHENTICATION_TIMEOUT: &str = "Authentication Timeout";
/// User JWT expired. Closes.
pub const USER_AUTHENTICATION_EXPIRED: &str = "User Authentication Expired";
/// Account JWT expired. Closes.
pub const ACCOUNT_AUTHENTICATION_EXPIRED: &str = "Account Authentication Expired";
/// User revoked by an account update. Closes.
pub const USER_AUTHENTICATION_REVOKED: &str = "User Authentication Revoked";
/// Server connection limit reached (sent right after INFO). Closes.
pub const MAX_CONNECTIONS_EXCEEDED: &str = "maximum connections exceeded";
/// Account connection limit reached. Closes.
pub const MAX_ACCOUNT_CONNECTIONS_EXCEEDED: &str = "maximum account active connections exceeded";
/// SUB at the subscription limit. The connection stays open.
pub const MAX_SUBSCRIPTIONS_EXCEEDED: &str = "maximum subscriptions exceeded";
/// PUB/HPUB larger than max_payload. Closes.
pub const MAX_PAYLOAD_VIOLATION: &str = "Maximum Payload Violation";
/// Control line longer than max_control_line. Closes.
pub const MAX_CONTROL_LINE_EXCEEDED: &str = "maximum control line exceeded";
/// CONNECT `protocol` outside 0..=1. Closes.
pub const INVALID_CLIENT_PROTOCOL: &str = "invalid client protocol";
/// CONNECT `no_responders` without `headers`. Closes.
pub const NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";
/// SUB with an invalid subject. The connection stays open.
pub const INVALID_SUBJECT: &str = "Invalid Subject";
/// Pedantic publish to an invalid or wildcard subject; the message is still processed.
pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
/// Missed PINGs. Closes.
pub const STALE_CONNECTION: &str = "Stale Connection";
/// TLS handshake timeout. Closes.
pub const SECURE_CONNECTION_TLS_REQUIRED: &str = "Secure Connection - TLS Required";
/// TLS connection rate limit. Closes.
pub const CONNECTION_THROTTLING: &str = "Connection throttling is active. Please try again later.";

/// Appends `s` quoted the way Go's `%q` verb does: in double quotes, with `"`, `\` and
/// non-printable bytes escaped. Printable UTF-8 is kept as is; invalid UTF-8 bytes become `\xNN`.
pub fn push_go_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                push_go_quoted_str(out, valid);
                rest = &[];
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // The prefix was just checked, so this cannot fail.
                push_go_quoted_str(out, std::str::from_utf8(good).unwrap_or_default());
                let bad_len = e.error_len().unwrap_or(bad.len()).max(1);
                for b in &bad[..bad_len] {
                    push_hex_escape(out, *b);
                }
                rest = &bad[bad_len..];
            }
        }
    }
    out.push(b'"');
}

fn push_go_quoted_str(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\x07' => out.extend_from_slice(b"\\a"),
            '\x08' => out.extend_from_slice(b"\\b"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\x0b' => out.extend_from_slice(b"\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => push_hex_escape(out, c as u8),
            c if c.is_control() => {
                let code = c as u32;
                let esc = if code <= 0xffff {
                    format!("\\u{code:04x}")
                } else {
                    format!("\\U{code:08x}")
                };
                out.extend_from_slice(esc.as_bytes());
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

fn push_hex_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
}

/// `Permissions Violation for Publish to "<subject>"`.
pub fn pub_violation(subject: &[u8]) -> Vec<u8> {
    let mut out = b"Permissions Violation for Publish to ".to_vec();
    push_go_quoted(&mut out, subject);
    out
}

/// `Permissions Violation for Publish with Reply of "<reply>"`.
pub fn reply_violation(reply: &[u8]) -> Vec<u8> {
    let mut out = b"Permissions Violation for Publish with Reply of ".to_vec();
    push_go_quoted(&mut out, reply);
    out
}

/// `Permissions Violation for Subscription to "<subject>"`, with ` using queue "<q>"` for
/// queue subscriptions.
pub fn sub_violation(subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut out = b"Permissions Violation for Subscription to ".to_vec();
    push_go_quoted(&mut out, subject);
    if let Some(q) = queue {
        out.extend_from_slice(b" using queue ");
        push_go_quoted(&mut out, q);
    }
    out
}

/// `Permissions Violation for Subscription to "<subject>", too many tokens`.
pub fn sub_too_many_tokens(subject: &[u8]) -> Vec<u8> {
    let mut out = b"Permissions Violation for Subscription to ".to_vec();
    push_go_quoted(&mut out, subject);
    out.extend_from_slice(b", too many tokens");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &[u8]) -> String {
        let mut out = Vec::new();
        push_go_quoted(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn go_quoting() {
        assert_eq!(q(b"foo"), r#""foo""#);
        assert_eq!(q(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(q("föö".as_bytes()), "\"föö\"");
        assert_eq!(q(b"a\tb\x01"), r#""a\tb\x01""#);
        assert_eq!(q(b"\xff\xfe"), r#""\xff\xfe""#);
    }

    #[test]
    fn violation_texts() {
        assert_eq!(
            sub_violation(b"foo", Some(b"_sys_")),
            br#"Permissions Violation for Subscription to "foo" using queue "_sys_""#.to_vec()
        );
        assert_eq!(
            reply_violation(b"_R_.abc"),
            br#"Permissions Violation for Publish with Reply of "_R_.abc""#.to_vec()
        );
    }
}
