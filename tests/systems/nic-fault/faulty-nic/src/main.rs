//! KaaL's e1000 driver component, which faults on purpose, as a driver with a bug
//! would: at its first wake-up 2 s after it started (DHCP is done by then; the
//! witness's connection attempt, 3 s after DHCP, wakes it).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::println;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let started = kaal_core::time::Instant::now();
    kaal_nic_e1000::run(&mut me, |_| started.elapsed() < kaal_core::time::Duration::from_secs(2))?;
    println!("[nic] faulting on purpose now");
    // SAFETY: none; this write faults on purpose.
    unsafe { core::ptr::write_volatile(0xdead_0000 as *mut u64, 1) };
    Ok(())
}
