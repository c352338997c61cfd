// #[resources(dma = ..)] must hold every buffer of the ring (2048 bytes each).
use kaal_dev::kit::DmaRing;
use kaal_dev::Driver;

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 4096)]
struct Nic {
    #[dma_ring(size = 16)]
    rx: DmaRing,
}

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100f)]
#[resources(dma = 0)]
struct NoDma {
    count: u64,
}

fn main() {}
