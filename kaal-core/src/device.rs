//! Hardware access: I/O port ranges and interrupts.
//!
//! * [`IoPortRange`] is an I/O port capability narrowed to `[first, last]`. The root task
//!   holds the capability for every port; minting with a port range (seL4 5.0's
//!   `io_port_capdata`, layout generated from the kernel's own spec) gives a driver
//!   exactly its device's ports, and the kernel refuses anything outside them.
//! * [`IrqHandler`]s come from [`IrqControl`] for an IOAPIC pin. A handler is bound to a
//!   notification; the interrupt signals it, and the driver acknowledges the interrupt
//!   when it has handled it.

use crate::cap::{cap_type, Badge, Cap, IoPort, IrqControl, IrqHandler, Notification, Rights};
use crate::cspace::{CSpace, ROOT_DEPTH};
use crate::error::{Error, Result};
use crate::sys;

/// The range a port capability covers (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpan {
    pub first: u16,
    pub last: u16,
}

impl PortSpan {
    /// `[first, first + count)`.
    pub const fn new(first: u16, count: u16) -> Self {
        Self { first, last: first + count - 1 }
    }

    /// Whether `port` is inside.
    pub const fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl core::fmt::Display for PortSpan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}-{:#x}", self.first, self.last)
    }
}

/// An I/O port capability for one range of ports.
#[derive(Debug)]
pub struct IoPortRange {
    cap: IoPort,
    span: PortSpan,
}

impl IoPortRange {
    /// Mints a capability for `span` from `all` (a capability covering at least `span`).
    pub fn mint(all: &IoPort, span: PortSpan, cspace: &mut CSpace) -> Result<Self> {
        let data = ((span.first as u64) << sys::io_port_capdata_firstPort_SHIFT)
            | ((span.last as u64) << sys::io_port_capdata_lastPort_SHIFT);
        let cap = cspace.mint_data(all, Rights::ALL, data, "seL4_CNode_Mint (I/O ports)")?;
        // The kernel turns an out-of-range mint into a null capability rather than an error.
        if sys::debug_cap_identify(cap.cptr()) != sys::KERNEL_CAP_TAG_io_port_cap {
            let _ = cspace.delete(cap);
            return Err(Error::PortsOutOfRange { first: span.first, last: span.last });
        }
        Ok(Self { cap, span })
    }

    /// Wraps a granted capability known to cover `span`.
    ///
    /// # Safety
    /// `cap` must be an I/O port capability for exactly `span`, owned by no one else.
    pub unsafe fn from_cap(cap: IoPort, span: PortSpan) -> Self {
        Self { cap, span }
    }

    /// The ports covered.
    pub fn span(&self) -> PortSpan {
        self.span
    }

    /// The capability, for granting it to a component.
    pub fn cap(&self) -> &IoPort {
        &self.cap
    }

    /// Gives up the typed wrapper, e.g. to delete the capability.
    pub fn into_cap(self) -> IoPort {
        self.cap
    }

    fn port(&self, offset: u16) -> Result<u16> {
        let port = self.span.first.checked_add(offset).filter(|p| self.span.contains(*p));
        port.ok_or(Error::PortsOutOfRange { first: self.span.first.wrapping_add(offset), last: self.span.last })
    }

    /// Reads the byte at `first + offset`.
    pub fn read8(&self, offset: u16) -> Result<u8> {
        let port = self.port(offset)?;
        // SAFETY: a port read through our own capability; no memory changes.
        let r = unsafe { sys::seL4_X86_IOPort_In8(self.cap.cptr(), port) };
        Error::check(r.error, "seL4_X86_IOPort_In8")?;
        Ok(r.result)
    }

    /// Reads the 32-bit word at `first + offset`.
    pub fn read32(&self, offset: u16) -> Result<u32> {
        let port = self.port(offset)?;
        // SAFETY: as for `read8`.
        let r = unsafe { sys::seL4_X86_IOPort_In32(self.cap.cptr(), port) };
        Error::check(r.error, "seL4_X86_IOPort_In32")?;
        Ok(r.result)
    }

    /// Writes `value` to the byte port at `first + offset`.
    pub fn write8(&self, offset: u16, value: u8) -> Result<()> {
        let port = self.port(offset)?;
        // SAFETY: a port write through our own capability; device side effects only.
        let err = unsafe { sys::seL4_X86_IOPort_Out8(self.cap.cptr(), port as u64, value as u64) };
        Error::check(err, "seL4_X86_IOPort_Out8")
    }

    /// Writes `value` to the 32-bit port at `first + offset`.
    pub fn write32(&self, offset: u16, value: u32) -> Result<()> {
        let port = self.port(offset)?;
        // SAFETY: as for `write8`.
        let err = unsafe { sys::seL4_X86_IOPort_Out32(self.cap.cptr(), port as u64, value as u64) };
        Error::check(err, "seL4_X86_IOPort_Out32")
    }
}

/// How a device's interrupt reaches the IOAPIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptLine {
    /// IOAPIC input (global system interrupt).
    pub gsi: u8,
    /// Level-triggered (else edge-triggered).
    pub level: bool,
    /// Active low (else active high).
    pub active_low: bool,
}

impl InterruptLine {
    /// As a granted IRQ handler's start-up block entry records it.
    pub const fn to_word(self) -> u64 {
        self.gsi as u64 | (self.level as u64) << 8 | (self.active_low as u64) << 9
    }

    /// The inverse of [`to_word`](Self::to_word).
    pub const fn from_word(word: u64) -> Self {
        Self { gsi: word as u8, level: word & (1 << 8) != 0, active_low: word & (1 << 9) != 0 }
    }
}

impl core::fmt::Display for InterruptLine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let trigger = if self.level { "level" } else { "edge" };
        let polarity = if self.active_low { "low" } else { "high" };
        write!(f, "gsi {} {trigger}/{polarity}", self.gsi)
    }
}

/// Where an interrupt comes from, and how it signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApicPin {
    pub ioapic: u8,
    pub pin: u8,
    /// Level-triggered (PCI INTx) rather than edge-triggered (ISA).
    pub level: bool,
    /// Active low rather than active high. The firmware's MADT says which; ISA lines are
    /// edge-triggered and active high unless it overrides them.
    pub active_low: bool,
}

/// Interrupt vectors seL4 5.0 gives user space (its `irq_user_min..irq_user_max`).
pub const USER_VECTORS: u8 = 107;

impl IrqControl {
    /// An IRQ handler for `pin`, delivered on user vector `vector` (0..[`USER_VECTORS`]).
    pub fn ioapic_handler(&self, pin: IoApicPin, vector: u8, cspace: &mut CSpace) -> Result<IrqHandler> {
        if vector >= USER_VECTORS {
            return Err(Error::InvalidSize {
                what: "interrupt vector",
                value: vector as u64,
                limit: USER_VECTORS as u64,
            });
        }
        let (level, polarity) = (pin.level as u64, pin.active_low as u64);
        let slot = cspace.alloc_slot()?;
        // SAFETY: creating an IRQ handler capability in an empty slot; no memory changes.
        let err = unsafe {
            sys::seL4_IRQControl_GetIOAPIC(
                self.cptr(),
                sys::seL4_CapInitThreadCNode,
                slot.cptr(),
                ROOT_DEPTH as u64,
                pin.ioapic as u64,
                pin.pin as u64,
                level,
                polarity,
                vector as u64,
            )
        };
        cspace.finish(slot, Error::check(err, "seL4_IRQControl_GetIOAPIC"))
    }
}

impl Cap<cap_type::IrqHandler> {
    /// Delivers the interrupt as a signal on `notification`.
    pub fn set_notification(&self, notification: &Notification) -> Result<()> {
        // SAFETY: binding an IRQ handler to a notification; no memory changes.
        Error::check(
            unsafe { sys::seL4_IRQHandler_SetNotification(self.cptr(), notification.cptr()) },
            "seL4_IRQHandler_SetNotification",
        )
    }

    /// Re-enables the interrupt after it was handled.
    pub fn ack(&self) -> Result<()> {
        // SAFETY: acknowledging our own interrupt; no memory changes.
        Error::check(unsafe { sys::seL4_IRQHandler_Ack(self.cptr()) }, "seL4_IRQHandler_Ack")
    }
}

/// An interrupt with the notification it arrives on: wait, handle, acknowledge.
#[derive(Debug)]
pub struct Irq {
    handler: IrqHandler,
    notification: Notification,
    badge: Badge,
}

impl Irq {
    /// Binds `handler` to a badged copy of `notification`; waiting on `notification`
    /// then returns `badge`'s bit when the interrupt fires.
    pub fn new(handler: IrqHandler, notification: Notification, badge: Badge, cspace: &mut CSpace) -> Result<Self> {
        let badged = cspace.mint(&notification, Rights::WRITE, badge)?;
        handler.set_notification(&badged)?;
        Ok(Self { handler, notification, badge })
    }

    /// Wraps an IRQ handler already bound to `notification` with `badge`.
    pub fn from_parts(handler: IrqHandler, notification: Notification, badge: Badge) -> Self {
        Self { handler, notification, badge }
    }

    /// Blocks until the interrupt fires (other signals on the same notification are
    /// returned too, as badge bits).
    pub fn wait(&self) -> u64 {
        self.notification.wait()
    }

    /// The badge bit the interrupt sets.
    pub fn badge(&self) -> Badge {
        self.badge
    }

    /// The notification the interrupt arrives on (to wait for other events too).
    pub fn notification(&self) -> &Notification {
        &self.notification
    }

    /// Re-enables the interrupt.
    pub fn ack(&self) -> Result<()> {
        self.handler.ack()
    }

    /// The handler capability, for granting it to a component.
    pub fn handler(&self) -> &IrqHandler {
        &self.handler
    }
}
