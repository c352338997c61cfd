// Each resource of the device goes to one field: the second field would fail at probe.
use kaal_dev::kit::DmaRing;
use kaal_dev::{Driver, MmioBlock, PortBlock};

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 65536)]
struct Nic {
    #[ports]
    io: PortBlock,
    #[ports]
    more_io: PortBlock,
    #[mmio(bar = 0)]
    regs: MmioBlock,
    #[mmio(bar = 0)]
    same_regs: MmioBlock,
    #[dma_ring(size = 8)]
    rx: DmaRing,
    #[dma_ring(size = 8)]
    tx: DmaRing,
}

fn main() {}
