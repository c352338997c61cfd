use kaal_dev::kit::DmaRing;
use kaal_dev::{DmaPool, Driver, Irq};

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
struct Nic {
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    #[dma]
    pool: DmaPool,
}

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 65536)]
struct Both {
    #[dma]
    pool: DmaPool,
    #[dma_ring(size = 4)]
    ring: DmaRing,
}

impl Nic {
    fn on_interrupt(&mut self) -> Result<(), kaal_dev::DriverError> {
        Ok(())
    }
}

fn main() {}
