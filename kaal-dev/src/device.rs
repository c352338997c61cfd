//! What the broker knows about a device: where it is, what it needs, who holds it.

use core::fmt;

pub use kaal_abi::devices::{FixedDevice, Probe};

/// A fixed device's name, held inline so that a [`DeviceId`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceName {
    // First, so that names order as strings do (the padding is zeros).
    bytes: [u8; kaal_abi::devices::MAX_NAME],
    len: u8,
}

impl DeviceName {
    /// `name`, if it is a valid device name (see [`kaal_abi::devices::check_name`]).
    pub const fn new(name: &str) -> Option<Self> {
        if kaal_abi::devices::check_name(name).is_err() {
            return None;
        }
        let mut bytes = [0; kaal_abi::devices::MAX_NAME];
        let mut i = 0;
        while i < name.len() {
            bytes[i] = name.as_bytes()[i];
            i += 1;
        }
        Some(Self { len: name.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `&str` of ASCII characters.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Which device a driver can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMatch {
    /// A PCI function by vendor and device ID.
    Pci { vendor: u16, device: u16 },
    /// A fixed device, built in or declared in system.toml, by name (`#[isa(com2)]`).
    Fixed(&'static str),
}

/// The broker's name for a device: `com2`, `pit`, `hpet`, `pci:00:03.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceId {
    /// A fixed device: built in (`com2`, `pit`) or declared in system.toml.
    Fixed(DeviceName),
    Hpet,
    Pci {
        bus: u8,
        device: u8,
        function: u8,
    },
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceId::Fixed(d) => f.write_str(d.as_str()),
            DeviceId::Hpet => f.write_str("hpet"),
            DeviceId::Pci { bus, device, function } => write!(f, "pci:{bus:02x}:{device:02x}.{function}"),
        }
    }
}

impl DeviceId {
    /// The fixed device `name`, checked when a constant is evaluated:
    /// `const COM2: DeviceId = DeviceId::fixed("com2");`.
    pub const fn fixed(name: &str) -> Self {
        match DeviceName::new(name) {
            Some(name) => DeviceId::Fixed(name),
            None => panic!("not a valid device name: lower-case letters, digits and `_`, at most 24"),
        }
    }

    /// Parses the names [`Display`](fmt::Display) prints.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "hpet" {
            return Some(DeviceId::Hpet);
        }
        if let Some(fixed) = DeviceName::new(name) {
            return Some(DeviceId::Fixed(fixed));
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
            (DeviceMatch::Fixed(want), DeviceId::Fixed(have)) => *want == have.as_str(),
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
        for id in [
            DeviceId::fixed("com2"),
            DeviceId::fixed("rtc"),
            DeviceId::Hpet,
            DeviceId::Pci { bus: 0, device: 3, function: 1 },
        ] {
            let name = std::format!("{id}");
            assert_eq!(DeviceId::parse(&name), Some(id), "{name}");
        }
        assert_eq!(DeviceId::parse("Com9"), None);
        assert_eq!(DeviceId::parse("my-rtc"), None);
        // The table lists devices by name, fixed ones first.
        let mut ids = [DeviceId::fixed("pit"), DeviceId::Hpet, DeviceId::fixed("com10"), DeviceId::fixed("com1")];
        ids.sort();
        assert_eq!(ids, [DeviceId::fixed("com1"), DeviceId::fixed("com10"), DeviceId::fixed("pit"), DeviceId::Hpet]);
        assert_eq!(DeviceId::parse("pci:zz:00.0"), None);
    }
}
