//! What the broker knows about a device: where it is, what it needs, who holds it.

use core::fmt;

/// A legacy ISA device at a fixed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IsaDevice {
    /// 16550 UART at 0x3f8, IRQ 4. Reserved: the kernel's debug console.
    Com1,
    /// 16550 UART at 0x2f8, IRQ 3.
    Com2,
    /// 16550 UART at 0x3e8, IRQ 4.
    Com3,
    /// 16550 UART at 0x2e8, IRQ 3.
    Com4,
    /// 8254 programmable interval timer at 0x40, IRQ 0.
    Pit,
}

impl IsaDevice {
    /// Every ISA device the broker knows.
    pub const ALL: [IsaDevice; 5] = [Self::Com1, Self::Com2, Self::Com3, Self::Com4, Self::Pit];

    /// Lower-case name, as used in `#[isa(...)]` and system.toml.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Com1 => "com1",
            Self::Com2 => "com2",
            Self::Com3 => "com3",
            Self::Com4 => "com4",
            Self::Pit => "pit",
        }
    }

    /// The device called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// First I/O port and number of ports.
    pub const fn ports(self) -> (u16, u16) {
        match self {
            Self::Com1 => (0x3f8, 8),
            Self::Com2 => (0x2f8, 8),
            Self::Com3 => (0x3e8, 8),
            Self::Com4 => (0x2e8, 8),
            Self::Pit => (0x40, 4),
        }
    }

    /// The ISA interrupt line.
    pub const fn irq(self) -> u8 {
        match self {
            Self::Com1 | Self::Com3 => 4,
            Self::Com2 | Self::Com4 => 3,
            Self::Pit => 0,
        }
    }

    /// What it is.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Com1 | Self::Com2 | Self::Com3 | Self::Com4 => "16550 UART",
            Self::Pit => "8254 interval timer",
        }
    }
}

/// Which device a driver can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMatch {
    /// A PCI function by vendor and device ID.
    Pci { vendor: u16, device: u16 },
    /// A legacy ISA device.
    Isa(IsaDevice),
}

/// The broker's name for a device: `com2`, `pit`, `hpet`, `pci:00:03.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceId {
    Isa(IsaDevice),
    Hpet,
    Pci { bus: u8, device: u8, function: u8 },
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceId::Isa(d) => f.write_str(d.name()),
            DeviceId::Hpet => f.write_str("hpet"),
            DeviceId::Pci { bus, device, function } => write!(f, "pci:{bus:02x}:{device:02x}.{function}"),
        }
    }
}

impl DeviceId {
    /// Parses the names [`Display`](fmt::Display) prints.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(isa) = IsaDevice::from_name(name) {
            return Some(DeviceId::Isa(isa));
        }
        if name == "hpet" {
            return Some(DeviceId::Hpet);
        }
        let rest = name.strip_prefix("pci:")?;
        let (bus, rest) = rest.split_once(':')?;
        let (device, function) = rest.split_once('.')?;
        Some(DeviceId::Pci {
            bus: u8::from_str_radix(bus, 16).ok()?,
            device: u8::from_str_radix(device, 16).ok()?,
            function: function.parse().ok()?,
        })
    }
}

/// A memory-mapped register window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioWindow {
    /// Which PCI BAR (0 for fixed devices).
    pub index: u8,
    pub paddr: u64,
    pub size: u64,
}

pub use kaal_core::device::InterruptLine;

/// One row of the device table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: DeviceId,
    /// What it is ("16550 UART", "Ethernet controller").
    pub description: &'static str,
    /// PCI vendor and device IDs, if on PCI.
    pub pci_ids: Option<(u16, u16)>,
    /// I/O ports (first, count).
    pub ports: Option<(u16, u16)>,
    pub mmio: heapless::Vec<MmioWindow, 6>,
    pub interrupt: Option<InterruptLine>,
    /// Why no one may claim it, if so (e.g. the kernel's debug console).
    pub reserved: Option<&'static str>,
}

impl DeviceInfo {
    /// Whether a driver declaring `m` drives this device.
    pub fn matches(&self, m: &DeviceMatch) -> bool {
        match (m, self.id) {
            (DeviceMatch::Isa(want), DeviceId::Isa(have)) => *want == have,
            (DeviceMatch::Pci { vendor, device }, _) => self.pci_ids == Some((*vendor, *device)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_round_trip() {
        for id in [DeviceId::Isa(IsaDevice::Com2), DeviceId::Hpet, DeviceId::Pci { bus: 0, device: 3, function: 1 }] {
            let name = std::format!("{id}");
            assert_eq!(DeviceId::parse(&name), Some(id), "{name}");
        }
        assert_eq!(DeviceId::parse("com9"), None);
        assert_eq!(DeviceId::parse("pci:zz:00.0"), None);
    }
}
