//! PCI enumeration through configuration space.
//!
//! The broker builds the PCI part of its device table from [`enumerate`]: every function
//! on bus 0 and behind PCI-to-PCI bridges, with its IDs, class, interrupt pin and the
//! address and size of each BAR. Sizing BARs is the only way to learn how much MMIO or
//! how many ports a device decodes, and so what the broker may hand to its driver.
//!
//! The broker implements [`ConfigSpace`] over the legacy 0xCF8/0xCFC ports; tests use a
//! fake. Devices are not trusted: a BAR that cannot be decoded sensibly is reported as
//! unused rather than handed out, and each bus is scanned at most once, so a bridge
//! pointing back at a bus already seen cannot make the scan loop.

use alloc::vec;
use alloc::vec::Vec;

/// The location of a PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

/// 32-bit access to PCI configuration space.
pub trait ConfigSpace {
    /// Reads the dword at `offset` (4-byte aligned) of `address`'s configuration space.
    fn read32(&mut self, address: PciAddress, offset: u8) -> u32;
    /// Writes the dword at `offset` (4-byte aligned).
    fn write32(&mut self, address: PciAddress, offset: u8, value: u32);
}

/// A copy of one function's configuration header and capability list, with its BAR
/// sizes: what a driver in a component gets (region `D:config`, see
/// `kaal_abi::plan::pci_config`) in place of configuration space, which only the broker
/// may touch.
///
/// As a [`ConfigSpace`] it is read-only, except that it answers BAR sizing as a device
/// does (write all ones to a BAR, read the size mask, write the original back), since
/// PCI libraries size BARs that way. Every other write is ignored: the broker has
/// already enabled the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCopy {
    pub address: PciAddress,
    pub words: [u32; 64],
    /// Each BAR's size in bytes (0: none; the upper half of a 64-bit BAR is 0).
    pub bar_sizes: [u64; 6],
    sizing: [bool; 6],
}

impl ConfigCopy {
    /// Reads function `address`'s header (after it was enabled) and takes the BAR sizes
    /// from `bars`, which [`enumerate`] found.
    pub fn read(cs: &mut impl ConfigSpace, address: PciAddress, bars: &[Option<Bar>; 6]) -> Self {
        let mut words = [0; 64];
        for (i, word) in words.iter_mut().enumerate() {
            *word = cs.read32(address, (i * 4) as u8);
        }
        let bar_sizes = bars.map(|bar| match bar {
            Some(Bar::Memory { size, .. }) => size,
            Some(Bar::Io { size, .. }) => size as u64,
            None => 0,
        });
        ConfigCopy { address, words, bar_sizes, sizing: [false; 6] }
    }

    /// From the bytes of a `D:config` page; `None` if it is too short.
    pub fn from_bytes(address: PciAddress, bytes: &[u8]) -> Option<Self> {
        use kaal_abi::plan::pci_config::{BAR_SIZES, HEADER_BYTES};
        let header = bytes.get(..HEADER_BYTES)?;
        let sizes = bytes.get(BAR_SIZES..BAR_SIZES + 48)?;
        let mut words = [0; 64];
        for (word, chunk) in words.iter_mut().zip(header.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        let mut bar_sizes = [0; 6];
        for (size, chunk) in bar_sizes.iter_mut().zip(sizes.chunks_exact(8)) {
            *size = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(ConfigCopy { address, words, bar_sizes, sizing: [false; 6] })
    }

    /// The bytes of a `D:config` page (its first 304 bytes).
    pub fn to_bytes(&self) -> [u8; 304] {
        let mut out = [0; 304];
        for (i, word) in self.words.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        for (i, size) in self.bar_sizes.iter().enumerate() {
            out[256 + i * 8..256 + i * 8 + 8].copy_from_slice(&size.to_le_bytes());
        }
        out
    }

    /// The size mask a device answers for BAR `index` while it is being sized.
    fn size_mask(&self, index: usize) -> u32 {
        let original = self.words[BAR0_WORD + index];
        // The upper half of a 64-bit memory BAR: the mask's upper 32 bits.
        if index > 0 && self.bar_sizes[index] == 0 {
            let below = self.words[BAR0_WORD + index - 1];
            if below & 0b111 == 0b100 && self.bar_sizes[index - 1] != 0 {
                return (!(self.bar_sizes[index - 1] - 1) >> 32) as u32;
            }
        }
        match self.bar_sizes[index] {
            0 => 0,
            size if original & 1 == 1 => (!(size as u32 - 1) & !0b11) | (original & 0b11) | 0xffff_0000,
            size => (!(size - 1) as u32 & !0b1111) | (original & 0b1111),
        }
    }
}

/// Configuration-space word of BAR 0.
const BAR0_WORD: usize = 4;

impl ConfigSpace for ConfigCopy {
    fn read32(&mut self, address: PciAddress, offset: u8) -> u32 {
        let word = offset as usize / 4;
        if address != self.address {
            return u32::MAX; // no such function, as on a real bus
        }
        match word.checked_sub(BAR0_WORD) {
            Some(bar) if bar < 6 && self.sizing[bar] => self.size_mask(bar),
            _ => self.words[word],
        }
    }

    fn write32(&mut self, address: PciAddress, offset: u8, value: u32) {
        let word = offset as usize / 4;
        if let Some(bar) = word.checked_sub(BAR0_WORD).filter(|b| *b < 6 && address == self.address) {
            self.sizing[bar] = value == u32::MAX;
        }
    }
}

/// A decoded, sized base address register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    /// A memory window: `size` bytes at physical `address`, naturally aligned.
    Memory { address: u64, size: u64, prefetchable: bool, is_64bit: bool },
    /// An I/O port range: `size` ports from `port`.
    Io { port: u16, size: u16 },
}

/// One function found on a PCI bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciFunction {
    pub address: PciAddress,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    /// The raw header type register: layout in bits 0-6 (see [`Self::header_layout`]),
    /// multi-function flag in bit 7.
    pub header_type: u8,
    /// Indexed by BAR number. The slot after a 64-bit memory BAR holds its upper half
    /// and is `None`, as are unimplemented, unassigned and malformed BARs.
    pub bars: [Option<Bar>; 6],
    /// The IRQ line firmware routed the pin to (legacy PIC numbering, 0xFF if unknown).
    pub interrupt_line: u8,
    /// 0: no interrupt; 1..=4: INTA..INTD. A device reporting anything else gets 0.
    pub interrupt_pin: u8,
}

impl PciFunction {
    /// The configuration header layout: 0 general device, 1 PCI-to-PCI bridge, 2 CardBus bridge.
    pub fn header_layout(&self) -> u8 {
        self.header_type & HEADER_LAYOUT_MASK
    }

    /// Whether function 0 of this device announces further functions.
    pub fn is_multi_function(&self) -> bool {
        self.header_type & HEADER_MULTI_FUNCTION != 0
    }

    /// Whether configuration cycles for another bus are forwarded through this function.
    pub fn is_pci_bridge(&self) -> bool {
        self.header_layout() == HEADER_PCI_BRIDGE
            && self.class == CLASS_BRIDGE
            && matches!(self.subclass, SUBCLASS_PCI_BRIDGE | SUBCLASS_SUBTRACTIVE_PCI_BRIDGE)
    }

    /// What kind of device this is, from its class code.
    pub fn description(&self) -> &'static str {
        match (self.class, self.subclass, self.prog_if) {
            (0x01, 0x00, _) => "SCSI controller",
            (0x01, 0x01, _) => "IDE controller",
            (0x01, 0x05, _) => "ATA controller",
            (0x01, 0x06, _) => "SATA controller",
            (0x01, 0x08, 0x02) => "NVMe controller",
            (0x01, _, _) => "storage controller",
            (0x02, 0x00, _) => "Ethernet controller",
            (0x02, _, _) => "network controller",
            (0x03, 0x00, _) => "VGA-compatible display controller",
            (0x03, _, _) => "display controller",
            (0x04, _, _) => "multimedia controller",
            (0x05, _, _) => "memory controller",
            (0x06, 0x00, _) => "host bridge",
            (0x06, 0x01, _) => "ISA bridge",
            (0x06, SUBCLASS_PCI_BRIDGE | SUBCLASS_SUBTRACTIVE_PCI_BRIDGE, _) => "PCI-to-PCI bridge",
            (0x06, _, _) => "other bridge",
            (0x07, 0x00, _) => "serial controller",
            (0x07, _, _) => "communication controller",
            (0x08, _, _) => "system peripheral",
            (0x0C, 0x03, 0x00) => "USB UHCI controller",
            (0x0C, 0x03, 0x10) => "USB OHCI controller",
            (0x0C, 0x03, 0x20) => "USB EHCI controller",
            (0x0C, 0x03, 0x30) => "USB xHCI controller",
            (0x0C, 0x03, _) => "USB controller",
            (0x0C, 0x05, _) => "SMBus controller",
            (0x0C, _, _) => "serial bus controller",
            _ => "unclassified",
        }
    }
}

const VENDOR_DEVICE: u8 = 0x00;
const COMMAND_STATUS: u8 = 0x04;
const CLASS_REVISION: u8 = 0x08;
const HEADER_TYPE_DWORD: u8 = 0x0C;
const FIRST_BAR: u8 = 0x10;
const BRIDGE_BUS_NUMBERS: u8 = 0x18;
const INTERRUPT_DWORD: u8 = 0x3C;

const COMMAND_IO_DECODE: u32 = 1 << 0;
const COMMAND_MEMORY_DECODE: u32 = 1 << 1;
const COMMAND_BUS_MASTER: u32 = 1 << 2;

/// Turns on a function's I/O and memory decoding and lets it master the bus (DMA), as
/// Linux's `pci_enable_device` and `pci_set_master` do for the driver that takes it.
/// Only the command register's low half changes; status bits are not written back.
pub fn enable(cs: &mut impl ConfigSpace, address: PciAddress) {
    let command = cs.read32(address, COMMAND_STATUS) & 0xFFFF;
    let enabled = command | COMMAND_IO_DECODE | COMMAND_MEMORY_DECODE | COMMAND_BUS_MASTER;
    if enabled != command {
        cs.write32(address, COMMAND_STATUS, enabled);
    }
}

const HEADER_LAYOUT_MASK: u8 = 0x7F;
const HEADER_MULTI_FUNCTION: u8 = 0x80;
const HEADER_GENERAL: u8 = 0;
const HEADER_PCI_BRIDGE: u8 = 1;
const GENERAL_BAR_COUNT: usize = 6;
const BRIDGE_BAR_COUNT: usize = 2;

const CLASS_BRIDGE: u8 = 0x06;
const SUBCLASS_HOST_BRIDGE: u8 = 0x00;
const SUBCLASS_PCI_BRIDGE: u8 = 0x04;
const SUBCLASS_SUBTRACTIVE_PCI_BRIDGE: u8 = 0x09;

const DEVICES_PER_BUS: u8 = 32;
const FUNCTIONS_PER_DEVICE: u8 = 8;
const MAX_INTERRUPT_PIN: u8 = 4;

const BAR_IS_IO: u32 = 1 << 0;
const BAR_IO_ADDRESS_MASK: u32 = !0x3;
const BAR_MEMORY_ADDRESS_MASK: u32 = !0xF;
const BAR_MEMORY_PREFETCHABLE: u32 = 1 << 3;
const BAR_MEMORY_TYPE_SHIFT: u32 = 1;
const BAR_MEMORY_TYPE_32BIT: u32 = 0b00;
const BAR_MEMORY_TYPE_BELOW_1MIB: u32 = 0b01;
const BAR_MEMORY_TYPE_64BIT: u32 = 0b10;

/// Finds every function on bus 0 and on the buses behind its PCI-to-PCI bridges,
/// sorted by address, with their BARs decoded and sized.
pub fn enumerate(cs: &mut impl ConfigSpace) -> Vec<PciFunction> {
    let mut found = Vec::new();
    // A bus is marked when queued, not when scanned, so a second bridge naming it
    // (or a bridge naming its own bus) cannot queue it again.
    let mut bus_seen = [false; 256];
    bus_seen[0] = true;
    let mut pending = vec![0u8];
    while let Some(bus) = pending.pop() {
        for device in 0..DEVICES_PER_BUS {
            scan_device(cs, bus, device, &mut found);
        }
        for function in found.iter().filter(|f| f.address.bus == bus && f.is_pci_bridge()) {
            let secondary = (cs.read32(function.address, BRIDGE_BUS_NUMBERS) >> 8) as u8;
            // Bus 0 is the root; a bridge claiming it is misconfigured or hostile.
            if secondary != 0 && !bus_seen[usize::from(secondary)] {
                bus_seen[usize::from(secondary)] = true;
                pending.push(secondary);
            }
        }
    }
    found.sort_by_key(|f| f.address);
    found
}

fn scan_device(cs: &mut impl ConfigSpace, bus: u8, device: u8, found: &mut Vec<PciFunction>) {
    let Some(first) = read_function(cs, PciAddress { bus, device, function: 0 }) else {
        return;
    };
    // Single-function devices may answer for every function number with function 0's
    // registers, so functions 1..7 are only real when function 0 says so.
    let function_count = if first.is_multi_function() { FUNCTIONS_PER_DEVICE } else { 1 };
    found.push(first);
    for function in 1..function_count {
        if let Some(f) = read_function(cs, PciAddress { bus, device, function }) {
            found.push(f);
        }
    }
}

fn read_function(cs: &mut impl ConfigSpace, address: PciAddress) -> Option<PciFunction> {
    let ids = cs.read32(address, VENDOR_DEVICE);
    let vendor = ids as u16;
    // 0xFFFF is what an unanswered configuration read returns; 0 is not a valid vendor.
    if vendor == 0xFFFF || vendor == 0 {
        return None;
    }
    let [revision, prog_if, subclass, class] = cs.read32(address, CLASS_REVISION).to_le_bytes();
    let header_type = cs.read32(address, HEADER_TYPE_DWORD).to_le_bytes()[2];
    let [interrupt_line, pin, _, _] = cs.read32(address, INTERRUPT_DWORD).to_le_bytes();
    let interrupt_pin = if pin <= MAX_INTERRUPT_PIN { pin } else { 0 };
    let bar_count = match header_type & HEADER_LAYOUT_MASK {
        HEADER_GENERAL => GENERAL_BAR_COUNT,
        HEADER_PCI_BRIDGE => BRIDGE_BAR_COUNT,
        _ => 0,
    };
    let is_host_bridge = class == CLASS_BRIDGE && subclass == SUBCLASS_HOST_BRIDGE;
    let bars = read_bars(cs, address, bar_count, is_host_bridge);
    Some(PciFunction {
        address,
        vendor,
        device: (ids >> 16) as u16,
        class,
        subclass,
        prog_if,
        revision,
        header_type,
        bars,
        interrupt_line,
        interrupt_pin,
    })
}

fn read_bars(
    cs: &mut impl ConfigSpace,
    address: PciAddress,
    bar_count: usize,
    is_host_bridge: bool,
) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    if bar_count == 0 {
        return bars;
    }
    // While a BAR holds all-ones its window covers the top of the address space and
    // could shadow other devices, so decoding stays off until every BAR is restored.
    // Host bridges are the exception (as in Linux): turning off their decoding can cut
    // the CPU off from memory. The status half is write-one-to-clear, so it is written
    // as zeros to leave it untouched.
    let command = cs.read32(address, COMMAND_STATUS) & 0xFFFF;
    let toggle_decode = !is_host_bridge && command & (COMMAND_IO_DECODE | COMMAND_MEMORY_DECODE) != 0;
    if toggle_decode {
        cs.write32(address, COMMAND_STATUS, command & !(COMMAND_IO_DECODE | COMMAND_MEMORY_DECODE));
    }
    let mut index = 0;
    while index < bar_count {
        let (bar, slots_used) = read_bar(cs, address, index, bar_count);
        bars[index] = bar;
        index += slots_used;
    }
    if toggle_decode {
        cs.write32(address, COMMAND_STATUS, command);
    }
    bars
}

/// Decodes and sizes BAR `index`; also returns how many BAR slots it occupies.
fn read_bar(cs: &mut impl ConfigSpace, address: PciAddress, index: usize, bar_count: usize) -> (Option<Bar>, usize) {
    let offset = bar_offset(index);
    let original = cs.read32(address, offset);
    if original == 0 {
        return (None, 1);
    }
    if original & BAR_IS_IO != 0 {
        let mask = size_mask(cs, address, offset, original);
        return (io_bar(original, mask), 1);
    }
    let prefetchable = original & BAR_MEMORY_PREFETCHABLE != 0;
    match (original >> BAR_MEMORY_TYPE_SHIFT) & 0b11 {
        BAR_MEMORY_TYPE_32BIT | BAR_MEMORY_TYPE_BELOW_1MIB => {
            let mask = size_mask(cs, address, offset, original) & BAR_MEMORY_ADDRESS_MASK;
            let base = u64::from(original & BAR_MEMORY_ADDRESS_MASK);
            (memory_bar(base, u64::from(mask), prefetchable, false), 1)
        }
        BAR_MEMORY_TYPE_64BIT => {
            // The upper half lives in the next slot; without one the BAR is malformed.
            if index + 1 >= bar_count {
                return (None, 1);
            }
            let high_offset = bar_offset(index + 1);
            let original_high = cs.read32(address, high_offset);
            let mask_low = size_mask(cs, address, offset, original) & BAR_MEMORY_ADDRESS_MASK;
            let mask_high = size_mask(cs, address, high_offset, original_high);
            let base = u64::from(original_high) << 32 | u64::from(original & BAR_MEMORY_ADDRESS_MASK);
            let mask = u64::from(mask_high) << 32 | u64::from(mask_low);
            (memory_bar(base, mask, prefetchable, true), 2)
        }
        _ => (None, 1),
    }
}

fn bar_offset(index: usize) -> u8 {
    FIRST_BAR + 4 * index as u8
}

/// Writes all-ones to a BAR and reads back which address bits the device implements,
/// then puts the original value back.
fn size_mask(cs: &mut impl ConfigSpace, address: PciAddress, offset: u8, original: u32) -> u32 {
    cs.write32(address, offset, u32::MAX);
    let mask = cs.read32(address, offset);
    cs.write32(address, offset, original);
    mask
}

fn memory_bar(address: u64, mask: u64, prefetchable: bool, is_64bit: bool) -> Option<Bar> {
    // The lowest implemented address bit is the size; a well-behaved device implements
    // every bit above it, but only the lowest one matters.
    let size = mask & mask.wrapping_neg();
    let usable = size != 0 && address != 0 && address & (size - 1) == 0 && address.checked_add(size).is_some();
    usable.then_some(Bar::Memory { address, size, prefetchable, is_64bit })
}

fn io_bar(original: u32, mask: u32) -> Option<Bar> {
    // x86 has 64 Ki ports; a port BAR beyond them cannot be reached, and devices with
    // 16-bit decoders read back zeros in the upper half of the mask.
    let port = u16::try_from(original & BAR_IO_ADDRESS_MASK).ok()?;
    let mask = (mask & BAR_IO_ADDRESS_MASK) as u16;
    let size = mask & mask.wrapping_neg();
    let usable = size != 0 && port != 0 && port & (size - 1) == 0 && u32::from(port) + u32::from(size) <= 0x1_0000;
    usable.then_some(Bar::Io { port, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const STATUS_CAPABILITIES_LIST: u32 = 1 << 20;
    const COMMAND_FIRMWARE_DEFAULT: u32 = 0x0107; // I/O, memory, bus master, SERR

    /// One function's configuration header. BARs follow PCI semantics: only the bits in
    /// `bar_writable` take writes, so writing all-ones reads back the size mask.
    #[derive(Clone)]
    struct FakeFunction {
        config: [u32; 64],
        bar_writable: [u32; 6],
        /// Models a device that does not behave like a register: what a BAR reads back
        /// while it holds the all-ones sizing pattern.
        sizing_readback: [Option<u32>; 6],
        being_sized: [bool; 6],
    }

    impl FakeFunction {
        fn new(vendor: u16, device: u16, class: u8, subclass: u8, prog_if: u8, header_type: u8) -> Self {
            let mut config = [0; 64];
            config[0] = u32::from(device) << 16 | u32::from(vendor);
            config[1] = STATUS_CAPABILITIES_LIST | COMMAND_FIRMWARE_DEFAULT;
            config[2] = u32::from_le_bytes([0x02, prog_if, subclass, class]);
            config[3] = u32::from(header_type) << 16;
            config[15] = 0xFF; // line unknown, no pin
            FakeFunction { config, bar_writable: [0; 6], sizing_readback: [None; 6], being_sized: [false; 6] }
        }

        fn memory_bar(mut self, index: usize, address: u32, size: u32, prefetchable: bool) -> Self {
            self.config[4 + index] = address | if prefetchable { 1 << 3 } else { 0 };
            self.bar_writable[index] = !(size - 1);
            self
        }

        fn memory64_bar(mut self, index: usize, address: u64, size: u64) -> Self {
            let writable = !(size - 1);
            self.config[4 + index] = address as u32 | 0b100 | 1 << 3;
            self.config[5 + index] = (address >> 32) as u32;
            self.bar_writable[index] = writable as u32 & !0xF;
            self.bar_writable[index + 1] = (writable >> 32) as u32;
            self
        }

        fn io_bar(mut self, index: usize, port: u16, size: u16) -> Self {
            self.config[4 + index] = u32::from(port) | 1;
            // A 16-bit decoder: the upper half is hardwired to zero.
            self.bar_writable[index] = u32::from(!(size - 1)) & !0x3;
            self
        }

        fn interrupt(mut self, line: u8, pin: u8) -> Self {
            self.config[15] = u32::from(pin) << 8 | u32::from(line);
            self
        }

        fn secondary_bus(mut self, primary: u8, secondary: u8, subordinate: u8) -> Self {
            self.config[6] = u32::from_le_bytes([primary, secondary, subordinate, 0]);
            self
        }

        fn bar_count(&self) -> usize {
            match (self.config[3] >> 16) as u8 & 0x7F {
                0 => 6,
                1 => 2,
                _ => 0,
            }
        }
    }

    #[derive(Default)]
    struct FakeConfigSpace {
        functions: BTreeMap<PciAddress, FakeFunction>,
        bar_writes_while_decoding: usize,
        reads: usize,
    }

    impl FakeConfigSpace {
        fn with(mut self, bus: u8, device: u8, function: u8, f: FakeFunction) -> Self {
            self.functions.insert(PciAddress { bus, device, function }, f);
            self
        }
    }

    impl ConfigSpace for FakeConfigSpace {
        fn read32(&mut self, address: PciAddress, offset: u8) -> u32 {
            assert_eq!(offset % 4, 0, "unaligned configuration read");
            self.reads += 1;
            assert!(self.reads < 100_000, "the scan does not terminate");
            let Some(f) = self.functions.get(&address) else { return u32::MAX };
            let dword = usize::from(offset / 4);
            match dword.checked_sub(4).filter(|&bar| bar < f.bar_count() && f.being_sized[bar]) {
                Some(bar) => f.sizing_readback[bar].unwrap_or(f.config[dword]),
                None => f.config[dword],
            }
        }

        fn write32(&mut self, address: PciAddress, offset: u8, value: u32) {
            assert_eq!(offset % 4, 0, "unaligned configuration write");
            let Some(f) = self.functions.get_mut(&address) else { return };
            let dword = usize::from(offset / 4);
            match offset {
                COMMAND_STATUS => {
                    let status = (f.config[1] >> 16) & !(value >> 16);
                    f.config[1] = status << 16 | (value & 0xFFFF);
                }
                0x10..=0x24 if dword - 4 < f.bar_count() => {
                    if f.config[1] & (COMMAND_IO_DECODE | COMMAND_MEMORY_DECODE) != 0 {
                        self.bar_writes_while_decoding += 1;
                    }
                    f.being_sized[dword - 4] = value == u32::MAX;
                    let writable = f.bar_writable[dword - 4];
                    f.config[dword] = (f.config[dword] & !writable) | (value & writable);
                }
                _ => {}
            }
        }
    }

    fn at(bus: u8, device: u8, function: u8) -> PciAddress {
        PciAddress { bus, device, function }
    }

    fn host_bridge() -> FakeFunction {
        FakeFunction::new(0x8086, 0x1237, 0x06, 0x00, 0x00, 0x00)
    }

    fn e1000() -> FakeFunction {
        FakeFunction::new(0x8086, 0x100E, 0x02, 0x00, 0x00, 0x00)
            .memory_bar(0, 0xFEBC_0000, 128 * 1024, false)
            .io_bar(1, 0xC000, 64)
            .interrupt(11, 1)
    }

    fn pci_bridge(secondary: u8) -> FakeFunction {
        FakeFunction::new(0x1B36, 0x0001, 0x06, 0x04, 0x00, 0x01).secondary_bus(0, secondary, secondary)
    }

    /// Bus 0 of `qemu-system-x86_64 -machine pc -device e1000`.
    fn qemu_pc() -> FakeConfigSpace {
        FakeConfigSpace::default()
            .with(0, 0, 0, host_bridge())
            .with(0, 1, 0, FakeFunction::new(0x8086, 0x7000, 0x06, 0x01, 0x00, 0x80))
            .with(0, 1, 1, FakeFunction::new(0x8086, 0x7010, 0x01, 0x01, 0x80, 0x00).io_bar(4, 0xC040, 16))
            .with(0, 1, 3, FakeFunction::new(0x8086, 0x7113, 0x06, 0x80, 0x00, 0x00).interrupt(9, 1))
            .with(
                0,
                2,
                0,
                FakeFunction::new(0x1234, 0x1111, 0x03, 0x00, 0x00, 0x00)
                    .memory_bar(0, 0xFD00_0000, 16 << 20, true)
                    .memory_bar(2, 0xFEBF_0000, 4096, false),
            )
            .with(0, 3, 0, e1000())
    }

    #[test]
    fn finds_the_qemu_pc_functions_in_address_order() {
        let found = enumerate(&mut qemu_pc());
        let summary: Vec<_> = found.iter().map(|f| (f.address, f.vendor, f.device, f.description())).collect();
        assert_eq!(
            summary,
            [
                (at(0, 0, 0), 0x8086, 0x1237, "host bridge"),
                (at(0, 1, 0), 0x8086, 0x7000, "ISA bridge"),
                (at(0, 1, 1), 0x8086, 0x7010, "IDE controller"),
                (at(0, 1, 3), 0x8086, 0x7113, "other bridge"),
                (at(0, 2, 0), 0x1234, 0x1111, "VGA-compatible display controller"),
                (at(0, 3, 0), 0x8086, 0x100E, "Ethernet controller"),
            ]
        );
        assert!(found[1].is_multi_function());
        assert_eq!(found[1].header_layout(), 0);
        assert_eq!(found[0].bars, [None; 6]);
    }

    #[test]
    fn sizes_the_e1000_bars_and_reads_its_interrupt() {
        let found = enumerate(&mut qemu_pc());
        let nic = found.iter().find(|f| f.device == 0x100E).unwrap();
        assert_eq!(
            nic.bars[0],
            Some(Bar::Memory { address: 0xFEBC_0000, size: 128 * 1024, prefetchable: false, is_64bit: false })
        );
        assert_eq!(nic.bars[1], Some(Bar::Io { port: 0xC000, size: 64 }));
        assert_eq!(nic.bars[2..], [None; 4]);
        assert_eq!((nic.interrupt_pin, nic.interrupt_line), (1, 11));
        assert_eq!((nic.class, nic.subclass, nic.revision), (0x02, 0x00, 0x02));
    }

    #[test]
    fn sizes_ide_io_and_vga_prefetchable_bars() {
        let found = enumerate(&mut qemu_pc());
        let ide = found.iter().find(|f| f.device == 0x7010).unwrap();
        assert_eq!(ide.bars, [None, None, None, None, Some(Bar::Io { port: 0xC040, size: 16 }), None]);
        assert_eq!(ide.prog_if, 0x80);
        let vga = found.iter().find(|f| f.class == 0x03).unwrap();
        assert_eq!(
            vga.bars[0],
            Some(Bar::Memory { address: 0xFD00_0000, size: 16 << 20, prefetchable: true, is_64bit: false })
        );
        assert_eq!(
            vga.bars[2],
            Some(Bar::Memory { address: 0xFEBF_0000, size: 4096, prefetchable: false, is_64bit: false })
        );
        assert_eq!(vga.interrupt_pin, 0);
    }

    #[test]
    fn sizing_restores_bars_and_command_and_never_sizes_while_decoding() {
        let mut cs = qemu_pc();
        let before: Vec<_> = cs.functions.values().map(|f| f.config).collect();
        enumerate(&mut cs);
        let after: Vec<_> = cs.functions.values().map(|f| f.config).collect();
        assert_eq!(before, after, "configuration space changed");
        assert_eq!(cs.bar_writes_while_decoding, 0);
        let nic = &cs.functions[&at(0, 3, 0)];
        assert_eq!(nic.config[1], STATUS_CAPABILITIES_LIST | COMMAND_FIRMWARE_DEFAULT);
    }

    #[test]
    fn enabling_a_function_lets_it_master_the_bus_and_keeps_its_status() {
        let mut cs = qemu_pc();
        let nic = at(0, 3, 0);
        // Firmware that left bus mastering off, with a write-one-to-clear status bit set.
        const RECEIVED_MASTER_ABORT: u32 = 1 << 29;
        cs.functions.get_mut(&nic).unwrap().config[1] =
            RECEIVED_MASTER_ABORT | STATUS_CAPABILITIES_LIST | COMMAND_MEMORY_DECODE;
        enable(&mut cs, nic);
        let command_status = cs.functions[&nic].config[1];
        assert_eq!(command_status & 0xFFFF, COMMAND_IO_DECODE | COMMAND_MEMORY_DECODE | COMMAND_BUS_MASTER);
        assert_eq!(command_status >> 16 << 16, RECEIVED_MASTER_ABORT | STATUS_CAPABILITIES_LIST, "status untouched");
    }

    #[test]
    fn decodes_64bit_bars_and_leaves_the_upper_slot_empty() {
        let nvme = FakeFunction::new(0x1B36, 0x0010, 0x01, 0x08, 0x02, 0x00)
            .memory64_bar(0, 0xFEB0_0000, 16 * 1024)
            .memory64_bar(2, 0x8_0000_0000, 8 << 30)
            .memory64_bar(4, 0x0, 4096);
        let mut cs = FakeConfigSpace::default().with(0, 4, 0, nvme);
        let found = enumerate(&mut cs);
        assert_eq!(found[0].description(), "NVMe controller");
        assert_eq!(
            found[0].bars,
            [
                Some(Bar::Memory { address: 0xFEB0_0000, size: 16 * 1024, prefetchable: true, is_64bit: true }),
                None,
                Some(Bar::Memory { address: 0x8_0000_0000, size: 8 << 30, prefetchable: true, is_64bit: true }),
                None,
                None, // implemented but never assigned an address
                None,
            ]
        );
        assert_eq!(cs.bar_writes_while_decoding, 0);
    }

    #[test]
    fn a_64bit_bar_in_the_last_slot_is_malformed() {
        let mut odd = FakeFunction::new(0x1AF4, 0x1000, 0x02, 0x00, 0x00, 0x00);
        odd.config[4 + 5] = 0xFEA0_0000 | 0b100;
        odd.bar_writable[5] = !0xFFF;
        let found = enumerate(&mut FakeConfigSpace::default().with(0, 5, 0, odd));
        assert_eq!(found[0].bars, [None; 6]);
    }

    #[test]
    fn rejects_bars_a_device_could_not_really_have() {
        let mut liar = FakeFunction::new(0x1AF4, 0x1000, 0x02, 0x00, 0x00, 0x00)
            .memory_bar(0, 0xFEA0_1000, 0x1000, false)
            .memory_bar(1, 0xFEA0_0000, 0x1000, false)
            .io_bar(4, 0xC010, 16);
        liar.sizing_readback[0] = Some(0xFFFF_0000); // claims 64 KiB: misaligned for that size
        liar.sizing_readback[1] = Some(0); // implements no address bits: size 0
        liar.config[4 + 2] = 0x0001_0001; // a port beyond 64 Ki
        liar.bar_writable[2] = !0xF;
        liar.config[4 + 3] = 0b110; // reserved memory type
        liar.sizing_readback[4] = Some(0xFFFF_FFE1); // claims 32 ports: misaligned for that size
        let mut cs = FakeConfigSpace::default().with(0, 5, 0, liar);
        let before = cs.functions[&at(0, 5, 0)].config;
        let found = enumerate(&mut cs);
        assert_eq!(found[0].bars, [None; 6]);
        assert_eq!(cs.functions[&at(0, 5, 0)].config, before);
    }

    #[test]
    fn follows_a_bridge_to_the_device_behind_it() {
        let bridge = pci_bridge(1).memory_bar(0, 0xFE80_0000, 4096, false);
        let mut cs =
            FakeConfigSpace::default().with(0, 0, 0, host_bridge()).with(0, 0x1E, 0, bridge).with(1, 0, 0, e1000());
        let found = enumerate(&mut cs);
        let addresses: Vec<_> = found.iter().map(|f| f.address).collect();
        assert_eq!(addresses, [at(0, 0, 0), at(0, 0x1E, 0), at(1, 0, 0)]);
        assert!(found[1].is_pci_bridge());
        assert_eq!(found[1].description(), "PCI-to-PCI bridge");
        // Only two BARs on a bridge; offset 0x18 holds bus numbers, not a BAR.
        assert_eq!(
            found[1].bars,
            [
                Some(Bar::Memory { address: 0xFE80_0000, size: 4096, prefetchable: false, is_64bit: false }),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(found[2].bars[1], Some(Bar::Io { port: 0xC000, size: 64 }));
        assert_eq!(cs.functions[&at(0, 0x1E, 0)].config[6], 0x0001_0100);
    }

    #[test]
    fn bridges_pointing_back_at_scanned_buses_do_not_loop() {
        let mut cs = FakeConfigSpace::default()
            .with(0, 1, 0, pci_bridge(0))
            .with(0, 2, 0, pci_bridge(1))
            .with(0, 3, 0, pci_bridge(1))
            .with(1, 0, 0, pci_bridge(1))
            .with(1, 1, 0, pci_bridge(0))
            .with(1, 2, 0, pci_bridge(2))
            .with(2, 0, 0, pci_bridge(1));
        let found = enumerate(&mut cs);
        assert_eq!(found.len(), 7);
        // Three buses scanned once each: 32 devices, 4 reads per function (plus BARs).
        assert!(cs.reads < 3 * 32 * 8, "{} reads", cs.reads);
    }

    #[test]
    fn skips_absent_functions_and_aliases_of_single_function_devices() {
        let mut cs = FakeConfigSpace::default()
            .with(0, 3, 0, e1000())
            .with(0, 3, 1, e1000()) // alias: function 0 is not multi-function
            .with(0, 4, 1, e1000()) // no function 0: the device is absent
            .with(0, 5, 0, FakeFunction::new(0x8086, 0x7000, 0x06, 0x01, 0x00, 0x80))
            .with(0, 5, 7, e1000())
            .with(0, 6, 0, FakeFunction::new(0x0000, 0x0000, 0x02, 0x00, 0x00, 0x00));
        let addresses: Vec<_> = enumerate(&mut cs).iter().map(|f| f.address).collect();
        assert_eq!(addresses, [at(0, 3, 0), at(0, 5, 0), at(0, 5, 7)]);
    }

    #[test]
    fn an_empty_bus_has_no_functions() {
        assert!(enumerate(&mut FakeConfigSpace::default()).is_empty());
    }

    #[test]
    fn an_invalid_interrupt_pin_means_none() {
        let found = enumerate(&mut FakeConfigSpace::default().with(0, 3, 0, e1000().interrupt(11, 7)));
        assert_eq!(found[0].interrupt_pin, 0);
    }

    #[test]
    fn unknown_classes_are_unclassified() {
        let found = enumerate(&mut FakeConfigSpace::default().with(0, 3, 0, FakeFunction::new(1, 2, 0xFF, 0, 0, 0)));
        assert_eq!(found[0].description(), "unclassified");
    }
}

#[cfg(test)]
mod config_copy_tests {
    use super::*;

    /// A virtio-blk-like function: I/O BAR 0, 32-bit memory BAR 1, 64-bit BAR 4.
    fn copy() -> ConfigCopy {
        let address = PciAddress { bus: 0, device: 5, function: 0 };
        let mut words = [0; 64];
        words[0] = 0x1001 << 16 | 0x1af4;
        words[4] = 0xc081; // I/O at 0xc080, 128 ports
        words[5] = 0xfebd_1000; // 4 KiB
        words[8] = 0xfe00_000c; // 64-bit prefetchable, 16 KiB
        words[9] = 0;
        let bars = [
            Some(Bar::Io { port: 0xc080, size: 128 }),
            Some(Bar::Memory { address: 0xfebd_1000, size: 4096, prefetchable: false, is_64bit: false }),
            None,
            None,
            Some(Bar::Memory { address: 0xfe00_0000, size: 16384, prefetchable: true, is_64bit: true }),
            None,
        ];
        let mut copy = ConfigCopy { address, words, bar_sizes: [0; 6], sizing: [false; 6] };
        copy.bar_sizes = ConfigCopy::read(&mut copy.clone(), address, &bars).bar_sizes;
        copy
    }

    /// Sizes BAR `index` the way PCI libraries do, and restores it.
    fn size(cs: &mut ConfigCopy, index: u8) -> u64 {
        let (address, offset) = (cs.address, 0x10 + 4 * index);
        let original = cs.read32(address, offset);
        cs.write32(address, offset, u32::MAX);
        let low = cs.read32(address, offset) as u64;
        let (high, flags) = if original & 0b111 == 0b100 {
            let top = cs.read32(address, offset + 4);
            cs.write32(address, offset + 4, u32::MAX);
            let high = cs.read32(address, offset + 4) as u64;
            cs.write32(address, offset + 4, top);
            (high, 0b1111)
        } else if original & 1 == 1 {
            (0xffff_ffff, 0b11)
        } else {
            (if low == 0 { 0 } else { 0xffff_ffff }, 0b1111)
        };
        cs.write32(address, offset, original);
        assert_eq!(cs.read32(address, offset), original, "BAR {index} restored");
        (!((high << 32 | low) & !flags)).wrapping_add(1)
    }

    #[test]
    fn answers_bar_sizing_like_the_device() {
        let mut cs = copy();
        assert_eq!([size(&mut cs, 0), size(&mut cs, 1), size(&mut cs, 2), size(&mut cs, 4)], [128, 4096, 0, 16384]);
        // Our own enumeration over the copy finds what it found on the bus.
        let found = enumerate(&mut copy());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].bars[4],
            Some(Bar::Memory { address: 0xfe00_0000, size: 16384, prefetchable: true, is_64bit: true })
        );
        assert_eq!(found[0].bars[0], Some(Bar::Io { port: 0xc080, size: 128 }));
    }

    #[test]
    fn ignores_other_writes_and_round_trips_through_bytes() {
        let mut cs = copy();
        let address = cs.address;
        cs.words[1] = 0x0010_0007; // decoding and bus mastering on, capability list
        cs.write32(address, 0x04, 0); // the command register: the broker's, not the driver's
        assert_eq!(cs.read32(address, 0x04), 0x0010_0007);
        cs.write32(address, 0x10, 0x1234); // a BAR write that is not sizing changes nothing
        assert_eq!(cs.read32(address, 0x10), 0xc081);
        assert_eq!(cs.read32(PciAddress { bus: 0, device: 6, function: 0 }, 0), u32::MAX);
        let bytes = cs.to_bytes();
        assert_eq!(ConfigCopy::from_bytes(address, &bytes), Some(cs));
        assert_eq!(ConfigCopy::from_bytes(address, &bytes[..100]), None);
    }
}
