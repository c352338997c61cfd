//! Memory shared between address spaces.
//!
//! A [`SharedRegion`] is a run of frames mapped at consecutive addresses. The root task
//! creates one, maps it into its own address space, and grants it to components, which
//! find it mapped at the address their start-up block names. The peer on the other side
//! may write anything at any time, so access goes only through methods that cannot be
//! misused from safe code: atomic words, and copies in and out with volatile accesses
//! (a peer's writes happen outside Rust's memory model, so plain reads could be assumed
//! stable by the compiler). Offsets are checked against the region's bounds.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::cap::{cap_type, CPtr, Cap, Rights};
use crate::cspace::CSpace;
use crate::error::{Error, Result};
use crate::vspace::{Frame, ObjectAllocator, ReadWrite, Shared, Small, VSpace, PAGE_SIZE};

/// Most pages in one region (1 MiB).
pub const MAX_REGION_PAGES: usize = 256;

/// Frames mapped at consecutive addresses, shared with other address spaces.
pub struct SharedRegion {
    vaddr: u64,
    size: usize,
    writable: bool,
    /// The frame capabilities, when this address space created the region (empty in a
    /// component, which only has the mapping).
    frames: heapless::Vec<CPtr, MAX_REGION_PAGES>,
}

impl core::fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SharedRegion({:#x}, {} bytes)", self.vaddr, self.size)
    }
}

impl SharedRegion {
    /// Allocates `size` bytes (rounded up to pages), zeroed, mapped read-write at `vaddr`
    /// in `vspace` (the caller's own address space).
    pub fn new(alloc: &mut impl ObjectAllocator, vspace: &mut VSpace, vaddr: u64, size: usize) -> Result<Self> {
        if !vspace.is_current() {
            return Err(Error::NotMappedHere { vaddr });
        }
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        if pages > MAX_REGION_PAGES {
            return Err(Error::InvalidSize {
                what: "shared region (pages)",
                value: pages as u64,
                limit: MAX_REGION_PAGES as u64,
            });
        }
        let mut frames = heapless::Vec::new();
        for i in 0..pages {
            // The kernel zeroes new frames. The mapping lives as long as the program.
            let frame: Frame = alloc.allocate()?;
            let mapped = frame.into_shared().map(vspace, vaddr + (i * PAGE_SIZE) as u64, ReadWrite, alloc)?;
            let _ = frames.push(mapped.leak_keeping_cap().1);
        }
        Ok(Self { vaddr, size: pages * PAGE_SIZE, writable: true, frames })
    }

    /// Maps all of `untyped` (RAM) as one physically contiguous region at `vaddr`, with
    /// cache policy `cache`; returns the region and its first physical address.
    ///
    /// The frames' addresses come from the kernel (`seL4_X86_Page_GetAddress`), and the
    /// region is refused if they are not contiguous.
    pub fn contiguous(
        mut untyped: crate::untyped::Untyped,
        cspace: &mut crate::cspace::CSpace,
        vspace: &mut VSpace,
        vaddr: u64,
        cache: crate::vspace::CacheAttr,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<(Self, u64)> {
        let pages = (untyped.size() as usize / PAGE_SIZE).max(1);
        if pages > MAX_REGION_PAGES {
            return Err(Error::InvalidSize {
                what: "contiguous region (pages)",
                value: pages as u64,
                limit: MAX_REGION_PAGES as u64,
            });
        }
        let mut frames = heapless::Vec::new();
        let mut first_paddr = None;
        for i in 0..pages {
            let frame: Frame = untyped.retype(cspace)?;
            // SAFETY: GetAddress only reads the capability.
            let r = unsafe { crate::sys::seL4_X86_Page_GetAddress(frame.cptr()) };
            Error::check(r.error, "seL4_X86_Page_GetAddress")?;
            let base = *first_paddr.get_or_insert(r.paddr);
            if r.paddr != base + (i * PAGE_SIZE) as u64 {
                return Err(Error::BadAddress {
                    vaddr: r.paddr,
                    why: "the untyped's frames are not physically contiguous",
                });
            }
            let mapped =
                frame.into_shared().map_with(vspace, vaddr + (i * PAGE_SIZE) as u64, ReadWrite, cache, alloc)?;
            let _ = frames.push(mapped.leak_keeping_cap().1);
        }
        let _ = untyped.into_cptr();
        Ok((Self { vaddr, size: pages * PAGE_SIZE, writable: true, frames }, first_paddr.unwrap_or(0)))
    }

    /// A region another address space set up and mapped here (a component's grant).
    ///
    /// # Safety
    /// `[vaddr, vaddr + size)` must be mapped in this address space for the rest of the
    /// program, readable (and writable if `writable`), and used only through this handle.
    pub unsafe fn from_mapping(vaddr: u64, size: usize, writable: bool) -> Self {
        Self { vaddr, size, writable, frames: heapless::Vec::new() }
    }

    /// First virtual address.
    pub fn vaddr(&self) -> u64 {
        self.vaddr
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this side may write.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Number of frames this address space holds capabilities for (0 in a component,
    /// which only has the mapping).
    pub(crate) fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// A new capability to frame `i`, to map it into another address space.
    pub(crate) fn copy_frame(&self, i: usize, cspace: &mut CSpace) -> Result<Frame<Small, Shared>> {
        let Some(&cptr) = self.frames.get(i) else {
            return Err(Error::InvalidSize {
                what: "shared region frame",
                value: i as u64,
                limit: self.frames.len() as u64,
            });
        };
        // SAFETY: a temporary handle on the region's own frame capability, only copied
        // from and then forgotten; the region keeps owning the original.
        let original = unsafe { Cap::<cap_type::Page>::from_cptr(cptr) };
        let copy = cspace.copy(&original, Rights::ALL);
        let _ = original.into_cptr();
        // SAFETY: a fresh copy of a shared frame's capability, mapped nowhere yet.
        unsafe { Frame::from_cap(copy?) }
    }

    fn check(&self, offset: usize, len: usize, align: usize, write: bool) -> usize {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.size) && offset.is_multiple_of(align),
            "shared region access out of bounds or misaligned: offset {offset}, {len} bytes, region {} bytes",
            self.size
        );
        assert!(!write || self.writable, "write to a read-only shared region");
        self.vaddr as usize + offset
    }

    fn atomic_u32(&self, offset: usize, write: bool) -> &AtomicU32 {
        let addr = self.check(offset, 4, 4, write);
        // SAFETY: in bounds, aligned and mapped for as long as `self` lives; any bit
        // pattern is a valid AtomicU32, and all access to it is atomic.
        unsafe { AtomicU32::from_ptr(addr as *mut u32) }
    }

    /// Atomic load of the u32 at `offset`.
    pub fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.atomic_u32(offset, false).load(order)
    }

    /// Atomic store of the u32 at `offset`.
    pub fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        self.atomic_u32(offset, true).store(value, order)
    }

    /// Atomic swap of the u32 at `offset`; returns the old value.
    pub fn swap_u32(&self, offset: usize, value: u32, order: Ordering) -> u32 {
        self.atomic_u32(offset, true).swap(value, order)
    }

    fn atomic_u64(&self, offset: usize, write: bool) -> &AtomicU64 {
        let addr = self.check(offset, 8, 8, write);
        // SAFETY: in bounds, aligned and mapped for as long as `self` lives; any bit
        // pattern is a valid AtomicU64, and all access to it is atomic.
        unsafe { AtomicU64::from_ptr(addr as *mut u64) }
    }

    /// Atomic load of the u64 at `offset`.
    pub fn load_u64(&self, offset: usize, order: Ordering) -> u64 {
        self.atomic_u64(offset, false).load(order)
    }

    /// Atomic store of the u64 at `offset`.
    pub fn store_u64(&self, offset: usize, value: u64, order: Ordering) {
        self.atomic_u64(offset, true).store(value, order)
    }

    /// Atomic add on the u64 at `offset`; returns the old value.
    pub fn fetch_add_u64(&self, offset: usize, value: u64, order: Ordering) -> u64 {
        self.atomic_u64(offset, true).fetch_add(value, order)
    }

    /// Copies `out.len()` bytes from `offset`.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        let addr = self.check(offset, out.len(), 1, false);
        let mut i = 0;
        // Word-sized volatile reads while both sides are 8-byte aligned, bytes otherwise.
        if addr % 8 == (out.as_ptr() as usize) % 8 {
            while i < out.len() && !(addr + i).is_multiple_of(8) {
                // SAFETY: in bounds and mapped; volatile because the peer may write.
                out[i] = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
                i += 1;
            }
            while i + 8 <= out.len() {
                // SAFETY: in bounds, mapped and 8-byte aligned.
                let word = unsafe { core::ptr::read_volatile((addr + i) as *const u64) };
                out[i..i + 8].copy_from_slice(&word.to_ne_bytes());
                i += 8;
            }
        }
        while i < out.len() {
            // SAFETY: in bounds and mapped.
            out[i] = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
            i += 1;
        }
    }

    /// Copies `data` to `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        let addr = self.check(offset, data.len(), 1, true);
        let mut i = 0;
        if addr % 8 == (data.as_ptr() as usize) % 8 {
            while i < data.len() && !(addr + i).is_multiple_of(8) {
                // SAFETY: in bounds, mapped writable; volatile because the peer may read.
                unsafe { core::ptr::write_volatile((addr + i) as *mut u8, data[i]) };
                i += 1;
            }
            // Whole words: one bounds check above, then a tight loop of aligned stores.
            let words = data[i..].chunks_exact(8);
            let mut at = addr + i;
            for word in words {
                let value =
                    u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
                // SAFETY: inside the checked range, mapped writable and 8-byte aligned.
                unsafe { core::ptr::write_volatile(at as *mut u64, value) };
                at += 8;
            }
            i = at - addr;
        }
        while i < data.len() {
            // SAFETY: in bounds, mapped writable.
            unsafe { core::ptr::write_volatile((addr + i) as *mut u8, data[i]) };
            i += 1;
        }
    }

    /// Reads the little-endian u64 at `offset` (any alignment).
    pub fn read_u64(&self, offset: usize) -> u64 {
        let addr = self.check(offset, 8, 1, false);
        if addr.is_multiple_of(8) {
            // SAFETY: in bounds, mapped and aligned; volatile because the peer may write.
            return u64::from_le(unsafe { core::ptr::read_volatile(addr as *const u64) });
        }
        // SAFETY: in bounds and mapped; unaligned volatile read of 8 bytes.
        u64::from_le_bytes(unsafe { core::ptr::read_volatile(addr as *const [u8; 8]) })
    }

    /// Writes the little-endian u64 at `offset` (any alignment).
    pub fn write_u64(&self, offset: usize, value: u64) {
        let addr = self.check(offset, 8, 1, true);
        if addr.is_multiple_of(8) {
            // SAFETY: in bounds, mapped writable and aligned.
            unsafe { core::ptr::write_volatile(addr as *mut u64, value.to_le()) };
        } else {
            // SAFETY: in bounds, mapped writable; unaligned volatile write of 8 bytes.
            unsafe { core::ptr::write_volatile(addr as *mut [u8; 8], value.to_le_bytes()) };
        }
    }

    /// Folds `f` over the `count` little-endian u64s from `offset`, read in place, with
    /// one bounds check for the whole range.
    pub fn fold_u64<A>(&self, offset: usize, count: usize, init: A, mut f: impl FnMut(A, u64) -> A) -> A {
        let len = count.saturating_mul(8);
        let addr = self.check(offset, len, 1, false);
        let mut acc = init;
        if addr.is_multiple_of(8) {
            for i in 0..count {
                // SAFETY: inside the range checked above and aligned; volatile because the
                // peer may write.
                acc = f(acc, u64::from_le(unsafe { core::ptr::read_volatile((addr + 8 * i) as *const u64) }));
            }
        } else {
            for i in 0..count {
                // SAFETY: inside the range checked above; unaligned volatile read.
                let bytes = unsafe { core::ptr::read_volatile((addr + 8 * i) as *const [u8; 8]) };
                acc = f(acc, u64::from_le_bytes(bytes));
            }
        }
        acc
    }

    /// A memory fence.
    pub fn fence(&self, order: Ordering) {
        core::sync::atomic::fence(order)
    }
}
