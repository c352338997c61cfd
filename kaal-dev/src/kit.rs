//! The driver kit: what a driver declares, what the broker hands it, and the loop
//! that serves its interrupts.
//!
//! A driver is a struct whose fields are its resources, with `#[derive(Driver)]`
//! (from `kaal-dev-macros`, re-exported as [`crate::Driver`]):
//!
//! ```ignore
//! #[derive(Driver)]
//! #[isa(com2)]
//! struct Uart {
//!     #[ports] regs: PortBlock,
//!     #[interrupt(handler = on_interrupt)] irq: Irq,
//!     received: u64,                    // not a resource: starts as Default
//! }
//! ```
//!
//! The derive implements [`Driver`]: which devices it matches, how to build it from a
//! [`DeviceBundle`] (`probe`), and which method handles its interrupt; and it registers
//! the driver in [`DRIVERS`], which the broker matches against its device table.
//! [`serve`] then waits for interrupts, calls the handler and acknowledges them.

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

use kaal_alloc::{DmaBuffer, DmaPool};
use kaal_core::device::{IoPortRange, Irq};
use kaal_core::mmio::MmioRegion;
use kaal_core::Error;

use crate::device::{DeviceId, DeviceInfo, DeviceMatch};
use crate::registers::{MmioBlock, PortBlock};

/// Why a driver could not start or stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// The driver asked for a resource its device does not have (or that it took twice).
    MissingResource { driver: &'static str, device: DeviceId, resource: &'static str },
    /// The device did not behave as the driver expects.
    Device { driver: &'static str, device: DeviceId, what: &'static str },
    /// A running driver could not do what it was asked (the device misbehaved, or the
    /// request was impossible, as `what` says).
    Failed { driver: &'static str, what: &'static str },
    /// A kernel operation failed.
    Kernel(Error),
}

impl From<Error> for DriverError {
    fn from(e: Error) -> Self {
        DriverError::Kernel(e)
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::MissingResource { driver, device, resource } => write!(
                f,
                "failed to initialize driver {driver} for device {device}: the device has no {resource}\n  \
                 help: check the driver's #[ports]/#[mmio]/#[interrupt]/#[dma_ring] fields against the device \
                 table (`cargo kaal debug devices`), or match the driver to another device"
            ),
            DriverError::Device { driver, device, what } => write!(
                f,
                "driver {driver} for device {device}: {what}\n  help: check that QEMU provides the device \
                 (the system's qemu-args) and that no other driver claimed it"
            ),
            DriverError::Failed { driver, what } => write!(f, "driver {driver}: {what}"),
            DriverError::Kernel(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for DriverError {}

/// What a driver needs besides its fields' resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceRequest {
    /// Bytes of DMA memory (0 for none). Rounded up to a power of two.
    pub dma_bytes: usize,
    /// Only the device's first `N` I/O ports (`#[ports(count = N)]`); `None`: all.
    pub ports: Option<u16>,
}

/// Bytes in each buffer of a [`DmaRing`].
pub const DMA_RING_BUFFER_BYTES: usize = 2048;

/// A ring of DMA buffers, for devices that take descriptor rings.
#[derive(Debug)]
pub struct DmaRing {
    pool: DmaPool,
    buffers: Vec<DmaBuffer>,
}

impl DmaRing {
    /// The buffers, in ring order.
    pub fn buffers(&self) -> &[DmaBuffer] {
        &self.buffers
    }

    /// The pool they come from, to read and write them.
    pub fn pool(&self) -> &DmaPool {
        &self.pool
    }
}

/// Everything a claimed device comes with. The broker fills it; `probe` takes from it.
#[derive(Debug)]
pub struct DeviceBundle {
    pub(crate) info: DeviceInfo,
    pub(crate) driver: &'static str,
    pub(crate) ports: Option<IoPortRange>,
    pub(crate) irq: Option<Irq>,
    pub(crate) mmio: Vec<(u8, MmioRegion)>,
    pub(crate) dma: Option<DmaPool>,
    /// A PCI function's configuration header (see [`crate::pci::ConfigCopy`]).
    pub(crate) config: Option<crate::pci::ConfigCopy>,
}

impl DeviceBundle {
    /// The device's table entry.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The device's name.
    pub fn id(&self) -> DeviceId {
        self.info.id
    }

    fn missing(&self, resource: &'static str) -> DriverError {
        DriverError::MissingResource { driver: self.driver, device: self.info.id, resource }
    }

    /// The device's I/O ports as a register block.
    pub fn take_ports(&mut self) -> Result<PortBlock, DriverError> {
        self.ports.take().map(PortBlock::new).ok_or_else(|| self.missing("I/O ports"))
    }

    /// The device's I/O ports as they are (for a driver that addresses them by port
    /// number, as an emulated Linux driver does), if it has any.
    pub fn take_port_range(&mut self) -> Option<IoPortRange> {
        self.ports.take()
    }

    /// The device's interrupt.
    pub fn take_irq(&mut self) -> Result<Irq, DriverError> {
        self.irq.take().ok_or_else(|| self.missing("interrupt"))
    }

    /// MMIO window `index` (a PCI BAR) as a register block.
    pub fn take_mmio(&mut self, index: u8) -> Result<MmioBlock, DriverError> {
        match self.mmio.iter().position(|(i, _)| *i == index) {
            Some(at) => Ok(MmioBlock::new(self.mmio.swap_remove(at).1)),
            None => Err(self.missing("MMIO window")),
        }
    }

    /// Every MMIO window (by PCI BAR), mapped: for a driver whose device library finds
    /// its registers itself from physical addresses (virtio's capabilities).
    pub fn take_all_mmio(&mut self) -> Vec<(u8, MmioRegion)> {
        core::mem::take(&mut self.mmio)
    }

    /// A PCI function's configuration header, read-only (BAR sizing answered).
    pub fn take_config(&mut self) -> Result<crate::pci::ConfigCopy, DriverError> {
        self.config.take().ok_or_else(|| self.missing("PCI configuration header"))
    }

    /// The device's DMA pool.
    pub fn take_dma(&mut self) -> Result<DmaPool, DriverError> {
        self.dma.take().ok_or_else(|| self.missing("DMA pool"))
    }

    /// `size` DMA buffers of [`DMA_RING_BUFFER_BYTES`] from the device's DMA pool.
    pub fn take_dma_ring(&mut self, size: usize) -> Result<DmaRing, DriverError> {
        let mut pool = self.take_dma()?;
        let mut buffers = Vec::with_capacity(size);
        for _ in 0..size {
            buffers.push(pool.alloc(DMA_RING_BUFFER_BYTES, DMA_RING_BUFFER_BYTES)?);
        }
        Ok(DmaRing { pool, buffers })
    }
}

/// A device driver. Implemented by `#[derive(Driver)]`.
pub trait Driver: Sized {
    /// The driver's name.
    const NAME: &'static str;
    /// The devices it drives.
    const MATCHES: &'static [DeviceMatch];
    /// Resources beyond its fields (DMA memory).
    const RESOURCES: ResourceRequest;

    /// Builds the driver from a claimed device's resources.
    fn probe(device: &mut DeviceBundle) -> Result<Self, DriverError>;

    /// The driver's interrupt, if it has one.
    fn interrupt(&self) -> Option<&Irq>;

    /// Handles one interrupt.
    fn handle_interrupt(&mut self) -> Result<(), DriverError>;
}

/// A registered driver, as the broker sees it.
#[derive(Debug)]
pub struct DriverEntry {
    pub name: &'static str,
    pub matches: &'static [DeviceMatch],
}

/// Every driver linked into the program (`#[derive(Driver)]` adds to it).
#[linkme::distributed_slice]
pub static DRIVERS: [DriverEntry];

/// Waits for the driver's interrupt, handles it and acknowledges it, for as long as
/// `keep_going` says. Drivers without an interrupt return at once.
///
/// For a driver whose interrupt has a notification of its own ([`crate::broker::IrqDelivery::Own`]);
/// with several drivers on one notification, wait on it yourself and [`dispatch`].
pub fn serve<D: Driver>(driver: &mut D, mut keep_going: impl FnMut(&mut D) -> bool) -> Result<(), DriverError> {
    while keep_going(driver) {
        let Some(irq) = driver.interrupt() else { return Ok(()) };
        irq.wait();
        driver.handle_interrupt()?;
        // Re-read: the handler may not move the Irq, but the borrow ended above.
        if let Some(irq) = driver.interrupt() {
            irq.ack()?;
        }
    }
    Ok(())
}

/// Hands the driver its interrupt if `bits` (what a wait on a shared notification
/// returned) include its badge: handles it and acknowledges it. Returns whether it did.
pub fn dispatch<D: Driver>(driver: &mut D, bits: u64) -> Result<bool, DriverError> {
    let Some(irq) = driver.interrupt() else { return Ok(false) };
    if bits & irq.badge().value() == 0 {
        return Ok(false);
    }
    driver.handle_interrupt()?;
    if let Some(irq) = driver.interrupt() {
        irq.ack()?;
    }
    Ok(true)
}
