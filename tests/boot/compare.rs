//! The Linux reference of `cargo kaal bench compare`: Debian's Linux kernel booted in
//! the same QEMU machine as KaaL, with a busybox initramfs, runs the same benchmark
//! programs and serves the same host-side transfers. What is checked is that every
//! measurement is there and none failed; the figures are not asserted.

use kaal_compose::bench::BenchReport;
use kaal_compose::linuxref::{self, Mode};
use kaal_compose::progress::{Reporter, Verbosity};
use kaal_compose::testing::workspace_root;

/// The names each run reports (each run also reports boot_to_shell).
const WALL: &[&str] = &["vfs_write", "vfs_read", "tcp_in", "tcp_out", "http_concurrent", "boot_to_shell"];
const INSTRUCTIONS: &[&str] = &["getppid", "write_null", "read_64k", "fork_exec", "boot_to_shell"];

fn assert_reports(run: &linuxref::LinuxRun, names: &[&str]) {
    let failed: Vec<&String> = run.lines.iter().filter(|l| l.starts_with("BENCH failed")).collect();
    assert!(failed.is_empty(), "failed measurements: {failed:#?}\nserial:\n{}", run.serial.join("\n"));
    for name in names {
        let prefix = format!("BENCH result name={name} ");
        assert!(
            run.lines.iter().any(|l| l.starts_with(&prefix)),
            "no result for {name} in {:#?}\nserial:\n{}",
            run.lines,
            run.serial.join("\n")
        );
    }
    assert!(run.boot_to_shell.as_secs_f64() > 0.1, "{:?}", run.boot_to_shell);
    // The table reads them as it reads KaaL's.
    let report = BenchReport::parse(&run.lines);
    assert!(report.malformed.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(report.results.len(), run.lines.len());
}

#[test]
fn linux_reference_guest_reports_every_measurement_in_both_modes() {
    let reporter = Reporter { verbosity: Verbosity::Normal };
    let guest = linuxref::prepare(&workspace_root().join("target/kaal"), &reporter).unwrap_or_else(|e| panic!("{e}"));
    run_and_check(&guest, Mode::Wall { mitigations: false }, WALL);
    run_and_check(&guest, Mode::Instructions, INSTRUCTIONS);
}

/// Runs the guest in `mode`, shows its lines, and checks that it reported `names`.
fn run_and_check(guest: &linuxref::Guest, mode: Mode, names: &[&str]) {
    let run = linuxref::run(guest, mode, &Reporter { verbosity: Verbosity::Normal }).unwrap_or_else(|e| panic!("{e}"));
    for line in &run.lines {
        eprintln!("{line}");
    }
    assert_reports(&run, names);
}

/// The wall-time run with Debian's default mitigations (page-table isolation on this
/// CPU model): slower, and not the comparison `bench compare` makes. By hand:
/// `cargo test -p kaal-tests --test compare -- --ignored`.
#[test]
#[ignore = "minutes of QEMU; the comparison runs with mitigations=off"]
fn linux_reference_guest_runs_with_mitigations_on() {
    let reporter = Reporter { verbosity: Verbosity::Normal };
    let guest = linuxref::prepare(&workspace_root().join("target/kaal"), &reporter).unwrap_or_else(|e| panic!("{e}"));
    run_and_check(&guest, Mode::Wall { mitigations: true }, WALL);
}
