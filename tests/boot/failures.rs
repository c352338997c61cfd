//! A failing system must be reported as failing, with the reason on the console.

use std::time::Duration;

use kaal_abi::exit::ExitStatus;
use kaal_compose::qemu::Verdict;
use kaal_compose::testing::Boot;

#[test]
fn a_panic_is_reported_with_message_and_location() {
    let run = Boot::new("tests/systems/panic-on-purpose").run();
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
    let run = Boot::new("tests/systems/fault-on-purpose").timeout(Duration::from_secs(60)).run();
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
