//! Byte sizes as people write them: `65536`, `"64 KiB"`, `"16MiB"`.
//!
//! Units are binary only. `KB` is refused rather than guessed, since half of all readers
//! take it as 1000 and the other half as 1024.

use std::fmt;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The forms a size may take, for help lines.
pub(super) const SIZE_FORMS: &str = "write a size as a number of bytes (`65536`) or as a string with a unit: \
     \"64 KiB\", \"16MiB\", \"1 GiB\"\n(units: B, KiB or K, MiB or M, GiB or G; all are powers of 1024)";

/// Why a size string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SizeError {
    Empty,
    Negative,
    NoNumber,
    NoUnit,
    DecimalUnit(String),
    UnknownUnit(String),
    Fraction,
    TooLarge,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Empty => write!(f, "the size is empty"),
            SizeError::Negative => write!(f, "a size cannot be negative"),
            SizeError::NoNumber => write!(f, "the size does not start with a number"),
            SizeError::NoUnit => write!(f, "a size in quotes needs a unit"),
            SizeError::DecimalUnit(unit) => {
                write!(f, "`{unit}` is ambiguous (1000 or 1024?); use `{}iB`", &unit[..1].to_uppercase())
            }
            SizeError::UnknownUnit(unit) => write!(f, "`{unit}` is not a size unit"),
            SizeError::Fraction => write!(f, "sizes are whole numbers"),
            SizeError::TooLarge => write!(f, "the size is too large"),
        }
    }
}

/// Parses the string form of a size into bytes.
pub(super) fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    if text.starts_with('-') {
        return Err(SizeError::Negative);
    }
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 {
        return Err(SizeError::NoNumber);
    }
    let (number, unit) = text.split_at(digits);
    if unit.starts_with(['.', ',']) {
        return Err(SizeError::Fraction);
    }
    let multiplier = match unit.trim_start() {
        "" => return Err(SizeError::NoUnit),
        "B" => 1,
        "KiB" | "K" => KIB,
        "MiB" | "M" => MIB,
        "GiB" | "G" => GIB,
        unit @ ("KB" | "kB" | "kb" | "Kb" | "MB" | "mb" | "Mb" | "GB" | "gb" | "Gb") => {
            return Err(SizeError::DecimalUnit(unit.to_string()));
        }
        unit => return Err(SizeError::UnknownUnit(unit.to_string())),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(multiplier)).ok_or(SizeError::TooLarge)
}

/// A size in the largest unit that shows it exactly ("64 KiB", "1000 bytes").
pub(super) fn show_size(bytes: u64) -> String {
    match bytes {
        0 => "0 bytes".to_string(),
        b if b.is_multiple_of(GIB) => format!("{} GiB", b / GIB),
        b if b.is_multiple_of(MIB) => format!("{} MiB", b / MIB),
        b if b.is_multiple_of(KIB) => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// A size for a total that need not be exact ("530 MiB" for anything above 10 MiB).
pub(super) fn show_approx(bytes: u64) -> String {
    if bytes >= 10 * MIB {
        format!("{} MiB", bytes.div_ceil(MIB))
    } else {
        show_size(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        for (text, bytes) in [
            ("64 KiB", 64 * KIB),
            ("64KiB", 64 * KIB),
            ("  64   KiB ", 64 * KIB),
            ("64K", 64 * KIB),
            ("16 MiB", 16 * MIB),
            ("16M", 16 * MIB),
            ("1 GiB", GIB),
            ("2G", 2 * GIB),
            ("100 B", 100),
            ("0 B", 0),
            ("17179869184 B", 16 * GIB),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for (text, error) in [
            ("", SizeError::Empty),
            ("   ", SizeError::Empty),
            ("-4 KiB", SizeError::Negative),
            ("lots", SizeError::NoNumber),
            ("KiB", SizeError::NoNumber),
            ("4096", SizeError::NoUnit),
            ("64 KB", SizeError::DecimalUnit("KB".into())),
            ("64 mb", SizeError::DecimalUnit("mb".into())),
            ("64 kib", SizeError::UnknownUnit("kib".into())),
            ("64 TiB", SizeError::UnknownUnit("TiB".into())),
            ("64 KiB extra", SizeError::UnknownUnit("KiB extra".into())),
            ("1.5 MiB", SizeError::Fraction),
            ("99999999999999999999 B", SizeError::TooLarge),
            ("17179869184 GiB", SizeError::TooLarge),
        ] {
            assert_eq!(parse_size(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn explains_ambiguous_units() {
        assert_eq!(SizeError::DecimalUnit("KB".into()).to_string(), "`KB` is ambiguous (1000 or 1024?); use `KiB`");
        assert_eq!(SizeError::DecimalUnit("mb".into()).to_string(), "`mb` is ambiguous (1000 or 1024?); use `MiB`");
    }

    #[test]
    fn shows_sizes_exactly() {
        assert_eq!(show_size(64 * KIB), "64 KiB");
        assert_eq!(show_size(3 * GIB), "3 GiB");
        assert_eq!(show_size(MIB + KIB), "1025 KiB");
        assert_eq!(show_size(1000), "1000 bytes");
        assert_eq!(show_approx(530 * MIB + 1), "531 MiB");
    }
}
