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
//! The heap's lock never spins (see [`Heap`]): seL4 schedules strictly by priority,
//! so a spin lock would let a high-priority thread livelock against a preempted
//! low-priority one that holds the heap.
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
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use kaal_core::error::Bytes;
use kaal_core::runtime::HEAP_LOCK;
use kaal_core::sync::LockGuard;
use kaal_core::vspace::{Large, PageSize, ReadWrite};
use kaal_core::{Error, Frame, Notification, VSpace};

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
}

/// Everything the heap's lock guards.
struct Inner {
    buddy: buddy_system_allocator::Heap<ORDER>,
    /// The root task's way to grow; `None` in a component (its region is fixed).
    grower: Option<Grower>,
    last_failure: Option<AllocFailure>,
}

/// The heap's state: one per program, since a program has one global allocator.
struct State {
    inner: UnsafeCell<Inner>,
}

// SAFETY: `inner` is only reached through `State::lock`, which holds HEAP_LOCK.
unsafe impl Sync for State {}

static STATE: State = State {
    inner: UnsafeCell::new(Inner { buddy: buddy_system_allocator::Heap::new(), grower: None, last_failure: None }),
};

/// The heap's state, locked. `None` until the lock has its notification: before
/// [`init`] in a root task (the heap has no memory then anyway).
struct Locked {
    _guard: LockGuard<'static>,
}

impl Locked {
    fn take() -> Option<Self> {
        HEAP_LOCK.try_lock_attached().map(|guard| Self { _guard: guard })
    }

    fn inner(&mut self) -> &mut Inner {
        // SAFETY: the guard holds HEAP_LOCK, the only way to reach STATE.inner, and this
        // borrow cannot outlive `self` (and so the guard).
        unsafe { &mut *STATE.inner.get() }
    }
}

/// Gives the heap its address space handle, memory budget and region. Call once, before
/// the first allocation. The heap's lock gets a notification from `memory`.
pub fn init(vspace: VSpace, mut memory: UntypedAllocator, config: HeapConfig) -> kaal_core::Result<()> {
    // Leave room for alignment gaps: the region may be up to four times the limit.
    let window_end = config.base.checked_add(config.limit.saturating_mul(4));
    if !config.base.is_multiple_of(GROW) || window_end.is_none_or(|e| e > kaal_core::vspace::USER_TOP) {
        return Err(Error::BadAddress {
            vaddr: config.base,
            why: "the heap base must be 2 MiB aligned with room below the user top",
        });
    }
    let notification: Notification = memory.allocate()?;
    if let Err(notification) = HEAP_LOCK.attach(notification) {
        let _ = memory.cspace().delete(notification);
        return Err(Error::InvalidSize { what: "heap initialisations", value: 2, limit: 1 });
    }
    let mut locked = Locked::take().expect("the lock was given its notification above");
    let inner = locked.inner();
    if inner.grower.is_some() {
        return Err(Error::InvalidSize { what: "heap initialisations", value: 2, limit: 1 });
    }
    inner.grower = Some(Grower { vspace, memory, next: config.base, mapped: 0, limit: config.limit });
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
            let mapped = frame.map(&mut self.vspace, at, ReadWrite, &mut self.memory)?;
            mapped.leak();
            at += GROW;
            self.mapped += GROW;
        }
        self.next = at;
        Ok((start, at))
    }
}

impl Inner {
    /// Adds memory after an allocation of `layout` failed: the component's fixed region
    /// (once), or a newly mapped region in the root task.
    fn rescue(&mut self, layout: &Layout) {
        let Some(grower) = self.grower.as_mut() else {
            if let Some((base, size)) = kaal_core::runtime::take_heap_region() {
                // SAFETY: the supervisor mapped [base, base + size) read-write for this
                // component's heap alone, for the component's whole life.
                unsafe { self.buddy.add_to_heap(base as usize, (base + size) as usize) };
            }
            return;
        };
        match grower.grow(layout) {
            Ok((start, end)) => {
                // SAFETY: [start, end) was just mapped read-write for the heap alone and
                // is never unmapped.
                unsafe { self.buddy.add_to_heap(start as usize, end as usize) };
            }
            Err(reason) => self.last_failure = Some(AllocFailure { requested: layout.size() as u64, reason }),
        }
    }
}

/// The global allocator. Declare it with [`crate::global_heap!`].
///
/// Every allocation takes the heap's lock, [`kaal_core::sync::Lock`]: a thread that
/// finds it taken sleeps on a notification rather than spin, so a high-priority thread
/// cannot livelock against a preempted low-priority one holding the heap.
pub struct Heap {
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
        Self { in_use: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Usage figures.
    pub fn stats(&self) -> HeapStats {
        let (mapped, limit, last_failure) = match Locked::take() {
            Some(mut locked) => {
                let inner = locked.inner();
                let (mapped, limit) = match inner.grower.as_ref() {
                    Some(g) => (g.mapped, g.limit),
                    None => (inner.buddy.stats_total_bytes() as u64, inner.buddy.stats_total_bytes() as u64),
                };
                (mapped, limit, inner.last_failure.clone())
            }
            None => (0, 0, None),
        };
        HeapStats {
            in_use: self.in_use.load(Ordering::Relaxed) as u64,
            peak: self.peak.load(Ordering::Relaxed) as u64,
            mapped,
            limit,
            last_failure,
            lock_waits: HEAP_LOCK.waits(),
        }
    }
}

// SAFETY: every allocation and free goes to the buddy allocator under the heap's lock;
// the buddy allocator upholds GlobalAlloc's contract for the memory it was given, which
// is mapped read-write for the heap alone. The counters are bookkeeping only.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(mut locked) = Locked::take() else { return core::ptr::null_mut() };
        let inner = locked.inner();
        let ptr = match inner.buddy.alloc(layout) {
            Ok(ptr) => Some(ptr),
            Err(()) => {
                inner.rescue(&layout);
                inner.buddy.alloc(layout).ok()
            }
        };
        drop(locked);
        match ptr {
            Some(ptr) => {
                let now = self.in_use.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
                self.peak.fetch_max(now, Ordering::Relaxed);
                ptr.as_ptr()
            }
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (Some(mut locked), Some(ptr)) = (Locked::take(), NonNull::new(ptr)) else { return };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded from the caller: `ptr` came from `alloc` with `layout`.
        unsafe { locked.inner().buddy.dealloc(ptr, layout) };
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
    /// How many times a thread slept waiting for the heap's lock (while another held it).
    pub lock_waits: u64,
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
