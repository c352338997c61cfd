//! A disk's driver component, which the tool adds for each `[filesystems.NAME]` with
//! `kind = "ext2"`: component `disk-<disk>` claims the disk's virtio-blk function and
//! serves the block ring (`kaal_ipc::block`) to the VFS server until the system ends.
//! A system can also list it itself, for a client of its own (tests/systems/block).
//!
//! Its connections are named after it: rings `<me>-req` and `<me>-resp`, and the data
//! region `<me>-data`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;

use drv_virtio_blk::VirtioBlk;
use kaal_core::component::Component;
use kaal_core::println;
use kaal_ipc::block::{BlockRequest, BlockResponse};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    let mut disk: VirtioBlk = kaal_dev::device_grant::claim_granted(&mut me)?;
    let mut requests = kaal_ipc::ring_grant::receiver::<BlockRequest>(&mut me, &format!("{name}-req"))?;
    let mut responses = kaal_ipc::ring_grant::sender::<BlockResponse>(&mut me, &format!("{name}-resp"))?;
    let data = me.region(&format!("{name}-data"))?;
    println!(
        "[{name}] virtio-blk: {} blocks of 4 KiB{}, {} requests in flight at most",
        disk.capacity(),
        if disk.read_only() { ", read-only" } else { "" },
        drv_virtio_blk::SLOTS
    );
    drv_virtio_blk::serve(&mut disk, &mut requests, &mut responses, &data)?;
    Ok(())
}
