//! The root task's CSpace: its CNode and which slots are free.
//!
//! The kernel tells the root task which slots of its CNode are empty
//! (`bootinfo.empty`); [`CSpace`] hands them out one at a time as owned [`Slot`]s and
//! takes them back when a capability is deleted. The bookkeeping is a fixed bitmap, so it
//! works before any heap exists and never allocates.

use crate::cap::CPtr;
use crate::cap::{Badge, Cap, CapType, Rights};
use crate::error::{Error, Rejected, Result};
use crate::sys;

/// Slots in the root CNode, from the kernel config.
pub const ROOT_SLOTS: usize = 1 << sys::config::CONFIG_ROOT_CNODE_SIZE_BITS;
/// Slots of a CNode that [`CSpace`] hands out: up to 16384 (2 KiB of bitmap), in the
/// root CNode (which has 4096 by default) or in a process manager's (see
/// [`crate::supervisor::MAX_MANAGER_CNODE_BITS`]). A `CSpace` is a bitmap that lives on
/// the stack and is split into sub-allocators, so its size must not follow the CNode's:
/// seL4 16.0.0's X64_verified configuration has 2^19 slots, which would make each
/// `CSpace` 64 KiB and overflow the root task's stack.
pub const TRACKED_SLOTS: usize = 1 << 14;
/// Bits to resolve a slot of the root CNode: its guard makes every CPtr a full word.
pub(crate) const ROOT_DEPTH: u8 = sys::seL4_WordBits as u8;

/// An empty slot in the root CNode, owned by whoever will fill it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an unused slot should go back to the CSpace with free_slot"]
pub struct Slot(CPtr);

impl Slot {
    /// The slot's address.
    pub const fn cptr(&self) -> CPtr {
        self.0
    }
}

/// Free-slot bitmap over a CNode of `N * 64` slots. Pure bookkeeping, tested on the host.
#[derive(Debug, Clone)]
pub struct SlotBitmap<const N: usize> {
    free: [u64; N],
    count: usize,
    /// Lowest word that may have a free bit.
    hint: usize,
}

impl<const N: usize> SlotBitmap<N> {
    /// A bitmap in which exactly the slots in `free` are available.
    pub fn with_free_range(free: core::ops::Range<u64>) -> Self {
        let mut map = Self { free: [0; N], count: 0, hint: 0 };
        for slot in free.start..free.end.min((N * 64) as u64) {
            map.release(slot);
        }
        map.hint = 0;
        map
    }

    /// Takes the lowest free slot.
    pub fn take(&mut self) -> Option<u64> {
        for w in self.hint..N {
            let word = self.free[w];
            if word != 0 {
                let bit = word.trailing_zeros() as usize;
                self.free[w] &= !(1 << bit);
                self.count -= 1;
                self.hint = w;
                return Some((w * 64 + bit) as u64);
            }
        }
        self.hint = N;
        None
    }

    /// Returns `slot`; returning a slot that is already free is ignored.
    pub fn release(&mut self, slot: u64) {
        let (w, bit) = (slot as usize / 64, slot % 64);
        if w < N && self.free[w] & (1 << bit) == 0 {
            self.free[w] |= 1 << bit;
            self.count += 1;
            self.hint = self.hint.min(w);
        }
    }

    /// Number of free slots.
    pub fn free_count(&self) -> usize {
        self.count
    }

    /// Total slots tracked.
    pub const fn capacity(&self) -> usize {
        N * 64
    }
}

/// The root task's CNode with its free-slot map.
pub struct CSpace {
    slots: SlotBitmap<{ TRACKED_SLOTS / 64 }>,
}

impl core::fmt::Debug for CSpace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CSpace({} of {} slots free)", self.slots.free_count(), TRACKED_SLOTS)
    }
}

impl CSpace {
    /// The root CSpace with the slots in `empty` (from BootInfo) free.
    pub(crate) fn new(empty: core::ops::Range<CPtr>) -> Self {
        Self { slots: SlotBitmap::with_free_range(empty) }
    }

    /// A CSpace with no free slots: nothing can be placed through it. For host tests of
    /// bookkeeping that holds a CSpace but never invokes the kernel.
    pub fn without_slots() -> Self {
        Self { slots: SlotBitmap::with_free_range(0..0) }
    }

    /// Number of free slots.
    pub fn free_slots(&self) -> usize {
        self.slots.free_count()
    }

    /// Takes an empty slot.
    pub fn alloc_slot(&mut self) -> Result<Slot> {
        self.slots.take().map(Slot).ok_or(Error::OutOfSlots {
            cnode: "the root CNode",
            capacity: if ROOT_SLOTS < TRACKED_SLOTS { ROOT_SLOTS } else { TRACKED_SLOTS },
        })
    }

    /// Returns an empty slot.
    pub fn free_slot(&mut self, slot: Slot) {
        self.slots.release(slot.0);
    }

    /// Moves `count` free slots into a new, independent `CSpace` over the same CNode,
    /// e.g. for a heap or a sub-allocator that must never run out because someone else
    /// used all the slots.
    pub fn split(&mut self, count: usize) -> Result<CSpace> {
        if count > self.free_slots() {
            return Err(Error::OutOfSlots {
                cnode: "the root CNode",
                capacity: if ROOT_SLOTS < TRACKED_SLOTS { ROOT_SLOTS } else { TRACKED_SLOTS },
            });
        }
        let mut part = CSpace { slots: SlotBitmap::with_free_range(0..0) };
        for _ in 0..count {
            let slot = self.slots.take().expect("counted above");
            part.slots.release(slot);
        }
        Ok(part)
    }

    /// Takes back the free slots of `other` (the inverse of [`CSpace::split`]).
    pub fn absorb(&mut self, other: CSpace) {
        let mut other = other;
        while let Some(slot) = other.slots.take() {
            self.slots.release(slot);
        }
    }

    /// Deletes `cap` and frees its slot. The object lives on while other capabilities
    /// to it exist. If the kernel refuses, the handle comes back unchanged.
    pub fn delete<T: CapType>(&mut self, cap: Cap<T>) -> core::result::Result<(), Rejected<Cap<T>>> {
        let cptr = cap.cptr();
        // SAFETY: deleting a capability we own; its handle is consumed, so nothing can
        // use the slot afterwards. Frames that are mapped are `MappedFrame`s, which are
        // not `Cap`s, so no live mapping disappears through this path.
        let err = unsafe { sys::seL4_CNode_Delete(sys::seL4_CapInitThreadCNode, cptr, ROOT_DEPTH) };
        match Error::check(err, "seL4_CNode_Delete") {
            Ok(()) => {
                self.slots.release(cptr);
                let _ = cap.into_cptr();
                Ok(())
            }
            Err(error) => Err(Rejected { error, value: cap }),
        }
    }

    /// Makes a copy of `cap` with `rights` (a subset of the original's) in a new slot.
    pub fn copy<T: CapType>(&mut self, cap: &Cap<T>, rights: Rights) -> Result<Cap<T>> {
        let slot = self.alloc_slot()?;
        // SAFETY: copying into an empty slot we own has no effect on memory.
        let err = unsafe {
            sys::seL4_CNode_Copy(
                sys::seL4_CapInitThreadCNode,
                slot.cptr(),
                ROOT_DEPTH,
                sys::seL4_CapInitThreadCNode,
                cap.cptr(),
                ROOT_DEPTH,
                rights.word(),
            )
        };
        self.finish(slot, Error::check(err, "seL4_CNode_Copy"))
    }

    /// Makes a badged copy of `cap` with `rights` in a new slot. Messages sent through
    /// the copy arrive with `badge`.
    pub fn mint<T: CapType>(&mut self, cap: &Cap<T>, rights: Rights, badge: Badge) -> Result<Cap<T>> {
        self.mint_data(cap, rights, badge.cap_data(), "seL4_CNode_Mint")
    }

    /// Mints `cap` with `rights` and the raw capability data `data` (a badge, a guard,
    /// an I/O port range) into a new slot; `invocation` names it in errors.
    pub(crate) fn mint_data<T: CapType>(
        &mut self,
        cap: &Cap<T>,
        rights: Rights,
        data: u64,
        invocation: &'static str,
    ) -> Result<Cap<T>> {
        let slot = self.alloc_slot()?;
        // SAFETY: minting into an empty slot we own has no effect on memory.
        let err = unsafe {
            sys::seL4_CNode_Mint(
                sys::seL4_CapInitThreadCNode,
                slot.cptr(),
                ROOT_DEPTH,
                sys::seL4_CapInitThreadCNode,
                cap.cptr(),
                ROOT_DEPTH,
                rights.word(),
                data,
            )
        };
        self.finish(slot, Error::check(err, invocation))
    }

    /// Wraps a filled slot, or frees it again if the kernel refused to fill it.
    pub(crate) fn finish<T: CapType>(&mut self, slot: Slot, result: Result<()>) -> Result<Cap<T>> {
        match result {
            Ok(()) => {
                // SAFETY: the kernel just placed a capability of kind T in this slot,
                // which we own exclusively.
                Ok(unsafe { Cap::from_cptr(slot.0) })
            }
            Err(e) => {
                self.free_slot(slot);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_only_free_slots_lowest_first() {
        let mut map = SlotBitmap::<2>::with_free_range(60..70);
        assert_eq!(map.free_count(), 10);
        let got: [u64; 10] = core::array::from_fn(|_| map.take().unwrap());
        assert_eq!(got, [60, 61, 62, 63, 64, 65, 66, 67, 68, 69]);
        assert_eq!(map.take(), None);
        map.release(63);
        map.release(63);
        assert_eq!(map.free_count(), 1);
        assert_eq!(map.take(), Some(63));
    }

    #[test]
    fn ignores_slots_beyond_capacity() {
        let map = SlotBitmap::<1>::with_free_range(60..200);
        assert_eq!(map.free_count(), 4);
        assert_eq!(map.capacity(), 64);
    }
}
