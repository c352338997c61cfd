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
