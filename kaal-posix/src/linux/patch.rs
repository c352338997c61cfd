//! Rewriting Linux's `syscall` instruction into a trap that reaches a seL4 server.
//!
//! On seL4 5.0 x86_64 a raw `syscall` from user level is unusable for emulation: the
//! kernel's fast-syscall entry does not save the user RSP (the thread resumes with
//! RSP = 0), and RDX, Linux's third argument, is read as a seL4 syscall number, so a
//! value in -8..=-1 (or -13..=-9 on debug kernels, which includes DebugHalt) runs a real
//! seL4 syscall. `int 0xA0` ([`INT_A0`], the same two bytes long as `syscall`'s `0f 05`)
//! instead raises an UnknownSyscall fault with every register intact and FaultIP at the
//! `int`, so the loader rewrites each `syscall` to it and branch targets and relocations
//! stay valid.
//!
//! The sites come from a real decoder, never from a byte search: `0f 05` also occurs
//! inside other instructions (an immediate, a displacement, a ModRM/SIB pair), and
//! rewriting one of those corrupts the program. In Debian's busybox-static, 10 of the
//! 294 raw `0f 05` pairs in the text are not `syscall`s.
//!
//! [`scan`] decodes the code linearly from its start with `iced-x86` in 64-bit mode. A
//! byte that starts no valid instruction is skipped on its own and decoding resumes at
//! the next byte, so data or padding in the text costs at most a short resynchronisation
//! and cannot hide the instructions after it for long. Linear sweep assumes the text is
//! instructions from its first byte, which holds for code from GCC, Clang and rustc on
//! x86_64 (jump tables live in `.rodata`).

use alloc::vec::Vec;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction};

/// The bytes of `syscall`.
pub const SYSCALL: [u8; 2] = [0x0f, 0x05];

/// The bytes of `int 0xA0`, which replace each `syscall`.
pub const INT_A0: [u8; 2] = [0xcd, 0xa0];

/// The interrupt vector of [`INT_A0`]. seL4 reports it in the UnknownSyscall fault's
/// Syscall word as `(VECTOR << 24) | (RAX & 0xff_ffff)`; a fault without it came from a
/// `syscall` that was not patched, after which RSP is lost.
pub const VECTOR: u64 = 0xa0;

/// The system-call instructions found in a piece of code, each as the offset of the
/// instruction's first byte from the start of the code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sites {
    /// `syscall`: the 64-bit Linux ABI, to be rewritten with [`patch`]. A `syscall` with
    /// a redundant prefix is listed too, but [`patch`] leaves it alone (it is not
    /// exactly `0f 05`), so comparing the count [`patch`] returns with this list's
    /// length finds it.
    pub syscall: Vec<usize>,
    /// `int 0x80`: the 32-bit Linux ABI, which a 64-bit binary should not use; worth a
    /// warning.
    pub int80: Vec<usize>,
    /// `sysenter`: the 32-bit fast ABI, invalid in 64-bit Linux processes; worth a
    /// warning.
    pub sysenter: Vec<usize>,
}

/// Finds the system-call instructions in `code`, which is loaded at `vaddr` (the address
/// gives the decoder its instruction pointers; it does not change which instructions are
/// found). See the [module docs](self) for how invalid bytes are handled.
pub fn scan(code: &[u8], vaddr: u64) -> Sites {
    let mut sites = Sites::default();
    let Ok(mut decoder) = Decoder::try_with_ip(64, code, vaddr, DecoderOptions::NONE) else {
        return sites;
    };
    let mut instruction = Instruction::default();
    while decoder.can_decode() {
        let start = decoder.position();
        decoder.decode_out(&mut instruction);
        if instruction.is_invalid() {
            let next = start.saturating_add(1);
            if decoder.set_position(next).is_err() {
                break;
            }
            decoder.set_ip(vaddr.wrapping_add(next as u64));
            continue;
        }
        match instruction.code() {
            Code::Syscall => sites.syscall.push(start),
            Code::Sysenter => sites.sysenter.push(start),
            Code::Int_imm8 if instruction.immediate8() == 0x80 => sites.int80.push(start),
            _ => {}
        }
    }
    sites
}

/// The offsets in `code` (loaded at `vaddr`) of every decoded `syscall` instruction:
/// [`scan`]'s `syscall` list.
pub fn syscall_sites(code: &[u8], vaddr: u64) -> Vec<usize> {
    scan(code, vaddr).syscall
}

/// Rewrites the `syscall` at each offset in `sites` to `int 0xA0` and returns how many
/// it rewrote. A site is rewritten only if its two bytes are exactly `0f 05`, so a site
/// out of range, one already patched, or a prefixed `syscall` is left as it is (and not
/// counted).
pub fn patch(code: &mut [u8], sites: &[usize]) -> usize {
    let mut patched = 0;
    for &site in sites {
        let Some(end) = site.checked_add(SYSCALL.len()) else { continue };
        if let Some(bytes) = code.get_mut(site..end) {
            if *bytes == SYSCALL {
                bytes.copy_from_slice(&INT_A0);
                patched += 1;
            }
        }
    }
    patched
}

/// How many `0f 05` byte pairs `code` holds anywhere, instructions or not: compared with
/// [`scan`]'s count, it tells how many a byte search would have wrongly patched.
pub fn raw_pairs(code: &[u8]) -> usize {
    code.windows(2).filter(|pair| *pair == SYSCALL).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// `mov eax, 60; xor edi, edi; syscall` (exit(0)), as glibc's `_exit` does it.
    const EXIT: [u8; 9] = [0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05];

    #[test]
    fn a_real_syscall_is_found_and_patched() {
        let mut code = EXIT.to_vec();
        let sites = syscall_sites(&code, 0x40_1000);
        assert_eq!(sites, vec![7]);
        assert_eq!(patch(&mut code, &sites), 1);
        assert_eq!(code[7..], INT_A0);
        assert_eq!(code[..7], EXIT[..7], "nothing else changes");
    }

    #[test]
    fn syscall_bytes_inside_other_instructions_are_not_sites() {
        let code = [
            0xb8, 0x0f, 0x05, 0x00, 0x00, // mov eax, 0x50f
            0x48, 0x8d, 0x05, 0x0f, 0x05, 0x00, 0x00, // lea rax, [rip + 0x50f]
            0x48, 0x81, 0xc7, 0x00, 0x0f, 0x05, 0x00, // add rdi, 0x50f00
            0x66, 0x0f, 0x05, // syscall with an operand-size prefix: a site, not patched
        ];
        assert_eq!(raw_pairs(&code), 4);
        let sites = scan(&code, 0);
        assert_eq!(sites.syscall, vec![19]);
        let mut patched = code;
        assert_eq!(patch(&mut patched, &sites.syscall), 0, "a prefixed syscall is not exactly 0f 05");
        assert_eq!(patched, code);
        // A byte search would have corrupted the mov's immediate.
        let mut searched = code;
        assert_eq!(patch(&mut searched, &[1]), 1);
        assert_ne!(searched, code);
    }

    #[test]
    fn the_mov_immediate_is_left_alone_while_the_syscall_after_it_is_patched() {
        let mut code = vec![0xb8, 0x0f, 0x05, 0x00, 0x00]; // mov eax, 0x50f
        code.extend_from_slice(&[0x0f, 0x05]); // syscall
        code.extend_from_slice(&[0xc3]); // ret
        let sites = syscall_sites(&code, 0x1000);
        assert_eq!(sites, vec![5]);
        assert_eq!(patch(&mut code, &sites), 1);
        assert_eq!(code, [0xb8, 0x0f, 0x05, 0x00, 0x00, 0xcd, 0xa0, 0xc3]);
    }

    #[test]
    fn int_0x80_and_sysenter_are_reported_separately() {
        let code = [
            0xcd, 0x80, // int 0x80
            0xcd, 0xa0, // int 0xa0: already patched, not a site
            0x0f, 0x34, // sysenter
            0x0f, 0x05, // syscall
            0xcc, // int3
        ];
        let sites = scan(&code, 0x40_0000);
        assert_eq!(sites, Sites { syscall: vec![6], int80: vec![0], sysenter: vec![4] });
    }

    #[test]
    fn decoding_resumes_one_byte_after_an_invalid_instruction() {
        // 0x06 (push es) is invalid in 64-bit mode; the syscall after it is still found.
        assert_eq!(syscall_sites(&[0x06, 0x0f, 0x05], 0), vec![1], "resumes at the very next byte");
        let mut code = vec![0x06, 0x06, 0x0f, 0x05];
        assert_eq!(syscall_sites(&code, 0), vec![2]);
        // A truncated instruction at the end: the decoder stops without a site.
        code.extend_from_slice(&[0x48, 0xb8, 0x01]);
        assert_eq!(syscall_sites(&code, 0), vec![2]);
        // A lone 0f at the end is not a syscall.
        assert!(syscall_sites(&[0x90, 0x0f], 0).is_empty());
        assert!(syscall_sites(&[], 0).is_empty());
    }

    #[test]
    fn patching_is_idempotent_and_ignores_bad_offsets() {
        let mut code = EXIT.to_vec();
        assert_eq!(patch(&mut code, &[7, 7, 8, 9, usize::MAX]), 1);
        assert_eq!(patch(&mut code, &[7]), 0, "already int 0xa0");
        assert!(syscall_sites(&code, 0).is_empty());
    }

    #[test]
    fn the_instruction_pointer_does_not_change_the_sites() {
        let code = [0xe8, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf9]; // call; syscall; jmp back
        for vaddr in [0, 0x40_0000, u64::MAX - 4] {
            assert_eq!(syscall_sites(&code, vaddr), vec![5], "{vaddr:#x}");
        }
    }
}
