//! # kaal-sched: user-level real-time scheduling for seL4
//!
//! seL4 5.0 without MCS has no kernel budgets, so KaaL schedules real-time tasks from user
//! level: a scheduler thread at the top priority owns a one-shot timer and controls the task
//! threads by suspend and resume. This crate is the kernel-independent part of it, pure and
//! `no_std`, with no heap and a fixed capacity of [`MAX_TASKS`] tasks:
//!
//! - [`spec`]: what a task asks for ([`TaskSpec`]: period, deadline, WCET, criticality) and
//!   durations as text ([`parse_duration`], [`DisplayDuration`]);
//! - [`admission`]: whether a set fits, before it runs (EDF demand, fixed-priority response
//!   times);
//! - [`policy`]: who runs next ([`Scheduler`]; [`Edf`], [`FixedPriority`], [`RoundRobin`]);
//! - [`engine`]: the executive that releases jobs, enforces budgets, detects misses and
//!   dispatches, telling the kernel glue what to do through a [`Dispatcher`].
//!
//! The seL4 glue (timer, TCBs, notifications) lives on top, in [`runtime`], and gets
//! kernel resources only through kaal-core's typed handles.
//!
//! ```
//! use kaal_sched::{ms, Edf, Engine, TaskSpec};
//!
//! let tasks = [
//!     TaskSpec::builder().name("sensor").period(ms(5)).wcet(ms(2)).build(),
//!     TaskSpec::builder().name("control").period(ms(7)).wcet(ms(3)).build(),
//! ];
//! let engine = Engine::new(Edf, &tasks).expect("U = 0.83 fits under EDF");
//! assert_eq!(engine.tasks().count(), 2);
//! ```
//!
//! Or declare each task where its code is, with [`rt_task`]:
//!
//! ```
//! use kaal_sched::{rt_task, Criticality, Task};
//!
//! #[rt_task(period = "100ms", deadline = "10ms", wcet = "2ms", criticality = "high")]
//! fn sensor() {
//!     // one job: read, filter, publish
//! }
//!
//! let task: Task = sensor();
//! assert_eq!((task.spec.name, task.spec.criticality), ("sensor", Criticality::HIGH));
//! ```
//!
//! Time inside is [`Nanos`]; specs use [`core::time::Duration`].

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "runtime")]
extern crate alloc;

// Lets `#[rt_task]`'s `::kaal_sched::...` paths resolve inside this crate too.
extern crate self as kaal_sched;

pub mod admission;
mod duration_text;
pub mod engine;
pub mod policy;
pub mod spec;
mod task;

pub use admission::Refusal;
pub use engine::{Dispatcher, Engine, EngineError, Event, Stop, TaskStats};
/// Turns `fn name()` into a real-time task, `const fn name() -> Task`; see the crate docs of
/// `kaal-sched-macros` for its arguments.
pub use kaal_sched_macros::rt_task;
pub use policy::{Block, Decision, Edf, FixedPriority, ReadyJob, RoundRobin, Scheduler, TaskId};
pub use spec::{
    ms, parse_duration, us, Arrival, Criticality, DisplayDuration, DurationError, Nanos, SpecError, TaskSpec,
};
pub use task::Task;

/// The most tasks one engine runs; every table is this size.
pub const MAX_TASKS: usize = 16;

#[cfg(feature = "runtime")]
pub mod component;
#[cfg(feature = "runtime")]
pub mod runtime;
