//! Fixed devices as data: devices at fixed I/O ports or addresses, which a PC cannot
//! enumerate (unlike PCI functions).
//!
//! One table describes each of them: its name, what it is, its I/O ports, ISA interrupt
//! line and MMIO window, and how the broker probes for it. The broker builds its device
//! table from [`BUILT_IN`] plus the devices a system declares (`[devices.NAME]` in
//! system.toml, carried to the root task in the boot plan); `#[derive(Driver)]`'s
//! `#[isa(NAME)]` and system.toml's validator take any name either defines. Nothing else
//! lists them. The validator checks declared devices against [`BUILT_IN`],
//! [`KERNEL_PORTS`], [`KERNEL_MMIO`] and each other with the functions here.

/// Longest device name: it must leave room in a 32-byte grant name for `:events`.
pub const MAX_NAME: usize = 24;

/// How the broker finds out whether a fixed device is there. A PC answers reads of an
/// I/O port with no device behind it with all ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Assume it is there (the PIT, which every PC has).
    None,
    /// The 8-bit register at `offset` keeps what is written to it (a 16550's scratch
    /// register). The broker writes 0x5a and 0xa5 and reads each back.
    Scratch { offset: u16 },
    /// Reading the 8-bit register at `offset`, the bits in `mask` equal `equals`.
    Read { offset: u16, mask: u8, equals: u8 },
}

/// A fixed device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedDevice {
    /// The broker's name for it: lower-case letters, digits and `_`, starting with a
    /// letter, at most [`MAX_NAME`] bytes.
    pub name: &'static str,
    /// What it is ("16550 UART").
    pub description: &'static str,
    /// Its I/O ports.
    pub ports: Option<PortRange>,
    /// Its ISA interrupt line (0-15).
    pub irq: Option<u8>,
    /// Its memory-mapped registers.
    pub mmio: Option<MmioRange>,
    pub probe: Probe,
    /// Why it may never be handed out, if so.
    pub reserved: Option<&'static str>,
}

/// I/O ports `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub count: u16,
}

impl PortRange {
    /// The last port.
    pub const fn last(self) -> u32 {
        self.first as u32 + self.count as u32 - 1
    }

    /// Whether the two ranges share a port.
    pub const fn overlaps(self, other: PortRange) -> bool {
        self.first as u32 <= other.last() && other.first as u32 <= self.last()
    }
}

/// Physical addresses `address..address + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioRange {
    pub address: u64,
    pub size: u64,
}

impl MmioRange {
    /// Whether the two ranges share a byte.
    pub const fn overlaps(self, other: MmioRange) -> bool {
        self.address < other.address.saturating_add(other.size)
            && other.address < self.address.saturating_add(self.size)
    }
}

const fn ports(first: u16, count: u16) -> Option<PortRange> {
    Some(PortRange { first, count })
}

const fn uart(name: &'static str, first: u16, irq: u8, reserved: Option<&'static str>) -> FixedDevice {
    FixedDevice {
        name,
        description: "16550 UART",
        ports: ports(first, 8),
        irq: Some(irq),
        mmio: None,
        probe: Probe::Scratch { offset: 7 },
        reserved,
    }
}

/// The fixed devices KaaL knows on QEMU's `pc` machine. (The HPET is found through ACPI,
/// not listed here.)
pub const BUILT_IN: [FixedDevice; 5] = [
    uart("com1", 0x3f8, 4, Some("the seL4 kernel's debug console (seL4_DebugPutChar) writes to it")),
    uart("com2", 0x2f8, 3, None),
    uart("com3", 0x3e8, 4, None),
    uart("com4", 0x2e8, 3, None),
    FixedDevice {
        name: "pit",
        description: "8254 interval timer",
        ports: ports(0x40, 4),
        irq: Some(0),
        mmio: None,
        probe: Probe::None,
        reserved: None,
    },
];

/// Names that are not fixed devices but are taken: the HPET (found through ACPI).
pub const OTHER_NAMES: [&str; 1] = ["hpet"];

/// I/O ports no device may be declared on, and who uses them. (COM1, the kernel's
/// console, is a reserved entry of [`BUILT_IN`].)
pub const KERNEL_PORTS: [(PortRange, &str); 4] = [
    (PortRange { first: 0x20, count: 2 }, "the master 8259 interrupt controller, which the kernel masks at boot"),
    (PortRange { first: 0xa0, count: 2 }, "the slave 8259 interrupt controller, which the kernel masks at boot"),
    (
        PortRange { first: crate::exit::DEBUG_EXIT_PORT, count: 1 },
        "QEMU's isa-debug-exit port, which KaaL exits through",
    ),
    (PortRange { first: 0xcf8, count: 8 }, "PCI configuration space, which the capability broker drives"),
];

/// Physical memory no device may be declared on, and who uses it.
pub const KERNEL_MMIO: [(MmioRange, &str); 3] = [
    (MmioRange { address: 0xfec0_0000, size: 0x1000 }, "the IOAPIC, which the kernel drives"),
    (MmioRange { address: 0xfed0_0000, size: 0x400 }, "the HPET (device `hpet`, found through ACPI)"),
    (MmioRange { address: 0xfee0_0000, size: 0x1000 }, "the local APIC, which the kernel drives"),
];

/// The built-in device called `name`.
pub fn built_in(name: &str) -> Option<&'static FixedDevice> {
    BUILT_IN.iter().find(|d| d.name == name)
}

/// Why `name` cannot name a device, if so.
pub const fn check_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err("a device name cannot be empty");
    }
    if bytes.len() > MAX_NAME {
        return Err("a device name has at most 24 characters");
    }
    if !bytes[0].is_ascii_lowercase() {
        return Err("a device name starts with a lower-case letter");
    }
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err("a device name has only lower-case letters, digits and `_`");
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_is_consistent() {
        for (i, a) in BUILT_IN.iter().enumerate() {
            assert_eq!(check_name(a.name), Ok(()));
            for b in &BUILT_IN[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(!a.ports.unwrap().overlaps(b.ports.unwrap()), "{} and {}", a.name, b.name);
            }
            for (kernel, _) in KERNEL_PORTS {
                assert!(!a.ports.unwrap().overlaps(kernel), "{}", a.name);
            }
        }
        assert_eq!(built_in("pit").map(|d| d.probe), Some(Probe::None));
        assert!(built_in("com1").unwrap().reserved.is_some());
    }

    #[test]
    fn ranges_overlap_only_when_they_share_a_port() {
        let r = |first, count| PortRange { first, count };
        assert!(r(0x70, 2).overlaps(r(0x71, 1)));
        assert!(!r(0x70, 2).overlaps(r(0x72, 4)));
        assert!(r(0xfff0, 16).overlaps(r(0xffff, 1)));
        let m = |address, size| MmioRange { address, size };
        assert!(m(0x1000, 0x1000).overlaps(m(0x1fff, 1)));
        assert!(!m(0x1000, 0x1000).overlaps(m(0x2000, 1)));
    }

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(check_name("rtc"), Ok(()));
        assert_eq!(check_name("cmos_rtc2"), Ok(()));
        for bad in ["", "Rtc", "2rtc", "my-rtc", "pci:00", "a_very_long_device_name_indeed"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
