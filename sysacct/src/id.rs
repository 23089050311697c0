//! Event ids: 22 base-62 characters, a random prefix and a sequence, like a NUID, so ids are
//! unique without coordination and cheap to make.

use std::sync::atomic::{AtomicU64, Ordering};

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX_LEN: usize = 12;
const SEQ_LEN: usize = 10;

/// A generator of unique ids.
#[derive(Debug)]
pub struct IdGen {
    prefix: [u8; PREFIX_LEN],
    seq: AtomicU64,
}

impl Default for IdGen {
    fn default() -> Self {
        IdGen::new()
    }
}

impl IdGen {
    /// A generator with a random prefix and sequence start.
    pub fn new() -> IdGen {
        let mut prefix = [0u8; PREFIX_LEN];
        for b in prefix.iter_mut() {
            *b = DIGITS[rand::random::<usize>() % DIGITS.len()];
        }
        IdGen {
            prefix,
            seq: AtomicU64::new(rand::random::<u32>() as u64),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let mut n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(PREFIX_LEN + SEQ_LEN);
        out.extend_from_slice(&self.prefix);
        let mut seq = [b'0'; SEQ_LEN];
        for slot in seq.iter_mut().rev() {
            *slot = DIGITS[(n % 62) as usize];
            n /= 62;
        }
        out.extend_from_slice(&seq);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_and_shaped() {
        let g = super::IdGen::new();
        let a = g.next_id();
        let b = g.next_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert_eq!(a[..12], b[..12]);
    }
}
