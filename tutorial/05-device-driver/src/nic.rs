//! A look at QEMU's e1000 network card through the driver kit: matched by PCI ID, its
//! registers mapped from BAR 0, a ring of DMA buffers with physical addresses. It only
//! reads the card's identity; a full network driver is a later lesson.

use kaal_dev::kit::DmaRing;
use kaal_dev::registers::{ReadOnly, Reg, RegisterBlock};
use kaal_dev::{Driver, DriverError, Irq, MmioBlock};

const STATUS: Reg<u32, ReadOnly> = Reg::at(0x0008);
const RECEIVE_ADDRESS_LOW: Reg<u32, ReadOnly> = Reg::at(0x5400);
const RECEIVE_ADDRESS_HIGH: Reg<u32, ReadOnly> = Reg::at(0x5404);
const LINK_UP: u32 = 1 << 1;

/// Intel 82540EM (QEMU's `-device e1000`).
#[derive(Driver)]
#[driver(name = "e1000-peek")]
#[pci(vendor = 0x8086, device = 0x100e)]
#[resources(dma = 65536)]
pub struct E1000 {
    #[mmio(bar = 0)]
    regs: MmioBlock,
    #[interrupt(handler = on_interrupt)]
    irq: Irq,
    #[dma_ring(size = 16)]
    rx: DmaRing,
}

impl E1000 {
    /// The card's MAC address, from its first receive-address register pair.
    pub fn mac(&self) -> Result<[u8; 6], DriverError> {
        let low = self.regs.read(RECEIVE_ADDRESS_LOW)?.to_le_bytes();
        let high = self.regs.read(RECEIVE_ADDRESS_HIGH)?.to_le_bytes();
        Ok([low[0], low[1], low[2], low[3], high[0], high[1]])
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> Result<bool, DriverError> {
        Ok(self.regs.read(STATUS)? & LINK_UP != 0)
    }

    /// The receive ring's buffers, as the card would see them.
    pub fn rx_ring(&self) -> &DmaRing {
        &self.rx
    }

    /// Where the registers are.
    pub fn registers_at(&self) -> u64 {
        self.regs.paddr()
    }

    fn on_interrupt(&mut self) -> Result<(), DriverError> {
        Ok(())
    }
}
