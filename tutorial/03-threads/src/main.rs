//! Lesson 03: threads, and a second process.
//!
//! Part 1 starts threads in the root task's own address space. They share memory and
//! capabilities; two of them take turns with `yield_now`, one returns a result, one
//! panics, and the panic stays inside that thread.
//!
//! Part 2 starts a *component*: a second process with its own address space and CNode,
//! built from an ELF image embedded in this program. The root task supervises it.
#![no_std]
#![no_main]

extern crate alloc;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::supervisor::{ComponentConfig, Supervisor};
use kaal_core::thread::{self, ThreadConfig, Threads};
use kaal_core::{println, Error, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, vspace, untypeds, asid_pool, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;

    // Part 1: threads. The root task runs at priority 255, so the threads (at 200)
    // run while it waits in `join`; at equal priority they take turns on each yield.
    println!("== part 1: threads in one address space");
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, Threads::DEFAULT_REGION)?;
    let ping = threads.spawn(&mut memory, ThreadConfig::new("ping").priority(200), || {
        for i in 0..3 {
            println!("ping {i}");
            thread::yield_now();
        }
        "ping done"
    })?;
    let pong = threads.spawn(&mut memory, ThreadConfig::new("pong").priority(200), || {
        for i in 0..3 {
            println!("pong {i}");
            thread::yield_now();
        }
        "pong done"
    })?;
    println!("joined ping: {:?}", threads.join(ping));
    println!("joined pong: {:?}", threads.join(pong));

    let shared = alloc::sync::Arc::new(core::sync::atomic::AtomicU64::new(0));
    let worker_sum = shared.clone();
    let summer = threads.spawn(&mut memory, ThreadConfig::new("summer").priority(200), move || {
        let total: u64 = (1..=1000).sum();
        worker_sum.store(total, core::sync::atomic::Ordering::Release);
        total
    })?;
    let total = threads.join(summer);
    println!("summer returned {total:?}; shared memory says {}", shared.load(core::sync::atomic::Ordering::Acquire));

    let crasher = threads.spawn(&mut memory, ThreadConfig::new("crasher").priority(200), || -> u64 {
        let missing: Option<u64> = core::hint::black_box(None);
        missing.expect("the crasher thread panics on purpose")
    })?;
    match threads.join(crasher) {
        Ok(v) => println!("unexpected: crasher returned {v}"),
        Err(e) => println!("joined crasher: {e}; the rest of the program carries on"),
    }
    for round in 0..20u64 {
        let h = threads.spawn(&mut memory, ThreadConfig::new("worker").priority(200), move || round * 2)?;
        if threads.join(h) != Ok(round * 2) {
            println!("worker {round} returned the wrong value");
        }
    }
    println!("20 more spawn/join rounds reused the same kernel objects: {} free slots", memory.cspace().free_slots());

    // Part 2: a second process.
    println!("== part 2: a component in its own address space");
    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;
    let config =
        ComponentConfig::builder().name("counter").image(kaal_core::component_image!("counter")).priority(150).build();
    supervisor.spawn(&mut memory, config)?;
    let report = supervisor.run();
    println!("supervisor: {} succeeded, {} failed, {} faulted", report.succeeded, report.failed, report.faulted);
    Ok(())
}
