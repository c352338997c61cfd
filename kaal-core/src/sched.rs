//! Scheduling contexts: CPU budgets that the kernel enforces (seL4 16.0.0 with MCS).
//!
//! On an MCS kernel a thread runs only while its scheduling context has budget left:
//! `budget` microseconds in every `period`. A thread whose budget is used up waits for
//! its next refill however high its priority, so a component that spins cannot starve
//! the ones below it. seL4 5.0.0 and 16.0.0 without MCS have no budgets: a thread runs
//! until it blocks or something of higher priority becomes ready, and the same spinning
//! component takes the processor from everything below it for good.
//!
//! [`SchedParams`] is the budget and period, checked against the kernel's limits before
//! anything is created. On MCS, every thread KaaL starts gets its own scheduling context:
//! [`crate::thread::Threads`] gives threads [`SchedParams::round_robin`] unless their
//! [`crate::thread::ThreadConfig`] says otherwise, and the supervisor gives each component
//! what its `ComponentConfig` (or system.toml's `budget` and `period`) asks for. A
//! context whose budget equals its period is a plain time slice ("round robin"): the
//! thread is preempted after `budget` and queued behind its peers, never held back.
//!
//! What happens when a budget runs out with time left in the period is the
//! *overrun* policy: the thread is throttled until its refill (the default), or, with a
//! timeout endpoint, the kernel stops it and reports a timeout fault, which the
//! supervisor prints like any other fault.

#[cfg(kaal_mcs)]
use crate::sys;

/// The shortest budget the kernel accepts: twice its worst-case execution time estimate
/// (10 us on x86) times `KernelWcetScale`.
#[cfg(kaal_mcs)]
pub const MIN_BUDGET_US: u64 = 2 * 10 * sys::config::CONFIG_KERNEL_WCET_SCALE;
/// The shortest budget the kernel accepts (on MCS kernels: twice its worst-case
/// execution time estimate, 10 us on x86).
#[cfg(not(kaal_mcs))]
pub const MIN_BUDGET_US: u64 = 20;

/// The longest period KaaL configures: one hour. (The kernel's own limit is far larger;
/// a longer period is a mistake in units.)
pub const MAX_PERIOD_US: u64 = 3_600_000_000;

/// A CPU budget: `budget_us` microseconds of execution in every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedParams {
    budget_us: u64,
    period_us: u64,
}

impl SchedParams {
    /// A budget of `budget_us` every `period_us` microseconds.
    pub const fn new(budget_us: u64, period_us: u64) -> Result<Self, crate::Error> {
        let why = if budget_us < MIN_BUDGET_US {
            "the budget is below the kernel's minimum (MIN_BUDGET_US, twice its worst-case execution time)"
        } else if period_us > MAX_PERIOD_US {
            "the period is longer than an hour (MAX_PERIOD_US); check the units"
        } else if budget_us > period_us {
            "the budget is longer than the period; make it at most the period"
        } else {
            return Ok(Self { budget_us, period_us });
        };
        Err(crate::Error::BadSchedParams { budget_us, period_us, why })
    }

    /// A plain time slice of `slice_us`: budget and period alike, so the thread is only
    /// ever preempted, never throttled.
    pub const fn time_slice(slice_us: u64) -> Result<Self, crate::Error> {
        Self::new(slice_us, slice_us)
    }

    /// The kernel's own time slice for the boot thread (`KernelBootThreadTimeSlice`,
    /// 5 ms by default), as budget and period: what threads get unless told otherwise.
    pub const fn round_robin() -> Self {
        #[cfg(kaal_mcs)]
        let slice = sys::config::CONFIG_BOOT_THREAD_TIME_SLICE * 1000;
        #[cfg(not(kaal_mcs))]
        let slice = 5000;
        Self { budget_us: slice, period_us: slice }
    }

    /// The budget, microseconds.
    pub const fn budget_us(&self) -> u64 {
        self.budget_us
    }

    /// The period, microseconds.
    pub const fn period_us(&self) -> u64 {
        self.period_us
    }

    /// Whether the budget is the whole period (never throttled, only preempted).
    pub const fn is_round_robin(&self) -> bool {
        self.budget_us == self.period_us
    }
}

impl Default for SchedParams {
    fn default() -> Self {
        Self::round_robin()
    }
}

/// What happens when a component's budget runs out before its period ends.
#[cfg(kaal_mcs)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overrun {
    /// It waits for its next refill (seL4's default).
    #[default]
    Throttle,
    /// The kernel stops it with a timeout fault, which the supervisor reports like any
    /// other fault; the component is not restarted.
    Fault,
}

/// How a component is scheduled besides its priority. Without MCS there is nothing to
/// choose: the kernel has no budgets, so this type has no fields there and a budget
/// cannot be asked of a kernel that cannot enforce it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scheduling {
    /// The component's CPU budget.
    #[cfg(kaal_mcs)]
    pub budget: SchedParams,
    /// What happens when it overruns the budget.
    #[cfg(kaal_mcs)]
    pub overrun: Overrun,
    /// A passive server: once it waits for its first caller it has no scheduling
    /// context of its own and runs on its callers' (which also lets the kernel's IPC fast
    /// path take their calls). It never runs on its own again, so it must serve for
    /// ever (a daemon): after answering its last caller it cannot even exit.
    #[cfg(kaal_mcs)]
    pub passive: bool,
}

impl Scheduling {
    /// From a boot plan's numbers: `0, 0` for the default time slice. A kernel without
    /// MCS refuses any budget, since it cannot enforce one (`kaal build` refuses such
    /// a system before it builds).
    pub fn planned(budget_us: u64, period_us: u64, overrun_fault: bool, passive: bool) -> Result<Self, crate::Error> {
        if budget_us == 0 && period_us == 0 && !passive {
            return Ok(Self::default());
        }
        #[cfg(kaal_mcs)]
        {
            let mut scheduling = match (budget_us, period_us) {
                (0, 0) => Self::default(),
                _ => {
                    let budget = SchedParams::new(budget_us, period_us)?;
                    if overrun_fault {
                        Self::budget_or_fault(budget)
                    } else {
                        Self::budget(budget)
                    }
                }
            };
            scheduling.passive = passive;
            Ok(scheduling)
        }
        #[cfg(not(kaal_mcs))]
        {
            let _ = overrun_fault;
            Err(crate::Error::NeedsMcsKernel { what: if passive { "a passive server" } else { "a CPU budget" } })
        }
    }
}

#[cfg(kaal_mcs)]
impl Scheduling {
    /// `budget`, throttled when used up.
    pub const fn budget(budget: SchedParams) -> Self {
        Self { budget, overrun: Overrun::Throttle, passive: false }
    }

    /// `budget`, with a timeout fault when used up.
    pub const fn budget_or_fault(budget: SchedParams) -> Self {
        Self { budget, overrun: Overrun::Fault, passive: false }
    }

    /// A passive server (see [`Scheduling::passive`]).
    pub const fn passive() -> Self {
        Self { budget: SchedParams::round_robin(), overrun: Overrun::Throttle, passive: true }
    }
}

#[cfg(kaal_mcs)]
pub(crate) use mcs::*;

#[cfg(kaal_mcs)]
mod mcs {
    use core::sync::atomic::{AtomicU64, Ordering};

    use super::SchedParams;
    use crate::cap::SchedContext;
    use crate::error::{Error, Result};
    use crate::sys;
    use crate::vspace::ObjectAllocator;

    /// The root task's scheduling-control capability for core 0 (0: none, as in a
    /// component).
    static SCHED_CONTROL: AtomicU64 = AtomicU64::new(0);

    /// Records the scheduling-control capability (the root task, at start).
    pub(crate) fn set_sched_control(cptr: sys::seL4_CPtr) {
        SCHED_CONTROL.store(cptr, Ordering::Release);
    }

    /// The scheduling-control capability; `what` needs it, for the error if there is none.
    fn control(what: &'static str) -> Result<sys::seL4_CPtr> {
        match SCHED_CONTROL.load(Ordering::Acquire) {
            0 => Err(Error::NoSchedControl { what }),
            control => Ok(control),
        }
    }

    /// Creates a scheduling context with `params`; `badge` comes back in its timeout
    /// faults. `what` names the thread, for the error when there is no control cap.
    pub(crate) fn sched_context(
        alloc: &mut impl ObjectAllocator,
        params: SchedParams,
        badge: u64,
        what: &'static str,
    ) -> Result<SchedContext> {
        let control = control(what)?;
        let sc: SchedContext = alloc.allocate()?;
        configure(control, &sc, params, badge)?;
        Ok(sc)
    }

    /// Gives `sc`, a context of this task's, a new budget and period.
    pub(crate) fn reconfigure(sc: &SchedContext, params: SchedParams) -> Result<()> {
        configure(control("a thread")?, sc, params, 0)
    }

    /// Gives `sc` a new budget and period.
    fn configure(control: sys::seL4_CPtr, sc: &SchedContext, params: SchedParams, badge: u64) -> Result<()> {
        // SAFETY: configuring a scheduling context of ours changes no memory.
        let err = unsafe {
            sys::seL4_SchedControl_ConfigureFlags(
                control,
                sc.cptr(),
                params.budget_us(),
                params.period_us(),
                0,
                badge,
                sys::seL4_SchedContext_NoFlag,
            )
        };
        match Error::check(err, "seL4_SchedControl_ConfigureFlags") {
            Err(Error::Kernel { error: crate::KernelError::RangeError, .. }) => Err(Error::BadSchedParams {
                budget_us: params.budget_us(),
                period_us: params.period_us(),
                why: "the kernel refused them (outside its MIN_BUDGET and MAX_PERIOD)",
            }),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_checked_before_the_kernel_sees_them() {
        assert!(SchedParams::new(2000, 10_000).is_ok());
        assert!(SchedParams::new(MIN_BUDGET_US, MIN_BUDGET_US).unwrap().is_round_robin());
        assert!(matches!(SchedParams::new(MIN_BUDGET_US - 1, 10_000), Err(crate::Error::BadSchedParams { .. })));
        assert!(matches!(SchedParams::new(10_001, 10_000), Err(crate::Error::BadSchedParams { .. })));
        assert!(matches!(SchedParams::new(1000, MAX_PERIOD_US + 1), Err(crate::Error::BadSchedParams { .. })));
        assert!(SchedParams::round_robin().is_round_robin());
    }
}
