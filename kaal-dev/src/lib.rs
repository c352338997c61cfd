//! # kaal-dev: devices for KaaL systems
//!
//! Layer 2. The **capability broker** owns every hardware resource the kernel gave the
//! root task (device memory, the IRQ controller, the I/O ports), builds a device table
//! (PCI functions found through configuration space, legacy ISA devices, the HPET from
//! ACPI), and hands each device out **once**, as a [`kit::DeviceBundle`] of typed
//! handles: MMIO mapped uncached, an interrupt bound to a notification, a DMA pool, and
//! an I/O port capability narrowed to the device's ports.
//!
//! The **driver kit** turns a struct of resources into a driver: `#[derive(Driver)]`
//! writes the probing and interrupt wiring, [`registers`] gives typed register access,
//! and [`kit::serve`] runs the interrupt loop. Drivers never touch a raw pointer or an
//! I/O instruction.
//!
//! A driver runs either in the root task ([`Broker::request`]) or in a component of its
//! own: the root task claims the device ([`Broker::claim_device`]) and grants its
//! resources, and [`device_grant::claim`] runs the same driver on them.
#![no_std]

extern crate alloc;

pub mod acpi;
pub mod broker;
pub mod device;
pub mod device_grant;
pub mod isa;
pub mod kit;
pub mod oneshot;
pub mod pci;
pub mod registers;
pub mod time_service;

pub use broker::{Broker, BrokerError, DeviceClaim, DeviceMemory, IrqDelivery};
pub use device::{DeviceId, DeviceInfo, DeviceMatch, DeviceName, FixedDevice, Probe};
pub use kaal_alloc::{DmaBuffer, DmaPool};
pub use kaal_core::device::Irq;
pub use kaal_dev_macros::Driver;
pub use kit::{DeviceBundle, Driver, DriverError};
pub use registers::{MmioBlock, PortBlock, Reg, RegisterBlock};

#[doc(hidden)]
pub mod __private {
    pub use bitflags;
    pub use linkme;
}

#[cfg(test)]
extern crate std;
