//! `cargo kaal bench compare`: KaaL against Linux, side by side, from one run.
//!
//! KaaL's figures come from its own benchmarks (`benches/posix` under `-icount`,
//! `benches/fs` and `benches/net` in wall time, lesson 10's boot to its shell prompt);
//! Linux's from Debian's kernel booted in the same QEMU machine with a busybox
//! initramfs ([`crate::linuxref`]), running the same static posix-bench binary and
//! serving the same host-side transfers. Both sides print `BENCH result` lines with the
//! same names; this module picks the rows and makes the table.
//!
//! CPU-bound rows are instructions (`-icount shift=0`: the TSC counts them); rows bound
//! by a device or QEMU's user network are wall time, against Linux booted with
//! `mitigations=off` (seL4 5.0.0 has no Meltdown page-table isolation, which under TCG
//! flushes QEMU's soft TLB at every kernel entry), with Debian's default beside it.

use crate::bench::BenchReport;

/// What a row measures, and so which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Instructions per operation (fewer is better).
    Instructions,
    /// Megabytes a second (more is better).
    MegabytesPerSecond,
    /// Operations a second (more is better).
    PerSecond,
    /// Seconds of wall time (fewer is better).
    Seconds,
}

impl Unit {
    fn cost(self) -> bool {
        matches!(self, Unit::Instructions | Unit::Seconds)
    }

    fn show(self, value: f64) -> String {
        match self {
            Unit::Instructions => format!("{} instr", thousands(value.round() as u64)),
            Unit::MegabytesPerSecond => format!("{value:.1} MB/s"),
            Unit::PerSecond => format!("{} /s", thousands(value.round() as u64)),
            Unit::Seconds => format!("{value:.2} s"),
        }
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row: its label, unit, and the result name both sides report it under.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub operation: &'static str,
    pub unit: Unit,
    pub name: &'static str,
}

/// The rows, in the table's order.
pub const ROWS: &[Spec] = &[
    Spec { operation: "syscall round trip (getppid)", unit: Unit::Instructions, name: "getppid" },
    Spec { operation: "1-byte write to /dev/null", unit: Unit::Instructions, name: "write_null" },
    Spec { operation: "cached 64 KiB read", unit: Unit::Instructions, name: "read_64k" },
    Spec { operation: "fork+exec+wait (busybox true)", unit: Unit::Instructions, name: "fork_exec" },
    Spec { operation: "ext2 sequential write, 64 MiB + fsync", unit: Unit::MegabytesPerSecond, name: "vfs_write" },
    Spec { operation: "ext2 sequential read, 64 MiB", unit: Unit::MegabytesPerSecond, name: "vfs_read" },
    Spec { operation: "TCP bulk host -> guest, 64 MiB", unit: Unit::MegabytesPerSecond, name: "tcp_in" },
    Spec { operation: "TCP bulk guest -> host, 64 MiB", unit: Unit::MegabytesPerSecond, name: "tcp_out" },
    Spec { operation: "small HTTP requests, 8 keep-alive at once", unit: Unit::PerSecond, name: "http_concurrent" },
    Spec { operation: "boot to shell (QEMU start to the prompt)", unit: Unit::Seconds, name: "boot_to_shell" },
];

/// The result line a boot-to-shell time makes (as the Linux reference reports its own).
pub fn boot_line(took: std::time::Duration) -> String {
    format!(
        "BENCH result name=boot_to_shell what=\"boot to shell (QEMU start to the prompt)\" iterations=1 cycles={} \
         hz=1000000000",
        took.as_nanos().max(1)
    )
}

/// `name`'s figure in `report`, in `unit`.
pub fn value(report: &BenchReport, name: &str, unit: Unit) -> Option<f64> {
    let r = report.results.iter().find(|r| r.name == name)?;
    match unit {
        Unit::Instructions => Some(r.per_op()),
        Unit::MegabytesPerSecond => r.mb_per_s(),
        Unit::PerSecond => r.per_s(),
        Unit::Seconds => r.hz.filter(|&hz| hz > 0).map(|hz| r.cycles as f64 / hz as f64),
    }
}

/// How many times Linux's cost KaaL pays: KaaL / Linux for a cost, Linux / KaaL for a
/// rate (so above 1 is slower than Linux, in both).
pub fn ratio(unit: Unit, kaal: f64, linux: f64) -> Option<f64> {
    let (over, under) = if unit.cost() { (kaal, linux) } else { (linux, kaal) };
    (under > 0.0 && over > 0.0).then(|| over / under)
}

/// The seed's target: within 2x of native Linux.
pub const TARGET: f64 = 2.0;

/// The table. `kaal` holds KaaL's results; `linux` Linux's with `mitigations=off` (its
/// instruction counts and wall figures); `linux_default` its wall figures with Debian's
/// default mitigations. The instruction rows have no default-mitigation figure: PTI
/// costs time in TLB refills, which instruction counts do not see.
pub fn table(kaal: &BenchReport, linux: &BenchReport, linux_default: &BenchReport) -> String {
    let head = ["operation", "KaaL", "Linux", "ratio", "Linux, default mitigations", "within 2x"];
    let mut rows = vec![head.map(str::to_string).to_vec()];
    let (mut met, mut missed, mut unknown) = (0, 0, 0);
    for spec in ROWS {
        let k = value(kaal, spec.name, spec.unit);
        let l = value(linux, spec.name, spec.unit);
        let d = (spec.unit != Unit::Instructions).then(|| value(linux_default, spec.name, spec.unit)).flatten();
        let shown = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| spec.unit.show(v));
        let r = k.zip(l).and_then(|(k, l)| ratio(spec.unit, k, l));
        let verdict = match r {
            Some(r) if r <= TARGET => {
                met += 1;
                "yes"
            }
            Some(_) => {
                missed += 1;
                "no"
            }
            None => {
                unknown += 1;
                "not measured"
            }
        };
        let ratio_text = r.map_or_else(
            || "-".to_string(),
            |r| if r < 1.0 { format!("{r:.2}x (faster)") } else { format!("{r:.2}x") },
        );
        rows.push(vec![
            spec.operation.to_string(),
            shown(k),
            shown(l),
            ratio_text,
            if spec.unit == Unit::Instructions { "(instructions: same)".to_string() } else { shown(d) },
            verdict.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..head.len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out.push_str(&format!(
        "\nratio: how many times Linux's cost KaaL pays (KaaL/Linux for instructions and seconds, Linux/KaaL for \
         rates).\nThe seed's target, within 2x of Linux: met by {met} rows, missed by {missed}{}.\n",
        if unknown > 0 { format!(", {unknown} not measured") } else { String::new() }
    ));
    for (side, report) in [("KaaL", kaal), ("Linux", linux), ("Linux, default mitigations", linux_default)] {
        for (name, why) in &report.failed {
            out.push_str(&format!("{side}: {name} failed: {why}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lines: &[&str]) -> BenchReport {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        BenchReport::parse(&lines)
    }

    #[test]
    fn ratios_say_how_many_times_linuxs_cost_kaal_pays() {
        assert_eq!(ratio(Unit::Instructions, 2000.0, 500.0), Some(4.0));
        assert_eq!(ratio(Unit::MegabytesPerSecond, 50.0, 100.0), Some(2.0));
        assert_eq!(ratio(Unit::PerSecond, 200.0, 100.0), Some(0.5));
        assert_eq!(ratio(Unit::Seconds, 1.0, 0.0), None);
    }

    #[test]
    fn the_table_has_every_row_and_counts_the_target() {
        let kaal = report(&[
            "BENCH result name=getppid what=\"g\" iterations=10 cycles=20000",
            "BENCH result name=tcp_in what=\"t\" iterations=1 cycles=1000000000 bytes=50000000 hz=1000000000",
            "BENCH failed name=vfs_read why=\"disk gone\"",
            &boot_line(std::time::Duration::from_millis(1500)),
        ]);
        let linux = report(&[
            "BENCH result name=getppid what=\"g\" iterations=10 cycles=3410",
            "BENCH result name=tcp_in what=\"t\" iterations=1 cycles=1000000000 bytes=80000000 hz=1000000000",
            &boot_line(std::time::Duration::from_secs(15)),
        ]);
        let default = report(&[
            "BENCH result name=tcp_in what=\"t\" iterations=1 cycles=2000000000 bytes=40000000 hz=1000000000",
        ]);
        let text = table(&kaal, &linux, &default);
        let row = |label: &str| text.lines().find(|l| l.starts_with(&format!("| {label}"))).unwrap().to_string();
        let getppid = row("syscall round trip");
        assert!(getppid.contains("2,000 instr") && getppid.contains("341 instr"), "{getppid}");
        assert!(getppid.contains("5.87x") && getppid.contains("| no"), "{getppid}");
        let tcp = row("TCP bulk host -> guest");
        assert!(tcp.contains("50.0 MB/s") && tcp.contains("80.0 MB/s") && tcp.contains("1.60x"), "{tcp}");
        assert!(tcp.contains("20.0 MB/s") && tcp.contains("| yes"), "{tcp}");
        let boot = row("boot to shell");
        assert!(boot.contains("1.50 s") && boot.contains("0.10x (faster)"), "{boot}");
        assert!(row("ext2 sequential read").contains("not measured"));
        assert_eq!(text.lines().filter(|l| l.starts_with("| ")).count(), ROWS.len() + 1);
        assert!(text.contains("met by 2 rows, missed by 1, 7 not measured"), "{text}");
        assert!(text.contains("KaaL: vfs_read failed: disk gone"), "{text}");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
