//! Every lesson, booted on the real seL4 kernel under QEMU.

use kaal_compose::testing::Boot;

/// Parses the number that follows `prefix` on its line.
fn number_after(run: &kaal_compose::qemu::BootOutcome, prefix: &str) -> u64 {
    let rest = run.value_after(prefix).unwrap_or_else(|| panic!("no line with {prefix:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {prefix:?}: {rest:?}"))
}

#[test]
fn lesson_01_hello() {
    let run = Boot::new("tutorial/01-hello").run();
    run.assert_success().assert_lines_in_order(&[
        "Booting all finished, dropped to user space",
        "Hello from seL4!",
        "BootInfo summary:",
        "untyped capabilities:",
        "RAM in untypeds:",
        "empty CNode slots:",
        "Goodbye.",
    ]);
    // QEMU gives the guest 512 MiB; the kernel keeps some for itself.
    let ram_mib = number_after(&run, "RAM in untypeds:") / 1024;
    assert!((400..512).contains(&ram_mib), "RAM in untypeds: {ram_mib} MiB");
    let slots = number_after(&run, "empty CNode slots:");
    assert!((3000..4096).contains(&slots), "empty slots: {slots}");
    assert!(number_after(&run, "untyped capabilities:") > 10);
}

#[test]
fn lesson_02_memory_alloc() {
    let run = Boot::new("tutorial/02-memory-alloc").run();
    run.assert_success().assert_no_line("MISMATCH").assert_lines_in_order(&[
        "mapped at 0x20000000: pattern ok",
        "remapped at 0x30000000: pattern ok (same physical page)",
        "mapping a second frame at 0x30000000: refused: virtual address 0x30000000 is already mapped",
        "the refused frame is still ours",
        "2 MiB frame at physical",
        "Vec of 100000 squares: sum 333328333350000 (ok)",
        "BTreeMap word counts: the=3 dog=2 fox=1",
        "heap: try_reserve(64 MiB) failed",
        "heap: why: heap limit reached: asked for 64 MiB, but only 6 MiB of the 8 MiB limit is left",
        "64 KiB budget: 16 frames, then: out of RAM memory: asked for 4 KiB, but the largest free block is 0 B",
        "still running; memory left:",
    ]);
}

#[test]
fn lesson_03_threads_and_a_second_process() {
    let run = Boot::new("tutorial/03-threads").run();
    run.assert_success()
        .assert_lines_in_order(&[
            "== part 1: threads in one address space",
            "joined ping: Ok(\"ping done\")",
            "joined pong: Ok(\"pong done\")",
            "summer returned Ok(500500); shared memory says 500500",
            "[threads/crasher] panicked at tutorial/03-threads/src/main.rs:",
            "the crasher thread panics on purpose",
            "joined crasher: thread \"crasher\" panicked; the rest of the program carries on",
            "20 more spawn/join rounds reused the same kernel objects",
            "== part 2: a component in its own address space",
            "[counter] count 1 (square 1)",
            "[counter] sum of the first 10 squares: 385",
            "[supervisor] component 'counter' exited: success",
            "supervisor: 1 succeeded, 0 failed, 0 faulted",
        ])
        .assert_no_line("wrong value");
    // The two equal-priority threads take turns: each one's lines alternate with the other's.
    let turns: Vec<&str> = run
        .serial
        .iter()
        .filter_map(|l| l.strip_prefix("ping ").map(|_| "ping").or(l.strip_prefix("pong ").map(|_| "pong")))
        .collect();
    assert_eq!(turns.len(), 6, "{turns:?}");
    assert!(turns.windows(2).all(|w| w[0] != w[1]), "threads did not interleave: {turns:?}");
}
