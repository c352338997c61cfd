//! A high-priority thread allocates while a low-priority thread is preempted holding the
//! heap, and both finish.
//!
//! seL4 schedules strictly by priority. `low` allocates and frees in a loop, so it
//! holds the heap's lock most of the time; `poker`, at the same priority, runs only when
//! the kernel's timer ends `low`'s time slice, and then wakes `high`, which allocates at
//! once: usually while `low` is preempted inside an allocation. With a spinning lock,
//! `high` would spin forever (nothing of lower priority runs while it spins); the heap's
//! lock makes it sleep until `low` lets go. The heap counts those sleeps.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::thread::{yield_now, ThreadConfig, Threads};
use kaal_core::{println, Error, ExitStatus, Notification, Rights, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// How many times `high` is woken to allocate.
const ROUNDS: u64 = 40;

static DONE: AtomicBool = AtomicBool::new(false);
static LOW_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn main(rt: RootTask) -> Result<ExitStatus, Error> {
    let RootTask { cspace, vspace, untypeds, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;
    let wake: Notification = memory.allocate()?;
    let wake_signal = memory.cspace().copy(&wake, Rights::ALL)?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;

    let low = threads.spawn(&mut memory, ThreadConfig::new("low").priority(50), || {
        let mut i = 0usize;
        while !DONE.load(Ordering::Acquire) {
            let v: Vec<u8> = Vec::with_capacity(64 + i % 1024);
            core::hint::black_box(&v);
            drop(v);
            i += 1;
        }
        LOW_ALLOCATIONS.store(i as u64, Ordering::Release);
    })?;
    let poker = threads.spawn(&mut memory, ThreadConfig::new("poker").priority(50), move || {
        while !DONE.load(Ordering::Acquire) {
            wake_signal.signal();
            yield_now();
        }
    })?;
    let high = threads.spawn(&mut memory, ThreadConfig::new("high").priority(200), move || {
        let mut sum = 0u64;
        for round in 0..ROUNDS {
            wake.wait();
            let boxed = Box::new([round as u8; 256]);
            sum += boxed.iter().map(|b| *b as u64).sum::<u64>();
        }
        DONE.store(true, Ordering::Release);
        sum
    })?;

    let sum = threads.join(high).map_err(|_| Error::InvalidSize { what: "high thread", value: 0, limit: 0 })?;
    let _ = threads.join(poker);
    let _ = threads.join(low);
    let expected: u64 = (0..ROUNDS).map(|r| (r % 256) * 256).sum();
    let stats = HEAP.stats();
    println!("high: {ROUNDS} allocations, checksum {sum} (expected {expected})");
    println!("low: {} allocations", LOW_ALLOCATIONS.load(Ordering::Acquire));
    println!("heap lock waits: {}", stats.lock_waits);
    if sum != expected || LOW_ALLOCATIONS.load(Ordering::Acquire) == 0 {
        println!("MISMATCH");
        return Ok(ExitStatus::ERROR);
    }
    Ok(ExitStatus::Success)
}
