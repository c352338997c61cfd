//! The task side of a job: waiting for releases, saying done. Components declared in
//! system.toml use [`Jobs`]; the runtime's own task threads use the same [`ReleaseGate`].
//!
//! A component with `realtime = { period = "...", wcet = "..." }` is one task of the
//! root task's scheduler: it is granted [`RT_RELEASE`] (it waits there for each job)
//! and [`RT_DONE`] (it signals the scheduler there when a job is done). [`Jobs`] does
//! both:
//!
//! ```ignore
//! let mut jobs = Jobs::take(&mut me)?;
//! loop {
//!     jobs.next(); // the previous job is done; wait for the next release
//!     read_the_sensor();
//! }
//! ```
//!
//! **Why releases alternate between two badges.** The scheduler stops a running job by
//! suspending its thread and continues it with `TCB_Resume`. A thread that a release
//! had just woken but that had not yet run when it was suspended would, on seL4 5.0.0,
//! run its wait again on resuming (the kernel leaves its restart address on the
//! system call), on a notification the release already cleared: the job would be lost.
//! So each continue also signals the job's release again, and jobs are released with
//! badges [`RELEASE_EVEN`] and [`RELEASE_ODD`] in turn: a task takes a job only when its
//! wait returns the badge of the job it expects next, and a repeated signal of the job
//! it already has (a continue that found it running) is ignored.

use kaal_core::component::Component;
use kaal_core::Notification;

pub use kaal_abi::plan::parts::{RT_DONE, RT_RELEASE};

/// The badge of a task's first, third, ... job's release.
pub const RELEASE_EVEN: u64 = 1;
/// The badge of its second, fourth, ... job's release.
pub const RELEASE_ODD: u64 = 2;

/// The waiting end of a task's releases.
#[derive(Debug)]
pub struct ReleaseGate {
    wait: Notification,
    next: u64,
}

impl ReleaseGate {
    /// Waits on `wait` (the task's release notification), expecting the first job.
    pub fn new(wait: Notification) -> Self {
        Self { wait, next: RELEASE_EVEN }
    }

    /// Waits until the next job is released (a repeated release of the current one is
    /// ignored).
    pub fn wait_next(&mut self) {
        loop {
            if self.wait.wait() & self.next != 0 {
                self.next = if self.next == RELEASE_EVEN { RELEASE_ODD } else { RELEASE_EVEN };
                return;
            }
        }
    }
}

/// A real-time component's jobs: wait for a release, work, say done.
#[derive(Debug)]
pub struct Jobs {
    gate: ReleaseGate,
    done: Notification,
}

impl Jobs {
    /// Takes the component's real-time grants (once).
    pub fn take(me: &mut Component) -> kaal_core::Result<Jobs> {
        Ok(Jobs { gate: ReleaseGate::new(me.notification(RT_RELEASE)?), done: me.notification(RT_DONE)? })
    }

    /// Ends the current job and waits for the next release. The first call tells the
    /// scheduler the component is ready (it starts releasing jobs once every task is).
    pub fn next(&mut self) {
        self.done.signal();
        self.gate.wait_next();
    }
}
