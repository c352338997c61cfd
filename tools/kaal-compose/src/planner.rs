//! The boot plan: what each component of a validated [`System`] is granted, by name, in
//! which CNode slot or at which address, and the Rust source `kaal-root` compiles it from.
//!
//! Everything decidable on the host is decided here, once, so `kaal debug caps` prints
//! exactly what the root task will do, and the root task only carries the plan out (and
//! checks that each capability landed where planned). The grant names follow
//! `kaal_abi::plan`'s conventions, which the component-side helpers (`kaal-ipc`,
//! `kaal-dev`) rely on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use kaal_abi::plan::{parts, Source};
use kaal_abi::startup::{self, slots, CapKind};

use crate::error::ToolError;
use crate::system::{generated, System};

/// log2 of each component's CNode slots: room for every grant below
/// [`slots::FIRST_FREE`] and as many again for capabilities it receives.
pub const CNODE_BITS: u8 = 8;
/// log2 of the slots of a component that builds processes: two for every page it maps
/// into one (`kaal_core::supervisor::MAX_MANAGER_CNODE_BITS`).
pub const MANAGER_CNODE_BITS: u8 = 14;

/// Where a grant ends up in the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A capability in this CNode slot.
    Slot(u64),
    /// A region mapped at this address.
    Mapped { vaddr: u64, size: u64 },
    /// Device memory, mapped where the root task decides at boot (the windows a PCI
    /// device has are only known then).
    AtBoot,
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedGrant {
    /// The name the component asks for.
    pub name: String,
    pub source: Source,
    pub placement: Placement,
    /// What it is, for people ("endpoint (client), badge 2").
    pub description: String,
}

/// One component's part of the plan.
#[derive(Debug, Clone)]
pub struct PlannedComponent {
    pub name: String,
    pub grants: Vec<PlannedGrant>,
    /// Device resources it is not granted, because no driver in its image takes them:
    /// the grant's name and why.
    pub withheld: Vec<(String, String)>,
    /// Each of its devices whose ports its drivers narrow (`#[ports(count = N)]`): the
    /// device and `N`.
    pub port_counts: Vec<(String, u16)>,
}

/// Which of a device's resources a component's drivers take (from the declarations
/// `#[derive(Driver)]` puts in the image, see `kaal_abi::drivers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNeeds {
    pub ports: bool,
    /// Only the first so many ports (every driver that takes ports narrows them).
    pub port_count: Option<u16>,
    pub irq: bool,
    pub mmio: bool,
    /// The drivers that declared them (empty: none did, so the component gets every
    /// resource, as for code that drives the device without the driver kit).
    pub drivers: Vec<String>,
}

impl DeviceNeeds {
    /// Every resource: what a component gets when no driver declares the device.
    pub fn all() -> Self {
        DeviceNeeds { ports: true, port_count: None, irq: true, mmio: true, drivers: Vec::new() }
    }

    /// What the drivers declared in `declarations` (lines of an image's
    /// `.kaal_drivers` section) take from `device` (`com2`, `pci:00:03.0`).
    pub fn from_declarations<'a>(device: &str, declarations: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needs = DeviceNeeds { ports: false, port_count: None, irq: false, mmio: false, drivers: Vec::new() };
        // Ports narrow only if every driver that takes them narrows them: to the most any asks.
        let mut narrowed: Option<Option<u16>> = None;
        for line in declarations {
            let Some(d) = kaal_abi::drivers::Declaration::parse(line) else { continue };
            let drives = if device.starts_with("pci:") { d.drives_pci() } else { d.drives_isa(device) };
            if drives {
                needs.ports |= d.ports;
                if d.ports {
                    narrowed = Some(match (narrowed, d.port_count) {
                        (Some(None), _) | (_, None) => None,
                        (Some(Some(a)), Some(b)) => Some(a.max(b)),
                        (None, Some(b)) => Some(b),
                    });
                }
                needs.irq |= d.irq;
                needs.mmio |= d.mmio != 0;
                needs.drivers.push(d.name.to_string());
            }
        }
        needs.port_count = narrowed.flatten();
        if needs.drivers.is_empty() {
            DeviceNeeds::all()
        } else {
            needs
        }
    }
}

/// Each component's needs for each of its devices, by (component, device) name; a
/// pair without an entry gets every resource.
pub type Needs = BTreeMap<(String, String), DeviceNeeds>;

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// In start order.
    pub components: Vec<PlannedComponent>,
}

/// Assigns slots and addresses in one component, in grant order.
struct Placer {
    next_slot: u64,
    next_region: u64,
    grants: Vec<PlannedGrant>,
}

impl Placer {
    fn cap(&mut self, name: String, source: Source, kind: CapKind, detail: String) {
        let description =
            if detail.is_empty() { kind.describe().to_string() } else { format!("{}, {detail}", kind.describe()) };
        self.grants.push(PlannedGrant { name, source, placement: Placement::Slot(self.next_slot), description });
        self.next_slot += 1;
    }

    fn region(&mut self, name: String, source: Source, size: u64, description: String) {
        let placement = Placement::Mapped { vaddr: self.next_region, size };
        self.next_region = startup::next_region(self.next_region, size);
        self.grants.push(PlannedGrant { name, source, placement, description });
    }
}

/// The real-time scheduler's notifications, which the plan lists after the system's own
/// (`kaal_abi::plan::RealtimePlan`): `rt:events`, then each task's release notification.
struct RtNotifications {
    /// The index of `rt:events`.
    events: usize,
}

impl RtNotifications {
    fn of(system: &System) -> Self {
        RtNotifications { events: system.notifications.len() }
    }

    /// The index of task `task`'s release notification.
    fn release(&self, task: usize) -> usize {
        self.events + 1 + task
    }

    /// Their names, in plan order; none if no component is real-time.
    fn names(system: &System) -> Vec<String> {
        let tasks: Vec<String> =
            system.components.iter().filter(|c| c.realtime.is_some()).map(|c| generated::rt_release(&c.name)).collect();
        if tasks.is_empty() {
            return tasks;
        }
        std::iter::once(generated::RT_EVENTS.to_string()).chain(tasks).collect()
    }
}

/// The real-time task index of component `index` (in start order), if it is one.
fn rt_task(system: &System, index: usize) -> Option<usize> {
    system.components.get(index)?.realtime?;
    Some(system.components[..index].iter().filter(|c| c.realtime.is_some()).count())
}

/// Plans `system`. Fails only on limits the validator does not know (badge bits).
pub fn plan(system: &System) -> Result<Plan, ToolError> {
    plan_with(system, &Needs::new())
}

/// [`plan`], granting each device's resources only as far as `needs` says.
pub fn plan_with(system: &System, needs: &Needs) -> Result<Plan, ToolError> {
    let mut components = Vec::new();
    // Devices in claim order: by component (start order), then as listed.
    let mut devices: Vec<(&str, &str)> = Vec::new();
    for c in &system.components {
        for d in &c.devices {
            devices.push((c.name.as_str(), d.as_str()));
        }
    }
    for (index, component) in system.components.iter().enumerate() {
        let me = component.name.as_str();
        let mut p = Placer { next_slot: slots::FIRST_GRANT, next_region: startup::REGIONS_BASE, grants: Vec::new() };
        for (i, ch) in system.channels.iter().enumerate() {
            if ch.server == me {
                let detail = format!("{} client(s)", ch.clients.len());
                p.cap(ch.name.clone(), Source::ChannelServer(i), CapKind::EndpointServer, detail);
            }
            if let Some(k) = ch.clients.iter().position(|c| c == me) {
                let badge = k as u64 + 1;
                let source = Source::ChannelClient { channel: i, badge };
                p.cap(ch.name.clone(), source, CapKind::EndpointClient, format!("badge {badge}, server {}", ch.server));
            }
        }
        for (i, n) in system.notifications.iter().enumerate() {
            if let Some(k) = n.signal.iter().position(|c| c == me) {
                if k >= 28 {
                    return Err(ToolError::new(
                        "planning the system",
                        format!(
                            "notification `{}` has {} signallers; each needs its own badge bit",
                            n.name,
                            n.signal.len()
                        ),
                        "give a notification at most 28 signallers, or split it in two",
                    ));
                }
                let badge = 1u64 << k;
                let source = Source::NotificationSignal { notification: i, badge };
                p.cap(n.name.clone(), source, CapKind::NotificationSignal, format!("badge bit {badge:#x}"));
            }
            if n.wait == me {
                p.cap(n.name.clone(), Source::NotificationWait(i), CapKind::NotificationWait, String::new());
            }
        }
        for (i, r) in system.rings.iter().enumerate() {
            let producer = r.producer == me;
            if !producer && r.consumer != me {
                continue;
            }
            let role = if producer { "producer" } else { "consumer" };
            let geometry = format!("ring, {role} end: {} slots of {} bytes", r.slots, r.item_size);
            p.region(r.name.clone(), Source::RingRegion(i), r.bytes(), geometry);
            let data = Source::RingNotification { ring: i, data: true, wait: !producer };
            let space = Source::RingNotification { ring: i, data: false, wait: producer };
            let (data_kind, space_kind) = if producer {
                (CapKind::NotificationSignal, CapKind::NotificationWait)
            } else {
                (CapKind::NotificationWait, CapKind::NotificationSignal)
            };
            p.cap(format!("{}{}", r.name, parts::RING_DATA), data, data_kind, "items were pushed".into());
            p.cap(format!("{}{}", r.name, parts::RING_SPACE), space, space_kind, "slots were freed".into());
        }
        for (i, m) in system.regions.iter().enumerate() {
            let writable = m.writers.iter().any(|w| w == me);
            if !writable && !m.readers.iter().any(|r| r == me) {
                continue;
            }
            let access = if writable { "read-write" } else { "read-only" };
            let dma = if m.dma { ", DMA memory: physically contiguous, its physical address given" } else { "" };
            p.region(
                m.name.clone(),
                Source::Region { region: i, writable },
                m.size,
                format!("shared memory, {access}{dma}"),
            );
        }
        for s in &system.device_signals {
            let Some(k) = s.signal.iter().position(|c| c == me) else { continue };
            let Some(device) = devices.iter().position(|(_, d)| *d == s.device) else {
                return Err(ToolError::new(
                    "planning the system",
                    format!("`{}` signals device {}, which no component drives", s.name, s.device),
                    "this is a bug in the tool's built-in services: report it",
                ));
            };
            let badge = 2u64 << k;
            let holder = devices[device].0;
            p.cap(
                s.name.clone(),
                Source::DeviceEventsSignal { device, badge },
                CapKind::NotificationSignal,
                format!("wakes {holder}, the driver of {}: badge bit {badge:#x}", s.device),
            );
        }
        if let Some(text) = &component.config {
            // The root task makes the same pages from the text (`Source::Text`).
            let size = (text.len() as u64).max(1).next_multiple_of(4096);
            p.region(
                parts::CONFIG.into(),
                Source::Text(Box::leak(text.clone().into_boxed_str())),
                size,
                "configuration the tool wrote, read-only".into(),
            );
        }
        if component.processes > 0 {
            let bits = component.processes.trailing_zeros() as u8;
            p.cap(
                parts::MEMORY.into(),
                Source::Memory { bits },
                CapKind::Untyped,
                format!("{} of RAM to build processes from", human(component.processes)),
            );
        }
        if component.dma > 0 {
            p.region(
                parts::DMA.into(),
                Source::Dma,
                component.dma,
                "DMA memory: physically contiguous, for drivers".into(),
            );
        }
        if component.time {
            let badge = index as u64 + 1;
            p.cap(
                kaal_abi::time::GRANT.into(),
                Source::TimeService { badge },
                CapKind::EndpointClient,
                format!("badge {badge}, the time service"),
            );
            p.cap(
                kaal_abi::time::WAKE.into(),
                Source::TimeWake,
                CapKind::NotificationWait,
                "the time service wakes it here".into(),
            );
        }
        if let Some(task) = rt_task(system, index) {
            let rt = RtNotifications::of(system);
            p.cap(
                parts::RT_RELEASE.into(),
                Source::NotificationWait(rt.release(task)),
                CapKind::NotificationWait,
                format!("real-time task {task}: the scheduler releases its jobs here"),
            );
            let badge = 1u64 << task;
            p.cap(
                parts::RT_DONE.into(),
                Source::NotificationSignal { notification: rt.events, badge },
                CapKind::NotificationSignal,
                format!("tells the real-time scheduler a job is done: badge bit {badge:#x}"),
            );
        }
        let mut withheld = Vec::new();
        let mut port_counts = Vec::new();
        for device in &component.devices {
            let index = devices.iter().position(|(c, d)| *c == me && d == device).expect("listed above");
            let need = needs.get(&(me.to_string(), device.clone())).cloned().unwrap_or_else(DeviceNeeds::all);
            let by = need.drivers.join(", ");
            let mut withhold = |part: &str, what: &str| {
                withheld.push((format!("{device}{part}"), format!("not granted: {by} takes no {what}")));
            };
            if need.ports {
                let description = match need.port_count {
                    Some(count) => {
                        port_counts.push((device.clone(), count));
                        format!("only the device's first {count} ports: {by} takes no more (#[ports(count = {count})])")
                    }
                    None => "if the device has ports".into(),
                };
                p.cap(
                    format!("{device}{}", parts::DEVICE_PORTS),
                    Source::DevicePorts(index),
                    CapKind::IoPort,
                    description,
                );
            } else {
                withhold(parts::DEVICE_PORTS, "I/O ports");
            }
            if need.irq && !need.drivers.is_empty() && system.fixed_device_irq(device) == Some(None) {
                return Err(ToolError::new(
                    "planning the system",
                    format!(
                        "driver {by} in component {me} handles interrupts (#[interrupt]), but device {device} has no \
                         interrupt line"
                    ),
                    format!(
                        "add the device's ISA line to [devices.{device}] in system.toml (e.g. `irq = 8`), or remove \
                         the driver's #[interrupt] field"
                    ),
                ));
            }
            if need.irq {
                p.cap(
                    format!("{device}{}", parts::DEVICE_IRQ),
                    Source::DeviceIrq(index),
                    CapKind::IrqHandler,
                    "if it has an interrupt".into(),
                );
                p.cap(
                    format!("{device}{}", parts::DEVICE_EVENTS),
                    Source::DeviceEvents(index),
                    CapKind::NotificationWait,
                    "its interrupt arrives here, badge 1".into(),
                );
            } else {
                withhold(parts::DEVICE_IRQ, "interrupt (#[interrupt])");
                withhold(parts::DEVICE_EVENTS, "interrupt (#[interrupt])");
            }
            if device.starts_with("pci:") {
                p.region(
                    format!("{device}{}", parts::DEVICE_CONFIG),
                    Source::DeviceConfig(index),
                    kaal_abi::plan::pci_config::BYTES,
                    "its PCI configuration header, read-only (kaal_abi::plan::pci_config)".into(),
                );
            }
            if need.mmio {
                p.grants.push(PlannedGrant {
                    name: format!("{device}{}", parts::DEVICE_MMIO),
                    source: Source::DeviceMmio(index),
                    placement: Placement::AtBoot,
                    description: "device memory: one region `<name><BAR>` per MMIO window, uncached".into(),
                });
            } else {
                withhold(parts::DEVICE_MMIO, "device memory (#[mmio])");
            }
        }
        components.push(PlannedComponent { name: component.name.clone(), grants: p.grants, withheld, port_counts });
    }
    Ok(Plan { components })
}

/// A declared device as a `kaal_abi::devices::FixedDevice` literal.
fn fixed_device_source(d: &crate::system::DeclaredDevice) -> String {
    use kaal_abi::devices::Probe;
    let d = d.as_fixed();
    let ports = match d.ports {
        Some(p) => format!("Some(::kaal_abi::devices::PortRange {{ first: {:#x}, count: {} }})", p.first, p.count),
        None => "None".into(),
    };
    let mmio = match d.mmio {
        Some(m) => format!("Some(::kaal_abi::devices::MmioRange {{ address: {:#x}, size: {:#x} }})", m.address, m.size),
        None => "None".into(),
    };
    let probe = match d.probe {
        Probe::None => "None".to_string(),
        Probe::Scratch { offset } => format!("Scratch {{ offset: {offset} }}"),
        Probe::Read { offset, mask, equals } => {
            format!("Read {{ offset: {offset}, mask: {mask:#x}, equals: {equals:#x} }}")
        }
    };
    format!(
        "::kaal_abi::devices::FixedDevice {{ name: {}, description: {}, ports: {ports}, irq: {:?}, mmio: {mmio}, \
         probe: ::kaal_abi::devices::Probe::{probe}, reserved: None }}",
        rust_str(d.name),
        rust_str(d.description),
        d.irq,
    )
}

/// The plan's `realtime` field: the scheduler and its tasks, in task order.
fn realtime_source(out: &mut String, system: &System) {
    let tasks: Vec<(usize, &kaal_sched::TaskSpec)> =
        system.components.iter().enumerate().filter_map(|(i, c)| c.realtime.as_ref().map(|spec| (i, spec))).collect();
    let (Some(rt), false) = (system.realtime, tasks.is_empty()) else {
        let _ = writeln!(out, "        realtime: None,");
        return;
    };
    let notifications = RtNotifications::of(system);
    let timer = match rt.timer {
        Some(timer) => format!("Some({})", rust_str(timer.device())),
        None => "None".to_string(),
    };
    let _ = writeln!(out, "        realtime: Some(RealtimePlan {{");
    let _ = writeln!(out, "            policy: {},", rust_str(rt.policy.as_str()));
    let _ = writeln!(out, "            timer: {timer},");
    let _ = writeln!(out, "            priority: {},", rt.priority);
    let _ = writeln!(out, "            events: {},", notifications.events);
    let _ = writeln!(out, "            tasks: &[");
    // Checked specs are at most an hour: their nanoseconds fit a u64.
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    for (task, (component, spec)) in tasks.into_iter().enumerate() {
        let _ = writeln!(
            out,
            "                RtTaskPlan {{ component: {component}, release: {}, period_ns: {}, deadline_ns: {}, \
             wcet_ns: {}, offset_ns: {}, criticality: {} }},",
            notifications.release(task),
            nanos(spec.period),
            nanos(spec.deadline),
            nanos(spec.wcet),
            nanos(spec.offset),
            spec.criticality.0
        );
    }
    let _ = writeln!(out, "            ],");
    let _ = writeln!(out, "        }}),");
}

fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

impl Plan {
    /// The Rust source of `static PLAN: kaal_abi::plan::BootPlan`, embedding the component
    /// images (`images[i]` is component `i`'s ELF file, in start order).
    pub fn to_rust(&self, system: &System, source_file: &str, images: &[PathBuf]) -> Result<String, ToolError> {
        let mut out = String::new();
        let _ = writeln!(out, "// Generated by `kaal build` from {source_file}. Do not edit.");
        let mut image_index: Vec<(PathBuf, usize)> = Vec::new();
        let mut component_images = Vec::new();
        for path in images {
            let index = match image_index.iter().find(|(p, _)| p == path) {
                Some((_, i)) => *i,
                None => {
                    let i = image_index.len();
                    let len = std::fs::metadata(path)
                        .map_err(|e| ToolError::io("embedding the component images", path, e))?
                        .len();
                    let path_text = rust_str(&path.display().to_string());
                    let _ = writeln!(
                        out,
                        "static IMAGE_{i}: ::kaal_core::supervisor::AlignedImage<{len}> = \
                         ::kaal_core::supervisor::AlignedImage(*include_bytes!({path_text}));"
                    );
                    image_index.push((path.clone(), i));
                    i
                }
            };
            component_images.push(index);
        }
        let _ = writeln!(out, "static PLAN: ::kaal_abi::plan::BootPlan = {{");
        let _ = writeln!(out, "    use ::kaal_abi::plan::*;");
        let _ = writeln!(out, "    BootPlan {{");
        let _ = writeln!(out, "        system: {},", rust_str(&system.name));
        let _ = writeln!(out, "        root_heap: {},", system.resources.heap);
        let _ = writeln!(out, "        components: &[");
        for ((planned, component), image) in self.components.iter().zip(&system.components).zip(&component_images) {
            let _ = writeln!(out, "            ComponentPlan {{");
            let _ = writeln!(out, "                name: {},", rust_str(&planned.name));
            let _ = writeln!(out, "                image: &IMAGE_{image}.0,");
            let _ = writeln!(out, "                priority: {},", component.priority);
            let _ = writeln!(out, "                heap: {},", component.heap);
            let _ = writeln!(out, "                stack: {},", component.stack);
            let cnode_bits = if component.processes > 0 { MANAGER_CNODE_BITS } else { CNODE_BITS };
            let _ = writeln!(out, "                cnode_bits: {cnode_bits},");
            let _ = writeln!(out, "                manager: {},", component.processes > 0);
            let _ = writeln!(out, "                daemon: {},", component.daemon);
            let _ = writeln!(out, "                dma: {},", component.dma);
            let (budget, period, fault) =
                component.budget.map(|b| (b.budget_us, b.period_us, b.overrun_fault)).unwrap_or((0, 0, false));
            let _ = writeln!(out, "                budget_us: {budget},");
            let _ = writeln!(out, "                period_us: {period},");
            let _ = writeln!(out, "                overrun_fault: {fault},");
            let _ = writeln!(out, "                passive: {},", component.passive);
            let _ = writeln!(out, "                grants: &[");
            for g in &planned.grants {
                let slot = match g.placement {
                    Placement::Slot(s) => s,
                    _ => 0,
                };
                let _ = writeln!(
                    out,
                    // Source's Debug form is a valid Rust expression of it.
                    "                    GrantPlan {{ name: {}, source: Source::{:?}, slot: {slot} }},",
                    rust_str(&g.name),
                    g.source
                );
            }
            let _ = writeln!(out, "                ],");
            let _ = writeln!(out, "            }},");
        }
        let _ = writeln!(out, "        ],");
        let list = |out: &mut String, field: &str, items: Vec<String>| {
            let _ = writeln!(out, "        {field}: &[");
            for item in items {
                let _ = writeln!(out, "            {item},");
            }
            let _ = writeln!(out, "        ],");
        };
        list(
            &mut out,
            "channels",
            system.channels.iter().map(|c| format!("ChannelPlan {{ name: {} }}", rust_str(&c.name))).collect(),
        );
        list(
            &mut out,
            "notifications",
            system
                .notifications
                .iter()
                .map(|n| n.name.clone())
                .chain(RtNotifications::names(system))
                .map(|name| format!("NotificationPlan {{ name: {} }}", rust_str(&name)))
                .collect(),
        );
        list(
            &mut out,
            "rings",
            system
                .rings
                .iter()
                .map(|r| {
                    format!(
                        "RingPlan {{ name: {}, slots: {}, item_size: {}, bytes: {} }}",
                        rust_str(&r.name),
                        r.slots,
                        r.item_size,
                        r.bytes()
                    )
                })
                .collect(),
        );
        list(
            &mut out,
            "regions",
            system
                .regions
                .iter()
                .map(|m| format!("RegionPlan {{ name: {}, bytes: {}, dma: {} }}", rust_str(&m.name), m.size, m.dma))
                .collect(),
        );
        let mut devices = Vec::new();
        for (holder, (c, planned)) in system.components.iter().zip(&self.components).enumerate() {
            for d in &c.devices {
                let port_count = planned.port_counts.iter().find(|(name, _)| name == d).map_or(0, |(_, n)| *n);
                devices.push(format!(
                    "DevicePlan {{ name: {}, holder: {holder}, port_count: {port_count} }}",
                    rust_str(d)
                ));
            }
        }
        list(&mut out, "devices", devices);
        list(&mut out, "fixed_devices", system.devices.iter().map(fixed_device_source).collect());
        match system.time {
            Some(source) => {
                let _ = writeln!(out, "        time: Some(TimePlan {{ device: {} }}),", rust_str(source.device()));
            }
            None => {
                let _ = writeln!(out, "        time: None,");
            }
        }
        realtime_source(&mut out, system);
        // The Linux personality's exit status is init's, and the system's.
        match system.linux {
            Some(_) => {
                let _ = writeln!(out, "        exit_status_of: Some({}),", rust_str(crate::system::LINUX));
            }
            None => {
                let _ = writeln!(out, "        exit_status_of: None,");
            }
        }
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}};");
        // Slots and sources are checked against kaal-abi's own rules, so a plan the root
        // task would refuse never gets built.
        for c in &self.components {
            for g in &c.grants {
                if let Placement::Slot(slot) = g.placement {
                    if !(slots::FIRST_GRANT..slots::FIRST_FREE).contains(&slot) || !g.source.is_capability() {
                        return Err(ToolError::new(
                            "planning the system",
                            format!("component {} has more capabilities than fit its CNode (grant {})", c.name, g.name),
                            "grant it fewer connections or devices",
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The table `kaal debug caps` prints.
    pub fn caps_table(&self, system: &System) -> String {
        let mut out = String::new();
        for (planned, component) in self.components.iter().zip(&system.components) {
            let _ = writeln!(
                out,
                "{} (priority {}, heap {}, stack {}{}{}{}):",
                planned.name,
                component.priority,
                human(component.heap),
                human(component.stack),
                if component.daemon { ", daemon" } else { "" },
                match component.budget {
                    Some(b) => format!(
                        ", budget {} us every {} us{}",
                        b.budget_us,
                        b.period_us,
                        if b.overrun_fault { ", overrun faults" } else { "" }
                    ),
                    None => String::new(),
                },
                match &component.realtime {
                    Some(spec) => rt_summary(spec),
                    None => String::new(),
                }
            );
            let mut rows = vec![["slot or address".to_string(), "name".to_string(), "what".to_string()]];
            rows.push(["1".into(), "(own TCB)".into(), "thread".into()]);
            rows.push(["2".into(), "(own CNode)".into(), format!("CNode, {} slots", 1 << CNODE_BITS)]);
            rows.push(["3".into(), "(supervisor)".into(), "endpoint: faults and exit status".into()]);
            rows.push(["4".into(), "(heap lock)".into(), "notification its heap lock sleeps on".into()]);
            rows.push(["5".into(), "(console)".into(), "endpoint: the lines it prints".into()]);
            rows.push(["6".into(), "(log signal)".into(), "notification: it wrote to its log ring".into()]);
            rows.push(["7".into(), "(reply)".into(), "MCS kernels only: the reply object it receives with".into()]);
            for g in &planned.grants {
                let at = match g.placement {
                    Placement::Slot(s) => s.to_string(),
                    Placement::Mapped { vaddr, size } => format!("{vaddr:#x} ({})", human(size)),
                    Placement::AtBoot => "mapped at boot".into(),
                };
                rows.push([at, g.name.clone(), g.description.clone()]);
            }
            for (name, why) in &planned.withheld {
                rows.push(["-".into(), name.clone(), why.clone()]);
            }
            let widths = [0, 1].map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0));
            for r in rows {
                let _ = writeln!(out, "  {:<w0$}  {:<w1$}  {}", r[0], r[1], r[2], w0 = widths[0], w1 = widths[1]);
            }
            let _ = writeln!(out, "  slots {}.. hold capabilities it receives at run time", slots::FIRST_FREE);
        }
        out
    }
}

/// A real-time task's timing for people: ", real-time: 2 ms every 100 ms, deadline 10 ms, high criticality".
fn rt_summary(spec: &kaal_sched::TaskSpec) -> String {
    let d = |duration: std::time::Duration| {
        kaal_sched::DisplayDuration(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)).to_string()
    };
    let mut out = format!(", real-time: {} every {}", d(spec.wcet), d(spec.period));
    if spec.deadline != spec.period {
        let _ = write!(out, ", deadline {}", d(spec.deadline));
    }
    if !spec.offset.is_zero() {
        let _ = write!(out, ", first after {}", d(spec.offset));
    }
    let _ = write!(out, ", {} criticality", spec.criticality);
    out
}

/// Bytes for people.
fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = r#"
[system]
name = "t"

[components.a]
path = "a"
priority = 50
devices = ["com2"]

[components.b]
path = "b"
priority = 60

[components.c]
path = "c"
priority = 10

[connections.channels.calls]
server = "a"
clients = ["b"]

[connections.notifications.poke]
signal = ["a", "c"]
wait = "b"

[connections.rings.log]
producer = "a"
consumer = "b"
slots = 64
item-size = 16

[connections.memory.shared]
size = "8 KiB"
writers = ["a"]
readers = ["b"]
"#;

    fn grants(plan: &Plan, component: &str) -> Vec<(String, Placement, Source)> {
        let c = plan.components.iter().find(|c| c.name == component).unwrap();
        c.grants.iter().map(|g| (g.name.clone(), g.placement, g.source)).collect()
    }

    #[test]
    fn slots_and_addresses_follow_the_documented_order() {
        let system = crate::system::parse("system.toml", SYSTEM).unwrap();
        let plan = plan(&system).unwrap();
        // Start order: b (60) before a (50).
        assert_eq!(plan.components.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "a", "c"]);
        let base = startup::REGIONS_BASE;
        let ring_end = startup::next_region(base, 4096);
        assert_eq!(
            grants(&plan, "a"),
            [
                ("calls".into(), Placement::Slot(8), Source::ChannelServer(0)),
                ("poke".into(), Placement::Slot(9), Source::NotificationSignal { notification: 0, badge: 1 }),
                ("log".into(), Placement::Mapped { vaddr: base, size: 4096 }, Source::RingRegion(0)),
                ("log:data".into(), Placement::Slot(10), Source::RingNotification { ring: 0, data: true, wait: false }),
                (
                    "log:space".into(),
                    Placement::Slot(11),
                    Source::RingNotification { ring: 0, data: false, wait: true }
                ),
                (
                    "shared".into(),
                    Placement::Mapped { vaddr: ring_end, size: 8192 },
                    Source::Region { region: 0, writable: true }
                ),
                ("com2:ports".into(), Placement::Slot(12), Source::DevicePorts(0)),
                ("com2:irq".into(), Placement::Slot(13), Source::DeviceIrq(0)),
                ("com2:events".into(), Placement::Slot(14), Source::DeviceEvents(0)),
                ("com2:mmio".into(), Placement::AtBoot, Source::DeviceMmio(0)),
            ]
        );
        let b = grants(&plan, "b");
        assert_eq!(b[0], ("calls".into(), Placement::Slot(8), Source::ChannelClient { channel: 0, badge: 1 }));
        assert_eq!(b[1], ("poke".into(), Placement::Slot(9), Source::NotificationWait(0)));
        assert_eq!(b[3].2, Source::RingNotification { ring: 0, data: true, wait: true });
        assert_eq!(b[5].2, Source::Region { region: 0, writable: false });
        // Each signaller has its own badge bit.
        let c = grants(&plan, "c");
        assert_eq!(c, [("poke".into(), Placement::Slot(8), Source::NotificationSignal { notification: 0, badge: 2 })]);
    }

    #[test]
    fn the_generated_plan_names_every_object() {
        let system = crate::system::parse("system.toml", SYSTEM).unwrap();
        let plan = plan(&system).unwrap();
        let dir = std::env::temp_dir().join(format!("kaal-plan-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.elf"), dir.join("b.elf"));
        std::fs::write(&a, [0u8; 100]).unwrap();
        std::fs::write(&b, [0u8; 200]).unwrap();
        // Components b, a, c in start order; c shares a's image.
        let rust = plan.to_rust(&system, "system.toml", &[b.clone(), a.clone(), a.clone()]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(rust.contains("AlignedImage<200>") && rust.contains("AlignedImage<100>"), "{rust}");
        assert!(!rust.contains("IMAGE_2"), "an image used twice is embedded once: {rust}");
        assert!(rust.contains("RingPlan { name: \"log\", slots: 64, item_size: 16, bytes: 4096 }"), "{rust}");
        assert!(rust.contains("DevicePlan { name: \"com2\", holder: 1, port_count: 0 }"), "{rust}");
        assert!(rust.contains("GrantPlan { name: \"log:space\", source: Source::RingNotification { ring: 0, data: false, wait: true }, slot: 11 }"), "{rust}");
        let table = plan.caps_table(&system);
        assert!(table.lines().any(|l| l.trim_start().starts_with("8 ") && l.contains(" calls ")), "{table}");
        assert!(table.contains("0x80000000 (4 KiB)"), "{table}");
        assert!(table.contains("com2:mmio"), "{table}");
    }

    #[test]
    fn configuration_text_is_a_read_only_region_in_valid_rust() {
        let mut system = crate::system::parse("system.toml", SYSTEM).unwrap();
        let text = "line \"one\"\nline two\n";
        system.components[1].config = Some(text.into());
        let plan = plan(&system).unwrap();
        let config = plan.components[1].grants.iter().find(|g| g.name == "config").expect("a config grant");
        assert_eq!(config.source, Source::Text(text));
        assert!(!config.source.is_capability());
        assert!(matches!(config.placement, Placement::Mapped { size: 4096, .. }), "{:?}", config.placement);
        assert!(plan.components[0].grants.iter().all(|g| g.name != "config"), "only where asked for");

        let dir = std::env::temp_dir().join(format!("kaal-plan-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("x.elf");
        std::fs::write(&image, [0u8; 8]).unwrap();
        let rust = plan.to_rust(&system, "system.toml", &[image.clone(), image.clone(), image]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Debug of a str is a Rust string literal: quotes and newlines escaped.
        assert!(
            rust.contains(
                r#"GrantPlan { name: "config", source: Source::Text("line \"one\"\nline two\n"), slot: 0 },"#
            ),
            "{rust}"
        );
        assert_eq!(rust.matches("Source::Text(").count(), 1);
    }

    const RT_SYSTEM: &str = r#"
[system]
name = "rt"

[realtime]
policy = "rate-monotonic"

[components.sensor]
path = "sensor"
realtime = { period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high" }

[components.control]
path = "control"
realtime = { period = "20ms", wcet = "5ms", offset = "1ms" }

[components.logger]
path = "logger"
priority = 50

[connections.notifications.poke]
signal = ["sensor"]
wait = "logger"
"#;

    /// The plan's Rust source for `system`, every component built from one image.
    fn rust_of(system: &System, name: &str) -> String {
        let plan = plan(system).unwrap();
        let dir = std::env::temp_dir().join(format!("kaal-plan-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("x.elf");
        std::fs::write(&image, [0u8; 8]).unwrap();
        let rust = plan.to_rust(system, "system.toml", &vec![image; system.components.len()]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        rust
    }

    #[test]
    fn real_time_components_get_their_release_and_done_notifications() {
        let system = crate::system::parse("system.toml", RT_SYSTEM).unwrap();
        let plan = plan(&system).unwrap();
        // Start order: the real-time components (230) by name, then logger (50).
        assert_eq!(
            plan.components.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["control", "sensor", "logger"]
        );
        // Notifications: poke (0), then rt:events (1), rt:release:control (2), rt:release:sensor (3).
        assert_eq!(
            grants(&plan, "control"),
            [
                ("rt:release".into(), Placement::Slot(8), Source::NotificationWait(2)),
                ("rt:done".into(), Placement::Slot(9), Source::NotificationSignal { notification: 1, badge: 1 }),
            ]
        );
        assert_eq!(
            grants(&plan, "sensor"),
            [
                ("poke".into(), Placement::Slot(8), Source::NotificationSignal { notification: 0, badge: 1 }),
                ("rt:release".into(), Placement::Slot(9), Source::NotificationWait(3)),
                ("rt:done".into(), Placement::Slot(10), Source::NotificationSignal { notification: 1, badge: 2 }),
            ]
        );
        assert_eq!(grants(&plan, "logger"), [("poke".into(), Placement::Slot(8), Source::NotificationWait(0))]);
        let table = plan.caps_table(&system);
        assert!(table.contains("sensor (priority 230, heap 256 KiB, stack 64 KiB, real-time: 2 ms every 100 ms, deadline 10 ms, high criticality):"), "{table}");
        assert!(table.contains("control (priority 230, heap 256 KiB, stack 64 KiB, real-time: 5 ms every 20 ms, first after 1 ms, low criticality):"), "{table}");
    }

    #[test]
    fn the_generated_plan_describes_the_real_time_scheduler() {
        let system = crate::system::parse("system.toml", RT_SYSTEM).unwrap();
        let rust = rust_of(&system, "rt");
        let notifications = r#"        notifications: &[
            NotificationPlan { name: "poke" },
            NotificationPlan { name: "rt:events" },
            NotificationPlan { name: "rt:release:control" },
            NotificationPlan { name: "rt:release:sensor" },
        ],
"#;
        assert!(rust.contains(notifications), "{rust}");
        let realtime = r#"        realtime: Some(RealtimePlan {
            policy: "rate-monotonic",
            timer: Some("hpet"),
            priority: 230,
            events: 1,
            tasks: &[
                RtTaskPlan { component: 0, release: 2, period_ns: 20000000, deadline_ns: 20000000, wcet_ns: 5000000, offset_ns: 1000000, criticality: 0 },
                RtTaskPlan { component: 1, release: 3, period_ns: 100000000, deadline_ns: 10000000, wcet_ns: 2000000, offset_ns: 0, criticality: 1 },
            ],
        }),
        exit_status_of: None,
    }
};
"#;
        assert!(rust.ends_with(realtime), "{rust}");
        assert!(rust.contains(r#"GrantPlan { name: "rt:done", source: Source::NotificationSignal { notification: 1, badge: 2 }, slot: 10 },"#), "{rust}");

        // With a time service, the scheduler claims no timer of its own.
        let with_time = RT_SYSTEM.replace("[realtime]\n", "[time]\n\n[realtime]\n");
        let system = crate::system::parse("system.toml", &with_time).unwrap();
        assert!(rust_of(&system, "rt-time").contains("            timer: None,\n"));

        // Without real-time components, no scheduler and no notifications for it.
        let system = crate::system::parse("system.toml", SYSTEM).unwrap();
        let rust = rust_of(&system, "no-rt");
        assert!(rust.contains("        realtime: None,\n") && !rust.contains("rt:"), "{rust}");
    }

    #[test]
    fn configuration_pages_round_the_text_up() {
        let mut system = crate::system::parse("system.toml", SYSTEM).unwrap();
        for (text, size) in [(String::new(), 4096), ("x".repeat(4096), 4096), ("x".repeat(4097), 8192)] {
            system.components[0].config = Some(text);
            let plan = plan(&system).unwrap();
            let config = plan.components[0].grants.iter().find(|g| g.name == "config").expect("a config grant");
            assert!(
                matches!(config.placement, Placement::Mapped { size: s, .. } if s == size),
                "{:?}",
                config.placement
            );
        }
    }
}
