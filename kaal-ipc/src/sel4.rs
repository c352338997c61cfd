//! The seL4 side: rings in `kaal-core` shared regions, woken by `kaal-core`
//! notifications.
//!
//! The root task creates a [`SharedRegion`], initialises the ring header in it once
//! ([`crate::RingLayout::init_header`]) and grants the region to both components with a
//! notification per direction. Each component then attaches its end:
//!
//! ```ignore
//! let ring = me.region("ring")?;
//! let mut tx: RingProducer<u64> = Producer::new(ring, 64)?;
//! tx.push_blocking(42, &data_ready, &space_free)?;
//! ```

use core::sync::atomic::Ordering;

use kaal_core::shared::SharedRegion;
use kaal_core::Notification;

use crate::{Consumer, Notify, Producer, SharedMemory, Wait};

impl SharedMemory for SharedRegion {
    fn size(&self) -> usize {
        SharedRegion::size(self)
    }
    fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        SharedRegion::load_u32(self, offset, order)
    }
    fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        SharedRegion::store_u32(self, offset, value, order)
    }
    fn fence(&self, order: Ordering) {
        SharedRegion::fence(self, order)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        SharedRegion::read_bytes(self, offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) {
        SharedRegion::write_bytes(self, offset, data)
    }
    fn read_u64(&self, offset: usize) -> u64 {
        SharedRegion::read_u64(self, offset)
    }
    fn write_u64(&self, offset: usize, value: u64) {
        SharedRegion::write_u64(self, offset, value)
    }
    fn fold_u64<A>(&self, offset: usize, count: usize, init: A, f: impl FnMut(A, u64) -> A) -> A {
        SharedRegion::fold_u64(self, offset, count, init, f)
    }
}

impl Notify for Notification {
    fn notify(&self) {
        self.signal()
    }
}

impl Wait for Notification {
    fn wait(&self) {
        // The badge bits are not needed: one notification per direction.
        let _ = Notification::wait(self);
    }
}

/// The producing end of a ring in a shared region.
pub type RingProducer<T, M = SharedRegion> = Producer<T, M>;
/// The consuming end of a ring in a shared region.
pub type RingConsumer<T, M = SharedRegion> = Consumer<T, M>;
