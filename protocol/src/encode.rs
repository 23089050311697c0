//! Writers for the server-to-client ops. Each appends to a caller-owned buffer (a connection's
//! outbound buffer), so delivering a message allocates nothing once that buffer has grown.

/// `PING` with its line end.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG` with its line end.
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK` with its line end.
pub const OK: &[u8] = b"+OK\r\n";
/// Line end.
pub const CRLF: &[u8] = b"\r\n";

/// Appends `INFO <json> ␍␊`. nats-server joins the parts with single spaces, so there is a space
/// between the JSON and the line end; clients don't care, but diff tests do.
pub fn write_info(out: &mut Vec<u8>, json: &[u8]) {
    out.reserve(json.len() + 8);
    out.extend_from_slice(b"INFO ");
    out.extend_from_slice(json);
    out.extend_from_slice(b" \r\n");
}

/// Appends `-ERR '<text>'␍␊`.
pub fn write_err(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 9);
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text);
    out.extend_from_slice(b"'\r\n");
}

/// Appends `<op><subject> <sid> [reply] `, the part MSG and HMSG lines share (`op` includes
/// its trailing space).
fn write_head(out: &mut Vec<u8>, op: &[u8], subject: &[u8], sid: &[u8], reply: Option<&[u8]>) {
    out.reserve(op.len() + subject.len() + sid.len() + reply.map_or(0, |r| r.len() + 1) + 2);
    out.extend_from_slice(op);
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
}

/// Appends `MSG <subject> <sid> [reply] <size>␍␊<payload>␍␊`. `size_field` is written as given
/// (nats-server copies the publisher's field byte for byte, leading zeros included).
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    size_field: &[u8],
    payload: &[u8],
) {
    out.reserve(size_field.len() + payload.len() + 4);
    write_head(out, b"MSG ", subject, sid, reply);
    out.extend_from_slice(size_field);
    out.extend_from_slice(CRLF);
    out.extend_from_slice(payload);
    out.extend_from_slice(CRLF);
}

/// Appends `HMSG <subject> <sid> [reply] <hdr size> <total size>␍␊<data>␍␊`, where `data` is the
/// header block followed by the payload.
pub fn write_hmsg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_size_field: &[u8],
    total_size_field: &[u8],
    data: &[u8],
) {
    out.reserve(header_size_field.len() + total_size_field.len() + data.len() + 5);
    write_head(out, b"HMSG ", subject, sid, reply);
    out.extend_from_slice(header_size_field);
    out.push(b' ');
    out.extend_from_slice(total_size_field);
    out.extend_from_slice(CRLF);
    out.extend_from_slice(data);
    out.extend_from_slice(CRLF);
}

/// Formats `n` in decimal into `buf` and returns the digits (for recomputed size fields).
pub fn fmt_usize(n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends the no-responders status message nats-server 2.12+ sends to a requester:
/// `HMSG <reply> <sid> <H> <H>␍␊NATS/1.0 503␍␊Nats-Subject: <subject>␍␊␍␊␍␊`.
pub fn write_no_responders(out: &mut Vec<u8>, reply: &[u8], sid: &[u8], subject: &[u8]) {
    const STATUS: &[u8] = b"NATS/1.0 503\r\nNats-Subject: ";
    let header_len = STATUS.len() + subject.len() + 4;
    let mut digits = [0u8; 20];
    let size = fmt_usize(header_len, &mut digits);
    write_head(out, b"HMSG ", reply, sid, None);
    out.extend_from_slice(size);
    out.push(b' ');
    out.extend_from_slice(size);
    out.extend_from_slice(CRLF);
    out.extend_from_slice(STATUS);
    out.extend_from_slice(subject);
    out.extend_from_slice(b"\r\n\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_lines() {
        let mut out = Vec::new();
        write_msg(&mut out, b"foo", b"1", None, b"01", b"a");
        assert_eq!(out, b"MSG foo 1 01\r\na\r\n");
        out.clear();
        write_msg(&mut out, b"foo", b"1", Some(b"r"), b"5", b"hello");
        assert_eq!(out, b"MSG foo 1 r 5\r\nhello\r\n");
        out.clear();
        write_hmsg(
            &mut out,
            b"foo",
            b"1",
            None,
            b"18",
            b"20",
            b"NATS/1.0\r\nA: b\r\n\r\nhi",
        );
        assert_eq!(out, b"HMSG foo 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n");
    }

    #[test]
    fn no_responders_matches_spec_vector() {
        let mut out = Vec::new();
        write_no_responders(&mut out, b"_INBOX.x", b"9", b"req");
        assert_eq!(
            out,
            b"HMSG _INBOX.x 9 35 35\r\nNATS/1.0 503\r\nNats-Subject: req\r\n\r\n\r\n"
        );
    }

    #[test]
    fn info_and_err() {
        let mut out = Vec::new();
        write_info(&mut out, b"{}");
        write_err(&mut out, b"Stale Connection");
        assert_eq!(out, b"INFO {} \r\n-ERR 'Stale Connection'\r\n");
        let mut d = [0u8; 20];
        assert_eq!(fmt_usize(0, &mut d), b"0");
        assert_eq!(fmt_usize(1234567, &mut d), b"1234567");
    }
}
