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
//!
//! A benchmark of throughput (bytes a second) needs wall time, which `-icount` does
//! not give: its directory has a `bench.toml` with `clock = "wall"`, QEMU runs without
//! `-icount`, and a result with `bytes=N hz=H` (the TSC's rate) is shown in MB/s. Wall
//! figures vary from run to run and with the host's load.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use crate::netpeer::{net_peer, Ports};

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    pub name: String,
    pub what: String,
    pub iterations: u64,
    pub cycles: u64,
    /// Bytes moved, for a throughput, and the TSC's rate to turn cycles into seconds.
    pub bytes: Option<u64>,
    pub hz: Option<u64>,
    /// A throughput target, MB/s at least (`min-mb-s=`), checked and reported.
    pub min_mb_s: Option<f64>,
    /// A rate target for a result with `unit=/s` (operations a second, at least:
    /// `min-per-s=`), checked and reported.
    pub min_per_s: Option<f64>,
    /// A per-operation target: at most this many instructions (cycles, in wall time)
    /// per operation (`max-per-op=`), checked and reported.
    pub max_per_op: Option<f64>,
    /// What a result counts, if not TSC cycles or instructions per operation: `unit=/s`
    /// shows operations a second (with `hz`), `unit=ns` a latency the host measured.
    pub unit: Option<String>,
}

impl BenchResult {
    /// Cycles per iteration.
    pub fn per_op(&self) -> f64 {
        self.cycles as f64 / self.iterations.max(1) as f64
    }

    /// Operations a second, for a result with `unit=/s` and `hz`.
    pub fn per_s(&self) -> Option<f64> {
        let hz = self.hz.filter(|_| self.unit.as_deref() == Some("/s"))?;
        (self.cycles > 0).then(|| self.iterations as f64 / (self.cycles as f64 / hz as f64))
    }

    /// Megabytes (10^6 bytes) a second, for a result with `bytes` and `hz`.
    pub fn mb_per_s(&self) -> Option<f64> {
        let (bytes, hz) = (self.bytes?, self.hz?);
        (self.cycles > 0).then(|| bytes as f64 / (self.cycles as f64 / hz as f64) / 1e6)
    }
}

/// A benchmark's `bench.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchSettings {
    /// Wall time (no `-icount`), for throughputs.
    pub wall: bool,
    /// Instructions, with idle waits taking no time (`clock = "instructions-exact"`,
    /// `-icount shift=0,sleep=off`): for a benchmark that sleeps on timers and does not
    /// wait for the host. (With plain `-icount` an idle guest follows the host's clock,
    /// and a timer's interrupt arrives late by however long the host took.)
    pub exact: bool,
    /// A host-side peer the tool runs while the system runs (`host = "net"`: the
    /// network transfers of [`net_peer`]).
    pub host_net: bool,
    /// Other systems that take the same measurements (`[[variant]]`, e.g. the network
    /// bench with each NIC driver): each run's rows carry its name, beside the bench
    /// system's own (labelled by `name` at the top level).
    pub variants: Vec<Variant>,
}

/// A `[[variant]]` of a benchmark: a system directory (relative to the benchmark's)
/// and the name its rows carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub system: std::path::PathBuf,
}

impl BenchSettings {
    /// Reads `dir/bench.toml` (absent: instruction counts).
    pub fn load(dir: &std::path::Path) -> crate::Result<Self> {
        let path = dir.join("bench.toml");
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Self::default()) };
        let bad = |why: String| {
            crate::ToolError::new(
                "reading the benchmark's settings",
                format!("{}: {why}", path.display()),
                "write `clock = \"wall\"` (throughput, in wall time), `clock = \"instructions\"` (the default) or \
                 `clock = \"instructions-exact\"` (idle waits take no time)",
            )
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.message().to_string()))?;
        if let Some(key) = table.keys().find(|k| !["clock", "host", "name", "variant"].contains(&k.as_str())) {
            return Err(bad(format!(
                "`{key}` is not a setting: only `clock`, `host`, `name` and `[[variant]]` are known"
            )));
        }
        let host_net = match table.get("host").map(|v| v.as_str()) {
            None => false,
            Some(Some("net")) => true,
            Some(_) => return Err(bad("`host` names the host peer: only \"net\" is known".into())),
        };
        let mut variants = Vec::new();
        if let Some(list) = table.get("variant") {
            let Some(list) = list.as_array() else {
                return Err(bad("`variant` is a list: write `[[variant]]`".into()));
            };
            let own = table.get("name").and_then(|n| n.as_str()).unwrap_or("this system");
            variants.push(Variant { name: own.to_string(), system: ".".into() });
            for entry in list {
                let field = |key: &str| entry.get(key).and_then(|v| v.as_str()).map(str::to_string);
                let (Some(name), Some(system)) = (field("name"), field("system")) else {
                    return Err(bad("each [[variant]] has a `name` and a `system` (a directory)".into()));
                };
                if !dir.join(&system).join("system.toml").is_file() {
                    return Err(bad(format!("variant `{name}`: {system}/system.toml does not exist")));
                }
                variants.push(Variant { name, system: system.into() });
            }
        }
        let (wall, exact) = match table.get("clock").map(|v| v.as_str()) {
            Some(Some("wall")) => (true, false),
            Some(Some("instructions")) | None => (false, false),
            Some(Some("instructions-exact")) => (false, true),
            _ => return Err(bad("`clock` is \"wall\", \"instructions\" or \"instructions-exact\"".into())),
        };
        Ok(Self { wall, exact, host_net, variants })
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
    /// Measurements that could not be made (`BENCH failed name=N why="..."`).
    pub failed: Vec<(String, String)>,
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
    /// Adds `other`'s rows, each named for variant `label` (its results, ratios and
    /// failures), so runs of several systems share one column.
    pub fn merge_variant(&mut self, other: BenchReport, label: &str) {
        let key = |name: &str| format!("{name}@{label}");
        for mut r in other.results {
            r.name = key(&r.name);
            r.what = format!("{} [{label}]", r.what);
            self.results.push(r);
        }
        for mut r in other.ratios {
            r.over = key(&r.over);
            r.under = key(&r.under);
            r.what = format!("{} [{label}]", r.what);
            self.ratios.push(r);
        }
        self.malformed.extend(other.malformed);
        self.failed.extend(other.failed.into_iter().map(|(name, why)| (key(&name), why)));
    }

    /// Reads the `BENCH` lines of a run's serial output.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a String>) -> Self {
        let mut report = BenchReport::default();
        for line in lines {
            let Some(rest) = line.trim().strip_prefix("BENCH ") else { continue };
            // A guest's word to the tool's host peer that it may start (benches/net).
            if rest == "ready" {
                continue;
            }
            let parsed = if let Some(body) = rest.strip_prefix("result ") {
                fields(body)
                    .and_then(|f| {
                        Some(BenchResult {
                            name: f.get("name")?.clone(),
                            what: f.get("what").cloned().unwrap_or_default(),
                            iterations: f.get("iterations")?.parse().ok()?,
                            cycles: f.get("cycles")?.parse().ok()?,
                            bytes: match f.get("bytes") {
                                Some(v) => Some(v.parse().ok()?),
                                None => None,
                            },
                            hz: match f.get("hz") {
                                Some(v) => Some(v.parse().ok()?),
                                None => None,
                            },
                            min_mb_s: match f.get("min-mb-s") {
                                Some(v) => Some(v.parse().ok()?),
                                None => None,
                            },
                            min_per_s: match f.get("min-per-s") {
                                Some(v) => Some(v.parse().ok()?),
                                None => None,
                            },
                            max_per_op: match f.get("max-per-op") {
                                Some(v) => Some(v.parse().ok()?),
                                None => None,
                            },
                            unit: f.get("unit").cloned(),
                        })
                    })
                    .map(|r| report.results.push(r))
            } else if let Some(body) = rest.strip_prefix("failed ") {
                fields(body)
                    .and_then(|f| Some((f.get("name")?.clone(), f.get("why").cloned().unwrap_or_default())))
                    .map(|failure| report.failed.push(failure))
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
        let throughputs = self.results.iter().all(|r| match (r.min_mb_s, r.mb_per_s()) {
            (Some(target), Some(rate)) => rate >= target,
            (Some(_), None) => false,
            (None, _) => true,
        }) && self.results.iter().all(|r| match (r.min_per_s, r.per_s()) {
            (Some(target), Some(rate)) => rate >= target,
            (Some(_), None) => false,
            (None, _) => true,
        }) && self.results.iter().all(|r| r.max_per_op.is_none_or(|max| r.per_op() <= max))
            && self.failed.is_empty();
        throughputs
            && self.ratios.iter().all(|r| match self.ratio_value(r) {
                Some(v) => r.max.is_none_or(|m| v <= m) && r.min.is_none_or(|m| v >= m),
                None => false,
            })
    }

    /// This run's table alone (see [`table`]).
    pub fn table(&self) -> String {
        table(&[(String::from("instructions / op"), self.clone())], false)
    }
}

/// The table `kaal bench` prints: one row per measurement and per ratio, one column per
/// run (a kernel), side by side. Under `-icount shift=0` the time-stamp counter counts
/// executed instructions, so the figures are instructions, not cycles; a `wall` run's
/// are TSC cycles, and MB/s where a result moved bytes.
pub fn table(runs: &[(String, BenchReport)], wall: bool) -> String {
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
    let header = if wall { "TSC cycles per operation, or MB/s (wall time)" } else { "instructions per operation" };
    let width = width.max(header.len());
    let _ = write!(out, "{header:<width$}  {:>10}", "iterations");
    for ((title, _), w) in runs.iter().zip(&columns) {
        let _ = write!(out, "  {title:>w$}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "-".repeat(width + 12 + columns.iter().map(|w| w + 2).sum::<usize>()));
    for (name, what, iterations) in &names {
        let _ = write!(out, "{what:<width$}  {iterations:>10}");
        for ((_, report), w) in runs.iter().zip(&columns) {
            match report.result(name) {
                Some(r) => match (r.mb_per_s(), r.per_s(), &r.unit) {
                    (Some(rate), _, _) => {
                        let _ = write!(out, "  {:>w$}", format!("{rate:.1} MB/s"));
                    }
                    (None, Some(rate), _) => {
                        let _ = write!(out, "  {:>w$}", format!("{rate:.0} /s"));
                    }
                    (None, None, Some(unit)) => {
                        let _ = write!(out, "  {:>w$}", format!("{:.0} {unit}", r.per_op()));
                    }
                    (None, None, None) => {
                        let _ = write!(out, "  {:>w$.1}", r.per_op());
                    }
                },
                None => {
                    let _ = write!(out, "  {:>w$}", "-");
                }
            }
        }
        let _ = writeln!(out);
    }
    // Per-operation targets, one line each.
    let per_op: Vec<&BenchResult> =
        runs.first().map(|(_, r)| r.results.iter().filter(|r| r.max_per_op.is_some()).collect()).unwrap_or_default();
    if !per_op.is_empty() {
        let _ = writeln!(out);
        for target in per_op {
            let max = target.max_per_op.unwrap_or_default();
            let _ = write!(out, "{:<w$}", target.what, w = width + 12);
            for ((_, report), cw) in runs.iter().zip(&columns) {
                let shown = match report.result(&target.name).map(BenchResult::per_op) {
                    Some(v) if v <= max => format!("{v:.0} met"),
                    Some(v) => format!("{v:.0} MISSED"),
                    None => "not measured".to_string(),
                };
                let _ = write!(out, "  {shown:>cw$}");
            }
            let unit = if wall { "cycles" } else { "instructions" };
            let _ = writeln!(out, "  target <= {max:.0} {unit} / op");
        }
    }
    // Throughput targets, one line each.
    let targets: Vec<&BenchResult> =
        runs.first().map(|(_, r)| r.results.iter().filter(|r| r.min_mb_s.is_some()).collect()).unwrap_or_default();
    if !targets.is_empty() {
        let _ = writeln!(out);
        for target in targets {
            let min = target.min_mb_s.unwrap_or_default();
            let _ = write!(out, "{:<w$}", target.what, w = width + 12);
            for ((_, report), cw) in runs.iter().zip(&columns) {
                let shown = match report.result(&target.name).and_then(BenchResult::mb_per_s) {
                    Some(rate) if rate >= min => format!("{rate:.1} met"),
                    Some(rate) => format!("{rate:.1} MISSED"),
                    None => "not measured".to_string(),
                };
                let _ = write!(out, "  {shown:>cw$}");
            }
            let _ = writeln!(out, "  target >= {min} MB/s");
        }
    }
    let rates: Vec<&BenchResult> =
        runs.first().map(|(_, r)| r.results.iter().filter(|r| r.min_per_s.is_some()).collect()).unwrap_or_default();
    if !rates.is_empty() {
        let _ = writeln!(out);
        for target in rates {
            let min = target.min_per_s.unwrap_or_default();
            let _ = write!(out, "{:<w$}", target.what, w = width + 12);
            for ((_, report), cw) in runs.iter().zip(&columns) {
                let shown = match report.result(&target.name).and_then(BenchResult::per_s) {
                    Some(rate) if rate >= min => format!("{rate:.0} met"),
                    Some(rate) => format!("{rate:.0} MISSED"),
                    None => "not measured".to_string(),
                };
                let _ = write!(out, "  {shown:>cw$}");
            }
            let _ = writeln!(out, "  target >= {min} a second");
        }
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
        for (name, why) in &report.failed {
            let _ = writeln!(out, "NOT MEASURED ({title}): {name}: {why}");
        }
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

    /// `[[variant]]`s are read with the bench system first, and each run's rows keep
    /// their variant's name in one column.
    #[test]
    fn variants_share_a_column_with_their_names() {
        let dir = std::env::temp_dir().join(format!("kaal-bench-variants-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("other")).unwrap();
        std::fs::write(dir.join("other/system.toml"), "").unwrap();
        std::fs::write(
            dir.join("bench.toml"),
            "clock = \"wall\"\nname = \"own\"\n[[variant]]\nname = \"other one\"\nsystem = \"other\"\n",
        )
        .unwrap();
        let settings = BenchSettings::load(&dir).unwrap();
        let names: Vec<(&str, &str)> =
            settings.variants.iter().map(|v| (v.name.as_str(), v.system.to_str().unwrap())).collect();
        assert_eq!(names, [("own", "."), ("other one", "other")]);
        std::fs::write(dir.join("bench.toml"), "[[variant]]\nname = \"x\"\nsystem = \"missing\"\n").unwrap();
        let error = BenchSettings::load(&dir).expect_err("no such system");
        assert!(error.to_string().contains("missing/system.toml does not exist"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();

        let run = |cycles: u64| {
            BenchReport::parse(&lines(&format!("BENCH result name=tcp what=\"TCP in\" iterations=1 cycles={cycles}")))
        };
        let mut column = BenchReport::default();
        column.merge_variant(run(10), "own");
        column.merge_variant(run(20), "other one");
        let rows: Vec<(&str, &str, u64)> =
            column.results.iter().map(|r| (r.name.as_str(), r.what.as_str(), r.cycles)).collect();
        assert_eq!(rows, [("tcp@own", "TCP in [own]", 10), ("tcp@other one", "TCP in [other one]", 20)]);
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
    fn throughput_targets_are_checked_and_shown() {
        let met = BenchReport::parse(&lines(
            "BENCH result name=read what=\"64 MiB read\" iterations=1 cycles=500000000 bytes=67108864 hz=1000000000 min-mb-s=100",
        ));
        assert!(met.targets_met());
        assert!(met.table().contains("134.2 met") && met.table().contains("target >= 100 MB/s"), "{}", met.table());
        let missed = BenchReport::parse(&lines(
            "BENCH result name=read what=\"64 MiB read\" iterations=1 cycles=500000000 bytes=67108864 hz=1000000000 min-mb-s=200",
        ));
        assert!(!missed.targets_met());
        assert!(missed.table().contains("134.2 MISSED"), "{}", missed.table());
    }

    #[test]
    fn throughputs_show_in_megabytes_a_second() {
        let r = BenchReport::parse(&lines(
            "BENCH result name=read what=\"64 MiB read\" iterations=16384 cycles=500000000 bytes=67108864 hz=1000000000\n\
             BENCH result name=lat what=\"4 KiB read\" iterations=100 cycles=5000000 hz=1000000000\n\
             BENCH result name=bad what=x iterations=1 cycles=1 bytes=many",
        ));
        assert_eq!(r.results[0].mb_per_s().map(|v| v.round()), Some(134.0));
        assert_eq!(r.results[1].mb_per_s(), None);
        assert_eq!(r.malformed.len(), 1);
        let text = table(&[("5.0.0".into(), r)], true);
        assert!(text.contains("134.2 MB/s") && text.contains("50000.0"), "{text}");
        assert!(text.contains("TSC cycles per operation, or MB/s (wall time)"), "{text}");
    }

    #[test]
    fn misses_and_malformed_lines_are_reported() {
        let out = lines(
            "BENCH result name=a what=a iterations=1 cycles=10\nBENCH result name=b what=b iterations=1 cycles=30\n\
             BENCH ratio what=\"b / a\" over=b under=a min=4\nBENCH result name=broken cycles=zz\nBENCH ready",
        );
        let r = BenchReport::parse(&out);
        assert!(r.table().contains("MISSED"));
        // The net bench's `BENCH ready` is for the host peer, not a malformed result.
        assert_eq!(r.malformed, ["BENCH result name=broken cycles=zz"]);
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
        let text = table(&[("debug".into(), debug), ("release".into(), release)], false);
        let row = text.lines().find(|l| l.starts_with("op b")).unwrap();
        assert!(row.contains("30.0") && row.contains("15.0"), "{text}");
        let ratio = text.lines().find(|l| l.starts_with("b / a")).unwrap();
        assert!(ratio.contains("3.000 MISSED") && ratio.contains("1.500 met"), "{text}");
    }
}
