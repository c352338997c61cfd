// Every attribute rejects keys it does not know; all the errors are reported at once.
use kaal_dev::kit::DmaRing;
use kaal_dev::{Driver, Irq, MmioBlock};

#[derive(Driver)]
#[driver(title = "nic")]
#[pci(vendor = 0x8086, device = 0x100e, revision = 3)]
#[resources(dma = 65536, mmio = 4096)]
struct Nic {
    #[mmio(bar = 0, cached = true)]
    regs: MmioBlock,
    #[interrupt(handler = on_interrupt, level = true)]
    irq: Irq,
    #[dma_ring(size = 16, buffer = 4096)]
    rx: DmaRing,
}

fn main() {}
