//! The real-time scheduler over components (`[realtime]` in system.toml): kaal-sched's
//! runtime on a thread of the root task at priority 254, below the time service (255)
//! and above every component.
//!
//! The tool planned everything: which components are tasks (in order: task `i`
//! signals bit `i` of the `events` notification when a job is done), their release
//! notifications, the policy, and whether the scheduler claims a timer of its own or
//! sets its deadlines through the time service. The tool also ran the admission test;
//! the scheduler runs it again here, so a plan from another checkout cannot start an
//! unschedulable set.

use alloc::boxed::Box;
use core::time::Duration;

use kaal_abi::plan::{BootPlan, RealtimePlan};
use kaal_alloc::UntypedAllocator;
use kaal_core::supervisor::Supervisor;
use kaal_core::thread::{JoinHandle, ThreadConfig, Threads};
use kaal_core::vspace::VSpace;
use kaal_core::{println, Notification, Rights};
use kaal_sched::runtime::{Env, RtConfig, RtError, RtScheduler, RtTimer, Stopper, Summary};
use kaal_sched::{Criticality, Edf, FixedPriority, Scheduler, TaskSpec};

/// Where the scheduler's threads have their stacks.
const RT_REGION: (u64, u64) = (0x0000_5d00_0000_0000, 1 << 22);
/// The scheduler thread's priority: below the time service's, above every component.
const SCHEDULER_PRIORITY: u8 = 254;

/// The running scheduler.
pub struct Realtime {
    stopper: Stopper,
    thread: JoinHandle<Summary>,
    threads: Threads,
}

/// Why the scheduler did not start.
pub enum RealtimeError {
    Scheduler(RtError),
    Kernel(kaal_core::Error),
    /// The plan names a policy this root task does not know.
    Policy(&'static str),
    /// The plan names a component the supervisor does not have.
    NoComponent(&'static str),
}

impl From<kaal_core::Error> for RealtimeError {
    fn from(e: kaal_core::Error) -> Self {
        RealtimeError::Kernel(e)
    }
}

impl From<RtError> for RealtimeError {
    fn from(e: RtError) -> Self {
        RealtimeError::Scheduler(e)
    }
}

impl core::fmt::Display for RealtimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RealtimeError::Scheduler(e) => write!(f, "the real-time scheduler cannot start: {e}"),
            RealtimeError::Kernel(e) => write!(f, "the real-time scheduler cannot start: {e}"),
            RealtimeError::Policy(p) | RealtimeError::NoComponent(p) => write!(
                f,
                "the boot plan's [realtime] names {p:?}, which this root task does not know\n  help: rebuild with \
                 `cargo kaal build` so the tool and the root task come from one KaaL checkout"
            ),
        }
    }
}

/// What the scheduler is started from.
struct Start<'a> {
    plan: &'static BootPlan,
    rt: &'static RealtimePlan,
    timer: RtTimer,
    notifications: &'a [Notification],
    supervisor: &'a Supervisor,
    memory: &'a mut UntypedAllocator,
    vspace: &'a VSpace,
}

/// Starts the scheduler over the plan's real-time components (already spawned and
/// waiting for their first release). `notifications` are the plan's.
pub fn start(
    plan: &'static BootPlan,
    rt: &'static RealtimePlan,
    timer: RtTimer,
    notifications: &[Notification],
    supervisor: &Supervisor,
    memory: &mut UntypedAllocator,
    vspace: &VSpace,
) -> Result<Realtime, RealtimeError> {
    let from = Start { plan, rt, timer, notifications, supervisor, memory, vspace };
    match rt.policy {
        "edf" => start_with(Edf, from),
        "rate-monotonic" => start_with(FixedPriority::rate_monotonic(), from),
        "deadline-monotonic" => start_with(FixedPriority::deadline_monotonic(), from),
        other => Err(RealtimeError::Policy(other)),
    }
}

fn start_with<S: Scheduler + Send + 'static>(policy: S, from: Start<'_>) -> Result<Realtime, RealtimeError> {
    let Start { plan, rt, timer, notifications, supervisor, memory, vspace } = from;
    let name = policy.name();
    let config = RtConfig {
        task_priority: rt.priority,
        // Reports are rare; above best-effort components, so they are printed at all.
        reporter_priority: rt.priority.saturating_sub(1),
        scheduler_priority: SCHEDULER_PRIORITY,
        ..RtConfig::default()
    };
    let mut scheduler = RtScheduler::new(policy).config(config);
    for task in rt.tasks {
        let component = plan.components.get(task.component).ok_or(RealtimeError::NoComponent("?"))?;
        let spec = TaskSpec::builder()
            .name(component.name)
            .period(Duration::from_nanos(task.period_ns))
            .deadline(Duration::from_nanos(task.deadline_ns))
            .wcet(Duration::from_nanos(task.wcet_ns))
            .offset(Duration::from_nanos(task.offset_ns))
            .criticality(Criticality(task.criticality))
            .build();
        let release = notifications.get(task.release).ok_or(RealtimeError::NoComponent(component.name))?;
        let release = memory.cspace().copy(release, Rights::ALL)?;
        let control =
            supervisor.control(memory, component.name).ok_or(RealtimeError::NoComponent(component.name))??;
        scheduler.add_component(spec, release, control)?;
    }
    let timer: &'static mut RtTimer = Box::leak(Box::new(timer));
    let stopper = timer.stopper(memory)?;
    let mut threads = Threads::new(vspace.try_clone(memory.cspace())?, RT_REGION)?;
    let ready = scheduler.prepare(Env { timer, memory, threads: &mut threads })?;
    let thread_config = ThreadConfig::new("rt-sched").priority(SCHEDULER_PRIORITY).stack_size(64 * 1024);
    let thread = threads.spawn(memory, thread_config, move || ready.run(Duration::MAX))?;
    println!(
        "[kaal-root] real-time: {name} over {} components at priority {}, deadlines by {}",
        rt.tasks.len(),
        rt.priority,
        rt.timer.unwrap_or("the time service")
    );
    Ok(Realtime { stopper, thread, threads })
}

impl Realtime {
    /// Stops the scheduler (the tasks stay suspended) and prints its table.
    pub fn finish(mut self) {
        self.stopper.stop();
        match self.threads.join(self.thread) {
            Ok(summary) => println!("{summary}"),
            Err(e) => println!("[kaal-root] the real-time scheduler ended without its table: {e}"),
        }
    }
}
