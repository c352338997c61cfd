//! `[devices.NAME]`: fixed devices a system declares, checked against the devices KaaL
//! ships (`kaal_abi::devices::BUILT_IN`), the ports and memory the kernel and the
//! broker keep, and each other.
//!
//! ```toml
//! [devices.rtc]
//! description = "MC146818 CMOS real-time clock"
//! ports = "0x70-0x71"
//! irq = 8
//! ```

use kaal_abi::devices::{self, MmioRange, PortRange, Probe, BUILT_IN, KERNEL_MMIO, KERNEL_PORTS};
use toml::Spanned;

use super::super::raw::{RawDevice, RawProbe, Tables};
use super::super::{key_part, DeclaredDevice, TimeSource};
use super::{Checker, SizeLimit, MIB};

/// Most I/O ports one device may have (one capability covers them).
const MAX_PORTS: u32 = 256;
/// Physical addresses on x86-64 have at most 52 bits.
const MAX_PHYSICAL: u64 = 1 << 52;
const MMIO: SizeLimit = SizeLimit { what: "an MMIO window", default: 0, min: 1, max: 256 * MIB };
const DOCS: &str = "docs/SYSTEM_TOML.md#devices-kaal-does-not-know";

/// `0x70-0x71` (hex, as the docs write them).
pub(crate) fn show_ports(p: PortRange) -> String {
    if p.count == 1 {
        format!("{:#x}", p.first)
    } else {
        format!("{:#x}-{:#x}", p.first, p.last())
    }
}

fn show_mmio(m: MmioRange) -> String {
    format!("{:#x}-{:#x}", m.address, m.address + m.size - 1)
}

/// The pages `m` touches: the broker maps device memory in whole 4 KiB frames, so two
/// windows in one page would both need that frame.
fn pages(m: MmioRange) -> MmioRange {
    let first = m.address & !0xfff;
    let end = m.address.saturating_add(m.size).saturating_add(0xfff) & !0xfff;
    MmioRange { address: first, size: end - first }
}

/// A port number, hex (`0x70`) or decimal.
fn port_number(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(n) if n <= 0xffff => Ok(n),
        Ok(n) => Err(format!("port {n:#x} is out of range: I/O ports go from 0x0 to 0xffff")),
        Err(_) => Err(format!("`{text}` is not a port number")),
    }
}

/// `"0x70-0x71"` or `"0x70"`.
fn port_range(text: &str) -> Result<PortRange, String> {
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (port_number(first)?, port_number(last)?),
        None => {
            let port = port_number(text)?;
            (port, port)
        }
    };
    if last < first {
        return Err(format!("the range {first:#x}-{last:#x} runs backwards"));
    }
    if last - first + 1 > MAX_PORTS {
        return Err(format!("{} ports is more than a device may have ({MAX_PORTS})", last - first + 1));
    }
    Ok(PortRange { first: first as u16, count: (last - first + 1) as u16 })
}

/// A declared device's ports and MMIO window, and where they were written, for the
/// overlap checks.
struct Placed {
    name: String,
    line: usize,
    ports: Option<(PortRange, std::ops::Range<usize>)>,
    mmio: Option<(MmioRange, std::ops::Range<usize>)>,
}

impl Checker<'_> {
    /// Checks `[devices]`; the names (valid or not) go into `self.declared`, so that a
    /// component listing one is not reported a second time.
    pub(super) fn declared_devices(
        &mut self,
        raw: Option<&Spanned<Tables<RawDevice>>>,
        qemu_memory: u64,
        time: Option<TimeSource>,
    ) -> Vec<DeclaredDevice> {
        let Some(raw) = raw else { return Vec::new() };
        let mut declared = Vec::new();
        let mut placed: Vec<Placed> = Vec::new();
        let mut tables: Vec<_> = raw.get_ref().iter().collect();
        tables.sort_by_key(|(name, _)| name.span().start);
        for (name, table) in tables {
            let text = name.get_ref().as_str();
            self.declared.insert(text.to_string());
            let key = format!("devices.{}", key_part(text));
            let table = table.get_ref();
            let mut valid = self.device_name(name, &key);
            let ports = table.ports.as_ref().and_then(|p| match port_range(p.get_ref()) {
                Ok(range) => Some((range, p.span())),
                Err(why) => {
                    let message = format!("`{}` is not a port range: {why}", p.get_ref());
                    self.report(&p.span(), format!("{key}.ports"), message, "write the first and last port, e.g. `ports = \"0x70-0x71\"`, or one port as `ports = \"0x70\"`");
                    valid = false;
                    None
                }
            });
            let irq = table.irq.as_ref().and_then(|irq| {
                let line = self.in_range(irq, &format!("{key}.irq"), 0..=15, |n| format!("IRQ {n} is not an ISA interrupt line"), "a fixed device raises one of the ISA lines 0-15, e.g. `irq = 8`; leave `irq` out if it raises none");
                match line {
                    Some(2) => {
                        self.report(&irq.span(), format!("{key}.irq"), "IRQ 2 is the cascade between the two 8259 interrupt controllers; no device raises it", "use the line the device's datasheet gives (a device wired to 2 on an old PC raises 9)");
                        valid = false;
                        None
                    }
                    Some(8) if time == Some(TimeSource::Hpet) => {
                        self.report(
                            &irq.span(),
                            format!("{key}.irq"),
                            "IRQ 8 is taken by the HPET time service ([time] source = \"hpet\"): in legacy \
                             replacement mode the HPET's timer 1 replaces the RTC's line",
                            "use `source = \"pit\"` for the time service, or leave `irq` out and poll the device",
                        );
                        valid = false;
                        None
                    }
                    Some(line) => Some(line as u8),
                    None => {
                        valid = false;
                        None
                    }
                }
            });
            let mmio = table.mmio.as_ref().and_then(|m| {
                let window = m.get_ref();
                let size = self.size(Some(&window.size), &format!("{key}.mmio.size"), &MMIO);
                let address = *window.address.get_ref();
                let key = format!("{key}.mmio.address");
                let fix =
                    "give the physical address of the device's registers from its datasheet or QEMU's `info mtree`";
                if address < 0 || address as u64 >= MAX_PHYSICAL {
                    self.report(
                        &window.address.span(),
                        key,
                        format!("MMIO address {address:#x} is not a physical address (0 to 2^52)"),
                        fix,
                    );
                } else if (address as u64) < qemu_memory {
                    let message = format!(
                        "MMIO address {address:#x} is inside the guest's RAM (the first {} MiB)",
                        qemu_memory / MIB
                    );
                    self.report(&window.address.span(), key, message, fix);
                } else if size > 0 {
                    return Some((MmioRange { address: address as u64, size }, m.span()));
                }
                valid = false;
                None
            });
            let probe = self.probe(table.probe.as_ref(), ports.as_ref().map(|(p, _)| *p), &key);
            if ports.is_none() && mmio.is_none() && table.ports.is_none() && table.mmio.is_none() {
                self.report(&name.span(), key.clone(), format!("device `{text}` has neither ports nor an MMIO window, so a driver could not reach it"), format!("add its I/O ports (`ports = \"0x70-0x71\"`) or its registers (`mmio = {{ address = 0xfed40000, size = \"4 KiB\" }}`); see {DOCS}"));
                valid = false;
            }
            placed.push(Placed {
                name: text.to_string(),
                line: self.source.line(name.span().start),
                ports: ports.clone(),
                mmio: mmio.clone(),
            });
            if let (true, Some(probe)) = (valid, probe) {
                declared.push(DeclaredDevice {
                    name: text.to_string(),
                    description: table
                        .description
                        .as_ref()
                        .map_or_else(|| format!("declared in {}", self.source.file), |d| d.get_ref().clone()),
                    ports: ports.map(|(p, _)| p),
                    irq,
                    mmio: mmio.map(|(m, _)| m),
                    probe,
                });
            }
        }
        self.overlaps(&placed);
        declared
    }

    /// Whether `name` may name a declared device; reports why not.
    fn device_name(&mut self, name: &Spanned<String>, key: &str) -> bool {
        let text = name.get_ref().as_str();
        let (message, help) = if let Err(why) = devices::check_name(text) {
            (
                format!("`{text}` cannot name a device: {why}"),
                "name it like `rtc` or `cmos_rtc`; components list it by that name in `devices`".to_string(),
            )
        } else if let Some(known) = devices::built_in(text) {
            let ports = known.ports.map(show_ports).unwrap_or_default();
            (
                format!("`{text}` is a device KaaL already knows (the {} at {ports})", known.description),
                format!("remove [devices.{text}]; a component lists a built-in device by name, e.g. `devices = [\"{text}\"]`"),
            )
        } else if devices::OTHER_NAMES.contains(&text) {
            (
                format!("`{text}` is a device KaaL already knows (found through ACPI)"),
                format!("remove [devices.{text}], or give your device another name"),
            )
        } else {
            return true;
        };
        self.report(&name.span(), key, message, help);
        false
    }

    /// `probe = { scratch = N }` or `{ read = N, mask = M, equals = V }`; absent: none.
    fn probe(&mut self, raw: Option<&Spanned<RawProbe>>, ports: Option<PortRange>, key: &str) -> Option<Probe> {
        let Some(raw) = raw else { return Some(Probe::None) };
        let key = format!("{key}.probe");
        let forms = "probe = { scratch = 7 } (a register that keeps what is written to it) or probe = { read = 5, mask = 0x80, equals = 0x80 } (a register whose masked bits read as `equals`)";
        let p = raw.get_ref();
        let Some(ports) = ports else {
            self.report(
                &raw.span(),
                key,
                "a probe reads the device's I/O ports, and it has none",
                "add `ports`, or remove `probe` (the device is then assumed present)",
            );
            return None;
        };
        let offset_help =
            format!("offsets count from the device's first port; it has {} ({})", ports.count, show_ports(ports));
        let offset = |checker: &mut Self, raw: &Spanned<i64>| {
            checker
                .in_range(
                    raw,
                    &key,
                    0..=ports.count as i64 - 1,
                    |n| format!("probe offset {n} is outside the device's ports"),
                    &offset_help,
                )
                .map(|n| n as u16)
        };
        let byte = |checker: &mut Self, raw: &Spanned<i64>, what: &str| {
            checker
                .in_range(
                    raw,
                    &key,
                    0..=0xff,
                    |n| format!("`{what}` {n:#x} does not fit the 8-bit register"),
                    "write a byte, 0x00 to 0xff",
                )
                .map(|n| n as u8)
        };
        match (&p.scratch, &p.read) {
            (Some(scratch), None) if p.mask.is_none() && p.equals.is_none() => {
                offset(self, scratch).map(|offset| Probe::Scratch { offset })
            }
            (None, Some(read)) => {
                let offset = offset(self, read);
                let mask = match &p.mask {
                    Some(mask) => byte(self, mask, "mask"),
                    None => Some(0xff),
                };
                let Some(raw_equals) = &p.equals else {
                    self.report(
                        &raw.span(),
                        key,
                        "a `read` probe needs `equals`: what the register reads as when the device is there",
                        forms,
                    );
                    return None;
                };
                let equals = byte(self, raw_equals, "equals");
                let (offset, mask, equals) = (offset?, mask?, equals?);
                if equals & !mask != 0 {
                    self.report(&raw_equals.span(), key, format!("`equals = {equals:#04x}` has bits outside `mask = {mask:#04x}`, so the probe could never succeed"), "clear those bits in `equals`, or widen `mask`");
                    return None;
                }
                Some(Probe::Read { offset, mask, equals })
            }
            _ => {
                self.report(
                    &raw.span(),
                    key,
                    "a probe is either `scratch` or `read` (with `equals` and an optional `mask`)",
                    forms,
                );
                None
            }
        }
    }

    /// Reports declared devices whose ports or memory overlap a built-in device, the
    /// kernel's, or an earlier declared device.
    fn overlaps(&mut self, placed: &[Placed]) {
        for (i, device) in placed.iter().enumerate() {
            let key = format!("devices.{}", key_part(&device.name));
            if let Some((ports, span)) = &device.ports {
                let shown = show_ports(*ports);
                let clash = BUILT_IN
                    .iter()
                    .filter(|b| b.name != device.name)
                    .find(|b| b.ports.is_some_and(|p| p.overlaps(*ports)))
                    .map(|b| {
                        let theirs = b.ports.map(show_ports).unwrap_or_default();
                        (format!("device {} (the {} at {theirs}, which KaaL ships)", b.name, b.description), format!("if it is the same device, list `{}` in the component's `devices` and remove [devices.{}]; otherwise correct the ports", b.name, device.name))
                    })
                    .or_else(|| {
                        KERNEL_PORTS.iter().find(|(p, _)| p.overlaps(*ports)).map(|(p, who)| (format!("{} ({who})", show_ports(*p)), "those ports are never handed out; correct the device's ports".to_string()))
                    })
                    .or_else(|| {
                        placed[..i].iter().find(|o| o.ports.as_ref().is_some_and(|(p, _)| p.overlaps(*ports))).map(|o| (format!("device {} (line {})", o.name, o.line), "a port belongs to one device: correct one of the two ranges, or remove one device".to_string()))
                    });
                if let Some((what, help)) = clash {
                    self.report(
                        span,
                        format!("{key}.ports"),
                        format!("ports {shown} of device `{}` overlap {what}", device.name),
                        help,
                    );
                }
            }
            if let Some((mmio, span)) = &device.mmio {
                // Compared by page: the broker maps whole frames.
                let clash = KERNEL_MMIO
                    .iter()
                    .find(|(m, _)| pages(*m).overlaps(pages(*mmio)))
                    .map(|(m, who)| format!("{} ({who}), in the same 4 KiB pages", show_mmio(*m)))
                    .or_else(|| {
                        placed[..i]
                            .iter()
                            .find(|o| o.mmio.as_ref().is_some_and(|(m, _)| pages(*m).overlaps(pages(*mmio))))
                            .map(|o| format!("device {} (line {}), in the same 4 KiB pages", o.name, o.line))
                    });
                if let Some(what) = clash {
                    self.report(
                        span,
                        format!("{key}.mmio"),
                        format!("MMIO window {} of device `{}` overlaps {what}", show_mmio(*mmio), device.name),
                        "correct the window's address or size",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_port_ranges() {
        assert_eq!(port_range("0x70-0x71"), Ok(PortRange { first: 0x70, count: 2 }));
        assert_eq!(port_range("0x378"), Ok(PortRange { first: 0x378, count: 1 }));
        assert_eq!(port_range("96 - 100"), Ok(PortRange { first: 96, count: 5 }));
        assert!(port_range("0x71-0x70").unwrap_err().contains("backwards"));
        assert!(port_range("0x10000").unwrap_err().contains("out of range"));
        assert!(port_range("0x0-0xfff").unwrap_err().contains("more than"));
        assert!(port_range("seventy").unwrap_err().contains("not a port number"));
    }
}
