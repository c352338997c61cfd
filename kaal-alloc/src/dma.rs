//! DMA pools: physically contiguous memory with known physical addresses.
//!
//! A device that reads or writes memory on its own (DMA) needs buffers it can name by
//! physical address, in one piece. A [`DmaPool`] takes one untyped block of RAM (which
//! is physically contiguous by construction), maps it, checks with the kernel that its
//! frames really are consecutive, and hands out aligned buffers from it, first fit, in
//! units of [`UNIT`] bytes. The map of used units lives in the pool handle, outside the
//! pool's memory, which the device can write. Freeing a buffer returns it to its pool;
//! a buffer of another pool is refused. When the pool is exhausted, the error names the
//! pool and says how big it is. A pool's physical address always comes from the kernel
//! or the supervisor, never from a caller, because a device will write wherever it
//! points. (Written by hand rather than with a crate: the allocators on crates.io keep
//! their free lists inside the memory they manage, or allocate on the heap.)
//!
//! Buffers are accessed through volatile reads and writes (the device is not a Rust
//! thread, so the compiler must not assume memory it cannot see stays unchanged).

use core::sync::atomic::{AtomicU32, Ordering};

use kaal_core::error::{Bytes, Rejected};
use kaal_core::shared::SharedRegion;
use kaal_core::vspace::{CacheAttr, VSpace};
use kaal_core::{Error, Result};

use kaal_core::component::Component;

use crate::UntypedAllocator;

/// Buffers are handed out in units of this many bytes (and aligned to at least it).
pub const UNIT: usize = 128;
/// The largest pool: the free map has one bit per unit and lives in the pool handle.
pub const MAX_POOL: usize = 4 << 20;
const MAP_WORDS: usize = MAX_POOL / UNIT / 64;

/// Each pool's number, so a buffer can only go back to the pool it came from.
static NEXT_POOL: AtomicU32 = AtomicU32::new(1);

/// A pool of DMA-able memory.
///
/// Which units are in use is kept here, in the root task's or component's own memory,
/// never inside the pool: the pool is shared with a device (and, for a component's
/// granted memory, mapped by its root task too), and bookkeeping the device could write
/// would let it steer the allocator.
pub struct DmaPool {
    name: &'static str,
    id: u32,
    region: SharedRegion,
    paddr: u64,
    /// Units in the pool.
    units: usize,
    /// Bit `i` set: unit `i` is handed out.
    used: [u64; MAP_WORDS],
    used_units: usize,
}

impl core::fmt::Debug for DmaPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DmaPool({:?}, {} at physical {:#x})", self.name, Bytes(self.size() as u64), self.paddr)
    }
}

/// A buffer from a [`DmaPool`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "DMA buffers go back to their pool with DmaPool::free"]
pub struct DmaBuffer {
    pool: u32,
    offset: usize,
    len: usize,
    paddr: u64,
}

impl DmaBuffer {
    /// Physical address, for the device.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn units(&self) -> usize {
        self.len.max(1).div_ceil(UNIT)
    }
}

impl DmaPool {
    /// A pool of `2^size_bits` bytes from `memory`, mapped at `vaddr` in `vspace` (the
    /// caller's address space) with write-back caching (x86 DMA is cache-coherent).
    pub fn new(
        name: &'static str,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
        vaddr: u64,
        size_bits: u8,
    ) -> Result<Self> {
        if size_bits as u32 > MAX_POOL.trailing_zeros() {
            return Err(Error::InvalidSize { what: "DMA pool (bytes)", value: 1 << size_bits, limit: MAX_POOL as u64 });
        }
        let (region, paddr) = memory.contiguous(vspace, vaddr, size_bits, CacheAttr::WriteBack)?;
        Self::from_region(name, region, paddr)
    }

    /// A pool over `region`, which is physically contiguous RAM starting at `paddr`.
    ///
    /// Private: the physical address goes to a device, which will read and write there
    /// whatever it is, so it must come from the kernel (`new`) or the supervisor
    /// (`granted`), never from a caller.
    fn from_region(name: &'static str, region: SharedRegion, paddr: u64) -> Result<Self> {
        if !region.is_writable() || region.size() == 0 || paddr == 0 {
            return Err(Error::WrongCapability {
                expected: "writable DMA memory",
                found: "a read-only or empty region",
            });
        }
        if region.size() > MAX_POOL {
            return Err(Error::InvalidSize {
                what: "DMA pool (bytes)",
                value: region.size() as u64,
                limit: MAX_POOL as u64,
            });
        }
        let id = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
        let units = region.size() / UNIT;
        Ok(Self { name, id, region, paddr, units, used: [0; MAP_WORDS], used_units: 0 })
    }

    /// The DMA memory the root task granted this component as `grant` (`dma` in
    /// system.toml), as a pool named after the component.
    pub fn granted(me: &mut Component, grant: &str) -> Result<Self> {
        let (region, info) = me.region_with_info(grant)?;
        if info.paddr == 0 {
            return Err(Error::WrongGrantKind {
                name: kaal_core::component::Name::truncated(grant),
                expected: "DMA memory",
                granted: "a shared region without a physical address",
            });
        }
        Self::from_region(me.name(), region, info.paddr)
    }

    /// The pool's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.region.size()
    }

    /// Physical address of the pool's first byte.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Where the pool is mapped (in the address space that created or was granted it).
    pub fn vaddr(&self) -> u64 {
        self.region.vaddr()
    }

    /// Where `buffer` is mapped: for device libraries that take raw pointers into DMA
    /// memory (virtio-drivers' `Hal`). `None` for a buffer of another pool.
    pub fn vaddr_of(&self, buffer: &DmaBuffer) -> Option<u64> {
        (buffer.pool == self.id).then(|| self.region.vaddr() + buffer.offset as u64)
    }

    /// Bytes not handed out.
    pub fn available(&self) -> usize {
        (self.units - self.used_units) * UNIT
    }

    fn is_used(&self, unit: usize) -> bool {
        self.used[unit / 64] & (1 << (unit % 64)) != 0
    }

    fn mark(&mut self, first: usize, count: usize, used: bool) {
        for unit in first..first + count {
            if used {
                self.used[unit / 64] |= 1 << (unit % 64);
            } else {
                self.used[unit / 64] &= !(1 << (unit % 64));
            }
        }
        if used {
            self.used_units += count;
        } else {
            self.used_units -= count;
        }
    }

    /// The first free run of `count` units starting at a multiple of `step`.
    fn find(&self, count: usize, step: usize) -> Option<usize> {
        let mut start = 0;
        while start + count <= self.units {
            // Whole words of used units at once (a pool with many small buffers out,
            // as a Linux driver's receive ring keeps, is mostly such words).
            if start.is_multiple_of(64) && self.used[start / 64] == u64::MAX {
                start = (start + 64).div_ceil(step) * step;
                continue;
            }
            match (start..start + count).find(|u| self.is_used(*u)) {
                None => return Some(start),
                // Skip past the used unit, to the next aligned start.
                Some(used) => start = (used + 1).div_ceil(step) * step,
            }
        }
        None
    }

    /// A zeroed buffer of `len` bytes aligned to `align` (a power of two, in the pool's
    /// physical addresses).
    pub fn alloc(&mut self, len: usize, align: usize) -> Result<DmaBuffer> {
        if !align.is_power_of_two() || align > self.size().max(UNIT) {
            return Err(Error::InvalidSize {
                what: "DMA buffer alignment",
                value: align as u64,
                limit: self.size() as u64,
            });
        }
        // The pool's physical base is aligned to its size (an untyped block), so an
        // offset aligned to `align` is a physical address aligned to it.
        let step = align.max(UNIT) / UNIT;
        let count = len.max(1).div_ceil(UNIT);
        let first = self.find(count, step).ok_or(Error::LimitReached {
            what: self.name,
            requested: len as u64,
            available: self.available() as u64,
            limit: self.size() as u64,
            fix: "free buffers first, or make the DMA pool bigger",
        })?;
        self.mark(first, count, true);
        let offset = first * UNIT;
        let buffer = DmaBuffer { pool: self.id, offset, len, paddr: self.paddr + offset as u64 };
        self.fill(&buffer, 0);
        Ok(buffer)
    }

    /// Returns `buffer` to the pool. A buffer from another pool is refused and handed
    /// back, so it can still go to its own.
    pub fn free(&mut self, buffer: DmaBuffer) -> core::result::Result<(), Rejected<DmaBuffer>> {
        if buffer.pool != self.id {
            return Err(Rejected { error: self.foreign(), value: buffer });
        }
        let (first, count) = (buffer.offset / UNIT, buffer.units());
        debug_assert!((first..first + count).all(|u| self.is_used(u)), "a pool's own buffer is in use");
        self.mark(first, count, false);
        Ok(())
    }

    fn foreign(&self) -> Error {
        Error::WrongCapability { expected: "a buffer of this DMA pool", found: "a buffer of another pool" }
    }

    /// Copies `data` into `buffer` at `offset`.
    pub fn write(&self, buffer: &DmaBuffer, offset: usize, data: &[u8]) -> Result<()> {
        self.check(buffer, offset, data.len())?;
        self.region.write_bytes(buffer.offset + offset, data);
        Ok(())
    }

    /// Copies bytes of `buffer` from `offset` into `out`.
    pub fn read(&self, buffer: &DmaBuffer, offset: usize, out: &mut [u8]) -> Result<()> {
        self.check(buffer, offset, out.len())?;
        self.region.read_bytes(buffer.offset + offset, out);
        Ok(())
    }

    fn fill(&self, buffer: &DmaBuffer, byte: u8) {
        let chunk = [byte; 64];
        let mut at = 0;
        while at < buffer.len {
            let n = (buffer.len - at).min(chunk.len());
            self.region.write_bytes(buffer.offset + at, &chunk[..n]);
            at += n;
        }
    }

    fn check(&self, buffer: &DmaBuffer, offset: usize, len: usize) -> Result<()> {
        if buffer.pool != self.id {
            return Err(self.foreign());
        }
        if offset.checked_add(len).is_none_or(|end| end > buffer.len) {
            return Err(Error::InvalidSize {
                what: "DMA buffer access (bytes)",
                value: offset.saturating_add(len) as u64,
                limit: buffer.len as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    /// A pool over ordinary host memory (the bookkeeping is what is tested).
    fn pool(bytes: &mut Vec<u64>, name: &'static str) -> DmaPool {
        let region = unsafe { SharedRegion::from_mapping(bytes.as_mut_ptr() as u64, bytes.len() * 8, true) };
        DmaPool::from_region(name, region, 0x10_0000).unwrap()
    }

    #[test]
    fn hands_out_aligned_zeroed_buffers_and_takes_them_back() {
        let mut memory = std::vec![0xffu64; 8192 / 8];
        let mut pool = pool(&mut memory, "test");
        let a = pool.alloc(16 * 4, 128).unwrap();
        let b = pool.alloc(2048, 2048).unwrap();
        assert_eq!(a.paddr(), 0x10_0000);
        assert_eq!(b.paddr() % 2048, 0);
        assert_ne!(a.paddr(), b.paddr());
        let mut out = [1u8; 64];
        pool.read(&a, 0, &mut out).unwrap();
        assert_eq!(out, [0; 64], "buffers are zeroed");
        assert_eq!(pool.available(), 8192 - 128 - 2048);
        pool.free(a).unwrap();
        pool.free(b).unwrap();
        assert_eq!(pool.available(), 8192);
    }

    #[test]
    fn running_out_names_the_pool_and_loses_nothing() {
        let mut memory = std::vec![0u64; 4096 / 8];
        let mut pool = pool(&mut memory, "nic-rx");
        let whole = pool.alloc(4096, 128).unwrap();
        let err = pool.alloc(1, 1).unwrap_err().to_string();
        assert!(err.contains("nic-rx") && err.contains("free buffers first"), "{err}");
        pool.free(whole).unwrap();
        assert!(pool.alloc(4096, 4096).is_ok());
    }

    #[test]
    fn a_buffer_goes_back_only_to_its_own_pool() {
        let (mut m1, mut m2) = (std::vec![0u64; 512], std::vec![0u64; 512]);
        let (mut p1, mut p2) = (pool(&mut m1, "one"), pool(&mut m2, "two"));
        let buffer = p1.alloc(100, 128).unwrap();
        let rejected = p2.free(buffer).unwrap_err();
        assert!(rejected.error.to_string().contains("another pool"));
        assert!(p2.write(&rejected.value, 0, b"x").is_err(), "nor may another pool write it");
        assert_eq!(p2.available(), 4096);
        p1.free(rejected.value).unwrap();
        assert_eq!(p1.available(), 4096);
    }

    #[test]
    fn bad_requests_are_errors() {
        let mut memory = std::vec![0u64; 512];
        let mut pool = pool(&mut memory, "p");
        assert!(pool.alloc(10, 3).is_err());
        assert!(pool.alloc(10, 1 << 20).is_err());
        let b = pool.alloc(10, 8).unwrap();
        assert!(pool.write(&b, 8, b"abc").is_err());
        assert!(pool.write(&b, usize::MAX, b"a").is_err());
    }
}
