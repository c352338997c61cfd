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

use core::fmt;

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
pub struct FixedDevice<'a> {
    /// The broker's name for it: lower-case letters, digits and `_`, starting with a
    /// letter, at most [`MAX_NAME`] bytes.
    pub name: &'a str,
    /// What it is ("16550 UART").
    pub description: &'a str,
    /// Its I/O ports.
    pub ports: Option<PortRange>,
    /// Its ISA interrupt line (0-15).
    pub irq: Option<u8>,
    /// Its memory-mapped registers.
    pub mmio: Option<MmioRange>,
    pub probe: Probe,
    /// Why it may never be handed out, if so.
    pub reserved: Option<&'a str>,
}

impl<'a> FixedDevice<'a> {
    /// Reads one line [`Display`](fmt::Display) wrote (how `kaal debug devices` hands a
    /// system's declared devices to the device lister); `None` if it is malformed.
    pub fn parse(line: &'a str) -> Option<Self> {
        let (fields, description) = line.trim_end().split_once(" description=")?;
        let mut device = FixedDevice {
            name: "",
            description,
            ports: None,
            irq: None,
            mmio: None,
            probe: Probe::None,
            reserved: None,
        };
        for word in fields.split(' ') {
            let (key, value) = word.split_once('=')?;
            match key {
                "name" => device.name = value,
                "ports" => {
                    let (first, count) = value.split_once('+')?;
                    device.ports = Some(PortRange { first: hex(first)? as u16, count: hex(count)? as u16 });
                }
                "irq" => device.irq = Some(value.parse().ok()?),
                "mmio" => {
                    let (address, size) = value.split_once('+')?;
                    device.mmio = Some(MmioRange { address: hex(address)?, size: hex(size)? });
                }
                "probe" => {
                    let mut parts = value.split(':');
                    device.probe = match (parts.next()?, parts.next(), parts.next(), parts.next()) {
                        ("none", None, ..) => Probe::None,
                        ("scratch", Some(offset), None, _) => Probe::Scratch { offset: hex(offset)? as u16 },
                        ("read", Some(offset), Some(mask), Some(equals)) => Probe::Read {
                            offset: hex(offset)? as u16,
                            mask: hex(mask)? as u8,
                            equals: hex(equals)? as u8,
                        },
                        _ => return None,
                    };
                }
                _ => return None,
            }
        }
        check_name(device.name).ok()?;
        Some(device)
    }
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// One line: `name=rtc ports=0x70+0x2 irq=8 probe=none description=CMOS clock`.
impl fmt::Display for FixedDevice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name={}", self.name)?;
        if let Some(p) = self.ports {
            write!(f, " ports={:#x}+{:#x}", p.first, p.count)?;
        }
        if let Some(irq) = self.irq {
            write!(f, " irq={irq}")?;
        }
        if let Some(m) = self.mmio {
            write!(f, " mmio={:#x}+{:#x}", m.address, m.size)?;
        }
        match self.probe {
            Probe::None => write!(f, " probe=none")?,
            Probe::Scratch { offset } => write!(f, " probe=scratch:{offset:#x}")?,
            Probe::Read { offset, mask, equals } => write!(f, " probe=read:{offset:#x}:{mask:#x}:{equals:#x}")?,
        }
        // Last: the description may hold spaces (but not line breaks).
        let description = self.description.split(['\n', '\r']).next().unwrap_or("");
        write!(f, " description={description}")
    }
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

const fn uart(name: &'static str, first: u16, irq: u8, reserved: Option<&'static str>) -> FixedDevice<'static> {
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

/// COM1: the kernel's console, whose receiving side the tool grants to the Linux
/// personality's terminal (kaal-dev's `Broker::claim_console_input`).
pub const CONSOLE: &str = "com1";

/// The fixed devices KaaL knows on QEMU's `pc` machine. (The HPET is found through ACPI,
/// not listed here.)
pub const BUILT_IN: [FixedDevice<'static>; 5] = [
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
pub fn built_in(name: &str) -> Option<&'static FixedDevice<'static>> {
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
    fn declared_devices_round_trip_through_one_line() {
        extern crate std;
        use std::string::ToString;
        let rtc = FixedDevice {
            name: "rtc",
            description: "CMOS clock, battery backed",
            ports: ports(0x70, 2),
            irq: Some(8),
            mmio: Some(MmioRange { address: 0xfed4_0000, size: 0x1000 }),
            probe: Probe::Read { offset: 1, mask: 0x80, equals: 0x80 },
            reserved: None,
        };
        let line = rtc.to_string();
        assert_eq!(FixedDevice::parse(&line), Some(rtc));
        for device in BUILT_IN {
            let line = device.to_string();
            assert_eq!(FixedDevice::parse(&line), Some(FixedDevice { reserved: None, ..device }));
        }
        assert_eq!(FixedDevice::parse("name=Bad description=x"), None);
        assert_eq!(FixedDevice::parse("name=rtc ports=70 description=x"), None);
        assert_eq!(FixedDevice::parse("name=rtc"), None);
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
