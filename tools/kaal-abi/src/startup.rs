//! The start-up block: how a component learns what it was given.
//!
//! The root task builds each component's address space and CSpace, then writes one page
//! at [`STARTUP_BLOCK_VADDR`] in the component's address space describing it: its name,
//! where its heap and stack are, and every capability and memory region it was granted,
//! by name. The component's runtime decodes it and hands `main` a typed view, so a
//! component asks for `"logger"` rather than slot 7.
//!
//! The block is plain little-endian bytes with a magic number and a version, encoded and
//! decoded here, so both sides agree by construction and a corrupt block is an error
//! rather than undefined behaviour.

// A component's address space, all of it below 4 GiB. seL4 5.0's x86 VM-fault handler
// keeps the fault address in a 32-bit variable, so a fault above 4 GiB would be reported
// with its address cut to the low 32 bits; below 4 GiB every reported address is exact.
//
//   0x0040_0000  program (ELF segments), up to HEAP_BASE
//   0x4000_0000  heap (at most 1 GiB)
//   0x8000_0000  granted regions, one after another (up to STARTUP_BLOCK_VADDR)
//   0xe000_0000  start-up block, then the IPC buffer, then the log ring
//   0xf000_0000  top of the main stack (it grows down towards the IPC buffer)

/// Where the component's heap is mapped; ELF segments must end below it.
pub const HEAP_BASE: u64 = 0x4000_0000;
/// Where granted shared-memory regions are mapped, one after another.
pub const REGIONS_BASE: u64 = 0x8000_0000;
/// Where the start-up block is mapped (read-only) in every component; granted regions
/// must end below it.
pub const STARTUP_BLOCK_VADDR: u64 = 0xe000_0000;
/// Where the component's main thread's IPC buffer is mapped.
pub const IPC_BUFFER_VADDR: u64 = 0xe000_1000;
/// Where the component's log ring is mapped, shared with the supervisor's log thread,
/// which drains the defmt frames the component writes into it.
pub const LOG_RING_VADDR: u64 = 0xe000_2000;
/// The log ring's size: room for about a thousand short frames before the log thread
/// (at the lowest priority) gets to run; beyond that, frames are dropped and counted.
pub const LOG_RING_SIZE: u64 = 16 * 1024;
/// The top of the component's main stack (it grows down; the page below its bottom is
/// never mapped, so an overflow faults).
pub const STACK_TOP: u64 = 0xf000_0000;
/// Where a manager component (one that builds processes) maps its view of its
/// processes' pages: from 4 GiB up, where the supervisor maps nothing.
pub const MANAGER_WINDOW: u64 = 0x1_0000_0000;
/// The largest heap a component can have.
pub const MAX_HEAP: u64 = REGIONS_BASE - HEAP_BASE;
/// The largest main stack a component can have (leaving a guard page above the log
/// ring).
pub const MAX_STACK: u64 = STACK_TOP - LOG_RING_VADDR - LOG_RING_SIZE - 4096;

/// Where the region after one of `size` bytes mapped at `vaddr` goes: regions start on
/// 2 MiB boundaries with at least 2 MiB unmapped between them, so running off the end of
/// one faults instead of reaching the next.
pub const fn next_region(vaddr: u64, size: u64) -> u64 {
    const STRIDE: u64 = 1 << 21;
    vaddr + size.div_ceil(STRIDE) * STRIDE + STRIDE
}

/// Well-known slots in every component's CNode.
pub mod slots {
    /// The component's own TCB (to suspend itself on exit).
    pub const TCB: u64 = 1;
    /// The component's own CNode (the receive path for capability transfers).
    pub const CNODE: u64 = 2;
    /// A badged endpoint to the supervisor: faults arrive there, and the component
    /// reports its exit status there.
    pub const SUPERVISOR: u64 = 3;
    /// The notification the component's heap lock sleeps on (`kaal_core::sync::Lock`).
    pub const HEAP_LOCK: u64 = 4;
    /// A badged endpoint to the supervisor's console thread, which writes what the
    /// component prints, a whole line at a time (on a release kernel, which has no
    /// debug console, to the serial port; on a debug kernel, through the kernel).
    pub const CONSOLE: u64 = 5;
    /// A badged copy of the notification bound to the supervisor's console thread: the
    /// component signals it when it wrote to its log ring while the thread slept.
    pub const LOG_SIGNAL: u64 = 6;
    /// seL4 MCS: the reply object the component receives with (empty on other
    /// kernels, whose threads have a reply capability built in).
    pub const REPLY: u64 = 7;
    /// The first slot of granted capabilities.
    pub const FIRST_GRANT: u64 = 8;
    /// The first slot free for the component's own use (received capabilities).
    pub const FIRST_FREE: u64 = 128;
}

/// [`StartupBlock::flags`] bits.
pub mod flags {
    /// seL4 MCS: the component is to become a passive server. Its first receive on an
    /// endpoint also tells the supervisor (label [`super::labels::PASSIVE_READY`]), in one
    /// syscall, so the supervisor takes its scheduling context away only once it waits
    /// for callers, whose contexts it then runs on.
    pub const PASSIVE: u32 = 1;
}

/// Message labels on the supervisor endpoint. seL4 fault messages use labels 1..=6 (the
/// fault type), so KaaL's own labels start far above them. Labels are 20 bits wide.
pub mod labels {
    /// "I am done": MR0 = the exit status byte (`ExitStatus::to_byte`).
    pub const EXIT: u64 = 0x4_b001;
    /// On the console endpoint: "print this". MR0 = the byte count, MR1.. = the bytes,
    /// little-endian, eight to a word.
    pub const CONSOLE_WRITE: u64 = 0x4_b002;
    /// seL4 MCS: "I wait for callers now; make me passive" (see [`super::flags::PASSIVE`]).
    pub const PASSIVE_READY: u64 = 0x4_b003;
    /// Every KaaL label fits in the 20-bit message-info label field.
    pub const LABEL_BITS: u32 = 20;
    const _: () = assert!(EXIT < 1 << LABEL_BITS && CONSOLE_WRITE < 1 << LABEL_BITS);
}

const MAGIC: u64 = 0x4b61_614c_5354_5254; // "KaaLSTRT"
const VERSION: u32 = 3;
/// Longest name of a component, capability or region, in bytes.
pub const NAME_LEN: usize = 32;
/// Most capabilities one component can be granted.
pub const MAX_CAPS: usize = 48;
/// Most regions one component can be granted.
pub const MAX_REGIONS: usize = 16;

const HEADER: usize = 8 + 4 + 4 + NAME_LEN + 8 * 7;
const CAP_ENTRY: usize = NAME_LEN + 8 + 4 + 4 + 8;
const REGION_ENTRY: usize = NAME_LEN + 8 + 8 + 8 + 4 + 4 + 4 + 4;
/// Bytes an encoded block takes at most (it fits in one 4 KiB page).
pub const ENCODED_LEN: usize = HEADER + MAX_CAPS * CAP_ENTRY + MAX_REGIONS * REGION_ENTRY;
const _: () = assert!(ENCODED_LEN <= 4096);

/// What kind of capability a granted slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CapKind {
    /// An endpoint to call a server through.
    EndpointClient = 1,
    /// An endpoint to serve requests on.
    EndpointServer = 2,
    /// A notification to signal.
    NotificationSignal = 3,
    /// A notification to wait on.
    NotificationWait = 4,
    /// An untyped memory budget.
    Untyped = 5,
    /// An IRQ handler.
    IrqHandler = 6,
    /// I/O port access.
    IoPort = 7,
    /// A frame.
    Frame = 8,
    /// An ASID pool: the right to give new address spaces an ASID (a process manager's).
    AsidPool = 9,
    /// The component's own address space (its PML4), for a process manager that maps
    /// its processes' pages into its own view of them.
    VSpace = 10,
}

impl CapKind {
    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::EndpointClient,
            2 => Self::EndpointServer,
            3 => Self::NotificationSignal,
            4 => Self::NotificationWait,
            5 => Self::Untyped,
            6 => Self::IrqHandler,
            7 => Self::IoPort,
            8 => Self::Frame,
            9 => Self::AsidPool,
            10 => Self::VSpace,
            _ => return None,
        })
    }

    /// Human-readable name.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::EndpointClient => "endpoint (client)",
            Self::EndpointServer => "endpoint (server)",
            Self::NotificationSignal => "notification (signal)",
            Self::NotificationWait => "notification (wait)",
            Self::Untyped => "untyped memory",
            Self::IrqHandler => "IRQ handler",
            Self::IoPort => "I/O ports",
            Self::Frame => "frame",
            Self::AsidPool => "ASID pool",
            Self::VSpace => "own address space",
        }
    }
}

/// A fixed-capacity name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_LEN],
    len: u8,
}

impl Name {
    /// A name, if it is 1..=32 bytes.
    pub fn new(s: &str) -> Result<Self, StartupError> {
        if s.is_empty() || s.len() > NAME_LEN {
            return Err(StartupError::BadName);
        }
        Ok(Self::truncated(s))
    }

    /// The first 32 bytes of `s` (cut at a character boundary), for messages.
    pub fn truncated(s: &str) -> Self {
        let mut len = s.len().min(NAME_LEN);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; NAME_LEN];
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        Self { bytes, len: len as u8 }
    }

    /// `first` followed by `second` (`"log"` and `":data"` make `"log:data"`), the names
    /// of a composite grant's parts; `None` if the two do not fit in one name.
    pub fn joined(first: &str, second: &str) -> Option<Self> {
        let len = first.len() + second.len();
        if first.is_empty() || len > NAME_LEN {
            return None;
        }
        let mut bytes = [0; NAME_LEN];
        bytes[..first.len()].copy_from_slice(first.as_bytes());
        bytes[first.len()..len].copy_from_slice(second.as_bytes());
        Some(Self { bytes, len: len as u8 })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("<invalid name>")
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A granted capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapEntry {
    pub name: Name,
    /// Slot in the component's CNode.
    pub slot: u64,
    pub kind: CapKind,
    /// What else the component needs to know about it: the badge of an endpoint or
    /// notification (0 if none); for I/O ports, the range as `first << 16 | last`; for an
    /// IRQ handler, its line as `gsi | level << 8 | active_low << 9`. For a device's ports
    /// and IRQ handler, the upper 32 bits hold its PCI `vendor << 16 | device` (0 if not
    /// on PCI).
    pub data: u64,
}

/// A granted memory region, mapped in the component's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegionInfo {
    pub vaddr: u64,
    pub size: u64,
    pub writable: bool,
    /// Physical address of the first byte, if the region is physically contiguous
    /// (device memory, DMA); 0 otherwise.
    pub paddr: u64,
    /// Mapped uncached (device registers).
    pub uncached: bool,
    /// For a ring: its slots and item size (0 otherwise).
    pub ring_slots: u32,
    pub ring_item_size: u32,
}

/// A granted memory region, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionEntry {
    pub name: Name,
    pub info: RegionInfo,
}

/// Everything a component is told at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupBlock {
    pub name: Name,
    /// Radix of the component's CNode (its CPtrs resolve with a full word via a guard).
    pub cnode_bits: u64,
    pub heap_base: u64,
    pub heap_size: u64,
    pub stack_top: u64,
    pub stack_size: u64,
    pub ipc_buffer: u64,
    /// The time-stamp counter's rate in Hz (0 if unknown), for the component's clock.
    pub tsc_hz: u64,
    /// [`flags`] bits.
    pub flags: u32,
    caps: [Option<CapEntry>; MAX_CAPS],
    regions: [Option<RegionEntry>; MAX_REGIONS],
}

/// Why a start-up block could not be built or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupError {
    /// Names must be 1..=32 bytes.
    BadName,
    /// More than [`MAX_CAPS`] capabilities or [`MAX_REGIONS`] regions.
    TooMany,
    /// Two grants with the same name.
    DuplicateName,
    /// Two capabilities granted into the same slot.
    SlotTaken,
    /// The bytes are not a start-up block of this version.
    Corrupt(&'static str),
}

impl core::fmt::Display for StartupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadName => write!(f, "names must be 1 to {NAME_LEN} bytes"),
            Self::TooMany => {
                write!(f, "a component can be granted at most {MAX_CAPS} capabilities and {MAX_REGIONS} regions")
            }
            Self::DuplicateName => write!(f, "two grants have the same name"),
            Self::SlotTaken => write!(f, "two capabilities are granted into the same slot"),
            Self::Corrupt(what) => write!(f, "corrupt start-up block: {what}"),
        }
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn name(&mut self, n: &Name) {
        self.bytes(&n.bytes);
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StartupError> {
        let slice = self.data.get(self.at..self.at + N).ok_or(StartupError::Corrupt("truncated"))?;
        self.at += N;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
    fn u64(&mut self) -> Result<u64, StartupError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, StartupError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn name(&mut self) -> Result<Name, StartupError> {
        let bytes: [u8; NAME_LEN] = self.take()?;
        let len = bytes.iter().position(|b| *b == 0).unwrap_or(NAME_LEN);
        let name = Name { bytes, len: len as u8 };
        if len == 0 || core::str::from_utf8(&bytes[..len]).is_err() {
            return Err(StartupError::Corrupt("a name is empty or not UTF-8"));
        }
        Ok(name)
    }
}

impl StartupBlock {
    /// A block for component `name` with nothing granted yet.
    pub fn new(name: &str) -> Result<Self, StartupError> {
        Ok(Self {
            name: Name::new(name)?,
            cnode_bits: 0,
            heap_base: 0,
            heap_size: 0,
            stack_top: 0,
            stack_size: 0,
            ipc_buffer: 0,
            tsc_hz: 0,
            flags: 0,
            caps: [None; MAX_CAPS],
            regions: [None; MAX_REGIONS],
        })
    }

    fn name_taken(&self, name: &str) -> bool {
        self.caps().any(|c| c.name.as_str() == name) || self.regions().any(|r| r.name.as_str() == name)
    }

    /// Records a granted capability.
    pub fn add_cap(&mut self, name: &str, slot: u64, kind: CapKind, data: u64) -> Result<(), StartupError> {
        if self.name_taken(name) {
            return Err(StartupError::DuplicateName);
        }
        let entry = CapEntry { name: Name::new(name)?, slot, kind, data };
        let free = self.caps.iter_mut().find(|c| c.is_none()).ok_or(StartupError::TooMany)?;
        *free = Some(entry);
        Ok(())
    }

    /// Records a granted region.
    pub fn add_region(&mut self, name: &str, info: RegionInfo) -> Result<(), StartupError> {
        if self.name_taken(name) {
            return Err(StartupError::DuplicateName);
        }
        let entry = RegionEntry { name: Name::new(name)?, info };
        let free = self.regions.iter_mut().find(|r| r.is_none()).ok_or(StartupError::TooMany)?;
        *free = Some(entry);
        Ok(())
    }

    /// Granted capabilities.
    pub fn caps(&self) -> impl Iterator<Item = &CapEntry> {
        self.caps.iter().flatten()
    }

    /// Granted regions.
    pub fn regions(&self) -> impl Iterator<Item = &RegionEntry> {
        self.regions.iter().flatten()
    }

    /// The capability named `name`.
    pub fn cap(&self, name: &str) -> Option<&CapEntry> {
        self.caps().find(|c| c.name.as_str() == name)
    }

    /// The region named `name`.
    pub fn region(&self, name: &str) -> Option<&RegionEntry> {
        self.regions().find(|r| r.name.as_str() == name)
    }

    /// Encodes the block into `out` (at least [`ENCODED_LEN`] bytes).
    pub fn encode(&self, out: &mut [u8]) -> Result<(), StartupError> {
        if out.len() < ENCODED_LEN {
            return Err(StartupError::Corrupt("output buffer too small"));
        }
        out[..ENCODED_LEN].fill(0);
        let mut w = Writer { out, at: 0 };
        w.u64(MAGIC);
        w.u32(VERSION);
        w.u32(self.flags);
        w.name(&self.name);
        let words = [
            self.cnode_bits,
            self.heap_base,
            self.heap_size,
            self.stack_top,
            self.stack_size,
            self.ipc_buffer,
            self.tsc_hz,
        ];
        for v in words {
            w.u64(v);
        }
        for cap in &self.caps {
            match cap {
                Some(c) => {
                    w.name(&c.name);
                    w.u64(c.slot);
                    w.u32(c.kind as u32);
                    w.u32(0);
                    w.u64(c.data);
                }
                None => w.at += CAP_ENTRY,
            }
        }
        for region in &self.regions {
            match region {
                Some(r) => {
                    let i = &r.info;
                    w.name(&r.name);
                    w.u64(i.vaddr);
                    w.u64(i.size);
                    w.u64(i.paddr);
                    w.u32(i.writable as u32 | (i.uncached as u32) << 1);
                    w.u32(i.ring_slots);
                    w.u32(i.ring_item_size);
                    w.u32(0);
                }
                None => w.at += REGION_ENTRY,
            }
        }
        Ok(())
    }

    /// Decodes and validates a block.
    pub fn decode(data: &[u8]) -> Result<Self, StartupError> {
        let mut r = Reader { data, at: 0 };
        if r.u64()? != MAGIC {
            return Err(StartupError::Corrupt("bad magic number"));
        }
        if r.u32()? != VERSION {
            return Err(StartupError::Corrupt("unknown version"));
        }
        let flags = r.u32()?;
        let mut block = StartupBlock::new("x").map_err(|_| StartupError::Corrupt("name"))?;
        block.flags = flags;
        block.name = r.name()?;
        block.cnode_bits = r.u64()?;
        block.heap_base = r.u64()?;
        block.heap_size = r.u64()?;
        block.stack_top = r.u64()?;
        block.stack_size = r.u64()?;
        block.ipc_buffer = r.u64()?;
        block.tsc_hz = r.u64()?;
        for i in 0..MAX_CAPS {
            if data.get(r.at).copied().unwrap_or(0) == 0 {
                r.at += CAP_ENTRY;
                continue;
            }
            let name = r.name()?;
            let slot = r.u64()?;
            let kind = CapKind::from_u32(r.u32()?).ok_or(StartupError::Corrupt("unknown capability kind"))?;
            r.u32()?;
            let data = r.u64()?;
            block.caps[i] = Some(CapEntry { name, slot, kind, data });
        }
        for i in 0..MAX_REGIONS {
            if data.get(r.at).copied().unwrap_or(0) == 0 {
                r.at += REGION_ENTRY;
                continue;
            }
            let name = r.name()?;
            let (vaddr, size, paddr) = (r.u64()?, r.u64()?, r.u64()?);
            let flags = r.u32()?;
            let (ring_slots, ring_item_size) = (r.u32()?, r.u32()?);
            r.u32()?;
            let info = RegionInfo {
                vaddr,
                size,
                writable: flags & 1 != 0,
                paddr,
                uncached: flags & 2 != 0,
                ring_slots,
                ring_item_size,
            };
            block.regions[i] = Some(RegionEntry { name, info });
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    fn sample() -> StartupBlock {
        let mut b = StartupBlock::new("logger").unwrap();
        b.cnode_bits = 8;
        b.heap_base = HEAP_BASE;
        b.heap_size = 1 << 20;
        b.stack_top = STACK_TOP;
        b.stack_size = 64 << 10;
        b.ipc_buffer = IPC_BUFFER_VADDR;
        b.add_cap("requests", 8, CapKind::EndpointServer, 0).unwrap();
        b.add_cap("ready", 9, CapKind::NotificationSignal, 0x4).unwrap();
        let ring = RegionInfo {
            vaddr: REGIONS_BASE,
            size: 0x4000,
            writable: true,
            ring_slots: 64,
            ring_item_size: 8,
            ..Default::default()
        };
        b.add_region("ring", ring).unwrap();
        b
    }

    #[test]
    fn joined_names_fit_or_are_refused() {
        assert_eq!(Name::joined("log", ":data").unwrap().as_str(), "log:data");
        let long = "a-connection-name-of-24b";
        assert_eq!(Name::joined(long, ":space").unwrap().as_str().len(), 30);
        assert!(Name::joined(long, ":space-and-more").is_none());
        assert!(Name::joined("", ":data").is_none());
    }

    #[test]
    fn round_trip() {
        let b = sample();
        let mut page = [0u8; 4096];
        b.encode(&mut page).unwrap();
        let d = StartupBlock::decode(&page).unwrap();
        assert_eq!(d, b);
        assert_eq!(d.cap("ready").unwrap().data, 4);
        assert_eq!(d.region("ring").unwrap().info.size, 0x4000);
        assert_eq!(d.region("ring").unwrap().info.ring_slots, 64);
        assert!(d.cap("missing").is_none());
    }

    #[test]
    fn rejects_duplicates_bad_names_and_overflow() {
        let mut b = sample();
        assert_eq!(b.add_cap("ring", 10, CapKind::Frame, 0), Err(StartupError::DuplicateName));
        assert_eq!(b.add_cap("", 10, CapKind::Frame, 0), Err(StartupError::BadName));
        assert_eq!(b.add_cap(&"x".repeat(33), 10, CapKind::Frame, 0), Err(StartupError::BadName));
        let mut full = StartupBlock::new("full").unwrap();
        for i in 0..MAX_CAPS {
            full.add_cap(&format!("c{i}"), i as u64, CapKind::Frame, 0).unwrap();
        }
        assert_eq!(full.add_cap("one-more", 99, CapKind::Frame, 0), Err(StartupError::TooMany));
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut page = [0u8; 4096];
        sample().encode(&mut page).unwrap();
        let mut bad = page;
        bad[0] ^= 1;
        assert_eq!(StartupBlock::decode(&bad), Err(StartupError::Corrupt("bad magic number")));
        let cap0 = HEADER + NAME_LEN + 8;
        let mut bad = page;
        bad[cap0] = 99;
        assert_eq!(StartupBlock::decode(&bad), Err(StartupError::Corrupt("unknown capability kind")));
        assert_eq!(StartupBlock::decode(&page[..100]), Err(StartupError::Corrupt("truncated")));
    }
}
