//! Components: isolated processes built from typed handles, and their supervisor.
//!
//! A component has its own address space (a PML4 with paging structures made on
//! demand), its own CNode, a TCB, an IPC buffer, a stack with an unmapped guard page, a
//! heap, and exactly the capabilities and memory regions it is [`Grant`]ed. Its program
//! is an ELF image embedded in the root task (the kernel loads only one boot module);
//! `kaal build` builds the component crates and [`crate::component_image!`] embeds them.
//!
//! The [`Supervisor`] owns an endpoint on which every component's faults arrive (each
//! component's copy carries its own badge) and on which components report their exit.
//! A VM fault, an unknown syscall, a failed capability lookup or a CPU exception stops
//! only the faulting component; the supervisor prints its name, the fault, the address
//! and the instruction pointer, and the rest of the system keeps running.
//!
//! What a component sees (slots, addresses, the start-up block) is defined in
//! [`kaal_abi::startup`].

use core::fmt;

use kaal_abi::exit::ExitStatus;
use kaal_abi::startup::{self, labels, slots, CapKind, RegionInfo, StartupBlock};
use typed_builder::TypedBuilder;

use crate::cap::{cap_type, AsidPool, Badge, CNode, CPtr, Cap, Endpoint, IrqHandler, Notification, Rights, Tcb};
use crate::device::{InterruptLine, IoPortRange};
use crate::error::{Error, Result};
use crate::ipc::{Client, Server};
use crate::println;
use crate::shared::SharedRegion;
use crate::sys;
use crate::vspace::{CacheAttr, Frame, Large, ObjectAllocator, PageSize, VSpace, PAGE_SIZE};

// KaaL's supervisor labels fit the kernel's label field (width generated from the .bf).
const _: () = assert!(labels::LABEL_BITS == sys::seL4_MessageInfo_label_WIDTH);

/// An ELF image aligned for parsing in place. Made by [`crate::component_image!`].
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct AlignedImage<const N: usize>(pub [u8; N]);

/// Embeds the ELF image of the component crate `$package`, which `kaal build` built and
/// named in `KAAL_COMPONENT_<package>`. Evaluates to a `&'static [u8]`.
#[macro_export]
macro_rules! component_image {
    ($package:literal) => {{
        const BYTES: &[u8] = include_bytes!(env!(concat!("KAAL_COMPONENT_", $package)));
        static IMAGE: $crate::process::AlignedImage<{ BYTES.len() }> =
            $crate::process::AlignedImage(*include_bytes!(env!(concat!("KAAL_COMPONENT_", $package))));
        &IMAGE.0 as &'static [u8]
    }};
}

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
    DeviceMemory { frames: &'a [Frame] },
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

    /// An IRQ handler (the component learns its line).
    pub fn irq_handler(name: &'a str, handler: &IrqHandler, line: InterruptLine) -> Self {
        Self::cap(name, CapKind::IrqHandler, handler.cptr(), Rights::ALL, None, line.to_word())
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
    pub fn device_memory(name: &'a str, frames: &'a [Frame]) -> Self {
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

/// How to build a component.
#[derive(Debug, TypedBuilder)]
pub struct ProcessConfig<'a> {
    /// Name: shown in faults and panics, and how the component refers to itself.
    pub name: &'static str,
    /// The ELF image (see [`crate::component_image!`]).
    pub image: &'a [u8],
    /// seL4 priority; at most the root task's.
    #[builder(default = 100)]
    pub priority: u8,
    /// Main stack, bytes.
    #[builder(default = 64 * 1024)]
    pub stack_size: usize,
    /// Heap, bytes (2 MiB frames when a multiple of 2 MiB, else 4 KiB frames).
    #[builder(default = 256 * 1024)]
    pub heap_size: usize,
    /// log2 of the number of slots in the component's CNode.
    #[builder(default = 8)]
    pub cnode_bits: u8,
    /// What the component is given.
    #[builder(default)]
    pub grants: &'a [Grant<'a>],
}

/// A fault the kernel reported for a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A page fault: `addr` is the faulting address, `ip` the instruction. (seL4 5.0
    /// on x86 reports only the low 32 bits of `addr`; components live below 4 GiB, see
    /// [`kaal_abi::startup`], so for them it is exact.)
    VmFault { ip: u64, addr: u64, instruction: bool, write: bool, present: bool },
    /// A capability lookup failed during a syscall (`addr` is the capability pointer).
    CapFault { ip: u64, addr: u64, in_receive: bool },
    /// An unknown syscall number.
    UnknownSyscall { ip: u64, sp: u64, number: u64 },
    /// A CPU exception (divide error, invalid opcode, general protection, ...).
    UserException { ip: u64, sp: u64, number: u64, code: u64 },
}

impl Fault {
    /// Decodes a fault message (label = the fault type), if it is one.
    pub fn decode(label: u64, word: impl Fn(usize) -> u64) -> Option<Fault> {
        let w = |i: u64| word(i as usize);
        Some(match label {
            sys::seL4_Fault_VMFault => {
                let fsr = w(sys::seL4_VMFault_FSR);
                Fault::VmFault {
                    ip: w(sys::seL4_VMFault_IP),
                    addr: w(sys::seL4_VMFault_Addr),
                    instruction: w(sys::seL4_VMFault_PrefetchFault) != 0,
                    // x86 page-fault error code: bit 0 present, bit 1 write.
                    write: fsr & 2 != 0,
                    present: fsr & 1 != 0,
                }
            }
            sys::seL4_Fault_CapFault => Fault::CapFault {
                ip: w(sys::seL4_CapFault_IP),
                addr: w(sys::seL4_CapFault_Addr),
                in_receive: w(sys::seL4_CapFault_InRecvPhase) != 0,
            },
            sys::seL4_Fault_UnknownSyscall => Fault::UnknownSyscall {
                ip: w(sys::seL4_UnknownSyscall_FaultIP),
                sp: w(sys::seL4_UnknownSyscall_SP),
                number: w(sys::seL4_UnknownSyscall_Syscall),
            },
            sys::seL4_Fault_UserException => Fault::UserException {
                ip: w(sys::seL4_UserException_FaultIP),
                sp: w(sys::seL4_UserException_SP),
                number: w(sys::seL4_UserException_Number),
                code: w(sys::seL4_UserException_Code),
            },
            _ => return None,
        })
    }

    /// The faulting instruction.
    pub fn ip(&self) -> u64 {
        match *self {
            Fault::VmFault { ip, .. }
            | Fault::CapFault { ip, .. }
            | Fault::UnknownSyscall { ip, .. }
            | Fault::UserException { ip, .. } => ip,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::VmFault { ip, addr, instruction, write, present } => write!(
                f,
                "VM fault ({} {}) at address {addr:#x}, ip {ip:#x}",
                if instruction {
                    "instruction fetch"
                } else if write {
                    "write"
                } else {
                    "read"
                },
                if present { "of a protected page" } else { "of an unmapped page" },
            ),
            Fault::CapFault { ip, addr, in_receive } => write!(
                f,
                "capability fault: lookup of capability {addr:#x} failed in the {} phase, ip {ip:#x}",
                if in_receive { "receive" } else { "send" }
            ),
            Fault::UnknownSyscall { ip, number, .. } => {
                write!(f, "unknown syscall {} at ip {ip:#x}", number as i64)
            }
            Fault::UserException { ip, number, code, .. } => {
                write!(f, "CPU exception {number} (error code {code:#x}) at ip {ip:#x}")
            }
        }
    }
}

/// Where a component stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentState {
    Running,
    Exited(ExitStatus),
    Faulted(Fault),
}

/// Something the supervisor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A component reported its exit status.
    Exited { component: &'static str, status: ExitStatus },
    /// A component faulted and was stopped.
    Faulted { component: &'static str, fault: Fault },
    /// A message the supervisor does not understand (ignored).
    Unexpected { component: Option<&'static str>, label: u64 },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Exited { component, status } => {
                write!(f, "component '{component}' exited: {} ({status:?})", status.describe())
            }
            Event::Faulted { component, fault } => {
                write!(f, "component '{component}' faulted: {fault}; it was stopped")
            }
            Event::Unexpected { component: Some(c), label } => {
                write!(f, "component '{c}' sent an unknown message (label {label:#x}) to the supervisor; ignored")
            }
            Event::Unexpected { component: None, label } => {
                write!(f, "an unknown sender sent a message (label {label:#x}) to the supervisor; ignored")
            }
        }
    }
}

/// Most components one supervisor runs.
pub const MAX_COMPONENTS: usize = 64;

struct Component {
    name: &'static str,
    tcb: Tcb,
    state: ComponentState,
    // Kept for the component's lifetime: its address space and CNode. Its frames stay
    // mapped in that address space; their capabilities stay in the root CNode.
    _vspace: VSpace,
    _cnode: CNode,
}

/// Builds components and handles their faults and exits.
pub struct Supervisor {
    endpoint: Endpoint,
    asid_pool: AsidPool,
    /// A handle on the root task's own address space, for staging page contents.
    scratch: VSpace,
    scratch_vaddr: u64,
    components: heapless::Vec<Component, MAX_COMPONENTS>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Supervisor({} components)", self.components.len())
    }
}

/// Page-aligned range check for a loadable segment.
fn segment_error(name: &'static str, why: &'static str) -> Error {
    Error::BadImage { component: name, why }
}

/// Validates what xmas-elf would otherwise assert on, so a corrupt image is an error.
fn check_elf_layout(name: &'static str, image: &[u8]) -> Result<()> {
    let bad = |why| Err(segment_error(name, why));
    if image.starts_with(b"KAAL-PLACEHOLDER") {
        return bad("the root task was built without `cargo kaal build`, so this component is a placeholder");
    }
    if image.len() < 64 || &image[..4] != b"\x7fELF" {
        return bad("not an ELF file");
    }
    if image[4] != 2 || image[5] != 1 {
        return bad("not a 64-bit little-endian ELF file");
    }
    if u16::from_le_bytes([image[18], image[19]]) != 0x3e {
        return bad("not an x86_64 ELF file");
    }
    if !(image.as_ptr() as usize).is_multiple_of(8) {
        return bad("image is not 8-byte aligned in memory; embed it with kaal_core::component_image!");
    }
    let ph_offset = u64::from_le_bytes(image[32..40].try_into().unwrap_or([0xff; 8]));
    let ph_entry = u16::from_le_bytes([image[54], image[55]]) as u64;
    let ph_count = u16::from_le_bytes([image[56], image[57]]) as u64;
    if ph_entry != 56 || ph_offset % 8 != 0 {
        return bad("unexpected program header layout");
    }
    if ph_offset.checked_add(ph_entry * ph_count).is_none_or(|end| end > image.len() as u64) {
        return bad("program headers run past the end of the file");
    }
    Ok(())
}

impl Supervisor {
    /// Where the supervisor stages page contents in the root task's address space.
    const SCRATCH_VADDR: u64 = 0x0000_5f00_0000_0000;

    /// A supervisor with its own endpoint. `root_vspace` is a handle on the root task's
    /// address space (see [`VSpace::try_clone`]).
    pub fn new(alloc: &mut impl ObjectAllocator, asid_pool: AsidPool, root_vspace: VSpace) -> Result<Self> {
        let endpoint = alloc.allocate::<Endpoint>()?;
        Ok(Self {
            endpoint,
            asid_pool,
            scratch: root_vspace,
            scratch_vaddr: Self::SCRATCH_VADDR,
            components: heapless::Vec::new(),
        })
    }

    /// Copies `data` into a new frame and returns it unmapped.
    fn staged_frame(&mut self, alloc: &mut impl ObjectAllocator, data: &[u8]) -> Result<Frame> {
        let frame: Frame = alloc.allocate()?;
        let mut mapped = frame.map(&mut self.scratch, self.scratch_vaddr, Rights::READ_WRITE, alloc)?;
        let bytes = mapped.as_bytes_mut()?;
        bytes[..data.len()].copy_from_slice(data);
        bytes[data.len()..].fill(0);
        Ok(mapped.unmap())
    }

    /// Builds and starts a component; returns what it was told at start-up (its grants,
    /// by name, slot and address). On failure the objects made so far stay allocated
    /// (they are not reachable by anyone), and the error says what went wrong.
    pub fn spawn(&mut self, alloc: &mut impl ObjectAllocator, config: ProcessConfig<'_>) -> Result<StartupBlock> {
        let name = config.name;
        check_elf_layout(name, config.image)?;
        let elf = xmas_elf::ElfFile::new(config.image).map_err(|why| segment_error(name, why))?;
        if !(4..=12).contains(&config.cnode_bits) {
            return Err(Error::InvalidSize {
                what: "component CNode bits",
                value: config.cnode_bits as u64,
                limit: 12,
            });
        }
        if config.heap_size as u64 > startup::MAX_HEAP {
            return Err(Error::InvalidSize {
                what: "component heap (bytes)",
                value: config.heap_size as u64,
                limit: startup::MAX_HEAP,
            });
        }
        if config.stack_size as u64 > startup::MAX_STACK {
            return Err(Error::InvalidSize {
                what: "component stack (bytes)",
                value: config.stack_size as u64,
                limit: startup::MAX_STACK,
            });
        }
        if self.components.len() as u64 >= Badge::MAX {
            return Err(Error::InvalidSize {
                what: "components",
                value: self.components.len() as u64,
                limit: Badge::MAX,
            });
        }
        let badge = Badge::new(self.components.len() as u64 + 1).expect("bounded above");

        // Address space and CNode.
        let pml4 = alloc.allocate::<Cap<cap_type::Pml4>>()?;
        let mut vspace = VSpace::new(pml4, &self.asid_pool)?;
        let cnode = alloc.allocate_cnode(config.cnode_bits as u32)?;
        let tcb: Tcb = alloc.allocate()?;

        // Program segments.
        for ph in elf.program_iter() {
            if ph.get_type() != Ok(xmas_elf::program::Type::Load) {
                continue;
            }
            let (vaddr, mem, file, offset) = (ph.virtual_addr(), ph.mem_size(), ph.file_size(), ph.offset());
            if vaddr % PAGE_SIZE as u64 != 0 {
                return Err(segment_error(
                    name,
                    "a segment is not page aligned; link components with kaal_build::link",
                ));
            }
            if file > mem || offset.checked_add(file).is_none_or(|e| e > config.image.len() as u64) {
                return Err(segment_error(name, "a segment's file data runs past the end of the file"));
            }
            if vaddr.checked_add(mem).is_none_or(|e| e > startup::HEAP_BASE) {
                return Err(segment_error(name, "a segment lies outside the program area"));
            }
            let rights = if ph.flags().is_write() { Rights::READ_WRITE } else { Rights::READ };
            let data = &config.image[offset as usize..(offset + file) as usize];
            let mut page = 0;
            while page < mem {
                let from = (page as usize).min(data.len());
                let to = (page as usize + PAGE_SIZE).min(data.len());
                let frame = self.staged_frame(alloc, &data[from..to])?;
                frame.map(&mut vspace, vaddr + page, rights, alloc)?.leak();
                page += PAGE_SIZE as u64;
            }
        }

        // Stack (with an unmapped page below it), IPC buffer, heap. The kernel zeroes
        // RAM frames when it creates them, so these need no staging.
        let stack_pages = config.stack_size.div_ceil(PAGE_SIZE).max(1) as u64;
        for i in 0..stack_pages {
            let frame: Frame = alloc.allocate()?;
            let vaddr = startup::STACK_TOP - (i + 1) * PAGE_SIZE as u64;
            frame.map(&mut vspace, vaddr, Rights::READ_WRITE, alloc)?.leak();
        }
        let ipc: Frame = alloc.allocate()?;
        let ipc = ipc.map(&mut vspace, startup::IPC_BUFFER_VADDR, Rights::READ_WRITE, alloc)?;
        let ipc_cptr = ipc.cptr();
        ipc.leak();
        let heap_size = config.heap_size as u64;
        if heap_size > 0 && heap_size.is_multiple_of(Large::BYTES as u64) {
            for i in 0..heap_size / Large::BYTES as u64 {
                let frame: Frame<Large> = alloc.allocate()?;
                let vaddr = startup::HEAP_BASE + i * Large::BYTES as u64;
                frame.map(&mut vspace, vaddr, Rights::READ_WRITE, alloc)?.leak();
            }
        } else {
            for i in 0..heap_size.div_ceil(PAGE_SIZE as u64) {
                let frame: Frame = alloc.allocate()?;
                let vaddr = startup::HEAP_BASE + i * PAGE_SIZE as u64;
                frame.map(&mut vspace, vaddr, Rights::READ_WRITE, alloc)?.leak();
            }
        }

        // Capabilities: its own TCB and CNode, the supervisor endpoint, then the grants.
        let mut block = StartupBlock::new(name).map_err(|e| Error::BadGrant { component: name, why: e })?;
        block.cnode_bits = config.cnode_bits as u64;
        block.heap_base = startup::HEAP_BASE;
        block.heap_size = heap_size;
        block.stack_top = startup::STACK_TOP;
        block.stack_size = stack_pages * PAGE_SIZE as u64;
        block.ipc_buffer = startup::IPC_BUFFER_VADDR;
        let guard = guard_data(config.cnode_bits);
        let depth = config.cnode_bits;
        copy_into(&cnode, slots::TCB, depth, tcb.cptr(), Rights::ALL, None)?;
        copy_into(&cnode, slots::CNODE, depth, cnode.cptr(), Rights::ALL, Some(guard))?;
        copy_into(
            &cnode,
            slots::SUPERVISOR,
            depth,
            self.endpoint.cptr(),
            Rights { read: false, write: true, grant: true },
            Some(badge.cap_data()),
        )?;
        let mut used_slots: u128 = 0;
        let mut next_slot = slots::FIRST_GRANT;
        let mut next_region = startup::REGIONS_BASE;
        let bad_grant = |why| Error::BadGrant { component: name, why };
        for grant in config.grants {
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
                    if !(slots::FIRST_GRANT..slots::FIRST_FREE).contains(&slot) || slot >= 1 << config.cnode_bits {
                        return Err(Error::InvalidSize {
                            what: "granted capability slot",
                            value: slot,
                            limit: slots::FIRST_FREE.min(1 << config.cnode_bits) - 1,
                        });
                    }
                    if used_slots & (1 << slot) != 0 {
                        return Err(bad_grant(startup::StartupError::SlotTaken));
                    }
                    used_slots |= 1 << slot;
                    copy_into(&cnode, slot, depth, *cptr, *rights, badge.map(Badge::cap_data))?;
                    block.add_cap(grant.name, slot, *kind, *data).map_err(bad_grant)?;
                }
                Granted::Region { region, writable, ring, paddr } => {
                    let rights = if *writable { Rights::READ_WRITE } else { Rights::READ };
                    for (i, frame) in region.frames().iter().enumerate() {
                        // SAFETY: a temporary handle on the region's frame capability, only
                        // copied from; the region keeps owning it.
                        let original = unsafe { Cap::<cap_type::Page>::from_cptr(*frame) };
                        let copy = alloc.cspace().copy(&original, Rights::ALL);
                        let _ = original.into_cptr();
                        // SAFETY: a fresh copy of a frame capability, not mapped anywhere yet.
                        let copy = unsafe { Frame::<crate::vspace::Small>::from_cap(copy?)? };
                        copy.map(&mut vspace, next_region + (i * PAGE_SIZE) as u64, rights, alloc)?.leak();
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
                        copy.map_with(
                            &mut vspace,
                            next_region + at,
                            Rights::READ_WRITE,
                            CacheAttr::CacheDisabled,
                            alloc,
                        )?
                        .leak();
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

        // The start-up block, read-only.
        let mut page = [0u8; startup::ENCODED_LEN];
        block.encode(&mut page).map_err(|why| Error::BadGrant { component: name, why })?;
        let frame = self.staged_frame(alloc, &page)?;
        frame.map(&mut vspace, startup::STARTUP_BLOCK_VADDR, Rights::READ, alloc)?.leak();

        // The thread.
        let prio = (config.priority as u64) << sys::seL4_PrioProps_prio_SHIFT;
        let regs =
            sys::seL4_UserContext { rip: elf.header.pt2.entry_point(), rsp: startup::STACK_TOP, ..Default::default() };
        // SAFETY: configuring and starting a thread in a new address space; nothing of
        // the root task's memory is involved.
        unsafe {
            Error::check(
                sys::seL4_TCB_Configure(
                    tcb.cptr(),
                    slots::SUPERVISOR,
                    prio,
                    cnode.cptr(),
                    guard,
                    vspace.cptr(),
                    0,
                    startup::IPC_BUFFER_VADDR,
                    ipc_cptr,
                ),
                "seL4_TCB_Configure",
            )?;
            let count = core::mem::size_of::<sys::seL4_UserContext>() as u64 / 8;
            Error::check(sys::seL4_TCB_WriteRegisters(tcb.cptr(), false, 0, count, &regs), "seL4_TCB_WriteRegisters")?;
            sys::debug_name_thread(tcb.cptr(), name);
            Error::check(sys::seL4_TCB_Resume(tcb.cptr()), "seL4_TCB_Resume")?;
        }
        let component = Component { name, tcb, state: ComponentState::Running, _vspace: vspace, _cnode: cnode };
        // Capacity was checked before anything was built.
        let _ = self.components.push(component);
        Ok(block)
    }

    /// Components still running.
    pub fn running(&self) -> usize {
        self.components.iter().filter(|c| c.state == ComponentState::Running).count()
    }

    /// The state of every component, by name.
    pub fn states(&self) -> impl Iterator<Item = (&'static str, ComponentState)> + '_ {
        self.components.iter().map(|c| (c.name, c.state))
    }

    /// Waits for the next fault, exit or stray message.
    pub fn next_event(&mut self) -> Event {
        let received = self.endpoint.recv();
        let index = received.badge.checked_sub(1).map(|i| i as usize);
        let component = index.and_then(|i| self.components.get_mut(i));
        let label = received.msg.label();
        let Some(component) = component else {
            return Event::Unexpected { component: None, label };
        };
        if label == labels::EXIT {
            let status = ExitStatus::from_qemu_status(((received.msg.word(0) as i32) << 1) | 1)
                .unwrap_or(ExitStatus::Failure(kaal_abi::exit::MAX_FAILURE_CODE));
            component.state = ComponentState::Exited(status);
            return Event::Exited { component: component.name, status };
        }
        match Fault::decode(label, |i| received.msg.word(i)) {
            Some(fault) => {
                // SAFETY: stopping a component's thread; the root task's memory is not
                // involved. It is never replied to, so it stays stopped.
                unsafe { sys::seL4_TCB_Suspend(component.tcb.cptr()) };
                component.state = ComponentState::Faulted(fault);
                Event::Faulted { component: component.name, fault }
            }
            None => Event::Unexpected { component: Some(component.name), label },
        }
    }

    /// Handles events, printing each, until no component is running.
    pub fn run(&mut self) -> SupervisorReport {
        self.run_while(|_| true)
    }

    /// Handles events, printing each, while a component is running and `keep_going`
    /// says so; then reports how the components stand.
    pub fn run_while(&mut self, mut keep_going: impl FnMut(&Self) -> bool) -> SupervisorReport {
        while self.running() > 0 && keep_going(self) {
            let event = self.next_event();
            println!("[supervisor] {event}");
        }
        let mut report = SupervisorReport::default();
        for (_, state) in self.states() {
            match state {
                ComponentState::Exited(ExitStatus::Success) => report.succeeded += 1,
                ComponentState::Exited(_) => report.failed += 1,
                ComponentState::Faulted(_) => report.faulted += 1,
                ComponentState::Running => report.running += 1,
            }
        }
        report
    }
}

/// How the components ended (or stand, after [`Supervisor::run_while`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupervisorReport {
    pub succeeded: usize,
    pub failed: usize,
    pub faulted: usize,
    /// Still running (daemons, when the caller stopped waiting for them).
    pub running: usize,
}

/// Checks that a region of `size` bytes at `vaddr` ends below the start-up block.
fn check_region_room(vaddr: u64, size: u64) -> Result<()> {
    if vaddr.checked_add(size).is_none_or(|end| end > startup::STARTUP_BLOCK_VADDR) {
        return Err(Error::InvalidSize {
            what: "granted regions (bytes of address space)",
            value: vaddr + size - startup::REGIONS_BASE,
            limit: startup::STARTUP_BLOCK_VADDR - startup::REGIONS_BASE,
        });
    }
    Ok(())
}

/// The `seL4_CapData_t` guard that makes a CNode of `bits` slots resolve a full word.
fn guard_data(bits: u8) -> u64 {
    let guard_size = sys::seL4_WordBits - bits as u64;
    (sys::seL4_CapData_Guard << sys::Guard_CapDataType_SHIFT) | (guard_size << sys::Guard_GuardSize_SHIFT)
}

/// Copies (or mints, with `data`) the capability in root slot `src` into `slot` of
/// `cnode`.
fn copy_into(cnode: &CNode, slot: u64, depth: u8, src: CPtr, rights: Rights, data: Option<u64>) -> Result<()> {
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
