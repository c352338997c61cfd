//! DMA pools: physically contiguous memory with known physical addresses.
//!
//! A device that reads or writes memory on its own (DMA) needs buffers it can name by
//! physical address, in one piece. A [`DmaPool`] takes one untyped block of RAM (which
//! is physically contiguous by construction), maps it, checks with the kernel that its
//! frames really are consecutive, and hands out aligned buffers from it with a buddy
//! allocator. Freeing a buffer returns it to the pool. When the pool is exhausted, the
//! error names the pool and says how big it is.
//!
//! Buffers are accessed through volatile reads and writes (the device is not a Rust
//! thread, so the compiler must not assume memory it cannot see stays unchanged).

use core::alloc::Layout;
use core::ptr::NonNull;

use kaal_core::error::Bytes;
use kaal_core::shared::SharedRegion;
use kaal_core::vspace::{CacheAttr, VSpace};
use kaal_core::{Error, Result};

use kaal_core::component::Component;

use crate::UntypedAllocator;

/// Largest block the pool's buddy allocator manages is `2^(ORDER-1)` bytes.
const ORDER: usize = 32;

/// A pool of DMA-able memory.
pub struct DmaPool {
    name: &'static str,
    region: SharedRegion,
    paddr: u64,
    free: buddy_system_allocator::Heap<ORDER>,
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
    offset: usize,
    len: usize,
    align: usize,
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
        let (region, paddr) = memory.contiguous(vspace, vaddr, size_bits, CacheAttr::WriteBack)?;
        Self::from_region(name, region, paddr)
    }

    /// A pool over `region`, which must be physically contiguous RAM starting at `paddr`
    /// and used by nothing else: a component's DMA memory, granted by its root task.
    pub fn from_region(name: &'static str, region: SharedRegion, paddr: u64) -> Result<Self> {
        if !region.is_writable() || region.size() == 0 || paddr == 0 {
            return Err(Error::WrongCapability {
                expected: "writable DMA memory",
                found: "a read-only or empty region",
            });
        }
        let mut free = buddy_system_allocator::Heap::new();
        // SAFETY: the range is the pool's own mapping, used by nothing else. The buddy
        // allocator keeps its free lists inside free blocks, which the device never
        // sees (buffers are zeroed when handed out).
        unsafe { free.add_to_heap(region.vaddr() as usize, region.vaddr() as usize + region.size()) };
        Ok(Self { name, region, paddr, free })
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

    /// Bytes not handed out.
    pub fn available(&self) -> usize {
        self.free.stats_total_bytes() - self.free.stats_alloc_actual()
    }

    /// A zeroed buffer of `len` bytes aligned to `align` (a power of two).
    pub fn alloc(&mut self, len: usize, align: usize) -> Result<DmaBuffer> {
        let layout = Layout::from_size_align(len.max(1), align.max(8)).map_err(|_| Error::InvalidSize {
            what: "DMA buffer alignment",
            value: align as u64,
            limit: 1 << 30,
        })?;
        let ptr = self.free.alloc(layout).map_err(|_| Error::LimitReached {
            what: self.name,
            requested: len as u64,
            available: self.available() as u64,
            limit: self.size() as u64,
            fix: "free buffers first, or make the DMA pool bigger",
        })?;
        let offset = ptr.as_ptr() as usize - self.region.vaddr() as usize;
        let buffer = DmaBuffer { offset, len, align: layout.align(), paddr: self.paddr + offset as u64 };
        self.fill(&buffer, 0);
        Ok(buffer)
    }

    /// Returns `buffer` to the pool.
    pub fn free(&mut self, buffer: DmaBuffer) {
        let layout = Layout::from_size_align(buffer.len.max(1), buffer.align).expect("checked when allocated");
        let ptr = NonNull::new((self.region.vaddr() as usize + buffer.offset) as *mut u8).expect("inside the pool");
        // SAFETY: `buffer` came from this pool's `alloc` with this layout, and is consumed.
        unsafe { self.free.dealloc(ptr, layout) };
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
        if offset.checked_add(len).is_none_or(|end| end > buffer.len) {
            return Err(Error::InvalidSize {
                what: "DMA buffer access (bytes)",
                value: (offset + len) as u64,
                limit: buffer.len as u64,
            });
        }
        Ok(())
    }
}
