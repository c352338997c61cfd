//! Durations written as text: `"100ms"`, `"10 ms"`, `"1.5ms"`, `"250us"`, `"2s"`.
//!
//! One parser serves the run-time API (`kaal_sched::parse_duration`, later `system.toml`)
//! and the compile-time `#[rt_task]` attribute: `kaal-sched-macros` compiles this very file
//! as a module of its own (`#[path = "../../src/duration_text.rs"]`), so the two cannot
//! disagree. It therefore uses nothing beyond `core`.

use core::fmt;

/// Why a duration text was not accepted. The message says what is wrong and shows an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing but whitespace was given.
    Empty,
    /// The text starts with a minus sign.
    Negative,
    /// The text does not start with a number such as `10` or `1.5`.
    NotANumber,
    /// A number without a unit, such as `100`.
    MissingUnit,
    /// A unit other than `ns`, `us`, `µs`, `ms` or `s`.
    UnknownUnit,
    /// More decimals than the unit allows: the result would not be a whole number of
    /// nanoseconds (`1.5ns`, `0.0001us`).
    NotWholeNanoseconds,
    /// More than `u64::MAX` nanoseconds (about 584 years).
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the duration is empty; write a number and a unit, e.g. \"10ms\"",
            Self::Negative => "a duration cannot be negative; write e.g. \"10ms\"",
            Self::NotANumber => "a duration starts with a number, e.g. \"10ms\" or \"1.5ms\"",
            Self::MissingUnit => "the duration has no unit; write e.g. \"10ms\" (units: ns, us, ms, s)",
            Self::UnknownUnit => "unknown unit; use ns, us (or µs), ms or s, e.g. \"250us\"",
            Self::NotWholeNanoseconds => {
                "a duration must be a whole number of nanoseconds; \"1.5us\" is 1500 ns, but \"1.5ns\" is not allowed"
            }
            Self::TooLong => "the duration is too long: the limit is 2^64 ns (about 584 years); write e.g. \"2s\"",
        })
    }
}

impl core::error::Error for DurationError {}

/// Parses `"<number>[ ]<unit>"` into nanoseconds. The number is decimal with an optional
/// fraction (`1.5`); the unit is `ns`, `us`, `µs` (micro sign or Greek mu), `ms` or `s`;
/// surrounding whitespace is ignored. The result must be a whole number of nanoseconds.
pub fn parse_nanos(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let number_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(fraction) || (number.contains('.') && fraction.is_empty()) {
        return Err(DurationError::NotANumber);
    }
    let (unit_nanos, unit_decimals): (u128, usize) = match unit.trim_start() {
        "" => return Err(DurationError::MissingUnit),
        "ns" => (1, 0),
        "us" | "\u{b5}s" | "\u{3bc}s" => (1_000, 3),
        "ms" => (1_000_000, 6),
        "s" => (1_000_000_000, 9),
        _ => return Err(DurationError::UnknownUnit),
    };
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > unit_decimals {
        return Err(DurationError::NotWholeNanoseconds);
    }
    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos * 10 + u128::from(digit - b'0');
        if nanos > u128::from(u64::MAX) {
            return Err(DurationError::TooLong);
        }
    }
    nanos *= unit_nanos;
    let mut scale = unit_nanos;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos += u128::from(digit - b'0') * scale;
    }
    u64::try_from(nanos).map_err(|_| DurationError::TooLong)
}
