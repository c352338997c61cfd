//! The untyped allocator: kernel objects from BootInfo's untyped memory.
//!
//! RAM and device memory are kept in separate lists: kernel objects and ordinary frames
//! only ever come from RAM, device frames only from device untypeds and only by physical
//! address. Objects are carved best-fit: from the smallest RAM untyped they fit in, so
//! the large blocks stay whole for large requests (a 2 MiB frame needs a 2 MiB-aligned
//! hole). [`UntypedAllocator::sub_allocator`] splits off a budget for a subsystem (a
//! heap, a component), which cannot then eat into anyone else's memory.
//!
//! Memory comes back when the untyped a subsystem was given is revoked; objects are not
//! freed one by one (the kernel only reuses an untyped once *all* its children are gone).

use core::fmt;

use kaal_core::error::Bytes;
use kaal_core::untyped::Retype;
use kaal_core::vspace::{Device, ObjectAllocator, PageSize};
use kaal_core::{CSpace, Error, Frame, Result, Untyped};

/// Maximum untypeds one allocator tracks (BootInfo lists up to 167 on the default
/// config; splits add a few).
pub const MAX_UNTYPEDS: usize = 256;

/// Allocates kernel objects, and the slots they live in, from untyped memory.
pub struct UntypedAllocator {
    ram: heapless::Vec<Untyped, MAX_UNTYPEDS>,
    device: heapless::Vec<Untyped, MAX_UNTYPEDS>,
    cspace: CSpace,
}

/// How much memory an allocator has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryStats {
    /// RAM untypeds.
    pub ram_untypeds: usize,
    /// Bytes of RAM in them.
    pub ram_total: u64,
    /// Bytes of RAM not yet retyped.
    pub ram_free: u64,
    /// The largest RAM object that can still be made.
    pub ram_largest_free: u64,
    /// Device untypeds.
    pub device_untypeds: usize,
    /// Bytes of device memory.
    pub device_total: u64,
    /// Free capability slots.
    pub free_slots: usize,
}

impl fmt::Display for MemoryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RAM {} free of {} in {} untypeds (largest free block {}), device memory {} in {} untypeds, {} free slots",
            Bytes(self.ram_free),
            Bytes(self.ram_total),
            self.ram_untypeds,
            Bytes(self.ram_largest_free),
            Bytes(self.device_total),
            self.device_untypeds,
            self.free_slots
        )
    }
}

impl fmt::Debug for UntypedAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UntypedAllocator({})", self.stats())
    }
}

fn largest_free(untypeds: &[Untyped]) -> u64 {
    untypeds.iter().filter_map(|u| u.largest_free_bits()).map(|b| 1u64 << b).max().unwrap_or(0)
}

impl UntypedAllocator {
    /// An allocator over `untypeds` that takes slots from `cspace`.
    ///
    /// Untypeds beyond [`MAX_UNTYPEDS`] of a kind are dropped (their memory is not used).
    pub fn new(untypeds: impl IntoIterator<Item = Untyped>, cspace: CSpace) -> Self {
        let mut ram = heapless::Vec::new();
        let mut device = heapless::Vec::new();
        for u in untypeds {
            let list = if u.is_device() { &mut device } else { &mut ram };
            let _ = list.push(u);
        }
        Self { ram, device, cspace }
    }

    /// The CSpace this allocator takes slots from (for copies, mints and deletes).
    pub fn cspace(&mut self) -> &mut CSpace {
        &mut self.cspace
    }

    /// What is left.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            ram_untypeds: self.ram.len(),
            ram_total: self.ram.iter().map(Untyped::size).sum(),
            ram_free: self.ram.iter().map(Untyped::free_bytes).sum(),
            ram_largest_free: largest_free(&self.ram),
            device_untypeds: self.device.len(),
            device_total: self.device.iter().map(Untyped::size).sum(),
            free_slots: self.cspace.free_slots(),
        }
    }

    fn out_of_ram(&self, requested_bits: u32) -> Error {
        Error::OutOfMemory {
            requested: 1 << requested_bits,
            largest_free: largest_free(&self.ram),
            total_free: self.ram.iter().map(Untyped::free_bytes).sum(),
            device: false,
        }
    }

    /// Index of the smallest RAM untyped that can hold `2^bits` bytes.
    fn best_fit(&self, bits: u32) -> Option<usize> {
        self.ram.iter().enumerate().filter(|(_, u)| u.fits(bits)).min_by_key(|(_, u)| u.size_bits()).map(|(i, _)| i)
    }

    /// Creates one object of type `T` from RAM.
    pub fn allocate<T: Retype>(&mut self) -> Result<T> {
        let i = self.best_fit(T::SIZE_BITS).ok_or_else(|| self.out_of_ram(T::SIZE_BITS))?;
        self.ram[i].retype(&mut self.cspace)
    }

    /// Splits off an untyped of `2^size_bits` bytes of RAM.
    pub fn allocate_untyped(&mut self, size_bits: u8) -> Result<Untyped> {
        let i = self.best_fit(size_bits as u32).ok_or_else(|| self.out_of_ram(size_bits as u32))?;
        self.ram[i].split(size_bits, &mut self.cspace)
    }

    /// A separate allocator with `2^size_bits` bytes of RAM and `slots` slots of its own.
    pub fn sub_allocator(&mut self, size_bits: u8, slots: usize) -> Result<UntypedAllocator> {
        let cspace = self.cspace.split(slots)?;
        match self.allocate_untyped(size_bits) {
            Ok(untyped) => Ok(UntypedAllocator::new([untyped], cspace)),
            Err(e) => {
                // Give the slots back so nothing is lost.
                self.cspace.absorb(cspace);
                Err(e)
            }
        }
    }

    /// `2^size_bits` bytes of physically contiguous RAM (one untyped block), mapped at
    /// `vaddr` in `vspace` with cache policy `cache`; returns the region and its first
    /// physical address, confirmed with the kernel. For DMA pools, here or in a component.
    pub fn contiguous(
        &mut self,
        vspace: &mut kaal_core::vspace::VSpace,
        vaddr: u64,
        size_bits: u8,
        cache: kaal_core::vspace::CacheAttr,
    ) -> Result<(kaal_core::shared::SharedRegion, u64)> {
        let untyped = self.allocate_untyped(size_bits)?;
        // One slot per frame (at most a region's 256 pages).
        let mut cspace = self.cspace.split(1 << size_bits.saturating_sub(12).min(9))?;
        let mapped = kaal_core::shared::SharedRegion::contiguous(untyped, &mut cspace, vspace, vaddr, cache, self);
        self.cspace.absorb(cspace);
        mapped
    }

    /// The device frame at physical address `paddr` (for MMIO registers).
    ///
    /// Device memory below `paddr` in the same untyped is split off and kept, so later
    /// requests for it still succeed.
    pub fn device_frame<S: PageSize>(&mut self, paddr: u64) -> Result<Frame<S, Device>> {
        let size = S::BYTES as u64;
        let not_found = Error::NoDeviceMemory { paddr, size };
        if !paddr.is_multiple_of(size) {
            return Err(Error::BadAddress { vaddr: paddr, why: "device frame address is not aligned to its size" });
        }
        // The untyped that covers the range and has not handed it out yet: after a split,
        // that may be a filler rather than the original block.
        let i = self
            .device
            .iter()
            .position(|u| {
                u.paddr() <= paddr
                    && paddr + size <= u.paddr() + u.size()
                    && paddr - u.paddr() >= u.size() - u.free_bytes()
            })
            .ok_or(not_found)?;
        let ut = &mut self.device[i];
        let offset = paddr - ut.paddr();
        let used = ut.size() - ut.free_bytes();
        // Advance the untyped's watermark to `offset` with the largest aligned fillers.
        let mut fillers: heapless::Vec<Untyped, 64> = heapless::Vec::new();
        let mut at = used;
        while at < offset {
            let align = if at == 0 { 63 } else { at.trailing_zeros() };
            let room = 63 - (offset - at).leading_zeros();
            let bits = align.min(room).max(kaal_core::sys::seL4_MinUntypedBits as u32) as u8;
            let filler = ut.split(bits, &mut self.cspace)?;
            at += filler.size();
            let _ = fillers.push(filler);
        }
        let frame = ut.retype::<Frame<S, Device>>(&mut self.cspace)?;
        for f in fillers {
            let _ = self.device.push(f);
        }
        Ok(frame)
    }
}

impl ObjectAllocator for UntypedAllocator {
    fn allocate<T: Retype>(&mut self) -> Result<T> {
        UntypedAllocator::allocate(self)
    }

    fn allocate_untyped(&mut self, size_bits: u8) -> Result<Untyped> {
        UntypedAllocator::allocate_untyped(self, size_bits)
    }

    fn cspace(&mut self) -> &mut CSpace {
        &mut self.cspace
    }
}

#[cfg(test)]
mod tests {
    //! The allocator's bookkeeping, on the host: which untyped a request goes to and
    //! what it says when nothing fits. (Retyping itself needs the kernel; the boot tests
    //! cover it.)
    extern crate std;
    use std::string::ToString;

    use super::*;
    use kaal_core::vspace::{Large, Small};

    /// An allocator over made-up untypeds: (paddr, size bits, device).
    #[allow(unsafe_code)]
    fn allocator(blocks: &[(u64, u8, bool)]) -> UntypedAllocator {
        let untypeds = blocks.iter().enumerate().map(|(i, &(paddr, bits, device))| {
            // SAFETY: host bookkeeping only; no capability is ever invoked in these tests.
            unsafe { Untyped::from_raw(100 + i as u64, paddr, bits, device) }
        });
        UntypedAllocator::new(untypeds, CSpace::without_slots())
    }

    #[test]
    fn ram_and_device_memory_are_kept_apart_and_counted() {
        let memory = allocator(&[(0x10_0000, 20, false), (0x20_0000, 21, false), (0xfe00_0000, 24, true)]);
        let stats = memory.stats();
        assert_eq!((stats.ram_untypeds, stats.device_untypeds), (2, 1));
        assert_eq!(stats.ram_total, (1 << 20) + (1 << 21));
        assert_eq!(stats.ram_free, stats.ram_total);
        assert_eq!(stats.ram_largest_free, 1 << 21);
        assert_eq!(stats.device_total, 1 << 24);
    }

    #[test]
    fn best_fit_takes_the_smallest_untyped_that_fits() {
        let memory = allocator(&[(0x40_0000, 22, false), (0x10_0000, 20, false), (0x20_0000, 21, false)]);
        assert_eq!(memory.best_fit(12), Some(1), "a page goes to the 1 MiB block");
        assert_eq!(memory.best_fit(21), Some(2), "2 MiB to the 2 MiB block, keeping 4 MiB whole");
        assert_eq!(memory.best_fit(23), None);
    }

    #[test]
    fn running_out_says_what_was_asked_and_what_is_left() {
        let mut memory = allocator(&[(0x10_0000, 20, false), (0xfe00_0000, 24, true)]);
        let error = memory.allocate_untyped(22).unwrap_err().to_string();
        assert!(error.contains("out of RAM memory: asked for 4 MiB"), "{error}");
        assert!(error.contains("largest free block is 1 MiB"), "{error}");
    }

    #[test]
    fn device_frames_are_found_by_address_or_refused() {
        let mut memory = allocator(&[(0xfe00_0000, 24, true)]);
        let misaligned = memory.device_frame::<Large>(0xfe00_1000).unwrap_err().to_string();
        assert!(misaligned.contains("not aligned"), "{misaligned}");
        let nowhere = memory.device_frame::<Small>(0xd000_0000).unwrap_err().to_string();
        assert!(nowhere.contains("no device memory covers 4 KiB at physical address 0xd0000000"), "{nowhere}");
    }
}
