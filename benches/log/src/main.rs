//! `cargo kaal bench log`: what one log line costs, `println!` against `defmt`.
//!
//! The same line, a label and two numbers, is logged `LINES` times each way, in the root
//! task and then in a component (where drivers and real-time tasks run), under
//! `-icount shift=0`, so the figures are instructions and repeat exactly. `println!`
//! formats on the target and writes every character to the console; `defmt::info!`
//! writes a few bytes (the string's index and the raw arguments), which the host
//! decodes. A `defmt::trace!` below the build's level costs nothing at all: it is not
//! compiled in.
#![no_std]
#![no_main]

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::arch::cycles;
use kaal_core::supervisor::{ComponentConfig, Supervisor};
use kaal_core::{println, Error, RootTask};

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// Lines per measurement.
const LINES: u64 = 200;

fn report(name: &str, what: &str, cycles: u64) {
    println!("BENCH result name={name} what=\"{what}\" iterations={LINES} cycles={cycles}");
}

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, vspace, untypeds, asid_pool, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    let heap = memory.sub_allocator(24, 32)?;
    kaal_alloc::heap::init(vspace.try_clone(memory.cspace())?, heap, HeapConfig::default())?;

    let start = cycles();
    for i in 0..LINES {
        println!("[log-bench] sent frame {} of {}", i, LINES);
    }
    report("root_println", "root task: println! of one line with two numbers", cycles() - start);
    let start = cycles();
    for i in 0..LINES {
        defmt::info!("sent frame {=u64} of {=u64}", i, LINES);
    }
    report("root_defmt", "root task: defmt::info! of the same line", cycles() - start);
    let start = cycles();
    for i in 0..LINES {
        defmt::trace!("sent frame {=u64} of {=u64}", i, LINES);
    }
    report("root_filtered", "root task: defmt::trace! below the build's level", cycles() - start);

    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;
    let image = kaal_core::component_image!("log-bench-peer");
    supervisor.spawn(&mut memory, ComponentConfig::builder().name("peer").image(image).build())?;
    let outcome = supervisor.run();
    println!("BENCH ratio what=\"root task: defmt / println! per line\" over=root_defmt under=root_println max=0.5");
    println!("BENCH ratio what=\"component: defmt / println! per line\" over=peer_defmt under=peer_println max=0.5");
    println!(
        "log bench: done ({} component exited cleanly, {} frames dropped)",
        outcome.succeeded,
        kaal_core::log::dropped()
    );
    Ok(())
}
