//! The ticker component: claims the timer it was granted, and serves its interrupts
//! until it has counted a second's worth of ticks.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use drv_ticker::Ticker;
use kaal_core::arch::cycles;
use kaal_core::component::Component;
use kaal_core::println;

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

const HZ: u32 = 100;

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    // The root task claimed the timer for us; this gathers its grants ("pit:ports",
    // "pit:irq", "pit:events") and runs the driver's probe.
    let mut ticker: Ticker = kaal_dev::device_grant::claim(&mut me, "pit")?;
    ticker.start(HZ)?;
    let start = cycles();
    kaal_dev::kit::serve(&mut ticker, |t| {
        if t.ticks() % 25 == 0 && t.ticks() > 0 {
            println!("[{name}] tick {}", t.ticks());
        }
        t.ticks() < HZ as u64
    })?;
    println!("[{name}] {} ticks at {HZ} Hz took {} million TSC cycles", ticker.ticks(), (cycles() - start) / 1_000_000);
    Ok(())
}
