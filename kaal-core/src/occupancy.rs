//! Which virtual addresses are mapped, for kernels that do not say.
//!
//! seL4 5.0.0 refuses to map a page where one is mapped (`seL4_DeleteFirst`), and
//! [`crate::vspace::Frame::map`] relies on that: a [`crate::vspace::MappedFrame`] that
//! lends out `&mut [u8]` must be the only mapping at its address. seL4 16.0.0 checks
//! only for a page table in the way: a 4 KiB or 2 MiB page mapped over another one
//! silently replaces it (`createSafeMappingEntries_PTE` writes the entry unchecked), so
//! two handles could lend out the same addresses. On 16.0.0 KaaL therefore keeps the
//! map itself: every mapping made through a [`crate::vspace::VSpace`] handle, of every
//! address space, is recorded here before the kernel is asked, and refused with the
//! same [`crate::Error::AddressInUse`] 5.0.0's kernel gives.
//!
//! The table is a fixed array of address ranges, tagged by address space, that merges
//! neighbours, so a heap or a stack of many pages takes one entry. It lives in a
//! static (there is no allocator below `kaal-alloc`), shared by every handle of an
//! address space, behind a [`crate::sync::Lock`]: the first thread spawn attaches its
//! notification, and before that the main thread is the only one that can map.
//! If an unmap in the middle of a range finds no free entry for the split, the whole
//! range stays recorded: address space is lost, never safety.

/// One recorded range of mapped pages: `[start, end)` in address space `space`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub space: u32,
    pub start: u64,
    pub end: u64,
}

/// Why a range could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Part of it is mapped already.
    Overlaps,
    /// The table is full.
    Full,
}

/// Up to `N` disjoint ranges per address space, merged where they touch.
#[derive(Debug)]
pub(crate) struct Ranges<const N: usize> {
    entries: [Option<Range>; N],
}

impl<const N: usize> Ranges<N> {
    pub const fn new() -> Self {
        Self { entries: [None; N] }
    }

    fn overlaps(&self, r: Range) -> bool {
        self.entries.iter().flatten().any(|e| e.space == r.space && e.start < r.end && r.start < e.end)
    }

    /// Records `[start, end)` of `space`, unless any of it is recorded already.
    pub fn insert(&mut self, space: u32, start: u64, end: u64) -> Result<(), Refused> {
        let mut r = Range { space, start, end };
        if start >= end {
            return Ok(());
        }
        if self.overlaps(r) {
            return Err(Refused::Overlaps);
        }
        // Absorb the neighbours that touch it.
        for slot in self.entries.iter_mut() {
            if let Some(e) = *slot {
                if e.space == space && (e.end == r.start || e.start == r.end) {
                    r.start = r.start.min(e.start);
                    r.end = r.end.max(e.end);
                    *slot = None;
                }
            }
        }
        match self.entries.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(r);
                Ok(())
            }
            // Unreachable after a merge freed a slot; without one, nothing changed.
            None => Err(Refused::Full),
        }
    }

    /// Forgets `[start, end)` of `space`. If that splits a range and no entry is free
    /// for the second half, the whole range stays recorded (see the module docs).
    pub fn remove(&mut self, space: u32, start: u64, end: u64) {
        let Some(index) =
            self.entries.iter().position(|e| e.is_some_and(|e| e.space == space && e.start <= start && end <= e.end))
        else {
            return;
        };
        let e = self.entries[index].expect("found above");
        let (left, right) = ((e.start < start).then_some((e.start, start)), (end < e.end).then_some((end, e.end)));
        match (left, right) {
            (None, None) => self.entries[index] = None,
            (Some((s, t)), None) | (None, Some((s, t))) => {
                self.entries[index] = Some(Range { space, start: s, end: t })
            }
            (Some((s, t)), Some((u, v))) => {
                if let Some(free) = self.entries.iter().position(|e| e.is_none()) {
                    self.entries[index] = Some(Range { space, start: s, end: t });
                    self.entries[free] = Some(Range { space, start: u, end: v });
                }
            }
        }
    }

    /// Whether any of `[start, end)` of `space` is recorded.
    #[cfg(test)]
    pub fn contains_any(&self, space: u32, start: u64, end: u64) -> bool {
        self.overlaps(Range { space, start, end })
    }

    /// Entries in use.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }
}

#[cfg(kaal_sel4 = "16")]
pub(crate) use table::{forget, record, MAP_LOCK};

#[cfg(kaal_sel4 = "16")]
mod table {
    use core::cell::UnsafeCell;

    use super::{Ranges, Refused};
    use crate::error::Error;
    use crate::sync::Lock;

    /// Ranges recorded for every address space.
    const CAPACITY: usize = 512;

    struct Table(UnsafeCell<Ranges<CAPACITY>>);
    // SAFETY: every access holds MAP_LOCK, or happens before the first thread spawn (see
    // the module docs), so no two threads touch the table at once.
    unsafe impl Sync for Table {}

    static TABLE: Table = Table(UnsafeCell::new(Ranges::new()));
    /// Serialises the table once there are threads; `thread` attaches it.
    pub(crate) static MAP_LOCK: Lock = Lock::new();

    fn with<R>(f: impl FnOnce(&mut Ranges<CAPACITY>) -> R) -> R {
        let _guard = MAP_LOCK.try_lock_attached();
        // SAFETY: the lock is held, or (not attached) no second thread exists yet.
        f(unsafe { &mut *TABLE.0.get() })
    }

    /// Records a mapping of `bytes` at `vaddr` in `space`, or says why not.
    pub(crate) fn record(space: u32, vaddr: u64, bytes: u64) -> Result<(), Error> {
        with(|t| t.insert(space, vaddr, vaddr + bytes)).map_err(|why| match why {
            Refused::Overlaps => Error::AddressInUse { vaddr },
            Refused::Full => Error::LimitReached {
                what: "separate mapped ranges (seL4 16.0.0 mapping table)",
                requested: 1,
                available: 0,
                limit: CAPACITY as u64,
                fix: "map pages next to each other (neighbours share one entry), or unmap some",
            },
        })
    }

    /// Forgets a mapping recorded with [`record`].
    pub(crate) fn forget(space: u32, vaddr: u64, bytes: u64) {
        with(|t| t.remove(space, vaddr, vaddr + bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_overlaps_and_merges_neighbours() {
        let mut r = Ranges::<4>::new();
        r.insert(1, 0x1000, 0x2000).unwrap();
        r.insert(1, 0x2000, 0x3000).unwrap();
        r.insert(1, 0x3000, 0x5000).unwrap();
        assert_eq!(r.len(), 1, "neighbours merge");
        assert_eq!(r.insert(1, 0x4000, 0x5000), Err(Refused::Overlaps));
        assert_eq!(r.insert(1, 0x0000, 0x1001), Err(Refused::Overlaps));
        // Another address space is another namespace.
        r.insert(2, 0x1000, 0x2000).unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn removing_the_middle_splits_and_frees() {
        let mut r = Ranges::<4>::new();
        r.insert(1, 0x1000, 0x5000).unwrap();
        r.remove(1, 0x2000, 0x3000);
        assert!(!r.contains_any(1, 0x2000, 0x3000));
        assert!(r.contains_any(1, 0x1000, 0x2000) && r.contains_any(1, 0x3000, 0x5000));
        assert_eq!(r.len(), 2);
        r.insert(1, 0x2000, 0x3000).unwrap();
        assert_eq!(r.len(), 1, "filling the hole merges all three");
        r.remove(1, 0x1000, 0x5000);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_full_table_refuses_and_a_split_without_room_keeps_the_range() {
        let mut r = Ranges::<2>::new();
        r.insert(1, 0x1000, 0x4000).unwrap();
        r.insert(1, 0x8000, 0x9000).unwrap();
        assert_eq!(r.insert(1, 0x20000, 0x21000), Err(Refused::Full));
        // No free entry for the split: the range stays whole (conservative).
        r.remove(1, 0x2000, 0x3000);
        assert!(r.contains_any(1, 0x2000, 0x3000));
        // Removing an end needs no new entry.
        r.remove(1, 0x3000, 0x4000);
        assert!(!r.contains_any(1, 0x3000, 0x4000));
    }
}
