//! KaaL's generic root task: boots the system a `system.toml` describes.
//!
//! `kaal build` validates the system description on the host and turns it into a boot
//! plan (`kaal_abi::plan`): every object to create, every component with its image, and
//! every capability each component gets, by name and CNode slot. This program carries
//! the plan out, in order:
//!
//! 1. create the channels (endpoints), notifications, rings and shared regions;
//! 2. claim each listed device from the capability broker for its component;
//! 3. build and start the components, highest priority first, each with exactly the
//!    grants the plan lists (checking that every capability landed in its planned slot);
//! 4. supervise: report every exit and fault by component name, and end the system when
//!    every component that is not a daemon has finished. A fault stops only the
//!    faulting component.
//!
//! Nothing here is specific to one system; a system is its system.toml and its
//! component crates.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use kaal_abi::plan::{pci_config, BootPlan, ComponentPlan, Source};
use kaal_alloc::{HeapConfig, UntypedAllocator};
use kaal_core::ipc::{self, Client, Server};
use kaal_core::shared::SharedRegion;
use kaal_core::supervisor::{ComponentConfig, ComponentState, Grant, Supervisor};
use kaal_core::vspace::CacheAttr;
use kaal_core::{println, Badge, ExitStatus, Notification, RootTask};
use kaal_dev::broker::IrqDelivery;
use kaal_dev::time_service::TimeService;
use kaal_dev::{Broker, BrokerError, DeviceClaim, DeviceId};

mod realtime;

include!(concat!(env!("OUT_DIR"), "/boot_plan.rs"));

kaal_core::root_task!(main);
kaal_alloc::global_heap!(HEAP);

/// Where the root task maps rings and shared regions (to zero their headers and keep
/// them alive); one region after another.
const SHARED_BASE: u64 = 0x0000_5000_0000_0000;
/// Where the time service's thread has its stack.
const TIME_REGION: (u64, u64) = (0x0000_5e00_0000_0000, 1 << 20);

/// Why the system could not be booted.
enum BootError {
    /// Built without a system.toml.
    NoPlan,
    Kernel(kaal_core::Error),
    /// A component could not be built or started.
    Spawn {
        component: &'static str,
        error: kaal_core::Error,
    },
    Device {
        component: &'static str,
        device: &'static str,
        error: alloc::boxed::Box<BrokerError>,
    },
    Time(kaal_dev::time_service::TimeServiceError),
    /// The real-time scheduler (`[realtime]`) could not start.
    Realtime(realtime::RealtimeError),
    BadDeviceName {
        device: &'static str,
    },
    /// The plan grants a configuration page for a device that is not on PCI.
    NotPci {
        component: &'static str,
        device: &'static str,
    },
    NoTimeService {
        component: &'static str,
    },
    SlotMismatch {
        component: &'static str,
        grant: &'static str,
        planned: u64,
        got: Option<u64>,
    },
    /// A shared region of DMA memory could not be made (no contiguous RAM that large).
    DmaRegion {
        region: &'static str,
        error: kaal_core::Error,
    },
    /// The plan lets a component wake a device's driver, but the device has no
    /// interrupt to share the notification of.
    NoInterrupt {
        component: &'static str,
        device: &'static str,
    },
}

impl From<kaal_core::Error> for BootError {
    fn from(e: kaal_core::Error) -> Self {
        BootError::Kernel(e)
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::NoPlan => write!(
                f,
                "this root task was built without a system.toml, so it has nothing to boot\n  help: build it with \
                 `cargo kaal build <directory with system.toml>` (or `cargo kaal run ...`)"
            ),
            BootError::Kernel(e) => write!(f, "{e}"),
            BootError::Time(e) => write!(f, "{e}"),
            BootError::Realtime(e) => write!(f, "{e}"),
            BootError::Device { component, device, error } => {
                write!(f, "cannot give device {device} to component {component}: {error}")
            }
            BootError::Spawn { component, error } => write!(
                f,
                "cannot start component {component}: {error}\n  help: if memory ran out, lower the component's heap \
                 or stack in system.toml, or raise [qemu] memory"
            ),
            BootError::NotPci { component, device } => write!(
                f,
                "the boot plan gives component {component} the configuration space of device {device}, which is not \
                 a PCI function\n  help: rebuild with `cargo kaal build` so the tool and the root task come from one \
                 KaaL checkout"
            ),
            BootError::BadDeviceName { device } => write!(
                f,
                "the boot plan names device {device:?}, which this root task cannot parse\n  help: rebuild with \
                 `cargo kaal build` so the tool and the root task come from one KaaL checkout"
            ),
            BootError::NoTimeService { component } => write!(
                f,
                "component {component} is planned to get the time service, but the plan has none\n  help: rebuild \
                 with `cargo kaal build` so the tool and the root task come from one KaaL checkout"
            ),
            BootError::SlotMismatch { component, grant, planned, got } => write!(
                f,
                "component {component}'s grant {grant:?} was planned for slot {planned} but landed in {got:?}; the \
                 boot plan and kaal-core disagree\n  help: rebuild with `cargo kaal build` so both come from one \
                 KaaL checkout"
            ),
            BootError::DmaRegion { region, error } => write!(
                f,
                "cannot make shared region {region}, DMA memory that must be physically contiguous: {error}\n  help: \
                 raise [qemu] memory in system.toml (contiguous RAM runs out before RAM does)"
            ),
            BootError::NoInterrupt { component, device } => write!(
                f,
                "component {component} is planned to wake the driver of device {device}, which has no interrupt \
                 line\n  help: the driver waits for its interrupt and these signals together; give the device an \
                 interrupt (an ISA device's `irq = N` in [devices.NAME])"
            ),
        }
    }
}

/// The objects the plan names, created once and shared by the grants.
struct Objects {
    channels: Vec<Server>,
    notifications: Vec<Notification>,
    /// Each ring's region, and its `data` and `space` notifications.
    rings: Vec<(SharedRegion, Notification, Notification)>,
    /// Each with its physical address if it is DMA memory (else 0).
    regions: Vec<(SharedRegion, u64)>,
    devices: Vec<DeviceClaim>,
    /// Each PCI device's configuration page (`D:config`), by device.
    device_configs: Vec<Option<SharedRegion>>,
    /// The pages of each text grant (`Source::Text`, a built-in service's `config`):
    /// the component's index in the plan, the grant's index in its grants, the pages.
    texts: Vec<(usize, usize, SharedRegion)>,
    /// The time service, if `[time]` asked for one.
    time: Option<TimeService>,
    /// The real-time scheduler's timer, if a component is a real-time task.
    rt_timer: Option<kaal_sched::runtime::RtTimer>,
}

fn main(rt: RootTask) -> Result<ExitStatus, BootError> {
    let plan: &BootPlan = &PLAN;
    if plan.components.is_empty() {
        return Err(BootError::NoPlan);
    }
    let RootTask { cspace, mut vspace, untypeds, asid_pool, io_port, irq_control, .. } = rt;
    let mut memory = UntypedAllocator::new(untypeds, cspace);
    // The heap grows in 2 MiB frames: one slot each, and a few for paging structures.
    let heap_bits = plan.root_heap.next_power_of_two().max(1 << 21).trailing_zeros() as u8;
    let heap = memory.sub_allocator(heap_bits, (plan.root_heap >> 21) as usize + 16)?;
    kaal_alloc::heap::init(
        vspace.try_clone(memory.cspace())?,
        heap,
        HeapConfig { limit: plan.root_heap, ..Default::default() },
    )?;
    println!("[kaal-root] system '{}': {} components", plan.system, plan.components.len());

    // 1. Objects.
    let mut objects = Objects {
        channels: Vec::new(),
        notifications: Vec::new(),
        rings: Vec::new(),
        regions: Vec::new(),
        devices: Vec::new(),
        device_configs: Vec::new(),
        texts: Vec::new(),
        time: None,
        rt_timer: None,
    };
    for _ in plan.channels {
        objects.channels.push(ipc::channel(&mut memory)?);
    }
    for _ in plan.notifications {
        objects.notifications.push(memory.allocate()?);
    }
    let mut next_vaddr = SHARED_BASE;
    for ring in plan.rings {
        // The kernel zeroes new frames, and a zeroed header is an empty ring.
        let region = SharedRegion::new(&mut memory, &mut vspace, next_vaddr, ring.bytes as usize)?;
        next_vaddr = kaal_abi::startup::next_region(next_vaddr, region.size() as u64);
        objects.rings.push((region, memory.allocate()?, memory.allocate()?));
    }
    for region in plan.regions {
        let (shared, paddr) = if region.dma {
            // Buffers a device reaches by DMA: physically contiguous, and every holder
            // learns the physical address.
            let bits = region.bytes.next_power_of_two().trailing_zeros() as u8;
            memory
                .contiguous(&mut vspace, next_vaddr, bits, CacheAttr::WriteBack)
                .map_err(|error| BootError::DmaRegion { region: region.name, error })?
        } else {
            (SharedRegion::new(&mut memory, &mut vspace, next_vaddr, region.bytes as usize)?, 0)
        };
        next_vaddr = kaal_abi::startup::next_region(next_vaddr, shared.size() as u64);
        objects.regions.push((shared, paddr));
    }
    // Text the tool wrote for a built-in service: read-only pages, NUL-padded (the
    // kernel zeroes new frames).
    for (c, component) in plan.components.iter().enumerate() {
        for (g, grant) in component.grants.iter().enumerate() {
            if let Source::Text(text) = grant.source {
                let size = text.len().max(1).next_multiple_of(4096);
                let pages = SharedRegion::new(&mut memory, &mut vspace, next_vaddr, size)?;
                next_vaddr = kaal_abi::startup::next_region(next_vaddr, pages.size() as u64);
                pages.write_bytes(0, text.as_bytes());
                objects.texts.push((c, g, pages));
            }
        }
    }

    // 2. Devices, from the broker; the time service's timer first.
    let rt_claims_timer = plan.realtime.is_some_and(|rt| rt.timer.is_some());
    if !plan.devices.is_empty() || plan.time.is_some() || rt_claims_timer {
        let mut broker = Broker::with_devices(io_port, irq_control, &mut memory, &mut vspace, plan.fixed_devices)?;
        if let Some(time) = plan.time {
            let mut threads = kaal_core::thread::Threads::new(vspace.try_clone(memory.cspace())?, TIME_REGION)?;
            let timer = DeviceId::parse(time.device).ok_or(BootError::BadDeviceName { device: time.device })?;
            let service = TimeService::start(
                &mut broker,
                timer,
                &mut memory,
                &mut vspace,
                &mut threads,
                // The real-time scheduler, if any, is one more client.
                plan.components.len() + plan.realtime.is_some() as usize,
                255,
            )
            .map_err(BootError::Time)?;
            println!("[kaal-root] time service on {}", time.device);
            // The spawner may go: the thread and its stack live on (nothing is freed).
            drop(threads);
            objects.time = Some(service);
        }
        if let Some(rt) = plan.realtime {
            objects.rt_timer = Some(rt_timer(&rt, &objects, &mut broker, &mut memory, &mut vspace)?);
        }
        for device in plan.devices {
            let component = plan.components[device.holder].name;
            let fail =
                |error| BootError::Device { component, device: device.name, error: alloc::boxed::Box::new(error) };
            let id = DeviceId::parse(device.name).ok_or(BootError::BadDeviceName { device: device.name })?;
            let claim = match device.port_count {
                // COM1 is reserved for the kernel's console, which only writes to it; the
                // tool grants its receiving side to the Linux personality's terminal, and
                // system.toml cannot name it for any other component.
                _ if device.name == kaal_abi::devices::CONSOLE => {
                    broker.claim_console_input(component, IrqDelivery::Own, &mut memory)
                }
                0 => broker.claim_device(id, component, IrqDelivery::Own, &mut memory),
                ports => broker.claim_device_narrowed(id, component, IrqDelivery::Own, ports, &mut memory),
            }
            .map_err(fail)?;
            match (device.port_count, claim.ports.as_ref().map(|p| p.span()), broker.device(id).and_then(|d| d.ports)) {
                (1.., Some(got), Some((first, count))) if got.last < first + (count - 1) => println!(
                    "[kaal-root] device {} -> {component} (ports {got} of {})",
                    device.name,
                    kaal_core::device::PortSpan::new(first, count)
                ),
                _ => println!("[kaal-root] device {} -> {component}", device.name),
            }
            // A PCI function's configuration header goes to its driver as a read-only page.
            let config = match &claim.config {
                Some(copy) => {
                    let page = SharedRegion::new(&mut memory, &mut vspace, next_vaddr, pci_config::BYTES as usize)?;
                    next_vaddr = kaal_abi::startup::next_region(next_vaddr, page.size() as u64);
                    page.write_bytes(0, &copy.to_bytes());
                    Some(page)
                }
                None => None,
            };
            objects.device_configs.push(config);
            objects.devices.push(claim);
        }
    }

    // 3. Components, in the plan's order (highest priority first), each with its DMA
    //    memory if it asked for some.
    let root_vspace = vspace.try_clone(memory.cspace())?;
    let mut supervisor = Supervisor::new(&mut memory, asid_pool, root_vspace)?;
    for (index, component) in plan.components.iter().enumerate() {
        let dma = match component.dma {
            0 => None,
            bytes => {
                let bits = bytes.next_power_of_two().trailing_zeros() as u8;
                let dma = memory
                    .contiguous(&mut vspace, next_vaddr, bits, CacheAttr::WriteBack)
                    .map_err(|error| BootError::Spawn { component: component.name, error })?;
                next_vaddr = kaal_abi::startup::next_region(next_vaddr, dma.0.size() as u64);
                Some(dma)
            }
        };
        // The handle may go: its frames stay mapped, here and in the component.
        spawn(index, component, &objects, dma.as_ref(), &mut supervisor, &mut memory)?;
    }

    // The real-time scheduler, once its task components wait for their first release.
    let realtime = match (&plan.realtime, objects.rt_timer.take()) {
        (Some(rt), Some(timer)) => Some(
            realtime::start(plan, rt, timer, &objects.notifications, &supervisor, &mut memory, &vspace)
                .map_err(BootError::Realtime)?,
        ),
        _ => None,
    };

    // 4. Supervision.
    let daemon = |name: &str| plan.components.iter().any(|c| c.name == name && c.daemon);
    let waiting_for = |supervisor: &Supervisor| {
        supervisor.states().filter(|(name, state)| *state == ComponentState::Running && !daemon(name)).count()
    };
    let all_daemons = plan.components.iter().all(|c| c.daemon);
    if all_daemons {
        println!("[kaal-root] every component is a daemon; the system runs until it is stopped");
    }
    let report = supervisor.run_while(|supervisor| all_daemons || waiting_for(supervisor) > 0);
    if let Some(realtime) = realtime {
        realtime.finish();
    }
    println!(
        "[kaal-root] system '{}' done: {} succeeded, {} failed, {} faulted, {} daemons still serving",
        plan.system, report.succeeded, report.failed, report.faulted, report.running
    );
    if report.failed + report.faulted == 0 {
        return Ok(ExitStatus::Success);
    }
    // The Linux personality's failure is init's exit status, which becomes the system's.
    let chosen = plan.exit_status_of.and_then(|name| {
        supervisor.states().find(|(n, _)| *n == name).and_then(|(_, state)| match state {
            ComponentState::Exited(status) if report.failed == 1 && report.faulted == 0 => Some(status),
            _ => None,
        })
    });
    Ok(chosen.unwrap_or(ExitStatus::ERROR))
}

/// The real-time scheduler's timer: its own (`[realtime] timer`), or deadlines through
/// the time service, as its last client.
fn rt_timer(
    rt: &kaal_abi::plan::RealtimePlan,
    objects: &Objects,
    broker: &mut Broker,
    memory: &mut UntypedAllocator,
    vspace: &mut kaal_core::vspace::VSpace,
) -> Result<kaal_sched::runtime::RtTimer, BootError> {
    use kaal_sched::runtime::RtTimer;
    let rt_error = |e| BootError::Realtime(realtime::RealtimeError::Scheduler(e));
    let events = objects
        .notifications
        .get(rt.events)
        .ok_or(BootError::Realtime(realtime::RealtimeError::NoComponent("rt:events")))?;
    let events = memory.cspace().copy(events, kaal_core::Rights::ALL)?;
    match (rt.timer, &objects.time) {
        (Some(device), _) => {
            let id = DeviceId::parse(device).ok_or(BootError::BadDeviceName { device })?;
            RtTimer::claim_on(events, broker, id, memory, vspace).map_err(rt_error)
        }
        (None, Some(service)) => {
            let index = PLAN.components.len();
            let client = service.client(index, memory.cspace())?;
            let wake = service.wake(index).ok_or(BootError::NoTimeService { component: "the real-time scheduler" })?;
            let wake = memory.cspace().copy(wake, kaal_core::Rights::ALL)?;
            RtTimer::through_service(kaal_core::time::Timer::new(client, wake), events, memory).map_err(rt_error)
        }
        (None, None) => Err(BootError::NoTimeService { component: "the real-time scheduler" }),
    }
}

/// Builds one component's grants and starts it.
fn spawn(
    index: usize,
    component: &'static ComponentPlan,
    objects: &Objects,
    dma: Option<&(SharedRegion, u64)>,
    supervisor: &mut Supervisor,
    memory: &mut UntypedAllocator,
) -> Result<(), BootError> {
    // Capabilities minted for this component (badged clients) and names made at boot
    // (MMIO windows) must outlive the grants that refer to them.
    let mut clients: Vec<(usize, Client)> = Vec::new();
    let mut mmio_names: Vec<(usize, usize, String)> = Vec::new();
    for (i, grant) in component.grants.iter().enumerate() {
        match grant.source {
            Source::ChannelClient { channel, badge } => {
                let badge = Badge::new(badge).ok_or(kaal_core::Error::InvalidSize {
                    what: "channel badge",
                    value: badge,
                    limit: Badge::MAX,
                })?;
                clients.push((i, objects.channels[channel].client(badge, memory.cspace())?));
            }
            Source::TimeService { .. } => {
                let service = objects.time.as_ref().ok_or(BootError::NoTimeService { component: component.name })?;
                clients.push((i, service.client(index, memory.cspace())?));
            }
            Source::DeviceMmio(device) => {
                for (w, window) in objects.devices[device].mmio.iter().enumerate() {
                    // The plan names the grant `D:mmio`; each window is `D:mmio<BAR>`.
                    mmio_names.push((device, w, format!("{}{}", grant.name, window.index)));
                }
            }
            _ => {}
        }
    }

    let mut grants: Vec<Grant<'_>> = Vec::new();
    for (i, planned) in component.grants.iter().enumerate() {
        let name = planned.name;
        let grant = match planned.source {
            Source::ChannelServer(c) => Grant::server(name, &objects.channels[c]),
            Source::ChannelClient { .. } | Source::TimeService { .. } => {
                let client = clients.iter().find(|(at, _)| *at == i).map(|(_, c)| c).expect("minted above");
                Grant::client(name, client)
            }
            Source::TimeWake => {
                let service = objects.time.as_ref().ok_or(BootError::NoTimeService { component: component.name })?;
                Grant::wait(name, service.wake(index).ok_or(BootError::NoTimeService { component: component.name })?)
            }
            // A waiter may also signal its own notification, so it can give the time
            // service a copy that ends a wait by a deadline.
            Source::NotificationWait(n) => Grant::notification(name, &objects.notifications[n]),
            Source::NotificationSignal { notification, badge } => {
                Grant::signal(name, &objects.notifications[notification], badge_of(badge)?)
            }
            Source::RingRegion(r) => {
                let plan = &PLAN.rings[r];
                Grant::ring(name, &objects.rings[r].0, plan.slots, plan.item_size)
            }
            Source::RingNotification { ring, data, wait } => {
                let (_, data_ready, space_free) = &objects.rings[ring];
                let notification = if data { data_ready } else { space_free };
                if wait {
                    // As for NotificationWait: the waiter may signal it too.
                    Grant::notification(name, notification)
                } else {
                    Grant::signal(name, notification, badge_of(1)?)
                }
            }
            Source::Region { region, writable } => match &objects.regions[region] {
                (shared, 0) => Grant::region(name, shared, writable),
                (shared, paddr) => Grant::dma(name, shared, *paddr),
            },
            Source::DevicePorts(d) => match &objects.devices[d].ports {
                Some(ports) => Grant::io_ports(name, ports).tagged(pci_tag(&objects.devices[d])),
                None => continue,
            },
            Source::DeviceIrq(d) => match (&objects.devices[d].irq, objects.devices[d].info.interrupt) {
                (Some(irq), Some(line)) => Grant::irq_handler(name, irq, line).tagged(pci_tag(&objects.devices[d])),
                _ => continue,
            },
            Source::DeviceEvents(d) => match &objects.devices[d].irq {
                Some(irq) => Grant::irq_events(name, irq),
                None => continue,
            },
            Source::DeviceEventsSignal { device, badge } => match &objects.devices[device].irq {
                Some(irq) => Grant::signal(name, irq.notification(), badge_of(badge)?),
                None => {
                    return Err(BootError::NoInterrupt { component: component.name, device: PLAN.devices[device].name })
                }
            },
            Source::Dma => match dma {
                Some((region, paddr)) => Grant::dma(name, region, *paddr),
                None => continue,
            },
            Source::DeviceConfig(d) => match &objects.device_configs[d] {
                Some(page) => Grant::region(name, page, false),
                None => return Err(BootError::NotPci { component: component.name, device: PLAN.devices[d].name }),
            },
            // The block is the component's alone: it builds its processes' objects from it.
            Source::Memory { bits } => Grant::untyped(name, memory.allocate_untyped(bits)?),
            Source::Text(_) => {
                let (_, _, pages) =
                    objects.texts.iter().find(|(c, g, _)| *c == index && *g == i).expect("made in step 1");
                Grant::region(name, pages, false)
            }
            Source::DeviceMmio(d) => {
                for (device, w, window_name) in &mmio_names {
                    if *device == d {
                        grants.push(Grant::device_memory(window_name, &objects.devices[d].mmio[*w].frames));
                    }
                }
                continue;
            }
        };
        grants.push(if planned.source.is_capability() { grant.at_slot(planned.slot) } else { grant });
    }

    let scheduling = kaal_core::sched::Scheduling::planned(
        component.budget_us,
        component.period_us,
        component.overrun_fault,
        component.passive,
    )
    .map_err(|error| BootError::Spawn { component: component.name, error })?;
    let config = ComponentConfig::builder()
        .name(component.name)
        .image(component.image)
        .priority(component.priority)
        .heap_size(component.heap as usize)
        .stack_size(component.stack as usize)
        .cnode_bits(component.cnode_bits)
        .manager(component.manager)
        .grants(&grants)
        .scheduling(scheduling)
        .build();
    let block =
        supervisor.spawn(memory, config).map_err(|error| BootError::Spawn { component: component.name, error })?;
    for planned in component.grants.iter().filter(|g| g.source.is_capability()) {
        let got = block.cap(planned.name).map(|c| c.slot);
        // A device grant is absent when the device lacks that resource.
        let absent_device_part = got.is_none()
            && matches!(planned.source, Source::DevicePorts(_) | Source::DeviceIrq(_) | Source::DeviceEvents(_));
        if got != Some(planned.slot) && !absent_device_part {
            return Err(BootError::SlotMismatch {
                component: component.name,
                grant: planned.name,
                planned: planned.slot,
                got,
            });
        }
    }
    let budget = match (component.budget_us, component.period_us) {
        (0, 0) => String::new(),
        (budget, period) => format!(
            ", budget {budget} us every {period} us{}",
            if component.overrun_fault { ", overrun faults" } else { "" }
        ),
    } + if component.passive { ", passive" } else { "" };
    let realtime = PLAN
        .realtime
        .as_ref()
        .and_then(|rt| rt.tasks.iter().find(|t| t.component == index))
        .map(|t| {
            use kaal_sched::DisplayDuration as D;
            format!(
                ", real-time: every {}, deadline {}, wcet {}{}",
                D(t.period_ns),
                D(t.deadline_ns),
                D(t.wcet_ns),
                if t.criticality > 0 { ", high criticality" } else { "" }
            )
        })
        .unwrap_or_default();
    println!(
        "[kaal-root] started {} (priority {}, {} grants{budget}{realtime})",
        component.name,
        component.priority,
        block.caps().count() + block.regions().count()
    );
    Ok(())
}

/// A PCI device's `vendor << 16 | device`, which its driver checks (0 off PCI).
fn pci_tag(claim: &DeviceClaim) -> u32 {
    claim.info.pci_ids.map_or(0, |(vendor, device)| (vendor as u32) << 16 | device as u32)
}

fn badge_of(value: u64) -> Result<Badge, BootError> {
    Badge::new(value).ok_or(BootError::Kernel(kaal_core::Error::InvalidSize {
        what: "notification badge",
        value,
        limit: Badge::MAX,
    }))
}
