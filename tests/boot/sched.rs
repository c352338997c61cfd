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
