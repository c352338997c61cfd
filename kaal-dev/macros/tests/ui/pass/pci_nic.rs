//! A PCI driver for two device IDs, with an MMIO BAR, an interrupt and a DMA ring.

use kaal_dev::kit::{DmaRing, ResourceRequest, DRIVERS};
use kaal_dev::{DeviceMatch, Driver, DriverError, Irq, MmioBlock};

#[derive(Driver)]
#[pci(vendor = 0x8086, device = 0x100e)]
#[pci(vendor = 0x8086, device = 0x10d3)]
#[resources(dma = 65536)]
struct E1000Nic {
    #[mmio(bar = 0)]
    registers: MmioBlock,
    #[interrupt(handler = service)]
    irq: Irq,
    #[dma_ring(size = 16)]
    rx: DmaRing,
    /// Not a resource: starts at 0.
    packets: u64,
}

impl E1000Nic {
    fn service(&mut self) -> Result<(), DriverError> {
        let _ = (&self.registers, &self.rx);
        self.packets += 1;
        Ok(())
    }
}

fn main() {
    assert_eq!(<E1000Nic as Driver>::NAME, "e1000_nic");
    assert_eq!(
        <E1000Nic as Driver>::MATCHES,
        &[DeviceMatch::Pci { vendor: 0x8086, device: 0x100e }, DeviceMatch::Pci { vendor: 0x8086, device: 0x10d3 }]
    );
    assert_eq!(<E1000Nic as Driver>::RESOURCES, ResourceRequest { dma_bytes: 65536, ports: None });
    assert!(DRIVERS.iter().any(|entry| entry.name == "e1000_nic"));
}
