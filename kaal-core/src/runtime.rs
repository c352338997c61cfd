//! The root-task runtime: entry point, start-up checks, exit and panic.
//!
//! A system's root task is a `#![no_std] #![no_main]` binary that names its `main` with
//! [`crate::root_task!`]. The macro emits `_start` (which installs a stack, because the
//! kernel starts the root task with RSP = 0), the `mem*` functions the compiler expects,
//! and a panic handler. The runtime then
//!
//! 1. checks that the IPC buffer is reachable through its segment base (the raw layer
//!    relies on it): seL4 5.0.0 points GS at it; on 16.0.0 the runtime first points FS
//!    (the TLS base) at it,
//! 2. unmaps the page below the stack, so a stack overflow faults instead of silently
//!    overwriting `.bss`,
//! 3. wraps the initial capabilities into owned handles ([`RootTask`]) and calls `main`,
//! 4. reports `main`'s outcome to the host through QEMU's `isa-debug-exit` device
//!    ([`kaal_abi::exit`]): success, an error (printed), or a panic (message and
//!    location printed).

use core::fmt::Display;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering};

pub use kaal_abi::exit::ExitStatus;

use crate::bootinfo::{BootInfo, MAX_UNTYPEDS};
use crate::cap::{AsidControl, AsidPool, CPtr, Cap, IrqControl, Tcb};
use crate::cspace::CSpace;
use crate::device::IoPortAuthority;
use crate::untyped::Untyped;
use crate::vspace::VSpace;
use crate::{println, sys};

/// The root task's initial resources, as owned handles.
///
/// Destructure it to take what you need:
/// `let RootTask { mut cspace, mut untypeds, .. } = rt;`
#[derive(Debug)]
pub struct RootTask {
    /// The BootInfo frame.
    pub bootinfo: BootInfo,
    /// The root CNode's free slots.
    pub cspace: CSpace,
    /// The root task's own address space.
    pub vspace: VSpace,
    /// The root task's TCB.
    pub tcb: Tcb,
    /// Every untyped capability, RAM and device, in BootInfo order.
    pub untypeds: heapless::Vec<Untyped, MAX_UNTYPEDS>,
    /// The right to create IRQ handlers.
    pub irq_control: IrqControl,
    /// The right to create ASID pools.
    pub asid_control: AsidControl,
    /// The root task's ASID pool (for new address spaces).
    pub asid_pool: AsidPool,
    /// The authority over x86 I/O ports: on seL4 5.0.0 a copy of the capability for
    /// every port (the runtime keeps the original to report the exit); on 16.0.0 the
    /// I/O port control capability (the runtime holds the exit port, 0xf4, and on a
    /// release kernel COM1, issued before `main`).
    pub io_port: IoPortAuthority,
    /// Name of the running system (its crate name).
    pub name: &'static str,
}

/// What `main` may return.
pub trait Termination {
    /// Turns the outcome into an exit status, printing what went wrong.
    fn report(self, task: &str) -> ExitStatus;
}

impl Termination for () {
    fn report(self, _: &str) -> ExitStatus {
        ExitStatus::Success
    }
}

impl Termination for ExitStatus {
    fn report(self, _: &str) -> ExitStatus {
        self
    }
}

impl<T: Termination, E: Display> Termination for Result<T, E> {
    fn report(self, task: &str) -> ExitStatus {
        match self {
            Ok(value) => value.report(task),
            Err(e) => {
                println!("[{task}] error: {e}");
                ExitStatus::ERROR
            }
        }
    }
}

/// The capability `exit` writes the debug-exit port through: seL4 5.0.0's initial
/// capability for every port.
#[cfg(kaal_sel4 = "5")]
fn exit_port() -> sys::seL4_CPtr {
    sys::seL4_CapIOPort
}

/// The capability for the debug-exit port that the runtime issued at start (0 before
/// that, or if the port was taken, which leaves the write failing harmlessly).
#[cfg(kaal_sel4 = "16")]
static EXIT_PORT: AtomicU64 = AtomicU64::new(0);

/// The capability `exit` writes the debug-exit port through: on seL4 16.0.0 one the
/// runtime issued for that port alone.
#[cfg(kaal_sel4 = "16")]
fn exit_port() -> sys::seL4_CPtr {
    EXIT_PORT.load(Ordering::Relaxed)
}

/// Addresses from the image's linker script, passed in by [`crate::root_task!`].
#[doc(hidden)]
#[derive(Debug)]
pub struct ImageLayout {
    pub image_start: usize,
    pub stack_guard: usize,
    pub stack_top: usize,
}

const PAGE: usize = 1 << sys::seL4_PageBits;

/// Ends the program with `status`.
///
/// In the root task this reports the status to the host and stops the system: under
/// QEMU with `isa-debug-exit` (as `kaal run` starts it) QEMU exits at once; on other
/// machines the root task prints the status and suspends itself. In a component it
/// reports the status to the supervisor and stops the component only.
pub fn exit(status: ExitStatus) -> ! {
    if is_component() {
        use kaal_abi::startup::{labels, slots};
        // SAFETY: a one-word message to our supervisor, then suspending ourselves;
        // neither touches memory.
        unsafe {
            sys::syscall(
                sys::syscall::seL4_SysSend,
                slots::SUPERVISOR,
                sys::message_info(labels::EXIT, 0, 0, 1),
                [status.to_byte() as u64, 0, 0, 0],
            );
            loop {
                sys::seL4_TCB_Suspend(slots::TCB);
            }
        }
    }
    // What components (and the root task's background printer) logged last is still in
    // their rings.
    crate::log::flush_background();
    crate::console::rings::flush();
    // SAFETY: an I/O port write to the debug-exit port and suspending ourselves touch no
    // memory.
    unsafe {
        sys::seL4_X86_IOPort_Out8(exit_port(), kaal_abi::exit::DEBUG_EXIT_PORT as u64, status.to_byte() as u64);
    }
    println!("[kaal] exit: {} ({:?}); no isa-debug-exit device, suspending", status.describe(), status);
    loop {
        // SAFETY: suspending the calling thread; it never runs again.
        unsafe { sys::seL4_TCB_Suspend(sys::seL4_CapInitThreadTCB) };
    }
}

const ROOT: u8 = 0;
const COMPONENT: u8 = 1;
/// Whether this program is the root task or a component.
static ROLE: AtomicU8 = AtomicU8::new(ROOT);

/// Whether this program is a component (else the root task).
pub(crate) fn is_component() -> bool {
    ROLE.load(Ordering::Relaxed) == COMPONENT
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// The panic handler behind [`crate::root_task!`]: prints the message and location
/// with the task's name, then exits with [`ExitStatus::PANIC`].
#[doc(hidden)]
pub fn __panic(task: &str, info: &PanicInfo<'_>) -> ! {
    if let Some(thread) = crate::thread::current_control() {
        // A spawned thread: report it, end the thread, let its joiner see the panic.
        if !thread.has_panicked() {
            print_panic(task, Some(thread.name), info);
        }
        thread.panicked();
    }
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while reporting a panic: report nothing more.
        exit(ExitStatus::PANIC);
    }
    print_panic(task, None, info);
    exit(ExitStatus::PANIC)
}

fn print_panic(task: &str, thread: Option<&str>, info: &PanicInfo<'_>) {
    let who = ThreadName(task, thread);
    match info.location() {
        Some(loc) => {
            println!("[{who}] panicked at {}:{}:{}:\n{}", loc.file(), loc.line(), loc.column(), info.message())
        }
        None => println!("[{who}] panicked: {}", info.message()),
    }
}

/// `task` or `task/thread`.
struct ThreadName<'a>(&'a str, Option<&'a str>);

impl core::fmt::Display for ThreadName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.1 {
            Some(thread) => write!(f, "{}/{}", self.0, thread),
            None => f.write_str(self.0),
        }
    }
}

/// Checks that GS-relative IPC-buffer access reaches the buffer BootInfo names.
fn check_ipc_buffer(bootinfo: &BootInfo) -> bool {
    const PROBE: u64 = 0x4b61_614c_5f49_5043; // "KaaL_IPC"
    let user_data = sys::OFFSETOF_seL4_IPCBuffer_userData / 8;
    sys::ipc_buffer_write(user_data, PROBE);
    // SAFETY: BootInfo's ipcBuffer is the root thread's mapped IPC buffer frame.
    let seen = unsafe { core::ptr::read_volatile((bootinfo.ipc_buffer() as *const u64).add(user_data)) };
    sys::ipc_buffer_write(user_data, 0);
    seen == PROBE
}

/// Unmaps the guard page below the stack (it is part of the image's `.bss`).
fn unmap_stack_guard(bootinfo: &BootInfo, layout: &ImageLayout) -> bool {
    let frames = bootinfo.user_image_frames();
    let index = (layout.stack_guard - layout.image_start) / PAGE;
    if !layout.stack_guard.is_multiple_of(PAGE) || index as u64 >= frames.end - frames.start {
        return false;
    }
    // SAFETY: the guard page is reserved in the linker-visible `.bss` for this purpose
    // and nothing references it.
    let err = unsafe { sys::seL4_X86_Page_Unmap(frames.start + index as u64) };
    err == sys::seL4_NoError
}

/// Entry point behind [`crate::root_task!`].
///
/// # Safety
/// Called once, by `_start`, with the address the kernel passed in RDI: it wraps every
/// initial capability into an owned handle, so a second call (or a made-up address)
/// would duplicate handles or read memory that is not BootInfo.
#[doc(hidden)]
pub unsafe fn __start_root_task<T: Termination>(
    bootinfo_addr: usize,
    name: &'static str,
    layout: ImageLayout,
    main: fn(RootTask) -> T,
) -> ! {
    // SAFETY: the caller passes the BootInfo frame's address, which stays mapped for the
    // life of the root task.
    let bootinfo = unsafe { BootInfo::from_addr(bootinfo_addr) };
    // seL4 16.0.0 leaves the segment bases to user level: point FS at the IPC buffer
    // before anything uses it.
    #[cfg(kaal_sel4 = "16")]
    sys::set_tls_base(bootinfo.ipc_buffer());
    crate::arch::set_tsc_hz(bootinfo.tsc_mhz() * 1_000_000);
    crate::log::set_identity(name, name);
    if !check_ipc_buffer(&bootinfo) {
        println!(
            "[{name}] runtime error: the IPC buffer is not at the {} base; this kernel does not match kaal-core",
            if cfg!(kaal_sel4 = "5") { "GS" } else { "FS" }
        );
        exit(ExitStatus::FAULT);
    }
    sys::debug_name_thread(sys::seL4_CapInitThreadTCB, name);
    #[cfg(kaal_sel4 = "16")]
    crate::vspace::record_root_task_mappings(&bootinfo, bootinfo_addr as u64, layout.image_start as u64);
    if !unmap_stack_guard(&bootinfo, &layout) {
        println!("[{name}] warning: could not unmap the stack guard page; stack overflows will go undetected");
    }
    let _ = layout.stack_top;

    let mut cspace = CSpace::new(bootinfo.empty_slots());
    let io_port = io_port_authority(name, &mut cspace);

    if bootinfo.ram_bytes() == 0 && bootinfo.untypeds().count() == MAX_UNTYPEDS {
        // The kernel creates device untypeds first and drops what does not fit.
        println!(
            "[{name}] warning: no RAM reached the root task: the kernel's BootInfo holds at most {MAX_UNTYPEDS} \
             untypeds (KernelMaxNumBootinfoUntypedCaps) and device memory took them all; build the kernel with \
             more (seL4 16.0.0's X64_verified configuration fixes 50, too few for QEMU's pc machine)"
        );
    }
    // MCS: the root thread receives with a reply object of its own, retyped from the
    // smallest RAM untyped that holds one; the runtime keeps that untyped, so nothing
    // the program does to its untypeds (a revoke) can destroy the reply object.
    #[cfg(kaal_mcs)]
    let kept = root_reply(name, &bootinfo, &mut cspace);
    #[cfg(not(kaal_mcs))]
    let kept: Option<CPtr> = None;
    let mut untypeds = heapless::Vec::new();
    for u in bootinfo.untypeds().filter(|u| Some(u.cptr) != kept) {
        // SAFETY: BootInfo lists each untyped once, untouched; each handle is unique.
        let ut = unsafe { Untyped::from_raw(u.cptr, u.paddr, u.size_bits, u.is_device) };
        // Capacity is MAX_UNTYPEDS, the size of BootInfo's list, so this cannot fail.
        let _ = untypeds.push(ut);
    }

    // SAFETY: the initial capabilities sit in the slots libsel4 names, and this is the
    // only place that wraps them.
    let rt = unsafe {
        RootTask {
            bootinfo,
            cspace,
            vspace: VSpace::root_task(),
            tcb: Cap::from_cptr(sys::seL4_CapInitThreadTCB),
            untypeds,
            irq_control: Cap::from_cptr(sys::seL4_CapIRQControl),
            asid_control: Cap::from_cptr(sys::seL4_CapASIDControl),
            asid_pool: Cap::from_cptr(sys::seL4_CapInitThreadASIDPool),
            io_port,
            name,
        }
    };
    let status = main(rt).report(name);
    exit(status)
}

/// seL4 MCS: records the scheduling-control capability and gives the root thread its
/// reply object. Returns the untyped the reply object came from.
#[cfg(kaal_mcs)]
fn root_reply(name: &str, bootinfo: &BootInfo, cspace: &mut CSpace) -> Option<CPtr> {
    crate::sched::set_sched_control(bootinfo.sched_control_slots().start);
    let bits = sys::seL4_ReplyBits as u8;
    let Some(info) = bootinfo.untypeds().filter(|u| !u.is_device && u.size_bits >= bits).min_by_key(|u| u.size_bits)
    else {
        println!("[{name}] runtime error: no RAM untyped for the root thread's reply object (seL4 MCS)");
        exit(ExitStatus::FAULT);
    };
    // SAFETY: BootInfo lists each untyped once, untouched; this one is then left out of
    // the root task's list, so this handle is the only one.
    let mut ut = unsafe { Untyped::from_raw(info.cptr, info.paddr, info.size_bits, info.is_device) };
    match ut.retype::<crate::cap::Reply>(cspace) {
        Ok(reply) => sys::set_current_reply(reply.into_cptr()),
        Err(e) => {
            println!("[{name}] runtime error: cannot create the root thread's reply object: {e}");
            exit(ExitStatus::FAULT);
        }
    }
    Some(ut.into_cptr())
}

/// seL4 5.0.0: a copy of the capability for every port (the original stays for
/// `exit`), and on a release kernel COM1 for the console.
#[cfg(kaal_sel4 = "5")]
fn io_port_authority(name: &str, cspace: &mut CSpace) -> IoPortAuthority {
    use crate::device::IoPortRange;
    // SAFETY: slot seL4_CapIOPort holds the capability for every I/O port; this
    // temporary handle is only copied from and then forgotten, so the runtime keeps the
    // original for `exit`.
    let original_io = unsafe {
        IoPortRange::from_cap(Cap::<crate::cap::cap_type::IoPort>::from_cptr(sys::seL4_CapIOPort), IoPortRange::ALL)
    };
    let io_port = cspace.copy(original_io.cap(), crate::cap::Rights::ALL);
    let _ = original_io.into_cap().into_cptr();
    let io_port = match io_port {
        // SAFETY: a copy of the capability for every port, owned by this handle alone.
        Ok(io) => unsafe { IoPortRange::from_cap(io, IoPortRange::ALL) },
        Err(e) => {
            println!("[{name}] runtime error: cannot copy the I/O port capability: {e}");
            exit(ExitStatus::FAULT);
        }
    };
    #[cfg(not(kaal_debug_kernel))]
    match io_port.mint(crate::console::uart::COM1, cspace) {
        Ok(com1) => crate::console::uart::init(com1),
        // No console: report through the exit status alone.
        Err(_) => exit(ExitStatus::FAULT),
    }
    io_port
}

/// seL4 16.0.0: the I/O port control capability, after issuing the debug-exit port
/// for `exit` and, on a release kernel, COM1 for the console.
#[cfg(kaal_sel4 = "16")]
fn io_port_authority(name: &str, cspace: &mut CSpace) -> IoPortAuthority {
    use crate::device::{IoPortControl, PortSpan};
    // SAFETY: slot seL4_CapIOPortControl holds the I/O port control capability, and
    // this is the only place that wraps it.
    let control = unsafe { IoPortControl::from_cap(Cap::from_cptr(sys::seL4_CapIOPortControl)) };
    match control.issue(PortSpan::new(kaal_abi::exit::DEBUG_EXIT_PORT, 1), cspace) {
        // The runtime keeps this capability for the life of the system.
        Ok(port) => EXIT_PORT.store(port.into_cap().into_cptr(), Ordering::Relaxed),
        Err(e) => {
            println!("[{name}] warning: cannot issue the debug-exit port: {e}; exit statuses will not reach the host")
        }
    }
    #[cfg(not(kaal_debug_kernel))]
    match control.issue(crate::console::uart::COM1, cspace) {
        Ok(com1) => crate::console::uart::init(com1),
        // No console: report through the exit status alone.
        Err(_) => exit(ExitStatus::FAULT),
    }
    control
}

/// Declares the root task's `main` and emits the runtime support it needs.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// kaal_core::root_task!(main);
///
/// fn main(rt: kaal_core::RootTask) -> Result<(), kaal_core::Error> {
///     kaal_core::println!("Hello from seL4!");
///     Ok(())
/// }
/// ```
///
/// `main` may return `()`, an [`ExitStatus`], or a `Result` of either with an error
/// that implements `Display`. The stack
/// defaults to 256 KiB; `root_task!(main, stack_size = 1024 * 1024)` changes it.
#[macro_export]
macro_rules! root_task {
    ($main:path) => {
        $crate::root_task!($main, stack_size = 256 * 1024);
    };
    ($main:path, stack_size = $size:expr) => {
        const _: () = assert!(($size) % 4096 == 0 && ($size) >= 16384, "stack_size must be a multiple of 4096, at least 16 KiB");

        ::core::arch::global_asm!(
            ".section .text._start,\"ax\",@progbits",
            ".globl _start",
            ".type _start,@function",
            "_start:",
            "    lea rsp, [rip + __kaal_stack_top]",
            "    xor ebp, ebp",
            "    call {entry}",
            "    ud2",
            ".section .bss.kaal_stack,\"aw\",@nobits",
            ".balign 4096",
            ".globl __kaal_stack_guard",
            "__kaal_stack_guard:",
            "    .space 4096",
            "__kaal_stack_bottom:",
            "    .space {size}",
            ".globl __kaal_stack_top",
            "__kaal_stack_top:",
            ".text",
            entry = sym __kaal_root_entry,
            size = const $size,
        );

        extern "C" fn __kaal_root_entry(bootinfo: usize) -> ! {
            extern "C" {
                static __kaal_image_start: u8;
                static __kaal_stack_guard: u8;
                static __kaal_stack_top: u8;
            }
            // SAFETY: only the addresses of linker symbols are taken.
            let layout = unsafe {
                $crate::runtime::ImageLayout {
                    image_start: ::core::ptr::addr_of!(__kaal_image_start) as usize,
                    stack_guard: ::core::ptr::addr_of!(__kaal_stack_guard) as usize,
                    stack_top: ::core::ptr::addr_of!(__kaal_stack_top) as usize,
                }
            };
            // SAFETY: `_start` calls this once, with the BootInfo address the kernel
            // passed in RDI.
            unsafe { $crate::runtime::__start_root_task(bootinfo, env!("CARGO_PKG_NAME"), layout, $main) }
        }

        #[panic_handler]
        fn __kaal_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::runtime::__panic(env!("CARGO_PKG_NAME"), info)
        }

        $crate::__image_support!();
    };
}

/// The symbols every freestanding image needs: `mem*` for compiler-generated calls, and
/// `rust_eh_personality` and `_Unwind_Resume`, which the precompiled host `core` and
/// `alloc` reference because they were built for unwinding (with `panic = "abort"` they
/// are never called; they trap if they ever are).
///
/// Written in assembly on purpose: the usual source of these, `compiler_builtins`' `mem`
/// feature, is not available on stable Rust, and Rust implementations would be compiled
/// into calls to themselves.
#[doc(hidden)]
#[macro_export]
macro_rules! __image_support {
    () => {
        ::core::arch::global_asm!(
            ".text",
            ".globl rust_eh_personality",
            ".type rust_eh_personality,@function",
            "rust_eh_personality:",
            "    ud2",
            ".globl _Unwind_Resume",
            ".type _Unwind_Resume,@function",
            "_Unwind_Resume:",
            "    ud2",
            // Eight bytes per iteration, then the rest: QEMU's TCG runs a `rep`
            // string instruction one iteration at a time (and -icount counts each),
            // so a byte-wise `rep movsb` made a 1 KiB message copy 1,024 steps.
            ".globl memcpy",
            ".type memcpy,@function",
            "memcpy:",
            "    mov rax, rdi",
            "    mov rcx, rdx",
            "    shr rcx, 3",
            "    rep movsq",
            "    mov rcx, rdx",
            "    and rcx, 7",
            "    rep movsb",
            "    ret",
            ".globl memmove",
            ".type memmove,@function",
            "memmove:",
            "    mov rax, rdi",
            "    cmp rdi, rsi",
            "    jbe 2f",
            // Backwards (the destination is above the source): the last n % 8 bytes
            // one by one from the end, then the quadwords below them.
            "    lea rsi, [rsi + rdx - 1]",
            "    lea rdi, [rdi + rdx - 1]",
            "    mov rcx, rdx",
            "    and rcx, 7",
            "    std",
            "    rep movsb",
            "    sub rsi, 7",
            "    sub rdi, 7",
            "    mov rcx, rdx",
            "    shr rcx, 3",
            "    rep movsq",
            "    cld",
            "    ret",
            "2:  mov rcx, rdx",
            "    shr rcx, 3",
            "    rep movsq",
            "    mov rcx, rdx",
            "    and rcx, 7",
            "    rep movsb",
            "    ret",
            ".globl memset",
            ".type memset,@function",
            "memset:",
            "    mov r9, rdi",
            "    movzx eax, sil",
            "    mov r8, 0x0101010101010101",
            "    imul rax, r8",
            "    mov rcx, rdx",
            "    shr rcx, 3",
            "    rep stosq",
            "    mov rcx, rdx",
            "    and rcx, 7",
            "    rep stosb",
            "    mov rax, r9",
            "    ret",
            ".globl memcmp",
            ".type memcmp,@function",
            ".globl bcmp",
            ".type bcmp,@function",
            "memcmp:",
            "bcmp:",
            "    xor eax, eax",
            "    test rdx, rdx",
            "    jz 4f",
            "3:  movzx eax, byte ptr [rdi]",
            "    movzx ecx, byte ptr [rsi]",
            "    sub eax, ecx",
            "    jnz 4f",
            "    inc rdi",
            "    inc rsi",
            "    dec rdx",
            "    jnz 3b",
            "4:  ret",
        );
    };
}

/// What a component's libraries asked to run when its `main` returns ([`at_exit`]).
static AT_EXIT: [AtomicPtr<()>; 4] = [const { AtomicPtr::new(core::ptr::null_mut()) }; 4];

/// Runs `hook` when the component's `main` returns, whatever it returns (not after a
/// panic or a fault, which stop the component at once), before the component exits:
/// for a library's orderly shutdown, such as kaal-posix syncing what the component
/// wrote. At most four hooks; `false` if there is no room. Hooks run newest first.
pub fn at_exit(hook: fn()) -> bool {
    let hook = hook as *mut ();
    AT_EXIT
        .iter()
        .any(|slot| slot.compare_exchange(core::ptr::null_mut(), hook, Ordering::AcqRel, Ordering::Acquire).is_ok())
}

fn run_at_exit() {
    for slot in AT_EXIT.iter().rev() {
        let hook = slot.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !hook.is_null() {
            // SAFETY: only `at_exit` stores here, and it stores `fn()` pointers.
            let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(hook) };
            hook();
        }
    }
}

/// The heap region the root task mapped for this component, handed out once (to
/// `kaal-alloc`'s heap).
static HEAP_BASE: AtomicU64 = AtomicU64::new(0);
static HEAP_SIZE: AtomicU64 = AtomicU64::new(0);

/// The lock of this program's heap (`kaal-alloc`'s global allocator). A component's
/// comes with its notification attached; a root task's gets one from `heap::init`.
pub static HEAP_LOCK: crate::sync::Lock = crate::sync::Lock::new();

/// Takes the component's pre-mapped heap region `(base, size)`; `None` in the root task
/// or once taken.
pub fn take_heap_region() -> Option<(u64, u64)> {
    let size = HEAP_SIZE.swap(0, Ordering::AcqRel);
    (size != 0).then(|| (HEAP_BASE.load(Ordering::Acquire), size))
}

/// Entry point behind [`crate::component!`].
///
/// # Safety
/// Called once, by `_start`, in a component the supervisor built: it trusts the memory
/// at the start-up block and IPC buffer addresses, and the well-known slots.
#[doc(hidden)]
pub unsafe fn __start_component<T: Termination>(
    package: &'static str,
    main: fn(crate::component::Component) -> T,
) -> ! {
    use kaal_abi::startup::{StartupBlock, IPC_BUFFER_VADDR, STARTUP_BLOCK_VADDR};
    ROLE.store(COMPONENT, Ordering::Relaxed);
    // SAFETY: the supervisor maps the IPC buffer at IPC_BUFFER_VADDR before starting us.
    let probe_ok = unsafe {
        let user_data = sys::OFFSETOF_seL4_IPCBuffer_userData / 8;
        sys::ipc_buffer_write(user_data, 0x4b61_614c);
        let seen = core::ptr::read_volatile((IPC_BUFFER_VADDR as *const u64).add(user_data));
        sys::ipc_buffer_write(user_data, 0);
        seen == 0x4b61_614c
    };
    if !probe_ok {
        println!("[{package}] runtime error: the IPC buffer is not at the GS base");
        exit(ExitStatus::FAULT);
    }
    // SAFETY: the supervisor maps the start-up block, read-only, for our whole life.
    let page = unsafe { core::slice::from_raw_parts(STARTUP_BLOCK_VADDR as *const u8, 4096) };
    let block = match StartupBlock::decode(page) {
        Ok(block) => block,
        Err(e) => {
            println!("[{package}] runtime error: {e}");
            exit(ExitStatus::FAULT);
        }
    };
    crate::arch::set_tsc_hz(block.tsc_hz);
    // MCS: the supervisor puts our reply object in its well-known slot, and may have
    // made us a passive server.
    #[cfg(kaal_mcs)]
    {
        sys::set_current_reply(kaal_abi::startup::slots::REPLY);
        if block.flags & kaal_abi::startup::flags::PASSIVE != 0 {
            crate::ipc::passive::request();
        }
    }
    HEAP_BASE.store(block.heap_base, Ordering::Release);
    HEAP_SIZE.store(block.heap_size, Ordering::Release);
    // SAFETY: the supervisor places a notification for the heap lock in this slot.
    let heap_lock: crate::cap::Notification = unsafe { Cap::from_cptr(kaal_abi::startup::slots::HEAP_LOCK) };
    let _ = HEAP_LOCK.attach(heap_lock);
    let component = crate::component::Component::new(block);
    let name = component.name();
    crate::log::set_identity(package, name);
    // SAFETY: once, before `main`; the supervisor mapped the ring page.
    unsafe { crate::log::init_ring(package) };
    let status = main(component).report(name);
    run_at_exit();
    exit(status)
}

/// Declares a component's `main` and emits the runtime support it needs.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// kaal_core::component!(main);
///
/// fn main(mut me: kaal_core::component::Component) -> Result<(), kaal_core::Error> {
///     let log = me.client("log")?;
///     Ok(())
/// }
/// ```
///
/// The supervisor sets up the stack before the component starts.
#[macro_export]
macro_rules! component {
    ($main:path) => {
        ::core::arch::global_asm!(
            ".section .text._start,\"ax\",@progbits",
            ".globl _start",
            ".type _start,@function",
            "_start:",
            "    xor ebp, ebp",
            "    call {entry}",
            "    ud2",
            ".text",
            entry = sym __kaal_component_entry,
        );

        extern "C" fn __kaal_component_entry() -> ! {
            // SAFETY: `_start` calls this once, in a component the supervisor built.
            unsafe { $crate::runtime::__start_component(env!("CARGO_PKG_NAME"), $main) }
        }

        #[panic_handler]
        fn __kaal_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::runtime::__panic($crate::component::current_name(env!("CARGO_PKG_NAME")), info)
        }

        $crate::__image_support!();
    };
}
