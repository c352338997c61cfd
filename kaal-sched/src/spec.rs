//! What a real-time task promises and asks for: its [`TaskSpec`].
//!
//! A task is a loop that waits for a release, does one job of work and signals completion.
//! Its spec says how often it is released (`period`: exactly, or at least, apart), by when
//! each job must be done (`deadline`, relative to the release), how much CPU a job may use
//! (`wcet`: the budget the engine enforces) and how much it matters when the system is
//! overloaded (`criticality`). Specs are written with [`TaskSpec::builder`],
//! [`TaskSpec::periodic`] (in `const` contexts) or `#[rt_task]`, and checked with
//! [`TaskSpec::check`] before anything is admitted.
//!
//! Durations are [`Duration`]s on the outside and [`Nanos`] inside; text such as `"1.5ms"` is
//! read by [`parse_duration`] and printed by [`DisplayDuration`].

use core::fmt;
use core::time::Duration;

use typed_builder::TypedBuilder;

pub use crate::duration_text::DurationError;

/// Time inside the scheduler: nanoseconds since an arbitrary origin (the glue's clock).
pub type Nanos = u64;

/// How much a task matters under overload. Higher is more critical: when a job of a task
/// overruns its budget or misses its deadline, tasks of lower criticality are shed until the
/// processor is next idle (see [`crate::engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Criticality(pub u8);

impl Criticality {
    /// The default level: shed first.
    pub const LOW: Criticality = Criticality(0);
    /// Tasks that keep running when low-criticality work is shed.
    pub const HIGH: Criticality = Criticality(1);
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::LOW => f.write_str("low"),
            Self::HIGH => f.write_str("high"),
            Criticality(level) => write!(f, "level {level}"),
        }
    }
}

/// When a task's jobs are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Arrival {
    /// Every `period`, from `start + offset` on, by the engine's own timer.
    #[default]
    Periodic,
    /// From outside, through `Engine::release`; `period` is the minimum inter-arrival time and
    /// `offset` the earliest first release after start.
    Sporadic,
}

/// The timing contract of one real-time task.
///
/// ```
/// use kaal_sched::{ms, Arrival, Criticality, TaskSpec};
///
/// let sensor = TaskSpec::builder().name("sensor").period(ms(100)).deadline(ms(10)).wcet(ms(2)).build();
/// assert_eq!(sensor.arrival, Arrival::Periodic);
/// assert_eq!(sensor.criticality, Criticality::LOW);
/// assert!(sensor.check().is_ok());
///
/// // The deadline defaults to the period.
/// let logger = TaskSpec::builder().name("logger").period(ms(50)).wcet(ms(5)).build();
/// assert_eq!(logger.deadline, ms(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TypedBuilder)]
pub struct TaskSpec {
    /// Names the task in reports and errors; unique within a task set.
    pub name: &'static str,
    /// Periodic (released by the engine's timer) or sporadic (released from outside).
    #[builder(default)]
    pub arrival: Arrival,
    /// Time between releases: exact for a periodic task, the minimum for a sporadic one.
    pub period: Duration,
    /// Each job must finish within this time of its release; at most the period. Defaults to
    /// the period.
    #[builder(default = *period)]
    pub deadline: Duration,
    /// Worst-case execution time of one job: the budget the engine enforces.
    pub wcet: Duration,
    /// What is shed first under overload. Defaults to [`Criticality::LOW`].
    #[builder(default)]
    pub criticality: Criticality,
    /// Delay of the first release after the engine starts. Defaults to zero.
    #[builder(default)]
    pub offset: Duration,
}

/// The shortest period [`TaskSpec::check`] accepts: below it the scheduler's own timer and
/// context switches would take a large share of each period.
pub const MIN_PERIOD: Duration = Duration::from_micros(10);

/// The longest period and offset [`TaskSpec::check`] accepts. The bound keeps every analysis
/// in exact integer arithmetic.
pub const MAX_PERIOD: Duration = Duration::from_secs(3600);

/// A [`Duration`] of `n` milliseconds, for writing specs tersely.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A [`Duration`] of `n` microseconds, for writing specs tersely.
pub const fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// `d` in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn nanos(d: Duration) -> Nanos {
    Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX)
}

impl TaskSpec {
    /// A periodic task released at start, of low criticality, for `const` contexts
    /// (where the builder cannot be used).
    ///
    /// ```
    /// use kaal_sched::{ms, TaskSpec};
    ///
    /// const CONTROL: TaskSpec = TaskSpec::periodic("control", ms(10), ms(10), ms(3));
    /// assert!(CONTROL.check().is_ok());
    /// ```
    pub const fn periodic(name: &'static str, period: Duration, deadline: Duration, wcet: Duration) -> TaskSpec {
        TaskSpec {
            name,
            arrival: Arrival::Periodic,
            period,
            deadline,
            wcet,
            criticality: Criticality::LOW,
            offset: Duration::ZERO,
        }
    }

    /// Checks the spec on its own: a non-empty name; a period from [`MIN_PERIOD`] to
    /// [`MAX_PERIOD`]; a WCET above zero and within the deadline; a deadline within the
    /// period (deadlines beyond the period are not supported); an offset under
    /// [`MAX_PERIOD`]. Whether a *set* of tasks fits is the business of [`crate::admission`].
    pub fn check(&self) -> Result<(), SpecError> {
        let task = self.name;
        let (period, deadline, wcet, offset) =
            (nanos(self.period), nanos(self.deadline), nanos(self.wcet), nanos(self.offset));
        if task.is_empty() {
            return Err(SpecError::EmptyName);
        }
        if self.period < MIN_PERIOD {
            return Err(SpecError::PeriodTooShort { task, period });
        }
        if self.period > MAX_PERIOD {
            return Err(SpecError::PeriodTooLong { task, period });
        }
        if wcet == 0 {
            return Err(SpecError::ZeroWcet { task });
        }
        if deadline > period {
            return Err(SpecError::DeadlineBeyondPeriod { task, deadline, period });
        }
        if wcet > deadline {
            return Err(SpecError::WcetBeyondDeadline { task, wcet, deadline });
        }
        if self.offset >= MAX_PERIOD {
            return Err(SpecError::OffsetTooLong { task, offset });
        }
        Ok(())
    }

    /// Period, deadline, WCET and offset in nanoseconds (saturating; exact for checked specs).
    pub(crate) fn timing(&self) -> Timing {
        Timing {
            period: nanos(self.period),
            deadline: nanos(self.deadline),
            wcet: nanos(self.wcet),
            offset: nanos(self.offset),
        }
    }
}

/// A spec's durations in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub period: Nanos,
    pub deadline: Nanos,
    pub wcet: Nanos,
    pub offset: Nanos,
}

/// Why [`TaskSpec::check`] refused a spec. Every message names the task, the cause and a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecError {
    /// The name is empty.
    EmptyName,
    /// The period is below [`MIN_PERIOD`].
    PeriodTooShort {
        /// The task.
        task: &'static str,
        /// Its period.
        period: Nanos,
    },
    /// The period is above [`MAX_PERIOD`].
    PeriodTooLong {
        /// The task.
        task: &'static str,
        /// Its period.
        period: Nanos,
    },
    /// The WCET is zero: the engine could never run a job.
    ZeroWcet {
        /// The task.
        task: &'static str,
    },
    /// The deadline is longer than the period.
    DeadlineBeyondPeriod {
        /// The task.
        task: &'static str,
        /// Its deadline.
        deadline: Nanos,
        /// Its period.
        period: Nanos,
    },
    /// The WCET is longer than the deadline: no job could finish in time.
    WcetBeyondDeadline {
        /// The task.
        task: &'static str,
        /// Its WCET.
        wcet: Nanos,
        /// Its deadline.
        deadline: Nanos,
    },
    /// The offset is not under [`MAX_PERIOD`].
    OffsetTooLong {
        /// The task.
        task: &'static str,
        /// Its offset.
        offset: Nanos,
    },
}

impl SpecError {
    /// The task the error is about (`None` for an empty name).
    pub fn task(&self) -> Option<&'static str> {
        match *self {
            Self::EmptyName => None,
            Self::PeriodTooShort { task, .. }
            | Self::PeriodTooLong { task, .. }
            | Self::ZeroWcet { task }
            | Self::DeadlineBeyondPeriod { task, .. }
            | Self::WcetBeyondDeadline { task, .. }
            | Self::OffsetTooLong { task, .. } => Some(task),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = DisplayDuration;
        match *self {
            Self::EmptyName => {
                f.write_str("a task has an empty name; give every task a unique name such as \"sensor\"")
            }
            Self::PeriodTooShort { task, period } => write!(
                f,
                "task `{task}`: period {} is shorter than the {} minimum; lengthen the period",
                d(period),
                d(nanos(MIN_PERIOD))
            ),
            Self::PeriodTooLong { task, period } => write!(
                f,
                "task `{task}`: period {} is longer than the {} maximum; shorten the period",
                d(period),
                d(nanos(MAX_PERIOD))
            ),
            Self::ZeroWcet { task } => {
                write!(f, "task `{task}`: WCET is zero; give the budget one job needs, e.g. wcet = \"2ms\"")
            }
            Self::DeadlineBeyondPeriod { task, deadline, period } => write!(
                f,
                "task `{task}`: deadline {} is longer than its period {}; deadlines beyond the period are \
                 not supported, so shorten the deadline or lengthen the period",
                d(deadline),
                d(period)
            ),
            Self::WcetBeyondDeadline { task, wcet, deadline } => write!(
                f,
                "task `{task}`: WCET {} is longer than its deadline {}; shorten the work or lengthen the deadline",
                d(wcet),
                d(deadline)
            ),
            Self::OffsetTooLong { task, offset } => write!(
                f,
                "task `{task}`: offset {} is not under the {} maximum; shorten the offset",
                d(offset),
                d(nanos(MAX_PERIOD))
            ),
        }
    }
}

impl core::error::Error for SpecError {}

/// Reads a duration written as text: `"100ms"`, `"10 ms"`, `"250us"`, `"250µs"`, `"1.5ms"`,
/// `"2s"`, `"500ns"`. The result must be a whole number of nanoseconds.
///
/// ```
/// use core::time::Duration;
/// use kaal_sched::parse_duration;
///
/// assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
/// assert!(parse_duration("1.5ns").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    crate::duration_text::parse_nanos(text).map(Duration::from_nanos)
}

/// Prints nanoseconds for people: `12 ms`, `1.5 ms`, `250 us`, `3 s`, `800 ns`.
///
/// The unit is the largest of s, ms, us and ns that leaves a whole part of at least 1; the
/// value is rounded to at most three decimals, trailing zeros trimmed.
///
/// ```
/// use kaal_sched::DisplayDuration;
///
/// assert_eq!(DisplayDuration(1_500_000).to_string(), "1.5 ms");
/// assert_eq!(DisplayDuration(3_000_000_000).to_string(), "3 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DisplayDuration(pub Nanos);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u128, &str); 4] = [(1, "ns"), (1_000, "us"), (1_000_000, "ms"), (1_000_000_000, "s")];
        let nanos = u128::from(self.0);
        let mut unit = UNITS.iter().rposition(|&(size, _)| nanos >= size).unwrap_or(0);
        // Thousandths of the unit, rounded half up; rounding can carry into the next unit.
        let mut milli_units = (nanos * 1000 + UNITS[unit].0 / 2) / UNITS[unit].0;
        if milli_units >= 1_000_000 && unit + 1 < UNITS.len() {
            unit += 1;
            milli_units = (nanos * 1000 + UNITS[unit].0 / 2) / UNITS[unit].0;
        }
        let (whole, mut thousandths) = (milli_units / 1000, milli_units % 1000);
        write!(f, "{whole}")?;
        if thousandths != 0 {
            let mut digits = 3;
            while thousandths % 10 == 0 {
                thousandths /= 10;
                digits -= 1;
            }
            write!(f, ".{thousandths:0digits$}")?;
        }
        write!(f, " {}", UNITS[unit].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_spacing() {
        let cases: [(&str, u64); 10] = [
            ("100ms", 100_000_000),
            ("10 ms", 10_000_000),
            ("250us", 250_000),
            ("250µs", 250_000),
            ("1.5ms", 1_500_000),
            ("2s", 2_000_000_000),
            ("500ns", 500),
            ("  7ms  ", 7_000_000),
            ("1.500ms", 1_500_000),
            ("0.000001s", 1_000),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(Duration::from_nanos(expected)), "{text}");
        }
        assert_eq!(parse_duration("18446744073709551615ns"), Ok(Duration::from_nanos(u64::MAX)));
    }

    #[test]
    fn refuses_bad_text_with_the_cause() {
        let cases = [
            ("", DurationError::Empty),
            ("   ", DurationError::Empty),
            ("-5ms", DurationError::Negative),
            ("ms", DurationError::NotANumber),
            (".5ms", DurationError::NotANumber),
            ("5.ms", DurationError::NotANumber),
            ("1.2.3ms", DurationError::NotANumber),
            ("100", DurationError::MissingUnit),
            ("100 parsecs", DurationError::UnknownUnit),
            ("10 MS", DurationError::UnknownUnit),
            ("1.5ns", DurationError::NotWholeNanoseconds),
            ("0.0001us", DurationError::NotWholeNanoseconds),
            ("18446744073709551616ns", DurationError::TooLong),
            ("99999999999999999999999s", DurationError::TooLong),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Err(expected), "{text:?}");
        }
        let message = DurationError::MissingUnit.to_string();
        assert!(message.contains("\"10ms\""), "{message}");
    }

    #[test]
    fn displays_durations_humanely() {
        let cases: [(Nanos, &str); 12] = [
            (12_000_000, "12 ms"),
            (1_500_000, "1.5 ms"),
            (250_000, "250 us"),
            (3_000_000_000, "3 s"),
            (800, "800 ns"),
            (0, "0 ns"),
            (1_234_567, "1.235 ms"),
            (7_850_000, "7.85 ms"),
            (999_999_600, "1 s"),
            (999_999, "999.999 us"),
            (3_600_000_000_000, "3600 s"),
            (1_001, "1.001 us"),
        ];
        for (nanos, text) in cases {
            assert_eq!(DisplayDuration(nanos).to_string(), text, "{nanos} ns");
        }
    }

    #[test]
    fn builder_defaults_deadline_to_period() {
        let spec = TaskSpec::builder().name("sensor").period(ms(100)).wcet(ms(2)).build();
        assert_eq!(spec, TaskSpec::periodic("sensor", ms(100), ms(100), ms(2)));
        let spec = TaskSpec::builder().name("sensor").period(ms(100)).deadline(ms(10)).wcet(ms(2)).build();
        assert_eq!(spec.deadline, ms(10));
        assert_eq!(spec.offset, Duration::ZERO);
    }

    #[test]
    fn check_names_the_task_the_cause_and_the_fix() {
        let ok = TaskSpec::periodic("x", ms(10), ms(10), ms(2));
        assert_eq!(ok.check(), Ok(()));
        let refused = |spec: TaskSpec| spec.check().unwrap_err().to_string();
        assert_eq!(
            refused(TaskSpec::periodic("x", ms(20), ms(10), ms(12))),
            "task `x`: WCET 12 ms is longer than its deadline 10 ms; shorten the work or lengthen the deadline"
        );
        assert!(refused(TaskSpec::periodic("x", ms(10), ms(20), ms(2)))
            .contains("deadlines beyond the period are not supported"));
        assert!(refused(TaskSpec::periodic("", ms(10), ms(10), ms(2))).contains("empty name"));
        assert!(refused(TaskSpec::periodic("x", us(5), us(5), us(1)))
            .contains("period 5 us is shorter than the 10 us minimum"));
        assert!(refused(TaskSpec::periodic("x", Duration::from_secs(3601), ms(10), ms(2))).contains("3601 s"));
        assert!(refused(TaskSpec::periodic("x", ms(10), ms(10), Duration::ZERO)).contains("WCET is zero"));
        let late = TaskSpec { offset: Duration::from_secs(3600), ..ok };
        assert!(refused(late).contains("offset 3600 s"));
        assert_eq!(TaskSpec::periodic("x", us(10), us(10), Duration::from_nanos(1)).check(), Ok(()));
        assert_eq!(SpecError::ZeroWcet { task: "x" }.task(), Some("x"));
    }
}
