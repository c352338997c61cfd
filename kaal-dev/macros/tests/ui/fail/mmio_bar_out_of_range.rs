// PCI BARs are numbered 0 to 5.
use kaal_dev::{Driver, MmioBlock};

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
struct Nic {
    #[mmio(bar = 6)]
    regs: MmioBlock,
    #[mmio]
    more: MmioBlock,
}

fn main() {}
