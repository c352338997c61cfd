//! Counters that `cargo kaal profile` reads out of a running component.
//!
//! Each component has one copy of [`KAAL_PROFILE_COUNTS`] at a fixed address in its own
//! image (the symbol is unmangled). The profiler finds the address in the component's
//! ELF and reads the words through QEMU's monitor while the component's address space
//! is the current one, so nothing is sent anywhere and no capability is involved. The
//! cost is one locked add per counted operation.

use core::sync::atomic::{AtomicU64, Ordering};

/// What is counted, by index into [`KAAL_PROFILE_COUNTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Endpoint IPC: each send, receive, call or reply-and-receive through kaal-core.
    Ipc = 0,
    /// Notifications: each signal, wait and poll.
    Notify = 1,
    /// A push (one item, or one batch) onto a kaal-ipc ring.
    RingPush = 2,
    /// A push that found the ring full and pushed nothing.
    RingFull = 3,
}

/// How many counters there are (the profiler reads this many words).
pub const COUNTERS: usize = 4;

/// The counters, in [`Counter`] order. Read by the profiler; written only by [`count`].
#[unsafe(no_mangle)]
pub static KAAL_PROFILE_COUNTS: [AtomicU64; COUNTERS] = [const { AtomicU64::new(0) }; COUNTERS];

/// Counts one `what`.
#[inline(always)]
pub fn count(what: Counter) {
    KAAL_PROFILE_COUNTS[what as usize].fetch_add(1, Ordering::Relaxed);
}
