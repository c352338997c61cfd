//! Prints the device table the capability broker builds (`cargo kaal debug devices`).
#![no_std]
#![no_main]

use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::{println, Error, RootTask};
use kaal_dev::{Broker, FixedDevice};

extern crate alloc;

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

fn main(rt: RootTask) -> Result<(), Error> {
    let RootTask { cspace, mut vspace, untypeds, io_port, irq_control, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    // 16 MiB for the heap, in 2 MiB frames, with room for their paging structures (a
    // 4 MiB budget held one frame: the paging structure it needed split the second).
    let heap = memory.sub_allocator(24, 24)?;
    kaal_alloc::heap::init(
        vspace.try_clone(memory.cspace())?,
        heap,
        HeapConfig { limit: 15 << 20, ..HeapConfig::default() },
    )?;
    // `kaal debug devices` in a system's directory passes the system's declared fixed
    // devices (`[devices.NAME]`), one `FixedDevice` line each, when it builds this.
    let lines = option_env!("KAAL_DECLARED_DEVICES").unwrap_or("");
    let mut declared = alloc::vec::Vec::new();
    for line in lines.lines().filter(|l| !l.is_empty()) {
        match FixedDevice::parse(line) {
            Some(device) => declared.push(device),
            None => println!("note: a declared device could not be read (kaal and kaal-devices disagree?): {line}"),
        }
    }
    let broker = Broker::with_devices(io_port, irq_control, &mut memory, &mut vspace, &declared)?;
    println!("{broker}");
    Ok(())
}
