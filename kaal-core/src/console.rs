//! `print!` and `println!`: to the kernel's debug console, or to a user-level 16550
//! driver on a release kernel.
//!
//! * On a **debug kernel** every thread prints through `seL4_DebugPutChar`, and the
//!   kernel writes to the first serial port (COM1).
//! * A **release kernel** has no console of its own. The root task then drives COM1
//!   itself with the small polled 16550 transmitter below (the runtime mints the
//!   port range and initialises the UART before `main`). A component has no ports: it
//!   sends each line to its supervisor's console thread over the endpoint in its
//!   [`kaal_abi::startup::slots::CONSOLE`] slot, and that thread writes it to COM1.
//!   The host reads COM1 either way (`kaal run` shows QEMU's first serial port).
//!
//! A line is formatted into a stack buffer first and emitted in one burst, so lines from
//! different threads rarely interleave. There is deliberately no spinning lock: seL4
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

/// Writes raw bytes to the console.
#[cfg(kaal_debug_kernel)]
pub(crate) fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        sys::debug_put_char(b);
    }
}

/// Writes raw bytes to the console.
#[cfg(not(kaal_debug_kernel))]
pub(crate) fn write_bytes(bytes: &[u8]) {
    if crate::runtime::is_component() {
        to_supervisor(bytes)
    } else {
        uart::write(bytes)
    }
}

/// Most bytes in one console message (after the count word).
#[cfg(not(kaal_debug_kernel))]
const MESSAGE_BYTES: usize = (crate::ipc::MAX_WORDS - 1) * 8;

/// A component on a release kernel: the line goes to the supervisor's console thread.
#[cfg(not(kaal_debug_kernel))]
fn to_supervisor(bytes: &[u8]) {
    use kaal_abi::startup::{labels, slots};
    for chunk in bytes.chunks(MESSAGE_BYTES) {
        let mut words = [0u64; crate::ipc::MAX_WORDS];
        words[0] = chunk.len() as u64;
        for (i, b) in chunk.iter().enumerate() {
            words[1 + i / 8] |= (*b as u64) << ((i % 8) * 8);
        }
        let count = 1 + chunk.len().div_ceil(8);
        let Ok(msg) = crate::ipc::Message::from_slice(labels::CONSOLE_WRITE, &words[..count]) else { return };
        // SAFETY: the supervisor placed its console endpoint in this slot; the handle is
        // used for this one call and forgotten, never deleted.
        let console: crate::cap::Endpoint = unsafe { crate::cap::Cap::from_cptr(slots::CONSOLE) };
        let _ = console.call(msg);
        let _ = console.into_cptr();
    }
}

/// The supervisor's console thread on a release kernel: writes what components send to
/// COM1, and answers each message once written (so a component's lines keep their order,
/// and a fast printer waits for the port rather than losing output).
#[cfg(not(kaal_debug_kernel))]
pub(crate) fn serve(console: &crate::cap::Endpoint) -> ! {
    use kaal_abi::startup::labels;
    let mut received = console.recv();
    loop {
        let msg = &received.msg;
        if msg.label() == labels::CONSOLE_WRITE {
            // A hostile count is cut to what the message carries.
            let count = (msg.word(0) as usize).min((msg.len().saturating_sub(1)) * 8).min(MESSAGE_BYTES);
            let mut bytes = [0u8; MESSAGE_BYTES];
            for (i, b) in bytes[..count].iter_mut().enumerate() {
                *b = (msg.word(1 + i / 8) >> ((i % 8) * 8)) as u8;
            }
            uart::write(&bytes[..count]);
        }
        received = console.reply_recv(crate::ipc::Message::new(0));
    }
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
        for &b in bytes {
            for _ in 0..MAX_POLLS {
                // SAFETY: a port read through the console's own capability; the LSR has
                // no read side effects that matter for transmitting.
                let lsr = unsafe { sys::seL4_X86_IOPort_In8(ports, COM1.first + LSR) };
                if lsr.error != sys::seL4_NoError || lsr.result & LSR_THR_EMPTY != 0 {
                    break;
                }
            }
            // SAFETY: a port write through the console's own capability.
            unsafe { sys::seL4_X86_IOPort_Out8(ports, (COM1.first + THR) as u64, b as u64) };
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
