//! Threads in one address space.
//!
//! [`Threads::spawn`] starts a closure on a new seL4 thread that shares the caller's
//! address space and CSpace. Each thread gets a TCB, a stack with an unmapped guard page
//! below it (an overflow faults instead of corrupting a neighbour), its own IPC buffer,
//! and a notification it signals when it finishes. [`Threads::join`] waits for that
//! signal, takes the closure's result, and keeps the thread's kernel objects for the next
//! spawn, so spawning in a loop does not use up memory.
//!
//! No heap is needed: the closure, its result and the thread's control block live at the
//! top of the new thread's own stack, which the spawner maps and can reach because the
//! address space is shared.
//!
//! A panicking thread prints its message and location and ends; `join` then returns
//! [`JoinError::Panicked`], and the rest of the program carries on.
//!
//! Per-thread state (the thread's name, its completion notification) is found through
//! the `userData` word of the thread's IPC buffer, which is at the thread's GS base.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::{align_of, size_of, MaybeUninit};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::cap::{CPtr, Notification, Tcb};
use crate::error::{Error, Result};
use crate::sys;
use crate::vspace::{Frame, ObjectAllocator, ReadWrite, VSpace, PAGE_SIZE};

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const PANICKED: u8 = 2;

/// Most finished threads kept for reuse.
const IDLE_SLOTS: usize = 32;

/// How to start a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadConfig {
    /// Name, shown in panics and kernel diagnostics.
    pub name: &'static str,
    /// seL4 priority (0..=255); it may not exceed the creator's.
    pub priority: u8,
    /// Stack size in bytes (rounded up to pages).
    pub stack_size: usize,
    /// seL4 MCS: the thread's CPU budget (default: [`SchedParams::round_robin`]).
    #[cfg(kaal_mcs)]
    pub sched: crate::sched::SchedParams,
}

impl ThreadConfig {
    /// A thread called `name` with priority 100 and a 64 KiB stack.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            priority: 100,
            stack_size: 64 * 1024,
            #[cfg(kaal_mcs)]
            sched: crate::sched::SchedParams::round_robin(),
        }
    }

    /// Sets the priority.
    pub const fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the stack size.
    pub const fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// seL4 MCS: sets the thread's CPU budget. When it is used up the thread waits for
    /// its next period, whatever its priority (kernels without MCS have no budgets, so
    /// this method exists only on MCS).
    #[cfg(kaal_mcs)]
    pub const fn budget(mut self, sched: crate::sched::SchedParams) -> Self {
        self.sched = sched;
        self
    }
}

/// What the runtime knows about a spawned thread (reached through `userData`).
#[derive(Debug)]
pub(crate) struct ThreadControl {
    pub(crate) name: &'static str,
    state: AtomicU8,
    done: CPtr,
    tcb: CPtr,
    /// seL4 MCS: the thread's reply object, recorded in its IPC-buffer page at start.
    #[cfg(kaal_mcs)]
    reply: CPtr,
}

impl ThreadControl {
    /// Whether the thread already panicked (a panic while reporting a panic).
    pub(crate) fn has_panicked(&self) -> bool {
        self.state.load(Ordering::Acquire) == PANICKED
    }

    /// Marks the thread as panicked, wakes its joiner and stops the thread.
    pub(crate) fn panicked(&self) -> ! {
        self.state.store(PANICKED, Ordering::Release);
        self.finish()
    }

    fn finish(&self) -> ! {
        let (done, tcb) = (self.done, self.tcb);
        // SAFETY: signalling our completion notification and suspending ourselves touch
        // no memory.
        unsafe {
            sys::syscall(sys::syscall::seL4_SysSend, done, sys::message_info(0, 0, 0, 0), [0; 4]);
            loop {
                sys::seL4_TCB_Suspend(tcb);
            }
        }
    }
}

/// The calling thread's control block, if it was spawned by [`Threads`].
pub(crate) fn current_control() -> Option<&'static ThreadControl> {
    let ptr = sys::ipc_buffer_read(sys::OFFSETOF_seL4_IPCBuffer_userData / 8) as *const ThreadControl;
    // SAFETY: userData is 0 for threads KaaL did not spawn; for spawned threads it points
    // at the ThreadControl at the top of the thread's stack, which stays mapped.
    unsafe { ptr.as_ref() }
}

/// The calling thread's name, if it was spawned by [`Threads`].
pub fn current_name() -> Option<&'static str> {
    current_control().map(|c| c.name)
}

/// Gives the processor to another thread of the same priority.
pub fn yield_now() {
    sys::yield_now()
}

/// Everything a new thread starts with, placed at the top of its stack.
#[repr(C)]
struct Start<F, T> {
    control: ThreadControl,
    result: UnsafeCell<MaybeUninit<T>>,
    body: UnsafeCell<MaybeUninit<F>>,
}

extern "C" fn thread_entry<F: FnOnce() -> T, T>(start: *mut Start<F, T>) -> ! {
    // SAFETY: `spawn` placed an initialised Start at this address, on our own stack,
    // and does not touch it until we publish FINISHED or PANICKED.
    let start = unsafe { &*start };
    sys::ipc_buffer_write(sys::OFFSETOF_seL4_IPCBuffer_userData / 8, &start.control as *const _ as u64);
    #[cfg(kaal_mcs)]
    sys::set_current_reply(start.control.reply);
    // SAFETY: the body was written by `spawn` and is read exactly once, here.
    let body = unsafe { (*start.body.get()).assume_init_read() };
    let value = body();
    // SAFETY: only this thread writes the result, before it publishes FINISHED.
    unsafe { (*start.result.get()).write(value) };
    start.control.state.store(FINISHED, Ordering::Release);
    start.control.finish()
}

/// The kernel objects and memory of one thread, kept for reuse.
#[derive(Debug)]
struct ThreadSlot {
    tcb: Tcb,
    done: Notification,
    pages: usize,
    stack_top: u64,
    ipc_vaddr: u64,
    ipc_frame: CPtr,
    /// seL4 MCS: the reply object the thread receives with, and its scheduling context.
    #[cfg(kaal_mcs)]
    reply: crate::cap::Reply,
    #[cfg(kaal_mcs)]
    sc: crate::cap::SchedContext,
}

/// A handle to a running thread.
#[must_use = "a thread's result and kernel objects come back through Threads::join"]
pub struct JoinHandle<T> {
    control: *const ThreadControl,
    result: *mut MaybeUninit<T>,
    slot: ThreadSlot,
    _result: PhantomData<T>,
}

// SAFETY: the handle's pointers lead to the thread's control block and result slot at
// the top of its stack, which stay mapped while the handle exists, whichever thread of
// this address space holds it; the control block is only read (its state atomically),
// and the result, a `T: Send`, is moved out once, by `Threads::join`. The kernel
// objects are capabilities in the address space's one CSpace, usable from any of its
// threads.
unsafe impl<T: Send> Send for JoinHandle<T> {}

impl<T> core::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "JoinHandle({:?})", self.name())
    }
}

impl<T> JoinHandle<T> {
    /// Binds `notification` to the thread: while it waits on an endpoint, a signal on
    /// the notification wakes it too (with the notification's badge bits and label 0).
    pub fn bind_notification(&self, notification: &Notification) -> Result<()> {
        // SAFETY: binding a notification to a thread of ours; no memory changes.
        let err = unsafe { sys::seL4_TCB_BindNotification(self.slot.tcb.cptr(), notification.cptr()) };
        Error::check(err, "seL4_TCB_BindNotification")
    }

    /// Stops the thread where it is, until [`JoinHandle::resume`]. A user-level
    /// scheduler preempts with this (kaal-sched). A thread waiting in a system call when
    /// it is suspended makes that call again when resumed (a call's reply is lost); on
    /// seL4 5.0.0 so does a thread that a signal had just woken but that had not run
    /// yet, which then waits again for a signal already taken. A suspended thread that
    /// holds a lock (the heap's, for one) keeps it until it runs again.
    pub fn suspend(&self) -> Result<()> {
        // SAFETY: suspending a thread of ours; no memory changes.
        let err = unsafe { sys::seL4_TCB_Suspend(self.slot.tcb.cptr()) };
        Error::check(err, "seL4_TCB_Suspend")
    }

    /// Lets a thread stopped by [`JoinHandle::suspend`] run on. (A finished thread
    /// suspends itself again at once.)
    pub fn resume(&self) -> Result<()> {
        // SAFETY: resuming a thread of ours; no memory changes.
        let err = unsafe { sys::seL4_TCB_Resume(self.slot.tcb.cptr()) };
        Error::check(err, "seL4_TCB_Resume")
    }

    /// Sets the thread's priority (at most the caller's own maximum, which the kernel
    /// checks).
    pub fn set_priority(&self, priority: u8) -> Result<()> {
        // SAFETY: changing the priority of a thread of ours (seL4 5.0.0 checks it against
        // the caller's maximum, 16.0.0 against the authority's: the caller's TCB); no
        // memory changes.
        #[cfg(kaal_sel4 = "5")]
        let err = unsafe { sys::seL4_TCB_SetPriority(self.slot.tcb.cptr(), priority) };
        #[cfg(not(kaal_sel4 = "5"))]
        let err =
            unsafe { sys::seL4_TCB_SetPriority(self.slot.tcb.cptr(), sys::seL4_CapInitThreadTCB, priority as u64) };
        Error::check(err, "seL4_TCB_SetPriority")
    }

    /// The thread's name.
    pub fn name(&self) -> &'static str {
        // SAFETY: the control block lives at the top of the thread's stack, which stays
        // mapped while the handle (which owns the stack's slot) exists.
        unsafe { (*self.control).name }
    }
}

/// Why joining a thread gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The thread panicked (its message was printed).
    Panicked { name: &'static str },
}

impl core::fmt::Display for JoinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JoinError::Panicked { name } => write!(f, "thread {name:?} panicked"),
        }
    }
}

/// Spawns and joins threads in one address space.
pub struct Threads {
    vspace: VSpace,
    next_vaddr: u64,
    end_vaddr: u64,
    idle: heapless::Vec<ThreadSlot, IDLE_SLOTS>,
}

impl core::fmt::Debug for Threads {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Threads({} idle, next stack at {:#x})", self.idle.len(), self.next_vaddr)
    }
}

impl Threads {
    /// Default virtual region for thread stacks and IPC buffers.
    pub const DEFAULT_REGION: (u64, u64) = (0x0000_6000_0000_0000, 1 << 32);

    /// A thread spawner that maps stacks into `vspace` (a handle on the caller's own
    /// address space) within `[base, base + size)`.
    pub fn new(vspace: VSpace, (base, size): (u64, u64)) -> Result<Self> {
        if !vspace.is_current() {
            return Err(Error::BadAddress { vaddr: base, why: "threads must be spawned in the current address space" });
        }
        Ok(Self { vspace, next_vaddr: base, end_vaddr: base + size, idle: heapless::Vec::new() })
    }

    fn new_slot(&mut self, alloc: &mut impl ObjectAllocator, pages: usize) -> Result<ThreadSlot> {
        // [guard][stack pages][IPC buffer]
        let span = (pages as u64 + 2) * PAGE_SIZE as u64;
        if self.next_vaddr + span > self.end_vaddr {
            return Err(Error::LimitReached {
                what: "thread stack region",
                requested: span,
                available: self.end_vaddr - self.next_vaddr,
                limit: self.end_vaddr,
                fix: "give Threads::new a larger region, or join threads to reuse their stacks",
            });
        }
        let base = self.next_vaddr + PAGE_SIZE as u64;
        self.next_vaddr += span;
        // seL4 16.0.0: from the first thread on, the mapping table needs its lock.
        #[cfg(kaal_sel4 = "16")]
        if !crate::occupancy::MAP_LOCK.is_attached() {
            let notification: Notification = alloc.allocate()?;
            if let Err(taken) = crate::occupancy::MAP_LOCK.attach(notification) {
                // Attached meanwhile: the new notification is not needed.
                let _ = taken.into_cptr();
            }
        }
        let tcb: Tcb = alloc.allocate()?;
        let done: Notification = alloc.allocate()?;
        #[cfg(kaal_mcs)]
        let reply: crate::cap::Reply = alloc.allocate()?;
        #[cfg(kaal_mcs)]
        let sc = crate::sched::sched_context(alloc, crate::sched::SchedParams::round_robin(), 0, "a new thread")?;
        for i in 0..pages {
            let frame: Frame = alloc.allocate()?;
            // The stack stays mapped for as long as the program runs; slots are reused.
            frame.map(&mut self.vspace, base + (i * PAGE_SIZE) as u64, ReadWrite, alloc)?.leak();
        }
        let stack_top = base + (pages * PAGE_SIZE) as u64;
        let ipc: Frame = alloc.allocate()?;
        let ipc = ipc.map(&mut self.vspace, stack_top, ReadWrite, alloc)?;
        let ipc_frame = ipc.cptr();
        let ipc_vaddr = ipc.leak();
        Ok(ThreadSlot {
            tcb,
            done,
            pages,
            stack_top,
            ipc_vaddr,
            ipc_frame,
            #[cfg(kaal_mcs)]
            reply,
            #[cfg(kaal_mcs)]
            sc,
        })
    }

    /// Starts `body` on a new thread.
    pub fn spawn<F, T>(
        &mut self,
        alloc: &mut impl ObjectAllocator,
        config: ThreadConfig,
        body: F,
    ) -> Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let pages = config.stack_size.div_ceil(PAGE_SIZE).max(1);
        let start_size = size_of::<Start<F, T>>();
        if start_size > pages * PAGE_SIZE / 2 {
            return Err(Error::InvalidSize {
                what: "thread closure and result (bytes)",
                value: start_size as u64,
                limit: (pages * PAGE_SIZE / 2) as u64,
            });
        }
        let slot = match self.idle.iter().position(|s| s.pages >= pages) {
            Some(i) => self.idle.swap_remove(i),
            None => self.new_slot(alloc, pages)?,
        };
        // Clear any stale signal from the slot's previous thread.
        let _ = slot.done.poll();
        // MCS: this thread's budget (the slot's context may have served another).
        #[cfg(kaal_mcs)]
        if let Err(e) = crate::sched::reconfigure(&slot.sc, config.sched) {
            let _ = self.idle.push(slot);
            return Err(e);
        }

        let align = align_of::<Start<F, T>>().max(16) as u64;
        let start_addr = (slot.stack_top - start_size as u64) & !(align - 1);
        let start_ptr = start_addr as *mut Start<F, T>;
        let start = Start {
            control: ThreadControl {
                name: config.name,
                state: AtomicU8::new(RUNNING),
                done: slot.done.cptr(),
                tcb: slot.tcb.cptr(),
                #[cfg(kaal_mcs)]
                reply: slot.reply.cptr(),
            },
            result: UnsafeCell::new(MaybeUninit::uninit()),
            body: UnsafeCell::new(MaybeUninit::new(body)),
        };
        // SAFETY: the top of this slot's stack is mapped read-write, aligned, large enough
        // (checked above), and unused: the slot's previous thread has been joined.
        unsafe { start_ptr.write(start) };

        let mut regs = sys::seL4_UserContext {
            rip: thread_entry::<F, T> as *const () as u64,
            // The ABI expects RSP + 8 to be 16-byte aligned at function entry.
            rsp: (start_addr & !15) - 8,
            rdi: start_addr,
            ..Default::default()
        };
        set_ipc_buffer_base(&mut regs, slot.ipc_vaddr);
        let setup = TcbSetup {
            fault_ep: 0,
            priority: config.priority,
            cspace: sys::seL4_CapInitThreadCNode,
            cspace_data: 0,
            vspace: self.vspace.cptr(),
            ipc_vaddr: slot.ipc_vaddr,
            ipc_frame: slot.ipc_frame,
            #[cfg(kaal_mcs)]
            sched_context: slot.sc.cptr(),
        };
        // SAFETY: configuring and starting a thread we created, on memory we mapped for
        // it alone; the closure is handed over through `start`.
        let started = unsafe {
            let count = size_of::<sys::seL4_UserContext>() as u64 / 8;
            configure_tcb(slot.tcb.cptr(), &setup)
                .and_then(|_| {
                    Error::check(
                        sys::seL4_TCB_WriteRegisters(slot.tcb.cptr(), false, 0, count, &regs),
                        "seL4_TCB_WriteRegisters",
                    )
                })
                .map(|_| sys::debug_name_thread(slot.tcb.cptr(), config.name))
                .and_then(|_| Error::check(sys::seL4_TCB_Resume(slot.tcb.cptr()), "seL4_TCB_Resume"))
        };
        if let Err(e) = started {
            // SAFETY: the thread never started, so the closure is still ours to drop.
            unsafe { (*(*start_ptr).body.get()).assume_init_drop() };
            let _ = self.idle.push(slot);
            return Err(e);
        }
        // SAFETY: pointers into the Start block, which lives until the slot is reused,
        // and the slot is not reused before `join` consumes the handle.
        let (control, result) = unsafe { (&raw const (*start_ptr).control, (*start_ptr).result.get()) };
        Ok(JoinHandle { control, result, slot, _result: PhantomData })
    }

    /// Waits for the thread to finish and returns its result.
    pub fn join<T>(&mut self, handle: JoinHandle<T>) -> core::result::Result<T, JoinError> {
        let JoinHandle { control, result, slot, .. } = handle;
        // SAFETY: see `JoinHandle::name`.
        let control = unsafe { &*control };
        while control.state.load(Ordering::Acquire) == RUNNING {
            slot.done.wait();
        }
        // The thread suspends itself right after signalling; make sure it has before its
        // stack is reused.
        // SAFETY: suspending a thread of ours that has finished its work.
        unsafe { sys::seL4_TCB_Suspend(slot.tcb.cptr()) };
        let outcome = match control.state.load(Ordering::Acquire) {
            // SAFETY: FINISHED is published after the result is written, and the result
            // is read once, here.
            FINISHED => Ok(unsafe { (*result).assume_init_read() }),
            _ => Err(JoinError::Panicked { name: control.name }),
        };
        // With no room to keep it, the slot is simply not reused.
        let _ = self.idle.push(slot);
        outcome
    }
}

/// How a new thread is set up: its fault endpoint (0 for none; a slot in the thread's
/// own CSpace, except on MCS, where the kernel looks it up in the caller's and keeps a
/// copy), priority (also its maximum controlled priority, so it cannot raise itself),
/// CSpace and VSpace roots, IPC buffer, and on MCS its scheduling context.
pub(crate) struct TcbSetup {
    pub fault_ep: sys::seL4_CPtr,
    pub priority: u8,
    pub cspace: sys::seL4_CPtr,
    pub cspace_data: sys::seL4_Word,
    pub vspace: sys::seL4_CPtr,
    pub ipc_vaddr: u64,
    pub ipc_frame: sys::seL4_CPtr,
    #[cfg(kaal_mcs)]
    pub sched_context: sys::seL4_CPtr,
}

/// Configures `tcb`. seL4 5.0.0 takes the priorities in `TCB_Configure`.
///
/// # Safety
/// `tcb` must be a TCB capability of the caller's, and the roots and frame must be what
/// the new thread may use.
#[cfg(kaal_sel4 = "5")]
pub(crate) unsafe fn configure_tcb(tcb: sys::seL4_CPtr, s: &TcbSetup) -> Result<()> {
    let prio = ((s.priority as u64) << sys::seL4_PrioProps_prio_SHIFT)
        | ((s.priority as u64) << sys::seL4_PrioProps_mcp_SHIFT);
    // SAFETY: forwarded from the caller.
    let err = unsafe {
        sys::seL4_TCB_Configure(tcb, s.fault_ep, prio, s.cspace, s.cspace_data, s.vspace, 0, s.ipc_vaddr, s.ipc_frame)
    };
    Error::check(err, "seL4_TCB_Configure")
}

/// Configures `tcb`. seL4 16.0.0 sets priorities apart from `TCB_Configure`, with the
/// root task's TCB as the authority (its maximum controlled priority is the highest).
///
/// # Safety
/// As for the 5.0.0 version.
#[cfg(all(kaal_sel4 = "16", not(kaal_mcs)))]
pub(crate) unsafe fn configure_tcb(tcb: sys::seL4_CPtr, s: &TcbSetup) -> Result<()> {
    let authority = sys::seL4_CapInitThreadTCB;
    // SAFETY: forwarded from the caller; setting priorities touches no memory.
    unsafe {
        Error::check(
            sys::seL4_TCB_Configure(tcb, s.fault_ep, s.cspace, s.cspace_data, s.vspace, 0, s.ipc_vaddr, s.ipc_frame),
            "seL4_TCB_Configure",
        )?;
        Error::check(sys::seL4_TCB_SetMCPriority(tcb, authority, s.priority as u64), "seL4_TCB_SetMCPriority")?;
        Error::check(sys::seL4_TCB_SetPriority(tcb, authority, s.priority as u64), "seL4_TCB_SetPriority")
    }
}

/// Configures `tcb`. seL4 16.0.0 with MCS: `TCB_Configure` sets the spaces and the IPC
/// buffer; `SetSchedParams` the priorities (with the root task's TCB as the authority),
/// the scheduling context and the fault endpoint, which the kernel copies from the
/// caller's CSpace.
///
/// # Safety
/// As for the 5.0.0 version.
#[cfg(kaal_mcs)]
pub(crate) unsafe fn configure_tcb(tcb: sys::seL4_CPtr, s: &TcbSetup) -> Result<()> {
    let authority = sys::seL4_CapInitThreadTCB;
    let prio = s.priority as u64;
    // SAFETY: forwarded from the caller; scheduling parameters touch no memory.
    unsafe {
        Error::check(
            sys::seL4_TCB_Configure(tcb, s.cspace, s.cspace_data, s.vspace, 0, s.ipc_vaddr, s.ipc_frame),
            "seL4_TCB_Configure",
        )?;
        Error::check(
            sys::seL4_TCB_SetSchedParams(tcb, authority, prio, prio, s.sched_context, s.fault_ep),
            "seL4_TCB_SetSchedParams",
        )
    }
}

/// Where a new thread finds its IPC buffer: seL4 5.0.0 points GS at it by itself.
#[cfg(kaal_sel4 = "5")]
pub(crate) fn set_ipc_buffer_base(_regs: &mut sys::seL4_UserContext, _ipc_vaddr: u64) {}

/// Where a new thread finds its IPC buffer: on seL4 16.0.0 its FS base (the TLS
/// base), set here in its first registers.
#[cfg(kaal_sel4 = "16")]
pub(crate) fn set_ipc_buffer_base(regs: &mut sys::seL4_UserContext, ipc_vaddr: u64) {
    regs.fs_base = ipc_vaddr;
}
