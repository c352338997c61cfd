//! kaal-core's promises, checked on the real kernel: both flavours of seL4 5.0.0, and
//! seL4 16.0.0.

use kaal_compose::testing::Boot;

/// Words past the fourth survive kernel invocations (which use the same IPC buffer) made
/// between building a message and sending it, and between receiving one and reading it.
fn message_words(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/message-words").on(kernel) else { return };
    boot.run()
        .assert_success()
        .assert_no_line("MISMATCH")
        .assert_line("server received 6 words with badge 1: [a, b, c, d, 4444444444444444, 5555555555555555]")
        .assert_line("reply carried label 7 and [a, b, c, d, 4444444444444444, 5555555555555555]")
        .assert_line("words 4 and 5 arrived intact: 0x4444444444444444 0x5555555555555555");
}

#[test]
fn a_message_keeps_its_words_across_a_mint() {
    message_words("5.0.0-debug");
}

#[test]
fn a_message_keeps_its_words_across_a_mint_on_the_release_kernel() {
    message_words("5.0.0-release");
}

#[test]
fn a_message_keeps_its_words_across_a_mint_on_sel4_16() {
    message_words("16.0.0-debug");
}

/// A high-priority thread allocates while a low-priority one is preempted holding the
/// heap; with a spinning lock this hangs (the boot test's timeout is the verdict).
fn heap_priority(kernel: &str) {
    let Some(boot) = Boot::new("tests/systems/heap-priority").on(kernel) else { return };
    let run = boot.icount().run();
    run.assert_success().assert_no_line("MISMATCH").assert_line("high: 40 allocations, checksum 199680");
    let waits: u64 = run
        .value_after("heap lock waits:")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lock-wait count\n{}", run.user_output().join("\n")));
    // The scenario really happened: `high` found the heap held and slept until `low`
    // let go (the timer preempts `low` inside an allocation most of the time).
    assert!(waits >= 1, "high never found the heap held; the test did not test anything");
}

#[test]
fn the_heap_lock_does_not_livelock_across_priorities() {
    heap_priority("5.0.0-debug");
}

#[test]
fn the_heap_lock_does_not_livelock_across_priorities_on_the_release_kernel() {
    heap_priority("5.0.0-release");
}

/// seL4 16.0.0 sets priorities apart from TCB_Configure, with an authority: the
/// scenario needs them right.
#[test]
fn the_heap_lock_does_not_livelock_across_priorities_on_sel4_16() {
    heap_priority("16.0.0-debug");
}
