//! Drivers in components: claiming a device the root task granted.
//!
//! A component that lists a device in system.toml (`devices = ["com2"]`) is granted the
//! device's resources by the root task, which claimed them from the broker at boot: its
//! I/O ports as `D:ports`, its interrupt as `D:irq` with the notification it arrives on
//! as `D:events`, and each MMIO window as device memory `D:mmio<N>` (see
//! `kaal_abi::plan`). [`claim`] gathers them into a [`DeviceBundle`] and runs the
//! driver's `probe`, exactly as the broker does for a driver in the root task, so the
//! same driver crate works in either place:
//!
//! ```ignore
//! let mut uart: Uart = kaal_dev::component::claim(&mut me, "com2")?;
//! kaal_dev::kit::serve(&mut uart, |_| true)?;
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use kaal_core::component::{Component, Name};
use kaal_core::device::Irq;
use kaal_core::{Badge, Error};

use crate::broker::BrokerError;
use crate::device::{DeviceId, DeviceInfo, DeviceMatch, MmioWindow};
use crate::kit::{DeviceBundle, Driver};

/// Takes grant `name` if it exists: `Ok(None)` if it was not granted.
fn optional<T>(taken: Result<T, Error>) -> Result<Option<T>, Error> {
    match taken {
        Ok(value) => Ok(Some(value)),
        Err(Error::NotGranted { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Claims the granted device `device` (`com2`, `pci:00:03.0`) for driver `D` and
/// probes it.
pub fn claim<D: Driver>(me: &mut Component, device: &str) -> Result<D, BrokerError> {
    let claimant = me.name();
    let grant_error = |error| BrokerError::Grant { device: device.to_string(), claimant, error };
    let Some(id) = DeviceId::parse(device) else {
        return Err(grant_error(Error::NotGranted { name: Name::truncated(device) }));
    };
    if D::RESOURCES.dma_bytes > 0 {
        return Err(BrokerError::DmaInComponent { driver: D::NAME, bytes: D::RESOURCES.dma_bytes });
    }
    if let (DeviceId::Isa(have), false) = (id, D::MATCHES.is_empty()) {
        if !D::MATCHES.iter().any(|m| matches!(m, DeviceMatch::Isa(want) if *want == have)) {
            let wanted: Vec<String> = D::MATCHES.iter().map(crate::broker::describe_match).collect();
            return Err(BrokerError::NoMatchingDevice {
                driver: D::NAME,
                wanted: wanted.join(" or "),
                known: device.into(),
            });
        }
    }

    let key = |what: &str| {
        let mut name = String::from(device);
        name.push(':');
        name.push_str(what);
        name
    };
    let ports = optional(me.io_ports(&key("ports"))).map_err(grant_error)?;
    let irq = match optional(me.irq_handler(&key("irq"))).map_err(grant_error)? {
        Some((handler, line)) => {
            let events = me.notification(&key("events")).map_err(grant_error)?;
            // The root task bound the handler to this notification with badge 1.
            Some((Irq::from_parts(handler, events, Badge::new(1).expect("1 is a valid badge")), line))
        }
        None => None,
    };
    let prefix = key("mmio");
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

    let mut info = DeviceInfo {
        id,
        description: "granted by the root task",
        pci_ids: None,
        ports: ports.as_ref().map(|p| (p.span().first, p.span().last - p.span().first + 1)),
        mmio: heapless::Vec::new(),
        interrupt: irq.as_ref().map(|(_, line)| *line),
        reserved: None,
    };
    for (index, region) in &mmio {
        let _ = info.mmio.push(MmioWindow { index: *index, paddr: region.paddr(), size: region.size() as u64 });
    }
    let mut bundle = DeviceBundle { info, driver: D::NAME, ports, irq: irq.map(|(irq, _)| irq), mmio, dma: None };
    Ok(D::probe(&mut bundle)?)
}
