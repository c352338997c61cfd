//! The initial process stack, as Linux's `execve` leaves it for a static binary's
//! `_start`.
//!
//! [`build`] returns the bytes to copy to the top of the new stack and the initial RSP.
//! From high addresses to low:
//!
//! | what | notes |
//! |---|---|
//! | the `execfn` string | `AT_EXECFN` points here; its NUL is the image's last byte |
//! | the environment strings | `envp[0]` lowest |
//! | the argument strings | `argv[0]` lowest |
//! | 16 random bytes | `AT_RANDOM`: glibc seeds its stack protector and pointer guard from them and crashes without them |
//! | `"x86_64"` | `AT_PLATFORM` |
//! | padding | so that RSP is 16-byte aligned |
//! | the auxiliary vector | the given pairs, then `AT_RANDOM`, `AT_EXECFN`, `AT_PLATFORM`, then `AT_NULL` |
//! | `envp` pointers, then 0 | |
//! | `argv` pointers, then 0 | |
//! | `argc` | RSP points here |
//!
//! The x86_64 ABI wants RSP 16-byte aligned at `_start` (not 8 off, as after a `call`),
//! and RDX 0 (no `atexit` function from a dynamic linker); the second is the loader's
//! part.

use super::elf::{ElfPlan, PAGE_SIZE};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// The auxiliary vector's keys (`AT_*` from Linux's `include/uapi/linux/auxvec.h` and
/// the x86 `elf.h`).
pub mod auxv {
    /// Ends the vector.
    pub const AT_NULL: u64 = 0;
    /// The address of the program headers in memory.
    pub const AT_PHDR: u64 = 3;
    /// The size of one program header.
    pub const AT_PHENT: u64 = 4;
    /// The number of program headers.
    pub const AT_PHNUM: u64 = 5;
    /// The page size.
    pub const AT_PAGESZ: u64 = 6;
    /// The dynamic linker's base address (0 for a static binary).
    pub const AT_BASE: u64 = 7;
    /// Flags (0).
    pub const AT_FLAGS: u64 = 8;
    /// The program's entry point.
    pub const AT_ENTRY: u64 = 9;
    /// The real user id.
    pub const AT_UID: u64 = 11;
    /// The effective user id.
    pub const AT_EUID: u64 = 12;
    /// The real group id.
    pub const AT_GID: u64 = 13;
    /// The effective group id.
    pub const AT_EGID: u64 = 14;
    /// The address of the platform string (`"x86_64"`).
    pub const AT_PLATFORM: u64 = 15;
    /// CPU feature bits (CPUID leaf 1, EDX, on x86).
    pub const AT_HWCAP: u64 = 16;
    /// The frequency of `times()` (100).
    pub const AT_CLKTCK: u64 = 17;
    /// Non-zero for a setuid-like start, in which libc distrusts the environment.
    pub const AT_SECURE: u64 = 23;
    /// The address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    /// More CPU feature bits (on x86: bit 1 is FSGSBASE).
    pub const AT_HWCAP2: u64 = 26;
    /// The address of the file name given to `execve`.
    pub const AT_EXECFN: u64 = 31;
}

/// The largest stack image [`build`] makes (strings, pointers and the auxiliary vector).
/// Linux allows a quarter of the stack limit; 128 KiB keeps a process's first stack
/// pages few while passing any ordinary command line.
pub const MAX_IMAGE: usize = 128 * 1024;

/// The `AT_PLATFORM` string, with its NUL.
const PLATFORM: &[u8] = b"x86_64\0";

/// The initial stack: `bytes` go at `sp .. sp + bytes.len()` (the top of the stack, so
/// its last byte is at `top - 1`), and `sp` is the initial RSP, pointing at `argc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackImage {
    /// The contents, lowest address first.
    pub bytes: Vec<u8>,
    /// The initial RSP: 16-byte aligned, equal to `top - bytes.len()`.
    pub sp: u64,
}

/// Why the initial stack cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// The arguments and environment need `needed` bytes, more than `limit`.
    TooBig { needed: usize, limit: usize },
    /// An argument, environment string or the file name has a NUL byte inside, which
    /// would cut it short.
    InteriorNul { what: &'static str, index: usize },
    /// `top` is too low to hold the image below it.
    TopTooLow { top: u64 },
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StackError::TooBig { needed, limit } => write!(
                f,
                "the argument list and environment are too large for the initial stack ({needed} bytes, limit \
                 {limit}); pass fewer or shorter arguments or environment variables"
            ),
            StackError::InteriorNul { what, index } => write!(
                f,
                "{what} {index} contains a NUL byte, which would end it early; remove the NUL (C strings cannot \
                 hold one)"
            ),
            StackError::TopTooLow { top } => {
                write!(f, "the stack top {top:#x} is too low to hold the initial stack; put the stack higher")
            }
        }
    }
}

impl core::error::Error for StackError {}

/// Builds the initial stack below `top` for a process started with `argv` and `envp`
/// (each string without its NUL), the auxiliary vector entries `auxv`, 16 bytes of
/// `random` for `AT_RANDOM`, and `execfn`, the path given to `execve`, for `AT_EXECFN`.
///
/// `AT_RANDOM`, `AT_EXECFN` and `AT_PLATFORM` are added here, pointing into the image;
/// pairs in `auxv` with those keys, or with `AT_NULL` (which would end the vector
/// early), are left out. [`standard_auxv`] gives the rest of what glibc and musl expect.
pub fn build(
    top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    auxv: &[(u64, u64)],
    random: [u8; 16],
    execfn: &[u8],
) -> Result<StackImage, StackError> {
    check_strings("argument", argv)?;
    check_strings("environment string", envp)?;
    check_strings("execfn", &[execfn])?;
    let aux: Vec<(u64, u64)> = auxv.iter().copied().filter(|&(key, _)| !is_ours(key)).collect();
    let layout = Layout::new(top, argv, envp, aux.len(), execfn.len())?;
    let mut image = Writer { bytes: vec![0; layout.len()], sp: layout.sp };

    // The strings, lowest first: platform, random, argv, envp, execfn.
    let mut at = layout.strings;
    let platform = image.put_bytes(&mut at, PLATFORM);
    let random_at = image.put_bytes(&mut at, &random);
    let argv_at: Vec<u64> = argv.iter().map(|s| image.put_c_string(&mut at, s)).collect();
    let envp_at: Vec<u64> = envp.iter().map(|s| image.put_c_string(&mut at, s)).collect();
    let execfn_at = image.put_c_string(&mut at, execfn);

    // The words, from RSP up: argc, argv, envp, auxv.
    let mut at = layout.sp;
    image.put_word(&mut at, argv.len() as u64);
    for &pointer in argv_at.iter().chain([&0]).chain(&envp_at).chain([&0]) {
        image.put_word(&mut at, pointer);
    }
    let ours = [(auxv::AT_RANDOM, random_at), (auxv::AT_EXECFN, execfn_at), (auxv::AT_PLATFORM, platform)];
    for (key, value) in aux.into_iter().chain(ours).chain([(auxv::AT_NULL, 0)]) {
        image.put_word(&mut at, key);
        image.put_word(&mut at, value);
    }
    Ok(StackImage { bytes: image.bytes, sp: layout.sp })
}

/// The auxiliary vector entries a static binary's libc reads, for `plan` (already
/// rebased, for a static PIE) run as user and group 0, with `hwcap` for `AT_HWCAP`
/// (CPUID leaf 1's EDX). Pass it to [`build`], which adds `AT_RANDOM`, `AT_EXECFN` and
/// `AT_PLATFORM`. There is no `AT_SYSINFO_EHDR`: the process has no vDSO, so libc
/// makes real system calls for the time.
pub fn standard_auxv(plan: &ElfPlan, hwcap: u64) -> Vec<(u64, u64)> {
    use auxv::*;
    vec![
        (AT_PHDR, plan.phdr_vaddr),
        (AT_PHENT, plan.phent),
        (AT_PHNUM, plan.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, plan.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_HWCAP, hwcap),
        (AT_HWCAP2, 0),
        (AT_CLKTCK, 100),
    ]
}

/// The keys [`build`] supplies itself.
fn is_ours(key: u64) -> bool {
    matches!(key, auxv::AT_NULL | auxv::AT_RANDOM | auxv::AT_EXECFN | auxv::AT_PLATFORM)
}

fn check_strings(what: &'static str, strings: &[&[u8]]) -> Result<(), StackError> {
    match strings.iter().position(|s| s.contains(&0)) {
        Some(index) => Err(StackError::InteriorNul { what, index }),
        None => Ok(()),
    }
}

/// Where the parts of the image go.
struct Layout {
    /// The initial RSP, the image's lowest address.
    sp: u64,
    /// Where the strings start (the platform string's address).
    strings: u64,
    /// The top.
    top: u64,
}

impl Layout {
    /// Sizes the image for these strings and `aux_pairs` caller-given auxv pairs,
    /// checking it against [`MAX_IMAGE`] before anything is allocated.
    fn new(top: u64, argv: &[&[u8]], envp: &[&[u8]], aux_pairs: usize, execfn: usize) -> Result<Layout, StackError> {
        let too_big = StackError::TooBig { needed: usize::MAX, limit: MAX_IMAGE };
        let c_strings = |strings: &[&[u8]]| strings.iter().try_fold(0usize, |sum, s| sum.checked_add(s.len() + 1));
        let strings = [PLATFORM.len(), 16, execfn.saturating_add(1)]
            .into_iter()
            .map(Some)
            .chain([c_strings(argv), c_strings(envp)])
            .try_fold(0usize, |sum, len| sum.checked_add(len?))
            .ok_or(too_big)?;
        // argc, argv and envp each with a terminating 0, then the auxv pairs: the caller's,
        // our three and AT_NULL.
        let words = [1, argv.len(), 1, envp.len(), 1, aux_pairs, aux_pairs, 8]
            .into_iter()
            .try_fold(0usize, |sum, n| sum.checked_add(n))
            .and_then(|n| n.checked_mul(8))
            .ok_or(too_big)?;
        let needed = strings.checked_add(words).ok_or(too_big)?;
        if needed > MAX_IMAGE {
            return Err(StackError::TooBig { needed, limit: MAX_IMAGE });
        }
        let low = top.checked_sub(needed as u64).ok_or(StackError::TopTooLow { top })?;
        let sp = low & !15;
        let needed = (top - sp) as usize;
        if needed > MAX_IMAGE {
            return Err(StackError::TooBig { needed, limit: MAX_IMAGE });
        }
        Ok(Layout { sp, strings: top - strings as u64, top })
    }

    fn len(&self) -> usize {
        (self.top - self.sp) as usize
    }
}

/// Writes into the image by address.
struct Writer {
    bytes: Vec<u8>,
    sp: u64,
}

impl Writer {
    /// Writes `data` at `*at`, moves `*at` past it and returns where it went. The layout
    /// sized the image for everything written, so the range is always inside it.
    fn put_bytes(&mut self, at: &mut u64, data: &[u8]) -> u64 {
        let start = at.wrapping_sub(self.sp) as usize;
        if let Some(slot) = start.checked_add(data.len()).and_then(|end| self.bytes.get_mut(start..end)) {
            slot.copy_from_slice(data);
        }
        let address = *at;
        *at = at.wrapping_add(data.len() as u64);
        address
    }

    /// Writes `s` and a NUL.
    fn put_c_string(&mut self, at: &mut u64, s: &[u8]) -> u64 {
        let address = self.put_bytes(at, s);
        self.put_bytes(at, &[0]);
        address
    }

    fn put_word(&mut self, at: &mut u64, word: u64) {
        self.put_bytes(at, &word.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::auxv::*;
    use super::*;
    use crate::linux::elf::ElfKind;
    use alloc::string::ToString;

    const TOP: u64 = 0x7fff_ffff_e000;
    const RANDOM: [u8; 16] = *b"0123456789abcdef";

    /// Reads a stack image the way a libc's `_start` does.
    struct Decoded {
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        auxv: Vec<(u64, u64)>,
    }

    fn word(image: &StackImage, address: u64) -> u64 {
        let at = (address - image.sp) as usize;
        u64::from_le_bytes(image.bytes[at..at + 8].try_into().unwrap())
    }

    fn c_string(image: &StackImage, address: u64) -> Vec<u8> {
        let at = (address - image.sp) as usize;
        let len = image.bytes[at..].iter().position(|&b| b == 0).expect("a NUL");
        image.bytes[at..at + len].to_vec()
    }

    fn decode(image: &StackImage) -> Decoded {
        let mut at = image.sp;
        let argc = word(image, at);
        at += 8;
        let mut strings = || {
            let mut out = Vec::new();
            loop {
                let pointer = word(image, at);
                at += 8;
                if pointer == 0 {
                    return out;
                }
                out.push(c_string(image, pointer));
            }
        };
        let argv = strings();
        let envp = strings();
        assert_eq!(argc as usize, argv.len());
        let mut auxv = Vec::new();
        loop {
            let (key, value) = (word(image, at), word(image, at + 8));
            at += 16;
            if key == AT_NULL {
                return Decoded { argv, envp, auxv };
            }
            auxv.push((key, value));
        }
    }

    fn lookup(auxv: &[(u64, u64)], key: u64) -> u64 {
        auxv.iter().find(|&&(k, _)| k == key).map(|&(_, v)| v).expect("the key")
    }

    #[test]
    fn a_libc_reads_back_argc_argv_envp_and_auxv() {
        let argv: [&[u8]; 3] = [b"sh", b"-c", b"echo hi"];
        let envp: [&[u8]; 2] = [b"PATH=/bin", b"HOME=/"];
        let image = build(TOP, &argv, &envp, &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x40_1000)], RANDOM, b"/bin/sh").unwrap();
        assert_eq!(image.sp % 16, 0);
        assert_eq!(image.sp + image.bytes.len() as u64, TOP);
        let decoded = decode(&image);
        assert_eq!(decoded.argv, [b"sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]);
        assert_eq!(decoded.envp, [b"PATH=/bin".to_vec(), b"HOME=/".to_vec()]);
        assert_eq!(lookup(&decoded.auxv, AT_PAGESZ), 4096);
        assert_eq!(lookup(&decoded.auxv, AT_ENTRY), 0x40_1000);
        let random = lookup(&decoded.auxv, AT_RANDOM);
        let at = (random - image.sp) as usize;
        assert_eq!(image.bytes[at..at + 16], RANDOM);
        assert_eq!(c_string(&image, lookup(&decoded.auxv, AT_PLATFORM)), b"x86_64");
        assert_eq!(c_string(&image, lookup(&decoded.auxv, AT_EXECFN)), b"/bin/sh");
        let keys: Vec<u64> = decoded.auxv.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, [AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_EXECFN, AT_PLATFORM]);
    }

    #[test]
    fn the_strings_are_laid_out_from_execfn_at_the_top_down() {
        let image = build(TOP, &[b"a", b"bb"], &[b"E=1"], &[], RANDOM, b"/x").unwrap();
        let decoded = decode(&image);
        let execfn = lookup(&decoded.auxv, AT_EXECFN);
        assert_eq!(execfn, TOP - 3, "\"/x\\0\" ends at top - 1");
        assert_eq!(*image.bytes.last().unwrap(), 0);
        let env0 = word(&image, image.sp + 8 * 4);
        let argv0 = word(&image, image.sp + 8);
        let argv1 = word(&image, image.sp + 16);
        let random = lookup(&decoded.auxv, AT_RANDOM);
        let platform = lookup(&decoded.auxv, AT_PLATFORM);
        assert_eq!(env0, execfn - 4);
        assert_eq!(argv1, env0 - 3);
        assert_eq!(argv0, argv1 - 2);
        assert_eq!(random, argv0 - 16);
        assert_eq!(platform, random - 7);
        // The auxv's AT_NULL ends below the strings, with at most 15 bytes of padding.
        let words = 1 + 3 + 2 + 2 * 4;
        assert!(platform - (image.sp + 8 * words) < 16);
    }

    #[test]
    fn sp_is_16_byte_aligned_for_any_count_and_top() {
        for top in [TOP, TOP - 1, TOP - 8, TOP - 13] {
            for argc in 0..5 {
                let argv: Vec<&[u8]> = (0..argc).map(|_| b"arg".as_slice()).collect();
                let image = build(top, &argv, &[], &[(AT_PAGESZ, 4096)], RANDOM, b"p").unwrap();
                assert_eq!(image.sp % 16, 0, "top {top:#x}, argc {argc}");
                assert_eq!(image.sp + image.bytes.len() as u64, top);
                assert_eq!(decode(&image).argv.len(), argc);
            }
        }
    }

    #[test]
    fn the_keys_build_supplies_are_not_taken_from_the_caller() {
        let given = [(AT_RANDOM, 1), (AT_NULL, 0), (AT_UID, 7), (AT_EXECFN, 2), (AT_PLATFORM, 3)];
        let image = build(TOP, &[b"x"], &[], &given, RANDOM, b"x").unwrap();
        let auxv = decode(&image).auxv;
        assert_eq!(lookup(&auxv, AT_UID), 7, "AT_NULL from the caller did not end the vector");
        assert_eq!(auxv.iter().filter(|&&(k, _)| k == AT_RANDOM).count(), 1);
        assert_ne!(lookup(&auxv, AT_RANDOM), 1);
    }

    #[test]
    fn too_much_is_refused_with_the_limit() {
        let big = vec![b'x'; MAX_IMAGE];
        let err = build(TOP, &[&big], &[], &[], RANDOM, b"x").unwrap_err();
        assert!(matches!(err, StackError::TooBig { needed, limit: MAX_IMAGE } if needed > MAX_IMAGE));
        let text = err.to_string();
        assert!(text.contains("too large") && text.contains("131072"), "{text}");
        let many: Vec<&[u8]> = (0..20_000).map(|_| b"".as_slice()).collect();
        assert!(matches!(build(TOP, &many, &[], &[], RANDOM, b"x"), Err(StackError::TooBig { .. })));
        // Just under the limit passes.
        let fits = vec![b'x'; MAX_IMAGE - 200];
        assert!(build(TOP, &[&fits], &[], &[], RANDOM, b"x").is_ok());
    }

    #[test]
    fn nul_bytes_and_a_low_top_are_refused() {
        assert_eq!(
            build(TOP, &[b"ok", b"a\0b"], &[], &[], RANDOM, b"x"),
            Err(StackError::InteriorNul { what: "argument", index: 1 })
        );
        assert_eq!(
            build(TOP, &[], &[b"A\0"], &[], RANDOM, b"x"),
            Err(StackError::InteriorNul { what: "environment string", index: 0 })
        );
        assert!(matches!(build(TOP, &[], &[], &[], RANDOM, b"\0"), Err(StackError::InteriorNul { .. })));
        assert_eq!(build(64, &[b"x"], &[], &[], RANDOM, b"x"), Err(StackError::TopTooLow { top: 64 }));
    }

    #[test]
    fn the_standard_auxv_describes_the_plan() {
        let plan = ElfPlan {
            kind: ElfKind::Exec,
            entry: 0x40_ebf0,
            segments: Vec::new(),
            phdr_vaddr: 0x40_0040,
            phent: 56,
            phnum: 10,
            tls: None,
        };
        let auxv = standard_auxv(&plan, 0x178b_fbff);
        assert_eq!(lookup(&auxv, AT_PHDR), 0x40_0040);
        assert_eq!(lookup(&auxv, AT_PHNUM), 10);
        assert_eq!(lookup(&auxv, AT_ENTRY), 0x40_ebf0);
        assert_eq!(lookup(&auxv, AT_HWCAP), 0x178b_fbff);
        assert_eq!(lookup(&auxv, AT_PAGESZ), 4096);
        let image = build(TOP, &[b"busybox"], &[], &auxv, RANDOM, b"/bin/busybox").unwrap();
        assert_eq!(decode(&image).auxv.len(), auxv.len() + 3);
    }
}
