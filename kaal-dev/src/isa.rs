//! Legacy ISA devices: which are there.
//!
//! ISA devices sit at fixed I/O ports and cannot be enumerated, so the broker probes
//! for them: a 16550 UART has a scratch register that keeps what is written to it,
//! while an absent device reads back as all ones. The PIT is always there on a PC.
//! COM1 is the kernel's own debug console; it is listed but never handed out.

use kaal_core::device::IoPortRange;

use crate::device::IsaDevice;

/// Offset of a 16550's scratch register.
const UART_SCRATCH: u16 = 7;

/// Whether a 16550 UART answers at `ports`.
pub fn uart_present(ports: &IoPortRange) -> bool {
    [0x5a, 0xa5]
        .iter()
        .all(|pattern| ports.write8(UART_SCRATCH, *pattern).is_ok() && ports.read8(UART_SCRATCH).ok() == Some(*pattern))
}

/// Why a present ISA device must not be handed out, if so.
pub fn reserved(device: IsaDevice) -> Option<&'static str> {
    match device {
        IsaDevice::Com1 => Some("the seL4 kernel's debug console (seL4_DebugPutChar) writes to it"),
        _ => None,
    }
}
