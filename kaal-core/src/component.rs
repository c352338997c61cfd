//! What a component's `main` gets: its name, and its grants by name.
//!
//! Each capability can be taken once, as the kind it was granted as; asking for a name
//! that was not granted, or for the wrong kind, is an error that says so. That is the
//! whole of a component's authority: it has no other capabilities than these, its own
//! TCB and CNode, and the badged endpoint to its supervisor.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

pub use kaal_abi::plan::parts;
use kaal_abi::startup::{slots, CapKind, RegionEntry, StartupBlock};
pub use kaal_abi::startup::{Name, RegionInfo};

use crate::cap::{Badge, Cap, Notification};
use crate::cspace::CSpace;
use crate::device::{InterruptLine, IoPortRange, Irq, PortSpan};
use crate::error::{Error, Result};
use crate::ipc::{Client, Server};
use crate::mmio::MmioRegion;
use crate::shared::SharedRegion;

static NAME_PTR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// The running component's name, or `fallback` before it is known.
pub fn current_name(fallback: &'static str) -> &'static str {
    let ptr = NAME_PTR.load(Ordering::Acquire);
    if ptr.is_null() {
        return fallback;
    }
    // SAFETY: set once from a leaked `'static` name below; never changed afterwards.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, NAME_LEN.load(Ordering::Acquire)) };
    core::str::from_utf8(bytes).unwrap_or(fallback)
}

/// The start-up block, kept for the component's whole life.
struct BlockCell {
    set: AtomicBool,
    block: UnsafeCell<MaybeUninit<StartupBlock>>,
}

// SAFETY: written once, before `main`, by the only thread that exists then; read-only
// afterwards.
unsafe impl Sync for BlockCell {}

impl BlockCell {
    fn set(&'static self, block: StartupBlock) -> &'static StartupBlock {
        assert!(!self.set.swap(true, Ordering::AcqRel), "the start-up block is set once");
        // SAFETY: first and only write (checked above); no reference exists yet.
        unsafe { (*self.block.get()).write(block) }
    }
}

static BLOCK: BlockCell = BlockCell { set: AtomicBool::new(false), block: UnsafeCell::new(MaybeUninit::uninit()) };

/// The component's view of itself.
pub struct Component {
    block: &'static StartupBlock,
    taken: u64,
    cspace: CSpace,
}

impl core::fmt::Debug for Component {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Component({:?})", self.name())
    }
}

impl Component {
    pub(crate) fn new(block: StartupBlock) -> Self {
        let block = BLOCK.set(block);
        let name = block.name.as_str();
        NAME_LEN.store(name.len(), Ordering::Release);
        NAME_PTR.store(name.as_ptr() as *mut u8, Ordering::Release);
        let cspace = CSpace::new(slots::FIRST_FREE..(1 << block.cnode_bits));
        Self { block, taken: 0, cspace }
    }

    /// The component's name (from the system description, not its crate name).
    pub fn name(&self) -> &'static str {
        self.block.name.as_str()
    }

    /// Everything granted, for diagnostics.
    pub fn grants(&self) -> &'static StartupBlock {
        self.block
    }

    /// Free slots of the component's own CNode (for received capabilities).
    pub fn cspace(&mut self) -> &mut CSpace {
        &mut self.cspace
    }

    /// Finds capability grant `name` of one of the `wanted` kinds, not yet taken;
    /// returns its index, slot, kind and data word.
    fn find(&self, name: &str, wanted: &[CapKind], expected: &'static str) -> Result<(usize, u64, CapKind, u64)> {
        let (index, entry) = self
            .block
            .caps()
            .enumerate()
            .find(|(_, c)| c.name.as_str() == name)
            .ok_or_else(|| self.not_granted(name))?;
        if !wanted.contains(&entry.kind) {
            return Err(Error::WrongGrantKind { name: entry.name, expected, granted: entry.kind.describe() });
        }
        if self.taken & (1 << index) != 0 {
            return Err(Error::AlreadyTaken { name: entry.name });
        }
        Ok((index, entry.slot, entry.kind, entry.data))
    }

    /// [`Self::find`], without taking the grant.
    fn peek(&self, name: &str, wanted: &[CapKind], expected: &'static str) -> Result<(u64, CapKind, u64)> {
        self.find(name, wanted, expected).map(|(_, slot, kind, data)| (slot, kind, data))
    }

    /// Takes capability grant `name`: each is handed out once.
    fn take(&mut self, name: &str, wanted: &[CapKind], expected: &'static str) -> Result<(u64, CapKind, u64)> {
        let (index, slot, kind, data) = self.find(name, wanted, expected)?;
        self.taken |= 1 << index;
        Ok((slot, kind, data))
    }

    fn not_granted(&self, name: &str) -> Error {
        // A region asked for as a capability (or the other way round) is a wrong kind,
        // not a missing grant.
        if let Some(region) = self.block.regions().find(|r| r.name.as_str() == name) {
            let granted = if region.info.uncached { "device memory" } else { "a shared region" };
            return Error::WrongGrantKind { name: region.name, expected: "a capability", granted };
        }
        Error::NotGranted { name: Name::truncated(name) }
    }

    fn take_region(&mut self, name: &str) -> Result<(&'static RegionEntry, u64)> {
        let (index, region) =
            self.block.regions().enumerate().find(|(_, r)| r.name.as_str() == name).ok_or_else(|| {
                match self.block.cap(name) {
                    Some(cap) => Error::WrongGrantKind {
                        name: cap.name,
                        expected: "a memory region",
                        granted: cap.kind.describe(),
                    },
                    None => Error::NotGranted { name: Name::truncated(name) },
                }
            })?;
        let bit = 1 << (48 + index);
        if self.taken & bit != 0 {
            return Err(Error::AlreadyTaken { name: region.name });
        }
        Ok((region, bit))
    }

    /// The client side of a channel granted as `name`.
    pub fn client(&mut self, name: &str) -> Result<Client> {
        let (slot, _, badge) = self.take(name, &[CapKind::EndpointClient], "an endpoint client")?;
        // SAFETY: the supervisor placed an endpoint capability in this slot, and `take`
        // hands each slot out once.
        Ok(Client::from_endpoint(unsafe { Cap::from_cptr(slot) }, Badge::new(badge)))
    }

    /// The server side of a channel granted as `name`.
    pub fn server(&mut self, name: &str) -> Result<Server> {
        let (slot, _, _) = self.take(name, &[CapKind::EndpointServer], "an endpoint server")?;
        // SAFETY: as for `client`.
        Ok(Server::from_endpoint(unsafe { Cap::from_cptr(slot) }))
    }

    /// A notification granted as `name` (to signal or to wait on, as granted).
    pub fn notification(&mut self, name: &str) -> Result<Notification> {
        let (slot, _, _) =
            self.take(name, &[CapKind::NotificationSignal, CapKind::NotificationWait], "a notification")?;
        // SAFETY: as for `client`.
        Ok(unsafe { Cap::from_cptr(slot) })
    }

    /// The time service (`time = true` in system.toml): sleeps and timeouts. Fails
    /// with [`Error::NotGranted`] naming `time` when the component has no time.
    pub fn timer(&mut self) -> Result<crate::time::Timer> {
        let service = self.client(kaal_abi::time::GRANT)?;
        let wake = self.notification(kaal_abi::time::WAKE)?;
        Ok(crate::time::Timer::new(service, wake))
    }

    /// The I/O ports granted as `name`.
    pub fn io_ports(&mut self, name: &str) -> Result<IoPortRange> {
        let (slot, _, data) = self.take(name, &[CapKind::IoPort], "I/O ports")?;
        let span = PortSpan { first: (data >> 16) as u16, last: data as u16 };
        // SAFETY: the supervisor placed an I/O port capability for exactly `span` (it
        // records the range in the block) in this slot; `take` hands it out once.
        Ok(unsafe { IoPortRange::from_cap(Cap::from_cptr(slot), span) })
    }

    /// The bound interrupt granted as `handler` (its IRQ handler) and `events` (the
    /// notification it arrives on), with the interrupt line it serves.
    pub fn irq(&mut self, handler: &str, events: &str) -> Result<(Irq, InterruptLine)> {
        let (events_slot, _, badge) = self.peek(events, &[CapKind::NotificationWait], "an interrupt's notification")?;
        let Some(badge) = Badge::new(badge) else {
            let name = Name::truncated(events);
            return Err(Error::WrongGrantKind {
                name,
                expected: "an interrupt's notification",
                granted: "a notification",
            });
        };
        let (handler_slot, _, line) = self.take(handler, &[CapKind::IrqHandler], "an IRQ handler")?;
        self.take(events, &[CapKind::NotificationWait], "an interrupt's notification")?;
        // SAFETY: the supervisor placed a handler it bound (with `badge`) to the
        // notification in `events_slot`, and `take` hands each slot out once.
        let (handler, notification) = unsafe { (Cap::from_cptr(handler_slot), Cap::from_cptr(events_slot)) };
        Ok((Irq::granted(handler, notification, badge), InterruptLine::from_word(line)))
    }

    /// The shared region granted as `name`.
    pub fn region(&mut self, name: &str) -> Result<SharedRegion> {
        self.region_with_info(name).map(|(region, _)| region)
    }

    /// The shared region granted as `name`, and what the supervisor said about it (for a
    /// ring: its geometry).
    pub fn region_with_info(&mut self, name: &str) -> Result<(SharedRegion, RegionInfo)> {
        let (entry, bit) = self.take_region(name)?;
        let info = entry.info;
        if info.uncached {
            return Err(Error::WrongGrantKind {
                name: entry.name,
                expected: "a shared region",
                granted: "device memory",
            });
        }
        self.taken |= bit;
        // SAFETY: the supervisor mapped this region at this address for our whole life,
        // and it is handed out once.
        Ok((unsafe { SharedRegion::from_mapping(info.vaddr, info.size as usize, info.writable) }, info))
    }

    /// The device memory granted as `name`, mapped uncached.
    pub fn mmio(&mut self, name: &str) -> Result<MmioRegion> {
        let (entry, bit) = self.take_region(name)?;
        let info = entry.info;
        if !info.uncached {
            return Err(Error::WrongGrantKind {
                name: entry.name,
                expected: "device memory",
                granted: "a shared region",
            });
        }
        self.taken |= bit;
        // SAFETY: the supervisor mapped this device memory uncached at this address for
        // our whole life, and it is handed out once.
        Ok(unsafe { MmioRegion::from_mapping(info.vaddr, info.paddr, info.size as usize) })
    }

    /// The RAM budget granted as `name` ([`crate::supervisor::Grant::untyped`]), for a
    /// component that makes kernel objects itself (give it to `kaal-alloc`'s
    /// `UntypedAllocator` with [`Self::cspace`]'s slots).
    pub fn untyped(&mut self, name: &str) -> Result<crate::untyped::Untyped> {
        let (slot, _, data) = self.take(name, &[CapKind::Untyped], "untyped memory")?;
        let size_bits = (data & 0xff) as u8;
        if !(12..64).contains(&size_bits) {
            return Err(Error::InvalidSize { what: "granted untyped (bits)", value: size_bits as u64, limit: 63 });
        }
        let device = data & 0x100 != 0;
        let paddr = data & !0x1ff;
        // SAFETY: the supervisor copied an untyped of `2^size_bits` bytes at `paddr`
        // (recorded in the block) with nothing retyped from it into this slot, gave up
        // its own handle, and `take` hands it out once.
        Ok(unsafe { crate::untyped::Untyped::from_raw(slot, paddr, size_bits, device) })
    }

    /// The ASID pool, for a manager component (`ComponentConfig::manager`).
    pub fn asid_pool(&mut self) -> Result<crate::cap::AsidPool> {
        let (slot, _, _) = self.take(crate::supervisor::MANAGER_ASID_POOL, &[CapKind::AsidPool], "an ASID pool")?;
        // SAFETY: the supervisor placed the ASID pool in this slot; handed out once.
        Ok(unsafe { Cap::from_cptr(slot) })
    }

    /// The component's own address space, for a manager component: to map pages here
    /// (its processes' memory, seen from the manager) beside what the supervisor mapped.
    /// Addresses the supervisor used (program, heap, regions, stack) are refused by the
    /// kernel on seL4 5.0.0; keep to [`kaal_abi::startup::MANAGER_WINDOW`].
    pub fn own_vspace(&mut self) -> Result<crate::vspace::VSpace> {
        let (slot, _, _) = self.take(crate::supervisor::MANAGER_VSPACE, &[CapKind::VSpace], "an address space")?;
        // SAFETY: the supervisor placed a copy of this component's own PML4 here.
        Ok(crate::vspace::VSpace::own(unsafe { Cap::from_cptr(slot) }))
    }

    /// Binds `notification` to this component's thread: a receive on any endpoint then
    /// also returns when it is signalled (with label 0 and the notification's badge), so
    /// one loop can serve both calls and interrupts.
    pub fn bind_notification(&self, notification: &Notification) -> Result<()> {
        // SAFETY: binding a notification of ours to our own TCB touches no memory.
        let err = unsafe { crate::sys::seL4_TCB_BindNotification(slots::TCB, notification.cptr()) };
        Error::check(err, "seL4_TCB_BindNotification")
    }

    /// What the kernel says is in each occupied slot of this component's CNode below
    /// the first free slot, as `(slot, kind)`: a way to see (and test) that it holds
    /// exactly its grants. Only a debug kernel can say (`seL4_DebugCapIdentify`); on a
    /// release kernel this is [`Error::NeedsDebugKernel`].
    pub fn capabilities(&self) -> Result<Capabilities> {
        if cfg!(kaal_debug_kernel) {
            Ok(Capabilities { next: 0, end: slots::FIRST_FREE.min(1 << self.block.cnode_bits) })
        } else {
            Err(Error::NeedsDebugKernel { what: "listing a CNode's capabilities" })
        }
    }
}

/// The occupied slots of a component's CNode (see [`Component::capabilities`]).
#[derive(Debug)]
pub struct Capabilities {
    next: u64,
    end: u64,
}

impl Iterator for Capabilities {
    type Item = (u64, &'static str);

    #[cfg(kaal_debug_kernel)]
    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.end {
            let slot = self.next;
            self.next += 1;
            let tag = crate::sys::debug_cap_identify(slot);
            if tag != crate::sys::KERNEL_CAP_TAG_null_cap {
                return Some((slot, crate::cap::kernel_tag_name(tag)));
            }
        }
        None
    }

    #[cfg(not(kaal_debug_kernel))]
    fn next(&mut self) -> Option<Self::Item> {
        // Never made on a release kernel (`capabilities` refuses); empty if it were.
        self.next = self.end;
        None
    }
}
