//! Device registers mapped into memory (MMIO).
//!
//! An [`MmioRegion`] is device memory mapped uncached. Every access is volatile and of
//! exactly the width asked for, because device registers have side effects and must
//! not be merged, split, reordered or elided. Offsets are checked against the region.

use crate::error::{Error, Result};
use crate::vspace::{CacheAttr, Device, Frame, ObjectAllocator, ReadWrite, Small, VSpace, PAGE_SIZE};

/// Device memory mapped uncached at consecutive virtual addresses.
#[derive(Debug)]
pub struct MmioRegion {
    vaddr: u64,
    paddr: u64,
    size: usize,
}

impl MmioRegion {
    /// Maps device `frames` (consecutive, starting at physical `paddr`) at `vaddr`.
    pub fn map(
        frames: impl IntoIterator<Item = Frame<Small, Device>>,
        paddr: u64,
        vspace: &mut VSpace,
        vaddr: u64,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<Self> {
        let mut size = 0;
        for frame in frames {
            if frame.paddr() != paddr + size as u64 {
                return Err(Error::BadAddress {
                    vaddr: frame.paddr(),
                    why: "MMIO frames must be physically consecutive",
                });
            }
            let mapped = frame.map_with(vspace, vaddr + size as u64, ReadWrite, CacheAttr::CacheDisabled, alloc)?;
            mapped.leak();
            size += PAGE_SIZE;
        }
        Ok(Self { vaddr, paddr, size })
    }

    /// Device memory someone else mapped uncached at `vaddr` (a component's grant).
    ///
    /// # Safety
    /// `size` bytes at `vaddr` must stay mapped uncached to device memory starting at
    /// `paddr` for the program's life, and no other handle may cover them.
    pub(crate) unsafe fn from_mapping(vaddr: u64, paddr: u64, size: usize) -> Self {
        Self { vaddr, paddr, size }
    }

    /// Physical address of the first byte.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Where the first byte is mapped: for device libraries that take raw pointers to
    /// registers (virtio-drivers). Accesses through it bypass this type's bounds checks,
    /// so they need `unsafe` in the library that makes them.
    pub fn vaddr(&self) -> u64 {
        self.vaddr
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn at<T>(&self, offset: usize) -> Result<usize> {
        let width = core::mem::size_of::<T>();
        if !offset.is_multiple_of(width) || offset.checked_add(width).is_none_or(|end| end > self.size) {
            return Err(Error::BadAddress {
                vaddr: self.vaddr + offset as u64,
                why: "MMIO access out of range or misaligned",
            });
        }
        Ok(self.vaddr as usize + offset)
    }

    /// Reads the register of type `T` (u8, u16, u32 or u64) at `offset`.
    pub fn read<T: MmioWord>(&self, offset: usize) -> Result<T> {
        let addr = self.at::<T>(offset)?;
        // SAFETY: inside the mapped region, aligned to the access width; volatile.
        Ok(unsafe { core::ptr::read_volatile(addr as *const T) })
    }

    /// Writes the register of type `T` at `offset`.
    pub fn write<T: MmioWord>(&self, offset: usize, value: T) -> Result<()> {
        let addr = self.at::<T>(offset)?;
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(addr as *mut T, value) };
        Ok(())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Register widths MMIO accesses may use.
pub trait MmioWord: sealed::Sealed + Copy {}
macro_rules! mmio_words {
    ($($t:ty),*) => { $( impl sealed::Sealed for $t {} impl MmioWord for $t {} )* };
}
mmio_words!(u8, u16, u32, u64);
