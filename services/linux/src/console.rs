//! The terminal's output: bytes to the console, with the tty's output processing.

/// Writes `bytes` to the console; with `onlcr` (the tty's `OPOST|ONLCR`, on by
/// default) each `\n` goes out as `\r\n`, as a Linux tty sends it.
pub fn write_translated(bytes: &[u8], onlcr: bool) {
    if !onlcr {
        kaal_core::console::write(bytes);
        return;
    }
    let mut out = alloc::vec::Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    kaal_core::console::write(&out);
}

/// COM1's receiving side: the terminal's input. The kernel (debug builds) and the root
/// task (release builds) write to COM1 by polling; this only reads it.
///
/// It is polled (every [`POLL`] while the system runs) rather than interrupt-driven.
/// That began as a workaround: with COM1's receive interrupt on, seL4 5.0.0 took a
/// general protection fault delivering an interrupt (error code 0x322). The cause was
/// the kernel's misaligned stack corrupting its IDT (patch (d) in the tool's
/// kernel.rs), now fixed, so the interrupt could be used again; polling costs one
/// wake-up every 20 ms and a few port reads.
pub struct Input {
    ports: kaal_core::device::IoPortRange,
}

/// How often the terminal's input is looked at.
pub const POLL: kaal_core::time::Duration = kaal_core::time::Duration::from_millis(20);

/// COM1's registers, by offset.
const DATA: u16 = 0;
const IER: u16 = 1;
const LSR: u16 = 5;
const LSR_DATA_READY: u8 = 1;

impl Input {
    /// COM1's receiver, with its interrupts off.
    pub fn new(ports: kaal_core::device::IoPortRange) -> kaal_core::Result<Input> {
        ports.write8(IER, 0)?;
        Ok(Input { ports })
    }

    /// Every byte the UART holds now.
    pub fn drain(&self) -> alloc::vec::Vec<u8> {
        let mut bytes = alloc::vec::Vec::new();
        while self.ports.read8(LSR).is_ok_and(|lsr| lsr & LSR_DATA_READY != 0) && bytes.len() < 4096 {
            match self.ports.read8(DATA) {
                Ok(b) => bytes.push(b),
                Err(_) => break,
            }
        }
        bytes
    }
}
