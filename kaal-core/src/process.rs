//! Processes that are not KaaL components, for a personality server that runs foreign
//! programs (kaal-posix's Linux personality runs unmodified Linux binaries this way).
//!
//! A [`Process`] is an address space and a CNode that holds nothing but its threads'
//! fault endpoints: a foreign program never makes a seL4 syscall on purpose, so every
//! trap it takes (a page fault, an exception, the `int` its syscalls were rewritten
//! to) goes to its manager as a fault message, badged with the thread's number. The
//! manager answers with [`reply_registers`] or, for a thread it left waiting, with
//! [`ProcessThread::resume_with`].
//!
//! Memory is [`UserPage`]s: 4 KiB of RAM mapped in the manager's own address space
//! (at an address the manager chooses, in its window above 4 GiB, see
//! [`kaal_abi::startup::MANAGER_WINDOW`]) and, through a second capability, in
//! processes. The manager reaches a process's memory only through its own mapping, with
//! volatile copies: another thread of the process may be writing the page at the same
//! time, so it is never a Rust slice.
//!
//! [`Process::destroy`] deletes the process's address space and CNode, which frees its
//! ASID for the next process. What is not reclaimed yet: the memory of its TCBs, CNode,
//! PML4 and paging structures (their untyped memory is not revoked) and the slots of
//! its paging structures; pages are unmapped and can be reused by the manager.

use crate::cap::{cap_type, AsidPool, Badge, CNode, Cap, Rights, Tcb};
use crate::cspace::CSpace;
use crate::error::{Error, Result};
use crate::ipc::{Message, Server};
use crate::shared::SharedRegion;
use crate::sys;
use crate::vspace::{Frame, MappedFrame, ObjectAllocator, ReadOnly, ReadWrite, Shared, Small, VSpace, PAGE_SIZE};

pub use kaal_abi::startup::MANAGER_WINDOW;

/// log2 of the slots of a process's CNode: the most threads a process can have.
pub const THREAD_BITS: u8 = 6;
/// The most threads one process can have.
pub const MAX_THREADS: usize = 1 << THREAD_BITS;

/// A thread's registers, as `seL4_TCB_ReadRegisters` and `WriteRegisters` see them.
/// `tls_base` is the FS base (the kernel loads it on every return to the thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registers {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub tls_base: u64,
}

/// Words in an UnknownSyscall fault message; the last is the syscall word.
pub const UNKNOWN_SYSCALL_WORDS: usize = 19;

impl Registers {
    /// The registers an UnknownSyscall fault message carries (all but `tls_base`,
    /// which the message lacks: the manager keeps its own copy). `ip` is where the
    /// trapping instruction is.
    pub fn from_unknown_syscall(word: impl Fn(usize) -> u64) -> Self {
        let w = |i: sys::seL4_Word| word(i as usize);
        Self {
            rax: w(sys::seL4_UnknownSyscall_RAX),
            rbx: w(sys::seL4_UnknownSyscall_RBX),
            rcx: w(sys::seL4_UnknownSyscall_RCX),
            rdx: w(sys::seL4_UnknownSyscall_RDX),
            rsi: w(sys::seL4_UnknownSyscall_RSI),
            rdi: w(sys::seL4_UnknownSyscall_RDI),
            rbp: w(sys::seL4_UnknownSyscall_RBP),
            r8: w(sys::seL4_UnknownSyscall_R8),
            r9: w(sys::seL4_UnknownSyscall_R9),
            r10: w(sys::seL4_UnknownSyscall_R10),
            r11: w(sys::seL4_UnknownSyscall_R11),
            r12: w(sys::seL4_UnknownSyscall_R12),
            r13: w(sys::seL4_UnknownSyscall_R13),
            r14: w(sys::seL4_UnknownSyscall_R14),
            r15: w(sys::seL4_UnknownSyscall_R15),
            rip: w(sys::seL4_UnknownSyscall_FaultIP),
            rsp: w(sys::seL4_UnknownSyscall_SP),
            rflags: w(sys::seL4_UnknownSyscall_FLAGS),
            tls_base: 0,
        }
    }

    /// The first 18 words of an UnknownSyscall message, which a reply to the fault
    /// writes back (the kernel copies them into the thread and resumes it at `rip`).
    fn fault_reply_words(&self) -> [u64; 18] {
        let mut w = [0; 18];
        let mut set = |i: sys::seL4_Word, v: u64| w[i as usize] = v;
        set(sys::seL4_UnknownSyscall_RAX, self.rax);
        set(sys::seL4_UnknownSyscall_RBX, self.rbx);
        set(sys::seL4_UnknownSyscall_RCX, self.rcx);
        set(sys::seL4_UnknownSyscall_RDX, self.rdx);
        set(sys::seL4_UnknownSyscall_RSI, self.rsi);
        set(sys::seL4_UnknownSyscall_RDI, self.rdi);
        set(sys::seL4_UnknownSyscall_RBP, self.rbp);
        set(sys::seL4_UnknownSyscall_R8, self.r8);
        set(sys::seL4_UnknownSyscall_R9, self.r9);
        set(sys::seL4_UnknownSyscall_R10, self.r10);
        set(sys::seL4_UnknownSyscall_R11, self.r11);
        set(sys::seL4_UnknownSyscall_R12, self.r12);
        set(sys::seL4_UnknownSyscall_R13, self.r13);
        set(sys::seL4_UnknownSyscall_R14, self.r14);
        set(sys::seL4_UnknownSyscall_R15, self.r15);
        set(sys::seL4_UnknownSyscall_FaultIP, self.rip);
        set(sys::seL4_UnknownSyscall_SP, self.rsp);
        set(sys::seL4_UnknownSyscall_FLAGS, self.rflags);
        w
    }

    fn to_context(self) -> sys::seL4_UserContext {
        let mut c = sys::seL4_UserContext {
            rip: self.rip,
            rsp: self.rsp,
            rflags: self.rflags,
            rax: self.rax,
            rbx: self.rbx,
            rcx: self.rcx,
            rdx: self.rdx,
            rsi: self.rsi,
            rdi: self.rdi,
            rbp: self.rbp,
            r8: self.r8,
            r9: self.r9,
            r10: self.r10,
            r11: self.r11,
            r12: self.r12,
            r13: self.r13,
            r14: self.r14,
            r15: self.r15,
            ..Default::default()
        };
        set_tls(&mut c, self.tls_base);
        c
    }

    fn from_context(c: &sys::seL4_UserContext) -> Self {
        Self {
            rip: c.rip,
            rsp: c.rsp,
            rflags: c.rflags,
            rax: c.rax,
            rbx: c.rbx,
            rcx: c.rcx,
            rdx: c.rdx,
            rsi: c.rsi,
            rdi: c.rdi,
            rbp: c.rbp,
            r8: c.r8,
            r9: c.r9,
            r10: c.r10,
            r11: c.r11,
            r12: c.r12,
            r13: c.r13,
            r14: c.r14,
            r15: c.r15,
            tls_base: tls(c),
        }
    }
}

#[cfg(kaal_sel4 = "5")]
fn set_tls(c: &mut sys::seL4_UserContext, base: u64) {
    c.tls_base = base;
}
#[cfg(kaal_sel4 = "5")]
fn tls(c: &sys::seL4_UserContext) -> u64 {
    c.tls_base
}
#[cfg(kaal_sel4 = "16")]
fn set_tls(c: &mut sys::seL4_UserContext, base: u64) {
    c.fs_base = base;
}
#[cfg(kaal_sel4 = "16")]
fn tls(c: &sys::seL4_UserContext) -> u64 {
    c.fs_base
}

/// Words past the first four in the longest fault message (an UnknownSyscall's 19): a
/// fault handler receives with `Server::recv_sized::<FAULT_EXTRA_WORDS>()`.
pub const FAULT_EXTRA_WORDS: usize = sys::seL4_UnknownSyscall_Length as usize - sys::FAST_MESSAGE_REGISTERS;

/// Answers the fault the caller last received (an UnknownSyscall): the thread gets
/// `regs` (all but `tls_base`) and continues at `regs.rip`.
pub fn reply_registers(server: &Server, regs: &Registers) {
    let words = regs.fault_reply_words();
    // A message of exactly the 18 words, not a `LongMessage`: that is a kilobyte to
    // build and move on every system call.
    if let Ok(msg) = Message::<{ 18 - sys::FAST_MESSAGE_REGISTERS }>::from_slice(0, &words) {
        server.reply(msg);
    }
}

/// Answers a page fault or exception the caller last received with no change: the
/// thread retries the instruction (after the manager mapped the missing page).
pub fn retry(server: &Server) {
    server.reply(crate::ipc::Message::new(0));
}

/// A page of RAM for processes, mapped read-write in the manager's own address space.
#[derive(Debug)]
pub struct UserPage {
    mapped: MappedFrame<Small, Shared, ReadWrite>,
}

impl UserPage {
    /// A new zeroed page, mapped at `vaddr` in `own` (the manager's address space).
    pub fn new(alloc: &mut impl ObjectAllocator, own: &mut VSpace, vaddr: u64) -> Result<Self> {
        if !own.is_current() {
            return Err(Error::NotMappedHere { vaddr });
        }
        let frame: Frame = alloc.allocate()?;
        let mapped = frame.into_shared().map(own, vaddr, ReadWrite, alloc).map_err(|r| r.error)?;
        Ok(Self { mapped })
    }

    /// Where the manager sees the page.
    pub fn vaddr(&self) -> u64 {
        self.mapped.vaddr()
    }

    fn view(&self) -> SharedRegion {
        // SAFETY: the page is mapped read-write here for as long as `self` lives, and
        // the view does not outlive the call that made it.
        unsafe { SharedRegion::from_mapping(self.mapped.vaddr(), PAGE_SIZE, true) }
    }

    /// Copies bytes out of the page from `offset` (`offset + out.len()` at most 4096).
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        Self::check(offset, out.len())?;
        self.view().read_bytes(offset, out);
        Ok(())
    }

    /// Copies `data` into the page at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        Self::check(offset, data.len())?;
        self.view().write_bytes(offset, data);
        Ok(())
    }

    /// Makes this page a copy of `other` (fork's eager copy).
    pub fn copy_from(&self, other: &UserPage) {
        let mut buf = [0u8; 512];
        for at in (0..PAGE_SIZE).step_by(buf.len()) {
            other.view().read_bytes(at, &mut buf);
            self.view().write_bytes(at, &buf);
        }
    }

    /// Zeroes the page (before reusing it for another process).
    pub fn zero(&self) {
        let zeros = [0u8; 512];
        for at in (0..PAGE_SIZE).step_by(zeros.len()) {
            self.view().write_bytes(at, &zeros);
        }
    }

    fn check(offset: usize, len: usize) -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > PAGE_SIZE) {
            return Err(Error::InvalidSize {
                what: "page access (end offset)",
                value: offset.saturating_add(len) as u64,
                limit: PAGE_SIZE as u64,
            });
        }
        Ok(())
    }
}

/// One of a page's mappings in a process: unmapped (and its capability deleted) with
/// [`Mapping::unmap`].
#[derive(Debug)]
pub enum Mapping {
    /// Mapped read-write.
    Writable(MappedFrame<Small, Shared, ReadWrite>),
    /// Mapped read-only.
    Readable(MappedFrame<Small, Shared, ReadOnly>),
}

impl Mapping {
    /// Where the process sees the page.
    pub fn vaddr(&self) -> u64 {
        match self {
            Mapping::Writable(m) => m.vaddr(),
            Mapping::Readable(m) => m.vaddr(),
        }
    }

    /// Removes the mapping and deletes its capability (the page itself lives on).
    pub fn unmap(self, cspace: &mut CSpace) {
        let frame = match self {
            Mapping::Writable(m) => m.unmap(),
            Mapping::Readable(m) => m.unmap(),
        };
        // A capability of ours with no children; if the kernel refused, the slot stays
        // used, which wastes a slot and nothing else.
        let _ = cspace.delete(frame.into_cap());
    }
}

/// A process's address space and its CNode of fault endpoints (`None` once
/// [`Process::destroy`]ed).
pub struct Process {
    vspace: Option<VSpace>,
    cnode: Option<CNode>,
    /// Which of the CNode's slots hold a thread's fault endpoint.
    threads: u64,
}

impl core::fmt::Debug for Process {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.vspace {
            Some(vspace) => write!(f, "Process({vspace:?}, {} threads)", self.threads.count_ones()),
            None => write!(f, "Process(destroyed)"),
        }
    }
}

impl Process {
    /// A new empty process: an address space with an ASID from `asid_pool` and an
    /// empty CNode.
    pub fn new(alloc: &mut impl ObjectAllocator, asid_pool: &AsidPool) -> Result<Self> {
        let pml4 = alloc.allocate::<Cap<cap_type::Pml4>>()?;
        let vspace = VSpace::new(pml4, asid_pool).map_err(|r| r.error)?;
        let cnode = alloc.allocate_cnode(THREAD_BITS as u32)?;
        Ok(Self { vspace: Some(vspace), cnode: Some(cnode), threads: 0 })
    }

    /// Deletes the address space and the CNode (remove the threads first): the kernel
    /// frees the address space's ASID, so a manager that starts and ends processes for
    /// ever does not run out of the pool's 1,024. Maps and threads fail afterwards.
    pub fn destroy(&mut self, cspace: &mut CSpace) {
        if let Some(vspace) = self.vspace.take() {
            // Our copy is the last (the threads' went with their TCBs): the PML4 is
            // finalised and its ASID released.
            let _ = cspace.delete(vspace.into_root());
        }
        if let Some(cnode) = self.cnode.take() {
            let _ = cspace.delete(cnode);
        }
    }

    fn live(&mut self) -> Result<(&mut VSpace, &CNode)> {
        match (self.vspace.as_mut(), self.cnode.as_ref()) {
            (Some(vspace), Some(cnode)) => Ok((vspace, cnode)),
            _ => Err(Error::WrongCapability { expected: "a live process", found: "a destroyed one" }),
        }
    }

    /// Maps `page` at `vaddr` in the process, writable or not (never executable
    /// without being readable; x86 has no execute-only pages, and seL4 5.0 maps
    /// everything executable).
    pub fn map(
        &mut self,
        page: &UserPage,
        vaddr: u64,
        writable: bool,
        alloc: &mut impl ObjectAllocator,
    ) -> Result<Mapping> {
        let (vspace, _) = self.live()?;
        let copy = page.mapped.copy_cap(alloc.cspace())?;
        let mapping = if writable {
            copy.map(vspace, vaddr, ReadWrite, alloc).map(Mapping::Writable)
        } else {
            copy.map(vspace, vaddr, ReadOnly, alloc).map(Mapping::Readable)
        };
        mapping.map_err(|rejected| {
            let _ = alloc.cspace().delete(rejected.value.into_cap());
            rejected.error
        })
    }

    /// Creates a thread in the process and starts it with `regs`. Its faults arrive at
    /// `faults` with `badge`. It runs at `priority` (at most the manager's).
    pub fn spawn_thread(
        &mut self,
        alloc: &mut impl ObjectAllocator,
        faults: &Server,
        badge: Badge,
        priority: u8,
        regs: &Registers,
    ) -> Result<ProcessThread> {
        let slot = (!self.threads).trailing_zeros() as u64;
        if slot >= MAX_THREADS as u64 {
            return Err(Error::InvalidSize {
                what: "threads in one process",
                value: MAX_THREADS as u64 + 1,
                limit: MAX_THREADS as u64,
            });
        }
        let (vspace_cptr, cnode_cptr) = {
            let (vspace, cnode) = self.live()?;
            (vspace.cptr(), cnode.cptr())
        };
        let tcb: Tcb = alloc.allocate()?;
        let rights = Rights { read: false, write: true, grant: true };
        // SAFETY: placing a badged copy of our own endpoint in the process's CNode.
        let err = unsafe {
            sys::seL4_CNode_Mint(
                cnode_cptr,
                slot,
                THREAD_BITS,
                sys::seL4_CapInitThreadCNode,
                faults.endpoint().cptr(),
                sys::seL4_WordBits as u8,
                rights.word(),
                badge.cap_data(),
            )
        };
        Error::check(err, "seL4_CNode_Mint")?;
        self.threads |= 1 << slot;
        let guard = crate::supervisor::guard_data(THREAD_BITS);
        #[cfg(kaal_mcs)]
        let sc = crate::sched::sched_context(
            alloc,
            crate::sched::SchedParams::round_robin(),
            badge.value(),
            "a process thread",
        )?;
        let setup = crate::thread::TcbSetup {
            // Looked up in the thread's own CSpace (non-MCS), where slot `slot` holds it.
            #[cfg(not(kaal_mcs))]
            fault_ep: slot,
            #[cfg(kaal_mcs)]
            fault_ep: faults.endpoint().cptr(),
            #[cfg(kaal_mcs)]
            sched_context: sc.into_cptr(),
            priority,
            cspace: cnode_cptr,
            cspace_data: guard,
            vspace: vspace_cptr,
            ipc_vaddr: 0,
            ipc_frame: 0,
        };
        let context = regs.to_context();
        let count = core::mem::size_of::<sys::seL4_UserContext>() as u64 / 8;
        // SAFETY: configuring and starting a thread in the process's own address space;
        // no memory of the manager's is involved.
        unsafe {
            crate::thread::configure_tcb(tcb.cptr(), &setup)?;
            Error::check(
                sys::seL4_TCB_WriteRegisters(tcb.cptr(), true, 0, count, &context),
                "seL4_TCB_WriteRegisters",
            )?;
        }
        Ok(ProcessThread { tcb, slot })
    }

    /// Removes thread `thread`: stops it and deletes its TCB capability and fault
    /// endpoint. (The TCB's memory is not reclaimed.)
    pub fn remove_thread(&mut self, thread: ProcessThread, cspace: &mut CSpace) {
        thread.suspend();
        if let Some(cnode) = &self.cnode {
            // SAFETY: emptying a slot of the process's own CNode.
            let _ = unsafe { sys::seL4_CNode_Delete(cnode.cptr(), thread.slot, THREAD_BITS) };
        }
        self.threads &= !(1 << thread.slot);
        let _ = cspace.delete(thread.tcb);
    }
}

/// A thread of a [`Process`].
#[derive(Debug)]
pub struct ProcessThread {
    tcb: Tcb,
    slot: u64,
}

impl ProcessThread {
    /// Its registers (it should be stopped: waiting on a fault the manager has not
    /// answered, or suspended).
    pub fn registers(&self) -> Result<Registers> {
        let mut context = sys::seL4_UserContext::default();
        let count = core::mem::size_of::<sys::seL4_UserContext>() as u64 / 8;
        // SAFETY: reading a thread's registers into our own struct.
        let err = unsafe { sys::seL4_TCB_ReadRegisters(self.tcb.cptr(), false, 0, count, &mut context) };
        Error::check(err, "seL4_TCB_ReadRegisters")?;
        Ok(Registers::from_context(&context))
    }

    /// Sets all its registers (with the TLS base) and lets it run: how a thread the
    /// manager left waiting on a fault (a blocking syscall) continues later, and how
    /// a syscall that changes the TLS base returns. A pending fault reply is dropped.
    pub fn resume_with(&self, regs: &Registers) -> Result<()> {
        let context = regs.to_context();
        let count = core::mem::size_of::<sys::seL4_UserContext>() as u64 / 8;
        // SAFETY: writing a process thread's registers; nothing of ours changes.
        let err = unsafe { sys::seL4_TCB_WriteRegisters(self.tcb.cptr(), true, 0, count, &context) };
        Error::check(err, "seL4_TCB_WriteRegisters")
    }

    /// Names it in the kernel's diagnostics (fault reports, `cargo kaal profile`); a
    /// release kernel keeps no names. It overwrites our message registers.
    pub fn set_name(&self, name: &str) {
        sys::debug_name_thread(self.tcb.cptr(), name);
    }

    /// Stops it until [`Self::resume_with`].
    pub fn suspend(&self) {
        // SAFETY: stopping a process thread; nothing of ours changes.
        let _ = unsafe { sys::seL4_TCB_Suspend(self.tcb.cptr()) };
    }
}
