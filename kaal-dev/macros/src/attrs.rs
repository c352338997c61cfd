//! Parsing the helper attributes, one attribute at a time. Checks that need more than
//! one attribute (duplicates, DMA sizes) are in `model`.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, Error, Ident, Lit, LitInt, LitStr, Meta, Result};

/// Attributes that go on the struct.
pub(crate) const STRUCT_ATTRS: [&str; 4] = ["driver", "isa", "pci", "resources"];

/// Attributes that go on a field.
pub(crate) const FIELD_ATTRS: [&str; 5] = ["ports", "mmio", "interrupt", "dma", "dma_ring"];

/// Highest PCI BAR number.
const MAX_BAR: u64 = 5;

/// Most buffers in a `#[dma_ring]`.
const MAX_RING_SIZE: u64 = 4096;

/// A device the driver drives.
pub(crate) enum DeviceMatch {
    /// A fixed device, built in (`com2`, `pit`) or declared in system.toml, by name.
    Fixed(Ident),
    Pci {
        vendor: u16,
        device: u16,
    },
}

/// The resource a field takes from the device bundle.
pub(crate) enum Resource {
    /// `count`: only the device's first `count` ports (`#[ports(count = N)]`).
    Ports {
        count: Option<u16>,
    },
    Mmio {
        bar: u8,
    },
    /// `handler` is the method `handle_interrupt` calls.
    Interrupt {
        handler: Ident,
    },
    /// The whole DMA pool, for a driver that lays out its own descriptors and buffers.
    Dma,
    DmaRing {
        size: u64,
    },
}

/// `#[resources(dma = N)]`.
pub(crate) struct Resources {
    pub(crate) dma_bytes: u64,
    /// The `N`, for errors about it.
    pub(crate) dma_lit: LitInt,
}

/// The attribute's name, if it is a single identifier.
pub(crate) fn name_of(attr: &Attribute) -> Option<String> {
    attr.path().get_ident().map(Ident::to_string)
}

/// `#[driver(name = "...")]`: the driver name.
pub(crate) fn parse_driver(attr: &Attribute) -> Result<LitStr> {
    let mut name: Option<LitStr> = None;
    parse_list(attr, "#[driver(name = \"...\")]", |meta| {
        if meta.path.is_ident("name") {
            let value: LitStr = meta.value()?.parse()?;
            set_once(&mut name, &meta, value)
        } else {
            Err(unknown_key(&meta, "driver", &["name"]))
        }
    })?;
    let name =
        name.ok_or_else(|| Error::new_spanned(attr, "#[driver] is missing `name`: #[driver(name = \"...\")]"))?;
    if name.value().is_empty() {
        return Err(Error::new_spanned(name, "the driver name must not be empty"));
    }
    Ok(name)
}

/// `#[isa(com2)]` or `#[isa(com2, com3)]`: fixed devices, by the names they have in the
/// device table: built-in ones (`com1`..`com4`, `pit`) or ones the system declares in
/// system.toml (`[devices.NAME]`). Whether the system has them is checked by `kaal
/// build`, which knows the system; here only the names' form.
pub(crate) fn parse_isa(attr: &Attribute) -> Result<Vec<DeviceMatch>> {
    let usage = || {
        Error::new_spanned(
            attr,
            "expected fixed devices by name, like `#[isa(com2)]` or `#[isa(com2, com3)]` (a device KaaL does not \
             ship is declared in system.toml as [devices.NAME], see \
             docs/SYSTEM_TOML.md#devices-kaal-does-not-know)",
        )
    };
    let Meta::List(list) = &attr.meta else { return Err(usage()) };
    let devices = list
        .parse_args_with(syn::punctuated::Punctuated::<Ident, syn::Token![,]>::parse_terminated)
        .map_err(|_| usage())?;
    if devices.is_empty() {
        return Err(usage());
    }
    let mut matches = Vec::new();
    for device in devices {
        if kaal_abi::devices::OTHER_NAMES.contains(&device.to_string().as_str()) {
            return Err(Error::new_spanned(
                &device,
                format!(
                    "`{device}` is not a fixed device (it is found through ACPI): a driver for it takes its MMIO \
                         window; match it by name in the component, e.g. device_grant::claim(&mut me, \"{device}\")"
                ),
            ));
        }
        if let Err(why) = kaal_abi::devices::check_name(&device.to_string()) {
            return Err(Error::new_spanned(
                &device,
                format!(
                    "`{device}` cannot name a device: {why}\n  help: the built-in fixed devices are {}; declare \
                     others in system.toml as [devices.NAME] (docs/SYSTEM_TOML.md#devices-kaal-does-not-know)",
                    kaal_abi::devices::BUILT_IN.map(|d| d.name).join(", ")
                ),
            ));
        }
        matches.push(DeviceMatch::Fixed(device));
    }
    Ok(matches)
}

/// `#[pci(vendor = 0x8086, device = 0x100e)]`: one PCI vendor and device ID.
pub(crate) fn parse_pci(attr: &Attribute) -> Result<DeviceMatch> {
    let usage = "#[pci(vendor = 0x8086, device = 0x100e)]";
    let mut vendor = None;
    let mut device = None;
    parse_list(attr, usage, |meta| {
        if meta.path.is_ident("vendor") {
            let value = pci_id(&meta, "vendor")?;
            set_once(&mut vendor, &meta, value)
        } else if meta.path.is_ident("device") {
            let value = pci_id(&meta, "device")?;
            set_once(&mut device, &meta, value)
        } else {
            Err(unknown_key(&meta, "pci", &["vendor", "device"]))
        }
    })?;
    match (vendor, device) {
        (Some(vendor), Some(device)) => Ok(DeviceMatch::Pci { vendor, device }),
        (None, Some(_)) => Err(Error::new_spanned(attr, format!("#[pci] is missing `vendor`: {usage}"))),
        (Some(_), None) => Err(Error::new_spanned(attr, format!("#[pci] is missing `device`: {usage}"))),
        (None, None) => Err(Error::new_spanned(attr, format!("#[pci] is missing `vendor` and `device`: {usage}"))),
    }
}

/// The 16-bit ID after `vendor =` or `device =`.
fn pci_id(meta: &ParseNestedMeta, key: &str) -> Result<u16> {
    let (value, lit) = int_value(meta, "0x8086")?;
    u16::try_from(value).map_err(|_| {
        Error::new_spanned(
            lit,
            format!("PCI {key} ID `{value:#x}` is out of range: PCI IDs are 16-bit (at most 0xffff)"),
        )
    })
}

/// `#[resources(dma = 65536)]`: bytes of DMA memory.
pub(crate) fn parse_resources(attr: &Attribute) -> Result<Resources> {
    let usage = "#[resources(dma = 65536)]";
    let mut dma: Option<(u64, LitInt)> = None;
    parse_list(attr, usage, |meta| {
        if meta.path.is_ident("dma") {
            let value = int_value(&meta, "65536")?;
            set_once(&mut dma, &meta, value)
        } else {
            Err(unknown_key(&meta, "resources", &["dma"]))
        }
    })?;
    let (dma_bytes, dma_lit) =
        dma.ok_or_else(|| Error::new_spanned(attr, format!("#[resources] is missing `dma`: {usage}")))?;
    if dma_bytes == 0 {
        return Err(Error::new_spanned(dma_lit, "`dma` must be at least 1 byte (without DMA, leave out #[resources])"));
    }
    Ok(Resources { dma_bytes, dma_lit })
}

/// The resource attribute `attr` (one of [`FIELD_ATTRS`]).
pub(crate) fn parse_resource(attr: &Attribute) -> Result<Resource> {
    match name_of(attr).as_deref() {
        Some("ports") => parse_ports(attr),
        Some("mmio") => parse_mmio(attr),
        Some("interrupt") => parse_interrupt(attr),
        Some("dma") => parse_dma(attr),
        Some("dma_ring") => parse_dma_ring(attr),
        _ => unreachable!("not a resource attribute"),
    }
}

/// `#[ports]` (all of the device's I/O ports) or `#[ports(count = N)]` (its first `N`:
/// the component is granted no more, so the driver cannot reach the others).
fn parse_ports(attr: &Attribute) -> Result<Resource> {
    if let Meta::Path(_) = attr.meta {
        return Ok(Resource::Ports { count: None });
    }
    let usage = "#[ports] or #[ports(count = 4)]";
    let mut count = None;
    parse_list(attr, usage, |meta| {
        if meta.path.is_ident("count") {
            let (value, lit) = int_value(&meta, "4")?;
            if !(1..=u16::MAX as u64).contains(&value) {
                let message = format!("a device has 1 to {} I/O ports, not {value}", u16::MAX);
                return Err(Error::new_spanned(lit, message));
            }
            set_once(&mut count, &meta, value as u16)
        } else {
            Err(unknown_key(&meta, "ports", &["count"]))
        }
    })?;
    Ok(Resource::Ports { count })
}

/// `#[mmio(bar = 0)]`.
fn parse_mmio(attr: &Attribute) -> Result<Resource> {
    let usage = "#[mmio(bar = 0)]";
    let mut bar = None;
    parse_list(attr, usage, |meta| {
        if meta.path.is_ident("bar") {
            let (value, lit) = int_value(&meta, "0")?;
            if value > MAX_BAR {
                let message = format!("BAR {value} does not exist: PCI BARs are numbered 0 to {MAX_BAR}");
                return Err(Error::new_spanned(lit, message));
            }
            set_once(&mut bar, &meta, value as u8)
        } else {
            Err(unknown_key(&meta, "mmio", &["bar"]))
        }
    })?;
    let bar = bar.ok_or_else(|| Error::new_spanned(attr, format!("#[mmio] is missing `bar`: {usage}")))?;
    Ok(Resource::Mmio { bar })
}

/// `#[interrupt(handler = on_interrupt)]`.
fn parse_interrupt(attr: &Attribute) -> Result<Resource> {
    let usage = "#[interrupt(handler = on_interrupt)], where `on_interrupt` is a method \
                 `fn on_interrupt(&mut self) -> Result<(), DriverError>`";
    let mut handler = None;
    let missing = || Error::new_spanned(attr, format!("#[interrupt] is missing `handler`: {usage}"));
    let Meta::List(list) = &attr.meta else { return Err(missing()) };
    list.parse_nested_meta(|meta| {
        if meta.path.is_ident("handler") {
            let value = meta.value()?;
            if !value.peek(Ident) {
                return Err(value.error("expected the name of a method, like `handler = on_interrupt`"));
            }
            let method: Ident = value.parse()?;
            set_once(&mut handler, &meta, method)
        } else {
            Err(unknown_key(&meta, "interrupt", &["handler"]))
        }
    })?;
    let handler = handler.ok_or_else(missing)?;
    Ok(Resource::Interrupt { handler })
}

/// `#[dma]`.
fn parse_dma(attr: &Attribute) -> Result<Resource> {
    match attr.meta {
        Meta::Path(_) => Ok(Resource::Dma),
        _ => Err(Error::new_spanned(
            attr,
            "#[dma] takes no arguments: the field gets the whole DMA pool; size it with #[resources(dma = ..)]",
        )),
    }
}

/// `#[dma_ring(size = 16)]`.
fn parse_dma_ring(attr: &Attribute) -> Result<Resource> {
    let usage = "#[dma_ring(size = 16)]";
    let mut size = None;
    parse_list(attr, usage, |meta| {
        if meta.path.is_ident("size") {
            let (value, lit) = int_value(&meta, "16")?;
            if !(1..=MAX_RING_SIZE).contains(&value) {
                let message = format!("a DMA ring has 1 to {MAX_RING_SIZE} buffers, not {value}");
                return Err(Error::new_spanned(lit, message));
            }
            set_once(&mut size, &meta, value)
        } else {
            Err(unknown_key(&meta, "dma_ring", &["size"]))
        }
    })?;
    let size = size.ok_or_else(|| Error::new_spanned(attr, format!("#[dma_ring] is missing `size`: {usage}")))?;
    Ok(Resource::DmaRing { size })
}

/// Runs `each` on every `key = value` of `#[attr(...)]`; `usage` shows the right form.
fn parse_list(attr: &Attribute, usage: &str, each: impl FnMut(ParseNestedMeta) -> Result<()>) -> Result<()> {
    match &attr.meta {
        Meta::List(list) => list.parse_nested_meta(each),
        _ => Err(Error::new_spanned(attr, format!("expected `{usage}`"))),
    }
}

/// Stores `value` in `slot`, unless the key was already given.
fn set_once<T>(slot: &mut Option<T>, meta: &ParseNestedMeta, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::new_spanned(&meta.path, format!("duplicate `{}`", key_name(meta))));
    }
    *slot = Some(value);
    Ok(())
}

/// The integer literal after `key =`; `example` is shown if it is something else.
fn int_value(meta: &ParseNestedMeta, example: &str) -> Result<(u64, LitInt)> {
    let input = meta.value()?;
    let expected = || format!("expected an integer for `{}`, like `{} = {example}`", key_name(meta), key_name(meta));
    if !input.peek(Lit) {
        return Err(input.error(expected()));
    }
    match input.parse()? {
        Lit::Int(lit) => Ok((lit.base10_parse()?, lit)),
        other => Err(Error::new_spanned(other, expected())),
    }
}

/// The error for a key `#[attr(...)]` does not know.
fn unknown_key(meta: &ParseNestedMeta, attr: &str, known: &[&str]) -> Error {
    let known: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
    let message = format!("unknown key `{}` in #[{attr}(...)]; expected {}", key_name(meta), known.join(" or "));
    Error::new_spanned(&meta.path, message)
}

/// The key of `key = value`, for messages.
fn key_name(meta: &ParseNestedMeta) -> String {
    let segments: Vec<String> = meta.path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}
