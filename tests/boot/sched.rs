//! Scheduling contexts on seL4 16.0.0 with MCS: budgets from system.toml, enforced by
//! the kernel, and timeout faults reported by the supervisor.

use kaal_abi::exit::ExitStatus;
use kaal_compose::qemu::Verdict;
use kaal_compose::testing::Boot;

/// Two components spin without ever blocking at priority 200, above a worker at 100.
/// Each has 1 ms of CPU in every 10 ms: `hog` is throttled and spins on for ever,
/// `greedy` overruns into a timeout fault and is stopped; the worker finishes its work
/// all the same. Without MCS the spinners would starve it (and `kaal build` refuses
/// budgets there, see below).
#[test]
fn a_component_spinning_past_its_budget_cannot_starve_a_lower_priority_one() {
    let Some(boot) = Boot::new("tests/systems/mcs-budget").on("16.0.0-mcs-release") else { return };
    let run = boot.run();
    // The system fails (code 1) because a component faulted, as it should.
    run.assert_verdict(Verdict::Exited(ExitStatus::ERROR))
        .assert_lines_in_order(&[
            "[kaal-root] started greedy (priority 200, 0 grants, budget 1000 us every 10000 us, overrun faults)",
            "[kaal-root] started hog (priority 200, 0 grants, budget 1000 us every 10000 us)",
            "[kaal-root] started worker (priority 100, 0 grants)",
        ])
        .assert_line("[supervisor] component 'greedy' faulted: timeout fault: it used up its CPU budget (")
        .assert_line("[hog] spinning, never blocking")
        .assert_line("[hog] held back until its next period 5 times; spinning on")
        .assert_no_line("[greedy] held back")
        .assert_lines_in_order(&[
            "[worker] starting 400 rounds of work below the spinners",
            "[worker] done: 400 rounds, checksum 0x",
            "[supervisor] component 'worker' exited: success",
            "[kaal-root] system 'mcs-budget' done: 1 succeeded, 0 failed, 1 faulted, 1 daemons still serving",
        ]);
    // The worker's result is the same computation whatever the interleaving.
    run.assert_line("checksum 0x3ef8aea5907aa295");
    // The kernel stopped greedy soon after its 1 ms budget ran out.
    let consumed: u64 = run
        .value_after("it used up its CPU budget (")
        .and_then(|rest| rest.split_whitespace().next().and_then(|n| n.parse().ok()))
        .expect("consumed microseconds");
    assert!((1000..5000).contains(&consumed), "greedy consumed {consumed} us before its timeout fault");
}

/// A kernel without MCS cannot enforce a budget, so the system is refused before
/// anything builds, with the fix.
#[test]
fn budgets_are_refused_before_building_for_a_kernel_without_mcs() {
    let Some(boot) = Boot::new("tests/systems/mcs-budget").on("5.0.0-release") else { return };
    let err = boot.try_run().expect_err("seL4 5.0.0 has no budgets");
    assert!(
        err.cause.contains("component `greedy` has a CPU budget or is passive, which only an MCS kernel supports"),
        "{err}"
    );
    assert!(err.cause.contains("system.toml:"), "names the line: {err}");
    assert!(err.help.contains("--kernel 16.0.0-mcs"), "{err}");
}

/// A passive server: it gives up its scheduling context once it waits for its first
/// caller, and then runs on its callers' (on MCS release this cuts a KaaL round trip from
/// about 2,550 instructions to about 700, as the kernel's fast path takes the calls).
#[test]
fn a_passive_server_runs_on_its_callers_scheduling_contexts() {
    let Some(boot) = Boot::new("tests/systems/mcs-passive").on("16.0.0-mcs") else { return };
    let run = boot.run();
    run.assert_success().assert_lines_in_order(&[
        "[kaal-root] started server (priority 150, 1 grants, passive)",
        "[server] ready; waiting for callers",
        "[supervisor] component 'server' is passive: it runs on its callers' scheduling contexts",
        "[server] first request, running on the caller's scheduling context",
        "[client] 1000 calls to the passive server: 1000 answered correctly, 0 wrong",
        "[kaal-root] system 'mcs-passive' done: 1 succeeded, 0 failed, 0 faulted, 1 daemons still serving",
    ]);
}

/// kaal-sched on seL4 5.0.0 (no kernel budgets: the scheduler enforces them at user
/// level), under `-icount`. `tests/systems/rt-sets` runs one set after another; see its
/// source for the sets.
#[test]
fn kaal_sched_runs_edf_rm_budgets_shedding_and_a_custom_policy() {
    let run = Boot::new("tests/systems/rt-sets").icount_exact().timeout(std::time::Duration::from_secs(600)).run();
    run.assert_success();
    let field = |run_name: &str, task: &str, key: &str| -> u64 {
        let prefix = format!("rt-sets: {run_name} {task} ");
        let line = run.value_after(&prefix).unwrap_or_else(|| panic!("no line for {run_name} {task}"));
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    // 1. EDF schedules the U = 0.95 set: 100 hyperperiods of 17.5 ms, t1 every 2.5 ms
    //    and t2 every 3.5 ms, with no miss.
    assert_eq!(field("edf", "t1", "releases"), 700);
    assert_eq!(field("edf", "t2", "releases"), 500);
    for t in ["t1", "t2"] {
        assert_eq!(field("edf", t, "misses"), 0, "EDF missed a deadline of {t}");
        assert_eq!(field("edf", t, "overruns"), 0);
        assert!(field("edf", t, "completions") >= field("edf", t, "releases") - 1);
    }
    // 2. Rate-monotonic cannot: t2 misses (its first job ends at 7.4 units, deadline 7),
    //    and each miss is reported; t1, at the higher priority, never misses.
    assert_eq!(field("rm", "t1", "misses"), 0);
    let rm_misses = field("rm", "t2", "misses");
    assert!(rm_misses > 0, "rate-monotonic should miss t2's deadlines");
    let reported = run.serial.iter().filter(|l| l.contains("[rt] deadline miss: task `t2`")).count() as u64;
    assert!(reported >= rm_misses, "{reported} miss reports for {rm_misses} misses");
    run.assert_line("[rt] deadline miss: task `t2` released at 0 ns, deadline 3.5 ms, not finished by then");
    // 3. Admission: the refusals say why.
    run.assert_line(
        "rt-sets: rate-monotonic refuses: task `t2` response time 3.925 ms > deadline 3.5 ms under rate-monotonic \
         priorities",
    )
    .assert_line("rt-sets: edf refuses: U = 1.17 > 1: no scheduler can meet every deadline")
    .assert_line("rt-sets: run refused: the task set was refused: U = 1.17 > 1");
    // 4. The runaway is stopped at its budget every period (10 in 400 ms); a and b miss
    //    nothing.
    assert_eq!(field("overrun", "runaway", "overruns"), 10);
    assert_eq!(field("overrun", "runaway", "completions"), 0);
    assert_eq!(field("overrun", "a", "misses"), 0);
    assert_eq!(field("overrun", "b", "misses"), 0);
    assert_eq!(field("overrun", "a", "releases"), 40);
    run.assert_line("[rt] overrun: task `runaway` (released at 0 ns) used its whole budget of 4 ms and was stopped");
    // 5. A critical runaway makes less critical work be shed.
    // After the runaway's first overrun (at 4 ms) the level stays up: its job never
    // finishes, so there is no idle instant to lower it again.
    assert_eq!(field("shed", "minor", "releases"), 1);
    assert_eq!(field("shed", "minor", "shed"), 19);
    assert_eq!(field("shed", "minor", "misses"), 0);
    run.assert_line("[rt] criticality level now 1").assert_line("[rt] shed: task `minor`");
    // 6, 7. The custom policy and round robin run their sets without a miss.
    for t in ["x", "y", "z"] {
        assert_eq!(field("llf", t, "misses"), 0, "least laxity first missed {t}");
        assert!(field("llf", t, "completions") > 0);
    }
    for t in ["p", "q"] {
        assert!(field("rr", t, "completions") > 0);
    }
    run.assert_line("[rt] least-laxity-first ran for").assert_line("[rt] round-robin ran for");
    // 8. The sporadic handler, asked for every 10 ms, runs at most every 25 ms (its
    //    minimum inter-arrival time): 8 releases in 200 ms, the rest deferred or folded
    //    into a deferred one, none missed.
    assert_eq!(field("sporadic", "tick", "releases"), 20);
    assert_eq!(field("sporadic", "handler", "releases"), 8);
    assert_eq!(field("sporadic", "handler", "misses"), 0);
    assert_eq!(field("sporadic", "tick", "misses"), 0);
    let deferred = field("sporadic", "handler", "deferred");
    let coalesced = field("sporadic", "handler", "coalesced");
    assert!(deferred >= 7 && deferred + coalesced >= 19, "deferred {deferred}, coalesced {coalesced}");
    // The hog ran in the gaps all along.
    let hog: u64 = run
        .value_after("rt-sets: done; the hog ran ")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("hog rounds");
    assert!(hog > 1000, "the hog ran only {hog} rounds");
}

/// The example: an IoT gateway's three tasks with a hog beside them, no miss.
#[test]
fn the_rt_sensors_example_prints_its_table_with_no_miss() {
    let run = Boot::new("examples/rt-sensors").icount_exact().run();
    run.assert_success()
        .assert_line("rt-sensors: 3 tasks under EDF for 1000 ms, a best-effort hog beside them")
        .assert_line("[rt] edf ran for")
        .assert_line("[rt] total misses 0")
        .assert_line("rt-sensors: 10 samples, 50 control steps, 20 log records; the hog ran ")
        .assert_line("INFO  [rt-sensors] sensor sample 9:");
}

/// `[realtime]` in system.toml: kaal-root schedules three components under EDF, with
/// deadlines through the time service (on the HPET), a best-effort hog below them.
/// `runaway` never finishes its fourth job: it is stopped at its 4 ms budget in every
/// period and reported; `faulty` faults in its second job and is reported by name; and
/// `sensor` and `control` miss nothing.
#[test]
fn real_time_components_from_system_toml_meet_their_deadlines_beside_a_runaway() {
    let run = Boot::new("tests/systems/rt-components").icount_exact().run();
    // The system fails (code 1) because `faulty` faulted, as it should.
    run.assert_verdict(Verdict::Exited(ExitStatus::ERROR))
        .assert_line("[supervisor] component 'faulty' faulted: VM fault (write of an unmapped page) at address 0x10")
        .assert_line("[rt] deadline miss: task `faulty` released at 50 ms, deadline 100 ms, not finished by then")
        .assert_line(
            "[kaal-root] system 'rt-components' done: 1 succeeded, 0 failed, 1 faulted, 4 daemons still serving",
        )
        .assert_lines_in_order(&[
            "[kaal-root] time service on hpet",
            "[kaal-root] started control (priority 230, 2 grants, real-time: every 10 ms, deadline 10 ms, wcet 3 ms, \
             high criticality)",
            "[kaal-root] started faulty (priority 230, 2 grants, real-time: every 50 ms, deadline 50 ms, wcet 2 ms)",
            "[kaal-root] started runaway (priority 230, 2 grants, real-time: every 40 ms, deadline 40 ms, wcet 4 ms)",
            "[kaal-root] started sensor (priority 230, 2 grants, real-time: every 20 ms, deadline 5 ms, wcet 2 ms, \
             high criticality)",
            "[kaal-root] started hog (priority 50, 0 grants)",
            "[kaal-root] real-time: edf over 4 components at priority 230, deadlines by the time service",
            "[runaway] job 4 runs away",
            "[rt] overrun: task `runaway` (released at 120 ms) used its whole budget of 4 ms and was stopped",
            "[rt] deadline miss: task `runaway` released at 120 ms, deadline 160 ms, not finished by then",
            "[witness] one second passed; ending the system",
            "[rt] edf ran for 1.0",
        ])
        .assert_line("[control] 10 jobs done")
        .assert_line("[sensor] 10 jobs done")
        .assert_no_line("deadline miss: task `sensor`")
        .assert_no_line("deadline miss: task `control`");
    // The table: every release of sensor (20 ms) and control (10 ms) in the second
    // completed, none missed; runaway overran in each period from its fourth on.
    let row = |task: &str| -> Vec<String> {
        let line = run
            .serial
            .iter()
            .find(|l| l.starts_with(&format!("[rt] {task} ")))
            .unwrap_or_else(|| panic!("no row for {task}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    // [rt] name period unit releases done misses overrun shed skipped ...
    for (task, releases) in [("control", 100), ("sensor", 50)] {
        let r = row(task);
        let released: u64 = r[4].parse().unwrap();
        assert!((releases..=releases + 1).contains(&released), "{task}: {r:?}");
        assert_eq!(r[4], r[5], "{task}: every job completed: {r:?}");
        assert_eq!(r[6], "0", "{task} missed: {r:?}");
        assert_eq!(r[7], "0", "{task} overran: {r:?}");
    }
    let r = row("runaway");
    assert_eq!(r[5], "3", "runaway finished three jobs: {r:?}");
    let overruns: u64 = r[7].parse().unwrap();
    assert!(overruns >= 22, "runaway overran {overruns} times: {r:?}");
}
