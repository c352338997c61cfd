//! The component side of a real-time task declared in system.toml.
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
//! The scheduler stops a job that reaches its WCET where it is (its thread suspended),
//! and continues it at the task's next release.

use kaal_core::component::Component;
use kaal_core::Notification;

pub use kaal_abi::plan::parts::{RT_DONE, RT_RELEASE};

/// A real-time component's jobs: wait for a release, work, say done.
#[derive(Debug)]
pub struct Jobs {
    release: Notification,
    done: Notification,
    in_job: bool,
}

impl Jobs {
    /// Takes the component's real-time grants (once).
    pub fn take(me: &mut Component) -> kaal_core::Result<Jobs> {
        Ok(Jobs { release: me.notification(RT_RELEASE)?, done: me.notification(RT_DONE)?, in_job: false })
    }

    /// Ends the current job (if one is running) and waits for the next release.
    pub fn next(&mut self) {
        if self.in_job {
            self.done.signal();
        }
        self.release.wait();
        self.in_job = true;
    }
}
