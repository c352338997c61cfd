//! Owned, typed capability handles.
//!
//! One zero-sized marker type per kind of capability ([`cap_type`]) and one generic
//! handle, [`Cap<T>`], over it, as in rust-sel4. Unlike rust-sel4's, KaaL's handles are
//! **owned**: they are neither `Copy` nor `Clone`, so a slot cannot be used after its
//! capability was deleted or moved, and operations that change an object's state consume
//! the handle and return the new state (see [`crate::vspace::Frame::map`]).
//!
//! Only `kaal-core` creates handles: from BootInfo, from `Untyped` retypes, from CNode
//! copies, or from a component's start-up block. Higher layers receive them and pass
//! them on; they cannot forge one from a number without `unsafe`.

use core::fmt;
use core::marker::PhantomData;

use crate::sys;

/// A capability pointer: an address in the owning thread's CSpace.
pub type CPtr = sys::seL4_CPtr;

mod sealed {
    pub trait Sealed {}
}

/// A kind of capability.
pub trait CapType: sealed::Sealed {
    /// Human-readable name for diagnostics ("endpoint", "4 KiB frame", ...).
    const NAME: &'static str;
    /// The kernel's tag for this kind (generated), as `seL4_DebugCapIdentify` reports it.
    const KERNEL_TAG: Option<u64>;
}

/// The name of a kernel capability tag, for diagnostics.
pub fn kernel_tag_name(tag: u64) -> &'static str {
    sys::KERNEL_CAP_TAGS.iter().find(|(_, t)| *t == tag).map(|(name, _)| *name).unwrap_or("unknown capability")
}

/// A kernel object of fixed size that an [`crate::untyped::Untyped`] can be retyped into.
pub trait FixedSizeObject: CapType {
    /// The `seL4_ObjectType` (generated from libsel4's headers).
    const OBJECT_TYPE: sys::seL4_Word;
    /// log2 of the object's size in bytes (generated).
    const SIZE_BITS: u32;
    /// The retype's size argument: 0, or `SIZE_BITS` for objects whose size the caller
    /// chooses (KaaL always picks one size for those).
    const SIZE_ARG: u32 = 0;
}

/// One marker type per entry: `Name = "display name", tag KERNEL_TAG` and, for objects
/// an untyped can be retyped into, `object TYPE, bits SIZE_BITS` (and `size_arg BITS` for
/// objects whose size the caller picks). An entry's attributes (docs, a `cfg` for kinds
/// only some kernels have) apply to the type and its impls alike.
macro_rules! cap_types {
    ($($(#[$attr:meta])* $name:ident = $display:literal, tag $tag:ident
        $(, object $ty:expr, bits $bits:expr $(, size_arg $arg:expr)?)?;)*) => {
        /// Marker types, one per kind of capability.
        pub mod cap_type {
            $(
                $(#[$attr])*
                #[derive(Debug)]
                pub enum $name {}
                $(#[$attr])*
                impl super::sealed::Sealed for $name {}
                $(#[$attr])*
                impl super::CapType for $name {
                    const NAME: &'static str = $display;
                    const KERNEL_TAG: Option<u64> = Some(crate::sys::$tag);
                }
                cap_types!(@object [$(#[$attr])*] $name $(, $ty, $bits $(, $arg)?)?);
            )*
        }
    };
    (@object [$($attr:tt)*] $name:ident) => {};
    (@object [$($attr:tt)*] $name:ident, $ty:expr, $bits:expr $(, $arg:expr)?) => {
        $($attr)*
        impl super::FixedSizeObject for $name {
            const OBJECT_TYPE: crate::sys::seL4_Word = $ty;
            const SIZE_BITS: u32 = $bits as u32;
            $(const SIZE_ARG: u32 = $arg as u32;)?
        }
    };
}

cap_types! {
    /// Untyped memory, the parent of every other object.
    Untyped = "untyped", tag KERNEL_CAP_TAG_untyped_cap;
    /// A thread control block.
    Tcb = "TCB", tag KERNEL_CAP_TAG_thread_cap, object crate::sys::seL4_TCBObject, bits crate::sys::seL4_TCBBits;
    /// A synchronous IPC endpoint.
    Endpoint = "endpoint", tag KERNEL_CAP_TAG_endpoint_cap, object crate::sys::seL4_EndpointObject, bits crate::sys::seL4_EndpointBits;
    /// An asynchronous notification (a word of signal bits).
    Notification = "notification", tag KERNEL_CAP_TAG_notification_cap, object crate::sys::seL4_NotificationObject, bits crate::sys::seL4_NotificationBits;
    /// A CNode: a table of capability slots.
    CNode = "CNode", tag KERNEL_CAP_TAG_cnode_cap;
    /// A 4 KiB frame.
    Page = "4 KiB frame", tag KERNEL_CAP_TAG_frame_cap, object crate::sys::seL4_X86_4K, bits crate::sys::seL4_PageBits;
    /// A 2 MiB frame.
    LargePage = "2 MiB frame", tag KERNEL_CAP_TAG_frame_cap, object crate::sys::seL4_X86_LargePageObject, bits crate::sys::seL4_LargePageBits;
    /// A page table (maps 2 MiB with 4 KiB pages).
    PageTable = "page table", tag KERNEL_CAP_TAG_page_table_cap, object crate::sys::seL4_X86_PageTableObject, bits crate::sys::seL4_PageTableBits;
    /// A page directory (maps 1 GiB).
    PageDirectory = "page directory", tag KERNEL_CAP_TAG_page_directory_cap, object crate::sys::seL4_X86_PageDirectoryObject, bits crate::sys::seL4_PageDirBits;
    /// A page-directory pointer table (maps 512 GiB).
    Pdpt = "PDPT", tag KERNEL_CAP_TAG_pdpt_cap, object crate::sys::seL4_X86_PDPTObject, bits crate::sys::seL4_PDPTBits;
    /// A PML4: the root of an x86_64 address space.
    Pml4 = "PML4", tag KERNEL_CAP_TAG_pml4_cap, object crate::sys::seL4_X64_PML4Object, bits crate::sys::seL4_PML4Bits;
    /// The right to create IRQ handlers.
    IrqControl = "IRQ control", tag KERNEL_CAP_TAG_irq_control_cap;
    /// The right to receive and acknowledge one interrupt.
    IrqHandler = "IRQ handler", tag KERNEL_CAP_TAG_irq_handler_cap;
    /// The right to use x86 I/O ports.
    IoPort = "I/O port", tag KERNEL_CAP_TAG_io_port_cap;
    /// The right to create ASID pools.
    AsidControl = "ASID control", tag KERNEL_CAP_TAG_asid_control_cap;
    /// A pool of address-space identifiers.
    AsidPool = "ASID pool", tag KERNEL_CAP_TAG_asid_pool_cap;
    /// seL4 16.0.0: the right to issue I/O port capabilities, each range once.
    #[cfg(kaal_sel4 = "16")]
    IoPortControl = "I/O port control", tag KERNEL_CAP_TAG_io_port_control_cap;
    /// seL4 MCS: a reply object, where a `Call`er waits for its answer. Each MCS thread
    /// receives with one.
    #[cfg(kaal_mcs)]
    Reply = "reply", tag KERNEL_CAP_TAG_reply_cap, object crate::sys::seL4_ReplyObject, bits crate::sys::seL4_ReplyBits;
    /// seL4 MCS: a scheduling context, a budget of CPU time per period. KaaL makes the
    /// smallest one (`seL4_MinSchedContextBits`), which holds the refills a
    /// budget-and-period context needs.
    #[cfg(kaal_mcs)]
    SchedContext = "scheduling context", tag KERNEL_CAP_TAG_sched_context_cap,
        object crate::sys::seL4_SchedContextObject, bits crate::sys::seL4_MinSchedContextBits,
        size_arg crate::sys::seL4_MinSchedContextBits;
    /// seL4 MCS: the right to give scheduling contexts budgets (one per core).
    #[cfg(kaal_mcs)]
    SchedControl = "scheduling control", tag KERNEL_CAP_TAG_sched_control_cap;
}

/// An owned capability of kind `T`.
///
/// Dropping a `Cap` leaks its slot (the capability stays in the CNode); return slots with
/// [`crate::cspace::CSpace::delete`].
#[must_use = "dropping a capability handle leaks its slot; delete it through the CSpace"]
pub struct Cap<T: CapType> {
    cptr: CPtr,
    _kind: PhantomData<T>,
}

impl<T: CapType> Cap<T> {
    /// Wraps the capability in slot `cptr`.
    ///
    /// # Safety
    /// The slot must hold a capability of kind `T`, and nothing else may own it: two
    /// handles to one slot would let one delete what the other still uses.
    pub const unsafe fn from_cptr(cptr: CPtr) -> Self {
        Self { cptr, _kind: PhantomData }
    }

    /// The slot address, for the raw layer (private: with it, safe code could hand the
    /// slot to an invocation behind the handle's back).
    #[inline(always)]
    pub(crate) const fn cptr(&self) -> CPtr {
        self.cptr
    }

    /// Gives up ownership and returns the slot address. The capability stays in its
    /// slot, and only `unsafe` code can use the number.
    pub fn into_cptr(self) -> CPtr {
        self.cptr
    }
}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cap in slot {}", T::NAME, self.cptr)
    }
}

/// seL4 MCS: a reply object.
#[cfg(kaal_mcs)]
pub type Reply = Cap<cap_type::Reply>;
/// seL4 MCS: a scheduling context.
#[cfg(kaal_mcs)]
pub type SchedContext = Cap<cap_type::SchedContext>;
/// A thread control block.
pub type Tcb = Cap<cap_type::Tcb>;
/// A synchronous IPC endpoint.
pub type Endpoint = Cap<cap_type::Endpoint>;
/// An asynchronous notification.
pub type Notification = Cap<cap_type::Notification>;
/// A CNode.
pub type CNode = Cap<cap_type::CNode>;
/// IRQ control.
pub type IrqControl = Cap<cap_type::IrqControl>;
/// An IRQ handler.
pub type IrqHandler = Cap<cap_type::IrqHandler>;
/// x86 I/O port access.
pub type IoPort = Cap<cap_type::IoPort>;
/// ASID control.
pub type AsidControl = Cap<cap_type::AsidControl>;
/// An ASID pool.
pub type AsidPool = Cap<cap_type::AsidPool>;

/// The badge carried by a minted capability. seL4 5.0 on x86_64 has 28-bit badges;
/// seL4 16.0's badges are whole words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Badge(u64);

impl Badge {
    /// Number of usable badge bits (generated from the `Badge` block in `types_64.bf`).
    #[cfg(kaal_sel4 = "5")]
    pub const BITS: u32 = sys::Badge_Badge_WIDTH;
    /// Number of usable badge bits: a whole word.
    #[cfg(kaal_sel4 = "16")]
    pub const BITS: u32 = sys::seL4_WordBits as u32;
    /// The largest badge.
    pub const MAX: u64 = if Self::BITS >= 64 { u64::MAX } else { (1 << Self::BITS) - 1 };

    /// A badge, if `value` fits in [`Badge::BITS`] bits and is not 0 (0 means "unbadged").
    pub const fn new(value: u64) -> Option<Self> {
        // On seL4 16.0.0 every non-zero word is a badge and the second test never holds.
        #[allow(clippy::absurd_extreme_comparisons)]
        if value == 0 || value > Self::MAX {
            None
        } else {
            Some(Self(value))
        }
    }

    /// The badge value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The capability data word for `CNode_Mint`: seL4 5.0's tagged `seL4_CapData_t`.
    #[cfg(kaal_sel4 = "5")]
    pub(crate) const fn cap_data(self) -> sys::seL4_Word {
        (sys::seL4_CapData_Badge << sys::Badge_CapDataType_SHIFT) | (self.0 << sys::Badge_Badge_SHIFT)
    }

    /// The capability data word for `CNode_Mint`: in seL4 16.0 the badge itself.
    #[cfg(kaal_sel4 = "16")]
    pub(crate) const fn cap_data(self) -> sys::seL4_Word {
        self.0
    }
}

/// Rights on a capability or a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
    pub grant: bool,
}

impl Rights {
    /// Read, write and grant.
    pub const ALL: Rights = Rights { read: true, write: true, grant: true };
    /// Read and write.
    pub const READ_WRITE: Rights = Rights { read: true, write: true, grant: false };
    /// Read only.
    pub const READ: Rights = Rights { read: true, write: false, grant: false };
    /// Write only (e.g. the sending side of an endpoint).
    pub const WRITE: Rights = Rights { read: false, write: true, grant: false };

    /// The `seL4_CapRights_t` word (layout generated from `shared_types_64.bf`).
    pub const fn word(self) -> sys::seL4_Word {
        ((self.read as u64) << sys::seL4_CapRights_capAllowRead_SHIFT)
            | ((self.write as u64) << sys::seL4_CapRights_capAllowWrite_SHIFT)
            | ((self.grant as u64) << sys::seL4_CapRights_capAllowGrant_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(kaal_sel4 = "5")]
    fn badges_are_28_bits_and_never_zero() {
        assert_eq!(Badge::BITS, 28);
        assert!(Badge::new(0).is_none());
        assert!(Badge::new(Badge::MAX + 1).is_none());
        assert_eq!(Badge::new(0x42).unwrap().cap_data(), 0x42);
    }

    #[test]
    fn rights_words_match_the_bitfield_layout() {
        assert_eq!(Rights::ALL.word(), 0b111);
        assert_eq!(Rights::READ_WRITE.word(), 0b011);
        assert_eq!(Rights::READ.word(), 0b010);
        assert_eq!(Rights::WRITE.word(), 0b001);
    }
}
