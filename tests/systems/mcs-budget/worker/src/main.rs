//! Below two spinning components, does a fixed amount of work and reports it: it can
//! only finish if the kernel holds the spinners to their budgets.
#![no_std]
#![no_main]

use kaal_core::arch::micros;
use kaal_core::component::Component;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const ROUNDS: u64 = 400;
const STEPS: u64 = 250_000;

fn main(_me: Component) -> Result<(), Error> {
    println!("[worker] starting {ROUNDS} rounds of work below the spinners");
    let start = micros();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..ROUNDS {
        for step in 0..STEPS {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(round ^ step);
        }
        // Keep the loop from being folded away.
        x = core::hint::black_box(x);
    }
    println!("[worker] done: {ROUNDS} rounds, checksum {x:#018x}, in {} us", micros() - start);
    Ok(())
}
