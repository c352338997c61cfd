// A DMA ring needs DMA memory, declared with #[resources(dma = ..)].
use kaal_dev::kit::DmaRing;
use kaal_dev::{Driver, MmioBlock};

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
struct Nic {
    #[mmio(bar = 0)]
    regs: MmioBlock,
    #[dma_ring(size = 16)]
    rx: DmaRing,
}

fn main() {}
