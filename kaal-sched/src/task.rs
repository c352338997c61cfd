//! A task as the system image holds it: its spec and the function that does one job.

use crate::spec::TaskSpec;

/// A real-time task: its timing contract and its body, one job's work. The glue runs `body`
/// once per release on the task's own thread and signals completion when it returns.
/// `#[rt_task]` builds one from a function.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    /// The timing contract.
    pub spec: TaskSpec,
    /// One job's work.
    pub body: fn(),
}
