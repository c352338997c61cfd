//! What a `system.toml` means: names, references between components and connections,
//! priority and size ranges, and the capability and memory budgets the root task works
//! within. Every check runs and every mistake is collected, so one run shows them all.
//!
//! Limits that the component ABI fixes (name length, capabilities and regions per
//! component) come from `kaal-abi`, so the tool and the root task cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use kaal_abi::startup::{MAX_CAPS, MAX_REGIONS, NAME_LEN};
use toml::Spanned;

use super::duration::{parse_duration_us, show_duration, DURATION_FORMS};
use super::error::{ConfigError, ConfigErrors, Source};
use super::raw::{
    Name, Names, RawChannel, RawComponent, RawFile, RawKernel, RawKernelSource, RawNotification, RawQemu, RawRegion,
    RawResources, RawRing, RawSize, RawTime, Tables,
};
#[path = "disks.rs"]
mod disks;
#[path = "filesystems.rs"]
mod filesystems;
#[path = "fixed_devices.rs"]
mod fixed_devices;
#[path = "linux.rs"]
mod linux;
#[path = "network.rs"]
mod network;
#[path = "realtime.rs"]
mod realtime;

use super::size::{parse_size, show_approx, show_size, SIZE_FORMS};
use super::{
    closest, did_you_mean, key_part, Budget, Channel, Component, FileSystemKind, Kernel, KernelSourceSpec,
    NotificationLink, Platform, Qemu, Realtime, Region, Resources, Ring, System, TimeSource, PAGE,
};

const KIB: u64 = 1 << 10;
pub(super) const MIB: u64 = 1 << 20;
pub(super) const GIB: u64 = 1 << 30;

/// Connection names leave room for the suffixes the tool appends (`:space`, `:data`)
/// to make capability names.
const CONNECTION_NAME_LEN: usize = NAME_LEN - 8;
/// The root task creates one thread per component, from a fixed pool.
const MAX_THREADS: i64 = 64;
/// seL4's highest priority, 255, is the root task's.
const MAX_PRIORITY: i64 = 254;
const DEFAULT_PRIORITIES: RangeInclusive<i64> = 1..=MAX_PRIORITY;
const DEFAULT_PRIORITY: i64 = 100;
/// The shortest budget seL4 MCS accepts on x86 (twice its 10 us worst-case execution
/// time estimate, with KaaL's `KernelWcetScale` of 1).
const MIN_BUDGET_US: u64 = 20;
/// The longest period KaaL accepts (as `kaal_core::sched::MAX_PERIOD_US`).
const MAX_PERIOD_US: u64 = 3_600_000_000;
/// Memory each component costs beyond its heap and stack (page tables, CNode, TCB,
/// start-up block, ELF image).
const COMPONENT_OVERHEAD: u64 = MIB;
/// QEMU memory the kernel and the boot image occupy.
const KERNEL_RESERVE: u64 = 64 * MIB;
const RING_SLOTS: RangeInclusive<i64> = 2..=65536;
const RING_ITEM_SIZE: RangeInclusive<i64> = 1..=4096;
const MAX_SHARED: u64 = MIB;
/// A device's I/O ports, IRQ handler and the notification its interrupts arrive on.
const DEVICE_CAPS: usize = 3;
const DEVICE_FORMS: &str = "devices are com2, com3, com4 (serial ports), pit, hpet (timers), a fixed device this \
                            system declares in [devices.NAME], or a PCI function as pci:BB:DD.F\n(hex bus 00-ff, \
                            device 00-1f, function 0-7; e.g. `pci:00:03.0`)";

/// The devices KaaL ships that a component may be granted by name.
fn grantable() -> impl Iterator<Item = &'static str> {
    kaal_abi::devices::BUILT_IN
        .iter()
        .filter(|d| d.reserved.is_none())
        .map(|d| d.name)
        .chain(kaal_abi::devices::OTHER_NAMES)
}

/// A size setting's default and bounds.
pub(super) struct SizeLimit {
    what: &'static str,
    default: u64,
    min: u64,
    max: u64,
}

const ROOT_HEAP: SizeLimit = SizeLimit { what: "the root task's heap", default: 16 * MIB, min: MIB, max: GIB };
const HEAP: SizeLimit = SizeLimit { what: "heap", default: 256 * KIB, min: 0, max: GIB };
const STACK: SizeLimit = SizeLimit { what: "stack", default: 64 * KIB, min: 16 * KIB, max: 64 * MIB };
/// A shared region (and so a DMA pool) holds at most 256 pages.
const DMA: SizeLimit = SizeLimit { what: "DMA memory", default: 0, min: 0, max: MIB };
const QEMU_MEMORY: SizeLimit = SizeLimit { what: "QEMU memory", default: 512 * MIB, min: 128 * MIB, max: 16 * GIB };
const REGION_SIZE: SizeLimit = SizeLimit { what: "a shared region", default: 0, min: 4 * KIB, max: MAX_SHARED };

/// defmt's levels, most detailed first, and `off`.
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
const DEFAULT_LOG: &str = "info";

/// Checks a parsed file and builds the [`System`] it describes.
pub(super) fn system(source: &Source, raw: RawFile) -> Result<System, ConfigErrors> {
    let mut check = Checker { source, errors: Vec::new(), declared: BTreeSet::new() };
    let header = raw.system.span();
    let raw_system = raw.system.into_inner();
    check.name(&raw_system.name, "system.name", "system", NAME_LEN);
    if let Some(platform) = raw_system.platform.as_ref().filter(|p| p.get_ref() != Platform::QemuX86_64.as_str()) {
        check.report(
            &platform.span(),
            "system.platform",
            format!("platform `{}` is not supported; KaaL runs on `qemu-x86_64` only", platform.get_ref()),
            "remove the `platform` line, or write `platform = \"qemu-x86_64\"`",
        );
    }
    let raw_resources = raw.resources.as_ref().map(Spanned::get_ref);
    let (resources, priorities_valid) = check.resources(raw_resources);
    let (qemu, qemu_memory) = check.qemu(raw.qemu.as_ref().map(Spanned::get_ref));
    let kernel = check.kernel(raw.kernel.as_ref().map(Spanned::get_ref));
    let time = check.time(raw.time.as_ref());
    let devices = check.declared_devices(raw.devices.as_ref(), qemu_memory, time);
    let disks = check.disks(raw.disks.as_ref());

    let mut raw_components = raw.components.map(Spanned::into_inner).unwrap_or_default();
    let linux = check.linux(raw.linux, &mut raw_components, time.is_some());
    let raw_filesystems = raw.filesystems.as_ref().filter(|f| !f.get_ref().is_empty());
    let filesystems = check.filesystems(raw_filesystems, &disks, raw.disks.as_ref(), &raw_components);
    let rt = check.realtime(raw.realtime.as_ref(), &raw_components, raw.time.as_ref(), &resources, priorities_valid);
    let mut components = check.components(&raw_components, &resources, priorities_valid, rt.scheduler.as_ref());
    // A disk a component lists is a device it drives: its PCI function.
    let mut disk_devices = check.component_disks(&raw_components, &disks, raw.disks.as_ref());
    let clients = check.component_mounts(&raw_components, &filesystems, raw_filesystems);
    let network = check.network(raw.network.as_ref(), raw.time.as_ref(), raw.qemu.as_ref());
    let net_clients = check.component_network(&raw_components, raw.network.as_ref());
    for component in &mut components {
        component.devices.extend(disk_devices.remove(&component.name).unwrap_or_default());
        if let Some((_, mounts)) = clients.iter().find(|(name, _)| *name == component.name) {
            component.mounts.clone_from(mounts);
        }
        if let Some((_, grant)) = net_clients.iter().find(|(name, _)| *name == component.name) {
            component.network = Some(grant.clone());
        }
        component.realtime = rt.specs.get(&component.name).copied();
    }
    if let Some(linux) = &linux {
        Checker::linux_component(linux, &mut components);
    }
    // The file system service, and a block driver for each ext2 file system; the
    // network card's driver and the network service.
    let services = Services {
        filesystems: raw_filesystems
            .map_or(0, |_| 1 + filesystems.iter().filter(|fs| matches!(fs.kind, FileSystemKind::Ext2 { .. })).count()),
        network: if network.is_some() { 2 } else { 0 },
    };
    let max_threads = raw_resources.and_then(|r| r.max_threads.as_ref());
    check.component_count(&raw_components, &services, &header, resources.max_threads, max_threads);

    let mut grants: BTreeMap<String, Grants> = BTreeMap::new();
    for component in &components {
        let entry = grants.entry(component.name.clone()).or_default();
        entry.devices = component.devices.len();
        // A PCI device's configuration page is one more region.
        entry.regions += component.devices.iter().filter(|d| d.starts_with("pci:")).count();
        entry.time = component.time;
        entry.realtime = component.realtime.is_some();
    }
    let known: BTreeSet<&str> = raw_components.keys().map(|name| name.get_ref().as_str()).collect();
    let connections = raw.connections.unwrap_or_default();
    check.reserved_names(&raw_components, &connections, raw_filesystems, &filesystems, &clients);
    check.network_reserved_names(&raw_components, &connections, raw.network.as_ref(), &net_clients);
    let mut links = Links { check: &mut check, known: &known, grants: &mut grants, seen: BTreeMap::new() };
    let channels = links.channels(connections.channels.unwrap_or_default());
    let mut notifications = links.notifications(connections.notifications.unwrap_or_default());
    let mut rings = links.rings(connections.rings.unwrap_or_default());
    let mut regions = links.regions(connections.memory.unwrap_or_default());
    if let Some(raw_filesystems) = raw_filesystems {
        let services = check.file_services(raw_filesystems, &filesystems, &disks, &clients, &resources, &mut grants);
        // With a time service, the VFS server bounds its waits for a disk that stopped.
        components.extend(
            services
                .components
                .into_iter()
                .map(|c| Component { time: time.is_some() && c.name == super::generated::VFS, ..c }),
        );
        notifications.extend(services.notifications);
        notifications.sort_by(|a, b| a.name.cmp(&b.name));
        rings.extend(services.rings);
        rings.sort_by(|a, b| a.name.cmp(&b.name));
        regions.extend(services.regions);
        regions.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut device_signals = Vec::new();
    if let (Some(raw_network), Some(network)) = (raw.network.as_ref(), network.as_ref()) {
        check.network_devices_elsewhere(&raw_components, check.source.line(raw_network.span().start));
        let services = check.net_services(raw_network, network, &net_clients, &resources, &mut grants);
        components.extend(services.components);
        notifications.extend(services.notifications);
        notifications.sort_by(|a, b| a.name.cmp(&b.name));
        regions.extend(services.regions);
        regions.sort_by(|a, b| a.name.cmp(&b.name));
        device_signals = services.device_signals;
        device_signals.sort_by(|a, b| a.name.cmp(&b.name));
    }

    check.devices(&raw_components);
    check.time_users(&raw_components, raw.time.as_ref(), time);
    check.timer_line(&raw_components);
    check.shared_log_levels(&raw_components, &components);
    check.grants(&raw_components, &grants);
    let memory_span = raw.qemu.as_ref().map_or(header, |q| q.get_ref().memory.as_ref().map_or(q.span(), Spanned::span));
    check.memory_budget(&memory_span, &resources, qemu_memory, &components, &rings, &regions);

    components.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
    // The set is analysed in start order, the order the root task's scheduler gets it in.
    if let (Some(scheduler), true) = (rt.scheduler.as_ref(), rt.analysable) {
        check.rt_admission(raw.realtime.as_ref(), &raw_components, scheduler, &components);
    }

    if !check.errors.is_empty() {
        let mut errors = check.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(ConfigErrors(errors));
    }
    Ok(System {
        name: raw_system.name.into_inner(),
        platform: Platform::QemuX86_64,
        description: raw_system.description,
        resources,
        qemu,
        kernel,
        time,
        devices,
        disks,
        filesystems,
        network,
        realtime: rt.scheduler,
        linux,
        components,
        channels,
        notifications,
        rings,
        regions,
        device_signals,
    })
}

/// How many components the tool adds, and for what.
struct Services {
    filesystems: usize,
    network: usize,
}

/// What one component is granted, to check against the start-up block's limits.
#[derive(Default)]
struct Grants {
    channel_ends: usize,
    notification_ends: usize,
    ring_ends: usize,
    regions: usize,
    devices: usize,
    /// The time service's endpoint and wake notification.
    time: bool,
    /// A real-time task's release notification and the right to signal it is done.
    realtime: bool,
}

impl Grants {
    fn capabilities(&self) -> usize {
        self.channel_ends
            + self.notification_ends
            + 2 * self.ring_ends
            + DEVICE_CAPS * self.devices
            + 2 * self.time as usize
            + 2 * self.realtime as usize
    }

    fn mapped_regions(&self) -> usize {
        self.ring_ends + self.regions
    }

    /// Where its capabilities come from: "3 channel ends (1 each) and 2 devices (3 each)".
    fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.channel_ends, "channel ends", 1),
            (self.notification_ends, "notification ends", 1),
            (self.ring_ends, "ring ends", 2),
            (self.devices, "devices", DEVICE_CAPS),
            (self.time as usize, "time service", 2),
            (self.realtime as usize, "real-time task", 2),
        ]
        .into_iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, what, each)| format!("{count} {what} ({each} each)"))
        .collect();
        match parts.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => "nothing".to_string(),
        }
    }
}

struct Checker<'a> {
    source: &'a Source<'a>,
    errors: Vec<ConfigError>,
    /// The names of the fixed devices the file declares (`[devices.NAME]`).
    declared: BTreeSet<String>,
}

impl Checker<'_> {
    fn report(
        &mut self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.errors.push(self.source.error(span, key, message, help));
    }

    /// Checks a name against `[a-z][a-z0-9_-]*` and `max` bytes.
    fn name(&mut self, name: &Name, key: &str, what: &str, max: usize) {
        let text = name.get_ref();
        let rule = "names start with a lowercase letter and use only a-z, 0-9, `-` and `_`";
        let (message, help) = if text.is_empty() {
            (format!("the {what} name is empty"), format!("{rule}; e.g. `server`"))
        } else if !is_name(text) {
            let fixed = suggest_name(text, max);
            let suggestion = if fixed.is_empty() { String::new() } else { format!("; try `{fixed}`") };
            (format!("`{text}` is not a valid {what} name"), format!("{rule}{suggestion}"))
        } else if text.len() > max {
            let why = if max < NAME_LEN {
                " (the tool appends suffixes such as `:space` to make capability names of at most 32 bytes)"
            } else {
                ""
            };
            (
                format!("the {what} name `{text}` is {} bytes long; the limit is {max}{why}", text.len()),
                format!("shorten it, e.g. to `{}`", &text[..max]),
            )
        } else {
            return;
        };
        self.report(&name.span(), key, message, help);
    }

    /// The size in `raw`, or the default if it is absent or wrong (after reporting it).
    fn size(&mut self, raw: Option<&Spanned<RawSize>>, key: &str, limit: &SizeLimit) -> u64 {
        let Some(raw) = raw else { return limit.default };
        let bytes = match raw.get_ref() {
            RawSize::Bytes(n) if *n < 0 => Err(format!("{} cannot be negative ({n})", limit.what)),
            RawSize::Bytes(n) => Ok(n.unsigned_abs()),
            RawSize::Text(text) => parse_size(text).map_err(|e| format!("`{text}` is not a size: {e}")),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(message) => {
                self.report(&raw.span(), key, message, SIZE_FORMS);
                return limit.default;
            }
        };
        let range = format!("{} must be from {} to {}", limit.what, show_size(limit.min), show_size(limit.max));
        if bytes < limit.min {
            let message = format!("{} of {} is too small", limit.what, show_size(bytes));
            self.report(&raw.span(), key, message, range);
        } else if bytes > limit.max {
            let message = format!("{} of {} is too large", limit.what, show_size(bytes));
            self.report(&raw.span(), key, message, range);
        } else {
            return bytes;
        }
        limit.default
    }

    /// The whole number in `raw` if it lies in `range`; else reports `message` and `help`.
    fn in_range(
        &mut self,
        raw: &Spanned<i64>,
        key: &str,
        range: RangeInclusive<i64>,
        message: impl FnOnce(i64) -> String,
        help: &str,
    ) -> Option<i64> {
        let value = *raw.get_ref();
        if range.contains(&value) {
            return Some(value);
        }
        self.report(&raw.span(), key, message(value), help);
        None
    }

    /// The root task's resources, and whether the priority range is usable for checking
    /// components against.
    fn resources(&mut self, raw: Option<&RawResources>) -> (Resources, bool) {
        let heap = self.size(raw.and_then(|r| r.heap.as_ref()), "resources.heap", &ROOT_HEAP);
        let max_threads = raw.and_then(|r| r.max_threads.as_ref()).map_or(Some(MAX_THREADS), |raw| {
            self.in_range(
                raw,
                "resources.max-threads",
                1..=MAX_THREADS,
                |n| format!("max-threads {n} is out of range"),
                &format!("the root task runs 1 to {MAX_THREADS} threads, one per component"),
            )
        });
        let priorities = raw.and_then(|r| r.priorities.as_ref()).map(Spanned::get_ref);
        let mut bound = |raw: Option<&Spanned<i64>>, key: &str, default: i64| match raw {
            None => Some(default),
            Some(raw) => self.in_range(
                raw,
                key,
                0..=MAX_PRIORITY,
                priority_message,
                &format!("seL4 priorities run from 0 to 255, and 255 is the root task's; use 0 to {MAX_PRIORITY}"),
            ),
        };
        let lowest = priorities.and_then(|p| p.lowest.as_ref());
        let lowest = bound(lowest, "resources.priorities.lowest", *DEFAULT_PRIORITIES.start());
        let highest = priorities.and_then(|p| p.highest.as_ref());
        let highest = bound(highest, "resources.priorities.highest", *DEFAULT_PRIORITIES.end());
        let mut valid = lowest.is_some() && highest.is_some();
        if let (Some(low), Some(high)) = (lowest, highest) {
            if low > high {
                let span = priorities.and_then(|p| p.lowest.as_ref()).map_or(0..0, Spanned::span);
                self.report(
                    &span,
                    "resources.priorities",
                    format!("the lowest priority {low} is above the highest {high}"),
                    format!("swap them: `priorities = {{ lowest = {high}, highest = {low} }}`"),
                );
                valid = false;
            }
        }
        let resources = Resources {
            heap,
            max_threads: max_threads.unwrap_or(MAX_THREADS) as u32,
            lowest_priority: lowest.filter(|_| valid).unwrap_or(*DEFAULT_PRIORITIES.start()) as u8,
            highest_priority: highest.filter(|_| valid).unwrap_or(*DEFAULT_PRIORITIES.end()) as u8,
        };
        (resources, valid)
    }

    /// The kernel the system asks for.
    fn kernel(&mut self, raw: Option<&RawKernel>) -> Kernel {
        use kaal_sel4::{Flavour, KernelVersion};
        let Some(raw) = raw else { return Kernel::default() };
        let mut kernel = Kernel::default();
        if let Some(version) = &raw.version {
            match KernelVersion::from_name(version.get_ref()) {
                Some(v) => kernel.choice.version = Some(v),
                None => {
                    let names = KernelVersion::ALL.map(KernelVersion::name);
                    let suggestion = did_you_mean(version.get_ref(), names.iter().copied());
                    self.report(
                        &version.span(),
                        "kernel.version",
                        format!("seL4 `{}` is not a kernel KaaL builds", version.get_ref()),
                        format!(
                            "{suggestion}write `version = \"5.0.0\"` (the default, fetched from crates.io) or \
                             `version = \"16.0.0\"` (the current release; give it a `source`)"
                        ),
                    );
                }
            }
        }
        if let Some(flavour) = &raw.flavour {
            match Flavour::from_name(flavour.get_ref()) {
                Some(f) => kernel.choice.flavour = Some(f),
                None => {
                    let names = Flavour::ALL.map(Flavour::name);
                    let suggestion = did_you_mean(flavour.get_ref(), names.iter().copied());
                    self.report(
                        &flavour.span(),
                        "kernel.flavour",
                        format!("kernel flavour `{}` does not exist", flavour.get_ref()),
                        format!(
                            "{suggestion}write `flavour = \"debug\"` (the kernel's debug syscalls and console; the \
                             default) or `flavour = \"release\"` (neither: what untrusted components should run on)"
                        ),
                    );
                }
            }
        }
        let is_16 = kernel.choice.version == Some(KernelVersion::V16_0_0);
        let version_known = raw.version.is_none() || kernel.choice.version.is_some();
        for (key, value, what) in [
            ("kernel.verified", &raw.verified, "the verified configuration (X64_verified)"),
            ("kernel.mcs", &raw.mcs, "the MCS kernel"),
        ] {
            let Some(value) = value else { continue };
            if *value.get_ref() && !is_16 && version_known {
                self.report(
                    &value.span(),
                    key,
                    format!("{what} is a configuration of seL4 16.0.0, and this system runs seL4 5.0.0"),
                    "add `version = \"16.0.0\"` (and a `source`), or remove the line",
                );
            }
        }
        kernel.choice.verified = raw.verified.as_ref().map(|v| *v.get_ref());
        kernel.choice.mcs = raw.mcs.as_ref().map(|v| *v.get_ref());
        if let (Some(verified), Some(mcs)) = (&raw.verified, &raw.mcs) {
            if *verified.get_ref() && *mcs.get_ref() {
                self.report(
                    &mcs.span(),
                    "kernel.mcs",
                    "the verified configuration, X64_verified, is not an MCS kernel",
                    "choose one: `verified = true` or `mcs = true`",
                );
            }
        }
        if let (Some(verified), Some(Flavour::Debug)) = (&raw.verified, kernel.choice.flavour) {
            if *verified.get_ref() {
                self.report(
                    &verified.span(),
                    "kernel.verified",
                    "the verified configuration, X64_verified, has no debug syscalls or console",
                    "remove `flavour = \"debug\"` (the verified configuration is a release kernel)",
                );
            }
        }
        if let Some(source) = &raw.source {
            kernel.source = match source.get_ref() {
                RawKernelSource::Path(path) if path.trim().is_empty() => {
                    self.report(
                        &source.span(),
                        "kernel.source",
                        "the kernel source path is empty",
                        "write the path of a seL4 source tree (the directory holding VERSION), e.g. \
                         `source = \"../seL4\"`",
                    );
                    None
                }
                RawKernelSource::Path(path) => Some(KernelSourceSpec::Path(PathBuf::from(path))),
                RawKernelSource::Git(git) => {
                    let url = git.git.get_ref().trim();
                    let tag = git.tag.get_ref().trim();
                    if url.is_empty() || url.starts_with('-') {
                        self.report(
                            &git.git.span(),
                            "kernel.source.git",
                            format!("`{url}` is not a git repository URL"),
                            "write e.g. `git = \"https://github.com/seL4/seL4.git\"`",
                        );
                    }
                    if tag.is_empty() || tag.starts_with('-') || tag.contains(char::is_whitespace) {
                        self.report(
                            &git.tag.span(),
                            "kernel.source.tag",
                            format!("`{tag}` is not a git tag"),
                            "write the release tag, e.g. `tag = \"16.0.0\"`",
                        );
                    }
                    Some(KernelSourceSpec::Git { url: url.to_string(), tag: tag.to_string() })
                }
            };
        }
        kernel
    }

    /// QEMU's settings, and its memory in bytes.
    fn qemu(&mut self, raw: Option<&RawQemu>) -> (Qemu, u64) {
        let memory = raw.and_then(|q| q.memory.as_ref());
        let bytes = self.size(memory, "qemu.memory", &QEMU_MEMORY);
        if let Some(memory) = memory.filter(|_| !bytes.is_multiple_of(MIB)) {
            self.report(
                &memory.span(),
                "qemu.memory",
                format!("QEMU memory of {} is not a whole number of MiB", show_size(bytes)),
                format!("QEMU takes memory in MiB; write `memory = \"{} MiB\"`", bytes.div_ceil(MIB)),
            );
        }
        let qemu = Qemu {
            memory_mib: u32::try_from(bytes / MIB).unwrap_or(u32::MAX),
            args: raw
                .and_then(|q| q.args.as_ref())
                .map(|a| a.iter().map(|s| s.get_ref().clone()).collect())
                .unwrap_or_default(),
        };
        (qemu, bytes)
    }

    /// Components built from one crate share its log level (defmt's levels are chosen
    /// when the crate is compiled, and it is compiled once).
    fn shared_log_levels(&mut self, raw: &Tables<RawComponent>, components: &[Component]) {
        for (i, a) in components.iter().enumerate() {
            for b in &components[i + 1..] {
                if a.path != b.path || a.log == b.log {
                    continue;
                }
                let Some((_, table)) = raw.iter().find(|(name, _)| name.get_ref() == &b.name) else { continue };
                let span = table.get_ref().log.as_ref().map_or(table.span(), Spanned::span);
                self.report(
                    &span,
                    format!("components.{}.log", key_part(&b.name)),
                    format!(
                        "components `{}` and `{}` are the same crate ({}), so they log at one level, but ask for \
                         `{}` and `{}`",
                        a.name,
                        b.name,
                        a.path.display(),
                        a.log,
                        b.log
                    ),
                    "give both the same `log` level (it is chosen when the crate is compiled)",
                );
            }
        }
    }

    /// Checks there are components, and no more (with the `services` the tool adds)
    /// than the root task has threads for.
    fn component_count(
        &mut self,
        raw: &Tables<RawComponent>,
        services: &Services,
        header: &Range<usize>,
        max_threads: u32,
        max_threads_key: Option<&Spanned<i64>>,
    ) {
        if raw.is_empty() {
            self.report(
                header,
                "components",
                "the system has no components",
                "add one, with its crate in a directory next to this file:\n[components.hello]\npath = \"hello\"",
            );
        }
        let count = raw.len() + services.filesystems + services.network;
        if count <= max_threads as usize {
            return;
        }
        let mut names: Vec<Range<usize>> = raw.keys().map(Spanned::span).collect();
        names.sort_by_key(|span| span.start);
        let first_over = names.get(max_threads as usize).cloned().unwrap_or_else(|| header.clone());
        let added = match (services.filesystems, services.network) {
            (0, 0) => String::new(),
            (n, 0) => format!(" (with the {n} the tool adds to serve its file systems)"),
            (0, n) => format!(" (with the {n} the tool adds to serve its network)"),
            (f, n) => format!(" (with the {} the tool adds to serve its file systems and network)", f + n),
        };
        self.report(
            &max_threads_key.map_or(first_over, Spanned::span),
            "resources.max-threads",
            format!("the system has {count} components{added} but [resources] max-threads is {max_threads}"),
            format!(
                "each component runs on its own thread; raise max-threads (at most {MAX_THREADS}) or merge components"
            ),
        );
    }

    fn components(
        &mut self,
        raw: &Tables<RawComponent>,
        resources: &Resources,
        priorities_valid: bool,
        realtime: Option<&Realtime>,
    ) -> Vec<Component> {
        let (low, high) = (i64::from(resources.lowest_priority), i64::from(resources.highest_priority));
        let allowed = if priorities_valid { low..=high } else { 0..=MAX_PRIORITY };
        let range_help = format!(
            "priorities run from {} to {} ([resources] priorities); pick one in that range",
            allowed.start(),
            allowed.end()
        );
        let mut components = Vec::new();
        for (name, table) in raw {
            let (component, key) = (table.get_ref(), format!("components.{}", key_part(name.get_ref())));
            self.name(name, &key, "component", NAME_LEN);
            self.component_path(&component.path, &key, name.get_ref());
            // A real-time component's own `priority` is refused where [realtime] is checked.
            let rt_priority = realtime.filter(|_| component.realtime.is_some()).map(|rt| i64::from(rt.priority));
            let priority = match &component.priority {
                _ if rt_priority.is_some() => rt_priority,
                Some(priority) => {
                    let key = format!("{key}.priority");
                    // Beside real-time components, 254 and 255 are the scheduler's and the
                    // time service's; where [resources] priorities reach 254, that is the
                    // mistake to explain, not the range.
                    let rt_ceiling = realtime.is_some() && allowed.contains(&realtime::SCHEDULER_PRIORITY);
                    if rt_ceiling && !self.below_rt_scheduler(name.get_ref(), priority, &key) {
                        None
                    } else {
                        self.in_range(priority, &key, allowed.clone(), priority_message, &range_help)
                    }
                }
                None if allowed.contains(&DEFAULT_PRIORITY) => Some(DEFAULT_PRIORITY),
                None => {
                    self.report(
                        &name.span(),
                        &key,
                        format!(
                            "component `{}` has the default priority {DEFAULT_PRIORITY}, outside [resources] \
                             priorities ({low} to {high})",
                            name.get_ref()
                        ),
                        format!("set `priority` for it, from {low} to {high}"),
                    );
                    None
                }
            };
            let heap = self.size(component.heap.as_ref(), &format!("{key}.heap"), &HEAP);
            let stack = self.size(component.stack.as_ref(), &format!("{key}.stack"), &STACK);
            // One untyped block, so a power of two (and at least a page).
            let dma = match self.size(component.dma.as_ref(), &format!("{key}.dma"), &DMA) {
                0 => 0,
                bytes => bytes.next_power_of_two().max(4 * KIB),
            };
            let log = match &component.log {
                Some(level) if LOG_LEVELS.contains(&level.get_ref().as_str()) => level.get_ref().clone(),
                Some(level) => {
                    let suggestion = did_you_mean(level.get_ref(), LOG_LEVELS.iter().copied());
                    self.report(
                        &level.span(),
                        format!("{key}.log"),
                        format!("log level `{}` does not exist", level.get_ref()),
                        format!("{suggestion}use one of {} (the default is info)", LOG_LEVELS.join(", ")),
                    );
                    DEFAULT_LOG.to_string()
                }
                None => DEFAULT_LOG.to_string(),
            };
            let budget = self.budget(component, &key);
            let devices = component.devices.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            let devices = devices.iter().filter_map(|device| self.device(device, &format!("{key}.devices"))).collect();
            components.push(Component {
                name: name.get_ref().clone(),
                path: PathBuf::from(component.path.get_ref()),
                priority: priority.unwrap_or(DEFAULT_PRIORITY).clamp(0, MAX_PRIORITY) as u8,
                heap,
                stack,
                devices,
                dma,
                daemon: component.daemon.unwrap_or(false),
                log,
                budget,
                time: component.time.as_ref().is_some_and(|t| *t.get_ref()),
                passive: self.passive(component, &key),
                mounts: Vec::new(),
                network: None,
                realtime: None,
                config: None,
                processes: 0,
                line: self.source.line(name.span().start),
            });
        }
        components
    }

    /// A component's `budget`, `period` and `overrun`: both times or neither, the
    /// budget within the period and above the kernel's minimum.
    fn budget(&mut self, component: &RawComponent, key: &str) -> Option<Budget> {
        let mut time = |raw: &Option<Spanned<String>>, field: &str| {
            let raw = raw.as_ref()?;
            match parse_duration_us(raw.get_ref()) {
                Ok(us) => Some((us, raw.span())),
                Err(e) => {
                    let message = format!("`{}` is not a duration: {e}", raw.get_ref());
                    self.report(&raw.span(), format!("{key}.{field}"), message, DURATION_FORMS);
                    None
                }
            }
        };
        let budget = time(&component.budget, "budget");
        let period = time(&component.period, "period");
        let overrun_fault = match &component.overrun {
            None => false,
            Some(o) if o.get_ref() == "fault" => true,
            Some(o) if o.get_ref() == "throttle" => false,
            Some(o) => {
                let suggestion = did_you_mean(o.get_ref(), ["fault", "throttle"]);
                self.report(
                    &o.span(),
                    format!("{key}.overrun"),
                    format!("overrun policy `{}` does not exist", o.get_ref()),
                    format!("{suggestion}use \"throttle\" (wait for the next period, the default) or \"fault\" (stop the component with a timeout fault)"),
                );
                false
            }
        };
        let ((budget_us, span), (period_us, _)) = match (budget, period) {
            (Some(b), Some(p)) => (b, p),
            (None, None) => {
                if let Some(o) = &component.overrun {
                    self.report(
                        &o.span(),
                        format!("{key}.overrun"),
                        "`overrun` applies to a budget, and this component has none".to_string(),
                        "give it `budget` and `period` too, or remove `overrun`",
                    );
                }
                return None;
            }
            (Some((_, span)), None) | (None, Some((_, span))) => {
                if component.budget.is_some() != component.period.is_some() {
                    self.report(
                        &span,
                        key,
                        "a budget needs both `budget` and `period`".to_string(),
                        "add the missing one, e.g. `budget = \"2 ms\"` and `period = \"10 ms\"` (2 ms of CPU in every 10 ms)",
                    );
                }
                return None;
            }
        };
        let problem = if budget_us < MIN_BUDGET_US {
            Some(format!(
                "a budget of {} is below the kernel's minimum of {} (twice its worst-case execution time)",
                show_duration(budget_us),
                show_duration(MIN_BUDGET_US)
            ))
        } else if period_us > MAX_PERIOD_US {
            Some(format!("a period of {} is longer than an hour", show_duration(period_us)))
        } else if budget_us > period_us {
            Some(format!(
                "the budget ({}) is longer than the period ({})",
                show_duration(budget_us),
                show_duration(period_us)
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            self.report(
                &span,
                format!("{key}.budget"),
                message,
                "a budget runs from 20 us up to its period, and a period up to 1 hour",
            );
            return None;
        }
        Some(Budget { budget_us, period_us, overrun_fault })
    }

    fn component_path(&mut self, path: &Spanned<String>, key: &str, name: &str) {
        let text = path.get_ref();
        let absolute = Path::new(text).is_absolute()
            || text.starts_with(['/', '\\'])
            || text.as_bytes().get(1) == Some(&b':') && text.as_bytes()[0].is_ascii_alphabetic();
        let message = if text.trim().is_empty() {
            format!("component `{name}` has an empty path")
        } else if absolute {
            format!("component path `{text}` is absolute")
        } else {
            return;
        };
        self.report(
            &path.span(),
            format!("{key}.path"),
            message,
            format!(
                "write the crate's directory relative to the directory of {}, e.g. `path = \"{name}\"`, so the \
                 system builds wherever it is checked out",
                self.source.file
            ),
        );
    }

    /// The canonical name of a device, if it is well formed and may be granted.
    fn device(&mut self, device: &Name, key: &str) -> Option<String> {
        let written = device.get_ref();
        let known: Vec<String> = grantable().map(String::from).chain(self.declared.iter().cloned()).collect();
        let (message, help) = match written.as_str() {
            name if grantable().any(|d| d == name) || self.declared.contains(name) => return Some(name.to_string()),
            "com1" => (
                "`com1` is reserved: COM1 is the seL4 kernel's serial console; use com2..com4".to_string(),
                "pick com2, com3 or com4".to_string(),
            ),
            name => match name.strip_prefix("pci:").map(pci_address) {
                Some(Ok(canonical)) => return Some(canonical),
                Some(Err(why)) => (format!("`{name}` is not a valid PCI address: {why}"), DEVICE_FORMS.to_string()),
                None => (
                    format!("`{name}` is not a device KaaL knows, and this system declares no device `{name}`"),
                    format!(
                        "{}{DEVICE_FORMS}\nto drive a fixed device KaaL does not ship, declare it with its \
                         ports and interrupt line, e.g.\n  [devices.{}]\n  ports = \"0x70-0x71\"\n  irq = 8\n(see \
                         docs/SYSTEM_TOML.md#devices-kaal-does-not-know)",
                        did_you_mean(name, known.iter().map(String::as_str)),
                        key_part(name),
                    ),
                ),
            },
        };
        self.report(&device.span(), key, message, help);
        None
    }

    /// Reports devices claimed twice, by two components or by one.
    fn devices(&mut self, raw: &Tables<RawComponent>) {
        let claims = device_claims(raw);
        let mut first: BTreeMap<String, (&str, usize)> = BTreeMap::new();
        for (component, device) in claims {
            let canonical = match device.get_ref().strip_prefix("pci:").map(pci_address) {
                Some(Ok(canonical)) => canonical,
                _ => device.get_ref().clone(),
            };
            let line = self.source.line(device.span().start);
            let key = format!("components.{}.devices", key_part(component));
            match first.get(&canonical) {
                None => {
                    first.insert(canonical, (component, line));
                }
                Some((owner, _)) if *owner == component => self.report(
                    &device.span(),
                    key,
                    format!("component `{component}` lists device `{canonical}` twice"),
                    "remove the second one",
                ),
                Some((owner, owner_line)) => self.report(
                    &device.span(),
                    key,
                    format!("device `{canonical}` is claimed by both `{owner}` (line {owner_line}) and `{component}`"),
                    "a device is driven by exactly one component: remove it from one of them, and let the other \
                     reach it through a channel to the driver",
                ),
            }
        }
    }

    /// `passive = true`: a passive server never runs on its own again, so it cannot exit;
    /// it must be a daemon.
    fn passive(&mut self, component: &RawComponent, key: &str) -> bool {
        let Some(passive) = component.passive.as_ref().filter(|p| *p.get_ref()) else { return false };
        if component.daemon != Some(true) {
            self.report(
                &passive.span(),
                format!("{key}.passive"),
                "a passive server must be a daemon: once it has answered its last caller it has no scheduling \
                 context to run on, not even to exit",
                "add `daemon = true`, or remove `passive`",
            );
        }
        true
    }

    /// `[time]`: which timer the time service drives.
    fn time(&mut self, raw: Option<&Spanned<RawTime>>) -> Option<TimeSource> {
        let raw = raw?;
        let Some(source) = &raw.get_ref().source else { return Some(TimeSource::Pit) };
        match source.get_ref().as_str() {
            "pit" => Some(TimeSource::Pit),
            "hpet" => Some(TimeSource::Hpet),
            other => {
                let suggestion = did_you_mean(other, ["pit", "hpet"]);
                self.report(
                    &source.span(),
                    "time.source",
                    format!("time source `{other}` does not exist"),
                    format!(
                        "{suggestion}use `source = \"pit\"` (the 8254 timer) or `source = \"hpet\"` (the HPET, \
                         which takes the PIT's interrupt line)"
                    ),
                );
                None
            }
        }
    }

    /// Components with `time = true` need a `[time]` section, and the timer it drives
    /// is the time service's alone.
    fn time_users(
        &mut self,
        raw: &Tables<RawComponent>,
        raw_time: Option<&Spanned<RawTime>>,
        time: Option<TimeSource>,
    ) {
        for (name, table) in raw {
            let component = table.get_ref();
            let key = format!("components.{}", key_part(name.get_ref()));
            if let Some(t) = component.time.as_ref().filter(|t| *t.get_ref()) {
                if raw_time.is_none() {
                    self.report(
                        &t.span(),
                        format!("{key}.time"),
                        format!("component `{}` asks for time, but the system has no time service", name.get_ref()),
                        "add a time service to system.toml:\n        [time]\n        source = \"pit\"",
                    );
                }
            }
            let (Some(source), Some(raw_time)) = (time, raw_time) else { continue };
            let devices = component.devices.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            for device in devices.iter().filter(|d| source.devices().contains(&d.get_ref().as_str())) {
                let line = self.source.line(raw_time.span().start);
                let why = if device.get_ref() == source.device() {
                    "drives the time service".to_string()
                } else {
                    source.shared_line("the time service")
                };
                self.report(
                    &device.span(),
                    format!("{key}.devices"),
                    format!("device `{}` {why} ([time] at line {line})", device.get_ref()),
                    "remove it from the component's devices and use `time = true` for sleeps and timeouts, or \
                     remove [time] to drive the timer yourself",
                );
            }
        }
    }

    /// The PIT and the HPET share one interrupt line (the HPET's timer 0 replaces the
    /// PIT's in legacy replacement mode, the one routing every HPET has), so the broker
    /// hands out at most one of them.
    fn timer_line(&mut self, raw: &Tables<RawComponent>) {
        let mut claims = device_claims(raw);
        claims.retain(|(_, device)| matches!(device.get_ref().as_str(), "pit" | "hpet"));
        let Some((first_owner, first)) = claims.first().copied() else { return };
        for (component, device) in claims.iter().skip(1) {
            if device.get_ref() == first.get_ref() {
                continue; // the same device twice: `devices` reports that
            }
            let line = self.source.line(first.span().start);
            self.report(
                &device.span(),
                format!("components.{}.devices", key_part(component)),
                format!(
                    "`{}` and `{}` (component `{first_owner}`, line {line}) share one interrupt line: the HPET's \
                     timer 0 replaces the PIT's",
                    device.get_ref(),
                    first.get_ref()
                ),
                "give one component the PIT or the HPET, not both",
            );
        }
    }

    fn grants(&mut self, raw: &Tables<RawComponent>, grants: &BTreeMap<String, Grants>) {
        for (name, table) in raw {
            let Some(grant) = grants.get(name.get_ref()) else { continue };
            let name_text = name.get_ref();
            let split = "split its work across two components, or merge connections (one channel can carry \
                         several kinds of request)";
            if grant.capabilities() > MAX_CAPS {
                self.report(
                    &table.span(),
                    format!("components.{}", key_part(name_text)),
                    format!(
                        "component `{name_text}` is granted {} capabilities, but a component can hold at most \
                         {MAX_CAPS}",
                        grant.capabilities()
                    ),
                    format!("it has {}\n{split}", grant.describe()),
                );
            }
            let dma = table.get_ref().dma.is_some() as usize;
            if grant.mapped_regions() + dma > MAX_REGIONS {
                self.report(
                    &table.span(),
                    format!("components.{}", key_part(name_text)),
                    format!(
                        "component `{name_text}` is granted {} shared memory regions, but a component can map at \
                         most {MAX_REGIONS}",
                        grant.mapped_regions() + dma
                    ),
                    format!(
                        "it has {} ring ends, {} shared regions{} (1 region each)\n{split}",
                        grant.ring_ends,
                        grant.regions,
                        if dma > 0 { " and DMA memory" } else { "" }
                    ),
                );
            }
        }
    }

    fn memory_budget(
        &mut self,
        span: &Range<usize>,
        resources: &Resources,
        qemu_memory: u64,
        components: &[Component],
        rings: &[Ring],
        regions: &[Region],
    ) {
        let mut uses = vec![("the root task's heap ([resources] heap)".to_string(), resources.heap)];
        for c in components {
            uses.push((format!("component `{}`'s heap", c.name), c.heap));
            uses.push((format!("component `{}`'s stack", c.name), c.stack));
            uses.push((format!("component `{}`'s DMA memory", c.name), c.dma));
            uses.push((format!("component `{}`'s processes' memory", c.name), c.processes));
        }
        uses.extend(rings.iter().map(|r| (format!("ring `{}`", r.name), r.bytes())));
        uses.extend(regions.iter().map(|r| (format!("shared region `{}`", r.name), r.size)));
        let overhead = COMPONENT_OVERHEAD * components.len() as u64;
        let needed = uses.iter().fold(overhead, |sum, (_, bytes)| sum.saturating_add(*bytes));
        let budget = qemu_memory.saturating_sub(KERNEL_RESERVE);
        if needed <= budget {
            return;
        }
        let Some((largest, largest_bytes)) = uses.iter().max_by_key(|(_, bytes)| *bytes) else { return };
        let raise = needed.saturating_add(KERNEL_RESERVE).div_ceil(MIB);
        let raise = if raise.checked_mul(MIB).is_some_and(|bytes| bytes <= QEMU_MEMORY.max) {
            format!(", or raise [qemu] memory to at least \"{raise} MiB\"")
        } else {
            String::new()
        };
        self.report(
            span,
            "qemu.memory",
            format!(
                "the system needs {} of memory, but [qemu] memory of {} leaves {} after the {} reserved for the \
                 kernel and boot image",
                show_approx(needed),
                show_size(qemu_memory),
                show_approx(budget),
                show_size(KERNEL_RESERVE)
            ),
            format!(
                "the largest use is {largest} at {}: lower it{raise}\n(the total is the root task's heap, each \
                 component's heap and stack plus {} overhead, and every ring and shared region)",
                show_size(*largest_bytes),
                show_size(COMPONENT_OVERHEAD)
            ),
        );
    }
}

/// Checks the connections and tallies what they grant each component.
struct Links<'c, 'a> {
    check: &'c mut Checker<'a>,
    known: &'c BTreeSet<&'c str>,
    grants: &'c mut BTreeMap<String, Grants>,
    /// Connection names so far, for names used by two kinds: (kind, line).
    seen: BTreeMap<String, (&'static str, usize)>,
}

/// The messages for the "many" end of a one-to-many connection.
struct ManyEnds {
    empty: String,
    empty_help: String,
    both: String,
    both_help: String,
    role: String,
    grant: fn(&mut Grants),
}

impl Links<'_, '_> {
    /// Checks a connection's name; returns its dotted key.
    fn connection(&mut self, name: &Name, kind: &str, noun: &'static str) -> String {
        let key = format!("connections.{kind}.{}", key_part(name.get_ref()));
        self.check.name(name, &key, noun, CONNECTION_NAME_LEN);
        let line = self.check.source.line(name.span().start);
        match self.seen.get(name.get_ref()) {
            Some((other, other_line)) => self.check.report(
                &name.span(),
                &key,
                format!("the name `{}` is used by both a {other} (line {other_line}) and a {noun}", name.get_ref()),
                "connection names must be unique across all kinds, since capability names are made from them; \
                 rename one",
            ),
            None => {
                self.seen.insert(name.get_ref().clone(), (noun, line));
            }
        }
        key
    }

    /// Checks that `component` names a component, and grants it something via `grant`.
    fn member(&mut self, component: &Name, key: &str, what: &str, grant: fn(&mut Grants)) {
        let name = component.get_ref();
        if self.known.contains(name.as_str()) {
            grant(self.grants.entry(name.clone()).or_default());
            return;
        }
        let list = self.known.iter().copied().collect::<Vec<_>>().join(", ");
        let help = match closest(name, self.known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?\nthe components are: {list}"),
            None if list.is_empty() => "define it: [components.<name>] with `path = \"...\"`".to_string(),
            None => format!("the components are: {list}"),
        };
        self.check.report(&component.span(), key, format!("`{name}` ({what}) is not a component"), help);
    }

    /// Checks a list of components: each known, none twice. Returns the names.
    fn members(&mut self, list: &[Name], key: &str, what: &str, grant: fn(&mut Grants)) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut names = Vec::new();
        for member in list {
            if !seen.insert(member.get_ref().as_str()) {
                self.check.report(
                    &member.span(),
                    key,
                    format!("`{}` is listed twice as {what}", member.get_ref()),
                    "remove the second one",
                );
                continue;
            }
            self.member(member, key, what, grant);
            names.push(member.get_ref().clone());
        }
        names
    }

    /// Reports an empty list (or a missing one, at the connection's name).
    fn require(&mut self, list: Option<&Names>, name: &Name, key: &str, message: String, help: String) -> bool {
        if list.is_some_and(|l| !l.get_ref().is_empty()) {
            return true;
        }
        let span = list.map_or(name.span(), Spanned::span);
        self.check.report(&span, key, message, help);
        false
    }

    /// The "many" end of a one-to-many connection (a channel's clients, a notification's
    /// signallers): it must not be empty, must not name the "one" end, and must name
    /// components, each once.
    fn many_ends(&mut self, list: Option<&Names>, name: &Name, key: &str, one: &str, texts: ManyEnds) -> Vec<String> {
        if !self.require(list, name, key, texts.empty, texts.empty_help) {
            return Vec::new();
        }
        let list = list.map(|l| l.get_ref().as_slice()).unwrap_or_default();
        for member in list.iter().filter(|m| m.get_ref() == one) {
            self.check.report(&member.span(), key, texts.both.clone(), texts.both_help.clone());
        }
        let others: Vec<Name> = list.iter().filter(|m| m.get_ref() != one).cloned().collect();
        self.members(&others, key, &texts.role, texts.grant)
    }

    fn channels(&mut self, raw: Tables<RawChannel>) -> Vec<Channel> {
        let mut channels = Vec::new();
        for (name, table) in raw {
            let key = self.connection(&name, "channels", "channel");
            let channel = table.into_inner();
            let server = channel.server.get_ref();
            let label = format!("channel `{}`", name.get_ref());
            self.member(&channel.server, &format!("{key}.server"), &format!("the server of {label}"), |g| {
                g.channel_ends += 1;
            });
            let texts = ManyEnds {
                empty: format!("{label} has no clients"),
                empty_help: format!(
                    "list the components that call `{server}`: `clients = [\"...\"]`, or remove the channel if \
                     nothing uses it"
                ),
                both: format!("component `{server}` is both the server and a client of {label}"),
                both_help: format!("a component cannot call itself over a channel; remove `{server}` from `clients`"),
                role: format!("a client of {label}"),
                grant: |g| g.channel_ends += 1,
            };
            let clients = self.many_ends(channel.clients.as_ref(), &name, &format!("{key}.clients"), server, texts);
            channels.push(Channel { name: name.into_inner(), server: channel.server.into_inner(), clients });
        }
        channels
    }

    fn notifications(&mut self, raw: Tables<RawNotification>) -> Vec<NotificationLink> {
        let mut notifications = Vec::new();
        for (name, table) in raw {
            let key = self.connection(&name, "notifications", "notification");
            let link = table.into_inner();
            let waiter = link.wait.get_ref();
            let label = format!("notification `{}`", name.get_ref());
            self.member(&link.wait, &format!("{key}.wait"), &format!("the waiter of {label}"), |g| {
                g.notification_ends += 1;
            });
            let texts = ManyEnds {
                empty: format!("{label} has no signallers"),
                empty_help: format!(
                    "list the components that wake `{waiter}`: `signal = [\"...\"]`, or remove the notification if \
                     nothing uses it"
                ),
                both: format!("component `{waiter}` both waits on and signals {label}"),
                both_help: format!("a notification links different components; remove `{waiter}` from `signal`"),
                role: format!("a signaller of {label}"),
                grant: |g| g.notification_ends += 1,
            };
            let signal = self.many_ends(link.signal.as_ref(), &name, &format!("{key}.signal"), waiter, texts);
            notifications.push(NotificationLink { name: name.into_inner(), signal, wait: link.wait.into_inner() });
        }
        notifications
    }

    fn rings(&mut self, raw: Tables<RawRing>) -> Vec<Ring> {
        let mut rings = Vec::new();
        for (name, table) in raw {
            let key = self.connection(&name, "rings", "ring");
            let ring = table.into_inner();
            let label = format!("ring `{}`", name.get_ref());
            self.member(&ring.producer, &format!("{key}.producer"), &format!("the producer of {label}"), |g| {
                g.ring_ends += 1;
            });
            if ring.consumer.get_ref() == ring.producer.get_ref() {
                self.check.report(
                    &ring.consumer.span(),
                    format!("{key}.consumer"),
                    format!("{label} has `{}` as both producer and consumer", ring.consumer.get_ref()),
                    "a ring connects two different components; within one component use an ordinary queue \
                     (e.g. `VecDeque`)",
                );
            } else {
                self.member(&ring.consumer, &format!("{key}.consumer"), &format!("the consumer of {label}"), |g| {
                    g.ring_ends += 1;
                });
            }
            let (slots, slots_span) = (*ring.slots.get_ref(), ring.slots.span());
            let slots_ok = RING_SLOTS.contains(&slots) && slots.count_ones() == 1;
            if !slots_ok {
                let nearest = slots.clamp(*RING_SLOTS.start(), *RING_SLOTS.end()).unsigned_abs().next_power_of_two();
                let nearest = nearest.min(RING_SLOTS.end().unsigned_abs());
                self.check.report(
                    &slots_span,
                    format!("{key}.slots"),
                    format!(
                        "{label} has {slots} slots, but slots must be a power of two from {} to {}",
                        RING_SLOTS.start(),
                        RING_SLOTS.end()
                    ),
                    format!("use a power of two, e.g. `slots = {nearest}` (the ring's indices wrap with a mask)"),
                );
            }
            let item_size = *ring.item_size.get_ref();
            let item_ok = self
                .check
                .in_range(
                    &ring.item_size,
                    &format!("{key}.item-size"),
                    RING_ITEM_SIZE,
                    |n| format!("item-size {n} is out of range"),
                    &format!(
                        "an item is {} to {} bytes; for bigger items, share a [connections.memory] region and pass \
                         offsets through the ring",
                        RING_ITEM_SIZE.start(),
                        RING_ITEM_SIZE.end()
                    ),
                )
                .is_some();
            let ring = Ring {
                name: name.into_inner(),
                producer: ring.producer.into_inner(),
                consumer: ring.consumer.into_inner(),
                slots: if slots_ok { slots as u32 } else { 2 },
                item_size: if item_ok { item_size as u32 } else { 1 },
            };
            if slots_ok && item_ok && ring.bytes() > MAX_SHARED {
                self.check.report(
                    &slots_span,
                    format!("{key}.slots"),
                    format!(
                        "{label} needs {} ({slots} slots of {item_size} bytes plus a {}-byte header)",
                        show_size(ring.bytes()),
                        Ring::HEADER_BYTES
                    ),
                    format!(
                        "a shared region holds at most {}; use fewer slots or smaller items",
                        show_size(MAX_SHARED)
                    ),
                );
            }
            rings.push(ring);
        }
        rings
    }

    fn regions(&mut self, raw: Tables<RawRegion>) -> Vec<Region> {
        let mut regions = Vec::new();
        for (name, table) in raw {
            let key = self.connection(&name, "memory", "shared region");
            let region = table.into_inner();
            let label = format!("shared region `{}`", name.get_ref());
            let size = self.check.size(Some(&region.size), &format!("{key}.size"), &REGION_SIZE);
            let listed = |list: &Option<Names>| list.as_ref().map(|l| l.get_ref().clone()).unwrap_or_default();
            let (writers, readers) = (listed(&region.writers), listed(&region.readers));
            let writers = self.members(&writers, &format!("{key}.writers"), &format!("a writer of {label}"), |g| {
                g.regions += 1;
            });
            let readers: Vec<Name> = readers
                .into_iter()
                .filter(|reader| {
                    let both = writers.contains(reader.get_ref());
                    if both {
                        self.check.report(
                            &reader.span(),
                            format!("{key}.readers"),
                            format!("component `{}` is both a writer and a reader of {label}", reader.get_ref()),
                            "writers can read too; list it in `writers` only",
                        );
                    }
                    !both
                })
                .collect();
            let readers = self.members(&readers, &format!("{key}.readers"), &format!("a reader of {label}"), |g| {
                g.regions += 1;
            });
            if region.writers.as_ref().is_none_or(|w| w.get_ref().is_empty())
                && region.readers.as_ref().is_none_or(|r| r.get_ref().is_empty())
            {
                self.check.report(
                    &name.span(),
                    &key,
                    format!("{label} is used by no component"),
                    "give it `writers = [\"...\"]` and/or `readers = [\"...\"]`, or remove it",
                );
            }
            regions.push(Region {
                name: name.into_inner(),
                size: size.next_multiple_of(PAGE),
                writers,
                readers,
                dma: false,
            });
        }
        regions
    }
}

/// Whether `name` matches `[a-z][a-z0-9_-]*`.
/// Every entry of every component's `devices`, with the component's name, in file order.
fn device_claims(raw: &Tables<RawComponent>) -> Vec<(&str, &Name)> {
    let mut claims: Vec<(&str, &Name)> = raw
        .iter()
        .flat_map(|(name, table)| {
            let devices = table.get_ref().devices.as_ref().map(|d| d.get_ref().as_slice()).unwrap_or_default();
            devices.iter().map(move |device| (name.get_ref().as_str(), device))
        })
        .collect();
    claims.sort_by_key(|(_, device)| device.span().start);
    claims
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The nearest valid name to `name` ("My Server" -> "my-server"); empty if none.
fn suggest_name(name: &str, max: usize) -> String {
    let mapped: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '-' })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    trimmed[..trimmed.len().min(max)].to_string()
}

/// The canonical form of the PCI address after `pci:`, or why it is not one.
fn pci_address(address: &str) -> Result<String, String> {
    let hex = |digits: &str, width: usize| {
        (digits.len() == width && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(digits, 16).ok())
            .flatten()
    };
    let Some((bus, rest)) = address.split_once(':') else {
        return Err("it must look like pci:BB:DD.F".to_string());
    };
    let Some((device, function)) = rest.split_once('.') else {
        return Err("it must look like pci:BB:DD.F".to_string());
    };
    let bus = hex(bus, 2).ok_or_else(|| format!("the bus `{bus}` is not two hex digits"))?;
    let device = match hex(device, 2) {
        Some(device) if device <= 0x1f => device,
        _ => return Err(format!("the device `{device}` is not two hex digits from 00 to 1f")),
    };
    let function = match hex(function, 1) {
        Some(function) if function <= 7 => function,
        _ => return Err(format!("the function `{function}` is not a digit from 0 to 7")),
    };
    Ok(format!("pci:{bus:02x}:{device:02x}.{function:x}"))
}

fn priority_message(priority: i64) -> String {
    if priority == MAX_PRIORITY + 1 {
        "priority 255 is reserved for the root task".to_string()
    } else {
        format!("priority {priority} is out of range")
    }
}
