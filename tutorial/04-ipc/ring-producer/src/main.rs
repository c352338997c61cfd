//! The ring's producer: pushes values into a ring in memory it shares with the
//! consumer, one at a time and then in batches, waking the consumer only when it said
//! it is about to sleep.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use kaal_core::component::Component;
use kaal_core::println;
use kaal_ipc::{Producer, RingError, RingProducer};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let ring = me.region("ring")?;
    let data_ready_cap = me.notification("data-ready")?;
    let data_ready = ring_api::Counted::new(&data_ready_cap);
    let space_free = me.notification("space-free")?;
    let mut tx: RingProducer<u64> = Producer::new(ring, ring_api::CAPACITY)?;

    let report = |e: RingError| println!("[producer] ring error: {e}");
    let mut checksum = 0;
    let half = ring_api::MESSAGES / 2;
    for i in 0..half {
        let value = ring_api::value(i);
        if let Err(e) = tx.push_blocking(value, &data_ready, &space_free) {
            report(e);
            return Ok(());
        }
        checksum = ring_api::checksum(checksum, value);
    }
    let mut batch = [0u64; ring_api::BATCH];
    let mut next = half;
    while next < ring_api::MESSAGES {
        let n = ((ring_api::MESSAGES - next) as usize).min(ring_api::BATCH);
        for (k, slot) in batch[..n].iter_mut().enumerate() {
            *slot = ring_api::value(next + k as u64);
        }
        // Push what fits, waking the consumer once per batch; sleep for space when full.
        if let Err(e) = tx.push_batch_blocking(&batch[..n], &data_ready, &space_free) {
            report(e);
            return Ok(());
        }
        for value in &batch[..n] {
            checksum = ring_api::checksum(checksum, *value);
        }
        next += n as u64;
    }
    println!("[producer] sent {} values, checksum {checksum:#018x}", ring_api::MESSAGES);
    println!("[producer] woke the consumer {} times for {} values", data_ready.count(), ring_api::MESSAGES);
    Ok(())
}
