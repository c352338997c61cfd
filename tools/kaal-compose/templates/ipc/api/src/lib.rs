//! What the counter server and its clients agree on: the requests on the `counter`
//! channel.
#![no_std]

/// Adds the request's one word to the caller's count; replies with the new count.
pub const ADD: u64 = 1;
/// No words; replies with the caller's count and the sum over all callers.
pub const TOTALS: u64 = 2;

/// Reply label: done.
pub const OK: u64 = 0;
/// Reply label: the request had the wrong label or length.
pub const BAD_REQUEST: u64 = 1;
