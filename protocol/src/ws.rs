//! WebSocket framing (RFC 6455) for NATS clients that connect over WebSocket: a streaming
//! decoder of client frames and the header encoder of server frames. No I/O.
//!
//! NATS runs as a byte stream over WebSocket: a frame may carry many protocol ops or part of
//! one, so the decoder does not reassemble messages. It unmasks each data frame's payload
//! straight into the caller's read buffer, as the bytes arrive, and only holds back what it
//! must: a frame header cut by a read (at most 14 bytes), a control frame's payload (at most
//! 125 bytes), and a compressed message until its last frame (permessage-deflate compresses a
//! message as a whole; the caller inflates it). Why our own code and not a crate: the
//! WebSocket crates (tungstenite and its kin) hand out whole messages and own the stream,
//! while the worker loop needs bytes appended to its own read buffer, as they come, from
//! plaintext or TLS alike.

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame (NATS clients in browsers may use either kind; both carry the same bytes).
pub const OP_TEXT: u8 = 0x1;
/// Binary frame, what the server sends.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// Close status: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close status: going away (server shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close status: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close status: invalid payload data (e.g. a close reason that is not UTF-8).
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close status: policy violation (authentication and permission errors).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close status: message too big.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// Close status: internal error.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// Close status: none given (never sent in a frame).
pub const CLOSE_NO_STATUS: u16 = 1005;

/// Largest payload of a control frame.
pub const CONTROL_MAX: usize = 125;
/// Bytes appended to a compressed message before inflating it (the tail a sender strips,
/// RFC 7692 §7.2.2).
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the decoder saw besides data bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// A ping with its payload: answer with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// A pong (ignored).
    Pong,
    /// The client closes: its status (if any) and reason.
    Close {
        /// The status code, [`CLOSE_NO_STATUS`] when the frame had none.
        code: u16,
        /// The reason text.
        reason: String,
    },
    /// A complete compressed message (the [`DEFLATE_TAIL`] not yet appended): inflate it
    /// and append the result to the read buffer.
    Compressed(Vec<u8>),
}

/// A framing error: the connection is closed with `code` and `reason` (nats-server's texts,
/// `websocket.go`) in the close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The close status to send.
    pub code: u16,
    /// The close reason to send, also logged as the read error.
    pub reason: String,
}

impl FrameError {
    fn protocol(reason: impl Into<String>) -> FrameError {
        FrameError {
            code: CLOSE_PROTOCOL_ERROR,
            reason: reason.into(),
        }
    }
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// A data frame's bytes, unmasked into the read buffer.
    Data,
    /// A data frame of a compressed message, collected until the message's last frame.
    Compressed,
    /// A control frame's bytes, collected (at most [`CONTROL_MAX`]).
    Control(u8),
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a frame header (`hdr` holds its first bytes).
    Header,
    /// Reading `left` more payload bytes of a frame.
    Payload { kind: Payload, left: u64, fin: bool },
}

/// Whether a data message is in progress (its first frame came without FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    /// Between messages.
    None,
    /// Continuation frames expected; `compressed` if the first frame had RSV1.
    Fragmented { compressed: bool },
}

/// The streaming decoder of one connection's client frames.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    message: Message,
    hdr: [u8; 14],
    hdr_len: usize,
    mask: [u8; 4],
    mask_pos: usize,
    control: Vec<u8>,
    compressed: Vec<u8>,
    /// Whether permessage-deflate was negotiated (RSV1 allowed).
    deflate: bool,
    /// Whether client frames are masked (`Nats-No-Masking: true` turns it off: the mask bit
    /// is then ignored and no key is read, as nats-server does).
    masked: bool,
    /// Largest compressed message collected (the connection's `max_payload` and some).
    compressed_max: usize,
}

impl Decoder {
    /// A decoder; `deflate` when permessage-deflate was negotiated, in which case a
    /// compressed message longer than `compressed_max` is refused; `masked` unless the client
    /// asked for no masking.
    pub fn new(deflate: bool, masked: bool, compressed_max: usize) -> Decoder {
        Decoder {
            state: State::Header,
            message: Message::None,
            hdr: [0; 14],
            hdr_len: 0,
            mask: [0; 4],
            mask_pos: 0,
            control: Vec::new(),
            compressed: Vec::new(),
            deflate,
            masked,
            compressed_max,
        }
    }

    /// Decodes `input`: data bytes are appended to `data`, everything else is pushed to
    /// `controls` in order. Returns how much of `input` it took: it stops right after a
    /// compressed message or a close frame, so that the caller can append the inflated
    /// message before the data that follows it (or stop reading at the close). After an
    /// error the stream is unusable (close the connection).
    pub fn decode(
        &mut self,
        input: &[u8],
        data: &mut Vec<u8>,
        controls: &mut Vec<Control>,
    ) -> Result<usize, FrameError> {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                State::Header => at += self.header(&input[at..])?,
                State::Payload { kind, left, fin } => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(input.len() - at);
                    self.payload(kind, &input[at..at + take], data);
                    at += take;
                    let left = left - take as u64;
                    self.state = State::Payload { kind, left, fin };
                }
            }
            // A frame with an empty payload ends as soon as its header does.
            if let State::Payload { kind, left: 0, fin } = self.state {
                self.frame_done(kind, fin, controls)?;
                if matches!(
                    controls.last(),
                    Some(Control::Compressed(_) | Control::Close { .. })
                ) {
                    break;
                }
            }
        }
        Ok(at)
    }

    /// Takes header bytes from `input` (at most three rounds: the first two bytes, then the
    /// length and mask they announce); how many were used.
    fn header(&mut self, input: &[u8]) -> Result<usize, FrameError> {
        let mut used = 0;
        loop {
            let want = header_len(&self.hdr[..self.hdr_len], self.masked);
            if self.hdr_len >= want {
                break;
            }
            if used == input.len() {
                return Ok(used);
            }
            let take = (want - self.hdr_len).min(input.len() - used);
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&input[used..used + take]);
            self.hdr_len += take;
            used += take;
        }
        self.start_frame()?;
        Ok(used)
    }

    /// A complete header is in `hdr`: checks it and starts reading the payload.
    fn start_frame(&mut self) -> Result<(), FrameError> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = b0 & 0x0f;
        if b0 & 0x30 != 0 {
            return Err(FrameError::protocol("RSV2 and RSV3 must be clear"));
        }
        if rsv1 && !self.deflate {
            return Err(FrameError::protocol(
                "compressed frame received without negotiated permessage-deflate",
            ));
        }
        if self.masked && b1 & 0x80 == 0 {
            return Err(FrameError::protocol("mask bit missing"));
        }
        let (len, at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.hdr[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(FrameError::protocol("invalid 64-bit payload length"));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if self.masked {
            self.mask.copy_from_slice(&self.hdr[at..at + 4]);
        } else {
            self.mask = [0; 4];
        }
        self.mask_pos = 0;
        self.hdr_len = 0;
        let kind = match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if len > CONTROL_MAX as u64 {
                    return Err(FrameError::protocol(
                        "control frame length bigger than maximum allowed of 125 bytes",
                    ));
                }
                if !fin {
                    return Err(FrameError::protocol(
                        "control frame does not have final bit set",
                    ));
                }
                if rsv1 {
                    return Err(FrameError::protocol("control frame must not be compressed"));
                }
                self.control.clear();
                Payload::Control(opcode)
            }
            OP_TEXT | OP_BINARY => {
                if self.message != Message::None {
                    return Err(FrameError::protocol(
                        "new message started before final frame for previous message was received",
                    ));
                }
                if !fin {
                    self.message = Message::Fragmented { compressed: rsv1 };
                }
                self.data_kind(rsv1)
            }
            OP_CONTINUATION => {
                let Message::Fragmented { compressed } = self.message else {
                    return Err(FrameError::protocol("invalid continuation frame"));
                };
                if rsv1 {
                    return Err(FrameError::protocol("invalid continuation frame"));
                }
                if fin {
                    self.message = Message::None;
                }
                self.data_kind(compressed)
            }
            _ => return Err(FrameError::protocol(format!("unknown opcode {opcode}"))),
        };
        if kind == Payload::Compressed
            && self.compressed.len() as u64 + len > self.compressed_max as u64
        {
            return Err(FrameError {
                code: CLOSE_MESSAGE_TOO_BIG,
                reason: "maximum payload exceeded".into(),
            });
        }
        self.state = State::Payload {
            kind,
            left: len,
            fin,
        };
        Ok(())
    }

    fn data_kind(&self, compressed: bool) -> Payload {
        if compressed {
            Payload::Compressed
        } else {
            Payload::Data
        }
    }

    /// Unmasks `chunk` into where its frame kind collects.
    fn payload(&mut self, kind: Payload, chunk: &[u8], data: &mut Vec<u8>) {
        let sink = match kind {
            Payload::Data => data,
            Payload::Compressed => &mut self.compressed,
            Payload::Control(_) => &mut self.control,
        };
        let start = sink.len();
        sink.extend_from_slice(chunk);
        for (i, b) in sink[start..].iter_mut().enumerate() {
            *b ^= self.mask[(self.mask_pos + i) & 3];
        }
        self.mask_pos = (self.mask_pos + chunk.len()) & 3;
    }

    /// A frame's payload is complete.
    fn frame_done(
        &mut self,
        kind: Payload,
        fin: bool,
        controls: &mut Vec<Control>,
    ) -> Result<(), FrameError> {
        self.state = State::Header;
        match kind {
            Payload::Data => {}
            Payload::Compressed => {
                if fin {
                    controls.push(Control::Compressed(std::mem::take(&mut self.compressed)));
                }
            }
            Payload::Control(OP_PING) => controls.push(Control::Ping(self.control.clone())),
            Payload::Control(OP_PONG) => controls.push(Control::Pong),
            Payload::Control(_) => controls.push(parse_close(&self.control)?),
        }
        Ok(())
    }
}

/// The length of the header that starts with `hdr` (2 until the second byte is known); a
/// masked frame's header holds its key, unless masking was turned off.
fn header_len(hdr: &[u8], masked: bool) -> usize {
    let Some(&b1) = hdr.get(1) else { return 2 };
    let mask = if masked && b1 & 0x80 != 0 { 4 } else { 0 };
    match b1 & 0x7f {
        126 => 4 + mask,
        127 => 10 + mask,
        _ => 2 + mask,
    }
}

/// A close frame's payload: no status, or a valid status and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Control, FrameError> {
    match payload {
        [] => Ok(Control::Close {
            code: CLOSE_NO_STATUS,
            reason: String::new(),
        }),
        [_] => Err(FrameError::protocol("close frame payload cannot be 1 byte")),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let reserved = matches!(code, 1004..=1006 | 1015);
            if !(1000..5000).contains(&code) || reserved || (1016..3000).contains(&code) {
                return Err(FrameError::protocol(format!(
                    "invalid close status code {code}"
                )));
            }
            match std::str::from_utf8(rest) {
                Ok(reason) => Ok(Control::Close {
                    code,
                    reason: reason.to_string(),
                }),
                Err(_) => Err(FrameError {
                    code: CLOSE_INVALID_PAYLOAD,
                    reason: "invalid utf8 body in close frame".into(),
                }),
            }
        }
    }
}

/// Appends a server frame header (never masked) for a payload of `len` bytes.
pub fn write_header(out: &mut Vec<u8>, opcode: u8, compressed: bool, len: usize) {
    let b0 = 0x80 | if compressed { 0x40 } else { 0 } | (opcode & 0x0f);
    out.push(b0);
    if len < 126 {
        out.push(len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends a masked frame, as a client sends it (here: a leaf node dialing a hub's WebSocket
/// port): the header with the mask bit and `key`, then the payload masked with it.
pub fn write_masked_frame(
    out: &mut Vec<u8>,
    opcode: u8,
    compressed: bool,
    payload: &[u8],
    key: [u8; 4],
) {
    let start = out.len();
    write_header(out, opcode, compressed, payload.len());
    out[start + 1] |= 0x80;
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// Appends a close frame with `code` and `reason` ([`close_payload`]).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let payload = close_payload(code, reason);
    write_header(out, OP_CLOSE, false, payload.len());
    out.extend_from_slice(&payload);
}

/// A close frame's payload: `code`, then `reason`; a reason longer than a control frame
/// allows is cut to 120 bytes and `...`, as nats-server does.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let (text, ellipsis) = if reason.len() > CONTROL_MAX - 2 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        (&reason[..end], "...")
    } else {
        (reason, "")
    };
    let mut payload = Vec::with_capacity(2 + text.len() + ellipsis.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(text.as_bytes());
    payload.extend_from_slice(ellipsis.as_bytes());
    payload
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_frames_decode_as_a_server_reads_them() {
        let payload = b"LS+ $G foo\r\n".repeat(20);
        let mut wire = Vec::new();
        super::write_masked_frame(&mut wire, super::OP_BINARY, false, &payload, [1, 2, 3, 4]);
        assert_eq!(wire[1], 0x80 | 126, "mask bit and a 16-bit length");
        let mut dec = super::Decoder::new(false, true, 1 << 20);
        let (mut data, mut controls) = (Vec::new(), Vec::new());
        assert_eq!(
            dec.decode(&wire, &mut data, &mut controls).unwrap(),
            wire.len()
        );
        assert_eq!(data, payload);
    }

    use super::*;

    /// A client frame: masked with `mask`.
    fn frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, b0 & 0x0f, b0 & 0x40 != 0, payload.len());
        out[0] = b0;
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    fn decode_all(d: &mut Decoder, input: &[u8]) -> Result<(Vec<u8>, Vec<Control>), FrameError> {
        let (mut data, mut controls) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < input.len() {
            at += d.decode(&input[at..], &mut data, &mut controls)?;
        }
        Ok((data, controls))
    }

    #[test]
    fn data_frames_in_any_cut() {
        let mut wire = frame(0x82, b"PUB foo 2\r\nhi\r\n", [1, 2, 3, 4]);
        wire.extend(frame(0x81, b"PING\r\n", [9, 8, 7, 6]));
        let big = vec![b'x'; 70_000];
        wire.extend(frame(0x82, &big, [5, 5, 5, 5]));
        wire.extend(frame(0x89, b"hey", [1, 1, 1, 1]));
        let mut want = b"PUB foo 2\r\nhi\r\nPING\r\n".to_vec();
        want.extend_from_slice(&big);
        for cut in [1, 2, 3, 7, 13, 100, 4096, wire.len()] {
            let mut d = Decoder::new(false, true, 1 << 20);
            let (mut data, mut controls) = (Vec::new(), Vec::new());
            for piece in wire.chunks(cut) {
                let mut at = 0;
                while at < piece.len() {
                    at += d.decode(&piece[at..], &mut data, &mut controls).unwrap();
                }
            }
            assert_eq!(data, want, "cut {cut}");
            assert_eq!(controls, vec![Control::Ping(b"hey".to_vec())], "cut {cut}");
        }
    }

    #[test]
    fn fragments_and_controls_between_them() {
        let mut wire = frame(0x02, b"PUB a 1\r", [1, 2, 3, 4]);
        wire.extend(frame(0x89, b"", [0, 0, 0, 0]));
        wire.extend(frame(0x80, b"\nx\r\n", [4, 3, 2, 1]));
        let mut d = Decoder::new(false, true, 1 << 20);
        let (data, controls) = decode_all(&mut d, &wire).unwrap();
        assert_eq!(data, b"PUB a 1\r\nx\r\n");
        assert_eq!(controls, vec![Control::Ping(Vec::new())]);
    }

    #[test]
    fn close_frames() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let mut d = Decoder::new(false, true, 1 << 20);
        let (_, controls) = decode_all(&mut d, &frame(0x88, &payload, [7, 7, 7, 7])).unwrap();
        assert_eq!(
            controls,
            vec![Control::Close {
                code: 1000,
                reason: "bye".into()
            }]
        );
        let mut d = Decoder::new(false, true, 1 << 20);
        let (_, controls) = decode_all(&mut d, &frame(0x88, b"", [7, 7, 7, 7])).unwrap();
        assert_eq!(
            controls,
            vec![Control::Close {
                code: CLOSE_NO_STATUS,
                reason: String::new()
            }]
        );
    }

    #[test]
    fn refusals() {
        let unmasked = [0x82, 0x01, b'x'];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (unmasked.to_vec(), "mask bit missing"),
            (
                frame(0xC2, b"x", [1, 1, 1, 1]),
                "compressed frame received without negotiated permessage-deflate",
            ),
            (
                frame(0xA2, b"x", [1, 1, 1, 1]),
                "RSV2 and RSV3 must be clear",
            ),
            (frame(0x83, b"x", [1, 1, 1, 1]), "unknown opcode 3"),
            (
                frame(0x80, b"x", [1, 1, 1, 1]),
                "invalid continuation frame",
            ),
            (
                frame(0x09, b"x", [1, 1, 1, 1]),
                "control frame does not have final bit set",
            ),
            (
                frame(0x89, &[0; 126], [1, 1, 1, 1]),
                "control frame length bigger than maximum allowed of 125 bytes",
            ),
            (
                frame(0x88, b"x", [1, 1, 1, 1]),
                "close frame payload cannot be 1 byte",
            ),
            (
                frame(0x88, &1005u16.to_be_bytes(), [1, 1, 1, 1]),
                "invalid close status code 1005",
            ),
        ];
        for (wire, reason) in cases {
            let mut d = Decoder::new(false, true, 1 << 20);
            let err = decode_all(&mut d, &wire).unwrap_err();
            assert_eq!(err.reason, reason);
        }
        let mut wire = frame(0x02, b"a", [1, 1, 1, 1]);
        wire.extend(frame(0x82, b"b", [1, 1, 1, 1]));
        let mut d = Decoder::new(false, true, 1 << 20);
        assert_eq!(
            decode_all(&mut d, &wire).unwrap_err().reason,
            "new message started before final frame for previous message was received"
        );
    }

    #[test]
    fn compressed_messages_are_collected_whole() {
        let mut wire = frame(0x42, b"abc", [1, 2, 3, 4]);
        wire.extend(frame(0x80, b"def", [1, 2, 3, 4]));
        wire.extend(frame(0x82, b"plain", [1, 2, 3, 4]));
        let mut d = Decoder::new(true, true, 1 << 20);
        let (data, controls) = decode_all(&mut d, &wire).unwrap();
        assert_eq!(data, b"plain");
        assert_eq!(controls, vec![Control::Compressed(b"abcdef".to_vec())]);
        let mut d = Decoder::new(true, true, 4);
        let err = decode_all(&mut d, &frame(0xC2, b"abcdef", [1, 2, 3, 4])).unwrap_err();
        assert_eq!(err.code, CLOSE_MESSAGE_TOO_BIG);
    }

    #[test]
    fn unmasked_frames_when_masking_is_off() {
        let mut d = Decoder::new(false, false, 1 << 20);
        let (data, _) =
            decode_all(&mut d, &[0x82, 0x06, b'P', b'I', b'N', b'G', b'\r', b'\n']).unwrap();
        assert_eq!(data, b"PING\r\n");
    }

    /// Regression: plain data after a compressed message was appended before the message
    /// was inflated, so a PING overtook the CONNECT compressed ahead of it.
    #[test]
    fn decoding_stops_after_a_compressed_message_and_a_close() {
        let mut wire = frame(0xC2, b"zip", [1, 2, 3, 4]);
        wire.extend(frame(0x82, b"PING\r\n", [1, 2, 3, 4]));
        let mut d = Decoder::new(true, true, 1 << 20);
        let (mut data, mut controls) = (Vec::new(), Vec::new());
        let used = d.decode(&wire, &mut data, &mut controls).unwrap();
        assert_eq!(used, 9);
        assert!(data.is_empty());
        assert_eq!(controls, vec![Control::Compressed(b"zip".to_vec())]);
        let mut wire = frame(0x88, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
        wire.extend(frame(0x82, b"PING\r\n", [1, 2, 3, 4]));
        let mut d = Decoder::new(false, true, 1 << 20);
        let used = d.decode(&wire, &mut data, &mut controls).unwrap();
        assert_eq!(used, 8);
        assert!(data.is_empty());
    }

    #[test]
    fn server_headers() {
        let mut out = Vec::new();
        write_header(&mut out, OP_BINARY, false, 5);
        assert_eq!(out, [0x82, 5]);
        out.clear();
        write_header(&mut out, OP_BINARY, true, 300);
        assert_eq!(out, [0xC2, 126, 1, 44]);
        out.clear();
        write_header(&mut out, OP_BINARY, false, 70_000);
        assert_eq!(out[..2], [0x82, 127]);
        assert_eq!(out.len(), 10);
        out.clear();
        write_close(&mut out, 1008, "Authorization Violation");
        assert_eq!(out[..4], [0x88, 25, 0x03, 0xF0]);
        out.clear();
        write_close(&mut out, 1002, &"x".repeat(200));
        assert_eq!(out[1], 125);
        assert!(out.ends_with(b"x..."));
    }
}
