//! Address spaces and frames: `Untyped -> Frame -> MappedFrame -> Frame`.
//!
//! A [`Frame`] is a page of physical memory that is not mapped anywhere.
//! [`Frame::map`] consumes it and returns a [`MappedFrame`]; [`MappedFrame::unmap`]
//! consumes that and gives the `Frame` back. A mapped frame has no `map` method, and a
//! frame that was moved into `map` cannot be used again, so mapping a page twice, or
//! touching memory after it was unmapped, does not compile. The type also says what the
//! memory is ([`Ram`], [`Device`] or [`Shared`], see [`FrameKind`]) and how it is
//! mapped ([`ReadWrite`] or [`ReadOnly`]); only RAM that nobody else can map lends out
//! bytes, and only through a writable mapping mutably. Every misuse has a trybuild case
//! in `kaal-core/tests/misuse/`:
//!
//! ```compile_fail
//! # use kaal_core::vspace::{Frame, VSpace, ObjectAllocator, ReadWrite};
//! fn map_twice(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
//!     let mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
//!     // error[E0599]: no method named `map` found for struct `MappedFrame`
//!     mapped.map(vspace, 0x2000_0000, ReadWrite, alloc);
//! }
//! ```
//!
//! ```compile_fail
//! # use kaal_core::vspace::{Frame, VSpace, ObjectAllocator, ReadOnly};
//! fn write_read_only(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
//!     let mut mapped = frame.map(vspace, 0x1000_0000, ReadOnly, alloc).unwrap();
//!     // error[E0599]: `as_bytes_mut` exists only for read-write mappings
//!     mapped.as_bytes_mut();
//! }
//! ```
//!
//! The correct sequence compiles:
//!
//! ```no_run
//! # use kaal_core::vspace::{Frame, VSpace, ObjectAllocator, ReadWrite};
//! fn map_unmap_remap(frame: Frame, vspace: &mut VSpace, alloc: &mut impl ObjectAllocator) {
//!     let mut mapped = frame.map(vspace, 0x1000_0000, ReadWrite, alloc).unwrap();
//!     mapped.as_bytes_mut().unwrap()[0] = 1;
//!     let frame = mapped.unmap();
//!     let _mapped = frame.map(vspace, 0x2000_0000, ReadWrite, alloc).unwrap();
//! }
//! ```
//!
//! seL4 5.0.0's kernel refuses to map over a mapped page; seL4 16.0.0's replaces it
//! silently, so there KaaL records every mapping itself and refuses the same way (see
//! `occupancy.rs`): on both kernels a mapping over another fails with
//! [`Error::AddressInUse`] and hands the frame back.
//!
//! x86_64 needs a PDPT, a page directory and a page table above every page. `map`
//! creates the missing ones on demand from an [`ObjectAllocator`] and installs them,
//! top-down as the kernel's `seL4_FailedLookup` replies ask for them.

use core::marker::PhantomData;

use crate::cap::{cap_type, AsidPool, CPtr, Cap, Rights};
use crate::cspace::CSpace;
use crate::error::{Error, KernelError, Rejected, Result};
use crate::sys;
use crate::untyped::{private::FromRetyped, Memory, Retype, Untyped};

/// The root task's address space in the mapping table.
const ROOT_SPACE: u32 = 1;
/// The number the next new address space gets.
static NEXT_SPACE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(ROOT_SPACE + 1);

/// seL4 16.0.0: records what the kernel mapped into the root task before it started
/// (its image, IPC buffer, BootInfo and extra BootInfo), so nothing is mapped over them.
#[cfg(kaal_sel4 = "16")]
pub(crate) fn record_root_task_mappings(bootinfo: &crate::BootInfo, bootinfo_addr: u64, image_start: u64) {
    let page = PAGE_SIZE as u64;
    let frames = bootinfo.user_image_frames();
    let extra = bootinfo.extra_bi_pages();
    for (vaddr, pages) in [
        (image_start, frames.end - frames.start),
        (bootinfo.ipc_buffer(), 1),
        (bootinfo_addr, 1 + (extra.end - extra.start)),
    ] {
        // Disjoint, and the table is empty: this cannot be refused.
        let _ = crate::occupancy::record(ROOT_SPACE, vaddr, pages * page);
    }
}

/// Bytes in a (small) page.
pub const PAGE_SIZE: usize = 1 << sys::seL4_PageBits;
/// One past the highest user virtual address on x86_64 (canonical lower half).
pub const USER_TOP: u64 = 0x0000_7fff_ffff_f000;

/// Something that creates kernel objects from RAM on demand (paging structures for
/// `map`, for instance). `kaal-alloc`'s `UntypedAllocator` is the usual one;
/// [`UntypedSource`] is the simplest.
pub trait ObjectAllocator {
    /// Creates one object of type `T` from RAM untyped memory.
    fn allocate<T: Retype>(&mut self) -> Result<T>;
    /// Splits off `2^size_bits` bytes of RAM as an untyped (for variable-sized objects
    /// such as CNodes, or as a budget to hand on).
    fn allocate_untyped(&mut self, size_bits: u8) -> Result<Untyped>;
    /// The CSpace new objects' capabilities go into.
    fn cspace(&mut self) -> &mut CSpace;

    /// Creates a CNode with `2^radix_bits` slots.
    fn allocate_cnode(&mut self, radix_bits: u32) -> Result<Cap<cap_type::CNode>> {
        let bits = radix_bits + sys::seL4_SlotBits as u32;
        if bits > 40 {
            return Err(Error::InvalidSize { what: "CNode radix (bits)", value: radix_bits as u64, limit: 24 });
        }
        let mut untyped = self.allocate_untyped(bits as u8)?;
        let cnode = untyped.retype_cnode(radix_bits, self.cspace())?;
        // The untyped stays the CNode's parent; its handle is not needed again.
        let _ = untyped.into_cptr();
        Ok(cnode)
    }
}

/// An [`ObjectAllocator`] that carves objects out of one untyped.
#[derive(Debug)]
pub struct UntypedSource<'a> {
    pub untyped: &'a mut Untyped,
    pub cspace: &'a mut CSpace,
}

impl ObjectAllocator for UntypedSource<'_> {
    fn allocate<T: Retype>(&mut self) -> Result<T> {
        self.untyped.retype(self.cspace)
    }

    fn allocate_untyped(&mut self, size_bits: u8) -> Result<Untyped> {
        self.untyped.split(size_bits, self.cspace)
    }

    fn cspace(&mut self) -> &mut CSpace {
        self.cspace
    }
}

/// Cache policy of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheAttr {
    /// Normal memory.
    #[default]
    WriteBack,
    WriteThrough,
    /// Device registers (MMIO).
    CacheDisabled,
    Uncacheable,
    /// Frame buffers.
    WriteCombining,
}

impl CacheAttr {
    fn word(self) -> sys::seL4_Word {
        match self {
            CacheAttr::WriteBack => sys::seL4_X86_WriteBack,
            CacheAttr::WriteThrough => sys::seL4_X86_WriteThrough,
            CacheAttr::CacheDisabled => sys::seL4_X86_CacheDisabled,
            CacheAttr::Uncacheable => sys::seL4_X86_Uncacheable,
            CacheAttr::WriteCombining => sys::seL4_X86_WriteCombining,
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A page size: [`Small`] (4 KiB) or [`Large`] (2 MiB).
pub trait PageSize: sealed::Sealed + 'static {
    /// log2 of the size in bytes (generated).
    const BITS: u32;
    /// The `seL4_ObjectType` of such frames.
    const OBJECT_TYPE: sys::seL4_Word;
    /// Name for diagnostics.
    const NAME: &'static str;
    /// The capability kind.
    type Kind: crate::cap::CapType;
    #[doc(hidden)]
    const TABLE: Level;
    /// Size in bytes.
    const BYTES: usize = 1 << Self::BITS;
}

/// 4 KiB pages.
#[derive(Debug)]
pub enum Small {}
/// 2 MiB pages.
#[derive(Debug)]
pub enum Large {}
impl sealed::Sealed for Small {}
impl sealed::Sealed for Large {}

impl PageSize for Small {
    const BITS: u32 = sys::seL4_PageBits as u32;
    const OBJECT_TYPE: sys::seL4_Word = sys::seL4_X86_4K;
    const NAME: &'static str = "4 KiB frame";
    type Kind = cap_type::Page;
    const TABLE: Level = Level::PageTable;
}

impl PageSize for Large {
    const BITS: u32 = sys::seL4_LargePageBits as u32;
    const OBJECT_TYPE: sys::seL4_Word = sys::seL4_X86_LargePageObject;
    const NAME: &'static str = "2 MiB frame";
    type Kind = cap_type::LargePage;
    const TABLE: Level = Level::PageDirectory;
}

/// A virtual address space (an x86_64 PML4 and the paging structures below it).
pub struct VSpace {
    root: Cap<cap_type::Pml4>,
    /// Which address space this is, for the mapping table on seL4 16.0.0 (1 is the
    /// root task's own; every handle of one address space has the same number).
    space: u32,
    /// The calling thread runs in this address space.
    current: bool,
    /// Paging structures created by `map` (they live until the vspace is torn down).
    paging_structures: usize,
}

impl core::fmt::Debug for VSpace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "VSpace(PML4 in slot {}, {}, {} paging structures)",
            self.root.cptr(),
            if self.current { "current" } else { "other" },
            self.paging_structures
        )
    }
}

/// A level of x86_64 paging structure.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pdpt,
    PageDirectory,
    PageTable,
}

impl Level {
    fn parent(self) -> Option<Level> {
        match self {
            Level::PageTable => Some(Level::PageDirectory),
            Level::PageDirectory => Some(Level::Pdpt),
            Level::Pdpt => None,
        }
    }
}

impl VSpace {
    /// The root task's own address space.
    pub(crate) fn root_task() -> Self {
        // SAFETY: slot seL4_CapInitThreadVSpace holds the root task's PML4; the runtime
        // creates this handle once.
        Self {
            root: unsafe { Cap::from_cptr(sys::seL4_CapInitThreadVSpace) },
            space: ROOT_SPACE,
            current: true,
            paging_structures: 0,
        }
    }

    /// The calling component's own address space (a manager component's grant). Its
    /// mapping table (seL4 16.0.0) starts empty: the component maps only above
    /// [`kaal_abi::startup::MANAGER_WINDOW`], where the supervisor mapped nothing.
    pub(crate) fn own(root: Cap<cap_type::Pml4>) -> Self {
        Self { root, space: ROOT_SPACE, current: true, paging_structures: 0 }
    }

    /// A new, empty address space: assigns `pml4` an ASID from `asid_pool`.
    pub fn new(pml4: Cap<cap_type::Pml4>, asid_pool: &AsidPool) -> Result<Self, Rejected<Cap<cap_type::Pml4>>> {
        // SAFETY: assigning an ASID to a fresh PML4 affects no existing mapping.
        let err = unsafe { sys::seL4_X86_ASIDPool_Assign(asid_pool.cptr(), pml4.cptr()) };
        match Error::check(err, "seL4_X86_ASIDPool_Assign") {
            Ok(()) => Ok(Self {
                root: pml4,
                space: NEXT_SPACE.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
                current: false,
                paging_structures: 0,
            }),
            Err(error) => Err(Rejected { error, value: pml4 }),
        }
    }

    /// Gives up the handle for its PML4 capability (to delete it: a process manager's
    /// teardown).
    pub(crate) fn into_root(self) -> Cap<cap_type::Pml4> {
        self.root
    }

    /// The PML4's slot, for the raw layer and for configuring threads.
    pub(crate) fn cptr(&self) -> CPtr {
        self.root.cptr()
    }

    /// Does the calling thread run in this address space?
    pub fn is_current(&self) -> bool {
        self.current
    }

    /// A second handle on the same address space, e.g. for a heap that maps its own
    /// region. Overlapping mappings are still refused (by the kernel on 5.0.0, by
    /// KaaL's mapping table on 16.0.0), so the handles cannot interfere with each
    /// other's memory.
    pub fn try_clone(&self, cspace: &mut CSpace) -> Result<VSpace> {
        let root = cspace.copy(&self.root, Rights::ALL)?;
        Ok(VSpace { root, space: self.space, current: self.current, paging_structures: 0 })
    }

    /// Paging structures `map` has created so far.
    pub fn paging_structures(&self) -> usize {
        self.paging_structures
    }

    fn map_table(&self, level: Level, table: CPtr, vaddr: u64) -> Result<()> {
        let attr = sys::seL4_X86_Default_VMAttributes;
        // SAFETY: installing a new, empty paging structure only makes more addresses
        // translatable; it never changes an existing translation.
        let (err, name) = unsafe {
            match level {
                Level::Pdpt => (sys::seL4_X86_PDPT_Map(table, self.root.cptr(), vaddr, attr), "seL4_X86_PDPT_Map"),
                Level::PageDirectory => (
                    sys::seL4_X86_PageDirectory_Map(table, self.root.cptr(), vaddr, attr),
                    "seL4_X86_PageDirectory_Map",
                ),
                Level::PageTable => {
                    (sys::seL4_X86_PageTable_Map(table, self.root.cptr(), vaddr, attr), "seL4_X86_PageTable_Map")
                }
            }
        };
        Error::check(err, name)
    }

    /// Creates and installs the paging structure of `level` covering `vaddr`, and any
    /// missing ones above it.
    fn install(&mut self, level: Level, vaddr: u64, alloc: &mut impl ObjectAllocator) -> Result<()> {
        let table = match level {
            Level::Pdpt => alloc.allocate::<Cap<cap_type::Pdpt>>()?.into_cptr(),
            Level::PageDirectory => alloc.allocate::<Cap<cap_type::PageDirectory>>()?.into_cptr(),
            Level::PageTable => alloc.allocate::<Cap<cap_type::PageTable>>()?.into_cptr(),
        };
        self.paging_structures += 1;
        match self.map_table(level, table, vaddr) {
            Err(e) if e.kernel_error() == Some(KernelError::FailedLookup) => {
                let parent = level.parent().ok_or(e)?;
                self.install(parent, vaddr, alloc)?;
                self.map_table(level, table, vaddr)
            }
            other => other,
        }
    }
}

fn check_vaddr(vaddr: u64, page: u64) -> Result<()> {
    if !vaddr.is_multiple_of(page) {
        return Err(Error::BadAddress { vaddr, why: "not aligned to the page size" });
    }
    if vaddr >= USER_TOP {
        return Err(Error::BadAddress { vaddr, why: "above the user half of the address space" });
    }
    Ok(())
}

/// What a frame's memory is, and so what may be done with it once mapped.
///
/// * [`Ram`]: ordinary memory whose capability has no copies. Mapped here it lends out
///   `&[u8]` (and `&mut [u8]` if writable): nothing else can reach the page.
/// * [`Device`]: device memory (registers, frame buffers). It is never a byte slice:
///   reads and writes have side effects, so they go through [`crate::mmio::MmioRegion`].
/// * [`Shared`]: RAM whose capability has been copied, so another address space (or a
///   device) may map the same page. It is never a byte slice either: shared memory is
///   reached through [`crate::shared::SharedRegion`]'s volatile and atomic accessors.
///
/// The kind is part of the type, so reading MMIO through a slice, or holding `&mut [u8]`
/// to a page a peer writes, does not compile.
pub trait FrameKind: sealed::Sealed + 'static {
    /// Name for diagnostics.
    const NAME: &'static str;
}

/// Ordinary RAM, capability not copied.
#[derive(Debug)]
pub enum Ram {}
/// Device memory.
#[derive(Debug)]
pub enum Device {}
/// RAM whose capability has copies.
#[derive(Debug)]
pub enum Shared {}
impl sealed::Sealed for Ram {}
impl sealed::Sealed for Device {}
impl sealed::Sealed for Shared {}
impl FrameKind for Ram {
    const NAME: &'static str = "RAM";
}
impl FrameKind for Device {
    const NAME: &'static str = "device";
}
impl FrameKind for Shared {
    const NAME: &'static str = "shared";
}

/// A frame kind whose capability may be copied: copies do not break its promise
/// (device and shared memory never lend out slices).
pub trait Copyable: FrameKind {}
impl Copyable for Device {}
impl Copyable for Shared {}

/// How a mapping may be used: [`ReadWrite`] or [`ReadOnly`].
pub trait Access: sealed::Sealed + Copy + 'static {
    /// The mapping rights.
    const RIGHTS: Rights;
}

/// A writable mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadWrite;
/// A read-only mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnly;
impl sealed::Sealed for ReadWrite {}
impl sealed::Sealed for ReadOnly {}
impl Access for ReadWrite {
    const RIGHTS: Rights = Rights::READ_WRITE;
}
impl Access for ReadOnly {
    const RIGHTS: Rights = Rights::READ;
}

/// A frame (4 KiB by default, or [`Large`]) of memory of kind `K` that is not mapped.
#[must_use = "a frame handle is the only way to use its memory"]
pub struct Frame<S: PageSize = Small, K: FrameKind = Ram> {
    cap: Cap<S::Kind>,
    paddr: u64,
    _kind: PhantomData<K>,
}

impl<S: PageSize, K: FrameKind> core::fmt::Debug for Frame<S, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Frame<{}, {}> {{ slot: {}, paddr: {:#x} }}", S::NAME, K::NAME, self.cap.cptr(), self.paddr)
    }
}

impl<S: PageSize, K: FrameKind> FromRetyped for Frame<S, K> {
    unsafe fn from_retyped(cptr: CPtr, paddr: u64) -> Self {
        // SAFETY: forwarded from the caller.
        Frame { cap: unsafe { Cap::from_cptr(cptr) }, paddr, _kind: PhantomData }
    }
}

impl<S: PageSize> Retype for Frame<S, Ram> {
    const OBJECT_TYPE: sys::seL4_Word = S::OBJECT_TYPE;
    const SIZE_BITS: u32 = S::BITS;
    const NAME: &'static str = S::NAME;
    const MEMORY: Memory = Memory::Ram;
}

impl<S: PageSize> Retype for Frame<S, Device> {
    const OBJECT_TYPE: sys::seL4_Word = S::OBJECT_TYPE;
    const SIZE_BITS: u32 = S::BITS;
    const NAME: &'static str = S::NAME;
    const MEMORY: Memory = Memory::Device;
}

impl<S: PageSize, K: FrameKind> Frame<S, K> {
    /// Wraps an unmapped frame capability, asking the kernel for its physical address.
    ///
    /// # Safety
    /// `cap` must be the only handle to this frame capability, the frame must not be
    /// mapped through it, and its memory must be of kind `K` (for [`Ram`]: no other
    /// capability to the frame exists).
    pub unsafe fn from_cap(cap: Cap<S::Kind>) -> Result<Self> {
        // SAFETY: GetAddress only reads the capability.
        let r = unsafe { sys::seL4_X86_Page_GetAddress(cap.cptr()) };
        Error::check(r.error, "seL4_X86_Page_GetAddress")?;
        Ok(Frame { cap, paddr: r.paddr, _kind: PhantomData })
    }

    /// Physical address of the frame.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        S::BYTES
    }

    /// The slot address.
    pub(crate) fn cptr(&self) -> CPtr {
        self.cap.cptr()
    }

    /// Gives up the typed wrapper, e.g. to delete the capability.
    pub fn into_cap(self) -> Cap<S::Kind> {
        self.cap
    }

    /// Maps the frame at `vaddr` in `vspace` as normal (write-back) memory, with
    /// `access` ([`ReadWrite`] or [`ReadOnly`]), creating paging structures from
    /// `alloc` as needed.
    ///
    /// If anything fails, the frame comes back in the [`Rejected`] error.
    pub fn map<A: Access>(
        self,
        vspace: &mut VSpace,
        vaddr: u64,
        access: A,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<MappedFrame<S, K, A>, Rejected<Frame<S, K>>> {
        self.map_with(vspace, vaddr, access, CacheAttr::WriteBack, alloc)
    }

    /// [`Frame::map`] with a cache policy (use [`CacheAttr::CacheDisabled`] for MMIO).
    pub fn map_with<A: Access>(
        self,
        vspace: &mut VSpace,
        vaddr: u64,
        _access: A,
        cache: CacheAttr,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<MappedFrame<S, K, A>, Rejected<Frame<S, K>>> {
        if let Err(error) = check_vaddr(vaddr, S::BYTES as u64) {
            return Err(Rejected { error, value: self });
        }
        // seL4 16.0.0 would replace a mapping silently: record this one first.
        #[cfg(kaal_sel4 = "16")]
        if let Err(error) = crate::occupancy::record(vspace.space, vaddr, S::BYTES as u64) {
            return Err(Rejected { error, value: self });
        }
        let result = self.map_unrecorded::<A>(vspace, vaddr, cache, alloc);
        #[cfg(kaal_sel4 = "16")]
        if result.is_err() {
            crate::occupancy::forget(vspace.space, vaddr, S::BYTES as u64);
        }
        result
    }

    fn map_unrecorded<A: Access>(
        self,
        vspace: &mut VSpace,
        vaddr: u64,
        cache: CacheAttr,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<MappedFrame<S, K, A>, Rejected<Frame<S, K>>> {
        // A paging-structure miss costs one retry per missing level (at most three).
        for _ in 0..4 {
            // SAFETY: nothing is mapped at `vaddr`: seL4 5.0.0's kernel refuses to map over
            // an existing translation (seL4_DeleteFirst), and on 16.0.0 the mapping table
            // refused above. So this cannot change memory Rust already references.
            let err = unsafe {
                sys::seL4_X86_Page_Map(self.cap.cptr(), vspace.root.cptr(), vaddr, A::RIGHTS.word(), cache.word())
            };
            let error = match Error::check(err, "seL4_X86_Page_Map") {
                Ok(()) => {
                    let Frame { cap, paddr, .. } = self;
                    let (space, local) = (vspace.space, vspace.current);
                    return Ok(MappedFrame { cap, paddr, vaddr, space, local, _state: PhantomData });
                }
                Err(e) => e,
            };
            match error.kernel_error() {
                Some(KernelError::FailedLookup) => {
                    if let Err(error) = vspace.install(S::TABLE, vaddr, alloc) {
                        return Err(Rejected { error, value: self });
                    }
                }
                Some(KernelError::DeleteFirst) => {
                    return Err(Rejected { error: Error::AddressInUse { vaddr }, value: self })
                }
                _ => return Err(Rejected { error, value: self }),
            }
        }
        Err(Rejected {
            error: Error::BadAddress { vaddr, why: "paging structures could not be installed" },
            value: self,
        })
    }
}

impl<S: PageSize> Frame<S, Ram> {
    /// Turns the frame into shared memory, so its capability can be copied (to map it in
    /// another address space, or give it to a device). From then on no mapping of it
    /// lends out a byte slice.
    pub fn into_shared(self) -> Frame<S, Shared> {
        let Frame { cap, paddr, .. } = self;
        Frame { cap, paddr, _kind: PhantomData }
    }
}

impl<S: PageSize, K: Copyable> Frame<S, K> {
    /// A second capability to the same frame, to map it into another address space.
    pub fn copy(&self, cspace: &mut CSpace) -> Result<Frame<S, K>> {
        Ok(Frame { cap: cspace.copy(&self.cap, Rights::ALL)?, paddr: self.paddr, _kind: PhantomData })
    }
}

impl<S: PageSize, A: Access> MappedFrame<S, Shared, A> {
    /// A second capability to this shared frame, unmapped, to map it elsewhere too.
    pub(crate) fn copy_cap(&self, cspace: &mut CSpace) -> Result<Frame<S, Shared>> {
        Ok(Frame { cap: cspace.copy(&self.cap, Rights::ALL)?, paddr: self.paddr, _kind: PhantomData })
    }
}

/// A frame mapped at a virtual address, with access `A`.
#[must_use = "dropping a mapped frame leaks the mapping; unmap it"]
pub struct MappedFrame<S: PageSize = Small, K: FrameKind = Ram, A: Access = ReadWrite> {
    cap: Cap<S::Kind>,
    paddr: u64,
    vaddr: u64,
    /// The address space, for the mapping table (seL4 16.0.0).
    space: u32,
    local: bool,
    _state: PhantomData<(K, A)>,
}

impl<S: PageSize, K: FrameKind, A: Access> core::fmt::Debug for MappedFrame<S, K, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "MappedFrame<{}, {}> {{ slot: {}, paddr: {:#x}, vaddr: {:#x}, {} }}",
            S::NAME,
            K::NAME,
            self.cap.cptr(),
            self.paddr,
            self.vaddr,
            if A::RIGHTS.write { "read-write" } else { "read-only" }
        )
    }
}

impl<S: PageSize, K: FrameKind, A: Access> MappedFrame<S, K, A> {
    /// Virtual address of the mapping.
    pub fn vaddr(&self) -> u64 {
        self.vaddr
    }

    /// Physical address of the frame.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        S::BYTES
    }

    /// The slot address.
    pub(crate) fn cptr(&self) -> CPtr {
        self.cap.cptr()
    }

    /// Is the frame mapped in the calling thread's address space?
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Unmaps the frame and hands back the unmapped [`Frame`].
    pub fn unmap(self) -> Frame<S, K> {
        // SAFETY: this handle owns the mapping and is consumed, so no borrow of the
        // frame's memory can outlive it.
        let err = unsafe { sys::seL4_X86_Page_Unmap(self.cap.cptr()) };
        // Unmap of a valid frame capability cannot fail (the kernel only checks the cap
        // type, which the handle's type guarantees).
        debug_assert_eq!(err, sys::seL4_NoError, "seL4_X86_Page_Unmap");
        #[cfg(kaal_sel4 = "16")]
        crate::occupancy::forget(self.space, self.vaddr, S::BYTES as u64);
        #[cfg(kaal_sel4 = "5")]
        let _ = self.space;
        Frame { cap: self.cap, paddr: self.paddr, _kind: PhantomData }
    }

    /// Hands the mapping over for good: the frame stays mapped for the rest of the
    /// program and its address is returned (used for heaps, stacks and shared regions).
    pub fn leak(self) -> u64 {
        let vaddr = self.vaddr;
        let _ = self.cap.into_cptr();
        vaddr
    }

    /// Hands the mapping over for good and keeps the capability, for code in
    /// `kaal-core` that copies it later (shared regions grant copies to components).
    pub(crate) fn leak_keeping_cap(self) -> (u64, CPtr) {
        (self.vaddr, self.cap.into_cptr())
    }
}

impl<S: PageSize, A: Access> MappedFrame<S, Ram, A> {
    /// The frame's bytes, if it is mapped in this address space.
    pub fn as_bytes(&self) -> Result<&[u8]> {
        if !self.local {
            return Err(Error::NotMappedHere { vaddr: self.vaddr });
        }
        // SAFETY: the frame is RAM mapped at `vaddr` in our address space for as long as
        // this handle lives (unmapping consumes it); its capability has no copies, so no
        // other mapping of it exists.
        Ok(unsafe { core::slice::from_raw_parts(self.vaddr as *const u8, S::BYTES) })
    }
}

impl<S: PageSize> MappedFrame<S, Ram, ReadWrite> {
    /// The frame's bytes, writable, if it is mapped in this address space.
    pub fn as_bytes_mut(&mut self) -> Result<&mut [u8]> {
        if !self.local {
            return Err(Error::NotMappedHere { vaddr: self.vaddr });
        }
        // SAFETY: as for `as_bytes`; the mapping is writable, and `&mut self` makes the
        // borrow exclusive.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.vaddr as *mut u8, S::BYTES) })
    }
}
