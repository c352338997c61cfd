//! The ACPI tables the broker needs: where the HPET is, and how ISA interrupts reach
//! the IOAPICs.
//!
//! [`find_rsdp`] locates the root pointer the BIOS way (EBDA, then 0xE0000..0x100000),
//! [`tables`] lists what the RSDT or XSDT points to, and [`hpet`] and [`madt`] decode the
//! two tables the device table is built from. Everything is read through
//! [`PhysicalMemory`] a few bytes at a time, so nothing here allocates more than the
//! results, and every read is bounded by a table's declared length. Firmware is not
//! trusted: checksums are verified, lengths are bounded, and malformed tables give an
//! [`AcpiError`] that says which table and what to check.

use alloc::vec::Vec;
use core::fmt;

/// Why ACPI tables could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// Physical memory at this address could not be read.
    Unreadable { paddr: u64 },
    /// No valid "RSD PTR " structure in the EBDA or the BIOS area.
    RsdpNotFound,
    /// An "RSD PTR " signature whose checksum or length is wrong.
    BadRsdp { paddr: u64 },
    /// The RSDP gives neither an RSDT nor an XSDT address.
    NoRootTable,
    /// The root table's signature is not the one the RSDP promised.
    WrongSignature { paddr: u64, expected: [u8; 4], found: [u8; 4] },
    /// A table is shorter than its fixed fields need.
    Truncated { signature: [u8; 4], paddr: u64, length: u32, needed: u32 },
    /// A table claims to be longer than any real table.
    TooLong { signature: [u8; 4], paddr: u64, length: u32 },
    /// A table's bytes do not sum to zero.
    BadChecksum { signature: [u8; 4], paddr: u64 },
    /// A MADT entry whose length is too small for its type or runs past the table.
    BadMadtEntry { paddr: u64, offset: u32, entry_type: u8, entry_length: u8, table_length: u32 },
    /// The HPET's registers are not at a usable system memory address.
    UnsupportedHpet { address_space: u8, address: u64 },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcpiError::Unreadable { paddr } => write!(
                f,
                "physical memory at {paddr:#x} could not be read; check that the broker can map it \
                 (ACPI tables live in firmware-reserved RAM, the RSDP below 1 MiB)"
            ),
            AcpiError::RsdpNotFound => f.write_str(
                "no ACPI RSDP in the first KiB of the EBDA or in 0xe0000..0x100000; check that the firmware \
                 provides ACPI (QEMU: no -no-acpi) and boots by BIOS (on UEFI the boot loader must pass the RSDP)",
            ),
            AcpiError::BadRsdp { paddr } => write!(
                f,
                "the ACPI RSDP at {paddr:#x} has a bad checksum or length; the firmware's tables are corrupt \
                 or this is a stale copy"
            ),
            AcpiError::NoRootTable => f.write_str(
                "the ACPI RSDP gives neither an RSDT nor an XSDT address; the firmware's tables are incomplete",
            ),
            AcpiError::WrongSignature { paddr, expected, found } => write!(
                f,
                "expected the ACPI {} table at {paddr:#x} but found signature {}; check the RSDP's table addresses",
                Signature(&expected),
                Signature(&found)
            ),
            AcpiError::Truncated { signature, paddr, length, needed } => write!(
                f,
                "the ACPI {} table at {paddr:#x} is {length} bytes long but needs at least {needed}; \
                 the table is truncated or its length field is corrupt",
                Signature(&signature)
            ),
            AcpiError::TooLong { signature, paddr, length } => write!(
                f,
                "the ACPI {} table at {paddr:#x} claims {length} bytes, more than the {MAX_TABLE_LENGTH} accepted; \
                 its length field is probably corrupt",
                Signature(&signature)
            ),
            AcpiError::BadChecksum { signature, paddr } => write!(
                f,
                "the ACPI {} table at {paddr:#x} has a bad checksum; the firmware's table is corrupt \
                 or was read from the wrong address",
                Signature(&signature)
            ),
            AcpiError::BadMadtEntry { paddr, offset, entry_type, entry_length, table_length } => write!(
                f,
                "the MADT at {paddr:#x} has an entry of type {entry_type} at offset {offset} with length \
                 {entry_length}, too short for its type or past the table's end ({table_length} bytes); \
                 the firmware's MADT is corrupt"
            ),
            AcpiError::UnsupportedHpet { address_space, address } => write!(
                f,
                "the HPET's registers are at {address:#x} in ACPI address space {address_space}; only a non-zero \
                 system memory address (space 0) can be mapped"
            ),
        }
    }
}

/// Prints a table signature, escaping bytes that are not printable ASCII.
struct Signature<'a>(&'a [u8]);

impl fmt::Display for Signature<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &byte in self.0 {
            if byte.is_ascii_graphic() || byte == b' ' {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// Reads physical memory (the broker maps device frames to do it).
pub trait PhysicalMemory {
    /// Copies `out.len()` bytes from physical address `paddr`.
    fn read(&mut self, paddr: u64, out: &mut [u8]) -> Result<(), AcpiError>;
}

/// The Root System Description Pointer: where the root table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 or more for ACPI 2.0 and later.
    pub revision: u8,
    pub rsdt_address: u32,
    /// Only in revision 2 and later, and only if non-zero.
    pub xsdt_address: Option<u64>,
    /// Where the RSDP itself was found.
    pub paddr: u64,
}

/// A table listed by the root table, its checksum verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableHeader {
    pub signature: [u8; 4],
    pub paddr: u64,
    /// Bytes, header included.
    pub length: u32,
    pub revision: u8,
}

impl TableHeader {
    /// The signature as text ("APIC", "HPET"), or "????" if it is not ASCII.
    pub fn signature_str(&self) -> &str {
        match core::str::from_utf8(&self.signature) {
            Ok(text) if self.signature.is_ascii() => text,
            _ => "????",
        }
    }
}

/// A root table entry that was not listed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedTable {
    pub paddr: u64,
    /// None if not even the header could be read.
    pub signature: Option<[u8; 4]>,
    pub reason: AcpiError,
}

/// What the root table points to: the valid tables, and the entries that were not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableScan {
    pub tables: Vec<TableHeader>,
    pub skipped: Vec<SkippedTable>,
}

/// The High Precision Event Timer, from the "HPET" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hpet {
    /// Physical address of the 1 KiB register block.
    pub base_address: u64,
    pub hpet_number: u8,
    /// Smallest main-counter tick count that periodic mode can be programmed with
    /// without losing interrupts.
    pub min_tick: u16,
    /// Comparators (timers) in the block.
    pub comparators: u8,
}

/// The interrupt controllers, from the "APIC" table (the MADT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Madt {
    pub local_apic_address: u32,
    pub ioapics: Vec<IoApic>,
    pub overrides: Vec<InterruptOverride>,
}

/// An I/O APIC: its interrupt inputs are GSIs `gsi_base..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub address: u32,
    pub gsi_base: u32,
}

/// An ISA interrupt that is not wired to the GSI of the same number, or not edge-triggered active high.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptOverride {
    /// 0: ISA.
    pub bus: u8,
    /// The ISA IRQ.
    pub source: u8,
    pub gsi: u32,
    /// MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3.
    pub flags: u16,
}

impl Madt {
    /// Where ISA `irq` arrives: its GSI, whether it is level-triggered, and whether it is
    /// active low. Without an override an ISA IRQ is GSI `irq`, edge-triggered, active high.
    pub fn isa_irq(&self, irq: u8) -> (u32, bool, bool) {
        let Some(o) = self.overrides.iter().find(|o| o.bus == ISA_BUS && o.source == irq) else {
            return (u32::from(irq), false, false);
        };
        // 0 ("conforms to the bus") and the reserved value 2 both leave the ISA default.
        let active_low = o.flags & INTI_POLARITY_MASK == INTI_POLARITY_ACTIVE_LOW;
        let level = (o.flags & INTI_TRIGGER_MASK) >> INTI_TRIGGER_SHIFT == INTI_TRIGGER_LEVEL;
        (o.gsi, level, active_low)
    }
}

const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
const RSDP_V1_LENGTH: usize = 20;
const RSDP_V2_LENGTH: u32 = 36;
/// Far above the 36 bytes of every RSDP so far, yet small enough that a corrupt length
/// cannot make the extended checksum read far.
const RSDP_MAX_LENGTH: u32 = 4096;
const RSDP_ALIGNMENT: usize = 16;
const BDA_EBDA_SEGMENT: u64 = 0x40E;
const EBDA_SEARCH_LENGTH: u64 = 1024;
const BIOS_AREA_START: u64 = 0xE_0000;
const BIOS_AREA_END: u64 = 0x10_0000;
const SEARCH_CHUNK: usize = 1024;

const HEADER_LENGTH: u32 = 36;
/// Larger than any table firmware ships (big DSDTs are a few hundred KiB), small enough
/// that checksumming a corrupt length stays quick.
const MAX_TABLE_LENGTH: u32 = 4 << 20;
const RSDT_SIGNATURE: [u8; 4] = *b"RSDT";
const XSDT_SIGNATURE: [u8; 4] = *b"XSDT";
const HPET_SIGNATURE: [u8; 4] = *b"HPET";
const MADT_SIGNATURE: [u8; 4] = *b"APIC";

const HPET_BODY_OFFSET: u32 = HEADER_LENGTH;
const HPET_BODY_LENGTH: usize = 20;
const ACPI_SPACE_SYSTEM_MEMORY: u8 = 0;

const MADT_ENTRIES_OFFSET: u32 = HEADER_LENGTH + 8;
const MADT_IOAPIC: u8 = 1;
const MADT_IOAPIC_LENGTH: u8 = 12;
const MADT_OVERRIDE: u8 = 2;
const MADT_OVERRIDE_LENGTH: u8 = 10;
const MADT_ENTRY_HEADER_LENGTH: u8 = 2;

const ISA_BUS: u8 = 0;
const INTI_POLARITY_MASK: u16 = 0b11;
const INTI_POLARITY_ACTIVE_LOW: u16 = 0b11;
const INTI_TRIGGER_MASK: u16 = 0b11 << 2;
const INTI_TRIGGER_SHIFT: u16 = 2;
const INTI_TRIGGER_LEVEL: u16 = 0b11;

/// Finds the RSDP: first in the first KiB of the EBDA, then in the BIOS area
/// 0xE0000..0x100000, on 16-byte boundaries, with its checksums verified.
pub fn find_rsdp(mem: &mut impl PhysicalMemory) -> Result<Rsdp, AcpiError> {
    let mut first_rejected = None;
    // Machines without an EBDA, or whose BDA cannot be mapped, still have the BIOS
    // area, so trouble there only matters if nothing is found at all.
    if let Some(ebda) = ebda_base(mem) {
        if let Ok(Some(rsdp)) = search_rsdp(mem, ebda, EBDA_SEARCH_LENGTH, &mut first_rejected) {
            return Ok(rsdp);
        }
    }
    match search_rsdp(mem, BIOS_AREA_START, BIOS_AREA_END - BIOS_AREA_START, &mut first_rejected)? {
        Some(rsdp) => Ok(rsdp),
        None => Err(first_rejected.unwrap_or(AcpiError::RsdpNotFound)),
    }
}

fn ebda_base(mem: &mut impl PhysicalMemory) -> Option<u64> {
    let mut segment = [0; 2];
    mem.read(BDA_EBDA_SEGMENT, &mut segment).ok()?;
    let segment = u16::from_le_bytes(segment);
    (segment != 0).then_some(u64::from(segment) << 4)
}

/// Scans `length` bytes from `start` (16-byte aligned); candidates that fail validation
/// are remembered in `first_rejected` and the scan goes on, since stale copies exist.
fn search_rsdp(
    mem: &mut impl PhysicalMemory,
    start: u64,
    length: u64,
    first_rejected: &mut Option<AcpiError>,
) -> Result<Option<Rsdp>, AcpiError> {
    let mut chunk = [0u8; SEARCH_CHUNK];
    let mut chunk_start = start;
    let end = start + length;
    while chunk_start < end {
        let chunk_length = (end - chunk_start).min(SEARCH_CHUNK as u64) as usize;
        let bytes = &mut chunk[..chunk_length];
        mem.read(chunk_start, bytes)?;
        for (offset, candidate) in bytes.chunks_exact(RSDP_ALIGNMENT).enumerate() {
            if !candidate.starts_with(RSDP_SIGNATURE) {
                continue;
            }
            let paddr = chunk_start + (offset * RSDP_ALIGNMENT) as u64;
            match read_rsdp(mem, paddr) {
                Ok(rsdp) => return Ok(Some(rsdp)),
                Err(e) => {
                    first_rejected.get_or_insert(e);
                }
            }
        }
        chunk_start += chunk_length as u64;
    }
    Ok(None)
}

fn read_rsdp(mem: &mut impl PhysicalMemory, paddr: u64) -> Result<Rsdp, AcpiError> {
    let mut v1 = [0u8; RSDP_V1_LENGTH];
    mem.read(paddr, &mut v1)?;
    if sum(&v1) != 0 {
        return Err(AcpiError::BadRsdp { paddr });
    }
    let revision = v1[15];
    let rsdt_address = u32::from_le_bytes([v1[16], v1[17], v1[18], v1[19]]);
    if revision < 2 {
        return Ok(Rsdp { revision, rsdt_address, xsdt_address: None, paddr });
    }
    let mut v2 = [0u8; RSDP_V2_LENGTH as usize];
    mem.read(paddr, &mut v2)?;
    let length = u32::from_le_bytes([v2[20], v2[21], v2[22], v2[23]]);
    if !(RSDP_V2_LENGTH..=RSDP_MAX_LENGTH).contains(&length) || checksum(mem, paddr, length)? != 0 {
        return Err(AcpiError::BadRsdp { paddr });
    }
    let xsdt = u64::from_le_bytes([v2[24], v2[25], v2[26], v2[27], v2[28], v2[29], v2[30], v2[31]]);
    Ok(Rsdp { revision, rsdt_address, xsdt_address: (xsdt != 0).then_some(xsdt), paddr })
}

/// Lists the tables the XSDT (if the RSDP has one) or else the RSDT points to.
/// Entries that are unreadable, malformed or fail their checksum are left out; use
/// [`scan_tables`] to learn about them.
pub fn tables(mem: &mut impl PhysicalMemory, rsdp: &Rsdp) -> Result<Vec<TableHeader>, AcpiError> {
    scan_tables(mem, rsdp).map(|scan| scan.tables)
}

/// Like [`tables`], but also reports the entries that were left out. Fails only if the
/// root table itself is unreadable, malformed or has a bad checksum.
pub fn scan_tables(mem: &mut impl PhysicalMemory, rsdp: &Rsdp) -> Result<TableScan, AcpiError> {
    let (root_paddr, expected, entry_size) = match rsdp.xsdt_address {
        Some(xsdt) => (xsdt, XSDT_SIGNATURE, 8),
        None if rsdp.rsdt_address != 0 => (u64::from(rsdp.rsdt_address), RSDT_SIGNATURE, 4),
        None => return Err(AcpiError::NoRootTable),
    };
    let root = Table::read_header(mem, root_paddr)?;
    if root.header.signature != expected {
        return Err(AcpiError::WrongSignature { paddr: root_paddr, expected, found: root.header.signature });
    }
    root.verify(mem)?;
    // A length that is not a whole number of entries leaves a partial entry, ignored.
    let entry_count = (root.header.length - HEADER_LENGTH) / entry_size;
    let mut scan = TableScan { tables: Vec::new(), skipped: Vec::new() };
    for index in 0..entry_count {
        let mut entry = [0u8; 8];
        root.read(mem, HEADER_LENGTH + index * entry_size, &mut entry[..entry_size as usize])?;
        let paddr = u64::from_le_bytes(entry);
        match Table::read_header(mem, paddr) {
            Ok(table) => match table.verify(mem) {
                Ok(()) => scan.tables.push(table.header),
                Err(reason) => {
                    scan.skipped.push(SkippedTable { paddr, signature: Some(table.header.signature), reason })
                }
            },
            Err(reason) => {
                scan.skipped.push(SkippedTable { paddr, signature: signature_of(reason), reason });
            }
        }
    }
    Ok(scan)
}

/// The signature named by a header-validation error, if the header was readable.
fn signature_of(reason: AcpiError) -> Option<[u8; 4]> {
    match reason {
        AcpiError::Truncated { signature, .. } | AcpiError::TooLong { signature, .. } => Some(signature),
        _ => None,
    }
}

/// Finds the first valid table with `signature`. A table with that signature that was
/// skipped is an error rather than "absent", so a corrupt table is not mistaken for none.
fn find_table(mem: &mut impl PhysicalMemory, rsdp: &Rsdp, signature: [u8; 4]) -> Result<Option<Table>, AcpiError> {
    let scan = scan_tables(mem, rsdp)?;
    if let Some(header) = scan.tables.iter().find(|t| t.signature == signature) {
        return Ok(Some(Table { header: *header }));
    }
    match scan.skipped.iter().find(|s| s.signature == Some(signature)) {
        Some(skipped) => Err(skipped.reason),
        None => Ok(None),
    }
}

/// Reads the HPET table, if the firmware has one.
pub fn hpet(mem: &mut impl PhysicalMemory, rsdp: &Rsdp) -> Result<Option<Hpet>, AcpiError> {
    let Some(table) = find_table(mem, rsdp, HPET_SIGNATURE)? else {
        return Ok(None);
    };
    let mut body = [0u8; HPET_BODY_LENGTH];
    table.read(mem, HPET_BODY_OFFSET, &mut body)?;
    let event_timer_block_id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
    let address_space = body[4];
    let base_address =
        u64::from_le_bytes([body[8], body[9], body[10], body[11], body[12], body[13], body[14], body[15]]);
    if address_space != ACPI_SPACE_SYSTEM_MEMORY || base_address == 0 {
        return Err(AcpiError::UnsupportedHpet { address_space, address: base_address });
    }
    // Bits 8-12 hold the number of the last comparator, as in the HPET's capabilities register.
    let comparators = ((event_timer_block_id >> 8) & 0x1F) as u8 + 1;
    Ok(Some(Hpet {
        base_address,
        hpet_number: body[16],
        min_tick: u16::from_le_bytes([body[17], body[18]]),
        comparators,
    }))
}

/// Reads the MADT ("APIC" table), if the firmware has one.
pub fn madt(mem: &mut impl PhysicalMemory, rsdp: &Rsdp) -> Result<Option<Madt>, AcpiError> {
    let Some(table) = find_table(mem, rsdp, MADT_SIGNATURE)? else {
        return Ok(None);
    };
    let mut fixed = [0u8; 4];
    table.read(mem, HEADER_LENGTH, &mut fixed)?;
    let mut madt = Madt { local_apic_address: u32::from_le_bytes(fixed), ioapics: Vec::new(), overrides: Vec::new() };
    let table_length = table.header.length;
    let mut offset = MADT_ENTRIES_OFFSET;
    while offset < table_length {
        let bad_entry = |entry_type, entry_length| AcpiError::BadMadtEntry {
            paddr: table.header.paddr,
            offset,
            entry_type,
            entry_length,
            table_length,
        };
        let mut entry = [0u8; 255];
        // A lone trailing byte is read as a type with length 0, which is rejected below.
        let header_bytes = (table_length - offset).min(u32::from(MADT_ENTRY_HEADER_LENGTH)) as usize;
        table.read(mem, offset, &mut entry[..header_bytes])?;
        let [entry_type, entry_length] = [entry[0], entry[1]];
        // Each entry must at least cover its own header, or the walk would not advance.
        if entry_length < MADT_ENTRY_HEADER_LENGTH || u32::from(entry_length) > table_length - offset {
            return Err(bad_entry(entry_type, entry_length));
        }
        let entry = &mut entry[..usize::from(entry_length)];
        table.read(mem, offset, entry)?;
        match entry_type {
            MADT_IOAPIC if entry_length < MADT_IOAPIC_LENGTH => return Err(bad_entry(entry_type, entry_length)),
            MADT_IOAPIC => madt.ioapics.push(IoApic {
                id: entry[2],
                address: u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]),
                gsi_base: u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]),
            }),
            MADT_OVERRIDE if entry_length < MADT_OVERRIDE_LENGTH => return Err(bad_entry(entry_type, entry_length)),
            MADT_OVERRIDE => madt.overrides.push(InterruptOverride {
                bus: entry[2],
                source: entry[3],
                gsi: u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]),
                flags: u16::from_le_bytes([entry[8], entry[9]]),
            }),
            _ => {}
        }
        offset += u32::from(entry_length);
    }
    Ok(Some(madt))
}

/// A table whose header has been read and whose length is plausible; every later read
/// is checked against that length.
struct Table {
    header: TableHeader,
}

impl Table {
    fn read_header(mem: &mut impl PhysicalMemory, paddr: u64) -> Result<Table, AcpiError> {
        let mut raw = [0u8; HEADER_LENGTH as usize];
        mem.read(paddr, &mut raw)?;
        let signature = [raw[0], raw[1], raw[2], raw[3]];
        let length = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if length < HEADER_LENGTH {
            return Err(AcpiError::Truncated { signature, paddr, length, needed: HEADER_LENGTH });
        }
        if length > MAX_TABLE_LENGTH {
            return Err(AcpiError::TooLong { signature, paddr, length });
        }
        Ok(Table { header: TableHeader { signature, paddr, length, revision: raw[8] } })
    }

    fn verify(&self, mem: &mut impl PhysicalMemory) -> Result<(), AcpiError> {
        match checksum(mem, self.header.paddr, self.header.length)? {
            0 => Ok(()),
            _ => Err(AcpiError::BadChecksum { signature: self.header.signature, paddr: self.header.paddr }),
        }
    }

    /// Reads `out.len()` bytes at `offset` into the table, which must lie within its length.
    fn read(&self, mem: &mut impl PhysicalMemory, offset: u32, out: &mut [u8]) -> Result<(), AcpiError> {
        let TableHeader { signature, paddr, length, .. } = self.header;
        let end = u32::try_from(out.len()).ok().and_then(|n| offset.checked_add(n));
        match end {
            Some(end) if end <= length => {
                let at = paddr.checked_add(u64::from(offset)).ok_or(AcpiError::Unreadable { paddr })?;
                mem.read(at, out)
            }
            _ => Err(AcpiError::Truncated { signature, paddr, length, needed: end.unwrap_or(u32::MAX) }),
        }
    }
}

/// Sums `length` bytes from `paddr`, a chunk at a time so no buffer of `length` is needed.
fn checksum(mem: &mut impl PhysicalMemory, paddr: u64, length: u32) -> Result<u8, AcpiError> {
    let mut chunk = [0u8; 256];
    let mut total = 0u8;
    let mut done = 0u32;
    while done < length {
        let n = (length - done).min(chunk.len() as u32) as usize;
        let at = paddr.checked_add(u64::from(done)).ok_or(AcpiError::Unreadable { paddr })?;
        mem.read(at, &mut chunk[..n])?;
        total = total.wrapping_add(sum(&chunk[..n]));
        done += n as u32;
    }
    Ok(total)
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |total, &b| total.wrapping_add(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    /// Physical memory as a few byte ranges; later ranges cover earlier ones, and
    /// anything outside them cannot be read.
    #[derive(Default)]
    struct FakeMemory {
        regions: Vec<(u64, Vec<u8>)>,
    }

    impl FakeMemory {
        fn with(mut self, paddr: u64, bytes: Vec<u8>) -> Self {
            self.regions.push((paddr, bytes));
            self
        }

        fn byte(&self, paddr: u64) -> Option<u8> {
            self.regions.iter().rev().find_map(|(start, bytes)| {
                let index = usize::try_from(paddr.checked_sub(*start)?).ok()?;
                bytes.get(index).copied()
            })
        }
    }

    impl PhysicalMemory for FakeMemory {
        fn read(&mut self, paddr: u64, out: &mut [u8]) -> Result<(), AcpiError> {
            for (i, byte) in out.iter_mut().enumerate() {
                let at = paddr.checked_add(i as u64).ok_or(AcpiError::Unreadable { paddr })?;
                *byte = self.byte(at).ok_or(AcpiError::Unreadable { paddr: at })?;
            }
            Ok(())
        }
    }

    const EBDA: u64 = 0x9_FC00;
    const BIOS_RSDP: u64 = 0xF_5A30;
    const RSDT: u64 = 0x7FE_1000;
    const HPET: u64 = 0x7FE_2000;
    const APIC: u64 = 0x7FE_3000;
    const FACP: u64 = 0x7FE_4000;
    const XSDT: u64 = 0x1_0000_0000;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        bytes[at] = 0u8.wrapping_sub(sum(bytes));
    }

    fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&(HEADER_LENGTH + body.len() as u32).to_le_bytes());
        t.extend_from_slice(&[1, 0]); // revision, checksum
        t.extend_from_slice(b"KAALOSKAALTEST");
        t.extend_from_slice(&[1, 0, 0, 0]);
        t.extend_from_slice(b"KAAL");
        t.extend_from_slice(&[1, 0, 0, 0]);
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(RSDP_SIGNATURE);
        r.push(0);
        r.extend_from_slice(b"KAALOS");
        r.push(revision);
        r.extend_from_slice(&rsdt.to_le_bytes());
        if revision >= 2 {
            r.extend_from_slice(&RSDP_V2_LENGTH.to_le_bytes());
            r.extend_from_slice(&xsdt.to_le_bytes());
            r.extend_from_slice(&[0; 4]);
            fix_checksum(&mut r[..20], 8);
            fix_checksum(&mut r, 32);
        } else {
            fix_checksum(&mut r, 8);
        }
        r
    }

    fn rsdt(entries: &[u64]) -> Vec<u8> {
        let body: Vec<u8> = entries.iter().flat_map(|&e| (e as u32).to_le_bytes()).collect();
        table(b"RSDT", &body)
    }

    fn xsdt(entries: &[u64]) -> Vec<u8> {
        let body: Vec<u8> = entries.iter().flat_map(|&e| e.to_le_bytes()).collect();
        table(b"XSDT", &body)
    }

    /// QEMU's HPET table: 3 comparators, registers at 0xFED00000.
    fn hpet_table() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0x8086_A201u32.to_le_bytes());
        body.extend_from_slice(&[ACPI_SPACE_SYSTEM_MEMORY, 64, 0, 0]);
        body.extend_from_slice(&0xFED0_0000u64.to_le_bytes());
        body.push(0); // HPET number
        body.extend_from_slice(&128u16.to_le_bytes());
        body.push(0); // page protection
        table(b"HPET", &body)
    }

    fn madt_entry(entry_type: u8, fields: &[u8]) -> Vec<u8> {
        let mut entry = vec![entry_type, 2 + fields.len() as u8];
        entry.extend_from_slice(fields);
        entry
    }

    fn override_entry(source: u8, gsi: u32, flags: u16) -> Vec<u8> {
        let mut fields = vec![0, source];
        fields.extend_from_slice(&gsi.to_le_bytes());
        fields.extend_from_slice(&flags.to_le_bytes());
        madt_entry(MADT_OVERRIDE, &fields)
    }

    /// QEMU `pc`'s MADT with one CPU: IRQ 0 on GSI 2, PCI IRQs 5, 9, 10, 11 level-triggered.
    fn madt_body(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes()); // PC/AT-compatible 8259s present
        for entry in entries {
            body.extend_from_slice(entry);
        }
        body
    }

    fn qemu_madt_entries() -> Vec<Vec<u8>> {
        let mut ioapic = vec![0, 0];
        ioapic.extend_from_slice(&0xFEC0_0000u32.to_le_bytes());
        ioapic.extend_from_slice(&0u32.to_le_bytes());
        vec![
            madt_entry(0, &[0, 0, 1, 0, 0, 0]), // local APIC
            madt_entry(MADT_IOAPIC, &ioapic),
            override_entry(0, 2, 0),
            override_entry(5, 5, 0xD),
            override_entry(9, 9, 0xD),
            override_entry(10, 10, 0xD),
            override_entry(11, 11, 0xD),
            madt_entry(4, &[0xFF, 0, 0, 1]), // local APIC NMI
        ]
    }

    /// Low memory as SeaBIOS leaves it: the BDA pointing at an empty EBDA, and the
    /// BIOS area, holding `rsdp_bytes` at `BIOS_RSDP`.
    fn low_memory(rsdp_bytes: Vec<u8>) -> FakeMemory {
        let mut bda = vec![0u8; 0x100];
        bda[0x0E..0x10].copy_from_slice(&((EBDA >> 4) as u16).to_le_bytes());
        FakeMemory::default()
            .with(0x400, bda)
            .with(EBDA, vec![0; 1024])
            .with(BIOS_AREA_START, vec![0; (BIOS_AREA_END - BIOS_AREA_START) as usize])
            .with(BIOS_RSDP, rsdp_bytes)
    }

    fn qemu_pc() -> FakeMemory {
        low_memory(rsdp(0, RSDT as u32, 0))
            .with(RSDT, rsdt(&[FACP, APIC, HPET]))
            .with(FACP, table(b"FACP", &[0; 80]))
            .with(APIC, table(b"APIC", &madt_body(&qemu_madt_entries())))
            .with(HPET, hpet_table())
    }

    fn qemu_rsdp() -> Rsdp {
        Rsdp { revision: 0, rsdt_address: RSDT as u32, xsdt_address: None, paddr: BIOS_RSDP }
    }

    fn signatures(tables: &[TableHeader]) -> Vec<&str> {
        tables.iter().map(TableHeader::signature_str).collect()
    }

    #[test]
    fn finds_the_rsdp_in_the_bios_area() {
        assert_eq!(find_rsdp(&mut qemu_pc()), Ok(qemu_rsdp()));
    }

    #[test]
    fn searches_the_ebda_first() {
        let mut mem = qemu_pc().with(EBDA + 0x40, rsdp(0, 0x1234_5000, 0));
        let found = find_rsdp(&mut mem).unwrap();
        assert_eq!((found.paddr, found.rsdt_address), (EBDA + 0x40, 0x1234_5000));
    }

    #[test]
    fn falls_back_to_the_bios_area_when_the_bda_is_unreadable() {
        let mut mem = FakeMemory::default()
            .with(BIOS_AREA_START, vec![0; (BIOS_AREA_END - BIOS_AREA_START) as usize])
            .with(BIOS_RSDP, rsdp(0, RSDT as u32, 0));
        assert_eq!(find_rsdp(&mut mem), Ok(qemu_rsdp()));
    }

    #[test]
    fn rejects_an_rsdp_with_a_bad_checksum() {
        let mut corrupt = rsdp(0, RSDT as u32, 0);
        corrupt[16] ^= 0x10;
        assert_eq!(find_rsdp(&mut low_memory(corrupt.clone())), Err(AcpiError::BadRsdp { paddr: BIOS_RSDP }));
        // A stale, corrupt copy does not hide a valid one further on.
        let mut mem = low_memory(corrupt).with(BIOS_RSDP + 0x100, rsdp(0, RSDT as u32, 0));
        assert_eq!(find_rsdp(&mut mem).map(|r| r.paddr), Ok(BIOS_RSDP + 0x100));
    }

    #[test]
    fn rejects_a_revision_2_rsdp_with_a_bad_extended_checksum_or_length() {
        let mut corrupt = rsdp(2, RSDT as u32, XSDT);
        corrupt[30] ^= 1; // in the XSDT address: only the extended checksum covers it
        assert_eq!(find_rsdp(&mut low_memory(corrupt)), Err(AcpiError::BadRsdp { paddr: BIOS_RSDP }));
        let mut huge = rsdp(2, RSDT as u32, XSDT);
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        fix_checksum(&mut huge, 32);
        assert_eq!(find_rsdp(&mut low_memory(huge)), Err(AcpiError::BadRsdp { paddr: BIOS_RSDP }));
    }

    #[test]
    fn no_rsdp_and_unreadable_memory_are_errors() {
        assert_eq!(find_rsdp(&mut low_memory(Vec::new())), Err(AcpiError::RsdpNotFound));
        assert_eq!(find_rsdp(&mut FakeMemory::default()), Err(AcpiError::Unreadable { paddr: BIOS_AREA_START }));
    }

    #[test]
    fn revision_2_prefers_the_xsdt() {
        let mut mem = low_memory(rsdp(2, RSDT as u32, XSDT))
            .with(RSDT, rsdt(&[FACP]))
            .with(XSDT, xsdt(&[FACP, APIC, HPET]))
            .with(FACP, table(b"FACP", &[0; 80]))
            .with(APIC, table(b"APIC", &madt_body(&qemu_madt_entries())))
            .with(HPET, hpet_table());
        let rsdp = find_rsdp(&mut mem).unwrap();
        assert_eq!(rsdp.revision, 2);
        assert_eq!(rsdp.xsdt_address, Some(XSDT));
        assert_eq!(signatures(&tables(&mut mem, &rsdp).unwrap()), ["FACP", "APIC", "HPET"]);
    }

    #[test]
    fn lists_the_rsdt_tables_and_reads_the_hpet() {
        let mut mem = qemu_pc();
        let rsdp = find_rsdp(&mut mem).unwrap();
        let listed = tables(&mut mem, &rsdp).unwrap();
        assert_eq!(signatures(&listed), ["FACP", "APIC", "HPET"]);
        assert_eq!(listed[2], TableHeader { signature: *b"HPET", paddr: HPET, length: 56, revision: 1 });
        assert_eq!(
            hpet(&mut mem, &rsdp),
            Ok(Some(Hpet { base_address: 0xFED0_0000, hpet_number: 0, min_tick: 128, comparators: 3 }))
        );
    }

    #[test]
    fn decodes_the_qemu_madt() {
        let madt = madt(&mut qemu_pc(), &qemu_rsdp()).unwrap().unwrap();
        assert_eq!(madt.local_apic_address, 0xFEE0_0000);
        assert_eq!(madt.ioapics, [IoApic { id: 0, address: 0xFEC0_0000, gsi_base: 0 }]);
        assert_eq!(madt.overrides.len(), 5);
        assert_eq!(madt.overrides[0], InterruptOverride { bus: 0, source: 0, gsi: 2, flags: 0 });
        assert_eq!(madt.isa_irq(0), (2, false, false), "timer: GSI 2, ISA defaults");
        assert_eq!(madt.isa_irq(9), (9, true, false), "SCI: level, active high");
        assert_eq!(madt.isa_irq(11), (11, true, false));
        assert_eq!(madt.isa_irq(4), (4, false, false), "no override: identity, edge, active high");
    }

    #[test]
    fn isa_irq_applies_polarity_and_ignores_other_buses() {
        let overrides = vec![
            InterruptOverride { bus: 0, source: 7, gsi: 23, flags: 0b1111 },
            InterruptOverride { bus: 0, source: 6, gsi: 6, flags: 0b0101 },
            InterruptOverride { bus: 1, source: 3, gsi: 40, flags: 0b1111 },
        ];
        let madt = Madt { local_apic_address: 0xFEE0_0000, ioapics: Vec::new(), overrides };
        assert_eq!(madt.isa_irq(7), (23, true, true));
        assert_eq!(madt.isa_irq(6), (6, false, false));
        assert_eq!(madt.isa_irq(3), (3, false, false));
    }

    #[test]
    fn a_table_with_a_bad_checksum_is_skipped_not_fatal() {
        let mut bad_hpet = hpet_table();
        bad_hpet[40] ^= 0xFF;
        let mut mem = qemu_pc().with(HPET, bad_hpet);
        let scan = scan_tables(&mut mem, &qemu_rsdp()).unwrap();
        assert_eq!(signatures(&scan.tables), ["FACP", "APIC"]);
        let bad_checksum = AcpiError::BadChecksum { signature: *b"HPET", paddr: HPET };
        assert_eq!(scan.skipped, [SkippedTable { paddr: HPET, signature: Some(*b"HPET"), reason: bad_checksum }]);
        // The HPET is there but corrupt: that is not the same as absent.
        assert_eq!(hpet(&mut mem, &qemu_rsdp()), Err(bad_checksum));
        assert!(madt(&mut mem, &qemu_rsdp()).unwrap().is_some());
    }

    #[test]
    fn unreadable_and_implausible_entries_are_skipped() {
        let mut too_short = table(b"SSDT", &[]);
        too_short[4..8].copy_from_slice(&20u32.to_le_bytes());
        let mut too_long = table(b"SSDT", &[]);
        too_long[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut past_memory = table(b"SSDT", &[]);
        past_memory[4..8].copy_from_slice(&4096u32.to_le_bytes());
        let mut mem = qemu_pc()
            .with(RSDT, rsdt(&[0xDEAD_0000, 0x100_0000, 0x200_0000, 0x300_0000, HPET]))
            .with(0x100_0000, too_short)
            .with(0x200_0000, too_long)
            .with(0x300_0000, past_memory);
        let scan = scan_tables(&mut mem, &qemu_rsdp()).unwrap();
        assert_eq!(signatures(&scan.tables), ["HPET"]);
        let reasons: Vec<_> = scan.skipped.iter().map(|s| (s.signature, s.reason)).collect();
        let ssdt = *b"SSDT";
        assert_eq!(
            reasons,
            [
                (None, AcpiError::Unreadable { paddr: 0xDEAD_0000 }),
                (Some(ssdt), AcpiError::Truncated { signature: ssdt, paddr: 0x100_0000, length: 20, needed: 36 }),
                (Some(ssdt), AcpiError::TooLong { signature: ssdt, paddr: 0x200_0000, length: u32::MAX }),
                (Some(ssdt), AcpiError::Unreadable { paddr: 0x300_0000 + 36 }),
            ]
        );
    }

    #[test]
    fn root_table_problems_are_errors() {
        let mut bad_root = rsdt(&[HPET]);
        bad_root[36] ^= 1;
        let err = scan_tables(&mut qemu_pc().with(RSDT, bad_root), &qemu_rsdp());
        assert_eq!(err, Err(AcpiError::BadChecksum { signature: *b"RSDT", paddr: RSDT }));

        let err = tables(&mut qemu_pc().with(RSDT, xsdt(&[HPET])), &qemu_rsdp());
        assert_eq!(err, Err(AcpiError::WrongSignature { paddr: RSDT, expected: *b"RSDT", found: *b"XSDT" }));

        let nowhere = Rsdp { revision: 0, rsdt_address: 0, xsdt_address: None, paddr: BIOS_RSDP };
        assert_eq!(tables(&mut qemu_pc(), &nowhere), Err(AcpiError::NoRootTable));

        let unmapped = Rsdp { rsdt_address: 0x4000_0000, ..qemu_rsdp() };
        assert_eq!(tables(&mut qemu_pc(), &unmapped), Err(AcpiError::Unreadable { paddr: 0x4000_0000 }));
    }

    #[test]
    fn the_root_table_length_bounds_its_entries() {
        let mut root = rsdt(&[HPET, APIC]);
        // Two bytes of a third entry: a partial entry is not read.
        root.extend_from_slice(&[0x00, 0x30]);
        let length = root.len() as u32;
        root[4..8].copy_from_slice(&length.to_le_bytes());
        fix_checksum(&mut root, 9);
        // Bytes after the table's end (another entry) are not part of it.
        root.extend_from_slice(&(FACP as u32).to_le_bytes());
        let mut mem = qemu_pc().with(RSDT, root);
        assert_eq!(signatures(&tables(&mut mem, &qemu_rsdp()).unwrap()), ["HPET", "APIC"]);
    }

    #[test]
    fn a_truncated_hpet_table_is_an_error() {
        let mut mem = qemu_pc().with(HPET, table(b"HPET", &hpet_table()[36..50]));
        assert_eq!(
            hpet(&mut mem, &qemu_rsdp()),
            Err(AcpiError::Truncated { signature: *b"HPET", paddr: HPET, length: 50, needed: 56 })
        );
    }

    #[test]
    fn an_hpet_outside_system_memory_is_an_error() {
        let mut io_hpet = hpet_table();
        io_hpet[40] = 1; // system I/O space
        fix_checksum(&mut io_hpet, 9);
        let mut mem = qemu_pc().with(HPET, io_hpet);
        assert_eq!(
            hpet(&mut mem, &qemu_rsdp()),
            Err(AcpiError::UnsupportedHpet { address_space: 1, address: 0xFED0_0000 })
        );
    }

    #[test]
    fn missing_tables_are_none() {
        let mut mem = qemu_pc().with(RSDT, rsdt(&[FACP]));
        assert_eq!(hpet(&mut mem, &qemu_rsdp()), Ok(None));
        assert_eq!(madt(&mut mem, &qemu_rsdp()), Ok(None));
    }

    fn madt_error(entries: &[Vec<u8>]) -> Result<Option<Madt>, AcpiError> {
        madt(&mut qemu_pc().with(APIC, table(b"APIC", &madt_body(entries))), &qemu_rsdp())
    }

    #[test]
    fn a_madt_entry_of_length_zero_is_an_error_not_a_loop() {
        let mut entries = qemu_madt_entries();
        entries.insert(2, vec![MADT_OVERRIDE, 0]);
        let table_length = 36 + 8 + entries.iter().map(|e| e.len() as u32).sum::<u32>();
        assert_eq!(
            madt_error(&entries),
            Err(AcpiError::BadMadtEntry {
                paddr: APIC,
                offset: 44 + 8 + 12,
                entry_type: 2,
                entry_length: 0,
                table_length
            })
        );
    }

    #[test]
    fn malformed_madt_entries_are_errors() {
        // Runs past the end of the table.
        let err = madt_error(&[vec![MADT_OVERRIDE, 10, 0, 0]]);
        assert!(matches!(err, Err(AcpiError::BadMadtEntry { entry_length: 10, table_length: 48, .. })), "{err:?}");
        // Too short for an IOAPIC.
        let err = madt_error(&[madt_entry(MADT_IOAPIC, &[0; 6])]);
        assert!(matches!(err, Err(AcpiError::BadMadtEntry { entry_type: 1, entry_length: 8, .. })), "{err:?}");
        // A lone trailing byte.
        let err = madt_error(&[override_entry(0, 2, 0), vec![0]]);
        assert!(matches!(err, Err(AcpiError::BadMadtEntry { offset: 54, entry_length: 0, .. })), "{err:?}");
        // A MADT too short for its local APIC address.
        let err = madt(&mut qemu_pc().with(APIC, table(b"APIC", &[0; 2])), &qemu_rsdp());
        assert_eq!(err, Err(AcpiError::Truncated { signature: *b"APIC", paddr: APIC, length: 38, needed: 40 }));
    }

    #[test]
    fn unknown_and_longer_madt_entries_are_skipped_over() {
        let mut long_ioapic = vec![7, 0];
        long_ioapic.extend_from_slice(&0xFEC1_0000u32.to_le_bytes());
        long_ioapic.extend_from_slice(&24u32.to_le_bytes());
        long_ioapic.extend_from_slice(&[0xAA; 4]); // a future revision's extra field
        let madt = madt_error(&[madt_entry(0x7F, &[0; 30]), madt_entry(MADT_IOAPIC, &long_ioapic)]).unwrap().unwrap();
        assert_eq!(madt.ioapics, [IoApic { id: 7, address: 0xFEC1_0000, gsi_base: 24 }]);
    }

    #[test]
    fn errors_name_the_table_and_what_to_check() {
        let text = AcpiError::BadChecksum { signature: *b"HPET", paddr: 0x7FE_2000 }.to_string();
        assert!(text.contains("\"HPET\"") && text.contains("0x7fe2000") && text.contains("checksum"), "{text}");
        let text = AcpiError::WrongSignature { paddr: 0, expected: *b"XSDT", found: [0xFF, b'A', 0, b' '] }.to_string();
        assert!(text.contains("\"\\xffA\\x00 \""), "{text}");
        for error in [
            AcpiError::Unreadable { paddr: 1 },
            AcpiError::RsdpNotFound,
            AcpiError::BadRsdp { paddr: 1 },
            AcpiError::NoRootTable,
            AcpiError::Truncated { signature: *b"APIC", paddr: 1, length: 2, needed: 3 },
            AcpiError::TooLong { signature: *b"APIC", paddr: 1, length: 2 },
            AcpiError::BadMadtEntry { paddr: 1, offset: 2, entry_type: 3, entry_length: 0, table_length: 5 },
            AcpiError::UnsupportedHpet { address_space: 1, address: 2 },
        ] {
            assert!(error.to_string().contains(';'), "{error}: says the cause but not what to check");
        }
    }
}
