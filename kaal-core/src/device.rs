//! Hardware access: I/O port ranges and interrupts.
//!
//! * [`IoPortRange`] is an I/O port capability for `[first, last]`; the kernel refuses
//!   any port outside it. The root task's authority over ports, [`IoPortAuthority`],
//!   differs between the kernels, and the types say so:
//!   * seL4 5.0.0: the root task holds the range of every port, and
//!     [`IoPortRange::mint`] (its `io_port_capdata`, layout generated from the kernel's
//!     own spec) narrows it. The kernel turns a mint outside the parent's range into an
//!     empty capability without an error, so the range is checked here, against the
//!     parent's known range, before minting. Ranges may overlap.
//!   * seL4 16.0.0: the root task holds an [`IoPortControl`], and
//!     [`IoPortControl::issue`] creates each range. The kernel gives each port to one
//!     range at a time: issuing an overlapping range fails with [`Error::PortsInUse`]
//!     until the holder's capability is deleted. Minting cannot narrow a range.
//!
//!   Both have `issue(span, cspace)`, so code that only needs "a capability for these
//!   ports" reads the same on either kernel.
//! * [`IrqHandler`]s come from [`IrqControl`] for an IOAPIC pin, unbound. Binding one to
//!   a notification ([`IrqHandler::bind`]) gives an [`Irq`]: the interrupt signals the
//!   notification, and the driver acknowledges the interrupt when it has handled it.
//!   Only a bound handler can be acknowledged or waited for.

use crate::cap::{cap_type, Badge, Cap, IoPort, IrqControl, IrqHandler, Notification, Rights};
use crate::cspace::{CSpace, ROOT_DEPTH};
use crate::error::{Error, Rejected, Result};
use crate::sys;

/// The root task's authority over I/O ports: the capability for every port on seL4
/// 5.0.0, the [`IoPortControl`] on 16.0.0. Both have `issue(span, cspace)`.
#[cfg(kaal_sel4 = "5")]
pub type IoPortAuthority = IoPortRange;
/// The root task's authority over I/O ports: the capability for every port on seL4
/// 5.0.0, the [`IoPortControl`] on 16.0.0. Both have `issue(span, cspace)`.
#[cfg(kaal_sel4 = "16")]
pub type IoPortAuthority = IoPortControl;

/// seL4 16.0.0's authority to issue I/O port capabilities (`seL4_CapIOPortControl`).
#[cfg(kaal_sel4 = "16")]
#[derive(Debug)]
pub struct IoPortControl {
    cap: Cap<crate::cap::cap_type::IoPortControl>,
}

#[cfg(kaal_sel4 = "16")]
impl IoPortControl {
    /// Wraps the control capability.
    ///
    /// # Safety
    /// `cap` must be the I/O port control capability, owned by no one else.
    pub(crate) unsafe fn from_cap(cap: Cap<crate::cap::cap_type::IoPortControl>) -> Self {
        Self { cap }
    }

    /// Issues a capability for `span`. The kernel gives each port to one range at a
    /// time: if any port of `span` is issued already (to a capability not yet deleted),
    /// this fails with [`Error::PortsInUse`].
    pub fn issue(&self, span: PortSpan, cspace: &mut CSpace) -> Result<IoPortRange> {
        if span.first > span.last {
            return Err(Error::PortsOutOfRange { first: span.first, last: span.last });
        }
        let slot = cspace.alloc_slot()?;
        // SAFETY: creating an I/O port capability in an empty slot; no memory changes.
        let err = unsafe {
            sys::seL4_X86_IOPortControl_Issue(
                self.cap.cptr(),
                span.first as u64,
                span.last as u64,
                sys::seL4_CapInitThreadCNode,
                slot.cptr(),
                ROOT_DEPTH as _,
            )
        };
        let result = match Error::check(err, "seL4_X86_IOPortControl_Issue") {
            Err(e) if e.kernel_error() == Some(crate::error::KernelError::RevokeFirst) => {
                Err(Error::PortsInUse { first: span.first, last: span.last })
            }
            other => other,
        };
        let cap = cspace.finish(slot, result)?;
        Ok(IoPortRange { cap, span })
    }
}

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
    /// All 65536 ports: seL4 5.0.0's initial I/O port capability.
    #[cfg(kaal_sel4 = "5")]
    pub(crate) const ALL: PortSpan = PortSpan { first: 0, last: 0xffff };

    /// Mints a capability for `span` from this range, which must contain it (seL4
    /// 5.0.0; 16.0.0 cannot narrow a port capability by minting).
    #[cfg(kaal_sel4 = "5")]
    pub fn mint(&self, span: PortSpan, cspace: &mut CSpace) -> Result<Self> {
        if span.first > span.last || !self.span.contains(span.first) || !self.span.contains(span.last) {
            return Err(Error::PortsOutOfRange { first: span.first, last: span.last });
        }
        let data = ((span.first as u64) << sys::io_port_capdata_firstPort_SHIFT)
            | ((span.last as u64) << sys::io_port_capdata_lastPort_SHIFT);
        let cap = cspace.mint_data(&self.cap, Rights::ALL, data, "seL4_CNode_Mint (I/O ports)")?;
        Ok(Self { cap, span })
    }

    /// A capability for `span`: [`IoPortRange::mint`], under the name both kernels'
    /// authorities share ([`IoPortAuthority`]).
    #[cfg(kaal_sel4 = "5")]
    pub fn issue(&self, span: PortSpan, cspace: &mut CSpace) -> Result<Self> {
        self.mint(span, cspace)
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
    pub(crate) fn cap(&self) -> &IoPort {
        &self.cap
    }

    /// Gives up the typed wrapper, e.g. to delete the capability.
    pub fn into_cap(self) -> IoPort {
        self.cap
    }

    fn port(&self, offset: u16) -> Result<u16> {
        let port = self.span.first.checked_add(offset).filter(|p| self.span.contains(*p));
        let outside = self.span.first as u32 + offset as u32;
        port.ok_or(Error::PortOutside { port: outside, first: self.span.first, last: self.span.last })
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
                ROOT_DEPTH as _,
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
    /// Binds the handler to a badged copy of `notification`: the interrupt then arrives
    /// as `badge`'s bits when waiting on `notification`. If the kernel refuses, the
    /// handler and the notification come back in the error.
    pub fn bind(
        self,
        notification: Notification,
        badge: Badge,
        cspace: &mut CSpace,
    ) -> core::result::Result<Irq, Rejected<(IrqHandler, Notification)>> {
        let badged = match cspace.mint(&notification, Rights::WRITE, badge) {
            Ok(badged) => badged,
            Err(error) => return Err(Rejected { error, value: (self, notification) }),
        };
        // SAFETY: binding an IRQ handler to a notification; no memory changes.
        let err = unsafe { sys::seL4_IRQHandler_SetNotification(self.cptr(), badged.cptr()) };
        // The kernel keeps its own reference to the notification; the badged copy's
        // slot is not needed again.
        let _ = badged.into_cptr();
        match Error::check(err, "seL4_IRQHandler_SetNotification") {
            Ok(()) => Ok(Irq { handler: self, notification, badge }),
            Err(error) => Err(Rejected { error, value: (self, notification) }),
        }
    }
}

/// A bound interrupt with the notification it arrives on: wait, handle, acknowledge.
#[derive(Debug)]
pub struct Irq {
    handler: IrqHandler,
    notification: Notification,
    badge: Badge,
}

impl Irq {
    /// A handler a supervisor bound to `notification` with `badge` and granted to this
    /// component (see [`crate::component::Component::irq`]).
    pub(crate) fn granted(handler: IrqHandler, notification: Notification, badge: Badge) -> Self {
        Self { handler, notification, badge }
    }

    /// Stops delivering the interrupt and hands back the unbound handler and the
    /// notification.
    pub fn unbind(self) -> core::result::Result<(IrqHandler, Notification), Rejected<Irq>> {
        // SAFETY: unbinding our own IRQ handler; no memory changes.
        let err = unsafe { sys::seL4_IRQHandler_Clear(self.handler.cptr()) };
        match Error::check(err, "seL4_IRQHandler_Clear") {
            Ok(()) => Ok((self.handler, self.notification)),
            Err(error) => Err(Rejected { error, value: self }),
        }
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

    /// Re-enables the interrupt after it was handled.
    pub fn ack(&self) -> Result<()> {
        // SAFETY: acknowledging our own interrupt; no memory changes.
        Error::check(unsafe { sys::seL4_IRQHandler_Ack(self.handler.cptr()) }, "seL4_IRQHandler_Ack")
    }

    /// The handler capability, for granting it (bound) to a component.
    pub(crate) fn handler(&self) -> &IrqHandler {
        &self.handler
    }
}
