//! Incremental, zero-copy parsers for the NATS text protocol.
//!
//! [`Parser`] reads what a client sends (`CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`, `PING`, ...);
//! [`ServerParser`] reads what a server sends (`INFO`, `MSG`, `HMSG`, ...), for tests and the
//! bench tool.
//!
//! Both work in two steps, like mini-redis' `Frame::check`: find where the op at the start of
//! the buffer ends, then slice its arguments out of the buffer. `Ok(None)` means the op is not
//! complete yet; the caller keeps the bytes, reads more and calls again from the same start.
//! Nothing is copied or allocated, and re-scanning is cheap because only the control line is
//! examined again (it is bounded by `max_control_line`); a payload is never scanned.
//!
//! # Implementation notes
//! The rules mirror nats-server `server/parser.go` as observed on the wire (spec §1.1): op names
//! are case-insensitive; `PUB`, `HPUB`, `SUB`, `UNSUB` and `-ERR` need a space or TAB after the
//! name; `CONNECT` and `INFO` don't; `PING`, `PONG` and `+OK` ignore the rest of their line; only
//! the argument bytes count against `max_control_line`, and a partial line that is already
//! longer is rejected before its newline arrives; a payload must be followed by exactly CR LF.

use crate::op::{ClientOp, Msg, Pub, ServerOp};
use memchr::memchr;

/// nats-server's default `max_control_line`.
pub const MAX_CONTROL_LINE_DEFAULT: usize = 4096;
/// nats-server's default `max_payload`.
pub const MAX_PAYLOAD_DEFAULT: usize = 1024 * 1024;
/// Size fields have at most this many decimal digits (nats-server `parseSize`).
pub const SIZE_DIGITS_MAX: usize = 9;
/// Most arguments any client op takes (`HPUB subject reply hdr total`), plus one so that one
/// argument too many is detected without scanning the rest of the line.
const ARGS_MAX: usize = 5;

/// Why the client parser rejected its input. Each maps to what nats-server does: an `-ERR`
/// followed by a close, or a silent close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Unknown or misspelled op, missing whitespace after the op name, or a bad payload
    /// terminator: `-ERR 'Unknown Protocol Operation'`, then close.
    UnknownOp,
    /// Argument bytes over `max_control_line`: `-ERR 'maximum control line exceeded'`, close.
    MaxControlLine,
    /// Message size over `max_payload`: `-ERR 'Maximum Payload Violation'`, close.
    MaxPayload,
    /// Wrong number of arguments or a bad size field: silent close.
    BadArgs,
    /// `HPUB` on a connection without headers: silent close.
    HeadersNotSupported,
}

impl ParseError {
    /// The `-ERR` text sent before closing, or `None` for a silent close.
    pub fn err_text(self) -> Option<&'static str> {
        use crate::errors::*;
        match self {
            ParseError::UnknownOp => Some(UNKNOWN_PROTOCOL_OPERATION),
            ParseError::MaxControlLine => Some(MAX_CONTROL_LINE_EXCEEDED),
            ParseError::MaxPayload => Some(MAX_PAYLOAD_VIOLATION),
            ParseError::BadArgs | ParseError::HeadersNotSupported => None,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ParseError::UnknownOp => "unknown protocol operation",
            ParseError::MaxControlLine => "maximum control line exceeded",
            ParseError::MaxPayload => "maximum payload exceeded",
            ParseError::BadArgs => "invalid arguments",
            ParseError::HeadersNotSupported => "message headers not supported",
        };
        f.write_str(text)
    }
}

impl std::error::Error for ParseError {}

/// Parses a client's byte stream into [`ClientOp`]s.
///
/// The limits are per connection and may change after `CONNECT` (headers) or a reload.
#[derive(Debug, Clone)]
pub struct Parser {
    /// Most argument bytes allowed on one control line.
    pub max_control_line: usize,
    /// Largest `PUB` size or `HPUB` total size allowed.
    pub max_payload: usize,
    /// Whether `HPUB` is allowed (the client asked for headers and the server supports them).
    pub headers: bool,
    /// Total length of the op being assembled, when known (see [`Parser::needed`]).
    needed: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(MAX_CONTROL_LINE_DEFAULT, MAX_PAYLOAD_DEFAULT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Kind {
    /// Ops whose name must be followed by a space or TAB.
    fn needs_space(self) -> bool {
        matches!(
            self,
            Kind::Pub | Kind::Hpub | Kind::Sub | Kind::Unsub | Kind::Err
        )
    }

    /// Ops that ignore everything after their name up to the newline.
    fn ignores_rest(self) -> bool {
        matches!(self, Kind::Ping | Kind::Pong | Kind::Ok)
    }
}

/// Which op names can follow a first byte, for the client parser.
fn client_candidates(first: u8) -> &'static [(Kind, &'static [u8])] {
    match first.to_ascii_uppercase() {
        b'P' => &[
            (Kind::Pub, b"PUB"),
            (Kind::Ping, b"PING"),
            (Kind::Pong, b"PONG"),
        ],
        b'H' => &[(Kind::Hpub, b"HPUB")],
        b'S' => &[(Kind::Sub, b"SUB")],
        b'U' => &[(Kind::Unsub, b"UNSUB")],
        b'C' => &[(Kind::Connect, b"CONNECT")],
        b'I' => &[(Kind::Info, b"INFO")],
        b'+' => &[(Kind::Ok, b"+OK")],
        b'-' => &[(Kind::Err, b"-ERR")],
        _ => &[],
    }
}

/// Matches an op name at the start of `buf`, case-insensitively. `Ok(None)` when `buf` is a
/// proper prefix of a possible name.
pub(crate) fn recognize<K: Copy>(
    buf: &[u8],
    candidates: &[(K, &[u8])],
) -> Result<Option<(K, usize)>, ()> {
    let mut partial = false;
    for &(kind, name) in candidates {
        let n = name.len().min(buf.len());
        if buf[..n].eq_ignore_ascii_case(&name[..n]) {
            if buf.len() >= name.len() {
                return Ok(Some((kind, name.len())));
            }
            partial = true;
        }
    }
    if partial {
        Ok(None)
    } else {
        Err(())
    }
}

pub(crate) fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Argument separators: space, TAB and CR.
static SEPARATOR: [bool; 256] = {
    let mut table = [false; 256];
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table[b'\r' as usize] = true;
    table
};

/// Splits an argument line on spaces, TABs and CRs. Returns how many arguments were found, up
/// to `ARGS_MAX` (a count of `ARGS_MAX` means "too many" for every op).
///
/// Skips a run of separators, then takes a run of other bytes, with one table lookup per byte:
/// every PUB goes through here, and a state machine testing three separators per byte was a
/// tenth of the server's time at publish-only 128 B.
fn split_args<'a>(line: &'a [u8], args: &mut [&'a [u8]; ARGS_MAX]) -> usize {
    let is_sep = |b: &u8| SEPARATOR[*b as usize];
    let mut n = 0;
    let mut rest = line;
    while n < ARGS_MAX {
        let Some(start) = rest.iter().position(|b| !is_sep(b)) else {
            break;
        };
        rest = &rest[start..];
        let end = rest.iter().position(is_sep).unwrap_or(rest.len());
        args[n] = &rest[..end];
        n += 1;
        rest = &rest[end..];
    }
    n
}

/// Parses a size field: 1 to 9 ASCII digits (leading zeros allowed), as nats-server's
/// `parseSize` does. Anything else is `None`.
pub fn parse_size(field: &[u8]) -> Option<usize> {
    if field.is_empty() || field.len() > SIZE_DIGITS_MAX {
        return None;
    }
    let mut n = 0usize;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as usize;
    }
    Some(n)
}

/// Where a complete control line sits in the buffer.
pub(crate) struct Line {
    /// Start of the arguments (after the op name and its whitespace).
    pub(crate) args_start: usize,
    /// End of the arguments: the newline, less a CR right before it.
    pub(crate) args_end: usize,
    /// Index just past the newline.
    pub(crate) next: usize,
}

/// Finds the end of the control line whose arguments start at `args_start`, enforcing the
/// control-line limit on complete and partial lines alike.
pub(crate) fn find_line(
    buf: &[u8],
    args_start: usize,
    limit: usize,
) -> Result<Option<Line>, ParseError> {
    let window_end = buf
        .len()
        .min(args_start.saturating_add(limit).saturating_add(2));
    match memchr(b'\n', &buf[args_start..window_end]) {
        Some(off) => {
            let nl = args_start + off;
            let args_end = if nl > args_start && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            if args_end - args_start > limit {
                return Err(ParseError::MaxControlLine);
            }
            Ok(Some(Line {
                args_start,
                args_end,
                next: nl + 1,
            }))
        }
        None if buf.len() - args_start > limit => Err(ParseError::MaxControlLine),
        None => Ok(None),
    }
}

/// Checks that `size` payload bytes plus CR LF follow `start`. A wrong terminator byte is an
/// error as soon as it is visible, like nats-server's `MSG_END_R`/`MSG_END_N` states.
pub(crate) fn payload_end(
    buf: &[u8],
    start: usize,
    size: usize,
) -> Result<Option<usize>, ParseError> {
    let cr = start + size;
    if buf.len() > cr && buf[cr] != b'\r' {
        return Err(ParseError::UnknownOp);
    }
    if buf.len() > cr + 1 && buf[cr + 1] != b'\n' {
        return Err(ParseError::UnknownOp);
    }
    if buf.len() < cr + 2 {
        return Ok(None);
    }
    Ok(Some(cr + 2))
}

impl Parser {
    /// A parser with the given limits; headers are off until the client's CONNECT asks.
    pub fn new(max_control_line: usize, max_payload: usize) -> Parser {
        Parser {
            max_control_line,
            max_payload,
            headers: false,
            needed: 0,
        }
    }

    /// After `parse` returned `Ok(None)`: the total number of bytes, from the start of the
    /// buffer, that the pending op needs when that is already known (a `PUB` whose control line
    /// has arrived), else 0. Lets the caller grow its read buffer once instead of many times.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Parses the op at the start of `buf`. Returns the op and how many bytes it used,
    /// `Ok(None)` if `buf` holds only part of an op, or the error that ends the connection.
    ///
    /// # Errors
    /// See [`ParseError`] for each case and what the server does about it.
    pub fn parse<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> Result<Option<(ClientOp<'a>, usize)>, ParseError> {
        self.needed = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let (kind, name_len) = match recognize(buf, client_candidates(buf[0])) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(()) => return Err(ParseError::UnknownOp),
        };
        if kind.ignores_rest() {
            // The rest of the line is ignored, but it is still bounded so that a client cannot
            // make us buffer an endless line.
            return match find_line(buf, name_len, self.max_control_line)? {
                None => Ok(None),
                Some(line) => Ok(Some((Self::bare_op(kind), line.next))),
            };
        }
        if buf.len() == name_len {
            return Ok(None);
        }
        if kind.needs_space() && !is_space(buf[name_len]) {
            return Err(ParseError::UnknownOp);
        }
        if kind == Kind::Hpub && !self.headers {
            return Err(ParseError::HeadersNotSupported);
        }
        let mut args_start = name_len;
        while args_start < buf.len() && is_space(buf[args_start]) {
            args_start += 1;
            if args_start - name_len > self.max_control_line {
                return Err(ParseError::MaxControlLine);
            }
        }
        let Some(line) = find_line(buf, args_start, self.max_control_line)? else {
            return Ok(None);
        };
        let args = &buf[line.args_start..line.args_end];
        match kind {
            Kind::Pub | Kind::Hpub => self.parse_pub(kind, buf, args, line.next),
            Kind::Sub => parse_sub(args).map(|op| Some((op, line.next))),
            Kind::Unsub => parse_unsub(args).map(|op| Some((op, line.next))),
            Kind::Connect => Ok(Some((ClientOp::Connect(args), line.next))),
            Kind::Info => Ok(Some((ClientOp::Info(args), line.next))),
            Kind::Err => Ok(Some((ClientOp::Err(args), line.next))),
            Kind::Ping | Kind::Pong | Kind::Ok => Ok(Some((Self::bare_op(kind), line.next))),
        }
    }

    fn bare_op(kind: Kind) -> ClientOp<'static> {
        match kind {
            Kind::Ping => ClientOp::Ping,
            Kind::Pong => ClientOp::Pong,
            _ => ClientOp::Ok,
        }
    }

    fn parse_pub<'a>(
        &mut self,
        kind: Kind,
        buf: &'a [u8],
        args_line: &'a [u8],
        payload_start: usize,
    ) -> Result<Option<(ClientOp<'a>, usize)>, ParseError> {
        let mut args: [&[u8]; ARGS_MAX] = [&[]; ARGS_MAX];
        let n = split_args(args_line, &mut args);
        let (subject, reply, header_size_field, size_field) = match (kind, n) {
            (Kind::Pub, 2) => (args[0], None, None, args[1]),
            (Kind::Pub, 3) => (args[0], Some(args[1]), None, args[2]),
            (Kind::Hpub, 3) => (args[0], None, Some(args[1]), args[2]),
            (Kind::Hpub, 4) => (args[0], Some(args[1]), Some(args[2]), args[3]),
            _ => return Err(ParseError::BadArgs),
        };
        let size = parse_size(size_field).ok_or(ParseError::BadArgs)?;
        let header_len = match header_size_field {
            Some(field) => parse_size(field).ok_or(ParseError::BadArgs)?,
            None => 0,
        };
        if header_len > size {
            return Err(ParseError::BadArgs);
        }
        if size > self.max_payload {
            return Err(ParseError::MaxPayload);
        }
        let Some(next) = payload_end(buf, payload_start, size)? else {
            self.needed = payload_start + size + 2;
            return Ok(None);
        };
        let data = &buf[payload_start..payload_start + size];
        let op = Pub {
            subject,
            reply,
            header_size_field,
            size_field,
            header_len,
            data,
        };
        Ok(Some((ClientOp::Pub(op), next)))
    }
}

fn parse_sub(line: &[u8]) -> Result<ClientOp<'_>, ParseError> {
    let mut args: [&[u8]; ARGS_MAX] = [&[]; ARGS_MAX];
    match split_args(line, &mut args) {
        2 => Ok(ClientOp::Sub {
            subject: args[0],
            queue: None,
            sid: args[1],
        }),
        3 => Ok(ClientOp::Sub {
            subject: args[0],
            queue: Some(args[1]),
            sid: args[2],
        }),
        _ => Err(ParseError::BadArgs),
    }
}

fn parse_unsub(line: &[u8]) -> Result<ClientOp<'_>, ParseError> {
    let mut args: [&[u8]; ARGS_MAX] = [&[]; ARGS_MAX];
    match split_args(line, &mut args) {
        1 => Ok(ClientOp::Unsub {
            sid: args[0],
            max_msgs: 0,
        }),
        // An unparsable count means "unsubscribe now", as in nats-server.
        2 => Ok(ClientOp::Unsub {
            sid: args[0],
            max_msgs: parse_size(args[1]).unwrap_or(0) as u64,
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// Parses a server's byte stream into [`ServerOp`]s (for tests and the bench tool).
///
/// Lenient where a server is trusted: it checks framing, not limits.
#[derive(Debug, Clone, Default)]
pub struct ServerParser {
    needed: usize,
}

/// A server op's control line is bounded so a broken peer cannot grow our buffer forever.
const SERVER_LINE_MAX: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    Msg,
    Hmsg,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

fn server_candidates(first: u8) -> &'static [(ServerKind, &'static [u8])] {
    match first.to_ascii_uppercase() {
        b'M' => &[(ServerKind::Msg, b"MSG")],
        b'H' => &[(ServerKind::Hmsg, b"HMSG")],
        b'I' => &[(ServerKind::Info, b"INFO")],
        b'P' => &[(ServerKind::Ping, b"PING"), (ServerKind::Pong, b"PONG")],
        b'+' => &[(ServerKind::Ok, b"+OK")],
        b'-' => &[(ServerKind::Err, b"-ERR")],
        _ => &[],
    }
}

impl ServerParser {
    /// A new parser.
    pub fn new() -> ServerParser {
        ServerParser::default()
    }

    /// Like [`Parser::needed`].
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Parses the op at the start of `buf`, like [`Parser::parse`].
    ///
    /// # Errors
    /// `ParseError::UnknownOp` for anything that is not a well-formed server op, `BadArgs` for
    /// malformed `MSG`/`HMSG` arguments.
    pub fn parse<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> Result<Option<(ServerOp<'a>, usize)>, ParseError> {
        self.needed = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let (kind, name_len) = match recognize(buf, server_candidates(buf[0])) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(()) => return Err(ParseError::UnknownOp),
        };
        let mut args_start = name_len;
        while args_start < buf.len() && is_space(buf[args_start]) {
            args_start += 1;
        }
        let Some(line) = find_line(buf, args_start.min(buf.len()), SERVER_LINE_MAX)? else {
            return Ok(None);
        };
        let args = &buf[line.args_start..line.args_end];
        let op = match kind {
            ServerKind::Ping => ServerOp::Ping,
            ServerKind::Pong => ServerOp::Pong,
            ServerKind::Ok => ServerOp::Ok,
            ServerKind::Info => ServerOp::Info(trim_end(args)),
            ServerKind::Err => {
                let text = trim_end(args);
                let text = text.strip_prefix(b"'").unwrap_or(text);
                ServerOp::Err(text.strip_suffix(b"'").unwrap_or(text))
            }
            ServerKind::Msg | ServerKind::Hmsg => {
                return self.parse_msg(kind, buf, args, line.next)
            }
        };
        Ok(Some((op, line.next)))
    }

    fn parse_msg<'a>(
        &mut self,
        kind: ServerKind,
        buf: &'a [u8],
        line: &'a [u8],
        payload_start: usize,
    ) -> Result<Option<(ServerOp<'a>, usize)>, ParseError> {
        let mut args: [&[u8]; ARGS_MAX] = [&[]; ARGS_MAX];
        let n = split_args(line, &mut args);
        let (subject, sid, reply, header_field, size_field) = match (kind, n) {
            (ServerKind::Msg, 3) => (args[0], args[1], None, None, args[2]),
            (ServerKind::Msg, 4) => (args[0], args[1], Some(args[2]), None, args[3]),
            (ServerKind::Hmsg, 4) => (args[0], args[1], None, Some(args[2]), args[3]),
            (ServerKind::Hmsg, 5) => (args[0], args[1], Some(args[2]), Some(args[3]), args[4]),
            _ => return Err(ParseError::BadArgs),
        };
        let size = parse_size(size_field).ok_or(ParseError::BadArgs)?;
        let header_len = match header_field {
            Some(f) => parse_size(f).ok_or(ParseError::BadArgs)?,
            None => 0,
        };
        if header_len > size {
            return Err(ParseError::BadArgs);
        }
        let Some(next) = payload_end(buf, payload_start, size)? else {
            self.needed = payload_start + size + 2;
            return Ok(None);
        };
        let data = &buf[payload_start..payload_start + size];
        Ok(Some((
            ServerOp::Msg(Msg {
                subject,
                sid,
                reply,
                header_len,
                data,
            }),
            next,
        )))
    }
}

pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && matches!(s[end - 1], b' ' | b'\t' | b'\r') {
        end -= 1;
    }
    &s[..end]
}

/// Outcome of feeding a whole stream to the client parser: the ops (described) and how it
/// ended.
#[doc(hidden)]
pub fn fuzz_run(
    stream: &[u8],
    cuts: &mut dyn FnMut(usize) -> usize,
) -> (Vec<String>, Option<ParseError>) {
    let mut p = Parser {
        headers: true,
        ..Parser::default()
    };
    fuzz_feed(stream, cuts, &mut |buf| {
        p.parse(buf)
            .map(|found| found.map(|(op, used)| (format!("{op:?}"), used)))
    })
}

/// One parse step for [`fuzz_feed`]: the op at the start of the buffer, described, and the
/// bytes it used.
#[doc(hidden)]
pub type FuzzStep<'p> = dyn FnMut(&[u8]) -> Result<Option<(String, usize)>, ParseError> + 'p;

/// Feeds `stream` to `parse` in reads cut by `cuts`, keeping the unparsed tail as a server
/// does, and checks that every op is consumed within the buffer.
#[doc(hidden)]
pub fn fuzz_feed(
    stream: &[u8],
    cuts: &mut dyn FnMut(usize) -> usize,
    parse: &mut FuzzStep<'_>,
) -> (Vec<String>, Option<ParseError>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut ops = Vec::new();
    let mut fed = 0;
    while fed < stream.len() {
        let take = cuts(stream.len() - fed).clamp(1, stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + take]);
        fed += take;
        let mut pos = 0;
        loop {
            match parse(&buf[pos..]) {
                Ok(Some((op, used))) => {
                    assert!(
                        used > 0 && pos + used <= buf.len(),
                        "parser must consume within the buffer"
                    );
                    ops.push(op);
                    pos += used;
                }
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
        buf.drain(..pos);
    }
    (ops, None)
}

/// Fuzz check: parsing `data` in one piece never panics and always makes progress.
#[doc(hidden)]
pub fn fuzz_check_whole(data: &[u8]) {
    let _ = fuzz_run(data, &mut |left| left);
}

/// Fuzz check: parsing `data` cut into reads (pattern chosen by `seed`) gives the same ops and
/// the same error as parsing it in one piece.
#[doc(hidden)]
pub fn fuzz_check_chunked(data: &[u8], seed: u8) {
    let whole = fuzz_run(data, &mut |left| left);
    let chunked = fuzz_run(data, &mut fuzz_cuts(seed));
    assert_eq!(whole, chunked, "split reads must not change the result");
}

/// The read sizes a fuzz check cuts an input into: a pattern chosen by `seed`.
#[doc(hidden)]
pub fn fuzz_cuts(seed: u8) -> impl FnMut(usize) -> usize {
    let mut i = 0usize;
    let step = seed as usize % 13 + 1;
    move |_| {
        i += 1;
        (i * step) % 17 + 1
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    /// The splitting rule written plainly, byte by byte: what `split_args` must agree with.
    fn split_reference(line: &[u8]) -> Vec<&[u8]> {
        line.split(|b| matches!(b, b' ' | b'\t' | b'\r'))
            .filter(|arg| !arg.is_empty())
            .take(ARGS_MAX)
            .collect()
    }

    #[test]
    fn split_args_examples() {
        let mut args = [&[][..]; ARGS_MAX];
        for line in [
            &b"foo 5"[..],
            b"  foo\t\tbar  5 \r",
            b"",
            b" \t\r ",
            b"a b c d e f g h i j k",
            b"x",
        ] {
            let n = split_args(line, &mut args);
            assert_eq!(args[..n].to_vec(), split_reference(line), "{line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn split_args_agrees_with_the_reference(
            line in proptest::collection::vec(
                proptest::sample::select(&[b' ', b'\t', b'\r', b'a', b'.', b'1', b'\n', 0u8][..]),
                0..40)
        ) {
            let mut args = [&[][..]; ARGS_MAX];
            let n = split_args(&line, &mut args);
            proptest::prop_assert_eq!(args[..n].to_vec(), split_reference(&line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<String>, ParseError> {
        let mut p = Parser {
            headers: true,
            ..Parser::default()
        };
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some((op, used)) = p.parse(&input[pos..])? {
            out.push(describe(&op));
            pos += used;
        }
        Ok(out)
    }

    fn describe(op: &ClientOp) -> String {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match op {
            ClientOp::Connect(j) => format!("CONNECT {}", s(j)),
            ClientOp::Info(j) => format!("INFO {}", s(j)),
            ClientOp::Pub(p) => format!(
                "PUB {} {:?} {:?} {} {} {}",
                s(p.subject),
                p.reply.map(s),
                p.header_size_field.map(s),
                s(p.size_field),
                p.header_len,
                s(p.data)
            ),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                format!("SUB {} {:?} {}", s(subject), queue.map(s), s(sid))
            }
            ClientOp::Unsub { sid, max_msgs } => format!("UNSUB {} {}", s(sid), max_msgs),
            ClientOp::Ping => "PING".into(),
            ClientOp::Pong => "PONG".into(),
            ClientOp::Ok => "+OK".into(),
            ClientOp::Err(t) => format!("-ERR {}", s(t)),
        }
    }

    #[test]
    fn table() {
        type Case<'a> = (&'a [u8], Result<&'a [&'a str], ParseError>);
        let cases: &[Case] = &[
            (b"PING\r\n", Ok(&["PING"])),
            (b"ping\r\n", Ok(&["PING"])),
            (b"PING foo\r\n", Ok(&["PING"])),
            (b"PINGX\r\n", Ok(&["PING"])),
            (b"PONG\n", Ok(&["PONG"])),
            (b"+OK\r\n", Ok(&["+OK"])),
            (b"SUB foo 1\n", Ok(&["SUB foo None 1"])),
            (b"sUb foo q 1\r\n", Ok(&["SUB foo Some(\"q\") 1"])),
            (b"SUB\tfoo \t 1  \r\n", Ok(&["SUB foo None 1"])),
            (b"PUB foo 2\r\nhi\r\n", Ok(&["PUB foo None None 2 0 hi"])),
            (
                b"Pub\t foo \t2\r\nhi\r\n",
                Ok(&["PUB foo None None 2 0 hi"]),
            ),
            (
                b"PUB   foo    bar   1   \r\na\r\n",
                Ok(&["PUB foo Some(\"bar\") None 1 0 a"]),
            ),
            (b"PUB foo 01\r\na\r\n", Ok(&["PUB foo None None 01 0 a"])),
            (
                b"PUB foo 4\r\n\r\n\r\n\r\n",
                Ok(&["PUB foo None None 4 0 \r\n\r\n"]),
            ),
            (
                b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                Ok(&["PUB foo None Some(\"12\") 14 12 NATS/1.0\r\n\r\nhi"]),
            ),
            (
                b"HPUB foo r 0 2\r\nhi\r\n",
                Ok(&["PUB foo Some(\"r\") Some(\"0\") 2 0 hi"]),
            ),
            (b"UNSUB 1\r\n", Ok(&["UNSUB 1 0"])),
            (b"UNSUB 1 5\r\n", Ok(&["UNSUB 1 5"])),
            (b"UNSUB 1 x\r\n", Ok(&["UNSUB 1 0"])),
            (
                b"CONNECT {\"verbose\":false}\r\n",
                Ok(&["CONNECT {\"verbose\":false}"]),
            ),
            (b"CONNECT{}\r\n", Ok(&["CONNECT {}"])),
            (b"connect {}\r\n", Ok(&["CONNECT {}"])),
            (b"INFO {}\r\n", Ok(&["INFO {}"])),
            (b"-ERR 'x'\r\n", Ok(&["-ERR 'x'"])),
            (b"FOO\r\n", Err(ParseError::UnknownOp)),
            (b"MSG foo 1 2\r\nhi\r\n", Err(ParseError::UnknownOp)),
            (b"\r\n", Err(ParseError::UnknownOp)),
            (b" PING\r\n", Err(ParseError::UnknownOp)),
            (b"PUB\r\n", Err(ParseError::UnknownOp)),
            (b"UNSUB\r\n", Err(ParseError::UnknownOp)),
            (b"PIN\r\n", Err(ParseError::UnknownOp)),
            (b"PUB foo 2\r\nhiXX", Err(ParseError::UnknownOp)),
            (b"PUB foo 2\r\nhi\rX", Err(ParseError::UnknownOp)),
            (b"PUB foo\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo bar\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo a b 3\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo -1\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo +1\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo 1234567890\r\n", Err(ParseError::BadArgs)),
            (b"PUB foo 2000000\r\n", Err(ParseError::MaxPayload)),
            (b"HPUB foo 3 2\r\n", Err(ParseError::BadArgs)),
            (b"SUB foo\r\n", Err(ParseError::BadArgs)),
            (b"SUB foo q 1 2\r\n", Err(ParseError::BadArgs)),
            (b"UNSUB \r\n", Err(ParseError::BadArgs)),
            (b"UNSUB 1 2 3\r\n", Err(ParseError::BadArgs)),
        ];
        for (input, want) in cases {
            let got = parse_all(input);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn hpub_needs_headers() {
        let mut p = Parser::default();
        assert_eq!(
            p.parse(b"HPUB foo 12 12\r\n"),
            Err(ParseError::HeadersNotSupported)
        );
    }

    #[test]
    fn control_line_boundary() {
        let mut p = Parser::default();
        let ok = format!("SUB {} 1\r\n", "a".repeat(4094));
        assert!(matches!(p.parse(ok.as_bytes()), Ok(Some(_))));
        let long = format!("SUB {} 1\r\n", "a".repeat(4095));
        assert_eq!(p.parse(long.as_bytes()), Err(ParseError::MaxControlLine));
        // A partial line already over the limit is rejected before its newline arrives.
        let partial = format!("PUB {}", "a".repeat(5000));
        assert_eq!(p.parse(partial.as_bytes()), Err(ParseError::MaxControlLine));
        let partial = format!("PUB {}", "a".repeat(4000));
        assert_eq!(p.parse(partial.as_bytes()), Ok(None));
    }

    #[test]
    fn incomplete_and_needed() {
        let mut p = Parser::default();
        for input in [
            &b"P"[..],
            b"PU",
            b"PUB",
            b"PUB ",
            b"PUB foo 5",
            b"PUB foo 5\r",
            b"CONNECT",
        ] {
            assert_eq!(
                p.parse(input),
                Ok(None),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(p.parse(b"PUB foo 5\r\nhel"), Ok(None));
        assert_eq!(p.needed(), 11 + 5 + 2);
        assert_eq!(p.parse(b"PUB foo 5\r\nhello\r"), Ok(None));
    }

    #[test]
    fn split_at_every_offset_gives_same_ops() {
        let stream: &[u8] = b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nPUB foo r 5\r\nhello\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\nUNSUB 1 3\nPONG\r\n+OK\r\n";
        let whole = parse_all(stream).unwrap();
        for cut in 0..=stream.len() {
            assert_eq!(feed_chunks(stream, &[cut]), whole, "cut at {cut}");
        }
    }

    /// Feeds `stream` as separate reads cut at `cuts`, like a socket would, keeping the
    /// unconsumed tail between reads.
    fn feed_chunks(stream: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut p = Parser {
            headers: true,
            ..Parser::default()
        };
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut prev = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[prev..cut.max(prev)]);
            prev = cut.max(prev);
            let mut pos = 0;
            while let Some((op, used)) = p.parse(&buf[pos..]).unwrap() {
                out.push(describe(&op));
                pos += used;
            }
            buf.drain(..pos);
        }
        out
    }

    #[test]
    fn server_parser_msgs() {
        let mut p = ServerParser::new();
        let input = b"INFO {\"a\":1} \r\nMSG foo 1 5\r\nhello\r\nHMSG foo 9 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n-ERR 'Stale Connection'\r\nPING\r\n";
        let mut pos = 0;
        let mut ops = Vec::new();
        while let Some((op, used)) = p.parse(&input[pos..]).unwrap() {
            ops.push(format!("{op:?}"));
            pos += used;
        }
        assert_eq!(ops.len(), 5);
        assert!(ops[0].contains("Info([123, 34, 97, 34, 58, 49, 125])"));
        let (op, _) = p
            .parse(b"HMSG foo 9 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
            .unwrap()
            .unwrap();
        match op {
            ServerOp::Msg(m) => {
                assert_eq!(m.reply, Some(&b"r"[..]));
                assert_eq!(m.payload(), b"hi");
                assert_eq!(m.headers(), Some(&b"NATS/1.0\r\n\r\n"[..]));
            }
            other => panic!("unexpected {other:?}"),
        }
        let (op, _) = p.parse(b"-ERR 'Stale Connection'\r\n").unwrap().unwrap();
        assert_eq!(op, ServerOp::Err(b"Stale Connection"));
    }
}
