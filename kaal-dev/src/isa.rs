//! Fixed devices: which are there.
//!
//! Fixed devices sit at fixed I/O ports and cannot be enumerated, so the broker probes
//! for each as its table row says ([`Probe`]): a 16550 UART has a scratch register that
//! keeps what is written to it, while an absent device reads back as all ones; the PIT
//! is always there on a PC, and so is a declared device without a probe.

use kaal_core::device::IoPortRange;

use crate::device::Probe;

/// Whether the device behind `ports` answers `probe`.
pub fn present(probe: Probe, ports: &IoPortRange) -> bool {
    match probe {
        Probe::None => true,
        Probe::Scratch { offset } => [0x5a, 0xa5]
            .iter()
            .all(|pattern| ports.write8(offset, *pattern).is_ok() && ports.read8(offset).ok() == Some(*pattern)),
        Probe::Read { offset, mask, equals } => ports.read8(offset).is_ok_and(|value| value & mask == equals),
    }
}
