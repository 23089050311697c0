//! The worker's connections: a slab of slots, each empty or holding one [`Conn`].
//!
//! A slot number is what timers, batches from other workers and subscriptions (`Sub.slot`)
//! use to find a connection; since slots are reused, each of them also carries the
//! connection id and checks it. The mio [`Token`] of a connection is its slot plus one
//! (token 0 is the worker's waker); [`Conns::token`] and [`Conns::slot_of`] are the only
//! places that know it.

use super::conn::Conn;
use crate::ids::Slot;
use mio::Token;

/// The slab.
#[derive(Default)]
pub struct Conns {
    slots: Vec<Option<Conn>>,
    /// Empty slots below `slots.len()`, reused before the slab grows.
    free: Vec<Slot>,
}

impl Conns {
    /// The mio token of `slot`.
    pub fn token(slot: Slot) -> Token {
        Token(slot.0 + 1)
    }

    /// The slot of a connection's token (not the waker's).
    pub fn slot_of(token: Token) -> Slot {
        debug_assert!(token.0 > 0, "token 0 is the waker");
        Slot(token.0 - 1)
    }

    /// Picks an empty slot for a new connection; [`Conns::fill`] or [`Conns::unreserve`]
    /// must follow.
    pub fn reserve(&mut self) -> Slot {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            Slot(self.slots.len() - 1)
        })
    }

    /// Gives back a reserved slot that was not filled.
    pub fn unreserve(&mut self, slot: Slot) {
        assert!(self.slots[slot.0].is_none(), "slot {slot} is in use");
        self.free.push(slot);
    }

    /// Puts a connection in a reserved slot.
    pub fn fill(&mut self, slot: Slot, conn: Conn) {
        assert!(self.slots[slot.0].is_none(), "slot {slot} is in use");
        self.slots[slot.0] = Some(conn);
    }

    /// Takes the connection out of `slot` and frees the slot.
    pub fn take(&mut self, slot: Slot) -> Option<Conn> {
        let conn = self.slots.get_mut(slot.0).and_then(Option::take)?;
        self.free.push(slot);
        Some(conn)
    }

    /// The connection in `slot`, if any.
    #[inline]
    pub fn get(&self, slot: Slot) -> Option<&Conn> {
        self.slots.get(slot.0).and_then(Option::as_ref)
    }

    /// The connection in `slot`, if any.
    #[inline]
    pub fn get_mut(&mut self, slot: Slot) -> Option<&mut Conn> {
        self.slots.get_mut(slot.0).and_then(Option::as_mut)
    }

    /// The connection in `slot` if it is still connection `cid` (slots are reused).
    #[inline]
    pub fn get_live(&mut self, slot: Slot, cid: u64) -> Option<&mut Conn> {
        self.get_mut(slot).filter(|c| c.cid == cid)
    }

    /// The slot of connection `cid`, if it is on this worker.
    pub fn find_cid(&self, cid: u64) -> Option<Slot> {
        self.iter()
            .find(|(_, c)| c.cid == cid)
            .map(|(slot, _)| slot)
    }

    /// Every connection with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (Slot, &Conn)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| c.as_ref().map(|c| (Slot(slot), c)))
    }

    /// The slots in use now, for loops that change connections as they go.
    pub fn slots(&self) -> Vec<Slot> {
        self.iter().map(|(slot, _)| slot).collect()
    }

    /// How many connections there are.
    pub fn count(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_slots_round_trip() {
        for slot in [0, 1, 41] {
            assert_eq!(Conns::slot_of(Conns::token(Slot(slot))), Slot(slot));
        }
        assert_eq!(Conns::token(Slot(0)), Token(1));
    }

    #[test]
    fn reserved_slots_are_reused() {
        let mut conns = Conns::default();
        let a = conns.reserve();
        let b = conns.reserve();
        assert_ne!(a, b);
        conns.unreserve(a);
        assert_eq!(conns.reserve(), a);
        assert!(conns.get(a).is_none());
        assert!(conns.take(b).is_none());
    }
}
