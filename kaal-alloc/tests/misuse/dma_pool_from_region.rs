// A DMA pool's physical address goes to a device, which writes wherever it points, so a
// pool cannot be made over a region with a physical address of the caller's choosing.
use kaal_alloc::DmaPool;
use kaal_core::shared::SharedRegion;

fn point_the_device_anywhere(region: SharedRegion) {
    let _ = DmaPool::from_region("anywhere", region, 0x1000);
}

fn main() {}
