//! The root task's heap: `Vec`, `BTreeMap` and friends on seL4.
//!
//! A [`Heap`] is a `#[global_allocator]` built on `buddy_system_allocator`. It starts
//! empty; when an allocation does not fit, it maps more memory at the end of its virtual
//! region, in 2 MiB frames taken from its own memory budget (an
//! [`UntypedAllocator`] given to [`init`]), and retries. The heap never takes memory
//! from anyone else, and it stops at the limit in its [`HeapConfig`].
//!
//! In a component, the supervisor maps a fixed heap region before the component starts
//! (its size is part of the component's configuration), and the heap takes it on first
//! use; no `init` call is needed.
//!
//! Running out is not a panic inside KaaL: the allocation fails, Rust's fallible APIs
//! (`Vec::try_reserve`, `Box::try_new` when stable) report it, and [`Heap::stats`] says
//! what was asked for and how much was left. (Rust's infallible collections still abort
//! on allocation failure, as they do everywhere.)
//!
//! ```ignore
//! kaal_alloc::global_heap!(HEAP);
//! // in main:
//! kaal_alloc::heap::init(vspace, heap_memory, HeapConfig::default())?;
//! let v: Vec<u32> = (0..1000).collect();
//! kaal_core::println!("{}", HEAP.stats());
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use buddy_system_allocator::LockedHeapWithRescue;
use kaal_core::error::Bytes;
use kaal_core::vspace::{Large, PageSize};
use kaal_core::{Error, Frame, Rights, VSpace};

use crate::UntypedAllocator;

/// Largest block the buddy allocator manages is `2^(ORDER-1)` bytes.
const ORDER: usize = 32;
/// The heap grows in frames of this size.
const GROW: u64 = Large::BYTES as u64;

/// Where the heap lives and how big it may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapConfig {
    /// First virtual address of the heap region (2 MiB aligned).
    pub base: u64,
    /// The most the heap may map, in bytes.
    pub limit: u64,
}

impl Default for HeapConfig {
    fn default() -> Self {
        Self { base: 0x10_0000_0000, limit: 64 << 20 }
    }
}

/// The last allocation that could not be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocFailure {
    /// Bytes asked for.
    pub requested: u64,
    /// Why the heap could not grow.
    pub reason: Error,
}

struct Grower {
    vspace: VSpace,
    memory: UntypedAllocator,
    /// Next free virtual address (the region may be sparse: large blocks are aligned).
    next: u64,
    mapped: u64,
    limit: u64,
    last_failure: Option<AllocFailure>,
}

static GROWER: spin::Mutex<Option<Grower>> = spin::Mutex::new(None);

/// Gives the heap its address space handle, memory budget and region. Call once, before
/// the first allocation.
pub fn init(vspace: VSpace, memory: UntypedAllocator, config: HeapConfig) -> kaal_core::Result<()> {
    // Leave room for alignment gaps: the region may be up to four times the limit.
    let window_end = config.base.checked_add(config.limit.saturating_mul(4));
    if !config.base.is_multiple_of(GROW) || window_end.is_none_or(|e| e > kaal_core::vspace::USER_TOP) {
        return Err(Error::BadAddress {
            vaddr: config.base,
            why: "the heap base must be 2 MiB aligned with room below the user top",
        });
    }
    let mut grower = GROWER.lock();
    if grower.is_some() {
        return Err(Error::InvalidSize { what: "heap initialisations", value: 2, limit: 1 });
    }
    *grower = Some(Grower { vspace, memory, next: config.base, mapped: 0, limit: config.limit, last_failure: None });
    Ok(())
}

impl Grower {
    /// Maps a region holding an aligned block big enough for `layout`.
    ///
    /// The buddy allocator hands out blocks aligned to their (power-of-two) size and
    /// never merges regions added separately, so the region must contain one whole
    /// block of the request's size class.
    fn grow(&mut self, layout: &Layout) -> Result<(u64, u64), Error> {
        let block = (layout.size().max(layout.align()) as u64).next_power_of_two().max(GROW);
        if self.mapped + block > self.limit {
            return Err(Error::LimitReached {
                what: "heap",
                requested: layout.size() as u64,
                available: self.limit - self.mapped,
                limit: self.limit,
                fix: "raise HeapConfig::limit, or free memory first",
            });
        }
        let start = self.next.div_ceil(block) * block;
        let mut at = start;
        while at < start + block {
            let frame: Frame<Large> = self.memory.allocate()?;
            let mapped = frame.map(&mut self.vspace, at, Rights::READ_WRITE, &mut self.memory)?;
            mapped.leak();
            at += GROW;
            self.mapped += GROW;
        }
        self.next = at;
        Ok((start, at))
    }
}

fn rescue(heap: &mut buddy_system_allocator::Heap<ORDER>, layout: &Layout) {
    let mut guard = GROWER.lock();
    let Some(grower) = guard.as_mut() else {
        // A component: its supervisor mapped a fixed heap region for it; add it once.
        if let Some((base, size)) = kaal_core::runtime::take_heap_region() {
            // SAFETY: the supervisor mapped [base, base + size) read-write for this
            // component's heap alone, for the component's whole life.
            unsafe { heap.add_to_heap(base as usize, (base + size) as usize) };
        }
        return;
    };
    match grower.grow(layout) {
        Ok((start, end)) => {
            // SAFETY: [start, end) was just mapped read-write for the heap alone and is
            // never unmapped.
            unsafe { heap.add_to_heap(start as usize, end as usize) };
        }
        Err(reason) => grower.last_failure = Some(AllocFailure { requested: layout.size() as u64, reason }),
    }
}

/// The global allocator. Declare it with [`crate::global_heap!`].
pub struct Heap {
    inner: LockedHeapWithRescue<ORDER>,
    in_use: AtomicUsize,
    peak: AtomicUsize,
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Heap({})", self.stats())
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap; it maps memory on first use, after [`init`].
    pub const fn new() -> Self {
        Self { inner: LockedHeapWithRescue::new(rescue), in_use: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Usage figures.
    pub fn stats(&self) -> HeapStats {
        let grower = GROWER.lock();
        let (mapped, limit, last_failure) = match grower.as_ref() {
            Some(g) => (g.mapped, g.limit, g.last_failure.clone()),
            None => (0, 0, None),
        };
        HeapStats {
            in_use: self.in_use.load(Ordering::Relaxed) as u64,
            peak: self.peak.load(Ordering::Relaxed) as u64,
            mapped,
            limit,
            last_failure,
        }
    }
}

// SAFETY: every method forwards to the buddy allocator, which upholds GlobalAlloc's
// contract; the counters are bookkeeping only.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            let now = self.in_use.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

/// Heap usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes allocated and not freed.
    pub in_use: u64,
    /// The most ever in use at once.
    pub peak: u64,
    /// Bytes of memory mapped for the heap.
    pub mapped: u64,
    /// The most the heap may map.
    pub limit: u64,
    /// The last allocation the heap could not satisfy.
    pub last_failure: Option<AllocFailure>,
}

impl fmt::Display for HeapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in use (peak {}), {} mapped of a {} limit",
            Bytes(self.in_use),
            Bytes(self.peak),
            Bytes(self.mapped),
            Bytes(self.limit)
        )?;
        if let Some(fail) = &self.last_failure {
            write!(f, "; last failure: {} asked for, {}", Bytes(fail.requested), fail.reason)?;
        }
        Ok(())
    }
}

/// Declares the global allocator: `kaal_alloc::global_heap!(HEAP);` makes a static
/// [`Heap`] named `HEAP` and registers it with `#[global_allocator]`.
#[macro_export]
macro_rules! global_heap {
    ($name:ident) => {
        #[global_allocator]
        static $name: $crate::heap::Heap = $crate::heap::Heap::new();
    };
}
