//! Spins without ever blocking or yielding. It watches the time-stamp counter: a jump of
//! more than 2 ms between two reads is a stretch the kernel held it back (its budget was
//! used up), and after the fifth it says so. With `overrun = "fault"` the kernel stops it
//! at the first, with a timeout fault, instead.
#![no_std]
#![no_main]

use kaal_core::arch::{cycles, tsc_hz};
use kaal_core::component::Component;
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(me: Component) -> Result<(), Error> {
    let name = me.name();
    let Some(hz) = tsc_hz() else {
        println!("[{name}] no TSC frequency; cannot tell when it is held back");
        return Err(Error::NeedsDebugKernel { what: "a TSC frequency" });
    };
    let gap = hz / 500;
    println!("[{name}] spinning, never blocking");
    let (mut last, mut held) = (cycles(), 0u32);
    loop {
        let now = cycles();
        if now.wrapping_sub(last) > gap {
            held += 1;
            if held == 5 {
                println!("[{name}] held back until its next period 5 times; spinning on");
            }
        }
        last = now;
    }
}
