//! The capability broker: the device table, and handing each device out once.
//!
//! At start the broker finds the devices: PCI functions through configuration space
//! (I/O ports 0xcf8-0xcff), legacy ISA devices by probing, and the HPET and the
//! interrupt routing (MADT) from the ACPI tables. [`Broker::request_device`] then turns
//! a device into a [`DeviceBundle`] of typed handles, for one claimant only: its I/O
//! ports as a capability narrowed to exactly those ports, its MMIO windows mapped
//! uncached from device memory, its interrupt from the IOAPIC bound to a notification,
//! and a DMA pool if asked for; a PCI function is enabled (decoding, bus mastering for
//! DMA). A second claim on a device, or on an interrupt line another device already
//! holds, is an error that names the holder.
//!
//! An interrupt arrives on a notification of the claimant's own by default
//! ([`IrqDelivery::Own`]), so [`crate::kit::serve`] can wait on it alone. A program that
//! waits for several devices at once asks for [`IrqDelivery::Shared`]: each interrupt
//! then sets its own badge bit on one notification, and [`crate::kit::dispatch`] hands
//! each bit to its driver.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use kaal_alloc::{DmaPool, UntypedAllocator};
use kaal_core::device::{IoApicPin, IoPortAuthority, IoPortRange, Irq, PortSpan};
use kaal_core::error::Bytes;
use kaal_core::mmio::MmioRegion;
use kaal_core::vspace::{Device, Frame, Small, VSpace, PAGE_SIZE};
use kaal_core::{Badge, IrqControl, Notification, Rights};

use crate::acpi::{self, AcpiError, Madt, PhysicalMemory};
use crate::device::{DeviceId, DeviceInfo, DeviceMatch, DeviceName, FixedDevice, InterruptLine, MmioWindow, Probe};
use crate::isa;
use crate::kit::{DeviceBundle, Driver, DriverError};
use crate::pci::{self, Bar, ConfigSpace, PciAddress};

/// Where the broker maps device memory and DMA pools in the root task's address space.
const MAPPINGS_BASE: u64 = 0x0000_5800_0000_0000;
/// Where a claimed device's interrupt is delivered.
#[derive(Debug, Clone, Copy)]
pub enum IrqDelivery<'a> {
    /// On a new notification of its own (badge 1).
    Own,
    /// On `notification`, setting `badge`'s bits: for waiting on several devices at once.
    Shared { notification: &'a Notification, badge: Badge },
}

/// Why the broker refused a request. Every message says what was asked, what is wrong,
/// and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerError {
    /// No device has this name.
    NoSuchDevice { id: DeviceId, known: String },
    /// No device matches what a driver drives.
    NoMatchingDevice { driver: &'static str, wanted: String, known: String },
    /// The device may not be handed out.
    Reserved { id: DeviceId, why: &'static str },
    /// Someone else holds the device.
    AlreadyHeld { id: DeviceId, holder: &'static str, claimant: &'static str },
    /// The device's interrupt line is held through another device.
    IrqInUse { gsi: u8, holder: &'static str, holder_device: DeviceId, claimant: &'static str, device: DeviceId },
    /// Building the device's resources failed.
    Resources { id: DeviceId, claimant: &'static str, error: kaal_core::Error },
    /// The driver could not start on the device it got.
    Driver(DriverError),
    /// A component asked for a device it was not granted (or not all of it).
    Grant { device: String, claimant: &'static str, error: kaal_core::Error },
    /// A driver in a component needs more DMA memory than the component was granted.
    ComponentDma { driver: &'static str, claimant: &'static str, needed: usize, granted: usize },
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::NoSuchDevice { id, known } => write!(
                f,
                "there is no device {id}\n  help: the device table has: {known}\n  help: is the device given to QEMU \
                 ([qemu] args in system.toml, or qemu-args in a root task's Cargo.toml)? `cargo kaal debug devices` \
                 prints the table"
            ),
            BrokerError::NoMatchingDevice { driver, wanted, known } => write!(
                f,
                "failed to initialize driver {driver}: no device matches {wanted}\n  likely causes: QEMU was not given \
                 the device (e.g. `-device e1000`, or a second `-serial` for COM2), the IDs in the driver's \
                 #[pci]/#[isa] are wrong, or system.toml gives the component another device\n  help: the devices \
                 on offer: {known}"
            ),
            BrokerError::Reserved { id, why } => {
                write!(f, "device {id} cannot be handed out: {why}\n  help: use another device")
            }
            BrokerError::AlreadyHeld { id, holder, claimant } => write!(
                f,
                "{claimant} cannot claim device {id}: it is held by {holder}\n  help: each device is handed out once; \
                 talk to {holder} instead, or claim another device"
            ),
            BrokerError::IrqInUse { gsi, holder, holder_device, claimant, device } => write!(
                f,
                "{claimant} cannot claim device {device}: its interrupt line (gsi {gsi}) is held by {holder} \
                 through device {holder_device}\n  help: shared legacy interrupt lines go to one driver; use one of \
                 the two devices"
            ),
            BrokerError::Resources { id, claimant, error } => {
                write!(f, "cannot set up device {id} for {claimant}: {error}")
            }
            BrokerError::Driver(e) => write!(f, "{e}"),
            BrokerError::Grant { device, claimant, error } => write!(
                f,
                "component {claimant} cannot claim device {device}: {error}\n  help: list the device in the \
                 component's table in system.toml (devices = [\"{device}\"]); `cargo kaal debug caps` shows what \
                 each component is granted"
            ),
            BrokerError::ComponentDma { driver, claimant, needed, granted } => write!(
                f,
                "driver {driver} needs {} of DMA memory, but component {claimant} was granted {}\n  help: set \
                 `dma = \"{}\"` (or more) in [components.{claimant}] in system.toml",
                Bytes(*needed as u64),
                Bytes(*granted as u64),
                Bytes((*needed as u64).next_power_of_two().max(4096)),
            ),
        }
    }
}

impl core::error::Error for BrokerError {}

impl From<DriverError> for BrokerError {
    fn from(e: DriverError) -> Self {
        BrokerError::Driver(e)
    }
}

/// PCI configuration space through I/O ports 0xcf8 (address) and 0xcfc (data).
struct PortConfigSpace {
    ports: crate::registers::PortBlock,
}

/// PCI configuration mechanism #1: CONFIG_ADDRESS at 0xcf8 selects a function's
/// register, CONFIG_DATA at 0xcfc reads or writes it (an index/data pair).
const CONFIG: crate::registers::Indexed<u32, u32, crate::registers::ReadWrite> = crate::registers::Indexed::at(0, 4);

impl PortConfigSpace {
    fn address(a: PciAddress, offset: u8) -> u32 {
        0x8000_0000
            | (a.bus as u32) << 16
            | ((a.device as u32) & 0x1f) << 11
            | ((a.function as u32) & 0x7) << 8
            | (offset as u32 & 0xfc)
    }
}

impl ConfigSpace for PortConfigSpace {
    fn read32(&mut self, address: PciAddress, offset: u8) -> u32 {
        use crate::registers::RegisterBlock;
        self.ports.read_indexed(CONFIG, Self::address(address, offset)).unwrap_or(u32::MAX)
    }

    fn write32(&mut self, address: PciAddress, offset: u8, value: u32) {
        use crate::registers::RegisterBlock;
        let _ = self.ports.write_indexed(CONFIG, Self::address(address, offset), value);
    }
}

/// Physical memory for reading ACPI tables: device pages mapped on first use.
struct AcpiMemory<'a> {
    memory: &'a mut UntypedAllocator,
    vspace: &'a mut VSpace,
    next_vaddr: &'a mut u64,
    pages: BTreeMap<u64, MmioRegion>,
}

impl PhysicalMemory for AcpiMemory<'_> {
    fn read(&mut self, paddr: u64, out: &mut [u8]) -> Result<(), AcpiError> {
        for (i, byte) in out.iter_mut().enumerate() {
            let addr = paddr.checked_add(i as u64).ok_or(AcpiError::Unreadable { paddr })?;
            let page = addr & !(PAGE_SIZE as u64 - 1);
            if !self.pages.contains_key(&page) {
                let unreadable = |_| AcpiError::Unreadable { paddr: addr };
                let frame: Frame<Small, Device> = self.memory.device_frame(page).map_err(unreadable)?;
                let region =
                    MmioRegion::map([frame], page, self.vspace, *self.next_vaddr, self.memory).map_err(unreadable)?;
                *self.next_vaddr += PAGE_SIZE as u64;
                self.pages.insert(page, region);
            }
            let region = &self.pages[&page];
            *byte = region.read::<u8>((addr - page) as usize).map_err(|_| AcpiError::Unreadable { paddr: addr })?;
        }
        Ok(())
    }
}

/// A claimed device's resources, not mapped anywhere yet (see [`Broker::claim_device`]).
#[derive(Debug)]
pub struct DeviceClaim {
    pub info: DeviceInfo,
    /// A capability for exactly the device's I/O ports.
    pub ports: Option<IoPortRange>,
    /// Its interrupt, bound to a notification.
    pub irq: Option<Irq>,
    /// The frames of each MMIO window, in physical order.
    pub mmio: Vec<DeviceMemory>,
    /// A PCI function's configuration header, read after it was enabled (for a driver
    /// in a component, which cannot read configuration space itself).
    pub config: Option<pci::ConfigCopy>,
}

/// The frames of one MMIO window.
#[derive(Debug)]
pub struct DeviceMemory {
    /// Which window (PCI BAR; 0 for fixed devices).
    pub index: u8,
    pub frames: Vec<Frame<Small, Device>>,
}

/// The device table and who holds what.
pub struct Broker {
    devices: Vec<DeviceInfo>,
    /// Each PCI function's BARs, as enumeration sized them.
    pci_bars: BTreeMap<DeviceId, [Option<Bar>; 6]>,
    holders: BTreeMap<DeviceId, &'static str>,
    irq_holders: BTreeMap<u8, (&'static str, DeviceId)>,
    io_ports: IoPortAuthority,
    /// PCI configuration space, to enable a function when it is claimed.
    config: PortConfigSpace,
    irq_control: IrqControl,
    next_vector: u8,
    next_vaddr: u64,
    notes: Vec<String>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Broker({} devices, {} held)", self.devices.len(), self.holders.len())
    }
}

fn isa_line(madt: Option<&Madt>, irq: u8) -> InterruptLine {
    match madt {
        Some(madt) => {
            let (gsi, level, active_low) = madt.isa_irq(irq);
            InterruptLine { gsi: gsi as u8, level, active_low }
        }
        // Without a MADT, ISA lines map one to one, edge-triggered and active high.
        None => InterruptLine { gsi: irq, level: false, active_low: false },
    }
}

impl Broker {
    /// Builds the device table from the built-in fixed devices, the HPET and the PCI bus
    /// (see [`with_devices`](Self::with_devices)).
    pub fn new(
        io_ports: IoPortAuthority,
        irq_control: IrqControl,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<Self, kaal_core::Error> {
        Self::with_devices(io_ports, irq_control, memory, vspace, &[])
    }

    /// Builds the device table, with the fixed devices in `declared` (a system.toml's
    /// `[devices.NAME]`, which the root task finds in its boot plan) beside the
    /// built-in ones. `io_ports` is the root task's authority over the ports
    /// (on seL4 5.0.0 the capability for every port, on 16.0.0 the I/O port control)
    /// and `irq_control` is the root task's; device memory, notifications and DMA pools come from `memory`,
    /// and mappings go into `vspace` (the root task's own address space).
    pub fn with_devices(
        io_ports: IoPortAuthority,
        irq_control: IrqControl,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
        declared: &[FixedDevice<'static>],
    ) -> Result<Self, kaal_core::Error> {
        let mut next_vaddr = MAPPINGS_BASE;
        let mut notes = Vec::new();

        // ACPI: the HPET and the interrupt routing.
        let mut acpi_memory = AcpiMemory { memory, vspace, next_vaddr: &mut next_vaddr, pages: BTreeMap::new() };
        let (hpet, madt) = match acpi::find_rsdp(&mut acpi_memory) {
            Ok(rsdp) => {
                let hpet = acpi::hpet(&mut acpi_memory, &rsdp).unwrap_or_else(|e| {
                    notes.push(alloc::format!("ACPI HPET table unreadable: {e}"));
                    None
                });
                let madt = acpi::madt(&mut acpi_memory, &rsdp).unwrap_or_else(|e| {
                    notes.push(alloc::format!("ACPI MADT unreadable: {e}; assuming ISA interrupts map one to one"));
                    None
                });
                (hpet, madt)
            }
            Err(e) => {
                notes.push(alloc::format!("no ACPI tables found ({e}); no HPET, ISA interrupts map one to one"));
                (None, None)
            }
        };
        drop(acpi_memory);

        let mut devices = Vec::new();
        // Fixed devices: the built-in table, then the system's own, each probed as its
        // row says. A declared device that clashes with one already listed is left out
        // with a note (kaal build refuses such a system.toml before it gets here).
        for fixed in kaal_abi::devices::BUILT_IN.iter().chain(declared) {
            let Some(name) = DeviceName::new(fixed.name) else {
                notes.push(alloc::format!("fixed device {:?} left out: not a valid device name", fixed.name));
                continue;
            };
            let shares_ports = |d: &DeviceInfo| match (d.ports, fixed.ports) {
                (Some((first, count)), Some(ports)) => ports.overlaps(kaal_abi::devices::PortRange { first, count }),
                _ => false,
            };
            if let Some(clash) = devices.iter().find(|d: &&DeviceInfo| d.id == DeviceId::Fixed(name) || shares_ports(d))
            {
                notes.push(alloc::format!("fixed device {} left out: it clashes with {}", fixed.name, clash.id));
                continue;
            }
            let present = match (fixed.probe, fixed.ports) {
                (Probe::None, _) | (_, None) => true,
                (probe, Some(range)) => {
                    match io_ports.issue(PortSpan::new(range.first, range.count), memory.cspace()) {
                        Ok(ports) => {
                            let present = isa::present(probe, &ports);
                            // The probe's capability is not needed again; deleting it
                            // returns its slot (and on 16.0.0 its ports).
                            let _ = memory.cspace().delete(ports.into_cap());
                            present
                        }
                        // seL4 16.0.0: someone in this system holds the ports already
                        // (the runtime's console on COM1), so the device is there.
                        Err(kaal_core::Error::PortsInUse { .. }) => true,
                        Err(e) => return Err(e),
                    }
                }
            };
            if !present {
                continue;
            }
            let mut mmio = heapless::Vec::new();
            if let Some(window) = fixed.mmio {
                let _ = mmio.push(MmioWindow { index: 0, paddr: window.address, size: window.size });
            }
            devices.push(DeviceInfo {
                id: DeviceId::Fixed(name),
                description: fixed.description,
                pci_ids: None,
                ports: fixed.ports.map(|p| (p.first, p.count)),
                mmio,
                interrupt: fixed.irq.map(|irq| isa_line(madt.as_ref(), irq)),
                reserved: fixed.reserved,
            });
        }
        if let Some(hpet) = hpet {
            let mut mmio = heapless::Vec::new();
            let _ = mmio.push(MmioWindow { index: 0, paddr: hpet.base_address, size: 1024 });
            // In legacy replacement mode (the only routing every HPET has) its timer 0
            // raises the PIT's line: so the HPET is listed with it, and holding one of
            // the two keeps the other from anyone else.
            devices.push(DeviceInfo {
                id: DeviceId::Hpet,
                description: "HPET timer",
                pci_ids: None,
                ports: None,
                mmio,
                interrupt: Some(isa_line(madt.as_ref(), 0)),
                reserved: None,
            });
        }

        // PCI.
        let config = io_ports.issue(PortSpan::new(0xcf8, 8), memory.cspace())?;
        let mut config = PortConfigSpace { ports: crate::registers::PortBlock::new(config) };
        let mut pci_bars = BTreeMap::new();
        for function in pci::enumerate(&mut config) {
            let mut mmio = heapless::Vec::new();
            let mut ports = None;
            for (index, bar) in function.bars.iter().enumerate() {
                match bar {
                    Some(Bar::Memory { address, size, .. }) if *size > 0 => {
                        let _ = mmio.push(MmioWindow { index: index as u8, paddr: *address, size: *size });
                    }
                    Some(Bar::Io { port, size }) if *size > 0 && ports.is_none() => ports = Some((*port, *size)),
                    _ => {}
                }
            }
            // PCI INTx goes through the chipset to the ISA line the firmware wrote into
            // the interrupt-line register; the MADT says how that line reaches the IOAPIC.
            let interrupt = (function.interrupt_pin != 0 && function.interrupt_line < 16)
                .then(|| isa_line(madt.as_ref(), function.interrupt_line));
            let PciAddress { bus, device, function: func } = function.address;
            pci_bars.insert(DeviceId::Pci { bus, device, function: func }, function.bars);
            devices.push(DeviceInfo {
                id: DeviceId::Pci { bus, device, function: func },
                description: function.description(),
                pci_ids: Some((function.vendor, function.device)),
                ports,
                mmio,
                interrupt,
                reserved: None,
            });
        }
        devices.sort_by_key(|d| d.id);
        Ok(Self {
            devices,
            pci_bars,
            holders: BTreeMap::new(),
            irq_holders: BTreeMap::new(),
            io_ports,
            config,
            irq_control,
            next_vector: 0,
            next_vaddr,
            notes,
        })
    }

    /// Every device found.
    pub fn devices(&self) -> &[DeviceInfo] {
        &self.devices
    }

    /// What the broker noticed while building the table (missing ACPI tables, ...).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The drivers linked into this program (`#[derive(Driver)]`) that match `device`.
    pub fn drivers_for(&self, device: &DeviceInfo) -> Vec<&'static str> {
        crate::kit::DRIVERS.iter().filter(|e| e.matches.iter().any(|m| device.matches(m))).map(|e| e.name).collect()
    }

    /// The table's row for `id`.
    pub fn device(&self, id: DeviceId) -> Option<&DeviceInfo> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// Who holds `id`, if anyone.
    pub fn holder(&self, id: DeviceId) -> Option<&'static str> {
        self.holders.get(&id).copied()
    }

    fn known(&self) -> String {
        let names: Vec<String> = self.devices.iter().map(|d| d.id.to_string()).collect();
        names.join(", ")
    }

    /// Claims device `id` for `claimant`, with a DMA pool of `dma_bytes` (0 for none),
    /// its MMIO windows mapped into `vspace` (the root task's own address space).
    pub fn request_device(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        dma_bytes: usize,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<DeviceBundle, BrokerError> {
        self.bundle(id, claimant, dma_bytes, None, delivery, memory, vspace)
    }

    /// [`request_device`](Self::request_device), with only the first `port_count` ports
    /// if given.
    #[allow(clippy::too_many_arguments)]
    fn bundle(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        dma_bytes: usize,
        port_count: Option<u16>,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<DeviceBundle, BrokerError> {
        let claim = self.claim(id, claimant, delivery, port_count, memory)?;
        let resources = |error| BrokerError::Resources { id, claimant, error };
        let mut bundle = DeviceBundle {
            info: claim.info,
            driver: claimant,
            ports: claim.ports,
            irq: claim.irq,
            mmio: Vec::new(),
            dma: None,
            config: claim.config,
        };
        for window in claim.mmio {
            let pages = window.frames.len() as u64;
            let paddr = window.frames.first().map_or(0, Frame::paddr);
            let region = MmioRegion::map(window.frames, paddr, vspace, self.next_vaddr, memory).map_err(resources)?;
            self.next_vaddr += (pages + 1) * PAGE_SIZE as u64;
            bundle.mmio.push((window.index, region));
        }
        if dma_bytes > 0 {
            let bits = dma_bytes.next_power_of_two().max(PAGE_SIZE).trailing_zeros() as u8;
            let pool = DmaPool::new(claimant, memory, vspace, self.next_vaddr, bits).map_err(resources)?;
            self.next_vaddr += (1u64 << bits) + PAGE_SIZE as u64;
            bundle.dma = Some(pool);
        }
        Ok(bundle)
    }

    /// Claims device `id` for `claimant` without mapping anything: its I/O ports, its
    /// interrupt (bound as `delivery` says) and the frames of its MMIO windows. This is
    /// what the root task grants to a component that drives the device in its own
    /// address space.
    pub fn claim_device(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
    ) -> Result<DeviceClaim, BrokerError> {
        self.claim(id, claimant, delivery, None, memory)
    }

    /// [`claim_device`](Self::claim_device) with only the device's first `port_count`
    /// I/O ports (all of them if it has fewer): for a driver that declares
    /// `#[ports(count = N)]`, so that the capability reaches no further.
    pub fn claim_device_narrowed(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        delivery: IrqDelivery<'_>,
        port_count: u16,
        memory: &mut UntypedAllocator,
    ) -> Result<DeviceClaim, BrokerError> {
        self.claim(id, claimant, delivery, Some(port_count), memory)
    }

    /// Claims COM1, the kernel's console, for a terminal driver that only *receives*
    /// on it (the Linux personality's tty): the kernel (debug builds) and the root task
    /// (release builds) write to COM1 by polling and never read it or enable its
    /// interrupts, so the receiver and the writers do not disturb each other.
    pub fn claim_console_input(
        &mut self,
        claimant: &'static str,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
    ) -> Result<DeviceClaim, BrokerError> {
        self.claim_with(DeviceId::fixed(kaal_abi::devices::CONSOLE), claimant, delivery, None, memory, true)
    }

    fn claim(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        delivery: IrqDelivery<'_>,
        port_count: Option<u16>,
        memory: &mut UntypedAllocator,
    ) -> Result<DeviceClaim, BrokerError> {
        self.claim_with(id, claimant, delivery, port_count, memory, false)
    }

    fn claim_with(
        &mut self,
        id: DeviceId,
        claimant: &'static str,
        delivery: IrqDelivery<'_>,
        port_count: Option<u16>,
        memory: &mut UntypedAllocator,
        console_input: bool,
    ) -> Result<DeviceClaim, BrokerError> {
        let mut info = match self.devices.iter().find(|d| d.id == id) {
            Some(info) => info.clone(),
            None => return Err(BrokerError::NoSuchDevice { id, known: self.known() }),
        };
        if let (Some(why), false) = (info.reserved, console_input) {
            return Err(BrokerError::Reserved { id, why });
        }
        if let Some(holder) = self.holder(id) {
            return Err(BrokerError::AlreadyHeld { id, holder, claimant });
        }
        if let Some(line) = info.interrupt {
            if let Some((holder, holder_device)) = self.irq_holders.get(&line.gsi) {
                return Err(BrokerError::IrqInUse {
                    gsi: line.gsi,
                    holder,
                    holder_device: *holder_device,
                    claimant,
                    device: id,
                });
            }
        }
        let resources = |error| BrokerError::Resources { id, claimant, error };
        if let (Some((first, count)), Some(wanted)) = (info.ports, port_count) {
            info.ports = Some((first, count.min(wanted.max(1))));
        }
        let mut claim = DeviceClaim { info: info.clone(), ports: None, irq: None, mmio: Vec::new(), config: None };
        if let Some((first, count)) = info.ports {
            claim.ports = Some(self.io_ports.issue(PortSpan::new(first, count), memory.cspace()).map_err(resources)?);
        }
        if let Some(line) = info.interrupt {
            claim.irq = Some(self.irq(line, delivery, memory).map_err(resources)?);
        }
        for window in &info.mmio {
            let first_page = window.paddr & !(PAGE_SIZE as u64 - 1);
            let pages = ((window.paddr + window.size).div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64 - first_page)
                / PAGE_SIZE as u64;
            let mut frames = Vec::new();
            for i in 0..pages {
                frames.push(memory.device_frame(first_page + i * PAGE_SIZE as u64).map_err(resources)?);
            }
            claim.mmio.push(DeviceMemory { index: window.index, frames });
        }
        if let DeviceId::Pci { bus, device, function } = id {
            let address = PciAddress { bus, device, function };
            pci::enable(&mut self.config, address);
            let bars = self.pci_bars.get(&id).copied().unwrap_or([None; 6]);
            claim.config = Some(pci::ConfigCopy::read(&mut self.config, address, &bars));
        }
        self.holders.insert(id, claimant);
        if let Some(line) = info.interrupt {
            self.irq_holders.insert(line.gsi, (claimant, id));
        }
        Ok(claim)
    }

    /// An IRQ handler for `line`, delivered as `delivery` says.
    fn irq(
        &mut self,
        line: InterruptLine,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
    ) -> Result<Irq, kaal_core::Error> {
        let pin = IoApicPin { ioapic: 0, pin: line.gsi, level: line.level, active_low: line.active_low };
        let handler = self.irq_control.ioapic_handler(pin, self.next_vector, memory.cspace())?;
        let (notification, badge) = match delivery {
            IrqDelivery::Own => (memory.allocate::<Notification>()?, Badge::new(1).expect("1 is a valid badge")),
            IrqDelivery::Shared { notification, badge } => (memory.cspace().copy(notification, Rights::ALL)?, badge),
        };
        let irq = handler.bind(notification, badge, memory.cspace())?;
        self.next_vector += 1;
        Ok(irq)
    }

    /// Finds a free device that driver `D` matches, claims it and starts the driver, with
    /// its interrupt on a notification of its own.
    pub fn request<D: Driver>(&mut self, memory: &mut UntypedAllocator, vspace: &mut VSpace) -> Result<D, BrokerError> {
        self.request_with(IrqDelivery::Own, memory, vspace)
    }

    /// [`request`](Self::request) with the interrupt delivered as `delivery` says.
    pub fn request_with<D: Driver>(
        &mut self,
        delivery: IrqDelivery<'_>,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<D, BrokerError> {
        let candidates: Vec<DeviceId> =
            self.devices.iter().filter(|d| D::MATCHES.iter().any(|m| d.matches(m))).map(|d| d.id).collect();
        let Some(&first) = candidates.first() else {
            let wanted: Vec<String> = D::MATCHES.iter().map(describe_match).collect();
            return Err(BrokerError::NoMatchingDevice {
                driver: D::NAME,
                wanted: wanted.join(" or "),
                known: self.known(),
            });
        };
        let id = candidates.iter().copied().find(|id| self.holder(*id).is_none()).unwrap_or(first);
        let resources = D::RESOURCES;
        let mut bundle = self.bundle(id, D::NAME, resources.dma_bytes, resources.ports, delivery, memory, vspace)?;
        Ok(D::probe(&mut bundle)?)
    }
}

pub(crate) fn describe_match(m: &DeviceMatch) -> String {
    match m {
        DeviceMatch::Pci { vendor, device } => alloc::format!("PCI {vendor:04x}:{device:04x}"),
        DeviceMatch::Fixed(name) => alloc::format!("fixed device {name}"),
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header =
            ["device", "description", "ids", "ports", "mmio", "interrupt", "drivers", "holder"].map(String::from);
        let mut rows = alloc::vec![header];
        for d in &self.devices {
            let ids = d.pci_ids.map(|(v, dev)| alloc::format!("{v:04x}:{dev:04x}")).unwrap_or_else(|| "-".into());
            let ports = d.ports.map(|(p, n)| alloc::format!("{p:#x}-{:#x}", p + n - 1)).unwrap_or_else(|| "-".into());
            let mmio = match d.mmio.first() {
                Some(w) if d.mmio.len() == 1 => alloc::format!("{:#x} ({})", w.paddr, Bytes(w.size)),
                Some(w) => alloc::format!("{:#x} ({}) +{} more", w.paddr, Bytes(w.size), d.mmio.len() - 1),
                None => "-".into(),
            };
            let irq = d.interrupt.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
            let holder = match (d.reserved, self.holder(d.id)) {
                (Some(_), _) => "reserved (kernel)".to_string(),
                (None, Some(h)) => h.to_string(),
                (None, None) => "free".to_string(),
            };
            let drivers = self.drivers_for(d);
            let drivers = if drivers.is_empty() { "-".to_string() } else { drivers.join(",") };
            rows.push([d.id.to_string(), d.description.to_string(), ids, ports, mmio, irq, drivers, holder]);
        }
        let mut widths = [0usize; 8];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        for row in &rows {
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    writeln!(f, "{cell}")?;
                } else {
                    write!(f, "{cell:<width$}  ")?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}
