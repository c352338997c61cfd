//! Durations as people write them: `"2 ms"`, `"500 us"`, `"1 s"`, in whole units.
//!
//! A bare number is refused: whether `5` means seconds, milliseconds or microseconds is
//! exactly the mistake a budget must not hide.

use std::fmt;

/// The forms a duration may take, for help lines.
pub(super) const DURATION_FORMS: &str = "write a duration as a string with a unit: \"500 us\", \"2 ms\", \"1 s\" \
     (units: us or µs, ms, s; whole numbers)";

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DurationError {
    Empty,
    NoNumber,
    NoUnit,
    UnknownUnit(String),
    Fraction,
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => write!(f, "the duration is empty"),
            DurationError::NoNumber => write!(f, "the duration does not start with a whole number"),
            DurationError::NoUnit => write!(f, "a duration needs a unit"),
            DurationError::UnknownUnit(unit) => write!(f, "`{unit}` is not a time unit"),
            DurationError::Fraction => write!(f, "durations are whole numbers; use a smaller unit"),
            DurationError::TooLarge => write!(f, "the duration is too long"),
        }
    }
}

/// Parses a duration into microseconds.
pub(super) fn parse_duration_us(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 {
        return Err(DurationError::NoNumber);
    }
    let (number, unit) = text.split_at(digits);
    if unit.starts_with(['.', ',']) {
        return Err(DurationError::Fraction);
    }
    let multiplier = match unit.trim_start() {
        "" => return Err(DurationError::NoUnit),
        "us" | "µs" => 1,
        "ms" => 1000,
        "s" => 1_000_000,
        unit => return Err(DurationError::UnknownUnit(unit.to_string())),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(multiplier)).ok_or(DurationError::TooLarge)
}

/// A duration in the largest unit that shows it exactly ("2 ms", "1500 us").
pub(super) fn show_duration(us: u64) -> String {
    match us {
        0 => "0 us".to_string(),
        us if us.is_multiple_of(1_000_000) => format!("{} s", us / 1_000_000),
        us if us.is_multiple_of(1000) => format!("{} ms", us / 1000),
        us => format!("{us} us"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_whole_number() {
        assert_eq!(parse_duration_us("2 ms"), Ok(2000));
        assert_eq!(parse_duration_us("500us"), Ok(500));
        assert_eq!(parse_duration_us("3 µs"), Ok(3));
        assert_eq!(parse_duration_us(" 1 s "), Ok(1_000_000));
        assert_eq!(parse_duration_us("5"), Err(DurationError::NoUnit));
        assert_eq!(parse_duration_us("2.5 ms"), Err(DurationError::Fraction));
        assert_eq!(parse_duration_us("2 min"), Err(DurationError::UnknownUnit("min".into())));
        assert_eq!(parse_duration_us("ms"), Err(DurationError::NoNumber));
        assert_eq!(parse_duration_us(""), Err(DurationError::Empty));
        assert_eq!(parse_duration_us("99999999999999999999 s"), Err(DurationError::TooLarge));
        assert_eq!(show_duration(2000), "2 ms");
        assert_eq!(show_duration(1500), "1500 us");
        assert_eq!(show_duration(3_000_000), "3 s");
    }
}
