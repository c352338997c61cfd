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

/// Writes text the server itself echoes (`^C`).
pub fn write(bytes: &[u8]) {
    write_translated(bytes, true);
}

/// COM1's receiving side: the terminal's input. The kernel (debug builds) and the root
/// task (release builds) write to COM1 by polling; this only reads it, on its receive
/// interrupt.
pub struct Input {
    ports: kaal_core::device::IoPortRange,
    irq: kaal_core::device::Irq,
}

/// COM1's registers, by offset.
const DATA: u16 = 0;
const IER: u16 = 1;
const MCR: u16 = 4;
const LSR: u16 = 5;
const IER_RX_AVAILABLE: u8 = 1;
/// DTR, RTS and OUT2 (which gates the interrupt line on a PC).
const MCR_DTR_RTS_OUT2: u8 = 0x0b;
const LSR_DATA_READY: u8 = 1;

impl Input {
    /// Turns on the receive interrupt (the line settings stay as the console set them).
    pub fn new(ports: kaal_core::device::IoPortRange, irq: kaal_core::device::Irq) -> kaal_core::Result<Input> {
        ports.write8(MCR, MCR_DTR_RTS_OUT2)?;
        ports.write8(IER, IER_RX_AVAILABLE)?;
        let input = Input { ports, irq };
        // Bytes that arrived before: take them, and let the line interrupt again.
        let _ = input.drain();
        Ok(input)
    }

    /// The interrupt's badge bits on its notification.
    pub fn badge(&self) -> u64 {
        self.irq.badge().value()
    }

    pub fn notification(&self) -> &kaal_core::Notification {
        self.irq.notification()
    }

    /// Every byte the UART holds, then re-enables the interrupt.
    pub fn drain(&self) -> alloc::vec::Vec<u8> {
        let mut bytes = alloc::vec::Vec::new();
        while self.ports.read8(LSR).is_ok_and(|lsr| lsr & LSR_DATA_READY != 0) && bytes.len() < 4096 {
            match self.ports.read8(DATA) {
                Ok(b) => bytes.push(b),
                Err(_) => break,
            }
        }
        let _ = self.irq.ack();
        bytes
    }
}
