//! `print!` and `println!`: to the kernel's debug console, or to a user-level 16550
//! driver on a release kernel.
//!
//! * The **root task** (and its threads) writes directly: on a **debug kernel** through
//!   `seL4_DebugPutChar` (the kernel writes to the first serial port, COM1); a **release
//!   kernel** has no console of its own, so the root task drives COM1 itself with the
//!   small polled 16550 transmitter below (the runtime mints the port range and
//!   initialises the UART before `main`).
//! * A **component** sends each line to its supervisor's console thread over the
//!   endpoint in its [`kaal_abi::startup::slots::CONSOLE`] slot, and that thread, at
//!   the highest priority, writes it out whole. On a release kernel a component has no
//!   ports to write with; on a debug kernel it could print through the kernel, but one
//!   `DebugPutChar` per byte can be preempted mid-line, and two components' lines
//!   would interleave character by character.
//!   The host reads COM1 either way (`kaal run` shows QEMU's first serial port).
//!
//! A line is formatted into a stack buffer first and emitted in one burst. There is deliberately no spinning lock: seL4
//! schedules strictly by priority, so a high-priority thread spinning on a lock held by
//! a preempted low-priority one would never let it finish.

use core::fmt::{self, Write};

#[cfg(kaal_debug_kernel)]
use crate::sys;

/// Bytes formatted before they are written out.
pub(crate) const BUFFER: usize = 256;

struct LineBuffer {
    bytes: [u8; BUFFER],
    len: usize,
}

impl LineBuffer {
    fn flush(&mut self) {
        write_bytes(&self.bytes[..self.len]);
        self.len = 0;
    }

    fn push(&mut self, b: u8) {
        if self.len == BUFFER {
            self.flush();
        }
        self.bytes[self.len] = b;
        self.len += 1;
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            // Serial terminals want CR LF.
            if b == b'\n' {
                self.push(b'\r');
            }
            self.push(b);
        }
        Ok(())
    }
}

/// Writes formatted text to the console. Use [`crate::print!`] instead.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut line = LineBuffer { bytes: [0; BUFFER], len: 0 };
    let _ = line.write_fmt(args);
    line.flush();
}

/// Writes `bytes` to the console as they are (no line-ending translation): for a
/// component that is a terminal's driver, such as the Linux personality's tty.
pub fn write(bytes: &[u8]) {
    write_bytes(bytes)
}

/// Writes raw bytes to the console.
pub(crate) fn write_bytes(bytes: &[u8]) {
    if crate::runtime::is_component() {
        to_supervisor(bytes)
    } else {
        write_root(bytes)
    }
}

/// The root task's own output: through the kernel.
#[cfg(kaal_debug_kernel)]
fn write_root(bytes: &[u8]) {
    for &b in bytes {
        sys::debug_put_char(b);
    }
}

/// The root task's own output: to COM1.
#[cfg(not(kaal_debug_kernel))]
fn write_root(bytes: &[u8]) {
    uart::write(bytes)
}

/// Most bytes in one console message (after the count word).
const MESSAGE_BYTES: usize = (crate::ipc::MAX_WORDS - 1) * 8;

/// A component: the line goes to the supervisor's console thread.
fn to_supervisor(bytes: &[u8]) {
    send_to_console(kaal_abi::startup::slots::CONSOLE, bytes)
}

/// Sends `bytes` to the console thread through the endpoint at `cptr`, one message per
/// 952 bytes (a log line fits in one).
fn send_to_console(cptr: u64, bytes: &[u8]) {
    use kaal_abi::startup::labels;
    for chunk in bytes.chunks(MESSAGE_BYTES) {
        let mut words = [0u64; crate::ipc::MAX_WORDS];
        words[0] = chunk.len() as u64;
        for (i, b) in chunk.iter().enumerate() {
            words[1 + i / 8] |= (*b as u64) << ((i % 8) * 8);
        }
        let count = 1 + chunk.len().div_ceil(8);
        let Ok(msg) = crate::ipc::LongMessage::from_slice(labels::CONSOLE_WRITE, &words[..count]) else { return };
        // SAFETY: `cptr` holds the supervisor's console endpoint (a component's slot, or
        // the log thread's copy); the handle is used for this one call and forgotten,
        // never deleted.
        let console: crate::cap::Endpoint = unsafe { crate::cap::Cap::from_cptr(cptr) };
        let _ = console.call(msg);
        let _ = console.into_cptr();
    }
}

/// Components whose log rings the console thread drains: each ring's address in the
/// root task, and the component's name (for the `~defmt~` lines).
pub(crate) mod rings {
    use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

    use crate::log_ring::{LogReader, RingCorrupt};
    use crate::shared::SharedRegion;
    use crate::supervisor::MAX_COMPONENTS;

    struct Entry {
        vaddr: AtomicU64,
        name: AtomicPtr<u8>,
        name_len: AtomicUsize,
        /// The ring was found corrupt and is no longer read.
        broken: AtomicBool,
        /// Drops already reported.
        dropped: AtomicU64,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Entry = Entry {
        vaddr: AtomicU64::new(0),
        name: AtomicPtr::new(core::ptr::null_mut()),
        name_len: AtomicUsize::new(0),
        broken: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    };
    static RINGS: [Entry; MAX_COMPONENTS] = [EMPTY; MAX_COMPONENTS];
    /// Held by whoever drains (the console thread, or the root task at exit).
    static DRAINING: AtomicBool = AtomicBool::new(false);

    /// Registers component `index`'s ring, mapped at `vaddr` for the component's life.
    pub(crate) fn register(index: usize, name: &'static str, vaddr: u64) {
        if let Some(entry) = RINGS.get(index) {
            entry.name_len.store(name.len(), Ordering::Relaxed);
            entry.name.store(name.as_ptr() as *mut u8, Ordering::Relaxed);
            entry.vaddr.store(vaddr, Ordering::Release);
        }
    }

    fn name(entry: &Entry) -> &'static str {
        let ptr = entry.name.load(Ordering::Relaxed);
        // SAFETY: `register` stored a `&'static str`'s pointer and length.
        let bytes = unsafe { core::slice::from_raw_parts(ptr, entry.name_len.load(Ordering::Relaxed)) };
        core::str::from_utf8(bytes).unwrap_or("?")
    }

    fn reader(vaddr: u64) -> LogReader {
        // SAFETY: the supervisor mapped this page read-write for the component's ring
        // and keeps it mapped; it is only read and written through the ring's accessors.
        LogReader::new(unsafe { SharedRegion::from_mapping(vaddr, kaal_abi::startup::LOG_RING_SIZE as usize, true) })
    }

    fn each(mut f: impl FnMut(&Entry, LogReader)) {
        for entry in &RINGS {
            let vaddr = entry.vaddr.load(Ordering::Acquire);
            if vaddr != 0 && !entry.broken.load(Ordering::Relaxed) {
                f(entry, reader(vaddr));
            }
        }
    }

    /// Prints every frame waiting in a ring. Returns at once if another thread drains.
    pub(crate) fn drain() {
        if DRAINING.swap(true, Ordering::Acquire) {
            return;
        }
        each(|entry, reader| {
            let name = name(entry);
            let mut package = [0u8; 32];
            let len = reader.package(&mut package);
            let package = core::str::from_utf8(&package[..len]).unwrap_or("?");
            match reader.drain(|frame| crate::log::emit(package, name, frame)) {
                Ok(()) => {}
                Err(RingCorrupt::NotSetUp) => {}
                Err(RingCorrupt::Inconsistent) => {
                    entry.broken.store(true, Ordering::Relaxed);
                    crate::println!("[console] component '{name}' corrupted its log ring; its logs are no longer read");
                }
            }
            let dropped = reader.dropped() as u64;
            if dropped > entry.dropped.swap(dropped, Ordering::Relaxed) {
                crate::println!("[console] component '{name}' dropped log frames (ring full): {dropped} so far");
            }
        });
        DRAINING.store(false, Ordering::Release);
    }

    /// Tells every ring the console thread is about to sleep; true if frames arrived
    /// meanwhile (drain again instead).
    pub(crate) fn sleep() -> bool {
        let mut pending = false;
        each(|_, reader| pending |= reader.sleep());
        pending
    }

    /// Drains every ring before the system stops, from the root task, which then stops
    /// the machine. If the log thread was preempted (at its low priority) in the middle
    /// of printing a frame, that frame is printed twice, never lost.
    pub(crate) fn flush() {
        DRAINING.store(false, Ordering::Release);
        drain();
    }
}

/// The console endpoint the log thread's lines go through (0: write them directly, as
/// before a supervisor exists).
static LOG_CONSOLE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Writes one finished log line: through the console thread once there is one (so no
/// other line can cut it), else directly.
pub(crate) fn write_log_line(line: &[u8]) {
    match LOG_CONSOLE.load(core::sync::atomic::Ordering::Acquire) {
        0 => write_bytes(line),
        cptr => send_to_console(cptr, line),
    }
}

/// The supervisor's log thread: prints what components' log rings hold whenever a
/// component wakes it, until no ring has more. It runs at the lowest priority, so the
/// printing happens when nothing else wants the processor; its lines go out through
/// `console` (the console thread's endpoint).
pub(crate) fn print_logs(wake: &crate::cap::Notification, console: crate::cap::Endpoint) -> ! {
    LOG_CONSOLE.store(console.into_cptr(), core::sync::atomic::Ordering::Release);
    loop {
        rings::drain();
        if !rings::sleep() {
            wake.wait();
        }
    }
}

/// The supervisor's console thread: writes what components send to the console
/// endpoint, and answers each message once written (so a component's lines keep their
/// order, and a fast printer waits for the port rather than losing output).
pub(crate) fn serve(console: &crate::cap::Endpoint) -> ! {
    use kaal_abi::startup::labels;
    let mut received = console.recv_long();
    loop {
        if received.msg.label() == labels::CONSOLE_WRITE {
            write_message(&received.msg);
        }
        received = console.reply_recv_long(crate::ipc::Message::new(0));
    }
}

/// Writes the bytes of a `CONSOLE_WRITE` message.
fn write_message(msg: &crate::ipc::LongMessage) {
    // A hostile count is cut to what the message carries.
    let count = (msg.word(0) as usize).min((msg.len().saturating_sub(1)) * 8).min(MESSAGE_BYTES);
    let mut bytes = [0u8; MESSAGE_BYTES];
    for (i, b) in bytes[..count].iter_mut().enumerate() {
        *b = (msg.word(1 + i / 8) >> ((i % 8) * 8)) as u8;
    }
    write_root(&bytes[..count]);
}

/// A polled 16550 transmitter on COM1, the release kernel's console.
#[cfg(not(kaal_debug_kernel))]
pub(crate) mod uart {
    use core::sync::atomic::{AtomicU64, Ordering};

    use crate::device::{IoPortRange, PortSpan};
    use crate::sys;

    /// COM1's eight registers.
    pub(crate) const COM1: PortSpan = PortSpan::new(0x3f8, 8);
    const THR: u16 = 0; // transmit holding (DLAB = 0)
    const IER: u16 = 1; // interrupt enable (DLAB = 0); divisor high byte (DLAB = 1)
    const FCR: u16 = 2;
    const LCR: u16 = 3;
    const MCR: u16 = 4;
    const LSR: u16 = 5;
    const LSR_THR_EMPTY: u8 = 1 << 5;
    /// Bytes the 16550A's transmit FIFO holds.
    const FIFO: usize = 16;
    /// Enough polls for a byte at 9600 baud on a slow machine; a port that never empties
    /// (no UART there) drops output rather than hang the system.
    const MAX_POLLS: u32 = 1 << 20;

    /// The port capability's slot, 0 until [`init`].
    static PORTS: AtomicU64 = AtomicU64::new(0);

    /// Programs COM1 for 115200 baud, 8N1, FIFOs on, no interrupts, and makes it the
    /// console. Called once by the runtime with the ports it minted.
    pub(crate) fn init(ports: IoPortRange) {
        let setup: [(u16, u8); 7] = [(IER, 0), (LCR, 0x80), (THR, 1), (IER, 0), (LCR, 0x03), (FCR, 0xc7), (MCR, 0x03)];
        for (register, value) in setup {
            let _ = ports.write8(register, value);
        }
        PORTS.store(ports.into_cap().into_cptr(), Ordering::Release);
    }

    pub(crate) fn write(bytes: &[u8]) {
        let ports = PORTS.load(Ordering::Acquire);
        if ports == 0 {
            return;
        }
        // FIFOs are on: "transmit holding register empty" means the 16-byte transmit
        // FIFO is empty, so one poll per 16 bytes is enough.
        for chunk in bytes.chunks(FIFO) {
            for _ in 0..MAX_POLLS {
                // SAFETY: a port read through the console's own capability; the LSR has
                // no read side effects that matter for transmitting.
                let lsr = unsafe { sys::seL4_X86_IOPort_In8(ports, COM1.first + LSR) };
                if lsr.error != sys::seL4_NoError || lsr.result & LSR_THR_EMPTY != 0 {
                    break;
                }
            }
            for &b in chunk {
                // SAFETY: a port write through the console's own capability.
                unsafe { sys::seL4_X86_IOPort_Out8(ports, (COM1.first + THR) as u64, b as u64) };
            }
        }
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
