//! Lesson 02: memory.
//!
//! On seL4 all memory starts as *untyped* capabilities. This lesson turns untyped memory
//! into frames, maps them, and checks that what it writes is what it reads; then it sets
//! up a heap so `Vec` and `BTreeMap` work; then it runs out of memory on purpose, twice,
//! and shows that running out is an error the program handles, not a crash.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::vspace::{Large, ReadWrite};
use kaal_core::{println, Error, Frame, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

const PAGE_A: u64 = 0x2000_0000;
const PAGE_B: u64 = 0x3000_0000;
const LARGE: u64 = 0x4000_0000;

/// A pattern that differs per byte and per seed, so stale data cannot pass for new.
fn pattern(seed: u64, i: usize) -> u8 {
    (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i as u64 * 31) >> 13) as u8
}

fn fill(bytes: &mut [u8], seed: u64) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = pattern(seed, i);
    }
}

fn matches(bytes: &[u8], seed: u64) -> bool {
    bytes.iter().enumerate().all(|(i, b)| *b == pattern(seed, i))
}

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, mut vspace, untypeds, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    println!("memory: {}", memory.stats());

    // 1. Untyped -> Frame -> MappedFrame: retype, map, write, read back.
    let frame: Frame = memory.allocate()?;
    let paddr = frame.paddr();
    let mut page = frame.map(&mut vspace, PAGE_A, ReadWrite, &mut memory)?;
    fill(page.as_bytes_mut()?, 1);
    println!("frame at physical {paddr:#x} mapped at {PAGE_A:#x}: pattern {}", ok(matches(page.as_bytes()?, 1)));

    // MappedFrame -> Frame -> MappedFrame: the same physical page at another address.
    let frame = page.unmap();
    let page = frame.map(&mut vspace, PAGE_B, ReadWrite, &mut memory)?;
    println!("remapped at {PAGE_B:#x}: pattern {} (same physical page)", ok(matches(page.as_bytes()?, 1)));

    // Mapping another frame over an address in use is refused, and the frame comes back.
    let spare: Frame = memory.allocate()?;
    let spare = match spare.map(&mut vspace, PAGE_B, ReadWrite, &mut memory) {
        Ok(_) => return Err(Error::AddressInUse { vaddr: PAGE_B }),
        Err(rejected) => {
            println!("mapping a second frame at {PAGE_B:#x}: refused: {}", rejected.error);
            rejected.value
        }
    };
    println!("the refused frame is still ours: physical {:#x}", spare.paddr());

    // A 2 MiB frame: one capability, one mapping, 512 pages' worth of memory.
    let large: Frame<Large> = memory.allocate()?;
    let mut large = large.map(&mut vspace, LARGE, ReadWrite, &mut memory)?;
    fill(large.as_bytes_mut()?, 2);
    println!(
        "2 MiB frame at physical {:#x} mapped at {LARGE:#x}: pattern {}",
        large.paddr(),
        ok(matches(large.as_bytes()?, 2))
    );
    println!("paging structures created on demand: {}", vspace.paging_structures());

    // 2. A heap, with a 16 MiB budget of its own and an 8 MiB limit.
    let heap_memory = memory.sub_allocator(24, 32)?;
    let heap_vspace = vspace.try_clone(memory.cspace())?;
    kaal_alloc::heap::init(heap_vspace, heap_memory, HeapConfig { base: 0x10_0000_0000, limit: 8 << 20 })?;

    let squares: Vec<u64> = (0..100_000u64).map(|i| i * i).collect();
    let sum: u64 = squares.iter().sum();
    println!("Vec of {} squares: sum {sum} ({})", squares.len(), ok(sum == 333_328_333_350_000));

    let text = "the quick brown fox jumps over the lazy dog and the dog sleeps";
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for word in text.split(' ') {
        *counts.entry(word).or_default() += 1;
    }
    println!("BTreeMap word counts: the={} dog={} fox={}", counts["the"], counts["dog"], counts["fox"]);
    drop(squares);
    println!("heap: {}", HEAP.stats());

    // 3. Running out of memory is an error, not a crash.
    let mut huge: Vec<u8> = Vec::new();
    match huge.try_reserve(64 << 20) {
        Ok(()) => println!("unexpected: 64 MiB fitted in an 8 MiB heap"),
        Err(e) => {
            println!("heap: try_reserve(64 MiB) failed: {e}");
            if let Some(failure) = HEAP.stats().last_failure {
                println!("heap: why: {}", failure.reason);
            }
        }
    }

    let mut small = memory.sub_allocator(16, 32)?; // 64 KiB: room for 16 frames
    let mut frames: Vec<Frame> = Vec::new();
    let error = loop {
        match small.allocate::<Frame>() {
            Ok(frame) => frames.push(frame),
            Err(e) => break e,
        }
    };
    println!("64 KiB budget: {} frames, then: {error}", frames.len());
    println!("still running; memory left: {}", memory.stats());
    Ok(())
}

fn ok(good: bool) -> &'static str {
    if good {
        "ok"
    } else {
        "MISMATCH"
    }
}
