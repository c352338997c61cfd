//! # kaal-ipc: shared-memory channels between isolated components
//!
//! Layer 3. Two components in separate address spaces map the same frames and talk
//! through single-producer single-consumer rings in them, waking each other with seL4
//! notifications only when the other side said it is about to sleep.
//!
//! * [`layout`]: where the indices, the wake-up flags and the slots of a ring lie.
//! * [`ring`]: [`Producer`] and [`Consumer`], the index logic and the lost-wake-up-free
//!   signalling protocol (the argument is in that module's docs).
//! * [`bulk`]: zero-copy transfer of large payloads through a data region split into
//!   fixed-size buffers, handed back and forth on two rings of [`BulkDescriptor`]s.
//!
//! * [`sel4`]: the implementations for `kaal-core`'s shared regions and notifications;
//!   [`window`] lets one region hold several rings.
//! * [`ring_grant`]: the ends of rings a component was granted by name in system.toml.
//!
//! Everything is generic over [`SharedMemory`], [`Notify`] and [`Wait`], so the same code
//! runs on mapped frames with seL4 notifications and, in tests, on std or loom types.
//! The peer is not trusted: whatever it writes into the shared region, this crate
//! returns an error rather than panicking, reading out of bounds or spinning.
#![no_std]
#![forbid(unsafe_code)]
// Error types implement Display by hand rather than with thiserror: host crates in the
// workspace enable thiserror's `std` feature, and cargo's feature unification would then
// link std into no_std images built together with them.

extern crate alloc;

pub mod block;
pub mod bulk;
pub mod layout;
pub mod net;
pub mod ring;
pub mod ring_grant;
pub mod sel4;
pub mod window;

use core::sync::atomic::Ordering;

pub use bulk::{BulkBuffer, BulkDescriptor, BulkError, BulkLayout, BulkReceiver, BulkSender};
pub use layout::{LayoutError, RingLayout};
pub use ring::{Consumer, Producer, RingError};
pub use sel4::{RingConsumer, RingProducer};
pub use window::{Window, WindowError};

/// Memory shared by the two ends of a channel. Offsets are in bytes from the start of
/// the region. The region's content may be written by a distrusting peer at any time.
///
/// The ring code only touches offsets below [`RingLayout::bytes_needed`], which it
/// checks against [`size`](Self::size) once, when a [`Producer`] or [`Consumer`] is made;
/// so `size` must not shrink afterwards.
pub trait SharedMemory {
    /// Size of the region in bytes.
    fn size(&self) -> usize;
    /// Atomic load of the u32 at `offset` (4-byte aligned).
    fn load_u32(&self, offset: usize, order: Ordering) -> u32;
    /// Atomic store of the u32 at `offset` (4-byte aligned).
    fn store_u32(&self, offset: usize, value: u32, order: Ordering);
    /// A memory fence.
    fn fence(&self, order: Ordering);
    /// Copies bytes out of the region (not atomic).
    fn read_bytes(&self, offset: usize, out: &mut [u8]);
    /// Copies bytes into the region (not atomic).
    fn write_bytes(&self, offset: usize, data: &[u8]);

    /// Reads the little-endian u64 at `offset`, in place (for checksumming bulk payloads
    /// without copying them out). Implementations may override it with a faster path.
    fn read_u64(&self, offset: usize) -> u64 {
        let mut bytes = [0; 8];
        self.read_bytes(offset, &mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// Writes the little-endian u64 at `offset`, in place (for filling bulk payloads).
    fn write_u64(&self, offset: usize, value: u64) {
        self.write_bytes(offset, &value.to_le_bytes())
    }

    /// Folds `f` over the `count` little-endian u64s from `offset`, reading them in place:
    /// how a receiver consumes a bulk payload without copying it out. Implementations
    /// may check bounds once for the whole range.
    fn fold_u64<A>(&self, offset: usize, count: usize, init: A, mut f: impl FnMut(A, u64) -> A) -> A
    where
        Self: Sized,
    {
        (0..count).fold(init, |acc, i| f(acc, self.read_u64(offset + 8 * i)))
    }
}

/// Wakes the other end (an seL4 notification signal in the real system).
pub trait Notify {
    fn notify(&self);
}

/// Blocks until the other end notifies (an seL4 notification wait). May return spuriously.
///
/// A notification sent while nobody waits must not be lost: the next `wait` returns at
/// once, as with an seL4 notification, whose word stays set until a wait consumes it.
pub trait Wait {
    fn wait(&self);
}

impl<S: SharedMemory> SharedMemory for &S {
    fn size(&self) -> usize {
        (**self).size()
    }
    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        (**self).load_u32(offset, order)
    }
    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        (**self).store_u32(offset, value, order)
    }
    fn fence(&self, order: Ordering) {
        (**self).fence(order)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        (**self).read_bytes(offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        (**self).write_bytes(offset, data)
    }
    fn read_u64(&self, offset: usize) -> u64 {
        (**self).read_u64(offset)
    }
    fn write_u64(&self, offset: usize, value: u64) {
        (**self).write_u64(offset, value)
    }
    fn fold_u64<A>(&self, offset: usize, count: usize, init: A, f: impl FnMut(A, u64) -> A) -> A {
        (**self).fold_u64(offset, count, init, f)
    }
}

impl<N: Notify + ?Sized> Notify for &N {
    fn notify(&self) {
        (**self).notify()
    }
}

impl<W: Wait + ?Sized> Wait for &W {
    fn wait(&self) {
        (**self).wait()
    }
}

/// Whether the other end has to be notified after an operation.
///
/// `Needed` means the peer announced it is going to sleep and the flag saying so has
/// been cleared by this operation: if the caller drops it, the peer may sleep forever.
#[must_use = "the peer may be asleep waiting for this signal"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    Needed,
    NotNeeded,
}

impl Wake {
    pub fn is_needed(self) -> bool {
        self == Wake::Needed
    }

    /// `Needed` if either is; for operations that end in one notification.
    pub fn or(self, other: Wake) -> Wake {
        if self.is_needed() || other.is_needed() {
            Wake::Needed
        } else {
            Wake::NotNeeded
        }
    }

    /// Calls `notify` if needed.
    pub fn signal(self, notify: &impl Notify) {
        if self.is_needed() {
            notify.notify();
        }
    }
}
