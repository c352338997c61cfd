//! Starting a program: reading a static ELF binary from the VFS, rewriting its
//! `syscall` instructions, and building a fresh address space with its segments, its
//! heap and its initial stack.
//!
//! Why the rewrite: on seL4 5.0 x86_64 a Linux `syscall` executed by a user thread
//! enters the kernel's fast syscall path, which loses the thread's RSP and takes RDX
//! (Linux's third argument) as a seL4 syscall number, so some argument values would run
//! real seL4 calls. `int 0xA0` (the same two bytes' length) instead raises an
//! UnknownSyscall fault with every register intact, which reaches this server
//! (see `kaal_posix::linux::patch` and ../shared/notes/linux-abi-on-sel4-5.0.md). The
//! file on disk is not changed: the patched copy lives in this server's memory, one per
//! program, shared by every process that runs it.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;

use kaal_core::println;
use kaal_core::process::Registers;
use kaal_posix::fs;
use kaal_posix::linux::abi::errno;
use kaal_posix::linux::elf::{ElfKind, ElfPlan};
use kaal_posix::linux::{patch, stack};

use crate::files;
use crate::mm::{self, Area, Backing, Mm, Pool};

/// The largest program this server loads (its heap holds each program it runs).
pub const MAX_PROGRAM: u64 = 16 << 20;

/// A program, patched, and the pages of its read-only segments (shared by every
/// process that runs it).
pub struct Image {
    pub plan: ElfPlan,
    pub bytes: Rc<Vec<u8>>,
    shared: mm::SharedPages,
}

impl Image {
    /// Reads and patches the program at `path`. A file that is not a static x86_64
    /// executable is ENOEXEC (a shell then runs it as a script), with the reason
    /// printed once.
    pub fn read(path: &str) -> Result<Image, u64> {
        let meta = fs::metadata(path).map_err(|e| files::errno_of(&e))?;
        if meta.is_dir() {
            return Err(errno::EACCES);
        }
        if meta.len() > MAX_PROGRAM {
            println!(
                "[linux] {path}: {} bytes is larger than the {} MiB the loader takes",
                meta.len(),
                MAX_PROGRAM >> 20
            );
            return Err(errno::ENOMEM);
        }
        // The header first: a file that is not an ELF binary (a script, data) is
        // ENOEXEC without reading all of it.
        let mut head = [0u8; 4];
        {
            use kaal_posix::io::Read;
            let mut file = fs::File::open(path).map_err(|e| files::errno_of(&e))?;
            let n = file.read(&mut head).map_err(|e| files::errno_of(&e))?;
            if n < 4 || &head != b"\x7fELF" {
                return Err(errno::ENOEXEC);
            }
        }
        let mut bytes = fs::read(path).map_err(|e| files::errno_of(&e))?;
        let plan = match ElfPlan::parse(&bytes) {
            Ok(plan) => plan,
            Err(why) => {
                println!("[linux] {path}: cannot run it: {why}");
                return Err(errno::ENOEXEC);
            }
        };
        let plan = match plan.kind {
            ElfKind::Exec => plan,
            ElfKind::StaticPie => plan.rebased(mm::PIE_BASE),
        };
        if plan.end() > mm::MMAP_TOP {
            println!(
                "[linux] {path}: its segments end at {:#x}, above the {:#x} KaaL allows",
                plan.end(),
                mm::MMAP_TOP
            );
            return Err(errno::ENOEXEC);
        }
        for segment in plan.segments.iter().filter(|s| s.execute) {
            let (start, len) = (segment.file_offset as usize, segment.file_size as usize);
            let Some(code) = bytes.get_mut(start..start + len) else { return Err(errno::ENOEXEC) };
            let sites = patch::syscall_sites(code, segment.vaddr);
            patch::patch(code, &sites);
        }
        Ok(Image { plan, bytes: Rc::new(bytes), shared: Rc::new(core::cell::RefCell::new(BTreeMap::new())) })
    }
}

/// A new address space running `image` with `argv` and `envp`: its segments mapped
/// (read-only pages shared with other processes running it), its heap after them, its
/// stack at [`mm::STACK_TOP`]; and the registers to start it with.
pub fn exec(
    pool: &mut Pool,
    image: &Image,
    path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<(Mm, Registers), u64> {
    let mut mm = Mm::new(pool)?;
    match load(pool, &mut mm, image, path, argv, envp) {
        Ok(regs) => Ok((mm, regs)),
        Err(e) => {
            mm.clear(pool);
            Err(e)
        }
    }
}

fn load(
    pool: &mut Pool,
    mm: &mut Mm,
    image: &Image,
    path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<Registers, u64> {
    let plan = &image.plan;
    for segment in &plan.segments {
        let pages = segment.pages();
        let prot = (if segment.read || segment.execute { mm::R } else { 0 }) | if segment.write { mm::W } else { 0 };
        // The area's bytes: the file from the page the segment starts in.
        let lead = segment.vaddr - pages.start;
        // Every page is present on first touch: mapping all of busybox's 475 read-only
        // pages at each execve cost about 1.8 M instructions, and `true` touches a few
        // dozen. Writable pages are private; read-only ones are shared by every
        // process running the program.
        let backing = Backing::File {
            data: image.bytes.clone(),
            offset: segment.file_offset - lead,
            limit: segment.file_offset + segment.file_size,
            shared: (!segment.write).then(|| image.shared.clone()),
        };
        mm.add_area(Area { start: pages.start, end: pages.end, prot, backing });
    }
    mm.brk_start = mm::page_ceil(plan.end()).ok_or(errno::ENOEXEC)?;
    mm.brk = mm.brk_start;

    // The stack: its whole reach is an area; the pages holding the arguments are made
    // present now.
    let argv_refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let auxv = stack::standard_auxv(plan, hwcap());
    let random = crate::random::sixteen();
    let image_stack =
        stack::build(mm::STACK_TOP, &argv_refs, &envp_refs, &auxv, random, path.as_bytes()).map_err(|why| {
            println!("[linux] {path}: {why}");
            errno::E2BIG
        })?;
    mm.add_area(Area {
        start: mm::STACK_TOP - mm::STACK_SIZE,
        end: mm::STACK_TOP,
        prot: mm::R | mm::W,
        backing: Backing::Anon,
    });
    mm.write(pool, image_stack.sp, &image_stack.bytes)?;
    Ok(Registers { rip: plan.entry, rsp: image_stack.sp, rflags: 0x202, ..Default::default() })
}

/// CPUID leaf 1's EDX, which `AT_HWCAP` carries on x86.
fn hwcap() -> u64 {
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.edx as u64
}
