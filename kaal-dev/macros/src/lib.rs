//! # kaal-dev-macros: `#[derive(Driver)]`
//!
//! A KaaL driver is a struct whose fields are its hardware resources. `#[derive(Driver)]`
//! implements `kaal_dev::kit::Driver` for it (which devices it drives, how to build it
//! from the resources the capability broker hands over, which method handles its
//! interrupt) and registers it in `kaal_dev::kit::DRIVERS`. Use it through `kaal-dev`,
//! which re-exports it as `kaal_dev::Driver`.
//!
//! ```ignore
//! use kaal_dev::kit::DmaRing;
//! use kaal_dev::{Driver, DriverError, Irq, MmioBlock, PortBlock};
//!
//! #[derive(Driver)]
//! #[driver(name = "uart16550")]            // optional; default: the struct name in snake_case
//! #[isa(com2)]                              // one device per #[isa(...)]: com1 com2 com3 com4 pit
//! #[pci(vendor = 0x8086, device = 0x100e)] // 16-bit IDs; at least one #[isa] or #[pci] in all
//! #[resources(dma = 65536)]                 // optional: bytes of DMA memory
//! struct Uart {
//!     #[ports] regs: PortBlock,                        // device.take_ports()?
//!     #[mmio(bar = 0)] bar0: MmioBlock,                // device.take_mmio(0)?, bar in 0..=5
//!     #[interrupt(handler = on_interrupt)] irq: Irq,   // device.take_irq()?
//!     #[dma_ring(size = 16)] rx: DmaRing,              // device.take_dma_ring(16)?, size in 1..=4096
//!     // or: #[dma] pool: DmaPool,                     // device.take_dma()?: the whole pool
//!     count: u64,                                      // Default::default()
//! }
//!
//! impl Uart {
//!     fn on_interrupt(&mut self) -> Result<(), DriverError> { Ok(()) }
//! }
//! ```
//!
//! ## What is generated
//!
//! - `impl kaal_dev::kit::Driver for Uart`:
//!   - `NAME`: the driver name;
//!   - `MATCHES`: one `DeviceMatch` per `#[isa]` and `#[pci]` attribute, in order;
//!   - `RESOURCES`: `ResourceRequest { dma_bytes, ports }` (0 without `#[resources]`; `ports`
//!     from `#[ports(count = N)]`);
//!   - `probe`: builds every field as the comments above say, in field order;
//!   - `interrupt`: `Some(&self.irq)` for the `#[interrupt]` field, else `None`;
//!   - `handle_interrupt`: calls `self.on_interrupt()`, the method named by `handler`
//!     (the user writes it), or returns `Ok(())` without an `#[interrupt]` field.
//! - A `static __KAAL_DRIVER_UART: DriverEntry` in the `DRIVERS` distributed slice
//!   (`linkme`, reached through `kaal_dev::__private::linkme`).
//!
//! ## Rules
//!
//! Only structs with named fields and no generic parameters can derive `Driver`. Each
//! resource can be taken by one field only: one `#[ports]` field, one `#[interrupt]`
//! field, one field per MMIO BAR, and one `#[dma]` or `#[dma_ring]` field (each takes
//! the whole DMA pool; `#[dma]` needs `#[resources(dma = ..)]`). A `#[dma_ring(size = n)]` needs `#[resources(dma = ..)]` of at least
//! `n * 2048` bytes (`kaal_dev::kit::DMA_RING_BUFFER_BYTES` per buffer). A field has at
//! most one resource attribute. Unknown keys, out-of-range values and misplaced
//! attributes are errors; every error found is reported, each at the attribute or field
//! it is about.

mod attrs;
mod errors;
mod expand;
mod model;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `kaal_dev::kit::Driver` for a struct of resources and registers the
/// driver in `kaal_dev::kit::DRIVERS`. See the [crate documentation](crate).
#[proc_macro_derive(Driver, attributes(driver, isa, pci, resources, ports, mmio, interrupt, dma, dma_ring))]
pub fn derive_driver(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match model::DriverDef::from_input(&input) {
        Ok(driver) => expand::expand(&driver).into(),
        Err(errors) => errors.to_compile_error().into(),
    }
}
