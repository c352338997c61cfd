//! Untyped memory and retyping it into kernel objects.
//!
//! An [`Untyped`] is a power-of-two block of physical memory. Retyping carves objects out
//! of it from a watermark upwards, each aligned to its own size, exactly as the kernel
//! does (`decodeUntypedInvocation`). KaaL mirrors the watermark so it knows, without
//! asking the kernel, how much is left and the physical address of every object it
//! creates; that is how a [`crate::vspace::Frame`] knows its physical address.
//!
//! The untyped stays the parent of what it creates; the objects live as long as their
//! capabilities, and revoking the untyped destroys them all.

use crate::cap::{cap_type, CPtr, Cap, CapType, FixedSizeObject};
use crate::cspace::ROOT_DEPTH;
use crate::cspace::{CSpace, Slot};
use crate::error::{Error, Result};
use crate::sys;

/// Which untyped memory an object may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// RAM: kernel objects and ordinary frames.
    Ram,
    /// Device memory: device frames only.
    Device,
}

/// What a retype produces: a handle built from the new capability and the object's
/// physical address. Implemented by `kaal-core`'s handle types only.
pub trait Retype: Sized + private::FromRetyped {
    /// The `seL4_ObjectType`.
    const OBJECT_TYPE: sys::seL4_Word;
    /// log2 of the object's size in bytes.
    const SIZE_BITS: u32;
    /// The retype's size argument: 0 for objects of one size, log2 bytes for objects
    /// whose size the caller picks (an MCS scheduling context).
    const SIZE_ARG: u32 = 0;
    /// Name for diagnostics.
    const NAME: &'static str;
    /// The memory it must be made from: a RAM frame from device memory would lend out
    /// device registers as bytes, and a device frame from RAM would hide that it is RAM.
    const MEMORY: Memory;
}

pub(crate) mod private {
    /// Builds a handle for a freshly retyped object.
    pub trait FromRetyped {
        /// # Safety
        /// `cptr` must hold the new object's only capability.
        unsafe fn from_retyped(cptr: super::CPtr, paddr: u64) -> Self;
    }
}

impl<T: FixedSizeObject> private::FromRetyped for Cap<T> {
    unsafe fn from_retyped(cptr: CPtr, _paddr: u64) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { Cap::from_cptr(cptr) }
    }
}

impl<T: FixedSizeObject> Retype for Cap<T> {
    const OBJECT_TYPE: sys::seL4_Word = T::OBJECT_TYPE;
    const SIZE_BITS: u32 = T::SIZE_BITS;
    const SIZE_ARG: u32 = T::SIZE_ARG;
    const NAME: &'static str = T::NAME;
    const MEMORY: Memory = Memory::Ram;
}

/// A block of untyped memory.
#[must_use = "an untyped handle is the only way to use its memory"]
pub struct Untyped {
    cap: Cap<cap_type::Untyped>,
    paddr: u64,
    size_bits: u8,
    is_device: bool,
    /// Bytes from the start that are used (mirrors the kernel's free index).
    watermark: u64,
}

impl core::fmt::Debug for Untyped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Untyped {{ slot: {}, paddr: {:#x}, size: 2^{}, {}, used: {:#x} }}",
            self.cap.cptr(),
            self.paddr,
            self.size_bits,
            if self.is_device { "device" } else { "RAM" },
            self.watermark
        )
    }
}

/// Offset of the next object of `2^obj_bits` bytes, if it fits.
pub(crate) fn place(watermark: u64, obj_bits: u32, size_bits: u8) -> Option<u64> {
    let size = 1u64.checked_shl(size_bits as u32)?;
    let obj = 1u64.checked_shl(obj_bits)?;
    let offset = watermark.checked_add(obj - 1)? & !(obj - 1);
    (offset.checked_add(obj)? <= size).then_some(offset)
}

impl Untyped {
    /// Wraps an untyped capability.
    ///
    /// # Safety
    /// `cptr` must hold an untyped capability for `2^size_bits` bytes at `paddr`, with
    /// nothing retyped from it yet, owned by no one else.
    pub unsafe fn from_raw(cptr: CPtr, paddr: u64, size_bits: u8, is_device: bool) -> Self {
        // SAFETY: forwarded from the caller.
        Self { cap: unsafe { Cap::from_cptr(cptr) }, paddr, size_bits, is_device, watermark: 0 }
    }

    /// Physical address of the block.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// log2 of the block's size.
    pub fn size_bits(&self) -> u8 {
        self.size_bits
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        1 << self.size_bits
    }

    /// Device memory (MMIO) rather than RAM. Device untypeds can only become frames.
    pub fn is_device(&self) -> bool {
        self.is_device
    }

    /// Bytes not yet retyped.
    pub fn free_bytes(&self) -> u64 {
        self.size() - self.watermark
    }

    /// The largest aligned object that still fits, as log2 bytes.
    pub fn largest_free_bits(&self) -> Option<u32> {
        (sys::seL4_MinUntypedBits as u32..=self.size_bits as u32)
            .rev()
            .find(|bits| place(self.watermark, *bits, self.size_bits).is_some())
    }

    /// Gives up the handle; the capability stays in its slot.
    pub fn into_cptr(self) -> CPtr {
        self.cap.into_cptr()
    }

    /// Could an object of `2^bits` bytes still be carved out?
    pub fn fits(&self, bits: u32) -> bool {
        place(self.watermark, bits, self.size_bits).is_some()
    }

    /// Retypes one object into `slot`; `memory` is what it must be made of (`None`: an
    /// untyped split, of either). On failure the slot comes back.
    fn retype_raw(
        &mut self,
        object_type: sys::seL4_Word,
        size_arg: u32,
        obj_bits: u32,
        name: &'static str,
        memory: Option<Memory>,
        slot: Slot,
    ) -> core::result::Result<(CPtr, u64), (Error, Slot)> {
        match memory {
            Some(Memory::Ram) if self.is_device => return Err((Error::DeviceMemoryObject { object: name }, slot)),
            Some(Memory::Device) if !self.is_device => return Err((Error::RamAsDevice { object: name }, slot)),
            _ => {}
        }
        let Some(offset) = place(self.watermark, obj_bits, self.size_bits) else {
            let largest = self.largest_free_bits().map(|b| 1u64 << b).unwrap_or(0);
            return Err((
                Error::OutOfMemory {
                    requested: 1 << obj_bits,
                    largest_free: largest,
                    total_free: self.free_bytes(),
                    device: self.is_device,
                },
                slot,
            ));
        };
        // SAFETY: retyping into an empty slot we own creates a new object; no existing
        // memory of this address space changes.
        let err = unsafe {
            sys::seL4_Untyped_Retype(
                self.cap.cptr(),
                object_type,
                size_arg as u64,
                sys::seL4_CapInitThreadCNode,
                0,
                0,
                slot.cptr(),
                1,
            )
        };
        match Error::check(err, "seL4_Untyped_Retype") {
            Ok(()) => {
                self.watermark = offset + (1 << obj_bits);
                Ok((slot.cptr(), self.paddr + offset))
            }
            Err(e) => Err((e, slot)),
        }
    }

    /// Creates one object of type `T` (an endpoint, a frame, a TCB, ...) in a new slot.
    ///
    /// Fails with [`Error::OutOfMemory`], saying how much is left, when the object does
    /// not fit; the slot goes back to `cspace` and nothing is lost.
    pub fn retype<T: Retype>(&mut self, cspace: &mut CSpace) -> Result<T> {
        let slot = cspace.alloc_slot()?;
        match self.retype_raw(T::OBJECT_TYPE, T::SIZE_ARG, T::SIZE_BITS, T::NAME, Some(T::MEMORY), slot) {
            // SAFETY: the kernel just created the object; its only cap is in our slot.
            Ok((cptr, paddr)) => Ok(unsafe { T::from_retyped(cptr, paddr) }),
            Err((e, slot)) => {
                cspace.free_slot(slot);
                Err(e)
            }
        }
    }

    /// Creates a CNode with `2^radix_bits` slots.
    pub fn retype_cnode(&mut self, radix_bits: u32, cspace: &mut CSpace) -> Result<Cap<cap_type::CNode>> {
        if !(1..=24).contains(&radix_bits) {
            return Err(Error::InvalidSize { what: "CNode radix (bits)", value: radix_bits as u64, limit: 24 });
        }
        let slot = cspace.alloc_slot()?;
        let bits = radix_bits + sys::seL4_SlotBits as u32;
        match self.retype_raw(
            sys::seL4_CapTableObject,
            radix_bits,
            bits,
            cap_type::CNode::NAME,
            Some(Memory::Ram),
            slot,
        ) {
            // SAFETY: the kernel just created the CNode; its only cap is in our slot.
            Ok((cptr, _)) => Ok(unsafe { Cap::from_cptr(cptr) }),
            Err((e, slot)) => {
                cspace.free_slot(slot);
                Err(e)
            }
        }
    }

    /// Splits off a child untyped of `2^size_bits` bytes.
    pub fn split(&mut self, size_bits: u8, cspace: &mut CSpace) -> Result<Untyped> {
        if (size_bits as u64) < sys::seL4_MinUntypedBits || size_bits > self.size_bits {
            return Err(Error::InvalidSize {
                what: "untyped split (bits)",
                value: size_bits as u64,
                limit: self.size_bits as u64,
            });
        }
        let slot = cspace.alloc_slot()?;
        match self.retype_raw(sys::seL4_UntypedObject, size_bits as u32, size_bits as u32, "untyped", None, slot) {
            // SAFETY: the kernel just created the child untyped in our slot.
            Ok((cptr, paddr)) => Ok(unsafe { Untyped::from_raw(cptr, paddr, size_bits, self.is_device) }),
            Err((e, slot)) => {
                cspace.free_slot(slot);
                Err(e)
            }
        }
    }

    /// Destroys every object created from this untyped and makes all of it free again.
    ///
    /// # Safety
    /// Frames created from this untyped disappear, mappings included: no memory Rust
    /// still references may live in them, and no other handle to the destroyed objects
    /// may be used afterwards.
    pub unsafe fn revoke(&mut self) -> Result<()> {
        // SAFETY: forwarded from the caller.
        let err = unsafe { sys::seL4_CNode_Revoke(sys::seL4_CapInitThreadCNode, self.cap.cptr(), ROOT_DEPTH) };
        Error::check(err, "seL4_CNode_Revoke")?;
        self.watermark = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_aligned_to_their_own_size() {
        // 4 KiB untyped: a 16-byte endpoint at 0, then a 2 KiB TCB must skip to 2048.
        assert_eq!(place(0, 4, 12), Some(0));
        assert_eq!(place(16, 11, 12), Some(2048));
        assert_eq!(place(2048 + 2048, 4, 12), None);
        assert_eq!(place(0, 13, 12), None);
        assert_eq!(place(u64::MAX, 4, 63), None);
    }
}
