//! What a component is given: capabilities and memory regions, each under a name.
//!
//! A [`Grant`] is built from a typed handle (a [`Client`], a [`Notification`], an
//! [`IoPortRange`], a [`SharedRegion`], ...), so a component can only be given what the
//! root task really holds. [`place`] puts the grants into a new component's CNode and
//! address space and records each in its start-up block.

use kaal_abi::startup::{self, slots, CapKind, RegionInfo, StartupBlock};

use crate::cap::{AsidPool, Badge, CNode, CPtr, Notification, Rights};
use crate::device::{InterruptLine, IoPortRange, Irq};
use crate::error::{Error, Result};
use crate::ipc::{Client, Server};
use crate::shared::SharedRegion;
use crate::sys;
use crate::untyped::Untyped;
use crate::vspace::{CacheAttr, Device, Frame, ObjectAllocator, ReadOnly, ReadWrite, Small, VSpace, PAGE_SIZE};

/// A capability or region a component is given, under a name it looks it up by.
///
/// Capabilities go into the component's CNode from [`slots::FIRST_GRANT`] on, in the
/// order granted, unless a grant names its slot ([`Grant::at_slot`]); regions are mapped
/// from [`startup::REGIONS_BASE`] on, in the order granted.
#[derive(Debug)]
pub struct Grant<'a> {
    name: &'a str,
    slot: Option<u64>,
    what: Granted<'a>,
}

#[derive(Debug)]
enum Granted<'a> {
    /// A capability, copied (or minted with a badge) into the component's CNode.
    Cap { kind: CapKind, cptr: CPtr, rights: Rights, badge: Option<Badge>, data: u64 },
    /// A shared region (with a ring's geometry, if it holds one, and its physical
    /// address, if it is contiguous memory for DMA).
    Region { region: &'a SharedRegion, writable: bool, ring: Option<(u32, u32)>, paddr: u64 },
    /// Device memory, mapped uncached.
    DeviceMemory { frames: &'a [Frame<Small, Device>] },
}

impl<'a> Grant<'a> {
    fn cap(name: &'a str, kind: CapKind, cptr: CPtr, rights: Rights, badge: Option<Badge>, data: u64) -> Self {
        Grant { name, slot: None, what: Granted::Cap { kind, cptr, rights, badge, data } }
    }

    /// A client side of a channel.
    pub fn client(name: &'a str, client: &Client) -> Self {
        let badge = client.badge().map_or(0, Badge::value);
        Self::cap(name, CapKind::EndpointClient, client.endpoint().cptr(), Rights::ALL, None, badge)
    }

    /// The server side of a channel.
    pub fn server(name: &'a str, server: &Server) -> Self {
        Self::cap(name, CapKind::EndpointServer, server.endpoint().cptr(), Rights::ALL, None, 0)
    }

    /// The right to signal a notification, with `badge` OR-ed into it on each signal.
    pub fn signal(name: &'a str, notification: &Notification, badge: Badge) -> Self {
        Self::cap(name, CapKind::NotificationSignal, notification.cptr(), Rights::WRITE, Some(badge), badge.value())
    }

    /// Full rights on a notification: wait on it, signal it, and pass it on (e.g. to a
    /// server that should signal it).
    pub fn notification(name: &'a str, notification: &Notification) -> Self {
        Self::cap(name, CapKind::NotificationWait, notification.cptr(), Rights::ALL, None, 0)
    }

    /// The right to wait on a notification.
    pub fn wait(name: &'a str, notification: &Notification) -> Self {
        Self::cap(name, CapKind::NotificationWait, notification.cptr(), Rights::READ, None, 0)
    }

    /// I/O ports (the component learns their range).
    pub fn io_ports(name: &'a str, ports: &IoPortRange) -> Self {
        let span = ports.span();
        let data = (span.first as u64) << 16 | span.last as u64;
        Self::cap(name, CapKind::IoPort, ports.cap().cptr(), Rights::ALL, None, data)
    }

    /// The handler of a bound interrupt (the component learns its line). Grant the
    /// notification it arrives on with [`Grant::irq_events`], and the component takes
    /// both as one [`Irq`] (`Component::irq`).
    pub fn irq_handler(name: &'a str, irq: &Irq, line: InterruptLine) -> Self {
        Self::cap(name, CapKind::IrqHandler, irq.handler().cptr(), Rights::ALL, None, line.to_word())
    }

    /// The notification a bound interrupt arrives on, to wait on (the component learns
    /// the badge the interrupt signals with).
    pub fn irq_events(name: &'a str, irq: &Irq) -> Self {
        let badge = irq.badge().value();
        Self::cap(name, CapKind::NotificationWait, irq.notification().cptr(), Rights::READ, None, badge)
    }

    /// A budget of RAM for a component that makes kernel objects itself (a process
    /// manager such as kaal-posix's Linux personality). The root task's handle is
    /// consumed: only the component retypes this memory from now on. The component
    /// learns the block's physical address and size (`Component::untyped`).
    pub fn untyped(name: &'a str, untyped: Untyped) -> Self {
        // An untyped is aligned to its size, and a granted one is at least a page, so
        // the low bits are free: the size in bits 0-7, "device memory" in bit 8.
        let data = untyped.paddr() | untyped.size_bits() as u64 | (untyped.is_device() as u64) << 8;
        // The copy placed in the component is the only one anyone retypes from.
        let cptr = untyped.into_cptr();
        Self::cap(name, CapKind::Untyped, cptr, Rights::ALL, None, data)
    }

    /// The right to give new address spaces an ASID from `pool` (for a process manager).
    /// The pool is shared with whoever else holds it; each address space uses one of its
    /// 1,024 ASIDs.
    pub fn asid_pool(name: &'a str, pool: &AsidPool) -> Self {
        Self::cap(name, CapKind::AsidPool, pool.cptr(), Rights::ALL, None, 0)
    }

    /// A shared region.
    pub fn region(name: &'a str, region: &'a SharedRegion, writable: bool) -> Self {
        Grant { name, slot: None, what: Granted::Region { region, writable, ring: None, paddr: 0 } }
    }

    /// A shared region holding a ring of `slots` items of `item_size` bytes (the
    /// component's ring code checks its item type against it).
    pub fn ring(name: &'a str, region: &'a SharedRegion, slots: u32, item_size: u32) -> Self {
        let what = Granted::Region { region, writable: true, ring: Some((slots, item_size)), paddr: 0 };
        Grant { name, slot: None, what }
    }

    /// Physically contiguous RAM starting at `paddr` (from `SharedRegion::contiguous`),
    /// for a component's DMA pool: the component learns the physical address.
    pub fn dma(name: &'a str, region: &'a SharedRegion, paddr: u64) -> Self {
        Grant { name, slot: None, what: Granted::Region { region, writable: true, ring: None, paddr } }
    }

    /// Device memory: physically consecutive device frames, mapped uncached.
    pub fn device_memory(name: &'a str, frames: &'a [Frame<Small, Device>]) -> Self {
        Grant { name, slot: None, what: Granted::DeviceMemory { frames } }
    }

    /// Puts `tag` in the upper half of a capability grant's data word, where the
    /// component can read it (`Component::grants()`); KaaL puts a PCI device's vendor and
    /// device IDs there, so a driver can check it got the device it drives.
    pub fn tagged(mut self, tag: u32) -> Self {
        if let Granted::Cap { data, .. } = &mut self.what {
            *data = (*data & 0xffff_ffff) | (tag as u64) << 32;
        }
        self
    }

    /// Places a capability grant in `slot` of the component's CNode (between
    /// [`slots::FIRST_GRANT`] and [`slots::FIRST_FREE`]) rather than the next one.
    pub fn at_slot(mut self, slot: u64) -> Self {
        self.slot = Some(slot);
        self
    }

    /// The name the component asks for.
    pub fn name(&self) -> &'a str {
        self.name
    }
}
/// Where a new component's grants go: its CNode (resolved with `depth` bits) and its
/// address space.
pub(super) struct Target<'t> {
    pub name: &'static str,
    pub cnode: &'t CNode,
    pub depth: u8,
    pub cnode_bits: u8,
    pub vspace: &'t mut VSpace,
}

/// Places `grants` into the component `to`: capabilities into CNode slots, regions
/// into its address space; records each in `block`.
pub(super) fn place(
    grants: &[Grant<'_>],
    to: Target<'_>,
    block: &mut StartupBlock,
    alloc: &mut impl ObjectAllocator,
) -> Result<()> {
    let Target { name, cnode, depth, cnode_bits, vspace } = to;
    let mut used_slots: u128 = 0;
    let mut next_slot = slots::FIRST_GRANT;
    let mut next_region = startup::REGIONS_BASE;
    let bad_grant = |why| Error::BadGrant { component: name, why };
    for grant in grants {
        match &grant.what {
            Granted::Cap { kind, cptr, rights, badge, data } => {
                let slot = match grant.slot {
                    Some(slot) => slot,
                    None => {
                        while next_slot < slots::FIRST_FREE && used_slots & (1 << next_slot) != 0 {
                            next_slot += 1;
                        }
                        next_slot
                    }
                };
                if !(slots::FIRST_GRANT..slots::FIRST_FREE).contains(&slot) || slot >= 1 << cnode_bits {
                    return Err(Error::InvalidSize {
                        what: "granted capability slot",
                        value: slot,
                        limit: slots::FIRST_FREE.min(1 << cnode_bits) - 1,
                    });
                }
                if used_slots & (1 << slot) != 0 {
                    return Err(bad_grant(startup::StartupError::SlotTaken));
                }
                used_slots |= 1 << slot;
                copy_into(cnode, slot, depth, *cptr, *rights, badge.map(Badge::cap_data))?;
                block.add_cap(grant.name, slot, *kind, *data).map_err(bad_grant)?;
            }
            Granted::Region { region, writable, ring, paddr } => {
                for i in 0..region.frame_count() {
                    let copy = region.copy_frame(i, alloc.cspace())?;
                    let at = next_region + (i * PAGE_SIZE) as u64;
                    if *writable {
                        copy.map(vspace, at, ReadWrite, alloc)?.leak();
                    } else {
                        copy.map(vspace, at, ReadOnly, alloc)?.leak();
                    }
                }
                let (ring_slots, ring_item_size) = ring.unwrap_or((0, 0));
                let size = region.size() as u64;
                check_region_room(next_region, size)?;
                let info = RegionInfo {
                    vaddr: next_region,
                    size,
                    writable: *writable,
                    paddr: *paddr,
                    ring_slots,
                    ring_item_size,
                    ..Default::default()
                };
                block.add_region(grant.name, info).map_err(bad_grant)?;
                next_region = startup::next_region(next_region, size);
            }
            Granted::DeviceMemory { frames } => {
                let paddr = frames.first().map_or(0, Frame::paddr);
                check_region_room(next_region, (frames.len() * PAGE_SIZE) as u64)?;
                for (i, frame) in frames.iter().enumerate() {
                    let at = (i * PAGE_SIZE) as u64;
                    if frame.paddr() != paddr + at {
                        return Err(Error::BadAddress {
                            vaddr: frame.paddr(),
                            why: "device memory frames must be physically consecutive",
                        });
                    }
                    let copy = frame.copy(alloc.cspace())?;
                    copy.map_with(vspace, next_region + at, ReadWrite, CacheAttr::CacheDisabled, alloc)?.leak();
                }
                let size = (frames.len() * PAGE_SIZE) as u64;
                let info = RegionInfo {
                    vaddr: next_region,
                    size,
                    writable: true,
                    paddr,
                    uncached: true,
                    ..Default::default()
                };
                block.add_region(grant.name, info).map_err(bad_grant)?;
                next_region = startup::next_region(next_region, size);
            }
        }
    }
    Ok(())
}

/// Checks that a region of `size` bytes at `vaddr` ends below the start-up block.
pub(super) fn check_region_room(vaddr: u64, size: u64) -> Result<()> {
    if vaddr.checked_add(size).is_none_or(|end| end > startup::STARTUP_BLOCK_VADDR) {
        return Err(Error::InvalidSize {
            what: "granted regions (bytes of address space)",
            value: vaddr + size - startup::REGIONS_BASE,
            limit: startup::STARTUP_BLOCK_VADDR - startup::REGIONS_BASE,
        });
    }
    Ok(())
}

/// The `seL4_CapData_t` guard that makes a CNode of `bits` slots resolve a full word
/// (seL4 5.0.0's tagged capability data).
#[cfg(kaal_sel4 = "5")]
pub(crate) fn guard_data(bits: u8) -> u64 {
    let guard_size = sys::seL4_WordBits - bits as u64;
    (sys::seL4_CapData_Guard << sys::Guard_CapDataType_SHIFT) | (guard_size << sys::Guard_GuardSize_SHIFT)
}

/// The guard that makes a CNode of `bits` slots resolve a full word (seL4 16.0.0's
/// `seL4_CNode_CapData`: a guard of zeros, `64 - bits` long).
#[cfg(kaal_sel4 = "16")]
pub(crate) fn guard_data(bits: u8) -> u64 {
    let guard_size = sys::seL4_WordBits - bits as u64;
    guard_size << sys::seL4_CNode_CapData_guardSize_SHIFT
}

/// Copies (or mints, with `data`) the capability in root slot `src` into `slot` of
/// `cnode`.
pub(super) fn copy_into(
    cnode: &CNode,
    slot: u64,
    depth: u8,
    src: CPtr,
    rights: Rights,
    data: Option<u64>,
) -> Result<()> {
    // SAFETY: placing capabilities in a component's CNode; no memory of ours changes.
    let err = unsafe {
        match data {
            None => sys::seL4_CNode_Copy(
                cnode.cptr(),
                slot,
                depth,
                sys::seL4_CapInitThreadCNode,
                src,
                sys::seL4_WordBits as u8,
                rights.word(),
            ),
            Some(data) => sys::seL4_CNode_Mint(
                cnode.cptr(),
                slot,
                depth,
                sys::seL4_CapInitThreadCNode,
                src,
                sys::seL4_WordBits as u8,
                rights.word(),
                data,
            ),
        }
    };
    Error::check(err, if data.is_some() { "seL4_CNode_Mint" } else { "seL4_CNode_Copy" })
}
