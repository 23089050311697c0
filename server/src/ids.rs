//! Typed ids for the workers' bookkeeping, so that a connection's slot and a worker's index,
//! both small integers, cannot be mixed up.

use std::fmt;

/// A worker thread's index: its place in [`crate::shared::Shared::workers`], and the `from`
/// of the batches it sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub usize);

/// A connection's place in its worker's slab (`worker::conns`). Slots are reused once a
/// connection closes, so whatever keeps a slot for later (a timer, a batch record, a
/// subscription) keeps the connection id beside it and checks both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub usize);

impl WorkerId {
    /// The id of the server's internal subscriptions, which belong to no worker.
    pub const NONE: WorkerId = WorkerId(usize::MAX);
}

impl Slot {
    /// The slot of the server's internal subscriptions, which have no connection.
    pub const NONE: Slot = Slot(usize::MAX);
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
