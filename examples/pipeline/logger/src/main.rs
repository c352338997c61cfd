//! The pipeline's logger: drains the `log` ring the server fills, prints what went
//! wrong, and recomputes the client's checksum from the records alone.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kaal_core::component::Component;
use kaal_core::println;
use pipeline_api::{self as api, LogRecord};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let mut log = kaal_ipc::ring_grant::receiver::<LogRecord>(&mut me, "log")?;
    let (mut records, mut refused, mut checksum, mut batches) = (0u64, 0u64, 0u64, 0u64);
    let mut batch = [LogRecord { seq: 0, client: 0, op: 0, a: 0, b: 0, result: 0, status: 0 }; 16];
    loop {
        let n = log.recv_batch(&mut batch)?;
        batches += 1;
        // At the default level (info) this line is not even compiled in.
        defmt::debug!("a batch of {=usize} records", n);
        for record in &batch[..n] {
            if record.op == api::END {
                println!(
                    "[{name}] {records} records in {batches} wake-ups, {refused} refused; checksum {checksum:#018x}"
                );
                return Ok(());
            }
            if record.seq != records {
                println!("[{name}] record {} out of order (expected {records})", record.seq);
            }
            if record.status != api::OK && refused < 3 {
                println!(
                    "[{name}] #{} client {}: {} {} {} -> {}",
                    record.seq,
                    record.client,
                    record.a,
                    api::symbol(record.op),
                    record.b,
                    api::describe(record.status)
                );
            }
            refused += (record.status != api::OK) as u64;
            checksum = api::checksum(checksum, record.op, record.status, record.result);
            records += 1;
        }
    }
}
