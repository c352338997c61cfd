//! The component half of `cargo kaal bench log` (see the root task's docs).
#![no_std]
#![no_main]

use kaal_core::arch::cycles;
use kaal_core::component::Component;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const LINES: u64 = 200;

fn report(name: &str, what: &str, cycles: u64) {
    println!("BENCH result name={name} what=\"{what}\" iterations={LINES} cycles={cycles}");
}

fn main(_me: Component) -> Result<(), Error> {
    let start = cycles();
    for i in 0..LINES {
        println!("[peer] sent frame {} of {}", i, LINES);
    }
    report("peer_println", "component: println! of one line with two numbers", cycles() - start);
    let start = cycles();
    for i in 0..LINES {
        defmt::info!("sent frame {=u64} of {=u64}", i, LINES);
    }
    report("peer_defmt", "component: defmt::info! of the same line", cycles() - start);
    Ok(())
}
