//! A failing system must be reported as failing, with the reason on the console.

use std::time::Duration;

use kaal_abi::exit::ExitStatus;
use kaal_compose::qemu::Verdict;
use kaal_compose::testing::Boot;

#[test]
fn a_panic_is_reported_with_message_and_location() {
    panic_on_purpose("5.0.0-debug");
}

#[test]
fn a_panic_is_reported_with_message_and_location_on_sel4_16() {
    panic_on_purpose("16.0.0-debug");
}

#[test]
fn a_panic_is_reported_with_message_and_location_on_sel4_16_mcs() {
    panic_on_purpose("16.0.0-mcs");
}

fn panic_on_purpose(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/panic-on-purpose").on(kernel) else { return };
    let run = boot.run();
    run.assert_verdict(Verdict::Exited(ExitStatus::PANIC))
        .assert_lines_in_order(&[
            "about to panic with",
            "[panic-on-purpose] panicked at tests/systems/panic-on-purpose/src/main.rs:13:",
            "the deliberate panic of the panic-on-purpose system",
        ])
        .assert_no_line("unreachable");
    assert_eq!(run.exit_code(), 2);
}

#[test]
fn a_stack_overflow_hits_the_guard_page_and_is_reported() {
    stack_overflow("5.0.0-debug");
}

#[test]
fn a_stack_overflow_hits_the_guard_page_and_is_reported_on_sel4_16() {
    stack_overflow("16.0.0-debug");
}

#[test]
fn a_stack_overflow_hits_the_guard_page_and_is_reported_on_sel4_16_mcs() {
    stack_overflow("16.0.0-mcs");
}

fn stack_overflow(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/fault-on-purpose").on(kernel) else { return };
    let run = boot.timeout(Duration::from_secs(60)).run();
    match &run.verdict {
        Verdict::UnhandledFault { report } => {
            assert!(report.starts_with("vm fault on data at address"), "{report}");
            assert!(report.contains("\"fault-on-purpose\""), "the fault names the thread: {report}");
        }
        other => panic!("expected an unhandled fault, got {other:?}\n{}", run.user_output().join("\n")),
    }
    run.assert_line("recursing until the stack guard page is hit").assert_no_line("unreachable");
    assert_eq!(run.exit_code(), 3);
}

#[test]
fn faulting_components_are_stopped_and_named_while_the_others_finish() {
    fault_isolation("5.0.0-debug");
}

#[test]
fn faulting_components_are_stopped_on_the_release_kernel_too() {
    fault_isolation("5.0.0-release");
}

#[test]
fn faulting_components_are_stopped_and_named_on_sel4_16() {
    fault_isolation("16.0.0-debug");
}

#[test]
fn faulting_components_are_stopped_and_named_on_sel4_16_release() {
    fault_isolation("16.0.0-release");
}

#[test]
fn faulting_components_are_stopped_and_named_on_sel4_16_mcs_release() {
    fault_isolation("16.0.0-mcs-release");
}

fn fault_isolation(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/fault-isolation").on(kernel) else { return };
    let run = boot.run();
    run.assert_success()
        .assert_line(
            "[supervisor] component 'vm-fault' faulted: VM fault (write of an unmapped page) at address 0xdead0000, ip 0x",
        )
        .assert_line("[supervisor] component 'bad-syscall' faulted: unknown syscall 42 at ip 0x")
        .assert_line(
            "[supervisor] component 'cap-fault' faulted: capability fault: lookup of capability 0xdead00000000 failed",
        )
        .assert_line("[supervisor] component 'hostile' sent an unknown message (label 0x1234) to the supervisor; ignored")
        .assert_line("[worker] finished: 2000 values, checksum 0x")
        .assert_line("[supervisor] component 'worker' exited: success")
        .assert_line("supervisor: 2 succeeded, 0 failed, 3 faulted")
        .assert_no_line("unreachable")
        .assert_no_line("UNEXPECTED");
    // The worker finished after the faults happened: isolation, not luck of timing.
    let last_fault = run.serial.iter().rposition(|l| l.contains("faulted:")).unwrap();
    let finished = run.serial.iter().position(|l| l.contains("[worker] finished")).unwrap();
    assert!(finished > last_fault, "the worker should still be working when the others fault");
}
