//! Borrowed protocol operations.
//!
//! Every slice in these types points into the buffer the parser was given, so building an op
//! allocates nothing. Size fields are kept as the raw bytes the peer sent, because nats-server
//! copies them byte for byte into `MSG` lines (`PUB foo 01` is delivered as `MSG foo 1 01`).

/// An operation sent by a client to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT <json>`: the raw JSON object, not yet decoded.
    Connect(&'a [u8]),
    /// `INFO <json>`: accepted from clients and ignored when the JSON is valid.
    Info(&'a [u8]),
    /// `PUB` or `HPUB`.
    Pub(Pub<'a>),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// The subject or wildcard pattern.
        subject: &'a [u8],
        /// The queue group, if any.
        queue: Option<&'a [u8]>,
        /// The client's opaque subscription id.
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max_msgs]`.
    Unsub {
        /// The client's subscription id.
        sid: &'a [u8],
        /// Total deliveries after which the subscription ends; `0` means "remove now" (absent,
        /// zero and unparsable values all mean that, as in nats-server).
        max_msgs: u64,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`, ignored by the server.
    Ok,
    /// `-ERR <text>`: the server closes the connection without a reply.
    Err(&'a [u8]),
}

/// A published message: `PUB` (no headers) or `HPUB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pub<'a> {
    /// The subject, not validated by the parser.
    pub subject: &'a [u8],
    /// The reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// `HPUB` only: the header-size field exactly as sent.
    pub header_size_field: Option<&'a [u8]>,
    /// The (total) size field exactly as sent.
    pub size_field: &'a [u8],
    /// Length of the header block at the start of `data` (0 for `PUB`, and for `HPUB` with a
    /// header size of 0, which nats-server treats as a plain message).
    pub header_len: usize,
    /// Header block followed by the payload, without the trailing CR LF.
    pub data: &'a [u8],
}

impl<'a> Pub<'a> {
    /// The header block, if the message has one.
    pub fn headers(&self) -> Option<&'a [u8]> {
        (self.header_len > 0).then(|| &self.data[..self.header_len])
    }

    /// The payload after any header block.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.header_len..]
    }
}

/// An operation sent by a server to a client (parsed by tests and the bench tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// `INFO <json>`.
    Info(&'a [u8]),
    /// `MSG` or `HMSG`.
    Msg(Msg<'a>),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text between the quotes.
    Err(&'a [u8]),
}

/// A delivered message: `MSG` or `HMSG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    /// The subject.
    pub subject: &'a [u8],
    /// The subscription id.
    pub sid: &'a [u8],
    /// The reply subject, if any.
    pub reply: Option<&'a [u8]>,
    /// Length of the header block at the start of `data` (0 for `MSG`).
    pub header_len: usize,
    /// Header block followed by the payload.
    pub data: &'a [u8],
}

impl<'a> Msg<'a> {
    /// The header block, if any.
    pub fn headers(&self) -> Option<&'a [u8]> {
        (self.header_len > 0).then(|| &self.data[..self.header_len])
    }

    /// The payload after any header block.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.header_len..]
    }
}
