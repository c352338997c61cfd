//! Checking a static x86_64 Linux executable and planning its address space.
//!
//! [`ElfPlan::parse`] reads an ELF file the way Linux's `binfmt_elf` does for a static
//! binary and returns what a loader needs: the `PT_LOAD` segments with their
//! permissions, the entry point, where the program headers land in memory (for
//! `AT_PHDR`, which glibc's static startup reads to find `PT_TLS`), and the TLS
//! template. It accepts two kinds of file:
//!
//! * `ET_EXEC` ([`ElfKind::Exec`]): linked at fixed addresses, such as Debian's
//!   busybox-static at `0x400000`;
//! * `ET_DYN` without `PT_INTERP` ([`ElfKind::StaticPie`]): a static PIE, such as a Rust
//!   program built with `-C target-feature=+crt-static`, linked from address 0. Its
//!   own startup code applies its relocations, so the loader only picks a bias and
//!   calls [`ElfPlan::rebased`].
//!
//! Everything is checked before anything is trusted: a plan's segments lie inside the
//! file and below [`USER_TOP`], do not share pages, and the entry point is in an
//! executable one. The file's headers are copied into an 8-byte-aligned buffer before
//! `xmas-elf` reads them, because `xmas-elf` asserts on alignment and bounds that a file
//! read from disk into an arbitrary slice does not guarantee.

use alloc::vec::Vec;
use core::fmt;
use xmas_elf::program::{ProgramHeader, Type};

/// The page size the plan is rounded to (x86_64's base page).
pub const PAGE_SIZE: u64 = 4096;

/// The end of user address space on x86_64 Linux (`TASK_SIZE_MAX`, 47-bit addresses less
/// one guard page); no segment may reach above it.
pub const USER_TOP: u64 = 0x7fff_ffff_f000;

/// The size of the x86_64 ELF header.
const EHDR_SIZE: u64 = 64;
/// The size of one x86_64 program header (`Elf64_Phdr`).
const PHENT_SIZE: u64 = 56;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;

/// How the executable is linked, which decides whether the loader picks a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: load at the addresses in the file, with no bias.
    Exec,
    /// `ET_DYN` with no `PT_INTERP`: a static PIE. Its addresses start near 0; load it
    /// at any page-aligned bias with [`ElfPlan::rebased`].
    StaticPie,
}

/// One `PT_LOAD` segment: `file_size` bytes from `file_offset` in the file go to
/// `vaddr`, and the rest up to `mem_size` is zero (`.bss`).
///
/// `vaddr` need not be page aligned: it is congruent to `file_offset` modulo
/// [`PAGE_SIZE`], so the segment occupies the pages from `vaddr` rounded down to
/// `vaddr + mem_size` rounded up ([`Segment::pages`]), and no two segments of a plan
/// share a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where the segment's first byte goes.
    pub vaddr: u64,
    /// The segment's size in memory, at least `file_size`.
    pub mem_size: u64,
    /// Where its initialised bytes start in the file.
    pub file_offset: u64,
    /// How many initialised bytes it has; the rest of `mem_size` is zero.
    pub file_size: u64,
    /// Mapped readable (`PF_R`).
    pub read: bool,
    /// Mapped writable (`PF_W`).
    pub write: bool,
    /// Mapped executable (`PF_X`); the `syscall`s to patch are in these.
    pub execute: bool,
}

impl Segment {
    /// The address just past the segment's last byte in memory.
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.mem_size)
    }

    /// The page-aligned range of addresses the segment's pages cover.
    pub fn pages(&self) -> core::ops::Range<u64> {
        page_down(self.vaddr)..page_up(self.end())
    }

    /// The segment's initialised bytes in `file` (the file the plan was parsed from), or
    /// `None` if `file` is not that long.
    pub fn file_bytes<'f>(&self, file: &'f [u8]) -> Option<&'f [u8]> {
        let start = usize::try_from(self.file_offset).ok()?;
        let len = usize::try_from(self.file_size).ok()?;
        file.get(start..start.checked_add(len)?)
    }

    /// Whether `addr` lies within the segment in memory.
    pub fn contains(&self, addr: u64) -> bool {
        self.vaddr <= addr && addr < self.end()
    }
}

/// The thread-local storage template (`PT_TLS`): each thread's TLS block starts as a
/// copy of `file_size` bytes at `vaddr` (inside a loaded segment) followed by zeroes up
/// to `mem_size`, aligned to `align`.
///
/// A static binary's libc sets up its own TLS from this (glibc finds it through
/// `AT_PHDR`); the loader needs it only to set up threads itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls {
    /// Where the initialised template lies once the segments are loaded.
    pub vaddr: u64,
    /// The initialised part (`.tdata`).
    pub file_size: u64,
    /// The whole block (`.tdata` and `.tbss`).
    pub mem_size: u64,
    /// The block's alignment, a power of two (0 and 1 both mean none).
    pub align: u64,
}

/// What a loader needs to start a static executable; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfPlan {
    /// Whether the loader picks a bias.
    pub kind: ElfKind,
    /// Where the first instruction is (`AT_ENTRY`, and the initial RIP).
    pub entry: u64,
    /// The `PT_LOAD` segments with memory, in the file's order (ascending addresses).
    pub segments: Vec<Segment>,
    /// Where the program headers are in memory (`AT_PHDR`).
    pub phdr_vaddr: u64,
    /// The size of one program header (`AT_PHENT`, always 56).
    pub phent: u64,
    /// How many program headers there are (`AT_PHNUM`).
    pub phnum: u64,
    /// The TLS template, if the binary has `PT_TLS`.
    pub tls: Option<Tls>,
}

impl ElfPlan {
    /// Checks `file` as a static x86_64 executable and plans its segments, with the
    /// addresses as they are in the file (no bias, even for a static PIE).
    pub fn parse(file: &[u8]) -> Result<ElfPlan, ElfError> {
        let header = Header::read(file)?;
        let copy = aligned_copy(file, header.table_end());
        let elf = xmas_elf::ElfFile::new(bytemuck::cast_slice(&copy)).map_err(ElfError::Malformed)?;
        let mut loads = Vec::new();
        let mut phdr = None;
        let mut tls = None;
        for (index, ph) in elf.program_iter().enumerate() {
            match ph.get_type() {
                Ok(Type::Load) => {
                    let segment = load_segment(index, &ph, file.len() as u64)?;
                    if segment.mem_size > 0 {
                        loads.push((index, segment));
                    }
                }
                Ok(Type::Interp) => return Err(ElfError::DynamicallyLinked),
                Ok(Type::Phdr) => phdr = Some(ph.virtual_addr()),
                Ok(Type::Tls) if tls.is_some() => return Err(ElfError::Malformed("it has two PT_TLS headers")),
                Ok(Type::Tls) => tls = Some(tls_segment(&ph)?),
                // Linux ignores the other types (notes, GNU_STACK, RELRO, unknown ones).
                _ => {}
            }
        }
        check_overlaps(&loads)?;
        let segments: Vec<Segment> = loads.into_iter().map(|(_, segment)| segment).collect();
        if segments.is_empty() {
            return Err(ElfError::NoLoadSegment);
        }
        if !segments.iter().any(|s| s.execute && s.contains(header.entry)) {
            return Err(ElfError::EntryNotExecutable { entry: header.entry });
        }
        let table_len = header.phnum * PHENT_SIZE;
        let phdr_vaddr = match phdr {
            Some(vaddr) => vaddr,
            None => vaddr_of_offset(&segments, header.phoff, table_len).ok_or(ElfError::HeadersNotLoaded)?,
        };
        if !file_backed(&segments, phdr_vaddr, table_len) {
            return Err(ElfError::HeadersNotLoaded);
        }
        if let Some(t) = tls {
            if !file_backed(&segments, t.vaddr, t.file_size) {
                return Err(ElfError::BadTls("its initialised part is not inside a loaded segment's file data"));
            }
        }
        Ok(ElfPlan {
            kind: header.kind,
            entry: header.entry,
            segments,
            phdr_vaddr,
            phent: PHENT_SIZE,
            phnum: header.phnum,
            tls,
        })
    }

    /// The plan with `bias` added to every address (segments, entry, program headers,
    /// TLS template), for loading a [`ElfKind::StaticPie`] at `bias`.
    ///
    /// `bias` should be page aligned, and `self.end() + bias` at most [`USER_TOP`]; the
    /// caller checks that (addition wraps rather than panics on a bad bias).
    pub fn rebased(&self, bias: u64) -> ElfPlan {
        let segments = self.segments.iter().map(|s| Segment { vaddr: s.vaddr.wrapping_add(bias), ..*s }).collect();
        ElfPlan {
            kind: self.kind,
            entry: self.entry.wrapping_add(bias),
            segments,
            phdr_vaddr: self.phdr_vaddr.wrapping_add(bias),
            phent: self.phent,
            phnum: self.phnum,
            tls: self.tls.map(|t| Tls { vaddr: t.vaddr.wrapping_add(bias), ..t }),
        }
    }

    /// The first page-aligned address above every segment: where the program break
    /// (`brk`) starts.
    pub fn end(&self) -> u64 {
        self.segments.iter().map(|s| page_up(s.end())).max().unwrap_or(0)
    }
}

/// Why a file cannot be run as a static x86_64 Linux executable.
///
/// `index` fields count program headers from 0 in the file's order, as
/// `readelf -l` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with the ELF magic `\x7fELF`.
    NotElf,
    /// The file has the magic but is shorter than an ELF header.
    Truncated,
    /// `EI_CLASS` or `EI_DATA` is not 64-bit little-endian.
    Not64BitLittleEndian { class: u8, data: u8 },
    /// `e_machine` is not x86_64 (62).
    NotX86_64 { machine: u16 },
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN` (an object file, a core dump...).
    NotExecutable { e_type: u16 },
    /// The program header table is missing, misplaced or not 56-byte entries.
    BadProgramHeaders(&'static str),
    /// The file has `PT_INTERP`: it needs a dynamic linker.
    DynamicallyLinked,
    /// A segment's file data runs past the end of the file.
    SegmentPastFile { index: usize, offset: u64, file_size: u64, file_len: u64 },
    /// A segment has more bytes in the file than in memory.
    FileSizeExceedsMemSize { index: usize, file_size: u64, mem_size: u64 },
    /// A segment's address and file offset differ modulo the page size, so its pages
    /// cannot be mapped from the file's pages.
    NotPageCongruent { index: usize, vaddr: u64, offset: u64 },
    /// Two segments (program headers `first` and `second`) overlap or share a page.
    Overlapping { first: usize, second: usize },
    /// A segment reaches above [`USER_TOP`] (or wraps around the address space).
    AboveUserSpace { index: usize, vaddr: u64, mem_size: u64 },
    /// There is no `PT_LOAD` segment with memory.
    NoLoadSegment,
    /// The entry point is not inside any executable segment.
    EntryNotExecutable { entry: u64 },
    /// The program headers are not inside a loaded segment, so `AT_PHDR` cannot point
    /// at them.
    HeadersNotLoaded,
    /// `PT_TLS` is inconsistent.
    BadTls(&'static str),
    /// Something else is inconsistent (the reason is in the field).
    Malformed(&'static str),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const RELINK: &str = "relink it with a standard linker (GNU ld, lld)";
        match *self {
            ElfError::NotElf => write!(f, "not an ELF file (no \\x7fELF magic); give the path of a Linux executable"),
            ElfError::Truncated => write!(f, "the ELF file is shorter than its 64-byte header; the file is truncated"),
            ElfError::Not64BitLittleEndian { class, data } => {
                write!(f, "not a 64-bit little-endian ELF file (class {class}, data {data}); build it for x86_64-linux")
            }
            ElfError::NotX86_64 { machine } => {
                write!(f, "not an x86_64 ELF file (e_machine {machine}); build it for x86_64-linux")
            }
            ElfError::NotExecutable { e_type } => write!(
                f,
                "not an executable (e_type {e_type}: an object file, core dump or other); link it into a program"
            ),
            ElfError::BadProgramHeaders(why) => write!(f, "bad program header table: {why}; {RELINK}"),
            ElfError::DynamicallyLinked => write!(
                f,
                "the executable is dynamically linked (it has PT_INTERP); KaaL runs static binaries; link with \
                 -static (musl-gcc -static, or RUSTFLAGS='-C target-feature=+crt-static')"
            ),
            ElfError::SegmentPastFile { index, offset, file_size, file_len } => write!(
                f,
                "segment {index}'s file data ({file_size:#x} bytes at offset {offset:#x}) runs past the end of the \
                 {file_len:#x}-byte file; the file is truncated or damaged"
            ),
            ElfError::FileSizeExceedsMemSize { index, file_size, mem_size } => write!(
                f,
                "segment {index} has more bytes in the file ({file_size:#x}) than in memory ({mem_size:#x}); \
                 the file is damaged, {RELINK}"
            ),
            ElfError::NotPageCongruent { index, vaddr, offset } => write!(
                f,
                "segment {index}'s address {vaddr:#x} and file offset {offset:#x} differ modulo the 4 KiB page, \
                 so it cannot be mapped; {RELINK}"
            ),
            ElfError::Overlapping { first, second } => write!(
                f,
                "segments {first} and {second} overlap or share a page, and a page has one set of permissions; \
                 {RELINK} without -N/-n"
            ),
            ElfError::AboveUserSpace { index, vaddr, mem_size } => write!(
                f,
                "segment {index} ({mem_size:#x} bytes at {vaddr:#x}) reaches above user space ({USER_TOP:#x}); \
                 link it at a lower address"
            ),
            ElfError::NoLoadSegment => {
                write!(f, "the file has no PT_LOAD segment, so there is nothing to run; {RELINK}")
            }
            ElfError::EntryNotExecutable { entry } => write!(
                f,
                "the entry point {entry:#x} is not inside an executable segment; the file is damaged or a shared \
                 library, link a program instead"
            ),
            ElfError::HeadersNotLoaded => write!(
                f,
                "the program headers are not inside a loaded segment, so AT_PHDR cannot point at them; {RELINK}"
            ),
            ElfError::BadTls(why) => write!(f, "bad PT_TLS segment: {why}; {RELINK}"),
            ElfError::Malformed(why) => write!(f, "malformed ELF file: {why}; the file is damaged, {RELINK}"),
        }
    }
}

impl core::error::Error for ElfError {}

/// The ELF header fields the plan needs, read and checked without `xmas-elf`.
struct Header {
    kind: ElfKind,
    entry: u64,
    phoff: u64,
    phnum: u64,
}

impl Header {
    /// Reads and checks the ELF header of `file`, including that the program header
    /// table lies inside the file, so `xmas-elf` can then read it without asserting.
    fn read(file: &[u8]) -> Result<Header, ElfError> {
        if file.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err(ElfError::NotElf);
        }
        if (file.len() as u64) < EHDR_SIZE {
            return Err(ElfError::Truncated);
        }
        let (class, data) = (byte(file, 4), byte(file, 5));
        if class != ELFCLASS64 || data != ELFDATA2LSB {
            return Err(ElfError::Not64BitLittleEndian { class, data });
        }
        let machine = le_u16(file, 18);
        if machine != EM_X86_64 {
            return Err(ElfError::NotX86_64 { machine });
        }
        let kind = match le_u16(file, 16) {
            ET_EXEC => ElfKind::Exec,
            ET_DYN => ElfKind::StaticPie,
            e_type => return Err(ElfError::NotExecutable { e_type }),
        };
        let header = Header { kind, entry: le_u64(file, 24), phoff: le_u64(file, 32), phnum: le_u16(file, 56).into() };
        header.check_table(le_u16(file, 54).into(), file.len() as u64)?;
        Ok(header)
    }

    /// Checks that the program header table is 56-byte entries, 8-byte aligned, after
    /// the ELF header and inside the file.
    fn check_table(&self, phentsize: u64, file_len: u64) -> Result<(), ElfError> {
        if self.phnum == 0 {
            return Err(ElfError::NoLoadSegment);
        }
        if phentsize != PHENT_SIZE {
            return Err(ElfError::BadProgramHeaders("entries are not 56 bytes (e_phentsize)"));
        }
        if self.phoff < EHDR_SIZE || !self.phoff.is_multiple_of(8) {
            return Err(ElfError::BadProgramHeaders("e_phoff is inside the ELF header or not 8-byte aligned"));
        }
        if self.phoff.checked_add(self.phnum * PHENT_SIZE).is_none_or(|end| end > file_len) {
            return Err(ElfError::BadProgramHeaders("the table runs past the end of the file"));
        }
        Ok(())
    }

    /// The file offset just past the program header table (checked to be in the file).
    fn table_end(&self) -> usize {
        (self.phoff + self.phnum * PHENT_SIZE) as usize
    }
}

/// The first `len` bytes of `file` (checked by [`Header::read`] to be there) in 8-byte
/// words, so that `xmas-elf`, which asserts its structs are aligned, can read them
/// whatever the alignment of `file`. The last word is zero-padded; `xmas-elf` reads only
/// the header and the table, which end on a word boundary.
fn aligned_copy(file: &[u8], len: usize) -> Vec<u64> {
    let head = file.get(..len).unwrap_or(file);
    head.chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect()
}

/// Checks one `PT_LOAD` header (`index` in the table) against a file of `file_len` bytes.
fn load_segment(index: usize, ph: &ProgramHeader<'_>, file_len: u64) -> Result<Segment, ElfError> {
    let (vaddr, mem_size, offset, file_size) = (ph.virtual_addr(), ph.mem_size(), ph.offset(), ph.file_size());
    if offset.checked_add(file_size).is_none_or(|end| end > file_len) {
        return Err(ElfError::SegmentPastFile { index, offset, file_size, file_len });
    }
    if file_size > mem_size {
        return Err(ElfError::FileSizeExceedsMemSize { index, file_size, mem_size });
    }
    if vaddr % PAGE_SIZE != offset % PAGE_SIZE {
        return Err(ElfError::NotPageCongruent { index, vaddr, offset });
    }
    if vaddr.checked_add(mem_size).is_none_or(|end| end > USER_TOP) {
        return Err(ElfError::AboveUserSpace { index, vaddr, mem_size });
    }
    let flags = ph.flags();
    Ok(Segment {
        vaddr,
        mem_size,
        file_offset: offset,
        file_size,
        read: flags.is_read(),
        write: flags.is_write(),
        execute: flags.is_execute(),
    })
}

/// Checks the `PT_TLS` header's own fields (where it lies is checked once the segments
/// are known).
fn tls_segment(ph: &ProgramHeader<'_>) -> Result<Tls, ElfError> {
    let tls = Tls { vaddr: ph.virtual_addr(), file_size: ph.file_size(), mem_size: ph.mem_size(), align: ph.align() };
    if tls.file_size > tls.mem_size {
        return Err(ElfError::BadTls("its initialised part is larger than the whole block"));
    }
    if tls.align > 1 && !tls.align.is_power_of_two() {
        return Err(ElfError::BadTls("its alignment is not a power of two"));
    }
    Ok(tls)
}

/// Fails if any two segments (each with its program header index) overlap or share a
/// page. They are sorted by address first, as the ELF specification requires them to
/// be already.
fn check_overlaps(loads: &[(usize, Segment)]) -> Result<(), ElfError> {
    let mut sorted: Vec<&(usize, Segment)> = loads.iter().collect();
    sorted.sort_by_key(|(_, segment)| segment.vaddr);
    for pair in sorted.windows(2) {
        if let [&(a, first), &(b, second)] = pair {
            if first.pages().end > second.pages().start {
                return Err(ElfError::Overlapping { first: a.min(b), second: a.max(b) });
            }
        }
    }
    Ok(())
}

/// The address at which the `len` bytes at file offset `offset` are loaded, if one
/// segment's file data holds them all.
fn vaddr_of_offset(segments: &[Segment], offset: u64, len: u64) -> Option<u64> {
    segments
        .iter()
        .find(|s| s.file_offset <= offset && offset.saturating_add(len) <= s.file_offset + s.file_size)
        .map(|s| s.vaddr + (offset - s.file_offset))
}

/// Whether the `len` bytes at `vaddr` are all inside one segment's file-backed part, so
/// they hold the file's bytes once loaded.
fn file_backed(segments: &[Segment], vaddr: u64, len: u64) -> bool {
    segments.iter().any(|s| s.vaddr <= vaddr && vaddr.saturating_add(len) <= s.vaddr + s.file_size)
}

fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// `addr` rounded up to a page; the last page if that would overflow.
fn page_up(addr: u64) -> u64 {
    page_down(addr.saturating_add(PAGE_SIZE - 1))
}

fn byte(file: &[u8], at: usize) -> u8 {
    file.get(at).copied().unwrap_or(0)
}

fn le_u16(file: &[u8], at: usize) -> u16 {
    let bytes = file.get(at..at + 2).and_then(|b| b.try_into().ok()).unwrap_or([0; 2]);
    u16::from_le_bytes(bytes)
}

fn le_u64(file: &[u8], at: usize) -> u64 {
    let bytes = file.get(at..at + 8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    const PT_LOAD: u32 = 1;
    const PT_INTERP: u32 = 3;
    const PT_PHDR: u32 = 6;
    const PT_TLS: u32 = 7;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const R: u32 = 4;
    const W: u32 = 2;
    const X: u32 = 1;

    /// One program header for [`image`].
    #[derive(Clone, Copy)]
    struct Ph {
        kind: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        file_size: u64,
        mem_size: u64,
        align: u64,
    }

    fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Ph {
        Ph { kind: PT_LOAD, flags, offset, vaddr, file_size, mem_size, align: PAGE_SIZE }
    }

    /// An ELF file of `len` bytes with the given headers at offset 64.
    fn image(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&e_type.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, ph) in phdrs.iter().enumerate() {
            let at = 64 + 56 * i;
            let p = &mut f[at..at + 56];
            p[0..4].copy_from_slice(&ph.kind.to_le_bytes());
            p[4..8].copy_from_slice(&ph.flags.to_le_bytes());
            p[8..16].copy_from_slice(&ph.offset.to_le_bytes());
            p[16..24].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[24..32].copy_from_slice(&ph.vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&ph.file_size.to_le_bytes());
            p[40..48].copy_from_slice(&ph.mem_size.to_le_bytes());
            p[48..56].copy_from_slice(&ph.align.to_le_bytes());
        }
        f
    }

    /// The shape of Debian's busybox-static: ET_EXEC at 0x400000, headers in the first
    /// (read-only) segment, text, rodata, then data+bss with PT_TLS at an unaligned
    /// address, and a GNU_STACK.
    fn busybox_like() -> Vec<u8> {
        image(
            ET_EXEC,
            0x40_1100,
            &[
                load(R, 0, 0x40_0000, 0x300, 0x300),
                load(R | X, 0x1000, 0x40_1000, 0x2000, 0x2000),
                load(R, 0x3000, 0x40_3000, 0x800, 0x800),
                load(R | W, 0x3708, 0x40_4708, 0x100, 0x2000),
                Ph {
                    kind: PT_TLS,
                    flags: R,
                    offset: 0x3708,
                    vaddr: 0x40_4708,
                    file_size: 0x28,
                    mem_size: 0x8a,
                    align: 8,
                },
                Ph { kind: PT_GNU_STACK, flags: R | W, offset: 0, vaddr: 0, file_size: 0, mem_size: 0, align: 16 },
            ],
            0x4000,
        )
    }

    /// The shape of a Rust `+crt-static` binary: ET_DYN from 0 with PT_PHDR, no PT_INTERP.
    fn static_pie_like() -> Vec<u8> {
        image(
            ET_DYN,
            0x1234,
            &[
                Ph { kind: PT_PHDR, flags: R, offset: 64, vaddr: 64, file_size: 3 * 56, mem_size: 3 * 56, align: 8 },
                load(R, 0, 0, 0x400, 0x400),
                load(R | X, 0x1000, 0x1000, 0x800, 0x800),
            ],
            0x2000,
        )
    }

    #[test]
    fn a_busybox_shaped_exec_is_planned_as_linux_would_load_it() {
        let plan = ElfPlan::parse(&busybox_like()).unwrap();
        assert_eq!(plan.kind, ElfKind::Exec);
        assert_eq!(plan.entry, 0x40_1100);
        assert_eq!(plan.segments.len(), 4, "GNU_STACK and TLS are not segments to map");
        let text = plan.segments[1];
        assert!(text.read && text.execute && !text.write);
        let data = plan.segments[3];
        assert!(data.read && data.write && !data.execute);
        assert_eq!((data.vaddr, data.file_offset, data.file_size, data.mem_size), (0x40_4708, 0x3708, 0x100, 0x2000));
        assert_eq!(data.pages(), 0x40_4000..0x40_7000);
        // No PT_PHDR: the headers are at offset 64 of the segment that maps offset 0.
        assert_eq!(plan.phdr_vaddr, 0x40_0040);
        assert_eq!((plan.phent, plan.phnum), (56, 6));
        assert_eq!(plan.tls, Some(Tls { vaddr: 0x40_4708, file_size: 0x28, mem_size: 0x8a, align: 8 }));
        assert_eq!(plan.end(), 0x40_7000, "brk starts at the page after .bss");
    }

    #[test]
    fn a_static_pie_keeps_its_addresses_until_rebased() {
        let plan = ElfPlan::parse(&static_pie_like()).unwrap();
        assert_eq!(plan.kind, ElfKind::StaticPie);
        assert_eq!((plan.entry, plan.phdr_vaddr, plan.end()), (0x1234, 64, 0x2000));
        let moved = plan.rebased(0x5555_0000_0000);
        assert_eq!(moved.entry, 0x5555_0000_1234);
        assert_eq!(moved.phdr_vaddr, 0x5555_0000_0040);
        assert_eq!(moved.segments[1].vaddr, 0x5555_0000_1000);
        assert_eq!(moved.segments[1].file_offset, 0x1000, "file offsets do not move");
        assert_eq!(moved.end(), 0x5555_0000_2000);
        assert_eq!(moved.rebased(0).segments, moved.segments);
    }

    #[test]
    fn a_segment_gives_its_bytes_from_the_file() {
        let mut file = busybox_like();
        file[0x1000..0x1002].copy_from_slice(&[0x0f, 0x05]);
        let plan = ElfPlan::parse(&file).unwrap();
        let text = plan.segments[1].file_bytes(&file).unwrap();
        assert_eq!((text.len(), &text[..2]), (0x2000, &[0x0f, 0x05][..]));
        assert_eq!(plan.segments[1].file_bytes(&file[..0x2000]), None);
    }

    #[test]
    fn a_dynamically_linked_binary_is_refused_with_the_fix() {
        let interp =
            Ph { kind: PT_INTERP, flags: R, offset: 0x200, vaddr: 0x200, file_size: 28, mem_size: 28, align: 1 };
        let file = image(ET_DYN, 0x1000, &[interp, load(R | X, 0, 0, 0x1000, 0x1000)], 0x1000);
        let err = ElfPlan::parse(&file).unwrap_err();
        assert_eq!(err, ElfError::DynamicallyLinked);
        let text = err.to_string();
        assert!(text.contains("KaaL runs static binaries") && text.contains("+crt-static"), "{text}");
    }

    #[test]
    fn headers_that_are_not_elf_x86_64_or_executable_are_named() {
        assert_eq!(ElfPlan::parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert_eq!(ElfPlan::parse(b"\x7fEL"), Err(ElfError::NotElf));
        assert_eq!(ElfPlan::parse(b"\x7fELF\x02\x01"), Err(ElfError::Truncated));
        let mut f = busybox_like();
        f[4] = 1;
        assert_eq!(ElfPlan::parse(&f), Err(ElfError::Not64BitLittleEndian { class: 1, data: 1 }));
        let mut f = busybox_like();
        f[5] = 2;
        assert_eq!(ElfPlan::parse(&f), Err(ElfError::Not64BitLittleEndian { class: 2, data: 2 }));
        let mut f = busybox_like();
        f[18] = 183; // aarch64
        assert_eq!(ElfPlan::parse(&f), Err(ElfError::NotX86_64 { machine: 183 }));
        for e_type in [0u16, 1, 4] {
            let mut f = busybox_like();
            f[16..18].copy_from_slice(&e_type.to_le_bytes());
            assert_eq!(ElfPlan::parse(&f), Err(ElfError::NotExecutable { e_type }));
        }
    }

    #[test]
    fn a_bad_program_header_table_is_refused() {
        let mut f = busybox_like();
        f[54] = 64;
        assert!(matches!(ElfPlan::parse(&f), Err(ElfError::BadProgramHeaders(_))));
        let mut f = busybox_like();
        f[32] = 60;
        assert!(matches!(ElfPlan::parse(&f), Err(ElfError::BadProgramHeaders(_))));
        let mut f = busybox_like();
        f[56..58].copy_from_slice(&500u16.to_le_bytes());
        assert!(matches!(ElfPlan::parse(&f), Err(ElfError::BadProgramHeaders(_))));
        let mut f = busybox_like();
        f[56..58].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(ElfPlan::parse(&f), Err(ElfError::NoLoadSegment));
    }

    #[test]
    fn each_bad_segment_is_named_with_its_index() {
        let headers = load(R, 0, 0x40_0000, 0x200, 0x200);
        let text = load(R | X, 0x1000, 0x40_1000, 0x1000, 0x1000);
        let parse = |extra: Ph| ElfPlan::parse(&image(ET_EXEC, 0x40_1000, &[headers, text, extra], 0x3000));
        assert_eq!(
            parse(load(R, 0x2000, 0x60_0000, 0x1001, 0x2000)),
            Err(ElfError::SegmentPastFile { index: 2, offset: 0x2000, file_size: 0x1001, file_len: 0x3000 })
        );
        assert!(matches!(parse(load(R, u64::MAX, 0x60_0000, 2, 2)), Err(ElfError::SegmentPastFile { .. })));
        assert_eq!(
            parse(load(R, 0x2000, 0x60_0000, 0x100, 0x10)),
            Err(ElfError::FileSizeExceedsMemSize { index: 2, file_size: 0x100, mem_size: 0x10 })
        );
        assert_eq!(
            parse(load(R, 0x2010, 0x60_0000, 0x100, 0x100)),
            Err(ElfError::NotPageCongruent { index: 2, vaddr: 0x60_0000, offset: 0x2010 })
        );
        assert_eq!(
            parse(load(R, 0x2000, USER_TOP - 0x1000, 0x100, 0x1001)),
            Err(ElfError::AboveUserSpace { index: 2, vaddr: USER_TOP - 0x1000, mem_size: 0x1001 })
        );
        assert!(matches!(parse(load(R, 0x2000, 0x60_0000, 0, u64::MAX)), Err(ElfError::AboveUserSpace { .. })));
        assert!(parse(load(R, 0x2000, USER_TOP - 0x1000, 0x100, 0x1000)).is_ok(), "up to USER_TOP is fine");
        let plan = parse(load(R, 0x2000, 0x60_0000, 0, 0)).unwrap();
        assert_eq!(plan.segments.len(), 2, "a PT_LOAD with no memory maps nothing");
    }

    #[test]
    fn segments_may_not_overlap_or_share_a_page() {
        let headers = load(R, 0, 0x40_0000, 0x200, 0x200);
        let text = load(R | X, 0x1000, 0x40_1000, 0x800, 0x800);
        let parse = |extra: Ph| ElfPlan::parse(&image(ET_EXEC, 0x40_1000, &[headers, text, extra], 0x3000));
        assert_eq!(parse(load(R, 0x2000, 0x40_1000, 0x10, 0x10)), Err(ElfError::Overlapping { first: 1, second: 2 }));
        // Disjoint bytes (the text ends at 0x401800), but the same page 0x401000.
        assert_eq!(parse(load(R, 0x2800, 0x40_1800, 0x10, 0x10)), Err(ElfError::Overlapping { first: 1, second: 2 }));
        assert!(parse(load(R, 0x2000, 0x40_2000, 0x10, 0x10)).is_ok(), "the next page is fine");
        // Below the others in memory though last in the file: it reaches page 0x400000.
        assert_eq!(parse(load(R, 0x2000, 0x3f_f000, 0x10, 0x1001)), Err(ElfError::Overlapping { first: 0, second: 2 }));
        assert!(parse(load(R, 0x2000, 0x3f_f000, 0x10, 0x1000)).is_ok());
    }

    #[test]
    fn the_entry_must_be_in_an_executable_segment() {
        let segs = [load(R, 0, 0x40_0000, 0x100, 0x100), load(R | X, 0x1000, 0x40_1000, 0x100, 0x100)];
        for entry in [0, 0x40_0010, 0x40_1100, 0x40_0fff] {
            assert_eq!(
                ElfPlan::parse(&image(ET_EXEC, entry, &segs, 0x2000)),
                Err(ElfError::EntryNotExecutable { entry })
            );
        }
        assert!(ElfPlan::parse(&image(ET_EXEC, 0x40_10ff, &segs, 0x2000)).is_ok());
    }

    #[test]
    fn the_program_headers_must_be_loaded() {
        // The only segment maps offset 0x1000 onwards: the table at offset 64 is not in memory.
        let file = image(ET_EXEC, 0x40_1000, &[load(R | X, 0x1000, 0x40_1000, 0x100, 0x100)], 0x2000);
        assert_eq!(ElfPlan::parse(&file), Err(ElfError::HeadersNotLoaded));
        // A PT_PHDR pointing outside every segment is refused too.
        let phdr = Ph { kind: PT_PHDR, flags: R, offset: 64, vaddr: 0x9000, file_size: 112, mem_size: 112, align: 8 };
        let file = image(ET_EXEC, 0x40_1000, &[phdr, load(R | X, 0, 0x40_0000, 0x2000, 0x2000)], 0x2000);
        assert_eq!(ElfPlan::parse(&file), Err(ElfError::HeadersNotLoaded));
    }

    #[test]
    fn a_bad_tls_template_is_refused() {
        let text = load(R | X, 0, 0x40_0000, 0x1000, 0x1000);
        let tls = |file_size, mem_size, align, vaddr| Ph {
            kind: PT_TLS,
            flags: R,
            offset: 0,
            vaddr,
            file_size,
            mem_size,
            align,
        };
        let parse = |extra: Ph| ElfPlan::parse(&image(ET_EXEC, 0x40_0100, &[text, extra], 0x1000));
        assert!(matches!(parse(tls(0x20, 0x10, 8, 0x40_0800)), Err(ElfError::BadTls(_))));
        assert!(matches!(parse(tls(0x10, 0x20, 24, 0x40_0800)), Err(ElfError::BadTls(_))));
        assert!(matches!(parse(tls(0x10, 0x20, 8, 0x40_0ff8)), Err(ElfError::BadTls(_))));
        assert!(parse(tls(0x10, 0x20, 8, 0x40_0800)).is_ok());
        let file = image(ET_EXEC, 0x40_0100, &[text, tls(8, 8, 8, 0x40_0800), tls(8, 8, 8, 0x40_0800)], 0x1000);
        assert!(matches!(ElfPlan::parse(&file), Err(ElfError::Malformed(_))));
    }

    #[test]
    fn an_unaligned_buffer_parses_the_same() {
        let file = busybox_like();
        let mut shifted = vec![0u8; file.len() + 1];
        shifted[1..].copy_from_slice(&file);
        assert_eq!(ElfPlan::parse(&shifted[1..]), ElfPlan::parse(&file));
    }

    #[test]
    fn every_error_says_what_to_do() {
        let errors = [
            ElfError::NotElf,
            ElfError::Truncated,
            ElfError::Not64BitLittleEndian { class: 1, data: 1 },
            ElfError::NotX86_64 { machine: 3 },
            ElfError::NotExecutable { e_type: 1 },
            ElfError::BadProgramHeaders("x"),
            ElfError::SegmentPastFile { index: 2, offset: 0, file_size: 1, file_len: 0 },
            ElfError::FileSizeExceedsMemSize { index: 2, file_size: 1, mem_size: 0 },
            ElfError::NotPageCongruent { index: 2, vaddr: 0, offset: 1 },
            ElfError::Overlapping { first: 1, second: 2 },
            ElfError::AboveUserSpace { index: 2, vaddr: 0, mem_size: 0 },
            ElfError::NoLoadSegment,
            ElfError::EntryNotExecutable { entry: 0 },
            ElfError::HeadersNotLoaded,
            ElfError::BadTls("x"),
            ElfError::Malformed("x"),
        ];
        for e in errors {
            let text = format!("{e}");
            assert!(text.contains(';') || text.contains(','), "no fix in {text:?}");
        }
    }

    /// Truncations and byte flips of valid files must give errors, never panics.
    #[test]
    fn damaged_files_never_panic() {
        for file in [busybox_like(), static_pie_like()] {
            for len in 0..file.len().min(600) {
                let _ = ElfPlan::parse(&file[..len]);
            }
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..3000 {
                let mut damaged = file.clone();
                for _ in 0..4 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let at = (state % 400) as usize;
                    damaged[at] = (state >> 32) as u8;
                }
                if let Ok(plan) = ElfPlan::parse(&damaged) {
                    assert!(plan.segments.iter().all(|s| s.end() <= USER_TOP && s.file_bytes(&damaged).is_some()));
                }
            }
        }
    }
}
