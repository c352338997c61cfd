//! Schedulability analysis: whether a task set can meet every deadline before any of it runs.
//!
//! - [`utilization`]: U = Σ WCET/period, compared with 1 exactly (wide integers, no floats).
//! - [`edf`]: earliest-deadline-first. U ≤ 1 is exact when every deadline equals its period;
//!   with shorter deadlines the processor-demand test runs as QPA (Zhang & Burns, "Schedulability
//!   analysis for real-time systems with EDF scheduling", IEEE TC 2009) up to the synchronous
//!   busy period.
//! - [`response_times`]: fixed priorities, by the response-time iteration of Joseph & Pandya,
//!   with [`rate_monotonic_order`] or [`deadline_monotonic_order`] as the priority order.
//!
//! All arithmetic is exact integer nanoseconds (`u128` where products can grow), and every
//! iteration is capped at [`MAX_ANALYSIS_STEPS`], so an analysis always ends; a set that would
//! need more work is refused with a message saying so, not looped over. The tests assume
//! synchronous releases, which is the worst case for independent tasks: offsets never make a
//! refused set schedulable in the analysis, only possibly in practice. A sporadic task is
//! analysed as a periodic one with its minimum inter-arrival time, which is exact.
//!
//! Every function here checks each spec first ([`TaskSpec::check`]) and refuses more than
//! [`MAX_TASKS`] tasks, so any input gives an answer and none a panic.

use core::cmp::Ordering;
use core::fmt;

use heapless::Vec;

use crate::spec::{DisplayDuration, SpecError, TaskSpec, Timing};
use crate::{Nanos, MAX_TASKS};

/// The most iterations any single analysis performs before it refuses the set as too costly
/// to analyse.
pub const MAX_ANALYSIS_STEPS: u32 = 100_000;

/// Processor utilization Σ WCET/period of a task set.
///
/// The comparison with 1 ([`Utilization::exceeds_one`]) is exact; the value itself
/// ([`Utilization::approx`], [`Display`](fmt::Display)) is a float for people.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utilization {
    approx: f64,
    versus_one: Ordering,
}

impl Utilization {
    /// Whether Σ WCET/period > 1, decided exactly: then no scheduler meets every deadline.
    pub fn exceeds_one(&self) -> bool {
        self.versus_one == Ordering::Greater
    }

    /// How the exact sum compares with 1.
    pub fn cmp_one(&self) -> Ordering {
        self.versus_one
    }

    /// The sum as a float, for display and reports (not for decisions).
    pub fn approx(&self) -> f64 {
        self.approx
    }
}

/// Two decimals, rounded to the nearest hundredth, except that a sum above 1 never shows as
/// `1.00` (it shows `1.01`) and one below 1 never does either (it shows `0.99`).
impl fmt::Display for Utilization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.approx.is_finite() {
            return f.write_str("∞");
        }
        // A float-to-int `as` saturates; the sum is never negative.
        let mut hundredths = (self.approx * 100.0 + 0.5) as u64;
        match self.versus_one {
            Ordering::Greater => hundredths = hundredths.max(101),
            Ordering::Less => hundredths = hundredths.min(99),
            Ordering::Equal => hundredths = 100,
        }
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

/// Σ WCET/period of `tasks`. The specs are not checked here: a task with a zero period and a
/// non-zero WCET counts as an infinite load. The comparison with 1 is exact for up to
/// [`MAX_TASKS`] tasks (every admission test refuses more); beyond, it falls back to the float.
pub fn utilization(tasks: &[TaskSpec]) -> Utilization {
    let mut approx = 0.0;
    let mut loads: Vec<(Nanos, Nanos), MAX_TASKS> = Vec::new();
    let mut exact = true;
    for spec in tasks {
        let Timing { period, wcet, .. } = spec.timing();
        if wcet == 0 {
            continue;
        }
        if period == 0 {
            return Utilization { approx: f64::INFINITY, versus_one: Ordering::Greater };
        }
        approx += wcet as f64 / period as f64;
        exact &= loads.push((wcet, period)).is_ok();
    }
    let versus_one = if exact { exact_sum_versus_one(&loads) } else { None };
    let versus_one = versus_one.unwrap_or_else(|| approx.partial_cmp(&1.0).unwrap_or(Ordering::Greater));
    Utilization { approx, versus_one }
}

/// Compares Σ C_i/T_i with 1 as Σ C_i·Π_{j≠i} T_j against Π T_j. With at most [`MAX_TASKS`]
/// terms below 2^64 each, both sides fit in `MAX_TASKS + 1` 64-bit limbs; `None` only if that
/// reasoning were ever wrong.
fn exact_sum_versus_one(loads: &[(Nanos, Nanos)]) -> Option<Ordering> {
    let mut denominator = Wide::from(1);
    for &(_, period) in loads {
        denominator.mul_small(period)?;
    }
    let mut numerator = Wide::from(0);
    for (i, &(wcet, _)) in loads.iter().enumerate() {
        let mut term = Wide::from(wcet);
        for (j, &(_, period)) in loads.iter().enumerate() {
            if i != j {
                term.mul_small(period)?;
            }
        }
        numerator.add(&term)?;
    }
    Some(numerator.cmp(&denominator))
}

/// A fixed-width unsigned integer, little-endian limbs: just enough arithmetic for
/// [`exact_sum_versus_one`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Wide([u64; MAX_TASKS + 1]);

impl Wide {
    fn from(value: u64) -> Self {
        let mut limbs = [0; MAX_TASKS + 1];
        limbs[0] = value;
        Wide(limbs)
    }

    /// `self *= factor`, or `None` on overflow.
    fn mul_small(&mut self, factor: u64) -> Option<()> {
        let mut carry: u128 = 0;
        for limb in &mut self.0 {
            let product = u128::from(*limb) * u128::from(factor) + carry;
            *limb = product as u64; // the low 64 bits, by design
            carry = product >> 64;
        }
        (carry == 0).then_some(())
    }

    /// `self += other`, or `None` on overflow.
    fn add(&mut self, other: &Wide) -> Option<()> {
        let mut carry = false;
        for (limb, &addend) in self.0.iter_mut().zip(&other.0) {
            let (sum, overflow_a) = limb.overflowing_add(addend);
            let (sum, overflow_b) = sum.overflowing_add(u64::from(carry));
            *limb = sum;
            carry = overflow_a || overflow_b;
        }
        (!carry).then_some(())
    }

    fn cmp(&self, other: &Wide) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

/// What [`edf`] found about an admitted set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdfAnalysis {
    /// Σ WCET/period.
    pub utilization: Utilization,
    /// The length of the synchronous busy period, when the demand test ran (some deadline
    /// shorter than its period); `None` when U ≤ 1 settled it.
    pub busy_period: Option<Nanos>,
    /// How many points the demand test examined (0 when it did not run).
    pub demand_points: u32,
}

/// Whether EDF meets every deadline of `tasks` (exact for synchronous or sporadic releases).
///
/// ```
/// use kaal_sched::{admission, ms, TaskSpec};
///
/// let tasks = [TaskSpec::periodic("a", ms(5), ms(5), ms(2)), TaskSpec::periodic("b", ms(10), ms(10), ms(6))];
/// assert!(admission::edf(&tasks).is_ok()); // U = 1.00
/// let tasks = [TaskSpec::periodic("a", ms(5), ms(5), ms(3)), TaskSpec::periodic("b", ms(100), ms(100), ms(47))];
/// assert_eq!(
///     admission::edf(&tasks).unwrap_err().to_string(),
///     "U = 1.07 > 1: no scheduler can meet every deadline; lengthen periods or shorten WCETs"
/// );
/// ```
pub fn edf(tasks: &[TaskSpec]) -> Result<EdfAnalysis, Refusal> {
    let timings = checked(tasks)?;
    let utilization = utilization(tasks);
    if utilization.exceeds_one() {
        return Err(Refusal::Overload { utilization });
    }
    if timings.iter().all(|t| t.deadline == t.period) {
        return Ok(EdfAnalysis { utilization, busy_period: None, demand_points: 0 });
    }
    let demand = Demand(&timings);
    let busy_period = demand.busy_period()?;
    let demand_points = demand.quick_processor_demand(busy_period)?;
    Ok(EdfAnalysis { utilization, busy_period: Some(saturate(busy_period)), demand_points })
}

/// The processor demand of a set of (checked) tasks released together at time 0.
struct Demand<'a>(&'a [Timing]);

impl Demand<'_> {
    /// h(t): the work of all jobs with release and deadline in [0, t].
    fn within(&self, t: u128) -> u128 {
        self.0
            .iter()
            .filter(|task| u128::from(task.deadline) <= t)
            .map(|task| ((t - u128::from(task.deadline)) / u128::from(task.period) + 1) * u128::from(task.wcet))
            .sum()
    }

    /// The latest absolute deadline `≤ t` (`inclusive`) or `< t`, if there is one.
    fn deadline_before(&self, t: u128, inclusive: bool) -> Option<u128> {
        let t = if inclusive { t } else { t.checked_sub(1)? };
        self.0
            .iter()
            .filter(|task| u128::from(task.deadline) <= t)
            .map(|task| {
                let (period, deadline) = (u128::from(task.period), u128::from(task.deadline));
                (t - deadline) / period * period + deadline
            })
            .max()
    }

    /// The synchronous busy period: the least L > 0 with L = Σ ⌈L/T_i⌉·C_i. Finite for U ≤ 1.
    fn busy_period(&self) -> Result<u128, Refusal> {
        let mut length: u128 = self.0.iter().map(|task| u128::from(task.wcet)).sum();
        for _ in 0..MAX_ANALYSIS_STEPS {
            let next = self.0.iter().map(|task| length.div_ceil(u128::from(task.period)) * u128::from(task.wcet)).sum();
            if next == length {
                return Ok(length);
            }
            if next > u128::from(Nanos::MAX) {
                break;
            }
            length = next;
        }
        Err(Refusal::DemandTestTooLong { limit: MAX_ANALYSIS_STEPS })
    }

    /// QPA over the absolute deadlines up to `bound`: returns the number of points examined,
    /// or the first interval whose demand exceeds its length.
    fn quick_processor_demand(&self, bound: u128) -> Result<u32, Refusal> {
        let first_deadline = self.0.iter().map(|task| u128::from(task.deadline)).min().unwrap_or(0);
        let Some(mut t) = self.deadline_before(bound, true) else {
            return Ok(0);
        };
        for points in 1..=MAX_ANALYSIS_STEPS {
            let demand = self.within(t);
            if demand > t {
                // h is constant from one deadline to the next: name the deadline.
                let interval = self.deadline_before(t, true).unwrap_or(t);
                return Err(Refusal::Demand { interval: saturate(interval), demand: saturate(demand) });
            }
            if demand <= first_deadline {
                return Ok(points);
            }
            t = if demand < t {
                demand
            } else {
                // demand == t > first_deadline, so an earlier deadline exists.
                self.deadline_before(t, false).unwrap_or(first_deadline)
            };
        }
        Err(Refusal::DemandTestTooLong { limit: MAX_ANALYSIS_STEPS })
    }
}

/// Worst-case response times under fixed priorities: `order[k]` is the index of the task with
/// the k-th highest priority. The result is indexed like `tasks`.
///
/// Each task's response time R is the fixed point of R = C_i + Σ_{j higher} ⌈R/T_j⌉·C_j; the
/// iteration stops as soon as R exceeds the deadline. The refusal names no policy; a caller
/// that has one adds it with [`Refusal::with_policy`].
///
/// ```
/// use kaal_sched::{admission, ms, TaskSpec};
///
/// let tasks = [
///     TaskSpec::periodic("a", ms(4), ms(4), ms(1)),
///     TaskSpec::periodic("b", ms(6), ms(6), ms(2)),
///     TaskSpec::periodic("c", ms(10), ms(10), ms(3)),
/// ];
/// let order = admission::rate_monotonic_order(&tasks);
/// let response = admission::response_times(&tasks, &order).unwrap();
/// assert_eq!(&response[..], &[1_000_000, 3_000_000, 10_000_000]);
/// ```
pub fn response_times(tasks: &[TaskSpec], order: &[usize]) -> Result<Vec<Nanos, MAX_TASKS>, Refusal> {
    let timings = checked(tasks)?;
    check_order(tasks.len(), order)?;
    let mut response: Vec<Nanos, MAX_TASKS> = Vec::new();
    for _ in tasks {
        // Cannot fail: `checked` refused more than MAX_TASKS tasks.
        let _ = response.push(0);
    }
    for (rank, &index) in order.iter().enumerate() {
        let task = timings[index];
        let higher = || order[..rank].iter().map(|&j| timings[j]);
        let (wcet, deadline) = (u128::from(task.wcet), u128::from(task.deadline));
        let mut time = wcet + higher().map(|j| u128::from(j.wcet)).sum::<u128>();
        let mut steps = 0;
        loop {
            if time > deadline {
                return Err(Refusal::ResponseTime {
                    task: tasks[index].name,
                    response: saturate(time),
                    deadline: task.deadline,
                    policy: None,
                });
            }
            let next = wcet + higher().map(|j| time.div_ceil(u128::from(j.period)) * u128::from(j.wcet)).sum::<u128>();
            if next == time {
                break;
            }
            time = next;
            steps += 1;
            if steps > MAX_ANALYSIS_STEPS {
                return Err(Refusal::ResponseTimeTooLong { task: tasks[index].name, limit: MAX_ANALYSIS_STEPS });
            }
        }
        response[index] = saturate(time);
    }
    Ok(response)
}

/// Rate-monotonic priorities: shorter period first, ties by index. Only the first
/// [`MAX_TASKS`] tasks are ordered (every analysis refuses more).
pub fn rate_monotonic_order(tasks: &[TaskSpec]) -> Vec<usize, MAX_TASKS> {
    order_by(tasks, |spec| spec.period)
}

/// Deadline-monotonic priorities: shorter relative deadline first, ties by index. Only the
/// first [`MAX_TASKS`] tasks are ordered (every analysis refuses more).
pub fn deadline_monotonic_order(tasks: &[TaskSpec]) -> Vec<usize, MAX_TASKS> {
    order_by(tasks, |spec| spec.deadline)
}

fn order_by(tasks: &[TaskSpec], key: impl Fn(&TaskSpec) -> core::time::Duration) -> Vec<usize, MAX_TASKS> {
    let mut order: Vec<usize, MAX_TASKS> = (0..tasks.len().min(MAX_TASKS)).collect();
    order.sort_unstable_by_key(|&index| (key(&tasks[index]), index));
    order
}

/// Each spec checked, at most [`MAX_TASKS`] of them, in nanoseconds.
fn checked(tasks: &[TaskSpec]) -> Result<Vec<Timing, MAX_TASKS>, Refusal> {
    if tasks.len() > MAX_TASKS {
        return Err(Refusal::TooManyTasks { count: tasks.len() });
    }
    let mut timings = Vec::new();
    for spec in tasks {
        spec.check().map_err(Refusal::InvalidSpec)?;
        let _ = timings.push(spec.timing());
    }
    Ok(timings)
}

fn check_order(tasks: usize, order: &[usize]) -> Result<(), Refusal> {
    let mut seen = [false; MAX_TASKS];
    if order.len() != tasks {
        return Err(Refusal::InvalidOrder { tasks, ranked: order.len(), index: None });
    }
    for &index in order {
        if index >= tasks || seen[index] {
            return Err(Refusal::InvalidOrder { tasks, ranked: order.len(), index: Some(index) });
        }
        seen[index] = true;
    }
    Ok(())
}

fn saturate(value: u128) -> Nanos {
    Nanos::try_from(value).unwrap_or(Nanos::MAX)
}

/// Why a task set was not admitted. [`Display`](fmt::Display) gives the whole message: what
/// does not fit, by how much, and what to change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// A spec is wrong on its own.
    InvalidSpec(SpecError),
    /// More than [`MAX_TASKS`] tasks.
    TooManyTasks {
        /// How many were given.
        count: usize,
    },
    /// Σ WCET/period > 1.
    Overload {
        /// The utilization.
        utilization: Utilization,
    },
    /// Under EDF, the work due within the first `interval` exceeds it.
    Demand {
        /// The interval from the synchronous release to an absolute deadline.
        interval: Nanos,
        /// The work of the jobs due within it.
        demand: Nanos,
    },
    /// Under fixed priorities, a task's response time exceeds its deadline.
    ResponseTime {
        /// The task.
        task: &'static str,
        /// The response time as far as the iteration went: it exceeds the deadline, and the
        /// true worst case is at least this.
        response: Nanos,
        /// Its deadline.
        deadline: Nanos,
        /// The policy whose priorities were analysed, if the caller named it.
        policy: Option<&'static str>,
    },
    /// A priority order that is not a permutation of the task indices.
    InvalidOrder {
        /// How many tasks there are.
        tasks: usize,
        /// How many entries the order has.
        ranked: usize,
        /// The first entry out of range or repeated, if the lengths agree.
        index: Option<usize>,
    },
    /// The EDF demand test would need more than `limit` steps.
    DemandTestTooLong {
        /// The step limit ([`MAX_ANALYSIS_STEPS`]).
        limit: u32,
    },
    /// The response-time iteration of `task` did not settle within `limit` steps.
    ResponseTimeTooLong {
        /// The task.
        task: &'static str,
        /// The step limit ([`MAX_ANALYSIS_STEPS`]).
        limit: u32,
    },
    /// Refused by a policy's own test (for custom [`Scheduler`](crate::Scheduler)s).
    Policy {
        /// The policy's name.
        policy: &'static str,
        /// The task at fault, if one is.
        task: Option<&'static str>,
        /// Why, and what to change.
        reason: &'static str,
    },
}

impl Refusal {
    /// The task at fault, if the refusal is about one.
    pub fn task(&self) -> Option<&'static str> {
        match *self {
            Self::InvalidSpec(error) => error.task(),
            Self::ResponseTime { task, .. } | Self::ResponseTimeTooLong { task, .. } => Some(task),
            Self::Policy { task, .. } => task,
            Self::TooManyTasks { .. }
            | Self::Overload { .. }
            | Self::Demand { .. }
            | Self::InvalidOrder { .. }
            | Self::DemandTestTooLong { .. } => None,
        }
    }

    /// Names the policy whose priorities a [`Refusal::ResponseTime`] is about, e.g.
    /// `"rate-monotonic"`; other refusals are returned unchanged.
    pub fn with_policy(self, name: &'static str) -> Self {
        match self {
            Self::ResponseTime { task, response, deadline, .. } => {
                Self::ResponseTime { task, response, deadline, policy: Some(name) }
            }
            other => other,
        }
    }
}

impl From<SpecError> for Refusal {
    fn from(error: SpecError) -> Self {
        Self::InvalidSpec(error)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = DisplayDuration;
        match *self {
            Self::InvalidSpec(error) => error.fmt(f),
            Self::TooManyTasks { count } => {
                write!(f, "{count} tasks is more than the {MAX_TASKS} one scheduler can run; merge or move tasks")
            }
            Self::Overload { utilization } => write!(
                f,
                "U = {utilization} > 1: no scheduler can meet every deadline; lengthen periods or shorten WCETs"
            ),
            Self::Demand { interval, demand } => write!(
                f,
                "demand in the first {} is {} > {} (task deadlines shorter than periods); \
                 lengthen the shortest deadlines or shorten WCETs",
                d(interval),
                d(demand),
                d(interval)
            ),
            Self::ResponseTime { task, response, deadline, policy } => {
                write!(f, "task `{task}` response time {} > deadline {} under ", d(response), d(deadline))?;
                match policy {
                    Some(policy) => write!(f, "{policy} priorities")?,
                    None => f.write_str("the given priority order")?,
                }
                f.write_str("; shorten higher-priority WCETs, lengthen the deadline, or use EDF")
            }
            Self::InvalidOrder { tasks, ranked, index: None } => write!(
                f,
                "the priority order ranks {ranked} tasks but there are {tasks}; list every task index exactly once"
            ),
            Self::InvalidOrder { tasks, index: Some(index), .. } => write!(
                f,
                "the priority order lists index {index} twice or out of range for {tasks} tasks; \
                 list every task index exactly once"
            ),
            Self::DemandTestTooLong { limit } => write!(
                f,
                "the EDF demand test needs more than {limit} steps for this task set (U is too close to 1 with \
                 deadlines shorter than periods); lower U or make deadlines equal to periods"
            ),
            Self::ResponseTimeTooLong { task, limit } => write!(
                f,
                "the response time of task `{task}` did not settle within {limit} steps; \
                 use fewer, longer higher-priority jobs"
            ),
            Self::Policy { policy, task: Some(task), reason } => write!(f, "{policy}: task `{task}`: {reason}"),
            Self::Policy { policy, task: None, reason } => write!(f, "{policy}: {reason}"),
        }
    }
}

impl core::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ms, nanos as ns, us};
    use core::time::Duration;

    fn task(name: &'static str, period: Duration, deadline: Duration, wcet: Duration) -> TaskSpec {
        TaskSpec::periodic(name, period, deadline, wcet)
    }

    #[test]
    fn utilization_is_exact_at_one() {
        let thirds = [task("a", ms(3), ms(3), ms(1)), task("b", ms(3), ms(3), ms(1)), task("c", ms(3), ms(3), ms(1))];
        let u = utilization(&thirds);
        assert_eq!(u.cmp_one(), Ordering::Equal);
        assert!(!u.exceeds_one());
        assert_eq!(u.to_string(), "1.00");
        // One nanosecond over: still shown as over 1.
        let over = [
            task("a", ms(3), ms(3), ms(1)),
            task("b", ms(3), ms(3), ms(1)),
            task("c", ms(3), ms(3), ms(1) + Duration::from_nanos(1)),
        ];
        assert!(utilization(&over).exceeds_one());
        assert_eq!(utilization(&over).to_string(), "1.01");
        let under = [
            task("a", ms(3), ms(3), ms(1)),
            task("b", ms(3), ms(3), ms(1)),
            task("c", ms(3), ms(3), ms(1) - Duration::from_nanos(1)),
        ];
        assert_eq!(utilization(&under).cmp_one(), Ordering::Less);
        assert_eq!(utilization(&under).to_string(), "0.99");
        assert_eq!(utilization(&[]).to_string(), "0.00");
    }

    #[test]
    fn utilization_stays_exact_for_sixteen_coprime_hour_long_periods() {
        // Periods near an hour, pairwise different: the common denominator has ~670 bits.
        let mut tasks = [task("t", ms(1), ms(1), ms(1)); MAX_TASKS];
        for (i, spec) in tasks.iter_mut().enumerate() {
            let period = Duration::from_nanos(3_600_000_000_000 - 2 * i as u64 - 1);
            *spec = task("t", period, period, Duration::from_nanos(period.as_nanos() as u64 / 16));
        }
        let u = utilization(&tasks);
        assert_eq!(u.cmp_one(), Ordering::Less, "each term is a little under 1/16");
        tasks[0].wcet = tasks[0].period; // now clearly above 1
        assert!(utilization(&tasks).exceeds_one());
        let zero_period = [task("z", Duration::ZERO, Duration::ZERO, ms(1))];
        assert!(utilization(&zero_period).exceeds_one());
    }

    #[test]
    fn edf_refuses_utilization_above_one() {
        let tasks = [task("a", ms(5), ms(5), ms(3)), task("b", ms(100), ms(100), ms(47))];
        let refusal = edf(&tasks).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "U = 1.07 > 1: no scheduler can meet every deadline; lengthen periods or shorten WCETs"
        );
        assert_eq!(refusal.task(), None);
    }

    #[test]
    fn edf_admits_full_utilization_with_implicit_deadlines() {
        let tasks = [task("a", ms(5), ms(5), ms(2)), task("b", ms(7), ms(7), Duration::from_micros(4200))];
        let analysis = edf(&tasks).unwrap();
        assert_eq!(analysis.utilization.cmp_one(), Ordering::Equal);
        assert_eq!(analysis.demand_points, 0);
    }

    #[test]
    fn edf_demand_test_refuses_crowded_short_deadlines() {
        let tasks = [task("a", ms(10), ms(4), ms(3)), task("b", ms(10), ms(4), ms(2))];
        assert_eq!(
            edf(&tasks).unwrap_err().to_string(),
            "demand in the first 4 ms is 5 ms > 4 ms (task deadlines shorter than periods); \
             lengthen the shortest deadlines or shorten WCETs"
        );
        let spread = [task("a", ms(10), ms(4), ms(3)), task("b", ms(10), ms(6), ms(2))];
        let analysis = edf(&spread).unwrap();
        assert!(analysis.demand_points >= 1);
        assert_eq!(analysis.busy_period, Some(ns(ms(5))));
    }

    /// dbf checked at every absolute deadline up to the hyperperiod plus the largest deadline.
    fn brute_force_edf(tasks: &[TaskSpec]) -> bool {
        let timings: std::vec::Vec<Timing> = tasks.iter().map(TaskSpec::timing).collect();
        if utilization(tasks).exceeds_one() {
            return false;
        }
        let gcd = |mut a: u128, mut b: u128| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let hyper = timings.iter().fold(1u128, |h, t| h / gcd(h, t.period.into()) * u128::from(t.period));
        let horizon = hyper + timings.iter().map(|t| u128::from(t.deadline)).max().unwrap_or(0);
        let demand = Demand(&timings);
        timings.iter().all(|t| {
            let mut d = u128::from(t.deadline);
            while d <= horizon {
                if demand.within(d) > d {
                    return false;
                }
                d += u128::from(t.period);
            }
            true
        })
    }

    #[test]
    fn quick_processor_demand_agrees_with_brute_force() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut random = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let (mut admitted, mut refused) = (0, 0);
        for _ in 0..400 {
            let count = 2 + random(4) as usize;
            let mut tasks = std::vec::Vec::new();
            for _ in 0..count {
                // Periods with a small hyperperiod (120) keep the brute force quick.
                let period = [10, 12, 15, 20, 24, 30, 40, 60][random(8) as usize];
                let deadline = 1 + random(period);
                let wcet = 1 + random(deadline.min(period / count as u64 + 2));
                let wcet = wcet.min(deadline);
                tasks.push(task("t", us(period * 10), us(deadline * 10), us(wcet * 10)));
            }
            let expected = brute_force_edf(&tasks);
            assert_eq!(edf(&tasks).is_ok(), expected, "{tasks:?}: {:?}", edf(&tasks));
            if expected {
                admitted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(admitted > 50 && refused > 50, "admitted {admitted}, refused {refused}");
    }

    #[test]
    fn response_times_match_the_textbook() {
        let tasks = [task("a", ms(4), ms(4), ms(1)), task("b", ms(6), ms(6), ms(2)), task("c", ms(10), ms(10), ms(3))];
        let order = rate_monotonic_order(&tasks);
        assert_eq!(&order[..], &[0, 1, 2]);
        let response = response_times(&tasks, &order).unwrap();
        assert_eq!(&response[..], &[ns(ms(1)), ns(ms(3)), ns(ms(10))]);
        // Listed out of priority order, the result is still indexed like the tasks.
        let shuffled = [tasks[2], tasks[0], tasks[1]];
        let order = rate_monotonic_order(&shuffled);
        assert_eq!(&order[..], &[1, 2, 0]);
        assert_eq!(&response_times(&shuffled, &order).unwrap()[..], &[ns(ms(10)), ns(ms(1)), ns(ms(3))]);
    }

    #[test]
    fn rate_monotonic_refuses_what_edf_admits() {
        let tasks = [task("t1", ms(5), ms(5), ms(2)), task("t2", ms(7), ms(7), Duration::from_micros(3850))];
        let refusal = response_times(&tasks, &rate_monotonic_order(&tasks)).unwrap_err().with_policy("rate-monotonic");
        assert_eq!(refusal.task(), Some("t2"));
        assert!(
            refusal
                .to_string()
                .starts_with("task `t2` response time 7.85 ms > deadline 7 ms under rate-monotonic priorities"),
            "{refusal}"
        );
        assert!(edf(&tasks).is_ok());
    }

    #[test]
    fn deadline_monotonic_orders_by_deadline_with_ties_by_index() {
        let tasks = [task("a", ms(10), ms(8), ms(1)), task("b", ms(20), ms(3), ms(1)), task("c", ms(5), ms(3), ms(1))];
        assert_eq!(&deadline_monotonic_order(&tasks)[..], &[1, 2, 0]);
        assert_eq!(&rate_monotonic_order(&tasks)[..], &[2, 0, 1]);
    }

    #[test]
    fn bad_input_is_refused_not_panicked_on() {
        let tasks = [task("a", ms(4), ms(4), ms(1)), task("b", ms(6), ms(6), ms(2))];
        assert!(matches!(response_times(&tasks, &[0]), Err(Refusal::InvalidOrder { index: None, .. })));
        assert!(matches!(response_times(&tasks, &[0, 0]), Err(Refusal::InvalidOrder { index: Some(0), .. })));
        assert!(matches!(response_times(&tasks, &[0, 7]), Err(Refusal::InvalidOrder { index: Some(7), .. })));
        let broken = [task("a", Duration::ZERO, Duration::ZERO, ms(1))];
        assert!(matches!(edf(&broken), Err(Refusal::InvalidSpec(SpecError::PeriodTooShort { .. }))));
        assert_eq!(edf(&broken).unwrap_err().task(), Some("a"));
        let many = [task("a", ms(100), ms(100), ms(1)); MAX_TASKS + 1];
        assert!(edf(&many).unwrap_err().to_string().starts_with("17 tasks is more than the 16"));
        assert_eq!(rate_monotonic_order(&many).len(), MAX_TASKS);
        let custom = Refusal::Policy { policy: "cyclic", task: Some("a"), reason: "no slot in the frame; lengthen it" };
        assert_eq!(custom.to_string(), "cyclic: task `a`: no slot in the frame; lengthen it");
        assert_eq!(custom.task(), Some("a"));
    }

    #[test]
    fn analysis_work_is_bounded() {
        // A higher-priority load of U = 0.99995 under a long task: the response-time iteration
        // creeps towards its fixed point (about 3000 s) by ever smaller steps and is cut off.
        let busy = task("busy", us(20), us(20), Duration::from_nanos(19_999));
        let long = task("long", Duration::from_secs(3600), Duration::from_secs(3600), ms(150));
        let refusal = response_times(&[busy, long], &[0, 1]).unwrap_err();
        assert_eq!(refusal, Refusal::ResponseTimeTooLong { task: "long", limit: MAX_ANALYSIS_STEPS });
        assert!(refusal.to_string().contains("did not settle within 100000 steps"));
        // The same creep makes the EDF busy period too long to bound the demand test.
        let constrained = TaskSpec { deadline: Duration::from_secs(3000), ..long };
        assert_eq!(edf(&[busy, constrained]), Err(Refusal::DemandTestTooLong { limit: MAX_ANALYSIS_STEPS }));
        // With deadlines equal to periods, U <= 1 settles it at once.
        assert!(edf(&[busy, long]).is_ok());
    }
}
