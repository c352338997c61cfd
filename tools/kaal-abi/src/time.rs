//! The time service's protocol: how a component asks to be woken.
//!
//! A system with `[time]` in its system.toml runs a timer service in the root task: a
//! thread that drives a hardware timer (the PIT today) through the capability broker.
//! Each component with `time = true` gets a badged endpoint to it (grant
//! [`GRANT`]) and a notification of its own that the service signals (grant [`WAKE`]).
//! Time itself is the time-stamp counter, read directly (its rate is in the start-up
//! block); the service only turns deadlines into wake-ups.
//!
//! Requests are `Call`s; the reply's label is [`errors::OK`] or an error code.
//! * [`labels::WAKE_AT`]: MR0 = the deadline in TSC cycles, MR1 = the target (0 for the
//!   component's own wake notification, else an index [`labels::REGISTER`] returned).
//!   The service signals the target once the counter passes the deadline. A target has
//!   one deadline at a time: a new one replaces it. A deadline already passed is
//!   signalled at once.
//! * [`labels::REGISTER`]: one notification capability attached (with the right to
//!   signal); reply MR0 = its target index (1..[`MAX_TARGETS`]). Used to time out a wait
//!   on another notification, such as a ring's.
//! * [`labels::CANCEL`]: MR0 = the target; its deadline, if any, is dropped.

/// The grant name of the endpoint to the time service.
pub const GRANT: &str = "time";
/// The grant name of the component's own wake notification.
pub const WAKE: &str = "time:wake";

/// Targets per component, its own wake notification (target 0) included.
pub const MAX_TARGETS: usize = 8;

/// Request labels.
pub mod labels {
    /// Wake a target at a deadline.
    pub const WAKE_AT: u64 = 1;
    /// Register a notification as a target.
    pub const REGISTER: u64 = 2;
    /// Drop a target's deadline.
    pub const CANCEL: u64 = 3;
}

/// Reply labels.
pub mod errors {
    /// Done.
    pub const OK: u64 = 0;
    /// An unknown label, or missing words.
    pub const BAD_REQUEST: u64 = 1;
    /// No such target (not registered, or out of range).
    pub const BAD_TARGET: u64 = 2;
    /// Every target slot is taken.
    pub const FULL: u64 = 3;
    /// REGISTER without a notification capability that may be signalled.
    pub const NOT_A_NOTIFICATION: u64 = 4;

    /// What an error label means, for messages.
    pub fn describe(code: u64) -> &'static str {
        match code {
            OK => "done",
            BAD_REQUEST => "the time service did not understand the request",
            BAD_TARGET => "no such wake-up target (register the notification first)",
            FULL => "every wake-up target is taken (at most 8 per component, its own included)",
            NOT_A_NOTIFICATION => "the attached capability is not a notification that can be signalled",
            _ => "the time service answered with an unknown code",
        }
    }
}
