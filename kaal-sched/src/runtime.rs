//! The scheduler on seL4: real-time tasks as threads of the calling program, a timer of
//! the scheduler's own, and [`crate::engine::Engine`] deciding.
//!
//! seL4 5.0.0 has no CPU budgets, so they are enforced here, at user level, on fixed
//! kernel priorities:
//!
//! - [`RtScheduler::run`] runs the scheduler on the calling thread, which must have a
//!   higher priority than the tasks (a root task's main thread has the highest). It
//!   claims a one-shot timer from the broker (the HPET by default, or the PIT;
//!   [`kaal_dev::oneshot::OneShot`]) and keeps it armed for the engine's next point of
//!   interest: a release, a deadline, the end of the running job's budget, a policy's
//!   time slice. There is no periodic tick.
//! - Each task is a thread at [`RtConfig::task_priority`] that waits on a release
//!   notification of its own, runs one job (the task's body), and signals the
//!   scheduler. The timer's interrupt and every task's completion set their own badge
//!   bit on one notification, so one `Wait` serves them all.
//! - At most one task is dispatched at a time. Preempting one is `TCB_Suspend`,
//!   continuing it `TCB_Resume`, starting a job a signal on its release notification.
//!   A job that reaches its WCET is suspended there and reported as overrunning.
//! - Threads below the task priority (a best-effort CPU hog) run only when no task is
//!   dispatched, so they cannot delay one beyond the scheduler's own overhead.
//! - Reports (deadline misses, overruns, shed releases) go into a queue that a
//!   reporter thread at [`RtConfig::reporter_priority`] prints, so printing never runs
//!   at the scheduler's priority. [`Summary`] is the per-task table at the end.
//!
//! Task bodies must not block (their budget is counted in time, not in CPU used), call
//! servers (a call cut by a preemption is made again, see
//! [`kaal_core::supervisor::ComponentControl`]) or allocate: a task preempted while it
//! holds the heap's lock keeps it until it runs again, and at the end of a run the
//! tasks are stopped for good, keeping whatever they held (the scheduler itself
//! allocates nothing after that). They log with defmt; a program that calls
//! [`kaal_core::log::print_in_background`] first has those frames printed by a thread
//! at priority 0 instead of inside the task's budget (a task stopped for good in the
//! middle of a frame leaves the frame open, and the program's later frames are
//! counted as dropped).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use kaal_alloc::UntypedAllocator;
use kaal_core::device::Irq;
use kaal_core::supervisor::ComponentControl;
use kaal_core::thread::{JoinHandle, ThreadConfig, Threads};
use kaal_core::time::{Instant, Rate};
use kaal_core::vspace::VSpace;
use kaal_core::{Badge, Notification, Rights};
use kaal_dev::broker::IrqDelivery;
use kaal_dev::oneshot::{ClaimError, OneShot};
use kaal_dev::{Broker, DeviceId};

use crate::component::{ReleaseGate, RELEASE_EVEN, RELEASE_ODD};
use crate::engine::{Dispatcher, Engine, EngineError, Event, Stop, TaskStats};
use crate::policy::{Scheduler, TaskId};
use crate::spec::{DisplayDuration, Nanos, TaskSpec};
use crate::{Task, MAX_TASKS};

/// The badge bit the timer's interrupt sets; tasks' completions use bits `0..MAX_TASKS`.
pub const TIMER_BIT: u64 = 1 << 24;
/// The badge bit a [`Stopper`] sets.
pub const STOP_BIT: u64 = 1 << 25;
/// The badge bit a [`Releaser`] sets (with its task's bit in the timer's pending mask).
pub const RELEASE_BIT: u64 = 1 << 26;
/// The longest the scheduler sleeps without looking (one hour).
const MAX_SLEEP_NS: Nanos = 3_600_000_000_000;
/// How many reports wait for the reporter thread before more are counted as dropped.
const REPORT_QUEUE: usize = 128;

/// Where the scheduler's threads run, and what it measures.
#[derive(Debug, Clone, Copy)]
pub struct RtConfig {
    /// The timer the scheduler claims: `DeviceId::Hpet` (default) or `DeviceId::Pit`.
    pub timer: DeviceId,
    /// The tasks' seL4 priority: below the scheduler's (the caller's), above best-effort
    /// work.
    pub task_priority: u8,
    /// The reporter thread's: below the tasks', above the best-effort work it may delay.
    pub reporter_priority: u8,
    /// The priority of the thread that runs the scheduler (the reporter is raised to it
    /// to print what is left when a run ends).
    pub scheduler_priority: u8,
    /// Each task thread's stack.
    pub stack_size: usize,
    /// How many release-to-start latencies (and task-to-task switches) to keep for
    /// percentiles; 0 keeps only the worst.
    pub samples: usize,
}

impl Default for RtConfig {
    fn default() -> Self {
        Self {
            timer: DeviceId::Hpet,
            task_priority: 200,
            reporter_priority: 150,
            scheduler_priority: 255,
            stack_size: 32 * 1024,
            samples: 0,
        }
    }
}

/// Why the scheduler did not run.
#[derive(Debug)]
pub enum RtError {
    /// The task set was refused (a bad spec, too many tasks, or not schedulable).
    Refused(EngineError),
    /// The timer could not be claimed or driven.
    Timer(ClaimError),
    /// The kernel refused an object or a thread.
    Kernel(kaal_core::Error),
}

impl From<kaal_core::Error> for RtError {
    fn from(e: kaal_core::Error) -> Self {
        RtError::Kernel(e)
    }
}

impl core::error::Error for RtError {}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::Refused(e) => write!(f, "the task set was refused: {e}"),
            RtError::Timer(e) => write!(f, "the scheduler has no timer: {e}"),
            RtError::Kernel(e) => write!(f, "the scheduler cannot start: {e}"),
        }
    }
}

/// The scheduler's timer, and the notification the scheduler waits on: the timer's
/// interrupt (or the time service's signal) and every task's completion set their own
/// badge bits on it. Claimed once, it serves one run after another.
pub struct RtTimer {
    source: TimerSource,
    events: Notification,
    /// Sporadic releases asked for and not yet taken: bit `i` for task `i`.
    pending: &'static AtomicU32,
}

enum TimerSource {
    /// A one-shot timer of the scheduler's own.
    Own { timer: OneShot, irq: Irq },
    /// The system's time service, which signals `events` (registered as `target`).
    Service { timer: kaal_core::time::Timer, target: kaal_core::time::WakeTarget },
}

impl fmt::Debug for RtTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            TimerSource::Own { timer, .. } => write!(f, "RtTimer({timer:?})"),
            TimerSource::Service { .. } => f.write_str("RtTimer(time service)"),
        }
    }
}

impl RtTimer {
    /// Claims `id` (`DeviceId::Hpet`, one shot reaches any deadline, or `DeviceId::Pit`,
    /// at most 55 ms per shot and three port writes per shot) from the broker; the
    /// HPET's registers are mapped into `vspace`, the caller's address space.
    pub fn claim(
        broker: &mut Broker,
        id: DeviceId,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<RtTimer, RtError> {
        let events: Notification = memory.allocate()?;
        Self::claim_on(events, broker, id, memory, vspace)
    }

    /// [`RtTimer::claim`], with the scheduler waiting on `events` (a notification the
    /// caller already handed badged copies of to components, for their completions:
    /// task `i` signals bit `i`).
    pub fn claim_on(
        events: Notification,
        broker: &mut Broker,
        id: DeviceId,
        memory: &mut UntypedAllocator,
        vspace: &mut VSpace,
    ) -> Result<RtTimer, RtError> {
        let badge = Badge::new(TIMER_BIT).expect("fits every kernel's badge");
        let delivery = IrqDelivery::Shared { notification: &events, badge };
        let (timer, irq) =
            OneShot::claim(broker, id, "kaal-sched", delivery, memory, vspace).map_err(RtError::Timer)?;
        Ok(RtTimer::new(TimerSource::Own { timer, irq }, events))
    }

    fn new(source: TimerSource, events: Notification) -> RtTimer {
        RtTimer { source, events, pending: Box::leak(Box::new(AtomicU32::new(0))) }
    }

    /// Deadlines through the system's time service instead (when it holds the machine's
    /// one timer): `timer` is a client of it, and `events` is registered with it as a
    /// target. Each arming is then a call to the service, and a wake-up one more thread
    /// switch.
    pub fn through_service(
        timer: kaal_core::time::Timer,
        events: Notification,
        memory: &mut UntypedAllocator,
    ) -> Result<RtTimer, RtError> {
        let badge = Badge::new(TIMER_BIT).expect("fits every kernel's badge");
        let signal = memory.cspace().mint(&events, Rights::WRITE, badge)?;
        let target = timer.register(&signal)?;
        Ok(RtTimer::new(TimerSource::Service { timer, target }, events))
    }

    /// A handle that ends a run early (from another thread), as if its time were up.
    pub fn stopper(&self, memory: &mut UntypedAllocator) -> Result<Stopper, RtError> {
        let badge = Badge::new(STOP_BIT).expect("fits every kernel's badge");
        Ok(Stopper(memory.cspace().mint(&self.events, Rights::WRITE, badge)?))
    }

    /// A handle that releases sporadic task `task` (from any thread: a task's body, an
    /// interrupt handler's thread). A release earlier than the task's minimum
    /// inter-arrival time is deferred to it, and requests meanwhile fold into that one
    /// (see [`Engine::release`]); a periodic task's is ignored and counted.
    pub fn releaser(&self, task: TaskId, memory: &mut UntypedAllocator) -> Result<Releaser, RtError> {
        let badge = Badge::new(RELEASE_BIT).expect("fits every kernel's badge");
        let signal = memory.cspace().mint(&self.events, Rights::WRITE, badge)?;
        let bit = 1u32
            .checked_shl(task.0 as u32)
            .filter(|_| task.index() < MAX_TASKS)
            .ok_or(RtError::Refused(EngineError::TooMany { limit: MAX_TASKS }))?;
        Ok(Releaser { pending: self.pending, bit, signal })
    }

    /// Sets the timer for `wake` (ns of `clock`); `false` if that point passed while it
    /// was being set.
    fn arm(&mut self, clock: &Clock, wake: Nanos) -> Armed {
        let now = clock.now();
        if wake <= now {
            return Armed::Passed;
        }
        match &mut self.source {
            TimerSource::Own { timer, .. } => match timer.arm(clock.cycles_for(wake - now)) {
                true => Armed::Set,
                false => Armed::Passed,
            },
            TimerSource::Service { timer, target } => {
                // `wake - now` is at most the scheduler's longest sleep (an hour).
                let at = Instant::now().checked_add(Duration::from_nanos(wake - now));
                match at.map(|at| timer.wake_at(at, *target)) {
                    Some(Ok(())) => Armed::Set,
                    _ => Armed::Failed,
                }
            }
        }
    }

    /// After the timer's event: its interrupt wants an acknowledgement.
    fn ack(&self) {
        if let TimerSource::Own { irq, .. } = &self.source {
            let _ = irq.ack();
        }
    }
}

/// Releases one sporadic task ([`RtTimer::releaser`]).
#[derive(Debug)]
pub struct Releaser {
    pending: &'static AtomicU32,
    bit: u32,
    signal: Notification,
}

impl Releaser {
    /// Asks for a release of the task, now.
    pub fn release(&self) {
        self.pending.fetch_or(self.bit, Ordering::Release);
        self.signal.signal();
    }
}

/// Ends a run early ([`RtTimer::stopper`]).
#[derive(Debug)]
pub struct Stopper(Notification);

impl Stopper {
    /// Ends the current (or next) run of the scheduler this came from.
    pub fn stop(&self) {
        self.0.signal();
    }
}

/// What a run needs from the program: the scheduler's timer, memory, and the
/// program's thread spawner.
pub struct Env<'a, 't> {
    /// The timer ([`RtTimer::claim`]).
    pub timer: &'t mut RtTimer,
    /// Memory for threads and notifications.
    pub memory: &'a mut UntypedAllocator,
    /// The caller's thread spawner.
    pub threads: &'a mut Threads,
}

/// A task's body, as the scheduler keeps it.
type Body = Box<dyn FnMut() + Send + 'static>;

/// How a task runs.
enum Kind {
    /// A thread the scheduler starts, running this body once per job.
    Thread(Body),
    /// A component: it waits on `release` for each job and signals bit `i` of the
    /// scheduler's events notification when the job is done.
    Component { release: Notification, control: ComponentControl },
}

/// What the scheduler stops and continues.
enum Control {
    Thread(JoinHandle<()>),
    Component(ComponentControl),
}

impl Control {
    fn suspend(&self) -> kaal_core::Result<()> {
        match self {
            Control::Thread(t) => t.suspend(),
            Control::Component(c) => c.suspend(),
        }
    }

    fn resume(&self) -> kaal_core::Result<()> {
        match self {
            Control::Thread(t) => t.resume(),
            Control::Component(c) => c.resume(),
        }
    }
}

/// The real-time scheduler: a policy and its tasks, run by [`RtScheduler::run`].
pub struct RtScheduler<S: Scheduler> {
    policy: S,
    specs: heapless::Vec<TaskSpec, MAX_TASKS>,
    kinds: Vec<Kind>,
    config: RtConfig,
}

impl<S: Scheduler> fmt::Debug for RtScheduler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RtScheduler({}, {} tasks)", self.policy.name(), self.specs.len())
    }
}

impl<S: Scheduler + Send + 'static> RtScheduler<S> {
    /// A scheduler with `policy` and no tasks yet.
    pub fn new(policy: S) -> Self {
        Self { policy, specs: heapless::Vec::new(), kinds: Vec::new(), config: RtConfig::default() }
    }

    /// Sets where the threads run and what is measured.
    pub fn config(mut self, config: RtConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a task made by `#[rt_task]` (or by hand). Checked, with the rest of the set,
    /// by [`RtScheduler::run`].
    pub fn add_task(&mut self, task: Task) -> Result<TaskId, RtError> {
        let body = task.body;
        self.add(task.spec, body)
    }

    /// Adds a task whose body is a closure (it may keep state between jobs).
    pub fn add(&mut self, spec: TaskSpec, body: impl FnMut() + Send + 'static) -> Result<TaskId, RtError> {
        self.push(spec, Kind::Thread(Box::new(body)))
    }

    /// Adds a component as a task: it waits on `release` for each job
    /// ([`crate::component::Jobs`]) and signals bit `i` (this task's index) of the
    /// timer's events notification when a job is done; `control` stops and continues
    /// it.
    pub fn add_component(
        &mut self,
        spec: TaskSpec,
        release: Notification,
        control: ComponentControl,
    ) -> Result<TaskId, RtError> {
        self.push(spec, Kind::Component { release, control })
    }

    fn push(&mut self, spec: TaskSpec, kind: Kind) -> Result<TaskId, RtError> {
        let id = TaskId(self.specs.len() as u8);
        self.specs.push(spec).map_err(|_| RtError::Refused(EngineError::TooMany { limit: MAX_TASKS }))?;
        self.kinds.push(kind);
        Ok(id)
    }

    /// Checks the task set (each spec, then the policy's admission test) without running
    /// it: what [`RtScheduler::run`] refuses, it refuses here.
    pub fn check(&self) -> Result<(), EngineError>
    where
        S: Clone,
    {
        Engine::new(self.policy.clone(), &self.specs).map(|_| ())
    }

    /// Runs the task set for `how_long`, on the calling thread, then stops every task
    /// (their threads stay suspended, and their memory is not reused) and returns the
    /// table. A refused task set is an error before any task starts.
    pub fn run(self, env: Env<'_, '_>, how_long: Duration) -> Result<Summary, RtError> {
        Ok(self.prepare(env)?.run(how_long))
    }

    /// Everything [`RtScheduler::run`] does before the first release: checks the set,
    /// starts the task threads (waiting for their first job) and the reporter. The
    /// result runs on another thread if need be (a root task that supervises
    /// components meanwhile).
    pub fn prepare<'t>(self, env: Env<'_, 't>) -> Result<Ready<'t, S>, RtError> {
        let RtScheduler { policy, specs, kinds, config } = self;
        let engine = Engine::new(policy, &specs).map_err(RtError::Refused)?;
        let Env { timer, memory, threads } = env;
        // An interrupt of an earlier run's last shot still needs its acknowledgement.
        // Task bits now are components saying they are ready (they were started
        // before the scheduler); an earlier run's tasks are stopped and send none. A
        // stop asked for between runs ends this one.
        let early = timer.events.poll().unwrap_or(0);
        if early & TIMER_BIT != 0 {
            timer.ack();
        }
        timer.pending.store(0, Ordering::Relaxed);

        // Each task's start and end stamps (TSC), written by its thread, read here.
        let stamps: &'static Stamps = Box::leak(Box::new(Stamps::new()));
        let mut tasks = Vec::with_capacity(specs.len());
        for (i, kind) in kinds.into_iter().enumerate() {
            let (release, control) = match kind {
                Kind::Thread(mut body) => {
                    let release: Notification = memory.allocate()?;
                    let mut gate = ReleaseGate::new(memory.cspace().copy(&release, Rights::ALL)?);
                    let done = memory.cspace().mint(
                        &timer.events,
                        Rights::WRITE,
                        Badge::new(1 << i).expect("task bits fit"),
                    )?;
                    let name = specs[i].name;
                    let thread_config =
                        ThreadConfig::new(name).priority(config.task_priority).stack_size(config.stack_size);
                    let thread = threads.spawn(memory, thread_config, move || {
                        // Ready; then a job per release.
                        done.signal();
                        loop {
                            gate.wait_next();
                            stamps.start[i].store(Instant::now().as_cycles(), Ordering::Release);
                            body();
                            stamps.end[i].store(Instant::now().as_cycles(), Ordering::Release);
                            done.signal();
                        }
                    })?;
                    (release, Control::Thread(thread))
                }
                Kind::Component { release, control } => (release, Control::Component(control)),
            };
            tasks.push(TaskThread { releases: Releases::new(&release, memory)?, control });
        }

        let (reports, print) = Reports::new(memory)?;
        let reporter = {
            let config = ThreadConfig::new("rt-report").priority(config.reporter_priority).stack_size(16 * 1024);
            threads.spawn(memory, config, print)?
        };
        let rows = Vec::with_capacity(tasks.len());
        Ok(Ready { engine, timer, tasks, stamps, reports, reporter, config, early, rows })
    }
}

/// A prepared run ([`RtScheduler::prepare`]).
pub struct Ready<'t, S: Scheduler> {
    engine: Engine<S>,
    timer: &'t mut RtTimer,
    tasks: Vec<TaskThread>,
    stamps: &'static Stamps,
    reports: Reports,
    reporter: JoinHandle<()>,
    config: RtConfig,
    /// Bits already seen by `prepare`: tasks that are ready, a stop.
    early: u64,
    /// The table's rows, allocated before any task runs (after the run a task may be
    /// stopped for good holding the heap's lock).
    rows: Vec<Row>,
}

impl<S: Scheduler> fmt::Debug for Ready<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ready({}, {} tasks)", self.engine.policy().name(), self.tasks.len())
    }
}

impl<S: Scheduler> Ready<'_, S> {
    /// Runs for `how_long` (or until a [`Stopper`] says stop), then stops every task
    /// and returns the table.
    pub fn run(self, how_long: Duration) -> Summary {
        let Ready { mut engine, timer, tasks, stamps, reports, reporter, config, early, mut rows } = self;
        let all: u64 = (1u64 << tasks.len()) - 1;
        let stopped = wait_until_ready(timer, early, all, &tasks);
        let clock = Clock::new();
        let mut glue = Glue {
            tasks: &tasks,
            stamps,
            reports,
            releases: [0; MAX_TASKS],
            last_end: None,
            worst_start: [0; MAX_TASKS],
            clock,
            latency: Samples::new(config.samples),
            switch: Samples::new(config.samples),
            decision: Samples::new(config.samples),
            dispatch_failures: 0,
        };
        // The clock's origin is the run's start: the first releases are at 0.
        let start: Nanos = 0;
        let end = start.saturating_add(how_long.as_nanos().min(u64::MAX as u128) as u64);
        let mut next = engine.start(start, &mut glue);
        let mut timer_failed = false;
        loop {
            let now = clock.now();
            if now >= end || stopped {
                break;
            }
            // A run without an end still wakes once in a while (a deadline further off
            // than the timer can reach, or than an `Instant` can hold, is no deadline).
            let wake = next.unwrap_or(end).min(end).min(now.saturating_add(MAX_SLEEP_NS));
            let armed = timer.arm(&clock, wake);
            if armed == Armed::Failed {
                // Without a timer budgets cannot be enforced: end the run, saying why.
                timer_failed = true;
                break;
            }
            if armed == Armed::Set {
                let bits = timer.events.wait();
                let woke = Instant::now().as_cycles();
                let now = clock.now();
                if bits & TIMER_BIT != 0 {
                    timer.ack();
                }
                if now >= end || bits & STOP_BIT != 0 {
                    // The run is over: nothing at or after its end counts.
                    break;
                }
                for i in 0..tasks.len() {
                    if bits & (1 << i) != 0 {
                        next = engine.on_complete(TaskId(i as u8), now, &mut glue);
                    }
                }
                if bits & RELEASE_BIT != 0 {
                    let asked = timer.pending.swap(0, Ordering::Acquire);
                    for i in (0..MAX_TASKS).filter(|i| asked & (1 << i) != 0) {
                        next = engine.release(TaskId(i as u8), now, &mut glue);
                    }
                }
                if next.is_none_or(|at| at <= now) {
                    next = engine.on_timer(now, &mut glue);
                }
                glue.decision.add(Instant::now().as_cycles().saturating_sub(woke));
            } else {
                // The point has passed (or passed while the timer was being set).
                next = engine.on_timer(now, &mut glue);
            }
        }
        for task in &tasks {
            let _ = task.control.suspend();
        }
        // The reporter prints what is left, at the scheduler's priority, so that no
        // busy thread between the two can keep it from finishing.
        let _ = reporter.set_priority(config.scheduler_priority);
        glue.reports.stop_and_wait();
        // The reporter has returned; its thread and the tasks' stay (suspended): a
        // run's threads are not reused.
        drop(reporter);

        rows.extend(engine.tasks().map(|(id, spec, stats)| {
            let measured = clock.nanos(glue.worst_start[id.0 as usize]);
            Row { spec: *spec, stats: TaskStats { worst_jitter: measured.max(stats.worst_jitter), ..*stats } }
        }));
        Summary {
            policy: engine.policy().name(),
            ran: clock.now() - start,
            rows,
            latency: glue.latency.finish(),
            switch: glue.switch.finish(),
            decision: glue.decision.finish(),
            dropped_reports: glue.reports.dropped,
            timer_failed,
            dispatch_failures: glue.dispatch_failures,
        }
    }
}

/// A task's thread (or component) and the notification that starts its jobs.
struct TaskThread {
    releases: Releases,
    control: Control,
}

impl TaskThread {
    /// Whether its thread stamps each job's start and end (the scheduler's own task
    /// threads do; components cannot, they share no memory with it).
    fn stamped(&self) -> bool {
        matches!(self.control, Control::Thread(_))
    }
}

/// The scheduler's end of a task's releases: its notification badged
/// [`RELEASE_EVEN`] and [`RELEASE_ODD`], and which of the two its current job has (see
/// [`crate::component`] for why).
struct Releases {
    even: Notification,
    odd: Notification,
    /// 0 before the first job, then the current job's badge.
    current: core::cell::Cell<u64>,
}

impl Releases {
    fn new(release: &Notification, memory: &mut UntypedAllocator) -> Result<Self, kaal_core::Error> {
        let badge = |b| Badge::new(b).expect("1 and 2 are badges");
        Ok(Self {
            even: memory.cspace().mint(release, Rights::WRITE, badge(RELEASE_EVEN))?,
            odd: memory.cspace().mint(release, Rights::WRITE, badge(RELEASE_ODD))?,
            current: core::cell::Cell::new(0),
        })
    }

    /// Releases the next job.
    fn next(&self) {
        let next = if self.current.get() == RELEASE_EVEN { RELEASE_ODD } else { RELEASE_EVEN };
        self.current.set(next);
        self.again();
    }

    /// Releases the current job again.
    fn again(&self) {
        match self.current.get() {
            RELEASE_EVEN => self.even.signal(),
            RELEASE_ODD => self.odd.signal(),
            _ => {}
        }
    }
}

/// How long the scheduler waits for its tasks to say they are ready before it starts
/// releasing jobs anyway.
const READY_TIMEOUT_NS: Nanos = 2_000_000_000;

/// Waits until every task (bits `all`) said it is ready, or `READY_TIMEOUT_NS`; the
/// tasks that did not are reported. Returns whether a stop came meanwhile.
fn wait_until_ready(timer: &mut RtTimer, early: u64, all: u64, tasks: &[TaskThread]) -> bool {
    let mut seen = early;
    let clock = Clock::new();
    while seen & all != all && seen & STOP_BIT == 0 {
        let now = clock.now();
        if now >= READY_TIMEOUT_NS || timer.arm(&clock, READY_TIMEOUT_NS) != Armed::Set {
            break;
        }
        let bits = timer.events.wait();
        if bits & TIMER_BIT != 0 {
            timer.ack();
        }
        seen |= bits;
    }
    let missing = all & !seen;
    if missing != 0 && seen & STOP_BIT == 0 {
        for i in (0..tasks.len()).filter(|i| missing & (1 << i) != 0) {
            kaal_core::println!("[rt] task {i} did not say it was ready within 2 s; releasing its jobs anyway");
        }
    }
    seen & STOP_BIT != 0
}

/// What setting the timer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Armed {
    /// It will fire.
    Set,
    /// The point has passed (or passed while it was being set).
    Passed,
    /// The time service refused the deadline.
    Failed,
}

/// Start and end stamps of each task's current job, in TSC cycles.
struct Stamps {
    start: [AtomicU64; MAX_TASKS],
    end: [AtomicU64; MAX_TASKS],
}

impl Stamps {
    fn new() -> Self {
        Self { start: core::array::from_fn(|_| AtomicU64::new(0)), end: core::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

/// Nanoseconds since the run began, by the time-stamp counter (reports say "released
/// at 2.5 ms" from the run's start). Conversions go through [`Rate`]s computed once: a
/// multiplication and a shift per event, not a 128-bit division.
#[derive(Clone, Copy)]
struct Clock {
    ns_per_cycle: Rate,
    cycles_per_ns: Rate,
    origin: u64,
}

impl Clock {
    fn new() -> Self {
        let hz = kaal_core::arch::tsc_hz().unwrap_or(1_000_000_000).max(1);
        Self {
            ns_per_cycle: Rate::floor(1_000_000_000, hz),
            cycles_per_ns: Rate::ceil(hz, 1_000_000_000),
            origin: Instant::now().as_cycles(),
        }
    }

    fn now(&self) -> Nanos {
        self.nanos(Instant::now().as_cycles().saturating_sub(self.origin))
    }

    /// A span of `cycles`, in nanoseconds.
    fn nanos(&self, cycles: u64) -> Nanos {
        self.ns_per_cycle.down(cycles)
    }

    /// A span of `nanos`, in cycles (rounded up, so a timer set with it is never early).
    fn cycles_for(&self, nanos: Nanos) -> u64 {
        self.cycles_per_ns.up(nanos)
    }

    /// The counter's value at `at` (ns since the run began).
    fn cycles_at(&self, at: Nanos) -> u64 {
        self.origin.saturating_add(self.cycles_for(at))
    }
}

/// What the engine tells the kernel to do, and what the run measures.
struct Glue<'a> {
    tasks: &'a [TaskThread],
    stamps: &'static Stamps,
    reports: Reports,
    /// Each task's current job's release (ns).
    releases: [Nanos; MAX_TASKS],
    /// The last job to finish, and its end stamp (cycles): a job started next is a
    /// task-to-task switch through the scheduler.
    last_end: Option<(TaskId, u64)>,
    /// Each task's worst release-to-first-instruction time (cycles).
    worst_start: [u64; MAX_TASKS],
    clock: Clock,
    latency: Samples,
    switch: Samples,
    decision: Samples,
    dispatch_failures: u64,
}

impl Glue<'_> {
    fn kernel(&mut self, result: kaal_core::Result<()>) {
        if result.is_err() {
            self.dispatch_failures += 1;
        }
    }
}

impl Dispatcher for Glue<'_> {
    fn begin(&mut self, task: TaskId) {
        if let Some(t) = self.tasks.get(task.0 as usize) {
            t.releases.next();
        }
    }

    fn resume(&mut self, task: TaskId) {
        if let Some(t) = self.tasks.get(task.0 as usize) {
            let r = t.control.resume();
            self.kernel(r);
            // A thread stopped before it ran past its wake-up waits again on seL4
            // 5.0.0; the repeated release lets it through (and is ignored otherwise).
            t.releases.again();
        }
    }

    fn stop(&mut self, task: TaskId, _why: Stop) {
        if let Some(t) = self.tasks.get(task.0 as usize) {
            let r = t.control.suspend();
            self.kernel(r);
        }
    }

    fn report(&mut self, event: &Event) {
        match *event {
            Event::Started { task, release, .. } => {
                if let Some(r) = self.releases.get_mut(task.0 as usize) {
                    *r = release;
                }
            }
            Event::Completed { task, .. } => {
                let i = task.0 as usize;
                if !self.tasks.get(i).is_some_and(TaskThread::stamped) {
                    // A component: its jobs' first instructions are not seen from here.
                    self.last_end = None;
                    return;
                }
                let (start, end) =
                    (self.stamps.start[i].load(Ordering::Acquire), self.stamps.end[i].load(Ordering::Acquire));
                // Release to the task's first instruction of the job: the timer's
                // interrupt, the scheduler's decision, the switch.
                let release_cycles = self.clock.cycles_at(self.releases[i]);
                if start >= release_cycles {
                    self.latency.add(start - release_cycles);
                    self.worst_start[i] = self.worst_start[i].max(start - release_cycles);
                }
                if let Some((_, last_end)) = self.last_end {
                    // The job began right after another ended: a switch through the
                    // scheduler.
                    if start >= last_end && last_end >= release_cycles {
                        self.switch.add(start - last_end);
                    }
                }
                self.last_end = Some((task, end));
            }
            _ => self.reports.push(event),
        }
    }
}

/// Measured durations (cycles): the worst, and up to a capacity of samples for
/// percentiles.
struct Samples {
    worst: u64,
    count: u64,
    total: u64,
    kept: Vec<u32>,
}

impl Samples {
    fn new(capacity: usize) -> Self {
        Self { worst: 0, count: 0, total: 0, kept: Vec::with_capacity(capacity) }
    }

    fn add(&mut self, cycles: u64) {
        self.worst = self.worst.max(cycles);
        self.count += 1;
        self.total = self.total.saturating_add(cycles);
        // Never grows: the capacity was reserved before the run.
        if self.kept.len() < self.kept.capacity() {
            self.kept.push(cycles.min(u32::MAX as u64) as u32);
        }
    }

    fn finish(mut self) -> Percentiles {
        self.kept.sort_unstable();
        let at = |q: usize| -> Option<u64> {
            (!self.kept.is_empty()).then(|| self.kept[(self.kept.len() * q / 100).min(self.kept.len() - 1)] as u64)
        };
        Percentiles {
            count: self.count,
            total: self.total,
            worst: self.worst,
            p50: at(50),
            p99: at(99),
            kept: self.kept.len(),
        }
    }
}

/// A distribution of measured durations, in TSC cycles (instructions under `-icount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    /// How many were measured.
    pub count: u64,
    /// Their sum.
    pub total: u64,
    /// The largest.
    pub worst: u64,
    /// The median of the kept samples.
    pub p50: Option<u64>,
    /// The 99th percentile of the kept samples.
    pub p99: Option<u64>,
    /// How many samples the percentiles are over.
    pub kept: usize,
}

/// One task's line of the table: its spec and what the engine counted, with the worst
/// release jitter as measured where each job's first instruction ran (which includes
/// the switch into it; the engine's own figure stops at the dispatch).
#[derive(Debug, Clone)]
pub struct Row {
    /// The task.
    pub spec: TaskSpec,
    /// Its releases, completions, misses, overruns, sheds, worst response and jitter.
    pub stats: TaskStats,
}

/// What a run did: a line per task, and the scheduler's measured costs.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The policy's name.
    pub policy: &'static str,
    /// How long the run lasted (ns).
    pub ran: Nanos,
    /// Per task.
    pub rows: Vec<Row>,
    /// Release to the task's first instruction (cycles).
    pub latency: Percentiles,
    /// One job's end to the next job's first instruction, through the scheduler
    /// (cycles).
    pub switch: Percentiles,
    /// The scheduler's own work per wake-up, from its wake to its last decision
    /// (cycles).
    pub decision: Percentiles,
    /// Reports the reporter thread could not keep up with.
    pub dropped_reports: u64,
    /// Suspends or resumes the kernel refused (none, unless a task thread is gone).
    pub dispatch_failures: u64,
    /// The time service refused a deadline, which ended the run early (without a timer
    /// budgets cannot be enforced).
    pub timer_failed: bool,
}

impl Summary {
    /// Deadline misses over every task.
    pub fn misses(&self) -> u64 {
        self.rows.iter().map(|r| r.stats.misses).sum()
    }

    /// The row of task `name`.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.spec.name == name)
    }
}

/// A short text on the stack: the table is formatted without the heap, which a task
/// stopped for good at the end of a run may have left locked.
struct Text(heapless::String<32>);

impl Text {
    fn of(value: impl fmt::Display) -> Self {
        use core::fmt::Write as _;
        let mut text = heapless::String::new();
        let _ = write!(text, "{value}");
        Text(text)
    }

    fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[rt] {} ran for {}:", self.policy, DisplayDuration(self.ran))?;
        writeln!(
            f,
            "[rt] {:<12} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7} {:>12} {:>12}",
            "task", "period", "releases", "done", "misses", "overrun", "shed", "skipped", "worst resp", "worst jitter"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "[rt] {:<12} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7} {:>12} {:>12}",
                r.spec.name,
                Text::of(DisplayDuration(r.spec.period.as_nanos() as Nanos)).as_str(),
                r.stats.releases,
                r.stats.completions,
                r.stats.misses,
                r.stats.overruns,
                r.stats.shed,
                r.stats.skipped,
                Text::of(DisplayDuration(r.stats.worst_response)).as_str(),
                Text::of(DisplayDuration(r.stats.worst_jitter)).as_str(),
            )?;
        }
        write!(f, "[rt] total misses {}", self.misses())?;
        if self.dropped_reports > 0 {
            write!(f, "; {} reports dropped (the reporter fell behind)", self.dropped_reports)?;
        }
        if self.dispatch_failures > 0 {
            write!(f, "; {} dispatches the kernel refused", self.dispatch_failures)?;
        }
        if self.timer_failed {
            write!(f, "; the run ended early: the time service refused a deadline")?;
        }
        Ok(())
    }
}

/// The scheduler's end of the reports: a single-producer, single-consumer queue to the
/// reporter thread, and the notifications between them.
struct Reports {
    queue: heapless::spsc::Producer<'static, Event>,
    signals: &'static ReportSignals,
    dropped: u64,
}

/// What the scheduler and the reporter thread share besides the queue.
struct ReportSignals {
    wake: Notification,
    finished: Notification,
    stop: AtomicBool,
}

impl Reports {
    /// The queue and the reporter thread's body.
    fn new(memory: &mut UntypedAllocator) -> Result<(Self, impl FnOnce() + Send + 'static), kaal_core::Error> {
        let signals: &'static ReportSignals = Box::leak(Box::new(ReportSignals {
            wake: memory.allocate()?,
            finished: memory.allocate()?,
            stop: AtomicBool::new(false),
        }));
        let queue: &'static mut heapless::spsc::Queue<Event, REPORT_QUEUE> =
            Box::leak(Box::new(heapless::spsc::Queue::new()));
        let (producer, mut consumer) = queue.split();
        let reporter = move || loop {
            while let Some(event) = consumer.dequeue() {
                print_event(&event);
            }
            if signals.stop.load(Ordering::Acquire) && !consumer.ready() {
                signals.finished.signal();
                return;
            }
            signals.wake.wait();
        };
        Ok((Self { queue: producer, signals, dropped: 0 }, reporter))
    }

    /// Queues a report (dropping it, counted, if the queue is full).
    fn push(&mut self, event: &Event) {
        if self.queue.enqueue(*event).is_err() {
            self.dropped += 1;
        }
        self.signals.wake.signal();
    }

    /// Tells the reporter to print what is left and waits until it has.
    fn stop_and_wait(&self) {
        self.signals.stop.store(true, Ordering::Release);
        self.signals.wake.signal();
        self.signals.finished.wait();
    }
}

fn print_event(event: &Event) {
    use kaal_core::println;
    let d = DisplayDuration;
    match *event {
        Event::DeadlineMiss { name, release, deadline, finish: Some(finish), .. } => println!(
            "[rt] deadline miss: task `{name}` released at {}, deadline {}, finished {}",
            d(release),
            d(deadline),
            d(finish)
        ),
        Event::DeadlineMiss { name, release, deadline, finish: None, .. } => println!(
            "[rt] deadline miss: task `{name}` released at {}, deadline {}, not finished by then",
            d(release),
            d(deadline)
        ),
        Event::Overrun { name, release, budget, .. } => println!(
            "[rt] overrun: task `{name}` (released at {}) used its whole budget of {} and was stopped",
            d(release),
            d(budget)
        ),
        Event::Shed { name, release, .. } => {
            println!("[rt] shed: task `{name}` released at {} (overload: less critical work is dropped)", d(release))
        }
        Event::Skipped { name, release, .. } => {
            println!("[rt] skipped: task `{name}` released at {} while its previous job was unfinished", d(release))
        }
        Event::ModeChange { level } => println!("[rt] criticality level now {}", level.0),
        _ => {}
    }
}

/// CPU work of a known length, for examples, tests and benchmarks: a loop of
/// arithmetic calibrated against the time-stamp counter. Unlike spinning until the
/// counter reaches a time, it takes the same CPU time however often it is preempted,
/// which is what a job's WCET describes.
#[derive(Debug)]
pub struct Work {
    /// Loop iterations per microsecond (0 until calibrated).
    per_us: AtomicU64,
}

impl Work {
    /// Uncalibrated; [`Work::calibrate`] before use.
    pub const fn new() -> Self {
        Self { per_us: AtomicU64::new(0) }
    }

    /// Measures the loop (call it at a priority nothing else preempts, before the
    /// tasks start). Under `-icount` the figure is exact.
    pub fn calibrate(&self) {
        const ROUNDS: u64 = 200_000;
        let start = Instant::now().as_cycles();
        core::hint::black_box(spin(ROUNDS));
        let cycles = (Instant::now().as_cycles() - start).max(1);
        let hz = kaal_core::arch::tsc_hz().unwrap_or(1_000_000_000);
        let per_us = (ROUNDS as u128 * hz as u128 / 1_000_000 / cycles as u128).max(1) as u64;
        self.per_us.store(per_us, Ordering::Relaxed);
    }

    /// Computes for `how_long` of CPU time; returns a checksum so the work is kept.
    pub fn run(&self, how_long: Duration) -> u64 {
        let per_us = self.per_us.load(Ordering::Relaxed).max(1);
        spin((how_long.as_nanos() as u64).saturating_mul(per_us) / 1000)
    }
}

impl Default for Work {
    fn default() -> Self {
        Self::new()
    }
}

#[inline(never)]
fn spin(rounds: u64) -> u64 {
    let mut x = core::hint::black_box(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..rounds {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    }
    x
}
