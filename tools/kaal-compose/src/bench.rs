//! Benchmarks: boot a bench system under deterministic virtual time and tabulate what it
//! measured.
//!
//! A bench system is an ordinary system (`benches/<name>`) that prints one line per
//! measurement and one per ratio it wants reported:
//!
//! ```text
//! BENCH result name=raw_call what="raw seL4 Call+ReplyRecv round trip" iterations=10000 cycles=4312000
//! BENCH ratio what="KaaL wrapper / raw" over=wrapped_call under=raw_call max=1.05
//! ```
//!
//! QEMU runs with `-icount shift=0`, so the time-stamp counter counts executed
//! instructions and every figure repeats from run to run. Ratios compare results from
//! the same run; a `max`/`min` target is checked and reported, never enforced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    pub name: String,
    pub what: String,
    pub iterations: u64,
    pub cycles: u64,
}

impl BenchResult {
    /// Cycles per iteration.
    pub fn per_op(&self) -> f64 {
        self.cycles as f64 / self.iterations.max(1) as f64
    }
}

/// A ratio of two measurements' per-iteration cost, with an optional target.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRatio {
    pub what: String,
    pub over: String,
    pub under: String,
    pub max: Option<f64>,
    pub min: Option<f64>,
}

/// Everything a bench run reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchReport {
    pub results: Vec<BenchResult>,
    pub ratios: Vec<BenchRatio>,
    /// Lines that started with `BENCH` but could not be read.
    pub malformed: Vec<String>,
}

/// Splits `key=value key="quoted value"` pairs.
fn fields(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key.trim().to_string(), value.to_string());
        rest = tail.trim_start();
    }
    Some(out)
}

impl BenchReport {
    /// Reads the `BENCH` lines of a run's serial output.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a String>) -> Self {
        let mut report = BenchReport::default();
        for line in lines {
            let Some(rest) = line.trim().strip_prefix("BENCH ") else { continue };
            let parsed = if let Some(body) = rest.strip_prefix("result ") {
                fields(body)
                    .and_then(|f| {
                        Some(BenchResult {
                            name: f.get("name")?.clone(),
                            what: f.get("what").cloned().unwrap_or_default(),
                            iterations: f.get("iterations")?.parse().ok()?,
                            cycles: f.get("cycles")?.parse().ok()?,
                        })
                    })
                    .map(|r| report.results.push(r))
            } else if let Some(body) = rest.strip_prefix("ratio ") {
                fields(body)
                    .and_then(|f| {
                        Some(BenchRatio {
                            what: f.get("what")?.clone(),
                            over: f.get("over")?.clone(),
                            under: f.get("under")?.clone(),
                            max: f.get("max").and_then(|v| v.parse().ok()),
                            min: f.get("min").and_then(|v| v.parse().ok()),
                        })
                    })
                    .map(|r| report.ratios.push(r))
            } else {
                None
            };
            if parsed.is_none() {
                report.malformed.push(line.clone());
            }
        }
        report
    }

    fn result(&self, name: &str) -> Option<&BenchResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// The value of a ratio, if both sides were measured.
    pub fn ratio_value(&self, ratio: &BenchRatio) -> Option<f64> {
        let over = self.result(&ratio.over)?.per_op();
        let under = self.result(&ratio.under)?.per_op();
        (under > 0.0).then(|| over / under)
    }

    /// Whether every ratio with a target met it.
    pub fn targets_met(&self) -> bool {
        self.ratios.iter().all(|r| match self.ratio_value(r) {
            Some(v) => r.max.is_none_or(|m| v <= m) && r.min.is_none_or(|m| v >= m),
            None => false,
        })
    }

    /// The table `kaal bench` prints.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self.results.iter().map(|r| r.what.len()).max().unwrap_or(10).max(10);
        let _ = writeln!(out, "{:<width$}  {:>10}  {:>14}", "measurement", "iterations", "cycles / op");
        let _ = writeln!(out, "{}", "-".repeat(width + 28));
        for r in &self.results {
            let _ = writeln!(out, "{:<width$}  {:>10}  {:>14.1}", r.what, r.iterations, r.per_op());
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(out);
            let w = self.ratios.iter().map(|r| r.what.len()).max().unwrap_or(10);
            for r in &self.ratios {
                let value = self.ratio_value(r);
                let target = match (r.max, r.min) {
                    (Some(m), _) => format!("target <= {m}"),
                    (_, Some(m)) => format!("target >= {m}"),
                    _ => String::new(),
                };
                let verdict = match value {
                    None => "not measured".to_string(),
                    Some(v) if r.max.is_some_and(|m| v > m) || r.min.is_some_and(|m| v < m) => "MISSED".to_string(),
                    Some(_) if r.max.is_some() || r.min.is_some() => "met".to_string(),
                    Some(_) => String::new(),
                };
                let shown = value.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
                let _ = writeln!(out, "{:<w$}  {:>8}  {target:<14} {verdict}", r.what, shown);
            }
        }
        for m in &self.malformed {
            let _ = writeln!(out, "unreadable bench line: {m}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn parses_results_and_ratios() {
        let out = lines(
            "noise\nBENCH result name=raw what=\"raw call\" iterations=100 cycles=1000\n\
             BENCH result name=wrapped what=\"wrapped call\" iterations=100 cycles=1020\n\
             BENCH ratio what=\"wrapper / raw\" over=wrapped under=raw max=1.05\n\
             BENCH ratio what=\"missing\" over=nothing under=raw max=2",
        );
        let r = BenchReport::parse(&out);
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].per_op(), 10.0);
        assert!((r.ratio_value(&r.ratios[0]).unwrap() - 1.02).abs() < 1e-9);
        assert_eq!(r.ratio_value(&r.ratios[1]), None);
        assert!(!r.targets_met());
        let table = r.table();
        assert!(table.contains("raw call") && table.contains("1.020") && table.contains("met"), "{table}");
        assert!(table.contains("not measured"), "{table}");
    }

    #[test]
    fn misses_and_malformed_lines_are_reported() {
        let out = lines(
            "BENCH result name=a what=a iterations=1 cycles=10\nBENCH result name=b what=b iterations=1 cycles=30\n\
             BENCH ratio what=\"b / a\" over=b under=a min=4\nBENCH result name=broken cycles=zz",
        );
        let r = BenchReport::parse(&out);
        assert!(r.table().contains("MISSED"));
        assert_eq!(r.malformed.len(), 1);
    }
}
