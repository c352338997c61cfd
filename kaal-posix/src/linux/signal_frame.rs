//! The signal frame Linux pushes on x86_64 (`struct rt_sigframe`) and reads back at
//! `rt_sigreturn`.
//!
//! To run a handler, the kernel saves the interrupted registers in a frame on the user
//! stack and starts the handler with RSP at the frame, as if the frame's first word,
//! the restorer (libc's `__restore_rt`: `mov $15, %eax; syscall`), had called it. The
//! frame, from its lowest address (the handler's RSP, `sp` below):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | `pretcode`: the restorer, the handler's return address |
//! | [`UCONTEXT_OFFSET`] = 8 | 304 | `struct ucontext`: `uc_flags`, `uc_link`, `uc_stack`, `uc_mcontext` (`struct sigcontext`, the registers), `uc_sigmask` |
//! | [`SIGINFO_OFFSET`] = 312 | 128 | `siginfo_t` |
//!
//! so [`FRAME_SIZE`] is 440 bytes. `sp` is 8 modulo 16, as RSP is just after a `call`,
//! and the frame ends below the interrupted code's 128-byte red zone. `uc_mcontext.fpstate`
//! is 0: no FPU or SSE state is saved, so a handler that changes XMM registers changes
//! them for the interrupted code too (Linux saves them; this is a documented gap).
//!
//! **The address convention at `rt_sigreturn`.** The handler's `ret` pops `pretcode`, so
//! when the restorer's `syscall` traps, the process's RSP is `sp + 8`, pointing at the
//! `ucontext`. As Linux does (`frame = regs->sp - sizeof(long)`), the server reads
//! [`FRAME_SIZE`] bytes at [`frame_address_at_sigreturn`]`(rsp)` = `rsp - 8` and passes
//! them to [`parse_frame`], which reads the frame from its start, `pretcode` included.
//! [`build_frame`] and [`parse_frame`] both take the frame from its first byte.

use super::abi::signal::{SS_DISABLE, UNBLOCKABLE};
use super::elf::USER_TOP;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Where `struct ucontext` starts in the frame (after `pretcode`).
pub const UCONTEXT_OFFSET: usize = 8;
/// Where `uc_mcontext` (`struct sigcontext`, the registers) starts in the frame.
pub const MCONTEXT_OFFSET: usize = UCONTEXT_OFFSET + 40;
/// Where `uc_sigmask` (the signal mask to restore) is in the frame.
pub const SIGMASK_OFFSET: usize = UCONTEXT_OFFSET + 296;
/// Where `siginfo_t` starts in the frame: the handler's second argument (RSI) with
/// `SA_SIGINFO`.
pub const SIGINFO_OFFSET: usize = UCONTEXT_OFFSET + 304;
/// The size of the frame.
pub const FRAME_SIZE: usize = SIGINFO_OFFSET + SIGINFO_SIZE;
/// The size of `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;
/// The bytes below RSP that leaf code may use without moving RSP (the System V x86_64
/// ABI's red zone); the frame goes below them.
pub const RED_ZONE: u64 = 128;

/// `uc_flags`: the frame's `ss` is meaningful and is restored as is (what Linux sets on
/// x86_64: `UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS`).
const UC_FLAGS: u64 = 0x2 | 0x4;
/// The user code and stack segment selectors on x86_64 Linux (`__USER_CS`, `__USER_DS`).
const USER_CS: u16 = 0x33;
const USER_SS: u16 = 0x2b;
/// The flags a process may change through `rt_sigreturn` (Linux's `FIX_EFLAGS`: CF, PF,
/// AF, ZF, SF, TF, DF, OF, RF, AC); the others keep their user-mode values.
pub const FIX_EFLAGS: u64 =
    (1 << 0) | (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11) | (1 << 16) | (1 << 18);
/// The flags user code always runs with: IF (interrupts on) and the reserved bit 1.
pub const USER_EFLAGS: u64 = 0x202;
/// TF and DF, which Linux clears for the handler (it starts with the direction flag
/// clear, as the ABI requires at a function entry, and untraced).
const HANDLER_CLEARS: u64 = (1 << 8) | (1 << 10);

/// The registers a signal frame saves, each field the register of its name, in the
/// order of Linux's x86_64 `struct sigcontext` (which is not the order of seL4's
/// `seL4_UserContext` or of its fault messages: convert field by field).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
}

impl Regs {
    /// The registers as `struct sigcontext` stores them.
    fn to_words(self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.eflags,
        ]
    }

    fn from_words(w: [u64; 18]) -> Regs {
        let [r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags] = w;
        Regs { r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags }
    }
}

/// A `siginfo_t` (128 bytes): the signal number, `si_code` and the fields for the
/// signal's cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigInfo {
    bytes: [u8; SIGINFO_SIZE],
}

impl SigInfo {
    /// Signal `signo` with `si_code` 0 (`SI_USER`) and no sender: all the kernel says
    /// when it has nothing more.
    pub fn new(signo: u32) -> SigInfo {
        let mut info = SigInfo { bytes: [0; SIGINFO_SIZE] };
        info.put(0, &signo.to_le_bytes());
        info
    }

    /// Signal `signo` sent by `kill` from process `pid` of user `uid`.
    pub fn user(signo: u32, pid: u32, uid: u32) -> SigInfo {
        let mut info = SigInfo::new(signo);
        info.put(16, &pid.to_le_bytes());
        info.put(20, &uid.to_le_bytes());
        info
    }

    /// A fault (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`) with `si_code` (for example
    /// `SEGV_MAPERR` = 1) at address `addr`.
    pub fn fault(signo: u32, code: i32, addr: u64) -> SigInfo {
        let mut info = SigInfo::new(signo);
        info.put(8, &code.to_le_bytes());
        info.put(16, &addr.to_le_bytes());
        info
    }

    /// `SIGCHLD` for child `pid` of user `uid` with `si_code` (`CLD_EXITED` = 1,
    /// `CLD_KILLED` = 2, ...) and `status` (the exit code or the signal).
    pub fn child(code: i32, pid: u32, uid: u32, status: i32) -> SigInfo {
        let mut info = SigInfo::user(super::abi::signal::SIGCHLD, pid, uid);
        info.put(8, &code.to_le_bytes());
        info.put(24, &status.to_le_bytes());
        info
    }

    /// `si_signo`.
    pub fn signo(&self) -> u32 {
        u32::from_le_bytes(take(&self.bytes, 0))
    }

    /// The bytes of `siginfo_t`.
    pub fn encode(&self) -> [u8; SIGINFO_SIZE] {
        self.bytes
    }

    fn put(&mut self, at: usize, data: &[u8]) {
        put(&mut self.bytes, at, data);
    }
}

/// Why a frame read back at `rt_sigreturn` cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the frame up to and including `uc_sigmask`.
    Truncated { len: usize, needed: usize },
    /// The saved RIP is not a user address; returning there would fault.
    BadRip { rip: u64 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Truncated { len, needed } => write!(
                f,
                "the signal frame is {len} bytes, less than the {needed} rt_sigreturn reads; read {FRAME_SIZE} \
                 bytes at the process's RSP - 8"
            ),
            FrameError::BadRip { rip } => write!(
                f,
                "the signal frame's saved RIP {rip:#x} is not a user address (the handler overwrote its ucontext); \
                 kill the process with SIGSEGV as Linux would"
            ),
        }
    }
}

impl core::error::Error for FrameError {}

/// Builds the frame for delivering `signo` to a process interrupted with `regs`, whose
/// blocked signals were `blocked_mask` (restored at `rt_sigreturn`), with the handler
/// returning to `restorer` (the action's `sa_restorer`), on the stack whose current top
/// is `sp` (the interrupted RSP, or the top of the alternate stack).
///
/// Returns the frame's bytes and the address to copy them to, which is the handler's
/// RSP. See the [module docs](self) for the layout; [`handler_entry`] gives the
/// handler's registers.
pub fn build_frame(regs: &Regs, signo: u32, blocked_mask: u64, restorer: u64, sp: u64) -> (Vec<u8>, u64) {
    build_frame_with_info(regs, &SigInfo::new(signo), blocked_mask, restorer, sp)
}

/// [`build_frame`] with a full `siginfo_t` (a sender, a fault address).
pub fn build_frame_with_info(regs: &Regs, info: &SigInfo, blocked_mask: u64, restorer: u64, sp: u64) -> (Vec<u8>, u64) {
    let below = sp.wrapping_sub(RED_ZONE).wrapping_sub(FRAME_SIZE as u64);
    let frame_sp = (below & !15).wrapping_sub(8);
    let mut frame = vec![0u8; FRAME_SIZE];
    put(&mut frame, 0, &restorer.to_le_bytes());
    put(&mut frame, UCONTEXT_OFFSET, &UC_FLAGS.to_le_bytes());
    // uc_link 0; uc_stack: ss_sp 0, ss_flags SS_DISABLE, ss_size 0.
    put(&mut frame, UCONTEXT_OFFSET + 24, &SS_DISABLE.to_le_bytes());
    for (i, word) in regs.to_words().into_iter().enumerate() {
        put(&mut frame, MCONTEXT_OFFSET + 8 * i, &word.to_le_bytes());
    }
    // cs, gs, fs, ss; then err, trapno, oldmask, cr2, fpstate (0: no FPU state).
    put(&mut frame, MCONTEXT_OFFSET + 144, &USER_CS.to_le_bytes());
    put(&mut frame, MCONTEXT_OFFSET + 150, &USER_SS.to_le_bytes());
    put(&mut frame, MCONTEXT_OFFSET + 168, &blocked_mask.to_le_bytes());
    put(&mut frame, SIGMASK_OFFSET, &blocked_mask.to_le_bytes());
    put(&mut frame, SIGINFO_OFFSET, &info.encode());
    (frame, frame_sp)
}

/// The registers a handler starts with: `regs` (the interrupted ones) with RDI the
/// signal number, RSI the `siginfo_t` and RDX the `ucontext` in the frame at
/// `frame_sp`, RAX 0, RSP `frame_sp`, RIP `handler`, and TF and DF clear.
pub fn handler_entry(regs: &Regs, signo: u32, handler: u64, frame_sp: u64) -> Regs {
    Regs {
        rdi: signo.into(),
        rsi: frame_sp.wrapping_add(SIGINFO_OFFSET as u64),
        rdx: frame_sp.wrapping_add(UCONTEXT_OFFSET as u64),
        rax: 0,
        rsp: frame_sp,
        rip: handler,
        eflags: regs.eflags & !HANDLER_CLEARS,
        ..*regs
    }
}

/// Where the frame starts when the restorer's `rt_sigreturn` traps with RSP `rsp`: the
/// handler's `ret` has popped `pretcode`, so 8 bytes below.
pub fn frame_address_at_sigreturn(rsp: u64) -> u64 {
    rsp.wrapping_sub(8)
}

/// Reads back what `rt_sigreturn` restores from `frame` (the bytes at
/// [`frame_address_at_sigreturn`], from `pretcode` on): the registers and the signal
/// mask.
///
/// The process may have changed the frame (handlers do, to resume elsewhere), so what
/// comes back is checked as Linux checks it: only the [`FIX_EFLAGS`] flags come from
/// the frame (the rest are [`USER_EFLAGS`]), `SIGKILL` and `SIGSTOP` are never blocked,
/// and a RIP outside user space is an error. `uc_stack` and `fpstate` are not read.
pub fn parse_frame(frame: &[u8]) -> Result<(Regs, u64), FrameError> {
    let needed = SIGMASK_OFFSET + 8;
    if frame.len() < needed {
        return Err(FrameError::Truncated { len: frame.len(), needed });
    }
    let mut words = [0u64; 18];
    for (i, word) in words.iter_mut().enumerate() {
        *word = u64::from_le_bytes(take(frame, MCONTEXT_OFFSET + 8 * i));
    }
    let mut regs = Regs::from_words(words);
    regs.eflags = (regs.eflags & FIX_EFLAGS) | USER_EFLAGS;
    if regs.rip >= USER_TOP {
        return Err(FrameError::BadRip { rip: regs.rip });
    }
    let mask = u64::from_le_bytes(take(frame, SIGMASK_OFFSET)) & !UNBLOCKABLE;
    Ok((regs, mask))
}

fn put(out: &mut [u8], at: usize, data: &[u8]) {
    if let Some(slot) = at.checked_add(data.len()).and_then(|end| out.get_mut(at..end)) {
        slot.copy_from_slice(data);
    }
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(from) = at.checked_add(N).and_then(|end| bytes.get(at..end)) {
        out.copy_from_slice(from);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::abi::signal::{bit, SIGINT, SIGKILL, SIGSEGV, SIGSTOP, SIGTERM};
    use alloc::string::ToString;

    /// Distinct values in every register, so a swapped pair shows.
    fn sample() -> Regs {
        let words: [u64; 18] = core::array::from_fn(|i| 0x1000 + i as u64);
        Regs { rsp: 0x7fff_ffff_d000, rip: 0x40_1234, eflags: 0x246, ..Regs::from_words(words) }
    }

    fn word(frame: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(frame[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn the_frame_has_linuxs_layout() {
        let regs = sample();
        let (frame, sp) = build_frame(&regs, SIGINT, bit(SIGTERM), 0x40_9000, regs.rsp);
        assert_eq!(frame.len(), 440);
        assert_eq!(word(&frame, 0), 0x40_9000, "pretcode: the restorer");
        assert_eq!(word(&frame, 8), 6, "uc_flags");
        assert_eq!((word(&frame, 16), word(&frame, 24)), (0, 0), "uc_link, ss_sp");
        assert_eq!(u32::from_le_bytes(frame[32..36].try_into().unwrap()), 2, "ss_flags SS_DISABLE");
        // struct sigcontext at 48: r8 first, rdi at +64, rsp at +120, rip at +128, eflags at +136.
        assert_eq!(word(&frame, 48), regs.r8);
        assert_eq!(word(&frame, 48 + 56), regs.r15);
        assert_eq!(word(&frame, 48 + 64), regs.rdi);
        assert_eq!(word(&frame, 48 + 104), regs.rax);
        assert_eq!(word(&frame, 48 + 120), regs.rsp);
        assert_eq!(word(&frame, 48 + 128), regs.rip);
        assert_eq!(word(&frame, 48 + 136), regs.eflags);
        assert_eq!(u16::from_le_bytes([frame[48 + 144], frame[48 + 145]]), 0x33, "cs");
        assert_eq!(u16::from_le_bytes([frame[48 + 150], frame[48 + 151]]), 0x2b, "ss");
        assert_eq!(word(&frame, 48 + 168), bit(SIGTERM), "oldmask");
        assert_eq!(word(&frame, 48 + 184), 0, "fpstate: none saved");
        assert_eq!(word(&frame, 304), bit(SIGTERM), "uc_sigmask");
        assert_eq!(u32::from_le_bytes(frame[312..316].try_into().unwrap()), SIGINT, "si_signo");
        assert_eq!((sp + 8) % 16, 0, "as just after a call");
        assert!(sp + 440 <= regs.rsp - 128, "below the red zone");
        assert!(regs.rsp - 128 - (sp + 440) < 24, "but not far below");
    }

    #[test]
    fn the_frame_is_aligned_for_any_stack_pointer() {
        for rsp in (0x7fff_0000_0000u64..0x7fff_0000_0020).chain([0x1000, 0x7fff_ffff_effb]) {
            let (_, sp) = build_frame(&sample(), SIGINT, 0, 0x40_9000, rsp);
            assert_eq!(sp % 16, 8, "{rsp:#x}");
            assert!(sp + FRAME_SIZE as u64 <= rsp - RED_ZONE, "{rsp:#x}");
        }
    }

    #[test]
    fn sigreturn_restores_what_delivery_saved() {
        let regs = sample();
        let mask = bit(SIGTERM) | bit(SIGINT);
        let (frame, sp) = build_frame(&regs, SIGSEGV, mask, 0x40_9000, regs.rsp);
        // The handler ran, `ret` popped pretcode; the restorer traps with RSP = sp + 8.
        let rsp_at_trap = sp + 8;
        assert_eq!(frame_address_at_sigreturn(rsp_at_trap), sp);
        assert_eq!(parse_frame(&frame), Ok((regs, mask)));
        // A longer read (a whole page) parses the same.
        let mut page = frame.clone();
        page.resize(4096, 0xee);
        assert_eq!(parse_frame(&page), Ok((regs, mask)));
    }

    #[test]
    fn a_handler_may_change_the_registers_it_returns_to() {
        let regs = sample();
        let (mut frame, _) = build_frame(&regs, SIGINT, 0, 0x40_9000, regs.rsp);
        frame[48 + 128..48 + 136].copy_from_slice(&0x40_5555u64.to_le_bytes());
        frame[48 + 104..48 + 112].copy_from_slice(&7u64.to_le_bytes());
        let (back, _) = parse_frame(&frame).unwrap();
        assert_eq!((back.rip, back.rax), (0x40_5555, 7));
    }

    #[test]
    fn a_tampered_frame_cannot_raise_privilege_or_block_sigkill() {
        let regs = sample();
        let (mut frame, _) = build_frame(&regs, SIGINT, u64::MAX, 0x40_9000, regs.rsp);
        // IOPL 3 (bits 12-13), NT (14), VM (17), TF (8) and CF (0), IF cleared.
        let hostile: u64 = (3 << 12) | (1 << 14) | (1 << 17) | (1 << 8) | 1;
        frame[48 + 136..48 + 144].copy_from_slice(&hostile.to_le_bytes());
        let (back, mask) = parse_frame(&frame).unwrap();
        assert_eq!(back.eflags, USER_EFLAGS | (1 << 8) | 1, "only TF and CF come from the frame");
        assert_eq!(mask & (bit(SIGKILL) | bit(SIGSTOP)), 0);
        assert_eq!(mask | UNBLOCKABLE, u64::MAX);
    }

    #[test]
    fn bad_frames_are_refused_with_the_cause() {
        let regs = sample();
        let (mut frame, _) = build_frame(&regs, SIGINT, 0, 0x40_9000, regs.rsp);
        assert_eq!(parse_frame(&frame[..311]), Err(FrameError::Truncated { len: 311, needed: 312 }));
        assert!(parse_frame(&frame[..312]).is_ok(), "siginfo is not needed to return");
        assert!(parse_frame(&[]).is_err());
        frame[48 + 128..48 + 136].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes());
        let err = parse_frame(&frame).unwrap_err();
        assert_eq!(err, FrameError::BadRip { rip: 0xffff_8000_0000_0000 });
        assert!(err.to_string().contains("SIGSEGV"));
        assert!(FrameError::Truncated { len: 0, needed: 312 }.to_string().contains("RSP - 8"));
    }

    #[test]
    fn the_handler_starts_with_the_signal_arguments() {
        let regs = Regs { eflags: 0x246 | (1 << 10) | (1 << 8), ..sample() };
        let (_, sp) = build_frame(&regs, SIGSEGV, 0, 0x40_9000, regs.rsp);
        let entry = handler_entry(&regs, SIGSEGV, 0x40_7000, sp);
        assert_eq!((entry.rdi, entry.rsi, entry.rdx), (11, sp + 312, sp + 8));
        assert_eq!((entry.rax, entry.rsp, entry.rip), (0, sp, 0x40_7000));
        assert_eq!(entry.eflags, 0x246, "DF and TF cleared");
        assert_eq!((entry.rbx, entry.r15), (regs.rbx, regs.r15), "the rest are unchanged");
    }

    #[test]
    fn siginfo_carries_its_cause() {
        let (frame, _) = build_frame_with_info(&sample(), &SigInfo::fault(SIGSEGV, 1, 0xdead), 0, 0, 0x7fff_0000);
        let info = &frame[SIGINFO_OFFSET..];
        assert_eq!(u32::from_le_bytes(info[0..4].try_into().unwrap()), 11);
        assert_eq!(i32::from_le_bytes(info[8..12].try_into().unwrap()), 1, "si_code SEGV_MAPERR");
        assert_eq!(word(info, 16), 0xdead, "si_addr");
        let kill = SigInfo::user(SIGTERM, 42, 0).encode();
        assert_eq!(u32::from_le_bytes(kill[16..20].try_into().unwrap()), 42, "si_pid");
        let child = SigInfo::child(1, 43, 0, 3);
        assert_eq!(child.signo(), 17);
        assert_eq!(i32::from_le_bytes(child.encode()[24..28].try_into().unwrap()), 3, "si_status");
    }
}
