//! A component: an isolated process on seL4 with its own address space and
//! capabilities. It has exactly what system.toml grants it (nothing yet, but its heap).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) -> Result<(), Error> {
    println!("[{}] Hello from a KaaL component on seL4!", me.name());
    let squares: Vec<u64> = (1..=10).map(|n| n * n).collect();
    println!("[{}] the heap works: the first ten squares add up to {}", me.name(), squares.iter().sum::<u64>());
    // Only a debug kernel can list a CNode; on a release kernel this says so.
    match me.capabilities() {
        Ok(held) => println!("[{}] my CNode holds {} capabilities", me.name(), held.count()),
        Err(e) => println!("[{}] {e}", me.name()),
    }
    Ok(())
}
