//! Components: isolated processes built from typed handles, and their supervisor.
//!
//! A component has its own address space (a PML4 with paging structures made on
//! demand), its own CNode, a TCB, an IPC buffer, a stack with an unmapped guard page, a
//! heap, and exactly the capabilities and memory regions it is [`Grant`]ed. Its program
//! is an ELF image embedded in the root task (the kernel loads only one boot module);
//! `kaal build` builds the component crates and [`crate::component_image!`] embeds them.
//!
//! The [`Supervisor`] owns an endpoint on which every component's faults arrive (each
//! component's copy carries its own badge) and on which components report their exit.
//! A VM fault, an unknown syscall, a failed capability lookup or a CPU exception stops
//! only the faulting component; the supervisor prints its name, the fault, the address
//! and the instruction pointer, and the rest of the system keeps running.
//!
//! * [`grant`]: what a component is given, and placing it;
//! * [`config`]: how a component is built;
//! * [`fault`]: the faults the kernel reports;
//! * [`loader`]: the ELF loader.
//!
//! What a component sees (slots, addresses, the start-up block) is defined in
//! [`kaal_abi::startup`].

mod config;
mod fault;
mod grant;
mod loader;

use core::fmt;

use kaal_abi::exit::ExitStatus;
use kaal_abi::startup::{self, labels, slots, CapKind, StartupBlock};

pub use config::ComponentConfig;
pub use fault::Fault;
pub use grant::Grant;
pub use loader::AlignedImage;

use crate::cap::{cap_type, AsidPool, Badge, CNode, Cap, Endpoint, Notification, Rights, Tcb};
use crate::error::{Error, Result};
use crate::println;
use crate::sys;
use crate::vspace::{Frame, Large, ObjectAllocator, PageSize, ReadOnly, ReadWrite, VSpace, PAGE_SIZE};

// KaaL's supervisor labels fit the kernel's label field (width generated from the .bf:
// 20 bits on seL4 5.0.0, 52 on 16.0.0).
static_assertions::const_assert!(labels::LABEL_BITS as u64 <= sys::seL4_MessageInfo_label_WIDTH as u64);

/// Where a component stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentState {
    Running,
    Exited(ExitStatus),
    Faulted(Fault),
}

/// Something the supervisor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A component reported its exit status.
    Exited { component: &'static str, status: ExitStatus },
    /// A component faulted and was stopped.
    Faulted { component: &'static str, fault: Fault },
    /// A message the supervisor does not understand (ignored).
    Unexpected { component: Option<&'static str>, label: u64 },
    /// seL4 MCS: a passive server waits for its first caller and now runs on its
    /// callers' scheduling contexts.
    #[cfg(kaal_mcs)]
    Passive { component: &'static str },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Exited { component, status } => {
                write!(f, "component '{component}' exited: {} ({status:?})", status.describe())
            }
            Event::Faulted { component, fault } => {
                write!(f, "component '{component}' faulted: {fault}; it was stopped")
            }
            Event::Unexpected { component: Some(c), label } => {
                write!(f, "component '{c}' sent an unknown message (label {label:#x}) to the supervisor; ignored")
            }
            Event::Unexpected { component: None, label } => {
                write!(f, "an unknown sender sent a message (label {label:#x}) to the supervisor; ignored")
            }
            #[cfg(kaal_mcs)]
            Event::Passive { component } => {
                write!(f, "component '{component}' is passive: it runs on its callers' scheduling contexts")
            }
        }
    }
}

/// Most components one supervisor runs.
pub const MAX_COMPONENTS: usize = 64;

struct Component {
    name: &'static str,
    tcb: Tcb,
    state: ComponentState,
    /// MCS: its scheduling context, and whether it is to become passive.
    #[cfg(kaal_mcs)]
    sc: crate::cap::SchedContext,
    #[cfg(kaal_mcs)]
    passive: bool,
    // Kept for the component's lifetime: its address space and CNode. Its frames stay
    // mapped in that address space; their capabilities stay in the root CNode.
    _vspace: VSpace,
    _cnode: CNode,
}

/// The grant a manager component (`ComponentConfig::manager`) finds its own address
/// space under.
pub const MANAGER_VSPACE: &str = "vspace";
pub(crate) use grant::guard_data;
/// The grant a manager component finds the ASID pool under.
pub const MANAGER_ASID_POOL: &str = "asid-pool";
/// The largest CNode a manager component may have (2^14 slots, what
/// [`crate::cspace::CSpace`] tracks): each page it maps into a process takes two slots.
pub const MAX_MANAGER_CNODE_BITS: u8 = 14;

/// Builds components and handles their faults and exits.
pub struct Supervisor {
    endpoint: Endpoint,
    asid_pool: AsidPool,
    /// Stages page contents in the root task's own address space.
    stager: loader::Stager,
    components: heapless::Vec<Component, MAX_COMPONENTS>,
    /// The threads that print for components.
    console: Console,
}

/// The supervisor's printing threads (see [`crate::console`]). They run for the rest of
/// the program; their handles keep their kernel objects.
struct Console {
    /// The console thread's endpoint, which components print through.
    endpoint: Endpoint,
    _printer: crate::thread::JoinHandle<()>,
    /// The log thread waits on it; components signal it after writing to their log ring.
    wake: Notification,
    _logs: crate::thread::JoinHandle<()>,
    _threads: crate::thread::Threads,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Supervisor({} components)", self.components.len())
    }
}
impl Supervisor {
    /// Where the supervisor stages page contents in the root task's address space.
    const SCRATCH_VADDR: u64 = 0x0000_5f00_0000_0000;

    /// Where the supervisor puts its console thread's stack.
    const CONSOLE_REGION: (u64, u64) = (0x0000_5f80_0000_0000, 1 << 20);
    /// Where the root task maps the components' log rings, one page each.
    const LOG_RINGS_VADDR: u64 = 0x0000_5f40_0000_0000;

    /// A supervisor with its own endpoint. `root_vspace` is a handle on the root task's
    /// address space (see [`VSpace::try_clone`]). It also starts the log thread that
    /// prints components' defmt logs, at the lowest priority, and the console thread that
    /// prints what components `println!`, at the highest.
    pub fn new(alloc: &mut impl ObjectAllocator, asid_pool: AsidPool, root_vspace: VSpace) -> Result<Self> {
        use crate::thread::{ThreadConfig, Threads};
        let endpoint = alloc.allocate::<Endpoint>()?;
        let mut threads = Threads::new(root_vspace.try_clone(alloc.cspace())?, Self::CONSOLE_REGION)?;
        let wake: Notification = alloc.allocate()?;
        let waiting = alloc.cspace().copy(&wake, Rights::ALL)?;
        let console = {
            let console: Endpoint = alloc.allocate()?;
            let served = alloc.cspace().copy(&console, Rights::ALL)?;
            let config = ThreadConfig::new("console").priority(255).stack_size(16 * 1024);
            let thread = threads.spawn(alloc, config, move || -> () { crate::console::serve(&served) })?;
            (console, thread)
        };
        // The log thread hands its lines to the console thread too, so that one thread
        // writes everything and a line is never cut by another (the console thread, at
        // the highest priority, would preempt the log thread in the middle of one).
        let for_logs = alloc.cspace().copy(&console.0, Rights::ALL)?;
        let config = ThreadConfig::new("logs").priority(0).stack_size(16 * 1024);
        let logs = threads.spawn(alloc, config, move || -> () { crate::console::print_logs(&waiting, for_logs) })?;
        Ok(Self {
            endpoint,
            asid_pool,
            stager: loader::Stager { vspace: root_vspace, vaddr: Self::SCRATCH_VADDR },
            components: heapless::Vec::new(),
            console: Console { endpoint: console.0, _printer: console.1, wake, _logs: logs, _threads: threads },
        })
    }

    /// Builds and starts a component; returns what it was told at start-up (its grants,
    /// by name, slot and address). On failure the objects made so far stay allocated
    /// (they are not reachable by anyone), and the error says what went wrong.
    pub fn spawn(&mut self, alloc: &mut impl ObjectAllocator, config: ComponentConfig<'_>) -> Result<StartupBlock> {
        let name = config.name;
        let elf = loader::parse(name, config.image)?;
        let cnode_limit = if config.manager { MAX_MANAGER_CNODE_BITS } else { 12 };
        if !(4..=cnode_limit).contains(&config.cnode_bits) {
            return Err(Error::InvalidSize {
                what: "component CNode bits",
                value: config.cnode_bits as u64,
                limit: cnode_limit as u64,
            });
        }
        if config.heap_size as u64 > startup::MAX_HEAP {
            return Err(Error::InvalidSize {
                what: "component heap (bytes)",
                value: config.heap_size as u64,
                limit: startup::MAX_HEAP,
            });
        }
        if config.stack_size as u64 > startup::MAX_STACK {
            return Err(Error::InvalidSize {
                what: "component stack (bytes)",
                value: config.stack_size as u64,
                limit: startup::MAX_STACK,
            });
        }
        if self.components.len() as u64 >= Badge::MAX {
            return Err(Error::InvalidSize {
                what: "components",
                value: self.components.len() as u64,
                limit: Badge::MAX,
            });
        }
        let badge = Badge::new(self.components.len() as u64 + 1).expect("bounded above");

        // Address space and CNode.
        let pml4 = alloc.allocate::<Cap<cap_type::Pml4>>()?;
        let mut vspace = VSpace::new(pml4, &self.asid_pool)?;
        let cnode = alloc.allocate_cnode(config.cnode_bits as u32)?;
        let tcb: Tcb = alloc.allocate()?;

        // Program segments.
        let entry = loader::load(name, &elf, config.image, &mut vspace, &mut self.stager, alloc)?;

        // Stack (with an unmapped page below it), IPC buffer, heap. The kernel zeroes
        // RAM frames when it creates them, so these need no staging.
        let stack_pages = config.stack_size.div_ceil(PAGE_SIZE).max(1) as u64;
        for i in 0..stack_pages {
            let frame: Frame = alloc.allocate()?;
            let vaddr = startup::STACK_TOP - (i + 1) * PAGE_SIZE as u64;
            frame.map(&mut vspace, vaddr, ReadWrite, alloc)?.leak();
        }
        let ipc: Frame = alloc.allocate()?;
        let ipc = ipc.map(&mut vspace, startup::IPC_BUFFER_VADDR, ReadWrite, alloc)?;
        let ipc_cptr = ipc.cptr();
        ipc.leak();
        let heap_size = config.heap_size as u64;
        if heap_size > 0 && heap_size.is_multiple_of(Large::BYTES as u64) {
            for i in 0..heap_size / Large::BYTES as u64 {
                let frame: Frame<Large> = alloc.allocate()?;
                let vaddr = startup::HEAP_BASE + i * Large::BYTES as u64;
                frame.map(&mut vspace, vaddr, ReadWrite, alloc)?.leak();
            }
        } else {
            for i in 0..heap_size.div_ceil(PAGE_SIZE as u64) {
                let frame: Frame = alloc.allocate()?;
                let vaddr = startup::HEAP_BASE + i * PAGE_SIZE as u64;
                frame.map(&mut vspace, vaddr, ReadWrite, alloc)?.leak();
            }
        }

        // Capabilities: its own TCB and CNode, the supervisor endpoint, then the grants.
        let mut block = StartupBlock::new(name).map_err(|e| Error::BadGrant { component: name, why: e })?;
        block.cnode_bits = config.cnode_bits as u64;
        block.heap_base = startup::HEAP_BASE;
        block.heap_size = heap_size;
        block.stack_top = startup::STACK_TOP;
        block.stack_size = stack_pages * PAGE_SIZE as u64;
        block.ipc_buffer = startup::IPC_BUFFER_VADDR;
        block.tsc_hz = crate::arch::tsc_hz().unwrap_or(0);
        #[cfg(kaal_mcs)]
        if config.scheduling.passive {
            block.flags |= kaal_abi::startup::flags::PASSIVE;
        }
        let guard = grant::guard_data(config.cnode_bits);
        let depth = config.cnode_bits;
        grant::copy_into(&cnode, slots::TCB, depth, tcb.cptr(), Rights::ALL, None)?;
        grant::copy_into(&cnode, slots::CNODE, depth, cnode.cptr(), Rights::ALL, Some(guard))?;
        grant::copy_into(
            &cnode,
            slots::SUPERVISOR,
            depth,
            self.endpoint.cptr(),
            Rights { read: false, write: true, grant: true },
            Some(badge.cap_data()),
        )?;
        // MCS: a reply object to receive with, and where the kernel sends faults (looked
        // up in the root's CSpace, so a badged copy lives there).
        #[cfg(kaal_mcs)]
        let fault_ep = {
            let reply: crate::cap::Reply = alloc.allocate()?;
            grant::copy_into(&cnode, slots::REPLY, depth, reply.cptr(), Rights::ALL, None)?;
            // The component's copy is the only one it needs.
            let _ = reply.into_cptr();
            let rights = Rights { read: false, write: true, grant: true };
            alloc.cspace().mint(&self.endpoint, rights, badge)?
        };
        let heap_lock: Notification = alloc.allocate()?;
        grant::copy_into(&cnode, slots::HEAP_LOCK, depth, heap_lock.cptr(), Rights::ALL, None)?;
        // The component's copy is the only one it needs; the root's slot is given up.
        let _ = heap_lock.into_cptr();
        // The log ring: a page mapped here for the console thread and there for the
        // component, and the signal that wakes the console thread.
        let index = self.components.len();
        let ring_size = startup::LOG_RING_SIZE as usize;
        let ring_vaddr = Self::LOG_RINGS_VADDR + (index * ring_size) as u64;
        let ring = crate::shared::SharedRegion::new(alloc, &mut self.stager.vspace, ring_vaddr, ring_size)?;
        for page in 0..ring_size / PAGE_SIZE {
            let at = startup::LOG_RING_VADDR + (page * PAGE_SIZE) as u64;
            ring.copy_frame(page, alloc.cspace())?.map(&mut vspace, at, ReadWrite, alloc)?.leak();
        }
        grant::copy_into(
            &cnode,
            slots::LOG_SIGNAL,
            depth,
            self.console.wake.cptr(),
            Rights::WRITE,
            Some(Badge::new(1).expect("1 is a badge").cap_data()),
        )?;
        grant::copy_into(
            &cnode,
            slots::CONSOLE,
            depth,
            self.console.endpoint.cptr(),
            // seL4 5.0 answers a Call only through a capability with grant rights; without
            // them the caller is left inactive.
            Rights { read: false, write: true, grant: true },
            Some(badge.cap_data()),
        )?;
        let target = grant::Target { name, cnode: &cnode, depth, cnode_bits: config.cnode_bits, vspace: &mut vspace };
        grant::place(config.grants, target, &mut block, alloc)?;
        if config.manager {
            let own = [
                (MANAGER_VSPACE, CapKind::VSpace, vspace.cptr()),
                (MANAGER_ASID_POOL, CapKind::AsidPool, self.asid_pool.cptr()),
            ];
            for (i, (grant_name, kind, cptr)) in own.into_iter().enumerate() {
                let slot = slots::FIRST_FREE - 1 - i as u64;
                if block.caps().any(|c| c.slot == slot) {
                    return Err(Error::BadGrant { component: name, why: kaal_abi::startup::StartupError::SlotTaken });
                }
                grant::copy_into(&cnode, slot, depth, cptr, Rights::ALL, None)?;
                block.add_cap(grant_name, slot, kind, 0).map_err(|why| Error::BadGrant { component: name, why })?;
            }
        }

        // The start-up block, read-only.
        let mut page = [0u8; startup::ENCODED_LEN];
        block.encode(&mut page).map_err(|why| Error::BadGrant { component: name, why })?;
        let frame = self.stager.frame(alloc, &page)?;
        frame.map(&mut vspace, startup::STARTUP_BLOCK_VADDR, ReadOnly, alloc)?.leak();

        // The thread.
        let mut regs = sys::seL4_UserContext { rip: entry, rsp: startup::STACK_TOP, ..Default::default() };
        crate::thread::set_ipc_buffer_base(&mut regs, startup::IPC_BUFFER_VADDR);
        #[cfg(kaal_mcs)]
        let sc = crate::sched::sched_context(alloc, config.scheduling.budget, badge.value(), name)?;
        let setup = crate::thread::TcbSetup {
            #[cfg(not(kaal_mcs))]
            fault_ep: slots::SUPERVISOR,
            #[cfg(kaal_mcs)]
            fault_ep: fault_ep.cptr(),
            #[cfg(kaal_mcs)]
            sched_context: sc.cptr(),
            priority: config.priority,
            cspace: cnode.cptr(),
            cspace_data: guard,
            vspace: vspace.cptr(),
            ipc_vaddr: startup::IPC_BUFFER_VADDR,
            ipc_frame: ipc_cptr,
        };
        // SAFETY: configuring and starting a thread in a new address space; nothing of
        // the root task's memory is involved.
        unsafe {
            crate::thread::configure_tcb(tcb.cptr(), &setup)?;
            #[cfg(kaal_mcs)]
            if config.scheduling.overrun == crate::sched::Overrun::Fault {
                Error::check(
                    sys::seL4_TCB_SetTimeoutEndpoint(tcb.cptr(), fault_ep.cptr()),
                    "seL4_TCB_SetTimeoutEndpoint",
                )?;
            }
            let count = core::mem::size_of::<sys::seL4_UserContext>() as u64 / 8;
            Error::check(sys::seL4_TCB_WriteRegisters(tcb.cptr(), false, 0, count, &regs), "seL4_TCB_WriteRegisters")?;
            sys::debug_name_thread(tcb.cptr(), name);
            Error::check(sys::seL4_TCB_Resume(tcb.cptr()), "seL4_TCB_Resume")?;
        }
        crate::console::rings::register(index, name, ring_vaddr);
        // MCS: the kernel keeps its own copies of the fault endpoint, so the root's goes.
        #[cfg(kaal_mcs)]
        let _ = alloc.cspace().delete(fault_ep);
        let component = Component {
            name,
            tcb,
            state: ComponentState::Running,
            #[cfg(kaal_mcs)]
            sc,
            #[cfg(kaal_mcs)]
            passive: config.scheduling.passive,
            _vspace: vspace,
            _cnode: cnode,
        };
        // Capacity was checked before anything was built.
        let _ = self.components.push(component);
        Ok(block)
    }

    /// Components still running.
    pub fn running(&self) -> usize {
        self.components.iter().filter(|c| c.state == ComponentState::Running).count()
    }

    /// The state of every component, by name.
    pub fn states(&self) -> impl Iterator<Item = (&'static str, ComponentState)> + '_ {
        self.components.iter().map(|c| (c.name, c.state))
    }

    /// The right to stop and continue component `name`'s thread, for a user-level
    /// scheduler (kaal-sched): a copy of its TCB capability, made in `alloc`'s CSpace.
    /// `None` if there is no such component.
    pub fn control(&self, alloc: &mut impl ObjectAllocator, name: &str) -> Option<Result<ComponentControl>> {
        let component = self.components.iter().find(|c| c.name == name)?;
        Some(alloc.cspace().copy(&component.tcb, Rights::ALL).map(|tcb| ComponentControl { name: component.name, tcb }))
    }

    /// Waits for the next fault, exit or stray message.
    pub fn next_event(&mut self) -> Event {
        loop {
            if let Some(event) = self.receive() {
                return event;
            }
        }
    }

    /// One message, made an event; `None` for a repeat fault of a component already
    /// stopped (a scheduler that resumed it, through [`ComponentControl`], made it
    /// fault again): it is stopped again and not reported twice.
    fn receive(&mut self) -> Option<Event> {
        // Fault messages are longer than four words (an unknown syscall carries every
        // register).
        let received = self.endpoint.recv_long();
        let index = received.badge.checked_sub(1).map(|i| i as usize);
        let component = index.and_then(|i| self.components.get_mut(i));
        let label = received.msg.label();
        let Some(component) = component else {
            return Some(Event::Unexpected { component: None, label });
        };
        #[cfg(kaal_mcs)]
        if label == labels::PASSIVE_READY && component.passive {
            // It sent this in the same syscall that made it wait for callers, so taking
            // its context away cannot stop it anywhere else. Once only.
            component.passive = false;
            // SAFETY: unbinding a scheduling context of ours touches no memory.
            let err = unsafe { sys::seL4_SchedContext_Unbind(component.sc.cptr()) };
            return Some(match Error::check(err, "seL4_SchedContext_Unbind") {
                Ok(()) => Event::Passive { component: component.name },
                Err(e) => {
                    crate::println!("[supervisor] component '{}' stays active: {e}", component.name);
                    Event::Unexpected { component: Some(component.name), label }
                }
            });
        }
        if label == labels::EXIT {
            let status = ExitStatus::from_qemu_status(((received.msg.word(0) as i32) << 1) | 1)
                .unwrap_or(ExitStatus::Failure(kaal_abi::exit::MAX_FAILURE_CODE));
            component.state = ComponentState::Exited(status);
            return Some(Event::Exited { component: component.name, status });
        }
        match Fault::decode(label, |i| received.msg.word(i)) {
            Some(fault) => {
                // SAFETY: stopping a component's thread; the root task's memory is not
                // involved. It is never replied to, so it stays stopped.
                unsafe { sys::seL4_TCB_Suspend(component.tcb.cptr()) };
                if component.state != ComponentState::Running {
                    return None;
                }
                component.state = ComponentState::Faulted(fault);
                Some(Event::Faulted { component: component.name, fault })
            }
            None => Some(Event::Unexpected { component: Some(component.name), label }),
        }
    }

    /// Handles events, printing each, until no component is running.
    pub fn run(&mut self) -> SupervisorReport {
        self.run_while(|_| true)
    }

    /// Handles events, printing each, while a component is running and `keep_going`
    /// says so; then reports how the components stand.
    pub fn run_while(&mut self, mut keep_going: impl FnMut(&Self) -> bool) -> SupervisorReport {
        while self.running() > 0 && keep_going(self) {
            let event = self.next_event();
            println!("[supervisor] {event}");
        }
        let mut report = SupervisorReport::default();
        for (_, state) in self.states() {
            match state {
                ComponentState::Exited(ExitStatus::Success) => report.succeeded += 1,
                ComponentState::Exited(_) => report.failed += 1,
                ComponentState::Faulted(_) => report.faulted += 1,
                ComponentState::Running => report.running += 1,
            }
        }
        report
    }
}

/// The right to stop and continue one component's thread ([`Supervisor::control`]).
/// A component stopped this way keeps whatever it held (a lock in memory it shares)
/// until it continues. A call it was waiting in is lost: the kernel drops the reply,
/// and the continued component makes the call again (its server may already have done
/// the work once). Continuing one that faulted makes it fault again, which its
/// supervisor stops quietly.
pub struct ComponentControl {
    name: &'static str,
    tcb: Tcb,
}

impl fmt::Debug for ComponentControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentControl({:?})", self.name)
    }
}

impl ComponentControl {
    /// The component's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Stops the component's thread where it is.
    pub fn suspend(&self) -> Result<()> {
        // SAFETY: suspending a component's thread; no memory of ours changes.
        let err = unsafe { sys::seL4_TCB_Suspend(self.tcb.cptr()) };
        Error::check(err, "seL4_TCB_Suspend")
    }

    /// Lets it run on.
    pub fn resume(&self) -> Result<()> {
        // SAFETY: resuming a component's thread; no memory of ours changes.
        let err = unsafe { sys::seL4_TCB_Resume(self.tcb.cptr()) };
        Error::check(err, "seL4_TCB_Resume")
    }
}

/// How the components ended (or stand, after [`Supervisor::run_while`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupervisorReport {
    pub succeeded: usize,
    pub failed: usize,
    pub faulted: usize,
    /// Still running (daemons, when the caller stopped waiting for them).
    pub running: usize,
}
