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

/// The kernels `kaal bench` compares, one column each, as `--kernel` names them. Those
/// without a source (16.0.0 without KAAL_SEL4_SOURCE) are skipped, and the run says so.
pub const KERNELS: &[&str] =
    &["5.0.0-debug", "5.0.0-release", "16.0.0-release", "16.0.0-verified-qemu", "16.0.0-mcs-release"];

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

    /// This run's table alone (see [`table`]).
    pub fn table(&self) -> String {
        table(&[(String::from("instructions / op"), self.clone())])
    }
}

/// The table `kaal bench` prints: one row per measurement and per ratio, one column per
/// run (a kernel), side by side. Under `-icount shift=0` the time-stamp counter counts
/// executed instructions, so the figures are instructions, not cycles.
pub fn table(runs: &[(String, BenchReport)]) -> String {
    let mut out = String::new();
    let mut names: Vec<(&str, &str, u64)> = Vec::new();
    for (_, report) in runs {
        for r in &report.results {
            if !names.iter().any(|(n, _, _)| *n == r.name) {
                names.push((&r.name, &r.what, r.iterations));
            }
        }
    }
    let width = names.iter().map(|(_, what, _)| what.len()).max().unwrap_or(10).max(24);
    let columns: Vec<usize> = runs.iter().map(|(title, _)| title.len().max(12)).collect();
    let _ = write!(out, "{:<width$}  {:>10}", "instructions per operation", "iterations");
    for ((title, _), w) in runs.iter().zip(&columns) {
        let _ = write!(out, "  {title:>w$}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "-".repeat(width + 12 + columns.iter().map(|w| w + 2).sum::<usize>()));
    for (name, what, iterations) in &names {
        let _ = write!(out, "{what:<width$}  {iterations:>10}");
        for ((_, report), w) in runs.iter().zip(&columns) {
            match report.result(name) {
                Some(r) => {
                    let _ = write!(out, "  {:>w$.1}", r.per_op());
                }
                None => {
                    let _ = write!(out, "  {:>w$}", "-");
                }
            }
        }
        let _ = writeln!(out);
    }
    let ratios: Vec<&BenchRatio> = runs.first().map(|(_, r)| r.ratios.iter().collect()).unwrap_or_default();
    if !ratios.is_empty() {
        let _ = writeln!(out);
        let w = ratios.iter().map(|r| r.what.len()).max().unwrap_or(10).max(width + 12);
        for ratio in ratios {
            let target = match (ratio.max, ratio.min) {
                (Some(m), _) => format!("target <= {m}"),
                (_, Some(m)) => format!("target >= {m}"),
                _ => String::new(),
            };
            let _ = write!(out, "{:<w$}", ratio.what);
            for ((_, report), cw) in runs.iter().zip(&columns) {
                let value = report.ratio_value(ratio);
                let verdict = match value {
                    None => "not measured",
                    Some(v) if ratio.max.is_some_and(|m| v > m) || ratio.min.is_some_and(|m| v < m) => "MISSED",
                    Some(_) if ratio.max.is_some() || ratio.min.is_some() => "met",
                    Some(_) => "",
                };
                let shown = value.map(|v| format!("{v:.3} {verdict}")).unwrap_or_else(|| verdict.to_string());
                let _ = write!(out, "  {:>cw$}", shown.trim_end());
            }
            let _ = writeln!(out, "  {target}");
        }
    }
    for (title, report) in runs {
        for m in &report.malformed {
            let _ = writeln!(out, "unreadable bench line ({title}): {m}");
        }
    }
    out
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
        assert!(table.contains("raw call") && table.contains("1.020 met"), "{table}");
        assert!(table.contains("not measured"), "{table}");
        assert!(table.contains("instructions per operation"), "{table}");
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

    #[test]
    fn runs_sit_side_by_side() {
        let debug = BenchReport::parse(&lines(
            "BENCH result name=a what=\"op a\" iterations=10 cycles=100\n\
             BENCH result name=b what=\"op b\" iterations=10 cycles=300\n\
             BENCH ratio what=\"b / a\" over=b under=a max=2",
        ));
        let release = BenchReport::parse(&lines(
            "BENCH result name=a what=\"op a\" iterations=10 cycles=100\n\
             BENCH result name=b what=\"op b\" iterations=10 cycles=150\n\
             BENCH ratio what=\"b / a\" over=b under=a max=2",
        ));
        let text = table(&[("debug".into(), debug), ("release".into(), release)]);
        let row = text.lines().find(|l| l.starts_with("op b")).unwrap();
        assert!(row.contains("30.0") && row.contains("15.0"), "{text}");
        let ratio = text.lines().find(|l| l.starts_with("b / a")).unwrap();
        assert!(ratio.contains("3.000 MISSED") && ratio.contains("1.500 met"), "{text}");
    }
}
