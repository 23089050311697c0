//! One client connection as its worker sees it: socket, read buffer, parser, outbound buffer,
//! subscriptions, keepalive state and statistics. Only the owning worker thread touches it.

use super::outbound::Outbound;
use crate::account::Account;
use crate::auth::config::AccountLimits;
use crate::auth::Identity;
use crate::connect::ConnectOpts;
use mio::net::TcpStream;
use protocol::Parser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Read buffer size of a new connection. Small, because most connections are idle most of the
/// time; it doubles while reads keep filling it.
pub const READ_BUF_MIN: usize = 512;
/// The read buffer stops doubling here unless a single large message needs more.
///
/// nats-server stops at 64 KiB; 256 KiB measured better here: a publisher of 1 KiB messages
/// went from 1.9M to 3.0–3.4M msgs/s (64 KiB reads woke the worker four times as often
/// while the publisher's socket buffer held megabytes). Only a connection whose reads keep
/// filling the buffer gets there, and it halves again once reads stay short.
pub const READ_BUF_MAX: usize = 256 * 1024;
/// The most output a route connection may have waiting (see [`Conn::pending_limit`]).
pub const ROUTE_PENDING_MAX: usize = 256 * 1024 * 1024;
/// Reads in a row that use less than half of the room they were given before the read
/// buffer halves (nats-server `shortsToShrink`).
pub const SHORT_READS_TO_SHRINK: u8 = 2;
/// How long after a read last filled its room a read buffer larger than its room gives its
/// memory back (see [`ReadSize::settled`]).
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// How much room the next read gets, as nats-server sizes its read buffer (`readLoop`): a
/// read that fills the room doubles it, up to [`READ_BUF_MAX`]; more than
/// [`SHORT_READS_TO_SHRINK`] reads in a row that use less than half of it halve it, down to
/// [`READ_BUF_MIN`]. A busy publisher is then read 256 KiB at a time, an idle connection
/// keeps 512 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSize {
    /// Room for the next read.
    room: usize,
    short_reads: u8,
    /// When a read last filled its room.
    last_full_at: Option<Instant>,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize {
            room: READ_BUF_MIN,
            short_reads: 0,
            last_full_at: None,
        }
    }
}

impl ReadSize {
    /// Room to offer the next read.
    pub fn room(&self) -> usize {
        self.room
    }

    /// No read has filled its room for [`RELEASE_AFTER`] before `last_read_at`: a buffer
    /// larger than the room may give its memory back. A busy publisher's room falls and
    /// doubles again many times a second (a server that keeps up reads less than half the room
    /// until it halves, down to the minimum, then a burst fills it); freeing and re-mapping
    /// its buffer at each fall cost page faults and zeroing of a tenth of the server's time at
    /// publish-only 16 KiB. So memory goes back at most once a second per connection.
    pub fn settled(&self, last_read_at: Instant) -> bool {
        self.last_full_at
            .is_none_or(|t| last_read_at.saturating_duration_since(t) >= RELEASE_AFTER)
    }

    /// Learns from a read of `n` bytes into `room` bytes of free space.
    pub fn after_read(&mut self, n: usize, room: usize) {
        let now = (n >= room).then(Instant::now);
        self.after_read_at(n, room, now);
    }

    /// [`ReadSize::after_read`], with the time of the read if it filled its room.
    fn after_read_at(&mut self, n: usize, room: usize, full_at: Option<Instant>) {
        if n >= room {
            self.room = (self.room * 2).min(READ_BUF_MAX);
            self.short_reads = 0;
            self.last_full_at = full_at;
        } else if n < room / 2 && self.room > READ_BUF_MIN {
            self.short_reads += 1;
            if self.short_reads > SHORT_READS_TO_SHRINK {
                self.room = (self.room / 2).max(READ_BUF_MIN);
                self.short_reads = 0;
            }
        } else {
            self.short_reads = 0;
        }
    }
}

/// Where a client connection is in its life (TigerBeetle's connection `state`; nats-server
/// keeps the same facts in `client.flags`: `connectReceived`, `firstPongSent`, closed).
///
/// ```text
///  AwaitingConnect --CONNECT, checked at once--------------------> Connected{false}
///  AwaitingConnect --CONNECT, slow check (bcrypt, fetch)--> Authenticating{false} --ok-->
///  Connected{false} --first PONG sent--> Connected{true}
///  Connected{x} --second CONNECT--> Authenticating{x} or Connected{x}
///  any --error, close, kick, shutdown--> Closing(reason)        (final)
/// ```
/// A refused check goes straight to `Closing`. `info_allowed` remembers that the first PONG
/// went out, so a second CONNECT does not send `connect_info` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Accepted (a TLS handshake may still run); no CONNECT yet.
    AwaitingConnect,
    /// CONNECT received; its check runs on the auth threads and reading waits for it.
    Authenticating {
        /// The first PONG was sent before (a second CONNECT).
        info_allowed: bool,
    },
    /// Authenticated and bound to an account.
    Connected {
        /// The first PONG after CONNECT went out: asynchronous INFOs may follow.
        info_allowed: bool,
    },
    /// To be flushed (unless the reason drops output) and closed at the end of this loop
    /// iteration.
    Closing(ClosedReason),
}

impl ConnState {
    /// Whether the lifecycle has the step from `self` to `next` taken by
    /// [`Conn::advance`] (closing goes through [`Conn::close_with`], from any state).
    pub fn may_become(self, next: ConnState) -> bool {
        use ConnState::*;
        match (self, next) {
            (AwaitingConnect, Authenticating { info_allowed })
            | (AwaitingConnect, Connected { info_allowed }) => !info_allowed,
            // A second CONNECT is checked again; the INFO permission stays.
            (Connected { info_allowed: a }, Authenticating { info_allowed: b })
            | (Authenticating { info_allowed: a }, Connected { info_allowed: b }) => a == b,
            // The same CONNECT again, or the first PONG going out (the permission is never
            // taken back).
            (Connected { info_allowed: a }, Connected { info_allowed: b }) => b || !a,
            _ => false,
        }
    }
}

/// A connection's account, and whether it counts against the account's connection limit.
#[derive(Debug, Clone, Copy)]
pub enum Binding {
    /// Not authenticated yet.
    Unbound,
    /// Bound and counted in the account's connections.
    Counted(&'static Account),
    /// Still bound (its subscriptions are in the account's sublist until it closes) but no
    /// longer counted: an account update is closing it.
    Released(&'static Account),
}

/// Why a connection closed, mirroring nats-server's `ClosedState` names (they show up in
/// logs now and in `/connz?state=closed` later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    /// The client closed the connection.
    ClientClosed,
    /// Outbound data over `max_pending`.
    SlowConsumerPendingBytes,
    /// A socket write made no progress within `write_deadline`.
    SlowConsumerWriteDeadline,
    /// A socket read or write failed.
    ReadError,
    /// Parse error or protocol violation.
    ProtocolViolation,
    /// Authentication failed.
    AuthenticationViolation,
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// Missed PINGs.
    StaleConnection,
    /// `max_payload` exceeded.
    MaxPayloadExceeded,
    /// `max_control_line` exceeded.
    MaxControlLineExceeded,
    /// `max_connections` reached.
    MaxConnectionsExceeded,
    /// The account's connection limit reached.
    MaxAccountConnectionsExceeded,
    /// The account revoked the user's JWT while it was connected.
    Revocation,
    /// Server shutting down or lame duck mode closing clients.
    ServerShutdown,
    /// Closed by `$SYS.REQ.SERVER.<id>.KICK`.
    Kicked,
    /// The user's JWT expired while connected.
    AuthenticationExpired,
    /// The TLS handshake failed or timed out (plaintext on a TLS port, no or a bad client
    /// certificate, a certificate that isn't pinned).
    TlsHandshakeError,
    /// A second route to a server already connected, or a route to this server itself.
    DuplicateRoute,
    /// A route peer of another cluster.
    ClusterNameConflict,
    /// A route peer with this server's name.
    DuplicateServerName,
    /// A client dialed the route port.
    WrongPort,
    /// A gateway dialed the route port.
    WrongGateway,
}

impl ClosedReason {
    /// nats-server's text for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedReason::ClientClosed => "Client Closed",
            ClosedReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            ClosedReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            ClosedReason::ReadError => "Read Error",
            ClosedReason::ProtocolViolation => "Protocol Violation",
            ClosedReason::AuthenticationViolation => "Authentication Failure",
            ClosedReason::AuthenticationTimeout => "Authentication Timeout",
            ClosedReason::StaleConnection => "Stale Connection",
            ClosedReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            ClosedReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            ClosedReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            ClosedReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            ClosedReason::Revocation => "Credentials Revoked",
            ClosedReason::ServerShutdown => "Server Shutdown",
            ClosedReason::Kicked => "Kicked",
            ClosedReason::AuthenticationExpired => "Authentication Expired",
            ClosedReason::TlsHandshakeError => "TLS Handshake Failure",
            ClosedReason::DuplicateRoute => "Duplicate Route",
            ClosedReason::ClusterNameConflict => "Cluster Name Conflict",
            ClosedReason::DuplicateServerName => "Duplicate Server Name",
            ClosedReason::WrongPort => "Wrong Port",
            ClosedReason::WrongGateway => "Wrong Gateway",
        }
    }

    /// Slow-consumer closes drop queued output instead of flushing it.
    pub fn drops_output(self) -> bool {
        matches!(
            self,
            ClosedReason::SlowConsumerPendingBytes | ClosedReason::SlowConsumerWriteDeadline
        )
    }
}

/// Keepalive bookkeeping (spec §1.8).
#[derive(Debug)]
pub struct PingState {
    /// Server PINGs sent and not answered.
    pub outstanding: u32,
    /// When the last server PING was sent (RTT start).
    pub rtt_start: Option<Instant>,
    /// Last measured round-trip time, once the client has answered a server PING.
    pub rtt: Option<Duration>,
    /// When the last measurement was taken.
    pub rtt_at: Option<Instant>,
    /// Last time anything arrived from the client.
    pub last_in: Instant,
}

impl PingState {
    /// The RTT as nats-server reports it (`getRTT`): truncated to whole microseconds between
    /// 1 µs and 1 ms, exact otherwise; `None` until measured.
    pub fn reported_rtt(&self) -> Option<Duration> {
        let rtt = self.rtt?;
        if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
            return Some(Duration::from_micros(rtt.as_micros() as u64));
        }
        Some(rtt)
    }
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    /// Connection id, unique for the server's lifetime.
    pub cid: u64,
    /// The socket.
    pub sock: TcpStream,
    /// The TLS session, for a connection on a TLS port (`None` = plaintext). Boxed so that
    /// plaintext connections don't carry its size.
    pub tls: Option<Box<super::tls::TlsState>>,
    /// The client's address.
    pub peer: SocketAddr,
    /// When it connected.
    pub start: Instant,
    /// When it connected, on the wall clock: read once, so every event and CONNZ entry
    /// about the connection shows the same start.
    pub start_wall: std::time::SystemTime,
    /// Protocol parser with this connection's limits.
    pub parser: Parser,
    /// Read buffer: `rbuf[..rlen]` holds bytes not parsed yet; the rest is spare room.
    pub rbuf: Vec<u8>,
    /// Valid bytes at the start of `rbuf`.
    pub rlen: usize,
    /// How large the read buffer should be for the next read.
    pub read_size: ReadSize,
    /// Closed while this connection's pending output is over the stall mark; shared with its
    /// subscriptions so publishers on any worker see it (`worker::flow`).
    pub stall_gate: Arc<crate::gate::StallGate>,
    /// Set while this connection, as a publisher, waits for a subscriber's gate to open.
    pub stall: Option<super::flow::Stall>,
    /// Queued output.
    pub out: Outbound,
    /// Options from CONNECT (defaults until then).
    pub opts: ConnectOpts,
    /// Where the connection is in its life; changed only through [`Conn::advance`] (and
    /// [`Conn::first_pong`], which uses it) and [`Conn::close_with`].
    state: ConnState,
    /// Who the client is, once authenticated (or immediately when no auth is required).
    pub identity: Option<Identity>,
    /// The account it is bound to (with `identity`), and whether it counts there; changed
    /// only through the `*_account` methods.
    binding: Binding,
    /// The nonce sent in INFO (empty when none was sent).
    pub nonce: String,
    /// Publish permission results by subject, so checks cost a lookup per message.
    pub pub_cache: HashMap<Box<[u8]>, bool>,
    /// Reply subjects this client may publish to (response permissions): when received, and
    /// how many responses were sent.
    pub replies: HashMap<Box<[u8]>, (Instant, i64)>,
    /// When the auth timer fires, while auth is pending.
    pub auth_deadline: Option<Instant>,
    /// Subscriptions by sid.
    pub subs: crate::sub::SidMap,
    /// Keepalive state.
    pub ping: PingState,
    /// In the worker's dirty list (output to flush).
    pub dirty: bool,
    /// Queued on the worker's `read_again` list (once: see `Worker::mark_read_again`).
    pub read_again: bool,
    /// Registered for WRITABLE because the kernel buffer was full.
    pub write_interest: bool,
    /// Since when output has been waiting without the socket taking any of it.
    pub stalled_since: Option<Instant>,
    /// Messages received from the client.
    pub in_msgs: u64,
    /// Payload bytes received from the client.
    pub in_bytes: u64,
    /// Messages delivered to the client.
    pub out_msgs: u64,
    /// Payload bytes delivered to the client.
    pub out_bytes: u64,
    /// Set for a route connection (another server of the cluster): its own parser, handshake
    /// and interest. Such a connection has no identity and is never counted as a client.
    pub route: Option<Box<super::peer::RouteConn>>,
    /// Set for a client on the WebSocket port: the upgrade, then framing (`worker::ws`).
    pub ws: Option<Box<super::ws::WsState>>,
}

impl Conn {
    /// A new connection in its initial state.
    pub fn new(cid: u64, sock: TcpStream, peer: SocketAddr, parser: Parser, now: Instant) -> Conn {
        Conn {
            cid,
            sock,
            tls: None,
            ws: None,
            peer,
            start: now,
            start_wall: std::time::SystemTime::now(),
            parser,
            rbuf: Vec::new(),
            rlen: 0,
            read_size: ReadSize::default(),
            stall_gate: Arc::default(),
            stall: None,
            out: Outbound::default(),
            opts: ConnectOpts::default(),
            state: ConnState::AwaitingConnect,
            identity: None,
            binding: Binding::Unbound,
            nonce: String::new(),
            pub_cache: HashMap::new(),
            replies: HashMap::new(),
            auth_deadline: None,
            subs: crate::sub::SidMap::default(),
            ping: PingState {
                outstanding: 0,
                rtt_start: None,
                rtt: None,
                rtt_at: None,
                last_in: now,
            },
            dirty: false,
            read_again: false,
            write_interest: false,
            stalled_since: None,
            in_msgs: 0,
            in_bytes: 0,
            out_msgs: 0,
            out_bytes: 0,
            route: None,
        }
    }

    /// The account the connection is bound to, if any.
    pub fn account(&self) -> Option<&'static Account> {
        match self.binding {
            Binding::Unbound => None,
            Binding::Counted(account) | Binding::Released(account) => Some(account),
        }
    }

    /// Binds the connection to `account`, counted there, and stops counting it in the
    /// account it was bound to before (a second CONNECT, a reload).
    ///
    /// # Errors
    /// `account` is at its connection limit; the binding is unchanged.
    pub fn bind_account(&mut self, account: &'static Account) -> Result<(), ()> {
        if self.account().is_some_and(|a| std::ptr::eq(a, account)) {
            return Ok(());
        }
        if !account.try_add_conn() {
            return Err(());
        }
        if let Binding::Counted(old) =
            std::mem::replace(&mut self.binding, Binding::Counted(account))
        {
            old.remove_conn();
        }
        Ok(())
    }

    /// Stops counting the connection in its account, keeping it bound (its subscriptions
    /// stay until it closes): an account update is closing it, and a client connecting
    /// meanwhile must not be refused for it.
    pub fn release_account(&mut self) {
        if let Binding::Counted(account) = self.binding {
            account.remove_conn();
            self.binding = Binding::Released(account);
        }
    }

    /// Unbinds the connection as it closes, counting it out of its account unless that was
    /// done already; returns the account, whose sublist still holds its subscriptions.
    pub fn unbind_account(&mut self) -> Option<&'static Account> {
        match std::mem::replace(&mut self.binding, Binding::Unbound) {
            Binding::Unbound => None,
            Binding::Counted(account) => {
                account.remove_conn();
                Some(account)
            }
            Binding::Released(account) => Some(account),
        }
    }

    /// After output was queued: closes or opens the stall gate (`worker::flow`) and says
    /// whether the pending output is over the connection's limit (a slow consumer).
    #[inline]
    pub fn queued_over(&self, max_pending: usize) -> bool {
        let limit = self.pending_limit(max_pending);
        let pending = self.out.pending();
        super::flow::close_gate_if_over(&self.stall_gate, pending, limit);
        pending > limit
    }

    /// How much output may wait: `max_pending` for a client. A route gets far more
    /// ([`ROUTE_PENDING_MAX`]): nats-server never closes a route for its pending bytes (it
    /// buffers without bound and relies on PINGs), so a route only stalls the publishers
    /// feeding it once its backlog is large, and is closed only at that bound.
    #[inline]
    pub fn pending_limit(&self, max_pending: usize) -> usize {
        if self.route.is_some() {
            ROUTE_PENDING_MAX.max(max_pending)
        } else {
            max_pending
        }
    }

    /// Bytes the op being assembled needs in the read buffer, when its parser knows.
    pub fn needed(&self) -> usize {
        match &self.route {
            None => self.parser.needed(),
            Some(route) => route.parser.needed(),
        }
    }

    /// Whether the connection is on its way out (no more processing).
    pub fn is_closing(&self) -> bool {
        matches!(self.state, ConnState::Closing(_))
    }

    /// Why the connection is closing, once it is.
    pub fn closing_reason(&self) -> Option<ClosedReason> {
        match self.state {
            ConnState::Closing(reason) => Some(reason),
            _ => None,
        }
    }

    /// Whether reading and parsing must wait: a CONNECT's check is running on the auth
    /// threads (what follows the CONNECT is handled once it is answered), or it is closing.
    pub fn reading_paused(&self) -> bool {
        matches!(
            self.state,
            ConnState::Authenticating { .. } | ConnState::Closing(_)
        )
    }

    /// Whether the client has authenticated and is not closing.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, ConnState::Connected { .. })
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// Whether the server's first PONG after CONNECT went out: from then on the client may
    /// get asynchronous INFOs (nats-server sends `connect_info` with it), also while a second
    /// CONNECT is being checked.
    pub fn info_allowed(&self) -> bool {
        matches!(
            self.state,
            ConnState::Connected { info_allowed: true }
                | ConnState::Authenticating { info_allowed: true }
        )
    }

    /// Moves the connection to `next` along the lifecycle of [`ConnState`].
    ///
    /// # Panics
    /// On a transition the lifecycle does not have (a programmer error): leaving `Closing`,
    /// or going back to `AwaitingConnect`.
    pub fn advance(&mut self, next: ConnState) {
        let allowed = self.state.may_become(next);
        assert!(
            allowed,
            "cid {}: no transition {:?} -> {:?}",
            self.cid, self.state, next
        );
        self.state = next;
    }

    /// Marks the connection for closing at the end of this loop iteration; the first reason
    /// given wins.
    pub fn close_with(&mut self, reason: ClosedReason) {
        if !self.is_closing() {
            self.state = ConnState::Closing(reason);
        }
    }

    /// The first PONG after CONNECT goes out now. Returns whether this is that first one
    /// (a `connect_info` INFO is due).
    pub fn first_pong(&mut self) -> bool {
        match self.state {
            ConnState::Connected {
                info_allowed: false,
            } => {
                self.advance(ConnState::Connected { info_allowed: true });
                true
            }
            _ => false,
        }
    }

    /// The account name for INFO `remote_account` and logs.
    pub fn account_name(&self) -> &str {
        self.identity
            .as_ref()
            .map_or(crate::auth::GLOBAL_ACCOUNT, |i| i.account.as_str())
    }

    /// The client's permissions, if restricted.
    pub fn perms(&self) -> Option<&crate::auth::perms::ClientPerms> {
        self.identity.as_ref().and_then(|i| i.perms.as_deref())
    }

    /// This connection's max payload: the server's, lowered by the account's and the user
    /// JWT's limits (-1 = no limit, 0 = nothing may be published, as nats-server's `mpay`).
    pub fn max_payload(&self, server_max: usize) -> usize {
        let account_max = self
            .account()
            .and_then(|a| AccountLimits::max(a.limits().max_payload));
        let user_max = self
            .identity
            .as_ref()
            .and_then(|i| i.jwt.as_ref())
            .and_then(|j| AccountLimits::max(j.max_payload));
        [account_max, user_max]
            .into_iter()
            .flatten()
            .fold(server_max, usize::min)
    }

    /// The client's verified TLS certificate (DER), if it presented one.
    pub fn peer_cert(&self) -> Option<&[u8]> {
        let tls = self.tls.as_ref()?;
        let chain = tls.session.peer_certificates()?;
        chain.first().map(|c| c.as_ref())
    }

    /// Short description for log lines, like nats-server's `127.0.0.1:5555 - cid:6`
    /// (`wid:` for a WebSocket client, as nats-server writes it, with a proxy's
    /// `X-Forwarded-For` address first: `10.0.0.9/127.0.0.1:5555 - wid:6`).
    pub fn log_prefix(&self) -> String {
        match self.ws.as_ref().map(|ws| ws.forwarded_ip) {
            None => format!("{} - cid:{}", self.peer, self.cid),
            Some(None) => format!("{} - wid:{}", self.peer, self.cid),
            Some(Some(std::net::IpAddr::V6(ip))) => {
                format!("[{ip}]/{} - wid:{}", self.peer, self.cid)
            }
            Some(Some(ip)) => format!("{ip}/{} - wid:{}", self.peer, self.cid),
        }
    }

    /// Whether the client came through the WebSocket port.
    pub fn is_websocket(&self) -> bool {
        self.ws.is_some()
    }

    /// The client type monitoring and events show: `websocket` or `nats`.
    pub fn client_type(&self) -> &'static str {
        if self.is_websocket() {
            "websocket"
        } else {
            "nats"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_doubles_on_full_reads_and_halves_after_short_ones() {
        let mut size = ReadSize::default();
        assert_eq!(size.room(), READ_BUF_MIN);
        // Full reads double the room up to the maximum.
        let mut rooms = Vec::new();
        for _ in 0..10 {
            let room = size.room();
            size.after_read(room, room);
            rooms.push(size.room());
        }
        assert_eq!(rooms[..3], [1024, 2048, 4096]);
        assert_eq!(size.room(), READ_BUF_MAX);
        // Reads using half or more keep it; a short read in between resets the count.
        for n in [READ_BUF_MAX / 2, 10, 10, READ_BUF_MAX / 2, 10, 10] {
            size.after_read(n, READ_BUF_MAX);
        }
        assert_eq!(size.room(), READ_BUF_MAX);
        // More than SHORT_READS_TO_SHRINK short reads in a row halve it, down to the minimum.
        for _ in 0..=SHORT_READS_TO_SHRINK {
            size.after_read(10, READ_BUF_MAX);
        }
        assert_eq!(size.room(), READ_BUF_MAX / 2);
        for _ in 0..100 {
            let room = size.room();
            size.after_read(1, room);
        }
        assert_eq!(size.room(), READ_BUF_MIN);
    }

    #[test]
    fn read_size_settles_a_while_after_the_last_full_read() {
        let mut size = ReadSize::default();
        let start = Instant::now();
        assert!(size.settled(start));
        let room = size.room();
        size.after_read_at(room, room, Some(start));
        let soon = start + RELEASE_AFTER / 2;
        size.after_read_at(1, size.room(), None);
        assert!(!size.settled(soon));
        // Short reads don't move the mark; a full read does.
        assert!(size.settled(start + RELEASE_AFTER));
        let room = size.room();
        size.after_read_at(room, room, Some(soon));
        assert!(!size.settled(start + RELEASE_AFTER));
        assert!(size.settled(soon + RELEASE_AFTER));
    }

    #[test]
    fn conn_state_transitions() {
        use ConnState::*;
        let (waiting, checking) = (
            AwaitingConnect,
            Authenticating {
                info_allowed: false,
            },
        );
        let (connected, ready) = (
            Connected {
                info_allowed: false,
            },
            Connected { info_allowed: true },
        );
        let closing = Closing(ClosedReason::ClientClosed);
        let allowed = [
            (waiting, checking),
            (waiting, connected),
            (checking, connected),
            (connected, connected),
            (connected, ready),
            (ready, ready),
            (ready, Authenticating { info_allowed: true }),
            (Authenticating { info_allowed: true }, ready),
        ];
        for (from, to) in allowed {
            assert!(from.may_become(to), "{from:?} -> {to:?}");
        }
        let refused = [
            (waiting, ready),
            (waiting, Authenticating { info_allowed: true }),
            (checking, ready),
            (ready, connected),
            (connected, waiting),
            (checking, checking),
            (closing, connected),
            (closing, waiting),
            (connected, closing),
        ];
        for (from, to) in refused {
            assert!(!from.may_become(to), "{from:?} -> {to:?}");
        }
    }
}
