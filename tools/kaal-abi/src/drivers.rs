//! Driver declarations: what `#[derive(Driver)]` tells the `kaal` tool about a driver.
//!
//! Each driver in an image adds one line to the image's `.kaal_drivers` section, which
//! is not loaded (the linker script marks it `INFO`):
//!
//! ```text
//! kaal-driver 1 name=uart16550 match=isa:com2,isa:com3 ports=1 irq=1 mmio=0x0
//! kaal-driver 1 name=lsr-reader match=isa:com2 ports=1 irq=0 mmio=0x0 portcount=6
//! ```
//!
//! `match` lists the devices it drives (`isa:<name>` or `pci:<vendor>:<device>`, hex),
//! `ports` and `irq` whether it takes the device's I/O ports and interrupt, and `mmio`
//! a bit mask of the PCI BARs it maps, and `portcount` (optional) that it takes only the
//! device's first so many ports (`#[ports(count = N)]`). `kaal build` reads the lines of each component's
//! image and grants the component only the resources of the devices it lists that its
//! drivers take: a driver without `#[interrupt]` gets no IRQ handler and no event
//! notification.

/// What one driver takes from the devices it drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration<'a> {
    pub name: &'a str,
    /// `isa:com2`, `pci:8086:100e`, ...
    pub matches: &'a str,
    pub ports: bool,
    pub irq: bool,
    /// PCI BARs it maps, one bit each.
    pub mmio: u8,
    /// It takes only the device's first so many I/O ports.
    pub port_count: Option<u16>,
}

impl<'a> Declaration<'a> {
    /// Parses one line; `None` if it is not a version-1 declaration.
    pub fn parse(line: &'a str) -> Option<Declaration<'a>> {
        let mut words = line.trim_end().split(' ');
        if words.next()? != "kaal-driver" || words.next()? != "1" {
            return None;
        }
        let (mut name, mut matches, mut ports, mut irq, mut mmio) = (None, None, None, None, None);
        let mut port_count = None;
        for word in words {
            let (key, value) = word.split_once('=')?;
            match key {
                "name" => name = Some(value),
                "match" => matches = Some(value),
                "ports" => ports = Some(value == "1"),
                "irq" => irq = Some(value == "1"),
                "mmio" => mmio = u8::from_str_radix(value.strip_prefix("0x")?, 16).ok(),
                "portcount" => port_count = Some(value.parse().ok().filter(|n| *n > 0)?),
                _ => {}
            }
        }
        Some(Declaration { name: name?, matches: matches?, ports: ports?, irq: irq?, mmio: mmio?, port_count })
    }

    /// Whether it drives the ISA device `name` (`com2`).
    pub fn drives_isa(&self, name: &str) -> bool {
        self.matches.split(',').any(|m| m.strip_prefix("isa:") == Some(name))
    }

    /// Whether it drives some PCI device (which one a `pci:BB:DD.F` address holds is
    /// known only at boot).
    pub fn drives_pci(&self) -> bool {
        self.matches.split(',').any(|m| m.starts_with("pci:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_derive_writes() {
        let d = Declaration::parse("kaal-driver 1 name=pit8254 match=isa:pit ports=1 irq=0 mmio=0x0\n").unwrap();
        assert_eq!(
            d,
            Declaration { name: "pit8254", matches: "isa:pit", ports: true, irq: false, mmio: 0, port_count: None }
        );
        let n = Declaration::parse("kaal-driver 1 name=lsr match=isa:com2 ports=1 irq=0 mmio=0x0 portcount=6").unwrap();
        assert_eq!(n.port_count, Some(6));
        assert_eq!(Declaration::parse("kaal-driver 1 name=l match=isa:com2 ports=1 irq=0 mmio=0x0 portcount=0"), None);
        assert!(d.drives_isa("pit") && !d.drives_isa("com2") && !d.drives_pci());
        let e = Declaration::parse("kaal-driver 1 name=e1000 match=pci:8086:100e ports=0 irq=1 mmio=0x1").unwrap();
        assert!(e.drives_pci() && e.irq && e.mmio == 1);
        assert_eq!(Declaration::parse("kaal-driver 2 name=x match= ports=1 irq=1 mmio=0x0"), None);
        assert_eq!(Declaration::parse("kaal-driver 1 name=x"), None);
        assert_eq!(Declaration::parse("garbage"), None);
    }
}
