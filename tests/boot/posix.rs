//! Unmodified Linux binaries on the real kernel: Debian's busybox-static (fetched from
//! the Debian archive by `kaal build`), a musl C program and a std Rust program, run by
//! the Linux personality (services/linux) from an ext2 root, with a shell session typed
//! at the system's terminal (COM1) as a user would type it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaal_compose::qemu::BootOutcome;
use kaal_compose::testing::Boot;

const SYSTEM: &str = "tests/systems/linux";

/// The system's disk image as `kaal build` made it, built once for all the tests here
/// (the first to ask builds it; the others wait for it).
fn built_disk() -> &'static Path {
    static IMAGE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        let reporter = kaal_compose::progress::Reporter { verbosity: kaal_compose::progress::Verbosity::Quiet };
        let dir = kaal_compose::testing::workspace_root().join(SYSTEM);
        let built =
            kaal_compose::build_with(Some(&dir), &Default::default(), &reporter).unwrap_or_else(|e| panic!("{e}"));
        let disk = built.disks.iter().find(|d| d.name == "root").expect("the system has a disk named root");
        disk.path.clone()
    })
}

/// A copy of the built disk image for the running test alone: the tests then boot at
/// once (two at a time on two cores), each writing, and e2fsck checking, its own copy.
fn private_disk() -> PathBuf {
    let image = built_disk();
    let test = std::thread::current().name().unwrap_or("test").replace("::", "-");
    let dir = image.parent().expect("the image is in a directory").join("tests");
    std::fs::create_dir_all(&dir).expect("create the tests' disk directory");
    let copy = dir.join(format!("{test}.img"));
    std::fs::copy(image, &copy).unwrap_or_else(|e| panic!("copy {} to {}: {e}", image.display(), copy.display()));
    copy
}

/// Checks that `expected` are whole lines of the session's output, in this order. (The
/// terminal echoes what was typed, and typed-ahead lines are echoed before the shell
/// prints its prompt, so the echo and the output interleave; whole-line matches of
/// outputs that differ from what was typed are what can be relied on.)
fn assert_output(run: &BootOutcome, expected: &[&str]) {
    let mut from = 0;
    for want in expected {
        match run.serial[from..].iter().position(|l| l.trim_end() == *want) {
            Some(i) => from += i + 1,
            None => panic!("no line {want:?} after line {from}:\n{}", run.serial.join("\n")),
        }
    }
}

/// A session on seL4 5.0.0, typing `input`, on a disk of its own: the run and that disk.
fn session(input: &str) -> (BootOutcome, PathBuf) {
    session_on("5.0.0-debug", input).expect("5.0.0 always runs")
}

/// A session on `kernel`; `None` if that kernel cannot be built here (16.0.0 without
/// its source: the test is then recorded as skipped, with the reason).
fn session_on(kernel: &str, input: &str) -> Option<(BootOutcome, PathBuf)> {
    let boot = Boot::new(SYSTEM).on(kernel)?;
    let disk = private_disk();
    Some((boot.disk("root", &disk).timeout(Duration::from_secs(120)).input(input).run(), disk))
}

fn e2fsck_clean(run: &BootOutcome, image: &Path) {
    let fsck = std::process::Command::new("e2fsck").arg("-fn").arg(image).output().expect("run e2fsck");
    assert!(
        fsck.status.success(),
        "e2fsck -fn {} after the session:\n{}\n{}",
        image.display(),
        String::from_utf8_lossy(&fsck.stdout),
        run.serial.join("\n")
    );
}

#[test]
fn the_acceptance_session_prints_the_right_output_and_exits_with_the_shell() {
    let typed = "echo hello; ls /bin | wc -l; cat /etc/motd | grep -c seL4; mkdir -p /tmp/a/b && echo x > /tmp/a/b/f \
                 && cat /tmp/a/b/f; exit 7\n";
    let (run, disk) = session(typed);
    assert_eq!(run.exit_code(), 7, "the shell's exit status is the system's:\n{}", run.serial.join("\n"));
    // 17 busybox links, busybox itself and the three programs kaal build put there.
    assert_output(&run, &["hello", "21", "1", "x"]);
    e2fsck_clean(&run, &disk);
}

#[test]
fn the_acceptance_session_runs_on_sel4_16() {
    let typed = "echo hello; ls /bin | wc -l; rust-app; abi-check | tail -1; exit 7\n";
    let Some((run, _)) = session_on("16.0.0", typed) else { return };
    assert_eq!(run.exit_code(), 7, "{}", run.serial.join("\n"));
    assert_output(&run, &["hello", "21", "rust-app: 4 threads summed 2997000, counted 400", "abi-check: all passed"]);
}

#[test]
fn pipelines_redirection_and_exit_statuses() {
    let typed = "seq 1 100 | grep 7 | wc -l\necho abc > /tmp/r && echo def >> /tmp/r && cat < /tmp/r\nfalse; echo \
                 status=$?\nsh -c 'exit 5'; echo status=$?\nls /no/such 2>/dev/null; echo status=$?\necho $(echo \
                 nested) done\nexit 0\n";
    let (run, disk) = session(typed);
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    assert_output(&run, &["19", "abc", "def", "status=1", "status=5", "status=1", "nested done"]);
    e2fsck_clean(&run, &disk);
}

#[test]
fn a_segfaulting_program_and_a_corrupt_binary_are_reported_and_the_shell_lives_on() {
    let (run, disk) =
        session("faulty; echo status=$?\n/opt/broken; echo broken$((1+1)) status=$?\necho still here\nexit 0\n");
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    run.assert_line("faulty: about to read address 0");
    let report = run
        .serial
        .iter()
        .find(|l| l.contains("(faulty): segmentation fault at 0x0"))
        .unwrap_or_else(|| panic!("no report of the fault:\n{}", run.serial.join("\n")));
    assert!(report.contains("read"), "{report}");
    run.assert_line("status=139").assert_line("still here");
    // A corrupt ELF file (a truncated header; outside /bin, whose listing other tests
    // count) is refused with the reason, and the shell
    // gets ENOEXEC (busybox then tries it as a script, which fails): nothing crashes.
    run.assert_line("[linux] /opt/broken: cannot run it:");
    let status = run
        .serial
        .iter()
        .find(|l| l.starts_with("broken2 status="))
        .unwrap_or_else(|| panic!("{}", run.serial.join("\n")));
    assert_ne!(status.trim(), "broken2 status=0", "{}", run.serial.join("\n"));
    e2fsck_clean(&run, &disk);
}

#[test]
fn a_musl_program_sees_enosys_efault_and_its_files() {
    let (run, disk) = session("abi-check one; echo status=$?\nexit 0\n");
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    for check in ["enosys", "efault-write", "efault-read", "uname", "create", "read-back", "enoent", "getppid"] {
        run.assert_line(&format!("abi-check: {check} ok"));
    }
    run.assert_line("abi-check: all passed").assert_line("status=0");
    // The unimplemented call is named once, by number (it has no name).
    run.assert_line("system call unknown (1000) is not implemented: ENOSYS");
    e2fsck_clean(&run, &disk);
}

#[test]
fn a_std_rust_program_works_with_files_threads_and_child_processes() {
    let (run, disk) = session("rust-app one two; echo status=$?\ncat /tmp/rust-app/kept.txt | wc -l\nexit 0\n");
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    run.assert_line(r#"rust-app: hello from std, args ["one", "two"]"#)
        .assert_line(r#"rust-app: counts {"KaaL": 1, "Linux": 1, "seL4": 2}"#)
        .assert_line(r#"rust-app: listing ["words.txt"]"#)
        .assert_line("rust-app: renamed, 21 bytes")
        .assert_line("rust-app: 4 threads summed 2997000, counted 400")
        .assert_line(r#"rust-app: child said "spawned by std", exit status: 0"#)
        .assert_line("rust-app: missing file is NotFound")
        .assert_line("status=0");
    assert!(run.serial.iter().any(|l| l == "4"), "{}", run.serial.join("\n"));
    e2fsck_clean(&run, &disk);
}

#[test]
fn ctrl_c_interrupts_a_foreground_sleep() {
    let boot = Boot::new(SYSTEM).on("5.0.0-debug").expect("5.0.0 always runs");
    let boot = boot.disk("root", private_disk()).timeout(Duration::from_secs(300));
    let (interrupted, run) = boot.run_with(|session| {
        // (The wait includes the build, which a cold cache makes long.)
        session.wait_for_line("Enter 'help'", Duration::from_secs(240))?;
        // $((...)) makes the output differ from the echo of what was typed.
        session.send(b"echo sleeping$((1+1)); sleep 100; echo never$((2+2))\n");
        session.wait_for_line("sleeping2", Duration::from_secs(20))?;
        // Let the sleep start, then interrupt it. As on Linux, the shell abandons the
        // rest of the line when its foreground job dies of SIGINT.
        std::thread::sleep(Duration::from_secs(2));
        session.send(&[3]);
        std::thread::sleep(Duration::from_secs(1));
        session.send(b"echo after$((3+3)) status=$?\n");
        let line = session.wait_for_line("after6 status=", Duration::from_secs(20));
        session.send(b"exit 0\n");
        line
    });
    let line = interrupted.unwrap_or_else(|| panic!("the sleep was not interrupted:\n{}", run.serial.join("\n")));
    assert_eq!(line.trim(), "after6 status=130", "SIGINT ends it: 128 + 2");
    assert!(!run.has_line("never4"), "the rest of the line is abandoned:\n{}", run.serial.join("\n"));
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
}

#[test]
fn background_jobs_wait_and_signal_handlers() {
    // `wait` sleeps in rt_sigsuspend until SIGCHLD's handler runs (a real signal frame,
    // then rt_sigreturn); `trap` installs a handler for SIGUSR1; `kill %1` ends a job.
    let (run, disk) = session(
        "sleep 1 & echo started$((1+1))\nwait; echo waited$((2+2))\ntrap 'echo trapped$((3+3))' USR1; kill -USR1 $$; \
         echo after$((4+4))\nsleep 5 &\nsleep 1; kill %1; wait\nexit 0\n",
    );
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    run.assert_lines_in_order(&["started2", "waited4", "trapped6", "after8", "Terminated"]);
    e2fsck_clean(&run, &disk);
}

#[test]
fn six_hundred_commands_do_not_exhaust_the_asid_pool() {
    // Each command is a fork and an execve, each a new address space: 1,200 of them,
    // more than the 1,024 ASIDs the pool has. A process's teardown frees its ASID.
    let (run, disk) = session(
        "i=0; while [ $i -lt 600 ]; do /bin/true || echo failed$((i)); i=$((i+1)); done; echo looped$((600))\nexit 0\n",
    );
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    assert_output(&run, &["looped600"]);
    // (The echo of the typed line has "failed" in it too; an output line starts with it.)
    let failed: Vec<&String> = run.serial.iter().filter(|l| l.trim_start().starts_with("failed")).collect();
    assert!(failed.is_empty(), "some commands failed: {failed:?}\n{}", run.serial.join("\n"));
    e2fsck_clean(&run, &disk);
}

/// system.toml confines `/bin/env` and the processes it starts to /bin, /etc (read-only)
/// and /tmp: a shell under it gets ENOENT for /data and EACCES for writing /etc, while
/// the unconfined shell uses /data as before. (It is run by its path: busybox's shell
/// runs an applet named without a path in a fork of itself, with no execve, so the
/// program it would have exec'd is not what runs.)
#[test]
fn confinement_denies_an_ungranted_path_to_a_process_tree() {
    let (run, disk) = session(
        "/bin/env sh -c 'head -1 /etc/motd >/dev/null && echo motd-readable; ls /data; echo x > /etc/new; echo ok > \
         /tmp/jail && cat /tmp/jail'\necho free > /data/f && cat /data/f && rm /data/f\nexit 0\n",
    );
    assert_eq!(run.exit_code(), 0, "{}", run.serial.join("\n"));
    assert_output(
        &run,
        &[
            "motd-readable",
            "ls: /data: No such file or directory",
            "sh: can't create /etc/new: Permission denied",
            "ok",
            "free",
        ],
    );
    e2fsck_clean(&run, &disk);
}
