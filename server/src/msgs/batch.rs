//! The inter-worker wire format: deliveries from one worker to another's connections,
//! encoded into one buffer and handed over in one channel send per loop iteration.

use crate::ids::{Slot, WorkerId};
use crate::sub::Sub;
use std::sync::Arc;

/// Deliveries from one worker to another, handed over in one channel send.
#[derive(Debug)]
pub struct Batch {
    /// The sending worker.
    pub from: WorkerId,
    /// Records: `slot: u32 | cid: u64 | len: u32 | reply_len: u32 | payload_len: u32 |
    /// encoded MSG/HMSG bytes | reply`, little-endian. The reply is only carried to subscribers with response
    /// permissions, which must learn what they may answer.
    pub msgs: Vec<u8>,
    /// Subscriptions that reached their auto-unsubscribe limit with a message in this batch;
    /// applied after the messages.
    pub auto_unsubs: Vec<Arc<Sub>>,
    /// Number of message records.
    pub count: u32,
}

const RECORD_HEADER: usize = 4 + 8 + 4 + 4 + 4;

impl Batch {
    /// An empty batch from `from` that fills `buffer` (emptied first).
    pub fn with_buffer(from: WorkerId, mut buffer: Vec<u8>) -> Batch {
        buffer.clear();
        Batch {
            from,
            msgs: buffer,
            auto_unsubs: Vec::new(),
            count: 0,
        }
    }

    /// An empty batch from `from`.
    pub fn new(from: WorkerId) -> Batch {
        Batch {
            from,
            msgs: Vec::new(),
            auto_unsubs: Vec::new(),
            count: 0,
        }
    }

    /// Whether there is nothing to hand over.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.auto_unsubs.is_empty()
    }

    /// Appends one record: the delivery `encode` writes, for connection `slot`/`cid` of the
    /// receiving worker, with `reply` carried for response permissions and the size of the
    /// message's payload for the receiver's byte counts.
    pub fn push_msg(
        &mut self,
        slot: Slot,
        cid: u64,
        reply: Option<&[u8]>,
        payload_len: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = self.msgs.len();
        let reply = reply.unwrap_or_default();
        self.msgs.extend_from_slice(&(slot.0 as u32).to_le_bytes());
        self.msgs.extend_from_slice(&cid.to_le_bytes());
        self.msgs.extend_from_slice(&[0; 4]);
        self.msgs
            .extend_from_slice(&(reply.len() as u32).to_le_bytes());
        self.msgs
            .extend_from_slice(&(payload_len as u32).to_le_bytes());
        encode(&mut self.msgs);
        let len = (self.msgs.len() - start - RECORD_HEADER) as u32;
        self.msgs[start + 12..start + 16].copy_from_slice(&len.to_le_bytes());
        self.msgs.extend_from_slice(reply);
        self.count += 1;
    }
}

/// One record of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Connection slot in the receiving worker.
    pub slot: Slot,
    /// Connection id (slots are reused).
    pub cid: u64,
    /// The encoded MSG/HMSG.
    pub bytes: &'a [u8],
    /// The reply subject, for response permissions; empty if none.
    pub reply: &'a [u8],
    /// Size of the message (headers included), for byte counts.
    pub payload_len: usize,
}

/// Iterates a batch's message records.
pub fn records(msgs: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos == msgs.len() {
            return None;
        }
        // Batches are written by `push_msg` only, on the same machine: a record cut short is a
        // bug, not input to tolerate.
        debug_assert!(pos + RECORD_HEADER <= msgs.len(), "truncated batch record");
        if pos + RECORD_HEADER > msgs.len() {
            return None;
        }
        let word = |at: usize, n: usize| &msgs[pos + at..pos + at + n];
        let slot = Slot(u32::from_le_bytes(word(0, 4).try_into().ok()?) as usize);
        let cid = u64::from_le_bytes(word(4, 8).try_into().ok()?);
        let len = u32::from_le_bytes(word(12, 4).try_into().ok()?) as usize;
        let reply_len = u32::from_le_bytes(word(16, 4).try_into().ok()?) as usize;
        let payload_len = u32::from_le_bytes(word(20, 4).try_into().ok()?) as usize;
        let start = pos + RECORD_HEADER;
        let bytes = msgs.get(start..start + len)?;
        let reply = msgs.get(start + len..start + len + reply_len)?;
        pos = start + len + reply_len;
        Some(Record {
            slot,
            cid,
            bytes,
            reply,
            payload_len,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_records_round_trip() {
        let mut b = Batch::new(WorkerId(0));
        b.push_msg(Slot(3), 42, None, 0, |out| {
            out.extend_from_slice(b"MSG a 1 0\r\n\r\n")
        });
        b.push_msg(Slot(7), 43, Some(b"r"), 1, |out| {
            out.extend_from_slice(b"x")
        });
        let got: Vec<_> = records(&b.msgs)
            .map(|r| (r.slot, r.cid, r.payload_len, [r.bytes, r.reply].concat()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Slot(3), 42, 0, b"MSG a 1 0\r\n\r\n".to_vec()),
                (Slot(7), 43, 1, b"xr".to_vec())
            ]
        );
        assert_eq!(b.count, 2);
        assert!(!b.is_empty());
        assert!(Batch::new(WorkerId(1)).is_empty());
    }
}
