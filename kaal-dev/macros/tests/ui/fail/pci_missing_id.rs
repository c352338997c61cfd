// #[pci] needs both IDs.
use kaal_dev::{Driver, MmioBlock};

#[derive(Driver)]
#[pci(vendor = 0x8086)]
#[pci(device = 0x100e)]
#[pci]
struct Nic {
    #[mmio(bar = 0)]
    regs: MmioBlock,
}

fn main() {}
