//! The block driver component: claims the virtio-blk function, then serves the block
//! ring until the system ends.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use drv_virtio_blk::VirtioBlk;
use kaal_core::component::Component;
use kaal_core::println;
use kaal_ipc::block::{BlockRequest, BlockResponse};

kaal_core::component!(main);
kaal_alloc::global_heap!(HEAP);

fn main(mut me: Component) -> Result<(), Box<dyn core::error::Error>> {
    let name = me.name();
    // system.toml gives this component disk `data`; the tool decides its PCI address.
    let mut disk: VirtioBlk = kaal_dev::device_grant::claim_granted(&mut me)?;
    let mut requests = kaal_ipc::ring_grant::receiver::<BlockRequest>(&mut me, "blk-req")?;
    let mut responses = kaal_ipc::ring_grant::sender::<BlockResponse>(&mut me, "blk-resp")?;
    let data = me.region("blk-data")?;
    println!(
        "[{name}] virtio-blk: {} blocks of 4 KiB{}, {} requests in flight at most",
        disk.capacity(),
        if disk.read_only() { ", read-only" } else { "" },
        drv_virtio_blk::SLOTS
    );
    drv_virtio_blk::serve(&mut disk, &mut requests, &mut responses, &data)?;
    Ok(())
}
