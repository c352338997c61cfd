//! `print!` and `println!` over `seL4_DebugPutChar`.
//!
//! Output goes to the kernel's debug console (the first serial port under QEMU). A line is
//! formatted into a stack buffer first and emitted in one burst, so lines from different
//! threads rarely interleave. There is deliberately no lock: seL4 schedules strictly by
//! priority, so a high-priority thread spinning on a lock held by a preempted
//! low-priority one would never let it finish.

use core::fmt::{self, Write};

use crate::sys;

const BUFFER: usize = 256;

struct LineBuffer {
    bytes: [u8; BUFFER],
    len: usize,
}

impl LineBuffer {
    fn flush(&mut self) {
        for &b in &self.bytes[..self.len] {
            sys::debug_put_char(b);
        }
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

/// Writes formatted text to the debug console. Use [`crate::print!`] instead.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut line = LineBuffer { bytes: [0; BUFFER], len: 0 };
    let _ = line.write_fmt(args);
    line.flush();
}

/// Prints to the seL4 debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints a line to the seL4 debug console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
