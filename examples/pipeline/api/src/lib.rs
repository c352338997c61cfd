//! What the pipeline's client, server and logger agree on: the calculator protocol on
//! the `calc` channel, and the records on the `log` ring.
#![no_std]
#![forbid(unsafe_code)]

use bytemuck::{Pod, Zeroable};

/// Request labels on `calc`. A request carries two words, `a` and `b`.
pub const ADD: u64 = 1;
pub const MUL: u64 = 2;
pub const DIV: u64 = 3;
/// No words: the client is done; the server logs the end and exits.
pub const SHUTDOWN: u64 = 9;

/// Reply labels (and [`LogRecord::status`]).
pub const OK: u64 = 0;
pub const DIVISION_BY_ZERO: u64 = 1;
pub const OVERFLOW: u64 = 2;
pub const BAD_REQUEST: u64 = 3;

/// Requests the client sends.
pub const REQUESTS: u64 = 300;

/// One line of the log ring. `op == END` marks the last record.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LogRecord {
    pub seq: u64,
    /// The badge of the client that asked.
    pub client: u64,
    pub op: u64,
    pub a: u64,
    pub b: u64,
    pub result: u64,
    pub status: u64,
}

/// The size system.toml gives the `log` ring's items.
pub const RECORD_BYTES: usize = 56;
const _: () = assert!(core::mem::size_of::<LogRecord>() == RECORD_BYTES);

/// [`LogRecord::op`] of the record that ends the log.
pub const END: u64 = u64::MAX;

/// What the calculator answers: the result, or a status.
pub fn apply(op: u64, a: u64, b: u64) -> Result<u64, u64> {
    match op {
        ADD => a.checked_add(b).ok_or(OVERFLOW),
        MUL => a.checked_mul(b).ok_or(OVERFLOW),
        DIV => a.checked_div(b).ok_or(DIVISION_BY_ZERO),
        _ => Err(BAD_REQUEST),
    }
}

/// The `i`th request the client sends: `(op, a, b)`. Every fifth division is by zero,
/// and some multiplications overflow.
pub fn request(i: u64) -> (u64, u64, u64) {
    let op = [ADD, MUL, DIV][(i % 3) as usize];
    let a = i.wrapping_mul(0x9e37_79b9).rotate_left(7) ^ (i << 40);
    let b = if op == DIV { i % 5 } else { (i.wrapping_mul(31) + 1) << (i % 24) };
    (op, a, b)
}

/// A running checksum over results (order-sensitive); client and logger both compute it.
pub fn checksum(acc: u64, op: u64, status: u64, result: u64) -> u64 {
    let mixed = (acc ^ op ^ (status << 8) ^ result).wrapping_mul(0x100_0000_01b3);
    mixed.rotate_left(5)
}

/// A status in words.
pub fn describe(status: u64) -> &'static str {
    match status {
        OK => "ok",
        DIVISION_BY_ZERO => "division by zero",
        OVERFLOW => "overflow",
        _ => "bad request",
    }
}

/// An operator in symbols.
pub fn symbol(op: u64) -> &'static str {
    match op {
        ADD => "+",
        MUL => "*",
        DIV => "/",
        _ => "?",
    }
}
