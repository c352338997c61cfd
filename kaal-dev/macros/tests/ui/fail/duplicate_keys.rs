// A key or a struct attribute given twice is an error.
use kaal_dev::{Driver, MmioBlock};

#[derive(Driver)]
#[driver(name = "nic", name = "e1000")]
#[pci(vendor = 0x8086, vendor = 0x8087, device = 0x100e)]
#[resources(dma = 4096)]
#[resources(dma = 8192)]
struct Nic {
    #[mmio(bar = 0)]
    regs: MmioBlock,
}

fn main() {}
