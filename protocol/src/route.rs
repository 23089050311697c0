//! The server-to-server route protocol (spec `cluster.md` §0.2, §1.10.1, §1.11.1): an
//! incremental, zero-copy parser for what a route peer sends, and writers for what we send.
//!
//! ```text
//! RS+ <account> <subject>[ <queue> <weight>]
//! RS- <account> <subject>[ <queue>]
//! LS+ <origin> <account> <subject>[ <queue> <weight>]
//! LS- [<origin> ]<account> <subject>[ <queue>]
//! RMSG <account> <subject> [<reply> | + <reply> <queue>… | | <queue>…] <size>
//! HMSG <account> <subject> [<reply> | + <reply> <queue>… | | <queue>…] <hdr-size> <total-size>
//! LMSG <origin> <account> <subject> [<reply> | + <reply> <queue>… | | <queue>…] <hdr-size> <total-size>
//! ```
//!
//! [`RouteParser`] works like the client [`Parser`](crate::Parser): find where the op at the
//! start of the buffer ends, then slice its fields out of the buffer; `Ok(None)` means "read more
//! and call again from the same start". Only the op table and the argument rules differ; they
//! mirror nats-server's `server/parser.go` for `ROUTER` connections and the `processRemoteSub`,
//! `processRemoteUnsub`, `processRoutedMsgArgs`, `processRoutedHeaderMsgArgs` and
//! `processRoutedOriginClusterMsgArgs` functions of `server/route.go`.
//!
//! Leaf node connections speak the same ops without the account token (a leaf connection is
//! bound to one account, spec §2.7.1, §2.8); [`Dialect::Leaf`] parses them:
//!
//! ```text
//! LS+ <subject>[ <queue> <weight>]        (RS+ is a synonym)
//! LS- <subject>[ <queue>]                 (RS- is a synonym)
//! LMSG <subject> [<reply> | + <reply> <queue>… | | <queue>…] <size>
//! HMSG <subject> [<reply> | + <reply> <queue>… | | <queue>…] <hdr-size> <total-size>
//! ```
//!
//! Pinned-account connections, where the account token is left out, are not supported: Gannet
//! never advertises `route_pool_size`, so nats-server treats its routes as "no pool" and always
//! sends the account (spec §1.6.2).

use crate::encode::{fmt_usize, CRLF};
use crate::parser::{
    find_line, is_space, parse_size, payload_end, recognize, trim_end, Line, ParseError,
    MAX_CONTROL_LINE_DEFAULT, MAX_PAYLOAD_DEFAULT,
};

/// Route, leaf and gateway control lines may be this many times the client `max_control_line`
/// (nats-server `overMaxControlLineLimit`).
pub const CONTROL_LINE_FACTOR: usize = 16;

/// An operation received on a route connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp<'a> {
    /// `CONNECT <json>`: the raw JSON object, not yet decoded.
    Connect(&'a [u8]),
    /// `INFO <json>`: the raw JSON object, trailing spaces and CR trimmed (Go ends some route
    /// INFO lines with `} ␍␊` and others with `}␍␊`).
    Info(&'a [u8]),
    /// `RS+` or `LS+`: the peer has interest.
    Sub(RemoteSub<'a>),
    /// `RS-` or `LS-`: the peer lost interest.
    Unsub(RemoteUnsub<'a>),
    /// `RMSG`, `HMSG` or `LMSG`.
    Msg(RoutedMsg<'a>),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR <text>`: the text without its surrounding quotes. Go closes the route on it.
    Err(&'a [u8]),
    /// `A+`/`A-` (also spelled `Au`): gateway account interest, accepted and ignored on routes.
    Ignored,
}

/// `RS+ <account> <subject>[ <queue> <weight>]`, or `LS+` with an origin cluster first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteSub<'a> {
    /// `LS+` only: the cluster of the leaf node the interest comes from.
    pub origin: Option<&'a [u8]>,
    /// The account name.
    pub account: &'a [u8],
    /// The subject, possibly with wildcards; not validated.
    pub subject: &'a [u8],
    /// The queue group, if any.
    pub queue: Option<&'a [u8]>,
    /// For a queue subscription, the number of members the peer has (it replaces any earlier
    /// weight for the same key). A weight field of `0` or one that is not a size gives 0: Go's
    /// `processRemoteSub` accepts the line and stores that weight, so such a member is never
    /// picked (`Sublist` adds a remote queue member `qw` times). 1 for a plain subscription.
    pub weight: u32,
}

/// `RS- <account> <subject>[ <queue>]`, or `LS-` with or without an origin cluster first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteUnsub<'a> {
    /// `LS-` from a peer that announced `lnocu` (see [`RouteParser::lnocu`]): the origin
    /// cluster.
    pub origin: Option<&'a [u8]>,
    /// The account name.
    pub account: &'a [u8],
    /// The subject.
    pub subject: &'a [u8],
    /// The queue group, if any.
    pub queue: Option<&'a [u8]>,
}

/// A message forwarded by a route peer: `RMSG`, `HMSG` or `LMSG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutedMsg<'a> {
    /// `LMSG` only: the cluster of the leaf node the message comes from.
    pub origin: Option<&'a [u8]>,
    /// The account name.
    pub account: &'a [u8],
    /// The subject.
    pub subject: &'a [u8],
    /// The reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// The queue groups the sender picked a member of on this server; empty when none (then
    /// no local queue subscriber gets the message, spec §1.11.3).
    pub queues: Queues<'a>,
    /// `HMSG`/`LMSG`: the header-size field as sent (`LMSG` always has one, `0` when there are
    /// no headers).
    pub header_size_field: Option<&'a [u8]>,
    /// The (total) size field as sent.
    pub size_field: &'a [u8],
    /// Length of the header block at the start of `data` (0 for `RMSG` and for a header size
    /// of `0`).
    pub header_len: usize,
    /// Header block followed by the payload, without the trailing CR LF.
    pub data: &'a [u8],
}

impl<'a> RoutedMsg<'a> {
    /// The header block, if the message has one.
    pub fn headers(&self) -> Option<&'a [u8]> {
        (self.header_len > 0).then(|| &self.data[..self.header_len])
    }

    /// The payload after any header block.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.header_len..]
    }
}

/// The queue names of a routed message: a borrowed slice of the control line holding the names
/// separated by spaces or TABs (a CR also separates, as in nats-server's argument splitting).
///
/// Two values are equal when they hold the same names in the same order, whatever the
/// whitespace between them.
#[derive(Clone, Copy, Default)]
pub struct Queues<'a>(&'a [u8]);

impl<'a> Queues<'a> {
    /// Wraps `raw`, names separated by whitespace; leading and trailing whitespace is allowed.
    pub fn new(raw: &'a [u8]) -> Self {
        Queues(raw)
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        first_token(self.0).is_none()
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        tokens(self.0)
    }

    /// Whether `q` is one of the names.
    pub fn contains(&self, q: &[u8]) -> bool {
        self.iter().any(|name| name == q)
    }

    /// The raw bytes, as given to [`Queues::new`] (trimmed when they come from the parser).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl PartialEq for Queues<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Queues<'_> {}

impl std::fmt::Debug for Queues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Which server-to-server protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// A route: interest and messages carry the account.
    #[default]
    Route,
    /// A leaf node connection: bound to one account, so no account token; `RS±` mean `LS±`,
    /// `LMSG` has a single size field and no origin (nats-server `processLeafSub`,
    /// `processLeafMsgArgs`, `processLeafHeaderMsgArgs`).
    Leaf,
}

/// Parses a route peer's byte stream into [`RouteOp`]s.
#[derive(Debug, Clone)]
pub struct RouteParser {
    /// Route or leaf protocol; parsed values of [`Dialect::Leaf`] have an empty `account`.
    pub dialect: Dialect,
    /// Most argument bytes allowed on one control line; nats-server allows
    /// [`CONTROL_LINE_FACTOR`] times the client limit on routes.
    pub max_control_line: usize,
    /// Largest `RMSG` size or `HMSG`/`LMSG` total size accepted. nats-server checks no payload
    /// limit on routes; this one only bounds what a broken peer can make us buffer.
    pub max_payload: usize,
    /// Whether `LS-` lines start with an origin cluster: set it when the peer announced
    /// `"lnocu":true` in its INFO or CONNECT. This is how Go's `processRemoteUnsub` tells
    /// `LS- <origin> <account> <subject>` from `LS- <account> <subject> <queue>` (it reads
    /// `c.route.lnocu`, copied from the peer's INFO), because Go sends the origin only to peers
    /// that announced `lnocu`. `LS+` always has an origin. Default `false`; a peer that never
    /// saw `lnoc` from us sends no `LS+`/`LS-`/`LMSG` at all.
    pub lnocu: bool,
    /// Total length of the op being assembled, when known (see [`RouteParser::needed`]).
    needed: usize,
}

impl Default for RouteParser {
    fn default() -> Self {
        RouteParser::new(
            CONTROL_LINE_FACTOR * MAX_CONTROL_LINE_DEFAULT,
            MAX_PAYLOAD_DEFAULT,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    Rmsg,
    Hmsg,
    Lmsg,
    Account,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Kind {
    /// Ops that ignore everything after their name up to the newline.
    fn ignores_rest(self) -> bool {
        matches!(self, Kind::Ping | Kind::Pong | Kind::Ok)
    }

    /// Ops whose name must be followed by a space or TAB (all but `CONNECT` and `INFO`, whose
    /// Go states accept any byte after the name).
    fn needs_space(self) -> bool {
        !matches!(self, Kind::Connect | Kind::Info) && !self.ignores_rest()
    }
}

/// Which op names can follow a first byte on a route (spec §0.2). `SUB`, `UNSUB`, `PUB` and
/// `MSG` are left out: Go's handling of them on routes is an accident Gannet need not copy.
fn route_candidates(first: u8) -> &'static [(Kind, &'static [u8])] {
    match first.to_ascii_uppercase() {
        b'R' => &[
            (Kind::RsPlus, b"RS+"),
            (Kind::RsMinus, b"RS-"),
            (Kind::Rmsg, b"RMSG"),
        ],
        b'L' => &[
            (Kind::LsPlus, b"LS+"),
            (Kind::LsMinus, b"LS-"),
            (Kind::Lmsg, b"LMSG"),
        ],
        b'A' => &[
            (Kind::Account, b"A+"),
            (Kind::Account, b"A-"),
            (Kind::Account, b"AU"),
        ],
        b'H' => &[(Kind::Hmsg, b"HMSG")],
        b'P' => &[(Kind::Ping, b"PING"), (Kind::Pong, b"PONG")],
        b'C' => &[(Kind::Connect, b"CONNECT")],
        b'I' => &[(Kind::Info, b"INFO")],
        b'+' => &[(Kind::Ok, b"+OK")],
        b'-' => &[(Kind::Err, b"-ERR")],
        _ => &[],
    }
}

impl RouteParser {
    /// A parser with the given limits and `lnocu` off. `max_control_line` is the route limit
    /// itself (nats-server: [`CONTROL_LINE_FACTOR`] × the client `max_control_line`).
    pub fn new(max_control_line: usize, max_payload: usize) -> RouteParser {
        RouteParser {
            dialect: Dialect::Route,
            max_control_line,
            max_payload,
            lnocu: false,
            needed: 0,
        }
    }

    /// After `parse` returned `Ok(None)`: the total number of bytes, from the start of the
    /// buffer, that the pending op needs when that is already known (a message whose control
    /// line has arrived), else 0. Like [`Parser::needed`](crate::Parser::needed).
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Parses the op at the start of `buf`. Returns the op and how many bytes it used,
    /// `Ok(None)` if `buf` holds only part of an op, or the error that ends the connection.
    ///
    /// # Errors
    /// `UnknownOp` for an op that is not part of the route protocol, a missing space after an
    /// op name or a payload not followed by CR LF; `MaxControlLine` for a control line longer
    /// than `max_control_line`; `MaxPayload` for a message over `max_payload`; `BadArgs` for a
    /// wrong field count, a bad size field, a header size over the total size or a bad queue
    /// indicator (Go's `… Parse Error` and `Bad or Missing …` errors, which close the route).
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Option<(RouteOp<'a>, usize)>, ParseError> {
        self.needed = 0;
        if buf.is_empty() {
            return Ok(None);
        }
        let (kind, name_len) = match recognize(buf, route_candidates(buf[0])) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(()) => return Err(ParseError::UnknownOp),
        };
        if kind.ignores_rest() {
            // The rest of the line is ignored but still bounded, so that a peer cannot make us
            // buffer an endless line.
            let line = find_line(buf, name_len, self.max_control_line)?;
            return Ok(line.map(|line| (bare_op(kind), line.next)));
        }
        let Some(line) = self.control_line(buf, kind, name_len)? else {
            return Ok(None);
        };
        let args = &buf[line.args_start..line.args_end];
        if self.dialect == Dialect::Leaf {
            let op = match kind {
                Kind::Rmsg | Kind::Hmsg | Kind::Lmsg => {
                    return self.parse_msg(kind, buf, args, line.next)
                }
                Kind::RsPlus | Kind::LsPlus => RouteOp::Sub(parse_leaf_sub(args)?),
                Kind::RsMinus | Kind::LsMinus => RouteOp::Unsub(parse_leaf_unsub(args)?),
                Kind::Account => RouteOp::Ignored,
                Kind::Connect => RouteOp::Connect(args),
                Kind::Info => RouteOp::Info(trim_end(args)),
                Kind::Err => RouteOp::Err(err_text(args)),
                Kind::Ping | Kind::Pong | Kind::Ok => bare_op(kind),
            };
            return Ok(Some((op, line.next)));
        }
        let op = match kind {
            Kind::Rmsg | Kind::Hmsg | Kind::Lmsg => {
                return self.parse_msg(kind, buf, args, line.next)
            }
            Kind::RsPlus => RouteOp::Sub(parse_sub(args, false)?),
            // Go's parser calls `processRemoteSub(arg, true)` for every `LS+` on a route.
            Kind::LsPlus => RouteOp::Sub(parse_sub(args, true)?),
            Kind::RsMinus => RouteOp::Unsub(parse_unsub(args, false)?),
            Kind::LsMinus => RouteOp::Unsub(parse_unsub(args, self.lnocu)?),
            Kind::Account => RouteOp::Ignored,
            Kind::Connect => RouteOp::Connect(args),
            Kind::Info => RouteOp::Info(trim_end(args)),
            Kind::Err => RouteOp::Err(err_text(args)),
            Kind::Ping | Kind::Pong | Kind::Ok => bare_op(kind),
        };
        Ok(Some((op, line.next)))
    }

    /// Finds the control line of an op with arguments, like the client parser: the whitespace
    /// after the op name counts against the limit too.
    fn control_line(
        &self,
        buf: &[u8],
        kind: Kind,
        name_len: usize,
    ) -> Result<Option<Line>, ParseError> {
        if buf.len() == name_len {
            return Ok(None);
        }
        if kind.needs_space() && !is_space(buf[name_len]) {
            return Err(ParseError::UnknownOp);
        }
        let mut args_start = name_len;
        while args_start < buf.len() && is_space(buf[args_start]) {
            args_start += 1;
            if args_start - name_len > self.max_control_line {
                return Err(ParseError::MaxControlLine);
            }
        }
        find_line(buf, args_start, self.max_control_line)
    }

    fn parse_msg<'a>(
        &mut self,
        kind: Kind,
        buf: &'a [u8],
        args: &'a [u8],
        payload_start: usize,
    ) -> Result<Option<(RouteOp<'a>, usize)>, ParseError> {
        let (mut msg, size) = match self.dialect {
            Dialect::Route => parse_msg_args(kind, args)?,
            Dialect::Leaf => parse_leaf_msg_args(kind == Kind::Hmsg, args)?,
        };
        if size > self.max_payload {
            return Err(ParseError::MaxPayload);
        }
        let Some(next) = payload_end(buf, payload_start, size)? else {
            self.needed = payload_start + size + 2;
            return Ok(None);
        };
        msg.data = &buf[payload_start..payload_start + size];
        Ok(Some((RouteOp::Msg(msg), next)))
    }
}

fn bare_op(kind: Kind) -> RouteOp<'static> {
    match kind {
        Kind::Ping => RouteOp::Ping,
        Kind::Pong => RouteOp::Pong,
        _ => RouteOp::Ok,
    }
}

/// The `-ERR` text without its quotes, as [`ServerParser`](crate::ServerParser) returns it.
fn err_text(args: &[u8]) -> &[u8] {
    let text = trim_end(args);
    let text = text.strip_prefix(b"'").unwrap_or(text);
    text.strip_suffix(b"'").unwrap_or(text)
}

/// Argument separators: nats-server splits route arguments on spaces, TABs, CRs and LFs (an LF
/// cannot occur inside a control line).
fn is_sep(b: u8) -> bool {
    is_space(b) || b == b'\r'
}

/// The first token of `line` and what follows it.
fn first_token(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = line.iter().position(|&b| !is_sep(b))?;
    let rest = &line[start..];
    let end = rest.iter().position(|&b| is_sep(b)).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// What precedes the last token of `line`, and that token.
fn last_token(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = line.iter().rposition(|&b| !is_sep(b))? + 1;
    let head = &line[..end];
    let start = head.iter().rposition(|&b| is_sep(b)).map_or(0, |i| i + 1);
    Some((&head[..start], &head[start..]))
}

/// The tokens of `line`, in order, without allocating.
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = line;
    std::iter::from_fn(move || {
        let (token, tail) = first_token(rest)?;
        rest = tail;
        Some(token)
    })
}

/// `line` without leading and trailing separators.
fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| !is_sep(b)).unwrap_or(line.len());
    trim_end(&line[start..])
}

/// The first `N` tokens of `line` and how many there are, up to `N` (so `N` means "`N` or
/// more"; callers pick `N` one above the most fields they accept).
fn split_fixed<const N: usize>(line: &[u8]) -> ([&[u8]; N], usize) {
    let mut out = [&line[..0]; N];
    let mut n = 0;
    for (i, token) in tokens(line).take(N).enumerate() {
        out[i] = token;
        n = i + 1;
    }
    (out, n)
}

/// `RS+`/`LS+` arguments, as `processRemoteSub` splits them: `[origin] account subject`
/// optionally followed by `queue weight`; any other count is a parse error.
fn parse_sub(args: &[u8], has_origin: bool) -> Result<RemoteSub<'_>, ParseError> {
    let (t, n) = split_fixed::<6>(args);
    let skip = usize::from(has_origin).min(n);
    let origin = has_origin.then_some(t[0]);
    match t[skip..n] {
        [account, subject] => Ok(RemoteSub {
            origin,
            account,
            subject,
            queue: None,
            weight: 1,
        }),
        [account, subject, queue, weight] => Ok(RemoteSub {
            origin,
            account,
            subject,
            queue: Some(queue),
            // Go: `sub.qw = int32(parseSize(...))`, no error for a bad or zero weight.
            weight: parse_size(weight)
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(0),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// Leaf `LS+` arguments (`processLeafSub`): `subject` or `subject queue weight`.
fn parse_leaf_sub(args: &[u8]) -> Result<RemoteSub<'_>, ParseError> {
    let (t, n) = split_fixed::<4>(args);
    match t[..n] {
        [subject] => Ok(RemoteSub {
            origin: None,
            account: &args[..0],
            subject,
            queue: None,
            weight: 1,
        }),
        [subject, queue, weight] => Ok(RemoteSub {
            origin: None,
            account: &args[..0],
            subject,
            queue: Some(queue),
            weight: parse_size(weight)
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(0),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// Leaf `LS-` arguments (`processLeafUnsub`): `subject` or `subject queue`.
fn parse_leaf_unsub(args: &[u8]) -> Result<RemoteUnsub<'_>, ParseError> {
    let (t, n) = split_fixed::<3>(args);
    match t[..n] {
        [subject] => Ok(RemoteUnsub {
            origin: None,
            account: &args[..0],
            subject,
            queue: None,
        }),
        [subject, queue] => Ok(RemoteUnsub {
            origin: None,
            account: &args[..0],
            subject,
            queue: Some(queue),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// A leaf message's control line: `subject`, then nothing, a reply or a queue list, then the
/// size (`LMSG`, `RMSG`) or the header and total sizes (`HMSG`).
fn parse_leaf_msg_args(headers: bool, line: &[u8]) -> Result<(RoutedMsg<'_>, usize), ParseError> {
    const BAD: ParseError = ParseError::BadArgs;
    let (subject, rest) = first_token(line).ok_or(BAD)?;
    let (rest, size_field) = last_token(rest).ok_or(BAD)?;
    let (middle, header_size_field) = if headers {
        last_token(rest).map(|(m, h)| (m, Some(h))).ok_or(BAD)?
    } else {
        (rest, None)
    };
    let (reply, queues) = reply_and_queues(middle)?;
    let size = parse_size(size_field).ok_or(BAD)?;
    let header_len = match header_size_field {
        Some(field) => parse_size(field).ok_or(BAD)?,
        None => 0,
    };
    if header_len > size {
        return Err(BAD);
    }
    let msg = RoutedMsg {
        origin: None,
        account: &line[..0],
        subject,
        reply,
        queues,
        header_size_field,
        size_field,
        header_len,
        data: &line[..0],
    };
    Ok((msg, size))
}

/// `RS-`/`LS-` arguments, as `parseUnsubProto` splits them: `[origin] account subject [queue]`.
fn parse_unsub(args: &[u8], has_origin: bool) -> Result<RemoteUnsub<'_>, ParseError> {
    let (t, n) = split_fixed::<5>(args);
    let skip = usize::from(has_origin).min(n);
    let origin = has_origin.then_some(t[0]);
    match t[skip..n] {
        [account, subject] => Ok(RemoteUnsub {
            origin,
            account,
            subject,
            queue: None,
        }),
        [account, subject, queue] => Ok(RemoteUnsub {
            origin,
            account,
            subject,
            queue: Some(queue),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// A routed message's control line, split like `processRoutedMsgArgs` (`RMSG`),
/// `processRoutedHeaderMsgArgs` (`HMSG`) and `processRoutedOriginClusterMsgArgs` (`LMSG`):
/// the fixed fields come first, the size fields last, and what is left between them is nothing,
/// a reply, or a `+`/`|` indicator followed by the queue names. Taking fields from both ends
/// means any number of queue names costs no storage. Returns the message with `data` still
/// empty, and its total size.
fn parse_msg_args(kind: Kind, line: &[u8]) -> Result<(RoutedMsg<'_>, usize), ParseError> {
    const BAD: ParseError = ParseError::BadArgs;
    let (origin, rest) = match kind {
        Kind::Lmsg => first_token(line)
            .map(|(o, rest)| (Some(o), rest))
            .ok_or(BAD)?,
        _ => (None, line),
    };
    let (account, rest) = first_token(rest).ok_or(BAD)?;
    let (subject, rest) = first_token(rest).ok_or(BAD)?;
    let (rest, size_field) = last_token(rest).ok_or(BAD)?;
    let (middle, header_size_field) = match kind {
        Kind::Rmsg => (rest, None),
        _ => last_token(rest).map(|(m, h)| (m, Some(h))).ok_or(BAD)?,
    };
    let (reply, queues) = reply_and_queues(middle)?;
    let size = parse_size(size_field).ok_or(BAD)?;
    let header_len = match header_size_field {
        Some(field) => parse_size(field).ok_or(BAD)?,
        None => 0,
    };
    if header_len > size {
        return Err(BAD);
    }
    let msg = RoutedMsg {
        origin,
        account,
        subject,
        reply,
        queues,
        header_size_field,
        size_field,
        header_len,
        data: &line[..0],
    };
    Ok((msg, size))
}

/// The fields between the subject and the sizes: none, a lone reply, `+ <reply> <queue>…` or
/// `| <queue>…`. Like Go, a lone `+` or `|` is a reply subject, and `+ <reply>` with no queue
/// names is accepted.
fn reply_and_queues(middle: &[u8]) -> Result<(Option<&[u8]>, Queues<'_>), ParseError> {
    let Some((first, rest)) = first_token(middle) else {
        return Ok((None, Queues::default()));
    };
    let Some((second, after)) = first_token(rest) else {
        return Ok((Some(first), Queues::default()));
    };
    match first {
        b"+" => Ok((Some(second), Queues::new(trim(after)))),
        b"|" => Ok((None, Queues::new(trim(rest)))),
        _ => Err(ParseError::BadArgs),
    }
}

/// Appends `<op><account> <subject>[ <extra>…]␍␊` (`op` includes its trailing space), or
/// `<op><subject>…` when `account` is empty (leaf connections).
fn write_interest(out: &mut Vec<u8>, op: &[u8], account: &[u8], subject: &[u8], extra: &[&[u8]]) {
    let extra_len: usize = extra.iter().map(|e| e.len() + 1).sum();
    out.reserve(op.len() + account.len() + subject.len() + extra_len + 3);
    out.extend_from_slice(op);
    if !account.is_empty() {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    for e in extra {
        out.push(b' ');
        out.extend_from_slice(e);
    }
    out.extend_from_slice(CRLF);
}

/// Appends `RS+ <account> <subject>[ <queue> <weight>]␍␊`, as Go's
/// `addRouteSubOrUnsubProtoToBuf` does. The weight of a queue subscription is the number of local members, at least 1.
pub fn write_rs_plus(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    let mut digits = [0u8; 20];
    match queue {
        Some((q, weight)) => {
            let weight = fmt_usize(weight as usize, &mut digits);
            write_interest(out, b"RS+ ", account, subject, &[q, weight]);
        }
        None => write_interest(out, b"RS+ ", account, subject, &[]),
    }
}

/// Appends `RS- <account> <subject>[ <queue>]␍␊`.
pub fn write_rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    write_interest(out, b"RS- ", account, subject, queue.as_slice());
}

/// Appends `LS+ <subject>[ <queue> <weight>]␍␊` (a leaf connection, nats-server
/// `writeLeafSub`).
pub fn write_ls_plus(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    let mut digits = [0u8; 20];
    match queue {
        Some((q, weight)) => {
            let weight = fmt_usize(weight as usize, &mut digits);
            write_interest(out, b"LS+ ", b"", subject, &[q, weight]);
        }
        None => write_interest(out, b"LS+ ", b"", subject, &[]),
    }
}

/// Appends `LS- <subject>[ <queue>]␍␊`.
pub fn write_ls_minus(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    write_interest(out, b"LS- ", b"", subject, queue.as_slice());
}

/// Size fields are assumed to be at most this long in [`rmsg_size`] (any `usize` in decimal).
const SIZE_FIELD_MAX: usize = 20;

/// An upper bound on the bytes [`write_rmsg`] appends for these fields and `data_len` bytes of
/// data, for reserving buffer space up front. Assumes size fields of at most 20 bytes (the
/// parser's have at most 9).
pub fn rmsg_size(
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    data_len: usize,
) -> usize {
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    let queues_len: usize = queues.iter().map(|q| q.len() + 1).sum();
    // "HMSG " + "acc " + "subj " + "+ " or "| " + reply + queues + "hdr total" + CRLF + data + CRLF
    5 + account.len()
        + 1
        + subject.len()
        + 1
        + 2
        + reply_len
        + queues_len
        + 2 * SIZE_FIELD_MAX
        + 1
        + 2
        + data_len
        + 2
}

/// Appends `RMSG`, or `HMSG` when `header_size_field` is given and is not 0; with an empty
/// `account`, the leaf form `LMSG`/`HMSG` without the account token. The queue list rules are
/// those of Go's `msgHeaderForRouteOrLeaf`: no queues → `[<reply> ]<size>`; queues and a
/// reply → `+ <reply> <queue>… <size>`; queues without a reply → `| <queue>… <size>`. An empty
/// reply counts as none, as in Go. `size_field` (and `header_size_field`) are written as given:
/// Go forwards the publisher's fields byte for byte. `data` is the header block followed by the
/// payload.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per protocol field, matching the parsed RoutedMsg"
)]
pub fn write_rmsg(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    header_size_field: Option<&[u8]>,
    size_field: &[u8],
    data: &[u8],
) {
    let reply = reply.filter(|r| !r.is_empty());
    // Go writes HMSG only when `pa.hdr > 0`; a zero header size is a plain message.
    let header_field = header_size_field.filter(|f| parse_size(f).is_some_and(|n| n > 0));
    out.reserve(rmsg_size(account, subject, reply, queues, data.len()));
    out.extend_from_slice(match (header_field.is_some(), account.is_empty()) {
        (true, _) => b"HMSG ",
        (false, false) => b"RMSG ",
        (false, true) => b"LMSG ",
    });
    if !account.is_empty() {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    out.push(b' ');
    match (reply, queues.is_empty()) {
        (Some(r), false) => {
            out.extend_from_slice(b"+ ");
            out.extend_from_slice(r);
            out.push(b' ');
        }
        (None, false) => out.extend_from_slice(b"| "),
        (Some(r), true) => {
            out.extend_from_slice(r);
            out.push(b' ');
        }
        (None, true) => {}
    }
    for q in queues {
        out.extend_from_slice(q);
        out.push(b' ');
    }
    if let Some(h) = header_field {
        out.extend_from_slice(h);
        out.push(b' ');
    }
    out.extend_from_slice(size_field);
    out.extend_from_slice(CRLF);
    out.extend_from_slice(data);
    out.extend_from_slice(CRLF);
}

/// Fuzz check: parsing `data` in one piece never panics and always makes progress.
#[doc(hidden)]
pub fn fuzz_check_whole(data: &[u8]) {
    for dialect in [Dialect::Route, Dialect::Leaf] {
        let _ = fuzz_run(data, dialect, &mut |left| left);
    }
}

/// Fuzz check: parsing `data` cut into reads (pattern chosen by `seed`) gives the same ops and
/// the same error as parsing it in one piece.
#[doc(hidden)]
pub fn fuzz_check_chunked(data: &[u8], seed: u8) {
    for dialect in [Dialect::Route, Dialect::Leaf] {
        let whole = fuzz_run(data, dialect, &mut |left| left);
        let chunked = fuzz_run(data, dialect, &mut crate::parser::fuzz_cuts(seed));
        assert_eq!(whole, chunked, "split reads must not change the result");
    }
}

/// Feeds a whole stream to a route or leaf parser (default limits, `lnocu` off).
fn fuzz_run(
    stream: &[u8],
    dialect: Dialect,
    cuts: &mut dyn FnMut(usize) -> usize,
) -> (Vec<String>, Option<ParseError>) {
    let mut p = RouteParser {
        dialect,
        ..RouteParser::default()
    };
    crate::parser::fuzz_feed(stream, cuts, &mut |buf| {
        p.parse(buf)
            .map(|found| found.map(|(op, used)| (format!("{op:?}"), used)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = CONTROL_LINE_FACTOR * MAX_CONTROL_LINE_DEFAULT;

    fn b(s: &str) -> &[u8] {
        s.as_bytes()
    }

    /// Parses `input`, which must hold exactly one complete op.
    fn one(input: &[u8]) -> Result<RouteOp<'_>, ParseError> {
        one_with(&mut RouteParser::new(LIMIT, 1 << 20), input)
    }

    fn one_with<'a>(p: &mut RouteParser, input: &'a [u8]) -> Result<RouteOp<'a>, ParseError> {
        let text = String::from_utf8_lossy(input);
        let Some((op, used)) = p.parse(input)? else {
            panic!("incomplete: {text:?}");
        };
        assert_eq!(used, input.len(), "{text:?}");
        Ok(op)
    }

    /// A plain `RMSG` to build expected values from.
    fn msg<'a>(account: &'a str, subject: &'a str, size: &'a str, data: &'a str) -> RoutedMsg<'a> {
        RoutedMsg {
            origin: None,
            account: b(account),
            subject: b(subject),
            reply: None,
            queues: Queues::default(),
            header_size_field: None,
            size_field: b(size),
            header_len: 0,
            data: b(data),
        }
    }

    fn sub<'a>(account: &'a str, subject: &'a str) -> RemoteSub<'a> {
        RemoteSub {
            origin: None,
            account: b(account),
            subject: b(subject),
            queue: None,
            weight: 1,
        }
    }

    fn unsub<'a>(account: &'a str, subject: &'a str) -> RemoteUnsub<'a> {
        RemoteUnsub {
            origin: None,
            account: b(account),
            subject: b(subject),
            queue: None,
        }
    }

    #[test]
    fn messages_from_spec_transcripts() {
        let cases: &[(&str, RoutedMsg)] = &[
            ("RMSG A foo 5\r\nhello\r\n", msg("A", "foo", "5", "hello")),
            (
                "RMSG A foo rep.1 5\r\nhello\r\n",
                RoutedMsg {
                    reply: Some(b("rep.1")),
                    ..msg("A", "foo", "5", "hello")
                },
            ),
            (
                "HMSG A foo 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nworld\r\n",
                RoutedMsg {
                    header_size_field: Some(b("20")),
                    header_len: 20,
                    ..msg("A", "foo", "25", "NATS/1.0\r\nX-A: 1\r\n\r\nworld")
                },
            ),
            (
                "RMSG A bar | q1 3\r\nqqq\r\n",
                RoutedMsg {
                    queues: Queues::new(b("q1")),
                    ..msg("A", "bar", "3", "qqq")
                },
            ),
            (
                "RMSG A bar + rep.1 q1 3\r\nqqr\r\n",
                RoutedMsg {
                    reply: Some(b("rep.1")),
                    queues: Queues::new(b("q1")),
                    ..msg("A", "bar", "3", "qqr")
                },
            ),
            (
                "LMSG LC A rr 0 2\r\nok\r\n",
                RoutedMsg {
                    origin: Some(b("LC")),
                    header_size_field: Some(b("0")),
                    ..msg("A", "rr", "2", "ok")
                },
            ),
            (
                "LMSG LC A lq | g2 0 2\r\nlq\r\n",
                RoutedMsg {
                    origin: Some(b("LC")),
                    queues: Queues::new(b("g2")),
                    header_size_field: Some(b("0")),
                    ..msg("A", "lq", "2", "lq")
                },
            ),
            (
                "LMSG LC A lq + r.1 g1 g2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                RoutedMsg {
                    origin: Some(b("LC")),
                    reply: Some(b("r.1")),
                    queues: Queues::new(b("g1 g2")),
                    header_size_field: Some(b("12")),
                    header_len: 12,
                    ..msg("A", "lq", "14", "NATS/1.0\r\n\r\nhi")
                },
            ),
            (
                "HMSG A foo r.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                RoutedMsg {
                    reply: Some(b("r.1")),
                    header_size_field: Some(b("12")),
                    header_len: 12,
                    ..msg("A", "foo", "14", "NATS/1.0\r\n\r\nhi")
                },
            ),
            (
                "HMSG A foo | q1 q2 0 2\r\nhi\r\n",
                RoutedMsg {
                    queues: Queues::new(b("q1 q2")),
                    header_size_field: Some(b("0")),
                    ..msg("A", "foo", "2", "hi")
                },
            ),
            (
                "HMSG A foo + r q1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                RoutedMsg {
                    reply: Some(b("r")),
                    queues: Queues::new(b("q1")),
                    header_size_field: Some(b("12")),
                    header_len: 12,
                    ..msg("A", "foo", "14", "NATS/1.0\r\n\r\nhi")
                },
            ),
            // Separators: runs of spaces and TABs; lower-case op names; a bare LF.
            (
                "rmsg\t A  bar \t|  q1\tq2   3 \r\nqqq\r\n",
                RoutedMsg {
                    queues: Queues::new(b("q1 q2")),
                    ..msg("A", "bar", "3", "qqq")
                },
            ),
            ("RMSG A foo 1\nx\r\n", msg("A", "foo", "1", "x")),
            ("RMSG $G gfoo 01\r\nx\r\n", msg("$G", "gfoo", "01", "x")),
            // Like Go: a lone `+` is a reply subject; `+ <reply>` may have no queue names.
            (
                "RMSG A foo + 1\r\nx\r\n",
                RoutedMsg {
                    reply: Some(b("+")),
                    ..msg("A", "foo", "1", "x")
                },
            ),
            (
                "RMSG A foo + r 1\r\nx\r\n",
                RoutedMsg {
                    reply: Some(b("r")),
                    ..msg("A", "foo", "1", "x")
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(one(b(input)), Ok(RouteOp::Msg(*want)), "{input:?}");
        }
    }

    #[test]
    fn message_accessors() {
        let Ok(RouteOp::Msg(m)) = one(b"HMSG A foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n") else {
            panic!("not a message");
        };
        assert_eq!(m.headers(), Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(m.payload(), b"hi");
        let Ok(RouteOp::Msg(m)) = one(b"LMSG LC A rr 0 2\r\nok\r\n") else {
            panic!("not a message");
        };
        assert_eq!(m.headers(), None);
        assert_eq!(m.payload(), b"ok");
    }

    #[test]
    fn interest_lines() {
        let cases: &[(&str, RouteOp)] = &[
            ("RS+ A foo\r\n", RouteOp::Sub(sub("A", "foo"))),
            ("rs+ A foo\n", RouteOp::Sub(sub("A", "foo"))),
            (
                "RS+ A bar q1 2\r\n",
                RouteOp::Sub(RemoteSub {
                    queue: Some(b("q1")),
                    weight: 2,
                    ..sub("A", "bar")
                }),
            ),
            (
                "RS+\tA  bar \t q1\t2 \r\n",
                RouteOp::Sub(RemoteSub {
                    queue: Some(b("q1")),
                    weight: 2,
                    ..sub("A", "bar")
                }),
            ),
            // Go accepts a zero or unparsable weight and never picks that member.
            (
                "RS+ A bar q1 0\r\n",
                RouteOp::Sub(RemoteSub {
                    queue: Some(b("q1")),
                    weight: 0,
                    ..sub("A", "bar")
                }),
            ),
            (
                "RS+ A bar q1 x\r\n",
                RouteOp::Sub(RemoteSub {
                    queue: Some(b("q1")),
                    weight: 0,
                    ..sub("A", "bar")
                }),
            ),
            ("RS- A foo\r\n", RouteOp::Unsub(unsub("A", "foo"))),
            (
                "RS- A bar q1\r\n",
                RouteOp::Unsub(RemoteUnsub {
                    queue: Some(b("q1")),
                    ..unsub("A", "bar")
                }),
            ),
            (
                "LS+ LC A foo\r\n",
                RouteOp::Sub(RemoteSub {
                    origin: Some(b("LC")),
                    ..sub("A", "foo")
                }),
            ),
            (
                "LS+ LC A foo q 3\r\n",
                RouteOp::Sub(RemoteSub {
                    origin: Some(b("LC")),
                    queue: Some(b("q")),
                    weight: 3,
                    ..sub("A", "foo")
                }),
            ),
            // Without lnocu an `LS-` has no origin.
            (
                "LS- A foo q\r\n",
                RouteOp::Unsub(RemoteUnsub {
                    queue: Some(b("q")),
                    ..unsub("A", "foo")
                }),
            ),
            ("LS- A foo\r\n", RouteOp::Unsub(unsub("A", "foo"))),
        ];
        for (input, want) in cases {
            assert_eq!(one(b(input)), Ok(*want), "{input:?}");
        }
    }

    #[test]
    fn ls_minus_with_lnocu() {
        let mut p = RouteParser::new(LIMIT, 1 << 20);
        p.lnocu = true;
        assert_eq!(
            one_with(&mut p, b"LS- LC A foo\r\n"),
            Ok(RouteOp::Unsub(RemoteUnsub {
                origin: Some(b("LC")),
                ..unsub("A", "foo")
            }))
        );
        assert_eq!(
            one_with(&mut p, b"LS- LC A foo q\r\n"),
            Ok(RouteOp::Unsub(RemoteUnsub {
                origin: Some(b("LC")),
                queue: Some(b("q")),
                ..unsub("A", "foo")
            }))
        );
        assert_eq!(one_with(&mut p, b"LS- A foo\r\n"), Err(ParseError::BadArgs));
        // RS- never has an origin.
        assert_eq!(
            one_with(&mut p, b"RS- A foo q\r\n"),
            Ok(RouteOp::Unsub(RemoteUnsub {
                queue: Some(b("q")),
                ..unsub("A", "foo")
            }))
        );
    }

    #[test]
    fn other_ops() {
        let cases: &[(&str, RouteOp)] = &[
            ("PING\r\n", RouteOp::Ping),
            ("ping\n", RouteOp::Ping),
            ("PING foo\r\n", RouteOp::Ping),
            ("PONG\r\n", RouteOp::Pong),
            ("+OK\r\n", RouteOp::Ok),
            ("-ERR 'Route Error'\r\n", RouteOp::Err(b("Route Error"))),
            (
                "CONNECT {\"echo\":true}\r\n",
                RouteOp::Connect(b("{\"echo\":true}")),
            ),
            ("INFO {\"a\":1} \r\n", RouteOp::Info(b("{\"a\":1}"))),
            ("INFO {\"a\":1}\r\n", RouteOp::Info(b("{\"a\":1}"))),
            ("A+ $G\r\n", RouteOp::Ignored),
            ("A- $G foo\r\n", RouteOp::Ignored),
            ("Au $G\r\n", RouteOp::Ignored),
        ];
        for (input, want) in cases {
            assert_eq!(one(b(input)), Ok(*want), "{input:?}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&str, ParseError)] = &[
            ("SUB foo 1\r\n", ParseError::UnknownOp),
            ("UNSUB 1\r\n", ParseError::UnknownOp),
            ("PUB foo 2\r\nhi\r\n", ParseError::UnknownOp),
            ("MSG foo 1 2\r\nhi\r\n", ParseError::UnknownOp),
            ("MSG\r\n", ParseError::UnknownOp),
            ("XYZ\r\n", ParseError::UnknownOp),
            (" PING\r\n", ParseError::UnknownOp),
            ("RS+A foo\r\n", ParseError::UnknownOp),
            ("RMSG\r\n", ParseError::UnknownOp),
            ("A+\r\n", ParseError::UnknownOp),
            ("RMSG A foo 2\r\nhiXX", ParseError::UnknownOp),
            ("RMSG A foo 2\r\nhi\rX", ParseError::UnknownOp),
            ("RS+ A\r\n", ParseError::BadArgs),
            ("RS+ \r\n", ParseError::BadArgs),
            ("RS+ A foo q1\r\n", ParseError::BadArgs),
            ("RS+ A foo q1 1 x\r\n", ParseError::BadArgs),
            ("LS+ LC A\r\n", ParseError::BadArgs),
            ("LS+ LC A foo q1\r\n", ParseError::BadArgs),
            ("RS- A\r\n", ParseError::BadArgs),
            ("RS- A foo q1 x\r\n", ParseError::BadArgs),
            ("RMSG A foo\r\n", ParseError::BadArgs),
            ("RMSG A\r\n", ParseError::BadArgs),
            ("RMSG A foo x\r\n", ParseError::BadArgs),
            ("RMSG A foo -1\r\n", ParseError::BadArgs),
            ("RMSG A foo 1234567890\r\n", ParseError::BadArgs),
            ("RMSG A foo r x 1\r\n", ParseError::BadArgs),
            ("RMSG A foo ++ r q 1\r\n", ParseError::BadArgs),
            ("HMSG A foo 5\r\n", ParseError::BadArgs),
            ("HMSG A foo 3 2\r\n", ParseError::BadArgs),
            ("HMSG A foo x 2\r\n", ParseError::BadArgs),
            ("LMSG LC A foo 2\r\n", ParseError::BadArgs),
            ("LMSG LC A foo 3 2\r\n", ParseError::BadArgs),
            ("RMSG A foo 2000000\r\n", ParseError::MaxPayload),
        ];
        for (input, want) in cases {
            let mut p = RouteParser::new(LIMIT, 1 << 20);
            assert_eq!(p.parse(b(input)), Err(*want), "{input:?}");
        }
    }

    #[test]
    fn control_line_limit() {
        let mut p = RouteParser::new(64, 1024);
        // Arguments "A " + 62 bytes = 64: allowed; one more is not.
        let ok = format!("RS+ A {}\r\n", "a".repeat(62));
        assert!(matches!(p.parse(ok.as_bytes()), Ok(Some(_))));
        let long = format!("RS+ A {}\r\n", "a".repeat(63));
        assert_eq!(p.parse(long.as_bytes()), Err(ParseError::MaxControlLine));
        // A partial line already over the limit is rejected before its newline arrives.
        let partial = format!("RMSG A {}", "a".repeat(100));
        assert_eq!(p.parse(partial.as_bytes()), Err(ParseError::MaxControlLine));
        let partial = format!("RMSG A {}", "a".repeat(50));
        assert_eq!(p.parse(partial.as_bytes()), Ok(None));
        let ping = format!("PING {}\r\n", "a".repeat(100));
        assert_eq!(p.parse(ping.as_bytes()), Err(ParseError::MaxControlLine));
    }

    #[test]
    fn needed_after_control_line() {
        let mut p = RouteParser::default();
        assert_eq!(p.parse(b"RMSG A foo 5\r\nhel"), Ok(None));
        assert_eq!(p.needed(), 14 + 5 + 2);
        assert_eq!(p.parse(b"RMSG A foo 5"), Ok(None));
        assert_eq!(p.needed(), 0);
    }

    const STREAM: &[&str] = &[
        "CONNECT {\"echo\":true,\"name\":\"n2\"}\r\n",
        "INFO {\"server_id\":\"x\"} \r\n",
        "RS+ A foo\r\n",
        "RS+ A bar q1 2\r\n",
        "RS- A bar q1\r\n",
        "LS+ LC A foo g 1\r\n",
        "LS- A foo g\r\n",
        "RMSG A foo rep.1 5\r\nhello\r\n",
        "HMSG A foo 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nworld\r\n",
        "RMSG A bar | q1 3\r\nqqq\r\n",
        "RMSG A bar + rep.1 q1 3\r\nqqr\r\n",
        "LMSG LC A rr 0 2\r\nok\r\n",
        "LMSG LC A lq | g2 0 2\r\nlq\r\n",
        "RMSG A e 0\r\n\r\n",
        "A+ $G\r\n",
        "PING\r\n",
        "PONG\r\n",
        "+OK\r\n",
        "-ERR 'x'\r\n",
    ];

    #[test]
    fn every_proper_prefix_is_incomplete() {
        for op in STREAM {
            let op = b(op);
            for end in 0..op.len() {
                let mut p = RouteParser::default();
                assert_eq!(
                    p.parse(&op[..end]),
                    Ok(None),
                    "{:?}",
                    String::from_utf8_lossy(&op[..end])
                );
            }
            let mut p = RouteParser::default();
            assert!(matches!(p.parse(op), Ok(Some((_, n))) if n == op.len()));
        }
    }

    /// Feeds `stream` as separate reads cut at `cuts`, like a socket would, keeping the
    /// unconsumed tail between reads.
    fn feed_chunks(stream: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut p = RouteParser::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut prev = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[prev..cut.max(prev)]);
            prev = cut.max(prev);
            let mut pos = 0;
            while let Some((op, used)) = p.parse(&buf[pos..]).unwrap() {
                out.push(format!("{op:?}"));
                pos += used;
            }
            buf.drain(..pos);
        }
        assert!(buf.is_empty(), "unconsumed bytes");
        out
    }

    #[test]
    fn split_at_every_offset_gives_same_ops() {
        let stream = STREAM.concat();
        let stream = stream.as_bytes();
        let whole = feed_chunks(stream, &[]);
        assert_eq!(whole.len(), STREAM.len());
        for cut in 0..=stream.len() {
            assert_eq!(feed_chunks(stream, &[cut]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn interest_encoders_round_trip() {
        let mut out = Vec::new();
        write_rs_plus(&mut out, b"A", b"foo", None);
        assert_eq!(out, b"RS+ A foo\r\n");
        assert_eq!(one(&out), Ok(RouteOp::Sub(sub("A", "foo"))));
        out.clear();
        write_rs_plus(&mut out, b"A", b"bar", Some((b"q1".as_slice(), 2)));
        assert_eq!(out, b"RS+ A bar q1 2\r\n");
        assert_eq!(
            one(&out),
            Ok(RouteOp::Sub(RemoteSub {
                queue: Some(b("q1")),
                weight: 2,
                ..sub("A", "bar")
            }))
        );
        out.clear();
        write_rs_minus(&mut out, b"A", b"foo", None);
        assert_eq!(out, b"RS- A foo\r\n");
        assert_eq!(one(&out), Ok(RouteOp::Unsub(unsub("A", "foo"))));
        out.clear();
        write_rs_minus(&mut out, b"A", b"bar", Some(b"q1".as_slice()));
        assert_eq!(out, b"RS- A bar q1\r\n");
        assert_eq!(
            one(&out),
            Ok(RouteOp::Unsub(RemoteUnsub {
                queue: Some(b("q1")),
                ..unsub("A", "bar")
            }))
        );
    }

    /// Writes a message, checks the bytes and the size bound, and parses it back.
    fn rmsg_round_trip(
        reply: Option<&str>,
        queues: &[&str],
        header_size_field: Option<&str>,
        size_field: &str,
        data: &str,
        want: &str,
    ) {
        let queues: Vec<&[u8]> = queues.iter().map(|q| q.as_bytes()).collect();
        let reply = reply.map(b);
        let mut out = Vec::new();
        write_rmsg(
            &mut out,
            b"A",
            b"foo",
            reply,
            &queues,
            header_size_field.map(b),
            b(size_field),
            b(data),
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
        assert!(out.len() <= rmsg_size(b"A", b"foo", reply, &queues, data.len()));
        let Ok(RouteOp::Msg(m)) = one(&out) else {
            panic!("not a message: {want:?}");
        };
        assert_eq!((m.account, m.subject), (b("A"), b("foo")));
        assert_eq!(m.reply, reply.filter(|r| !r.is_empty()));
        assert_eq!(m.queues.iter().collect::<Vec<_>>(), queues);
        assert_eq!(m.data, b(data));
        let header_len = header_size_field
            .and_then(|h| parse_size(b(h)))
            .unwrap_or(0);
        assert_eq!(m.header_len, header_len);
    }

    #[test]
    fn rmsg_encoder_round_trips() {
        rmsg_round_trip(None, &[], None, "5", "hello", "RMSG A foo 5\r\nhello\r\n");
        rmsg_round_trip(
            Some("rep.1"),
            &[],
            None,
            "5",
            "hello",
            "RMSG A foo rep.1 5\r\nhello\r\n",
        );
        rmsg_round_trip(Some(""), &[], None, "1", "x", "RMSG A foo 1\r\nx\r\n");
        rmsg_round_trip(
            None,
            &["q1"],
            None,
            "3",
            "qqq",
            "RMSG A foo | q1 3\r\nqqq\r\n",
        );
        rmsg_round_trip(
            Some("rep.1"),
            &["q1"],
            None,
            "3",
            "qqr",
            "RMSG A foo + rep.1 q1 3\r\nqqr\r\n",
        );
        rmsg_round_trip(
            None,
            &[],
            Some("20"),
            "25",
            "NATS/1.0\r\nX-A: 1\r\n\r\nworld",
            "HMSG A foo 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nworld\r\n",
        );
        rmsg_round_trip(
            Some("r"),
            &["q1", "q2"],
            Some("12"),
            "14",
            "NATS/1.0\r\n\r\nhi",
            "HMSG A foo + r q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        );
        // A zero header size is a plain message, as Go sends it.
        rmsg_round_trip(None, &[], Some("0"), "2", "hi", "RMSG A foo 2\r\nhi\r\n");
    }

    #[test]
    fn many_queue_names_round_trip() {
        let names: Vec<String> = (0..200).map(|i| format!("queue.{i}")).collect();
        let queues: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        for reply in [None, Some(b"_INBOX.r".as_slice())] {
            let mut out = Vec::new();
            write_rmsg(&mut out, b"A", b"q", reply, &queues, None, b"2", b"hi");
            assert!(out.len() <= rmsg_size(b"A", b"q", reply, &queues, 2));
            let Ok(RouteOp::Msg(m)) = one(&out) else {
                panic!("not a message");
            };
            assert_eq!(m.reply, reply);
            assert_eq!(m.queues.iter().collect::<Vec<_>>(), queues);
            assert!(!m.queues.is_empty());
            assert!(m.queues.contains(b"queue.0"));
            assert!(m.queues.contains(b"queue.199"));
            assert!(!m.queues.contains(b"queue.200"));
            assert!(!m.queues.contains(b"queue"));
            assert_eq!(m.payload(), b"hi");
        }
    }

    #[test]
    fn queues_type() {
        let q = Queues::new(b" a\tb  c ");
        assert_eq!(q.iter().collect::<Vec<_>>(), [b"a", b"b", b"c"]);
        assert_eq!(q, Queues::new(b"a b c"));
        assert_ne!(q, Queues::new(b"a b"));
        assert!(Queues::new(b" \t").is_empty());
        assert!(Queues::default().is_empty());
        assert!(!q.contains(b""));
        assert_eq!(format!("{:?}", Queues::new(b"a")), "[[97]]");
    }

    fn leaf_parser() -> RouteParser {
        RouteParser {
            dialect: Dialect::Leaf,
            ..RouteParser::new(LIMIT, 1 << 20)
        }
    }

    #[test]
    fn leaf_interest_has_no_account() {
        let mut p = leaf_parser();
        let cases: &[(&str, RouteOp)] = &[
            ("LS+ foo\r\n", RouteOp::Sub(sub("", "foo"))),
            ("RS+ foo\r\n", RouteOp::Sub(sub("", "foo"))),
            (
                "LS+ q grp 2\r\n",
                RouteOp::Sub(RemoteSub {
                    queue: Some(b("grp")),
                    weight: 2,
                    ..sub("", "q")
                }),
            ),
            ("LS- foo\r\n", RouteOp::Unsub(unsub("", "foo"))),
            (
                "LS- q grp\r\n",
                RouteOp::Unsub(RemoteUnsub {
                    queue: Some(b("grp")),
                    ..unsub("", "q")
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(one_with(&mut p, b(input)), Ok(*expected), "{input}");
        }
        for bad in ["LS+ a b\r\n", "LS+ a b c d\r\n", "LS- a b c\r\n", "LS+\r\n"] {
            assert!(one_with(&mut p, b(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn leaf_messages_from_spec_transcripts() {
        let mut p = leaf_parser();
        let cases: &[(&str, RoutedMsg)] = &[
            (
                "LMSG fromleaf 5\r\nhello\r\n",
                msg("", "fromleaf", "5", "hello"),
            ),
            (
                "LMSG fromleaf rep.1 5\r\nhello\r\n",
                RoutedMsg {
                    reply: Some(b("rep.1")),
                    ..msg("", "fromleaf", "5", "hello")
                },
            ),
            (
                "HMSG fromleaf 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n",
                RoutedMsg {
                    header_size_field: Some(b("20")),
                    header_len: 20,
                    ..msg("", "fromleaf", "25", "NATS/1.0\r\nX-A: 1\r\n\r\nhello")
                },
            ),
            (
                "LMSG lq | grp 1\r\ny\r\n",
                RoutedMsg {
                    queues: Queues::new(b("grp")),
                    ..msg("", "lq", "1", "y")
                },
            ),
            (
                "LMSG hq + r g 1\r\nz\r\n",
                RoutedMsg {
                    reply: Some(b("r")),
                    queues: Queues::new(b("g")),
                    ..msg("", "hq", "1", "z")
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                one_with(&mut p, b(input)),
                Ok(RouteOp::Msg(*expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn leaf_writers_round_trip() {
        let mut out = Vec::new();
        write_ls_plus(&mut out, b"foo", None);
        write_ls_plus(&mut out, b"q", Some((b"grp", 3)));
        write_ls_minus(&mut out, b"q", Some(b"grp"));
        write_ls_minus(&mut out, b"foo", None);
        assert_eq!(out, b"LS+ foo\r\nLS+ q grp 3\r\nLS- q grp\r\nLS- foo\r\n");
        /// Reply, queues, header size field, expected bytes.
        type Case<'a> = (Option<&'a [u8]>, &'a [&'a [u8]], Option<&'a [u8]>, &'a str);
        let cases: &[Case] = &[
            (None, &[], None, "LMSG s 2\r\nhi\r\n"),
            (Some(b"r"), &[], None, "LMSG s r 2\r\nhi\r\n"),
            (None, &[b"g"], None, "LMSG s | g 2\r\nhi\r\n"),
            (
                Some(b"r"),
                &[b"g", b"h"],
                None,
                "LMSG s + r g h 2\r\nhi\r\n",
            ),
            (None, &[], Some(b"0"), "LMSG s 2\r\nhi\r\n"),
        ];
        for (reply, queues, hdr, expected) in cases {
            let mut out = Vec::new();
            write_rmsg(&mut out, b"", b"s", *reply, queues, *hdr, b"2", b"hi");
            assert_eq!(String::from_utf8_lossy(&out), *expected);
            let mut p = leaf_parser();
            assert!(matches!(one_with(&mut p, &out), Ok(RouteOp::Msg(_))));
        }
        let mut out = Vec::new();
        write_rmsg(
            &mut out,
            b"",
            b"s",
            None,
            &[],
            Some(b"12"),
            b"14",
            b"NATS/1.0\r\n\r\nhi",
        );
        assert_eq!(out, b"HMSG s 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    }
}
