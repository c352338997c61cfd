//! The time service: `sleep`, ring waits that time out, and malformed requests, under
//! `-icount shift=0,sleep=off` (the PIT, the HPET and the time-stamp counter follow one
//! virtual clock, and idle waits take no host time, so the figures are exact whatever
//! the host's load).

use kaal_compose::testing::Boot;

/// The number of microseconds after `prefix` on its line.
fn micros_after(run: &kaal_compose::qemu::BootOutcome, prefix: &str) -> u64 {
    let rest = run.value_after(prefix).unwrap_or_else(|| panic!("no line with {prefix:?}"));
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {prefix:?}: {rest:?}"))
}

fn time_service(kernel: &str) {
    time_service_on("tests/systems/time-service", "pit", kernel)
}

fn time_service_on(system: &str, timer: &str, kernel: &str) {
    let Some(boot) = Boot::new(system).on(kernel) else { return };
    // Idle waits jump to the next timer, so the figures do not depend on the host's
    // load (with plain -icount, idle time follows the host's clock).
    let run = boot.icount_exact().run();
    let name = system.rsplit('/').next().unwrap_or_default();
    run.assert_success()
        .assert_line(&format!("[kaal-root] time service on {timer}"))
        .assert_lines_in_order(&[
            "[sleeper] sleep(100 ms) took",
            "[sleeper] nothing within 30 ms: timed out after",
            "[late] sending 42 after",
            "[sleeper] got 42 after",
            "[sleeper] sleep_until(now) returned after",
            &format!("[kaal-root] system '{name}' done: 3 succeeded, 0 failed, 0 faulted"),
        ])
        .assert_no_line("UNEXPECTED")
        .assert_no_line("timed receive failed")
        // Every malformed request is refused with a code that says why, and the
        // service goes on serving the component that sent them (and the others).
        .assert_lines_in_order(&[
            "[prankster] label 0 -> code 1: the time service did not understand the request",
            "[prankster] unknown label 77 -> code 1:",
            "[prankster] WAKE_AT without a target -> code 1:",
            "[prankster] WAKE_AT for target 99 -> code 2: no such wake-up target",
            "[prankster] CANCEL of unregistered target 3 -> code 2:",
            "[prankster] REGISTER without a capability -> code 4:",
            "[prankster] WAKE_AT with a capability attached -> code 1:",
            "[prankster] registration 8 -> code 3: every wake-up target is taken",
            "[prankster] still served: sleep(10 ms) took",
        ]);
    let prank_sleep = micros_after(&run, "[prankster] still served: sleep(10 ms) took");
    assert!((10_000..10_500).contains(&prank_sleep), "sleep(10 ms) took {prank_sleep} us");
    // A sleep lasts at least as long as asked, and not much longer (the PIT's tick is
    // 0.84 us, the HPET's 10 ns; a request and a wake-up cost a few microseconds of
    // instructions).
    let slept = micros_after(&run, "[sleeper] sleep(100 ms) took");
    assert!((100_000..100_500).contains(&slept), "sleep(100 ms) took {slept} us");
    let timed_out = micros_after(&run, "timed out after");
    assert!((30_000..30_500).contains(&timed_out), "a 30 ms timeout took {timed_out} us");
    let late = micros_after(&run, "[late] sending 42 after");
    assert!((300_000..300_500).contains(&late), "late slept {late} us");
    // The value ended the 2 s wait long before its deadline.
    let got = micros_after(&run, "[sleeper] got 42 after");
    assert!(got < 300_000, "the value took {got} us to arrive");
    assert!(micros_after(&run, "sleep_until(now) returned after") < 100);
}

#[test]
fn components_sleep_and_time_out_ring_waits() {
    time_service("5.0.0-debug");
}

#[test]
fn components_sleep_and_time_out_ring_waits_on_sel4_16_release() {
    time_service("16.0.0-release");
}

#[test]
fn components_sleep_and_time_out_ring_waits_on_sel4_16_mcs() {
    time_service("16.0.0-mcs");
}

/// The HPET drives the time service instead of the PIT: the same sleeps and timeouts.
#[test]
fn the_hpet_drives_the_time_service() {
    time_service_on("tests/systems/time-service-hpet", "hpet", "5.0.0-debug");
}

#[test]
fn the_hpet_drives_the_time_service_on_sel4_16_mcs() {
    time_service_on("tests/systems/time-service-hpet", "hpet", "16.0.0-mcs-release");
}
