//! A component that does a steady piece of work, yielding as it goes, while its
//! neighbours fault. It must finish with the right checksum.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use kaal_core::component::Component;
use kaal_core::{println, ExitStatus};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) -> ExitStatus {
    let mut data: Vec<u64> = Vec::new();
    let mut checksum = 0u64;
    for round in 0..20u64 {
        data.extend((0..100).map(|i| round * 100 + i));
        checksum = data.iter().fold(checksum, |acc, v| acc.rotate_left(5) ^ v);
        if round % 5 == 0 {
            println!("[{}] round {round}", me.name());
        }
        kaal_core::thread::yield_now();
    }
    println!("[{}] finished: {} values, checksum {checksum:#018x}", me.name(), data.len());
    if data.len() == 2000 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure(5)
    }
}
