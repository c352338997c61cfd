//! The benchmarks run correctly. Their figures are printed by `cargo kaal bench`, never
//! asserted here: what is checked is that every measurement moved the right data.

use kaal_compose::bench::BenchReport;
use kaal_compose::testing::Boot;

#[test]
fn ipc_bench_moves_the_right_data_and_reports_every_figure() {
    let run = Boot::new("benches/ipc").icount().run();
    run.assert_success()
        .assert_line("endpoint bulk: 0 checksum mismatches")
        .assert_line("ring, batch 1: sums match")
        .assert_line("ring, batch 64: sums match")
        .assert_line("ring bulk: sums match")
        .assert_line("[supervisor] component 'peer' exited: success");
    let raw = run.value_after("raw round trips: checksum").expect("raw checksum");
    let wrapped = run.value_after("wrapped round trips: checksum").expect("wrapped checksum");
    assert_eq!(raw, wrapped, "the raw and wrapped paths must carry the same data");
    let report = BenchReport::parse(&run.serial);
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["raw_call", "wrapped_call", "signal_wait", "endpoint_10k", "ring_single", "ring_batch", "ring_10k"]
    );
    assert!(report.malformed.is_empty(), "{:?}", report.malformed);
    assert!(report.ratios.iter().all(|r| report.ratio_value(r).is_some()), "every ratio has both sides");
}

#[test]
fn log_bench_prints_every_line_both_ways_and_decodes_the_defmt_ones() {
    let run = Boot::new("benches/log").icount().run();
    run.assert_success()
        .assert_line("[log-bench] sent frame 199 of 200")
        .assert_line("[peer] sent frame 199 of 200")
        .assert_line("INFO  [log-bench] sent frame 199 of 200")
        .assert_line("INFO  [peer] sent frame 199 of 200")
        .assert_line("log bench: done (1 component exited cleanly, 0 frames dropped)")
        // trace! is below the build's level: compiled out.
        .assert_no_line("TRACE")
        .assert_no_line("~defmt~");
    // Every defmt line arrived (the component's through its log ring), none twice.
    for who in ["[log-bench]", "[peer]"] {
        let decoded = run.serial.iter().filter(|l| l.contains(&format!("INFO  {who} sent frame"))).count();
        assert_eq!(decoded, 200, "{who}: {decoded} of 200 defmt lines");
    }
    let report = BenchReport::parse(&run.serial);
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["root_println", "root_defmt", "root_filtered", "peer_println", "peer_defmt"]);
    assert!(report.ratios.iter().all(|r| report.ratio_value(r).is_some()), "every ratio has both sides");
}

#[test]
fn fs_bench_moves_the_right_data_and_reports_every_figure() {
    // Wall time, as `cargo kaal bench fs` runs it (benches/fs/bench.toml).
    let run = Boot::new("benches/fs").run();
    run.assert_success()
        .assert_line("[kaal-root] device pci:00:10.0 -> disk-files")
        .assert_line("file read-back: 274 of 274 reads match what was written, 67108864 bytes")
        .assert_line("small file: 1024 bytes, as written");
    let report = BenchReport::parse(&run.serial);
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["vfs_write", "vfs_read", "vfs_server_read", "raw_read", "vfs_small"]);
    assert!(report.malformed.is_empty(), "{:?}", report.malformed);
    assert!(report.results[..4].iter().all(|r| r.mb_per_s().is_some()), "the streams report MB/s");
    // The server's own read and the raw read covered the whole 64 MiB too.
    for name in ["vfs_server_read", "raw_read"] {
        let r = report.results.iter().find(|r| r.name == name).unwrap();
        assert_eq!(r.bytes, Some(64 << 20), "{name}");
    }
    assert_eq!(report.ratios.len(), 2);
}

/// `cargo kaal bench net`'s system and host peer, as the tool runs them: every
/// transfer completes and gives a figure (the figures vary with the host's load: no
/// target is asserted here).
#[test]
fn the_network_benchmark_measures_both_directions_and_requests() {
    use kaal_compose::bench::{net_peer, Ports};
    use kaal_compose::testing::free_port;
    let ports = Ports { sink: free_port(), source: free_port(), http: free_port() };
    let boot = Boot::new("benches/net")
        .forward(ports.sink, 5001)
        .forward(ports.source, 5002)
        .forward(ports.http, 80)
        .timeout(std::time::Duration::from_secs(400));
    let (lines, run) = boot.run_with(|session| {
        session.wait_for_line("BENCH ready", std::time::Duration::from_secs(120)).expect("the guest is ready");
        net_peer(ports)
    });
    let report = BenchReport::parse(&lines);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for name in ["tcp_in", "tcp_out", "http_latency", "http_keepalive", "http_concurrent", "http_fresh"] {
        assert!(report.results.iter().any(|r| r.name == name), "{name} was measured: {lines:?}");
    }
    assert!(report.results.iter().filter_map(|r| r.mb_per_s()).all(|rate| rate > 1.0), "{lines:?}");
    assert_eq!(run.verdict, kaal_compose::qemu::Verdict::Stopped, "{}", run.summary());
}

#[test]
fn sched_bench_measures_every_figure_and_its_loaded_set_misses_nothing() {
    let run = Boot::new("benches/sched").icount_exact().run();
    run.assert_success().assert_line("sched bench: 0 deadline misses in the loaded set");
    let report = BenchReport::parse(&run.serial);
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "plain_switch",
            "engine",
            "release_latency",
            "release_latency_p99",
            "release_latency_max",
            "decision",
            "decision_p99",
            "decision_max",
            "sched_switch",
            "sched_switch_p99",
            "sched_switch_max",
            "jitter",
            "jitter_p99",
            "jitter_max"
        ]
    );
    assert!(report.malformed.is_empty(), "{:?}", report.malformed);
    assert!(report.ratios.iter().all(|r| report.ratio_value(r).is_some()), "every ratio has both sides");
    // Each distribution measured what it says: every job of the lone task (1 ms period,
    // 1 s), every switch of the pair.
    let count = |name: &str| report.results.iter().find(|r| r.name == name).map(|r| r.iterations);
    assert_eq!(count("release_latency"), Some(1000));
    assert_eq!(count("sched_switch"), Some(1000));
}

#[test]
fn posix_bench_checks_every_operation_and_reports_every_figure() {
    let run = Boot::new("benches/posix").icount().timeout(std::time::Duration::from_secs(300)).run();
    run.assert_success().assert_line("posix-bench: done, 0 failures").assert_no_line("BENCH failed");
    let report = BenchReport::parse(&run.serial);
    let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["getppid", "write_null", "read_64k", "pipe", "fork_exit", "fork_exec"]);
    assert!(report.malformed.is_empty(), "{:?}", report.malformed);
    assert!(report.ratios.iter().all(|r| report.ratio_value(r).is_some()), "every ratio has both sides");
}
