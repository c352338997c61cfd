//! # kaal-core: seL4, typed
//!
//! Layer 1 of KaaL. Everything above it gets kernel resources only through the handles
//! defined here.
//!
//! * [`sys`]: the raw layer, generated at build time from the kernel's own interface
//!   XML, headers and bitfield specs for the exact kernel config in use (syscall numbers,
//!   invocation labels, object sizes, one `seL4_*` function per invocation), plus the
//!   `syscall` instruction and IPC-buffer access.
//! * Owned, typed capability handles ([`cap`]): one marker type per kind of capability,
//!   no `Copy`, and state changes that consume the old state ([`vspace::Frame::map`]
//!   returns a [`vspace::MappedFrame`]).
//! * [`cspace::CSpace`] (free slots), [`untyped::Untyped`] (retyping, with the memory
//!   left tracked), [`vspace`] (frames, mapping with on-demand paging structures),
//!   [`bootinfo::BootInfo`].
//! * [`Error`] for everything, with [`KernelError`] mirroring `seL4_Error`.
//! * The root-task runtime ([`root_task!`], [`runtime`]) and [`println!`].
//!
//! Using a capability as the wrong kind does not compile:
//!
//! ```compile_fail
//! fn confuse(n: &kaal_core::Notification) {
//!     // error[E0599]: no method named `call` found: a notification is not an endpoint
//!     n.call(0);
//! }
//! ```
//!
//! ```compile_fail
//! fn wants_endpoint(_: &kaal_core::Endpoint) {}
//! fn confuse(n: &kaal_core::Notification) {
//!     // error[E0308]: mismatched types: expected `Cap<Endpoint>`, found `Cap<Notification>`
//!     wants_endpoint(n);
//! }
//! ```
#![no_std]
#![warn(missing_debug_implementations)]

pub mod arch;
pub mod bootinfo;
pub mod cap;
pub mod component;
pub mod console;
pub mod cspace;
pub mod device;
pub mod error;
pub mod ipc;
pub mod log;
pub mod log_ring;
pub mod mmio;
mod notification;
pub mod process;
pub mod profile;
// The mapping table's logic is built (and unit-tested) for every kernel; only seL4
// 16.0.0 needs it.
#[cfg_attr(not(kaal_sel4 = "16"), allow(dead_code))]
mod occupancy;
pub mod runtime;
pub mod sched;
pub mod shared;
pub mod supervisor;
pub mod sync;
pub mod sys;
pub mod thread;
pub mod time;
pub mod untyped;
pub mod vspace;

pub use bootinfo::BootInfo;
pub use cap::{Badge, CNode, CPtr, Cap, Endpoint, IoPort, IrqControl, IrqHandler, Notification, Rights, Tcb};
pub use cspace::CSpace;
pub use error::{Error, KernelError, Rejected, Result};
pub use runtime::{exit, ExitStatus, RootTask};
pub use untyped::Untyped;
pub use vspace::{Frame, MappedFrame, VSpace};
