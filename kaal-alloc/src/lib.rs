//! # kaal-alloc: memory for KaaL systems
//!
//! Layer 1, beside `kaal-core`, and built only on its typed handles.
//!
//! * [`UntypedAllocator`]: kernel objects from untyped memory, RAM and device memory
//!   kept apart, best-fit, with budgets for subsystems and device frames by physical
//!   address. Running out is an [`kaal_core::Error::OutOfMemory`] that says how much was
//!   asked for and how much is left, never a panic.
//! * [`heap`]: a `#[global_allocator]` on `buddy_system_allocator` that grows by mapping
//!   2 MiB frames from its own budget.
//! * [`dma`]: pools of physically contiguous memory with known physical addresses.
#![no_std]
// Only the global allocator and the DMA pool's buddy allocator need `unsafe`.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod dma;
#[allow(unsafe_code)]
pub mod heap;
pub mod untyped;

pub use dma::{DmaBuffer, DmaPool};
pub use heap::{Heap, HeapConfig, HeapStats};
pub use untyped::{MemoryStats, UntypedAllocator};
