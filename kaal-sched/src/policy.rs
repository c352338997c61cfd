//! Scheduling policies: who runs next. The [`Scheduler`] trait is the extension point; three
//! policies ship with it.
//!
//! The engine ([`crate::engine`]) owns time, budgets, releases and deadlines; a policy only
//! ranks the ready jobs it is shown, so it holds no kernel resources and needs no `unsafe`.
//! After every event the engine calls [`Scheduler::schedule`] with the ready jobs (never an
//! empty list) and dispatches the job the policy names.
//!
//! | policy | picks | admits |
//! |---|---|---|
//! | [`Edf`] | earliest absolute deadline | [`admission::edf`] (exact) |
//! | [`FixedPriority`] | shortest period or deadline | [`admission::response_times`] (exact) |
//! | [`RoundRobin`] | each ready job in turn, a time slice each | U ≤ 1 only: no deadline guarantee |

use core::fmt;
use core::time::Duration;

use crate::admission::{self, Refusal};
use crate::spec::{nanos, Criticality, TaskSpec};
use crate::{Nanos, MAX_TASKS};

/// A task of an engine: its index in the task list the engine was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u8);

impl TaskId {
    /// The index into the task list.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A released, unfinished job that may run now, as a policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyJob {
    /// Whose job it is.
    pub task: TaskId,
    /// When it was released.
    pub release: Nanos,
    /// Its absolute deadline.
    pub deadline: Nanos,
    /// Budget left: how much more CPU time it may use before it is stopped.
    pub remaining: Nanos,
    /// Its task's criticality.
    pub criticality: Criticality,
}

/// What a policy wants dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// The task to run, `None` to leave the processor idle. A task that is not among the ready
    /// jobs counts as `None` (and as a policy error in the engine's statistics).
    pub run: Option<TaskId>,
    /// The policy wants to be asked again at this time even if nothing else happens (a time
    /// slice end). A time not after `now` is ignored.
    pub until: Option<Nanos>,
}

impl Decision {
    /// Run nothing.
    pub const IDLE: Decision = Decision { run: None, until: None };

    /// Run `task` until the next event.
    pub const fn run(task: TaskId) -> Decision {
        Decision { run: Some(task), until: None }
    }
}

/// Why a job stopped being ready, as told to [`Scheduler::on_block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    /// The job finished.
    Completed,
    /// The job used its whole budget (WCET) and is stopped until its task's next release.
    BudgetExhausted,
    /// The job was dropped because a more critical task overran or missed a deadline.
    Shed,
}

/// A scheduling policy: ranks ready jobs. Implement it for a policy of your own; the engine
/// keeps the budgets and deadlines whatever the policy decides.
///
/// ```
/// use kaal_sched::{Decision, ReadyJob, Scheduler, TaskId};
///
/// /// Runs the highest task index first (a fixed priority by position in the list).
/// struct LastFirst;
///
/// impl Scheduler for LastFirst {
///     fn name(&self) -> &'static str {
///         "last-first"
///     }
///     fn schedule(&mut self, _now: u64, ready: &[ReadyJob], _running: Option<TaskId>) -> Decision {
///         Decision { run: ready.iter().map(|job| job.task).max(), until: None }
///     }
/// }
/// ```
pub trait Scheduler {
    /// Names the policy in reports and refusals, e.g. `"edf"`.
    fn name(&self) -> &'static str;

    /// Whether the task set can be scheduled by this policy; called once, by `Engine::new`,
    /// after every spec has passed [`TaskSpec::check`]. The default admits anything: a custom
    /// policy should override it with a test that is sufficient for its own rule, or document
    /// that it gives no guarantee.
    fn admit(&self, tasks: &[TaskSpec]) -> Result<(), Refusal> {
        let _ = tasks;
        Ok(())
    }

    /// Task `task` exists, with `spec`; called once per task, in order, after admission.
    fn on_create(&mut self, task: TaskId, spec: &TaskSpec) {
        let _ = (task, spec);
    }

    /// A job was released: a new one, or an unfinished one carried over into the new release
    /// (skip-over), with its new release time, deadline and budget.
    fn on_release(&mut self, job: &ReadyJob) {
        let _ = job;
    }

    /// `task`'s job stopped being ready, for the reason `why`. (Preemption is the policy's own
    /// decision and is not reported.)
    fn on_block(&mut self, task: TaskId, why: Block) {
        let _ = (task, why);
    }

    /// Picks the job to run among `ready`, which is never empty and excludes jobs stopped at
    /// their budget. `running` is the task dispatched now, if any, so that a policy can avoid
    /// needless preemption on ties.
    fn schedule(&mut self, now: Nanos, ready: &[ReadyJob], running: Option<TaskId>) -> Decision;
}

/// Earliest deadline first: the ready job with the earliest absolute deadline runs; on a tie
/// the running job keeps the processor, then the lowest task index wins. Admits exactly the
/// sets [`admission::edf`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Edf;

impl Edf {
    /// The EDF policy.
    pub const fn new() -> Self {
        Edf
    }
}

impl Scheduler for Edf {
    fn name(&self) -> &'static str {
        "edf"
    }

    fn admit(&self, tasks: &[TaskSpec]) -> Result<(), Refusal> {
        admission::edf(tasks).map(drop)
    }

    fn schedule(&mut self, _now: Nanos, ready: &[ReadyJob], running: Option<TaskId>) -> Decision {
        let earliest = ready.iter().min_by_key(|job| (job.deadline, Some(job.task) != running, job.task));
        Decision { run: earliest.map(|job| job.task), until: None }
    }
}

/// How [`FixedPriority`] ranks tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PriorityRule {
    RateMonotonic,
    DeadlineMonotonic,
}

/// Fixed priorities by period (rate-monotonic) or by relative deadline (deadline-monotonic),
/// ties by task index, preemptive. Admits what [`admission::response_times`] accepts under the
/// same order, unless made with [`FixedPriority::without_admission`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedPriority {
    rule: PriorityRule,
    admission: bool,
    /// The period or deadline of each task, by index: lower runs first.
    rank_keys: [Duration; MAX_TASKS],
}

impl FixedPriority {
    /// Shorter period, higher priority.
    pub const fn rate_monotonic() -> Self {
        Self::new(PriorityRule::RateMonotonic)
    }

    /// Shorter relative deadline, higher priority (optimal among fixed priorities for
    /// deadlines up to the period).
    pub const fn deadline_monotonic() -> Self {
        Self::new(PriorityRule::DeadlineMonotonic)
    }

    const fn new(rule: PriorityRule) -> Self {
        FixedPriority { rule, admission: true, rank_keys: [Duration::MAX; MAX_TASKS] }
    }

    /// The same policy admitting any task set: for demonstrating what happens to a set the
    /// analysis refuses (deadline misses, detected and reported). Not for real systems.
    pub const fn without_admission(mut self) -> Self {
        self.admission = false;
        self
    }

    fn rank_key(&self, task: TaskId) -> Duration {
        self.rank_keys.get(task.index()).copied().unwrap_or(Duration::MAX)
    }
}

impl Scheduler for FixedPriority {
    fn name(&self) -> &'static str {
        match self.rule {
            PriorityRule::RateMonotonic => "rate-monotonic",
            PriorityRule::DeadlineMonotonic => "deadline-monotonic",
        }
    }

    fn admit(&self, tasks: &[TaskSpec]) -> Result<(), Refusal> {
        if !self.admission {
            return Ok(());
        }
        let order = match self.rule {
            PriorityRule::RateMonotonic => admission::rate_monotonic_order(tasks),
            PriorityRule::DeadlineMonotonic => admission::deadline_monotonic_order(tasks),
        };
        admission::response_times(tasks, &order).map(drop).map_err(|refusal| refusal.with_policy(self.name()))
    }

    fn on_create(&mut self, task: TaskId, spec: &TaskSpec) {
        let key = match self.rule {
            PriorityRule::RateMonotonic => spec.period,
            PriorityRule::DeadlineMonotonic => spec.deadline,
        };
        if let Some(slot) = self.rank_keys.get_mut(task.index()) {
            *slot = key;
        }
    }

    fn schedule(&mut self, _now: Nanos, ready: &[ReadyJob], _running: Option<TaskId>) -> Decision {
        let highest = ready.iter().min_by_key(|job| (self.rank_key(job.task), job.task));
        Decision { run: highest.map(|job| job.task), until: None }
    }
}

/// Round robin, as an example of a policy with its own clock: the ready jobs take turns in
/// task-index order, each for up to `quantum` (or until it completes or exhausts its budget).
///
/// It gives no deadline guarantee. Its admission only refuses sets with U > 1, which no policy
/// can schedule; misses of an admitted set are detected and reported by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundRobin {
    quantum: Nanos,
    /// The task holding the current time slice, and when the slice ends.
    slice: Option<(TaskId, Nanos)>,
}

impl RoundRobin {
    /// The shortest time slice: shorter ones are raised to it, since the scheduler's own
    /// switching would take most of the slice.
    pub const MIN_QUANTUM: Duration = Duration::from_micros(1);

    /// Time slices of `quantum`, at least [`RoundRobin::MIN_QUANTUM`].
    pub fn new(quantum: Duration) -> Self {
        RoundRobin { quantum: nanos(quantum.max(Self::MIN_QUANTUM)), slice: None }
    }

    /// The time slice, in nanoseconds.
    pub fn quantum(&self) -> Nanos {
        self.quantum
    }
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn admit(&self, tasks: &[TaskSpec]) -> Result<(), Refusal> {
        let utilization = admission::utilization(tasks);
        if utilization.exceeds_one() {
            return Err(Refusal::Overload { utilization });
        }
        Ok(())
    }

    fn schedule(&mut self, now: Nanos, ready: &[ReadyJob], running: Option<TaskId>) -> Decision {
        if let Some((holder, end)) = self.slice {
            if running == Some(holder) && now < end && ready.iter().any(|job| job.task == holder) {
                return Decision { run: Some(holder), until: Some(end) };
            }
        }
        let previous = self.slice.map(|(holder, _)| holder);
        let tasks = || ready.iter().map(|job| job.task);
        let next =
            tasks().filter(|&task| previous.is_none_or(|previous| task > previous)).min().or_else(|| tasks().min());
        let end = now.saturating_add(self.quantum);
        self.slice = next.map(|task| (task, end));
        Decision { run: next, until: next.map(|_| end) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(task: u8, deadline: Nanos) -> ReadyJob {
        ReadyJob { task: TaskId(task), release: 0, deadline, remaining: 1, criticality: Criticality::LOW }
    }

    #[test]
    fn edf_keeps_the_running_job_on_a_tie() {
        let mut edf = Edf::new();
        let ready = [job(0, 10), job(1, 10), job(2, 12)];
        assert_eq!(edf.schedule(0, &ready, None).run, Some(TaskId(0)));
        assert_eq!(edf.schedule(0, &ready, Some(TaskId(1))).run, Some(TaskId(1)));
        assert_eq!(edf.schedule(0, &ready, Some(TaskId(2))).run, Some(TaskId(0)));
    }

    #[test]
    fn fixed_priority_ranks_by_period_or_deadline() {
        let a = TaskSpec::periodic("a", crate::ms(10), crate::ms(9), crate::ms(1));
        let b = TaskSpec::periodic("b", crate::ms(20), crate::ms(5), crate::ms(1));
        let ready = [job(0, 0), job(1, 0)];
        let mut rm = FixedPriority::rate_monotonic();
        let mut dm = FixedPriority::deadline_monotonic();
        for policy in [&mut rm, &mut dm] {
            policy.on_create(TaskId(0), &a);
            policy.on_create(TaskId(1), &b);
        }
        assert_eq!(rm.schedule(0, &ready, Some(TaskId(1))).run, Some(TaskId(0)));
        assert_eq!(dm.schedule(0, &ready, Some(TaskId(0))).run, Some(TaskId(1)));
        assert_eq!(dm.name(), "deadline-monotonic");
    }

    #[test]
    fn round_robin_takes_turns_by_slice() {
        let mut rr = RoundRobin::new(Duration::from_nanos(100));
        let ready = [job(0, 0), job(1, 0), job(2, 0)];
        assert_eq!(rr.quantum(), 1_000, "raised to the minimum quantum");
        assert_eq!(rr.schedule(0, &ready, None), Decision { run: Some(TaskId(0)), until: Some(1_000) });
        assert_eq!(rr.schedule(500, &ready, Some(TaskId(0))), Decision { run: Some(TaskId(0)), until: Some(1_000) });
        assert_eq!(rr.schedule(1_000, &ready, Some(TaskId(0))).run, Some(TaskId(1)));
        assert_eq!(rr.schedule(2_000, &ready, Some(TaskId(1))).run, Some(TaskId(2)));
        assert_eq!(rr.schedule(3_000, &ready, Some(TaskId(2))).run, Some(TaskId(0)));
        // The holder completed: the next in turn gets a fresh slice.
        assert_eq!(rr.schedule(3_200, &ready[1..], None), Decision { run: Some(TaskId(1)), until: Some(4_200) });
    }
}
