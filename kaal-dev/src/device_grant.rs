//! Drivers in components: claiming a device the root task granted.
//!
//! A component that lists a device in system.toml (`devices = ["com2"]`) is granted the
//! device's resources by the root task, which claimed them from the broker at boot: its
//! I/O ports as `D:ports`, its interrupt as `D:irq` with the notification it arrives on
//! as `D:events`, and each MMIO window as device memory `D:mmio<N>` (see
//! `kaal_abi::plan`). A driver that needs DMA memory takes the component's own (`dma`
//! in system.toml, granted as region `dma` with its physical address). [`claim`]
//! gathers them into a [`DeviceBundle`] and runs the driver's `probe`, exactly as the
//! broker does for a driver in the root task, so the same driver crate works in either
//! place:
//!
//! ```ignore
//! let mut uart: Uart = kaal_dev::device_grant::claim(&mut me, "com2")?;
//! kaal_dev::kit::serve(&mut uart, |_| true)?;
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use kaal_alloc::DmaPool;
use kaal_core::component::{parts, Component, Name};
use kaal_core::Error;

use crate::broker::BrokerError;
use crate::device::{DeviceId, DeviceInfo, MmioWindow};
use crate::kit::{DeviceBundle, Driver};

/// Takes grant `name` if it exists: `Ok(None)` if it was not granted.
fn optional<T>(taken: Result<T, Error>) -> Result<Option<T>, Error> {
    match taken {
        Ok(value) => Ok(Some(value)),
        Err(Error::NotGranted { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `device:what`, the name of one of a device's grants (device names are short, so it
/// always fits; if not, the lookup finds nothing).
fn grant_name(device: &str, what: &str) -> Name {
    Name::joined(device, what).unwrap_or_else(|| Name::truncated(device))
}

/// Claims the one device among this component's grants that driver `D` drives, whatever
/// its name: for a component that is given a device by system.toml without knowing its
/// address (a disk, `disks = ["data"]`, is a PCI function the tool places).
pub fn claim_granted<D: Driver>(me: &mut Component) -> Result<D, BrokerError> {
    let claimant = me.name();
    let suffixes = [parts::DEVICE_PORTS, parts::DEVICE_IRQ, parts::DEVICE_EVENTS, parts::DEVICE_CONFIG];
    let mut devices: Vec<String> = Vec::new();
    let names = me
        .grants()
        .caps()
        .map(|c| c.name.as_str().to_string())
        .chain(me.grants().regions().map(|r| r.name.as_str().to_string()));
    for name in names.collect::<Vec<_>>() {
        let device = suffixes.iter().find_map(|s| name.strip_suffix(s)).or_else(|| {
            let (device, mmio) = name.rsplit_once(':')?;
            mmio.strip_prefix(&parts::DEVICE_MMIO[1..]).filter(|n| n.parse::<u8>().is_ok()).map(|_| device)
        });
        if let Some(device) = device.filter(|d| DeviceId::parse(d).is_some()) {
            if !devices.iter().any(|d| d == device) {
                devices.push(device.to_string());
            }
        }
    }
    let mut last = None;
    for device in &devices {
        match claim::<D>(me, device) {
            Ok(driver) => return Ok(driver),
            Err(e @ BrokerError::NoMatchingDevice { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    let wanted: Vec<String> = D::MATCHES.iter().map(crate::broker::describe_match).collect();
    Err(last.unwrap_or(BrokerError::NoMatchingDevice {
        driver: D::NAME,
        wanted: wanted.join(" or "),
        known: if devices.is_empty() {
            alloc::format!("nothing (component {claimant} was granted no device)")
        } else {
            devices.join(", ")
        },
    }))
}

/// Claims the granted device `device` (`com2`, `pci:00:03.0`) for driver `D` and
/// probes it.
pub fn claim<D: Driver>(me: &mut Component, device: &str) -> Result<D, BrokerError> {
    let claimant = me.name();
    let grant_error = |error| BrokerError::Grant { device: device.to_string(), claimant, error };
    let Some(id) = DeviceId::parse(device) else {
        return Err(grant_error(Error::NotGranted { name: Name::truncated(device) }));
    };

    // Which device it is: ISA devices by name, PCI devices by the IDs the root task put
    // in the upper half of the ports' or the IRQ handler's data word. A driver never
    // starts on a device it does not drive.
    let pci_ids = [parts::DEVICE_PORTS, parts::DEVICE_IRQ]
        .iter()
        .find_map(|what| me.grants().cap(grant_name(device, what).as_str()).map(|c| (c.data >> 32) as u32))
        .filter(|tag| *tag != 0)
        .map(|tag| ((tag >> 16) as u16, tag as u16));
    let mut info = DeviceInfo {
        id,
        description: "granted by the root task",
        pci_ids,
        ports: None,
        mmio: heapless::Vec::new(),
        interrupt: None,
        reserved: None,
    };
    let identified = matches!(id, DeviceId::Fixed(_)) || pci_ids.is_some();
    if identified && !D::MATCHES.is_empty() && !D::MATCHES.iter().any(|m| info.matches(m)) {
        let wanted: Vec<String> = D::MATCHES.iter().map(crate::broker::describe_match).collect();
        let granted = match pci_ids {
            Some((vendor, dev)) => alloc::format!("{device} (PCI {vendor:04x}:{dev:04x})"),
            None => device.into(),
        };
        return Err(BrokerError::NoMatchingDevice { driver: D::NAME, wanted: wanted.join(" or "), known: granted });
    }

    let ports = optional(me.io_ports(grant_name(device, parts::DEVICE_PORTS).as_str())).map_err(grant_error)?;
    let (handler, events) = (grant_name(device, parts::DEVICE_IRQ), grant_name(device, parts::DEVICE_EVENTS));
    let irq = optional(me.irq(handler.as_str(), events.as_str())).map_err(grant_error)?;
    let prefix = grant_name(device, parts::DEVICE_MMIO);
    let windows: Vec<(String, u8)> = me
        .grants()
        .regions()
        .filter_map(|r| {
            let index = r.name.as_str().strip_prefix(prefix.as_str())?.parse().ok()?;
            Some((r.name.as_str().to_string(), index))
        })
        .collect();
    let mut mmio = Vec::new();
    for (name, index) in windows {
        mmio.push((index, me.mmio(&name).map_err(grant_error)?));
    }
    if ports.is_none() && irq.is_none() && mmio.is_empty() {
        return Err(grant_error(Error::NotGranted { name: Name::truncated(device) }));
    }

    // DMA memory is the component's (system.toml `dma`), not the device's.
    let dma = match D::RESOURCES.dma_bytes {
        0 => None,
        needed => {
            let pool = match DmaPool::granted(me, parts::DMA) {
                Ok(pool) => pool,
                Err(Error::NotGranted { .. }) => {
                    return Err(BrokerError::ComponentDma { driver: D::NAME, claimant, needed, granted: 0 })
                }
                Err(e) => return Err(grant_error(e)),
            };
            if pool.size() < needed {
                return Err(BrokerError::ComponentDma { driver: D::NAME, claimant, needed, granted: pool.size() });
            }
            Some(pool)
        }
    };

    info.ports = ports.as_ref().map(|p| (p.span().first, p.span().last - p.span().first + 1));
    info.interrupt = irq.as_ref().map(|(_, line)| *line);
    for (index, region) in &mmio {
        let _ = info.mmio.push(MmioWindow { index: *index, paddr: region.paddr(), size: region.size() as u64 });
    }
    // A PCI function's configuration header comes as a read-only page, `D:config`.
    let config = match (id, me.region(grant_name(device, parts::DEVICE_CONFIG).as_str())) {
        (DeviceId::Pci { bus, device: dev, function }, Ok(page)) => {
            let mut bytes = [0; 304];
            page.read_bytes(0, &mut bytes);
            crate::pci::ConfigCopy::from_bytes(crate::pci::PciAddress { bus, device: dev, function }, &bytes)
        }
        (_, Err(Error::NotGranted { .. })) | (_, Ok(_)) => None,
        (_, Err(e)) => return Err(grant_error(e)),
    };
    let mut bundle = DeviceBundle { info, driver: D::NAME, ports, irq: irq.map(|(irq, _)| irq), mmio, dma, config };
    Ok(D::probe(&mut bundle)?)
}
