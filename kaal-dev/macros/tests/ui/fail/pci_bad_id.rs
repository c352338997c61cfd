// PCI IDs are 16-bit integer literals.
use kaal_dev::{Driver, MmioBlock};

#[derive(Driver)]
#[pci(vendor = "8086", device = 0x100e)]
#[pci(vendor = 0x8086, device = 0x1_0000)]
#[pci(vendor = INTEL, device = 0x100e)]
struct Nic {
    #[mmio(bar = 0)]
    regs: MmioBlock,
}

fn main() {}
