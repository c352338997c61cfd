//! Lesson 01: the smallest KaaL system.
//!
//! The seL4 kernel boots, loads this program as its root task and hands it every
//! resource in the machine as capabilities, described by the BootInfo frame. This lesson
//! prints a greeting and a summary of what it was given. It uses `kaal-core` only.
#![no_std]
#![no_main]

use kaal_core::{println, RootTask};

kaal_core::root_task!(main);

fn main(rt: RootTask) {
    println!("Hello from seL4!");

    let bi = &rt.bootinfo;
    let ram = rt.untypeds.iter().filter(|u| !u.is_device());
    let (ram_count, ram_bytes) = ram.fold((0, 0u64), |(n, bytes), u| (n + 1, bytes + u.size()));
    let device_count = rt.untypeds.len() - ram_count;
    let largest = rt.untypeds.iter().filter(|u| !u.is_device()).max_by_key(|u| u.size_bits());

    println!("BootInfo summary:");
    println!("  untyped capabilities: {} ({} RAM, {} device)", rt.untypeds.len(), ram_count, device_count);
    println!("  RAM in untypeds:      {} KiB ({} MiB)", ram_bytes / 1024, ram_bytes >> 20);
    if let Some(u) = largest {
        println!("  largest RAM untyped:  2^{} bytes at {:#x}", u.size_bits(), u.paddr());
    }
    println!(
        "  empty CNode slots:    {} (slots {}..{})",
        rt.cspace.free_slots(),
        bi.empty_slots().start,
        bi.empty_slots().end
    );
    println!("  root CNode size:      2^{} slots", bi.cnode_size_bits());
    println!("  IPC buffer at:        {:#x}", bi.ipc_buffer());
    println!("  TSC frequency:        {} MHz", bi.tsc_mhz());
    println!("Goodbye.");
}
