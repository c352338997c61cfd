//! The boot plan: what `kaal build` makes of a `system.toml`, for KaaL's generic root
//! task (`kaal-root`) to carry out.
//!
//! The tool validates the system description on the host and decides everything that
//! can be decided there: which objects exist, which component gets which capability
//! under which name, and in which slot of its CNode. The plan is generated as Rust
//! source (`static PLAN: BootPlan = ...`) and compiled into the root task, which creates
//! the objects, places the capabilities exactly where the plan says (and checks that it
//! did), and starts the components in the plan's order.
//!
//! Naming of composite grants, shared by the tool and the component-side helpers:
//! * a ring `R` is a region `R` (with its geometry) plus notifications `R:data` (the
//!   consumer waits, the producer signals) and `R:space` (the other way round);
//! * a device `D` is `D:ports` (I/O ports), `D:irq` (the IRQ handler), `D:events` (the
//!   notification the interrupt arrives on, badge 1) and regions `D:mmio<N>` for its MMIO
//!   windows (PCI BAR `N`), each only if the device has it. Which windows a PCI device
//!   has is only known at boot, so the plan names them all with one grant; a PCI
//!   device also has region `D:config`, a read-only copy of its configuration space
//!   ([`pci_config`]), for drivers that read their capabilities from it (virtio);
//! * a component's DMA memory is region `dma`, with its physical address; a shared
//!   region may be DMA memory too ([`RegionPlan::dma`]), with its physical address for
//!   each holder;
//! * a built-in service's configuration, text the tool wrote, is the read-only region
//!   `config` ([`parts::CONFIG`]).

/// The suffixes that name a composite grant's parts (see the module docs), shared by
/// the tool that plans them and the component-side helpers that look them up.
pub mod parts {
    /// A ring's "items were pushed" notification.
    pub const RING_DATA: &str = ":data";
    /// A ring's "slots were freed" notification.
    pub const RING_SPACE: &str = ":space";
    /// A device's I/O ports.
    pub const DEVICE_PORTS: &str = ":ports";
    /// A device's IRQ handler.
    pub const DEVICE_IRQ: &str = ":irq";
    /// The notification a device's interrupt arrives on.
    pub const DEVICE_EVENTS: &str = ":events";
    /// A device's MMIO windows, followed by the BAR number.
    pub const DEVICE_MMIO: &str = ":mmio";
    /// A PCI device's configuration space, read-only ([`super::pci_config`]).
    pub const DEVICE_CONFIG: &str = ":config";
    /// A component's DMA memory (a whole name, not a suffix).
    pub const DMA: &str = "dma";
    /// A built-in service's configuration text, read-only (a whole name).
    pub const CONFIG: &str = "config";
    /// A process manager's RAM (`Source::Memory`).
    pub const MEMORY: &str = "memory";
    /// A real-time component's release notification: it waits here for each job (a
    /// whole name; see [`super::RealtimePlan`]).
    pub const RT_RELEASE: &str = "rt:release";
    /// The right to signal the real-time scheduler that a job is done (a whole name).
    pub const RT_DONE: &str = "rt:done";
}

/// Where a granted capability or region comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The receiving side of channel `n`.
    ChannelServer(usize),
    /// A calling side of channel `channel`, badged.
    ChannelClient { channel: usize, badge: u64 },
    /// The right to wait on notification `n`.
    NotificationWait(usize),
    /// The right to signal notification `notification`, badged.
    NotificationSignal { notification: usize, badge: u64 },
    /// Ring `n`'s memory.
    RingRegion(usize),
    /// One of ring `ring`'s two notifications: `data` (else `space`), to wait on or
    /// to signal.
    RingNotification { ring: usize, data: bool, wait: bool },
    /// Shared region `region`.
    Region { region: usize, writable: bool },
    /// Device `device`'s I/O ports.
    DevicePorts(usize),
    /// Device `device`'s IRQ handler.
    DeviceIrq(usize),
    /// The notification device `device`'s interrupt arrives on.
    DeviceEvents(usize),
    /// The right to signal the notification device `device`'s interrupt arrives on,
    /// badged (never bit 1, the interrupt's): so that its driver, waiting there, also
    /// wakes for another component.
    DeviceEventsSignal { device: usize, badge: u64 },
    /// Every MMIO window of device `n`, each a region `D:mmio<N>`.
    DeviceMmio(usize),
    /// A read-only copy of PCI device `n`'s configuration space (one page).
    DeviceConfig(usize),
    /// The component's own DMA memory ([`ComponentPlan::dma`] bytes, physically
    /// contiguous, its physical address recorded in the start-up block).
    Dma,
    /// A calling side of the time service's endpoint (see [`crate::time`]), badged.
    TimeService { badge: u64 },
    /// The component's own wake notification from the time service, to wait on.
    TimeWake,
    /// A read-only page (or pages) holding this text, NUL-padded: configuration the
    /// tool wrote for a built-in service.
    Text(&'static str),
    /// `2^bits` bytes of RAM as one untyped block, for a component that builds
    /// processes ([`ComponentPlan::manager`]).
    Memory { bits: u8 },
}

impl Source {
    /// Whether this grant is a capability in a CNode slot (else a mapped region).
    pub const fn is_capability(&self) -> bool {
        !matches!(
            self,
            Source::RingRegion(_)
                | Source::Region { .. }
                | Source::DeviceMmio(_)
                | Source::DeviceConfig(_)
                | Source::Dma
                | Source::Text(_)
        )
    }
}

/// The page of region `D:config`: what the root task read from a PCI function's
/// configuration space when it claimed it, for a driver in a component, which has no
/// access to configuration space (the broker alone drives ports 0xcf8-0xcff).
pub mod pci_config {
    /// The configuration header and capability list: the first 256 bytes, as 64
    /// little-endian words, read after the broker enabled the function.
    pub const HEADER_BYTES: usize = 256;
    /// Then each BAR's size in bytes (0: none), six little-endian `u64`s, so that a
    /// driver can size BARs without writing to them.
    pub const BAR_SIZES: usize = HEADER_BYTES;
    /// The region's size.
    pub const BYTES: u64 = 4096;
}

/// One thing a component is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantPlan {
    /// The name the component asks for.
    pub name: &'static str,
    pub source: Source,
    /// The CNode slot for a capability (0 for a region); a device grant's slot stays
    /// empty if the device lacks that resource.
    pub slot: u64,
}

/// One component.
#[derive(Debug, Clone, Copy)]
pub struct ComponentPlan {
    pub name: &'static str,
    /// Its ELF image.
    pub image: &'static [u8],
    pub priority: u8,
    pub heap: u64,
    pub stack: u64,
    /// log2 of its CNode's slots.
    pub cnode_bits: u8,
    /// It serves for as long as the system runs: the system does not wait for it.
    pub daemon: bool,
    /// Bytes of DMA memory for its drivers (a power of two; 0 for none), granted as
    /// region `dma`.
    pub dma: u64,
    /// seL4 MCS: its CPU budget and period, microseconds (0 and 0: the kernel's time
    /// slice), and whether overrunning the budget is a timeout fault.
    pub budget_us: u64,
    pub period_us: u64,
    pub overrun_fault: bool,
    /// seL4 MCS: a passive server (runs on its callers' scheduling contexts).
    pub passive: bool,
    /// It builds processes (the Linux personality): it is also given its own address
    /// space and the ASID pool (`kaal_core::supervisor::ComponentConfig::manager`).
    pub manager: bool,
    pub grants: &'static [GrantPlan],
}

/// An endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelPlan {
    pub name: &'static str,
}

/// A notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPlan {
    pub name: &'static str,
}

/// A ring: a shared region plus two notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingPlan {
    pub name: &'static str,
    pub slots: u32,
    pub item_size: u32,
    /// Bytes of shared memory (header and slots, rounded up to pages).
    pub bytes: u64,
}

/// A shared memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionPlan {
    pub name: &'static str,
    pub bytes: u64,
    /// Physically contiguous RAM (`bytes` a power of two), its physical address given
    /// to every holder: buffers a device reaches by DMA.
    pub dma: bool,
}

/// A device, claimed from the broker for one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePlan {
    /// The broker's name for it (`com2`, `pci:00:03.0`).
    pub name: &'static str,
    /// Index of the component that holds it.
    pub holder: usize,
    /// Only the device's first so many I/O ports are claimed (its drivers'
    /// `#[ports(count = N)]`); 0: all of them.
    pub port_count: u16,
}

/// A whole system.
#[derive(Debug, Clone, Copy)]
pub struct BootPlan {
    pub system: &'static str,
    /// Bytes of heap for the root task.
    pub root_heap: u64,
    /// Components, in the order they start (highest priority first).
    pub components: &'static [ComponentPlan],
    pub channels: &'static [ChannelPlan],
    pub notifications: &'static [NotificationPlan],
    pub rings: &'static [RingPlan],
    pub regions: &'static [RegionPlan],
    pub devices: &'static [DevicePlan],
    /// The fixed devices the system declares (`[devices.NAME]`), beside the built-in ones.
    pub fixed_devices: &'static [crate::devices::FixedDevice<'static>],
    /// The time service, if the system has one.
    pub time: Option<TimePlan>,
    /// The real-time scheduler, if a component is a real-time task.
    pub realtime: Option<RealtimePlan>,
    /// The component whose exit status is the system's when it fails and nothing else
    /// did (the Linux personality's: init's exit status).
    pub exit_status_of: Option<&'static str>,
}

/// The real-time scheduler (kaal-sched), run by the root task over components.
///
/// Task `i` (in [`RealtimePlan::tasks`] order) is a component granted
/// [`parts::RT_RELEASE`] (the right to wait on its release notification) and
/// [`parts::RT_DONE`] (the right to signal notification [`RealtimePlan::events`] with
/// badge `1 << i`). The root task's scheduler thread waits on `events` for completions
/// and for its timer, and stops and continues the task components by their TCBs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimePlan {
    /// `edf`, `rate-monotonic` or `deadline-monotonic`.
    pub policy: &'static str,
    /// The timer the scheduler claims from the broker (`hpet` or `pit`); `None`: the
    /// system has a time service, which the scheduler then sets its deadlines through.
    pub timer: Option<&'static str>,
    /// The seL4 priority of every task component (below the scheduler's thread, 254).
    pub priority: u8,
    /// The notification (index into [`BootPlan::notifications`]) the scheduler waits on.
    pub events: usize,
    pub tasks: &'static [RtTaskPlan],
}

/// One real-time component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtTaskPlan {
    /// Index into [`BootPlan::components`].
    pub component: usize,
    /// Its release notification (index into [`BootPlan::notifications`]).
    pub release: usize,
    pub period_ns: u64,
    /// Relative deadline.
    pub deadline_ns: u64,
    /// The budget the scheduler enforces per job.
    pub wcet_ns: u64,
    /// The first release, after the scheduler starts.
    pub offset_ns: u64,
    /// 0 (low) or 1 (high): less critical work is shed first under overload.
    pub criticality: u8,
}

/// The time service: which timer it drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePlan {
    /// The broker's name for the timer (`pit`).
    pub device: &'static str,
}

impl BootPlan {
    /// A plan with no components: what a root task gets when it was built without a
    /// `system.toml` (e.g. by a plain `cargo build` of the workspace).
    pub const EMPTY: BootPlan = BootPlan {
        system: "",
        root_heap: 0,
        components: &[],
        channels: &[],
        notifications: &[],
        rings: &[],
        regions: &[],
        devices: &[],
        fixed_devices: &[],
        time: None,
        realtime: None,
        exit_status_of: None,
    };
}
