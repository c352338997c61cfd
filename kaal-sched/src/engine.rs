//! The executive: releases jobs, enforces budgets, detects deadline misses and dispatches what
//! the policy picks, without knowing the kernel.
//!
//! On seL4 the scheduler thread runs at the top priority, owns a one-shot timer and holds the
//! task threads' TCBs. It feeds the [`Engine`] four kinds of event, each with the current time:
//! [`start`](Engine::start), [`on_timer`](Engine::on_timer) (the one-shot fired),
//! [`on_complete`](Engine::on_complete) (a task signalled the end of its job) and
//! [`release`](Engine::release) (a sporadic release from outside). Each call tells the glue what
//! to do through its [`Dispatcher`] and returns when the timer must fire next.
//!
//! A task's thread is a loop: wait for the release notification, do one job, signal completion.
//! From the engine's view it is *waiting* (it must be [`begin`](Dispatcher::begin)-signalled),
//! *running*, or *stopped* mid-job (it must be [`resume`](Dispatcher::resume)d).
//!
//! # Semantics
//!
//! - **Budgets.** A job's budget is its task's WCET, fresh at each release. The running job's
//!   consumption is measured from its dispatch (begin or resume) to the next stop or
//!   completion. When it reaches the WCET the engine calls `stop(task, Stop::Budget)`, reports
//!   [`Event::Overrun`] and calls [`Scheduler::on_block`] with [`Block::BudgetExhausted`]; the
//!   job stays unfinished, stopped, until its task's next release. A completion at the very
//!   instant the budget ends is a completion.
//! - **Skip-over.** A release that finds the task's previous job unfinished (ready, preempted
//!   or stopped at its budget) does not queue a second job: the unfinished job carries on as
//!   the new one, with the new release time, absolute deadline and a fresh budget, and
//!   [`Event::Skipped`] is reported. (The old job's miss was reported at its deadline.) If the
//!   timer comes late by whole periods, the job is released at the latest release due, and
//!   the passed-over releases also count as released and skipped.
//! - **Deadline misses.** The engine wakes at each unfinished job's absolute deadline; a job
//!   still unfinished when the clock reaches it is reported once as
//!   [`Event::DeadlineMiss`] with `finish: None`. A job that completes after its deadline
//!   without that report (a late timer) is reported then, with `finish: Some(..)`. Either way a
//!   job counts one miss at most, and a late job's completion is still a completion.
//! - **Criticality.** When a job of criticality `c` overruns its budget or misses its deadline
//!   and `c` is above the current level, the level rises to `c` ([`Event::ModeChange`]). Every
//!   active job of lower criticality is then dropped (stopped with [`Stop::Shed`] if running,
//!   [`Event::Shed`], [`Block::Shed`]), and releases of such tasks are shed while the level
//!   stays up. At the next idle instant, when no job is active (not even one stopped at its
//!   budget), the level returns to [`Criticality::LOW`]. A dropped job's thread, if it was
//!   stopped mid-job, carries its leftover work into the task's next job, as in skip-over.
//! - **Dispatch.** After every event the engine shows the policy the ready jobs (released,
//!   unfinished, not stopped at their budget) and dispatches its choice: `stop(old,
//!   Stop::Preempted)` for a running task that was not chosen, then `begin(new)` if the new
//!   task's thread is waiting or `resume(new)` if it was stopped mid-job. A job's first
//!   dispatch after its release is reported as [`Event::Started`]; its completion as
//!   [`Event::Completed`].
//! - **Sporadic releases** come through [`Engine::release`]. One arriving before the minimum
//!   inter-arrival time (`period`) since the previous release, or before `start + offset`, is
//!   deferred to that time: not lost and not early. While one is deferred, further requests
//!   fold into it (counted as `coalesced`).
//! - **Untrusted signals.** A completion from a task that is not running, or a release for a
//!   periodic task, is ignored and counted in its [`TaskStats::spurious`]; one naming no task
//!   counts in [`Engine::spurious`]. Nothing a task or a policy does makes the engine panic.
//!   The clock is taken as monotonic: an earlier `now` than the last one seen counts as the
//!   last one.
//!
//! Every event costs O([`MAX_TASKS`]) and allocates nothing.

use core::fmt;

use heapless::Vec;

use crate::admission::Refusal;
use crate::policy::{Block, Decision, ReadyJob, Scheduler, TaskId};
use crate::spec::{Arrival, Criticality, DisplayDuration, Nanos, SpecError, TaskSpec, Timing};
use crate::MAX_TASKS;

/// Why the glue must stop a running task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stop {
    /// Another job was chosen; this one resumes later.
    Preempted,
    /// The job used its whole budget; it waits for its task's next release.
    Budget,
    /// The job was dropped for a more critical task; the thread carries its leftover work
    /// into its task's next job.
    Shed,
}

/// What the engine asks of the kernel glue. On seL4: signal a notification, resume or suspend
/// a TCB, log.
pub trait Dispatcher {
    /// Let `task` begin a new job (signal its release notification). Its thread was waiting.
    fn begin(&mut self, task: TaskId);
    /// Resume `task`, previously stopped mid-job.
    fn resume(&mut self, task: TaskId);
    /// Stop `task` mid-job (suspend its thread).
    fn stop(&mut self, task: TaskId, why: Stop);
    /// Something worth reporting happened.
    fn report(&mut self, event: &Event);
}

/// Something worth reporting. [`Display`](fmt::Display) gives a one-line log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A job was not finished by its deadline.
    DeadlineMiss {
        /// The task.
        task: TaskId,
        /// Its name.
        name: &'static str,
        /// The job's release time.
        release: Nanos,
        /// The job's absolute deadline.
        deadline: Nanos,
        /// When it finished; `None`: not finished when detected at the deadline.
        finish: Option<Nanos>,
    },
    /// A job used its whole budget and was stopped.
    Overrun {
        /// The task.
        task: TaskId,
        /// Its name.
        name: &'static str,
        /// The job's release time.
        release: Nanos,
        /// The budget it used up (the WCET).
        budget: Nanos,
    },
    /// A release was not made, or an active job dropped, because of a higher criticality level.
    Shed {
        /// The task.
        task: TaskId,
        /// Its name.
        name: &'static str,
        /// The release time of the job shed.
        release: Nanos,
    },
    /// A release found the previous job still unfinished; that job carries on as the new one.
    Skipped {
        /// The task.
        task: TaskId,
        /// Its name.
        name: &'static str,
        /// The new release time.
        release: Nanos,
    },
    /// The criticality level changed.
    ModeChange {
        /// The new level.
        level: Criticality,
    },
    /// A job was dispatched for the first time since its release (jitter = `at - release`).
    Started {
        /// The task.
        task: TaskId,
        /// The job's release time.
        release: Nanos,
        /// When it was dispatched.
        at: Nanos,
    },
    /// A job finished.
    Completed {
        /// The task.
        task: TaskId,
        /// The job's release time.
        release: Nanos,
        /// When it finished.
        finish: Nanos,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = DisplayDuration;
        match *self {
            Self::DeadlineMiss { name, release, deadline, finish, .. } => {
                write!(f, "deadline miss: task `{name}` released at {}, due at {}, ", d(release), d(deadline))?;
                match finish {
                    Some(finish) => write!(f, "finished at {}", d(finish)),
                    None => f.write_str("not finished"),
                }
            }
            Self::Overrun { name, release, budget, .. } => write!(
                f,
                "overrun: task `{name}` used its {} budget (job released at {}) and was stopped",
                d(budget),
                d(release)
            ),
            Self::Shed { name, release, .. } => {
                write!(f, "shed: task `{name}` job released at {} dropped for more critical work", d(release))
            }
            Self::Skipped { name, release, .. } => {
                write!(f, "skipped: task `{name}` released at {} with its previous job unfinished", d(release))
            }
            Self::ModeChange { level } => write!(f, "criticality level now {level}"),
            Self::Started { task, release, at } => {
                write!(f, "task {task} started at {} (released at {})", d(at), d(release))
            }
            Self::Completed { task, release, finish } => {
                write!(f, "task {task} completed at {} (released at {})", d(finish), d(release))
            }
        }
    }
}

/// What happened to one task so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskStats {
    /// Jobs released (including skip-over releases).
    pub releases: u64,
    /// Jobs completed (including late ones).
    pub completions: u64,
    /// Jobs that missed their deadline.
    pub misses: u64,
    /// Jobs stopped at their budget.
    pub overruns: u64,
    /// Releases shed and active jobs dropped under a higher criticality level.
    pub shed: u64,
    /// Releases that found the previous job unfinished.
    pub skipped: u64,
    /// Sporadic releases held back to the minimum inter-arrival time.
    pub deferred: u64,
    /// Sporadic release requests folded into one already deferred.
    pub coalesced: u64,
    /// Ignored signals: completions while not running, releases of a periodic task.
    pub spurious: u64,
    /// The longest finish − release of a completed job.
    pub worst_response: Nanos,
    /// The longest first dispatch − release of a job.
    pub worst_jitter: Nanos,
    /// CPU time used by the task's jobs.
    pub total_busy: Nanos,
}

/// Why [`Engine::new`] refused a task set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineError {
    /// More tasks than one engine runs.
    TooMany {
        /// The most it runs: [`MAX_TASKS`].
        limit: usize,
    },
    /// A spec is wrong on its own.
    InvalidSpec(SpecError),
    /// Two tasks have the same name.
    DuplicateName {
        /// The name.
        name: &'static str,
    },
    /// The policy's admission test refused the set.
    Refused(Refusal),
}

impl EngineError {
    /// The task at fault, if the error is about one.
    pub fn task(&self) -> Option<&'static str> {
        match *self {
            Self::TooMany { .. } => None,
            Self::InvalidSpec(error) => error.task(),
            Self::DuplicateName { name } => Some(name),
            Self::Refused(refusal) => refusal.task(),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooMany { limit } => write!(
                f,
                "more tasks than the {limit} one scheduler can run; merge tasks or give some to another scheduler"
            ),
            Self::InvalidSpec(error) => error.fmt(f),
            Self::DuplicateName { name } => {
                write!(f, "two tasks are named `{name}`; names identify tasks in reports, so rename one")
            }
            Self::Refused(refusal) => refusal.fmt(f),
        }
    }
}

impl core::error::Error for EngineError {}

impl From<SpecError> for EngineError {
    fn from(error: SpecError) -> Self {
        Self::InvalidSpec(error)
    }
}

impl From<Refusal> for EngineError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// A task's thread, as far as the engine has told the glue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thread {
    /// Blocked on its release notification: `begin` it.
    Waiting,
    /// Dispatched.
    Running,
    /// Suspended mid-job: `resume` it.
    Stopped,
}

/// A released, unfinished job.
#[derive(Debug, Clone, Copy)]
struct Job {
    release: Nanos,
    deadline: Nanos,
    /// Budget left.
    budget: Nanos,
    /// Dispatched since its release (`Started` reported).
    started: bool,
    miss_reported: bool,
    /// Stopped at its budget: not ready until the next release.
    exhausted: bool,
}

/// One task's spec, state and statistics.
#[derive(Debug, Clone)]
struct Slot {
    spec: TaskSpec,
    timing: Timing,
    stats: TaskStats,
    thread: Thread,
    job: Option<Job>,
    /// Periodic: the next release. Sporadic: a deferred (or just requested) release.
    next_release: Option<Nanos>,
    /// Sporadic: the earliest time the next release may take effect.
    earliest_release: Nanos,
}

/// Releases passed over by a late timer that are reported one by one.
const MAX_PASSED_REPORTS: u64 = 8;

/// The kernel-independent executive over a policy `S`. See the [module docs](self) for what it
/// does at each event.
pub struct Engine<S: Scheduler> {
    policy: S,
    slots: Vec<Slot, MAX_TASKS>,
    running: Option<TaskId>,
    /// When the running job's consumption was last accounted.
    accounted_at: Nanos,
    level: Criticality,
    now: Nanos,
    started: bool,
    /// The policy's `until`, if still ahead.
    policy_wake: Option<Nanos>,
    spurious: u64,
    policy_errors: u64,
}

impl<S: Scheduler> Engine<S> {
    /// Checks every spec ([`TaskSpec::check`]), at most [`MAX_TASKS`] of them, with unique
    /// names, then asks `policy.admit`; calls [`Scheduler::on_create`] for each task. Task `i`
    /// of `tasks` is `TaskId(i)`.
    pub fn new(mut policy: S, tasks: &[TaskSpec]) -> Result<Self, EngineError> {
        if tasks.len() > MAX_TASKS {
            return Err(EngineError::TooMany { limit: MAX_TASKS });
        }
        let mut slots: Vec<Slot, MAX_TASKS> = Vec::new();
        for spec in tasks {
            spec.check()?;
            if slots.iter().any(|slot| slot.spec.name == spec.name) {
                return Err(EngineError::DuplicateName { name: spec.name });
            }
            let slot = Slot {
                spec: *spec,
                timing: spec.timing(),
                stats: TaskStats::default(),
                thread: Thread::Waiting,
                job: None,
                next_release: None,
                earliest_release: 0,
            };
            // Cannot fail: there are at most MAX_TASKS specs.
            let _ = slots.push(slot);
        }
        policy.admit(tasks)?;
        for (index, slot) in slots.iter().enumerate() {
            policy.on_create(task_id(index), &slot.spec);
        }
        Ok(Engine {
            policy,
            slots,
            running: None,
            accounted_at: 0,
            level: Criticality::LOW,
            now: 0,
            started: false,
            policy_wake: None,
            spurious: 0,
            policy_errors: 0,
        })
    }

    /// Starts the clock at `now`: periodic tasks are first released at `now + offset`, sporadic
    /// ones accepted from then on. Returns the next time the glue must call
    /// [`on_timer`](Self::on_timer): the earliest of the next periodic or deferred release, the
    /// earliest unreported deadline of an active job, the running job's budget end and the
    /// policy's `until`. A second call changes nothing.
    pub fn start(&mut self, now: Nanos, d: &mut impl Dispatcher) -> Option<Nanos> {
        if self.started {
            return self.next_wake();
        }
        self.started = true;
        self.now = now;
        self.accounted_at = now;
        for slot in &mut self.slots {
            let first = now.saturating_add(slot.timing.offset);
            match slot.spec.arrival {
                Arrival::Periodic => slot.next_release = Some(first),
                Arrival::Sporadic => slot.earliest_release = first,
            }
        }
        self.settle(now, d)
    }

    /// The timer fired (or the glue wants the engine to catch up): account time, release,
    /// enforce budgets, detect misses, dispatch. Returns the next wake-up as for
    /// [`start`](Self::start); `None` before `start`.
    pub fn on_timer(&mut self, now: Nanos, d: &mut impl Dispatcher) -> Option<Nanos> {
        if !self.started {
            return None;
        }
        let now = self.advance(now);
        self.settle(now, d)
    }

    /// The running task's job finished (the task signalled it). A completion from a task that
    /// is not the one running, or that has no active job, is ignored and counted (its
    /// [`TaskStats::spurious`], or [`Engine::spurious`] for an unknown id) — never a panic: it
    /// may come from a confused or hostile task.
    pub fn on_complete(&mut self, task: TaskId, now: Nanos, d: &mut impl Dispatcher) -> Option<Nanos> {
        if !self.started {
            self.count_spurious(task);
            return None;
        }
        let now = self.advance(now);
        let index = task.index();
        let has_job = self.slots.get(index).is_some_and(|slot| slot.job.is_some());
        if self.running == Some(task) && has_job {
            self.complete(index, now, d);
        } else {
            self.count_spurious(task);
        }
        self.settle(now, d)
    }

    /// A sporadic release from outside. One arriving before the minimum inter-arrival time
    /// since the previous release (or before `start + offset`) is deferred to it: not lost, not
    /// early; requests arriving while one is deferred fold into it. A periodic task's or an
    /// unknown id is ignored and counted, as is any release before [`start`](Self::start).
    pub fn release(&mut self, task: TaskId, now: Nanos, d: &mut impl Dispatcher) -> Option<Nanos> {
        let sporadic = self.slots.get(task.index()).is_some_and(|slot| slot.spec.arrival == Arrival::Sporadic);
        if !self.started || !sporadic {
            self.count_spurious(task);
            return if self.started { self.next_wake() } else { None };
        }
        let now = self.advance(now);
        let slot = &mut self.slots[task.index()];
        if slot.next_release.is_some() {
            slot.stats.coalesced += 1;
        } else {
            if slot.earliest_release > now {
                slot.stats.deferred += 1;
            }
            slot.next_release = Some(slot.earliest_release.max(now));
        }
        self.settle(now, d)
    }

    /// What happened to `task` so far; `None` for an unknown id.
    pub fn stats(&self, task: TaskId) -> Option<&TaskStats> {
        self.slots.get(task.index()).map(|slot| &slot.stats)
    }

    /// Every task with its spec and statistics, in id order.
    pub fn tasks(&self) -> impl Iterator<Item = (TaskId, &TaskSpec, &TaskStats)> {
        self.slots.iter().enumerate().map(|(index, slot)| (task_id(index), &slot.spec, &slot.stats))
    }

    /// The policy.
    pub fn policy(&self) -> &S {
        &self.policy
    }

    /// The task dispatched now, if any.
    pub fn running(&self) -> Option<TaskId> {
        self.running
    }

    /// The current criticality level.
    pub fn level(&self) -> Criticality {
        self.level
    }

    /// Ignored signals that named no task (or came before [`start`](Self::start) for one).
    pub fn spurious(&self) -> u64 {
        self.spurious
    }

    /// Decisions of the policy naming a task that was not ready (the processor idled instead).
    pub fn policy_errors(&self) -> u64 {
        self.policy_errors
    }

    fn count_spurious(&mut self, task: TaskId) {
        match self.slots.get_mut(task.index()) {
            Some(slot) if self.started => slot.stats.spurious += 1,
            _ => self.spurious += 1,
        }
    }

    /// Moves the clock to `now` (never backwards) and charges the running job for the time.
    fn advance(&mut self, now: Nanos) -> Nanos {
        let now = now.max(self.now);
        if let Some(task) = self.running {
            let elapsed = now - self.accounted_at;
            let slot = &mut self.slots[task.index()];
            slot.stats.total_busy = slot.stats.total_busy.saturating_add(elapsed);
            if let Some(job) = &mut slot.job {
                job.budget = job.budget.saturating_sub(elapsed);
            }
        }
        self.accounted_at = now;
        self.now = now;
        now
    }

    /// Everything due at `now`, in order: budgets, deadlines, the idle-instant reset, releases,
    /// then dispatch. Returns the next wake-up.
    fn settle(&mut self, now: Nanos, d: &mut impl Dispatcher) -> Option<Nanos> {
        if let Some(task) = self.running {
            if self.slots[task.index()].job.is_some_and(|job| job.budget == 0) {
                self.exhaust(task.index(), d);
            }
        }
        for index in 0..self.slots.len() {
            let due = self.slots[index].job.filter(|job| !job.miss_reported && job.deadline <= now);
            if due.is_some() {
                self.miss(index, None, d);
            }
        }
        if self.level > Criticality::LOW && self.slots.iter().all(|slot| slot.job.is_none()) {
            self.level = Criticality::LOW;
            d.report(&Event::ModeChange { level: self.level });
        }
        for index in 0..self.slots.len() {
            self.release_due(index, now, d);
        }
        self.dispatch(now, d);
        self.next_wake()
    }

    /// Makes `index`'s release if one is due by `now`.
    fn release_due(&mut self, index: usize, now: Nanos, d: &mut impl Dispatcher) {
        let slot = &mut self.slots[index];
        let Some(due) = slot.next_release.filter(|&due| due <= now) else {
            return;
        };
        let (at, passed_over) = match slot.spec.arrival {
            Arrival::Periodic => {
                let period = slot.timing.period.max(1);
                let passed_over = (now - due) / period;
                let at = due.saturating_add(passed_over.saturating_mul(period));
                slot.next_release = Some(at.saturating_add(period));
                (at, passed_over)
            }
            Arrival::Sporadic => {
                slot.next_release = None;
                slot.earliest_release = due.saturating_add(slot.timing.period);
                (due, 0)
            }
        };
        self.make_release(index, at, passed_over, d);
    }

    /// Releases a job of `index` at `at` (or sheds it), `passed_over` releases after a late timer.
    fn make_release(&mut self, index: usize, at: Nanos, passed_over: u64, d: &mut impl Dispatcher) {
        let level = self.level;
        let slot = &mut self.slots[index];
        let (task, name) = (task_id(index), slot.spec.name);
        if slot.spec.criticality < level {
            slot.stats.shed += 1 + passed_over;
            d.report(&Event::Shed { task, name, release: at });
            return;
        }
        slot.stats.releases += 1 + passed_over;
        slot.stats.skipped += passed_over;
        // Releases the timer came too late for never ran: each is a missed deadline
        // (the engine woke only after the next one was due).
        if passed_over > 0 {
            slot.stats.misses += passed_over;
            let (period, relative) = (slot.timing.period.max(1), slot.timing.deadline);
            let criticality = slot.spec.criticality;
            // Each is reported, up to a few (a timer hours late would otherwise mean
            // millions of reports); the count has them all.
            for k in (1..=passed_over.min(MAX_PASSED_REPORTS)).rev() {
                let release = at.saturating_sub(k.saturating_mul(period));
                let deadline = release.saturating_add(relative);
                d.report(&Event::DeadlineMiss { task, name, release, deadline, finish: None });
            }
            self.raise(criticality, d);
        }
        let slot = &mut self.slots[index];
        let fresh = Job {
            release: at,
            deadline: at.saturating_add(slot.timing.deadline),
            budget: slot.timing.wcet,
            started: false,
            miss_reported: false,
            exhausted: false,
        };
        if slot.job.is_some() {
            slot.stats.skipped += 1;
            d.report(&Event::Skipped { task, name, release: at });
        }
        slot.job = Some(fresh);
        let job = ready_job(index, slot, &fresh);
        self.policy.on_release(&job);
    }

    /// The running job `index` used its whole budget.
    fn exhaust(&mut self, index: usize, d: &mut impl Dispatcher) {
        let task = task_id(index);
        let slot = &mut self.slots[index];
        let Some(job) = &mut slot.job else {
            return;
        };
        job.exhausted = true;
        let release = job.release;
        d.stop(task, Stop::Budget);
        slot.thread = Thread::Stopped;
        self.running = None;
        slot.stats.overruns += 1;
        d.report(&Event::Overrun { task, name: slot.spec.name, release, budget: slot.timing.wcet });
        let criticality = slot.spec.criticality;
        self.policy.on_block(task, Block::BudgetExhausted);
        self.raise(criticality, d);
    }

    /// The job of `index` missed its deadline (`finish`: when it completed, if it did).
    fn miss(&mut self, index: usize, finish: Option<Nanos>, d: &mut impl Dispatcher) {
        let slot = &mut self.slots[index];
        let Some(job) = &mut slot.job else {
            return;
        };
        job.miss_reported = true;
        slot.stats.misses += 1;
        let (release, deadline) = (job.release, job.deadline);
        d.report(&Event::DeadlineMiss { task: task_id(index), name: slot.spec.name, release, deadline, finish });
        let criticality = slot.spec.criticality;
        self.raise(criticality, d);
    }

    /// The running job `index` finished at `now`.
    fn complete(&mut self, index: usize, now: Nanos, d: &mut impl Dispatcher) {
        let task = task_id(index);
        let slot = &mut self.slots[index];
        let Some(job) = slot.job else {
            return;
        };
        let late = now > job.deadline && !job.miss_reported;
        if late {
            // Reported before the job is gone, so that `miss` finds it.
            self.miss(index, Some(now), d);
        }
        let slot = &mut self.slots[index];
        slot.job = None;
        slot.thread = Thread::Waiting;
        self.running = None;
        slot.stats.completions += 1;
        slot.stats.worst_response = slot.stats.worst_response.max(now - job.release.min(now));
        d.report(&Event::Completed { task, release: job.release, finish: now });
        self.policy.on_block(task, Block::Completed);
    }

    /// Raises the criticality level to `criticality` if it is higher, dropping every active job
    /// of lower criticality.
    fn raise(&mut self, criticality: Criticality, d: &mut impl Dispatcher) {
        if criticality <= self.level {
            return;
        }
        self.level = criticality;
        d.report(&Event::ModeChange { level: criticality });
        for index in 0..self.slots.len() {
            let task = task_id(index);
            let slot = &mut self.slots[index];
            if slot.spec.criticality >= criticality {
                continue;
            }
            let Some(job) = slot.job.take() else {
                continue;
            };
            if slot.thread == Thread::Running {
                d.stop(task, Stop::Shed);
                slot.thread = Thread::Stopped;
                self.running = None;
            }
            slot.stats.shed += 1;
            d.report(&Event::Shed { task, name: slot.spec.name, release: job.release });
            self.policy.on_block(task, Block::Shed);
        }
    }

    /// Asks the policy and carries out its decision.
    fn dispatch(&mut self, now: Nanos, d: &mut impl Dispatcher) {
        let mut ready: Vec<ReadyJob, MAX_TASKS> = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(job) = slot.job.filter(|job| !job.exhausted) {
                // Cannot fail: one job per task at most.
                let _ = ready.push(ready_job(index, slot, &job));
            }
        }
        let decision = if ready.is_empty() { Decision::IDLE } else { self.policy.schedule(now, &ready, self.running) };
        let mut choice = decision.run;
        if choice.is_some_and(|task| !ready.iter().any(|job| job.task == task)) {
            self.policy_errors += 1;
            choice = None;
        }
        self.policy_wake = decision.until.filter(|&until| until > now);
        if choice != self.running {
            if let Some(old) = self.running.take() {
                d.stop(old, Stop::Preempted);
                self.slots[old.index()].thread = Thread::Stopped;
            }
            if let Some(new) = choice {
                let slot = &mut self.slots[new.index()];
                match slot.thread {
                    Thread::Waiting => d.begin(new),
                    Thread::Stopped => d.resume(new),
                    Thread::Running => {}
                }
                slot.thread = Thread::Running;
                self.running = Some(new);
                self.accounted_at = now;
            }
        }
        if let Some(task) = self.running {
            let slot = &mut self.slots[task.index()];
            if let Some(job) = slot.job.as_mut().filter(|job| !job.started) {
                job.started = true;
                let jitter = now - job.release.min(now);
                slot.stats.worst_jitter = slot.stats.worst_jitter.max(jitter);
                d.report(&Event::Started { task, release: job.release, at: now });
            }
        }
    }

    /// The earliest of: the next release, the earliest unreported deadline of an active job, the
    /// running job's budget end, the policy's `until`.
    fn next_wake(&self) -> Option<Nanos> {
        let releases = self.slots.iter().filter_map(|slot| slot.next_release);
        let deadlines =
            self.slots.iter().filter_map(|slot| slot.job.filter(|job| !job.miss_reported)).map(|job| job.deadline);
        let budget_end = self
            .running
            .and_then(|task| self.slots[task.index()].job)
            .map(|job| self.accounted_at.saturating_add(job.budget));
        releases.chain(deadlines).chain(budget_end).chain(self.policy_wake).min()
    }
}

impl<S: Scheduler + fmt::Debug> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.policy)
            .field("running", &self.running)
            .field("level", &self.level)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// `TaskId` of slot `index` (< MAX_TASKS, so it fits).
fn task_id(index: usize) -> TaskId {
    TaskId(index as u8)
}

fn ready_job(index: usize, slot: &Slot, job: &Job) -> ReadyJob {
    ReadyJob {
        task: task_id(index),
        release: job.release,
        deadline: job.deadline,
        remaining: job.budget,
        criticality: slot.spec.criticality,
    }
}

#[cfg(test)]
mod tests;
