//! The ring's consumer: pops values, checks that they arrive complete and in order,
//! and computes the same checksum as the producer.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use kaal_core::component::Component;
use kaal_core::println;
use kaal_ipc::{Consumer, RingConsumer};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let ring = me.region("ring")?;
    let data_ready = me.notification("data-ready")?;
    let space_free_cap = me.notification("space-free")?;
    let space_free = ring_api::Counted::new(&space_free_cap);
    let mut rx: RingConsumer<u64> = Consumer::new(ring, ring_api::CAPACITY)?;

    let mut checksum = 0;
    let mut out_of_order = 0u64;
    let mut batch = [0u64; ring_api::BATCH];
    let mut received = 0u64;
    while received < ring_api::MESSAGES {
        // Take what is there; sleep (announced, so no wake-up is lost) only when empty.
        let n = match rx.pop_batch_blocking(&mut batch, &data_ready, &space_free) {
            Ok(n) => n,
            Err(e) => {
                println!("[consumer] ring error: {e}");
                return Ok(());
            }
        };
        for value in &batch[..n] {
            if *value != ring_api::value(received) {
                out_of_order += 1;
            }
            checksum = ring_api::checksum(checksum, *value);
            received += 1;
        }
    }
    println!("[consumer] received {received} values, {out_of_order} out of order, checksum {checksum:#018x}");
    println!("[consumer] woke the producer {} times", space_free.count());
    Ok(())
}
