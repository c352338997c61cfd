//! What the lesson's ring producer and consumer agree on.
#![no_std]
#![forbid(unsafe_code)]

use core::cell::Cell;

/// Slots in the ring.
pub const CAPACITY: u32 = 64;
/// Values sent.
pub const MESSAGES: u64 = 100_000;
/// Values go in batches of this many after the first half.
pub const BATCH: usize = 32;

/// The `i`th value sent.
pub fn value(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i
}

/// The running checksum both sides compute (order-sensitive).
pub fn checksum(acc: u64, value: u64) -> u64 {
    (acc ^ value).wrapping_mul(0x100_0000_01b3)
}

/// A notification that counts how often it was actually signalled, to show how much
/// signal suppression saves.
pub struct Counted<'a, N> {
    inner: &'a N,
    count: Cell<u64>,
}

impl<'a, N: kaal_ipc::Notify> Counted<'a, N> {
    pub fn new(inner: &'a N) -> Self {
        Self { inner, count: Cell::new(0) }
    }

    /// Signals sent so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }
}

impl<N: kaal_ipc::Notify> kaal_ipc::Notify for Counted<'_, N> {
    fn notify(&self) {
        self.count.set(self.count.get() + 1);
        self.inner.notify();
    }
}
