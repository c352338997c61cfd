//! Byte layout of a ring in its shared region.
//!
//! ```text
//! offset   0  head              u32, written by the producer only
//! offset  64  tail              u32, written by the consumer only
//! offset 128  consumer_waiting  u32, set by the consumer, cleared by either side
//! offset 192  producer_waiting  u32, set by the producer, cleared by either side
//! offset 256  slot 0 .. slot capacity-1, size_of::<T>() bytes each, no padding
//! ```
//!
//! Each header word has a 64-byte cache line to itself so that the producer's and the
//! consumer's stores do not bounce one line between cores. Indices run freely and wrap
//! at 2^32; the slot of index `i` is `i & (capacity - 1)`, which is why the capacity is a
//! power of two (2^32 is then a multiple of it, so wrapping keeps slots in sequence).
//! Slots are copied with `read_bytes`/`write_bytes`, so they need no alignment.

use core::sync::atomic::Ordering;

use crate::SharedMemory;

/// Size of the cache line each header word sits alone on.
pub const CACHE_LINE_BYTES: usize = 64;

/// Why a ring layout cannot be made or does not fit its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    InvalidCapacity { capacity: u32 },
    TooLarge { capacity: u32, item_size: usize },
    RegionTooSmall { needed: usize, available: usize },
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidCapacity { capacity } => {
                write!(f, "ring capacity {capacity} is not a power of two of at least 2")
            }
            Self::TooLarge { capacity, item_size } => {
                write!(f, "a ring of {capacity} slots of {item_size} bytes does not fit in the address space")
            }
            Self::RegionTooSmall { needed, available } => {
                write!(f, "the shared region has {available} bytes but the ring needs {needed}")
            }
        }
    }
}

impl core::error::Error for LayoutError {}

/// Layout of a ring of `capacity` slots of `item_size` bytes (see the module docs).
///
/// Made only through [`RingLayout::new`], so `capacity` is a power of two `>= 2` and
/// [`bytes_needed`](Self::bytes_needed) fits in a `usize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    capacity: u32,
    item_size: usize,
}

impl RingLayout {
    /// Offset of the producer index.
    pub const HEAD_OFFSET: usize = 0;
    /// Offset of the consumer index.
    pub const TAIL_OFFSET: usize = CACHE_LINE_BYTES;
    /// Offset of the flag the consumer sets before it sleeps waiting for items.
    pub const CONSUMER_WAITING_OFFSET: usize = 2 * CACHE_LINE_BYTES;
    /// Offset of the flag the producer sets before it sleeps waiting for space.
    pub const PRODUCER_WAITING_OFFSET: usize = 3 * CACHE_LINE_BYTES;
    /// Offset of slot 0.
    pub const SLOTS_OFFSET: usize = 4 * CACHE_LINE_BYTES;

    pub const fn new(capacity: u32, item_size: usize) -> Result<Self, LayoutError> {
        if capacity < 2 || !capacity.is_power_of_two() {
            return Err(LayoutError::InvalidCapacity { capacity });
        }
        let layout = RingLayout { capacity, item_size };
        match layout.checked_bytes_needed() {
            Some(_) => Ok(layout),
            None => Err(LayoutError::TooLarge { capacity, item_size }),
        }
    }

    /// The layout of a ring of `T`s.
    pub const fn for_item<T>(capacity: u32) -> Result<Self, LayoutError> {
        Self::new(capacity, core::mem::size_of::<T>())
    }

    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    pub const fn item_size(&self) -> usize {
        self.item_size
    }

    /// Bytes from the start of the region to the end of the last slot.
    pub const fn bytes_needed(&self) -> usize {
        match self.checked_bytes_needed() {
            Some(bytes) => bytes,
            // `new` rejected every layout for which this overflows.
            None => usize::MAX,
        }
    }

    const fn checked_bytes_needed(&self) -> Option<usize> {
        match (self.capacity as usize).checked_mul(self.item_size) {
            Some(slot_bytes) => slot_bytes.checked_add(Self::SLOTS_OFFSET),
            None => None,
        }
    }

    /// Offset of the slot that index `index` uses. Always inside `bytes_needed()`.
    pub const fn slot_offset(&self, index: u32) -> usize {
        Self::SLOTS_OFFSET + (index & (self.capacity - 1)) as usize * self.item_size
    }

    /// Checks that `memory` is large enough for this layout.
    pub fn check(&self, memory: &impl SharedMemory) -> Result<(), LayoutError> {
        let (needed, available) = (self.bytes_needed(), memory.size());
        if available < needed {
            return Err(LayoutError::RegionTooSmall { needed, available });
        }
        Ok(())
    }

    /// Zeroes the header (both indices and both flags). Done once, before either end
    /// attaches: the ends read their starting index from the header when they are made.
    pub fn init_header(&self, memory: &impl SharedMemory) -> Result<(), LayoutError> {
        self.check(memory)?;
        for offset in
            [Self::HEAD_OFFSET, Self::TAIL_OFFSET, Self::CONSUMER_WAITING_OFFSET, Self::PRODUCER_WAITING_OFFSET]
        {
            memory.store_u32(offset, 0, Ordering::Release);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_needed_is_header_plus_slots() {
        let layout = RingLayout::new(8, 12).unwrap();
        assert_eq!(layout.bytes_needed(), 256 + 8 * 12);
        assert_eq!(layout.slot_offset(0), 256);
        assert_eq!(layout.slot_offset(9), 256 + 12);
        assert_eq!(layout.slot_offset(u32::MAX), 256 + 7 * 12);
    }

    #[test]
    fn capacity_must_be_a_power_of_two_of_at_least_two() {
        for capacity in [0, 1, 3, 6, 100, u32::MAX] {
            assert_eq!(RingLayout::new(capacity, 4), Err(LayoutError::InvalidCapacity { capacity }));
        }
        assert!(RingLayout::new(1 << 31, 0).is_ok());
    }

    #[test]
    fn overflowing_layout_is_rejected() {
        assert_eq!(
            RingLayout::new(1 << 31, usize::MAX / 2),
            Err(LayoutError::TooLarge { capacity: 1 << 31, item_size: usize::MAX / 2 })
        );
    }
}
