//! Cheap logging with `defmt`: the format strings stay on the host.
//!
//! `defmt::info!("sent {=u32} frames", n)` does no formatting on the target: it writes a
//! small frame (an index into the image's interned strings and the raw arguments),
//! which is what makes it fit drivers and real-time tasks where a `println!` would cost
//! thousands of instructions of formatting and console output (`cargo kaal bench log`
//! measures both). The host decodes frames with the image's own ELF, which holds the
//! strings in its `.defmt` section.
//!
//! This module is the global logger every KaaL image gets. A frame is rzCOBS-encoded
//! (`defmt::Encoder`), then base64-encoded into one console line,
//!
//! ```text
//! ~defmt~ <package> <component> <base64>
//! ```
//!
//! so it travels over the same console as `println!` (the kernel's debug console, or
//! KaaL's 16550 on a release kernel) and cannot be mistaken for text. `kaal run` decodes
//! such lines with `<package>`'s ELF and prints `[  12.345678] INFO  [component] ...`.
//! Timestamps are microseconds by the time-stamp counter (instructions under
//! `-icount`). Levels are chosen at build time, per component in system.toml (`log =
//! "debug"`), through defmt's `DEFMT_LOG`.
//!
//! A component does not print its frames: it copies each into its log ring
//! ([`crate::log_ring`]), a page it shares with the supervisor's console thread, which
//! prints them on its behalf; logging costs the component a copy and, only when the
//! console thread sleeps, one signal. The root task prints its own.
//!
//! One frame is assembled at a time per image. A thread that logs while another
//! thread's frame is open has its frame counted in [`dropped`] rather than mixed in
//! (there is no lock: a spinning one could livelock across priorities, and a frame must
//! not sleep).

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use base64::Engine as _;

/// The marker that starts an encoded line.
pub const MARKER: &str = "~defmt~";
/// The largest encoded frame (rzCOBS bytes) one line carries.
const MAX_FRAME: usize = 384;
const NO_OWNER: u64 = u64::MAX;

/// A `&'static str` that can be set once at start-up and read from anywhere.
struct StaticStr {
    ptr: AtomicPtr<u8>,
    len: AtomicUsize,
}

impl StaticStr {
    const fn new() -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()), len: AtomicUsize::new(0) }
    }

    fn set(&self, s: &'static str) {
        self.len.store(s.len(), Ordering::Release);
        self.ptr.store(s.as_ptr() as *mut u8, Ordering::Release);
    }

    fn get(&self) -> &'static str {
        let ptr = self.ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            return "?";
        }
        // SAFETY: `set` stored the pointer and length of a `&'static str`, length first.
        let bytes = unsafe { core::slice::from_raw_parts(ptr, self.len.load(Ordering::Acquire)) };
        core::str::from_utf8(bytes).unwrap_or("?")
    }
}

static PACKAGE: StaticStr = StaticStr::new();
static NAME: StaticStr = StaticStr::new();

/// Records which image this is (its crate) and what it is called (a component's
/// name), for the host to pick the ELF that decodes its frames.
pub(crate) fn set_identity(package: &'static str, name: &'static str) {
    PACKAGE.set(package);
    NAME.set(name);
}

/// The frame being assembled.
struct Frame {
    /// Which thread holds it (its IPC buffer's `userData` word: 0 for the first thread).
    owner: AtomicU64,
    busy: AtomicBool,
    encoder: core::cell::UnsafeCell<defmt::Encoder>,
    bytes: core::cell::UnsafeCell<[u8; MAX_FRAME]>,
    len: AtomicUsize,
    overflow: AtomicBool,
}

// SAFETY: the cells are touched only by the thread that set `busy` (and `owner`) in
// `acquire`, until it clears them in `release`.
unsafe impl Sync for Frame {}

static FRAME: Frame = Frame {
    owner: AtomicU64::new(NO_OWNER),
    busy: AtomicBool::new(false),
    encoder: core::cell::UnsafeCell::new(defmt::Encoder::new()),
    bytes: core::cell::UnsafeCell::new([0; MAX_FRAME]),
    len: AtomicUsize::new(0),
    overflow: AtomicBool::new(false),
};

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Frames not written: logged while another thread's frame was open, or too long.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn me() -> u64 {
    crate::sys::ipc_buffer_read(crate::sys::OFFSETOF_seL4_IPCBuffer_userData / 8)
}

fn append(bytes: &[u8]) {
    let len = FRAME.len.load(Ordering::Relaxed);
    if len + bytes.len() > MAX_FRAME {
        FRAME.overflow.store(true, Ordering::Relaxed);
        return;
    }
    // SAFETY: only the owning thread calls this (see `Frame`).
    unsafe { (&mut *FRAME.bytes.get())[len..len + bytes.len()].copy_from_slice(bytes) };
    FRAME.len.store(len + bytes.len(), Ordering::Relaxed);
}

fn owned() -> bool {
    FRAME.owner.load(Ordering::Acquire) == me()
}

#[defmt::global_logger]
struct KaalLogger;

// SAFETY: `acquire` hands the frame to one thread at a time (a thread that finds it
// taken writes nothing until its own `release`), and every other method touches the
// frame only in the thread that holds it.
unsafe impl defmt::Logger for KaalLogger {
    fn acquire() {
        if FRAME.busy.swap(true, Ordering::Acquire) {
            return;
        }
        FRAME.owner.store(me(), Ordering::Release);
        FRAME.len.store(0, Ordering::Relaxed);
        FRAME.overflow.store(false, Ordering::Relaxed);
        // SAFETY: this thread holds the frame.
        unsafe { (*FRAME.encoder.get()).start_frame(append) };
    }

    unsafe fn flush() {}

    unsafe fn release() {
        if !owned() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: this thread holds the frame.
        unsafe { (*FRAME.encoder.get()).end_frame(append) };
        if FRAME.overflow.load(Ordering::Relaxed) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        } else {
            // SAFETY: this thread holds the frame.
            let frame = unsafe { &(&*FRAME.bytes.get())[..FRAME.len.load(Ordering::Relaxed)] };
            match RING.get() {
                // A component: into its log ring; the console thread prints it.
                Some(ring) => {
                    if ring.push(frame) {
                        wake_console();
                    }
                }
                None => emit(PACKAGE.get(), NAME.get(), frame),
            }
        }
        FRAME.owner.store(NO_OWNER, Ordering::Release);
        FRAME.busy.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        if owned() {
            // SAFETY: this thread holds the frame.
            unsafe { (*FRAME.encoder.get()).write(bytes, append) };
        }
    }
}

/// A component's log ring, set up once before `main` (or the root task's, by
/// [`print_in_background`]).
struct RingCell {
    set: AtomicBool,
    ring: core::cell::UnsafeCell<core::mem::MaybeUninit<crate::log_ring::LogRing>>,
}

// SAFETY: written once, by `init_ring` before `main` (one thread exists then) or by the
// one `print_in_background` call, before `set` publishes it; read-only afterwards.
unsafe impl Sync for RingCell {}

impl RingCell {
    fn get(&self) -> Option<&crate::log_ring::LogRing> {
        // SAFETY: `set` is published after the ring is written.
        self.set.load(Ordering::Acquire).then(|| unsafe { (*self.ring.get()).assume_init_ref() })
    }
}

static RING: RingCell =
    RingCell { set: AtomicBool::new(false), ring: core::cell::UnsafeCell::new(core::mem::MaybeUninit::uninit()) };

/// Sets up the component's log ring (mapped by its supervisor at `LOG_RING_VADDR`).
///
/// # Safety
/// Called once, before `main`, in a component whose supervisor mapped the ring page.
pub(crate) unsafe fn init_ring(package: &'static str) {
    use kaal_abi::startup::{LOG_RING_SIZE, LOG_RING_VADDR};
    // SAFETY: the supervisor maps this page read-write for the component's whole life,
    // and it is used only through the ring.
    let region = unsafe { crate::shared::SharedRegion::from_mapping(LOG_RING_VADDR, LOG_RING_SIZE as usize, true) };
    // SAFETY: the only write, before any reader (see `RingCell`).
    unsafe { (*RING.ring.get()).write(crate::log_ring::LogRing::init(region, package)) };
    RING.set.store(true, Ordering::Release);
}

/// The notification that wakes whoever prints this image's ring: 0 for a component's
/// (its supervisor's log thread, through slot `LOG_SIGNAL`), or the root task's own
/// printing thread (see [`print_in_background`]).
static WAKE: AtomicU64 = AtomicU64::new(0);

fn wake_console() {
    let slot = match WAKE.load(Ordering::Acquire) {
        0 => kaal_abi::startup::slots::LOG_SIGNAL,
        cptr => cptr,
    };
    // SAFETY: a signal on the notification the supervisor placed in this slot, or on the
    // root task's printing thread's; an empty slot makes the send fail without effect.
    unsafe {
        crate::sys::syscall(crate::sys::syscall::seL4_SysNBSend, slot, crate::sys::message_info(0, 0, 0, 0), [0; 4])
    };
}

/// Root task: from now on its defmt frames go into a log ring (one page mapped at
/// `vaddr`) that a thread at priority 0 prints, the way a component's do, instead of
/// being printed by the thread that logs. Real-time threads log this way without a
/// `~defmt~` line's console output landing in their time budget (kaal-sched's tasks
/// do). The printing thread runs only when nothing else wants the processor: with a
/// best-effort thread spinning, frames wait in the ring (16 KiB) until the program
/// ends, and those that do not fit are counted in [`dropped`]. Call it once, before
/// the threads that log start; a second call is refused.
/// Frames still waiting when the root task ends are printed as it exits.
pub fn print_in_background(
    alloc: &mut impl crate::vspace::ObjectAllocator,
    vspace: &mut crate::vspace::VSpace,
    threads: &mut crate::thread::Threads,
    vaddr: u64,
) -> crate::Result<crate::thread::JoinHandle<()>> {
    use kaal_abi::startup::LOG_RING_SIZE;
    if RING.get().is_some() || RING_CLAIMED.swap(true, Ordering::AcqRel) {
        return Err(crate::Error::InvalidSize { what: "background log printers", value: 2, limit: 1 });
    }
    let region = crate::shared::SharedRegion::new(alloc, vspace, vaddr, LOG_RING_SIZE as usize)?;
    let wake: crate::Notification = alloc.allocate()?;
    // SAFETY: the region was just mapped read-write at `vaddr` for the rest of the
    // program; the printing thread only reads it through the ring's consumer end.
    let reader = crate::log_ring::LogReader::new(unsafe {
        crate::shared::SharedRegion::from_mapping(vaddr, LOG_RING_SIZE as usize, true)
    });
    let ring = crate::log_ring::LogRing::init(region, PACKAGE.get());
    let wake_cptr = wake.cptr();
    let config = crate::thread::ThreadConfig::new("log").priority(0).stack_size(16 * 1024);
    let printer = threads.spawn(alloc, config, move || loop {
        let _ = reader.drain(|frame| emit(PACKAGE.get(), NAME.get(), frame));
        if !reader.sleep() {
            wake.wait();
        }
    })?;
    // SAFETY: the only write (guarded by RING_CLAIMED), published by `set` below; frames
    // started before it go to the console directly, as before.
    unsafe { (*RING.ring.get()).write(ring) };
    WAKE.store(wake_cptr, Ordering::Release);
    BACKGROUND.store(vaddr, Ordering::Release);
    RING.set.store(true, Ordering::Release);
    Ok(printer)
}

/// The root task's background ring (its address), if [`print_in_background`] set one up.
static BACKGROUND: AtomicU64 = AtomicU64::new(0);
/// Set by the first [`print_in_background`].
static RING_CLAIMED: AtomicBool = AtomicBool::new(false);

/// Prints what the root task's background ring still holds (when it ends). A frame the
/// printing thread was in the middle of may be printed twice, never lost.
pub(crate) fn flush_background() {
    let vaddr = BACKGROUND.load(Ordering::Acquire);
    if vaddr != 0 {
        // SAFETY: as in `print_in_background`: mapped for the rest of the program.
        let reader = crate::log_ring::LogReader::new(unsafe {
            crate::shared::SharedRegion::from_mapping(vaddr, kaal_abi::startup::LOG_RING_SIZE as usize, true)
        });
        let _ = reader.drain(|frame| emit(PACKAGE.get(), NAME.get(), frame));
    }
}

/// Writes one encoded frame of `package`'s component `name` as a console line.
pub(crate) fn emit(package: &str, name: &str, frame: &[u8]) {
    const LINE: usize = MAX_FRAME.div_ceil(3) * 4 + 128;
    let mut line = [0u8; LINE];
    let mut at = 0;
    for part in [MARKER, " ", package, " ", name, " "] {
        let n = part.len().min(64);
        line[at..at + n].copy_from_slice(&part.as_bytes()[..n]);
        at += n;
    }
    match base64::engine::general_purpose::STANDARD_NO_PAD.encode_slice(frame, &mut line[at..LINE - 2]) {
        Ok(n) => at += n,
        Err(_) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    line[at] = b'\r';
    line[at + 1] = b'\n';
    crate::console::write_log_line(&line[..at + 2]);
}

defmt::timestamp!("{=u64:us}", crate::arch::micros());
