// A DMA ring has 1 to 4096 buffers.
use kaal_dev::kit::DmaRing;
use kaal_dev::Driver;

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 65536)]
struct Empty {
    #[dma_ring(size = 0)]
    rx: DmaRing,
}

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 16777216)]
struct Huge {
    #[dma_ring(size = 5000)]
    rx: DmaRing,
}

fn main() {}
