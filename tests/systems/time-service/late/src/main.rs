//! Sleeps 300 ms, then sends one value over the ring `late`.
#![no_std]
#![no_main]

use kaal_core::component::Component;
use kaal_core::time::{Duration, Instant};
use kaal_core::{println, Error};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Error> {
    let timer = me.timer()?;
    let mut tx = kaal_ipc::ring_grant::sender::<u64>(&mut me, "late")?;
    let start = Instant::now();
    timer.sleep(Duration::from_millis(300))?;
    println!("[late] sending 42 after {} us", start.elapsed().as_micros());
    tx.send(42).map_err(|_| Error::InvalidSize { what: "ring", value: 0, limit: 0 })?;
    Ok(())
}
