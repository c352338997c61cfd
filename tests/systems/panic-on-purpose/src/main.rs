//! A system that panics on purpose: `kaal run` must report it as failed (exit code 2),
//! with the panic message and location on the console.
#![no_std]
#![no_main]

use kaal_core::{println, RootTask};

kaal_core::root_task!(main);

fn main(rt: RootTask) {
    println!("about to panic with {} free slots", rt.cspace.free_slots());
    let budget: Option<u32> = core::hint::black_box(None);
    let value = budget.expect("the deliberate panic of the panic-on-purpose system");
    println!("unreachable: {value}");
}
